package statusdb

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// search_path: an unqualified name of a helios_proxy table (backends,
// circuit_events, circuit_breaker_status) names that table when the
// session's search_path would lead PostgreSQL to it. On a backend
// database that is when helios_proxy is the first schema of the path
// (pg_catalog aside, which holds no such names): a schema before it, even
// "$user", may hold a table of the same name there. On the status
// database, where no other schema holds a table, it is wherever
// helios_proxy is on the path. Such names are qualified in the parse tree
// before anything else looks at it (unless a WITH of the statement
// defines the name), so a statement on them is ours like one that names
// helios_proxy.

// ResolvesOnPath reports whether unqualified names of helios_proxy tables
// resolve to them under searchPath (the search_path setting's value as
// SHOW prints it), on the status database when standalone, else on a
// backend database. A caller whose session's path resolves them checks
// MentionsTable besides Mentions, and prepares with PrepareOnPath.
func ResolvesOnPath(searchPath string, standalone bool) bool {
	for _, s := range pathSchemas(searchPath) {
		switch {
		case s == schemaName:
			return true
		case !standalone && s != "pg_catalog":
			return false
		}
	}
	return false
}

// pathSchemas splits a search_path value into schema names: quoted ones
// as written, others folded to lower case; "$user" stays as it is.
func pathSchemas(searchPath string) []string {
	var out []string
	for _, s := range strings.Split(searchPath, ",") {
		s = strings.TrimSpace(s)
		if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
			s = strings.ReplaceAll(s[1:len(s)-1], `""`, `"`)
		} else {
			s = strings.ToLower(s)
		}
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// MentionsTable is the hot-path check for a session whose search_path
// resolves helios_proxy's tables (ResolvesOnPath): does the text contain
// the name of one, in any letter case? Like Mentions, it may say yes for
// a name in a string or comment (Prepare then returns ErrNotStatusQuery).
func MentionsTable(sql []byte) bool {
	for _, name := range tableOrder {
		if containsFold(sql, name) {
			return true
		}
	}
	return false
}

func containsFold(b []byte, name string) bool {
	for i := 0; i+len(name) <= len(b); i++ {
		j := 0
		for ; j < len(name); j++ {
			c := b[i+j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != name[j] {
				break
			}
		}
		if j == len(name) {
			return true
		}
	}
	return false
}

// PrepareOnPath is PrepareTyped for a session of a backend database
// whose search_path is searchPath (the setting's value as SHOW prints
// it): unqualified names of helios_proxy tables name them when
// ResolvesOnPath(searchPath, false). The status database needs no such
// call: PrepareStandalone takes such names for helios_proxy's tables, and
// the statement's Check requires helios_proxy on Input.Session's
// search_path, as PostgreSQL would find them there only.
func (db *DB) PrepareOnPath(sql string, paramOIDs []uint32, searchPath string) (*Stmt, error) {
	if !ResolvesOnPath(searchPath, false) {
		return db.PrepareTyped(sql, paramOIDs)
	}
	return db.prepareCached(sql, paramOIDs, prepOnPath)
}

// prepMode says how a statement is prepared.
type prepMode uint8

const (
	prepStandalone prepMode = 1 << iota // for the status database
	prepOnPath                          // unqualified names of helios_proxy's tables name them
	prepCursor                          // FETCH, MOVE or CLOSE on a backend database (PrepareCursor)
)

// qualifyOnPath qualifies the unqualified names of helios_proxy tables in
// a statement with helios_proxy, except names a WITH in it defines; it
// returns the first it qualified ("" for none) and its location (-1 in a
// DROP, where PostgreSQL reports none).
func qualifyOnPath(stmt *pg.Node) (first string, loc int32) {
	ctes := map[string]bool{}
	walk(stmt.ProtoReflect(), func(m protoreflect.Message) {
		if c, ok := m.Interface().(*pg.CommonTableExpr); ok {
			ctes[c.Ctename] = true
		}
	})
	walk(stmt.ProtoReflect(), func(m protoreflect.Message) {
		switch v := m.Interface().(type) {
		case *pg.RangeVar:
			if v.Schemaname == "" && v.Catalogname == "" && tables[v.Relname] != nil && !ctes[v.Relname] {
				v.Schemaname = schemaName
				if first == "" {
					first, loc = v.Relname, v.Location
				}
			}
		case *pg.DropStmt:
			for _, o := range v.Objects {
				if l := o.GetList(); l != nil && len(l.Items) == 1 && tables[l.Items[0].GetString_().GetSval()] != nil {
					if first == "" {
						first, loc = l.Items[0].GetString_().GetSval(), -1
					}
					l.Items = append([]*pg.Node{pg.MakeStrNode(schemaName)}, l.Items...)
				}
			}
		}
	})
	return first, loc
}

// walk calls f for m and every message below it.
func walk(m protoreflect.Message, f func(protoreflect.Message)) {
	f(m)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Message() == nil:
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				walk(l.Get(i).Message(), f)
			}
		case !fd.IsMap():
			walk(v.Message(), f)
		}
		return true
	})
}

// checkPath is Check's part for a statement of the status database whose
// unqualified names were taken for helios_proxy's tables: PostgreSQL
// finds them only when helios_proxy is on the session's search_path.
func (s *Stmt) checkPath(in Input) error {
	ses := in.Session
	if ses == nil {
		ses, _ = NewSession("", "", 0, nil)
	}
	path, _ := ses.show("search_path")
	if ResolvesOnPath(path, true) {
		return nil
	}
	err := errorf(codeUndefinedTable, "relation %q does not exist", s.pathName)
	if s.pathLoc >= 0 {
		err = err.at(s.sql, s.pathLoc)
	}
	return err
}
