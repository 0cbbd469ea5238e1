package session

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/proxy/backend"
	"github.com/heliosdb/heliosproxy/proxy/pool"
	"github.com/heliosdb/heliosproxy/proxy/route"
	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// pooled is the state of a session whose client the proxy authenticated
// itself ([[users]]): its server connections come from pools, per
// transaction in transaction mode, and it survives the loss of a backend.
type pooled struct {
	ctx      context.Context
	user     *pool.User
	database string
	startup  map[string]string // session parameters from the StartupMessage
	readOnly bool              // the startup asked for read-only transactions (session.readOnly)

	mu     sync.Mutex
	sc     *serverConn      // attached connection, nil between transactions in transaction mode
	b      *backend.Backend // sc's backend
	ticket breaker.Ticket
	fresh  bool // ticket not used yet: the attachment's first request takes it
	// admitted: the attachment holds an admission of b's limiter (a
	// transaction in transaction mode), released by detachLocked.
	admitted bool
	busy     bool // messages of a batch without its Sync went to sc
	// lost is the error the client's next request gets: its transaction
	// was lost with its server connection while it was idle in it, or the
	// batch it was sending (the rest of which is skipped up to its Sync).
	// The client goroutine takes it when it attaches a connection next.
	lost *Error
	// locks: in transaction mode, the session may hold session-level
	// advisory locks on sc (its text named their functions,
	// wire.AdvisoryLock): sc stays attached between its transactions
	// until a check (lockQuery, queued before its next request while
	// lockCheck) finds none; locksGen counts the requests that named
	// them, so that a check's answer does not undo a later one's.
	locks     bool
	lockCheck bool
	locksGen  uint32
	// resync: a RESET or DISCARD ALL gave wanted parameters back their
	// session's values (restoreDefaults): the attached connection gets
	// them before the session's next request (carryOn).
	resync   bool
	split    bool // sc was routed by the read/write split: read-only
	mayWrite bool // a request that may write ran on sc (not one the split routed)
	// settings: the request routing last looked at only sets or shows a
	// session setting (settingsRequest): it writes nothing, so it does
	// not set mayWrite. Written and read by the client's goroutine.
	settings bool
	wroteAt  time.Time         // when the last one that may have written was given back; zero if none
	wanted   map[string]string // session parameters carried to every server connection
	// wantedKey is wanted in canonical form (paramsKey): a connection
	// whose serverConn.synced equals it has them all (syncParams).
	wantedKey string
	// lastFailed says the request the last ReadyForQuery ended met an
	// error (or was lost with its connection): the search_path changes
	// it made did not happen (localpath.go).
	lastFailed bool
	stmts      map[string]*pool.Statement // the client's prepared statements by name
	// beginStep: how much of a bare BEGIN that starts the attachment's
	// transaction in transaction mode, as its only request, or of a
	// ROLLBACK, has been queued (noteBegin; beginSQL, its command tag beginTag, sent
	// in the extended protocol, its portal described; beginFlushes: its
	// connection reader's flushes then). owed: such a BEGIN, lost with
	// its connection unanswered, was answered by the proxy, and the next
	// attachment runs it first (beginlost.go).
	beginStep      int
	beginSQL       []byte
	beginTag       string
	beginExtended  bool
	beginDescribed bool
	beginFlushes   uint64
	owed           bool
	// looped: the startup's server connection was read by an event loop,
	// so the client's may be too (adoptClient).
	looped bool

	// Only the client goroutine uses these (or the loop that relays the
	// client, in its place).
	skip bool   // an error was answered mid-batch: drop messages until Sync
	out  []byte // messages for sc not written yet
	// pool is the pool of the session's key on backend poolB, the last
	// attached from: the next attachment to the same backend finds it
	// without the proxy's map and its lock (pools are never removed).
	pool  *connPool
	poolB *backend.Backend
}

// carried are the parameters PostgreSQL reports that a session may change
// and the proxy carries from one server connection to the next (besides
// every parameter of the client's StartupMessage).
var carried = []string{"application_name", "client_encoding", "DateStyle", "IntervalStyle", "TimeZone",
	"standard_conforming_strings", "default_transaction_read_only"}

// isParamName reports whether k can be a parameter's name in a SET: a
// letter or underscore, then letters, digits, underscores and dots.
func isParamName(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '.'):
		default:
			return false
		}
	}
	return k != ""
}

// replication reports whether a StartupMessage's replication parameter
// asks for a walsender (physical: true, on, yes, 1; logical: database),
// which speaks the replication protocol a pooled connection cannot.
func replication(v string) bool {
	switch strings.ToLower(v) {
	case "", "false", "off", "no", "0":
		return false
	}
	return true
}

// closedStmt is a statement name no server has: closing it is a no-op
// that PostgreSQL still answers with CloseComplete.
var closedStmt = []byte("helios_closed\x00")

// servePooled runs a [[users]] session: the proxy authenticates the
// client, answers its startup from a pooled connection, and relays.
func (ss *session) servePooled(ctx context.Context, log *clientLog, u *pool.User) {
	pl := &pooled{ctx: ctx, user: u, database: ss.params["database"], startup: make(map[string]string), stmts: make(map[string]*pool.Statement),
		readOnly: ss.readOnly()}
	if pl.database == "" {
		pl.database = u.Config.Name
	}
	// The options' settings first, then the other parameters: PostgreSQL's
	// order, a parameter given both ways taking the latter's value.
	settings, optErr := optionSettings(ss.params["options"])
	for _, kv := range settings {
		pl.startup[kv[0]] = kv[1]
	}
	for k, v := range ss.params {
		switch k {
		case "user", "database", "replication", "options":
		default:
			if isParamName(k) {
				pl.startup[k] = v
			}
		}
	}
	ss.pl = pl
	defer ss.endPooled()
	if err := ss.servable(); err != nil {
		ss.refuse(log, err)
		return
	}
	ss.mimicBackendLogin(ctx)
	if err := ss.authenticateClient(u); err != nil {
		ss.refuse(log, err)
		return
	}
	if optErr != nil {
		// After the authentication, as PostgreSQL reports it.
		ss.refuse(log, optErr)
		return
	}
	if replication(ss.params["replication"]) {
		ss.refuse(log, &Error{Code: codeFeatureNotSupp, Message: "replication connections are not pooled",
			Hint: "Connect as a role that is not in [[users]]: its session is relayed to the backend as it is."})
		return
	}
	// Counted from its login on: min_pool_size keeps connections only for
	// the pools of a user and database with clients.
	defer ss.s.pools.join(pool.Key{User: u.Config.Name, Database: pl.database})()
	// A plain client's socket goes to a loop now, before anything can
	// write to it; the loop reads it once the relay starts (pooledOnLoop).
	lc := ss.adoptClient()
	if err := ss.pooledStartup(); err != nil {
		lc.handBack()
		ss.refuse(log, err)
		return
	}
	ss.cs.MaxBody = ss.s.maxBody
	ss.authenticated()
	_ = ss.client.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { _ = ss.client.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	ss.local.startPath(ss.params)
	if !pl.looped {
		// Its server connections are read by goroutines (not adopted): on the
		// loop, the client would hand every request over.
		lc.handBack()
		lc = nil
	}
	run := ss.pooledClient
	if lc != nil {
		run = func() error { return ss.pooledOnLoop(lc) }
	}
	err := ss.recovered(run)
	ss.markStopped()
	switch {
	case ss.clientErr != nil:
		ss.fail(ss.clientErr)
		log.Info("client protocol violation; session closed", "session_id", ss.pid, "err", ss.clientErr)
	case ctx.Err() != nil:
		ss.fail(&Error{Code: codeAdminShutdown, Message: "terminating connection: the proxy is shutting down"})
	case err != nil && !errors.Is(err, errTerminated):
		log.Debug("pooled session ended", "session_id", ss.pid, "err", err)
	}
}

// servable refuses a pooled login before its password is asked for when
// no backend can take the session (every circuit open): as a pass-through
// login is refused, and as PostgreSQL refuses logins with 57P03 while it
// cannot serve them, so that pg_isready -U <a [[users]] role> says
// "rejecting connections", not "accepting connections". A session that
// may wait for a primary (route.ErrNoPrimary) goes on: it waits where it
// attaches.
func (ss *session) servable() error {
	b, t, err := ss.s.router.Route(ss.pl.readOnly, nil)
	if err != nil {
		if errors.Is(err, route.ErrNoPrimary) {
			return nil
		}
		return err
	}
	(&routed{b: b, t: t}).undo()
	return nil
}

// refuse ends a session that could not start with err: the client is told
// unless it already was (the backend's own refusal) or cannot be.
func (ss *session) refuse(log *clientLog, err error) {
	if ss.evicted.Load() {
		err = errEvicted
	}
	if !errors.Is(err, errRefused) && (!errors.Is(err, errClient) || errors.Is(err, wire.ErrProtocol) || errors.Is(err, wire.ErrMemory)) {
		ss.fail(err)
	}
	log.Info("session refused", "user", ss.params["user"], "err", err)
}

// pooledStartup attaches a server connection, carries the client's
// session parameters to it, and answers the client's startup with them.
func (ss *session) pooledStartup() error {
	pl := ss.pl
	if pl.user.TxMode {
		if out, looped, ok := ss.knownWelcome(); ok {
			pl.looped = looped
			return ss.welcome(out)
		}
	}
	done := make(chan string, 1)
	if err := ss.attachPooled(done, 0, nil); err != nil {
		return err
	}
	if err := ss.flushServer(); err != nil {
		return err
	}
	var msg string
	select {
	case msg = <-done: // synced already, or needs no wait (syncParams)
	default:
		t := time.NewTimer(ss.s.connectTimeout)
		defer t.Stop()
		select {
		case msg = <-done:
		case <-t.C:
			return &Error{Code: codeConnectionFailure, Message: "backend did not accept the session parameters in time"}
		}
	}
	var out []byte
	pl.mu.Lock()
	if pl.sc == nil { // lost: msg is lostMessage, or the loss came after the answer
		pl.mu.Unlock()
		return &Error{Code: codeConnectionFailure, Message: "server connection lost during startup", Hint: "Connect again."}
	}
	if msg != "" {
		// Its parameters are not what the proxy noted: closed, not reused.
		// The client gets the server's refusal, as PostgreSQL would give
		// it (42704 for an unknown parameter, 22023 for a bad value).
		ss.detachLocked(false)
		pl.mu.Unlock()
		code, text := splitOwnError(msg)
		return &Error{Code: cmp.Or(code, "22023"), Message: text}
	}
	_, pl.looped = pl.sc.Net.(*loopConn)
	hot := hotStandby(pl.b)
	for name, v := range pl.sc.Params {
		if !pl.sc.Custom(name) {
			if name == inHotStandby && hot != "" {
				v = hot
			}
			out = wire.AppendParameterStatus(out, name, v)
		}
	}
	pl.busy = false
	if pl.user.TxMode {
		ss.s.pools.noteLogin(pl.sc, pl.startup)
		ss.detachLocked(true)
	}
	pl.mu.Unlock()
	return ss.welcome(out)
}

// welcome ends a pooled login: out (its ParameterStatus messages), the
// session's BackendKeyData and ReadyForQuery.
func (ss *session) welcome(out []byte) error {
	out, _ = (&pgproto3.BackendKeyData{ProcessID: ss.pid, SecretKey: ss.secret[:]}).Encode(out)
	out = wire.AppendReady(out, 'I')
	ss.txStatus.Store('I')
	_, err := ss.client.Write(out)
	return err
}

// pooledClient reads whole client messages and relays them, writing to
// the server once per batch of messages that arrived together.
func (ss *session) pooledClient() error {
	for {
		typ, msg, err := ss.cs.Message()
		if err != nil {
			if errors.Is(err, wire.ErrProtocol) || errors.Is(err, wire.ErrMemory) {
				ss.clientErr = err
			}
			return err
		}
		if err := ss.pooledMessage(typ, msg); err != nil {
			return err
		}
		if !ss.cs.Complete() {
			if err := ss.flushServer(); err != nil {
				return err
			}
		}
	}
}

func (ss *session) pooledMessage(typ byte, msg []byte) error {
	switch {
	case typ == 'X':
		ss.terminated.Store(true)
		return errTerminated
	case ss.local.answers(typ, msg[5:]):
		return ss.localMessage(msg)
	}
	return ss.remote(typ, msg)
}

func (ss *session) localMessage(msg []byte) error {
	if err := ss.flushServer(); err != nil {
		return err
	}
	return ss.local.handle(msg)
}

// remote queues a client message for the attached server connection,
// attaching one first, and renames prepared statements.
func (ss *session) remote(typ byte, msg []byte) error {
	return ss.remoteAdmitted(typ, msg, false)
}

// startsRequest reports whether the client message typ starts a request:
// a Query, or the first message of a batch.
func (ss *session) startsRequest(typ byte) bool {
	return typ == 'Q' || strings.IndexByte("PBDEC", typ) >= 0 && !ss.batchUnderWay()
}

// remoteAdmitted is remote; userAdmitted: an event loop admitted the
// request by its role's limits already (remoteNow).
func (ss *session) remoteAdmitted(typ byte, msg []byte, userAdmitted bool) error {
	pl := ss.pl
	if pl.skip {
		if typ == 'S' {
			pl.skip = false
			return ss.writeClient(wire.AppendReady(nil, byte(ss.txStatus.Load())))
		}
		return nil
	}
	if typ == 'Q' {
		if done, err := ss.endOutsideTransaction(msg[5:]); done || err != nil {
			return err
		}
	}
	if !userAdmitted && ss.user() != nil && ss.startsRequest(typ) {
		if e := ss.admitUser(pl.ctx); e != nil {
			return ss.answerError(typ, e)
		}
	}
	return ss.answerAttach(typ, ss.attachPooled(nil, typ, msg))
}

// answerAttach answers the request that starts with the client message
// typ with the error that kept it from a server connection, if any.
func (ss *session) answerAttach(typ byte, err error) error {
	var ce *Error
	if errors.As(err, &ce) {
		return ss.answerError(typ, ce)
	}
	return err
}

// batchUnderWay reports whether messages of a batch without its Sync went
// to the attached connection (pl.busy, which the connection's reader
// clears when it is lost).
func (ss *session) batchUnderWay() bool {
	ss.pl.mu.Lock()
	defer ss.pl.mu.Unlock()
	return ss.pl.busy
}

// queueRemote queues a client message for sc, the attached connection,
// renaming prepared statements; pl.mu is held.
func (ss *session) queueRemote(sc *serverConn, typ byte, msg []byte) {
	pl := ss.pl
	body := msg[5:]
	if pl.beginStep != beginNone || (typ == 'Q' || typ == 'P') && (pl.fresh || byte(ss.txStatus.Load()) != 'I') {
		if pl.beginStep == beginNone {
			pl.beginFlushes = sc.r.flushes.Load()
		}
		ss.noteBegin(typ, body)
	}
	switch typ {
	case 'Q', 'S', 'F':
		if typ == 'Q' {
			if pl.user.TxMode {
				ss.lasting(sc, wire.Lasting(body))
			}
			if ss.deallocates(body, false) {
				msg = wire.AppendMessage(nil, 'Q', deallocateClosed)
			}
		}
		sc.q.push(respEntry{kind: kSync})
		ss.pendingPush()
		pl.busy = false
		pl.out = append(pl.out, msg...)
		return
	case 'P':
		name, def := wire.CString(body)
		if len(name) == 0 {
			if pl.user.TxMode {
				ss.lasting(sc, wire.Lasting(def))
			}
			if ss.deallocates(def, pl.busy) {
				_, types := wire.CString(def)
				msg = wire.AppendMessage(nil, 'P', []byte{0}, deallocateClosed, types)
			}
			sc.q.push(respEntry{kind: kParse})
			pl.out = append(pl.out, msg...)
			break
		}
		ref := ss.s.stmts.Ref(def)
		if old := pl.stmts[string(name)]; old != nil {
			ss.s.stmts.Release(old)
		}
		pl.stmts[string(name)] = ref
		if _, has := sc.stmts[ref.ID]; has {
			// Re-created so that the client gets the answers it expects.
			pl.out = wire.AppendMessage(pl.out, 'C', []byte{'S'}, ref.Parse[5:len(ref.Name)+6])
			sc.q.push(respEntry{kind: kCloseOurs})
		}
		pl.out = append(pl.out, ref.Parse...)
		sc.q.push(respEntry{kind: kParse, id: ref.ID})
		sc.stmts[ref.ID] = struct{}{}
	case 'B':
		portal, rest := wire.CString(body)
		stmt, rest := wire.CString(rest)
		if ref := pl.stmts[string(stmt)]; len(stmt) > 0 && ref != nil {
			if ref.Lasts != 0 && pl.user.TxMode {
				ss.lasting(sc, ref.Lasts)
			}
			ss.ensurePrepared(sc, ref)
			pl.out = wire.AppendMessage(pl.out, 'B', portal, []byte{0}, ref.Parse[5:len(ref.Name)+6], rest)
			break
		}
		pl.out = append(pl.out, msg...)
	case 'D':
		if len(body) > 1 && body[0] == 'S' {
			if ref := pl.stmts[string(body[1:len(body)-1])]; ref != nil {
				ss.ensurePrepared(sc, ref)
				pl.out = wire.AppendMessage(pl.out, 'D', []byte{'S'}, ref.Parse[5:len(ref.Name)+6])
				break
			}
		}
		pl.out = append(pl.out, msg...)
	case 'C':
		sc.q.push(respEntry{kind: kClose})
		if len(body) > 1 && body[0] == 'S' {
			name := string(body[1 : len(body)-1])
			if ref, ok := pl.stmts[name]; ok {
				// Other clients may use the server's statement: leave it.
				delete(pl.stmts, name)
				ss.s.stmts.Release(ref)
				pl.out = wire.AppendMessage(pl.out, 'C', []byte{'S'}, closedStmt)
				break
			}
		}
		pl.out = append(pl.out, msg...)
	case 'd', 'c', 'f':
		// COPY data belongs to the request that started the COPY: it
		// opens no batch of its own.
		if typ != 'd' {
			ss.copyFromClient(typ)
		}
		pl.out = append(pl.out, msg...)
		return
	default:
		pl.out = append(pl.out, msg...)
	}
	pl.busy = true
}

// lasting notes, in transaction mode, what a client's statement on sc may
// leave on it beyond its transaction (l); pl.mu is held. A set_config
// marks sc as a SET does (poolReader.commandTag): syncParams resets it at
// its next attachment. An advisory-lock function keeps sc attached to
// the session (pooled.locks), so that a lock the session takes stays its
// own: the connection's next client would hold it otherwise (and take it
// again without waiting), and the session's unlock would run elsewhere.
func (ss *session) lasting(sc *serverConn, l wire.Lasts) {
	if l&wire.SetsConfig != 0 {
		sc.reset = true
	}
	if l&wire.AdvisoryLock != 0 {
		pl := ss.pl
		pl.locks, pl.lockCheck = true, true
		pl.locksGen++
	}
}

// lockQuery finds whether a server connection's session holds an advisory
// lock (pooled.locks).
const lockQuery = "SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid() LIMIT 1"

// unlockQuery releases them when the session ends on a transaction-mode
// connection that may hold some, before it goes back to its pool.
const unlockQuery = "SELECT pg_catalog.pg_advisory_unlock_all()"

// endOutsideTransaction answers COMMIT or ROLLBACK sent while no
// transaction is open and no connection attached, as PostgreSQL would
// (WARNING 25P01), without a backend: a client cleaning up after an error
// must not get another one because no backend is available. A ROLLBACK
// after the client's transaction was lost with its connection succeeds
// quietly: that transaction is rolled back.
func (ss *session) endOutsideTransaction(body []byte) (bool, error) {
	pl := ss.pl
	pl.mu.Lock()
	if pl.sc != nil || byte(ss.txStatus.Load()) != 'I' {
		pl.mu.Unlock()
		return false, nil
	}
	tag, ok := transactionEnd(body)
	lost := pl.lost != nil
	if !ok || lost && tag != "ROLLBACK" {
		pl.mu.Unlock()
		return false, nil
	}
	pl.lost = nil
	pl.mu.Unlock()
	var out []byte
	if !lost {
		out, _ = (&pgproto3.NoticeResponse{Severity: "WARNING", SeverityUnlocalized: "WARNING", Code: "25P01", Message: "there is no transaction in progress"}).Encode(out)
	}
	out, _ = (&pgproto3.CommandComplete{CommandTag: []byte(tag)}).Encode(out)
	out = wire.AppendReady(out, 'I')
	return true, ss.writeClient(out)
}

// transactionEnd recognizes a Query that is only COMMIT, END, ROLLBACK or
// ABORT (with WORK or TRANSACTION, without AND CHAIN) and returns its
// command tag.
func transactionEnd(body []byte) (string, bool) {
	sql, _ := wire.CString(body)
	// Most queries are not: told apart by their first letter and length
	// before anything is allocated (this runs for every Query between
	// transactions in transaction mode).
	sql = bytes.TrimSpace(sql)
	if len(sql) == 0 || len(sql) > maxTransactionEnd || !strings.ContainsRune("CcEeRrAa", rune(sql[0])) {
		return "", false
	}
	f := strings.Fields(strings.ToUpper(strings.TrimRight(strings.TrimSpace(string(sql)), "; \t\n")))
	if len(f) == 0 || len(f) > 2 || len(f) == 2 && f[1] != "WORK" && f[1] != "TRANSACTION" {
		return "", false
	}
	switch f[0] {
	case "COMMIT", "END":
		return "COMMIT", true
	case "ROLLBACK", "ABORT":
		return "ROLLBACK", true
	}
	return "", false
}

// deallocates follows a client's statement that drops prepared
// statements (DEALLOCATE name, DEALLOCATE ALL, DISCARD ALL; sql is its
// text, from a Query or an unnamed Parse) and reports whether to send
// DEALLOCATE helios_closed in its place (inBatch: a Parse after others
// of a batch without its Sync); pl.mu is held. The client's
// statements are known to the server by the proxy's names
// (pool.Statements, shared with other clients), so DEALLOCATE of a
// client's name would fail there with 26000 (psycopg 3 deallocates that
// way, by an unnamed Parse, what its statement cache evicts): the proxy
// forgets the name and has the server deallocate a statement of its own,
// prepared just before with its answers dropped, so that the client gets
// PostgreSQL's answer in its place: DEALLOCATE, or 25P02 in a failed
// transaction block, where nothing is forgotten. After DEALLOCATE ALL or
// DISCARD ALL, the client's names are forgotten as PostgreSQL forgets
// them: a Bind of one fails with 26000.
func (ss *session) deallocates(sql []byte, inBatch bool) bool {
	sql = bytes.TrimLeft(sql, " \t\r\n")
	if len(sql) == 0 || sql[0]|0x20 != 'd' || len(ss.pl.stmts) == 0 {
		return false
	}
	text, _ := wire.CString(sql)
	name, all, ok := deallocateTarget(string(text))
	tx := byte(ss.txStatus.Load())
	switch {
	case !ok || tx == 'E' || all && name == "DISCARD" && tx != 'I':
		return false
	case all:
		ss.forgetStatements()
		return false
	}
	pl := ss.pl
	ref, has := pl.stmts[name]
	if !has {
		return false
	}
	delete(pl.stmts, name)
	ss.s.stmts.Release(ref)
	if inBatch {
		// A Query would commit what the batch did so far.
		pl.out = append(pl.out, prepareClosed...)
		pl.sc.q.push(respEntry{kind: kParseOurs})
		return true
	}
	ss.queueOurs("PREPARE helios_closed AS SELECT", respEntry{})
	return true
}

// prepareClosed prepares closedStmt in a batch, for deallocates.
var prepareClosed = wire.AppendMessage(nil, 'P', closedStmt, []byte("SELECT\x00"), []byte{0, 0})

// deallocateClosed deallocates the statement deallocates prepares
// (closedStmt: no server keeps it).
var deallocateClosed = []byte("DEALLOCATE helios_closed\x00")

// deallocateTarget reads a Query that is one DEALLOCATE [PREPARE] name,
// DEALLOCATE [PREPARE] ALL or DISCARD ALL statement: the statement's name
// as PostgreSQL folds it, or all (name "DISCARD" for DISCARD ALL).
func deallocateTarget(sql string) (name string, all, ok bool) {
	f := strings.Fields(strings.TrimRight(sql, "; \t\r\n"))
	switch {
	case len(f) == 2 && strings.EqualFold(f[0], "DISCARD") && strings.EqualFold(f[1], "ALL"):
		return "DISCARD", true, true
	case len(f) < 2 || len(f) > 3 || !strings.EqualFold(f[0], "DEALLOCATE") || len(f) == 3 && !strings.EqualFold(f[1], "PREPARE"):
		return "", false, false
	}
	name = f[len(f)-1]
	if strings.EqualFold(name, "ALL") {
		return "", true, true
	}
	name, ok = foldName(name)
	return name, false, ok
}

// foldName is the name an SQL identifier stands for: a quoted one as
// written (doubled quotes undone), another in lower case; ok is false
// for what is not one identifier.
func foldName(id string) (name string, ok bool) {
	if len(id) >= 3 && id[0] == '"' && id[len(id)-1] == '"' {
		return strings.ReplaceAll(id[1:len(id)-1], `""`, `"`), true
	}
	if strings.ContainsAny(id, `";`) {
		return "", false
	}
	return strings.ToLower(id), true
}

// forgetStatements drops the client's prepared statement names; pl.mu is
// held.
func (ss *session) forgetStatements() {
	for name, ref := range ss.pl.stmts {
		ss.s.stmts.Release(ref)
		delete(ss.pl.stmts, name)
	}
}

// maxTransactionEnd is the longest COMMIT or ROLLBACK transactionEnd
// reads ("ROLLBACK TRANSACTION", with room for spaces and semicolons).
const maxTransactionEnd = 64

// ensurePrepared prepares ref on sc first if sc lacks it; pl.mu is held.
func (ss *session) ensurePrepared(sc *serverConn, ref *pool.Statement) {
	if _, ok := sc.stmts[ref.ID]; ok {
		return
	}
	ss.pl.out = append(ss.pl.out, ref.Parse...)
	sc.q.push(respEntry{kind: kParseOurs, id: ref.ID})
	sc.stmts[ref.ID] = struct{}{}
}

// pendingPush notes that a relayed request starts now; pl.mu is held.
func (ss *session) pendingPush() {
	pl := ss.pl
	t := pl.b.Breaker.Current()
	if pl.fresh {
		t, pl.fresh = pl.ticket, false
	}
	ss.pending.Push(ss.s.clock.Now().UnixNano(), t, ss.local.takeReq())
}

// answerError answers a request that could not reach any backend: the
// rest of its batch is skipped up to Sync, as after a backend error. The
// answer follows those the server still owes to the requests before it
// (a pipelining client reads answers in order).
func (ss *session) answerError(typ byte, e *Error) error {
	ss.dropOwedBegin()
	if e.Severity == "" {
		e = &Error{Severity: "ERROR", Code: e.Code, Message: e.Message, Detail: e.Detail, Hint: e.Hint, Err: e.Err}
	}
	if err := ss.flushServer(); err != nil {
		return err
	}
	if err := ss.local.waitIdle(); err != nil {
		return err
	}
	out := e.Append(nil)
	switch typ {
	case 'Q', 'S', 'F':
		out = wire.AppendReady(out, byte(ss.txStatus.Load()))
	default:
		ss.pl.skip = true
	}
	return ss.writeClient(out)
}

// writeClient writes p to the client between the relay's messages.
func (ss *session) writeClient(p []byte) error {
	_, err := ss.writeClientTimed(p)
	return err
}

// writeClientTimed is writeClient returning how long the client took.
func (ss *session) writeClientTimed(p []byte) (time.Duration, error) {
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	return ss.clientWrite(p)
}

// flushServer writes the queued messages to the attached connection.
func (ss *session) flushServer() error {
	sc, out := ss.takeOut()
	if sc == nil {
		return nil
	}
	if lc, ok := sc.Net.(*loopConn); ok {
		// One batch at a time, as a blocking write would: the next waits
		// until the server took the last.
		lc.waitRoom(0)
	}
	if _, err := sc.Net.Write(out); err != nil {
		// The reader sees the broken connection too and tells the client.
		_ = sc.Net.Close()
	}
	return nil
}

// takeOut takes the messages queued for the attached connection, and
// that connection; nil when there are none, or when it was lost meanwhile
// (the client has been told).
func (ss *session) takeOut() (*serverConn, []byte) {
	pl := ss.pl
	if len(pl.out) == 0 {
		return nil, nil
	}
	pl.mu.Lock()
	sc := pl.sc
	pl.mu.Unlock()
	out := pl.out
	pl.out = pl.out[:0]
	return sc, out
}

// attachPooled gives the session a server connection if it has none: the router
// picks a backend, its pool a connection, and the session's parameters
// are queued for it. Failures before anything was sent try another
// backend. done, if not nil, gets the outcome of setting the parameters.
// On success a client message (typ, msg; typ 0 for none) is queued for
// the attached connection under pl.mu, so that the connection cannot be
// given back before the request is queued.
func (ss *session) attachPooled(done chan<- string, typ byte, msg []byte) error {
	pl := ss.pl
	readOnly, split, tried := ss.routing(typ, msg)
	pl.mu.Lock()
	if sc := pl.sc; sc != nil {
		switch ss.carryOn(sc, typ, split) {
		case nextReroute:
			ss.detachLocked(true)
			pl.mu.Unlock()
			return ss.attachRouted(done, typ, msg, readOnly, split, tried, nil)
		case nextKeep:
			if typ != 0 {
				ss.queueRemote(sc, typ, msg)
			}
			pl.mu.Unlock()
			return nil
		}
		// In session mode, its backend was isolated while the session
		// was idle in a transaction: the transaction is aborted, the
		// session goes on elsewhere.
		// In transaction mode, the same for a session kept attached for
		// its advisory locks: they go with the connection.
		inTx := byte(ss.txStatus.Load()) != 'I'
		name, locks := pl.b.Config.Name, pl.locks
		ss.detachLocked(false)
		pl.mu.Unlock()
		if inTx {
			ss.setTxStatus('I')
			return isolatedError(name)
		}
		if locks {
			return locksLostError(name)
		}
	} else {
		lost := pl.lost
		pl.lost = nil
		pl.mu.Unlock()
		// What was queued for a connection detached since belongs to
		// requests answered with its loss.
		pl.out = pl.out[:0]
		if lost != nil {
			return lost
		}
	}
	return ss.attachRouted(done, typ, msg, readOnly, split, tried, nil)
}

// What an attached connection does with the session's next request
// (carryOn).
const (
	nextKeep    = iota // the request is queued on it
	nextReroute        // given back: the read/write split routes the request elsewhere
	nextLeave          // given back: its backend was isolated
)

// carryOn decides what the attached connection sc does with the request
// that starts with the client message typ (0 for none); pl.mu is held.
func (ss *session) carryOn(sc *serverConn, typ byte, split bool) int {
	pl := ss.pl
	inTx := byte(ss.txStatus.Load()) != 'I'
	idle := !inTx && !pl.busy && sc.q.empty() // between transactions, nothing under way on sc
	starts := typ != 0 && idle                // a request starts on sc
	if split != pl.split && pl.user.TxMode && idle && !pl.locks {
		// Its transaction has ended and it is still attached (the
		// reader gives a connection back at the ReadyForQuery that
		// ends a transaction, unless more was queued on it by then):
		// the read/write split routes this one elsewhere.
		return nextReroute
	}
	if starts && !split && !pl.settings {
		pl.mayWrite = true // a request that may write starts on it
	}
	if pl.busy || !sc.q.empty() || inTx && pl.user.TxMode || !sc.Doomed() && pl.b.Breaker.State() != breaker.Open {
		// (An open circuit whose Front.Isolate has not run yet dooms it
		// as well.)
		// In transaction mode a transaction under way finishes where
		// it began (a backend that really failed fails it); its
		// connection is closed when given back.
		if starts && pl.lockCheck {
			// Kept for the session's advisory locks: whether it still
			// holds one is asked before its request.
			pl.lockCheck = false
			ss.queueOurs(lockQuery, respEntry{locks: true, gen: pl.locksGen})
		}
		if starts && pl.resync {
			ss.syncParams(nil)
		}
		return nextKeep
	}
	return nextLeave
}

// attachRouted is attachPooled's routing of a session with no connection
// attached: readOnly, split and tried are routing's. With r from a loop
// (remoteNow), it carries on from where the loop stopped: r.now, on the
// loop itself, where nothing may wait — what would (a wait for a primary,
// the admission queue, a full pool, a new connection, the check of a
// stale one, a connection not on a loop) returns a *wouldWait with the
// routing decided so far, for the session's goroutine to carry on.
func (ss *session) attachRouted(done chan<- string, typ byte, msg []byte, readOnly, split bool, tried []*backend.Backend, r *routed) error {
	if !ss.waiting.Load() {
		// A request starts waiting (not one carried on from a loop): a
		// cancel of an earlier one is forgotten.
		ss.cancelled.Store(false)
		ss.waiting.Store(true)
	}
	err := ss.attachWaiting(done, typ, msg, readOnly, split, tried, r)
	if _, ok := err.(*wouldWait); !ok {
		ss.waiting.Store(false)
	}
	return err
}

// waitContext is the context of the session's waits for a server
// connection on its goroutine: a CancelRequest of the client cancels it
// (wakeWaiting), and the next wait gets a new one.
func (ss *session) waitContext() context.Context {
	if w := ss.waitCtx.Load(); w != nil && w.ctx.Err() == nil {
		return w.ctx
	}
	ctx, cancel := context.WithCancel(ss.pl.ctx)
	ss.waitCtx.Store(&waitCtx{ctx: ctx, cancel: cancel})
	return ctx
}

// waitCtx is a waitContext and its cancel.
type waitCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// wakeWaiting ends the session's wait for a server connection, on its
// goroutine or on a loop, when its client cancels the request that waits.
func (ss *session) wakeWaiting() {
	if w := ss.waitCtx.Load(); w != nil {
		w.cancel()
	}
	if f := ss.withdraw.Load(); f != nil {
		(*f)(pool.ErrWithdrawn)
	}
}

// cancelledWaiting is what a request gets that its client cancelled while
// it waited for a server connection: PostgreSQL's answer to a cancelled
// statement. It never ran.
func cancelledWaiting() *Error {
	return &Error{Severity: "ERROR", Code: codeQueryCanceled, Message: "canceling statement due to user request",
		Detail: "The statement was cancelled while it waited for a server connection; it did not run."}
}

// attachWaiting is attachRouted while the session's request waits
// (session.waiting).
func (ss *session) attachWaiting(done chan<- string, typ byte, msg []byte, readOnly, split bool, tried []*backend.Backend, r *routed) error {
	pl := ss.pl
	var refused route.Refusals
	now := r != nil && r.now
	var await func(*routed)
	if r != nil {
		await = r.await
	}
	var last *backend.Backend // the backend of the attempt before, if any
	for {
		if last != nil {
			tried = append(tried, last) // excluded from now on
		}
		var b *backend.Backend
		var t breaker.Ticket
		var admitted bool
		var sc *serverConn
		var err error
		switch {
		case r != nil && r.b != nil:
			// Carried on from a loop: routed, perhaps admitted, perhaps
			// with the pool's answer to the loop's wait.
			b, t, admitted, sc, err = r.b, r.t, r.admitted, r.sc, r.err
		case now:
			if b, t, err = ss.s.router.RouteNow(readOnly, tried); err != nil {
				return &wouldWait{}
			}
		default:
			if b, t, err = ss.s.router.RouteWait(ss.waitContext(), readOnly, tried, ss.s.config().Backends.PrimaryWaitTimeout.Duration); err != nil {
				if ss.cancelled.Load() {
					return cancelledWaiting()
				}
				return ss.s.router.NoBackend(err, readOnly, &refused)
			}
		}
		carried := r != nil && r.b != nil
		r = nil
		// How far it got: what the session's goroutine carries on with
		// (a *wouldWait made only when it does: none per attachment).
		got := routed{b: b, t: t, admitted: admitted, readOnly: readOnly, split: split, tried: tried}
		last = b
		if pl.user.TxMode && typ != 0 && !admitted {
			// A transaction starts: admitted by its backend's limit until
			// its connection is given back (detachLocked).
			if now && !ss.admitBackendNow(b) {
				return &wouldWait{got}
			}
			if !now {
				if e := ss.admitBackend(ss.waitContext(), b); e != nil {
					got.undo()
					if ss.cancelled.Load() {
						return cancelledWaiting()
					}
					return e
				}
			}
			got.admitted = true
		}
		if pl.poolB != b {
			pl.pool, pl.poolB = ss.s.pools.get(ss.s, b, pool.Key{User: pl.user.Config.Name, Database: pl.database}), b
		}
		p := pl.pool
		var check bool
		switch {
		case carried && now && (err != nil || sc != nil && !ss.loopUsable(sc)):
			got.sc, got.err = sc, err
			return &wouldWait{got}
		case carried && (sc != nil || err != nil):
			check = sc != nil && ss.stale(sc)
		case now:
			var ok bool
			if sc, ok = p.TryGet(ss.loopUsable); ok {
				break
			}
			// A full pool: the loop goes on with the next connection
			// given back (Await), without a goroutine.
			w := &wouldWait{got}
			if await != nil {
				w.awaiting = ss.awaitPool(w, p, await)
			}
			return w
		default:
			if sc, err = p.Get(ss.waitContext()); err == nil {
				check = ss.stale(sc)
			}
		}
		if err != nil {
			got.undo()
			var retry errRetry
			switch {
			case errors.As(err, &retry) || errors.Is(err, pool.ErrIsolated):
				refused.Note(b, err)
				ss.s.log.Info("backend failed before the transaction started; trying another", "backend", b.Config.Name, "session_id", ss.pid, "err", err)
				continue
			case ss.cancelled.Load() && pl.ctx.Err() == nil:
				// The client cancelled the request (its wait withdrawn, or
				// its context cancelled, or the wait ended otherwise).
				return cancelledWaiting()
			case errors.Is(err, pool.ErrQueueTimeout):
				b.Shed(ss.s.config().Pool.QueryWaitTimeout.Duration)
				return &Error{Code: codeTooManyConns, Message: "no server connection available: every connection of the pool is busy",
					Detail: fmt.Sprintf("Waited %s (pool.query_wait_timeout) for a connection to %s.", ss.s.config().Pool.QueryWaitTimeout.Duration, b.Config.Name),
					Hint:   "Retry later, or raise pool.default_pool_size if the backend can take more connections."}
			case pl.ctx.Err() != nil:
				return pl.ctx.Err()
			}
			var ce *Error
			if errors.As(err, &ce) {
				return ce
			}
			return toClient(err)
		}
		if typ != 0 && ss.cancelled.Load() {
			// The client cancelled the request while it waited: it
			// does not run, and the connection goes back unused.
			if now {
				got.sc, got.err = sc, nil
				return &wouldWait{got} // the session's goroutine answers it
			}
			got.undo()
			sc.p.Put(sc, true)
			return cancelledWaiting()
		}
		// Owner and pl.sc change together under pl.mu: a reader that finds
		// its connection dead tells the owner, which must then see it as
		// attached.
		pl.mu.Lock()
		if !sc.owner.CompareAndSwap(nil, ss) {
			// It died in the pool as it was handed out: nothing was sent.
			pl.mu.Unlock()
			got.undo()
			sc.p.Put(sc, false)
			continue
		}
		pl.sc, pl.b, pl.ticket, pl.fresh, pl.busy, pl.split, pl.mayWrite = sc, b, t, true, false, split, typ != 0 && !split && !pl.settings
		pl.admitted = got.admitted
		ss.targetMu.Lock()
		ss.b, ss.serverPID, ss.serverKey = b, sc.PID, sc.Key
		ss.targetMu.Unlock()
		b.Track(ss)
		if check {
			checked := make(chan string, 1)
			ss.queueOurs(";", respEntry{done: checked})
			pl.mu.Unlock()
			if !ss.checkAttached(checked) {
				continue
			}
			pl.mu.Lock()
			if pl.sc != sc {
				pl.mu.Unlock() // lost meanwhile: attach another
				continue
			}
		}
		// Only the connection kept gets the parameters and done: an
		// outcome from one given up could not be told apart.
		ss.syncParams(done)
		if typ != 0 {
			ss.queueOwedBegin()
			ss.queueRemote(sc, typ, msg)
		}
		pl.mu.Unlock()
		return nil
	}
}

// routed is how far a loop got attaching a connection: b and its ticket
// t chosen (nil b: nothing yet), admitted by b's limit or not, and the
// pool's answer to its wait: a connection sc, or err.
type routed struct {
	now             bool // attachRouted runs on a loop
	b               *backend.Backend
	t               breaker.Ticket
	admitted        bool
	sc              *serverConn
	err             error
	readOnly, split bool
	tried           []*backend.Backend
	// await, on a loop, is where the pool's answer goes when the loop
	// waits for a connection of a full pool (pool.Await), from any
	// goroutine; awaiting says it does.
	await    func(*routed)
	awaiting bool
}

// undo gives back what routing took: b's admission, its active count and
// its ticket.
func (r *routed) undo() {
	if r.admitted {
		r.b.Admission.Release()
	}
	r.b.Active.Add(-1)
	r.b.Breaker.Release(r.t)
}

// giveBack undoes r and gives its connection back, unused: the session
// it waited for has ended.
func (r *routed) giveBack() {
	if r.sc != nil {
		r.sc.p.Put(r.sc, true)
	}
	r.undo()
}

// wouldWait is attachRouted's answer on a loop that cannot go on
// without waiting: where the session's goroutine, or the loop when the
// pool answers its wait, carries on.
type wouldWait struct{ routed }

func (*wouldWait) Error() string { return "would wait: for the session's goroutine" }

// awaitPool queues w for p's next connection (Pool.Await), which goes to
// await. A function of its own so that attachRouted's await, which the
// continuation captures, is not on the heap for every attachment.
// A CancelRequest of the session's client withdraws the wait
// (session.wakeWaiting).
func (ss *session) awaitPool(w *wouldWait, p *connPool, await func(*routed)) bool {
	withdraw := p.AwaitWithdrawable(func(m *serverConn, _ bool, err error) {
		ss.withdraw.Store(nil)
		w.sc, w.err = m, err
		await(&w.routed)
	})
	if withdraw == nil {
		return false
	}
	ss.withdraw.Store(&withdraw)
	if ss.cancelled.Load() {
		withdraw(pool.ErrWithdrawn) // cancelled as it queued
	}
	return true
}

// stale reports whether sc was idle longer than pool.server_check_delay:
// it is checked before its first request.
func (ss *session) stale(sc *serverConn) bool {
	idle := sc.IdleSince()
	return !idle.IsZero() && ss.s.clock.Now().Sub(idle) > ss.s.config().Pool.ServerCheckDelay.Duration
}

// routing decides where the transaction that the client message (typ,
// msg) begins may go: read-only if the session asked for that, or if the
// read/write split (pool.read_write_split, transaction mode) finds the
// request read-only (readOnlyRequest) — then without the replicas that may
// not have replayed the session's last transaction that may have written
// (read-your-writes: Host.Replayed), which exclude lists.
func (ss *session) routing(typ byte, msg []byte) (readOnly, split bool, exclude []*backend.Backend) {
	pl := ss.pl
	pl.settings = false
	if pl.readOnly {
		return true, false, nil
	}
	if typ == 0 || !pl.user.TxMode || !ss.s.config().Pool.ReadWriteSplit || byte(ss.txStatus.Load()) != 'I' {
		return false, false, nil
	}
	if !readOnlyRequest(msg, ss.cs.Peek(), pl.stmts) {
		pl.settings = settingsRequest(msg, ss.cs.Peek(), pl.stmts)
		return false, false, nil
	}
	pl.mu.Lock() // the reader sets wroteAt when it gives a connection back
	wrote := pl.wroteAt
	pl.mu.Unlock()
	if !wrote.IsZero() {
		for _, b := range ss.s.router.Backends() {
			if b.Roles().Role == backend.RoleReplica && !ss.s.host.Replayed(b, wrote) {
				exclude = append(exclude, b)
			}
		}
	}
	return true, true, exclude
}

// checkAttached waits for the empty query that checks a connection that
// was idle long; a failed check detaches it.
func (ss *session) checkAttached(checked <-chan string) bool {
	pl := ss.pl
	if err := ss.flushServer(); err == nil {
		select {
		case msg := <-checked:
			if msg == "" {
				return true
			}
		case <-time.After(ss.s.config().HealthChecks.Timeout.Duration):
		}
	}
	pl.mu.Lock()
	if pl.sc != nil {
		ss.detachLocked(false)
	}
	pl.mu.Unlock()
	return false
}

func isolatedError(backend string) *Error {
	return &Error{Severity: "ERROR", Code: codeConnectionFailure, Message: "the transaction was aborted: backend " + backend + " was isolated (its circuit opened)",
		Detail: "The statements of this transaction since it began are lost; nothing was committed.",
		Hint:   "Retry the transaction: HeliosProxy routes it to a healthy backend."}
}

// locksLostError is what a transaction-mode session kept attached for its
// advisory locks (pooled.locks) gets at its next request when its backend
// was isolated meanwhile: the server connection, closed, took the locks.
func locksLostError(backend string) *Error {
	return &Error{Severity: "ERROR", Code: codeConnectionFailure, Message: "the session's advisory locks were released: backend " + backend + " was isolated (its circuit opened)",
		Detail: "Its server connection was closed, and the advisory locks it held with it.",
		Hint:   "Take the locks again: HeliosProxy routes the session to a healthy backend."}
}

// queueOurs queues a Query of the proxy's own on the attached connection,
// e (kSyncOurs) in its response queue; pl.mu is held.
func (ss *session) queueOurs(sql string, e respEntry) {
	pl := ss.pl
	e.kind = kSyncOurs
	pl.sc.q.push(e)
	pl.sc.ours.Add(1)
	pl.out = wire.AppendMessage(pl.out, 'Q', []byte(sql), []byte{0})
}

// resetSession undoes a client's SETs and LISTENs on a transaction-mode
// connection: RESET ALL leaves the role and the session authorization
// (PostgreSQL's GUC_NO_RESET_ALL), which SET ROLE and SET SESSION
// AUTHORIZATION would otherwise hand to the connection's next client.
const resetSession = "SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *"

// syncParams queues the SETs that give the attached connection the
// session's parameters; pl.mu is held.
func (ss *session) syncParams(done chan<- string) {
	pl := ss.pl
	sc := pl.sc
	pl.resync = false
	if pl.wanted == nil {
		// The server's defaults for what the client did not ask for: in
		// transaction mode sc.Params holds the previous session's.
		pl.wanted = make(map[string]string)
		for _, name := range carried {
			if v, ok := sc.defaults[name]; ok {
				pl.wanted[name] = v
			}
		}
		for k, v := range pl.startup {
			pl.wanted[k] = v
		}
		pl.wantedKey = paramsKey(pl.wanted)
	}
	if sc.reset {
		// A client's SET, set_config or LISTEN in an earlier transaction
		// (and attachment): what PostgreSQL does not report (work_mem,
		// statement_timeout, the role, …) goes back to the server's
		// default, and the session's parameters are made again below, as
		// on a new connection.
		sc.reset = false
		ss.queueOurs(resetSession, respEntry{reset: true})
		sc.Params, sc.synced = maps.Clone(sc.defaults), ""
	}
	if sc.synced == pl.wantedKey {
		// Its parameters have not changed since it was found to have
		// these: in transaction mode, most attachments.
		if done != nil {
			done <- ""
		}
		return
	}
	var sets, stmts []string // stmts[i] makes sets[i]
	known := done != nil && !pl.user.TxMode
	for name, v := range pl.wanted {
		if cur, ok := sc.Params[name]; !ok || cur != v {
			stmt := "SET " + name + " TO " + quoteLiteral(v) + ";"
			if name == "search_path" {
				// A list, read as the StartupMessage's value is: SET TO
				// 'a, b' would name one schema "a, b".
				stmt = "SELECT pg_catalog.set_config('search_path', " + quoteLiteral(v) + ", false);"
			}
			set := name + "\x00" + v
			sets, stmts = append(sets, set), append(stmts, stmt)
			if _, ok := sc.accepted[set]; !ok {
				known = false
			}
			if _, reported := sc.Reported[name]; !reported {
				sc.Params[name] = v
			}
		}
	}
	var resets strings.Builder
	for name := range sc.Params {
		if _, want := pl.wanted[name]; !want && sc.Custom(name) {
			fmt.Fprintf(&resets, "RESET %s;", name)
			delete(sc.Params, name)
		}
	}
	if len(stmts) == 0 && resets.Len() == 0 {
		sc.synced = pl.wantedKey
		if done != nil {
			done <- ""
		}
		return
	}
	// Noted as synced only when found so at the next attachment: the
	// SETs could fail.
	sc.synced = ""
	if known {
		// A session-mode login whose settings this connection took
		// before: it goes on without awaiting them (saving a round trip
		// and its wake-up on every connection of a client that connects
		// per transaction), told the values the server reported then.
		// Each is a Query of its own, so that one failing (noteSet)
		// leaves the others made.
		for i, set := range sets {
			name, _, _ := strings.Cut(set, "\x00")
			sc.Params[name] = sc.accepted[set]
			ss.queueOurs(stmts[i], respEntry{params: sets[i : i+1], pipelined: true})
		}
		if resets.Len() > 0 {
			ss.queueOurs(resets.String(), respEntry{})
		}
		done <- ""
		return
	}
	ss.queueOurs(strings.Join(stmts, "")+resets.String(), respEntry{done: done, params: sets})
}

// maxAccepted bounds the settings a server connection remembers taking
// (serverConn.accepted): clients that each send their own
// application_name must not grow it without end.
const maxAccepted = 64

// noteSet notes the outcome of syncParams' SETs (e) on sc; the owner's
// pl.mu is held. Settings made without error are remembered with the
// value the server reported for them. Settings that failed are not taken
// for granted any more: the next login asking for them awaits them, and
// is refused if they fail. A login that went on without awaiting them
// had them taken by this connection before; when one fails anyway (a text
// search configuration dropped since, say), that session keeps the
// server's value for it, as a session re-attached in transaction mode
// does, its other settings are made, and the operator is told.
func (sc *serverConn) noteSet(ss *session, e respEntry) {
	if e.err == "" {
		if sc.accepted == nil {
			sc.accepted = make(map[string]string)
		}
		for _, set := range e.params {
			if len(sc.accepted) == maxAccepted {
				break
			}
			name, v, _ := strings.Cut(set, "\x00")
			if cur, ok := sc.Params[name]; ok {
				v = cur
			}
			sc.accepted[set] = v
		}
		return
	}
	for _, set := range e.params {
		delete(sc.accepted, set)
	}
	if e.pipelined {
		ss.s.log.Warn("a startup parameter this server connection had taken before was refused after the session's login; the session goes on with the server's value",
			"session_id", ss.pid, "backend", sc.b.Config.Name, "err", e.err)
	}
}

// paramsKey is a canonical form of a set of session parameters: equal
// sets, equal keys. It is never empty, so that a connection never checked
// (serverConn.synced "") matches none.
func paramsKey(m map[string]string) string {
	var b strings.Builder
	b.WriteByte('=')
	for _, name := range slices.Sorted(maps.Keys(m)) {
		b.WriteString(name)
		b.WriteByte(0)
		b.WriteString(m[name])
		b.WriteByte(0)
	}
	return b.String()
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// detachLocked gives the attached connection back: to its pool when clean,
// else closed. pl.mu is held. It reports whether a session waiting for a
// connection of the pool was woken.
func (ss *session) detachLocked(clean bool) bool { return ss.detachAt(clean, ss.s.clock.Now()) }

// detachAt is detachLocked at the caller's time now.
func (ss *session) detachAt(clean bool, now time.Time) bool {
	pl := ss.pl
	sc, b := pl.sc, pl.b
	pl.sc, pl.b = nil, nil
	pl.locks, pl.lockCheck = false, false
	sc.owner.Store(nil)
	if pl.admitted {
		b.Admission.Release()
		pl.admitted = false
	}
	if pl.fresh {
		b.Breaker.Release(pl.ticket)
		pl.fresh = false
	}
	b.Active.Add(-1)
	b.Untrack(ss)
	ss.targetMu.Lock()
	ss.b, ss.serverPID, ss.serverKey = nil, 0, nil
	ss.targetMu.Unlock()
	if pl.mayWrite {
		// It may have written: the session's next split reads go to
		// replicas that have replayed this much (routing).
		pl.wroteAt, pl.mayWrite = now, false
	}
	return sc.p.PutAt(sc, clean && !sc.Doomed() && len(sc.stmts) <= pool.MaxServerStatements, now)
}

// endPooled returns the session's connection when the client leaves: a
// clean one after server_reset_query in session mode, a dirty one closed.
func (ss *session) endPooled() {
	pl := ss.pl
	pl.mu.Lock()
	defer pl.mu.Unlock()
	ss.forgetStatements()
	sc := pl.sc
	if sc == nil {
		return
	}
	clean := sc.q.empty() && !pl.busy && byte(ss.txStatus.Load()) == 'I' && !sc.Doomed()
	reset := ss.s.config().Pool.ServerResetQuery
	if pl.user.TxMode {
		// Attached between transactions only while it may hold the
		// session's advisory locks.
		reset = ""
		if pl.locks {
			reset = unlockQuery
		}
	}
	if !clean || reset == "" {
		ss.detachLocked(clean)
		return
	}
	pl.out = pl.out[:0]
	ss.queueOurs(reset, respEntry{then: func() { ss.detachLocked(true) }})
	if _, err := sc.Net.Write(pl.out); err != nil {
		ss.detachLocked(false)
	}
}

// Fence acts on a backend that was fenced (a former primary back on an
// older timeline, or a second claimant): nothing may go on writing there,
// so its pooled connections and sessions leave it as from an open circuit
// (Isolate), and its pass-through sessions, which cannot move, are ended
// with FATAL 57P01 (as PostgreSQL ends them when a failover manager
// demotes it), reason in DETAIL; their clients reconnect to the current
// primary. A transaction under way in transaction mode ends where it
// began, as with Isolate.
func (s *Front) Fence(b *backend.Backend, reason string) {
	s.Isolate(b)
	fenced := &Error{Code: codeAdminShutdown, Message: "terminating connection: backend " + b.Config.Name + " is fenced",
		Detail: reason, Hint: "Reconnect: sessions go to the current primary."}
	n := 0
	for _, t := range b.Tracked() {
		if ss, ok := t.(*session); ok && ss.pl == nil && ss.end != nil {
			ss.end(fenced)
			n++
		}
	}
	if n > 0 {
		s.log.Warn("pass-through sessions ended: their backend is fenced", "backend", b.Config.Name, "sessions", n)
	}
}

// Abandon acts on a backend that answers nothing (Server.abandonSilent):
// its connections are given up as if the backend had closed them, since
// it never will. Pooled connections leave it as from an open circuit
// (Isolate), and each pooled connection still attached fails what its
// session awaits there with 08006, as a killed backend's do (pooledLost);
// pass-through sessions, which cannot move, end with FATAL 08006, the
// reason in DETAIL, and their clients reconnect to a healthy backend
// (logins under way there are not sessions yet).
func (s *Front) Abandon(b *backend.Backend, detail string) {
	s.Isolate(b)
	lost := &Error{Code: codeConnectionFailure, Message: "terminating connection: backend " + b.Config.Name + " does not answer",
		Detail: detail, Hint: "Reconnect: new sessions go to a healthy backend."}
	ended, failed := 0, 0
	for _, t := range b.Tracked() {
		ss, ok := t.(*session)
		if !ok {
			continue
		}
		if ss.pl == nil {
			// A login still under way gives up on its own after
			// connect_timeout and tries another backend, unseen by its
			// client: it is left to that.
			ss.targetMu.Lock()
			logging := ss.server == nil
			ss.targetMu.Unlock()
			if !logging && ss.end != nil {
				ss.end(lost)
				ended++
			}
			continue
		}
		ss.pl.mu.Lock()
		sc := ss.pl.sc
		if sc == nil || ss.pl.b != b {
			sc = nil
		}
		ss.pl.mu.Unlock()
		if sc != nil {
			sc.abandon()
			failed++
		}
	}
	s.log.Warn("connections to an unanswering backend given up", "backend", b.Config.Name, "detail", detail,
		"pass_through_sessions_ended", ended, "pooled_connections_failed", failed)
}

// Isolate acts on a backend whose circuit opened: its pools are emptied,
// and pooled sessions idle on it are detached so that their next request
// goes to a healthy backend; sessions inside a transaction get an error
// at their next request.
func (s *Front) Isolate(b *backend.Backend) {
	for _, p := range s.pools.of(b) {
		p.Isolate()
	}
	for _, t := range b.Tracked() {
		ss, ok := t.(*session)
		if !ok || ss.pl == nil {
			continue
		}
		pl := ss.pl
		pl.mu.Lock()
		if sc := pl.sc; sc != nil && pl.b == b {
			sc.Doom()
			if sc.q.empty() && !pl.busy && byte(ss.txStatus.Load()) == 'I' {
				if pl.locks {
					// Its advisory locks go with the connection: the
					// client must know before it goes on without them.
					pl.lost = locksLostError(b.Config.Name)
				}
				ss.detachLocked(false)
				s.log.Info("idle session moved off an isolated backend", "backend", b.Config.Name, "session_id", ss.pid)
			}
		}
		pl.mu.Unlock()
	}
}
