// Package evloop runs the steady-state relay on event loops that own
// their epoll, as PgBouncer's does: a Loop is one goroutine locked to its
// thread that waits in epoll_wait and calls the Handler of each ready
// descriptor, which reads and writes it with non-blocking system calls.
// A message crosses the proxy with one read and one write and no
// goroutine wake-up, where Go's own poller reads before it waits (an
// extra read that finds nothing) and wakes a goroutine per direction
// (docs/benchmarks.md § The floor of a Go relay).
//
// Descriptors are level-triggered: a handler reads once per report and is
// asked again while bytes remain, and it stops asking for a descriptor's
// input (Modify) while its peer cannot take more, which is how a client
// that does not read holds its backend up, and the other way round.
//
// Handlers run on the loop's thread one at a time: they must never block.
// Everything else reaches a loop through Do, which queues a function for
// its thread and wakes it through an eventfd when it sleeps.
package evloop

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Events a handler may ask for and be told about.
const (
	In  = unix.EPOLLIN
	Out = unix.EPOLLOUT
	// Hup and Err are always reported; a handler's next read or write
	// tells which.
	Hup = unix.EPOLLHUP | unix.EPOLLRDHUP
	Err = unix.EPOLLERR
)

// Handler is what a loop calls when a descriptor is ready.
type Handler interface {
	// Ready is called on the loop's thread with fd's events.
	Ready(fd int, events uint32)
}

// Loop is one event loop: an epoll set served by one locked goroutine.
type Loop struct {
	epfd, wake int
	handlers   []Handler // by descriptor; the loop's thread only
	mu         sync.Mutex
	tasks      []func()
	closed     bool
	done       chan struct{}
	// Load counts what the loop relays, for Group.Pick and hold: its
	// pass-through sessions, pooled clients and pooled server connections.
	Load atomic.Int64
	// hold: while it relays (Load > 0) the loop sleeps in a raw
	// epoll_pwait, keeping its P (the scheduler's right to run Go code)
	// instead of handing it over and taking it back at every wake-up. Only
	// when the loops leave other Ps to the rest of the process (NewGroup);
	// a loop without relays lets go of its P while it sleeps, so that
	// goroutine-relayed (pooled) sessions have every P when no session is
	// on the loops.
	hold bool
	// yield: a handler made goroutines runnable (Yield). The loop's thread
	// only.
	yield bool
	// sleeping: the loop may be waiting for events, or about to: Do
	// wakes it. Otherwise it runs what Do queued before it waits.
	sleeping atomic.Bool
	// group is the number of loops of its Group: with GOMAXPROCS (which
	// the runtime lowers when a cgroup's CPU limit drops) no longer above
	// it, the loop stops holding its P.
	group int
}

// New starts a loop that lets go of its P while it sleeps.
func New() (*Loop, error) { return start(false, 1) }

func start(hold bool, group int) (*Loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	l := &Loop{epfd: epfd, wake: wake, done: make(chan struct{}), hold: hold, group: group}
	go l.run()
	return l, nil
}

// run waits for events and dispatches them until Close.
func (l *Loop) run() {
	runtime.LockOSThread()
	// Unlocked at the end so that the thread lives on: a goroutine that
	// ends locked takes its thread with it, and children started with a
	// parent-death signal from that thread (Pdeathsig: the demo's and the
	// tests' PostgreSQL servers) would be killed with it.
	defer runtime.UnlockOSThread()
	defer close(l.done)
	events := make([]unix.EpollEvent, 256)
	var tasks []func()
	for {
		if l.yield {
			l.yield = false
			runtime.Gosched()
		}
		// The functions Do queued while the loop was awake, which it did
		// not wake for, run before the loop sleeps: sleeping is set
		// before the queue is looked at, and Do looks at sleeping after
		// it queued, so that one of the two sees the other.
		l.sleeping.Store(true)
		l.mu.Lock()
		tasks, l.tasks = l.tasks, tasks[:0]
		closed := l.closed
		l.mu.Unlock()
		ran := len(tasks) > 0
		if ran || closed {
			l.sleeping.Store(false)
			for _, fn := range tasks {
				fn()
			}
			clear(tasks)
			if closed {
				unix.Close(l.epfd)
				unix.Close(l.wake)
				return
			}
		}
		// A loop that ran functions takes the events that are ready
		// without sleeping: functions that queue more do not hold the
		// events up. A loop that holds its P waits in one raw system
		// call, which returns at once when events are ready. Otherwise
		// the events that are ready are taken without the scheduler's
		// bookkeeping around a system call that may block, and only an
		// idle loop waits through the scheduler.
		var n int
		var err error
		switch {
		case ran:
			n, err = pwait(l.epfd, events, 0)
		case l.hold && l.Load.Load() > 0:
			n, err = pwait(l.epfd, events, -1)
		default:
			if n, err = pwait(l.epfd, events, 0); n == 0 && err == nil {
				n, err = unix.EpollWait(l.epfd, events, -1)
			}
		}
		l.sleeping.Store(false)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				if l.hold {
					// A signal: the runtime's request to preempt the
					// loop (every 10 ms of sleep, and for each garbage
					// collection's stop-the-world) among them. The
					// loop lets go of its P here, as a goroutine at a
					// safe point would; a loop whose last relay ended
					// while it slept waits through the scheduler next,
					// and one whose Ps were taken away (GOMAXPROCS
					// lowered) from now on.
					runtime.Gosched()
					l.hold = runtime.GOMAXPROCS(0) > l.group
				}
				continue
			}
			panic(fmt.Sprintf("evloop: epoll_wait: %v", err)) // EBADF/EFAULT/EINVAL: a bug
		}
		for i := range events[:n] {
			fd := int(events[i].Fd)
			if fd == l.wake {
				// Do's wake-up: its functions run next round.
				var b [8]byte
				_, _ = unix.Read(l.wake, b[:])
				continue
			}
			if fd < len(l.handlers) && l.handlers[fd] != nil {
				l.handlers[fd].Ready(fd, events[i].Events)
			}
		}
	}
}

// Yield lets the goroutines a handler made runnable (a channel send, a
// mutex handed over) run before the loop goes on. They wait in the run
// queue of the loop's P, which only that P runs before the others have
// nothing left to do: a loop that keeps its P while it sleeps would make
// them wait for its next preemption, up to 10 ms. The loop's thread only.
func (l *Loop) Yield() { l.yield = true }

// pwait returns the events ready within msec milliseconds (-1: until
// there are some), as a raw system call: the scheduler is not told, so
// the goroutine keeps its P while the call blocks.
func pwait(epfd int, events []unix.EpollEvent, msec int) (int, error) {
	n, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(msec), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// Do runs fn on the loop's thread, after the events at hand; a loop that
// is awake (Do from a handler, or while it handles events) is not woken
// through its eventfd. It reports false, and fn never runs, once the loop
// is closed.
func (l *Loop) Do(fn func()) bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	l.tasks = append(l.tasks, fn)
	first := len(l.tasks) == 1
	l.mu.Unlock()
	// A loop that is awake runs fn before it sleeps (run): only a
	// sleeping one is woken, once for the functions queued meanwhile.
	if first && l.sleeping.Load() {
		l.signal()
	}
	return true
}

func (l *Loop) signal() {
	one := uint64(1)
	_, _ = unix.Write(l.wake, unsafe.Slice((*byte)(unsafe.Pointer(&one)), 8))
}

// Close stops the loop once the functions queued before it ran; the
// handlers' descriptors are theirs to close (Do before Close).
func (l *Loop) Close() {
	l.mu.Lock()
	already := l.closed
	l.closed = true
	l.mu.Unlock()
	if !already {
		l.signal()
	}
	<-l.done
}

// Add registers fd for events with h. Loop thread only.
func (l *Loop) Add(fd int, events uint32, h Handler) error {
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: events, Fd: int32(fd)}); err != nil {
		return fmt.Errorf("epoll_ctl add: %w", err)
	}
	if fd >= len(l.handlers) {
		l.handlers = append(l.handlers, make([]Handler, fd+1-len(l.handlers)+64)...)
	}
	l.handlers[fd] = h
	return nil
}

// Modify changes the events fd is watched for. Loop thread only.
func (l *Loop) Modify(fd int, events uint32) error {
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Events: events, Fd: int32(fd)}); err != nil {
		return fmt.Errorf("epoll_ctl mod: %w", err)
	}
	return nil
}

// Remove stops watching fd. Loop thread only; the caller closes fd.
func (l *Loop) Remove(fd int) {
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	if fd < len(l.handlers) {
		l.handlers[fd] = nil
	}
}

// Read reads from the non-blocking fd; it returns unix.EAGAIN when
// nothing is there. Raw: a non-blocking call never parks the thread, so
// the scheduler need not know of it.
func Read(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, _, e := syscall.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
	}
}

// Write writes to the non-blocking fd what it takes now, which may be
// less than p (EAGAIN is n = 0 and a nil error).
func Write(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, _, e := syscall.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch e {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, nil
		}
		return 0, e
	}
}

// Socket is a connection whose socket a loop can adopt.
type Socket interface {
	syscall.Conn
	Close() error
}

// Group is a set of loops that relays are spread over.
type Group struct {
	loops []*Loop
}

// NewGroup starts n loops. When GOMAXPROCS leaves at least one P to the
// rest of the process, the loops keep theirs while they sleep (Loop.hold):
// a wake-up then costs no hand-over of the P (docs/design-notes.md §
// Event-loop relay, Waiting).
func NewGroup(n int) (*Group, error) {
	g := &Group{}
	n = max(n, 1)
	hold := runtime.GOMAXPROCS(0) > n
	for range n {
		l, err := start(hold, n)
		if err != nil {
			g.Close()
			return nil, err
		}
		g.loops = append(g.loops, l)
	}
	return g, nil
}

// Size is the number of loops.
func (g *Group) Size() int { return len(g.loops) }

// Pick returns the loop with the fewest relays.
func (g *Group) Pick() *Loop {
	best := g.loops[0]
	for _, l := range g.loops[1:] {
		if l.Load.Load() < best.Load.Load() {
			best = l
		}
	}
	return best
}

// Relays is the sum of the loops' Load: the pass-through sessions, pooled
// clients and pooled server connections they relay.
func (g *Group) Relays() int64 {
	var n int64
	for _, l := range g.loops {
		n += l.Load.Load()
	}
	return n
}

// Close stops every loop.
func (g *Group) Close() {
	for _, l := range g.loops {
		l.Close()
	}
}

// Adopt takes the socket of conn out of Go's poller for a loop: it
// returns a duplicate descriptor (non-blocking, as the original) and
// closes conn, which removes the original from the runtime's epoll set.
// The socket lives on in the duplicate; the caller owns and closes it.
func Adopt(conn Socket) (int, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("dup: %w", derr)
	}
	_ = conn.Close()
	return fd, nil
}
