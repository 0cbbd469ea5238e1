package events

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/status"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func ids(evs []status.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

func span(from, to uint64) []uint64 {
	var out []uint64
	for id := from; id <= to; id++ {
		out = append(out, id)
	}
	return out
}

func TestBusHistory(t *testing.T) {
	b := NewBus(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if got := b.History(0); len(got) != 0 {
		t.Errorf("History(0) of an empty bus = %v, want none", ids(got))
	}
	for range eventHistory + 5 {
		b.Publish(status.Event{Type: status.CircuitOpened})
	}
	tests := []struct {
		limit int
		want  []uint64
	}{
		{0, span(6, eventHistory+5)},
		{-1, span(6, eventHistory+5)},
		{3, span(eventHistory+3, eventHistory+5)},
		{2 * eventHistory, span(6, eventHistory+5)},
	}
	for _, tt := range tests {
		if got := ids(b.History(tt.limit)); !slices.Equal(got, tt.want) {
			t.Errorf("History(%d) = IDs %d…%d (%d), want %d…%d (%d)", tt.limit,
				got[0], got[len(got)-1], len(got), tt.want[0], tt.want[len(tt.want)-1], len(tt.want))
		}
	}
}

// TestBusSlowSubscriber checks that a subscriber that does not read
// never blocks Publish, keeps the first events that fit its buffer, and
// has its channel closed when its context ends.
func TestBusSlowSubscriber(t *testing.T) {
	b := NewBus(slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.Publish(status.Event{}) // before the subscription: not sent
	ctx, cancel := context.WithCancel(context.Background())
	ch := b.Subscribe(ctx)
	for range subscriberBuffer + 10 {
		b.Publish(status.Event{})
	}
	cancel()
	var got []status.Event
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if ok {
				got = append(got, ev)
				continue
			}
		case <-timeout:
			t.Fatal("channel not closed 10s after its context ended")
		}
		break
	}
	if want := span(2, subscriberBuffer+1); !slices.Equal(ids(got), want) {
		t.Errorf("subscriber got %d events (%v…), want IDs 2…%d", len(got), ids(got)[:min(3, len(got))], subscriberBuffer+1)
	}
	b.Publish(status.Event{}) // no subscriber left: must not panic on the closed channel
}

func TestFromTransition(t *testing.T) {
	opened := t0.Add(-30 * time.Second)
	tests := []struct {
		name     string
		tr       breaker.Transition
		openedAt time.Time
		want     []status.Event
	}{
		{
			name: "closed to open",
			tr: breaker.Transition{Backend: "pg-a", From: breaker.Closed, To: breaker.Open, At: t0,
				Reason: breaker.ReasonErrorRate, Detail: "errors", InFrom: time.Minute,
				Stats: breaker.Stats{P95: 1500 * time.Microsecond, P99: 2 * time.Millisecond, ErrorRate: 0.5, Saturation: 0.25}},
			want: []status.Event{{Type: status.CircuitOpened, Time: t0, Backend: "pg-a", From: status.Closed, To: status.Open,
				Reason: breaker.ReasonErrorRate.String(), Detail: "errors", InPrevious: time.Minute,
				LatencyP95Ms: 1.5, LatencyP99Ms: 2, ErrorRate: 0.5, ConnectionSaturation: 0.25}},
		},
		{
			name: "half-open to open fails a recovery",
			tr:   breaker.Transition{Backend: "pg-a", From: breaker.HalfOpen, To: breaker.Open, At: t0, Reason: breaker.ReasonRecoveryFailed, Attempt: 2},
			want: []status.Event{{Type: status.RecoveryFailed, Time: t0, Backend: "pg-a", From: status.HalfOpen, To: status.Open,
				Reason: breaker.ReasonRecoveryFailed.String(), Attempt: 2}},
		},
		{
			name: "half-open forced open is an opening",
			tr:   breaker.Transition{Backend: "pg-a", From: breaker.HalfOpen, To: breaker.Open, At: t0, Reason: breaker.ReasonOverride},
			want: []status.Event{{Type: status.CircuitOpened, Time: t0, Backend: "pg-a", From: status.HalfOpen, To: status.Open,
				Reason: breaker.ReasonOverride.String()}},
		},
		{
			name: "open to half-open",
			tr:   breaker.Transition{Backend: "pg-a", From: breaker.Open, To: breaker.HalfOpen, At: t0},
			want: []status.Event{{Type: status.CircuitHalfOpened, Time: t0, Backend: "pg-a", From: status.Open, To: status.HalfOpen,
				Reason: breaker.ReasonNone.String()}},
		},
		{
			name:     "closed after an opening says how long recovery took",
			tr:       breaker.Transition{Backend: "pg-a", From: breaker.HalfOpen, To: breaker.Closed, At: t0},
			openedAt: opened,
			want: []status.Event{{Type: status.CircuitClosed, Time: t0, Backend: "pg-a", From: status.HalfOpen, To: status.Closed,
				Reason: breaker.ReasonNone.String(), RecoveryDuration: 30 * time.Second}},
		},
		{
			name: "closed with no known opening",
			tr:   breaker.Transition{Backend: "pg-a", From: breaker.HalfOpen, To: breaker.Closed, At: t0},
			want: []status.Event{{Type: status.CircuitClosed, Time: t0, Backend: "pg-a", From: status.HalfOpen, To: status.Closed,
				Reason: breaker.ReasonNone.String()}},
		},
		{
			name: "an opening that completed a cascade",
			tr: breaker.Transition{Backend: "pg-b", From: breaker.Closed, To: breaker.Open, At: t0,
				Reason: breaker.ReasonHardFailure, Cascade: []string{"pg-a", "pg-b"}},
			want: []status.Event{
				{Type: status.CircuitOpened, Time: t0, Backend: "pg-b", From: status.Closed, To: status.Open, Reason: breaker.ReasonHardFailure.String()},
				{Type: status.CascadeDetected, Time: t0, Reason: "cascade", Detail: "several circuits opened together", Backends: []string{"pg-a", "pg-b"}},
			},
		},
	}
	for _, tt := range tests {
		got := FromTransition(tt.tr, tt.openedAt)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: FromTransition = %+v, want %+v", tt.name, got, tt.want)
		}
		if tt.tr.Cascade != nil {
			tt.tr.Cascade[0] = "changed"
			if got[1].Backends[0] != "pg-a" {
				t.Errorf("%s: CascadeDetected.Backends shares the transition's slice", tt.name)
			}
		}
	}
}
