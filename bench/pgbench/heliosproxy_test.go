package main

import (
	"strings"
	"testing"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgcluster"
)

// TestConfigFileReadsBack checks that the file a child proxy gets is the
// in-process proxy's configuration, and that it holds only what differs
// from the defaults.
func TestConfigFileReadsBack(t *testing.T) {
	c := &pgcluster.Cluster{Host: "127.0.0.1", Port: 5433, User: "postgres", Password: "secret"}
	tests := []struct {
		name     string
		mode     string
		poolSize int
		want     []string // lines the file must have
	}{
		{"session", "session", sessionPoolSize, []string{"default_pool_size = 64", "auth_method = 'trust'", "workers = 1", "interval = '2s'"}},
		{"transaction", "transaction", txPoolSize, []string{"mode = 'transaction'", "[[backends.instances]]", "port = 5433"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := proxyConfig(c, tt.mode, tt.poolSize, 1)
			data, err := configFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := config.Parse("bench.toml", data)
			if err != nil {
				t.Fatalf("Parse(configFile) = %v; the file:\n%s", err, data)
			}
			g, _ := got.Encode()
			w, _ := cfg.Encode()
			if string(g) != string(w) {
				t.Errorf("Parse(configFile(cfg)) = \n%s\nwant\n%s", g, w)
			}
			for _, line := range tt.want {
				if !strings.Contains(string(data), line+"\n") {
					t.Errorf("configFile has no line %q:\n%s", line, data)
				}
			}
			for _, def := range []string{"protocol", "check_query", "server_reset_query", "[alerts]", "priority", "\npool_size"} {
				if strings.Contains(string(data), def) {
					t.Errorf("configFile has %s, which is at its default:\n%s", def, data)
				}
			}
		})
	}
}
