package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"
)

// writeJSON writes v as the response.
func (s *server) writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.internalError(w, r, "could not encode the response", err)
		return
	}
	s.writeRaw(w, code, b)
}

// writeRaw writes b, a JSON document, as the response.
func (s *server) writeRaw(w http.ResponseWriter, code int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// writeError writes {"error": msg, "details": details}.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, code int, msg string, details ...string) {
	if details == nil {
		details = []string{}
	}
	s.writeJSON(w, r, code, errorJSON{Error: msg, Details: details})
}

// internalError logs err, which may say more than a client should see,
// and answers 500 with msg.
func (s *server) internalError(w http.ResponseWriter, r *http.Request, msg string, err error) {
	s.log.Error(msg, "method", r.Method, "path", r.URL.Path, "err", err)
	b, _ := json.Marshal(errorJSON{Error: msg, Details: []string{}})
	s.writeRaw(w, http.StatusInternalServerError, b)
}

// ctxError answers a Controller call that ended with its context: 503, the
// request ran out of time (or the client left, who will not read it).
func (s *server) ctxError(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log.Warn(what+" timed out", "method", r.Method, "path", r.URL.Path, "err", err)
	s.writeError(w, r, http.StatusServiceUnavailable, what+" timed out; try again")
}

// securityHeaders sets headers every response carries.
func (s *server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY") // the dashboard's buttons must not be clickjacked
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// logRequests logs every request when it ends: method, path (without the
// query), status, duration, bytes and client address. Headers are never
// logged: Authorization carries the admin token. Successful reads are
// logged at Debug (probes and dashboards poll), the rest at Info, server
// failures at Warn.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		defer func() {
			code := ww.Status()
			if code == 0 {
				code = http.StatusOK // nothing written
			}
			level := slog.LevelInfo
			switch {
			case code >= 500 && code != http.StatusNotImplemented:
				level = slog.LevelWarn
			case code < 400 && (r.Method == http.MethodGet || r.Method == http.MethodHead):
				level = slog.LevelDebug
			}
			s.log.Log(r.Context(), level, "http request",
				"method", r.Method,
				"path", r.URL.Path,
				"status", code,
				"duration_ms", float64(time.Since(start).Microseconds())/1000,
				"bytes", ww.BytesWritten(),
				"client_addr", r.RemoteAddr)
		}()
		next.ServeHTTP(ww, r)
	})
}

// recoverPanics turns a panicking handler into a logged 500.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v) // the server's own way to abort a response
			}
			s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if ww, ok := w.(middleware.WrapResponseWriter); ok && ww.Status() != 0 {
				return // headers are out; the client sees a cut response
			}
			s.writeError(w, r, http.StatusInternalServerError, "internal error")
		}()
		next.ServeHTTP(w, r)
	})
}

// deadline bounds a non-streaming request: the context passed to the
// Controller ends after requestTimeout, and writing the response must end
// soon after (so a client that stops reading cannot hold it).
func (s *server) deadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
		defer cancel()
		// Not every ResponseWriter supports deadlines (httptest's
		// recorder does not); the context bound still holds.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.timeout + writeGrace))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// requireAdmin lets through requests with the admin bearer token. Failed
// attempts (no token, another scheme, a wrong token) are counted per client
// address, and once s.perMinute of them fall within a minute further ones
// answer 429 until the window slides on. A request with the right token is
// never held back by that count: someone guessing tokens from the
// operator's address (a shared NAT, a page in the operator's browser)
// stays throttled without locking the operator out.
func (s *server) requireAdmin() func(http.Handler) http.Handler {
	failures := httprate.NewRateLimiter(s.perMinute, time.Minute)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tokenHash := s.access.Load().tokenHash
			if tokenHash == nil {
				s.writeError(w, r, http.StatusForbidden,
					"mutating endpoints are disabled: no [api] admin_token is configured")
				return
			}
			scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
			token = strings.TrimSpace(token)
			bearer := ok && strings.EqualFold(scheme, "Bearer") && token != ""
			if bearer {
				sum := sha256.Sum256([]byte(token))
				if subtle.ConstantTimeCompare(sum[:], tokenHash[:]) == 1 {
					next.ServeHTTP(w, r)
					return
				}
			}
			// The local counter never fails (httprate documents it).
			key, _ := clientKey(r)
			if failures.OnLimit(w, r, key) {
				s.log.Warn("admin request rate limited after failed authentications", "method", r.Method, "path", r.URL.Path, "client_addr", r.RemoteAddr)
				s.writeError(w, r, http.StatusTooManyRequests,
					fmt.Sprintf("too many requests without the right bearer token: at most %d a minute per client address", s.perMinute))
				return
			}
			if !bearer {
				s.log.Info("admin request without a bearer token", "method", r.Method, "path", r.URL.Path, "client_addr", r.RemoteAddr)
				w.Header().Set("WWW-Authenticate", `Bearer realm="heliosproxy"`)
				s.writeError(w, r, http.StatusUnauthorized, "missing bearer token: send Authorization: Bearer <admin token>")
				return
			}
			s.log.Warn("admin request with a wrong bearer token", "method", r.Method, "path", r.URL.Path, "client_addr", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="heliosproxy", error="invalid_token"`)
			s.writeError(w, r, http.StatusUnauthorized, "invalid bearer token")
		})
	}
}

// sameOrigin refuses mutating requests that a browser sends for a page of
// another origin (Sec-Fetch-Site, or else Origin against Host, as net/http's
// CrossOriginProtection decides). The bearer token alone already keeps
// such pages out, since they cannot send Authorization without a CORS
// preflight, which the API never grants; this check keeps that true should
// the token ever reach the browser by other means. Clients other than
// browsers send neither header and pass.
func (s *server) sameOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.origins.Check(r); err != nil {
			s.log.Warn("cross-origin admin request refused", "method", r.Method, "path", r.URL.Path,
				"client_addr", r.RemoteAddr, "err", err)
			s.writeError(w, r, http.StatusForbidden, "cross-origin request refused",
				"the API accepts changes only from its own dashboard or from clients other than browsers")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// jsonBody requires a request body, when there is one, to be JSON of at
// most maxBodyBytes. Requiring JSON also keeps plain HTML forms of other
// sites from reaching the API (they cannot send application/json without
// a CORS preflight, which the API does not grant).
func (s *server) jsonBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// -1: unknown length (chunked), so there may be a body.
		if r.ContentLength != 0 {
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" {
				s.writeError(w, r, http.StatusUnsupportedMediaType,
					"Content-Type: request bodies must be application/json",
					fmt.Sprintf("got Content-Type %q", r.Header.Get("Content-Type")))
				return
			}
			if r.ContentLength > maxBodyBytes {
				s.tooLarge(w, r)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

func (s *server) tooLarge(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, http.StatusRequestEntityTooLarge,
		fmt.Sprintf("request body too large: at most %d bytes", maxBodyBytes))
}

// rateLimited answers an authenticated change over its budget.
func (s *server) rateLimited(w http.ResponseWriter, r *http.Request) {
	s.log.Warn("admin request rate limited", "method", r.Method, "path", r.URL.Path, "client_addr", r.RemoteAddr)
	s.writeError(w, r, http.StatusTooManyRequests,
		fmt.Sprintf("too many requests: at most %d changes per minute per client address", s.perMinute))
}

func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	if s.web != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) && !isAPIPath(r.URL.Path) {
		s.serveWeb(w, r)
		return
	}
	s.writeError(w, r, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
}

// allowedMethods are the methods the Allow header of a 405 may list.
var allowedMethods = []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete}

func (s *server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range allowedMethods {
		if s.mux.Match(chi.NewRouteContext(), m, r.URL.Path) {
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead) // GetHead answers it
			}
		}
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	s.writeError(w, r, http.StatusMethodNotAllowed,
		"method "+r.Method+" not allowed on "+r.URL.Path, "allowed: "+strings.Join(allow, ", "))
}

// serveWeb serves the dashboard, turning its 404s into the API's.
func (s *server) serveWeb(w http.ResponseWriter, r *http.Request) {
	s.web.ServeHTTP(&webWriter{ResponseWriter: w, notFound: func() {
		s.writeError(w, r, http.StatusNotFound, "not found: "+r.URL.Path)
	}}, r)
}

// webWriter passes a response through unless it is a 404, which it
// replaces with the API's JSON 404.
type webWriter struct {
	http.ResponseWriter
	notFound    func()
	wroteHeader bool
	swallow     bool
}

func (w *webWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	if code == http.StatusNotFound {
		w.swallow = true
		h := w.ResponseWriter.Header()
		for _, k := range []string{"Content-Type", "Content-Length", "Content-Encoding", "Last-Modified", "ETag"} {
			h.Del(k)
		}
		w.notFound()
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *webWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.swallow {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *webWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
