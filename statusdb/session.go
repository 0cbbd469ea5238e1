package statusdb

import (
	"io/fs"
	"maps"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ServerVersion is the version the status database reports: in the
// server_version ParameterStatus and setting, which drivers (libpq, pgx,
// JDBC, psycopg2) parse for the major version, and at the start of
// version(), which tools match with "PostgreSQL (\d+)\.(\d+)".
const (
	ServerVersion    = "15.0 (HeliosProxy)"
	serverVersionNum = "150000"
)

// version is what version() returns, in PostgreSQL's format.
var version = "PostgreSQL " + ServerVersion + " on " + platform() + ", compiled by " + runtime.Version() + ", 64-bit"

func platform() string {
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "ppc64le": "powerpc64le", "s390x": "s390x"}[runtime.GOARCH]
	if arch == "" {
		arch = runtime.GOARCH
	}
	if runtime.GOOS == "linux" {
		return arch + "-pc-linux-gnu"
	}
	return arch + "-" + runtime.GOOS
}

// Session is the state of one session on the status database that its
// statements read and change (Input.Session): who is connected and the
// run-time settings that SET, RESET, DISCARD ALL, SHOW, current_setting and
// set_config work on, with PostgreSQL's transaction semantics (a setting
// changed in a transaction that rolls back reverts; SET LOCAL lasts until
// the transaction ends). The zero value is not usable; call NewSession. A
// Session is used by one goroutine at a time.
type Session struct {
	User, Database string
	PID            int32
	// InBlock is set by the caller while statements run inside a
	// transaction block (explicit, or the implicit one of a Query string
	// with several statements): SET LOCAL outside one only warns.
	InBlock bool

	vals        map[string]string // session values that differ from the defaults, by lower-case name
	local       map[string]string // SET LOCAL values until the transaction ends
	saved       map[string]string // vals when the transaction started
	savepoints  []savepoint       // the open transaction's, oldest first
	inTx        bool
	placeholder map[string]string // custom (dotted) names defined so far: lower-case → name as first written
	reported    map[string]string // the values last sent in ParameterStatus
	notices     []Notice
	tzName      string
	tz          *time.Location
}

// savepoint is the settings as SAVEPOINT name found them.
type savepoint struct {
	name        string
	vals, local map[string]string
}

// Notice is a NOTICE or WARNING a statement raised, for a NoticeResponse.
type Notice struct {
	Severity, Code, Message string
}

// NewSession returns the state of a new session for user on database,
// with the settings of its startup message applied (the keys other than
// user, database, options and replication), as PostgreSQL applies them.
// An error is what PostgreSQL reports, FATAL, for a bad one.
func NewSession(user, database string, pid int32, startup map[string]string) (*Session, error) {
	s := &Session{User: user, Database: database, PID: pid, vals: map[string]string{}, placeholder: map[string]string{}}
	for _, k := range slices.Sorted(maps.Keys(startup)) {
		switch k {
		case "user", "database", "options", "replication":
			continue
		}
		if err := s.set(k, startup[k], false); err != nil {
			return nil, err
		}
	}
	s.reported = map[string]string{}
	return s, nil
}

// Startup returns the ParameterStatus values of a new session, in the order
// PostgreSQL 15 sends them, and remembers them as reported.
func (s *Session) Startup() [][2]string {
	var out [][2]string
	for _, d := range settingList {
		if d.report {
			v := s.get(d)
			out = append(out, [2]string{d.name, v})
			s.reported[strings.ToLower(d.name)] = v
		}
	}
	return out
}

// Changes returns the reported settings (ParameterStatus) whose value
// changed since they were last reported, and remembers the new values.
// PostgreSQL sends them just before ReadyForQuery.
func (s *Session) Changes() [][2]string {
	var out [][2]string
	for _, d := range settingList {
		if !d.report {
			continue
		}
		key := strings.ToLower(d.name)
		if v := s.get(d); s.reported[key] != v {
			out = append(out, [2]string{d.name, v})
			s.reported[key] = v
		}
	}
	return out
}

// Notices returns the notices raised since the last call and forgets them.
func (s *Session) Notices() []Notice {
	n := s.notices
	s.notices = nil
	return n
}

// Setting returns the value SHOW prints for a setting, or an *Error
// (42704) for a name that is not one.
func (s *Session) Setting(name string) (string, error) {
	v, err := s.show(name)
	if err != nil {
		return "", err
	}
	return v, nil
}

// Location returns the session's TimeZone setting as a location.
func (s *Session) Location() *time.Location {
	name := s.get(settings["timezone"])
	if s.tz == nil || name != s.tzName {
		s.tz, s.tzName = loadZone(name), name
	}
	return s.tz
}

// StartStatement begins the transaction a statement runs in, unless one is
// open already.
func (s *Session) StartStatement() {
	if !s.inTx {
		s.saved, s.inTx = maps.Clone(s.vals), true
	}
}

// EndTransaction ends the open transaction: SET LOCAL values end, and
// the session values revert to those at its start unless commit.
func (s *Session) EndTransaction(commit bool) {
	if !s.inTx {
		return
	}
	if !commit {
		s.vals = s.saved
	}
	s.saved, s.local, s.savepoints, s.inTx = nil, nil, nil, false
}

// Savepoint remembers the settings as savepoint name (SAVEPOINT name in
// the open transaction).
func (s *Session) Savepoint(name string) {
	s.savepoints = append(s.savepoints, savepoint{name: name, vals: maps.Clone(s.vals), local: maps.Clone(s.local)})
}

// RollbackTo returns the settings to savepoint name, which stays, and
// forgets the later ones (ROLLBACK TO SAVEPOINT name); false if there is
// no savepoint of that name.
func (s *Session) RollbackTo(name string) bool {
	i := s.findSavepoint(name)
	if i < 0 {
		return false
	}
	sp := s.savepoints[i]
	s.vals, s.local = maps.Clone(sp.vals), maps.Clone(sp.local)
	s.savepoints = s.savepoints[:i+1]
	return true
}

// Release forgets savepoint name and the later ones, keeping the settings
// (RELEASE SAVEPOINT name); false if there is no savepoint of that name.
func (s *Session) Release(name string) bool {
	i := s.findSavepoint(name)
	if i < 0 {
		return false
	}
	s.savepoints = s.savepoints[:i]
	return true
}

// findSavepoint is the index of the newest savepoint called name, -1 if
// none.
func (s *Session) findSavepoint(name string) int {
	for i := len(s.savepoints) - 1; i >= 0; i-- {
		if s.savepoints[i].name == name {
			return i
		}
	}
	return -1
}

// DiscardAll resets every setting, as DISCARD ALL and RESET ALL do
// (custom settings become empty).
func (s *Session) DiscardAll() {
	for _, d := range settingList {
		if d.kind != kInternal {
			delete(s.vals, strings.ToLower(d.name))
			delete(s.local, strings.ToLower(d.name))
		}
	}
	for k := range s.placeholder {
		delete(s.vals, k)
		delete(s.local, k)
	}
}

// settingKind is how a setting's values are read and shown.
type settingKind uint8

const (
	kString   settingKind = iota
	kBool                 // on/off, true/false, yes/no, 1/0 and unique prefixes
	kInt                  // an integer in [min, max], with unit ms when ms
	kEnum                 // one of enum, case-insensitively
	kInternal             // read-only
)

// setting is one run-time setting the status database knows: a subset of
// PostgreSQL 15's, with its defaults there.
type setting struct {
	name     string // as PostgreSQL spells it (SHOW's column name)
	def      string // the value SHOW prints by default
	kind     settingKind
	report   bool // GUC_REPORT: sent in ParameterStatus
	list     bool // GUC_LIST_INPUT: SET takes a list
	ms       bool // an integer in milliseconds
	min, max int64
	enum     []string
	desc     string // SHOW ALL's description
	// check canonicalizes a value (SHOW's form) or refuses it; nil takes
	// the kind's rules.
	check func(s *Session, v string) (string, *Error)
}

// settingList is in the order PostgreSQL 15 sends the reported ones at
// startup (then alphabetical).
var settingList = []*setting{
	{name: "application_name", report: true, desc: "Sets the application name to be reported in statistics and logs.", check: checkAppName},
	{name: "client_encoding", def: "UTF8", report: true, desc: "Sets the client's character set encoding.", check: checkEncoding},
	{name: "DateStyle", def: "ISO, MDY", report: true, desc: "Sets the display format for date and time values.", check: checkDateStyle},
	{name: "default_transaction_read_only", def: "off", kind: kBool, report: true, desc: "Sets the default read-only status of new transactions."},
	{name: "in_hot_standby", def: "off", kind: kInternal, report: true, desc: "Shows whether hot standby is currently active."},
	{name: "integer_datetimes", def: "on", kind: kInternal, report: true, desc: "Shows whether datetimes are integer based."},
	{name: "IntervalStyle", def: "postgres", kind: kEnum, enum: []string{"postgres", "postgres_verbose", "sql_standard", "iso_8601"}, report: true, desc: "Sets the display format for interval values."},
	{name: "is_superuser", def: "off", kind: kInternal, report: true, desc: "Shows whether the current user is a superuser."},
	{name: "server_encoding", def: "UTF8", kind: kInternal, report: true, desc: "Shows the server (database) character set encoding."},
	{name: "server_version", def: ServerVersion, kind: kInternal, report: true, desc: "Shows the server version."},
	{name: "session_authorization", kind: kInternal, report: true},
	{name: "standard_conforming_strings", def: "on", kind: kBool, report: true, desc: "Causes '...' strings to treat backslashes literally.", check: checkOn},
	{name: "TimeZone", def: "UTC", report: true, desc: "Sets the time zone for displaying and interpreting time stamps.", check: checkTimeZone},

	{name: "bytea_output", def: "hex", kind: kEnum, enum: []string{"escape", "hex"}, desc: "Sets the output format for bytea."},
	{name: "client_min_messages", def: "notice", kind: kEnum, enum: []string{"debug5", "debug4", "debug3", "debug2", "debug1", "log", "notice", "warning", "error"}, desc: "Sets the message levels that are sent to the client."},
	{name: "default_transaction_deferrable", def: "off", kind: kBool, desc: "Sets the default deferrable status of new transactions."},
	{name: "default_transaction_isolation", def: "read committed", kind: kEnum, enum: isolationLevels, desc: "Sets the transaction isolation level of each new transaction."},
	{name: "extra_float_digits", def: "1", kind: kInt, min: -15, max: 3, desc: "Sets the number of digits displayed for floating-point values."},
	{name: "idle_in_transaction_session_timeout", def: "0", kind: kInt, ms: true, max: 1<<31 - 1, desc: "Sets the maximum allowed idle time between queries, when in a transaction."},
	{name: "idle_session_timeout", def: "0", kind: kInt, ms: true, max: 1<<31 - 1, desc: "Sets the maximum allowed idle time between queries, when not in a transaction."},
	{name: "lock_timeout", def: "0", kind: kInt, ms: true, max: 1<<31 - 1, desc: "Sets the maximum allowed duration of any wait for a lock."},
	{name: "max_identifier_length", def: "63", kind: kInternal, desc: "Shows the maximum identifier length."},
	{name: "max_index_keys", def: "32", kind: kInternal, desc: "Shows the maximum number of index keys."},
	{name: "search_path", def: `"$user", public`, list: true, desc: "Sets the schema search order for names that are not schema-qualified."},
	{name: "server_version_num", def: serverVersionNum, kind: kInternal, desc: "Shows the server version as an integer."},
	{name: "statement_timeout", def: "0", kind: kInt, ms: true, max: 1<<31 - 1, desc: "Sets the maximum allowed duration of any statement."},
	{name: "transaction_deferrable", def: "off", kind: kBool, desc: "Whether to defer a read-only serializable transaction until it can be executed with no possible serialization failures."},
	{name: "transaction_isolation", def: "read committed", kind: kEnum, enum: isolationLevels, desc: "Sets the current transaction's isolation level."},
	{name: "transaction_read_only", def: "off", kind: kBool, desc: "Sets the current transaction's read-only status."},
}

var isolationLevels = []string{"serializable", "repeatable read", "read committed", "read uncommitted"}

// settings indexes settingList by lower-case name (filled by init: the
// checks in settingList read it).
var settings = map[string]*setting{}

func init() {
	for _, d := range settingList {
		settings[strings.ToLower(d.name)] = d
	}
}

func unrecognized(name string) *Error {
	return errorf("42704", "unrecognized configuration parameter %q", name)
}

// changed returns the value of the setting of lower-case name key when
// the session changed it from its default (SET, the startup message).
func (s *Session) changed(key string) (string, bool) {
	if v, ok := s.local[key]; ok {
		return v, true
	}
	v, ok := s.vals[key]
	return v, ok
}

// get returns a known setting's current value.
func (s *Session) get(d *setting) string {
	key := strings.ToLower(d.name)
	if v, ok := s.local[key]; ok {
		return v
	}
	if v, ok := s.vals[key]; ok {
		return v
	}
	switch d.name {
	case "session_authorization":
		return s.User
	case "transaction_isolation", "transaction_read_only", "transaction_deferrable":
		return s.get(settings["default_"+key])
	}
	return d.def
}

// show returns what SHOW name prints.
func (s *Session) show(name string) (string, *Error) {
	key := strings.ToLower(name)
	if d := settings[key]; d != nil {
		return s.get(d), nil
	}
	if _, ok := s.placeholder[key]; ok {
		if v, ok := s.local[key]; ok {
			return v, nil
		}
		return s.vals[key], nil
	}
	return "", unrecognized(name)
}

// showName is the column name of SHOW name.
func showName(name string) string {
	if d := settings[strings.ToLower(name)]; d != nil {
		return d.name
	}
	return strings.ToLower(name)
}

// set changes a setting, for the session or (local) the transaction; a
// nil-valued reset is value "" with reset set.
func (s *Session) set(name, value string, local bool) *Error {
	key := strings.ToLower(name)
	d := settings[key]
	if d == nil {
		if !validCustomName(key) {
			return unrecognized(name)
		}
		if _, ok := s.placeholder[key]; !ok {
			s.placeholder[key] = key
		}
	} else {
		var err *Error
		if value, err = d.canonical(s, value); err != nil {
			// PostgreSQL names the parameter as the statement does, but
			// for a string setting with a check hook (DateStyle,
			// TimeZone), whose error names it as the setting is named.
			if d.check == nil {
				err.Message = strings.Replace(err.Message, "parameter \""+d.name+"\"", "parameter \""+name+"\"", 1)
			}
			return err
		}
		// The transaction's characteristics last until it ends.
		local = local || strings.HasPrefix(key, "transaction_")
	}
	s.store(key, value, local)
	return nil
}

func (s *Session) store(key, value string, local bool) {
	if local {
		if s.local == nil {
			s.local = map[string]string{}
		}
		s.local[key] = value
		return
	}
	delete(s.local, key)
	s.vals[key] = value
}

// reset returns a setting to its default.
func (s *Session) reset(name string, local bool) *Error {
	key := strings.ToLower(name)
	d := settings[key]
	if d == nil {
		if _, ok := s.placeholder[key]; !ok {
			if !validCustomName(key) {
				return unrecognized(name)
			}
			s.placeholder[key] = key
		}
		s.store(key, "", local)
		return nil
	}
	if d.kind == kInternal {
		return cannotChange(d.name)
	}
	if local {
		s.store(key, s.defaultOf(d), true)
		return nil
	}
	delete(s.vals, key)
	delete(s.local, key)
	return nil
}

func (s *Session) defaultOf(d *setting) string {
	switch d.name {
	case "transaction_isolation", "transaction_read_only", "transaction_deferrable":
		return s.get(settings["default_"+strings.ToLower(d.name)])
	}
	return d.def
}

// validCustomName reports whether a name that is no setting of ours can
// be a custom setting (a placeholder): two or more dot-separated words.
func validCustomName(name string) bool {
	parts := strings.Split(name, ".")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
	}
	return true
}

func cannotChange(name string) *Error {
	return errorf("55P02", "parameter %q cannot be changed", name)
}

func invalidValue(name, v string) *Error {
	return errorf(codeInvalidParamValue, "invalid value for parameter %q: %q", name, v)
}

// canonical checks a value for a known setting and returns its SHOW form.
func (d *setting) canonical(s *Session, v string) (string, *Error) {
	switch d.kind {
	case kInternal:
		return "", cannotChange(d.name)
	case kBool:
		b, ok := parseBoolSetting(v)
		if !ok {
			return "", errorf(codeInvalidParamValue, "parameter %q requires a Boolean value", d.name)
		}
		v = "off"
		if b {
			v = "on"
		}
	case kInt:
		n, ok := parseIntSetting(v, d.ms)
		if !ok {
			if d.ms {
				return "", (&Error{Code: codeInvalidParamValue, Message: "invalid value for parameter \"" + d.name + "\": \"" + v + "\"",
					Hint: `Valid units for this parameter are "us", "ms", "s", "min", "h", and "d".`})
			}
			return "", errorf(codeInvalidParamValue, "invalid value for parameter %q: %q", d.name, v)
		}
		if n < d.min || n > d.max {
			unit := ""
			if d.ms {
				unit = " ms"
			}
			return "", errorf(codeInvalidParamValue, "%d%s is outside the valid range for parameter %q (%d .. %d)", n, unit, d.name, d.min, d.max)
		}
		v = strconv.FormatInt(n, 10)
		if d.ms {
			v = showMillis(n)
		}
	case kEnum:
		i := slices.IndexFunc(d.enum, func(e string) bool { return strings.EqualFold(e, v) })
		if i < 0 {
			return "", &Error{Code: codeInvalidParamValue, Message: "invalid value for parameter \"" + d.name + "\": \"" + v + "\"",
				Hint: "Available values: " + strings.Join(d.enum, ", ") + "."}
		}
		v = d.enum[i]
	}
	if d.check != nil {
		return d.check(s, v)
	}
	return v, nil
}

// onlyHere refuses a valid PostgreSQL value the status database cannot
// honour.
func onlyHere(name, value string) *Error {
	return &Error{Code: codeFeature, Message: "the helios_proxy database supports only " + name + " " + value,
		Hint: "HeliosProxy answers this database itself; connect to a backend database for other settings."}
}

func parseBoolSetting(v string) (bool, bool) {
	l := strings.ToLower(strings.TrimSpace(v))
	switch {
	case l == "":
		return false, false
	case l == "1":
		return true, true
	case l == "0":
		return false, true
	case strings.HasPrefix("true", l), strings.HasPrefix("yes", l):
		return true, true
	case strings.HasPrefix("false", l), strings.HasPrefix("no", l):
		return false, true
	case len(l) >= 2 && strings.HasPrefix("on", l):
		return true, true
	case len(l) >= 2 && strings.HasPrefix("off", l):
		return false, true
	}
	return false, false
}

// parseIntSetting reads an integer, with a unit when ms (default ms).
func parseIntSetting(v string, ms bool) (int64, bool) {
	v = strings.TrimSpace(v)
	i := 0
	if i < len(v) && (v[i] == '-' || v[i] == '+') {
		i++
	}
	for i < len(v) && (v[i] >= '0' && v[i] <= '9' || v[i] == '.') {
		i++
	}
	num, unit := v[:i], strings.TrimSpace(v[i:])
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, false
	}
	if !ms {
		if unit != "" {
			return 0, false
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return int64(f + 0.5), strings.Contains(num, ".")
		}
		return n, true
	}
	mult := map[string]float64{"": 1, "us": 0.001, "ms": 1, "s": 1000, "min": 60000, "h": 3600000, "d": 86400000}
	m, ok := mult[unit]
	if !ok {
		return 0, false
	}
	r := f * m
	if r < 0 {
		return int64(r - 0.5), true
	}
	return int64(r + 0.5), true
}

// showMillis prints milliseconds in the largest unit that divides them.
func showMillis(n int64) string {
	if n == 0 {
		return "0"
	}
	for _, u := range []struct {
		name string
		ms   int64
	}{{"d", 86400000}, {"h", 3600000}, {"min", 60000}, {"s", 1000}} {
		if n%u.ms == 0 {
			return strconv.FormatInt(n/u.ms, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "ms"
}

func checkOn(_ *Session, v string) (string, *Error) {
	if v != "on" {
		return "", onlyHere("standard_conforming_strings", "on")
	}
	return v, nil
}

// checkAppName keeps printable ASCII and replaces other bytes with '?',
// truncated to 63 bytes, as PostgreSQL does.
func checkAppName(_ *Session, v string) (string, *Error) {
	b := []byte(v)
	for i, c := range b {
		if c < 32 || c > 126 {
			b[i] = '?'
		}
	}
	if len(b) > 63 {
		b = b[:63]
	}
	return string(b), nil
}

// checkEncoding reads an encoding name as PostgreSQL's clean_encoding_name
// does: every character but letters and digits is left out, so asyncpg's
// startup client_encoding 'utf-8' (with its quotes) is UTF8.
func checkEncoding(_ *Session, v string) (string, *Error) {
	n := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return -1
	}, v)
	if n == "utf8" || n == "unicode" {
		return "UTF8", nil
	}
	return "", onlyHere("client_encoding", "UTF8")
}

// checkDateStyle reads DateStyle as PostgreSQL's check_datestyle does,
// keeping the part (output style or field order) a value leaves out.
func checkDateStyle(s *Session, v string) (string, *Error) {
	cur := s.get(settings["datestyle"])
	style, order, _ := strings.Cut(cur, ", ")
	newStyle, newOrder := "", ""
	for _, tok := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		switch strings.ToLower(tok) {
		case "iso":
			newStyle = "ISO"
		case "sql":
			newStyle = "SQL"
		case "postgres":
			newStyle = "Postgres"
		case "german":
			newStyle = "German"
			if newOrder == "" {
				newOrder = "DMY" // unless given, as check_datestyle
			}
		case "ymd":
			newOrder = "YMD"
		case "dmy", "euro", "european":
			newOrder = "DMY"
		case "mdy", "us", "noneuro", "noneuropean":
			newOrder = "MDY"
		case "default":
			newStyle, newOrder = "ISO", "MDY"
		default:
			return "", &Error{Code: codeInvalidParamValue, Message: "invalid value for parameter \"DateStyle\": \"" + v + "\"",
				Detail: "Unrecognized key word: \"" + tok + "\"."}
		}
	}
	if newStyle != "" {
		style = newStyle
	}
	if newOrder != "" {
		order = newOrder
	}
	return style + ", " + order, nil
}

// checkTimeZone accepts the time zone names of the system's database,
// case-insensitively, and shows them as the database spells them.
func checkTimeZone(_ *Session, v string) (string, *Error) {
	if name, ok := zoneName(v); ok {
		return name, nil
	}
	if name, ok, err := offsetZone(v); ok || err != nil {
		return name, err
	}
	return "", invalidValue("TimeZone", v)
}

var (
	zonesOnce sync.Once
	zones     map[string]string // lower-case → name
)

func zoneName(v string) (string, bool) {
	if strings.EqualFold(v, "UTC") {
		return "UTC", true
	}
	if _, err := time.LoadLocation(v); err == nil && v != "" && v != "Local" && !strings.HasPrefix(v, "/") && !strings.Contains(v, "..") {
		return v, true
	}
	zonesOnce.Do(func() {
		zones = map[string]string{}
		root := "/usr/share/zoneinfo"
		_ = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				rel, _ := filepath.Rel(root, p)
				zones[strings.ToLower(rel)] = rel
			}
			return nil
		})
	})
	name, ok := zones[strings.ToLower(v)]
	if ok {
		if _, err := time.LoadLocation(name); err != nil {
			return "", false
		}
	}
	return name, ok
}

func loadZone(name string) *time.Location {
	if tz, ok := posixZone(name); ok {
		return tz
	}
	if tz, err := time.LoadLocation(name); err == nil {
		return tz
	}
	return time.UTC
}
