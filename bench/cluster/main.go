// Command cluster measures HeliosProxy's cluster layer (proxy/cluster on
// hashicorp/memberlist) on loopback and prints Markdown tables:
//
//   - propagation: how long a circuit opening made on one member takes to
//     reach each other member, and every one of them, with 3 and with 10
//     members (p50, p99 over -openings openings);
//
//   - idle cost: the CPU time and heap of the gossip per member, with 3
//     and with 10 members each holding -backends circuits, over -window.
//
//     go run ./bench/cluster [-sizes 3,10] [-backends 100] [-openings 300] [-window 30s]
//
// Member i binds 127.0.0.(i+1) (Linux routes all of 127/8 to loopback), so
// members are told apart by address as on a network; all run in this
// process, each as the proxy runs it (cluster.Node with memberlist's LAN
// settings and the proxy's gossip interval). The proxy's own part of a
// propagation is not included: publish queues the opening (no network on
// the session's goroutine) and the receiver's breaker trip takes
// microseconds; the proxy tests measure the whole path (proxy
// TestClusterRecovery). CPU is this process's (getrusage) divided by the
// members, so it includes Go's runtime for them; memory is the heap the
// members hold (after a GC) divided by the members.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/heliosdb/heliosproxy/bench/internal/machine"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy/cluster"
	"github.com/heliosdb/heliosproxy/status"
)

func main() {
	sizes := flag.String("sizes", "3,10", "cluster sizes to measure, comma-separated (at most 250)")
	backends := flag.Int("backends", 100, "circuits each member holds")
	openings := flag.Int("openings", 300, "openings timed per size")
	window := flag.Duration("window", 30*time.Second, "idle window for CPU and memory (a full state exchange every 15s falls in it)")
	relayRounds := flag.Int("relay-rounds", 3, "rounds of pgbench with cluster mode off and on (0: skip)")
	relayDuration := flag.Duration("relay-duration", 10*time.Second, "length of one pgbench run")
	relayClients := flag.Int("relay-clients", 4, "pgbench clients")
	flag.Parse()
	fmt.Printf("Machine: %s, %d CPUs, load %s, %s\n\n", machine.CPUModel(), runtime.NumCPU(), machine.LoadAvg(), runtime.Version())
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2 || n > 250 {
			fmt.Fprintf(os.Stderr, "-sizes: %q is not a size between 2 and 250\n", s)
			os.Exit(2)
		}
		ns = append(ns, n)
	}
	var prop, idle []string
	for _, n := range ns {
		h0 := heapInUse()
		c, err := start(n, *backends)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/cluster:", err)
			os.Exit(1)
		}
		idle = append(idle, c.idleCost(*window, h0))
		prop = append(prop, c.propagation(*openings))
		c.stop()
	}
	fmt.Printf("Propagation of a circuit opening from one member (%d openings per size, one every 20 ms):\n\n", *openings)
	fmt.Println("| members | to one member p50 | p99 | to every member p50 | p99 | max |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, l := range prop {
		fmt.Println(l)
	}
	fmt.Printf("\nIdle gossip cost per member (%d circuits each, over %v):\n\n", *backends, *window)
	fmt.Println("| members | CPU per member | CPU % of one core per member | heap per member |")
	fmt.Println("|---|---|---|---|")
	for _, l := range idle {
		fmt.Println(l)
	}
	if *relayRounds > 0 {
		row, err := relay(*relayRounds, *relayDuration, *relayClients)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/cluster: relay:", err)
			os.Exit(1)
		}
		fmt.Print("\nRelay throughput, pass-through session mode, median TPS of pgbench -S (cluster mode on: the proxy is the third member):\n\n")
		fmt.Println("| load | cluster off | cluster on | on / off |")
		fmt.Println("|---|---|---|---|")
		fmt.Println(row)
	}
}

// host is the proxy as a benchmark member: it records when openings
// arrive and holds backends CLOSED circuits.
type host struct {
	circuits []cluster.View
	mu       sync.Mutex
	arrived  map[string]time.Time // backend → when its opening arrived
	signal   chan string
}

func (h *host) ApplyOverride(cluster.Change)     {}
func (h *host) ApplyUserOverride(cluster.Change) {}

func (h *host) PeerOpened(backend, _ string, _ bool, _ string) {
	now := time.Now()
	h.mu.Lock()
	h.arrived[backend] = now
	h.mu.Unlock()
	select {
	case h.signal <- backend:
	default:
	}
}

func (h *host) Confirm(string)            {}
func (h *host) QuorumOpen(string, string) {}
func (h *host) Recover(string, string)    {}
func (h *host) Follow(string, bool)       {}
func (h *host) Circuits() []cluster.View  { return h.circuits }
func (h *host) arrival(b string) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.arrived[b]
	return t, ok
}

type member struct {
	node *cluster.Node
	host *host
	done chan error
}

type run struct {
	members []member
	cancel  context.CancelFunc
}

// start runs n members on 127.0.0.1 … 127.0.0.n, all joining the first,
// and returns once each sees n alive.
func start(n, backends int) (*run, error) {
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{cancel: cancel}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var first string
	for i := range n {
		ip := fmt.Sprintf("127.0.0.%d", i+1)
		addr, err := freeAddr(ip)
		if err != nil {
			r.stop()
			return nil, err
		}
		h := &host{arrived: map[string]time.Time{}, signal: make(chan string, 1)}
		for b := range backends {
			h.circuits = append(h.circuits, cluster.View{Backend: fmt.Sprintf("b%03d", b), State: status.Closed, Since: time.Now()})
		}
		cfg := config.Default().Cluster
		cfg.Enabled, cfg.NodeName, cfg.BindAddress = true, fmt.Sprintf("node-%02d", i+1), addr
		cfg.SecretKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
		cfg.RejoinInterval = config.Duration{Duration: time.Second}
		if first != "" {
			cfg.Join = []string{first}
		}
		node, err := cluster.New(cluster.Options{Config: cfg, Version: "bench", ConfigHash: "bench", Host: h, Log: log})
		if err != nil {
			r.stop()
			return nil, err
		}
		if err := node.Start(); err != nil {
			r.stop()
			return nil, err
		}
		if first == "" {
			first = addr
		}
		m := member{node: node, host: h, done: make(chan error, 1)}
		go func() { m.done <- node.Run(ctx) }()
		r.members = append(r.members, m)
	}
	deadline := time.Now().Add(time.Minute)
	for _, m := range r.members {
		for alive(m.node) < n {
			if time.Now().After(deadline) {
				r.stop()
				return nil, fmt.Errorf("%d members: %s sees %d alive after a minute", n, m.node.Name(), alive(m.node))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return r, nil
}

func alive(n *cluster.Node) int {
	k := 0
	for _, m := range n.Members(time.Now()) {
		if m.State == status.MemberAlive {
			k++
		}
	}
	return k
}

func (r *run) stop() {
	r.cancel()
	for _, m := range r.members {
		<-m.done
	}
}

// propagation times openings made on the first member, each for its own
// backend, until every other member has it.
func (r *run) propagation(openings int) string {
	src := r.members[0]
	others := r.members[1:]
	var one, every []time.Duration
	for k := range openings {
		b := fmt.Sprintf("bench-%05d", k)
		at := time.Now()
		src.node.Opened(b, true, "bench", at)
		deadline := at.Add(10 * time.Second)
		var last time.Duration
		for _, m := range others {
			for {
				if t, ok := m.host.arrival(b); ok {
					d := t.Sub(at)
					one = append(one, d)
					last = max(last, d)
					break
				}
				if time.Now().After(deadline) {
					one = append(one, 10*time.Second)
					last = 10 * time.Second
					break
				}
				select {
				case <-m.host.signal:
				case <-time.After(time.Millisecond):
				}
			}
		}
		every = append(every, last)
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Sprintf("| %d | %s | %s | %s | %s | %s |", len(r.members), pct(one, 50), pct(one, 99), pct(every, 50), pct(every, 99), pct(every, 100))
}

// idleCost measures the process's CPU time over window, and the heap in
// use after it above h0 (before the members started), each divided by
// the members.
func (r *run) idleCost(window time.Duration, h0 uint64) string {
	time.Sleep(2 * time.Second) // the members' first views and syncs settle
	u0 := cpu()
	time.Sleep(window)
	used := cpu() - u0
	heap := heapInUse() - min(h0, heapInUse())
	n := len(r.members)
	per := used / time.Duration(n)
	return fmt.Sprintf("| %d | %v per s | %.2f %% | %.2f MiB |", n, (per / time.Duration(window.Seconds())).Round(time.Microsecond),
		100*per.Seconds()/window.Seconds(), float64(heap)/float64(n)/(1<<20))
}

// heapInUse is the heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// cpu is this process's user and system CPU time so far.
func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func pct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := min(len(s)-1, (len(s)*p+99)/100-1)
	return fmtDur(s[max(i, 0)])
}

func fmtDur(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%d µs", d.Microseconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// freeAddr returns ip:port free for TCP and UDP (memberlist binds both).
func freeAddr(ip string) (string, error) {
	for range 20 {
		ln, err := net.Listen("tcp", ip+":0")
		if err != nil {
			return "", err
		}
		addr := ln.Addr().String()
		pc, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err == nil {
			pc.Close()
			return addr, nil
		}
	}
	return "", fmt.Errorf("no port of %s free for TCP and UDP", ip)
}
