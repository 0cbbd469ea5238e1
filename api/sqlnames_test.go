package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/status"
	"github.com/heliosdb/heliosproxy/statusdb"
)

// jsonObjects decodes an array of JSON objects keeping each object's key
// order.
func jsonObjects(t *testing.T, raw json.RawMessage) (keys [][]string, values []map[string]any) {
	t.Helper()
	var objs []json.RawMessage
	if err := json.Unmarshal(raw, &objs); err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		dec := json.NewDecoder(bytes.NewReader(o))
		dec.UseNumber()
		var ks []string
		if _, err := dec.Token(); err != nil { // {
			t.Fatal(err)
		}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			ks = append(ks, k.(string))
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatal(err)
			}
		}
		var m map[string]any
		dec = json.NewDecoder(bytes.NewReader(o))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		keys, values = append(keys, ks), append(values, m)
	}
	return keys, values
}

// sameValue compares a SQL value (as statusdb returns it) with a JSON one.
func sameValue(sql any, js any) bool {
	switch v := sql.(type) {
	case nil:
		return js == nil
	case string:
		return js == v
	case bool:
		return js == v
	case int64:
		n, ok := js.(json.Number)
		return ok && n.String() == fmt.Sprint(v)
	case float64:
		n, ok := js.(json.Number)
		f, err := n.Float64()
		return ok && err == nil && f == v
	case time.Time:
		s, ok := js.(string)
		if !ok {
			return false
		}
		jt, err := time.Parse(time.RFC3339Nano, s)
		// SQL keeps microseconds.
		return err == nil && jt.Truncate(time.Microsecond).Equal(v)
	}
	return false
}

// TestNamesAreSQLColumns checks that the API's backends and events have
// exactly the columns of the SQL tables, in column order, with the same
// values and NULLs, by running the SQL over the same state.
func TestNamesAreSQLColumns(t *testing.T) {
	f := newFakeProxy()
	f.publish(status.Event{Type: status.CircuitOpened, Backend: "pg-b", From: status.Closed, To: status.Open, Reason: "latency_p95",
		Detail: "p95 700ms", InPrevious: time.Hour, LatencyP95Ms: 700, LatencyP99Ms: 2500, ErrorRate: 0.02, ConnectionSaturation: 0.5,
		Time: t0.Add(-time.Second)})
	f.publish(status.Event{Type: status.CascadeDetected, Backends: []string{"pg-a", "pg-b"}})
	f.publish(status.Event{Type: status.CircuitClosed, Backend: "pg-b", From: status.HalfOpen, To: status.Closed, RecoveryDuration: 31 * time.Second})
	f.publish(status.Event{Type: status.RecoveryFailed, Backend: "pg-c", From: status.HalfOpen, To: status.Open, Attempt: 2})
	h := newHarness(t, f, Options{AdminToken: testToken})
	if resp, b := h.do(req{method: "PUT", path: "/circuit-breaker/backends/pg-a/override", body: `{"state":"OPEN","reason":"m","ttl":"1h"}`}); resp.StatusCode != 200 {
		t.Fatalf("PUT override = %d %s", resp.StatusCode, b)
	}

	db := statusdb.New()
	in := statusdb.Input{Snapshot: f.Snapshot(), Events: f.Events(0)}
	overrideFields := map[string]bool{"override_reason": true, "override_author": true, "override_expires": true}

	for _, tc := range []struct {
		path, field, sql string
		extra            map[string]bool // JSON-only fields, allowed after the columns
	}{
		{"/circuit-breaker/status", "backends", "SELECT * FROM helios_proxy.circuit_breaker_status", overrideFields},
		{"/circuit-breaker/events", "events", "SELECT * FROM helios_proxy.circuit_events", map[string]bool{"author": true}},
	} {
		stmt, err := db.Prepare(tc.sql)
		if err != nil {
			t.Fatalf("%s: %v", tc.sql, err)
		}
		res, err := stmt.Execute(in, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.sql, err)
		}
		_, b := h.do(req{method: "GET", path: tc.path})
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		keys, values := jsonObjects(t, doc[tc.field])
		if len(keys) != len(res.Rows) {
			t.Fatalf("%s: %d objects, SQL has %d rows", tc.path, len(keys), len(res.Rows))
		}
		for i, row := range res.Rows {
			var cols []string
			for j, c := range res.Columns {
				cols = append(cols, c.Name)
				if j >= len(keys[i]) || keys[i][j] != c.Name {
					t.Errorf("%s[%d]: field %d = %q, want the SQL column %q", tc.path, i, j, at(keys[i], j), c.Name)
					continue
				}
				// The backends and trusted_roles columns are text in SQL,
				// arrays in JSON.
				if c.Name == "backends" || c.Name == "trusted_roles" {
					continue
				}
				if !sameValue(row[j], values[i][c.Name]) {
					t.Errorf("%s[%d].%s = %v (%T), SQL has %v (%T)", tc.path, i, c.Name, values[i][c.Name], values[i][c.Name], row[j], row[j])
				}
			}
			for _, k := range keys[i][min(len(cols), len(keys[i])):] {
				if !tc.extra[k] {
					t.Errorf("%s[%d]: field %q is not a SQL column", tc.path, i, k)
				}
			}
		}
	}
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "(none)"
}
