package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/api"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/proxy"
	"github.com/heliosdb/heliosproxy/status"
	"github.com/heliosdb/heliosproxy/web"
)

// adminToken is the API's admin token in these tests.
const adminToken = "web-dashboard-test-token"

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// liveStack is a proxy in front of real PostgreSQL clusters with the real
// API (serving the dashboard) on a loopback port.
type liveStack struct {
	clusters []*pgtest.Cluster
	proxy    *proxy.Server
	cfg      config.Config
	url      string
	dsn      string // a client connection string to the proxy
	// source is what the proxy's config reload reads next.
	source atomic.Pointer[func() (config.Config, []config.Warning, error)]
}

func startLiveStack(t *testing.T, names ...string) *liveStack {
	t.Helper()
	st := &liveStack{}
	for _, n := range names {
		st.clusters = append(st.clusters, pgtest.New(t, pgtest.Options{Name: "web-" + n}))
	}
	cfg := config.Default()
	cfg.Proxy.ListenAddress = "127.0.0.1:0"
	cfg.CircuitBreaker.OpenDuration = config.Duration{Duration: time.Second}
	cfg.CircuitBreaker.RecoveryRampUpDuration = config.Duration{Duration: 2 * time.Second}
	// Frequent checks: a killed backend fails three in a row (and opens)
	// well within the page's 2 s budget.
	cfg.HealthChecks.Interval = config.Duration{Duration: 250 * time.Millisecond}
	cfg.HealthChecks.Timeout = config.Duration{Duration: 250 * time.Millisecond}
	cfg.API.AdminToken = adminToken
	for i, c := range st.clusters {
		b := config.DefaultBackend()
		b.Name = names[i]
		b.Host, b.Port = c.Host, c.Port
		cfg.Backends.Instances = append(cfg.Backends.Instances, b)
		cfg.HealthChecks.Password = c.Password
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	st.cfg = cfg
	log := testLogger()
	p, err := proxy.New(cfg, log)
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	p.SetConfigSource(func() (config.Config, []config.Warning, error) {
		if f := st.source.Load(); f != nil {
			return (*f)()
		}
		return cfg, nil, nil
	})
	ln, err := net.Listen("tcp", cfg.Proxy.ListenAddress)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxy Run: %v", err)
		}
	})
	st.proxy = p
	st.dsn = "host=127.0.0.1 port=" + fmt.Sprint(ln.Addr().(*net.TCPAddr).Port) + " user=postgres dbname=postgres sslmode=disable"

	h, err := api.New(p, log, api.Options{AdminToken: adminToken, Web: web.Handler(), ListenAddress: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	srv := httptest.NewUnstartedServer(h)
	// Event streams end with this context, so that Close does not wait
	// for a browser that is still connected.
	srvCtx, stop := context.WithCancel(context.Background())
	srv.Config.BaseContext = func(net.Listener) context.Context { return srvCtx }
	srv.Start()
	t.Cleanup(func() {
		stop()
		srv.Close()
	})
	st.url = srv.URL
	return st
}

// startLoad runs a few paced clients through the proxy until the test
// ends, so that the backends have latencies to chart. Errors (a killed
// backend) just make a client reconnect.
func (st *liveStack) startLoad(t *testing.T, clients int) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			pause := func(d time.Duration) {
				select { // pacing, not synchronisation
				case <-ctx.Done():
				case <-time.After(d):
				}
			}
			for ctx.Err() == nil {
				conn, err := pgx.Connect(ctx, st.dsn)
				if err != nil {
					pause(100 * time.Millisecond)
					continue
				}
				for n := 0; ctx.Err() == nil; n++ {
					// 1–12 ms of server time, varying by client and query.
					sleep := float64(1+(i*7+n*5)%12) / 1000
					if _, err := conn.Exec(ctx, "SELECT pg_sleep($1)", sleep); err != nil {
						break
					}
					pause(30 * time.Millisecond)
				}
				conn.Close(context.Background())
			}
		})
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

func (st *liveStack) backend(t *testing.T, name string) status.Backend {
	t.Helper()
	for _, b := range st.proxy.Snapshot().Backends {
		if b.Name == name {
			return b
		}
	}
	t.Fatalf("backend %s not in the proxy's snapshot", name)
	return status.Backend{}
}

// TestDashboardLive drives the dashboard in headless Chromium against a
// real proxy, real PostgreSQL clusters and the real API: three backend
// cards; a killed backend turns OPEN on the page within 2 s without a
// reload; forcing a backend open, clearing it and reloading the config from
// the page reach the proxy; API errors are shown.
func TestDashboardLive(t *testing.T) {
	st := startLiveStack(t, "pg-a", "pg-b", "pg-c")
	st.startLoad(t, 6)
	b := newBrowser(t)
	b.open(st.url)

	if n := eval[int](b, `document.querySelectorAll('.card[data-backend]').length`); n != 3 {
		t.Fatalf("dashboard shows %d backend cards, want 3", n)
	}
	for _, name := range []string{"pg-a", "pg-b", "pg-c"} {
		b.within(15*time.Second, name+" CLOSED on the page",
			chromedp.WaitVisible(chromedp.CSS(`[data-backend="`+name+`"][data-state="CLOSED"]`)))
	}
	b.within(10*time.Second, "event stream connected", chromedp.WaitVisible(chromedp.CSS(`#live[data-live="1"]`)))

	// A killed backend turns OPEN on the page, pushed by /events (the 2 s
	// poll alone could miss the budget), without a page reload.
	eval[bool](b, `window.__marker = 1, true`)
	if err := st.clusters[1].Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	b.within(2*time.Second, "pg-b OPEN on the page within 2 s of the kill",
		chromedp.WaitVisible(chromedp.CSS(`[data-backend="pg-b"][data-state="OPEN"]`)))
	t.Logf("kill → OPEN on the page: %v", time.Since(killed).Round(time.Millisecond))
	if !eval[bool](b, `window.__marker === 1`) {
		t.Error("the page was reloaded (window.__marker is gone)")
	}
	b.within(5*time.Second, "CircuitOpened of pg-b in the timeline",
		chromedp.WaitVisible(chromedp.CSS(`#events li[data-type="CircuitOpened"][data-backend="pg-b"]`)))
	if got := b.text(`[data-backend="pg-b"] .reason`); !strings.Contains(got, "reason:") {
		t.Errorf("pg-b card reason = %q, want the open reason", got)
	}

	// Without a token the page asks for one and sends nothing.
	b.within(10*time.Second, "force open pg-c without a token",
		chromedp.Click(chromedp.CSS(`#force-open-pg-c`)),
		chromedp.WaitVisible(chromedp.CSS(`#action-dialog[open]`)),
		chromedp.SendKeys(chromedp.CSS(`#action-reason`), "maintenance window"),
		chromedp.Click(chromedp.CSS(`#action-confirm`)),
		chromedp.WaitVisible(chromedp.CSS(`#action-error`)),
		chromedp.WaitVisible(chromedp.CSS(`#action-token`)),
	)
	if got := b.text(`#action-error`); !strings.Contains(got, "admin token") {
		t.Errorf("error without a token = %q, want a request for the admin token", got)
	}
	b.within(5*time.Second, "cancel", chromedp.Click(chromedp.CSS(`#action-cancel`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#action-dialog`)))

	// A wrong token: the API's 401 is shown.
	b.within(10*time.Second, "force open pg-c with a wrong token",
		chromedp.SendKeys(chromedp.CSS(`#token`), "wrong-token-0123456789"),
		chromedp.Click(chromedp.CSS(`#force-open-pg-c`)),
		chromedp.WaitVisible(chromedp.CSS(`#action-dialog[open]`)),
		chromedp.SendKeys(chromedp.CSS(`#action-reason`), "maintenance window"),
		chromedp.Click(chromedp.CSS(`#action-confirm`)),
		chromedp.Poll[chromedp.Void](`document.getElementById('action-error').textContent.includes('401')`),
	)
	if got := b.text(`#action-error`); !strings.Contains(got, "invalid bearer token") {
		t.Errorf("error with a wrong token = %q, want the API's 401 message", got)
	}
	b.screenshot("dashboard-live-401.png")
	b.within(5*time.Second, "cancel", chromedp.Click(chromedp.CSS(`#action-cancel`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#action-dialog`)))
	if ov := st.backend(t, "pg-c").Override; ov != status.NoState {
		t.Fatalf("override after refused requests = %q, want none", ov)
	}

	// Force pg-c open: type the token, click force open, give a reason and
	// an expiry, confirm.
	b.within(15*time.Second, "force open pg-c",
		setInput(`#token`, ""),
		chromedp.SendKeys(chromedp.CSS(`#token`), adminToken),
		chromedp.SendKeys(chromedp.CSS(`#author`), "web-test"),
		chromedp.Click(chromedp.CSS(`#force-open-pg-c`)),
		chromedp.WaitVisible(chromedp.CSS(`#action-dialog[open]`)),
		chromedp.SendKeys(chromedp.CSS(`#action-reason`), "maintenance window"),
		chromedp.SendKeys(chromedp.CSS(`#action-ttl`), "15m"),
		chromedp.Click(chromedp.CSS(`#action-confirm`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#action-dialog`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-backend="pg-c"][data-state="OPEN"][data-override="OPEN"] .override-badge`)),
	)
	got := st.backend(t, "pg-c")
	if got.Override != status.Open || got.OverrideReason != "maintenance window" || got.OverrideAuthor != "web-test" {
		t.Errorf("proxy snapshot of pg-c: override %q, reason %q, author %q; want OPEN, %q, %q",
			got.Override, got.OverrideReason, got.OverrideAuthor, "maintenance window", "web-test")
	}
	if left := time.Until(got.OverrideExpires); left < 14*time.Minute || left > 15*time.Minute {
		t.Errorf("pg-c override expires in %v, want about 15m", left)
	}
	if badge := b.text(`[data-backend="pg-c"] .override-badge`); !strings.Contains(badge, "OPEN") {
		t.Errorf("pg-c override badge = %q, want forced OPEN", badge)
	}
	b.within(5*time.Second, "OverrideSet in the timeline",
		chromedp.WaitVisible(chromedp.CSS(`#events li[data-type="OverrideSet"][data-backend="pg-c"]`)))
	if !eval[bool](b, `window.__marker === 1`) {
		t.Error("the page was reloaded (window.__marker is gone)")
	}
	// Let the latency charts gather a few samples, then keep a picture.
	time.Sleep(3 * time.Second)
	b.screenshot("dashboard-live.png")

	// Clear the override from the page.
	b.within(15*time.Second, "clear the override on pg-c",
		chromedp.Click(chromedp.CSS(`#clear-override-pg-c`)),
		chromedp.WaitVisible(chromedp.CSS(`#action-dialog[open]`)),
		chromedp.Click(chromedp.CSS(`#action-confirm`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#action-dialog`)),
		chromedp.WaitNotPresent(chromedp.CSS(`[data-backend="pg-c"][data-override]`)),
	)
	if ov := st.backend(t, "pg-c").Override; ov != status.NoState {
		t.Errorf("proxy snapshot of pg-c after clearing: override %q, want none", ov)
	}

	// Reload: an invalid file shows every problem; a valid one is applied.
	bad := func() (config.Config, []config.Warning, error) {
		return config.Config{}, nil, errors.Join(
			errors.New("heliosproxy.toml:3: circuit_breaker.open_duration: must be positive, got 0s"),
			errors.New("heliosproxy.toml:9: backends.instances[1].port: must be 1-65535, got 0"))
	}
	st.source.Store(&bad)
	b.within(15*time.Second, "reload an invalid config",
		chromedp.Click(chromedp.CSS(`#reload-config`)),
		chromedp.WaitVisible(chromedp.CSS(`#action-dialog[open]`)),
		chromedp.Click(chromedp.CSS(`#action-confirm`)),
		chromedp.Poll[chromedp.Void](`document.getElementById('action-error').textContent.includes('400')`),
	)
	if got := b.text(`#action-error`); !strings.Contains(got, "open_duration") || !strings.Contains(got, "instances[1].port") {
		t.Errorf("reload error on the page = %q, want both problems", got)
	}
	good := func() (config.Config, []config.Warning, error) {
		next := st.cfg
		next.CircuitBreaker.LatencyThresholdP95Ms = 400
		return next, nil, nil
	}
	st.source.Store(&good)
	b.within(15*time.Second, "reload a valid config",
		chromedp.Click(chromedp.CSS(`#action-confirm`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#action-dialog`)),
		chromedp.WaitVisible(chromedp.CSS(`#notice`)),
	)
	if got := b.text(`#notice`); !strings.Contains(got, "circuit_breaker") {
		t.Errorf("reload notice = %q, want the changed setting", got)
	}
	if !eval[bool](b, `window.__marker === 1`) {
		t.Error("the page was reloaded (window.__marker is gone)")
	}
}

// TestDashboardHundredBackends checks that the page stays usable with 100
// backends: every card renders, the filter works, a live change reaches
// the right card at once, and API errors are shown. The API is a scripted
// fake (no proxy needed for page behaviour at scale).
func TestDashboardHundredBackends(t *testing.T) {
	const n = 100
	f := newFakeAPI(t, n)
	b := newBrowser(t)
	b.open(f.URL)

	if got := eval[int](b, `document.querySelectorAll('.card[data-backend]').length`); got != n {
		t.Fatalf("dashboard shows %d backend cards, want %d", got, n)
	}
	if got := b.text(`.summary`); !strings.Contains(got, fmt.Sprint(n)+" backends") {
		t.Errorf("summary = %q, want %d backends", got, n)
	}
	// A full refresh (fetch + render of 100 cards + 100 charts) completes;
	// its duration is logged, not asserted.
	took := eval[float64](b, `(async () => { const t = performance.now(); await window.heliosDashboard.refresh(); return performance.now() - t; })()`,
		chromedp.EvalAwaitPromise)
	stats := eval[map[string]float64](b, `window.heliosDashboard.stats()`)
	t.Logf("100 backends: refresh %.1f ms, last render %.1f ms, %v renders", took, stats["lastRenderMs"], stats["renders"])

	// The filter narrows to one card, then back to all.
	b.within(5*time.Second, "filter", chromedp.SendKeys(chromedp.CSS(`#filter`), "backend-042"))
	if got := eval[int](b, `document.querySelectorAll('.card:not([hidden])').length`); got != 1 {
		t.Errorf("%d cards visible for filter backend-042, want 1", got)
	}
	if got := b.text(`.card:not([hidden]) .name`); got != "backend-042" {
		t.Errorf("visible card %q, want backend-042", got)
	}
	b.within(5*time.Second, "clear the filter", setInput(`#filter`, ""))
	if got := eval[int](b, `document.querySelectorAll('.card:not([hidden])').length`); got != n {
		t.Errorf("%d cards visible with an empty filter, want %d", got, n)
	}

	// A transition pushed on /events reaches its card without a reload.
	b.within(10*time.Second, "event stream connected", chromedp.WaitVisible(chromedp.CSS(`#live[data-live="1"]`)))
	for f.subscribers() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	eval[bool](b, `window.__marker = 1, true`)
	f.transition("backend-077", "OPEN", "hard_failure")
	b.within(2*time.Second, "backend-077 OPEN on the page",
		chromedp.WaitVisible(chromedp.CSS(`[data-backend="backend-077"][data-state="OPEN"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#events li[data-type="CircuitOpened"][data-backend="backend-077"]`)),
	)
	if !eval[bool](b, `window.__marker === 1`) {
		t.Error("the page was reloaded (window.__marker is gone)")
	}
	if got := eval[int](b, `document.querySelectorAll('.card[data-backend]').length`); got != n {
		t.Errorf("%d cards after the update, want %d (no duplicates)", got, n)
	}
	// After the stream drops and reconnects, the page reloads the history
	// and shows each event once.
	f.dropStreams()
	f.transition("backend-078", "HALF_OPEN", "probe")
	b.within(10*time.Second, "backend-078 HALF_OPEN after the stream reconnects",
		chromedp.WaitVisible(chromedp.CSS(`[data-backend="backend-078"][data-state="HALF_OPEN"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#events li[data-type="CircuitHalfOpened"][data-backend="backend-078"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#live[data-live="1"]`)),
	)
	if got := eval[[]string](b, `[...document.querySelectorAll('#events li')].map(li => li.dataset.backend)`); !slices.Equal(got, []string{"backend-078", "backend-077"}) {
		t.Errorf("timeline after a reconnect shows events of %v, want [backend-078 backend-077] (newest first, once each)", got)
	}
	// The state filter finds it.
	b.within(5*time.Second, "state filter", chromedp.SetValue(chromedp.CSS(`#state-filter`), "OPEN"))
	eval[bool](b, `document.getElementById('state-filter').dispatchEvent(new Event('change')), true`)
	if got := eval[[]string](b, `[...document.querySelectorAll('.card:not([hidden])')].map(c => c.dataset.backend)`); len(got) != 1 || got[0] != "backend-077" {
		t.Errorf("cards shown for state OPEN: %v, want [backend-077]", got)
	}
	eval[bool](b, `(() => { const s = document.getElementById('state-filter'); s.value = ''; s.dispatchEvent(new Event('change')); return true; })()`)

	// API errors reach the operator: a 400 with its details, then success.
	b.within(10*time.Second, "force open with an expiry the API rejects",
		chromedp.SendKeys(chromedp.CSS(`#token`), f.token),
		chromedp.Click(chromedp.CSS(`#force-open-backend-005`)),
		chromedp.WaitVisible(chromedp.CSS(`#action-dialog[open]`)),
		chromedp.SendKeys(chromedp.CSS(`#action-reason`), "disk replacement"),
		chromedp.SendKeys(chromedp.CSS(`#action-ttl`), "48h"),
		chromedp.Click(chromedp.CSS(`#action-confirm`)),
		chromedp.Poll[chromedp.Void](`document.getElementById('action-error').textContent.includes('400')`),
	)
	if got := b.text(`#action-error`); !strings.Contains(got, "at most 24h") || !strings.Contains(got, "scripted second problem") {
		t.Errorf("error shown = %q, want the API's message and every detail", got)
	}
	b.within(10*time.Second, "force open with a valid expiry",
		setInput(`#action-ttl`, ""),
		chromedp.SendKeys(chromedp.CSS(`#action-ttl`), "15m"),
		chromedp.Click(chromedp.CSS(`#action-confirm`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#action-dialog`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-backend="backend-005"][data-override="OPEN"] .override-badge`)),
	)
	reqs := f.mutations()
	last := reqs[len(reqs)-1]
	if last.Method != "PUT" || last.Path != "/circuit-breaker/backends/backend-005/override" ||
		last.Authorization != "Bearer "+f.token || last.Body["state"] != "OPEN" ||
		last.Body["reason"] != "disk replacement" || last.Body["ttl"] != "15m" {
		t.Errorf("last request = %+v, want PUT of backend-005's override with the token, state OPEN, reason and ttl", last)
	}
	// A failing status endpoint is reported, and the report goes away when
	// it recovers.
	f.statusDown.Store(true)
	b.within(5*time.Second, "status error shown",
		chromedp.WaitVisible(chromedp.CSS(`#error`)),
		chromedp.Poll[chromedp.Void](`document.getElementById('error').textContent.includes('scripted outage')`),
	)
	f.statusDown.Store(false)
	b.within(5*time.Second, "status error cleared", chromedp.WaitNotVisible(chromedp.CSS(`#error`)))

	if got := eval[int](b, `document.cookie.length`); got != 0 {
		t.Errorf("the page set cookies: %d bytes", got)
	}
	b.screenshot("dashboard-100.png")
}
