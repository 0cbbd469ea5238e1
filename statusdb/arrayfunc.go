package statusdb

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Functions of one-dimensional arrays held as their text form (see
// srf.go): string_to_array, parse_ident, array_lower, array_upper,
// array_length and subscripts arr[i]; and btrim/ltrim/rtrim, which tools'
// catalog queries use beside them (Grafana's search_path constraint).

// arrayTypeOIDs are the array types a cast may name, by element type name.
var arrayTypeOIDs = map[string]uint32{
	"int2": 1005, "smallint": 1005, "int4": 1007, "int": 1007, "integer": 1007, "int8": 1016, "bigint": 1016,
	"text": 1009, "varchar": 1015, "name": 1003, "oid": 1028, "char": 1002, "float8": 1022, "bool": 1000,
	"boolean": 1000, "numeric": 1231,
}

// arrayCast analyzes x::t[] of an array held as text (or an int2vector,
// oidvector or untyped literal): the elements are read as t's.
func (a *analyzer) arrayCast(arg *expr, tc *pg.TypeCast) (*expr, *Error) {
	var names []string
	for _, n := range tc.TypeName.Names {
		names = append(names, n.GetString_().GetSval())
	}
	oid := uint32(0)
	if len(names) == 1 || len(names) == 2 && names[0] == "pg_catalog" {
		oid = arrayTypeOIDs[names[len(names)-1]]
	}
	if oid == 0 || len(tc.TypeName.ArrayBounds) > 1 {
		return nil, a.errAt(unsupported("type "+strings.Join(names, ".")+"[]"), tc.TypeName.Location)
	}
	switch {
	case arg.typ == tUnknown:
		arg = a.unknownToText(arg)
	case arg.typ != tText || heldElem[arg.pgt] == 0:
		return nil, a.errAt(errorf(codeCannotCoerce, "cannot cast type %s to %s", arg.typ, formatType(oid, -1)), tc.Location)
	}
	return &expr{kind: eFunc, op: "array_in", typ: tText, pgt: oid, args: []*expr{arg}, loc: leftmost(arg.loc, tc.Location)}, nil
}

// subscript analyzes arr[i] on an array held as text; slices and field
// selection are not supported.
func (a *analyzer) subscript(ind *pg.A_Indirection) (*expr, *Error) {
	e, err := a.expr(ind.Arg)
	if err != nil {
		return nil, err
	}
	for _, n := range ind.Indirection {
		if f := n.GetString_(); f != nil {
			if e, err = a.fieldSelect(e, f.Sval, e.loc); err != nil {
				return nil, err
			}
			continue
		}
		idx := n.GetAIndices()
		if idx == nil || idx.IsSlice || idx.Uidx == nil {
			return nil, a.errAt(unsupported("subscripting or field selection"), e.loc)
		}
		if e.typ != tText || heldElem[e.pgt] == 0 {
			return nil, a.errAt(errorf(codeDatatypeMismatch, "cannot subscript type %s because it does not support subscripting", e.typ), e.loc)
		}
		i, err := a.expr(idx.Uidx)
		if err != nil {
			return nil, err
		}
		if i, err = a.castTo(i, tInt4, e.loc); err != nil {
			return nil, err
		}
		elem := heldElem[e.pgt]
		e = &expr{kind: eFunc, op: "subscript", typ: elem, pgt: heldElemOID[e.pgt], args: []*expr{e, i}, loc: e.loc,
			// int2vector and oidvector count from 0.
			idx: map[bool]int{true: 0, false: 1}[e.pgt == 22 || e.pgt == 30]}
		e.name = e.pgt == 19
	}
	return e, nil
}

// arrayFn compiles the array functions and trims.
func arrayFn(e *expr, args []evalFn) evalFn {
	op, pgt, elem, base := e.op, e.args[0].pgt, e.typ, e.idx
	if op == "array_in" {
		to, vector := heldElem[e.pgt], pgt == 22 || pgt == 30
		return func(x *evalCtx) value {
			v := args[0](x)
			if v.null {
				return v
			}
			s := v.s
			if vector {
				s = "{" + strings.Join(strings.Fields(s), ",") + "}"
			}
			vals, err := parseArray(s, func(s string) (value, *Error) { return decodeText(to, []byte(s), x) })
			if err != nil {
				failErr(err)
			}
			return value{s: arrayOut(to, vals, x.loc)}
		}
	}
	elems := func(x *evalCtx, s string) []value {
		t := heldElem[pgt]
		if op == "subscript" {
			t = elem
		}
		vals, err := parseArray(s, func(s string) (value, *Error) { return decodeText(t, []byte(s), x) })
		if err != nil {
			failErr(err)
		}
		return vals
	}
	return func(x *evalCtx) value {
		v := make([]value, len(args))
		for i, f := range args {
			if v[i] = f(x); v[i].null && !(op == "string_to_array" && i == 1) {
				return null
			}
		}
		switch op {
		case "string_to_array":
			return value{s: arrayOut(tText, splitToArray(v[0].s, v[1]), x.loc)}
		case "parse_ident":
			return value{s: arrayOut(tText, parseIdent(v[0].s), x.loc)}
		case "btrim", "ltrim", "rtrim":
			cut := " "
			if len(v) == 2 {
				cut = v[1].s
			}
			switch op {
			case "ltrim":
				return value{s: strings.TrimLeft(v[0].s, cut)}
			case "rtrim":
				return value{s: strings.TrimRight(v[0].s, cut)}
			}
			return value{s: strings.Trim(v[0].s, cut)}
		case "subscript":
			vals := elems(x, v[0].s)
			i := int(v[1].n) - base
			if i < 0 || i >= len(vals) {
				return null
			}
			return vals[i]
		}
		// array_lower, array_upper, array_length of dimension 1.
		n := len(elems(x, v[0].s))
		if n == 0 || v[1].n != 1 {
			return null
		}
		switch op {
		case "array_lower":
			return value{n: 1}
		}
		return value{n: int64(n)}
	}
}

// splitToArray is string_to_array's split: by the delimiter; into
// characters for a NULL one; the whole string for an empty one; no
// elements for an empty string.
func splitToArray(s string, delim value) []value {
	if s == "" {
		return nil
	}
	var parts []string
	switch {
	case delim.null:
		for _, r := range s {
			parts = append(parts, string(r))
		}
	case delim.s == "":
		parts = []string{s}
	default:
		parts = strings.Split(s, delim.s)
	}
	out := make([]value, len(parts))
	for i, p := range parts {
		out[i] = value{s: p}
	}
	return out
}

// parseIdent splits a qualified identifier as parse_ident does: quoted
// parts as written (with "" for a quote), others folded to lower case.
func parseIdent(s string) []value {
	var out []value
	for len(s) > 0 {
		s = strings.TrimLeft(s, " \t\n")
		var part string
		if strings.HasPrefix(s, `"`) {
			end := 1
			for end < len(s) {
				if s[end] == '"' {
					if end+1 < len(s) && s[end+1] == '"' {
						end += 2
						continue
					}
					break
				}
				end++
			}
			part = strings.ReplaceAll(s[1:min(end, len(s))], `""`, `"`)
			s = s[min(end+1, len(s)):]
		} else {
			i := strings.IndexByte(s, '.')
			if i < 0 {
				i = len(s)
			}
			part = asciiLower(strings.TrimRight(s[:i], " \t\n"))
			s = s[i:]
		}
		out = append(out, value{s: part})
		s = strings.TrimLeft(s, " \t\n")
		if !strings.HasPrefix(s, ".") {
			break
		}
		s = s[1:]
	}
	return out
}
