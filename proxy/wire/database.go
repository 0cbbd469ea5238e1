package wire

// DatabaseDDL reports whether a statement's text begins with CREATE
// DATABASE, DROP DATABASE or ALTER DATABASE (in any case, after blanks and
// comments): a statement that waits for the other sessions on the
// database it copies, drops, renames or moves, and fails with 55006 when
// one stays. A cheap look at the first two words, for a relay's every
// request; a later statement of a multi-statement Query is not seen.
func DatabaseDDL(sql []byte) bool {
	sql = skipBlanks(sql)
	verb := 0
	for _, v := range [...]string{"create", "drop", "alter"} {
		if hasFoldPrefix(sql, v) {
			verb = len(v)
			break
		}
	}
	if verb == 0 || len(sql) == verb || identByte(sql[verb]) {
		return false
	}
	rest := skipBlanks(sql[verb:])
	return hasFoldPrefix(rest, "database") && (len(rest) == 8 || !identByte(rest[8]))
}

// skipBlanks returns sql after its leading white space and comments (--
// to the end of the line, and /* */, which nest in PostgreSQL).
func skipBlanks(sql []byte) []byte {
	for len(sql) > 0 {
		switch {
		case sql[0] == ' ' || sql[0] == '\t' || sql[0] == '\n' || sql[0] == '\r' || sql[0] == '\f' || sql[0] == '\v':
			sql = sql[1:]
		case len(sql) > 1 && sql[0] == '-' && sql[1] == '-':
			for len(sql) > 0 && sql[0] != '\n' {
				sql = sql[1:]
			}
		case len(sql) > 1 && sql[0] == '/' && sql[1] == '*':
			depth := 0
			for len(sql) > 0 {
				if len(sql) > 1 && sql[0] == '/' && sql[1] == '*' {
					depth++
					sql = sql[2:]
				} else if len(sql) > 1 && sql[0] == '*' && sql[1] == '/' {
					depth--
					sql = sql[2:]
					if depth == 0 {
						break
					}
				} else {
					sql = sql[1:]
				}
			}
		default:
			return sql
		}
	}
	return sql
}
