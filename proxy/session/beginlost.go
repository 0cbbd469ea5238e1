package session

import (
	"bytes"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// A transaction whose BEGIN was lost with its server connection, in
// transaction mode, before BEGIN was answered: nothing of it ran, so the
// proxy answers the BEGIN itself and runs it first on the connection the
// session's next request attaches (pooled.owed). Before, the client got
// the loss (08006 or 57P01) for its BEGIN, which a driver does not expect
// of a BEGIN on a live connection: psycopg 3 counts the transaction block
// it enters before BEGIN's answer, and a failed BEGIN left that count
// behind, failing every later transaction of the connection.

// beginRequest reports whether the Query body is a bare BEGIN or START
// TRANSACTION (with transaction modes at most) that cannot fail on a
// server connection that is not in a transaction, and returns its command
// tag. A read-only session (readOnly) may be routed to a standby, where
// ISOLATION LEVEL SERIALIZABLE and READ WRITE fail: such a BEGIN is not
// one. Nothing is allocated.
func beginRequest(body []byte, readOnly bool) (string, bool) {
	sql, _ := wire.CString(body)
	if len(sql) == 0 || len(sql) > maxBeginRequest {
		return "", false
	}
	switch sql[0] {
	case 'B', 'b', 'S', 's', ' ', '\t', '\n', '\r':
	default:
		return "", false
	}
	var words [16][]byte
	n := 0
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			i++
		case c == ';':
			// Only trailing semicolons.
			if len(bytes.Trim(sql[i:], "; \t\n\r")) != 0 {
				return "", false
			}
			i = len(sql)
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(sql) && (sql[j] >= 'a' && sql[j] <= 'z' || sql[j] >= 'A' && sql[j] <= 'Z') {
				j++
			}
			if n == len(words) {
				return "", false
			}
			words[n], n, i = sql[i:j], n+1, j
		default:
			return "", false
		}
	}
	w := words[:n]
	is := func(k int, word string) bool { return k < len(w) && bytes.EqualFold(w[k], []byte(word)) }
	var tag string
	k := 0
	switch {
	case is(0, "BEGIN"):
		tag, k = "BEGIN", 1
		if is(1, "WORK") || is(1, "TRANSACTION") {
			k = 2
		}
	case is(0, "START") && is(1, "TRANSACTION"):
		tag, k = "START TRANSACTION", 2
	default:
		return "", false
	}
	for k < len(w) {
		switch {
		case is(k, "ISOLATION") && is(k+1, "LEVEL"):
			switch {
			case is(k+2, "SERIALIZABLE"):
				if readOnly {
					return "", false
				}
				k += 3
			case is(k+2, "REPEATABLE") && is(k+3, "READ"),
				is(k+2, "READ") && (is(k+3, "COMMITTED") || is(k+3, "UNCOMMITTED")):
				k += 4
			default:
				return "", false
			}
		case is(k, "READ") && is(k+1, "ONLY"):
			k += 2
		case is(k, "READ") && is(k+1, "WRITE"):
			if readOnly {
				return "", false
			}
			k += 2
		case is(k, "NOT") && is(k+1, "DEFERRABLE"):
			k += 2
		case is(k, "DEFERRABLE"):
			k++
		default:
			return "", false
		}
	}
	return tag, true
}

// maxBeginRequest is the longest text beginRequest reads.
const maxBeginRequest = 160

// Steps of a BEGIN request that noteBegin follows (pooled.beginStep).
const (
	beginNone     = iota
	beginParsed   // extended protocol: its Parse
	beginBound    // its Bind (and perhaps a Describe of the portal)
	beginExecuted // its Execute: its Sync completes it
	beginSent     // the whole request: pooled.begun
)

// noteBegin follows, as the session's messages are queued on its attached
// connection, whether its request in transaction mode is a bare BEGIN
// that is the attachment's first request, or a ROLLBACK inside a
// transaction: a Query, or Parse (unnamed), Bind, Describe (of the
// portal, optional), Execute and Sync as psycopg 3 sends it. pl.mu is
// held.
func (ss *session) noteBegin(typ byte, body []byte) {
	pl := ss.pl
	step := pl.beginStep
	pl.beginStep = beginNone
	switch typ {
	case 'Q', 'P':
		if step != beginNone || !pl.user.TxMode {
			return
		}
		sql := body
		if typ == 'P' {
			if len(body) < 2 || body[0] != 0 {
				return // a named statement
			}
			switch body[1] {
			case 'B', 'b', 'S', 's', 'R', 'r', 'A', 'a', ' ', '\t', '\n', '\r':
			default:
				return // none of them: not read further
			}
			var rest []byte
			sql, rest = wire.CString(body[1:])
			if len(rest) != 2 || rest[0] != 0 || rest[1] != 0 {
				return // parameter types
			}
			sql = body[1 : len(sql)+2] // with its NUL
		}
		var tag string
		var ok bool
		switch st := byte(ss.txStatus.Load()); {
		case st == 'I' && pl.fresh:
			tag, ok = beginRequest(sql, pl.readOnly)
		case st != 'I':
			tag, ok = transactionEnd(sql)
			ok = ok && tag == "ROLLBACK"
		}
		if !ok {
			return
		}
		text, _ := wire.CString(sql)
		pl.beginSQL, pl.beginTag, pl.beginDescribed = append(pl.beginSQL[:0], text...), tag, false
		pl.beginExtended = typ == 'P'
		pl.beginStep = beginSent
		if typ == 'P' {
			pl.beginStep = beginParsed
		}
	case 'B':
		// An unnamed portal of the unnamed statement, without parameters.
		if step == beginParsed && len(body) >= 6 && body[0] == 0 && body[1] == 0 && body[2] == 0 && body[3] == 0 && body[4] == 0 && body[5] == 0 {
			pl.beginStep = beginBound
		}
	case 'D':
		if step == beginBound && len(body) == 2 && body[0] == 'P' && body[1] == 0 {
			pl.beginStep, pl.beginDescribed = beginBound, true
		}
	case 'E':
		if step == beginBound && len(body) > 0 && body[0] == 0 {
			pl.beginStep = beginExecuted
		}
	case 'S':
		if step == beginExecuted {
			pl.beginStep = beginSent
		}
	}
}

// lostBegin reports whether the request a lost connection had not answered
// (syncs of them) is a bare BEGIN, the attachment's only request, or a
// ROLLBACK, none of whose answers reached the client (flushes: the
// reader's count when the request was queued): nothing of the BEGIN's
// transaction ran, and the ROLLBACK's transaction is rolled back with the
// connection, as the client asked. pl.mu is held.
func (ss *session) lostBegin(h *poolReader, syncs int) bool {
	pl := ss.pl
	return pl.beginStep == beginSent && syncs == 1 && h.flushes.Load() == pl.beginFlushes
}

// answerLostBegin answers the request of lostBegin as PostgreSQL would
// have: a BEGIN ends in a transaction, and the session's next attachment
// runs it (pooled.owed); a ROLLBACK ends the transaction. pl.mu is held.
func (ss *session) answerLostBegin(out []byte) []byte {
	pl := ss.pl
	pl.beginStep = beginNone
	status := byte('I')
	if pl.beginTag != "ROLLBACK" {
		pl.owed, status = true, 'T'
	}
	if pl.beginExtended {
		out = append(out, '1', 0, 0, 0, 4, '2', 0, 0, 0, 4)
		if pl.beginDescribed {
			out = append(out, 'n', 0, 0, 0, 4)
		}
	}
	out, _ = (&pgproto3.CommandComplete{CommandTag: []byte(pl.beginTag)}).Encode(out)
	return wire.AppendReady(out, status)
}

// queueOwedBegin queues the BEGIN answered by answerLostBegin on the
// connection just attached, ahead of the session's request and after its
// parameters (SETs inside the transaction would end with it); pl.mu is
// held.
func (ss *session) queueOwedBegin() {
	pl := ss.pl
	if !pl.owed {
		return
	}
	pl.owed = false
	ss.queueOurs(string(pl.beginSQL), respEntry{})
}

// dropOwedBegin forgets a BEGIN answered by answerLostBegin when the
// request after it could not reach a backend: the transaction is lost as
// if its connection had been, and the client is told it is not in one.
func (ss *session) dropOwedBegin() {
	pl := ss.pl
	pl.mu.Lock()
	owed := pl.owed
	pl.owed = false
	pl.mu.Unlock()
	if owed {
		ss.setTxStatus('I')
	}
}
