package proxy

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/status"
)

// eventHistory is how many recent events the bus keeps for late readers.
const eventHistory = 1000

// subscriberBuffer is how many events a subscriber may lag behind before
// events are dropped for it (never blocking the proxy).
const subscriberBuffer = 256

// eventBus numbers events, keeps the recent ones and fans them out to
// subscribers without ever blocking the publisher.
type eventBus struct {
	log    *slog.Logger
	mu     sync.Mutex
	nextID uint64
	recent []status.Event // ring of the last eventHistory events
	start  int
	subs   map[chan status.Event]struct{}
}

func newEventBus(log *slog.Logger) *eventBus {
	return &eventBus{log: log, subs: make(map[chan status.Event]struct{})}
}

func (e *eventBus) publish(ev status.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nextID++
	ev.ID = e.nextID
	if len(e.recent) < eventHistory {
		e.recent = append(e.recent, ev)
	} else {
		e.recent[e.start] = ev
		e.start = (e.start + 1) % eventHistory
	}
	for ch := range e.subs {
		select {
		case ch <- ev:
		default:
			e.log.Warn("event subscriber is too slow; event dropped for it", "event_id", ev.ID)
		}
	}
}

// history returns up to limit of the most recent events, oldest first.
func (e *eventBus) history(limit int) []status.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := len(e.recent)
	if limit <= 0 || limit > n {
		limit = n
	}
	out := make([]status.Event, 0, limit)
	for i := n - limit; i < n; i++ {
		out = append(out, e.recent[(e.start+i)%n])
	}
	return out
}

// subscribe returns a channel of events published from now on; it is
// closed when ctx ends.
func (e *eventBus) subscribe(ctx context.Context) <-chan status.Event {
	ch := make(chan status.Event, subscriberBuffer)
	e.mu.Lock()
	e.subs[ch] = struct{}{}
	e.mu.Unlock()
	context.AfterFunc(ctx, func() {
		e.mu.Lock()
		delete(e.subs, ch)
		e.mu.Unlock()
		close(ch)
	})
	return ch
}

// transitionEvents turns a breaker transition into the events it means:
// one for the transition and, when it completed a cascade, a
// CascadeDetected. openedAt is when the circuit last opened from CLOSED.
func transitionEvents(tr breaker.Transition, openedAt time.Time) []status.Event {
	ev := status.Event{
		Time:                 tr.At,
		Backend:              tr.Backend,
		From:                 status.StateOf(tr.From),
		To:                   status.StateOf(tr.To),
		Reason:               tr.Reason.String(),
		Detail:               tr.Detail,
		Attempt:              tr.Attempt,
		InPrevious:           tr.InFrom,
		LatencyP95Ms:         ms(tr.Stats.P95),
		LatencyP99Ms:         ms(tr.Stats.P99),
		ErrorRate:            tr.Stats.ErrorRate,
		ConnectionSaturation: tr.Stats.Saturation,
	}
	switch {
	case tr.To == breaker.Open && tr.From == breaker.HalfOpen && tr.Reason != breaker.ReasonOverride:
		ev.Type = status.RecoveryFailed
	case tr.To == breaker.Open:
		ev.Type = status.CircuitOpened
	case tr.To == breaker.HalfOpen:
		ev.Type = status.CircuitHalfOpened
	default:
		ev.Type = status.CircuitClosed
		if !openedAt.IsZero() {
			ev.RecoveryDuration = tr.At.Sub(openedAt)
		}
	}
	evs := []status.Event{ev}
	if tr.Cascade != nil {
		evs = append(evs, status.Event{
			Type:     status.CascadeDetected,
			Time:     tr.At,
			Reason:   "cascade",
			Detail:   "several circuits opened together",
			Backends: append([]string(nil), tr.Cascade...),
		})
	}
	return evs
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
