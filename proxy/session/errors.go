package session

import (
	"errors"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// Error is an error the client sees, with its SQLSTATE.
type Error = wire.Error

// The SQLSTATEs the proxy itself answers with.
const (
	codeProtocolViolation = "08P01"
	codeConnectionFailure = "08006"
	codeCannotConnectNow  = "57P03"
	codeAdminShutdown     = "57P01"
	codeTooManyConns      = "53300"
	codeQueryCanceled     = "57014"
	codeSyntaxError       = "42601"
	codeInvalidName       = "42602"
	codeFeatureNotSupp    = "0A000"
	codeInvalidPassword   = "28P01"
)

// errMemory answers a client whose message the buffer budget cannot hold.
var errMemory = &Error{Code: "53200", Message: "out of memory", Err: wire.ErrMemory,
	Detail: "HeliosProxy's memory for buffered client messages (proxy.max_buffer_memory) is in use by other clients.",
	Hint:   "Retry later, or send smaller messages."}

// toClient maps any error to the Error a client is shown.
func toClient(err error) *Error {
	var pe *Error
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.Is(err, wire.ErrMemory):
		return errMemory
	case errors.Is(err, breaker.ErrOpen):
		return &Error{Code: codeCannotConnectNow, Message: "backend is temporarily unavailable", Err: err}
	default:
		return &Error{Code: codeConnectionFailure, Message: "backend connection failed", Err: err}
	}
}
