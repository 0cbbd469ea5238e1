package scram

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"strconv"
	"strings"
)

// The steps of an exchange, for Server and Client.
const (
	stepStart = iota
	stepFirstDone
	stepOver // finished or failed; no further messages
)

var errOutOfOrder = errors.New("scram: message out of order")

// Server is the server side of one SCRAM-SHA-256 exchange, offered as the
// mechanism "SCRAM-SHA-256" only (no channel binding). Call First, then
// Final; after an error the exchange is over. A Server is not safe for
// concurrent use.
type Server struct {
	v    Verifier
	rand io.Reader
	step int

	gs2         string // the gs2 header the client sent, "n,," or "y,,"
	nonce       string // client nonce + server nonce
	authMessage string // client-first-message-bare "," server-first-message
}

// NewServer starts an exchange against v. The server nonce is read from rand:
// crypto/rand.Reader in production.
func NewServer(v Verifier, rand io.Reader) *Server {
	return &Server{v: v, rand: rand}
}

// First takes the client-first-message (the data of SASLInitialResponse) and
// returns the server-first-message. It accepts the gs2 headers "n,," and
// "y,,", and rejects channel binding ("p="), an authorization identity
// ("a=") and mandatory extensions ("m="). The user name is ignored, as
// PostgreSQL does: its clients send an empty one.
func (s *Server) First(clientFirst []byte) ([]byte, error) {
	if s.step != stepStart {
		return nil, errOutOfOrder
	}
	nonce, err := newNonce(s.rand)
	if err != nil {
		s.step = stepOver
		return nil, err
	}
	return s.first(string(clientFirst), nonce)
}

func (s *Server) first(msg, serverNonce string) ([]byte, error) {
	s.step = stepOver
	const what = "client-first-message"
	switch {
	case strings.HasPrefix(msg, "p="):
		return nil, errors.New("scram: channel binding is not supported")
	case !strings.HasPrefix(msg, "n,") && !strings.HasPrefix(msg, "y,"):
		return nil, malformed(what, `gs2 header is not "n,," or "y,,"`)
	}
	authzid, bare, ok := strings.Cut(msg[2:], ",")
	switch {
	case !ok:
		return nil, malformed(what, "no attributes after the gs2 header")
	case strings.HasPrefix(authzid, "a="):
		return nil, errors.New("scram: authorization identity (a=) is not supported")
	case authzid != "":
		return nil, malformed(what, "gs2 header has a bad authorization identity")
	}
	attrs, ok := attributes(bare)
	switch {
	case !ok:
		return nil, malformed(what, "attributes are not <letter>=<value>")
	case attrs[0][0] == 'm':
		return nil, errors.New("scram: mandatory extensions (m=) are not supported")
	case attrs[0][0] != 'n' || len(attrs) < 2 || attrs[1][0] != 'r':
		return nil, malformed(what, "does not start with n=<user>,r=<nonce>")
	case !validNonce(attrs[1][2:]):
		return nil, malformed(what, "nonce is not printable ASCII")
	}
	// Any optional extensions after the nonce are ignored, as PostgreSQL does.
	s.gs2 = msg[:3]
	s.nonce = attrs[1][2:] + serverNonce
	serverFirst := "r=" + s.nonce + ",s=" + b64.EncodeToString(s.v.Salt) + ",i=" + strconv.Itoa(s.v.Iterations)
	s.authMessage = bare + "," + serverFirst
	s.step = stepFirstDone
	return []byte(serverFirst), nil
}

// Final takes the client-final-message and returns the server-final-message
// ("v=<ServerSignature>") and the ClientKey recovered from the client's proof,
// which with the verifier's ServerKey lets NewClientFromKeys log in to a
// backend that stores the same verifier. The channel binding (c=) must be the
// gs2 header the client sent first and the nonce must be the combined one. A
// wrong proof returns ErrAuthFailed, which says nothing about why.
func (s *Server) Final(clientFinal []byte) (serverFinal []byte, clientKey [32]byte, err error) {
	if s.step != stepFirstDone {
		return nil, clientKey, errOutOfOrder
	}
	s.step = stepOver
	const what = "client-final-message"
	msg := string(clientFinal)
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, clientKey, malformed(what, "no proof (p=) at the end")
	}
	withoutProof := msg[:i]
	attrs, ok := attributes(withoutProof)
	if !ok || len(attrs) < 2 || attrs[0][0] != 'c' || attrs[1][0] != 'r' {
		return nil, clientKey, malformed(what, "does not start with c=<binding>,r=<nonce>")
	}
	if cb, err := b64.DecodeString(attrs[0][2:]); err != nil || string(cb) != s.gs2 {
		return nil, clientKey, errors.New("scram: channel binding (c=) does not match the gs2 header")
	}
	if attrs[1][2:] != s.nonce {
		return nil, clientKey, errors.New("scram: nonce in client-final-message does not match")
	}
	proof, err := decodeKey(msg[i+3:])
	if err != nil {
		return nil, clientKey, malformed(what, "proof is not 32 bytes of base64")
	}
	authMessage := s.authMessage + "," + withoutProof
	clientKey = xor(proof, hmacSum(s.v.StoredKey[:], authMessage))
	storedKey := sha256.Sum256(clientKey[:])
	if subtle.ConstantTimeCompare(storedKey[:], s.v.StoredKey[:]) != 1 {
		return nil, [32]byte{}, ErrAuthFailed
	}
	signature := hmacSum(s.v.ServerKey[:], authMessage)
	return []byte("v=" + b64.EncodeToString(signature[:])), clientKey, nil
}
