package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const (
	// legitTimeout bounds a legitimate client's connect and queries: it
	// gets service or a clear ErrorResponse within it.
	legitTimeout = 5 * time.Second
	// recoveryGrace is how long after an attack the proxy may take to
	// serve again (the floods' connections are still closing).
	recoveryGrace = 10 * time.Second
	// sampleEvery is how often the runner reads the proxy's VmRSS during
	// an attack, for the peak.
	sampleEvery = 50 * time.Millisecond
)

// service is how one legitimate client fared.
type service struct {
	took time.Duration
	err  error // nil: served
}

func (s service) ok() bool { return s.err == nil }

// answered is true when the client was served or refused with an
// ErrorResponse: either way it was not left hanging or dropped.
func (s service) answered() bool {
	var pe *pgconn.PgError
	return s.err == nil || errors.As(s.err, &pe)
}

func (s service) String() string {
	var pe *pgconn.PgError
	switch {
	case s.err == nil:
		return "served in " + millis(s.took)
	case errors.As(s.err, &pe):
		return fmt.Sprintf("ErrorResponse %s in %s", pe.Code, millis(s.took))
	default:
		return fmt.Sprintf("no answer in %s (%v)", millis(s.took), s.err)
	}
}

// millis formats a duration in whole milliseconds below a second, else in
// seconds.
func millis(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

// connString is a libpq URL for the proxy as -user on database.
func (e *env) connString(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(e.user, e.password),
		Host:     e.addr,
		Path:     "/" + database,
		RawQuery: "sslmode=disable&connect_timeout=5&application_name=helios-abuse",
	}
	return u.String()
}

// served runs the legitimate client: a pgx connection to -database, SELECT
// 1 and a status query, within legitTimeout.
func (e *env) served(ctx context.Context) service {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, legitTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.connString(e.database))
	if err != nil {
		return service{time.Since(start), err}
	}
	defer conn.Close(ctx)
	var one, n int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return service{time.Since(start), fmt.Errorf("SELECT 1: %w", err)}
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM helios_proxy.circuit_breaker_status").Scan(&n); err != nil {
		return service{time.Since(start), fmt.Errorf("status query: %w", err)}
	}
	return service{took: time.Since(start)}
}

// servedAgain retries the legitimate client for up to recoveryGrace; it
// returns the first success, or the last failure.
func (e *env) servedAgain(ctx context.Context) (s service, after time.Duration) {
	start := time.Now()
	for {
		s = e.served(ctx)
		if s.ok() || time.Since(start) > recoveryGrace || ctx.Err() != nil {
			return s, time.Since(start)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// observation is the proxy's state before an attack.
type observation struct {
	proc      procStatus
	procErr   error
	states    map[string]string // backend → circuit state
	lastEvent uint64
	apiErr    error
	logSize   int64
}

func (e *env) observe(ctx context.Context) observation {
	var o observation
	if e.pid != 0 {
		o.proc, o.procErr = readProc(e.pid)
	}
	o.logSize = e.logSize()
	if e.api == "" {
		return o
	}
	cs, err := e.circuits(ctx)
	if err != nil {
		o.apiErr = err
		return o
	}
	o.states = make(map[string]string, len(cs))
	for _, c := range cs {
		o.states[c.Name] = c.State
	}
	evs, err := e.events(ctx)
	if len(evs) > 0 {
		o.lastEvent = evs[len(evs)-1].ID
	}
	o.apiErr = err
	return o
}

// report is one line of the output; -json prints it as it is.
type report struct {
	Attack         string         `json:"attack"`
	Verdict        string         `json:"verdict"`
	Detail         string         `json:"detail"`
	Checks         string         `json:"checks,omitempty"` // the runner's checks as the line shows them
	ElapsedMs      int64          `json:"elapsed_ms"`
	Served         string         `json:"served,omitempty"`
	Alive          *bool          `json:"alive,omitempty"` // nil without -pid
	CircuitsOpened []string       `json:"circuits_opened,omitempty"`
	RSSBeforeKB    int64          `json:"rss_before_kb,omitempty"`
	RSSAfterKB     int64          `json:"rss_after_kb,omitempty"`
	RSSPeakKB      int64          `json:"rss_peak_kb,omitempty"`
	FDsBefore      int            `json:"fds_before,omitempty"`
	FDsAfter       int            `json:"fds_after,omitempty"`
	Figures        map[string]any `json:"figures,omitempty"`
}

func (r report) line() string {
	text := r.Detail
	if r.Checks != "" {
		text += "; " + r.Checks
	}
	return fmt.Sprintf("%-4s  %-34s  %s", r.Verdict, r.Attack, text)
}

// runAttack runs one attack between two observations of the proxy and
// turns the outcome and the checks into a report.
func (e *env) runAttack(ctx context.Context, a attack) report {
	before := e.observe(ctx)
	peak := e.sampleRSS(before.proc.rssKB)
	start := time.Now()
	out := a.run(ctx, e)
	elapsed := time.Since(start)
	r := report{Attack: a.name, Verdict: out.verdict, Detail: out.detail, ElapsedMs: elapsed.Milliseconds(), Figures: out.figures}
	r.RSSPeakKB = peak()
	if out.verdict == skip {
		return r
	}
	var checks []string
	failed := func(format string, a ...any) {
		checks = append(checks, fmt.Sprintf(format, a...))
		r.Verdict = fail
	}

	s, after := e.servedAgain(ctx)
	r.Served = s.String()
	if e.pid != 0 {
		p, err := readProc(e.pid)
		alive := err == nil && p.alive()
		r.Alive = &alive
		if !alive {
			failed("proxy GONE (pid %d)", e.pid)
		} else {
			checks = append(checks, "proxy alive")
			r.RSSBeforeKB, r.RSSAfterKB, r.FDsBefore, r.FDsAfter = before.proc.rssKB, p.rssKB, before.proc.fds, p.fds
			r.RSSPeakKB = max(r.RSSPeakKB, p.rssKB)
		}
	}
	switch {
	case !s.ok():
		failed("legitimate client NOT served: %s", s)
	case after > time.Second:
		checks = append(checks, "served again after "+millis(after))
	default:
		checks = append(checks, "served")
	}

	switch opened, err := e.openedCircuits(ctx, before); {
	case errors.Is(err, errNeedsAPI):
	case err != nil:
		failed("API: %v", err)
	case len(opened) > 0:
		r.CircuitsOpened = opened
		failed("circuit opened: %s", strings.Join(opened, ", "))
	default:
		checks = append(checks, "no circuit opened")
	}

	if r.RSSAfterKB != 0 {
		m := "RSS " + megabytes(r.RSSAfterKB-r.RSSBeforeKB)
		if r.RSSPeakKB-max(r.RSSBeforeKB, r.RSSAfterKB) > 1024 {
			m += " (peak " + megabytes(r.RSSPeakKB-r.RSSBeforeKB) + ")"
		}
		if r.FDsAfter >= 0 && r.FDsBefore >= 0 {
			m += fmt.Sprintf(", fds %+d", r.FDsAfter-r.FDsBefore)
		}
		checks = append(checks, m)
	}
	r.Checks = strings.Join(checks, "; ")
	if a.flood && e.logFile != "" {
		// After the checks: the proxy logs the flood's connections as it
		// closes them, which the checks wait for.
		e.floods = append(e.floods, logCount{attack: a.name, lines: e.linesSince(before.logSize), took: time.Since(start)})
	}
	return r
}

// sampleRSS reads the proxy's VmRSS every sampleEvery until the returned
// function is called; that function returns the highest reading.
func (e *env) sampleRSS(first int64) (peak func() int64) {
	if e.pid == 0 {
		return func() int64 { return 0 }
	}
	var (
		wg   sync.WaitGroup
		high = first
		done = make(chan struct{})
	)
	wg.Go(func() {
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if p, err := readProc(e.pid); err == nil {
					high = max(high, p.rssKB)
				}
			}
		}
	})
	return func() int64 {
		close(done)
		wg.Wait()
		return high
	}
}

// openedCircuits names the backends CLOSED before the attack whose circuit
// opened since: an opening event, or a state other than CLOSED now.
func (e *env) openedCircuits(ctx context.Context, before observation) ([]string, error) {
	if e.api == "" {
		return nil, errNeedsAPI
	}
	if before.apiErr != nil {
		return nil, fmt.Errorf("before the attack: %w", before.apiErr)
	}
	var (
		cs  []circuit
		evs []event
		err error
	)
	// The API shares the process and its file descriptors with the
	// proxy: give it the same grace as the PostgreSQL listener.
	for start := time.Now(); ; time.Sleep(250 * time.Millisecond) {
		if cs, err = e.circuits(ctx); err == nil {
			evs, err = e.events(ctx)
		}
		if err == nil || time.Since(start) > recoveryGrace || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	var opened []string
	add := func(name, why string) {
		if before.states[name] == "CLOSED" && !slices.ContainsFunc(opened, func(s string) bool { return strings.HasPrefix(s, name+" ") }) {
			opened = append(opened, name+" ("+why+")")
		}
	}
	for _, ev := range evs {
		if ev.ID > before.lastEvent && ev.Type == "CircuitOpened" && ev.Backend != nil {
			why := "opened"
			if ev.Reason != nil {
				why = *ev.Reason
			}
			add(*ev.Backend, why)
		}
	}
	for _, c := range cs {
		if c.State != "CLOSED" {
			add(c.Name, "now "+c.State)
		}
	}
	return opened, nil
}
