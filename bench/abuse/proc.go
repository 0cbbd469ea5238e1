package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procStatus is what /proc/PID/status and /proc/PID/fd say about the
// proxy's process at one moment.
type procStatus struct {
	rssKB int64 // VmRSS
	fds   int   // entries of /proc/PID/fd; -1 when unreadable
	state byte  // 'R', 'S', 'Z', …
}

// readProc reads the process's status; an error means it is gone (or
// -pid is wrong).
func readProc(pid int) (procStatus, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procStatus{}, err
	}
	p := procStatus{fds: -1}
	for line := range bytes.Lines(b) {
		k, v, ok := strings.Cut(strings.TrimSpace(string(line)), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "State":
			if v != "" {
				p.state = v[0]
			}
		case "VmRSS":
			p.rssKB, err = strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 10, 64)
			if err != nil {
				return procStatus{}, fmt.Errorf("VmRSS %q: %w", v, err)
			}
		}
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		p.fds = len(ents)
	}
	return p, nil
}

// alive is false for a zombie or a process that has gone.
func (p procStatus) alive() bool { return p.state != 0 && p.state != 'Z' && p.state != 'X' }

// megabytes formats a difference of kB as signed MB.
func megabytes(kb int64) string {
	return fmt.Sprintf("%+d MB", (kb+512*sign(kb))/1024)
}

func sign(n int64) int64 {
	if n < 0 {
		return -1
	}
	return 1
}
