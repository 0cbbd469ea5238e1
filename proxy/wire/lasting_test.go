package wire

import (
	"fmt"
	"testing"
)

func TestLasting(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want Lasts
	}{
		{"SELECT set_config('app.user_id', '42', false)", SetsConfig},
		{"select SET_CONFIG('work_mem','7MB',false)", SetsConfig},
		{"select pg_catalog.set_config($1, $2, $3)", SetsConfig},
		{"SELECT 1", 0},
		{"UPDATE t SET config = 1", 0},
		{"SELECT my_config FROM settings", 0},
		{"SELECT reset_config()", 0},
		{"SELECT set_configs()", 0},
		{"select set_config", SetsConfig},
		{"SELECT(set_config('a.b','1',false))", SetsConfig},
		{"_", 0},
		{"set_", 0},
		{"set_confi", 0},
		{"", 0},
		{"SELECT pg_advisory_lock(42)", AdvisoryLock},
		{"select PG_TRY_ADVISORY_LOCK_SHARED(1, 2)", AdvisoryLock},
		{"SELECT pg_catalog.pg_try_advisory_lock($1)", AdvisoryLock},
		{"SELECT pg_advisory_unlock(42)", AdvisoryLock},
		{"SELECT pg_advisory_unlock_all()", AdvisoryLock},
		{"SELECT pg_advisory_xact_lock(42)", 0},
		{"SELECT pg_try_advisory_xact_lock_shared(42)", 0},
		{"SELECT mypg_advisory_lock(1)", 0},
		{"SELECT pg_advisory_locks()", AdvisoryLock}, // a false positive: a check, nothing more
		{"SELECT pg_advisory", 0},
		{"pg_try_", 0},
		{"SELECT pg_advisory_lock(1), set_config('a.b', '1', false)", SetsConfig | AdvisoryLock},
		{"SELECT abalance FROM pgbench_accounts WHERE aid = 1", 0},
	} {
		if got := Lasting([]byte(tc.sql)); got != tc.want {
			t.Errorf("Lasting(%q) = %b, want %b", tc.sql, got, tc.want)
		}
	}
}

// BenchmarkLasting: the look at every simple-protocol request in
// transaction mode, on pgbench -S's statement and on a longer one.
func BenchmarkLasting(b *testing.B) {
	for _, sql := range []string{
		"SELECT abalance FROM pgbench_accounts WHERE aid = 42;",
		"UPDATE pgbench_accounts SET abalance = abalance + -4321 WHERE aid = 12345; SELECT abalance FROM pgbench_accounts WHERE aid = 12345;",
	} {
		q := []byte(sql)
		b.Run(fmt.Sprint(len(q)), func(b *testing.B) {
			for b.Loop() {
				if Lasting(q) != 0 {
					b.Fatal("a lasting function found")
				}
			}
		})
	}
}
