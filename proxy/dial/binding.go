package dial

import (
	"slices"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Channel binding cannot pass through the proxy: a client's
// SCRAM-SHA-256-PLUS would bind to the TLS channel it shares with the
// proxy, which the backend does not see, and the backend's to the proxy's
// channel to it. So when the proxy's connection to a backend is TLS,
// WithoutPlus takes SCRAM-SHA-256-PLUS out of the mechanisms the backend
// offers a pass-through client. A client that itself uses TLS (to the
// proxy) and prefers channel binding then answers "y" (it could bind but
// thinks the server cannot), which PostgreSQL refuses as a downgrade
// attack; the proxy adds BindingHint to that refusal.
const scramPlus = "SCRAM-SHA-256-PLUS"

// WithoutPlus returns an AuthenticationSASL message m (header included)
// without SCRAM-SHA-256-PLUS; m itself when it does not offer it or does
// not decode.
func WithoutPlus(m []byte) []byte {
	var sasl pgproto3.AuthenticationSASL
	if err := sasl.Decode(m[5:]); err != nil {
		return m
	}
	kept := slices.DeleteFunc(slices.Clone(sasl.AuthMechanisms), func(s string) bool { return s == scramPlus })
	if len(kept) == len(sasl.AuthMechanisms) {
		return m
	}
	sasl.AuthMechanisms = kept
	out, err := sasl.Encode(nil)
	if err != nil {
		return m
	}
	return out
}

// WantsBinding reports whether a client's answer to AuthenticationSASL
// (a whole 'p' message) says it supports channel binding but thinks the
// server does not: the gs2 header "y".
func WantsBinding(reply []byte) bool {
	var r pgproto3.SASLInitialResponse
	return r.Decode(reply[5:]) == nil && r.AuthMechanism == "SCRAM-SHA-256" && len(r.Data) > 0 && r.Data[0] == 'y'
}

// BindingHint is the hint the proxy adds to PostgreSQL's refusal of a
// client that wanted channel binding through a proxy that reaches the
// backend over TLS.
const BindingHint = "HeliosProxy reaches this backend over TLS, and SCRAM channel binding cannot pass through a proxy. " +
	"Connect with channel_binding=disable, or to the proxy without TLS, or have the role listed in the proxy's [[users]] so that the proxy authenticates it."

// WithHint returns the ErrorResponse m (header included) with hint as its
// HINT; m itself when it does not decode.
func WithHint(m []byte, hint string) []byte {
	var e pgproto3.ErrorResponse
	if err := e.Decode(m[5:]); err != nil {
		return m
	}
	e.Hint = hint
	out, err := e.Encode(nil)
	if err != nil {
		return m
	}
	return out
}
