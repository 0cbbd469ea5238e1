package alerts

import (
	"context"
	"strconv"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// Peers is the cluster of proxy instances as the Dispatcher sees it, so
// that each notification goes out once for the whole cluster, as in
// Alertmanager's high-availability mode: every instance decides the same
// notifications from its own events; before sending one, an instance
// waits its position among the live members times PeerTimeout, then
// consults the notification log the members gossip, and sends only when
// no member has sent it yet; after sending, it records it there.
type Peers interface {
	// NotifyPosition is this instance's place among the live members in
	// name order (0: the first, which sends at once).
	NotifyPosition() int
	// Notified returns the latest notification any member (this one
	// included) recorded under key.
	Notified(key string) (status.Notification, bool)
	// Notify records a notification this instance sent under key and
	// tells the other members.
	Notify(key string, n status.Notification)
}

// DefaultPeerTimeout is Config.PeerTimeout's default.
const DefaultPeerTimeout = 5 * time.Second

// logKey is where a notification of a on channel ch is recorded in the
// cluster's notification log: an incident's triggers and resolves share
// its dedup key (the log holds its latest action), each recovery failure
// has its own, and an information-only alert is keyed by what it says.
func logKey(ch string, a Alert) string {
	switch {
	case a.Kind == KindRecoveryFailed:
		return ch + "|" + a.DedupKey + "|recovery_failed|" + strconv.Itoa(a.Event.Attempt)
	case a.DedupKey != "":
		return ch + "|" + a.DedupKey
	}
	return ch + "|" + string(a.Kind) + "|" + a.Backend + "|" + string(a.Event.Type) + "|" + a.Event.Reason + "|" + a.Event.To.String()
}

// sentByPeer reports whether n, found in the log under a's key, means
// that a has already gone out from some member: the incident is already
// triggered (or resolved), the recovery failure already announced, or the
// same information sent since PeerTimeout before a was decided.
func (d *Dispatcher) sentByPeer(a Alert, n status.Notification) bool {
	switch {
	case a.Kind == KindRecoveryFailed:
		return true
	case a.Action != ActionNone:
		return n.Action == string(a.Action)
	}
	return !n.At.Before(a.Time.Add(-d.cfg.PeerTimeout))
}

// awaitTurn waits this instance's turn to send a (its position times
// PeerTimeout) and reports whether a member sent it meanwhile; false
// outside a cluster. It returns early, reporting false, when ctx ends.
func (d *Dispatcher) awaitTurn(ctx context.Context, ch string, a Alert) bool {
	p := d.cfg.Peers
	if p == nil {
		return false
	}
	if wait := time.Until(a.Time.Add(time.Duration(p.NotifyPosition()) * d.cfg.PeerTimeout)); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
	n, ok := p.Notified(logKey(ch, a))
	return ok && d.sentByPeer(a, n)
}

// logSent records a sent notification in the cluster's log.
func (d *Dispatcher) logSent(ch string, a Alert) {
	if p := d.cfg.Peers; p != nil {
		p.Notify(logKey(ch, a), status.Notification{Action: string(a.Action), Kind: string(a.Kind), At: a.Time})
	}
}
