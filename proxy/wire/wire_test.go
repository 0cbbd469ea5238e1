package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/internal/wiretest"
)

// wireCall is one msgHandler.message callback, head copied.
type wireCall struct {
	typ  byte
	head string
}

func (c wireCall) String() string { return fmt.Sprintf("%c %q", c.typ, c.head) }

// wireRecorder is a msgHandler that wants wants[typ] leading body bytes and
// records every callback.
type wireRecorder struct {
	wants map[byte]int
	calls []wireCall
}

func (r *wireRecorder) Want(typ byte, _ int) int { return r.wants[typ] }

func (r *wireRecorder) Message(typ byte, head []byte) bool {
	r.calls = append(r.calls, wireCall{typ, string(head)})
	return false
}

// wireMsg is a typed message as it appears on the
type wireMsg struct {
	typ  byte
	body []byte
}

func (m wireMsg) bytes() []byte {
	p := []byte{m.typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(p[1:], uint32(4+len(m.body)))
	return append(p, m.body...)
}

func wireConcat(msgs []wireMsg) []byte {
	var p []byte
	for _, m := range msgs {
		p = append(p, m.bytes()...)
	}
	return p
}

// wireEncode encodes a pgproto3 message as a wireMsg.
func wireEncode(t testing.TB, m pgproto3.Message) wireMsg {
	t.Helper()
	p, err := m.Encode(nil)
	if err != nil {
		t.Fatalf("encode %T: %v", m, err)
	}
	return wireMsg{typ: p[0], body: p[5:]}
}

// wireWant is what a scanner with handler wants must report for msgs: one
// callback per message with the first min(want, len(body)) body bytes.
func wireWant(msgs []wireMsg, wants map[byte]int) []wireCall {
	var calls []wireCall
	for _, m := range msgs {
		n := min(wants[m.typ], len(m.body))
		calls = append(calls, wireCall{m.typ, string(m.body[:n])})
	}
	return calls
}

// wireChunker splits a stream into the chunks fed to a scanner.
type wireChunker func(p []byte) [][]byte

func wireWhole(p []byte) [][]byte { return [][]byte{p} }

func wireBytewise(p []byte) [][]byte {
	var out [][]byte
	for i := range p {
		out = append(out, p[i:i+1])
	}
	return out
}

// wireRandom splits p into chunks of 1..max bytes drawn from a fixed seed.
func wireRandom(seed uint64, maxChunk int) wireChunker {
	return func(p []byte) [][]byte {
		r := rand.New(rand.NewPCG(seed, seed))
		var out [][]byte
		for len(p) > 0 {
			n := min(1+r.IntN(maxChunk), len(p))
			out = append(out, p[:n])
			p = p[n:]
		}
		return out
	}
}

// wireStream is the messages the scanner tests run over: every kind of body
// length around the handler's wants and the 128-byte head buffer.
func wireStream(t testing.TB) []wireMsg {
	long := &pgproto3.ErrorResponse{
		Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "57P01",
		Message: "terminating connection due to administrator command " + strings.Repeat("x", 200),
		Detail:  "a detail", Hint: "a hint",
	}
	short := &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "42601", Message: "syntax error"}
	// ErrorResponse bodies around the 128 bytes the handler wants.
	errBody := func(n int) wireMsg {
		b := []byte("SERROR\x00C22012\x00M")
		b = append(b, bytes.Repeat([]byte{'y'}, n-len(b)-2)...)
		return wireMsg{typ: 'E', body: append(b, 0, 0)}
	}
	return []wireMsg{
		wireEncode(t, &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("n"), DataTypeOID: 23, DataTypeSize: 4, TypeModifier: -1}}}),
		wireEncode(t, &pgproto3.DataRow{Values: [][]byte{[]byte("1")}}),
		wireEncode(t, &pgproto3.DataRow{Values: [][]byte{bytes.Repeat([]byte("z"), 20000)}}), // larger than any read buffer
		wireEncode(t, &pgproto3.CommandComplete{CommandTag: []byte("SELECT 2")}),
		wireEncode(t, &pgproto3.ReadyForQuery{TxStatus: 'I'}),
		wireEncode(t, long),
		wireEncode(t, short),
		errBody(127),
		errBody(128),
		errBody(129),
		{typ: 'E'}, // empty body: nothing to hand over, but still one callback
		wireEncode(t, &pgproto3.NoData{}),
		wireEncode(t, &pgproto3.NoticeResponse{Severity: "NOTICE", Code: "00000", Message: "hello"}),
		wireEncode(t, &pgproto3.ReadyForQuery{TxStatus: 'T'}),
	}
}

// wireWants are the serverHandler's wants plus a small one for DataRow.
var wireWants = map[byte]int{'E': 128, 'D': 3}

func TestScannerFeedSplits(t *testing.T) {
	msgs := wireStream(t)
	p := wireConcat(msgs)
	want := wireWant(msgs, wireWants)
	tests := []struct {
		name  string
		split wireChunker
	}{
		{"whole", wireWhole},
		{"one byte at a time", wireBytewise},
		{"random chunks up to 7 bytes", wireRandom(1, 7)},
		{"random chunks up to 200 bytes", wireRandom(2, 200)},
		{"random chunks up to 9000 bytes", wireRandom(3, 9000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &wireRecorder{wants: wireWants}
			sc := Scanner{H: h, MaxBody: 1 << 20}
			for i, c := range tt.split(p) {
				n, err := sc.Feed(c)
				if n != len(c) || err != nil {
					t.Fatalf("feed(chunk %d, %d bytes) = %d, %v; want %d, nil", i, len(c), n, err, len(c))
				}
			}
			if !reflect.DeepEqual(h.calls, want) {
				t.Errorf("callbacks = %v,\nwant %v", h.calls, want)
			}
			if sc.left != 0 || sc.hdrN != 0 {
				t.Errorf("after the last message left = %d, hdrN = %d; want 0, 0", sc.left, sc.hdrN)
			}
		})
	}
}

// TestScannerFeedEveryBoundary splits the stream in two at every offset.
func TestScannerFeedEveryBoundary(t *testing.T) {
	msgs := wireStream(t)
	msgs = append(msgs[:2], msgs[3:]...) // without the 20 kB DataRow: O(n²) below
	p := wireConcat(msgs)
	want := wireWant(msgs, wireWants)
	for i := 0; i <= len(p); i++ {
		h := &wireRecorder{wants: wireWants}
		sc := Scanner{H: h, MaxBody: 1 << 20}
		n1, err1 := sc.Feed(p[:i])
		n2, err2 := sc.Feed(p[i:])
		if n1 != i || n2 != len(p)-i || err1 != nil || err2 != nil {
			t.Fatalf("split at %d: feed = (%d, %v), (%d, %v); want (%d, nil), (%d, nil)", i, n1, err1, n2, err2, i, len(p)-i)
		}
		if !reflect.DeepEqual(h.calls, want) {
			t.Fatalf("split at %d: callbacks = %v,\nwant %v", i, h.calls, want)
		}
	}
}

func TestScannerFeedInvalidLength(t *testing.T) {
	const maxBody = 1000
	good := []wireMsg{
		{typ: 'D', body: []byte("\x00\x01\x00\x00\x00\x011")},
		{typ: 'E', body: []byte("SFATAL\x00C57P01\x00\x00")},
		{typ: 'Z', body: []byte("I")},
	}
	prefix := wireConcat(good)
	tests := []struct {
		name   string
		prefix []byte // well-formed messages before the bad header
		header []byte
	}{
		{"length 3", prefix, []byte{'Q', 0, 0, 0, 3}},
		{"length 0", prefix, []byte{'Q', 0, 0, 0, 0}},
		{"length 2^31 (negative)", prefix, []byte{'Q', 0x80, 0, 0, 0}},
		{"length -1", prefix, []byte{'Q', 0xff, 0xff, 0xff, 0xff}},
		{"body one over maxBody", prefix, []byte{'Q', 0, 0, 0x03, 0xed}}, // 1005 = 4 + 1001
		{"length 2^31-1", prefix, []byte{'Q', 0x7f, 0xff, 0xff, 0xff}},
		{"first message", nil, []byte{'Q', 0, 0, 0, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append(append(append([]byte(nil), tt.prefix...), tt.header...), "SELECT 1\x00"...)
			wantCalls := wireWant(good, wireWants)
			if tt.prefix == nil {
				wantCalls = nil
			}

			// Whole: the count is exactly the good bytes.
			h := &wireRecorder{wants: wireWants}
			sc := Scanner{H: h, MaxBody: maxBody}
			n, err := sc.Feed(in)
			if !errors.Is(err, ErrProtocol) {
				t.Errorf("feed(whole) error = %v, want one wrapping errProtocol", err)
			}
			if n != len(tt.prefix) {
				t.Errorf("feed(whole) = %d good bytes, want %d", n, len(tt.prefix))
			}
			if !reflect.DeepEqual(h.calls, wantCalls) {
				t.Errorf("feed(whole) callbacks = %v, want %v", h.calls, wantCalls)
			}

			// One byte at a time: the error comes with the header's last
			// byte; the header's first bytes may have been counted before
			// the scanner could know they were bad.
			h = &wireRecorder{wants: wireWants}
			sc = Scanner{H: h, MaxBody: maxBody}
			total, errAt := 0, -1
			for i := range in {
				n, err := sc.Feed(in[i : i+1])
				total += n
				if err != nil {
					if !errors.Is(err, ErrProtocol) {
						t.Errorf("feed(byte %d) error = %v, want one wrapping errProtocol", i, err)
					}
					if n != 0 {
						t.Errorf("feed(byte %d) = %d good bytes with the error, want 0", i, n)
					}
					errAt = i
					break
				}
			}
			if wantAt := len(tt.prefix) + 4; errAt != wantAt {
				t.Errorf("bytewise: error at byte %d, want %d (the header's last byte)", errAt, wantAt)
			}
			if total < len(tt.prefix) || total > len(tt.prefix)+4 {
				t.Errorf("bytewise: %d bytes accepted, want %d..%d", total, len(tt.prefix), len(tt.prefix)+4)
			}
			if !reflect.DeepEqual(h.calls, wantCalls) {
				t.Errorf("bytewise callbacks = %v, want %v", h.calls, wantCalls)
			}
		})
	}
}

// TestScannerFeedMaxBody checks that a body of exactly maxBody is accepted.
func TestScannerFeedMaxBody(t *testing.T) {
	const maxBody = 1000
	m := wireMsg{typ: 'Q', body: bytes.Repeat([]byte{'x'}, maxBody)}
	h := &wireRecorder{}
	sc := Scanner{H: h, MaxBody: maxBody}
	p := m.bytes()
	if n, err := sc.Feed(p); n != len(p) || err != nil {
		t.Errorf("feed(body of maxBody bytes) = %d, %v; want %d, nil", n, err, len(p))
	}
	if want := []wireCall{{'Q', ""}}; !reflect.DeepEqual(h.calls, want) {
		t.Errorf("callbacks = %v, want %v", h.calls, want)
	}
}

func TestErrorFields(t *testing.T) {
	body := func(e *pgproto3.ErrorResponse) []byte {
		p, err := e.Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		return p[5:]
	}
	fatal := body(&pgproto3.ErrorResponse{
		Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "57P01",
		Message: "terminating connection due to administrator command " + strings.Repeat("m", 200),
	})
	localized := body(&pgproto3.ErrorResponse{Severity: "ВАЖНО", SeverityUnlocalized: "FATAL", Code: "53300", Message: "слишком много подключений"})
	cut := func(p []byte, after string) []byte {
		i := bytes.Index(p, []byte(after))
		if i < 0 {
			t.Fatalf("%q not in %q", after, p)
		}
		return p[:i+len(after)]
	}
	tests := []struct {
		name         string
		head         []byte
		wantSeverity string
		wantCode     string
	}{
		{"whole FATAL", fatal, "FATAL", "57P01"},
		{"first 128 bytes", fatal[:128], "FATAL", "57P01"},
		{"ERROR without V", body(&pgproto3.ErrorResponse{Severity: "ERROR", Code: "42P01", Message: "no such table"}), "ERROR", "42P01"},
		{"V wins over localized S", localized, "FATAL", "53300"},
		{"V before S", []byte("VPANIC\x00SПАНИКА\x00CXX000\x00\x00"), "PANIC", "XX000"},
		{"cut inside the code", cut(fatal, "C57P"), "FATAL", ""},
		{"cut before the code's NUL", cut(fatal, "C57P01"), "FATAL", ""},
		{"cut after the code's NUL", cut(fatal, "C57P01\x00"), "FATAL", "57P01"},
		{"cut inside V", cut(localized, "VFAT"), "ВАЖНО", ""},
		{"cut inside S", cut(fatal, "SFA"), "", ""},
		{"only the field type", []byte("S"), "", ""},
		{"no code field", body(&pgproto3.ErrorResponse{Severity: "WARNING", Message: "m"}), "WARNING", ""},
		{"terminator only", []byte{0}, "", ""},
		{"empty", []byte{}, "", ""},
		{"nil", nil, "", ""},
		{"fields after the terminator are ignored", []byte("SERROR\x00\x00C42601\x00"), "ERROR", ""},
	}
	for _, tt := range tests {
		sev, code := ErrorFields(tt.head)
		if sev != tt.wantSeverity || code != tt.wantCode {
			t.Errorf("%s: errorFields(%q) = %q, %q; want %q, %q", tt.name, tt.head, sev, code, tt.wantSeverity, tt.wantCode)
		}
	}
}

func TestDecodeStartup(t *testing.T) {
	key32 := bytes.Repeat([]byte{7}, 32)
	tests := []struct {
		name    string
		p       []byte
		want    pgproto3.FrontendMessage // nil: an error wrapping errProtocol
		wantErr bool
	}{
		{"SSLRequest", wiretest.Startup(t, &pgproto3.SSLRequest{}), &pgproto3.SSLRequest{}, false},
		{"SSLRequest with payload", wiretest.Packet(SSLRequestCode, "junk"), nil, true},
		{"GSSENCRequest", wiretest.Startup(t, &pgproto3.GSSEncRequest{}), &pgproto3.GSSEncRequest{}, false},
		{"GSSENCRequest with payload", wiretest.Packet(GSSEncRequestCode, "junk"), nil, true},
		{"CancelRequest 3.0", wiretest.Startup(t, &pgproto3.CancelRequest{ProcessID: 42, SecretKey: []byte{1, 2, 3, 4}}),
			&pgproto3.CancelRequest{ProcessID: 42, SecretKey: []byte{1, 2, 3, 4}}, false},
		{"CancelRequest 3.2 with a 32-byte key", wiretest.Startup(t, &pgproto3.CancelRequest{ProcessID: 7, SecretKey: key32}),
			&pgproto3.CancelRequest{ProcessID: 7, SecretKey: key32}, false},
		{"CancelRequest without key", wiretest.Packet(CancelRequestCode, "\x00\x00\x00\x2a"), nil, true},
		{"CancelRequest without process id", wiretest.Packet(CancelRequestCode, ""), nil, true},
		{"StartupMessage 3.0", wiretest.Startup(t, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "alice", "database": "db"}}),
			&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "alice", "database": "db"}}, false},
		{"StartupMessage 3.2", wiretest.Startup(t, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion32, Parameters: map[string]string{"user": "bob"}}),
			&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion32, Parameters: map[string]string{"user": "bob"}}, false},
		{"protocol 2.0", wiretest.Startup(t, &pgproto3.StartupMessage{ProtocolVersion: 2 << 16, Parameters: map[string]string{"user": "alice"}}), nil, true},
		{"protocol 4.0", wiretest.Startup(t, &pgproto3.StartupMessage{ProtocolVersion: 4 << 16, Parameters: map[string]string{"user": "alice"}}), nil, true},
		{"protocol 1234.5679 (unknown request code)", wiretest.Packet(1234<<16|5679, "user\x00a\x00\x00"), nil, true},
		{"missing user", wiretest.Startup(t, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"database": "db"}}), nil, true},
		{"no parameters", wiretest.Packet(pgproto3.ProtocolVersion30, "\x00"), nil, true},
		{"nothing after the version", wiretest.Packet(pgproto3.ProtocolVersion30, ""), nil, true},
		{"unterminated parameter list", wiretest.Packet(pgproto3.ProtocolVersion30, "user\x00alice\x00"), nil, true},
		{"unterminated value", wiretest.Packet(pgproto3.ProtocolVersion30, "user\x00alice"), nil, true},
	}
	for _, tt := range tests {
		got, err := DecodeStartup(tt.p)
		if tt.wantErr {
			if !errors.Is(err, ErrProtocol) {
				t.Errorf("%s: decodeStartup(%q) = %#v, %v; want an error wrapping errProtocol", tt.name, tt.p, got, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: decodeStartup(%q) = %#v, %v; want %#v, nil", tt.name, tt.p, got, err, tt.want)
		}
	}
}

func TestStreamStartupPacket(t *testing.T) {
	packet := func(n int) []byte { // a packet whose length field is n, n bytes long
		p := wiretest.Uint32(uint32(n))
		p = append(p, wiretest.Uint32(pgproto3.ProtocolVersion30)...)
		return append(p, bytes.Repeat([]byte{'x'}, n-8)...)
	}
	tests := []struct {
		name    string
		in      []byte
		wantLen int   // length of the packet returned, when wantErr is nil
		wantErr error // errProtocol, io.EOF or io.ErrUnexpectedEOF
	}{
		{"length 8, the minimum", packet(8), 8, nil},
		{"length 10000, the maximum", packet(10000), 10000, nil},
		{"length 0", wiretest.Uint32(0), 0, ErrProtocol},
		{"length 4", wiretest.Uint32(4), 0, ErrProtocol},
		{"length 7", append(wiretest.Uint32(7), 0, 3, 0), 0, ErrProtocol},
		{"length 10001", append(wiretest.Uint32(10001), make([]byte, 10001-4)...), 0, ErrProtocol},
		{"length 2^31", wiretest.Uint32(1 << 31), 0, ErrProtocol},
		{"length 2^31-1", wiretest.Uint32(1<<31 - 1), 0, ErrProtocol},
		{"length 2^32-1", wiretest.Uint32(1<<32 - 1), 0, ErrProtocol},
		{"nothing", nil, 0, io.EOF},
		{"two bytes of the length", []byte{0, 0}, 0, io.ErrUnexpectedEOF},
		{"truncated packet", packet(40)[:20], 0, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		for _, chunk := range []int{0, 1, 3} {
			s := NewStream(&wiretest.Conn{In: tt.in, Chunk: chunk}, 16, 1<<20)
			p, err := s.StartupPacket()
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("%s, reads of %d: startupPacket() = %d bytes, %v; want error %v", tt.name, chunk, len(p), err, tt.wantErr)
				}
				continue
			}
			if err != nil || !bytes.Equal(p, tt.in[:tt.wantLen]) {
				t.Errorf("%s, reads of %d: startupPacket() = %d bytes, %v; want the %d-byte packet, nil", tt.name, chunk, len(p), err, tt.wantLen)
			}
		}
	}
}

func TestStreamMessage(t *testing.T) {
	const maxBody = 1000
	msg := func(typ byte, n int) []byte { return wireMsg{typ: typ, body: bytes.Repeat([]byte{'b'}, n)}.bytes() }
	tests := []struct {
		name    string
		in      []byte
		wantErr error // nil: the whole input is one message
	}{
		{"empty body", msg('S', 0), nil},
		{"body of maxBody bytes, larger than the buffer", msg('Q', maxBody), nil},
		{"body one over maxBody", msg('Q', maxBody+1), ErrProtocol},
		{"body over maxBody, only the header sent", msg('Q', maxBody+1)[:5], ErrProtocol},
		{"length 3", []byte{'Q', 0, 0, 0, 3}, ErrProtocol},
		{"length 0", []byte{'Q', 0, 0, 0, 0}, ErrProtocol},
		{"length 2^31", []byte{'Q', 0x80, 0, 0, 0}, ErrProtocol},
		{"length 2^31-1", []byte{'Q', 0x7f, 0xff, 0xff, 0xff}, ErrProtocol},
		{"nothing", nil, io.EOF},
		{"truncated header", []byte{'Q', 0, 0}, io.ErrUnexpectedEOF},
		{"truncated body", msg('Q', 100)[:50], io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		for _, chunk := range []int{0, 1, 7} {
			s := NewStream(&wiretest.Conn{In: tt.in, Chunk: chunk}, 16, maxBody)
			typ, p, err := s.Message()
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("%s, reads of %d: message() = %q, %d bytes, %v; want error %v", tt.name, chunk, typ, len(p), err, tt.wantErr)
				}
				continue
			}
			if err != nil || typ != tt.in[0] || !bytes.Equal(p, tt.in) {
				t.Errorf("%s, reads of %d: message() = %q, %d bytes, %v; want %q, %d bytes, nil", tt.name, chunk, typ, len(p), err, tt.in[0], len(tt.in))
			}
		}
	}
}

// TestStreamBuffered checks that the bytes read ahead of the startup
// packet and messages are handed over, once.
func TestStreamBuffered(t *testing.T) {
	start := wiretest.Startup(t, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "u"}})
	pw := wireMsg{typ: 'p', body: []byte("secret\x00")}.bytes()
	rest := wireConcat([]wireMsg{{typ: 'Q', body: []byte("SELECT 1\x00")}, {typ: 'X'}})
	in := slices.Concat(start, pw, rest)
	s := NewStream(&wiretest.Conn{In: in}, 64, 1000)
	if p, err := s.StartupPacket(); err != nil || !bytes.Equal(p, start) {
		t.Fatalf("startupPacket() = %q, %v; want %q, nil", p, err, start)
	}
	if typ, p, err := s.Message(); err != nil || typ != 'p' || !bytes.Equal(p, pw) {
		t.Fatalf("message() = %q, %q, %v; want 'p', %q, nil", typ, p, err, pw)
	}
	if got := s.Buffered(); !bytes.Equal(got, rest) {
		t.Errorf("buffered() = %q, want %q", got, rest)
	}
	if got := s.Buffered(); len(got) != 0 {
		t.Errorf("second buffered() = %q, want nothing", got)
	}
}

// wireBenchHandler is a handler like serverHandler: it wants ErrorResponse
// heads and counts ReadyForQuery.
type wireBenchHandler struct{ ready int }

func (h *wireBenchHandler) Want(typ byte, _ int) int {
	if typ == 'E' {
		return 128
	}
	return 0
}

func (h *wireBenchHandler) Message(typ byte, head []byte) bool {
	if typ == 'Z' {
		h.ready++
	}
	return false
}

func BenchmarkScannerFeed(b *testing.B) {
	var msgs []wireMsg
	for len(msgs) < 64 {
		msgs = append(msgs,
			wireEncode(b, &pgproto3.DataRow{Values: [][]byte{[]byte("42"), []byte("alice"), nil}}),
			wireEncode(b, &pgproto3.DataRow{Values: [][]byte{[]byte("43"), []byte("bob"), []byte("2024-01-01")}}),
			wireEncode(b, &pgproto3.CommandComplete{CommandTag: []byte("SELECT 2")}),
			wireEncode(b, &pgproto3.ReadyForQuery{TxStatus: 'I'}),
		)
	}
	p := wireConcat(msgs)
	h := &wireBenchHandler{}
	sc := Scanner{H: h, MaxBody: 1 << 20}
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if n, err := sc.Feed(p); n != len(p) || err != nil {
			b.Fatalf("feed = %d, %v; want %d, nil", n, err, len(p))
		}
	}
	if h.ready == 0 {
		b.Fatal("no ReadyForQuery seen")
	}
}

// TestScannerFeedAllocs guards BenchmarkScannerFeed's 0 allocs/op.
func TestScannerFeedAllocs(t *testing.T) {
	p := wireConcat(wireStream(t))
	h := &wireBenchHandler{}
	sc := Scanner{H: h, MaxBody: 1 << 20}
	chunks := wireRandom(4, 300)(p)
	allocs := testing.AllocsPerRun(100, func() {
		for _, c := range chunks {
			if _, err := sc.Feed(c); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("feed allocates %v times per stream, want 0", allocs)
	}
}

// FuzzScanner feeds arbitrary bytes to a scanner whole and in two chunks:
// the callbacks and the outcome must be the same however the input is
// split.
func FuzzScanner(f *testing.F) {
	for _, m := range wireStream(f) {
		f.Add(m.bytes())
	}
	f.Add(wireConcat(wireStream(f)))
	f.Fuzz(fuzzScanner)
}

// fuzzScanner feeds in to a scanner whole and in two chunks split at a
// data-derived point: the callbacks and the outcome must be the same.
func fuzzScanner(t *testing.T, in []byte) {
	const maxBody = 4096
	whole := &wireRecorder{wants: map[byte]int{'E': 128, 'D': 3, 'Q': 1}}
	sc := Scanner{H: whole, MaxBody: maxBody}
	n, werr := sc.Feed(in)
	if n < 0 || n > len(in) {
		t.Fatalf("feed(%q) = %d, want 0..%d", in, n, len(in))
	}
	if (werr == nil) != (n == len(in)) {
		t.Errorf("feed(%q) = %d, %v: an error must come with fewer bytes, and only then", in, n, werr)
	}
	if werr != nil && !errors.Is(werr, ErrProtocol) {
		t.Errorf("feed(%q) error %v does not wrap errProtocol", in, werr)
	}

	split := 0
	if len(in) > 0 {
		split = int(in[0]) * len(in) / 256
	}
	parts := &wireRecorder{wants: whole.wants}
	sc = Scanner{H: parts, MaxBody: maxBody}
	n1, err := sc.Feed(in[:split])
	total := n1
	if err == nil {
		var n2 int
		n2, err = sc.Feed(in[split:])
		total += n2
		if n2 < 0 || n2 > len(in)-split {
			t.Fatalf("feed(%q) after a split at %d = %d, want 0..%d", in[split:], split, n2, len(in)-split)
		}
	}
	if (err == nil) != (werr == nil) {
		t.Errorf("split at %d: error %v, whole: %v", split, err, werr)
	}
	if total < n || total > n+4 || (werr == nil && total != n) {
		t.Errorf("split at %d: %d bytes accepted, whole: %d", split, total, n)
	}
	if !reflect.DeepEqual(parts.calls, whole.calls) {
		t.Errorf("split at %d: callbacks %v, whole: %v", split, parts.calls, whole.calls)
	}
}

// TestAppendOwnMessages: the proxy's hand-encoded messages are byte for
// byte what pgproto3 encodes, after what dst held.
func TestAppendOwnMessages(t *testing.T) {
	prefix := []byte("prefix")
	for _, p := range [][2]string{{"application_name", "pgbench"}, {"TimeZone", ""}, {"x", "é ü"}} {
		want, _ := (&pgproto3.ParameterStatus{Name: p[0], Value: p[1]}).Encode(slices.Clone(prefix))
		if got := AppendParameterStatus(slices.Clone(prefix), p[0], p[1]); !bytes.Equal(got, want) {
			t.Errorf("AppendParameterStatus(%q, %q) = %q, want %q", p[0], p[1], got, want)
		}
	}
	for _, st := range []byte{'I', 'T', 'E'} {
		want, _ := (&pgproto3.ReadyForQuery{TxStatus: st}).Encode(slices.Clone(prefix))
		if got := AppendReady(slices.Clone(prefix), st); !bytes.Equal(got, want) {
			t.Errorf("AppendReady(%q) = %q, want %q", st, got, want)
		}
	}
}

func TestCheckLayout(t *testing.T) {
	enc := func(m pgproto3.FrontendMessage) []byte {
		b, err := m.Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		return b[5:]
	}
	bind := enc(&pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "s", ParameterFormatCodes: []int16{1},
		Parameters: [][]byte{{0, 0, 0, 1}, nil}, ResultFormatCodes: []int16{0, 1}})
	tests := []struct {
		name string
		typ  byte
		body []byte
		want string
	}{
		{"Query", 'Q', []byte("SELECT 1\x00"), ""},
		{"Query without NUL", 'Q', []byte("SELECT 1"), badString},
		{"Query with a byte after", 'Q', []byte("SELECT 1\x00x"), badFormat},
		{"Parse", 'P', enc(&pgproto3.Parse{Name: "s", Query: "SELECT $1", ParameterOIDs: []uint32{23}}), ""},
		{"Parse, count 65535", 'P', []byte("s\x00q\x00\xff\xff"), shortData},
		{"Parse without count", 'P', []byte("s\x00q\x00"), shortData},
		{"Bind", 'B', bind, ""},
		{"Bind cut in its last format", 'B', bind[:len(bind)-1], shortData},
		{"Bind with a byte after", 'B', append(slices.Clone(bind), 0), badFormat},
		{"Bind, parameter length -2", 'B', []byte("\x00s\x00\x00\x00\x00\x01\xff\xff\xff\xfe\x00\x00"), shortData},
		{"Bind, parameter longer than the body", 'B', []byte("\x00s\x00\x00\x00\x00\x01\x00\x00\x00\x09ab\x00\x00"), shortData},
		{"Describe", 'D', []byte("Ss\x00"), ""},
		{"empty Describe", 'D', nil, noData},
		{"Close with a byte after", 'C', []byte("Ps\x00x"), badFormat},
		{"Execute", 'E', []byte("\x00\x00\x00\x00\x00"), ""},
		{"Execute without a row limit", 'E', []byte("\x00"), shortData},
		{"Sync", 'S', nil, ""},
		{"Sync with a body", 'S', []byte{0}, badFormat},
		{"Flush with a body", 'H', []byte{0}, badFormat},
		{"CopyData: not checked", 'd', []byte{1, 2}, ""},
	}
	for _, tt := range tests {
		if got := CheckLayout(tt.typ, tt.body); got != tt.want {
			t.Errorf("CheckLayout(%s) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestOwnError: a PL/pgSQL RAISE and palloc's 1 GB limit are told apart
// from PostgreSQL's own trouble by the file and routine PostgreSQL names,
// last in the message, whatever the message text before it, and from the
// last bytes a Scanner hands its Tail however the stream is split.
func TestOwnError(t *testing.T) {
	body := func(e *pgproto3.ErrorResponse) []byte {
		p, err := e.Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		return p[5:]
	}
	raise := func(msg string) *pgproto3.ErrorResponse {
		return &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "XX000", Message: msg,
			Where: "PL/pgSQL function inline_code_block line 1 at RAISE", File: "pl_exec.c", Line: 3891, Routine: "exec_stmt_raise"}
	}
	tests := []struct {
		name string
		e    *pgproto3.ErrorResponse
		want bool
	}{
		{"RAISE", raise("x"), true},
		{"RAISE with a long message", raise(strings.Repeat("m", 5000)), true},
		{"RAISE whose text names the routine", raise("\x52exec_stmt_raise Fpl_exec.c"), true},
		{"a server error", &pgproto3.ErrorResponse{Severity: "ERROR", Code: "XX000", Message: "could not read block 0", File: "bufmgr.c", Line: 1, Routine: "ReadBuffer_common"}, false},
		{"a server error whose text looks like a RAISE", &pgproto3.ErrorResponse{Severity: "ERROR", Code: "53200", Message: "Rexec_stmt_raise", File: "mcxt.c", Routine: "MemoryContextAlloc"}, false},
		{"a caught server error re-raised", &pgproto3.ErrorResponse{Severity: "ERROR", Code: "22012", Message: "division by zero", Where: "PL/pgSQL function inline_code_block line 1 at PERFORM", File: "int.c", Line: 869, Routine: "int4div"}, false},
		{"no routine", &pgproto3.ErrorResponse{Severity: "FATAL", Code: "57P01", Message: "terminating connection"}, false},
		{"a library that cannot be loaded", &pgproto3.ErrorResponse{Severity: "FATAL", Code: "58P01", Message: `could not access file "$libdir/plugins/nope": No such file or directory`, File: "dfmgr.c", Line: 208, Routine: "internal_load_library"}, true},
		{"a server's own file error", &pgproto3.ErrorResponse{Severity: "ERROR", Code: "58P01", Message: `could not open file "base/5/16384": No such file or directory`, File: "md.c", Line: 700, Routine: "mdopenfork"}, false},
		{"palloc beyond 1 GB", &pgproto3.ErrorResponse{Severity: "ERROR", Code: "XX000", Message: "invalid memory alloc request size 1200000004", File: "mcxt.c", Line: 1104, Routine: "palloc"}, true},
		{"out of memory", &pgproto3.ErrorResponse{Severity: "ERROR", Code: "53200", Message: "out of memory", Detail: "Failed on request of size 8192 in memory context \"ExecutorState\".", File: "mcxt.c", Line: 1000, Routine: "palloc"}, false},
	}
	for _, tt := range tests {
		b := body(tt.e)
		if got := OwnError(tt.e.Code, b, true); got != tt.want {
			t.Errorf("%s: OwnError(whole) = %v, want %v", tt.name, got, tt.want)
		}
		msgs := []wireMsg{{'E', b}, {'Z', []byte{'I'}}}
		p := wireConcat(msgs)
		for i := 0; i <= len(p); i += max(1, len(p)/300) {
			var got []bool
			sc := Scanner{H: &wireRecorder{wants: wireWants}, MaxBody: 1 << 20, TailOf: 'E',
				Tail: func(tail []byte, whole bool) {
					if whole != (len(b) <= TailSize) || !bytes.HasSuffix(b, tail) || len(tail) != min(len(b), TailSize) {
						t.Fatalf("%s, split at %d: tail %q (whole %v) is not the body's end", tt.name, i, tail, whole)
					}
					got = append(got, OwnError(tt.e.Code, tail, whole))
				}}
			if _, err := sc.Feed(p[:i]); err != nil {
				t.Fatal(err)
			}
			if _, err := sc.Feed(p[i:]); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Fatalf("%s, split at %d: Tail said %v, want [%v]", tt.name, i, got, tt.want)
			}
		}
	}
}

// TestCancelledByUser: PostgreSQL's 57014 for a cancel is told apart from
// a statement_timeout's by its message, from the first bytes of the body.
func TestCancelledByUser(t *testing.T) {
	body := func(code, msg string) []byte {
		p, err := (&pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: code, Message: msg,
			File: "postgres.c", Line: 3349, Routine: "ProcessInterrupts"}).Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		return p[5:]
	}
	user := body("57014", "canceling statement due to user request")
	tests := []struct {
		name string
		head []byte
		want bool
	}{
		{"a cancel", user, true},
		{"the first 128 bytes of a cancel", user[:min(128, len(user))], true},
		{"cut inside the message", user[:bytes.Index(user, []byte("user"))], false},
		{"a statement_timeout", body("57014", "canceling statement due to statement timeout"), false},
		{"a localized cancel", body("57014", "storniere Anfrage wegen Benutzeraufforderung"), false},
		{"another code with the message", body("P0001", "canceling statement due to user request"), false},
	}
	for _, tt := range tests {
		if got := CancelledByUser(tt.head); got != tt.want {
			t.Errorf("%s: CancelledByUser = %v, want %v", tt.name, got, tt.want)
		}
	}
}
