package listen

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// fakeListener hands out what the test queues: a net.Conn or an error.
// With nothing queued, Accept waits until the test queues more or closes
// the listener.
type fakeListener struct {
	next   chan any
	closed chan struct{}
	once   sync.Once
}

func newFakeListener() *fakeListener {
	return &fakeListener{next: make(chan any, 16), closed: make(chan struct{})}
}

func (l *fakeListener) Accept() (net.Conn, error) {
	select {
	case v := <-l.next:
		if err, ok := v.(error); ok {
			return nil, err
		}
		return v.(net.Conn), nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *fakeListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5432} }

// sysClock is the clock, which synctest's bubble makes fake.
type sysClock struct{}

func (sysClock) Now() time.Time { return time.Now() }

var errEMFILE = &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept", syscall.EMFILE)}

// TestLoopEMFILE follows one episode of accept failing with EMFILE: the
// trouble is reported once, the client waiting behind it is refused with
// 53300 (through the spare descriptor), a client served within
// acceptQuiet of the failure does not end the episode, and one served
// after it does.
func TestLoopEMFILE(t *testing.T) { synctest.Test(t, testLoopEMFILE) }

func testLoopEMFILE(t *testing.T) {
	ln := newFakeListener()
	trouble := make(chan string, 16)
	handled := make(chan net.Conn, 16)
	loop := New(ln, slog.New(slog.NewTextHandler(io.Discard, nil)), sysClock{}, func(why string) { trouble <- why })
	if loop.spare == nil {
		t.Fatal("New holds no spare descriptor")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- loop.Run(ctx, func(c net.Conn) { handled <- c })
	}()
	defer func() {
		cancel()
		ln.Close()
		if err := <-done; err != nil {
			t.Errorf("Run after its context ended = %v, want nil", err)
		}
	}()

	refused, client := net.Pipe()
	defer client.Close()
	answer := make(chan *pgproto3.ErrorResponse, 1)
	go func() {
		msg, err := pgproto3.NewFrontend(client, io.Discard).Receive()
		e, _ := msg.(*pgproto3.ErrorResponse)
		if err != nil {
			t.Errorf("refused client: %v", err)
		}
		answer <- e
	}()
	ln.next <- errEMFILE
	ln.next <- refused // what the spare's descriptor accepts
	if why := within(t, trouble); !strings.Contains(why, "too many open files") {
		t.Errorf("trouble at EMFILE = %q, want it to say too many open files", why)
	}
	if e := within(t, answer); e == nil || e.Code != "53300" || e.Severity != "FATAL" || !strings.Contains(e.Detail, "open-file limit") {
		t.Errorf("client behind EMFILE got %+v, want FATAL 53300", e)
	}

	served, _ := net.Pipe()
	ln.next <- served
	if c := within(t, handled); c != served {
		t.Errorf("handled %v, want the client accepted", c)
	}
	select {
	case why := <-trouble:
		t.Errorf("a client served right after a failure reported trouble %q; the episode must last acceptQuiet", why)
	default:
	}

	time.Sleep(acceptQuiet)
	served, _ = net.Pipe()
	ln.next <- served
	within(t, handled)
	if why := within(t, trouble); why != "" {
		t.Errorf("trouble after a quiet accept = %q, want \"\" (cleared)", why)
	}
	if loop.spare == nil {
		t.Error("the spare was not opened again after the refusal")
	}
}

// within receives from ch, failing the test after 10 s.
func within[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received within 10s")
		panic("unreachable")
	}
}

// TestLoopBrokenListener checks that an error no retry cures ends Run
// with it.
func TestLoopBrokenListener(t *testing.T) {
	ln := newFakeListener()
	broken := errors.New("listener broken")
	ln.next <- broken
	loop := New(ln, slog.New(slog.NewTextHandler(io.Discard, nil)), sysClock{}, func(why string) {
		t.Errorf("trouble %q reported for a broken listener", why)
	})
	err := loop.Run(context.Background(), func(c net.Conn) { t.Error("handled a connection") })
	if !errors.Is(err, broken) {
		t.Errorf("Run = %v, want %v", err, broken)
	}
	if loop.spare != nil {
		t.Error("Run returned holding its spare descriptor")
	}
}
