package session

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"time"

	"golang.org/x/sys/unix"

	"github.com/heliosdb/heliosproxy/internal/fastconn"
	"github.com/heliosdb/heliosproxy/proxy/evloop"
	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// The event-loop relay. A pass-through session whose client and backend
// connections are sockets, plain or TLS (looptls.go), is relayed by one
// of the proxy's event loops (Front.Loops): both sockets leave Go's poller
// (evloop.Adopt) and the loop reads each when epoll reports it ready,
// runs the same scanners and handlers as the goroutine relay (latency and
// SQLSTATE per request, parameters, transaction status, statements the
// proxy answers) and writes what it read to the peer at once, in one
// write for everything a read brought. A peer that cannot take more
// stops the reads from the other side until it has drained.
//
// The loop never blocks: a statement the proxy answers, or an admission
// that may wait (a role's rate limit, a backend's admission queue), hands
// the session back to the two goroutines (relay), which carry on from
// exactly where the loop stopped, for the rest of the session; so do a
// backend's failure, a client's protocol violation and the proxy's
// shutdown, which the goroutines' epilogue handles as before. The common
// ends, which need no epilogue, end on the loop (finish): the client
// closed, or it sent Terminate and the backend then closed.

// loopResult is how a loop hands a session back.
type loopResult struct {
	// c2s and s2c are how a direction ended; nil: it carries on in its
	// goroutine.
	c2s, s2c error
	// taken: the client message at the stream's read position is the
	// proxy's to answer.
	taken bool
	// toServer and toClient were scanned and not yet written;
	// fromServer was read from the backend and not yet scanned.
	toServer, toClient, fromServer []byte
	// done: the session ended on the loop, which closed both sockets.
	done bool
}

// loopRelay is a session on an event loop. Its fields belong to the
// loop's thread from start to the result.
type loopRelay struct {
	ss       *session
	lp       *evloop.Loop
	cfd, sfd int
	c2s      *clientSide
	b2c      *serverHandler
	need     int    // bytes the client scanner holds out for (ErrHold), 0 when none
	held     error  // the client scanner's verdict, to act on once toServer is taken
	toServer []byte // scanned client bytes the backend did not take yet: in the client's read buffer
	toClient []byte // backend bytes the client did not take yet: in the backend's read buffer
	cEv, sEv uint32 // events asked for
	since    int64  // unix nanos when toClient began waiting on the client
	// closing: the client's Terminate went to the backend, whose close
	// the loop awaits until expire.
	closing bool
	expire  *time.Timer
	ended   bool
	result  chan loopResult
	// ctls and stls are the client's and the backend's TLS when they have
	// it; toClient and toServer are then records the socket has not taken
	// (in cOut, sOut), not bytes of a read buffer.
	ctls, stls   *tls.Conn
	cpipe, spipe *evloop.Pipe
	cOut, sOut   []byte
}

// loopable reports whether conn can be relayed on a loop: a plain socket.
func loopable(conn net.Conn) (evloop.Socket, bool) {
	switch c := conn.(type) {
	case *net.TCPConn:
		return c, true
	case *net.UnixConn:
		return c, true
	case *fastconn.Conn:
		return c, true
	}
	return nil, false
}

// loopRelay relays the session on an event loop until the loop hands it
// back, and returns what the goroutines are to carry on with. fromServer
// are backend bytes read during the login and not yet relayed. On return
// ss.client and ss.server are connections of Go's poller again.
func (ss *session) loopRelay(ctx context.Context, g *evloop.Group, c2s *clientSide, b2c *serverHandler, fromServer []byte) loopResult {
	cc, ctc, cpipe, ok1 := adoptable(ss.client)
	sc, stc, spipe, ok2 := adoptable(ss.server)
	if !ok1 || !ok2 || ctx.Err() != nil {
		return loopResult{fromServer: fromServer}
	}
	cfd, err := evloop.Adopt(cc)
	if err != nil {
		ss.s.log.Warn("event loop: client socket not adopted; relaying in goroutines", "session_id", ss.pid, "err", err)
		return loopResult{fromServer: fromServer}
	}
	sfd, err := evloop.Adopt(sc)
	if err != nil {
		ss.s.log.Warn("event loop: backend socket not adopted; relaying in goroutines", "session_id", ss.pid, "err", err)
		ss.client = ss.reattach(cfd, cc, ctc, cpipe, nil)
		ss.cs.SetConn(ss.client)
		ss.released = true
		return loopResult{fromServer: fromServer}
	}
	// From here the sessions' own Close calls (Serve, connect) find the
	// originals closed; the released connections are closed on return.
	lp := g.Pick()
	lp.Load.Add(1)
	defer lp.Load.Add(-1)
	r := &loopRelay{ss: ss, lp: lp, cfd: cfd, sfd: sfd, c2s: c2s, b2c: b2c, result: make(chan loopResult, 1),
		ctls: ctc, stls: stc, cpipe: cpipe, spipe: spipe}
	if cpipe != nil {
		cpipe.Detach(cfd, r.sinkClient)
	}
	if spipe != nil {
		spipe.Detach(sfd, r.sinkServer)
	}
	c2s.h.loop, b2c.lp = true, lp
	var res loopResult
	if !lp.Do(func() { r.start(fromServer) }) {
		res = loopResult{fromServer: fromServer}
	} else {
		select {
		case res = <-r.result:
		case <-ctx.Done():
			lp.Do(r.stop)
			res = <-r.result
		}
	}
	c2s.h.loop, b2c.lp = false, nil
	if res.done {
		return res
	}
	var cRecords, sRecords []byte // what end left out of res
	if ctc != nil {
		cRecords = r.toClient
	}
	if stc != nil {
		sRecords = r.toServer
	}
	ss.client = ss.reattach(cfd, cc, ctc, cpipe, cRecords)
	ss.server = ss.reattach(sfd, sc, stc, spipe, sRecords)
	ss.cs.SetConn(ss.client)
	ss.ss.SetConn(ss.server)
	ss.released = true
	return res
}

// reattach makes fd, a socket a loop took from sock, a connection of
// Go's poller again (release); over TLS, the same tls.Conn over its Pipe
// with the socket attached again, and records, what the loop made that
// the socket has not taken, to go first.
func (ss *session) reattach(fd int, sock evloop.Socket, tc *tls.Conn, pipe *evloop.Pipe, records []byte) net.Conn {
	if tc == nil {
		return ss.release(fd, sock.(net.Conn))
	}
	pipe.Attach(ss.release(fd, sock.(net.Conn)), records)
	return tc
}

// release makes fd a connection of Go's poller again and closes fd; on
// failure (out of descriptors) it returns old, closed, so that the
// session ends on its next read or write.
func (ss *session) release(fd int, old net.Conn) net.Conn {
	f := os.NewFile(uintptr(fd), "")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		ss.s.log.Warn("event loop: socket not handed back; session closed", "session_id", ss.pid, "err", err)
		return old
	}
	return fastconn.Wrap(c)
}

// start registers the sockets and relays what arrived with the login.
func (r *loopRelay) start(fromServer []byte) {
	defer r.recover()
	r.cEv, r.sEv = evloop.In, evloop.In
	if err := r.lp.Add(r.cfd, r.cEv, r); err != nil {
		r.end(loopResult{})
		return
	}
	if err := r.lp.Add(r.sfd, r.sEv, r); err != nil {
		r.lp.Remove(r.cfd)
		r.end(loopResult{})
		return
	}
	if len(fromServer) > 0 {
		r.fromServer(fromServer)
	}
	if !r.ended && r.ss.cs.R < r.ss.cs.W {
		r.fromClient()
	}
	// Records that came with the login's last ones may wait in a
	// tls.Conn, where no report of the loop would find them.
	if r.ctls != nil && !r.ended && len(r.toServer) == 0 {
		r.readClient()
	}
	if r.stls != nil && !r.ended && len(r.toClient) == 0 {
		r.readServer()
	}
}

// stop ends the relay for the proxy's shutdown: the goroutines' epilogue
// tells the client.
func (r *loopRelay) stop() {
	if r.ended {
		return
	}
	if r.closing {
		r.finish()
		return
	}
	err := context.Canceled
	if len(r.toClient) > 0 {
		r.b2c.cut = true // the client has part of a message
	}
	r.end(loopResult{c2s: err, s2c: err})
}

// recover turns a panic into the end of this session only, as
// session.recovered does for the goroutines.
func (r *loopRelay) recover() {
	if p := recover(); p != nil {
		r.ss.s.log.Error("relay failed on an internal error; session closed", "session_id", r.ss.pid, "panic", p, "stack", string(debug.Stack()))
		err := fmt.Errorf("internal error: %v", p)
		if !r.ended {
			r.end(loopResult{c2s: err, s2c: err})
		}
	}
}

// Ready handles the loop's report on one of the session's sockets. A
// side is read only while what it sent last has been taken by its peer:
// the bytes not yet taken are still in its read buffer (toServer,
// toClient), which the next read would overwrite.
func (r *loopRelay) Ready(fd int, ev uint32) {
	defer r.recover()
	if r.ended {
		return
	}
	bad := ev&(evloop.Hup|evloop.Err) != 0
	if fd == r.cfd {
		if len(r.toClient) > 0 && (ev&evloop.Out != 0 || bad) {
			r.flushClient()
		}
		switch {
		case r.ended || ev&evloop.In == 0 && !bad:
		case r.closing:
			r.finish() // gone: nothing more can reach it
		case len(r.toServer) == 0:
			r.readClient()
		case bad:
			// Gone while its bytes wait for the backend: reported at every
			// wait until handled, so the relay ends here.
			r.end(loopResult{c2s: sockErr(fd)})
		}
		return
	}
	if len(r.toServer) > 0 && (ev&evloop.Out != 0 || bad) {
		r.flushServer()
	}
	switch {
	case r.ended || ev&evloop.In == 0 && !bad:
	case len(r.toClient) == 0:
		r.readServer()
	case bad:
		r.s2cEnded(sockErr(fd), &r.b2c.lost)
	}
}

// sockErr is the error pending on socket fd, io.EOF when there is none
// (the peer closed both ways).
func sockErr(fd int) error {
	if e, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && e != 0 {
		return unix.Errno(e)
	}
	return io.EOF
}

// end hands the session back with res.
func (r *loopRelay) end(res loopResult) {
	r.ended = true
	r.lp.Remove(r.cfd)
	r.lp.Remove(r.sfd)
	res.toServer, res.toClient = r.toServer, r.toClient
	// A TLS side's are records: its Pipe writes them first (reattach).
	if r.stls != nil {
		res.toServer = nil
	}
	if r.ctls != nil {
		res.toClient = nil
	}
	r.result <- res
	r.lp.Yield() // the session's goroutine carries on
}

// finish ends the session on the loop: both sockets are closed, and the
// session has nothing more to do (relay returns at once).
func (r *loopRelay) finish() {
	r.ended = true
	if r.expire != nil {
		r.expire.Stop()
	}
	r.lp.Remove(r.cfd)
	r.lp.Remove(r.sfd)
	_ = unix.Close(r.sfd)
	_ = unix.Close(r.cfd)
	// The descriptors' numbers are free for others: the session's own
	// Close of a tls.Conn must write to neither.
	if r.cpipe != nil {
		r.cpipe.Drop()
	}
	if r.spipe != nil {
		r.spipe.Drop()
	}
	r.result <- loopResult{done: true}
	r.lp.Yield()
}

// s2cEnded ends the relay when the backend-to-client direction ends with
// err: expected after the client's Terminate; otherwise *why tells the
// goroutines' epilogue what happened (b2c.lost: the backend ended,
// b2c.cut: the client could not be written to).
func (r *loopRelay) s2cEnded(err error, why *bool) {
	if r.closing {
		r.finish()
		return
	}
	*why = true
	r.end(loopResult{s2c: err})
}

// interest asks the loop for the events the buffers call for: no reads
// from a side whose peer has not taken what it was sent.
func (r *loopRelay) interest() {
	c, s := uint32(evloop.In), uint32(evloop.In)
	if r.closing {
		c = 0
	}
	if len(r.toServer) > 0 {
		c, s = 0, s|evloop.Out
	}
	if len(r.toClient) > 0 {
		s &^= evloop.In
		c |= evloop.Out
	}
	if c != r.cEv {
		r.cEv = c
		_ = r.lp.Modify(r.cfd, c)
	}
	if s != r.sEv {
		r.sEv = s
		_ = r.lp.Modify(r.sfd, s)
	}
}

// readClient reads what the client sent and relays it.
func (r *loopRelay) readClient() {
	ss, cs := r.ss, r.ss.cs
	if cs.R == cs.W {
		cs.R, cs.W = 0, 0
	}
	if r.ctls != nil {
		r.readClientTLS()
		return
	}
	if err := cs.Room(max(r.need, 1)); err != nil {
		ss.clientErr = err
		r.end(loopResult{c2s: err})
		return
	}
	n, err := evloop.Read(r.cfd, cs.Buf[cs.W:])
	switch {
	case errors.Is(err, unix.EAGAIN):
		return
	case err != nil || n == 0:
		// The client went away between requests or during one: the
		// backend connection closes with it, as in the goroutines.
		r.finish()
		return
	}
	cs.W += n
	r.fromClient()
}

// readClientTLS is readClient for a TLS client: every record it completes
// goes into the stream (readTLS).
func (r *loopRelay) readClientTLS() {
	read, err := readTLS(r.ctls, r.cpipe, r.ss.cs, r.need)
	switch {
	case errors.Is(err, wire.ErrMemory):
		r.ss.clientErr = err
		r.end(loopResult{c2s: err})
		return
	case err != nil:
		r.finish() // gone, as readClient
		return
	}
	if read {
		r.fromClient()
	}
}

// fromClient relays the client's buffered bytes as clientToServer does,
// until they run out, a message must be whole first, the backend does not
// take more, or the session goes to the goroutines.
func (r *loopRelay) fromClient() {
	cs, sc := r.ss.cs, &r.c2s.sc
	r.c2s.h.now = 0
	r.need = 0
	for cs.R < cs.W {
		k, err := sc.Feed(cs.Buf[cs.R:cs.W])
		if k > 0 {
			sent, ok := r.send(cs.Buf[cs.R : cs.R+k])
			if !ok {
				return
			}
			cs.R += k
			if !sent {
				// The rest waits in the buffer, and the scanner's verdict
				// on what follows with it, until the backend has taken
				// the first part (flushServer).
				r.held = err
				return
			}
		}
		if !r.verdict(err) {
			return
		}
	}
}

// verdict acts on what the client scanner said after the bytes before it
// went to the backend; false: stop relaying the buffer.
func (r *loopRelay) verdict(err error) bool {
	ss, sc, h := r.ss, &r.c2s.sc, &r.c2s.h
	switch {
	case err == nil:
		return !r.terminated()
	case err == wire.ErrHold:
		r.need = sc.Need
	case err == wire.ErrTaken:
		taken := !h.handoff
		h.handoff, h.gated = false, false
		r.end(loopResult{taken: taken})
	default:
		ss.clientErr = err
		r.end(loopResult{c2s: err})
	}
	return false
}

// terminated stops reading the client once its Terminate went to the
// backend; what the backend still answers is relayed until it closes,
// which ends the session (s2cEnded) — as the goroutines do, never
// waiting on a hung backend longer than a connection attempt.
func (r *loopRelay) terminated() bool {
	if !r.ss.terminated.Load() {
		return false
	}
	r.closing = true
	r.interest()
	r.expire = time.AfterFunc(r.ss.s.connectTimeout, func() {
		r.lp.Do(func() {
			if !r.ended {
				r.finish()
			}
		})
	})
	return true
}

// send writes client bytes, a slice of the client's read buffer, to the
// backend. When the backend does not take them all, the rest stays where
// it is (toServer) and the client is not read until it has been taken:
// sent is false. ok is false when the relay ended.
func (r *loopRelay) send(p []byte) (sent, ok bool) {
	if r.stls != nil {
		if _, err := r.stls.Write(p); err != nil { // records for sinkServer
			r.end(loopResult{c2s: err})
			return false, false
		}
		if len(r.toServer) > 0 {
			r.interest()
			return false, true
		}
		return true, true
	}
	n, err := evloop.Write(r.sfd, p)
	if err != nil {
		r.end(loopResult{c2s: err})
		return false, false
	}
	if n < len(p) {
		r.toServer = p[n:]
		r.interest()
		return false, true
	}
	return true, true
}

// sinkServer writes a TLS backend's records, and keeps what the socket
// does not take now in toServer.
func (r *loopRelay) sinkServer(p []byte) error {
	var err error
	r.toServer, r.sOut, err = sink(r.sfd, p, r.toServer, r.sOut)
	return err
}

// sinkClient is sinkServer for a TLS client: toClient.
func (r *loopRelay) sinkClient(p []byte) error {
	var err error
	r.toClient, r.cOut, err = sink(r.cfd, p, r.toClient, r.cOut)
	return err
}

// sink writes records p to socket fd unless records wait already
// (waiting, the part of buf the socket has not taken), and keeps what it
// does not take now: the records that wait then, in buf.
func sink(fd int, p, waiting, buf []byte) ([]byte, []byte, error) {
	buf = append(buf[:0], waiting...) // what was taken off the front goes
	_, err := writeOrKeep(fd, &buf, p)
	if len(buf) == 0 {
		return nil, buf, err
	}
	return buf, buf, err
}

// flushServer writes what the backend did not take before, then relays
// the client bytes that came after it.
func (r *loopRelay) flushServer() {
	n, err := evloop.Write(r.sfd, r.toServer)
	if err != nil {
		r.end(loopResult{c2s: err})
		return
	}
	if r.toServer = r.toServer[n:]; len(r.toServer) > 0 {
		return
	}
	r.toServer = nil
	r.interest()
	held := r.held
	r.held = nil
	if r.verdict(held) && r.ss.cs.R < r.ss.cs.W {
		r.fromClient()
	}
}

// readServer reads what the backend sent and relays it.
func (r *loopRelay) readServer() {
	buf := r.ss.ss.Buf
	if r.stls != nil {
		r.readServerTLS(buf)
		return
	}
	n, err := evloop.Read(r.sfd, buf)
	switch {
	case errors.Is(err, unix.EAGAIN):
		return
	case err != nil:
		r.s2cEnded(err, &r.b2c.lost)
		return
	case n == 0:
		r.s2cEnded(io.EOF, &r.b2c.lost)
		return
	}
	r.fromServer(buf[:n])
}

// readServerTLS is readServer for a TLS backend: it relays record by
// record until the socket has nothing more within a buffer's worth, or the
// client does not take more. What crypto/tls then still holds decrypted,
// no report of the loop would find: flushClient reads again once the
// client has taken the rest.
func (r *loopRelay) readServerTLS(buf []byte) {
	r.spipe.Budget(len(buf))
	for !r.ended && len(r.toClient) == 0 {
		n, err := r.stls.Read(buf)
		if n > 0 {
			r.fromServer(buf[:n])
		}
		switch {
		case errors.Is(err, evloop.ErrWouldBlock):
			return
		case errors.Is(err, io.EOF) && n > 0:
			// The backend's close_notify came with its last records:
			// those first. crypto/tls gives io.EOF again at the next
			// read, which the socket at its end asks for (or flushClient).
			return
		case err != nil:
			if !r.ended {
				r.s2cEnded(err, &r.b2c.lost)
			}
			return
		}
	}
}

// fromServer relays backend bytes as serverToClient does. The proxy's own
// requests to the backend, whose answers serverToClient drops, are only
// made by the goroutines: a session never returns to a loop.
func (r *loopRelay) fromServer(p []byte) {
	h := r.b2c
	if _, err := h.sc.Feed(p); err != nil {
		r.s2cEnded(err, &r.b2c.lost)
		return
	}
	n, err := len(p), error(nil)
	if r.ctls != nil {
		_, err = r.ctls.Write(p) // records for sinkClient
	} else {
		n, err = evloop.Write(r.cfd, p)
	}
	if err != nil {
		r.s2cEnded(err, &r.b2c.cut)
		return
	}
	now := r.ss.s.clock.Now().UnixNano()
	if n < len(p) || len(r.toClient) > 0 {
		// The client holds the answer up from now: not the backend's
		// time. The rest stays in the read buffer (a TLS client's: its
		// records, in cOut), and the backend is not read until the client
		// has taken it.
		if r.ctls == nil {
			r.toClient = p[n:]
		}
		r.since = now
		r.ss.clientBlocked.Store(now)
		r.interest()
		return
	}
	r.wrote(now)
}

// flushClient writes what the client did not take before.
func (r *loopRelay) flushClient() {
	n, err := evloop.Write(r.cfd, r.toClient)
	if err != nil {
		r.s2cEnded(err, &r.b2c.cut)
		return
	}
	if r.toClient = r.toClient[n:]; len(r.toClient) > 0 {
		return
	}
	r.toClient = nil
	now := r.ss.s.clock.Now().UnixNano()
	r.b2c.blocked += max(0, time.Duration(now-r.since))
	r.ss.clientBlocked.Store(0)
	r.wrote(now)
	r.interest()
	if r.stls != nil {
		r.readServer() // what crypto/tls holds (readServerTLS)
	}
}

// wrote notes that the client has everything relayed so far, as
// serverHandler.write does.
func (r *loopRelay) wrote(now int64) {
	h := r.b2c
	r.ss.wrote.Store(now)
	if h.answered && h.sc.AtBoundary() {
		h.answered = false
		r.ss.local.backendIdle()
	}
	h.published()
}
