package wire

import "testing"

func TestDatabaseDDL(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want bool
	}{
		{`DROP DATABASE shop;`, true},
		{`drop database if exists "Shop"`, true},
		{`CREATE DATABASE copy TEMPLATE shop`, true},
		{"  \n\tCreate\n Database x", true},
		{`ALTER DATABASE shop RENAME TO store`, true},
		{"-- createdb\nCREATE DATABASE x;", true},
		{"/* a /* nested */ comment */ DROP /* here too */ DATABASE x", true},
		{`DROP DATABASE`, true},
		{`CREATE DATABASEx`, false},
		{`CREATEDATABASE x`, false},
		{`CREATE TABLE database (a int)`, false},
		{`SELECT 'DROP DATABASE x'`, false},
		{`DROP TABLE t; DROP DATABASE x`, false}, // only the first statement is looked at
		{`ALTER ROLE app SET search_path = database`, false},
		{`CREATE`, false},
		{`DROP DATA`, false},
		{"/* unterminated", false},
		{"--", false},
		{``, false},
	} {
		if got := DatabaseDDL([]byte(tc.sql)); got != tc.want {
			t.Errorf("DatabaseDDL(%q) = %v, want %v", tc.sql, got, tc.want)
		}
	}
}
