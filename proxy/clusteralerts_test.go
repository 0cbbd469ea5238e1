package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/alerts"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// hookRecorder stands in for Slack's webhook and PagerDuty's Events API:
// it records each request's JSON body and answers as they do.
type hookRecorder struct {
	mu     sync.Mutex
	slack  []map[string]any
	pd     []map[string]any
	server *httptest.Server
}

func newHookRecorder(t *testing.T) *hookRecorder {
	r := &hookRecorder{}
	r.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body map[string]any
		raw, _ := io.ReadAll(req.Body)
		_ = json.Unmarshal(raw, &body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if req.URL.Path == "/v2/enqueue" {
			r.pd = append(r.pd, body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprintf(w, `{"status":"success","message":"Event processed","dedup_key":%q}`, body["dedup_key"])
			return
		}
		r.slack = append(r.slack, body)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(r.server.Close)
	return r
}

// pagerDuty returns the event actions and dedup keys received, in order.
func (r *hookRecorder) pagerDuty() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, b := range r.pd {
		out = append(out, fmt.Sprint(b["event_action"], " ", b["dedup_key"]))
	}
	return out
}

func (r *hookRecorder) slackTexts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, b := range r.slack {
		out = append(out, fmt.Sprint(b["text"]))
	}
	return out
}

// alertsDone is how many alerts the dispatchers have sent or left to a
// peer on PagerDuty between them.
func alertsDone(ds map[string]*alerts.Dispatcher) uint64 {
	var n uint64
	for _, d := range ds {
		for _, c := range d.Stats().Channels {
			if c.Channel == "pagerduty" {
				n += c.Sent + c.ByPeer
			}
		}
	}
	return n
}

// TestClusterAlertsOnce: three instances on 127.0.0.1-3, each with its
// alert dispatcher on the same Slack and PagerDuty receivers (local HTTP).
// pg-a is SIGKILLed: all three open it and decide a page; one Slack
// message and one PagerDuty trigger go out. The instance that sent them is
// stopped mid-incident; pg-a restarts, the other two close it, and one of
// them resolves the incident: one resolve, one Slack recovery message.
func TestClusterAlertsOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Passwords, so that no backend trusts the proxy (a trust alert of its own).
	pgA := pgtest.New(t, pgtest.Options{Name: "al-a", Auth: "scram-sha-256"})
	pgB := pgtest.New(t, pgtest.Options{Name: "al-b", Auth: "scram-sha-256"})
	hooks := newHookRecorder(t)
	ins := threeInstances()
	startInstances(t, testLogger(), ins, "local", func(i int, cfg *config.Config) {
		*cfg = testConfig(t, pgA, pgB)
	})
	ds := map[string]*alerts.Dispatcher{}
	stops := map[string]func(){}
	for _, in := range ins {
		acfg := alerts.Config{Cluster: "prod", AlertOnCircuitOpen: true, AlertOnMultipleCircuitsOpen: true, AlertOnRecoveryFailure: true,
			CascadeDelay: -1, FlapWindow: -1, PeerTimeout: 300 * time.Millisecond, Peers: in.srv,
			SlackWebhookURL: hooks.server.URL + "/services/T0/B0/x", PagerDutyRoutingKey: "pd-key", PagerDutyEventsURL: hooks.server.URL}
		d := alerts.New(acfg, testLogger(), acfg.Channels()...)
		dctx, dcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- d.Run(dctx, in.srv.Subscribe(dctx)) }()
		var once sync.Once
		stops[in.name] = func() { once.Do(func() { dcancel(); <-done }) }
		t.Cleanup(stops[in.name])
		ds[in.name] = d
	}

	if err := pgA.Kill(); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "every instance decided the page", func() (bool, string) {
		return alertsDone(ds) == 3, fmt.Sprint(alertsDone(ds), hooks.pagerDuty())
	})
	if got := hooks.pagerDuty(); len(got) != 1 || got[0] != "trigger heliosproxy/prod/pg-a" {
		t.Fatalf("PagerDuty got %q, want one trigger of heliosproxy/prod/pg-a", got)
	}
	if got := hooks.slackTexts(); len(got) != 1 {
		t.Fatalf("Slack got %q, want one message", got)
	}
	var pager *instance
	for _, in := range ins {
		if s := ds[in.name].Stats().Channels; s[1].Sent == 1 {
			pager = in
		}
	}
	if pager == nil {
		t.Fatal("no dispatcher counts the page as sent")
	}
	t.Logf("%s paged (Slack: %s); stopping it mid-incident", pager.name, hooks.slackTexts()[0])
	stops[pager.name]()
	pager.stop()
	delete(ds, pager.name)

	if err := pgA.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	poll(t, 30*time.Second, "the two left decided the resolve", func() (bool, string) {
		return alertsDone(ds) == 4, fmt.Sprint(alertsDone(ds))
	})
	if got := hooks.pagerDuty(); len(got) != 2 || got[1] != "resolve heliosproxy/prod/pg-a" {
		t.Errorf("PagerDuty got %q, want the trigger, then one resolve of heliosproxy/prod/pg-a", got)
	}
	if got := hooks.slackTexts(); len(got) != 2 {
		t.Errorf("Slack got %q, want two messages (open, recovered)", got)
	} else {
		t.Logf("resolved without %s: Slack %q", pager.name, got[1])
	}
}

// TestClusterAlertsShutdown: an instance stopped (a rolling restart) while
// its turn to send a page is still to come keeps delivering its queued
// alerts for the shutdown grace period, after its cluster member has left.
// The page went out from node-a at once; node-c, stopped before its turn,
// must still find it in the notification log when its turn comes, and not
// page a second time.
func TestClusterAlertsShutdown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pgA := pgtest.New(t, pgtest.Options{Name: "al-a", Auth: "scram-sha-256"})
	hooks := newHookRecorder(t)
	ins := threeInstances()
	startInstances(t, testLogger(), ins, "local", func(i int, cfg *config.Config) {
		*cfg = testConfig(t, pgA)
	})
	ds := map[string]*alerts.Dispatcher{}
	dones := map[string]chan error{}
	cancels := map[string]context.CancelFunc{}
	for _, in := range ins {
		// node-c's turn comes 2 × 3 s after the page was decided: well
		// after its member left, within its grace period.
		acfg := alerts.Config{Cluster: "prod", AlertOnCircuitOpen: true, CascadeDelay: -1, FlapWindow: -1,
			PeerTimeout: 3 * time.Second, ShutdownGrace: 20 * time.Second, Peers: in.srv,
			SlackWebhookURL: hooks.server.URL + "/services/T0/B0/x", PagerDutyRoutingKey: "pd-key", PagerDutyEventsURL: hooks.server.URL}
		d := alerts.New(acfg, testLogger(), acfg.Channels()...)
		dctx, dcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- d.Run(dctx, in.srv.Subscribe(dctx)) }()
		t.Cleanup(func() { dcancel(); <-done })
		ds[in.name], dones[in.name], cancels[in.name] = d, done, dcancel
	}

	if err := pgA.Kill(); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "node-a paged", func() (bool, string) {
		return len(hooks.pagerDuty()) == 1, fmt.Sprint(hooks.pagerDuty())
	})
	c := ins[2]
	// node-c has heard of the page and the Slack message (the
	// notification log's keys: channel and dedup key) before it stops.
	for _, key := range []string{"pagerduty|heliosproxy/prod/pg-a", "slack|heliosproxy/prod/pg-a"} {
		poll(t, 5*time.Second, c.name+" has "+key+" in its log", func() (bool, string) {
			n, ok := c.srv.Notified(key)
			return ok && n.Action == "trigger", fmt.Sprint(n, ok)
		})
	}
	if st := ds[c.name].Stats().Channels; st[1].Sent+st[1].ByPeer != 0 {
		t.Fatalf("%s is done with the page before it was stopped (%+v): its turn came too soon for this test", c.name, st)
	}
	c.stop() // its member leaves the cluster
	cancels[c.name]()
	if err := <-dones[c.name]; err != nil {
		t.Fatal(err)
	}
	dones[c.name] <- nil // for the cleanup
	if st := ds[c.name].Stats().Channels; st[1].Sent != 0 || st[1].ByPeer != 1 {
		t.Errorf("%s, stopped, sent %d pages and left %d to a peer; want 0 and 1", c.name, st[1].Sent, st[1].ByPeer)
	}
	if got := hooks.pagerDuty(); len(got) != 1 {
		t.Errorf("PagerDuty got %q, want one trigger", got)
	}
	if got := hooks.slackTexts(); len(got) != 1 {
		t.Errorf("Slack got %q, want one message", got)
	}
}
