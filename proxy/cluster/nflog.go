package cluster

import (
	"slices"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// Notice is one entry of the notification log as members send it.
type Notice struct {
	Key string
	N   status.Notification
}

// newer reports whether n wins over o: the greater stamp, then the greater
// node name.
func newer(n, o status.Notification) bool {
	if n.Stamp != o.Stamp {
		return n.Stamp > o.Stamp
	}
	return n.Node > o.Node
}

// Notify records a notification this instance sent under key and sends
// it to the other members. It never blocks.
func (n *Node) Notify(key string, note status.Notification) {
	note.Node, note.Stamp = n.name, n.clk.Now(time.Now())
	n.takeNotice(Notice{Key: key, N: note})
	n.send(message{Notice: &Notice{Key: key, N: note}})
}

// Notified returns the latest notification any member recorded under key.
func (n *Node) Notified(key string) (status.Notification, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	note, ok := n.nflog[key]
	return note, ok
}

// NotifyPosition is this instance's place among the live members in name
// order. Until Run's first join is over and what it brought applied (at
// most syncWait), it waits: before that, an instance that just started
// takes itself for the only member, first in line, and finds nothing in
// the log, so it would send again what the others sent before it
// started.
func (n *Node) NotifyPosition() int {
	t := time.NewTimer(syncWait)
	defer t.Stop()
	select {
	case <-n.synced:
	case <-t.C:
	}
	return slices.Index(n.live(time.Now()), n.name)
}

// takeNotice keeps a log entry when it wins over the one held.
func (n *Node) takeNotice(nt Notice) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if old, ok := n.nflog[nt.Key]; ok && !newer(nt.N, old) {
		return
	}
	n.nflog[nt.Key] = nt.N
}

// notices returns the whole log, for the full state exchange.
func (n *Node) notices() []Notice {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Notice, 0, len(n.nflog))
	for k, v := range n.nflog {
		out = append(out, Notice{Key: k, N: v})
	}
	return out
}

// nflogKeep is how long a log entry is kept after it was sent: long
// enough for any incident's resolve to find its trigger.
const nflogKeep = 24 * time.Hour

func (n *Node) forgetNotices(now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for k, v := range n.nflog {
		if now.Sub(v.At) > nflogKeep {
			delete(n.nflog, k)
		}
	}
}
