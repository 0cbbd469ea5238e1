package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// bomb is a statement deep enough to exhaust a recursive parser or
// evaluator (PostgreSQL's own answers 54001 stack_depth_limit_exceeded,
// or 42601 when bison's stack overflows), and the value it has when a
// server evaluates it anyway.
type bomb struct {
	name string
	sql  func() string
	want string // the first column of every row, in text
}

var bombs = []bomb{
	{"sql-bomb-25k-terms", func() string { return chain("1", "+1", 25_000-1, "") }, "25000"},
	{"sql-bomb-100k-terms", func() string { return chain("1", "+1", 100_000-1, "") }, "100000"},
	{"sql-bomb-deep-parens", func() string { return chain("", "(", 100_000, "1"+strings.Repeat(")", 100_000)) }, "1"},
	{"sql-bomb-not-chain", func() string { return chain("", "NOT ", 100_000, "true") }, "t"},
}

// chain is SELECT first, n times link, then last, FROM the status table.
func chain(first, link string, n int, last string) string {
	var b strings.Builder
	b.Grow(len(first) + n*len(link) + len(last) + 64)
	b.WriteString("SELECT ")
	b.WriteString(first)
	for range n {
		b.WriteString(link)
	}
	b.WriteString(last)
	b.WriteString(" FROM helios_proxy.backends")
	return b.String()
}

// bombCodes are the answers PostgreSQL gives to a statement too deep for
// it: stack depth exceeded, out of memory, or the parser's own overflow.
var bombCodes = []string{"54001", "54000", "42601"}

// bombTimeout bounds a bomb's connect and answer.
const bombTimeout = 30 * time.Second

// sqlBomb sends the bomb as a simple query on database and wants an
// ErrorResponse with one of bombCodes (or the right value), and the
// session usable afterwards.
func sqlBomb(ctx context.Context, e *env, database string, b bomb) outcome {
	ctx, cancel := context.WithTimeout(ctx, bombTimeout)
	defer cancel()
	pc, err := pgconn.Connect(ctx, e.connString(database))
	if err != nil {
		return failf("connect to %s: %v", database, err)
	}
	defer pc.Close(ctx)
	sql := b.sql()
	start := time.Now()
	res, err := pc.Exec(ctx, sql).ReadAll()
	took := time.Since(start)
	var (
		pe   *pgconn.PgError
		o    outcome
		code string
	)
	switch {
	case errors.As(err, &pe) && slices.Contains(bombCodes, pe.Code):
		code = pe.Code
		o = passf("%s in %s", pe.Code, millis(took))
	case errors.As(err, &pe):
		code = pe.Code
		o = failf("%s %q in %s, want 54001, 54000 or 42601", pe.Code, pe.Message, millis(took))
	case err != nil:
		return failf("no ErrorResponse: %s after %s", closed(err), millis(took)).with("ms", took.Milliseconds())
	case len(res) == 1 && len(res[0].Rows) > 0 && !slices.ContainsFunc(res[0].Rows, func(r [][]byte) bool { return string(r[0]) != b.want }):
		o = passf("evaluated: %s in %s", b.want, millis(took))
	default:
		return failf("wrong answer in %s", millis(took)).with("ms", took.Milliseconds())
	}
	// A status query: the helios_proxy database answers nothing else.
	if _, err := pc.Exec(ctx, "SELECT count(*) FROM helios_proxy.backends").ReadAll(); err != nil {
		o = failf("%s, then the session failed: %v", o.detail, err)
	}
	return o.with("sqlstate", code, "ms", took.Milliseconds(), "statement_bytes", len(sql))
}
