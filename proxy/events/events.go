// Package events owns the proxy's event stream: Bus numbers events, keeps
// the recent ones for late readers and fans them out to subscribers without
// blocking the publisher, and FromTransition says which events a breaker
// transition means. It does not decide when to publish, nor log events:
// package proxy does both.
package events

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

// Bus numbers events, keeps the recent ones and fans them out to
// subscribers without ever blocking the publisher. Create it with NewBus;
// it is safe for concurrent use.
type Bus struct {
	log    *slog.Logger
	mu     sync.Mutex
	nextID uint64
	recent []status.Event // ring of the last eventHistory events
	start  int
	subs   map[chan status.Event]struct{}
}

// NewBus returns an empty Bus; log is told about events dropped for slow
// subscribers.
func NewBus(log *slog.Logger) *Bus {
	return &Bus{log: log, subs: make(map[chan status.Event]struct{})}
}

// Publish numbers ev (IDs start at 1), keeps it in the history and sends
// it to every subscriber that has room for it; a subscriber whose buffer
// is full loses it.
func (e *Bus) Publish(ev status.Event) {
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

// History returns up to limit of the most recent events, oldest first
// (limit ≤ 0: all kept, at most the last 1,000).
func (e *Bus) History(limit int) []status.Event {
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

// Subscribe returns a channel of events published from now on; it is
// closed when ctx ends. Up to 256 unread events wait in it; more are
// dropped for it.
func (e *Bus) Subscribe(ctx context.Context) <-chan status.Event {
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

// FromTransition turns a breaker transition into the events it means:
// one for the transition and, when it completed a cascade, a
// CascadeDetected. openedAt is when the circuit last opened from CLOSED
// (zero: unknown, and a CircuitClosed has no RecoveryDuration).
func FromTransition(tr breaker.Transition, openedAt time.Time) []status.Event {
	ev := Of(tr)
	ev.Backend = tr.Backend
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

// Of is the part of an event that every breaker transition has: time,
// states, reason, detail and the window's metrics. The caller sets Type
// and what names the circuit (Backend, or Pattern and Query).
func Of(tr breaker.Transition) status.Event {
	return status.Event{
		Time:                 tr.At,
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
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
