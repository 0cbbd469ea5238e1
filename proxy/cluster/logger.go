package cluster

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// newMemberlistLogger sends memberlist's log lines ("[WARN] memberlist:
// ...") to l at the level they name; its DEBUG lines (every probe) at
// Debug.
func newMemberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(logWriter{l.With("from", "memberlist")}, "", 0)
}

type logWriter struct{ l *slog.Logger }

var logLevels = []struct {
	tag   string
	level slog.Level
}{{"[DEBUG]", slog.LevelDebug}, {"[INFO]", slog.LevelInfo}, {"[WARN]", slog.LevelWarn}, {"[ERR]", slog.LevelError}, {"[ERROR]", slog.LevelError}}

func (w logWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for _, t := range logLevels {
		if rest, ok := bytes.CutPrefix(line, []byte(t.tag)); ok {
			level, line = t.level, bytes.TrimSpace(rest)
			break
		}
	}
	// memberlist's errors are about the network and peers: an operator
	// sees them as warnings (a peer with another secret_key among them).
	if level == slog.LevelError {
		level = slog.LevelWarn
	}
	w.l.Log(context.Background(), level, string(line))
	return len(p), nil
}
