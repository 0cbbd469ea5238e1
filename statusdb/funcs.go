package statusdb

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Built-in scalar functions (string, regular-expression, math and type
// functions: strfunc.go, regex.go, mathfunc.go, casts.go), declared as
// PostgreSQL declares them in pg_proc: each name has one or more
// signatures, and a call picks one the way PostgreSQL's
// func_select_candidate does, so that argument coercions, unknown
// literals ('x' in substr(s, 'x') is an integer input error at the
// literal), result types and "function f(...) does not exist" come out
// as PostgreSQL's.

// anyArg, as a parameter type, accepts an argument of any type, as
// PostgreSQL's "any" and anyelement do; an unknown literal there is text.
const anyArg = tUnknown

// fnSig is one signature of a built-in function.
type fnSig struct {
	args []typ
	// variadic: the last parameter repeats (VARIADIC "any"), zero or
	// more times.
	variadic bool
	res      typ
	pgt      uint32 // the result's PostgreSQL type when it is not res's own (text[], regtype)
	// lax: the function runs on NULL arguments (concat, format); others
	// return NULL for any NULL argument, as STRICT functions.
	lax bool
	// rawArgs: an unknown argument stays unknown (pg_typeof), where
	// others make it text.
	rawArgs bool
	// impl makes the function's body for a call, given the call (its
	// arguments' types, after coercion to the signature's).
	impl func(e *expr) func(x *evalCtx, v []value) value
}

// builtinTables are the files' function tables, by function name.
var builtinTables = []map[string][]fnSig{stringFuncs, regexFuncs, mathFuncs, typeFuncs}

func builtinSigs(name string) ([]fnSig, bool) {
	for _, t := range builtinTables {
		if sigs, ok := t[name]; ok {
			return sigs, true
		}
	}
	return nil, false
}

const builtinPrefix = "builtin:"

// builtinFunc types a call of a built-in function; ok is false for any
// other name. The call is an eFunc whose op is builtinPrefix+name and
// whose idx is the signature's index.
func (a *analyzer) builtinFunc(name string, args []*expr, loc int32) (*expr, *Error, bool) {
	sigs, known := builtinSigs(name)
	if !known {
		return nil, nil, false
	}
	var cands []int
	for i, s := range sigs {
		if s.accepts(args) {
			cands = append(cands, i)
		}
	}
	if len(cands) > 1 {
		cands = selectCandidate(sigs, cands, args)
	}
	switch len(cands) {
	case 0:
		return nil, a.errAt(noFunction(name, args), loc), true
	case 1:
	default:
		return nil, a.errAt(&Error{Code: codeAmbiguousFunction, Message: "function " + name + "(" + argTypeNames(args) + ") is not unique",
			Hint: "Could not choose a best candidate function. You might need to add explicit type casts."}, loc), true
	}
	s := sigs[cands[0]]
	if s.impl == nil {
		return nil, a.errAt(unsupported("function "+name+"("+argTypeNames(args)+")"), loc), true
	}
	conv := make([]*expr, len(args))
	for i, e := range args {
		want := s.param(i)
		var err *Error
		if want == anyArg {
			if e.kind == eParam && e.typ == tUnknown {
				// "any" gives a parameter no type, and PostgreSQL has none to infer
				return nil, &Error{Code: "42P18", Message: "could not determine data type of parameter $" + strconv.Itoa(e.idx+1)}, true
			}
			conv[i] = e
			if !s.rawArgs {
				conv[i] = a.unknownToText(e)
			}
			continue
		}
		if want == tText && name != "octet_length" { // octet_length(char(n)) counts the spaces
			e = bpcharAsText(e)
		}
		if conv[i], err = a.coerce(e, want); err != nil {
			return nil, err, true
		}
	}
	call := &expr{kind: eFunc, op: builtinPrefix + name, idx: cands[0], typ: s.res, pgt: s.pgt, args: conv, loc: loc}
	return call, nil, true
}

// param is the type of the signature's i-th parameter.
func (s fnSig) param(i int) typ {
	if i >= len(s.args) {
		return s.args[len(s.args)-1]
	}
	return s.args[i]
}

// accepts reports whether the arguments convert implicitly to the
// signature's parameters.
func (s fnSig) accepts(args []*expr) bool {
	if len(args) != len(s.args) && !(s.variadic && len(args) > len(s.args)) {
		return false
	}
	for i, e := range args {
		if !implicitly(e.typ, s.param(i)) {
			return false
		}
	}
	return true
}

// implicitly reports whether PostgreSQL converts a value of type from to
// type to without an explicit cast.
func implicitly(from, to typ) bool {
	switch {
	case from == to, from == tUnknown, to == anyArg:
		return true
	case from.isArray() || to.isArray():
		return false
	case from.numeric() && to.numeric():
		return from < to
	}
	return false
}

// category is PostgreSQL's typcategory of the evaluator's types.
func (t typ) category() byte {
	switch {
	case t.isArray():
		return 'A'
	case t == tText:
		return 'S'
	case t.numeric():
		return 'N'
	case t == tBool:
		return 'B'
	case t == tTimestamptz:
		return 'D'
	case t == tInterval:
		return 'T'
	}
	return 'X'
}

// preferred reports whether t is its category's preferred type.
func (t typ) preferred() bool {
	return t == tText || t == tFloat8 || t == tBool || t == tTimestamptz || t == tInterval
}

// selectCandidate narrows several applicable signatures as PostgreSQL's
// func_select_candidate does: most exact matches, then most preferred
// types where a conversion is needed, then, for unknown arguments, the
// string category if any candidate takes it there (else the one category
// all take), preferring its preferred type.
func selectCandidate(sigs []fnSig, cands []int, args []*expr) []int {
	keepMax := func(score func(s fnSig) int) {
		best := -1
		var kept []int
		for _, c := range cands {
			switch n := score(sigs[c]); {
			case n > best:
				best, kept = n, []int{c}
			case n == best:
				kept = append(kept, c)
			}
		}
		cands = kept
	}
	keepMax(func(s fnSig) int {
		n := 0
		for i, e := range args {
			if e.typ != tUnknown && s.param(i) == e.typ {
				n++
			}
		}
		return n
	})
	if len(cands) == 1 {
		return cands
	}
	keepMax(func(s fnSig) int {
		n := 0
		for i, e := range args {
			if p := s.param(i); e.typ != tUnknown && (p == e.typ || p.preferred() && p.category() == e.typ.category()) {
				n++
			}
		}
		return n
	})
	if len(cands) == 1 {
		return cands
	}
	// Unknown arguments: the category every candidate takes at each
	// position (string wins a conflict), then only candidates of it,
	// of its preferred type where one takes that.
	type slot struct {
		cat  byte
		pref bool
	}
	slots := make([]slot, len(args))
	for i, e := range args {
		if e.typ != tUnknown {
			continue
		}
		conflict := false
		for _, c := range cands {
			p := sigs[c].param(i)
			switch pc := paramCategory(p); {
			case slots[i].cat == 0:
				slots[i] = slot{pc, p.preferred()}
			case pc == slots[i].cat:
				slots[i].pref = slots[i].pref || p.preferred()
			case pc == 'S':
				slots[i] = slot{pc, p.preferred()}
			default:
				conflict = true
			}
		}
		if conflict && slots[i].cat != 'S' {
			return cands
		}
	}
	return slices.DeleteFunc(cands, func(c int) bool {
		for i, e := range args {
			p := sigs[c].param(i)
			if e.typ == tUnknown && (paramCategory(p) != slots[i].cat || slots[i].pref && !p.preferred()) {
				return true
			}
		}
		return false
	})
}

// paramCategory is a parameter type's category; anyArg is a pseudo-type.
func paramCategory(p typ) byte {
	if p == anyArg {
		return 'P'
	}
	return p.category()
}

// builtinFn compiles a built-in function call; nil for any other eFunc.
func builtinFn(e *expr, args []evalFn) evalFn {
	name, ok := strings.CutPrefix(e.op, builtinPrefix)
	if !ok {
		return nil
	}
	sigs, ok := castFuncs[name]
	if !ok {
		sigs, _ = builtinSigs(name)
	}
	s := sigs[e.idx]
	body := s.impl(e)
	if s.lax {
		return func(x *evalCtx) value {
			vs := make([]value, len(args))
			for i, g := range args {
				vs[i] = g(x)
			}
			return body(x, vs)
		}
	}
	return func(x *evalCtx) value {
		var buf [4]value
		vs := buf[:0]
		for _, g := range args {
			v := g(x)
			if v.null {
				return null
			}
			vs = append(vs, v)
		}
		return body(x, vs)
	}
}

// argTypeNames lists the arguments' types as PostgreSQL's error messages
// show them.
func argTypeNames(args []*expr) string {
	names := make([]string, len(args))
	for i, e := range args {
		switch {
		case e.pgt != 0:
			names[i] = formatType(e.pgt, -1)
		case e.name:
			names[i] = "name"
		default:
			names[i] = e.typ.String()
		}
	}
	return strings.Join(names, ", ")
}

// unknownFunction is the error for a call of a function statusdb does
// not evaluate: PostgreSQL's 42883 when PostgreSQL 15 has no function of
// the name either, 0A000 when it has one statusdb lacks.
func unknownFunction(name string, args []*expr) *Error {
	if i := sort.SearchStrings(pgProcNames, name); i < len(pgProcNames) && pgProcNames[i] == name {
		return unsupported("function " + name + "()")
	}
	return noFunction(name, args)
}

// notAggregate is the error for an aggregate's or window function's
// syntax (f(*), DISTINCT, ORDER BY, FILTER, WITHIN GROUP, OVER) on a
// function that is neither: as in PostgreSQL, the call without it is
// resolved first, so an unknown function is 42883 (or 0A000, or a bad
// argument's error), and a known one 42809 naming what was specified.
func (a *analyzer) notAggregate(name string, f *pg.FuncCall) *Error {
	plain := &pg.FuncCall{Funcname: f.Funcname, Args: f.Args, Location: f.Location}
	if f.AggStar {
		plain.Args = nil
	}
	if _, err := a.funcCall(plain); err != nil {
		return err
	}
	what := ""
	switch {
	case f.AggStar:
		what = name + "(*)"
	case f.AggDistinct:
		what = "DISTINCT"
	case f.AggWithinGroup:
		what = "WITHIN GROUP"
	case len(f.AggOrder) > 0:
		what = "ORDER BY"
	case f.AggFilter != nil:
		what = "FILTER"
	default:
		return a.errAt(errorf(codeWrongObjectType, "OVER specified, but %s is not a window function nor an aggregate function", name), f.Location)
	}
	return a.errAt(errorf(codeWrongObjectType, "%s specified, but %s is not an aggregate function", what, name), f.Location)
}
