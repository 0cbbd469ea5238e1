package api

import (
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// TestHeadLikeGet: HEAD is answered wherever GET is, with GET's status and
// headers and no body (RFC 9110 §9.3.2: every general-purpose server
// supports it), against a proxy in front of a real PostgreSQL. curl -I,
// uptime checkers and load balancers probe with it. Before, every HEAD
// answered 405 with Allow: GET, so a HEAD health check marked a healthy
// proxy down.
func TestHeadLikeGet(t *testing.T) {
	pg := pgtest.New(t, pgtest.Options{Name: "api-head", Auth: "scram-sha-256", Password: pgPassword})
	dir := t.TempDir()
	path := filepath.Join(dir, "helios.toml")
	proxyConfigFile(t, path, filepath.Join(dir, "state"), []*pgtest.Cluster{pg}, "")
	p, _ := runProxy(t, path, &syncBuffer{})
	h := newHarness(t, p, Options{AdminToken: testToken, ListenAddress: "127.0.0.1:8080"})
	eventually(t, 10*time.Second, "pg-a ready", func() bool { ok, _ := p.Ready(); return ok })

	send := func(method, path string) (*http.Response, []byte) {
		t.Helper()
		hr, err := http.NewRequest(method, h.http.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := h.http.Client().Do(hr)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	for _, p := range []string{"/health", "/ready", "/circuit-breaker/status/pg-a", "/circuit-breaker/status/pg-x", "/config", "/nope"} {
		get, body := send("GET", p)
		head, none := send("HEAD", p)
		if head.StatusCode != get.StatusCode || len(none) != 0 {
			t.Errorf("HEAD %s = %d with %d bytes; GET = %d: want GET's status and no body", p, head.StatusCode, len(none), get.StatusCode)
		}
		for _, k := range []string{"Content-Type", "Cache-Control", "X-Content-Type-Options"} {
			if head.Header.Get(k) != get.Header.Get(k) {
				t.Errorf("HEAD %s: %s = %q, GET's %q", p, k, head.Header.Get(k), get.Header.Get(k))
			}
		}
		if get.StatusCode == 200 { // an error names the method
			if cl := head.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
				t.Errorf("HEAD %s: Content-Length %q, GET's body has %d bytes", p, cl, len(body))
			}
		}
	}
	// The event stream's headers, and the request ends.
	if resp, b := send("HEAD", "/events"); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || len(b) != 0 {
		t.Errorf("HEAD /events = %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(b))
	}
	// A wrong method still answers 405, and Allow names HEAD beside GET.
	if resp, _ := send("POST", "/health"); resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /health = %d, Allow %q; want 405, \"GET, HEAD\"", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if resp, _ := send("HEAD", "/config/reload"); resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("HEAD /config/reload = %d, Allow %q; want 405, \"POST\"", resp.StatusCode, resp.Header.Get("Allow"))
	}
}
