package web_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
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

	// statusDown makes GET /circuit-breaker/status answer 503.
	statusDown atomic.Bool
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
	mux.HandleFunc("GET /events", f.stream)
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
