package session

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/internal/scram"
	"github.com/heliosdb/heliosproxy/proxy/pool"
	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// authenticateClient checks the client's password for a [[users]] role as
// PostgreSQL would (SCRAM-SHA-256, md5 or trust) and sends
// AuthenticationOk. A wrong password gets PostgreSQL's own message and
// SQLSTATE, with no delay added.
func (ss *session) authenticateClient(u *pool.User) error {
	var err error
	switch u.Config.AuthMethod {
	case "trust":
	case "md5":
		err = ss.md5Login(u)
	default:
		err = ss.scramLogin(u)
	}
	if err != nil {
		return err
	}
	_, err = ss.client.Write(wire.AppendMessageOf(nil, &pgproto3.AuthenticationOk{}))
	return err
}

func authFailed(user string) *Error {
	return &Error{Code: codeInvalidPassword, Message: fmt.Sprintf("password authentication failed for user %q", user)}
}

// password reads the client's next message, which must be a
// PasswordMessage (or SASL response), and returns its body.
func (ss *session) password() ([]byte, error) {
	typ, m, err := ss.cs.Message()
	if err != nil {
		return nil, errors.Join(errClient, err)
	}
	if typ != 'p' {
		return nil, wire.ProtocolErrorf("expected a password message, got type %q", typ)
	}
	return m[5:], nil
}

func (ss *session) md5Login(u *pool.User) error {
	var salt [4]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return err
	}
	if _, err := ss.client.Write(wire.AppendMessageOf(nil, &pgproto3.AuthenticationMD5Password{Salt: salt})); err != nil {
		return errors.Join(errClient, err)
	}
	body, err := ss.password()
	if err != nil {
		return err
	}
	got, _ := wire.CString(body)
	want := scram.MD5Response(u.MD5, salt)
	if subtle.ConstantTimeCompare(got, []byte(want)) != 1 {
		return authFailed(u.Config.Name)
	}
	return nil
}

func (ss *session) scramLogin(u *pool.User) error {
	key, err := ss.scramExchange(u.Verifier, u.Config.Name)
	if err != nil {
		return err
	}
	if scram.IsVerifier(u.Config.Password) {
		u.Learn(key)
	}
	return nil
}

// scramExchange runs a SCRAM-SHA-256 exchange with the client against v
// and returns the ClientKey its proof carried; user names the role in a
// failure message.
func (ss *session) scramExchange(v scram.Verifier, user string) ([32]byte, error) {
	var key [32]byte
	req, _ := (&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}}).Encode(nil)
	if _, err := ss.client.Write(req); err != nil {
		return key, errors.Join(errClient, err)
	}
	body, err := ss.password()
	if err != nil {
		return key, err
	}
	mech, rest := wire.CString(body)
	if string(mech) != "SCRAM-SHA-256" {
		return key, &Error{Code: "28000", Message: "client selected an invalid SASL authentication mechanism"}
	}
	if len(rest) < 4 || int(int32(binary.BigEndian.Uint32(rest))) != len(rest)-4 {
		return key, wire.ProtocolErrorf("malformed SASLInitialResponse")
	}
	srv := scram.NewServer(v, rand.Reader)
	first, err := srv.First(rest[4:])
	if err != nil {
		return key, &Error{Code: codeProtocolViolation, Message: "malformed SCRAM message", Err: err}
	}
	cont, _ := (&pgproto3.AuthenticationSASLContinue{Data: first}).Encode(nil)
	if _, err := ss.client.Write(cont); err != nil {
		return key, errors.Join(errClient, err)
	}
	if body, err = ss.password(); err != nil {
		return key, err
	}
	final, key, err := srv.Final(body)
	if errors.Is(err, scram.ErrAuthFailed) {
		return key, authFailed(user)
	}
	if err != nil {
		return key, &Error{Code: codeProtocolViolation, Message: "malformed SCRAM message", Err: err}
	}
	fin, _ := (&pgproto3.AuthenticationSASLFinal{Data: final}).Encode(nil)
	if _, err := ss.client.Write(fin); err != nil {
		return key, errors.Join(errClient, err)
	}
	return key, nil
}
