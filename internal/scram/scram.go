// Package scram implements SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL
// uses it, for both sides of an exchange and without channel binding, and
// PostgreSQL's md5 password method.
//
// Passwords are prepared for SCRAM exactly as pgx v5 prepares them: ASCII
// passwords are used as they are, as PostgreSQL and libpq use them. Others go
// through the PRECIS OpaqueString profile (RFC 8265: non-ASCII spaces become
// spaces, then NFC; invalid UTF-8 becomes U+FFFD), or are used raw if they
// hold a code point unassigned in Unicode 3.2 or PRECIS rejects them (as
// PostgreSQL uses passwords that SASLprep rejects). PostgreSQL and libpq apply SASLprep (RFC 4013) instead, which uses
// NFKC and removes or maps more characters, so for passwords such as "ﬁx",
// "Ａbc" or "a\u00adb" the keys derived here, like pgx's, are not the ones
// PostgreSQL stores (it stores those of "fix", "Abc" and "ab").
package scram

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
)

const (
	verifierPrefix = "SCRAM-SHA-256$"
	nonceBytes     = 18         // random bytes in a nonce, as PostgreSQL and pgx use
	maxIterations  = 10_000_000 // the most a Client accepts from a server
)

// ErrAuthFailed is returned by Server.Final when the client's proof is wrong.
var ErrAuthFailed = errors.New("scram: authentication failed")

var b64 = base64.StdEncoding

// Verifier is a PostgreSQL SCRAM-SHA-256 secret. Its String form is a
// secret too: don't log it.
type Verifier struct {
	Iterations int
	Salt       []byte
	StoredKey  [32]byte
	ServerKey  [32]byte
}

// ParseVerifier parses PostgreSQL's rolpassword form
// "SCRAM-SHA-256$<iterations>:<salt base64>$<StoredKey base64>:<ServerKey base64>".
// Errors say which part is wrong and never include s.
func ParseVerifier(s string) (Verifier, error) {
	rest, ok := strings.CutPrefix(s, verifierPrefix)
	if !ok {
		return Verifier{}, errors.New("scram: verifier does not start with " + verifierPrefix)
	}
	params, keys, ok1 := strings.Cut(rest, "$")
	iter, salt, ok2 := strings.Cut(params, ":")
	stored, server, ok3 := strings.Cut(keys, ":")
	if !ok1 || !ok2 || !ok3 {
		return Verifier{}, errors.New("scram: verifier is not <iterations>:<salt>$<StoredKey>:<ServerKey>")
	}
	var v Verifier
	var err error
	// strconv's and base64's errors would quote the input, so they are dropped.
	if v.Iterations, err = strconv.Atoi(iter); err != nil || v.Iterations < 1 {
		return Verifier{}, errors.New("scram: verifier iteration count is not a positive integer")
	}
	if v.Salt, err = b64.DecodeString(salt); err != nil || len(v.Salt) == 0 {
		return Verifier{}, errors.New("scram: verifier salt is not non-empty base64")
	}
	if v.StoredKey, err = decodeKey(stored); err != nil {
		return Verifier{}, errors.New("scram: verifier StoredKey is not 32 bytes of base64")
	}
	if v.ServerKey, err = decodeKey(server); err != nil {
		return Verifier{}, errors.New("scram: verifier ServerKey is not 32 bytes of base64")
	}
	return v, nil
}

// IsVerifier reports whether s looks like a SCRAM-SHA-256 verifier, that is
// has its "SCRAM-SHA-256$" prefix; ParseVerifier checks the rest.
func IsVerifier(s string) bool {
	return strings.HasPrefix(s, verifierPrefix)
}

// NewVerifier derives the verifier of password (prepared as the package doc
// says) for salt, which it copies, and iterations. It panics if iterations is
// less than 1, or if crypto/pbkdf2 refuses the salt (in FIPS 140-only mode,
// when it is shorter than 16 bytes).
func NewVerifier(password string, salt []byte, iterations int) Verifier {
	clientKey, serverKey := mustKeys(password, salt, iterations)
	return Verifier{
		Iterations: iterations,
		Salt:       slices.Clone(salt),
		StoredKey:  sha256.Sum256(clientKey[:]),
		ServerKey:  serverKey,
	}
}

// String returns v in PostgreSQL's rolpassword form, which ParseVerifier
// reads back.
func (v Verifier) String() string {
	return fmt.Sprintf("%s%d:%s$%s:%s", verifierPrefix, v.Iterations,
		b64.EncodeToString(v.Salt), b64.EncodeToString(v.StoredKey[:]), b64.EncodeToString(v.ServerKey[:]))
}

// ClientKeyOf returns the ClientKey of password for salt and iterations, which
// with a Verifier's ServerKey lets NewClientFromKeys log in. It panics as
// NewVerifier does.
func ClientKeyOf(password string, salt []byte, iterations int) [32]byte {
	clientKey, _ := mustKeys(password, salt, iterations)
	return clientKey
}

func mustKeys(password string, salt []byte, iterations int) (clientKey, serverKey [32]byte) {
	if iterations < 1 {
		panic("scram: iterations must be at least 1")
	}
	clientKey, serverKey, err := keys(password, salt, iterations)
	if err != nil {
		panic(err)
	}
	return clientKey, serverKey
}

// keys derives ClientKey and ServerKey from password.
func keys(password string, salt []byte, iterations int) (clientKey, serverKey [32]byte, err error) {
	salted, err := pbkdf2.Key(sha256.New, prepare(password), salt, iterations, sha256.Size)
	if err != nil {
		return clientKey, serverKey, fmt.Errorf("scram: derive keys: %w", err)
	}
	return hmacSum(salted, "Client Key"), hmacSum(salted, "Server Key"), nil
}

// prepare normalizes a password as pgx v5 does (see the package doc).
func prepare(password string) string {
	if !strings.ContainsFunc(password, func(r rune) bool { return r >= utf8.RuneSelf }) {
		return password
	}
	if strings.ContainsFunc(password, unassigned) {
		return password
	}
	if p, err := precis.OpaqueString.String(password); err == nil {
		return p
	}
	return password // PostgreSQL accepts passwords that SASLprep rejects, unchanged
}

// unassigned reports whether r was unassigned in Unicode 3.2.
func unassigned(r rune) bool {
	i := sort.Search(len(unassigned32), func(i int) bool { return unassigned32[i][1] >= r })
	return i < len(unassigned32) && unassigned32[i][0] <= r
}

func hmacSum(key []byte, msg string) (sum [32]byte) {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	h.Sum(sum[:0])
	return sum
}

func decodeKey(s string) (key [32]byte, err error) {
	b, err := b64.DecodeString(s)
	if err == nil && len(b) != len(key) {
		err = errors.New("wrong length")
	}
	copy(key[:], b)
	return key, err
}

func xor(a, b [32]byte) (out [32]byte) {
	for i := range out {
		out[i] = a[i] ^ b[i]
	}
	return out
}

// newNonce returns a nonce of random bytes from rand, base64-encoded.
func newNonce(rand io.Reader) (string, error) {
	var buf [nonceBytes]byte
	if _, err := io.ReadFull(rand, buf[:]); err != nil {
		return "", fmt.Errorf("scram: read nonce: %w", err)
	}
	return b64.EncodeToString(buf[:]), nil
}

// validNonce reports whether s is a nonce as RFC 5802 allows: printable ASCII
// other than ",".
func validNonce(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x21 || r > 0x7e || r == ',' })
}

// attributes splits a SCRAM message into its "<letter>=<value>" parts.
func attributes(msg string) ([]string, bool) {
	parts := strings.Split(msg, ",")
	for _, p := range parts {
		if len(p) < 2 || p[1] != '=' || !('a' <= p[0] && p[0] <= 'z' || 'A' <= p[0] && p[0] <= 'Z') {
			return nil, false
		}
	}
	return parts, true
}

// malformed reports a message that does not parse; it never quotes the message.
func malformed(message, why string) error {
	return fmt.Errorf("scram: malformed %s: %s", message, why)
}
