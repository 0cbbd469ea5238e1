package api

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// sseEvent is one server-sent event as read from the wire.
type sseEvent struct {
	id, event, data string
	comment         string
}

// sseReader reads server-sent events from a stream.
type sseReader struct {
	sc *bufio.Scanner
}

// next returns the next event or comment block.
func (r *sseReader) next() (sseEvent, error) {
	var ev sseEvent
	any := false
	for r.sc.Scan() {
		line := r.sc.Text()
		if line == "" {
			if any {
				return ev, nil
			}
			continue
		}
		any = true
		switch {
		case strings.HasPrefix(line, ":"):
			ev.comment = strings.TrimSpace(line[1:])
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.data += line[6:]
		}
	}
	if err := r.sc.Err(); err != nil {
		return ev, err
	}
	return ev, io.EOF
}

// nextEvent skips comments.
func (r *sseReader) nextEvent() (sseEvent, error) {
	for {
		ev, err := r.next()
		if err != nil || ev.event != "" {
			return ev, err
		}
	}
}

// openStream GETs /events and checks the response against openapi.yaml;
// it returns after the ": connected" comment, when the subscription is
// live.
func openStream(t *testing.T, ctx context.Context, h *harness, header map[string]string) (*http.Response, *sseReader) {
	t.Helper()
	hr, err := http.NewRequestWithContext(ctx, "GET", h.http.URL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	setHeaders(hr, header)
	resp, err := h.http.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	h.check(hr, resp, nil)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("GET /events = %d %s", resp.StatusCode, ct)
	}
	r := &sseReader{sc: bufio.NewScanner(resp.Body)}
	first, err := r.next()
	if err != nil || first.comment != "connected" {
		t.Fatalf("first block = %+v, %v; want the connected comment", first, err)
	}
	return resp, r
}

func TestEventStream(t *testing.T) {
	f := newFakeProxy()
	h := newHarness(t, f, Options{AdminToken: testToken})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reqCtx, endRequest := context.WithCancel(ctx)
	_, stream := openStream(t, reqCtx, h, nil)

	f.publish(status.Event{Type: status.CircuitOpened, Backend: "pg-b", From: status.Closed, To: status.Open, Reason: "hard_failure",
		Detail: "3 consecutive connection failures", InPrevious: 90 * time.Second})
	ev, err := stream.nextEvent()
	if err != nil {
		t.Fatal(err)
	}
	if ev.event != "CircuitOpened" || ev.id != "1" {
		t.Errorf("event = %+v", ev)
	}
	if err := h.spec.validateSchema("Event", []byte(ev.data)); err != nil {
		t.Errorf("event data does not match the Event schema: %v\n%s", err, ev.data)
	}
	if !strings.Contains(ev.data, `"in_previous_state_ms":90000`) {
		t.Errorf("data = %s", ev.data)
	}

	// An override set through the API arrives on the stream.
	resp, b := h.do(req{method: "PUT", path: "/circuit-breaker/backends/pg-c/override", body: `{"state":"CLOSED","reason":"verified by hand"}`,
		header: map[string]string{AuthorHeader: "carol"}})
	if resp.StatusCode != 200 {
		t.Fatalf("PUT override = %d %s", resp.StatusCode, b)
	}
	ev, err = stream.nextEvent()
	if err != nil || ev.event != "OverrideSet" || !strings.Contains(ev.data, `"author":"carol"`) {
		t.Errorf("after PUT override: %+v, %v", ev, err)
	}
	if err := h.spec.validateSchema("Event", []byte(ev.data)); err != nil {
		t.Errorf("event data does not match the Event schema: %v", err)
	}

	// The handler ends with the request: the subscription goes away.
	endRequest()
	deadline := time.Now().Add(5 * time.Second)
	for f.subscribers() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stream's subscription outlived the request")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEventStreamHeartbeatAndReplay(t *testing.T) {
	f := newFakeProxy()
	h := newHarness(t, f, Options{AdminToken: testToken}, func(s *server) { s.heartbeat = 50 * time.Millisecond })
	for _, typ := range []status.EventType{status.CircuitOpened, status.CircuitHalfOpened, status.CircuitClosed} {
		f.publish(status.Event{Type: typ, Backend: "pg-b"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A client that saw event 1 gets 2 and 3 first, then live ones.
	_, stream := openStream(t, ctx, h, map[string]string{"Last-Event-ID": "1"})
	for _, want := range []string{"2", "3"} {
		if ev, err := stream.nextEvent(); err != nil || ev.id != want {
			t.Fatalf("replayed event = %+v, %v; want id %s", ev, err, want)
		}
	}
	// Heartbeats keep an idle stream alive.
	ev, err := stream.next()
	if err != nil || ev.comment != "heartbeat" {
		t.Errorf("idle stream sent %+v, %v; want a heartbeat", ev, err)
	}
	f.publish(status.Event{Type: status.RecoveryFailed, Backend: "pg-b", Attempt: 1})
	if ev, err := stream.nextEvent(); err != nil || ev.id != "4" || ev.event != "RecoveryFailed" {
		t.Errorf("live event = %+v, %v", ev, err)
	}

	// A Last-Event-ID from before a restart (beyond the newest) replays nothing.
	_, stream2 := openStream(t, ctx, h, map[string]string{"Last-Event-ID": "99"})
	f.publish(status.Event{Type: status.CircuitClosed, Backend: "pg-b"})
	if ev, err := stream2.nextEvent(); err != nil || ev.id != "5" {
		t.Errorf("after a stale Last-Event-ID: %+v, %v; want id 5", ev, err)
	}
}

// TestEventStreamEndsAtShutdown serves the API the way cmd does: an
// http.Server whose BaseContext ends at shutdown ends the stream.
func TestEventStreamEndsAtShutdown(t *testing.T) {
	f := newFakeProxy()
	handler, err := New(f, nil, Options{ListenAddress: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveCtx, stop := context.WithCancel(context.Background())
	srv := &http.Server{Handler: handler, BaseContext: func(net.Listener) context.Context { return serveCtx }}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := &sseReader{sc: bufio.NewScanner(resp.Body)}
	if ev, err := r.next(); err != nil || ev.comment != "connected" {
		t.Fatalf("first block = %+v, %v", ev, err)
	}

	stop()
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		t.Errorf("Shutdown: %v (the stream held the server)", err)
	}
	if err := <-done; err != http.ErrServerClosed {
		t.Errorf("Serve: %v", err)
	}
	if _, err := r.next(); err != io.EOF {
		t.Errorf("stream after shutdown: %v, want EOF", err)
	}
	if n := f.subscribers(); n != 0 {
		t.Errorf("%d subscriptions left", n)
	}
}
