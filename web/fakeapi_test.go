package web_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/web"
)

// fakeAPI serves the dashboard and a scripted imitation of the REST API
// with any number of backends, for tests of the page itself (scale, error
// display) that need no proxy.
type fakeAPI struct {
	*httptest.Server
	token string

	mu       sync.Mutex
	backends []map[string]any
	nextID   int
	subs     map[chan string]bool
	history  []json.RawMessage // events, oldest first
	drop     chan struct{}     // closed to end every open stream
	requests []fakeRequest     // mutating requests, in order
	done     chan struct{}     // closed when the test ends: ends event streams

	// recorded is the metric history the server kept before the page
	// opened (GET /circuit-breaker/history); nil answers 501.
	recorded *fakeHistory

	// statusDown makes GET /circuit-breaker/status answer 503.
	statusDown atomic.Bool

	// patterns are GET /circuit-breaker/query-breakers' patterns.
	patterns []map[string]any
	// users are GET /users' roles.
	users []map[string]any
	// cluster is the body of GET /cluster/status; nil: a lone proxy's
	// (empty lists).
	cluster map[string]any
}

type fakeRequest struct {
	Method, Path, Authorization, Author string
	Body                                map[string]any
}

func newFakeAPI(t *testing.T, n int) *fakeAPI {
	t.Helper()
	f := &fakeAPI{token: "fake-token", subs: map[chan string]bool{}, done: make(chan struct{}), drop: make(chan struct{})}
	start := time.Now().Add(-90 * time.Minute)
	for i := range n {
		f.backends = append(f.backends, map[string]any{
			"backend_name": fmt.Sprintf("backend-%03d", i), "circuit_state": "CLOSED",
			"host": fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), "port": 5432, "priority": 1 + i%2, "weight": 1.0,
			"read_only": i%3 == 2, "traffic_share": 1 / float64(n), "active_connections": i % 17,
			"max_connections": 100, "queue_depth": 0, "state_since": start.Add(time.Duration(i) * time.Minute).Format(time.RFC3339Nano),
			"open_reason": nil, "override": nil, "override_reason": nil, "override_author": nil, "override_expires": nil,
			"last_failure_time": nil, "error_rate": 0.0, "connection_saturation": float64(i%17) / 100,
			"requests_total": 1000 * i, "failures_total": i, "rejected_total": 0, "transitions_total": 0,
			"replication_lag_ms": 0.0, "ramp_factor": 1.0,
		})
	}
	mux := http.NewServeMux()
	mux.Handle("/", web.Handler())
	mux.HandleFunc("GET /circuit-breaker/status", f.status)
	mux.HandleFunc("GET /circuit-breaker/events", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"events": f.history})
	})
	mux.HandleFunc("GET /circuit-breaker/history", f.metricHistory)
	mux.HandleFunc("GET /circuit-breaker/query-breakers", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"patterns": append([]map[string]any{}, f.patterns...), "timestamp": time.Now().UTC().Format(time.RFC3339Nano)})
	})
	mux.HandleFunc("GET /users", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"users": append([]map[string]any{}, f.users...), "overrides": []any{}, "timestamp": time.Now().UTC().Format(time.RFC3339Nano)})
	})
	mux.HandleFunc("GET /events", f.stream)
	mux.HandleFunc("GET /cluster/status", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		body := f.cluster
		if body == nil {
			body = map[string]any{"members": []any{}, "circuits": []any{}, "disagreements": []any{},
				"config_hashes": map[string]any{}, "warnings": []any{}, "timestamp": time.Now().UTC()}
		}
		writeJSON(w, http.StatusOK, body)
	})
	mux.HandleFunc("PUT /circuit-breaker/backends/{name}/override", f.override)
	mux.HandleFunc("DELETE /circuit-breaker/backends/{name}/override", f.override)
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	t.Cleanup(func() { close(f.done) }) // runs first: streams end, so Close returns
	return f
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (f *fakeAPI) status(w http.ResponseWriter, r *http.Request) {
	if f.statusDown.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "scripted outage", "details": []string{}})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// Latencies wander with time so that the charts have something to show.
	s := float64(time.Now().UnixMilli()) / 4000
	for i, b := range f.backends {
		base := 2 + float64(i%7)
		b["latency_p50_ms"] = base + math.Sin(s+float64(i))
		b["latency_p95_ms"] = 3*base + 2*math.Sin(s/2+float64(i))
		b["latency_p99_ms"] = 6*base + 4*math.Cos(s/3+float64(i))
	}
	writeJSON(w, http.StatusOK, map[string]any{"backends": f.backends, "timestamp": time.Now().UTC().Format(time.RFC3339Nano)})
}

func (f *fakeAPI) stream(w http.ResponseWriter, r *http.Request) {
	ch := make(chan string, 16)
	f.mu.Lock()
	f.subs[ch] = true
	drop := f.drop
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.subs, ch)
		f.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	fmt.Fprint(w, ": connected\nretry: 300\n\n")
	rc.Flush()
	for {
		select {
		case msg := <-ch:
			fmt.Fprint(w, msg)
			rc.Flush()
		case <-r.Context().Done():
			return
		case <-f.done:
			return
		case <-drop:
			return
		}
	}
}

// dropStreams ends every open event stream, as a restarting server would;
// browsers reconnect.
func (f *fakeAPI) dropStreams() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.drop)
	f.drop = make(chan struct{})
}

// subscribers says how many event streams are open.
func (f *fakeAPI) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// transition changes a backend's state and announces it on the event
// streams, as the real API does.
func (f *fakeAPI) transition(name, to, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now().UTC()
	var from any
	for _, b := range f.backends {
		if b["backend_name"] == name {
			from = b["circuit_state"]
			b["circuit_state"], b["state_since"] = to, now.Format(time.RFC3339Nano)
			b["open_reason"] = reason
			b["last_failure_time"] = now.Format(time.RFC3339Nano)
		}
	}
	f.nextID++
	typ := map[string]string{"OPEN": "CircuitOpened", "HALF_OPEN": "CircuitHalfOpened", "CLOSED": "CircuitClosed"}[to]
	data, _ := json.Marshal(map[string]any{"id": f.nextID, "event_type": typ, "event_time": now.Format(time.RFC3339Nano),
		"backend_name": name, "from_state": from, "to_state": to, "reason": reason,
		"detail": "3 consecutive failed health checks", "author": nil})
	f.history = append(f.history, data)
	for ch := range f.subs {
		select {
		case ch <- fmt.Sprintf("id: %d\nevent: %s\ndata: %s\n\n", f.nextID, typ, data):
		default:
		}
	}
}

func (f *fakeAPI) override(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	req := fakeRequest{Method: r.Method, Path: r.URL.Path, Authorization: r.Header.Get("Authorization"),
		Author: r.Header.Get("X-Helios-Author")}
	if r.Method == http.MethodPut {
		if err := json.NewDecoder(r.Body).Decode(&req.Body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid JSON", "details": []string{err.Error()}})
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, req)
	if req.Authorization != "Bearer "+f.token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid bearer token", "details": []string{}})
		return
	}
	if ttl, _ := req.Body["ttl"].(string); ttl == "48h" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "ttl: at most 24h, got \"48h\"",
			"details": []string{"ttl: at most 24h, got \"48h\"", "reason: scripted second problem"}})
		return
	}
	for _, b := range f.backends {
		if b["backend_name"] != name {
			continue
		}
		if r.Method == http.MethodDelete {
			b["override"], b["override_reason"], b["override_author"], b["override_expires"] = nil, nil, nil, nil
			w.WriteHeader(http.StatusNoContent)
			return
		}
		state, _ := req.Body["state"].(string)
		b["override"], b["override_reason"], b["override_author"] = state, req.Body["reason"], req.Author
		if b["circuit_state"] != state {
			b["circuit_state"], b["state_since"] = state, time.Now().UTC().Format(time.RFC3339Nano)
		}
		b["open_reason"] = map[string]any{"OPEN": "override", "CLOSED": nil}[state]
		if ttl, ok := req.Body["ttl"].(string); ok {
			if d, err := time.ParseDuration(ttl); err == nil {
				b["override_expires"] = time.Now().Add(d).UTC().Format(time.RFC3339)
			}
		}
		writeJSON(w, http.StatusOK, b)
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]any{"error": fmt.Sprintf("unknown backend %q", name), "details": []string{}})
}

// mutations returns the mutating requests received so far.
func (f *fakeAPI) mutations() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.requests...)
}

// fakeHistory is a metric history as the real API answers it: one time
// axis, one column per metric and backend.
type fakeHistory struct {
	Timestamps []int64                    `json:"timestamps"`
	Backends   []map[string]any           `json:"backends"`
	requests   []string                   // queries received
	spikes     map[string]map[int]float64 // backend → point → p95
}

// recordHistory fills f's history with n points 1 s apart ending now:
// every backend's p95 sits at 50 ms (p50 a quarter, p99 1.2 times
// it) except at the given spikes, where the circuit is OPEN.
func (f *fakeAPI) recordHistory(n int, spikes map[string]map[int]float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := &fakeHistory{spikes: spikes}
	now := time.Now().Add(-2 * time.Second)
	for k := range n {
		h.Timestamps = append(h.Timestamps, now.Add(time.Duration(k-n+1)*time.Second).UnixMilli())
	}
	for _, b := range f.backends {
		name := b["backend_name"].(string)
		p50, p95, p99, states := make([]float64, n), make([]float64, n), make([]float64, n), make([]string, n)
		for k := range n {
			p95[k], states[k] = 50, "CLOSED"
			if v, ok := spikes[name][k]; ok {
				p95[k], states[k] = v, "OPEN"
			}
			p50[k], p99[k] = p95[k]/4, p95[k]*1.2
		}
		h.Backends = append(h.Backends, map[string]any{"backend_name": name, "circuit_state": states,
			"latency_p50_ms": p50, "latency_p95_ms": p95, "latency_p99_ms": p99, "error_rate": make([]float64, n), "traffic_share": make([]float64, n)})
	}
	f.recorded = h
}

func (f *fakeAPI) metricHistory(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.recorded == nil {
		writeJSON(w, http.StatusNotImplemented, map[string]any{"error": "no metric history is kept in this process", "details": []string{}})
		return
	}
	f.recorded.requests = append(f.recorded.requests, r.URL.RawQuery)
	out := map[string]any{"interval_ms": 1000, "step_ms": 1000, "retention_ms": 900000, "timestamps": f.recorded.Timestamps}
	var bs []map[string]any
	for _, b := range f.recorded.Backends {
		if names, ok := r.URL.Query()["backend"]; ok && !slices.Contains(names, b["backend_name"].(string)) {
			continue
		}
		bs = append(bs, b)
	}
	out["backends"] = bs
	writeJSON(w, http.StatusOK, out)
}

// historyRequests returns the queries of the history requests so far.
func (f *fakeAPI) historyRequests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.recorded == nil {
		return nil
	}
	return append([]string(nil), f.recorded.requests...)
}

// recordEvent adds a transition to the event history at time at, without
// announcing it (it happened before the page opened).
func (f *fakeAPI) recordEvent(name, typ, from, to string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	data, _ := json.Marshal(map[string]any{"id": f.nextID, "event_type": typ, "event_time": at.UTC().Format(time.RFC3339Nano),
		"backend_name": name, "from_state": from, "to_state": to, "reason": "hard_failure", "detail": nil, "author": nil})
	f.history = append(f.history, data)
}
