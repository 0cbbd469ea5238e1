package web_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chartInfo is what window.heliosDashboard.chart() reports of the big chart.
type chartInfo struct {
	Backend     string  `json:"backend"`
	Samples     int     `json:"samples"`
	FromHistory int     `json:"fromHistory"`
	SpanMs      float64 `json:"spanMs"`
	Oldest      float64 `json:"oldest"`
	Marks       []struct {
		T  float64 `json:"t"`
		To string  `json:"to"`
		X  float64 `json:"x"`
	} `json:"marks"`
}

// TestDashboardHistoryOnOpen opens the page on a server that recorded ten
// minutes of history, with an outage of backend-000 five minutes ago: the
// big chart draws it at once (before any live sample could), marks the
// outage's state changes from the event history, and goes on live.
func TestDashboardHistoryOnOpen(t *testing.T) {
	f := newFakeAPI(t, 3)
	const n = 600 // 10 min at 1 s
	spike := map[int]float64{}
	for k := 300; k <= 310; k++ {
		spike[k] = 300
	}
	f.recordHistory(n, map[string]map[int]float64{"backend-000": spike})
	ts := f.recorded.Timestamps
	f.recordEvent("backend-000", "CircuitOpened", "CLOSED", "OPEN", time.UnixMilli(ts[300]))
	f.recordEvent("backend-000", "CircuitClosed", "OPEN", "CLOSED", time.UnixMilli(ts[311]))

	b := newBrowser(t)
	opened := time.Now()
	b.open(f.URL)
	b.within(10*time.Second, "history loaded", chromedp.WaitVisible(chromedp.CSS(`body[data-history="1"]`)))

	info := eval[chartInfo](b, `window.heliosDashboard.chart()`)
	if info.Backend != "backend-000" || info.FromHistory < n-1 {
		t.Fatalf("chart on open: backend %q with %d samples from the server's history, want backend-000 with %d", info.Backend, info.FromHistory, n)
	}
	if age := opened.Sub(time.UnixMilli(int64(info.Oldest))); age < 9*time.Minute {
		t.Errorf("oldest sample drawn is %v before the page opened, want about 10 min", age.Round(time.Second))
	}
	var tos []string
	for _, m := range info.Marks {
		tos = append(tos, m.To)
	}
	if !slices.Equal(tos, []string{"OPEN", "CLOSED"}) {
		t.Errorf("state-change marks on the chart: %v, want [OPEN CLOSED]", tos)
	}
	if reqs := f.historyRequests(); !slices.Contains(reqs, "step=10s") || !slices.Contains(reqs, "backend=backend-000") {
		t.Errorf("history requests %q, want every backend at a 10 s step and backend-000 at full resolution", reqs)
	}
	// The small charts have it too.
	if got := eval[int](b, `document.querySelectorAll('.card .spark').length`); got != 3 {
		t.Errorf("%d small charts, want 3", got)
	}

	// The legend names the lines and the marks.
	legend := b.text(`#chart-legend`)
	for _, w := range []string{"p50", "p95", "p99", "opened", "closed"} {
		if !strings.Contains(legend, w) {
			t.Errorf("chart legend %q lacks %q", legend, w)
		}
	}

	// The picture: the p95 line of the recorded history (blue) runs from
	// the left part of the plot, and the outage's spike and its red OPEN
	// mark stand in the middle, in the upper part.
	img := b.elementImage(`#chart`)
	bounds := img.Bounds()
	W, H := bounds.Dx(), bounds.Dy()
	plotL, plotR, plotT, plotB := 52, W-8, 8, H-20
	pw := plotR - plotL
	blue := rgb{9, 105, 218}
	red := rgb{207, 34, 46}
	if n := countColor(img, image.Rect(plotL+pw/20, plotT, plotL+pw/3, plotB), blue); n < 20 {
		t.Errorf("%d p95-coloured pixels in the left third of the chart (history from before the page opened), want a line", n)
	}
	mid := image.Rect(plotL+pw*2/5, plotT, plotL+pw*3/5, plotT+(plotB-plotT)*3/4)
	if n := countColor(img, mid, blue); n < 3 {
		t.Errorf("%d p95-coloured pixels at the top of the chart's middle (the 300 ms spike), want some", n)
	}
	if n := countColor(img, mid, red); n < 5 {
		t.Errorf("%d red pixels at the top of the chart's middle (the OPEN mark), want a mark", n)
	}
	if colors := distinctColors(img); colors < 5 {
		t.Errorf("the chart has %d distinct colours: blank", colors)
	}
	b.screenshot("dashboard-history.png")

	// Live samples follow the history.
	before := info.Samples
	b.within(10*time.Second, "a live sample after the history",
		chromedp.Poll[chromedp.Void](`window.heliosDashboard.chart().samples > `+strconv.Itoa(before)))
}

// TestDashboardPhoneWidth lays the page out at 375 px: nothing is wider than
// the screen, the metric labels on the cards neither overlap nor are cut.
func TestDashboardPhoneWidth(t *testing.T) {
	f := newFakeAPI(t, 12)
	f.recordHistory(120, nil)
	f.transition("backend-003", "OPEN", "hard_failure")
	b := newBrowser(t)
	b.within(10*time.Second, "phone viewport", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile))
	b.open(f.URL)
	b.within(10*time.Second, "history loaded", chromedp.WaitVisible(chromedp.CSS(`body[data-history="1"]`)))
	checkLayout(t, b, 375)
	b.screenshot("dashboard-phone.png")
}

// TestDashboardHundredBackendsLayout: 100 cards at desktop width keep their
// layout, and sorting and filtering by state put the circuits that need
// attention first.
func TestDashboardHundredBackendsLayout(t *testing.T) {
	f := newFakeAPI(t, 100)
	f.recordHistory(300, nil)
	f.transition("backend-010", "OPEN", "hard_failure")
	f.transition("backend-020", "HALF_OPEN", "probe")
	f.transition("backend-030", "OPEN", "latency_p95")
	b := newBrowser(t)
	b.open(f.URL)
	b.within(10*time.Second, "history loaded", chromedp.WaitVisible(chromedp.CSS(`body[data-history="1"]`)))
	checkLayout(t, b, 1280)

	setSelect := func(id, v string) {
		eval[bool](b, `(() => { const s = document.getElementById('`+id+`'); s.value = '`+v+`'; s.dispatchEvent(new Event('change')); return true; })()`)
	}
	visible := func() []string {
		return eval[[]string](b, `[...document.querySelectorAll('.card:not([hidden])')].map(c => c.dataset.backend)`)
	}
	setSelect("sort", "state")
	got := visible()
	if len(got) != 100 || !slices.Equal(got[:4], []string{"backend-010", "backend-030", "backend-020", "backend-000"}) {
		t.Errorf("sorted by state, the cards start %v, want [backend-010 backend-030 backend-020 backend-000]", got[:min(4, len(got))])
	}
	setSelect("state-filter", "problem")
	if got := visible(); !slices.Equal(got, []string{"backend-010", "backend-030", "backend-020"}) {
		t.Errorf("not closed, sorted by state: %v, want [backend-010 backend-030 backend-020]", got)
	}
	// A live change re-sorts.
	f.transition("backend-020", "OPEN", "hard_failure")
	b.within(5*time.Second, "backend-020 OPEN", chromedp.WaitVisible(chromedp.CSS(`[data-backend="backend-020"][data-state="OPEN"]`)))
	if got := visible(); !slices.Equal(got, []string{"backend-010", "backend-020", "backend-030"}) {
		t.Errorf("after backend-020 opened: %v, want [backend-010 backend-020 backend-030]", got)
	}
	setSelect("state-filter", "")
	setSelect("sort", "")
	if got := visible(); len(got) != 100 || got[0] != "backend-000" || got[99] != "backend-099" {
		t.Errorf("configuration order again: %d cards from %v", len(got), got[:min(2, len(got))])
	}
	b.screenshot("dashboard-100-layout.png")
}

// checkLayout fails the test when a box of the page reaches past the
// viewport's width or a card's metric labels overlap or are cut off.
func checkLayout(t *testing.T, b *browser, width int) {
	t.Helper()
	type layout struct {
		W      int      `json:"w"`
		Scroll int      `json:"scroll"`
		Out    []string `json:"out"`
		Labels []string `json:"labels"`
		Cards  int      `json:"cards"`
	}
	got := eval[layout](b, `(() => {
		const W = document.documentElement.clientWidth, out = [], labels = [];
		const boxes = '.top, .top > *, .admin > *, .panel, .panel-head > *, #chart, .card, .card > *, .metrics > div, .actions button';
		for (const e of document.querySelectorAll(boxes)) {
			if (e.closest('[hidden], .sr')) continue;
			const r = e.getBoundingClientRect();
			if (r.width && (r.right > W + 0.5 || r.left < -0.5))
				out.push(e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(r.left) + '..' + Math.round(r.right));
		}
		let cards = 0;
		for (const dl of document.querySelectorAll('.card:not([hidden]) .metrics')) {
			cards++;
			const dts = [...dl.querySelectorAll('dt')], rs = dts.map((d) => d.getBoundingClientRect());
			for (let i = 0; i < dts.length; i++) {
				if (dts[i].scrollWidth > dts[i].clientWidth + 1) labels.push(dts[i].textContent + ' is cut off');
				for (let j = i + 1; j < dts.length; j++) {
					const a = rs[i], c = rs[j];
					if (a.left < c.right - 0.5 && c.left < a.right - 0.5 && a.top < c.bottom - 0.5 && c.top < a.bottom - 0.5)
						labels.push(dts[i].textContent + ' overlaps ' + dts[j].textContent);
				}
			}
		}
		return { w: W, scroll: document.documentElement.scrollWidth, out: out.slice(0, 10), labels: [...new Set(labels)].slice(0, 10), cards };
	})()`)
	if got.W != width {
		t.Errorf("viewport is %d px wide, want %d", got.W, width)
	}
	if got.Scroll > got.W {
		t.Errorf("the page scrolls sideways: %d px wide in a %d px viewport", got.Scroll, got.W)
	}
	if len(got.Out) > 0 {
		t.Errorf("boxes past the %d px viewport: %s", got.W, strings.Join(got.Out, "; "))
	}
	if len(got.Labels) > 0 {
		t.Errorf("metric labels on the cards: %s", strings.Join(got.Labels, "; "))
	}
	if got.Cards == 0 {
		t.Error("no cards laid out")
	}
}

// elementImage screenshots the element that matches css, saves it beside
// the other artifacts and decodes it.
func (b *browser) elementImage(css string) image.Image {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(css)))
	if err != nil {
		b.t.Fatalf("screenshot of %s: %v", css, err)
	}
	_ = os.WriteFile(filepath.Join(artifactDir(b.t), "chart-"+b.t.Name()+".png"), buf, 0o644)
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		b.t.Fatalf("decode screenshot of %s: %v", css, err)
	}
	return img
}

type rgb struct{ r, g, b int }

// countColor counts the pixels of r within 40 per channel of c.
func countColor(img image.Image, r image.Rectangle, c rgb) int {
	n := 0
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			R, G, B, _ := img.At(x, y).RGBA()
			if abs(int(R>>8)-c.r) < 40 && abs(int(G>>8)-c.g) < 40 && abs(int(B>>8)-c.b) < 40 {
				n++
			}
		}
	}
	return n
}

func distinctColors(img image.Image) int {
	seen := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			R, G, B, _ := img.At(x, y).RGBA()
			seen[[3]uint32{R >> 12, G >> 12, B >> 12}] = true
		}
	}
	return len(seen)
}

func abs(v int) int { return max(v, -v) }

// TestDashboardQueryPatterns: the query patterns panel stays hidden
// without patterns and lists them, open ones marked, once there are.
func TestDashboardQueryPatterns(t *testing.T) {
	f := newFakeAPI(t, 3)
	b := newBrowser(t)
	b.open(f.URL)
	b.within(10*time.Second, "first render", chromedp.WaitVisible(chromedp.CSS(`#backends .card`)))
	if !eval[bool](b, `document.getElementById('patterns-panel').hidden`) {
		t.Errorf("query patterns panel shown without patterns")
	}
	f.mu.Lock()
	f.patterns = []map[string]any{{
		"pattern": "fc927418524c82ea", "fingerprint": "07681e575f3d174e", "query": "SELECT pg_sleep($1)", "circuit_state": "OPEN",
		"state_since": time.Now().UTC().Format(time.RFC3339), "open_reason": "latency_p95", "open_detail": "p95 > 1s: 3 of 3 requests slower",
		"retry_at": time.Now().Add(30 * time.Second).UTC().Format(time.RFC3339), "executions": 3, "latency_p50_ms": 1500.0,
		"latency_p95_ms": 1638.4, "latency_p99_ms": 1638.4, "error_rate": 0.0, "executions_total": 4, "slow_total": 4,
		"failures_total": 0, "rejected_total": 12, "transitions_total": 1,
		"first_seen": time.Now().UTC().Format(time.RFC3339), "last_seen": time.Now().UTC().Format(time.RFC3339),
	}}
	f.mu.Unlock()
	b.within(10*time.Second, "patterns panel", chromedp.WaitVisible(chromedp.CSS(`#patterns tr[data-state="OPEN"]`)))
	if got := b.text(`#patterns tr`); !strings.Contains(got, "SELECT pg_sleep($1)") || !strings.Contains(got, "OPEN") || !strings.Contains(got, "latency_p95") {
		t.Errorf("pattern row = %q; want the query, OPEN and the reason", got)
	}
}

// TestDashboardRoles: the Roles panel is hidden without user-level
// limits, and shows an isolated role with its state, counts and reason.
func TestDashboardRoles(t *testing.T) {
	f := newFakeAPI(t, 3)
	b := newBrowser(t)
	b.open(f.URL)
	b.within(10*time.Second, "first render", chromedp.WaitVisible(chromedp.CSS(`#backends .card`)))
	if !eval[bool](b, `document.getElementById('roles-panel').hidden`) {
		t.Errorf("roles panel shown without roles")
	}
	f.mu.Lock()
	f.users = []map[string]any{
		{"role": "batch", "database": "shop", "state": "OPEN", "rate": 12.5, "rate_limit": 100, "throttled_total": 7, "isolated_total": 31,
			"failures_total": 30, "error_rate": 0.6, "open_reason": "error_rate", "open_detail": "60% of 50 requests failed", "exempt": false},
		{"role": "app", "database": "shop", "state": "CLOSED", "rate": 250.0, "rate_limit": 1000, "throttled_total": 0, "isolated_total": 0,
			"failures_total": 0, "error_rate": 0.0, "exempt": true},
	}
	f.mu.Unlock()
	b.within(10*time.Second, "roles panel", chromedp.WaitVisible(chromedp.CSS(`#roles tr[data-state="OPEN"]`)))
	if got := b.text(`#roles tr[data-state="OPEN"]`); !strings.Contains(got, "batch") || !strings.Contains(got, "OPEN") || !strings.Contains(got, "error_rate: 60% of 50 requests failed") || !strings.Contains(got, "60.0%") {
		t.Errorf("isolated role's row = %q; want the role, OPEN, its error rate and the reason", got)
	}
	if got := b.text(`#roles tr[data-state="CLOSED"]`); !strings.Contains(got, "app") || !strings.Contains(got, "exempt") {
		t.Errorf("exempt role's row = %q; want the role and exempt", got)
	}
}
