package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/heliosdb/heliosproxy/config"
)

const composeFile = "compose/compose.yaml"

// composeService is the part of the Compose specification the file uses;
// the strict decode fails on any other key, so a misspelt one is caught.
type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	User        string            `yaml:"user"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	DependsOn   yamlDependsOn     `yaml:"depends_on"`
	Healthcheck *struct {
		Test     []string `yaml:"test"`
		Interval string   `yaml:"interval"`
		Timeout  string   `yaml:"timeout"`
		Retries  int      `yaml:"retries"`
	} `yaml:"healthcheck"`
	Restart string `yaml:"restart"`
}

// yamlDependsOn is depends_on in either of its forms: a list of services,
// or a map of services to conditions.
type yamlDependsOn map[string]string

func (d *yamlDependsOn) UnmarshalYAML(unmarshal func(any) error) error {
	var list []string
	if err := unmarshal(&list); err == nil {
		*d = yamlDependsOn{}
		for _, s := range list {
			(*d)[s] = "service_started"
		}
		return nil
	}
	var m map[string]struct {
		Condition string `yaml:"condition"`
	}
	if err := unmarshal(&m); err != nil {
		return err
	}
	*d = yamlDependsOn{}
	for s, c := range m {
		(*d)[s] = c.Condition
	}
	return nil
}

// TestCompose decodes deploy/compose/compose.yaml strictly and checks
// that it runs what the issue asks for from the files the other tests
// check: the proxy with a configuration that loads (config.Load), a
// PostgreSQL primary and replica, Prometheus with deploy/prometheus (its
// target the proxy's metrics port) and Grafana provisioned with
// deploy/grafana; that every mounted file exists and every secret comes
// from the environment. The machines have no image registry, so it is
// not run.
func TestCompose(t *testing.T) {
	var doc struct {
		Name     string                    `yaml:"name"`
		Services map[string]composeService `yaml:"services"`
		Volumes  map[string]any            `yaml:"volumes"`
	}
	decodeStrict(t, composeFile, &doc)
	dir := filepath.Dir(composeFile)
	want := []string{"grafana", "heliosproxy", "postgres-primary", "postgres-replica", "prometheus"}
	var got []string
	for name := range doc.Services {
		got = append(got, name)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("services %v, want %v", got, want)
	}

	// mounts returns a service's bind mounts as host path (relative to
	// deploy/) → container path, and checks named volumes are declared.
	mounts := func(name string) map[string]string {
		out := map[string]string{}
		for _, v := range doc.Services[name].Volumes {
			parts := strings.Split(v, ":")
			if len(parts) < 2 {
				t.Errorf("%s: volume %q is not SOURCE:TARGET", name, v)
				continue
			}
			src := parts[0]
			if !strings.HasPrefix(src, ".") {
				if _, ok := doc.Volumes[src]; !ok {
					t.Errorf("%s: named volume %q is not declared", name, src)
				}
				continue
			}
			host := filepath.Join(dir, src)
			if _, err := os.Stat(host); err != nil {
				t.Errorf("%s mounts %s: %v", name, src, err)
			}
			out[filepath.Clean(host)] = parts[1]
		}
		return out
	}
	secretRef := regexp.MustCompile(`^\$\{[A-Z_]+:\?[^}]*\}$`)
	for name, s := range doc.Services {
		if (s.Image == "") == (s.Build == nil) {
			t.Errorf("%s: want an image or a build, got %q, %v", name, s.Image, s.Build)
		}
		for k, v := range s.Environment {
			if (strings.Contains(k, "PASSWORD") || strings.Contains(k, "TOKEN")) && !secretRef.MatchString(v) {
				t.Errorf("%s: %s = %q: secrets must come from the environment as ${VAR:?message}", name, k, v)
			}
		}
		for dep := range s.DependsOn {
			if _, ok := doc.Services[dep]; !ok {
				t.Errorf("%s depends on %s, which is no service", name, dep)
			}
		}
		mounts(name)
	}

	// Prometheus: deploy/prometheus, the directory of the rules the tests run.
	pm := mounts("prometheus")
	if pm["prometheus"] != "/etc/prometheus" || !slices.Contains(doc.Services["prometheus"].Command, "--config.file=/etc/prometheus/prometheus.yml") {
		t.Errorf("prometheus: want deploy/prometheus at /etc/prometheus and its prometheus.yml, got %v %v", pm, doc.Services["prometheus"].Command)
	}
	// Grafana: the dashboard the tests check, and its provisioning.
	gm := mounts("grafana")
	if gm["grafana/dashboards"] != "/var/lib/grafana/dashboards" || gm["grafana/provisioning"] != "/etc/grafana/provisioning" {
		t.Errorf("grafana: want deploy/grafana/dashboards and provisioning mounted, got %v", gm)
	}
	var provider struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name            string `yaml:"name"`
			Folder          string `yaml:"folder"`
			Type            string `yaml:"type"`
			DisableDeletion bool   `yaml:"disableDeletion"`
			AllowUIUpdates  bool   `yaml:"allowUiUpdates"`
			Options         struct {
				Path                      string `yaml:"path"`
				FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	decodeStrict(t, "grafana/provisioning/dashboards/heliosproxy.yml", &provider)
	if len(provider.Providers) != 1 || provider.Providers[0].Options.Path != "/var/lib/grafana/dashboards" {
		t.Errorf("dashboard provider %+v does not load /var/lib/grafana/dashboards", provider)
	}
	var sources struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name      string `yaml:"name"`
			UID       string `yaml:"uid"`
			Type      string `yaml:"type"`
			Access    string `yaml:"access"`
			URL       string `yaml:"url"`
			IsDefault bool   `yaml:"isDefault"`
			Editable  bool   `yaml:"editable"`
		} `yaml:"datasources"`
	}
	decodeStrict(t, "grafana/provisioning/datasources/prometheus.yml", &sources)
	if len(sources.Datasources) != 1 || sources.Datasources[0].Type != "prometheus" || sources.Datasources[0].URL != "http://prometheus:9090" {
		t.Errorf("data source %+v is not the prometheus service", sources)
	}

	// The proxy: its configuration loads as the binary loads it, with the
	// secrets compose passes in, and Prometheus scrapes its metrics port.
	hm := mounts("heliosproxy")
	const cfgPath = "/etc/heliosproxy/heliosproxy.toml"
	if hm["compose/heliosproxy.toml"] != cfgPath {
		t.Fatalf("heliosproxy: want compose/heliosproxy.toml at %s, got %v", cfgPath, hm)
	}
	if cmd := doc.Services["heliosproxy"].Command; !slices.Equal(cmd, []string{"run", "--config", cfgPath}) {
		t.Errorf("heliosproxy command = %v", cmd)
	}
	if b := doc.Services["heliosproxy"].Build; b == nil || filepath.Clean(filepath.Join(dir, b.Context)) != ".." {
		t.Errorf("heliosproxy: want the repository's Dockerfile, got %+v", b)
	} else if _, err := os.Stat(filepath.Join(dir, b.Context, b.Dockerfile)); err != nil {
		t.Error(err)
	}
	for k := range doc.Services["heliosproxy"].Environment {
		t.Setenv(k, "from-the-environment")
	}
	cfg, warnings, err := config.Load(filepath.Join(dir, "heliosproxy.toml"))
	if err != nil {
		t.Fatalf("compose/heliosproxy.toml: %v", err)
	}
	for _, w := range warnings {
		t.Errorf("compose/heliosproxy.toml: warning %v", w)
	}
	if cfg.Observability.LogFormat != "json" || cfg.API.AdminToken != "from-the-environment" {
		t.Errorf("compose/heliosproxy.toml: log_format %q, admin token from the environment: %v", cfg.Observability.LogFormat, cfg.API.AdminToken == "from-the-environment")
	}
	hosts := map[string]bool{}
	for _, b := range cfg.Backends.Instances {
		hosts[b.Host] = true
		if _, ok := doc.Services[b.Host]; !ok {
			t.Errorf("backend %s: host %q is no service", b.Name, b.Host)
		}
	}
	if !hosts["postgres-primary"] || !hosts["postgres-replica"] {
		t.Errorf("backends %v: want the primary and the replica", hosts)
	}
	target := "heliosproxy:" + strconv.Itoa(cfg.Observability.MetricsPort)
	pc := loadPromConfig(t)
	if len(pc.ScrapeConfigs) != 1 || len(pc.ScrapeConfigs[0].StaticConfigs) != 1 || !slices.Equal(pc.ScrapeConfigs[0].StaticConfigs[0].Targets, []string{target}) {
		t.Errorf("prometheus.yml scrapes %+v, want %s", pc.ScrapeConfigs, target)
	}
}
