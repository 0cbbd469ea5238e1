package statusdb

import (
	pg "github.com/pganalyze/pg_query_go/v6"
)

// Changes to the helios_proxy schema and its tables (DDL, GRANT, COMMENT)
// are answered as PostgreSQL answers them for an ordinary role that owns
// neither, which is what a client is taken to be (doc.go § Catalogs):
// refused with 42501 ("must be owner of table backends", "permission
// denied for schema helios_proxy"), 42P01 for a table that does not
// exist, 42809 for the wrong kind of object; GRANT and REVOKE succeed
// and change nothing, with PostgreSQL's WARNING. They never reach a
// backend, and nothing in the schema changes.

// ddl answers a statement that changes the helios_proxy schema or one of
// its tables; ok is false for any other statement.
func ddl(sql string, n *pg.Node) (st *Stmt, err *Error, ok bool) {
	switch v := n.Node.(type) {
	case *pg.Node_DropStmt:
		return dropStmt(sql, v.DropStmt)
	case *pg.Node_AlterTableStmt:
		return onRelation(sql, v.AlterTableStmt.Relation, v.AlterTableStmt.MissingOk, "ALTER TABLE")
	case *pg.Node_RenameStmt:
		r := v.RenameStmt
		if r.RenameType == pg.ObjectType_OBJECT_SCHEMA {
			return onSchema(r.Subname)
		}
		return onRelation(sql, r.Relation, r.MissingOk, "ALTER TABLE")
	case *pg.Node_AlterObjectSchemaStmt:
		return onRelation(sql, v.AlterObjectSchemaStmt.Relation, v.AlterObjectSchemaStmt.MissingOk, "ALTER TABLE")
	case *pg.Node_AlterOwnerStmt:
		if v.AlterOwnerStmt.ObjectType == pg.ObjectType_OBJECT_SCHEMA {
			return onSchema(v.AlterOwnerStmt.Object.GetString_().GetSval())
		}
	case *pg.Node_IndexStmt:
		return onRelation(sql, v.IndexStmt.Relation, false, "")
	case *pg.Node_CreateStmt:
		return createIn(sql, v.CreateStmt.Relation, true)
	case *pg.Node_ViewStmt:
		return createIn(sql, v.ViewStmt.View, false)
	case *pg.Node_CreateTableAsStmt:
		return createIn(sql, v.CreateTableAsStmt.GetInto().GetRel(), false)
	case *pg.Node_CreateSeqStmt:
		return createIn(sql, v.CreateSeqStmt.Sequence, false)
	case *pg.Node_GrantStmt:
		return grantStmt(sql, v.GrantStmt)
	case *pg.Node_CommentStmt:
		return commentStmt(v.CommentStmt)
	}
	return nil, nil, false
}

// heliosName reports whether qualified names (schema, relation[, column])
// name something in helios_proxy, and the relation's table (nil when
// there is none of that name).
func heliosName(names []*pg.Node) (rel string, tbl *table, ok bool) {
	if len(names) < 2 || names[0].GetString_().GetSval() != schemaName {
		return "", nil, false
	}
	rel = names[1].GetString_().GetSval()
	return rel, tables[rel], true
}

func notOwner(kind, name string) *Error {
	return errorf(codeInsufficientPriv, "must be owner of %s %s", kind, name)
}

func onSchema(name string) (*Stmt, *Error, bool) {
	if name != schemaName {
		return nil, nil, false
	}
	return nil, notOwner("schema", schemaName), true
}

// onRelation answers ALTER TABLE, ALTER ... RENAME and CREATE INDEX on a
// relation: the owner's privilege is checked once the relation is found.
func onRelation(sql string, rv *pg.RangeVar, missingOK bool, tag string) (*Stmt, *Error, bool) {
	if rv == nil || rv.Schemaname != schemaName {
		return nil, nil, false
	}
	switch {
	case tables[rv.Relname] != nil:
		return nil, notOwner("table", rv.Relname), true
	case missingOK:
		return &Stmt{sql: sql, tag: tag}, nil, true
	}
	return nil, errorf(codeUndefinedTable, "relation \"%s.%s\" does not exist", schemaName, rv.Relname), true
}

// createIn answers CREATE TABLE, VIEW, SEQUENCE and CREATE TABLE AS in
// helios_proxy, where the role has no CREATE privilege; PostgreSQL
// points at the name for CREATE TABLE only.
func createIn(sql string, rv *pg.RangeVar, at bool) (*Stmt, *Error, bool) {
	if rv == nil || rv.Schemaname != schemaName {
		return nil, nil, false
	}
	err := errorf(codeInsufficientPriv, "permission denied for schema %s", schemaName)
	if at {
		err = err.at(sql, rv.Location)
	}
	return nil, err, true
}

// dropKinds name the relation kinds DROP removes, as PostgreSQL's
// messages spell them, with the article of "is not a/an".
var dropKinds = map[pg.ObjectType][2]string{
	pg.ObjectType_OBJECT_TABLE:         {"table", "a"},
	pg.ObjectType_OBJECT_VIEW:          {"view", "a"},
	pg.ObjectType_OBJECT_MATVIEW:       {"materialized view", "a"},
	pg.ObjectType_OBJECT_INDEX:         {"index", "an"},
	pg.ObjectType_OBJECT_SEQUENCE:      {"sequence", "a"},
	pg.ObjectType_OBJECT_FOREIGN_TABLE: {"foreign table", "a"},
}

func dropStmt(sql string, d *pg.DropStmt) (*Stmt, *Error, bool) {
	if d.RemoveType == pg.ObjectType_OBJECT_SCHEMA {
		for _, o := range d.Objects {
			if st, err, ok := onSchema(o.GetString_().GetSval()); ok {
				return st, err, ok
			}
		}
		return nil, nil, false
	}
	kind, known := dropKinds[d.RemoveType]
	if !known {
		return nil, nil, false
	}
	ours := false
	for _, o := range d.Objects {
		rel, tbl, ok := heliosName(o.GetList().GetItems())
		if !ok {
			continue
		}
		ours = true
		switch {
		case tbl != nil && d.RemoveType == pg.ObjectType_OBJECT_TABLE:
			return nil, notOwner("table", rel), true
		case tbl != nil:
			return nil, &Error{Code: codeWrongObjectType, Message: "\"" + rel + "\" is not " + kind[1] + " " + kind[0],
				Hint: "Use DROP TABLE to remove a table."}, true
		case !d.MissingOk:
			return nil, errorf(codeUndefinedTable, "%s \"%s\" does not exist", kind[0], rel), true
		}
	}
	if !ours {
		return nil, nil, false
	}
	return &Stmt{sql: sql, tag: "DROP " + asciiUpper(kind[0])}, nil, true
}

// grantStmt answers GRANT and REVOKE on helios_proxy's tables or schema:
// the role holds no grant option, so PostgreSQL changes nothing and
// warns for each object.
func grantStmt(sql string, g *pg.GrantStmt) (*Stmt, *Error, bool) {
	var names []string
	switch {
	case g.Targtype == pg.GrantTargetType_ACL_TARGET_ALL_IN_SCHEMA:
		for _, o := range g.Objects {
			if o.GetString_().GetSval() == schemaName && g.Objtype == pg.ObjectType_OBJECT_TABLE {
				names = append(names, tableOrder...)
			}
		}
	case g.Objtype == pg.ObjectType_OBJECT_SCHEMA:
		for _, o := range g.Objects {
			if o.GetString_().GetSval() == schemaName {
				names = append(names, schemaName)
			}
		}
	case g.Objtype == pg.ObjectType_OBJECT_TABLE:
		for _, o := range g.Objects {
			rv := o.GetRangeVar()
			if rv == nil || rv.Schemaname != schemaName {
				continue
			}
			if tables[rv.Relname] == nil {
				return nil, errorf(codeUndefinedTable, "relation \"%s.%s\" does not exist", schemaName, rv.Relname), true
			}
			names = append(names, rv.Relname)
		}
	}
	if len(names) == 0 {
		return nil, nil, false
	}
	tag, warning := "GRANT", "no privileges were granted for "
	if !g.IsGrant {
		tag, warning = "REVOKE", "no privileges could be revoked for "
	}
	return &Stmt{sql: sql, tag: tag, utility: func(s *Session) *Error {
		for _, n := range names {
			s.notices = append(s.notices, Notice{Severity: "WARNING", Code: "01007", Message: warning + `"` + n + `"`})
		}
		return nil
	}}, nil, true
}

// commentStmt answers COMMENT ON TABLE, COLUMN and SCHEMA.
func commentStmt(c *pg.CommentStmt) (*Stmt, *Error, bool) {
	switch c.Objtype {
	case pg.ObjectType_OBJECT_SCHEMA:
		return onSchema(c.Object.GetString_().GetSval())
	case pg.ObjectType_OBJECT_TABLE, pg.ObjectType_OBJECT_COLUMN:
		rel, tbl, ok := heliosName(c.Object.GetList().GetItems())
		if !ok {
			return nil, nil, false
		}
		if tbl == nil {
			return nil, errorf(codeUndefinedTable, "relation \"%s.%s\" does not exist", schemaName, rel), true
		}
		if c.Objtype == pg.ObjectType_OBJECT_COLUMN {
			return nil, notOwner("relation", rel), true
		}
		return nil, notOwner("table", rel), true
	}
	return nil, nil, false
}
