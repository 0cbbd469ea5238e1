package statusdb

import (
	"encoding/binary"
	"math/bits"
)

// Mentions is the proxy's hot-path check: does this statement text contain
// "helios_proxy", in any letter case? It may say yes for a statement that
// only mentions the name in a string or comment (Prepare then returns
// ErrNotStatusQuery), but never says no for a statement on the schema
// (except one spelling the name with Unicode escapes, U&"..."). It does not
// allocate.
func Mentions(sql []byte) bool {
	const name = "helios_proxy"
	const anchor = 10 // the 'x', the rarest letter of the name in SQL text
	for i := anchor; i < len(sql)-1; i++ {
		j := indexX(sql[i : len(sql)-1])
		if j < 0 {
			return false
		}
		i += j
		start := i - anchor
		match := true
		for k := 0; k < len(name); k++ {
			c := sql[start+k]
			if k != 6 { // OR-ing 0x20 lower-cases letters; only 'H' and 'h' give 'h', and so on
				c |= 0x20
			}
			if c != name[k] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// indexX returns the index of the first 'x' or 'X' in b, or -1. It tests
// eight bytes at a time: after OR-ing 0x20 into every byte, exactly the
// bytes 'x' and 'X' equal 0x78, and the classic has-zero-byte test on the
// XOR finds them.
func indexX(b []byte) int {
	const ones, highs, lower, xs = 0x0101010101010101, 0x8080808080808080, 0x2020202020202020, 0x7878787878787878
	i := 0
	for ; i+8 <= len(b); i += 8 {
		v := (binary.LittleEndian.Uint64(b[i:]) | lower) ^ xs
		if found := (v - ones) &^ v & highs; found != 0 {
			// The lowest flagged byte is exact (borrows only run upward).
			return i + bits.TrailingZeros64(found)/8
		}
	}
	for ; i < len(b); i++ {
		if b[i]|0x20 == 'x' {
			return i
		}
	}
	return -1
}
