package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// maxLogRate is the most log lines per second a flood may cause: beyond
// it, the proxy's log is the attacker's disk-filling tool.
const maxLogRate = 100

// logCount is the log lines written during one flood attack (its checks
// included, when the proxy logs the connections it closes).
type logCount struct {
	attack string
	lines  int
	took   time.Duration
}

func (c logCount) rate() float64 { return float64(c.lines) / max(c.took.Seconds(), 1e-3) }

// logSize is the size of the -log file now; 0 without -log.
func (e *env) logSize() int64 {
	if e.logFile == "" {
		return 0
	}
	st, err := os.Stat(e.logFile)
	if err != nil {
		return 0
	}
	return st.Size()
}

// linesSince counts the lines written to the -log file after offset off
// (from the start when the file has been truncated or rotated since).
func (e *env) linesSince(off int64) int {
	f, err := os.Open(e.logFile)
	if err != nil {
		return 0
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() < off {
		off = 0
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return 0
	}
	n := 0
	buf := make([]byte, 64<<10)
	for {
		k, err := f.Read(buf)
		n += bytes.Count(buf[:k], []byte{'\n'})
		if err != nil {
			return n
		}
	}
}

// logFlood judges the log lines the flood attacks of this run caused; if
// none ran (-only log-flood), it runs connection-flood first.
func logFlood(ctx context.Context, e *env) outcome {
	if e.logFile == "" {
		return skipf("needs -log (the proxy's log file)")
	}
	if _, err := os.Stat(e.logFile); err != nil {
		return failf("-log: %v", err)
	}
	if len(e.floods) == 0 {
		off, start := e.logSize(), time.Now()
		connectionFlood(ctx, e)
		_, _ = e.servedAgain(ctx) // as the runner's checks would
		e.floods = append(e.floods, logCount{attack: "connection-flood", lines: e.linesSince(off), took: time.Since(start)})
	}
	worst := slices.MaxFunc(e.floods, func(a, b logCount) int {
		switch {
		case a.rate() < b.rate():
			return -1
		case a.rate() > b.rate():
			return 1
		}
		return 0
	})
	parts := make([]string, 0, len(e.floods))
	figures := make(map[string]int, len(e.floods))
	for _, c := range e.floods {
		parts = append(parts, fmt.Sprintf("%s %d in %s", c.attack, c.lines, millis(c.took)))
		figures[c.attack] = c.lines
	}
	return judge(worst.rate() < maxLogRate, "log lines: %s; worst %.0f/s (%s), want < %d/s",
		strings.Join(parts, ", "), worst.rate(), worst.attack, maxLogRate).with("lines", figures)
}
