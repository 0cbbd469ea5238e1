package api

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/heliosdb/heliosproxy/status"
)

// snapAt is a snapshot of the named backends, all CLOSED with p95 = v.
func snapAt(v float64, names ...string) status.Snapshot {
	var s status.Snapshot
	for _, n := range names {
		s.Backends = append(s.Backends, status.Backend{Name: n, CircuitState: status.Closed,
			LatencyP50Ms: v / 2, LatencyP95Ms: v, LatencyP99Ms: 2 * v, ErrorRate: 0.01, TrafficShare: 0.5})
	}
	return s
}

func TestHistorySampleSize(t *testing.T) {
	if got := unsafe.Sizeof(sample{}); got != sampleBytes {
		t.Errorf("sample is %d bytes, want %d (History's doc comment states the memory bound)", got, sampleBytes)
	}
	h := NewHistory(0, 0)
	if h.Interval() != time.Second || h.Retention() != 15*time.Minute {
		t.Errorf("defaults: every %v for %v, want every 1s for 15m", h.Interval(), h.Retention())
	}
	// The stated bound: 1,000 backends at the defaults.
	if got := 1000 * h.size * sampleBytes; got != 21_600_000 {
		t.Errorf("1,000 backends take %d bytes of samples, want 21,600,000 as documented", got)
	}
}

func TestHistoryRing(t *testing.T) {
	const every = time.Second
	h := NewHistory(every, time.Minute) // 60 samples
	// 100 s of samples: the first 40 are evicted.
	for i := range 100 {
		h.Record(snapAt(float64(i), "pg-a", "pg-b"), t0.Add(time.Duration(i)*every))
	}
	out, unknown := h.query(historyQuery{})
	if len(unknown) != 0 {
		t.Errorf("unknown = %v, want none", unknown)
	}
	if len(out.Timestamps) != 60 || out.StepMs != 1000 || out.IntervalMs != 1000 || out.RetentionMs != 60000 {
		t.Fatalf("history(t0+99s): %d points, step %d ms, interval %d ms, retention %d ms; want 60, 1000, 1000, 60000",
			len(out.Timestamps), out.StepMs, out.IntervalMs, out.RetentionMs)
	}
	if first, last := out.Timestamps[0], out.Timestamps[59]; first != t0.Add(40*every).UnixMilli() || last != t0.Add(99*every).UnixMilli() {
		t.Errorf("history(t0+99s) spans t0+%v..t0+%v, want t0+40s..t0+99s",
			time.Duration(first-t0.UnixMilli())*time.Millisecond, time.Duration(last-t0.UnixMilli())*time.Millisecond)
	}
	for k := 1; k < 60; k++ {
		if d := out.Timestamps[k] - out.Timestamps[k-1]; d != 1000 {
			t.Fatalf("points %d and %d are %d ms apart, want 1000", k-1, k, d)
		}
	}
	if len(out.Backends) != 2 || out.Backends[0].BackendName != "pg-a" || out.Backends[1].BackendName != "pg-b" {
		t.Fatalf("backends = %+v, want pg-a, pg-b", out.Backends)
	}
	if got := out.Backends[1].P95; got[0] != 40 || got[59] != 99 || out.Backends[1].P99[59] != 198 {
		t.Errorf("pg-b p95 = %v..%v, p99 last %v; want 40..99, 198", got[0], got[59], out.Backends[1].P99[59])
	}

	// A backend added later has nulls before it appeared; one removed loses
	// its history.
	for i := 100; i < 110; i++ {
		h.Record(snapAt(float64(i), "pg-a", "pg-c"), t0.Add(time.Duration(i)*every))
	}
	out, _ = h.query(historyQuery{})
	if len(out.Backends) != 2 || out.Backends[1].BackendName != "pg-c" {
		t.Fatalf("after a reload: backends %+v, want pg-a, pg-c", out.Backends)
	}
	c := out.Backends[1]
	if !math.IsNaN(float64(c.P95[49])) || c.CircuitState[49] != status.NoState || c.P95[50] != 100 || c.CircuitState[50] != status.Closed {
		t.Errorf("pg-c around its arrival: p95 %v, %v; state %v, %v; want NaN, 100; none, CLOSED", c.P95[49], c.P95[50], c.CircuitState[49], c.CircuitState[50])
	}
	if _, unknown := h.query(historyQuery{backends: []string{"pg-b", "pg-c"}}); len(unknown) != 1 || unknown[0] != "pg-b" {
		t.Errorf("unknown after pg-b was removed = %v, want [pg-b]", unknown)
	}
	// Memory stays bounded: one ring per backend, never grown.
	if len(h.series) != 2 || len(h.series["pg-c"].samples) != 60 || len(h.times) != 60 {
		t.Errorf("%d series, pg-c ring %d, times %d; want 2, 60, 60", len(h.series), len(h.series["pg-c"].samples), len(h.times))
	}
}

func TestHistoryStepAndSince(t *testing.T) {
	h := NewHistory(time.Second, time.Minute)
	for i := range 60 {
		s := snapAt(10, "pg-a")
		if i == 31 { // a 1 s spike and outage inside a 10 s step
			s.Backends[0].LatencyP99Ms, s.Backends[0].CircuitState = 900, status.Open
		}
		h.Record(s, t0.Add(time.Duration(i)*time.Second))
	}
	out, _ := h.query(historyQuery{step: 10 * time.Second})
	if len(out.Timestamps) != 6 || out.StepMs != 10000 {
		t.Fatalf("step 10s: %d points of %d ms, want 6 of 10000", len(out.Timestamps), out.StepMs)
	}
	a := out.Backends[0]
	if a.P99[3] != 900 || a.CircuitState[3] != status.Open || a.CircuitState[2] != status.Closed || a.P99[2] != 20 {
		t.Errorf("step 10s, points 2 and 3: p99 %v, %v; state %v, %v; want 20, 900 (the spike kept), CLOSED, OPEN", a.P99[2], a.P99[3], a.CircuitState[2], a.CircuitState[3])
	}
	if math.Abs(float64(a.TrafficShare[3])-0.5) > 1e-6 {
		t.Errorf("traffic share = %v, want the mean 0.5", a.TrafficShare[3])
	}
	out, _ = h.query(historyQuery{since: t0.Add(55 * time.Second)})
	if len(out.Timestamps) != 5 || out.Timestamps[0] != t0.Add(55*time.Second).UnixMilli() {
		t.Errorf("since t0+55s: %d points from %d, want 5 from t0+55s", len(out.Timestamps), out.Timestamps[0])
	}
	// A step that does not divide the samples: the oldest bucket is partial,
	// the newest whole.
	out, _ = h.query(historyQuery{step: 7 * time.Second})
	if len(out.Timestamps) != 9 || out.Timestamps[0] != t0.UnixMilli() || out.Timestamps[8] != t0.Add(53*time.Second).UnixMilli() {
		t.Errorf("step 7s: %d points, first t0+%dms, last t0+%dms; want 9, t0, t0+53s",
			len(out.Timestamps), out.Timestamps[0]-t0.UnixMilli(), out.Timestamps[len(out.Timestamps)-1]-t0.UnixMilli())
	}
}

func TestHistoryBoundedAnswer(t *testing.T) {
	h := NewHistory(time.Second, 15*time.Minute)
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("b%04d", i)
	}
	snap := snapAt(5, names...)
	for i := range 900 {
		h.Record(snap, t0.Add(time.Duration(i)*time.Second))
	}
	out, _ := h.query(historyQuery{})
	if points := len(out.Timestamps) * len(out.Backends); points > maxHistoryPoints || len(out.Backends) != 1000 {
		t.Errorf("1,000 backends: %d points (%d backends × %d), want at most %d, all backends", points, len(out.Backends), len(out.Timestamps), maxHistoryPoints)
	}
	if out.StepMs != 9000 {
		t.Errorf("1,000 backends: step %d ms, want 9000", out.StepMs)
	}
}

// TestHistoryRun runs the sampler on synctest's clock: a sample when it
// starts and one per interval, and it returns when its context ends.
func TestHistoryRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := NewHistory(2*time.Second, time.Minute)
		start := time.Now()
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		calls := 0
		wg.Go(func() {
			h.Run(ctx, func() status.Snapshot { calls++; return snapAt(float64(calls), "pg-a") })
		})
		time.Sleep(10*time.Second + time.Millisecond) // fake time
		synctest.Wait()
		cancel()
		wg.Wait()
		out, _ := h.query(historyQuery{})
		if len(out.Timestamps) != 6 {
			t.Fatalf("after 10 s: %d samples, want 6 (t0, then every 2 s)", len(out.Timestamps))
		}
		for k, ts := range out.Timestamps {
			if want := start.Add(time.Duration(k) * 2 * time.Second).UnixMilli(); ts != want {
				t.Errorf("sample %d at %d, want start+%ds", k, ts-start.UnixMilli(), 2*k)
			}
		}
	})
}

func TestHistoryEndpoint(t *testing.T) {
	f := newFakeProxy()
	hist := NewHistory(time.Second, time.Minute)
	h := newHarness(t, f, Options{AdminToken: testToken, History: hist})
	snap := f.Snapshot()
	var names []string
	for _, b := range snap.Backends {
		names = append(names, b.Name)
	}
	for i := range 90 {
		snap.Taken = t0.Add(time.Duration(i) * time.Second) // wins over Record's now
		hist.Record(snap, time.Time{})
	}

	var got historyResponse
	resp, b := h.do(req{method: "GET", path: "/circuit-breaker/history"})
	if err := json.Unmarshal(b, &got); resp.StatusCode != 200 || err != nil {
		t.Fatalf("GET /circuit-breaker/history = %d %s (%v)", resp.StatusCode, b, err)
	}
	if len(got.Timestamps) != 60 || len(got.Backends) != len(names) || got.Backends[0].BackendName != names[0] {
		t.Errorf("history: %d points, %d backends; want 60, %d (%v)", len(got.Timestamps), len(got.Backends), len(names), names)
	}
	if cc := got.Backends[0].CircuitState; len(cc) != 60 || cc[0] == nil {
		t.Errorf("circuit_state column = %v, want 60 states", cc)
	}

	one := url.Values{"backend": {names[1]}, "step": {"10s"}, "since": {t0.Add(60 * time.Second).Format(time.RFC3339)}}
	resp, b = h.do(req{method: "GET", path: "/circuit-breaker/history?" + one.Encode()})
	if err := json.Unmarshal(b, &got); resp.StatusCode != 200 || err != nil || len(got.Backends) != 1 || len(got.Timestamps) != 3 || got.StepMs != 10000 {
		t.Errorf("GET ?%s = %d %s, want one backend, 3 points of 10 s", one.Encode(), resp.StatusCode, b)
	}

	resp, b = h.do(req{method: "GET", path: "/circuit-breaker/history?backend=pg-x"})
	if e := errorBody(t, b); resp.StatusCode != 404 || !strings.Contains(e.Error, `"pg-x"`) {
		t.Errorf("GET ?backend=pg-x = %d %s, want 404 naming it", resp.StatusCode, b)
	}
	for _, bad := range []struct{ query, field string }{
		{"step=abc", "step:"}, {"step=100ms", "step:"}, {"step=2h", "step:"},
		{"since=yesterday", "since:"}, {"backend=", "backend:"},
		{"backend=" + strings.Repeat("x&backend=", 101) + "x", "backend:"},
	} {
		resp, b := h.do(req{method: "GET", path: "/circuit-breaker/history?" + bad.query})
		if e := errorBody(t, b); resp.StatusCode != 400 || !strings.HasPrefix(e.Error, bad.field) {
			t.Errorf("GET ?%.40s = %d %s, want 400 naming %s", bad.query, resp.StatusCode, b, bad.field)
		}
	}

	none := newHarness(t, f, Options{AdminToken: testToken})
	if resp, b := none.do(req{method: "GET", path: "/circuit-breaker/history"}); resp.StatusCode != 501 {
		t.Errorf("GET /circuit-breaker/history without a History = %d %s, want 501", resp.StatusCode, b)
	}
}

// historyResponse decodes historyJSON (whose columns only marshal).
type historyResponse struct {
	StepMs     int64   `json:"step_ms"`
	Timestamps []int64 `json:"timestamps"`
	Backends   []struct {
		BackendName  string     `json:"backend_name"`
		CircuitState []*string  `json:"circuit_state"`
		P95          []*float64 `json:"latency_p95_ms"`
	} `json:"backends"`
}
