package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/heliosdb/heliosproxy/config"
)

// startHeliosProxy runs `bin run --config FILE` as the child process name,
// with cfg written by configFile into FILE in a new directory dir (whose
// removal is the caller's) and its log next to it. The child gets a free
// loopback port for clients and another for its REST API, and no metrics
// endpoint: the in-process proxy has neither, and metrics observe every
// query. It returns once the child accepts connections, with the version
// the binary reports.
func startHeliosProxy(ctx context.Context, name, bin, dir string, cfg config.Config) (*process, string, error) {
	version := "unknown version"
	if out, err := exec.CommandContext(ctx, bin, "version").Output(); err == nil {
		version = strings.TrimSpace(strings.TrimPrefix(string(out), "heliosproxy "))
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, "", err
	}
	cfg.Observability.MetricsEnabled = false
	// The API cannot be turned off; an idle one costs nothing.
	cfg.API.ListenAddress = "127.0.0.1:0"
	file := filepath.Join(dir, "heliosproxy.toml")
	p, err := onFreePort(func(port int) (*process, error) {
		cfg.Proxy.ListenAddress = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		data, err := configFile(cfg)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(file, data, 0o600); err != nil { // it holds the health check's password
			return nil, err
		}
		return startProcess(ctx, name, exec.Command(bin, "run", "--config", file), filepath.Join(dir, "heliosproxy.log"), port)
	})
	return p, version, err
}

// configFile renders cfg as a TOML file that holds only what differs from
// config.Default(), and in an array of tables ([[backends.instances]],
// [[users]]) each element's non-zero keys. A binary built from another
// commit then reads it even if this tree's config has keys that binary
// does not know, as long as this run leaves them at their defaults; what
// the file leaves out is that binary's default. Parse reads the file back
// to cfg.
func configFile(cfg config.Config) ([]byte, error) {
	have, err := tomlMap(cfg)
	if err != nil {
		return nil, err
	}
	def, err := tomlMap(config.Default())
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	enc.SetIndentTables(false)
	if err := enc.Encode(prune(have, def)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tomlMap returns cfg's keys and values as the file writes them.
func tomlMap(cfg config.Config) (map[string]any, error) {
	data, err := cfg.Encode()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, toml.Unmarshal(data, &m)
}

// prune returns the keys of table whose values differ from those in def,
// recursively; with def nil, its non-zero keys. Empty tables are left out.
func prune(table, def map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range table {
		switch v := v.(type) {
		case map[string]any:
			d, _ := def[k].(map[string]any)
			if p := prune(v, d); len(p) > 0 {
				out[k] = p
			}
			continue
		case []any:
			if len(v) > 0 {
				if _, ok := v[0].(map[string]any); ok {
					if reflect.DeepEqual(v, def[k]) {
						continue
					}
					elems := make([]any, len(v))
					for i, e := range v {
						elems[i] = prune(e.(map[string]any), nil)
					}
					out[k] = elems
					continue
				}
			}
		}
		if def == nil && isZero(v) || def != nil && reflect.DeepEqual(v, def[k]) {
			continue
		}
		out[k] = v
	}
	return out
}

func isZero(v any) bool {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || rv.IsZero() {
		return true
	}
	switch rv.Kind() {
	case reflect.Slice, reflect.Map:
		return rv.Len() == 0
	}
	return false
}

// describeChild is how the report names a proxy this command runs from a
// binary.
func describeChild(bin, version string) string {
	return fmt.Sprintf("`%s run` (version %s) as a child process", filepath.Base(bin), version)
}
