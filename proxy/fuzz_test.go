package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/wiretest"
	"github.com/heliosdb/heliosproxy/proxy/session"
)

// fuzzSeeds are FuzzFrontend's seed inputs: what clients send first.
func fuzzSeeds(t testing.TB) [][]byte {
	startup := wiretest.Startup(t, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "postgres", "database": "postgres"}})
	startup32 := wiretest.Startup(t, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion32, Parameters: map[string]string{"user": "postgres", "application_name": "fuzz"}})
	ssl := wiretest.Startup(t, &pgproto3.SSLRequest{})
	gss := wiretest.Startup(t, &pgproto3.GSSEncRequest{})
	query, err := (&pgproto3.Query{String: "SELECT 1"}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{
		startup,
		startup32,
		ssl,
		slices.Concat(ssl, startup), // refused: data after SSLRequest
		gss,
		slices.Concat(gss, startup),
		wiretest.Startup(t, &pgproto3.CancelRequest{ProcessID: 1, SecretKey: []byte{1, 2, 3, 4}}),
		[]byte("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"),
		{0, 0, 0, 0},
		{0x80, 0, 0, 0},
		{},
		slices.Concat(startup, query),
		query,
	}
}

// fuzzServer is a Server whose only backend refuses connections, so that a
// session never gets past connect. It logs to log.
func fuzzServer(t testing.TB, log slog.Handler) *Server {
	cfg := config.Default()
	b := config.DefaultBackend()
	b.Name, b.Host, b.Port = "refusing", "127.0.0.1", 1
	cfg.Backends.Instances = []config.Backend{b}
	cfg.HealthChecks.Enabled = false
	cfg.Proxy.MaxMessageSize = 8 << 10
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	srv, err := New(cfg, slog.New(log))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return srv
}

// fuzzLog keeps the messages logged at Error level: serve logs a panic it
// recovered from there, so a fuzz input that makes it panic shows up.
type fuzzLog struct {
	mu     sync.Mutex
	errors []string
}

func (l *fuzzLog) Enabled(_ context.Context, level slog.Level) bool { return level >= slog.LevelError }

func (l *fuzzLog) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		msg += " " + a.String()
		return true
	})
	l.mu.Lock()
	l.errors = append(l.errors, msg)
	l.mu.Unlock()
	return nil
}

func (l *fuzzLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *fuzzLog) WithGroup(string) slog.Handler      { return l }

func (l *fuzzLog) logged() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.errors)
}

// fuzzCheckReplies checks what serve sent a client: the 'N' answers to
// SSLRequest and GSSENCRequest, then at most one ErrorResponse, then
// nothing.
func fuzzCheckReplies(out []byte) error {
	out = bytes.TrimLeft(out, "N")
	if len(out) == 0 {
		return nil
	}
	fe := pgproto3.NewFrontend(bytes.NewReader(out), io.Discard)
	msg, err := fe.Receive()
	if err != nil {
		return err
	}
	e, ok := msg.(*pgproto3.ErrorResponse)
	if !ok {
		return errors.New("reply is not an ErrorResponse")
	}
	switch e.Code {
	case "08P01", "57P03", "08006":
	default:
		return errors.New("unexpected SQLSTATE " + e.Code)
	}
	if e.Severity != "FATAL" {
		return errors.New("ErrorResponse severity " + e.Severity + ", want FATAL")
	}
	if _, err := fe.Receive(); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return errors.New("more after the ErrorResponse")
	}
	return nil
}

// fuzzServe runs a session of fuzzServer on conn, whose input holds the
// fuzz input in, and checks what every fuzz target asks: serve returns,
// logs no error (a recovered panic) and closes the connection.
func fuzzServe(t *testing.T, conn *wiretest.Conn, in []byte) *Server {
	log := &fuzzLog{}
	srv := fuzzServer(t, log)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.front.Serve(context.Background(), conn)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // a safety net: serve has nothing to wait for
		t.Fatalf("serve(%q) did not return", in)
	}
	for _, msg := range log.logged() {
		t.Errorf("serve(%q) logged an error: %s", in, msg)
	}
	if !conn.Closed {
		t.Errorf("serve(%q) returned without closing the client connection", in)
	}
	return srv
}

// FuzzFrontend feeds arbitrary client bytes to a session's front end (no
// backend: its only one refuses connections) and to a scanner. serve must
// return without panicking and answer with 'N's and at most one
// ErrorResponse; the scanner must scan the same messages however its input
// is split.
func FuzzFrontend(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// Reads of a data-derived size exercise the partial-read paths.
		chunk := 0
		if len(in) > 0 {
			chunk = int(in[len(in)-1] % 16) // 0: everything at once
		}
		conn := &wiretest.Conn{In: in, Chunk: chunk}
		srv := fuzzServe(t, conn, in)
		if err := fuzzCheckReplies(conn.Out.Bytes()); err != nil {
			t.Errorf("serve(%q) replied %q: %v", in, conn.Out.Bytes(), err)
		}
		if n := srv.front.Sessions(); n != 0 {
			t.Errorf("serve(%q) left %d cancel keys behind", in, n)
		}
		for _, b := range srv.list() {
			if n := b.Active.Load(); n != 0 {
				t.Errorf("serve(%q) left backend %s with %d active sessions", in, b.Config.Name, n)
			}
		}

	})
}

// FuzzStatusSession feeds arbitrary messages to an authenticated session
// on the status database (a loopback client needs no password): the
// proxy answers them all itself, through the simple and extended
// protocol paths and the SQL evaluator. serve must return without
// panicking, and everything it sends must be well-formed messages.
func FuzzStatusSession(f *testing.F) {
	enc := func(msgs ...pgproto3.FrontendMessage) []byte {
		var out []byte
		for _, m := range msgs {
			var err error
			if out, err = m.Encode(out); err != nil {
				f.Fatal(err)
			}
		}
		return out
	}
	q := "SELECT backend_name, port FROM helios_proxy.backends WHERE port > $1 ORDER BY 1"
	for _, seed := range [][]byte{
		enc(&pgproto3.Query{String: "SELECT * FROM helios_proxy.circuit_breaker_status"}),
		enc(&pgproto3.Query{String: "BEGIN; SELECT port / 0 FROM helios_proxy.backends"}, &pgproto3.Query{String: "COMMIT"}),
		enc(&pgproto3.Parse{Query: q}, &pgproto3.Bind{Parameters: [][]byte{[]byte("1")}}, &pgproto3.Describe{ObjectType: 'P'},
			&pgproto3.Execute{}, &pgproto3.Close{ObjectType: 'S'}, &pgproto3.Sync{}),
		enc(&pgproto3.Parse{Name: "s", Query: q, ParameterOIDs: []uint32{23}}, &pgproto3.Describe{ObjectType: 'S', Name: "s"}, &pgproto3.Flush{},
			&pgproto3.Bind{PreparedStatement: "s", ParameterFormatCodes: []int16{1}, Parameters: [][]byte{{0, 0, 0, 1}}, ResultFormatCodes: []int16{1}},
			&pgproto3.Execute{MaxRows: 1}, &pgproto3.Sync{}),
		{'D', 0, 0, 0, 4, 'S', 0, 0, 0, 4},
		{'C', 0, 0, 0, 5, 'P', 'S', 0, 0, 0, 4},
		enc(&pgproto3.Query{String: "SELECT 1+1+1+1 FROM helios_proxy.backends"}, &pgproto3.Terminate{}),
	} {
		f.Add(seed)
	}
	startup := wiretest.Startup(f, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters: map[string]string{"user": "ops", "database": session.StatusDatabase}})
	f.Fuzz(func(t *testing.T, in []byte) {
		conn := &wiretest.Conn{In: slices.Concat(startup, in)}
		fuzzServe(t, conn, in)
		if _, err := rawReplies(conn.Out.Bytes()); err != nil {
			t.Errorf("serve(%q) sent a malformed message: %v", in, err)
		}
	})
}
