package statusdb

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// ddlChecks are changes to the helios_proxy schema and its tables, which
// PostgreSQL refuses for a role that owns neither.
var ddlChecks = []string{
	"DROP TABLE helios_proxy.backends",
	"DROP TABLE IF EXISTS helios_proxy.circuit_events, helios_proxy.backends",
	"DROP TABLE helios_proxy.nope",
	"DROP VIEW helios_proxy.backends",
	"DROP INDEX helios_proxy.backends",
	"DROP SCHEMA helios_proxy",
	"DROP SCHEMA helios_proxy CASCADE",
	"ALTER TABLE helios_proxy.backends ADD COLUMN x int",
	"ALTER TABLE helios_proxy.circuit_breaker_status RENAME TO cbs",
	"ALTER TABLE helios_proxy.backends RENAME COLUMN port TO p",
	"ALTER TABLE helios_proxy.nope ADD COLUMN x int",
	"ALTER TABLE IF EXISTS helios_proxy.nope ADD COLUMN x int",
	"ALTER SCHEMA helios_proxy RENAME TO hp",
	"ALTER TABLE helios_proxy.backends OWNER TO reader",
	"CREATE TABLE helios_proxy.t (a int)",
	"CREATE VIEW helios_proxy.v AS SELECT 1",
	"CREATE INDEX ON helios_proxy.backends (port)",
	"CREATE TABLE helios_proxy.t2 AS SELECT 1 AS a",
	"GRANT SELECT ON helios_proxy.backends TO PUBLIC",
	"GRANT ALL ON ALL TABLES IN SCHEMA helios_proxy TO reader",
	"REVOKE SELECT ON helios_proxy.circuit_events FROM PUBLIC",
	"GRANT USAGE ON SCHEMA helios_proxy TO reader",
	"COMMENT ON TABLE helios_proxy.backends IS 'x'",
	"COMMENT ON COLUMN helios_proxy.backends.port IS 'x'",
	"COMMENT ON SCHEMA helios_proxy IS 'x'",
	"TRUNCATE helios_proxy.circuit_events",
	"INSERT INTO helios_proxy.backends (backend_name) VALUES ('x')",
	"UPDATE helios_proxy.circuit_breaker_status SET circuit_state = 'OPEN'",
	"DELETE FROM helios_proxy.circuit_events",
}

// TestDDLAgainstPostgreSQL runs each change as an ordinary role on a
// PostgreSQL 15 holding the schema, and requires statusdb to refuse it
// with the same error on a backend database (Prepare) and on the status
// database (PrepareStandalone), never leaving it to the backend.
func TestDDLAgainstPostgreSQL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	ctx := context.Background()
	pc := readerConn(t, ctx).PgConn()
	db := New()
	for _, sql := range ddlChecks {
		t.Run(sql, func(t *testing.T) {
			// In a transaction rolled back, in case PostgreSQL lets it through.
			if _, err := pc.Exec(ctx, "BEGIN").ReadAll(); err != nil {
				t.Fatal(err)
			}
			_, pgErr := pc.Exec(ctx, sql).ReadAll()
			if _, err := pc.Exec(ctx, "ROLLBACK").ReadAll(); err != nil {
				t.Fatal(err)
			}
			for name, prepare := range map[string]func(string, []uint32) (*Stmt, error){"Prepare": db.PrepareTyped, "PrepareStandalone": db.PrepareStandalone} {
				st, err := prepare(sql, nil)
				if errors.Is(err, ErrNotStatusQuery) {
					t.Errorf("%s: not a status query: it would reach the backend", name)
					continue
				}
				if err == nil && pgErr == nil {
					ses, _ := NewSession("reader", "postgres", 1, nil)
					res, err := st.Execute(Input{Session: ses}, nil, nil)
					if err != nil || st.ReturnsRows() || len(res.Rows) != 0 {
						t.Errorf("%s: Execute = %v, %v; returns rows %v", name, res, err, st.ReturnsRows())
					}
					if strings.HasPrefix(sql, "GRANT") || strings.HasPrefix(sql, "REVOKE") {
						if n := ses.Notices(); len(n) == 0 || n[0].Severity != "WARNING" {
							t.Errorf("%s: notices %v, want PostgreSQL's WARNING", name, n)
						}
					}
					continue
				}
				compareErrors(t, name, err, pgErr)
			}
		})
	}
}
