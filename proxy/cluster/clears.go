package cluster

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/heliosdb/heliosproxy/internal/statefile"
)

// clearsFile, in [state] dir, holds the clears of overrides (tombstones)
// the Node knows. Overrides live in every member's overrides.json; a
// clear lives only in the registers, and when every member restarts
// (a whole-cluster restart) a member that slept through the clear would
// hand its override back to all. Kept here, the clear wins again at the
// first state exchange.
const clearsFile = "cluster-clears.json"

// clearsKeep is how long a clear is kept (in the register and
// clearsFile): a member away longer may bring a cleared override back.
// There is at most one per backend ever configured, and one per role
// and database whose override was cleared.
const clearsKeep = 30 * 24 * time.Hour

// clearsTemp is the pattern of clearsFile's temporary files.
const clearsTemp = ".cluster-clears-*"

// loadClears merges the clears kept in the state dir into the register.
// A file that cannot be read is logged and left for the next write to
// replace: the clears are also in the other members' registers.
func (n *Node) loadClears() {
	dir := n.opts.StateDir
	if dir == "" {
		return
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, clearsTemp)); len(tmps) > 0 {
		for _, t := range tmps { // leftovers of a write a crash cut short
			_ = os.Remove(t)
		}
	}
	path := filepath.Join(dir, clearsFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var cs []Change
	if err == nil {
		err = json.Unmarshal(data, &cs)
	}
	if err != nil {
		n.log.Warn("cleared overrides kept in the state dir not read; the other members still know them", "path", path, "err", err)
		return
	}
	for _, c := range cs {
		if c.Cleared() && (c.Backend != "" || c.User()) {
			n.reg.merge(c)
			n.clk.Observe(c.Stamp)
		}
	}
}

// saveClears writes the register's clears to the state dir.
func (n *Node) saveClears() {
	dir := n.opts.StateDir
	if dir == "" {
		return
	}
	n.saveMu.Lock()
	defer n.saveMu.Unlock()
	data, err := json.Marshal(n.reg.clears())
	if err == nil {
		err = statefile.Write(filepath.Join(dir, clearsFile), data, clearsTemp)
	}
	if err != nil {
		n.log.Error("cleared override not kept in the state dir; a restart of every member could bring it back", "dir", dir, "err", err)
	}
}
