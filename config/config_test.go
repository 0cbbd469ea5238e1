package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// messages lists the problems joined in err, as their Error strings.
func messages(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, messages(e)...)
		}
		return out
	}
	return []string{err.Error()}
}

func sameStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\ngot  %q\nwant %q", what, got, want)
	}
}

func warningStrings(ws []Warning) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.String())
	}
	return out
}

func sec(n float64) Duration { return Duration{time.Duration(n * float64(time.Second))} }

const (
	slackURL = "https://hooks.slack.com/services/T000/B000/s3cr3tSlack"
	pdKey    = "pd-s3cr3t-routing-key"
)

func TestSampleLoads(t *testing.T) {
	t.Setenv("SLACK_WEBHOOK_URL", slackURL)
	t.Setenv("PAGERDUTY_KEY", pdKey)
	c, _, err := Load("testdata/sample.toml")
	if err != nil {
		t.Fatalf("Load(sample.toml) = %v", err)
	}
	if len(c.Backends.Instances) != 2 {
		t.Fatalf("len(Backends.Instances) = %d, want 2", len(c.Backends.Instances))
	}
	p1, a1 := c.Backends.Instances[0], c.Backends.Instances[1]
	tests := []struct {
		name      string
		got, want any
	}{
		{"proxy.listen_address", c.Proxy.ListenAddress, "0.0.0.0:5432"},
		{"proxy.protocol", c.Proxy.Protocol, "postgresql"},
		{"proxy.circuit_breaker_enabled", c.Proxy.CircuitBreakerEnabled, true},
		{"proxy.connect_timeout (default)", c.Proxy.ConnectTimeout, sec(2)},
		{"proxy.max_message_size (default)", c.Proxy.MaxMessageSize, 64 << 20},
		{"circuit_breaker.enabled", c.CircuitBreaker.Enabled, true},
		{"circuit_breaker.mode", c.CircuitBreaker.Mode, "adaptive"},
		{"circuit_breaker.failure_threshold_percentage", c.CircuitBreaker.FailureThresholdPercentage, 5.0},
		{"circuit_breaker.latency_threshold_p95_ms", c.CircuitBreaker.LatencyThresholdP95Ms, 500},
		{"circuit_breaker.latency_threshold_p99_ms", c.CircuitBreaker.LatencyThresholdP99Ms, 2000},
		{"circuit_breaker.connection_saturation_threshold", c.CircuitBreaker.ConnectionSaturationThreshold, 0.95},
		{"circuit_breaker.metrics_window_size", c.CircuitBreaker.MetricsWindowSize, sec(10)},
		{"circuit_breaker.metrics_bucket_size", c.CircuitBreaker.MetricsBucketSize, sec(1)},
		{"circuit_breaker.minimum_requests", c.CircuitBreaker.MinimumRequests, 20},
		{"circuit_breaker.open_duration", c.CircuitBreaker.OpenDuration, sec(30)},
		{"circuit_breaker.max_open_duration (default)", c.CircuitBreaker.MaxOpenDuration, sec(300)},
		{"circuit_breaker.half_open_max_concurrent", c.CircuitBreaker.HalfOpenMaxConcurrent, 10},
		{"circuit_breaker.half_open_success_threshold (integer into float)", c.CircuitBreaker.HalfOpenSuccessThreshold, 80.0},
		{"circuit_breaker.half_open_probe_interval", c.CircuitBreaker.HalfOpenProbeInterval, sec(5)},
		{"circuit_breaker.gradual_recovery_enabled", c.CircuitBreaker.GradualRecoveryEnabled, true},
		{"circuit_breaker.recovery_ramp_up_duration", c.CircuitBreaker.RecoveryRampUpDuration, sec(120)},
		{"circuit_breaker.recovery_step_percentage (integer into float)", c.CircuitBreaker.RecoveryStepPercentage, 10.0},
		{"circuit_breaker.connection_failure_threshold (default)", c.CircuitBreaker.ConnectionFailureThreshold, 3},
		{"circuit_breaker.max_ejection_percent (default)", c.CircuitBreaker.MaxEjectionPercent, 50.0},
		{"circuit_breaker.slow_query_threshold_ms", c.CircuitBreaker.SlowQueryThresholdMs, 5000},
		{"circuit_breaker.per_user_rate_limit", c.CircuitBreaker.PerUserRateLimit, 1000},
		{"circuit_breaker.user_isolation_on_abuse", c.CircuitBreaker.UserIsolationOnAbuse, true},
		{"backends[0].name", p1.Name, "primary-1"},
		{"backends[0].address", p1.Address(), "db-primary-1.internal:5432"},
		{"backends[0].priority", p1.Priority, 100},
		{"backends[0].weight", p1.Weight, 1.0},
		{"backends[0].circuit_breaker_latency_threshold_p95_ms", p1.CircuitBreakerLatencyThresholdP95Ms, 300},
		{"backends[0].circuit_breaker_failure_threshold", p1.CircuitBreakerFailureThreshold, 3.0},
		{"backends[0].read_only", p1.ReadOnly(), false},
		{"backends[1].name", a1.Name, "analytics-1"},
		{"backends[1].address", a1.Address(), "db-analytics-1.internal:5432"},
		{"backends[1].priority", a1.Priority, 50},
		{"backends[1].weight", a1.Weight, 0.5},
		{"backends[1].circuit_breaker_latency_threshold_p95_ms", a1.CircuitBreakerLatencyThresholdP95Ms, 2000},
		{"backends[1].circuit_breaker_failure_threshold", a1.CircuitBreakerFailureThreshold, 10.0},
		{"backends[1].allowed_query_types", a1.AllowedQueryTypes, []string{"SELECT"}},
		{"backends[1].read_only", a1.ReadOnly(), true},
		{"health_checks.enabled", c.HealthChecks.Enabled, true},
		{"health_checks.interval", c.HealthChecks.Interval, sec(1)},
		{"health_checks.timeout", c.HealthChecks.Timeout, sec(0.5)},
		{"health_checks.check_query", c.HealthChecks.CheckQuery, "SELECT 1"},
		{"health_checks.user (default)", c.HealthChecks.User, "postgres"},
		{"health_checks.collect_query_queue_depth", c.HealthChecks.CollectQueryQueueDepth, true},
		{"observability.metrics_port", c.Observability.MetricsPort, 9090},
		{"observability.log_level", c.Observability.LogLevel, "info"},
		{"observability.log_circuit_state_changes", c.Observability.LogCircuitStateChanges, true},
		{"alerts.slack_webhook_url (from env)", c.Alerts.SlackWebhookURL, slackURL},
		{"alerts.pagerduty_integration_key (from env)", c.Alerts.PagerdutyIntegrationKey, pdKey},
		{"alerts.alert_on_multiple_circuits_open", c.Alerts.AlertOnMultipleCircuitsOpen, true},
		{"api.listen_address (default)", c.API.ListenAddress, "127.0.0.1:8080"},
		{"pool.mode (default)", c.Pool.Mode, "session"},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
}

// TestSampleWarnings: the seed's configuration loads with no warning but
// for an unset environment variable: every key of it is implemented.
func TestSampleWarnings(t *testing.T) {
	var want []string
	t.Run("env set", func(t *testing.T) {
		t.Setenv("SLACK_WEBHOOK_URL", slackURL)
		t.Setenv("PAGERDUTY_KEY", pdKey)
		_, ws, err := Load("testdata/sample.toml")
		if err != nil {
			t.Fatal(err)
		}
		sameStrings(t, "warnings", warningStrings(ws), want)
	})
	t.Run("env unset", func(t *testing.T) {
		t.Setenv("SLACK_WEBHOOK_URL", "")
		t.Setenv("PAGERDUTY_KEY", "") // set but empty: no warning for this one
		unsetEnv(t, "SLACK_WEBHOOK_URL")
		c, ws, err := Load("testdata/sample.toml")
		if err != nil {
			t.Fatal(err)
		}
		if c.Alerts.SlackWebhookURL != "" {
			t.Errorf("alerts.slack_webhook_url = %q, want empty", c.Alerts.SlackWebhookURL)
		}
		w := append([]string{}, want...)
		w = append(w, "testdata/sample.toml:61: alerts.slack_webhook_url: environment variable SLACK_WEBHOOK_URL is not set: expanded to an empty string")
		sameStrings(t, "warnings", warningStrings(ws), w)
	})
}

// unsetEnv unsets a variable for the test; t.Setenv first, so that it is
// restored afterwards.
func unsetEnv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "")
	if err := os.Unsetenv(name); err != nil {
		t.Fatal(err)
	}
}

func TestEdgeVariant(t *testing.T) {
	t.Setenv("HELIOS_CLOUD_KEY", "hck-s3cr3t")
	c, ws, err := Load("testdata/edge.toml")
	if err != nil {
		t.Fatalf("Load(edge.toml) = %v", err)
	}
	const noMeaning = "has no meaning for a proxy (a HeliosDB edge setting): ignored"
	var want []string
	for _, w := range []struct {
		line int
		key  string
		msg  string
	}{
		{4, "helios.mode", noMeaning},
		{5, "helios.data_dir", noMeaning},
		{6, "helios.cloud_endpoint", noMeaning},
		{7, "helios.cloud_api_key", noMeaning},
		{8, "helios.cloud_sync_interval", noMeaning},
		{15, "edge.node_id", noMeaning},
		{16, "edge.region", noMeaning},
		{17, "edge.offline_mode", noMeaning},
		{18, "edge.sync_interval", noMeaning},
	} {
		want = append(want, fmt.Sprintf("testdata/edge.toml:%d: %s: %s", w.line, w.key, w.msg))
	}
	sameStrings(t, "warnings", warningStrings(ws), want)

	tests := []struct {
		name      string
		got, want any
	}{
		{"helios.mode", c.Helios.Mode, "edge"},
		{"helios.data_dir", c.Helios.DataDir, "/var/lib/helios"},
		{"helios.cloud_api_key", c.Helios.CloudAPIKey, "hck-s3cr3t"},
		{"helios.cloud_sync_interval", c.Helios.CloudSyncInterval, sec(30)},
		{"circuit_breaker.connection_failure_threshold", c.CircuitBreaker.ConnectionFailureThreshold, 3},
		{"circuit_breaker.recovery_probe_timeout", c.CircuitBreaker.RecoveryProbeTimeout, sec(5)},
		{"edge", c.Edge, map[string]any{"node_id": "edge-eu-west-1a-07", "region": "eu-west-1", "offline_mode": true, "sync_interval": "30s"}},
		{"backends", c.Backends.Instances, []Backend{{Name: "local", Host: "127.0.0.1", Port: 5432, Weight: 1}}},
		{"proxy.listen_address (default)", c.Proxy.ListenAddress, "127.0.0.1:6432"},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
}

const oneBackend = "[[backends.instances]]\nname = \"b1\"\nhost = \"localhost\"\n"

func TestDefaultsForAlmostEmptyFile(t *testing.T) {
	c, ws, err := Parse("min.toml", []byte(oneBackend))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	if len(ws) != 0 {
		t.Errorf("warnings = %q, want none", warningStrings(ws))
	}
	d := Default()
	sections := []struct {
		name      string
		got, want any
	}{
		{"proxy", c.Proxy, d.Proxy},
		{"circuit_breaker", c.CircuitBreaker, d.CircuitBreaker},
		{"health_checks", c.HealthChecks, d.HealthChecks},
		{"observability", c.Observability, d.Observability},
		{"alerts", c.Alerts, d.Alerts},
		{"api", c.API, d.API},
		{"state", c.State, d.State},
		{"pool", c.Pool, d.Pool},
		{"users", c.Users, d.Users},
		{"helios", c.Helios, d.Helios},
		{"edge", c.Edge, d.Edge},
		{"backends", c.Backends.Instances, []Backend{{Name: "b1", Host: "localhost", Port: 5432, Weight: 1}}},
	}
	for _, s := range sections {
		if !reflect.DeepEqual(s.got, s.want) {
			t.Errorf("%s = %+v, want %+v", s.name, s.got, s.want)
		}
	}
	want := []struct {
		name      string
		got, want any
	}{
		{"proxy.listen_address", d.Proxy.ListenAddress, "127.0.0.1:6432"},
		{"proxy.startup_timeout", d.Proxy.StartupTimeout, sec(10)},
		{"circuit_breaker.metrics_window_size", d.CircuitBreaker.MetricsWindowSize, sec(10)},
		{"circuit_breaker.metrics_bucket_size", d.CircuitBreaker.MetricsBucketSize, sec(1)},
		{"circuit_breaker.minimum_requests", d.CircuitBreaker.MinimumRequests, 20},
		{"circuit_breaker.failure_threshold_percentage", d.CircuitBreaker.FailureThresholdPercentage, 5.0},
		{"circuit_breaker.open_duration", d.CircuitBreaker.OpenDuration, sec(30)},
		{"circuit_breaker.max_open_duration", d.CircuitBreaker.MaxOpenDuration, sec(300)},
		{"circuit_breaker.half_open_success_threshold", d.CircuitBreaker.HalfOpenSuccessThreshold, 80.0},
		{"circuit_breaker.recovery_ramp_up_duration", d.CircuitBreaker.RecoveryRampUpDuration, sec(120)},
		{"circuit_breaker.connection_failure_threshold", d.CircuitBreaker.ConnectionFailureThreshold, 3},
		{"circuit_breaker.max_ejection_percent", d.CircuitBreaker.MaxEjectionPercent, 50.0},
		{"health_checks.timeout", d.HealthChecks.Timeout, sec(0.5)},
		{"health_checks.database", d.HealthChecks.Database, "postgres"},
		{"observability.metrics_port", d.Observability.MetricsPort, 9090},
		{"api.listen_address", d.API.ListenAddress, "127.0.0.1:8080"},
		{"observability.log_level", d.Observability.LogLevel, "info"},
	}
	for _, tt := range want {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("Default %s = %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{
			"two typos, both reported",
			"[circuit_breaker]\nenabled = true\nfailure_threshold_percentag = 5.0\n[[backends.instances]]\nname = \"a\"\nhots = \"x\"\n",
			[]string{
				"helios.toml:3: unknown key circuit_breaker.failure_threshold_percentag",
				"helios.toml:6: unknown key backends.instances[0].hots",
			},
		},
		{
			"unknown table and key case matters",
			"[proxy]\nListen_Address = \"x\"\n[circuit_breakers]\nenabled = true\n",
			[]string{
				"helios.toml:2: unknown key proxy.Listen_Address",
				"helios.toml:3: unknown key circuit_breakers",
			},
		},
		{
			"unknown keys in inline and dotted forms",
			"proxy.listen = 1\nhealth_checks = { intervall = \"1s\" }\n",
			[]string{
				"helios.toml:1: unknown key proxy.listen",
				"helios.toml:2: unknown key health_checks.intervall",
			},
		},
		{
			"type errors, every one",
			oneBackend + "port = \"abc\"\nweight = \"heavy\"\nallowed_query_types = \"SELECT\"\n[proxy]\ncircuit_breaker_enabled = \"yes\"\n[circuit_breaker]\nminimum_requests = 20.5\n",
			[]string{
				"helios.toml:4: backends.instances[0].port: want an integer, got a string",
				"helios.toml:5: backends.instances[0].weight: want a number, got a string",
				"helios.toml:6: backends.instances[0].allowed_query_types: want an array of strings, got a string",
				"helios.toml:8: proxy.circuit_breaker_enabled: want a boolean (true or false), got a string",
				"helios.toml:10: circuit_breaker.minimum_requests: want an integer, got a float 20.5",
			},
		},
		{
			"bad durations",
			"[circuit_breaker]\nopen_duration = \"30\"\nmetrics_window_size = 30\nhalf_open_probe_interval = \"5 seconds\"\n",
			[]string{
				`helios.toml:2: circuit_breaker.open_duration: want a duration with a unit, such as "30s" or "500ms", got "30"`,
				`helios.toml:3: circuit_breaker.metrics_window_size: want a duration string such as "30s", got an integer 30`,
				`helios.toml:4: circuit_breaker.half_open_probe_interval: want a duration with a unit, such as "30s" or "500ms", got "5 seconds"`,
			},
		},
		{
			"tables where values belong and the reverse",
			"proxy = 5\n[backends.instances]\nname = \"x\"\n[proxy.listen_address]\n",
			[]string{
				"helios.toml:1: proxy: want a table, got an integer 5",
				"helios.toml:2: backends.instances: want an array of tables, written [[backends.instances]]",
				"helios.toml:4: proxy.listen_address: want a string, got a table",
			},
		},
		{
			"inline array of tables cannot be extended",
			"backends.instances = [{name = \"a\", host = \"h\"}]\n[[backends.instances]]\nname = \"b\"\n",
			[]string{"helios.toml:2: backends.instances: cannot add to the array defined at line 1"},
		},
		{
			"defined twice",
			"[proxy]\nlisten_address = \"a:1\"\nlisten_address = \"b:1\"\n[proxy]\n",
			[]string{
				"helios.toml:3: proxy.listen_address: defined twice (first at line 2)",
				"helios.toml:4: table [proxy] is defined twice (first at line 1)",
			},
		},
		{
			"syntax error has a column",
			"[proxy]\nlisten_address = \"abc\n",
			[]string{"helios.toml:2:22: invalid TOML: basic strings cannot have new lines"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse("helios.toml", []byte(tt.doc))
			sameStrings(t, "errors", messages(err), tt.want)
		})
	}
}

func TestErrorFields(t *testing.T) {
	_, _, err := Parse("helios.toml", []byte(oneBackend+"[[backends.instances]]\nname = \"b2\"\nhost = \"h\"\nport = 70000\n"))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Parse error = %v, want an *Error", err)
	}
	want := Error{File: "helios.toml", Line: 7, Key: "backends.instances[1].port",
		Message: "backends.instances[1].port: must be between 1 and 65535, got 70000"}
	if *e != want {
		t.Errorf("error = %+v, want %+v", *e, want)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	doc := `[proxy]
listen_address = "6432"
protocol = "mysql"
tls_cert_file = "/etc/cert.pem"
[circuit_breaker]
mode = "static"
failure_threshold_percentage = 150
connection_saturation_threshold = 1.5
metrics_window_size = "10s"
metrics_bucket_size = "3s"
minimum_requests = 0
open_duration = "0s"
half_open_success_threshold = 0
connection_failure_threshold = 0
[[backends.instances]]
name = "a"
host = "h1"
[[backends.instances]]
name = "a"
host = ""
port = 0
weight = 0
priority = -1
allowed_query_types = ["SELECT", "MERGE"]
[[backends.instances]]
name = "bad name"
host = "h3"
[health_checks]
interval = "1s"
timeout = "2s"
[observability]
log_level = "verbose"
[api]
listen_address = "0.0.0.0:8080"
[pool]
mode = "statement"
[[users]]
name = "u"
password = "SCRAM-SHA-256$4096:c2FsdA==$bm9$"
[[users]]
name = "v"
auth_method = "kerberos"
[[users]]
name = "w"
[[users]]
name = "x"
password = "md5a3556571e93b0d20722ba62be61e8c2d"
[[users]]
name = "y"
password = "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0$WxJ7EBs2Nw5yEtVQ8UMZhdM0SoIFz2gYzvUSFWpQYHc=:1iPhDPKa1e0yJDKzRHrb2YB/Dg9hr9uvoRIv+ZgJtok="
auth_method = "md5"
`
	_, _, err := Parse("helios.toml", []byte(doc))
	want := []string{
		// tls_key_file is not in the file: the error points at its table.
		`helios.toml:1: proxy.tls_key_file: required with proxy.tls_cert_file ("/etc/cert.pem")`,
		`helios.toml:2: proxy.listen_address: want host:port, got "6432"`,
		`helios.toml:3: proxy.protocol: unsupported protocol "mysql"; supported: "postgresql"`,
		`helios.toml:6: circuit_breaker.mode: unsupported mode "static"; supported: "adaptive"`,
		`helios.toml:7: circuit_breaker.failure_threshold_percentage: must be between 0 and 100, got 150`,
		`helios.toml:8: circuit_breaker.connection_saturation_threshold: must be between 0 and 1, got 1.5`,
		`helios.toml:9: circuit_breaker.metrics_window_size: must be a multiple of circuit_breaker.metrics_bucket_size (3s), got 10s`,
		`helios.toml:11: circuit_breaker.minimum_requests: must be at least 1, got 0`,
		`helios.toml:12: circuit_breaker.open_duration: must be positive, got 0s`,
		`helios.toml:13: circuit_breaker.half_open_success_threshold: must be more than 0 and at most 100, got 0`,
		`helios.toml:14: circuit_breaker.connection_failure_threshold: must be at least 1, got 0`,
		`helios.toml:19: backends.instances[1].name: "a" is already the name of backends.instances[0]`,
		`helios.toml:20: backends.instances[1].host: want a host name or IP address, got ""`,
		`helios.toml:21: backends.instances[1].port: must be between 1 and 65535, got 0`,
		`helios.toml:22: backends.instances[1].weight: must be positive, got 0`,
		`helios.toml:23: backends.instances[1].priority: must be at least 0, got -1`,
		`helios.toml:24: backends.instances[1].allowed_query_types[1]: unknown query type "MERGE"; known: SELECT, INSERT, UPDATE, DELETE, DDL, ALL`,
		`helios.toml:26: backends.instances[2].name: may contain only letters, digits, '_', '.' and '-', got "bad name"`,
		`helios.toml:30: health_checks.timeout: must not exceed health_checks.interval (1s), got 2s`,
		`helios.toml:32: observability.log_level: unsupported level "verbose"; supported: "debug", "info", "warn", "error"`,
		`helios.toml:33: api.admin_token: required when api.listen_address ("0.0.0.0:8080") is not a loopback address`,
		`helios.toml:36: pool.mode: unsupported mode "statement"; supported: "session", "transaction"`,
		`helios.toml:39: users[0].password: not a valid SCRAM-SHA-256 verifier: scram: verifier is not <iterations>:<salt>$<StoredKey>:<ServerKey>`,
		`helios.toml:42: users[1].auth_method: unsupported method "kerberos"; supported: "scram-sha-256", "md5", "trust"`,
		`helios.toml:43: users[2].password: required unless auth_method is "trust"`,
		`helios.toml:47: users[3].password: an md5 secret cannot check SCRAM logins: give the plain password or a SCRAM-SHA-256 verifier, or set auth_method = "md5"`,
		`helios.toml:50: users[4].password: a SCRAM-SHA-256 verifier cannot check md5 logins: give the plain password or an md5 secret`,
	}
	sameStrings(t, "errors", messages(err), want)
}

func TestValidateInCode(t *testing.T) {
	c := Default()
	sameStrings(t, "Default().Validate()", messages(c.Validate()), []string{
		"backends.instances: at least one backend is required: add a [[backends.instances]] table with name and host",
	})
	b := DefaultBackend()
	b.Name, b.Host = "pg", "::1"
	c.Backends.Instances = []Backend{b}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() with one backend = %v, want nil", err)
	}
	c.CircuitBreaker.MaxOpenDuration = sec(10)
	c.HealthChecks.CheckQuery = ""
	c.Proxy.Workers = -1
	sameStrings(t, "Validate()", messages(c.Validate()), []string{
		"proxy.workers: must be at least 0, got -1",
		"circuit_breaker.max_open_duration: must be at least circuit_breaker.open_duration (30s), got 10s",
		"health_checks.check_query: required when health checks are enabled",
	})
}

func TestValidateNamesTableWhenKeyIsAbsent(t *testing.T) {
	doc := oneBackend + "[health_checks]\ninterval = \"100ms\"\n"
	_, _, err := Parse("helios.toml", []byte(doc))
	sameStrings(t, "errors", messages(err), []string{
		"helios.toml:4: health_checks.timeout: must not exceed health_checks.interval (100ms), got 500ms",
	})
}

func TestWarningsDependOnValues(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"session pooling works", "[pool]\nmode = \"session\"\n", nil},
		{"transaction pooling too", "[pool]\nmode = \"transaction\"\ndefault_pool_size = 5\n", nil},
		{"percentiles on", "[health_checks]\ncollect_latency_percentiles = true\n", nil},
		{"percentiles off", "[health_checks]\ncollect_latency_percentiles = false\n", []string{
			"f.toml:5: health_checks.collect_latency_percentiles: cannot be turned off: the circuit breakers need latency percentiles",
		}},
		{"users, api and state are implemented", "[[users]]\nname = \"app\"\npassword = \"pw\"\n[api]\nadmin_token = \"t\"\n[state]\ndir = \"/tmp/x\"\n", nil},
		{"nested edge keys", "[edge.sync]\npeers = [\"a\", \"b\"]\n", []string{
			"f.toml:5: edge.sync.peers: has no meaning for a proxy (a HeliosDB edge setting): ignored",
		}},
		{"read-write subset of query types", "allowed_query_types = [\"select\", \"insert\"]\n", []string{
			`f.toml:4: backends.instances[0].allowed_query_types: ["select" "insert"]: only ["SELECT"] (read-only) is enforced; this backend receives every statement`,
		}},
		{"all query types", "allowed_query_types = [\"ALL\"]\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ws, err := Parse("f.toml", []byte(oneBackend+tt.doc))
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			sameStrings(t, "warnings", warningStrings(ws), tt.want)
		})
	}
}

func TestNotImplementedKeysExist(t *testing.T) {
	// Every entry must name a key or table of the schema, so that a typo
	// here cannot silently stop a warning.
	for key := range NotImplemented {
		tt := configType
		for _, part := range strings.Split(key, ".") {
			next, ok := child(tt, part)
			if !ok {
				t.Errorf("NotImplemented[%q]: no such key", key)
				break
			}
			if isTableArray(next) {
				next = next.Elem()
			}
			tt = next
		}
	}
}

// secrets is a file that sets every secret, some from the environment.
const secrets = `[[backends.instances]]
name = "b1"
host = "${DB_HOST}"
[health_checks]
password = "hc-s3cr3t"
[alerts]
slack_webhook_url = "${SLACK_WEBHOOK_URL}"
pagerduty_integration_key = "pd-s3cr3t"
[api]
admin_token = "${ADMIN_TOKEN}"
[[users]]
name = "app"
password = "user-s3cr3t"
[helios]
cloud_api_key = "cloud-s3cr3t"
[edge]
node_id = "n1"
auth_token = "edge-s3cr3t"
[edge.peer]
shared_key = "peer-s3cr3t"
`

func TestRedacted(t *testing.T) {
	t.Setenv("SLACK_WEBHOOK_URL", slackURL)
	t.Setenv("ADMIN_TOKEN", "admin-s3cr3t")
	t.Setenv("DB_HOST", "db.internal")
	c, _, err := Parse("s.toml", []byte(secrets))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	r := c.Redacted()
	tests := []struct {
		name      string
		got, want any
	}{
		{"health_checks.password", r.HealthChecks.Password, Redaction},
		{"alerts.slack_webhook_url", r.Alerts.SlackWebhookURL, Redaction},
		{"alerts.pagerduty_integration_key", r.Alerts.PagerdutyIntegrationKey, Redaction},
		{"api.admin_token", r.API.AdminToken, Redaction},
		{"users[0].password", r.Users[0].Password, Redaction},
		{"users[0].name", r.Users[0].Name, "app"},
		{"helios.cloud_api_key", r.Helios.CloudAPIKey, Redaction},
		{"edge.auth_token", r.Edge["auth_token"], Redaction},
		{"edge.peer.shared_key", r.Edge["peer"].(map[string]any)["shared_key"], Redaction},
		{"edge.node_id", r.Edge["node_id"], "n1"},
		{"backends[0].host (from env)", r.Backends.Instances[0].Host, "${DB_HOST}"},
		{"health_checks.user (not secret)", r.HealthChecks.User, "postgres"},
		{"original password", c.HealthChecks.Password, "hc-s3cr3t"},
		{"original edge token", c.Edge["auth_token"], "edge-s3cr3t"},
		{"original users[0].password", c.Users[0].Password, "user-s3cr3t"},
		{"original host", c.Backends.Instances[0].Host, "db.internal"},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}

	out, err := r.Encode()
	if err != nil {
		t.Fatalf("Encode = %v", err)
	}
	for _, s := range []string{"s3cr3t", slackURL, "db.internal"} {
		if strings.Contains(string(out), s) {
			t.Errorf("Encode(Redacted()) contains %q:\n%s", s, out)
		}
	}
	if empty := (Config{}).Redacted(); empty.HealthChecks.Password != "" {
		t.Errorf("Redacted of an empty password = %q, want empty", empty.HealthChecks.Password)
	}
}

func TestNoSecretInErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
	}{
		{"password of the wrong type", "[health_checks]\npassword = 987654321\n"},
		{"token of the wrong type", "[api]\nadmin_token = 987654321\n"},
		{"user password of the wrong type", "[[users]]\nname = \"u\"\npassword = 987654321\n"},
		{"secret under a misspelled key", "[api]\nadmin_tokn = \"987654321\"\n"},
		{"slack URL that is not a URL", "[alerts]\nslack_webhook_url = \"987654321\"\n"},
		{"edge secret of the wrong shape", "edge = \"987654321\"\n"},
		{"secret in an integer field", "[proxy]\nmax_message_size = \"987654321\"\n"},
		{"syntax error in a password", "[health_checks]\npassword = \"987654321\n"},
		{"password defined twice", "[health_checks]\npassword = \"987654321\"\npassword = \"987654321\"\n"},
		{"pagerduty key of the wrong type", "[alerts]\npagerduty_integration_key = 987654321\n"},
		{"malformed SCRAM verifier", "[[users]]\nname = \"u\"\npassword = \"SCRAM-SHA-256$987654321:c2FsdA==$x:y\"\n"},
		{"SCRAM verifier with md5", "[[users]]\nname = \"u\"\nauth_method = \"md5\"\npassword = \"SCRAM-SHA-256$4096:OTg3NjU0MzIx$OTg3NjU0MzIx:OTg3NjU0MzIx\"\n"},
		{"password as an array", "[health_checks]\npassword = [\"987654321\"]\n"},
		{"password as a table", "[health_checks]\npassword = {x = \"987654321\"}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse("s.toml", []byte(tt.doc+oneBackend))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			if strings.Contains(err.Error(), "987654321") {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	t.Setenv("SLACK_WEBHOOK_URL", slackURL)
	t.Setenv("PAGERDUTY_KEY", pdKey)
	for _, f := range []string{"testdata/sample.toml", "testdata/edge.toml"} {
		c, _, err := Load(f)
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		back, _, err := Parse("encoded.toml", out)
		if err != nil {
			t.Fatalf("Parse(Encode(%s)) = %v\n%s", f, err, out)
		}
		c.origin, back.origin = nil, nil
		if !reflect.DeepEqual(back, c) {
			t.Errorf("Parse(Encode(%s)) = %+v, want %+v", f, back, c)
		}
	}
}

func TestExpand(t *testing.T) {
	t.Setenv("A", "alpha")
	t.Setenv("EMPTY", "")
	unsetEnv(t, "NOPE")
	tests := []struct {
		in, want string
		unset    []string
		env      bool
	}{
		{"plain", "plain", nil, false},
		{"${A}", "alpha", nil, true},
		{"x-${A}-${A}", "x-alpha-alpha", nil, true},
		{"${EMPTY}", "", nil, true},
		{"${NOPE}", "", []string{"NOPE"}, true},
		{"$${A}", "${A}", nil, true},
		{"pa$word$A", "pa$word$A", nil, false},
		{"$$", "$$", nil, false},
		{"${1A} ${A", "${1A} ${A", nil, false},
	}
	for _, tt := range tests {
		got, unset, env := expand(tt.in)
		if got != tt.want || !reflect.DeepEqual(unset, tt.unset) || env != tt.env {
			t.Errorf("expand(%q) = %q, %q, %v, want %q, %q, %v", tt.in, got, unset, env, tt.want, tt.unset, tt.env)
		}
	}
}

func TestEnvExpansionEverywhere(t *testing.T) {
	t.Setenv("PGHOST", "pg.example")
	t.Setenv("NODE", "n7")
	doc := "[[backends.instances]]\nname = \"b1\"\nhost = \"${PGHOST}\"\nallowed_query_types = [\"${QT}\"]\n[edge]\nnode = \"${NODE}\"\nlist = [\"${NODE}\"]\n"
	t.Setenv("QT", "select")
	c, _, err := Parse("e.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Backends.Instances[0].Host; got != "pg.example" {
		t.Errorf("host = %q, want pg.example", got)
	}
	if !c.Backends.Instances[0].ReadOnly() {
		t.Errorf("ReadOnly() = false, want true for %q", c.Backends.Instances[0].AllowedQueryTypes)
	}
	if got := c.Edge["node"]; got != "n7" {
		t.Errorf("edge.node = %v, want n7", got)
	}
	if got := c.Edge["list"]; !reflect.DeepEqual(got, []any{"n7"}) {
		t.Errorf("edge.list = %v, want [n7]", got)
	}
}

func TestBackendMethods(t *testing.T) {
	tests := []struct {
		b        Backend
		addr     string
		readOnly bool
	}{
		{Backend{Host: "db", Port: 5432}, "db:5432", false},
		{Backend{Host: "::1", Port: 6543, AllowedQueryTypes: []string{"select"}}, "[::1]:6543", true},
		{Backend{Host: "db", Port: 1, AllowedQueryTypes: []string{"SELECT", "Select"}}, "db:1", true},
		{Backend{Host: "db", Port: 1, AllowedQueryTypes: []string{"SELECT", "INSERT"}}, "db:1", false},
		{Backend{Host: "db", Port: 1, AllowedQueryTypes: []string{"ALL"}}, "db:1", false},
	}
	for _, tt := range tests {
		if got := tt.b.Address(); got != tt.addr {
			t.Errorf("Address(%+v) = %q, want %q", tt.b, got, tt.addr)
		}
		if got := tt.b.ReadOnly(); got != tt.readOnly {
			t.Errorf("ReadOnly(%q) = %v, want %v", tt.b.AllowedQueryTypes, got, tt.readOnly)
		}
	}
}

func TestDuration(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("1m30s")); err != nil || d.Duration != 90*time.Second {
		t.Errorf("UnmarshalText(1m30s) = %v, %v; want 1m30s", d.Duration, err)
	}
	if err := d.UnmarshalText([]byte("30")); err == nil {
		t.Error("UnmarshalText(30) succeeded, want an error")
	}
	if b, _ := (Duration{500 * time.Millisecond}).MarshalText(); string(b) != "500ms" {
		t.Errorf("MarshalText(500ms) = %q", b)
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, _, err := Load("testdata/does-not-exist.toml"); err == nil || !strings.Contains(err.Error(), "does-not-exist.toml") {
		t.Errorf("Load(missing) = %v, want an error naming the file", err)
	}
}

func TestInlineBackends(t *testing.T) {
	doc := "[backends]\ninstances = [\n  {name = \"a\", host = \"h1\"},\n  {name = \"b\", host = \"h2\", port = 6543, weight = 2},\n]\n"
	c, _, err := Parse("i.toml", []byte(doc))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	want := []Backend{
		{Name: "a", Host: "h1", Port: 5432, Weight: 1},
		{Name: "b", Host: "h2", Port: 6543, Weight: 2},
	}
	if !reflect.DeepEqual(c.Backends.Instances, want) {
		t.Errorf("backends = %+v, want %+v", c.Backends.Instances, want)
	}
	_, _, err = Parse("i.toml", []byte("[backends]\ninstances = [\n  {name = \"a\", host = \"h1\"},\n  {name = \"b\", host = \"h2\", prot = 1},\n]\n"))
	sameStrings(t, "errors", messages(err), []string{"i.toml:4: unknown key backends.instances[1].prot"})
}

func TestAPIAllowedHosts(t *testing.T) {
	doc := oneBackend + "[api]\nallowed_hosts = [\"proxy.example.com\", \".corp.example\", \"*\"]\n"
	c, _, err := Parse("a.toml", []byte(doc))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	if want := []string{"proxy.example.com", ".corp.example", "*"}; !reflect.DeepEqual(c.API.AllowedHosts, want) {
		t.Errorf("api.allowed_hosts = %q, want %q", c.API.AllowedHosts, want)
	}
	if d := Default(); d.API.AllowedHosts != nil {
		t.Errorf("Default api.allowed_hosts = %q, want none", d.API.AllowedHosts)
	}
	doc = oneBackend + "[api]\nallowed_hosts = [\n  \"proxy.example.com:8080\",\n  \"https://proxy.example.com\",\n  \"\",\n  \"*.example.com\",\n]\n"
	_, _, err = Parse("a.toml", []byte(doc))
	const want = `want a host name without scheme or port (".example.com" for a domain and the names under it, "*" for any), got `
	sameStrings(t, "errors", messages(err), []string{
		`a.toml:5: api.allowed_hosts[0]: ` + want + `"proxy.example.com:8080"`,
		`a.toml:5: api.allowed_hosts[1]: ` + want + `"https://proxy.example.com"`,
		`a.toml:5: api.allowed_hosts[2]: ` + want + `""`,
		`a.toml:5: api.allowed_hosts[3]: ` + want + `"*.example.com"`,
	})
}

func TestSlowQueryThresholdWarning(t *testing.T) {
	const base = `[proxy]
listen_address = "127.0.0.1:6432"
[circuit_breaker]
latency_threshold_p95_ms = 500
query_level_breakers_enabled = true
slow_query_threshold_ms = %d
[[backends.instances]]
name = "a"
host = "127.0.0.1"
`
	for _, tt := range []struct {
		slow int
		want []string
	}{
		{5000, nil},
		{0, nil},
		{500, []string{"x.toml:6: circuit_breaker.slow_query_threshold_ms: 500 is not above latency_threshold_p95_ms (500): executions slower than it count for their query patterns, not their backend, so a backend slow for every query may not open its own circuit"}},
	} {
		_, ws, err := Parse("x.toml", []byte(fmt.Sprintf(base, tt.slow)))
		if err != nil {
			t.Fatalf("slow_query_threshold_ms = %d: %v", tt.slow, err)
		}
		sameStrings(t, fmt.Sprintf("warnings with slow_query_threshold_ms = %d", tt.slow), warningStrings(ws), tt.want)
	}
}

// TestValidateLimitsAndShedding: the user-level and load-shedding keys
// are checked with file:line.
func TestValidateLimitsAndShedding(t *testing.T) {
	doc := `[circuit_breaker]
user_level_breakers_enabled = true
per_user_rate_limit = -1
per_user_rate_limit_wait = "-1s"
[backends]
load_shedding_queue_timeout = "-5ms"
load_shedding_max_queue = -1
load_shedding_min_limit = 10
load_shedding_max_limit = 5
load_shedding_latency_target = 1.5
[[backends.instances]]
name = "a"
host = "h1"
`
	_, warns, err := Parse("helios.toml", []byte(doc))
	sameStrings(t, "errors", messages(err), []string{
		`helios.toml:3: circuit_breaker.per_user_rate_limit: must be at least 0, got -1`,
		`helios.toml:4: circuit_breaker.per_user_rate_limit_wait: must not be negative, got -1s`,
		`helios.toml:6: backends.load_shedding_queue_timeout: must not be negative, got -5ms`,
		`helios.toml:7: backends.load_shedding_max_queue: must be at least 0, got -1`,
		`helios.toml:9: backends.load_shedding_max_limit: must be at least load_shedding_min_limit (10), got 5`,
		`helios.toml:10: backends.load_shedding_latency_target: must be in (0, 1], got 1.5`,
	})
	if len(warns) != 0 {
		t.Errorf("warnings = %v, want none: the user-level keys are implemented", warns)
	}
}
