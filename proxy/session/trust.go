package session

import (
	"context"
	"fmt"
	"net"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/proxy/backend"
)

// Every client reaches a backend from the proxy's address. A backend whose
// pg_hba.conf trusts that address would let any client of the proxy log
// in, with any password, as any role it names; the proxy's trust probes
// (package health) find such backends (backend.Trust), and pass-through
// logins from other hosts to them are refused unless the backend's
// allow_trust_pass_through says the operator accepts that.

// refuseTrusted refuses a pass-through login from another host to a backend
// that lets the proxy's connections in without a password, and releases t
// when it does. Clients on the proxy's own host are not refused: they can
// reach the backend from the same address without the proxy.
func (ss *session) refuseTrusted(ctx context.Context, b *backend.Backend, t breaker.Ticket) error {
	if b.Live().AllowTrustPassThrough || localClient(ss.client.RemoteAddr()) {
		return nil
	}
	if !b.Trust.Wait(ctx, ss.s.connectTimeout) {
		// The first probe has not answered in time: the backend is
		// unreachable or very slow, and the login decides for itself.
		ss.s.log.Warn("pass-through login from another host before the backend's trust probe finished", "backend", b.Config.Name, "session_id", ss.pid)
		return nil
	}
	if b.Trust.Roles() == nil {
		return nil
	}
	b.Breaker.Release(t)
	return &Error{
		Code:    "28000",
		Message: fmt.Sprintf("backend %s trusts connections from the proxy's address; pass-through logins from other hosts are refused", b.Config.Name),
		Detail:  "Through the proxy, a client on another host would log in to this backend without a valid password.",
		Hint:    fmt.Sprintf("Fix pg_hba.conf on the backend (a password method such as scram-sha-256 for the proxy's address), list the role in [[users]], or set allow_trust_pass_through = true for backend %s.", b.Config.Name),
	}
}

// localClient reports whether a client connects from the proxy's own host:
// a loopback address, or not an IP connection at all (a unix socket).
func localClient(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	return !ok || ta.IP.IsLoopback()
}
