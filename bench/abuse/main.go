// Command abuse runs the attack suite against a running HeliosProxy and
// prints one verdict line per attack:
//
//	go run ./bench/abuse [-addr 127.0.0.1:6432] [-api 127.0.0.1:8080] [-user postgres] [-password PW]
//	    [-database postgres] [-pid PID] [-token TOKEN] [-only NAME,NAME] [-scale 1] [-json]
//	    [-pooled-user NAME] [-backend-dsn DSN] [-log FILE]
//
// Each attack is a client from outside, over raw sockets or pgx: SQL
// bombs, idle and silent connection floods, oversized password messages,
// a client that never reads its result, malformed protocol messages, and
// abuse of the REST API. After every attack the suite checks that the
// proxy still serves a legitimate client (SELECT 1 and a status query
// through pgx), that no circuit CLOSED before the attack opened because of
// it (GET /circuit-breaker/status and /circuit-breaker/events), and, with
// -pid, that the process is alive and how much its resident memory grew
// (/proc/PID/status) and how many descriptors it holds (/proc/PID/fd).
//
// The exit status is 1 when an attack FAILs, 2 on bad flags. An attack
// that lacks what it needs (-pid, -token, -log) is SKIPped. Everything
// it opens targets the given addresses and ends by itself.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env is what every attack needs: where the proxy is, who to log in as,
// and what the runner learns while it goes.
type env struct {
	addr       string // the proxy's PostgreSQL listener
	api        string // the REST API's host:port; empty: no API checks
	user       string
	password   string
	database   string // a database on the backends
	token      string // the API's admin token; empty: api-ratelimit skips
	pooledUser string // a [[users]] role the proxy authenticates itself
	backendDSN string // a direct connection to one backend, for slow-reader
	logFile    string // the proxy's log, for log-flood
	pid        int    // the proxy's process; 0: no /proc figures
	scale      float64
	hold       time.Duration // how long floods hold their connections
	slowBound  time.Duration // how long slow-reader waits for the release
	http       *http.Client

	// floods are the log lines written during each flood attack so far,
	// for log-flood.
	floods []logCount
}

// n scales a connection count by -scale, at least one.
func (e *env) n(base int) int {
	return max(1, int(math.Ceil(float64(base)*e.scale)))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{http: &http.Client{Timeout: 5 * time.Second}}
	fs := flag.NewFlagSet("abuse", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&e.addr, "addr", "127.0.0.1:6432", "the proxy's PostgreSQL address")
	fs.StringVar(&e.api, "api", "127.0.0.1:8080", "the proxy's REST API (host:port); empty: no API checks")
	fs.StringVar(&e.user, "user", "postgres", "user of the legitimate client and the attacks")
	fs.StringVar(&e.password, "password", os.Getenv("PGPASSWORD"), "its password (default $PGPASSWORD)")
	fs.StringVar(&e.database, "database", "postgres", "a database on the backends")
	fs.StringVar(&e.token, "token", os.Getenv("HELIOS_ADMIN_TOKEN"), "the API's admin token, for api-ratelimit (default $HELIOS_ADMIN_TOKEN)")
	fs.StringVar(&e.pooledUser, "pooled-user", "", "a [[users]] role (pooled: the proxy authenticates it), also attacked by password-memory")
	fs.StringVar(&e.backendDSN, "backend-dsn", "", "a direct connection to a backend: slow-reader watches pg_stat_activity there instead of the API's active_connections")
	fs.StringVar(&e.logFile, "log", "", "the proxy's log file: log-flood counts the lines written during the floods")
	fs.IntVar(&e.pid, "pid", 0, "the proxy's process ID: memory, descriptors and liveness from /proc")
	fs.Float64Var(&e.scale, "scale", 1, "multiplier of the connection counts")
	fs.DurationVar(&e.hold, "hold", 5*time.Second, "how long the floods hold their connections")
	fs.DurationVar(&e.slowBound, "slow-bound", 40*time.Second, "how soon slow-reader's backend session must be released (the proxy's client_write_timeout, default 30s, plus slack)")
	only := fs.String("only", "", "comma-separated attacks or groups to run (default all): "+strings.Join(groupNames(), ", "))
	asJSON := fs.Bool("json", false, "one JSON object per attack instead of text lines")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || e.scale <= 0 || e.hold <= 0 || e.slowBound <= 0 {
		fmt.Fprintln(stderr, "abuse: no arguments besides flags; -scale, -hold and -slow-bound must be positive")
		return 2
	}
	selected, err := selectAttacks(attacks(e), *only)
	if err != nil {
		fmt.Fprintln(stderr, "abuse:", err)
		return 2
	}
	if s := e.served(ctx); !s.ok() {
		fmt.Fprintf(stderr, "abuse: the proxy at %s does not serve a legitimate client before any attack: %v\n", e.addr, s.err)
		return 1
	}
	code := 0
	for _, a := range selected {
		if ctx.Err() != nil {
			break
		}
		r := e.runAttack(ctx, a)
		if r.Verdict == fail {
			code = 1
		}
		if *asJSON {
			b, _ := json.Marshal(r)
			fmt.Fprintf(stdout, "%s\n", b)
		} else {
			fmt.Fprintln(stdout, r.line())
		}
	}
	if ctx.Err() != nil {
		return 1
	}
	return code
}

// selectAttacks keeps the attacks that -only names, by name, by group or
// by name before the "/" of its database.
func selectAttacks(all []attack, only string) ([]attack, error) {
	if only == "" {
		return all, nil
	}
	var out []attack
	for _, want := range strings.Split(only, ",") {
		want = strings.TrimSpace(want)
		matched := false
		for _, a := range all {
			base, _, _ := strings.Cut(a.name, "/")
			if a.name != want && a.group != want && base != want {
				continue
			}
			matched = true
			if !slices.ContainsFunc(out, func(b attack) bool { return b.name == a.name }) {
				out = append(out, a)
			}
		}
		if !matched {
			return nil, fmt.Errorf("-only: no attack %q; attacks: %s", want, strings.Join(groupNames(), ", "))
		}
	}
	// The table's order, whatever the order of -only: log-flood last.
	slices.SortStableFunc(out, func(a, b attack) int {
		return slices.IndexFunc(all, func(x attack) bool { return x.name == a.name }) -
			slices.IndexFunc(all, func(x attack) bool { return x.name == b.name })
	})
	return out, nil
}

// groupNames lists the attack groups in the table's order.
func groupNames() []string {
	var names []string
	for _, a := range attacks(&env{database: "postgres", scale: 1}) {
		if !slices.Contains(names, a.group) {
			names = append(names, a.group)
		}
	}
	return names
}

var errNeedsAPI = errors.New("needs -api")
