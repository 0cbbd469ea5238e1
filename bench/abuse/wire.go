package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// statusDatabase is the database the proxy answers itself.
const statusDatabase = "helios_proxy"

const (
	dialTimeout  = 5 * time.Second
	replyTimeout = 5 * time.Second // for the first answer to a StartupMessage
	openWorkers  = 64              // connections a flood opens at a time
	censusWait   = 50 * time.Millisecond
)

// dial opens a TCP connection to the proxy.
func (e *env) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: dialTimeout}
	return d.DialContext(ctx, "tcp", e.addr)
}

// startup encodes a StartupMessage for user on database.
func startup(user, database string) []byte {
	b, _ := (&pgproto3.StartupMessage{
		ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters:      map[string]string{"user": user, "database": database, "application_name": "helios-abuse"},
	}).Encode(nil)
	return b
}

// frame is a message of type typ with body as it is. It is for the
// malformed messages pgproto3 cannot encode (a Describe with no body);
// every well-formed message goes through pgproto3.
func frame(typ byte, body []byte) []byte {
	b := binary.BigEndian.AppendUint32([]byte{typ}, uint32(4+len(body)))
	return append(b, body...)
}

// header is the first five bytes of a message of type typ whose length
// field (itself included) says n: the start of a message whose body never
// comes.
func header(typ byte, n uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{typ}, n)
}

// name describes a backend message for the report: "E 08P01",
// "AuthenticationSASL", "ReadyForQuery".
func name(msg pgproto3.BackendMessage) string {
	if m, ok := msg.(*pgproto3.ErrorResponse); ok {
		return "E " + m.Code
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", msg), "*pgproto3.")
}

// closed describes how a read ended: "EOF", "reset", "timeout".
func closed(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "reset"):
		return "reset"
	case strings.Contains(err.Error(), "EOF"):
		return "EOF"
	default:
		return err.Error()
	}
}

// firstReply reads the proxy's first message on conn, within replyTimeout.
func firstReply(conn net.Conn) string {
	_ = conn.SetReadDeadline(time.Now().Add(replyTimeout))
	defer conn.SetReadDeadline(time.Time{})
	msg, err := pgproto3.NewFrontend(conn, conn).Receive()
	if err != nil {
		return closed(err)
	}
	return name(msg)
}

// rawSession is a connection logged in through pgconn, then taken over to
// send raw messages.
type rawSession struct {
	conn net.Conn
	fe   *pgproto3.Frontend
}

// login logs in as -user on database and takes the connection over. dial,
// when not nil, opens the TCP connection (to set its buffers).
func (e *env) login(ctx context.Context, database string, dial pgconn.DialFunc) (*rawSession, error) {
	cfg, err := pgconn.ParseConfig(e.connString(database))
	if err != nil {
		return nil, err
	}
	if dial != nil {
		cfg.DialFunc = dial
	}
	pc, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	hc, err := pc.Hijack()
	if err != nil {
		pc.Close(ctx)
		return nil, err
	}
	return &rawSession{conn: hc.Conn, fe: pgproto3.NewFrontend(hc.Conn, hc.Conn)}, nil
}

// untilReady describes the messages up to and including the next
// ReadyForQuery ("Z"), within d.
func (s *rawSession) untilReady(d time.Duration) ([]string, error) {
	_ = s.conn.SetReadDeadline(time.Now().Add(d))
	defer s.conn.SetReadDeadline(time.Time{})
	var got []string
	for {
		msg, err := s.fe.Receive()
		if err != nil {
			return got, fmt.Errorf("after %v: %s", got, closed(err))
		}
		switch msg.(type) {
		case *pgproto3.ReadyForQuery:
			return append(got, "Z"), nil
		case *pgproto3.ErrorResponse:
			got = append(got, name(msg))
		default:
			// One letter per message keeps the report short: T D C.
			b, _ := msg.Encode(nil)
			got = append(got, string(b[:1]))
		}
	}
}

// usable runs a status query on the session and reports an error unless
// it answers rows.
func (s *rawSession) usable() error {
	s.fe.Send(&pgproto3.Query{String: "SELECT count(*) FROM helios_proxy.backends"})
	if err := s.fe.Flush(); err != nil {
		return err
	}
	got, err := s.untilReady(replyTimeout)
	if err != nil {
		return err
	}
	if !slices.Equal(got, []string{"T", "D", "C", "Z"}) {
		return fmt.Errorf("status query answered %v", got)
	}
	return nil
}

func (s *rawSession) Close() { s.conn.Close() }

// held are the connections of a flood, with what each one saw.
type held struct {
	mu    sync.Mutex
	conns []net.Conn
	seen  map[string]int // what the opening saw → connections
}

// flood opens n connections, openWorkers at a time, with open; open returns
// the connection (nil when it failed) and what it saw.
func (e *env) flood(ctx context.Context, n int, open func(ctx context.Context) (net.Conn, string)) *held {
	h := &held{seen: make(map[string]int)}
	var wg sync.WaitGroup
	next := make(chan struct{})
	for range min(n, openWorkers) {
		wg.Go(func() {
			for range next {
				c, saw := open(ctx)
				h.mu.Lock()
				if c != nil {
					h.conns = append(h.conns, c)
				}
				h.seen[saw]++
				h.mu.Unlock()
			}
		})
	}
	for range n {
		if ctx.Err() != nil {
			break
		}
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	return h
}

// census looks at every held connection, for censusWait at most in all,
// and counts how the proxy left it: "open" (nothing more came), the code
// of an ErrorResponse it sent ("E 08P01"), or how it closed the
// connection ("EOF", "reset").
func (h *held) census() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int)
	deadline := time.Now().Add(censusWait)
	for _, c := range h.conns {
		_ = c.SetReadDeadline(deadline)
		fe := pgproto3.NewFrontend(c, io.Discard)
		saw := ""
		for {
			msg, err := fe.Receive()
			if err == nil {
				if m, ok := msg.(*pgproto3.ErrorResponse); ok {
					saw = "E " + m.Code
				}
				continue
			}
			switch {
			case saw != "":
			case closed(err) == "timeout":
				saw = "open"
			default:
				saw = closed(err)
			}
			break
		}
		out[saw]++
	}
	return out
}

func (h *held) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.Close()
	}
	h.conns = nil
}

// tally formats counts as "1190 open, 10 EOF", the largest first.
func tally(m map[string]int) string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// proxyFDs is the proxy's open descriptors as text, or "" without -pid.
func (e *env) proxyFDs() string {
	if e.pid == 0 {
		return ""
	}
	p, err := readProc(e.pid)
	if err != nil {
		return "proxy gone: " + err.Error()
	}
	return fmt.Sprintf("proxy fds %d", p.fds)
}
