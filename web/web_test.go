package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heliosdb/heliosproxy/web"
)

func TestHandlerServesEmbeddedFiles(t *testing.T) {
	h := web.Handler()
	tests := []struct {
		path     string
		wantType string
		contains string
	}{
		{"/", "text/html", `<script src="app.js" defer></script>`},
		{"/index.html", "text/html", `id="backends"`},
		{"/app.js", "javascript", "circuit-breaker/status"},
		{"/style.css", "text/css", ".card"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
		res := rec.Result()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", tt.path, res.StatusCode)
			continue
		}
		if ct := res.Header.Get("Content-Type"); !strings.Contains(ct, tt.wantType) {
			t.Errorf("GET %s: Content-Type %q, want %s", tt.path, ct, tt.wantType)
		}
		if !strings.Contains(string(body), tt.contains) {
			t.Errorf("GET %s: body lacks %q", tt.path, tt.contains)
		}
		for _, k := range []string{"ETag", "Content-Security-Policy", "X-Content-Type-Options"} {
			if res.Header.Get(k) == "" {
				t.Errorf("GET %s: no %s header", tt.path, k)
			}
		}
		if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", tt.path, cc)
		}
	}
}

func TestHandlerRevalidates(t *testing.T) {
	h := web.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/app.js", nil))
	etag := rec.Header().Get("ETag")
	req := httptest.NewRequest(http.MethodGet, "/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("GET /app.js with If-None-Match %s: status %d, want 304", etag, rec.Code)
	}
}

func TestHandlerRejects(t *testing.T) {
	h := web.Handler()
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/nope.js", http.StatusNotFound},
		{http.MethodGet, "/static/app.js", http.StatusNotFound},
		{http.MethodGet, "/../web.go", http.StatusNotFound},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
		{http.MethodHead, "/", http.StatusOK},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.want {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, rec.Code, tt.want)
		}
	}
}

// TestPageLoadsNothingExternal keeps the dashboard self-contained: no CDN,
// no absolute URL the browser would fetch.
func TestPageLoadsNothingExternal(t *testing.T) {
	h := web.Handler()
	for _, p := range []string{"/", "/app.js", "/style.css"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		body := rec.Body.String()
		for _, bad := range []string{"http://", "https://", "//cdn", "@import"} {
			// The SVG namespace is an identifier, not a fetch.
			if strings.Contains(strings.ReplaceAll(body, "http://www.w3.org/2000/svg", ""), bad) {
				t.Errorf("%s contains %q", p, bad)
			}
		}
	}
}
