package alerts

import (
	"sync"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// sharedLog stands in for the cluster's gossiped notification log
// (proxy/cluster keeps the real one; the proxy's cluster tests use it).
type sharedLog struct {
	mu sync.Mutex
	m  map[string]status.Notification
}

// member is one instance's view of sharedLog at a fixed position.
type member struct {
	log *sharedLog
	pos int
}

func (p member) NotifyPosition() int { return p.pos }

func (p member) Notified(key string) (status.Notification, bool) {
	p.log.mu.Lock()
	defer p.log.mu.Unlock()
	n, ok := p.log.m[key]
	return n, ok
}

func (p member) Notify(key string, n status.Notification) {
	p.log.mu.Lock()
	defer p.log.mu.Unlock()
	p.log.m[key] = n
}

// settled waits until every dispatcher has sent or skipped want alerts on
// each channel between them.
func settled(t *testing.T, want uint64, ds ...*Dispatcher) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		done := map[string]uint64{}
		for _, d := range ds {
			for _, c := range d.Stats().Channels {
				done[c.Channel] += c.Sent + c.ByPeer
			}
		}
		if done["slack"] == want && done["pagerduty"] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts sent or skipped: %v, want %d on each channel", done, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPeersSendOnce: three instances decide the same page and resolve;
// one Slack message and one PagerDuty event go out for each, from the
// first position. When that instance is gone before the close, the next
// one resolves, once. Override events applied from another member alert
// nobody.
func TestPeersSendOnce(t *testing.T) {
	slackR, pdR := newReceiver("slack"), newReceiver("pagerduty")
	chans := netChannels(t, slackR, pdR)
	log := &sharedLog{m: map[string]status.Notification{}}
	var ds []*Dispatcher
	var stops []func() error
	var inboxes []chan status.Event
	for pos := range 3 {
		cfg := immediate()
		cfg.Peers, cfg.PeerTimeout = member{log: log, pos: pos}, 100*time.Millisecond
		d := New(cfg, discardLogger(), chans...)
		in := make(chan status.Event, 8)
		ds, inboxes, stops = append(ds, d), append(inboxes, in), append(stops, start(t, d, in))
	}
	for _, in := range inboxes {
		in <- evOpen("pg-a")
	}
	settled(t, 3, ds...)
	for _, in := range inboxes {
		in <- evClose("pg-a")
	}
	settled(t, 6, ds...)
	if got := pdR.drain(); len(got) != 2 || field(got[0].Body, "event_action") != "trigger" || field(got[1].Body, "event_action") != "resolve" {
		t.Errorf("PagerDuty got %d events %v, want one trigger and one resolve", len(got), got)
	}
	if got := slackR.drain(); len(got) != 2 {
		t.Errorf("Slack got %d messages, want 2 (open, recovered)", len(got))
	}
	if s := ds[0].Stats(); s.Channels[0].Sent != 2 || s.Channels[1].Sent != 2 {
		t.Errorf("position 0 sent %+v, want both alerts on both channels", s.Channels)
	}

	// The instance that paged is gone mid-incident: position 1 resolves.
	for _, in := range inboxes {
		in <- evOpen("pg-b")
	}
	settled(t, 9, ds...)
	if err := stops[0](); err != nil {
		t.Fatal(err)
	}
	for _, in := range inboxes[1:] {
		in <- evClose("pg-b")
	}
	settled(t, 8, ds[1:]...) // two each for pg-a, then pg-b's trigger and resolve
	pd := pdR.drain()
	if len(pd) != 2 || field(pd[1].Body, "event_action") != "resolve" || field(pd[1].Body, "dedup_key") != "heliosproxy/prod-eu/pg-b" {
		t.Errorf("PagerDuty for pg-b: %v, want one trigger, then one resolve", pd)
	}
	if s := ds[1].Stats(); s.Channels[1].Sent != 1 {
		t.Errorf("position 1 sent %+v on PagerDuty, want the resolve", s.Channels[1])
	}

	// An override applied from another member: nothing from here.
	ov := status.Event{Type: status.OverrideSet, Backend: "pg-c", To: status.Open, Reason: "override", Author: "ops", Node: "node-x"}
	if as := newPolicy(immediate().withDefaults()).handle(ov, t0); len(as) != 0 {
		t.Errorf("override applied from node-x: alerts %v, want none", as)
	}
}
