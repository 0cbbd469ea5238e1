package config

import "testing"

func TestLogFormat(t *testing.T) {
	if got := Default().Observability.LogFormat; got != "text" {
		t.Errorf("Default observability.log_format = %q, want \"text\"", got)
	}
	const backend = "[[backends.instances]]\nname = \"a\"\nhost = \"h\"\n"
	for _, tt := range []struct {
		doc  string
		want string // the format loaded, or "" for an error
		err  string
	}{
		{backend, "text", ""},
		{backend + "[observability]\nlog_format = \"json\"\n", "json", ""},
		{backend + "[observability]\nlog_format = \"text\"\n", "text", ""},
		{backend + "[observability]\nlog_level = \"debug\"\nlog_format = \"JSON\"\n", "",
			`helios.toml:6: observability.log_format: unsupported format "JSON"; supported: "text", "json"`},
		{backend + "[observability]\nlog_format = \"logfmt\"\n", "",
			`helios.toml:5: observability.log_format: unsupported format "logfmt"; supported: "text", "json"`},
	} {
		c, _, err := Parse("helios.toml", []byte(tt.doc))
		if tt.err == "" {
			if err != nil || c.Observability.LogFormat != tt.want {
				t.Errorf("Parse(%q): log_format = %q, %v; want %q", tt.doc, c.Observability.LogFormat, err, tt.want)
			}
			continue
		}
		sameStrings(t, "errors of "+tt.doc, messages(err), []string{tt.err})
	}
}
