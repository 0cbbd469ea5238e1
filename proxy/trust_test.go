package proxy

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/proxy/health"
	"github.com/heliosdb/heliosproxy/status"
)

// setHBA replaces the TCP lines of c's pg_hba.conf (the unix socket stays
// trusted) and restarts c, so that the next connection sees them.
func setHBA(t *testing.T, ctx context.Context, c *pgtest.Cluster, lines ...string) {
	t.Helper()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	hba := "local all all trust\n" + strings.Join(lines, "\n") + "\n"
	// WriteFile keeps the existing file's owner, the server's user.
	if err := os.WriteFile(filepath.Join(c.DataDir, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestTrustProbe checks the probe's reading of PostgreSQL's answers on real
// clusters: only AuthenticationOk and the "role does not exist" that comes
// after trust count; every password method challenges even a role that
// does not exist, and a pg_hba.conf that refuses says nothing of trust.
func TestTrustProbe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	// probe returns whether c lets a made-up role, and postgres, in
	// without a password.
	probe := func(c *pgtest.Cluster) (made, pg bool) {
		t.Helper()
		roles, err := health.ProbeTrust(ctx, plainDial(c.Addr()), config.HealthChecks{Database: "postgres"}, 10*time.Second)
		if err != nil {
			t.Fatalf("probe %s: %v", c.Name, err)
		}
		return slices.Contains(roles, health.AnyRole), slices.Contains(roles, "postgres")
	}
	for _, auth := range []string{"trust", "md5", "scram-sha-256"} {
		c := pgtest.New(t, pgtest.Options{Name: "probe-" + auth, Auth: auth})
		want := auth == "trust"
		made, pg := probe(c)
		if made != want {
			t.Errorf("%s: probe as a made-up role = %v, want %v", auth, made, want)
		}
		if pg != want {
			t.Errorf("%s: probe as postgres = %v, want %v", auth, pg, want)
		}
	}

	c := pgtest.New(t, pgtest.Options{Name: "probe-hba"})
	for _, tc := range []struct {
		name     string
		hba      []string
		made, pg bool
	}{
		{"password", []string{"host all all 127.0.0.1/32 password"}, false, false},
		{"reject", []string{"host all all 127.0.0.1/32 reject"}, false, false},
		{"no line for the address", []string{"host all all 10.9.9.9/32 trust"}, false, false},
		{"trust for postgres only", []string{"host all postgres 127.0.0.1/32 trust", "host all all 127.0.0.1/32 scram-sha-256"}, false, true},
		{"trust for another database only", []string{"host otherdb all 127.0.0.1/32 trust", "host all all 127.0.0.1/32 scram-sha-256"}, false, false},
	} {
		setHBA(t, ctx, c, tc.hba...)
		made, pg := probe(c)
		if made != tc.made {
			t.Errorf("%s: probe as a made-up role = %v, want %v", tc.name, made, tc.made)
		}
		if pg != tc.pg {
			t.Errorf("%s: probe as postgres = %v, want %v", tc.name, pg, tc.pg)
		}
	}

	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := health.ProbeTrust(ctx, plainDial(c.Addr()), config.HealthChecks{Database: "postgres"}, 10*time.Second); err == nil {
		t.Error("probe of a dead backend: no error, want one (it cannot tell)")
	}
}

// otherHostAddr returns an IPv4 address of this machine that is not a
// loopback address, so that a client bound to it reaches the proxy as if
// from another host. Without one, it adds one to the loopback interface
// (root only) until the test ends.
func otherHostAddr(t *testing.T) net.IP {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			return ipn.IP
		}
	}
	const extra = "10.200.0.1"
	out, err := exec.Command("ip", "addr", "add", extra+"/32", "dev", "lo").CombinedOutput()
	switch {
	case err != nil && strings.Contains(string(out), "File exists"):
		return net.ParseIP(extra) // left by an earlier run that was killed
	case err != nil:
		t.Fatalf("no non-loopback address, and adding %s failed: %v %s", extra, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "addr", "del", extra+"/32", "dev", "lo").CombinedOutput(); err != nil {
			t.Errorf("remove %s: %v %s", extra, err, out)
		}
	})
	return net.ParseIP(extra)
}

// connectFrom connects to the proxy with pgx from the local address from.
func connectFrom(ctx context.Context, dsn string, from net.IP) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.DialFunc = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: from}}).DialContext
	return pgx.ConnectConfig(ctx, cfg)
}

// TestBackendTrustsProxy puts the proxy in front of a backend whose
// pg_hba.conf trusts 127.0.0.1: the status says so everywhere, a client
// from another host is refused with 28000, a local client keeps working,
// and fixing pg_hba.conf clears it all.
func TestBackendTrustsProxy(t *testing.T) {
	from := otherHostAddr(t)
	c := pgtest.New(t, pgtest.Options{Name: "trusting"})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := c.CreateUser(ctx, "app", "app-secret"); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, c)
	// A probe every second (trustProbeEvery intervals), for the fix below.
	cfg.HealthChecks.Interval.Duration = 100 * time.Millisecond
	cfg.HealthChecks.Timeout.Duration = 100 * time.Millisecond
	p := startProxy(t, cfg)
	events := p.Subscribe(ctx)
	b := p.backend("pg-a")
	if !b.Trust.Wait(ctx, time.Minute) {
		t.Fatal("no trust probe answered within a minute")
	}

	sb := p.Snapshot().Backends[0]
	if !sb.TrustsProxy || !slices.Equal(sb.TrustedRoles, []string{"*", "postgres"}) {
		t.Fatalf("snapshot: trusts_proxy %v, roles %v; want true, [* postgres]", sb.TrustsProxy, sb.TrustedRoles)
	}
	var ev status.Event
	for _, e := range p.Events(0) {
		if e.Type == status.BackendTrustsProxy && e.Backend == "pg-a" {
			ev = e
		}
	}
	if ev.Reason != "pass_through_refused" || !strings.Contains(ev.Detail, "any role (*, postgres)") {
		t.Errorf("BackendTrustsProxy event = %+v, want reason pass_through_refused naming the roles", ev)
	}

	// A local client: as before (it could reach the backend itself).
	local, err := pgx.Connect(ctx, p.dsn("app", "wrong password"))
	if err != nil {
		t.Fatalf("local client: %v", err)
	}
	var trusts bool
	var roles string
	if err := local.QueryRow(ctx, "SELECT trusts_proxy, trusted_roles FROM helios_proxy.circuit_breaker_status WHERE backend_name = 'pg-a'").Scan(&trusts, &roles); err != nil || !trusts || roles != "*,postgres" {
		t.Errorf("SQL: trusts_proxy %v, trusted_roles %q, %v; want true, \"*,postgres\"", trusts, roles, err)
	}
	local.Close(ctx)

	// A client from another host: refused, whatever its password.
	for _, pw := range []string{"wrong password", "app-secret"} {
		_, err = connectFrom(ctx, p.dsn("app", pw), from)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "28000" || pe.Severity != "FATAL" ||
			!strings.Contains(pe.Message, "backend pg-a trusts connections from the proxy's address") ||
			!strings.Contains(pe.Hint, "pg_hba.conf") || !strings.Contains(pe.Hint, "allow_trust_pass_through = true") {
			t.Errorf("client from %s with password %q: err = %v, want FATAL 28000 with the pg_hba.conf hint", from, pw, err)
		}
	}
	if st := p.Snapshot().Backends[0]; st.CircuitState != status.Closed || st.FailuresTotal != 0 {
		t.Errorf("after refusals: state %s, failures %d; want CLOSED, 0", st.CircuitState, st.FailuresTotal)
	}

	// Fixed on the backend: the next probe clears it, and the client from
	// another host logs in with its password (and only with it).
	setHBA(t, ctx, c, "host all all 127.0.0.1/32 scram-sha-256")
	waitEvent(t, ctx, events, isEvent(status.BackendTrustCleared, "pg-a"))
	if sb := p.Snapshot().Backends[0]; sb.TrustsProxy || sb.TrustedRoles != nil {
		t.Errorf("after the fix: trusts_proxy %v, roles %v; want false, none", sb.TrustsProxy, sb.TrustedRoles)
	}
	remote, err := connectFrom(ctx, p.dsn("app", "app-secret"), from)
	if err != nil {
		t.Fatalf("client from %s after the fix: %v", from, err)
	}
	remote.Close(ctx)
	if _, err := connectFrom(ctx, p.dsn("app", "wrong password"), from); pgCode(err) != "28P01" {
		t.Errorf("wrong password from %s after the fix: %v, want 28P01", from, err)
	}
}

// TestTrustPassThroughAllowed: the operator's opt-in lets clients from other
// hosts through, and still says the backend trusts the proxy.
func TestTrustPassThroughAllowed(t *testing.T) {
	from := otherHostAddr(t)
	c := pgtest.New(t, pgtest.Options{Name: "trusting-allowed"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := testConfig(t, c)
	cfg.HealthChecks.Enabled = false // the probe runs without health checks too
	cfg.Backends.Instances[0].AllowTrustPassThrough = true
	p := startProxy(t, cfg)
	if !p.backend("pg-a").Trust.Wait(context.Background(), time.Minute) {
		t.Fatal("no trust probe answered within a minute")
	}
	if sb := p.Snapshot().Backends[0]; !sb.TrustsProxy {
		t.Errorf("trusts_proxy = false, want true")
	}
	for _, e := range p.Events(0) {
		if e.Type == status.BackendTrustsProxy && e.Reason != "pass_through_allowed" {
			t.Errorf("BackendTrustsProxy reason = %q, want pass_through_allowed", e.Reason)
		}
	}
	conn, err := connectFrom(ctx, p.dsn("postgres", "anything"), from)
	if err != nil {
		t.Fatalf("client from %s with allow_trust_pass_through: %v", from, err)
	}
	conn.Close(ctx)
}

// TestScramBackendNotFlagged: a backend that asks for passwords is not
// flagged, and clients from other hosts log in through the proxy.
func TestScramBackendNotFlagged(t *testing.T) {
	from := otherHostAddr(t)
	c := pgtest.New(t, pgtest.Options{Name: "scram", Auth: "scram-sha-256"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.CreateUser(ctx, "app", "app-secret"); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, testConfig(t, c))
	if !p.backend("pg-a").Trust.Wait(context.Background(), time.Minute) {
		t.Fatal("no trust probe answered within a minute")
	}
	if sb := p.Snapshot().Backends[0]; sb.TrustsProxy || sb.TrustedRoles != nil {
		t.Errorf("scram backend: trusts_proxy %v, roles %v; want false, none", sb.TrustsProxy, sb.TrustedRoles)
	}
	for _, e := range p.Events(0) {
		if e.Type == status.BackendTrustsProxy {
			t.Errorf("event %+v for a scram backend", e)
		}
	}
	conn, err := connectFrom(ctx, p.dsn("app", "app-secret"), from)
	if err != nil {
		t.Fatalf("client from %s: %v", from, err)
	}
	conn.Close(ctx)
	if _, err := connectFrom(ctx, p.dsn("app", "wrong"), from); pgCode(err) != "28P01" {
		t.Errorf("wrong password from %s: %v, want 28P01", from, err)
	}
}
