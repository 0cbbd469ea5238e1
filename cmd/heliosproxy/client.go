package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/heliosdb/heliosproxy/api"
)

// The command-line client of the REST API: heliosproxy status, events and
// override. It reads the API's address from --api or $HELIOS_API_URL and
// the admin token from $HELIOS_ADMIN_TOKEN only: a token given as a flag
// would land in the shell's history and in every process listing. The
// token is sent on changes only, as the dashboard does, as a bearer token.
const (
	apiURLEnv     = "HELIOS_API_URL"
	adminTokenEnv = "HELIOS_ADMIN_TOKEN"
	defaultAPIURL = "http://127.0.0.1:8080"
)

// clientTimeout bounds one request of the client commands.
const clientTimeout = 10 * time.Second

// apiClient is one client command's connection to the API.
type apiClient struct {
	base  *url.URL
	token string // $HELIOS_ADMIN_TOKEN; empty when unset
	http  *http.Client
}

// clientFlags adds the flags every client command has to fs; call
// newAPIClient with the value after parsing.
func clientFlags(fs *flag.FlagSet) *string {
	def := os.Getenv(apiURLEnv)
	if def == "" {
		def = defaultAPIURL
	}
	return fs.String("api", def, "address of the REST API (default $"+apiURLEnv+", else "+defaultAPIURL+")")
}

func newAPIClient(raw string) (*apiClient, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--api: want a URL such as %s, got %q", defaultAPIURL, raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("--api: give the admin token in $%s, not in the URL", adminTokenEnv)
	}
	return &apiClient{base: u, token: os.Getenv(adminTokenEnv), http: &http.Client{Timeout: clientTimeout}}, nil
}

// apiError is an answer of the API other than 2xx.
type apiError struct {
	status  int
	message string
	details []string
	hint    string
}

func (e *apiError) Error() string { return e.message }

// do sends one request and returns the body of a 2xx answer. Changes carry
// the token and the author.
func (c *apiClient) do(ctx context.Context, method, path string, query url.Values, body any, author string) ([]byte, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != http.MethodGet {
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		if author != "" {
			req.Header.Set(api.AuthorHeader, author)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The URL holds no secret; the error names it so that a wrong
		// --api is plain to see.
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %w", u.String(), err)
	}
	if resp.StatusCode/100 == 2 {
		return data, nil
	}
	e := &apiError{status: resp.StatusCode, message: resp.Status}
	var doc struct {
		Error   string   `json:"error"`
		Details []string `json:"details"`
	}
	if json.Unmarshal(data, &doc) == nil && doc.Error != "" {
		e.message = doc.Error
		if len(doc.Details) > 1 || len(doc.Details) == 1 && doc.Details[0] != doc.Error {
			e.details = doc.Details
		}
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized && c.token == "":
		e.hint = "set $" + adminTokenEnv + " to the proxy's [api] admin_token (read -rs " + adminTokenEnv + "; export " + adminTokenEnv + ")"
	case resp.StatusCode == http.StatusUnauthorized:
		e.hint = "$" + adminTokenEnv + " is not the proxy's [api] admin_token"
	case resp.StatusCode == http.StatusForbidden:
		// The API refuses changes from anyone when it has no token (a
		// browser's cross-origin request aside, which this is not).
		e.hint = "the proxy has no [api] admin_token: set one in its configuration file and reload it (kill -HUP <pid>)"
	}
	return nil, e
}

// clientFailed prints err for command cmd and returns the exit status 1.
func clientFailed(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "heliosproxy %s: %v\n", cmd, err)
	var ae *apiError
	if errors.As(err, &ae) {
		for _, d := range ae.details {
			fmt.Fprintln(stderr, "  "+d)
		}
		if ae.hint != "" {
			fmt.Fprintln(stderr, "  hint: "+ae.hint)
		}
	}
	return 1
}

// parseArgs parses flags anywhere among args (flag.Parse stops at the
// first argument that is not one) and returns the others in order.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return rest, nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}

// writeJSON writes an API document indented, as --json prints it.
func writeJSON(w io.Writer, data []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		return fmt.Errorf("the API answered something that is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// backendRow is what status shows of a backend of GET /circuit-breaker/status.
type backendRow struct {
	Name              string     `json:"backend_name"`
	State             string     `json:"circuit_state"`
	P50               float64    `json:"latency_p50_ms"`
	P95               float64    `json:"latency_p95_ms"`
	P99               float64    `json:"latency_p99_ms"`
	ErrorRate         float64    `json:"error_rate"`
	Saturation        float64    `json:"connection_saturation"`
	Priority          int        `json:"priority"`
	TrafficShare      float64    `json:"traffic_share"`
	ActiveConnections int        `json:"active_connections"`
	QueueDepth        int        `json:"queue_depth"`
	StateSince        *time.Time `json:"state_since"`
	OpenReason        *string    `json:"open_reason"`
	Override          *string    `json:"override"`
	OverrideReason    *string    `json:"override_reason"`
	OverrideAuthor    *string    `json:"override_author"`
	OverrideExpires   *time.Time `json:"override_expires"`
	ReadOnly          bool       `json:"read_only"`
	TrustsProxy       bool       `json:"trusts_proxy"`
	Role              string     `json:"role"`
	Routing           string     `json:"routing"`
	LagMs             float64    `json:"replication_lag_ms"`
	FencedReason      *string    `json:"fenced_reason"`
}

func runStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: heliosproxy status [--api URL] [--json] [BACKEND]\n")
		fs.PrintDefaults()
	}
	apiURL := clientFlags(fs)
	asJSON := fs.Bool("json", false, "print the API's JSON document")
	rest, err := parseArgs(fs, args)
	if err != nil || len(rest) > 1 {
		if err == nil {
			fs.Usage()
		}
		return 2
	}
	c, err := newAPIClient(*apiURL)
	if err != nil {
		return clientFailed(stderr, "status", err)
	}
	path := "/circuit-breaker/status"
	if len(rest) == 1 {
		path += "/" + url.PathEscape(rest[0])
	}
	data, err := c.do(context.Background(), http.MethodGet, path, nil, nil, "")
	if err != nil {
		return clientFailed(stderr, "status", err)
	}
	if *asJSON {
		if err := writeJSON(stdout, data); err != nil {
			return clientFailed(stderr, "status", err)
		}
		return 0
	}
	var doc struct {
		Backends  []backendRow `json:"backends"`
		Timestamp time.Time    `json:"timestamp"`
	}
	if len(rest) == 1 {
		var b backendRow
		err = json.Unmarshal(data, &b)
		doc.Backends, doc.Timestamp = []backendRow{b}, time.Now()
	} else {
		err = json.Unmarshal(data, &doc)
	}
	if err != nil {
		return clientFailed(stderr, "status", fmt.Errorf("unexpected answer from the API: %w", err))
	}
	printBackends(stdout, doc.Backends, doc.Timestamp)
	return 0
}

// printBackends writes one aligned line per backend, then a line for each
// override and each backend that trusts the proxy.
func printBackends(w io.Writer, bs []backendRow, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKEND\tSTATE\tFOR\tREASON\tROLE\tROUTING\tLAG MS\tTIER\tP50 MS\tP95 MS\tP99 MS\tERRORS\tSATURATION\tSESSIONS\tQUEUE\tSHARE")
	for _, b := range bs {
		state := b.State
		if b.Override != nil {
			state += " (forced)"
		}
		tier := strconv.Itoa(b.Priority)
		if b.ReadOnly {
			tier += " ro"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%s\t%.1f\t%.1f\t%.1f\t%.1f%%\t%.0f%%\t%d\t%d\t%.0f%%\n",
			b.Name, state, since(b.StateSince, now), orDash(b.OpenReason), orDash(&b.Role), orDash(&b.Routing), b.LagMs, tier,
			b.P50, b.P95, b.P99, 100*b.ErrorRate, 100*b.Saturation, b.ActiveConnections, b.QueueDepth, 100*b.TrafficShare)
	}
	_ = tw.Flush()
	for _, b := range bs {
		if b.Override != nil {
			until := "until cleared"
			if b.OverrideExpires != nil {
				until = "until " + b.OverrideExpires.Local().Format(time.DateTime)
			}
			fmt.Fprintf(w, "%s: forced %s by %s %s: %s\n", b.Name, *b.Override, orDash(b.OverrideAuthor), until, orDash(b.OverrideReason))
		}
		if b.FencedReason != nil {
			fmt.Fprintf(w, "%s: fenced: %s\n", b.Name, *b.FencedReason)
		}
		if b.TrustsProxy {
			fmt.Fprintf(w, "%s: lets the proxy in without a password (pg_hba.conf trust); see trusted_roles in --json\n", b.Name)
		}
	}
}

// since is how long ago t was, at whole seconds: "-" for none.
func since(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return max(now.Sub(*t), 0).Truncate(time.Second).String()
}

func orDash(s *string) string {
	if s == nil || *s == "" {
		return "-"
	}
	return *s
}

// eventRow is what events shows of an event of GET /circuit-breaker/events.
type eventRow struct {
	ID      uint64    `json:"id"`
	Time    time.Time `json:"event_time"`
	Type    string    `json:"event_type"`
	Backend *string   `json:"backend_name"`
	From    *string   `json:"from_state"`
	To      *string   `json:"to_state"`
	Reason  *string   `json:"reason"`
	Detail  *string   `json:"detail"`
	Author  *string   `json:"author"`
	Members []string  `json:"backends"`
}

func runEvents(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: heliosproxy events [--api URL] [--json] [--limit N]\n")
		fs.PrintDefaults()
	}
	apiURL := clientFlags(fs)
	asJSON := fs.Bool("json", false, "print the API's JSON document")
	limit := fs.Int("limit", 20, "the last N events (0: all the proxy keeps)")
	rest, err := parseArgs(fs, args)
	if err != nil || len(rest) > 0 || *limit < 0 {
		if err == nil {
			fs.Usage()
		}
		return 2
	}
	c, err := newAPIClient(*apiURL)
	if err != nil {
		return clientFailed(stderr, "events", err)
	}
	q := url.Values{}
	if *limit > 0 {
		q.Set("limit", strconv.Itoa(*limit))
	}
	data, err := c.do(context.Background(), http.MethodGet, "/circuit-breaker/events", q, nil, "")
	if err != nil {
		return clientFailed(stderr, "events", err)
	}
	if *asJSON {
		if err := writeJSON(stdout, data); err != nil {
			return clientFailed(stderr, "events", err)
		}
		return 0
	}
	var doc struct {
		Events []eventRow `json:"events"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return clientFailed(stderr, "events", fmt.Errorf("unexpected answer from the API: %w", err))
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tEVENT\tBACKEND\tTRANSITION\tREASON\tAUTHOR\tDETAIL")
	for _, e := range doc.Events {
		transition := "-"
		if e.From != nil || e.To != nil {
			transition = orDash(e.From) + "→" + orDash(e.To)
		}
		backend := orDash(e.Backend)
		if e.Backend == nil && len(e.Members) > 0 {
			backend = memberList(e.Members)
		}
		// Details are single-line text from the proxy; a tab would break
		// the columns.
		detail := strings.ReplaceAll(orDash(e.Detail), "\t", " ")
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Time.Local().Format("2006-01-02 15:04:05.000"),
			e.Type, backend, transition, orDash(e.Reason), orDash(e.Author), detail)
	}
	_ = tw.Flush()
	return 0
}

// maxMembersShown bounds the backends events names in the BACKEND column
// of one event (a cascade, the backends a reload removed): a reload that
// removed 97 backends must not push every other column of the table off
// the screen.
const maxMembersShown = 3

// memberList is the BACKEND cell of an event naming several backends: the
// first maxMembersShown, then how many more (--json has them all).
func memberList(ms []string) string {
	if len(ms) <= maxMembersShown {
		return strings.Join(ms, ",")
	}
	return strings.Join(ms[:maxMembersShown], ",") + fmt.Sprintf(" +%d more", len(ms)-maxMembersShown)
}

const overrideUsage = `usage:
  heliosproxy override set BACKEND --state OPEN|CLOSED --reason TEXT [--ttl 15m] [--author NAME] [--api URL] [--json]
  heliosproxy override clear BACKEND [--author NAME] [--api URL]
The admin token is read from $` + adminTokenEnv + `.
`

func runOverride(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "set" && args[0] != "clear") {
		fmt.Fprint(stderr, overrideUsage)
		return 2
	}
	verb := args[0]
	fs := flag.NewFlagSet("override "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, overrideUsage); fs.PrintDefaults() }
	apiURL := clientFlags(fs)
	author := fs.String("author", defaultAuthor(), "who acts, recorded with the override and its events")
	var state, reason, ttl *string
	var asJSON *bool
	if verb == "set" {
		state = fs.String("state", "", "OPEN (take the backend out of service) or CLOSED (keep it in service)")
		reason = fs.String("reason", "", "why, shown wherever the state is shown (required)")
		ttl = fs.String("ttl", "", "expiry such as 90s, 15m, 2h (default: until cleared)")
		asJSON = fs.Bool("json", false, "print the API's JSON document")
	}
	rest, err := parseArgs(fs, args[1:])
	if err != nil {
		return 2
	}
	if len(rest) != 1 {
		fs.Usage()
		return 2
	}
	c, err := newAPIClient(*apiURL)
	if err != nil {
		return clientFailed(stderr, "override", err)
	}
	name := rest[0]
	path := "/circuit-breaker/backends/" + url.PathEscape(name) + "/override"
	ctx := context.Background()
	if verb == "clear" {
		if _, err := c.do(ctx, http.MethodDelete, path, nil, nil, *author); err != nil {
			return clientFailed(stderr, "override clear", err)
		}
		fmt.Fprintf(stdout, "%s: override cleared; the breaker decides again\n", name)
		return 0
	}
	// The API checks every field and names each problem; the client sends
	// what it was given, upper-casing the state for the hand that types it.
	body := map[string]string{"state": strings.ToUpper(*state), "reason": *reason}
	if *ttl != "" {
		body["ttl"] = *ttl
	}
	data, err := c.do(ctx, http.MethodPut, path, nil, body, *author)
	if err != nil {
		return clientFailed(stderr, "override set", err)
	}
	if *asJSON {
		if err := writeJSON(stdout, data); err != nil {
			return clientFailed(stderr, "override set", err)
		}
		return 0
	}
	var o struct {
		State   string     `json:"state"`
		Author  string     `json:"author"`
		Reason  string     `json:"reason"`
		Expires *time.Time `json:"expires"`
	}
	if err := json.Unmarshal(data, &o); err != nil {
		return clientFailed(stderr, "override set", fmt.Errorf("unexpected answer from the API: %w", err))
	}
	until := "until cleared"
	if o.Expires != nil {
		until = "until " + o.Expires.Local().Format(time.DateTime)
	}
	fmt.Fprintf(stdout, "%s: forced %s by %s %s: %s\n", name, o.State, o.Author, until, o.Reason)
	return 0
}

// defaultAuthor is the login name and host, as "alice@db-admin-1"; empty
// when unknown (the API then records the client's address).
func defaultAuthor() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); name == "" && err == nil {
		name = u.Username
	}
	if name == "" {
		return ""
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return name + "@" + h
	}
	return name
}
