package proxy

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/status"
)

// sqlState returns err's SQLSTATE, "" if it has none.
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func userOf(snap []status.UserBreaker, role string) (status.UserBreaker, bool) {
	for _, u := range snap {
		if u.Role == role {
			return u, true
		}
	}
	return status.UserBreaker{}, false
}

// TestUserRateLimit: one role floods beyond per_user_rate_limit, over the
// simple and the extended protocol, and is throttled with 53400 (its
// sessions stay usable); another role on the same backend at the same
// time gets every answer.
func TestUserRateLimit(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "rate"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, u := range []string{"flood", "calm"} {
		if err := c.CreateUser(ctx, u, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig(t, c)
	cfg.CircuitBreaker.UserLevelBreakersEnabled = true
	cfg.CircuitBreaker.PerUserRateLimit = 50
	cfg.CircuitBreaker.PerUserRateLimitWait = config.Duration{Duration: 10 * time.Millisecond}
	p := startProxy(t, cfg)

	var wg sync.WaitGroup
	throttled := make([]int, 2)
	for i, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		wg.Go(func() {
			cc, err := pgx.ParseConfig(p.dsn("flood", "pw"))
			if err != nil {
				t.Error(err)
				return
			}
			cc.DefaultQueryExecMode = mode
			conn, err := pgx.ConnectConfig(ctx, cc)
			if err != nil {
				t.Errorf("flood connect: %v", err)
				return
			}
			defer conn.Close(ctx)
			for n := 0; throttled[i] < 5 && n < 5000 && ctx.Err() == nil; n++ {
				var one int
				err := conn.QueryRow(ctx, "SELECT $1::int", 1).Scan(&one)
				switch code := sqlState(err); {
				case err == nil:
				case code == "53400":
					throttled[i]++
					if !strings.Contains(err.Error(), "rate limit exceeded for role \"flood\"") {
						t.Errorf("flood (%s) refusal = %v, want the rate limit named", mode, err)
					}
				default:
					t.Errorf("flood (%s) query: %v", mode, err)
					return
				}
			}
		})
	}
	calmErrs := 0
	wg.Go(func() {
		conn, err := pgx.Connect(ctx, p.dsn("calm", "pw"))
		if err != nil {
			t.Errorf("calm connect: %v", err)
			return
		}
		defer conn.Close(ctx)
		for range 40 { // within the bucket's one second's worth
			var one int
			if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
				calmErrs++
				t.Errorf("calm query: %v", err)
			}
		}
	})
	wg.Wait()
	for i, n := range throttled {
		if n < 5 {
			t.Errorf("flood connection %d was throttled %d times, want at least 5", i, n)
		}
	}
	if calmErrs != 0 {
		t.Errorf("calm had %d errors, want none", calmErrs)
	}
	users := p.Users()
	flood, ok1 := userOf(users, "flood")
	calm, ok2 := userOf(users, "calm")
	if !ok1 || !ok2 || flood.ThrottledTotal < 10 || calm.ThrottledTotal != 0 || calm.RequestsTotal < 40 {
		t.Errorf("Users() = %+v, want flood throttled ≥ 10 times, calm never, calm ≥ 40 requests", users)
	}
	// The flooding sessions' refusals never reached the backend: its
	// circuit saw no failure.
	if b := p.Snapshot().Backends[0]; b.CircuitState != status.Closed || b.FailuresTotal != 0 {
		t.Errorf("backend %s, %d failures, want CLOSED with none", b.CircuitState, b.FailuresTotal)
	}
}

// TestUserIsolation: a role whose statements fail with backend errors
// (XX000, a failure for the backend's breaker) while another role's
// succeed on the same backend is isolated (53400) by its own breaker; the
// backend's circuit stays CLOSED and the other role is unaffected.
func TestUserIsolation(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "isolate"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, u := range []string{"bad", "good"} {
		if err := c.CreateUser(ctx, u, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig(t, c)
	cfg.CircuitBreaker.UserLevelBreakersEnabled = true
	cfg.CircuitBreaker.UserIsolationOnAbuse = true
	cfg.CircuitBreaker.OpenDuration = config.Duration{Duration: time.Minute}
	p := startProxy(t, cfg)
	events := p.Subscribe(ctx)

	good, err := pgx.Connect(ctx, p.dsn("good", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close(ctx)
	query := func() error {
		var one int
		return good.QueryRow(ctx, "SELECT 1").Scan(&one)
	}
	for range 30 {
		if err := query(); err != nil {
			t.Fatalf("good: %v", err)
		}
	}
	bad, err := pgx.Connect(ctx, p.dsn("bad", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close(ctx)
	var isolated error
	for n := 0; n < 200 && isolated == nil; n++ {
		_, err := bad.Exec(ctx, "DO $$BEGIN RAISE EXCEPTION 'boom' USING ERRCODE = 'XX000'; END$$")
		switch sqlState(err) {
		case "XX000":
		case "53400":
			isolated = err
		default:
			t.Fatalf("bad: %v, want XX000 until isolated", err)
		}
		if n%5 == 0 {
			if err := query(); err != nil {
				t.Fatalf("good while bad fails: %v", err)
			}
		}
	}
	if isolated == nil || !strings.Contains(isolated.Error(), `role "bad" is isolated`) {
		t.Fatalf("bad's last answer = %v, want 53400 isolating it", isolated)
	}
	ev := waitEvent(t, ctx, events, func(ev status.Event) bool { return ev.Type == status.UserBreakerOpened })
	if ev.Role != "bad" || ev.Reason != "error_rate" {
		t.Errorf("UserBreakerOpened = %+v, want role bad, reason error_rate", ev)
	}
	for range 10 {
		if err := query(); err != nil {
			t.Errorf("good after bad's isolation: %v", err)
		}
	}
	if _, err := bad.Exec(ctx, "SELECT 1"); sqlState(err) != "53400" {
		t.Errorf("bad's next request = %v, want 53400 while isolated", err)
	}
	b := p.Snapshot().Backends[0]
	if b.CircuitState != status.Closed || b.ErrorRate != 0 {
		t.Errorf("backend %s with error rate %g, want CLOSED, 0: the failures were bad's own", b.CircuitState, b.ErrorRate)
	}
	u, _ := userOf(p.Users(), "bad")
	if u.State != status.Open || u.FailuresTotal == 0 || u.IsolatedTotal == 0 {
		t.Errorf("bad = %+v, want OPEN with failures and isolated requests", u)
	}
}

// TestUserOverrideSurvivesRestart: an operator exempts a role from a low
// rate limit; after the proxy restarts on the same [state] dir the role is
// still exempt (30 queries at once, none refused), and once the override
// is cleared it is throttled again.
func TestUserOverrideSurvivesRestart(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "userov"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.CreateUser(ctx, "batch", "pw"); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, c)
	cfg.State.Dir = t.TempDir()
	cfg.CircuitBreaker.UserLevelBreakersEnabled = true
	cfg.CircuitBreaker.PerUserRateLimit = 5
	cfg.CircuitBreaker.PerUserRateLimitWait = config.Duration{}
	burst := func(p *runningProxy) (refused int) {
		conn, err := pgx.Connect(ctx, p.dsn("batch", "pw"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		for range 30 {
			_, err := conn.Exec(ctx, "SELECT 1", pgx.QueryExecModeSimpleProtocol)
			switch sqlState(err) {
			case "":
			case "53400":
				refused++
			default:
				t.Fatalf("query: %v", err)
			}
		}
		return refused
	}
	first := startProxy(t, cfg)
	if err := first.SetUserOverride(ctx, status.UserOverride{Role: "batch", Database: "postgres", Exempt: true, Reason: "import", Author: "ops"}); err != nil {
		t.Fatal(err)
	}
	if n := burst(first); n != 0 {
		t.Errorf("exempt role refused %d times before the restart, want 0", n)
	}
	second := startProxy(t, cfg) // a new Server on the same state dir
	if ovs := second.UserOverrides(); len(ovs) != 1 || !ovs[0].Exempt || ovs[0].Author != "ops" {
		t.Fatalf("overrides after the restart = %+v, want batch exempt by ops", ovs)
	}
	if n := burst(second); n != 0 {
		t.Errorf("exempt role refused %d times after the restart, want 0", n)
	}
	if ok, err := second.ClearUserOverride(ctx, "batch", "postgres", "ops"); !ok || err != nil {
		t.Fatalf("ClearUserOverride = %v, %v", ok, err)
	}
	if n := burst(second); n < 20 {
		t.Errorf("role refused %d of 30 once the override is cleared, want at least 20 (limit 5/s)", n)
	}
}

// TestPooledLimits: in pooled transaction mode a transaction holds its
// backend's admission from checkout to give-back: with a limit of one,
// another client's transaction is refused with 53300 while the first is
// open, and admitted once it committed. The role's rate limit refuses
// with 53400 requests that start outside a transaction block, never the
// statements inside one.
func TestPooledLimits(t *testing.T) {
	_, p := pooledSetup(t, 1, "transaction", func(c *config.Config) {
		c.CircuitBreaker.UserLevelBreakersEnabled = true
		c.CircuitBreaker.PerUserRateLimit = 5
		c.CircuitBreaker.PerUserRateLimitWait = config.Duration{}
		c.Backends.LoadSheddingEnabled = true
		c.Backends.LoadSheddingMinLimit, c.Backends.LoadSheddingMaxLimit = 1, 1
		c.Backends.LoadSheddingQueueTimeout = config.Duration{}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	one, two := appConn(t, ctx, p), appConn(t, ctx, p)
	tx, err := one.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	_, err = two.Exec(ctx, "SELECT 2")
	if sqlState(err) != "53300" || !strings.Contains(err.Error(), "admission limit") {
		t.Fatalf("a second transaction while the first holds the only admission = %v, want 53300", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := two.Exec(ctx, "SELECT 2"); err != nil {
		t.Fatalf("after the first committed: %v", err)
	}
	// Three tokens of five are spent. A transaction's statements are not
	// limited; requests outside one are.
	tx, err = one.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatalf("inside a transaction: %v", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	refused := 0
	for range 10 {
		_, err := one.Exec(ctx, "SELECT 1")
		switch sqlState(err) {
		case "":
		case "53400":
			refused++
		default:
			t.Fatalf("outside a transaction: %v", err)
		}
	}
	if refused < 8 {
		t.Errorf("%d of 10 refused over the rate limit, want at least 8", refused)
	}
	if b := p.Snapshot().Backends[0]; b.ShedTotal != 1 || b.AdmissionLimit != 1 {
		t.Errorf("backend shed %d, limit %d; want 1 shed at limit 1", b.ShedTotal, b.AdmissionLimit)
	}
}

// TestPooledRateLimitExtended: the rate limit applies to pooled sessions
// over the extended protocol too (pgx's default), and the session stays
// usable after a refusal.
func TestPooledRateLimitExtended(t *testing.T) {
	_, p := pooledSetup(t, 1, "transaction", func(c *config.Config) {
		c.CircuitBreaker.UserLevelBreakersEnabled = true
		c.CircuitBreaker.PerUserRateLimit = 5
		c.CircuitBreaker.PerUserRateLimitWait = config.Duration{}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := appConn(t, ctx, p)
	refused := 0
	for i := range 20 {
		var n int
		err := conn.QueryRow(ctx, "SELECT $1::int", i).Scan(&n)
		switch sqlState(err) {
		case "":
			if n != i {
				t.Fatalf("SELECT %d = %d", i, n)
			}
		case "53400":
			refused++
		default:
			t.Fatalf("query %d: %v", i, err)
		}
	}
	if refused < 10 {
		t.Errorf("%d of 20 extended-protocol queries refused at 5/s, want at least 10", refused)
	}
}

// TestUserLimitsFollowReload: a reload that turns user-level breakers off
// lifts the limits of the sessions already open, and one that turns them
// on limits the sessions opened while they were off: pass-through and
// pooled (transaction mode) clients alike. Before, a session kept the
// setting it logged in with: turned off, its role was still refused with
// 53400 (and shown nowhere); turned on, a long-lived connection of a pool
// was never limited.
func TestUserLimitsFollowReload(t *testing.T) {
	var cfg config.Config
	clusters, p := pooledSetup(t, 1, "transaction", func(c *config.Config) {
		c.CircuitBreaker.UserLevelBreakersEnabled = true
		c.CircuitBreaker.PerUserRateLimit = 5
		c.CircuitBreaker.PerUserRateLimitWait = config.Duration{}
		cfg = *c
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := clusters[0].CreateUser(ctx, "relayed", "pw"); err != nil {
		t.Fatal(err)
	}
	reload := func(enabled bool) {
		t.Helper()
		next := cfg
		next.CircuitBreaker.UserLevelBreakersEnabled = enabled
		p.SetConfigSource(func() (config.Config, []config.Warning, error) { return next, nil, nil })
		if _, err := p.Reload(ctx); err != nil {
			t.Fatalf("reload with user_level_breakers_enabled = %v: %v", enabled, err)
		}
	}
	connect := func() map[string]*pgx.Conn {
		t.Helper()
		conns := map[string]*pgx.Conn{"pooled": appConn(t, ctx, p)}
		relayed, err := pgx.Connect(ctx, p.dsn("relayed", "pw"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { relayed.Close(context.Background()) })
		conns["pass-through"] = relayed
		return conns
	}
	// refused runs 30 queries at once on conn (5 tokens a second, no
	// wait: most are refused when limited) and counts the 53400s.
	refused := func(name string, conn *pgx.Conn) (n int) {
		t.Helper()
		for i := range 30 {
			var v int
			err := conn.QueryRow(ctx, "SELECT $1::int", i).Scan(&v)
			switch sqlState(err) {
			case "":
			case "53400":
				n++
			default:
				t.Fatalf("%s: query %d: %v", name, i, err)
			}
		}
		return n
	}
	early := connect()
	for name, conn := range early {
		if n := refused(name, conn); n == 0 {
			t.Errorf("%s: no query refused at 5/s with user-level breakers on", name)
		}
	}
	reload(false)
	for name, conn := range early {
		if n := refused(name, conn); n != 0 {
			t.Errorf("%s, opened while on: %d queries refused after a reload turned user-level breakers off, want 0", name, n)
		}
	}
	late := connect()
	reload(true)
	for name, conn := range late {
		if n := refused(name, conn); n == 0 {
			t.Errorf("%s, opened while off: no query refused at 5/s after a reload turned user-level breakers on", name)
		}
	}
}

// TestPooledRefusalInPipeline: a pooled client pipelines 20 queries, each
// with its own Sync, beyond its role's rate limit: each query gets its own
// answer, in order — its row or the proxy's 53400 — and the session goes
// on. Before, in pooled transaction and session mode, a refusal was
// written at once, ahead of the answers the server still owed to the
// queries before it: the client read the refusal as the first query's
// answer and the first query's row as a later query's.
func TestPooledRefusalInPipeline(t *testing.T) {
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode, func(t *testing.T) {
			_, p := pooledSetup(t, 1, mode, func(c *config.Config) {
				c.CircuitBreaker.UserLevelBreakersEnabled = true
				c.CircuitBreaker.PerUserRateLimit = 5
				c.CircuitBreaker.PerUserRateLimitWait = config.Duration{}
			})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			conn := appConn(t, ctx, p)
			pl := conn.PgConn().StartPipeline(ctx)
			const n = 20
			for i := range n {
				pl.SendQueryParams("SELECT $1::int", [][]byte{[]byte(strconv.Itoa(i))}, nil, nil, nil)
				pl.SendPipelineSync()
			}
			if err := pl.Flush(); err != nil {
				t.Fatal(err)
			}
			var got []string
			for i := 0; i < n; {
				res, err := pl.GetResults()
				if err != nil && pgCode(err) == "" {
					t.Fatalf("result %d: %v", i, err)
				}
				switch res := res.(type) {
				case *pgconn.PipelineSync:
					i++
				case *pgconn.ResultReader:
					r := res.Read()
					switch {
					case r.Err != nil:
						got = append(got, pgCode(r.Err))
					case len(r.Rows) == 1:
						got = append(got, string(r.Rows[0][0]))
					}
				default:
					got = append(got, pgCode(err))
				}
			}
			if err := pl.Close(); err != nil {
				t.Fatal(err)
			}
			ok, refused := 0, 0
			for i, g := range got {
				switch g {
				case strconv.Itoa(i):
					ok++
				case "53400":
					refused++
				default:
					t.Errorf("query %d of the pipeline got %q, want its row (%d) or 53400", i, g, i)
				}
			}
			if len(got) != n || ok == 0 || refused == 0 {
				t.Errorf("pipeline answers %q; want %d, some rows and some 53400s", got, n)
			}
			// The session goes on once the role has a token again (one
			// request a try: the simple protocol).
			for {
				res, err := conn.PgConn().Exec(ctx, "SELECT 7").ReadAll()
				if err == nil && len(res) == 1 && string(res[0].Rows[0][0]) == "7" {
					break
				}
				if code := pgCode(err); code != "53400" {
					t.Fatalf("after the pipeline: %v, %v", err, res)
				}
			}
		})
	}
}
