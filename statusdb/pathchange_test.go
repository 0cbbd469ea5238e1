package statusdb

import (
	"fmt"
	"testing"
)

func TestPathChanges(t *testing.T) {
	tests := []struct {
		sql  string
		want string
	}{
		{"SET search_path TO helios_proxy, public", `[{1 helios_proxy, public false}]`},
		{"SET LOCAL search_path = 'helios_proxy'", `[{1 helios_proxy true}]`},
		{"SET SESSION search_path TO \"My Schema\", public", `[{1 "My Schema", public false}]`},
		{"RESET search_path", `[{1  false}]`},
		{"SET search_path TO DEFAULT", `[{1  false}]`},
		{"RESET ALL", `[{2  false}]`},
		{"DISCARD ALL", `[{2  false}]`},
		{"DISCARD PLANS", `[{0  false}]`},
		{"SET work_mem = '64MB'", `[{0  false}]`},
		{"BEGIN; SET search_path TO helios_proxy; COMMIT", `[{3  false} {1 helios_proxy false} {4  false}]`},
		{"START TRANSACTION; ROLLBACK", `[{3  false} {5  false}]`},
		{"SAVEPOINT a; ROLLBACK TO a; RELEASE a", `[{6  false} {6  false} {6  false}]`},
		{"SELECT set_config('search_path', 'helios_proxy, public', false)", `[{1 helios_proxy, public false}]`},
		{"SELECT pg_catalog.set_config('search_path'::text, 'helios_proxy', true)", `[{1 helios_proxy true}]`},
		{"SELECT set_config('search_path', $1, false)", `[{0  false}]`},
		{"SELECT set_config('work_mem', '1MB', false)", `[{0  false}]`},
		{"SELECT 1 FROM", `[]`},
	}
	for _, tc := range tests {
		if got := fmt.Sprint(PathChanges(tc.sql)); got != tc.want {
			t.Errorf("PathChanges(%q) = %s, want %s", tc.sql, got, tc.want)
		}
	}
}

func TestIsCursorCommand(t *testing.T) {
	tests := []struct {
		sql  string
		want bool
	}{
		{"FETCH FORWARD 2000 FROM \"c\"", true},
		{"  /* psycopg2 */ fetch 1 c", true},
		{"-- x\nMOVE ALL IN c", true},
		{"close c", true},
		{"CLOSE ALL", true},
		{"DECLARE c CURSOR FOR SELECT 1", true},
		{"SELECT 1", false},
		{"fetcher", false},
		{"closed", false},
		{"/* unterminated", false},
	}
	for _, tc := range tests {
		if got := IsCursorCommand([]byte(tc.sql)); got != tc.want {
			t.Errorf("IsCursorCommand(%q) = %v, want %v", tc.sql, got, tc.want)
		}
	}
}
