package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/status"
)

// overrideWrite is the i-th change the test makes: every third clears the
// override, the others set it OPEN or CLOSED with reason "write-i".
func overrideWrite(i int) (method, body string, want *status.Override) {
	if i%3 == 0 {
		return "DELETE", "", nil
	}
	state := status.Open
	if i%3 == 2 {
		state = status.Closed
	}
	reason := fmt.Sprintf("write-%d", i)
	return "PUT", fmt.Sprintf(`{"state":%q,"reason":%q}`, state, reason), &status.Override{State: state, Reason: reason}
}

// killMidWrite sends pid SIGKILL the moment a temporary file of an
// override write (overrides.json.NNNN) is created in dir, from a thread
// blocked on inotify: the shortest way from the event to the kill, so that
// the kill usually beats the write's fsync and rename. It reports whether
// it killed within 30s.
func killMidWrite(t *testing.T, dir string, pid int) bool {
	t.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd) // after the reader is done: it answers killed in every case
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_CREATE); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	killed := make(chan bool, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		buf := make([]byte, 64*(syscall.SizeofInotifyEvent+syscall.NAME_MAX+1))
		for !stop.Load() {
			n, err := syscall.Read(fd, buf)
			if err != nil {
				break
			}
			for off := 0; off+syscall.SizeofInotifyEvent <= n; {
				ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
				name := strings.TrimRight(string(buf[off+syscall.SizeofInotifyEvent:off+syscall.SizeofInotifyEvent+int(ev.Len)]), "\x00")
				if rest, ok := strings.CutPrefix(name, "overrides.json."); ok && rest != "" && strings.Trim(rest, "0123456789") == "" && !stop.Load() {
					killed <- syscall.Kill(pid, syscall.SIGKILL) == nil
					return
				}
				off += syscall.SizeofInotifyEvent + int(ev.Len)
			}
		}
		killed <- false
	}()
	select {
	case ok := <-killed:
		return ok
	case <-time.After(30 * time.Second):
		// Wake the reader with an event of our own.
		stop.Store(true)
		wake := filepath.Join(dir, "wake")
		_ = os.WriteFile(wake, nil, 0o600)
		_ = os.Remove(wake)
		return <-killed
	}
}

// TestKilledDuringOverrideWrites runs the real service, changes the
// override as fast as the API takes it, and kills the process with
// SIGKILL: at least four times, every other one just as a write has
// created its temporary file (which the kill nearly always beats the
// rename to, so a few more rounds make sure one did). Each restart must find the state file
// valid and holding the last acknowledged change or the one in flight,
// and remove the temporary files the writes left behind.
func TestKilledDuringOverrideWrites(t *testing.T) {
	pg := pgtest.New(t, pgtest.Options{Name: "ovkill"})
	stateDir := t.TempDir()
	path := childConfig(t, pg, fmt.Sprintf("[state]\ndir = %q\n", stateDir))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	client := &http.Client{Timeout: 10 * time.Second}

	// start runs the service and returns its API's URL.
	start := func() (*child, string) {
		c := startChild(t, "run", "--config", path)
		line, _ := c.out.wait(t, ctx, 0, "serving the REST API")
		return c, strings.TrimSuffix(field(line, "url"), "/")
	}
	// persisted reads the state file, which must be valid JSON.
	persisted := func(when string) *status.Override {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(stateDir, "overrides.json"))
		if os.IsNotExist(err) {
			return nil
		}
		var list []status.Override
		if err != nil || json.Unmarshal(data, &list) != nil || len(list) > 1 {
			t.Fatalf("%s: overrides.json = %q, %v: want a JSON list of at most one override", when, data, err)
		}
		if len(list) == 0 {
			return nil
		}
		return &list[0]
	}
	same := func(got, want *status.Override) bool {
		if got == nil || want == nil {
			return got == nil && want == nil
		}
		return got.State == want.State && got.Reason == want.Reason
	}
	temps := func() []string {
		names, _ := filepath.Glob(filepath.Join(stateDir, "overrides.json.*"))
		return names
	}

	next, interrupted := 1, 0
	for round := 1; round <= 4 || (interrupted == 0 && round <= 8); round++ {
		c, api := start()
		if left := temps(); len(left) > 0 {
			t.Errorf("round %d: temporary files after start-up: %v", round, left)
		}
		// The writes go on in the background until the kill fails one;
		// acked is the last one the API acknowledged. The kill comes after
		// a number of writes that differs per round, fewer than the API's 30
		// changes a minute from one client.
		acked := make(chan int, 1)
		reached := make(chan struct{})
		killAt := next + 8 + 3*(round%6)
		go func() {
			last := 0
			defer func() { acked <- last }()
			for i := next; ; i++ {
				if i == killAt {
					close(reached)
				}
				method, body, _ := overrideWrite(i)
				req, _ := http.NewRequestWithContext(ctx, method, api+"/circuit-breaker/backends/pg/override", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+childToken)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
					t.Errorf("%s override (write %d) = %d", method, i, resp.StatusCode)
					return
				}
				last = i
			}
		}()
		select {
		case <-reached:
		case last := <-acked:
			t.Fatalf("round %d: the writes stopped after write %d", round, last)
		}
		// Every other round, the kill lands just after a write created its
		// temporary file: mid-write.
		if round%2 == 0 || !killMidWrite(t, stateDir, c.cmd.Process.Pid) {
			if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
		<-c.done
		last := <-acked
		left := temps()
		if len(left) > 0 {
			interrupted++
		}
		_, _, wantLast := overrideWrite(last)
		_, _, wantNext := overrideWrite(last + 1)
		got := persisted(fmt.Sprintf("round %d after SIGKILL", round))
		if !same(got, wantLast) && !same(got, wantNext) {
			t.Errorf("round %d: persisted %+v; want write %d (%+v, the last acknowledged) or %d (%+v, in flight)", round, got, last, wantLast, last+1, wantNext)
		}
		t.Logf("round %d: killed after write %d acknowledged; %d temporary files left", round, last, len(left))

		// The restart removes them and serves the persisted override.
		c, api = start()
		if left := temps(); len(left) > 0 {
			t.Errorf("round %d: temporary files after the restart: %v", round, left)
		}
		if len(left) > 0 {
			c.out.wait(t, ctx, 0, "removed temporary files of interrupted override writes", fmt.Sprintf("removed=%d", len(left)))
		}
		resp, err := client.Get(api + "/circuit-breaker/status/pg")
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Override       *string `json:"override"`
			OverrideReason *string `json:"override_reason"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := persisted(fmt.Sprintf("round %d after the restart", round)); got == nil {
			if st.Override != nil {
				t.Errorf("round %d: status override = %q with none persisted", round, *st.Override)
			}
		} else if st.Override == nil || *st.Override != got.State.String() || st.OverrideReason == nil || *st.OverrideReason != got.Reason {
			t.Errorf("round %d: status override %v %v, want the persisted %s %q", round, st.Override, st.OverrideReason, got.State, got.Reason)
		}
		if err := c.stop(syscall.SIGTERM); err != nil {
			t.Fatalf("round %d: heliosproxy after SIGTERM: %v", round, err)
		}
		next = last + 2 // past the one in flight, whichever way it went
	}
	if interrupted == 0 {
		t.Error("no kill left a temporary file behind: the clean-up was not exercised")
	}
}
