package statusdb

import (
	"strconv"
	"strings"
	"time"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Time zones given as offsets: SET TIME ZONE INTERVAL '-08:00' HOUR TO
// MINUTE and SET TIME ZONE -8 make PostgreSQL's TimeZone "<-08>+08", a
// POSIX zone of that fixed offset, as pg_tzset_offset names it.

// intervalSetting is SET's text for an interval-typed value, as
// flatten_set_variable_args makes it: INTERVAL 'interval_out'.
func intervalSetting(tc *pg.TypeCast) (string, *Error) {
	c := tc.Arg.GetAConst()
	if c == nil || c.GetSval() == nil || tc.TypeName == nil {
		return "", unsupported("this SET value")
	}
	if t, _, _, ok := typeFor(tc.TypeName); !ok || t != tInterval {
		return "", unsupported("this SET value")
	}
	iv, err := parseInterval(c.GetSval().Sval)
	if err != nil {
		return "", err
	}
	return "INTERVAL '" + string(appendInterval(nil, iv)) + "'", nil
}

// offsetZone reads a TimeZone value that is an offset, as check_timezone
// does: INTERVAL '...' (the zone's offset from UTC, -08:00 for UTC-8) or
// a number of hours (the same); ok is false for other values.
func offsetZone(v string) (name string, ok bool, err *Error) {
	var secs int64
	if rest, found := cutPrefixFold(v, "interval"); found {
		s := strings.Trim(strings.TrimSpace(rest), "'")
		iv, perr := parseInterval(s)
		switch {
		case perr != nil:
			return "", false, perr
		case iv.m != 0:
			return "", false, &Error{Code: codeInvalidParamValue, Message: "invalid interval value for time zone: month not allowed"}
		case iv.d != 0:
			return "", false, &Error{Code: codeInvalidParamValue, Message: "invalid interval value for time zone: day not allowed"}
		}
		secs = -iv.n / 1_000_000
	} else {
		h, perr := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if perr != nil {
			return "", false, nil
		}
		secs = -int64(h * 3600)
	}
	if secs < -15*3600-59*60 || secs > 15*3600+59*60 {
		return "", false, nil
	}
	return offsetZoneName(secs), true, nil
}

// offsetZoneName is pg_tzset_offset's name for a zone gmtoff seconds west
// of Greenwich.
func offsetZoneName(gmtoff int64) string {
	abs := gmtoff
	if abs < 0 {
		abs = -abs
	}
	off := string(appendPadded(nil, abs/3600, 2))
	if abs%3600 != 0 {
		off += ":" + string(appendPadded(nil, abs%3600/60, 2))
		if abs%60 != 0 {
			off += ":" + string(appendPadded(nil, abs%60, 2))
		}
	}
	if gmtoff > 0 {
		return "<-" + off + ">+" + off
	}
	return "<+" + off + ">-" + off
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// posixZone loads a zone named as offsetZoneName names them: "<-08>+08"
// is 8 hours west, shown as "-08".
func posixZone(name string) (*time.Location, bool) {
	if !strings.HasPrefix(name, "<") {
		return nil, false
	}
	abbr, rest, ok := strings.Cut(name[1:], ">")
	if !ok || len(rest) < 2 || (rest[0] != '+' && rest[0] != '-') {
		return nil, false
	}
	secs, ok := parseClockOffset(rest[1:])
	if !ok {
		return nil, false
	}
	if rest[0] == '+' {
		secs = -secs // POSIX offsets are west of Greenwich
	}
	return time.FixedZone(abbr, int(secs)), true
}

// LoadZone returns the location of a TimeZone setting as PostgreSQL
// reports it (a zone name, or an offset zone such as "<-08>+08"); UTC
// when it is not known.
func LoadZone(name string) *time.Location {
	return loadZone(name)
}
