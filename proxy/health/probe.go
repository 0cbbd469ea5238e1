package health

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/config"
)

// AnyRole stands, in the roles ProbeTrust returns, for every role name
// that no earlier pg_hba.conf line matches: a made-up role was let
// through.
const AnyRole = "*"

// ProbeTrust logs in to a backend without a password as a role that
// cannot exist, as postgres and as the health-check user (hc.User), to
// hc.Database (postgres if empty), and returns the roles it let in, nil
// if none. dial opens a connection with the backend's TLS settings:
// pg_hba.conf may trust hostssl connections only. timeout bounds each
// login. An error means the backend's answers could not tell (it is down,
// slow, full, …).
func ProbeTrust(ctx context.Context, dial func(context.Context) (net.Conn, error), hc config.HealthChecks, timeout time.Duration) ([]string, error) {
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
		ok, err := probeRole(ctx, dial, role, database, timeout)
		if err != nil {
			return nil, fmt.Errorf("probe as %s: %w", role, err)
		}
		if ok && role == made {
			role = AnyRole
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
