package pgcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// errNoBinaries is returned by BinDir when no PostgreSQL server is installed.
var errNoBinaries = errors.New("PostgreSQL server binaries not found: install them with `apt-get install postgresql` (or set PG_BINDIR)")

// BinDir finds the directory with initdb and postgres: $PG_BINDIR, then initdb
// on PATH (resolving symlinks, as Debian's /usr/bin holds only wrappers), then
// the newest /usr/lib/postgresql/*/bin. A PG_BINDIR without both binaries is
// an error rather than a reason to look elsewhere.
func BinDir() (string, error) {
	if dir := os.Getenv("PG_BINDIR"); dir != "" {
		if !hasServer(dir) {
			return "", fmt.Errorf("PG_BINDIR=%s: no initdb and postgres executables there", dir)
		}
		return dir, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if p, err = filepath.EvalSymlinks(p); err == nil {
			if dir := filepath.Dir(p); hasServer(dir) {
				return dir, nil
			}
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin") // the pattern is valid
	slices.SortFunc(dirs, func(a, b string) int {
		return -compareVersions(filepath.Base(filepath.Dir(a)), filepath.Base(filepath.Dir(b)))
	})
	for _, dir := range dirs {
		if hasServer(dir) {
			return dir, nil
		}
	}
	return "", errNoBinaries
}

func hasServer(dir string) bool {
	return isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "postgres"))
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// compareVersions orders PostgreSQL major versions such as "9.6", "10" and
// "15" numerically; names that are not numbers sort before all versions.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(pa), len(pb)) {
		na, nb := -1, -1
		if i < len(pa) {
			if n, err := strconv.Atoi(pa[i]); err == nil {
				na = n
			}
		}
		if i < len(pb) {
			if n, err := strconv.Atoi(pb[i]); err == nil {
				nb = n
			}
		}
		if na != nb {
			return na - nb
		}
	}
	return strings.Compare(a, b)
}
