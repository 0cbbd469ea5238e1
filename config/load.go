package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Error is one problem found in a configuration. Its Error method reads
// "file:line: message" (with the column too for TOML syntax errors), or just
// the message for a Config built in code.
type Error struct {
	File    string // as given to Load or Parse; empty for a Config built in code
	Line    int    // 1-based; 0 when unknown
	Column  int    // 1-based; 0 when not given (only syntax errors have one)
	Key     string // the key as the file spells it, e.g. "backends.instances[1].port"; empty for syntax errors
	Message string // the whole message, naming Key; never contains a secret value
}

// Error returns "file:line: message", "file:line:column: message" for a
// syntax error, or the message alone when the position is unknown.
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0 && e.Column > 0:
		fmt.Fprintf(&b, "%s:%d:%d: ", e.File, e.Line, e.Column)
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		fmt.Fprintf(&b, "%s: ", e.File)
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	b.WriteString(e.Message)
	return b.String()
}

// Load reads the file at path and returns its configuration, as Parse does.
func Load(path string) (Config, []Warning, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, nil, err
	}
	return Parse(path, data)
}

// Parse returns the configuration in data: Default, then the TOML in data
// decoded over it, with ${VAR} expanded in string values, then Validate.
// name (usually the file's path) prefixes positions in errors and warnings.
//
// On failure the Config is the zero value and the error joins every problem
// found (each an *Error); the warnings are returned whenever the file could be
// decoded, even if it does not validate.
//
// Expansion: "${NAME}" in a string value is replaced by the environment
// variable NAME, or by "" (with a warning) when it is not set; "$${" stands
// for a literal "${". Any other "$" is kept as written, so that passwords
// containing "$" survive. Numbers, booleans and durations are not expanded.
func Parse(name string, data []byte) (Config, []Warning, error) {
	o, errs := scan(name, data)
	if len(errs) > 0 {
		return Config{}, nil, errors.Join(errs...)
	}

	cfg := Default()
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		// scan checks what the decoder checks, and more, so this is only
		// reached for what scan leaves out (such as a key defined twice).
		return Config{}, nil, errors.Join(decodeErrors(name, err)...)
	}
	cfg.origin = o

	// Array elements start from zero values, not from Default: apply the
	// defaults of the keys the file leaves out.
	for i := range cfg.Backends.Instances {
		b := &cfg.Backends.Instances[i]
		p := fmt.Sprintf("backends.instances[%d]", i)
		if !o.has(p + ".port") {
			b.Port = DefaultBackend().Port
		}
		if !o.has(p + ".weight") {
			b.Weight = DefaultBackend().Weight
		}
	}

	var warns []Warning
	walkStrings(reflect.ValueOf(&cfg).Elem(), "", func(path, s string) string {
		v, unset, ok := expand(s)
		if !ok {
			return s
		}
		o.env[path] = envValue{raw: s, expanded: v}
		for _, u := range unset {
			warns = append(warns, o.warning(path, fmt.Sprintf("environment variable %s is not set: expanded to an empty string", u)))
		}
		return v
	})
	warns = append(warns, cfg.warnings()...)
	sort.SliceStable(warns, func(i, j int) bool { return warns[i].Line < warns[j].Line })

	if err := cfg.Validate(); err != nil {
		return Config{}, warns, err
	}
	return cfg, warns, nil
}

// origin is what Parse learned about the file: where each key is, and which
// values came from the environment.
type origin struct {
	name   string
	lines  map[string]int // key (tables too) → line of its first appearance
	leaves []leaf         // the key = value entries, in file order
	env    map[string]envValue
}

type leaf struct {
	key  string // backends.instances[1].port
	line int
}

type envValue struct{ raw, expanded string }

func (o *origin) has(key string) bool {
	_, ok := o.lines[key]
	return ok
}

// line returns the line of key, or of its closest enclosing table when the
// file leaves key out; 0 when neither is in the file.
func (o *origin) line(key string) int {
	if o == nil {
		return 0
	}
	for key != "" {
		if l, ok := o.lines[key]; ok {
			return l
		}
		key = parentKey(key)
	}
	return 0
}

func (o *origin) file() string {
	if o == nil {
		return ""
	}
	return o.name
}

func (o *origin) warning(key, msg string) Warning {
	return Warning{File: o.file(), Line: o.line(key), Key: key, Message: msg}
}

// parentKey strips the last part of a key: "a.b[2]" → "a.b", "a.b" → "a".
func parentKey(key string) string {
	i := strings.LastIndexAny(key, ".[")
	if i < 0 {
		return ""
	}
	return key[:i]
}

// normKey drops array indices: "backends.instances[1].port" →
// "backends.instances.port".
func normKey(key string) string {
	if !strings.Contains(key, "[") {
		return key
	}
	var b strings.Builder
	skip := false
	for _, r := range key {
		switch {
		case r == '[':
			skip = true
		case r == ']':
			skip = false
		case !skip:
			b.WriteRune(r)
		}
	}
	return b.String()
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// joinKey appends one part to a key, quoted as TOML would need it.
func joinKey(prefix, part string) string {
	if !bareKey.MatchString(part) {
		part = strconv.Quote(part)
	}
	if prefix == "" {
		return part
	}
	return prefix + "." + part
}

var (
	configType   = reflect.TypeFor[Config]()
	durationType = reflect.TypeFor[Duration]()
)

// tomlName is the key of a struct field, or "" for a field without one.
func tomlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	return name
}

// child is the type of key name inside a value of type t.
func child(t reflect.Type, name string) (reflect.Type, bool) {
	switch {
	case isStruct(t):
		for i := range t.NumField() {
			if f := t.Field(i); tomlName(f) == name {
				return f.Type, true
			}
		}
		return nil, false
	case t.Kind() == reflect.Map:
		return t.Elem(), true
	case t.Kind() == reflect.Interface:
		return t, true
	}
	return nil, false
}

func isStruct(t reflect.Type) bool { return t.Kind() == reflect.Struct && t != durationType }

func isTableArray(t reflect.Type) bool { return t.Kind() == reflect.Slice && isStruct(t.Elem()) }

func isTable(t reflect.Type) bool {
	return isStruct(t) || t.Kind() == reflect.Map || t.Kind() == reflect.Interface
}

// want describes what a value of type t is written as.
func want(t reflect.Type) string {
	switch {
	case t == durationType:
		return `a duration string such as "30s"`
	case isTableArray(t):
		return "an array of tables"
	case isTable(t):
		return "a table"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(want(t.Elem()), "a "), "an ") + "s"
	}
	return t.String()
}

// scanner checks a document against the Config schema before the decoder
// sees it. Unlike the decoder, which stops at the first wrong type and
// matches keys regardless of case, it reports every unknown key and every
// wrong value, each with its line, and it remembers where each key is.
type scanner struct {
	p      unstable.Parser
	data   []byte
	nl     []int // offsets of the newlines in data
	o      *origin
	errs   []error
	arrays map[string]int // [[array tables]] seen so far, by key
	tables map[string]int // [tables] seen so far → line
	leaves map[string]int // key = value seen so far → line
	// inlineArrays are the arrays of tables written key = [{...}], which
	// [[key]] cannot extend.
	inlineArrays map[string]int
}

func scan(name string, data []byte) (*origin, []error) {
	s := &scanner{
		data:   data,
		o:      &origin{name: name, lines: map[string]int{}, env: map[string]envValue{}},
		arrays: map[string]int{},
		tables: map[string]int{},
		leaves: map[string]int{},

		inlineArrays: map[string]int{},
	}
	for i, c := range data {
		if c == '\n' {
			s.nl = append(s.nl, i)
		}
	}
	s.p.Reset(data)
	var (
		table = ""
		tt    = configType
		ok    = true
	)
	for s.p.NextExpression() {
		e := s.p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table, tt, ok = s.header(e)
		case unstable.KeyValue:
			if ok { // keys of a table already reported are not reported again
				s.keyValue(table, tt, e)
			}
		}
	}
	if err := s.p.Error(); err != nil {
		s.errs = append(s.errs, s.syntaxError(name, err))
	}
	sort.SliceStable(s.errs, func(i, j int) bool {
		return s.errs[i].(*Error).Line < s.errs[j].(*Error).Line
	})
	return s.o, s.errs
}

// position is the 1-based line and column of offset in the document.
func (s *scanner) position(offset int) (line, col int) {
	i := sort.SearchInts(s.nl, offset) // newlines before offset
	start := 0
	if i > 0 {
		start = s.nl[i-1] + 1
	}
	return i + 1, offset - start + 1
}

func (s *scanner) line(n *unstable.Node) int {
	l, _ := s.position(int(n.Raw.Offset))
	return l
}

func (s *scanner) syntaxError(name string, err error) error {
	var pe *unstable.ParserError
	if !errors.As(err, &pe) {
		return &Error{File: name, Message: err.Error()}
	}
	e := &Error{File: name, Message: "invalid TOML: " + pe.Message}
	// The highlight is a slice of the document: its capacity tells where.
	if off := cap(s.data) - cap(pe.Highlight); pe.Highlight != nil && off >= 0 && off <= len(s.data) {
		e.Line, e.Column = s.position(off)
	}
	return e
}

func (s *scanner) errorf(line int, key, format string, args ...any) {
	s.errs = append(s.errs, &Error{File: s.o.name, Line: line, Key: key, Message: fmt.Sprintf(format, args...)})
}

func (s *scanner) unknown(line int, key string) {
	s.errorf(line, key, "unknown key %s", key)
}

func (s *scanner) record(key string, line int) {
	if _, ok := s.o.lines[key]; !ok {
		s.o.lines[key] = line
	}
}

func keyParts(e *unstable.Node) []*unstable.Node {
	var parts []*unstable.Node
	it := e.Key()
	for it.Next() {
		parts = append(parts, it.Node())
	}
	return parts
}

// header handles [table] and [[array.table]] and returns the table's key and
// type; ok is false when the table is in error.
func (s *scanner) header(e *unstable.Node) (key string, t reflect.Type, ok bool) {
	parts := keyParts(e)
	line := s.line(parts[0])
	t = configType
	for i, kn := range parts {
		last := i == len(parts)-1
		var found bool
		t, found = child(t, string(kn.Data))
		key = joinKey(key, string(kn.Data))
		if !found {
			s.unknown(line, key)
			return "", nil, false
		}
		s.record(key, line)
		switch n := s.arrays[key]; {
		case last && e.Kind == unstable.ArrayTable:
			if !isTableArray(t) && t.Kind() != reflect.Interface {
				s.errorf(line, key, "%s: want %s, got an array of tables", key, want(t))
				return "", nil, false
			}
			if first, ok := s.inlineArrays[key]; ok {
				s.errorf(line, key, "%s: cannot add to the array defined at line %d", key, first)
				return "", nil, false
			}
			s.arrays[key] = n + 1
			key = fmt.Sprintf("%s[%d]", key, n)
		case n > 0: // [a.b] after [[a]] is in the last element of a
			key = fmt.Sprintf("%s[%d]", key, n-1)
		case isTableArray(t):
			s.errorf(line, key, "%s: want an array of tables, written [[%s]]", key, key)
			return "", nil, false
		}
		if isTableArray(t) {
			t = t.Elem()
		}
		if !isTable(t) {
			s.errorf(line, key, "%s: want %s, got a table", key, want(t))
			return "", nil, false
		}
		s.record(key, line)
	}
	if e.Kind == unstable.Table {
		if first, dup := s.tables[key]; dup {
			s.errorf(line, key, "table [%s] is defined twice (first at line %d)", key, first)
			return "", nil, false
		}
		s.tables[key] = line
	}
	return key, t, true
}

// keyValue handles key = value, with a possibly dotted key, in table key of
// type t.
func (s *scanner) keyValue(key string, t reflect.Type, e *unstable.Node) {
	parts := keyParts(e)
	line := s.line(parts[0])
	for i, kn := range parts {
		var found bool
		t, found = child(t, string(kn.Data))
		key = joinKey(key, string(kn.Data))
		if !found {
			s.unknown(line, key)
			return
		}
		if i < len(parts)-1 {
			if !isTable(t) {
				s.errorf(line, key, "%s: want %s, got a table", key, want(t))
				return
			}
			s.record(key, line)
		}
	}
	s.value(key, t, e.Value(), line)
}

func (s *scanner) value(key string, t reflect.Type, v *unstable.Node, line int) {
	s.record(key, line)
	switch {
	case t.Kind() == reflect.Interface && v.Kind != unstable.InlineTable:
		s.leaf(key, line)
	case isTable(t):
		if v.Kind != unstable.InlineTable {
			s.errorf(line, key, "%s: want %s, got %s", key, want(t), s.describe(key, v))
			return
		}
		s.inline(key, t, v)
	case isTableArray(t):
		if v.Kind != unstable.Array {
			s.errorf(line, key, "%s: want %s, got %s", key, want(t), s.describe(key, v))
			return
		}
		s.inlineArrays[key] = line
		i := 0
		for it := v.Children(); it.Next(); i++ {
			el, ek := it.Node(), fmt.Sprintf("%s[%d]", key, i)
			if el.Kind != unstable.InlineTable {
				s.errorf(line, ek, "%s: want a table, got %s", ek, s.describe(ek, el))
				continue
			}
			s.record(ek, line)
			s.inline(ek, t.Elem(), el)
		}
	default:
		s.leaf(key, line)
		s.scalar(key, t, v, line)
	}
}

func (s *scanner) inline(key string, t reflect.Type, v *unstable.Node) {
	for it := v.Children(); it.Next(); {
		s.keyValue(key, t, it.Node())
	}
}

func (s *scanner) leaf(key string, line int) {
	if first, dup := s.leaves[key]; dup {
		s.errorf(line, key, "%s: defined twice (first at line %d)", key, first)
		return
	}
	s.leaves[key] = line
	s.o.leaves = append(s.o.leaves, leaf{key: key, line: line})
}

// scalar checks a value against a field that is not a table.
func (s *scanner) scalar(key string, t reflect.Type, v *unstable.Node, line int) {
	if t == durationType {
		if v.Kind != unstable.String {
			s.errorf(line, key, "%s: want %s, got %s", key, want(t), s.describe(key, v))
			return
		}
		if _, err := time.ParseDuration(string(v.Data)); err != nil {
			s.errorf(line, key, `%s: want a duration with a unit, such as "30s" or "500ms", got %q`, key, v.Data)
		}
		return
	}
	okKind := map[reflect.Kind][]unstable.Kind{
		reflect.String:  {unstable.String},
		reflect.Bool:    {unstable.Bool},
		reflect.Int:     {unstable.Integer},
		reflect.Int64:   {unstable.Integer},
		reflect.Float64: {unstable.Integer, unstable.Float},
		reflect.Slice:   {unstable.Array},
	}[t.Kind()]
	if !containsKind(okKind, v.Kind) {
		s.errorf(line, key, "%s: want %s, got %s", key, want(t), s.describe(key, v))
		return
	}
	if t.Kind() == reflect.Slice {
		i := 0
		for it := v.Children(); it.Next(); i++ {
			s.scalar(fmt.Sprintf("%s[%d]", key, i), t.Elem(), it.Node(), line)
		}
	}
}

func containsKind(ks []unstable.Kind, k unstable.Kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

// describe says what a value is, with its text if it is a number, a boolean
// or a date and key does not hold a secret.
func (s *scanner) describe(key string, v *unstable.Node) string {
	kind := map[unstable.Kind]string{
		unstable.String:        "a string",
		unstable.Bool:          "a boolean",
		unstable.Integer:       "an integer",
		unstable.Float:         "a float",
		unstable.Array:         "an array",
		unstable.InlineTable:   "a table",
		unstable.DateTime:      "a date-time",
		unstable.LocalDate:     "a date",
		unstable.LocalTime:     "a time",
		unstable.LocalDateTime: "a date-time",
	}[v.Kind]
	if kind == "" {
		kind = v.Kind.String()
	}
	// Strings are never shown: a secret can be anywhere in a wrong file.
	switch v.Kind {
	case unstable.String, unstable.Array, unstable.InlineTable:
		return kind
	}
	if isSecret(key) || v.Raw.Length == 0 {
		return kind
	}
	raw := string(s.p.Raw(v.Raw))
	if len(raw) > 40 {
		raw = raw[:37] + "..."
	}
	return kind + " " + raw
}

// decodeErrors turns the decoder's errors into *Error values.
func decodeErrors(name string, err error) []error {
	var sme *toml.StrictMissingError
	if errors.As(err, &sme) {
		var errs []error
		for _, e := range sme.Errors {
			line, _ := e.Position()
			key := strings.Join(e.Key(), ".")
			errs = append(errs, &Error{File: name, Line: line, Key: key, Message: "unknown key " + key})
		}
		return errs
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		key := strings.Join(de.Key(), ".")
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if key != "" {
			msg = key + ": " + msg
		}
		return []error{&Error{File: name, Line: line, Column: col, Key: key, Message: msg}}
	}
	return []error{&Error{File: name, Message: err.Error()}}
}

// expand replaces ${NAME} in s (see Parse). ok reports whether s referred to
// the environment at all; unset lists the variables that are not set.
func expand(s string) (out string, unset []string, ok bool) {
	if !strings.Contains(s, "${") {
		return s, nil, false
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("${")
			i += 3
			continue
		}
		if strings.HasPrefix(s[i:], "${") {
			if end := strings.IndexByte(s[i+2:], '}'); end >= 0 && envName.MatchString(s[i+2:i+2+end]) {
				name := s[i+2 : i+2+end]
				v, set := os.LookupEnv(name)
				if !set {
					unset = append(unset, name)
				}
				b.WriteString(v)
				ok = true
				i += end + 3
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	if !ok && !strings.Contains(s, "$${") {
		return s, nil, false
	}
	return b.String(), unset, true
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// walkStrings calls fn for every string in v (a settable struct, slice, map
// or string), with the key of the string, and stores what fn returns.
func walkStrings(v reflect.Value, key string, fn func(key, s string) string) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == durationType {
			return
		}
		for i := range v.NumField() {
			if name := tomlName(v.Type().Field(i)); name != "" {
				walkStrings(v.Field(i), joinKey(key, name), fn)
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			walkStrings(v.Index(i), fmt.Sprintf("%s[%d]", key, i), fn)
		}
	case reflect.String:
		v.SetString(fn(key, v.String()))
	case reflect.Map: // Edge: map[string]any
		if m, ok := v.Interface().(map[string]any); ok {
			walkAny(m, key, fn)
		}
	}
}

// walkAny is walkStrings for the values of a decoded free-form table, which
// are maps, slices and scalars.
func walkAny(x any, key string, fn func(key, s string) string) any {
	switch x := x.(type) {
	case string:
		return fn(key, x)
	case map[string]any:
		for k, v := range x {
			x[k] = walkAny(v, joinKey(key, k), fn)
		}
	case []any:
		for i, v := range x {
			x[i] = walkAny(v, fmt.Sprintf("%s[%d]", key, i), fn)
		}
	}
	return x
}
