package statusdb

import (
	"strconv"
	"strings"
)

// exprKind says what an analyzed expression computes.
type exprKind uint8

const (
	eConst    exprKind = iota // val, of type typ; an unknown literal keeps its text in lit
	eTSConst                  // a timestamptz literal resolved at execution (ts)
	eParam                    // $idx+1
	eColumn                   // column idx of the row of the query level up levels out (0: this one)
	eNow                      // now(), current_timestamp
	eCast                     // args[0] converted to typ; scale/prec for numeric(p,s)
	eNeg                      // -args[0]
	eArith                    // args[0] op args[1], op one of + - * / %
	eCompare                  // args[0] op args[1] compared as type cmp
	eConcat                   // args[0] || args[1]
	eAnd                      // args...
	eOr                       // args...
	eNot                      // NOT args[0]
	eIsNull                   // args[0] IS [NOT] NULL (neg)
	eBoolTest                 // args[0] IS [NOT] TRUE/FALSE/UNKNOWN: op "true", "false", "unknown"
	eLike                     // args[0] [NOT] [I]LIKE args[1] [ESCAPE args[2]]
	eDistinct                 // args[0] IS [NOT] DISTINCT FROM args[1], compared as cmp
	eNullIf                   // NULLIF(args[0], args[1]), compared as cmp
	eCase                     // args: cond, result, cond, result, ..., [else]; hasElse
	eCoalesce                 // args...
	eGreatest                 // args...
	eLeast                    // args...
	eFunc                     // op(args...): lower, upper, length, abs, round, ceil, floor
	eAgg                      // aggregate op (count, sum, avg, min, max) number idx
	eSession                  // op(args...) of the status database's session: version, current_setting, ...
	eSubLink                  // a subquery (sub): EXISTS, scalar, args[0] op ANY/ALL, ARRAY
	eArrayOp                  // args[0] op ANY/ALL (arr), op a comparison or LIKE, compared as cmp
	eWindow                   // window function op number idx of its query level
	eSRF                      // a set-returning function of the select list, number idx (projectset.go): reads x.srf[field]
)

// expr is an analyzed, typed expression: the parse tree with names
// resolved, literals parsed and implicit casts made explicit.
type expr struct {
	kind    exprKind
	typ     typ
	cmp     typ // eCompare, eDistinct, eNullIf: the type both sides were converted to
	loc     int32
	op      string
	val     value
	lit     string // eConst of unknown type: the literal's text; "" with val.null for NULL
	ts      tsInput
	idx     int
	args    []*expr
	neg     bool
	ci      bool // eLike: ILIKE
	hasElse bool
	// name marks a text of PostgreSQL's type name (current_user,
	// current_database()): an output column of type name (OID 19).
	name bool
	// pgt is the PostgreSQL type of a value the evaluator holds as typ
	// when it is not typ's own (oid, int2, "char", regclass, ... from the
	// catalogs); 0 otherwise. It names the output column's type.
	pgt uint32
	// eAgg
	star, distinct bool
	filter         *expr
	// eCast to numeric(prec, scale); scale < 0 when there is no typmod.
	prec, scale int
	// eColumn: how many query levels out the column is (an outer
	// reference of a correlated subquery), and its relation and name as
	// PostgreSQL shows them in grouping errors ("s.port").
	up      int
	colName [2]string
	sub     *subPlan  // eSubLink
	arr     *arrayArg // eArrayOp
	all     bool      // eSubLink and eArrayOp: ALL rather than ANY
	win     *winCall  // eWindow
	ord     *aggOrder // eAgg computed from its collected rows (aggorder.go)
	// field is, for eSRF, the position of its value in the expanded
	// row's function values; for a field selection, the field's number.
	field int
	rec   *recordType // a record's fields (_pg_expandarray's (x, n))
	// mod is, for eColumn and a folded eConst, the type modifier + 1 of
	// its values (0: none): varchar(n) and numeric(p, s) (typmodOf).
	mod int32
}

// typmodOf is the type modifier of e's values, as PostgreSQL's
// exprTypmod computes it; -1 when there is none.
func typmodOf(e *expr) int32 {
	switch e.kind {
	case eColumn, eConst:
		return e.mod - 1
	case eCast:
		if e.typ == tNumeric && e.scale >= 0 {
			return int32(e.prec<<16|e.scale) + 4
		}
	case eFunc:
		if (e.op == builtinPrefix+"::varchar" || e.op == builtinPrefix+"::bpchar") && e.prec >= 0 {
			return int32(e.prec) + 4
		}
	case eNullIf:
		if exprTypeOID(e) == exprTypeOID(e.args[0]) {
			return typmodOf(e.args[0])
		}
	case eCase, eCoalesce, eGreatest, eLeast:
		// The branches' modifier when they all have the same one.
		var branches []*expr
		if e.kind == eCase {
			if !e.hasElse {
				return -1 // the implicit ELSE NULL has none
			}
			for i := 1; i < len(e.args)-1; i += 2 {
				branches = append(branches, e.args[i])
			}
			branches = append(branches, e.args[len(e.args)-1])
		} else {
			branches = e.args
		}
		if len(branches) == 0 {
			return -1
		}
		m := typmodOf(branches[0])
		for _, b := range branches {
			if typmodOf(b) != m || exprTypeOID(b) != exprTypeOID(e) {
				return -1
			}
		}
		return m
	}
	return -1
}

// key identifies an expression structurally, to match select-list, HAVING
// and ORDER BY expressions against GROUP BY and DISTINCT ones.
func (e *expr) key() string {
	var b strings.Builder
	e.writeKey(&b)
	return b.String()
}

func (e *expr) writeKey(b *strings.Builder) {
	b.WriteString(strconv.Itoa(int(e.kind)))
	b.WriteByte('/')
	b.WriteString(strconv.Itoa(int(e.typ)))
	b.WriteByte('/')
	b.WriteString(strconv.Itoa(int(e.cmp)))
	b.WriteByte('/')
	b.WriteString(e.op)
	b.WriteByte('/')
	b.WriteString(strconv.Itoa(e.idx))
	b.WriteByte('/')
	b.WriteString(strconv.Itoa(e.up))
	b.WriteByte('/')
	switch {
	case e.kind == eSubLink:
		b.WriteString("sub" + strconv.Itoa(e.sub.id))
	case e.kind == eArrayOp:
		b.WriteString("arr" + strconv.Itoa(e.arr.id))
	case e.kind == eConst && e.val.null:
		b.WriteString("null")
	case e.kind == eConst:
		b.WriteString(strconv.Quote(e.lit + "|" + e.val.s))
		b.WriteString(strconv.FormatInt(e.val.n, 10) + "|" + strconv.FormatFloat(e.val.f, 'g', -1, 64) + "|" + strconv.Itoa(int(e.val.d)) + "|" + strconv.Itoa(int(e.val.m)))
	case e.kind == eTSConst:
		b.WriteString(strconv.Quote(strconv.Itoa(e.ts.y) + "-" + strconv.Itoa(e.ts.mo) + "-" + strconv.Itoa(e.ts.d) + " " +
			strconv.Itoa(e.ts.h) + ":" + strconv.Itoa(e.ts.mi) + ":" + strconv.Itoa(e.ts.s) + "." + strconv.Itoa(e.ts.usec) +
			"@" + strconv.FormatBool(e.ts.zoned) + strconv.Itoa(e.ts.off) + strconv.FormatBool(e.ts.now)))
	}
	for _, f := range []bool{e.neg, e.ci, e.hasElse, e.star, e.distinct, e.all} {
		if f {
			b.WriteByte('1')
		} else {
			b.WriteByte('0')
		}
	}
	b.WriteString(strconv.Itoa(e.prec) + "," + strconv.Itoa(e.scale))
	b.WriteByte('(')
	for _, a := range e.args {
		a.writeKey(b)
		b.WriteByte(',')
	}
	if e.ord != nil {
		b.WriteString(e.ord.key)
	}
	if e.filter != nil {
		b.WriteString("filter:")
		e.filter.writeKey(b)
	}
	b.WriteByte(')')
}

// hasColumn reports whether e refers to a column of its query level outside aggregates.
func (e *expr) hasColumn() (bool, int32) {
	if e.kind == eColumn && e.up == 0 {
		return true, e.loc
	}
	if e.kind == eAgg {
		return false, 0
	}
	for _, a := range e.args {
		if ok, loc := a.hasColumn(); ok {
			return true, loc
		}
	}
	return false, 0
}

// columnLevels reports whether e (its arguments and filter) refers to
// columns of its own query level, and to columns of outer ones.
func (e *expr) columnLevels() (local, outer bool) {
	if e.kind == eColumn {
		return e.up == 0, e.up > 0
	}
	parts := e.args
	if e.filter != nil {
		parts = append(parts[:len(parts):len(parts)], e.filter)
	}
	for _, a := range parts {
		l, o := a.columnLevels()
		local, outer = local || l, outer || o
	}
	return local, outer
}

// hasAgg reports whether e contains an aggregate call.
func (e *expr) hasAgg() (bool, int32) {
	return e.has(eAgg)
}

// has reports whether e contains an expression of the kind, outside
// subqueries, and where the first one is.
func (e *expr) has(kind exprKind) (bool, int32) {
	if e.kind == kind {
		return true, e.loc
	}
	for _, a := range e.args {
		if ok, loc := a.has(kind); ok {
			return true, loc
		}
	}
	if e.filter != nil {
		return e.filter.has(kind)
	}
	return false, 0
}

// leftmost returns the smallest known location, as PostgreSQL's
// exprLocation reports the leftmost token of an operator expression.
func leftmost(locs ...int32) int32 {
	best := int32(-1)
	for _, l := range locs {
		if l >= 0 && (best < 0 || l < best) {
			best = l
		}
	}
	return best
}
