package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/status"
)

// Every client reaches a backend from the proxy's address. A backend whose
// pg_hba.conf trusts that address (`host all all 127.0.0.1/32 trust` on a
// host that runs both) would let any client of the proxy log in, with any
// password, as any role it names. The proxy finds such backends by
// logging in without a password, warns, and refuses pass-through logins
// from other hosts to them unless the backend's allow_trust_pass_through
// says the operator accepts that.

// trustProbeEvery is how many health-check intervals pass between two
// probes of a backend once a probe has answered. A probe forks up to three
// backend processes and, on a backend that trusts the proxy, writes a FATAL
// line to its log for the made-up role; pg_hba.conf changes rarely, so every
// tenth interval (10 s by default) finds a change soon enough. A probe that
// could not tell (the backend was down or slow) is repeated at the next
// interval.
const trustProbeEvery = 10

// anyRole stands, in a backend's trusted roles, for every role name that
// no earlier pg_hba.conf line matches: a made-up role was let through.
const anyRole = "*"

// trustState is what the probes of one backend found.
type trustState struct {
	roles  atomic.Pointer[[]string] // the roles let in without a password at the last answer; nil: none (or no answer yet)
	probed chan struct{}            // closed when the first probe has finished
	once   sync.Once
}

// trusted returns the roles the backend lets in without a password, nil
// when none. The slice must not be modified.
func (ts *trustState) trusted() []string {
	if p := ts.roles.Load(); p != nil {
		return *p
	}
	return nil
}

// status returns whether the backend trusts the proxy and a copy of the
// roles, for a status.Backend.
func (ts *trustState) status() (bool, []string) {
	roles := ts.trusted()
	return roles != nil, slices.Clone(roles)
}

// set records roles and returns the previous ones.
func (ts *trustState) set(roles []string) []string {
	var p *[]string
	if len(roles) > 0 {
		p = &roles
	}
	if old := ts.roles.Swap(p); old != nil {
		return *old
	}
	return nil
}

func (ts *trustState) markProbed() { ts.once.Do(func() { close(ts.probed) }) }

// wait waits for the first probe, at most d; it reports whether the probe
// has finished.
func (ts *trustState) wait(ctx context.Context, d time.Duration) bool {
	select {
	case <-ts.probed:
		return true
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ts.probed:
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	return false
}

// refuseTrusted refuses a pass-through login from another host to a backend
// that lets the proxy's connections in without a password, and releases t
// when it does. Clients on the proxy's own host are not refused: they can
// reach the backend from the same address without the proxy.
func (ss *session) refuseTrusted(ctx context.Context, b *backend, t breaker.Ticket) error {
	if b.conf().AllowTrustPassThrough || localClient(ss.client.RemoteAddr()) {
		return nil
	}
	if !b.trust.wait(ctx, ss.s.connectTimeout) {
		// The first probe has not answered in time: the backend is
		// unreachable or very slow, and the login decides for itself.
		ss.s.log.Warn("pass-through login from another host before the backend's trust probe finished", "backend", b.cfg.Name, "session_id", ss.pid)
		return nil
	}
	if b.trust.trusted() == nil {
		return nil
	}
	b.br.Release(t)
	return &Error{
		Code:    "28000",
		Message: fmt.Sprintf("backend %s trusts connections from the proxy's address; pass-through logins from other hosts are refused", b.cfg.Name),
		Detail:  "Through the proxy, a client on another host would log in to this backend without a valid password.",
		Hint:    fmt.Sprintf("Fix pg_hba.conf on the backend (a password method such as scram-sha-256 for the proxy's address), list the role in [[users]], or set allow_trust_pass_through = true for backend %s.", b.cfg.Name),
	}
}

// localClient reports whether a client connects from the proxy's own host:
// a loopback address, or not an IP connection at all (a unix socket).
func localClient(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	return !ok || ta.IP.IsLoopback()
}

// watchTrust probes b at once and then every trustProbeEvery health-check
// intervals (every interval while a probe cannot tell) until ctx ends.
func (s *Server) watchTrust(ctx context.Context, b *backend, hc config.HealthChecks) {
	defer b.trust.markProbed() // nobody waits for a probe that will not come
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		wait := hc.Interval.Duration
		roles, err := s.probeTrust(ctx, b, hc)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.log.Debug("trust probe could not tell", "backend", b.cfg.Name, "err", err)
		default:
			s.noteTrust(b, roles)
			wait *= trustProbeEvery
		}
		b.trust.markProbed()
		t.Reset(wait)
	}
}

// probeTrust logs in to b without a password as a role that cannot exist,
// as postgres and as the health-check user, and returns the roles it let in.
func (s *Server) probeTrust(ctx context.Context, b *backend, hc config.HealthChecks) ([]string, error) {
	var random [8]byte
	if _, err := rand.Read(random[:]); err != nil {
		return nil, err
	}
	made := "helios_trust_probe_" + hex.EncodeToString(random[:])
	roles := []string{made, "postgres"}
	if hc.User != "" && !slices.Contains(roles, hc.User) {
		roles = append(roles, hc.User)
	}
	database := hc.Database
	if database == "" {
		database = "postgres"
	}
	var trusted []string
	for _, role := range roles {
		ok, err := probeRole(ctx, func(ctx context.Context) (net.Conn, error) { return s.dialBackend(ctx, b) }, role, database, s.connectTimeout)
		if err != nil {
			return nil, fmt.Errorf("probe as %s: %w", role, err)
		}
		if ok && role == made {
			role = anyRole
		}
		if ok {
			trusted = append(trusted, role)
		}
	}
	return trusted, nil
}

// errProbeUndecided is a probe answer that says nothing about how the
// backend authenticates (too many connections, starting up, …).
var errProbeUndecided = errors.New("the backend's answer does not tell how it authenticates")

// probeRole starts a session on addr as role without a password and reports
// whether the backend let it in: AuthenticationOk, or the FATAL "role does
// not exist" that PostgreSQL sends only once authentication has passed
// (with a password method it challenges even a role that does not exist,
// and fails the login only after the answer). Any authentication request
// means the backend asks for a password. dial opens the connection, with
// the backend's TLS settings: pg_hba.conf may trust hostssl connections
// only.
func probeRole(ctx context.Context, dial func(context.Context) (net.Conn, error), role, database string, timeout time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := dial(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	defer context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })()
	fe := pgproto3.NewFrontend(conn, conn)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{
		"user": role, "database": database, "application_name": "heliosproxy-trust-probe",
	}})
	if err := fe.Flush(); err != nil {
		return false, err
	}
	for {
		msg, err := fe.Receive()
		if err != nil {
			return false, err
		}
		switch m := msg.(type) {
		case *pgproto3.AuthenticationOk:
			endProbe(fe)
			return true, nil
		case *pgproto3.AuthenticationCleartextPassword, *pgproto3.AuthenticationMD5Password,
			*pgproto3.AuthenticationSASL, *pgproto3.AuthenticationGSS:
			// Closing now ends the backend quietly: PostgreSQL logs nothing
			// for a client that leaves during authentication.
			return false, nil
		case *pgproto3.ErrorResponse:
			switch {
			case m.Code == "28000" && m.Routine == "InitializeSessionUserId":
				return true, nil // the role does not exist, after authentication
			case strings.HasPrefix(m.Code, "28"):
				return false, nil // pg_hba.conf rejects the connection, ident failed, …
			}
			return false, fmt.Errorf("%w: sqlstate %s", errProbeUndecided, m.Code)
		}
	}
}

// endProbe reads a probe session up to its ReadyForQuery (or error) and
// ends it with Terminate, so that the backend logs no broken connection.
func endProbe(fe *pgproto3.Frontend) {
	for {
		msg, err := fe.Receive()
		if err != nil {
			return
		}
		switch msg.(type) {
		case *pgproto3.ReadyForQuery:
			fe.Send(&pgproto3.Terminate{})
			_ = fe.Flush()
			return
		case *pgproto3.ErrorResponse:
			return
		}
	}
}

// noteTrust records what a probe found and tells operators when it
// changes: an Error-level log and a BackendTrustsProxy event when the
// backend trusts the proxy (or trusts other roles), an Info log and a
// BackendTrustCleared event when it no longer does.
func (s *Server) noteTrust(b *backend, roles []string) {
	old := b.trust.set(roles)
	if slices.Equal(old, roles) {
		return
	}
	ev := status.Event{Time: s.clock.Now(), Backend: b.cfg.Name}
	if len(roles) == 0 {
		ev.Type, ev.Reason = status.BackendTrustCleared, "trust_cleared"
		ev.Detail = "the backend asks the proxy's connections for a password again"
		s.log.Info("backend no longer trusts the proxy's connections", "backend", b.cfg.Name)
		s.events.Publish(ev)
		return
	}
	ev.Type = status.BackendTrustsProxy
	names := strings.Join(roles, ", ")
	if slices.Contains(roles, anyRole) {
		names = "any role (" + names + ")"
	}
	if b.conf().AllowTrustPassThrough {
		ev.Reason = "pass_through_allowed"
		ev.Detail = "the backend lets the proxy's connections in without a password as " + names +
			"; allow_trust_pass_through = true lets clients on other hosts log in through the proxy without a valid password"
	} else {
		ev.Reason = "pass_through_refused"
		ev.Detail = "the backend lets the proxy's connections in without a password as " + names +
			"; pass-through logins from other hosts are refused until pg_hba.conf asks for a password (or allow_trust_pass_through = true)"
	}
	if old == nil {
		s.log.Error("backend trusts the proxy's connections: fix pg_hba.conf on the backend", "backend", b.cfg.Name, "roles", roles, "detail", ev.Detail)
	} else {
		s.log.Warn("backend trusts the proxy's connections for other roles now", "backend", b.cfg.Name, "roles", roles, "before", old)
	}
	s.events.Publish(ev)
}
