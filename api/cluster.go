package api

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// clusterMembersJSON is GET /cluster/members.
type clusterMembersJSON struct {
	Members   []clusterMemberJSON `json:"members"`
	Timestamp time.Time           `json:"timestamp"`
}

// clusterMemberJSON is one row of helios_proxy.cluster_members.
type clusterMemberJSON struct {
	Node        string     `json:"node"`
	Address     string     `json:"address"`
	State       string     `json:"state"`
	LastContact *time.Time `json:"last_contact"`
	Version     string     `json:"version"`
	ConfigHash  string     `json:"config_hash"`
	IsSelf      bool       `json:"is_self"`
}

func (s *server) clusterMembers(w http.ResponseWriter, r *http.Request) {
	snap := s.c.Snapshot()
	s.writeJSON(w, r, http.StatusOK, clusterMembersJSON{Members: membersJSON(snap.Members), Timestamp: s.taken(snap)})
}

func membersJSON(ms []status.Member) []clusterMemberJSON {
	out := make([]clusterMemberJSON, 0, len(ms))
	for _, m := range ms {
		j := clusterMemberJSON{Node: m.Node, Address: m.Address, State: string(m.State), Version: m.Version,
			ConfigHash: m.ConfigHash, IsSelf: m.Self}
		if !m.LastContact.IsZero() {
			t := m.LastContact.UTC()
			j.LastContact = &t
		}
		out = append(out, j)
	}
	return out
}

// clusterStatusJSON is GET /cluster/status: the members, every live
// member's circuits, where they disagree, and configuration differences.
type clusterStatusJSON struct {
	Members       []clusterMemberJSON  `json:"members"`
	Circuits      []clusterCircuitJSON `json:"circuits"`
	Disagreements []disagreementJSON   `json:"disagreements"`
	ConfigHashes  map[string][]string  `json:"config_hashes"`
	Warnings      []string             `json:"warnings"`
	Timestamp     time.Time            `json:"timestamp"`
}

// clusterCircuitJSON is one row of helios_proxy.cluster_circuits.
type clusterCircuitJSON struct {
	Node         string     `json:"node"`
	BackendName  string     `json:"backend_name"`
	CircuitState string     `json:"circuit_state"`
	Reason       *string    `json:"reason"`
	Detail       *string    `json:"detail"`
	StateSince   *time.Time `json:"state_since"`
	Failing      bool       `json:"failing"`
	RecoveryRole *string    `json:"recovery_role"`
	Received     *time.Time `json:"received"`
	IsSelf       bool       `json:"is_self"`
}

// disagreementJSON is a backend whose circuit is not in the same state on
// every live member.
type disagreementJSON struct {
	BackendName string            `json:"backend_name"`
	States      map[string]string `json:"states"` // node → circuit state
}

func (s *server) clusterStatus(w http.ResponseWriter, r *http.Request) {
	snap := s.c.Snapshot()
	out := clusterStatusJSON{Members: membersJSON(snap.Members), Circuits: make([]clusterCircuitJSON, 0, len(snap.Circuits)),
		Disagreements: []disagreementJSON{}, ConfigHashes: map[string][]string{}, Warnings: []string{}, Timestamp: s.taken(snap)}
	self := ""
	for _, m := range snap.Members {
		if m.Self {
			self = m.Node
		}
	}
	states := map[string]map[string]string{}
	var order []string
	for _, c := range snap.Circuits {
		out.Circuits = append(out.Circuits, clusterCircuitJSON{Node: c.Node, BackendName: c.Backend, CircuitState: c.State.String(),
			Reason: strPtr(c.Reason), Detail: strPtr(c.Detail), StateSince: timePtr(c.Since), Failing: c.Failing,
			RecoveryRole: strPtr(c.Role), Received: timePtr(c.Received), IsSelf: c.Node == self})
		if states[c.Backend] == nil {
			states[c.Backend] = map[string]string{}
			order = append(order, c.Backend)
		}
		states[c.Backend][c.Node] = c.State.String()
	}
	for _, b := range order {
		seen := map[string]bool{}
		for _, st := range states[b] {
			seen[st] = true
		}
		if len(seen) > 1 {
			out.Disagreements = append(out.Disagreements, disagreementJSON{BackendName: b, States: states[b]})
		}
	}
	ours := ""
	for _, m := range snap.Members {
		if m.State == status.MemberDead || m.State == status.MemberLeft || m.ConfigHash == "" {
			continue
		}
		out.ConfigHashes[m.ConfigHash] = append(out.ConfigHashes[m.ConfigHash], m.Node)
		if m.Self {
			ours = m.ConfigHash
		}
	}
	for _, m := range snap.Members {
		if !m.Self && m.ConfigHash != "" && ours != "" && m.ConfigHash != ours && slices.Contains(out.ConfigHashes[m.ConfigHash], m.Node) {
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s is configured differently (config hash %s, this instance's %s): circuit_breaker, backends, health_checks or pool differ", m.Node, m.ConfigHash, ours))
		}
	}
	s.writeJSON(w, r, http.StatusOK, out)
}
