package wire

import "bytes"

// CallsSetConfig reports whether a statement's text names set_config (in
// any case), the function that changes a setting from inside a query —
// for the session when its third argument is false. A cheap look for a
// relay's every request: an underscore first (rare in most statements,
// found at memory speed), then the letters around it. A string or
// comment that names it is a false positive, which costs the caller a
// reset it did not need.
func CallsSetConfig(sql []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(sql[i:], '_')
		if j < 0 {
			return false
		}
		i += j
		if i >= 3 && i+7 <= len(sql) && foldEqual(sql[i-3:i], "set") && foldEqual(sql[i+1:i+7], "config") &&
			(i == 3 || !identByte(sql[i-4])) && (i+7 == len(sql) || !identByte(sql[i+7])) {
			return true
		}
		i++
	}
}

// identByte reports whether c can be part of an unquoted identifier.
func identByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'z' || c >= 0x80
}

// foldEqual reports whether b is lower, ASCII letters compared without
// case.
func foldEqual(b []byte, lower string) bool {
	for k := range len(lower) {
		if b[k]|0x20 != lower[k] {
			return false
		}
	}
	return true
}
