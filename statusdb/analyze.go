package statusdb

import (
	"math"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// analyzer turns one query level's parse tree (a SELECT, or one side
// of a UNION) into typed expressions, resolving names, literals and
// parameter types the way PostgreSQL's parse analysis does for the
// supported subset. A subquery gets an analyzer of its own whose outer is
// the enclosing level's.
type analyzer struct {
	*shared
	outer *analyzer
	lvl   *queryLevel  // how the level's row is read, known once FROM is analyzed
	scope []*rangeItem // the FROM clause's names
	ctes  []*ctePlan   // the level's WITH entries
	aggs  []*expr
	wins  []*expr // window function calls
	srfs  []*expr // set-returning functions of the select list (projectset.go)
	// srfWidth counts the values srfs give per expanded row; srfOK is
	// set while the select list is analyzed, where they are allowed, and
	// srfClause names the clause being analyzed where they are not.
	srfWidth  int
	srfOK     bool
	srfClause string
	specs     []*windowSpec // their windows
	named     []*pg.Node    // the WINDOW clause
	// clause names the clause being analyzed when aggregates are not
	// allowed there ("WHERE", "GROUP BY", ...); "" where they are.
	// winClause is the same for window functions.
	clause, winClause string
	inAgg, inWin      bool
	// correlated is set when the level (or one inside it) refers to a
	// column or CTE of a level outside it: its subquery is then evaluated
	// per row, not once per execution.
	correlated bool
	// outerRefs are the references, from this level or deeper ones, to
	// columns of the enclosing level, for its grouping check.
	outerRefs []*expr
}

// shared is the analysis state of one statement, common to its levels.
type shared struct {
	sql    string
	params []typ  // by parameter number - 1; tUnknown until deduced
	used   []bool // the parameters the statement refers to
	events bool   // the statement reads circuit_events
	nsub   int    // subqueries and arrays numbered so far
	// subNames are the column names of the scalar subqueries, which name
	// a select-list item as PostgreSQL's FigureColname does.
	subNames map[*pg.SubLink]string
}

// child returns the analyzer of a query level nested in a's.
func (a *analyzer) child() *analyzer {
	return &analyzer{shared: a.shared, outer: a}
}

func (a *analyzer) errAt(e *Error, loc int32) *Error { return e.at(a.sql, loc) }

// exprs analyzes a list of expressions.
func (a *analyzer) exprs(ns []*pg.Node) ([]*expr, *Error) {
	var out []*expr
	for _, n := range ns {
		e, err := a.expr(n)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func (a *analyzer) expr(n *pg.Node) (*expr, *Error) {
	if n == nil || n.Node == nil {
		return nil, unsupported("an empty expression")
	}
	switch v := n.Node.(type) {
	case *pg.Node_ColumnRef:
		return a.columnRef(v.ColumnRef)
	case *pg.Node_AConst:
		return a.constant(v.AConst)
	case *pg.Node_ParamRef:
		return a.param(v.ParamRef)
	case *pg.Node_TypeCast:
		return a.typeCast(v.TypeCast)
	case *pg.Node_AExpr:
		return a.aExpr(v.AExpr)
	case *pg.Node_BoolExpr:
		return a.boolExpr(v.BoolExpr)
	case *pg.Node_NullTest:
		arg, err := a.expr(v.NullTest.Arg)
		if err != nil {
			return nil, err
		}
		return &expr{kind: eIsNull, typ: tBool, args: []*expr{arg}, neg: v.NullTest.Nulltesttype == pg.NullTestType_IS_NOT_NULL,
			loc: leftmost(arg.loc, v.NullTest.Location)}, nil
	case *pg.Node_BooleanTest:
		return a.booleanTest(v.BooleanTest)
	case *pg.Node_FuncCall:
		return a.funcCall(v.FuncCall)
	case *pg.Node_SqlvalueFunction:
		if v.SqlvalueFunction.Op == pg.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP {
			return &expr{kind: eNow, typ: tTimestamptz, loc: v.SqlvalueFunction.Location}, nil
		}
		switch v.SqlvalueFunction.Op {
		case pg.SQLValueFunctionOp_SVFOP_CURRENT_USER, pg.SQLValueFunctionOp_SVFOP_CURRENT_ROLE, pg.SQLValueFunctionOp_SVFOP_USER, pg.SQLValueFunctionOp_SVFOP_SESSION_USER:
			return &expr{kind: eSession, op: "current_user", typ: tText, name: true, loc: v.SqlvalueFunction.Location}, nil
		case pg.SQLValueFunctionOp_SVFOP_CURRENT_CATALOG:
			return &expr{kind: eSession, op: "current_database", typ: tText, name: true, loc: v.SqlvalueFunction.Location}, nil
		case pg.SQLValueFunctionOp_SVFOP_CURRENT_SCHEMA:
			return &expr{kind: eSession, op: "current_schema", typ: tText, name: true, loc: v.SqlvalueFunction.Location}, nil
		}
		name := strings.ToUpper(strings.TrimPrefix(v.SqlvalueFunction.Op.String(), "SVFOP_"))
		return nil, a.errAt(unsupported(strings.TrimSuffix(name, "_N")), v.SqlvalueFunction.Location)
	case *pg.Node_CoalesceExpr:
		return a.variadic(eCoalesce, "COALESCE", v.CoalesceExpr.Args, v.CoalesceExpr.Location)
	case *pg.Node_MinMaxExpr:
		if v.MinMaxExpr.Op == pg.MinMaxOp_IS_LEAST {
			return a.variadic(eLeast, "LEAST", v.MinMaxExpr.Args, v.MinMaxExpr.Location)
		}
		return a.variadic(eGreatest, "GREATEST", v.MinMaxExpr.Args, v.MinMaxExpr.Location)
	case *pg.Node_CaseExpr:
		return a.caseExpr(v.CaseExpr)
	case *pg.Node_SubLink:
		return a.subLink(v.SubLink)
	case *pg.Node_CollateClause:
		// Text is compared in byte order, which is COLLATE "C"; accept
		// that (and its synonyms), refuse any other collation.
		name := opName(v.CollateClause.Collname)
		if name != "C" && name != "POSIX" && name != "default" && name != "ucs_basic" {
			return nil, a.errAt(unsupported("COLLATE "+strconv.Quote(name)), v.CollateClause.Location)
		}
		e, err := a.expr(v.CollateClause.Arg)
		if err != nil {
			return nil, err
		}
		if e.typ != tText && e.typ != tUnknown {
			return nil, a.errAt(errorf(codeDatatypeMismatch, "collations are not supported by type %s", e.typ), v.CollateClause.Location)
		}
		return e, nil
	case *pg.Node_AArrayExpr:
		return a.arrayValue(v.AArrayExpr)
	case *pg.Node_RowExpr:
		return nil, a.errAt(unsupported("a row constructor"), v.RowExpr.Location)
	case *pg.Node_AIndirection:
		return a.subscript(v.AIndirection)
	case *pg.Node_GroupingFunc:
		return a.groupingFunc(v.GroupingFunc)
	}
	return nil, unsupported("this kind of expression")
}

func (a *analyzer) constant(c *pg.A_Const) (*expr, *Error) {
	if c.Isnull {
		return &expr{kind: eConst, typ: tUnknown, val: null, loc: c.Location}, nil
	}
	switch v := c.Val.(type) {
	case *pg.A_Const_Ival:
		return &expr{kind: eConst, typ: tInt4, val: value{n: int64(v.Ival.Ival)}, loc: c.Location}, nil
	case *pg.A_Const_Fval:
		// An integer too big for int4 is int8; anything else is numeric.
		if n, err := strconv.ParseInt(v.Fval.Fval, 10, 64); err == nil {
			t := tInt8
			if n == int64(int32(n)) { // -2147483648 arrives here
				t = tInt4
			}
			return &expr{kind: eConst, typ: t, val: value{n: n}, loc: c.Location}, nil
		}
		n, err := numericIn(v.Fval.Fval)
		if err != nil {
			return nil, a.errAt(err, c.Location)
		}
		return &expr{kind: eConst, typ: tNumeric, val: n, loc: c.Location}, nil
	case *pg.A_Const_Boolval:
		return &expr{kind: eConst, typ: tBool, val: boolValue(v.Boolval.Boolval), loc: c.Location}, nil
	case *pg.A_Const_Sval:
		return &expr{kind: eConst, typ: tUnknown, lit: v.Sval.Sval, val: value{s: v.Sval.Sval}, loc: c.Location}, nil
	}
	return nil, a.errAt(unsupported("a bit-string constant"), c.Location)
}

func (a *analyzer) param(p *pg.ParamRef) (*expr, *Error) {
	if p.Number < 1 || p.Number > math.MaxUint16 {
		return nil, a.errAt(errorf(codeUndefinedParameter, "there is no parameter $%d", p.Number), p.Location)
	}
	i := int(p.Number) - 1
	for len(a.params) <= i {
		a.params = append(a.params, tUnknown)
	}
	for len(a.used) <= i {
		a.used = append(a.used, false)
	}
	a.used[i] = true
	return &expr{kind: eParam, typ: a.params[i], idx: i, loc: p.Location}, nil
}

const codeUndefinedParameter = "42P02"

// coerce converts e implicitly to t: it gives an unknown literal, NULL or
// parameter the type t, and widens numbers (int4 → int8 → float8). It
// returns nil when PostgreSQL has no implicit cast.
func (a *analyzer) coerce(e *expr, t typ) (*expr, *Error) {
	if e.typ == t {
		return e, nil
	}
	if e.typ == tUnknown {
		return a.resolveUnknown(e, t)
	}
	if e.typ.numeric() && t.numeric() && e.typ < t {
		return &expr{kind: eCast, typ: t, args: []*expr{e}, loc: e.loc, scale: -1}, nil
	}
	return nil, nil
}

// resolveUnknown gives an unknown-typed expression (a literal, NULL or a
// parameter) the type t, parsing a literal now as PostgreSQL does at parse
// analysis, so a bad literal is an error at Prepare with its position.
func (a *analyzer) resolveUnknown(e *expr, t typ) (*expr, *Error) {
	r := *e
	r.typ = t
	switch e.kind {
	case eParam:
		switch have := a.params[e.idx]; {
		case have == tUnknown || have == t:
			a.params[e.idx] = t
		default:
			return nil, a.errAt(&Error{Code: codeInconsistentParam, Message: "inconsistent types deduced for parameter $" + strconv.Itoa(e.idx+1),
				Detail: have.String() + " versus " + t.String()}, e.loc)
		}
		return &r, nil
	case eConst:
		if e.val.null {
			return &r, nil
		}
		var err *Error
		switch t {
		case tText:
			r.val = value{s: e.lit}
		case tInt4, tInt8:
			r.val, err = parseInt(t, e.lit)
		case tFloat8:
			r.val, err = parseFloat8(e.lit)
		case tNumeric:
			r.val, err = numericIn(e.lit)
		case tBool:
			r.val, err = parseBool(e.lit)
		case tInterval:
			r.val, err = parseInterval(e.lit)
		case tTimestamptz:
			r.kind = eTSConst
			r.ts, err = parseTimestamptz(e.lit)
		}
		if err != nil {
			return nil, a.errAt(err, e.loc)
		}
		return &r, nil
	}
	return &r, nil // an unknown CASE or COALESCE of unknowns: its parts are already text
}

// unknownToText resolves a still-unknown expression to text, as
// PostgreSQL does for select-list items and for parameters nobody typed.
func (a *analyzer) unknownToText(e *expr) *expr {
	if e.typ != tUnknown {
		return e
	}
	r, _ := a.resolveUnknown(e, tText) // text accepts any literal
	return r
}

// boolArg requires a boolean argument of the construct named what.
func (a *analyzer) boolArg(e *expr, what string) (*expr, *Error) {
	r, err := a.coerce(e, tBool)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, a.errAt(errorf(codeDatatypeMismatch, "argument of %s must be type boolean, not type %s", what, e.typ), e.loc)
	}
	return r, nil
}

// typeFor maps a type name to our types; numeric reports numeric, which
// takes a (precision, scale) modifier.
func typeFor(tn *pg.TypeName) (t typ, numeric bool, name string, ok bool) {
	if tn == nil || len(tn.Names) == 0 || len(tn.ArrayBounds) > 0 || tn.Setof || tn.PctType {
		return 0, false, "", false
	}
	var names []string
	for _, n := range tn.Names {
		if s, ok := n.Node.(*pg.Node_String_); ok {
			names = append(names, s.String_.Sval)
		}
	}
	if len(names) != len(tn.Names) || len(names) > 2 || (len(names) == 2 && names[0] != "pg_catalog") {
		return 0, false, strings.Join(names, "."), false
	}
	name = names[len(names)-1]
	switch name {
	case "text", "varchar":
		return tText, false, name, true
	case "int4", "int", "integer":
		return tInt4, false, name, true
	case "int8", "bigint":
		return tInt8, false, name, true
	case "float8":
		return tFloat8, false, name, true
	case "numeric", "decimal":
		return tNumeric, true, name, true
	case "bool", "boolean":
		return tBool, false, name, true
	case "timestamptz":
		return tTimestamptz, false, name, true
	case "interval":
		return tInterval, false, name, true
	}
	return 0, false, name, false
}

func (a *analyzer) typeCast(tc *pg.TypeCast) (*expr, *Error) {
	arg, err := a.expr(tc.Arg)
	if err != nil {
		return nil, err
	}
	if tc.TypeName != nil && len(tc.TypeName.ArrayBounds) > 0 {
		return a.arrayCast(arg, tc)
	}
	if e, err, ok := a.typedCast(arg, tc.TypeName, tc.Location); ok {
		return e, err
	}
	if e, err, ok := a.timeCast(arg, tc); ok {
		return e, err
	}
	if t, pgt, ok := catalogCastTarget(tc.TypeName); ok {
		if arg.pgt == pgt && arg.typ == t {
			return arg, nil
		}
		return a.catalogCast(arg, t, pgt, tc.Location)
	}
	if arg.pgt != 0 && oidLike(arg.pgt) && arg.pgt != pgtype.OIDOID {
		if tn, _, _, ok := typeFor(tc.TypeName); ok && tn == tText {
			return regToText(arg, tc.Location), nil
		}
	}
	t, numeric, name, ok := typeFor(tc.TypeName)
	tloc := int32(-1)
	if tc.TypeName != nil {
		tloc = tc.TypeName.Location
	}
	if !ok {
		return nil, a.errAt(unsupported("type "+strconv.Quote(name)), tloc)
	}
	prec, scale := -1, -1
	if len(tc.TypeName.Typmods) > 0 {
		if !numeric || len(tc.TypeName.Typmods) > 2 {
			if t == tText { // varchar(n): length limits are not enforced
				goto cast
			}
			return nil, a.errAt(unsupported("a type modifier on "+name), tloc)
		}
		var mods []int
		for _, m := range tc.TypeName.Typmods {
			c, ok := m.Node.(*pg.Node_AConst)
			if !ok {
				return nil, a.errAt(unsupported("this type modifier"), tloc)
			}
			iv, ok := c.AConst.Val.(*pg.A_Const_Ival)
			if !ok {
				return nil, a.errAt(unsupported("this type modifier"), tloc)
			}
			mods = append(mods, int(iv.Ival.Ival))
		}
		prec, scale = mods[0], 0
		if len(mods) == 2 {
			scale = mods[1]
		}
		if prec < 1 || prec > 1000 || scale < 0 || scale > prec {
			return nil, a.errAt(errorf(codeInvalidParamValue, "NUMERIC precision %d must be between 1 and 1000", prec), tloc)
		}
	}
cast:
	loc := leftmost(arg.loc, tc.Location)
	if arg.typ == tUnknown {
		r, err := a.resolveUnknown(arg, t)
		if err != nil {
			return nil, err
		}
		if scale < 0 {
			r.loc = loc
			return r, nil
		}
		arg = r
	}
	if !castable(arg.typ, t) {
		return nil, a.errAt(errorf(codeCannotCoerce, "cannot cast type %s to %s", arg.typ, t), tc.Location)
	}
	if arg.typ == t && scale < 0 {
		if arg.name || arg.pgt != 0 { // name, "char", varchar, an array held as text → text
			r := *arg
			r.name, r.pgt, r.loc = false, 0, loc
			return &r, nil
		}
		return arg, nil
	}
	return &expr{kind: eCast, typ: t, args: []*expr{arg}, loc: loc, prec: prec, scale: scale}, nil
}

// castable reports whether PostgreSQL has a cast from f to t (explicit or not).
func castable(f, t typ) bool {
	switch {
	case f == t, t == tText, f == tText:
		return true
	case f.numeric() && t.numeric():
		return true
	case f == tBool && t == tInt4, f == tInt4 && t == tBool:
		return true
	}
	return false
}

func opName(names []*pg.Node) string {
	var parts []string
	for _, n := range names {
		if s, ok := n.Node.(*pg.Node_String_); ok {
			parts = append(parts, s.String_.Sval)
		}
	}
	if len(parts) == 2 && parts[0] == "pg_catalog" { // OPERATOR(pg_catalog.=)
		return parts[1]
	}
	return strings.Join(parts, ".")
}

func (a *analyzer) aExpr(x *pg.A_Expr) (*expr, *Error) {
	op := opName(x.Name)
	switch x.Kind {
	case pg.A_Expr_Kind_AEXPR_OP:
		if x.Lexpr == nil {
			r, err := a.expr(x.Rexpr)
			if err != nil {
				return nil, err
			}
			return a.unary(op, r, x.Location)
		}
		l, err := a.expr(x.Lexpr)
		if err != nil {
			return nil, err
		}
		if x.Rexpr == nil {
			return nil, a.errAt(unsupported("postfix operator "+op), x.Location)
		}
		r, err := a.expr(x.Rexpr)
		if err != nil {
			return nil, err
		}
		switch op {
		case "~~", "!~~", "~~*", "!~~*":
			return a.like(op, l, r, nil, x.Location)
		case "~", "!~", "~*", "!~*":
			return a.regexOp(op, l, r, x.Location)
		}
		return a.binary(op, l, r, x.Location)
	case pg.A_Expr_Kind_AEXPR_LIKE, pg.A_Expr_Kind_AEXPR_ILIKE:
		l, err := a.expr(x.Lexpr)
		if err != nil {
			return nil, err
		}
		var esc *expr
		patNode := x.Rexpr
		if fc, ok := patNode.Node.(*pg.Node_FuncCall); ok && opName(fc.FuncCall.Funcname) == "like_escape" && len(fc.FuncCall.Args) == 2 {
			patNode = fc.FuncCall.Args[0]
			if esc, err = a.expr(fc.FuncCall.Args[1]); err != nil {
				return nil, err
			}
		}
		r, err := a.expr(patNode)
		if err != nil {
			return nil, err
		}
		return a.like(op, l, r, esc, x.Location)
	case pg.A_Expr_Kind_AEXPR_IN:
		l, err := a.expr(x.Lexpr)
		if err != nil {
			return nil, err
		}
		list, ok := x.Rexpr.Node.(*pg.Node_List)
		if !ok {
			return nil, a.errAt(unsupported("IN with a subquery"), x.Location)
		}
		// x IN (a, b) is x = a OR x = b, and NOT IN is x <> a AND x <> b,
		// which is also what PostgreSQL does when the types differ; the
		// three-valued logic comes out right.
		kind, cmpOp := eOr, "="
		if op == "<>" {
			kind, cmpOp = eAnd, "<>"
		}
		out := &expr{kind: kind, typ: tBool, loc: leftmost(l.loc, x.Location)}
		for _, item := range list.List.Items {
			r, err := a.expr(item)
			if err != nil {
				return nil, err
			}
			c, err := a.binary(cmpOp, l, r, x.Location)
			if err != nil {
				return nil, err
			}
			if l.typ == tUnknown { // the first item typed a parameter or literal on the left
				l = c.args[0]
			}
			out.args = append(out.args, c)
		}
		return out, nil
	case pg.A_Expr_Kind_AEXPR_BETWEEN, pg.A_Expr_Kind_AEXPR_NOT_BETWEEN,
		pg.A_Expr_Kind_AEXPR_BETWEEN_SYM, pg.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM:
		return a.between(x)
	case pg.A_Expr_Kind_AEXPR_DISTINCT, pg.A_Expr_Kind_AEXPR_NOT_DISTINCT, pg.A_Expr_Kind_AEXPR_NULLIF:
		l, r, err := a.operands(x)
		if err != nil {
			return nil, err
		}
		c, err := a.binary("=", l, r, x.Location)
		if err != nil {
			return nil, err
		}
		if x.Kind == pg.A_Expr_Kind_AEXPR_NULLIF {
			return &expr{kind: eNullIf, typ: c.args[0].typ, cmp: c.cmp, args: c.args, loc: c.loc}, nil
		}
		return &expr{kind: eDistinct, typ: tBool, cmp: c.cmp, args: c.args, loc: c.loc, neg: x.Kind == pg.A_Expr_Kind_AEXPR_NOT_DISTINCT}, nil
	case pg.A_Expr_Kind_AEXPR_OP_ANY, pg.A_Expr_Kind_AEXPR_OP_ALL:
		return a.arrayOp(x, x.Kind == pg.A_Expr_Kind_AEXPR_OP_ALL)
	case pg.A_Expr_Kind_AEXPR_SIMILAR:
		return a.similar(op, x)
	}
	return nil, a.errAt(unsupported("operator "+op), x.Location)
}

func (a *analyzer) between(x *pg.A_Expr) (*expr, *Error) {
	v, err := a.expr(x.Lexpr)
	if err != nil {
		return nil, err
	}
	list, ok := x.Rexpr.Node.(*pg.Node_List)
	if !ok || len(list.List.Items) != 2 {
		return nil, a.errAt(unsupported("this BETWEEN"), x.Location)
	}
	lo, err := a.expr(list.List.Items[0])
	if err != nil {
		return nil, err
	}
	hi, err := a.expr(list.List.Items[1])
	if err != nil {
		return nil, err
	}
	// As in PostgreSQL's transformAExprBetween: a BETWEEN x AND y is
	// a >= x AND a <= y, NOT BETWEEN is a < x OR a > y, and SYMMETRIC also
	// tries the bounds the other way round.
	pair := func(lo, hi *expr, not bool) (*expr, *Error) {
		op1, op2, kind := ">=", "<=", eAnd
		if not {
			op1, op2, kind = "<", ">", eOr
		}
		c1, err := a.binary(op1, v, lo, x.Location)
		if err != nil {
			return nil, err
		}
		c2, err := a.binary(op2, v, hi, x.Location)
		if err != nil {
			return nil, err
		}
		return &expr{kind: kind, typ: tBool, args: []*expr{c1, c2}, loc: leftmost(v.loc, x.Location)}, nil
	}
	switch x.Kind {
	case pg.A_Expr_Kind_AEXPR_BETWEEN:
		return pair(lo, hi, false)
	case pg.A_Expr_Kind_AEXPR_NOT_BETWEEN:
		return pair(lo, hi, true)
	}
	not := x.Kind == pg.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM
	p1, err := pair(lo, hi, not)
	if err != nil {
		return nil, err
	}
	p2, err := pair(hi, lo, not)
	if err != nil {
		return nil, err
	}
	kind := eOr
	if not {
		kind = eAnd
	}
	return &expr{kind: kind, typ: tBool, args: []*expr{p1, p2}, loc: p1.loc}, nil
}

// prefixOp stands for the missing left operand of a prefix operator in
// noOperator and notUnique.
const prefixOp typ = 255

func noOperator(op string, l, r typ) *Error {
	if l == prefixOp {
		return &Error{Code: codeUndefinedFunction, Message: "operator does not exist: " + op + " " + r.String(),
			Hint: "No operator matches the given name and argument type. You might need to add an explicit type cast."}
	}
	return &Error{Code: codeUndefinedFunction, Message: "operator does not exist: " + l.String() + " " + op + " " + r.String(),
		Hint: "No operator matches the given name and argument types. You might need to add explicit type casts."}
}

func notUnique(op string, l, r typ) *Error {
	if l == prefixOp {
		return &Error{Code: codeAmbiguousFunction, Message: "operator is not unique: " + op + " " + r.String(),
			Hint: "Could not choose a best candidate operator. You might need to add an explicit type cast."}
	}
	return &Error{Code: codeAmbiguousFunction, Message: "operator is not unique: " + l.String() + " " + op + " " + r.String(),
		Hint: "Could not choose a best candidate operator. You might need to add explicit type casts."}
}

// binary resolves a binary operator as PostgreSQL's operator resolution
// does for our types: an unknown side takes the other side's type, numbers
// widen to the wider type, and anything else must match exactly.
func (a *analyzer) binary(op string, l, r *expr, loc int32) (*expr, *Error) {
	pos := leftmost(l.loc, loc)
	if e, err, ok := a.extOperator(op, l, r, pos); ok {
		return e, err
	}
	if err := a.heldArrayOperands(op, l, r, loc); err != nil {
		return nil, err
	}
	l, r = bpcharOperands(op, l, r)
	switch op {
	case "=", "<>", "<", ">", "<=", ">=":
		l, r = regprocOperands(l, r)
		t, l2, r2, err := a.unify(op, l, r, loc)
		if err != nil {
			return nil, err
		}
		if t == tBool || t == tText || t.numeric() || t == tTimestamptz || t == tInterval {
			return &expr{kind: eCompare, typ: tBool, cmp: t, op: op, args: []*expr{l2, r2}, loc: pos}, nil
		}
		return nil, a.errAt(noOperator(op, l.typ, r.typ), loc)
	case "||":
		if e, err, ok := a.arrayConcat(l, r, loc); ok {
			return e, err
		}
		if l.typ != tText && l.typ != tUnknown && r.typ != tText && r.typ != tUnknown {
			return nil, a.errAt(noOperator(op, l.typ, r.typ), loc)
		}
		l2, r2 := l, r
		var err *Error
		if l.typ == tUnknown {
			if l2, err = a.coerce(l, tText); err != nil {
				return nil, err
			}
		}
		if r.typ == tUnknown {
			if r2, err = a.coerce(r, tText); err != nil {
				return nil, err
			}
		}
		return &expr{kind: eConcat, typ: tText, op: op, args: []*expr{l2, r2}, loc: pos}, nil
	case "+", "-", "*", "/", "%":
		lt, rt := l.typ, r.typ
		switch {
		case lt == tUnknown && rt == tUnknown:
			return nil, a.errAt(notUnique(op, lt, rt), loc)
		case lt == tUnknown:
			lt = rt
			if op == "+" && rt == tTimestamptz {
				lt = tInterval
			}
		case rt == tUnknown:
			rt = lt
			if op == "+" && lt == tTimestamptz {
				rt = tInterval
			}
		}
		var res typ
		switch {
		case lt.numeric() && rt.numeric():
			res = max(lt, rt)
			if op == "%" && res == tFloat8 {
				return nil, a.errAt(noOperator(op, l.typ, r.typ), loc)
			}
			lt, rt = res, res
		case lt == tTimestamptz && rt == tInterval && (op == "+" || op == "-"),
			lt == tInterval && rt == tTimestamptz && op == "+":
			res = tTimestamptz
		case lt == tTimestamptz && rt == tTimestamptz && op == "-":
			res = tInterval
		case lt == tInterval && rt == tInterval && (op == "+" || op == "-"):
			res = tInterval
		default:
			return nil, a.errAt(noOperator(op, l.typ, r.typ), loc)
		}
		l2, err := a.coerce(l, lt)
		if err != nil {
			return nil, err
		}
		r2, err := a.coerce(r, rt)
		if err != nil {
			return nil, err
		}
		return &expr{kind: eArith, typ: res, op: op, args: []*expr{l2, r2}, loc: pos}, nil
	case "&", "|", "#":
		return a.bitwise(op, l, r, loc, pos)
	}
	return nil, a.errAt(unsupported("operator "+op), loc)
}

// bitwise analyzes the bitwise operators & | # of integers: smallint
// with smallint is smallint (JDBC's getIndexInfo reads pg_index's
// indoption so), else the wider type.
func (a *analyzer) bitwise(op string, l, r *expr, loc, pos int32) (*expr, *Error) {
	isInt := func(e *expr) bool { return e.typ == tInt4 || e.typ == tInt8 }
	lt, rt, lp, rp := l.typ, r.typ, l.pgt, r.pgt
	switch {
	case lt == tUnknown && rt == tUnknown:
		return nil, a.errAt(notUnique(op, lt, rt), loc)
	case lt == tUnknown && isInt(r):
		lt, lp = rt, rp
	case rt == tUnknown && isInt(l):
		rt, rp = lt, lp
	case !isInt(l) || !isInt(r):
		return nil, a.errAt(noOperator(op, l.typ, r.typ), loc)
	}
	res := max(lt, rt)
	l2, err := a.coerce(l, res)
	if err != nil {
		return nil, err
	}
	r2, err := a.coerce(r, res)
	if err != nil {
		return nil, err
	}
	e := &expr{kind: eArith, typ: res, op: op, args: []*expr{l2, r2}, loc: pos}
	if lp == pgtype.Int2OID && rp == pgtype.Int2OID {
		e.pgt = pgtype.Int2OID
	}
	return e, nil
}

// unify converts both sides of a comparison to one type.
func (a *analyzer) unify(op string, l, r *expr, loc int32) (typ, *expr, *expr, *Error) {
	t := l.typ
	switch {
	case l.typ == tUnknown && r.typ == tUnknown:
		t = tText
	case l.typ == tUnknown:
		t = r.typ
	case r.typ == tUnknown:
		t = l.typ
	case l.typ.numeric() && r.typ.numeric():
		t = max(l.typ, r.typ)
	case l.typ != r.typ:
		return 0, nil, nil, a.errAt(noOperator(op, l.typ, r.typ), loc)
	}
	l2, err := a.coerce(l, t)
	if err != nil {
		return 0, nil, nil, err
	}
	r2, err := a.coerce(r, t)
	if err != nil {
		return 0, nil, nil, err
	}
	return t, l2, r2, nil
}

func (a *analyzer) unary(op string, e *expr, loc int32) (*expr, *Error) {
	switch {
	case e.typ == tUnknown:
		return nil, a.errAt(notUnique(op, prefixOp, e.typ), loc)
	case op == "-" && (e.typ.numeric() || e.typ == tInterval):
		return &expr{kind: eNeg, typ: e.typ, args: []*expr{e}, loc: leftmost(loc, e.loc)}, nil
	case op == "+" && e.typ.numeric():
		return e, nil
	}
	return nil, a.errAt(noOperator(op, prefixOp, e.typ), loc)
}

func (a *analyzer) like(op string, l, r, esc *expr, loc int32) (*expr, *Error) {
	if (l.typ != tText && l.typ != tUnknown) || (r.typ != tText && r.typ != tUnknown) {
		return nil, a.errAt(noOperator(op, l.typ, r.typ), loc)
	}
	var err *Error
	if l, err = a.coerce(l, tText); err != nil {
		return nil, err
	}
	if r, err = a.coerce(r, tText); err != nil {
		return nil, err
	}
	args := []*expr{l, r}
	if esc != nil {
		e, err := a.coerce(esc, tText)
		if err != nil {
			return nil, err
		}
		if e == nil {
			return nil, a.errAt(&Error{Code: codeUndefinedFunction, Message: "function pg_catalog.like_escape(text, " + esc.typ.String() + ") does not exist",
				Hint: "No function matches the given name and argument types. You might need to add explicit type casts."}, loc)
		}
		args = append(args, e)
	}
	return &expr{kind: eLike, typ: tBool, args: args, loc: leftmost(l.loc, loc),
		neg: strings.HasPrefix(op, "!"), ci: strings.HasSuffix(op, "*")}, nil
}

func (a *analyzer) boolExpr(b *pg.BoolExpr) (*expr, *Error) {
	kind, what := eAnd, "AND"
	switch b.Boolop {
	case pg.BoolExprType_OR_EXPR:
		kind, what = eOr, "OR"
	case pg.BoolExprType_NOT_EXPR:
		kind, what = eNot, "NOT"
	}
	out := &expr{kind: kind, typ: tBool, loc: b.Location}
	for _, n := range b.Args {
		e, err := a.expr(n)
		if err != nil {
			return nil, err
		}
		if e, err = a.boolArg(e, what); err != nil {
			return nil, err
		}
		out.args = append(out.args, e)
		out.loc = leftmost(out.loc, e.loc)
	}
	return out, nil
}

func (a *analyzer) booleanTest(b *pg.BooleanTest) (*expr, *Error) {
	arg, err := a.expr(b.Arg)
	if err != nil {
		return nil, err
	}
	var op, what string
	neg := false
	switch b.Booltesttype {
	case pg.BoolTestType_IS_TRUE:
		op, what = "true", "IS TRUE"
	case pg.BoolTestType_IS_NOT_TRUE:
		op, what, neg = "true", "IS NOT TRUE", true
	case pg.BoolTestType_IS_FALSE:
		op, what = "false", "IS FALSE"
	case pg.BoolTestType_IS_NOT_FALSE:
		op, what, neg = "false", "IS NOT FALSE", true
	case pg.BoolTestType_IS_UNKNOWN:
		op, what = "unknown", "IS UNKNOWN"
	default:
		op, what, neg = "unknown", "IS NOT UNKNOWN", true
	}
	if arg, err = a.boolArg(arg, what); err != nil {
		return nil, err
	}
	return &expr{kind: eBoolTest, typ: tBool, op: op, neg: neg, args: []*expr{arg}, loc: leftmost(arg.loc, b.Location)}, nil
}

// commonType picks the result type of CASE, COALESCE, GREATEST and LEAST
// like PostgreSQL's select_common_type, and converts every part to it.
func (a *analyzer) commonType(what string, es []*expr) (typ, *Error) {
	t, err := a.commonTypeOf(what, es)
	if err != nil {
		return 0, err
	}
	for i, e := range es {
		c, err := a.coerce(e, t)
		if err != nil {
			return 0, err
		}
		es[i] = c
	}
	return t, nil
}

// commonTypeOf is the type commonType converts es to.
func (a *analyzer) commonTypeOf(what string, es []*expr) (typ, *Error) {
	t := tUnknown
	for _, e := range es {
		switch {
		case e.typ == tUnknown || e.typ == t:
		case t == tUnknown:
			t = e.typ
		case t.numeric() && e.typ.numeric():
			t = max(t, e.typ)
		default:
			return 0, a.errAt(errorf(codeDatatypeMismatch, "%s types %s and %s cannot be matched", what, t, e.typ), e.loc)
		}
	}
	if t == tUnknown {
		t = tText
	}
	return t, nil
}

func (a *analyzer) variadic(kind exprKind, what string, args []*pg.Node, loc int32) (*expr, *Error) {
	out := &expr{kind: kind, loc: loc}
	for _, n := range args {
		e, err := a.expr(n)
		if err != nil {
			return nil, err
		}
		out.args = append(out.args, e)
	}
	if kind == eCoalesce {
		if err := a.noSRFIn("COALESCE", out); err != nil {
			return nil, err
		}
	}
	t, err := a.commonType(what, out.args)
	if err != nil {
		return nil, err
	}
	out.typ = t
	return out, nil
}

func (a *analyzer) caseExpr(c *pg.CaseExpr) (*expr, *Error) {
	var subject *expr
	if c.Arg != nil {
		var err *Error
		if subject, err = a.expr(c.Arg); err != nil {
			return nil, err
		}
	}
	out := &expr{kind: eCase, loc: c.Location}
	var results []*expr
	for _, n := range c.Args {
		w, ok := n.Node.(*pg.Node_CaseWhen)
		if !ok {
			return nil, unsupported("this CASE")
		}
		cond, err := a.expr(w.CaseWhen.Expr)
		if err != nil {
			return nil, err
		}
		if subject != nil {
			if cond, err = a.binary("=", subject, cond, w.CaseWhen.Location); err != nil {
				return nil, err
			}
			if subject.typ == tUnknown {
				subject = cond.args[0]
			}
		} else if cond, err = a.boolArg(cond, "CASE/WHEN"); err != nil {
			return nil, err
		}
		res, err := a.expr(w.CaseWhen.Result)
		if err != nil {
			return nil, err
		}
		out.args = append(out.args, cond, res)
		results = append(results, res)
	}
	if c.Defresult != nil {
		d, err := a.expr(c.Defresult)
		if err != nil {
			return nil, err
		}
		out.hasElse = true
		out.args = append(out.args, d)
		// PostgreSQL considers the ELSE result first when it picks the
		// type, which shows in its error message.
		results = append([]*expr{d}, results...)
	}
	if err := a.noSRFIn("CASE", out); err != nil {
		return nil, err
	}
	t, err := a.commonType("CASE", results)
	if err != nil {
		return nil, err
	}
	if out.hasElse {
		out.args[len(out.args)-1] = results[0]
		results = results[1:]
	}
	for i, j := 1, 0; j < len(results); i += 2 { // put the converted results back
		out.args[i] = results[j]
		j++
	}
	out.typ = t
	return out, nil
}

func noFunction(name string, args []*expr) *Error {
	return &Error{Code: codeUndefinedFunction, Message: "function " + name + "(" + argTypeNames(args) + ") does not exist",
		Hint: "No function matches the given name and argument types. You might need to add explicit type casts."}
}

var aggregates = map[string]bool{"count": true, "sum": true, "avg": true, "min": true, "max": true, "string_agg": true}

func (a *analyzer) funcCall(f *pg.FuncCall) (*expr, *Error) {
	name := opName(f.Funcname)
	if f.Over != nil {
		return a.windowFunc(name, f)
	}
	if aggregates[name] {
		return a.aggregate(name, f)
	}
	if selectSRFs[name] {
		return a.selectSRF(name, f)
	}
	if f.AggStar || f.AggDistinct || len(f.AggOrder) > 0 || f.AggFilter != nil || f.AggWithinGroup {
		return nil, a.notAggregate(name, f)
	}
	if f.FuncVariadic {
		return nil, a.errAt(unsupported("VARIADIC"), f.Location)
	}
	if e, err, ok := a.extFunc(name, f); ok {
		return e, err
	}
	var args []*expr
	for _, n := range f.Args {
		e, err := a.expr(n)
		if err != nil {
			return nil, err
		}
		args = append(args, e)
	}
	out := &expr{kind: eFunc, op: name, args: args, loc: f.Location}
	switch name {
	case "now", "transaction_timestamp", "statement_timestamp", "clock_timestamp":
		if len(args) != 0 {
			return nil, a.errAt(noFunction(name, args), f.Location)
		}
		return &expr{kind: eNow, typ: tTimestamptz, loc: f.Location}, nil
	case "lower", "upper", "length", "char_length", "character_length":
		if len(args) != 1 || (args[0].typ != tText && args[0].typ != tUnknown) {
			return nil, a.errAt(noFunction(name, args), f.Location)
		}
		var err *Error
		if args[0], err = a.coerce(bpcharAsText(args[0]), tText); err != nil {
			return nil, err
		}
		out.typ = tText
		if strings.HasSuffix(name, "length") {
			out.typ, out.op = tInt4, "length"
		}
		return out, nil
	case "abs":
		if len(args) != 1 {
			return nil, a.errAt(noFunction(name, args), f.Location)
		}
		if args[0].typ == tUnknown {
			// PostgreSQL resolves abs(unknown) to abs(float8), the
			// preferred type, so abs('') is a float8 input error.
			var err *Error
			if args[0], err = a.coerce(args[0], tFloat8); err != nil {
				return nil, err
			}
		}
		if !args[0].typ.numeric() {
			return nil, a.errAt(noFunction(name, args), f.Location)
		}
		out.typ = args[0].typ
		return out, nil
	case "round", "ceil", "ceiling", "floor", "trunc":
		// round(x), ceil, floor and trunc of a number are float8 (numeric
		// for a numeric argument); round(x, n) and trunc(x, n) exist for
		// numeric only, so a float8 there has no function.
		if name == "ceiling" {
			out.op = "ceil"
		}
		if len(args) < 1 || len(args) > 2 || (len(args) == 2 && name != "round" && name != "trunc") {
			return nil, a.errAt(noFunction(name, args), f.Location)
		}
		want := tFloat8
		if len(args) == 2 || args[0].typ == tNumeric {
			want = tNumeric
		}
		x, err := a.coerce(args[0], want)
		if err != nil {
			return nil, err
		}
		if x == nil {
			return nil, a.errAt(noFunction(name, args), f.Location)
		}
		args[0] = x
		if len(args) == 2 {
			n, err := a.coerce(args[1], tInt4)
			if err != nil {
				return nil, err
			}
			if n == nil {
				return nil, a.errAt(noFunction(name, args), f.Location)
			}
			args[1] = n
		}
		out.typ = want
		return out, nil
	}
	if e, err, ok := a.sessionFunc(name, args, f.Location); ok {
		return e, err
	}
	if e, err, ok := a.catalogFunc(name, args, f.Location); ok {
		return e, err
	}
	if e, err, ok := a.builtinFunc(name, args, f.Location); ok {
		return e, err
	}
	return nil, a.errAt(unknownFunction(name, args), f.Location)
}

const codeWrongObjectType = "42809"

// sessionFunc types a call of a function about the session: ok is false
// for any other name. Only a statement on the status database has a
// session to read (Input.Session); elsewhere these return a new session's
// defaults.
func (a *analyzer) sessionFunc(name string, args []*expr, loc int32) (e *expr, err *Error, ok bool) {
	want := map[string][]typ{
		"version": nil, "current_database": nil, "current_schema": nil, "pg_backend_pid": nil,
		"current_setting": {tText, tBool}, "set_config": {tText, tText, tBool},
		"current_schemas": {tBool}, "pg_advisory_unlock_all": nil,
	}
	params, known := want[name]
	if !known {
		return nil, nil, false
	}
	e = &expr{kind: eSession, op: name, typ: tText, args: args, loc: loc}
	switch name {
	case "current_database", "current_schema":
		e.name = true
	case "pg_backend_pid":
		e.typ = tInt4
	case "current_schemas":
		e.pgt = 1003 // name[], held as text
	case "pg_advisory_unlock_all":
		e.pgt = 2278 // void, held as the empty text
	case "current_setting":
		if len(args) == 1 {
			params = params[:1]
		}
	}
	if len(args) != len(params) {
		return nil, a.errAt(noFunction(name, args), loc), true
	}
	for i, t := range params {
		c, err := a.coerce(args[i], t)
		if err != nil {
			return nil, err, true
		}
		if c == nil {
			return nil, a.errAt(noFunction(name, args), loc), true
		}
		args[i] = c
	}
	return e, nil, true
}

func (a *analyzer) aggregate(name string, f *pg.FuncCall) (*expr, *Error) {
	if a.inAgg {
		return nil, a.errAt(errorf(codeGrouping, "aggregate function calls cannot be nested"), f.Location)
	}
	if a.clause != "" {
		return nil, a.errAt(errorf(codeGrouping, "aggregate functions are not allowed in %s", a.clause), f.Location)
	}
	if f.FuncVariadic {
		return nil, a.errAt(unsupported("VARIADIC"), f.Location)
	}
	a.inAgg = true
	out, err := a.aggCall(name, f)
	a.inAgg = false
	if err != nil {
		return nil, err
	}
	if local, outer := out.columnLevels(); outer && !local {
		// PostgreSQL evaluates it in the outer query, as an aggregate
		// over that query's rows.
		return nil, a.errAt(unsupported("an aggregate of an outer query's columns"), f.Location)
	}
	out.idx = len(a.aggs)
	a.aggs = append(a.aggs, out)
	return out, nil
}

// aggCall analyzes an aggregate's arguments and FILTER and types the
// call, as an aggregate or a window function.
func (a *analyzer) aggCall(name string, f *pg.FuncCall) (*expr, *Error) {
	out := &expr{kind: eAgg, op: name, star: f.AggStar, distinct: f.AggDistinct, loc: f.Location}
	var err *Error
	analyze := a.exprs
	if jsonAggs[name] {
		analyze = a.jsonArgs // json_agg(t): the whole row
	}
	if out.args, err = analyze(f.Args); err != nil {
		return nil, err
	}
	if f.AggFilter != nil {
		e, err := a.expr(f.AggFilter)
		if err != nil {
			return nil, err
		}
		if out.filter, err = a.boolArg(e, "FILTER"); err != nil {
			return nil, err
		}
	}
	if e, err, ok := a.collectAgg(name, f, out); ok {
		return e, err
	}
	if f.AggStar {
		if name != "count" {
			return nil, a.errAt(errorf(codeWrongObjectType, "%s(*) must be used to call a parameterless aggregate function", name), f.Location)
		}
		out.typ = tInt8
	} else if name == "string_agg" {
		// string_agg(text, text): the values joined by the delimiter.
		if len(out.args) != 2 {
			return nil, a.errAt(noFunction(name, out.args), f.Location)
		}
		for i, e := range out.args {
			c, err := a.coerce(e, tText)
			if err != nil {
				return nil, err
			}
			if c == nil {
				return nil, a.errAt(noFunction(name, out.args), f.Location)
			}
			out.args[i] = c
		}
		out.typ = tText
	} else {
		if len(out.args) != 1 {
			return nil, a.errAt(noFunction(name, out.args), f.Location)
		}
		arg := out.args[0]
		switch name {
		case "count":
			out.args[0] = a.unknownToText(arg)
			out.typ = tInt8
		case "sum", "avg":
			if !arg.typ.numeric() {
				if arg.typ == tInterval {
					return nil, a.errAt(unsupported(name+"(interval)"), f.Location)
				}
				return nil, a.errAt(noFunction(name, out.args), f.Location)
			}
			// sum: int4 → int8, int8 → numeric, others keep their type;
			// avg: float8 → float8, others numeric.
			switch {
			case arg.typ == tFloat8:
				out.typ = tFloat8
			case name == "sum" && arg.typ == tInt4:
				out.typ = tInt8
			default:
				out.typ = tNumeric
			}
		case "min", "max":
			if arg.typ == tUnknown {
				return nil, a.errAt(&Error{Code: codeAmbiguousFunction, Message: "function " + name + "(unknown) is not unique",
					Hint: "Could not choose a best candidate function. You might need to add explicit type casts."}, f.Location)
			}
			if arg.typ == tBool {
				return nil, a.errAt(noFunction(name, out.args), f.Location)
			}
			out.typ = arg.typ
		}
	}
	return out, nil
}
