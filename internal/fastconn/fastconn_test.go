package fastconn

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/internal/wiretest"
)

// tcpPair returns both ends of a loopback TCP connection, the first one
// wrapped in a Conn.
func tcpPair(t testing.TB) (*Conn, net.Conn) {
	t.Helper()
	c, peer := wiretest.TCPPair(t)
	fc, ok := Wrap(c).(*Conn)
	if !ok {
		t.Fatal("Wrap did not wrap a *net.TCPConn")
	}
	return fc, peer
}

func TestCarriesBytesBothWays(t *testing.T) {
	fc, peer := tcpPair(t)
	// 8 MiB is far more than the socket buffers: writes stop on EAGAIN and
	// wait in the poller, reads come in pieces.
	want := make([]byte, 8<<20)
	for i := range want {
		want[i] = byte(i * 7)
	}
	for _, dir := range []struct {
		what string
		w    io.Writer
		r    io.Reader
	}{{"Conn to peer", fc, peer}, {"peer to Conn", peer, fc}} {
		errc := make(chan error, 1)
		go func() {
			_, err := dir.w.Write(want)
			errc <- err
		}()
		got := make([]byte, len(want))
		if _, err := io.ReadFull(dir.r, got); err != nil {
			t.Fatalf("%s: read: %v", dir.what, err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("%s: write: %v", dir.what, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: other bytes arrived than were written", dir.what)
		}
	}

	if n, err := fc.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(nil) = %d, %v; want 0, nil", n, err)
	}
	if n, err := fc.Write(nil); n != 0 || err != nil {
		t.Errorf("Write(nil) = %d, %v; want 0, nil", n, err)
	}
}

func TestEndsLikeNetConn(t *testing.T) {
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

func TestWrapLeavesOtherConnsAlone(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got := Wrap(a); got != a {
		t.Errorf("Wrap(net.Pipe end) = %T, want the same connection", got)
	}
}
