package pgcluster

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"regexp"
)

// The names of the TLS files in the data directory, where postgresql.conf
// finds them relative to it.
const (
	serverCert = "server.crt"
	serverKey  = "server.key"
	serverCA   = "root.crt"
)

func checkTLSOptions(o Options) []error {
	var errs []error
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		errs = append(errs, errors.New("tls: give both TLSCertFile and TLSKeyFile, or neither"))
	}
	if o.TLSOnly && o.TLSCertFile == "" {
		errs = append(errs, errors.New("tls: TLSOnly needs TLSCertFile and TLSKeyFile"))
	}
	if o.TLSCAFile != "" && o.TLSCertFile == "" {
		errs = append(errs, errors.New("tls: TLSCAFile needs TLSCertFile and TLSKeyFile"))
	}
	return errs
}

// withTLSSettings returns o.Settings with the TLS settings o asks for in
// front of them, so that the caller's still win.
func withTLSSettings(o Options) map[string]string {
	if o.TLSCertFile == "" {
		return o.Settings
	}
	s := map[string]string{"ssl": "on", "ssl_cert_file": serverCert, "ssl_key_file": serverKey}
	if o.TLSCAFile != "" {
		s["ssl_ca_file"] = serverCA
	}
	maps.Copy(s, o.Settings)
	return s
}

// hostLine matches the pg_hba.conf lines for TCP connections.
var hostLine = regexp.MustCompile(`(?m)^host(\s)`)

// setupTLS copies the TLS files into the data directory, owned by the
// server's user with mode 0600 (PostgreSQL refuses a key that others can
// read), and with TLSOnly makes pg_hba.conf accept TCP over TLS only.
func (c *Cluster) setupTLS(o Options) error {
	if o.TLSCertFile == "" {
		return nil
	}
	files := map[string]string{serverCert: o.TLSCertFile, serverKey: o.TLSKeyFile}
	if o.TLSCAFile != "" {
		files[serverCA] = o.TLSCAFile
	}
	for name, src := range files {
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := c.writeOwned(filepath.Join(c.DataDir, name), data); err != nil {
			return err
		}
	}
	if !o.TLSOnly {
		return nil
	}
	hba := filepath.Join(c.DataDir, "pg_hba.conf")
	data, err := os.ReadFile(hba)
	if err != nil {
		return err
	}
	// WriteFile keeps the existing file's owner, the server's user.
	return os.WriteFile(hba, hostLine.ReplaceAll(data, []byte("hostssl$1")), 0o600)
}

// writeOwned writes a new file that only the server's user can read.
func (c *Cluster) writeOwned(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	if c.cred == nil {
		return nil
	}
	return os.Chown(path, int(c.cred.Uid), int(c.cred.Gid))
}
