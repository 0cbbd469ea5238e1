package statusdb

import (
	"cmp"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// typ is a SQL type known to the evaluator.
type typ uint8

const (
	tUnknown     typ = iota // an untyped literal, NULL or parameter, before resolution
	tText                   // text
	tBool                   // boolean
	tInt4                   // integer
	tInt8                   // bigint
	tNumeric                // numeric, exact (numeric.go); between int8 and float8 as the implicit casts go
	tFloat8                 // double precision
	tTimestamptz            // timestamp with time zone
	tInterval               // interval

	// tArray marks an array of the type in the low bits (tInt8|tArray is
	// bigint[]). Arrays appear only as the right side of ANY and ALL, so
	// that no value needs room for one.
	tArray typ = 0x80
)

func (t typ) isArray() bool { return t&tArray != 0 }

// elem returns the element type of an array type.
func (t typ) elem() typ { return t &^ tArray }

// arrayOIDs are the OIDs of the array types, by element type.
var arrayOIDs = map[typ]uint32{
	tUnknown: pgtype.TextArrayOID, tText: pgtype.TextArrayOID, tBool: pgtype.BoolArrayOID,
	tInt4: pgtype.Int4ArrayOID, tInt8: pgtype.Int8ArrayOID, tFloat8: pgtype.Float8ArrayOID, tNumeric: pgtype.NumericArrayOID,
	tTimestamptz: pgtype.TimestamptzArrayOID, tInterval: pgtype.IntervalArrayOID,
}

// oid returns the type's PostgreSQL OID; unknown resolves to text, as
// PostgreSQL does for output columns and parameters.
func (t typ) oid() uint32 {
	if t.isArray() {
		return arrayOIDs[t.elem()]
	}
	switch t {
	case tBool:
		return pgtype.BoolOID
	case tInt4:
		return pgtype.Int4OID
	case tInt8:
		return pgtype.Int8OID
	case tFloat8:
		return pgtype.Float8OID
	case tNumeric:
		return pgtype.NumericOID
	case tTimestamptz:
		return pgtype.TimestamptzOID
	case tInterval:
		return pgtype.IntervalOID
	default:
		return pgtype.TextOID
	}
}

// String returns the type's name as PostgreSQL's format_type prints it in
// error messages.
func (t typ) String() string {
	if t.isArray() {
		return t.elem().String() + "[]"
	}
	switch t {
	case tText:
		return "text"
	case tBool:
		return "boolean"
	case tInt4:
		return "integer"
	case tInt8:
		return "bigint"
	case tFloat8:
		return "double precision"
	case tNumeric:
		return "numeric"
	case tTimestamptz:
		return "timestamp with time zone"
	case tInterval:
		return "interval"
	default:
		return "unknown"
	}
}

func (t typ) numeric() bool { return t == tInt4 || t == tInt8 || t == tNumeric || t == tFloat8 }

// value is one SQL value, unboxed so that filtering and sorting allocate
// nothing. Which fields are used depends on the type:
//
//	text         s
//	bool         n (0 or 1)
//	int4, int8   n
//	float8       f
//	numeric      s, its text output (numeric.go)
//	timestamptz  n, microseconds since the Unix epoch
//	interval     n microseconds, d days, m months
type value struct {
	s    string
	n    int64
	f    float64
	d, m int32
	null bool
}

var null = value{null: true}

func boolValue(b bool) value {
	if b {
		return value{n: 1}
	}
	return value{}
}

// compareValues orders two non-NULL values of type t as PostgreSQL's btree
// operators do: text in byte order (COLLATE "C"), NaN above every other
// float and equal to itself, -0 equal to 0, intervals by their span with 30
// days to a month.
func compareValues(t typ, a, b value) int {
	switch t {
	case tText, tUnknown:
		return strings.Compare(a.s, b.s)
	case tFloat8:
		return compareFloat(a.f, b.f)
	case tNumeric:
		return compareNumeric(a.s, b.s)
	case tInterval:
		ad, au := intervalSpan(a)
		bd, bu := intervalSpan(b)
		if c := cmp.Compare(ad, bd); c != 0 {
			return c
		}
		return cmp.Compare(au, bu)
	default:
		return cmp.Compare(a.n, b.n)
	}
}

func compareFloat(a, b float64) int {
	switch {
	case math.IsNaN(a):
		if math.IsNaN(b) {
			return 0
		}
		return 1
	case math.IsNaN(b):
		return -1
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

const usPerDay = 86_400_000_000

// intervalSpan normalizes an interval to whole days and 0 <= µs < one day.
func intervalSpan(v value) (days, us int64) {
	days = int64(v.m)*30 + int64(v.d)
	q := v.n / usPerDay
	r := v.n % usPerDay
	if r < 0 {
		q--
		r += usPerDay
	}
	return days + q, r
}

// appendText appends v's PostgreSQL text output (the typoutput function,
// DateStyle ISO, IntervalStyle postgres) in the time zone loc.
func appendText(dst []byte, t typ, v value, loc *time.Location) []byte {
	switch t {
	case tBool:
		if v.n != 0 {
			return append(dst, 't')
		}
		return append(dst, 'f')
	case tInt4, tInt8:
		return strconv.AppendInt(dst, v.n, 10)
	case tFloat8:
		return appendFloat8(dst, v.f)
	case tTimestamptz:
		return appendTimestamptz(dst, v.n, loc)
	case tInterval:
		return appendInterval(dst, v)
	default:
		return append(dst, v.s...)
	}
}

// textOf returns the text output of v, as the cast to text and || use it:
// like appendText except that booleans are "true" and "false".
func textOf(t typ, v value, loc *time.Location) string {
	switch t {
	case tText, tUnknown:
		return v.s
	case tBool:
		if v.n != 0 {
			return "true"
		}
		return "false"
	}
	var buf [64]byte
	return string(appendText(buf[:0], t, v, loc))
}

// appendMicros appends n/1e6 in fixed point without trailing zeros; n is
// not a multiple of 1e6.
func appendMicros(dst []byte, n int64) []byte {
	if n < 0 {
		dst = append(dst, '-')
		n = -n
	}
	dst = strconv.AppendInt(dst, n/1_000_000, 10)
	frac := n % 1_000_000
	var d [7]byte
	d[0] = '.'
	for i := 6; i > 0; i-- {
		d[i] = byte('0' + frac%10)
		frac /= 10
	}
	end := 7
	for d[end-1] == '0' {
		end--
	}
	return append(dst, d[:end]...)
}

// appendFloat8 formats like PostgreSQL 12+ float8out with the default
// extra_float_digits: the shortest string that reads back exactly,
// fixed-point when the decimal exponent is in [-4, 15), otherwise
// exponential like printf's %e ("1e+15", "1.5e-05").
func appendFloat8(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	case f == math.Trunc(f) && math.Abs(f) < 1e15 && (f != 0 || !math.Signbit(f)):
		// Whole numbers below 1e15 (weights, counts, 0 and 1 rates) print
		// as integers; about ten times faster than the conversion below.
		return strconv.AppendInt(dst, int64(f), 10)
	}
	if a := math.Abs(f); a >= 1e-4 && a < 1e9 {
		// Milliseconds from a time.Duration (latencies) have at most six
		// decimals. Below 1e9 two different six-decimal numbers are
		// different float64s, and every shorter decimal is one of them, so
		// when f is the float64 nearest to n/1e6 that decimal, without its
		// trailing zeros, is the shortest that reads back as f.
		if n := math.Round(f * 1e6); n/1e6 == f {
			return appendMicros(dst, int64(n))
		}
	}
	return appendShortest(dst, f, 64, 15)
}

// appendShortest appends the shortest decimal that reads back as f as a
// float of bits bits, fixed-point when its decimal exponent is in
// [-4, maxExp), otherwise exponential ("1e+15"), as PostgreSQL's float8out
// (maxExp 15) and float4out (maxExp 6) print finite values.
func appendShortest(dst []byte, f float64, bits, maxExp int) []byte {
	// One shortest-digits conversion in %e form, d.ddde±XX, rewritten in
	// place as fixed-point when the exponent calls for it.
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, bits)
	neg := e[0] == '-'
	if neg {
		e = e[1:]
	}
	i := len(e) - 1
	for e[i] != 'e' {
		i--
	}
	exp := 0
	for _, c := range e[i+2:] {
		exp = exp*10 + int(c-'0')
	}
	if e[i+1] == '-' {
		exp = -exp
	}
	if exp < -4 || exp >= maxExp {
		if neg {
			dst = append(dst, '-')
		}
		return append(dst, e...)
	}
	digits := e[:i] // d or d.ddd
	if len(digits) > 1 {
		var d [20]byte
		n := copy(d[:], digits[:1])
		n += copy(d[n:], digits[2:])
		digits = d[:n]
	}
	if neg {
		dst = append(dst, '-')
	}
	if exp < 0 {
		dst = append(dst, "0."...)
		for range -exp - 1 {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	if len(digits) <= exp+1 {
		dst = append(dst, digits...)
		for range exp + 1 - len(digits) {
			dst = append(dst, '0')
		}
		return dst
	}
	dst = append(dst, digits[:exp+1]...)
	dst = append(dst, '.')
	return append(dst, digits[exp+1:]...)
}

// appendTimestamptz formats µs since the Unix epoch like PostgreSQL's
// timestamptz_out with DateStyle ISO: "2026-11-22 10:00:00.123456+01",
// fraction without trailing zeros, offset minutes and seconds only when
// non-zero, " BC" for years before 1.
func appendTimestamptz(dst []byte, us int64, loc *time.Location) []byte {
	t := time.UnixMicro(us)
	off := 0
	if loc != time.UTC {
		_, off = t.In(loc).Zone()
	}
	// Local wall-clock fields from µs + offset with civil-date arithmetic:
	// cheaper than time.Time's Date, Clock and Zone, which each redo it.
	days, rem := splitDay(us + int64(off)*1_000_000)
	year, month, day := civil(days)
	bc := year <= 0
	if bc {
		year = 1 - year
	}
	dst = appendPadded(dst, year, 4)
	dst = append(dst, '-')
	dst = appendPadded(dst, month, 2)
	dst = append(dst, '-')
	dst = appendPadded(dst, day, 2)
	dst = append(dst, ' ')
	sec := rem / 1_000_000
	dst = appendClock(dst, sec/3600, sec/60%60, sec%60, rem%1_000_000)
	dst = appendOffset(dst, off, false)
	if bc {
		dst = append(dst, " BC"...)
	}
	return dst
}

// splitDay splits µs since the epoch into whole days (rounded down) and
// the µs of the day.
func splitDay(us int64) (days, rem int64) {
	days, rem = us/usPerDay, us%usPerDay
	if rem < 0 {
		days--
		rem += usPerDay
	}
	return days, rem
}

// appendOffset appends a UTC offset of off seconds as ±hh[:mm[:ss]]
// (±hh:mm at least when minutes).
func appendOffset(dst []byte, off int, minutes bool) []byte {
	if off < 0 {
		dst = append(dst, '-')
		off = -off
	} else {
		dst = append(dst, '+')
	}
	dst = appendPadded(dst, int64(off/3600), 2)
	if off%3600 != 0 || minutes {
		dst = append(dst, ':')
		dst = appendPadded(dst, int64(off%3600/60), 2)
		if off%60 != 0 {
			dst = append(dst, ':')
			dst = appendPadded(dst, int64(off%60), 2)
		}
	}
	return dst
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's civil_from_days).
func civil(days int64) (year, month, day int64) {
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day = doy - (153*mp+2)/5 + 1
	month = mp + 3
	if month > 12 {
		month -= 12
	}
	year = yoe + era*400
	if month <= 2 {
		year++
	}
	return year, month, day
}

// appendClock appends hh:mm:ss[.ffffff] with trailing zeros of the fraction
// removed; h may exceed 24 (intervals).
func appendClock(dst []byte, h, m, s, us int64) []byte {
	dst = appendPadded(dst, h, 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, m, 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, s, 2)
	if us != 0 {
		var frac [6]byte
		for i := 5; i >= 0; i-- {
			frac[i] = byte('0' + us%10)
			us /= 10
		}
		n := 6
		for frac[n-1] == '0' {
			n--
		}
		dst = append(dst, '.')
		dst = append(dst, frac[:n]...)
	}
	return dst
}

func appendPadded(dst []byte, n int64, width int) []byte {
	if n >= 0 && n < 100 && width == 2 {
		return append(dst, byte('0'+n/10), byte('0'+n%10))
	}
	var buf [20]byte
	b := strconv.AppendInt(buf[:0], n, 10)
	for i := len(b); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, b...)
}

// appendInterval formats like PostgreSQL's interval_out with IntervalStyle
// postgres: "1 year 2 mons 3 days 04:05:06.5", "-1 days +02:00:00", "00:00:00".
func appendInterval(dst []byte, v value) []byte {
	zero, before := true, false
	part := func(n int64, unit string) {
		if n == 0 {
			return
		}
		if !zero {
			dst = append(dst, ' ')
		}
		if before && n > 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, n, 10)
		dst = append(dst, ' ')
		dst = append(dst, unit...)
		if n != 1 {
			dst = append(dst, 's')
		}
		before = n < 0
		zero = false
	}
	part(int64(v.m/12), "year")
	part(int64(v.m%12), "mon")
	part(int64(v.d), "day")
	us := v.n
	if zero || us != 0 {
		if !zero {
			dst = append(dst, ' ')
		}
		switch {
		case us < 0:
			dst = append(dst, '-')
			us = -us
		case before:
			dst = append(dst, '+')
		}
		sec := us / 1_000_000
		dst = appendClock(dst, sec/3600, sec/60%60, sec%60, us%1_000_000)
	}
	return dst
}

// Input functions. They follow PostgreSQL's typinput functions for the
// forms people write; the errors carry PostgreSQL's SQLSTATEs and messages.

func invalidInput(t typ, s string) *Error {
	return errorf(codeInvalidText, "invalid input syntax for type %s: %q", t, s)
}

func parseInt(t typ, s string) (value, *Error) {
	trimmed := strings.TrimSpace(s)
	bits := 32
	if t == tInt8 {
		bits = 64
	}
	n, err := strconv.ParseInt(trimmed, 10, bits)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return value{}, errorf(codeOutOfRange, "value %q is out of range for type %s", s, t)
		}
		return value{}, invalidInput(t, s)
	}
	return value{n: n}, nil
}

func parseFloat8(s string) (value, *Error) {
	trimmed := strings.TrimSpace(s)
	if strings.ContainsAny(trimmed, "xX_pP") { // Go accepts hex floats and underscores; PostgreSQL does not
		return value{}, invalidInput(tFloat8, s)
	}
	f, err := strconv.ParseFloat(trimmed, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return value{}, errorf(codeOutOfRange, "%q is out of range for type double precision", s)
		}
		return value{}, invalidInput(tFloat8, s)
	}
	return value{f: f}, nil
}

// parseBool follows PostgreSQL's parse_bool: t, true, y, yes, on, 1 and
// their negatives, case-insensitive, any unique prefix.
func parseBool(s string) (value, *Error) {
	v := strings.ToLower(strings.TrimSpace(s))
	if v != "" {
		prefixOf := func(word string, min int) bool {
			return len(v) >= min && len(v) <= len(word) && word[:len(v)] == v
		}
		switch {
		case prefixOf("true", 1), prefixOf("yes", 1), prefixOf("on", 2), v == "1":
			return value{n: 1}, nil
		case prefixOf("false", 1), prefixOf("no", 1), prefixOf("off", 2), v == "0":
			return value{}, nil
		}
	}
	return value{}, invalidInput(tBool, s)
}
