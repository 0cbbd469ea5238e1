package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPKI writes a CA certificate, a client certificate it signed and the
// client's key, and a key that belongs to neither, as PEM files in dir.
func testPKI(t *testing.T, dir string) (ca, cert, key, otherKey string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	writeKey := func(name string, k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, "EC PRIVATE KEY", der)
	}
	caKey, clientKey := newKey(), newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	clientTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "heliosproxy"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	clientDER, err := x509.CreateCertificate(rand.Reader, clientTmpl, caTmpl, &clientKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("client.pem", "CERTIFICATE", clientDER),
		writeKey("client.key", clientKey), writeKey("other.key", newKey())
}

func TestBackendTLS(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key, _ := testPKI(t, dir)
	doc := `[backends]
sslmode = "verify-full"
sslrootcert = "` + ca + `"
[[backends.instances]]
name = "a"
host = "db-a.example"
[[backends.instances]]
name = "b"
host = "db-b.example"
sslmode = "require"
sslcert = "` + cert + `"
sslkey = "` + key + `"
`
	c, _, err := Parse("tls.toml", []byte(doc))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	if got, want := c.BackendTLS(c.Backends.Instances[0]), (TLS{SSLMode: "verify-full", SSLRootCert: ca}); got != want {
		t.Errorf("BackendTLS(a) = %+v, want %+v", got, want)
	}
	want := TLS{SSLMode: "require", SSLRootCert: ca, SSLCert: cert, SSLKey: key}
	if got := c.BackendTLS(c.Backends.Instances[1]); got != want {
		t.Errorf("BackendTLS(b) = %+v, want %+v", got, want)
	}
	f, err := want.LoadFiles()
	if err != nil || f.Roots == nil || f.Cert == nil {
		t.Errorf("LoadFiles(b) = %+v, %v; want roots and a certificate", f, err)
	}

	d := Default()
	if got := d.BackendTLS(DefaultBackend()).Mode(); got != "disable" {
		t.Errorf("default sslmode = %q, want disable", got)
	}
	if got := (TLS{}).Mode(); got != "disable" {
		t.Errorf("TLS{}.Mode() = %q, want disable", got)
	}
}

func TestBackendTLSErrors(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key, otherKey := testPKI(t, dir)
	// A file that is not PEM, holding what could be a secret: errors must
	// not show it.
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("987654321 not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	doc := `[backends]
sslmode = "verify-ca"
[[backends.instances]]
name = "a"
host = "h"
sslmode = "verify-all"
[[backends.instances]]
name = "b"
host = "h"
sslrootcert = "` + junk + `"
[[backends.instances]]
name = "c"
host = "h"
sslmode = "verify-full"
sslrootcert = "` + missing + `"
sslcert = "` + cert + `"
[[backends.instances]]
name = "d"
host = "h"
sslmode = "require"
sslrootcert = "system"
sslcert = "` + cert + `"
sslkey = "` + otherKey + `"
[[backends.instances]]
name = "e"
host = "h"
sslrootcert = "` + ca + `"
sslkey = "` + junk + `"
[[backends.instances]]
name = "g"
host = "h"
sslrootcert = "system"
[[backends.instances]]
name = "f"
host = "h"
sslmode = "verify-full"
sslrootcert = "` + ca + `"
sslcert = "` + cert + `"
sslkey = "` + key + `"
`
	_, _, err := Parse("tls.toml", []byte(doc))
	want := []string{
		`tls.toml:1: backends.sslrootcert: required with sslmode "verify-ca": a PEM file of the CA certificates to trust, or "system" for the operating system's (libpq's default ~/.postgresql/root.crt is not read)`,
		`tls.toml:6: backends.instances[0].sslmode: unsupported sslmode "verify-all"; supported: "disable", "prefer", "require", "verify-ca", "verify-full"`,
		`tls.toml:10: backends.instances[1].sslrootcert: cannot load the CA certificates: ` + junk + `: no PEM certificate in it`,
		// sslkey is not in the file: the error points at its table.
		`tls.toml:11: backends.instances[2].sslkey: required with sslcert ("` + cert + `")`,
		`tls.toml:15: backends.instances[2].sslrootcert: cannot load the CA certificates: open ` + missing + `: no such file or directory`,
		`tls.toml:20: backends.instances[3].sslmode: must be "verify-full" with sslrootcert = "system" (any public CA can vouch for any name), got "require"`,
		`tls.toml:22: backends.instances[3].sslcert: cannot load the client certificate: ` + cert + ` and ` + otherKey + `: tls: private key does not match public key`,
		`tls.toml:24: backends.instances[4].sslcert: required with sslkey ("` + junk + `")`,
		`tls.toml:32: backends.instances[5].sslrootcert: "system" needs sslmode = "verify-full" (any public CA can vouch for any name), got sslmode "verify-ca"`,
	}
	sameStrings(t, "errors", messages(err), want)
	if strings.Contains(err.Error(), "987654321") {
		t.Errorf("an error shows a file's contents: %v", err)
	}
}

func TestChangesSeesBackendsTLS(t *testing.T) {
	old, next := Default(), Default()
	next.Backends.SSLMode = "require"
	changed, restart := Changes(&old, &next)
	if len(changed) != 1 || changed[0] != "backends" || restart != nil {
		t.Errorf("Changes after [backends] sslmode = %q, restart %q; want [backends], none", changed, restart)
	}
}

// TestClientTLSFiles: the certificate and key for clients are loaded when
// the file is checked (check-config, start, reload), so that a wrong path
// or a key of another certificate is an error at its line, not a failed
// start; nothing of what the files hold is shown.
func TestClientTLSFiles(t *testing.T) {
	dir := t.TempDir()
	_, cert, key, otherKey := testPKI(t, dir)
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("987654321 not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct{ cert, key, want string }{
		{cert, key, ""},
		{missing, key, "tls.toml:3: proxy.tls_cert_file: cannot load the certificate for clients: open " + missing + ": no such file or directory"},
		{cert, otherKey, "tls.toml:3: proxy.tls_cert_file: cannot load the certificate for clients: " + cert + " and " + otherKey + ": tls: private key does not match public key"},
		{cert, junk, "tls.toml:3: proxy.tls_cert_file: cannot load the certificate for clients: " + cert + " and " + junk + ": tls: failed to find any PEM data in key input"},
	} {
		doc := "[proxy]\nlisten_address = \"127.0.0.1:6432\"\ntls_cert_file = \"" + tc.cert + "\"\ntls_key_file = \"" + tc.key + "\"\n[[backends.instances]]\nname = \"a\"\nhost = \"h\"\n"
		_, _, err := Parse("tls.toml", []byte(doc))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s, %s:\n got  %s\n want %s", filepath.Base(tc.cert), filepath.Base(tc.key), got, tc.want)
		}
		if strings.Contains(got, "987654321") {
			t.Errorf("error shows the file's contents: %s", got)
		}
	}
}
