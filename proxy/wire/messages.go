package wire

import (
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
