package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/heliosdb/heliosproxy/status"
)

func TestSpecIsValid(t *testing.T) {
	sp := mustSpec(t) // loads and runs doc.Validate
	if sp.doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", sp.doc.OpenAPI)
	}
	// Every mutating operation needs the bearer token; no read does.
	for path, item := range sp.doc.Paths.Map() {
		for method, op := range item.Operations() {
			secured := op.Security != nil && len(*op.Security) > 0
			mutating := method != http.MethodGet
			if secured != mutating {
				t.Errorf("%s %s: security %v, want %v", method, path, secured, mutating)
			}
		}
	}
}

// TestRoutesMatchSpec walks the router: every route is in openapi.yaml and
// every operation of openapi.yaml is routed.
func TestRoutesMatchSpec(t *testing.T) {
	sp := mustSpec(t)
	s, err := newServer(newFakeProxy(), nil, Options{ListenAddress: "127.0.0.1:8080"})
	if err != nil {
		t.Fatal(err)
	}
	routed := map[string]bool{}
	err = chi.Walk(s.mux, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routed[method+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range sp.doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	for r := range routed {
		if !documented[r] {
			t.Errorf("route %s is not in openapi.yaml", r)
		}
	}
	for d := range documented {
		if !routed[d] {
			t.Errorf("openapi.yaml documents %s, which is not routed", d)
		}
	}
	if len(routed) < 12 {
		t.Errorf("only %d routes: %v", len(routed), routed)
	}
}

func TestNewRefusesNonLoopbackWithoutToken(t *testing.T) {
	tests := []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:8080", "", true},
		{"127.0.0.2:8080", "", true},
		{"localhost:8080", "", true},
		{"[::1]:8080", "", true},
		{"0.0.0.0:8080", "", false},
		{":8080", "", false},
		{"[::]:8080", "", false},
		{"10.1.2.3:8080", "", false},
		{"api.example.com:8080", "", false},
		{"", "", false},
		{"0.0.0.0:8080", testToken, true},
		{":8080", testToken, true},
	}
	for _, tt := range tests {
		h, err := New(newFakeProxy(), slog.New(slog.DiscardHandler), Options{ListenAddress: tt.addr, AdminToken: tt.token})
		if (err == nil) != tt.ok || (h != nil) != tt.ok {
			t.Errorf("New(listen %q, token set %v) = %v, %v; want ok %v", tt.addr, tt.token != "", h != nil, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "admin_token") {
			t.Errorf("New(%q): error %q does not say what to set", tt.addr, err)
		}
	}
}

func TestProbes(t *testing.T) {
	f := newFakeProxy()
	h := newHarness(t, f, Options{AdminToken: testToken})
	if resp, b := h.do(req{method: "GET", path: "/health"}); resp.StatusCode != 200 || !strings.Contains(string(b), `"ok"`) {
		t.Errorf("GET /health = %d %s", resp.StatusCode, b)
	}
	if resp, b := h.do(req{method: "GET", path: "/ready"}); resp.StatusCode != 200 || !strings.Contains(string(b), `"ready"`) {
		t.Errorf("GET /ready = %d %s, want 200 ready", resp.StatusCode, b)
	}
	f.set(func(f *fakeProxy) { f.notReady = true })
	if resp, b := h.do(req{method: "GET", path: "/ready"}); resp.StatusCode != 503 || !strings.Contains(string(b), `"reason":"no backend can take a session"`) {
		t.Errorf("GET /ready with no backend = %d %s, want 503 with the reason", resp.StatusCode, b)
	}
}

func TestStatus(t *testing.T) {
	f := newFakeProxy()
	h := newHarness(t, f, Options{AdminToken: testToken})

	resp, b := h.do(req{method: "GET", path: "/circuit-breaker/status"})
	if resp.StatusCode != 200 {
		t.Fatalf("GET /circuit-breaker/status = %d %s", resp.StatusCode, b)
	}
	var st struct {
		Backends  []map[string]any `json:"backends"`
		Timestamp string           `json:"timestamp"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if st.Timestamp != "2025-03-14T15:09:26.535Z" {
		t.Errorf("timestamp = %q, want the snapshot's time in RFC 3339", st.Timestamp)
	}
	if len(st.Backends) != 3 || st.Backends[0]["backend_name"] != "pg-a" || st.Backends[2]["backend_name"] != "pg-c" {
		t.Fatalf("backends = %v, want pg-a, pg-b, pg-c in order", st.Backends)
	}
	a, bb := st.Backends[0], st.Backends[1]
	if a["last_failure_time"] != nil || a["open_reason"] != nil || a["override"] != nil {
		t.Errorf("pg-a: last_failure_time, open_reason, override = %v, %v, %v; want null", a["last_failure_time"], a["open_reason"], a["override"])
	}
	if _, ok := a["override_reason"]; ok {
		t.Errorf("pg-a has override_reason without an override")
	}
	if bb["last_failure_time"] != "2025-03-14T15:09:24.535Z" || bb["open_reason"] != "latency_p95" || bb["circuit_state"] != "OPEN" {
		t.Errorf("pg-b = %v", bb)
	}

	// JSON has no NaN: a metric without data is 0, as in SQL.
	f.set(func(f *fakeProxy) {
		f.snap.Backends[2].LatencyP95Ms = math.NaN()
		f.snap.Backends[2].ErrorRate = math.Inf(1)
	})
	resp, b = h.do(req{method: "GET", path: "/circuit-breaker/status/pg-c"})
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"latency_p95_ms":0,`) || !strings.Contains(string(b), `"error_rate":0,`) {
		t.Errorf("NaN metrics = %d %s, want 0", resp.StatusCode, b)
	}

	resp, b = h.do(req{method: "GET", path: "/circuit-breaker/status/pg-c"})
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"backend_name":"pg-c"`) || !strings.Contains(string(b), `"read_only":true`) {
		t.Errorf("GET /circuit-breaker/status/pg-c = %d %s", resp.StatusCode, b)
	}
	resp, b = h.do(req{method: "GET", path: "/circuit-breaker/status/pg-x"})
	if e := errorBody(t, b); resp.StatusCode != 404 || !strings.Contains(e.Error, `"pg-x"`) {
		t.Errorf("GET /circuit-breaker/status/pg-x = %d %s, want 404 naming the backend", resp.StatusCode, b)
	}
}

func TestEventHistory(t *testing.T) {
	f := newFakeProxy()
	h := newHarness(t, f, Options{AdminToken: testToken})
	f.publish(status.Event{Type: status.CircuitOpened, Backend: "pg-b", From: status.Closed, To: status.Open, Reason: "latency_p95",
		Detail: "p95 700ms > 500ms", InPrevious: time.Hour, LatencyP95Ms: 700, ErrorRate: 0.02})
	f.publish(status.Event{Type: status.CascadeDetected, Backends: []string{"pg-a", "pg-b"}, Reason: "cascade"})
	f.publish(status.Event{Type: status.CircuitClosed, Backend: "pg-b", From: status.HalfOpen, To: status.Closed, RecoveryDuration: 31 * time.Second})
	f.publish(status.Event{Type: status.RecoveryFailed, Backend: "pg-c", From: status.HalfOpen, To: status.Open, Attempt: 2})

	var got eventsJSON
	resp, b := h.do(req{method: "GET", path: "/circuit-breaker/events"})
	if err := json.Unmarshal(b, &got); resp.StatusCode != 200 || err != nil || len(got.Events) != 4 {
		t.Fatalf("GET /circuit-breaker/events = %d %s", resp.StatusCode, b)
	}
	if got.Events[0].ID != 1 || got.Events[3].ID != 4 {
		t.Errorf("events not oldest first: %s", b)
	}
	if got.Events[1].BackendName != nil || len(got.Events[1].Backends) != 2 {
		t.Errorf("cascade event = %+v", got.Events[1])
	}
	if d := got.Events[2].RecoveryDurationMs; d == nil || *d != 31000 {
		t.Errorf("recovery_duration_ms = %v, want 31000", d)
	}

	resp, b = h.do(req{method: "GET", path: "/circuit-breaker/events?limit=2"})
	if err := json.Unmarshal(b, &got); resp.StatusCode != 200 || err != nil || len(got.Events) != 2 || got.Events[0].ID != 3 {
		t.Errorf("GET ?limit=2 = %d %s, want the last two", resp.StatusCode, b)
	}
	for _, bad := range []string{"0", "-1", "abc", "10001", "", "1.5"} {
		resp, b := h.do(req{method: "GET", path: "/circuit-breaker/events?limit=" + bad})
		if e := errorBody(t, b); resp.StatusCode != 400 || !strings.HasPrefix(e.Error, "limit:") {
			t.Errorf("GET ?limit=%s = %d %s, want 400 naming limit", bad, resp.StatusCode, b)
		}
	}
}

func TestOverride(t *testing.T) {
	f := newFakeProxy()
	h := newHarness(t, f, Options{AdminToken: testToken, Clock: func() time.Time { return t0 }})
	const path = "/circuit-breaker/backends/pg-a/override"

	resp, b := h.do(req{method: "PUT", path: path, body: `{"state":"OPEN","reason":"maintenance: reindex","ttl":"15m"}`,
		header: map[string]string{AuthorHeader: "alice"}})
	if resp.StatusCode != 200 {
		t.Fatalf("PUT override = %d %s", resp.StatusCode, b)
	}
	want := `{"backend_name":"pg-a","state":"OPEN","reason":"maintenance: reindex","author":"alice","created":"2025-03-14T15:09:26.535Z","expires":"2025-03-14T15:24:26.535Z"}` + "\n"
	if string(b) != want {
		t.Errorf("PUT override body\n got %s\nwant %s", b, want)
	}
	// Visible in the status.
	_, b = h.do(req{method: "GET", path: "/circuit-breaker/status/pg-a"})
	for _, s := range []string{`"override":"OPEN"`, `"override_reason":"maintenance: reindex"`, `"override_author":"alice"`, `"override_expires":"2025-03-14T15:24:26.535Z"`} {
		if !strings.Contains(string(b), s) {
			t.Errorf("status after override lacks %s: %s", s, b)
		}
	}

	// Without ttl and author: no expiry, author from the client address.
	resp, b = h.do(req{method: "PUT", path: path, body: `{"state":"CLOSED","reason":"  known good  ","ttl":null}`})
	var o overrideJSON
	if err := json.Unmarshal(b, &o); resp.StatusCode != 200 || err != nil || o.Expires != nil || o.Author != "api@127.0.0.1" || o.Reason != "known good" {
		t.Errorf("PUT override without ttl = %d %s", resp.StatusCode, b)
	}
	_, b = h.do(req{method: "GET", path: "/circuit-breaker/status/pg-a"})
	if !strings.Contains(string(b), `"override_expires":null`) {
		t.Errorf("status of an override without expiry: %s", b)
	}

	resp, b = h.do(req{method: "DELETE", path: path, header: map[string]string{AuthorHeader: "bob"}})
	if resp.StatusCode != 204 || len(b) != 0 {
		t.Errorf("DELETE override = %d %q, want 204", resp.StatusCode, b)
	}
	// Clearing again is fine.
	if resp, b := h.do(req{method: "DELETE", path: path}); resp.StatusCode != 204 {
		t.Errorf("second DELETE override = %d %s, want 204", resp.StatusCode, b)
	}
	evs := f.Events(0)
	if len(evs) != 3 || evs[2].Type != status.OverrideCleared || evs[2].Author != "bob" {
		t.Errorf("events = %+v, want two OverrideSet and one OverrideCleared by bob", evs)
	}

	// Unknown backend.
	for _, m := range []string{"PUT", "DELETE"} {
		resp, b := h.do(req{method: m, path: "/circuit-breaker/backends/pg-x/override", body: `{"state":"OPEN","reason":"x"}`})
		if e := errorBody(t, b); resp.StatusCode != 404 || !strings.Contains(e.Error, `"pg-x"`) {
			t.Errorf("%s unknown backend = %d %s, want 404", m, resp.StatusCode, b)
		}
	}
}

func TestOverrideBadRequests(t *testing.T) {
	f := newFakeProxy()
	h := newHarness(t, f, Options{AdminToken: testToken})
	const path = "/circuit-breaker/backends/pg-a/override"
	tests := []struct {
		name, body string
		header     map[string]string
		want       string // in the error message
	}{
		{"bad JSON", `{"state":"OPEN",`, nil, "invalid JSON"},
		{"bad JSON syntax", `{"state" "OPEN"}`, nil, "invalid JSON at byte"},
		{"empty body", ``, map[string]string{"Content-Type": "application/json"}, "request body required"},
		{"not an object", `["OPEN"]`, nil, "must be a JSON object"},
		{"two objects", `{"state":"OPEN","reason":"x"} {}`, nil, "single JSON object"},
		{"unknown field", `{"state":"OPEN","reason":"x","force":true}`, nil, `unknown field "force"`},
		{"state missing", `{"reason":"x"}`, nil, "state: required"},
		{"state lower case", `{"state":"open","reason":"x"}`, nil, `state: must be "OPEN" or "CLOSED", got "open"`},
		{"state HALF_OPEN", `{"state":"HALF_OPEN","reason":"x"}`, nil, "state: must be"},
		{"state not a string", `{"state":1,"reason":"x"}`, nil, "state: must be a string"},
		{"reason missing", `{"state":"OPEN"}`, nil, "reason: required"},
		{"reason blank", `{"state":"OPEN","reason":"   "}`, nil, "reason: required"},
		{"reason too long", `{"state":"OPEN","reason":"` + strings.Repeat("é", 501) + `"}`, nil, "reason: at most 500 characters, got 501"},
		{"reason with newline", `{"state":"OPEN","reason":"a\nb"}`, nil, "reason: must not contain control characters"},
		{"ttl not a duration", `{"state":"OPEN","reason":"x","ttl":"15 minutes"}`, nil, `ttl: must be a duration such as "15m"`},
		{"ttl without unit", `{"state":"OPEN","reason":"x","ttl":"15"}`, nil, "ttl: must be a duration"},
		{"ttl negative", `{"state":"OPEN","reason":"x","ttl":"-5m"}`, nil, "ttl: must be positive"},
		{"ttl zero", `{"state":"OPEN","reason":"x","ttl":"0s"}`, nil, "ttl: must be positive"},
		{"ttl too long", `{"state":"OPEN","reason":"x","ttl":"9000h"}`, nil, "ttl: at most 8760h0m0s"},
		{"ttl a number", `{"state":"OPEN","reason":"x","ttl":900}`, nil, "ttl: must be a string"},
		{"author too long", `{"state":"OPEN","reason":"x"}`, map[string]string{AuthorHeader: strings.Repeat("a", 101)}, "X-Helios-Author: at most 100 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := h.do(req{method: "PUT", path: path, body: tt.body, header: tt.header})
			e := errorBody(t, b)
			if resp.StatusCode != 400 || !strings.Contains(e.Error, tt.want) {
				t.Errorf("PUT %s = %d %s, want 400 with %q", tt.body, resp.StatusCode, b, tt.want)
			}
		})
	}
	// Every problem at once.
	resp, b := h.do(req{method: "PUT", path: path, body: `{"state":"shut","ttl":"soon"}`})
	if e := errorBody(t, b); resp.StatusCode != 400 || len(e.Details) != 3 {
		t.Errorf("PUT with three problems = %d %s, want 400 with three details", resp.StatusCode, b)
	}
	resp, b = h.do(req{method: "DELETE", path: path, header: map[string]string{AuthorHeader: strings.Repeat("a", 101)}})
	if resp.StatusCode != 400 {
		t.Errorf("DELETE with a bad author = %d %s, want 400", resp.StatusCode, b)
	}
	if o := f.lastSet; o.Backend != "" {
		t.Errorf("an invalid request reached the proxy: %+v", o)
	}
}

// mutations are the mutating endpoints with a valid request each.
var mutations = []req{
	{method: "PUT", path: "/circuit-breaker/backends/pg-a/override", body: `{"state":"OPEN","reason":"x"}`},
	{method: "DELETE", path: "/circuit-breaker/backends/pg-a/override"},
	{method: "POST", path: "/config/reload"},
	{method: "POST", path: "/alerts/test"},
	{method: "PUT", path: "/users/app/shop/override", body: `{"exempt":true,"reason":"x"}`},
	{method: "DELETE", path: "/users/app/shop/override"},
}

func TestAuth(t *testing.T) {
	f := newFakeProxy()
	h := newHarness(t, f, Options{AdminToken: testToken, AlertTest: func(context.Context) any { return map[string]string{} }})
	for _, m := range mutations {
		// No token, another scheme, a wrong token, a prefix of the token.
		for _, auth := range []string{"", "Basic " + testToken, "Bearer wrong", "Bearer " + testToken[:len(testToken)-1], "Bearer"} {
			r := m
			if auth == "" {
				r.noAuth = true
			} else {
				r.header = map[string]string{"Authorization": auth}
			}
			resp, b := h.do(r)
			if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s with Authorization %q = %d %s (WWW-Authenticate %q), want 401",
					m.method, m.path, auth, resp.StatusCode, b, resp.Header.Get("WWW-Authenticate"))
			}
		}
	}
	if f.lastSet.Backend != "" {
		t.Errorf("an unauthenticated override reached the proxy")
	}
	// The scheme is case-insensitive (RFC 7235).
	r := mutations[0]
	r.header = map[string]string{"Authorization": "bearer " + testToken}
	if resp, b := h.do(r); resp.StatusCode != 200 {
		t.Errorf("lower-case bearer = %d %s", resp.StatusCode, b)
	}
	// Reads need no token.
	if resp, _ := h.do(req{method: "GET", path: "/config", noAuth: true}); resp.StatusCode != 200 {
		t.Errorf("GET /config without a token = %d", resp.StatusCode)
	}
}

func TestNoTokenDisablesMutations(t *testing.T) {
	h := newHarness(t, newFakeProxy(), Options{ListenAddress: "127.0.0.1:8080"})
	for _, m := range mutations {
		resp, b := h.do(m)
		if resp.StatusCode != 403 || !strings.Contains(errorBody(t, b).Error, "admin_token") {
			t.Errorf("%s %s without a configured token = %d %s, want 403", m.method, m.path, resp.StatusCode, b)
		}
	}
}

func TestBodyLimitsAndContentType(t *testing.T) {
	h := newHarness(t, newFakeProxy(), Options{AdminToken: testToken})
	big := `{"state":"OPEN","reason":"` + strings.Repeat("x", maxBodyBytes) + `"}`
	for _, m := range mutations {
		r := m
		r.body = big
		if resp, b := h.do(r); resp.StatusCode != 413 {
			t.Errorf("%s %s with %d bytes = %d %s, want 413", m.method, m.path, len(big), resp.StatusCode, b)
		}
		r = m
		r.body = `state=OPEN`
		r.header = map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
		if resp, b := h.do(r); resp.StatusCode != 415 {
			t.Errorf("%s %s with a form body = %d %s, want 415", m.method, m.path, resp.StatusCode, b)
		}
	}
	// A chunked body of unknown length is cut at the limit too.
	resp, b := h.do(req{method: "PUT", path: mutations[0].path, bodyReader: io.MultiReader(strings.NewReader(big))})
	if resp.StatusCode != 413 {
		t.Errorf("chunked %d bytes = %d %s, want 413", len(big), resp.StatusCode, b)
	}
	// JSON with a charset parameter is JSON.
	resp, b = h.do(req{method: "PUT", path: mutations[0].path, body: mutations[0].body,
		header: map[string]string{"Content-Type": "application/json; charset=utf-8"}})
	if resp.StatusCode != 200 {
		t.Errorf("PUT with charset = %d %s", resp.StatusCode, b)
	}
}

func TestRateLimit(t *testing.T) {
	h := newHarness(t, newFakeProxy(), Options{AdminToken: testToken})
	for i := range mutationsPerMinute {
		if resp, b := h.do(mutations[0]); resp.StatusCode != 200 {
			t.Fatalf("request %d = %d %s", i+1, resp.StatusCode, b)
		}
	}
	for _, m := range mutations {
		resp, b := h.do(m)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s over the limit = %d %s, want 429 with Retry-After", m.method, m.path, resp.StatusCode, b)
		}
	}
	// Wrong tokens have their own budget, untouched by the right token.
	r := mutations[0]
	r.header = map[string]string{"Authorization": "Bearer guess"}
	if resp, b := h.do(r); resp.StatusCode != 401 {
		t.Errorf("guess after %d changes = %d %s, want 401", mutationsPerMinute, resp.StatusCode, b)
	}
	// Reads are not limited.
	if resp, _ := h.do(req{method: "GET", path: "/circuit-breaker/status"}); resp.StatusCode != 200 {
		t.Errorf("GET over the mutation limit = %d", resp.StatusCode)
	}
}

// TestGuessingDoesNotLockOutTheToken plays an attacker sharing the
// operator's address (same machine, same NAT) who guesses tokens: the
// guesses are throttled, the operator's right token keeps working.
func TestGuessingDoesNotLockOutTheToken(t *testing.T) {
	f := newFakeProxy()
	h := newHarness(t, f, Options{AdminToken: testToken})
	guess := mutations[0]
	guess.header = map[string]string{"Authorization": "Bearer guess-" + testToken[:4]}
	for i := range 40 {
		resp, b := h.do(guess)
		want := http.StatusUnauthorized
		if i >= mutationsPerMinute {
			want = http.StatusTooManyRequests
		}
		if resp.StatusCode != want {
			t.Fatalf("guess %d = %d %s, want %d", i+1, resp.StatusCode, b, want)
		}
		if want == http.StatusTooManyRequests && (resp.Header.Get("Retry-After") == "" || !strings.Contains(errorBody(t, b).Error, "bearer token")) {
			t.Errorf("guess %d: 429 without Retry-After or a reason: %v %s", i+1, resp.Header, b)
		}
	}
	if f.lastSet.Backend != "" {
		t.Fatalf("a guess reached the proxy: %+v", f.lastSet)
	}
	// The right token from the same address, on every mutating endpoint.
	for _, m := range mutations {
		if resp, b := h.do(m); resp.StatusCode >= 400 && resp.StatusCode != http.StatusNotImplemented {
			t.Errorf("%s %s with the right token after 40 guesses = %d %s, want success", m.method, m.path, resp.StatusCode, b)
		}
	}
	if f.lastSet.Backend != "pg-a" {
		t.Errorf("the override with the right token did not reach the proxy")
	}
	// The guesser is still throttled, with or without a token.
	noAuth := mutations[2]
	noAuth.noAuth = true
	for _, r := range []req{guess, noAuth} {
		if resp, b := h.do(r); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s after the right token = %d %s, want 429 with Retry-After", r.method, r.path, resp.StatusCode, b)
		}
	}
}

func TestReload(t *testing.T) {
	f := newFakeProxy()
	h := newHarness(t, f, Options{AdminToken: testToken})
	resp, b := h.do(req{method: "POST", path: "/config/reload"})
	want := `{"added":["pg-d"],"removed":[],"changed":["circuit_breaker.open_duration"],"restart_required":[]}` + "\n"
	if resp.StatusCode != 200 || string(b) != want {
		t.Errorf("POST /config/reload = %d %s, want 200 %s", resp.StatusCode, b, want)
	}
	f.set(func(f *fakeProxy) {
		f.reloadErr = errors.Join(
			errors.New("/etc/helios.toml:3: circuit_breaker.open_duration: must be positive, got 0s"),
			errors.Join(errors.New("/etc/helios.toml:9: backends.instances[0].port: must be 1..65535, got 0")),
		)
	})
	resp, b = h.do(req{method: "POST", path: "/config/reload", body: `{}`})
	e := errorBody(t, b)
	if resp.StatusCode != 400 || e.Error != "invalid configuration" || len(e.Details) != 2 || !strings.HasPrefix(e.Details[1], "/etc/helios.toml:9: ") {
		t.Errorf("invalid reload = %d %s, want 400 with both problems", resp.StatusCode, b)
	}
	// A single plain error is one detail.
	f.set(func(f *fakeProxy) { f.reloadErr = errors.New("open /etc/helios.toml: permission denied") })
	resp, b = h.do(req{method: "POST", path: "/config/reload"})
	if e := errorBody(t, b); resp.StatusCode != 400 || len(e.Details) != 1 {
		t.Errorf("unreadable file = %d %s", resp.StatusCode, b)
	}
}

func TestTimeouts(t *testing.T) {
	f := newFakeProxy()
	f.block = true
	h := newHarness(t, f, Options{AdminToken: testToken}, func(s *server) { s.timeout = 100 * time.Millisecond })
	for _, m := range mutations[:3] {
		start := time.Now()
		resp, b := h.do(m)
		if resp.StatusCode != 503 || !strings.Contains(errorBody(t, b).Error, "timed out") {
			t.Errorf("%s %s on a stuck proxy = %d %s, want 503", m.method, m.path, resp.StatusCode, b)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s %s took %v", m.method, m.path, d)
		}
	}
}

func TestEffectiveConfig(t *testing.T) {
	f := newFakeProxy()
	h := newHarness(t, f, Options{AdminToken: testToken})
	resp, b := h.do(req{method: "GET", path: "/config"})
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"admin_token":"[redacted]"`) {
		t.Errorf("GET /config = %d %s", resp.StatusCode, b)
	}
	f.set(func(f *fakeProxy) { f.config = []byte(`{"proxy":`) })
	if resp, b := h.do(req{method: "GET", path: "/config"}); resp.StatusCode != 500 {
		t.Errorf("GET /config with broken JSON = %d %s, want 500", resp.StatusCode, b)
	}
	f.set(func(f *fakeProxy) { f.config, f.configErr = nil, errors.New("boom") })
	resp, b = h.do(req{method: "GET", path: "/config"})
	if resp.StatusCode != 500 || strings.Contains(string(b), "boom") {
		t.Errorf("GET /config failing = %d %s, want 500 without the internal error", resp.StatusCode, b)
	}
}

func TestAlertTest(t *testing.T) {
	var called bool
	h := newHarness(t, newFakeProxy(), Options{AdminToken: testToken, AlertTest: func(ctx context.Context) any {
		called = true
		if _, ok := ctx.Deadline(); !ok {
			t.Errorf("alert test context has no deadline")
		}
		return map[string]any{"slack": map[string]any{"ok": true}, "pagerduty": map[string]any{"ok": false, "error": "HTTP 400"}}
	}})
	resp, b := h.do(req{method: "POST", path: "/alerts/test"})
	if resp.StatusCode != 200 || !called || !strings.Contains(string(b), `"pagerduty":{"error":"HTTP 400","ok":false}`) {
		t.Errorf("POST /alerts/test = %d %s", resp.StatusCode, b)
	}
	h2 := newHarness(t, newFakeProxy(), Options{AdminToken: testToken})
	if resp, b := h2.do(req{method: "POST", path: "/alerts/test"}); resp.StatusCode != 501 {
		t.Errorf("POST /alerts/test without alerting = %d %s, want 501", resp.StatusCode, b)
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	h := newHarness(t, newFakeProxy(), Options{AdminToken: testToken})
	for _, p := range []string{"/nope", "/circuit-breaker", "/circuit-breaker/status/pg-a/extra", "/api/v1/health"} {
		if resp, b := h.do(req{method: "GET", path: p}); resp.StatusCode != 404 {
			t.Errorf("GET %s = %d %s, want 404", p, resp.StatusCode, b)
		}
	}
	// Without a dashboard, / is a JSON 404 too.
	if resp, b := h.do(req{method: "GET", path: "/"}); resp.StatusCode != 404 {
		t.Errorf("GET / without a dashboard = %d %s, want 404", resp.StatusCode, b)
	}
	tests := []struct{ method, path, allow string }{
		{"POST", "/health", "GET, HEAD"},
		{"DELETE", "/circuit-breaker/status", "GET, HEAD"},
		{"GET", "/circuit-breaker/backends/pg-a/override", "PUT, DELETE"},
		{"POST", "/circuit-breaker/backends/pg-a/override", "PUT, DELETE"},
		{"GET", "/config/reload", "POST"},
		{"PUT", "/config", "GET, HEAD"},
		{"GET", "/alerts/test", "POST"},
		{"POST", "/events", "GET, HEAD"},
		{"OPTIONS", "/circuit-breaker/backends/pg-a/override", "PUT, DELETE"}, // no CORS preflight
	}
	for _, tt := range tests {
		resp, b := h.do(req{method: tt.method, path: tt.path})
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != tt.allow {
			t.Errorf("%s %s = %d (Allow %q) %s, want 405 with Allow %q", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Allow"), b, tt.allow)
		}
	}
}

func TestPanicRecovery(t *testing.T) {
	f := newFakeProxy()
	f.panics = true
	h := newHarness(t, f, Options{AdminToken: testToken})
	resp, b := h.do(req{method: "GET", path: "/circuit-breaker/status"})
	if resp.StatusCode != 500 || errorBody(t, b).Error != "internal error" {
		t.Errorf("panicking handler = %d %s, want 500", resp.StatusCode, b)
	}
	if !strings.Contains(h.logs.String(), "snapshot exploded") {
		t.Errorf("the panic is not logged")
	}
	// The server still serves.
	if resp, _ := h.do(req{method: "GET", path: "/health"}); resp.StatusCode != 200 {
		t.Errorf("after a panic GET /health = %d", resp.StatusCode)
	}
}

func TestDashboard(t *testing.T) {
	web := http.FileServerFS(fstest.MapFS{
		"index.html":     {Data: []byte("<!doctype html><title>HeliosProxy</title>")},
		"assets/app.js":  {Data: []byte("console.log('hi')")},
		"assets/app.css": {Data: []byte("body{}")},
	})
	h := newHarness(t, newFakeProxy(), Options{AdminToken: testToken, Web: web})
	resp, b := h.do(req{method: "GET", path: "/"})
	if resp.StatusCode != 200 || !strings.Contains(string(b), "HeliosProxy") || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("GET / = %d %s", resp.StatusCode, b)
	}
	// Assets are not API paths: fetch them directly.
	for _, p := range []string{"/assets/app.js", "/assets/app.css"} {
		resp, err := h.http.Client().Get(h.http.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) == 0 {
			t.Errorf("GET %s = %d %q", p, resp.StatusCode, b)
		}
	}
	// The dashboard's 404s are the API's JSON 404; API paths never reach it.
	for _, p := range []string{"/assets/missing.js", "/circuit-breaker/nope", "/events/x"} {
		if resp, b := h.do(req{method: "GET", path: p}); resp.StatusCode != 404 {
			t.Errorf("GET %s = %d %s, want 404", p, resp.StatusCode, b)
		}
	}
}

// TestNoSecretInLogs runs every endpoint with the token and checks the
// log (the harness checks every response and, at cleanup, the log).
func TestNoSecretInLogs(t *testing.T) {
	f := newFakeProxy()
	h := newHarness(t, f, Options{AdminToken: testToken, AlertTest: func(context.Context) any { return nil }})
	for _, m := range mutations {
		h.do(m)
		r := m
		r.header = map[string]string{"Authorization": "Bearer " + testToken + "x"} // a wrong token near the real one
		h.do(r)
	}
	for _, p := range []string{"/health", "/ready", "/circuit-breaker/status", "/circuit-breaker/events", "/config", "/nope?token=" + testToken[:8]} {
		h.do(req{method: "GET", path: p})
	}
	logs := h.logs.String()
	for _, s := range []string{testToken, testToken[:16], "Authorization", "Bearer"} {
		if strings.Contains(logs, s) {
			t.Errorf("log contains %q", s)
		}
	}
	// Every request is logged, with its status and client.
	var n int
	for line := range strings.Lines(logs) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == "http request" {
			n++
			for _, k := range []string{"method", "path", "status", "duration_ms", "client_addr"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("request log lacks %s: %s", k, line)
				}
			}
		}
	}
	if n != 2*len(mutations)+6 {
		t.Errorf("%d request log lines, want %d", n, 2*len(mutations)+6)
	}
}

func TestErrorBodyShape(t *testing.T) {
	// The error body always has details, so clients need no null check.
	h := newHarness(t, newFakeProxy(), Options{AdminToken: testToken})
	_, b := h.do(req{method: "GET", path: "/nope"})
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "details,error" {
		t.Errorf("error body keys = %v", keys)
	}
}
