package wire

import "github.com/jackc/pgx/v5/pgproto3"

// Error is an error a client sees, with its SQLSTATE.
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

// Append encodes e as an ErrorResponse appended to dst.
func (e *Error) Append(dst []byte) []byte {
	sev := e.Severity
	if sev == "" {
		sev = "FATAL"
	}
	return AppendMessageOf(dst, &pgproto3.ErrorResponse{
		Severity:            sev,
		SeverityUnlocalized: sev,
		Code:                e.Code,
		Message:             e.Message,
		Detail:              e.Detail,
		Hint:                e.Hint,
		Position:            int32(e.Position),
	})
}

// BackendError is an ErrorResponse a backend sent during a login.
type BackendError struct {
	Code, Message string
	// Own: the refusal is the client's own doing whatever its code
	// (OwnError), e.g. a library its startup options named.
	Own bool
}

func (e *BackendError) Error() string    { return "backend refused the session: sqlstate " + e.Code }
func (e *BackendError) SQLState() string { return e.Code }
