package alerts

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// Dispatcher turns circuit events into alerts and delivers them to its
// channels. Create it with New, feed it with Run's event channel or Handle,
// and read Stats at any time.
type Dispatcher struct {
	cfg     Config
	log     *slog.Logger
	workers []*worker
	inbox   chan status.Event // Handle → Run
	started atomic.Bool

	eventsDropped atomic.Uint64
}

// worker is one channel's delivery queue and counters.
type worker struct {
	ch      Channel
	queue   chan Alert
	sent    atomic.Uint64
	failed  atomic.Uint64
	dropped atomic.Uint64
	retries atomic.Uint64
	byPeer  atomic.Uint64
}

// New returns a Dispatcher for chans (typically cfg.Channels()). With no
// channels it still runs its policy and delivers nothing.
func New(cfg Config, log *slog.Logger, chans ...Channel) *Dispatcher {
	cfg = cfg.withDefaults()
	d := &Dispatcher{cfg: cfg, log: log.With("component", "alerts"), inbox: make(chan status.Event, cfg.QueueSize)}
	for _, c := range chans {
		d.workers = append(d.workers, &worker{ch: c, queue: make(chan Alert, cfg.QueueSize)})
	}
	return d
}

// Handle queues ev for Run without blocking. When the queue is full the
// event is dropped, logged and counted (Stats.EventsDropped). Events
// handled before Run starts wait for it.
func (d *Dispatcher) Handle(ev status.Event) {
	select {
	case d.inbox <- ev:
	default:
		d.eventsDropped.Add(1)
		d.log.Error("alert event queue full; event dropped", "event", string(ev.Type), "event_id", ev.ID, "backend", ev.Backend)
	}
}

// Run applies the policy to events (and to those given to Handle) and
// delivers the alerts until ctx ends; events may be nil, and Run keeps
// going when it is closed. Then it pages held openings and sends held
// resolves, keeps delivering queued alerts for up to ShutdownGrace, cancels
// what is still in flight, and returns once every goroutine it started has
// ended. Run may be called once.
func (d *Dispatcher) Run(ctx context.Context, events <-chan status.Event) error {
	if !d.started.CompareAndSwap(false, true) {
		return errors.New("alerts: Dispatcher.Run called twice")
	}
	// Deliveries outlive ctx by the grace period.
	sendCtx, stopSends := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for _, w := range d.workers {
		wg.Go(func() { d.deliver(sendCtx, w) })
	}
	// Runs last, also on a panic: no more alerts, then ShutdownGrace for
	// the workers to finish before their sends are cancelled.
	defer func() {
		pending := 0
		for _, w := range d.workers {
			pending += len(w.queue)
			close(w.queue)
		}
		d.log.Info("alerts stopping", "pending", pending, "grace", d.cfg.ShutdownGrace.String())
		grace := time.AfterFunc(d.cfg.ShutdownGrace, stopSends)
		wg.Wait()
		grace.Stop()
		stopSends()
	}()
	d.log.Info("alerts running", "config", d.cfg, "channels", len(d.workers))

	p := newPolicy(d.cfg)
	var kept savedIncidents // what IncidentsFile holds
	if path := d.cfg.IncidentsFile; path != "" {
		s, err := loadIncidents(path)
		if err != nil {
			d.log.Error("open incidents of the previous run not loaded: their pages resolve only by hand", "err", err)
		}
		if len(s.Backends)+len(s.Cascade) > 0 {
			d.log.Info("incidents the previous run left open taken up", "backends", s.Backends, "cascade", s.Cascade)
		}
		p.restore(s, time.Now())
		kept = s
	}
	defer func() { d.saveIncidents(p.saved(), kept) }() // after the flush below
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for ctx.Err() == nil {
		kept = d.saveIncidents(p.saved(), kept)
		if at, ok := p.next(); ok {
			timer.Reset(time.Until(at))
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			d.enqueue(p.handle(ev, time.Now()))
		case ev := <-d.inbox:
			d.enqueue(p.handle(ev, time.Now()))
		case <-timer.C:
			d.enqueue(p.due(time.Now()))
		}
	}

	// Shutting down: take what has already arrived (bounded, in case a
	// producer keeps going), then release every held decision.
	for n, drained := 0, false; !drained && n < 2*d.cfg.QueueSize; n++ {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			d.enqueue(p.handle(ev, time.Now()))
		case ev := <-d.inbox:
			d.enqueue(p.handle(ev, time.Now()))
		default:
			drained = true
		}
	}
	d.enqueue(p.flush(time.Now()))
	return nil
}

// enqueue queues each alert for every channel that wants it, never
// blocking.
func (d *Dispatcher) enqueue(as []Alert) {
	for _, a := range as {
		d.log.Info("alert", alertAttrs(a)...)
		for _, w := range d.workers {
			if f, ok := w.ch.(Filter); ok && !f.Wants(a) {
				continue
			}
			select {
			case w.queue <- a:
			default:
				w.dropped.Add(1)
				d.log.Error("alert queue full; alert dropped", append(alertAttrs(a), "channel", w.ch.Name())...)
			}
		}
	}
}

func alertAttrs(a Alert) []any {
	attrs := []any{"kind", string(a.Kind), "backend", a.Backend, "severity", string(a.Severity)}
	if a.Action != ActionNone {
		attrs = append(attrs, "action", string(a.Action), "dedup_key", a.DedupKey)
	}
	if len(a.Backends) > 0 {
		attrs = append(attrs, "backends", a.Backends)
	}
	return attrs
}

// deliver sends w's alerts in order until its queue is closed and empty.
// Once ctx ends (the shutdown grace period is over) the rest is dropped.
func (d *Dispatcher) deliver(ctx context.Context, w *worker) {
	name := w.ch.Name()
	abandoned := 0
	for a := range w.queue {
		if ctx.Err() != nil {
			abandoned++
			w.dropped.Add(1)
			continue
		}
		if d.awaitTurn(ctx, name, a) {
			w.byPeer.Add(1)
			d.log.Info("alert already sent by a cluster member", append(alertAttrs(a), "channel", name)...)
			continue
		}
		if d.sendWithRetry(ctx, w, a) {
			d.logSent(name, a)
		}
	}
	if abandoned > 0 {
		d.log.Error("shutdown grace period over; alerts not delivered", "channel", name, "count", abandoned)
	}
}

// sendWithRetry delivers a on w's channel, retrying until it succeeds,
// fails permanently, runs out of attempts or ctx ends; it reports whether
// a was delivered.
func (d *Dispatcher) sendWithRetry(ctx context.Context, w *worker, a Alert) bool {
	name := w.ch.Name()
	first := time.Now()
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
		err := w.ch.Send(actx, a)
		cancel()
		if err == nil {
			w.sent.Add(1)
			d.log.Info("alert delivered", append(alertAttrs(a), "channel", name, "attempt", attempt)...)
			return true
		}
		if ctx.Err() != nil {
			w.dropped.Add(1)
			d.log.Error("shutdown grace period over; alert not delivered", append(alertAttrs(a), "channel", name, "attempt", attempt, "err", err)...)
			return false
		}
		var de *DeliveryError
		permanent := errors.As(err, &de) && de.Permanent
		// A page (or its resolve) is worth minutes of a receiver's outage;
		// information is not worth holding the channel's queue for.
		retrying := attempt < d.cfg.MaxAttempts ||
			a.Action != ActionNone && time.Since(first) < d.cfg.IncidentRetryFor
		if permanent || !retrying {
			w.failed.Add(1)
			d.log.Error("giving up on alert", append(alertAttrs(a), "channel", name, "attempts", attempt, "permanent", permanent, "err", err)...)
			return false
		}
		wait := d.backoff(attempt)
		if de != nil && de.RetryAfter > 0 {
			wait = de.RetryAfter // the receiver said when; waiting less would only be refused again
		}
		w.retries.Add(1)
		d.log.Warn("alert delivery failed; will retry", append(alertAttrs(a), "channel", name, "attempt", attempt, "retry_in", wait.String(), "err", err)...)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			w.dropped.Add(1)
			d.log.Error("shutdown grace period over; alert not delivered", append(alertAttrs(a), "channel", name, "attempt", attempt, "err", err)...)
			return false
		}
	}
}

// backoff is the wait after failed attempt n (1-based) without
// Retry-After: uniformly random in [c/2, c) where c = min(BackoffBase·2^(n-1),
// BackoffMax).
func (d *Dispatcher) backoff(n int) time.Duration {
	c := d.cfg.BackoffBase
	for i := 1; i < n && c < d.cfg.BackoffMax; i++ {
		c *= 2
	}
	c = min(c, d.cfg.BackoffMax)
	half := c / 2
	if half <= 0 {
		return c
	}
	return half + rand.N(c-half)
}

// Stats is a copy of the Dispatcher's counters, for the metrics collector:
// helios_alerts_sent_total{channel,result} with result "sent", "failed",
// "dropped" or "sent_by_peer", and a queue depth gauge per channel.
type Stats struct {
	Channels      []ChannelStats // in the order given to New
	EventsQueued  int            // events handed to Handle, not yet seen by Run
	EventsDropped uint64         // events Handle dropped because its queue was full
}

// ChannelStats counts one channel's alerts.
type ChannelStats struct {
	Channel string
	Sent    uint64 // delivered
	Failed  uint64 // given up: a permanent error, or MaxAttempts failures (IncidentRetryFor for a trigger or resolve)
	Dropped uint64 // never tried to the end: queue full, or shutdown grace period over
	Retries uint64 // failed attempts that were retried
	Queued  int    // waiting, not counting the one being sent
	// ByPeer counts alerts not sent because another cluster member had
	// sent them (Config.Peers).
	ByPeer uint64
}

// Stats returns the current counters; safe to call at any time.
func (d *Dispatcher) Stats() Stats {
	s := Stats{EventsQueued: len(d.inbox), EventsDropped: d.eventsDropped.Load()}
	for _, w := range d.workers {
		s.Channels = append(s.Channels, ChannelStats{
			Channel: w.ch.Name(),
			Sent:    w.sent.Load(),
			Failed:  w.failed.Load(),
			Dropped: w.dropped.Load(),
			Retries: w.retries.Load(),
			Queued:  len(w.queue),
			ByPeer:  w.byPeer.Load(),
		})
	}
	return s
}

// ChannelResult is the outcome of a test notification on one channel.
type ChannelResult struct {
	Channel  string        `json:"channel"`
	OK       bool          `json:"ok"`
	Error    string        `json:"error,omitempty"` // never contains secrets
	Duration time.Duration `json:"duration_ns"`
}

// Test sends a test notification to every channel at once, bypassing the
// queues and without retries, and reports each channel's outcome in the
// order given to New. Each attempt is bounded by SendTimeout. PagerDuty
// gets a trigger (severity info, dedup key heliosproxy/<cluster>/test)
// followed by its resolve. Tests are not counted in Stats.
func (d *Dispatcher) Test(ctx context.Context) []ChannelResult {
	a := Alert{Kind: KindTest, Action: ActionTrigger, DedupKey: "heliosproxy/" + d.cfg.Cluster + "/test",
		Severity: SeverityInfo, Source: d.cfg.Cluster, DashboardURL: d.cfg.DashboardURL, Time: time.Now()}
	res := make([]ChannelResult, len(d.workers))
	var wg sync.WaitGroup
	for i, w := range d.workers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
			defer cancel()
			start := time.Now()
			err := w.ch.Send(ctx, a)
			r := ChannelResult{Channel: w.ch.Name(), OK: err == nil, Duration: time.Since(start)}
			if err != nil {
				r.Error = err.Error()
				d.log.Warn("test notification failed", "channel", r.Channel, "err", err)
			} else {
				d.log.Info("test notification sent", "channel", r.Channel)
			}
			res[i] = r
		})
	}
	wg.Wait()
	return res
}
