package proxy

import (
	"bytes"
	"io"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// readUntilReady describes the messages the proxy sends up to and
// including the next ReadyForQuery.
func readUntilReady(t *testing.T, r io.Reader) []string {
	t.Helper()
	fe := pgproto3.NewFrontend(r, io.Discard)
	var got []string
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			got = append(got, "E "+m.Code)
		case *pgproto3.ReadyForQuery:
			return append(got, "Z")
		default:
			var b bytes.Buffer
			enc, _ := m.Encode(nil)
			b.WriteByte(enc[0])
			got = append(got, b.String())
		}
	}
}

// TestStatusSessionMalformedDescribeClose: a Describe or Close whose body
// names nothing gets 08P01 on the status database (it used to panic), and
// the session goes on.
func TestStatusSessionMalformedDescribeClose(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "hard-dc"})
	p := startProxy(t, malformedConfig(t, c))
	for _, body := range [][]byte{nil, {'S'}, {'X', 0}, {'P', 'a'}, {'S', 'a', 0, 'b', 0}} {
		for _, typ := range []byte{'D', 'C'} {
			conn, err := rawDial(p.Addr)
			if err != nil {
				t.Fatal(err)
			}
			if err := rawStartupDB(conn, "postgres", statusDatabase); err != nil {
				t.Fatal(err)
			}
			msg := appendMessage(nil, typ, body)
			msg = append(msg, 'S', 0, 0, 0, 4)
			if _, err := conn.Write(msg); err != nil {
				t.Fatal(err)
			}
			if got, want := readUntilReady(t, conn), []string{"E 08P01", "Z"}; !slices.Equal(got, want) {
				t.Errorf("%c %q: got %v, want %v", typ, body, got, want)
			}
			q, _ := (&pgproto3.Query{String: "SELECT count(*) FROM helios_proxy.backends"}).Encode(nil)
			if _, err := conn.Write(q); err != nil {
				t.Fatal(err)
			}
			if got, want := readUntilReady(t, conn), []string{"T", "D", "C", "Z"}; !slices.Equal(got, want) {
				t.Errorf("%c %q: query afterwards got %v, want %v", typ, body, got, want)
			}
			conn.Close()
		}
	}
	malformedBackendHealthy(t, p)
}
