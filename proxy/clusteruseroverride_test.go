package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/status"
)

// TestClusterUserOverrides: a role override (user-level breakers) is
// shared like a backend's. Exempting role batch (rate limit 5 per second)
// through A's REST API shows in B's and C's REST and B's SQL, and B and
// C let its bursts through; cleared through B it is gone everywhere and
// C throttles again; set on C it survives a rolling restart of A, B and
// C; set with a ttl it expires on all three; set on A and B at once, all
// three end with the same one.
func TestClusterUserOverrides(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg := pgtest.New(t, pgtest.Options{Name: "cu-a"})
	if err := pg.CreateUser(ctx, "batch", "pw"); err != nil {
		t.Fatal(err)
	}
	log := testLogger()
	ins := threeInstances()
	startInstances(t, log, ins, "local", func(_ int, cfg *config.Config) {
		*cfg = testConfig(t, pg)
		cfg.CircuitBreaker.UserLevelBreakersEnabled = true
		cfg.CircuitBreaker.PerUserRateLimit = 5
		cfg.CircuitBreaker.PerUserRateLimitWait = config.Duration{}
	})
	a, b, c := ins[0], ins[1], ins[2]

	// burst runs 30 queries as batch through in and counts the refused.
	burst := func(in *instance) (refused int) {
		t.Helper()
		host, port, _ := net.SplitHostPort(in.addr)
		conn, err := pgx.Connect(ctx, "host="+host+" port="+port+" user=batch password=pw dbname=postgres sslmode=disable")
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
				t.Fatalf("%s: query: %v", in.name, err)
			}
		}
		return refused
	}
	type usersJSON struct {
		Overrides []struct {
			Role, Database, Author, Reason, Node string
			Exempt                               bool
			Expires                              *time.Time
		}
	}
	// override is batch's override on postgres as in's REST API shows it
	// ("" for none: author@node).
	override := func(in *instance) string {
		var u usersJSON
		if err := in.rest("/users", &u); err != nil {
			return err.Error()
		}
		for _, o := range u.Overrides {
			if o.Role == "batch" && o.Database == "postgres" {
				return o.Author + "@" + o.Node
			}
		}
		return ""
	}
	put := func(in *instance, author, body string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, in.api+"/users/batch/postgres/override", bytes.NewBufferString(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Helios-Author", author)
		req.Header.Set("Authorization", "Bearer "+clusterAdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT on %s = %d %s", in.name, resp.StatusCode, b)
		}
	}
	everywhere := func(what, want string) {
		t.Helper()
		for _, in := range ins {
			took := poll(t, 5*time.Second, in.name+": "+what, func() (bool, string) {
				got := override(in)
				return got == want, got
			})
			t.Logf("%s: %s after %v", in.name, what, took)
		}
	}

	if n := burst(b); n == 0 {
		t.Fatalf("B refused none of 30 queries at 5 per second before any override")
	}
	put(a, "ops", `{"exempt": true, "reason": "nightly import"}`)
	everywhere("A's override", "ops@node-a")
	if n := burst(b); n != 0 {
		t.Errorf("B refused %d queries of batch, exempt on A", n)
	}
	if got, err := b.sql(ctx, "SELECT exempt::text || ' ' || override_author FROM helios_proxy.user_breakers WHERE role = 'batch'"); err != nil || got != "true ops" {
		t.Errorf("B's helios_proxy.user_breakers: exempt, override_author = %q, %v; want true ops", got, err)
	}
	if n := burst(c); n != 0 {
		t.Errorf("C refused %d queries of batch, exempt on A", n)
	}
	hasEvent := func(in *instance, typ status.EventType, author, node string) bool {
		for _, ev := range in.srv.Events(0) {
			if ev.Type == typ && ev.Role == "batch" && ev.Database == "postgres" && ev.Author == author && ev.Node == node {
				return true
			}
		}
		return false
	}
	if !hasEvent(c, status.UserOverrideSet, "ops", "node-a") {
		t.Errorf("C has no UserOverrideSet event by ops from node-a: %+v", c.srv.Events(0))
	}

	// Cleared through B: gone everywhere, C throttles again.
	if ok, err := b.srv.ClearUserOverride(ctx, "batch", "postgres", "ops2"); !ok || err != nil {
		t.Fatalf("ClearUserOverride on B = %v, %v", ok, err)
	}
	everywhere("cleared on B", "")
	if n := burst(c); n == 0 {
		t.Errorf("C refused none of 30 queries of batch after the clear on B")
	}
	if !hasEvent(a, status.UserOverrideCleared, "ops2", "node-b") {
		t.Errorf("A has no UserOverrideCleared event by ops2 from node-b")
	}

	// Set on C, then a rolling restart: still on all three.
	put(c, "keep", `{"rate_limit": 1000, "reason": "kept"}`)
	everywhere("C's override", "keep@node-c")
	for _, in := range ins {
		in.stop()
		in.start(t, log)
		for _, other := range ins {
			poll(t, 10*time.Second, other.name+" sees every member alive after "+in.name+"'s restart", func() (bool, string) {
				n := 0
				for _, m := range other.srv.Snapshot().Members {
					if m.State == status.MemberAlive {
						n++
					}
				}
				return n == len(ins), fmt.Sprint(other.srv.Snapshot().Members)
			})
		}
	}
	everywhere("C's override after a rolling restart", "keep@node-c")
	if n := burst(a); n != 0 {
		t.Errorf("A refused %d queries of batch at 1000 per second after the restarts", n)
	}

	// Set on A and B at once: the same winner everywhere.
	var wg sync.WaitGroup
	for _, in := range []*instance{a, b} {
		wg.Go(func() {
			if err := in.srv.SetUserOverride(ctx, status.UserOverride{Role: "batch", Database: "postgres", Exempt: true, Reason: "race", Author: "race-" + in.name}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	poll(t, 5*time.Second, "A, B and C agree on one override", func() (bool, string) {
		got := []string{override(a), override(b), override(c)}
		return got[0] == got[1] && got[1] == got[2] && got[0] != "keep@node-c", fmt.Sprint(got)
	})

	// With a ttl: expires on all three, and batch is throttled there.
	put(b, "short", `{"exempt": true, "reason": "short", "ttl": "1500ms"}`)
	everywhere("B's override with a ttl", "short@node-b")
	everywhere("B's override expired", "")
	for _, in := range ins {
		if !hasEvent(in, status.UserOverrideCleared, "expiry", "") {
			t.Errorf("%s has no UserOverrideCleared event of the expiry", in.name)
		}
		if n := burst(in); n == 0 {
			t.Errorf("%s refused none of 30 queries of batch after the override expired", in.name)
		}
	}
}
