package alerts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// immediate alerts at once: no cascade hold, no flap damping.
func immediate() Config {
	c := on()
	c.Cluster = "prod-eu"
	c.CascadeDelay, c.FlapWindow = -1, -1
	return c
}

func TestOpenPagesAndCloseResolves(t *testing.T) {
	slackR, pdR := newReceiver("slack"), newReceiver("pagerduty")
	cfg := immediate()
	cfg.DashboardURL = "http://dashboard.example:8080/"
	d := New(cfg, discardLogger(), netChannels(t, slackR, pdR)...)
	events := make(chan status.Event)
	stop := start(t, d, events)

	open := evOpen("primary-1")
	open.ID, open.Time = 7, t0
	events <- open

	trig := pdR.next(t)
	const key = "heliosproxy/prod-eu/primary-1"
	for _, c := range []struct {
		path []string
		want any
	}{
		{[]string{"routing_key"}, pdSecret},
		{[]string{"event_action"}, "trigger"},
		{[]string{"dedup_key"}, key},
		{[]string{"client_url"}, "http://dashboard.example:8080/"},
		{[]string{"payload", "severity"}, "error"},
		{[]string{"payload", "source"}, "prod-eu"},
		{[]string{"payload", "component"}, "primary-1"},
		{[]string{"payload", "timestamp"}, "2026-11-22T12:00:00Z"},
		{[]string{"payload", "custom_details", "backend"}, "primary-1"},
		{[]string{"payload", "custom_details", "transition"}, "CLOSED -> OPEN"},
		{[]string{"payload", "custom_details", "reason"}, "hard_failure"},
		{[]string{"payload", "custom_details", "detail"}, "3 consecutive connection failures"},
		{[]string{"payload", "custom_details", "latency_p95_ms"}, 612.0},
		{[]string{"payload", "custom_details", "latency_p99_ms"}, 2100.0},
		{[]string{"payload", "custom_details", "error_rate"}, 0.07},
		{[]string{"payload", "custom_details", "connection_saturation"}, 0.42},
		{[]string{"payload", "custom_details", "time_in_previous_state"}, "10m0s"},
		{[]string{"payload", "custom_details", "event_id"}, 7.0},
	} {
		if got := field(trig.Body, c.path...); got != c.want {
			t.Errorf("PagerDuty trigger %s = %v, want %v", strings.Join(c.path, "."), got, c.want)
		}
	}
	if trig.Path != "/v2/enqueue" {
		t.Errorf("PagerDuty path = %q, want /v2/enqueue", trig.Path)
	}
	if s, _ := field(trig.Body, "payload", "summary").(string); !strings.Contains(s, "primary-1") || !strings.Contains(s, "hard_failure") {
		t.Errorf("PagerDuty summary = %q, want the backend and the reason", s)
	}

	msg := slackR.next(t)
	if got := field(msg.Body, "text"); got != "[prod-eu] 🔴 Circuit OPEN: primary-1: hard_failure (3 consecutive connection failures)" {
		t.Errorf("Slack text = %q", got)
	}
	flat := fmt.Sprint(msg.Body) // decoded: JSON escapes < and >
	for _, want := range []string{"type:header", "primary-1", "CLOSED → OPEN", "hard_failure", "3 consecutive connection failures",
		"612 ms", "2100 ms", "7.0%", "42.0%", "Time in previous state", "10m0s", "<http://dashboard.example:8080/|Open dashboard>", key} {
		if !strings.Contains(flat, want) {
			t.Errorf("Slack message lacks %q: %s", want, flat)
		}
	}

	events <- evHalfOpen("primary-1")
	events <- evClose("primary-1")
	res := pdR.next(t)
	if field(res.Body, "event_action") != "resolve" || field(res.Body, "dedup_key") != key || field(res.Body, "payload") != nil {
		t.Errorf("PagerDuty after close = %s, want a resolve of %s without payload", res.Raw, key)
	}
	rec := slackR.next(t)
	if got, _ := field(rec.Body, "text").(string); !strings.Contains(got, "Circuit CLOSED: primary-1 recovered") {
		t.Errorf("Slack after close = %q, want a recovery message", got)
	}
	if !strings.Contains(rec.Raw, "35s") {
		t.Errorf("Slack recovery message lacks the time open (35s): %s", rec.Raw)
	}

	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if n := len(slackR.drain()) + len(pdR.drain()); n != 0 {
		t.Errorf("%d more requests after close, want 0 (half-open alerts nobody)", n)
	}
	for _, c := range d.Stats().Channels {
		if c.Sent != 2 || c.Failed+c.Dropped+c.Retries != 0 {
			t.Errorf("Stats %s = %+v, want 2 sent and nothing else", c.Channel, c)
		}
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	fail := reply{status: http.StatusInternalServerError}
	slackR, pdR := newReceiver("slack", fail, fail), newReceiver("pagerduty", fail, fail)
	cfg := immediate()
	cfg.BackoffBase, cfg.BackoffMax = time.Millisecond, 2*time.Millisecond
	d := New(cfg, discardLogger(), netChannels(t, slackR, pdR)...)
	stop := start(t, d, nil)
	d.Handle(evOpen("a")) // through Handle this time

	for _, r := range []*receiver{slackR, pdR} {
		first := r.next(t)
		for i := 2; i <= 3; i++ {
			if q := r.next(t); q.Raw != first.Raw {
				t.Errorf("%s attempt %d body differs from the first", r.kind, i)
			}
		}
	}
	stop()
	for _, c := range d.Stats().Channels {
		if c.Sent != 1 || c.Retries != 2 || c.Failed != 0 {
			t.Errorf("Stats %s = %+v, want 1 sent after 2 retries", c.Channel, c)
		}
	}
}

// TestBackoffAndOrder checks, in virtual time, the waits between attempts
// and that a resolve waits for its trigger to be delivered.
func TestBackoffAndOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fail := reply{status: http.StatusBadGateway}
		slackR, pdR := newReceiver("slack"), newReceiver("pagerduty", fail, fail)
		d := New(immediate(), discardLogger(), memChannels(slackR, pdR)...)
		events := make(chan status.Event)
		start(t, d, events)
		begin := time.Now()
		events <- evOpen("a")
		events <- evClose("a")
		time.Sleep(time.Minute)
		synctest.Wait()

		reqs := pdR.drain()
		var got []string
		for _, q := range reqs {
			got = append(got, fmt.Sprint(field(q.Body, "event_action")))
		}
		if want := []string{"trigger", "trigger", "trigger", "resolve"}; !slices.Equal(got, want) {
			t.Fatalf("PagerDuty requests = %v, want %v", got, want)
		}
		gap := func(i int) time.Duration { return reqs[i].At.Sub(reqs[i-1].At) }
		if reqs[0].At.Sub(begin) != 0 {
			t.Errorf("first attempt at +%v, want +0", reqs[0].At.Sub(begin))
		}
		if g := gap(1); g < 500*time.Millisecond || g >= time.Second {
			t.Errorf("wait before attempt 2 = %v, want in [0.5s, 1s)", g)
		}
		if g := gap(2); g < time.Second || g >= 2*time.Second {
			t.Errorf("wait before attempt 3 = %v, want in [1s, 2s)", g)
		}
		if g := gap(3); g != 0 {
			t.Errorf("resolve came %v after the delivered trigger, want at once", g)
		}
		if n := len(slackR.drain()); n != 2 {
			t.Errorf("Slack got %d messages, want 2 (its delays are not PagerDuty's)", n)
		}
	})
}

func TestRetryAfterIsHonoured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slackR := newReceiver("slack", reply{status: http.StatusTooManyRequests, retryAfter: "7"})
		pdR := newReceiver("pagerduty", reply{status: http.StatusTooManyRequests, retryAfter: "30"})
		d := New(immediate(), discardLogger(), memChannels(slackR, pdR)...)
		start(t, d, nil)
		begin := time.Now()
		d.Handle(evOpen("a"))
		time.Sleep(time.Hour)
		synctest.Wait()
		for _, c := range []struct {
			r    *receiver
			wait time.Duration
		}{{slackR, 7 * time.Second}, {pdR, 30 * time.Second}} {
			reqs := c.r.drain()
			if len(reqs) != 2 {
				t.Fatalf("%s got %d requests, want 2", c.r.kind, len(reqs))
			}
			if got := reqs[1].At.Sub(begin); got != c.wait {
				t.Errorf("%s retried at +%v, want exactly +%v (Retry-After)", c.r.kind, got, c.wait)
			}
		}
		for _, c := range d.Stats().Channels {
			if c.Sent != 1 || c.Retries != 1 {
				t.Errorf("Stats %s = %+v, want 1 sent after 1 retry", c.Channel, c)
			}
		}
	})
}

func TestGivingUp(t *testing.T) {
	// A page is retried for IncidentRetryFor (10m here): with backoff
	// capped at 1m, attempts at about 0, 1, 3, 7, 15, 31, 63, 123, 183,
	// … 543, 603 s, give or take the jitter.
	tests := []struct {
		name         string
		fallback     reply
		ev           status.Event
		min, max     int // attempts on each channel that wants the alert
		pagerDutyToo bool
	}{
		{"server errors until MaxAttempts (information)", reply{status: http.StatusServiceUnavailable}, evOverride("a", status.Open), 3, 3, false},
		{"429 without Retry-After until MaxAttempts (information)", reply{status: http.StatusTooManyRequests}, evOverride("a", status.Open), 3, 3, false},
		{"server errors until IncidentRetryFor (a page)", reply{status: http.StatusServiceUnavailable}, evOpen("a"), 12, 30, true},
		{"a 400 is permanent", reply{status: http.StatusBadRequest}, evOpen("a"), 1, 1, true},
		{"a 404 is permanent", reply{status: http.StatusNotFound}, evOpen("a"), 1, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				slackR, pdR := newReceiver("slack"), newReceiver("pagerduty")
				slackR.fallback, pdR.fallback = tt.fallback, tt.fallback
				log, logs := bufferLogger()
				cfg := immediate()
				cfg.MaxAttempts = 3
				cfg.IncidentRetryFor = 10 * time.Minute
				d := New(cfg, log, memChannels(slackR, pdR)...)
				start(t, d, nil)
				d.Handle(tt.ev)
				time.Sleep(time.Hour)
				synctest.Wait()
				rs := []*receiver{slackR}
				if tt.pagerDutyToo {
					rs = append(rs, pdR)
				}
				for _, r := range rs {
					if n := len(r.drain()); n < tt.min || n > tt.max {
						t.Errorf("%s got %d attempts, want %d to %d", r.kind, n, tt.min, tt.max)
					}
				}
				if n := len(pdR.drain()); !tt.pagerDutyToo && n != 0 {
					t.Errorf("pagerduty got %d requests for information, want none", n)
				}
				for _, c := range d.Stats().Channels {
					if c.Channel == "slack" && (c.Failed != 1 || c.Sent != 0) || c.Channel == "pagerduty" && tt.pagerDutyToo && (c.Failed != 1 || c.Sent != 0) {
						t.Errorf("Stats %s = %+v, want 1 failed", c.Channel, c)
					}
				}
				want := 1
				if tt.pagerDutyToo {
					want = 2
				}
				if n := strings.Count(logs.String(), `msg="giving up on alert"`); n != want {
					t.Errorf("%d give-up log lines, want %d:\n%s", n, want, logs)
				}
			})
		})
	}
}

// TestPageSurvivesReceiverOutage: PagerDuty and Slack answer 503 for five
// minutes, then recover; the page and its message still arrive, once
// each. Before, an alert was given up after MaxAttempts (8, about a minute
// and a half of backoff), so a circuit that opened during a few minutes'
// outage of PagerDuty paged nobody, ever.
func TestPageSurvivesReceiverOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		outage := reply{status: http.StatusServiceUnavailable}
		slackR, pdR := newReceiver("slack"), newReceiver("pagerduty")
		slackR.fallback, pdR.fallback = outage, outage
		d := New(immediate(), discardLogger(), memChannels(slackR, pdR)...)
		start(t, d, nil)
		d.Handle(evOpen("a"))
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		for _, r := range []*receiver{slackR, pdR} {
			r.mu.Lock()
			r.fallback = reply{}
			r.mu.Unlock()
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		for _, c := range d.Stats().Channels {
			if c.Sent != 1 || c.Failed != 0 {
				t.Errorf("Stats %s = %+v, want the page sent after the outage", c.Channel, c)
			}
		}
		reqs := pdR.drain()
		if last := reqs[len(reqs)-1]; field(last.Body, "event_action") != "trigger" {
			t.Errorf("PagerDuty's last request = %s, want the trigger", last.Raw)
		}
	})
}

// TestHangingReceiver shows that a receiver that never answers delays
// only its own channel: the event consumer keeps taking events (the test
// sends on an unbuffered channel), the other channel delivers each alert
// in order, and the stuck channel's queue overflows into drops.
func TestHangingReceiver(t *testing.T) {
	slackR, pdR := newReceiver("slack", reply{hang: true}), newReceiver("pagerduty")
	cfg := immediate()
	cfg.AlertOnMultipleCircuitsOpen = false
	cfg.QueueSize = 4
	cfg.SendTimeout = time.Hour // the hang lasts until released
	d := New(cfg, discardLogger(), netChannels(t, slackR, pdR)...)
	events := make(chan status.Event) // unbuffered: a send returns once Run took it
	stop := start(t, d, events)

	var alerts int
	for i := range 7 {
		b := fmt.Sprintf("b%d", i)
		for _, ev := range []status.Event{evOpen(b), evClose(b)} {
			events <- ev
			alerts++
			q := pdR.next(t)
			want := map[status.EventType]string{status.CircuitOpened: "trigger", status.CircuitClosed: "resolve"}[ev.Type]
			if field(q.Body, "event_action") != want || field(q.Body, "dedup_key") != "heliosproxy/prod-eu/"+b {
				t.Fatalf("PagerDuty request %d = %s %s, want %s %s", alerts, field(q.Body, "event_action"), field(q.Body, "dedup_key"), want, b)
			}
			if alerts == 1 {
				slackR.next(t) // now hanging with the first alert
			}
		}
	}
	events <- evHalfOpen("b0") // alerts nobody; once taken, every earlier event has been handled
	s := d.Stats().Channels[0]
	if s.Channel != "slack" || s.Queued != cfg.QueueSize || s.Dropped != uint64(alerts-1-cfg.QueueSize) || s.Sent != 0 {
		t.Errorf("Stats slack = %+v, want %d queued, %d dropped, 0 sent", s, cfg.QueueSize, alerts-1-cfg.QueueSize)
	}

	slackR.stop() // the receiver answers at last
	for range cfg.QueueSize {
		slackR.next(t)
	}
	stop()
	s = d.Stats().Channels[0]
	if s.Sent != uint64(1+cfg.QueueSize) {
		t.Errorf("Stats slack = %+v, want %d sent", s, 1+cfg.QueueSize)
	}
}

func TestHandleNeverBlocks(t *testing.T) {
	d := New(Config{QueueSize: 3}, discardLogger())
	for range 5 {
		d.Handle(evOpen("a")) // Run is not running: nobody reads
	}
	if s := d.Stats(); s.EventsQueued != 3 || s.EventsDropped != 2 {
		t.Errorf("Stats = %+v, want 3 queued, 2 dropped", s)
	}
}

func TestFlappingPagesOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slackR, pdR := newReceiver("slack"), newReceiver("pagerduty")
		cfg := on()
		cfg.Cluster = "c"
		cfg.FlapWindow = time.Minute
		d := New(cfg, discardLogger(), memChannels(slackR, pdR)...)
		start(t, d, nil)
		for range 5 {
			d.Handle(evOpen("a"))
			time.Sleep(10 * time.Second)
			d.Handle(evHalfOpen("a"))
			d.Handle(evClose("a"))
			time.Sleep(10 * time.Second)
		}
		synctest.Wait()
		if reqs := pdR.drain(); len(reqs) != 1 || field(reqs[0].Body, "event_action") != "trigger" {
			t.Fatalf("PagerDuty during flapping: %d requests, want one trigger", len(reqs))
		}
		if n := len(slackR.drain()); n != 1 {
			t.Errorf("Slack during flapping: %d messages, want 1", n)
		}

		time.Sleep(time.Minute) // stays closed for the whole window
		synctest.Wait()
		reqs := pdR.drain()
		if len(reqs) != 1 || field(reqs[0].Body, "event_action") != "resolve" || field(reqs[0].Body, "dedup_key") != "heliosproxy/c/a" {
			t.Fatalf("PagerDuty after the window: %d requests, want the resolve of heliosproxy/c/a", len(reqs))
		}
		msgs := slackR.drain()
		if len(msgs) != 1 || !strings.Contains(msgs[0].Raw, "Reopened (flapping)") || !strings.Contains(msgs[0].Raw, "4 times") {
			t.Errorf("Slack after the window: %d messages, want one recovery counting 4 reopenings", len(msgs))
		}
	})
}

func TestCascadeIsOneCriticalPage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slackR, pdR := newReceiver("slack"), newReceiver("pagerduty")
		cfg := on()
		cfg.Cluster = "c"
		d := New(cfg, discardLogger(), memChannels(slackR, pdR)...)
		events := make(chan status.Event, 10)
		start(t, d, events)
		// As the proxy publishes it: a opens, b opens a second later and
		// completes the cascade.
		events <- evOpen("a")
		time.Sleep(time.Second)
		b := evOpen("b")
		b.Reason, b.Detail = "error_rate", "error rate 40% over 10s"
		events <- b
		events <- evCascade("a", "b")
		time.Sleep(time.Minute)
		synctest.Wait()

		reqs := pdR.drain()
		if len(reqs) != 1 {
			t.Fatalf("PagerDuty got %d requests, want one cascade page", len(reqs))
		}
		p := reqs[0].Body
		if field(p, "event_action") != "trigger" || field(p, "dedup_key") != "heliosproxy/c/cascade" || field(p, "payload", "severity") != "critical" {
			t.Errorf("PagerDuty page = %s, want a critical trigger of heliosproxy/c/cascade", reqs[0].Raw)
		}
		if got := fmt.Sprint(field(p, "payload", "custom_details", "backends")); got != "[a b]" {
			t.Errorf("cascade backends = %s, want [a b]", got)
		}
		if ms, _ := field(p, "payload", "custom_details", "members").([]any); len(ms) != 2 {
			t.Errorf("cascade members = %v, want the openings of a and b", ms)
		}
		msgs := slackR.drain()
		if len(msgs) != 1 || !strings.Contains(msgs[0].Raw, "2 circuits OPEN (a, b)") || !strings.Contains(msgs[0].Raw, "error rate 40% over 10s") {
			t.Fatalf("Slack got %d messages, want one listing a and b with their reasons", len(msgs))
		}

		events <- evClose("a")
		events <- evClose("b")
		time.Sleep(time.Hour)
		synctest.Wait()
		reqs = pdR.drain()
		if len(reqs) != 1 || field(reqs[0].Body, "event_action") != "resolve" || field(reqs[0].Body, "dedup_key") != "heliosproxy/c/cascade" {
			t.Errorf("PagerDuty after recovery: %d requests, want the resolve of the cascade", len(reqs))
		}
		if n := len(slackR.drain()); n != 3 {
			t.Errorf("Slack after recovery: %d messages, want 3 (a closed, b closed, cascade over)", n)
		}
	})
}

func TestShutdownGrace(t *testing.T) {
	t.Run("stuck deliveries end with the grace period", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			slackR := newReceiver("slack")
			slackR.fallback = reply{hang: true}
			pdR := newReceiver("pagerduty")
			cfg := on()
			cfg.AlertOnMultipleCircuitsOpen = false
			cfg.ShutdownGrace = 5 * time.Second
			cfg.SendTimeout = time.Hour
			log, logs := bufferLogger()
			d := New(cfg, log, memChannels(slackR, pdR)...)
			events := make(chan status.Event, 10)
			stop := start(t, d, events)
			events <- evOpen("a")
			events <- evOpen("b")
			events <- evClose("a") // resolve held for FlapWindow; shutdown sends it
			synctest.Wait()

			begin := time.Now()
			stop()
			if got := time.Since(begin); got != cfg.ShutdownGrace {
				t.Errorf("Run returned after %v, want the grace period %v", got, cfg.ShutdownGrace)
			}
			var got []string
			for _, q := range pdR.drain() {
				got = append(got, fmt.Sprint(field(q.Body, "event_action"), " ", field(q.Body, "dedup_key")))
			}
			want := []string{"trigger heliosproxy/" + d.cfg.Cluster + "/a", "trigger heliosproxy/" + d.cfg.Cluster + "/b", "resolve heliosproxy/" + d.cfg.Cluster + "/a"}
			if !slices.Equal(got, want) {
				t.Errorf("PagerDuty got %q, want %q", got, want)
			}
			if s := d.Stats().Channels[0]; s.Dropped != 3 || s.Sent != 0 {
				t.Errorf("Stats slack = %+v, want 3 dropped", s)
			}
			if !strings.Contains(logs.String(), "shutdown grace period over") {
				t.Errorf("no log line about undelivered alerts:\n%s", logs)
			}
		})
	})
	t.Run("nothing pending returns at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			d := New(on(), discardLogger(), memChannels(newReceiver("slack"), newReceiver("pagerduty"))...)
			stop := start(t, d, nil)
			d.Handle(evOpen("a"))
			synctest.Wait()
			begin := time.Now()
			stop()
			if got := time.Since(begin); got != 0 {
				t.Errorf("Run returned after %v, want at once", got)
			}
			for _, c := range d.Stats().Channels {
				if c.Sent != 1 {
					t.Errorf("Stats %s = %+v, want the held opening paged at shutdown", c.Channel, c)
				}
			}
		})
	})
}

func TestRunTwice(t *testing.T) {
	d := New(Config{}, discardLogger())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Run(ctx, nil); err != nil {
		t.Fatalf("first Run = %v", err)
	}
	if err := d.Run(ctx, nil); err == nil {
		t.Errorf("second Run = nil, want an error")
	}
}

func TestTestNotification(t *testing.T) {
	slackR := newReceiver("slack", reply{status: http.StatusInternalServerError})
	pdR := newReceiver("pagerduty")
	cfg := on()
	cfg.Cluster = "c"
	d := New(cfg, discardLogger(), netChannels(t, slackR, pdR)...)
	res := d.Test(context.Background())
	if len(res) != 2 || res[0].Channel != "slack" || res[1].Channel != "pagerduty" {
		t.Fatalf("Test = %+v, want slack then pagerduty", res)
	}
	if res[0].OK || !strings.Contains(res[0].Error, "HTTP 500") {
		t.Errorf("slack result = %+v, want a failure with HTTP 500", res[0])
	}
	if !res[1].OK || res[1].Error != "" {
		t.Errorf("pagerduty result = %+v, want OK", res[1])
	}
	trig, res2 := pdR.next(t), pdR.next(t)
	if field(trig.Body, "event_action") != "trigger" || field(trig.Body, "payload", "severity") != "info" ||
		field(res2.Body, "event_action") != "resolve" || field(res2.Body, "dedup_key") != "heliosproxy/c/test" {
		t.Errorf("PagerDuty test = %s then %s, want an info trigger and its resolve", trig.Raw, res2.Raw)
	}
	if !strings.Contains(slackR.next(t).Raw, "test notification") {
		t.Errorf("Slack test message is not a test notification")
	}
}

// TestNoSecretInLogsOrErrors drives every failure path with secret
// webhook URLs and routing keys and looks for them in all the text
// produced.
func TestNoSecretInLogsOrErrors(t *testing.T) {
	log, logs := bufferLogger()
	var texts []string
	cases := []struct {
		name  string
		reply reply
		url   func(r *receiver) string // base URL
	}{
		{"HTTP 404", reply{status: http.StatusNotFound}, nil},
		{"HTTP 400", reply{status: http.StatusBadRequest}, nil},
		{"HTTP 500", reply{status: http.StatusInternalServerError}, nil},
		{"HTTP 429 without Retry-After", reply{status: http.StatusTooManyRequests}, nil},
		{"HTTP 429 with a bad Retry-After", reply{status: http.StatusTooManyRequests, retryAfter: "later"}, nil},
		{"timeout", reply{hang: true}, nil},
		{"connection refused", reply{}, func(*receiver) string {
			s := httptest.NewServer(http.NotFoundHandler())
			s.Close()
			return s.URL
		}},
		{"malformed URL", reply{}, func(*receiver) string { return "http://[::1" }},
	}
	for _, c := range cases {
		slackR, pdR := newReceiver("slack"), newReceiver("pagerduty")
		slackR.fallback, pdR.fallback = c.reply, c.reply
		slackURL, pdURL := serve(t, slackR), serve(t, pdR)
		if c.url != nil {
			slackURL, pdURL = c.url(slackR), c.url(pdR)
		}
		cfg := immediate()
		cfg.SlackWebhookURL = slackURL + "/services/T0/B0/" + slackSecret
		cfg.PagerDutyRoutingKey = pdSecret
		cfg.PagerDutyEventsURL = pdURL
		cfg.SendTimeout = 200 * time.Millisecond
		cfg.MaxAttempts = 2
		cfg.IncidentRetryFor = time.Millisecond // pages too are given up after MaxAttempts
		cfg.BackoffBase = time.Millisecond
		d := New(cfg, log.With("case", c.name), cfg.Channels()...)
		texts = append(texts, fmt.Sprint(cfg), fmt.Sprintf("%v %+v", d.cfg, cfg.Channels()))

		for _, r := range d.Test(context.Background()) {
			if r.OK {
				t.Errorf("%s: Test on %s succeeded, want a failure", c.name, r.Channel)
			}
			texts = append(texts, r.Error)
		}
		for _, ch := range cfg.Channels() {
			err := ch.Send(context.Background(), Alert{Kind: KindOpened, Action: ActionTrigger, DedupKey: "k", Backend: "a"})
			var de *DeliveryError
			if !errors.As(err, &de) {
				t.Errorf("%s: %s.Send = %v, want a *DeliveryError", c.name, ch.Name(), err)
				continue
			}
			texts = append(texts, err.Error(), fmt.Sprintf("%+v %#v", err, err))
			if c.name == "timeout" && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: %s.Send = %v, want it to wrap context.DeadlineExceeded", c.name, ch.Name(), err)
			}
		}
		stop := start(t, d, nil)
		d.Handle(evOpen("a"))
		d.Handle(evClose("a"))
		stop()
		slackR.stop()
		pdR.stop()
	}
	texts = append(texts, logs.String())
	all := strings.Join(texts, "\n")
	for _, secret := range []string{slackSecret, pdSecret} {
		if strings.Contains(all, secret) {
			for _, line := range strings.Split(all, "\n") {
				if strings.Contains(line, secret) {
					t.Errorf("secret %q appears in: %s", secret, line)
				}
			}
		}
	}
	// The failures were real and are described.
	for _, want := range []string{"HTTP 404", "HTTP 400", "HTTP 500", "HTTP 429", "connection refused", "deadline exceeded", "giving up on alert"} {
		if !strings.Contains(all, want) {
			t.Errorf("no text mentions %q", want)
		}
	}
}

// TestConfigLogHidesURLPasswords: the alerts' configuration as logged at
// start-up and printed hides a URL's password.
func TestConfigLogHidesURLPasswords(t *testing.T) {
	c := Config{PagerDutyEventsURL: "https://pd:pd-url-secret@pd.example.com", DashboardURL: "https://ops:dash-url-secret@dash.example.com/"}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("alerts running", "config", c)
	for _, s := range []string{buf.String(), c.String(), fmt.Sprintf("%#v", c)} {
		if strings.Contains(s, "url-secret") {
			t.Errorf("a URL's password shows: %s", s)
		}
	}
}
