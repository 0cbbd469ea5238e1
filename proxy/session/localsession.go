package session

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/internal/scram"
	"github.com/heliosdb/heliosproxy/proxy/wire"
	"github.com/heliosdb/heliosproxy/statusdb"
)

// StatusDatabase is the database name that makes a session local: the
// proxy answers it itself, without any backend, so that the status schema
// stays readable when every backend is down.
const StatusDatabase = "helios_proxy"

// serveLocal runs a session on the status database: authentication by the
// proxy, then helios_proxy statements (and transaction control, which
// drivers send on their own) answered here.
func (ss *session) serveLocal(ctx context.Context) error {
	defer context.AfterFunc(ctx, func() { _ = ss.client.SetDeadline(time.Unix(1, 0)) })()
	if err := ss.authenticateLocal(); err != nil {
		return err
	}
	ss.cs.MaxBody = min(ss.s.maxBody, MaxStatusMessage)
	ss.authenticated()
	sess, err := statusdb.NewSession(ss.params["user"], ss.params["database"], int32(ss.pid), ss.params)
	if err != nil {
		se := sqlError(err)
		return &Error{Code: se.Code, Message: se.Message, Detail: se.Detail, Hint: se.Hint}
	}
	ss.local.sess = sess
	out := make([]byte, 0, 512)
	out, _ = (&pgproto3.AuthenticationOk{}).Encode(out)
	for _, p := range sess.Startup() {
		out = wire.AppendParameterStatus(out, p[0], p[1])
		if p[0] == "TimeZone" {
			ss.timeZone.Store(p[1])
		}
	}
	out, _ = (&pgproto3.BackendKeyData{ProcessID: ss.pid, SecretKey: ss.secret[:]}).Encode(out)
	out = wire.AppendReady(out, 'I')
	if _, err := ss.client.Write(out); err != nil {
		return err
	}
	_ = ss.client.SetDeadline(time.Time{})
	l := &ss.local
	for {
		typ, msg, err := ss.cs.Message()
		if err != nil {
			return err
		}
		if why := wire.CheckLayout(typ, msg[5:]); why != "" {
			if err := l.malformed(typ, why); err != nil {
				return err
			}
			continue
		}
		switch typ {
		case 'X':
			return nil
		case 'd', 'c', 'f':
			// Outside a COPY from the client (the status database has
			// none), PostgreSQL ignores them: a client still sending
			// after its COPY failed.
		case 'F':
			if err := l.functionCall(msg[5:]); err != nil {
				return err
			}
		case 'Q', 'P', 'B', 'D', 'E', 'C', 'S', 'H':
			if typ != 'Q' {
				l.batch = true
			}
			if err := l.handle(msg); err != nil {
				return err
			}
		default:
			return wire.ProtocolErrorf("unexpected message type %q", typ)
		}
	}
}

// functionCall answers a FunctionCall as PostgreSQL does for a function
// that does not exist (the status database's pg_proc has no rows): ERROR
// 42883 naming the OID (25P02 in a failed transaction block), then
// ReadyForQuery, the session going on; after an error in a batch it is
// skipped up to the Sync, as PostgreSQL skips every message then.
func (l *localState) functionCall(body []byte) error {
	if l.batch && l.failed {
		return nil
	}
	var e *Error
	switch {
	case len(body) < 4:
		e = &Error{Severity: "ERROR", Code: codeProtocolViolation, Message: "insufficient data left in message"}
	case byte(l.ss.txStatus.Load()) == 'E':
		e = errAborted
	default:
		e = &Error{Severity: "ERROR", Code: "42883", Message: fmt.Sprintf("function with OID %d does not exist", binary.BigEndian.Uint32(body))}
	}
	l.out = e.Append(l.out)
	return l.ready(true)
}

// malformed answers a message of type typ whose body does not have its
// type's layout as PostgreSQL does: ERROR 08P01 saying why, then for a
// Query or a Sync ReadyForQuery, for the other messages of a batch
// nothing more up to its Sync.
func (l *localState) malformed(typ byte, why string) error {
	e := &Error{Severity: "ERROR", Code: codeProtocolViolation, Message: why}
	if typ == 'Q' {
		return l.answerRefused(typ, e)
	}
	l.batch = true
	if !l.failed {
		l.fail(e)
	}
	if typ == 'S' {
		return l.sync()
	}
	return nil
}

// authenticateLocal admits loopback clients as they are and others with
// [api] admin_token as their password, by SCRAM-SHA-256, so that neither
// the token nor anything a captured exchange would let anyone replay or
// crack cheaply crosses the network.
func (ss *session) authenticateLocal() error {
	token := ss.s.config().API.AdminToken
	if host, _, err := net.SplitHostPort(ss.client.RemoteAddr().String()); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return nil
		}
	}
	if token == "" {
		return &Error{Code: "28000", Message: "the helios_proxy status database accepts only local connections",
			Hint: "Connect from the proxy's host, or set [api] admin_token and use it as the password."}
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	_, err := ss.scramExchange(scram.NewVerifier(token, salt, 4096), ss.params["user"])
	return err
}

// txControl is the answer to a transaction-control statement on the
// status database.
type txControl struct {
	tag     string
	after   byte                     // transaction status after it
	warning *pgproto3.NoticeResponse // PostgreSQL's WARNING, if any
	err     *Error                   // the statement fails
}

// transactionControl answers the statements drivers send on their own in
// a status-database session (psycopg2 opens a transaction before its first
// query) as PostgreSQL does in transaction status tx, or returns ok =
// false for any other statement.
func transactionControl(sql string, tx byte) (tc txControl, ok bool) {
	f := strings.Fields(strings.ToUpper(strings.TrimRight(strings.TrimSpace(sql), "; \t\n")))
	if len(f) == 0 {
		return tc, false
	}
	tc.after = tx
	warn := func(code, msg string) *pgproto3.NoticeResponse {
		return &pgproto3.NoticeResponse{Severity: "WARNING", SeverityUnlocalized: "WARNING", Code: code, Message: msg}
	}
	switch f[0] {
	case "BEGIN", "START":
		tc.tag, tc.after = "BEGIN", 'T'
		if f[0] == "START" {
			tc.tag = "START TRANSACTION"
		}
		if tx == 'T' {
			tc.warning = warn("25001", "there is already a transaction in progress")
		}
	case "COMMIT", "END":
		if slices.Contains(f, "PREPARED") {
			return tc, false
		}
		tc.tag, tc.after = "COMMIT", 'I'
		if tx == 'E' {
			tc.tag = "ROLLBACK"
		}
	case "ROLLBACK", "ABORT":
		if slices.Contains(f, "TO") || slices.Contains(f, "PREPARED") {
			return tc, false // savepoints and two-phase commit: not here
		}
		tc.tag, tc.after = "ROLLBACK", 'I'
	case "DEALLOCATE":
		tc.tag = f[0]
		if len(f) > 1 && f[len(f)-1] == "ALL" {
			tc.tag = "DEALLOCATE ALL"
		}
	default:
		return tc, false
	}
	switch {
	case tx == 'E' && tc.tag != "ROLLBACK":
		return tc, false // 25P02
	case tx == 'I' && (f[0] == "COMMIT" || f[0] == "END" || f[0] == "ROLLBACK" || f[0] == "ABORT"):
		tc.warning = warn("25P01", "there is no transaction in progress")
	}
	return tc, true
}
