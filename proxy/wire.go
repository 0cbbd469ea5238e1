package proxy

import (
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
	sslRequestCode    = 80877103
	gssEncRequestCode = 80877104
	cancelRequestCode = 80877102
	// maxStartupPacket is PostgreSQL's MAX_STARTUP_PACKET_LENGTH.
	maxStartupPacket = 10000
	minStartupPacket = 8
)

// errProtocol marks a malformed message from a peer.
var errProtocol = errors.New("protocol violation")

func protocolErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errProtocol}, args...)...)
}

// stream is one buffered direction of a connection. It reads whole
// messages during startup and authentication, then hands its buffered
// bytes to the relay so that nothing read ahead is lost.
type stream struct {
	conn    net.Conn
	buf     []byte
	r, w    int // unread bytes are buf[r:w]
	maxBody int // largest message body accepted
	base    int // the buffer's size when nothing large is held
	// budget, if not nil, accounts for the bytes the buffer holds beyond
	// base: a message is only given room as its bytes arrive, and the
	// room comes from the budget shared by every client.
	budget *memBudget
	// waiting, if not nil, holds since when (unix nanos) a read waits on
	// the peer, 0 between reads: a session sets it until it is
	// authenticated, for evictSilentLogin.
	waiting *atomic.Int64
}

func newStream(conn net.Conn, size, maxBody int) *stream {
	return &stream{conn: conn, buf: make([]byte, size), maxBody: maxBody, base: size}
}

// memBudget bounds the memory all client streams hold beyond their base
// buffers, so that clients declaring large messages cannot exhaust the
// proxy's memory together. The zero value has no limit.
type memBudget struct {
	limit atomic.Int64 // bytes; 0: none
	used  atomic.Int64
}

// errMemory refuses a message when the buffer budget is spent.
var errMemory = &Error{Code: "53200", Message: "out of memory",
	Detail: "HeliosProxy's memory for buffered client messages (proxy.max_buffer_memory) is in use by other clients.",
	Hint:   "Retry later, or send smaller messages."}

func (m *memBudget) take(n int) bool {
	if m == nil {
		return true
	}
	if limit := m.limit.Load(); m.used.Add(int64(n)) > limit && limit > 0 {
		m.used.Add(-int64(n))
		return false
	}
	return true
}

func (m *memBudget) give(n int) {
	if m != nil {
		m.used.Add(-int64(n))
	}
}

// resize replaces the buffer by one of size bytes holding the unread
// bytes, taking the growth from the budget or giving the shrink back.
func (s *stream) resize(size int) error {
	if grow := size - len(s.buf); grow > 0 && !s.budget.take(grow) {
		return errMemory
	} else if grow < 0 {
		s.budget.give(-grow)
	}
	nb := make([]byte, size)
	s.w = copy(nb, s.buf[s.r:s.w])
	s.r = 0
	s.buf = nb
	return nil
}

// release gives back what the stream holds beyond its base buffer; the
// stream may not be used afterwards.
func (s *stream) release() {
	if len(s.buf) > s.base {
		s.budget.give(len(s.buf) - s.base)
	}
	s.buf = nil
}

// fill makes at least n unread bytes available. A message larger than the
// buffer gets more room only as its bytes arrive (doubling), never the
// size it declares up front; once it is consumed, the buffer shrinks back.
func (s *stream) fill(n int) error {
	if s.w-s.r >= n {
		return nil
	}
	if len(s.buf) > s.base && n <= s.base && s.w-s.r <= s.base {
		if err := s.resize(s.base); err != nil {
			return err
		}
	}
	if s.r+n > len(s.buf) && s.r > 0 {
		s.w = copy(s.buf, s.buf[s.r:s.w])
		s.r = 0
	}
	for s.w-s.r < n {
		if s.w == len(s.buf) {
			if err := s.resize(min(2*len(s.buf), s.r+n)); err != nil {
				return err
			}
		}
		if s.waiting != nil {
			s.waiting.Store(time.Now().UnixNano())
		}
		m, err := s.conn.Read(s.buf[s.w:])
		if s.waiting != nil {
			s.waiting.Store(0)
		}
		s.w += m
		if err != nil {
			if s.w-s.r >= n {
				return nil
			}
			if errors.Is(err, io.EOF) && s.w-s.r > 0 {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// startupPacket reads one untyped startup-phase packet: its 4-byte length,
// then the rest. The returned slice (length included) is valid until the
// next read.
func (s *stream) startupPacket() ([]byte, error) {
	if err := s.fill(4); err != nil {
		return nil, err
	}
	n := int(int32(binary.BigEndian.Uint32(s.buf[s.r:])))
	if n < minStartupPacket || n > maxStartupPacket {
		return nil, protocolErrorf("invalid startup packet length %d", n)
	}
	if err := s.fill(n); err != nil {
		return nil, err
	}
	p := s.buf[s.r : s.r+n]
	s.r += n
	return p, nil
}

// message reads one typed message. The returned slice holds the whole
// message (type and length included) and is valid until the next read.
func (s *stream) message() (byte, []byte, error) {
	if err := s.fill(5); err != nil {
		return 0, nil, err
	}
	typ := s.buf[s.r]
	n := int(int32(binary.BigEndian.Uint32(s.buf[s.r+1:])))
	if n < 4 || n-4 > s.maxBody {
		return 0, nil, protocolErrorf("invalid length %d of message type %q", n, typ)
	}
	if err := s.fill(1 + n); err != nil {
		return 0, nil, err
	}
	p := s.buf[s.r : s.r+1+n]
	s.r += 1 + n
	return typ, p, nil
}

// complete reports whether a whole message is buffered.
func (s *stream) complete() bool {
	if s.w-s.r < 5 {
		return false
	}
	n := int(int32(binary.BigEndian.Uint32(s.buf[s.r+1:])))
	return n >= 4 && s.w-s.r >= 1+n
}

// buffered returns the unread bytes and marks them read.
func (s *stream) buffered() []byte {
	p := s.buf[s.r:s.w]
	s.r, s.w = 0, 0
	return p
}

// decodeStartup classifies a startup packet (length included).
func decodeStartup(p []byte) (pgproto3.FrontendMessage, error) {
	code := binary.BigEndian.Uint32(p[4:])
	switch code {
	case sslRequestCode:
		if len(p) != 8 {
			return nil, protocolErrorf("invalid SSLRequest length %d", len(p))
		}
		return &pgproto3.SSLRequest{}, nil
	case gssEncRequestCode:
		if len(p) != 8 {
			return nil, protocolErrorf("invalid GSSENCRequest length %d", len(p))
		}
		return &pgproto3.GSSEncRequest{}, nil
	case cancelRequestCode:
		m := &pgproto3.CancelRequest{}
		if err := m.Decode(p[4:]); err != nil {
			return nil, protocolErrorf("%v", err)
		}
		return m, nil
	}
	if code>>16 != 3 {
		return nil, protocolErrorf("unsupported frontend protocol %d.%d", code>>16, code&0xffff)
	}
	m := &pgproto3.StartupMessage{}
	if err := m.Decode(p[4:]); err != nil {
		return nil, protocolErrorf("%v", err)
	}
	if m.Parameters["user"] == "" {
		return nil, protocolErrorf("no PostgreSQL user name specified in startup packet")
	}
	return m, nil
}

// msgHandler observes the messages that flow through a relay direction.
type msgHandler interface {
	// want returns how many leading body bytes of a message of type typ
	// and body length bodyLen the handler needs: 0 for none (only the
	// type), or wantWhole (holding scanners only) for the whole message,
	// which the handler may then take out of the stream. It must not have
	// side effects: a held message is asked about again.
	want(typ byte, bodyLen int) int
	// message is called once per message with up to want leading body
	// bytes, or the whole body; head is only valid during the call. It
	// returns true to take a whole message out of the stream.
	message(typ byte, head []byte) bool
}

// wantWhole asks a holding scanner for a message's whole body.
const wantWhole = -1

// Results of a holding scanner's feed besides protocol errors.
var (
	// errHold: the bytes from the returned offset start a message that must
	// be whole before it can be judged; feed them again with sc.need bytes.
	errHold = errors.New("message incomplete")
	// errTaken: the handler took the sc.taken bytes at the returned offset.
	errTaken = errors.New("message taken")
)

// scanner follows message boundaries in a byte stream without copying
// it: only message headers and the few leading body bytes a handler wants
// are looked at. A holding scanner can also hand whole messages to its
// handler and let it take them out of the stream; it never lets part of a
// header through.
type scanner struct {
	h       msgHandler
	maxBody int
	hold    bool
	need    int // after errHold: bytes needed from the returned offset
	taken   int // after errTaken: length of the taken message
	hdr     [5]byte
	hdrN    int
	typ     byte
	left    int // body bytes of the current message still to come
	acc     [128]byte
	accN    int
	accWant int
}

// feed scans p. It returns the number of bytes that may be relayed and the
// error: nil when that is all of p; errHold or errTaken for a holding
// scanner; a protocol error for a malformed header (the count then stops
// before that header, or before its part in p when it began in an earlier
// feed).
func (sc *scanner) feed(p []byte) (int, error) {
	i := 0
	for i < len(p) {
		if sc.left > 0 {
			n := min(sc.left, len(p)-i)
			if sc.accN < sc.accWant {
				k := copy(sc.acc[sc.accN:sc.accWant], p[i:i+n])
				sc.accN += k
				if sc.accN == sc.accWant {
					sc.h.message(sc.typ, sc.acc[:sc.accN])
				}
			}
			sc.left -= n
			i += n
			continue
		}
		if sc.hold {
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
func (sc *scanner) holding(p []byte) (int, error) {
	if len(p) < 5 {
		sc.need = 5
		return 0, errHold
	}
	n := int(int32(binary.BigEndian.Uint32(p[1:5])))
	if n < 4 || n-4 > sc.maxBody {
		return 0, protocolErrorf("invalid length %d of message type %q", n, p[0])
	}
	if sc.h.want(p[0], n-4) != wantWhole {
		if err := sc.header(p[0], p[1:5]); err != nil {
			return 0, err
		}
		return 5, nil
	}
	if len(p) < 1+n {
		sc.need = 1 + n
		return 0, errHold
	}
	if sc.h.message(p[0], p[5:1+n]) {
		sc.taken = 1 + n
		return 0, errTaken
	}
	return 1 + n, nil
}

func (sc *scanner) header(typ byte, length []byte) error {
	n := int(int32(binary.BigEndian.Uint32(length)))
	if n < 4 || n-4 > sc.maxBody {
		return protocolErrorf("invalid length %d of message type %q", n, typ)
	}
	sc.typ = typ
	sc.left = n - 4
	sc.accN = 0
	sc.accWant = min(max(sc.h.want(typ, sc.left), 0), sc.left, len(sc.acc))
	if sc.accWant == 0 {
		sc.h.message(typ, nil)
	}
	return nil
}

// errorFields extracts severity and SQLSTATE from the leading bytes of an
// ErrorResponse body; fields cut off by the end of head are left empty.
func errorFields(head []byte) (severity, code string) {
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
