package status

import (
	"fmt"

	"github.com/heliosdb/heliosproxy/breaker"
)

// CircuitState is a circuit state as the surfaces show it. It is its own
// type rather than breaker.State because its zero value must mean "no
// state" (an event that is no transition, a backend without an override),
// where breaker.State's zero is Closed, and because the packages that show
// it (api, alerts, metrics, statusdb) depend on status, not on breaker.
// StateOf and Breaker convert between the two.
type CircuitState uint8

// The circuit states. NoState, the zero value, is shown as "" (NULL in SQL
// and JSON where the column is nullable).
const (
	NoState CircuitState = iota
	Closed
	Open
	HalfOpen
)

// String returns the state as the SQL status table and the API spell it:
// "CLOSED", "OPEN", "HALF_OPEN" (breaker.State's spelling), or "" for
// NoState.
func (s CircuitState) String() string {
	switch s {
	case NoState:
		return ""
	case Closed, Open, HalfOpen:
		return s.Breaker().String()
	}
	return fmt.Sprintf("CircuitState(%d)", uint8(s))
}

// ParseCircuitState returns the state s spells ("CLOSED", "OPEN" or
// "HALF_OPEN", in capitals); anything else, "" included, is an error.
func ParseCircuitState(s string) (CircuitState, error) {
	for _, c := range [...]CircuitState{Closed, Open, HalfOpen} {
		if s == c.String() {
			return c, nil
		}
	}
	return NoState, fmt.Errorf("invalid circuit state %q", s)
}

// Forcible reports whether an operator override may force a circuit to s:
// only OPEN and CLOSED.
func (s CircuitState) Forcible() bool { return s == Open || s == Closed }

// MarshalText spells s as String does, so that JSON and logs show the
// same text; a value outside the constants is an error.
func (s CircuitState) MarshalText() ([]byte, error) {
	if s > HalfOpen {
		return nil, fmt.Errorf("invalid circuit state %d", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads what MarshalText writes: "" is NoState.
func (s *CircuitState) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*s = NoState
		return nil
	}
	v, err := ParseCircuitState(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// StateOf returns the circuit state of a breaker state.
func StateOf(s breaker.State) CircuitState {
	switch s {
	case breaker.Closed:
		return Closed
	case breaker.Open:
		return Open
	case breaker.HalfOpen:
		return HalfOpen
	}
	return NoState
}

// Breaker returns the breaker state s names; NoState is breaker.Closed,
// the breaker's own zero value.
func (s CircuitState) Breaker() breaker.State {
	switch s {
	case Open:
		return breaker.Open
	case HalfOpen:
		return breaker.HalfOpen
	}
	return breaker.Closed
}

// IsOverride reports whether t is an operator's override action
// (OverrideSet, OverrideCleared).
func (t EventType) IsOverride() bool { return t == OverrideSet || t == OverrideCleared }
