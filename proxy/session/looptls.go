package session

import (
	"crypto/tls"
	"errors"
	"io"
	"net"

	"github.com/heliosdb/heliosproxy/proxy/evloop"
	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// TLS on the loops. A pooled session's TLS client and its TLS server
// connections are read and written by the loops as plain ones are: their
// tls.Conn is made over an evloop.Pipe (startTLS, dial), which a loop
// detaches from Go's poller with the socket. The loop decrypts what the
// socket has into the stream (readTLS) on its thread, and what is written
// to the connection is encrypted by the writer, on whichever thread
// writes, and goes to the socket at once or waits in the same pending
// buffer as a plain socket's bytes (the Pipe's sink: put).
//
// A TLS connection's reads on the loop hold the connection's mu, which
// its writes hold too: crypto/tls may answer a record it reads (a
// KeyUpdate) with one it writes, through the sink.

// adoptable reports whether a loop can own conn: a plain socket, or TLS
// over an evloop.Pipe whose socket is plain (tc and pipe then).
func adoptable(conn net.Conn) (sock evloop.Socket, tc *tls.Conn, pipe *evloop.Pipe, ok bool) {
	tc, isTLS := conn.(*tls.Conn)
	if !isTLS {
		sock, ok = loopable(conn)
		return sock, nil, nil, ok
	}
	if pipe = loopPipe(conn); pipe == nil || pipe.Socket() == nil {
		return nil, nil, nil, false
	}
	sock, ok = loopable(pipe.Socket())
	return sock, tc, pipe, ok
}

// readTLS is readStream for a TLS socket: it decrypts into st the whole
// records among what the socket has, reading the socket at most as far
// as st has room for (which it makes towards need, as readStream), and
// every record crypto/tls completes, growing st for them: nothing
// decrypted stays in the tls.Conn, where no report of the loop would
// find it. The connection's mu is held.
func readTLS(tc *tls.Conn, pipe *evloop.Pipe, st *wire.Stream, need int) (bool, error) {
	if st.R == st.W {
		st.R, st.W = 0, 0
	}
	if err := st.Room(max(need, 1)); err != nil {
		return false, err
	}
	pipe.Budget(len(st.Buf) - st.W)
	read := false
	for {
		if st.W == len(st.Buf) {
			// A record larger than the room left: as much again, at
			// least a record's worth (16 KiB of plaintext).
			if err := st.Room(st.W - st.R + 16<<10); err != nil {
				return read, err
			}
		}
		n, err := tc.Read(st.Buf[st.W:])
		st.W += n
		read = read || n > 0
		switch {
		case errors.Is(err, evloop.ErrWouldBlock):
			return read, nil
		case errors.Is(err, io.EOF) && read:
			// The peer's close_notify came with its last records (libpq
			// sends Terminate and close_notify together): those first.
			// The socket at its end is reported again, and crypto/tls
			// gives io.EOF again then.
			return true, nil
		case err != nil:
			return read, err
		}
	}
}

// loopPipe is the Pipe under conn when conn is TLS over one, nil otherwise.
func loopPipe(conn net.Conn) *evloop.Pipe {
	if tc, ok := conn.(*tls.Conn); ok {
		pipe, _ := tc.NetConn().(*evloop.Pipe)
		return pipe
	}
	return nil
}

// flushRecords writes the records a loop left for conn's socket
// (reattach), before anything else.
func flushRecords(conn net.Conn) error {
	if pipe := loopPipe(conn); pipe != nil {
		return pipe.Flush()
	}
	return nil
}
