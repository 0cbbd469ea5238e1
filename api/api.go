// Package api is HeliosProxy's REST API: circuit status, event history and
// a live event stream (server-sent events), operator overrides, config
// reload and the effective config, served with chi. The contract is
// openapi.yaml at the repository root; tests check every response against
// it.
//
// Reads are open. Mutating requests (PUT, DELETE, POST) need
// "Authorization: Bearer <admin token>" and must send JSON; failed
// authentications and authenticated changes are rate limited per client
// IP, each on its own budget. Authentication is by header only, never by
// cookie, so a page on another origin cannot act with a user's
// credentials. Every request must name an allowed host (see hostPolicy),
// so that a page cannot read the API through DNS rebinding either.
package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"

	"github.com/heliosdb/heliosproxy/internal/loopback"
	"github.com/heliosdb/heliosproxy/status"
)

// Controller is what the API needs from the running proxy.
type Controller interface {
	// Snapshot returns the current state of every backend.
	Snapshot() status.Snapshot
	// Events returns up to limit recent events, oldest first; limit <= 0
	// returns all the proxy keeps.
	Events(limit int) []status.Event
	// Subscribe returns the events published from now on; the channel is
	// closed when ctx ends.
	Subscribe(ctx context.Context) <-chan status.Event
	// SetOverride forces a backend's circuit state. An error that
	// errors.Is status.ErrUnknownBackend means no such backend (404).
	SetOverride(ctx context.Context, o status.Override) error
	// ClearOverride removes a backend's override; clearing when none is set
	// is not an error. Unknown backends as for SetOverride.
	ClearOverride(ctx context.Context, backend, author string) error
	// Reload re-reads the config file and applies it atomically. When the
	// file is invalid nothing changes and the error unwraps (Unwrap()
	// []error) into one error per problem, each "file:line: message".
	Reload(ctx context.Context) (status.ReloadResult, error)
	// EffectiveConfig returns the JSON of the effective config with
	// secrets already redacted.
	EffectiveConfig() ([]byte, error)
	// Ready reports whether the proxy can take a session (its client
	// listener accepts and some backend can serve); when not, why says so
	// in a sentence that GET /ready shows.
	Ready() (ok bool, why string)
}

// Options configure the API.
type Options struct {
	// AdminToken is the bearer token of the mutating endpoints (a secret).
	// Empty: mutating endpoints answer 403, and New refuses a non-loopback
	// ListenAddress.
	AdminToken string
	// ListenAddress is where the caller serves the handler; New refuses a
	// non-loopback address without an AdminToken, and allows its host in
	// the Host header when it is a name. An empty host (":8080") means every
	// interface, which is not loopback.
	ListenAddress string
	// AllowedHosts are the names, besides IP addresses, "localhost", names
	// under ".localhost" and the host of ListenAddress, that requests may
	// give in their Host header; others answer 421. An entry ".example.com"
	// allows example.com and every name under it; "*" allows any host
	// (turning off the protection against DNS rebinding). Empty: only the
	// defaults.
	AllowedHosts []string
	// AlertTest, when set, serves POST /alerts/test: it sends a test alert
	// to every channel and returns per-channel results, which are
	// JSON-encoded as they are. Nil: the endpoint answers 501.
	AlertTest func(ctx context.Context) any
	// History, when set, serves GET /circuit-breaker/history; the caller
	// runs its sampler (History.Run) for as long as it serves the handler.
	// Nil: the endpoint answers 501.
	History *History
	// Users, when set, serves the roles' limits and overrides (GET
	// /users, PUT and DELETE /users/{role}/{database}/override). Nil: they
	// answer 501.
	Users UserController
	// Web, when set, is the dashboard: it serves GET / and every GET path
	// that is not an API path (its assets). Its 404s are turned into the
	// API's JSON 404.
	Web http.Handler
	// Clock tells the time of new overrides and of responses; nil means
	// time.Now.
	Clock func() time.Time
}

// Limits of the API (documented in openapi.yaml).
const (
	// maxBodyBytes caps request bodies; larger ones get 413.
	maxBodyBytes = 64 << 10
	// requestTimeout bounds every request except the event stream: the
	// context passed to the Controller ends then, and the response must be
	// written by requestTimeout + writeGrace.
	requestTimeout = 30 * time.Second
	writeGrace     = 5 * time.Second
	// mutationsPerMinute is how many authenticated PUT/DELETE/POST
	// requests one client IP may make per minute (sliding window), and
	// separately how many it may make without the right token; more get
	// 429.
	mutationsPerMinute = 30
	// maxReasonLen is the longest override reason, in characters.
	maxReasonLen = 500
	// maxAuthorLen is the longest X-Helios-Author value, in characters.
	maxAuthorLen = 100
	// maxTTL is the longest override expiry.
	maxTTL = 365 * 24 * time.Hour
	// maxEventsLimit is the largest ?limit= of GET /circuit-breaker/events.
	maxEventsLimit = 10000
	// maxHistoryBackends is how many ?backend= GET /circuit-breaker/history
	// takes.
	maxHistoryBackends = 100
)

// AuthorHeader names the person acting on an override; without it the
// author is "api@" + the client's IP address.
const AuthorHeader = "X-Helios-Author"

// server holds the handlers' shared state.
type server struct {
	c   Controller
	log *slog.Logger
	now func() time.Time
	// access is the admin token and the allowed hosts, which a config
	// reload replaces (SetAccess); requests read it once each.
	access atomic.Pointer[access]
	// listenAddress is Options.ListenAddress: its host is allowed in
	// Host, and without an admin token it must be a loopback address.
	listenAddress string
	alertTest     func(ctx context.Context) any
	web           http.Handler
	history       *History
	users         UserController
	hosts         hostPolicy
	origins       *http.CrossOriginProtection
	mux           *chi.Mux
	// heartbeat is how often the event stream writes a comment so that
	// proxies and browsers keep an idle stream open.
	heartbeat time.Duration
	timeout   time.Duration // requestTimeout; tests shorten it
	perMinute int           // mutationsPerMinute, read by routes
}

// Handler is the API's http.Handler.
type Handler struct{ s *server }

// New returns the API's handler. It fails when o has no AdminToken and
// o.ListenAddress is not a loopback address: an unauthenticated admin
// surface must not be reachable from other machines. The handler starts no
// goroutines of its own; each request's work ends with its request (the
// event stream when the request context ends, so serve it with an
// http.Server whose BaseContext ends at shutdown).
func New(c Controller, log *slog.Logger, o Options) (*Handler, error) {
	s, err := newServer(c, log, o)
	if err != nil {
		return nil, err
	}
	return &Handler{s: s}, nil
}

// ServeHTTP serves one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.s.mux.ServeHTTP(w, r) }

// SetAccess replaces the admin token and the allowed hosts (Options
// AdminToken and AllowedHosts), as a config reload changes them: requests
// from then on are checked against the new ones, so that a rotated token
// stops working at once. Requests under way keep what they were admitted
// with. Like New, it refuses an empty token when the listen address is not
// loopback, and then changes nothing.
func (h *Handler) SetAccess(adminToken string, allowedHosts []string) error {
	s := h.s
	if adminToken == "" && !loopback.HostPort(s.listenAddress) {
		return fmt.Errorf("api: listen address %q is not a loopback address: an admin token is required", s.listenAddress)
	}
	next := s.newAccess(adminToken, allowedHosts)
	prev := s.access.Swap(next)
	if (prev.tokenHash == nil) != (next.tokenHash == nil) || prev.tokenHash != nil && *prev.tokenHash != *next.tokenHash {
		switch {
		case next.tokenHash == nil:
			s.log.Info("api admin token removed: mutating endpoints are disabled")
		case prev.tokenHash == nil:
			s.log.Info("api admin token set: mutating endpoints are enabled")
		default:
			s.log.Info("api admin token replaced: the previous one no longer works")
		}
	}
	return nil
}

// access is who may use the API: the admin token's hash and the hosts
// requests may name.
type access struct {
	tokenHash *[sha256.Size]byte // nil: no admin token, mutations refused
	hosts     hostPolicy
}

// newAccess builds the access of an admin token and [api] allowed_hosts.
func (s *server) newAccess(adminToken string, allowedHosts []string) *access {
	a := &access{hosts: newHostPolicy(allowedHosts, s.listenAddress)}
	if adminToken != "" {
		// Comparing fixed-size hashes keeps the comparison constant-time
		// in the token's length too.
		h := sha256.Sum256([]byte(adminToken))
		a.tokenHash = &h
		if len(adminToken) < 16 {
			s.log.Warn("api admin token is short; use at least 16 random characters")
		}
	}
	return a
}

func newServer(c Controller, log *slog.Logger, o Options) (*server, error) {
	if c == nil {
		return nil, errors.New("api: nil Controller")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.AdminToken == "" && !loopback.HostPort(o.ListenAddress) {
		return nil, fmt.Errorf("api: listen address %q is not a loopback address: set [api] admin_token to serve the API on it", o.ListenAddress)
	}
	s := &server{
		c:             c,
		log:           log.With("component", "api"),
		now:           o.Clock,
		alertTest:     o.AlertTest,
		web:           o.Web,
		history:       o.History,
		users:         o.Users,
		listenAddress: o.ListenAddress,
		origins:       http.NewCrossOriginProtection(),
		heartbeat:     15 * time.Second,
		timeout:       requestTimeout,
		perMinute:     mutationsPerMinute,
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.access.Store(s.newAccess(o.AdminToken, o.AllowedHosts))
	if o.AdminToken == "" {
		s.log.Info("no api admin token configured: mutating endpoints are disabled")
	}
	s.mux = s.routes()
	return s, nil
}

// routes builds the router. Every route here is documented in openapi.yaml
// (a test walks both).
func (s *server) routes() *chi.Mux {
	r := chi.NewRouter()
	// HEAD is answered wherever GET is, with GET's headers and no body
	// (RFC 9110 §9.3.2): curl -I, uptime checkers and load balancers send it.
	r.Use(s.securityHeaders, s.logRequests, s.recoverPanics, s.checkHost, middleware.GetHead)
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.methodNotAllowed)

	// The event stream lives as long as the client: no request deadline.
	r.Get("/events", s.eventStream)

	r.Group(func(r chi.Router) {
		r.Use(s.deadline)
		r.Get("/", s.dashboard)
		r.Get("/health", s.health)
		r.Get("/ready", s.ready)
		r.Get("/circuit-breaker/status", s.statusAll)
		r.Get("/circuit-breaker/status/{backend}", s.statusOne)
		r.Get("/circuit-breaker/events", s.eventHistory)
		r.Get("/circuit-breaker/history", s.metricHistory)
		r.Get("/config", s.effectiveConfig)
		r.Get("/cluster/members", s.clusterMembers)
		r.Get("/circuit-breaker/query-breakers", s.queryBreakers)
		r.Get("/cluster/status", s.clusterStatus)
		r.Get("/users", s.usersAll)

		r.Group(func(r chi.Router) {
			// requireAdmin limits failed authentications itself; the
			// right token then has its own budget, so that a runaway
			// script cannot flood the proxy and its alerts with changes.
			r.Use(s.sameOrigin, s.requireAdmin())
			r.Use(httprate.LimitBy(s.perMinute, time.Minute, clientKey,
				httprate.WithLimitHandler(s.rateLimited),
				httprate.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
					s.internalError(w, r, "rate limiter failed", err)
				})))
			r.Use(s.jsonBody)
			r.Put("/circuit-breaker/backends/{backend}/override", s.setOverride)
			r.Delete("/circuit-breaker/backends/{backend}/override", s.clearOverride)
			r.Post("/config/reload", s.reload)
			r.Post("/alerts/test", s.testAlerts)
			r.Put("/users/{role}/{database}/override", s.setUserOverride)
			r.Delete("/users/{role}/{database}/override", s.clearUserOverride)
		})
	})
	return r
}

// apiPrefixes are the paths that never fall through to the dashboard.
var apiPrefixes = []string{"/circuit-breaker", "/config", "/alerts", "/events", "/health", "/ready", "/users"}

func isAPIPath(p string) bool {
	for _, pre := range apiPrefixes {
		if p == pre || strings.HasPrefix(p, pre+"/") {
			return true
		}
	}
	return false
}

// clientIP is the host part of the request's remote address. Forwarding
// headers are not trusted: they are the client's to forge.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clientKey keys the rate limit by client IP (IPv6 by /64).
func clientKey(r *http.Request) (string, error) {
	return httprate.CanonicalizeIP(clientIP(r)), nil
}
