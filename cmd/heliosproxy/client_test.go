package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// runCLI runs heliosproxy with args in the test's process and returns its
// exit status, stdout and stderr.
func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, nil, &out, &errOut)
	return code, out.String(), errOut.String()
}

// column returns where (in runes) the column headed name starts in a
// table's header line, or -1.
func column(header, name string) int {
	i := strings.Index(header, name)
	if i < 0 {
		return -1
	}
	return len([]rune(header[:i]))
}

// cell returns the text of line from rune column at up to the next run of
// two spaces.
func cell(line string, at int) string {
	r := []rune(line)
	if at < 0 || at >= len(r) {
		return ""
	}
	s := string(r[at:])
	if i := strings.Index(s, "  "); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// TestStatusCommand runs heliosproxy status, events and override against
// the real service (a child process in front of two real clusters), in
// human and --json output, with the admin token in $HELIOS_ADMIN_TOKEN.
func TestStatusCommand(t *testing.T) {
	a := pgtest.New(t, pgtest.Options{Name: "cli-a"})
	b := pgtest.New(t, pgtest.Options{Name: "cli-b"})
	path := childConfig(t, a, "[[backends.instances]]\nname = \"pg-b\"\nhost = \"127.0.0.1\"\n"+
		"port = "+strconv.Itoa(b.Port)+"\npriority = 50\n")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := startChild(t, "run", "--config", path)
	line, _ := c.out.wait(t, ctx, 0, "serving the REST API")
	api := strings.TrimSuffix(field(line, "url"), "/")
	t.Setenv(apiURLEnv, api)
	t.Setenv(adminTokenEnv, "")

	// Human output: a header and one aligned row per backend.
	code, out, errOut := runCLI("status")
	if code != 0 {
		t.Fatalf("status = exit %d, stderr %s", code, errOut)
	}
	rows := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(rows) != 3 || !strings.HasPrefix(rows[0], "BACKEND ") {
		t.Fatalf("status printed\n%s", out)
	}
	state, tier, routing := column(rows[0], "STATE"), column(rows[0], "TIER"), column(rows[0], "ROUTING")
	for _, r := range rows[1:] {
		if cell(r, state) != "CLOSED" {
			t.Errorf("status row %q: STATE column = %q, want CLOSED\n%s", r, cell(r, state), out)
		}
		// Independent clusters: each is its own primary.
		if cell(r, routing) != "read-write" {
			t.Errorf("status row %q: ROUTING column = %q, want read-write\n%s", r, cell(r, routing), out)
		}
	}
	if cell(rows[1], 0) != "pg" || cell(rows[2], 0) != "pg-b" || cell(rows[1], tier) != "0" || cell(rows[2], tier) != "50" {
		t.Errorf("status rows are not the backends with their tiers, aligned under the header:\n%s", out)
	}

	// --json is the API's document.
	code, out, errOut = runCLI("status", "--json")
	var doc struct {
		Backends []struct {
			Name  string `json:"backend_name"`
			State string `json:"circuit_state"`
		} `json:"backends"`
		Timestamp time.Time `json:"timestamp"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Backends) != 2 || doc.Backends[1].Name != "pg-b" || doc.Timestamp.IsZero() {
		t.Errorf("status --json = exit %d, %s %s", code, out, errOut)
	}
	code, out, _ = runCLI("status", "pg-b", "--json")
	if code != 0 || !strings.Contains(out, `"backend_name": "pg-b"`) {
		t.Errorf("status pg-b --json = exit %d, %s", code, out)
	}
	if code, _, errOut = runCLI("status", "nosuch"); code != 1 || !strings.Contains(errOut, "nosuch") {
		t.Errorf("status nosuch = exit %d, stderr %q; want 1 naming the backend", code, errOut)
	}

	// override set without the token: refused, with a hint to the variable.
	code, _, errOut = runCLI("override", "set", "pg-b", "--state", "open", "--reason", "maintenance")
	if code != 1 || !strings.Contains(errOut, adminTokenEnv) {
		t.Errorf("override set without a token = exit %d, stderr %q; want 1 naming $%s", code, errOut, adminTokenEnv)
	}
	t.Setenv(adminTokenEnv, childToken)
	code, _, errOut = runCLI("override", "set", "pg-b", "--state", "OPEN", "--reason", "x", "--ttl", "soon")
	if code != 1 || !strings.Contains(errOut, "ttl: must be a duration") {
		t.Errorf("override set --ttl soon = exit %d, stderr %q; want the API's field error", code, errOut)
	}
	code, out, errOut = runCLI("override", "set", "pg-b", "--state", "open", "--reason", "reindexing", "--ttl", "1h", "--author", "carol")
	if code != 0 || !strings.Contains(out, "pg-b: forced OPEN by carol until ") || !strings.Contains(out, "reindexing") {
		t.Errorf("override set = exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	_, out, _ = runCLI("status")
	rows = strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(rows) < 4 || cell(rows[2], state) != "OPEN (forced)" || cell(rows[2], column(rows[0], "REASON")) != "override" ||
		!strings.Contains(out, "\npg-b: forced OPEN by carol until ") {
		t.Errorf("status after override set:\n%s", out)
	}

	code, out, errOut = runCLI("events", "--limit", "5")
	if code != 0 || !strings.HasPrefix(out, "ID ") {
		t.Fatalf("events = exit %d, %s %s", code, out, errOut)
	}
	evRows := strings.Split(strings.TrimRight(out, "\n"), "\n")
	hdr := evRows[0]
	found := false
	for _, r := range evRows[1:] {
		if cell(r, column(hdr, "EVENT")) == "OverrideSet" && cell(r, column(hdr, "BACKEND")) == "pg-b" && cell(r, column(hdr, "AUTHOR")) == "carol" {
			found = true
		}
	}
	if !found {
		t.Errorf("events lacks the OverrideSet of pg-b by carol, aligned:\n%s", out)
	}
	code, out, _ = runCLI("events", "--json")
	var evs struct {
		Events []struct {
			Type   string `json:"event_type"`
			Author string `json:"author"`
		} `json:"events"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &evs) != nil || len(evs.Events) == 0 {
		t.Errorf("events --json = exit %d, %s", code, out)
	}

	code, out, errOut = runCLI("override", "clear", "pg-b")
	if code != 0 || !strings.Contains(out, "pg-b: override cleared") {
		t.Errorf("override clear = exit %d, %q %q", code, out, errOut)
	}
	_, out, _ = runCLI("status", "pg-b")
	if rows := strings.Split(out, "\n"); len(rows) < 2 || strings.Contains(out, "forced") {
		t.Errorf("status pg-b after override clear:\n%s", out)
	}

	// The token is never printed, whatever happened.
	c.out.mu.Lock()
	logged := strings.Join(c.out.all, "\n")
	c.out.mu.Unlock()
	if strings.Contains(logged, childToken) {
		t.Error("the proxy's log holds the admin token")
	}
	for _, args := range [][]string{{"status"}, {"events"}, {"override", "set", "pg-b", "--state", "BAD", "--reason", "r"}, {"override", "clear", "pg-b", "--api", "http://127.0.0.1:1"}} {
		_, out, errOut := runCLI(args...)
		if strings.Contains(out+errOut, childToken) {
			t.Errorf("heliosproxy %v printed the admin token", args)
		}
	}
	if code, _, errOut := runCLI("status", "--api", "http://127.0.0.1:1"); code != 1 || !strings.Contains(errOut, "127.0.0.1:1") {
		t.Errorf("status against nothing = exit %d, %q", code, errOut)
	}
	if code, _, _ := runCLI("override", "set", "pg-b", "--token", "x"); code != 2 {
		t.Errorf("override set --token = exit %d, want 2: the token is not a flag", code)
	}
}

// TestOverrideCommandWithoutAdminToken: against a proxy that has no [api]
// admin_token, override says that the proxy needs one, whatever
// $HELIOS_ADMIN_TOKEN holds. Before, its hint blamed the variable (set it;
// or it is not the proxy's token), which no value of it could fix.
func TestOverrideCommandWithoutAdminToken(t *testing.T) {
	pg := pgtest.New(t, pgtest.Options{Name: "cli-notoken"})
	path := childConfig(t, pg, "")
	conf, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	noToken := strings.Replace(string(conf), "admin_token = \""+childToken+"\"\n", "", 1)
	if err := os.WriteFile(path, []byte(noToken), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := startChild(t, "run", "--config", path)
	line, _ := c.out.wait(t, ctx, 0, "serving the REST API")
	t.Setenv(apiURLEnv, strings.TrimSuffix(field(line, "url"), "/"))
	for _, token := range []string{"", "some-token"} {
		t.Setenv(adminTokenEnv, token)
		code, _, errOut := runCLI("override", "set", "pg", "--state", "OPEN", "--reason", "maintenance")
		if code != 1 || !strings.Contains(errOut, "no [api] admin_token") || !strings.Contains(errOut, "hint: the proxy has no [api] admin_token") ||
			strings.Contains(errOut, "$"+adminTokenEnv) {
			t.Errorf("override set with $%s=%q against a proxy without a token = exit %d, stderr %q; want 1 and a hint to configure the proxy",
				adminTokenEnv, token, code, errOut)
		}
	}
}

// TestEventsCommandManyBackends: a reload that removes many backends is
// one event naming them all; events shows a few and how many more, so the
// table keeps its columns. Before, the BACKEND cell held every name (a
// reload removing 97 backends made it about 1,100 characters wide), which
// pushed the transition, reason and detail of every row off the screen.
func TestEventsCommandManyBackends(t *testing.T) {
	pg := pgtest.New(t, pgtest.Options{Name: "cli-many"})
	var extra strings.Builder
	for i := range 12 {
		fmt.Fprintf(&extra, "[[backends.instances]]\nname = \"replica-%02d\"\nhost = \"127.0.0.1\"\nport = %d\n", i+1, pg.Port)
	}
	path := childConfig(t, pg, extra.String())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := startChild(t, "run", "--config", path)
	line, _ := c.out.wait(t, ctx, 0, "serving the REST API")
	api := strings.TrimSuffix(field(line, "url"), "/")
	t.Setenv(apiURLEnv, api)

	// The same file without the replicas, reloaded: one ConfigReloaded
	// naming the twelve.
	fewer, err := os.ReadFile(childConfig(t, pg, ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fewer, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, js := httpDo(t, "POST", api+"/config/reload", childToken, ""); code != 200 || !strings.Contains(js, `"replica-12"`) {
		t.Fatalf("reload = %d %s", code, js)
	}

	code, out, errOut := runCLI("events")
	if code != 0 {
		t.Fatalf("events = exit %d, %s", code, errOut)
	}
	rows := strings.Split(strings.TrimRight(out, "\n"), "\n")
	hdr := rows[0]
	var reloaded string
	for _, r := range rows[1:] {
		if cell(r, column(hdr, "EVENT")) == "ConfigReloaded" {
			reloaded = r
		}
	}
	if got, want := cell(reloaded, column(hdr, "BACKEND")), "replica-01,replica-02,replica-03 +9 more"; got != want {
		t.Errorf("events: the reload's BACKEND cell = %q, want %q:\n%s", got, want, out)
	}
	// The BACKEND column is as wide as that cell (and two spaces), not as
	// every name: what follows it stays on the screen. (The other columns'
	// widths depend on which other events the proxy published by then,
	// such as the trust probe's.)
	if from, to := column(hdr, "BACKEND"), column(hdr, "TRANSITION"); from < 0 || to-from > len("replica-01,replica-02,replica-03 +9 more")+2 {
		t.Errorf("events: the BACKEND column is %d wide, pushing the others off the screen:\n%s", to-from, out)
	}
	if got := cell(reloaded, column(hdr, "DETAIL")); !strings.Contains(got, "replica-12") {
		t.Errorf("events: the reload's DETAIL = %q, want every removed backend", got)
	}
}
