package session

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/proxy/pattern"
	"github.com/heliosdb/heliosproxy/proxy/wire"
	"github.com/heliosdb/heliosproxy/status"
	"github.com/heliosdb/heliosproxy/statusdb"
)

// localState answers the statements on the helios_proxy schema for one
// session, in the simple and the extended protocol. Only the session's
// client-to-server goroutine uses it, except idle, which the other
// direction signals.
type localState struct {
	ss *session
	// mirrored is the status session of a backend database's status
	// statements (mirror), made from the settings in mirroredFrom.
	mirrored     *statusdb.Session
	mirroredFrom [3]string
	stmts        map[string]*statusdb.Stmt // prepared here, by name ("" is the unnamed one)
	portals      map[string]*localPortal
	cursors      map[string]*localCursor // DECLAREd over status queries (localrows.go)
	// seen is the session's idleReady when portals and cursors were last
	// looked at (expire).
	seen uint64
	// implicit is set while the statements of a Query with several run,
	// in its implicit transaction block.
	implicit bool
	// declaring holds the cursors of ours that statements before, in the
	// Query being prepared, declare.
	declaring map[string]bool
	path      searchPath // a backend session's search_path (localpath.go)
	// pathBatch holds the changes of the search_path that Parse messages
	// relayed in the current batch make, followed at its Sync.
	pathBatch  []statusdb.PathChange
	pathBefore byte // the transaction status before that batch
	// batch is true while an extended-protocol batch (up to Sync) is
	// answered here; remote while one is relayed.
	batch, remote bool
	failed        bool   // an error in the local batch: skip messages until Sync
	out           []byte // answers not yet written
	idle          chan struct{}
	tzName        string
	tz            *time.Location
	// sess is the status database's session state (settings, user); nil
	// on sessions with a backend.
	sess *statusdb.Session

	// Query-level breakers (querybreaker.go).
	refusal    *pattern.Refused       // the request taken to be refused, for handle
	req        pattern.Req            // the pattern of the request relayed next
	unnamedKey pattern.Key            // the pattern of the unnamed statement relayed last
	stmtKeys   map[string]stmtPattern // the patterns of named statements relayed
	// refused is the answer of a request refused at admission, set until
	// its first message is taken (refuse).
	refused *Error
}

type localPortal struct {
	stmt          *statusdb.Stmt
	params        [][]byte
	paramFormats  []int16
	resultFormats []int16
	// rows are the portal's rows once an Execute with a row limit ran it
	// (executeLimited); done says a run without one finished it.
	rows  *rowSet
	done  bool
	ready uint64 // idleReady when it was bound: it ends with its transaction
}

func (l *localState) init(ss *session) {
	l.ss = ss
	l.idle = make(chan struct{}, 1)
}

// active reports whether any statement or portal lives here, so that
// Bind, Describe, Execute and Close must be looked at.
func (l *localState) active() bool {
	return len(l.stmts) > 0 || len(l.portals) > 0 || l.batch
}

// backendIdle is called by the server-to-client direction after it wrote
// a ReadyForQuery.
func (l *localState) backendIdle() {
	select {
	case l.idle <- struct{}{}:
	default:
	}
}

// answers decides whether a client message is answered here rather than
// relayed, for every relay path: a Query that names helios_proxy, the Sync
// that ends a batch answered here, and the extended-protocol messages that
// takes claims. A Sync that ends a relayed batch is noted.
func (l *localState) answers(typ byte, body []byte) bool {
	switch typ {
	case 'Q':
		l.noteDatabaseDDL(body)
		return l.mentions(body) || l.admitQuery(body)
	case 'S':
		if l.batch || l.pathBatch != nil {
			return true
		}
		l.remote = false // a relayed batch ends here
	case 'P', 'B', 'D', 'E', 'C', 'H':
		return l.takes(typ, body)
	}
	return false
}

// takes decides whether an extended-protocol message is answered here.
func (l *localState) takes(typ byte, body []byte) bool {
	switch typ {
	case 'P':
		name, rest := wire.CString(body)
		query, _ := wire.CString(rest)
		if l.mentions(query) || l.batch {
			return true
		}
		l.noteDatabaseDDL(query)
		delete(l.stmts, string(name))
		l.parsed(body)
	case 'B':
		l.expire()
		portal, rest := wire.CString(body)
		stmt, _ := wire.CString(rest)
		if _, ok := l.stmts[string(stmt)]; ok || l.batch {
			return true
		}
		delete(l.portals, string(portal))
		if l.admitBind(body) {
			return true
		}
	case 'D', 'C':
		if len(body) == 0 {
			return false // malformed: the backend answers it
		}
		name, _ := wire.CString(body[1:])
		if l.batch || l.has(body[0], name) {
			return true
		}
		if typ == 'C' {
			l.closed(body)
		}
	case 'E':
		l.expire()
		portal, _ := wire.CString(body)
		if _, ok := l.portals[string(portal)]; ok || l.batch {
			return true
		}
	case 'H':
		return l.batch
	}
	l.remote = true
	return false
}

// mentions is the check of a Query's or Parse's text on sessions with a
// backend: does it name helios_proxy, or (only for sessions that hold
// cursors over status queries) could it be FETCH, MOVE or CLOSE of one?
func (l *localState) mentions(sql []byte) bool {
	return statusdb.Mentions(sql) || len(l.cursors) > 0 && statusdb.IsCursorCommand(sql) ||
		l.path.watched && (l.path.resolves && statusdb.MentionsTable(sql) || l.path.txSet || l.path.localSet || statusdb.MayChangePath(sql))
}

// noteDatabaseDDL closes the proxy's idle pooled connections to other
// databases before a statement that creates, drops or alters a database
// reaches the backend (pools.closeIdleExcept), so that it finds no other
// session there but real clients', as on PostgreSQL alone.
func (l *localState) noteDatabaseDDL(sql []byte) {
	if !wire.DatabaseDDL(sql) {
		return
	}
	db := l.ss.params["database"]
	if db == "" {
		db = l.ss.params["user"]
	}
	l.ss.s.pools.closeIdleExcept(db)
}

// startPath sets the search_path a backend session starts with.
func (l *localState) startPath(params map[string]string) {
	l.path.session = startupPath(params)
	l.path.transient = l.ss.pl != nil && l.ss.pl.user.TxMode
	l.path.update()
}

// validTarget reports whether a Describe or Close body names a statement
// or portal: 'S' or 'P', then a NUL-terminated name, and nothing more.
func validTarget(body []byte) bool {
	return len(body) >= 2 && (body[0] == 'S' || body[0] == 'P') && bytes.IndexByte(body[1:], 0) == len(body)-2
}

func messageName(typ byte) string {
	if typ == 'D' {
		return "Describe"
	}
	return "Close"
}

func (l *localState) has(kind byte, name []byte) bool {
	if kind == 'S' {
		_, ok := l.stmts[string(name)]
		return ok
	}
	_, ok := l.portals[string(name)]
	return ok
}

// errMixed ends a session that sends a Query inside a pipeline it mixes
// with helios_proxy statements.
var errMixed = &Error{Code: "0A000", Message: "a Query may not follow unsynchronized extended-protocol messages mixing helios_proxy and backend statements",
	Hint: "Send a Sync first."}

// errPooledMixed answers a helios_proxy statement in a pipeline with
// backend statements on a pooled ([[users]]) session, and the rest of the
// pipeline up to Sync fails with it, as after any error.
var errPooledMixed = &Error{Severity: "ERROR", Code: "0A000", Message: "a pipeline on a pooled session may not mix helios_proxy statements with backend statements",
	Hint: "Send a Sync between them, or use a separate connection for helios_proxy queries."}

// pooledMixed answers a helios_proxy statement that follows backend
// statements in a pooled session's batch with errPooledMixed, in order:
// the proxy's abortParse goes to the server connection after them, and
// its reader gives the client errPooledMixed in place of the backend's
// error (kAbortOurs). The backend skips the rest up to Sync, which rolls
// its part back; here too the rest is skipped.
func (l *localState) pooledMixed() error { return l.pooledAbort(errPooledMixed) }

// pooledAbort fails a pooled session's batch, part of which went to the
// server connection, with e in its place: the proxy's abortParse goes to
// the connection after that part, and its reader gives the client e in
// place of the backend's error (kAbortOurs).
func (l *localState) pooledAbort(e *Error) error {
	if l.failed {
		return nil
	}
	l.failed, l.batch = true, true
	pl := l.ss.pl
	pl.mu.Lock()
	if sc := pl.sc; sc != nil {
		sc.q.push(respEntry{kind: kAbortOurs, answer: e.Append(nil)})
		pl.out = append(pl.out, abortParse...)
	}
	pl.mu.Unlock()
	return l.ss.flushServer()
}

// startsBatch reports whether a client message of type typ starts a
// request of the extended protocol: nothing of a batch is under way.
func (l *localState) startsBatch(typ byte) bool {
	switch typ {
	case 'P', 'B', 'D', 'E', 'C':
		// A Flush alone asks for no answer: the message after it starts.
		return !l.batch && !l.remote
	}
	return false
}

// refuseAtAdmission makes the request that starts with the next message the proxy's
// to answer with e, an admission's refusal (clientHandler.admit): a Query
// is answered with e, a batch with e and then nothing up to its Sync, as
// after any error.
func (l *localState) refuseAtAdmission(e *Error) {
	l.refused = e
}

// answerRefused answers a request refused at admission, whose first
// message is msg.
func (l *localState) answerRefused(typ byte, e *Error) error {
	l.refused = nil
	if typ == 'Q' {
		l.out = e.Append(l.out)
		return l.ready(true)
	}
	// The batch is the proxy's now: nothing of it went to the backend.
	l.batch, l.failed, l.remote = true, true, false
	l.out = e.Append(l.out)
	return nil
}

// handle answers one message taken out of the client's stream. msg is
// only valid during the call.
func (l *localState) handle(msg []byte) error {
	typ, body := msg[0], msg[5:]
	if e := l.refused; e != nil {
		return l.answerRefused(typ, e)
	}
	if l.refusal != nil {
		return l.refuse(typ)
	}
	if typ == 'Q' {
		return l.query(msg, body)
	}
	if l.remote && typ != 'S' {
		if l.ss.server == nil {
			if typ == 'C' && validTarget(body) {
				// Closing one of the proxy's statements or portals in a
				// batch relayed to the server (asyncpg closes statements
				// it dropped from its cache in the next batch): gone here,
				// and the server, which does not know the name, answers
				// CloseComplete in its place in the batch.
				name, _ := wire.CString(body[1:])
				if body[0] == 'S' {
					delete(l.stmts, string(name))
				} else {
					delete(l.portals, string(name))
				}
				return l.ss.relayMessage(msg)
			}
			return l.pooledMixed()
		}
		if !l.owns(typ, body) {
			return l.relayInBatch(msg)
		}
		if !l.failed {
			// The backend answers what was relayed before first; an
			// error there ends the batch, here too.
			failed, err := l.waitAnswered()
			if err != nil {
				return err
			}
			l.failed = failed
			l.batch = true
		}
	}
	// A pooled session's batch answered here so far, without an error,
	// may go on with a backend statement: asyncpg's prepare() sends
	// Parse, Describe, Flush and no Sync, so the next query of any kind
	// joins its batch.
	handOver := l.batch && !l.failed && !l.remote && l.ss.server == nil && l.ss.pl != nil
	if typ == 'P' && (!l.batch || handOver) {
		// Mentions is a cheap filter: the parser decides.
		name, st, err := l.parse(body)
		if errors.Is(err, statusdb.ErrNotStatusQuery) && l.ss.hasBackend() {
			if l.batch {
				// What the proxy answered goes first; the rest of the
				// batch, up to its Sync, is the backend's.
				if err := l.flush(); err != nil {
					return err
				}
				l.batch = false
				l.parsed(body)
			}
			delete(l.stmts, string(name))
			l.remote = true
			_, rest := wire.CString(body)
			query, _ := wire.CString(rest)
			if changes := l.pathChanges(query); changes != nil {
				if l.pathBatch == nil {
					// The batch's requests before it are answered first,
					// so that the status before it is known.
					if err := l.waitIdle(); err != nil {
						return err
					}
					l.pathBefore = byte(l.ss.txStatus.Load())
				}
				l.pathBatch = append(l.pathBatch, changes...)
			}
			return l.ss.relayMessage(msg)
		}
		l.batch = true
		if err == nil && byte(l.ss.txStatus.Load()) == 'E' && !l.exits(st) {
			err = errAborted
		}
		if err == nil {
			l.setStmt(string(name), st)
			l.out = wire.AppendMessageOf(l.out, &pgproto3.ParseComplete{})
			return nil
		}
		l.fail(err)
		return nil
	}
	l.batch = true
	if typ == 'S' {
		return l.sync()
	}
	if l.failed {
		if typ == 'H' {
			// PostgreSQL sends an error at once; what follows it is
			// discarded until Sync. A client that sent Flush (asyncpg's
			// Parse, Describe, Flush) waits for the error.
			return l.flush()
		}
		return nil // discarded until Sync, as PostgreSQL does
	}
	if !l.owns(typ, body) && l.ss.hasBackend() {
		if handOver && typ != 'H' {
			// A Bind, Describe, Execute or Close of the backend's
			// (asyncpg's cached statements) after the proxy's part:
			// decided as the first message of a request.
			if err := l.flush(); err != nil {
				return err
			}
			l.batch = false
			if l.takes(typ, body) {
				return l.handle(msg)
			}
			return l.ss.relayMessage(msg)
		}
		if l.ss.server == nil {
			l.fail(errPooledMixed)
			return nil
		}
		return l.relayInBatch(msg)
	}
	var err error
	switch {
	case (typ == 'D' || typ == 'C') && !validTarget(body):
		l.fail(&Error{Severity: "ERROR", Code: codeProtocolViolation, Message: "invalid " + messageName(typ) + " message"})
		return nil
	case byte(l.ss.txStatus.Load()) == 'E' && !l.remote && typ != 'C' && typ != 'H' && !l.exits(l.target(typ, body)):
		// Parse, Bind, Describe and Execute fail in an aborted
		// transaction block; only what ends it runs (on the backend, or
		// here on the status database).
		l.fail(errAborted)
		return nil
	}
	switch typ {
	case 'P':
		var name []byte
		var st *statusdb.Stmt
		if name, st, err = l.parse(body); err == nil {
			l.setStmt(string(name), st)
			l.out = wire.AppendMessageOf(l.out, &pgproto3.ParseComplete{})
		} else if errors.Is(err, statusdb.ErrNotStatusQuery) {
			err = errPooledMixed
			switch {
			case !l.ss.hasBackend():
				err = errStatusOnly
			case l.ss.server != nil:
				delete(l.stmts, string(name))
				return l.relayInBatch(msg)
			}
		}
	case 'B':
		err = l.bind(body)
	case 'D':
		err = l.describe(body)
	case 'E':
		err = l.execute(body)
	case 'C':
		name, _ := wire.CString(body[1:])
		if body[0] == 'S' {
			delete(l.stmts, string(name))
		} else {
			delete(l.portals, string(name))
		}
		l.out = wire.AppendMessageOf(l.out, &pgproto3.CloseComplete{})
	case 'H':
		if l.remote {
			if err := l.ss.relayCounted(msg); err != nil {
				return err
			}
		}
		return l.flush()
	}
	if err != nil {
		l.fail(err)
	}
	return nil
}

// owns reports whether a Bind, Describe, Execute or Close of a batch the
// proxy takes part in is the proxy's to answer; Parse, Flush and Sync are
// looked at by handle.
func (l *localState) owns(typ byte, body []byte) bool {
	switch typ {
	case 'B':
		_, rest := wire.CString(body)
		stmt, _ := wire.CString(rest)
		_, ok := l.stmts[string(stmt)]
		return ok
	case 'D', 'C':
		if !validTarget(body) {
			return true // refused here as PostgreSQL refuses it
		}
		name, _ := wire.CString(body[1:])
		return l.has(body[0], name)
	case 'E':
		portal, _ := wire.CString(body)
		_, ok := l.portals[string(portal)]
		return ok
	}
	return true
}

// relayInBatch relays a backend's message of a batch the proxy takes part
// in (a mixed request on a pass-through session), after the proxy's
// answers so far. Messages after an error are dropped up to Sync, as
// the backend would skip them.
func (l *localState) relayInBatch(msg []byte) error {
	if l.failed {
		return nil
	}
	if len(l.out) > 0 {
		if err := l.flush(); err != nil {
			return err
		}
	}
	if msg[0] == 'B' {
		portal, _ := wire.CString(msg[5:])
		delete(l.portals, string(portal))
	}
	l.remote = true
	return l.ss.relayCounted(msg)
}

// parse prepares a Parse message's statement with the parameter types the
// client declared.
func (l *localState) parse(body []byte) (name []byte, st *statusdb.Stmt, err error) {
	name, rest := wire.CString(body)
	query, rest := wire.CString(rest)
	var oids []uint32
	if len(rest) >= 2 {
		n := int(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
		for i := 0; i < n && len(rest) >= 4; i++ {
			oids = append(oids, binary.BigEndian.Uint32(rest))
			rest = rest[4:]
		}
	}
	st, err = l.prepare(string(query), oids)
	if err == nil {
		err = st.ParameterError(false)
	}
	return name, st, err
}

// prepare plans a statement: on the status database, with what it
// answers besides the helios_proxy schema (statusdb.PrepareStandalone),
// and anything else is refused there.
func (l *localState) prepare(sql string, oids []uint32) (*statusdb.Stmt, error) {
	if l.sess == nil {
		return l.prepareRemote(sql, oids, &l.path)
	}
	st, err := l.ss.s.statusDB.PrepareStandalone(sql, oids)
	if errors.Is(err, statusdb.ErrNotStatusQuery) {
		return nil, errStatusOnly
	}
	return st, err
}

// prepareRemote plans a statement on a backend database: ours when it
// reads helios_proxy's tables, or is FETCH, MOVE or CLOSE of a cursor of
// ours; CLOSE ALL closes ours and goes to the backend for its own.
func (l *localState) prepareRemote(sql string, oids []uint32, path *searchPath) (*statusdb.Stmt, error) {
	db := l.ss.s.statusDB
	var st *statusdb.Stmt
	var err error
	if path.resolves {
		st, err = db.PrepareOnPath(sql, oids, path.current())
	} else {
		st, err = db.PrepareTyped(sql, oids)
	}
	if !errors.Is(err, statusdb.ErrNotStatusQuery) || len(l.cursors) == 0 && len(l.declaring) == 0 {
		return st, err
	}
	cs, cerr := db.PrepareCursor(sql)
	if cerr != nil {
		return st, err
	}
	l.expire()
	if d := cs.Declare(); d != nil {
		if _, ok := l.cursors[d.Name]; ok {
			return nil, &Error{Severity: "ERROR", Code: "42P03", Message: "cursor \"" + d.Name + "\" already exists"}
		}
		return st, err
	}
	f := cs.Fetch()
	if f.Close && f.Name == "" {
		clear(l.cursors)
		return st, err
	}
	if _, ok := l.cursors[f.Name]; ok || l.declaring[f.Name] {
		return cs, nil
	}
	return st, err
}

// target is the statement an extended-protocol message concerns, or nil.
func (l *localState) target(typ byte, body []byte) *statusdb.Stmt {
	switch typ {
	case 'P':
		if _, st, err := l.parse(body); err == nil {
			return st
		}
	case 'B':
		_, rest := wire.CString(body)
		name, _ := wire.CString(rest)
		return l.stmts[string(name)]
	case 'D':
		if !validTarget(body) {
			return nil
		}
		name, _ := wire.CString(body[1:])
		if body[0] == 'S' {
			return l.stmts[string(name)]
		}
		if p := l.portals[string(name)]; p != nil {
			return p.stmt
		}
	case 'E':
		name, _ := wire.CString(body)
		if p := l.portals[string(name)]; p != nil {
			return p.stmt
		}
	}
	return nil
}

// exits reports whether st ends a failed transaction block (ROLLBACK,
// COMMIT), which runs where other statements fail with 25P02.
func (l *localState) exits(st *statusdb.Stmt) bool {
	if st == nil || !st.Control() {
		return false
	}
	if sp := st.Savepoint(); sp.Kind != "" {
		return sp.Kind == "ROLLBACK TO"
	}
	tc, ok := transactionControl(st.SQL(), 'E')
	return ok && tc.after == 'I'
}

func (l *localState) setStmt(name string, st *statusdb.Stmt) {
	if l.stmts == nil {
		l.stmts = make(map[string]*statusdb.Stmt)
	}
	l.stmts[name] = st
}

// fail appends an ErrorResponse and skips the batch's rest until Sync;
// in a batch with backend statements, the backend's part fails too.
func (l *localState) fail(err error) {
	l.out = sqlError(err).Append(l.out)
	l.failed = true
	if l.remote && l.ss.server != nil {
		// A write error shows in the other direction too.
		_ = l.ss.abortBatch()
	}
}

func (l *localState) sync() error {
	failed := l.failed
	l.batch, l.failed = false, false
	if changes := l.pathBatch; changes != nil {
		// A relayed batch whose Parse changes the search_path: followed
		// once the backend answered its Sync, as if each statement
		// parsed ran once (as drivers do).
		l.pathBatch = nil
		if len(l.out) > 0 {
			if err := l.flush(); err != nil {
				return err
			}
		}
		l.remote = false
		if err := l.ss.relayMessage(syncMsg); err != nil {
			return err
		}
		return l.followPath(changes, l.pathBefore)
	}
	if l.remote {
		// A mixed batch: the backend's ReadyForQuery ends it.
		l.remote = false
		if len(l.out) > 0 {
			if err := l.flush(); err != nil {
				return err
			}
		}
		if l.ss.pl != nil {
			return l.ss.relayMessage(syncMsg)
		}
		return l.ss.relayCounted(syncMsg)
	}
	return l.ready(failed)
}

func (l *localState) readyForQuery(dst []byte) []byte {
	st := byte(l.ss.txStatus.Load())
	if st == 0 {
		st = 'I'
	}
	if st == 'I' {
		l.ss.idleReady.Add(1)
	}
	return wire.AppendReady(dst, st)
}

// flush writes the pending answers once the backend has answered every
// request relayed before them, so that the client sees answers in order.
func (l *localState) flush() error {
	if err := l.waitIdle(); err != nil {
		return err
	}
	l.ss.wmu.Lock()
	_, err := l.ss.client.Write(l.out)
	l.ss.wmu.Unlock()
	l.out = l.out[:0]
	return err
}

// waitIdle waits until the backend has answered every request relayed so
// far.
func (l *localState) waitIdle() error {
	if l.ss.server != nil {
		_, err := l.waitAnswered()
		return err
	}
	for !l.ss.pending.Empty() {
		select {
		case <-l.idle:
		case <-l.ss.stopped:
			return errStopped
		}
	}
	return nil
}

// errStopped ends the client side when the relay stops while it waits.
var errStopped = errors.New("relay stopped")

// query answers a simple-protocol Query whose text mentions helios_proxy.
func (l *localState) query(msg, body []byte) error {
	if l.batch && !l.remote {
		// Nothing of the batch went to a backend. PostgreSQL runs a
		// Query that follows unsynchronized extended-protocol messages
		// (asyncpg's ROLLBACK after a Parse, Describe, Flush whose Bind
		// it could not encode), or skips it after an error, up to Sync.
		if l.failed {
			return nil
		}
		l.batch = false
	}
	if l.batch || l.remote {
		l.ss.clientErr = errMixed
		return errMixed
	}
	sql, _ := wire.CString(body)
	db := l.ss.s.statusDB
	texts, err := db.Split(string(sql))
	if l.sess != nil {
		return l.localQuery(texts, err)
	}
	stmts := make([]*statusdb.Stmt, len(texts))
	errs := make([]error, len(texts))
	relayed := 0
	defer func() { l.declaring = nil }()
	changes := l.pathChanges(sql)
	if changes != nil && len(changes) != len(texts) {
		changes = nil // not what PostgreSQL would run: its error comes first
	}
	// Each statement sees the path the ones before it leave, as it would
	// on PostgreSQL (if they fail, it does not run).
	path, tx := l.path, byte(l.ss.txStatus.Load())
	for i, text := range texts {
		stmts[i], errs[i] = l.prepareRemote(text, nil, &path)
		if changes != nil {
			path.apply(changes[i:i+1], tx, false)
			switch changes[i].Kind {
			case statusdb.TxBegin:
				tx = 'T'
			case statusdb.TxCommit, statusdb.TxRollback:
				tx = 'I'
			}
		}
		if errs[i] == nil {
			errs[i] = stmts[i].ParameterError(true)
		}
		if errors.Is(errs[i], statusdb.ErrNotStatusQuery) {
			relayed++
		} else if d := stmts[i]; d != nil && d.Declare() != nil && len(texts) > 1 {
			// Its FETCH, MOVE and CLOSE later in the string are ours.
			if l.declaring == nil {
				l.declaring = make(map[string]bool)
			}
			l.declaring[d.Declare().Name] = true
		}
	}
	l.implicit = len(texts) > 1
	defer func() { l.implicit = false }()
	if err == nil && len(texts) > 0 && relayed == len(texts) {
		// Not ours after all (the name appeared in a string, say).
		if changes != nil {
			return l.relayWatched(msg, changes)
		}
		return l.ss.relayMessage(msg)
	}
	failed := true
	switch {
	case err != nil:
		l.out = sqlError(err).Append(l.out)
	case relayed > 0 && l.ss.server != nil && changes != nil:
		if err := l.waitIdle(); err != nil {
			return err
		}
		before := byte(l.ss.txStatus.Load())
		if err := l.mixedQuery(stmts, errs, texts); err != nil {
			return err
		}
		return l.followPath(changes, before)
	case relayed > 0 && l.ss.server != nil:
		return l.mixedQuery(stmts, errs, texts)
	case relayed > 0:
		l.out = (&Error{Severity: "ERROR", Code: "0A000", Message: "helios_proxy statements cannot be combined with backend statements in one query string",
			Hint: "Send the helios_proxy statements in a query of their own."}).Append(l.out)
	case byte(l.ss.txStatus.Load()) == 'E':
		l.out = errAborted.Append(l.out)
	case len(texts) == 0:
		failed = false
		l.out = wire.AppendMessageOf(l.out, &pgproto3.EmptyQueryResponse{})
	default:
		failed = false
		events := false
		for _, st := range stmts {
			events = events || st != nil && st.ReadsEvents()
		}
		in, release := l.input(events)
		defer release()
		for i, st := range stmts {
			err := errs[i]
			if err == nil {
				err = l.result(st, in, nil, nil, nil, true)
			}
			if err != nil {
				// As in PostgreSQL, an error ends the query string.
				l.out = sqlError(err).Append(l.out)
				failed = true
				break
			}
		}
	}
	return l.ready(failed)
}

// errAborted answers statements in a failed transaction block.
var errAborted = &Error{Severity: "ERROR", Code: "25P02", Message: "current transaction is aborted, commands ignored until end of transaction block"}

// ready ends a request answered here with ReadyForQuery; after an error,
// a transaction block is aborted first, the backend's part included, as
// PostgreSQL aborts it.
func (l *localState) ready(failed bool) error {
	if failed {
		if err := l.ss.abortTransaction(); err != nil {
			return err
		}
	}
	if l.sess != nil {
		if tx := byte(l.ss.txStatus.Load()); tx == 'I' || tx == 0 {
			l.sess.EndTransaction(!failed) // the implicit transaction
		}
		// PostgreSQL reports changed settings just before ReadyForQuery.
		for _, p := range l.sess.Changes() {
			l.out = wire.AppendParameterStatus(l.out, p[0], p[1])
			if p[0] == "TimeZone" {
				l.ss.timeZone.Store(p[1])
			}
		}
	}
	l.out = l.readyForQuery(l.out)
	return l.flush()
}

// errStatusOnly answers other statements on the status database.
var errStatusOnly = &Error{Severity: "ERROR", Code: "0A000", Message: "the helios_proxy database answers only queries on the helios_proxy schema",
	Hint: "Connect to another database to reach a backend."}

// localQuery answers a simple-protocol Query on the status database, one
// statement after the other as PostgreSQL does: an error ends the query
// string, the statements of a string with several run in one implicit
// transaction.
func (l *localState) localQuery(texts []string, err error) error {
	if err != nil {
		l.out = sqlError(err).Append(l.out)
		return l.ready(true)
	}
	if len(texts) == 0 {
		l.out = wire.AppendMessageOf(l.out, &pgproto3.EmptyQueryResponse{})
		return l.ready(false)
	}
	var in statusdb.Input
	release := func() {}
	defer func() { release() }()
	for _, text := range texts {
		st, err := l.prepare(text, nil)
		if err == nil {
			err = st.ParameterError(true)
		}
		if err == nil && byte(l.ss.txStatus.Load()) == 'E' && !l.exits(st) {
			err = errAborted
		}
		if err == nil {
			if in.Now.IsZero() && !st.Control() {
				in, release = l.input(st.ReadsEvents())
			}
			err = l.run(st, in, nil, nil, nil, true, len(texts) > 1)
		}
		if err != nil {
			l.out = sqlError(err).Append(l.out)
			return l.ready(true)
		}
	}
	return l.ready(false)
}

// run executes a statement on the status database, transaction control
// included; implicit says it runs in the implicit transaction block of a
// Query string with several statements.
func (l *localState) run(st *statusdb.Stmt, in statusdb.Input, params [][]byte, paramFormats, resultFormats []int16, describe, implicit bool) error {
	tx := byte(l.ss.txStatus.Load())
	if st.Empty() {
		l.out = wire.AppendMessageOf(l.out, &pgproto3.EmptyQueryResponse{})
		return nil
	}
	l.sess.StartStatement()
	if sp := st.Savepoint(); sp.Kind != "" {
		return l.savepoint(sp, tx, implicit)
	}
	if st.Control() {
		return l.control(st, tx)
	}
	l.sess.InBlock = tx == 'T' || implicit
	l.implicit = implicit
	defer func() { l.implicit = false }()
	if err := l.result(st, in, params, paramFormats, resultFormats, describe); err != nil {
		return err
	}
	if st.Tag() == "DISCARD ALL" {
		// DISCARD ALL also deallocates every prepared statement and
		// closes every portal and cursor.
		clear(l.stmts)
		clear(l.portals)
		clear(l.cursors)
	}
	return nil
}

// control answers transaction control and DEALLOCATE on the status
// database in transaction status tx.
func (l *localState) control(st *statusdb.Stmt, tx byte) error {
	sql := st.SQL()
	tc, ok := transactionControl(sql, tx)
	switch {
	case !ok && tx == 'E':
		return errAborted
	case !ok:
		return errStatusOnly
	case tc.err != nil:
		return tc.err
	}
	if strings.HasPrefix(tc.tag, "DEALLOCATE") {
		if err := l.deallocate(sql); err != nil {
			return err
		}
	}
	if tc.warning != nil {
		l.out, _ = tc.warning.Encode(l.out)
	}
	if tc.after == 'I' && tx != 'I' {
		l.sess.EndTransaction(tc.tag == "COMMIT")
		l.endTransaction(tc.tag == "COMMIT")
	}
	if tc.after == 'T' && tx != 'E' {
		// BEGIN's transaction modes; PostgreSQL sets them inside a
		// block too, after its warning.
		if err := l.sess.StartTransaction(st); err != nil {
			return err
		}
	}
	l.ss.txStatus.Store(uint32(tc.after))
	l.out, _ = (&pgproto3.CommandComplete{CommandTag: []byte(tc.tag)}).Encode(l.out)
	return nil
}

// savepoint answers SAVEPOINT, RELEASE and ROLLBACK TO on the status
// database as PostgreSQL does in transaction status tx: they need a
// transaction block; ROLLBACK TO is the way out of a failed one, back to
// the savepoint's settings.
func (l *localState) savepoint(sp statusdb.SavepointOp, tx byte, implicit bool) error {
	if tx == 'E' && sp.Kind != "ROLLBACK TO" {
		return errAborted
	}
	if tx != 'T' && tx != 'E' || implicit && tx == 'I' {
		what := sp.Kind
		if what != "SAVEPOINT" {
			what += " SAVEPOINT"
		}
		return &Error{Severity: "ERROR", Code: "25P01", Message: what + " can only be used in transaction blocks"}
	}
	tag := sp.Kind
	switch sp.Kind {
	case "SAVEPOINT":
		l.sess.Savepoint(sp.Name)
	case "RELEASE":
		if !l.sess.Release(sp.Name) {
			return &Error{Severity: "ERROR", Code: "3B001", Message: "savepoint \"" + sp.Name + "\" does not exist"}
		}
	case "ROLLBACK TO":
		if !l.sess.RollbackTo(sp.Name) {
			return &Error{Severity: "ERROR", Code: "3B001", Message: "savepoint \"" + sp.Name + "\" does not exist"}
		}
		tag = "ROLLBACK"
		l.ss.txStatus.Store('T')
	}
	l.out, _ = (&pgproto3.CommandComplete{CommandTag: []byte(tag)}).Encode(l.out)
	return nil
}

// deallocate drops the prepared statement DEALLOCATE names, or all of them.
func (l *localState) deallocate(sql string) error {
	name, all, ok := deallocateTarget(sql)
	if all {
		clear(l.stmts)
		return nil
	}
	if _, has := l.stmts[name]; !ok || !has {
		return &Error{Severity: "ERROR", Code: "26000", Message: "prepared statement \"" + name + "\" does not exist"}
	}
	delete(l.stmts, name)
	return nil
}

// snapshotBufs holds *[]status.Backend for the snapshots of status
// queries.
var snapshotBufs sync.Pool

// input is the state the proxy's answers are computed from, with the
// event history when events; release gives its memory back once the
// answer is encoded.
func (l *localState) input(events bool) (in statusdb.Input, release func()) {
	s := l.ss.s
	name, _ := l.ss.timeZone.Load().(string)
	if name != l.tzName || l.tz == nil {
		l.tzName, l.tz = name, statusdb.LoadZone(name)
	}
	buf, _ := snapshotBufs.Get().(*[]status.Backend)
	if buf == nil {
		buf = new([]status.Backend)
	}
	sess := l.sess
	if sess == nil {
		if sess = l.mirror(); sess != nil {
			sess.InBlock = byte(l.ss.txStatus.Load()) == 'T'
		}
	}
	in = statusdb.Input{Snapshot: s.snapshotInto(*buf), Now: s.clock.Now(), TimeZone: l.tz, Session: sess}
	if events {
		in.Events = s.Events(0)
	}
	return in, func() {
		*buf = in.Snapshot.Backends
		snapshotBufs.Put(buf)
	}
}

// mirror is, for a status statement on a backend database, a status
// session with the settings the proxy's answer must follow as the client
// set them: DateStyle, IntervalStyle and TimeZone as the backend last
// reported them, extra_float_digits from the startup message (as JDBC
// sends it). Nil if they are not valid there. It is made again only when
// the backend reports other values (loading a time zone reads a file).
func (l *localState) mirror() *statusdb.Session {
	ss := l.ss
	var reported [3]string
	for i, v := range [...]*atomic.Value{&ss.timeZone, &ss.dateStyle, &ss.intervals} {
		reported[i], _ = v.Load().(string)
	}
	if l.mirrored != nil && reported == l.mirroredFrom {
		return l.mirrored
	}
	settings := map[string]string{}
	if v, ok := ss.params["extra_float_digits"]; ok {
		settings["extra_float_digits"] = v
	}
	for i, name := range [...]string{"TimeZone", "DateStyle", "IntervalStyle"} {
		if reported[i] != "" {
			settings[name] = reported[i]
		}
	}
	sess, err := statusdb.NewSession(ss.params["user"], ss.params["database"], int32(ss.pid), settings)
	if err != nil {
		sess = nil
	}
	l.mirrored, l.mirroredFrom = sess, reported
	return sess
}

// result appends a statement's rows: RowDescription first when
// describe, then DataRows and CommandComplete.
func (l *localState) result(st *statusdb.Stmt, in statusdb.Input, params [][]byte, paramFormats, resultFormats []int16, describe bool) error {
	switch {
	case st.Declare() != nil:
		return l.declareCursor(st, in, params, paramFormats)
	case st.Fetch() != nil:
		return l.cursorCommand(st.Fetch(), describe)
	case st.Copy() != nil:
		return l.copyOut(st.Copy(), in, params, paramFormats)
	}
	cols := st.Columns()
	formats := columnFormats(len(cols), resultFormats)
	if err := st.Check(in); err != nil {
		return err
	}
	if describe && st.ReturnsRows() {
		// PostgreSQL describes the rows before it runs the statement: an
		// error while running comes after the RowDescription.
		l.out = rowDescription(l.out, cols, formats)
	}
	out, rows, err := st.AppendDataRows(l.out, in, params, paramFormats, formats)
	if err != nil {
		l.out = out // the rows sent before the error, as PostgreSQL sends them
		return err
	}
	if in.Session != nil {
		for _, n := range in.Session.Notices() {
			out, _ = (&pgproto3.NoticeResponse{Severity: n.Severity, SeverityUnlocalized: n.Severity, Code: n.Code, Message: n.Message}).Encode(out)
		}
	}
	l.out, _ = (&pgproto3.CommandComplete{CommandTag: []byte(st.CommandTag(rows))}).Encode(out)
	return nil
}

func (l *localState) bind(body []byte) error {
	var m pgproto3.Bind
	if err := m.Decode(body); err != nil {
		return &Error{Severity: "ERROR", Code: codeProtocolViolation, Message: "invalid Bind message"}
	}
	st, ok := l.stmts[m.PreparedStatement]
	if !ok {
		return &Error{Severity: "ERROR", Code: "26000", Message: "prepared statement \"" + m.PreparedStatement + "\" does not exist"}
	}
	if err := st.CheckParams(m.Parameters, m.ParameterFormatCodes); err != nil {
		return err
	}
	p := &localPortal{stmt: st, paramFormats: append([]int16(nil), m.ParameterFormatCodes...), resultFormats: append([]int16(nil), m.ResultFormatCodes...)}
	for _, v := range m.Parameters {
		if v == nil {
			p.params = append(p.params, nil)
		} else {
			p.params = append(p.params, bytes.Clone(v))
		}
	}
	if l.portals == nil {
		l.portals = make(map[string]*localPortal)
	}
	l.expire()
	p.ready = l.seen
	l.portals[m.DestinationPortal] = p
	l.out = wire.AppendMessageOf(l.out, &pgproto3.BindComplete{})
	return nil
}

func (l *localState) describe(body []byte) error {
	name, _ := wire.CString(body[1:])
	if body[0] == 'S' {
		st, ok := l.stmts[string(name)]
		if !ok {
			return &Error{Severity: "ERROR", Code: "26000", Message: "prepared statement \"" + string(name) + "\" does not exist"}
		}
		l.out, _ = (&pgproto3.ParameterDescription{ParameterOIDs: st.ParamOIDs()}).Encode(l.out)
		l.out = rowDescription(l.out, l.columns(st), columnFormats(len(l.columns(st)), nil))
		return nil
	}
	l.expire()
	p, ok := l.portals[string(name)]
	if !ok {
		return &Error{Severity: "ERROR", Code: "34000", Message: "portal \"" + string(name) + "\" does not exist"}
	}
	l.out = rowDescription(l.out, l.columns(p.stmt), columnFormats(len(l.columns(p.stmt)), p.resultFormats))
	return nil
}

// columns are a statement's result columns for Describe: a FETCH's are
// its cursor's, if it exists, as PostgreSQL describes them.
func (l *localState) columns(st *statusdb.Stmt) []statusdb.Column {
	if f := st.Fetch(); f != nil {
		if c := l.cursors[f.Name]; c != nil && !f.Move && !f.Close {
			return c.rows.cols
		}
		return nil
	}
	return st.Columns()
}

func (l *localState) execute(body []byte) error {
	name, rest := wire.CString(body)
	l.expire()
	p, ok := l.portals[string(name)]
	if !ok {
		return &Error{Severity: "ERROR", Code: "34000", Message: "portal \"" + string(name) + "\" does not exist"}
	}
	if l.sess != nil && (p.stmt.Control() || p.stmt.Empty()) {
		return l.run(p.stmt, statusdb.Input{}, nil, nil, nil, false, false)
	}
	var max int32
	if len(rest) >= 4 {
		max = int32(binary.BigEndian.Uint32(rest))
	}
	if plain := p.stmt.Tag() == "SELECT" || p.stmt.Tag() == "EXPLAIN" || p.stmt.Tag() == "SHOW"; plain && (max > 0 || p.rows != nil || p.done) {
		if p.done {
			// Run to its end already: PostgreSQL's portal returns no more.
			l.out = wire.AppendMessageOf(l.out, &pgproto3.CommandComplete{CommandTag: []byte(p.stmt.CommandTag(0))})
			return nil
		}
		var in statusdb.Input
		if p.rows == nil {
			var release func()
			in, release = l.input(p.stmt.ReadsEvents())
			defer release()
		}
		if l.sess != nil {
			l.sess.StartStatement()
		}
		return l.executeLimited(p, in, max)
	}
	in, release := l.input(p.stmt.ReadsEvents())
	defer release()
	defer func() { p.done = p.stmt.ReturnsRows() }()
	if l.sess != nil {
		return l.run(p.stmt, in, p.params, p.paramFormats, p.resultFormats, false, false)
	}
	return l.result(p.stmt, in, p.params, p.paramFormats, p.resultFormats, false)
}

// columnFormats expands a Bind's result format codes to one per column.
func columnFormats(n int, codes []int16) []int16 {
	out := make([]int16, n)
	if len(codes) == 1 {
		for i := range out {
			out[i] = codes[0]
		}
	} else if len(codes) == n {
		copy(out, codes)
	}
	return out
}

func rowDescription(dst []byte, cols []statusdb.Column, formats []int16) []byte {
	if len(cols) == 0 {
		return wire.AppendMessageOf(dst, &pgproto3.NoData{})
	}
	rd := pgproto3.RowDescription{Fields: make([]pgproto3.FieldDescription, len(cols))}
	for i, c := range cols {
		rd.Fields[i] = pgproto3.FieldDescription{Name: []byte(c.Name), DataTypeOID: c.OID, DataTypeSize: c.TypeSize(), TypeModifier: c.TypeModifier(), Format: formats[i]}
	}
	out, _ := rd.Encode(dst)
	return out
}

// sqlError is the ERROR-severity response for an error of the status schema.
func sqlError(err error) *Error {
	var se *statusdb.Error
	if errors.As(err, &se) {
		return &Error{Severity: "ERROR", Code: se.Code, Message: se.Message, Detail: se.Detail, Hint: se.Hint, Position: se.Position}
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	return &Error{Severity: "ERROR", Code: "XX000", Message: "internal error answering a helios_proxy query", Err: err}
}

// hasBackend reports whether the session relays statements to a backend
// (the status database's sessions do not).
func (ss *session) hasBackend() bool { return ss.server != nil || ss.pl != nil }

// relayMessage sends a message the proxy looked at and found not to be its
// own to the backend.
func (ss *session) relayMessage(msg []byte) error {
	if ss.pl != nil {
		if err := ss.remote(msg[0], msg); err != nil {
			return err
		}
		return ss.flushServer()
	}
	return ss.relayCounted(msg)
}
