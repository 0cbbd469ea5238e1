package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/status"
)

// overrideStore holds the operators' overrides and persists them, so that
// they survive restarts: one JSON file under [state] dir, replaced
// atomically (write, fsync, rename, fsync the directory). An operator's
// change is written before it takes effect (update); an expiry takes effect
// at once, on the tick, and the Server's persister writes it (flush).
type overrideStore struct {
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

const overridesFile = "overrides.json"

// overridesTemp is the pattern of writeOverrides' temporary files:
// os.CreateTemp puts a random decimal number in place of the "*".
const overridesTemp = overridesFile + ".*"

func newOverrideStore(dir string, log *slog.Logger) *overrideStore {
	st := &overrideStore{log: log, m: make(map[string]status.Override), dirty: make(chan struct{}, 1)}
	if dir != "" {
		st.path = filepath.Join(dir, overridesFile)
	}
	return st
}

// load reads the persisted overrides. A missing file is no error; a torn
// or corrupt one is reported and ignored (the proxy starts without them).
// It first removes the temporary files of writes that a crash (kill -9)
// cut short: the state file itself is replaced only by a rename, so it is
// intact, and nothing else writes those names (one process per state dir).
func (st *overrideStore) load() error {
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
	if err := json.Unmarshal(data, &list); err != nil {
		return fmt.Errorf("%s: %w", st.path, err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, o := range list {
		if o.Backend == "" || !o.State.Forcible() {
			return fmt.Errorf("%s: invalid override %+v", st.path, o)
		}
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
	prefix, _, _ := strings.Cut(overridesTemp, "*")
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

func (st *overrideStore) get(name string) (status.Override, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	o, ok := st.m[name]
	return o, ok
}

// byName returns a copy of the overrides by backend name, nil when there
// are none: one lock for a whole snapshot.
func (st *overrideStore) byName() map[string]status.Override {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.m) == 0 {
		return nil
	}
	return maps.Clone(st.m)
}

func (st *overrideStore) all() []status.Override {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]status.Override, 0, len(st.m))
	for _, o := range st.m {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b status.Override) int { return a.Created.Compare(b.Created) })
	return out
}

// update applies change to the set and persists it first: on a write
// error the set is left as it was and the error returned. change must
// give the same result applied twice (set or delete one entry).
func (st *overrideStore) update(change func(m map[string]status.Override)) error {
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
		return err
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

// expire removes the overrides whose time is up and returns them; nil (no
// allocation, no I/O) when there are none, which is nearly every tick.
// The persister writes the change.
func (st *overrideStore) expire(now time.Time) []status.Override {
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
func (st *overrideStore) flush() error {
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
func (st *overrideStore) write(m map[string]status.Override, background bool) error {
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

// persistOverrides writes the overrides whenever they changed without
// being written (expiries), and tries failed writes again, until ctx ends;
// then it writes what is left. It is a goroutine of Run.
func (s *Server) persistOverrides(ctx context.Context) {
	st := s.overrides
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
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("persist overrides: %w", err)
	}
	tmp, err := os.CreateTemp(dir, overridesTemp)
	if err != nil {
		return fmt.Errorf("persist overrides: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("persist overrides: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("persist overrides: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("persist overrides: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("persist overrides: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// SetOverride forces a backend's circuit OPEN or CLOSED until the override
// is cleared or expires. It is persisted before it takes effect.
func (s *Server) SetOverride(_ context.Context, o status.Override) error {
	b := s.backend(o.Backend)
	if b == nil {
		return fmt.Errorf("%w: %q", status.ErrUnknownBackend, o.Backend)
	}
	if !o.State.Forcible() {
		return fmt.Errorf("override state must be OPEN or CLOSED, got %q", o.State)
	}
	now := s.clock.Now()
	if o.Created.IsZero() {
		o.Created = now
	}
	if err := s.overrides.update(func(m map[string]status.Override) { m[o.Backend] = o }); err != nil {
		return err
	}
	b.note(b.br.Force(o.State.Breaker(), now))
	s.announce(status.Event{Type: status.OverrideSet, Time: now, Backend: o.Backend, To: o.State, Reason: "override",
		Detail: o.Reason, Author: o.Author})
	return nil
}

// ClearOverride returns a backend's circuit to automatic decisions.
// Clearing when no override is set is not an error.
func (s *Server) ClearOverride(_ context.Context, backend, author string) error {
	b := s.backend(backend)
	if b == nil {
		return fmt.Errorf("%w: %q", status.ErrUnknownBackend, backend)
	}
	return s.clearOverride(b, author, "cleared")
}

func (s *Server) clearOverride(b *backend, author, why string) error {
	if _, ok := s.overrides.get(b.cfg.Name); !ok {
		return nil
	}
	if err := s.overrides.update(func(m map[string]status.Override) { delete(m, b.cfg.Name) }); err != nil {
		return err
	}
	s.overrideEnded(b, author, why, s.clock.Now())
	return nil
}

// overrideEnded returns b's circuit to automatic decisions and says so.
func (s *Server) overrideEnded(b *backend, author, why string, now time.Time) {
	b.note(b.br.Unforce(now))
	s.announce(status.Event{Type: status.OverrideCleared, Time: now, Backend: b.cfg.Name, Reason: "override", Detail: why, Author: author})
}

// expireOverrides ends the overrides whose time is up. It runs on the
// tick, so it does no disk I/O: persistOverrides writes the change.
func (s *Server) expireOverrides(now time.Time) {
	for _, o := range s.overrides.expire(now) {
		if b := s.backend(o.Backend); b != nil {
			s.overrideEnded(b, "expiry", "expired", now)
		}
	}
}

// announce publishes an event that is not a breaker transition.
func (s *Server) announce(ev status.Event) {
	s.log.Info("operator action", "event", string(ev.Type), "backend", ev.Backend, "state", ev.To, "author", ev.Author, "detail", ev.Detail)
	s.events.publish(ev)
}

// Ready reports whether the proxy can take a session now: its client
// listener accepts and some backend can serve. When not, why says so in a
// sentence for operators.
func (s *Server) Ready() (ok bool, why string) {
	if t := s.acceptTrouble.Load(); t != nil {
		return false, *t
	}
	for _, b := range s.list() {
		if !b.draining.Load() && b.br.State() != breaker.Open {
			return true, ""
		}
	}
	return false, "no backend can take a session: every circuit is open or its backend draining"
}

// EffectiveConfig returns the running configuration as JSON with the
// file's key names, secrets redacted.
func (s *Server) EffectiveConfig() ([]byte, error) { return s.config().RedactedJSON() }

// startChecker starts the health checker of b, and the probe of its
// authentication (which runs even without health checks), as goroutines
// of Run. The caller holds runMu.
func (s *Server) startChecker(b *backend, hc config.HealthChecks) error {
	pc, err := checkerConfig(b.cfg, hc)
	if err != nil {
		return err
	}
	s.runChecker(b, hc, pc)
	return nil
}

// checkerConfig returns the connection settings of bc's health checker
// under hc; nil when health checks are off.
func checkerConfig(bc config.Backend, hc config.HealthChecks) (*pgconn.Config, error) {
	if !hc.Enabled {
		return nil, nil
	}
	return checkConfig(bc, hc)
}

// runChecker is startChecker with the health checker's settings made: pc
// nil runs the probe of authentication alone. The caller holds runMu.
func (s *Server) runChecker(b *backend, hc config.HealthChecks, pc *pgconn.Config) {
	ctx, cancel := context.WithCancel(s.runCtx)
	s.checkers[b] = cancel
	s.runWG.Go(func() { s.watchTrust(ctx, b, hc) })
	if pc != nil {
		h := &healthChecker{s: s, b: b, hc: hc, cfg: pc}
		s.runWG.Go(func() { h.run(ctx) })
	}
}

func (s *Server) stopChecker(b *backend) {
	if cancel, ok := s.checkers[b]; ok {
		cancel()
		delete(s.checkers, b)
	}
}

// errNotRunning is returned by Reload before Run.
var errNotRunning = errors.New("the proxy is not running")

// Reload reads the configuration again and applies it as a whole, or not
// at all: on any error the running configuration stays and the error lists
// every problem. Live client sessions are not touched: removed backends
// drain (their sessions finish, no new ones come), threshold changes keep
// circuit state and statistics.
func (s *Server) Reload(_ context.Context) (status.ReloadResult, error) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.runCtx == nil {
		return status.ReloadResult{}, errNotRunning
	}
	if s.source == nil {
		return status.ReloadResult{}, errors.New("no configuration file to reload from")
	}
	next, warnings, err := s.source()
	if err != nil {
		return status.ReloadResult{}, err
	}
	for _, w := range warnings {
		s.log.Warn("config: "+w.Message, "key", w.Key, "at", fmt.Sprintf("%s:%d", w.File, w.Line))
	}
	p, err := s.planReload(s.config(), next)
	if err != nil {
		return status.ReloadResult{}, err
	}
	s.applyReload(p)
	res := p.res
	s.announce(status.Event{Type: status.ConfigReloaded, Time: s.clock.Now(), Reason: "reload",
		Detail: fmt.Sprintf("added %v, removed %v, changed %v, restart required for %v", res.Added, res.Removed, res.Changed, res.RestartRequired)})
	return res, nil
}

// reloadPlan is everything a reload changes, made before anything changes,
// so that applying it cannot fail.
type reloadPlan struct {
	next     config.Config
	backends []plannedBackend // in the new configuration's order
	drain    []*backend       // removed, or replaced by another server under the same name
	users    map[string]*poolUser
	res      status.ReloadResult
}

// plannedBackend is one backend of the new configuration.
type plannedBackend struct {
	cfg   config.Backend
	old   *backend       // the serving backend it keeps (same name and address); nil: a new one
	check bool           // its checkers start (a new backend) or restart (health checks changed)
	pc    *pgconn.Config // its health checker's settings when check; nil: health checks are off
}

// planReload makes the plan of a reload from old to next; it changes
// nothing. The caller holds runMu.
func (s *Server) planReload(old *config.Config, next config.Config) (reloadPlan, error) {
	p := reloadPlan{next: next}
	p.res.Changed, p.res.RestartRequired = config.Changes(old, &next)
	oldByName := make(map[string]*backend)
	for _, b := range s.list() {
		oldByName[b.cfg.Name] = b
	}
	checksChanged := !reflect.DeepEqual(old.HealthChecks, next.HealthChecks)
	for _, bc := range next.Backends.Instances {
		pb := plannedBackend{cfg: bc, check: true}
		if b, ok := oldByName[bc.Name]; ok {
			delete(oldByName, bc.Name)
			if b.cfg.Address() == bc.Address() {
				pb.old, pb.check = b, checksChanged
			} else {
				p.drain = append(p.drain, b) // same name, another server: the old one drains
			}
		}
		if pb.old == nil {
			p.res.Added = append(p.res.Added, bc.Name)
		}
		if pb.check {
			pc, err := checkerConfig(bc, next.HealthChecks)
			if err != nil {
				return reloadPlan{}, err
			}
			pb.pc = pc
		}
		p.backends = append(p.backends, pb)
	}
	for name, b := range oldByName {
		p.drain = append(p.drain, b)
		p.res.Removed = append(p.res.Removed, name)
	}
	slices.Sort(p.res.Removed)
	users, err := s.usersFor(next)
	if err != nil {
		return reloadPlan{}, err
	}
	p.users = users
	return p, nil
}

// applyReload swaps a reload's plan in; nothing in it can fail. The
// caller holds runMu.
func (s *Server) applyReload(p reloadPlan) {
	for _, b := range p.drain {
		s.drain(b)
		s.group.Remove(b.cfg.Name)
	}
	now := s.clock.Now()
	list := make([]*backend, 0, len(p.backends))
	for _, pb := range p.backends {
		b := pb.old
		if b != nil {
			b.live.Store(&pb.cfg)
			b.br.SetConfig(breakerConfig(p.next, pb.cfg))
		} else {
			b = s.newBackend(pb.cfg, s.group.Add(pb.cfg.Name, breakerConfig(p.next, pb.cfg)))
			if o, ok := s.overrides.get(pb.cfg.Name); ok {
				b.br.Force(o.State.Breaker(), now)
			}
		}
		if pb.check {
			s.stopChecker(b)
			s.runChecker(b, p.next.HealthChecks, pb.pc)
		}
		list = append(list, b)
	}
	s.backends.Store(&list)
	s.usersMu.Lock()
	s.users = p.users
	s.usersMu.Unlock()
	s.cfg.Store(&p.next)
	s.breakersOnSet(p.next)
	s.buffers.limit.Store(p.next.Proxy.MaxBufferMemory)
}

// drain stops new sessions to b and its health checks; its live sessions
// finish on their own.
func (s *Server) drain(b *backend) {
	b.draining.Store(true)
	s.stopChecker(b)
	s.retired = append(s.retired, b) // its pools close when Run ends
}
