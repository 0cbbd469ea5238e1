package status

import (
	"encoding/json"
	"testing"

	"github.com/heliosdb/heliosproxy/breaker"
)

func TestCircuitStateText(t *testing.T) {
	tests := []struct {
		s    CircuitState
		text string
	}{
		{NoState, ""},
		{Closed, "CLOSED"},
		{Open, "OPEN"},
		{HalfOpen, "HALF_OPEN"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.text {
			t.Errorf("CircuitState(%d).String() = %q, want %q", uint8(tt.s), got, tt.text)
		}
		b, err := json.Marshal(tt.s)
		if want := `"` + tt.text + `"`; err != nil || string(b) != want {
			t.Errorf("json.Marshal(%v) = %s, %v; want %s", tt.s, b, err, want)
		}
		var back CircuitState
		if err := json.Unmarshal(b, &back); err != nil || back != tt.s {
			t.Errorf("json.Unmarshal(%s) = %v, %v; want %v", b, back, err, tt.s)
		}
		if tt.s == NoState {
			continue
		}
		if got, err := ParseCircuitState(tt.text); err != nil || got != tt.s {
			t.Errorf("ParseCircuitState(%q) = %v, %v; want %v", tt.text, got, err, tt.s)
		}
	}
}

func TestParseCircuitStateRejects(t *testing.T) {
	for _, in := range []string{"", "open", "Closed", "HALF-OPEN", "OPEN ", "UNKNOWN"} {
		if got, err := ParseCircuitState(in); err == nil {
			t.Errorf("ParseCircuitState(%q) = %v, want an error", in, got)
		}
	}
	var s CircuitState
	if err := json.Unmarshal([]byte(`"open"`), &s); err == nil {
		t.Errorf(`json.Unmarshal("open") = %v, want an error`, s)
	}
	if b, err := json.Marshal(CircuitState(9)); err == nil {
		t.Errorf("json.Marshal(CircuitState(9)) = %s, want an error", b)
	}
}

func TestCircuitStateBreaker(t *testing.T) {
	for _, bs := range []breaker.State{breaker.Closed, breaker.Open, breaker.HalfOpen} {
		s := StateOf(bs)
		if s.String() != bs.String() {
			t.Errorf("StateOf(%v) = %v, want the same text", bs, s)
		}
		if got := s.Breaker(); got != bs {
			t.Errorf("StateOf(%v).Breaker() = %v, want %v", bs, got, bs)
		}
	}
}

func TestForcible(t *testing.T) {
	for s, want := range map[CircuitState]bool{NoState: false, Closed: true, Open: true, HalfOpen: false} {
		if got := s.Forcible(); got != want {
			t.Errorf("%q.Forcible() = %v, want %v", s, got, want)
		}
	}
}

func TestEventTypeIsOverride(t *testing.T) {
	for typ, want := range map[EventType]bool{
		OverrideSet: true, OverrideCleared: true,
		CircuitOpened: false, CircuitClosed: false, ConfigReloaded: false, BackendTrustsProxy: false,
	} {
		if got := typ.IsOverride(); got != want {
			t.Errorf("%s.IsOverride() = %v, want %v", typ, got, want)
		}
	}
}

// The overrides file under [state] dir holds status.Override as JSON: a
// file written before states were typed must still load, and a new one
// must read the same.
func TestOverrideJSONUnchanged(t *testing.T) {
	const old = `{"Backend":"pg-a","State":"OPEN","Reason":"maintenance","Author":"alice","Created":"2025-01-02T03:04:05Z","Expires":"0001-01-01T00:00:00Z"}`
	var o Override
	if err := json.Unmarshal([]byte(old), &o); err != nil || o.State != Open || o.Backend != "pg-a" {
		t.Fatalf("json.Unmarshal(old file) = %+v, %v", o, err)
	}
	b, err := json.Marshal(o)
	if err != nil || string(b) != old {
		t.Errorf("json.Marshal = %s, %v; want %s", b, err, old)
	}
}
