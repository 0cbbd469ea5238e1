// Package backend is the proxy's view of one configured PostgreSQL server:
// its circuit breaker and the state routing, the status and the health
// checker share (live settings after reloads, sessions counted on it,
// routing factor, queued clients, the latest health observation, the
// breaker's Stats as of the last tick), the sessions whose requests are
// pending on it (for the stall detector: Track, Inflight), the login slots
// of pass-through logins (LoginSlots, LongestSilent), what its trust probes
// found (Trust), and its TLS settings (dial.Cache).
//
// It also writes the second half of every relayed request's life once
// (Finish, Connected, Note): classify by SQLSTATE, record with the
// backend's own time, publish the transition through Hooks. The first
// half — admission with a ticket of the breaker's current state — is the
// router's (package route) or a Pending ring's push.
//
// It does not route, relay, pool or check: those are packages route,
// proxy's sessions, pool and health.
package backend
