package session

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestStatusTools runs real clients' introspection and protocol features
// on the helios_proxy schema through the proxy, on both kinds of database,
// and on PostgreSQL holding a copy of the same rows, and requires the same
// output: SQLAlchemy's reflection (psycopg2), psycopg 3's pipeline mode
// mixing status and backend statements, PostgreSQL's JDBC driver's
// DatabaseMetaData (what DBeaver and Metabase call) and fetch size.
func TestStatusTools(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, kinds, copyDSN := startDifferential(t, ctx)
	tools := []struct {
		name  string
		cmd   func(url string) *exec.Cmd
		url   string   // the scheme of the URL the tool takes
		kinds []string // the kinds of database it is run on; nil: both
	}{
		{"sqlalchemy", func(url string) *exec.Cmd {
			return exec.CommandContext(ctx, "/usr/bin/python3", "testdata/sqlalchemy_reflect.py", url)
		}, "postgresql+psycopg2", nil},
		// asyncpg passes the schema's name as a parameter, so on a backend
		// database its queries name nothing the proxy routes by: the
		// backend answers them (docs/design-notes.md, status queries on
		// backend databases).
		{"sqlalchemy asyncpg", func(url string) *exec.Cmd {
			return exec.CommandContext(ctx, "/usr/bin/python3", "testdata/sqlalchemy_asyncpg_reflect.py", url)
		}, "postgresql+asyncpg", []string{"status"}},
		{"psycopg3 pipeline", func(url string) *exec.Cmd {
			return exec.CommandContext(ctx, "/usr/bin/python3", "testdata/psycopg_pipeline.py", url)
		}, "postgresql", nil},
		{"jdbc", func(url string) *exec.Cmd {
			return exec.CommandContext(ctx, "java", "-cp", "/usr/share/java/postgresql.jar", "testdata/JdbcMetadata.java", url)
		}, "jdbc:postgresql", nil},
	}
	for _, tool := range tools {
		want := runTool(t, tool.cmd(toolURL(t, copyDSN, tool.url)))
		on := tool.kinds
		if on == nil {
			on = []string{"status", "backend"}
		}
		for _, kind := range on {
			t.Run(tool.name+"/"+kind, func(t *testing.T) {
				if got := runTool(t, tool.cmd(toolURL(t, kinds[kind], tool.url))); got != want {
					t.Errorf("through the proxy and on PostgreSQL:\n%s", lineDiff(got, want))
				}
			})
		}
	}
}

// runTool runs a client program and returns what it printed; what it
// logged (stderr) only when it failed. psycopg 3 logs "error ignored
// terminating <Pipeline …>: pipeline aborted" as its aborted pipeline is
// collected, on PostgreSQL itself too, or not, as the collector's timing
// goes.
func runTool(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Sprintf("%s%s\nexit: %v", out, stderr.Bytes(), err)
	}
	return string(out)
}

// toolURL is dsn as a URL of scheme, as SQLAlchemy and JDBC take it.
func toolURL(t *testing.T, dsn, scheme string) string {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if scheme == "jdbc:postgresql" {
		return fmt.Sprintf("%s://%s:%d/%s?sslmode=disable", scheme, cfg.Host, cfg.Port, cfg.Database)
	}
	return fmt.Sprintf("%s://%s:unused@%s:%d/%s?sslmode=disable", scheme, cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// lineDiff shows the lines of got and want that differ, with the first
// lines of an error's output.
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			fmt.Fprintf(&b, "line %d\n  proxy:      %s\n  PostgreSQL: %s\n", i+1, gl, wl)
			if b.Len() > 4000 {
				b.WriteString("...\n")
				break
			}
		}
	}
	return b.String()
}
