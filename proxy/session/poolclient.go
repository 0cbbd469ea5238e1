package session

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/heliosdb/heliosproxy/proxy/evloop"
	"github.com/heliosdb/heliosproxy/proxy/tenant"
	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// The pooled client side on the event loops. A pooled session's client
// socket, plain or TLS (looptls.go), is read by a loop (loopClient), like its
// server connections (loopConn): the loop reads the client's messages
// into the session's stream, and a request that needs no wait — queued on
// the attached connection, or on an idle one the loop can attach at once
// (an admission free, no wait for a primary, no stale connection to
// check) — goes from the client's read to the server's socket on the
// loop's thread, and its answers back the same way: a transaction crosses
// the proxy without waking a goroutine.
//
// Everything else is handed to the session's goroutine, which runs the
// same code as a goroutine-read session (pooledMessage): statements the
// proxy answers, Terminate, a batch being skipped, a role's limits, a
// COMMIT or ROLLBACK with no transaction, and any attachment that may
// wait. The loop stops reading the client meanwhile; the goroutine goes
// on with the messages already read, writes the batch to the server and
// gives the client back to the loop (resume). The session's end — the
// client gone, a protocol violation, the proxy's shutdown — is the
// goroutine's too: it takes the socket back from the loop (handBack) and
// ends the session as before.

// loopClient is a pooled session's client socket on a loop: ss.client
// from adoptClient to the session's end.
type loopClient struct {
	ss     *session
	lp     *evloop.Loop
	fd     int
	local  net.Addr
	remote net.Addr
	// tls is the client's TLS over pipe, when it has TLS: nil for a plain
	// socket.
	tls  *tls.Conn
	pipe *evloop.Pipe
	// work hands a message, or the end of the client side, to the
	// session's goroutine: one message at a time, and one end.
	work chan handoff
	// grant is lc.granted and unholdLater runs unhold on the loop; made
	// once: a closure per message or batch would be an allocation each.
	grant       func(*routed)
	unholdLater func()

	// mu guards these, and the descriptor against its close. A TLS
	// client's reads hold it (looptls.go).
	mu      sync.Mutex
	drained sync.Cond // pending emptied, a write failed, or closed
	pending []byte    // written to the client, not yet taken by its socket
	werr    error     // a write failed: the client is gone
	closed  bool
	conn    net.Conn // the socket back in Go's poller (handBack), or its TLS; nil on the loop

	// The loop's thread only.
	ev     uint32 // events asked for
	need   int    // bytes the stream must hold before the next message is whole
	handed bool   // the session's goroutine has the client side: not read
	held   bool   // the attached connection has not taken the last batch: not read
	// waiting is the request that waits for a connection of a full pool:
	// the client is not read until the pool answers (carryAttach).
	waiting *handoff
	gone    error // the socket failed while not read
	ended   bool  // off the loop

	back   bool      // handBack ran; the session's goroutine only
	unload sync.Once // the loop's Load given back
}

// handoff is what the loop gives the session's goroutine.
type handoff struct {
	typ   byte
	msg   []byte // in the stream's buffer, which the loop does not touch meanwhile
	local bool   // the proxy answers it (local.answers said so)
	// route: the loop began attaching a connection for it, and the
	// goroutine carries on from there (attachRouted).
	route *routed
	// userAdmitted: the loop admitted it by its role's limits; refused,
	// the answer the loop had for it instead.
	userAdmitted bool
	refused      *Error
	err          error // the client side ended
}

// adoptClient moves a client's socket to a loop; nil when it stays with
// Go's poller (no loops, adoption failed). The loop writes to it at once,
// and reads it once pooledOnLoop starts the relay.
func (ss *session) adoptClient() *loopClient {
	g := ss.s.Loops()
	if g == nil {
		return nil
	}
	sock, tc, pipe, ok := adoptable(ss.client)
	if !ok {
		return nil
	}
	local, remote := ss.client.LocalAddr(), ss.client.RemoteAddr()
	fd, err := evloop.Adopt(sock)
	if err != nil {
		ss.s.log.Warn("event loop: client socket not adopted; read by a goroutine", "session_id", ss.pid, "err", err)
		return nil
	}
	// Not read (handed) until the relay starts: pooledOnLoop resumes it.
	lc := &loopClient{ss: ss, lp: g.Pick(), fd: fd, local: local, remote: remote, tls: tc, pipe: pipe, work: make(chan handoff, 2), handed: true}
	lc.drained.L = &lc.mu
	if pipe != nil {
		pipe.Detach(fd, lc.put)
	}
	lc.grant = lc.granted
	lc.unholdLater = func() { lc.lp.Do(lc.unhold) }
	lc.lp.Load.Add(1)
	ss.client = lc
	ss.cs.SetConn(lc)
	ss.released = true // Serve closes lc
	return lc
}

// pooledOnLoop is the session's goroutine while a loop reads its client:
// it handles what the loop hands over, until the client side ends.
func (ss *session) pooledOnLoop(lc *loopClient) error {
	defer lc.finish()
	if !lc.lp.Do(lc.start) {
		return net.ErrClosed
	}
	for {
		var h handoff
		select {
		case h = <-lc.work:
		case <-ss.pl.ctx.Done():
			return ss.pl.ctx.Err()
		}
		if h.err != nil {
			if errors.Is(h.err, wire.ErrProtocol) || errors.Is(h.err, wire.ErrMemory) {
				ss.clientErr = h.err
			}
			return h.err
		}
		if err := ss.handOver(h); err != nil {
			return err
		}
		for ss.cs.Complete() {
			typ, msg, err := ss.cs.Message() // whole: reads nothing
			if err != nil {
				ss.clientErr = err // too long
				return err
			}
			if err := ss.pooledMessage(typ, msg); err != nil {
				return err
			}
		}
		if err := ss.flushServer(); err != nil {
			return err
		}
		if !lc.lp.Do(lc.resume) {
			return net.ErrClosed
		}
	}
}

// handOver handles a message the loop handed over, as pooledMessage
// would have after the loop's decisions.
func (ss *session) handOver(h handoff) error {
	switch {
	case h.typ == 'X':
		ss.terminated.Store(true)
		return errTerminated
	case h.local:
		return ss.localMessage(h.msg)
	case h.refused != nil:
		return ss.answerError(h.typ, h.refused)
	case h.route != nil:
		r := h.route
		return ss.answerAttach(h.typ, ss.attachRouted(nil, h.typ, h.msg, r.readOnly, r.split, r.tried, r))
	}
	return ss.remoteAdmitted(h.typ, h.msg, h.userAdmitted)
}

// onLoop relays a client message on the loop when that needs no wait,
// and otherwise reports what the session's goroutine is to do with it.
func (ss *session) onLoop(typ byte, msg []byte, await func(*routed)) (handoff, bool) {
	h := handoff{typ: typ, msg: msg}
	switch {
	case typ == 'X':
		return h, false
	case ss.local.answers(typ, msg[5:]):
		h.local = true
		return h, false
	}
	return h, ss.remoteNow(&h, await)
}

// remoteNow is remote on a loop: it queues h's message on the attached
// connection, or on one it attaches without waiting. Otherwise it reports
// false, having changed nothing but what h says for the session's
// goroutine: the request admitted by its role's limits, or refused by
// them, and how far attaching got (nil route: it starts over), or for
// await to get when h.route.awaiting (the loop waits for a full pool).
func (ss *session) remoteNow(h *handoff, await func(*routed)) bool {
	pl, typ, msg := ss.pl, h.typ, h.msg
	if pl.skip {
		return false
	}
	var txEnd bool // endOutsideTransaction's to answer when nothing is attached
	if typ == 'Q' {
		_, txEnd = transactionEnd(msg[5:])
	}
	readOnly, split, tried := ss.routing(typ, msg)
	pl.mu.Lock()
	if pl.sc == nil && (pl.lost != nil || txEnd && byte(ss.txStatus.Load()) == 'I') {
		pl.mu.Unlock()
		return false
	}
	if u := ss.user(); u != nil {
		// Its role's limits, without pl.mu (startsRequest takes it).
		pl.mu.Unlock()
		if !ss.admitUserNow(h, u) {
			return false
		}
		pl.mu.Lock()
	}
	sc := pl.sc
	if sc == nil {
		pl.mu.Unlock()
		pl.out = pl.out[:0] // as attachPooled: nothing is attached
		// attachRouted's *wouldWait, unwrapped: a type assertion (errors.As
		// would put w on the heap for every attachment).
		if w, ok := ss.attachRouted(nil, typ, msg, readOnly, split, tried, &routed{now: true, await: await}).(*wouldWait); ok {
			h.route = &w.routed
			return false
		}
		return true // attachRouted on a loop fails only with a wouldWait
	}
	if _, ok := sc.Net.(*loopConn); !ok || ss.carryOn(sc, typ, split) != nextKeep {
		pl.mu.Unlock()
		return false
	}
	ss.queueRemote(sc, typ, msg)
	pl.mu.Unlock()
	return true
}

// admitUserNow is admitUser on a loop: a request that starts now is
// admitted by its role's limits if that needs no wait (h.userAdmitted),
// or refused (h.refused, for the session's goroutine to answer); false
// when the goroutine must answer or wait.
func (ss *session) admitUserNow(h *handoff, u *tenant.Entry) bool {
	if !ss.idle() || !ss.startsRequest(h.typ) {
		return true
	}
	switch err := u.TryAdmit(ss.s.clock.Now()); {
	case errors.Is(err, tenant.ErrWouldWait):
		return false
	case err != nil:
		h.refused = userRefusal(err)
		return false
	}
	h.userAdmitted = true
	return true
}

// loopUsable reports whether a loop may attach sc, an idle connection:
// read by a loop too (another's writes may wait), and not stale
// (its check waits for the backend).
func (ss *session) loopUsable(sc *serverConn) bool {
	_, ok := sc.Net.(*loopConn)
	return ok && !ss.stale(sc)
}

// start registers the socket with the loop and starts reading it (one
// task for both: a connection per transaction pays each).
func (lc *loopClient) start() {
	defer lc.recover()
	if lc.ended {
		return // closed before the relay started
	}
	lc.handed = false
	lc.ev = lc.wanted()
	if err := lc.lp.Add(lc.fd, lc.ev, lc); err != nil {
		lc.ended, lc.handed = true, true
		lc.work <- handoff{err: err}
		return
	}
	if lc.tls != nil {
		// What came with the login's last records may wait in the
		// tls.Conn, where no report of the loop would find it.
		if _, err := lc.readTLS(); err != nil {
			lc.end(err)
			return
		}
	}
	lc.carryOn()
}

// recover turns a panic on the loop into the end of this session only.
func (lc *loopClient) recover() {
	if p := recover(); p != nil {
		lc.ss.s.log.Error("relay failed on an internal error; session closed", "session_id", lc.ss.pid, "panic", p, "stack", string(debug.Stack()))
		lc.end(fmt.Errorf("internal error: %v", p))
	}
}

// Ready handles the loop's report on the socket.
func (lc *loopClient) Ready(_ int, ev uint32) {
	defer lc.recover()
	if lc.ended {
		return
	}
	if ev&evloop.Out != 0 {
		lc.flushPending()
	}
	bad := ev&(evloop.Hup|evloop.Err) != 0
	switch {
	case lc.ended:
	case lc.handed || lc.waiting != nil:
		if bad {
			// Reported at every wait until the socket is read: noted
			// and watched no more, for resume to end the client side.
			lc.gone = sockErr(lc.fd)
			lc.ended = true
			lc.lp.Remove(lc.fd)
		}
	case lc.held:
		if bad {
			lc.end(sockErr(lc.fd))
		}
	case ev&evloop.In != 0 || bad:
		lc.read()
	}
}

// read reads what the client sent and handles the whole messages.
func (lc *loopClient) read() {
	st := lc.ss.cs
	var read bool
	var err error
	if lc.tls != nil {
		read, err = lc.readTLS()
	} else {
		read, err = readStream(lc.fd, st, lc.need)
	}
	switch {
	case errors.Is(err, io.EOF) && st.W > st.R:
		lc.end(io.ErrUnexpectedEOF)
		return
	case err != nil:
		lc.end(err)
		return
	}
	if read && st.W-st.R >= lc.need {
		lc.process()
	}
}

// readTLS is readStream for a TLS client, under mu.
func (lc *loopClient) readTLS() (bool, error) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return readTLS(lc.tls, lc.pipe, lc.ss.cs, lc.need)
}

// process relays the whole messages in the stream, up to one the
// session's goroutine must handle, and writes what they queued for the
// server.
func (lc *loopClient) process() {
	ss, st := lc.ss, lc.ss.cs
	lc.need = 0
	for st.W-st.R >= 5 {
		n := int(int32(binary.BigEndian.Uint32(st.Buf[st.R+1:])))
		if n < 4 || n-4 > st.MaxBody {
			_, _, err := st.Message() // the protocol violation; reads nothing
			lc.end(err)
			return
		}
		if st.W-st.R < 1+n {
			lc.need = 1 + n
			break
		}
		typ, msg, _ := st.Message()
		h, ok := ss.onLoop(typ, msg, lc.grant)
		switch {
		case ok:
			continue
		case h.route != nil && h.route.awaiting:
			// Not read until the pool answers (carryAttach).
			waiting := h // on the heap only when it waits
			lc.waiting = &waiting
		default:
			lc.handed = true
			lc.work <- h
			lc.lp.Yield()
		}
		lc.interest()
		return
	}
	if lc.need == 0 && st.W > st.R {
		lc.need = 5
	}
	if lc.need > 0 {
		// Room for what comes next now, as Stream.Fill makes it before
		// it reads: a full buffer grows (or the budget refuses) at once.
		if err := st.Room(lc.need); err != nil {
			lc.end(err)
			return
		}
	}
	lc.flushServer()
}

// flushServer writes the batch queued for the attached connection; the
// client is not read again until the connection's socket took it all, as
// a blocking write would have it (flushServer's waitRoom).
func (lc *loopClient) flushServer() {
	sc, out := lc.ss.takeOut()
	if sc == nil {
		return
	}
	c := sc.Net.(*loopConn) // onLoop queues only on those
	if _, err := c.Write(out); err != nil {
		_ = c.Close() // its reader tells the client
		return
	}
	if c.whenDrained(lc.unholdLater) {
		lc.held = true
		lc.interest()
	}
}

// granted gets the pool's answer to the loop's wait for a connection,
// from whichever goroutine gives it.
func (lc *loopClient) granted(r *routed) {
	if !lc.lp.Do(func() { lc.carryAttach(r) }) {
		r.giveBack() // the proxy is shutting down
	}
}

// carryAttach carries on attaching a connection for the request that
// waited for the pool, now that the pool answered: on the loop with the
// connection it got, or in the session's goroutine when that is what the
// answer needs (a connection to open, an error to answer, a stale connection
// or one not on a loop).
func (lc *loopClient) carryAttach(r *routed) {
	defer lc.recover()
	h := lc.waiting
	lc.waiting = nil
	if h == nil || lc.ended {
		r.giveBack()
		if lc.gone != nil {
			lc.carryOn()
		}
		return
	}
	ss := lc.ss
	r.now, r.awaiting = true, false
	if w, ok := ss.attachRouted(nil, h.typ, h.msg, r.readOnly, r.split, r.tried, r).(*wouldWait); ok {
		if w.awaiting {
			lc.waiting = h
			return
		}
		h.route = &w.routed
		lc.handed = true
		lc.work <- *h
		lc.lp.Yield()
		return
	}
	// The rest of its batch, and the batch to the server.
	lc.interest()
	lc.process()
}

// unhold reads the client again: its last batch was taken.
func (lc *loopClient) unhold() {
	defer lc.recover()
	if !lc.held {
		return
	}
	lc.held = false
	lc.carryOn()
}

// resume reads the client again once the session's goroutine has handled
// what the loop handed over.
func (lc *loopClient) resume() {
	defer lc.recover()
	lc.handed = false
	lc.carryOn()
}

// carryOn reads the client again after a pause: what is buffered first.
func (lc *loopClient) carryOn() {
	switch {
	case lc.gone != nil:
		lc.handed = true
		lc.work <- handoff{err: lc.gone}
		lc.gone = nil
		lc.lp.Yield()
		return
	case lc.ended || lc.handed || lc.held || lc.waiting != nil:
		return
	}
	lc.interest()
	if st := lc.ss.cs; st.W-st.R >= max(lc.need, 1) {
		lc.process()
	}
}

// end ends the client side on the loop: the session's goroutine ends
// the session.
func (lc *loopClient) end(err error) {
	if lc.ended {
		return
	}
	lc.ended, lc.handed = true, true
	lc.lp.Remove(lc.fd)
	lc.work <- handoff{err: err}
	lc.lp.Yield()
}

// interest asks the loop for the events the client's state calls for.
func (lc *loopClient) interest() {
	if lc.ended {
		return
	}
	if ev := lc.wanted(); ev != lc.ev {
		lc.ev = ev
		_ = lc.lp.Modify(lc.fd, ev)
	}
}

// wanted is the events the client's state calls for.
func (lc *loopClient) wanted() uint32 {
	var ev uint32
	if !lc.handed && !lc.held && lc.waiting == nil {
		ev = evloop.In
	}
	lc.mu.Lock()
	if len(lc.pending) > 0 {
		ev |= evloop.Out
	}
	lc.mu.Unlock()
	return ev
}

// flushPending writes what the socket did not take before.
func (lc *loopClient) flushPending() {
	lc.mu.Lock()
	if lc.conn == nil && !lc.closed {
		n, err := evloop.Write(lc.fd, lc.pending)
		switch {
		case err != nil:
			lc.werr, lc.pending = err, nil
			lc.drained.Broadcast()
		default:
			lc.pending = lc.pending[:copy(lc.pending, lc.pending[n:])]
			if len(lc.pending) == 0 {
				lc.drained.Broadcast()
			}
		}
	}
	lc.mu.Unlock()
	lc.interest()
}

// TryWrite writes what the socket takes of p now, never waiting: nothing
// while earlier bytes wait for it.
func (lc *loopClient) TryWrite(p []byte) (int, error) {
	lc.mu.Lock()
	if c := lc.conn; c != nil {
		lc.mu.Unlock()
		return tryWrite(c, p)
	}
	defer lc.mu.Unlock()
	switch {
	case lc.closed:
		return 0, net.ErrClosed
	case lc.werr != nil:
		return 0, lc.werr
	case len(lc.pending) > 0:
		return 0, nil
	case lc.tls != nil:
		// p's records are all made now: what the socket does not take
		// waits in pending, and the next TryWrite takes nothing.
		return lc.tls.Write(p)
	}
	n, err := evloop.Write(lc.fd, p)
	if err != nil {
		lc.werr = err
	}
	return n, err
}

// Write writes p to the client, waiting until its socket took it (what it
// does not take at once, the loop writes when it has room).
func (lc *loopClient) Write(p []byte) (int, error) {
	lc.mu.Lock()
	if c := lc.conn; c != nil {
		lc.mu.Unlock()
		return c.Write(p)
	}
	defer lc.mu.Unlock()
	var err error
	if lc.tls != nil {
		_, err = lc.tls.Write(p) // records for put
	} else {
		err = lc.put(p)
	}
	if err != nil {
		return 0, err
	}
	for len(lc.pending) > 0 && lc.writable() == nil {
		lc.drained.Wait()
	}
	if err := lc.writable(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// put writes p to the socket, and keeps what it does not take now for the
// loop; lc.mu is held. A TLS client's Pipe writes its records with it.
func (lc *loopClient) put(p []byte) error {
	if err := lc.writable(); err != nil {
		return err
	}
	waits, err := writeOrKeep(lc.fd, &lc.pending, p)
	if err != nil {
		lc.werr = err
	}
	if waits {
		lc.lp.Do(lc.interest)
	}
	return err
}

// writable is the error a write meets now; lc.mu is held.
func (lc *loopClient) writable() error {
	switch {
	case lc.closed:
		return net.ErrClosed
	case lc.werr != nil:
		return lc.werr
	}
	return nil
}

// finish ends the relay: the socket goes back to Go's poller when the
// session's end writes to the client (a protocol violation, the memory
// budget: 08P01 or 53200 and a linger; the proxy's shutdown: 57P01); a
// client that left (Terminate, closed, reset) is closed on the loop,
// without the cost of a new net.Conn (a connection per transaction pays
// it at every end).
func (lc *loopClient) finish() {
	if lc.ss.clientErr != nil || lc.ss.pl.ctx.Err() != nil {
		lc.handBack()
		return
	}
	_ = lc.Close()
	lc.unload.Do(func() { lc.lp.Load.Add(-1) })
}

// handBack takes the socket off the loop when the session's relay ends,
// as a connection of Go's poller again (the session's end writes to it,
// lingers on it and closes it), and writes to it what the loop had not.
func (lc *loopClient) handBack() {
	if lc == nil || lc.back {
		return
	}
	lc.back = true
	done := make(chan struct{})
	off := func() {
		if !lc.ended {
			lc.ended, lc.handed = true, true
			lc.lp.Remove(lc.fd)
		}
		close(done)
	}
	if lc.lp.Do(off) {
		<-done
	}
	lc.unload.Do(func() { lc.lp.Load.Add(-1) })
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.closed {
		return
	}
	conn := lc.ss.release(lc.fd, nil)
	lc.fd = -1
	if conn == nil {
		lc.closed = true
		lc.drained.Broadcast()
		return
	}
	if len(lc.pending) > 0 && lc.werr == nil {
		_ = conn.SetWriteDeadline(lc.ss.s.clock.Now().Add(time.Second))
		_, _ = conn.Write(lc.pending)
		_ = conn.SetWriteDeadline(time.Time{})
	}
	lc.pending = nil
	lc.conn = conn
	if lc.tls != nil {
		lc.pipe.Attach(conn, nil)
		lc.conn = lc.tls
	}
	lc.drained.Broadcast()
}

// Close closes the client: on the loop, by the loop (the session's
// goroutine then ends the session).
func (lc *loopClient) Close() error {
	lc.mu.Lock()
	if c := lc.conn; c != nil {
		lc.mu.Unlock()
		return c.Close()
	}
	if lc.closed {
		lc.mu.Unlock()
		return nil
	}
	lc.closed = true
	lc.drained.Broadcast()
	lc.mu.Unlock()
	if !lc.lp.Do(lc.closeNow) {
		lc.closeFd()
	}
	return nil
}

// closeNow closes the socket on the loop's thread.
func (lc *loopClient) closeNow() {
	if !lc.ended {
		lc.end(net.ErrClosed)
	}
	lc.closeFd()
}

// closeFd closes the descriptor unless handBack has taken it.
func (lc *loopClient) closeFd() {
	lc.mu.Lock()
	if lc.fd >= 0 && lc.conn == nil {
		_ = unix.Close(lc.fd)
		lc.fd = -1
	}
	lc.mu.Unlock()
}

// Read reads from the socket once it is back with Go's poller (a
// session's end lingers on it); on the loop, the loop reads.
func (lc *loopClient) Read(p []byte) (int, error) {
	lc.mu.Lock()
	c := lc.conn
	lc.mu.Unlock()
	if c == nil {
		return 0, errors.New("read by an event loop")
	}
	return c.Read(p)
}

// CloseWrite shuts the socket's sending side (linger).
func (lc *loopClient) CloseWrite() error {
	lc.mu.Lock()
	c := lc.conn
	lc.mu.Unlock()
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return net.ErrClosed
}

func (lc *loopClient) deadline(set func(net.Conn) error) error {
	lc.mu.Lock()
	c := lc.conn
	lc.mu.Unlock()
	if c == nil {
		return nil // on the loop: the session's context ends the relay
	}
	return set(c)
}

func (lc *loopClient) SetDeadline(t time.Time) error {
	return lc.deadline(func(c net.Conn) error { return c.SetDeadline(t) })
}

func (lc *loopClient) SetReadDeadline(t time.Time) error {
	return lc.deadline(func(c net.Conn) error { return c.SetReadDeadline(t) })
}

func (lc *loopClient) SetWriteDeadline(t time.Time) error {
	return lc.deadline(func(c net.Conn) error { return c.SetWriteDeadline(t) })
}

func (lc *loopClient) LocalAddr() net.Addr  { return lc.local }
func (lc *loopClient) RemoteAddr() net.Addr { return lc.remote }
