package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/config"
)

const emfileChildEnv = "HELIOS_ACCEPT_EMFILE_CHILD"

// TestAcceptAtEMFILE runs a Server in a child process (this test binary
// again, under a 64 open-file limit) whose file table something else than
// clients filled, so that accept itself fails with EMFILE. A client must
// get 53300 through the spare descriptor instead of waiting in the listen
// queue, Ready must say why, and once descriptors are free again the
// proxy serves and logs the episode's end, once.
func TestAcceptAtEMFILE(t *testing.T) {
	if os.Getenv(emfileChildEnv) == "1" {
		emfileChild(t)
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("prlimit", "--nofile=64:64", exe, "-test.run=^TestAcceptAtEMFILE$", "-test.v")
	cmd.Env = append(os.Environ(), emfileChildEnv+"=1")
	cmd.Stderr = cmd.Stdout
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := make(chan string, 1024)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer close(out)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out <- sc.Text()
		}
	}()
	var all []string
	expect := func(sub string) string {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-out:
				if !ok {
					t.Fatalf("child exited before %q:\n%s", sub, strings.Join(all, "\n"))
				}
				all = append(all, l)
				if strings.Contains(l, sub) {
					return l
				}
			case <-timeout:
				t.Fatalf("no %q from the child within 20s:\n%s", sub, strings.Join(all, "\n"))
			}
		}
	}
	send := func(cmd string) {
		t.Helper()
		if _, err := io.WriteString(stdin, cmd+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		stdin.Close()
		for l := range out {
			all = append(all, l)
		}
		<-readDone
		if err := cmd.Wait(); err != nil {
			t.Errorf("child: %v\n%s", err, strings.Join(all, "\n"))
		}
	}()

	addr := strings.TrimPrefix(expect("child-addr="), "child-addr=")
	expect("full")
	if e := sslAnswer(t, addr); e == nil || e.Code != "53300" {
		t.Errorf("a client while the file table is full got %+v, want 53300", e)
	}
	send("ready")
	if l := expect("ready="); !strings.HasPrefix(l, "ready=false") || !strings.Contains(l, "too many open files") {
		t.Errorf("Ready while full: %s", l)
	}
	send("free")
	expect("freed")
	deadline := time.Now().Add(10 * time.Second)
	for {
		send("ready")
		if l := expect("ready="); strings.HasPrefix(l, "ready=true") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready 10s after descriptors were freed:\n%s", strings.Join(all, "\n"))
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	if e := sslAnswer(t, addr); e != nil {
		t.Errorf("a client after recovery got %+v, want a session", e)
	}
	var failing, recovered int
	for _, l := range all {
		if strings.Contains(l, "accept failing") {
			failing++
		}
		if strings.Contains(l, "accept recovered") {
			recovered++
		}
	}
	if failing != 1 || recovered != 1 {
		t.Errorf("child logged %d \"accept failing\" and %d \"accept recovered\", want one each:\n%s", failing, recovered, strings.Join(all, "\n"))
	}
}

// sslAnswer connects, sends an SSLRequest and returns the ErrorResponse
// it gets instead of 'N' (nil when the proxy answered 'N').
func sslAnswer(t *testing.T, addr string) *pgproto3.ErrorResponse {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	req, _ := (&pgproto3.SSLRequest{}).Encode(nil)
	if _, err := c.Write(req); err != nil && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		t.Fatalf("no answer to an SSLRequest: %v", err)
	}
	if b[0] == 'N' {
		return nil
	}
	if b[0] != 'E' {
		t.Fatalf("answer %q to an SSLRequest", b[0])
	}
	fe := pgproto3.NewFrontend(io.MultiReader(strings.NewReader("E"), c), io.Discard)
	msg, err := fe.Receive()
	if err != nil {
		t.Fatal(err)
	}
	e, ok := msg.(*pgproto3.ErrorResponse)
	if !ok {
		t.Fatalf("got %T", msg)
	}
	return e
}

// emfileChild is the child of TestAcceptAtEMFILE: it serves, fills its
// file table with /dev/null, and follows the commands on stdin.
func emfileChild(t *testing.T) {
	cfg := config.Default()
	cfg.Proxy.ListenAddress = "127.0.0.1:0"
	cfg.HealthChecks.Enabled = false
	// The trust probe of the backend (which nothing serves) dials it at
	// once and again every interval while it cannot tell: an hour here, and
	// the fill below waits for the first, so that no probe's socket closes
	// into the full file table and leaves a hole an accept would take.
	cfg.HealthChecks.Interval = config.Duration{Duration: time.Hour}
	b := config.DefaultBackend()
	b.Name, b.Host, b.Port = "nowhere", "127.0.0.1", 1
	cfg.Backends.Instances = []config.Backend{b}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, slog.New(slog.NewTextHandler(os.Stdout, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.Proxy.ListenAddress)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	// One connection proves the accept loop runs (and holds its spare): a
	// CancelRequest, which the proxy closes without an answer. The EOF
	// comes after its descriptor is closed, so the fill below leaves no
	// hole that a late close would open.
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cancelReq, _ := (&pgproto3.CancelRequest{ProcessID: 1, SecretKey: []byte{0, 0, 0, 1}}).Encode(nil)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(cancelReq); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Fatalf("a CancelRequest got %q, %v; want EOF", b, err)
	}
	c.Close()
	for _, b := range srv.list() {
		if !b.Trust.Wait(ctx, 10*time.Second) {
			t.Fatalf("no trust probe of %s within 10s", b.Config.Name)
		}
	}
	fmt.Printf("child-addr=%s\n", ln.Addr())
	var fillers []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				t.Fatal(err)
			}
			break
		}
		fillers = append(fillers, f)
	}
	fmt.Println("full")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "ready":
			ok, why := srv.Ready()
			fmt.Printf("ready=%v why=%s\n", ok, why)
		case "free":
			for _, f := range fillers {
				f.Close()
			}
			fmt.Println("freed")
		}
	}
}
