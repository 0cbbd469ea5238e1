package session

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy/backend"
	"github.com/heliosdb/heliosproxy/proxy/pattern"
	"github.com/heliosdb/heliosproxy/proxy/tenant"
	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// benchSession is a session attached to a backend with a real breaker but
// no connections: enough to drive both relay handlers.
func benchSession(tb testing.TB) *session {
	tb.Helper()
	cfg := config.Default()
	b := config.DefaultBackend()
	b.Name, b.Host = "bench", "127.0.0.1"
	cfg.Backends.Instances = []config.Backend{b}
	f := newFront(tb, cfg)
	be := f.backends[0]
	t, err := be.Breaker.Allow(time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	ss := &session{s: f.Front, b: be, ticket: t}
	ss.local.init(ss)
	return ss
}

// encode concatenates wire messages.
func encode(tb testing.TB, msgs ...pgproto3.Message) []byte {
	tb.Helper()
	var out []byte
	for _, m := range msgs {
		var err error
		if out, err = m.Encode(out); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// pgbenchSelect is pgbench -S's query and its answer.
func pgbenchSelect(b *testing.B) (query, reply []byte) {
	query = encode(b, &pgproto3.Query{String: "SELECT abalance FROM pgbench_accounts WHERE aid = 4711;"})
	reply = encode(b,
		&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("abalance"), DataTypeOID: 23, DataTypeSize: 4, TypeModifier: -1}}},
		&pgproto3.DataRow{Values: [][]byte{[]byte("0")}},
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")},
		&pgproto3.ReadyForQuery{TxStatus: 'I'},
	)
	return query, reply
}

// BenchmarkRelayQuery measures the relay's own work for one simple query:
// scanning the client's Query (request start, generation ticket) and the
// backend's RowDescription, DataRow, CommandComplete and ReadyForQuery
// (latency and outcome recorded in the breaker). Syscalls are not included.
func BenchmarkRelayQuery(b *testing.B) {
	benchRelayQuery(b, benchSession(b))
}

// BenchmarkRelayQueryUserLimits is BenchmarkRelayQuery for a role with
// user-level breakers on: its rate limit (never reached) and its breaker
// (isolation on) on every request, besides the backend's admission limit.
func BenchmarkRelayQueryUserLimits(b *testing.B) {
	ss := benchSession(b)
	cfg := config.Default()
	cfg.CircuitBreaker.UserLevelBreakersEnabled, cfg.CircuitBreaker.UserIsolationOnAbuse = true, true
	cfg.CircuitBreaker.PerUserRateLimit = 1 << 30
	reg := tenant.New(tenant.Config{Enabled: true, Rate: 1 << 30, Isolation: true, Breaker: backend.BreakerConfig(cfg, config.Backend{})}, "", slog.New(slog.DiscardHandler))
	ss.s.Tenants, ss.role, ss.roleDB = reg, "app", "shop"
	benchRelayQuery(b, ss)
	if u := reg.Users(time.Now()); len(u) != 1 || u[0].RequestsTotal == 0 {
		b.Fatalf("role not counted: %+v", u)
	}
}

func benchRelayQuery(b *testing.B, ss *session) {
	query, reply := pgbenchSelect(b)
	ch := &clientHandler{ss: ss, ctx: context.Background()}
	c2b := wire.Scanner{H: ch, MaxBody: 1 << 20}
	sh := &serverHandler{ss: ss}
	sh.sc = wire.Scanner{H: sh, MaxBody: 1 << 20}
	b.ReportAllocs()
	b.SetBytes(int64(len(query) + len(reply)))
	for b.Loop() {
		ch.now = 0
		if _, err := c2b.Feed(query); err != nil {
			b.Fatal(err)
		}
		if _, err := sh.sc.Feed(reply); err != nil {
			b.Fatal(err)
		}
	}
	if st := ss.b.Breaker.Stats(time.Now()); st.RequestsTotal == 0 {
		b.Fatal("no request recorded")
	}
}

// TestRelayQueryRecordsLatencyAndOutcome checks what the benchmark drives:
// a ReadyForQuery records one request per Query, failures by SQLSTATE.
func TestRelayQueryRecordsLatencyAndOutcome(t *testing.T) {
	ss := benchSession(t)
	ch := &clientHandler{ss: ss, ctx: context.Background()}
	c2b := wire.Scanner{H: ch, MaxBody: 1 << 20}
	sh := &serverHandler{ss: ss}
	sh.sc = wire.Scanner{H: sh, MaxBody: 1 << 20}
	feed := func(sc *wire.Scanner, p []byte) {
		if _, err := sc.Feed(p); err != nil {
			t.Fatal(err)
		}
	}
	q := encode(t, &pgproto3.Query{String: "SELECT 1"})
	ok := encode(t, &pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")}, &pgproto3.ReadyForQuery{TxStatus: 'I'})
	app := encode(t, &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "42P01", Message: "no such table"}, &pgproto3.ReadyForQuery{TxStatus: 'I'})
	disk := encode(t, &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "53100", Message: "disk full"}, &pgproto3.ReadyForQuery{TxStatus: 'I'})
	for _, reply := range [][]byte{ok, app, disk} {
		ch.now = 0
		feed(&c2b, q)
		if start, _, _ := ss.pending.Oldest(); start == 0 {
			t.Fatal("Query did not start a pending request")
		}
		feed(&sh.sc, reply)
		if start, _, _ := ss.pending.Oldest(); start != 0 {
			t.Fatal("ReadyForQuery did not end the pending request")
		}
	}
	st := ss.b.Breaker.Stats(time.Now())
	// The application's 42P01 is excluded; the success and the disk-full failure count.
	if st.RequestsTotal < 2 || st.SuccessesTotal != 1 || st.FailuresTotal != 1 {
		t.Errorf("totals: requests %d, successes %d, failures %d; want ≥2, 1, 1", st.RequestsTotal, st.SuccessesTotal, st.FailuresTotal)
	}
	if st.State != breaker.Closed {
		t.Errorf("state = %s, want CLOSED", st.State)
	}
}

// TestInflightCountsOnlyTheCurrentState: a request begun before the last
// transition (a query still sleeping on a backend that recovered since)
// is not in flight for the state the circuit is in now.
func TestInflightCountsOnlyTheCurrentState(t *testing.T) {
	ss := benchSession(t)
	b := ss.b
	b.Track(ss)
	defer b.Untrack(ss)
	start := time.Now().Add(-time.Minute)
	ss.pending.Push(start.UnixNano(), b.Breaker.Current(), pattern.Req{})
	if in := b.Inflight(time.Now(), time.Second, 0); in.Count != 1 || in.OverP95 != 1 {
		t.Fatalf("before any transition: %+v; want 1 in flight, 1 over p95", in)
	}
	for _, s := range []breaker.State{breaker.Open, breaker.Closed} {
		if _, ok := b.Breaker.Force(s, time.Now()); !ok {
			t.Fatalf("Force(%s) made no transition", s)
		}
	}
	if in := b.Inflight(time.Now(), time.Second, 0); in.Count != 0 || in.OverP95 != 0 {
		t.Errorf("after OPEN and CLOSED: %+v; want nothing in flight", in)
	}
	// The request admitted after the transitions counts again.
	ss.pending.Pop()
	ss.pending.Push(start.UnixNano(), b.Breaker.Current(), pattern.Req{})
	if in := b.Inflight(time.Now(), time.Second, 0); in.Count != 1 || in.OverP95 != 1 {
		t.Errorf("a request of the current state: %+v; want 1 in flight, 1 over p95", in)
	}
}

// BenchmarkRelayQueryBreakers is BenchmarkRelayQuery with the client side
// scanned as the relay does (holding each Query whole), with query-level
// breakers off and on (no pattern tracked: the cost every query pays), and
// on with one other pattern tracked (then every query also looks its
// pattern up).
func BenchmarkRelayQueryBreakers(b *testing.B) {
	for _, mode := range []string{"off", "on", "on-tracked"} {
		b.Run(mode, func(b *testing.B) {
			ss := benchSession(b)
			if mode != "off" {
				reg := pattern.New(pattern.Config{Enabled: true, Slow: time.Second,
					Breaker: pattern.BreakerConfig(ss.b.Breaker.Config(), time.Second, 5*time.Second)})
				ss.s.Patterns = reg
				if mode == "on-tracked" {
					other := []byte("SELECT pg_sleep($1)")
					q, _ := reg.Admit(reg.Key(other), other, ss.s.clock)
					reg.Finish(q, 2*time.Second, breaker.Success, time.Now())
					if reg.Len() != 1 {
						b.Fatal("no pattern tracked")
					}
				}
			}
			query, reply := pgbenchSelect(b)
			ch := &clientHandler{ss: ss, ctx: context.Background()}
			c2b := wire.Scanner{H: ch, MaxBody: 1 << 20, Hold: true}
			sh := &serverHandler{ss: ss}
			sh.sc = wire.Scanner{H: sh, MaxBody: 1 << 20}
			b.ReportAllocs()
			for b.Loop() {
				ch.now = 0
				if n, err := c2b.Feed(query); err != nil || n != len(query) {
					b.Fatal(n, err)
				}
				if _, err := sh.sc.Feed(reply); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
