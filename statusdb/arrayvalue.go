package statusdb

import (
	pg "github.com/pganalyze/pg_query_go/v6"
)

// ARRAY[a, b, ...] as a value: a one-dimensional array held as its text
// form, of the elements' common type.
func (a *analyzer) arrayValue(x *pg.A_ArrayExpr) (*expr, *Error) {
	elems, err := a.exprs(x.Elements)
	if err != nil {
		return nil, err
	}
	if len(elems) == 0 {
		return nil, a.errAt(&Error{Code: "42P18", Message: "cannot determine type of empty array",
			Hint: "Explicitly cast to the desired type, for example ARRAY[]::integer[]."}, x.Location)
	}
	if _, err := a.commonType("ARRAY", elems); err != nil {
		return nil, err
	}
	for i, e := range elems {
		elems[i] = a.unknownToText(e)
	}
	oid, ok := arrayValueOID(elems[0])
	if !ok || heldElem[oid] == 0 {
		return nil, a.errAt(unsupported("an array of "+pgTypeName(elems[0])), x.Location)
	}
	return &expr{kind: eFunc, op: "array_value", typ: tText, pgt: oid, args: elems, loc: x.Location}, nil
}

// arrayValueFn compiles ARRAY[...].
func arrayValueFn(e *expr, args []evalFn) evalFn {
	t := e.args[0].typ
	return func(x *evalCtx) value {
		vals := make([]value, len(args))
		for i, f := range args {
			vals[i] = f(x)
		}
		return value{s: arrayOut(t, vals, x.loc)}
	}
}
