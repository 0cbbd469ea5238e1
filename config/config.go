// Package config is HeliosProxy's configuration file: the TOML schema, its
// defaults, ${VAR} expansion from the environment, and validation.
//
// Load and Parse start from Default, decode the file over it (unknown keys
// are errors, each with its line), expand ${VAR} in string values, and call
// Validate, which reports every problem at once. Keys that are accepted
// without an effect (HeliosDB edge settings, latency percentiles that
// cannot be turned off) are reported as Warnings (see NotImplemented).
package config

import (
	"net"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in TOML as a string with a unit, such
// as "30s", "500ms" or "2m". A bare number is an error: "30" and 30 are
// rejected because the unit would be a guess.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string ("1m30s", "500ms").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as time.Duration.String does ("1m30s").
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.Duration.String()), nil
}

// Config is the whole configuration file. Build one with Default, Load or
// Parse: a zero Config does not validate.
//
// A Config returned by Load or Parse remembers where each key was in the file
// (so that Validate can say file:line) and which values came from ${VAR}
// expansion (so that Redacted hides them); copies share that memory. Compare
// sections, not whole Configs, when looking for changes between two files.
type Config struct {
	Proxy          Proxy          `toml:"proxy"`
	CircuitBreaker CircuitBreaker `toml:"circuit_breaker"`
	Backends       Backends       `toml:"backends"`
	HealthChecks   HealthChecks   `toml:"health_checks"`
	Observability  Observability  `toml:"observability"`
	Alerts         Alerts         `toml:"alerts"`
	API            API            `toml:"api"`
	State          State          `toml:"state"`
	Pool           Pool           `toml:"pool"`
	Users          []User         `toml:"users,omitempty"`
	Cluster        Cluster        `toml:"cluster"`
	Helios         Helios         `toml:"helios,omitempty"`
	// Edge holds the [edge] table of the HeliosDB edge variant's files. The
	// keys are parsed, so such a file loads, and each one is warned about: they
	// have no meaning for a proxy. Nil when the file has no [edge] table.
	Edge map[string]any `toml:"edge,omitempty"`

	origin *origin // nil unless the Config came from Load or Parse
}

// Proxy is the [proxy] table: the client-facing PostgreSQL listener.
type Proxy struct {
	// ListenAddress is host:port for PostgreSQL clients; default
	// "127.0.0.1:6432". Port 0 picks a free port.
	ListenAddress string `toml:"listen_address"`
	// Protocol must be "postgresql" (the default).
	Protocol string `toml:"protocol"`
	// CircuitBreakerEnabled false turns circuit breaking off together with
	// circuit_breaker.enabled: breakers run only when both are true
	// (the default).
	CircuitBreakerEnabled bool `toml:"circuit_breaker_enabled"`
	// TLSCertFile and TLSKeyFile are PEM files for TLS to clients; give both
	// or neither. Empty (the default) means clients cannot use TLS.
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
	// StartupTimeout bounds a client's startup and authentication; default
	// 10s. Must be positive.
	StartupTimeout Duration `toml:"startup_timeout"`
	// MaxMessageSize is the largest protocol message accepted from a client or
	// a backend, in bytes; default 64 MiB. Must be at least 8 KiB.
	MaxMessageSize int `toml:"max_message_size"`
	// Workers is how many event loops relay pass-through sessions, each on
	// a thread of its own, and, when set, how many threads run the proxy's
	// other Go code at once (GOMAXPROCS); 0, the default, means Go's own
	// GOMAXPROCS (set from the CPU affinity and a cgroup's CPU limit) and
	// one loop per two of those CPUs, at least one: the fastest setting
	// measured on a 2-CPU host shared with PostgreSQL, and one that scales
	// with the cores of a larger one (docs/benchmarks.md § Workers). Needs
	// a restart.
	Workers int `toml:"workers"`
	// ConnectTimeout bounds one connection attempt to a backend, including
	// TLS and authentication; default 2s. Must be positive.
	ConnectTimeout Duration `toml:"connect_timeout"`
	// MaxBufferMemory bounds the memory every client together may hold in
	// messages being received beyond the small buffer each has, in bytes;
	// default 256 MiB. A message that would exceed it is refused with
	// SQLSTATE 53200. Must be at least 1 MiB.
	MaxBufferMemory int64 `toml:"max_buffer_memory"`
	// MaxLoginsPerBackend bounds the pass-through logins in progress to one
	// backend (each holds one of its connections while the client answers
	// the password challenge); default 32. A login beyond it waits up to
	// connect_timeout for a slot, then gets SQLSTATE 53300. Must be at
	// least 1.
	MaxLoginsPerBackend int `toml:"max_logins_per_backend"`
	// MaxStatusConnections bounds the sessions on the helios_proxy status
	// database (which loopback clients reach without a password), so that
	// they cannot take pool.max_client_conn from applications; default 16.
	// Must be at least 1.
	MaxStatusConnections int `toml:"max_status_connections"`
	// ClientWriteTimeout is how long data sent to a client may stay
	// unacknowledged (a client that vanished, or stopped reading) before
	// the proxy drops it and frees its backend session (TCP_USER_TIMEOUT;
	// idle clients are probed with TCP keepalives within the same time);
	// default 30s. Must be positive.
	ClientWriteTimeout Duration `toml:"client_write_timeout"`
}

// CircuitBreaker is the [circuit_breaker] table: the thresholds shared by
// every backend's breaker. Backend can override two of them.
type CircuitBreaker struct {
	// Enabled false turns circuit breaking off (see
	// Proxy.CircuitBreakerEnabled); default true.
	Enabled bool `toml:"enabled"`
	// Mode must be "adaptive" (the default), the only mode there is.
	Mode string `toml:"mode"`
	// FailureThresholdPercentage opens a circuit when the error rate in the
	// window exceeds it, 0..100; default 5. Zero disables the rule.
	FailureThresholdPercentage float64 `toml:"failure_threshold_percentage"`
	// LatencyThresholdP95Ms and LatencyThresholdP99Ms open a circuit when the
	// window's P95 or P99 exceeds them, in milliseconds; defaults 500 and
	// 2000. Zero disables the rule.
	LatencyThresholdP95Ms int `toml:"latency_threshold_p95_ms"`
	LatencyThresholdP99Ms int `toml:"latency_threshold_p99_ms"`
	// ConnectionSaturationThreshold opens a circuit when the share of the
	// backend's connections in use exceeds it, 0..1; default 0.95. Zero
	// disables the rule.
	ConnectionSaturationThreshold float64 `toml:"connection_saturation_threshold"`
	// MetricsWindowSize is the sliding window the rules read (default 10s),
	// made of MetricsBucketSize buckets (default 1s). The window must be a
	// positive multiple of the bucket.
	MetricsWindowSize Duration `toml:"metrics_window_size"`
	MetricsBucketSize Duration `toml:"metrics_bucket_size"`
	// MinimumRequests is the volume the window needs before the rate,
	// latency and saturation rules apply; default 20, at least 1.
	MinimumRequests int `toml:"minimum_requests"`
	// OpenDuration is the base wait in OPEN before probing; default 30s.
	// Each failed recovery adds it again, up to MaxOpenDuration.
	OpenDuration Duration `toml:"open_duration"`
	// MaxOpenDuration caps the backed-off wait in OPEN; default 5m, at least
	// OpenDuration.
	MaxOpenDuration Duration `toml:"max_open_duration"`
	// HalfOpenMaxConcurrent is the number of probes admitted at once in
	// HALF_OPEN; default 10, at least 1.
	HalfOpenMaxConcurrent int `toml:"half_open_max_concurrent"`
	// HalfOpenSuccessThreshold is the share of successful probes, in percent,
	// that closes the circuit; default 80, in (0, 100].
	HalfOpenSuccessThreshold float64 `toml:"half_open_success_threshold"`
	// HalfOpenProbeInterval is how long a probe permit may stay unreported
	// before it is reclaimed; default 5s. Must be positive.
	HalfOpenProbeInterval Duration `toml:"half_open_probe_interval"`
	// GradualRecoveryEnabled ramps traffic back after closing instead of
	// restoring it at once; default true.
	GradualRecoveryEnabled bool `toml:"gradual_recovery_enabled"`
	// RecoveryRampUpDuration is the length of the ramp (default 120s), in
	// steps of RecoveryStepPercentage percent (default 10, in (0, 100]).
	// A zero duration restores traffic at once.
	RecoveryRampUpDuration Duration `toml:"recovery_ramp_up_duration"`
	RecoveryStepPercentage float64  `toml:"recovery_step_percentage"`
	// ConnectionFailureThreshold is the number of consecutive failed connects
	// or health checks that opens a circuit whatever the volume; default 3,
	// at least 1.
	ConnectionFailureThreshold int `toml:"connection_failure_threshold"`
	// RecoveryProbeTimeout bounds one half-open probe, of a backend's
	// circuit and of a query pattern's: a probe that takes longer
	// fails (at once, not when it ends); default 5s, positive.
	RecoveryProbeTimeout Duration `toml:"recovery_probe_timeout"`
	// MaxEjectionPercent is the largest share of backends, in percent, that
	// latency or saturation trips may hold open at once (hard failures always
	// trip); default 50, 0..100. Zero means latency and saturation never open
	// a circuit.
	MaxEjectionPercent float64 `toml:"max_ejection_percent"`

	// QueryLevelBreakersEnabled gives each query pattern that is slow or
	// fails for backend reasons a circuit breaker of its own, so that it
	// is refused (SQLSTATE 53400) while other queries run; default false.
	QueryLevelBreakersEnabled bool `toml:"query_level_breakers_enabled"`
	// SlowQueryThresholdMs is the latency, in milliseconds, beyond which
	// an execution is slow for its pattern (and no longer counts as its
	// backend's latency); default 5000. Zero turns the latency rule of
	// query-level breakers off (failures still count). It should be above
	// latency_threshold_p95_ms (warned about otherwise).
	SlowQueryThresholdMs int `toml:"slow_query_threshold_ms"`
	// QueryPatternDetection groups queries by pattern (constants and
	// parameters ignored) for query-level breakers; false groups them by
	// their exact text. Default true.
	QueryPatternDetection bool `toml:"query_pattern_detection"`

	// UserLevelBreakersEnabled turns on the limits and breakers of each
	// role and database (proxy/tenant): PerUserRateLimit and
	// UserIsolationOnAbuse apply only when it is true; default false.
	UserLevelBreakersEnabled bool `toml:"user_level_breakers_enabled"`
	// PerUserRateLimit is the requests per second each role and database
	// may start (a token bucket holding one second's worth); default 1000;
	// zero means no limit. A request beyond it waits up to
	// PerUserRateLimitWait for its turn, then gets SQLSTATE 53400.
	PerUserRateLimit int `toml:"per_user_rate_limit"`
	// PerUserRateLimitWait is how long a request over its role's rate may
	// wait for its turn; default 100ms; zero refuses at once.
	PerUserRateLimitWait Duration `toml:"per_user_rate_limit_wait"`
	// UserIsolationOnAbuse gives each role and database a breaker of its
	// own, with this table's thresholds, fed by its requests: a role whose
	// failures (or requests slower than the latency threshold) are its own
	// while other roles do well on the same backend is isolated (its
	// requests get SQLSTATE 53400) instead of opening the backend's
	// circuit for everyone; default false.
	UserIsolationOnAbuse bool `toml:"user_isolation_on_abuse"`
}

// Backends is the [backends] table.
type Backends struct {
	// Instances are the [[backends.instances]], in file order; at least one.
	Instances []Backend `toml:"instances"`
	// SSLMode, SSLRootCert, SSLCert and SSLKey are the default TLS settings
	// of every backend's connections (relayed sessions, pooled connections,
	// health checks and trust probes), with libpq's meanings: see TLS.
	// Each backend may override each of them. SSLMode defaults to
	// "disable" (plaintext, as before these keys existed); "" means the
	// same.
	SSLMode     string `toml:"sslmode"`
	SSLRootCert string `toml:"sslrootcert"`
	SSLCert     string `toml:"sslcert"`
	SSLKey      string `toml:"sslkey"`
	// MaxReplicationLagMs takes a replica out of read routing while its
	// replication lag exceeds it, in milliseconds, and brings it back once
	// the lag is at most half of it (hysteresis); a lagging replica does
	// not count as failed. Default 10000; 0 means no limit. Each backend
	// may override it.
	MaxReplicationLagMs int `toml:"max_replication_lag_ms"`
	// PrimaryWaitTimeout is how long a session that needs a primary (one
	// that may write) waits for one when none is routable, for example
	// during a failover, before it gets SQLSTATE 57P03; default 5s; 0
	// fails at once.
	PrimaryWaitTimeout Duration `toml:"primary_wait_timeout"`
	// LoadSheddingEnabled gives each backend an admission limit, the
	// requests it may run at once, adapted to its latency (AIMD, see
	// proxy/admission); default false. A request started outside a
	// transaction block beyond the limit waits in a queue of at most
	// LoadSheddingMaxQueue for up to LoadSheddingQueueTimeout, then gets
	// SQLSTATE 53300. False admits everything (the limit is still
	// estimated and shown). Off by default: a limit derived from latency
	// cannot tell overload from slowness by design (lock waits, long
	// reports), and turning it on changes what clients see.
	LoadSheddingEnabled bool `toml:"load_shedding_enabled"`
	// LoadSheddingQueueTimeout is the longest a request waits for
	// admission; default 50ms; zero refuses at once.
	LoadSheddingQueueTimeout Duration `toml:"load_shedding_queue_timeout"`
	// LoadSheddingMaxQueue is the most requests waiting for admission to
	// one backend; default 128; zero refuses at once.
	LoadSheddingMaxQueue int `toml:"load_shedding_max_queue"`
	// LoadSheddingMinLimit and LoadSheddingMaxLimit bound each backend's
	// admission limit; defaults 4 and 1000, 1 ≤ min ≤ max. A backend starts
	// at the maximum, and again at the minimum after its circuit closes
	// (the recovery ramp).
	LoadSheddingMinLimit int `toml:"load_shedding_min_limit"`
	LoadSheddingMaxLimit int `toml:"load_shedding_max_limit"`
	// LoadSheddingLatencyTarget is the latency the admission limit keeps
	// each backend's requests under, as a share of its
	// latency_threshold_p95_ms (0..1]; default 0.5. Without a p95
	// threshold it applies to latency_threshold_p99_ms, and without
	// either the limit only follows failures.
	LoadSheddingLatencyTarget float64 `toml:"load_shedding_latency_target"`
}

// The backend roles of Backend.Role.
const (
	RoleAuto    = "auto"
	RolePrimary = "primary"
	RoleReplica = "replica"
)

// Roles are the values of role.
var Roles = []string{RoleAuto, RolePrimary, RoleReplica}

// Backend is one [[backends.instances]] entry: a PostgreSQL server.
type Backend struct {
	// Name identifies the backend in logs, metrics, the API and SQL; unique,
	// made of letters, digits, '_', '.' and '-'.
	Name string `toml:"name"`
	// Host is a host name or IP address; required.
	Host string `toml:"host"`
	// Port is 1..65535; a file that leaves it out gets 5432.
	Port int `toml:"port"`
	// Priority: the router prefers the highest priority tier that has a
	// routable backend; default 0, not negative.
	Priority int `toml:"priority"`
	// Weight is the share of its tier's traffic, relative to the other
	// backends of the tier; must be positive. A file that leaves it out gets
	// 1.0.
	Weight float64 `toml:"weight"`
	// CircuitBreakerLatencyThresholdP95Ms overrides
	// circuit_breaker.latency_threshold_p95_ms for this backend; zero means
	// no override.
	CircuitBreakerLatencyThresholdP95Ms int `toml:"circuit_breaker_latency_threshold_p95_ms"`
	// CircuitBreakerFailureThreshold overrides
	// circuit_breaker.failure_threshold_percentage (percent, 0..100) for this
	// backend; zero means no override.
	CircuitBreakerFailureThreshold float64 `toml:"circuit_breaker_failure_threshold"`
	// AllowedQueryTypes limits what the backend receives. Empty (the
	// default) or containing "ALL" means everything; ["SELECT"] makes the
	// backend read-only (see ReadOnly). Known values, in any case: SELECT,
	// INSERT, UPDATE, DELETE, DDL, ALL. The router only tells read-only
	// backends from the others, so other subsets are warned about.
	AllowedQueryTypes []string `toml:"allowed_query_types,omitempty"`
	// AllowTrustPassThrough lets clients on other hosts log in with
	// pass-through authentication although the backend lets the proxy's
	// connections in without a password (pg_hba.conf trust for the proxy's
	// address), so that they log in without a valid password. False (the
	// default) refuses them with SQLSTATE 28000 while the backend does so.
	AllowTrustPassThrough bool `toml:"allow_trust_pass_through,omitempty"`
	// SSLMode, SSLRootCert, SSLCert and SSLKey override the [backends]
	// keys of the same names for this backend, each one on its own; empty
	// (the default) means the [backends] value. See TLS.
	SSLMode     string `toml:"sslmode,omitempty"`
	SSLRootCert string `toml:"sslrootcert,omitempty"`
	SSLCert     string `toml:"sslcert,omitempty"`
	SSLKey      string `toml:"sslkey,omitempty"`
	// Role is the backend's replication role: "auto" (the default; ""
	// means the same) reads it from the health check (pg_is_in_recovery()
	// and the timeline), "primary" and "replica" assert it. Sessions that
	// may write go to the primary only; read-only ones to replicas first.
	// An asserted role that the health check contradicts is used anyway
	// and reported (status observed_role, event BackendRoleMismatch).
	Role string `toml:"role,omitempty"`
	// MaxReplicationLagMs overrides [backends] max_replication_lag_ms for
	// this backend; 0 (the default) means no override.
	MaxReplicationLagMs int `toml:"max_replication_lag_ms,omitempty"`
}

// RoleOrAuto returns Role, "auto" when empty.
func (b Backend) RoleOrAuto() string {
	if b.Role == "" {
		return RoleAuto
	}
	return b.Role
}

// MaxLag returns b's replication lag limit: its own
// max_replication_lag_ms, else the [backends] one; 0 means no limit.
func (c *Config) MaxLag(b Backend) time.Duration {
	ms := b.MaxReplicationLagMs
	if ms == 0 {
		ms = c.Backends.MaxReplicationLagMs
	}
	return time.Duration(ms) * time.Millisecond
}

// Address is the backend's host:port, suitable for net.Dial.
func (b Backend) Address() string {
	return net.JoinHostPort(b.Host, strconv.Itoa(b.Port))
}

// ReadOnly reports whether the backend may only receive reads: its
// AllowedQueryTypes is non-empty and lists nothing but SELECT (in any case).
func (b Backend) ReadOnly() bool {
	if len(b.AllowedQueryTypes) == 0 {
		return false
	}
	for _, t := range b.AllowedQueryTypes {
		if !strings.EqualFold(strings.TrimSpace(t), "SELECT") {
			return false
		}
	}
	return true
}

// HealthChecks is the [health_checks] table: active checks of every backend.
type HealthChecks struct {
	// Enabled false stops active checks; breakers then see traffic only.
	// Default true.
	Enabled bool `toml:"enabled"`
	// Interval between two checks of one backend (default 1s) and Timeout of
	// one check (default 500ms): both positive, Timeout at most Interval.
	Interval Duration `toml:"interval"`
	Timeout  Duration `toml:"timeout"`
	// CheckQuery is sent by each check; default "SELECT 1"; required when
	// checks are enabled.
	CheckQuery string `toml:"check_query"`
	// User, Password and Database are the monitor's credentials; defaults
	// "postgres", "" (no password: trust or a .pgpass file) and "postgres".
	User     string `toml:"user"`
	Password string `toml:"password"`
	Database string `toml:"database"`
	// CollectLatencyPercentiles cannot be turned off: the breakers need the
	// percentiles. Default true; false is warned about.
	CollectLatencyPercentiles bool `toml:"collect_latency_percentiles"`
	// CollectConnectionMetrics and CollectReplicationLag add the backend's
	// connection counts and replication lag to its status; default true.
	CollectConnectionMetrics bool `toml:"collect_connection_metrics"`
	CollectReplicationLag    bool `toml:"collect_replication_lag"`
	// The role of each backend (pg_is_in_recovery(), the timeline, the
	// system identifier and WAL positions) is read by every check
	// whatever these say: routing needs it.
	// CollectQueryQueueDepth adds to each check the client sessions
	// queued inside the backend (active, waiting on a lock in
	// pg_stat_activity): shown as backend_waiting and used by routing,
	// which gives a backend less new work the larger their share of its
	// sessions. Default false.
	CollectQueryQueueDepth bool `toml:"collect_query_queue_depth"`
}

// Observability is the [observability] table.
type Observability struct {
	// MetricsEnabled serves Prometheus metrics on MetricsPort (0..65535,
	// 0 picks a free port); defaults true and 9090.
	MetricsEnabled bool `toml:"metrics_enabled"`
	MetricsPort    int  `toml:"metrics_port"`
	// LogCircuitStateChanges logs every circuit transition at Info; default
	// true.
	LogCircuitStateChanges bool `toml:"log_circuit_state_changes"`
	// LogLevel is "debug", "info" (the default), "warn" or "error".
	LogLevel string `toml:"log_level"`
	// LogFormat is "text" (the default: log/slog's key=value lines) or
	// "json" (one JSON object per line, for Loki, Elasticsearch, Cloud
	// Logging). Either way the field names are the same: time, level,
	// msg, then backend, session_id, event, reason, sqlstate, err, ….
	// Changing it takes a restart.
	LogFormat string `toml:"log_format"`
}

// Alerts is the [alerts] table. An empty URL or key turns that channel off.
type Alerts struct {
	// SlackWebhookURL is a Slack incoming-webhook URL (a secret); empty, the
	// default, means no Slack messages.
	SlackWebhookURL string `toml:"slack_webhook_url"`
	// PagerdutyIntegrationKey is a PagerDuty Events v2 routing key (a
	// secret); empty, the default, means no pages.
	PagerdutyIntegrationKey string `toml:"pagerduty_integration_key"`
	// AlertOnCircuitOpen, AlertOnMultipleCircuitsOpen (a cascade) and
	// AlertOnRecoveryFailure choose the events that alert; default true.
	AlertOnCircuitOpen          bool `toml:"alert_on_circuit_open"`
	AlertOnMultipleCircuitsOpen bool `toml:"alert_on_multiple_circuits_open"`
	AlertOnRecoveryFailure      bool `toml:"alert_on_recovery_failure"`
	// PagerdutyEventsURL is the Events v2 endpoint; empty (the default) means
	// PagerDuty's public one. Set it for EU accounts and tests.
	PagerdutyEventsURL string `toml:"pagerduty_events_url"`
	// DashboardURL, when set, is linked from alerts; empty by default.
	DashboardURL string `toml:"dashboard_url"`
	// ClusterName names this proxy cluster in alerts and PagerDuty dedup
	// keys, so that the proxies of one cluster share incidents; empty (the
	// default) means the host name.
	ClusterName string `toml:"cluster_name"`
	// FlapWindow is how long a circuit must stay closed before its page is
	// resolved: reopenings within it continue the same incident; default
	// 2m; 0 resolves at once. CascadeDelay is how long an opening is held
	// to be folded into a cascade page; default 5s; 0 pages at once.
	FlapWindow   Duration `toml:"flap_window"`
	CascadeDelay Duration `toml:"cascade_delay"`
}

// API is the [api] table: the REST API and dashboard.
type API struct {
	// ListenAddress is host:port; default "127.0.0.1:8080". Port 0 picks a
	// free port. A non-loopback address requires AdminToken.
	ListenAddress string `toml:"listen_address"`
	// AdminToken is the bearer token of mutating endpoints (a secret). Empty
	// (the default) means mutating endpoints refuse every request.
	AdminToken string `toml:"admin_token"`
	// AllowedHosts are the host names the API and dashboard answer for in
	// the Host header, besides those always allowed: IP addresses,
	// "localhost", names under ".localhost" and the host of ListenAddress.
	// Other names answer 421, so that a web page cannot read the API by
	// pointing its own name at the API's address (DNS rebinding). An entry
	// ".example.com" allows example.com and every name under it; "*" allows
	// any host. Empty (the default) allows only those always allowed.
	AllowedHosts []string `toml:"allowed_hosts,omitempty"`
}

// State is the [state] table.
type State struct {
	// Dir holds state that survives restarts (operator overrides). Empty, the
	// default, means such state is kept in memory only.
	Dir string `toml:"dir"`
}

// Pool is the [pool] table: server connections to each backend.
type Pool struct {
	// Mode is how the sessions of [[users]] use server connections:
	// "session" (the default: a client keeps one server connection until it
	// disconnects, and is moved to another backend when its backend's
	// circuit opens between transactions) or "transaction" (a server
	// connection is attached per transaction). Users not listed in
	// [[users]] are relayed in session mode with pass-through
	// authentication whatever the mode.
	Mode string `toml:"mode"`
	// DefaultPoolSize is the most server connections per backend, user and
	// database; default 20, at least 1.
	DefaultPoolSize int `toml:"default_pool_size"`
	// MinPoolSize is the connections kept open per backend, user and
	// database while a client of that user and database is logged in;
	// default 0, at most DefaultPoolSize.
	MinPoolSize int `toml:"min_pool_size"`
	// MaxClientConn is the most client connections; zero means no limit;
	// default 1000.
	MaxClientConn int `toml:"max_client_conn"`
	// ServerIdleTimeout closes server connections idle that long (default
	// 10m), ServerLifetime closes them after that long (default 1h), and a
	// client waiting that long for a connection gets an error (default 2m).
	// Zero means never.
	ServerIdleTimeout Duration `toml:"server_idle_timeout"`
	ServerLifetime    Duration `toml:"server_lifetime"`
	QueryWaitTimeout  Duration `toml:"query_wait_timeout"`
	// ServerCheckDelay is how long a pooled connection may sit idle and
	// still be handed out without a check (an empty query) first;
	// default 30s, as PgBouncer's server_check_delay; zero checks every
	// connection that was idle.
	ServerCheckDelay Duration `toml:"server_check_delay"`
	// ServerResetQuery runs when a server connection goes back to the pool;
	// default "DISCARD ALL"; empty means none.
	ServerResetQuery string `toml:"server_reset_query"`
	// ReadWriteSplit, in transaction mode, routes a single read-only
	// statement outside a transaction block to a replica; default false
	// (every transaction of a read-write session goes to the primary).
	ReadWriteSplit bool `toml:"read_write_split"`
}

// User is one [[users]] entry: a role the proxy authenticates itself and
// whose server connections it pools.
type User struct {
	// Name is the PostgreSQL role; required, unique.
	Name string `toml:"name"`
	// Password is the role's password (a secret): plain, a PostgreSQL
	// SCRAM-SHA-256 verifier ("SCRAM-SHA-256$4096:…", as in pg_authid), or
	// an md5 secret ("md5" and 32 hex digits). With a verifier, backends
	// must store the same verifier: the proxy logs in to them with the key
	// it learns from the client's proof. Required unless AuthMethod is
	// "trust".
	Password string `toml:"password"`
	// AuthMethod is how clients prove they are the user:
	// "scram-sha-256" (the default), "md5" (needs a plain password or an md5
	// secret) or "trust".
	AuthMethod string `toml:"auth_method"`
	// PoolMode overrides pool.mode; empty means no override.
	PoolMode string `toml:"pool_mode"`
	// PoolSize overrides pool.default_pool_size; zero means no override.
	PoolSize int `toml:"pool_size"`
}

// Helios is the [helios] table of the HeliosDB edge variant's files. Its keys
// are parsed, so such a file loads, and each one present is warned about:
// they have no meaning for a proxy.
type Helios struct {
	Mode              string   `toml:"mode,omitempty"`
	DataDir           string   `toml:"data_dir,omitempty"`
	CloudEndpoint     string   `toml:"cloud_endpoint,omitempty"`
	CloudAPIKey       string   `toml:"cloud_api_key,omitempty"` // a secret
	CloudSyncInterval Duration `toml:"cloud_sync_interval,omitempty"`
}

// Redaction replaces secret values in Redacted.
const Redaction = "[redacted]"

// DefaultBackend is a backend with the defaults a file gets for the keys it
// leaves out (port 5432, weight 1.0); Name and Host are still to be set.
func DefaultBackend() Backend {
	return Backend{Port: 5432, Weight: 1.0}
}

// Default is the configuration of an empty file, except that a file must
// also name at least one backend.
func Default() Config {
	return Config{
		Proxy: Proxy{
			ListenAddress:         "127.0.0.1:6432",
			Protocol:              "postgresql",
			CircuitBreakerEnabled: true,
			StartupTimeout:        Duration{10 * time.Second},
			MaxMessageSize:        64 << 20,
			ConnectTimeout:        Duration{2 * time.Second},
			MaxBufferMemory:       256 << 20,
			MaxLoginsPerBackend:   32,
			MaxStatusConnections:  16,
			ClientWriteTimeout:    Duration{30 * time.Second},
		},
		CircuitBreaker: CircuitBreaker{
			Enabled:                       true,
			Mode:                          "adaptive",
			FailureThresholdPercentage:    5,
			LatencyThresholdP95Ms:         500,
			LatencyThresholdP99Ms:         2000,
			ConnectionSaturationThreshold: 0.95,
			MetricsWindowSize:             Duration{10 * time.Second},
			MetricsBucketSize:             Duration{time.Second},
			MinimumRequests:               20,
			OpenDuration:                  Duration{30 * time.Second},
			MaxOpenDuration:               Duration{5 * time.Minute},
			HalfOpenMaxConcurrent:         10,
			HalfOpenSuccessThreshold:      80,
			HalfOpenProbeInterval:         Duration{5 * time.Second},
			GradualRecoveryEnabled:        true,
			RecoveryRampUpDuration:        Duration{120 * time.Second},
			RecoveryStepPercentage:        10,
			ConnectionFailureThreshold:    3,
			RecoveryProbeTimeout:          Duration{5 * time.Second},
			MaxEjectionPercent:            50,
			SlowQueryThresholdMs:          5000,
			QueryPatternDetection:         true,
			PerUserRateLimit:              1000,
			PerUserRateLimitWait:          Duration{100 * time.Millisecond},
		},
		HealthChecks: HealthChecks{
			Enabled:                   true,
			Interval:                  Duration{time.Second},
			Timeout:                   Duration{500 * time.Millisecond},
			CheckQuery:                "SELECT 1",
			User:                      "postgres",
			Database:                  "postgres",
			CollectLatencyPercentiles: true,
			CollectConnectionMetrics:  true,
			CollectReplicationLag:     true,
		},
		Observability: Observability{
			MetricsEnabled:         true,
			MetricsPort:            9090,
			LogCircuitStateChanges: true,
			LogLevel:               "info",
			LogFormat:              "text",
		},
		Alerts: Alerts{
			FlapWindow:                  Duration{2 * time.Minute},
			CascadeDelay:                Duration{5 * time.Second},
			AlertOnCircuitOpen:          true,
			AlertOnMultipleCircuitsOpen: true,
			AlertOnRecoveryFailure:      true,
		},
		Backends: Backends{
			SSLMode: "disable", MaxReplicationLagMs: 10000, PrimaryWaitTimeout: Duration{5 * time.Second},
			LoadSheddingQueueTimeout: Duration{50 * time.Millisecond},
			LoadSheddingMaxQueue:     128, LoadSheddingMinLimit: 4, LoadSheddingMaxLimit: 1000,
			LoadSheddingLatencyTarget: 0.5,
		},
		API: API{ListenAddress: "127.0.0.1:8080"},
		Cluster: Cluster{
			BindAddress:    "0.0.0.0:7946",
			RejoinInterval: Duration{30 * time.Second},
			Decision:       "local",
		},
		Pool: Pool{
			Mode:              "session",
			DefaultPoolSize:   20,
			MaxClientConn:     1000,
			ServerIdleTimeout: Duration{10 * time.Minute},
			ServerLifetime:    Duration{time.Hour},
			QueryWaitTimeout:  Duration{2 * time.Minute},
			ServerCheckDelay:  Duration{30 * time.Second},
			ServerResetQuery:  "DISCARD ALL",
		},
	}
}
