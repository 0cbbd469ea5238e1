package statusdb

import (
	"errors"
	"testing"
)

// TestSearchPathAgainstPostgreSQL runs statements with unqualified names
// of helios_proxy's tables under a search_path, on a backend database
// (PrepareOnPath) and on the status database (PrepareStandalone and the
// Session's search_path), against PostgreSQL 15 with the same path.
func TestSearchPathAgainstPostgreSQL(t *testing.T) {
	runAgainstPostgreSQL(t, searchPathChecks())
}

func searchPathChecks() []crossCheck {
	const first = "helios_proxy, public"
	var out []crossCheck
	for _, standalone := range []bool{false, true} {
		for _, sql := range []string{
			"SELECT count(*) FROM backends",
			"SELECT backend_name, circuit_state FROM circuit_breaker_status ORDER BY 1",
			"SELECT b.backend_name, count(e.id) FROM backends b LEFT JOIN helios_proxy.circuit_events e USING (backend_name) GROUP BY 1 ORDER BY 1",
			"SELECT backends.port FROM backends WHERE backends.priority = 1 ORDER BY 1",
			"SELECT * FROM circuit_events ORDER BY id LIMIT 2",
			"SELECT (SELECT count(*) FROM backends) + (SELECT count(*) FROM circuit_events)",
			"WITH b AS (SELECT * FROM backends) SELECT count(*) FROM b",
		} {
			out = append(out, crossCheck{sql: sql, searchPath: first, standalone: standalone})
		}
	}
	return append(out,
		// On the status database no other schema holds a table, so the
		// names resolve wherever helios_proxy is on the path; without it
		// they do not.
		crossCheck{sql: "SELECT count(*) FROM backends", searchPath: "public, helios_proxy", standalone: true},
		crossCheck{sql: `SELECT count(*) FROM backends`, searchPath: `"$user", pg_catalog, "helios_proxy"`, standalone: true},
		crossCheck{sql: "SELECT count(*) FROM backends", searchPath: "public", standalone: true},
		crossCheck{sql: "SELECT 1 FROM circuit_events", searchPath: "pg_catalog", standalone: true},
		crossCheck{sql: "SELECT count(*) FROM pg_catalog.pg_namespace n JOIN backends b ON true", searchPath: "helios_proxy", standalone: true},
		crossCheck{sql: "SELECT count(*) FROM backends", searchPath: "pg_catalog, helios_proxy"},
	)
}

func TestResolvesOnPath(t *testing.T) {
	tests := []struct {
		path              string
		backend, statusDB bool
	}{
		{`"$user", public`, false, false},
		{"helios_proxy", true, true},
		{"HELIOS_PROXY, public", true, true},
		{`"helios_proxy"`, true, true},
		{`"HELIOS_PROXY"`, false, false},
		{"pg_catalog, helios_proxy", true, true},
		{"public, helios_proxy", false, true},
		{`"$user", helios_proxy`, false, true},
		{"", false, false},
	}
	for _, tt := range tests {
		if got := ResolvesOnPath(tt.path, false); got != tt.backend {
			t.Errorf("ResolvesOnPath(%q, backend) = %v, want %v", tt.path, got, tt.backend)
		}
		if got := ResolvesOnPath(tt.path, true); got != tt.statusDB {
			t.Errorf("ResolvesOnPath(%q, status database) = %v, want %v", tt.path, got, tt.statusDB)
		}
	}
	for sql, want := range map[string]bool{
		"SELECT * FROM Backends": true, "select 1 from circuit_EVENTS": true, "SELECT 1": false, "SELECT * FROM backend": false,
	} {
		if got := MentionsTable([]byte(sql)); got != want {
			t.Errorf("MentionsTable(%q) = %v, want %v", sql, got, want)
		}
	}
	db := New()
	for _, tt := range []struct {
		sql, path string
		ours      bool
	}{
		{"SELECT * FROM backends", "helios_proxy, public", true},
		{"SELECT * FROM backends", "public, helios_proxy", false},
		{"SELECT * FROM backends", `"$user", public`, false},
		{"WITH backends AS (SELECT 1) SELECT * FROM backends", "helios_proxy", false},
		{"SELECT * FROM orders", "helios_proxy, public", false},
		{"DROP TABLE backends", "helios_proxy", true},
		{"INSERT INTO circuit_events DEFAULT VALUES", "helios_proxy", true},
	} {
		_, err := db.PrepareOnPath(tt.sql, nil, tt.path)
		if ours := !errors.Is(err, ErrNotStatusQuery); ours != tt.ours {
			t.Errorf("PrepareOnPath(%q, %q) = %v, want ours %v", tt.sql, tt.path, err, tt.ours)
		}
	}
}
