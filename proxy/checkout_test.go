package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/status"
)

// checkoutSchema is the shop each backend holds, with the initial stock
// and the number of products to fill in. The txid columns record the
// server transaction that wrote each row, so that the test sees whether
// the statements of a client's transaction ran in one server transaction
// (the checkout's SELECT returns it too). The role app commits
// synchronously: pgtest clusters run with synchronous_commit off, where a
// commit is acknowledged before its WAL leaves shared memory and a SIGKILL
// may lose it; the test needs every acknowledged commit to be durable.
const checkoutSchema = `
CREATE TABLE products (id int PRIMARY KEY, stock int NOT NULL);
CREATE TABLE orders (order_key text PRIMARY KEY, worker int NOT NULL, n int NOT NULL, backend_port int NOT NULL, created timestamptz NOT NULL DEFAULT now(),
	txid bigint NOT NULL DEFAULT txid_current());
CREATE TABLE order_items (order_key text NOT NULL REFERENCES orders, product_id int NOT NULL, qty int NOT NULL,
	txid bigint NOT NULL DEFAULT txid_current());
INSERT INTO products SELECT g, %d FROM generate_series(1, %d) g;
GRANT ALL ON products, orders, order_items TO app;
ALTER ROLE app SET synchronous_commit = on;
`

const (
	checkoutProducts     = 20
	checkoutInitialStock = 1000000
)

// checkoutProduct is the product attempt n of worker w buys (both client
// groups use the same formula).
func checkoutProduct(w, n int) int { return (w*7+n)%checkoutProducts + 1 }

// checkoutPy runs workers psycopg2 clients, one thread and one connection
// each. It prints a JSON line when they are connected, waits for a line on
// stdin to start, and prints one line per attempt and one when a worker
// ends.
const checkoutPy = `
import json, sys, threading, time
try:
    import psycopg2
except ImportError as e:
    sys.stderr.write("import psycopg2 failed: %s\n" % e)
    sys.exit(3)

dsn, first, workers, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
out_lock = threading.Lock()

def emit(rec):
    line = json.dumps(rec)
    with out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

def product(w, n):
    return (w * 7 + n) % 20 + 1

connected = threading.Barrier(workers + 1)
go = threading.Event()

def worker(w):
    conn = None
    try:
        conn = psycopg2.connect(dsn)
        conn.autocommit = False
    except Exception as e:
        emit({"kind": "fatal", "worker": w, "error": "connect: %s" % e})
        conn = None
    finally:
        connected.wait()
    if conn is None:
        return
    go.wait()
    try:
        checkouts(w, conn)
    except Exception as e:
        emit({"kind": "fatal", "worker": w, "error": "%s: %s" % (type(e).__name__, e)})

def checkouts(w, conn):
    reconnects = 0
    for n in range(per):
        if conn.closed != 0:
            reconnects += 1
            try:
                conn = psycopg2.connect(dsn)
                conn.autocommit = False
            except Exception as e:
                emit({"kind": "fatal", "worker": w, "error": "reconnect: %s" % e})
                return
        key = "w%d-n%d" % (w, n)
        p = product(w, n)
        rec = {"kind": "attempt", "worker": w, "n": n, "ok": False, "sqlstate": "", "port": 0, "txid": 0, "error": "", "start": time.time()}
        try:
            cur = conn.cursor()
            rec["step"] = "select"
            cur.execute("SELECT stock, inet_server_port(), txid_current() FROM products WHERE id = %s FOR UPDATE", (p,))
            row = cur.fetchone()
            rec["port"], rec["txid"] = row[1], row[2]
            rec["step"] = "insert order"
            cur.execute("INSERT INTO orders(order_key, worker, n, backend_port) VALUES (%s, %s, %s, inet_server_port())", (key, w, n))
            rec["step"] = "insert items"
            cur.execute("INSERT INTO order_items(order_key, product_id, qty) VALUES (%s, %s, 1), (%s, %s, 2)", (key, p, key, p % 20 + 1))
            rec["step"] = "update"
            cur.execute("UPDATE products SET stock = stock - 1 WHERE id = %s", (p,))
            rec["step"] = "commit"
            conn.commit()
            rec["ok"] = True
            rec["step"] = ""
        except Exception as e:
            rec["sqlstate"] = getattr(e, "pgcode", None) or ""
            rec["error"] = str(e).strip()
            if conn.closed == 0:
                try:
                    conn.rollback()
                except Exception as e2:
                    rec["error"] += "; rollback: %s" % str(e2).strip()
        rec["end"] = time.time()
        rec["closed"] = conn.closed != 0
        emit(rec)
    emit({"kind": "done", "worker": w, "reconnects": reconnects})
    conn.close()

threads = [threading.Thread(target=worker, args=(w,)) for w in range(first, first + workers)]
for t in threads:
    t.start()
connected.wait()
emit({"kind": "ready"})
sys.stdin.readline()
go.set()
for t in threads:
    t.join()
`

// checkoutAttempt is one checkout transaction as its client saw it.
type checkoutAttempt struct {
	Group      string // "pgx" or "psycopg2"
	Worker, N  int
	Start, End time.Time
	OK         bool
	SQLState   string // of the failure, "" if none or not a server error
	Err        string
	Port       int    // the backend port the SELECT returned, 0 if it did not get that far
	Step       string // the statement that failed
	TxID       int64  // the server transaction the SELECT ran in, 0 if it did not get that far
	Closed     bool   // the client connection was closed after the attempt
}

func (a checkoutAttempt) key() string { return fmt.Sprintf("w%d-n%d", a.Worker, a.N) }

// checkoutLog collects attempts from both client groups and says when the
// kill is due.
type checkoutLog struct {
	mu       sync.Mutex
	attempts []checkoutAttempt
	commits  map[int]int // committed attempts per backend port
	trigger  int
	due      chan struct{} // closed when trigger attempts have finished
}

func (l *checkoutLog) add(a checkoutAttempt) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempts = append(l.attempts, a)
	if a.OK {
		l.commits[a.Port]++
	}
	if len(l.attempts) == l.trigger {
		close(l.due)
	}
}

// busiest returns the port among ports with the most commits so far, 0
// if none has any.
func (l *checkoutLog) busiest(ports []int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	port, most := 0, 0
	for _, p := range ports {
		if n := l.commits[p]; n > most {
			port, most = p, n
		}
	}
	return port
}

// TestCheckoutLoadSurvivesBackendKill: 50 workers (25 pgx in its default
// mode, 25 psycopg2) run 100 checkout transactions each through a
// transaction-mode proxy in front of three backends, one of which is
// SIGKILLed a third of the way through. Only the transactions in flight on
// the killed backend may fail, every client connection survives, every
// acknowledged commit is in the backend that made it, and nothing commits
// twice.
func TestCheckoutLoadSurvivesBackendKill(t *testing.T) {
	const (
		pgxWorkers = 25
		pyWorkers  = 25
		workers    = pgxWorkers + pyWorkers
		perWorker  = 100
		total      = workers * perWorker
		killAfter  = total / 3
		// openSlack allows for the time between the breaker's transition
		// and the router acting on it, and for Python's clock readings.
		openSlack = 50 * time.Millisecond
	)
	python := "/usr/bin/python3"
	if out, err := exec.Command(python, "-c", "import psycopg2").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import psycopg2 (%v): %s; make test installs it (apt-get install python3-psycopg2)", python, err, bytes.TrimSpace(out))
	}
	script := filepath.Join(t.TempDir(), "checkout.py")
	if err := os.WriteFile(script, []byte(checkoutPy), 0o600); err != nil {
		t.Fatal(err)
	}

	clusters, p := pooledSetup(t, 3, "transaction", func(c *config.Config) {
		c.Pool.DefaultPoolSize = 10
		// Under test is the reaction to a killed backend. 50 workers, three
		// clusters and Python share two cores here: the latency rule and
		// the connect timeout are set so that the machine's own slowness
		// does not open circuits (it did, at load start, with 500 ms and 2 s).
		c.CircuitBreaker.LatencyThresholdP95Ms = 10000
		c.CircuitBreaker.LatencyThresholdP99Ms = 20000
		c.Proxy.ConnectTimeout = config.Duration{Duration: 10 * time.Second}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	names := make([]string, len(clusters))
	byPort := make(map[int]int) // cluster index by port
	for i, c := range clusters {
		if err := c.Exec(ctx, fmt.Sprintf(checkoutSchema, checkoutInitialStock, checkoutProducts)); err != nil {
			t.Fatalf("schema on %s: %v", c.Name, err)
		}
		names[i] = p.Snapshot().Backends[i].Name
		byPort[c.Port] = i
		checkSyncCommit(t, ctx, c)
	}

	// Events from before the load on, to learn when the killed backend's
	// circuit opened.
	evCtx, evCancel := context.WithCancel(ctx)
	var events []status.Event
	evDone := make(chan struct{})
	defer func() {
		evCancel()
		<-evDone
	}()
	evStream := p.Subscribe(evCtx)
	go func() {
		defer close(evDone)
		for ev := range evStream {
			events = append(events, ev)
		}
	}()

	results := &checkoutLog{commits: make(map[int]int), trigger: killAfter, due: make(chan struct{})}
	dsn := p.dsn("app", "app-secret") + " connect_timeout=10"
	loadCtx, loadCancel := context.WithTimeout(ctx, 100*time.Second)
	defer loadCancel()

	var (
		pgxReconnects      atomic.Int64
		pyReconnects       atomic.Int64
		pyFatal            []string
		pyStderr           bytes.Buffer
		pyErr              error
		victim             = -1
		killStart, killEnd time.Time
		killErr            error
		loadDone           = make(chan struct{})
		loadStart, loadEnd time.Time
		// connected counts down as the clients connect: the load starts,
		// at start, once all have.
		connected                     sync.WaitGroup
		start                         = make(chan struct{})
		workersWG, readerWG, killerWG sync.WaitGroup
	)
	cmd := exec.CommandContext(loadCtx, python, script, dsn, fmt.Sprint(pgxWorkers), fmt.Sprint(pyWorkers), fmt.Sprint(perWorker))
	cmd.Stderr = &pyStderr
	cmd.WaitDelay = 5 * time.Second
	pyIn, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pyOut, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", python, err)
	}
	connected.Add(pgxWorkers + 1)
	readerWG.Go(func() {
		var once sync.Once
		defer once.Do(connected.Done) // if the script ends before it is ready
		sc := bufio.NewScanner(pyOut)
		for sc.Scan() {
			var l struct {
				Kind, SQLState, Error, Step string
				Worker, N, Port             int
				Start, End                  float64
				OK, Closed                  bool
				Reconnects                  int
				TxID                        int64
			}
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				pyFatal = append(pyFatal, fmt.Sprintf("bad line %q: %v", sc.Text(), err))
				continue
			}
			switch l.Kind {
			case "ready":
				once.Do(connected.Done)
			case "attempt":
				results.add(checkoutAttempt{Group: "psycopg2", Worker: l.Worker, N: l.N, Start: pyTime(l.Start), End: pyTime(l.End),
					OK: l.OK, SQLState: l.SQLState, Err: l.Error, Port: l.Port, Step: l.Step, TxID: l.TxID, Closed: l.Closed})
			case "done":
				pyReconnects.Add(int64(l.Reconnects))
			default:
				pyFatal = append(pyFatal, fmt.Sprintf("worker %d: %s", l.Worker, l.Error))
			}
		}
		pyErr = errors.Join(sc.Err(), cmd.Wait())
	})
	for w := range pgxWorkers {
		workersWG.Go(func() {
			pgxReconnects.Add(int64(runPgxCheckouts(loadCtx, dsn, w, perWorker, connected.Done, start, results.add)))
		})
	}
	connected.Wait()
	loadStart = time.Now()
	close(start)
	_, err = io.WriteString(pyIn, "go\n")
	if err := errors.Join(err, pyIn.Close()); err != nil {
		t.Errorf("start the psycopg2 workers: %v", err)
	}
	killerWG.Go(func() {
		select {
		case <-results.due:
		case <-loadDone:
			return
		}
		// The busiest backend whose circuit is closed, so that the kill
		// is what isolates it.
		var closed []int
		for i, b := range p.Snapshot().Backends {
			if b.CircuitState == status.Closed {
				closed = append(closed, clusters[i].Port)
			}
		}
		victim = 0
		if i, ok := byPort[results.busiest(closed)]; ok {
			victim = i
		}
		killStart = time.Now()
		killErr = clusters[victim].Kill()
		killEnd = time.Now()
	})
	workersWG.Wait()
	readerWG.Wait()
	loadEnd = time.Now()
	close(loadDone)
	killerWG.Wait()

	if killErr != nil {
		t.Fatalf("kill: %v", killErr)
	}
	if pyErr != nil || len(pyFatal) > 0 {
		t.Errorf("psycopg2 workers: %v %q\nstderr:\n%s", pyErr, pyFatal, pyStderr.String())
	}
	attempts := results.attempts
	if victim < 0 {
		t.Fatalf("the kill never came: %d of %d attempts finished (%v)", len(attempts), total, loadCtx.Err())
	}
	victimName, victimPort := names[victim], clusters[victim].Port

	// Read what the backends hold, the killed one restarted.
	if err := clusters[victim].Restart(ctx); err != nil {
		t.Fatalf("restart %s: %v", clusters[victim].Name, err)
	}
	stored := make(map[string][]storedOrder)
	for i, c := range clusters {
		for _, o := range readOrders(t, ctx, c) {
			o.backend = i
			stored[o.key] = append(stored[o.key], o)
		}
	}
	evCancel()
	<-evDone

	var openAt time.Time
	for _, ev := range events {
		if ev.Type == status.CircuitOpened && ev.Backend == victimName && !ev.Time.Before(killStart) {
			openAt = ev.Time
			break
		}
	}

	// The report.
	// Failures with unexpected codes come first, so that a capped report
	// shows them.
	var ok, failed, lost []checkoutAttempt
	for _, a := range attempts {
		switch {
		case a.OK:
			ok = append(ok, a)
		case lossCode(a.SQLState):
			lost = append(lost, a)
		default:
			failed = append(failed, a)
		}
	}
	failed = append(failed, lost...)
	elapsed := loadEnd.Sub(loadStart)
	t.Logf("load: %d attempts in %v (%.0f tx/s): %d committed, %d failed", len(attempts), elapsed.Round(time.Millisecond),
		float64(len(attempts))/elapsed.Seconds(), len(ok), len(failed))
	for _, g := range []string{"pgx", "psycopg2"} {
		var lat []time.Duration
		nFail := 0
		for _, a := range attempts {
			switch {
			case a.Group != g:
			case a.OK:
				lat = append(lat, a.End.Sub(a.Start))
			default:
				nFail++
			}
		}
		t.Logf("%s: %d committed, %d failed; latency of committed p50 %v p95 %v p99 %v max %v", g, len(lat), nFail,
			percentile(lat, 0.50), percentile(lat, 0.95), percentile(lat, 0.99), percentile(lat, 1))
	}
	t.Logf("kill: %s (port %d) after %d attempts, took %v; client reconnections: pgx %d, psycopg2 %d",
		victimName, victimPort, killAfter, killEnd.Sub(killStart).Round(time.Microsecond), pgxReconnects.Load(), pyReconnects.Load())
	if openAt.IsZero() {
		t.Errorf("no CircuitOpened event for %s after the kill", victimName)
		openAt = killEnd
	} else {
		t.Logf("kill to CircuitOpened: %v (from the end of the kill: %v)", openAt.Sub(killStart).Round(time.Microsecond), openAt.Sub(killEnd).Round(time.Microsecond))
	}
	for _, ev := range events {
		t.Logf("event %s %s %s→%s (%s) at kill%+v", ev.Type, ev.Backend, ev.From, ev.To, ev.Reason, ev.Time.Sub(killStart).Round(time.Millisecond))
	}
	codes := make(map[string]int)
	for i, a := range failed {
		codes[a.SQLState]++
		if i == 60 {
			t.Logf("… and %d more failed attempts", len(failed)-i)
		}
		if i >= 60 {
			continue
		}
		t.Logf("failed: %s w%d-n%d at %s, sqlstate %q port %d started at kill%+v, ended at kill%+v: %s", a.Group, a.Worker, a.N, a.Step, a.SQLState, a.Port,
			a.Start.Sub(killStart).Round(time.Millisecond), a.End.Sub(killStart).Round(time.Millisecond), a.Err)
	}
	t.Logf("failure codes: %v", codes)

	// Per-attempt problems are reported up to a point, per kind: a broken
	// run should not print thousands of lines, nor hide one kind behind
	// another.
	closedErrs := &errorCap{t: t, max: 10, what: "closed client connections"}
	flightErrs := &errorCap{t: t, max: 25, what: "failures not in flight on the killed backend"}
	storeErrs := &errorCap{t: t, max: 25, what: "problems with stored orders"}
	defer closedErrs.done()
	defer flightErrs.done()
	defer storeErrs.done()

	// 1. Every worker made all its attempts on the connection it opened.
	perW := make(map[int][]int)
	for _, a := range attempts {
		perW[a.Worker] = append(perW[a.Worker], a.N)
	}
	for w := range workers {
		ns := perW[w]
		slices.Sort(ns)
		if len(ns) != perWorker || ns[0] != 0 || ns[len(ns)-1] != perWorker-1 || len(slices.Compact(ns)) != perWorker {
			t.Errorf("worker %d made %d distinct attempts, want %d", w, len(slices.Compact(ns)), perWorker)
		}
	}
	if n := pgxReconnects.Load() + pyReconnects.Load(); n != 0 {
		t.Errorf("client connections re-opened: pgx %d, psycopg2 %d; want 0", pgxReconnects.Load(), pyReconnects.Load())
	}
	for _, a := range attempts {
		if a.Closed {
			closedErrs.Errorf("%s %s: the client connection was closed: %s", a.Group, a.key(), a.Err)
		}
	}

	// 2. Failures are the transactions in flight on the killed backend.
	if len(failed) > workers {
		t.Errorf("%d transactions failed, want at most %d (one per worker)", len(failed), workers)
	}
	for _, a := range failed {
		var why []string
		if !a.Start.Before(openAt.Add(openSlack)) {
			why = append(why, fmt.Sprintf("started %v after %s's circuit opened", a.Start.Sub(openAt).Round(time.Millisecond), victimName))
		}
		if !a.End.After(killStart) {
			why = append(why, fmt.Sprintf("ended %v before the kill", killStart.Sub(a.End).Round(time.Millisecond)))
		}
		if a.Port != 0 && a.Port != victimPort {
			why = append(why, fmt.Sprintf("ran on port %d, not on the killed %d", a.Port, victimPort))
		}
		if !lossCode(a.SQLState) {
			why = append(why, fmt.Sprintf("SQLSTATE %q, want class 08 or 57P01/57P02/57P03", a.SQLState))
		}
		if len(why) > 0 {
			flightErrs.Errorf("%s %s failed but was not in flight on %s: %s (error: %s)", a.Group, a.key(), victimName, strings.Join(why, "; "), a.Err)
		}
	}

	// 3. Every acknowledged commit is stored once, where it was made; a
	// failed attempt is stored only where the acknowledgement could be lost.
	attempted := make(map[string]checkoutAttempt, len(attempts))
	for _, a := range attempts {
		attempted[a.key()] = a
	}
	for key, copies := range stored {
		if len(copies) > 1 {
			storeErrs.Errorf("order %s is stored %d times (backends %v)", key, len(copies), copies)
		}
		if _, ok := attempted[key]; !ok {
			storeErrs.Errorf("order %s is stored on %s but no client attempted it", key, names[copies[0].backend])
		}
		for _, o := range copies {
			if o.items != 2 || o.itemsSameTx != 2 {
				storeErrs.Errorf("order %s on %s has %d items, %d of them written by its transaction; want 2: a client transaction was split (the client saw %s)",
					key, names[o.backend], o.items, o.itemsSameTx, okText(attempted[key].OK))
			}
		}
	}
	for _, a := range ok {
		copies := stored[a.key()]
		switch {
		case len(copies) == 0:
			storeErrs.Errorf("%s %s was committed on port %d but is stored nowhere", a.Group, a.key(), a.Port)
		case clusters[copies[0].backend].Port != a.Port || copies[0].port != a.Port:
			storeErrs.Errorf("%s %s was committed on port %d but is stored on %s (port %d) with backend_port %d",
				a.Group, a.key(), a.Port, names[copies[0].backend], clusters[copies[0].backend].Port, copies[0].port)
		case copies[0].txid != a.TxID:
			storeErrs.Errorf("%s %s was committed, but its SELECT ran in server transaction %d and its INSERT in %d: the transaction was split",
				a.Group, a.key(), a.TxID, copies[0].txid)
		}
	}
	lostAcks := 0
	for _, a := range failed {
		copies := stored[a.key()]
		if len(copies) == 0 {
			continue
		}
		lostAcks++
		if copies[0].backend != victim {
			storeErrs.Errorf("%s %s failed (%s) but is stored on %s, which was not killed", a.Group, a.key(), a.SQLState, names[copies[0].backend])
		}
	}
	perBackend := make([]int, len(clusters))
	for _, copies := range stored {
		perBackend[copies[0].backend]++
	}
	for i, c := range clusters {
		sold := readSold(t, ctx, c)
		if sold != perBackend[i] {
			t.Errorf("%s: stock went down by %d, but it stores %d orders", names[i], sold, perBackend[i])
		}
	}
	t.Logf("stored orders per backend %v: %v; failed attempts stored anyway (acknowledgement lost): %d", names, perBackend, lostAcks)
}

// errorCap reports the first max errors and counts the rest.
type errorCap struct {
	t    *testing.T
	max  int
	what string
	n    int
}

func (c *errorCap) Errorf(format string, args ...any) {
	c.t.Helper()
	c.n++
	if c.n <= c.max {
		c.t.Errorf(format, args...)
	}
}

// done reports how many errors were left out.
func (c *errorCap) done() {
	c.t.Helper()
	if c.n > c.max {
		c.t.Errorf("… and %d more %s", c.n-c.max, c.what)
	}
}

// runPgxCheckouts runs one pgx worker's attempts on one connection in
// pgx's default mode, reconnecting only when the connection is closed. It
// calls connected once it tried to connect and starts when start is
// closed. It returns the number of reconnections.
func runPgxCheckouts(ctx context.Context, dsn string, w, per int, connected func(), start <-chan struct{}, add func(checkoutAttempt)) int {
	conn, connErr := pgx.Connect(ctx, dsn)
	connected()
	defer func() {
		if conn != nil {
			_ = conn.Close(context.Background())
		}
	}()
	select {
	case <-start:
	case <-ctx.Done():
	}
	reconnects := 0
	for n := range per {
		a := checkoutAttempt{Group: "pgx", Worker: w, N: n, Start: time.Now()}
		if conn == nil || conn.IsClosed() {
			if conn != nil {
				reconnects++
			}
			if conn, connErr = pgx.Connect(ctx, dsn); connErr != nil {
				conn = nil
			}
		}
		if conn == nil {
			a.Err = "connect: " + connErr.Error()
			a.End, a.Closed = time.Now(), true
			add(a)
			continue
		}
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := pgxCheckout(actx, conn, &a)
		cancel()
		a.End = time.Now()
		if err != nil {
			a.Err = err.Error()
			var pe *pgconn.PgError
			if errors.As(err, &pe) {
				a.SQLState = pe.Code
			}
		}
		a.OK = err == nil
		a.Closed = conn.IsClosed()
		add(a)
	}
	return reconnects
}

// pgxCheckout runs one checkout transaction, noting in a the backend port
// it saw.
func pgxCheckout(ctx context.Context, conn *pgx.Conn, a *checkoutAttempt) error {
	key, p := a.key(), checkoutProduct(a.Worker, a.N)
	a.Step = "begin"
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	err = func() error {
		var stock int
		a.Step = "select"
		if err := tx.QueryRow(ctx, "SELECT stock, inet_server_port(), txid_current() FROM products WHERE id = $1 FOR UPDATE", p).Scan(&stock, &a.Port, &a.TxID); err != nil {
			return err
		}
		a.Step = "insert order"
		if _, err := tx.Exec(ctx, "INSERT INTO orders(order_key, worker, n, backend_port) VALUES ($1, $2, $3, inet_server_port())", key, a.Worker, a.N); err != nil {
			return err
		}
		a.Step = "insert items"
		if _, err := tx.Exec(ctx, "INSERT INTO order_items(order_key, product_id, qty) VALUES ($1, $2, 1), ($1, $3, 2)", key, p, p%checkoutProducts+1); err != nil {
			return err
		}
		a.Step = "update"
		if _, err := tx.Exec(ctx, "UPDATE products SET stock = stock - 1 WHERE id = $1", p); err != nil {
			return err
		}
		a.Step = "commit"
		return tx.Commit(ctx)
	}()
	if err == nil {
		a.Step = ""
	}
	if err != nil {
		// After a failed Commit the transaction is closed already.
		if rb := tx.Rollback(ctx); rb != nil && !errors.Is(rb, pgx.ErrTxClosed) {
			return fmt.Errorf("%w; rollback: %v", err, rb)
		}
	}
	return err
}

// checkSyncCommit checks that app's sessions on c commit synchronously.
func checkSyncCommit(t *testing.T, ctx context.Context, c *pgtest.Cluster) {
	t.Helper()
	conn, err := pgx.Connect(ctx, c.DSN("app", "app-secret", "postgres"))
	if err != nil {
		t.Fatalf("connect to %s as app: %v", c.Name, err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SHOW synchronous_commit").Scan(&v); err != nil || v != "on" {
		t.Fatalf("synchronous_commit for app on %s = %q, %v; want on", c.Name, v, err)
	}
}

// storedOrder is an order as a backend stores it.
type storedOrder struct {
	key         string
	port        int   // backend_port column
	txid        int64 // the server transaction that inserted it
	items       int
	itemsSameTx int // items inserted by that transaction
	backend     int // index of the cluster it is stored on
}

func readOrders(t *testing.T, ctx context.Context, c *pgtest.Cluster) []storedOrder {
	t.Helper()
	conn, err := pgx.Connect(ctx, c.DSN(c.User, c.Password, "postgres"))
	if err != nil {
		t.Fatalf("connect to %s: %v", c.Name, err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT o.order_key, o.backend_port, o.txid,
		(SELECT count(*) FROM order_items i WHERE i.order_key = o.order_key),
		(SELECT count(*) FROM order_items i WHERE i.order_key = o.order_key AND i.txid = o.txid)
		FROM orders o`)
	if err != nil {
		t.Fatalf("read orders of %s: %v", c.Name, err)
	}
	var out []storedOrder
	for rows.Next() {
		var o storedOrder
		if err := rows.Scan(&o.key, &o.port, &o.txid, &o.items, &o.itemsSameTx); err != nil {
			t.Fatalf("read orders of %s: %v", c.Name, err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read orders of %s: %v", c.Name, err)
	}
	return out
}

// readSold returns by how much c's stock went down.
func readSold(t *testing.T, ctx context.Context, c *pgtest.Cluster) int {
	t.Helper()
	conn, err := pgx.Connect(ctx, c.DSN(c.User, c.Password, "postgres"))
	if err != nil {
		t.Fatalf("connect to %s: %v", c.Name, err)
	}
	defer conn.Close(ctx)
	var sold int
	q := fmt.Sprintf("SELECT coalesce(sum(%d - stock), 0) FROM products", checkoutInitialStock)
	if err := conn.QueryRow(ctx, q).Scan(&sold); err != nil {
		t.Fatalf("read stock of %s: %v", c.Name, err)
	}
	return sold
}

// okText says how the client saw an attempt end.
func okText(ok bool) string {
	if ok {
		return "a commit"
	}
	return "a failure"
}

// lossCode reports whether code says the server connection or the
// backend was lost: class 08, or 57P01/57P02/57P03.
func lossCode(code string) bool {
	return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03"
}

// pyTime converts Python's time.time().
func pyTime(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// percentile returns the q-quantile of ds (nearest rank), 0 when empty.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))].Round(time.Microsecond)
}
