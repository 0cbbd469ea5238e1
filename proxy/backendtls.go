package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/fastconn"
)

// backendTLS is a backend's TLS settings made ready to dial with.
type backendTLS struct {
	settings config.TLS
	mode     string      // settings.Mode()
	conf     *tls.Config // nil for "disable"
}

// tlsCache holds a backend's backendTLS for one configuration: a reload
// (a new *config.Config) builds it again, so that the files are read
// again, by new connections only.
type tlsCache struct {
	mu  sync.Mutex
	cfg *config.Config
	bt  *backendTLS
}

// dialBackend opens a connection to b as its TLS settings say: TCP, then,
// unless sslmode is "disable", an SSLRequest and, when the server agrees,
// the TLS handshake. Every failure is the backend's connection failing (a
// hard failure for its breaker); a TLS one is a *tlsError that says why.
func (s *Server) dialBackend(ctx context.Context, b *backend) (net.Conn, error) {
	bt, err := b.tlsFor(s.config())
	if err != nil {
		return nil, err
	}
	return bt.dial(ctx, b.addr)
}

// tlsFor returns b's TLS settings under cfg, built once per
// configuration.
func (b *backend) tlsFor(cfg *config.Config) (*backendTLS, error) {
	c := &b.tls
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg == cfg && c.bt != nil {
		return c.bt, nil
	}
	bt, err := newBackendTLS(cfg.BackendTLS(*b.conf()), b.cfg.Host)
	if err != nil {
		return nil, err
	}
	c.cfg, c.bt = cfg, bt
	return bt, nil
}

// newBackendTLS builds the client side of TLS to a backend on host, with
// libpq's meaning of each sslmode: "prefer" and "require" encrypt without
// checking the server's certificate, unless sslrootcert is given, which
// makes them check its chain as "verify-ca" does; "verify-ca" checks the
// chain only (Go has no such mode: the check is VerifyConnection's);
// "verify-full" checks the chain and that the certificate names host.
// The client certificate goes to any server that asks for one, as
// libpq's does.
func newBackendTLS(t config.TLS, host string) (*backendTLS, error) {
	bt := &backendTLS{settings: t, mode: t.Mode()}
	if bt.mode == "disable" {
		return bt, nil
	}
	files, err := t.LoadFiles()
	if err != nil {
		return nil, &tlsError{mode: bt.mode, err: err}
	}
	conf := &tls.Config{
		ServerName: host, // also SNI, as libpq sends it
		MinVersion: tls.VersionTLS12,
	}
	if files.Cert != nil {
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return files.Cert, nil }
	}
	switch {
	case bt.mode == "verify-full":
		conf.RootCAs = files.Roots
	case files.Roots != nil:
		conf.InsecureSkipVerify = true // the chain is checked below, the name is not
		conf.VerifyConnection = func(cs tls.ConnectionState) error { return verifyChain(cs, files.Roots) }
	default:
		conf.InsecureSkipVerify = true // encryption without authentication, as libpq's require
	}
	bt.conf = conf
	return bt, nil
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

// tlsError is a failure to set up TLS with a backend: the backend's
// connection failed, for a reason an operator can read (and usually fix:
// sslmode, sslrootcert, the backend's certificate).
type tlsError struct {
	mode string
	err  error
}

func (e *tlsError) Error() string {
	return "TLS to the backend (sslmode " + e.mode + "): " + e.err.Error()
}
func (e *tlsError) Unwrap() error { return e.err }

// dial connects to addr with bt's settings. Plaintext and TLS alike run
// over a fastconn socket: TLS still gains its cheaper system calls.
func (bt *backendTLS) dial(ctx context.Context, addr string) (net.Conn, error) {
	raw, err := (&net.Dialer{KeepAlive: 15 * time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn := fastconn.Wrap(raw)
	if bt.conf == nil {
		return conn, nil
	}
	tc, err := bt.startTLS(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, &tlsError{mode: bt.mode, err: err}
	}
	return tc, nil
}

// startTLS asks the server on conn for TLS and makes the handshake; with
// "prefer", a server that declines leaves conn in plaintext. ctx bounds
// it all.
func (bt *backendTLS) startTLS(ctx context.Context, conn net.Conn) (net.Conn, error) {
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
		if bt.mode == "prefer" {
			return conn, nil
		}
		return nil, errNoSSL
	default:
		return nil, fmt.Errorf("unexpected answer %q to SSLRequest: not a PostgreSQL server?", answer[0])
	}
	tc := tls.Client(conn, bt.conf)
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

// Channel binding cannot pass through the proxy: a client's
// SCRAM-SHA-256-PLUS would bind to the TLS channel it shares with the
// proxy, which the backend does not see, and the backend's to the proxy's
// channel to it. So when the proxy's connection to a backend is TLS,
// withoutPlus takes SCRAM-SHA-256-PLUS out of the mechanisms the backend
// offers a pass-through client. A client that itself uses TLS (to the
// proxy) and prefers channel binding then answers "y" (it could bind but
// thinks the server cannot), which PostgreSQL refuses as a downgrade
// attack; the proxy adds bindingHint to that refusal.
const scramPlus = "SCRAM-SHA-256-PLUS"

// withoutPlus returns an AuthenticationSASL message m (header included)
// without SCRAM-SHA-256-PLUS; m itself when it does not offer it or does
// not decode.
func withoutPlus(m []byte) []byte {
	var sasl pgproto3.AuthenticationSASL
	if err := sasl.Decode(m[5:]); err != nil {
		return m
	}
	kept := slices.DeleteFunc(slices.Clone(sasl.AuthMechanisms), func(s string) bool { return s == scramPlus })
	if len(kept) == len(sasl.AuthMechanisms) {
		return m
	}
	sasl.AuthMechanisms = kept
	out, err := sasl.Encode(nil)
	if err != nil {
		return m
	}
	return out
}

// wantsBinding reports whether a client's answer to AuthenticationSASL
// (a whole 'p' message) says it supports channel binding but thinks the
// server does not: the gs2 header "y".
func wantsBinding(reply []byte) bool {
	var r pgproto3.SASLInitialResponse
	return r.Decode(reply[5:]) == nil && r.AuthMechanism == "SCRAM-SHA-256" && len(r.Data) > 0 && r.Data[0] == 'y'
}

// bindingHint is the hint the proxy adds to PostgreSQL's refusal of a
// client that wanted channel binding through a proxy that reaches the
// backend over TLS.
const bindingHint = "HeliosProxy reaches this backend over TLS, and SCRAM channel binding cannot pass through a proxy. " +
	"Connect with channel_binding=disable, or to the proxy without TLS, or have the role listed in the proxy's [[users]] so that the proxy authenticates it."

// withHint returns the ErrorResponse m (header included) with hint as its
// HINT; m itself when it does not decode.
func withHint(m []byte, hint string) []byte {
	var e pgproto3.ErrorResponse
	if err := e.Decode(m[5:]); err != nil {
		return m
	}
	e.Hint = hint
	out, err := e.Encode(nil)
	if err != nil {
		return m
	}
	return out
}

// errChannelBinding is a pass-through login refused because the client
// wanted channel binding (wantsBinding): the client's doing, not the
// backend's health.
var errChannelBinding = errors.New("the client wants SCRAM channel binding, which cannot pass through the proxy to a backend reached over TLS")

// reason says for a client, without host names or file contents, why TLS
// to the backend failed (the log has the whole error).
func (e *tlsError) reason() string {
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
