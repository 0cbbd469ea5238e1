package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
)

// slowQuery is a result of about 200 MB: far more than the socket buffers
// between the backend and a client that does not read.
const slowQuery = "SELECT repeat('x', 1000) FROM generate_series(1, 200000)"

const (
	slowReadBuffer = 4096            // the client's receive buffer: the proxy's writes block soon
	slowSeenWithin = 5 * time.Second // for the session to show on a backend
	slowPoll       = 250 * time.Millisecond
)

// slowReader logs in to -database, sends slowQuery and never reads the
// answer; it wants the proxy to release the backend session within
// -slow-bound. It counts sessions with the API's active_connections (the
// sum over the backends), or with -backend-dsn the backend sessions
// running the query in pg_stat_activity.
func slowReader(ctx context.Context, e *env) outcome {
	if e.api == "" && e.backendDSN == "" {
		return skipf("needs -api or -backend-dsn")
	}
	marker := fmt.Sprintf("/* helios-abuse slow-reader %d */ ", time.Now().UnixNano())
	count, how, closeCount, err := e.sessionCounter(ctx, marker)
	if err != nil {
		return failf("%s: %v", how, err)
	}
	defer closeCount()
	// Sessions of the previous attacks may still be ending.
	base, err := settled(ctx, count)
	if err != nil {
		return failf("%s: %v", how, err)
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{Timeout: dialTimeout}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(slowReadBuffer)
		}
		return c, err
	}
	s, err := e.login(ctx, e.database, dial)
	if err != nil {
		return failf("connect: %v", err)
	}
	defer s.Close()
	s.fe.Send(&pgproto3.Query{String: marker + slowQuery})
	if err := s.fe.Flush(); err != nil {
		return failf("send the query: %s", closed(err))
	}
	sent := time.Now()

	seen := false
	for time.Since(sent) < slowSeenWithin && ctx.Err() == nil {
		if n, err := count(ctx); err == nil && n > base {
			seen = true
			break
		}
		time.Sleep(slowPoll)
	}
	if !seen {
		return skipf("the session never showed in %s within %s", how, slowSeenWithin)
	}
	for time.Since(sent) < e.slowBound && ctx.Err() == nil {
		if n, err := count(ctx); err == nil && n <= base {
			took := time.Since(sent)
			return passf("backend session released %s after the query (bound %s; %s); the client then read %s", millis(took), millis(e.slowBound), how, drain(s.conn)).
				with("released_ms", took.Milliseconds(), "bound_ms", e.slowBound.Milliseconds())
		}
		time.Sleep(slowPoll)
	}
	return failf("backend session still held %s after the query (%s)", millis(e.slowBound), how).
		with("bound_ms", e.slowBound.Milliseconds())
}

// sessionCounter returns a function counting what slow-reader watches,
// what that is, and a function releasing it.
func (e *env) sessionCounter(ctx context.Context, marker string) (count func(context.Context) (int, error), how string, release func(), err error) {
	if e.backendDSN == "" {
		return e.activeConnections, "API active_connections", func() {}, nil
	}
	conn, err := pgx.Connect(ctx, e.backendDSN)
	if err != nil {
		return nil, "-backend-dsn", nil, err
	}
	count = func(ctx context.Context) (int, error) {
		var n int
		err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND position($1 in query) > 0", marker).Scan(&n)
		return n, err
	}
	return count, "pg_stat_activity", func() { conn.Close(context.WithoutCancel(ctx)) }, nil
}

// settled reads count until two readings slowPoll apart agree, for at
// most slowSeenWithin, and returns the last reading.
func settled(ctx context.Context, count func(context.Context) (int, error)) (int, error) {
	last, err := count(ctx)
	for start := time.Now(); err == nil && time.Since(start) < slowSeenWithin; {
		time.Sleep(slowPoll)
		var n int
		if n, err = count(ctx); n == last {
			break
		}
		last = n
	}
	return last, err
}

// drain reads what the proxy left for the client, for at most a second,
// and describes it: what ended the stream, or that it still flows.
func drain(c net.Conn) string {
	var total int64
	buf := make([]byte, 64<<10)
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	for {
		k, err := c.Read(buf)
		total += int64(k)
		switch {
		case err == nil:
		case closed(err) == "timeout" && k == 0 && total > 0:
			return fmt.Sprintf("%d kB and the stream still flows", total>>10)
		default:
			return fmt.Sprintf("%d kB, then %s", total>>10, closed(err))
		}
	}
}
