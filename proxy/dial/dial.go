// Package dial opens the proxy's connections to a backend: TCP (bounded
// by the caller's context, which carries the connect timeout), then, as
// the backend's sslmode says (disable, prefer, require, verify-ca,
// verify-full, with libpq's meanings), an SSLRequest and the TLS
// handshake, with certificate verification and the client certificate.
// A TLS failure is an *Error whose Reason an operator can act on. It also
// holds the helpers that adapt a pass-through login to a backend reached
// over TLS, where SCRAM channel binding cannot be offered (WithoutPlus,
// WantsBinding, WithHint).
//
// It does not decide which backend to dial, when, or what a failure means
// for a circuit, nor does it speak the protocol after the handshake: that
// is proxy's.
package dial

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/fastconn"
	"github.com/heliosdb/heliosproxy/proxy/evloop"
)

// TLS is a backend's TLS settings made ready to dial with. The zero TLS
// dials in plaintext, as sslmode "disable" does.
type TLS struct {
	mode string      // the settings' Mode()
	conf *tls.Config // nil for "disable"
}

// Cache holds a backend's TLS for one configuration: a reload (a new
// *config.Config) builds it again, so that the files are read again, by
// new connections only. The zero Cache is empty.
type Cache struct {
	mu  sync.Mutex
	cfg *config.Config
	t   *TLS
}

// For returns the TLS of backend b under cfg, built once per
// configuration.
func (c *Cache) For(cfg *config.Config, b *config.Backend) (*TLS, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg == cfg && c.t != nil {
		return c.t, nil
	}
	t, err := NewTLS(cfg.BackendTLS(*b), b.Host)
	if err != nil {
		return nil, err
	}
	c.cfg, c.t = cfg, t
	return t, nil
}

// NewTLS builds the client side of TLS to a backend on host, with
// libpq's meaning of each sslmode: "prefer" and "require" encrypt without
// checking the server's certificate, unless sslrootcert is given, which
// makes them check its chain as "verify-ca" does; "verify-ca" checks the
// chain only (Go has no such mode: the check is VerifyConnection's);
// "verify-full" checks the chain and that the certificate names host.
// The client certificate goes to any server that asks for one, as
// libpq's does. It reads s's files; failing to is an *Error.
func NewTLS(s config.TLS, host string) (*TLS, error) {
	t := &TLS{mode: s.Mode()}
	if t.mode == "disable" {
		return t, nil
	}
	files, err := s.LoadFiles()
	if err != nil {
		return nil, &Error{mode: t.mode, err: err}
	}
	conf := &tls.Config{
		ServerName: host, // also SNI, as libpq sends it
		MinVersion: tls.VersionTLS12,
	}
	if files.Cert != nil {
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return files.Cert, nil }
	}
	switch {
	case t.mode == "verify-full":
		conf.RootCAs = files.Roots
	case files.Roots != nil:
		conf.InsecureSkipVerify = true // the chain is checked below, the name is not
		conf.VerifyConnection = func(cs tls.ConnectionState) error { return verifyChain(cs, files.Roots) }
	default:
		conf.InsecureSkipVerify = true // encryption without authentication, as libpq's require
	}
	t.conf = conf
	return t, nil
}

// verifyChain checks that the server's certificate chains to roots.
func verifyChain(cs tls.ConnectionState, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the server sent no certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
		return fmt.Errorf("failed to verify certificate: %w", err)
	}
	return nil
}

// errNoSSL is a server's "N" to the SSLRequest when sslmode needs TLS.
var errNoSSL = errors.New("server does not support SSL, but sslmode requires it")

// Error is a failure to set up TLS with a backend: the backend's
// connection failed, for a reason an operator can read (and usually fix:
// sslmode, sslrootcert, the backend's certificate).
type Error struct {
	mode string
	err  error
}

func (e *Error) Error() string {
	return "TLS to the backend (sslmode " + e.mode + "): " + e.err.Error()
}
func (e *Error) Unwrap() error { return e.err }

// Reason says for a client, without host names or file contents, why TLS
// to the backend failed (the log has the whole error).
func (e *Error) Reason() string {
	var cve *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var name x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.Is(e.err, errNoSSL):
		return "the backend does not offer TLS, which sslmode " + e.mode + " requires"
	case errors.As(e.err, &cve), errors.As(e.err, &unknown), errors.As(e.err, &name), errors.As(e.err, &invalid):
		return "the backend's certificate failed verification (sslmode " + e.mode + ")"
	case errors.Is(e.err, os.ErrNotExist), errors.Is(e.err, os.ErrPermission):
		return "the proxy cannot read its TLS files"
	default:
		return "the TLS handshake failed (sslmode " + e.mode + ")"
	}
}

// Dial connects to addr with t's settings: TCP, then, unless sslmode is
// "disable", an SSLRequest and, when the server agrees, the TLS
// handshake; ctx bounds it all (the caller's connect timeout). Every
// failure is the backend's connection failing; a TLS one is an *Error
// that says why. Plaintext and TLS alike run over a fastconn socket: TLS
// still gains its cheaper system calls. The caller closes the connection.
func (t *TLS) Dial(ctx context.Context, addr string) (net.Conn, error) {
	raw, err := (&net.Dialer{KeepAlive: 15 * time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn := fastconn.Wrap(raw)
	if t.conf == nil {
		return conn, nil
	}
	tc, err := t.startTLS(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, &Error{mode: t.mode, err: err}
	}
	return tc, nil
}

// startTLS asks the server on conn for TLS and makes the handshake; with
// "prefer", a server that declines leaves conn in plaintext. ctx bounds
// it all.
func (t *TLS) startTLS(ctx context.Context, conn net.Conn) (net.Conn, error) {
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if stop() {
			_ = conn.SetDeadline(time.Time{})
		}
	}()
	req, _ := (&pgproto3.SSLRequest{}).Encode(nil)
	if _, err := conn.Write(req); err != nil {
		return nil, fmt.Errorf("send SSLRequest: %w", ctxErr(ctx, err))
	}
	// One byte only: what a server sends after it before the handshake
	// must not be taken as encrypted (CVE-2021-23222); the handshake
	// reads it and fails.
	var answer [1]byte
	if _, err := io.ReadFull(conn, answer[:]); err != nil {
		return nil, fmt.Errorf("read the answer to SSLRequest: %w", ctxErr(ctx, err))
	}
	switch answer[0] {
	case 'S':
	case 'N':
		if t.mode == "prefer" {
			return conn, nil
		}
		return nil, errNoSSL
	default:
		return nil, fmt.Errorf("unexpected answer %q to SSLRequest: not a PostgreSQL server?", answer[0])
	}
	// Over a Pipe: an event loop can own the socket (proxy/evloop).
	tc := tls.Client(evloop.NewPipe(conn), t.conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, ctxErr(ctx, err)
	}
	return tc, nil
}

// ctxErr is ctx's error when ctx ended, which is why an I/O on a
// connection it watches failed; else err.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}
