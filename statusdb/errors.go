package statusdb

import (
	"fmt"
	"unicode/utf8"
)

// Error is a PostgreSQL-style error for the client: the proxy sends it as an
// ErrorResponse and the session stays usable.
type Error struct {
	Code    string // SQLSTATE, e.g. "42703"; CodeNotStatusQuery for "not ours"
	Message string
	Detail  string
	Hint    string
	// Position is the 1-based character (not byte) position in the statement
	// text given to Prepare, or 0 when unknown, as in ErrorResponse's P field.
	Position int
}

func (e *Error) Error() string { return "sqlstate " + e.Code + ": " + e.Message }

// SQLState returns e.Code.
func (e *Error) SQLState() string { return e.Code }

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, ErrNotStatusQuery) works for every "not ours" error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// CodeNotStatusQuery is the pseudo-SQLSTATE of ErrNotStatusQuery. It is never
// meant for a client: the proxy relays such a statement to a backend.
const CodeNotStatusQuery = "HPNOT"

// ErrNotStatusQuery is returned by Prepare for a statement that refers to no
// helios_proxy relation (for example `SELECT 1`, or a query that only
// mentions helios_proxy inside a string). Test with errors.Is.
var ErrNotStatusQuery error = &Error{Code: CodeNotStatusQuery, Message: "statement does not refer to the helios_proxy schema"}

// SQLSTATE codes used by this package.
const (
	codeSyntax            = "42601"
	codeUndefinedTable    = "42P01"
	codeUndefinedColumn   = "42703"
	codeUndefinedFunction = "42883"
	codeDatatypeMismatch  = "42804"
	codeGrouping          = "42803"
	codeWindowing         = "42P20"
	codeAmbiguousColumn   = "42702"
	codeAmbiguousFunction = "42725"
	codeInvalidColumnRef  = "42P10"
	codeInconsistentParam = "42P08"
	codeCannotCoerce      = "42846"
	codeInsufficientPriv  = "42501"
	codeFeature           = "0A000"
	codeInvalidText       = "22P02"
	codeOutOfRange        = "22003"
	codeDivisionByZero    = "22012"
	codeInvalidBinary     = "22P03"
	codeInvalidParamValue = "22023"
	codeDatetimeOverflow  = "22008"
	codeNegativeLimit     = "2201W"
	codeNegativeOffset    = "2201X"
	codeProtocolViolation = "08P01"
	codeInvalidEscape     = "22025"
)

func errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// at returns e with its Position set from a byte offset in sql (negative
// offsets, "unknown" in parse trees, leave it unset).
func (e *Error) at(sql string, offset int32) *Error {
	if offset >= 0 && int(offset) <= len(sql) {
		e.Position = utf8.RuneCountInString(sql[:offset]) + 1
	}
	return e
}

// unsupported is the error for valid SQL outside the supported subset.
func unsupported(what string) *Error {
	return &Error{Code: codeFeature, Message: what + " is not supported on helios_proxy tables",
		Hint: "The helios_proxy schema is answered by HeliosProxy itself, which supports the SELECT statements listed in the statusdb package documentation."}
}
