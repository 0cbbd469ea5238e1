package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// streamWriteTimeout is how long one write to an event stream may block
// before the client is taken as gone.
const streamWriteTimeout = 30 * time.Second

// eventStream serves GET /events as server-sent events: first a comment
// (": connected") once the subscription is live, then each event as
//
//	id: <id>
//	event: <event_type>
//	data: <the event's JSON, as in GET /circuit-breaker/events>
//
// and a comment every s.heartbeat. A client that reconnects with
// Last-Event-ID first gets the kept events it missed. The stream ends when
// the request context ends (client gone, server shutting down) or the
// proxy closes the subscription.
func (s *server) eventStream(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	if r.Method == http.MethodHead {
		// The stream's headers only: no subscription kept open for a
		// body nobody reads.
		w.WriteHeader(http.StatusOK)
		return
	}
	ctx := r.Context()
	rc := http.NewResponseController(w)
	events := s.c.Subscribe(ctx) // before the replay, so nothing falls between
	w.WriteHeader(http.StatusOK)

	var buf bytes.Buffer
	// send writes buf and flushes it; false means the client is gone.
	send := func() bool {
		// Each write gets its own deadline: a server WriteTimeout must not
		// cut the stream, and a client that stops reading must not hold it.
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		_, err := w.Write(buf.Bytes())
		buf.Reset()
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			s.log.Debug("event stream closed", "client_addr", r.RemoteAddr, "err", err)
			return false
		}
		return true
	}

	buf.WriteString(": connected\nretry: 2000\n\n")
	var last uint64 // highest event id sent
	if id, err := strconv.ParseUint(strings.TrimSpace(r.Header.Get("Last-Event-ID")), 10, 64); err == nil {
		kept := s.c.Events(0)
		// After a proxy restart ids start again at 1: a Last-Event-ID
		// beyond the newest kept event is from before, so replay nothing.
		if n := len(kept); n > 0 && id <= kept[n-1].ID {
			for _, ev := range kept {
				if ev.ID > id {
					writeEvent(&buf, ev)
					last = ev.ID
				}
			}
		}
	}
	if !send() {
		return
	}

	tick := time.NewTicker(s.heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return // the proxy closed the subscription
			}
			if ev.ID != 0 && ev.ID <= last {
				continue // already replayed
			}
			writeEvent(&buf, ev)
		case <-tick.C:
			buf.WriteString(": heartbeat\n\n")
		}
		if !send() {
			return
		}
	}
}

// writeEvent appends ev in the text/event-stream format. JSON never holds
// a raw newline, so data is a single line.
func writeEvent(buf *bytes.Buffer, ev status.Event) {
	b, err := json.Marshal(toEvent(ev))
	if err != nil {
		return // toEvent holds only finite numbers and strings
	}
	buf.WriteString("id: ")
	buf.WriteString(strconv.FormatUint(ev.ID, 10))
	buf.WriteString("\nevent: ")
	buf.WriteString(eventName(ev.Type))
	buf.WriteString("\ndata: ")
	buf.Write(b)
	buf.WriteString("\n\n")
}

// eventName is the SSE event field: the event type, kept to one line.
func eventName(t status.EventType) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, string(t))
}
