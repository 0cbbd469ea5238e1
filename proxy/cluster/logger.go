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
// suspect, when set, is told the name of each member whose probe from
// this instance failed (memberlist says so only in its log: "Suspect x
// has failed, no acks received").
func newMemberlistLogger(l *slog.Logger, suspect func(name string)) *log.Logger {
	return log.New(logWriter{l.With("from", "memberlist"), suspect}, "", 0)
}

type logWriter struct {
	l       *slog.Logger
	suspect func(name string)
}

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
	if w.suspect != nil {
		if rest, ok := bytes.CutPrefix(line, []byte("memberlist: Suspect ")); ok {
			if name, ok := bytes.CutSuffix(rest, []byte(" has failed, no acks received")); ok {
				w.suspect(string(name))
			}
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
