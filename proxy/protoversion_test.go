package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestNegotiateProtocolVersion: a client asking for protocol 3.2 (libpq 18
// with max_protocol_version=latest) or for protocol options (_pq_.*) gets
// NegotiateProtocolVersion before its authentication request, as from
// PostgreSQL 15 (3.0, the options it does not know, in order), whoever
// answers the login: the proxy for the helios_proxy database and for
// pooled users (nothing before, so such a client believed 3.2 and the
// options accepted), the backend for pass-through sessions.
func TestNegotiateProtocolVersion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clusters, p := pooledSetup(t, 1, "transaction", nil)
	c := clusters[0]
	proxyAddr := p.Addr
	direct := net.JoinHostPort(c.Host, fmt.Sprint(c.Port))
	for _, tc := range []struct {
		minor uint16
		opts  []string
	}{{2, nil}, {0, []string{"_pq_.b", "_pq_.a"}}, {2, []string{"_pq_.report_parameters"}}, {0, nil}} {
		want := preAuth(t, ctx, direct, "app", "postgres", tc.minor, tc.opts)
		if (tc.minor > 0 || len(tc.opts) > 0) != bytes.Contains([]byte(want), []byte("v ")) {
			t.Fatalf("3.%d %v: PostgreSQL answered %q", tc.minor, tc.opts, want)
		}
		for _, target := range []struct{ name, user, db string }{
			{"pooled", "app", "postgres"}, {"status database", "app", "helios_proxy"}, {"pass-through", "postgres", "postgres"},
		} {
			if got := preAuth(t, ctx, proxyAddr, target.user, target.db, tc.minor, tc.opts); got != want {
				t.Errorf("3.%d %v, %s: proxy answered %q, PostgreSQL %q", tc.minor, tc.opts, target.name, got, want)
			}
		}
	}
	// pgx reads NegotiateProtocolVersion and goes on: the sessions work.
	for _, dsn := range []string{p.dsn("app", "app-secret"), p.dsn("postgres", "pg-secret"),
		strings.Replace(p.dsn("app", "app-secret"), "dbname=postgres", "dbname=helios_proxy", 1)} {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		cfg.RuntimeParams["_pq_.x"] = "on"
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatalf("%s with _pq_.x: %v", dsn, err)
		}
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM helios_proxy.backends").Scan(&n); err != nil || n != 1 {
			t.Errorf("%s with _pq_.x: %d backends, %v", dsn, n, err)
		}
		conn.Close(ctx)
	}
}

// preAuth sends a StartupMessage for protocol 3.minor with options opts
// and returns what comes before the first authentication request or
// error, one "type body-in-hex" per message, then that message's type.
func preAuth(t *testing.T, ctx context.Context, addr, user, db string, minor uint16, opts []string) string {
	t.Helper()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	body := binary.BigEndian.AppendUint32(nil, 3<<16|uint32(minor))
	for _, kv := range append([]string{"user", user, "database", db}, interleave(opts)...) {
		body = append(append(body, kv...), 0)
	}
	body = append(body, 0)
	if _, err := conn.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(body)+4)), body...)); err != nil {
		t.Fatal(err)
	}
	var out []byte
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			t.Fatalf("%s: %v after %q", addr, err, out)
		}
		msg := make([]byte, binary.BigEndian.Uint32(hdr[1:])-4)
		if _, err := io.ReadFull(conn, msg); err != nil {
			t.Fatal(err)
		}
		if hdr[0] == 'R' || hdr[0] == 'E' {
			return string(append(out, hdr[0]))
		}
		out = fmt.Appendf(out, "%c %x\n", hdr[0], msg)
	}
}

// interleave pairs each option with a value.
func interleave(opts []string) []string {
	var kv []string
	for _, o := range opts {
		kv = append(kv, o, "on")
	}
	return kv
}
