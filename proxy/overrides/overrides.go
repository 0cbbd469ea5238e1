// Package overrides keeps the operators' overrides (a backend's circuit
// forced OPEN or CLOSED, with reason, author and expiry) and persists them
// under [state] dir, so that they survive restarts.
package overrides

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/heliosdb/heliosproxy/internal/statefile"
	"github.com/heliosdb/heliosproxy/status"
)

// Store holds the operators' overrides and persists them, so that
// they survive restarts: one JSON file under [state] dir, replaced
// atomically (write, fsync, rename, fsync the directory). An operator's
// change is written before it takes effect (Update); an expiry takes effect
// at once, on the tick, and Persist writes it.
type Store struct {
	path string // "" keeps them in memory only
	log  *slog.Logger

	mu      sync.Mutex // never held during disk I/O: the tick takes it
	m       map[string]status.Override
	changes uint64 // counts the changes of m

	// dirty holds a token when m changed without being written.
	dirty chan struct{}

	// writeMu serialises writes, so that a later state is never
	// overwritten by an earlier one; taken before mu, never after.
	writeMu  sync.Mutex
	written  uint64 // changes of m that the file holds
	failed   int    // writes failed since the last one that succeeded
	reported bool   // this run of failures has been logged
}

// File is the name of the state file under [state] dir.
const File = "overrides.json"

// tempPattern is the pattern of writeOverrides' temporary files:
// os.CreateTemp puts a random decimal number in place of the "*".
const tempPattern = File + ".*"

func New(dir string, log *slog.Logger) *Store {
	st := &Store{log: log, m: make(map[string]status.Override), dirty: make(chan struct{}, 1)}
	if dir != "" {
		st.path = filepath.Join(dir, File)
	}
	return st
}

// Load reads the persisted overrides. A missing file is no error; a torn
// or corrupt one (or one with an invalid override) is reported and none of
// it is loaded (the proxy starts without them), and it is renamed to
// overrides.json.corrupt-<time> so that the next change does not replace
// it: the error names it, for the operator to restore the overrides.
// It first removes the temporary files of writes that a crash (kill -9)
// cut short: the state file itself is replaced only by a rename, so it is
// intact, and nothing else writes those names (one process per state dir).
func (st *Store) Load() error {
	if st.path == "" {
		return nil
	}
	n, err := removeStaleTemps(filepath.Dir(st.path))
	if n > 0 {
		st.log.Info("removed temporary files of interrupted override writes", "dir", filepath.Dir(st.path), "removed", n)
	}
	if err != nil {
		st.log.Warn("temporary files of interrupted override writes not removed", "dir", filepath.Dir(st.path), "err", err)
	}
	data, err := os.ReadFile(st.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var list []status.Override
	err = json.Unmarshal(data, &list)
	for _, o := range list {
		if err == nil && (o.Backend == "" || !o.State.Forcible()) {
			err = fmt.Errorf("invalid override %+v", o)
		}
	}
	if err != nil {
		// All or nothing, and the file kept: the next change would
		// replace it, and with it overrides an operator may still want.
		return statefile.SetAside(st.path, err, time.Now())
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, o := range list {
		st.m[o.Backend] = o
	}
	return nil
}

// removeStaleTemps removes the files in dir that writeOverrides' temporary
// file pattern could have made, and only those, and returns how many.
func removeStaleTemps(dir string) (int, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	prefix, _, _ := strings.Cut(tempPattern, "*")
	var n int
	var errs []error
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || rest == "" || strings.Trim(rest, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// Get returns the override of backend name.
func (st *Store) Get(name string) (status.Override, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	o, ok := st.m[name]
	return o, ok
}

// ByName returns a copy of the overrides by backend name, nil when there
// are none: one lock for a whole snapshot.
func (st *Store) ByName() map[string]status.Override {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.m) == 0 {
		return nil
	}
	return maps.Clone(st.m)
}

// All returns the overrides, oldest first.
func (st *Store) All() []status.Override {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]status.Override, 0, len(st.m))
	for _, o := range st.m {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b status.Override) int { return a.Created.Compare(b.Created) })
	return out
}

// Update applies change to the set and persists it first: on a write
// error the set is left as it was and the error returned. change must
// give the same result applied twice (set or delete one entry).
func (st *Store) Update(change func(m map[string]status.Override)) error {
	if st.path == "" {
		st.mu.Lock()
		defer st.mu.Unlock()
		change(st.m)
		st.changes++
		return nil
	}
	st.writeMu.Lock()
	defer st.writeMu.Unlock()
	st.mu.Lock()
	next, before := maps.Clone(st.m), st.changes
	st.mu.Unlock()
	change(next)
	if err := st.write(next, false); err != nil {
		return fmt.Errorf("%w: %w", status.ErrNotSaved, err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	// An expiry during the write is in m but not in the file: the
	// persister, told of it, writes after this.
	change(st.m)
	st.changes++
	if st.changes == before+1 {
		st.written = st.changes
	}
	return nil
}

// Remember sets o in memory only, for when Update could not write it:
// the persister writes it with the next change.
func (st *Store) Remember(o status.Override) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.m[o.Backend] = o
	st.changes++
	st.tell()
}

// Forget removes name's override in memory only, as Remember.
func (st *Store) Forget(name string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.m, name)
	st.changes++
	st.tell()
}

// tell wakes the persister; the caller holds mu.
func (st *Store) tell() {
	select {
	case st.dirty <- struct{}{}:
	default: // already told
	}
}

// Expire removes the overrides whose time is up and returns them; nil (no
// allocation, no I/O) when there are none, which is nearly every tick.
// Persist writes the change.
func (st *Store) Expire(now time.Time) []status.Override {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []status.Override
	for name, o := range st.m {
		if !o.Expires.IsZero() && !now.Before(o.Expires) {
			out = append(out, o)
			delete(st.m, name)
		}
	}
	if out != nil {
		st.changes++
		select {
		case st.dirty <- struct{}{}:
		default: // already told
		}
	}
	return out
}

// flush writes the overrides if they changed since the file was written.
func (st *Store) flush() error {
	st.writeMu.Lock()
	defer st.writeMu.Unlock()
	st.mu.Lock()
	m, changes := maps.Clone(st.m), st.changes
	st.mu.Unlock()
	if changes == st.written {
		return nil
	}
	if err := st.write(m, true); err != nil {
		return err
	}
	st.written = changes
	return nil
}

// write replaces the file with m; the caller holds writeMu. A run of
// failed writes is logged once, at its first failure that no caller
// returns to an operator (background), and its end once, with how many
// writes failed.
func (st *Store) write(m map[string]status.Override, background bool) error {
	if err := writeOverrides(st.path, m); err != nil {
		st.failed++
		if background && !st.reported {
			st.reported = true
			st.log.Error("overrides not persisted; retrying until a write succeeds", "path", st.path, "err", err)
		}
		return err
	}
	if st.failed > 0 {
		st.log.Info("overrides persisted again", "path", st.path, "failed_writes", st.failed)
		st.failed, st.reported = 0, false
	}
	return nil
}

// overrideRetry is the first pause before the persister tries a failed
// write again; each failure doubles it, up to overrideRetryMax.
const (
	overrideRetry    = time.Second
	overrideRetryMax = time.Minute
)

// Persist writes the overrides whenever they changed without being
// written (expiries), and tries failed writes again, until ctx ends; then
// it writes what is left. Run it on a goroutine whose owner waits for it,
// when Persistent.
func (st *Store) Persist(ctx context.Context) {
	retry := time.NewTimer(overrideRetry)
	retry.Stop()
	defer retry.Stop()
	pause := overrideRetry
	for {
		select {
		case <-ctx.Done():
			_ = st.flush() // write logs a failure
			return
		case <-st.dirty:
		case <-retry.C:
		}
		if err := st.flush(); err != nil {
			retry.Reset(pause)
			pause = min(2*pause, overrideRetryMax)
			continue
		}
		retry.Stop()
		pause = overrideRetry
	}
}

func writeOverrides(path string, m map[string]status.Override) error {
	list := make([]status.Override, 0, len(m))
	for _, o := range m {
		list = append(list, o)
	}
	slices.SortFunc(list, func(a, b status.Override) int { return a.Created.Compare(b.Created) })
	data, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	if err := statefile.Write(path, data, tempPattern); err != nil {
		return fmt.Errorf("persist overrides: %w", err)
	}
	return nil
}

// Persistent reports whether the overrides are kept on disk ([state]
// dir is set).
func (st *Store) Persistent() bool { return st.path != "" }
