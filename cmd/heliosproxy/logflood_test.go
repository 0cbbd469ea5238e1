package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// logMsg returns the msg of a text log line, unquoted, or "".
func logMsg(line string) string {
	_, v, ok := strings.Cut(line, " msg=")
	if !ok {
		return ""
	}
	if q, err := strconv.QuotedPrefix(v); err == nil {
		s, _ := strconv.Unquote(q)
		return s
	}
	v, _, _ = strings.Cut(v, " ")
	return v
}

// TestLogFlood is the regression test for 1,969 WARN lines in under a
// second: the real service, its one client slot taken, refuses 3,000
// clients, and its log stays short yet accounts for every refusal.
func TestLogFlood(t *testing.T) {
	pg := pgtest.New(t, pgtest.Options{Name: "logflood"})
	path := childConfig(t, pg, "[pool]\nmax_client_conn = 1\n")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := startChild(t, "run", "--config", path)
	line, _ := c.out.wait(t, ctx, 0, "proxy listening")
	addr := field(line, "addr")

	// The one client slot: a status-database session.
	hold, err := pgconn.Connect(ctx, "postgres://postgres@"+addr+"/helios_proxy?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close(context.Background())

	const clients = 3000
	startup, err := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters: map[string]string{"user": "postgres", "database": "postgres"}}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 16 {
		wg.Go(func() {
			for next.Add(1) <= clients {
				conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
				_, _ = conn.Write(startup)
				b, err := io.ReadAll(conn)
				conn.Close()
				if len(b) == 0 || b[0] != 'E' || !bytes.Contains(b, []byte("53300")) {
					t.Errorf("flood client read %q, %v; want a 53300 ErrorResponse", b, err)
					return
				}
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if refused.Load() != clients {
		t.Fatalf("%d of %d clients refused with 53300", refused.Load(), clients)
	}
	hold.Close(ctx)
	// Every refusal is logged (or counted) before the service exits: it
	// waits for its sessions, then writes what the throttle held back.
	if err := c.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("heliosproxy after SIGTERM: %v", err)
	}

	const refusal = "client refused: pool.max_client_conn reached"
	type second struct {
		msg string
		at  string // the time field up to the second
	}
	perSecond := map[second]int{}
	lines, suppressed, summaries := 0, 0, 0
	c.out.mu.Lock()
	all := append([]string(nil), c.out.all...)
	c.out.mu.Unlock()
	for _, l := range all {
		msg := logMsg(l)
		at := field(l, "time")
		if len(at) > len("2006-01-02T15:04:05") {
			at = at[:len("2006-01-02T15:04:05")]
		}
		perSecond[second{msg, at}]++
		if msg != refusal {
			continue
		}
		if field(l, "summary") == "true" {
			summaries++
		} else {
			lines++
		}
		if n, err := strconv.Atoi(field(l, "suppressed")); err == nil {
			suppressed += n
		}
	}
	t.Logf("%d refusals in %v: %d log lines, %d summaries, %d suppressed; %d log lines in all",
		clients, elapsed.Round(time.Millisecond), lines, summaries, suppressed, len(all))
	if lines+suppressed != clients {
		t.Errorf("refusals logged %d + suppressed %d = %d, want %d: every refusal is written or counted", lines, suppressed, lines+suppressed, clients)
	}
	if suppressed == 0 {
		t.Error("no suppressed count in the log")
	}
	for k, n := range perSecond {
		if n > 30 {
			t.Errorf("%d lines of %q in the second %s, want at most 30", n, k.msg, k.at)
		}
	}
	if max := 10 + int(elapsed/time.Second) + 2; lines+summaries > max {
		t.Errorf("%d lines of %q over %v, want at most %d (a burst of 10, then 1 a second)", lines+summaries, refusal, elapsed, max)
	}
}
