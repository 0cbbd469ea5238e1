package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// jsonLine is one decoded line of a log_format = "json" log.
type jsonLine map[string]any

func (l jsonLine) str(key string) string { s, _ := l[key].(string); return s }

// waitJSON returns the first line from index from on that decodes as a
// JSON object holding every key=value of want, and the index after it.
func (l *lines) waitJSON(t *testing.T, ctx context.Context, from int, want map[string]string) (jsonLine, int) {
	t.Helper()
	var m jsonLine
	_, next := l.waitFor(t, ctx, from, fmt.Sprintf("JSON %v", want), func(line string) bool {
		m = nil
		if json.Unmarshal([]byte(line), &m) != nil {
			return false
		}
		for k, v := range want {
			if fmt.Sprint(m[k]) != v {
				return false
			}
		}
		return true
	})
	return m, next
}

// TestJSONLog runs heliosproxy with log_format = "json" in front of two
// real clusters, one that the health checks cannot log in to (a wrong
// password: 28P01), and kills the other: every line of the log decodes
// as one JSON object with time, level and msg, and the lines of a session,
// a circuit opening and a configuration problem carry backend,
// session_id, event, reason and sqlstate. No secret is in the log.
func TestJSONLog(t *testing.T) {
	const otherPassword = "jsonlog-b-secret-password"
	a := pgtest.New(t, pgtest.Options{Name: "jsonlog-a", Auth: "scram-sha-256"})
	b := pgtest.New(t, pgtest.Options{Name: "jsonlog-b", Auth: "scram-sha-256", Password: otherPassword})
	// childConfig's backend "pg" is a, in the higher tier: clients go there.
	path := childConfig(t, a, fmt.Sprintf("priority = 100\n[[backends.instances]]\nname = \"pg-b\"\nhost = \"127.0.0.1\"\nport = %d\npriority = 50\n", b.Port))
	cfg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg = bytes.Replace(cfg, []byte("metrics_enabled = false\n"), []byte("metrics_enabled = false\nlog_format = \"json\"\nlog_level = \"debug\"\n"), 1)
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := startChild(t, "run", "--config", path)

	listening, _ := c.out.waitJSON(t, ctx, 0, map[string]string{"msg": "proxy listening"})
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres:%s@%s/postgres?sslmode=disable", a.Password, listening.str("addr")))
	if err != nil {
		t.Fatal(err)
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	// A wrong password: the backend's 28P01 reaches the client, and the
	// log says which backend refused and with what SQLSTATE.
	if bad, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres:wrong-password@%s/postgres?sslmode=disable", listening.str("addr"))); err == nil {
		bad.Close(ctx)
		t.Fatal("a wrong password logged in")
	}
	refused, _ := c.out.waitJSON(t, ctx, 0, map[string]string{"msg": "session refused"})
	if refused.str("sqlstate") != "28P01" || !strings.Contains(refused.str("err"), "backend pg refused") || refused.str("client_addr") == "" {
		t.Errorf("a login refused by the backend logged %v, want its sqlstate 28P01, the backend and the client", refused)
	}

	session, _ := c.out.waitJSON(t, ctx, 0, map[string]string{"msg": "session started", "backend": "pg"})
	if id, ok := session["session_id"].(float64); !ok || id <= 0 {
		t.Errorf("session started: session_id = %#v, want a positive number", session["session_id"])
	}
	cfgErr, _ := c.out.waitJSON(t, ctx, 0, map[string]string{"backend": "pg-b", "level": "ERROR", "sqlstate": "28P01"})
	if !strings.HasPrefix(cfgErr.str("msg"), "health check cannot run") || cfgErr.str("err") == "" {
		t.Errorf("health check of pg-b with a wrong password logged %v", cfgErr)
	}

	if err := a.Kill(); err != nil {
		t.Fatal(err)
	}
	opened, _ := c.out.waitJSON(t, ctx, 0, map[string]string{"event": "CircuitOpened", "backend": "pg"})
	for k, want := range map[string]string{"msg": "breaker state changed", "level": "WARN", "reason": "hard_failure", "from": "CLOSED", "to": "OPEN"} {
		if got := opened.str(k); got != want {
			t.Errorf("CircuitOpened line: %s = %q, want %q (%v)", k, got, want, opened)
		}
	}

	if err := c.stop(syscall.SIGTERM); err != nil {
		t.Errorf("heliosproxy after SIGTERM: %v", err)
	}
	c.out.mu.Lock()
	all, rest := c.out.all, c.out.buf
	c.out.mu.Unlock()
	if len(rest) != 0 {
		t.Errorf("the log ends in an unterminated line: %q", rest)
	}
	for i, line := range all {
		dec := json.NewDecoder(strings.NewReader(line))
		var m jsonLine
		if err := dec.Decode(&m); err != nil || dec.More() {
			t.Errorf("line %d is not one JSON object (%v): %s", i+1, err, line)
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, m.str("time")); err != nil {
			t.Errorf("line %d: time %q: %v", i+1, m["time"], err)
		}
		switch m.str("level") {
		case "DEBUG", "INFO", "WARN", "ERROR":
		default:
			t.Errorf("line %d: level = %#v", i+1, m["level"])
		}
		if m.str("msg") == "" {
			t.Errorf("line %d has no msg: %s", i+1, line)
		}
		for _, k := range []string{"backend", "event", "reason", "sqlstate"} {
			if v, ok := m[k]; ok {
				if _, isString := v.(string); !isString {
					t.Errorf("line %d: %s = %#v, want a string", i+1, k, v)
				}
			}
		}
	}
	for _, secret := range []string{a.Password, otherPassword, childToken} {
		for i, line := range all {
			if bytes.Contains([]byte(line), []byte(secret)) {
				t.Errorf("line %d holds a secret: %s", i+1, line)
			}
		}
	}
}
