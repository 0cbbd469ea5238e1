package listen

import (
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestListenAndTune: a connection accepted by Listen has no keepalive of
// Go's; TuneConn gives it the configuration's, and TCP_USER_TIMEOUT.
func TestListenAndTune(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	opts := func() map[string]int {
		got := map[string]int{}
		rc, err := conn.(syscall.Conn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		err = rc.Control(func(fd uintptr) {
			for name, o := range map[string][2]int{
				"SO_KEEPALIVE": {unix.SOL_SOCKET, unix.SO_KEEPALIVE}, "TCP_KEEPIDLE": {unix.IPPROTO_TCP, unix.TCP_KEEPIDLE},
				"TCP_KEEPINTVL": {unix.IPPROTO_TCP, unix.TCP_KEEPINTVL}, "TCP_KEEPCNT": {unix.IPPROTO_TCP, unix.TCP_KEEPCNT},
				"TCP_USER_TIMEOUT": {unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT}, "TCP_NODELAY": {unix.IPPROTO_TCP, unix.TCP_NODELAY},
			} {
				v, err := unix.GetsockoptInt(int(fd), o[0], o[1])
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				got[name] = v
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := opts(); got["SO_KEEPALIVE"] != 0 || got["TCP_NODELAY"] == 0 {
		t.Fatalf("accepted: %v, want no keepalive and TCP_NODELAY", got)
	}
	TuneConn(conn, 30*time.Second)
	got := opts()
	want := map[string]int{"SO_KEEPALIVE": 1, "TCP_KEEPIDLE": 15, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 3, "TCP_USER_TIMEOUT": 30000}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("tuned: %s = %d, want %d", name, got[name], v)
		}
	}
}
