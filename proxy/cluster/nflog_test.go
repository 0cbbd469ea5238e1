package cluster

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// silentSeed listens on host for a join address that accepts connections
// and answers nothing, as a SIGSTOPped or hung member does (or a
// terminating pod still listed by a headless Service): memberlist's join
// waits its TCP timeout there. held counts the connections the joiner
// has not closed yet; release (idempotent) closes the listener and every
// connection it holds.
func silentSeed(t *testing.T, host string) (addr string, held func() int, release func()) {
	t.Helper()
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
		open  atomic.Int32
		once  sync.Once
	)
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			open.Add(1)
			wg.Go(func() {
				// Nothing is answered; the read ends when the joiner
				// closes (or release does).
				_, _ = io.Copy(io.Discard, conn)
				open.Add(-1)
			})
		}
	})
	release = func() {
		once.Do(func() {
			ln.Close()
			mu.Lock()
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
			wg.Wait()
		})
	}
	t.Cleanup(release)
	return ln.Addr().String(), func() int { return int(open.Load()) }, release
}

// TestNotifyAfterJoin: an instance that starts after another member sent a
// page asks for its turn at once (an alert decided at start-up, such as a
// backend that trusts the proxy). It must learn its place and the log from
// its first join, however long that takes (here the first seed stays
// silent for 300 ms), instead of taking itself for the only member, first
// in line, with an empty log, and paging again.
func TestNotifyAfterJoin(t *testing.T) {
	a := startNode(t, "node-a", "127.0.0.1", testKey, nil)
	a.Notify("pagerduty|heliosproxy/prod/pg-1", status.Notification{Action: "trigger", Kind: "circuit_opened", At: time.Now()})

	slow, _, release := silentSeed(t, "127.0.0.3")
	c := startNode(t, "node-c", "127.0.0.3", testKey, []string{slow, a.addr})
	time.AfterFunc(300*time.Millisecond, release)
	pos := c.NotifyPosition()
	note, ok := c.Notified("pagerduty|heliosproxy/prod/pg-1")
	if pos != 1 || !ok || note.Action != "trigger" || note.Node != "node-a" {
		t.Errorf("node-c, just started: NotifyPosition = %d, Notified = %+v, %v; want 1 (after node-a) and node-a's trigger", pos, note, ok)
	}
}

// TestSilentSeed: while a join waits on a seed that does not answer (10 s,
// memberlist's TCP timeout, at start and again every rejoin_interval), the
// member keeps taking what the others send: an override set on b and a
// notification b sent reach a at once. (A join that held a's own
// goroutine held them for the whole wait: a SIGSTOPped member made the
// others send a resolve twice.)
func TestSilentSeed(t *testing.T) {
	silent, _, release := silentSeed(t, "127.0.0.3")
	b := startNode(t, "node-b", "127.0.0.2", testKey, nil)
	a := startNode(t, "node-a", "127.0.0.1", testKey, []string{b.addr, silent})
	t.Cleanup(release) // first: a's join returns before a stops
	for _, n := range []*testNode{a, b} {
		eventually(t, 15*time.Second, n.Name()+" sees two alive members", func() bool { return alive(n.Node, 2) })
	}

	o := status.Override{Backend: "pg-1", State: status.Open, Author: "ops", Reason: "maintenance", Created: t0}
	ch := b.Override("pg-1", "ops", &o, time.Now())
	b.Share(ch)
	eventually(t, 2*time.Second, "node-a has node-b's override", func() bool {
		got, ok := a.host.get("pg-1")
		return ok && got.Stamp == ch.Stamp
	})
	b.Notify("pagerduty|heliosproxy/prod/pg-1", status.Notification{Action: "resolve", Kind: "circuit_closed", At: time.Now()})
	eventually(t, 2*time.Second, "node-a has node-b's notification", func() bool {
		note, ok := a.Notified("pagerduty|heliosproxy/prod/pg-1")
		return ok && note.Action == "resolve"
	})
}

// TestSilentFirstSeed: the join addresses are joined at once, so that a
// seed that does not answer, listed first, holds only its own join: the
// member is synced with node-b (the first state exchange in) while its
// join to the silent seed still waits. They were joined one after the
// other, so the member learned nothing from the cluster for memberlist's
// 10 s TCP timeout after each start (overrides, openings and the
// notification log: NotifyPosition waited as long).
func TestSilentFirstSeed(t *testing.T) {
	silent, held, release := silentSeed(t, "127.0.0.3")
	b := startNode(t, "node-b", "127.0.0.2", testKey, nil)
	a := startNode(t, "node-a", "127.0.0.1", testKey, []string{silent, b.addr})
	t.Cleanup(release) // first: a's join returns before a stops
	select {
	case <-a.synced:
	case <-time.After(20 * time.Second):
		t.Fatal("node-a never synced")
	}
	if n := held(); n == 0 {
		t.Error("node-a synced only once its join to the silent seed gave up; want as soon as node-b answered")
	}
	if !alive(a.Node, 2) {
		t.Errorf("node-a synced: members %+v, want node-b alive", a.Members(time.Now()))
	}
}
