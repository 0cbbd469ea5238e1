// Package logthrottle rate-limits repeated log records: a slog.Handler that
// wraps another and lets each distinct level and message through at a
// bounded rate, counting what it drops and saying so.
//
// Records are keyed by level and message, never by attributes, so that a
// flood of one event from many clients (each record with its own
// client_addr) is one key, as in zap's sampler. Each key has a token
// bucket: Burst records pass at once, then one per Every. What a key drops
// is counted, and the next record of that key that passes carries the
// count as the attribute suppressed=N, as Tor's "[N similar message(s)
// suppressed]" and RisingWave's LogSuppresser do. A key that goes quiet
// after dropping records gets a summary record of its own (same level and
// message, suppressed=N summary=true) once its bucket has a token again and
// any record is handled, or at Flush; journald writes "Suppressed N
// messages" the same way. A global bucket caps all keys together.
//
// Records below Info pass untouched: Debug is per-query detail an operator
// turns on to see all of it.
package logthrottle

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Clock tells the time; tests pass one they move by hand.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Options are the limits. The defaults keep normal operation (a few lines
// per state change) far from any limit, and bound a flood of one message to
// its burst and then one line a second with the count: 3,000 refused
// clients a second become 10 lines, then 1 a second. Errors, the lines an
// operator acts on, get a larger burst. The global cap (200 at once, then
// 50 a second) stays well under journald's default of 10,000 per 30 s per
// service, past which journald drops lines without saying which.
type Options struct {
	// Burst is how many records of one level and message pass before
	// throttling starts. Zero means 10.
	Burst int
	// ErrorBurst is Burst for records at Error and above. Zero means 50.
	ErrorBurst int
	// Every is how often a throttled key earns one more record. Zero
	// means one second.
	Every time.Duration
	// GlobalBurst is how many records of all keys together pass at once.
	// Zero means 200.
	GlobalBurst int
	// GlobalEvery is how often the global bucket earns one more record.
	// Zero means 20 ms (50 a second).
	GlobalEvery time.Duration
	// MaxKeys bounds the keys tracked at once; records of further keys
	// pass the global limit only, and what it drops of them is reported
	// as "log records suppressed". Zero means 1024.
	MaxKeys int
	// Clock tells the time. Nil means the system clock.
	Clock Clock
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Burst, 10)
	def(&o.ErrorBurst, 50)
	def(&o.GlobalBurst, 200)
	def(&o.MaxKeys, 1024)
	if o.Every <= 0 {
		o.Every = time.Second
	}
	if o.GlobalEvery <= 0 {
		o.GlobalEvery = 20 * time.Millisecond
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	return o
}

// OverflowMessage is the message of the summary of records dropped by the
// global limit whose key was not tracked (more than MaxKeys keys).
const OverflowMessage = "log records suppressed"

// Handler throttles records on their way to another handler. Handlers
// derived with WithAttrs and WithGroup share their parent's limits.
type Handler struct {
	next slog.Handler
	st   *state
}

// New returns a Handler that passes the records o allows to next.
func New(next slog.Handler, o Options) *Handler {
	o = o.withDefaults()
	now := o.Clock.Now()
	return &Handler{next: next, st: &state{
		root:   next,
		o:      o,
		keys:   make(map[key]*entry),
		global: bucket{tokens: float64(o.GlobalBurst), at: now},
		swept:  now,
	}}
}

// Enabled reports whether the wrapped handler wants records at l; whether a
// record passes the limits depends on its message, known only in Handle.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

// WithAttrs returns a Handler with attrs that shares h's limits.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{next: h.next.WithAttrs(attrs), st: h.st}
}

// WithGroup returns a Handler with the group that shares h's limits. A
// suppressed count added to a record of a group is inside the group.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &Handler{next: h.next.WithGroup(name), st: h.st}
}

// Handle passes r on if its key and the global limit allow it, with the
// number of records of its key dropped since the last one that passed.
// Summaries of quiet keys that dropped records go out first.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelInfo {
		return h.next.Handle(ctx, r)
	}
	k := key{r.Level, r.Message}
	h.st.mu.Lock()
	now := h.st.o.Clock.Now()
	summaries := h.st.sweep(now, k)
	n, ok := h.st.admit(now, k)
	h.st.mu.Unlock()
	err := h.st.emit(ctx, summaries)
	if !ok {
		return err
	}
	if n > 0 {
		r = r.Clone() // the caller's record may share its attribute storage
		r.AddAttrs(slog.Int("suppressed", n))
	}
	return errors.Join(err, h.next.Handle(ctx, r))
}

// Flush writes a summary for every key that dropped records since its last
// record passed, whatever the limits; call it before the process exits so
// that no count is lost.
func (h *Handler) Flush(ctx context.Context) error {
	h.st.mu.Lock()
	now := h.st.o.Clock.Now()
	var out []summary
	for k, e := range h.st.keys {
		if e.suppressed > 0 {
			out = append(out, summary{k, e.suppressed, now})
			e.suppressed = 0
		}
	}
	if h.st.overflow > 0 {
		out = append(out, summary{key{slog.LevelWarn, OverflowMessage}, h.st.overflow, now})
		h.st.overflow = 0
	}
	h.st.mu.Unlock()
	return h.st.emit(ctx, out)
}

// key identifies records that count against the same bucket.
type key struct {
	level slog.Level
	msg   string
}

// bucket is a token bucket; a new one is full.
type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

// refill adds the tokens earned since b.at, up to burst.
func (b *bucket) refill(now time.Time, burst int, every time.Duration) {
	if now.After(b.at) {
		b.tokens = min(float64(burst), b.tokens+float64(now.Sub(b.at))/float64(every))
		b.at = now
	}
}

// take spends a token if there is one.
func (b *bucket) take(now time.Time, burst int, every time.Duration) bool {
	b.refill(now, burst, every)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

type entry struct {
	bucket
	suppressed int // records dropped since the last that passed
}

type summary struct {
	k    key
	n    int
	time time.Time
}

// state is the limits shared by a Handler and those derived from it.
type state struct {
	root slog.Handler // the handler New wrapped: summaries go there, outside any group
	o    Options

	mu       sync.Mutex
	keys     map[key]*entry
	global   bucket
	overflow int       // records of untracked keys dropped by the global limit
	swept    time.Time // last sweep
}

func (st *state) burst(l slog.Level) int {
	if l >= slog.LevelError {
		return st.o.ErrorBurst
	}
	return st.o.Burst
}

// admit decides on a record of k and returns how many records of k were
// dropped before it. A record dropped by the global limit counts as
// suppressed on its key too.
func (st *state) admit(now time.Time, k key) (suppressed int, ok bool) {
	e := st.keys[k]
	if e == nil {
		if len(st.keys) >= st.o.MaxKeys {
			if st.global.take(now, st.o.GlobalBurst, st.o.GlobalEvery) {
				return 0, true
			}
			st.overflow++
			return 0, false
		}
		e = &entry{bucket: bucket{tokens: float64(st.burst(k.level)), at: now}}
		st.keys[k] = e
	}
	if !e.take(now, st.burst(k.level), st.o.Every) || !st.global.take(now, st.o.GlobalBurst, st.o.GlobalEvery) {
		e.suppressed++
		return 0, false
	}
	n := e.suppressed
	e.suppressed = 0
	return n, true
}

// sweep, at most once per Every, returns summaries for the keys other than
// current that dropped records and may log again, and forgets the keys
// whose buckets are full again (a full bucket is what a new key gets).
func (st *state) sweep(now time.Time, current key) []summary {
	if now.Sub(st.swept) < st.o.Every {
		return nil
	}
	st.swept = now
	var out []summary
	for k, e := range st.keys {
		burst := st.burst(k.level)
		e.refill(now, burst, st.o.Every)
		switch {
		case e.suppressed == 0:
			if e.tokens >= float64(burst) {
				delete(st.keys, k)
			}
		case k != current && e.tokens >= 1 && st.global.take(now, st.o.GlobalBurst, st.o.GlobalEvery):
			e.tokens--
			out = append(out, summary{k, e.suppressed, now})
			e.suppressed = 0
		}
	}
	if st.overflow > 0 && st.global.take(now, st.o.GlobalBurst, st.o.GlobalEvery) {
		out = append(out, summary{key{slog.LevelWarn, OverflowMessage}, st.overflow, now})
		st.overflow = 0
	}
	return out
}

// emit writes summaries to the root handler, outside the lock, in the
// order of their level and message.
func (st *state) emit(ctx context.Context, summaries []summary) error {
	slices.SortFunc(summaries, func(a, b summary) int {
		return cmp.Or(cmp.Compare(a.k.level, b.k.level), cmp.Compare(a.k.msg, b.k.msg))
	})
	var errs []error
	for _, s := range summaries {
		if !st.root.Enabled(ctx, s.k.level) {
			continue
		}
		r := slog.NewRecord(s.time, s.k.level, s.k.msg, 0)
		r.AddAttrs(slog.Int("suppressed", s.n), slog.Bool("summary", true))
		errs = append(errs, st.root.Handle(ctx, r))
	}
	return errors.Join(errs...)
}
