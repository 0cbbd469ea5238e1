package api

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestHostPolicy(t *testing.T) {
	p := newHostPolicy([]string{"proxy.example.com", " Ops.Example.NET. ", ".corp.example", ""}, "api.internal:8080")
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1:8080", true},
		{"127.0.0.1", true},
		{"10.1.2.3:8080", true}, // any IP: a rebinding page's origin is a name
		{"[::1]:8080", true},
		{"[::1]", true},
		{"[fe80::1%25eth0]:8080", true},
		{"localhost:8080", true},
		{"LOCALHOST.", true},
		{"app.localhost:8080", true},
		{"api.internal:8080", true}, // the host of the listen address
		{"proxy.example.com", true},
		{"Proxy.Example.Com.:443", true},
		{"ops.example.net", true},
		{"corp.example", true},
		{"db.eu.corp.example:8080", true},
		{"", true}, // HTTP/1.0 without Host: not a browser
		{"evil.example", false},
		{"evil.example:8080", false},
		{"localhost.evil.example", false},
		{"127.0.0.1.evil.example", false},
		{"evilcorp.example", false},
		{"www.proxy.example.com", false},
		{"example.com", false},
		{"2130706433", false}, // not an IP literal a browser sends
		{"proxy.example.com:80:80", false},
	}
	for _, tt := range tests {
		if got := p.allows(tt.host); got != tt.want {
			t.Errorf("allows(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
	if p := newHostPolicy([]string{"*"}, "127.0.0.1:8080"); !p.allows("evil.example") {
		t.Errorf(`allowed_hosts = ["*"]: evil.example refused, want allowed`)
	}
	if p := newHostPolicy(nil, ":8080"); p.allows("evil.example") || !p.allows("localhost") {
		t.Errorf("listen on every interface: policy %+v", p)
	}
}

// TestDNSRebinding plays a page whose name was rebound to the API's
// address: the browser sends the page's name in Host. Every path, read or
// write, the dashboard and the event stream refuse it; the names the
// operator expects work.
func TestDNSRebinding(t *testing.T) {
	f := newFakeProxy()
	web := http.FileServerFS(fstest.MapFS{
		"index.html":    {Data: []byte("<!doctype html><title>HeliosProxy</title>")},
		"assets/app.js": {Data: []byte("console.log('hi')")},
	})
	h := newHarness(t, f, Options{AdminToken: testToken, Web: web, AllowedHosts: []string{"proxy.example.com"},
		AlertTest: func(context.Context) any { return map[string]string{} }})
	u, err := url.Parse(h.http.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(u.Host)

	for _, host := range []string{"evil.example", "evil.example:" + port, "localhost.evil.example:" + port} {
		resp, b := h.do(req{method: "GET", path: "/circuit-breaker/status", header: map[string]string{"Host": host}})
		e := errorBody(t, b)
		if resp.StatusCode != http.StatusMisdirectedRequest || !strings.Contains(e.Error, "is not served here") || len(e.Details) == 0 {
			t.Errorf("GET /circuit-breaker/status with Host %s = %d %s, want 421 with a JSON error", host, resp.StatusCode, b)
		}
		if strings.Contains(string(b), "pg-a") {
			t.Errorf("Host %s: the refusal shows the status: %s", host, b)
		}
	}
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "proxy.example.com:" + port, "proxy.example.com"} {
		resp, b := h.do(req{method: "GET", path: "/circuit-breaker/status", header: map[string]string{"Host": host}})
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"pg-a"`) {
			t.Errorf("GET /circuit-breaker/status with Host %s = %d %s, want 200", host, resp.StatusCode, b)
		}
		resp, b = h.do(req{method: "GET", path: "/", header: map[string]string{"Host": host}})
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "HeliosProxy") {
			t.Errorf("GET / with Host %s = %d %s, want the dashboard", host, resp.StatusCode, b)
		}
	}

	// Every documented operation refuses the rebound name, mutations even
	// with the right token.
	for path, item := range h.spec.doc.Paths.Map() {
		for method := range item.Operations() {
			p := strings.NewReplacer("{backend}", "pg-a", "{role}", "app", "{database}", "shop").Replace(path)
			r := req{method: method, path: p, header: map[string]string{"Host": "evil.example:" + port}}
			if method == http.MethodPut {
				r.body = `{"state":"OPEN","reason":"rebinding"}`
			}
			resp, b := h.do(r)
			if resp.StatusCode != http.StatusMisdirectedRequest {
				t.Errorf("%s %s with Host evil.example = %d %s, want 421", r.method, r.path, resp.StatusCode, b)
			}
		}
	}
	if f.lastSet.Backend != "" {
		t.Errorf("a rebound request reached the proxy: %+v", f.lastSet)
	}

	// Paths outside openapi.yaml: the dashboard's assets and unknown paths.
	for _, p := range []string{"/assets/app.js", "/nope"} {
		hr, err := http.NewRequest("GET", h.http.URL+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		hr.Host = "evil.example:" + port
		resp, err := h.http.Client().Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest || resp.Header.Get("Content-Type") != "application/json" || strings.Contains(string(b), "console.log") {
			t.Errorf("GET %s with Host evil.example = %d %s, want the JSON 421", p, resp.StatusCode, b)
		}
	}

	// The event stream serves the expected names only.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, b := h.do(req{method: "GET", path: "/events", header: map[string]string{"Host": "evil.example:" + port}})
	if resp.StatusCode != http.StatusMisdirectedRequest || f.subscribers() != 0 {
		t.Errorf("GET /events with Host evil.example = %d %s (%d subscribers), want 421 and no subscription", resp.StatusCode, b, f.subscribers())
	}
	openStream(t, ctx, h, map[string]string{"Host": "localhost:" + port}) // fails the test unless it streams
}

func TestAllowedHostsOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		host string
		want int
	}{
		{"star turns the check off", Options{AllowedHosts: []string{"*"}}, "evil.example", http.StatusOK},
		{"the listen address's name", Options{ListenAddress: "api.internal:8080", AdminToken: testToken}, "api.internal:8080", http.StatusOK},
		{"another name", Options{ListenAddress: "api.internal:8080", AdminToken: testToken}, "api.example.com", http.StatusMisdirectedRequest},
		{"a subdomain entry", Options{AllowedHosts: []string{".example.com"}}, "proxy.eu.example.com", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, newFakeProxy(), tt.o)
			resp, b := h.do(req{method: "GET", path: "/config", header: map[string]string{"Host": tt.host}})
			if resp.StatusCode != tt.want {
				t.Errorf("GET /config with Host %s = %d %s, want %d", tt.host, resp.StatusCode, b, tt.want)
			}
		})
	}
}

// TestCrossOriginChanges: a page of another origin cannot change anything,
// even holding the token; the dashboard (same origin) and clients other
// than browsers can.
func TestCrossOriginChanges(t *testing.T) {
	f := newFakeProxy()
	h := newHarness(t, f, Options{AdminToken: testToken})
	u, err := url.Parse(h.http.URL)
	if err != nil {
		t.Fatal(err)
	}
	put := mutations[0]
	for _, hd := range []map[string]string{
		{"Origin": "http://evil.example"},
		{"Origin": "null"},
		{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"},
		{"Sec-Fetch-Site": "same-site", "Origin": "http://dashboard.localhost:" + u.Port()},
	} {
		r := put
		r.header = hd
		if resp, b := h.do(r); resp.StatusCode != http.StatusForbidden || !strings.Contains(errorBody(t, b).Error, "cross-origin") {
			t.Errorf("PUT override with %v = %d %s, want 403", hd, resp.StatusCode, b)
		}
	}
	if f.lastSet.Backend != "" {
		t.Fatalf("a cross-origin change reached the proxy: %+v", f.lastSet)
	}
	for _, hd := range []map[string]string{
		nil, // curl
		{"Origin": h.http.URL},
		{"Sec-Fetch-Site": "same-origin", "Origin": h.http.URL},
	} {
		r := put
		r.header = hd
		if resp, b := h.do(r); resp.StatusCode != http.StatusOK {
			t.Errorf("PUT override with %v = %d %s, want 200", hd, resp.StatusCode, b)
		}
	}
	// Reads stay open (a browser keeps other origins from reading them).
	if resp, b := h.do(req{method: "GET", path: "/health", header: map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}}); resp.StatusCode != http.StatusOK {
		t.Errorf("cross-origin GET /health = %d %s, want 200", resp.StatusCode, b)
	}
}
