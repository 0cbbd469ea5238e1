package statusdb

import (
	"github.com/jackc/pgx/v5/pgtype"
	pg "github.com/pganalyze/pg_query_go/v6"
)

// Set-returning functions in FROM: unnest(array) over an array held as
// its text form (a catalog array column, ARRAY(SELECT ...)), and
// generate_series(start, stop [, step]) of integers, which psql's
// catalog queries use. Their arguments may refer to outer query levels
// (a correlated subquery's FROM), not to FROM items of their own level
// (LATERAL).

// seriesFunctions reports whether a FROM function is one statusdb
// answers, so that it does not count as a backend's relation.
func seriesFunctions(r *pg.RangeFunction) bool {
	if len(r.Functions) != 1 || r.IsRowsfrom || r.Ordinality {
		return false
	}
	call := srfCall(r)
	if call == nil {
		return false
	}
	switch opName(call.Funcname) {
	case "unnest", "generate_series", "generate_subscripts", "regexp_matches", "regexp_split_to_table":
		return true
	case "string_to_array", "parse_ident": // scalar: one row
		return true
	}
	return false
}

// srfCall is the function call of a RangeFunction of one function.
func srfCall(r *pg.RangeFunction) *pg.FuncCall {
	if len(r.Functions) != 1 {
		return nil
	}
	items := r.Functions[0].GetList().GetItems()
	if len(items) == 0 {
		return nil
	}
	return items[0].GetFuncCall()
}

// heldElemOID is the PostgreSQL type of an element of an array type held
// as text.
var heldElemOID = map[uint32]uint32{
	pgtype.NameArrayOID: pgtype.NameOID, pgtype.OIDArrayOID: pgtype.OIDOID, pgtype.QCharArrayOID: pgtype.QCharOID,
	pgtype.Int2ArrayOID: pgtype.Int2OID, 22: pgtype.Int2OID, 30: pgtype.OIDOID,
}

func (a *analyzer) rangeFunction(r *pg.RangeFunction) (*fromItem, *Error) {
	if r.Lateral {
		return nil, unsupported("LATERAL")
	}
	call := srfCall(r)
	if !seriesFunctions(r) || len(r.Coldeflist) > 0 {
		loc := int32(-1)
		if call != nil {
			loc = call.Location
		}
		return nil, a.errAt(unsupported("this function in FROM"), loc)
	}
	name := opName(call.Funcname)
	if !selectSRFs[name] {
		// A scalar function in FROM is one row of its value.
		e, err := a.expr(&pg.Node{Node: &pg.Node_FuncCall{FuncCall: call}})
		if err != nil {
			return nil, err
		}
		if local, _ := e.columnLevels(); local {
			return nil, a.errAt(unsupported("LATERAL"), e.loc)
		}
		return a.functionItem(r, name, &expr{kind: eFunc, op: "row", typ: e.typ, pgt: e.pgt, args: []*expr{e}, loc: e.loc})
	}
	args, err := a.exprs(call.Args)
	if err != nil {
		return nil, err
	}
	for _, e := range args {
		if local, _ := e.columnLevels(); local {
			return nil, a.errAt(unsupported("LATERAL"), e.loc)
		}
	}
	out, err := a.srfSignature(name, args, call.Location)
	if err != nil {
		return nil, err
	}
	if out.rec != nil {
		return nil, a.errAt(unsupported("this function in FROM"), call.Location)
	}
	return a.functionItem(r, name, out)
}

// functionItem is the FROM item of a function: a function returning a
// scalar names its column after the alias, or after itself.
func (a *analyzer) functionItem(r *pg.RangeFunction, name string, out *expr) (*fromItem, *Error) {
	rel := name
	if r.Alias != nil {
		rel = r.Alias.Aliasname
	}
	names, err := a.aliased(rel, []string{rel}, r.Alias)
	if err != nil {
		return nil, a.errAt(err, out.loc)
	}
	it := relItem(rel, nil, names, []typ{out.typ}, []*expr{out})
	return &fromItem{plan: &fromPlan{kind: fFunc, srf: out, width: 1}, items: []*rangeItem{it}, top: it}, nil
}

func (c *compiler) srfSource(e *expr) (func(x *evalCtx) [][]value, *Error) {
	args, _, err := c.compileAll(e.args)
	if err != nil {
		return nil, err
	}
	if e.op == "row" {
		return func(x *evalCtx) [][]value { return [][]value{{args[0](x)}} }, nil
	}
	return c.srfRows(e)
}

// arrayConcat analyzes array || array for arrays held as text (array_cat;
// an untyped literal on one side is an array of the other's type); ok is
// false when neither side is such an array.
func (a *analyzer) arrayConcat(l, r *expr, loc int32) (*expr, *Error, bool) {
	isArr := func(e *expr) bool {
		return e.typ == tText && heldElem[e.pgt] != 0 || e.typ == tText && e.pgt == pgtype.TextArrayOID
	}
	if !isArr(l) && !isArr(r) {
		return nil, nil, false
	}
	pgt := l.pgt
	if !isArr(l) {
		pgt = r.pgt
	}
	for _, e := range []*expr{l, r} {
		if !isArr(e) && !(e.kind == eConst && e.typ == tUnknown) || isArr(e) && e.pgt != pgt {
			return nil, a.errAt(unsupported("|| of an array and "+e.typ.String()), loc), true
		}
	}
	l, r = a.unknownToText(l), a.unknownToText(r)
	return &expr{kind: eFunc, op: "array_cat", typ: tText, pgt: pgt, args: []*expr{l, r}, loc: leftmost(l.loc, loc)}, nil, true
}

func isHeldArray(e *expr) bool {
	return e.typ == tText && heldElem[e.pgt] != 0 && e.pgt != 22 && e.pgt != 30
}

// heldArrayOperands refuses an operator between an array held as text
// and a value of another type, with PostgreSQL's message; array || array
// (arrayConcat) and comparisons of two arrays of one type or of an array
// with an untyped literal pass.
func (a *analyzer) heldArrayOperands(op string, l, r *expr, loc int32) *Error {
	la, ra := isHeldArray(l), isHeldArray(r)
	if !la && !ra || op == "||" {
		return nil
	}
	if la && ra && l.pgt == r.pgt && (op == "=" || op == "<>") {
		return nil
	}
	if la && r.typ == tUnknown || ra && l.typ == tUnknown {
		return nil
	}
	name := func(e *expr) string {
		if isHeldArray(e) {
			return formatType(e.pgt, -1)
		}
		return e.typ.String()
	}
	return a.errAt(&Error{Code: codeUndefinedFunction, Message: "operator does not exist: " + name(l) + " " + op + " " + name(r),
		Hint: "No operator matches the given name and argument types. You might need to add explicit type casts."}, loc)
}
