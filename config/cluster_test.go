package config

import (
	"encoding/json"
	"strings"
	"testing"
)

const clusterBackend = "[[backends.instances]]\nname = \"b1\"\nhost = \"127.0.0.1\"\n"

// TestClusterDefaults: without [cluster] the instance is alone; with it,
// the gossip port is 7946 and decisions are local.
func TestClusterDefaults(t *testing.T) {
	c, ws, err := Parse("c.toml", []byte(clusterBackend+"[cluster]\nenabled = true\njoin = [\"peer-0.gossip:7946\"]\n"))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	if !c.Cluster.Enabled || c.Cluster.BindAddress != "0.0.0.0:7946" || c.Cluster.Decision != "local" || c.Cluster.RejoinInterval.Seconds() != 30 {
		t.Errorf("Cluster = %+v; want enabled, bind 0.0.0.0:7946, decision local, rejoin 30s", c.Cluster)
	}
	if len(ws) != 0 {
		t.Errorf("warnings = %v, want none", ws)
	}
	if d := Default(); d.Cluster.Enabled {
		t.Errorf("Default().Cluster.Enabled = true, want false")
	}
}

// TestClusterValidate: every bad [cluster] key is reported at its line,
// and the secret key's value is never shown.
func TestClusterValidate(t *testing.T) {
	const secret = "not-base64-s3cr3t!"
	file := clusterBackend + `[cluster]
enabled = true
bind_address = "0.0.0.0"
advertise_address = "10.0.0.1:0"
join = ["ok:7946", "nohost"]
secret_key = "` + secret + `"
decision = "majority"
rejoin_interval = "0s"
`
	_, _, err := Parse("c.toml", []byte(file))
	if err == nil {
		t.Fatal("Parse = nil, want errors")
	}
	msg := err.Error()
	for _, want := range []string{
		"c.toml:6: cluster.bind_address: want host:port",
		"c.toml:7: cluster.advertise_address: want host:port with a port between 1 and 65535",
		"c.toml:8: cluster.join[1]: want host:port",
		"c.toml:9: cluster.secret_key: want base64 of 16, 24 or 32 bytes",
		`c.toml:10: cluster.decision: unsupported decision "majority"`,
		"c.toml:11: cluster.rejoin_interval: must be positive",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Parse error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, secret) {
		t.Errorf("Parse error shows the secret key:\n%s", msg)
	}
	// A key of the wrong length.
	_, _, err = Parse("c.toml", []byte(clusterBackend+"[cluster]\nenabled = true\nsecret_key = \"c2hvcnQ=\"\n"))
	if err == nil || !strings.Contains(err.Error(), "got 5 bytes") || strings.Contains(err.Error(), "c2hvcnQ=") {
		t.Errorf("Parse(short key) = %v; want 'got 5 bytes' without the key", err)
	}
	// Disabled: nothing of [cluster] is checked.
	if _, _, err := Parse("c.toml", []byte(clusterBackend+"[cluster]\nbind_address = \"x\"\n")); err != nil {
		t.Errorf("Parse(disabled cluster) = %v, want nil", err)
	}
}

// TestClusterDecisions: "local", "any" and "quorum" are accepted, and
// none is warned about (all three are implemented).
func TestClusterDecisions(t *testing.T) {
	for _, d := range ClusterDecisions {
		c, ws, err := Parse("c.toml", []byte(clusterBackend+"[cluster]\nenabled = true\ndecision = \""+d+"\"\n"))
		if err != nil || c.Cluster.Decision != d {
			t.Fatalf("Parse(decision %s) = %q, %v", d, c.Cluster.Decision, err)
		}
		if len(ws) != 0 {
			t.Errorf("decision %s: warnings %v, want none", d, ws)
		}
	}
}

// TestClusterSecretRedacted: /config and check-config never show the
// gossip key.
func TestClusterSecretRedacted(t *testing.T) {
	const key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes
	c, _, err := Parse("c.toml", []byte(clusterBackend+"[cluster]\nenabled = true\nsecret_key = \""+key+"\"\njoin = [\"a:1\"]\n"))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	if len(c.Cluster.Key()) != 32 {
		t.Errorf("Key() has %d bytes, want 32", len(c.Cluster.Key()))
	}
	out, err := c.RedactedJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Cluster struct {
			SecretKey string   `json:"secret_key"`
			Join      []string `json:"join"`
		} `json:"cluster"`
	}
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), key) || m.Cluster.SecretKey != Redaction || len(m.Cluster.Join) != 1 {
		t.Errorf("RedactedJSON cluster = %+v; want secret_key %q and the join list", m.Cluster, Redaction)
	}
	if c.Cluster.SecretKey != key {
		t.Errorf("Redacted changed the config")
	}
}
