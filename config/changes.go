package config

import "reflect"

// Changes compares the configuration a reload replaces, old, with the one
// it applies, next. changed names the sections ("circuit_breaker") and
// kept backends ("backends.instances.pg-a") whose settings differ; added
// and removed backends are not in it. restart names the settings among
// them that only take effect after a restart (listen addresses, the state
// directory, alerts). Both are nil when nothing differs.
func Changes(old, next *Config) (changed, restart []string) {
	sections := []struct {
		name string
		a, b any
	}{
		{"proxy", old.Proxy, next.Proxy},
		{"circuit_breaker", old.CircuitBreaker, next.CircuitBreaker},
		{"backends", old.Backends.settings(), next.Backends.settings()},
		{"health_checks", old.HealthChecks, next.HealthChecks},
		{"observability", old.Observability, next.Observability},
		{"alerts", old.Alerts, next.Alerts},
		{"api", old.API, next.API},
		{"state", old.State, next.State},
		{"pool", old.Pool, next.Pool},
		{"users", old.Users, next.Users},
		{"cluster", old.Cluster, next.Cluster},
	}
	for _, sec := range sections {
		if !reflect.DeepEqual(sec.a, sec.b) {
			changed = append(changed, sec.name)
		}
	}
	olds := make(map[string]Backend)
	for _, b := range old.Backends.Instances {
		olds[b.Name] = b
	}
	for _, b := range next.Backends.Instances {
		if o, ok := olds[b.Name]; ok && !reflect.DeepEqual(o, b) {
			changed = append(changed, "backends.instances."+b.Name)
		}
	}
	p, q := old.Proxy, next.Proxy
	if p.ListenAddress != q.ListenAddress {
		restart = append(restart, "proxy.listen_address")
	}
	if p.StartupTimeout != q.StartupTimeout || p.ConnectTimeout != q.ConnectTimeout || p.MaxMessageSize != q.MaxMessageSize {
		restart = append(restart, "proxy.startup_timeout/connect_timeout/max_message_size")
	}
	if p.Workers != q.Workers {
		restart = append(restart, "proxy.workers")
	}
	if old.API.ListenAddress != next.API.ListenAddress {
		restart = append(restart, "api.listen_address")
	}
	if old.Observability.MetricsPort != next.Observability.MetricsPort {
		restart = append(restart, "observability.metrics_port")
	}
	if old.Observability.LogFormat != next.Observability.LogFormat {
		restart = append(restart, "observability.log_format")
	}
	if old.Observability.MetricsEnabled != next.Observability.MetricsEnabled {
		restart = append(restart, "observability.metrics_enabled")
	}
	if old.State.Dir != next.State.Dir {
		restart = append(restart, "state.dir")
	}
	if !reflect.DeepEqual(old.Cluster, next.Cluster) {
		restart = append(restart, "cluster")
	}
	if !reflect.DeepEqual(old.Alerts, next.Alerts) {
		restart = append(restart, "alerts")
	}
	return changed, restart
}

// settings is the [backends] table without its instances.
func (b Backends) settings() Backends {
	b.Instances = nil
	return b
}
