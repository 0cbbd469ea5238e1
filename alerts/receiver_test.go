package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// receiver stands in for Slack or PagerDuty: it records every request and
// answers from its script, then with its fallback (by default success:
// Slack's 200 "ok", PagerDuty's 202 with JSON).
type receiver struct {
	kind     string // "slack" or "pagerduty"
	mu       sync.Mutex
	script   []reply
	fallback reply
	reqs     chan request
	release  chan struct{} // closed by stop: ends every hang
	stopOnce sync.Once
}

type reply struct {
	status     int    // 0: success
	retryAfter string // Retry-After header, when not empty
	hang       bool   // wait until stop or the request's end, then answer success
}

type request struct {
	At   time.Time
	Path string
	Raw  string
	Body map[string]any
}

func newReceiver(kind string, script ...reply) *receiver {
	return &receiver{kind: kind, script: script, reqs: make(chan request, 1000), release: make(chan struct{})}
}

func (r *receiver) stop() { r.stopOnce.Do(func() { close(r.release) }) }

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	raw, _ := io.ReadAll(req.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	r.mu.Lock()
	rp := r.fallback
	if len(r.script) > 0 {
		rp, r.script = r.script[0], r.script[1:]
	}
	r.mu.Unlock()
	r.reqs <- request{At: time.Now(), Path: req.URL.Path, Raw: string(raw), Body: body}
	if rp.hang {
		select {
		case <-r.release:
			rp = reply{}
		case <-req.Context().Done():
			return
		}
	}
	if rp.retryAfter != "" {
		w.Header().Set("Retry-After", rp.retryAfter)
	}
	ok := rp.status == 0 || rp.status/100 == 2
	if r.kind == "pagerduty" {
		if rp.status == 0 {
			rp.status = http.StatusAccepted
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rp.status)
		if ok {
			fmt.Fprintf(w, `{"status":"success","message":"Event processed","dedup_key":%q}`, body["dedup_key"])
		} else {
			fmt.Fprint(w, `{"status":"invalid event","message":"Event object is invalid","errors":["something"]}`)
		}
		return
	}
	if rp.status == 0 {
		rp.status = http.StatusOK
	}
	w.WriteHeader(rp.status)
	if ok {
		io.WriteString(w, "ok")
	} else {
		io.WriteString(w, "invalid_payload")
	}
}

// next waits for the next request; the timeout only turns a bug into a
// failure instead of a hung test.
func (r *receiver) next(t *testing.T) request {
	t.Helper()
	select {
	case q := <-r.reqs:
		return q
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no request arrived", r.kind)
		return request{}
	}
}

// drain returns the requests recorded so far (for synctest, after
// synctest.Wait).
func (r *receiver) drain() []request {
	var out []request
	for {
		select {
		case q := <-r.reqs:
			out = append(out, q)
		default:
			return out
		}
	}
}

// serve puts r behind a real local HTTP server.
func serve(t *testing.T, r *receiver) string {
	s := httptest.NewServer(r)
	t.Cleanup(s.Close)
	t.Cleanup(r.stop) // runs first: a hanging handler must end before Close
	return s.URL
}

// handlerTransport calls a handler in memory, so that tests inside a
// synctest bubble have no real network (which would keep the bubble's
// clock from advancing).
type handlerTransport struct{ h http.Handler }

func (ht handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	ht.h.ServeHTTP(rec, req)
	req.Body.Close()
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	return rec.Result(), nil
}

const (
	slackSecret = "XOXB-SECRET-TOKEN-123"
	pdSecret    = "PDKEY-SECRET-456"
)

// memChannels returns Slack and PagerDuty channels talking to receivers
// in memory.
func memChannels(slackR, pdR *receiver) []Channel {
	return []Channel{
		NewSlack(SlackConfig{WebhookURL: "https://hooks.slack.invalid/services/T0/B0/" + slackSecret,
			HTTPClient: &http.Client{Transport: handlerTransport{slackR}}}),
		NewPagerDuty(PagerDutyConfig{RoutingKey: pdSecret, EventsURL: "https://events.pagerduty.invalid",
			HTTPClient: &http.Client{Transport: handlerTransport{pdR}}}),
	}
}

// netChannels returns Slack and PagerDuty channels talking to receivers
// over real local HTTP.
func netChannels(t *testing.T, slackR, pdR *receiver) []Channel {
	cfg := Config{
		SlackWebhookURL:     serve(t, slackR) + "/services/T0/B0/" + slackSecret,
		PagerDutyRoutingKey: pdSecret,
		PagerDutyEventsURL:  serve(t, pdR),
	}
	return cfg.Channels()
}

// start runs d until the returned stop is called (also at cleanup); stop
// returns Run's error.
func start(t *testing.T, d *Dispatcher, events <-chan status.Event) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, events) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func bufferLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// field reads a nested field of a JSON body: field(body, "payload", "severity").
func field(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}
