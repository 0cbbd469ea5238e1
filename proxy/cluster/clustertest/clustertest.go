// Package clustertest helps tests run cluster members on loopback
// addresses.
package clustertest

import (
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// FreeAddr returns host:port free for both TCP and UDP on host (memberlist
// binds both), failing t when there is none.
func FreeAddr(t testing.TB, host string) string {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", host+":0")
		if err != nil {
			t.Fatalf("listen on %s: %v", host, err)
		}
		addr := ln.Addr().String()
		pc, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err == nil {
			pc.Close()
			return addr
		}
	}
	t.Fatalf("no port free for TCP and UDP on %s", host)
	return ""
}

// FastProbes makes members notice a death in about a second instead of
// several (probes every 200 ms).
func FastProbes(mc *memberlist.Config) {
	mc.ProbeInterval, mc.ProbeTimeout = 200*time.Millisecond, 100*time.Millisecond
	mc.SuspicionMult = 2
}
