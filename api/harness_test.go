package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/heliosdb/heliosproxy/status"
)

// testToken is the admin token of the tests; it must never appear in a
// response or a log line.
const testToken = "hx-test-admin-token-9f2c71d4e0b8a653"

// t0 is the fixed time of the fake proxy.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535000000, time.UTC)

// spec is openapi.yaml, loaded and validated once.
type spec struct {
	doc    *openapi3.T
	router routers.Router
}

var loadSpec = sync.OnceValues(func() (*spec, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile("../openapi.yaml")
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapi.yaml is invalid: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route openapi.yaml: %w", err)
	}
	return &spec{doc: doc, router: router}, nil
})

func mustSpec(t testing.TB) *spec {
	t.Helper()
	sp, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// validateSchema checks a decoded JSON value against a component schema.
func (sp *spec) validateSchema(name string, body []byte) error {
	ref := sp.doc.Components.Schemas[name]
	if ref == nil {
		return fmt.Errorf("no schema %s", name)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("body is not JSON: %v: %q", err, body)
	}
	return ref.Value.VisitJSON(v)
}

// seen records every (method, spec path, status) the tests observed, so
// that TestMain can check every documented response was exercised.
var seen = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

func opKey(method, path, code string) string { return method + " " + path + " " + code }

func TestMain(m *testing.M) {
	code := m.Run()
	// Only a full run can have exercised everything.
	if f := flag.Lookup("test.run"); code == 0 && (f == nil || f.Value.String() == "") {
		if missing := unexercised(); len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "documented responses no test exercised:\n  %s\n", strings.Join(missing, "\n  "))
			code = 1
		}
	}
	os.Exit(code)
}

// unexercised lists the documented responses no test saw. A 500 only
// needs to be seen once anywhere: it comes from the shared recovery
// middleware, not from each handler.
func unexercised() []string {
	sp, err := loadSpec()
	if err != nil {
		return []string{err.Error()}
	}
	seen.Lock()
	defer seen.Unlock()
	var missing []string
	saw500 := false
	for k := range seen.m {
		saw500 = saw500 || strings.HasSuffix(k, " 500")
	}
	if !saw500 {
		missing = append(missing, "any 500")
	}
	for path, item := range sp.doc.Paths.Map() {
		for method, op := range item.Operations() {
			for code := range op.Responses.Map() {
				if code == "500" {
					continue
				}
				if !seen.m[opKey(method, path, code)] {
					missing = append(missing, opKey(method, path, code))
				}
			}
		}
	}
	sort.Strings(missing)
	return missing
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness serves an API over real HTTP and checks every response against
// openapi.yaml and for the admin token.
type harness struct {
	t    testing.TB
	spec *spec
	srv  *server
	http *httptest.Server
	logs *syncBuffer
}

// newHarness starts the API for c with o; o.AdminToken defaults to
// testToken unless noToken. setup may change the server before it serves.
func newHarness(t testing.TB, c Controller, o Options, setup ...func(*server)) *harness {
	t.Helper()
	h := &harness{t: t, spec: mustSpec(t), logs: &syncBuffer{}}
	if o.ListenAddress == "" {
		o.ListenAddress = "127.0.0.1:8080"
	}
	log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if uc, ok := c.(UserController); ok && o.Users == nil {
		o.Users = uc
	}
	s, err := newServer(c, log, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, f := range setup {
		f(s)
	}
	s.mux = s.routes()
	h.srv = s
	h.http = httptest.NewServer(s.mux)
	t.Cleanup(func() {
		h.http.Close()
		if strings.Contains(h.logs.String(), testToken) {
			t.Errorf("the admin token appears in the log:\n%s", h.logs.String())
		}
		if testing.Verbose() {
			t.Logf("api log:\n%s", h.logs.String())
		}
	})
	return h
}

// req describes one request.
type req struct {
	method, path string
	body         string            // sent as application/json unless header says otherwise
	header       map[string]string // "Authorization": "" removes the default bearer token
	noAuth       bool              // send no Authorization header
	bodyReader   io.Reader         // instead of body: sent chunked, length unknown
}

// do sends r (with the bearer token unless r.noAuth) and validates the
// response against openapi.yaml with undocumented status codes failing.
func (h *harness) do(r req) (*http.Response, []byte) {
	h.t.Helper()
	var body io.Reader
	switch {
	case r.bodyReader != nil:
		body = r.bodyReader
	case r.body != "":
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequest(r.method, h.http.URL+r.path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if !r.noAuth {
		hr.Header.Set("Authorization", "Bearer "+testToken)
	}
	setHeaders(hr, r.header)
	resp, err := h.http.Client().Do(hr)
	if err != nil {
		h.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read body: %v", r.method, r.path, err)
	}
	h.check(hr, resp, b)
	return resp, b
}

// setHeaders sets header on hr; "Host" becomes hr.Host, which is what the
// client sends (it ignores a Host in hr.Header).
func setHeaders(hr *http.Request, header map[string]string) {
	for k, v := range header {
		if k == "Host" {
			hr.Host = v
			continue
		}
		hr.Header.Set(k, v)
	}
}

// check validates one response.
func (h *harness) check(hr *http.Request, resp *http.Response, body []byte) {
	h.t.Helper()
	what := hr.Method + " " + hr.URL.RequestURI()
	if strings.Contains(string(body), testToken) || strings.Contains(fmt.Sprint(resp.Header), testToken) {
		h.t.Errorf("%s: the admin token appears in the response", what)
	}
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		h.t.Errorf("%s: X-Content-Type-Options = %q, want nosniff", what, got)
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode >= 300 && ct != "application/json" {
		h.t.Errorf("%s: status %d with Content-Type %q, want application/json", what, resp.StatusCode, ct)
	}

	route, params, err := h.spec.router.FindRoute(hr)
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		if resp.StatusCode != http.StatusNotFound {
			h.t.Errorf("%s: path not in openapi.yaml, yet status %d", what, resp.StatusCode)
		}
		if err := h.spec.validateSchema("Error", body); err != nil {
			h.t.Errorf("%s: 404 body does not match Error: %v", what, err)
		}
		return
	case errors.Is(err, routers.ErrMethodNotAllowed):
		if resp.StatusCode != http.StatusMethodNotAllowed {
			h.t.Errorf("%s: method not in openapi.yaml, yet status %d", what, resp.StatusCode)
		}
		if resp.Header.Get("Allow") == "" {
			h.t.Errorf("%s: 405 without Allow", what)
		}
		if err := h.spec.validateSchema("Error", body); err != nil {
			h.t.Errorf("%s: 405 body does not match Error: %v", what, err)
		}
		return
	case err != nil:
		h.t.Fatalf("%s: FindRoute: %v", what, err)
	}
	opts := &openapi3filter.Options{
		IncludeResponseStatus: true,
		MultiError:            true,
		// Only JSON bodies are validated (the event stream and the
		// dashboard are not JSON).
		ExcludeResponseBody: ct != "application/json",
	}
	in := &openapi3filter.RequestValidationInput{Request: hr, PathParams: params, Route: route, Options: opts}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                opts,
	}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		h.t.Errorf("%s: response %d does not match openapi.yaml: %v\nbody: %s", what, resp.StatusCode, err, body)
	}
	seen.Lock()
	seen.m[opKey(hr.Method, route.Path, fmt.Sprint(resp.StatusCode))] = true
	seen.Unlock()
}

// errorBody decodes an error response.
func errorBody(t testing.TB, b []byte) errorJSON {
	t.Helper()
	var e errorJSON
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error body %q: %v", b, err)
	}
	return e
}

// fakeProxy is a Controller for tests that need no PostgreSQL: a fixed
// snapshot, an event log and overrides applied to the snapshot.
type fakeProxy struct {
	mu        sync.Mutex
	snap      status.Snapshot
	events    []status.Event
	subs      map[chan status.Event]struct{}
	notReady  bool
	reloadErr error
	config    []byte
	configErr error
	block     bool // override and reload calls wait for their context
	panics    bool // Snapshot panics
	lastSet   status.Override
	users     []status.UserBreaker
	userOvs   map[string]status.UserOverride // by role/database
}

func newFakeProxy() *fakeProxy {
	return &fakeProxy{
		subs: map[chan status.Event]struct{}{},
		snap: status.Snapshot{Taken: t0, Backends: []status.Backend{
			{
				Name: "pg-a", Host: "10.0.0.1", Port: 5432, Priority: 1, Weight: 1,
				CircuitState: status.Closed, LatencyP50Ms: 1.25, LatencyP95Ms: 4.5, LatencyP99Ms: 9.75,
				ErrorRate: 0.01, ConnectionSaturation: 0.2, TrafficShare: 0.75,
				ActiveConnections: 3, MaxConnections: 100, StateSince: t0.Add(-time.Hour),
				RampFactor: 1, RequestsTotal: 1000, FailuresTotal: 10, SuccessesTotal: 990,
				TransitionsTotal: 2,
			},
			{
				Name: "pg-b", Host: "10.0.0.2", Port: 5433, Priority: 1, Weight: 2,
				CircuitState: status.Open, LatencyP95Ms: 700, LatencyP99Ms: 2500, ErrorRate: 0.5,
				LastFailureTime: t0.Add(-2 * time.Second), StateSince: t0.Add(-time.Second),
				OpenReason: "latency_p95", TrafficShare: 0, RequestsTotal: 50, FailuresTotal: 25,
				RejectedTotal: 7, TransitionsTotal: 1, QueueDepth: 1,
			},
			{
				Name: "pg-c", Host: "replica.example", Port: 5432, Priority: 2, Weight: 1, ReadOnly: true,
				CircuitState: status.HalfOpen, StateSince: t0.Add(-time.Minute), OpenReason: "hard_failure",
				TrafficShare: 0.25, ActiveConnections: 1, RampFactor: 0.1, ReplicationLagMs: 120,
			},
		}},
		config: []byte(`{"proxy":{"listen_address":"127.0.0.1:6432"},"api":{"listen_address":"127.0.0.1:8080","admin_token":"[redacted]"}}`),
	}
}

func (f *fakeProxy) Snapshot() status.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panics {
		panic("fake proxy: snapshot exploded")
	}
	s := f.snap
	s.Backends = slices.Clone(s.Backends)
	return s
}

func (f *fakeProxy) Events(limit int) []status.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	if limit <= 0 || limit > len(f.events) {
		limit = len(f.events)
	}
	return slices.Clone(f.events[len(f.events)-limit:])
}

func (f *fakeProxy) Subscribe(ctx context.Context) <-chan status.Event {
	ch := make(chan status.Event, 16)
	f.mu.Lock()
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	context.AfterFunc(ctx, func() {
		f.mu.Lock()
		delete(f.subs, ch)
		f.mu.Unlock()
		close(ch)
	})
	return ch
}

func (f *fakeProxy) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// publish numbers ev, keeps it and sends it to subscribers; f.mu is held.
func (f *fakeProxy) publishLocked(ev status.Event) {
	ev.ID = uint64(len(f.events) + 1)
	if ev.Time.IsZero() {
		ev.Time = t0
	}
	f.events = append(f.events, ev)
	for ch := range f.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

func (f *fakeProxy) publish(ev status.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.publishLocked(ev)
}

func (f *fakeProxy) backend(name string) *status.Backend {
	for i := range f.snap.Backends {
		if f.snap.Backends[i].Name == name {
			return &f.snap.Backends[i]
		}
	}
	return nil
}

func (f *fakeProxy) SetOverride(ctx context.Context, o status.Override) error {
	if f.isBlocking() {
		<-ctx.Done()
		return fmt.Errorf("set override: %w", ctx.Err())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.backend(o.Backend)
	if b == nil {
		return fmt.Errorf("set override on %q: %w", o.Backend, status.ErrUnknownBackend)
	}
	f.lastSet = o
	b.Override, b.OverrideReason, b.OverrideAuthor, b.OverrideExpires = o.State, o.Reason, o.Author, o.Expires
	b.CircuitState = o.State
	f.publishLocked(status.Event{Type: status.OverrideSet, Backend: o.Backend, To: o.State, Reason: "override", Detail: o.Reason, Author: o.Author})
	return nil
}

func (f *fakeProxy) ClearOverride(ctx context.Context, backend, author string) error {
	if f.isBlocking() {
		<-ctx.Done()
		return fmt.Errorf("clear override: %w", ctx.Err())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.backend(backend)
	if b == nil {
		return fmt.Errorf("clear override on %q: %w", backend, status.ErrUnknownBackend)
	}
	if b.Override != status.NoState {
		b.Override, b.OverrideReason, b.OverrideAuthor, b.OverrideExpires = status.NoState, "", "", time.Time{}
		f.publishLocked(status.Event{Type: status.OverrideCleared, Backend: backend, Author: author})
	}
	return nil
}

func (f *fakeProxy) Reload(ctx context.Context) (status.ReloadResult, error) {
	if f.isBlocking() {
		<-ctx.Done()
		return status.ReloadResult{}, fmt.Errorf("reload: %w", ctx.Err())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reloadErr != nil {
		return status.ReloadResult{}, f.reloadErr
	}
	f.publishLocked(status.Event{Type: status.ConfigReloaded, Detail: "added pg-d"})
	return status.ReloadResult{Added: []string{"pg-d"}, Changed: []string{"circuit_breaker.open_duration"}}, nil
}

func (f *fakeProxy) EffectiveConfig() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.config, f.configErr
}

func (f *fakeProxy) Ready() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.notReady {
		return false, "no backend can take a session"
	}
	return true, ""
}

func (f *fakeProxy) isBlocking() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.block
}

func (f *fakeProxy) set(fn func(f *fakeProxy)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeProxy) Users() []status.UserBreaker {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]status.UserBreaker(nil), f.users...)
}

func (f *fakeProxy) UserOverrides() []status.UserOverride {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []status.UserOverride
	for _, o := range f.userOvs {
		out = append(out, o)
	}
	return out
}

func (f *fakeProxy) SetUserOverride(ctx context.Context, o status.UserOverride) error {
	if f.isBlocking() {
		<-ctx.Done()
		return fmt.Errorf("set user override: %w", ctx.Err())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.userOvs == nil {
		f.userOvs = map[string]status.UserOverride{}
	}
	f.userOvs[o.Role+"/"+o.Database] = o
	return nil
}

func (f *fakeProxy) ClearUserOverride(ctx context.Context, role, db, author string) (bool, error) {
	if f.isBlocking() {
		<-ctx.Done()
		return false, fmt.Errorf("clear user override: %w", ctx.Err())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.userOvs[role+"/"+db]
	delete(f.userOvs, role+"/"+db)
	return ok, nil
}
