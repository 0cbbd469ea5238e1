package scram

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/internal/pgcluster"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// testUsers have passwords on which pgx, libpq and PostgreSQL agree.
var testUsers = []struct{ name, password string }{
	{"alice", "correct horse battery staple"},
	{"bob", "pa\u0308ss w\u00f6rd\u00a0\u00e9t\u00e9 \u00fc"}, // decomposed, composed, a no-break space
}

// login connects to addr over TCP as user and authenticates the way the server
// asks: SCRAM-SHA-256 with c, or md5 with md5Secret. It returns nil once
// ReadyForQuery arrives and a *pgconn.PgError for an ErrorResponse.
func login(t *testing.T, addr, user string, c *Client, md5Secret string) error {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	fe := pgproto3.NewFrontend(conn, conn)
	fe.Send(&pgproto3.StartupMessage{
		ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters:      map[string]string{"user": user, "database": "postgres"},
	})
	for {
		if err := fe.Flush(); err != nil {
			return err
		}
		msg, err := fe.Receive()
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.AuthenticationSASL:
			if !slices.Contains(m.AuthMechanisms, "SCRAM-SHA-256") {
				t.Fatalf("server offers %v, want SCRAM-SHA-256", m.AuthMechanisms)
			}
			fe.Send(&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: c.First()})
		case *pgproto3.AuthenticationSASLContinue:
			final, err := c.Final(m.Data)
			if err != nil {
				return err
			}
			fe.Send(&pgproto3.SASLResponse{Data: final})
		case *pgproto3.AuthenticationSASLFinal:
			if err := c.Verify(m.Data); err != nil {
				return err
			}
		case *pgproto3.AuthenticationMD5Password:
			fe.Send(&pgproto3.PasswordMessage{Password: MD5Response(md5Secret, m.Salt)})
		case *pgproto3.AuthenticationOk, *pgproto3.ParameterStatus, *pgproto3.BackendKeyData:
		case *pgproto3.ReadyForQuery:
			fe.Send(&pgproto3.Terminate{})
			_ = fe.Flush() // we are done either way
			return nil
		case *pgproto3.ErrorResponse:
			return pgconn.ErrorResponseToPgError(m)
		default:
			t.Fatalf("unexpected %T during login", msg)
		}
	}
}

func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// rolpassword reads the stored secret of a role.
func rolpassword(t *testing.T, c *pgtest.Cluster, role string) string {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, c.DSN(c.User, c.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var secret string
	if err := conn.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role).Scan(&secret); err != nil {
		t.Fatal(err)
	}
	return secret
}

// TestPostgreSQLSCRAM checks verifiers against those PostgreSQL stores, and
// logs in to PostgreSQL with Client.
func TestPostgreSQLSCRAM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	c := pgtest.New(t, pgtest.Options{Name: "scram", Auth: "scram-sha-256"})
	for _, u := range testUsers {
		t.Run(u.name, func(t *testing.T) {
			if err := c.CreateUser(t.Context(), u.name, u.password); err != nil {
				t.Fatal(err)
			}
			stored := rolpassword(t, c, u.name)
			v, err := ParseVerifier(stored)
			if err != nil {
				t.Fatalf("ParseVerifier(rolpassword of %s): %v", u.name, err)
			}
			if got := v.String(); got != stored {
				t.Errorf("ParseVerifier(%s).String() = %s, want it unchanged", stored, got)
			}
			if got := NewVerifier(u.password, v.Salt, v.Iterations).String(); got != stored {
				t.Errorf("NewVerifier(password of %s) = %s, want %s as PostgreSQL stores it", u.name, got, stored)
			}
			if err := login(t, c.Addr(), u.name, NewClient(u.password, rand.Reader), ""); err != nil {
				t.Errorf("login with the password = %v, want nil", err)
			}
			clientKey := ClientKeyOf(u.password, v.Salt, v.Iterations)
			if err := login(t, c.Addr(), u.name, NewClientFromKeys(clientKey, v.ServerKey, rand.Reader), ""); err != nil {
				t.Errorf("login with the keys = %v, want nil", err)
			}
			err = login(t, c.Addr(), u.name, NewClient(u.password+"x", rand.Reader), "")
			if sqlState(err) != "28P01" {
				t.Errorf("login with a wrong password = %v, want SQLSTATE 28P01", err)
			}
			// A ServerKey that is not the server's: PostgreSQL accepts the
			// proof, and the client must refuse the server.
			err = login(t, c.Addr(), u.name, NewClientFromKeys(clientKey, v.StoredKey, rand.Reader), "")
			if err == nil || !strings.Contains(err.Error(), "server signature") {
				t.Errorf("login expecting another ServerKey = %v, want a server signature error", err)
			}
		})
	}
}

// TestPostgreSQLMD5 checks MD5Secret against what PostgreSQL stores and logs
// in with MD5Response.
func TestPostgreSQLMD5(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	c := pgtest.New(t, pgtest.Options{Name: "md5", Auth: "md5"})
	for _, u := range testUsers {
		t.Run(u.name, func(t *testing.T) {
			if err := c.CreateUser(t.Context(), u.name, u.password); err != nil {
				t.Fatal(err)
			}
			stored := rolpassword(t, c, u.name)
			if want := MD5Secret(u.name, u.password); stored != want || !IsMD5Secret(stored) {
				t.Errorf("rolpassword of %s = %s, want %s", u.name, stored, want)
			}
			if err := login(t, c.Addr(), u.name, nil, MD5Secret(u.name, u.password)); err != nil {
				t.Errorf("login with MD5Response = %v, want nil", err)
			}
			err := login(t, c.Addr(), u.name, nil, MD5Secret(u.name, u.password+"x"))
			if sqlState(err) != "28P01" {
				t.Errorf("login with a wrong password = %v, want SQLSTATE 28P01", err)
			}
		})
	}
}

// TestProxyChain is the proxy's use: pgx logs in to our Server, which holds
// the verifier PostgreSQL stores, and the ClientKey the Server recovers logs
// in to PostgreSQL without the password.
func TestProxyChain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	c := pgtest.New(t, pgtest.Options{Name: "scram-chain", Auth: "scram-sha-256"})
	for _, u := range testUsers {
		t.Run(u.name, func(t *testing.T) {
			if err := c.CreateUser(t.Context(), u.name, u.password); err != nil {
				t.Fatal(err)
			}
			v, err := ParseVerifier(rolpassword(t, c, u.name))
			if err != nil {
				t.Fatal(err)
			}
			addr, result := fakePostgres(t, v)
			conn, err := pgconn.Connect(t.Context(), dsn(addr, u.name, u.password))
			if err != nil {
				t.Fatalf("pgx login to Server: %v", err)
			}
			_ = conn.Close(t.Context())
			r := <-result
			if r.err != nil {
				t.Fatalf("Server: %v", r.err)
			}
			if err := login(t, c.Addr(), u.name, NewClientFromKeys(r.clientKey, v.ServerKey, rand.Reader), ""); err != nil {
				t.Errorf("login to PostgreSQL with the recovered ClientKey = %v, want nil", err)
			}
		})
	}
}

// dsn returns a URL for pgx to connect to addr without TLS.
func dsn(addr, user, password string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password), Host: addr, Path: "/postgres", RawQuery: "sslmode=disable"}
	return u.String()
}

// TestClientsAgainstServer logs in to our Server with pgx and with psql
// (libpq), with right and wrong passwords.
func TestClientsAgainstServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs psql")
	}
	bin, err := pgcluster.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	psql := filepath.Join(bin, "psql")
	clients := []struct {
		name  string
		login func(addr, user, password string) error
	}{
		{"pgx", func(addr, user, password string) error {
			conn, err := pgconn.Connect(t.Context(), dsn(addr, user, password))
			if err == nil {
				_ = conn.Close(t.Context())
			}
			return err
		}},
		{"psql", func(addr, user, password string) error {
			host, port, _ := net.SplitHostPort(addr)
			cmd := exec.CommandContext(t.Context(), psql, "-X", "-w", "-c", `\q`,
				"host="+host+" port="+port+" user="+user+" dbname=postgres sslmode=disable gssencmode=disable")
			cmd.Env = append(os.Environ(), "PGPASSWORD="+password)
			if out, err := cmd.CombinedOutput(); err != nil {
				return errors.New(strings.TrimSpace(string(out)))
			}
			return nil
		}},
	}
	salt := []byte("0123456789abcdef")
	for _, cl := range clients {
		for _, u := range testUsers {
			t.Run(cl.name+"/"+u.name, func(t *testing.T) {
				v := NewVerifier(u.password, salt, 4096)
				addr, result := fakePostgres(t, v)
				if err := cl.login(addr, u.name, u.password); err != nil {
					t.Errorf("%s login = %v, want nil", cl.name, err)
				}
				if r := <-result; r.err != nil || r.clientKey != ClientKeyOf(u.password, salt, 4096) {
					t.Errorf("Server = %x, %v, want the ClientKey of the password", r.clientKey, r.err)
				}

				addr, result = fakePostgres(t, v)
				err := cl.login(addr, u.name, u.password+"x")
				if err == nil || !strings.Contains(err.Error(), "password authentication failed") {
					t.Errorf("%s login with a wrong password = %v, want password authentication failed", cl.name, err)
				}
				if r := <-result; !errors.Is(r.err, ErrAuthFailed) {
					t.Errorf("Server with a wrong password = %v, want ErrAuthFailed", r.err)
				}
			})
		}
	}
}

type serveResult struct {
	clientKey [32]byte
	err       error
}

// fakePostgres listens on 127.0.0.1 and authenticates one connection against
// v with Server, answering as PostgreSQL does. The result arrives once the
// client has gone; the listener and connection are closed in t.Cleanup.
func fakePostgres(t *testing.T, v Verifier) (string, <-chan serveResult) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	result := make(chan serveResult, 1)
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			result <- serveResult{err: err}
			return
		}
		defer conn.Close()
		context.AfterFunc(t.Context(), func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
		key, err := serve(conn, v)
		result <- serveResult{key, err}
	}()
	return ln.Addr().String(), result
}

func serve(conn net.Conn, v Verifier) ([32]byte, error) {
	var noKey [32]byte
	be := pgproto3.NewBackend(conn, conn)
	if _, err := be.ReceiveStartupMessage(); err != nil {
		return noKey, err
	}
	be.Send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}})
	if err := be.Flush(); err != nil {
		return noKey, err
	}
	_ = be.SetAuthType(pgproto3.AuthTypeSASL) // a known type
	msg, err := be.Receive()
	if err != nil {
		return noKey, err
	}
	initial, ok := msg.(*pgproto3.SASLInitialResponse)
	if !ok || initial.AuthMechanism != "SCRAM-SHA-256" {
		return noKey, errors.New("no SASLInitialResponse for SCRAM-SHA-256")
	}
	s := NewServer(v, rand.Reader)
	serverFirst, err := s.First(initial.Data)
	if err != nil {
		return noKey, err
	}
	be.Send(&pgproto3.AuthenticationSASLContinue{Data: serverFirst})
	if err := be.Flush(); err != nil {
		return noKey, err
	}
	_ = be.SetAuthType(pgproto3.AuthTypeSASLContinue)
	if msg, err = be.Receive(); err != nil {
		return noKey, err
	}
	response, ok := msg.(*pgproto3.SASLResponse)
	if !ok {
		return noKey, errors.New("no SASLResponse")
	}
	serverFinal, clientKey, err := s.Final(response.Data)
	if err != nil {
		be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "28P01",
			Message: "password authentication failed for user"})
		return noKey, errors.Join(err, be.Flush())
	}
	be.Send(&pgproto3.AuthenticationSASLFinal{Data: serverFinal})
	be.Send(&pgproto3.AuthenticationOk{})
	for _, p := range [][2]string{{"server_version", "15.0"}, {"server_encoding", "UTF8"}, {"client_encoding", "UTF8"},
		{"standard_conforming_strings", "on"}, {"integer_datetimes", "on"}, {"DateStyle", "ISO, MDY"}} {
		be.Send(&pgproto3.ParameterStatus{Name: p[0], Value: p[1]})
	}
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if err := be.Flush(); err != nil {
		return noKey, err
	}
	// Wait for the client to leave, so that it never sees the connection drop.
	for {
		msg, err := be.Receive()
		if _, ok := msg.(*pgproto3.Terminate); ok || err != nil {
			return clientKey, nil
		}
	}
}
