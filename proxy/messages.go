package proxy

import "github.com/jackc/pgx/v5/pgproto3"

// appendMessageOf appends m, encoded by pgproto3, to dst: for the
// messages the proxy writes itself. The proxy's own messages cannot fail
// to encode (only absurd lengths do).
func appendMessageOf(dst []byte, m pgproto3.BackendMessage) []byte {
	out, err := m.Encode(dst)
	if err != nil {
		return dst
	}
	return out
}

// appendReady appends ReadyForQuery with transaction status st ('I', 'T'
// or 'E').
func appendReady(dst []byte, st byte) []byte {
	return appendMessageOf(dst, &pgproto3.ReadyForQuery{TxStatus: st})
}
