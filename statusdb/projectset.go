package statusdb

import (
	"encoding/binary"
	"math"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
	pg "github.com/pganalyze/pg_query_go/v6"
)

// Set-returning functions in the select list, run as PostgreSQL 10+'s
// ProjectSet runs them: after grouping and window functions, each output
// unit (row or group) is expanded into as many rows as its longest
// function returns, the functions advancing in lockstep and a shorter one
// giving NULL once it is done; a unit for which every function returns no
// row is dropped. DISTINCT, ORDER BY and LIMIT then apply to the expanded
// rows. An expression may hold a function (unnest(a) + 1) or select a
// field of its record ((information_schema._pg_expandarray(a)).n).

// selectSRFs are the set-returning functions a select list may call.
var selectSRFs = map[string]bool{
	"unnest": true, "generate_series": true, "generate_subscripts": true,
	"information_schema._pg_expandarray": true, "regexp_matches": true, "regexp_split_to_table": true,
}

// recordType is the row type of a function returning a record, whose
// value is held as its text form (record_out's).
type recordType struct {
	names []string
	types []typ
	pgts  []uint32
}

// recordOID is the pseudo-type record.
const recordOID = 2249

const lateralHint = "You might be able to move the set-returning function into a LATERAL FROM item."

// selectSRF analyzes a set-returning function of the select list: the
// call is kept in a.srfs and the expression reads its value in the
// current expanded row.
func (a *analyzer) selectSRF(name string, f *pg.FuncCall) (*expr, *Error) {
	switch {
	case a.inAgg:
		return nil, a.errAt(&Error{Code: codeFeature, Message: "aggregate function calls cannot contain set-returning function calls", Hint: lateralHint}, f.Location)
	case a.inWin:
		return nil, a.errAt(&Error{Code: codeFeature, Message: "window function calls cannot contain set-returning function calls", Hint: lateralHint}, f.Location)
	case !a.srfOK && a.srfClause != "":
		return nil, a.errAt(errorf(codeFeature, "set-returning functions are not allowed in %s", a.srfClause), f.Location)
	case !a.srfOK:
		return nil, a.errAt(unsupported("a set-returning function here"), f.Location)
	case f.AggStar || f.AggDistinct || len(f.AggOrder) > 0 || f.AggFilter != nil || f.AggWithinGroup:
		return nil, a.notAggregate(name, f)
	case f.FuncVariadic:
		return nil, a.errAt(unsupported("VARIADIC"), f.Location)
	}
	a.srfOK = false // nested set-returning functions are not supported
	args, err := a.exprs(f.Args)
	a.srfOK = true
	if err != nil {
		return nil, err
	}
	fn, err := a.srfSignature(name, args, f.Location)
	if err != nil {
		return nil, err
	}
	fn.field = a.srfWidth
	a.srfs = append(a.srfs, fn)
	a.srfWidth += srfWidth(fn)
	out := &expr{kind: eSRF, op: name, idx: len(a.srfs) - 1, field: fn.field, typ: fn.typ, pgt: fn.pgt, rec: fn.rec, args: fn.args, loc: f.Location}
	if fn.rec != nil {
		out.field += len(fn.rec.names) // the whole record's text follows its fields
	}
	return out, nil
}

// srfWidth is the number of values a set-returning function gives per
// row: one, or a record's fields and then its text.
func srfWidth(fn *expr) int {
	if fn.rec != nil {
		return len(fn.rec.names) + 1
	}
	return 1
}

// srfSignature types a set-returning function's call, as PostgreSQL
// picks among its pg_proc entries.
func (a *analyzer) srfSignature(name string, args []*expr, loc int32) (*expr, *Error) {
	out := &expr{kind: eFunc, op: name, args: args, loc: loc}
	isArr := func(e *expr) bool { return e.typ == tText && heldElem[e.pgt] != 0 }
	var err *Error
	switch name {
	case "unnest":
		if len(args) != 1 || !isArr(args[0]) {
			return nil, a.errAt(noFunction(name, args), loc)
		}
		out.typ, out.pgt = heldElem[args[0].pgt], heldElemOID[args[0].pgt]
		out.name = out.pgt == pgtype.NameOID
	case "generate_subscripts":
		if len(args) < 2 || len(args) > 3 || !isArr(args[0]) {
			return nil, a.errAt(noFunction(name, args), loc)
		}
		if args[1], err = a.castTo(args[1], tInt4, loc); err != nil {
			return nil, err
		}
		if len(args) == 3 {
			if args[2], err = a.castTo(args[2], tBool, loc); err != nil {
				return nil, err
			}
		}
		out.typ = tInt4
	case "information_schema._pg_expandarray":
		if len(args) != 1 || !isArr(args[0]) {
			return nil, a.errAt(noFunction(name, args), loc)
		}
		out.typ, out.pgt = tText, recordOID
		out.rec = &recordType{names: []string{"x", "n"}, types: []typ{heldElem[args[0].pgt], tInt4}, pgts: []uint32{heldElemOID[args[0].pgt], 0}}
	case "regexp_matches", "regexp_split_to_table":
		if len(args) < 2 || len(args) > 3 {
			return nil, a.errAt(noFunction(name, args), loc)
		}
		for i := range args {
			if args[i], err = a.castTo(args[i], tText, loc); err != nil {
				return nil, err
			}
		}
		out.typ = tText
		if name == "regexp_matches" {
			out.pgt = pgtype.TextArrayOID
		}
	default: // generate_series
		if len(args) < 2 || len(args) > 3 {
			return nil, a.errAt(noFunction(name, args), loc)
		}
		t := tInt4
		for _, e := range args {
			if e.typ == tInt8 {
				t = tInt8
			} else if e.typ != tInt4 && e.typ != tUnknown {
				return nil, a.errAt(noFunction(name, args), loc)
			}
		}
		for i, e := range args {
			if args[i], err = a.castTo(e, t, loc); err != nil {
				return nil, err
			}
		}
		out.typ = t
	}
	return out, nil
}

// fieldSelect analyzes (e).field on a record.
func (a *analyzer) fieldSelect(e *expr, field string, loc int32) (*expr, *Error) {
	if e.rec == nil {
		return nil, a.errAt(errorf(codeUndefinedColumn, "column %q not found in data type %s", field, typeName(e)), loc)
	}
	j := -1
	for i, n := range e.rec.names {
		if n == field {
			j = i
		}
	}
	if j < 0 {
		return nil, a.errAt(errorf(codeUndefinedColumn, "could not identify column %q in record data type", field), loc)
	}
	t, pgt := e.rec.types[j], e.rec.pgts[j]
	if e.kind == eSRF { // read straight from the function's row
		f := *e
		f.field, f.typ, f.pgt, f.rec, f.name = e.field-len(e.rec.names)+j, t, pgt, nil, pgt == pgtype.NameOID
		return &f, nil
	}
	return &expr{kind: eFunc, op: "record_field", field: j, typ: t, pgt: pgt, args: []*expr{e}, loc: e.loc, name: pgt == pgtype.NameOID}, nil
}

// typeName is the PostgreSQL name of e's type, for messages.
func typeName(e *expr) string {
	if e.pgt != 0 {
		return formatType(e.pgt, -1)
	}
	return e.typ.String()
}

// srfRows compiles a set-returning function into the function of its
// rows, each of srfWidth(fn) values.
func (c *compiler) srfRows(fn *expr) (func(x *evalCtx) [][]value, *Error) {
	args, _, err := c.compileAll(fn.args)
	if err != nil {
		return nil, err
	}
	vals := func(x *evalCtx) ([]value, bool) {
		v := make([]value, len(args))
		for i, f := range args {
			if v[i] = f(x); v[i].null {
				return nil, false
			}
		}
		return v, true
	}
	single := func(vs []value) [][]value {
		if len(vs) == 0 {
			return nil // no rows: x.src stays nil, as evalCtx.at expects
		}
		rows := make([][]value, len(vs))
		for i := range vs {
			rows[i] = vs[i : i+1 : i+1]
		}
		return rows
	}
	// elemsOf evaluates the arguments and the first one's elements; nil
	// when an argument is NULL.
	elemsOf := func(x *evalCtx, pgt uint32) ([]value, []value) {
		v, ok := vals(x)
		if !ok {
			return nil, nil
		}
		elems := heldValues(x, pgt, v[0].s)
		x.work(len(elems))
		return v, elems
	}
	switch fn.op {
	case "unnest":
		pgt := fn.args[0].pgt
		return func(x *evalCtx) [][]value {
			_, elems := elemsOf(x, pgt)
			return single(elems)
		}, nil
	case "generate_series":
		return func(x *evalCtx) [][]value {
			v, ok := vals(x)
			if !ok {
				return nil
			}
			start, stop, step := v[0].n, v[1].n, int64(1)
			if len(v) == 3 {
				step = v[2].n
			}
			if step == 0 {
				fail(codeInvalidParamValue, "step size cannot equal zero")
			}
			var out []value
			for n := start; (step > 0 && n <= stop) || (step < 0 && n >= stop); n += step {
				x.work(1)
				out = append(out, value{n: n})
				if next := n + step; (step > 0 && next < n) || (step < 0 && next > n) {
					break // the next value would overflow
				}
			}
			return single(out)
		}, nil
	case "generate_subscripts":
		pgt := fn.args[0].pgt
		return func(x *evalCtx) [][]value {
			v, elems := elemsOf(x, pgt)
			if v == nil || v[1].n != 1 {
				return nil
			}
			base := arrayLower(pgt)
			out := make([]value, len(elems))
			for i := range out {
				out[i].n = int64(base + i)
				if len(v) == 3 && isTrue(v[2]) {
					out[i].n = int64(base + len(elems) - 1 - i)
				}
			}
			return single(out)
		}, nil
	case "information_schema._pg_expandarray":
		pgt, rec := fn.args[0].pgt, fn.rec
		return func(x *evalCtx) [][]value {
			_, elems := elemsOf(x, pgt)
			rows := make([][]value, len(elems))
			for i, e := range elems {
				n := value{n: int64(i + 1)}
				rows[i] = []value{e, n, {s: recordOut(x, rec, []value{e, n})}}
			}
			return rows
		}, nil
	case "regexp_matches":
		return func(x *evalCtx) [][]value {
			v, ok := vals(x)
			if !ok {
				return nil
			}
			var fl reFlags
			global := false
			if len(v) == 3 {
				fl, global = parseREFlags(v[2].s, "regexp_matches", true)
			}
			re := compileARE(v[1].s, fl)
			n := 1
			if global {
				n = -1
			}
			var out []value
			for _, m := range re.FindAllStringSubmatchIndex(v[0].s, n) {
				x.work(1)
				out = append(out, value{s: arrayOut(tText, groups(v[0].s, m), x.loc)})
			}
			return single(out)
		}, nil
	}
	// regexp_split_to_table
	split := regexpSplit(fn)
	return func(x *evalCtx) [][]value {
		v, ok := vals(x)
		if !ok {
			return nil
		}
		parts, perr := parseArray(split(x, v).s, func(s string) (value, *Error) { return value{s: s}, nil })
		if perr != nil {
			failErr(perr)
		}
		x.work(len(parts))
		return single(parts)
	}, nil
}

// heldValues are the elements of an array of type pgt held as text s;
// an int2vector or oidvector is its elements separated by spaces.
func heldValues(x *evalCtx, pgt uint32, s string) []value {
	if pgt == 22 || pgt == 30 {
		s = "{" + strings.Join(strings.Fields(s), ",") + "}"
	}
	t := heldElem[pgt]
	vals, err := parseArray(s, func(s string) (value, *Error) { return decodeText(t, []byte(s), x) })
	if err != nil {
		failErr(err)
	}
	return vals
}

// arrayLower is the lower bound of an array of type pgt: 0 for int2vector
// and oidvector, 1 for the arrays statusdb makes.
func arrayLower(pgt uint32) int {
	if pgt == 22 || pgt == 30 {
		return 0
	}
	return 1
}

// recordOut is record_out: the fields in parentheses, quoted where
// PostgreSQL quotes them, NULL as nothing.
func recordOut(x *evalCtx, rec *recordType, vals []value) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(',')
		}
		if v.null {
			continue
		}
		s := arrayOut(rec.types[i], []value{v}, x.loc)
		s = s[1 : len(s)-1] // the element's text, as array_out quotes it
		if strings.HasPrefix(s, `"`) {
			s, _ = unquoteArrayElem(s)
		}
		if s == "" || strings.ContainsAny(s, "\"\\(),") || strings.ContainsAny(s, " \t\n\r\v\f") {
			b.WriteByte('"')
			for _, r := range s {
				if r == '"' || r == '\\' {
					b.WriteRune(r)
				}
				b.WriteRune(r)
			}
			b.WriteByte('"')
			continue
		}
		b.WriteString(s)
	}
	b.WriteByte(')')
	return b.String()
}

// unquoteArrayElem reads back an element array_out quoted.
func unquoteArrayElem(s string) (string, bool) {
	vals, err := parseArray("{"+s+"}", func(s string) (value, *Error) { return value{s: s}, nil })
	if err != nil || len(vals) != 1 {
		return s, false
	}
	return vals[0].s, true
}

// recordField is (record).field of a record held as text: the field's
// text is read back as record_in reads it.
func recordField(e *expr, args []evalFn) evalFn {
	j, t := e.field, e.typ
	return func(x *evalCtx) value {
		v := args[0](x)
		if v.null {
			return v
		}
		f, isNull := splitRecord(v.s, j)
		if isNull {
			return null
		}
		r, err := decodeText(t, []byte(f), x)
		if err != nil {
			failErr(err)
		}
		return r
	}
}

// splitRecord returns field j of a record's text form.
func splitRecord(s string, j int) (string, bool) {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "("), ")")
	field, quoted, in := 0, false, false
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case in && c == '"' && i+1 < len(s) && s[i+1] == '"':
			b.WriteByte('"')
			i++
		case c == '"':
			in, quoted = !in, true
		case c == '\\' && i+1 < len(s):
			b.WriteByte(s[i+1])
			i++
		case !in && c == ',':
			if field == j {
				return b.String(), b.Len() == 0 && !quoted
			}
			field++
			b.Reset()
			quoted = false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), field != j || b.Len() == 0 && !quoted
}

// projectSet expands the output units (order, made current by set) into
// the rows of the select list's set-returning functions (see above). It
// returns the expanded units, in order, and the function making one
// current, which also sets x.srf to its functions' values.
func (q *query) projectSet(x *evalCtx, order []int32, set func(int32)) ([]int32, func(int32)) {
	var base []int32
	var vals [][]value
	lists := make([][][]value, len(q.srfs))
	for _, u := range order {
		set(u)
		n := 0
		for i, f := range q.srfs {
			lists[i] = f(x)
			n = max(n, len(lists[i]))
		}
		x.work(n)
		for k := range n {
			row := make([]value, q.srfWidth)
			for i, l := range lists {
				w := q.srfWidths[i]
				if k < len(l) {
					copy(row[q.srfOffsets[i]:q.srfOffsets[i]+w], l[k])
					continue
				}
				for c := range w {
					row[q.srfOffsets[i]+c] = null
				}
			}
			base, vals = append(base, u), append(vals, row)
		}
	}
	expanded := make([]int32, len(base))
	for i := range expanded {
		expanded[i] = int32(i)
	}
	return expanded, func(i int32) { set(base[i]); x.srf = vals[i] }
}

// noSRFIn refuses a set-returning function inside CASE or COALESCE, as
// PostgreSQL does.
func (a *analyzer) noSRFIn(what string, e *expr) *Error {
	if ok, loc := e.has(eSRF); ok {
		return a.errAt(&Error{Code: codeFeature, Message: "set-returning functions are not allowed in " + what, Hint: lateralHint}, loc)
	}
	return nil
}

// srfPlacement refuses set-returning functions where PostgreSQL evaluates
// them before grouping or window functions (GROUP BY, a window's PARTITION
// BY or ORDER BY), which statusdb does not.
func (a *analyzer) srfPlacement(p *plan) *Error {
	if len(p.srfs) == 0 {
		return nil
	}
	var es []*expr
	es = append(es, p.group...)
	for _, w := range p.specs {
		es = append(es, w.partition...)
		for _, o := range w.order {
			es = append(es, o.e)
		}
	}
	for _, e := range es {
		if ok, loc := e.has(eSRF); ok {
			return a.errAt(unsupported("a set-returning function in GROUP BY or a window definition"), loc)
		}
	}
	return nil
}

// appendRecordBinary appends record_send's form of a record held as its
// text s: the number of fields, then each field's type OID and binary
// value (-1 for NULL).
func appendRecordBinary(dst []byte, rec *recordType, s string, x *evalCtx) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(rec.names)))
	for j, t := range rec.types {
		oid := rec.pgts[j]
		if oid == 0 {
			oid = t.oid()
		}
		dst = binary.BigEndian.AppendUint32(dst, oid)
		f, isNull := splitRecord(s, j)
		if isNull {
			dst = binary.BigEndian.AppendUint32(dst, math.MaxUint32) // -1
			continue
		}
		v, err := decodeText(t, []byte(f), x)
		if err != nil {
			failErr(err)
		}
		lenAt := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		if specialWire(oid) {
			dst, _, _ = appendSpecial(dst, oid, &v, x, 1)
		} else {
			dst, _, _ = appendWire(dst, t, &v, x.loc, 1)
		}
		binary.BigEndian.PutUint32(dst[lenAt:], uint32(len(dst)-lenAt-4))
	}
	return dst
}
