package tenant

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heliosdb/heliosproxy/internal/statefile"
	"github.com/heliosdb/heliosproxy/status"
)

// errSkipped: change found the override not as it required.
var errSkipped = errors.New("override changed meanwhile")

// OverridesFile is the name of the role overrides' file under [state] dir.
const OverridesFile = "user_overrides.json"

// overrideStore keeps the role overrides, written (atomically, durably)
// before a change takes effect; operators change them rarely, so each
// change writes the whole file.
type overrideStore struct {
	path string

	writeMu sync.Mutex                                  // serialises writes
	m       atomic.Pointer[map[key]status.UserOverride] // replaced whole: read on every request without a lock
}

func (s *overrideStore) init(dir string) {
	s.m.Store(&map[key]status.UserOverride{})
	if dir != "" {
		s.path = filepath.Join(dir, OverridesFile)
	}
}

func (s *overrideStore) get(k key) (status.UserOverride, bool) {
	o, ok := (*s.m.Load())[k]
	return o, ok
}

// at is get for an override in force at now: one whose time is up no
// longer applies, even before the tick removes it.
func (s *overrideStore) at(k key, now time.Time) (status.UserOverride, bool) {
	o, ok := (*s.m.Load())[k]
	if !ok || o.Expired(now) {
		return status.UserOverride{}, false
	}
	return o, true
}

func (s *overrideStore) all() []status.UserOverride {
	m := *s.m.Load()
	out := make([]status.UserOverride, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b status.UserOverride) int { return byRole(a.Role, a.Database, b.Role, b.Database) })
	return out
}

// set stores o for k (nil removes it), writing the file first.
func (s *overrideStore) set(k key, o *status.UserOverride) error {
	return s.change(k, o, nil, true)
}

// change stores o for k (nil removes it), writing the file first unless
// !write (then in memory only, until the next change writes the file);
// when only is not nil, it does so only if only accepts the override k
// has now (ok false: none), and reports that it did not with errSkipped.
func (s *overrideStore) change(k key, o *status.UserOverride, only func(cur status.UserOverride, ok bool) bool, write bool) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if only != nil {
		cur, ok := (*s.m.Load())[k]
		if !only(cur, ok) {
			return errSkipped
		}
	}
	next := maps.Clone(*s.m.Load())
	if o == nil {
		delete(next, k)
	} else {
		next[k] = *o
	}
	if s.path != "" && write {
		list := make([]status.UserOverride, 0, len(next))
		for _, v := range next {
			list = append(list, v)
		}
		data, err := json.MarshalIndent(list, "", "  ")
		if err != nil {
			return err
		}
		if err := statefile.Write(s.path, data, OverridesFile+".*"); err != nil {
			return fmt.Errorf("user override %w: %w", status.ErrNotSaved, err)
		}
	}
	s.m.Store(&next)
	return nil
}

func (s *overrideStore) load() error {
	if s.path == "" {
		return nil
	}
	data, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var list []status.UserOverride
	if err := json.Unmarshal(data, &list); err != nil {
		// Kept for the operator: the next change would replace it.
		return statefile.SetAside(s.path, err, time.Now())
	}
	m := make(map[key]status.UserOverride, len(list))
	for _, o := range list {
		m[key{o.Role, o.Database}] = o
	}
	s.m.Store(&m)
	return nil
}
