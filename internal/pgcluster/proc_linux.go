package pgcluster

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"unsafe"
)

// process is one run of a postmaster, from Start (or Restart) until it is
// reaped. Its wait goroutine is owned by the Cluster, which waits on done.
type process struct {
	cmd  *exec.Cmd
	pid  int
	tail *tailBuffer // the end of this run's server log, for error messages

	// mu is held for reading while signalling the postmaster or its children,
	// and for writing when the postmaster has exited but is not yet reaped. As
	// long as exited is false the pid (and so the children's parent pid) still
	// names our postmaster: an unreaped zombie keeps its pid from being reused.
	mu     sync.RWMutex
	exited bool

	done chan struct{} // closed once the postmaster is reaped and its log copied
	err  error         // cmd.Wait's result; read it only after done is closed
}

func startProcess(cmd *exec.Cmd, tail *tailBuffer) (*process, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, pid: cmd.Process.Pid, tail: tail, done: make(chan struct{})}
	go p.wait()
	return p, nil
}

func (p *process) wait() {
	// Block until the postmaster is a zombie without reaping it, so that
	// signal never targets a pid that the kernel may have handed out again.
	// If waitid fails we fall back to marking it exited, which only makes
	// signal refuse too early.
	_ = waitUnreaped(p.pid)
	p.mu.Lock()
	p.exited = true
	p.mu.Unlock()
	p.err = p.cmd.Wait()
	close(p.done)
}

func (p *process) running() bool {
	select {
	case <-p.done:
		return false
	default:
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return !p.exited
}

// signalAll sends SIGKILL, SIGSTOP or SIGCONT to the postmaster and all its
// children. PostgreSQL makes every child of the postmaster the leader of its
// own session (setsid in InitPostmasterChild), so signalling the postmaster's
// process group does not reach the backends. To keep the set of children from
// changing while we look, the postmaster is stopped first: a stopped
// postmaster neither forks nor reaps, so the children's pids stay theirs.
func (p *process) signalAll(sig syscall.Signal) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.exited {
		return ErrNotRunning
	}
	// The postmaster's own group also holds children that have not yet
	// called setsid.
	if err := syscall.Kill(-p.pid, syscall.SIGSTOP); err != nil {
		return err
	}
	for _, c := range childrenOf(p.pid) {
		signalGroup(c, sig)
	}
	if sig == syscall.SIGSTOP {
		return nil
	}
	return syscall.Kill(-p.pid, sig)
}

// signal sends sig to the postmaster alone, as pg_ctl does, then continues it
// and its children in case they were paused.
func (p *process) signal(sig syscall.Signal) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.exited {
		return ErrNotRunning
	}
	if err := syscall.Kill(p.pid, sig); err != nil {
		return err
	}
	for _, c := range childrenOf(p.pid) {
		signalGroup(c, syscall.SIGCONT)
	}
	return syscall.Kill(-p.pid, syscall.SIGCONT)
}

// signalGroup signals the group led by a child of the postmaster, which holds
// the child and anything it started (such as an archive_command shell), or
// the child alone if it has not called setsid yet.
func signalGroup(pid int, sig syscall.Signal) {
	if syscall.Kill(-pid, sig) != nil {
		_ = syscall.Kill(pid, sig) // ESRCH if it is gone
	}
}

// childrenOf lists the processes whose parent is pid, from /proc.
func childrenOf(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var kids []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		if ppid, ok := parentPID(stat); ok && ppid == pid {
			kids = append(kids, child)
		}
	}
	return kids
}

// parentPID reads the ppid from the contents of /proc/PID/stat:
// "pid (comm) state ppid ...", where comm may itself contain ") ".
func parentPID(stat []byte) (int, bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(string(f[1]))
	return ppid, err == nil
}

// waitUnreaped blocks until the child pid has exited, leaving it a zombie
// for exec.Cmd.Wait to reap.
func waitUnreaped(pid int) error {
	const (
		pPID    = 1         // P_PID
		wNOWAIT = 0x1000000 // WNOWAIT
	)
	var info [128]byte // siginfo_t; we only need the call to return
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|wNOWAIT, 0, 0)
		switch {
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			return errors.New("waitid: " + errno.Error())
		}
		return nil
	}
}
