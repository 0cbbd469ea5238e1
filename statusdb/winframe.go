package statusdb

import (
	"sort"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Window frames with offsets: ROWS and GROUPS n PRECEDING/FOLLOWING (n a
// bigint), and RANGE x PRECEDING/FOLLOWING over one ORDER BY column of a
// number type (x of its type) or of timestamptz or interval (x an
// interval), as PostgreSQL's in_range functions. The offsets are read at
// each partition's first row.

const (
	frameStartOffsetPreceding = 0x00800
	frameEndOffsetPreceding   = 0x01000
	frameStartOffsetFollowing = 0x02000
	frameEndOffsetFollowing   = 0x04000
	frameOffsetBits           = frameStartOffsetPreceding | frameEndOffsetPreceding | frameStartOffsetFollowing | frameEndOffsetFollowing
)

// frameOffsets analyzes a frame's offsets into spec.
func (a *analyzer) frameOffsets(spec *windowSpec, w *pg.WindowDef) *Error {
	if spec.frame&frameOffsetBits == 0 {
		return nil
	}
	want := tInt8
	mode := "ROWS"
	switch {
	case spec.frame&frameGroups != 0:
		mode = "GROUPS"
	case spec.frame&frameRange != 0:
		mode = "RANGE"
		if len(spec.order) != 1 {
			return a.errAt(errorf(codeWindowing, "RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY column"), w.Location)
		}
		switch t := spec.order[0].e.typ; t {
		case tInt4, tInt8:
			want = tInt8
		case tFloat8, tNumeric, tInterval:
			want = t
		case tTimestamptz:
			want = tInterval
			if spec.order[0].e.pgt == oidDate || spec.order[0].e.pgt == oidTime {
				return a.errAt(unsupported("RANGE with offset over date or time"), w.Location)
			}
		default:
			loc := w.Location
			for _, n := range []*pg.Node{w.StartOffset, w.EndOffset} {
				if c := n.GetAConst(); c != nil {
					loc = c.Location
					break
				}
			}
			return a.errAt(errorf(codeFeature, "RANGE with offset PRECEDING/FOLLOWING is not supported for column type %s", t), loc)
		}
	}
	off := func(n *pg.Node) (*expr, *Error) {
		if n == nil {
			return nil, nil
		}
		e, err := a.expr(n)
		if err != nil {
			return nil, err
		}
		c, err := a.coerce(e, want)
		if err != nil {
			return nil, err
		}
		if c == nil {
			return nil, a.errAt(errorf(codeDatatypeMismatch, "argument of %s must be type %s, not type %s", mode, want, e.typ), e.loc)
		}
		return c, nil
	}
	var err *Error
	if spec.start, err = off(w.StartOffset); err != nil {
		return err
	}
	spec.end, err = off(w.EndOffset)
	return err
}

// frameOffsetKey distinguishes windows by their offsets.
func (s *windowSpec) frameOffsetKey() string {
	k := ""
	for _, e := range []*expr{s.start, s.end} {
		if e != nil {
			k += "[" + e.key() + "]"
		}
	}
	return k
}

// compileFrame compiles a window's offsets into w.
func (c *compiler) compileFrame(w *windowPlan, s *windowSpec) *Error {
	var err *Error
	if s.start != nil {
		if w.start, err = c.compile(s.start); err != nil {
			return err
		}
	}
	if s.end != nil {
		w.end, err = c.compile(s.end)
	}
	w.offTyp = tInt8
	if s.start != nil {
		w.offTyp = s.start.typ
	} else if s.end != nil {
		w.offTyp = s.end.typ
	}
	return err
}

// frameBounds returns the frame of each row of a partition (rows, in
// window order), as the first and last row; s > e for an empty frame.
func (w *windowPlan) frameBounds(x *evalCtx, set func(int32), rows []int32, peerStart, peerEnd, group []int) func(i int) (s, e int) {
	m := len(rows)
	f := w.frame
	var startOff, endOff value
	if f&frameOffsetBits != 0 {
		set(rows[0])
		read := func(fn evalFn, which string) value {
			v := fn(x)
			if v.null {
				fail("22004", "frame "+which+" offset must not be null")
			}
			neg := false
			switch w.offTyp {
			case tInt8:
				neg = v.n < 0
			case tFloat8:
				neg = v.f < 0
			case tNumeric:
				neg = compareNumeric(v.s, "0") < 0
			case tInterval:
				neg = compareValues(tInterval, v, value{}) < 0
			}
			if neg {
				if f&frameRange != 0 {
					fail("22013", "invalid preceding or following size in window function")
				}
				fail("22013", "frame "+which+" offset must not be negative")
			}
			return v
		}
		if w.start != nil {
			startOff = read(w.start, "starting")
		}
		if w.end != nil {
			endOff = read(w.end, "ending")
		}
	}
	var groupFirst, groupLast []int
	if f&frameGroups != 0 {
		for i := range m {
			if i == 0 || group[i] != group[i-1] {
				groupFirst = append(groupFirst, i)
				groupLast = append(groupLast, i)
			}
			groupLast[len(groupLast)-1] = i
		}
	}
	var keys []value
	if f&frameRange != 0 && f&frameOffsetBits != 0 {
		keys = make([]value, m)
		for i, r := range rows {
			set(r)
			keys[i] = w.order[0].eval(x)
		}
	}
	rowsMode := f&frameRows != 0
	// bound is a frame bound of row i: offset the row's distance (back
	// for PRECEDING), last says it is the frame's end.
	bound := func(i int, off value, preceding, last bool) int {
		switch {
		case rowsMode:
			n := off.n
			if preceding {
				n = -n
			}
			return clampRow(int64(i)+n, m)
		case f&frameGroups != 0:
			g := int64(group[i])
			if preceding {
				g -= off.n
			} else {
				g += off.n
			}
			switch {
			case g < 0 && last:
				return -1
			case g < 0:
				return 0
			case g >= int64(len(groupFirst)) && last:
				return m - 1
			case g >= int64(len(groupFirst)):
				return m
			case last:
				return groupLast[g]
			}
			return groupFirst[g]
		}
		if keys[i].null {
			if last {
				return peerEnd[i] - 1
			}
			return peerStart[i]
		}
		target := rangeTarget(x, w.order[0].typ, keys[i], off, preceding != w.order[0].desc)
		k := w.order[0]
		if last {
			return sort.Search(m, func(j int) bool { return k.cmp(&keys[j], &target) > 0 }) - 1
		}
		return sort.Search(m, func(j int) bool { return k.cmp(&keys[j], &target) >= 0 })
	}
	return func(i int) (s, e int) {
		s, e = 0, m-1
		switch {
		case f&frameStartUnbounded != 0:
		case f&frameStartOffsetPreceding != 0:
			s = bound(i, startOff, true, false)
		case f&frameStartOffsetFollowing != 0:
			s = bound(i, startOff, false, false)
		case rowsMode:
			s = i
		default:
			s = peerStart[i]
		}
		switch {
		case f&frameEndUnbounded != 0:
		case f&frameEndOffsetPreceding != 0:
			e = bound(i, endOff, true, true)
		case f&frameEndOffsetFollowing != 0:
			e = bound(i, endOff, false, true)
		case rowsMode:
			e = i
		default:
			e = peerEnd[i] - 1
		}
		s, e = max(s, 0), min(e, m-1)
		if s > e {
			return s, s - 1
		}
		return s, e
	}
}

// clampRow limits a row number to [-1, m].
func clampRow(n int64, m int) int {
	switch {
	case n < -1:
		return -1
	case n > int64(m):
		return m
	}
	return int(n)
}

// rangeTarget is v minus off (down) or plus off, of the ORDER BY type t.
func rangeTarget(x *evalCtx, t typ, v, off value, down bool) value {
	switch t {
	case tInt4, tInt8:
		if down {
			return value{n: v.n - off.n}
		}
		return value{n: v.n + off.n}
	case tFloat8:
		if down {
			return value{f: v.f - off.f}
		}
		return value{f: v.f + off.f}
	case tNumeric:
		if down {
			return numericArith("-", v.s, off.s)
		}
		return numericArith("+", v.s, off.s)
	case tTimestamptz:
		sign := int32(1)
		if down {
			sign = -1
		}
		return value{n: addInterval(v.n, off, sign, x.loc)}
	}
	if down {
		off = value{m: -off.m, d: -off.d, n: -off.n}
	}
	return intervalAdd(v, off)
}
