// Package wiretest holds what tests of the proxy's wire handling share: a
// scripted client connection and encoders of raw startup-phase packets.
// Only tests import it.
package wiretest

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Conn is a net.Conn whose peer has sent In and then shut down its write
// side: Read hands out In at most Chunk bytes at a time (0: all at once),
// then io.EOF. Writes are collected in Out. Deadlines are accepted and
// ignored, as Read never blocks. Not safe for concurrent use.
type Conn struct {
	In     []byte
	Chunk  int
	Out    bytes.Buffer
	Closed bool
}

func (c *Conn) Read(p []byte) (int, error) {
	if c.Closed {
		return 0, net.ErrClosed
	}
	if len(c.In) == 0 {
		return 0, io.EOF
	}
	n := len(p)
	if c.Chunk > 0 {
		n = min(n, c.Chunk)
	}
	n = copy(p[:n], c.In)
	c.In = c.In[n:]
	return n, nil
}

func (c *Conn) Write(p []byte) (int, error) {
	if c.Closed {
		return 0, net.ErrClosed
	}
	return c.Out.Write(p)
}

func (c *Conn) Close() error                     { c.Closed = true; return nil }
func (c *Conn) LocalAddr() net.Addr              { return addr }
func (c *Conn) RemoteAddr() net.Addr             { return addr }
func (c *Conn) SetDeadline(time.Time) error      { return nil }
func (c *Conn) SetReadDeadline(time.Time) error  { return nil }
func (c *Conn) SetWriteDeadline(time.Time) error { return nil }

// addr is a loopback client's address.
var addr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5}

// Startup encodes an untyped startup-phase packet.
func Startup(t testing.TB, m pgproto3.FrontendMessage) []byte {
	t.Helper()
	p, err := m.Encode(nil)
	if err != nil {
		t.Fatalf("encode %T: %v", m, err)
	}
	return p
}

// Packet builds a startup-phase packet with the given code and payload.
func Packet(code uint32, payload string) []byte {
	p := binary.BigEndian.AppendUint32(nil, uint32(8+len(payload)))
	p = binary.BigEndian.AppendUint32(p, code)
	return append(p, payload...)
}

// Uint32 is n big-endian, as lengths and codes are on the wire.
func Uint32(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

// SendStartup sends a StartupMessage for user and database.
func SendStartup(t testing.TB, conn net.Conn, user, db string) {
	t.Helper()
	p, _ := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters: map[string]string{"user": user, "database": db}}).Encode(nil)
	if _, err := conn.Write(p); err != nil {
		t.Fatal(err)
	}
}

// ReadAuthRequest reads up to the first authentication request that needs
// an answer.
func ReadAuthRequest(t testing.TB, conn net.Conn) {
	t.Helper()
	fe := pgproto3.NewFrontend(conn, io.Discard)
	msg, err := fe.Receive()
	if err != nil {
		t.Fatalf("waiting for the password challenge: %v", err)
	}
	switch msg.(type) {
	case *pgproto3.AuthenticationSASL, *pgproto3.AuthenticationMD5Password, *pgproto3.AuthenticationCleartextPassword:
	default:
		t.Fatalf("want a password challenge, got %T", msg)
	}
}

// TCPPair returns both ends of a loopback TCP connection, closed when the
// test ends.
func TCPPair(t testing.TB) (*net.TCPConn, *net.TCPConn) {
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
	t.Cleanup(func() { c.Close(); peer.Close() })
	return c.(*net.TCPConn), peer.(*net.TCPConn)
}
