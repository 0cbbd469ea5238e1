package pool

import (
	"fmt"
	"sync"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/scram"
	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// User is a [[users]] entry with the secrets derived from it: they check
// its clients' logins and answer the backends' authentication requests.
type User struct {
	Config   config.User
	TxMode   bool           // transaction pooling (else session pooling)
	Verifier scram.Verifier // checks SCRAM logins
	MD5      string         // md5 secret, "" when the file gives a SCRAM verifier

	mu        sync.Mutex
	clientKey *[32]byte // from a client's SCRAM proof, when the file gives a verifier
}

// NewUser derives the login secrets of u, whose pool mode defaults to
// mode. A plain password gets a verifier with the given salt, as CREATE
// ROLE … PASSWORD would.
func NewUser(u config.User, mode string, salt []byte) (*User, error) {
	if u.PoolMode != "" {
		mode = u.PoolMode
	}
	pu := &User{Config: u, TxMode: mode == "transaction"}
	switch {
	case scram.IsVerifier(u.Password):
		v, err := scram.ParseVerifier(u.Password)
		if err != nil {
			return nil, fmt.Errorf("users %q: %w", u.Name, err)
		}
		pu.Verifier = v
	case scram.IsMD5Secret(u.Password):
		pu.MD5 = u.Password
	default:
		pu.Verifier = scram.NewVerifier(u.Password, salt, 4096)
		pu.MD5 = scram.MD5Secret(u.Name, u.Password)
	}
	return pu, nil
}

// Plain returns the plain password, "" when the file gives a secret.
func (u *User) Plain() string {
	if scram.IsVerifier(u.Config.Password) || scram.IsMD5Secret(u.Config.Password) {
		return ""
	}
	return u.Config.Password
}

// LearnedKey returns the SCRAM client key a client's login revealed.
func (u *User) LearnedKey() (*[32]byte, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.clientKey, u.clientKey != nil
}

// Learn keeps the SCRAM client key of a client's successful login, so that
// the proxy can log in to backends as u with a verifier alone.
func (u *User) Learn(k [32]byte) {
	u.mu.Lock()
	u.clientKey = &k
	u.mu.Unlock()
}

// cannot explains why the proxy cannot log in to a backend as u.
func (u *User) cannot(what string) error {
	return &wire.Error{Code: "28000", Message: fmt.Sprintf("HeliosProxy cannot log in to the backend as %q: the backend asks for %s and [[users]] does not give a password that answers it", u.Config.Name, what)}
}
