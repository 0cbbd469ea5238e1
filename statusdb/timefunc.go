package statusdb

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Date and time beyond timestamptz and interval (timefunc.go, timeout.go):
// the types date, time and timestamp, held by evaluator types with their
// PostgreSQL type beside them (expr.pgt) — a timestamp as the µs of its
// wall clock read as UTC, a date as the µs of its midnight so, a time as
// µs since midnight (int8) —, their casts, and the functions extract,
// date_part, date_trunc, to_char, age, timezone (AT TIME ZONE),
// to_timestamp, make_interval, justify_*, and interval * and / number.

const (
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidInterval    = 1186
)

// timeFuncs are the functions of this file, by name.
var timeFuncs = map[string]bool{
	"extract": true, "date_part": true, "date_trunc": true, "to_char": true, "age": true, "timezone": true,
	"to_timestamp": true, "justify_interval": true, "justify_hours": true, "justify_days": true,
	"date_bin": true,
}

// isDateLike reports whether e is a timestamptz, timestamp or date.
func isDateLike(e *expr) bool {
	return e.typ == tTimestamptz && (e.pgt == 0 || e.pgt == oidTimestamp || e.pgt == oidDate)
}

// extFunc types a call of the date/time or JSON functions: ok is false for
// any other name. It analyzes the arguments itself, as make_interval's
// are named.
func (a *analyzer) extFunc(name string, f *pg.FuncCall) (*expr, *Error, bool) {
	if name == "make_interval" {
		e, err := a.makeInterval(f)
		return e, err, true
	}
	if arrayFuncs[name] {
		e, err := a.arrayFunc(name, f)
		return e, err, true
	}
	if !timeFuncs[name] && !jsonFuncs[name] {
		return nil, nil, false
	}
	args, err := a.jsonArgs(f.Args)
	if err != nil {
		return nil, err, true
	}
	out := &expr{kind: eFunc, op: name, args: args, loc: f.Location}
	if jsonFuncs[name] {
		err := a.jsonFunc(name, out)
		return out, err, true
	}
	nofn := func() (*expr, *Error, bool) { return nil, a.errAt(noFunction(name, args), f.Location), true }
	want := func(i int, t typ) bool {
		c, err := a.coerce(args[i], t)
		if err != nil || c == nil {
			return false
		}
		args[i] = c
		return true
	}
	// dateArg makes args[i] a timestamptz, timestamp, date or interval.
	dateArg := func(i int, iv bool) bool {
		if args[i].typ == tUnknown {
			return want(i, tTimestamptz)
		}
		return isDateLike(args[i]) || iv && args[i].typ == tInterval
	}
	switch name {
	case "extract", "date_part":
		if len(args) != 2 || !want(0, tText) || !dateArg(1, true) {
			return nofn()
		}
		out.typ = tNumeric
		if name == "date_part" {
			out.typ = tFloat8
		}
	case "date_trunc":
		if len(args) < 2 || len(args) > 3 || !want(0, tText) || !dateArg(1, true) {
			return nofn()
		}
		if len(args) == 3 && (args[1].pgt != 0 || args[1].typ != tTimestamptz || !want(2, tText)) {
			return nofn()
		}
		out.typ, out.pgt = args[1].typ, args[1].pgt
		if out.pgt == oidDate {
			// date_trunc(text, date) is date_trunc(text, timestamptz)
			args[1] = &expr{kind: eFunc, op: "cast", typ: tTimestamptz, args: []*expr{args[1]}, loc: args[1].loc, idx: oidTimestamptz}
			out.pgt = 0
		}
	case "to_char":
		if len(args) != 2 || !want(1, tText) {
			return nofn()
		}
		if args[0].typ == tUnknown || !(isDateLike(args[0]) || args[0].typ == tInterval || args[0].typ.numeric()) {
			return nofn()
		}
		if args[0].pgt == oidDate {
			args[0] = &expr{kind: eFunc, op: "cast", typ: tTimestamptz, pgt: oidTimestamp, args: []*expr{args[0]}, loc: args[0].loc, idx: oidTimestamp}
		}
		out.typ = tText
	case "age":
		if len(args) < 1 || len(args) > 2 {
			return nofn()
		}
		for i := range args {
			if args[i].typ == tUnknown {
				want(i, tTimestamptz)
			}
			if args[i].typ != tTimestamptz || args[i].pgt == oidDate {
				return nofn()
			}
		}
		if len(args) == 2 && args[0].pgt != args[1].pgt {
			return nofn()
		}
		out.typ = tInterval
	case "timezone":
		if len(args) != 2 || !want(0, tText) {
			return nofn()
		}
		if args[1].typ == tUnknown {
			want(1, tTimestamptz)
		}
		if args[1].typ != tTimestamptz || args[1].pgt == oidDate {
			return nofn()
		}
		out.typ = tTimestamptz
		if args[1].pgt == 0 {
			out.pgt = oidTimestamp
		}
	case "to_timestamp":
		if len(args) != 1 || !want(0, tFloat8) {
			return nofn()
		}
		out.typ = tTimestamptz
	case "date_bin":
		// date_bin(interval, timestamptz, timestamptz) and its timestamp
		// form (Grafana's time buckets on PostgreSQL 14+).
		if len(args) != 3 || !want(0, tInterval) {
			return nofn()
		}
		for i := 1; i <= 2; i++ {
			if args[i].typ == tUnknown {
				want(i, tTimestamptz)
			}
		}
		if args[1].typ != tTimestamptz || args[2].typ != tTimestamptz || args[1].pgt == oidDate || args[1].pgt != args[2].pgt {
			return nofn()
		}
		out.typ, out.pgt = tTimestamptz, args[1].pgt
	case "justify_interval", "justify_hours", "justify_days":
		if len(args) != 1 || !want(0, tInterval) {
			return nofn()
		}
		out.typ = tInterval
	}
	return out, nil, true
}

// makeInterval types make_interval(years, months, weeks, days, hours,
// mins, secs), by position or by name.
func (a *analyzer) makeInterval(f *pg.FuncCall) (*expr, *Error) {
	names := []string{"years", "months", "weeks", "days", "hours", "mins", "secs"}
	args := make([]*expr, len(names))
	for i, n := range f.Args {
		pos, node := i, n
		if na := n.GetNamedArgExpr(); na != nil {
			pos = -1
			for j, name := range names {
				if name == na.Name {
					pos = j
				}
			}
			if pos < 0 {
				return nil, a.errAt(&Error{Code: codeUndefinedFunction, Message: "function make_interval(" + na.Name + " => integer) does not exist",
					Hint: "No function matches the given name and argument types. You might need to add explicit type casts."}, f.Location)
			}
			node = na.Arg
		}
		if pos >= len(names) {
			return nil, a.errAt(unsupported("make_interval with these arguments"), f.Location)
		}
		e, err := a.expr(node)
		if err != nil {
			return nil, err
		}
		t := tInt4
		if pos == 6 {
			t = tFloat8
		}
		c, err := a.coerce(e, t)
		if err != nil {
			return nil, err
		}
		if c == nil {
			return nil, a.errAt(noFunction("make_interval", []*expr{e}), f.Location)
		}
		args[pos] = c
	}
	for i := range args {
		if args[i] == nil {
			v := value{}
			t := tInt4
			if i == 6 {
				t = tFloat8
			}
			args[i] = &expr{kind: eConst, typ: t, val: v, loc: -1}
		}
	}
	return &expr{kind: eFunc, op: "make_interval", typ: tInterval, args: args, loc: f.Location}, nil
}

// timeArith types interval * number, number * interval and interval /
// number, and ± on timestamp and date; ok is false for other operands.
func (a *analyzer) timeArith(op string, l, r *expr, pos int32) (*expr, *Error, bool) {
	switch {
	case (op == "*" || op == "/") && l.typ == tInterval && (r.typ.numeric() || r.typ == tUnknown),
		op == "*" && r.typ == tInterval && (l.typ.numeric() || l.typ == tUnknown):
		if r.typ == tInterval {
			l, r = r, l
		}
		n, err := a.coerce(r, tFloat8)
		if err != nil {
			return nil, err, true
		}
		return &expr{kind: eFunc, op: "interval" + op, typ: tInterval, args: []*expr{l, n}, loc: pos}, nil, true
	case (op == "+" || op == "-") && l.typ == tTimestamptz && l.pgt == oidTimestamp && (r.typ == tInterval || r.typ == tUnknown):
		iv, err := a.coerce(r, tInterval)
		if err != nil {
			return nil, err, true
		}
		return &expr{kind: eFunc, op: "timestamp" + op, typ: tTimestamptz, pgt: oidTimestamp, args: []*expr{l, iv}, loc: pos}, nil, true
	}
	return a.dateOp(op, l, r, pos)
}

// dateKind is the date/time type of e: oidDate, oidTime, oidTimestamp,
// oidTimestamptz, or 0.
func dateKind(e *expr) uint32 {
	switch {
	case e.pgt == oidDate || e.pgt == oidTime || e.pgt == oidTimestamp:
		return e.pgt
	case e.typ == tTimestamptz && e.pgt == 0:
		return oidTimestamptz
	}
	return 0
}

// asKind converts e (unknown, date, timestamp) to the date/time type k.
func (a *analyzer) asKind(e *expr, k uint32) (*expr, *Error) {
	if dateKind(e) == k {
		return e, nil
	}
	lit := e.kind == eConst && e.typ == tUnknown && !e.val.null
	if e.typ == tUnknown {
		e = a.unknownToText(e)
	}
	if lit {
		if err := checkLiteral(e, k); err != nil {
			return nil, a.errAt(err, e.loc)
		}
	}
	out := &expr{kind: eFunc, op: "cast", args: []*expr{e}, loc: e.loc, idx: int(k), typ: tTimestamptz}
	switch k {
	case oidTime:
		out.typ, out.pgt = tInt8, k
	case oidDate, oidTimestamp:
		out.pgt = k
	}
	return out, nil
}

// dateOp types comparisons and arithmetic of date, time and timestamp
// values; ok is false when neither operand is one.
func (a *analyzer) dateOp(op string, l, r *expr, pos int32) (*expr, *Error, bool) {
	lk, rk := dateKind(l), dateKind(r)
	local := func(k uint32) bool { return k == oidDate || k == oidTime || k == oidTimestamp }
	if !local(lk) && !local(rk) {
		return nil, nil, false
	}
	noOp := func() (*expr, *Error, bool) {
		name := func(e *expr) string {
			if e.typ == tUnknown {
				return "unknown"
			}
			return pgTypeName(e)
		}
		return nil, a.errAt(&Error{Code: codeUndefinedFunction, Message: "operator does not exist: " + name(l) + " " + op + " " + name(r),
			Hint: "No operator matches the given name and argument types. You might need to add explicit type casts."}, pos), true
	}
	conv := func(k uint32) (*expr, *expr, *Error) {
		l2, err := a.asKind(l, k)
		if err != nil {
			return nil, nil, err
		}
		r2, err := a.asKind(r, k)
		return l2, r2, err
	}
	if isComparison(op) {
		k := lk
		switch {
		case l.typ == tUnknown:
			k = rk
		case r.typ == tUnknown, lk == rk:
		case lk == oidTime || rk == oidTime || lk == 0 || rk == 0:
			return noOp()
		case lk == oidTimestamptz || rk == oidTimestamptz:
			k = oidTimestamptz
		default: // date and timestamp: a date is its midnight
			k = oidTimestamp
		}
		l2, r2, err := conv(k)
		if err != nil {
			return nil, err, true
		}
		return &expr{kind: eCompare, typ: tBool, cmp: l2.typ, op: op, args: []*expr{l2, r2}, loc: pos}, nil, true
	}
	integer := func(e *expr) bool { return e.typ == tInt4 || e.typ == tUnknown }
	switch {
	case op == "+" && lk == oidDate && integer(r), op == "-" && lk == oidDate && (r.typ == tInt4):
		n, err := a.coerce(r, tInt4)
		if err != nil {
			return nil, err, true
		}
		return &expr{kind: eFunc, op: "date" + op, typ: tTimestamptz, pgt: oidDate, args: []*expr{l, n}, loc: pos}, nil, true
	case op == "+" && rk == oidDate && l.typ == tInt4:
		return &expr{kind: eFunc, op: "date+", typ: tTimestamptz, pgt: oidDate, args: []*expr{r, l}, loc: pos}, nil, true
	case op == "-" && lk == oidDate && (rk == oidDate || r.typ == tUnknown):
		l2, r2, err := conv(oidDate)
		if err != nil {
			return nil, err, true
		}
		return &expr{kind: eFunc, op: "date-date", typ: tInt4, args: []*expr{l2, r2}, loc: pos}, nil, true
	case (op == "+" || op == "-") && lk == oidDate && r.typ == tInterval,
		op == "+" && rk == oidDate && l.typ == tInterval:
		if rk == oidDate {
			l, r = r, l
		}
		ts, _ := a.asKind(l, oidTimestamp)
		return &expr{kind: eFunc, op: "timestamp" + op, typ: tTimestamptz, pgt: oidTimestamp, args: []*expr{ts, r}, loc: pos}, nil, true
	case op == "+" && (lk == oidDate && rk == oidTime || lk == oidTime && rk == oidDate):
		if lk == oidTime {
			l, r = r, l
		}
		return &expr{kind: eFunc, op: "date+time", typ: tTimestamptz, pgt: oidTimestamp, args: []*expr{l, r}, loc: pos}, nil, true
	case op == "-" && lk == oidTimestamp && rk == oidTimestamp:
		return &expr{kind: eArith, typ: tInterval, op: op, args: []*expr{l, r}, loc: pos}, nil, true
	case op == "-" && lk == oidTime && rk == oidTime:
		return &expr{kind: eFunc, op: "time-time", typ: tInterval, args: []*expr{l, r}, loc: pos}, nil, true
	}
	return noOp()
}

// timeCast types a cast to date, time, timestamp, json or jsonb, or from
// one of these; ok is false for other casts.
func (a *analyzer) timeCast(arg *expr, tc *pg.TypeCast) (*expr, *Error, bool) {
	_, _, name, _ := typeFor(tc.TypeName)
	if tc.TypeName == nil || len(tc.TypeName.ArrayBounds) > 0 {
		return nil, nil, false
	}
	target := map[string]uint32{"date": oidDate, "time": oidTime, "timestamp": oidTimestamp, "json": jsonOID, "jsonb": jsonbOID}[name]
	src := arg.pgt
	if src != oidDate && src != oidTime && src != oidTimestamp && src != jsonOID && src != jsonbOID {
		src = 0
	}
	if target == 0 && src == 0 {
		// timestamptz and interval to text follow DateStyle and IntervalStyle
		if t, _, _, ok := typeFor(tc.TypeName); !ok || t != tText || arg.pgt != 0 || arg.typ != tTimestamptz && arg.typ != tInterval || len(tc.TypeName.Typmods) > 0 {
			return nil, nil, false
		}
		target = 25
	}
	if target == 0 {
		switch t, _, _, ok := typeFor(tc.TypeName); {
		case !ok:
			return nil, nil, false
		case t == tTimestamptz:
			target = oidTimestamptz
		case t == tText:
			target = 25
		case t == tInterval && src == oidTime:
			target = oidInterval
		default:
			return nil, a.errAt(errorf(codeCannotCoerce, "cannot cast type %s to %s", pgTypeName(arg), t), tc.Location), true
		}
	}
	if len(tc.TypeName.Typmods) > 0 {
		return nil, a.errAt(unsupported("a type modifier on "+name), tc.TypeName.Location), true
	}
	loc := leftmost(arg.loc, tc.Location)
	literal := arg.kind == eConst && arg.typ == tUnknown && !arg.val.null
	if arg.typ == tUnknown {
		arg = a.unknownToText(arg)
	}
	from := uint32(0)
	switch {
	case src != 0:
		from = src
	case arg.typ == tText:
		from = 25
	case arg.typ == tTimestamptz:
		from = oidTimestamptz
	}
	ok := false
	switch target {
	case oidDate, oidTimestamp:
		ok = from == 25 || from == oidTimestamptz || from == oidTimestamp || from == oidDate
	case oidTime:
		ok = from == 25 || from == oidTimestamptz || from == oidTimestamp || from == oidTime
	case oidTimestamptz:
		ok = from == oidTimestamp || from == oidDate
	case 25:
		ok = true
	case oidInterval:
		ok = from == oidTime
	case jsonOID, jsonbOID:
		ok = from == 25 || from == jsonOID || from == jsonbOID
	}
	if !ok {
		tgt := map[uint32]string{oidDate: "date", oidTime: "time without time zone", oidTimestamp: "timestamp without time zone",
			jsonOID: "json", jsonbOID: "jsonb", oidTimestamptz: "timestamp with time zone", 25: "text", oidInterval: "interval"}[target]
		return nil, a.errAt(errorf(codeCannotCoerce, "cannot cast type %s to %s", pgTypeName(arg), tgt), tc.Location), true
	}
	if from == target {
		r := *arg
		r.loc = loc
		return &r, nil, true
	}
	if literal {
		if err := checkLiteral(arg, target); err != nil {
			return nil, a.errAt(err, arg.loc), true
		}
	}
	out := &expr{kind: eFunc, op: "cast", args: []*expr{arg}, loc: loc, idx: int(target)}
	switch target {
	case oidDate, oidTimestamp:
		out.typ, out.pgt = tTimestamptz, target
	case oidTime:
		out.typ, out.pgt = tInt8, target
	case oidTimestamptz:
		out.typ = tTimestamptz
	case 25:
		out.typ = tText
	case oidInterval:
		out.typ = tInterval
	default:
		out.typ, out.pgt = tText, target
	}
	return out, nil, true
}

// checkLiteral converts a literal as a cast to target would, as
// PostgreSQL does at parse analysis, so that a bad one is an error at
// Prepare (with its position).
func checkLiteral(lit *expr, target uint32) (err *Error) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(evalError)
			if !ok {
				panic(r)
			}
			err = e.err
		}
	}()
	castExt(lit, target)(&evalCtx{loc: time.UTC}, lit.val)
	return nil
}

// pgTypeName names e's type as format_type does.
func pgTypeName(e *expr) string {
	switch e.pgt {
	case oidDate:
		return "date"
	case oidTime:
		return "time without time zone"
	case oidTimestamp:
		return "timestamp without time zone"
	case jsonOID:
		return "json"
	case jsonbOID:
		return "jsonb"
	}
	return e.typ.String()
}

// extFn compiles a call typed by extFunc, timeArith or timeCast; nil for
// any other.
func extFn(e *expr, args []evalFn) evalFn {
	var f func(x *evalCtx, v []value) value
	argTyp := func(i int) (typ, uint32) { return e.args[i].typ, e.args[i].pgt }
	switch e.op {
	case "cast":
		conv := castExt(e.args[0], uint32(e.idx))
		f = func(x *evalCtx, v []value) value { return conv(x, v[0]) }
	case "extract", "date_part":
		t, pgt := argTyp(1)
		numeric := e.op == "extract"
		f = func(x *evalCtx, v []value) value {
			r := extractField(x, v[0].s, t, pgt, v[1])
			if numeric {
				return r
			}
			return value{f: numericToFloat(r.s)}
		}
	case "date_trunc":
		t, pgt := argTyp(1)
		f = func(x *evalCtx, v []value) value {
			loc := x.loc
			if len(v) == 3 {
				loc = zoneNamed(v[2].s)
			}
			return dateTrunc(v[0].s, t, pgt, v[1], loc)
		}
	case "to_char":
		t, pgt := argTyp(0)
		f = func(x *evalCtx, v []value) value { return value{s: toChar(x, t, pgt, v[0], v[1].s)} }
	case "age":
		pgt := e.args[0].pgt
		f = func(x *evalCtx, v []value) value {
			loc := x.loc
			if pgt == oidTimestamp {
				loc = time.UTC
			}
			if len(v) == 1 {
				// age(ts) is age(current_date, ts): midnight today
				t := time.UnixMicro(x.now).In(loc)
				y, mo, d := t.Date()
				return age(time.Date(y, mo, d, 0, 0, 0, 0, loc).UnixMicro(), v[0].n, loc)
			}
			return age(v[0].n, v[1].n, loc)
		}
	case "timezone":
		toLocal := e.pgt == oidTimestamp
		f = func(x *evalCtx, v []value) value {
			loc := zoneNamed(v[0].s)
			if toLocal {
				return value{n: wallClock(v[1].n, loc)}
			}
			return value{n: fromWallClock(v[1].n, loc)}
		}
	case "date_bin":
		f = func(_ *evalCtx, v []value) value {
			stride, ts, origin := v[0], v[1].n, v[2].n
			if stride.m != 0 {
				fail(codeFeature, "timestamps cannot be binned into intervals containing months or years")
			}
			us := int64(stride.d)*usPerDay + stride.n
			if us <= 0 {
				fail(codeDatetimeOverflow, "stride must be greater than zero")
			}
			diff := ts - origin
			delta := diff - diff%us
			if diff%us < 0 {
				// The start of the bin when the origin is later.
				delta -= us
			}
			return value{n: origin + delta}
		}
	case "to_timestamp":
		f = func(_ *evalCtx, v []value) value {
			s := v[0].f
			if math.IsNaN(s) {
				fail(codeDatetimeOverflow, "timestamp cannot be NaN")
			}
			if math.IsInf(s, 0) || s < -210866803200 || s >= 9224318016000 {
				fail(codeDatetimeOverflow, "timestamp out of range: \""+strconv.FormatFloat(s, 'g', -1, 64)+"\"")
			}
			return value{n: int64(math.RoundToEven(s * 1e6))}
		}
	case "justify_interval", "justify_hours", "justify_days":
		op := e.op
		f = func(_ *evalCtx, v []value) value { return justify(op, v[0]) }
	case "make_interval":
		f = func(_ *evalCtx, v []value) value {
			months := int64(v[0].n)*12 + v[1].n
			days := v[2].n*7 + v[3].n
			us := float64(v[4].n)*3600e6 + float64(v[5].n)*60e6 + math.RoundToEven(v[6].f*1e6)
			if months != int64(int32(months)) || days != int64(int32(days)) || math.IsNaN(us) || math.Abs(us) >= 9.2e18 {
				fail(codeDatetimeOverflow, "interval out of range")
			}
			return value{m: int32(months), d: int32(days), n: int64(us)}
		}
	case "date+", "date-":
		sign := int64(1)
		if e.op == "date-" {
			sign = -1
		}
		f = func(_ *evalCtx, v []value) value { return value{n: v[0].n + sign*v[1].n*usPerDay} }
	case "date-date":
		f = func(_ *evalCtx, v []value) value { return value{n: (v[0].n - v[1].n) / usPerDay} }
	case "date+time":
		f = func(_ *evalCtx, v []value) value { return value{n: v[0].n + v[1].n} }
	case "time-time":
		f = func(_ *evalCtx, v []value) value { return value{n: v[0].n - v[1].n} }
	case "array_value":
		return arrayValueFn(e, args)
	case "cardinality", "array_position", "array_remove":
		return arrayFuncFn(e, args)
	case "interval*", "interval/":
		div := e.op == "interval/"
		f = func(_ *evalCtx, v []value) value { return intervalMulDiv(v[0], v[1].f, div) }
	case "timestamp+", "timestamp-":
		sign := int32(1)
		if e.op == "timestamp-" {
			sign = -1
		}
		f = func(_ *evalCtx, v []value) value { return value{n: addInterval(v[0].n, v[1], sign, time.UTC)} }
	default:
		return jsonFn(e, args)
	}
	return func(x *evalCtx) value {
		vals := make([]value, len(args))
		for i, a := range args {
			vals[i] = a(x)
			if vals[i].null {
				return null
			}
		}
		return f(x, vals)
	}
}

// zoneNamed is the location of a time zone name or offset of AT TIME
// ZONE and date_trunc, as PostgreSQL reads them.
func zoneNamed(name string) *time.Location {
	if n, ok := zoneName(name); ok {
		return loadZone(n)
	}
	// A POSIX-style offset ("+05", "-03:30"): hours west of Greenwich in
	// the POSIX sense, which PostgreSQL follows for these.
	s := strings.TrimSpace(name)
	if len(s) > 1 && (s[0] == '+' || s[0] == '-') {
		if us, ok := parseClockOffset(s[1:]); ok {
			off := int(us)
			if s[0] == '+' {
				off = -off
			}
			return time.FixedZone(s, off)
		}
	}
	fail(codeInvalidParamValue, "time zone \""+name+"\" not recognized")
	return nil
}

// parseClockOffset reads h[:mm[:ss]] as seconds.
func parseClockOffset(s string) (int64, bool) {
	parts := strings.Split(s, ":")
	if len(parts) > 3 {
		return 0, false
	}
	var secs int64
	mult := []int64{3600, 60, 1}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return 0, false
		}
		secs += int64(n) * mult[i]
	}
	return secs, true
}

// wallClock is the wall-clock time of us in loc, as µs read as UTC.
func wallClock(us int64, loc *time.Location) int64 {
	if loc == time.UTC {
		return us
	}
	_, off := time.UnixMicro(us).In(loc).Zone()
	return us + int64(off)*1_000_000
}

// fromWallClock is the instant at which loc's clocks show the wall-clock
// time w (µs read as UTC).
func fromWallClock(w int64, loc *time.Location) int64 {
	if loc == time.UTC {
		return w
	}
	t := time.UnixMicro(w).UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, mo, d, h, mi, s, t.Nanosecond(), loc).UnixMicro()
}

// castExt converts a non-NULL value for a cast typed by timeCast.
func castExt(arg *expr, target uint32) func(x *evalCtx, v value) value {
	from := arg.pgt
	if arg.typ == tTimestamptz && from == 0 {
		from = oidTimestamptz
	}
	if arg.typ == tText && from == 0 {
		from = 25
	}
	day := func(w int64) int64 { // midnight of the wall clock w
		d, _ := splitDay(w)
		return d * usPerDay
	}
	clock := func(w int64) int64 {
		_, r := splitDay(w)
		return r
	}
	return func(x *evalCtx, v value) value {
		switch target {
		case 25:
			return value{s: string(appendExtText(nil, from, arg.typ, v, x))}
		case jsonOID, jsonbOID:
			return jsonCast(from, target, v.s)
		case oidTimestamptz:
			return value{n: fromWallClock(v.n, x.loc)}
		case oidInterval:
			return value{n: v.n}
		}
		w := v.n
		switch from {
		case 25:
			w = parseWall(target, v.s, x)
			return value{n: w}
		case oidTimestamptz:
			w = wallClock(v.n, x.loc)
		}
		switch target {
		case oidDate:
			return value{n: day(w)}
		case oidTime:
			return value{n: clock(w)}
		}
		return value{n: w}
	}
}

// parseWall reads text as a date, time or timestamp (µs of its wall
// clock read as UTC; of the day for a time).
func parseWall(target uint32, s string, x *evalCtx) int64 {
	name := map[uint32]string{oidDate: "date", oidTime: "time without time zone", oidTimestamp: "timestamp without time zone"}[target]
	if target == oidTime {
		t := strings.TrimSpace(s)
		if us, ok := parseClock(t); ok && !strings.HasPrefix(t, "-") && us < usPerDay {
			return int64(us)
		}
		failErr(errorf(codeInvalidDatetime, "invalid input syntax for type %s: %q", name, s))
	}
	ts, err := parseTimestamptz(s)
	if err != nil {
		failErr(errorf(codeInvalidDatetime, "invalid input syntax for type %s: %q", name, s))
	}
	if ts.now {
		w := wallClock(x.now, x.loc)
		if target == oidDate {
			return w - ((w%usPerDay)+usPerDay)%usPerDay
		}
		return w
	}
	if target == oidDate {
		ts.h, ts.mi, ts.s, ts.usec = 0, 0, 0, 0
	}
	ts.zoned = false
	return ts.resolve(time.UTC, x.now)
}

// tmOf is a broken-down wall-clock time.
type tmOf struct {
	year, mon, mday, hour, min, sec, usec int
	wday, yday                            int // 0 = Sunday; 1-based day of year
	off                                   int // seconds east of UTC
	abbr                                  string
	days                                  int64 // days since 1970-01-01 of the wall clock
}

// fieldsOf breaks a timestamptz (in loc) or timestamp (loc nil) down.
func fieldsOf(us int64, loc *time.Location) tmOf {
	var tm tmOf
	w := us
	if loc != nil {
		t := time.UnixMicro(us).In(loc)
		tm.abbr, tm.off = t.Zone()
		w = us + int64(tm.off)*1_000_000
	}
	days, rem := splitDay(w)
	y, m, d := civil(days)
	tm.year, tm.mon, tm.mday, tm.days = int(y), int(m), int(d), days
	tm.hour = int(rem / 3600_000_000)
	tm.min = int(rem / 60_000_000 % 60)
	tm.sec = int(rem / 1_000_000 % 60)
	tm.usec = int(rem % 1_000_000)
	tm.wday = int(((days+4)%7 + 7) % 7)
	tm.yday = int(days-daysFromCivil(y, 1, 1)) + 1
	return tm
}

// daysFromCivil is the inverse of civil.
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// isoWeek returns the ISO year and week of a date.
func isoWeek(tm tmOf) (year, week int) {
	return time.Date(tm.year, time.Month(tm.mon), tm.mday, 12, 0, 0, 0, time.UTC).ISOWeek()
}

// units maps PostgreSQL's unit names (date_trunc, extract) to one each.
var units = map[string]string{
	"epoch": "epoch", "dow": "dow", "isodow": "isodow", "doy": "doy", "isoyear": "isoyear", "julian": "julian",
	"j": "julian", "timezone": "timezone", "timezone_h": "timezone_hour", "timezone_hour": "timezone_hour",
	"timezone_m": "timezone_minute", "timezone_minute": "timezone_minute",
	"quarter": "quarter", "qtr": "quarter",
	"decade": "decade", "decades": "decade", "dec": "decade", "decs": "decade",
	"century": "century", "centuries": "century", "c": "century", "cent": "century",
	"millennium": "millennium", "millennia": "millennium", "millenniums": "millennium", "mil": "millennium", "mils": "millennium",
}

func init() {
	long := map[string]string{"us": "microseconds", "ms": "milliseconds", "s": "second", "min": "minute", "h": "hour",
		"d": "day", "w": "week", "mon": "month", "y": "year"}
	for k, v := range intervalUnits {
		units[k] = long[v]
	}
}

// unitOf reads a unit name; "" when PostgreSQL does not know it.
func unitOf(s string) string {
	return units[strings.ToLower(strings.TrimSpace(s))]
}

func typeNameOf(t typ, pgt uint32) string {
	switch {
	case pgt == oidTimestamp:
		return "timestamp without time zone"
	case pgt == oidDate:
		return "date"
	}
	return t.String()
}

func unitError(unit string, t typ, pgt uint32, known bool) {
	if known {
		fail(codeFeature, "unit \""+unit+"\" not supported for type "+typeNameOf(t, pgt))
	}
	fail(codeInvalidParamValue, "unit \""+unit+"\" not recognized for type "+typeNameOf(t, pgt))
}

func numInt(n int64) value { return numericFromInt(n) }

// numScaled is n/10^scale as a numeric of that scale.
func numScaled(n int64, scale int) value { return decValue(big.NewInt(n), scale) }

// extractField is extract(field FROM v) as numeric.
func extractField(x *evalCtx, field string, t typ, pgt uint32, v value) value {
	u := unitOf(field)
	if t == tInterval {
		return extractInterval(field, u, v)
	}
	var loc *time.Location
	if pgt == 0 {
		loc = x.loc
	}
	tm := fieldsOf(v.n, loc)
	if pgt == oidDate {
		switch u {
		case "microseconds", "milliseconds", "second", "minute", "hour", "timezone", "timezone_hour", "timezone_minute":
			unitError(field, t, pgt, true)
		case "epoch":
			return numInt(v.n / 1_000_000)
		}
	}
	if r, ok := secondsField(u, int64(tm.sec)*1_000_000+int64(tm.usec)); ok {
		return r
	}
	switch u {
	case "minute":
		return numInt(int64(tm.min))
	case "hour":
		return numInt(int64(tm.hour))
	case "day":
		return numInt(int64(tm.mday))
	case "month":
		return numInt(int64(tm.mon))
	case "quarter":
		return numInt(int64((tm.mon-1)/3 + 1))
	case "week":
		_, w := isoWeek(tm)
		return numInt(int64(w))
	case "year":
		if tm.year <= 0 {
			return numInt(int64(tm.year - 1))
		}
		return numInt(int64(tm.year))
	case "decade":
		if tm.year >= 0 {
			return numInt(int64(tm.year / 10))
		}
		return numInt(-int64((8 - (tm.year - 1)) / 10))
	case "century":
		if tm.year > 0 {
			return numInt(int64((tm.year + 99) / 100))
		}
		return numInt(-int64((99 - (tm.year - 1)) / 100))
	case "millennium":
		if tm.year > 0 {
			return numInt(int64((tm.year + 999) / 1000))
		}
		return numInt(-int64((999 - (tm.year - 1)) / 1000))
	case "dow":
		return numInt(int64(tm.wday))
	case "isodow":
		if tm.wday == 0 {
			return numInt(7)
		}
		return numInt(int64(tm.wday))
	case "doy":
		return numInt(int64(tm.yday))
	case "isoyear":
		y, _ := isoWeek(tm)
		if y <= 0 {
			y--
		}
		return numInt(int64(y))
	case "julian":
		jd := numInt(tm.days + 2440588)
		frac := numericArith("/", strconv.FormatInt(int64(tm.hour*3600+tm.min*60+tm.sec)*1_000_000+int64(tm.usec), 10), "86400000000")
		return numericArith("+", jd.s, frac.s)
	case "epoch":
		return numScaled(v.n, 6)
	case "timezone", "timezone_hour", "timezone_minute":
		if pgt != 0 {
			unitError(field, t, pgt, true)
		}
		switch u {
		case "timezone_hour":
			return numInt(int64(tm.off / 3600))
		case "timezone_minute":
			return numInt(int64(tm.off / 60 % 60))
		}
		return numInt(int64(tm.off))
	}
	unitError(field, t, pgt, false)
	return null
}

// secondsField is extract of microseconds, milliseconds or second, given
// the seconds field in µs; ok is false for other units.
func secondsField(u string, secUS int64) (value, bool) {
	switch u {
	case "microseconds":
		return numInt(secUS), true
	case "milliseconds":
		return numScaled(secUS, 3), true
	case "second":
		return numScaled(secUS, 6), true
	}
	return value{}, false
}

// extractInterval is extract(field FROM interval).
func extractInterval(field, u string, v value) value {
	if r, ok := secondsField(u, v.n%60_000_000); ok {
		return r
	}
	switch u {
	case "minute":
		return numInt(v.n / 60_000_000 % 60)
	case "hour":
		return numInt(v.n / 3600_000_000)
	case "day":
		return numInt(int64(v.d))
	case "month":
		return numInt(int64(v.m % 12))
	case "quarter":
		return numInt(int64(v.m%12/3 + 1))
	case "year":
		return numInt(int64(v.m / 12))
	case "decade":
		return numInt(int64(v.m / 120))
	case "century":
		return numInt(int64(v.m / 1200))
	case "millennium":
		return numInt(int64(v.m / 12000))
	case "epoch":
		secs := (int64(4*365.25)*int64(v.m/12) + int64(4*30)*int64(v.m%12) + 4*int64(v.d)) * (86400 / 4)
		return numericArith("+", numScaled(v.n, 6).s, strconv.FormatInt(secs, 10))
	}
	unitError(field, tInterval, 0, u != "")
	return null
}

// dateTrunc is date_trunc(unit, v) for a timestamptz (in loc), timestamp
// or interval.
func dateTrunc(unit string, t typ, pgt uint32, v value, loc *time.Location) value {
	u := unitOf(unit)
	if t == tInterval {
		months, days, us := int64(v.m), int64(v.d), v.n
		switch u {
		case "millennium":
			months, days, us = months/12000*12000, 0, 0
		case "century":
			months, days, us = months/1200*1200, 0, 0
		case "decade":
			months, days, us = months/120*120, 0, 0
		case "year":
			months, days, us = months/12*12, 0, 0
		case "quarter":
			months, days, us = months/3*3, 0, 0
		case "month":
			days, us = 0, 0
		case "day":
			us = 0
		case "hour":
			us = us / 3600_000_000 * 3600_000_000
		case "minute":
			us = us / 60_000_000 * 60_000_000
		case "second":
			us = us / 1_000_000 * 1_000_000
		case "milliseconds":
			us = us / 1000 * 1000
		case "microseconds":
		default:
			unitError(unit, t, pgt, u != "" && u != "week")
		}
		return value{m: int32(months), d: int32(days), n: us}
	}
	zl := loc
	if pgt != 0 {
		zl = nil
	}
	tm := fieldsOf(v.n, zl)
	y, mo, d := tm.year, tm.mon, tm.mday
	h, mi, s, us := tm.hour, tm.min, tm.sec, tm.usec
	// first is the first year of the n-year period holding y (PostgreSQL's
	// centuries and millennia start at years ending in 1).
	first := func(n int) int {
		if y > 0 {
			return (y+n-1)/n*n - (n - 1)
		}
		return -((n-1-(y-1))/n*n - 1)
	}
	switch u {
	case "millennium", "century", "decade", "year", "quarter", "month":
		switch u {
		case "millennium":
			y, mo = first(1000), 1
		case "century":
			y, mo = first(100), 1
		case "decade":
			if y > 0 {
				y = y / 10 * 10
			} else {
				y = -((8-(y-1))/10*10 + 2)
			}
			mo = 1
		case "year":
			mo = 1
		case "quarter":
			mo = (mo-1)/3*3 + 1
		}
		d, h, mi, s, us = 1, 0, 0, 0, 0
	case "week":
		dow := (tm.wday + 6) % 7 // days since Monday
		day := time.Date(y, time.Month(mo), d-dow, 0, 0, 0, 0, time.UTC)
		y, mo, d = day.Year(), int(day.Month()), day.Day()
		h, mi, s, us = 0, 0, 0, 0
	case "day":
		h, mi, s, us = 0, 0, 0, 0
	case "hour":
		mi, s, us = 0, 0, 0
	case "minute":
		s, us = 0, 0
	case "second":
		us = 0
	case "milliseconds":
		us = us / 1000 * 1000
	case "microseconds":
	default:
		unitError(unit, t, pgt, u != "")
	}
	w := time.Date(y, time.Month(mo), d, h, mi, s, us*1000, time.UTC).UnixMicro()
	if zl == nil {
		return value{n: w}
	}
	return value{n: fromWallClock(w, loc)}
}

// age is PostgreSQL's timestamptz_age: the symbolic difference of the
// wall-clock fields in loc, borrowing from the larger fields.
func age(a, b int64, loc *time.Location) value {
	t1, t2 := fieldsOf(a, loc), fieldsOf(b, loc)
	neg := a < b
	fsec := t1.usec - t2.usec
	sec, mi, h := t1.sec-t2.sec, t1.min-t2.min, t1.hour-t2.hour
	mday, mon, year := t1.mday-t2.mday, t1.mon-t2.mon, t1.year-t2.year
	if neg {
		fsec, sec, mi, h, mday, mon, year = -fsec, -sec, -mi, -h, -mday, -mon, -year
	}
	// borrow carries a negative field into the next larger one.
	borrow := func(f, next *int, base int) {
		for *f < 0 {
			*f += base
			*next--
		}
	}
	borrow(&fsec, &sec, 1_000_000)
	borrow(&sec, &mi, 60)
	borrow(&mi, &h, 60)
	borrow(&h, &mday, 24)
	for mday < 0 {
		ref := t2
		if neg {
			ref = t1
		}
		mday += daysIn(ref.year, ref.mon)
		mon--
	}
	borrow(&mon, &year, 12)
	if neg {
		fsec, sec, mi, h, mday, mon, year = -fsec, -sec, -mi, -h, -mday, -mon, -year
	}
	return value{m: int32(year*12 + mon), d: int32(mday), n: ((int64(h)*60+int64(mi))*60+int64(sec))*1_000_000 + int64(fsec)}
}

// justify is justify_hours, justify_days and justify_interval.
func justify(op string, v value) value {
	m, d, us := int64(v.m), int64(v.d), v.n
	if op != "justify_days" {
		d += us / usPerDay
		us %= usPerDay
	}
	if op != "justify_hours" {
		m += d / 30
		d %= 30
	}
	if op == "justify_interval" {
		if m > 0 && (d < 0 || d == 0 && us < 0) {
			d += 30
			m--
		} else if m < 0 && (d > 0 || d == 0 && us > 0) {
			d -= 30
			m++
		}
	}
	if op != "justify_days" {
		if d > 0 && us < 0 {
			us += usPerDay
			d--
		} else if d < 0 && us > 0 {
			us -= usPerDay
			d++
		}
	}
	if m != int64(int32(m)) || d != int64(int32(d)) {
		fail(codeDatetimeOverflow, "interval out of range")
	}
	return value{m: int32(m), d: int32(d), n: us}
}

// tsRound is TSROUND: rounded to whole µs of a second.
func tsRound(f float64) float64 { return math.RoundToEven(f*1e6) / 1e6 }

// intervalMulDiv is interval_mul (or interval_div) by a float8.
func intervalMulDiv(span value, factor float64, div bool) value {
	if div && factor == 0 {
		fail(codeDivisionByZero, "division by zero")
	}
	op := func(x float64) float64 {
		if div {
			return x / factor
		}
		return x * factor
	}
	field := func(n int32) int32 {
		f := op(float64(n))
		if math.IsNaN(f) || f > math.MaxInt32 || f < math.MinInt32 {
			fail(codeDatetimeOverflow, "interval out of range")
		}
		return int32(f)
	}
	r := value{m: field(span.m), d: field(span.d)}
	monthRemDays := tsRound((op(float64(span.m)) - float64(r.m)) * 30)
	secRem := tsRound((op(float64(span.d)) - float64(r.d) + monthRemDays - float64(int64(monthRemDays))) * 86400)
	if math.Abs(secRem) >= 86400 {
		r.d += int32(secRem / 86400)
		secRem -= float64(int64(secRem/86400)) * 86400
	}
	r.d += int32(monthRemDays)
	t := math.RoundToEven(op(float64(span.n)) + secRem*1e6)
	if math.IsNaN(t) || t < -9.2e18 || t > 9.2e18 {
		fail(codeDatetimeOverflow, "interval out of range")
	}
	r.n = int64(t)
	return r
}

// intervalAdd adds intervals field by field.
func intervalAdd(a, b value) value {
	return value{m: a.m + b.m, d: a.d + b.d, n: a.n + b.n}
}

// intervalMulFloat is interval_mul.
func intervalMulFloat(a value, f float64) value { return intervalMulDiv(a, f, false) }
