package statusdb

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
)

// Mentions is the proxy's hot-path check: does this statement text contain
// "helios_proxy" (or helios\_proxy, a LIKE pattern's), in any letter
// case? It may say yes for a statement that
// only mentions the name in a string or comment (Prepare then returns
// ErrNotStatusQuery), but never says no for a statement on the schema
// (except one spelling the name with Unicode escapes, U&"..."). It does not
// allocate.
//
// It also says yes for a text holding the start of the OIDs of the
// schema's objects ("40000000", catalogOIDBase): the catalog queries
// psql's \d sends after finding a table name it by OID. One pass finds
// both.
func Mentions(sql []byte) bool {
	const name = "helios_proxy"
	const anchor = 10 // the 'x', the rarest letter of the name in SQL text (11 in escaped)
	for i := 0; i < len(sql); i++ {
		j := indexAnchor(sql[i:])
		if j < 0 {
			return false
		}
		i += j
		if sql[i] == '4' {
			if bytes.HasPrefix(sql[i:], oidPrefix) {
				return true
			}
			continue
		}
		if nameAt(sql, i-anchor, name) || nameAt(sql, i-anchor-1, escaped) {
			return true
		}
	}
	return false
}

// escaped is the name in a LIKE pattern that escapes its underscore, as
// JDBC's DatabaseMetaData writes it.
const escaped = `helios\_proxy`

// nameAt reports whether sql holds name (lower case, '_' as is) at start,
// in any letter case.
func nameAt(sql []byte, start int, name string) bool {
	if start < 0 || start+len(name) > len(sql) {
		return false
	}
	for k := 0; k < len(name); k++ {
		c := sql[start+k]
		if name[k] != '_' && name[k] != '\\' { // OR-ing 0x20 lower-cases letters; only 'H' and 'h' give 'h', and so on
			c |= 0x20
		}
		if c != name[k] {
			return false
		}
	}
	return true
}

// oidPrefix starts every OID of catalogOIDBase's range.
var oidPrefix = []byte(strconv.FormatUint(uint64(catalogOIDBase), 10)[:8])

// indexAnchor returns the index of the first 'x', 'X' or '4' in b, or -1.
// It tests eight bytes at a time: after OR-ing 0x20 into every byte,
// exactly the bytes 'x' and 'X' equal 0x78, and the classic has-zero-byte
// test on the XOR finds them; the same test on the bytes XOR '4' finds the
// fours.
func indexAnchor(b []byte) int {
	const ones, highs, lower, xs, fours = 0x0101010101010101, 0x8080808080808080, 0x2020202020202020, 0x7878787878787878, 0x3434343434343434
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		vx, v4 := (w|lower)^xs, w^fours
		// The lowest flagged byte of each test is exact (borrows only
		// run upward), and so is the lowest of both.
		if found := ((vx-ones)&^vx | (v4-ones)&^v4) & highs; found != 0 {
			return i + bits.TrailingZeros64(found)/8
		}
	}
	for ; i < len(b); i++ {
		if b[i]|0x20 == 'x' || b[i] == '4' {
			return i
		}
	}
	return -1
}
