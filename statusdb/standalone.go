package statusdb

import (
	"slices"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// The status database (a session without a backend) also answers what
// drivers and tools send on their own: SELECT without FROM (SELECT 1,
// version(), current_setting(...)), SHOW, SET, RESET, DISCARD, and the
// empty statement. Transaction control and DEALLOCATE are recognized
// (Stmt.Control) for the caller to answer.

// PrepareStandalone is PrepareTyped for a session of the status database,
// which has no backend: besides statements on the helios_proxy schema it
// plans SELECT without FROM, SHOW, SET, RESET and DISCARD (evaluated over
// Input.Session), the empty statement (Stmt.Empty) and transaction control
// and DEALLOCATE (Stmt.Control). Anything else that names no helios_proxy
// relation is ErrNotStatusQuery.
func (db *DB) PrepareStandalone(sql string, paramOIDs []uint32) (*Stmt, error) {
	return db.prepareCached(sql, paramOIDs, prepStandalone)
}

// oneRow is the relation a SELECT without FROM reads: one row, no columns.
var oneRow = &table{rows: func(*Input) int { return 1 }}

// prepareStandalone plans a statement that names no helios_proxy relation
// on the status database.
func prepareStandalone(sql string, tree *pg.ParseResult, refs relRefs, declared []uint32) (*Stmt, error) {
	if len(tree.Stmts) == 0 {
		return &Stmt{sql: sql, empty: true}, nil
	}
	if len(tree.Stmts) > 1 {
		return nil, errorf(codeSyntax, "cannot insert multiple commands into a prepared statement")
	}
	if refs.other != nil {
		if _, ok := tree.Stmts[0].Stmt.Node.(*pg.Node_SelectStmt); ok {
			if rv := refs.unknown(); rv != nil {
				return nil, errorf(codeUndefinedTable, "relation %q does not exist", qualified(rv)).at(sql, rv.Location)
			}
		}
		return nil, ErrNotStatusQuery
	}
	switch n := tree.Stmts[0].Stmt.Node.(type) {
	case *pg.Node_SelectStmt:
		s := n.SelectStmt
		if (len(s.FromClause) > 0 || s.WithClause != nil || s.Op != pg.SetOperation_SETOP_NONE) && len(refs.catalog) == 0 && refs.series == 0 || len(s.ValuesLists) > 0 {
			return nil, ErrNotStatusQuery
		}
		st, err := analyzeSelect(sql, s, declared)
		if err != nil {
			return nil, err
		}
		return st, nil
	case *pg.Node_VariableShowStmt:
		return showStmt(sql, n.VariableShowStmt.Name), nil
	case *pg.Node_VariableSetStmt:
		return setStmt(sql, n.VariableSetStmt)
	case *pg.Node_DiscardStmt:
		st := &Stmt{sql: sql}
		switch n.DiscardStmt.Target {
		case pg.DiscardMode_DISCARD_ALL:
			st.tag = "DISCARD ALL"
			st.utility = func(s *Session) *Error {
				if s.InBlock {
					return errorf("25001", "DISCARD ALL cannot run inside a transaction block")
				}
				s.DiscardAll()
				return nil
			}
		case pg.DiscardMode_DISCARD_PLANS:
			st.tag = "DISCARD PLANS"
		case pg.DiscardMode_DISCARD_SEQUENCES:
			st.tag = "DISCARD SEQUENCES"
		default:
			st.tag = "DISCARD TEMP"
		}
		return st, nil
	case *pg.Node_TransactionStmt:
		st := &Stmt{sql: sql, control: true}
		switch ts := n.TransactionStmt; ts.Kind {
		case pg.TransactionStmtKind_TRANS_STMT_SAVEPOINT:
			st.savepoint = SavepointOp{Kind: "SAVEPOINT", Name: ts.SavepointName}
		case pg.TransactionStmtKind_TRANS_STMT_RELEASE:
			st.savepoint = SavepointOp{Kind: "RELEASE", Name: ts.SavepointName}
		case pg.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
			st.savepoint = SavepointOp{Kind: "ROLLBACK TO", Name: ts.SavepointName}
		case pg.TransactionStmtKind_TRANS_STMT_BEGIN, pg.TransactionStmtKind_TRANS_STMT_START:
			// BEGIN ISOLATION LEVEL ..., READ ONLY, DEFERRABLE: the
			// transaction's characteristics, as SET TRANSACTION sets them.
			for _, o := range ts.Options {
				d := o.GetDefElem()
				if d == nil {
					continue
				}
				st.begin = append(st.begin, setOpt{d.Defname, defElemValue(d)})
			}
		}
		return st, nil
	case *pg.Node_DeallocateStmt:
		return &Stmt{sql: sql, control: true}, nil
	case *pg.Node_UnlistenStmt:
		// Nothing listens here (LISTEN is refused), so UNLISTEN, as
		// pools run it before reuse (asyncpg, pgpool's reset), has
		// nothing to do.
		return &Stmt{sql: sql, tag: "UNLISTEN"}, nil
	case *pg.Node_DeclareCursorStmt:
		return declareStmt(sql, n.DeclareCursorStmt, innerPrepare(sql, declared, true))
	case *pg.Node_ExplainStmt:
		return explainStmt(sql, n.ExplainStmt, innerPrepare(sql, declared, true), refs)
	case *pg.Node_CopyStmt:
		if !n.CopyStmt.IsFrom && n.CopyStmt.Query != nil {
			st, err, _ := copyStmt(sql, n.CopyStmt, innerPrepare(sql, declared, true))
			if err != nil {
				return nil, err
			}
			return st, nil
		}
	}
	if st, ok := cursorStmt(sql, tree.Stmts[0].Stmt); ok {
		return st, nil
	}
	return nil, ErrNotStatusQuery
}

// showStmt is SHOW name: one text column named after the setting, or SHOW
// ALL.
func showStmt(sql, name string) *Stmt {
	if name == "all" {
		return showQuery(sql, Stmt{cols: []Column{{Name: "name", OID: tText.oid()}, {Name: "setting", OID: tText.oid()}, {Name: "description", OID: tText.oid()}}},
			&query{tbl: showAll, outs: []evalFn{showAll.cols[0].get, showAll.cols[1].get, showAll.cols[2].get}, outTypes: []typ{tText, tText, tText}})
	}
	return showQuery(sql, Stmt{show: name, cols: []Column{{Name: showName(name), OID: tText.oid()}}},
		&query{tbl: oneRow, outTypes: []typ{tText}, outs: []evalFn{func(x *evalCtx) value {
			v, err := session(x).show(name)
			if err != nil {
				failErr(err)
			}
			return value{s: v}
		}}})
}

// showQuery completes a SHOW statement that runs q.
func showQuery(sql string, st Stmt, q *query) *Stmt {
	st.sql, st.tag, st.body, st.q, st.outTypes = sql, "SHOW", q, q, q.outTypes
	return &st
}

// showAll is SHOW ALL's relation: the settings PostgreSQL lists there, by
// name.
var showAll = func() *table {
	var list []*setting
	for _, d := range settingList {
		if d.desc != "" {
			list = append(list, d)
		}
	}
	slices.SortFunc(list, func(a, b *setting) int { return strings.Compare(strings.ToLower(a.name), strings.ToLower(b.name)) })
	return &table{name: "", rows: func(*Input) int { return len(list) }, cols: []column{
		{name: "name", typ: tText, get: func(x *evalCtx) value { return value{s: list[x.row].name} }},
		{name: "setting", typ: tText, get: func(x *evalCtx) value { return value{s: session(x).get(list[x.row])} }},
		{name: "description", typ: tText, get: func(x *evalCtx) value { return value{s: list[x.row].desc} }},
	}}
}()

// session is the Session of an execution; without one, a new session's
// defaults.
func session(x *evalCtx) *Session {
	if x.in.Session == nil {
		x.in.Session, _ = NewSession("", "", 0, nil)
	}
	return x.in.Session
}

func setStmt(sql string, v *pg.VariableSetStmt) (*Stmt, error) {
	st := &Stmt{sql: sql, tag: "SET"}
	local := v.IsLocal
	warnLocal := func(s *Session, what string) bool {
		if local && !s.InBlock {
			s.notices = append(s.notices, Notice{Severity: "WARNING", Code: "25P01", Message: what + " can only be used in transaction blocks"})
			return true
		}
		return false
	}
	name := v.Name
	switch v.Kind {
	case pg.VariableSetKind_VAR_SET_VALUE:
		value, err := flattenArgs(name, v.Args)
		if err != nil {
			return nil, err.at(sql, -1)
		}
		st.utility = func(s *Session) *Error {
			if warnLocal(s, "SET LOCAL") {
				return s.check(name, value)
			}
			return s.set(name, value, local)
		}
	case pg.VariableSetKind_VAR_SET_DEFAULT, pg.VariableSetKind_VAR_RESET:
		if v.Kind == pg.VariableSetKind_VAR_RESET {
			st.tag = "RESET"
		}
		st.utility = func(s *Session) *Error {
			if warnLocal(s, "SET LOCAL") {
				return nil
			}
			return s.reset(name, local)
		}
	case pg.VariableSetKind_VAR_RESET_ALL:
		st.tag = "RESET"
		st.utility = func(s *Session) *Error {
			s.DiscardAll()
			return nil
		}
	case pg.VariableSetKind_VAR_SET_MULTI:
		// SET TRANSACTION ... and SET SESSION CHARACTERISTICS AS
		// TRANSACTION ...: options as DefElems.
		prefix := ""
		switch name {
		case "TRANSACTION":
			local = true
		case "SESSION CHARACTERISTICS":
			prefix = "default_"
		default:
			return nil, unsupported("SET " + name)
		}
		var opts []setOpt
		for _, a := range v.Args {
			d := a.GetDefElem()
			if d == nil {
				return nil, unsupported("SET " + name)
			}
			opts = append(opts, setOpt{prefix + d.Defname, defElemValue(d)})
		}
		st.utility = func(s *Session) *Error {
			if name == "TRANSACTION" && warnLocal(s, "SET TRANSACTION") {
				return nil
			}
			for _, o := range opts {
				if err := s.set(o.name, o.value, local); err != nil {
					return err
				}
			}
			return nil
		}
	default:
		return nil, unsupported("SET FROM CURRENT")
	}
	return st, nil
}

// setOpt is one transaction mode of SET TRANSACTION, SET SESSION
// CHARACTERISTICS or BEGIN: a setting and its value.
type setOpt struct{ name, value string }

// defElemValue is the value of a transaction mode (its DefElem's
// constant: 'serializable', 1 for READ ONLY, 0 for READ WRITE).
func defElemValue(d *pg.DefElem) string {
	if c := d.Arg.GetAConst(); c != nil {
		switch cv := c.Val.(type) {
		case *pg.A_Const_Sval:
			return cv.Sval.Sval
		case *pg.A_Const_Ival:
			return strconv.Itoa(int(cv.Ival.Ival))
		}
	}
	return ""
}

// StartTransaction gives the transaction block st (BEGIN or START
// TRANSACTION) has just opened the characteristics it names, as SET
// TRANSACTION would: SHOW transaction_read_only answers on after BEGIN
// READ ONLY (JDBC's setReadOnly in a transaction) until the block ends.
func (s *Session) StartTransaction(st *Stmt) *Error {
	s.StartStatement()
	for _, o := range st.begin {
		if err := s.set(o.name, o.value, true); err != nil {
			return err
		}
	}
	return nil
}

// check validates a value without setting it (SET LOCAL outside a
// transaction block).
func (s *Session) check(name, value string) *Error {
	key := strings.ToLower(name)
	if d := settings[key]; d != nil {
		_, err := d.canonical(s, value)
		return err
	}
	if !validCustomName(key) {
		return unrecognized(name)
	}
	return nil
}

// flattenArgs turns SET's value list into the setting's text as
// PostgreSQL's flatten_set_variable_args does: one value as written, a list
// only for list settings, joined with ", " and quoted as identifiers for
// search_path.
func flattenArgs(name string, args []*pg.Node) (string, *Error) {
	d := settings[strings.ToLower(name)]
	list := d != nil && d.list
	if len(args) > 1 && !list {
		return "", errorf(codeInvalidParamValue, "SET %s takes only one argument", name)
	}
	var parts []string
	for _, a := range args {
		if tc := a.GetTypeCast(); tc != nil {
			// SET TIME ZONE INTERVAL '...': the interval as interval_out
			// prints it (timezone.go reads it back).
			v, err := intervalSetting(tc)
			if err != nil {
				return "", err
			}
			parts = append(parts, v)
			continue
		}
		c := a.GetAConst()
		if c == nil {
			return "", unsupported("this SET value")
		}
		var s string
		switch v := c.Val.(type) {
		case *pg.A_Const_Sval:
			s = v.Sval.Sval
			if list {
				s = quoteIdent(s)
			}
		case *pg.A_Const_Ival:
			s = strconv.Itoa(int(v.Ival.Ival))
		case *pg.A_Const_Fval:
			s = v.Fval.Fval
		case *pg.A_Const_Boolval:
			s = strconv.FormatBool(v.Boolval.Boolval)
		default:
			return "", unsupported("this SET value")
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", "), nil
}

// quoteIdent quotes an identifier unless it is lower-case letters, digits
// and underscores not starting with a digit.
func quoteIdent(s string) string {
	safe := s != "" && !(s[0] >= '0' && s[0] <= '9') && !quotedKeyword(s)
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			safe = false
		}
	}
	if safe {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// sessionFn evaluates a session function (see analyzer.sessionFunc).
func sessionFn(op string, args []evalFn) evalFn {
	switch op {
	case "version":
		return func(*evalCtx) value { return value{s: version} }
	case "current_user":
		return func(x *evalCtx) value { return value{s: session(x).User} }
	case "current_database":
		return func(x *evalCtx) value { return value{s: session(x).Database} }
	case "current_schema":
		return func(x *evalCtx) value {
			if s := existingSchemas(session(x), false); len(s) > 0 {
				return value{s: s[0]}
			}
			return null
		}
	case "current_schemas":
		return func(x *evalCtx) value {
			implicit := args[0](x)
			if implicit.null {
				return null
			}
			return value{s: "{" + strings.Join(existingSchemas(session(x), isTrue(implicit)), ",") + "}"}
		}
	case "pg_backend_pid":
		return func(x *evalCtx) value { return value{n: int64(session(x).PID)} }
	case "pg_advisory_unlock_all":
		// A session of the status database takes no advisory lock: there
		// is none to release (asyncpg's pool runs it on every release).
		return func(*evalCtx) value { return value{} }
	case "current_setting":
		return func(x *evalCtx) value {
			name := args[0](x)
			missingOK := len(args) == 2 && isTrue(args[1](x))
			if name.null || len(args) == 2 && args[1](x).null {
				return null
			}
			v, err := session(x).show(name.s)
			if err != nil {
				if missingOK {
					return null
				}
				failErr(err)
			}
			return value{s: v}
		}
	case "set_config":
		return func(x *evalCtx) value {
			name, val, local := args[0](x), args[1](x), args[2](x)
			if name.null {
				fail(codeNullValue, "SET requires parameter name")
			}
			if local.null {
				return null
			}
			s := session(x)
			var err *Error
			if val.null {
				err = s.reset(name.s, isTrue(local))
			} else {
				err = s.set(name.s, val.s, isTrue(local))
			}
			if err != nil {
				failErr(err)
			}
			v, _ := s.show(name.s)
			return value{s: v}
		}
	}
	panic("statusdb: no session function " + op)
}

const codeNullValue = "22004"

// existingSchemas are the schemas of the session's search_path that
// exist, in order ("$user" names none: no role has a schema here), with
// pg_catalog first when implicit and not on the path, as PostgreSQL's
// current_schemas.
func existingSchemas(s *Session, implicit bool) []string {
	var out []string
	path := pathSchemas(s.get(settings["search_path"]))
	if implicit && !slices.Contains(path, "pg_catalog") {
		out = append(out, "pg_catalog")
	}
	for _, name := range path {
		switch name {
		case schemaName, "public", "pg_catalog", "information_schema":
			out = append(out, name)
		}
	}
	return out
}
