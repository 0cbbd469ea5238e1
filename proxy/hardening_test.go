package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/internal/wiretest"
	"github.com/heliosdb/heliosproxy/proxy/session"
	"github.com/heliosdb/heliosproxy/proxy/wire"
	"github.com/heliosdb/heliosproxy/status"
)

// readUntilReady describes the messages the proxy sends up to and
// including the next ReadyForQuery.
func readUntilReady(t *testing.T, r io.Reader) []string {
	t.Helper()
	fe := pgproto3.NewFrontend(r, io.Discard)
	var got []string
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			got = append(got, "E "+m.Code)
		case *pgproto3.ReadyForQuery:
			return append(got, "Z")
		default:
			var b bytes.Buffer
			enc, _ := m.Encode(nil)
			b.WriteByte(enc[0])
			got = append(got, b.String())
		}
	}
}

// TestStatusSessionMalformedDescribeClose: a Describe or Close whose body
// names nothing gets 08P01 on the status database (it used to panic), and
// the session goes on.
func TestStatusSessionMalformedDescribeClose(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "hard-dc"})
	p := startProxy(t, malformedConfig(t, c))
	for _, body := range [][]byte{nil, {'S'}, {'X', 0}, {'P', 'a'}, {'S', 'a', 0, 'b', 0}} {
		for _, typ := range []byte{'D', 'C'} {
			conn, err := rawDial(p.Addr)
			if err != nil {
				t.Fatal(err)
			}
			if err := rawStartupDB(conn, "postgres", session.StatusDatabase); err != nil {
				t.Fatal(err)
			}
			msg := wire.AppendMessage(nil, typ, body)
			msg = append(msg, 'S', 0, 0, 0, 4)
			if _, err := conn.Write(msg); err != nil {
				t.Fatal(err)
			}
			if got, want := readUntilReady(t, conn), []string{"E 08P01", "Z"}; !slices.Equal(got, want) {
				t.Errorf("%c %q: got %v, want %v", typ, body, got, want)
			}
			q, _ := (&pgproto3.Query{String: "SELECT count(*) FROM helios_proxy.backends"}).Encode(nil)
			if _, err := conn.Write(q); err != nil {
				t.Fatal(err)
			}
			if got, want := readUntilReady(t, conn), []string{"T", "D", "C", "Z"}; !slices.Equal(got, want) {
				t.Errorf("%c %q: query afterwards got %v, want %v", typ, body, got, want)
			}
			conn.Close()
		}
	}
	malformedBackendHealthy(t, p)
}

// rssBytes is this process's resident memory, from /proc.
func rssBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// scramPooledProxy starts a SCRAM cluster (superuser password pg-secret)
// with the role app (app-secret) pooled by a proxy with malformedConfig.
func scramPooledProxy(t *testing.T, name string, edit func(*config.Config)) *runningProxy {
	t.Helper()
	c := pgtest.New(t, pgtest.Options{Name: name, Auth: "scram-sha-256", Password: "pg-secret"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.CreateUser(ctx, "app", "app-secret"); err != nil {
		t.Fatal(err)
	}
	cfg := malformedConfig(t, c)
	cfg.Users = []config.User{{Name: "app", Password: "app-secret"}}
	if edit != nil {
		edit(&cfg)
	}
	return startProxy(t, cfg)
}

// TestPasswordMessageMemory: clients that declare huge password (and
// status-database) messages and never send them cost the proxy no memory,
// get PostgreSQL's limit, and everyone else is served.
func TestPasswordMessageMemory(t *testing.T) {
	p := scramPooledProxy(t, "hard-mem", func(cfg *config.Config) { cfg.Proxy.MaxStatusConnections = 64 })
	runtime.GC()
	before := rssBytes(t)
	const clients = 64
	header := []byte{'p', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(header[1:], 64<<20)
	var conns []net.Conn
	for i := range clients {
		conn, err := rawDial(p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
		switch i % 3 {
		case 0: // pass-through login: the backend's challenge
			wiretest.SendStartup(t, conn, "postgres", "postgres")
			wiretest.ReadAuthRequest(t, conn)
		case 1: // [[users]] login: the proxy's own challenge
			wiretest.SendStartup(t, conn, "app", "postgres")
			wiretest.ReadAuthRequest(t, conn)
		case 2: // status database: an authenticated local session
			if err := rawStartupDB(conn, "postgres", session.StatusDatabase); err != nil {
				t.Fatal(err)
			}
			header[0] = 'Q'
		}
		if _, err := conn.Write(append(header, make([]byte, 4096)...)); err != nil {
			t.Fatal(err)
		}
		header[0] = 'p'
	}
	for i, conn := range conns {
		b, err := readUntilClosed(conn)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		msgs, err := rawReplies(b)
		if err != nil || len(msgs) == 0 || msgs[len(msgs)-1] != "E 08P01" {
			t.Errorf("client %d: got %v (%v), want a 08P01 ErrorResponse", i, msgs, err)
		}
		conn.Close()
	}
	if grown := rssBytes(t) - before; grown > 100<<20 {
		t.Errorf("RSS grew by %d MiB for %d clients declaring 64 MiB each", grown>>20, clients)
	}
	malformedGoodClient(t, p.dsn("postgres", "pg-secret"), 3)
	malformedBackendHealthy(t, p)
}

// TestBufferBudget: messages within max_message_size grow a client's
// buffer only as their bytes arrive, and all clients together stay within
// max_buffer_memory: the one that would exceed it gets 53200.
func TestBufferBudget(t *testing.T) {
	p := scramPooledProxy(t, "hard-budget", func(cfg *config.Config) { cfg.Proxy.MaxMessageSize = 64 << 20 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Pooled sessions read whole messages: two send 1.5 MiB of a 3 MiB
	// Query each and wait.
	var conns []*pgconn.PgConn
	defer func() {
		for _, pc := range conns {
			pc.Close(context.Background())
		}
	}()
	query := func(sent int) net.Conn {
		pc, err := pgconn.Connect(ctx, p.dsn("app", "app-secret"))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, pc)
		msg := []byte{'Q', 0, 0, 0, 0}
		binary.BigEndian.PutUint32(msg[1:], 3<<20)
		if _, err := pc.Conn().Write(append(msg, make([]byte, sent-len(msg))...)); err != nil {
			t.Fatal(err)
		}
		return pc.Conn()
	}
	for i := range 2 {
		query(3 << 19)
		// The proxy holds the bytes once it has read them: its budget shows them.
		waitFor(t, func() bool { return p.front.Buffers.Used.Load() >= int64(i+1)*(3<<19) })
	}
	held := p.front.Buffers.Used.Load()
	if held > 2*(2<<20) {
		t.Errorf("two clients' 1.5 MiB hold %d bytes of buffers, want at most 2 MiB each", held)
	}
	// The budget now leaves less room than the third client's next
	// growth: it sends exactly its first buffer's worth (so that nothing
	// is left unread when the proxy closes) and is refused.
	p.front.Buffers.Limit.Store(held + 4096)
	conn := query(session.ClientBufSize)
	_ = conn.SetReadDeadline(time.Now().Add(rawSafetyNet))
	b, err := io.ReadAll(conn)
	if msgs, _ := rawReplies(b); !slices.Equal(msgs, []string{"E 53200"}) {
		t.Errorf("client over the budget got %v (%v), want E 53200", msgs, err)
	}
	if used := p.front.Buffers.Used.Load(); used > held+4096 {
		t.Errorf("buffers hold %d bytes, budget %d", used, held+4096)
	}
	malformedGoodClient(t, p.dsn("postgres", "pg-secret"), 3)
}

// waitFor polls cond until it holds, failing the test after rawSafetyNet.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(rawSafetyNet)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// holdSessions returns a function that opens a session as postgres
// (trust) on database db through the proxy at addr and keeps it open until
// the test ends.
func holdSessions(t *testing.T, ctx context.Context, addr string) func(db string) error {
	host, port, _ := net.SplitHostPort(addr)
	return func(db string) error {
		pc, err := pgconn.Connect(ctx, fmt.Sprintf("host=%s port=%s user=postgres dbname=%s sslmode=disable", host, port, db))
		if err == nil {
			t.Cleanup(func() { pc.Close(context.Background()) })
		}
		return err
	}
}

// TestStatusDatabaseCountsAgainstMaxClientConn: helios_proxy sessions are
// within pool.max_client_conn, with a small reserve of their own.
func TestStatusDatabaseCountsAgainstMaxClientConn(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "hard-maxconn"})
	cfg := malformedConfig(t, c)
	cfg.Pool.MaxClientConn = 4
	p := startProxy(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	connect := holdSessions(t, ctx, p.Addr)
	for i := range 4 + session.StatusReserved {
		if err := connect(session.StatusDatabase); err != nil {
			t.Fatalf("status session %d of %d allowed: %v", i+1, 4+session.StatusReserved, err)
		}
	}
	if err := connect(session.StatusDatabase); pgCode(err) != "53300" {
		t.Errorf("status session beyond max_client_conn and its reserve: err = %v, want 53300", err)
	}
	if err := connect("postgres"); pgCode(err) != "53300" {
		t.Errorf("backend session while status sessions fill max_client_conn: err = %v, want 53300", err)
	}
}

// slowAuthConn delays every password message the client sends.
type slowAuthConn struct {
	net.Conn
	delay time.Duration
}

func (c slowAuthConn) Write(p []byte) (int, error) {
	if len(p) > 0 && p[0] == 'p' {
		time.Sleep(c.delay) // the client's think time the test is about, not synchronisation
	}
	return c.Conn.Write(p)
}

// TestSilentLoginsLeaveCircuitsAlone: clients slow to answer the password
// challenge, or silent, are not the backend's latency; silent logins
// cannot take every login slot from real clients.
func TestSilentLoginsLeaveCircuitsAlone(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "hard-silent", Auth: "scram-sha-256", Password: "pg-secret"})
	cfg := testConfig(t, c)
	cfg.Proxy.MaxLoginsPerBackend = 8
	cfg.CircuitBreaker.MinimumRequests = 5
	cfg.CircuitBreaker.LatencyThresholdP95Ms = 500
	p := startProxy(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Logins whose client takes 600 ms per answer (SCRAM needs two):
	// enough of them to trip the P95 rule if their time counted.
	pcfg, err := pgconn.ParseConfig(p.dsn("postgres", "pg-secret"))
	if err != nil {
		t.Fatal(err)
	}
	dial := pcfg.DialFunc
	pcfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		return slowAuthConn{conn, 600 * time.Millisecond}, err
	}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			pc, err := pgconn.ConnectConfig(ctx, pcfg)
			if err != nil {
				t.Errorf("slow login: %v", err)
				return
			}
			pc.Close(ctx)
		})
	}
	wg.Wait()
	if b := p.Snapshot().Backends[0]; b.CircuitState != status.Closed || b.LatencyP95Ms >= 500 {
		t.Errorf("after slow clients: %s, P95 %.1f ms; want CLOSED and the backend's own time", b.CircuitState, b.LatencyP95Ms)
	}

	// Silent logins, far more than the slots: a real client still gets in.
	var silent []net.Conn
	defer func() {
		for _, conn := range silent {
			conn.Close()
		}
	}()
	for range 40 {
		conn, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, conn)
		wiretest.SendStartup(t, conn, "postgres", "postgres")
	}
	for range 3 {
		pc, err := pgconn.Connect(ctx, p.dsn("postgres", "pg-secret"))
		if err != nil {
			t.Fatalf("real client among silent logins: %v", err)
		}
		if _, err := pc.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
			t.Errorf("SELECT 1: %v", err)
		}
		pc.Close(ctx)
	}
	b := p.Snapshot().Backends[0]
	if b.CircuitState != status.Closed || b.FailuresTotal != 0 {
		t.Errorf("after silent logins: %s with %d failures; want CLOSED, none", b.CircuitState, b.FailuresTotal)
	}
	// The logins ended for the real clients were told why.
	told := 0
	for _, conn := range silent {
		_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		got, _ := io.ReadAll(conn)
		if i := bytes.IndexByte(got, 'E'); i >= 0 && bytes.Contains(got[i:], []byte("53300")) {
			told++
		}
	}
	if told == 0 {
		t.Error("no silent login that gave way was answered 53300")
	}
}

// TestVanishedClientFreesBackend: a client that stops reading in the
// middle of a large result loses its session after
// proxy.client_write_timeout, and its backend session ends.
func TestVanishedClientFreesBackend(t *testing.T) {
	// Three backends: the max-ejection guard would keep a lone backend's
	// circuit closed whatever the latency rules say.
	clusters := []*pgtest.Cluster{pgtest.New(t, pgtest.Options{Name: "hard-reader-a"}),
		pgtest.New(t, pgtest.Options{Name: "hard-reader-b"}), pgtest.New(t, pgtest.Options{Name: "hard-reader-c"})}
	cfg := testConfig(t, clusters...)
	cfg.Proxy.ClientWriteTimeout = config.Duration{Duration: 3 * time.Second}
	// The latency rules are on: time waiting on the client must count
	// neither as the query's latency nor as a stall.
	cfg.CircuitBreaker.LatencyThresholdP95Ms = 300
	cfg.CircuitBreaker.LatencyThresholdP99Ms = 600
	cfg.CircuitBreaker.MinimumRequests = 1
	p := startProxy(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := rawStartup(conn, "postgres"); err != nil {
		t.Fatal(err)
	}
	// Shrink our receive window so that the proxy's writes stall quickly.
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	q, _ := (&pgproto3.Query{String: "SELECT generate_series(1, 10000000), repeat('x', 1000)"}).Encode(nil)
	if _, err := conn.Write(q); err != nil {
		t.Fatal(err)
	}
	sessions := func(c *pgtest.Cluster) string {
		direct, err := pgconn.Connect(ctx, c.DSN("postgres", c.Password, "postgres"))
		if err != nil {
			t.Fatal(err)
		}
		defer direct.Close(ctx)
		res, err := direct.Exec(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'malformed_test'").ReadAll()
		if err != nil || len(res) == 0 || len(res[0].Rows) == 0 {
			t.Fatalf("pg_stat_activity: %v", err)
		}
		return string(res[0].Rows[0][0])
	}
	var c *pgtest.Cluster
	for _, cc := range clusters {
		if sessions(cc) == "1" {
			c = cc
		}
	}
	if c == nil {
		t.Fatal("the reader's backend session is on no backend")
	}
	for n := sessions(c); n != "0"; n = sessions(c) {
		select {
		case <-ctx.Done():
			t.Fatalf("the backend session of a client that stopped reading is still there: %v", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	for _, ev := range p.Events(0) {
		if ev.Type == status.CircuitOpened {
			t.Errorf("a client that stopped reading opened a circuit: %s (%s)", ev.Backend, ev.Reason)
		}
	}
}

// nonLoopbackIP returns an IPv4 address of this machine that is not a
// loopback address, adding one to the loopback interface when the
// machine has none (as root; removed when the test ends).
func nonLoopbackIP(t *testing.T) net.IP {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP
		}
	}
	const extra = "10.200.0.1"
	if out, err := exec.Command("ip", "addr", "add", extra+"/32", "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("no non-loopback address, and adding %s failed: %v: %s", extra, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "addr", "del", extra+"/32", "dev", "lo").Run() })
	return net.ParseIP(extra)
}

// TestStatusDatabaseRemoteSCRAM: clients from other hosts log in to the
// status database with the admin token by SCRAM-SHA-256.
func TestStatusDatabaseRemoteSCRAM(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "hard-statusauth"})
	cfg := malformedConfig(t, c)
	cfg.API.AdminToken = "status-token-1"
	p := startProxy(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	host, port, _ := net.SplitHostPort(p.Addr)
	remote := nonLoopbackIP(t)
	connect := func(password string) (*pgconn.PgConn, error) {
		pcfg, err := pgconn.ParseConfig(fmt.Sprintf("host=%s port=%s user=ops dbname=helios_proxy sslmode=disable password=%s", host, port, password))
		if err != nil {
			t.Fatal(err)
		}
		pcfg.DialFunc = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: remote}}).DialContext
		return pgconn.ConnectConfig(ctx, pcfg)
	}
	raw, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: remote}}).DialContext(ctx, "tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	wiretest.SendStartup(t, raw, "ops", session.StatusDatabase)
	msg, err := pgproto3.NewFrontend(raw, io.Discard).Receive()
	if _, ok := msg.(*pgproto3.AuthenticationSASL); !ok {
		t.Errorf("remote status login is asked %T (%v), want SCRAM-SHA-256 (AuthenticationSASL)", msg, err)
	}
	raw.Close()
	if _, err := connect("wrong-token"); pgCode(err) != "28P01" {
		t.Errorf("remote login with a wrong token: err = %v, want 28P01", err)
	}
	pc, err := connect("status-token-1")
	if err != nil {
		t.Fatalf("remote login with the token: %v", err)
	}
	defer pc.Close(ctx)
	if res, err := pc.Exec(ctx, "SELECT count(*) FROM helios_proxy.backends").ReadAll(); err != nil || string(res[0].Rows[0][0]) != "1" {
		t.Errorf("status query over a remote session: %v", err)
	}
}

// TestFullBackendPassesHealthChecks: a backend at its connection limit
// refuses the health check's connection with 53300; that is overload, not
// an outage, and its circuit stays closed.
func TestFullBackendPassesHealthChecks(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "hard-fullcheck", Settings: map[string]string{"max_connections": "6"}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 6 {
		pc, err := pgconn.Connect(ctx, c.DSN("postgres", c.Password, "postgres"))
		if err != nil {
			t.Fatalf("fill the backend: %v", err)
		}
		defer pc.Close(context.Background())
	}
	cfg := testConfig(t, c)
	cfg.HealthChecks.Interval = config.Duration{Duration: 200 * time.Millisecond}
	cfg.HealthChecks.Timeout = config.Duration{Duration: 200 * time.Millisecond}
	p := startProxy(t, cfg)
	b := p.list()[0]
	// Several checks, each refused (ConnectionFailureThreshold is 3).
	seen := map[time.Time]bool{}
	waitFor(t, func() bool {
		if r := b.Check.Latest(); r != nil && r.Done() {
			seen[r.Start()] = true
		}
		return len(seen) > 2*cfg.CircuitBreaker.ConnectionFailureThreshold
	})
	if st := p.Snapshot().Backends[0]; st.CircuitState != status.Closed || st.FailuresTotal != 0 {
		t.Errorf("full backend after %d refused checks: %s with %d failures, want CLOSED", len(seen), st.CircuitState, st.FailuresTotal)
	}
}

// TestStatusSessionsCapped: password-less status sessions cannot take the
// applications' client connections.
func TestStatusSessionsCapped(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "hard-statuscap"})
	cfg := malformedConfig(t, c)
	cfg.Proxy.MaxStatusConnections = 2
	cfg.Pool.MaxClientConn = 4
	p := startProxy(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	connect := holdSessions(t, ctx, p.Addr)
	for i := range 2 {
		if err := connect(session.StatusDatabase); err != nil {
			t.Fatalf("status session %d: %v", i+1, err)
		}
	}
	if err := connect(session.StatusDatabase); pgCode(err) != "53300" {
		t.Errorf("status session beyond max_status_connections: err = %v, want 53300", err)
	}
	for i := range 2 {
		if err := connect("postgres"); err != nil {
			t.Errorf("application session %d beside the capped status sessions: %v", i+1, err)
		}
	}
}

// TestSilentLoginsGiveWayAtMaxClientConn: when pool.max_client_conn is
// reached, a login stuck on its silent client is ended for a new client.
func TestSilentLoginsGiveWayAtMaxClientConn(t *testing.T) {
	p := scramPooledProxy(t, "hard-giveway", func(cfg *config.Config) { cfg.Pool.MaxClientConn = 6 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var silent []net.Conn
	defer func() {
		for _, conn := range silent {
			conn.Close()
		}
	}()
	for i := range 6 {
		conn, err := rawDial(p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, conn)
		user := "app" // the proxy's own challenge
		if i%2 == 1 {
			user = "postgres" // the backend's, relayed
		}
		wiretest.SendStartup(t, conn, user, "postgres")
		wiretest.ReadAuthRequest(t, conn)
	}
	for _, dsn := range []string{p.dsn("app", "app-secret"), p.dsn("postgres", "pg-secret")} {
		pc, err := pgconn.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("client while silent logins fill max_client_conn: %v", err)
		}
		if _, err := pc.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
			t.Errorf("SELECT 1: %v", err)
		}
		pc.Close(ctx)
	}
}

// TestMalformedSCRAMLeavesCircuitClosed: a client's malformed SCRAM
// message gets the backend's 08P01, which is the client's doing: however
// many times, the backend's circuit stays closed.
func TestMalformedSCRAMLeavesCircuitClosed(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "hard-badscram", Auth: "scram-sha-256", Password: "pg-secret"})
	cfg := testConfig(t, c)
	cfg.CircuitBreaker.MinimumRequests = 5
	p := startProxy(t, cfg)
	bad := wire.AppendMessage(nil, 'p', []byte("SCRAM-SHA-256\x00"), []byte{0, 0, 0, 7}, []byte("garbage"))
	for i := range 10 {
		conn, err := rawDial(p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		wiretest.SendStartup(t, conn, "postgres", "postgres")
		wiretest.ReadAuthRequest(t, conn)
		if _, err := conn.Write(bad); err != nil {
			t.Fatal(err)
		}
		b, err := readUntilClosed(conn)
		conn.Close()
		if msgs, _ := rawReplies(b); err != nil || len(msgs) == 0 || msgs[len(msgs)-1] != "E 08P01" {
			t.Fatalf("malformed SCRAM login %d: got %v (%v), want the backend's 08P01", i, msgs, err)
		}
	}
	if st := p.Snapshot().Backends[0]; st.CircuitState != status.Closed || st.FailuresTotal != 0 {
		t.Errorf("after 10 malformed SCRAM logins: %s with %d failures, want CLOSED and none", st.CircuitState, st.FailuresTotal)
	}
	malformedGoodClient(t, p.dsn("postgres", "pg-secret"), 3)
}

// TestLoginBurstLeavesCircuitClosed: a burst of 400 genuine logins at once
// queues for login slots rather than piling onto the backend, and what it
// costs the clients is not the backend's latency: every login succeeds or
// is refused with 53300, and the circuit stays closed.
func TestLoginBurstLeavesCircuitClosed(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "hard-burst", Auth: "scram-sha-256", Password: "pg-secret",
		Settings: map[string]string{"max_connections": "500"}})
	cfg := testConfig(t, c)
	cfg.CircuitBreaker.MinimumRequests = 20
	cfg.Proxy.ConnectTimeout = config.Duration{Duration: 10 * time.Second}
	// Few slots, so that the backend sets up few sessions at once even on
	// a machine busy with other tests.
	cfg.Proxy.MaxLoginsPerBackend = 8
	p := startProxy(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	start := make(chan struct{})
	for range 400 {
		wg.Go(func() {
			<-start
			pc, err := pgconn.Connect(ctx, p.dsn("postgres", "pg-secret"))
			mu.Lock()
			codes[pgCode(err)]++
			mu.Unlock()
			if err == nil {
				pc.Close(ctx)
			} else if pgCode(err) != "53300" {
				t.Errorf("login in the burst: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	t.Logf("outcomes by SQLSTATE (\"\" = logged in): %v", codes)
	if codes[""] == 0 {
		t.Error("no login of the burst succeeded")
	}
	if st := p.Snapshot().Backends[0]; st.CircuitState != status.Closed {
		t.Errorf("after a burst of 400 logins: %s (%s), want CLOSED", st.CircuitState, st.OpenReason)
	}
}

// TestClientProtocolViolationsLeaveCircuitClosed: PostgreSQL answers a
// malformed message from a logged-in client with 08P01, an ERROR (a Bind
// whose body is empty) or a FATAL that ends the session (a message type it
// does not know). That is the client's doing: a client sending them over
// and over, relayed or pooled, must not open the backend's circuit for
// everyone else (it did: error_rate after 25 malformed Binds).
func TestClientProtocolViolationsLeaveCircuitClosed(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "hard-08p01"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.CreateUser(ctx, "app", "app-secret"); err != nil {
		t.Fatal(err)
	}
	cfg := malformedConfig(t, c)
	cfg.CircuitBreaker.MinimumRequests = 5
	cfg.Pool.Mode = "transaction"
	cfg.Users = []config.User{{Name: "app", AuthMethod: "trust"}} // pooled; postgres is relayed
	p := startProxy(t, cfg)
	badBind := slices.Concat(wire.AppendMessage(nil, 'B'), []byte{'S', 0, 0, 0, 4})
	for _, user := range []string{"postgres", "app"} {
		conn, err := rawDial(p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := rawStartup(conn, user); err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			if _, err := conn.Write(badBind); err != nil {
				t.Fatal(err)
			}
			if got, want := readUntilReady(t, conn), []string{"E 08P01", "Z"}; !slices.Equal(got, want) {
				t.Fatalf("%s: empty Bind %d: got %v, want %v", user, i, got, want)
			}
		}
		conn.Close()
	}
	for i := range 5 {
		_, got, err := rawExchange(p.Addr, true, wire.AppendMessage(nil, 'A'), 0, false)
		if err != nil || !slices.Equal(got, []string{"E 08P01"}) {
			t.Fatalf("message type 'A' %d: got %v (%v), want PostgreSQL's FATAL 08P01 then EOF", i, got, err)
		}
	}
	if st := p.Snapshot().Backends[0]; st.CircuitState != status.Closed || st.FailuresTotal != 0 {
		t.Errorf("after 40 malformed Binds and 5 unknown messages: %s (%s) with %d failures, want CLOSED and none", st.CircuitState, st.OpenReason, st.FailuresTotal)
	}
	malformedGoodClient(t, p.dsn(c.User, c.Password), 3)
	malformedGoodClient(t, p.dsn("app", ""), 3)
}

// TestStatusSessionMalformedFraming: on the status database the proxy is
// PostgreSQL, so a message whose body does not match its type's layout
// gets what PostgreSQL answers (ERROR 08P01 "invalid string in message",
// "invalid message format", "insufficient data left in message"; a
// Query's or a Sync's followed by ReadyForQuery, the rest of a batch
// skipped up to its Sync) and the session goes on; CopyData, CopyDone and
// CopyFail outside a COPY are ignored, as PostgreSQL ignores them. Before,
// a Query without its NUL ran, a Sync or Flush with a body and a
// truncated Parse were taken as they came, and a stray CopyDone ended
// the session with FATAL 08P01.
func TestStatusSessionMalformedFraming(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "hard-frame"})
	p := startProxy(t, malformedConfig(t, c))
	const sql = "SELECT count(*) FROM helios_proxy.backends"
	cstr := func(s string) []byte { return append([]byte(s), 0) }
	msg := func(typ byte, parts ...[]byte) []byte { return wire.AppendMessage(nil, typ, parts...) }
	sync := msg('S')
	parse := msg('P', cstr("s"), cstr(sql), []byte{0, 0})
	bind := msg('B', cstr(""), cstr("s"), []byte{0, 0, 0, 0, 0, 0})
	tests := []struct {
		name string
		p    []byte
		want []string
	}{
		{"Query without its NUL", msg('Q', []byte(sql)), []string{"E 08P01", "Z"}},
		{"Query with bytes after its NUL", msg('Q', cstr(sql), []byte("x")), []string{"E 08P01", "Z"}},
		{"empty Query body", msg('Q'), []string{"E 08P01", "Z"}},
		{"Sync with a body", msg('S', []byte("x")), []string{"E 08P01", "Z"}},
		{"Flush with a body", slices.Concat(msg('H', []byte("x")), sync), []string{"E 08P01", "Z"}},
		{"empty Parse", slices.Concat(msg('P'), sync), []string{"E 08P01", "Z"}},
		{"Parse without its parameter count", slices.Concat(msg('P', cstr("s"), cstr(sql)), sync), []string{"E 08P01", "Z"}},
		{"Parse declaring 100 parameter types, sending 1", slices.Concat(msg('P', cstr("s"), cstr(sql), []byte{0, 100, 0, 0, 0, 23}), sync), []string{"E 08P01", "Z"}},
		{"Parse with bytes after its types", slices.Concat(msg('P', cstr("s"), cstr(sql), []byte{0, 0, 'x'}), sync), []string{"E 08P01", "Z"}},
		{"Bind with bytes after its result formats", slices.Concat(parse, msg('B', cstr(""), cstr("s"), []byte{0, 0, 0, 0, 0, 0, 'x'}), sync), []string{"1", "E 08P01", "Z"}},
		{"Execute without its row limit", slices.Concat(parse, bind, msg('E', cstr("")), sync), []string{"1", "2", "E 08P01", "Z"}},
		{"empty Execute", slices.Concat(parse, bind, msg('E'), sync), []string{"1", "2", "E 08P01", "Z"}},
		{"the error skips the batch up to its Sync", slices.Concat(msg('P'), parse, bind, msg('E', cstr(""), []byte{0, 0, 0, 0}), sync), []string{"E 08P01", "Z"}},
		{"CopyData, CopyDone and CopyFail outside COPY", slices.Concat(msg('d', []byte("x")), msg('c'), msg('f', cstr("no")), sync), []string{"Z"}},
	}
	conn, err := rawDial(p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := rawStartupDB(conn, "postgres", session.StatusDatabase); err != nil {
		t.Fatal(err)
	}
	q := msg('Q', cstr(sql))
	for _, tt := range tests {
		if _, err := conn.Write(tt.p); err != nil {
			t.Fatal(err)
		}
		if got := readUntilReady(t, conn); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
		if _, err := conn.Write(q); err != nil {
			t.Fatal(err)
		}
		if got, want := readUntilReady(t, conn), []string{"T", "D", "C", "Z"}; !slices.Equal(got, want) {
			t.Fatalf("%s: a query afterwards got %v, want %v", tt.name, got, want)
		}
	}
}

// TestStatusSessionFunctionCall: a FunctionCall message (libpq's PQfn,
// the large-object functions) on the status database gets what
// PostgreSQL answers for a function that does not exist — its pg_proc has
// no rows — and the session goes on; before, it ended the session with
// FATAL 08P01 "unexpected message type 'F'". The expected answers are
// PostgreSQL 15's to the same messages: ERROR 42883 and ReadyForQuery, in
// a transaction block 25P02 once it failed, skipped after an error in a
// batch up to its Sync, and its own ReadyForQuery inside a batch.
func TestStatusSessionFunctionCall(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "hard-fcall"})
	p := startProxy(t, malformedConfig(t, c))
	cstr := func(s string) []byte { return append([]byte(s), 0) }
	msg := func(typ byte, parts ...[]byte) []byte { return wire.AppendMessage(nil, typ, parts...) }
	fcall := func(oid uint32, args ...[]byte) []byte {
		body := binary.BigEndian.AppendUint32(nil, oid)
		body = append(body, 0, 0) // argument formats
		body = binary.BigEndian.AppendUint16(body, uint16(len(args)))
		for _, a := range args {
			body = binary.BigEndian.AppendUint32(body, uint32(len(a)))
			body = append(body, a...)
		}
		return msg('F', append(body, 0, 0)) // result format
	}
	sync := msg('S')
	steps := []struct {
		name string
		p    []byte
		want []string
	}{
		{"OID 0", fcall(0), []string{"E 42883", "Z I"}},
		{"with an argument", fcall(99999, []byte("x")), []string{"E 42883", "Z I"}},
		{"too short for an OID", msg('F', []byte{0, 1}), []string{"E 08P01", "Z I"}},
		{"BEGIN", msg('Q', cstr("BEGIN")), []string{"C", "Z T"}},
		{"in a transaction block", fcall(99999), []string{"E 42883", "Z E"}},
		{"in a failed transaction block", fcall(99999), []string{"E 25P02", "Z E"}},
		{"ROLLBACK", msg('Q', cstr("ROLLBACK")), []string{"C", "Z I"}},
		{"after an error in a batch", slices.Concat(msg('P'), fcall(99999), sync), []string{"E 08P01", "Z I"}},
		{"inside a batch", slices.Concat(msg('P', cstr("s"), cstr("SELECT 1 FROM helios_proxy.backends"), []byte{0, 0}), fcall(99999)), []string{"1", "E 42883", "Z I"}},
		{"the batch's Sync", sync, []string{"Z I"}},
		{"a query afterwards", msg('Q', cstr("SELECT count(*) FROM helios_proxy.backends")), []string{"T", "D", "C", "Z I"}},
	}
	conn, err := rawDial(p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := rawStartupDB(conn, "postgres", session.StatusDatabase); err != nil {
		t.Fatal(err)
	}
	fe := pgproto3.NewFrontend(conn, io.Discard)
	for _, s := range steps {
		if _, err := conn.Write(s.p); err != nil {
			t.Fatal(err)
		}
		var got []string
		for len(got) == 0 || got[len(got)-1][0] != 'Z' {
			m, err := fe.Receive()
			if err != nil {
				t.Fatalf("%s: after %v: %v", s.name, got, err)
			}
			switch m := m.(type) {
			case *pgproto3.ErrorResponse:
				got = append(got, "E "+m.Code)
			case *pgproto3.ReadyForQuery:
				got = append(got, "Z "+string(m.TxStatus))
			default:
				enc, _ := m.Encode(nil)
				got = append(got, string(enc[:1]))
			}
		}
		if !slices.Equal(got, s.want) {
			t.Errorf("%s: got %v, want %v", s.name, got, s.want)
		}
	}
}
