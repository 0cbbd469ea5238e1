package session

import (
	"fmt"
	"strings"
)

// The StartupMessage's options parameter is a command line for the
// server process (libpq's PGOPTIONS and options=, psycopg2's and JDBC's
// options): "-c name=value", "-cname=value" and "--name=value" set
// session parameters, which is what clients use it for (search_path,
// statement_timeout, default_transaction_read_only). PostgreSQL applies
// them before the startup's other parameters, so that a parameter given
// both ways takes the other's value.

// splitOptions splits options into words as PostgreSQL does
// (pg_split_opts): at unescaped whitespace, a backslash taking the next
// character literally.
func splitOptions(options string) []string {
	var words []string
	var w strings.Builder
	in, esc := false, false
	for i := 0; i < len(options); i++ {
		c := options[i]
		switch {
		case esc:
			w.WriteByte(c)
			esc, in = false, true
		case c == '\\':
			esc, in = true, true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words
}

// optionSettings returns the session parameters options sets, in order
// (a later one for the same name wins), with names as PostgreSQL takes
// them ('-' read as '_'), and the first word it cannot take as one: a
// setting without a value or with an invalid name, or any other switch.
// A pooled session carries settings to server connections it does not
// open, and cannot give them a server process's other switches.
func optionSettings(options string) ([][2]string, error) {
	words := splitOptions(options)
	var out [][2]string
	var first error
	bad := func(err *Error) {
		if first == nil {
			first = err
		}
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		form, setting := "-c ", ""
		switch {
		case w == "-c" && i+1 < len(words):
			i++
			setting = words[i]
		case w == "-c":
			bad(&Error{Code: codeSyntaxError, Message: `the options startup parameter ends in "-c" without a setting`})
			continue
		case strings.HasPrefix(w, "--"):
			form, setting = "--", w[2:]
		case strings.HasPrefix(w, "-c"):
			setting = w[2:]
		default:
			bad(&Error{Code: codeFeatureNotSupp, Message: "unsupported switch in the options startup parameter: " + w,
				Hint: "Pooled sessions take only settings there: -c name=value or --name=value."})
			continue
		}
		name, value, ok := strings.Cut(setting, "=")
		name = strings.ReplaceAll(name, "-", "_")
		switch {
		case !ok:
			bad(&Error{Code: codeSyntaxError, Message: form + setting + " requires a value"})
		case !isParamName(name):
			bad(&Error{Code: codeInvalidName, Message: fmt.Sprintf("invalid configuration parameter name %q in the options startup parameter", name)})
		default:
			out = append(out, [2]string{name, value})
		}
	}
	return out, first
}

// startupSetting returns the value params give the session parameter
// name, as PostgreSQL takes it: the parameter itself, or the last setting
// of options for it.
func startupSetting(params map[string]string, name string) (string, bool) {
	if v, ok := params[name]; ok {
		return v, true
	}
	settings, _ := optionSettings(params["options"])
	for i := len(settings) - 1; i >= 0; i-- {
		if settings[i][0] == name {
			return settings[i][1], true
		}
	}
	return "", false
}
