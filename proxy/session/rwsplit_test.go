package session

import (
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/proxy/pool"
)

func TestReadOnlySQL(t *testing.T) {
	for sql, want := range map[string]bool{
		"SELECT 1":                                              true,
		"  select * from t where id = $1":                       true,
		"/* report */ SELECT count(*) FROM t":                   true,
		"WITH x AS (SELECT 1) SELECT * FROM x":                  true,
		"VALUES (1), (2)":                                       true,
		"TABLE t":                                               true,
		"SHOW server_version":                                   false, // describes the session: the primary's
		"SHOW transaction_read_only":                            false,
		"SELECT pg_is_in_recovery()":                            false,
		"SELECT pg_try_advisory_lock(1)":                        false,
		"SELECT pg_advisory_lock_shared(1)":                     false,
		"SELECT pg_try_advisory_xact_lock(1)":                   false,
		"SELECT pg_advisory_unlock(1)":                          false,
		"SELECT pg_advisory_unlock_all()":                       false,
		"SELECT pg_notify('c', 'x')":                            false,
		"SELECT txid_current()":                                 false,
		"SELECT pg_current_xact_id()":                           false,
		"SELECT pg_current_wal_lsn()":                           false,
		"SELECT txid_current_snapshot()":                        true, // answered on a replica too
		"SELECT pg_last_wal_replay_lsn()":                       true,
		"(SELECT 1) UNION (SELECT 2)":                           true,
		"SELECT 'INSERT' AS word":                               true,
		`SELECT "update" FROM t`:                                true,
		"SELECT 1 -- INSERT\n":                                  true,
		"SELECT * FROM t FOR UPDATE":                            false,
		"SELECT * FROM t FOR NO KEY UPDATE":                     false,
		"SELECT * FROM t FOR SHARE":                             false,
		"SELECT * INTO new_t FROM t":                            false,
		"SELECT nextval('s')":                                   false,
		"SELECT setval('s', 1)":                                 false,
		"WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d": false,
		"INSERT INTO t VALUES (1)":                              false,
		"UPDATE t SET a = 1":                                    false,
		"BEGIN":                                                 false,
		"SELECT $$INSERT$$":                                     false, // dollar quoting: not sure
		"SELECT 'unterminated":                                  false,
		"SELECT pg_advisory_lock(1)":                            false,
		"":                                                      false,
	} {
		if got := readOnlySQL(sql); got != want {
			t.Errorf("readOnlySQL(%q) = %v, want %v", sql, got, want)
		}
	}
}

func TestReadOnlyQuery(t *testing.T) {
	for sql, want := range map[string]bool{
		"SELECT 1;":                    true,
		"SELECT 1; SELECT 2":           false,
		"SELECT ';'":                   false, // a semicolon anywhere: not sure
		"INSERT INTO t DEFAULT VALUES": false,
	} {
		if got := readOnlyQuery(sql); got != want {
			t.Errorf("readOnlyQuery(%q) = %v, want %v", sql, got, want)
		}
	}
}

func TestReadOnlyRequest(t *testing.T) {
	enc := func(msgs ...pgproto3.FrontendMessage) []byte {
		var out []byte
		for _, m := range msgs {
			var err error
			if out, err = m.Encode(out); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	var reg pool.Statements
	sel, ins := reg.Ref([]byte("SELECT $1::int\x00\x00\x00")), reg.Ref([]byte("INSERT INTO t VALUES ($1)\x00\x00\x00"))
	stmts := map[string]*pool.Statement{"sel": sel, "ins": ins}
	for _, c := range []struct {
		name string
		msgs []byte
		want bool
	}{
		{"simple select", enc(&pgproto3.Query{String: "SELECT 1"}), true},
		{"simple insert", enc(&pgproto3.Query{String: "INSERT INTO t DEFAULT VALUES"}), false},
		{"unnamed parse, bind, execute, sync", enc(&pgproto3.Parse{Query: "SELECT 1"}, &pgproto3.Bind{}, &pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{}, &pgproto3.Sync{}), true},
		{"named read-only statement", enc(&pgproto3.Bind{PreparedStatement: "sel"}, &pgproto3.Execute{}, &pgproto3.Sync{}), true},
		{"named write", enc(&pgproto3.Bind{PreparedStatement: "ins"}, &pgproto3.Execute{}, &pgproto3.Sync{}), false},
		{"unknown statement", enc(&pgproto3.Bind{PreparedStatement: "nope"}, &pgproto3.Execute{}, &pgproto3.Sync{}), false},
		{"unnamed statement of an earlier request", enc(&pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{}), false},
		{"two statements in one request", enc(&pgproto3.Bind{PreparedStatement: "sel"}, &pgproto3.Execute{}, &pgproto3.Bind{PreparedStatement: "sel"}, &pgproto3.Execute{}, &pgproto3.Sync{}), false},
		{"a write later in the batch", enc(&pgproto3.Parse{Query: "SELECT 1"}, &pgproto3.Parse{Name: "w", Query: "DELETE FROM t"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{}), false},
		{"no Sync yet", enc(&pgproto3.Bind{PreparedStatement: "sel"}, &pgproto3.Execute{}), false},
		{"begin read only", enc(&pgproto3.Query{String: "BEGIN READ ONLY"}), true},
		{"start transaction read only", enc(&pgproto3.Query{String: "START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;"}), true},
		{"begin read write", enc(&pgproto3.Query{String: "BEGIN READ WRITE"}), false},
		{"begin", enc(&pgproto3.Query{String: "BEGIN"}), false},
		{"begin read only and more", enc(&pgproto3.Query{String: "BEGIN READ ONLY; DELETE FROM t"}), false},
		{"named parse and its first bind in one request (pgjdbc)", enc(&pgproto3.Parse{Name: "S_1", Query: "SELECT $1::int"}, &pgproto3.Bind{PreparedStatement: "S_1"}, &pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{}, &pgproto3.Sync{}), true},
		{"named parse of a write and its first bind", enc(&pgproto3.Parse{Name: "S_2", Query: "DELETE FROM t"}, &pgproto3.Bind{PreparedStatement: "S_2"}, &pgproto3.Execute{}, &pgproto3.Sync{}), false},
		{"bind of a statement another parse in the request does not name", enc(&pgproto3.Parse{Name: "S_1", Query: "SELECT 1"}, &pgproto3.Bind{PreparedStatement: "S_9"}, &pgproto3.Execute{}, &pgproto3.Sync{}), false},
		{"extended begin read only with the first statement (pgjdbc)", enc(&pgproto3.Parse{Query: "BEGIN READ ONLY"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Parse{Query: "SELECT 1"}, &pgproto3.Bind{}, &pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{}, &pgproto3.Sync{}), true},
		{"extended begin read only, two reads", enc(&pgproto3.Parse{Query: "BEGIN READ ONLY"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Bind{PreparedStatement: "sel"}, &pgproto3.Execute{}, &pgproto3.Bind{PreparedStatement: "sel"}, &pgproto3.Execute{}, &pgproto3.Sync{}), true},
		{"extended begin read only alone", enc(&pgproto3.Parse{Query: "BEGIN READ ONLY"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{}), true},
		{"extended begin read only, then a write", enc(&pgproto3.Parse{Query: "BEGIN READ ONLY"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Parse{Query: "COMMIT"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Parse{Query: "INSERT INTO t DEFAULT VALUES"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{}), false},
		{"extended begin", enc(&pgproto3.Parse{Query: "BEGIN"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Parse{Query: "SELECT 1"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{}), false},
		{"a read, then begin read only", enc(&pgproto3.Parse{Query: "SELECT 1"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Parse{Query: "BEGIN READ ONLY"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{}), false},
		{"prepare only", enc(&pgproto3.Parse{Name: "x", Query: "SELECT 1"}, &pgproto3.Describe{ObjectType: 'S', Name: "x"}, &pgproto3.Sync{}), true},
		{"prepare a write", enc(&pgproto3.Parse{Name: "x", Query: "INSERT INTO t VALUES (1)"}, &pgproto3.Describe{ObjectType: 'S', Name: "x"}, &pgproto3.Sync{}), false},
	} {
		if got := readOnlyRequest(c.msgs[:0], c.msgs, stmts); got != c.want {
			t.Errorf("%s: readOnlyRequest = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestSettingsRequest(t *testing.T) {
	enc := func(msgs ...pgproto3.FrontendMessage) []byte {
		var out []byte
		for _, m := range msgs {
			var err error
			if out, err = m.Encode(out); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	for _, c := range []struct {
		name string
		msgs []byte
		want bool
	}{
		{"simple SET", enc(&pgproto3.Query{String: "SET extra_float_digits = 3"}), true},
		{"simple RESET", enc(&pgproto3.Query{String: "reset search_path;"}), true},
		{"simple SHOW", enc(&pgproto3.Query{String: "SHOW TimeZone"}), true},
		{"extended SET", enc(&pgproto3.Parse{Query: "SET application_name = 'PostgreSQL JDBC Driver'"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{}), true},
		{"SET and a write", enc(&pgproto3.Query{String: "SET x.y = 1; INSERT INTO t DEFAULT VALUES"}), false},
		{"set_config", enc(&pgproto3.Query{String: "SELECT set_config('a.b', '1', false)"}), false},
		{"insert", enc(&pgproto3.Query{String: "INSERT INTO t DEFAULT VALUES"}), false},
		{"SET, then an insert in the batch", enc(&pgproto3.Parse{Query: "SET x.y = 1"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Parse{Query: "INSERT INTO t DEFAULT VALUES"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{}), false},
		{"no Sync yet", enc(&pgproto3.Parse{Query: "SET x.y = 1"}, &pgproto3.Bind{}, &pgproto3.Execute{}), false},
	} {
		if got := settingsRequest(c.msgs[:0], c.msgs, nil); got != c.want {
			t.Errorf("%s: settingsRequest = %v, want %v", c.name, got, c.want)
		}
	}
}
