package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/heliosdb/heliosproxy/internal/loopback"
	"github.com/heliosdb/heliosproxy/internal/scram"
)

// QueryTypes are the values allowed in allowed_query_types (in any case).
var QueryTypes = []string{"SELECT", "INSERT", "UPDATE", "DELETE", "DDL", "ALL"}

var backendName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// allowedHost is an entry of api.allowed_hosts other than "*": a host
// name, with a leading dot for a domain and the names under it.
var allowedHost = regexp.MustCompile(`^\.?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$`)

// Validate reports every problem of c at once, joined with errors.Join; each
// is an *Error that names the key as a file spells it and shows the bad
// value (never a secret). For a Config from Load or Parse, each also says
// the file and line of the key, or of its table when the file leaves the key
// out.
func (c Config) Validate() error {
	v := &validator{o: c.origin}

	p := c.Proxy
	v.listenAddress("proxy.listen_address", p.ListenAddress)
	if p.Protocol != "postgresql" {
		v.add("proxy.protocol", `unsupported protocol %q; supported: "postgresql"`, p.Protocol)
	}
	switch {
	case p.TLSCertFile != "" && p.TLSKeyFile == "":
		v.add("proxy.tls_key_file", "required with proxy.tls_cert_file (%q)", p.TLSCertFile)
	case p.TLSCertFile == "" && p.TLSKeyFile != "":
		v.add("proxy.tls_cert_file", "required with proxy.tls_key_file (%q)", p.TLSKeyFile)
	case p.TLSCertFile != "":
		// Read as the proxy reads them at start and at each reload.
		if _, err := p.ClientCertificate(); err != nil {
			v.add("proxy.tls_cert_file", "cannot load the certificate for clients: %v", err)
		}
	}
	v.positive("proxy.startup_timeout", p.StartupTimeout)
	if p.MaxMessageSize < 8192 {
		v.add("proxy.max_message_size", "must be at least 8192 bytes, got %d", p.MaxMessageSize)
	}
	v.positive("proxy.connect_timeout", p.ConnectTimeout)
	if p.MaxBufferMemory < 1<<20 {
		v.add("proxy.max_buffer_memory", "must be at least 1048576 bytes, got %d", p.MaxBufferMemory)
	}
	v.atLeast("proxy.max_logins_per_backend", p.MaxLoginsPerBackend, 1)
	v.atLeast("proxy.max_status_connections", p.MaxStatusConnections, 1)
	v.positive("proxy.client_write_timeout", p.ClientWriteTimeout)
	v.atLeast("proxy.workers", p.Workers, 0)

	cb := c.CircuitBreaker
	if cb.Mode != "adaptive" {
		v.add("circuit_breaker.mode", `unsupported mode %q; supported: "adaptive"`, cb.Mode)
	}
	v.between("circuit_breaker.failure_threshold_percentage", cb.FailureThresholdPercentage, 0, 100)
	v.atLeast("circuit_breaker.latency_threshold_p95_ms", cb.LatencyThresholdP95Ms, 0)
	v.atLeast("circuit_breaker.latency_threshold_p99_ms", cb.LatencyThresholdP99Ms, 0)
	v.between("circuit_breaker.connection_saturation_threshold", cb.ConnectionSaturationThreshold, 0, 1)
	bucketOK := v.positive("circuit_breaker.metrics_bucket_size", cb.MetricsBucketSize)
	if v.positive("circuit_breaker.metrics_window_size", cb.MetricsWindowSize) && bucketOK {
		w, b := cb.MetricsWindowSize.Duration, cb.MetricsBucketSize.Duration
		switch {
		case w < b:
			v.add("circuit_breaker.metrics_window_size", "must be at least circuit_breaker.metrics_bucket_size (%s), got %s", b, w)
		case w%b != 0:
			v.add("circuit_breaker.metrics_window_size", "must be a multiple of circuit_breaker.metrics_bucket_size (%s), got %s", b, w)
		}
	}
	v.atLeast("circuit_breaker.minimum_requests", cb.MinimumRequests, 1)
	if v.positive("circuit_breaker.open_duration", cb.OpenDuration) && cb.MaxOpenDuration.Duration < cb.OpenDuration.Duration {
		v.add("circuit_breaker.max_open_duration", "must be at least circuit_breaker.open_duration (%s), got %s",
			cb.OpenDuration.Duration, cb.MaxOpenDuration.Duration)
	}
	v.atLeast("circuit_breaker.half_open_max_concurrent", cb.HalfOpenMaxConcurrent, 1)
	v.percent("circuit_breaker.half_open_success_threshold", cb.HalfOpenSuccessThreshold)
	v.positive("circuit_breaker.half_open_probe_interval", cb.HalfOpenProbeInterval)
	v.nonNegative("circuit_breaker.recovery_ramp_up_duration", cb.RecoveryRampUpDuration)
	v.percent("circuit_breaker.recovery_step_percentage", cb.RecoveryStepPercentage)
	v.atLeast("circuit_breaker.connection_failure_threshold", cb.ConnectionFailureThreshold, 1)
	v.positive("circuit_breaker.recovery_probe_timeout", cb.RecoveryProbeTimeout)
	v.between("circuit_breaker.max_ejection_percent", cb.MaxEjectionPercent, 0, 100)
	v.atLeast("circuit_breaker.slow_query_threshold_ms", cb.SlowQueryThresholdMs, 0)
	v.atLeast("circuit_breaker.per_user_rate_limit", cb.PerUserRateLimit, 0)
	v.nonNegative("circuit_breaker.per_user_rate_limit_wait", cb.PerUserRateLimitWait)

	if len(c.Backends.Instances) == 0 {
		v.add("backends.instances", "at least one backend is required: add a [[backends.instances]] table with name and host")
	}
	names := map[string]int{}
	for i, b := range c.Backends.Instances {
		k := fmt.Sprintf("backends.instances[%d]", i)
		switch j, dup := names[b.Name]; {
		case b.Name == "":
			v.add(k+".name", "required")
		case !backendName.MatchString(b.Name):
			v.add(k+".name", "may contain only letters, digits, '_', '.' and '-', got %q", b.Name)
		case dup:
			v.add(k+".name", "%q is already the name of backends.instances[%d]", b.Name, j)
		default:
			names[b.Name] = i
		}
		if strings.TrimSpace(b.Host) == "" || strings.ContainsAny(b.Host, " \t\r\n/") {
			v.add(k+".host", "want a host name or IP address, got %q", b.Host)
		}
		if b.Port < 1 || b.Port > 65535 {
			v.add(k+".port", "must be between 1 and 65535, got %d", b.Port)
		}
		v.atLeast(k+".priority", b.Priority, 0)
		if !(b.Weight > 0) || b.Weight > 1e9 {
			v.add(k+".weight", "must be positive, got %g", b.Weight)
		}
		v.atLeast(k+".circuit_breaker_latency_threshold_p95_ms", b.CircuitBreakerLatencyThresholdP95Ms, 0)
		v.between(k+".circuit_breaker_failure_threshold", b.CircuitBreakerFailureThreshold, 0, 100)
		switch b.Role {
		case "", RoleAuto, RolePrimary, RoleReplica:
		default:
			v.add(k+".role", `unsupported role %q; supported: "auto", "primary", "replica"`, b.Role)
		}
		v.atLeast(k+".max_replication_lag_ms", b.MaxReplicationLagMs, 0)
		for j, t := range b.AllowedQueryTypes {
			if !knownQueryType(t) {
				v.add(fmt.Sprintf("%s.allowed_query_types[%d]", k, j), "unknown query type %q; known: %s",
					t, strings.Join(QueryTypes, ", "))
			}
		}
	}

	v.backendsTLS(&c)
	v.atLeast("backends.max_replication_lag_ms", c.Backends.MaxReplicationLagMs, 0)
	v.nonNegative("backends.primary_wait_timeout", c.Backends.PrimaryWaitTimeout)
	bk := c.Backends
	v.nonNegative("backends.load_shedding_queue_timeout", bk.LoadSheddingQueueTimeout)
	v.atLeast("backends.load_shedding_max_queue", bk.LoadSheddingMaxQueue, 0)
	if bk.LoadSheddingMinLimit < 1 {
		v.atLeast("backends.load_shedding_min_limit", bk.LoadSheddingMinLimit, 1)
	} else if bk.LoadSheddingMaxLimit < bk.LoadSheddingMinLimit {
		v.add("backends.load_shedding_max_limit", "must be at least load_shedding_min_limit (%d), got %d", bk.LoadSheddingMinLimit, bk.LoadSheddingMaxLimit)
	}
	if !(bk.LoadSheddingLatencyTarget > 0) || bk.LoadSheddingLatencyTarget > 1 {
		v.add("backends.load_shedding_latency_target", "must be in (0, 1], got %g", bk.LoadSheddingLatencyTarget)
	}

	hc := c.HealthChecks
	if v.positive("health_checks.interval", hc.Interval) && v.positive("health_checks.timeout", hc.Timeout) &&
		hc.Timeout.Duration > hc.Interval.Duration {
		v.add("health_checks.timeout", "must not exceed health_checks.interval (%s), got %s", hc.Interval.Duration, hc.Timeout.Duration)
	}
	if hc.Enabled && strings.TrimSpace(hc.CheckQuery) == "" {
		v.add("health_checks.check_query", "required when health checks are enabled")
	}
	if hc.Enabled && hc.User == "" {
		v.add("health_checks.user", "required when health checks are enabled")
	}

	ob := c.Observability
	if ob.MetricsPort < 0 || ob.MetricsPort > 65535 {
		v.add("observability.metrics_port", "must be between 0 and 65535, got %d", ob.MetricsPort)
	}
	switch ob.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		v.add("observability.log_level", `unsupported level %q; supported: "debug", "info", "warn", "error"`, ob.LogLevel)
	}
	switch ob.LogFormat {
	case "text", "json":
	default:
		v.add("observability.log_format", `unsupported format %q; supported: "text", "json"`, ob.LogFormat)
	}

	al := c.Alerts
	v.url("alerts.slack_webhook_url", al.SlackWebhookURL, true)
	v.url("alerts.pagerduty_events_url", al.PagerdutyEventsURL, false)
	v.url("alerts.dashboard_url", al.DashboardURL, false)
	v.nonNegative("alerts.flap_window", al.FlapWindow)
	v.nonNegative("alerts.cascade_delay", al.CascadeDelay)

	if v.listenAddress("api.listen_address", c.API.ListenAddress) && c.API.AdminToken == "" && !loopback.HostPort(c.API.ListenAddress) {
		v.add("api.admin_token", "required when api.listen_address (%q) is not a loopback address", c.API.ListenAddress)
	}

	for i, h := range c.API.AllowedHosts {
		if h != "*" && !allowedHost.MatchString(h) {
			v.add(fmt.Sprintf("api.allowed_hosts[%d]", i),
				`want a host name without scheme or port (".example.com" for a domain and the names under it, "*" for any), got %q`, h)
		}
	}

	po := c.Pool
	if po.Mode != "session" && po.Mode != "transaction" {
		v.add("pool.mode", `unsupported mode %q; supported: "session", "transaction"`, po.Mode)
	}
	v.atLeast("pool.default_pool_size", po.DefaultPoolSize, 1)
	if po.MinPoolSize < 0 || po.MinPoolSize > max(po.DefaultPoolSize, 0) {
		v.add("pool.min_pool_size", "must be between 0 and pool.default_pool_size (%d), got %d", po.DefaultPoolSize, po.MinPoolSize)
	}
	v.atLeast("pool.max_client_conn", po.MaxClientConn, 0)
	v.nonNegative("pool.server_idle_timeout", po.ServerIdleTimeout)
	v.nonNegative("pool.server_lifetime", po.ServerLifetime)
	v.nonNegative("pool.query_wait_timeout", po.QueryWaitTimeout)
	v.nonNegative("pool.server_check_delay", po.ServerCheckDelay)

	v.cluster(c.Cluster)

	users := map[string]int{}
	for i, u := range c.Users {
		k := fmt.Sprintf("users[%d]", i)
		switch j, dup := users[u.Name]; {
		case u.Name == "":
			v.add(k+".name", "required")
		case dup:
			v.add(k+".name", "%q is already the name of users[%d]", u.Name, j)
		default:
			users[u.Name] = i
		}
		if u.PoolMode != "" && u.PoolMode != "session" && u.PoolMode != "transaction" {
			v.add(k+".pool_mode", `unsupported mode %q; supported: "session", "transaction", or empty for pool.mode`, u.PoolMode)
		}
		v.atLeast(k+".pool_size", u.PoolSize, 0)
		v.credentials(k, u)
	}

	// In file order; problems with keys a file cannot place come last.
	sort.SliceStable(v.errs, func(i, j int) bool {
		li, lj := v.errs[i].(*Error).Line, v.errs[j].(*Error).Line
		return li != 0 && (lj == 0 || li < lj)
	})
	return errors.Join(v.errs...)
}

type validator struct {
	o    *origin
	errs []error
}

func (v *validator) add(key, format string, args ...any) {
	v.errs = append(v.errs, &Error{
		File:    v.o.file(),
		Line:    v.o.line(key),
		Key:     key,
		Message: key + ": " + fmt.Sprintf(format, args...),
	})
}

func (v *validator) positive(key string, d Duration) bool {
	if d.Duration <= 0 {
		v.add(key, "must be positive, got %s", d.Duration)
		return false
	}
	return true
}

func (v *validator) nonNegative(key string, d Duration) {
	if d.Duration < 0 {
		v.add(key, "must not be negative, got %s", d.Duration)
	}
}

func (v *validator) atLeast(key string, n, lo int) {
	if n < lo {
		v.add(key, "must be at least %d, got %d", lo, n)
	}
}

// between checks lo ≤ x ≤ hi; NaN fails.
func (v *validator) between(key string, x, lo, hi float64) {
	if !(x >= lo && x <= hi) {
		v.add(key, "must be between %g and %g, got %g", lo, hi, x)
	}
}

// percent checks 0 < x ≤ 100.
func (v *validator) percent(key string, x float64) {
	if !(x > 0 && x <= 100) {
		v.add(key, "must be more than 0 and at most 100, got %g", x)
	}
}

func (v *validator) listenAddress(key, addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(key, "want host:port, got %q", addr)
		return false
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add(key, "want host:port with a port between 0 and 65535, got %q", addr)
		return false
	}
	return true
}

// url checks an optional http(s) URL; a secret one is never shown.
func (v *validator) url(key, s string, secret bool) {
	if s == "" {
		return
	}
	u, err := url.Parse(s)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return
	}
	if secret {
		v.add(key, "want an http or https URL, got something else (not shown: it is a secret)")
		return
	}
	v.add(key, "want an http or https URL, got %q", s)
}

func knownQueryType(t string) bool {
	for _, q := range QueryTypes {
		if strings.EqualFold(strings.TrimSpace(t), q) {
			return true
		}
	}
	return false
}

// credentials checks a user's password against its authentication method.
func (v *validator) credentials(k string, u User) {
	switch u.AuthMethod {
	case "", "scram-sha-256", "md5", "trust":
	default:
		v.add(k+".auth_method", `unsupported method %q; supported: "scram-sha-256", "md5", "trust"`, u.AuthMethod)
		return
	}
	switch {
	case u.Password == "" && u.AuthMethod != "trust":
		v.add(k+".password", "required unless auth_method is \"trust\"")
	case scram.IsVerifier(u.Password):
		if _, err := scram.ParseVerifier(u.Password); err != nil {
			v.add(k+".password", "not a valid SCRAM-SHA-256 verifier: %v", err)
		} else if u.AuthMethod == "md5" {
			v.add(k+".password", "a SCRAM-SHA-256 verifier cannot check md5 logins: give the plain password or an md5 secret")
		}
	case scram.IsMD5Secret(u.Password) && (u.AuthMethod == "" || u.AuthMethod == "scram-sha-256"):
		v.add(k+".password", "an md5 secret cannot check SCRAM logins: give the plain password or a SCRAM-SHA-256 verifier, or set auth_method = \"md5\"")
	}
}
