package pgcluster

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
	"time"
)

// PKI is a throwaway certificate authority and two certificates it signed,
// as PEM files in a directory: a server certificate for TLS-only clusters
// (Options.TLSCertFile …) and a client certificate. The demo and the
// benchmarks use it; tests use pgtest.NewPKI.
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

// NewPKI makes, in dir, a CA, a server certificate for hosts (host names
// and IP addresses) valid for a day, and a client certificate whose common
// name is client.
func NewPKI(dir string, hosts []string, client string) (*PKI, error) {
	p := &PKI{dir: dir, ServerHosts: hosts, ClientName: client}
	var err error
	if p.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.nextSerial()), Subject: pkix.Name{CommonName: "heliosproxy throwaway CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		return nil, err
	}
	if p.caCert, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	if p.CAFile, err = p.write("ca.crt", "CERTIFICATE", der); err != nil {
		return nil, err
	}
	server := &x509.Certificate{Subject: pkix.Name{CommonName: "postgres server"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			server.IPAddresses = append(server.IPAddresses, ip)
		} else {
			server.DNSNames = append(server.DNSNames, h)
		}
	}
	if p.ServerCert, p.ServerKey, err = p.sign("server", server); err != nil {
		return nil, err
	}
	p.ClientCert, p.ClientKey, err = p.sign("client", &x509.Certificate{Subject: pkix.Name{CommonName: client},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (p *PKI) nextSerial() int64 {
	p.serial++
	return p.serial
}

// sign issues tmpl with a new key and writes both as name.crt and name.key.
func (p *PKI) sign(name string, tmpl *x509.Certificate) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl.SerialNumber = big.NewInt(p.nextSerial())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		return "", "", err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	if certFile, err = p.write(name+".crt", "CERTIFICATE", der); err != nil {
		return "", "", err
	}
	keyFile, err = p.write(name+".key", "EC PRIVATE KEY", kb)
	return certFile, keyFile, err
}

func (p *PKI) write(name, typ string, der []byte) (string, error) {
	path := filepath.Join(p.dir, name)
	return path, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

// TLSOptions returns o with the PKI's server certificate, its CA for
// client certificates, and TLSOnly.
func (p *PKI) TLSOptions(o Options) Options {
	o.TLSCertFile, o.TLSKeyFile, o.TLSCAFile, o.TLSOnly = p.ServerCert, p.ServerKey, p.CAFile, true
	return o
}

// WithThrowawayTLS returns o made TLS-only with a server certificate for
// 127.0.0.1 from a new CA in a temporary directory (no client
// certificates), and a function that removes the directory once the
// cluster is gone: for benchmarks that measure TLS to the backends.
func WithThrowawayTLS(o Options) (Options, func(), error) {
	dir, err := os.MkdirTemp("", "heliospg-pki-")
	if err != nil {
		return o, nil, err
	}
	remove := func() { os.RemoveAll(dir) }
	pki, err := NewPKI(dir, []string{"127.0.0.1"}, "postgres")
	if err != nil {
		remove()
		return o, nil, err
	}
	o.TLSCertFile, o.TLSKeyFile, o.TLSOnly = pki.ServerCert, pki.ServerKey, true
	return o, remove, nil
}
