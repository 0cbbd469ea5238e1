package listen

import (
	"context"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Listen listens for clients on the TCP address addr. Go's own keepalive
// settings for each accepted connection are left out: TuneConn sets the
// configuration's on every client, so each connection would pay the four
// keepalive system calls twice.
func Listen(addr string) (net.Listener, error) {
	return (&net.ListenConfig{KeepAlive: -1}).Listen(context.Background(), "tcp", addr)
}

// TuneConn bounds how long a client that vanished or stopped reading
// can hold its session (and its backend session): data sent to it may stay
// unacknowledged for at most timeout (TCP_USER_TIMEOUT, which also covers
// a zero window), and an idle connection is probed with keepalives that
// give up within about the same time. Errors are ignored: a connection
// that cannot be tuned still works.
func TuneConn(conn net.Conn, timeout time.Duration) {
	tc, ok := conn.(interface {
		SetKeepAliveConfig(net.KeepAliveConfig) error
		SyscallConn() (syscall.RawConn, error)
	})
	if !ok || timeout <= 0 {
		return
	}
	_ = tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: timeout / 2, Interval: max(timeout/6, time.Second), Count: 3})
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	ms := int(min(timeout.Milliseconds(), 1<<31-1))
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, ms)
	})
}
