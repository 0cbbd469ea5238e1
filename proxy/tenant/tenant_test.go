package tenant

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/status"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func testConfig() Config {
	return Config{Enabled: true, Rate: 10, Wait: 100 * time.Millisecond, Isolation: true, Breaker: breaker.Config{
		Window: 10 * time.Second, Bucket: time.Second, MinimumRequests: 5, FailureRatePercent: 5,
		LatencyP95: 500 * time.Millisecond, OpenDuration: 30 * time.Second,
		HalfOpenMaxConcurrent: 2, HalfOpenProbes: 2, HalfOpenSuccessPercent: 100,
	}}
}

func TestReserve(t *testing.T) {
	e := New(testConfig(), "", slog.Default()).Entry("app", "db")
	// A full bucket holds one second's worth: 10 at once.
	for i := range 10 {
		if d, ok := e.reserve(t0, 10, 100*time.Millisecond); !ok || d != 0 {
			t.Fatalf("reserve %d at t0 = %v, %v, want 0, true", i, d, ok)
		}
	}
	// The 11th waits 100ms for its token; the 12th would wait 200ms: refused.
	if d, ok := e.reserve(t0, 10, 100*time.Millisecond); !ok || d != 100*time.Millisecond {
		t.Errorf("reserve 11 at t0 = %v, %v, want 100ms, true", d, ok)
	}
	if _, ok := e.reserve(t0, 10, 100*time.Millisecond); ok {
		t.Errorf("reserve 12 at t0 = ok, want refused")
	}
	// A second later the bucket has refilled by 10 less the debt of one.
	n := 0
	for {
		if d, ok := e.reserve(t0.Add(time.Second), 10, 0); !ok || d > 0 {
			break
		}
		n++
	}
	if n != 9 {
		t.Errorf("tokens at t0+1s = %d, want 9", n)
	}
}

func TestAdmitRateLimitAndOverride(t *testing.T) {
	r := New(testConfig(), t.TempDir(), slog.Default())
	e := r.Entry("app", "db")
	ctx := context.Background()
	refused := 0
	for range 30 {
		var ref *Refusal
		if err := e.Admit(ctx, t0); errors.As(err, &ref) && !ref.Isolated {
			refused++
		} else if err != nil {
			t.Fatalf("Admit: %v", err)
		}
	}
	// 10 in the bucket, 1 waits 100ms (per_user_rate_limit_wait), 19 refused.
	if refused != 19 {
		t.Errorf("refused %d of 30 at t0, want 19", refused)
	}
	if err := r.SetOverride(status.UserOverride{Role: "app", Database: "db", Exempt: true, Author: "t"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Admit(ctx, t0); err != nil {
		t.Errorf("Admit of an exempt role = %v, want nil", err)
	}
	if err := r.SetOverride(status.UserOverride{Role: "app", Database: "db"}); !errors.Is(err, ErrBadOverride) {
		t.Errorf("SetOverride without exempt or rate_limit = %v, want ErrBadOverride", err)
	}
	got := r.Users(t0)
	if len(got) != 1 || got[0].ThrottledTotal != 19 || !got[0].Exempt || got[0].DelayedTotal != 1 {
		t.Errorf("Users = %+v, want app@db with 19 throttled, 1 delayed, exempt", got)
	}
}

func TestOverridesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	r := New(testConfig(), dir, slog.Default())
	if err := r.SetOverride(status.UserOverride{Role: "batch", Database: "db", RateLimit: 5, Reason: "nightly", Author: "ops"}); err != nil {
		t.Fatal(err)
	}
	r2 := New(testConfig(), dir, slog.Default())
	if err := r2.Load(); err != nil {
		t.Fatal(err)
	}
	if got := r2.Overrides(); len(got) != 1 || got[0].RateLimit != 5 || got[0].Author != "ops" {
		t.Fatalf("Overrides after restart = %+v, want batch@db rate 5 by ops", got)
	}
	if ok, err := r2.ClearOverride("batch", "db"); !ok || err != nil {
		t.Fatalf("ClearOverride = %v, %v", ok, err)
	}
	r3 := New(testConfig(), dir, slog.Default())
	if err := r3.Load(); err != nil || len(r3.Overrides()) != 0 {
		t.Errorf("Overrides after clear and restart = %+v, %v, want none", r3.Overrides(), err)
	}
}

// TestCorruptOverridesKept: a user_overrides.json that cannot be read back
// is reported and set aside, so that the next override does not replace
// it (before, it was overwritten, and every override in it lost).
func TestCorruptOverridesKept(t *testing.T) {
	dir := t.TempDir()
	torn := `[{"Role": "batch", "Database": "db", "RateLimit": 5, "Rea`
	if err := os.WriteFile(filepath.Join(dir, OverridesFile), []byte(torn), 0o600); err != nil {
		t.Fatal(err)
	}
	r := New(testConfig(), dir, slog.Default())
	if err := r.Load(); err == nil || !strings.Contains(err.Error(), ".corrupt-") {
		t.Errorf("Load of a torn file = %v, want an error naming where it is kept", err)
	}
	if err := r.SetOverride(status.UserOverride{Role: "app", Database: "db", Exempt: true, Reason: "x"}); err != nil {
		t.Fatal(err)
	}
	kept, _ := filepath.Glob(filepath.Join(dir, OverridesFile+".corrupt-*"))
	if len(kept) != 1 {
		t.Fatalf("set aside: %v, want one file", kept)
	}
	if b, err := os.ReadFile(kept[0]); err != nil || string(b) != torn {
		t.Errorf("%s = %q, %v; want the torn file", kept[0], b, err)
	}
}

func TestJudge(t *testing.T) {
	ok := func(*Entry) bool { return true }
	none := func(*Entry) bool { return false }
	tests := []struct {
		name        string
		othersOK    func(*Entry) bool
		otherFailed bool // another role failed on the backend first
		want        breaker.Outcome
		wantOpen    bool // the role's breaker opens after 5 such failures
	}{
		{"only this role fails, others fine: the role's", ok, false, breaker.Excluded, true},
		{"no other traffic: the backend's", none, false, breaker.Failure, false},
		{"another role failed too: the backend's", ok, true, breaker.Failure, false},
	}
	for _, tt := range tests {
		r := New(testConfig(), "", slog.Default())
		var opened []string
		r.OnTransition = func(role, db string, tr breaker.Transition) {
			if tr.To == breaker.Open {
				opened = append(opened, role)
			}
		}
		bad, other := r.Entry("bad", "db"), r.Entry("other", "db")
		if tt.otherFailed {
			other.Judge("pg-a", breaker.Failure, time.Millisecond, true, none, t0)
		}
		var got breaker.Outcome
		for i := range 5 {
			got = bad.Judge("pg-a", breaker.Failure, time.Millisecond, true, tt.othersOK, t0.Add(time.Duration(i)*time.Millisecond))
		}
		if got != tt.want {
			t.Errorf("%s: Judge = %v, want %v", tt.name, got, tt.want)
		}
		if isOpen := len(opened) == 1 && opened[0] == "bad"; isOpen != tt.wantOpen {
			t.Errorf("%s: opened %v, want bad open = %v", tt.name, opened, tt.wantOpen)
		}
		if tt.wantOpen {
			var ref *Refusal
			if err := bad.Admit(context.Background(), t0.Add(time.Second)); !errors.As(err, &ref) || !ref.Isolated {
				t.Errorf("%s: Admit of the isolated role = %v, want an isolated Refusal", tt.name, err)
			}
			if err := other.Admit(context.Background(), t0.Add(time.Second)); err != nil {
				t.Errorf("%s: Admit of another role = %v, want nil", tt.name, err)
			}
			// After open_duration, Tick lets probes through; successes close it.
			r.Tick(t0.Add(31 * time.Second))
			for range 2 {
				if err := bad.Admit(context.Background(), t0.Add(31*time.Second)); err != nil {
					t.Fatalf("%s: Admit in HALF_OPEN = %v", tt.name, err)
				}
				bad.Judge("pg-a", breaker.Success, time.Millisecond, false, ok, t0.Add(31*time.Second))
			}
			if st := r.Users(t0.Add(31 * time.Second)); st[0].State != status.Closed {
				t.Errorf("%s: state after good probes = %v, want CLOSED", tt.name, st[0].State)
			}
		}
	}
}

func TestDisabled(t *testing.T) {
	c := testConfig()
	c.Enabled = false
	r := New(c, "", slog.Default())
	if e := r.Entry("app", "db"); e != nil {
		t.Errorf("Entry with user-level breakers off = %v, want nil", e)
	}
	var none *Entry
	if got := none.Judge("pg-a", breaker.Failure, 0, true, nil, t0); got != breaker.Failure {
		t.Errorf("Judge(nil) = %v, want the outcome unchanged", got)
	}
}
