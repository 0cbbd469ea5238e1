package proxy

import (
	"errors"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// Error is an error the client sees, with its SQLSTATE.
type Error struct {
	Code     string // SQLSTATE, e.g. "57P03"
	Severity string // "FATAL" or "ERROR"; empty means FATAL
	Message  string // shown to the client: no hostnames, no credentials
	Detail   string
	Hint     string
	Position int   // 1-based character position in the statement, 0 for none
	Err      error // cause; goes to logs only
}

func (e *Error) Error() string    { return "sqlstate " + e.Code + ": " + e.Message }
func (e *Error) Unwrap() error    { return e.Err }
func (e *Error) SQLState() string { return e.Code }

// The SQLSTATEs the proxy itself answers with.
const (
	codeProtocolViolation = "08P01"
	codeConnectionFailure = "08006"
	codeCannotConnectNow  = "57P03"
	codeAdminShutdown     = "57P01"
	codeTooManyConns      = "53300"
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

// errorResponse encodes e as a wire ErrorResponse appended to dst.
func (e *Error) errorResponse(dst []byte) []byte {
	sev := e.Severity
	if sev == "" {
		sev = "FATAL"
	}
	msg := &pgproto3.ErrorResponse{
		Severity:            sev,
		SeverityUnlocalized: sev,
		Code:                e.Code,
		Message:             e.Message,
		Detail:              e.Detail,
		Hint:                e.Hint,
		Position:            int32(e.Position),
	}
	out, err := msg.Encode(dst)
	if err != nil { // only fails on absurd lengths, which our own messages never have
		return dst
	}
	return out
}
