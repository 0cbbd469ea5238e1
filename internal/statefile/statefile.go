// Package statefile writes the proxy's state files under [state] dir
// atomically and durably: a reader finds the old file or the new one,
// never a torn one, also after a crash.
package statefile

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Write replaces path with data: written to a temporary file in the same
// directory (named by tempPattern, as os.CreateTemp takes it, so that the
// caller can find leftovers of a crash), synced, renamed over path, and
// the directory synced. The directory is created if missing.
func Write(path string, data []byte, tempPattern string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// SetAside renames path, a state file that cannot be read back because of
// err (torn by hand, corrupt), to path + ".corrupt-" + now in UTC, so that
// the next Write does not replace what an operator may still recover from
// it. It returns the error to report: err, naming where the file is kept.
func SetAside(path string, err error, now time.Time) error {
	aside := path + ".corrupt-" + now.UTC().Format("20060102T150405.000Z")
	if rerr := os.Rename(path, aside); rerr != nil {
		return fmt.Errorf("%s: %w (and it could not be set aside: %v)", path, err, rerr)
	}
	return fmt.Errorf("%s: %w; the file is kept as %s", path, err, aside)
}
