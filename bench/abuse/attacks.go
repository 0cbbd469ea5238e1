package main

import (
	"context"
	"fmt"
)

// Verdicts. An attack SKIPs when it lacks what it needs (-pid, -token,
// -log, -api); a SKIP does not change the exit status.
const (
	pass = "PASS"
	fail = "FAIL"
	skip = "SKIP"
)

// attack is one line of the report.
type attack struct {
	name  string // as the report and -only spell it
	group string // -only takes it too: every attack of the group runs
	flood bool   // log-flood counts the log lines written during it
	run   func(ctx context.Context, e *env) outcome
}

// outcome is what an attack found, before the runner's checks.
type outcome struct {
	verdict string
	detail  string         // a short measurement, for the line
	figures map[string]any // the measurements, for -json
}

func passf(format string, a ...any) outcome {
	return outcome{verdict: pass, detail: fmt.Sprintf(format, a...)}
}

func failf(format string, a ...any) outcome {
	return outcome{verdict: fail, detail: fmt.Sprintf(format, a...)}
}

func skipf(format string, a ...any) outcome {
	return outcome{verdict: skip, detail: fmt.Sprintf(format, a...)}
}

// judge is PASS when ok, else FAIL, with the same detail.
func judge(ok bool, format string, a ...any) outcome {
	if ok {
		return passf(format, a...)
	}
	return failf(format, a...)
}

// with adds figures for -json.
func (o outcome) with(kv ...any) outcome {
	if o.figures == nil {
		o.figures = make(map[string]any)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		o.figures[fmt.Sprint(kv[i])] = kv[i+1]
	}
	return o
}

// attacks is the suite in the order it runs: the cheap probes first, the
// floods after them, log-flood last because it reads what the floods
// wrote.
func attacks(e *env) []attack {
	var list []attack
	for _, b := range bombs {
		for _, db := range []string{statusDatabase, e.database} {
			list = append(list, attack{name: b.name + "/" + db, group: "sql-bomb", run: func(ctx context.Context, e *env) outcome {
				return sqlBomb(ctx, e, db, b)
			}})
		}
	}
	return append(list,
		attack{name: "malformed-describe", group: "malformed-describe", run: malformedDescribe},
		attack{name: "api-host", group: "api-host", run: apiHost},
		attack{name: "api-ratelimit", group: "api-ratelimit", run: apiRateLimit},
		attack{name: "slow-reader", group: "slow-reader", run: slowReader},
		attack{name: "password-memory", group: "password-memory", flood: true, run: passwordMemory},
		attack{name: "silent-logins", group: "silent-logins", flood: true, run: silentLogins},
		attack{name: "fd-exhaustion", group: "fd-exhaustion", flood: true, run: fdExhaustion},
		attack{name: "connection-flood", group: "connection-flood", flood: true, run: connectionFlood},
		attack{name: "log-flood", group: "log-flood", run: logFlood},
	)
}
