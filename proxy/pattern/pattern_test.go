package pattern_test

import (
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/proxy/pattern"
)

func TestNormalize(t *testing.T) {
	same := [][2]string{
		{"SELECT * FROM t WHERE id = 1", "select *  from t where id = 42"},
		{"SELECT * FROM t WHERE id = $1", "SELECT * FROM t WHERE id = 7;"},
		{"SELECT pg_sleep($1)", "SELECT pg_sleep(10)"},
		{"SELECT pg_sleep(0.01)", "SELECT pg_sleep(1e3)"},
		{"SELECT * FROM t WHERE name = 'bob'", "SELECT * FROM t WHERE name = 'it''s'"},
		{"SELECT * FROM t WHERE name = E'a\\'b'", "SELECT * FROM t WHERE name = E'x'"},
		{"SELECT $$a;b$$", "SELECT $tag$x$tag$"},
		{"SELECT * FROM t WHERE id IN (1, 2, 3)", "SELECT * FROM t WHERE id IN (4)"},
		{"SELECT * FROM t WHERE id IN ($1,$2)", "SELECT * FROM t WHERE id IN (5, 'x', $3)"},
		{"SELECT 1 -- comment", "SELECT 2 /* a /* nested */ one */"},
		{"SELECT\n\t1", "SELECT 1"},
		{"SELECT pg_sleep( '1.5' )", "SELECT pg_sleep($1)"},
		{"SELECT a+1 FROM t", "SELECT a + 1 FROM t"},
		{"DO $$BEGIN PERFORM 1; END$$", "  do $x$BEGIN PERFORM 1; END$x$;"},
	}
	for _, s := range same {
		if a, b := pattern.Normalize([]byte(s[0])), pattern.Normalize([]byte(s[1])); a != b {
			t.Errorf("Normalize(%q) = %x, Normalize(%q) = %x: want the same pattern", s[0], a, s[1], b)
		}
	}
	differ := [][2]string{
		{"SELECT * FROM t1", "SELECT * FROM t2"},
		{"SELECT a FROM t", "SELECT b FROM t"},
		{`SELECT "A" FROM t`, `SELECT "a" FROM t`},
		{"SELECT * FROM t WHERE id = 1", "SELECT * FROM t WHERE id < 1"},
		{"SELECT f(1, 2)", "SELECT f(1, a)"},
		{"SELECT * FROM t LIMIT 1", "SELECT * FROM t LIMIT 1 OFFSET 2"},
		{"SELECT 1; SELECT 2", "SELECT 1"},
		{"SELECT ab", "SELECT a b"},
		// A DO block's code is its pattern: one slow block must not have
		// every other refused (all DO blocks were one pattern).
		{"DO $$BEGIN PERFORM pg_sleep(10); END$$", "DO $$BEGIN PERFORM 1; END$$"},
		{"DO LANGUAGE plpgsql 'BEGIN NULL; END'", "DO LANGUAGE plpgsql 'BEGIN PERFORM 1; END'"},
	}
	for _, d := range differ {
		if a, b := pattern.Normalize([]byte(d[0])), pattern.Normalize([]byte(d[1])); a == b {
			t.Errorf("Normalize(%q) = Normalize(%q) = %x: want different patterns", d[0], d[1], a)
		}
	}
	for _, empty := range []string{"", "  ", ";", "-- nothing"} {
		if k := pattern.Normalize([]byte(empty)); k != 0 {
			t.Errorf("Normalize(%q) = %x, want 0", empty, k)
		}
	}
	// Unterminated constants and comments end the text without a panic.
	for _, bad := range []string{"SELECT 'abc", "SELECT $$abc", "SELECT /* x", `SELECT "abc`, "SELECT E'\\", "SELECT $",
		"DO 'abc", "DO $$abc", "DO E'\\", "DO $x$", "do $x$a$x"} {
		if k := pattern.Normalize([]byte(bad)); k == 0 {
			t.Errorf("Normalize(%q) = 0, want a pattern", bad)
		}
	}
}

func TestNormalizeDoesNotAllocate(t *testing.T) {
	q := []byte("SELECT abalance FROM pgbench_accounts WHERE aid = 12345 AND name IN ('a', 'b')")
	if n := testing.AllocsPerRun(100, func() { pattern.Normalize(q) }); n != 0 {
		t.Errorf("Normalize allocates %v times, want 0", n)
	}
}

func BenchmarkNormalize(b *testing.B) {
	q := []byte("SELECT abalance FROM pgbench_accounts WHERE aid = 12345;")
	b.SetBytes(int64(len(q)))
	for b.Loop() {
		pattern.Normalize(q)
	}
}

var t0 = time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)

// at is a clock that says t.
type at time.Time

func (c at) Now() time.Time { return time.Time(c) }

func testConfig() pattern.Config {
	bc := breaker.Config{
		Window: 10 * time.Second, Bucket: time.Second, FailureRatePercent: 5,
		OpenDuration: 30 * time.Second, HalfOpenMaxConcurrent: 2, HalfOpenProbes: 2, HalfOpenSuccessPercent: 100,
		HalfOpenProbeInterval: 5 * time.Second,
	}
	slow := time.Second
	return pattern.Config{Enabled: true, Slow: slow, Breaker: pattern.BreakerConfig(bc, slow, 5*time.Second)}
}

func TestPatternBreaker(t *testing.T) {
	r := pattern.New(testConfig())
	var trs []breaker.Transition
	r.Publish = func(_ *pattern.Pattern, tr breaker.Transition) { trs = append(trs, tr) }
	slowQ := []byte("SELECT pg_sleep($1)")
	fastQ := []byte("SELECT 1")
	sk, fk := pattern.Normalize(slowQ), pattern.Normalize(fastQ)

	// Fast executions of untracked patterns track nothing.
	for range 100 {
		q, ref := r.Admit(fk, fastQ, at(t0))
		if ref != nil {
			t.Fatalf("Admit(fast) = %v", ref)
		}
		if r.Finish(q, time.Millisecond, breaker.Success, t0) {
			t.Fatalf("Finish(1ms) = slow, want not slow")
		}
	}
	if n := r.Len(); n != 0 {
		t.Fatalf("Len after fast queries = %d, want 0", n)
	}

	// Three slow executions open the slow pattern's circuit.
	now := t0
	for i := range 3 {
		q, ref := r.Admit(sk, slowQ, at(now))
		if ref != nil {
			t.Fatalf("Admit(slow #%d) refused: %v", i+1, ref)
		}
		now = now.Add(2 * time.Second)
		if !r.Finish(q, 2*time.Second, breaker.Success, now) {
			t.Errorf("Finish(2s) = not slow, want slow (threshold 1s)")
		}
	}
	if len(trs) != 1 || trs[0].To != breaker.Open || trs[0].Reason != breaker.ReasonLatencyP95 {
		t.Fatalf("transitions after three slow executions = %+v, want one to OPEN for latency_p95", trs)
	}
	q, ref := r.Admit(sk, slowQ, at(now))
	if ref == nil {
		t.Fatalf("Admit(slow) with its circuit OPEN = %+v, want refused", q)
	}
	if ref.Text != "SELECT pg_sleep($1)" || ref.Fingerprint == "" || !ref.RetryAt.After(now) {
		t.Errorf("Refused = text %q fingerprint %q retry at %v; want the normalized text, a fingerprint and a retry time after %v", ref.Text, ref.Fingerprint, ref.RetryAt, now)
	}
	if q, ref := r.Admit(fk, fastQ, at(now)); ref != nil || r.Handles(fk, now) {
		t.Errorf("Admit(fast) while the slow pattern is OPEN = %+v, %v; want admitted, untracked", q, ref)
	}

	// After open_duration it is half-open: probes pass, and fast ones close it.
	now = now.Add(31 * time.Second)
	r.Tick(now, nil)
	if len(trs) != 2 || trs[1].To != breaker.HalfOpen {
		t.Fatalf("transitions after open_duration = %+v, want HALF_OPEN second", trs)
	}
	probes := make([]pattern.Req, 2)
	for i := range probes {
		q, ref := r.Admit(sk, slowQ, at(now))
		if ref != nil {
			t.Fatalf("probe #%d refused: %v", i+1, ref)
		}
		probes[i] = q
	}
	if _, ref := r.Admit(sk, slowQ, at(now)); ref == nil {
		t.Errorf("third Admit with 2 of 2 probes out: admitted, want refused")
	}
	for _, q := range probes {
		r.Finish(q, 5*time.Millisecond, breaker.Success, now)
	}
	if len(trs) != 3 || trs[2].To != breaker.Closed {
		t.Fatalf("transitions after two fast probes = %+v, want CLOSED third", trs)
	}
	st := r.Stats(now)
	if len(st) != 1 || st[0].Executions != 5 || st[0].Slow != 3 || st[0].Refused != 2 {
		t.Errorf("Stats = %+v, want one pattern, 5 executions, 3 slow, 2 refused", st)
	}
}

func TestPatternFailuresAndClientErrors(t *testing.T) {
	r := pattern.New(testConfig())
	q := []byte("SELECT crash()")
	k := pattern.Normalize(q)
	// The application's own errors track nothing.
	for range 10 {
		qr, _ := r.Admit(k, q, at(t0))
		r.Finish(qr, time.Millisecond, breaker.Excluded, t0)
	}
	if r.Len() != 0 {
		t.Fatalf("Len after client errors = %d, want 0", r.Len())
	}
	// Backend failures do, and open it on the error-rate rule.
	for range 3 {
		qr, _ := r.Admit(k, q, at(t0))
		if r.Finish(qr, time.Millisecond, breaker.Failure, t0) {
			t.Errorf("Finish(failure) = slow, want not slow")
		}
	}
	st := r.Stats(t0)
	if len(st) != 1 || st[0].State != breaker.Open || st[0].Reason != breaker.ReasonErrorRate {
		t.Errorf("Stats after 3 failures = %+v, want OPEN for error_rate", st)
	}
}

func TestPatternRetention(t *testing.T) {
	cfg := testConfig()
	cfg.Max = 2
	r := pattern.New(cfg)
	slow := func(text string, now time.Time) {
		q, _ := r.Admit(pattern.Normalize([]byte(text)), []byte(text), at(now))
		r.Finish(q, 2*time.Second, breaker.Success, now)
	}
	slow("SELECT a", t0)
	slow("SELECT b", t0.Add(time.Second))
	// Both are dealt with by their breakers: a third cannot push one out.
	slow("SELECT c", t0.Add(2*time.Second))
	if r.Len() != 2 {
		t.Fatalf("Len = %d, want 2 (the bound)", r.Len())
	}
	// Once calm beyond the window, the least recently seen makes room.
	slow("SELECT c", t0.Add(20*time.Second))
	if r.Len() != 2 {
		t.Fatalf("Len = %d, want 2", r.Len())
	}
	keys := map[pattern.Key]bool{}
	for _, s := range r.Stats(t0.Add(20 * time.Second)) {
		keys[s.Key] = true
	}
	if keys[pattern.Normalize([]byte("SELECT a"))] || !keys[pattern.Normalize([]byte("SELECT c"))] {
		t.Errorf("patterns after eviction = %v, want b and c", keys)
	}
	// Calm CLOSED patterns go after Retain.
	r.Tick(t0.Add(20*time.Second+pattern.DefaultRetain+time.Second), nil)
	if r.Len() != 0 {
		t.Errorf("Len after retain = %d, want 0", r.Len())
	}
	// Off drops everything and tracks nothing.
	cfg.Enabled = false
	r.SetConfig(cfg)
	slow("SELECT d", t0.Add(time.Hour))
	if r.Len() != 0 {
		t.Errorf("Len with query-level breakers off = %d, want 0", r.Len())
	}
}

func TestExactGrouping(t *testing.T) {
	cfg := testConfig()
	cfg.Exact = true
	r := pattern.New(cfg)
	if a, b := r.Key([]byte("SELECT 1")), r.Key([]byte("SELECT 2")); a == b {
		t.Errorf("with query_pattern_detection off, SELECT 1 and SELECT 2 share key %x; want their own", a)
	}
	cfg.Exact = false
	r.SetConfig(cfg)
	if a, b := r.Key([]byte("SELECT 1")), r.Key([]byte("SELECT 2")); a != b {
		t.Errorf("with query_pattern_detection on, SELECT 1 → %x and SELECT 2 → %x; want one pattern", a, b)
	}
}

// TestPatternRunning: executions still running beyond
// slow_query_threshold_ms (a query blocked on a lock) count as slow: an
// untracked pattern is tracked, and three of them open its breaker.
func TestPatternRunning(t *testing.T) {
	r := pattern.New(testConfig())
	q := []byte("SELECT * FROM locked WHERE id = $1")
	k := r.Key(q)
	r.Tick(t0, map[pattern.Key]int{k: 2})
	if r.Len() != 1 || !r.Handles(k, t0) {
		t.Fatalf("after 2 running too long: Len %d, Handles %v; want the pattern tracked and handled", r.Len(), r.Handles(k, t0))
	}
	if st := r.Stats(t0); st[0].State != breaker.Closed {
		t.Errorf("with 2 running too long: %v, want CLOSED (3 needed)", st[0].State)
	}
	r.Tick(t0.Add(10*time.Millisecond), map[pattern.Key]int{k: 3})
	if _, ref := r.Admit(k, q, at(t0.Add(20*time.Millisecond))); ref == nil || ref.Reason != "latency_p95" {
		t.Errorf("Admit after 3 running too long = %+v, want refused for latency_p95", ref)
	}
}

// TestPatternForgottenWhenHalfOpenAndIdle: a pattern that opened and that
// nobody runs again goes HALF_OPEN after open_duration and, once it has
// been neither run nor moved for Retain, is forgotten (announced as
// closed), as a calm CLOSED one is. Before, it stayed HALF_OPEN for good:
// shown first in query_breakers, counted in helios_query_breakers{state=
// "HALF_OPEN"}, and never evicted, so that a thousand of them left no room
// for a new pattern.
func TestPatternForgottenWhenHalfOpenAndIdle(t *testing.T) {
	r := pattern.New(testConfig())
	var trs []breaker.Transition
	r.Publish = func(_ *pattern.Pattern, tr breaker.Transition) { trs = append(trs, tr) }
	q := []byte("SELECT * FROM report WHERE day = $1")
	k := r.Key(q)
	r.Tick(t0, map[pattern.Key]int{k: 3})
	now := t0.Add(10 * time.Millisecond)
	r.Tick(now, nil)
	if _, ref := r.Admit(k, q, at(now)); ref == nil {
		t.Fatal("Admit after 3 running too long: admitted, want refused")
	}
	now = now.Add(time.Minute) // past open_duration (30s)
	r.Tick(now, nil)
	if st := r.Stats(now); len(st) != 1 || st[0].State != breaker.HalfOpen {
		t.Fatalf("Stats(t0+1m) = %+v, want the pattern HALF_OPEN", st)
	}
	r.Tick(now.Add(pattern.DefaultRetain/2), nil)
	if r.Len() != 1 {
		t.Errorf("Len half of Retain later = %d, want 1", r.Len())
	}
	trs = nil
	r.Tick(now.Add(pattern.DefaultRetain+time.Second), nil)
	if r.Len() != 0 {
		t.Errorf("Len HALF_OPEN and not run for Retain = %d, want 0 (forgotten)", r.Len())
	}
	if len(trs) != 1 || trs[0].From != breaker.HalfOpen || trs[0].To != breaker.Closed {
		t.Errorf("transitions published = %+v, want one HALF_OPEN → CLOSED", trs)
	}
	// Slow again, it is tracked again.
	r.Tick(now.Add(time.Hour), map[pattern.Key]int{k: 1})
	if r.Len() != 1 {
		t.Errorf("Len after a slow execution = %d, want 1", r.Len())
	}
}
