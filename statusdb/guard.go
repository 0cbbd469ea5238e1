package statusdb

import (
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Every call into libpg_query (C, through cgo) is in this file, behind
// guard. The C code cannot defend itself: its check_stack_depth compares
// against a stack_base_ptr that libpg_query never sets, and the functions
// that turn the raw parse tree into protobuf (and pack it) recurse once
// per level of the tree without checking at all. A left-deep tree costs
// nothing to build (bison's stack does not grow for `1+1+...`), so 25,000
// terms in 50 KB overflowed the 8 MB thread stack and killed the process
// with SIGSEGV; cgo runs on the thread's system stack, so no goroutine
// can be given a bigger one. Bison stops right-recursive shapes such as
// `((((`, NOT NOT and nested CASE at 10,000 parser states ("memory
// exhausted", 42601), but not before the output functions are in danger
// when threads are small (ulimit -s unlimited gives glibc's 2 MB).
//
// Measured (TestParserStackMargin, guard_test.go): about 177 bytes of C
// stack per protobuf nesting level, the same for every node type that
// nests; `1+1+...` crashes at 23,806 terms with 8 MB stacks, 5,932 with
// 2 MB, 2,953 with 1 MB. Depth is counted in units of two protobuf levels
// (a Node and the expression in it, about 355 bytes), and maxDepth units
// are about 355 KB of C stack: 23 times below the crash with 8 MB stacks,
// 6 with 2 MB, 1.4 with 512 KB. PostgreSQL 15 itself refuses `1+1+...`
// between 3,000 and 5,000 terms (54001, max_stack_depth 2 MB); this limit
// is lower, and a status query never comes near it.
const maxDepth = 1000

// maxSQLBytes bounds the text handed to the C parser. Parsing costs
// memory and time in proportion (measured: a 1 MB IN list takes 260 MB and
// 1.3 s to parse into Go structs, 8 MB takes 1 GB), and the proxy accepts
// messages of 64 MB. 256 KiB is four times a 5,000-element IN list.
const maxSQLBytes = 256 << 10

// errTooDeep is PostgreSQL's answer to a statement nested too deeply for
// its stack, with our limit in the hint instead of max_stack_depth.
func errTooDeep() *Error {
	return &Error{Code: "54001", Message: "stack depth limit exceeded",
		Hint: "Statements on helios_proxy tables may nest expressions at most " + strconv.Itoa(maxDepth) +
			" levels deep (each operator of a chain, parenthesis, function call, CASE and subquery counts); simplify the statement."}
}

func errTooLong(n int) *Error {
	return &Error{Code: "54000", Message: "statement is too long for the helios_proxy schema",
		Detail: "The statement has " + strconv.Itoa(n) + " bytes; HeliosProxy parses at most " + strconv.Itoa(maxSQLBytes) + ".",
		Hint:   "Query the helios_proxy tables with a shorter statement."}
}

// guard decides whether sql may reach the C parser. A statement that is
// too deep or too long returns 54001 or 54000 when it names helios_proxy
// outside strings and comments, and ErrNotStatusQuery otherwise (it
// cannot be ours: the proxy relays it, and the backend judges it).
func guard(sql string) *Error {
	depth, named := scanDepth(sql)
	switch {
	case depth <= maxDepth && len(sql) <= maxSQLBytes:
		return nil
	case !named:
		return ErrNotStatusQuery.(*Error)
	case depth > maxDepth:
		return errTooDeep()
	}
	return errTooLong(len(sql))
}

// parse is pg.Parse behind the guard.
func parse(sql string) (*pg.ParseResult, error) {
	if err := guard(sql); err != nil {
		return nil, err
	}
	tree, err := pg.Parse(sql)
	if err != nil {
		return nil, parseError(err)
	}
	return tree, nil
}

// split is pg.SplitWithParser behind the guard. The raw parser alone does
// not recurse (measured: no crash at any depth with 256 KB stacks), so a
// deep text that names no helios_proxy relation is split as usual; one
// too long to parse is returned whole, for the caller to relay.
func split(sql string) ([]string, error) {
	if err := guard(sql); err != nil {
		if err != ErrNotStatusQuery {
			return nil, err
		}
		if len(sql) > maxSQLBytes {
			return []string{strings.TrimSpace(sql)}, nil
		}
	}
	stmts, err := pg.SplitWithParser(sql, true)
	if err != nil {
		return nil, parseError(err)
	}
	return stmts, nil
}

// scanDepth estimates, without parsing, how deeply the parse tree of sql
// nests, in units of two protobuf levels, and reports whether sql names
// helios_proxy as an identifier (bare or quoted, in any letter case; any
// U&"..." identifier counts, as it may spell the name with escapes). The
// estimate is an upper bound for every statement the grammar accepts
// (FuzzDepthEstimate checks it against real parse trees); it may be far
// too high for text that does not parse, which the parser rejects anyway.
//
// It tokenizes as PostgreSQL's lexer does (strings, escapes in E'...',
// dollar quotes, nested comments, quoted identifiers) and keeps one level
// per open parenthesis, bracket, CASE and BEGIN ATOMIC. Within a level,
// the operators of a segment (between commas, AND, OR, and WHEN/THEN/ELSE
// of a CASE) may nest one inside another, so they add up; segments are
// siblings, so the level takes the deepest. AND and OR flatten into one
// node per level.
func scanDepth(sql string) (depth int, named bool) {
	var buf [16]level
	stack := append(buf[:0], level{weight: 3, statements: true}) // ParseResult, RawStmt, statement node
	i := 0
	for i < len(sql) {
		c := sql[i]
		top := &stack[len(stack)-1]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			i = lineEnd(sql, i)
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			i = commentEnd(sql, i)
		case c == '\'':
			i = quoteEnd(sql, i+1, '\'', false)
		case c == '"':
			end := quoteEnd(sql, i+1, '"', false)
			named = named || isName(sql[i+1:max(i+1, end-1)])
			i = end
		case c == '$' && i+1 < len(sql) && sql[i+1] >= '0' && sql[i+1] <= '9':
			i = skip(sql, i+1, isDigit) // parameter
		case c == '$':
			i = dollarEnd(sql, i)
		case isIdentStart(c):
			j := skip(sql, i+1, isIdentCont)
			word := sql[i:j]
			if j < len(sql) && sql[j] == '\'' && len(word) == 1 && strings.ContainsRune("eEbBxXnN", rune(c)) {
				i = quoteEnd(sql, j+1, '\'', c == 'e' || c == 'E')
				break
			}
			if j+1 < len(sql) && sql[j] == '&' && (sql[j+1] == '\'' || sql[j+1] == '"') && (word == "u" || word == "U") {
				named = named || sql[j+1] == '"'
				i = quoteEnd(sql, j+2, sql[j+1], false)
				break
			}
			i = j
			if isName(word) {
				named = true
			}
			stack = keyword(stack, word)
		case isDigit(c) || c == '.' && i+1 < len(sql) && isDigit(sql[i+1]):
			i = skip(sql, i+1, isNumberCont)
		case isOpChar(c):
			j, n := opRun(sql, i)
			top.ops += n
			i = j
		case c == ':':
			top.ops++ // a cast (::), or JSON_OBJECT's key: value
			i = skip(sql, i+1, func(c byte) bool { return c == ':' })
		case c == '(' || c == '[':
			closer := byte(')')
			if c == '[' {
				closer = ']'
			}
			// Two units: a function call is a Node and a FuncCall around
			// its Node arguments; a subscript nests in an A_Indirection
			// and an A_Indices.
			stack = append(stack, level{weight: 2, closer: closer})
			i++
		case c == ')' || c == ']':
			stack = closeLevel(stack, c)
			i++
		case c == ',':
			top.endSegment()
			i++
		case c == ';' && top.statements:
			top.endStatement()
			i++
		default:
			i++
		}
		if 2*len(stack) > maxDepth {
			// Every open level adds at least two: no need to read on.
			return 2 * len(stack), named || Mentions([]byte(sql))
		}
	}
	for len(stack) > 1 {
		stack = pop(stack)
	}
	return stack[0].depth(), named
}

// level is an open parenthesis, bracket, CASE or BEGIN ATOMIC body (or
// the text itself) in scanDepth.
type level struct {
	weight     int  // what the level adds itself: 2 for (, [ and CASE
	closer     byte // ')', ']', or 'E' for END
	statements bool // the text or a BEGIN ATOMIC body: ';' separates statements
	base       int  // nodes that enclose the whole statement: SELECT, UNION, JOIN, AND/OR
	andOr      bool // AND or OR seen (one BoolExpr of each kind at most)
	between    int  // BETWEENs whose AND is still to come
	ops        int  // operators in the current segment
	child      int  // deepest inner level in the current segment
	best       int  // deepest finished segment
	done       int  // deepest finished statement
}

func (l *level) endSegment() {
	l.best = max(l.best, l.ops+l.child)
	l.ops, l.child = 0, 0
}

func (l *level) endStatement() {
	l.endSegment()
	*l = level{weight: l.weight, closer: l.closer, statements: true, done: max(l.done, l.base+l.best)}
}

func (l *level) depth() int {
	l.endSegment()
	return l.weight + max(l.done, l.base+l.best)
}

// pop closes the innermost level into its parent's current segment.
func pop(stack []level) []level {
	d := stack[len(stack)-1].depth()
	stack = stack[:len(stack)-1]
	top := &stack[len(stack)-1]
	top.child = max(top.child, d)
	return stack
}

// closeLevel handles ')' or ']': it closes levels up to the matching one.
// An unmatched closer is a syntax error; it only has to not break the scan.
func closeLevel(stack []level, closer byte) []level {
	for k := len(stack) - 1; k > 0; k-- {
		if stack[k].closer == closer {
			for len(stack) > k {
				stack = pop(stack)
			}
			return stack
		}
	}
	return stack
}

// keyword applies an identifier or keyword to the innermost level.
func keyword(stack []level, word string) []level {
	if len(word) < 2 || len(word) > 9 {
		return stack
	}
	var up [9]byte
	for k := range len(word) {
		up[k] = word[k] &^ 0x20 // upper-cases letters; other bytes do not match anyway
	}
	top := &stack[len(stack)-1]
	switch string(up[:len(word)]) {
	case "NOT", "IS", "ISNULL", "NOTNULL", "COLLATE", "AT", "LIKE", "ILIKE", "SIMILAR", "IN", "OVERLAPS",
		"EXISTS", "ARRAY", "ROW", "ANY", "SOME", "ALL", "OPERATOR", "ESCAPE",
		"OVER", "FILTER", "ORDER", "PARTITION", "VALUE", "PASSING":
		top.ops++
	case "BETWEEN":
		top.ops++
		top.between++
	case "AND":
		if top.between > 0 {
			top.between--
			top.ops++
			break
		}
		fallthrough
	case "OR":
		top.endSegment()
		if !top.andOr {
			top.andOr = true
			top.base += 2
		}
	case "CASE":
		return append(stack, level{weight: 2, closer: 'E'})
	case "ATOMIC": // BEGIN ATOMIC: statements in a CreateFunctionStmt's body
		return append(stack, level{weight: 3, closer: 'E', statements: true})
	case "END":
		if top.closer == 'E' {
			return pop(stack)
		}
	case "WHEN", "THEN", "ELSE":
		if top.closer == 'E' && !top.statements {
			top.endSegment()
		}
	case "SELECT", "VALUES":
		top.base += 2
	case "UNION", "INTERSECT", "EXCEPT", "JOIN", "WITH":
		top.base++
	}
	return stack
}

func isName(s string) bool { return strings.EqualFold(s, schemaName) }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

func isIdentCont(c byte) bool { return isIdentStart(c) || isDigit(c) || c == '$' }

func isNumberCont(c byte) bool { return isIdentCont(c) && c != '$' || c == '.' }

// isOpChar reports the characters PostgreSQL's lexer makes operators of.
func isOpChar(c byte) bool { return strings.IndexByte("~!@#^&|`?+-*/%<>=", c) >= 0 }

// opRun scans a run of operator characters from i, stopping before a
// comment, and returns its end and an upper bound on the operators the
// lexer makes of it: the lexer peels trailing + and - off a run into
// operators of their own, so each counts, and the rest is at most one.
func opRun(sql string, i int) (end, n int) {
	other := 0
	for ; i < len(sql) && isOpChar(sql[i]); i++ {
		if i+1 < len(sql) && (sql[i] == '-' && sql[i+1] == '-' || sql[i] == '/' && sql[i+1] == '*') {
			break
		}
		if sql[i] == '+' || sql[i] == '-' {
			n++
		} else {
			other = 1
		}
	}
	return i, n + other
}

func skip(sql string, i int, ok func(byte) bool) int {
	for i < len(sql) && ok(sql[i]) {
		i++
	}
	return i
}

func lineEnd(sql string, i int) int {
	if j := strings.IndexAny(sql[i:], "\n\r"); j >= 0 {
		return i + j + 1
	}
	return len(sql)
}

// commentEnd returns the end of the (nested) comment starting at i.
func commentEnd(sql string, i int) int {
	nest := 0
	for i+1 < len(sql) {
		switch {
		case sql[i] == '/' && sql[i+1] == '*':
			nest++
			i += 2
		case sql[i] == '*' && sql[i+1] == '/':
			nest--
			i += 2
			if nest == 0 {
				return i
			}
		default:
			i++
		}
	}
	return len(sql)
}

// quoteEnd returns the index after the quote q that ends the string or
// quoted identifier whose text starts at i; a doubled quote is part of
// the text, and so is a quote after a backslash in an E'...' string.
func quoteEnd(sql string, i int, q byte, backslash bool) int {
	for i < len(sql) {
		switch sql[i] {
		case q:
			if i+1 < len(sql) && sql[i+1] == q {
				i += 2
				continue
			}
			return i + 1
		case '\\':
			if backslash {
				i++
			}
		}
		i++
	}
	return len(sql)
}

// dollarEnd returns the end of the dollar-quoted string starting at i,
// or i+1 if the $ starts none.
func dollarEnd(sql string, i int) int {
	j := i + 1
	if j < len(sql) && isIdentStart(sql[j]) {
		j = skip(sql, j+1, func(c byte) bool { return isIdentCont(c) && c != '$' })
	}
	if j >= len(sql) || sql[j] != '$' {
		return i + 1
	}
	tag := sql[i : j+1]
	if k := strings.Index(sql[j+1:], tag); k >= 0 {
		return j + 1 + k + len(tag)
	}
	return len(sql)
}
