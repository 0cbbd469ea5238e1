package main

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/heliosdb/heliosproxy/internal/logthrottle"
)

// newLogger returns the service's logger: records at level and above,
// written to w as [observability] log_format says ("json": one JSON object
// per line; anything else: log/slog's text lines), with a sqlstate field
// wherever an err carries one, and repeated messages throttled.
func newLogger(w io.Writer, level *slog.LevelVar, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	// A flood (thousands of refused clients a second) must not flood the
	// log too: repeated messages are throttled, with counts of what was left out.
	return slog.New(logthrottle.New(sqlstateHandler{h}, logthrottle.Options{}))
}

// logLevel is [observability] log_level as a slog level: "info" when it
// is not one (Validate refuses that).
func logLevel(level string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return l
}

// levelVar is a level that a reload may change.
func levelVar(level string) *slog.LevelVar {
	v := new(slog.LevelVar)
	v.Set(logLevel(level))
	return v
}

// flushLog writes the counts of log records the throttle has left out and
// not yet reported.
func flushLog(log *slog.Logger) {
	if h, ok := log.Handler().(*logthrottle.Handler); ok {
		_ = h.Flush(context.Background())
	}
}

// sqlstateHandler adds sqlstate=CODE to a record whose err attribute
// carries a SQLSTATE (the proxy's client errors, PostgreSQL's own through
// pgconn), so that log pipelines can filter on the code without parsing
// messages. A record that already has a sqlstate keeps its own.
type sqlstateHandler struct{ slog.Handler }

func (h sqlstateHandler) Handle(ctx context.Context, r slog.Record) error {
	var code string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "sqlstate":
			code = ""
			return false
		case "err":
			if err, ok := a.Value.Any().(error); ok {
				var s interface{ SQLState() string }
				if errors.As(err, &s) {
					code = s.SQLState()
				}
			}
		}
		return true
	})
	if code != "" {
		r = r.Clone()
		r.AddAttrs(slog.String("sqlstate", code))
	}
	return h.Handler.Handle(ctx, r)
}

func (h sqlstateHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return sqlstateHandler{h.Handler.WithAttrs(as)}
}

func (h sqlstateHandler) WithGroup(name string) slog.Handler {
	return sqlstateHandler{h.Handler.WithGroup(name)}
}
