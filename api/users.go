package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/heliosdb/heliosproxy/status"
)

// UserController is what the roles' endpoints need from the running
// proxy (circuit_breaker.user_level_breakers_enabled).
type UserController interface {
	// Users returns every role's limits and breaker; nil when user-level
	// breakers are off.
	Users() []status.UserBreaker
	// UserOverrides returns the operators' role overrides.
	UserOverrides() []status.UserOverride
	// SetUserOverride stores an override, persisted before it applies; an
	// error that errors.Is status.ErrBadUserOverride is the request's (400).
	SetUserOverride(ctx context.Context, o status.UserOverride) error
	// ClearUserOverride removes one; false when there was none.
	ClearUserOverride(ctx context.Context, role, database, author string) (bool, error)
}

// userJSON is one row of helios_proxy.user_breakers.
type userJSON struct {
	Role           string              `json:"role"`
	Database       string              `json:"database"`
	State          status.CircuitState `json:"state"`
	StateSince     *time.Time          `json:"state_since"`
	Rate           float64             `json:"rate"`
	RateLimit      int                 `json:"rate_limit"`
	ThrottledTotal uint64              `json:"throttled_total"`
	DelayedTotal   uint64              `json:"delayed_total"`
	IsolatedTotal  uint64              `json:"isolated_total"`
	RequestsTotal  uint64              `json:"requests_total"`
	FailuresTotal  uint64              `json:"failures_total"`
	ErrorRate      float64             `json:"error_rate"`
	LatencyP95Ms   float64             `json:"latency_p95_ms"`
	OpenReason     *string             `json:"open_reason"`
	OpenDetail     *string             `json:"open_detail"`
	Exempt         bool                `json:"exempt"`
	OverrideAuthor *string             `json:"override_author"`
	LastActive     *time.Time          `json:"last_active"`
}

func toUser(u status.UserBreaker) userJSON {
	return userJSON{
		Role: u.Role, Database: u.Database, State: u.State, StateSince: timePtr(u.StateSince),
		Rate: finite(u.Rate), RateLimit: u.RateLimit,
		ThrottledTotal: u.ThrottledTotal, DelayedTotal: u.DelayedTotal, IsolatedTotal: u.IsolatedTotal,
		RequestsTotal: u.RequestsTotal, FailuresTotal: u.FailuresTotal,
		ErrorRate: finite(u.ErrorRate), LatencyP95Ms: finite(u.LatencyP95Ms),
		OpenReason: strPtr(u.OpenReason), OpenDetail: strPtr(u.OpenDetail),
		Exempt: u.Exempt, OverrideAuthor: strPtr(u.OverrideAuthor), LastActive: timePtr(u.LastActive),
	}
}

// usersJSON is GET /users.
type usersJSON struct {
	Users     []userJSON         `json:"users"`
	Overrides []userOverrideJSON `json:"overrides"`
	Timestamp time.Time          `json:"timestamp"`
}

// userOverrideRequest is the body of PUT /users/{role}/{database}/override.
type userOverrideRequest struct {
	Exempt    *bool   `json:"exempt"`
	RateLimit *int    `json:"rate_limit"`
	Reason    *string `json:"reason"`
	TTL       *string `json:"ttl"`
}

// userOverrideJSON is a role override as set.
type userOverrideJSON struct {
	Role      string    `json:"role"`
	Database  string    `json:"database"`
	Exempt    bool      `json:"exempt"`
	RateLimit int       `json:"rate_limit"`
	Reason    string    `json:"reason"`
	Author    string    `json:"author"`
	Created   time.Time `json:"created"`
	// Expires is null for an override set until cleared.
	Expires *time.Time `json:"expires"`
	// Node is the cluster member where it was set; absent outside a
	// cluster.
	Node string `json:"node,omitempty"`
}

func toUserOverride(o status.UserOverride) userOverrideJSON {
	return userOverrideJSON{Role: o.Role, Database: o.Database, Exempt: o.Exempt, RateLimit: o.RateLimit,
		Reason: o.Reason, Author: o.Author, Created: o.Created.UTC(), Expires: timePtr(o.Expires), Node: o.Node}
}

func (s *server) noUsers(w http.ResponseWriter, r *http.Request) bool {
	if s.users == nil {
		s.writeError(w, r, http.StatusNotImplemented, "this process keeps no per-role limits")
		return true
	}
	return false
}

func (s *server) usersAll(w http.ResponseWriter, r *http.Request) {
	if s.noUsers(w, r) {
		return
	}
	us, ovs := s.users.Users(), s.users.UserOverrides()
	out := usersJSON{Users: make([]userJSON, 0, len(us)), Overrides: make([]userOverrideJSON, 0, len(ovs)), Timestamp: s.now().UTC()}
	for _, u := range us {
		out.Users = append(out.Users, toUser(u))
	}
	for _, o := range ovs {
		out.Overrides = append(out.Overrides, toUserOverride(o))
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

func (s *server) setUserOverride(w http.ResponseWriter, r *http.Request) {
	if s.noUsers(w, r) {
		return
	}
	var req userOverrideRequest
	if !s.decode(w, r, &req, "exempt, rate_limit, reason, ttl") {
		return
	}
	var problems []string
	who, err := author(r)
	if err != nil {
		problems = append(problems, err.Error())
	}
	o := status.UserOverride{Role: chi.URLParam(r, "role"), Database: chi.URLParam(r, "database"), Author: who, Created: s.now()}
	if req.Exempt != nil {
		o.Exempt = *req.Exempt
	}
	if req.RateLimit != nil {
		if *req.RateLimit < 0 {
			problems = append(problems, fmt.Sprintf("rate_limit: must not be negative, got %d", *req.RateLimit))
		}
		o.RateLimit = *req.RateLimit
	}
	if !o.Exempt && o.RateLimit == 0 && len(problems) == 0 {
		problems = append(problems, "exempt or rate_limit: set exempt to true or rate_limit to a positive number")
	}
	o.Reason, problems = overrideReason(req.Reason, problems)
	o.Expires, problems = overrideExpiry(req.TTL, o.Created, problems)
	if len(problems) > 0 {
		s.writeError(w, r, http.StatusBadRequest, problems[0], problems...)
		return
	}
	if err := s.users.SetUserOverride(r.Context(), o); err != nil {
		if errors.Is(err, status.ErrBadUserOverride) {
			s.writeError(w, r, http.StatusBadRequest, err.Error(), err.Error())
			return
		}
		s.controllerError(w, r, "", "saving the user override", err)
		return
	}
	s.log.Info("user override set through the api", "user", o.Role, "database", o.Database, "exempt", o.Exempt,
		"rate_limit", o.RateLimit, "author", o.Author, "reason", o.Reason, "client_addr", r.RemoteAddr)
	s.writeJSON(w, r, http.StatusOK, toUserOverride(o))
}

func (s *server) clearUserOverride(w http.ResponseWriter, r *http.Request) {
	if s.noUsers(w, r) {
		return
	}
	who, err := author(r)
	if err != nil {
		s.writeError(w, r, http.StatusBadRequest, err.Error(), err.Error())
		return
	}
	role, db := chi.URLParam(r, "role"), chi.URLParam(r, "database")
	if _, err := s.users.ClearUserOverride(r.Context(), role, db, who); err != nil {
		s.controllerError(w, r, "", "saving the user overrides", err)
		return
	}
	s.log.Info("user override cleared through the api", "user", role, "database", db, "author", who, "client_addr", r.RemoteAddr)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
