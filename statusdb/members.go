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
