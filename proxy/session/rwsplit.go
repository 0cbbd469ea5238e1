package session

import (
	"encoding/binary"
	"slices"
	"strings"

	"github.com/heliosdb/heliosproxy/proxy/pool"
	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// The read/write split ([backends] read_write_split, transaction mode):
// a request that starts no transaction block and runs one read-only
// statement may go to a replica. What decides is the client's messages
// up to the request's end (its Query, or its Sync), all of which must
// already be in the session's read buffer: a request whose end has not
// arrived yet goes to the primary, as does anything the classifier is not
// sure of. Read-only is judged from the text: a SELECT, WITH, VALUES or
// TABLE with no locking clause, no INTO, no data-modifying WITH and no
// call of a function that needs the primary (primaryFunctions, the
// advisory-lock functions). A function of the
// application's own that writes, called from a SELECT, cannot be seen: on
// a replica it fails with PostgreSQL's own 25006 (turn the split off for
// such applications).
//
// SHOW and pg_is_in_recovery() stay on the primary: they describe the
// session, and a read-write session is one on the primary to its client
// (in_hot_standby = off at its login). On a replica, SHOW
// transaction_read_only answered "on" and pg_is_in_recovery() true in a
// session whose writes succeed, and clients that check what they are
// connected to before writing (libpq's target_session_attrs against
// servers before 14, Npgsql, pgjdbc without in_hot_standby, health
// checks) took the proxy for a standby. They offload no read load worth
// having.

// readOnlyRequest reports whether the request that begins with first (a
// whole message) and goes on in rest (the client's messages read after
// it) runs only read-only statements and ends within them without leaving
// a transaction block open, or is a BEGIN READ ONLY. stmts are the
// session's prepared statements, for Binds of named ones.
func readOnlyRequest(first, rest []byte, stmts map[string]*pool.Statement) bool {
	return requestOf(first, rest, stmts, readOnlySQL, beginsReadOnly)
}

// settingsRequest reports, as readOnlyRequest does, whether the request
// runs only one SET, RESET or SHOW: it changes or reads the session's
// settings and writes nothing to the database, so that the session's
// next split reads need not wait for replicas to replay anything
// (read-your-writes). Drivers send such requests right after their
// login (pgjdbc: extra_float_digits, application_name).
func settingsRequest(first, rest []byte, stmts map[string]*pool.Statement) bool {
	return requestOf(first, rest, stmts, settingSQL, nil)
}

// settingSQL reports whether one statement's text is a SET, RESET or
// SHOW.
func settingSQL(sql string) bool {
	words := sqlWords(sql)
	return len(words) > 0 && (words[0] == "SET" || words[0] == "RESET" || words[0] == "SHOW")
}

// requestOf reports whether the request that begins with first and goes
// on in rest (as readOnlyRequest) runs at most one statement, each of
// whose text ok accepts, and ends within it; a simple Query may also be
// one that query (if not nil) accepts, and an extended-protocol request
// may begin with such a statement (unnamed), followed by any number of
// statements that ok accepts.
func requestOf(first, rest []byte, stmts map[string]*pool.Statement, ok, query func(string) bool) bool {
	statements := 0
	unnamed := false // the unnamed statement was parsed in this request
	begun := false   // the request begins with a BEGIN READ ONLY (query) in the extended protocol
	// The named statements parsed in this request (each accepted at its
	// Parse), which its Binds may use before the session knows them:
	// pgjdbc sends a statement's Parse with its first Bind.
	var room [2][]byte
	parsed := room[:0]
	msgs := first
	for {
		if len(msgs) < 5 {
			if rest == nil {
				return false // the request's end is not here yet
			}
			msgs, rest = rest, nil
			continue
		}
		typ := msgs[0]
		n := int(binary.BigEndian.Uint32(msgs[1:5]))
		if n < 4 || len(msgs) < 1+n {
			return false
		}
		body := msgs[5 : 1+n]
		msgs = msgs[1+n:]
		switch typ {
		case 'Q':
			sql, _ := wire.CString(body)
			return statements == 0 && (oneStatement(string(sql), ok) || query != nil && query(string(sql)))
		case 'P':
			name, rest := wire.CString(body)
			sql, _ := wire.CString(rest)
			if query != nil && statements == 0 && len(name) == 0 && !begun && query(string(sql)) {
				// pgjdbc's BEGIN READ ONLY, sent with the
				// transaction's first statements: PostgreSQL refuses
				// every write of the transaction wherever it runs.
				begun, unnamed = true, true
				break
			}
			if !ok(string(sql)) {
				return false
			}
			unnamed = unnamed || len(name) == 0
			if len(name) > 0 {
				parsed = append(parsed, name)
			}
		case 'B':
			_, rest := wire.CString(body)
			name, _ := wire.CString(rest)
			if len(name) == 0 && !unnamed {
				return false // parsed by an earlier request: its text is not known here
			}
			if len(name) > 0 && !slices.ContainsFunc(parsed, func(p []byte) bool { return string(p) == string(name) }) {
				ref := stmts[string(name)]
				if ref == nil {
					return false
				}
				sql, _ := wire.CString(ref.Parse[5+len(ref.Name)+1:])
				if !ok(string(sql)) {
					return false
				}
			}
		case 'E':
			statements++
			if statements > 1 && !begun {
				return false
			}
		case 'S':
			return statements <= 1 || begun // none: a prepare, which writes nothing either
		case 'D', 'C', 'H':
		default:
			return false // COPY data, a function call, anything else
		}
	}
}

// beginsReadOnly reports whether a simple Query is only a BEGIN or START
// TRANSACTION that declares the transaction READ ONLY: the whole
// transaction may run on a replica, where PostgreSQL itself refuses its
// writes.
func beginsReadOnly(sql string) bool {
	if strings.ContainsRune(sql, ';') && strings.IndexByte(strings.TrimRight(strings.TrimSpace(sql), "; \t\n"), ';') >= 0 {
		return false
	}
	words := sqlWords(sql)
	if len(words) < 3 || words[0] != "BEGIN" && (words[0] != "START" || words[1] != "TRANSACTION") {
		return false
	}
	for i := 1; i+1 < len(words); i++ {
		if words[i] == "READ" && words[i+1] == "ONLY" {
			return true
		}
	}
	return false
}

// readOnlyQuery reports whether a simple Query holds exactly one statement
// and it is read-only.
func readOnlyQuery(sql string) bool { return oneStatement(sql, readOnlySQL) }

// oneStatement reports whether a simple Query holds exactly one statement
// and ok accepts it.
func oneStatement(sql string, ok func(string) bool) bool {
	sql = strings.TrimSpace(sql)
	sql = strings.TrimSpace(strings.TrimSuffix(sql, ";"))
	if strings.ContainsRune(sql, ';') {
		return false // several statements (or a semicolon in a literal: not sure)
	}
	return ok(sql)
}

// readOnlySQL reports whether one statement's text reads only: it starts
// with SELECT, WITH, VALUES or TABLE (after comments and
// parentheses) and no word outside quotes and comments makes it write or
// lock or needs the primary. False when in doubt.
func readOnlySQL(sql string) bool {
	words := sqlWords(sql)
	if len(words) == 0 {
		return false
	}
	switch words[0] {
	case "SELECT", "WITH", "VALUES", "TABLE":
	default:
		return false
	}
	for i, w := range words {
		if primaryFunctions[w] || strings.HasPrefix(w, "PG_ADVISORY_") || strings.HasPrefix(w, "PG_TRY_ADVISORY_") {
			return false
		}
		switch w {
		case "INSERT", "UPDATE", "DELETE", "MERGE", "INTO", "TRUNCATE", "COPY", "CALL", "DO", "LOCK", "NOTIFY", "LISTEN":
			return false
		case "FOR":
			// FOR UPDATE / SHARE / NO KEY UPDATE / KEY SHARE lock rows.
			if i+1 < len(words) && (words[i+1] == "UPDATE" || words[i+1] == "SHARE" || words[i+1] == "NO" || words[i+1] == "KEY") {
				return false
			}
		}
	}
	return true
}

// primaryFunctions are the functions (upper-case) whose calls keep a
// statement on the primary besides the advisory-lock functions (every
// pg_advisory_* and pg_try_advisory_*: a lock taken on a replica excludes
// nobody on the primary): those that write (sequences, set_config,
// pg_notify), those PostgreSQL refuses during recovery (a transaction ID,
// the WAL's current position, WAL control), and pg_is_in_recovery, which
// describes the session (see above).
var primaryFunctions = map[string]bool{
	"NEXTVAL": true, "SETVAL": true, "LASTVAL": true, "SET_CONFIG": true, "PG_NOTIFY": true,
	"TXID_CURRENT": true, "PG_CURRENT_XACT_ID": true,
	"PG_CURRENT_WAL_LSN": true, "PG_CURRENT_WAL_INSERT_LSN": true, "PG_CURRENT_WAL_FLUSH_LSN": true,
	"PG_SWITCH_WAL": true, "PG_CREATE_RESTORE_POINT": true, "PG_LOGICAL_EMIT_MESSAGE": true,
	"PG_IS_IN_RECOVERY": true,
}

// sqlWords returns the words of sql (identifiers and keywords, upper-case)
// outside string literals, quoted identifiers and comments. A
// dollar-quoted string or an unterminated quote makes it give up (nil).
func sqlWords(sql string) []string {
	var words []string
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				return words
			}
			i += j + 1
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			j := strings.Index(sql[i+2:], "*/")
			if j < 0 {
				return nil
			}
			i += j + 4
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(sql) && sql[j] != c {
				j++
			}
			if j >= len(sql) {
				return nil
			}
			i = j + 1
		case c == '$':
			j := i + 1
			for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
				j++
			}
			if j == i+1 {
				return nil // dollar quoting: not sure
			}
			i = j // a parameter
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(sql) && (sql[j] == '_' || sql[j] >= 'a' && sql[j] <= 'z' || sql[j] >= 'A' && sql[j] <= 'Z' || sql[j] >= '0' && sql[j] <= '9') {
				j++
			}
			words = append(words, strings.ToUpper(sql[i:j]))
			i = j
		default:
			i++
		}
	}
	return words
}
