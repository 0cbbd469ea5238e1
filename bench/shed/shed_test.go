package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/internal/pgcluster"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// TestShedding: three backends under a load two of them cannot carry;
// one is killed. With shedding, the survivors' circuits stay CLOSED and
// the excess is refused with 53300; without it, nothing is refused that
// way (what happens instead, the survivors' latency trips and the clients'
// 57P03s, is logged: the numbers are the benchmark's, not the test's).
func TestShedding(t *testing.T) {
	if testing.Short() {
		t.Skip("a load scenario of about 25 seconds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Sized for a race-instrumented proxy on a small shared machine: 100
	// requests per second per backend, 220 offered (two backends carry 200).
	o := defaults()
	o.Rate, o.Clients, o.Slots, o.Work, o.MinLimit = 220, 48, 2, 20*time.Millisecond, 2
	o.TripP95 = 300 * time.Millisecond // a queue at 73% of capacity has a long tail under -race
	o.Before, o.After = 6*time.Second, 6*time.Second
	for _, shed := range []bool{true, false} {
		var clusters []*pgcluster.Cluster
		for _, name := range []string{"shed-a", "shed-b", "shed-c"} {
			clusters = append(clusters, pgtest.New(t, pgtest.Options{Name: name, Settings: map[string]string{"max_connections": "200"}}))
		}
		o.Shedding = shed
		r, err := run(ctx, clusters, o, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("\n%s", table([]result{r}))
		switch {
		case shed && len(r.Opened) > 0:
			t.Errorf("with shedding, survivors' circuits opened: %v", r.Opened)
		case shed && (r.Refused == 0 || r.Admitted == 0):
			t.Errorf("with shedding, %d admitted and %d refused with 53300, want both", r.Admitted, r.Refused)
		case !shed && r.Refused != 0:
			t.Errorf("without shedding, %d requests refused with 53300, want none", r.Refused)
		}
	}
}
