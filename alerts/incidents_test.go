package alerts

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// TestIncidentsSurviveRestart: a page sent by a run that stops during the
// outage is resolved by the next run once the backend stays healthy, and
// continued without a new page when the backend is still down. Before, the
// new process started with every circuit CLOSED and never resolved the
// page the previous one sent (seen by a probe: two backends paged, the
// proxy restarted after they came back, no resolve ever).
func TestIncidentsSurviveRestart(t *testing.T) {
	const key = "heliosproxy/prod-eu/primary-1"
	file := filepath.Join(t.TempDir(), "incidents.json")
	cfg := immediate()
	cfg.IncidentsFile = file
	cfg.RestoreGrace = 300 * time.Millisecond
	kept := func() savedIncidents {
		t.Helper()
		var s savedIncidents
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	run := func() (slackR, pdR *receiver, events chan status.Event, stop func() error) {
		slackR, pdR = newReceiver("slack"), newReceiver("pagerduty")
		events = make(chan status.Event)
		stop = start(t, New(cfg, discardLogger(), netChannels(t, slackR, pdR)...), events)
		return slackR, pdR, events, stop
	}
	action := func(r request) string {
		return field(r.Body, "event_action").(string) + " " + field(r.Body, "dedup_key").(string)
	}

	// The first run pages, and stops during the outage.
	_, pdR, events, stop := run()
	events <- evOpen("primary-1")
	if got := action(pdR.next(t)); got != "trigger "+key {
		t.Fatalf("first run: %s, want the trigger", got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := kept(); !slices.Equal(got.Backends, []string{"primary-1"}) {
		t.Fatalf("kept after the first run: %+v, want primary-1's incident", got)
	}

	// The next run sees the backend down again: the incident goes on, no
	// new page; it stops before the backend recovers, keeping it open.
	_, pdR, events, stop = run()
	events <- evOpen("primary-1")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := pdR.drain(); len(got) != 0 {
		t.Errorf("second run, backend still down: %d PagerDuty requests, want none", len(got))
	}
	if got := kept(); !slices.Equal(got.Backends, []string{"primary-1"}) {
		t.Fatalf("kept after the second run: %+v, want primary-1's incident still", got)
	}

	// The third run finds it healthy: after RestoreGrace, the resolve.
	slackR, pdR, _, stop := run()
	if got := action(pdR.next(t)); got != "resolve "+key {
		t.Errorf("third run, backend healthy: %s, want the resolve", got)
	}
	slackR.next(t) // its recovery message
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := kept(); len(got.Backends)+len(got.Cascade) != 0 {
		t.Errorf("kept after the resolve: %+v, want nothing", got)
	}
}
