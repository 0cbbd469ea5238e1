package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/config"
)

// TestEventLoopRelayTLS: pass-through sessions over TLS on both sides —
// a TLS client of a proxy that offers it, a TLS-only backend reached with
// sslmode = require — are relayed by the event loop as plain ones are,
// with what the goroutine relay guaranteed: large messages and COPY cross
// whole, a client that does not read holds up its own backend only, a
// backend that does not read holds up its client's writes, and a hand-over
// to the goroutines while the loop has records the client has not taken
// yet delivers them first, then the rest of the answer, then the proxy's.
func TestEventLoopRelayTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, _ := tlsCluster(t, "looptls")
	su := superuser(t, ctx, c)
	p := startLoopProxy(t, c, func(cfg *config.Config) {
		cfg.Proxy.TLSCertFile, cfg.Proxy.TLSKeyFile = selfSignedCert(t)
		cfg.Proxy.ClientWriteTimeout = config.Duration{Duration: time.Minute}
		cfg.Backends.SSLMode = "require"
		cfg.CircuitBreaker.LatencyThresholdP95Ms = 0
		cfg.CircuitBreaker.LatencyThresholdP99Ms = 0
	})
	loops := p.front.Loops()
	// Pass-through SCRAM from a TLS client: without channel binding,
	// which cannot cross the proxy (README, Channel binding).
	dsn := func(app string) string {
		return strings.Replace(p.dsn("app", "app-pw"), "sslmode=disable", "sslmode=require", 1) + " channel_binding=disable application_name=" + app
	}
	connect := func(t *testing.T) *pgx.Conn {
		t.Helper()
		conn, err := pgx.Connect(ctx, dsn("looptls"))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := conn.PgConn().Conn().(*tls.Conn); !ok {
			t.Fatalf("client connection is %T, want *tls.Conn", conn.PgConn().Conn())
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		return conn
	}
	rawConnect := func(t *testing.T, app string) *pgconn.PgConn {
		t.Helper()
		pc, err := pgconn.Connect(ctx, dsn(app))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close(context.Background()) })
		return pc
	}
	onLoop := func(t *testing.T, want int64) {
		t.Helper()
		poll(t, 10*time.Second, fmt.Sprintf("%d sessions on the loop", want), func() (bool, string) {
			n := loops.Relays()
			return n == want, fmt.Sprint(n)
		})
	}
	// waitEvent waits until app's backend is active and waits on event.
	waitEvent := func(t *testing.T, app, event string) {
		t.Helper()
		poll(t, 30*time.Second, app+"'s backend waits on "+event, func() (bool, string) {
			var w string
			if err := su.QueryRow(ctx, "SELECT coalesce(string_agg(wait_event, ','), '') FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'", app).Scan(&w); err != nil {
				t.Fatal(err)
			}
			return w == event, w
		})
	}

	t.Run("Session", func(t *testing.T) {
		conn := connect(t)
		if !overTLS(t, ctx, conn) {
			t.Fatal("the proxy's connection to the backend is not TLS")
		}
		for i := range 200 {
			var n int
			if err := conn.QueryRow(ctx, "SELECT $1::int + 1", i).Scan(&n); err != nil || n != i+1 {
				t.Fatalf("query %d: %d, %v", i, n, err)
			}
		}
		onLoop(t, 1)
		conn.Close(ctx)
		onLoop(t, 0)
	})

	t.Run("LargeMessagesAndCopy", func(t *testing.T) {
		conn := connect(t)
		onLoop(t, 1)
		largeMessagesAndCopy(t, ctx, conn, "CREATE TEMP TABLE looped (n int, s text)")
		onLoop(t, 1)
		conn.Close(ctx)
		onLoop(t, 0)
	})

	t.Run("ClientThatDoesNotRead", func(t *testing.T) {
		stuck := rawConnect(t, "stuck-tls")
		_ = stuck.Conn().(*tls.Conn).NetConn().(*net.TCPConn).SetReadBuffer(4096)
		q, _ := (&pgproto3.Query{String: "SELECT g, repeat('x', 1000) FROM generate_series(1, 10000000) g"}).Encode(nil)
		if _, err := stuck.Conn().Write(q); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, "stuck-tls", "ClientWrite")
		conn := connect(t)
		for i := range 200 {
			var n int
			if err := conn.QueryRow(ctx, "SELECT $1::int", i).Scan(&n); err != nil || n != i {
				t.Fatalf("query %d while a client does not read: %d, %v", i, n, err)
			}
		}
		onLoop(t, 2)
		stuck.Close(ctx)
		conn.Close(ctx)
		onLoop(t, 0)
	})

	t.Run("BackendThatDoesNotRead", func(t *testing.T) {
		pc := rawConnect(t, "slow-backend")
		onLoop(t, 1)
		raw := pc.Conn()
		big := strings.Repeat("y", 16<<20)
		var out []byte
		out, _ = (&pgproto3.Query{String: "SELECT pg_sleep(1)"}).Encode(out)
		out, _ = (&pgproto3.Query{String: "SELECT length('" + big + "')"}).Encode(out)
		out, _ = (&pgproto3.Query{String: "SELECT 'after'"}).Encode(out)
		werr := make(chan error, 1)
		go func() { _, err := raw.Write(out); werr <- err }()
		rows := receiveRows(t, raw, 3)
		if err := <-werr; err != nil {
			t.Fatal(err)
		}
		if want := []string{"", fmt.Sprint(len(big)), "after"}; fmt.Sprint(rows) != fmt.Sprint(want) {
			t.Fatalf("rows %q, want %q", rows, want)
		}
		onLoop(t, 1)
		pc.Close(ctx)
		onLoop(t, 0)
	})

	t.Run("HandOverWithRecordsLeft", func(t *testing.T) {
		// The client asks for 64 MiB of rows and reads nothing: its
		// backend waits on ClientWrite once the sockets' buffers are
		// full, which the proxy makes it do only while the loop holds
		// records the client's socket did not take. Its next
		// statement is the proxy's, which hands the session over; the
		// client then reads the whole answer, then the proxy's.
		pc := rawConnect(t, "records-left")
		raw := pc.Conn()
		onLoop(t, 1)
		q, _ := (&pgproto3.Query{String: "SELECT g, repeat('r', 1000) FROM generate_series(1, 65536) g"}).Encode(nil)
		if _, err := raw.Write(q); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, "records-left", "ClientWrite")
		q, _ = (&pgproto3.Query{String: "SELECT count(*) FROM helios_proxy.backends"}).Encode(nil)
		if _, err := raw.Write(q); err != nil {
			t.Fatal(err)
		}
		onLoop(t, 0) // handed over
		rows := receiveRows(t, raw, 2)
		if len(rows) != 65537 {
			t.Fatalf("%d rows, want 65536 and the proxy's one", len(rows))
		}
		for i, r := range rows[:65536] {
			if r != fmt.Sprint(i+1) {
				t.Fatalf("row %d is %q", i, r)
			}
		}
		if rows[65536] != "1" {
			t.Fatalf("the proxy's answer came as %q, want 1", rows[65536])
		}
	})
}

// receiveRows reads from conn the first column of every DataRow until
// ready ReadyForQuery messages came.
func receiveRows(t *testing.T, conn net.Conn, ready int) []string {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
	defer conn.SetReadDeadline(time.Time{})
	fe := pgproto3.NewFrontend(conn, conn)
	var rows []string
	for n := 0; n < ready; {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("after %d answers, %d rows: %v", n, len(rows), err)
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			rows = append(rows, string(m.Values[0]))
		case *pgproto3.ErrorResponse:
			t.Fatalf("%s %s", m.Code, m.Message)
		case *pgproto3.ReadyForQuery:
			n++
		}
	}
	return rows
}
