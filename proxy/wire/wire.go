// Package wire is HeliosProxy's framing of the PostgreSQL protocol:
// buffered streams that read whole startup packets and messages within
// limits and a shared memory budget, a scanner that follows message
// boundaries in a relayed byte stream without copying it, and the small
// encoders and decoders the proxy needs besides pgproto3's.
package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Request codes of the untyped startup-phase packets.
const (
	SSLRequestCode    = 80877103
	GSSEncRequestCode = 80877104
	CancelRequestCode = 80877102
	// maxStartupPacket is PostgreSQL's MAX_STARTUP_PACKET_LENGTH.
	maxStartupPacket = 10000
	minStartupPacket = 8
)

// ErrProtocol marks a malformed message from a peer.
var ErrProtocol = errors.New("protocol violation")

func ProtocolErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}

// Stream is one buffered direction of a connection. It reads whole
// messages during startup and authentication, then hands its buffered
// bytes to the relay so that nothing read ahead is lost.
type Stream struct {
	conn    net.Conn
	Buf     []byte
	R, W    int // unread bytes are buf[r:w]
	MaxBody int // largest message body accepted
	base    int // the buffer's size when nothing large is held
	// Budget, if not nil, accounts for the bytes the buffer holds beyond
	// base: a message is only given room as its bytes arrive, and the
	// room comes from the Budget shared by every client.
	Budget *MemBudget
	// Waiting, if not nil, holds since when (unix nanos) a read waits on
	// the peer, 0 between reads (the proxy sets it until a session is
	// authenticated, to find logins stuck on a silent client).
	Waiting *atomic.Int64
}

func NewStream(conn net.Conn, size, maxBody int) *Stream {
	return &Stream{conn: conn, Buf: make([]byte, size), MaxBody: maxBody, base: size}
}

// SetConn makes the stream read from conn from now on: the same socket
// handed back by an event loop as a new connection.
func (s *Stream) SetConn(conn net.Conn) { s.conn = conn }

// MemBudget bounds the memory all client streams hold beyond their base
// buffers, so that clients declaring large messages cannot exhaust the
// proxy's memory together. The zero value has no limit.
type MemBudget struct {
	Limit atomic.Int64 // bytes; 0: none
	Used  atomic.Int64
}

// ErrMemory refuses a message when the budget is spent.
var ErrMemory = errors.New("the memory budget for buffered client messages is spent")

func (m *MemBudget) take(n int) bool {
	if m == nil {
		return true
	}
	if limit := m.Limit.Load(); m.Used.Add(int64(n)) > limit && limit > 0 {
		m.Used.Add(-int64(n))
		return false
	}
	return true
}

func (m *MemBudget) give(n int) {
	if m != nil {
		m.Used.Add(-int64(n))
	}
}

// resize replaces the buffer by one of size bytes holding the unread
// bytes, taking the growth from the budget or giving the shrink back.
func (s *Stream) resize(size int) error {
	if grow := size - len(s.Buf); grow > 0 && !s.Budget.take(grow) {
		return ErrMemory
	} else if grow < 0 {
		s.Budget.give(-grow)
	}
	nb := make([]byte, size)
	s.W = copy(nb, s.Buf[s.R:s.W])
	s.R = 0
	s.Buf = nb
	return nil
}

// Release gives back what the stream holds beyond its base buffer; the
// stream may not be used afterwards.
func (s *Stream) Release() {
	if len(s.Buf) > s.base {
		s.Budget.give(len(s.Buf) - s.base)
	}
	s.Buf = nil
}

// Fill makes at least n unread bytes available. A message larger than the
// buffer gets more room only as its bytes arrive (doubling), never the
// size it declares up front; once it is consumed, the buffer shrinks back.
func (s *Stream) Fill(n int) error {
	for s.W-s.R < n {
		if err := s.Room(n); err != nil {
			return err
		}
		if s.Waiting != nil {
			s.Waiting.Store(time.Now().UnixNano())
		}
		m, err := s.conn.Read(s.Buf[s.W:])
		if s.Waiting != nil {
			s.Waiting.Store(0)
		}
		s.W += m
		if err != nil {
			if s.W-s.R >= n {
				return nil
			}
			if errors.Is(err, io.EOF) && s.W-s.R > 0 {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// Room readies the buffer for a read towards n unread bytes, as Fill
// does before each read: it shrinks a buffer grown for a message already
// consumed, moves the unread bytes to the front when n would not fit
// after them, and grows a full buffer (doubling, up to what n needs)
// within the Budget. A caller that reads by itself (an event loop) calls
// it before each read into Buf[W:].
func (s *Stream) Room(n int) error {
	if len(s.Buf) > s.base && n <= s.base && s.W-s.R <= s.base {
		if err := s.resize(s.base); err != nil {
			return err
		}
	}
	if s.R+n > len(s.Buf) && s.R > 0 {
		s.W = copy(s.Buf, s.Buf[s.R:s.W])
		s.R = 0
	}
	if s.W == len(s.Buf) {
		return s.resize(min(2*len(s.Buf), s.R+n))
	}
	return nil
}

// StartupPacket reads one untyped startup-phase packet: its 4-byte length,
// then the rest. The returned slice (length included) is valid until the
// next read.
func (s *Stream) StartupPacket() ([]byte, error) {
	if err := s.Fill(4); err != nil {
		return nil, err
	}
	n := int(int32(binary.BigEndian.Uint32(s.Buf[s.R:])))
	if n < minStartupPacket || n > maxStartupPacket {
		return nil, ProtocolErrorf("invalid startup packet length %d", n)
	}
	if err := s.Fill(n); err != nil {
		return nil, err
	}
	p := s.Buf[s.R : s.R+n]
	s.R += n
	return p, nil
}

// Message reads one typed Message. The returned slice holds the whole
// Message (type and length included) and is valid until the next read.
func (s *Stream) Message() (byte, []byte, error) {
	if err := s.Fill(5); err != nil {
		return 0, nil, err
	}
	typ := s.Buf[s.R]
	n := int(int32(binary.BigEndian.Uint32(s.Buf[s.R+1:])))
	if n < 4 || n-4 > s.MaxBody {
		return 0, nil, ProtocolErrorf("invalid length %d of message type %q", n, typ)
	}
	if err := s.Fill(1 + n); err != nil {
		return 0, nil, err
	}
	p := s.Buf[s.R : s.R+1+n]
	s.R += 1 + n
	return typ, p, nil
}

// Complete reports whether a whole message is buffered.
func (s *Stream) Complete() bool {
	if s.W-s.R < 5 {
		return false
	}
	n := int(int32(binary.BigEndian.Uint32(s.Buf[s.R+1:])))
	return n >= 4 && s.W-s.R >= 1+n
}

// Peek returns the unread bytes, leaving them unread.
func (s *Stream) Peek() []byte { return s.Buf[s.R:s.W] }

// Buffered returns the unread bytes and marks them read.
func (s *Stream) Buffered() []byte {
	p := s.Buf[s.R:s.W]
	s.R, s.W = 0, 0
	return p
}

// DecodeStartup classifies a startup packet (length included).
func DecodeStartup(p []byte) (pgproto3.FrontendMessage, error) {
	code := binary.BigEndian.Uint32(p[4:])
	switch code {
	case SSLRequestCode:
		if len(p) != 8 {
			return nil, ProtocolErrorf("invalid SSLRequest length %d", len(p))
		}
		return &pgproto3.SSLRequest{}, nil
	case GSSEncRequestCode:
		if len(p) != 8 {
			return nil, ProtocolErrorf("invalid GSSENCRequest length %d", len(p))
		}
		return &pgproto3.GSSEncRequest{}, nil
	case CancelRequestCode:
		m := &pgproto3.CancelRequest{}
		if err := m.Decode(p[4:]); err != nil {
			return nil, ProtocolErrorf("%v", err)
		}
		return m, nil
	}
	if code>>16 != 3 {
		return nil, ProtocolErrorf("unsupported frontend protocol %d.%d", code>>16, code&0xffff)
	}
	m := &pgproto3.StartupMessage{}
	if err := m.Decode(p[4:]); err != nil {
		return nil, ProtocolErrorf("%v", err)
	}
	if m.Parameters["user"] == "" {
		return nil, ProtocolErrorf("no PostgreSQL user name specified in startup packet")
	}
	return m, nil
}

// Handler observes the messages that flow through a relay direction.
type Handler interface {
	// Want returns how many leading body bytes of a message of type typ
	// and body length bodyLen the handler needs: 0 for none (only the
	// type), or wantWhole (holding scanners only) for the whole message,
	// which the handler may then take out of the stream. It must not have
	// side effects: a held message is asked about again.
	Want(typ byte, bodyLen int) int
	// Message is called once per Message with up to want leading body
	// bytes, or the whole body; head is only valid during the call. It
	// returns true to take a whole Message out of the stream.
	Message(typ byte, head []byte) bool
}

// WantWhole asks a holding scanner for a message's whole body.
const WantWhole = -1

// Results of a holding scanner's feed besides protocol errors.
var (
	// ErrHold: the bytes from the returned offset start a message that must
	// be whole before it can be judged; feed them again with sc.need bytes.
	ErrHold = errors.New("message incomplete")
	// ErrTaken: the handler took the sc.taken bytes at the returned offset.
	ErrTaken = errors.New("message taken")
)

// Scanner follows message boundaries in a byte stream without copying
// it: only message headers and the few leading body bytes a handler wants
// are looked at. A holding Scanner can also hand whole messages to its
// handler and let it take them out of the stream; it never lets part of a
// header through.
type Scanner struct {
	H       Handler
	MaxBody int
	Hold    bool
	Need    int // after errHold: bytes needed from the returned offset
	Taken   int // after errTaken: length of the taken message
	hdr     [5]byte
	hdrN    int
	typ     byte
	left    int // body bytes of the current message still to come
	acc     [128]byte
	accN    int
	accWant int
	// TailOf, when not 0, is a message type whose last bytes (up to
	// TailSize) are handed to Tail when the whole message has been
	// scanned, after its Message call: an ErrorResponse's last fields
	// (file and routine) say where PostgreSQL raised it, and they come
	// after a message text of any length.
	TailOf   byte
	Tail     func(tail []byte, whole bool)
	tail     [TailSize]byte
	tailWant int
	tailBody bool // the current message's whole body fits in tail
}

// TailSize is how many of a message's last bytes Scanner.Tail gets.
const TailSize = 96

// Feed scans p. It returns the number of bytes that may be relayed and the
// error: nil when that is all of p; ErrHold or ErrTaken for a holding
// scanner, never wrapped (callers compare with ==, as with io.EOF:
// errors.Is would cost more than the scan on the relay's path); a
// protocol error for a malformed header (the count then stops before that
// header, or before its part in p when it began in an earlier Feed).
func (sc *Scanner) Feed(p []byte) (int, error) {
	i := 0
	for i < len(p) {
		if sc.left > 0 {
			n := min(sc.left, len(p)-i)
			if sc.accN < sc.accWant {
				k := copy(sc.acc[sc.accN:sc.accWant], p[i:i+n])
				sc.accN += k
				if sc.accN == sc.accWant {
					sc.H.Message(sc.typ, sc.acc[:sc.accN])
				}
			}
			if sc.tailWant > 0 && sc.left-n < sc.tailWant {
				// This part reaches into the message's last tailWant bytes.
				from := max(sc.left-sc.tailWant, 0)
				copy(sc.tail[sc.tailWant-(sc.left-from):], p[i+from:i+n])
			}
			sc.left -= n
			i += n
			if sc.left == 0 && sc.tailWant > 0 {
				sc.Tail(sc.tail[:sc.tailWant], sc.tailBody)
			}
			continue
		}
		if sc.Hold {
			k, err := sc.holding(p[i:])
			if err != nil {
				return i, err
			}
			i += k
			continue
		}
		// At a header boundary: fast path when the whole header is here.
		if sc.hdrN == 0 && len(p)-i >= 5 {
			if err := sc.header(p[i], p[i+1:i+5]); err != nil {
				return i, err
			}
			i += 5
			continue
		}
		k := copy(sc.hdr[sc.hdrN:], p[i:])
		sc.hdrN += k
		i += k
		if sc.hdrN == 5 {
			sc.hdrN = 0
			if err := sc.header(sc.hdr[0], sc.hdr[1:5]); err != nil {
				return i - k, err
			}
		}
	}
	return i, nil
}

// holding handles a message start at p[0] for a holding scanner: it
// returns how many bytes it consumed, or errHold/errTaken/a protocol error.
func (sc *Scanner) holding(p []byte) (int, error) {
	if len(p) < 5 {
		sc.Need = 5
		return 0, ErrHold
	}
	n := int(int32(binary.BigEndian.Uint32(p[1:5])))
	if n < 4 || n-4 > sc.MaxBody {
		return 0, ProtocolErrorf("invalid length %d of message type %q", n, p[0])
	}
	if sc.H.Want(p[0], n-4) != WantWhole {
		if err := sc.header(p[0], p[1:5]); err != nil {
			return 0, err
		}
		return 5, nil
	}
	if len(p) < 1+n {
		sc.Need = 1 + n
		return 0, ErrHold
	}
	if sc.H.Message(p[0], p[5:1+n]) {
		sc.Taken = 1 + n
		return 0, ErrTaken
	}
	return 1 + n, nil
}

func (sc *Scanner) header(typ byte, length []byte) error {
	n := int(int32(binary.BigEndian.Uint32(length)))
	if n < 4 || n-4 > sc.MaxBody {
		return ProtocolErrorf("invalid length %d of message type %q", n, typ)
	}
	sc.typ = typ
	sc.left = n - 4
	sc.accN = 0
	sc.accWant = min(max(sc.H.Want(typ, sc.left), 0), sc.left, len(sc.acc))
	sc.tailWant = 0
	if typ == sc.TailOf && sc.Tail != nil {
		sc.tailWant = min(sc.left, TailSize)
		sc.tailBody = sc.left <= TailSize
	}
	if sc.accWant == 0 {
		sc.H.Message(typ, nil)
	}
	return nil
}

// AtBoundary reports whether the scanner is between messages: nothing of
// a message it has begun is still to come.
func (sc *Scanner) AtBoundary() bool { return sc.left == 0 && sc.hdrN == 0 }

// ErrorFields extracts severity and SQLSTATE from the leading bytes of an
// ErrorResponse body; fields cut off by the end of head are left empty.
func ErrorFields(head []byte) (severity, code string) {
	for len(head) > 0 && head[0] != 0 {
		k := head[0]
		end := -1
		for j := 1; j < len(head); j++ {
			if head[j] == 0 {
				end = j
				break
			}
		}
		if end < 0 {
			return
		}
		v := head[1:end]
		switch k {
		case 'V':
			severity = string(v)
		case 'S':
			if severity == "" {
				severity = string(v)
			}
		case 'C':
			code = string(v)
		}
		head = head[end+1:]
	}
	return
}

// CString splits a NUL-terminated string off the front of b.
func CString(b []byte) (s, rest []byte) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return b, nil
	}
	return b[:i], b[i+1:]
}

// AppendMessage appends a message of type typ whose body is parts.
func AppendMessage(dst []byte, typ byte, parts ...[]byte) []byte {
	n := 4
	for _, p := range parts {
		n += len(p)
	}
	dst = append(dst, typ, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(dst[len(dst)-4:], uint32(n))
	for _, p := range parts {
		dst = append(dst, p...)
	}
	return dst
}

// OwnError reports whether an ErrorResponse with SQLSTATE code is the
// client's own doing rather than the server's trouble, whatever code it
// names: a PL/pgSQL RAISE (routine exec_stmt_raise in pl_exec.c), which may
// name any SQLSTATE (RAISE … USING ERRCODE = 'XX000'), or palloc's refusal
// of a single allocation beyond PostgreSQL's 1 GB limit (XX000 "invalid
// memory alloc request size", the only internal error of mcxt.c), which
// the statement itself asked for (repeat('x', 6e8) || repeat('x', 6e8));
// a real shortage of memory is 53200. So is a shared library that cannot
// be loaded (58P01 from dfmgr.c): the file a LOAD statement or the
// client's own local_preload_libraries startup option named (any role may
// set both, for $libdir/plugins), or one missing from the installation,
// which is a configuration problem of that backend, not its health. b is the body's end (whole: all of
// it); PostgreSQL writes the file, line and routine fields last, and a
// field's value cannot hold a NUL, so the fields after the first NUL of a
// tail are the server's own, whatever text came before them. A RAISE with
// no condition re-throws the error it caught with that error's fields, so
// a server error caught and re-raised by a function stays the server's.
func OwnError(code string, b []byte, whole bool) bool {
	if !whole {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return false
		}
		b = b[i+1:]
	}
	var file, routine []byte
	for len(b) > 0 && b[0] != 0 {
		k := b[0]
		v, rest := CString(b[1:])
		switch k {
		case 'F':
			file = v
		case 'R':
			routine = v
		}
		b = rest
	}
	switch string(file) {
	case "pl_exec.c":
		return string(routine) == "exec_stmt_raise"
	case "mcxt.c":
		return code == "XX000"
	case "dfmgr.c":
		return true
	}
	return false
}

// CancelledByUser reports whether the leading bytes of an ErrorResponse
// body are PostgreSQL's 57014 for a cancel someone asked for (a
// CancelRequest, or pg_cancel_backend, which any role may call on its own
// sessions), not for a statement_timeout: DESIGN counts only the latter as
// slow. PostgreSQL tells them apart by the message alone; a server whose
// lc_messages is not English says it in its language, which is not
// recognized (its cancels count as a statement_timeout's).
func CancelledByUser(head []byte) bool {
	code, msg := "", ""
	for len(head) > 0 && head[0] != 0 {
		k := head[0]
		v, rest := CString(head[1:])
		if rest == nil {
			return false // cut off
		}
		switch k {
		case 'C':
			code = string(v)
		case 'M':
			msg = string(v)
		}
		head = rest
	}
	return code == "57014" && msg == "canceling statement due to user request"
}

// ErrorFieldMap returns the fields of an ErrorResponse or NoticeResponse
// body by their type byte.
func ErrorFieldMap(body []byte) map[byte]string {
	f := make(map[byte]string)
	for len(body) > 0 && body[0] != 0 {
		k := body[0]
		v, rest := CString(body[1:])
		f[k] = string(v)
		body = rest
	}
	return f
}
