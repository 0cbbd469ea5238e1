package backend

import (
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/proxy/pattern"
	"github.com/heliosdb/heliosproxy/proxy/tenant"
)

// A relayed request's life, the same on every path (pass-through relay,
// pooled connections, logins): admitted with a ticket of the breaker's
// current state when it starts (route, or pending.push with
// br.Current()), relayed, then classified by the first SQLSTATE its
// answer carried, recorded with the backend's own time, and any
// transition published. finish and note are the second half, written
// once.

// Finish ends a request of role u (nil when roles are not tracked) that
// began at start (unix nanos) on b with ticket t: classified by code, the
// SQLSTATE of its first ErrorResponse ("" for none; a 57014 after a cancel
// or a CopyFail the client sent since the request began, cancelAt, is the
// client's own; raised: the error is the client's own doing whatever
// code it names, wire.OwnError, see below), judged
// the role's or the backend's (tenant.Registry.Judge), recorded with its
// latency less held, the time the client held the answer up, fed to the
// admission limiter, and reported to the OnQuery hook. Its pattern q is
// told too (Hooks.Patterns); an execution slow beyond
// slow_query_threshold_ms is its pattern's business and does not count as
// the backend's latency (it is recorded as excluded).
//
// An error the application raised itself (RAISE … USING ERRCODE =
// 'XX000', '57P01', '53200' …), or a statement's own allocation beyond
// PostgreSQL's 1 GB limit (XX000), says nothing of the backend's health
// whatever SQLSTATE it claims: b records it as excluded, so that no
// client can open a healthy backend's circuit for everyone by raising
// failure codes. Its pattern's and its role's breakers still count it as
// classified: they isolate only that pattern or that role.
func (b *Backend) Finish(t breaker.Ticket, u *tenant.Entry, start int64, code string, raised bool, cancelAt int64, held time.Duration, q pattern.Req, now time.Time) {
	o := breaker.Success
	switch code {
	case "":
	case codeReadOnlyTransaction:
		// The application's write on a read-only transaction, or a
		// backend that is a standby now: not the backend's health. Where
		// a primary was expected, its role is checked at once, so that
		// routing follows a demotion or failover without waiting for the
		// next interval.
		o = breaker.Excluded
		if b.Roles().Role != RoleReplica {
			b.Check.Request()
		}
	default:
		o = breaker.Classify(code, cancelAt >= start && start != 0)
	}
	d := max(time.Duration(now.UnixNano()-start)-held, 0)
	mine := o
	if reg := b.hooks.Patterns; reg != nil && reg.Finish(q, d, o, now) {
		mine = breaker.Excluded
	}
	if u != nil && mine != breaker.Excluded {
		mine = b.judge(u, mine, d, now)
	}
	if raised {
		o, mine = breaker.Excluded, breaker.Excluded
	}
	b.Note(b.Breaker.Record(t, breaker.Result{Kind: breaker.Query, Outcome: mine, Latency: d}, now))
	b.Admission.Observe(d, mine == breaker.Failure || mine == breaker.Overload, now)
	if fn := b.hooks.OnQuery; fn != nil {
		fn(b.Config.Name, d, o)
	}
}

// Shed reports a request the proxy refused with 53300 because b could not
// take it (no pooled connection to b within pool.query_wait_timeout, or
// b's admission limit), after it waited d, to the OnQuery hook as b's
// overload: DESIGN classifies a pool-acquire timeout so, and the metrics
// count it with b's own 53300, 53400 and 57P03 answers. The breaker does
// not record it (the request never reached b).
func (b *Backend) Shed(d time.Duration) {
	if fn := b.hooks.OnQuery; fn != nil {
		fn(b.Config.Name, d, breaker.Overload)
	}
}

// judge asks the role registry whose the outcome o of a request of u is,
// and returns what b's breaker records: the role's own failures (and
// requests slower than b's latency threshold) while other roles do well
// on b are Excluded here.
func (b *Backend) judge(u *tenant.Entry, o breaker.Outcome, d time.Duration, now time.Time) breaker.Outcome {
	trip := b.latencyTrip.Load()
	heavy := tenant.Heavy(o, d, time.Duration(trip))
	return u.Judge(b.Config.Name, o, d, heavy, func(e *tenant.Entry) bool {
		st := b.CurrentStats(now)
		return st.Requests-st.Failures-e.Successes(now) > 0
	}, now)
}

// codeReadOnlyTransaction is PostgreSQL's read_only_sql_transaction.
const codeReadOnlyTransaction = "25006"

// Note publishes the transition a breaker call returned, if any:
// b.Note(b.br.Record(…)).
func (b *Backend) Note(tr breaker.Transition, ok bool) {
	if ok {
		b.hooks.Publish(b, tr)
	}
}

// Connected records a login to b (a relayed session's or a pooled
// connection's) with the backend's own time.
func (b *Backend) Connected(t breaker.Ticket, o breaker.Outcome, latency time.Duration, now time.Time) {
	b.Note(b.Breaker.Record(t, breaker.Result{Kind: breaker.Connect, Outcome: o, Latency: latency}, now))
	if o == breaker.Failure {
		// The health check's connection may predate what failed this
		// one (a replaced certificate, pg_hba.conf): it checks with a
		// new one, so that the failure is seen, logged with its reason
		// and counted each interval, rather than passing checks resetting
		// the count between the sessions that fail.
		b.Check.Redial()
	}
	if o == breaker.Overload {
		// A login b refused for overload (53300 too many clients, 57P03
		// starting up) is an overload answer like a query's: the metrics
		// count it with them (OnQuery).
		if fn := b.hooks.OnQuery; fn != nil {
			fn(b.Config.Name, latency, o)
		}
	}
}

// Checked records a health check's result, settles the connection losses
// Terminated holds, and reports it to the OnHealthCheck hook.
func (b *Backend) Checked(res breaker.Result, now time.Time) {
	b.Note(b.Breaker.RecordCheck(res, now))
	b.settleTerminated(res, now)
	if fn := b.hooks.OnHealthCheck; fn != nil {
		fn(b.Config.Name, res.Latency, res.Outcome)
	}
}

// Terminated notes that a connection to b (a relayed session's or a
// pooled one's) ended at now with FATAL 57P01 admin_shutdown. PostgreSQL
// sends that to every session when it shuts down (pg_ctl stop -m fast),
// and to one session pg_terminate_backend ended, which any role may call
// on its own sessions: recorded at once as a lost connection, a client
// terminating itself in a loop (SELECT
// pg_terminate_backend(pg_backend_pid())) opened a healthy backend's
// circuit for everyone. So the loss is held, and a health check is asked
// for now: once a check that began after the first held loss answers, the
// server was shutting down unless it passed; then each held loss is
// recorded as a lost connection (Breaker.RecordConnLoss), as before, else
// none is (a session alone was ended, and b serves).
func (b *Backend) Terminated(now time.Time) {
	b.term.Lock()
	if b.term.n == 0 {
		b.term.since = now.UnixNano()
	}
	b.term.n++
	b.term.Unlock()
	b.Check.Request()
}

// settleTerminated settles the losses Terminated holds with the result res
// of a health check that ended at now, if the check began after them.
func (b *Backend) settleTerminated(res breaker.Result, now time.Time) {
	began := now.Add(-res.Latency).UnixNano()
	b.term.Lock()
	n := b.term.n
	if n == 0 || began < b.term.since {
		b.term.Unlock()
		return
	}
	b.term.n = 0
	b.term.Unlock()
	if res.Outcome == breaker.Success {
		return
	}
	for range n {
		b.Note(b.Breaker.RecordConnLoss(b.Breaker.Current(), now))
	}
}

// LoginOutcome classifies a backend's refusal of a login: the client's
// (or the user's) credentials or database are not the backend's health.
func LoginOutcome(code string) breaker.Outcome {
	if o := breaker.Classify(code, false); o != breaker.ConfigError {
		return o
	}
	return breaker.Excluded
}
