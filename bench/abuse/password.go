package main

import (
	"context"
	"net"
	"sync/atomic"
	"time"
)

const (
	passwordConns = 64       // password-memory connections at -scale 1
	declaredSize  = 64 << 20 // what each PasswordMessage header declares
	// passwordBudgetKB is the RSS growth allowed for passwordConns
	// connections, and in proportion for other counts.
	passwordBudgetKB = 100 << 10
)

// passwordMemory opens connections that send a StartupMessage, read the
// proxy's answer, then send the header of a PasswordMessage declaring 64
// MiB and never its body; it holds them for -hold and wants the proxy's
// resident memory to grow by less than 100 MB per 64 connections. The
// connections go round-robin to -database, to helios_proxy (which the
// proxy answers itself) and, with -pooled-user, to -database as that
// pooled role.
func passwordMemory(ctx context.Context, e *env) outcome {
	if e.pid == 0 {
		return skipf("needs -pid (reads the proxy's VmRSS)")
	}
	before, err := readProc(e.pid)
	if err != nil {
		return failf("/proc/%d: %v", e.pid, err)
	}
	type target struct{ label, user, database string }
	targets := []target{{"", e.user, e.database}, {"", e.user, statusDatabase}}
	if e.pooledUser != "" {
		targets = append(targets, target{"pooled ", e.pooledUser, e.database})
	}
	n := e.n(passwordConns)
	var next atomic.Int64
	h := e.flood(ctx, n, func(ctx context.Context) (net.Conn, string) {
		t := targets[int(next.Add(1)-1)%len(targets)]
		c, saw := e.loginSilently(ctx, t.user, t.database)
		label := t.label + t.user + "@" + t.database + " " + saw
		if c == nil {
			return nil, label
		}
		if _, err := c.Write(header('p', declaredSize)); err != nil {
			return c, label + ", header " + closed(err)
		}
		return c, label
	})
	defer h.close()
	peak := before.rssKB
	for end := time.Now().Add(e.hold); time.Now().Before(end) && ctx.Err() == nil; time.Sleep(sampleEvery) {
		if p, err := readProc(e.pid); err == nil {
			peak = max(peak, p.rssKB)
		}
	}
	left := h.census()
	h.close()
	budget := int64(passwordBudgetKB) * int64(n) / passwordConns
	growth := peak - before.rssKB
	return judge(growth < budget, "%d × 64 MiB declared (%s); RSS peak %s, want < %+d MB; after %s: %s",
		n, tally(h.seen), megabytes(growth), budget>>10, millis(e.hold), tally(left)).
		with("connections", n, "seen", h.seen, "rss_growth_kb", growth, "budget_kb", budget, "left", left)
}
