package session

import (
	"slices"
	"testing"
)

func TestOptionSettings(t *testing.T) {
	for _, tc := range []struct {
		options string
		want    [][2]string
		code    string // the first error's SQLSTATE, "" for none
	}{
		{"", nil, ""},
		{"-c search_path=a,b", [][2]string{{"search_path", "a,b"}}, ""},
		{"  -cwork_mem=8MB\t--statement-timeout=5s ", [][2]string{{"work_mem", "8MB"}, {"statement_timeout", "5s"}}, ""},
		{`-c application_name=two\ words -c x.y=\\`, [][2]string{{"application_name", "two words"}, {"x.y", `\`}}, ""},
		{"-c a=1 -c a=2", [][2]string{{"a", "1"}, {"a", "2"}}, ""},
		{"-c a=", [][2]string{{"a", ""}}, ""},
		{"-d 5 -c a=1", [][2]string{{"a", "1"}}, "0A000"},
		{"-c a=1 -c", [][2]string{{"a", "1"}}, "42601"},
		{"-c work_mem -c a=1", [][2]string{{"a", "1"}}, "42601"},
		{"--work-mem", nil, "42601"},
		{"--=1", nil, "42602"},
		{"-c 1a=1", nil, "42602"},
	} {
		got, err := optionSettings(tc.options)
		code := ""
		if err != nil {
			code = toClient(err).Code
		}
		if !slices.Equal(got, tc.want) || code != tc.code {
			t.Errorf("optionSettings(%q) = %q, %v; want %q, SQLSTATE %q", tc.options, got, err, tc.want, tc.code)
		}
	}
}

// TestStartupSetting: PostgreSQL applies options before the startup's
// other parameters, so that a parameter given both ways has the latter's
// value, and the last of several settings in options wins.
func TestStartupSetting(t *testing.T) {
	for _, tc := range []struct {
		params map[string]string
		want   string
		ok     bool
	}{
		{map[string]string{}, "", false},
		{map[string]string{"options": "-c search_path=o1 -c search_path=o2"}, "o2", true},
		{map[string]string{"options": "-c search_path=o", "search_path": "p"}, "p", true},
		{map[string]string{"options": "-e -c search_path=o"}, "o", true},
		{map[string]string{"search_path": ""}, "", true},
	} {
		got, ok := startupSetting(tc.params, "search_path")
		if got != tc.want || ok != tc.ok {
			t.Errorf("startupSetting(%v) = %q, %v; want %q, %v", tc.params, got, ok, tc.want, tc.ok)
		}
	}
}
