package session

import (
	"fmt"
	"time"
	"unsafe"

	"github.com/heliosdb/heliosproxy/proxy/pattern"
	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// Query-level breakers (package pattern), on every relay path: a simple
// Query is looked up when it arrives, an extended-protocol execution at
// its Bind (by the pattern its statement's Parse had), and the request
// pushed on the pending ring carries its pattern to backend.Finish. A
// request whose pattern's circuit is open is taken out of the client's
// stream and answered here with errPatternOpen, in order, as the
// helios_proxy statements are (local.go): a Query gets the error and
// ReadyForQuery; a Bind fails its batch up to Sync (in a batch whose
// earlier messages went to the backend, the backend's part is failed too,
// as for a failed helios_proxy statement); an open transaction block is
// aborted, as after any error.

// codePatternOpen is the SQLSTATE of a request refused by its pattern's
// breaker: configuration_limit_exceeded, of class 53 (insufficient
// resources), which clients and pools treat as "retry later".
const codePatternOpen = "53400"

// maxStmtKeys bounds the prepared statements whose patterns a session
// remembers; beyond it, the memory is cleared (their executions are then
// not grouped until they are prepared again).
const maxStmtKeys = 4096

// maxStmtText bounds the text of a named statement a session keeps.
const maxStmtText = 4096

// stmtPattern is a named prepared statement's pattern and text.
type stmtPattern struct {
	key  pattern.Key
	text string
}

// patterns returns the query-level breakers, nil when they are off.
func (l *localState) patterns() *pattern.Registry {
	r := l.ss.s.Patterns
	if r == nil || !r.Enabled() {
		return nil
	}
	return r
}

// admitQuery looks up the pattern of a simple Query about to be relayed,
// and reports whether it is refused (l.refusal).
func (l *localState) admitQuery(body []byte) bool {
	reg := l.patterns()
	if reg == nil {
		return false
	}
	sql, _ := wire.CString(body)
	q, ref := reg.Admit(reg.Key(sql), sql, l.ss.s.clock)
	return l.admitted(reg, q, ref)
}

// parsed notes the pattern of a statement prepared on the backend.
func (l *localState) parsed(body []byte) {
	reg := l.patterns()
	if reg == nil {
		return
	}
	name, rest := wire.CString(body)
	sql, _ := wire.CString(rest)
	key := reg.Key(sql)
	if len(name) == 0 {
		l.unnamedKey = key
	} else {
		if l.stmtKeys == nil || len(l.stmtKeys) >= maxStmtKeys {
			l.stmtKeys = make(map[string]stmtPattern)
		}
		// A named statement is prepared once and run many times: its
		// text is kept (up to maxStmtText) for the pattern's example,
		// in case the pattern is tracked only later.
		l.stmtKeys[string(name)] = stmtPattern{key: key, text: string(sql[:min(len(sql), maxStmtText)])}
	}
	reg.Note(key, sql)
	if l.req.Key == 0 {
		// A batch that only prepares (Parse, Describe, Sync) runs parse
		// analysis, which may wait on a lock too: it is timed as its
		// statement's pattern (a Bind after it takes over).
		l.req = pattern.Req{Key: key}
	}
}

// closed forgets a statement the client closed (a Close body).
func (l *localState) closed(body []byte) {
	if len(body) > 1 && body[0] == 'S' && l.stmtKeys != nil {
		name, _ := wire.CString(body[1:])
		delete(l.stmtKeys, string(name))
	}
}

// admitBind looks up the pattern of the statement a Bind is about to run
// on the backend, and reports whether it is refused (l.refusal).
func (l *localState) admitBind(body []byte) bool {
	reg := l.patterns()
	if reg == nil || body == nil {
		return false
	}
	_, rest := wire.CString(body)
	stmt, _ := wire.CString(rest)
	key, text := l.unnamedKey, []byte(nil)
	if len(stmt) > 0 {
		sp := l.stmtKeys[string(stmt)]
		// A read-only view of the text, not a copy: Admit only reads it.
		key, text = sp.key, unsafe.Slice(unsafe.StringData(sp.text), len(sp.text))
	}
	q, ref := reg.Admit(key, text, l.ss.s.clock)
	return l.admitted(reg, q, ref)
}

// admitted keeps an admitted request's pattern for the request pushed
// next (takeReq), or the refusal for handle.
func (l *localState) admitted(reg *pattern.Registry, q pattern.Req, ref *pattern.Refused) bool {
	if ref != nil {
		l.refusal = ref
		return true
	}
	reg.Release(l.req) // a Bind's whose batch ran another statement last
	l.req = q
	return false
}

// takeReq returns the pattern of the request that starts now.
func (l *localState) takeReq() pattern.Req {
	q := l.req
	l.req = pattern.Req{}
	return q
}

// refuse answers the request taken for l.refusal, whose first message is
// of type typ: a Query, or a Bind.
func (l *localState) refuse(typ byte) error {
	e := errPatternOpen(l.refusal, l.ss.s.clock.Now())
	l.refusal = nil
	if typ == 'Q' {
		l.out = e.Append(l.out)
		return l.ready(true)
	}
	if l.remote && l.ss.server == nil {
		return l.pooledAbort(e)
	}
	l.batch = true
	if l.remote && !l.failed {
		// The backend answers what was relayed before first, as for a
		// helios_proxy statement in a batch (handle): the ReadyForQuery
		// of an earlier batch still on its way would end the drop of the
		// abort's error (abortBatch), which would reach the client; and
		// an error of the backend's in this batch ends it, here too.
		failed, err := l.waitAnswered()
		if err != nil {
			return err
		}
		l.failed = failed
	}
	if !l.failed {
		l.fail(e)
	}
	return nil
}

// errPatternOpen is the answer to a request refused by its pattern's
// breaker: the pattern and why it is open in DETAIL, when to retry in
// HINT.
func errPatternOpen(r *pattern.Refused, now time.Time) *Error {
	name := r.Fingerprint
	if name == "" {
		name = fmt.Sprintf("%016x", uint64(r.Pattern.Key))
	}
	text := r.Text
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	detail := fmt.Sprintf("Query pattern %s (%q) is refused while its circuit breaker is open (%s: %s). Other queries run normally.", name, text, r.Reason, r.Detail)
	hint := "Probes of this pattern are under way; retry in a few seconds."
	if !r.RetryAt.IsZero() {
		hint = fmt.Sprintf("Retry after %s (in %v).", r.RetryAt.UTC().Format(time.RFC3339), max(r.RetryAt.Sub(now), 0).Round(time.Second))
	}
	return &Error{Severity: "ERROR", Code: codePatternOpen, Message: "query pattern temporarily refused: its circuit breaker is open", Detail: detail, Hint: hint, Err: r}
}
