// Package listen owns the proxy's client listener: the accept loop that
// survives running out of file descriptors (backoff, a reserve of
// descriptors for the rest of the proxy, a spare descriptor to refuse
// clients with 53300 when the file table is full) and the socket options
// of an accepted client connection. It does not read startup packets nor
// run sessions: the proxy's handler does, for each connection the loop
// hands it.
package listen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// Clock tells the time; the proxy passes its own.
type Clock interface{ Now() time.Time }

// Backoff of a failing accept, as net/http's Server.Serve does it.
const (
	acceptMinDelay = 5 * time.Millisecond
	acceptMaxDelay = time.Second
	// acceptQuiet is how long accepts must go without a failure before
	// the condition counts as cleared: a flood that keeps the file table
	// full frees a descriptor now and then, and one client served in such
	// a hole is not a recovery (nor worth two log lines).
	acceptQuiet = acceptMaxDelay
)

// fdReserve is how many file descriptors below the open-file limit the
// client listener leaves to the rest of the proxy (the REST API and its
// /ready, metrics, health checks, backend connections of sessions being
// set up): a client whose socket lands there is refused with 53300. 1/16
// of the limit, at least 16 and at most 1,024.
func fdReserve(limit uint64) uint64 { return min(max(limit/16, 16), 1024) }

// errNoHeadroom is the failure of an accept that succeeded into the file
// descriptors reserved for the rest of the proxy.
var errNoHeadroom = errors.New("file descriptors nearly exhausted")

// Loop is the proxy's accept loop. It survives what can pass: temporary
// accept errors (EMFILE, ENFILE, ENOBUFS, ENOMEM, ECONNABORTED, …) back
// off from acceptMinDelay to acceptMaxDelay and retry, and clients that
// cannot be served are told so with SQLSTATE 53300 instead of waiting in
// the listen queue until they time out. The condition is logged once when
// it starts and once when it clears, and the trouble func passed to New
// is told (the proxy's Ready reports it).
//
// Clients are refused in two ways. Before the file table is full: Linux
// hands out the lowest free descriptor, so an accepted socket numbered at
// or above limit − fdReserve means fewer than fdReserve descriptors are
// left, and the client is refused while the API can still answer /ready.
// Once it is full (descriptors taken by something else than clients):
// accept fails with EMFILE and the pending connection would stay queued,
// so the loop closes a spare descriptor it holds for that, accepts the
// client, refuses it, and opens the spare again (libuv's EMFILE trick).
type Loop struct {
	ln      net.Listener
	log     *slog.Logger
	clock   Clock
	trouble func(why string)
	spare   *os.File // nil when it could not be opened (again)

	limit uint64 // soft RLIMIT_NOFILE, read again before each refusal; 0: unknown

	// The current episode of failures; since is zero while accepts work.
	since    time.Time
	last     time.Time // the latest failure
	failures int       // accept errors and refused clients
	refused  int       // clients answered 53300
	delay    time.Duration
}

// New returns the accept loop of ln, holding its spare descriptor until
// Run returns. trouble is called from Run's goroutine with a sentence for
// operators when accepts start failing, and with "" when they work again.
func New(ln net.Listener, log *slog.Logger, clock Clock, trouble func(why string)) *Loop {
	a := &Loop{ln: ln, log: log.With("addr", ln.Addr().String()), clock: clock, trouble: trouble}
	a.limit = fileLimit()
	a.openSpare()
	return a
}

// Run accepts until ctx ends, handing every client it can serve to
// handle on Run's goroutine. It returns nil when ctx ended, or the first
// error that a retry cannot cure (the listener is broken). Run does not
// close ln: the caller closes it when ctx ends, which ends a pending
// Accept.
func (a *Loop) Run(ctx context.Context, handle func(net.Conn)) error {
	defer a.closeSpare()
	for {
		conn, err := a.ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil // we closed the listener
			}
			if a.failing() && isTimeout(err) {
				a.probe() // our deadline: no client waiting
				continue
			}
			if !retryable(err) {
				return fmt.Errorf("accept on %s: %w", a.ln.Addr(), err)
			}
			a.fail(err)
			if (errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)) && a.refuseWithSpare() {
				continue // progress: the queued client was answered
			}
			if !a.sleep(ctx) {
				return nil
			}
			a.nextDelay()
			continue
		}
		if a.crowded(conn) {
			a.fail(errNoHeadroom)
			a.refuse(conn)
			continue
		}
		if a.failing() && a.clock.Now().Sub(a.last) >= acceptQuiet {
			a.recovered()
		}
		handle(conn)
	}
}

func (a *Loop) failing() bool { return !a.since.IsZero() }

// fail counts a failure; the first of an episode is logged and makes the
// listener not ready.
func (a *Loop) fail(err error) {
	now := a.clock.Now()
	a.failures++
	a.last = now
	if a.failing() {
		return
	}
	a.since, a.delay = now, acceptMinDelay
	a.limit = fileLimit()
	reason := fmt.Sprintf("the client listener cannot accept connections: %v (open-file limit %d)", err, a.limit)
	a.trouble(reason)
	a.log.Warn("accept failing; new clients are refused with 53300 until it clears",
		"err", err, "open_file_limit", a.limit, "reserve", fdReserve(a.limit))
	a.setDeadline()
}

// recovered ends the episode.
func (a *Loop) recovered() {
	now := a.clock.Now()
	a.log.Info("accept recovered", "failures", a.failures, "refused", a.refused, "for", now.Sub(a.since).Round(time.Millisecond).String())
	a.since, a.last, a.failures, a.refused, a.delay = time.Time{}, time.Time{}, 0, 0, 0
	a.trouble("")
	if d, ok := a.ln.(interface{ SetDeadline(time.Time) error }); ok {
		_ = d.SetDeadline(time.Time{})
	}
}

func (a *Loop) nextDelay() { a.delay = min(2*a.delay, acceptMaxDelay) }

// setDeadline makes a failing listener's Accept return after the current
// delay even when no client comes, so that the loop notices recovery
// without one.
func (a *Loop) setDeadline() {
	if d, ok := a.ln.(interface{ SetDeadline(time.Time) error }); ok {
		_ = d.SetDeadline(a.clock.Now().Add(a.delay))
	}
}

// probe runs when a failing listener had no client for a while: the
// episode ends when a new descriptor would be served (and the spare is
// held again), and quiet lasted acceptQuiet.
func (a *Loop) probe() {
	if a.spare == nil {
		a.openSpare()
	}
	if a.spare != nil && a.clock.Now().Sub(a.last) >= acceptQuiet && a.headroom() {
		a.recovered()
		return
	}
	a.nextDelay()
	a.setDeadline()
}

// headroom reports whether a descriptor opened now lies below the
// reserve.
func (a *Loop) headroom() bool {
	f, err := os.Open(os.DevNull)
	if err != nil {
		return false
	}
	defer f.Close()
	return a.limit == 0 || uint64(f.Fd()) < a.limit-fdReserve(a.limit)
}

// crowded reports whether conn's descriptor lies in the reserve, reading
// the limit again first (an operator may have raised it with prlimit).
func (a *Loop) crowded(conn net.Conn) bool {
	if a.limit == 0 {
		return false
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var fd uintptr
	if rc.Control(func(f uintptr) { fd = f }) != nil {
		return false
	}
	if uint64(fd) < a.limit-fdReserve(a.limit) {
		return false
	}
	a.limit = fileLimit()
	return a.limit != 0 && uint64(fd) >= a.limit-fdReserve(a.limit)
}

// refuseWithSpare answers the client waiting in the listen queue with the
// descriptor of the spare, and reports whether it did.
func (a *Loop) refuseWithSpare() bool {
	if a.spare == nil {
		a.openSpare()
		return false
	}
	a.closeSpare()
	conn, err := a.ln.Accept()
	if err != nil {
		a.openSpare()
		return false // another goroutine took the descriptor, or no client
	}
	a.refuse(conn)
	a.openSpare() // the descriptor refuse freed
	return true
}

// refuse tells a client the proxy is full, as PostgreSQL does, and closes
// the connection. The answer goes out at once, without reading the
// client's startup packet: a refused client must cost the proxy its
// descriptor for as short a time as possible. libpq and pgx report it (to
// an SSLRequest too: libpq reads an 'E' answer as the server's error).
func (a *Loop) refuse(conn net.Conn) {
	a.refused++
	e := &wire.Error{Code: "53300", Message: "sorry, too many clients already",
		Detail: fmt.Sprintf("HeliosProxy is at its open-file limit (%d).", a.limit),
		Hint:   "Try again later; an operator can raise the limit (LimitNOFILE, ulimit -n)."}
	_ = conn.SetWriteDeadline(a.clock.Now().Add(100 * time.Millisecond))
	_, _ = conn.Write(e.Append(nil))
	if tc, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite() // FIN after the answer
	}
	_ = conn.Close()
}

func (a *Loop) openSpare() {
	if a.spare != nil {
		return
	}
	if f, err := os.Open(os.DevNull); err == nil {
		a.spare = f
	}
}

func (a *Loop) closeSpare() {
	if a.spare != nil {
		_ = a.spare.Close()
		a.spare = nil
	}
}

// sleep waits the current delay; false when ctx ended first.
func (a *Loop) sleep(ctx context.Context) bool {
	t := time.NewTimer(a.delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// retryable reports whether an accept error can pass: the resources it
// lacked may come back, or one client gave up during the handshake.
func retryable(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EPROTO, syscall.EPERM, syscall.EINTR, syscall.EAGAIN, syscall.ETIMEDOUT} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return isTimeout(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// fileLimit returns the soft RLIMIT_NOFILE, 0 when unknown. The Go
// runtime raised it to the hard limit at start.
func fileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return l.Cur
}
