package breaker

// Classify maps the SQLSTATE of a PostgreSQL ErrorResponse to an Outcome.
// clientCancel says whether the client itself asked for the cancel (a
// CancelRequest relayed by the proxy); it only matters for 57014.
//
//   - Failure, the backend is unhealthy: class 08 (connection exception)
//     except 08P01, 57P01 admin_shutdown, 57P02 crash_shutdown, class 58 (system error),
//     class XX (internal error), 53100 disk_full, 53200 out_of_memory, and
//     25006 read_only_sql_transaction: a write refused because the backend
//     has become a standby (failover happened underneath us), so it can no
//     longer serve what it was configured for.
//   - Overload, the backend sheds load: 53300 too_many_connections, 53400
//     configuration_limit_exceeded, 57P03 cannot_connect_now (starting up).
//   - Slow: 57014 query_canceled without clientCancel, i.e. statement_timeout.
//   - ConfigError: 28000 invalid_authorization_specification, 28P01
//     invalid_password, 3D000 invalid_catalog_name.
//   - Excluded, the application's own error: classes 22, 23, 42, 25 (except
//     25006), 0A000, 40001, 40P01, 55P03, 57014 with clientCancel, 08P01
//     protocol_violation (PostgreSQL says it of its peer's messages: a
//     client that sends malformed ones, relayed or logging in, must not
//     open a healthy backend's circuit for everyone), and every code not
//     listed above (including "" and malformed codes).
//
// Lower-case codes are accepted. Classify does not allocate.
func Classify(sqlstate string, clientCancel bool) Outcome {
	if len(sqlstate) != 5 {
		return Excluded
	}
	var c [5]byte
	for i := range 5 {
		ch := sqlstate[i]
		if 'a' <= ch && ch <= 'z' {
			ch -= 'a' - 'A'
		}
		c[i] = ch
	}
	switch string(c[:]) {
	case "57014":
		if clientCancel {
			return Excluded
		}
		return Slow
	case "25006":
		return Failure
	case "28000", "28P01", "3D000":
		return ConfigError
	case "57P01", "57P02", "53100", "53200":
		return Failure
	case "53300", "53400", "57P03":
		return Overload
	case "0A000", "40001", "40P01", "55P03", "08P01":
		return Excluded
	}
	switch string(c[:2]) {
	case "08", "58", "XX":
		return Failure
	case "22", "23", "25", "42":
		return Excluded
	}
	return Excluded
}
