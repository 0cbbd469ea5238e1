package wire

import (
	"fmt"
	"testing"
)

func TestCallsSetConfig(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want bool
	}{
		{"SELECT set_config('app.user_id', '42', false)", true},
		{"select SET_CONFIG('work_mem','7MB',false)", true},
		{"select pg_catalog.set_config($1, $2, $3)", true},
		{"SELECT 1", false},
		{"UPDATE t SET config = 1", false},
		{"SELECT my_config FROM settings", false},
		{"SELECT reset_config()", false},
		{"SELECT set_configs()", false},
		{"select set_config", true},
		{"SELECT(set_config('a.b','1',false))", true},
		{"_", false},
		{"set_", false},
		{"set_confi", false},
		{"", false},
	} {
		if got := CallsSetConfig([]byte(tc.sql)); got != tc.want {
			t.Errorf("CallsSetConfig(%q) = %v, want %v", tc.sql, got, tc.want)
		}
	}
}

// BenchmarkCallsSetConfig: the look at every simple-protocol request in
// transaction mode, on pgbench -S's statement and on a longer one.
func BenchmarkCallsSetConfig(b *testing.B) {
	for _, sql := range []string{
		"SELECT abalance FROM pgbench_accounts WHERE aid = 42;",
		"UPDATE pgbench_accounts SET abalance = abalance + -4321 WHERE aid = 12345; SELECT abalance FROM pgbench_accounts WHERE aid = 12345;",
	} {
		q := []byte(sql)
		b.Run(fmt.Sprint(len(q)), func(b *testing.B) {
			for b.Loop() {
				if CallsSetConfig(q) {
					b.Fatal("set_config found")
				}
			}
		})
	}
}
