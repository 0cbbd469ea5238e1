package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// circuit is the part of a backend in GET /circuit-breaker/status that the
// suite reads.
type circuit struct {
	Name   string `json:"backend_name"`
	State  string `json:"circuit_state"`
	Active int    `json:"active_connections"`
}

// event is the part of GET /circuit-breaker/events that the suite reads.
type event struct {
	ID      uint64  `json:"id"`
	Type    string  `json:"event_type"`
	Backend *string `json:"backend_name"`
	Reason  *string `json:"reason"`
}

// recentEvents is how many of the proxy's last events the suite reads
// after an attack: more than any attack causes.
const recentEvents = 500

// request sends an API request and returns the status code and body.
func (e *env) request(ctx context.Context, method, path string, edit func(*http.Request), body string) (int, []byte, error) {
	if e.api == "" {
		return 0, nil, errNeedsAPI
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+e.api+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if edit != nil {
		edit(req)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, b, err
}

// getJSON decodes the 200 answer of GET path into v.
func (e *env) getJSON(ctx context.Context, path string, v any) error {
	code, b, err := e.request(ctx, http.MethodGet, path, nil, "")
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, code, strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(b, v)
}

// circuits reads every backend's circuit.
func (e *env) circuits(ctx context.Context) ([]circuit, error) {
	var st struct {
		Backends []circuit `json:"backends"`
	}
	err := e.getJSON(ctx, "/circuit-breaker/status", &st)
	return st.Backends, err
}

// activeConnections is the sum of the backends' active_connections.
func (e *env) activeConnections(ctx context.Context) (int, error) {
	cs, err := e.circuits(ctx)
	n := 0
	for _, c := range cs {
		n += c.Active
	}
	return n, err
}

// events reads the proxy's recent events, oldest first.
func (e *env) events(ctx context.Context) ([]event, error) {
	var evs struct {
		Events []event `json:"events"`
	}
	err := e.getJSON(ctx, fmt.Sprintf("/circuit-breaker/events?limit=%d", recentEvents), &evs)
	return evs.Events, err
}

// ready is what GET /ready says: its status code (0 when unreachable)
// and, for the report, the code with the reason when not ready.
func (e *env) ready(ctx context.Context) (int, string) {
	code, b, err := e.request(ctx, http.MethodGet, "/ready", nil, "")
	if err != nil {
		return 0, "unreachable (" + err.Error() + ")"
	}
	var st struct {
		Reason string `json:"reason"`
	}
	if json.Unmarshal(b, &st) == nil && st.Reason != "" {
		return code, fmt.Sprintf("%d (%s)", code, st.Reason)
	}
	return code, fmt.Sprint(code)
}
