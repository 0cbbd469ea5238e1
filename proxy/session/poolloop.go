package session

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/heliosdb/heliosproxy/internal/fastconn"
	"github.com/heliosdb/heliosproxy/proxy/evloop"
	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// Pooled server connections on the event loops. A plain pooled server
// connection is read by one of the proxy's loops from its login to its
// close (loopConn), instead of a goroutine of its own: the loop reads it
// when epoll reports it ready, runs the connection's reader (poolReader)
// and writes the answers to the attached session's client at once, with
// a non-blocking write. What the client does not take then goes to a
// goroutine that writes it (clientSink), and the connection is not read
// until that goroutine has written everything: a client that does not
// read holds up its own server connection, nobody else on the loop.
//
// A session's client side writes its requests to the connection's socket
// itself (loopConn.Write: what the socket does not take waits for the
// loop, which writes it when the socket has room), from its goroutine or
// from its own loop (poolclient.go). A TLS connection is read and written
// the same way (looptls.go).

// loopConn is a pooled server connection's socket, owned by a loop: the
// connection's net.Conn once its login is done.
type loopConn struct {
	sc     *serverConn
	lp     *evloop.Loop
	fd     int
	local  net.Addr
	remote net.Addr
	// tls is the connection's TLS over pipe, when it has TLS: nil for a
	// plain socket.
	tls  *tls.Conn
	pipe *evloop.Pipe

	// mu guards pending and closed, and the descriptor against its close:
	// it is closed under mu, on the loop's thread. A TLS connection's
	// reads hold it (looptls.go).
	mu      sync.Mutex
	drained sync.Cond // pending emptied, or closed
	pending []byte    // written to the connection, not yet taken by its socket
	closed  bool
	onDrain func() // whenDrained's

	// The loop's thread only.
	ev       uint32 // events asked for
	need     int    // bytes the reader's scanner holds out for (ErrHold)
	paused   bool   // not read: the client's writer has answers to write first
	pausedAt time.Time
	ended    bool
	done     chan struct{} // closed once the reader ended (Pool.Close waits)
}

// errSpokeIdle: a connection idle in its pool said something.
var errSpokeIdle = errors.New("server connection spoke while idle")

// adopt moves sc's socket to a loop of g once its login is done. It
// reports false when the socket stays with Go's poller (not a socket, or
// the adoption failed): sc then has its reader goroutine.
func (sc *serverConn) adopt(g *evloop.Group) bool {
	sock, tc, pipe, ok := adoptable(sc.Net)
	if !ok {
		return false
	}
	local, remote := sc.Net.LocalAddr(), sc.Net.RemoteAddr()
	fd, err := evloop.Adopt(sock)
	if err != nil {
		// Adopt closes the connection only once it has its duplicate.
		sc.s.log.Warn("event loop: server socket not adopted; read by a goroutine", "err", err)
		return false
	}
	lp := g.Pick()
	c := &loopConn{sc: sc, lp: lp, fd: fd, local: local, remote: remote, tls: tc, pipe: pipe, done: make(chan struct{})}
	c.drained.L = &c.mu
	if pipe != nil {
		pipe.Detach(fd, c.put)
	}
	sc.Net, sc.r.lc = c, c
	lp.Load.Add(1)
	sc.p.Go(func() { <-c.done })
	if !lp.Do(c.start) {
		c.closeOff()
	}
	return true
}

// closeOff closes the socket when its loop has ended (the proxy's end):
// nobody reads it.
func (c *loopConn) closeOff() { c.shut(net.ErrClosed) }

// shut closes the socket, under mu: a Write never finds its descriptor
// closed, or another socket's. The reader's end (serverConn.readFailed:
// quiet when the proxy closed it, a loss otherwise) runs in a goroutine,
// since it may write to a client.
func (c *loopConn) shut(err error) {
	c.mu.Lock()
	if c.tls != nil && !c.closed {
		// close_notify, as a goroutine's tls.Conn.Close sends it: the
		// server then logs no unexpected EOF.
		_ = c.tls.Close()
	}
	c.closed = true
	_ = unix.Close(c.fd)
	c.drained.Broadcast()
	fn := c.onDrain
	c.onDrain = nil
	c.mu.Unlock()
	if fn != nil {
		fn()
	}
	c.lp.Load.Add(-1)
	go c.stopped(err)
}

// start registers the socket and reads what arrived with the login.
func (c *loopConn) start() {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		c.closeNow(net.ErrClosed)
		return
	}
	c.ev = evloop.In
	c.mu.Lock()
	if len(c.pending) > 0 {
		c.ev |= evloop.Out
	}
	c.mu.Unlock()
	if err := c.lp.Add(c.fd, c.ev, c); err != nil {
		c.closeNow(err)
		return
	}
	if c.tls != nil {
		// Records that came with the login's last ones may wait in the
		// tls.Conn, where no report of the loop would find them.
		if _, err := c.readTLS(); err != nil {
			c.closeNow(err)
			return
		}
	}
	if st := c.sc.Stream; st.R < st.W {
		c.consume()
	}
}

// Ready handles the loop's report on the socket.
func (c *loopConn) Ready(_ int, ev uint32) {
	if c.ended {
		return
	}
	if ev&evloop.Out != 0 {
		c.flushPending()
	}
	if !c.ended && !c.paused && ev&(evloop.In|evloop.Hup|evloop.Err) != 0 {
		c.read()
	}
}

// read reads what the server sent and relays it.
func (c *loopConn) read() {
	st := c.sc.Stream
	var read bool
	var err error
	if c.tls != nil {
		read, err = c.readTLS()
	} else {
		read, err = readStream(c.fd, st, c.need)
	}
	if err != nil {
		c.closeNow(err)
		return
	}
	if read && st.W-st.R >= c.need {
		c.consume()
	}
}

// readTLS is readStream for a TLS connection, under mu.
func (c *loopConn) readTLS() (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return readTLS(c.tls, c.pipe, c.sc.Stream, c.need)
}

// readStream reads what the socket fd has into st, after making room
// towards need unread bytes (Stream.Room); false when nothing was there,
// io.EOF when the peer closed.
func readStream(fd int, st *wire.Stream, need int) (bool, error) {
	if st.R == st.W {
		st.R, st.W = 0, 0
	}
	if err := st.Room(max(need, 1)); err != nil {
		return false, err
	}
	n, err := evloop.Read(fd, st.Buf[st.W:])
	switch {
	case errors.Is(err, unix.EAGAIN):
		return false, nil
	case err != nil:
		return false, err
	case n == 0:
		return false, io.EOF
	}
	st.W += n
	return true, nil
}

// consume runs the reader over the buffered bytes and writes the answers
// gathered to the client.
func (c *loopConn) consume() {
	sc := c.sc
	ss, need, err := sc.consume()
	switch {
	case errors.Is(err, errSpokeIdle):
		sc.MarkDead()
		sc.p.Discard(sc)
		c.closeNow(err)
		return
	case err != nil:
		c.closeNow(err)
		return
	}
	c.need = need
	if need == 0 {
		sc.r.flush(ss)
	}
}

// pause stops reading the connection until the client's writer has
// written what it was given (resume).
func (c *loopConn) pause() {
	if c.paused {
		return
	}
	c.paused, c.pausedAt = true, c.sc.s.clock.Now()
	c.interest()
}

// resume reads the connection again: the client has taken its answers.
// The wait is the client's time, not the backend's (poolReader.held).
func (c *loopConn) resume() {
	if c.ended || !c.paused {
		return
	}
	c.paused = false
	if !c.pausedAt.IsZero() {
		c.sc.r.held += c.sc.s.clock.Now().Sub(c.pausedAt)
	}
	c.interest()
}

// release reads the connection again at once: it was given back while
// paused for its last session's client, whose writer has the answers.
func (c *loopConn) release() {
	if c.paused {
		c.paused, c.pausedAt = false, time.Time{}
		c.interest()
	}
}

// clientTime takes the client's time so far in a pause under way, for the
// request a ReadyForQuery ends; the rest of the pause is nobody's.
func (c *loopConn) clientTime() time.Duration {
	if !c.paused || c.pausedAt.IsZero() {
		return 0
	}
	d := c.sc.s.clock.Now().Sub(c.pausedAt)
	c.pausedAt = time.Time{}
	return max(d, 0)
}

// interest asks the loop for the events the connection's state calls for.
func (c *loopConn) interest() {
	var ev uint32
	if !c.paused {
		ev = evloop.In
	}
	c.mu.Lock()
	if len(c.pending) > 0 {
		ev |= evloop.Out
	}
	c.mu.Unlock()
	if ev != c.ev && !c.ended {
		c.ev = ev
		_ = c.lp.Modify(c.fd, ev)
	}
}

// flushPending writes what the socket did not take before.
func (c *loopConn) flushPending() {
	c.mu.Lock()
	n, err := evloop.Write(c.fd, c.pending)
	var fn func()
	if err == nil {
		c.pending = c.pending[:copy(c.pending, c.pending[n:])]
		if len(c.pending) == 0 {
			c.drained.Broadcast()
			fn, c.onDrain = c.onDrain, nil
		}
	}
	c.mu.Unlock()
	if fn != nil {
		fn()
	}
	if err != nil {
		c.closeNow(err)
		return
	}
	c.interest()
}

// closeNow ends the reader on the loop's thread (shut).
func (c *loopConn) closeNow(err error) {
	if c.ended {
		return
	}
	c.ended = true
	c.lp.Remove(c.fd)
	c.shut(err)
	c.lp.Yield()
}

// stopped is the end of the reader: a connection that spoke while idle
// was discarded already.
func (c *loopConn) stopped(err error) {
	defer close(c.done)
	if !errors.Is(err, errSpokeIdle) {
		c.sc.readFailed(err)
	}
}

// Write writes p to the socket, what it does not take now later from the
// loop; it never waits (waitRoom bounds what waits).
func (c *loopConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	if c.tls != nil {
		return c.tls.Write(p) // records for put
	}
	if err := c.put(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// put writes p to the socket, and keeps what it does not take now for the
// loop; mu is held. A TLS connection's Pipe writes its records with it.
func (c *loopConn) put(p []byte) error {
	waits, err := writeOrKeep(c.fd, &c.pending, p)
	if waits {
		c.lp.Do(c.interest)
	}
	return err
}

// writeOrKeep writes p to socket fd unless bytes wait in *pending already,
// and appends to *pending what the socket does not take now; waits: bytes
// wait since this call, for the loop to write when the socket has room.
func writeOrKeep(fd int, pending *[]byte, p []byte) (waits bool, err error) {
	if len(*pending) > 0 {
		*pending = append(*pending, p...)
		return false, nil
	}
	n, err := evloop.Write(fd, p)
	if err != nil || n == len(p) {
		return false, err
	}
	*pending = append(*pending, p[n:]...)
	return true, nil
}

// whenDrained has fn run once the socket took everything written to it,
// or the connection closed; false, and fn never runs, when it has taken
// everything already. One at a time: the attached session's.
func (c *loopConn) whenDrained(fn func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 || c.closed {
		return false
	}
	c.onDrain = fn
	return true
}

// waitRoom waits while more than limit bytes wait for the socket: the
// backpressure of a server that does not read on a client that writes.
func (c *loopConn) waitRoom(limit int) {
	c.mu.Lock()
	for len(c.pending) > limit && !c.closed {
		c.drained.Wait()
	}
	c.mu.Unlock()
}

// Close closes the connection: the loop closes the socket and ends its
// reader.
func (c *loopConn) Close() error {
	c.mu.Lock()
	already := c.closed
	c.closed = true
	c.drained.Broadcast()
	c.mu.Unlock()
	if !already && !c.lp.Do(func() { c.closeNow(net.ErrClosed) }) {
		c.closeOff()
	}
	return nil
}

func (c *loopConn) Read([]byte) (int, error)         { return 0, errors.New("read by an event loop") }
func (c *loopConn) LocalAddr() net.Addr              { return c.local }
func (c *loopConn) RemoteAddr() net.Addr             { return c.remote }
func (c *loopConn) SetDeadline(time.Time) error      { return nil }
func (c *loopConn) SetReadDeadline(time.Time) error  { return nil }
func (c *loopConn) SetWriteDeadline(time.Time) error { return nil }

// clientSink orders what loops and goroutines write to a pooled session's
// client: a loop writes without waiting while nobody else is writing;
// otherwise its bytes queue for a writer goroutine, which holds the
// session's write lock (wmu) until the queue is empty, and the loop
// connections that queued are paused until then.
type clientSink struct {
	mu     sync.Mutex
	q      []byte
	busy   bool // a writer goroutine has the client
	paused []*loopConn
}

// toClient writes p, answers read by c at now (zero: not known), to the
// client without waiting: what the client does not take now is written by
// a goroutine, and c is not read until it has been. The loop's thread of
// c.
func (ss *session) toClient(p []byte, c *loopConn, now time.Time) {
	k := &ss.sink
	k.mu.Lock()
	if !k.busy && ss.wmu.TryLock() {
		n, err := tryWrite(ss.client, p)
		if err != nil {
			ss.wmu.Unlock()
			k.mu.Unlock()
			_ = ss.client.Close()
			return
		}
		if n == len(p) {
			if now.IsZero() {
				now = ss.s.clock.Now()
			}
			ss.wrote.Store(now.UnixNano())
			ss.wmu.Unlock()
			k.mu.Unlock()
			return
		}
		// The writer takes the lock over: nothing else reaches the client
		// before the rest of p.
		k.q = append(k.q, p[n:]...)
		k.busy = true
		k.paused = append(k.paused, c)
		k.mu.Unlock()
		c.pause()
		go ss.writeQueued(true)
		c.lp.Yield()
		return
	}
	k.q = append(k.q, p...)
	k.paused = append(k.paused, c)
	start := !k.busy
	k.busy = true
	k.mu.Unlock()
	c.pause()
	if start {
		go ss.writeQueued(false)
		c.lp.Yield()
	}
}

// tryWrite writes what conn takes of p now, without waiting; 0 for a
// connection that cannot be written that way (TLS with Go's poller).
func tryWrite(conn net.Conn, p []byte) (int, error) {
	switch c := conn.(type) {
	case *fastconn.Conn:
		return c.TryWrite(p)
	case *loopClient:
		return c.TryWrite(p)
	}
	return 0, nil
}

// writeQueued writes the sink's queue to the client until it is empty,
// then lets the paused connections be read again. locked: the caller
// handed ss.wmu over.
func (ss *session) writeQueued(locked bool) {
	if !locked {
		ss.wmu.Lock()
	}
	k := &ss.sink
	var buf []byte
	for {
		k.mu.Lock()
		if len(k.q) == 0 {
			k.busy = false
			paused := k.paused
			k.paused = nil
			k.mu.Unlock()
			ss.wmu.Unlock()
			for _, c := range paused {
				c.lp.Do(c.resume)
			}
			return
		}
		buf, k.q = k.q, buf[:0]
		k.mu.Unlock()
		if _, err := ss.clientWrite(buf); err != nil {
			// Gone: the session's goroutine ends it; the rest is dropped.
			_ = ss.client.Close()
		}
	}
}
