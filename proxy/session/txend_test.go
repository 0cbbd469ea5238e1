package session

import (
	"strings"
	"testing"
)

func TestTransactionEnd(t *testing.T) {
	for _, tc := range []struct {
		sql, tag string
	}{
		{"COMMIT", "COMMIT"},
		{"  commit;", "COMMIT"},
		{"END WORK", "COMMIT"},
		{"rollback transaction ;\n", "ROLLBACK"},
		{"ABORT", "ROLLBACK"},
		{"COMMIT AND CHAIN", ""},
		{"ROLLBACK TO SAVEPOINT a", ""},
		{"SELECT 1", ""},
		{"", ""},
		{"ROLLBACK" + strings.Repeat(" ", 80) + "WORK", ""}, // past maxTransactionEnd: the backend answers
	} {
		tag, ok := transactionEnd([]byte(tc.sql + "\x00"))
		if tag != tc.tag || ok != (tc.tag != "") {
			t.Errorf("transactionEnd(%q) = %q, %v; want %q", tc.sql, tag, ok, tc.tag)
		}
	}
}

func BenchmarkTransactionEndSelect(b *testing.B) {
	q := []byte("SELECT abalance FROM pgbench_accounts WHERE aid = 12345;\x00")
	b.ReportAllocs()
	for b.Loop() {
		transactionEnd(q)
	}
}
