package wire

import "github.com/jackc/pgx/v5/pgproto3"

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
	return AppendMessageOf(dst, &pgproto3.ReadyForQuery{TxStatus: st})
}
