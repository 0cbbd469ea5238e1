package wire

import (
	"bytes"
	"encoding/binary"

	"github.com/jackc/pgx/v5/pgproto3"
)

// AppendMessageOf appends m, encoded by pgproto3, to dst: for the
// messages the proxy writes itself. The proxy's own messages cannot fail
// to encode (only absurd lengths do).
func AppendMessageOf(dst []byte, m pgproto3.BackendMessage) []byte {
	out, err := m.Encode(dst)
	if err != nil {
		return dst
	}
	return out
}

// AppendReady appends ReadyForQuery with transaction status st ('I', 'T'
// or 'E').
func AppendReady(dst []byte, st byte) []byte {
	return append(dst, 'Z', 0, 0, 0, 5, st)
}

// AppendParameterStatus appends a ParameterStatus reporting name's value.
func AppendParameterStatus(dst []byte, name, value string) []byte {
	dst = binary.BigEndian.AppendUint32(append(dst, 'S'), uint32(4+len(name)+1+len(value)+1))
	dst = append(dst, name...)
	dst = append(dst, 0)
	dst = append(dst, value...)
	return append(dst, 0)
}

// Messages PostgreSQL gives (08P01) for a frontend message whose body
// does not match its type's layout.
const (
	badString = "invalid string in message"
	noData    = "no data left in message"
	badFormat = "invalid message format"
	shortData = "insufficient data left in message"
)

// CheckLayout returns what PostgreSQL says of a Query, Parse, Bind,
// Describe, Close, Execute, Sync or Flush whose body (type and length
// excluded) does not have that message's layout, or "" when it does (and
// for other types): a string without its NUL, a count or length larger
// than what follows, or bytes after the end. It reads as PostgreSQL's
// pq_getmsg functions do (counts of 16 bits are unsigned), and says
// nothing of values (format codes, the statement's parameter count).
func CheckLayout(typ byte, body []byte) string {
	r := layoutReader{b: body}
	switch typ {
	case 'Q':
		r.str()
	case 'P':
		r.str()
		r.str()
		r.skip(4 * r.int(2))
	case 'B':
		r.str()
		r.str()
		r.skip(2 * r.int(2))
		for n := r.int(2); n > 0 && r.why == ""; n-- {
			if size := int32(r.int(4)); size != -1 {
				r.skip(int(size))
			}
		}
		r.skip(2 * r.int(2))
	case 'D', 'C':
		if len(r.b) == 0 {
			return noData // pq_getmsgbyte's
		}
		r.skip(1)
		r.str()
	case 'E':
		r.str()
		r.skip(4)
	case 'S', 'H':
	default:
		return ""
	}
	if r.why == "" && len(r.b) > 0 {
		return badFormat
	}
	return r.why
}

// layoutReader reads a message body as pq_getmsg does; the first problem
// sticks in why.
type layoutReader struct {
	b   []byte
	why string
}

func (r *layoutReader) str() {
	if r.why != "" {
		return
	}
	i := bytes.IndexByte(r.b, 0)
	if i < 0 {
		r.why = badString
		return
	}
	r.b = r.b[i+1:]
}

func (r *layoutReader) skip(n int) {
	if r.why != "" {
		return
	}
	if n < 0 || n > len(r.b) {
		r.why = shortData
		return
	}
	r.b = r.b[n:]
}

// int reads an unsigned integer of size 2 or 4 bytes.
func (r *layoutReader) int(size int) int {
	if r.why != "" {
		return 0
	}
	if size > len(r.b) {
		r.why = shortData
		return 0
	}
	var v int
	if size == 2 {
		v = int(binary.BigEndian.Uint16(r.b))
	} else {
		v = int(binary.BigEndian.Uint32(r.b))
	}
	r.b = r.b[size:]
	return v
}

// NegotiateProtocol returns the NegotiateProtocolVersion message that
// PostgreSQL sends right after a StartupMessage (startup, length
// included) asking for a newer minor version of protocol 3 than 3.0, or
// for protocol options (parameters named _pq_.*), none of which it knows:
// the newest version it speaks, 3.0, and those options in the order they
// came. It returns nil when PostgreSQL sends none. The options are
// deleted from params: they are no session parameters.
func NegotiateProtocol(startup []byte, params map[string]string) []byte {
	var opts [][]byte
	for p := startup[8:]; len(p) > 0 && p[0] != 0; {
		var k []byte
		k, p = CString(p)
		_, p = CString(p)
		if bytes.HasPrefix(k, []byte("_pq_.")) {
			opts = append(opts, k)
			delete(params, string(k))
		}
	}
	if binary.BigEndian.Uint16(startup[6:]) == 0 && len(opts) == 0 {
		return nil
	}
	msg := binary.BigEndian.AppendUint32(make([]byte, 0, 64), 3<<16)
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(opts)))
	for _, o := range opts {
		msg = append(append(msg, o...), 0)
	}
	return AppendMessage(nil, 'v', msg)
}
