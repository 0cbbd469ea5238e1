package api

import (
	"context"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// History keeps recent per-backend metrics sampled from Snapshots, so that
// GET /circuit-breaker/history (and the dashboard, the moment it opens)
// can show what happened before anyone looked. It is bounded: Retention /
// Interval samples per backend, each a fixed 24 bytes (five float32 and
// the state, padded), plus 8 bytes per sample for the shared timestamp.
// At the defaults (1 s for 15 min: 900 samples) that is 21.6 KB per
// backend, 21.6 MB at 1,000 backends, allocated when a backend first
// appears and never grown.
//
// Every backend of one Record shares its timestamp, and a backend's
// samples run without gaps from the Record it first appeared in to the
// newest: a backend missing from a Snapshot (removed by a reload) loses its
// history, and one that comes back starts afresh.
//
// A History is safe for concurrent use. Its zero value is not usable; see
// NewHistory.
type History struct {
	interval time.Duration
	size     int // samples kept per backend

	mu     sync.Mutex
	times  []int64 // ring of sample times, Unix milliseconds, by seq % size
	seq    uint64  // number of Records so far; the next one's sequence number
	series map[string]*series
	order  []string // backend names in the latest Snapshot's order
}

// series is one backend's ring of samples, indexed like History.times.
type series struct {
	first   uint64 // sequence number of its oldest sample still meaningful
	samples []sample
}

// sample is one backend at one instant. float32 keeps 7 significant
// digits, more than a latency percentile or a ratio carries.
type sample struct {
	p50, p95, p99 float32 // milliseconds
	errorRate     float32 // 0..1
	trafficShare  float32 // 0..1
	state         status.CircuitState
}

// sampleBytes is the size of a sample (checked by a test), for the memory
// bound in History's doc comment.
const sampleBytes = 24

// Default sampling of a History (documented in openapi.yaml).
const (
	DefaultHistoryInterval  = time.Second
	DefaultHistoryRetention = 15 * time.Minute
)

// maxHistoryPoints bounds one history response: backends × samples. A
// request that would return more gets a coarser step (see
// resolveStep); at the default sampling that keeps full resolution up to
// 111 backends.
const maxHistoryPoints = 100_000

// NewHistory returns a History that keeps retention worth of samples
// taken every interval; zero or negative values take the defaults
// (DefaultHistoryInterval, DefaultHistoryRetention). Retention is rounded
// down to whole intervals, at least one.
func NewHistory(interval, retention time.Duration) *History {
	if interval <= 0 {
		interval = DefaultHistoryInterval
	}
	if retention <= 0 {
		retention = DefaultHistoryRetention
	}
	size := max(int(retention/interval), 1)
	return &History{
		interval: interval,
		size:     size,
		times:    make([]int64, size),
		series:   make(map[string]*series),
	}
}

// Interval is the time between samples that Run takes.
func (h *History) Interval() time.Duration { return h.interval }

// Retention is how far back the History reaches once full.
func (h *History) Retention() time.Duration { return time.Duration(h.size) * h.interval }

// Run records snapshot() now and then every Interval until ctx ends; it
// returns when it has stopped. The caller owns the goroutine that runs it
// and waits for it.
func (h *History) Run(ctx context.Context, snapshot func() status.Snapshot) {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		h.Record(snapshot(), time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Record adds one sample of every backend in snap, taken at now (snap.Taken
// when it is set). Backends absent from snap lose their history. A time
// before the newest sample's is moved up to it, so that times never go
// backwards (a clock step back on the host).
func (h *History) Record(snap status.Snapshot, now time.Time) {
	if !snap.Taken.IsZero() {
		now = snap.Taken
	}
	t := now.UnixMilli()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seq > 0 {
		t = max(t, h.times[(h.seq-1)%uint64(h.size)])
	}
	i := h.seq % uint64(h.size)
	h.times[i] = t
	seen := make(map[string]bool, len(snap.Backends))
	h.order = h.order[:0]
	for _, b := range snap.Backends {
		if seen[b.Name] {
			continue
		}
		seen[b.Name] = true
		h.order = append(h.order, b.Name)
		s := h.series[b.Name]
		if s == nil {
			s = &series{first: h.seq, samples: make([]sample, h.size)}
			h.series[b.Name] = s
		}
		s.samples[i] = sample{
			p50:          float32(finite(b.LatencyP50Ms)),
			p95:          float32(finite(b.LatencyP95Ms)),
			p99:          float32(finite(b.LatencyP99Ms)),
			errorRate:    float32(finite(b.ErrorRate)),
			trafficShare: float32(finite(b.TrafficShare)),
			state:        b.CircuitState,
		}
	}
	for name := range h.series {
		if !seen[name] {
			delete(h.series, name)
		}
	}
	h.seq++
}

// historyQuery is what a client asks of the History.
type historyQuery struct {
	backends []string      // nil: all, in the latest Snapshot's order
	since    time.Time     // zero: everything kept
	step     time.Duration // 0: Interval; otherwise a multiple of it
}

// query returns the kept samples of q.backends at or after q.since,
// aggregated into buckets of q.step (coarsened so that the answer holds at
// most maxHistoryPoints points). A bucket holds the highest latencies and
// error rate of its samples, their mean traffic share and the worst state
// (OPEN, then HALF_OPEN, then CLOSED), so that a short outage survives
// coarsening. Names it keeps no history of are left out and returned in
// unknown.
func (h *History) query(q historyQuery) (out historyJSON, unknown []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	names := q.backends
	if names == nil {
		names = h.order
	}
	n := min(h.seq, uint64(h.size)) // samples kept
	oldest := h.seq - n
	// First sequence number at or after since.
	from := oldest
	if !q.since.IsZero() {
		ms := q.since.UnixMilli()
		for from < h.seq && h.times[from%uint64(h.size)] < ms {
			from++
		}
	}
	type named struct {
		name string
		*series
	}
	var picked []named
	for _, name := range names {
		s := h.series[name]
		if s == nil {
			unknown = append(unknown, name)
			continue
		}
		picked = append(picked, named{name, s})
	}
	per := int(max(q.step, h.interval) / h.interval)
	if count := int(h.seq-from) * len(picked); count > 0 {
		per = max(per, (count+maxHistoryPoints-1)/maxHistoryPoints)
	}
	buckets := (int(h.seq-from) + per - 1) / per
	out = historyJSON{
		IntervalMs:  h.interval.Milliseconds(),
		StepMs:      (time.Duration(per) * h.interval).Milliseconds(),
		RetentionMs: h.Retention().Milliseconds(),
		Timestamps:  make([]int64, buckets),
		Backends:    make([]historySeriesJSON, 0, len(picked)),
	}
	// Buckets are aligned to the newest sample, so that the latest one is
	// always whole; the oldest may be partial. Bucket k holds the
	// sequence numbers [start(k), end(k)).
	end := func(k int) uint64 { return h.seq - uint64((buckets-k-1)*per) }
	start := func(k int) uint64 { return uint64(max(int64(h.seq)-int64((buckets-k)*per), int64(from))) }
	for k := range buckets {
		out.Timestamps[k] = h.times[start(k)%uint64(h.size)]
	}
	for _, s := range picked {
		js := historySeriesJSON{
			BackendName:  s.name,
			CircuitState: make(stateColumn, buckets),
			P50:          make(floatColumn, buckets),
			P95:          make(floatColumn, buckets),
			P99:          make(floatColumn, buckets),
			ErrorRate:    make(floatColumn, buckets),
			TrafficShare: make(floatColumn, buckets),
		}
		for k := range buckets {
			var agg sample
			var shareSum float64
			got := 0
			for seq := max(start(k), s.first); seq < end(k); seq++ {
				v := s.samples[seq%uint64(h.size)]
				agg.p50 = max(agg.p50, v.p50)
				agg.p95 = max(agg.p95, v.p95)
				agg.p99 = max(agg.p99, v.p99)
				agg.errorRate = max(agg.errorRate, v.errorRate)
				shareSum += float64(v.trafficShare)
				agg.state = worse(agg.state, v.state)
				got++
			}
			if got == 0 {
				// Before the backend appeared: null.
				nan := float32(math.NaN())
				js.P50[k], js.P95[k], js.P99[k], js.ErrorRate[k], js.TrafficShare[k] = nan, nan, nan, nan, nan
				continue
			}
			js.CircuitState[k] = agg.state
			js.P50[k], js.P95[k], js.P99[k] = agg.p50, agg.p95, agg.p99
			js.ErrorRate[k] = agg.errorRate
			js.TrafficShare[k] = float32(shareSum / float64(got))
		}
		out.Backends = append(out.Backends, js)
	}
	return out, unknown
}

// worse returns the more serious of two states: OPEN, then HALF_OPEN, then
// CLOSED, then NoState.
func worse(a, b status.CircuitState) status.CircuitState {
	rank := func(s status.CircuitState) int {
		switch s {
		case status.Open:
			return 3
		case status.HalfOpen:
			return 2
		case status.Closed:
			return 1
		}
		return 0
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// historyJSON is GET /circuit-breaker/history: columns that share one time
// axis.
type historyJSON struct {
	IntervalMs  int64               `json:"interval_ms"`
	StepMs      int64               `json:"step_ms"`
	RetentionMs int64               `json:"retention_ms"`
	Timestamps  []int64             `json:"timestamps"` // Unix ms, oldest first
	Backends    []historySeriesJSON `json:"backends"`
}

// historySeriesJSON is one backend's columns, as long as Timestamps; null
// before the backend appeared. Names are the SQL columns'.
type historySeriesJSON struct {
	BackendName  string      `json:"backend_name"`
	CircuitState stateColumn `json:"circuit_state"`
	P50          floatColumn `json:"latency_p50_ms"`
	P95          floatColumn `json:"latency_p95_ms"`
	P99          floatColumn `json:"latency_p99_ms"`
	ErrorRate    floatColumn `json:"error_rate"`
	TrafficShare floatColumn `json:"traffic_share"`
}

// floatColumn is a JSON array of numbers in float32's shortest form, NaN
// as null. One MarshalJSON per column, not per number, keeps a 100,000
// point answer cheap.
type floatColumn []float32

func (c floatColumn) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+len(c)*6)
	b = append(b, '[')
	for i, v := range c {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, float64(v), 'f', -1, 32)
	}
	return append(b, ']'), nil
}

// stateColumn is a JSON array of circuit states, NoState as null.
type stateColumn []status.CircuitState

func (c stateColumn) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+len(c)*9)
	b = append(b, '[')
	for i, s := range c {
		if i > 0 {
			b = append(b, ',')
		}
		switch s {
		case status.Closed, status.Open, status.HalfOpen:
			b = append(b, '"')
			b = append(b, s.String()...)
			b = append(b, '"')
		default:
			b = append(b, "null"...)
		}
	}
	return append(b, ']'), nil
}
