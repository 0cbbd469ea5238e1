package evloop

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/internal/pgcluster"
	"github.com/heliosdb/heliosproxy/internal/wiretest"
)

// tlsEcho is a handler that reads a TLS connection over a Pipe on the
// loop, in reads of a few bytes (a small budget splits every record), and
// writes back what it decrypts.
type tlsEcho struct {
	lp   *Loop
	fd   int
	tc   *tls.Conn
	pipe *Pipe
	mu   sync.Mutex
	out  []byte // records the socket did not take yet
	buf  [512]byte
	errs chan error
}

// sink writes records without waiting; the rest waits for Out.
func (e *tlsEcho) sink(p []byte) error {
	if len(e.out) == 0 {
		n, err := Write(e.fd, p)
		if err != nil {
			return err
		}
		p = p[n:]
	}
	e.out = append(e.out, p...)
	return nil
}

func (e *tlsEcho) Ready(fd int, ev uint32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ev&Out != 0 && len(e.out) > 0 {
		n, err := Write(fd, e.out)
		if err != nil {
			e.errs <- err
			return
		}
		e.out = e.out[:copy(e.out, e.out[n:])]
	}
	e.pipe.Budget(7)
	for {
		n, err := e.tc.Read(e.buf[:])
		if n > 0 {
			if _, werr := e.tc.Write(e.buf[:n]); werr != nil {
				e.errs <- werr
				return
			}
		}
		if errors.Is(err, ErrWouldBlock) {
			break
		}
		if err != nil {
			e.errs <- err
			return
		}
	}
	ev = In
	if len(e.out) > 0 {
		ev |= Out
	}
	_ = e.lp.Modify(fd, ev)
}

// TestPipeCarriesTLSOverTheLoop: a TLS connection made with Go's poller
// goes on, session and all, when a loop owns its socket: reads that stop
// mid-record (ErrWouldBlock) carry on at the next report, writes go to the
// sink, and the connection works again with Go's poller after Attach.
func TestPipeCarriesTLSOverTheLoop(t *testing.T) {
	pki, err := pgcluster.NewPKI(t.TempDir(), []string{"127.0.0.1"}, "client")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(pki.ServerCert, pki.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	rawClient, rawServer := wiretest.TCPPair(t)
	pipe := NewPipe(rawServer)
	server := tls.Server(pipe, &tls.Config{Certificates: []tls.Certificate{cert}})
	client := tls.Client(rawClient, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	handshake := make(chan error, 1)
	go func() { handshake <- server.Handshake() }()
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-handshake; err != nil {
		t.Fatal(err)
	}

	lp, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer lp.Close()
	fd, err := Adopt(rawServer)
	if err != nil {
		t.Fatal(err)
	}
	e := &tlsEcho{lp: lp, fd: fd, tc: server, pipe: pipe, errs: make(chan error, 1)}
	pipe.Detach(fd, e.sink)
	added := make(chan error, 1)
	if !lp.Do(func() { added <- lp.Add(fd, In, e) }) {
		t.Fatal("Do on a running loop refused")
	}
	if err := <-added; err != nil {
		t.Fatal(err)
	}
	// 1 MiB in records of up to 16 KiB, echoed record by record in reads
	// of 7 bytes of ciphertext: most reads end mid-record.
	msg := bytes.Repeat([]byte("helios over tls "), 64<<10)
	go func() { _, _ = client.Write(msg) }()
	got := make([]byte, len(msg))
	_ = client.SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil {
		select {
		case lerr := <-e.errs:
			t.Fatalf("%v (on the loop: %v)", err, lerr)
		default:
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echo differs from what was sent")
	}

	// Back with Go's poller: the same TLS session reads and writes.
	done := make(chan struct{})
	lp.Do(func() { lp.Remove(fd); close(done) })
	<-done
	f := os.NewFile(uintptr(fd), "")
	conn, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	if len(e.out) > 0 {
		t.Fatalf("%d bytes of records left on the loop", len(e.out))
	}
	e.mu.Unlock()
	pipe.Attach(conn, nil)
	if _, err := client.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	_ = server.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(server, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("with Go's poller again: %q, %v", buf, err)
	}
	if _, err := server.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(client, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("client read %q, %v", buf, err)
	}
	_ = server.Close()
	if _, err := client.Read(buf); !errors.Is(err, io.EOF) {
		t.Fatalf("after the server's close_notify: %v, want io.EOF", err)
	}
}
