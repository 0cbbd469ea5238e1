package proxy

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/status"
)

// probes is how many HALF_OPEN probes the instance has made of backend.
func (in *instance) probes(backend string) uint64 {
	return in.srv.backend(backend).Breaker.Stats(time.Now()).ProbesTotal
}

// load runs one-query sessions through the instance until the test ends
// (each session is routed anew); errors are expected while a backend dies.
func (in *instance) load(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	host, port, _ := net.SplitHostPort(in.addr)
	wg.Go(func() {
		for ctx.Err() == nil {
			conn, err := pgx.Connect(ctx, "host="+host+" port="+port+" user=postgres dbname=postgres sslmode=disable connect_timeout=2")
			if err != nil {
				continue
			}
			var one int
			_ = conn.QueryRow(ctx, "SELECT 1").Scan(&one)
			conn.Close(context.Background())
		}
	})
}

// TestClusterRecovery: three instances on 127.0.0.1-3 before two real
// PostgreSQL servers, decision "any"; only A carries traffic. pg-a is
// SIGKILLed: A finds out, B and C stop routing there on A's word (the test prints how long
// each took). pg-a restarts: one instance (the prober, chosen by
// rendezvous hash) probes it in HALF_OPEN, the other two make no probe
// and close when it does, so every instance has it CLOSED again.
func TestClusterRecovery(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pgA := pgtest.New(t, pgtest.Options{Name: "r-a"})
	pgB := pgtest.New(t, pgtest.Options{Name: "r-b"})
	ins := threeInstances()
	// decision "any": A may find pg-a dead by its error rate (connections
	// lost under load) before its third failed connect.
	startInstances(t, testLogger(), ins, "any", func(i int, cfg *config.Config) {
		*cfg = testConfig(t, pgA, pgB)
		if i == 0 {
			cfg.HealthChecks.Interval = config.Duration{Duration: 100 * time.Millisecond}
			cfg.HealthChecks.Timeout = config.Duration{Duration: 100 * time.Millisecond}
		}
		// B and C check every 500 ms: three failed checks, their own
		// finding, would take them 1–1.5 s.
	})
	a := ins[0]
	a.load(t)
	poll(t, 10*time.Second, "A carries traffic to pg-a", func() (bool, string) {
		return a.circuitOf("pg-a").RequestsTotal > 20, ""
	})

	var subs []<-chan status.Event
	for _, in := range ins {
		subs = append(subs, in.srv.Subscribe(ctx))
	}
	if err := pgA.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	opened := isEvent(status.CircuitOpened, "pg-a")
	evA := waitEvent(t, ctx, subs[0], opened)
	t.Logf("pg-a SIGKILLed: A opened it after %v (%s: %s)", evA.Time.Sub(killed).Round(time.Millisecond), evA.Reason, evA.Detail)
	for i, in := range ins[1:] {
		ev := waitEvent(t, ctx, subs[i+1], opened)
		if !strings.HasPrefix(ev.Reason, "peer_") {
			t.Errorf("%s opened pg-a for %s (%s), want peer_hard_failure or peer_trip: A's word, before its own checks", in.name, ev.Reason, ev.Detail)
		}
		t.Logf("%s stopped routing to pg-a %v after the kill, %v after A opened it", in.name,
			ev.Time.Sub(killed).Round(time.Millisecond), ev.Time.Sub(evA.Time).Round(100*time.Microsecond))
	}
	if got, err := ins[1].sql(ctx, "SELECT circuit_state FROM helios_proxy.circuit_breaker_status WHERE backend_name = 'pg-a'"); err != nil || got != "OPEN" {
		t.Errorf("B's SQL: pg-a %q, %v; want OPEN", got, err)
	}

	// One view: B's SQL shows why A opened it, C's REST every instance's
	// circuit, and the propagation histogram counts A's opening.
	poll(t, 5*time.Second, "B's cluster_circuits shows A's reason", func() (bool, string) {
		got, err := ins[1].sql(ctx, "SELECT reason FROM helios_proxy.cluster_circuits WHERE node = 'node-a' AND backend_name = 'pg-a' AND failing")
		return err == nil && got == evA.Reason, fmt.Sprint(got, err)
	})
	var cs struct {
		Circuits []struct {
			Node         string `json:"node"`
			BackendName  string `json:"backend_name"`
			CircuitState string `json:"circuit_state"`
		} `json:"circuits"`
	}
	poll(t, 5*time.Second, "C's /cluster/status shows pg-a OPEN on all three", func() (bool, string) {
		if err := ins[2].rest("/cluster/status", &cs); err != nil {
			return false, err.Error()
		}
		open := 0
		for _, c := range cs.Circuits {
			if c.BackendName == "pg-a" && c.CircuitState == "OPEN" {
				open++
			}
		}
		return open == 3, fmt.Sprint(cs.Circuits)
	})
	if h := ins[1].srv.Snapshot().Propagation; h == nil || h.Count == 0 {
		t.Errorf("B's propagation histogram %+v, want A's opening counted", h)
	} else {
		t.Logf("B's propagation histogram: %d changes, mean %.1f ms", h.Count, 1000*h.Sum/float64(h.Count))
	}

	// Every instance knows the prober before the backend comes back.
	var prober string
	for _, in := range ins {
		poll(t, 5*time.Second, in.name+" agrees on one prober", func() (bool, string) {
			var probers []string
			for _, v := range in.srv.cluster.Load().Circuits(time.Now()) {
				if v.Backend == "pg-a" && v.Role == "prober" {
					probers = append(probers, v.Node)
				}
			}
			ok := len(probers) == 1 && (prober == "" || probers[0] == prober)
			if ok {
				prober = probers[0]
			}
			return ok, fmt.Sprint(probers)
		})
	}
	before := make([]uint64, len(ins))
	for i, in := range ins {
		before[i] = in.probes("pg-a")
	}
	restart := time.Now()
	if err := pgA.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	for i, in := range ins {
		closed := isEvent(status.CircuitClosed, "pg-a")
		ev := waitEvent(t, ctx, subs[i], closed)
		probed := in.probes("pg-a") - before[i]
		t.Logf("%s: pg-a CLOSED %v after the restart (%s), %d probes", in.name, ev.Time.Sub(restart).Round(time.Millisecond), ev.Detail, probed)
		if in.name == prober {
			if probed == 0 || ev.From != status.HalfOpen {
				t.Errorf("prober %s closed pg-a from %s after %d probes, want from HALF_OPEN after its probes", in.name, ev.From, probed)
			}
			continue
		}
		if probed != 0 || ev.From != status.Open || !strings.Contains(ev.Detail, "cluster member "+prober+" probed it") {
			t.Errorf("%s closed pg-a from %s after %d probes (%s), want from OPEN without probing, on %s's verdict", in.name, ev.From, probed, ev.Detail, prober)
		}
	}
	for i, in := range ins {
		for _, ev := range in.srv.Events(0) {
			if ev.Backend == "pg-a" && ev.Type == status.CircuitHalfOpened && in.name != prober {
				t.Errorf("%s moved pg-a to HALF_OPEN at %v (%s), want only the prober %s to", in.name, ev.Time, ev.Detail, prober)
			}
		}
		if st := in.circuitOf("pg-a"); st.CircuitState != status.Closed {
			t.Errorf("%s: pg-a %s at the end, want CLOSED", ins[i].name, st.CircuitState)
		}
	}
}
