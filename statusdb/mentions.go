package statusdb

import "bytes"

// Mentions is the proxy's hot-path check: does this statement text contain
// "helios_proxy", in any letter case? It may say yes for a statement that
// only mentions the name in a string or comment (Prepare then answers
// ErrNotStatusQuery), but never says no for a statement on the schema
// (except one that spells it with Unicode escapes, U&"..."). It does not
// allocate.
func Mentions(sql []byte) bool {
	const name = "helios_proxy"
	const under = 6 // index of '_' in name
	// Jump from underscore to underscore with the vectorized IndexByte, then
	// compare the letters around it. OR-ing 0x20 lower-cases a letter, and
	// only 'H' and 'h' give 'h', and so on, so the comparison is exact.
	for i := under; i+len(name)-under <= len(sql); {
		j := bytes.IndexByte(sql[i:len(sql)-(len(name)-under-1)], '_')
		if j < 0 {
			return false
		}
		i += j
		start := i - under
		if start >= 0 {
			match := true
			for k := 0; k < len(name); k++ {
				if k != under && sql[start+k]|0x20 != name[k] {
					match = false
					break
				}
			}
			if match {
				return true
			}
		}
		i++
	}
	return false
}
