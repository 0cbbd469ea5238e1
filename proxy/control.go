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

	"github.com/pelletier/go-toml/v2"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/status"
)

// overrideStore holds the operators' overrides and persists them, so that
// they survive restarts: one JSON file under [state] dir, replaced
// atomically (write, fsync, rename, fsync the directory).
type overrideStore struct {
	path string // "" keeps them in memory only
	mu   sync.Mutex
	m    map[string]status.Override
}

const overridesFile = "overrides.json"

// overridesTemp is the pattern of writeOverrides' temporary files:
// os.CreateTemp puts a random decimal number in place of the "*".
const overridesTemp = overridesFile + ".*"

func newOverrideStore(dir string) *overrideStore {
	st := &overrideStore{m: make(map[string]status.Override)}
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
func (st *overrideStore) load(log *slog.Logger) error {
	if st.path == "" {
		return nil
	}
	n, err := removeStaleTemps(filepath.Dir(st.path))
	if n > 0 {
		log.Info("removed temporary files of interrupted override writes", "dir", filepath.Dir(st.path), "removed", n)
	}
	if err != nil {
		log.Warn("temporary files of interrupted override writes not removed", "dir", filepath.Dir(st.path), "err", err)
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

// update applies change to the set and persists it; on a write error the
// set is left as it was.
func (st *overrideStore) update(change func(m map[string]status.Override)) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	next := make(map[string]status.Override, len(st.m)+1)
	for k, v := range st.m {
		next[k] = v
	}
	change(next)
	if st.path != "" {
		if err := writeOverrides(st.path, next); err != nil {
			return err
		}
	}
	st.m = next
	return nil
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
	if tr, ok := b.br.Force(o.State.Breaker(), now); ok {
		s.publish(b, tr)
	}
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
	now := s.clock.Now()
	if tr, ok := b.br.Unforce(now); ok {
		s.publish(b, tr)
	}
	s.announce(status.Event{Type: status.OverrideCleared, Time: now, Backend: b.cfg.Name, Reason: "override", Detail: why, Author: author})
	return nil
}

// expired returns the overrides whose time is up; nil (no allocation)
// when there are none, which is nearly every tick.
func (st *overrideStore) expired(now time.Time) []status.Override {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []status.Override
	for _, o := range st.m {
		if !o.Expires.IsZero() && !now.Before(o.Expires) {
			out = append(out, o)
		}
	}
	return out
}

// expireOverrides clears the overrides whose time is up.
func (s *Server) expireOverrides(now time.Time) {
	for _, o := range s.overrides.expired(now) {
		if b := s.backend(o.Backend); b != nil {
			if err := s.clearOverride(b, "expiry", "expired"); err != nil {
				s.log.Error("expired override not cleared", "backend", o.Backend, "err", err)
			}
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
func (s *Server) EffectiveConfig() ([]byte, error) {
	data, err := s.config().Redacted().Encode()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := toml.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

// startChecker starts the health checker of b, and the probe of its
// authentication (which runs even without health checks), as goroutines
// of Run. The caller holds runMu.
func (s *Server) startChecker(b *backend, hc config.HealthChecks) error {
	var h *healthChecker
	if hc.Enabled {
		pc, err := checkConfig(b.cfg, hc)
		if err != nil {
			return err
		}
		h = &healthChecker{s: s, b: b, hc: hc, cfg: pc}
	}
	ctx, cancel := context.WithCancel(s.runCtx)
	s.checkers[b] = cancel
	s.runWG.Go(func() { s.watchTrust(ctx, b, hc) })
	if h != nil {
		s.runWG.Go(func() { h.run(ctx) })
	}
	return nil
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
	var res status.ReloadResult
	if s.runCtx == nil {
		return res, errNotRunning
	}
	if s.source == nil {
		return res, errors.New("no configuration file to reload from")
	}
	next, warnings, err := s.source()
	if err != nil {
		return res, err
	}
	for _, w := range warnings {
		s.log.Warn("config: "+w.Message, "key", w.Key, "at", fmt.Sprintf("%s:%d", w.File, w.Line))
	}
	old := s.config()
	res.Changed, res.RestartRequired = configChanges(old, &next)

	oldByName := make(map[string]*backend)
	for _, b := range s.list() {
		oldByName[b.cfg.Name] = b
	}
	var list []*backend
	checksChanged := !reflect.DeepEqual(old.HealthChecks, next.HealthChecks)
	for _, bc := range next.Backends.Instances {
		b, ok := oldByName[bc.Name]
		if ok && b.cfg.Address() == bc.Address() {
			delete(oldByName, bc.Name)
			b.live.Store(&bc)
			b.br.SetConfig(breakerConfig(next, bc))
			if checksChanged {
				s.stopChecker(b)
				if err := s.startChecker(b, next.HealthChecks); err != nil {
					s.log.Error("health checker not restarted", "backend", bc.Name, "err", err)
				}
			}
			list = append(list, b)
			continue
		}
		if ok { // same name, another server: the old one drains
			s.drain(b)
			delete(oldByName, bc.Name)
			s.group.Remove(bc.Name)
		}
		nb := newBackend(bc, s.group.Add(bc.Name, breakerConfig(next, bc)))
		if o, ok := s.overrides.get(bc.Name); ok {
			nb.br.Force(o.State.Breaker(), s.clock.Now())
		}
		if err := s.startChecker(nb, next.HealthChecks); err != nil {
			s.log.Error("health checker not started", "backend", bc.Name, "err", err)
		}
		list = append(list, nb)
		res.Added = append(res.Added, bc.Name)
	}
	for name, b := range oldByName {
		s.drain(b)
		s.group.Remove(name)
		res.Removed = append(res.Removed, name)
	}
	slices.Sort(res.Removed)
	s.backends.Store(&list)
	if err := s.setUsers(next); err != nil {
		return res, err
	}
	s.cfg.Store(&next)
	s.breakersOnSet(next)
	s.buffers.limit.Store(next.Proxy.MaxBufferMemory)
	s.announce(status.Event{Type: status.ConfigReloaded, Time: s.clock.Now(), Reason: "reload",
		Detail: fmt.Sprintf("added %v, removed %v, changed %v, restart required for %v", res.Added, res.Removed, res.Changed, res.RestartRequired)})
	return res, nil
}

// drain stops new sessions to b and its health checks; its live sessions
// finish on their own.
func (s *Server) drain(b *backend) {
	b.draining.Store(true)
	s.stopChecker(b)
}

// configChanges names the sections and backends that differ, and the
// settings among them that need a restart.
func configChanges(old, next *config.Config) (changed, restart []string) {
	sections := []struct {
		name string
		a, b any
	}{
		{"proxy", old.Proxy, next.Proxy},
		{"circuit_breaker", old.CircuitBreaker, next.CircuitBreaker},
		{"health_checks", old.HealthChecks, next.HealthChecks},
		{"observability", old.Observability, next.Observability},
		{"alerts", old.Alerts, next.Alerts},
		{"api", old.API, next.API},
		{"state", old.State, next.State},
		{"pool", old.Pool, next.Pool},
	}
	for _, sec := range sections {
		if !reflect.DeepEqual(sec.a, sec.b) {
			changed = append(changed, sec.name)
		}
	}
	olds := make(map[string]config.Backend)
	for _, b := range old.Backends.Instances {
		olds[b.Name] = b
	}
	for _, b := range next.Backends.Instances {
		if o, ok := olds[b.Name]; ok && !reflect.DeepEqual(o, b) {
			changed = append(changed, "backends.instances."+b.Name)
		}
	}
	p, q := old.Proxy, next.Proxy
	if p.ListenAddress != q.ListenAddress {
		restart = append(restart, "proxy.listen_address")
	}
	if p.TLSCertFile != q.TLSCertFile || p.TLSKeyFile != q.TLSKeyFile {
		restart = append(restart, "proxy.tls_cert_file")
	}
	if p.StartupTimeout != q.StartupTimeout || p.ConnectTimeout != q.ConnectTimeout || p.MaxMessageSize != q.MaxMessageSize {
		restart = append(restart, "proxy.startup_timeout/connect_timeout/max_message_size")
	}
	if p.Workers != q.Workers {
		restart = append(restart, "proxy.workers")
	}
	if old.API.ListenAddress != next.API.ListenAddress {
		restart = append(restart, "api.listen_address")
	}
	if old.Observability.MetricsPort != next.Observability.MetricsPort {
		restart = append(restart, "observability.metrics_port")
	}
	if old.State.Dir != next.State.Dir {
		restart = append(restart, "state.dir")
	}
	if !reflect.DeepEqual(old.Alerts, next.Alerts) {
		restart = append(restart, "alerts")
	}
	return changed, restart
}
