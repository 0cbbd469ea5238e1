package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/heliosdb/heliosproxy/status"
)

func (s *server) dashboard(w http.ResponseWriter, r *http.Request) {
	if s.web == nil {
		s.writeError(w, r, http.StatusNotFound, "no dashboard is served here; the API is under /circuit-breaker")
		return
	}
	s.serveWeb(w, r)
}

// health is liveness: the process serves HTTP.
func (s *server) health(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, simpleStatus{Status: "ok"})
}

// ready is readiness: the proxy can take a session.
func (s *server) ready(w http.ResponseWriter, r *http.Request) {
	if ok, why := s.c.Ready(); !ok {
		s.writeJSON(w, r, http.StatusServiceUnavailable, simpleStatus{Status: "unavailable", Reason: why})
		return
	}
	s.writeJSON(w, r, http.StatusOK, simpleStatus{Status: "ready"})
}

func (s *server) statusAll(w http.ResponseWriter, r *http.Request) {
	snap := s.c.Snapshot()
	out := statusJSON{Backends: make([]backendJSON, 0, len(snap.Backends)), Timestamp: s.taken(snap)}
	for _, b := range snap.Backends {
		out.Backends = append(out.Backends, toBackend(b))
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

func (s *server) statusOne(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "backend")
	for _, b := range s.c.Snapshot().Backends {
		if b.Name == name {
			s.writeJSON(w, r, http.StatusOK, toBackend(b))
			return
		}
	}
	s.unknownBackend(w, r, name)
}

func (s *server) unknownBackend(w http.ResponseWriter, r *http.Request, name string) {
	s.writeError(w, r, http.StatusNotFound, fmt.Sprintf("unknown backend %q", name))
}

func (s *server) eventHistory(w http.ResponseWriter, r *http.Request) {
	limit := 0 // all the proxy keeps
	if q := r.URL.Query(); q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > maxEventsLimit {
			s.writeError(w, r, http.StatusBadRequest,
				fmt.Sprintf("limit: must be an integer from 1 to %d, got %q", maxEventsLimit, q.Get("limit")))
			return
		}
		limit = n
	}
	evs := s.c.Events(limit)
	out := eventsJSON{Events: make([]eventJSON, 0, len(evs))}
	for _, e := range evs {
		out.Events = append(out.Events, toEvent(e))
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

func (s *server) effectiveConfig(w http.ResponseWriter, r *http.Request) {
	b, err := s.c.EffectiveConfig()
	if err == nil && !json.Valid(b) {
		err = errors.New("effective config is not valid JSON")
	}
	if err != nil {
		s.internalError(w, r, "could not render the effective configuration", err)
		return
	}
	s.writeRaw(w, http.StatusOK, b)
}

// author is who acts: the X-Helios-Author header when present (the
// dashboard sends the name the user typed), else "api@" + the client's IP
// address. The header is a label, not an identity: whoever holds the admin
// token may write any name, so the client address is logged beside it.
func author(r *http.Request) (string, error) {
	a := strings.TrimSpace(r.Header.Get(AuthorHeader))
	switch {
	case a == "":
		return "api@" + clientIP(r), nil
	case !utf8.ValidString(a) || hasControl(a):
		return "", fmt.Errorf("%s: must be printable text", AuthorHeader)
	case utf8.RuneCountInString(a) > maxAuthorLen:
		return "", fmt.Errorf("%s: at most %d characters, got %d", AuthorHeader, maxAuthorLen, utf8.RuneCountInString(a))
	}
	return a, nil
}

func (s *server) setOverride(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "backend")
	var req overrideRequest
	if !s.decode(w, r, &req, "state, reason, ttl") {
		return
	}
	var problems []string
	who, err := author(r)
	if err != nil {
		problems = append(problems, err.Error())
	}
	o := status.Override{Backend: name, Author: who, Created: s.now()}
	switch {
	case req.State == nil:
		problems = append(problems, `state: required: "OPEN" or "CLOSED"`)
	default:
		st, err := status.ParseCircuitState(*req.State)
		if err != nil || !st.Forcible() {
			problems = append(problems, fmt.Sprintf(`state: must be "OPEN" or "CLOSED", got %q`, *req.State))
			break
		}
		o.State = st
	}
	o.Reason, problems = overrideReason(req.Reason, problems)
	o.Expires, problems = overrideExpiry(req.TTL, o.Created, problems)
	if len(problems) > 0 {
		s.writeError(w, r, http.StatusBadRequest, problems[0], problems...)
		return
	}
	if err := s.c.SetOverride(r.Context(), o); err != nil {
		s.controllerError(w, r, name, "setting the override", err)
		return
	}
	attrs := []any{"backend", name, "state", o.State, "author", o.Author, "reason", o.Reason, "client_addr", r.RemoteAddr}
	if !o.Expires.IsZero() {
		attrs = append(attrs, "expires", o.Expires)
	}
	s.log.Info("override set through the api", attrs...)
	s.writeJSON(w, r, http.StatusOK, toOverride(o))
}

// overrideExpiry checks an override's ttl: it returns when an override
// created at created ends (zero without a ttl), or appends the problem
// with it to problems.
func overrideExpiry(ttl *string, created time.Time, problems []string) (time.Time, []string) {
	if ttl == nil || *ttl == "" {
		return time.Time{}, problems
	}
	d, err := time.ParseDuration(*ttl)
	switch {
	case err != nil:
		return time.Time{}, append(problems, fmt.Sprintf(`ttl: must be a duration such as "15m" or "2h30m", got %q`, *ttl))
	case d <= 0:
		return time.Time{}, append(problems, fmt.Sprintf("ttl: must be positive, got %q", *ttl))
	case d > maxTTL:
		return time.Time{}, append(problems, fmt.Sprintf("ttl: at most %s (365 days), got %q", maxTTL, *ttl))
	}
	return created.Add(d), problems
}

// overrideReason checks an override's reason: it returns the reason
// trimmed, or appends the problem with it to problems.
func overrideReason(reason *string, problems []string) (string, []string) {
	switch {
	case reason == nil || strings.TrimSpace(*reason) == "":
		return "", append(problems, "reason: required: say why the override is set")
	case hasControl(*reason):
		return "", append(problems, "reason: must not contain control characters (newlines, tabs, …)")
	case utf8.RuneCountInString(*reason) > maxReasonLen:
		return "", append(problems, fmt.Sprintf("reason: at most %d characters, got %d", maxReasonLen, utf8.RuneCountInString(*reason)))
	}
	return strings.TrimSpace(*reason), problems
}

func (s *server) clearOverride(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "backend")
	who, err := author(r)
	if err != nil {
		s.writeError(w, r, http.StatusBadRequest, err.Error(), err.Error())
		return
	}
	if err := s.c.ClearOverride(r.Context(), name, who); err != nil {
		s.controllerError(w, r, name, "clearing the override", err)
		return
	}
	s.log.Info("override cleared through the api", "backend", name, "author", who, "client_addr", r.RemoteAddr)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// controllerError answers a failed override call.
func (s *server) controllerError(w http.ResponseWriter, r *http.Request, backend, what string, err error) {
	switch {
	case errors.Is(err, status.ErrUnknownBackend):
		s.unknownBackend(w, r, backend)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		s.ctxError(w, r, what, err)
	case errors.Is(err, status.ErrNotSaved):
		// The cause names paths and system errors: it goes to the log.
		s.log.Error(what+" failed: it could not be saved", "method", r.Method, "path", r.URL.Path, "err", err)
		s.writeError(w, r, http.StatusInternalServerError, what+" failed: it could not be saved under [state] dir, so nothing changed",
			"the proxy's log has the cause (a full disk, permissions, a read-only file system); fix it and try again")
	default:
		s.internalError(w, r, what+" failed", err)
	}
}

func (s *server) reload(w http.ResponseWriter, r *http.Request) {
	res, err := s.c.Reload(r.Context())
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			s.ctxError(w, r, "config reload", err)
			return
		}
		details := problems(err)
		// The details stay out of the log: they may quote values from
		// the file. The proxy logs the reload itself.
		s.log.Warn("config reload rejected; the running config is kept", "problems", len(details), "client_addr", r.RemoteAddr)
		s.writeError(w, r, http.StatusBadRequest, "invalid configuration", details...)
		return
	}
	s.log.Info("config reloaded through the api", "added", res.Added, "removed", res.Removed,
		"restart_required", res.RestartRequired, "client_addr", r.RemoteAddr)
	s.writeJSON(w, r, http.StatusOK, toReload(res))
}

// problems flattens a joined error into one message per problem.
func problems(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				if e != nil {
					walk(e)
				}
			}
			return
		}
		out = append(out, err.Error())
	}
	walk(err)
	if len(out) == 0 {
		out = []string{err.Error()}
	}
	return out
}

func (s *server) testAlerts(w http.ResponseWriter, r *http.Request) {
	if s.alertTest == nil {
		s.writeError(w, r, http.StatusNotImplemented, "alert tests are not available in this process")
		return
	}
	res := s.alertTest(r.Context())
	if res == nil {
		res = struct{}{}
	}
	s.log.Info("test alert sent through the api", "client_addr", r.RemoteAddr)
	s.writeJSON(w, r, http.StatusOK, res)
}

// decode reads the request body, one JSON object with the fields allowed,
// into v. On failure it answers 400 (413 for a body over the limit) naming
// the field and returns false.
func (s *server) decode(w http.ResponseWriter, r *http.Request, v any, allowed string) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// One object, nothing after it.
		if dec.Decode(&json.RawMessage{}) != io.EOF {
			s.writeError(w, r, http.StatusBadRequest, "request body must be a single JSON object")
			return false
		}
		return true
	}
	var (
		tooLarge *http.MaxBytesError
		syntax   *json.SyntaxError
		typ      *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooLarge):
		s.tooLarge(w, r)
	case errors.Is(err, io.EOF):
		s.writeError(w, r, http.StatusBadRequest, "request body required: a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		s.writeError(w, r, http.StatusBadRequest, "invalid JSON: unexpected end of the body")
	case errors.As(err, &syntax):
		s.writeError(w, r, http.StatusBadRequest, fmt.Sprintf("invalid JSON at byte %d: %s", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: ")))
	case errors.As(err, &typ) && typ.Field == "":
		s.writeError(w, r, http.StatusBadRequest, "request body must be a JSON object, got "+typ.Value)
	case errors.As(err, &typ):
		s.writeError(w, r, http.StatusBadRequest, fmt.Sprintf("%s: must be %s, got %s", typ.Field, jsonType(typ.Type.Kind().String()), typ.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for this one.
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		s.writeError(w, r, http.StatusBadRequest, "unknown field "+field,
			"allowed fields: "+allowed)
	default:
		s.writeError(w, r, http.StatusBadRequest, "invalid request body: "+strings.TrimPrefix(err.Error(), "json: "))
	}
	return false
}

// jsonType names a Go kind the way JSON does, with its article: "an
// integer" for Go's integer kinds, so that a fraction or an exponent
// sent for one is not told "must be a number, got number 1.5".
func jsonType(kind string) string {
	switch kind {
	case "ptr", "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "float32", "float64":
		return "a number"
	}
	return "an integer"
}

// metricHistory serves GET /circuit-breaker/history.
func (s *server) metricHistory(w http.ResponseWriter, r *http.Request) {
	if s.history == nil {
		s.writeError(w, r, http.StatusNotImplemented, "no metric history is kept in this process")
		return
	}
	q := r.URL.Query()
	var hq historyQuery
	var problems []string
	if names, ok := q["backend"]; ok {
		if len(names) > maxHistoryBackends {
			problems = append(problems, fmt.Sprintf("backend: at most %d, got %d", maxHistoryBackends, len(names)))
		}
		for _, n := range names {
			if n == "" {
				problems = append(problems, "backend: must not be empty")
				break
			}
		}
		hq.backends = names
	}
	if v := q.Get("since"); q.Has("since") {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			problems = append(problems, fmt.Sprintf(`since: must be an RFC 3339 time such as "2025-03-14T15:09:26Z", got %q`, v))
		}
		hq.since = t
	}
	if v := q.Get("step"); q.Has("step") {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf(`step: must be a duration such as "10s" or "1m", got %q`, v))
		case d < s.history.Interval() || d > s.history.Retention():
			problems = append(problems, fmt.Sprintf("step: must be from %s to %s, got %q", s.history.Interval(), s.history.Retention(), v))
		default:
			hq.step = d
		}
	}
	if len(problems) > 0 {
		s.writeError(w, r, http.StatusBadRequest, problems[0], problems...)
		return
	}
	out, unknown := s.history.query(hq)
	if len(unknown) > 0 {
		// A backend that exists but was not sampled yet has an empty
		// history, not an error.
		known := map[string]bool{}
		for _, b := range s.c.Snapshot().Backends {
			known[b.Name] = true
		}
		for _, name := range unknown {
			if !known[name] {
				s.unknownBackend(w, r, name)
				return
			}
		}
	}
	s.writeJSON(w, r, http.StatusOK, out)
}
