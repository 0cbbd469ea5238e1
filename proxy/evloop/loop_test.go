package evloop

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/heliosdb/heliosproxy/internal/wiretest"
)

// echo is a handler that writes back what it reads, on the loop.
type echo struct {
	lp    *Loop
	fd    int
	buf   [64]byte
	calls int
	eof   chan struct{}
}

func (e *echo) Ready(fd int, ev uint32) {
	e.calls++
	n, err := Read(fd, e.buf[:])
	if errors.Is(err, unix.EAGAIN) {
		return
	}
	if err != nil || n == 0 {
		e.lp.Remove(fd)
		unix.Close(fd)
		close(e.eof)
		return
	}
	if _, err := Write(fd, e.buf[:n]); err != nil {
		panic(err)
	}
}

// adoptedPair starts a loop, closed when the test ends, and adopts the
// server end of a loopback TCP pair (fd); the client end is the test's.
func adoptedPair(t *testing.T) (lp *Loop, client, server *net.TCPConn, fd int) {
	t.Helper()
	lp, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lp.Close)
	client, server = wiretest.TCPPair(t)
	if fd, err = Adopt(server); err != nil {
		t.Fatal(err)
	}
	return lp, client, server, fd
}

func TestLoopRelaysAdoptedSocket(t *testing.T) {
	lp, client, server, fd := adoptedPair(t)
	// The original is closed: Go's poller no longer has the socket.
	if _, err := server.Write([]byte("x")); err == nil {
		t.Fatal("write on the adopted connection succeeded")
	}
	e := &echo{lp: lp, fd: fd, eof: make(chan struct{})}
	added := make(chan error, 1)
	if !lp.Do(func() { added <- lp.Add(fd, In, e) }) {
		t.Fatal("Do on a running loop refused")
	}
	if err := <-added; err != nil {
		t.Fatal(err)
	}
	// Reads are level-triggered: a message longer than the handler's
	// buffer comes back whole over several reports.
	msg := bytes.Repeat([]byte("helios "), 40)
	if _, err := client.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echoed %q, want %q", got, msg)
	}
	client.Close()
	select {
	case <-e.eof:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never saw the client close")
	}
}

func TestModifyStopsReports(t *testing.T) {
	lp, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer lp.Close()
	client, server := wiretest.TCPPair(t)
	fd, err := Adopt(server)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	reports := make(chan uint32, 64)
	h := handlerFunc(func(fd int, ev uint32) {
		var b [16]byte
		_, _ = Read(fd, b[:]) // level-triggered: unread input is reported again
		select {
		case reports <- ev:
		default:
		}
	})
	done := make(chan error, 1)
	lp.Do(func() { done <- lp.Add(fd, 0, h) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("ready")); err != nil {
		t.Fatal(err)
	}
	// Not asked for input: the pending bytes are not reported. The bytes
	// are in the socket once Write returns (loopback), so the wait that
	// wakes for the first Do would have reported them in its batch, and
	// the second Do runs after that batch.
	for range 2 {
		sync := make(chan struct{})
		lp.Do(func() { close(sync) })
		<-sync
	}
	select {
	case ev := <-reports:
		t.Fatalf("reported %#x without interest", ev)
	default:
	}
	lp.Do(func() { done <- lp.Modify(fd, In) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-reports:
		if ev&In == 0 {
			t.Fatalf("reported %#x, want input", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("input never reported after Modify")
	}
	lp.Do(func() { lp.Remove(fd); close(done) })
	<-done
}

type handlerFunc func(fd int, ev uint32)

func (f handlerFunc) Ready(fd int, ev uint32) { f(fd, ev) }

func TestWriteReportsAFullSocket(t *testing.T) {
	client, server := wiretest.TCPPair(t)
	_ = client.SetReadBuffer(4096)
	fd, err := Adopt(server)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	// The peer does not read: writes take less and less, then nothing,
	// without blocking.
	chunk := make([]byte, 1<<20)
	total, last := 0, -1
	for range 64 {
		n, err := Write(fd, chunk)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		if last = n; n == 0 {
			break
		}
	}
	if last != 0 {
		t.Fatalf("64 MiB written to a peer that does not read (%d bytes)", total)
	}
	if n, err := Read(fd, make([]byte, 16)); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("read with nothing sent: %d, %v; want EAGAIN", n, err)
	}
}

func TestClosedLoopRefusesWork(t *testing.T) {
	lp, err := New()
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{})
	lp.Do(func() { close(ran) })
	lp.Close()
	select {
	case <-ran:
	default:
		t.Fatal("a function queued before Close did not run")
	}
	if lp.Do(func() { t.Error("ran on a closed loop") }) {
		t.Fatal("Do on a closed loop accepted")
	}
	lp.Close() // twice: no-op
}

func TestGroupPicksTheLeastLoaded(t *testing.T) {
	g, err := NewGroup(3)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.Size() != 3 {
		t.Fatalf("size %d", g.Size())
	}
	for range 6 {
		g.Pick().Load.Add(1)
	}
	for i, l := range g.loops {
		if n := l.Load.Load(); n != 2 {
			t.Errorf("loop %d has %d relays, want 2", i, n)
		}
	}
}

// TestHoldingLoopLeavesTheRuntimeAlone: a loop that keeps its P while it
// sleeps (GOMAXPROCS above the loops) still lets the runtime stop the
// world for garbage collection, fires the timers set on its thread, and
// relays; with as many loops as Ps, loops let go of theirs.
func TestHoldingLoopLeavesTheRuntimeAlone(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	if g, err := NewGroup(2); err != nil {
		t.Fatal(err)
	} else {
		for _, l := range g.loops {
			if l.hold {
				t.Error("a loop holds its P with as many loops as Ps")
			}
		}
		g.Close()
	}
	// It holds it only while it relays: one relay, and a task so that
	// the loop waits again knowing of it.
	lp := relayingLoop(t)
	if !lp.hold {
		t.Fatal("the only loop of two Ps does not hold its P")
	}
	woken := make(chan struct{})
	lp.Do(func() { close(woken) })
	<-woken
	within := func(what string, fn func()) {
		t.Helper()
		done := make(chan struct{})
		go func() { fn(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: not done in 30 s beside a sleeping loop", what)
		}
	}
	// The loop is asleep: a stop-the-world needs its P.
	within("three garbage collections", func() {
		for range 3 {
			runtime.GC()
		}
	})
	fired := make(chan struct{})
	lp.Do(func() { time.AfterFunc(20*time.Millisecond, func() { close(fired) }) })
	within("a timer set on the loop's thread", func() { <-fired })
	client, server := wiretest.TCPPair(t)
	fd, err := Adopt(server)
	if err != nil {
		t.Fatal(err)
	}
	e := &echo{lp: lp, fd: fd, eof: make(chan struct{})}
	added := make(chan error, 1)
	lp.Do(func() { added <- lp.Add(fd, In, e) })
	if err := <-added; err != nil {
		t.Fatal(err)
	}
	within("an echo through the loop", func() {
		_ = client.SetDeadline(time.Now().Add(10 * time.Second))
		got := make([]byte, 5)
		if _, err := client.Write([]byte("hello")); err != nil {
			t.Error(err)
			return
		}
		if _, err := io.ReadFull(client, got); err != nil || string(got) != "hello" {
			t.Errorf("echo: %q, %v", got, err)
		}
	})
	client.Close()
	within("the handler's EOF", func() { <-e.eof })
}

// relayingLoop starts the only loop of a group, with one relay counted:
// with GOMAXPROCS above one it holds its P while it sleeps.
func relayingLoop(t *testing.T) *Loop {
	t.Helper()
	g, err := NewGroup(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	lp := g.Pick()
	lp.Load.Add(1)
	t.Cleanup(func() { lp.Load.Add(-1) })
	return lp
}

// TestHoldingLoopLetsGoWhenPsAreTaken: when GOMAXPROCS drops to the
// number of loops (as the runtime does when a cgroup's CPU limit drops),
// a loop that held its P while it slept stops holding it.
func TestHoldingLoopLetsGoWhenPsAreTaken(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	lp := relayingLoop(t)
	holds := func() bool {
		c := make(chan bool, 1)
		lp.Do(func() { c <- lp.hold })
		return <-c
	}
	if !holds() {
		t.Fatal("the only loop of two Ps does not hold its P")
	}
	runtime.GOMAXPROCS(1)
	deadline := time.Now().Add(10 * time.Second)
	for holds() {
		if time.Now().After(deadline) {
			t.Fatal("the loop still holds its P with GOMAXPROCS 1")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestYieldRunsTheWokenGoroutine: a goroutine that a holding loop's
// handler makes runnable waits in the run queue of the loop's P, which
// the other P, kept busy, does not take it from; Yield lets it run before
// the loop goes on, where without it the loop handles its socket over and
// over (level-triggered, never drained) until its next preemption. The
// operating system may still delay the thread that takes the loop's P
// over (a loaded machine): the median of several trials is what counts.
func TestYieldRunsTheWokenGoroutine(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for _, yield := range []bool{false, true} {
		var calls []int64
		for range 9 {
			calls = append(calls, handlerCallsBeforeWoken(t, yield))
		}
		slices.Sort(calls)
		n := calls[len(calls)/2]
		t.Logf("yield %v: the woken goroutine ran after %d handler calls (median of %v)", yield, n, calls)
		if yield && n > 100 {
			t.Errorf("with Yield the woken goroutine ran after %d handler calls (median), want it before the loop goes on", n)
		}
	}
}

// handlerCallsBeforeWoken counts the calls of a handler on a holding
// loop, whose socket always has input, until a goroutine its first call
// woke has run, the other P spinning meanwhile.
func handlerCallsBeforeWoken(t *testing.T, yield bool) int64 {
	lp := relayingLoop(t)
	client, server := wiretest.TCPPair(t)
	fd, err := Adopt(server)
	if err != nil {
		t.Fatal(err)
	}
	var calls, seen atomic.Int64
	wake, waiting := make(chan struct{}, 1), make(chan struct{})
	stop := make(chan struct{})
	go func() { // woken by the loop: notes how far the loop got
		close(waiting)
		<-wake
		seen.Store(calls.Load())
		close(stop)
	}()
	<-waiting
	go func() { // keeps the other P busy until the woken one ran
		for {
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	h := handlerFunc(func(fd int, ev uint32) {
		select {
		case <-stop:
			lp.Remove(fd)
			return
		default:
		}
		if calls.Add(1) == 1 {
			wake <- struct{}{}
			if yield {
				lp.Yield()
			}
		}
	})
	lp.Do(func() { _ = lp.Add(fd, In, h) })
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	<-stop
	lp.Close() // before the socket closes under it (Close is idempotent)
	_ = unix.Close(fd)
	return seen.Load()
}

// TestDoIsNeverLost: Do wakes a loop only when it sleeps, or is about to;
// functions queued from other goroutines, from the loop's own functions
// and while it handles events all run, on a loop that lets go of its P
// while it sleeps and on one that holds it.
func TestDoIsNeverLost(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	plain, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	for name, lp := range map[string]*Loop{"plain": plain, "holding": relayingLoop(t)} {
		const senders, each = 4, 5000
		var ran atomic.Int64
		all := make(chan struct{})
		count := func() {
			if ran.Add(1) == senders*each*2 {
				close(all)
			}
		}
		for s := range senders {
			go func() {
				for i := range each {
					// Half of them queue another from the loop's thread.
					if !lp.Do(func() {
						count()
						if !lp.Do(count) {
							t.Error("Do from the loop's thread refused")
						}
					}) {
						t.Error("Do on a running loop refused")
					}
					if (i+s)%64 == 0 {
						time.Sleep(50 * time.Microsecond) // lets the loop fall asleep now and then
					}
				}
			}()
		}
		select {
		case <-all:
		case <-time.After(60 * time.Second):
			t.Fatalf("%s loop: %d of %d functions ran in 60 s", name, ran.Load(), senders*each*2)
		}
	}
}

// TestFunctionsDoNotStarveEvents: a function that queues itself again
// until a socket's event was handled does not keep the loop from the
// event.
func TestFunctionsDoNotStarveEvents(t *testing.T) {
	lp, client, _, fd := adoptedPair(t)
	e := &echo{lp: lp, fd: fd, eof: make(chan struct{})}
	var spin func()
	spins := 0
	spin = func() {
		spins++
		if e.calls == 0 {
			lp.Do(spin)
		}
	}
	added := make(chan error, 1)
	lp.Do(func() {
		added <- lp.Add(fd, In, e)
		spin()
	})
	if err := <-added; err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	if _, err := io.ReadFull(client, b[:]); err != nil {
		t.Fatalf("no echo while a function kept queuing itself: %v", err)
	}
	stopped := make(chan int, 1)
	lp.Do(func() { stopped <- spins })
	if n := <-stopped; n < 2 {
		t.Fatalf("the function ran %d times: it never queued itself", n)
	}
	client.Close()
	<-e.eof
}
