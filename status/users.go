package status

import (
	"errors"
	"time"
)

// ErrBadUserOverride is wrapped by the errors of an invalid role override.
var ErrBadUserOverride = errors.New("invalid user override")

// UserBreaker is the limits and breaker of one role and database
// (circuit_breaker.user_level_breakers_enabled) as of a Snapshot. Field
// names follow the SQL columns of helios_proxy.user_breakers.
type UserBreaker struct {
	Role     string
	Database string
	// State is the role's own breaker: CLOSED, OPEN (the role is isolated:
	// its requests are refused) or HALF_OPEN; CLOSED without
	// user_isolation_on_abuse.
	State      CircuitState
	StateSince time.Time
	OpenReason string    // why it last opened ("error_rate", "latency_p95", …); "" if never
	OpenDetail string    // human-readable
	ReopenAt   time.Time // when an OPEN breaker lets probes through; zero otherwise
	// RateLimit is the requests per second the role may start (its
	// override's, else per_user_rate_limit); 0 means no limit. Rate is
	// the requests it started per second over the last window.
	RateLimit int
	Rate      float64
	Exempt    bool // an override exempts it from the rate limit and isolation
	// Override says whether an operator's override applies; its reason
	// and author.
	Override       bool
	OverrideReason string
	OverrideAuthor string

	RequestsTotal  uint64 // requests admitted
	ThrottledTotal uint64 // requests refused by the rate limit (53400)
	DelayedTotal   uint64 // requests that waited for their turn and ran
	IsolatedTotal  uint64 // requests refused while the role's breaker was OPEN
	FailuresTotal  uint64 // failures judged the role's own (not its backend's)
	ErrorRate      float64
	LatencyP95Ms   float64
	LastActive     time.Time
}

// UserOverride is an operator's setting for one role and database: exempt
// from the rate limit and isolation, or a rate limit of its own. It
// survives restarts and, in a cluster, applies on every member.
type UserOverride struct {
	Role     string
	Database string
	Exempt   bool
	// RateLimit, when positive, replaces per_user_rate_limit for the role;
	// 0 keeps the default.
	RateLimit int
	Reason    string
	Author    string
	Created   time.Time
	Expires   time.Time `json:",omitzero"` // zero: until cleared
	// Node is the cluster member where it was set; "" outside a cluster.
	Node string `json:",omitempty"`
	// Stamp is the hybrid logical clock of the change in a cluster (the
	// last writer wins); 0 outside a cluster.
	Stamp uint64 `json:",omitempty"`
}

// Expired reports whether o has ended by now.
func (o UserOverride) Expired(now time.Time) bool {
	return !o.Expires.IsZero() && !now.Before(o.Expires)
}

// Event types of role overrides: set (Role, Database, Author, the
// reason in Detail; Node: the cluster member where it was set, when
// another) and cleared (Detail "cleared", "expired", or what a cluster
// member did).
const (
	UserOverrideSet     EventType = "UserOverrideSet"
	UserOverrideCleared EventType = "UserOverrideCleared"
)

// Event types of roles (user_level_breakers_enabled): a role's breaker
// opened (it is isolated), half-opened or closed. Backend is empty; Role
// and Database name the role.
const (
	UserBreakerOpened     EventType = "UserBreakerOpened"
	UserBreakerHalfOpened EventType = "UserBreakerHalfOpened"
	UserBreakerClosed     EventType = "UserBreakerClosed"
)
