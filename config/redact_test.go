package config

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRedactedJSON: the effective configuration as JSON has the file's key
// names and values, with secrets redacted and ${VAR} values as written.
func TestRedactedJSON(t *testing.T) {
	t.Setenv("SLACK_WEBHOOK_URL", slackURL)
	t.Setenv("ADMIN_TOKEN", "admin-s3cr3t")
	t.Setenv("DB_HOST", "db.internal")
	c, _, err := Parse("s.toml", []byte(secrets+"[circuit_breaker]\nopen_duration = \"45s\"\n"))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	out, err := c.RedactedJSON()
	if err != nil {
		t.Fatalf("RedactedJSON = %v", err)
	}
	for _, s := range []string{"s3cr3t", slackURL, "db.internal"} {
		if strings.Contains(string(out), s) {
			t.Errorf("RedactedJSON contains %q:\n%s", s, out)
		}
	}
	var m struct {
		CircuitBreaker struct {
			OpenDuration string `json:"open_duration"`
		} `json:"circuit_breaker"`
		HealthChecks struct {
			Password string `json:"password"`
			User     string `json:"user"`
		} `json:"health_checks"`
		Backends struct {
			Instances []struct {
				Name string `json:"name"`
				Host string `json:"host"`
			} `json:"instances"`
		} `json:"backends"`
	}
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("RedactedJSON is not JSON: %v\n%s", err, out)
	}
	b := m.Backends.Instances
	if m.CircuitBreaker.OpenDuration != "45s" || m.HealthChecks.Password != Redaction || m.HealthChecks.User != "postgres" ||
		len(b) != 1 || b[0].Name != "b1" || b[0].Host != "${DB_HOST}" {
		t.Errorf("RedactedJSON = %s; want open_duration 45s, health_checks.password redacted, user postgres, backend b1 on ${DB_HOST}", out)
	}
	if c.HealthChecks.Password != "hc-s3cr3t" {
		t.Errorf("RedactedJSON changed the config: password %q", c.HealthChecks.Password)
	}
}
