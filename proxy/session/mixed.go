package session

import (
	"encoding/binary"
	"errors"
	"sync/atomic"

	"github.com/heliosdb/heliosproxy/proxy/wire"
	"github.com/heliosdb/heliosproxy/statusdb"
)

// Mixed requests: a simple Query, or an extended-protocol batch up to its
// Sync, that holds both statements the proxy answers (helios_proxy) and
// statements for the backend, on a pass-through session. They are
// answered in order and in one implicit transaction, as PostgreSQL does:
//
//   - before the proxy answers a statement, the backend answers everything
//     relayed before it (the proxy sends Flush and waits, counting the
//     backend's completion messages: answered);
//   - an error from the backend ends the batch: the proxy's statements
//     after it are skipped up to Sync, as the backend skips its own;
//   - an error in the proxy's statement makes the backend's part fail
//     too: the proxy sends a Parse of abortSQL into the batch, whose
//     ErrorResponse is dropped (dropFilter), so the backend skips the rest
//     up to Sync and rolls the implicit transaction back (or leaves an
//     explicit block aborted);
//   - a Query's backend statements go as Parse, Bind, Describe and
//     Execute of the unnamed statement (a simple Query destroys those
//     too), with ParseComplete, BindComplete and NoData dropped on the way
//     back, and one Sync at the end whose ReadyForQuery ends the client's
//     Query.
//
// The counting is always on and costs a switch case per message in each
// direction and one atomic store per read from the backend; the filter
// runs only while the proxy's own requests are answered.

// relayCount counts, per batch, the requests relayed to a pass-through
// backend and the completions it sent back, so that the client side can
// tell when the backend has answered everything relayed so far.
type relayCount struct {
	// The client-to-server goroutine's: completions owed by the current
	// batch (Parse, Bind, Describe, Execute, Close relayed since the last
	// Sync), and requests that end with ReadyForQuery (Query, Sync,
	// FunctionCall) relayed so far.
	sent  int
	syncs uint32
	// The server-to-client goroutine's: completions of the current batch
	// (reset at ReadyForQuery), whether it failed, ReadyForQuery seen.
	done    int
	err     bool
	lastErr bool // the request the last ReadyForQuery ended met an error
	ready   uint32
	// snap is (ready, err, done) as the server side last published it,
	// after writing what it read to the client; waiting asks it to signal.
	snap    atomic.Uint64
	waiting atomic.Bool
}

// client notes a message relayed to the backend; typ is the client's
// message type.
func (c *relayCount) client(typ byte) {
	switch typ {
	case 'P', 'B', 'D', 'E', 'C':
		c.sent++
	case 'Q', 'S', 'F':
		c.syncs++
		c.sent = 0
	}
}

// server notes a message from the backend; typ is its type.
func (c *relayCount) server(typ byte) {
	switch typ {
	case '1', '2', '3', 'n', 'T', 'C', 'I', 's':
		c.done++
	case 'E':
		c.err = true
	case 'Z':
		c.ready++
		c.lastErr = c.err
		c.done, c.err = 0, false
	}
}

// publish makes the server side's counts visible to the client side.
func (c *relayCount) publish() {
	v := uint64(c.ready)<<32 | uint64(min(c.done, 1<<30-1))
	if c.err {
		v |= 1 << 31
	}
	if c.lastErr {
		v |= 1 << 30
	}
	c.snap.Store(v)
}

// lastFailed reports whether the request whose ReadyForQuery the server
// side published last met an error; once answered says everything was
// answered, that is the last request relayed.
func (c *relayCount) lastFailed() bool { return c.snap.Load()&(1<<30) != 0 }

// answered reports whether the backend has answered every request relayed
// so far, or failed in the current batch (then it skips the rest up to
// Sync); failed says which.
func (c *relayCount) answered() (ok, failed bool) {
	v := c.snap.Load()
	if uint32(v>>32) != c.syncs {
		return false, false
	}
	failed = v&(1<<31) != 0
	return failed || int(v&(1<<30-1)) >= c.sent, failed
}

// Drop modes of dropFilter, set by the client side (session.drop).
const (
	dropSteps = 1 << iota // ParseComplete, BindComplete, NoData: a Query's backend statements sent as Parse/Bind/Describe/Execute
	dropError             // the next ErrorResponse: the proxy's abortSQL
)

// dropFilter takes whole messages out of the backend's stream while the
// proxy's own requests are answered (session.drop is not 0); it stops at
// the ReadyForQuery that ends them. Completions it drops still count.
type dropFilter struct {
	hdr  [5]byte
	hdrN int
	left int // body bytes of the current message still to come
	drop bool
	out  []byte
}

// active reports whether the filter must see the next bytes.
func (f *dropFilter) active(ss *session, sc *wire.Scanner) bool {
	if f.hdrN > 0 || f.left > 0 {
		return true
	}
	// It starts only between messages, where the client side turns it
	// on: nothing else is in flight then.
	return ss.drop.Load() != 0 && sc.AtBoundary()
}

// apply returns p without the dropped messages; the result is valid until
// the next call.
func (f *dropFilter) apply(ss *session, c *relayCount, p []byte) []byte {
	f.out = f.out[:0]
	for len(p) > 0 {
		if f.left > 0 {
			n := min(f.left, len(p))
			if !f.drop {
				f.out = append(f.out, p[:n]...)
			}
			f.left -= n
			p = p[n:]
			continue
		}
		k := copy(f.hdr[f.hdrN:], p)
		f.hdrN += k
		p = p[k:]
		if f.hdrN < 5 {
			break
		}
		f.hdrN = 0
		typ := f.hdr[0]
		f.left = max(int(int32(binary.BigEndian.Uint32(f.hdr[1:5])))-4, 0)
		mode := ss.drop.Load()
		f.drop = false
		switch {
		case mode&dropSteps != 0 && (typ == '1' || typ == '2' || typ == 'n'):
			f.drop = true
			c.server(typ)
		case mode&dropError != 0 && typ == 'E':
			f.drop = true
			c.server(typ) // the batch failed: the backend skips the rest
			ss.drop.And(^int32(dropError))
		case typ == 'Z':
			ss.drop.Store(0)
		}
		if !f.drop {
			f.out = append(f.out, f.hdr[:]...)
		}
	}
	return f.out
}

// waitAnswered waits until the backend has answered every request relayed
// so far, asking it with Flush for what it holds of the current batch;
// failed reports an error in the current batch.
func (l *localState) waitAnswered() (failed bool, err error) {
	ss := l.ss
	c := &ss.count
	if ok, failed := c.answered(); ok {
		return failed, nil
	}
	if ss.server != nil && c.sent > 0 {
		if _, err := ss.server.Write(flushMsg); err != nil {
			return false, err
		}
	}
	c.waiting.Store(true)
	defer c.waiting.Store(false)
	for {
		if ok, failed := c.answered(); ok {
			return failed, nil
		}
		select {
		case <-l.idle:
		case <-ss.stopped:
			return false, errStopped
		}
	}
}

var (
	flushMsg = wire.AppendMessage(nil, 'H')
	syncMsg  = wire.AppendMessage(nil, 'S')
	// abortParse is abortSQL as a Parse of the unnamed statement: it
	// fails in parse analysis, so the backend skips the rest of the batch.
	abortParse = wire.AppendMessage(nil, 'P', []byte{0}, []byte(abortSQL), []byte{0, 0, 0})
)

// relayCounted sends a message of the client's, or one the proxy made, to
// a pass-through backend, counting it.
func (ss *session) relayCounted(msg []byte) error {
	typ := msg[0]
	if typ == 'Q' || typ == 'S' || typ == 'F' {
		ss.pending.Push(ss.s.clock.Now().UnixNano(), ss.b.Breaker.Current(), ss.local.takeReq())
	}
	ss.count.client(typ)
	_, err := ss.server.Write(msg)
	return err
}

// abortBatch makes the backend's part of the current batch fail after an
// error in one of the proxy's statements (see above); its answer is
// dropped.
func (ss *session) abortBatch() error {
	ss.drop.Or(dropError)
	ss.count.client('P')
	_, err := ss.server.Write(abortParse)
	return err
}

// backendPiece appends a Query's backend statement as the extended
// protocol's unnamed statement and portal, described and run to the end.
func backendPiece(dst []byte, sql string) []byte {
	dst = wire.AppendMessage(dst, 'P', []byte{0}, []byte(sql), []byte{0, 0, 0})
	dst = wire.AppendMessage(dst, 'B', []byte{0, 0, 0, 0, 0, 0, 0, 0})
	dst = wire.AppendMessage(dst, 'D', []byte{'P', 0})
	return wire.AppendMessage(dst, 'E', []byte{0, 0, 0, 0, 0})
}

// mixedQuery answers a simple Query on a pass-through session whose
// statements are partly the proxy's (stmts[i], or errs[i] an error of
// theirs) and partly the backend's (errs[i] is ErrNotStatusQuery), in
// order, in one implicit transaction, as PostgreSQL runs a Query string.
func (l *localState) mixedQuery(stmts []*statusdb.Stmt, errs []error, texts []string) error {
	ss := l.ss
	if err := l.waitIdle(); err != nil {
		return err
	}
	ss.drop.Store(dropSteps)
	events := false
	for _, st := range stmts {
		events = events || st != nil && st.ReadsEvents()
	}
	var in statusdb.Input
	release := func() {}
	defer func() { release() }()
	remote, failed := false, false
	var piece []byte
	for i, text := range texts {
		if errors.Is(errs[i], statusdb.ErrNotStatusQuery) {
			piece = backendPiece(piece[:0], text)
			ss.count.sent += 4
			if _, err := ss.server.Write(piece); err != nil {
				return err
			}
			remote = true
			continue
		}
		if remote {
			bad, err := l.waitAnswered()
			if err != nil {
				return err
			}
			if bad {
				break // the backend's error ends the Query string
			}
		}
		err := errs[i]
		if err == nil && !remote && byte(ss.txStatus.Load()) == 'E' {
			err = errAborted
		}
		if err == nil {
			if in.Now.IsZero() {
				in, release = l.input(events)
			}
			err = l.result(stmts[i], in, nil, nil, nil, true)
		}
		if err != nil {
			// As in PostgreSQL, an error ends the query string.
			l.out = sqlError(err).Append(l.out)
			failed = true
		}
		if err := l.flush(); err != nil {
			return err
		}
		if failed {
			break
		}
	}
	if !remote {
		ss.drop.Store(0)
		return l.ready(failed)
	}
	if failed {
		if err := ss.abortBatch(); err != nil {
			return err
		}
	}
	return ss.relayCounted(syncMsg)
}
