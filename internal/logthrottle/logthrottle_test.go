package logthrottle

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// output is what a real JSON handler wrote, one map per line.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) records(t *testing.T) []map[string]any {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(o.buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	o.buf.Reset()
	return out
}

// newTest returns a logger through a Handler with o (its clock at t0) to a
// JSON handler at Debug.
func newTest(o Options) (*slog.Logger, *Handler, *output, *manualClock) {
	clock := &manualClock{now: t0}
	o.Clock = clock
	out := &output{}
	h := New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}), o)
	return slog.New(h), h, out, clock
}

// flushed flushes h and returns what it wrote.
func flushed(t *testing.T, h *Handler, out *output) []map[string]any {
	t.Helper()
	if err := h.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return out.records(t)
}

// count returns how many records have msg and the sum of their suppressed
// counts.
func count(recs []map[string]any, msg string) (lines, suppressed int) {
	for _, r := range recs {
		if r["msg"] == msg {
			lines++
			if n, ok := r["suppressed"].(float64); ok {
				suppressed += int(n)
			}
		}
	}
	return lines, suppressed
}

func TestBurstThenRate(t *testing.T) {
	log, _, out, clock := newTest(Options{})
	for i := range 100 {
		log.Warn("client refused", "client_addr", fmt.Sprintf("10.0.0.%d:5000", i))
	}
	recs := out.records(t)
	if lines, _ := count(recs, "client refused"); lines != 10 {
		t.Errorf("100 records at t0: %d lines, want the burst of 10", lines)
	}
	if _, ok := recs[0]["suppressed"]; ok {
		t.Errorf("first record carries suppressed: %v", recs[0])
	}
	if recs[9]["client_addr"] != "10.0.0.9:5000" {
		t.Errorf("10th line = %v, want the 10th record with its own attributes", recs[9])
	}

	clock.Advance(500 * time.Millisecond)
	log.Warn("client refused")
	if recs := out.records(t); len(recs) != 0 {
		t.Errorf("record at t0+0.5s passed: %v", recs)
	}
	clock.Advance(500 * time.Millisecond)
	log.Warn("client refused", "client_addr", "10.0.0.200:5000")
	recs = out.records(t)
	if len(recs) != 1 || recs[0]["suppressed"] != float64(91) || recs[0]["client_addr"] != "10.0.0.200:5000" {
		t.Errorf("record at t0+1s = %v, want it with suppressed=91", recs)
	}
	// A key that stays quiet long enough is as good as new.
	clock.Advance(time.Minute)
	for range 10 {
		log.Warn("client refused")
	}
	if lines, n := count(out.records(t), "client refused"); lines != 10 || n != 0 {
		t.Errorf("burst after a quiet minute: %d lines, suppressed %d; want 10, 0", lines, n)
	}
}

func TestKeyIsLevelAndMessage(t *testing.T) {
	log, _, out, _ := newTest(Options{Burst: 2})
	for i := range 5 {
		log.Info("session refused", "user", fmt.Sprint("u", i))
		log.Warn("session refused")
		log.Info("backend failed")
	}
	recs := out.records(t)
	tests := []struct {
		level, msg string
		want       int
	}{
		{"INFO", "session refused", 2},
		{"WARN", "session refused", 2},
		{"INFO", "backend failed", 2},
	}
	for _, tc := range tests {
		got := 0
		for _, r := range recs {
			if r["level"] == tc.level && r["msg"] == tc.msg {
				got++
			}
		}
		if got != tc.want {
			t.Errorf("%s %q: %d lines, want %d (attributes must not make keys)", tc.level, tc.msg, got, tc.want)
		}
	}
}

func TestErrorsHaveALargerBurst(t *testing.T) {
	log, _, out, _ := newTest(Options{})
	for range 100 {
		log.Error("relay failed")
		log.Warn("relay slow")
	}
	recs := out.records(t)
	if lines, _ := count(recs, "relay failed"); lines != 50 {
		t.Errorf("100 errors: %d lines, want the error burst of 50", lines)
	}
	if lines, _ := count(recs, "relay slow"); lines != 10 {
		t.Errorf("100 warnings: %d lines, want 10", lines)
	}
}

func TestDebugIsNotThrottled(t *testing.T) {
	log, _, out, _ := newTest(Options{})
	for range 100 {
		log.Debug("query")
	}
	if lines, _ := count(out.records(t), "query"); lines != 100 {
		t.Errorf("100 debug records: %d lines, want all", lines)
	}
}

func TestGlobalCap(t *testing.T) {
	log, h, out, clock := newTest(Options{GlobalBurst: 20, GlobalEvery: 100 * time.Millisecond})
	for i := range 30 {
		log.Info(fmt.Sprint("event ", i))
	}
	if recs := out.records(t); len(recs) != 20 {
		t.Errorf("30 distinct messages at t0: %d lines, want the global burst of 20", len(recs))
	}
	// A key cut by the global limit reports the count on its next line.
	clock.Advance(time.Second) // 10 global tokens
	log.Info("event 25")
	recs := out.records(t)
	lines, n := count(recs, "event 25")
	if lines != 1 || n != 1 {
		t.Errorf("event 25 after 1s: %v, want one line with suppressed=1", recs)
	}
	// The other nine dropped keys got their summaries first, with the
	// nine tokens left.
	for i := 20; i < 30; i++ {
		if l, n := count(recs, fmt.Sprint("event ", i)); l != 1 || n != 1 {
			t.Errorf("event %d after 1s: %d lines, suppressed %d; want 1, 1", i, l, n)
		}
	}
	if len(recs) != 10 {
		t.Errorf("after 1s: %d lines, want 10: %v", len(recs), recs)
	}
	if recs := flushed(t, h, out); len(recs) != 0 {
		t.Errorf("Flush with nothing suppressed wrote %v", recs)
	}
}

func TestSummaryOfAQuietKey(t *testing.T) {
	log, h, out, clock := newTest(Options{})
	for range 25 {
		log.Warn("client refused")
	}
	out.records(t)
	clock.Advance(1500 * time.Millisecond)
	log.Info("breaker state changed")
	recs := out.records(t)
	if len(recs) != 2 || recs[0]["msg"] != "client refused" || recs[0]["suppressed"] != float64(15) || recs[0]["summary"] != true || recs[0]["level"] != "WARN" {
		t.Fatalf("after 1.5s, another record: %v, want a WARN summary of 15 suppressed records first", recs)
	}
	// Nothing left to report.
	if recs := flushed(t, h, out); len(recs) != 0 {
		t.Errorf("Flush after the summary wrote %v", recs)
	}
}

func TestFlush(t *testing.T) {
	log, h, out, _ := newTest(Options{})
	for range 12 {
		log.Warn("client refused")
	}
	for range 53 {
		log.Error("internal error")
	}
	out.records(t)
	recs := flushed(t, h, out)
	if len(recs) != 2 {
		t.Fatalf("Flush wrote %v, want two summaries", recs)
	}
	if recs[0]["msg"] != "client refused" || recs[0]["suppressed"] != float64(2) || recs[1]["msg"] != "internal error" || recs[1]["suppressed"] != float64(3) {
		t.Errorf("Flush wrote %v, want client refused suppressed=2 then internal error suppressed=3", recs)
	}
}

func TestDerivedHandlersShareLimits(t *testing.T) {
	log, _, out, clock := newTest(Options{Burst: 3})
	a := log.With("component", "proxy")
	b := log.WithGroup("api").With("route", "/ready")
	a.Warn("slow")
	b.Warn("slow")
	log.Warn("slow")
	a.Warn("slow")
	b.Warn("slow")
	recs := out.records(t)
	if len(recs) != 3 {
		t.Fatalf("5 records through 3 derived loggers with burst 3: %d lines", len(recs))
	}
	if recs[0]["component"] != "proxy" {
		t.Errorf("With attributes lost: %v", recs[0])
	}
	if g, ok := recs[1]["api"].(map[string]any); !ok || g["route"] != "/ready" {
		t.Errorf("group lost: %v", recs[1])
	}
	clock.Advance(time.Second)
	a.Warn("slow")
	recs = out.records(t)
	if len(recs) != 1 || recs[0]["suppressed"] != float64(2) || recs[0]["component"] != "proxy" {
		t.Errorf("after 1s: %v, want one line with component and suppressed=2", recs)
	}
}

func TestEnabled(t *testing.T) {
	h := New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn}), Options{})
	ctx := context.Background()
	if h.Enabled(ctx, slog.LevelInfo) || !h.Enabled(ctx, slog.LevelWarn) {
		t.Errorf("Enabled(Info) = %v, Enabled(Warn) = %v; want false, true", h.Enabled(ctx, slog.LevelInfo), h.Enabled(ctx, slog.LevelWarn))
	}
	if d := h.WithAttrs([]slog.Attr{slog.Int("a", 1)}).WithGroup("g"); d.Enabled(ctx, slog.LevelInfo) {
		t.Error("derived handler Enabled(Info) = true under a Warn handler")
	}
}

func TestTooManyKeys(t *testing.T) {
	log, h, out, clock := newTest(Options{MaxKeys: 4, GlobalBurst: 10})
	for i := range 20 {
		log.Info(fmt.Sprint("unique ", i))
	}
	if recs := out.records(t); len(recs) != 10 {
		t.Errorf("20 unique messages, 4 keys, global burst 10: %d lines, want 10", len(recs))
	}
	recs := flushed(t, h, out)
	if lines, n := count(recs, OverflowMessage); lines != 1 || n != 10 {
		t.Errorf("Flush: %v, want %q with suppressed=10", recs, OverflowMessage)
	}
	// Once the tracked keys are idle again, the sweep forgets them.
	clock.Advance(time.Minute)
	log.Info("new")
	h.st.mu.Lock()
	n := len(h.st.keys)
	h.st.mu.Unlock()
	if n != 1 {
		t.Errorf("keys tracked after a quiet minute = %d, want 1", n)
	}
}

// TestConcurrentAccounting checks, under the race detector, that every
// record is either written or counted in a suppressed attribute.
func TestConcurrentAccounting(t *testing.T) {
	log, h, out, clock := newTest(Options{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				log.With("g", g).Warn("flood", "i", i)
				if i%100 == 0 {
					clock.Advance(time.Second)
				}
			}
		})
	}
	wg.Wait()
	lines, suppressed := 0, 0
	for _, r := range flushed(t, h, out) {
		if r["summary"] != true {
			lines++
		}
		if n, ok := r["suppressed"].(float64); ok {
			suppressed += int(n)
		}
	}
	if lines+suppressed != 8*500 {
		t.Errorf("%d lines + %d suppressed = %d, want %d", lines, suppressed, lines+suppressed, 8*500)
	}
}
