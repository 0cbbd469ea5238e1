package dial

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// TestDialFailures checks that a TLS failure to a real PostgreSQL says
// why: an *Error naming the sslmode and the x509 or SSLRequest failure.
func TestDialFailures(t *testing.T) {
	pki := pgtest.NewPKI(t, []string{"localhost"}, "postgres")
	c := pgtest.New(t, pki.TLSOptions(pgtest.Options{Name: "dial-tls", Auth: "scram-sha-256"}))
	plain := pgtest.New(t, pgtest.Options{Name: "dial-plain", Auth: "scram-sha-256"})
	other := pgtest.NewPKI(t, []string{"localhost"}, "postgres")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name     string
		port     int
		settings config.TLS
		host     string
		want     string // in the dial's error
	}{
		{"verify-full, wrong host name", c.Port, config.TLS{SSLMode: "verify-full", SSLRootCert: pki.CAFile}, "127.0.0.1",
			"x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs"},
		{"verify-ca, wrong CA", c.Port, config.TLS{SSLMode: "verify-ca", SSLRootCert: other.CAFile}, "127.0.0.1",
			"x509: certificate signed by unknown authority"},
		{"verify-full, wrong CA", c.Port, config.TLS{SSLMode: "verify-full", SSLRootCert: other.CAFile}, "localhost",
			"x509: certificate signed by unknown authority"},
		{"require, server without TLS", plain.Port, config.TLS{SSLMode: "require"}, "127.0.0.1",
			"server does not support SSL, but sslmode requires it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bt, err := NewTLS(tc.settings, tc.host)
			if err != nil {
				t.Fatal(err)
			}
			_, err = bt.Dial(ctx, net.JoinHostPort(tc.host, strconv.Itoa(tc.port)))
			var te *Error
			if !errors.As(err, &te) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "sslmode "+tc.settings.SSLMode) {
				t.Fatalf("dial: %v, want a TLS error with %q", err, tc.want)
			}
		})
	}
}

// fakeServer listens on 127.0.0.1 and answers each connection's
// SSLRequest with answer (nothing when answer is 0), then holds the
// connection until the test ends.
func fakeServer(t *testing.T, answer byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		var req [8]byte
		if _, err := conn.Read(req[:]); err != nil {
			return
		}
		if answer != 0 {
			_, _ = conn.Write([]byte{answer})
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = conn.Read(req[:]) // until the client closes
	}()
	return ln.Addr().String()
}

// TestDialAnswers checks what Dial makes of a server's answer to the
// SSLRequest under each sslmode, and Error.Reason for each failure.
func TestDialAnswers(t *testing.T) {
	tests := []struct {
		name     string
		mode     string
		answer   byte   // 0: none
		reason   string // "": a plaintext connection
		deadline bool   // the error is the deadline's (the context's or, first, the connection's)
	}{
		{"disable dials plaintext", "disable", 0, "", false},
		{"prefer stays in plaintext on N", "prefer", 'N', "", false},
		{"require fails on N", "require", 'N', "the backend does not offer TLS, which sslmode require requires", false},
		{"not a PostgreSQL server", "require", 'X', "the TLS handshake failed (sslmode require)", false},
		{"no answer before the deadline", "verify-ca", 0, "the TLS handshake failed (sslmode verify-ca)", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bt := &TLS{mode: tc.mode}
			if tc.mode != "disable" {
				bt.conf = &tls.Config{InsecureSkipVerify: true}
			}
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			conn, err := bt.Dial(ctx, fakeServer(t, tc.answer))
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Dial = %v, want a connection", err)
				}
				defer conn.Close()
				if _, isTLS := conn.(*tls.Conn); isTLS {
					t.Error("Dial: a TLS connection, want plaintext")
				}
				return
			}
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("Dial = %v, %v; want an *Error", conn, err)
			}
			if got := te.Reason(); got != tc.reason {
				t.Errorf("Reason() = %q, want %q", got, tc.reason)
			}
			if got := errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded); got != tc.deadline {
				t.Errorf("Dial = %v: deadline exceeded = %v, want %v", err, got, tc.deadline)
			}
		})
	}
}

// TestNewTLSUnreadableFiles checks that files that cannot be read are an
// *Error whose reason names the proxy's files, not their paths.
func TestNewTLSUnreadableFiles(t *testing.T) {
	_, err := NewTLS(config.TLS{SSLMode: "verify-ca", SSLRootCert: t.TempDir() + "/missing.pem"}, "localhost")
	var te *Error
	if !errors.As(err, &te) || te.Reason() != "the proxy cannot read its TLS files" {
		t.Errorf("NewTLS with a missing sslrootcert = %v, want an *Error: the proxy cannot read its TLS files", err)
	}
}

// TestCache checks that the cache builds a backend's TLS once per
// configuration.
func TestCache(t *testing.T) {
	var c Cache
	cfg1, cfg2 := &config.Config{}, &config.Config{}
	b := &config.Backend{Host: "localhost", SSLMode: "require"}
	t1, err := c.For(cfg1, b)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := c.For(cfg1, b); again != t1 {
		t.Error("For(same configuration) built the TLS again")
	}
	b.SSLMode = "disable"
	t2, err := c.For(cfg2, b)
	if err != nil {
		t.Fatal(err)
	}
	if t2 == t1 || t2.mode != "disable" {
		t.Errorf("For(new configuration) = mode %q (same: %v), want a new one with mode disable", t2.mode, t2 == t1)
	}
}

// TestBinding checks the helpers for pass-through SCRAM over TLS.
func TestBinding(t *testing.T) {
	enc := func(m interface{ Encode([]byte) ([]byte, error) }) []byte {
		out, err := m.Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	both := enc(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}})
	var sasl pgproto3.AuthenticationSASL
	if err := sasl.Decode(WithoutPlus(both)[5:]); err != nil || len(sasl.AuthMechanisms) != 1 || sasl.AuthMechanisms[0] != "SCRAM-SHA-256" {
		t.Errorf("WithoutPlus(PLUS and SCRAM) = %v, %v; want SCRAM-SHA-256 only", sasl.AuthMechanisms, err)
	}
	plainOnly := enc(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}})
	if got := WithoutPlus(plainOnly); &got[0] != &plainOnly[0] {
		t.Error("WithoutPlus(SCRAM only) is a copy, want the message itself")
	}

	for _, tc := range []struct {
		mech, data string
		want       bool
	}{
		{"SCRAM-SHA-256", "y,,n=,r=abc", true},
		{"SCRAM-SHA-256", "n,,n=,r=abc", false},
		{"SCRAM-SHA-256-PLUS", "p=tls-server-end-point,,n=,r=abc", false},
	} {
		reply := enc(&pgproto3.SASLInitialResponse{AuthMechanism: tc.mech, Data: []byte(tc.data)})
		if got := WantsBinding(reply); got != tc.want {
			t.Errorf("WantsBinding(%s %q) = %v, want %v", tc.mech, tc.data, got, tc.want)
		}
	}

	refusal := enc(&pgproto3.ErrorResponse{Severity: "FATAL", Code: "28000", Message: "SCRAM channel binding negotiation error"})
	var e pgproto3.ErrorResponse
	if err := e.Decode(WithHint(refusal, BindingHint)[5:]); err != nil || e.Code != "28000" || e.Hint != BindingHint {
		t.Errorf("WithHint: %+v, %v; want 28000 with BindingHint", e, err)
	}
}
