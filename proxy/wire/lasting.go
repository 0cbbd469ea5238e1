package wire

import "bytes"

// Lasts is what a statement's text may leave on its server connection
// beyond its transaction (Lasting).
type Lasts uint8

const (
	// SetsConfig: it names set_config, the function that changes a
	// setting from inside a query — for the session when its third
	// argument is false.
	SetsConfig Lasts = 1 << iota
	// AdvisoryLock: it names a session-level advisory-lock function
	// (pg_advisory_lock, pg_try_advisory_lock_shared, pg_advisory_unlock,
	// pg_advisory_unlock_all, …; not the _xact_ ones, which end with the
	// transaction): the session may hold a lock after its transaction.
	AdvisoryLock
)

// Lasting reports which of the functions Lasts lists a statement's text
// names (in any case). A cheap look for a relay's every request: an
// underscore first (rare in most statements, found at memory speed), then
// the letters around it. A string or comment that names one is a false
// positive, which costs the caller a reset or a check it did not need.
func Lasting(sql []byte) Lasts {
	var l Lasts
	for i := 0; ; i++ {
		j := bytes.IndexByte(sql[i:], '_')
		if j < 0 {
			return l
		}
		i += j
		switch {
		case setConfigAt(sql, i):
			l |= SetsConfig
		case advisoryAt(sql, i):
			l |= AdvisoryLock
		}
	}
}

// setConfigAt reports whether the underscore at i is set_config's.
func setConfigAt(sql []byte, i int) bool {
	return i >= 3 && i+7 <= len(sql) && foldEqual(sql[i-3:i], "set") && foldEqual(sql[i+1:i+7], "config") &&
		(i == 3 || !identByte(sql[i-4])) && (i+7 == len(sql) || !identByte(sql[i+7]))
}

// advisoryAt reports whether the underscore at i follows the pg of a
// session-level advisory-lock function's name.
func advisoryAt(sql []byte, i int) bool {
	if i < 2 || !foldEqual(sql[i-2:i], "pg") || i > 2 && identByte(sql[i-3]) {
		return false
	}
	rest := sql[i+1:]
	if hasFoldPrefix(rest, "try") && len(rest) > 3 && rest[3] == '_' {
		rest = rest[4:]
	}
	if !hasFoldPrefix(rest, "advisory") || len(rest) == 8 || rest[8] != '_' {
		return false
	}
	rest = rest[9:]
	return hasFoldPrefix(rest, "lock") || hasFoldPrefix(rest, "unlock")
}

// identByte reports whether c can be part of an unquoted identifier.
func identByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'z' || c >= 0x80
}

// hasFoldPrefix reports whether b begins with lower, ASCII letters compared
// without case (foldEqual: lower holds letters only).
func hasFoldPrefix(b []byte, lower string) bool {
	return len(b) >= len(lower) && foldEqual(b, lower)
}

// foldEqual reports whether b is lower, ASCII letters compared without
// case; lower holds letters only (an underscore would not match itself).
func foldEqual(b []byte, lower string) bool {
	for k := range len(lower) {
		if b[k]|0x20 != lower[k] {
			return false
		}
	}
	return true
}
