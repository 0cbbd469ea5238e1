package overrides

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestStoreRoundTrip: what Update and Persist write, a new Store loads;
// stale temporary files of an interrupted write are removed, nothing else.
func TestStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	st := New(dir, quiet())
	a := status.Override{Backend: "pg-a", State: status.Open, Reason: "maintenance", Author: "ops", Created: t0}
	b := status.Override{Backend: "pg-b", State: status.Closed, Created: t0.Add(time.Second), Expires: t0.Add(time.Minute)}
	for _, o := range []status.Override{a, b} {
		if err := st.Update(func(m map[string]status.Override) { m[o.Backend] = o }); err != nil {
			t.Fatal(err)
		}
	}
	if got := st.Expire(t0.Add(30 * time.Second)); got != nil {
		t.Errorf("Expire(t0+30s) = %v, want none", got)
	}
	if got := st.Expire(t0.Add(time.Minute)); len(got) != 1 || got[0].Backend != "pg-b" {
		t.Errorf("Expire(t0+1m) = %v, want pg-b", got)
	}
	// Persist writes the expiry and returns when its context ends.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	st.Persist(ctx)

	for _, name := range []string{File + ".123", File + ".9"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("torn"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keep := File + ".bak"
	if err := os.WriteFile(filepath.Join(dir, keep), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	again := New(dir, quiet())
	if err := again.Load(); err != nil {
		t.Fatal(err)
	}
	if got := again.All(); len(got) != 1 || got[0] != a {
		t.Errorf("loaded %+v, want only %+v", got, a)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 2 || names[0] != File || names[1] != keep {
		t.Errorf("state dir holds %v, want [%s %s]", names, File, keep)
	}
}
