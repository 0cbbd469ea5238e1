package scram

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// The exchange of RFC 7677 section 3, and the verifier it implies (computed
// independently with Python's hashlib).
const (
	rfcPassword    = "pencil"
	rfcSalt        = "W22ZaJ0SNY7soEsUEjb6gQ=="
	rfcClientNonce = "rOprNGfwEbeRWgbNEkqO"
	rfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	rfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
	rfcServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	rfcClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	rfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
	rfcVerifier    = "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
)

func rfcSaltBytes(t *testing.T) []byte {
	t.Helper()
	salt, err := base64.StdEncoding.DecodeString(rfcSalt)
	if err != nil {
		t.Fatal(err)
	}
	return salt
}

// fixedNonce returns a reader that yields exactly one nonce's worth of bytes.
func fixedNonce(b byte) *bytes.Reader {
	return bytes.NewReader(bytes.Repeat([]byte{b}, nonceBytes))
}

func TestRFC7677Server(t *testing.T) {
	v := NewVerifier(rfcPassword, rfcSaltBytes(t), 4096)
	if got := v.String(); got != rfcVerifier {
		t.Fatalf("NewVerifier(pencil) = %s, want %s", got, rfcVerifier)
	}
	s := NewServer(v, nil)
	// The RFC's server nonce has characters a base64 nonce never has, so it
	// is passed in rather than read from a reader.
	serverFirst, err := s.first(rfcClientFirst, rfcServerNonce)
	if err != nil {
		t.Fatalf("first: %v", err)
	}
	if string(serverFirst) != rfcServerFirst {
		t.Errorf("server-first = %s, want %s", serverFirst, rfcServerFirst)
	}
	serverFinal, clientKey, err := s.Final([]byte(rfcClientFinal))
	if err != nil {
		t.Fatalf("Final: %v", err)
	}
	if string(serverFinal) != rfcServerFinal {
		t.Errorf("server-final = %s, want %s", serverFinal, rfcServerFinal)
	}
	if want := ClientKeyOf(rfcPassword, rfcSaltBytes(t), 4096); clientKey != want {
		t.Errorf("ClientKey = %x, want %x", clientKey, want)
	}
}

func TestRFC7677Client(t *testing.T) {
	c := NewClient(rfcPassword, fixedNonce(7))
	if got, want := string(c.First()), "n,,n=,r="+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, nonceBytes)); got != want {
		t.Errorf("First() = %s, want %s", got, want)
	}
	// Our Client sends an empty user name; the RFC's sends "user", which is
	// part of the signed AuthMessage, so put the RFC's first message in place.
	c.nonce, c.bare = rfcClientNonce, strings.TrimPrefix(rfcClientFirst, "n,,")
	clientFinal, err := c.Final([]byte(rfcServerFirst))
	if err != nil {
		t.Fatalf("Final: %v", err)
	}
	if string(clientFinal) != rfcClientFinal {
		t.Errorf("client-final = %s, want %s", clientFinal, rfcClientFinal)
	}
	if err := c.Verify([]byte(rfcServerFinal)); err != nil {
		t.Errorf("Verify(RFC server-final) = %v, want nil", err)
	}

	// The same with keys in place of the password.
	v, err := ParseVerifier(rfcVerifier)
	if err != nil {
		t.Fatal(err)
	}
	c = NewClientFromKeys(ClientKeyOf(rfcPassword, v.Salt, v.Iterations), v.ServerKey, fixedNonce(7))
	c.nonce, c.bare = rfcClientNonce, strings.TrimPrefix(rfcClientFirst, "n,,")
	if clientFinal, err = c.Final([]byte(rfcServerFirst)); err != nil || string(clientFinal) != rfcClientFinal {
		t.Errorf("from keys: Final = %s, %v, want %s", clientFinal, err, rfcClientFinal)
	}
	if err := c.Verify([]byte(rfcServerFinal)); err != nil {
		t.Errorf("from keys: Verify(RFC server-final) = %v, want nil", err)
	}
}

func TestVerifierRoundTrip(t *testing.T) {
	v, err := ParseVerifier(rfcVerifier)
	if err != nil {
		t.Fatalf("ParseVerifier: %v", err)
	}
	if want := NewVerifier(rfcPassword, rfcSaltBytes(t), 4096); !reflect.DeepEqual(v, want) {
		t.Errorf("ParseVerifier = %+v, want %+v", v, want)
	}
	if got := v.String(); got != rfcVerifier {
		t.Errorf("String() = %s, want %s", got, rfcVerifier)
	}
	if !IsVerifier(rfcVerifier) || IsVerifier("md53175bce1d3201d16594cebf9d7eb3f9d") || IsVerifier("pencil") {
		t.Errorf("IsVerifier is wrong for a verifier, an md5 secret or a password")
	}
}

func TestParseVerifierErrors(t *testing.T) {
	const (
		stored = "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
		server = "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
	)
	tests := []struct {
		name, in, want string // want: part of the error
	}{
		{"empty", "", "does not start with"},
		{"md5 secret", "md53175bce1d3201d16594cebf9d7eb3f9d", "does not start with"},
		{"plain password", "hunter2hunter2", "does not start with"},
		{"no keys", "SCRAM-SHA-256$4096:" + rfcSalt, "is not <iterations>"},
		{"no colon in params", "SCRAM-SHA-256$4096$" + stored + ":" + server, "is not <iterations>"},
		{"no colon in keys", "SCRAM-SHA-256$4096:" + rfcSalt + "$" + stored + server, "is not <iterations>"},
		{"iterations not a number", "SCRAM-SHA-256$4k:" + rfcSalt + "$" + stored + ":" + server, "iteration count"},
		{"zero iterations", "SCRAM-SHA-256$0:" + rfcSalt + "$" + stored + ":" + server, "iteration count"},
		{"empty salt", "SCRAM-SHA-256$4096:$" + stored + ":" + server, "salt"},
		{"salt not base64", "SCRAM-SHA-256$4096:W22Z*J0S$" + stored + ":" + server, "salt"},
		{"StoredKey short", "SCRAM-SHA-256$4096:" + rfcSalt + "$" + stored[:20] + ":" + server, "StoredKey"},
		{"StoredKey not base64", "SCRAM-SHA-256$4096:" + rfcSalt + "$!" + stored[1:] + ":" + server, "StoredKey"},
		{"ServerKey short", "SCRAM-SHA-256$4096:" + rfcSalt + "$" + stored + ":" + server[:40], "ServerKey"},
		{"trailing data", "SCRAM-SHA-256$4096:" + rfcSalt + "$" + stored + ":" + server + "$x", "ServerKey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseVerifier(tt.in)
			if err == nil {
				t.Fatalf("ParseVerifier(%s) = nil error, want one about %q", tt.name, tt.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("ParseVerifier(%s) = %q, want it to mention %q", tt.name, msg, tt.want)
			}
			// The input is a secret: no piece of it may appear in the error.
			for _, secret := range []string{stored[:12], server[:12], rfcSalt[:12], "hunter2", "3175bce1d3"} {
				if strings.Contains(msg, secret) {
					t.Errorf("ParseVerifier(%s) error %q contains %q from the input", tt.name, msg, secret)
				}
			}
		})
	}
}

// exchange runs a whole exchange between c and s and returns the ClientKey
// the server recovered.
func exchange(c *Client, s *Server) ([32]byte, error) {
	serverFirst, err := s.First(c.First())
	if err != nil {
		return [32]byte{}, err
	}
	clientFinal, err := c.Final(serverFirst)
	if err != nil {
		return [32]byte{}, err
	}
	serverFinal, clientKey, err := s.Final(clientFinal)
	if err != nil {
		return [32]byte{}, err
	}
	return clientKey, c.Verify(serverFinal)
}

func TestRoundTrip(t *testing.T) {
	salt := []byte("0123456789abcdef")
	for _, password := range []string{"secret", "", "pa\u0308ss w\u00f6rd\u00a0x", "\x01control"} {
		v := NewVerifier(password, salt, 4096)
		clientKey, err := exchange(NewClient(password, rand.Reader), NewServer(v, rand.Reader))
		if err != nil {
			t.Fatalf("exchange(%q) = %v, want nil", password, err)
		}
		if want := ClientKeyOf(password, salt, 4096); clientKey != want {
			t.Errorf("ClientKey(%q) = %x, want %x", password, clientKey, want)
		}
		// The proxy's case: log in to a backend with the key the client proved.
		if _, err := exchange(NewClientFromKeys(clientKey, v.ServerKey, rand.Reader), NewServer(v, rand.Reader)); err != nil {
			t.Errorf("exchange(keys of %q) = %v, want nil", password, err)
		}
	}
	// Decomposed and composed forms of a password are the same password.
	v := NewVerifier("p\u00e4ss", salt, 4096)
	if _, err := exchange(NewClient("pa\u0308ss", rand.Reader), NewServer(v, rand.Reader)); err != nil {
		t.Errorf("exchange(decomposed password) = %v, want nil", err)
	}
}

func TestServerNonce(t *testing.T) {
	s := NewServer(NewVerifier("secret", []byte("salt"), 1), fixedNonce(0xff))
	serverFirst, err := s.First([]byte("n,,n=,r=abc"))
	if err != nil {
		t.Fatal(err)
	}
	want := "r=abc" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, nonceBytes)) + ",s=c2FsdA==,i=1"
	if string(serverFirst) != want {
		t.Errorf("server-first = %s, want %s", serverFirst, want)
	}
}

func TestAuthFailures(t *testing.T) {
	salt := []byte("0123456789abcdef")
	v := NewVerifier("secret", salt, 4096)
	tests := []struct {
		name    string
		client  *Client
		server  Verifier
		authErr bool // want ErrAuthFailed from the server
	}{
		{"wrong password", NewClient("Secret", rand.Reader), v, true},
		{"wrong ClientKey", NewClientFromKeys(ClientKeyOf("Secret", salt, 4096), v.ServerKey, rand.Reader), v, true},
		{"server without the ServerKey", NewClient("secret", rand.Reader), Verifier{Iterations: 4096, Salt: salt, StoredKey: v.StoredKey}, false},
		{"client with a wrong ServerKey", NewClientFromKeys(ClientKeyOf("secret", salt, 4096), v.StoredKey, rand.Reader), v, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := exchange(tt.client, NewServer(tt.server, rand.Reader))
			if err == nil {
				t.Fatalf("exchange = nil, want an error")
			}
			if got := errors.Is(err, ErrAuthFailed); got != tt.authErr {
				t.Errorf("exchange = %v; errors.Is(ErrAuthFailed) = %v, want %v", err, got, tt.authErr)
			}
			if strings.Contains(err.Error(), "ecret") {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

// serverAfterFirst returns a Server that has answered "n,,n=,r=abc" with the
// combined nonce "abcXYZ", and the AuthMessage so far.
func serverAfterFirst(t *testing.T, v Verifier, gs2 string) (*Server, string) {
	t.Helper()
	s := NewServer(v, nil)
	serverFirst, err := s.first(gs2+"n=,r=abc", "XYZ")
	if err != nil {
		t.Fatal(err)
	}
	return s, "n=,r=abc," + string(serverFirst)
}

// clientFinal builds a client-final-message with a correct proof for
// withoutProof.
func clientFinal(v Verifier, password, authSoFar, withoutProof string) []byte {
	clientKey := ClientKeyOf(password, v.Salt, v.Iterations)
	proof := xor(clientKey, hmacSum(v.StoredKey[:], authSoFar+","+withoutProof))
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof[:]))
}

func TestServerGS2(t *testing.T) {
	v := NewVerifier("secret", []byte("salt"), 16)
	tests := []struct {
		name, gs2, binding string
		ok                 bool
	}{
		{"n with biws", "n,,", "biws", true},
		{"y with eSws", "y,,", "eSws", true},
		{"n with eSws", "n,,", "eSws", false},
		{"y with biws", "y,,", "biws", false},
		{"n with p header", "n,,", base64.StdEncoding.EncodeToString([]byte("p=tls-server-end-point,,")), false},
		{"n with garbage", "n,,", "!!!!", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, auth := serverAfterFirst(t, v, tt.gs2)
			_, _, err := s.Final(clientFinal(v, "secret", auth, "c="+tt.binding+",r=abcXYZ"))
			if (err == nil) != tt.ok {
				t.Errorf("Final(c=%s after %q) = %v, want ok %v", tt.binding, tt.gs2, err, tt.ok)
			}
			if err != nil && errors.Is(err, ErrAuthFailed) {
				t.Errorf("Final(c=%s after %q) = ErrAuthFailed, want a channel binding error", tt.binding, tt.gs2)
			}
		})
	}
}

func TestServerTamperedNonce(t *testing.T) {
	v := NewVerifier("secret", []byte("salt"), 16)
	for _, nonce := range []string{"abcXYz", "abc", "abcXYZX", "XYZ"} {
		s, auth := serverAfterFirst(t, v, "n,,")
		// The proof is right for the message, so only the nonce is wrong.
		_, _, err := s.Final(clientFinal(v, "secret", auth, "c=biws,r="+nonce))
		if err == nil || errors.Is(err, ErrAuthFailed) {
			t.Errorf("Final(r=%s, want abcXYZ) = %v, want a nonce error", nonce, err)
		}
	}
}

func TestServerMalformed(t *testing.T) {
	v := NewVerifier("secret", []byte("salt"), 16)
	proof := base64.StdEncoding.EncodeToString(make([]byte, 32))
	firsts := []string{
		"", "n", "n,", "n,,", "x,,n=,r=abc", "nn,,n=,r=abc",
		"p=tls-server-end-point,,n=,r=abc",
		"n,a=bob,n=,r=abc", "n,bob,n=,r=abc",
		"n,,m=ext,n=,r=abc", "n,,r=abc", "n,,n=", "n,,n=,r=", "n,,n=,x=abc",
		"n,,n=,r=a\x00c", "n,,n=,r=a\xffc", "n,,n=,r=abc,=x", "n,,n=,r=abc,", "n,,n=,,r=abc",
	}
	for _, msg := range firsts {
		if _, err := NewServer(v, rand.Reader).First([]byte(msg)); err == nil {
			t.Errorf("First(%q) = nil error, want one", msg)
		}
	}
	finals := []string{
		"", "p=" + proof, "c=biws,r=abcXYZ", "c=biws,r=abcXYZ,p=", "c=biws,r=abcXYZ,p=!!!!",
		"c=biws,r=abcXYZ,p=" + proof[:20], "c=biws,r=abcXYZ,p=" + proof + ",x=1",
		"r=abcXYZ,c=biws,p=" + proof, "c=biws,p=" + proof, "c=biws,r=abcXYZ,,p=" + proof,
		"c=biws,r=abcXYZ,p=" + proof, // well formed, wrong proof
	}
	for _, msg := range finals {
		s, _ := serverAfterFirst(t, v, "n,,")
		if _, _, err := s.Final([]byte(msg)); err == nil {
			t.Errorf("Final(%q) = nil error, want one", msg)
		}
	}
	// Messages out of order.
	s := NewServer(v, rand.Reader)
	if _, _, err := s.Final([]byte("c=biws,r=abcXYZ,p=" + proof)); err == nil {
		t.Errorf("Final before First = nil error, want one")
	}
	s, _ = serverAfterFirst(t, v, "n,,")
	if _, err := s.First([]byte("n,,n=,r=abc")); err == nil {
		t.Errorf("First twice = nil error, want one")
	}
	// A failed Final ends the exchange: no second guess.
	s, auth := serverAfterFirst(t, v, "n,,")
	if _, _, err := s.Final([]byte("c=biws,r=abcXYZ,p=" + proof)); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("Final(wrong proof) = %v, want ErrAuthFailed", err)
	}
	if _, _, err := s.Final(clientFinal(v, "secret", auth, "c=biws,r=abcXYZ")); err == nil {
		t.Errorf("Final after a failed Final = nil error, want one")
	}
	// A failing rand.
	if _, err := NewServer(v, iotest.ErrReader(errors.New("no entropy"))).First([]byte("n,,n=,r=abc")); err == nil {
		t.Errorf("First with a failing rand = nil error, want one")
	}
}

func TestClientMalformed(t *testing.T) {
	const cn = "AAAAAAAAAAAAAAAAAAAAAAAA" // the nonce from fixedNonce(0)
	finals := []string{
		"", "r=", "r=" + cn + ",s=c2FsdA==,i=4096", "r=BBBB" + cn + ",s=c2FsdA==,i=4096",
		"r=" + cn[1:] + "X,s=c2FsdA==,i=4096", "m=ext,r=" + cn + "X,s=c2FsdA==,i=4096",
		"r=" + cn + "X,s=,i=4096", "r=" + cn + "X,s=!!!!,i=4096", "r=" + cn + "X,i=4096",
		"r=" + cn + "X,s=c2FsdA==", "r=" + cn + "X,s=c2FsdA==,i=0", "r=" + cn + "X,s=c2FsdA==,i=-1",
		"r=" + cn + "X,s=c2FsdA==,i=10000001", "r=" + cn + "X,s=c2FsdA==,i=4k",
		"r=" + cn + "X,s=c2FsdA==,i=99999999999999999999", "r=" + cn + "X\x7f,s=c2FsdA==,i=1",
		"i=1,s=c2FsdA==,r=" + cn + "X", "r=" + cn + "X,s=c2FsdA==,,i=1",
	}
	for _, msg := range finals {
		c := NewClient("secret", fixedNonce(0))
		if !strings.HasSuffix(string(c.First()), cn) {
			t.Fatalf("First() = %s, want the nonce %s", c.First(), cn)
		}
		if _, err := c.Final([]byte(msg)); err == nil {
			t.Errorf("Final(%q) = nil error, want one", msg)
		}
	}

	verifies := []string{"", "v=", "v=!!!!", "x=1", "v=" + base64.StdEncoding.EncodeToString(make([]byte, 32)), "e=invalid-proof"}
	for _, msg := range verifies {
		c := NewClient("secret", fixedNonce(0))
		if _, err := c.Final([]byte("r=" + cn + "X,s=c2FsdA==,i=1")); err != nil {
			t.Fatal(err)
		}
		err := c.Verify([]byte(msg))
		if err == nil {
			t.Errorf("Verify(%q) = nil error, want one", msg)
		}
		if msg == "e=invalid-proof" && (err == nil || !strings.Contains(err.Error(), "invalid-proof")) {
			t.Errorf("Verify(%q) = %v, want an error that says invalid-proof", msg, err)
		}
	}

	// Messages out of order.
	if err := NewClient("secret", rand.Reader).Verify([]byte("v=")); err == nil {
		t.Errorf("Verify before Final = nil error, want one")
	}
	c := NewClient("secret", fixedNonce(0))
	if _, err := c.Final([]byte("r=" + cn + "X,s=c2FsdA==,i=1")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Final([]byte("r=" + cn + "X,s=c2FsdA==,i=1")); err == nil {
		t.Errorf("Final twice = nil error, want one")
	}
	// A failing rand.
	if _, err := NewClient("secret", iotest.ErrReader(errors.New("no entropy"))).Final([]byte("r=x,s=c2FsdA==,i=1")); err == nil {
		t.Errorf("Final after a failing rand = nil error, want one")
	}
}

func TestMD5(t *testing.T) {
	// Expected values computed with Python's hashlib.
	const secret = "md53175bce1d3201d16594cebf9d7eb3f9d"
	if got := MD5Secret("postgres", "postgres"); got != secret {
		t.Errorf("MD5Secret(postgres, postgres) = %s, want %s", got, secret)
	}
	if got, want := MD5Response(secret, [4]byte{1, 2, 3, 4}), "md568be9ed08db75f318087ab337aaea044"; got != want {
		t.Errorf("MD5Response(%s, 01020304) = %s, want %s", secret, got, want)
	}
	tests := []struct {
		in   string
		want bool
	}{
		{secret, true},
		{"md5" + strings.Repeat("0", 32), true},
		{"md5" + strings.ToUpper(secret[3:]), false},
		{"MD5" + secret[3:], false},
		{secret[:34], false},
		{secret + "0", false},
		{"md5" + strings.Repeat("g", 32), false},
		{"", false},
		{rfcVerifier, false},
	}
	for _, tt := range tests {
		if got := IsMD5Secret(tt.in); got != tt.want {
			t.Errorf("IsMD5Secret(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestPrepare(t *testing.T) {
	tests := []struct{ in, want string }{
		{"pencil", "pencil"},
		{"\x01ctl\x7f", "\x01ctl\x7f"},             // ASCII is never changed
		{"pa\u0308ss", "p\u00e4ss"},                // NFC
		{"x\u00a0y\u3000z", "x y z"},               // non-ASCII spaces map to space
		{"\ufb01x", "\ufb01x"},                     // no NFKC, unlike SASLprep
		{"a\u00adb", "a\u00adb"},                   // PRECIS rejects it: raw
		{"a\u0308\U0001F97A", "a\u0308\U0001F97A"}, // unassigned in Unicode 3.2: raw
		{"a\u0308\xff", "\u00e4\ufffd"},            // not UTF-8: as pgx, U+FFFD (PostgreSQL: raw)
	}
	for _, tt := range tests {
		if got := prepare(tt.in); got != tt.want {
			t.Errorf("prepare(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
