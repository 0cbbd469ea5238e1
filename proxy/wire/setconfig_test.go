package wire

import "testing"

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
