package cluster

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// TestNotifyAfterJoin: an instance that starts after another member sent a
// page asks for its turn at once (an alert decided at start-up, such as a
// backend that trusts the proxy). It must learn its place and the log from
// its first join, however long that takes (here the first seed accepts
// and stays silent for 300 ms), instead of taking itself for the only
// member, first in line, with an empty log, and paging again.
func TestNotifyAfterJoin(t *testing.T) {
	a := startNode(t, "node-a", "127.0.0.1", testKey, nil)
	a.Notify("pagerduty|heliosproxy/prod/pg-1", status.Notification{Action: "trigger", Kind: "circuit_opened", At: time.Now()})

	// A seed that accepts the join's connection and answers nothing.
	slow, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { slow.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := slow.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				buf := make([]byte, 512)
				conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				for {
					if _, err := conn.Read(buf); err != nil {
						conn.Close()
						return
					}
				}
			})
		}
	})

	c := startNode(t, "node-c", "127.0.0.3", testKey, []string{slow.Addr().String(), a.addr})
	pos := c.NotifyPosition()
	note, ok := c.Notified("pagerduty|heliosproxy/prod/pg-1")
	if pos != 1 || !ok || note.Action != "trigger" || note.Node != "node-a" {
		t.Errorf("node-c, just started: NotifyPosition = %d, Notified = %+v, %v; want 1 (after node-a) and node-a's trigger", pos, note, ok)
	}
}
