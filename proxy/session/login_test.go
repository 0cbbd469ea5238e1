package session

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/heliosdb/heliosproxy/internal/wiretest"
)

func TestIsParamName(t *testing.T) {
	for _, k := range []string{"application_name", "DateStyle", "_x", "my.setting", "a1", "x.y_z9"} {
		if !isParamName(k) {
			t.Errorf("isParamName(%q) = false, want true", k)
		}
	}
	for _, k := range []string{"", "1a", ".a", "a-b", "a b", "a;b", "a'", "é", "search_path;DROP"} {
		if isParamName(k) {
			t.Errorf("isParamName(%q) = true, want false", k)
		}
	}
}

// TestClientLogIsLazy: a session's logger carries its client's address,
// and is built only for a record its level lets through.
func TestClientLogIsLazy(t *testing.T) {
	client, server := wiretest.TCPPair(t)

	var out bytes.Buffer
	c := &clientLog{base: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo})), conn: server}
	c.Debug("not shown", "k", 1)
	if c.l != nil || out.Len() != 0 {
		t.Fatalf("a record below the level built the logger or wrote %q", out.String())
	}
	c.Warn("shown", "k", 2)
	line := out.String()
	for _, want := range []string{"level=WARN", "msg=shown", "client_addr=" + client.LocalAddr().String(), "k=2"} {
		if !strings.Contains(line, want) {
			t.Errorf("record %q lacks %q", line, want)
		}
	}
}
