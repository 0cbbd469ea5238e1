package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/internal/wiretest"
	"github.com/heliosdb/heliosproxy/proxy/wire"
	"github.com/heliosdb/heliosproxy/status"
)

// rawSafetyNet bounds every raw connection, so that a proxy that never
// answers fails the test instead of hanging it. Tests assert on what
// arrives, never on how long it took.
const rawSafetyNet = 10 * time.Second

// rawDial opens a TCP connection to addr for hand-written bytes.
func rawDial(addr string) (net.Conn, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(rawSafetyNet))
	return conn, nil
}

// rawStartup logs in as user with a protocol 3.0 StartupMessage (trust
// authentication) and reads up to the first ReadyForQuery. The session's
// application_name is malformed_test.
func rawStartup(conn net.Conn, user string) error { return rawStartupDB(conn, user, "postgres") }

// rawStartupDB is rawStartup to the database db.
func rawStartupDB(conn net.Conn, user, db string) error {
	p, err := (&pgproto3.StartupMessage{
		ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters:      map[string]string{"user": user, "database": db, "application_name": "malformed_test"},
	}).Encode(nil)
	if err != nil {
		return err
	}
	if _, err := conn.Write(p); err != nil {
		return err
	}
	fe := pgproto3.NewFrontend(conn, io.Discard)
	for {
		msg, err := fe.Receive()
		if err != nil {
			return fmt.Errorf("startup: %w", err)
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("startup refused: %s %s", m.Code, m.Message)
		case *pgproto3.ReadyForQuery:
			return nil
		}
	}
}

// readUntilClosed returns everything the proxy sends until it closes the
// connection; the error says when it did not (the safety net expired).
// A reset counts as closed: the proxy may close with our bytes unread.
func readUntilClosed(conn net.Conn) ([]byte, error) {
	b, err := io.ReadAll(conn)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return b, fmt.Errorf("connection still open after %v (received %q)", rawSafetyNet, b)
		}
		return b, err
	}
	return b, nil
}

// rawReplies describes the typed backend messages in b: an
// ErrorResponse as "E" and its SQLSTATE ("E 08P01"), others by their type.
func rawReplies(b []byte) ([]string, error) {
	var out []string
	for len(b) > 0 {
		if len(b) < 5 {
			return out, fmt.Errorf("truncated header %q", b)
		}
		n := int(binary.BigEndian.Uint32(b[1:5]))
		if n < 4 || len(b) < 1+n {
			return out, fmt.Errorf("truncated or bad message %q", b)
		}
		typ, body := b[0], b[5:1+n]
		b = b[1+n:]
		if typ != 'E' {
			out = append(out, string(typ))
			continue
		}
		var e pgproto3.ErrorResponse
		if err := e.Decode(body); err != nil {
			return out, fmt.Errorf("ErrorResponse %q: %w", body, err)
		}
		out = append(out, "E "+e.Code)
	}
	return out, nil
}

// rawExchange sends p on a new connection (after logging in when login is
// set), optionally shuts down the write side, and describes everything the
// proxy sends until it closes the connection: single-byte answers to
// SSLRequest and GSSENCRequest ("N") are returned in prefix.
func rawExchange(addr string, login bool, p []byte, prefix int, halfClose bool) (string, []string, error) {
	conn, err := rawDial(addr)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close()
	if login {
		if err := rawStartup(conn, "postgres"); err != nil {
			return "", nil, err
		}
	}
	if _, err := conn.Write(p); err != nil {
		return "", nil, err
	}
	if halfClose {
		if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
			return "", nil, err
		}
	}
	b, err := readUntilClosed(conn)
	if err != nil {
		return "", nil, err
	}
	if len(b) < prefix {
		return "", nil, fmt.Errorf("received %q, want %d single-byte answers first", b, prefix)
	}
	msgs, err := rawReplies(b[prefix:])
	return string(b[:prefix]), msgs, err
}

// malformedCase is a client that breaks the protocol and what the proxy
// must answer before it closes the connection.
type malformedCase struct {
	name      string
	login     bool   // complete a trust startup first: p is sent in the relay phase
	p         []byte // sent in one write
	halfClose bool   // shut down the write side after p
	prefix    string // single-byte answers expected before the messages
	want      []string
	orNothing bool // closing without a word is right too
}

func (c malformedCase) ok(prefix string, got []string) bool {
	return prefix == c.prefix && (slices.Equal(got, c.want) || c.orNothing && len(got) == 0)
}

func (c malformedCase) String() string {
	s := fmt.Sprintf("%q then %q", c.prefix, c.want)
	if c.orNothing {
		s += " (or nothing)"
	}
	return s + " then EOF"
}

func malformedCases(t testing.TB, maxBody int) []malformedCase {
	startup := func(version uint32, params map[string]string) []byte {
		return wiretest.Startup(t, &pgproto3.StartupMessage{ProtocolVersion: version, Parameters: params})
	}
	good := startup(pgproto3.ProtocolVersion30, map[string]string{"user": "postgres", "database": "postgres"})
	ssl := wiretest.Startup(t, &pgproto3.SSLRequest{})
	gss := wiretest.Startup(t, &pgproto3.GSSEncRequest{})
	garbage := []byte("GET / HTTP/1.1\r\nHost: heliosproxy.example\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n")
	garbage = append(garbage, bytes.Repeat([]byte{'!'}, 100-len(garbage))...)
	header := func(typ byte, n uint32) []byte { return append([]byte{typ}, wiretest.Uint32(n)...) }
	over := header('Q', uint32(4+maxBody+1))
	over = append(over, bytes.Repeat([]byte{'x'}, 1000)...) // the rest never needs to come
	protocolViolation := []string{"E " + "08P01"}
	return []malformedCase{
		{name: "startup length 0", p: wiretest.Uint32(0), want: protocolViolation},
		{name: "startup length 7", p: []byte{0, 0, 0, 7, 0, 3, 0}, want: protocolViolation},
		{name: "startup length 10001", p: slices.Concat(wiretest.Uint32(10001), wiretest.Uint32(pgproto3.ProtocolVersion30)), want: protocolViolation},
		{name: "startup length 2^31", p: slices.Concat(wiretest.Uint32(1<<31), wiretest.Uint32(pgproto3.ProtocolVersion30)), want: protocolViolation},
		{name: "startup length 2^31-1", p: slices.Concat(wiretest.Uint32(1<<31-1), wiretest.Uint32(pgproto3.ProtocolVersion30)), want: protocolViolation},
		{name: "100 bytes of HTTP", p: garbage, want: protocolViolation},
		{name: "protocol 2.0", p: startup(2<<16, map[string]string{"user": "postgres"}), want: protocolViolation},
		{name: "protocol 4.0", p: startup(4<<16, map[string]string{"user": "postgres"}), want: protocolViolation},
		{name: "no user", p: startup(pgproto3.ProtocolVersion30, map[string]string{"database": "postgres"}), want: protocolViolation},
		{name: "CancelRequest without key", p: wiretest.Packet(wire.CancelRequestCode, "\x00\x00\x00\x01"), want: protocolViolation},
		{name: "SSLRequest with a payload", p: wiretest.Packet(wire.SSLRequestCode, "\x00\x00\x00\x00"), want: protocolViolation},
		// The bytes after the SSLRequest arrived before any TLS handshake
		// (CVE-2021-23222): refused before the proxy answers 'N'.
		{name: "SSLRequest and StartupMessage in one write", p: slices.Concat(ssl, good), want: protocolViolation},
		{name: "GSSENCRequest then no user", p: slices.Concat(gss, startup(pgproto3.ProtocolVersion30, map[string]string{"database": "postgres"})), prefix: "N", want: protocolViolation},
		// A client that shut down its write side in the middle of its
		// StartupMessage can still be told; PostgreSQL closes silently.
		{name: "truncated StartupMessage then shutdown", p: good[:len(good)-5], halfClose: true, want: protocolViolation, orNothing: true},
		{name: "relay: length 2^31", login: true, p: header('Q', 1<<31), want: protocolViolation},
		{name: "relay: length 3", login: true, p: header('Q', 3), want: protocolViolation},
		{name: "relay: length 2^32-1", login: true, p: header('P', 1<<32-1), want: protocolViolation},
		{name: "relay: body one over max_message_size", login: true, p: over, want: protocolViolation},
	}
}

// malformedConfig is testConfig with a small max_message_size, without
// health checks and latency rules: these tests are about clients, and a
// loaded machine's slow checks or connects must not open the only circuit
// under them. The failure rule stays: malformed clients must not trip it.
func malformedConfig(t testing.TB, c *pgtest.Cluster) config.Config {
	cfg := testConfig(t, c)
	cfg.Proxy.MaxMessageSize = 16 << 10
	cfg.HealthChecks.Enabled = false
	cfg.CircuitBreaker.LatencyThresholdP95Ms = 0
	cfg.CircuitBreaker.LatencyThresholdP99Ms = 0
	return cfg
}

// malformedBackendHealthy checks that the proxy counted nothing against its
// backend.
func malformedBackendHealthy(t *testing.T, p *runningProxy) {
	t.Helper()
	b := p.Snapshot().Backends[0]
	if b.FailuresTotal != 0 || b.CircuitState != status.Closed {
		t.Errorf("backend %s: %d failures, circuit %s; want 0, CLOSED", b.Name, b.FailuresTotal, b.CircuitState)
	}
}

// TestMalformed sends each malformed input on its own connection and
// checks the proxy's answer, then that the proxy still serves clients.
func TestMalformed(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Auth: "trust"})
	cfg := malformedConfig(t, c)
	p := startProxy(t, cfg)
	for _, tt := range malformedCases(t, cfg.Proxy.MaxMessageSize) {
		t.Run(tt.name, func(t *testing.T) {
			prefix, got, err := rawExchange(p.Addr, tt.login, tt.p, len(tt.prefix), tt.halfClose)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.ok(prefix, got) {
				t.Errorf("replies = %q then %q then EOF, want %v", prefix, got, tt)
			}
			// The session ended before the connection closed.
			if n := p.Snapshot().Backends[0].ActiveConnections; n != 0 {
				t.Errorf("after the connection closed, %d active sessions, want 0", n)
			}
		})
	}

	t.Run("truncated StartupMessage then close", func(t *testing.T) {
		conn, err := rawDial(p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		good := wiretest.Startup(t, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "postgres"}})
		if _, err := conn.Write(good[:len(good)/2]); err != nil {
			t.Fatal(err)
		}
		conn.Close() // nothing to read: the next subtest checks the proxy
	})

	t.Run("max_message_size itself is relayed", func(t *testing.T) {
		conn, err := rawDial(p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := rawStartup(conn, "postgres"); err != nil {
			t.Fatal(err)
		}
		sql := "SELECT 1 --"
		sql += strings.Repeat("-", cfg.Proxy.MaxMessageSize-len(sql)-1) // + the NUL: a body of exactly max_message_size
		q, err := (&pgproto3.Query{String: sql}).Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		x, _ := (&pgproto3.Terminate{}).Encode(nil)
		if _, err := conn.Write(slices.Concat(q, x)); err != nil {
			t.Fatal(err)
		}
		b, err := readUntilClosed(conn)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rawReplies(b)
		if want := []string{"T", "D", "C", "Z"}; err != nil || !slices.Equal(got, want) {
			t.Errorf("replies to a Query of %d bytes then Terminate = %q, %v; want %q then EOF", len(q)-1, got, err, want)
		}
	})

	t.Run("good client afterwards", func(t *testing.T) {
		malformedGoodClient(t, p.dsn(c.User, c.Password), 3)
	})
	malformedBackendHealthy(t, p)
}

// malformedGoodClient connects with pgx and runs queries queries.
func malformedGoodClient(t *testing.T, dsn string, queries int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // safety net
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Errorf("pgx.Connect through the proxy: %v", err)
		return
	}
	defer conn.Close(ctx)
	for i := range queries {
		var got int
		if err := conn.QueryRow(ctx, "SELECT $1::int + 1", i).Scan(&got); err != nil || got != i+1 {
			t.Errorf("SELECT %d + 1 = %d, %v; want %d, nil", i, got, err, i+1)
			return
		}
	}
}

// TestMalformedConcurrent sends every malformed input several times at
// once, while good clients run queries through the same proxy.
func TestMalformedConcurrent(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Auth: "trust"})
	cfg := malformedConfig(t, c)
	p := startProxy(t, cfg)
	cases := malformedCases(t, cfg.Proxy.MaxMessageSize)

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { malformedGoodClient(t, p.dsn(c.User, c.Password), 20) })
	}
	for round := range 3 {
		for _, tt := range cases {
			wg.Go(func() {
				prefix, got, err := rawExchange(p.Addr, tt.login, tt.p, len(tt.prefix), tt.halfClose)
				if err != nil {
					t.Errorf("%s (round %d): %v", tt.name, round, err)
					return
				}
				if !tt.ok(prefix, got) {
					t.Errorf("%s (round %d): replies = %q then %q then EOF, want %v", tt.name, round, prefix, got, tt)
				}
			})
		}
		wg.Go(func() { // and a client that gives up in the middle of its startup
			conn, err := rawDial(p.Addr)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = conn.Write([]byte{0, 0, 0, 40, 0, 3, 0, 0, 'u', 's'})
			conn.Close()
		})
	}
	wg.Wait()
	malformedGoodClient(t, p.dsn(c.User, c.Password), 1)
	malformedBackendHealthy(t, p)
}

// TestStartupTimeout checks that clients that do not finish their startup
// are disconnected once proxy.startup_timeout has passed.
func TestStartupTimeout(t *testing.T) {
	cfg := config.Default()
	cfg.Proxy.ListenAddress = "127.0.0.1:0"
	cfg.Proxy.StartupTimeout = config.Duration{Duration: 300 * time.Millisecond}
	b := config.DefaultBackend()
	b.Name, b.Host, b.Port = "unused", "127.0.0.1", 1 // no client gets that far
	cfg.Backends.Instances = []config.Backend{b}
	cfg.HealthChecks.Enabled = false
	p := startProxy(t, cfg)

	good := wiretest.Startup(t, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "postgres"}})
	tests := []struct {
		name   string
		p      []byte
		prefix string // answers to expect before the close
	}{
		{"sends nothing", nil, ""},
		{"two bytes of the length", []byte{0, 0}, ""},
		{"half a StartupMessage", good[:len(good)/2], ""},
		{"SSLRequest, then nothing", wiretest.Startup(t, &pgproto3.SSLRequest{}), "N"},
		{"GSSENCRequest, then half a StartupMessage", slices.Concat(wiretest.Startup(t, &pgproto3.GSSEncRequest{}), good[:10]), "N"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn, err := rawDial(p.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if len(tt.p) > 0 {
				if _, err := conn.Write(tt.p); err != nil {
					t.Fatal(err)
				}
			}
			b, err := readUntilClosed(conn)
			if err != nil {
				t.Fatalf("startup_timeout did not close the connection: %v", err)
			}
			if !bytes.HasPrefix(b, []byte(tt.prefix)) {
				t.Fatalf("received %q, want %q first", b, tt.prefix)
			}
			// The proxy may say why before it closes: one ErrorResponse.
			got, err := rawReplies(b[len(tt.prefix):])
			if err != nil || len(got) > 1 || (len(got) == 1 && !strings.HasPrefix(got[0], "E ")) {
				t.Errorf("before the close received %q (%v), want at most one ErrorResponse", got, err)
			}
			t.Logf("closed after %q", got)
		})
	}
}

// TestMalformedFromClientThatStopsReading sends a malformed message from a
// client that stopped reading a large result: the proxy must still end the
// session and close its backend connection, without the client's help.
func TestMalformedFromClientThatStopsReading(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Auth: "trust"})
	p := startProxy(t, malformedConfig(t, c))
	ctx, cancel := context.WithTimeout(context.Background(), rawSafetyNet)
	defer cancel()
	admin, err := pgx.Connect(ctx, c.DSN(c.User, c.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	// backendWait returns the wait event of the backend serving rawStartup's
	// session, and whether there is one.
	backendWait := func() (string, bool, error) {
		var ev string
		err := admin.QueryRow(ctx, `SELECT coalesce(wait_event, '') FROM pg_stat_activity WHERE application_name = 'malformed_test'`).Scan(&ev)
		if errors.Is(err, pgx.ErrNoRows) {
			return "", false, nil
		}
		return ev, err == nil, err
	}
	waitFor := func(what string, cond func(ev string, ok bool) bool) {
		lastEv, lastOK := "", false
		for {
			ev, ok, err := backendWait()
			if ctx.Err() != nil {
				t.Fatalf("the proxy never %s (last seen: backend there %v, wait event %q)", what, lastOK, lastEv)
			}
			if err != nil {
				t.Fatalf("pg_stat_activity: %v", err)
			}
			if cond(ev, ok) {
				return
			}
			lastEv, lastOK = ev, ok
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}

	// A small, fixed receive buffer: once it is full, the kernel takes no
	// more of the result for us.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
		return errors.Join(err, serr)
	}}
	conn, err := d.DialContext(ctx, "tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close() // this alone unblocks a proxy stuck writing to us
	_ = conn.SetDeadline(time.Now().Add(rawSafetyNet))
	if err := rawStartup(conn, "postgres"); err != nil {
		t.Fatal(err)
	}
	q, err := (&pgproto3.Query{String: "SELECT repeat('x', 1 << 20) FROM generate_series(1, 4096)"}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(q); err != nil {
		t.Fatal(err)
	}
	// Wait until the whole path is full: our receive queue no longer grows
	// and PostgreSQL is blocked writing, so the proxy is blocked writing to
	// us, where a read deadline cannot reach it.
	unread, still := -1, 0
	waitFor("stopped relaying to a client that does not read", func(ev string, _ bool) bool {
		n, err := rawUnread(conn)
		if err != nil {
			t.Fatal(err)
		}
		if ev != "ClientWrite" || n == 0 || n != unread {
			unread, still = n, 0
			return false
		}
		still++
		return still == 3
	})
	if _, err := conn.Write([]byte{'Q', 0, 0, 0, 3}); err != nil {
		t.Fatal(err)
	}
	waitFor("closed the backend connection after the malformed message", func(_ string, ok bool) bool { return !ok })
}

// rawUnread returns how many received bytes wait in conn's receive queue.
func rawUnread(conn net.Conn) (int, error) {
	rc, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int32
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
	}); err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, fmt.Errorf("ioctl(SIOCINQ): %w", errno)
	}
	return int(n), nil
}
