package evloop

import (
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// TLS on a loop. crypto/tls reads and writes its records through a
// net.Conn; a Pipe is that net.Conn for a TLS connection whose socket may
// move to a loop (Detach) and back (Attach). With Go's poller it is the
// socket. On a loop, the tls.Conn reads the socket's descriptor without
// waiting, and only on the loop's thread: up to the budget the loop gives
// it (Budget), then ErrWouldBlock, as when the socket has nothing. That
// error is temporary, and crypto/tls keeps a partial record and no error
// state for a temporary error: the next Read carries on. Its writes go to
// the sink the loop gives it, which writes without waiting and keeps what
// the socket does not take.

// ErrWouldBlock is a Pipe's read on a loop that would have to wait: the
// socket has nothing, or the loop's budget is spent.
var ErrWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "read would block" }
func (wouldBlock) Timeout() bool   { return false }
func (wouldBlock) Temporary() bool { return true }

// Pipe is the connection under a tls.Conn whose socket a loop may own.
// Its owner serialises Detach and Attach with its reads and writes.
type Pipe struct {
	conn          net.Conn // the socket with Go's poller; nil on a loop
	adopted       net.Conn // the socket as Go's poller had it when the loop took it (closed)
	local, remote net.Addr
	fd            int
	budget        int
	sink          func([]byte) error
	// mu orders the records a loop left (Attach) before any other write.
	mu      sync.Mutex
	pending []byte
}

// NewPipe returns a Pipe over conn, with Go's poller.
func NewPipe(conn net.Conn) *Pipe {
	return &Pipe{conn: conn, local: conn.LocalAddr(), remote: conn.RemoteAddr(), fd: -1}
}

// Socket is the socket with Go's poller; nil on a loop.
func (p *Pipe) Socket() net.Conn { return p.conn }

// Detach moves the pipe to a loop that owns fd (Adopt took the socket):
// reads take the descriptor's bytes up to the loop's Budget, and sink gets
// every write.
func (p *Pipe) Detach(fd int, sink func([]byte) error) {
	p.adopted = p.conn
	p.conn, p.fd, p.sink, p.budget = nil, fd, sink, 0
}

// Drop ends the pipe's time on a loop that closed the descriptor, whose
// number another socket may have by now: reads and writes fail from then
// on, on the socket Go's poller had, closed when the loop took it.
func (p *Pipe) Drop() { p.Attach(p.adopted, nil) }

// Attach gives the pipe its socket with Go's poller again. pending is
// records the loop made that the socket has not taken: they go first, at
// the next Write or Flush.
func (p *Pipe) Attach(conn net.Conn, pending []byte) {
	p.conn, p.fd, p.sink, p.budget = conn, -1, nil, 0
	p.pending = slices.Clone(pending)
}

// Pending reports whether records the loop left wait for Flush.
func (p *Pipe) Pending() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending) > 0
}

// Flush writes the records the loop left (Attach), waiting as a write on
// the socket does.
func (p *Pipe) Flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) == 0 {
		return nil
	}
	_, err := p.conn.Write(p.pending)
	p.pending = nil
	return err
}

// Budget lets the reads that follow take up to n bytes from the socket;
// on the loop's thread.
func (p *Pipe) Budget(n int) { p.budget = n }

// Read reads the socket: on a loop, what it has now within the budget.
func (p *Pipe) Read(b []byte) (int, error) {
	if p.conn != nil {
		return p.conn.Read(b)
	}
	if p.budget <= 0 || len(b) == 0 {
		return 0, ErrWouldBlock
	}
	n, err := Read(p.fd, b[:min(len(b), p.budget)])
	switch {
	case errors.Is(err, unix.EAGAIN):
		return 0, ErrWouldBlock
	case err != nil:
		return 0, err
	case n == 0:
		return 0, io.EOF
	}
	p.budget -= n
	return n, nil
}

// Write writes b to the socket: on a loop, through the sink.
func (p *Pipe) Write(b []byte) (int, error) {
	if p.conn != nil {
		if err := p.Flush(); err != nil {
			return 0, err
		}
		return p.conn.Write(b)
	}
	if err := p.sink(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Close closes the socket with Go's poller; on a loop, the loop closes
// the descriptor.
func (p *Pipe) Close() error {
	if p.conn != nil {
		return p.conn.Close()
	}
	return nil
}

func (p *Pipe) LocalAddr() net.Addr  { return p.local }
func (p *Pipe) RemoteAddr() net.Addr { return p.remote }

// The deadlines are the socket's with Go's poller; a loop never waits.

func (p *Pipe) SetDeadline(t time.Time) error {
	if p.conn != nil {
		return p.conn.SetDeadline(t)
	}
	return nil
}

func (p *Pipe) SetReadDeadline(t time.Time) error {
	if p.conn != nil {
		return p.conn.SetReadDeadline(t)
	}
	return nil
}

func (p *Pipe) SetWriteDeadline(t time.Time) error {
	if p.conn != nil {
		return p.conn.SetWriteDeadline(t)
	}
	return nil
}
