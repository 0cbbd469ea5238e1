package alerts

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/heliosdb/heliosproxy/status"
)

// reasonOverride is the Reason of every transition an operator override
// causes (breaker.ReasonOverride).
const reasonOverride = "override"

// reasonTrustAllowed is the Reason of a BackendTrustsProxy event for a
// backend whose operator allowed pass-through logins from other hosts
// anyway.
const reasonTrustAllowed = "pass_through_allowed"

// policy decides which alerts events mean. It is pure logic: no
// goroutines, no I/O, and the caller passes now. The package comment
// describes the rules.
type policy struct {
	cfg      Config // withDefaults applied
	backends map[string]*backendState
	cascade  *cascadeState // nil when no cascade incident is open
}

// backendState is what the policy remembers about one backend.
type backendState struct {
	name  string
	state status.CircuitState // the circuit state after the last event, NoState if unknown

	// pendingOpen is an opening held for CascadeDelay, due at openDue.
	pendingOpen *status.Event
	openDue     time.Time
	// pendingClose is a close whose resolve is held for FlapWindow, due at
	// closeDue.
	pendingClose *status.Event
	closeDue     time.Time
	restored     *status.Event // the close restore held: pendingClose while that one is held

	opening status.Event // the last automatic opening

	incident bool // the backend's own incident is open
	member   bool // the backend keeps the cascade incident open
	flaps    int  // reopenings during the current incident

	failures   *rate.Limiter // announced recovery failures; nil until the first
	suppressed int           // recovery failures not announced since the last one

	trustIncident bool // a page says the backend trusts the proxy
	fenceIncident bool // a page says the backend is fenced
}

// cascadeState is the open cascade incident.
type cascadeState struct {
	backends []string       // every backend ever added, in order
	members  []status.Event // their opening events, where known
	// updateDue is when the openings held to join the incident are
	// announced, all in one update (holdUntil).
	updateDue time.Time
}

func newPolicy(cfg Config) *policy {
	return &policy{cfg: cfg, backends: make(map[string]*backendState)}
}

func (p *policy) backend(name string) *backendState {
	b := p.backends[name]
	if b == nil {
		b = &backendState{name: name}
		p.backends[name] = b
	}
	return b
}

func (p *policy) key(name string) string { return "heliosproxy/" + p.cfg.Cluster + "/" + name }
func (p *policy) cascadeKey() string     { return p.key("cascade") }

// alert returns an Alert with the fields every alert shares filled in.
func (p *policy) alert(k Kind, a Action, key string, sev Severity, backend string, ev status.Event, now time.Time) Alert {
	return Alert{Kind: k, Action: a, DedupKey: key, Severity: sev, Source: p.cfg.Cluster, Backend: backend,
		Event: ev, DashboardURL: p.cfg.DashboardURL, Time: now}
}

// isOverride reports whether ev was caused by an operator override: the
// proxy publishes Force and Unforce as ordinary transitions with Reason
// "override", and the operator's action itself as OverrideSet or
// OverrideCleared.
func isOverride(ev status.Event) bool {
	return ev.Reason == reasonOverride || ev.Type.IsOverride()
}

// handle returns the alerts ev means now; held decisions come out of due.
func (p *policy) handle(ev status.Event, now time.Time) []Alert {
	switch ev.Type {
	case status.CascadeDetected:
		return p.cascadeDetected(ev, now)
	case status.UserBreakerOpened:
		return []Alert{p.alert(KindUserIsolated, ActionNone, "", SeverityWarning, "", ev, now)}
	case status.UserBreakerClosed:
		return []Alert{p.alert(KindUserRestored, ActionNone, "", SeverityInfo, "", ev, now)}
	case status.ConfigReloaded:
		var out []Alert
		for _, name := range ev.Backends {
			out = append(out, p.removed(name, ev, now)...)
		}
		return mergeRemoved(out)
	}
	switch ev.Type {
	case status.QueryBreakerOpened:
		// One query pattern refused, every other query served: worth a
		// message, not a page (ActionNone reaches chat channels only).
		if !p.cfg.AlertOnCircuitOpen {
			return nil
		}
		return []Alert{p.alert(KindPatternOpened, ActionNone, "", SeverityWarning, "", ev, now)}
	case status.QueryBreakerClosed:
		if !p.cfg.AlertOnCircuitOpen {
			return nil
		}
		return []Alert{p.alert(KindPatternClosed, ActionNone, "", SeverityInfo, "", ev, now)}
	}
	if ev.Backend == "" {
		return nil
	}
	b := p.backend(ev.Backend)
	if ev.To != status.NoState {
		b.state = ev.To
	}
	if isOverride(ev) {
		return p.override(b, ev, now)
	}
	switch ev.Type {
	case status.BackendTrustsProxy:
		return p.trusts(b, ev, now)
	case status.BackendTrustCleared:
		return p.trustCleared(b, ev, now)
	case status.BackendFenced:
		b.fenceIncident = true
		return []Alert{p.alert(KindFenced, ActionTrigger, p.key(b.name)+"/fenced", SeverityCritical, b.name, ev, now)}
	case status.BackendUnfenced:
		a := p.alert(KindUnfenced, ActionNone, "", SeverityInfo, b.name, ev, now)
		if b.fenceIncident {
			a.Action, a.DedupKey = ActionResolve, p.key(b.name)+"/fenced"
			b.fenceIncident = false
		}
		return []Alert{a}
	case status.BackendRoleChanged:
		return []Alert{p.alert(KindRoleChanged, ActionNone, "", SeverityWarning, b.name, ev, now)}
	case status.BackendRoleMismatch:
		return []Alert{p.alert(KindRoleMismatch, ActionNone, "", SeverityError, b.name, ev, now)}
	case status.CircuitOpened:
		return p.opened(b, ev, now)
	case status.RecoveryFailed:
		return p.recoveryFailed(b, ev, now)
	case status.CircuitClosed:
		return p.closed(b, ev, now)
	}
	return nil
}

func (p *policy) opened(b *backendState, ev status.Event, now time.Time) []Alert {
	b.opening = ev
	if b.pendingClose != nil {
		// Reopened within FlapWindow: the incident goes on, nobody is told.
		b.pendingClose = nil
		b.flaps++
		return nil
	}
	if b.incident || b.member || b.pendingOpen != nil {
		return nil // already announced (or about to be)
	}
	if p.cfg.AlertOnMultipleCircuitsOpen && p.cfg.CascadeDelay > 0 {
		b.pendingOpen, b.openDue = &ev, p.holdUntil(now)
		return nil
	}
	return p.page(b, ev, now)
}

// holdUntil returns when an opening held at now is due: CascadeDelay
// later, or, while a cascade incident is open, when the other openings
// held to join it are due, so that backends opening together after the
// cascade began are announced in one update, not one message each.
func (p *policy) holdUntil(now time.Time) time.Time {
	due := now.Add(p.cfg.CascadeDelay)
	if p.cascade == nil {
		return due
	}
	if p.cascade.updateDue.After(now) {
		return p.cascade.updateDue
	}
	p.cascade.updateDue = due
	return due
}

// page announces an opening: it joins the open cascade incident if there
// is one, else opens the backend's own incident.
func (p *policy) page(b *backendState, ev status.Event, now time.Time) []Alert {
	b.pendingOpen = nil
	if p.cascade != nil && p.cfg.AlertOnMultipleCircuitsOpen {
		p.join(b, ev)
		return []Alert{p.cascadeAlert(b.name, ev, now)}
	}
	if !p.cfg.AlertOnCircuitOpen {
		return nil
	}
	p.startIncident(b)
	return []Alert{p.alert(KindOpened, ActionTrigger, p.key(b.name), SeverityError, b.name, ev, now)}
}

func (p *policy) startIncident(b *backendState) {
	b.incident, b.flaps, b.suppressed, b.failures = true, 0, 0, nil
}

// join adds b to the open cascade incident.
func (p *policy) join(b *backendState, ev status.Event) {
	if !slices.Contains(p.cascade.backends, b.name) {
		p.cascade.backends = append(p.cascade.backends, b.name)
	}
	if ev.Type != "" && !slices.ContainsFunc(p.cascade.members, func(m status.Event) bool { return m.Backend == b.name }) {
		p.cascade.members = append(p.cascade.members, ev)
	}
	// A backend that is closed by now (its close is not held) must not keep
	// the cascade open.
	if b.state != status.Closed || b.pendingClose != nil {
		if !b.member && !b.incident {
			b.flaps, b.suppressed, b.failures = 0, 0, nil
		}
		b.member = true
	}
}

func (p *policy) cascadeAlert(backend string, ev status.Event, now time.Time) Alert {
	a := p.alert(KindCascade, ActionTrigger, p.cascadeKey(), SeverityCritical, backend, ev, now)
	a.Backends = slices.Clone(p.cascade.backends)
	a.Open = make([]string, 0, len(a.Backends))
	for _, name := range p.cascade.backends {
		if b := p.backends[name]; b != nil && b.member {
			a.Open = append(a.Open, name)
		}
	}
	a.Members = slices.Clone(p.cascade.members)
	return a
}

func (p *policy) cascadeDetected(ev status.Event, now time.Time) []Alert {
	if !p.cfg.AlertOnMultipleCircuitsOpen || len(ev.Backends) == 0 {
		return nil
	}
	if p.cascade == nil {
		p.cascade = &cascadeState{}
	}
	for _, name := range ev.Backends {
		b := p.backend(name)
		// A held opening is folded in here and never paged on its own.
		b.pendingOpen = nil
		p.join(b, b.opening)
	}
	// Other openings still held will join the incident: with those to
	// come, in one update.
	for _, b := range p.backends {
		if b.pendingOpen != nil {
			b.openDue = p.holdUntil(now)
		}
	}
	return []Alert{p.cascadeAlert("", ev, now)}
}

func (p *policy) recoveryFailed(b *backendState, ev status.Event, now time.Time) []Alert {
	var out []Alert
	if b.pendingOpen != nil {
		out = p.page(b, *b.pendingOpen, now)
	}
	if !p.cfg.AlertOnRecoveryFailure {
		return out
	}
	var key string
	sev := SeverityError
	switch {
	case b.incident:
		key = p.key(b.name)
	case b.member && p.cascade != nil:
		key, sev = p.cascadeKey(), SeverityCritical
	default:
		// Nothing announced this outage yet: the failure opens the incident.
		p.startIncident(b)
		key = p.key(b.name)
	}
	if b.failures == nil {
		every := rate.Inf
		if p.cfg.RecoveryUpdateInterval > 0 {
			every = rate.Every(p.cfg.RecoveryUpdateInterval)
		}
		b.failures = rate.NewLimiter(every, 1)
	}
	if !b.failures.AllowN(now, 1) {
		b.suppressed++
		return out
	}
	a := p.alert(KindRecoveryFailed, ActionTrigger, key, sev, b.name, ev, now)
	a.Suppressed, b.suppressed = b.suppressed, 0
	if key == p.cascadeKey() {
		a.Backends = slices.Clone(p.cascade.backends)
	}
	return append(out, a)
}

func (p *policy) closed(b *backendState, ev status.Event, now time.Time) []Alert {
	var out []Alert
	if b.pendingOpen != nil {
		// Closed before its opening was announced: announce it now, so the
		// resolve below has an incident to resolve.
		out = p.page(b, *b.pendingOpen, now)
	}
	if !b.incident && !b.member {
		return out
	}
	if p.cfg.FlapWindow > 0 {
		b.pendingClose, b.closeDue = &ev, now.Add(p.cfg.FlapWindow)
		return out
	}
	return append(out, p.recovered(b, ev, now)...)
}

// recovered resolves b's incident and, when b was the last open member of
// the cascade incident, the cascade too.
func (p *policy) recovered(b *backendState, ev status.Event, now time.Time) []Alert {
	return p.ended(KindClosed, b, ev, now)
}

// removed forgets a backend a reload removed from the configuration: its
// held opening is never paged, and its open incidents (its own or its part
// in the cascade, a fence, a trust page) resolve now, since nothing would
// close them any more. A backend with none is not announced; one added
// again later starts afresh.
func (p *policy) removed(name string, ev status.Event, now time.Time) []Alert {
	b, ok := p.backends[name]
	if !ok {
		return nil
	}
	delete(p.backends, name)
	b.pendingOpen = nil
	var out []Alert
	if b.incident || b.member {
		out = p.ended(KindRemoved, b, ev, now)
	}
	for _, inc := range []struct {
		open *bool
		key  string
	}{{&b.fenceIncident, p.key(name) + "/fenced"}, {&b.trustIncident, p.trustKey(name)}} {
		if *inc.open {
			*inc.open = false
			out = append(out, p.alert(KindRemoved, ActionResolve, inc.key, SeverityInfo, name, ev, now))
		}
	}
	return out
}

// mergeRemoved makes the information-only removals among the alerts of
// one reload (backends whose only incident was their part in a cascade)
// one message listing them, where the first was: a reload removing many
// backends is one operator action, not a message per backend. Resolves of
// incidents of their own stay one per incident.
func mergeRemoved(as []Alert) []Alert {
	quiet := func(a Alert) bool { return a.Kind == KindRemoved && a.Action == ActionNone }
	n := 0
	for _, a := range as {
		if quiet(a) {
			n++
		}
	}
	if n < 2 {
		return as
	}
	out := make([]Alert, 0, len(as)-n+1)
	merged := -1 // index in out of the one message
	for _, a := range as {
		switch {
		case !quiet(a):
			out = append(out, a)
		case merged < 0:
			merged = len(out)
			a.Backend, a.Backends = "", []string{a.Backend}
			out = append(out, a)
		default:
			out[merged].Backends = append(out[merged].Backends, a.Backend)
		}
	}
	return out
}

// ended resolves b's incident, announcing it as kind, and, when b was the
// last open member of the cascade incident, the cascade too.
func (p *policy) ended(kind Kind, b *backendState, ev status.Event, now time.Time) []Alert {
	b.pendingClose = nil
	a := p.alert(kind, ActionNone, "", SeverityInfo, b.name, ev, now)
	if b.incident {
		a.Action, a.DedupKey = ActionResolve, p.key(b.name)
	}
	a.Flaps = b.flaps
	out := []Alert{a}
	wasMember := b.member
	b.incident, b.member, b.flaps, b.suppressed, b.failures = false, false, 0, 0, nil
	if wasMember && p.cascade != nil && !p.anyMember() {
		r := p.alert(KindCascadeResolved, ActionResolve, p.cascadeKey(), SeverityInfo, "", ev, now)
		r.Backends = slices.Clone(p.cascade.backends)
		out = append(out, r)
		p.cascade = nil
	}
	return out
}

func (p *policy) anyMember() bool {
	for _, b := range p.backends {
		if b.member {
			return true
		}
	}
	return false
}

func (p *policy) trustKey(name string) string { return p.key(name) + "/trusts-proxy" }

// trusts announces a backend that lets the proxy's connections in without
// a password: a page while pass-through logins from other hosts are
// refused because of it (their clients fail until pg_hba.conf is fixed),
// a chat warning when the operator allowed them.
func (p *policy) trusts(b *backendState, ev status.Event, now time.Time) []Alert {
	if ev.Reason == reasonTrustAllowed {
		return []Alert{p.alert(KindTrustsProxy, ActionNone, "", SeverityWarning, b.name, ev, now)}
	}
	b.trustIncident = true
	return []Alert{p.alert(KindTrustsProxy, ActionTrigger, p.trustKey(b.name), SeverityError, b.name, ev, now)}
}

// trustCleared announces that the backend asks for a password again and
// resolves the page, if one was sent.
func (p *policy) trustCleared(b *backendState, ev status.Event, now time.Time) []Alert {
	a := p.alert(KindTrustCleared, ActionNone, "", SeverityInfo, b.name, ev, now)
	if b.trustIncident {
		a.Action, a.DedupKey = ActionResolve, p.trustKey(b.name)
		b.trustIncident = false
	}
	return []Alert{a}
}

func (p *policy) override(b *backendState, ev status.Event, now time.Time) []Alert {
	if b.pendingOpen != nil && ev.To == status.Closed {
		// An operator closed the circuit before its opening was announced:
		// there is nothing left to page about.
		b.pendingOpen = nil
	}
	if ev.To == status.Closed && (b.incident || b.member) {
		// The circuit is closed by an operator: resolve now, no damping.
		return p.recovered(b, ev, now)
	}
	var out []Alert
	if ev.Type.IsOverride() && ev.Node == "" {
		// One message per operator action, from OverrideSet or
		// OverrideCleared, which name the operator and the reason; the
		// transition the action causes says nothing more. An override
		// applied from another cluster member is announced there, where
		// the operator acted.
		out = append(out, p.alert(KindOverride, ActionNone, "", SeverityInfo, b.name, ev, now))
	}
	if b.pendingClose != nil {
		// Forced open while its resolve was held: the automatic problem
		// had recovered; the operator's action is announced on its own.
		out = append(out, p.recovered(b, *b.pendingClose, now)...)
	}
	return out
}

// next returns when the earliest held decision is due.
func (p *policy) next() (time.Time, bool) {
	var t time.Time
	for _, b := range p.backends {
		for _, d := range []struct {
			held bool
			at   time.Time
		}{{b.pendingOpen != nil, b.openDue}, {b.pendingClose != nil, b.closeDue}} {
			if d.held && (t.IsZero() || d.at.Before(t)) {
				t = d.at
			}
		}
	}
	return t, !t.IsZero()
}

// due returns the alerts of held decisions due at or before now, oldest
// first.
func (p *policy) due(now time.Time) []Alert {
	return p.release(func(at time.Time) bool { return !at.After(now) }, now, false)
}

// flush returns the alerts of every held decision, for shutdown: held
// openings are paged and held resolves sent, so no incident is left open
// by a proxy that is going away.
func (p *policy) flush(now time.Time) []Alert {
	return p.release(func(time.Time) bool { return true }, now, true)
}

// release returns the alerts of the held decisions ready says are due;
// flushing leaves the closes restore held (nothing was seen of their
// backends that would resolve them: the next run takes them up again).
func (p *policy) release(ready func(time.Time) bool, now time.Time, flushing bool) []Alert {
	type held struct {
		at    time.Time
		b     *backendState
		close bool
	}
	var hs []held
	for _, b := range p.backends {
		if b.pendingOpen != nil && ready(b.openDue) {
			hs = append(hs, held{b.openDue, b, false})
		}
		if b.pendingClose != nil && ready(b.closeDue) && !(flushing && b.pendingClose == b.restored) {
			hs = append(hs, held{b.closeDue, b, true})
		}
	}
	slices.SortFunc(hs, func(x, y held) int {
		return cmp.Or(x.at.Compare(y.at), strings.Compare(x.b.name, y.b.name))
	})
	var out []Alert
	// Openings due together that join the cascade incident make one
	// update of it, naming the backend only when there is one.
	var joined []status.Event
	announce := func() {
		switch n := len(joined); {
		case n == 1:
			out = append(out, p.cascadeAlert(joined[0].Backend, joined[0], now))
		case n > 1:
			out = append(out, p.cascadeAlert("", status.Event{Time: joined[n-1].Time}, now))
		}
		joined = nil
	}
	for _, h := range hs {
		switch {
		case h.close && h.b.pendingClose != nil:
			announce()
			out = append(out, p.recovered(h.b, *h.b.pendingClose, now)...)
		case !h.close && h.b.pendingOpen != nil && p.cascade != nil && p.cfg.AlertOnMultipleCircuitsOpen:
			ev := *h.b.pendingOpen
			h.b.pendingOpen = nil
			p.join(h.b, ev)
			joined = append(joined, ev)
		case !h.close && h.b.pendingOpen != nil:
			announce()
			out = append(out, p.page(h.b, *h.b.pendingOpen, now)...)
		}
	}
	announce()
	return out
}
