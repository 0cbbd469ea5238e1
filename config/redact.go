package config

import (
	"bytes"
	"encoding/json"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// secretKeys are the keys whose values are secrets (without array indices).
var secretKeys = map[string]bool{
	"health_checks.password":           true,
	"alerts.slack_webhook_url":         true,
	"alerts.pagerduty_integration_key": true,
	"api.admin_token":                  true,
	"users.password":                   true,
	"helios.cloud_api_key":             true,
	"cluster.secret_key":               true,
}

// isSecret reports whether key (as a file spells it, with or without array
// indices) holds a secret. In the free-form [edge] table, names that look
// like credentials are secrets.
func isSecret(key string) bool {
	k := normKey(key)
	if secretKeys[k] {
		return true
	}
	if !strings.HasPrefix(k, "edge.") {
		return false
	}
	last := strings.ToLower(k[strings.LastIndexByte(k, '.')+1:])
	if last == "key" || strings.HasSuffix(last, "_key") {
		return true
	}
	for _, w := range []string{"password", "passwd", "secret", "token", "credential", "webhook", "apikey", "auth"} {
		if strings.Contains(last, w) {
			return true
		}
	}
	return false
}

// Redacted returns a copy of c that is safe to print: every non-empty secret
// (health_checks.password, alerts.slack_webhook_url,
// alerts.pagerduty_integration_key, api.admin_token, users[].password,
// helios.cloud_api_key, cluster.secret_key, and credential-like keys of [edge]) is replaced by
// Redaction, every other value that came from ${VAR} expansion is shown
// as the file wrote it ("${VAR}"), so that whatever the environment held
// stays out of the output, and the password of any other URL
// (alerts.pagerduty_events_url, alerts.dashboard_url) is hidden
// (RedactURL). c is not modified.
func (c Config) Redacted() Config {
	r := c
	r.Backends.Instances = slices.Clone(c.Backends.Instances)
	for i := range r.Backends.Instances {
		r.Backends.Instances[i].AllowedQueryTypes = slices.Clone(r.Backends.Instances[i].AllowedQueryTypes)
	}
	r.Users = slices.Clone(c.Users)
	r.Cluster.Join = slices.Clone(c.Cluster.Join)
	if c.Edge != nil {
		r.Edge = deepCopy(c.Edge).(map[string]any)
	}
	walkStrings(reflect.ValueOf(&r).Elem(), "", func(key, s string) string {
		if s != "" && isSecret(key) {
			return Redaction
		}
		if c.origin != nil {
			if ev, ok := c.origin.env[key]; ok && ev.expanded == s {
				return ev.raw
			}
		}
		return RedactURL(s)
	})
	return r
}

// RedactURL returns s with the password of a URL's user information
// (https://user:password@host/…, as an HTTP proxy in front of PagerDuty
// or a dashboard behind basic authentication takes it) replaced by
// "xxxxx"; anything else unchanged.
func RedactURL(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); !ok {
		return s
	}
	return u.Redacted()
}

func deepCopy(x any) any {
	switch x := x.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, v := range x {
			m[k] = deepCopy(v)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, v := range x {
			s[i] = deepCopy(v)
		}
		return s
	}
	return x
}

// Encode returns c as TOML that Parse reads back to the same settings. It
// includes secrets: encode c.Redacted() to print it.
func (c Config) Encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	enc.SetIndentTables(false)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// RedactedJSON returns c.Redacted() as a JSON object with the file's key
// names (tables as objects, durations as the file writes them), for
// showing the effective configuration.
func (c Config) RedactedJSON() ([]byte, error) {
	data, err := c.Redacted().Encode()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := toml.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}
