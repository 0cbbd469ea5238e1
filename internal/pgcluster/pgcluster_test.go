package pgcluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func connect(t *testing.T, ctx context.Context, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func queryString(t *testing.T, ctx context.Context, conn *pgx.Conn, sql string) string {
	t.Helper()
	var s string
	if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// eventually polls cond until it holds or ctx ends.
func eventually(ctx context.Context, cond func() bool) bool {
	for !cond() {
		select {
		case <-ctx.Done():
			return cond()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return true
}

func TestTrust(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := ForTest(t, Options{Name: "trust", Settings: map[string]string{
		"work_mem":     "7MB",
		"cluster_name": `it's a \ test`,
	}})
	conn := connect(t, ctx, c.DSN("postgres", "", "postgres"))
	var n int
	if err := conn.QueryRow(ctx, "select 1 + 1").Scan(&n); err != nil || n != 2 {
		t.Errorf("select 1 + 1 = %d, %v; want 2", n, err)
	}
	for _, tt := range []struct{ setting, want string }{
		{"fsync", "off"},
		{"work_mem", "7MB"},
		{"cluster_name", `it's a \ test`},
		{"password_encryption", "scram-sha-256"},
		{"server_encoding", "UTF8"},
	} {
		if got := queryString(t, ctx, conn, "show "+tt.setting); got != tt.want {
			t.Errorf("show %s = %q, want %q", tt.setting, got, tt.want)
		}
	}

	if err := c.CreateUser(ctx, "app", ""); err != nil {
		t.Fatal(err)
	}
	app := connect(t, ctx, c.DSN("app", "", "postgres"))
	if got := queryString(t, ctx, app, "select current_user"); got != "app" {
		t.Errorf("current_user = %q, want app", got)
	}
	if err := c.Exec(ctx, "select 1; select 2"); err != nil {
		t.Errorf("Exec of two statements: %v", err)
	}
	err := c.Exec(ctx, "select * from nonexistent")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42P01" {
		t.Errorf("Exec(select from nonexistent) = %v, want SQLSTATE 42P01", err)
	}
}

func TestPasswordAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		auth   string
		prefix string // of pg_authid.rolpassword
	}{
		{"md5", "md5"},
		{"scram-sha-256", "SCRAM-SHA-256$"},
	}
	for _, tt := range tests {
		t.Run(tt.auth, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			c := ForTest(t, Options{Name: tt.auth, Auth: tt.auth, Password: "it's-s3cret"})
			if c.Auth != tt.auth || c.Password != "it's-s3cret" || c.User != "postgres" {
				t.Errorf("cluster Auth, User, Password = %q, %q, %q", c.Auth, c.User, c.Password)
			}
			conn := connect(t, ctx, c.DSN("postgres", c.Password, "postgres"))
			if got := queryString(t, ctx, conn, "show password_encryption"); got != c.passwordEncryption() {
				t.Errorf("show password_encryption = %q, want %q", got, c.passwordEncryption())
			}
			if err := c.CreateUser(ctx, "App User", "app-pw"); err != nil {
				t.Fatal(err)
			}
			app := connect(t, ctx, c.DSN("App User", "app-pw", "postgres"))
			if got := queryString(t, ctx, app, "select current_user"); got != "App User" {
				t.Errorf("current_user = %q, want App User", got)
			}
			for _, role := range []string{"postgres", "App User"} {
				var pw string
				err := conn.QueryRow(ctx, "select rolpassword from pg_authid where rolname = $1", role).Scan(&pw)
				if err != nil || !strings.HasPrefix(pw, tt.prefix) {
					t.Errorf("rolpassword of %s = %.20q, %v; want prefix %q", role, pw, err, tt.prefix)
				}
			}
			for _, user := range []string{"postgres", "App User"} {
				_, err := pgx.Connect(ctx, c.DSN(user, "wrong", "postgres"))
				var pe *pgconn.PgError
				if !errors.As(err, &pe) || pe.Code != "28P01" {
					t.Errorf("connect as %s with a wrong password: %v, want SQLSTATE 28P01", user, err)
				}
			}
		})
	}
}

func TestStopAndRestart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		stop func(*Cluster) error
	}{
		{"Stop", (*Cluster).Stop},
		{"StopImmediate", (*Cluster).StopImmediate},
		{"Kill", (*Cluster).Kill},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			c := ForTest(t, Options{Name: tt.name, Auth: "scram-sha-256"})
			dsn := c.DSN(c.User, c.Password, "postgres")
			conn := connect(t, ctx, dsn)
			// Committed rows must survive even a crash: with fsync off,
			// synchronous_commit at least writes the WAL to the kernel.
			if _, err := conn.Exec(ctx, "set synchronous_commit = on; create table t (x int); insert into t values (1)"); err != nil {
				t.Fatal(err)
			}
			var backend int
			if err := conn.QueryRow(ctx, "select pg_backend_pid()").Scan(&backend); err != nil {
				t.Fatal(err)
			}
			postmaster := c.proc.Load().pid

			if err := tt.stop(c); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if c.Running() {
				t.Errorf("Running() after %s = true, want false", tt.name)
			}
			if err := syscall.Kill(postmaster, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("kill(postmaster %d, 0) after %s = %v, want ESRCH", postmaster, tt.name, err)
			}
			gone, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if !eventually(gone, func() bool { return !alive(backend) }) {
				t.Errorf("backend %d still alive after %s", backend, tt.name)
			}
			if _, err := conn.Exec(ctx, "select 1"); err == nil {
				t.Errorf("query on an old connection after %s succeeded", tt.name)
			}
			if _, err := pgx.Connect(ctx, dsn); err == nil {
				t.Errorf("connect after %s succeeded", tt.name)
			}
			if err := tt.stop(c); err != nil {
				t.Errorf("%s again: %v, want nil", tt.name, err)
			}

			if err := c.Restart(ctx); err != nil {
				t.Fatalf("Restart: %v", err)
			}
			if !c.Running() {
				t.Errorf("Running() after Restart = false, want true")
			}
			if err := c.Restart(ctx); err == nil {
				t.Errorf("Restart of a running cluster succeeded")
			}
			conn = connect(t, ctx, dsn)
			var n int
			if err := conn.QueryRow(ctx, "select count(*) from t").Scan(&n); err != nil || n != 1 {
				t.Errorf("select count(*) from t after restart = %d, %v; want 1", n, err)
			}
		})
	}
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := ForTest(t, Options{Name: "pause"})
	dsn := c.DSN("postgres", "", "postgres")
	hung := connect(t, ctx, dsn)
	waiting := connect(t, ctx, dsn)

	if err := c.Pause(); err != nil {
		t.Fatal(err)
	}
	if !c.Running() {
		t.Errorf("Running() of a paused cluster = false, want true")
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		var n int
		err := waiting.QueryRow(ctx, "select 42").Scan(&n)
		if err == nil && n != 42 {
			err = fmt.Errorf("got %d, want 42", n)
		}
		done <- err
	}()

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := hung.Exec(short, "select 1"); !pgconn.Timeout(err) && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("query on a paused cluster: %v, want a timeout", err)
	}
	short, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if conn, err := pgx.Connect(short, dsn); err == nil {
		conn.Close(ctx)
		t.Errorf("connect to a paused cluster succeeded")
	}

	if err := c.Resume(); err != nil {
		t.Errorf("Resume: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("query started while paused, after Resume: %v", err)
	}
	if err := c.Exec(ctx, "select 1"); err != nil {
		t.Errorf("Exec after Resume: %v", err)
	}
}

func TestDestroy(t *testing.T) {
	t.Parallel()
	for _, paused := range []bool{false, true} {
		t.Run(fmt.Sprintf("paused=%v", paused), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			c, err := Start(ctx, Options{Name: "destroy"})
			if err != nil {
				t.Fatal(err)
			}
			conn := connect(t, ctx, c.DSN("postgres", "", "postgres"))
			var backend int
			if err := conn.QueryRow(ctx, "select pg_backend_pid()").Scan(&backend); err != nil {
				t.Fatal(err)
			}
			postmaster := c.proc.Load().pid
			children := childrenOf(postmaster)
			if !slices.Contains(children, backend) {
				t.Errorf("children of postmaster %d = %v, want them to include backend %d", postmaster, children, backend)
			}
			if paused {
				if err := c.Pause(); err != nil {
					t.Fatal(err)
				}
			}

			if err := c.Destroy(); err != nil {
				t.Fatalf("Destroy: %v", err)
			}
			if _, err := os.Stat(c.Dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("stat %s after Destroy: %v, want not exist", c.Dir, err)
			}
			for _, pid := range append(children, postmaster) {
				if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
					t.Errorf("kill(%d, 0) after Destroy = %v, want ESRCH", pid, err)
				}
			}
			if c.Running() {
				t.Errorf("Running() after Destroy = true")
			}
			if err := c.Destroy(); err != nil {
				t.Errorf("second Destroy: %v, want nil", err)
			}
			if err := c.Restart(ctx); err == nil {
				t.Errorf("Restart after Destroy succeeded")
			}
		})
	}
}

func TestStartFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    Options
		want string // in the error
	}{
		{"bad setting", Options{Name: "badset", Settings: map[string]string{"max_connections": "many"}}, "max_connections"},
		{"bad auth", Options{Name: "badauth", Auth: "password"}, `auth: want trust, md5 or scram-sha-256, got "password"`},
		{"bad setting name", Options{Name: "badname", Settings: map[string]string{"a\nb": "1"}}, "is not a setting name"},
		{"replica with auth", Options{Name: "badrepl", ReplicaOf: &Cluster{Name: "p"}, Auth: "md5"}, "a replica has its primary's Auth"},
		{"replica of nothing", Options{Name: "norepl", ReplicaOf: &Cluster{Name: "gone", Host: "127.0.0.1", Port: 1, User: "postgres"}},
			"pg_basebackup for norepl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Other test processes may be starting clusters of the same name.
			tt.o.Name += "-" + strconv.Itoa(os.Getpid())
			c, err := Start(t.Context(), tt.o)
			if err == nil {
				c.Destroy()
				t.Fatalf("Start succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start error = %v, want it to contain %q", err, tt.want)
			}
			for _, dir := range []string{os.TempDir(), "/tmp"} {
				left, _ := filepath.Glob(filepath.Join(dir, "heliospg-"+tt.o.Name+"-*"))
				if len(left) > 0 {
					t.Errorf("Start left %v behind", left)
				}
			}
		})
	}
}

func TestPortInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	c, err := Start(t.Context(), Options{Name: "portinuse", Port: port})
	if err == nil {
		c.Destroy()
		t.Fatalf("Start on port %d, which is in use, succeeded", port)
	}
	if !errors.Is(err, errPortInUse) {
		t.Errorf("Start on a used port: %v, want errPortInUse", err)
	}
}

func TestNoSecretInErrors(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	const secret = "very-secret-pw"
	c := ForTest(t, Options{Name: "secret", Auth: "md5", Password: secret})
	err := c.CreateUser(ctx, "postgres", secret) // exists already
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("CreateUser of an existing role: %v, want an error without the password", err)
	}
}

// TestOrphanDies checks that a cluster does not outlive a process that exits
// without destroying it.
func TestOrphanDies(t *testing.T) {
	if os.Getenv("PGTEST_ORPHAN") == "1" {
		c, err := Start(context.Background(), Options{Name: "orphan"})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		pids := append([]int{c.proc.Load().pid}, childrenOf(c.proc.Load().pid)...)
		fmt.Println(c.Dir, strings.Trim(fmt.Sprint(pids), "[]"))
		os.Exit(0)
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOrphanDies$")
	cmd.Env = append(os.Environ(), "PGTEST_ORPHAN=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	f := strings.Fields(strings.TrimSpace(lastLine(out)))
	if len(f) < 2 || f[0] == "error" {
		t.Fatalf("helper said %q", out)
	}
	t.Cleanup(func() { os.RemoveAll(f[0]) })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for _, s := range f[1:] {
		pid, _ := strconv.Atoi(s)
		if !eventually(ctx, func() bool { return !alive(pid) }) {
			t.Errorf("process %d of the orphaned cluster is still alive", pid)
		}
	}
}

func lastLine(b []byte) string {
	var last string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if sc.Text() != "" {
			last = sc.Text()
		}
	}
	return last
}

func TestBinDir(t *testing.T) {
	dir, err := BinDir()
	if err != nil {
		t.Fatalf("BinDir: %v", err)
	}
	if !hasServer(dir) {
		t.Errorf("BinDir() = %s, which lacks initdb or postgres", dir)
	}
	t.Setenv("PG_BINDIR", t.TempDir())
	if dir, err := BinDir(); err == nil {
		t.Errorf("BinDir() with an empty PG_BINDIR = %s, want an error", dir)
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int // sign
	}{
		{"15", "9.6", 1},
		{"9.6", "10", -1},
		{"16", "16", 0},
		{"9.6", "9.5", 1},
		{"latest", "9.6", -1},
	}
	for _, tt := range tests {
		got := compareVersions(tt.a, tt.b)
		if sign(got) != tt.want {
			t.Errorf("compareVersions(%q, %q) = %d, want sign %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
