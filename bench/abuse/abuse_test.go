package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/heliosdb/heliosproxy/api"
	"github.com/heliosdb/heliosproxy/bench/internal/inproc"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// startProxy runs the proxy and its REST API in this process in front of
// one throwaway cluster until the test ends; it returns their addresses
// and the cluster's password.
func startProxy(t *testing.T) (addr, apiAddr, password string) {
	t.Helper()
	c := pgtest.New(t, pgtest.Options{Name: "abuse"})
	cfg := config.Default()
	cfg.Proxy.ListenAddress = "127.0.0.1:0"
	cfg.HealthChecks.Password = c.Password
	b := config.DefaultBackend()
	b.Name, b.Host, b.Port = "pg-a", c.Host, c.Port
	cfg.Backends.Instances = append(cfg.Backends.Instances, b)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	log := slog.New(slog.DiscardHandler)
	srv, addr, stop, err := inproc.Start(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("start the proxy: %v", err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	h, err := api.New(srv, log, api.Options{AdminToken: "abuse-test-token", ListenAddress: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return addr, strings.TrimPrefix(hs.URL, "http://"), c.Password
}

var verdictLine = regexp.MustCompile(`^(PASS|FAIL|SKIP)  (\S+) +(\S.*)$`)

// TestVerdictLines runs the sql-bomb and malformed-describe attacks
// against an in-process proxy: every line parses, every attack reports,
// and malformed-describe (fixed) passes.
func TestVerdictLines(t *testing.T) {
	addr, apiAddr, password := startProxy(t)
	args := []string{"-addr", addr, "-api", apiAddr, "-password", password, "-pid", strconv.Itoa(os.Getpid()),
		"-only", "sql-bomb,malformed-describe"}
	var out, errs bytes.Buffer
	if code := run(t.Context(), args, &out, &errs); code != 0 && code != 1 {
		t.Fatalf("run = %d, want 0 or 1; stderr:\n%s", code, errs.String())
	}
	var got []string
	verdicts := make(map[string]string)
	for line := range strings.Lines(out.String()) {
		m := verdictLine.FindStringSubmatch(strings.TrimSuffix(line, "\n"))
		if m == nil {
			t.Errorf("line does not parse: %q", line)
			continue
		}
		got = append(got, m[2])
		verdicts[m[2]] = m[1]
	}
	var want []string
	for _, b := range bombs {
		want = append(want, b.name+"/helios_proxy", b.name+"/postgres")
	}
	want = append(want, "malformed-describe")
	if !slices.Equal(got, want) {
		t.Errorf("attacks reported %v, want %v", got, want)
	}
	if v := verdicts["malformed-describe"]; v != pass {
		t.Errorf("malformed-describe = %s, want PASS; output:\n%s", v, out.String())
	}
	t.Logf("\n%s", out.String())

	// -json: one object per attack with the same verdict.
	out.Reset()
	args[len(args)-1] = "malformed-describe"
	if code := run(t.Context(), append(args, "-json"), &out, io.Discard); code != 0 {
		t.Errorf("run -json = %d, want 0", code)
	}
	var r report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil || r.Attack != "malformed-describe" || r.Verdict != pass || r.Alive == nil || !*r.Alive {
		t.Errorf("-json = %s (%v), want malformed-describe PASS, alive", out.String(), err)
	}
}
