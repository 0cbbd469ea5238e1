package statusdb

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// evalFn computes an expression for the current row or group of an
// evalCtx. Run-time errors (division by zero, a bad cast) panic with
// evalError, which Execute recovers: it keeps every evalFn a plain function
// of one argument, and errors are rare.
type evalFn func(x *evalCtx) value

// evalCtx is the state of one execution of a query level: the statement
// runs in one, and each subquery run in one of its own (child) whose
// outer is the enclosing level's.
type evalCtx struct {
	in     *Input
	row    int
	tuple  []value   // the current row of a materialized FROM clause
	src    [][]value // the FROM clause's rows; nil when read from a table
	grp    *group
	win    []value // window function results of the current row
	srf    []value // the select list's set-returning functions' values in the current expanded row
	params []value
	loc    *time.Location
	now    int64 // µs since the Unix epoch
	outer  *evalCtx
	ctes   map[*ctePlan]*cteState // the level's WITH queries, materialized when first read
	run    *runState              // the statement's context's ownRun
	ownRun runState

	// style is the session's output styles (timeout.go), once styleRead.
	style     outStyle
	styleRead bool
}

// runState is shared by every level of one execution.
type runState struct {
	subs   map[int][][]value // rows of uncorrelated subqueries, computed once
	arrays [][]value         // elements of the array parameters, by parameter
	work   int               // see maxWork
	text   int               // see maxText
}

// maxWork bounds what one execution may do across all its levels: rows
// read from a table count one, row pairs a join tests one, and each
// value of a materialized row (a FROM clause's, a subquery's) one. Joins,
// correlated subqueries and recursion multiply them, and the proxy must
// neither run out of memory (4M values are about 200 MB) nor spend
// seconds on one status query, where PostgreSQL would until
// statement_timeout. A join of two tables of 1,000 backends on a key
// costs about 70,000.
const maxWork = 4_000_000

// work counts n against maxWork.
func (x *evalCtx) work(n int) {
	x.run.work += n
	if x.run.work > maxWork {
		failErr(&Error{Code: "54000", Message: "statement processes too many rows for the helios_proxy schema",
			Detail: "It read, paired or produced more than " + strconv.Itoa(maxWork) + " rows and values.",
			Hint:   "Add join conditions, or query the helios_proxy tables with a simpler statement."})
	}
}

// maxText bounds the bytes of the values one execution's functions and
// string_agg make, all together: maxStringResult bounds each value, but
// an aggregate or a function called for every row can make many of them
// (string_agg(repeat('x', 16000000), ',') over 100 rows made a 1.6 GB
// value and took the proxy to 7.9 GB of memory). PostgreSQL would make
// them until out of memory or statement_timeout; the proxy answers in its
// own memory, beside every session it relays.
const maxText = 64 << 20

// made counts n bytes of values made against maxText. Contexts without
// an execution (constants folded while compiling) count nothing.
func (x *evalCtx) made(n int) {
	if x.run == nil {
		return
	}
	x.run.text += n
	if x.run.text > maxText {
		failErr(&Error{Code: "54000", Message: "statement makes too much text for the helios_proxy schema",
			Detail: "Its functions and aggregates made more than " + strconv.Itoa(maxText>>20) + " MB of values.",
			Hint:   "Query the helios_proxy tables with a simpler statement."})
	}
}

// child returns a context for running a query level nested in x's.
func (x *evalCtx) child() *evalCtx {
	return &evalCtx{in: x.in, params: x.params, loc: x.loc, now: x.now, outer: x, run: x.run}
}

// at makes row i of the level's input current.
func (x *evalCtx) at(i int) {
	x.row = i
	if x.src != nil {
		x.tuple = x.src[i]
	}
}

type evalError struct{ err *Error }

func fail(code, msg string) { panic(evalError{&Error{Code: code, Message: msg}}) }

func failErr(err *Error) { panic(evalError{err}) }

type sortSpec struct {
	e          *expr
	out        int // output column, or -1
	desc       bool
	nullsFirst bool
}

// compiler turns expressions into evalFns. In a grouped query the
// select list, HAVING and ORDER BY are compiled with grouped set: a
// subexpression equal to a GROUP BY expression reads the group's key, an
// aggregate reads its result, and any other column reference is an error.
type compiler struct {
	sql       string
	lvl       *queryLevel
	grouped   bool
	groupKeys []string
}

// relation is a compiled query level: rows returns its rows, evaluated
// in an evaluation context of its own (evalCtx.child of the enclosing
// level's).
type relation interface {
	rows(x *evalCtx) [][]value
}

func compileRelation(sql string, p *plan) (relation, *Error) {
	for _, c := range p.ctes {
		if err := c.compile(sql); err != nil {
			return nil, err
		}
	}
	if p.set != nil {
		return compileSet(sql, p)
	}
	return compileQuery(sql, p)
}

func compileQuery(sql string, p *plan) (*query, *Error) {
	rc := &compiler{sql: sql, lvl: p.lvl}
	q := &query{tbl: p.lvl.tbl, distinct: p.distinct}
	var err *Error
	if p.from != nil {
		if q.from, err = rc.source(p.from); err != nil {
			return nil, err
		}
	}
	if p.where != nil {
		if q.where, err = rc.compile(p.where); err != nil {
			return nil, err
		}
	}
	oc := rc // compiles what is evaluated per output row or group
	q.grouped = len(p.group) > 0 || len(p.aggs) > 0 || p.having != nil || p.groupSets != nil
	q.sets = p.groupSets
	if q.grouped {
		gc := &compiler{sql: sql, lvl: p.lvl, grouped: true}
		if q.groupKeys, q.groupTypes, err = rc.compileAll(p.group); err != nil {
			return nil, err
		}
		for _, g := range p.group {
			gc.groupKeys = append(gc.groupKeys, g.key())
		}
		for _, a := range p.aggs {
			ap, err := rc.aggPlan(a)
			if err != nil {
				return nil, err
			}
			q.aggs = append(q.aggs, ap)
		}
		oc = gc
	}
	for _, o := range p.outs {
		f, err := oc.compile(o)
		if err != nil {
			return nil, err
		}
		q.outs = append(q.outs, f)
		q.outTypes = append(q.outTypes, o.typ)
	}
	if p.having != nil {
		if q.having, err = oc.compile(p.having); err != nil {
			return nil, err
		}
	}
	for _, fn := range p.srfs {
		f, err := oc.srfRows(fn)
		if err != nil {
			return nil, err
		}
		q.srfs, q.srfOffsets = append(q.srfs, f), append(q.srfOffsets, fn.field)
		q.srfWidths = append(q.srfWidths, srfWidth(fn))
		q.srfWidth += srfWidth(fn)
	}
	if q.windows, err = oc.windows(p); err != nil {
		return nil, err
	}
	if q.distinctOn, q.distinctOnTypes, err = oc.compileAll(p.distinctOn); err != nil {
		return nil, err
	}
	for _, s := range p.sort {
		k := sortKey{out: s.out, typ: s.e.typ, desc: s.desc, nullsFirst: s.nullsFirst}
		k.cmp = k.comparator()
		if !q.distinct {
			k.out = -1 // sort before projecting
			if k.eval, err = oc.compile(s.e); err != nil {
				return nil, err
			}
		}
		q.sort = append(q.sort, k)
	}
	if q.limit, q.offset, err = rc.bounds(p.limit, p.offset); err != nil {
		return nil, err
	}
	return q, nil
}

// compileAll compiles a list of expressions and returns their types.
func (c *compiler) compileAll(es []*expr) ([]evalFn, []typ, *Error) {
	fns, types := make([]evalFn, len(es)), make([]typ, len(es))
	for i, e := range es {
		f, err := c.compile(e)
		if err != nil {
			return nil, nil, err
		}
		fns[i], types[i] = f, e.typ
	}
	return fns, types, nil
}

// bounds compiles LIMIT and OFFSET.
func (c *compiler) bounds(limit, offset *expr) (l, o evalFn, err *Error) {
	if limit != nil {
		if l, err = c.compile(limit); err != nil {
			return nil, nil, err
		}
	}
	if offset != nil {
		if o, err = c.compile(offset); err != nil {
			return nil, nil, err
		}
	}
	return l, o, nil
}

// aggPlan compiles an aggregate call's argument and filter.
func (c *compiler) aggPlan(a *expr) (aggPlan, *Error) {
	if a.ord != nil {
		return c.collectPlan(a)
	}
	ap := aggPlan{op: a.op, star: a.star, distinct: a.distinct, typ: a.typ}
	var err *Error
	if !a.star && len(a.args) > 0 {
		ap.argTyp = a.args[0].typ
		if ap.arg, err = c.compile(a.args[0]); err != nil {
			return ap, err
		}
		if len(a.args) == 2 {
			if ap.delim, err = c.compile(a.args[1]); err != nil {
				return ap, err
			}
		}
	}
	if a.filter != nil {
		if ap.filter, err = c.compile(a.filter); err != nil {
			return ap, err
		}
	}
	return ap, nil
}

func (c *compiler) compile(e *expr) (evalFn, *Error) {
	if c.grouped {
		if e.kind == eAgg {
			i := e.idx
			return func(x *evalCtx) value { return x.grp.aggs[i] }, nil
		}
		if e.kind != eConst && e.kind != eParam {
			if i := slices.Index(c.groupKeys, e.key()); i >= 0 {
				return func(x *evalCtx) value { return x.grp.keys[i] }, nil
			}
		}
		switch {
		case e.kind == eColumn && e.up == 0:
			return nil, errorf(codeGrouping, "column \"%s.%s\" must appear in the GROUP BY clause or be used in an aggregate function", e.colName[0], e.colName[1]).at(c.sql, e.loc)
		case e.kind == eSubLink:
			for _, r := range e.sub.outerRefs {
				local := *r
				local.up = 0
				if !slices.Contains(c.groupKeys, local.key()) {
					return nil, errorf(codeGrouping, "subquery uses ungrouped column \"%s.%s\" from outer query", r.colName[0], r.colName[1]).at(c.sql, r.loc)
				}
			}
		}
	}
	if e.kind == eFunc && e.op == "grouping" {
		return c.groupingFn(e)
	}
	if e.kind == eSRF { // its arguments are compiled with the query's srfs
		i := e.field
		return func(x *evalCtx) value { return x.srf[i] }, nil
	}
	args := make([]evalFn, len(e.args))
	for i, a := range e.args {
		f, err := c.compile(a)
		if err != nil {
			return nil, err
		}
		args[i] = f
	}
	switch e.kind {
	case eConst:
		v := e.val
		return func(*evalCtx) value { return v }, nil
	case eTSConst:
		ts := e.ts
		return func(x *evalCtx) value { return value{n: ts.resolve(x.loc, x.now)} }, nil
	case eParam:
		i := e.idx
		return func(x *evalCtx) value { return x.params[i] }, nil
	case eColumn:
		return c.lvl.get(e.up, e.idx), nil
	case eNow:
		return func(x *evalCtx) value { return value{n: x.now} }, nil
	case eCast:
		conv := castFn(e.args[0], e)
		f := args[0]
		return func(x *evalCtx) value {
			v := f(x)
			if v.null {
				return v
			}
			return conv(x, v)
		}, nil
	case eNeg:
		return negFn(e.typ, args[0]), nil
	case eArith:
		return arithFn(e, args[0], args[1]), nil
	case eCompare:
		return compareFn(e.op, e.cmp, args[0], args[1]), nil
	case eConcat:
		l, r, lt, rt := args[0], args[1], e.args[0].typ, e.args[1].typ
		return func(x *evalCtx) value {
			a, b := l(x), r(x)
			if a.null || b.null {
				return null
			}
			return value{s: textOf(lt, a, x.loc) + textOf(rt, b, x.loc)}
		}, nil
	case eAnd, eOr:
		stop := int64(0) // AND stops at false, OR at true
		if e.kind == eOr {
			stop = 1
		}
		return func(x *evalCtx) value {
			sawNull := false
			for _, f := range args {
				v := f(x)
				if v.null {
					sawNull = true
				} else if v.n == stop {
					return value{n: stop}
				}
			}
			if sawNull {
				return null
			}
			return value{n: 1 - stop}
		}, nil
	case eNot:
		f := args[0]
		return func(x *evalCtx) value {
			v := f(x)
			if v.null {
				return v
			}
			return value{n: 1 - v.n}
		}, nil
	case eIsNull:
		f, neg := args[0], e.neg
		return func(x *evalCtx) value { return boolValue(f(x).null != neg) }, nil
	case eBoolTest:
		f, op, neg := args[0], e.op, e.neg
		return func(x *evalCtx) value {
			v := f(x)
			var r bool
			switch op {
			case "true":
				r = !v.null && v.n != 0
			case "false":
				r = !v.null && v.n == 0
			default:
				r = v.null
			}
			return boolValue(r != neg)
		}, nil
	case eLike:
		return likeFn(e, args), nil
	case eDistinct:
		l, r, t, neg := args[0], args[1], e.cmp, e.neg
		return func(x *evalCtx) value {
			a, b := l(x), r(x)
			var distinct bool
			switch {
			case a.null || b.null:
				distinct = a.null != b.null
			default:
				distinct = compareValues(t, a, b) != 0
			}
			return boolValue(distinct != neg)
		}, nil
	case eNullIf:
		l, r, t := args[0], args[1], e.cmp
		return func(x *evalCtx) value {
			a, b := l(x), r(x)
			if !a.null && !b.null && compareValues(t, a, b) == 0 {
				return null
			}
			return a
		}, nil
	case eCase:
		hasElse := e.hasElse
		return func(x *evalCtx) value {
			n := len(args)
			if hasElse {
				n--
			}
			for i := 0; i < n; i += 2 {
				if v := args[i](x); !v.null && v.n != 0 {
					return args[i+1](x)
				}
			}
			if hasElse {
				return args[n](x)
			}
			return null
		}, nil
	case eCoalesce:
		return func(x *evalCtx) value {
			for _, f := range args {
				if v := f(x); !v.null {
					return v
				}
			}
			return null
		}, nil
	case eGreatest, eLeast:
		t, want := e.typ, 1
		if e.kind == eLeast {
			want = -1
		}
		return func(x *evalCtx) value {
			best := null
			for _, f := range args {
				v := f(x)
				if !v.null && (best.null || compareValues(t, v, best) == want) {
					best = v
				}
			}
			return best
		}, nil
	case eFunc:
		if e.op == "record_field" {
			return recordField(e, args), nil
		}
		f := extFn(e, args)
		if f == nil {
			f = catalogFn(e, args)
		}
		if f == nil {
			f = builtinFn(e, args)
		}
		if f == nil {
			f = funcFn(e, args)
		}
		return func(x *evalCtx) value {
			v := f(x)
			x.made(len(v.s))
			return v
		}, nil
	case eSession:
		return sessionFn(e.op, args), nil
	case eSubLink:
		return c.subLink(e, args)
	case eArrayOp:
		return c.arrayOp(e, args)
	case eWindow:
		i := e.idx
		return func(x *evalCtx) value { return x.win[i] }, nil
	}
	return nil, unsupported("this expression")
}

func outOfRange(t typ) {
	if t == tInt4 {
		fail(codeOutOfRange, "integer out of range")
	}
	fail(codeOutOfRange, "bigint out of range")
}

func checkInt(t typ, n int64) int64 {
	if t == tInt4 && (n < math.MinInt32 || n > math.MaxInt32) {
		outOfRange(t)
	}
	return n
}

// checkFloat raises PostgreSQL's float overflow and underflow errors.
func checkFloat(r float64, infOK, zeroOK bool) float64 {
	if math.IsInf(r, 0) && !infOK {
		fail(codeOutOfRange, "value out of range: overflow")
	}
	if r == 0 && !zeroOK {
		fail(codeOutOfRange, "value out of range: underflow")
	}
	return r
}

func negFn(t typ, f evalFn) evalFn {
	return func(x *evalCtx) value {
		v := f(x)
		if v.null {
			return v
		}
		switch t {
		case tFloat8:
			v.f = -v.f
		case tNumeric:
			v = numericNeg(v.s)
		case tInterval:
			if v.n == math.MinInt64 || v.d == math.MinInt32 || v.m == math.MinInt32 {
				fail(codeDatetimeOverflow, "interval out of range")
			}
			v.n, v.d, v.m = -v.n, -v.d, -v.m
		default:
			if v.n == math.MinInt64 {
				outOfRange(t)
			}
			v.n = checkInt(t, -v.n)
		}
		return v
	}
}

func arithFn(e *expr, l, r evalFn) evalFn {
	lt, t, op := e.args[0].typ, e.typ, e.op
	var f func(x *evalCtx, a, b value) value
	switch {
	case t == tFloat8:
		f = func(_ *evalCtx, a, b value) value {
			x, y := a.f, b.f
			inf := math.IsInf(x, 0) || math.IsInf(y, 0)
			switch op {
			case "+":
				return value{f: checkFloat(x+y, inf, true)}
			case "-":
				return value{f: checkFloat(x-y, inf, true)}
			case "*":
				return value{f: checkFloat(x*y, inf, x == 0 || y == 0)}
			default:
				if y == 0 && !math.IsNaN(x) {
					fail(codeDivisionByZero, "division by zero")
				}
				return value{f: checkFloat(x/y, math.IsInf(x, 0), x == 0 || math.IsInf(y, 0))}
			}
		}
	case t == tInt4 || t == tInt8:
		f = func(_ *evalCtx, a, b value) value { return value{n: intArith(op, t, a.n, b.n)} }
	case t == tNumeric:
		f = func(_ *evalCtx, a, b value) value { return numericArith(op, a.s, b.s) }
	case t == tTimestamptz:
		sign := int32(1)
		if op == "-" {
			sign = -1
		}
		tsFirst := lt == tTimestamptz
		f = func(x *evalCtx, a, b value) value {
			if !tsFirst {
				a, b = b, a
			}
			return value{n: addInterval(a.n, b, sign, x.loc)}
		}
	case lt == tTimestamptz: // ts - ts
		f = func(_ *evalCtx, a, b value) value {
			d := a.n - b.n
			if (a.n > 0 && b.n < 0 && d < 0) || (a.n < 0 && b.n > 0 && d > 0) {
				fail(codeDatetimeOverflow, "interval out of range")
			}
			days := d / usPerDay // truncating: days and time get the same sign
			return value{d: int32(days), n: d - days*usPerDay}
		}
	default: // interval ± interval
		f = func(_ *evalCtx, a, b value) value {
			if op == "-" {
				b.n, b.d, b.m = -b.n, -b.d, -b.m
			}
			m, d, n := int64(a.m)+int64(b.m), int64(a.d)+int64(b.d), a.n+b.n
			if m != int64(int32(m)) || d != int64(int32(d)) || ((a.n^n)&(b.n^n)) < 0 {
				fail(codeDatetimeOverflow, "interval out of range")
			}
			return value{m: int32(m), d: int32(d), n: n}
		}
	}
	return func(x *evalCtx) value {
		a := l(x)
		if a.null {
			return a
		}
		b := r(x)
		if b.null {
			return b
		}
		return f(x, a, b)
	}
}

// intArith is int4 or int8 arithmetic with PostgreSQL's overflow and
// division errors; / truncates toward zero.
func intArith(op string, t typ, a, b int64) int64 {
	switch op {
	case "+":
		r := a + b
		if ((a ^ r) & (b ^ r)) < 0 {
			outOfRange(t)
		}
		return checkInt(t, r)
	case "-":
		r := a - b
		if ((a ^ b) & (a ^ r)) < 0 {
			outOfRange(t)
		}
		return checkInt(t, r)
	case "*":
		r := a * b
		if a != 0 && (r/a != b || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64)) {
			outOfRange(t)
		}
		return checkInt(t, r)
	case "/":
		if b == 0 {
			fail(codeDivisionByZero, "division by zero")
		}
		if b == -1 {
			if a == math.MinInt64 {
				outOfRange(t)
			}
			return checkInt(t, -a)
		}
		return a / b
	case "&":
		return a & b
	case "|":
		return a | b
	case "#":
		return a ^ b
	default:
		if b == 0 {
			fail(codeDivisionByZero, "division by zero")
		}
		if b == -1 {
			return 0
		}
		return a % b
	}
}

// cmpTest returns the test of a comparison operator on compareValues's
// result.
func cmpTest(op string) func(c int) bool {
	switch op {
	case "=":
		return func(c int) bool { return c == 0 }
	case "<>":
		return func(c int) bool { return c != 0 }
	case "<":
		return func(c int) bool { return c < 0 }
	case ">":
		return func(c int) bool { return c > 0 }
	case "<=":
		return func(c int) bool { return c <= 0 }
	}
	return func(c int) bool { return c >= 0 }
}

func compareFn(op string, t typ, l, r evalFn) evalFn {
	test := cmpTest(op)
	return func(x *evalCtx) value {
		a := l(x)
		if a.null {
			return null
		}
		b := r(x)
		if b.null {
			return null
		}
		return boolValue(test(compareValues(t, a, b)))
	}
}

// castFn converts a non-NULL value of arg's type to e's type.
func castFn(arg, e *expr) func(x *evalCtx, v value) value {
	from, to := arg.typ, e.typ
	var conv func(x *evalCtx, v value) value
	switch {
	case to == tText:
		conv = func(x *evalCtx, v value) value { return value{s: textOf(from, v, x.loc)} }
	case from == tText:
		conv = func(x *evalCtx, v value) value {
			var r value
			var err *Error
			switch to {
			case tInt4, tInt8:
				r, err = parseInt(to, v.s)
			case tFloat8:
				r, err = parseFloat8(v.s)
			case tNumeric:
				r, err = numericIn(v.s)
			case tBool:
				r, err = parseBool(v.s)
			case tInterval:
				r, err = parseInterval(v.s)
			case tTimestamptz:
				var ts tsInput
				if ts, err = parseTimestamptz(v.s); err == nil {
					r = value{n: ts.resolve(x.loc, x.now)}
				}
			}
			if err != nil {
				failErr(err)
			}
			return r
		}
	case from == to:
		conv = func(_ *evalCtx, v value) value { return v }
	case to == tFloat8 && (from == tInt4 || from == tInt8):
		conv = func(_ *evalCtx, v value) value { return value{f: float64(v.n)} }
	case to == tNumeric && (from == tInt4 || from == tInt8):
		conv = func(_ *evalCtx, v value) value { return numericFromInt(v.n) }
	case to == tNumeric && from == tFloat8:
		conv = func(_ *evalCtx, v value) value { return numericFromFloat(v.f) }
	case from == tNumeric && to == tFloat8:
		conv = func(_ *evalCtx, v value) value { return value{f: numericToFloat(v.s)} }
	case from == tNumeric && (to == tInt4 || to == tInt8):
		conv = func(_ *evalCtx, v value) value { return value{n: numericToInt(to, v.s)} }
	case to == tInt8 && from == tInt4, to == tInt4 && from == tBool:
		conv = func(_ *evalCtx, v value) value { return v }
	case to == tInt4 && from == tInt8:
		conv = func(_ *evalCtx, v value) value { return value{n: checkInt(tInt4, v.n)} }
	case to == tBool && from == tInt4:
		conv = func(_ *evalCtx, v value) value { return boolValue(v.n != 0) }
	case from == tFloat8 && (to == tInt4 || to == tInt8):
		conv = func(_ *evalCtx, v value) value {
			// rint, then a range check, as float8 → int4/int8 in PostgreSQL.
			f := math.RoundToEven(v.f)
			if math.IsNaN(f) || f < math.MinInt64 || f >= math.MaxInt64 {
				outOfRange(to)
			}
			return value{n: checkInt(to, int64(f))}
		}
	default:
		conv = func(_ *evalCtx, v value) value { return v }
	}
	if to != tNumeric || e.scale < 0 {
		return conv
	}
	prec, scale := e.prec, e.scale
	return func(x *evalCtx, v value) value { return numericTypmod(conv(x, v).s, prec, scale) }
}

func likeFn(e *expr, args []evalFn) evalFn {
	neg, ci := e.neg, e.ci
	return func(x *evalCtx) value {
		s, p := args[0](x), args[1](x)
		if s.null || p.null {
			return null
		}
		esc := '\\'
		if len(args) == 3 {
			ev := args[2](x)
			if ev.null {
				return null
			}
			switch utf8.RuneCountInString(ev.s) {
			case 0:
				esc = -1
			case 1:
				esc, _ = utf8.DecodeRuneInString(ev.s)
			default:
				failErr(&Error{Code: codeInvalidEscape, Message: "invalid escape string", Hint: "Escape string must be empty or one character."})
			}
		}
		text, pat := s.s, p.s
		if ci {
			text, pat = asciiLower(text), asciiLower(pat)
		}
		return boolValue((matchLike(text, pat, esc) == likeTrue) != neg)
	}
}

const (
	likeFalse = iota
	likeTrue
	likeAbort // no match, and none possible with less text: stop trying
)

// matchLike is PostgreSQL's MatchText: % matches any run of characters, _
// one character, esc quotes the next pattern character.
func matchLike(t, p string, esc rune) int {
	for len(t) > 0 && len(p) > 0 {
		pc, pw := utf8.DecodeRuneInString(p)
		switch {
		case pc == esc:
			p = p[pw:]
			if len(p) == 0 {
				fail(codeInvalidEscape, "LIKE pattern must not end with escape character")
			}
			pc, pw = utf8.DecodeRuneInString(p)
			tc, tw := utf8.DecodeRuneInString(t)
			if pc != tc {
				return likeFalse
			}
			t, p = t[tw:], p[pw:]
		case pc == '%':
			p = p[pw:]
			for len(p) > 0 {
				c, w := utf8.DecodeRuneInString(p)
				if c == '%' {
					p = p[w:]
				} else if c == '_' {
					if len(t) == 0 {
						return likeAbort
					}
					_, tw := utf8.DecodeRuneInString(t)
					t, p = t[tw:], p[w:]
				} else {
					break
				}
			}
			if len(p) == 0 {
				return likeTrue
			}
			first, _ := utf8.DecodeRuneInString(p)
			if first == esc {
				rest := p[utf8.RuneLen(esc):]
				if len(rest) == 0 {
					fail(codeInvalidEscape, "LIKE pattern must not end with escape character")
				}
				first, _ = utf8.DecodeRuneInString(rest)
			}
			for len(t) > 0 {
				tc, tw := utf8.DecodeRuneInString(t)
				if tc == first {
					if r := matchLike(t, p, esc); r != likeFalse {
						return r
					}
				}
				t = t[tw:]
			}
			return likeAbort
		case pc == '_':
			_, tw := utf8.DecodeRuneInString(t)
			t, p = t[tw:], p[pw:]
		default:
			tc, tw := utf8.DecodeRuneInString(t)
			if pc != tc {
				return likeFalse
			}
			t, p = t[tw:], p[pw:]
		}
	}
	if len(t) > 0 {
		return likeFalse
	}
	p = strings.TrimLeft(p, "%")
	if len(p) == 0 {
		return likeTrue
	}
	return likeAbort
}

// asciiLower and asciiUpper change only ASCII letters, as lower(), upper()
// and ILIKE do under the C collation the schema uses.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func asciiUpper(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'a' && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func funcFn(e *expr, args []evalFn) evalFn {
	arg := args[0]
	var f func(v value) value
	switch e.op {
	case "lower":
		f = func(v value) value { return value{s: asciiLower(v.s)} }
	case "upper":
		f = func(v value) value { return value{s: asciiUpper(v.s)} }
	case "length":
		f = func(v value) value { return value{n: int64(utf8.RuneCountInString(v.s))} }
	case "abs":
		t := e.typ
		f = func(v value) value {
			switch t {
			case tFloat8:
				return value{f: math.Abs(v.f)}
			case tNumeric:
				return numericAbs(v.s)
			}
			if v.n < 0 {
				if v.n == math.MinInt64 {
					outOfRange(t)
				}
				v.n = checkInt(t, -v.n)
			}
			return v
		}
	case "ceil", "floor":
		up := e.op == "ceil"
		if e.typ == tNumeric {
			f = func(v value) value { return numericCeilFloor(v.s, up) }
		} else if up {
			f = func(v value) value { return value{f: math.Ceil(v.f)} }
		} else {
			f = func(v value) value { return value{f: math.Floor(v.f)} }
		}
	case "trunc", "round":
		trunc := e.op == "trunc"
		if len(args) == 2 {
			places := args[1]
			return func(x *evalCtx) value {
				v, n := arg(x), places(x)
				if v.null || n.null {
					return null
				}
				return numericRound(v.s, int(n.n), trunc)
			}
		}
		switch {
		case e.typ == tNumeric:
			f = func(v value) value { return numericRound(v.s, 0, trunc) }
		case trunc:
			f = func(v value) value { return value{f: math.Trunc(v.f)} }
		default:
			f = func(v value) value { return value{f: math.RoundToEven(v.f)} }
		}
	}
	return func(x *evalCtx) value {
		v := arg(x)
		if v.null {
			return v
		}
		return f(v)
	}
}
