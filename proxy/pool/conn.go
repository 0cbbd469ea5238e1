package pool

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/internal/scram"
	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// Conn is one server connection of a pool, logged in as a [[users]] role.
type Conn struct {
	Net    net.Conn
	Stream *wire.Stream
	PID    uint32 // the backend's BackendKeyData, for cancel requests
	Key    []byte

	// Params are the session parameters as the server reported them or
	// the proxy set them, Reported the names the server reports. Login
	// fills them; afterwards whoever has the connection checked out
	// keeps them.
	Params   map[string]string
	Reported map[string]struct{}

	born      time.Time
	epoch     uint64
	idleSince time.Time // guarded by the pool's mu

	dead    atomic.Bool // closed or broken
	closing atomic.Bool // closed on purpose: not a backend failure
	doomed  atomic.Bool // its backend's circuit opened: close it when given back
}

// NewConn returns the base of a connection opened at born for epoch (the
// value Env.Open was given), reading and writing conn through st.
func NewConn(conn net.Conn, st *wire.Stream, born time.Time, epoch uint64) Conn {
	return Conn{Net: conn, Stream: st, born: born, epoch: epoch,
		Params: make(map[string]string), Reported: make(map[string]struct{})}
}

// Epoch is the pool epoch the connection was opened in.
func (c *Conn) Epoch() uint64 { return c.epoch }

// Close closes the connection on purpose; its reader then ends quietly.
func (c *Conn) Close() {
	c.closing.Store(true)
	c.dead.Store(true)
	_ = c.Net.Close()
}

// Dead reports whether the connection is closed or broken.
func (c *Conn) Dead() bool { return c.dead.Load() }

// MarkDead notes that the connection broke.
func (c *Conn) MarkDead() { c.dead.Store(true) }

// Closing reports whether the connection was closed on purpose.
func (c *Conn) Closing() bool { return c.closing.Load() }

// Doom makes the connection close when given back.
func (c *Conn) Doom() { c.doomed.Store(true) }

// Doomed reports whether Doom was called.
func (c *Conn) Doomed() bool { return c.doomed.Load() }

// IdleSince returns when the connection was last given back, zero if
// never; read it while the connection is checked out.
func (c *Conn) IdleSince() time.Time { return c.idleSince }

// Custom reports whether the proxy set parameter name on the connection
// for a client, PostgreSQL not reporting it.
func (c *Conn) Custom(name string) bool {
	_, reported := c.Reported[name]
	return !reported
}

// ForgetCustom drops the parameters the proxy set that PostgreSQL does not
// report, after the server reset them.
func (c *Conn) ForgetCustom() {
	for name := range c.Params {
		if c.Custom(name) {
			delete(c.Params, name)
		}
	}
}

// Login sends the StartupMessage for u and database and answers the
// authentication request with u's secret, then reads the session
// parameters and the key data into c. A backend's refusal is a
// *wire.BackendError; a request that u's secrets cannot answer, or a
// backend that fails SCRAM's server verification, a *wire.Error 28000.
func (c *Conn) Login(u *User, database string) error {
	startup, _ := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters: map[string]string{"user": u.Config.Name, "database": database}}).Encode(nil)
	if _, err := c.Net.Write(startup); err != nil {
		return err
	}
	var sasl *scram.Client
	for {
		typ, m, err := c.Stream.Message()
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
						return &wire.Error{Code: "28000", Message: "backend failed SCRAM server verification", Err: err}
					}
				}
				continue
			case pgproto3.AuthTypeCleartextPassword:
				pw := u.Plain()
				if pw == "" {
					return u.cannot("a cleartext password")
				}
				reply, _ = (&pgproto3.PasswordMessage{Password: pw}).Encode(nil)
			case pgproto3.AuthTypeMD5Password:
				if u.MD5 == "" || len(body) < 8 {
					return u.cannot("an md5 password")
				}
				reply, _ = (&pgproto3.PasswordMessage{Password: scram.MD5Response(u.MD5, [4]byte(body[4:8]))}).Encode(nil)
			case pgproto3.AuthTypeSASL:
				if pw := u.Plain(); pw != "" {
					sasl = scram.NewClient(pw, rand.Reader)
				} else if k, ok := u.LearnedKey(); ok {
					sasl = scram.NewClientFromKeys(*k, u.Verifier.ServerKey, rand.Reader)
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
					return &wire.Error{Code: "28000", Message: "SCRAM exchange with the backend failed", Err: err}
				}
				reply, _ = (&pgproto3.SASLResponse{Data: final}).Encode(nil)
			default:
				return u.cannot(fmt.Sprintf("authentication method %d", code))
			}
			if _, err := c.Net.Write(reply); err != nil {
				return err
			}
		case 'K':
			if len(body) < 8 {
				return wire.ProtocolErrorf("short BackendKeyData from backend")
			}
			c.PID = binary.BigEndian.Uint32(body)
			c.Key = append([]byte(nil), body[4:]...)
		case 'S':
			name, rest := wire.CString(body)
			value, _ := wire.CString(rest)
			c.Params[string(name)] = string(value)
			c.Reported[string(name)] = struct{}{}
		case 'N':
		case 'E':
			f := wire.ErrorFieldMap(body)
			return &wire.BackendError{Code: f['C'], Message: f['M'], Own: wire.OwnError(f['C'], body, true)}
		case 'Z':
			if len(c.Stream.Buffered()) > 0 {
				return wire.ProtocolErrorf("data after ReadyForQuery during login")
			}
			return nil
		default:
			return wire.ProtocolErrorf("unexpected message type %q from backend during login", typ)
		}
	}
}
