package pgtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a throwaway certificate authority and two certificates it signed,
// as PEM files in a directory of the test's: a server certificate for
// TLS-only clusters (Options.TLSCertFile …) and a client certificate.
type PKI struct {
	CAFile                string // the CA's certificate, to trust (sslrootcert)
	ServerCert, ServerKey string
	ClientCert, ClientKey string
	ServerHosts           []string // the names and addresses the server certificate is valid for
	ClientName            string   // the client certificate's common name (the role for pg_hba.conf "cert")
	caCert                *x509.Certificate
	caKey                 *ecdsa.PrivateKey
	dir                   string
	serial                int64
}

// NewPKI makes a CA, a server certificate for hosts (host names and IP
// addresses) and a client certificate whose common name is client.
func NewPKI(t testing.TB, hosts []string, client string) *PKI {
	t.Helper()
	p := &PKI{dir: t.TempDir(), ServerHosts: hosts, ClientName: client}
	p.caKey = newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.nextSerial()), Subject: pkix.Name{CommonName: "heliosproxy test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	if p.caCert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	p.CAFile = p.write(t, "ca.crt", "CERTIFICATE", der)

	server := &x509.Certificate{Subject: pkix.Name{CommonName: "postgres test server"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			server.IPAddresses = append(server.IPAddresses, ip)
		} else {
			server.DNSNames = append(server.DNSNames, h)
		}
	}
	p.ServerCert, p.ServerKey = p.sign(t, "server", server)
	p.ClientCert, p.ClientKey = p.sign(t, "client", &x509.Certificate{Subject: pkix.Name{CommonName: client},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return p
}

func (p *PKI) nextSerial() int64 {
	p.serial++
	return p.serial
}

// sign issues tmpl with a new key and writes both as name.crt and name.key.
func (p *PKI) sign(t testing.TB, name string, tmpl *x509.Certificate) (certFile, keyFile string) {
	t.Helper()
	key := newKey(t)
	tmpl.SerialNumber = big.NewInt(p.nextSerial())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name+".crt", "CERTIFICATE", der), p.write(t, name+".key", "EC PRIVATE KEY", kb)
}

func (p *PKI) write(t testing.TB, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TLSOptions returns o with the PKI's server certificate, its CA for
// client certificates, and TLSOnly.
func (p *PKI) TLSOptions(o Options) Options {
	o.TLSCertFile, o.TLSKeyFile, o.TLSCAFile, o.TLSOnly = p.ServerCert, p.ServerKey, p.CAFile, true
	return o
}
