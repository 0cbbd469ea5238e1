package proxy

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// stmtRunner runs one statement in one protocol and returns its command
// tag.
type stmtRunner func(ctx context.Context, c *pgconn.PgConn, sql string) (string, error)

func simpleStmt(ctx context.Context, c *pgconn.PgConn, sql string) (string, error) {
	res, err := c.Exec(ctx, sql).ReadAll()
	if err != nil {
		return "", err
	}
	return res[len(res)-1].CommandTag.String(), nil
}

func extendedStmt(ctx context.Context, c *pgconn.PgConn, sql string) (string, error) {
	res := c.ExecParams(ctx, sql, nil, nil, nil, nil).Read()
	return res.CommandTag.String(), res.Err
}

var protocols = []struct {
	name string
	run  stmtRunner
}{{"simple", simpleStmt}, {"extended", extendedStmt}}

// TestStatusErrorAbortsTransaction is the sequence: a failed
// status statement inside a transaction block aborts it, the backend's
// part included, in every mode and protocol.
func TestStatusErrorAbortsTransaction(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	passC := pgtest.New(t, pgtest.Options{Name: "txabort"})
	pass := startProxy(t, testConfig(t, passC))
	setups := []struct {
		name string
		c    *pgtest.Cluster
		dsn  string
	}{{"pass-through", passC, pass.dsn("postgres", "")}}
	for _, mode := range []string{"session", "transaction"} {
		cs, p := pooledSetup(t, 1, mode, nil)
		setups = append(setups, struct {
			name string
			c    *pgtest.Cluster
			dsn  string
		}{"pooled " + mode, cs[0], p.dsn("app", "app-secret")})
	}
	for i, st := range setups {
		for j, proto := range protocols {
			t.Run(st.name+"/"+proto.name, func(t *testing.T) {
				conn, err := pgconn.Connect(ctx, st.dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(ctx)
				table := fmt.Sprintf("txabort_%d_%d", i, j)
				run := func(sql string) (string, error) { return proto.run(ctx, conn, sql) }
				must := func(sql string) {
					t.Helper()
					if _, err := run(sql); err != nil {
						t.Fatalf("%s: %v", sql, err)
					}
				}
				must("CREATE TABLE " + table + " (x int)")
				must("BEGIN")
				must("INSERT INTO " + table + " VALUES (1)")
				if _, err := run("SELECT port / 0 FROM helios_proxy.backends"); pgCode(err) != "22012" {
					t.Fatalf("division by zero in a status query: err = %v, want 22012", err)
				}
				if s := conn.TxStatus(); s != 'E' {
					t.Errorf("transaction status after the error = %q, want 'E'", s)
				}
				if _, err := run("INSERT INTO " + table + " VALUES (2)"); pgCode(err) != "25P02" {
					t.Errorf("INSERT after the error: err = %v, want 25P02", err)
				}
				if _, err := run("SELECT count(*) FROM helios_proxy.backends"); pgCode(err) != "25P02" {
					t.Errorf("status query after the error: err = %v, want 25P02", err)
				}
				if tag, err := run("COMMIT"); err != nil || tag != "ROLLBACK" {
					t.Errorf("COMMIT = %q, %v; want ROLLBACK", tag, err)
				}
				if s := conn.TxStatus(); s != 'I' {
					t.Errorf("transaction status after COMMIT = %q, want 'I'", s)
				}
				direct, err := pgx.Connect(ctx, st.c.DSN("postgres", st.c.Password, "postgres"))
				if err != nil {
					t.Fatal(err)
				}
				defer direct.Close(ctx)
				var n int
				if err := direct.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != 0 {
					t.Errorf("rows committed = %d (%v), want 0: the transaction must roll back", n, err)
				}
				// The session goes on: a status query and a relayed one.
				if tag, err := run("SELECT * FROM helios_proxy.backends"); err != nil || tag != "SELECT 1" {
					t.Errorf("status query after ROLLBACK: %q, %v", tag, err)
				}
				if tag, err := run("INSERT INTO " + table + " VALUES (3)"); err != nil || tag != "INSERT 0 1" {
					t.Errorf("INSERT after ROLLBACK: %q, %v", tag, err)
				}
			})
		}
	}
}

// TestStatusDatabaseTransactions: the helios_proxy database keeps
// PostgreSQL's transaction states itself.
func TestStatusDatabaseTransactions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := pgtest.New(t, pgtest.Options{Name: "txabort-db"})
	p := startProxy(t, testConfig(t, c))
	host, port, _ := net.SplitHostPort(p.Addr)
	for _, proto := range protocols {
		t.Run(proto.name, func(t *testing.T) {
			conn, err := pgconn.Connect(ctx, fmt.Sprintf("host=%s port=%s user=postgres dbname=helios_proxy sslmode=disable", host, port))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			steps := []struct {
				sql, tag, code string
				after          byte
			}{
				{"BEGIN", "BEGIN", "", 'T'},
				{"SELECT count(*) FROM helios_proxy.backends", "SELECT 1", "", 'T'},
				{"SELECT port / 0 FROM helios_proxy.backends", "", "22012", 'E'},
				{"SELECT count(*) FROM helios_proxy.backends", "", "25P02", 'E'},
				{"BEGIN", "", "25P02", 'E'},
				{"COMMIT", "ROLLBACK", "", 'I'},
				{"SELECT count(*) FROM helios_proxy.backends", "SELECT 1", "", 'I'},
				{"BEGIN", "BEGIN", "", 'T'},
				{"ROLLBACK", "ROLLBACK", "", 'I'},
			}
			if proto.name == "simple" {
				// Transaction control in the extended protocol is the SQL
				// fidelity work of the helios_proxy database.
				steps = append(steps, struct {
					sql, tag, code string
					after          byte
				}{"COMMIT", "COMMIT", "", 'I'})
			}
			for _, s := range steps {
				run := proto.run
				if s.code == "" && (s.sql == "BEGIN" || s.sql == "COMMIT" || s.sql == "ROLLBACK") {
					run = simpleStmt
				}
				tag, err := run(ctx, conn, s.sql)
				if pgCode(err) != s.code || s.code == "" && tag != s.tag {
					t.Errorf("%s: tag %q, err %v; want tag %q, SQLSTATE %q", s.sql, tag, err, s.tag, s.code)
				}
				if got := conn.TxStatus(); got != s.after {
					t.Errorf("%s: transaction status %q, want %q", s.sql, got, s.after)
				}
			}
		})
	}
}
