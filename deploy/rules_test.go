package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const (
	rulesFile     = "prometheus/heliosproxy-rules.yml"
	rulesTestFile = "prometheus/heliosproxy-rules.test.yml"
	promConfig    = "prometheus/prometheus.yml"
	runbookFile   = "../docs/runbook.md"
)

// tool returns the path of a command that scripts/ensure-deps.sh installs
// (make test runs it first); a test fails, never skips, without it.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: run scripts/ensure-deps.sh (make deps), which installs Debian's prometheus package", name)
	}
	return p
}

// runTool runs name with args in dir and fails the test with its output
// if it fails.
func runTool(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(tool(t, name), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// alertRule is a rule of heliosproxy-rules.yml.
type alertRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadRules(t *testing.T) []alertRule {
	t.Helper()
	var doc struct {
		Groups []struct {
			Name  string      `yaml:"name"`
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	decodeStrict(t, rulesFile, &doc)
	var rules []alertRule
	for _, g := range doc.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatalf("%s has no rules", rulesFile)
	}
	return rules
}

// decodeStrict decodes the YAML file path into v; a key v has no field for
// is an error.
func decodeStrict(t *testing.T, path string, v any) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestAlertRules runs promtool check rules and promtool test rules, and
// checks that the unit tests cover every alert both firing and silent,
// and that every alert has a severity, a summary, a description and a
// runbook section.
func TestAlertRules(t *testing.T) {
	dir := filepath.Dir(rulesFile)
	runTool(t, dir, "promtool", "check", "rules", filepath.Base(rulesFile))
	out := runTool(t, dir, "promtool", "test", "rules", filepath.Base(rulesTestFile))
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules:\n%s", out)
	}

	var tests struct {
		RuleFiles          []string `yaml:"rule_files"`
		EvaluationInterval string   `yaml:"evaluation_interval"`
		Tests              []struct {
			Interval      string `yaml:"interval"`
			InputSeries   []any  `yaml:"input_series"`
			AlertRuleTest []struct {
				EvalTime  string           `yaml:"eval_time"`
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	decodeStrict(t, rulesTestFile, &tests)
	if !slices.Equal(tests.RuleFiles, []string{filepath.Base(rulesFile)}) {
		t.Errorf("%s tests %v, want [%s]", rulesTestFile, tests.RuleFiles, filepath.Base(rulesFile))
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}

	runbook, err := os.ReadFile(runbookFile)
	if err != nil {
		t.Fatal(err)
	}
	headings := regexp.MustCompile(`(?m)^## (\S+)$`).FindAllStringSubmatch(string(runbook), -1)
	sections := map[string]bool{}
	for _, h := range headings {
		sections[h[1]] = true
	}
	for _, r := range loadRules(t) {
		if r.Alert == "" {
			t.Errorf("a rule of %s is not an alert (recording rules need unit tests too): %q", rulesFile, r.Expr)
			continue
		}
		if !fires[r.Alert] || !silent[r.Alert] {
			t.Errorf("%s: unit tests where it fires: %v, where it does not: %v; want both", r.Alert, fires[r.Alert], silent[r.Alert])
		}
		switch r.Labels["severity"] {
		case "critical", "warning":
		default:
			t.Errorf("%s: severity = %q, want critical or warning", r.Alert, r.Labels["severity"])
		}
		for _, k := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(r.Annotations[k]) == "" {
				t.Errorf("%s: no %s annotation", r.Alert, k)
			}
		}
		if want := "docs/runbook.md#" + strings.ToLower(r.Alert); !strings.HasSuffix(r.Annotations["runbook_url"], want) {
			t.Errorf("%s: runbook_url = %q, want it to end in %s", r.Alert, r.Annotations["runbook_url"], want)
		}
		if !sections[r.Alert] {
			t.Errorf("%s has no section \"## %s\" in %s", r.Alert, r.Alert, runbookFile)
		}
	}
}

// TestPrometheusConfig checks the scrape configuration that compose mounts
// and the end-to-end test starts Prometheus from, with the rules it loads.
func TestPrometheusConfig(t *testing.T) {
	runTool(t, filepath.Dir(promConfig), "promtool", "check", "config", filepath.Base(promConfig))
	cfg := loadPromConfig(t)
	if !slices.Contains(cfg.RuleFiles, filepath.Base(rulesFile)) {
		t.Errorf("%s loads the rules %v, want %s", promConfig, cfg.RuleFiles, filepath.Base(rulesFile))
	}
	if len(cfg.ScrapeConfigs) != 1 || cfg.ScrapeConfigs[0].JobName != "heliosproxy" {
		t.Errorf("%s: want the one job heliosproxy (HeliosProxyDown names it), got %+v", promConfig, cfg.ScrapeConfigs)
	}
}

// promConfigFile is the part of prometheus.yml that the tests read and
// rewrite; unknown keys fail the strict decode, so that nothing the
// end-to-end test would drop goes unnoticed.
type promConfigFile struct {
	Global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		ScrapeTimeout      string `yaml:"scrape_timeout,omitempty"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	} `yaml:"global"`
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

func loadPromConfig(t *testing.T) promConfigFile {
	t.Helper()
	var cfg promConfigFile
	decodeStrict(t, promConfig, &cfg)
	return cfg
}
