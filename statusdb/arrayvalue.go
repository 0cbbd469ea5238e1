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

// arrayFuncs are cardinality(anyarray), array_position(anyarray,
// anyelement [, start]) and array_remove(anyarray, anyelement) (psql's
// \sv removes check options from pg_class.reloptions).
var arrayFuncs = map[string]bool{"cardinality": true, "array_position": true, "array_remove": true}

// arrayFunc types a call of arrayFuncs.
func (a *analyzer) arrayFunc(name string, f *pg.FuncCall) (*expr, *Error) {
	args, err := a.exprs(f.Args)
	if err != nil {
		return nil, err
	}
	nofn := a.errAt(noFunction(name, args), f.Location)
	if len(args) == 0 || heldElem[args[0].pgt] == 0 || args[0].pgt == 22 || args[0].pgt == 30 {
		return nil, nofn
	}
	out := &expr{kind: eFunc, op: name, typ: tInt4, args: args, loc: f.Location}
	switch {
	case name == "cardinality" && len(args) == 1:
	case name == "array_remove" && len(args) == 2:
		c, err := a.coerce(args[1], heldElem[args[0].pgt])
		if err != nil {
			return nil, err
		}
		if c == nil {
			return nil, nofn
		}
		args[1] = c
		out.typ, out.pgt = tText, args[0].pgt // held as its text, as the array
	case name == "array_position" && (len(args) == 2 || len(args) == 3):
		c, err := a.coerce(args[1], heldElem[args[0].pgt])
		if err != nil {
			return nil, err
		}
		if c == nil {
			return nil, nofn
		}
		args[1] = c
		if len(args) == 3 {
			if args[2], err = a.coerce(args[2], tInt4); err != nil || args[2] == nil {
				return nil, nofn
			}
		}
	default:
		return nil, nofn
	}
	return out, nil
}

// arrayFuncFn compiles arrayFuncs' calls.
func arrayFuncFn(e *expr, args []evalFn) evalFn {
	et := heldElem[e.args[0].pgt]
	return func(x *evalCtx) value {
		arr := args[0](x)
		if arr.null {
			return null
		}
		vals, err := parseArray(arr.s, func(s string) (value, *Error) { return decodeText(et, []byte(s), x) })
		if err != nil {
			failErr(err)
		}
		if e.op == "cardinality" {
			return value{n: int64(len(vals))}
		}
		want := args[1](x)
		if e.op == "array_remove" {
			kept := vals[:0]
			for _, v := range vals {
				if !(v.null && want.null || !v.null && !want.null && compareValues(et, v, want) == 0) {
					kept = append(kept, v)
				}
			}
			return value{s: arrayOut(et, kept, x.loc)}
		}
		start := 0
		if len(args) == 3 {
			s := args[2](x)
			if s.null {
				fail("22004", "initial position must not be null")
			}
			start = max(int(s.n)-1, 0)
		}
		for i := start; i < len(vals); i++ {
			v := vals[i]
			if v.null && want.null || !v.null && !want.null && compareValues(et, v, want) == 0 {
				return value{n: int64(i + 1)}
			}
		}
		return null
	}
}
