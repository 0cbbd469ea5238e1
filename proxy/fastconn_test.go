package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection, the first one
// wrapped in a fastConn.
func tcpPair(t testing.TB) (*fastConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	fc, ok := newFastConn(c).(*fastConn)
	if !ok {
		t.Fatal("newFastConn did not wrap a *net.TCPConn")
	}
	t.Cleanup(func() { fc.Close(); peer.Close() })
	return fc, peer
}

func TestFastConnCarriesBytesBothWays(t *testing.T) {
	fc, peer := tcpPair(t)
	// 8 MiB is far more than the socket buffers: writes stop on EAGAIN and
	// wait in the poller, reads come in pieces.
	want := make([]byte, 8<<20)
	for i := range want {
		want[i] = byte(i * 7)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := fc.Write(want)
		errc <- err
	}()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Write: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the peer read other bytes than fastConn wrote")
	}

	go func() {
		_, err := peer.Write(want)
		errc <- err
	}()
	if _, err := io.ReadFull(fc, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("peer Write: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("fastConn read other bytes than the peer wrote")
	}

	if n, err := fc.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(nil) = %d, %v; want 0, nil", n, err)
	}
	if n, err := fc.Write(nil); n != 0 || err != nil {
		t.Errorf("Write(nil) = %d, %v; want 0, nil", n, err)
	}
}

func TestFastConnEndsLikeNetConn(t *testing.T) {
	t.Run("EOF", func(t *testing.T) {
		fc, peer := tcpPair(t)
		peer.Close()
		if n, err := fc.Read(make([]byte, 8)); n != 0 || err != io.EOF {
			t.Errorf("Read after the peer closed = %d, %v; want 0, io.EOF", n, err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		fc, _ := tcpPair(t)
		if err := fc.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if _, err := fc.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Read past the deadline: %v; want os.ErrDeadlineExceeded", err)
		}
	})
	t.Run("closed while reading", func(t *testing.T) {
		fc, _ := tcpPair(t)
		errc := make(chan error, 1)
		go func() {
			_, err := fc.Read(make([]byte, 8))
			errc <- err
		}()
		// The Read either is waiting in the poller or has not started; in
		// both cases it must end with net.ErrClosed.
		fc.Close()
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read on a closed connection: %v; want net.ErrClosed", err)
		}
	})
	t.Run("reset", func(t *testing.T) {
		fc, peer := tcpPair(t)
		// Linger 0 makes the peer's Close send a RST.
		if err := peer.(*net.TCPConn).SetLinger(0); err != nil {
			t.Fatal(err)
		}
		peer.Close()
		// The Read waits in the poller until the RST arrives.
		_, err := fc.Read(make([]byte, 8))
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "read" || !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("Read from a reset connection: %#v; want a read *net.OpError with ECONNRESET", err)
		}
		_, err = fc.Write([]byte("x"))
		if !errors.As(err, &op) || op.Op != "write" || !(errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)) {
			t.Errorf("Write to a reset connection: %#v; want a write *net.OpError with EPIPE or ECONNRESET", err)
		}
	})
}

func TestNewFastConnLeavesOtherConnsAlone(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got := newFastConn(a); got != a {
		t.Errorf("newFastConn(net.Pipe end) = %T, want the same connection", got)
	}
}
