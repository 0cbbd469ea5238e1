package statusdb

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/heliosdb/heliosproxy/status"
)

// Input is the state a statement is evaluated over. Execute reads it and
// never modifies or retains it.
type Input struct {
	Snapshot status.Snapshot
	// Events are the rows of helios_proxy.circuit_events, in the order
	// they are returned without ORDER BY (normally oldest first).
	Events []status.Event
	// Now is what now() and current_timestamp return. Zero means
	// Snapshot.Taken.
	Now time.Time
	// TimeZone is the session's TimeZone setting: timestamptz values are
	// shown in it and literals without an offset are read in it. Nil
	// means UTC. With a Session, its TimeZone setting is used instead.
	TimeZone *time.Location
	// Session is the status database's session that SHOW, SET and the
	// session functions (current_setting, set_config, current_user, ...)
	// read and change; nil means a new session's defaults. Executing a
	// statement may change it.
	Session *Session
}

// Result is the outcome of Execute. Columns is shared with the Stmt and
// must not be modified.
type Result struct {
	Columns []Column
	// Rows holds one slice per row, one Go value per column: string
	// (text, and numeric as its text output), int64 (int4 and int8), float64 (float8), bool,
	// time.Time (timestamptz, in the session's time zone),
	// pgtype.Interval (interval), or nil for NULL.
	Rows [][]any

	recs []*recordType // Stmt.recs
	x    *evalCtx      // for the wire form of a record's fields
}

// stmt execution state for one group of a grouped query.
type group struct {
	rep    int     // a row of the group
	keys   []value // GROUP BY values
	absent uint64  // the GROUP BY expressions outside the group's grouping set (groupingsets.go)
	acc    []aggState
	aggs   []value // final aggregate values
}

type aggPlan struct {
	op             string
	star, distinct bool
	arg            evalFn // nil for count(*)
	delim          evalFn // string_agg's delimiter
	argTyp, typ    typ
	filter         evalFn
	col            *collectPlan // an aggregate computed from its collected rows (aggorder.go)
}

type aggState struct {
	n    int64   // rows aggregated
	i    int64   // integer sum
	f    float64 // float sum, or the integer sum once it overflowed int64
	over bool
	nan  bool     // a numeric sum met NaN
	big  *big.Int // the exact sum of a numeric result: of integers once st.i overflowed, or of numerics
	sc   int      // big's scale
	text []byte   // string_agg so far
	// string_agg(DISTINCT ...): the values and their delimiters, joined
	// in sorted order at the end as PostgreSQL's sort-based DISTINCT does.
	parts [][2]value
	v     value // min or max so far
	set   bool
	seen  map[string]struct{} // DISTINCT
	col   *collected          // a collected aggregate's rows
}

// query is a compiled SELECT (a query level): where its rows come from
// and what it computes from them.
type query struct {
	tbl             *table                     // the rows, read straight from a table unless from is set
	from            func(x *evalCtx) [][]value // the FROM clause's tuples: joins, subqueries, CTEs
	where           evalFn
	grouped         bool
	groupKeys       []evalFn
	sets            [][]int // grouping sets: indices into groupKeys; nil without
	groupTypes      []typ
	aggs            []aggPlan
	having          evalFn
	windows         []*windowPlan
	srfs            []func(x *evalCtx) [][]value // set-returning functions of the select list (projectset.go)
	srfOffsets      []int                        // where each one's values go in x.srf
	srfWidths       []int
	srfWidth        int
	outs            []evalFn
	outTypes        []typ
	sort            []sortKey
	distinct        bool
	distinctOn      []evalFn
	distinctOnTypes []typ
	limit, offset   evalFn
}

type sortKey struct {
	cmp        func(a, b *value) int
	eval       evalFn // nil when out is used
	out        int    // output column to sort by (DISTINCT), or -1
	typ        typ
	desc       bool
	nullsFirst bool
}

// Execute evaluates the statement over in. params are the parameter values
// as they arrive in a Bind message (nil for NULL), in the formats given by
// paramFormats with Bind's rules (none: all text; one: for all; else one
// per parameter); they are decoded according to ParamOIDs. Errors are
// *Error values. Execute is safe to call concurrently.
func (s *Stmt) Execute(in Input, params [][]byte, paramFormats []int16) (res *Result, err error) {
	x, err := s.context(&in, params, paramFormats)
	if err != nil {
		return nil, err
	}
	defer recoverEval(&err)
	if s.body == nil {
		if s.utility != nil {
			if err := s.utility(session(x)); err != nil {
				return nil, err
			}
		}
		return &Result{}, nil
	}
	return s.run(x), nil
}

// CheckParams checks a Bind message's parameter values as PostgreSQL
// checks them at Bind, before anything runs: their count, their text
// (22021 for bytes that are not UTF-8, 22P02) or binary form (22P03).
func (s *Stmt) CheckParams(params [][]byte, paramFormats []int16) error {
	_, err := s.context(&Input{}, params, paramFormats)
	return err
}

// context is the evaluation state of one execution.
func (s *Stmt) context(in *Input, params [][]byte, paramFormats []int16) (*evalCtx, error) {
	x := &evalCtx{in: in, loc: in.TimeZone}
	x.run = &x.ownRun
	if in.Session != nil {
		x.loc = in.Session.Location()
	}
	if x.loc == nil {
		x.loc = time.UTC
	}
	now := in.Now
	if now.IsZero() {
		now = in.Snapshot.Taken
	}
	x.now = now.UnixMicro()
	var err error
	x.params, x.run.arrays, err = s.decodeParams(params, paramFormats, x)
	return x, err
}

// recoverEval turns an evaluation error raised as a panic into *err.
func recoverEval(err *error) {
	if r := recover(); r != nil {
		ee, ok := r.(evalError)
		if !ok {
			panic(r)
		}
		*err = ee.err
	}
}

// AppendDataRows executes the statement like Execute and appends its rows
// to dst as wire DataRow messages, each column in formats[col] (0 text, 1
// binary; one entry per column). Values go from evaluation to the wire
// without being boxed or kept: for 1,000 backends this is the proxy's hot
// path. On an error, out holds the rows sent before it (see below).
func (s *Stmt) AppendDataRows(dst []byte, in Input, params [][]byte, paramFormats, formats []int16) (out []byte, rows int, err error) {
	x, err := s.context(&in, params, paramFormats)
	if err != nil {
		return dst, 0, err
	}
	// On an error, out holds the rows before it when they came from
	// evaluation straight to the wire, as PostgreSQL streams them, and
	// none when the rows were computed first (sorted, grouped, a set
	// operation), as PostgreSQL computes them first too.
	start, done, sent, streamed := len(dst), len(dst), 0, false
	defer func() {
		if err != nil {
			out, rows = dst[:start], 0
			if streamed {
				out, rows = dst[:done], sent
			}
		}
	}()
	defer recoverEval(&err)
	if s.body == nil {
		// SET, RESET, DISCARD, transaction control, the empty statement.
		if s.utility != nil {
			if err := s.utility(session(x)); err != nil {
				return dst, 0, err
			}
		}
		return dst, 0, nil
	}
	ncol := len(s.outTypes)
	row := make([]value, ncol)
	n := 0
	style := styleOf(x)
	styled := style.styled()
	var all [][]value
	var order []int32
	var set func(int32)
	var projected []value
	var outs []evalFn
	if q := s.q; q != nil {
		// One SELECT: its rows go from evaluation to the wire.
		order, set, projected = q.arrange(x)
		n, outs = len(order), q.outs
		streamed = len(projected) == 0 && len(q.sort) == 0 && !q.grouped && !q.distinct && len(q.distinctOn) == 0 && len(q.windows) == 0
	} else {
		all = s.body.rows(x)
		n = len(all)
	}
	for i := range n {
		switch {
		case all != nil:
			row = all[i]
		case projected != nil:
			copy(row, projected[int(order[i])*ncol:int(order[i]+1)*ncol])
		default:
			set(order[i])
			for c, f := range outs {
				row[c] = f(x)
			}
		}
		at := len(dst)
		dst = append(dst, 'D', 0, 0, 0, 0)
		dst = binary.BigEndian.AppendUint16(dst, uint16(ncol))
		for c := range row {
			lenAt := len(dst)
			dst = append(dst, 0, 0, 0, 0)
			var notNull bool
			if s.recs != nil && s.recs[c] != nil && formats[c] == 1 && !row[c].null {
				dst, notNull, err = appendRecordBinary(dst, s.recs[c], row[c].s, x), true, nil
			} else if s.special != nil && s.special[c] != 0 {
				dst, notNull, err = appendSpecial(dst, s.special[c], &row[c], x, formats[c])
			} else if t := s.outTypes[c]; styled && formats[c] == 0 && !row[c].null && (t == tTimestamptz || t == tInterval || t == tFloat8) {
				dst, notNull = appendStyled(dst, t, &row[c], x, style), true
			} else {
				dst, notNull, err = appendWire(dst, s.outTypes[c], &row[c], x.loc, formats[c])
			}
			if err != nil {
				return dst, 0, err
			}
			n := int32(-1)
			if notNull {
				n = int32(len(dst) - lenAt - 4)
			}
			binary.BigEndian.PutUint32(dst[lenAt:], uint32(n))
		}
		binary.BigEndian.PutUint32(dst[at+1:], uint32(len(dst)-at-1))
		done, sent = len(dst), i+1
	}
	return dst, n, nil
}

// appendWire appends the wire encoding of v, of type t, in format; false
// for NULL. It matches Result.AppendValue.
func appendWire(dst []byte, t typ, v *value, loc *time.Location, format int16) ([]byte, bool, error) {
	if format != 0 && format != 1 {
		return dst, false, errorf(codeInvalidParamValue, "unsupported format code: %d", format)
	}
	if v.null {
		return dst, false, nil
	}
	if format == 0 {
		switch t {
		case tBool:
			if v.n != 0 {
				return append(dst, 't'), true, nil
			}
			return append(dst, 'f'), true, nil
		case tInt4, tInt8:
			return strconv.AppendInt(dst, v.n, 10), true, nil
		case tFloat8:
			return appendFloat8(dst, v.f), true, nil
		case tTimestamptz:
			return appendTimestamptz(dst, v.n, loc), true, nil
		case tInterval:
			return appendInterval(dst, *v), true, nil
		}
		return append(dst, v.s...), true, nil
	}
	switch t {
	case tBool:
		if v.n != 0 {
			return append(dst, 1), true, nil
		}
		return append(dst, 0), true, nil
	case tInt4:
		return binary.BigEndian.AppendUint32(dst, uint32(int32(v.n))), true, nil
	case tInt8:
		return binary.BigEndian.AppendUint64(dst, uint64(v.n)), true, nil
	case tFloat8:
		if math.IsNaN(v.f) {
			return binary.BigEndian.AppendUint64(dst, 0x7ff8000000000000), true, nil // PostgreSQL's NaN
		}
		return binary.BigEndian.AppendUint64(dst, math.Float64bits(v.f)), true, nil
	case tTimestamptz:
		return binary.BigEndian.AppendUint64(dst, uint64(v.n-pgEpochUnixMicro)), true, nil
	case tInterval:
		dst = binary.BigEndian.AppendUint64(dst, uint64(v.n))
		dst = binary.BigEndian.AppendUint32(dst, uint32(v.d))
		return binary.BigEndian.AppendUint32(dst, uint32(v.m)), true, nil
	case tNumeric:
		return appendNumericBinary(dst, v.s), true, nil
	}
	return append(dst, v.s...), true, nil
}

func isTrue(v value) bool { return !v.null && v.n != 0 }

func (s *Stmt) run(x *evalCtx) *Result {
	var rows [][]value
	if s.q != nil {
		rows = s.q.rows(x)
	} else {
		rows = s.body.rows(x)
	}
	ncol := len(s.outTypes)
	res := &Result{Columns: s.cols, Rows: make([][]any, len(rows)), recs: s.recs, x: x}
	cells := make([]any, len(rows)*ncol)
	for r, vals := range rows {
		row := cells[r*ncol : (r+1)*ncol : (r+1)*ncol]
		for c := range row {
			if s.special != nil && s.special[c] != 0 && !vals[c].null {
				row[c] = boxSpecial(s.special[c], vals[c], x)
				continue
			}
			row[c] = box(s.outTypes[c], vals[c], x.loc)
		}
		res.Rows[r] = row
	}
	return res
}

// rows runs the query and returns its output rows.
func (q *query) rows(x *evalCtx) [][]value {
	order, set, projected := q.arrange(x)
	ncol := len(q.outs)
	if projected == nil {
		projected = make([]value, len(order)*ncol)
		for i, u := range order {
			set(u)
			out := projected[i*ncol : (i+1)*ncol]
			for c, f := range q.outs {
				out[c] = f(x)
			}
			order[i] = int32(i)
		}
	}
	x.work(len(order) * ncol)
	out := make([][]value, len(order))
	for i, u := range order {
		out[i] = projected[int(u)*ncol : int(u+1)*ncol : int(u+1)*ncol]
	}
	return out
}

// arrange filters, groups, de-duplicates, sorts and bounds the statement's
// output units. set makes a unit current in x for evaluating the output
// expressions; for DISTINCT, projected already holds every unit's output
// (ncol values per unit).
func (q *query) arrange(x *evalCtx) (order []int32, set func(int32), projected []value) {
	var n int
	if q.from != nil {
		x.src = q.from(x)
		n = len(x.src)
	} else {
		n = q.tbl.rows(x.in)
	}
	x.work(n)
	rows := make([]int32, 0, n)
	for i := range n {
		x.at(i)
		if q.where == nil || isTrue(q.where(x)) {
			rows = append(rows, int32(i))
		}
	}
	offset, limit := bound(x, q.offset, 0), bound(x, q.limit, -1)

	// The units of output: rows, or groups of a grouped query.
	units := len(rows)
	set = func(i int32) { x.at(int(rows[i])) }
	if q.grouped {
		groups := q.groups(x, rows)
		if q.having != nil {
			kept := groups[:0]
			for _, g := range groups {
				x.grp = g
				x.at(g.rep)
				if isTrue(q.having(x)) {
					kept = append(kept, g)
				}
			}
			groups = kept
		}
		units = len(groups)
		set = func(i int32) { x.grp = groups[i]; x.at(groups[i].rep) }
	}
	order = make([]int32, units)
	for i := range order {
		order[i] = int32(i)
	}
	if len(q.windows) > 0 {
		var worder []int32
		set, worder = q.computeWindows(x, units, set)
		if len(q.sort) == 0 {
			order = worder // PostgreSQL's rows come out of the window's sort
		}
	}
	if len(q.srfs) > 0 {
		order, set = q.projectSet(x, order, set)
		units = len(order)
	}
	s := q
	ncol := len(s.outs)
	if s.distinct {
		projected = make([]value, units*ncol)
		seen := make(map[string]struct{}, units)
		var buf []byte
		kept := order[:0]
		for _, u := range order {
			set(u)
			out := projected[int(u)*ncol : int(u+1)*ncol]
			for c, f := range s.outs {
				out[c] = f(x)
			}
			buf = appendKey(buf[:0], s.outTypes, out)
			if _, dup := seen[string(buf)]; !dup {
				seen[string(buf)] = struct{}{}
				kept = append(kept, u)
			}
		}
		order = kept
	}
	if len(s.sort) == 1 && s.sortOne(x, set, order, projected, ncol) {
		// sorted by the single-key fast path
	} else if len(s.sort) > 0 {
		nk := len(s.sort)
		keys := make([]value, units*nk)
		for _, u := range order {
			set(u)
			for k, sk := range s.sort {
				if sk.eval != nil {
					keys[int(u)*nk+k] = sk.eval(x)
				} else {
					keys[int(u)*nk+k] = projected[int(u)*ncol+sk.out]
				}
			}
		}
		// Ties keep their input order: deterministic, and what a
		// PostgreSQL sort of a small table usually shows too.
		if nk == 1 {
			cmp := s.sort[0].cmp
			slices.SortFunc(order, func(a, b int32) int {
				if c := cmp(&keys[a], &keys[b]); c != 0 {
					return c
				}
				return int(a - b)
			})
		} else {
			slices.SortFunc(order, func(a, b int32) int {
				for k := range s.sort {
					if c := s.sort[k].cmp(&keys[int(a)*nk+k], &keys[int(b)*nk+k]); c != 0 {
						return c
					}
				}
				return int(a - b)
			})
		}
	}
	if len(q.distinctOn) > 0 {
		order = q.firstOfEach(x, order, set)
	}
	order = order[min(offset, len(order)):]
	if limit >= 0 && limit < len(order) {
		order = order[:limit]
	}
	return order, set, projected
}

// firstOfEach keeps the first of each run of sorted units with equal
// DISTINCT ON values.
func (q *query) firstOfEach(x *evalCtx, order []int32, set func(int32)) []int32 {
	kept := order[:0]
	var prev, buf []byte
	vals := make([]value, len(q.distinctOn))
	for i, u := range order {
		set(u)
		for k, f := range q.distinctOn {
			vals[k] = f(x)
		}
		buf = appendKey(buf[:0], q.distinctOnTypes, vals)
		if i == 0 || !bytes.Equal(buf, prev) {
			kept = append(kept, u)
			prev, buf = buf, prev
		}
	}
	return kept
}

// sortOne sorts order by a single text, float8 or integer-like key,
// reporting false for other key types. Copying the keys next to the
// indexes and comparing them inline makes it about twice as fast as the
// general path, and ORDER BY one column is the common case.
func (s *query) sortOne(x *evalCtx, set func(int32), order []int32, projected []value, ncol int) bool {
	k := &s.sort[0]
	key := func(u int32) value {
		if k.eval != nil {
			set(u)
			return k.eval(x)
		}
		return projected[int(u)*ncol+k.out]
	}
	nulls, dir := 1, 1
	if k.nullsFirst {
		nulls = -1
	}
	if k.desc {
		dir = -1
	}
	switch k.typ {
	case tText, tUnknown:
		return sortBy(order, key, func(v value) string { return v.s }, strings.Compare, nulls, dir)
	case tFloat8:
		return sortBy(order, key, func(v value) float64 { return v.f }, compareFloat, nulls, dir)
	case tInt4, tInt8, tBool, tTimestamptz:
		return sortBy(order, key, func(v value) int64 { return v.n }, cmp.Compare[int64], nulls, dir)
	}
	return false
}

func sortBy[K any](order []int32, key func(int32) value, get func(value) K, cmp func(a, b K) int, nulls, dir int) bool {
	type item struct {
		k    K
		null bool
		u    int32
	}
	items := make([]item, len(order))
	for i, u := range order {
		v := key(u)
		items[i] = item{k: get(v), null: v.null, u: u}
	}
	slices.SortFunc(items, func(a, b item) int {
		switch {
		case a.null || b.null:
			if a.null != b.null {
				if a.null {
					return nulls
				}
				return -nulls
			}
		default:
			if c := cmp(a.k, b.k); c != 0 {
				return dir * c
			}
		}
		return int(a.u - b.u)
	})
	for i := range items {
		order[i] = items[i].u
	}
	return true
}

// comparator returns the ordering of the sort key: by type, direction and
// NULL placement, specialized because sorting calls it n log n times.
func (k *sortKey) comparator() func(a, b *value) int {
	nulls := 1 // NULLS LAST
	if k.nullsFirst {
		nulls = -1
	}
	dir := 1
	if k.desc {
		dir = -1
	}
	var cmp func(a, b *value) int
	switch k.typ {
	case tText, tUnknown:
		cmp = func(a, b *value) int { return strings.Compare(a.s, b.s) }
	case tFloat8:
		cmp = func(a, b *value) int { return compareFloat(a.f, b.f) }
	case tInterval, tNumeric:
		t := k.typ
		cmp = func(a, b *value) int { return compareValues(t, *a, *b) }
	default:
		cmp = func(a, b *value) int {
			switch {
			case a.n < b.n:
				return -1
			case a.n > b.n:
				return 1
			}
			return 0
		}
	}
	return func(a, b *value) int {
		if a.null || b.null {
			switch {
			case a.null && b.null:
				return 0
			case a.null:
				return nulls
			}
			return -nulls
		}
		return dir * cmp(a, b)
	}
}

// bound evaluates LIMIT or OFFSET; NULL means none (def).
func bound(x *evalCtx, f evalFn, def int) int {
	if f == nil {
		return def
	}
	v := f(x)
	switch {
	case v.null:
		return def
	case v.n < 0 && def < 0:
		fail(codeNegativeLimit, "LIMIT must not be negative")
	case v.n < 0:
		fail(codeNegativeOffset, "OFFSET must not be negative")
	}
	return int(min(v.n, math.MaxInt32))
}

// groups forms the groups of a grouped query, in order of first
// appearance (grouping set by grouping set), and computes their
// aggregates.
func (s *query) groups(x *evalCtx, rows []int32) []*group {
	var groups []*group
	if s.sets == nil {
		groups = s.formGroups(x, rows, 0, len(s.groupKeys) == 0)
	}
	for _, set := range s.sets {
		var absent uint64 // the GROUP BY expressions outside the set
		for i := range s.groupKeys {
			if !slices.Contains(set, i) {
				absent |= 1 << i
			}
		}
		groups = append(groups, s.formGroups(x, rows, absent, len(set) == 0)...)
	}
	for _, g := range groups {
		for i := range s.aggs {
			g.aggs[i] = s.aggs[i].final(&g.acc[i])
			x.made(len(g.aggs[i].s))
		}
	}
	return groups
}

// formGroups groups rows by the GROUP BY expressions not in absent
// (those in it are NULL), into one group even over no rows when whole.
func (s *query) formGroups(x *evalCtx, rows []int32, absent uint64, whole bool) []*group {
	newGroup := func(rep int, keys []value) *group {
		return &group{rep: rep, keys: keys, absent: absent, acc: make([]aggState, len(s.aggs)), aggs: make([]value, len(s.aggs))}
	}
	keys := make([]value, len(s.groupKeys))
	for i := range keys {
		keys[i] = null
	}
	var groups []*group
	if whole {
		groups = []*group{newGroup(0, keys)} // one group, even over no rows
		for _, r := range rows {
			x.at(int(r))
			s.accumulate(x, groups[0])
		}
		return groups
	}
	index := make(map[string]int)
	var buf []byte
	for _, r := range rows {
		x.at(int(r))
		for i, f := range s.groupKeys {
			if absent&(1<<i) == 0 {
				keys[i] = f(x)
			}
		}
		buf = appendKey(buf[:0], s.groupTypes, keys)
		gi, ok := index[string(buf)]
		if !ok {
			gi = len(groups)
			index[string(buf)] = gi
			groups = append(groups, newGroup(int(r), slices.Clone(keys)))
		}
		s.accumulate(x, groups[gi])
	}
	return groups
}

func (s *query) accumulate(x *evalCtx, g *group) {
	for i := range s.aggs {
		s.aggs[i].add(x, &g.acc[i])
	}
}

// add adds the current row to the aggregate's state.
func (a *aggPlan) add(x *evalCtx, st *aggState) {
	if a.filter != nil && !isTrue(a.filter(x)) {
		return
	}
	if a.col != nil {
		a.col.add(x, st)
		return
	}
	if a.star {
		st.n++
		return
	}
	v := a.arg(x)
	if v.null {
		return
	}
	if a.distinct {
		k := string(appendKey(nil, []typ{a.argTyp}, []value{v}))
		if _, dup := st.seen[k]; dup {
			return
		}
		if st.seen == nil {
			st.seen = make(map[string]struct{})
		}
		st.seen[k] = struct{}{}
	}
	st.n++
	switch a.op {
	case "sum", "avg":
		switch {
		case a.argTyp == tNumeric:
			a.addNumeric(st, v.s)
		case a.argTyp == tFloat8:
			sum := st.f + v.f
			if math.IsInf(sum, 0) && !math.IsInf(st.f, 0) && !math.IsInf(v.f, 0) {
				fail(codeOutOfRange, "value out of range: overflow")
			}
			st.f = sum
		case st.over:
			st.big.Add(st.big, big.NewInt(v.n))
		default:
			sum := st.i + v.n
			if ((st.i ^ sum) & (v.n ^ sum)) < 0 {
				if a.typ == tInt8 {
					outOfRange(tInt8)
				}
				st.over = true
				st.big = new(big.Int).Add(big.NewInt(st.i), big.NewInt(v.n))
			}
			st.i = sum
		}
	case "string_agg":
		if a.distinct {
			d := a.delim(x)
			x.made(len(v.s) + len(d.s))
			st.parts = append(st.parts, [2]value{v, d})
			break
		}
		if st.n > 1 {
			if d := a.delim(x); !d.null {
				x.made(len(d.s))
				st.text = append(st.text, d.s...)
			}
		}
		x.made(len(v.s))
		st.text = append(st.text, v.s...)
	case "min", "max":
		c := 0
		if st.set {
			c = compareValues(a.argTyp, v, st.v)
		}
		if !st.set || (a.op == "min" && c < 0) || (a.op == "max" && c > 0) {
			st.v, st.set = v, true
		}
	}
}

func (a *aggPlan) final(st *aggState) value {
	if a.col != nil {
		return a.col.final(a, st)
	}
	if a.op == "count" {
		return value{n: st.n}
	}
	if st.n == 0 {
		return null
	}
	switch a.op {
	case "min", "max":
		return st.v
	case "string_agg":
		if a.distinct {
			slices.SortStableFunc(st.parts, func(p, q [2]value) int { return strings.Compare(p[0].s, q[0].s) })
			for i, p := range st.parts {
				if i > 0 && !p[1].null {
					st.text = append(st.text, p[1].s...)
				}
				st.text = append(st.text, p[0].s...)
			}
			st.parts = nil
		}
		return value{s: string(st.text)}
	}
	switch {
	case a.typ == tInt8:
		return value{n: st.i}
	case a.typ == tFloat8 && a.op == "avg":
		return value{f: st.f / float64(st.n)}
	case a.typ == tFloat8:
		return value{f: st.f}
	}
	var sum value
	switch {
	case st.nan:
		sum = value{s: numNaN}
	case st.big != nil:
		sum = decValue(st.big, st.sc)
	default:
		sum = numericFromInt(st.i)
	}
	if a.op == "avg" {
		return numericArith("/", sum.s, strconv.FormatInt(st.n, 10))
	}
	return sum
}

// addNumeric adds a numeric to the exact sum.
func (a *aggPlan) addNumeric(st *aggState, s string) {
	switch {
	case st.nan:
		return
	case s == numNaN:
		st.nan = true
		return
	case numSpecial(s):
		fail(codeFeature, "sum of numeric infinity is not supported")
	}
	u, sc := decParse(s)
	if st.big == nil {
		st.big, st.sc = u, sc
		return
	}
	s2 := max(st.sc, sc)
	st.big = new(big.Int).Add(rescale(st.big, st.sc, s2), rescale(u, sc, s2))
	st.sc = s2
}

// appendKey encodes values so that equal encodings mean equal values for
// grouping and DISTINCT: NULLs equal, -0 = 0, NaN = NaN, '1 day' = '24
// hours'.
func appendKey(dst []byte, types []typ, vals []value) []byte {
	for i, v := range vals {
		if v.null {
			dst = append(dst, 0)
			continue
		}
		dst = append(dst, 1)
		switch types[i] {
		case tText, tUnknown:
			dst = binary.AppendUvarint(dst, uint64(len(v.s)))
			dst = append(dst, v.s...)
		case tFloat8:
			f := v.f
			switch {
			case f == 0:
				f = 0
			case math.IsNaN(f):
				f = math.NaN()
			}
			dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(f))
		case tNumeric:
			k := numericKey(v.s)
			dst = binary.AppendUvarint(dst, uint64(len(k)))
			dst = append(dst, k...)
		case tInterval:
			d, us := intervalSpan(v)
			dst = binary.BigEndian.AppendUint64(dst, uint64(d))
			dst = binary.BigEndian.AppendUint64(dst, uint64(us))
		default:
			dst = binary.BigEndian.AppendUint64(dst, uint64(v.n))
		}
	}
	return dst
}

func box(t typ, v value, loc *time.Location) any {
	if v.null {
		return nil
	}
	switch t {
	case tBool:
		return v.n != 0
	case tInt4, tInt8:
		return v.n
	case tFloat8:
		return v.f
	case tTimestamptz:
		return time.UnixMicro(v.n).In(loc)
	case tInterval:
		return pgtype.Interval{Microseconds: v.n, Days: v.d, Months: v.m, Valid: true}
	}
	return v.s
}

// decodeParams decodes Bind's parameter values; arrays holds the elements
// of the array parameters.
func (s *Stmt) decodeParams(raw [][]byte, formats []int16, x *evalCtx) (vals []value, arrays [][]value, err error) {
	if len(raw) != len(s.paramTypes) {
		return nil, nil, errorf(codeProtocolViolation, "bind message supplies %d parameters, but prepared statement requires %d", len(raw), len(s.paramTypes))
	}
	if len(formats) > 1 && len(formats) != len(raw) {
		return nil, nil, errorf(codeProtocolViolation, "bind message has %d parameter formats but %d parameters", len(formats), len(raw))
	}
	if len(raw) == 0 {
		return nil, nil, nil
	}
	vals = make([]value, len(raw))
	for i, b := range raw {
		if b == nil {
			vals[i] = null
			continue
		}
		var format int16
		if len(formats) == 1 {
			format = formats[0]
		} else if len(formats) > 1 {
			format = formats[i]
		}
		t := s.paramTypes[i]
		var err *Error
		if t.isArray() {
			if format != 0 && format != 1 {
				return nil, nil, errorf(codeInvalidParamValue, "unsupported format code: %d", format)
			}
			if arrays == nil {
				arrays = make([][]value, len(raw))
			}
			if arrays[i], err = decodeArray(t.elem(), s.paramOIDs[i], b, format, x); err != nil {
				return nil, nil, err
			}
			continue
		}
		switch format {
		case 0:
			vals[i], err = decodeText(t, b, x)
		case 1:
			vals[i], err = decodeBinary(s.paramOIDs[i], b, x)
			if err != nil {
				err.Message += " in bind parameter " + strconv.Itoa(i+1)
			}
		default:
			err = errorf(codeInvalidParamValue, "unsupported format code: %d", format)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return vals, arrays, nil
}

func invalidUTF8(b []byte) *Error {
	return errorf("22021", "invalid byte sequence for encoding \"UTF8\": 0x%02x", b[0])
}

func checkUTF8(b []byte) *Error {
	if !utf8.Valid(b) {
		for i := 0; i < len(b); {
			r, w := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && w <= 1 {
				return invalidUTF8(b[i:])
			}
			i += w
		}
	}
	return nil
}

func decodeText(t typ, b []byte, x *evalCtx) (value, *Error) {
	if err := checkUTF8(b); err != nil {
		return value{}, err
	}
	s := string(b)
	switch t {
	case tInt4, tInt8:
		return parseInt(t, s)
	case tFloat8:
		return parseFloat8(s)
	case tNumeric:
		return numericIn(s)
	case tBool:
		return parseBool(s)
	case tInterval:
		return parseInterval(s)
	case tTimestamptz:
		ts, err := parseTimestamptz(s)
		if err != nil {
			return value{}, err
		}
		return value{n: ts.resolve(x.loc, x.now)}, nil
	}
	return value{s: s}, nil
}

// decodeBinary decodes a binary Bind value of the declared or inferred
// type oid (PostgreSQL's typreceive).
func decodeBinary(oid uint32, b []byte, x *evalCtx) (value, *Error) {
	bad := func() (value, *Error) {
		return value{}, errorf(codeInvalidBinary, "incorrect binary data format")
	}
	switch oid {
	case pgtype.Int2OID:
		if len(b) != 2 {
			return bad()
		}
		return value{n: int64(int16(binary.BigEndian.Uint16(b)))}, nil
	case pgtype.Int4OID:
		if len(b) != 4 {
			return bad()
		}
		return value{n: int64(int32(binary.BigEndian.Uint32(b)))}, nil
	case pgtype.Int8OID:
		if len(b) != 8 {
			return bad()
		}
		return value{n: int64(binary.BigEndian.Uint64(b))}, nil
	case pgtype.Float4OID:
		if len(b) != 4 {
			return bad()
		}
		return value{f: float64(math.Float32frombits(binary.BigEndian.Uint32(b)))}, nil
	case pgtype.Float8OID:
		if len(b) != 8 {
			return bad()
		}
		return value{f: math.Float64frombits(binary.BigEndian.Uint64(b))}, nil
	case pgtype.NumericOID:
		v, ok := numericRecvValue(b)
		if !ok {
			return bad()
		}
		return v, nil
	case pgtype.BoolOID:
		if len(b) != 1 {
			return bad()
		}
		return boolValue(b[0] != 0), nil
	case pgtype.TimestamptzOID, pgtype.TimestampOID:
		if len(b) != 8 {
			return bad()
		}
		us := int64(binary.BigEndian.Uint64(b))
		if us == math.MaxInt64 || us == math.MinInt64 || us > math.MaxInt64-pgEpochUnixMicro {
			return value{}, errorf(codeDatetimeOverflow, "timestamp out of range")
		}
		us += pgEpochUnixMicro
		if oid == pgtype.TimestampOID {
			// A timestamp without time zone is local time in the session's
			// TimeZone, as the implicit cast to timestamptz reads it.
			t := time.UnixMicro(us).UTC()
			us = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), x.loc).UnixMicro()
		}
		return value{n: us}, nil
	case pgtype.IntervalOID:
		if len(b) != 16 {
			return bad()
		}
		return value{n: int64(binary.BigEndian.Uint64(b)), d: int32(binary.BigEndian.Uint32(b[8:])), m: int32(binary.BigEndian.Uint32(b[12:]))}, nil
	}
	if err := checkUTF8(b); err != nil {
		return value{}, err
	}
	return value{s: string(b)}, nil
}

// AppendValue appends the wire encoding of the value in row, col to dst in
// the given format (0 text, 1 binary), for a DataRow. It returns false for
// NULL, which has no bytes. The text format is PostgreSQL's own output
// (DateStyle ISO, the session's TimeZone, extra_float_digits 1); the
// binary format is PostgreSQL's send function for the column's type.
func (r *Result) AppendValue(dst []byte, row, col int, format int16) ([]byte, bool, error) {
	v := r.Rows[row][col]
	if v == nil {
		return dst, false, nil
	}
	oid := r.Columns[col].OID
	switch format {
	case 0:
		switch v := v.(type) {
		case string:
			return append(dst, v...), true, nil
		case int64:
			return strconv.AppendInt(dst, v, 10), true, nil
		case float64:
			return appendFloat8(dst, v), true, nil
		case bool:
			if v {
				return append(dst, 't'), true, nil
			}
			return append(dst, 'f'), true, nil
		case time.Time:
			return appendTimestamptz(dst, v.UnixMicro(), v.Location()), true, nil
		case pgtype.Interval:
			return appendInterval(dst, value{n: v.Microseconds, d: v.Days, m: v.Months}), true, nil
		case regName:
			return append(dst, v.name...), true, nil
		case extValue:
			return append(dst, v.text...), true, nil
		}
	case 1:
		switch v := v.(type) {
		case string:
			if r.recs != nil && r.recs[col] != nil {
				return appendRecordBinary(dst, r.recs[col], v, r.x), true, nil
			}
			if oid == 1034 {
				return dst, false, errorf(codeUndefinedFunction, "no binary output function available for type aclitem")
			}
			if oid == 18 && v == "" {
				return append(dst, 0), true, nil // "char" '\0'
			}
			if oid == pgtype.NumericOID {
				return appendNumericBinary(dst, v), true, nil
			}
			if heldElem[oid] != 0 && oid != 22 && oid != 30 {
				return arraySend(dst, oid, v, time.UTC)
			}
			return append(dst, v...), true, nil
		case int64:
			if oid == pgtype.Int4OID || oid == 13221 || oidLike(oid) {
				return binary.BigEndian.AppendUint32(dst, uint32(int32(v))), true, nil
			}
			if oid == pgtype.Int2OID {
				return binary.BigEndian.AppendUint16(dst, uint16(int16(v))), true, nil
			}
			return binary.BigEndian.AppendUint64(dst, uint64(v)), true, nil
		case float64:
			if oid == pgtype.Float4OID {
				return binary.BigEndian.AppendUint32(dst, math.Float32bits(float32(v))), true, nil
			}
			if math.IsNaN(v) {
				return binary.BigEndian.AppendUint64(dst, 0x7ff8000000000000), true, nil // PostgreSQL's NaN
			}
			return binary.BigEndian.AppendUint64(dst, math.Float64bits(v)), true, nil
		case bool:
			if v {
				return append(dst, 1), true, nil
			}
			return append(dst, 0), true, nil
		case time.Time:
			return binary.BigEndian.AppendUint64(dst, uint64(v.UnixMicro()-pgEpochUnixMicro)), true, nil
		case extValue:
			return append(dst, v.bin...), true, nil
		case regName:
			if format == 1 {
				return binary.BigEndian.AppendUint32(dst, uint32(v.oid)), true, nil
			}
		case pgtype.Interval:
			dst = binary.BigEndian.AppendUint64(dst, uint64(v.Microseconds))
			dst = binary.BigEndian.AppendUint32(dst, uint32(v.Days))
			return binary.BigEndian.AppendUint32(dst, uint32(v.Months)), true, nil
		}
	default:
		return dst, false, errorf(codeInvalidParamValue, "unsupported format code: %d", format)
	}
	return dst, false, fmt.Errorf("statusdb: value of type %T in column %d (OID %d)", v, col, oid)
}
