package statusdb

import "github.com/heliosdb/heliosproxy/status"

// clusterMembers is helios_proxy.cluster_members: the instances of the
// proxy's cluster as the answering instance sees them (no rows without
// [cluster]).
var clusterMembers = addTable(&table{
	name: "cluster_members",
	doc:  "Instances of the proxy's cluster as the answering instance sees them, itself first; no rows without [cluster]",
	rows: func(in *Input) int { return len(in.Snapshot.Members) },
	cols: []column{
		{name: "node", typ: tText, doc: "Node name of the instance ([cluster] node_name, default the host name)", get: func(x *evalCtx) value { return value{s: member(x).Node} }},
		{name: "address", typ: tText, doc: "Gossip address of the instance, host:port", get: func(x *evalCtx) value { return nullableText(member(x).Address) }},
		{name: "state", typ: tText, doc: "Membership state: alive, suspect (missed its probes), dead or left (shut down)", get: func(x *evalCtx) value { return value{s: string(member(x).State)} }},
		{name: "last_contact", typ: tTimestamptz, doc: "When the answering instance last heard from it; NULL if never", get: func(x *evalCtx) value { return timeValue(member(x).LastContact) }},
		{name: "version", typ: tText, doc: "HeliosProxy version of the instance", get: func(x *evalCtx) value { return nullableText(member(x).Version) }},
		{name: "config_hash", typ: tText, doc: "Hash of its circuit_breaker, backends, health_checks and pool settings: instances that differ are configured differently", get: func(x *evalCtx) value { return nullableText(member(x).ConfigHash) }},
		{name: "is_self", typ: tBool, doc: "Whether it is the answering instance", get: func(x *evalCtx) value { return boolValue(member(x).Self) }},
	},
})

// addTable adds t to the schema and returns it.
func addTable(t *table) *table {
	tables[t.name] = t
	return t
}

func member(x *evalCtx) *status.Member { return &x.in.Snapshot.Members[x.row] }

// clusterCircuits is helios_proxy.cluster_circuits: every live member's
// circuit of every backend as the answering instance last heard of it.
var clusterCircuits = addTable(&table{
	name: "cluster_circuits",
	doc:  "Each live cluster member's circuit of each backend as the answering instance last heard of it (its own first); no rows without [cluster]",
	rows: func(in *Input) int { return len(in.Snapshot.Circuits) },
	cols: []column{
		{name: "node", typ: tText, doc: "Node name of the instance whose circuit this is", get: func(x *evalCtx) value { return value{s: circuitView(x).Node} }},
		{name: "backend_name", typ: tText, doc: "Backend name", get: func(x *evalCtx) value { return value{s: circuitView(x).Backend} }},
		{name: "circuit_state", typ: tText, doc: "Its circuit state there: CLOSED, OPEN or HALF_OPEN", get: func(x *evalCtx) value { return nullableText(circuitView(x).State.String()) }},
		{name: "reason", typ: tText, doc: "Why it is open there (hard_failure, latency_p95, peer_hard_failure, peer_trip, quorum, override, ...); NULL while CLOSED", get: func(x *evalCtx) value { return nullableText(circuitView(x).Reason) }},
		{name: "detail", typ: tText, doc: "What that instance saw, or whose word it took; NULL when none", get: func(x *evalCtx) value { return nullableText(circuitView(x).Detail) }},
		{name: "state_since", typ: tTimestamptz, doc: "When it entered that state there (that instance's clock)", get: func(x *evalCtx) value { return timeValue(circuitView(x).Since) }},
		{name: "failing", typ: tBool, doc: "Whether that instance sees the backend failing itself (its vote under cluster.decision = quorum)", get: func(x *evalCtx) value { return boolValue(circuitView(x).Failing) }},
		{name: "recovery_role", typ: tText, doc: "Its part in the backend's recovery: prober (probes for every instance), follower (waits for the prober), quorum (held open by a majority's votes); NULL when none", get: func(x *evalCtx) value { return nullableText(circuitView(x).Role) }},
		{name: "received", typ: tTimestamptz, doc: "When the answering instance heard it (for itself: when it changed)", get: func(x *evalCtx) value { return timeValue(circuitView(x).Received) }},
		{name: "is_self", typ: tBool, doc: "Whether it is the answering instance's own circuit", get: func(x *evalCtx) value { return boolValue(circuitView(x).Node == selfName(x.in)) }},
	},
})

func circuitView(x *evalCtx) *status.CircuitView { return &x.in.Snapshot.Circuits[x.row] }

// selfName is the answering instance's node name, "" without a cluster.
func selfName(in *Input) string {
	for _, m := range in.Snapshot.Members {
		if m.Self {
			return m.Node
		}
	}
	return ""
}
