package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/heliosdb/heliosproxy/internal/statefile"
)

// timelinesFile keeps, under [state] dir, the highest timeline a primary of
// each replication group (by system identifier) was seen on, so that a
// proxy restarted while the new primary is down does not take a former
// primary back on its old timeline (backend.Topology.Remember).
const timelinesFile = "timelines.json"

// loadTimelines seeds the topology from [state] dir. A missing file is a
// first start; an unreadable one is logged and ignored, as a corrupt
// overrides file is.
func (s *Server) loadTimelines(dir string) {
	if dir == "" {
		return
	}
	data, err := os.ReadFile(filepath.Join(dir, timelinesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var byID map[string]int64
	if err == nil {
		err = json.Unmarshal(data, &byID)
	}
	timelines := make(map[uint64]int64, len(byID))
	for id, tl := range byID {
		n, perr := strconv.ParseUint(id, 10, 64)
		if perr != nil && err == nil {
			err = fmt.Errorf("system identifier %q: %w", id, perr)
		}
		timelines[n] = tl
	}
	if err != nil {
		s.log.Error("persisted timelines not loaded; starting without them", "file", filepath.Join(dir, timelinesFile), "err", err)
		return
	}
	s.topology.Remember(timelines)
}

// saveTimelines writes the topology's highest timelines when they grew (a
// promotion was seen). It runs on a health checker's goroutine, rarely.
func (s *Server) saveTimelines() {
	// Checkers of several backends may get here at once: the one that
	// writes last must write the latest timelines.
	s.timelinesMu.Lock()
	defer s.timelinesMu.Unlock()
	timelines, grew := s.topology.Timelines()
	dir := s.config().State.Dir
	if !grew || dir == "" {
		return
	}
	byID := make(map[string]int64, len(timelines))
	for id, tl := range timelines {
		byID[strconv.FormatUint(id, 10)] = tl
	}
	data, err := json.MarshalIndent(byID, "", "  ")
	if err == nil {
		err = statefile.Write(filepath.Join(dir, timelinesFile), data, ".timelines-*")
	}
	if err != nil {
		s.log.Error("timelines not persisted: a restarted proxy may take a former primary back", "err", err)
	}
}
