package session

import (
	"context"
	"log/slog"
	"net"
)

// clientLog logs for one client's session with the client's address. The
// logger with that attribute is built at the first record a level lets
// through: most sessions log nothing, and building it would cost every
// login the address's formatting and a copy of the handler.
type clientLog struct {
	base *slog.Logger
	conn net.Conn
	l    *slog.Logger
}

func (c *clientLog) Debug(msg string, args ...any) { c.log(slog.LevelDebug, msg, args) }
func (c *clientLog) Info(msg string, args ...any)  { c.log(slog.LevelInfo, msg, args) }
func (c *clientLog) Warn(msg string, args ...any)  { c.log(slog.LevelWarn, msg, args) }
func (c *clientLog) Error(msg string, args ...any) { c.log(slog.LevelError, msg, args) }

func (c *clientLog) log(level slog.Level, msg string, args []any) {
	ctx := context.Background()
	if !c.base.Enabled(ctx, level) {
		return
	}
	if c.l == nil {
		c.l = c.base.With("client_addr", c.conn.RemoteAddr().String())
	}
	c.l.Log(ctx, level, msg, args...)
}
