package statusdb

import (
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
)

// pg_catalog.pg_settings on the status database: a row per setting the
// session knows (settingList) that PostgreSQL 15 shows there, in
// PostgreSQL's order (by name, ignoring case). setting is the session's
// value; the description of each setting (unit, category, context,
// vartype, bounds, enumvals) is PostgreSQL 15.18's (settingMeta,
// generated from a real cluster). boot_val and reset_val are the status
// database's defaults, source is "default" or, once the value differs,
// "session"; sourcefile and sourceline are NULL (as PostgreSQL shows them
// to a role that is not a superuser) and pending_restart false. JDBC's
// getImportedKeys reads max_index_keys from it.

// settingMeta describes a setting as pg_settings does ("" for NULL).
type settingMeta struct {
	unit, category, extra, context, vartype, min, max, enumvals string
}

var settingMetas = map[string]settingMeta{
	"application_name":                    {"", "Reporting and Logging / What to Log", "", "user", "string", "", "", ""},
	"bytea_output":                        {"", "Client Connection Defaults / Statement Behavior", "", "user", "enum", "", "", "{escape,hex}"},
	"client_encoding":                     {"", "Client Connection Defaults / Locale and Formatting", "", "user", "string", "", "", ""},
	"client_min_messages":                 {"", "Client Connection Defaults / Statement Behavior", "Each level includes all the levels that follow it. The later the level, the fewer messages are sent.", "user", "enum", "", "", "{debug5,debug4,debug3,debug2,debug1,log,notice,warning,error}"},
	"DateStyle":                           {"", "Client Connection Defaults / Locale and Formatting", "Also controls interpretation of ambiguous date inputs.", "user", "string", "", "", ""},
	"default_transaction_deferrable":      {"", "Client Connection Defaults / Statement Behavior", "", "user", "bool", "", "", ""},
	"default_transaction_isolation":       {"", "Client Connection Defaults / Statement Behavior", "", "user", "enum", "", "", "{serializable,\"repeatable read\",\"read committed\",\"read uncommitted\"}"},
	"default_transaction_read_only":       {"", "Client Connection Defaults / Statement Behavior", "", "user", "bool", "", "", ""},
	"extra_float_digits":                  {"", "Client Connection Defaults / Locale and Formatting", "This affects real, double precision, and geometric data types. A zero or negative parameter value is added to the standard number of digits (FLT_DIG or DBL_DIG as appropriate). Any value greater than zero selects precise output mode.", "user", "integer", "-15", "3", ""},
	"idle_in_transaction_session_timeout": {"ms", "Client Connection Defaults / Statement Behavior", "A value of 0 turns off the timeout.", "user", "integer", "0", "2147483647", ""},
	"idle_session_timeout":                {"ms", "Client Connection Defaults / Statement Behavior", "A value of 0 turns off the timeout.", "user", "integer", "0", "2147483647", ""},
	"in_hot_standby":                      {"", "Preset Options", "", "internal", "bool", "", "", ""},
	"integer_datetimes":                   {"", "Preset Options", "", "internal", "bool", "", "", ""},
	"IntervalStyle":                       {"", "Client Connection Defaults / Locale and Formatting", "", "user", "enum", "", "", "{postgres,postgres_verbose,sql_standard,iso_8601}"},
	"lock_timeout":                        {"ms", "Client Connection Defaults / Statement Behavior", "A value of 0 turns off the timeout.", "user", "integer", "0", "2147483647", ""},
	"max_identifier_length":               {"", "Preset Options", "", "internal", "integer", "63", "63", ""},
	"max_index_keys":                      {"", "Preset Options", "", "internal", "integer", "32", "32", ""},
	"search_path":                         {"", "Client Connection Defaults / Statement Behavior", "", "user", "string", "", "", ""},
	"server_encoding":                     {"", "Preset Options", "", "internal", "string", "", "", ""},
	"server_version":                      {"", "Preset Options", "", "internal", "string", "", "", ""},
	"server_version_num":                  {"", "Preset Options", "", "internal", "integer", "150018", "150018", ""},
	"standard_conforming_strings":         {"", "Version and Platform Compatibility / Previous PostgreSQL Versions", "", "user", "bool", "", "", ""},
	"statement_timeout":                   {"ms", "Client Connection Defaults / Statement Behavior", "A value of 0 turns off the timeout.", "user", "integer", "0", "2147483647", ""},
	"TimeZone":                            {"", "Client Connection Defaults / Locale and Formatting", "", "user", "string", "", "", ""},
	"transaction_deferrable":              {"", "Client Connection Defaults / Statement Behavior", "", "user", "bool", "", "", ""},
	"transaction_isolation":               {"", "Client Connection Defaults / Statement Behavior", "", "user", "enum", "", "", "{serializable,\"repeatable read\",\"read committed\",\"read uncommitted\"}"},
	"transaction_read_only":               {"", "Client Connection Defaults / Statement Behavior", "", "user", "bool", "", "", ""},
}

// settingsCatalog builds pg_settings (catalog.go's init registers it).
func settingsCatalog() *table {
	var shown []*setting
	for _, d := range settingList {
		if _, ok := settingMetas[d.name]; ok {
			shown = append(shown, d)
		}
	}
	slices.SortFunc(shown, func(a, b *setting) int { return strings.Compare(strings.ToLower(a.name), strings.ToLower(b.name)) })
	text := func(s string) value {
		if s == "" {
			return null
		}
		return value{s: s}
	}
	meta := func(f func(m settingMeta) string) evalFn {
		return func(x *evalCtx) value { return text(f(settingMetas[shown[x.row].name])) }
	}
	t := &table{name: "pg_settings", nsp: "pg_catalog", rows: func(*Input) int { return len(shown) }}
	add := func(name string, ty typ, pgt uint32, get evalFn) {
		t.cols = append(t.cols, column{name: name, typ: ty, pgt: pgt, get: get})
	}
	add("name", tText, 0, func(x *evalCtx) value { return value{s: shown[x.row].name} })
	add("setting", tText, 0, func(x *evalCtx) value { return value{s: session(x).get(shown[x.row])} })
	add("unit", tText, 0, meta(func(m settingMeta) string { return m.unit }))
	add("category", tText, 0, meta(func(m settingMeta) string { return m.category }))
	add("short_desc", tText, 0, func(x *evalCtx) value { return text(shown[x.row].desc) })
	add("extra_desc", tText, 0, meta(func(m settingMeta) string { return m.extra }))
	add("context", tText, 0, meta(func(m settingMeta) string { return m.context }))
	add("vartype", tText, 0, meta(func(m settingMeta) string { return m.vartype }))
	add("source", tText, 0, func(x *evalCtx) value {
		if d := shown[x.row]; session(x).get(d) != d.def {
			return value{s: "session"}
		}
		return value{s: "default"}
	})
	add("min_val", tText, 0, meta(func(m settingMeta) string { return m.min }))
	add("max_val", tText, 0, meta(func(m settingMeta) string { return m.max }))
	add("enumvals", tText, pgtype.TextArrayOID, meta(func(m settingMeta) string { return m.enumvals }))
	add("boot_val", tText, 0, func(x *evalCtx) value { return value{s: shown[x.row].def} })
	add("reset_val", tText, 0, func(x *evalCtx) value { return value{s: shown[x.row].def} })
	add("sourcefile", tText, 0, func(*evalCtx) value { return null })
	add("sourceline", tInt4, 0, func(*evalCtx) value { return null })
	add("pending_restart", tBool, 0, func(*evalCtx) value { return value{n: 0} })
	return t
}
