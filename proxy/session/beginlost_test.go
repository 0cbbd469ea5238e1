package session

import "testing"

func TestBeginRequest(t *testing.T) {
	tests := []struct {
		sql      string
		readOnly bool
		tag      string // "" when not a bare BEGIN
	}{
		{"BEGIN", false, "BEGIN"},
		{"begin", false, "BEGIN"},
		{" BEGIN ;", false, "BEGIN"},
		{"BEGIN WORK", false, "BEGIN"},
		{"begin transaction;", false, "BEGIN"},
		{"START TRANSACTION", false, "START TRANSACTION"},
		{"begin isolation level serializable", false, "BEGIN"},
		{"BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY, DEFERRABLE", false, "BEGIN"},
		{"begin isolation level read committed read write not deferrable", false, "BEGIN"},
		{"START TRANSACTION ISOLATION LEVEL READ UNCOMMITTED", false, "START TRANSACTION"},
		{"BEGIN READ ONLY", true, "BEGIN"},
		// On a standby these fail: a read-only session may be routed to one.
		{"BEGIN ISOLATION LEVEL SERIALIZABLE", true, ""},
		{"BEGIN READ WRITE", true, ""},
		// Not bare, or not valid: PostgreSQL may refuse them.
		{"BEGIN; INSERT INTO t VALUES (1)", false, ""},
		{"BEGIN ISOLATION LEVEL bogus", false, ""},
		{"BEGIN ISOLATION", false, ""},
		{"START", false, ""},
		{"BEGINX", false, ""},
		{"BEGIN -- comment", false, ""},
		{"SELECT 1", false, ""},
		{"COMMIT", false, ""},
		{"", false, ""},
	}
	for _, tt := range tests {
		tag, ok := beginRequest(append([]byte(tt.sql), 0), tt.readOnly)
		if ok != (tt.tag != "") || tag != tt.tag {
			t.Errorf("beginRequest(%q, readOnly %v) = %q, %v, want %q", tt.sql, tt.readOnly, tag, ok, tt.tag)
		}
	}
}
