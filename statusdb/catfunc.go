package statusdb

import (
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
	pg "github.com/pganalyze/pg_query_go/v6"
)

// Functions, casts and operators the catalog queries of psql and tools
// use: regclass/regtype/regnamespace casts, format_type, obj_description,
// col_description, pg_get_userbyid, pg_table_is_visible, to_regclass,
// has_*_privilege, pg_get_expr, quote_ident, array_to_string and the
// regular-expression operators.

// catalogCastTarget returns the type a cast to name makes when it is one
// of the catalog types, ok false otherwise.
func catalogCastTarget(tn *pg.TypeName) (t typ, pgt uint32, ok bool) {
	if tn == nil || len(tn.ArrayBounds) > 0 || len(tn.Names) == 0 {
		return 0, 0, false
	}
	names := make([]string, 0, len(tn.Names))
	for _, n := range tn.Names {
		names = append(names, n.GetString_().GetSval())
	}
	if len(names) > 2 || len(names) == 2 && names[0] != "pg_catalog" {
		return 0, 0, false
	}
	switch names[len(names)-1] {
	case "oid":
		return tInt8, pgtype.OIDOID, true
	case "regclass":
		return tInt8, 2205, true
	case "regtype":
		return tInt8, 2206, true
	case "regnamespace":
		return tInt8, 4089, true
	case "regproc":
		return tText, 24, true // held as the function's name, as pg_type.typinput is
	case "name":
		return tText, pgtype.NameOID, true
	case "int2", "smallint":
		return tInt4, pgtype.Int2OID, true
	case "char":
		if len(names) == 1 { // "char"; unquoted char is pg_catalog.bpchar
			return tText, 18, true
		}
	}
	return 0, 0, false
}

// catalogCast analyzes arg::type for a catalog type.
func (a *analyzer) catalogCast(arg *expr, t typ, pgt uint32, loc int32) (*expr, *Error) {
	loc = leftmost(arg.loc, loc)
	out := &expr{kind: eFunc, typ: t, pgt: pgt, args: []*expr{arg}, loc: loc}
	if pgt == pgtype.NameOID {
		out.name = true
	}
	switch {
	case arg.typ == tUnknown || arg.typ == tText:
		if arg.typ == tUnknown {
			arg, _ = a.resolveUnknown(arg, tText)
			out.args[0] = arg
		}
		switch pgt {
		case 2205, 2206, 4089, pgtype.OIDOID, pgtype.Int2OID, 24:
			out.op = "in:" + strconv.Itoa(int(pgt))
			if arg.kind == eConst && !arg.val.null && (pgt != 2205 || strings.Contains(arg.val.s, ".")) {
				// PostgreSQL reads a constant while planning: a name that
				// does not exist is an error at Prepare, at the literal.
				var err *Error
				func() {
					defer func() {
						if r := recover(); r != nil {
							if ee, ok := r.(evalError); ok {
								err = ee.err
								return
							}
							panic(r)
						}
					}()
					v := catalogFn(out, []evalFn{func(*evalCtx) value { return arg.val }})(&evalCtx{in: &Input{}})
					out = &expr{kind: eConst, typ: t, pgt: pgt, val: v, loc: loc}
				}()
				if err != nil {
					return nil, a.errAt(err, arg.loc)
				}
			}
		default:
			out.op = "same"
		}
	case arg.typ == tInt4 || arg.typ == tInt8:
		if t == tText {
			return nil, a.errAt(errorf(codeCannotCoerce, "cannot cast type %s to %s", arg.typ, formatType(pgt, -1)), loc)
		}
		out.op = "same"
	default:
		return nil, a.errAt(errorf(codeCannotCoerce, "cannot cast type %s to %s", arg.typ, formatType(pgt, -1)), loc)
	}
	return out, nil
}

// regprocIn is regproc's input (regprocin) of s: the function's name,
// as pg_type's regproc columns hold it, for a function of pg_catalog
// named unqualified or qualified by pg_catalog ('pg_catalog.array_in',
// as JDBC compares pg_type.typinput with). An OID is kept as its digits
// ("-" for 0): pg_proc holds no rows to name it by (doc.go).
func regprocIn(s string) string {
	if s == "-" {
		return s
	}
	if n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32); err == nil {
		if n == 0 {
			return "-"
		}
		return strconv.FormatUint(n, 10)
	}
	parts := parseIdent(s)
	if len(parts) > 3 {
		failErr(errorf(codeSyntax, "improper qualified name (too many dotted names): %s", s))
	}
	name := parts[len(parts)-1].s
	known := len(parts) == 1 || len(parts) == 2 && parts[0].s == "pg_catalog"
	if i := sort.SearchStrings(pgProcNames, name); known && (i == len(pgProcNames) || pgProcNames[i] != name) {
		known = false
	}
	if !known {
		failErr(errorf(codeUndefinedFunction, "function %q does not exist", s))
	}
	if i := sort.SearchStrings(pgProcOverloaded, name); i < len(pgProcOverloaded) && pgProcOverloaded[i] == name {
		failErr(errorf("42725", "more than one function named %q", s))
	}
	return name
}

// regToText analyzes the cast of an OID-like value to text.
func regToText(arg *expr, loc int32) *expr {
	return &expr{kind: eFunc, op: "out:" + strconv.Itoa(int(arg.pgt)), typ: tText, args: []*expr{arg}, loc: leftmost(arg.loc, loc)}
}

// regexOp analyzes l ~ r, !~, ~* and !~*.
func (a *analyzer) regexOp(op string, l, r *expr, loc int32) (*expr, *Error) {
	lt, rt := l.typ, r.typ
	var err *Error
	if l, err = a.coerce(l, tText); err != nil || l == nil {
		return nil, a.errAt(noOperator(op, lt, rt), loc)
	}
	if r, err = a.coerce(r, tText); err != nil || r == nil {
		return nil, a.errAt(noOperator(op, lt, rt), loc)
	}
	return &expr{kind: eFunc, op: op, typ: tBool, args: []*expr{l, r}, loc: loc}, nil
}

// regprocOperands converts a regproc operand compared with an integer
// (p.oid = a.aggfnoid, as DBeaver joins pg_aggregate to pg_proc) to oid,
// as PostgreSQL's binary-coercible cast does. A regproc value is held as
// the function's name, and pg_proc holds no rows to look the name up in
// (doc.go): "-" is 0, any other name NULL, which no OID equals.
func regprocOperands(l, r *expr) (*expr, *expr) {
	isInt := func(e *expr) bool { return e.typ == tInt4 || e.typ == tInt8 }
	conv := func(e *expr) *expr {
		return &expr{kind: eFunc, op: "regproc:oid", typ: tInt8, pgt: pgtype.OIDOID, args: []*expr{e}, loc: e.loc}
	}
	switch {
	case l.pgt == 24 && l.typ == tText && isInt(r):
		return conv(l), r
	case r.pgt == 24 && r.typ == tText && isInt(l):
		return l, conv(r)
	}
	return l, r
}

// catalogFuncs are the catalog functions: their argument types (tUnknown:
// any) and result type.
var catalogFuncs = map[string]struct {
	args [][]typ
	res  typ
	pgt  uint32
}{
	"format_type":                {[][]typ{{tInt8, tInt4}}, tText, 0},
	"pg_get_userbyid":            {[][]typ{{tInt8}}, tText, pgtype.NameOID},
	"pg_table_is_visible":        {[][]typ{{tInt8}}, tBool, 0},
	"pg_type_is_visible":         {[][]typ{{tInt8}}, tBool, 0},
	"obj_description":            {[][]typ{{tInt8}, {tInt8, tText}}, tText, 0},
	"col_description":            {[][]typ{{tInt8, tInt4}}, tText, 0},
	"shobj_description":          {[][]typ{{tInt8, tText}}, tText, 0},
	"pg_get_expr":                {[][]typ{{tText, tInt8}, {tText, tInt8, tBool}}, tText, 0},
	"pg_get_serial_sequence":     {[][]typ{{tText, tText}}, tText, 0},
	"to_regclass":                {[][]typ{{tText}}, tInt8, 2205},
	"to_regtype":                 {[][]typ{{tText}}, tInt8, 2206},
	"to_regnamespace":            {[][]typ{{tText}}, tInt8, 4089},
	"has_schema_privilege":       {[][]typ{{tText, tText}, {tText, tText, tText}}, tBool, 0},
	"has_table_privilege":        {[][]typ{{tText, tText}, {tText, tText, tText}}, tBool, 0},
	"quote_ident":                {[][]typ{{tText}}, tText, 0},
	"array_to_string":            {[][]typ{{tText, tText}}, tText, 0},
	"pg_relation_is_publishable": {[][]typ{{tInt8}}, tBool, 0},
	// Sizes: a helios_proxy table holds no storage (its rows are computed
	// from the snapshot), so the sizes are those PostgreSQL 15 reports for
	// an empty table with text columns: no pages in the main fork, one
	// 8 kB page for the TOAST index (pg_table_size and
	// pg_total_relation_size count it); NULL for an OID that names no
	// relation. The status database's size (pg_database_size by name or
	// OID) is the sum of its relations', as its catalogs hold no storage
	// either.
	"pg_table_size":                   {[][]typ{{tInt8}}, tInt8, 0},
	"pg_total_relation_size":          {[][]typ{{tInt8}}, tInt8, 0},
	"pg_relation_size":                {[][]typ{{tInt8}, {tInt8, tText}}, tInt8, 0},
	"pg_indexes_size":                 {[][]typ{{tInt8}}, tInt8, 0},
	"pg_database_size":                {[][]typ{{tText}, {tInt8}}, tInt8, 0},
	"pg_size_pretty":                  {[][]typ{{tInt8}}, tText, 0},
	"pg_get_statisticsobjdef_columns": {[][]typ{{tInt8}}, tText, 0},
	"pg_get_constraintdef":            {[][]typ{{tInt8}, {tInt8, tBool}}, tText, 0},
	"pg_get_indexdef":                 {[][]typ{{tInt8}, {tInt8, tInt4, tBool}}, tText, 0},
	"pg_get_ruledef":                  {[][]typ{{tInt8}, {tInt8, tBool}}, tText, 0},
	"pg_get_partkeydef":               {[][]typ{{tInt8}}, tText, 0},
	"pg_stat_get_numscans":            {[][]typ{{tInt8}}, tInt8, 0},
	// psql's \df (and JDBC's getFunctions) over pg_proc, which has no
	// rows; \sv of a table; \l.
	"pg_get_function_result":             {[][]typ{{tInt8}}, tText, 0},
	"pg_get_function_arguments":          {[][]typ{{tInt8}}, tText, 0},
	"pg_get_function_identity_arguments": {[][]typ{{tInt8}}, tText, 0},
	"pg_get_viewdef":                     {[][]typ{{tInt8}, {tInt8, tBool}}, tText, 0},
	"pg_function_is_visible":             {[][]typ{{tInt8}}, tBool, 0},
	"pg_encoding_to_char":                {[][]typ{{tInt4}}, tText, pgtype.NameOID},
	// Arrays held as text (arrayfunc.go) and trimming.
	"string_to_array": {[][]typ{{tText, tText}}, tText, pgtype.TextArrayOID},
	"parse_ident":     {[][]typ{{tText}, {tText, tBool}}, tText, pgtype.TextArrayOID},
	"array_lower":     {[][]typ{{tText, tInt4}}, tInt4, 0},
	"array_upper":     {[][]typ{{tText, tInt4}}, tInt4, 0},
	"array_length":    {[][]typ{{tText, tInt4}}, tInt4, 0},
	"btrim":           {[][]typ{{tText}, {tText, tText}}, tText, 0},
	"ltrim":           {[][]typ{{tText}, {tText, tText}}, tText, 0},
	"rtrim":           {[][]typ{{tText}, {tText, tText}}, tText, 0},
}

// pgEncodings are PostgreSQL 15's encodings by number (pg_database.encoding;
// the status database's is UTF8, 6).
var pgEncodings = []string{"SQL_ASCII", "EUC_JP", "EUC_CN", "EUC_KR", "EUC_TW", "EUC_JIS_2004", "UTF8", "MULE_INTERNAL",
	"LATIN1", "LATIN2", "LATIN3", "LATIN4", "LATIN5", "LATIN6", "LATIN7", "LATIN8", "LATIN9", "LATIN10", "WIN1256", "WIN1258",
	"WIN866", "WIN874", "KOI8R", "WIN1251", "WIN1252", "ISO_8859_5", "ISO_8859_6", "ISO_8859_7", "ISO_8859_8", "WIN1250",
	"WIN1253", "WIN1254", "WIN1255", "WIN1257", "KOI8U", "SJIS", "BIG5", "GBK", "UHC", "GB18030", "JOHAB", "SHIFT_JIS_2004"}

// catalogFunc types a call of a catalog function; ok is false for any
// other name.
func (a *analyzer) catalogFunc(name string, args []*expr, loc int32) (*expr, *Error, bool) {
	def, known := catalogFuncs[name]
	if !known {
		return nil, nil, false
	}
	for _, want := range def.args {
		if len(want) != len(args) {
			continue
		}
		conv := make([]*expr, len(args))
		ok := true
		for i, e := range args {
			switch {
			case want[i] == tText && (e.typ == tInt8 || e.typ == tInt4) && i == len(args)-2:
				// has_table_privilege(oid, ...): the object by OID
				conv[i] = e
			case want[i] == tText && e.typ == tText:
				conv[i] = e
			case want[i] == tInt8 && (e.typ == tInt4 || e.typ == tInt8):
				conv[i] = e
			case want[i] == tInt8 && e.typ == tUnknown && (name == "pg_table_is_visible" || name == "pg_relation_is_publishable" || name == "obj_description" || name == "col_description"):
				r := &expr{kind: eFunc, op: "in:2205", typ: tInt8, pgt: 2205, args: []*expr{a.unknownToText(e)}, loc: e.loc}
				if name != "pg_table_is_visible" && name != "pg_relation_is_publishable" {
					r.op, r.pgt = "in:26", pgtype.OIDOID
				}
				conv[i] = r
			default:
				c, err := a.coerce(e, want[i])
				if err != nil {
					return nil, err, true
				}
				if c == nil {
					ok = false
				}
				conv[i] = c
			}
			if !ok {
				break
			}
		}
		if ok {
			return &expr{kind: eFunc, op: name, typ: def.res, pgt: def.pgt, name: def.pgt == pgtype.NameOID, args: conv, loc: loc}, nil, true
		}
	}
	return nil, a.errAt(noFunction(name, args), loc), true
}

func compileRegex(p string, ci bool) *regexp.Regexp { return compileARE(p, reFlags{ci: ci}) }

// catalogFn compiles a catalog function, cast or operator; nil for any
// other eFunc.
func catalogFn(e *expr, args []evalFn) evalFn {
	strict := func(f func(x *evalCtx, v []value) value) evalFn {
		return func(x *evalCtx) value {
			vs := make([]value, len(args))
			for i, g := range args {
				if vs[i] = g(x); vs[i].null {
					return null
				}
			}
			return f(x, vs)
		}
	}
	if rest, ok := strings.CutPrefix(e.op, "in:"); ok {
		pgt, _ := strconv.Atoi(rest)
		return strict(func(x *evalCtx, v []value) value {
			s := v[0].s
			var n int64
			var found bool
			switch pgt {
			case 24:
				return value{s: regprocIn(s)}
			case 2205:
				if n, found = regclassIn(x, s); !found {
					failErr(errorf(codeUndefinedTable, "relation %q does not exist", s))
				}
			case 2206:
				if n, found = typeNameIn(s); !found {
					failErr(errorf("42704", "type %q does not exist", s))
				}
			case 4089:
				if o, ok := namespaceOID(s); ok {
					n = int64(o)
				} else if n2, err := strconv.ParseInt(s, 10, 64); err == nil {
					n = n2
				} else {
					failErr(errorf("3F000", "schema %q does not exist", s))
				}
			default:
				r, err := parseInt(tInt8, s)
				if err != nil {
					failErr(errorf("22P02", "invalid input syntax for type %s: %q", formatType(uint32(pgt), -1), s))
				}
				n = r.n
			}
			return value{n: n}
		})
	}
	if rest, ok := strings.CutPrefix(e.op, "out:"); ok {
		pgt, _ := strconv.Atoi(rest)
		return strict(func(x *evalCtx, v []value) value { return value{s: regOut(uint32(pgt), v[0].n, x)} })
	}
	switch e.op {
	case "same":
		return args[0]
	case "~", "!~", "~*", "!~*":
		neg, ci := e.op[0] == '!', strings.HasSuffix(e.op, "*")
		return strict(func(_ *evalCtx, v []value) value {
			return boolValue(compileRegex(v[1].s, ci).MatchString(v[0].s) != neg)
		})
	case "format_type":
		// Not strict in its typmod: format_type(oid, NULL) is the bare name.
		return func(x *evalCtx) value {
			o := args[0](x)
			if o.null {
				return null
			}
			mod := int64(-1)
			if m := args[1](x); !m.null {
				mod = m.n
			}
			return value{s: formatType(uint32(o.n), mod)}
		}
	case "pg_get_userbyid":
		return strict(func(_ *evalCtx, v []value) value {
			for _, r := range catalogStatic["pg_catalog.pg_roles"] {
				f := strings.Split(r, "\x1f")
				if f[len(f)-1] == strconv.FormatInt(v[0].n, 10) {
					return value{s: f[0]}
				}
			}
			return value{s: "unknown (OID=" + strconv.FormatInt(v[0].n, 10) + ")"}
		})
	case "pg_table_is_visible":
		return strict(func(x *evalCtx, v []value) value {
			if t, _ := relationByOID(v[0].n); t != nil {
				return boolValue(schemaVisible(x, schemaName))
			}
			return null
		})
	case "pg_type_is_visible":
		return strict(func(x *evalCtx, v []value) value {
			if builtinTypes[uint32(v[0].n)] != nil {
				return boolValue(true)
			}
			if v[0].n >= int64(catalogOIDBase) && v[0].n < int64(relOID(len(tableOrder))) {
				return boolValue(schemaVisible(x, schemaName))
			}
			return null
		})
	case "regproc:oid":
		return strict(func(_ *evalCtx, v []value) value {
			if v[0].s == "-" {
				return value{n: 0}
			}
			return null
		})
	case "shobj_description":
		// pg_shdescription holds the status database's comment only.
		return strict(func(_ *evalCtx, v []value) value {
			if v[0].n == int64(statusDatabaseOID) && v[1].s == "pg_database" {
				return value{s: databaseComment}
			}
			return null
		})
	case "pg_database_size":
		byName := e.args[0].typ == tText
		return strict(func(x *evalCtx, v []value) value {
			switch {
			case byName && v[0].s != session(x).Database:
				failErr(errorf("3D000", "database %q does not exist", v[0].s))
			case !byName && v[0].n != int64(statusDatabaseOID):
				// As PostgreSQL's privilege check answers an ordinary role
				// (a superuser gets NULL).
				failErr(errorf("3D000", "database with OID %d does not exist", v[0].n))
			}
			return value{n: int64(len(tableOrder)) * emptyToastIndexSize}
		})
	case "obj_description", "col_description":
		sub := e.op == "col_description"
		return func(x *evalCtx) value {
			o := args[0](x)
			if o.null {
				return null
			}
			class := "pg_class"
			var n int64
			if len(args) == 2 {
				w := args[1](x)
				if w.null {
					return null
				}
				if sub {
					n = w.n
				} else {
					class = w.s
				}
			}
			return description(o.n, class, n, !sub && len(args) == 1)
		}
	case "pg_get_expr":
		return func(*evalCtx) value { return null } // no column defaults, constraints or partition bounds
	case "pg_get_serial_sequence":
		// No column owns a sequence; the table and column must exist.
		return strict(func(x *evalCtx, v []value) value {
			oid, ok := regclassIn(x, v[0].s)
			if !ok {
				failErr(errorf(codeUndefinedTable, "relation %q does not exist", v[0].s))
			}
			if t, _ := relationByOID(oid); t != nil && !slices.ContainsFunc(t.cols, func(c column) bool { return c.name == v[1].s }) {
				failErr(errorf(codeUndefinedColumn, "column %q of relation %q does not exist", v[1].s, t.name))
			}
			return null
		})
	case "to_regclass":
		return strict(func(x *evalCtx, v []value) value {
			if n, ok := regclassIn(x, v[0].s); ok {
				return value{n: n}
			}
			return null
		})
	case "to_regtype":
		return strict(func(_ *evalCtx, v []value) value {
			if n, ok := typeNameIn(v[0].s); ok {
				return value{n: n}
			}
			return null
		})
	case "to_regnamespace":
		return strict(func(_ *evalCtx, v []value) value {
			if o, ok := namespaceOID(v[0].s); ok {
				return value{n: int64(o)}
			}
			return null
		})
	case "has_schema_privilege", "has_table_privilege":
		table := e.op == "has_table_privilege"
		objArg := len(args) - 2
		objByOID := e.args[objArg].typ == tInt8
		return strict(func(x *evalCtx, v []value) value {
			obj, priv := v[objArg], strings.ToUpper(strings.TrimSpace(v[len(v)-1].s))
			if table {
				var ok bool
				if !objByOID {
					if obj.n, ok = regclassIn(x, obj.s); !ok {
						failErr(errorf(codeUndefinedTable, "relation %q does not exist", obj.s))
					}
				} else if t, _ := relationByOID(obj.n); t == nil {
					return null
				}
				return boolValue(privileged(priv, "SELECT"))
			}
			if !objByOID {
				if _, ok := namespaceOID(obj.s); !ok {
					failErr(errorf("3F000", "schema %q does not exist", obj.s))
				}
			}
			return boolValue(privileged(priv, "USAGE"))
		})
	case "quote_ident":
		return strict(func(_ *evalCtx, v []value) value { return value{s: quoteIdent(v[0].s)} })
	case "array_to_string":
		return strict(func(_ *evalCtx, v []value) value {
			elems, _ := parseArray(v[0].s, func(s string) (value, *Error) { return value{s: s}, nil })
			var parts []string
			for _, el := range elems {
				if !el.null {
					parts = append(parts, el.s)
				}
			}
			return value{s: strings.Join(parts, v[1].s)}
		})
	case "pg_table_size", "pg_total_relation_size", "pg_relation_size", "pg_indexes_size":
		var size int64
		if e.op == "pg_table_size" || e.op == "pg_total_relation_size" {
			size = emptyToastIndexSize
		}
		return strict(func(_ *evalCtx, v []value) value {
			if t, _ := relationByOID(v[0].n); t == nil {
				return null
			}
			return value{n: size}
		})
	case "string_to_array", "parse_ident", "array_lower", "array_upper", "array_length", "btrim", "ltrim", "rtrim", "subscript", "array_in":
		return arrayFn(e, args)
	case "array_cat":
		return func(x *evalCtx) value {
			l, r := args[0](x), args[1](x)
			switch {
			case l.null:
				return r
			case r.null:
				return l
			}
			text := func(s string) (value, *Error) { return value{s: s}, nil }
			lv, err := parseArray(l.s, text)
			if err != nil {
				failErr(err)
			}
			rv, err := parseArray(r.s, text)
			if err != nil {
				failErr(err)
			}
			return value{s: arrayOut(tText, append(lv, rv...), x.loc)}
		}
	case "pg_size_pretty":
		return strict(func(_ *evalCtx, v []value) value { return value{s: sizePretty(v[0].n)} })
	case "pg_get_statisticsobjdef_columns", "pg_get_constraintdef", "pg_get_indexdef", "pg_get_ruledef", "pg_get_partkeydef",
		"pg_get_function_result", "pg_get_function_arguments", "pg_get_function_identity_arguments", "pg_get_viewdef",
		"pg_function_is_visible":
		// There are no extended statistics, constraints, indexes, rules,
		// partitioned tables, functions (pg_proc is empty) or views, and
		// PostgreSQL's functions give NULL for an OID naming none (so
		// does pg_function_is_visible)
		// (pg_get_partkeydef for a table that is not partitioned,
		// pg_get_viewdef for a table).
		return func(*evalCtx) value { return null }
	case "pg_encoding_to_char":
		// PostgreSQL names an encoding number it does not know "".
		return strict(func(_ *evalCtx, v []value) value {
			if v[0].n >= 0 && v[0].n < int64(len(pgEncodings)) {
				return value{s: pgEncodings[v[0].n]}
			}
			return value{s: ""}
		})
	case "pg_stat_get_numscans":
		// No index is scanned: PostgreSQL counts 0 for an OID it has no
		// statistics for.
		return func(*evalCtx) value { return value{n: 0} }
	case "pg_relation_is_publishable":
		return strict(func(_ *evalCtx, v []value) value {
			t, _ := relationByOID(v[0].n)
			return boolValue(t != nil)
		})
	}
	return nil
}

// privileged reports whether a client (an ordinary role: USAGE on the
// schema and SELECT on its tables, through PUBLIC) holds any of the
// comma-separated privileges, as has_*_privilege answers.
func privileged(privs, granted string) bool {
	for _, p := range strings.Split(privs, ",") {
		p = strings.TrimSpace(p)
		p = strings.TrimSuffix(p, " WITH GRANT OPTION")
		if p == granted {
			return true
		}
	}
	return false
}

// description is the comment of an object (pg_description), as
// obj_description and col_description return it.
func description(oid int64, class string, sub int64, anyClass bool) value {
	if oid == int64(catalogOIDBase) || (oid < 16384 && oid >= 0) {
		if class != "pg_namespace" && !anyClass {
			return null
		}
		for _, n := range namespaces {
			if int64(n.oid) == oid && n.comment != "" {
				return value{s: n.comment}
			}
		}
		return null
	}
	t, _ := relationByOID(oid)
	if t == nil || class != "pg_class" && !anyClass {
		return null
	}
	if sub == 0 {
		return value{s: t.doc}
	}
	if sub > 0 && int(sub) <= len(t.cols) {
		return value{s: t.cols[sub-1].doc}
	}
	return null
}

// sizePretty is pg_size_pretty(bigint): bytes below 10 kB, then kB, MB,
// GB, TB and PB, each rounded half away from zero from one extra bit.
func sizePretty(size int64) string {
	abs := func(n int64) int64 {
		if n < 0 {
			return -n
		}
		return n
	}
	const limit = 10 * 1024
	if abs(size) < limit {
		return strconv.FormatInt(size, 10) + " bytes"
	}
	size /= 1 << 9 // one extra bit for rounding
	for _, unit := range []string{"kB", "MB", "GB", "TB"} {
		if abs(size) < limit*2-1 {
			return strconv.FormatInt(halfRounded(size), 10) + " " + unit
		}
		size /= 1 << 10
	}
	return strconv.FormatInt(halfRounded(size), 10) + " PB"
}

func halfRounded(n int64) int64 {
	if n < 0 {
		return (n - 1) / 2
	}
	return (n + 1) / 2
}

// emptyToastIndexSize is the size of an empty table's TOAST index: its
// metapage.
const emptyToastIndexSize = 8192
