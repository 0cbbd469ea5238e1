package statusdb

import (
	"math"
	"math/big"
	"slices"
	"strconv"
	"time"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Aggregates that see all their rows at once: those with ORDER BY in
// their call (string_agg(x, ',' ORDER BY y)), the ordered-set aggregates
// (percentile_cont, percentile_disc, mode WITHIN GROUP (ORDER BY ...)),
// array_agg, the JSON aggregates (json.go), bool_and, bool_or, every,
// bit_and, bit_or, the statistics (stddev, variance, corr, regr_*,
// covar_*). Their rows are collected, sorted and deduplicated as the
// call asks, then reduced by the aggregate's final function. The
// statistics follow PostgreSQL's transition functions step by step
// (Youngs-Cramer for float8, exact sums for numeric), so that the
// results are the same to the last bit and digit.

// collectAggs are the aggregates computed from their collected rows.
var collectAggs = map[string]bool{}

func init() {
	for _, n := range []string{"array_agg", "bool_and", "bool_or", "every", "bit_and", "bit_or",
		"stddev", "stddev_samp", "stddev_pop", "variance", "var_samp", "var_pop",
		"percentile_cont", "percentile_disc", "mode",
		"corr", "covar_pop", "covar_samp", "regr_slope", "regr_intercept", "regr_count", "regr_r2",
		"regr_avgx", "regr_avgy", "regr_sxx", "regr_syy", "regr_sxy"} {
		collectAggs[n] = true
		aggregates[n] = true
	}
}

// aggOrder is what an aggregate computed from its collected rows needs
// besides op, args and filter: args[:nargs] are its arguments (the
// direct ones for WITHIN GROUP), args[nargs:] its ORDER BY expressions.
type aggOrder struct {
	nargs      int
	desc       []bool
	nullsFirst []bool
	within     bool
	fracs      []*expr // percentile_*(ARRAY[...]): the fractions
	key        string
}

// collectAgg types a call of a collected aggregate; ok is false for the
// others. out holds the analyzed arguments and FILTER.
func (a *analyzer) collectAgg(name string, f *pg.FuncCall, out *expr) (*expr, *Error, bool) {
	if !collectAggs[name] && !jsonAggs[name] && !(name == "string_agg" && len(f.AggOrder) > 0) {
		if f.AggWithinGroup {
			return nil, a.errAt(errorf(codeWrongObjectType, "%s is not an ordered-set aggregate, so it cannot have WITHIN GROUP", name), f.Location), true
		}
		return nil, nil, false
	}
	if f.AggStar {
		return nil, a.errAt(errorf(codeWrongObjectType, "%s(*) must be used to call a parameterless aggregate function", name), f.Location), true
	}
	orderedSet := name == "percentile_cont" || name == "percentile_disc" || name == "mode"
	switch {
	case orderedSet && !f.AggWithinGroup:
		return nil, a.errAt(errorf(codeWrongObjectType, "WITHIN GROUP is required for ordered-set aggregate %s", name), f.Location), true
	case !orderedSet && f.AggWithinGroup:
		return nil, a.errAt(errorf(codeWrongObjectType, "%s is not an ordered-set aggregate, so it cannot have WITHIN GROUP", name), f.Location), true
	}
	o := &aggOrder{nargs: len(out.args), within: f.AggWithinGroup}
	var keys []string
	for _, n := range f.AggOrder {
		sb := n.GetSortBy()
		if sb == nil || sb.SortbyDir == pg.SortByDir_SORTBY_USING {
			return nil, unsupported("ORDER BY USING"), true
		}
		e, err := a.expr(sb.Node)
		if err != nil {
			return nil, err, true
		}
		e = a.unknownToText(e)
		k := newSortSpec(e, -1, sb)
		out.args = append(out.args, e)
		o.desc = append(o.desc, k.desc)
		o.nullsFirst = append(o.nullsFirst, k.nullsFirst)
		keys = append(keys, strconv.FormatBool(k.desc)+strconv.FormatBool(k.nullsFirst))
	}
	o.key = "ord" + strconv.Itoa(o.nargs) + "|" + strconv.FormatBool(o.within)
	for _, k := range keys {
		o.key += "|" + k
	}
	out.ord = o
	args := out.args[:o.nargs]
	fail := func() (*expr, *Error, bool) { return nil, a.errAt(noFunction(name, args), f.Location), true }
	want := func(i int, t typ) bool {
		c, err := a.coerce(out.args[i], t)
		if err != nil || c == nil {
			return false
		}
		out.args[i] = c
		return true
	}
	if out.distinct && len(f.AggOrder) > 0 {
		for _, e := range out.args[o.nargs:] {
			if !slices.ContainsFunc(args, func(x *expr) bool { return x.key() == e.key() }) {
				return nil, a.errAt(errorf("42P10", "in an aggregate with DISTINCT, ORDER BY expressions must appear in argument list"), e.loc), true
			}
		}
	}
	switch name {
	case "string_agg":
		if len(args) != 2 || !want(0, tText) || !want(1, tText) {
			return fail()
		}
		out.typ = tText
	case "array_agg":
		if len(args) != 1 {
			return fail()
		}
		out.args[0] = a.unknownToText(args[0])
		oid, ok := arrayValueOID(out.args[0])
		if !ok || heldElem[oid] == 0 {
			return nil, a.errAt(unsupported("array_agg of "+out.args[0].typ.String()), f.Location), true
		}
		out.typ, out.pgt = tText, oid
	case "bool_and", "bool_or", "every":
		if len(args) != 1 || !want(0, tBool) {
			return fail()
		}
		out.typ = tBool
	case "bit_and", "bit_or":
		if len(args) != 1 || (args[0].typ != tInt4 && args[0].typ != tInt8) {
			return fail()
		}
		out.typ, out.pgt = args[0].typ, args[0].pgt
	case "stddev", "stddev_samp", "stddev_pop", "variance", "var_samp", "var_pop":
		if len(args) != 1 {
			return fail()
		}
		if args[0].typ == tUnknown && !want(0, tFloat8) || !args[0].typ.numeric() {
			return fail()
		}
		out.typ = tNumeric
		if args[0].typ == tFloat8 {
			out.typ = tFloat8
		}
	case "percentile_cont", "percentile_disc":
		if len(args) != 1 || len(f.AggOrder) != 1 {
			return fail()
		}
		arr := f.Args[0].GetAArrayExpr()
		if arr != nil {
			for _, n := range arr.Elements {
				e, err := a.expr(n)
				if err != nil {
					return nil, err, true
				}
				c, err := a.coerce(e, tFloat8)
				if err != nil {
					return nil, err, true
				}
				if c == nil {
					return fail()
				}
				o.fracs = append(o.fracs, c)
			}
			out.args[0] = &expr{kind: eConst, typ: tFloat8, val: null, loc: args[0].loc}
		} else if !want(0, tFloat8) {
			return fail()
		}
		ord := out.args[1]
		if name == "percentile_cont" {
			if ord.typ != tInterval && !want(1, tFloat8) {
				return fail()
			}
			ord = out.args[1]
			out.typ = ord.typ
		} else {
			out.typ, out.pgt, out.name = ord.typ, ord.pgt, ord.name
		}
		if arr != nil {
			e := &expr{typ: out.typ, pgt: out.pgt, name: out.name}
			oid, ok := arrayValueOID(e)
			if !ok || heldElem[oid] == 0 {
				return nil, a.errAt(unsupported(name+" of an array of "+out.typ.String()), f.Location), true
			}
			out.typ, out.pgt, out.name = tText, oid, false
		}
	case "mode":
		if len(args) != 0 || len(f.AggOrder) != 1 {
			return fail()
		}
		ord := out.args[0]
		out.typ, out.pgt, out.name = ord.typ, ord.pgt, ord.name
	case "corr", "covar_pop", "covar_samp", "regr_slope", "regr_intercept", "regr_count", "regr_r2",
		"regr_avgx", "regr_avgy", "regr_sxx", "regr_syy", "regr_sxy":
		if len(args) != 2 || !want(0, tFloat8) || !want(1, tFloat8) {
			return fail()
		}
		out.typ = tFloat8
		if name == "regr_count" {
			out.typ = tInt8
		}
	default:
		if err := a.jsonAgg(name, out, f.Location); err != nil {
			return nil, err, true
		}
	}
	return out, nil, true
}

// collectPlan is the compiled part of a collected aggregate.
type collectPlan struct {
	args     []evalFn // arguments, then ORDER BY expressions
	argTypes []typ
	argPgts  []uint32
	rowArg   bool // the first argument is a whole row
	nargs    int
	sort     []sortKey
	fracs    []evalFn
}

// collected is a collected aggregate's state: the rows' argument and
// ORDER BY values.
type collected struct {
	rows [][]value
	loc  *time.Location
}

func (c *compiler) collectPlan(a *expr) (aggPlan, *Error) {
	ap := aggPlan{op: a.op, distinct: a.distinct, typ: a.typ}
	cp := &collectPlan{nargs: a.ord.nargs}
	var err *Error
	if cp.args, cp.argTypes, err = c.compileAll(a.args); err != nil {
		return ap, err
	}
	for _, e := range a.args {
		cp.argPgts = append(cp.argPgts, e.pgt)
	}
	cp.rowArg = len(a.args) > 0 && isRow(a.args[0])
	for i, e := range a.args[a.ord.nargs:] {
		k := sortKey{out: -1, typ: e.typ, desc: a.ord.desc[i], nullsFirst: a.ord.nullsFirst[i]}
		k.cmp = k.comparator()
		cp.sort = append(cp.sort, k)
	}
	if len(cp.sort) == 0 && a.distinct {
		// DISTINCT sorts by the arguments, as PostgreSQL's sort-based
		// DISTINCT does.
		for _, e := range a.args[:a.ord.nargs] {
			k := sortKey{out: -1, typ: e.typ}
			k.cmp = k.comparator()
			cp.sort = append(cp.sort, k)
		}
	}
	if len(a.ord.fracs) > 0 {
		if cp.fracs, _, err = c.compileAll(a.ord.fracs); err != nil {
			return ap, err
		}
	}
	if a.filter != nil {
		if ap.filter, err = c.compile(a.filter); err != nil {
			return ap, err
		}
	}
	ap.col = cp
	return ap, nil
}

// add collects the current row.
func (cp *collectPlan) add(x *evalCtx, st *aggState) {
	if st.col == nil {
		st.col = &collected{loc: x.loc}
	}
	row := make([]value, len(cp.args))
	for i, f := range cp.args {
		row[i] = f(x)
	}
	if cp.fracs != nil && len(st.col.rows) == 0 {
		// the direct arguments, read once
		fr := make([]value, len(cp.fracs))
		for i, f := range cp.fracs {
			fr[i] = f(x)
		}
		st.col.rows = append(st.col.rows, fr)
	}
	x.work(len(row))
	st.col.rows = append(st.col.rows, row)
}

// final reduces the collected rows; it leaves the state as it is, as a
// window aggregate's frame may grow further.
func (cp *collectPlan) final(a *aggPlan, st *aggState) value {
	var rows [][]value
	var fracs []value
	loc := time.UTC
	if st.col != nil {
		rows, loc = st.col.rows, st.col.loc
		if cp.fracs != nil && len(rows) > 0 {
			fracs, rows = rows[0], rows[1:]
		}
	}
	rows = slices.Clone(rows)
	if len(cp.sort) > 0 {
		first := cp.nargs
		if a.distinct && len(rows) > 0 && len(cp.sort) == cp.nargs && len(rows[0]) == cp.nargs {
			first = 0
		}
		slices.SortStableFunc(rows, func(p, q []value) int {
			for i := range cp.sort {
				if c := cp.sort[i].cmp(&p[first+i], &q[first+i]); c != 0 {
					return c
				}
			}
			return 0
		})
	}
	if a.distinct {
		seen := map[string]bool{}
		out := rows[:0]
		for _, r := range rows {
			k := string(appendKey(nil, cp.argTypes[:cp.nargs], r[:cp.nargs]))
			if !seen[k] {
				seen[k] = true
				out = append(out, r)
			}
		}
		rows = out
	}
	arg := func(i int) []value { // the rows' non-NULL values of argument i
		var vs []value
		for _, r := range rows {
			if !r[i].null {
				vs = append(vs, r[i])
			}
		}
		return vs
	}
	switch a.op {
	case "string_agg":
		var b []byte
		n := 0
		for _, r := range rows {
			if r[0].null {
				continue
			}
			if n > 0 && !r[1].null {
				b = append(b, r[1].s...)
			}
			b = append(b, r[0].s...)
			n++
		}
		if n == 0 {
			return null
		}
		return value{s: string(b)}
	case "array_agg":
		if len(rows) == 0 {
			return null
		}
		vals := make([]value, len(rows))
		for i, r := range rows {
			vals[i] = r[0]
		}
		return value{s: arrayOut(cp.argTypes[0], vals, loc)}
	case "bool_and", "every", "bool_or":
		vs := arg(0)
		if len(vs) == 0 {
			return null
		}
		and := a.op != "bool_or"
		for _, v := range vs {
			if (v.n != 0) != and {
				return boolValue(!and)
			}
		}
		return boolValue(and)
	case "bit_and", "bit_or":
		vs := arg(0)
		if len(vs) == 0 {
			return null
		}
		r := vs[0].n
		for _, v := range vs[1:] {
			if a.op == "bit_and" {
				r &= v.n
			} else {
				r |= v.n
			}
		}
		return value{n: r}
	case "stddev", "stddev_samp", "stddev_pop", "variance", "var_samp", "var_pop":
		vs := arg(0)
		if cp.argTypes[0] == tFloat8 {
			return floatVariance(a.op, vs)
		}
		return numericVariance(a.op, cp.argTypes[0], vs)
	case "percentile_cont", "percentile_disc":
		vs := arg(1)
		one := func(p value) value {
			if p.null {
				return null
			}
			if p.f < 0 || p.f > 1 || math.IsNaN(p.f) {
				fail(codeOutOfRange, "percentile value "+strconv.FormatFloat(p.f, 'g', -1, 64)+" is not between 0 and 1")
			}
			if len(vs) == 0 {
				return null
			}
			n := float64(len(vs))
			if a.op == "percentile_disc" {
				i := int(math.Ceil(p.f*n)) - 1
				return vs[max(i, 0)]
			}
			pos := p.f * (n - 1)
			lo, hi := math.Floor(pos), math.Ceil(pos)
			first, second := vs[int(lo)], vs[int(hi)]
			if lo == hi {
				return first
			}
			if cp.argTypes[1] == tInterval {
				return intervalLerp(first, second, pos-lo)
			}
			return value{f: first.f + (second.f-first.f)*(pos-lo)}
		}
		if cp.fracs == nil {
			p := rows
			if len(p) == 0 {
				// the direct argument of a group without rows: PostgreSQL
				// still checks it; it is constant here.
				return null
			}
			return one(p[0][0])
		}
		if fracs == nil {
			return null
		}
		out := make([]value, len(fracs))
		for i, p := range fracs {
			out[i] = one(p)
		}
		if len(vs) == 0 {
			return null
		}
		return value{s: arrayOut(cp.argTypes[1], out, loc)}
	case "mode":
		vs := arg(0)
		if len(vs) == 0 {
			return null
		}
		best, bestN, run := vs[0], 0, 0
		for i, v := range vs {
			if i > 0 && compareValues(cp.argTypes[0], v, vs[i-1]) == 0 {
				run++
			} else {
				run = 1
			}
			if run > bestN {
				best, bestN = v, run
			}
		}
		return best
	case "corr", "covar_pop", "covar_samp", "regr_slope", "regr_intercept", "regr_count", "regr_r2",
		"regr_avgx", "regr_avgy", "regr_sxx", "regr_syy", "regr_sxy":
		return regression(a.op, rows)
	}
	return jsonAggFinal(a.op, cp, rows, loc)
}

// intervalLerp is interval_lerp: a + (b - a) * f.
func intervalLerp(a, b value, f float64) value {
	d := value{m: b.m - a.m, d: b.d - a.d, n: b.n - a.n}
	return intervalAdd(a, intervalMulFloat(d, f))
}

// floatVariance is float8_var_pop, float8_var_samp, float8_stddev_pop
// and float8_stddev_samp over float8_accum's Youngs-Cramer state.
func floatVariance(op string, vs []value) value {
	var n, sx, sxx float64
	for _, v := range vs {
		n++
		sx += v.f
		if n > 1 {
			t := v.f*n - sx
			sxx += t * t / (n * (n - 1))
		}
	}
	pop := op == "stddev_pop" || op == "var_pop"
	switch {
	case n == 0, !pop && n == 1:
		return null
	}
	den := n - 1
	if pop {
		den = n
	}
	r := sxx / den
	if op == "stddev" || op == "stddev_samp" || op == "stddev_pop" {
		r = math.Sqrt(r)
	}
	return value{f: r}
}

// numericVariance is numeric_stddev_internal over exact sums of the
// values and their squares.
func numericVariance(op string, t typ, vs []value) value {
	pop := op == "stddev_pop" || op == "var_pop"
	n := int64(len(vs))
	if n == 0 || !pop && n == 1 {
		return null
	}
	sum, sq, sc := new(big.Int), new(big.Int), 0
	for _, v := range vs {
		var u *big.Int
		s := 0
		if t == tNumeric {
			if v.s == numNaN {
				return value{s: numNaN}
			}
			u, s = decParse(v.s)
		} else {
			u = big.NewInt(v.n)
		}
		if s > sc {
			sum, sq = rescale(sum, sc, s), rescale(sq, 2*sc, 2*s)
			sc = s
		}
		u = rescale(u, s, sc)
		sum.Add(sum, u)
		sq.Add(sq, new(big.Int).Mul(u, u))
	}
	// N * sumX2 - sumX * sumX, at scale 2*sc
	num := new(big.Int).Mul(big.NewInt(n), sq)
	num.Sub(num, new(big.Int).Mul(sum, sum))
	if num.Sign() <= 0 {
		return value{s: "0"}
	}
	den := n * n
	if !pop {
		den = n * (n - 1)
	}
	q := decValue(num, 2*sc).s
	r := numericArith("/", q, strconv.FormatInt(den, 10))
	if op == "stddev" || op == "stddev_samp" || op == "stddev_pop" {
		u, s := decParse(r.s)
		return decSqrt(u, s, s)
	}
	return r
}

// decSqrt is sqrt_var of u×10^-s rounded to rscale digits.
func decSqrt(u *big.Int, s, rscale int) value {
	// sqrt(u×10^-s) × 10^(rscale+1) = sqrt(u × 10^(2rscale+2-s))
	e := 2*rscale + 2 - s
	x := new(big.Int).Set(u)
	if e >= 0 {
		x.Mul(x, pow10(e))
	} else {
		x.Quo(x, pow10(-e))
	}
	r := new(big.Int).Sqrt(x)
	// r has one digit more than wanted: round half up
	r.Add(r, big.NewInt(5))
	r.Quo(r, bigTen)
	return decValue(r, rscale)
}

// regression is float8_regr_accum's Youngs-Cramer state and the final
// functions of corr, covar_*, regr_*; the first argument is Y.
func regression(op string, rows [][]value) value {
	var n, sx, sxx, sy, syy, sxy float64
	for _, r := range rows {
		if r[0].null || r[1].null {
			continue
		}
		y, x := r[0].f, r[1].f
		n++
		sx += x
		sy += y
		if n > 1 {
			tx, ty := x*n-sx, y*n-sy
			scale := 1 / (n * (n - 1))
			sxx += tx * tx * scale
			syy += ty * ty * scale
			sxy += tx * ty * scale
		}
	}
	if op == "regr_count" {
		return value{n: int64(n)}
	}
	if n < 1 {
		return null
	}
	f := func(v float64) value { return value{f: v} }
	switch op {
	case "corr":
		if sxx == 0 || syy == 0 {
			return null
		}
		return f(sxy / math.Sqrt(sxx*syy))
	case "covar_pop":
		return f(sxy / n)
	case "covar_samp":
		if n < 2 {
			return null
		}
		return f(sxy / (n - 1))
	case "regr_slope":
		if sxx == 0 {
			return null
		}
		return f(sxy / sxx)
	case "regr_intercept":
		if sxx == 0 {
			return null
		}
		return f((sy - sx*sxy/sxx) / n)
	case "regr_r2":
		if sxx == 0 {
			return null
		}
		if syy == 0 {
			return f(1)
		}
		return f(sxy * sxy / (sxx * syy))
	case "regr_avgx":
		return f(sx / n)
	case "regr_avgy":
		return f(sy / n)
	case "regr_sxx":
		return f(sxx)
	case "regr_syy":
		return f(syy)
	}
	return f(sxy)
}
