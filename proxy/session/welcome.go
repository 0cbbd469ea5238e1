package session

import (
	"github.com/heliosdb/heliosproxy/proxy/backend"
	"github.com/heliosdb/heliosproxy/proxy/pool"
	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// A transaction-mode login gives its server connection back right after
// it, so the connection is needed only for what the client is told (the
// ParameterStatus messages) and to find the client's startup settings
// acceptable. Both are known once a login with the same settings went
// through on the same pool: such a login goes on without a connection
// (knownWelcome), as PgBouncer's do, instead of waiting for one while
// the pool is busy (until query_wait_timeout, with every client of the
// pool in longer transactions). The first transaction attaches a
// connection and gives it the settings as every transaction does.

// maxWelcomeSettings bounds the startup settings remembered per pool.
const maxWelcomeSettings = 64

// welcome is what transaction-mode logins learned of one pool; guarded
// by pools.mu.
type welcome struct {
	// epoch is the pool epoch of base: after Isolate (the backend's
	// circuit opened) logins go through a connection again.
	epoch uint64
	// looped: the connection of base was read by an event loop.
	looped bool
	// base are the parameters the newest connection's server reported at
	// its login: the server's defaults (serverConn.defaults).
	base map[string]string
	// accepted maps the startup settings (name, NUL, value) a login gave
	// a connection of the pool without error to the value the server then
	// reported (meaningful for the names in base, which it reports).
	accepted map[string]string
}

// noteOpened records sc, a new connection of p, as the source of p's
// logins' parameters.
func (ps *pools) noteOpened(p *connPool, sc *serverConn, looped bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.w == nil {
		ps.w = make(map[*connPool]*welcome)
	}
	w := ps.w[p]
	if w == nil {
		w = &welcome{}
		ps.w[p] = w
	}
	switch e := sc.Epoch(); {
	case e < w.epoch:
		return // opened before an Isolate that a newer one saw
	case e > w.epoch:
		w.epoch, w.accepted = e, nil
	}
	w.base, w.looped = sc.defaults, looped
}

// noteLogin records the startup settings a transaction-mode login gave
// sc without error, with the values its server reported; the owner's
// pooled.mu is held (sc.Params).
func (ps *pools) noteLogin(sc *serverConn, startup map[string]string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	w := ps.w[sc.p]
	if w == nil || w.epoch != sc.Epoch() {
		return
	}
	for name, v := range startup {
		set := name + "\x00" + v
		if _, ok := w.accepted[set]; ok {
			continue
		}
		if len(w.accepted) >= maxWelcomeSettings {
			return
		}
		if w.accepted == nil {
			w.accepted = make(map[string]string)
		}
		w.accepted[set] = sc.Params[name]
	}
}

// welcomeFor returns the ParameterStatus messages of a login to p with
// the startup settings, and whether p's connections are read by a loop;
// ok is false when a connection must tell (none known in p's epoch, or a
// setting no login gave one without error). hot, unless "", is the
// in_hot_standby it reports (hotStandby).
func (ps *pools) welcomeFor(p *connPool, startup map[string]string, hot string) (out []byte, looped, ok bool) {
	epoch := p.Epoch()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	w := ps.w[p]
	if w == nil || w.base == nil || w.epoch != epoch {
		return nil, false, false
	}
	for name, v := range startup {
		if _, ok := w.accepted[name+"\x00"+v]; !ok {
			return nil, false, false
		}
	}
	for name, v := range w.base {
		if sv, asked := startup[name]; asked {
			v = w.accepted[name+"\x00"+sv]
		}
		if name == inHotStandby && hot != "" {
			v = hot
		}
		out = wire.AppendParameterStatus(out, name, v)
	}
	return out, w.looped, true
}

// inHotStandby is the parameter PostgreSQL 14 and later report at a
// login: "on" when the server is in recovery.
const inHotStandby = "in_hot_standby"

// hotStandby is what a pooled login routed to b is told of
// in_hot_standby: what b is now, as its health check found it, rather
// than what its pooled connections reported when they opened or at their
// last request (a server reports its promotion to a connection at the
// connection's next ReadyForQuery). Clients decide by it whether they
// reached a primary (libpq's target_session_attrs=read-write, pgjdbc's
// targetServerType=primary). "" when b's role is unknown: the
// connection's own value stands.
func hotStandby(b *backend.Backend) string {
	v := b.Roles()
	r := v.Observed
	if r == backend.RoleUnknown {
		r = v.Role
	}
	switch r {
	case backend.RolePrimary:
		return "off"
	case backend.RoleReplica:
		return "on"
	}
	return ""
}

// knownWelcome is a transaction-mode login that needs no server
// connection: the ParameterStatus messages for the client, from the pool
// of the backend the session routes to now (welcomeFor).
func (ss *session) knownWelcome() (out []byte, looped, ok bool) {
	pl := ss.pl
	b, t, err := ss.s.router.RouteNow(pl.readOnly, nil)
	if err != nil {
		return nil, false, false
	}
	(&routed{b: b, t: t}).undo() // the first transaction routes afresh
	p := ss.s.pools.get(ss.s, b, pool.Key{User: pl.user.Config.Name, Database: pl.database})
	return ss.s.pools.welcomeFor(p, pl.startup, hotStandby(b))
}
