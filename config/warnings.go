package config

import (
	"fmt"
	"strings"
)

// Warning is a key of the file that is accepted but has no effect, or whose
// effect differs from what it says. Start-up logs each one.
type Warning struct {
	Key     string // as the file spells it, e.g. "users[0].name"
	Line    int    // 1-based; 0 when unknown
	Message string
	File    string // as given to Load or Parse
}

// String reads "file:line: key: message".
func (w Warning) String() string {
	var b strings.Builder
	switch {
	case w.File != "" && w.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", w.File, w.Line)
	case w.File != "":
		fmt.Fprintf(&b, "%s: ", w.File)
	case w.Line > 0:
		fmt.Fprintf(&b, "line %d: ", w.Line)
	}
	if w.Key != "" {
		b.WriteString(w.Key + ": ")
	}
	b.WriteString(w.Message)
	return b.String()
}

const noMeaning = "has no meaning for a proxy (a HeliosDB edge setting): ignored"

// NotImplemented maps keys that are accepted but have no effect yet to the
// warning given for each one present in a file. A key names a setting
// ("health_checks.collect_latency_percentiles") or a whole table ("edge"),
// without array indices ("users" covers every users[i].name). The most
// specific entry wins. Implementing a setting means deleting its entry.
var NotImplemented = map[string]string{
	"health_checks.collect_latency_percentiles": "cannot be turned off: the circuit breakers need latency percentiles",
	"helios": noMeaning,
	"edge":   noMeaning,
}

// implementedWhen lists NotImplemented keys that do work with some values:
// a key is not warned about when its function returns true.
var implementedWhen = map[string]func(Config) bool{
	"health_checks.collect_latency_percentiles": func(c Config) bool { return c.HealthChecks.CollectLatencyPercentiles },
}

// notImplemented returns the NotImplemented entry that covers key.
func notImplemented(key string) (entry, msg string, ok bool) {
	for k := normKey(key); k != ""; k = parentKey(k) {
		if msg, ok := NotImplemented[k]; ok {
			return k, msg, true
		}
	}
	return "", "", false
}

// warnings lists the keys of the file that NotImplemented covers, and other
// settings that do not do what they say.
func (c Config) warnings() []Warning {
	o := c.origin
	if o == nil {
		return nil
	}
	var ws []Warning
	for _, l := range o.leaves {
		entry, msg, ok := notImplemented(l.key)
		if !ok {
			continue
		}
		if f := implementedWhen[entry]; f != nil && f(c) {
			continue
		}
		ws = append(ws, Warning{File: o.name, Line: l.line, Key: l.key, Message: msg})
	}
	if cb := c.CircuitBreaker; cb.QueryLevelBreakersEnabled && cb.SlowQueryThresholdMs > 0 && cb.SlowQueryThresholdMs <= cb.LatencyThresholdP95Ms {
		ws = append(ws, o.warning("circuit_breaker.slow_query_threshold_ms", fmt.Sprintf(
			"%d is not above latency_threshold_p95_ms (%d): executions slower than it count for their query patterns, not their backend, so a backend slow for every query may not open its own circuit",
			cb.SlowQueryThresholdMs, cb.LatencyThresholdP95Ms)))
	}
	for i, b := range c.Backends.Instances {
		if len(b.AllowedQueryTypes) == 0 || b.ReadOnly() {
			continue
		}
		all := false
		for _, t := range b.AllowedQueryTypes {
			all = all || strings.EqualFold(strings.TrimSpace(t), "ALL")
		}
		if !all {
			key := fmt.Sprintf("backends.instances[%d].allowed_query_types", i)
			ws = append(ws, o.warning(key, fmt.Sprintf(
				`%q: only ["SELECT"] (read-only) is enforced; this backend receives every statement`, b.AllowedQueryTypes)))
		}
	}
	return ws
}
