package statusdb

import (
	"container/list"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Column describes a result column: its name as PostgreSQL would name it
// (the alias, the column or function name, "?column?") and its type OID.
type Column struct {
	Name string
	OID  uint32
	mod  int32 // the type modifier + 1; 0: none (see TypeModifier)
}

// TypeModifier returns the column type's modifier for RowDescription, as
// PostgreSQL's exprTypmod finds it: 24 for varchar(20) (the length + 4),
// ((p << 16) | s) + 4 for numeric(p, s), passed on through column
// references, subqueries, CASE and COALESCE whose branches agree, and set
// operations whose sides agree; -1 when there is none.
func (c Column) TypeModifier() int32 { return c.mod - 1 }

// TypeSize returns the column type's size for RowDescription: pg_type's
// typlen (8 for int8, 2 for int2, 64 for name, -1 for the variable-length
// types), as PostgreSQL sends it.
func (c Column) TypeSize() int16 {
	if t := builtinTypes[c.OID]; t != nil {
		return int16(t.length)
	}
	return -1
}

// Stmt is a parsed and planned statement. It is immutable and safe for
// concurrent use; DB hands the same *Stmt to every caller of the same SQL.
type Stmt struct {
	sql        string
	cols       []Column
	paramTypes []typ    // what the evaluator sees
	paramOIDs  []uint32 // what ParameterDescription says, and how Bind values are encoded

	body     relation // what a SELECT computes; nil for the statements without rows
	q        *query   // body, when it is one SELECT: its rows stream to the wire
	outTypes []typ
	events   bool // reads helios_proxy.circuit_events
	// special holds, per output column, the PostgreSQL type OID of a
	// column whose wire form is not its evaluator type's (int2, oid,
	// regclass, float4 from the catalogs); nil when there is none.
	special []uint32
	// recs holds, per output column, the fields of a record column (sent
	// in binary as record_send sends it); nil when there is none.
	recs []*recordType

	// Statements of the status database (PrepareStandalone).
	tag          string                // the command tag when not "SELECT n"
	utility      func(*Session) *Error // SET, RESET, DISCARD: no rows
	control      bool                  // transaction control or DEALLOCATE
	savepoint    SavepointOp           // SAVEPOINT, RELEASE and ROLLBACK TO
	begin        []setOpt              // BEGIN's transaction modes
	firstParam   *Error                // the statement's first parameter reference, as an error without parameters
	undetermined *Error                // a parameter neither declared nor referred to
	empty        bool                  // the empty statement
	show         string                // SHOW's setting name, checked before the rows are described

	// pathName is the first unqualified name the status database took for
	// a helios_proxy table, which needs helios_proxy on the session's
	// search_path (checkPath), and pathLoc where it is (-1: nowhere).
	pathName string
	pathLoc  int32

	// Statements around a status query (cursor.go, copy.go).
	declare *Declare
	fetch   *Fetch
	copy    *Copy
}

// Columns returns the result columns, known before execution (for
// Describe).
func (s *Stmt) Columns() []Column { return slices.Clone(s.cols) }

// ParamOIDs returns the types of $1..$n as inferred from their use, for
// ParameterDescription and for decoding Bind values; a parameter whose
// type nothing determines is text.
func (s *Stmt) ParamOIDs() []uint32 { return slices.Clone(s.paramOIDs) }

// ReadsEvents reports whether the statement reads
// helios_proxy.circuit_events, so that callers fill Input.Events only then.
func (s *Stmt) ReadsEvents() bool { return s.events }

// Tag returns the command tag's verb ("SELECT", "SHOW", "SET", "RESET",
// "DISCARD ALL", ...); CommandTag gives the whole tag.
func (s *Stmt) Tag() string {
	if s.tag != "" {
		return s.tag
	}
	return "SELECT"
}

// CommandTag returns the tag of CommandComplete after rows rows: "SELECT
// n" for a SELECT, the verb alone for the others.
func (s *Stmt) CommandTag(rows int) string {
	if s.tag != "" {
		return s.tag
	}
	return "SELECT " + strconv.Itoa(rows)
}

// ReturnsRows reports whether the statement returns rows (a
// RowDescription); SET, RESET, DISCARD, transaction control and the empty
// statement do not.
func (s *Stmt) ReturnsRows() bool { return s.body != nil || s.cols != nil }

// Check reports the errors PostgreSQL raises before it describes a
// statement's rows (SHOW of a setting that does not exist); errors while
// rows are computed come after the RowDescription.
func (s *Stmt) Check(in Input) error {
	if s.pathName != "" {
		if err := s.checkPath(in); err != nil {
			return err
		}
	}
	if s.show == "" {
		return nil
	}
	ses := in.Session
	if ses == nil {
		ses, _ = NewSession("", "", 0, nil)
	}
	if _, err := ses.show(s.show); err != nil {
		return err
	}
	return nil
}

// Control reports whether the statement is transaction control (BEGIN,
// COMMIT, ROLLBACK, ...) or DEALLOCATE, which the caller answers from its
// own state; only PrepareStandalone returns such statements.
func (s *Stmt) Control() bool { return s.control }

// ParameterError returns what PostgreSQL reports about the statement's
// parameters before it runs, or nil: in a Query message (simple), which
// has none, a reference to one (42P02); in a Parse message, a parameter
// whose type neither the message nor the statement determines (42P18).
func (s *Stmt) ParameterError(simple bool) error {
	switch {
	case simple && s.firstParam != nil:
		return s.firstParam
	case !simple && s.undetermined != nil:
		return s.undetermined
	}
	return nil
}

// SavepointOp is a savepoint statement: Kind SAVEPOINT, RELEASE or
// ROLLBACK TO, and the savepoint's name; Kind "" for other statements.
type SavepointOp struct{ Kind, Name string }

// Savepoint returns the savepoint statement st is, if any.
func (s *Stmt) Savepoint() SavepointOp { return s.savepoint }

// Empty reports whether the statement is empty (an EmptyQueryResponse);
// only PrepareStandalone returns such statements.
func (s *Stmt) Empty() bool { return s.empty }

// SQL returns the statement's text.
func (s *Stmt) SQL() string { return s.sql }

// cacheSize is how many distinct statement texts DB remembers.
const cacheSize = 256

// maxCachedSQL is the longest statement text DB caches; longer ones are
// planned every time rather than kept in memory.
const maxCachedSQL = 64 << 10

// DB answers queries on the helios_proxy schema. It caches plans (and
// planning errors) by statement text in an LRU of 256 entries. The zero
// value is not usable; call New. A DB is safe for concurrent use.
type DB struct {
	mu      sync.Mutex
	entries map[string]*list.Element
	lru     list.List // of *cacheEntry, most recent first
}

type cacheEntry struct {
	key  string // the SQL text, and declared parameter types if any
	stmt *Stmt
	err  error
}

// New returns a DB with an empty cache.
func New() *DB {
	return &DB{entries: make(map[string]*list.Element)}
}

// Prepare parses and plans one statement, for Parse/Describe in the
// extended protocol and for each statement of a simple Query. A statement
// that refers to no helios_proxy relation returns ErrNotStatusQuery (the
// proxy relays it to a backend); every other error is an *Error with a
// SQLSTATE and, where it helps, a Position in sql. Repeated calls with the
// same text return the same *Stmt from the cache. A statement nested too
// deeply or too long for the C parser is refused before it reaches it
// (54001 "stack depth limit exceeded", 54000; see guard.go), or returns
// ErrNotStatusQuery when helios_proxy appears only in its strings and
// comments.
func (db *DB) Prepare(sql string) (*Stmt, error) {
	return db.PrepareTyped(sql, nil)
}

// PrepareTyped is Prepare with the parameter types a client declared in
// its Parse message (0 for "unspecified"), which PostgreSQL honours: a
// declared type fixes the parameter's type in the analysis, is echoed by
// ParamOIDs, and says how Execute decodes binary values (int2, float4,
// numeric, timestamp and varchar are accepted besides our own types).
// Clients such as JDBC and psycopg 3 declare types; pgx and libpq mostly
// do not.
func (db *DB) PrepareTyped(sql string, paramOIDs []uint32) (*Stmt, error) {
	return db.prepareCached(sql, paramOIDs, 0)
}

func (db *DB) prepareCached(sql string, paramOIDs []uint32, mode prepMode) (*Stmt, error) {
	key := sql
	if len(paramOIDs) > 0 || mode != 0 {
		var b strings.Builder
		if mode != 0 {
			b.WriteByte(byte(mode)) // a mark no SQL text starts with
		}
		b.WriteString(sql)
		for _, oid := range paramOIDs {
			b.WriteByte(0)
			b.WriteString(strconv.FormatUint(uint64(oid), 10))
		}
		key = b.String()
	}
	db.mu.Lock()
	if el, ok := db.entries[key]; ok {
		db.lru.MoveToFront(el)
		e := el.Value.(*cacheEntry)
		db.mu.Unlock()
		return e.stmt, e.err
	}
	db.mu.Unlock()

	// Plan without the lock: parsing takes tens of microseconds. Two
	// callers may plan the same text at once; the first one stored wins.
	st, err := prepareFor(sql, paramOIDs, mode)
	if len(sql) > maxCachedSQL {
		return st, err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if el, ok := db.entries[key]; ok {
		db.lru.MoveToFront(el)
		e := el.Value.(*cacheEntry)
		return e.stmt, e.err
	}
	db.entries[key] = db.lru.PushFront(&cacheEntry{key: key, stmt: st, err: err})
	if db.lru.Len() > cacheSize {
		old := db.lru.Back()
		db.lru.Remove(old)
		delete(db.entries, old.Value.(*cacheEntry).key)
	}
	return st, err
}

// Split splits the text of a simple-protocol Query message into its
// statements with PostgreSQL's grammar (so semicolons in strings,
// comments and dollar quotes are handled), without surrounding
// whitespace. Empty statements are dropped. Each returned string is a
// substring of sql, in order, so a caller can find its offset with
// strings.Index. A syntax error anywhere is an *Error (42601) with a
// Position in sql, as PostgreSQL reports before running any of them. A
// text that names helios_proxy and is nested too deeply or too long for
// the parser is a 54001 or 54000 *Error; a text over 256 KiB that names
// it only in strings and comments is returned whole, unsplit, for the
// caller to relay (Prepare says ErrNotStatusQuery for it).
func (db *DB) Split(sql string) ([]string, error) {
	stmts, err := split(sql)
	if err != nil {
		return nil, err
	}
	out := stmts[:0]
	for _, s := range stmts {
		if s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}
