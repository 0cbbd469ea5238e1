package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"strconv"
)

// Cluster is the [cluster] table: instances that share overrides and
// hard-failure openings over gossip (hashicorp/memberlist). Without it, or
// with enabled = false (the default), an instance is a lone proxy.
type Cluster struct {
	// Enabled turns cluster mode on; false (the default) ignores the rest.
	Enabled bool `toml:"enabled"`
	// NodeName is this instance's name among the members; empty (the
	// default) means the host name. Names must be unique in a cluster.
	NodeName string `toml:"node_name"`
	// BindAddress is host:port for gossip (TCP and UDP); default
	// "0.0.0.0:7946".
	BindAddress string `toml:"bind_address"`
	// AdvertiseAddress is host:port the other members reach this one at;
	// empty (the default) means the bind address, or a private address of
	// the host when bound to all interfaces.
	AdvertiseAddress string `toml:"advertise_address"`
	// Join lists host:port of members to join at start; DNS names are
	// resolved again every rejoin_interval (all their addresses are
	// tried), so that a Kubernetes headless Service is enough. Empty: this
	// instance waits for others to join it.
	Join []string `toml:"join,omitempty"`
	// RejoinInterval is how often Join is resolved and joined again while
	// a listed address is not a member; default 30s.
	RejoinInterval Duration `toml:"rejoin_interval"`
	// SecretKey encrypts and authenticates gossip: base64 of 16, 24 or 32
	// bytes (AES-128/192/256, memberlist's keyring), as `openssl rand
	// -base64 32` prints. Members with another key are refused. Empty (the
	// default) gossips in clear text.
	SecretKey string `toml:"secret_key"`
	// Decision says whose observations open a backend's circuit on this
	// instance: "local" (the default: its own, and another member's hard
	// failure), "any" (also another member's error-rate, latency or
	// saturation trip) or "quorum" (its own, or a majority of the live
	// members'; another member's hard failure makes it check the backend
	// at once). See docs/design-notes.md, Cluster.
	Decision string `toml:"decision"`
}

// ClusterDecisions are the values of cluster.decision.
var ClusterDecisions = []string{"local", "any", "quorum"}

// DefaultClusterPort is the gossip port when bind_address gives none.
const DefaultClusterPort = 7946

// Key decodes secret_key: nil when empty. Validate has checked it.
func (c Cluster) Key() []byte {
	if c.SecretKey == "" {
		return nil
	}
	k, err := base64.StdEncoding.DecodeString(c.SecretKey)
	if err != nil {
		return nil
	}
	return k
}

func (v *validator) cluster(c Cluster) {
	if !c.Enabled {
		return
	}
	v.hostPort("cluster.bind_address", c.BindAddress, false)
	if c.AdvertiseAddress != "" {
		v.hostPort("cluster.advertise_address", c.AdvertiseAddress, true)
	}
	for i, j := range c.Join {
		v.hostPort(fmt.Sprintf("cluster.join[%d]", i), j, true)
	}
	v.positive("cluster.rejoin_interval", c.RejoinInterval)
	if c.SecretKey != "" {
		k, err := base64.StdEncoding.DecodeString(c.SecretKey)
		switch {
		case err != nil:
			v.add("cluster.secret_key", "want base64 of 16, 24 or 32 bytes, got something that is not base64 (not shown: it is a secret)")
		case len(k) != 16 && len(k) != 24 && len(k) != 32:
			v.add("cluster.secret_key", "want base64 of 16, 24 or 32 bytes, got %d bytes (not shown: it is a secret)", len(k))
		}
	}
	ok := false
	for _, d := range ClusterDecisions {
		ok = ok || c.Decision == d
	}
	if !ok {
		v.add("cluster.decision", `unsupported decision %q; supported: "local", "any", "quorum"`, c.Decision)
	}
}

// hostPort checks host:port with a port of 1 to 65535 (0 too unless
// needPort: a bind address may pick a free port).
func (v *validator) hostPort(key, addr string, needPort bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(key, "want host:port, got %q", addr)
		return
	}
	lo := 0
	if needPort {
		lo = 1
	}
	if n, err := strconv.Atoi(port); err != nil || n < lo || n > 65535 {
		v.add(key, "want host:port with a port between %d and 65535, got %q", lo, addr)
		return
	}
	if needPort && host == "" {
		v.add(key, "want host:port with a host, got %q", addr)
	}
}
