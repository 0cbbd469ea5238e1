package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/proxy/wire"
	"github.com/heliosdb/heliosproxy/status"
	"github.com/heliosdb/heliosproxy/statusdb"
)

// localState answers the statements on the helios_proxy schema for one
// session, in the simple and the extended protocol. Only the session's
// client-to-server goroutine uses it, except idle, which the other
// direction signals.
type localState struct {
	ss      *session
	stmts   map[string]*statusdb.Stmt // prepared here, by name ("" is the unnamed one)
	portals map[string]*localPortal
	// batch is true while an extended-protocol batch (up to Sync) is
	// answered here; remote while one is relayed.
	batch, remote bool
	failed        bool   // an error in the local batch: skip messages until Sync
	out           []byte // answers not yet written
	idle          chan struct{}
	tzName        string
	tz            *time.Location
}

type localPortal struct {
	stmt          *statusdb.Stmt
	params        [][]byte
	paramFormats  []int16
	resultFormats []int16
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
		return statusdb.Mentions(body)
	case 'S':
		if l.batch {
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
		if statusdb.Mentions(query) || l.batch {
			return true
		}
		delete(l.stmts, string(name))
	case 'B':
		portal, rest := wire.CString(body)
		stmt, _ := wire.CString(rest)
		if _, ok := l.stmts[string(stmt)]; ok || l.batch {
			return true
		}
		delete(l.portals, string(portal))
	case 'D', 'C':
		if len(body) == 0 {
			return false // malformed: the backend answers it
		}
		name, _ := wire.CString(body[1:])
		if l.batch || l.has(body[0], name) {
			return true
		}
	case 'E':
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

// errMixed ends a session whose pipeline mixes statements the proxy answers
// with statements for the backend: their answers could not be put in order.
var errMixed = &Error{Code: "0A000", Message: "a pipeline may not mix helios_proxy statements with backend statements",
	Hint: "Send a Sync between them, or use a separate connection for helios_proxy queries."}

// handle answers one message taken out of the client's stream. msg is
// only valid during the call.
func (l *localState) handle(msg []byte) error {
	typ, body := msg[0], msg[5:]
	if typ == 'Q' {
		return l.query(msg, body)
	}
	if l.remote && typ != 'S' {
		l.ss.clientErr = errMixed
		return errMixed
	}
	if typ == 'P' && !l.batch {
		// Mentions is a cheap filter: the parser decides.
		name, st, err := l.parse(body)
		if errors.Is(err, statusdb.ErrNotStatusQuery) && l.ss.hasBackend() {
			delete(l.stmts, string(name))
			l.remote = true
			return l.ss.relayMessage(msg)
		}
		l.batch = true
		if err == nil && byte(l.ss.txStatus.Load()) == 'E' {
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
		return nil // discarded until Sync, as PostgreSQL does
	}
	var err error
	switch {
	case (typ == 'D' || typ == 'C') && !validTarget(body):
		l.fail(&Error{Severity: "ERROR", Code: codeProtocolViolation, Message: "invalid " + messageName(typ) + " message"})
		return nil
	case byte(l.ss.txStatus.Load()) == 'E' && typ != 'C' && typ != 'H':
		// Parse, Bind, Describe and Execute fail in an aborted
		// transaction block; only what ends it runs (on the backend).
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
			err = errMixed
			if !l.ss.hasBackend() {
				err = errStatusOnly
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
		return l.flush()
	}
	if err != nil {
		if err == errMixed {
			l.ss.clientErr = errMixed
			return errMixed
		}
		l.fail(err)
	}
	return nil
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
	st, err = l.ss.s.statusDB.PrepareTyped(string(query), oids)
	return name, st, err
}

func (l *localState) setStmt(name string, st *statusdb.Stmt) {
	if l.stmts == nil {
		l.stmts = make(map[string]*statusdb.Stmt)
	}
	l.stmts[name] = st
}

// fail appends an ErrorResponse and skips the batch's rest until Sync.
func (l *localState) fail(err error) {
	l.out = sqlError(err).errorResponse(l.out)
	l.failed = true
}

func (l *localState) sync() error {
	failed := l.failed
	l.batch, l.failed = false, false
	return l.ready(failed)
}

func (l *localState) readyForQuery(dst []byte) []byte {
	st := byte(l.ss.txStatus.Load())
	if st == 0 {
		st = 'I'
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
	for !l.ss.pending.empty() {
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
	if l.batch || l.remote {
		l.ss.clientErr = errMixed
		return errMixed
	}
	sql, _ := wire.CString(body)
	db := l.ss.s.statusDB
	texts, err := db.Split(string(sql))
	stmts := make([]*statusdb.Stmt, len(texts))
	errs := make([]error, len(texts))
	relayed := 0
	for i, text := range texts {
		stmts[i], errs[i] = db.Prepare(text)
		if errors.Is(errs[i], statusdb.ErrNotStatusQuery) {
			relayed++
		}
	}
	if err == nil && len(texts) > 0 && relayed == len(texts) && !l.ss.hasBackend() {
		return l.statusDatabaseOnly(texts)
	}
	if err == nil && len(texts) > 0 && relayed == len(texts) {
		// Not ours after all (the name appeared in a string, say).
		return l.ss.relayMessage(msg)
	}
	failed := true
	switch {
	case err != nil:
		l.out = sqlError(err).errorResponse(l.out)
	case relayed > 0:
		l.out = (&Error{Severity: "ERROR", Code: "0A000", Message: "helios_proxy statements cannot be combined with backend statements in one query string",
			Hint: "Send the helios_proxy statements in a query of their own."}).errorResponse(l.out)
	case byte(l.ss.txStatus.Load()) == 'E':
		l.out = errAborted.errorResponse(l.out)
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
				l.out = sqlError(err).errorResponse(l.out)
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
	l.out = l.readyForQuery(l.out)
	return l.flush()
}

// errStatusOnly answers other statements on the status database.
var errStatusOnly = &Error{Severity: "ERROR", Code: "0A000", Message: "the helios_proxy database answers only queries on the helios_proxy schema",
	Hint: "Connect to another database to reach a backend."}

// statusDatabaseOnly answers a Query without helios_proxy statements on the
// status database: transaction control is acknowledged, anything else is
// refused.
func (l *localState) statusDatabaseOnly(texts []string) error {
	tx := byte(l.ss.txStatus.Load())
	failed := false
	for _, text := range texts {
		tc, ok := transactionControl(text, tx)
		if !ok {
			failed = true
			if tx == 'E' {
				l.out = errAborted.errorResponse(l.out)
			} else {
				l.out = errStatusOnly.errorResponse(l.out)
			}
			break
		}
		if tc.err != nil {
			failed = true
			l.out = tc.err.errorResponse(l.out)
			break
		}
		if tc.warning != nil {
			l.out, _ = tc.warning.Encode(l.out)
		}
		tx = tc.after
		l.out, _ = (&pgproto3.CommandComplete{CommandTag: []byte(tc.tag)}).Encode(l.out)
	}
	l.ss.txStatus.Store(uint32(tx))
	return l.ready(failed)
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
		tz, err := time.LoadLocation(name)
		if err != nil || name == "" {
			tz = time.UTC
		}
		l.tzName, l.tz = name, tz
	}
	buf, _ := snapshotBufs.Get().(*[]status.Backend)
	if buf == nil {
		buf = new([]status.Backend)
	}
	in = statusdb.Input{Snapshot: s.snapshotInto(*buf), Now: s.clock.Now(), TimeZone: l.tz}
	if events {
		in.Events = s.Events(0)
	}
	return in, func() {
		*buf = in.Snapshot.Backends
		snapshotBufs.Put(buf)
	}
}

// result appends a statement's rows: RowDescription first when
// describe, then DataRows and CommandComplete.
func (l *localState) result(st *statusdb.Stmt, in statusdb.Input, params [][]byte, paramFormats, resultFormats []int16, describe bool) error {
	cols := st.Columns()
	formats := columnFormats(len(cols), resultFormats)
	start := len(l.out)
	if describe {
		l.out = rowDescription(l.out, cols, formats)
	}
	out, rows, err := st.AppendDataRows(l.out, in, params, paramFormats, formats)
	if err != nil {
		l.out = l.out[:start]
		return err
	}
	l.out, _ = (&pgproto3.CommandComplete{CommandTag: []byte(st.Tag() + " " + strconv.Itoa(rows))}).Encode(out)
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
		l.out = rowDescription(l.out, st.Columns(), columnFormats(len(st.Columns()), nil))
		return nil
	}
	p, ok := l.portals[string(name)]
	if !ok {
		return &Error{Severity: "ERROR", Code: "34000", Message: "portal \"" + string(name) + "\" does not exist"}
	}
	l.out = rowDescription(l.out, p.stmt.Columns(), columnFormats(len(p.stmt.Columns()), p.resultFormats))
	return nil
}

func (l *localState) execute(body []byte) error {
	name, _ := wire.CString(body)
	p, ok := l.portals[string(name)]
	if !ok {
		return &Error{Severity: "ERROR", Code: "34000", Message: "portal \"" + string(name) + "\" does not exist"}
	}
	in, release := l.input(p.stmt.ReadsEvents())
	defer release()
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
		rd.Fields[i] = pgproto3.FieldDescription{Name: []byte(c.Name), DataTypeOID: c.OID, DataTypeSize: c.TypeSize(), TypeModifier: -1, Format: formats[i]}
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
	if msg[0] == 'Q' {
		ss.pending.push(ss.s.clock.Now().UnixNano(), ss.b.br.Current())
	}
	_, err := ss.server.Write(msg)
	return err
}
