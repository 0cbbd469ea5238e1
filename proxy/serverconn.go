package proxy

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/internal/scram"
	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// serverConn is one pooled connection to a backend, logged in as a
// [[users]] role. A goroutine of its own reads it for as long as it is
// open and relays what it reads to the session it is attached to; a
// connection that says anything while idle in the pool is closed.
type serverConn struct {
	p     *pool
	conn  net.Conn
	st    *wire.Stream
	pid   uint32
	key   []byte
	born  time.Time
	epoch uint64

	idleSince time.Time // guarded by p.mu

	owner   atomic.Pointer[session] // the attached session, nil when idle
	dead    atomic.Bool             // the connection is closed or broken
	closing atomic.Bool             // closed on purpose: not a backend failure
	doomed  atomic.Bool             // its backend's circuit opened: close it when returned

	// Guarded by the owner's pooled.mu (the pool's lock orders hand-overs).
	params   map[string]string   // session parameters as the server reported them or the proxy set them
	reported map[string]struct{} // the parameters the server reports
	stmts    map[uint64]struct{} // prepared statements it holds, by id
	q        respQueue           // what the responses it owes belong to
	ours     atomic.Int32        // requests of the proxy's own in q: their responses are dropped
	r        poolReader
}

// dial opens and logs in a new connection for p. ss is the session that
// wants it (nil for min_pool_size), whose SCRAM key may be needed.
func (p *pool) dial(ctx context.Context, ss *session, epoch uint64) (*serverConn, error) {
	s, b := p.s, p.b
	start := s.clock.Now()
	record := func(o breaker.Outcome) {
		now := s.clock.Now()
		b.connected(b.br.Current(), o, now.Sub(start), now)
	}
	u := s.user(p.key.user)
	if u == nil {
		return nil, fmt.Errorf("user %q is no longer in [[users]]", p.key.user)
	}
	dctx, cancel := context.WithTimeout(ctx, s.connectTimeout)
	defer cancel()
	conn, err := s.dialBackend(dctx, b)
	if err != nil {
		record(breaker.Failure)
		return nil, errRetry{err}
	}
	sc := &serverConn{p: p, conn: conn, st: wire.NewStream(conn, backendBufSize, backendMaxBody), born: start, epoch: epoch,
		params: make(map[string]string), reported: make(map[string]struct{}), stmts: make(map[uint64]struct{})}
	if d, ok := dctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	err = sc.login(u, p.key.database)
	_ = conn.SetDeadline(time.Time{})
	if err != nil {
		conn.Close()
		var be *backendError
		if errors.As(err, &be) {
			o := loginOutcome(be.code)
			record(o)
			if o == breaker.Failure || o == breaker.Overload {
				return nil, errRetry{err}
			}
			return nil, &Error{Code: be.code, Message: be.msg, Err: err}
		}
		var pe *Error
		if errors.As(err, &pe) {
			return nil, err // the proxy cannot log in: a configuration problem
		}
		record(breaker.Failure)
		return nil, errRetry{err}
	}
	record(breaker.Success)
	sc.r.sc = sc
	sc.r.scan = wire.Scanner{H: &sc.r, MaxBody: 1<<31 - 1, Hold: true}
	p.readers.Go(sc.readLoop)
	return sc, nil
}

// login sends the StartupMessage and answers the authentication request
// with the user's secret, then reads the session parameters.
func (sc *serverConn) login(u *poolUser, database string) error {
	startup, _ := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters: map[string]string{"user": u.cfg.Name, "database": database}}).Encode(nil)
	if _, err := sc.conn.Write(startup); err != nil {
		return err
	}
	var sasl *scram.Client
	for {
		typ, m, err := sc.st.Message()
		if err != nil {
			return err
		}
		body := m[5:]
		switch typ {
		case 'R':
			if len(body) < 4 {
				return wire.ProtocolErrorf("short authentication message from backend")
			}
			var reply []byte
			switch code := binary.BigEndian.Uint32(body); code {
			case pgproto3.AuthTypeOk, pgproto3.AuthTypeSASLFinal: // SASLFinal is checked below
				if code == pgproto3.AuthTypeSASLFinal {
					if sasl == nil {
						return wire.ProtocolErrorf("SASLFinal without SASL")
					}
					if err := sasl.Verify(body[4:]); err != nil {
						return &Error{Code: "28000", Message: "backend failed SCRAM server verification", Err: err}
					}
				}
				continue
			case pgproto3.AuthTypeCleartextPassword:
				pw := u.plain()
				if pw == "" {
					return u.cannot("a cleartext password")
				}
				reply, _ = (&pgproto3.PasswordMessage{Password: pw}).Encode(nil)
			case pgproto3.AuthTypeMD5Password:
				if u.md5 == "" || len(body) < 8 {
					return u.cannot("an md5 password")
				}
				reply, _ = (&pgproto3.PasswordMessage{Password: scram.MD5Response(u.md5, [4]byte(body[4:8]))}).Encode(nil)
			case pgproto3.AuthTypeSASL:
				if pw := u.plain(); pw != "" {
					sasl = scram.NewClient(pw, rand.Reader)
				} else if k, ok := u.learnedKey(); ok {
					sasl = scram.NewClientFromKeys(*k, u.verifier.ServerKey, rand.Reader)
				} else {
					return u.cannot("SCRAM before any client of this user logged in with SCRAM")
				}
				reply, _ = (&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: sasl.First()}).Encode(nil)
			case pgproto3.AuthTypeSASLContinue:
				if sasl == nil {
					return wire.ProtocolErrorf("SASLContinue without SASL")
				}
				final, err := sasl.Final(body[4:])
				if err != nil {
					return &Error{Code: "28000", Message: "SCRAM exchange with the backend failed", Err: err}
				}
				reply, _ = (&pgproto3.SASLResponse{Data: final}).Encode(nil)
			default:
				return u.cannot(fmt.Sprintf("authentication method %d", code))
			}
			if _, err := sc.conn.Write(reply); err != nil {
				return err
			}
		case 'K':
			if len(body) < 8 {
				return wire.ProtocolErrorf("short BackendKeyData from backend")
			}
			sc.pid = binary.BigEndian.Uint32(body)
			sc.key = append([]byte(nil), body[4:]...)
		case 'S':
			name, rest := wire.CString(body)
			value, _ := wire.CString(rest)
			sc.params[string(name)] = string(value)
			sc.reported[string(name)] = struct{}{}
		case 'N':
		case 'E':
			f := wire.ErrorFieldMap(body)
			return &backendError{code: f['C'], msg: f['M']}
		case 'Z':
			if len(sc.st.Buffered()) > 0 {
				return wire.ProtocolErrorf("data after ReadyForQuery during login")
			}
			return nil
		default:
			return wire.ProtocolErrorf("unexpected message type %q from backend during login", typ)
		}
	}
}

// cannot explains why the proxy cannot log in to a backend as u.
func (u *poolUser) cannot(what string) error {
	return &Error{Code: "28000", Message: fmt.Sprintf("HeliosProxy cannot log in to the backend as %q: the backend asks for %s and [[users]] does not give a password that answers it", u.cfg.Name, what)}
}

// close closes the connection on purpose; its reader then ends quietly.
func (sc *serverConn) close() {
	sc.closing.Store(true)
	sc.dead.Store(true)
	_ = sc.conn.Close()
}

// custom reports whether the proxy set parameter name on the connection
// for a client, PostgreSQL not reporting it.
func (sc *serverConn) custom(name string) bool {
	_, reported := sc.reported[name]
	return !reported
}

// forgetCustom drops the parameters the proxy set that PostgreSQL does not
// report, after the server reset them.
func (sc *serverConn) forgetCustom() {
	for name := range sc.params {
		if sc.custom(name) {
			delete(sc.params, name)
		}
	}
}
