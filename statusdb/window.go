package statusdb

import (
	"slices"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Window functions: row_number, rank, dense_rank, percent_rank,
// cume_dist, ntile, lag, lead, first_value, last_value, nth_value and the
// aggregates, OVER (PARTITION BY ... ORDER BY ...) or a named window.
// Frames may start at UNBOUNDED PRECEDING or CURRENT ROW and end at
// CURRENT ROW or UNBOUNDED FOLLOWING, in ROWS, RANGE or GROUPS mode; the
// default is RANGE UNBOUNDED PRECEDING, which ends at the current row's
// last peer. They are computed after grouping and HAVING, over the rows
// or groups, before DISTINCT and ORDER BY; without an ORDER BY the rows
// come out in the (last) window's order, as PostgreSQL's do.

// Frame options, as PostgreSQL's parser sets them.
const (
	frameNonDefault     = 0x00001
	frameRange          = 0x00002
	frameRows           = 0x00004
	frameGroups         = 0x00008
	frameBetween        = 0x00010
	frameStartUnbounded = 0x00020
	frameEndUnbounded   = 0x00100
	frameStartCurrent   = 0x00200
	frameEndCurrent     = 0x00400
	frameDefaults       = frameRange | frameStartUnbounded | frameEndCurrent
	frameSupported      = frameNonDefault | frameRange | frameRows | frameGroups | frameBetween |
		frameStartUnbounded | frameEndUnbounded | frameStartCurrent | frameEndCurrent | frameOffsetBits
)

// windowSpec is an analyzed window.
type windowSpec struct {
	partition []*expr
	order     []sortSpec
	frame     int32
	start     *expr // the frame's offsets (winframe.go)
	end       *expr
	key       string // to share a window between calls with the same one
}

// winCall is what an eWindow needs besides op, args and filter.
type winCall struct {
	spec int // index in the level's specs
}

// rankingFuncs are the window functions without arguments.
var rankingFuncs = map[string]bool{"row_number": true, "rank": true, "dense_rank": true, "percent_rank": true, "cume_dist": true}

func (a *analyzer) windowFunc(name string, f *pg.FuncCall) (*expr, *Error) {
	switch {
	case a.inAgg:
		return nil, a.errAt(errorf(codeGrouping, "aggregate function calls cannot contain window function calls"), f.Location)
	case a.inWin:
		return nil, a.errAt(errorf(codeWindowing, "window function calls cannot be nested"), f.Location)
	case f.AggDistinct:
		return nil, a.errAt(errorf(codeFeature, "DISTINCT is not implemented for window functions"), f.Location)
	case len(f.AggOrder) > 0 || f.AggWithinGroup:
		return nil, a.errAt(errorf(codeFeature, "aggregate ORDER BY is not implemented for window functions"), f.Location)
	case f.FuncVariadic:
		return nil, a.errAt(unsupported("VARIADIC"), f.Location)
	}
	a.inWin = true
	e, err := a.windowCall(name, f)
	a.inWin = false
	if err != nil {
		return nil, err
	}
	if a.winClause != "" {
		return nil, a.errAt(errorf(codeWindowing, "window functions are not allowed in %s", a.winClause), f.Location)
	}
	spec, err := a.windowSpec(f.Over)
	if err != nil {
		return nil, err
	}
	e.kind, e.idx, e.win = eWindow, len(a.wins), &winCall{spec: spec}
	a.wins = append(a.wins, e)
	return e, nil
}

// windowCall analyzes a window function's arguments and types the call.
func (a *analyzer) windowCall(name string, f *pg.FuncCall) (*expr, *Error) {
	if aggregates[name] {
		return a.aggCall(name, f)
	}
	if f.AggStar {
		return nil, a.errAt(errorf(codeWrongObjectType, "%s(*) must be used to call a parameterless aggregate function", name), f.Location)
	}
	args, err := a.exprs(f.Args)
	if err != nil {
		return nil, err
	}
	out := &expr{op: name, args: args, loc: f.Location}
	if f.AggFilter != nil {
		return nil, a.errAt(errorf(codeFeature, "FILTER is not implemented for non-aggregate window functions"), f.Location)
	}
	// want converts args[i] to t; false when it cannot.
	want := func(i int, t typ) (bool, *Error) {
		c, err := a.coerce(args[i], t)
		if err != nil || c == nil {
			return false, err
		}
		args[i] = c
		return true, nil
	}
	ok := false
	switch {
	case rankingFuncs[name]:
		if len(args) > 0 && name != "row_number" {
			return nil, a.errAt(errorf(codeWrongObjectType, "WITHIN GROUP is required for ordered-set aggregate %s", name), f.Location)
		}
		ok = len(args) == 0
		out.typ = tInt8
		if name == "percent_rank" || name == "cume_dist" {
			out.typ = tFloat8
		}
	case name == "ntile":
		if len(args) == 1 {
			ok, err = want(0, tInt4)
		}
		out.typ = tInt4
	case name == "lag" || name == "lead" || name == "first_value" || name == "last_value" || name == "nth_value":
		max := 3
		switch name {
		case "first_value", "last_value":
			max = 1
		case "nth_value":
			max = 2
		}
		if len(args) == 0 || len(args) > max || name == "nth_value" && len(args) != 2 {
			break
		}
		args[0] = a.unknownToText(args[0])
		ok = true
		if len(args) > 1 {
			ok, err = want(1, tInt4)
		}
		if ok && len(args) > 2 {
			// lag(anycompatible, int, anycompatible): the value and the
			// default share their common type.
			both := []*expr{args[0], args[2]}
			t, err := a.commonTypeOf(name, both)
			if err != nil {
				return nil, a.errAt(noFunction(name, out.args), f.Location)
			}
			for _, i := range []int{0, 2} {
				if ok, err = want(i, t); err != nil || !ok {
					break
				}
			}
		}
		out.typ, out.name = args[0].typ, args[0].name
	default:
		return nil, a.notAggregate(name, f)
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, a.errAt(noFunction(name, out.args), f.Location)
	}
	return out, nil
}

// windowSpec analyzes an OVER clause, resolving named windows, and
// returns its index in the level's windows.
func (a *analyzer) windowSpec(w *pg.WindowDef) (int, *Error) {
	if w.Name != "" && w.Refname == "" && len(w.PartitionClause) == 0 && len(w.OrderClause) == 0 && w.FrameOptions&frameNonDefault == 0 {
		// OVER w
		def, err := a.namedWindow(w.Name, w.Location)
		if err != nil {
			return 0, err
		}
		w = def
	}
	partition, order, frame := w.PartitionClause, w.OrderClause, w.FrameOptions
	for ref := w.Refname; ref != ""; {
		base, err := a.namedWindow(ref, w.Location)
		if err != nil {
			return 0, err
		}
		switch {
		case len(partition) > 0:
			return 0, a.errAt(errorf(codeWindowing, "cannot override PARTITION BY clause of window %q", ref), w.Location)
		case len(order) > 0 && len(base.OrderClause) > 0:
			return 0, a.errAt(errorf(codeWindowing, "cannot override ORDER BY clause of window %q", ref), w.Location)
		case base.FrameOptions&frameNonDefault != 0:
			return 0, a.errAt(errorf(codeWindowing, "cannot copy window %q because it has a frame clause", ref), w.Location)
		}
		partition = base.PartitionClause
		if len(order) == 0 {
			order = base.OrderClause
		}
		ref = base.Refname
	}
	if frame&^frameSupported != 0 {
		return 0, a.errAt(unsupported("this window frame"), w.Location)
	}
	if frame&frameGroups != 0 && len(order) == 0 {
		return 0, a.errAt(errorf(codeWindowing, "GROUPS mode requires an ORDER BY clause"), w.Location)
	}
	if frame == 0 {
		frame = frameDefaults
	}
	spec := &windowSpec{frame: frame}
	savedClause, savedWin := a.clause, a.winClause
	a.clause, a.winClause = "", "window definitions"
	defer func() { a.clause, a.winClause = savedClause, savedWin }()
	var key strings.Builder
	for _, n := range partition {
		e, err := a.expr(n)
		if err != nil {
			return 0, err
		}
		e = a.unknownToText(e)
		spec.partition = append(spec.partition, e)
		key.WriteString("p" + e.key())
	}
	for _, n := range order {
		sb := n.GetSortBy()
		if sb == nil || sb.SortbyDir == pg.SortByDir_SORTBY_USING {
			return 0, unsupported("ORDER BY USING")
		}
		e, err := a.expr(sb.Node)
		if err != nil {
			return 0, err
		}
		e = a.unknownToText(e)
		k := newSortSpec(e, -1, sb)
		spec.order = append(spec.order, k)
		key.WriteString("o" + strconv.FormatBool(k.desc) + strconv.FormatBool(k.nullsFirst) + e.key())
	}
	if err := a.frameOffsets(spec, w); err != nil {
		return 0, err
	}
	key.WriteString("f" + strconv.Itoa(int(frame)) + spec.frameOffsetKey())
	spec.key = key.String()
	for i, s := range a.specs {
		if s.key == spec.key {
			return i, nil
		}
	}
	a.specs = append(a.specs, spec)
	return len(a.specs) - 1, nil
}

// namedWindow finds a window of the WINDOW clause.
func (a *analyzer) namedWindow(name string, loc int32) (*pg.WindowDef, *Error) {
	for _, n := range a.named {
		if w := n.GetWindowDef(); w != nil && w.Name == name {
			return w, nil
		}
	}
	return nil, a.errAt(errorf("42704", "window %q does not exist", name), loc)
}

// windowPlan is a compiled window with the calls over it.
type windowPlan struct {
	partition []evalFn
	partTypes []typ
	order     []sortKey
	frame     int32
	calls     []winEval
	// start and end are the frame's offsets (winframe.go), of type offTyp.
	start, end evalFn
	offTyp     typ
}

type winEval struct {
	slot int // in evalCtx.win
	op   string
	args []evalFn
	agg  *aggPlan // an aggregate's
}

// windows compiles the level's windows with c, the compiler of its
// output (a grouped one for a grouped query).
func (c *compiler) windows(p *plan) ([]*windowPlan, *Error) {
	var out []*windowPlan
	for _, s := range p.specs {
		w := &windowPlan{frame: s.frame}
		if err := c.compileFrame(w, s); err != nil {
			return nil, err
		}
		var err *Error
		if w.partition, w.partTypes, err = c.compileAll(s.partition); err != nil {
			return nil, err
		}
		for _, o := range s.order {
			k := sortKey{out: -1, typ: o.e.typ, desc: o.desc, nullsFirst: o.nullsFirst}
			k.cmp = k.comparator()
			var err *Error
			if k.eval, err = c.compile(o.e); err != nil {
				return nil, err
			}
			w.order = append(w.order, k)
		}
		out = append(out, w)
	}
	for _, e := range p.wins {
		call := winEval{slot: e.idx, op: e.op}
		if aggregates[e.op] {
			ap, err := c.aggPlan(e)
			if err != nil {
				return nil, err
			}
			call.agg = &ap
		} else {
			var err *Error
			if call.args, _, err = c.compileAll(e.args); err != nil {
				return nil, err
			}
		}
		w := out[e.win.spec]
		w.calls = append(w.calls, call)
	}
	return out, nil
}

// computeWindows computes every window function for the units (rows or
// groups) of a level. It returns set extended to make the unit's results
// current, and the units in the last window's order.
func (q *query) computeWindows(x *evalCtx, units int, set func(int32)) (func(int32), []int32) {
	nw := 0
	for _, w := range q.windows {
		nw += len(w.calls)
	}
	vals := make([]value, units*nw)
	var order []int32
	for _, w := range q.windows {
		order = w.run(x, units, set, vals, nw)
	}
	return func(u int32) {
		set(u)
		x.win = vals[int(u)*nw : int(u+1)*nw]
	}, order
}

// run computes the window's calls into vals (nw per unit) and returns the
// units in partition and window order.
func (w *windowPlan) run(x *evalCtx, units int, set func(int32), vals []value, nw int) []int32 {
	np, no := len(w.partition), len(w.order)
	nk := np + no
	keys := make([]value, units*nk)
	order := make([]int32, units)
	for u := range units {
		order[u] = int32(u)
		set(int32(u))
		for i, f := range w.partition {
			keys[u*nk+i] = f(x)
		}
		for i := range w.order {
			keys[u*nk+np+i] = w.order[i].eval(x)
		}
	}
	partCmp := func(a, b int32) int {
		for i := range np {
			ka, kb := &keys[int(a)*nk+i], &keys[int(b)*nk+i]
			switch {
			case ka.null || kb.null:
				if ka.null != kb.null {
					if ka.null {
						return 1
					}
					return -1
				}
			default:
				if c := compareValues(w.partTypes[i], *ka, *kb); c != 0 {
					return c
				}
			}
		}
		return 0
	}
	peerCmp := func(a, b int32) int {
		for i := range w.order {
			if c := w.order[i].cmp(&keys[int(a)*nk+np+i], &keys[int(b)*nk+np+i]); c != 0 {
				return c
			}
		}
		return 0
	}
	slices.SortStableFunc(order, func(a, b int32) int {
		if c := partCmp(a, b); c != 0 {
			return c
		}
		return peerCmp(a, b)
	})
	for start := 0; start < units; {
		end := start + 1
		for end < units && partCmp(order[start], order[end]) == 0 {
			end++
		}
		w.partitionValues(x, set, order[start:end], peerCmp, vals, nw)
		start = end
	}
	return order
}

// partitionValues computes the calls for the rows of one partition, in
// window order.
func (w *windowPlan) partitionValues(x *evalCtx, set func(int32), rows []int32, peerCmp func(a, b int32) int, vals []value, nw int) {
	m := len(rows)
	// Peer groups: rows with equal ORDER BY values.
	peerStart, peerEnd, group := make([]int, m), make([]int, m), make([]int, m)
	for i := 0; i < m; {
		j := i + 1
		for j < m && peerCmp(rows[i], rows[j]) == 0 {
			j++
		}
		for k := i; k < j; k++ {
			peerStart[k], peerEnd[k] = i, j
			if i > 0 {
				group[k] = group[i-1] + 1
			}
		}
		i = j
	}
	frame := w.frameBounds(x, set, rows, peerStart, peerEnd, group)
	// arg evaluates argument k of a call at row j of the partition.
	arg := func(c *winEval, k, j int) value {
		set(rows[j])
		return c.args[k](x)
	}
	for ci := range w.calls {
		c := &w.calls[ci]
		out := func(i int, v value) { vals[int(rows[i])*nw+c.slot] = v }
		switch c.op {
		case "row_number":
			for i := range m {
				out(i, value{n: int64(i + 1)})
			}
		case "rank":
			for i := range m {
				out(i, value{n: int64(peerStart[i] + 1)})
			}
		case "dense_rank":
			for i := range m {
				out(i, value{n: int64(group[i] + 1)})
			}
		case "percent_rank":
			for i := range m {
				v := value{}
				if m > 1 {
					v.f = float64(peerStart[i]) / float64(m-1)
				}
				out(i, v)
			}
		case "cume_dist":
			for i := range m {
				out(i, value{f: float64(peerEnd[i]) / float64(m)})
			}
		case "ntile":
			w.ntile(rows, c, arg, out)
		case "lag", "lead":
			for i := range m {
				off := int64(1)
				if len(c.args) > 1 {
					o := arg(c, 1, i)
					if o.null {
						out(i, null)
						continue
					}
					off = o.n
				}
				if c.op == "lag" {
					off = -off
				}
				switch t := int64(i) + off; {
				case t >= 0 && t < int64(m):
					out(i, arg(c, 0, int(t)))
				case len(c.args) > 2:
					out(i, arg(c, 2, i))
				default:
					out(i, null)
				}
			}
		case "first_value", "last_value", "nth_value":
			for i := range m {
				s, e := frame(i)
				t := s
				switch c.op {
				case "last_value":
					t = e
				case "nth_value":
					n := arg(c, 1, i)
					if n.null {
						out(i, null)
						continue
					}
					if n.n <= 0 {
						fail("22016", "argument of nth_value must be greater than zero")
					}
					t = s + int(n.n) - 1
				}
				if t > e || s > e {
					out(i, null)
					continue
				}
				out(i, arg(c, 0, t))
			}
		default:
			w.aggregate(x, set, rows, c, frame, out)
		}
	}
}

// ntile is PostgreSQL's window_ntile: the buckets' sizes differ by at
// most one, the larger first; the argument is read at the partition's
// first row (again while it is NULL).
func (w *windowPlan) ntile(rows []int32, c *winEval, arg func(*winEval, int, int) value, out func(int, value)) {
	m := len(rows)
	bucket, perBucket, boundary, remainder := int64(0), int64(0), int64(0), int64(0)
	for i := range m {
		if bucket == 0 {
			n := arg(c, 0, i)
			if n.null {
				out(i, null)
				continue
			}
			if n.n <= 0 {
				fail("22014", "argument of ntile must be greater than zero")
			}
			bucket, boundary = 1, int64(m)/n.n
			if boundary <= 0 {
				boundary = 1
			} else if remainder = int64(m) % n.n; remainder != 0 {
				boundary++
			}
		}
		perBucket++
		if boundary < perBucket {
			if remainder != 0 && bucket == remainder {
				remainder = 0
				boundary--
			}
			bucket++
			perBucket = 1
		}
		out(i, value{n: bucket})
	}
}

// aggregate computes an aggregate over each row's frame: adding rows as
// the frame grows when it starts at the partition's start, else anew for
// each frame.
func (w *windowPlan) aggregate(x *evalCtx, set func(int32), rows []int32, c *winEval, frame func(int) (int, int), out func(int, value)) {
	var st aggState
	added := -1
	lastS, lastE := -1, -1
	var last value
	for i := range rows {
		s, e := frame(i)
		if s == lastS && e == lastE {
			out(i, last)
			continue
		}
		if s != 0 || added > e {
			st, added = aggState{}, s-1
			x.work(e - s + 1)
		}
		for added < e {
			added++
			set(rows[added])
			c.agg.add(x, &st)
		}
		last, lastS, lastE = c.agg.final(&st), s, e
		x.made(len(last.s))
		out(i, last)
	}
}
