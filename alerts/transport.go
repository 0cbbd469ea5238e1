package alerts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// exchange records what the receiver answered to one attempt. The
// libraries hide parts of it (go-pagerduty drops the Retry-After header,
// and treats a 2xx answer without a JSON body as an error), so the
// channels' HTTP clients use a recordingTransport that fills it in.
type exchange struct {
	mu         sync.Mutex
	status     int
	retryAfter time.Duration
	err        error // the transport's error, when there was no answer
}

func (x *exchange) get() (status int, retryAfter time.Duration, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.status, x.retryAfter, x.err
}

type exchangeKey struct{}

// withExchange returns a context whose requests record their answer in
// the returned exchange.
func withExchange(ctx context.Context) (context.Context, *exchange) {
	x := &exchange{}
	return context.WithValue(ctx, exchangeKey{}, x), x
}

// recordingTransport fills in the exchange of the request's context.
type recordingTransport struct{ base http.RoundTripper }

func (t recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	x, _ := req.Context().Value(exchangeKey{}).(*exchange)
	if x == nil {
		return resp, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if err != nil {
		x.err = err
		// http.Client's Timeout cancels a custom transport's request in a
		// way that reads "request canceled"; name it for what it was.
		if dl, ok := req.Context().Deadline(); ok && !time.Now().Before(dl) && !errors.Is(err, context.DeadlineExceeded) {
			x.err = fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
		}
		return resp, err
	}
	x.status = resp.StatusCode
	x.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return resp, err
}

// recordingClient returns a copy of c (nil: a client with timeout) whose
// transport records exchanges.
func recordingClient(c *http.Client, timeout time.Duration) *http.Client {
	if c == nil {
		c = &http.Client{Timeout: timeout}
	}
	cc := *c
	base := cc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cc.Transport = recordingTransport{base: base}
	return &cc
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an
// HTTP-date. It returns 0 when the header is absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// deliveryError turns a library's error into a *DeliveryError whose text
// carries none of the secrets. The library error itself is not kept.
func deliveryError(channel string, err error, x *exchange, secrets ...string) *DeliveryError {
	status, retryAfter, terr := x.get()
	de := &DeliveryError{Channel: channel, StatusCode: status, RetryAfter: retryAfter}
	switch {
	case terr != nil:
		// The transport's own error does not include the URL (http.Client
		// adds that), but redact anyway.
		de.msg = "no answer: " + terr.Error()
		for _, c := range []error{context.DeadlineExceeded, context.Canceled} {
			if errors.Is(terr, c) {
				de.cause = c
			}
		}
	case status != 0:
		de.msg = "HTTP " + strconv.Itoa(status) + ": " + err.Error()
		de.Permanent = status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests
		if status == http.StatusTooManyRequests && retryAfter == 0 {
			de.msg += " (no Retry-After)"
		}
	default:
		de.msg = err.Error()
		for _, c := range []error{context.DeadlineExceeded, context.Canceled} {
			if errors.Is(err, c) {
				de.cause = c
			}
		}
		// No request went out and no context ended: the request could not
		// be built (a malformed URL), which no retry will fix.
		de.Permanent = de.cause == nil
	}
	de.msg = redact(de.msg, secrets...)
	return de
}

// redact replaces every secret in s.
func redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}
