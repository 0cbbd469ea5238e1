package scram

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// clientGS2 is the gs2 header a Client sends: no channel binding.
const clientGS2 = "n,,"

// Client is the client side of one SCRAM-SHA-256 exchange, which the proxy
// uses to log in to PostgreSQL backends. Call First, Final and Verify in that
// order; after an error the exchange is over. A Client is not safe for
// concurrent use.
type Client struct {
	password             string
	clientKey, serverKey [32]byte
	fromKeys             bool

	nonce string // the client nonce
	bare  string // client-first-message-bare
	err   error  // from reading the nonce; Final returns it
	step  int

	signature [32]byte // the ServerSignature that Verify expects
}

// NewClient starts an exchange that logs in with password, prepared as the
// package doc says. The client nonce is read from rand (crypto/rand.Reader in
// production) now; if that fails, Final returns the error.
func NewClient(password string, rand io.Reader) *Client {
	c := newClient(rand)
	c.password = password
	return c
}

// NewClientFromKeys starts an exchange that logs in without the password,
// with a ClientKey (such as one Server.Final recovered from a client's proof)
// and the ServerKey of the same verifier. It works when the backend stores
// that verifier, with the same salt and iteration count.
func NewClientFromKeys(clientKey, serverKey [32]byte, rand io.Reader) *Client {
	c := newClient(rand)
	c.clientKey, c.serverKey, c.fromKeys = clientKey, serverKey, true
	return c
}

func newClient(rand io.Reader) *Client {
	nonce, err := newNonce(rand)
	// PostgreSQL ignores the user name in favor of the startup message's,
	// and libpq and pgx send an empty one.
	return &Client{nonce: nonce, bare: "n=,r=" + nonce, err: err}
}

// First returns the client-first-message, "n,,n=,r=<nonce>", for
// SASLInitialResponse.
func (c *Client) First() []byte {
	return []byte(clientGS2 + c.bare)
}

// Final takes the server-first-message and returns the client-final-message
// with the proof. The server nonce must extend the client's, the salt must
// not be empty, and the iteration count must be 1 to 10,000,000 (a hostile
// server could otherwise make the client spend unbounded time in PBKDF2).
func (c *Client) Final(serverFirst []byte) ([]byte, error) {
	if c.err != nil {
		return nil, c.err
	}
	if c.step != stepStart {
		return nil, errOutOfOrder
	}
	c.step = stepOver
	const what = "server-first-message"
	msg := string(serverFirst)
	attrs, ok := attributes(msg)
	switch {
	case !ok:
		return nil, malformed(what, "attributes are not <letter>=<value>")
	case attrs[0][0] == 'm':
		return nil, errors.New("scram: server sent a mandatory extension (m=)")
	case len(attrs) < 3 || attrs[0][0] != 'r' || attrs[1][0] != 's' || attrs[2][0] != 'i':
		return nil, malformed(what, "does not start with r=<nonce>,s=<salt>,i=<iterations>")
	}
	nonce := attrs[0][2:]
	if !strings.HasPrefix(nonce, c.nonce) || len(nonce) == len(c.nonce) || !validNonce(nonce) {
		return nil, errors.New("scram: server nonce does not extend the client nonce")
	}
	salt, err := b64.DecodeString(attrs[1][2:])
	if err != nil || len(salt) == 0 {
		return nil, malformed(what, "salt is not non-empty base64")
	}
	iterations, err := strconv.Atoi(attrs[2][2:])
	if err != nil || iterations < 1 || iterations > maxIterations {
		return nil, malformed(what, fmt.Sprintf("iteration count is not 1 to %d", maxIterations))
	}
	if !c.fromKeys {
		if c.clientKey, c.serverKey, err = keys(c.password, salt, iterations); err != nil {
			return nil, err
		}
	}
	withoutProof := "c=" + b64.EncodeToString([]byte(clientGS2)) + ",r=" + nonce
	authMessage := c.bare + "," + msg + "," + withoutProof
	storedKey := sha256.Sum256(c.clientKey[:])
	proof := xor(c.clientKey, hmacSum(storedKey[:], authMessage))
	c.signature = hmacSum(c.serverKey[:], authMessage)
	c.step = stepFirstDone
	return []byte(withoutProof + ",p=" + b64.EncodeToString(proof[:])), nil
}

// Verify checks the server-final-message: its ServerSignature (v=) must be
// the one the server's key gives, which proves the server knows the
// verifier. A server error ("e=...") is returned as an error with its text.
func (c *Client) Verify(serverFinal []byte) error {
	if c.step != stepFirstDone {
		return errOutOfOrder
	}
	c.step = stepOver
	attr, _, _ := strings.Cut(string(serverFinal), ",") // extensions are ignored
	if text, ok := strings.CutPrefix(attr, "e="); ok {
		return fmt.Errorf("scram: server error: %s", text)
	}
	value, ok := strings.CutPrefix(attr, "v=")
	if !ok {
		return malformed("server-final-message", "no verifier (v=) or error (e=)")
	}
	signature, err := decodeKey(value)
	if err != nil {
		return malformed("server-final-message", "verifier is not 32 bytes of base64")
	}
	if !hmac.Equal(signature[:], c.signature[:]) {
		return errors.New("scram: server signature does not match: the server does not know the password")
	}
	return nil
}
