package main

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU per transaction: each proxy's CPU time (user + system, all its
// threads) across a pgbench run, divided by the transactions the run
// processed. A child process's comes from /proc/PID/stat; the in-process
// HeliosProxy's is this process's own (getrusage), which the idle harness
// adds next to nothing to: pgbench runs in child processes.

// clockTick is the unit of /proc/PID/stat's utime and stime: USER_HZ,
// 100 on every Linux architecture Go runs on.
const clockTick = 10 * time.Millisecond

// procCPU returns a reader of process pid's CPU time.
func procCPU(pid int) func() time.Duration {
	path := fmt.Sprintf("/proc/%d/stat", pid)
	return func() time.Duration {
		b, err := os.ReadFile(path)
		if err != nil {
			return 0
		}
		// The command name may hold spaces: fields count from the ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			return 0
		}
		// utime and stime are fields 14 and 15 of stat(5), 12 and 13 here.
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		return time.Duration(u+st) * clockTick
	}
}

// selfCPU is this process's CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var txRe = regexp.MustCompile(`number of transactions actually processed: ([0-9]+)`)

// transactions is the count pgbench reports for a run.
func transactions(out string) int64 {
	m := txRe.FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// cpuPerTx is µs of CPU per transaction, 0 when either is unknown.
func cpuPerTx(cpu time.Duration, tx int64) float64 {
	if cpu <= 0 || tx <= 0 {
		return 0
	}
	return float64(cpu.Microseconds()) / float64(tx)
}
