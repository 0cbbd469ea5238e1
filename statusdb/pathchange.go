package statusdb

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// A session on a backend database resolves unqualified names of
// helios_proxy's tables through its search_path (searchpath.go), which
// PostgreSQL does not report in ParameterStatus: the caller follows it
// from the statements it relays and their outcome. PathChanges tells it
// what a statement does to the path and to the transaction that makes
// such a change last or undoes it.

// PathChangeKind is what a statement does that matters to the
// search_path a session sees.
type PathChangeKind uint8

const (
	PathSet      PathChangeKind = iota + 1 // SET [SESSION|LOCAL] search_path, RESET, SET ... DEFAULT, set_config
	PathResetAll                           // RESET ALL, DISCARD ALL: every setting to its default
	TxBegin                                // BEGIN, START TRANSACTION
	TxCommit                               // COMMIT, END
	TxRollback                             // ROLLBACK, ABORT
	TxSavepoint                            // SAVEPOINT, RELEASE, ROLLBACK TO: the caller cannot follow these exactly
)

// PathChange is one statement's PathChangeKind; for PathSet the new value
// as SHOW search_path would print it ("" for the default) and whether it
// is SET LOCAL (or set_config's is_local).
type PathChange struct {
	Kind  PathChangeKind
	Path  string
	Local bool
}

// MayChangePath is the hot-path check, for a session whose search_path
// differs from the default: could sql change it back (search_path, RESET,
// DISCARD)? False positives cost a parse (PathChanges).
func MayChangePath(sql []byte) bool {
	return containsFold(sql, "search_path") || containsFold(sql, "reset") || containsFold(sql, "discard")
}

// MentionsPath reports whether sql may set a search_path that resolves
// helios_proxy's tables: it names both.
func MentionsPath(sql []byte) bool {
	return containsFold(sql, "search_path") && Mentions(sql)
}

// PathChanges returns, for each statement of a Query's (or Parse's) text
// in order, what it does to the search_path or the transaction (Kind 0
// for neither). A text PostgreSQL cannot parse changes nothing.
func PathChanges(sql string) []PathChange {
	tree, err := parse(sql)
	if err != nil {
		return nil
	}
	out := make([]PathChange, len(tree.Stmts))
	for i, raw := range tree.Stmts {
		out[i] = pathChange(raw.Stmt)
	}
	return out
}

func pathChange(n *pg.Node) PathChange {
	switch v := n.Node.(type) {
	case *pg.Node_VariableSetStmt:
		s := v.VariableSetStmt
		switch {
		case s.Kind == pg.VariableSetKind_VAR_RESET_ALL:
			return PathChange{Kind: PathResetAll}
		case !strings.EqualFold(s.Name, "search_path"):
			return PathChange{}
		case s.Kind == pg.VariableSetKind_VAR_SET_VALUE:
			path, err := flattenArgs(s.Name, s.Args)
			if err != nil {
				return PathChange{}
			}
			return PathChange{Kind: PathSet, Path: path, Local: s.IsLocal}
		case s.Kind == pg.VariableSetKind_VAR_SET_DEFAULT || s.Kind == pg.VariableSetKind_VAR_RESET:
			return PathChange{Kind: PathSet, Local: s.IsLocal}
		}
	case *pg.Node_DiscardStmt:
		if v.DiscardStmt.Target == pg.DiscardMode_DISCARD_ALL {
			return PathChange{Kind: PathResetAll}
		}
	case *pg.Node_TransactionStmt:
		switch v.TransactionStmt.Kind {
		case pg.TransactionStmtKind_TRANS_STMT_BEGIN, pg.TransactionStmtKind_TRANS_STMT_START:
			return PathChange{Kind: TxBegin}
		case pg.TransactionStmtKind_TRANS_STMT_COMMIT:
			return PathChange{Kind: TxCommit}
		case pg.TransactionStmtKind_TRANS_STMT_ROLLBACK:
			return PathChange{Kind: TxRollback}
		case pg.TransactionStmtKind_TRANS_STMT_SAVEPOINT, pg.TransactionStmtKind_TRANS_STMT_RELEASE, pg.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
			return PathChange{Kind: TxSavepoint}
		}
	case *pg.Node_SelectStmt:
		return setConfigPath(v.SelectStmt)
	}
	return PathChange{}
}

// setConfigPath is SELECT set_config('search_path', 'value', is_local)
// with constants, alone in its select list and without FROM.
func setConfigPath(s *pg.SelectStmt) PathChange {
	if len(s.TargetList) != 1 || len(s.FromClause) > 0 || s.WhereClause != nil || s.Op != pg.SetOperation_SETOP_NONE {
		return PathChange{}
	}
	f := s.TargetList[0].GetResTarget().GetVal().GetFuncCall()
	if f == nil || opName(f.Funcname) != "set_config" || len(f.Args) != 3 {
		return PathChange{}
	}
	name, ok1 := constString(f.Args[0])
	value, ok2 := constString(f.Args[1])
	local := f.Args[2].GetAConst().GetBoolval()
	if !ok1 || !ok2 || local == nil || !strings.EqualFold(name, "search_path") {
		return PathChange{}
	}
	return PathChange{Kind: PathSet, Path: value, Local: local.Boolval}
}

// constString is a string literal, possibly cast to text.
func constString(n *pg.Node) (string, bool) {
	if tc := n.GetTypeCast(); tc != nil {
		n = tc.Arg
	}
	c := n.GetAConst()
	if c == nil {
		return "", false
	}
	if s, ok := c.Val.(*pg.A_Const_Sval); ok {
		return s.Sval.Sval, true
	}
	return "", false
}
