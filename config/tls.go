package config

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// DefaultTLS returns the [backends] TLS settings, before any backend's own.
func (b Backends) DefaultTLS() TLS {
	return TLS{SSLMode: b.SSLMode, SSLRootCert: b.SSLRootCert, SSLCert: b.SSLCert, SSLKey: b.SSLKey}
}

// tlsKeys are the TLS keys of [backends] and [[backends.instances]].
var tlsKeys = []string{"sslmode", "sslrootcert", "sslcert", "sslkey"}

// SSLModes are the values of sslmode, from weakest to strongest.
var SSLModes = []string{"disable", "prefer", "require", "verify-ca", "verify-full"}

// TLS is how the proxy's connections to one backend use TLS, as libpq's
// connection parameters of the same names:
//
//   - SSLMode "disable" (or ""): plaintext. "prefer": TLS if the server
//     offers it, else plaintext. "require": TLS or nothing. "verify-ca":
//     TLS with a server certificate that chains to SSLRootCert.
//     "verify-full": that, and the certificate names the backend's host.
//     As with libpq, "prefer" and "require" verify the chain when
//     SSLRootCert is given (then a bad certificate fails the connection).
//   - SSLRootCert is a PEM file of trusted CA certificates, or "system" for
//     the operating system's roots (which, as with libpq, needs
//     "verify-full"); required with "verify-ca" and "verify-full".
//   - SSLCert and SSLKey are PEM files of a client certificate and its key,
//     sent when the server asks for one (pg_hba.conf "cert", or
//     clientcert=verify-ca); both or neither.
type TLS struct {
	SSLMode     string
	SSLRootCert string
	SSLCert     string
	SSLKey      string
}

// Mode returns SSLMode, "disable" when empty.
func (t TLS) Mode() string {
	if t.SSLMode == "" {
		return "disable"
	}
	return t.SSLMode
}

// BackendTLS returns b's TLS settings: each of its own that is set, else
// the [backends] default.
func (c *Config) BackendTLS(b Backend) TLS {
	d := c.Backends
	return TLS{
		SSLMode:     cmp.Or(b.SSLMode, d.SSLMode),
		SSLRootCert: cmp.Or(b.SSLRootCert, d.SSLRootCert),
		SSLCert:     cmp.Or(b.SSLCert, d.SSLCert),
		SSLKey:      cmp.Or(b.SSLKey, d.SSLKey),
	}
}

// TLSFiles is what a TLS's files hold, parsed.
type TLSFiles struct {
	// Roots are the trusted CA certificates of SSLRootCert: the system's
	// for "system"; nil when SSLRootCert is empty.
	Roots *x509.CertPool
	// Cert is the client certificate of SSLCert and SSLKey; nil when they
	// are empty.
	Cert *tls.Certificate
}

// LoadFiles reads and parses t's files. An error names the file and what
// is wrong with it, never its contents.
func (t TLS) LoadFiles() (TLSFiles, error) {
	var f TLSFiles
	var errs []error
	if t.SSLRootCert != "" {
		roots, err := loadRoots(t.SSLRootCert)
		if err != nil {
			errs = append(errs, err)
		}
		f.Roots = roots
	}
	if t.SSLCert != "" || t.SSLKey != "" {
		cert, err := loadKeyPair(t.SSLCert, t.SSLKey)
		if err != nil {
			errs = append(errs, err)
		}
		f.Cert = cert
	}
	return f, errors.Join(errs...)
}

// loadRoots reads a PEM file of CA certificates, or the system's roots
// for "system".
func loadRoots(file string) (*x509.CertPool, error) {
	if file == "system" {
		roots, err := x509.SystemCertPool()
		if err != nil {
			return nil, fmt.Errorf("the system's root certificates: %w", err)
		}
		return roots, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err // *fs.PathError names the file
	}
	pool := x509.NewCertPool()
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			if n == 1 {
				return nil, fmt.Errorf("%s: no PEM certificate in it", file)
			}
			return pool, nil
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: PEM block %d: %w", file, n, err)
		}
		pool.AddCert(cert)
	}
}

// ClientCertificate reads the certificate and key that TLS with clients
// uses (tls_cert_file, tls_key_file), as Validate checks them; nil when
// none is set. An error names the files, never their contents.
func (p Proxy) ClientCertificate() (*tls.Certificate, error) {
	if p.TLSCertFile == "" && p.TLSKeyFile == "" {
		return nil, nil
	}
	return loadKeyPair(p.TLSCertFile, p.TLSKeyFile)
}

// loadKeyPair reads a client certificate and its key.
func loadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("a client certificate needs both sslcert and sslkey")
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	// tls's errors say what is wrong ("private key does not match public
	// key"), never what the files hold.
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s and %s: %w", certFile, keyFile, err)
	}
	return &cert, nil
}

// backendsTLS checks the [backends] TLS keys, then each backend's own.
func (v *validator) backendsTLS(c *Config) {
	d := c.Backends.DefaultTLS()
	v.tls("backends", d, d, func(name string) bool { return d.get(name) != "" })
	for i, b := range c.Backends.Instances {
		own := b.ownTLS()
		if len(own) == 0 {
			continue // what [backends] says, checked above
		}
		prefix := fmt.Sprintf("backends.instances[%d]", i)
		v.tls(prefix, c.BackendTLS(b), d, func(name string) bool { return slices.Contains(own, name) })
	}
}

// get returns the setting of the key name.
func (t TLS) get(name string) string {
	switch name {
	case "sslmode":
		return t.SSLMode
	case "sslrootcert":
		return t.SSLRootCert
	case "sslcert":
		return t.SSLCert
	case "sslkey":
		return t.SSLKey
	}
	return ""
}

// ownTLS lists the TLS keys b sets itself.
func (b Backend) ownTLS() []string {
	t := TLS{SSLMode: b.SSLMode, SSLRootCert: b.SSLRootCert, SSLCert: b.SSLCert, SSLKey: b.SSLKey}
	var own []string
	for _, name := range tlsKeys {
		if t.get(name) != "" {
			own = append(own, name)
		}
	}
	return own
}

// tls checks the settings t of the table at prefix, whose own keys are
// those own reports (the others come from def, the [backends] default):
// values and files of its own keys, and the rules between keys of which
// one at least is its own, so that a problem of [backends] is reported
// once, there.
func (v *validator) tls(prefix string, t, def TLS, own func(name string) bool) {
	key := func(name string) string {
		if !own(name) && def.get(name) != "" {
			return "backends." + name
		}
		return prefix + "." + name
	}
	if own("sslmode") && t.SSLMode != "" && !slices.Contains(SSLModes, t.SSLMode) {
		v.add(key("sslmode"), "unsupported sslmode %q; supported: %s", t.SSLMode, `"`+strings.Join(SSLModes, `", "`)+`"`)
		return
	}
	mode := t.Mode()
	if own("sslmode") || own("sslrootcert") {
		switch {
		case (mode == "verify-ca" || mode == "verify-full") && t.SSLRootCert == "":
			v.add(key("sslrootcert"), `required with sslmode %q: a PEM file of the CA certificates to trust, or "system" for the operating system's (libpq's default ~/.postgresql/root.crt is not read)`, mode)
		case t.SSLRootCert == "system" && mode != "verify-full" && own("sslmode"):
			v.add(key("sslmode"), `must be "verify-full" with sslrootcert = "system" (any public CA can vouch for any name), got %q`, mode)
		case t.SSLRootCert == "system" && mode != "verify-full":
			v.add(key("sslrootcert"), `"system" needs sslmode = "verify-full" (any public CA can vouch for any name), got sslmode %q`, mode)
		}
	}
	if own("sslrootcert") && t.SSLRootCert != "" {
		if _, err := loadRoots(t.SSLRootCert); err != nil {
			v.add(key("sslrootcert"), "cannot load the CA certificates: %v", err)
		}
	}
	if own("sslcert") || own("sslkey") {
		switch {
		case t.SSLCert == "":
			v.add(key("sslcert"), "required with sslkey (%q)", t.SSLKey)
		case t.SSLKey == "":
			v.add(key("sslkey"), "required with sslcert (%q)", t.SSLCert)
		default:
			if _, err := loadKeyPair(t.SSLCert, t.SSLKey); err != nil {
				k := "sslcert"
				if !own(k) {
					k = "sslkey"
				}
				v.add(key(k), "cannot load the client certificate: %v", err)
			}
		}
	}
}
