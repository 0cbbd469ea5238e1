package config

import (
	"reflect"
	"testing"
	"time"
)

func TestChanges(t *testing.T) {
	base := func() Config {
		c := Default()
		a, b := DefaultBackend(), DefaultBackend()
		a.Name, a.Host, a.Port = "pg-a", "10.0.0.1", 5432
		b.Name, b.Host, b.Port = "pg-b", "10.0.0.2", 5432
		c.Backends.Instances = []Backend{a, b}
		return c
	}
	tests := []struct {
		name          string
		edit          func(c *Config)
		changed, rest []string
	}{
		{"nothing", func(*Config) {}, nil, nil},
		{"a threshold", func(c *Config) { c.CircuitBreaker.LatencyThresholdP95Ms = 800 }, []string{"circuit_breaker"}, nil},
		{"a backend's weight", func(c *Config) { c.Backends.Instances[1].Weight = 3 }, []string{"backends.instances.pg-b"}, nil},
		{"a backend added and one removed", func(c *Config) {
			n := DefaultBackend()
			n.Name, n.Host, n.Port = "pg-c", "10.0.0.3", 5432
			c.Backends.Instances = []Backend{c.Backends.Instances[0], n}
		}, nil, nil},
		{"the listen address", func(c *Config) { c.Proxy.ListenAddress = "127.0.0.1:7432" }, []string{"proxy"}, []string{"proxy.listen_address"}},
		{"the TLS key", func(c *Config) { c.Proxy.TLSKeyFile = "/k.pem" }, []string{"proxy"}, nil},
		{"the connect timeout", func(c *Config) { c.Proxy.ConnectTimeout = Duration{Duration: time.Minute} }, []string{"proxy"},
			[]string{"proxy.startup_timeout/connect_timeout/max_message_size"}},
		{"workers", func(c *Config) { c.Proxy.Workers = 7 }, []string{"proxy"}, []string{"proxy.workers"}},
		{"the API address", func(c *Config) { c.API.ListenAddress = "127.0.0.1:8081" }, []string{"api"}, []string{"api.listen_address"}},
		{"the metrics port", func(c *Config) { c.Observability.MetricsPort = 9191 }, []string{"observability"}, []string{"observability.metrics_port"}},
		{"the log format", func(c *Config) { c.Observability.LogFormat = "json" }, []string{"observability"}, []string{"observability.log_format"}},
		{"the metrics endpoint turned off", func(c *Config) { c.Observability.MetricsEnabled = false }, []string{"observability"}, []string{"observability.metrics_enabled"}},
		{"the log level (applied by the reload)", func(c *Config) { c.Observability.LogLevel = "debug" }, []string{"observability"}, nil},
		{"the state dir", func(c *Config) { c.State.Dir = "/var/lib/x" }, []string{"state"}, []string{"state.dir"}},
		{"alerts", func(c *Config) { c.Alerts.AlertOnCircuitOpen = !c.Alerts.AlertOnCircuitOpen }, []string{"alerts"}, []string{"alerts"}},
		{"a pooled role's password", func(c *Config) { c.Users = []User{{Name: "app", Password: "new"}} }, []string{"users"}, nil},
		{"health checks and the pool", func(c *Config) {
			c.HealthChecks.Interval = Duration{Duration: time.Minute}
			c.Pool.Mode = "transaction"
		}, []string{"health_checks", "pool"}, nil},
	}
	for _, tt := range tests {
		old, next := base(), base()
		tt.edit(&next)
		changed, restart := Changes(&old, &next)
		if !reflect.DeepEqual(changed, tt.changed) || !reflect.DeepEqual(restart, tt.rest) {
			t.Errorf("%s: Changes = %q, restart %q; want %q, restart %q", tt.name, changed, restart, tt.changed, tt.rest)
		}
	}
}
