package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAddr(t *testing.T) {
	tests := []struct {
		listen string
		port   int
		want   string
	}{
		{"127.0.0.1:6432", 9090, "127.0.0.1:9090"},
		{"0.0.0.0:5432", 9090, "0.0.0.0:9090"},
		{":5432", 9100, ":9100"},
		{"[::1]:6432", 9090, "[::1]:9090"},
		{"db-proxy.internal:6432", 9090, "db-proxy.internal:9090"},
		{"127.0.0.1:6432", 0, "127.0.0.1:0"},
	}
	for _, tt := range tests {
		got, err := Addr(tt.listen, tt.port)
		if err != nil || got != tt.want {
			t.Errorf("Addr(%q, %d) = %q, %v, want %q", tt.listen, tt.port, got, err, tt.want)
		}
	}
	for _, bad := range []struct {
		listen string
		port   int
	}{{"6432", 9090}, {"127.0.0.1:6432", 70000}} {
		if got, err := Addr(bad.listen, bad.port); err == nil {
			t.Errorf("Addr(%q, %d) = %q, want an error", bad.listen, bad.port, got)
		}
	}
}

func TestServe(t *testing.T) {
	m := New(&source{snap: threeBackends()}, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, ln) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `helios_circuit_breaker_state{backend="replica2"} 2`) {
		t.Errorf("GET /metrics = %d\n%s", resp.StatusCode, body)
	}
	resp, err = http.Post("http://"+ln.Addr().String()+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics = %d, want 405", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("listener still accepts after Serve returned")
	}
}
