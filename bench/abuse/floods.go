package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// Connection counts at -scale 1.
const (
	fdConns     = 1200 // fd-exhaustion
	silentConns = 200  // silent-logins
	floodConns  = 3000 // connection-flood
)

// connect is a flood's opening that sends nothing: a TCP connection.
func (e *env) connect(ctx context.Context) (net.Conn, string) {
	c, err := e.dial(ctx)
	if err != nil {
		return nil, "dial " + closed(err)
	}
	return c, "connected"
}

// loginSilently sends a StartupMessage for user on database and reads the proxy's
// first answer (an authentication request, or an error); it never answers
// the request.
func (e *env) loginSilently(ctx context.Context, user, database string) (net.Conn, string) {
	c, err := e.dial(ctx)
	if err != nil {
		return nil, "dial " + closed(err)
	}
	if _, err := c.Write(startup(user, database)); err != nil {
		c.Close()
		return nil, "write " + closed(err)
	}
	return c, firstReply(c)
}

// fdExhaustion holds fdConns idle TCP connections, which send nothing,
// and meanwhile wants a new client served or refused with an
// ErrorResponse within legitTimeout, and /ready to agree with what that
// client got.
func fdExhaustion(ctx context.Context, e *env) outcome {
	n := e.n(fdConns)
	start := time.Now()
	h := e.flood(ctx, n, e.connect)
	defer h.close()
	opened := time.Since(start)
	fds := e.proxyFDs()
	s := e.served(ctx)
	code, ready := e.ready(ctx)
	left := h.census()
	h.close()

	parts := []string{fmt.Sprintf("%d idle held in %s (%s)", n, millis(opened), tally(h.seen))}
	if fds != "" {
		parts = append(parts, fds)
	}
	parts = append(parts, "new client "+s.String(), "/ready "+ready)
	// /ready lies when it sends traffic to a proxy that leaves clients
	// hanging, or turns it away while clients are served.
	lie := (s.ok() && code == 503) || (!s.answered() && code == 200)
	if lie {
		parts = append(parts, "/ready disagrees with the client")
	}
	parts = append(parts, "then "+tally(left))
	return judge(s.answered() && !lie, "%s", strings.Join(parts, "; ")).
		with("connections", n, "open_ms", opened.Milliseconds(), "client", s.String(), "ready", ready, "left", left)
}

// silentLogins holds silentConns logins to a backend database that never
// answer their authentication request, for -hold, and wants a legitimate
// client served every second meanwhile.
func silentLogins(ctx context.Context, e *env) outcome {
	n := e.n(silentConns)
	h := e.flood(ctx, n, func(ctx context.Context) (net.Conn, string) { return e.loginSilently(ctx, e.user, e.database) })
	defer h.close()
	var (
		served, tries int
		slowest       time.Duration
		first         *service
	)
	for end := time.Now().Add(e.hold); time.Now().Before(end) && ctx.Err() == nil; {
		next := time.Now().Add(time.Second)
		s := e.served(ctx)
		tries++
		if s.ok() {
			served++
			slowest = max(slowest, s.took)
		} else if first == nil {
			first = &s
		}
		time.Sleep(time.Until(next))
	}
	left := h.census()
	h.close()
	detail := fmt.Sprintf("%d silent logins (%s); legitimate client served %d/%d (slowest %s)", n, tally(h.seen), served, tries, millis(slowest))
	if first != nil {
		detail += ", first failure: " + first.String()
	}
	detail += "; after " + millis(e.hold) + ": " + tally(left)
	return judge(served == tries && tries > 0, "%s", detail).
		with("connections", n, "seen", h.seen, "served", served, "tries", tries, "slowest_ms", slowest.Milliseconds(), "left", left)
}

// connectionFlood opens floodConns connections as fast as it can, then
// closes them all; the runner's checks decide.
func connectionFlood(ctx context.Context, e *env) outcome {
	n := e.n(floodConns)
	start := time.Now()
	h := e.flood(ctx, n, e.connect)
	took := time.Since(start)
	h.close()
	return passf("%d opened in %s (%s), closed", n, millis(took), tally(h.seen)).
		with("connections", n, "open_ms", took.Milliseconds(), "seen", h.seen)
}
