package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

const dashboardFile = "grafana/dashboards/heliosproxy.json"

// dashboard is the part of Grafana's dashboard model (schemaVersion 39,
// Grafana 10.4 and 11) that the file must have right to load and render.
type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Version       int    `json:"version"`
	Editable      bool   `json:"editable"`
	Time          struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"time"`
	Refresh    string `json:"refresh"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *datasourceRef  `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name        string         `json:"name"`
			BuiltIn     int            `json:"builtIn"`
			Datasource  *datasourceRef `json:"datasource"`
			Enable      bool           `json:"enable"`
			Expr        string         `json:"expr"`
			TitleFormat string         `json:"titleFormat"`
			TagKeys     string         `json:"tagKeys"`
		} `json:"list"`
	} `json:"annotations"`
	Panels []panel `json:"panels"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	FieldConfig *struct {
		Defaults  map[string]any `json:"defaults"`
		Overrides []any          `json:"overrides"`
	} `json:"fieldConfig"`
	Targets []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// promQL is one PromQL expression of the dashboard (or of the rules),
// with where it is.
type promQL struct {
	where string
	expr  string
}

// grafanaVars replaces Grafana's variables with what they expand to:
// durations for the interval variables, a regular expression for the
// dashboard's own (which the expressions use with =~).
var grafanaVar = regexp.MustCompile(`\$\{?(\w+)(?::\w+)?\}?`)

func expandVars(expr string) string {
	return grafanaVar.ReplaceAllStringFunc(expr, func(v string) string {
		name := grafanaVar.FindStringSubmatch(v)[1]
		switch name {
		case "__rate_interval", "__interval", "__range":
			return "1m"
		case "__range_s", "__interval_ms":
			return "60"
		}
		return ".*"
	})
}

var labelValues = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

// expressions returns every PromQL expression of d: panel targets,
// annotations and the selectors of label_values() variables (each with
// the label it reads, as a "by" so that it is checked too).
func (d dashboard) expressions(t *testing.T) []promQL {
	t.Helper()
	var out []promQL
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, promQL{fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID), tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, a := range d.Annotations.List {
		if a.BuiltIn == 0 {
			out = append(out, promQL{fmt.Sprintf("annotation %q", a.Name), a.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: definition %q is not label_values(SELECTOR, LABEL)", v.Name, v.Definition)
			continue
		}
		out = append(out, promQL{fmt.Sprintf("variable %s", v.Name), fmt.Sprintf("count by (%s) (%s)", m[2], m[1])})
	}
	return out
}

// TestDashboard checks the Grafana dashboard without a server: it is
// JSON with what a current Grafana needs to load it (uid, title,
// schemaVersion, panels with ids, types, positions inside the 24-column
// grid that do not overlap, a Prometheus data source from the
// $datasource variable, targets with refIds), it has the panels the
// issue asks for, and every PromQL expression parses with Prometheus's
// own parser. TestPrometheusEndToEnd checks the metric names against a
// real scrape.
func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || len(d.UID) > 40 || d.Title == "" {
		t.Errorf("uid %q, title %q: want both, uid at most 40 characters", d.UID, d.Title)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion = %d, want at least 36 (datasource references by uid)", d.SchemaVersion)
	}
	if d.Time.From == "" || d.Time.To == "" {
		t.Error("no default time range")
	}
	var hasDS bool
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && string(v.Query) == `"prometheus"` {
			hasDS = true
		}
	}
	if !hasDS {
		t.Error(`no "datasource" variable of type datasource for Prometheus`)
	}
	promDS := func(ref *datasourceRef) bool {
		return ref != nil && ref.Type == "prometheus" && ref.UID == "${datasource}"
	}

	ids := map[int]bool{}
	type cell struct{ x, y int }
	taken := map[cell]string{}
	types := map[string]int{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.ID <= 0 || ids[p.ID] {
				t.Errorf("panel %q: id %d is missing or not unique", p.Title, p.ID)
			}
			ids[p.ID] = true
			types[p.Type]++
			switch p.Type {
			case "row", "timeseries", "state-timeline", "stat", "table", "bargauge", "gauge", "heatmap":
			default:
				t.Errorf("panel %q: type %q is not a panel Grafana ships", p.Title, p.Type)
			}
			g := p.GridPos
			if p.Title == "" || g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
				t.Errorf("panel %d %q: title or gridPos %+v outside the 24-column grid", p.ID, p.Title, g)
			}
			for x := g.X; x < g.X+g.W; x++ {
				for y := g.Y; y < g.Y+g.H; y++ {
					if other, ok := taken[cell{x, y}]; ok {
						t.Errorf("panel %q overlaps panel %q at (%d,%d)", p.Title, other, x, y)
						x, y = 24, 1<<30
						continue
					}
					taken[cell{x, y}] = p.Title
				}
			}
			if p.Type != "row" {
				if !promDS(p.Datasource) || p.FieldConfig == nil || len(p.Targets) == 0 {
					t.Errorf("panel %q: want a ${datasource} Prometheus data source, fieldConfig and targets", p.Title)
				}
				refs := map[string]bool{}
				for _, tg := range p.Targets {
					if tg.RefID == "" || refs[tg.RefID] || !promDS(tg.Datasource) || tg.Expr == "" {
						t.Errorf("panel %q: target %q needs a unique refId, the data source and an expr", p.Title, tg.RefID)
					}
					refs[tg.RefID] = true
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	if types["state-timeline"] == 0 {
		t.Error("no state-timeline panel for the circuit states over time")
	}
	var annotations int
	for _, a := range d.Annotations.List {
		if a.BuiltIn == 0 {
			annotations++
			if !promDS(a.Datasource) || a.Expr == "" || a.TitleFormat == "" {
				t.Errorf("annotation %q: want the data source, an expr and a titleFormat", a.Name)
			}
		}
	}
	if annotations == 0 {
		t.Error("no Prometheus annotations for circuit events")
	}

	exprs := d.expressions(t)
	var all string
	for _, e := range exprs {
		all += e.expr + "\n"
		if _, err := parseExpr(e.expr); err != nil {
			t.Errorf("%s: %v\n%s", e.where, err, e.expr)
		}
	}
	// What the issue asks the dashboard to show, by the metric that shows it.
	for _, m := range []string{
		"helios_circuit_breaker_state", "helios_circuit_breaker_state_transitions_total",
		"helios_backend_latency_p95_milliseconds", "helios_query_duration_seconds_bucket", "helios_backend_error_rate",
		"helios_backend_traffic_share", "helios_backend_queue_depth", "helios_circuit_breaker_rejected_total",
	} {
		if !strings.Contains(all, m+"{") {
			t.Errorf("no panel shows %s", m)
		}
	}
}

// parseExpr parses a PromQL expression after expanding Grafana's
// variables.
func parseExpr(expr string) (parser.Expr, error) {
	return parser.NewParser(parser.Options{}).ParseExpr(expandVars(expr))
}

// series is what a scrape exposes: each metric name with the label names
// its samples carry (Prometheus adds job and instance).
type series map[string][]string

// unknownNames returns a problem for every metric an expression selects
// that the scrape does not expose, and every label it matches on or
// groups by that none of its metrics has.
func unknownNames(e promQL, scraped series) []string {
	expr, err := parseExpr(e.expr)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", e.where, err)}
	}
	var problems []string
	known := map[string]bool{"job": true, "instance": true}
	var grouping []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			labels, ok := scraped[n.Name]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: metric %s is not in a scrape of the proxy", e.where, n.Name))
				return nil
			}
			for _, l := range labels {
				known[l] = true
			}
			for _, m := range n.LabelMatchers {
				if m.Name != "__name__" && m.Name != "job" && m.Name != "instance" && !slices.Contains(labels, m.Name) {
					problems = append(problems, fmt.Sprintf("%s: %s has no label %q in the scrape", e.where, n.Name, m.Name))
				}
			}
		case *parser.AggregateExpr:
			grouping = append(grouping, n.Grouping...)
		case *parser.BinaryExpr:
			if n.VectorMatching != nil {
				grouping = append(grouping, n.VectorMatching.MatchingLabels...)
				grouping = append(grouping, n.VectorMatching.Include...)
			}
		}
		return nil
	})
	for _, l := range grouping {
		if !known[l] {
			problems = append(problems, fmt.Sprintf("%s: groups or matches by %q, which none of its metrics has", e.where, l))
		}
	}
	return problems
}

func TestUnknownNames(t *testing.T) {
	scraped := series{
		"helios_circuit_breaker_state":         {"backend"},
		"helios_query_duration_seconds_bucket": {"backend", "outcome", "le"},
	}
	tests := []struct {
		expr string
		want int // problems
	}{
		{`max by (backend) (helios_circuit_breaker_state{backend=~"$backend", job=~"$job"})`, 0},
		{`histogram_quantile(0.99, sum by (backend, le) (rate(helios_query_duration_seconds_bucket{outcome="success"}[$__rate_interval])))`, 0},
		{`helios_circuit_breaker_stat`, 1},
		{`helios_circuit_breaker_state{reason="x"}`, 1},
		{`sum by (priority) (helios_circuit_breaker_state)`, 1},
		{`helios_circuit_breaker_state * on (backend) group_left (reason) helios_circuit_breaker_state`, 1},
		{`sum by (backend) (`, 1},
	}
	for _, tt := range tests {
		if got := unknownNames(promQL{"test", tt.expr}, scraped); len(got) != tt.want {
			t.Errorf("unknownNames(%s) = %q, want %d problems", tt.expr, got, tt.want)
		}
	}
}

// TestBinaryLeavesOutTestTools: the PromQL parser and the YAML decoder are
// for these tests only, not in the heliosproxy binary.
func TestBinaryLeavesOutTestTools(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/heliosdb/heliosproxy/cmd/heliosproxy").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/prometheus/prometheus/") || strings.HasPrefix(pkg, "go.yaml.in/yaml/v3") {
			t.Errorf("the heliosproxy binary links %s", pkg)
		}
	}
}
