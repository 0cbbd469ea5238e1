package statusdb

import (
	"math"
	"strconv"
	"strings"
	"time"
)

const (
	codeInvalidDatetime = "22007"
	// µs between the Unix epoch and PostgreSQL's, 2000-01-01 00:00:00 UTC.
	pgEpochUnixMicro = 946_684_800_000_000
)

// tsInput is a parsed timestamptz literal. Without an explicit zone it is
// local time in the session's TimeZone, which only Execute knows, so
// resolution waits until then.
type tsInput struct {
	now            bool // 'now'
	zoned          bool // an explicit offset (off seconds east of UTC)
	off            int
	y, mo, d       int
	h, mi, s, usec int
}

// resolve returns the literal as µs since the Unix epoch.
func (t tsInput) resolve(loc *time.Location, now int64) int64 {
	if t.now {
		return now
	}
	if t.zoned {
		loc = time.FixedZone("", t.off)
	}
	return time.Date(t.y, time.Month(t.mo), t.d, t.h, t.mi, t.s, t.usec*1000, loc).UnixMicro()
}

func badTimestamp(s string) *Error {
	return errorf(codeInvalidDatetime, "invalid input syntax for type %s: %q", tTimestamptz, s)
}

// parseTimestamptz accepts the ISO forms people and drivers write:
// "2026-11-22", "2026-11-22 10:00", "2026-11-22T10:00:00.123456Z",
// "2026-11-22 10:00:00+01", "... +05:30", "... UTC", plus 'now' and 'epoch'.
func parseTimestamptz(s string) (tsInput, *Error) {
	in := strings.TrimSpace(s)
	switch strings.ToLower(in) {
	case "now":
		return tsInput{now: true}, nil
	case "epoch":
		return tsInput{zoned: true, y: 1970, mo: 1, d: 1}, nil
	}
	var t tsInput
	p := in
	num := func(min, max int) (int, bool) {
		i := 0
		for i < len(p) && i < max && p[i] >= '0' && p[i] <= '9' {
			i++
		}
		if i < min {
			return 0, false
		}
		n, _ := strconv.Atoi(p[:i])
		p = p[i:]
		return n, true
	}
	sep := func(c byte) bool {
		if len(p) > 0 && p[0] == c {
			p = p[1:]
			return true
		}
		return false
	}
	var ok bool
	if t.y, ok = num(4, 7); !ok || !sep('-') {
		return t, badTimestamp(s)
	}
	if t.mo, ok = num(1, 2); !ok || !sep('-') {
		return t, badTimestamp(s)
	}
	if t.d, ok = num(1, 2); !ok {
		return t, badTimestamp(s)
	}
	if len(p) > 0 && (p[0] == 'T' || p[0] == 't' || p[0] == ' ') {
		rest := strings.TrimLeft(p[1:], " ")
		if len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9' {
			p = rest
			if t.h, ok = num(1, 2); !ok || !sep(':') {
				return t, badTimestamp(s)
			}
			if t.mi, ok = num(2, 2); !ok {
				return t, badTimestamp(s)
			}
			if sep(':') {
				if t.s, ok = num(2, 2); !ok {
					return t, badTimestamp(s)
				}
				if sep('.') {
					i := 0
					for i < len(p) && p[i] >= '0' && p[i] <= '9' {
						i++
					}
					if i == 0 {
						return t, badTimestamp(s)
					}
					frac, _ := strconv.ParseFloat("0."+p[:i], 64)
					t.usec = int(math.RoundToEven(frac * 1e6))
					p = p[i:]
				}
			}
		}
	}
	p = strings.TrimLeft(p, " ")
	switch z := strings.ToUpper(p); {
	case z == "":
	case z == "Z" || z == "UTC" || z == "GMT" || z == "+00" || z == "-00":
		t.zoned = true
	case p[0] == '+' || p[0] == '-':
		sign := 1
		if p[0] == '-' {
			sign = -1
		}
		p = p[1:]
		h, ok := num(1, 2)
		if !ok {
			return t, badTimestamp(s)
		}
		var m, sec int
		colon := sep(':')
		if len(p) > 0 {
			if m, ok = num(2, 2); !ok {
				return t, badTimestamp(s)
			}
			if (colon && sep(':')) || (!colon && len(p) > 0) {
				if sec, ok = num(2, 2); !ok {
					return t, badTimestamp(s)
				}
			}
		}
		if p != "" || h > 15 || m > 59 || sec > 59 {
			return t, errorf("22008", "time zone displacement out of range: %q", s)
		}
		t.zoned, t.off = true, sign*(h*3600+m*60+sec)
	default:
		return t, badTimestamp(s)
	}
	if t.mo < 1 || t.mo > 12 || t.d < 1 || t.d > daysIn(t.y, t.mo) || t.h > 24 || t.mi > 59 || t.s > 60 ||
		(t.h == 24 && (t.mi != 0 || t.s != 0 || t.usec != 0)) {
		return t, errorf(codeDatetimeOverflow, "date/time field value out of range: %q", s)
	}
	return t, nil
}

func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

var intervalUnits = map[string]string{
	"microsecond": "us", "microseconds": "us", "usec": "us", "usecs": "us", "us": "us",
	"millisecond": "ms", "milliseconds": "ms", "msec": "ms", "msecs": "ms", "ms": "ms",
	"second": "s", "seconds": "s", "sec": "s", "secs": "s", "s": "s",
	"minute": "min", "minutes": "min", "min": "min", "mins": "min", "m": "min",
	"hour": "h", "hours": "h", "hr": "h", "hrs": "h", "h": "h",
	"day": "d", "days": "d", "d": "d",
	"week": "w", "weeks": "w", "w": "w",
	"month": "mon", "months": "mon", "mon": "mon", "mons": "mon",
	"year": "y", "years": "y", "yr": "y", "yrs": "y", "y": "y",
}

func badInterval(s string) *Error {
	return errorf(codeInvalidDatetime, "invalid input syntax for type interval: %q", s)
}

// parseInterval accepts PostgreSQL's postgres-style interval input:
// "5 minutes", "1 hour 30 min", "1.5 days", "2 days 03:00:00", "-00:00:10",
// "10" (seconds), "3 days ago". Fractions of months become days (30 to a
// month) and fractions of days become time, as in PostgreSQL.
func parseInterval(s string) (value, *Error) {
	fields := strings.Fields(strings.ToLower(s))
	if len(fields) == 0 {
		return value{}, badInterval(s)
	}
	var months, days, us float64
	ago := false
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		if f == "ago" && i == len(fields)-1 && i > 0 {
			ago = true
			continue
		}
		if strings.Contains(f, ":") {
			t, ok := parseClock(f)
			if !ok {
				return value{}, badInterval(s)
			}
			us += t
			continue
		}
		// A number, optionally followed directly by its unit ("5min").
		j := 0
		for j < len(f) && (f[j] == '+' || f[j] == '-' || f[j] == '.' || (f[j] >= '0' && f[j] <= '9')) {
			j++
		}
		if j == 0 {
			return value{}, badInterval(s)
		}
		n, err := strconv.ParseFloat(f[:j], 64)
		if err != nil {
			return value{}, badInterval(s)
		}
		unit := f[j:]
		if unit == "" && i+1 < len(fields) {
			if _, ok := intervalUnits[fields[i+1]]; ok {
				i++
				unit = fields[i]
			}
		}
		if unit == "" {
			unit = "s"
		}
		switch intervalUnits[unit] {
		case "us":
			us += n
		case "ms":
			us += n * 1e3
		case "s":
			us += n * 1e6
		case "min":
			us += n * 60e6
		case "h":
			us += n * 3600e6
		case "d":
			days += n
		case "w":
			days += n * 7
		case "mon":
			months += n
		case "y":
			months += n * 12
		default:
			return value{}, badInterval(s)
		}
	}
	if ago {
		months, days, us = -months, -days, -us
	}
	wholeMonths := math.Trunc(months)
	days += (months - wholeMonths) * 30
	wholeDays := math.Trunc(days)
	us += (days - wholeDays) * usPerDay
	if math.Abs(wholeMonths) > math.MaxInt32 || math.Abs(wholeDays) > math.MaxInt32 || math.Abs(us) > math.MaxInt64/2 {
		return value{}, errorf(codeDatetimeOverflow, "interval out of range")
	}
	return value{m: int32(wholeMonths), d: int32(wholeDays), n: int64(math.Round(us))}, nil
}

// parseClock parses [-]h:mm[:ss[.ffffff]] into µs.
func parseClock(f string) (float64, bool) {
	neg := strings.HasPrefix(f, "-")
	f = strings.TrimLeft(f, "+-")
	parts := strings.Split(f, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, false
	}
	h, err1 := strconv.ParseUint(parts[0], 10, 31)
	m, err2 := strconv.ParseUint(parts[1], 10, 31)
	if err1 != nil || err2 != nil || m > 59 {
		return 0, false
	}
	sec := 0.0
	if len(parts) == 3 {
		var err error
		if sec, err = strconv.ParseFloat(parts[2], 64); err != nil || sec < 0 || sec >= 60 || strings.ContainsAny(parts[2], "eE+-") {
			return 0, false
		}
	}
	us := (float64(h)*3600+float64(m)*60)*1e6 + math.Round(sec*1e6)
	if neg {
		us = -us
	}
	return us, true
}

// addInterval returns the timestamp us (µs since the Unix epoch) plus the
// interval iv times sign, as PostgreSQL's timestamptz_pl_interval: months
// first on the local calendar of loc (clamping the day to the month's
// length), then days keeping the local clock time, then the time part.
func addInterval(us int64, iv value, sign int32, loc *time.Location) int64 {
	if iv.m != 0 || iv.d != 0 {
		t := time.UnixMicro(us).In(loc)
		y, mo, d := t.Date()
		h, mi, s := t.Clock()
		if iv.m != 0 {
			months := int(mo) - 1 + int(sign*iv.m)
			y += months / 12
			months %= 12
			if months < 0 {
				months += 12
				y--
			}
			mo = time.Month(months + 1)
			d = min(d, daysIn(y, int(mo)))
		}
		d += int(sign * iv.d)
		us = time.Date(y, mo, d, h, mi, s, t.Nanosecond(), loc).UnixMicro()
	}
	return us + int64(sign)*iv.n
}
