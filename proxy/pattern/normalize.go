// Package pattern groups the queries a proxy relays by pattern (the same
// statement with other constants or parameters) and keeps a circuit
// breaker per pattern that has been slow or failed for backend reasons:
// the query-level breakers of [circuit_breaker]
// query_level_breakers_enabled.
//
// The relay pays for one pass over each query's text (Normalize, a hash
// with literals skipped; no allocation) and, while no pattern is tracked,
// one atomic load per request. Patterns are tracked only from their
// first slow or failed execution on; only then does a request look its
// pattern up (one atomic load and a map read), and only a pattern's
// first sight of its text runs PostgreSQL's own parser (pg_query) for the
// text shown to operators.
package pattern

// Key identifies a pattern: a 64-bit hash of a query's text as Normalize
// reads it. 0 means no query (an empty text).
type Key uint64

// FNV-1a, 64 bits.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// Normalize returns the pattern key of a query's text: the text with
// numeric, string, bit-string and dollar-quoted constants and $n
// parameters replaced by one placeholder, lists of constants ("IN (1, 2,
// 3)") collapsed to one, comments dropped, runs of white space read as
// one space between words and as none elsewhere ("f( 1 )" is "f(1)"),
// and letters outside quoted identifiers folded to lower case. A trailing semicolon is ignored. A DO
// block's code (its string constant) is part of its pattern: each block
// is a pattern of its own. It reads text once and does not allocate.
func Normalize(text []byte) Key {
	z := normalizer{h: fnvOffset, body: doBlock(text)}
	n := len(text)
	for i := 0; i < n; {
		c := text[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			z.space = true
			for i++; i < n && (text[i] == ' ' || text[i] == '\n'); i++ {
			}
		case c == '-' && i+1 < n && text[i+1] == '-':
			for i < n && text[i] != '\n' {
				i++
			}
			z.space = true
		case c == '/' && i+1 < n && text[i+1] == '*':
			depth := 0
			for i < n {
				if text[i] == '/' && i+1 < n && text[i+1] == '*' {
					depth++
					i += 2
				} else if text[i] == '*' && i+1 < n && text[i+1] == '/' {
					depth--
					i += 2
					if depth == 0 {
						break
					}
				} else {
					i++
				}
			}
			z.space = true
		case c == '\'':
			// A string constant; '' is a quote inside it. E'…' strings
			// may escape a quote with a backslash.
			esc := i > 0 && (text[i-1] == 'e' || text[i-1] == 'E') && z.last == word
			start := i
			i++
			for i < n {
				if esc && text[i] == '\\' {
					i += 2
					continue
				}
				if text[i] == '\'' {
					if i+1 < n && text[i+1] == '\'' {
						i += 2
						continue
					}
					i++
					break
				}
				i++
			}
			z.constantText(text[start:min(i, n)])
		case c == '"':
			z.emit('"', other)
			i++
			for i < n {
				if text[i] == '"' {
					if i+1 < n && text[i+1] == '"' {
						z.add('"')
						i += 2
						continue
					}
					break
				}
				z.add(text[i])
				i++
			}
			z.add('"')
			i++
		case c == '$' && (z.last != word || z.space):
			j := i + 1
			for j < n && text[j] >= '0' && text[j] <= '9' {
				j++
			}
			if j > i+1 { // $1: a parameter
				i = j
				z.constant()
				break
			}
			// $tag$…$tag$: a dollar-quoted constant.
			for j < n && (isWord(text[j]) && !(text[j] >= '0' && text[j] <= '9' && j == i+1)) {
				j++
			}
			if j < n && text[j] == '$' {
				tag := text[i : j+1]
				k := j + 1
				for k+len(tag) <= n && string(text[k:k+len(tag)]) != string(tag) {
					k++
				}
				z.constantText(text[j+1 : min(k, n)])
				i = min(k+len(tag), n)
				break
			}
			z.emit('$', other)
			i++
		case c >= '0' && c <= '9' || c == '.' && i+1 < n && text[i+1] >= '0' && text[i+1] <= '9' && z.last != word:
			if z.last == word && !z.space {
				// A digit inside an identifier (t1, col_2).
				z.emit(c, word)
				i++
				break
			}
			i++
			for i < n {
				d := text[i]
				switch {
				case d >= '0' && d <= '9' || d == '.' || d == '_' || d >= 'a' && d <= 'z' || d >= 'A' && d <= 'Z':
					// Digits, a fraction, exponents, 0x…, 1_000.
					if (d == 'e' || d == 'E') && i+1 < n && (text[i+1] == '+' || text[i+1] == '-') {
						i++
					}
					i++
					continue
				}
				break
			}
			z.constant()
		case isWord(c):
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			z.emit(c, word)
			// The rest of the word, hashed here: most of a query's bytes.
			for i++; i < n; i++ {
				c = text[i]
				if c >= 'A' && c <= 'Z' {
					c += 'a' - 'A'
				} else if !isWord(c) {
					break
				}
				z.h ^= uint64(c)
				z.h *= fnvPrime
			}
		case c == ',' && z.last == konst:
			z.comma = true
			z.space = false
			i++
		case c == ';':
			// A trailing semicolon (or several) is not part of the
			// pattern; one between statements is.
			j := i + 1
			for j < n && (text[j] == ';' || text[j] == ' ' || text[j] == '\t' || text[j] == '\n' || text[j] == '\r') {
				j++
			}
			if j < n {
				z.emit(';', other)
			}
			i = j
		default:
			z.emit(c, other)
			i++
		}
	}
	if z.comma {
		z.add(',')
	}
	if z.last == none {
		return 0
	}
	if z.h == 0 {
		z.h = 1
	}
	return Key(z.h)
}

// Token kinds of normalizer.last.
const (
	none  = iota
	word  // the last token was an identifier or keyword character
	konst // the last token was a constant
	other
)

// normalizer is Normalize's state.
type normalizer struct {
	h     uint64
	last  int
	space bool // white space or a comment since the last token
	comma bool // a comma after a constant, held back: a list of constants reads as one
	// body: the statement is a DO block, whose string constant is its
	// code: every block would be one pattern if it were a placeholder,
	// and one slow or failing block would have them all refused.
	body bool
}

// doBlock reports whether text is a DO statement.
func doBlock(text []byte) bool {
	i := 0
	for i < len(text) && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r') {
		i++
	}
	return len(text)-i >= 3 && text[i]|0x20 == 'd' && text[i+1]|0x20 == 'o' && !isWord(text[i+2])
}

// constantText reads a string constant whose text is b: a placeholder,
// or in a DO block the code itself.
func (z *normalizer) constantText(b []byte) {
	if !z.body {
		z.constant()
		return
	}
	z.emit('\'', konst)
	for _, c := range b {
		z.add(c)
	}
}

func (z *normalizer) add(c byte) {
	z.h ^= uint64(c)
	z.h *= fnvPrime
}

func (z *normalizer) emit(c byte, kind int) {
	if z.comma {
		z.add(',')
		z.comma = false
	}
	if z.space && (z.last == word || z.last == konst) && (kind == word || kind == konst) {
		// White space only matters between words ("a b" is not "ab").
		z.add(' ')
	}
	z.space = false
	z.add(c)
	z.last = kind
}

func (z *normalizer) constant() {
	if z.last == konst && z.comma {
		z.comma, z.space = false, false // one more of a list: nothing to add
		return
	}
	z.emit('?', konst)
}

// Exact returns the key of a query's exact text, 0 for an empty one.
func Exact(text []byte) Key {
	if len(text) == 0 {
		return 0
	}
	h := uint64(fnvOffset)
	for _, c := range text {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return Key(max(h, 1))
}

// isWord reports whether c may be part of an identifier or keyword
// (bytes of multi-byte UTF-8 characters included).
func isWord(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c >= 0x80
}
