package session

import (
	"bytes"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/proxy/pattern"
	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// poolReader relays what a pooled server connection sends to the session
// attached to it. It drops the answers to the proxy's own requests, notes
// session parameters and prepared statements, records each request's
// outcome, and gives the connection back to its pool at the end of a
// transaction in transaction mode.
type poolReader struct {
	sc   *serverConn
	scan wire.Scanner
	out  []byte // for the client, written at the end of each read or before a hand-over
	code string // SQLSTATE of the first error of the current request
	// raised: that error is the client's own doing (wire.OwnError),
	// whatever SQLSTATE it names.
	raised bool
	held   time.Duration // the client's time writing the current request's answers
	fatal  *Error        // a FATAL error: the backend is ending the connection
	// flushes counts the writes of answers to clients, so that a session
	// can tell whether any answer to its request reached it (lostBegin).
	flushes atomic.Uint64
	lc      *loopConn // the loop reading the connection; nil: readLoop
	// resets: the request under way (a client's) ran RESET or DISCARD
	// ALL (resetsAll); reported names the parameters the server reported
	// in it. PostgreSQL reports them just before ReadyForQuery, where
	// restoreDefaults looks at them.
	resets, resetsAll bool
	reported          []string
}

// clientFlushSize bounds what the reader gathers before writing it.
const clientFlushSize = 64 << 10

func (h *poolReader) Want(typ byte, n int) int {
	switch {
	case n > holdLimit:
		return 0
	case h.takes(typ):
		return wire.WantWhole
	case typ == 'C':
		return 16
	}
	return 0
}

func (h *poolReader) Message(typ byte, head []byte) bool {
	if h.takes(typ) {
		return true
	}
	if typ == 'C' {
		h.commandTag(head)
	}
	return false
}

// takes reports whether a message is taken out of the stream whole, for
// taken: every answer to the proxy's own query, and the types the reader
// must see or may drop.
func (h *poolReader) takes(typ byte) bool {
	switch typ {
	case '1', '3', 'Z', 'S', 'E', 'G', 'W':
		return true
	}
	return h.sc.ours.Load() > 0
}

// commandTag notes statements that change what the server holds; the
// owner's lock need not be held by the caller.
func (h *poolReader) commandTag(tag []byte) {
	lasting := isSetTag(tag) || bytes.Equal(tag, listenTag) // lasts on the connection: resetSession undoes it
	if len(tag) == 0 || tag[0] != 'D' && tag[0] != 'R' && !lasting {
		return // none of noteTag's: the owner's lock is not taken
	}
	ss := h.sc.owner.Load()
	if ss == nil || lasting && !ss.pl.user.TxMode {
		return // in session mode the session's until DISCARD ALL
	}
	ss.pl.mu.Lock()
	if lasting {
		h.sc.reset = true
	} else {
		h.noteTag(tag)
		h.resets = h.resets || bytes.HasPrefix(tag, resetTag)
		h.resetsAll = h.resetsAll || bytes.HasPrefix(tag, discardAllTag)
		if ss.pl.locks && bytes.HasPrefix(tag, discardAllTag) {
			ss.pl.lockCheck = true // it released the session's advisory locks
		}
	}
	ss.pl.mu.Unlock()
}

// restoreDefaults gives the session parameters that a client's RESET or
// DISCARD ALL reset the values the session began with, as PostgreSQL
// does: the client's startup parameter, else the server's default. The
// server reset them to what the proxy's login gave the connection (it
// SETs the client's startup parameters), and reported that: a RESET ALL
// or DISCARD ALL (Npgsql's, when it pools a connection) left the session
// with the server's TimeZone and an empty application_name. A parameter
// the request reported (reported) with the connection's own reset value
// is taken as reset; after DISCARD ALL, every carried one is. The
// connection gets them again before the session's next request
// (pooled.resync, syncParams), and the client their ParameterStatus. At
// the request's ReadyForQuery; the owner's pl.mu is held.
func (h *poolReader) restoreDefaults(ss *session) {
	pl, sc := ss.pl, h.sc
	resets, all, reported := h.resets, h.resetsAll, h.reported
	h.resets, h.resetsAll, h.reported = false, false, h.reported[:0]
	if !resets && !all || pl.wanted == nil {
		return
	}
	changed := false
	restore := func(name string) {
		cur, want := pl.wanted[name]
		if !want {
			return
		}
		v, ok := startupValue(pl.startup, name)
		if !ok {
			v, ok = sc.defaults[name]
		}
		if ok && cur != v {
			pl.wanted[name] = v
			changed = true
		}
	}
	if all {
		for name := range pl.wanted {
			restore(name)
		}
	} else {
		for _, name := range reported {
			if def, ok := sc.defaults[name]; ok && pl.wanted[name] == def {
				restore(name)
			}
		}
	}
	if changed {
		pl.wantedKey = paramsKey(pl.wanted)
		sc.synced = ""
		pl.resync = true
	}
}

// startupValue is a startup parameter's value; parameter names are
// case-insensitive (libpq sends PGTZ as "timezone", the server reports
// "TimeZone").
func startupValue(startup map[string]string, name string) (string, bool) {
	if v, ok := startup[name]; ok {
		return v, true
	}
	for k, v := range startup {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

var resetTag = []byte("RESET\x00")

// listenTag is LISTEN's CommandComplete tag: in transaction mode a LISTEN
// lasts its transaction too (resetSession's UNLISTEN *), so that the
// connection's next client is not sent its notifications.
var listenTag = []byte("LISTEN\x00")

// isSetTag reports whether a CommandComplete's tag is SET's (SET, SET
// LOCAL, SET SESSION; not SELECT's).
func isSetTag(tag []byte) bool {
	return len(tag) >= 4 && tag[0] == 'S' && tag[1] == 'E' && tag[2] == 'T' && tag[3] == 0
}

var discardAllTag = []byte("DISCARD ALL\x00")

// noteTag: DISCARD ALL and DEALLOCATE ALL drop every prepared statement;
// DISCARD ALL and RESET also undo the parameters the proxy set.
func (h *poolReader) noteTag(tag []byte) {
	sc := h.sc
	switch {
	case bytes.HasPrefix(tag, discardAllTag):
		clear(sc.stmts)
		sc.forgetCustom()
	case bytes.HasPrefix(tag, []byte("DEALLOCATE ALL\x00")):
		clear(sc.stmts)
	case bytes.HasPrefix(tag, resetTag):
		sc.forgetCustom()
	}
}

// readLoop reads the connection until it closes: the reader goroutine
// of a connection that no event loop reads (loopConn).
func (sc *serverConn) readLoop() {
	h, st := &sc.r, sc.Stream
	for {
		ss, need, err := sc.consume()
		switch {
		case errors.Is(err, errSpokeIdle):
			sc.MarkDead()
			sc.p.Discard(sc)
			_ = sc.Net.Close()
			return
		case err != nil:
			_ = sc.Net.Close()
			sc.readFailed(err)
			return
		case need > 0:
			if err := st.Fill(need); err != nil {
				sc.readFailed(err)
				return
			}
			continue
		}
		h.flush(ss)
		st.R, st.W = 0, 0
		n, err := sc.Net.Read(st.Buf)
		if n == 0 && err != nil {
			sc.readFailed(err)
			return
		}
		st.W = n
	}
}

// consume runs the reader over the connection's unread bytes until they
// are consumed (need 0) or a message must be whole first (need: the bytes
// it takes from the read position); ss is the session the answers
// gathered in h.out are for. errSpokeIdle: the connection is idle in its
// pool and said something, which only a connection going away does; it
// is no session's any more.
func (sc *serverConn) consume() (ss *session, need int, err error) {
	h, st := &sc.r, sc.Stream
	for st.R < st.W {
		ss = sc.owner.Load()
		if ss == nil && sc.owner.CompareAndSwap(nil, tombstone) {
			return nil, 0, errSpokeIdle
		}
		if ss == nil {
			ss = sc.owner.Load() // attached meanwhile: the data is its
		}
		k, err := h.scan.Feed(st.Buf[st.R:st.W])
		h.out = append(h.out, st.Buf[st.R:st.R+k]...)
		st.R += k
		switch {
		case err == nil:
			st.R = st.W
		case err == wire.ErrHold:
			return ss, h.scan.Need, nil
		case err == wire.ErrTaken:
			msg := st.Buf[st.R : st.R+h.scan.Taken]
			st.R += h.scan.Taken
			h.taken(ss, msg)
		default:
			return ss, 0, err
		}
		if len(h.out) >= clientFlushSize {
			h.flush(ss)
		}
	}
	return ss, 0, nil
}

// flush writes what was gathered to the client of ss, the session it was
// read for, even if ss was detached meanwhile: it awaits these answers
// (its ReadyForQuery among them). A client that cannot be written to is
// gone: the connection, dirty now, is closed and the session's end gives
// it back. On a loop the write does not wait (session.toClient).
func (h *poolReader) flush(ss *session) { h.flushAt(ss, time.Time{}) }

// flushAt is flush of answers read at now (zero: the clock is read when
// the client has them).
func (h *poolReader) flushAt(ss *session, now time.Time) {
	if len(h.out) == 0 {
		return
	}
	if ss != nil && ss != tombstone {
		h.flushes.Add(1)
	}
	switch {
	case ss == nil || ss == tombstone:
	case h.lc != nil:
		ss.toClient(h.out, h.lc, now)
	default:
		d, err := ss.writeClientTimed(h.out)
		h.held += d
		if err != nil {
			_ = ss.client.Close()
		}
	}
	h.out = h.out[:0]
}

// taken handles a whole message the scanner took out of the stream.
func (h *poolReader) taken(ss *session, msg []byte) {
	sc, pl := h.sc, ss.pl
	typ, body := msg[0], msg[5:]
	pl.mu.Lock()
	if sc.ours.Load() > 0 {
		h.ours(ss, typ, body)
		pl.mu.Unlock()
		return
	}
	switch typ {
	case '1', '3':
		if !sc.q.answer(typ) {
			h.out = append(h.out, msg...)
		}
	case 'S':
		name, _ := h.parameter(ss, body)
		if h.resets {
			h.reported = append(h.reported, string(name))
		}
		h.out = append(h.out, msg...)
	case 'G', 'W':
		ss.copyAwaits()
		h.out = append(h.out, msg...)
	case 'E':
		sev, code := wire.ErrorFields(body)
		if e := sc.q.front(); e != nil && e.kind == kAbortOurs {
			// The proxy failed the batch on purpose (pooledMixed).
			msg = e.answer
		} else if h.code == "" {
			h.code = code
			h.raised = wire.OwnError(code, body, true) || code == "57014" && wire.CancelledByUser(body)
		}
		sc.q.failed(func(id uint64) { delete(sc.stmts, id) })
		if sev == "FATAL" || sev == "PANIC" {
			// The connection ends; the client keeps its session and is
			// told when the loss is noticed.
			f := wire.ErrorFieldMap(body)
			h.fatal = &Error{Severity: "ERROR", Code: f['C'], Message: f['M'], Detail: "The backend " + sc.b.Config.Name + " ended the server connection; the transaction was rolled back."}
			break
		}
		h.out = append(h.out, msg...)
	case 'Z':
		h.restoreDefaults(ss)
		// One reading of the clock for the request's end, its
		// connection's return and the client's write.
		r := h.readyLocked(ss, msg, ss.s.clock.Now())
		pl.mu.Unlock()
		h.ready(ss, msg, r)
		return
	}
	pl.mu.Unlock()
}

// ours handles an answer to the proxy's own query; pl.mu is held.
func (h *poolReader) ours(ss *session, typ byte, body []byte) {
	sc := h.sc
	e := sc.q.front()
	switch typ {
	case 'E':
		if e != nil && e.err == "" {
			f := wire.ErrorFieldMap(body)
			e.err = ownError(f['C'], f['M'])
		}
	case 'S':
		if e != nil && e.reset {
			h.serverParameter(body) // the connection's, not the session's
			break
		}
		h.parameter(ss, body)
	case 'D':
		if e != nil && e.locks {
			e.held = true
		}
	case 'C':
		if e == nil || !e.reset {
			// syncParams accounted for its resetSession when it queued
			// it, and for the SETs after it, which this would forget.
			h.noteTag(body)
		}
	case 'Z':
		e, _ := sc.q.synced()
		sc.ours.Add(-1)
		if pl := ss.pl; e.locks && !e.held && e.err == "" && e.gen == pl.locksGen {
			pl.locks = false // none held: given back at its request's end
		}
		if e.params != nil {
			sc.noteSet(ss, e)
		}
		if e.done != nil {
			e.done <- e.err
			h.woke()
		}
		if e.then != nil {
			e.then()
		}
	}
}

// parameter notes a ParameterStatus: the server's value, and the session's
// when the proxy carries it; pl.mu is held.
func (h *poolReader) parameter(ss *session, body []byte) (name, value []byte) {
	name, value = h.serverParameter(body)
	sc, pl := h.sc, ss.pl
	if old, ok := pl.wanted[string(name)]; ok && old != string(value) {
		// The session's value changed with the connection's: the
		// connection still has what the session wants, others not.
		key := pl.wantedKey
		pl.wanted[string(name)] = string(value)
		pl.wantedKey = paramsKey(pl.wanted)
		if sc.synced == key {
			sc.synced = pl.wantedKey
		}
	}
	ss.parameterStatus(body)
	return name, value
}

// serverParameter notes a ParameterStatus as the connection's value;
// the owner's pooled.mu is held.
func (h *poolReader) serverParameter(body []byte) (name, value []byte) {
	name, rest := wire.CString(body)
	value, _ = wire.CString(rest)
	sc := h.sc
	sc.Params[string(name)] = string(value)
	if sc.Reported == nil {
		sc.Reported = make(map[string]struct{})
	}
	sc.Reported[string(name)] = struct{}{}
	return name, value
}

// readyState is what readyLocked took from a request's ReadyForQuery
// under pl.mu, for ready to finish after it.
type readyState struct {
	status byte
	code   string
	raised bool // code is that of an error of the client's own doing (wire.OwnError)
	start  int64
	t      breaker.Ticket
	q      pattern.Req
	ok     bool      // a pending request was popped
	now    time.Time // when the ReadyForQuery was read
	// detached: the connection went back to its pool (transaction mode).
	detached bool
}

// readyLocked notes a client request's ReadyForQuery under pl.mu: the
// transaction status, the answered request, and on a loop in transaction
// mode the end of the attachment. The request leaves the
// pending ring under pl.mu and before the client has its answer: the next
// connection's reader pops only after that, so the ring has one consumer
// at a time.
func (h *poolReader) readyLocked(ss *session, msg []byte, now time.Time) readyState {
	r := readyState{status: 'I', code: h.code, raised: h.raised, now: now}
	if len(msg) == 6 {
		r.status = msg[5]
	}
	ss.setTxStatus(r.status)
	ss.pl.lastFailed = h.code != ""
	h.sc.q.synced()
	h.code, h.raised = "", false
	r.start, r.t, r.q, r.ok = ss.pending.Pop()
	if h.lc != nil {
		// On a loop, the client's writes never hold the connection up:
		// it goes back before the client has the ReadyForQuery.
		r.detached = h.giveBack(ss, r.status, now)
	}
	return r
}

// giveBack gives the connection back to its pool at the end of a
// transaction (a ReadyForQuery with status) in transaction mode, and the backend's admission with it,
// so that the client's next transaction finds them free (and is routed
// and given its parameters afresh); pl.mu is held.
func (h *poolReader) giveBack(ss *session, status byte, now time.Time) bool {
	pl, sc := ss.pl, h.sc
	if !pl.user.TxMode || status != 'I' || pl.sc != sc || !sc.q.empty() || pl.busy || pl.locks {
		return false
	}
	if ss.detachAt(true, now) {
		h.woke()
	}
	return true
}

// ready finishes a request's ReadyForQuery once pl.mu is released: it is
// relayed, the request's outcome recorded, and a goroutine reader gives
// the connection back in transaction mode.
func (h *poolReader) ready(ss *session, msg []byte, r readyState) {
	sc := h.sc
	h.out = append(h.out, msg...)
	h.flushAt(ss, r.now)
	held, end := h.held, r.now
	if h.lc != nil {
		held += h.lc.clientTime()
		if r.detached {
			// What ss's client has not taken yet is its writer's: the
			// connection's next session must not wait for it.
			h.lc.release()
		}
	} else {
		// The goroutine's write to the client, which held counts, came
		// after r.now.
		end = ss.s.clock.Now()
	}
	h.held = 0
	if r.ok {
		held += ss.copyTime(end.UnixNano())
		sc.b.Finish(r.t, ss.user(), r.start, r.code, r.raised, ss.cancelAt.Load(), held, r.q, end)
	}
	ss.local.backendIdle()
	if h.lc == nil && ss.pl.user.TxMode {
		// A goroutine gives the connection back once the client has its
		// answers: a client slow to take them must not hold up the
		// connection's next session.
		ss.pl.mu.Lock()
		h.giveBack(ss, r.status, end)
		ss.pl.mu.Unlock()
	}
}

// woke notes that the reader made a goroutine runnable: on a loop, the
// goroutine waits in the run queue of the loop's P, which the loop must
// let it have (evloop.Loop.Yield).
func (h *poolReader) woke() {
	if h.lc != nil {
		h.lc.lp.Yield()
	}
}

// readFailed handles the end of the connection: expected when the proxy
// closed it, a backend failure otherwise, which the attached session's
// client is told about without losing its session.
func (sc *serverConn) readFailed(err error) {
	sc.MarkDead()
	if sc.Closing() {
		return
	}
	b := sc.b
	now := sc.s.clock.Now()
	// A connection the backend ended with a FATAL error that is not the
	// backend's health is lost to its session only, as on a pass-through
	// session (session.relay): the client's doing (25P03
	// idle_in_transaction_session_timeout, 57P05 idle_session_timeout,
	// 08P01 …), or a hot standby ending a session that conflicts with
	// recovery (40001, 57P04). The reader that calls this is the one that
	// noted the FATAL.
	switch f := sc.r.fatal; {
	case f != nil && f.Code == codeAdminShutdown:
		b.Terminated(now) // shutdown, or pg_terminate_backend
	case f == nil || breaker.Classify(f.Code, false) == breaker.Failure:
		b.Note(b.Breaker.RecordConnLoss(b.Breaker.Current(), now))
	}
	if sc.owner.CompareAndSwap(nil, tombstone) {
		sc.p.Discard(sc)
		_ = sc.Net.Close()
		return
	}
	sc.owner.Load().pooledLost(sc, err)
}

// errUnanswering ends the reader of a connection given up on a backend
// that answers nothing (Front.Abandon).
var errUnanswering = errors.New("backend answers nothing: connection given up")

// abandon ends sc's reader as on a lost connection (readFailed), without
// waiting for the server to close it: its session's requests fail as on
// a killed backend.
func (sc *serverConn) abandon() {
	if c, ok := sc.Net.(*loopConn); ok {
		// A loop that ended has closed its sockets already.
		c.lp.Do(func() { c.closeNow(errUnanswering) })
		return
	}
	_ = sc.Net.SetReadDeadline(time.Unix(1, 0))
}

// tombstone owns a pooled connection that died while idle, so that no
// session can attach it any more (attaching swaps nil for the session).
var tombstone = &session{}

// pooledLost tells the client that its server connection was lost: each
// request it awaits gets an error and ReadyForQuery (idle), a batch it is
// sending fails at its next message (the rest is skipped up to its Sync),
// and a transaction it is idle in fails at its next request. The session
// goes on; the next transaction is routed afresh.
//
// All of it is decided under pl.mu, and the client's lock is taken before
// pl.mu is released: the client goroutine, which must take pl.mu to attach
// another connection, then finds the session as the loss left it, and
// nothing reaches the client before the answers owed to it.
func (ss *session) pooledLost(sc *serverConn, cause error) {
	pl := ss.pl
	h := &sc.r
	pl.mu.Lock()
	if pl.sc != sc {
		pl.mu.Unlock()
		return
	}
	name := pl.b.Config.Name
	e := h.fatal
	if e == nil {
		e = &Error{Severity: "ERROR", Code: codeConnectionFailure, Message: "server connection lost: backend " + name + " failed",
			Detail: "The transaction was rolled back with the connection.", Hint: "Retry the transaction: HeliosProxy routes it to a healthy backend."}
	}
	syncs, busy, inTx := sc.q.clientSyncs(), pl.busy, byte(ss.txStatus.Load()) != 'I'
	pl.lastFailed = true
	// The proxy's own requests (a check, SETs) are answered too, so that
	// whoever waits for them goes on.
	sc.q.abandon(lostMessage)
	mid := !h.scan.AtBoundary()
	// A bare BEGIN, unanswered, was all of it: nothing ran, and the next
	// attachment runs the BEGIN; or a ROLLBACK, which the loss did
	// (beginlost.go).
	begin := !busy && !mid && ss.lostBegin(h, syncs)
	pl.beginStep = beginNone
	ss.detachLocked(false)
	pl.busy = false
	if busy || syncs == 0 && inTx {
		pl.lost = e
	}
	// Partial answers gathered for the client are dropped: its requests
	// fail instead.
	h.out = h.out[:0]
	var out []byte
	for range syncs {
		if _, _, q, _ := ss.pending.Pop(); ss.s.Patterns != nil {
			ss.s.Patterns.Release(q) // a probe permit: no result will come
		}
		if begin {
			out = ss.answerLostBegin(out)
			continue
		}
		out = e.Append(out)
		out = wire.AppendReady(out, 'I')
	}
	ss.copyTime(0) // a COPY under way ended with the connection
	if begin {
		pl.lastFailed = false
		status := byte('I') // a ROLLBACK's
		if pl.owed {
			status = 'T' // a BEGIN's
		}
		ss.setTxStatus(status)
	} else {
		ss.setTxStatus('I')
	}
	ss.wmu.Lock()
	pl.mu.Unlock()
	if mid {
		// Part of a message reached the client: it cannot be told more.
		_ = ss.client.Close()
	} else if len(out) > 0 {
		_, _ = ss.client.Write(out)
	}
	ss.wmu.Unlock()
	ss.s.log.Info("server connection lost", "backend", name, "session_id", ss.pid, "err", cause)
	ss.local.backendIdle()
}

// ownError is how the first error of the proxy's own request reaches its
// done channel: the SQLSTATE, a space, the message (never empty).
func ownError(code, msg string) string {
	if len(code) != 5 {
		code = "XX000"
	}
	if msg == "" {
		msg = "error"
	}
	return code + " " + msg
}

// splitOwnError takes an ownError apart; a message of the proxy's own
// (lostMessage) has no SQLSTATE: "".
func splitOwnError(s string) (code, msg string) {
	if len(s) > 6 && s[5] == ' ' {
		return s[:5], s[6:]
	}
	return "", s
}

// lostMessage is what the proxy's own requests on a lost connection are
// answered with.
const lostMessage = "server connection lost"
