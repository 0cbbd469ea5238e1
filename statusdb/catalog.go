package statusdb

import (
	"encoding/binary"
	"maps"
	"math"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
)

// The catalogs: pg_catalog and information_schema relations that show the
// helios_proxy schema as PostgreSQL 15 shows a read-only schema of three
// ordinary tables, owned by the bootstrap superuser (OID 10, "postgres"),
// with USAGE on the schema and SELECT on the tables granted to PUBLIC and a
// comment on the schema, every table and every column. Their columns and
// types are PostgreSQL 15's (catalog_gen.go); their rows are built once
// from the tables map, so a column added there appears everywhere.

// catalogOIDBase is the OID of the helios_proxy schema; its tables, their
// row types and array types follow (see relOID). The range is far from
// the OIDs a backend assigns (from 16384 up), so a proxy can tell a
// catalog query about helios_proxy objects by the OIDs it names.
const catalogOIDBase uint32 = 4_000_000_000

// Built-in OIDs the catalogs refer to.
const (
	ownerOID         = 10 // the bootstrap superuser
	ownerName        = "postgres"
	pgCatalogOID     = 11
	pgToastOID       = 99
	publicOID        = 2200
	infoSchemaOID    = 13207 // assigned by initdb; PostgreSQL 15.18's
	pgDatabaseOwner  = 6171
	heapAMOID        = 2
	pgClassOID       = 1259
	pgNamespaceRelID = 2615
	collDefault      = 100
	collC            = 950
)

// statusDatabaseOID is the status database's OID in pg_database: fixed,
// below catalogOIDBase's range, which a proxy routes by (a backend's
// databases are its own business).
const statusDatabaseOID uint32 = catalogOIDBase - 1

// databaseComment is the status database's comment (pg_shdescription,
// shobj_description).
const databaseComment = "HeliosProxy status database: the proxy's own state, answered without a backend (read-only)"

// catalogRelOIDs are the fixed OIDs of PostgreSQL's catalog tables that
// tools name as 'pg_class'::regclass (as classoid in pg_description,
// pg_depend): PostgreSQL 15's.
var catalogRelOIDs = map[string]int64{
	"pg_type": 1247, "pg_attribute": 1249, "pg_proc": 1255, "pg_class": pgClassOID, "pg_authid": 1260,
	"pg_database": 1262, "pg_tablespace": 1213, "pg_am": 2601, "pg_attrdef": 2604, "pg_constraint": 2606,
	"pg_depend": 2608, "pg_description": 2609, "pg_index": 2610, "pg_inherits": 2611, "pg_namespace": pgNamespaceRelID,
	"pg_operator": 2617, "pg_rewrite": 2618, "pg_trigger": 2620, "pg_sequence": 2224, "pg_shdescription": 2396,
	"pg_extension": 3079, "pg_foreign_table": 3118, "pg_policy": 3256, "pg_partitioned_table": 3350,
	"pg_statistic_ext": 3381, "pg_collation": 3456, "pg_publication": 6104, "pg_aggregate": 2600, "pg_default_acl": 826,
}

// schemaComment is the helios_proxy schema's comment.
const schemaComment = "HeliosProxy circuit breaker status, answered by the proxy from its own state (read-only)"

// tableOrder is the order of the schema's tables in pg_class, which fixes
// their OIDs.
var tableOrder = []string{"circuit_breaker_status", "circuit_events", "backends", "cluster_members", "query_breakers", "cluster_circuits", "user_breakers"}

// relOID returns the pg_class OID of table i of tableOrder; the array
// type of its row type is relOID+1 and the row type relOID+2 (the order
// in which PostgreSQL assigns them).
func relOID(i int) uint32 { return catalogOIDBase + 1 + 3*uint32(i) }

const (
	aclSchema = "{postgres=UC/postgres,=U/postgres}"
	aclTable  = "{postgres=arwdDxt/postgres,=r/postgres}"
)

// namespaces are the rows of pg_namespace: the system schemas a new
// database has, public, and helios_proxy.
var namespaces = []struct {
	oid     uint32
	name    string
	owner   uint32
	acl     string
	comment string
}{
	{pgToastOID, "pg_toast", ownerOID, `\N`, "reserved schema for TOAST tables"},
	{pgCatalogOID, "pg_catalog", ownerOID, aclSchema, "system catalog schema"},
	{publicOID, "public", pgDatabaseOwner, "{pg_database_owner=UC/pg_database_owner,=U/pg_database_owner}", "standard public schema"},
	{infoSchemaOID, "information_schema", ownerOID, aclSchema, ""},
	{catalogOIDBase, schemaName, ownerOID, aclSchema, schemaComment},
}

// pgType is a row of the built-in pg_type (catalogTypeRows), by OID.
type pgType struct {
	name            string
	length          int
	byval           bool
	align, storage  string
	category, ttype string
	array, elem     uint32
	collation       uint32
	trueArray       bool // format_type's array: IsTrueArrayType, not plain (int2vector)
}

var builtinTypes = func() map[uint32]*pgType {
	m := map[uint32]*pgType{}
	for _, r := range catalogTypeRows {
		f := strings.Split(r, "\x1f")
		atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
		oid := uint32(atoi(f[0]))
		m[oid] = &pgType{name: f[1], length: atoi(f[4]), byval: f[5] == "t", ttype: f[6], category: f[7],
			elem: uint32(atoi(f[13])), array: uint32(atoi(f[14])), align: f[22], storage: f[23], collation: uint32(atoi(f[28])),
			trueArray: f[12] == "array_subscript_handler" && f[13] != "0" && f[23] != "p"}
	}
	return m
}()

// colOID is the PostgreSQL type OID of a column.
func (c *column) oid() uint32 {
	if c.pgt != 0 {
		return c.pgt
	}
	return c.typ.oid()
}

// typeForOID maps a catalog column's PostgreSQL type to the evaluator's
// type and, when it differs from that type's own, the pgt to report.
func typeForOID(oid uint32) (typ, uint32) {
	switch oid {
	case pgtype.BoolOID:
		return tBool, 0
	case pgtype.Int8OID:
		return tInt8, 0
	case pgtype.Int4OID:
		return tInt4, 0
	case pgtype.TextOID:
		return tText, 0
	case pgtype.Float8OID:
		return tFloat8, 0
	case pgtype.TimestamptzOID:
		return tTimestamptz, 0
	case pgtype.IntervalOID:
		return tInterval, 0
	case pgtype.Int2OID:
		return tInt4, oid
	case 13221: // information_schema.cardinal_number: RowDescription names a domain's base type
		return tInt4, 0
	case 13226: // sql_identifier
		return tText, pgtype.NameOID
	case 13224, 13234: // character_data, yes_or_no
		return tText, pgtype.VarcharOID
	case pgtype.Float4OID:
		return tFloat8, oid
	case pgtype.OIDOID, 2205, 2206, 4089, pgtype.XIDOID, pgtype.CIDOID:
		return tInt8, oid
	case 13232: // time_stamp
		return tTimestamptz, 0
	}
	return tText, oid // name, "char", varchar, arrays (as their text), pg_node_tree, regproc (its name), ...
}

// oidLike reports whether values of pgt are OIDs (4 bytes unsigned on
// the wire), and regKind whether one prints as a name.
func oidLike(pgt uint32) bool {
	switch pgt {
	case pgtype.OIDOID, 2205, 2206, 4089, pgtype.XIDOID, pgtype.CIDOID:
		return true
	}
	return false
}

// catalogs are the catalog relations by "schema.name".
var catalogs = map[string]*table{}

// catalogNames are the unqualified names of pg_catalog's relations, which
// resolve without a schema as pg_catalog is always searched first.
var catalogNames = map[string]*table{}

// lookupCatalog returns the catalog relation schema.name, or nil; an
// empty schema means pg_catalog's.
func lookupCatalog(schema, name string) *table {
	if schema == "" {
		return catalogNames[name]
	}
	return catalogs[schema+"."+name]
}

// catalogRows builds the rows of each catalog with rows, as text ("\N"
// for NULL).
func catalogRows() map[string][][]string {
	rows := map[string][][]string{}
	add := func(rel string, vals ...string) { rows[rel] = append(rows[rel], vals) }
	u := func(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
	b := func(v bool) string {
		if v {
			return "t"
		}
		return "f"
	}
	for _, n := range namespaces {
		add("pg_catalog.pg_namespace", u(n.oid), n.name, u(n.owner), n.acl)
		if n.comment != "" {
			add("pg_catalog.pg_description", u(n.oid), u(pgNamespaceRelID), "0", n.comment)
		}
	}
	// The status database is the only database: a proxy in front of
	// several servers has no one list of databases to show, and a client
	// connected here can reach no other through it. Its settings are
	// those of the clusters the tests make (initdb -E UTF8 --locale=C),
	// which are also how statusdb compares text (byte order, as under
	// COLLATE "C"); it holds no transaction IDs (datfrozenxid 0, as
	// relfrozenxid) and its ACL is the default (NULL: CONNECT and TEMP for
	// PUBLIC).
	add("pg_catalog.pg_database", u(statusDatabaseOID), dbMark, u(ownerOID), "6", "c", "f", "t", "-1", "0", "1", "1663",
		"C", "C", `\N`, `\N`, `\N`)
	add("pg_catalog.pg_shdescription", u(statusDatabaseOID), strconv.Itoa(int(catalogRelOIDs["pg_database"])), databaseComment)
	for i, name := range tableOrder {
		t := tables[name]
		rel := relOID(i)
		add("pg_catalog.pg_class", u(rel), name, u(catalogOIDBase), u(rel+2), "0", u(ownerOID), u(heapAMOID), u(rel), "0",
			"0", "-1", "0", "0", "f", "f", "p", "r", strconv.Itoa(len(t.cols)), "0", "f", "f", "f", "f", "f", "t", "d", "f",
			"0", "0", "0", aclTable, `\N`, `\N`)
		add("pg_catalog.pg_description", u(rel), u(pgClassOID), "0", t.doc)
		sys := []struct {
			name     string
			oid, num int
			len      int
			byval    bool
			align    string
		}{{"tableoid", 26, -6, 4, true, "i"}, {"cmax", 29, -5, 4, true, "i"}, {"xmax", 28, -4, 4, true, "i"},
			{"cmin", 29, -3, 4, true, "i"}, {"xmin", 28, -2, 4, true, "i"}, {"ctid", 27, -1, 6, false, "s"}}
		for _, s := range sys {
			add("pg_catalog.pg_attribute", u(rel), s.name, strconv.Itoa(s.oid), "0", strconv.Itoa(s.len), strconv.Itoa(s.num), "0", "-1", "-1",
				b(s.byval), s.align, "p", "", "t", "f", "f", "", "", "f", "t", "0", "0", `\N`, `\N`, `\N`, `\N`)
		}
		for j, c := range t.cols {
			ty := builtinTypes[c.oid()]
			coll := uint32(0)
			if ty.collation != 0 {
				coll = collC // text columns are COLLATE "C", the order statusdb compares in
			}
			add("pg_catalog.pg_attribute", u(rel), c.name, u(c.oid()), "-1", strconv.Itoa(ty.length), strconv.Itoa(j+1), "0", "-1", "-1",
				b(ty.byval), ty.align, ty.storage, "", "f", "f", "f", "", "", "f", "t", "0", u(coll), `\N`, `\N`, `\N`, `\N`)
			add("pg_catalog.pg_description", u(rel), u(pgClassOID), strconv.Itoa(j+1), c.doc)
		}
		add("pg_catalog.pg_type", u(rel+2), name, u(catalogOIDBase), u(ownerOID), "-1", "f", "c", "C", "f", "t", ",", u(rel), "-", "0", u(rel+1),
			"record_in", "record_out", "record_recv", "record_send", "-", "-", "-", "d", "x", "f", "0", "-1", "0", "0", `\N`, `\N`, `\N`)
		add("pg_catalog.pg_type", u(rel+1), "_"+name, u(catalogOIDBase), u(ownerOID), "-1", "f", "b", "A", "f", "t", ",", "0", "array_subscript_handler", u(rel+2), "0",
			"array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze", "d", "x", "f", "0", "-1", "0", "0", `\N`, `\N`, `\N`)
		add("pg_catalog.pg_tables", schemaName, name, ownerName, `\N`, "f", "f", "f", "f")
	}
	return rows
}

// infoSchema builds information_schema's relations over the helios_proxy
// tables; the database name comes from the session.
func infoSchemaRows() map[string][][]string {
	rows := map[string][][]string{}
	add := func(rel string, vals ...string) { rows[rel] = append(rows[rel], vals) }
	// The database name is filled in per execution (see catalogTable).
	for _, n := range namespaces {
		if n.oid == pgToastOID {
			continue // information_schema.schemata shows the schemas the user may use
		}
		owner := ownerName
		if n.oid == publicOID {
			owner = "pg_database_owner"
		}
		add("information_schema.schemata", dbMark, n.name, owner, `\N`, `\N`, `\N`, `\N`)
	}
	for _, name := range tableOrder {
		t := tables[name]
		add("information_schema.tables", dbMark, schemaName, name, "BASE TABLE", `\N`, `\N`, `\N`, `\N`, `\N`, "YES", "NO", `\N`)
		for j, c := range t.cols {
			add("information_schema.columns", infoColumn(name, j, c)...)
		}
	}
	return rows
}

// dbMark stands for the current database in information_schema's rows.
const dbMark = "\x00db"

func infoColumn(tbl string, j int, c column) []string {
	ty := builtinTypes[c.oid()]
	dataType := formatType(c.oid(), -1)
	num := func(p, radix, scale string) (string, string, string) { return p, radix, scale }
	prec, radix, scale := num(`\N`, `\N`, `\N`)
	dtPrec := `\N`
	switch c.typ {
	case tInt4:
		prec, radix, scale = num("32", "2", "0")
	case tInt8:
		prec, radix, scale = num("64", "2", "0")
	case tFloat8:
		prec, radix = "53", "2"
	case tTimestamptz, tInterval:
		dtPrec = "6"
	}
	octet := `\N`
	collCat, collSch, collName := `\N`, `\N`, `\N`
	if c.typ == tText {
		octet = "1073741824"
		collCat, collSch, collName = dbMark, "pg_catalog", "C"
	}
	return []string{dbMark, schemaName, tbl, c.name, strconv.Itoa(j + 1), `\N`, "YES", dataType, `\N`, octet, prec, radix, scale, dtPrec, `\N`, `\N`,
		`\N`, `\N`, `\N`, collCat, collSch, collName, `\N`, `\N`, `\N`, dbMark, "pg_catalog", ty.name, `\N`, `\N`, `\N`, `\N`, strconv.Itoa(j + 1),
		"NO", "NO", `\N`, `\N`, `\N`, `\N`, `\N`, "NO", "NEVER", `\N`, "YES"}
}

func init() {
	rows := catalogRows()
	for k, v := range infoSchemaRows() {
		rows[k] = v
	}
	// pg_type's built-in rows and their comments are generated apart
	// (catalog_types_gen.go, scripts/gen-catalog-types.sh): every built-in
	// type but the row types of system relations, which pg_class does not
	// list, so that a tool reading every type (DBeaver, on connect) gets
	// PostgreSQL's.
	// They come first, in a new cluster's heap order, which is the order
	// of a scan without ORDER BY; a database's own types follow them.
	static := maps.Clone(catalogStatic)
	static["pg_catalog.pg_type"] = catalogTypeRows
	static["pg_catalog.pg_description"] = catalogTypeComments
	for k, list := range static {
		var builtin [][]string
		for _, r := range list {
			builtin = append(builtin, strings.Split(r, "\x1f"))
		}
		rows[k] = append(builtin, rows[k]...)
	}
	for key, def := range catalogColumns {
		schema, name, _ := strings.Cut(key, ".")
		t := &table{name: name, nsp: schema}
		for _, cd := range strings.Split(def, ",") {
			n, o, _ := strings.Cut(cd, ":")
			oid, _ := strconv.ParseUint(o, 10, 32)
			ty, pgt := typeForOID(uint32(oid))
			col := column{name: n, typ: ty, pgt: pgt}
			switch oid {
			case 13234: // yes_or_no: varchar(3)
				col.mod = 3 + 4 + 1
			case 13232: // time_stamp: timestamptz(2)
				col.mod = 2 + 1
			}
			t.cols = append(t.cols, col)
		}
		data := make([][]value, len(rows[key]))
		dbCols := map[int]bool{}
		for i, r := range rows[key] {
			if len(r) != len(t.cols) {
				panic("statusdb: catalog " + key + ": " + strconv.Itoa(len(r)) + " values for " + strconv.Itoa(len(t.cols)) + " columns")
			}
			data[i] = make([]value, len(r))
			for j, s := range r {
				if s == dbMark {
					dbCols[j] = true
				}
				data[i][j] = catalogValue(t.cols[j].typ, s)
			}
		}
		for j := range t.cols {
			if dbCols[j] {
				t.cols[j].get = func(x *evalCtx) value { return value{s: session(x).Database} }
				continue
			}
			t.cols[j].get = func(x *evalCtx) value { return data[x.row][j] }
		}
		t.rows = func(*Input) int { return len(data) }
		catalogs[key] = t
		if schema == "pg_catalog" {
			catalogNames[name] = t
		}
	}
	catalogs["pg_catalog.pg_settings"] = settingsCatalog()
	catalogNames["pg_settings"] = catalogs["pg_catalog.pg_settings"]
	for i, name := range tableOrder {
		tables[name].oid = relOID(i)
	}
}

// catalogValue parses a catalog value's text.
func catalogValue(t typ, s string) value {
	if s == `\N` {
		return null
	}
	var v value
	var err *Error
	switch t {
	case tBool:
		v, err = parseBool(s)
	case tInt4, tInt8:
		v, err = parseInt(tInt8, s)
	case tFloat8:
		v, err = parseFloat8(s)
	default:
		v = value{s: s}
	}
	if err != nil {
		panic("statusdb: catalog value " + s + ": " + err.Message)
	}
	return v
}

// Names of objects by OID, for regclass, regtype, regnamespace output
// and the functions that take OIDs.

func relationByOID(oid int64) (*table, int) {
	for i, name := range tableOrder {
		if int64(relOID(i)) == oid {
			return tables[name], i
		}
	}
	return nil, -1
}

func namespaceName(oid int64) (string, bool) {
	for _, n := range namespaces {
		if int64(n.oid) == oid {
			return n.name, true
		}
	}
	return "", false
}

// regclassOut is regclass's output: the relation's name, qualified when
// its schema is not on the search path, or the number.
func regclassOut(oid int64, x *evalCtx) string {
	for name, o := range catalogRelOIDs {
		if o == oid {
			return name // pg_catalog is always on the path
		}
	}
	if t, _ := relationByOID(oid); t != nil {
		if schemaVisible(x, schemaName) {
			return quoteIdent(t.name)
		}
		return quoteIdent(schemaName) + "." + quoteIdent(t.name)
	}
	return strconv.FormatInt(oid, 10)
}

// schemaVisible reports whether schema is on the session's search_path
// (pg_catalog always is).
func schemaVisible(x *evalCtx, schema string) bool {
	if schema == "pg_catalog" {
		return true
	}
	for _, s := range searchPath(x) {
		if s == schema {
			return true
		}
	}
	return false
}

// searchPath returns the schemas of search_path that exist, in order.
func searchPath(x *evalCtx) []string {
	sp, _ := session(x).show("search_path")
	var out []string
	for _, s := range pathSchemas(sp) {
		if s == "$user" {
			s = session(x).User
		}
		if _, ok := namespaceOID(s); ok {
			out = append(out, s)
		}
	}
	return out
}

func namespaceOID(name string) (uint32, bool) {
	for _, n := range namespaces {
		if n.name == name {
			return n.oid, true
		}
	}
	return 0, false
}

// regclassIn looks up a relation name as regclass's input does.
func regclassIn(x *evalCtx, s string) (int64, bool) {
	parts, ok := splitQualified(s)
	if !ok {
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	var schemas []string
	switch len(parts) {
	case 1:
		schemas = append([]string{"pg_catalog"}, searchPath(x)...)
	case 2:
		schemas = parts[:1]
	default:
		return 0, false
	}
	name := parts[len(parts)-1]
	for _, sch := range schemas {
		if sch == "pg_catalog" {
			if oid, ok := catalogRelOIDs[name]; ok {
				return oid, true
			}
		}
		if sch != schemaName {
			continue
		}
		for i, tn := range tableOrder {
			if tn == name {
				return int64(relOID(i)), true
			}
		}
	}
	return 0, false
}

// splitQualified splits a possibly quoted, dotted name as PostgreSQL's
// stringToQualifiedNameList does (unquoted parts are lowercased).
func splitQualified(s string) ([]string, bool) {
	var parts []string
	s = strings.TrimSpace(s)
	for {
		var part string
		if strings.HasPrefix(s, `"`) {
			end := 1
			var b strings.Builder
			for {
				i := strings.IndexByte(s[end:], '"')
				if i < 0 {
					return nil, false
				}
				b.WriteString(s[end : end+i])
				end += i + 1
				if end < len(s) && s[end] == '"' {
					b.WriteByte('"')
					end++
					continue
				}
				break
			}
			part, s = b.String(), s[end:]
		} else {
			i := strings.IndexByte(s, '.')
			if i < 0 {
				i = len(s)
			}
			part, s = strings.ToLower(strings.TrimSpace(s[:i])), s[i:]
			if part == "" {
				return nil, false
			}
		}
		parts = append(parts, part)
		s = strings.TrimSpace(s)
		if s == "" {
			return parts, true
		}
		if s[0] != '.' {
			return nil, false
		}
		s = strings.TrimSpace(s[1:])
	}
}

// formatType is format_type(oid, typmod) for the types the catalogs know.
func formatType(oid uint32, typmod int64) string {
	if name, ok := charTypeName(oid, typmod); ok {
		return name
	}
	switch oid {
	case pgtype.BoolOID:
		return "boolean"
	case pgtype.Int2OID:
		return "smallint"
	case pgtype.Int4OID:
		return "integer"
	case pgtype.Int8OID:
		return "bigint"
	case pgtype.Float4OID:
		return "real"
	case pgtype.Float8OID:
		return "double precision"
	case pgtype.TimestamptzOID:
		return "timestamp" + precision(typmod) + " with time zone"
	case pgtype.TimestampOID:
		return "timestamp" + precision(typmod) + " without time zone"
	case 1083:
		return "time" + precision(typmod) + " without time zone"
	case 1266:
		return "time" + precision(typmod) + " with time zone"
	case 1186:
		return "interval" + intervalTypmod(typmod)
	case 1560: // bit; bit(-1) is not bit(1), so format_type quotes it
		if typmod >= 0 {
			return "bit(" + strconv.FormatInt(typmod, 10) + ")"
		}
		return "bit"
	case 1562:
		if typmod >= 0 {
			return "bit varying(" + strconv.FormatInt(typmod, 10) + ")"
		}
		return "bit varying"
	case pgtype.VarcharOID:
		if typmod >= 4 {
			return "character varying(" + strconv.FormatInt(typmod-4, 10) + ")"
		}
		return "character varying"
	case 18:
		return `"char"`
	case pgtype.NumericOID:
		if typmod >= 4 {
			t := typmod - 4
			return "numeric(" + strconv.FormatInt(t>>16&0xffff, 10) + "," + strconv.FormatInt(t&0xffff, 10) + ")"
		}
		return "numeric"
	}
	if ty := builtinTypes[oid]; ty != nil {
		if ty.trueArray {
			return formatType(ty.elem, typmod) + "[]"
		}
		name := quoteIdent(ty.name)
		if oid >= 13000 && oid < 16384 {
			return "information_schema." + name
		}
		return name
	}
	for i, name := range tableOrder {
		switch oid {
		case relOID(i) + 2:
			return qualifiedIfHidden(name)
		case relOID(i) + 1:
			return qualifiedIfHidden(name) + "[]"
		}
	}
	return "???"
}

// precision is the (p) format_type writes after time and timestamp for a
// typmod, nothing without one.
func precision(typmod int64) string {
	if typmod < 0 {
		return ""
	}
	return "(" + strconv.FormatInt(typmod, 10) + ")"
}

// intervalTypmod is intervaltypmodout's text: the fields, then the
// precision.
func intervalTypmod(typmod int64) string {
	if typmod < 0 {
		return ""
	}
	const year, month, day, hour, minute, second = 1 << 2, 1 << 1, 1 << 3, 1 << 10, 1 << 11, 1 << 12
	fields := map[int64]string{year: " year", month: " month", day: " day", hour: " hour", minute: " minute", second: " second",
		year | month: " year to month", day | hour: " day to hour", day | hour | minute: " day to minute",
		day | hour | minute | second: " day to second", hour | minute: " hour to minute",
		hour | minute | second: " hour to second", minute | second: " minute to second"}[typmod>>16&0x7fff]
	if p := typmod & 0xffff; p != 0xffff {
		return fields + "(" + strconv.FormatInt(p, 10) + ")"
	}
	return fields
}

// qualifiedIfHidden names a helios_proxy object as format_type does when
// the schema is not on the search path (format_type cannot see the
// session: it assumes the default search_path).
func qualifiedIfHidden(name string) string { return schemaName + "." + quoteIdent(name) }

// typeNameIn looks up a type name as regtype's input does, for the types
// the catalogs know.
func typeNameIn(s string) (int64, bool) {
	if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
		return n, true
	}
	name := strings.ToLower(strings.Join(strings.Fields(s), " "))
	name = strings.TrimPrefix(name, "pg_catalog.")
	alias := map[string]uint32{"integer": 23, "int": 23, "smallint": 21, "bigint": 20, "boolean": 16, "double precision": 701,
		"real": 700, "timestamp with time zone": 1184, "timestamp without time zone": 1114, "timestamp": 1114,
		"character varying": 1043, `"char"`: 18, "float": 701, "decimal": 1700}
	if o, ok := alias[name]; ok {
		return int64(o), true
	}
	for oid, ty := range builtinTypes {
		if ty.name == name && (oid < 13000 || oid >= 16384) {
			return int64(oid), true
		}
	}
	return 0, false
}

// specialWire reports whether values of the type oid go to the wire
// otherwise than as their evaluator type's (appendSpecial).
func specialWire(oid uint32) bool {
	switch oid {
	case pgtype.Int2OID, pgtype.Float4OID, 1034, 18:
		return true
	case 22, 30: // int2vector and oidvector are held as their text form
		return false
	}
	if extWire(oid) {
		return true
	}
	return oidLike(oid) || heldElem[oid] != 0
}

// regName is a regclass, regtype or regnamespace value in a Result: its
// name for the text format, its OID for the binary one.
type regName struct {
	oid  int64
	name string
}

// regOut is the text output of an OID-like value of type oid.
func regOut(oid uint32, n int64, x *evalCtx) string {
	switch oid {
	case 2205:
		return regclassOut(n, x)
	case 2206:
		if n == 0 {
			return "-"
		}
		return formatType(uint32(n), -1)
	case 4089:
		if name, ok := namespaceName(n); ok {
			return quoteIdent(name)
		}
	}
	return strconv.FormatInt(n, 10)
}

func boxSpecial(oid uint32, v value, x *evalCtx) any {
	if extWire(oid) {
		return boxExt(oid, v, x)
	}
	switch oid {
	case 2205, 2206, 4089:
		return regName{oid: v.n, name: regOut(oid, v.n, x)}
	case 1034, 18:
		return v.s
	}
	if heldElem[oid] != 0 {
		return v.s
	}
	switch oid {
	case pgtype.Float4OID:
		return v.f
	}
	return v.n
}

// appendSpecial is appendWire for a column of type oid (specialWire).
func appendSpecial(dst []byte, oid uint32, v *value, x *evalCtx, format int16) ([]byte, bool, error) {
	if format != 0 && format != 1 {
		return dst, false, errorf(codeInvalidParamValue, "unsupported format code: %d", format)
	}
	if v.null {
		return dst, false, nil
	}
	if extWire(oid) {
		return appendExtWire(dst, oid, v, x, format), true, nil
	}
	switch {
	case heldElem[oid] != 0 && format == 0:
		return append(dst, v.s...), true, nil
	case heldElem[oid] != 0:
		return arraySend(dst, oid, v.s, x.loc)
	case oid == 18 && format == 1 && v.s == "":
		return append(dst, 0), true, nil // "char" '\0', which prints as ''
	case oid == 18 || oid == 1034 && format == 0:
		return append(dst, v.s...), true, nil
	case oid == 1034:
		return dst, false, errorf(codeUndefinedFunction, "no binary output function available for type aclitem")
	case format == 0 && oid == pgtype.Float4OID:
		return append(dst, float4Text(v.f)...), true, nil
	case format == 0:
		return append(dst, regOut(oid, v.n, x)...), true, nil
	case oid == pgtype.Int2OID:
		return binary.BigEndian.AppendUint16(dst, uint16(int16(v.n))), true, nil
	case oid == pgtype.Float4OID:
		return binary.BigEndian.AppendUint32(dst, math.Float32bits(float32(v.f))), true, nil
	}
	return binary.BigEndian.AppendUint32(dst, uint32(v.n)), true, nil
}
