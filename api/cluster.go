package api

import (
	"net/http"
	"time"
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
	out := clusterMembersJSON{Members: make([]clusterMemberJSON, 0, len(snap.Members)), Timestamp: s.taken(snap)}
	for _, m := range snap.Members {
		j := clusterMemberJSON{Node: m.Node, Address: m.Address, State: string(m.State), Version: m.Version,
			ConfigHash: m.ConfigHash, IsSelf: m.Self}
		if !m.LastContact.IsZero() {
			t := m.LastContact.UTC()
			j.LastContact = &t
		}
		out.Members = append(out.Members, j)
	}
	s.writeJSON(w, r, http.StatusOK, out)
}
