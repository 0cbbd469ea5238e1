package alerts

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/heliosdb/heliosproxy/internal/statefile"
	"github.com/heliosdb/heliosproxy/status"
)

// savedIncidents is what Config.IncidentsFile keeps: the circuit
// incidents open (paged and not resolved), so that a proxy restarted
// during an outage resolves the pages its previous run sent once their
// backends are healthy. Without it, the new process starts with every
// circuit CLOSED and nothing would ever resolve them.
type savedIncidents struct {
	Backends []string `json:"backends,omitempty"` // backends with an incident of their own
	// Cascade names the open cascade incident's backends, in order;
	// CascadeOpen those that keep it open.
	Cascade     []string `json:"cascade,omitempty"`
	CascadeOpen []string `json:"cascade_open,omitempty"`
}

// saved returns the open circuit incidents, in a stable order.
func (p *policy) saved() savedIncidents {
	var s savedIncidents
	for name, b := range p.backends {
		if b.incident {
			s.Backends = append(s.Backends, name)
		}
		if b.member {
			s.CascadeOpen = append(s.CascadeOpen, name)
		}
	}
	slices.Sort(s.Backends)
	slices.Sort(s.CascadeOpen)
	if p.cascade != nil {
		s.Cascade = slices.Clone(p.cascade.backends)
	}
	return s
}

// restore takes up the incidents a previous run left open: each backend's
// is held as if its circuit had just closed, for FlapWindow and at least
// RestoreGrace. A circuit that opens again meanwhile continues the
// incident without a new page; one that stays closed resolves it. A held
// restored close stays held at shutdown (flush): nothing was seen of the
// backend that would resolve it.
func (p *policy) restore(s savedIncidents, now time.Time) {
	due := now.Add(max(p.cfg.FlapWindow, p.cfg.RestoreGrace))
	hold := func(name string) *backendState {
		b := p.backend(name)
		if b.pendingClose == nil {
			b.pendingClose = &status.Event{Type: status.CircuitClosed, Time: now, Backend: name, To: status.Closed,
				Reason: "restart", Detail: "HeliosProxy restarted; the circuit has stayed CLOSED since"}
			b.closeDue, b.restored = due, b.pendingClose
		}
		return b
	}
	for _, name := range s.Backends {
		hold(name).incident = true
	}
	if len(s.Cascade) > 0 {
		p.cascade = &cascadeState{backends: slices.Clone(s.Cascade)}
		open := s.CascadeOpen
		if len(open) == 0 {
			open = s.Cascade
		}
		for _, name := range open {
			hold(name).member = true
		}
	}
}

// loadIncidents reads path; a missing file is a first start, a corrupt
// one is set aside (statefile.SetAside) and reported.
func loadIncidents(path string) (savedIncidents, error) {
	var s savedIncidents
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err == nil {
		if err = json.Unmarshal(data, &s); err != nil {
			return savedIncidents{}, statefile.SetAside(path, err, time.Now())
		}
	}
	return s, err
}

// saveIncidents writes s to path when it differs from last, and returns
// what the file holds now.
func (d *Dispatcher) saveIncidents(s, last savedIncidents) savedIncidents {
	path := d.cfg.IncidentsFile
	if path == "" || slices.Equal(s.Backends, last.Backends) && slices.Equal(s.Cascade, last.Cascade) && slices.Equal(s.CascadeOpen, last.CascadeOpen) {
		return last
	}
	data, _ := json.Marshal(s)
	if err := statefile.Write(path, data, ".incidents-*.tmp"); err != nil {
		d.log.Error("open incidents not saved: a restart would not resolve their pages", "file", path, "err", err)
		return last
	}
	return s
}
