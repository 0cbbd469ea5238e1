package statusdb

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"
)

// Output of date, time and timestamp values, of timestamptz and interval
// under the session's DateStyle and IntervalStyle, and to_char.

// outStyle is the session's DateStyle and IntervalStyle.
type outStyle struct {
	date     string // "ISO", "SQL", "Postgres" or "German"
	dmy      bool   // day before month (DMY or YMD order... DMY)
	interval string // "postgres", "postgres_verbose", "sql_standard" or "iso_8601"
	// floatDigits is extra_float_digits: above 0 float8 text is the
	// shortest that reads back exactly, else %.{15+floatDigits}g.
	floatDigits int
}

// styleOf reads the styles the statement's output follows: the
// session's (on a backend database, the proxy's mirror of the backend's
// settings); ISO and postgres without one.
func styleOf(x *evalCtx) outStyle {
	if x.styleRead {
		return x.style
	}
	st := outStyle{date: "ISO", interval: "postgres", floatDigits: 1}
	defer func() { x.style, x.styleRead = st, true }()
	ds, is := "", ""
	if x.in != nil && x.in.Session != nil {
		// Only what a SET or the startup changed: the defaults are
		// st's already (a status query runs this once per execution).
		ses := x.in.Session
		ds, _ = ses.changed("datestyle")
		is, _ = ses.changed("intervalstyle")
		if efd, ok := ses.changed("extra_float_digits"); ok {
			if n, err := strconv.Atoi(efd); err == nil {
				st.floatDigits = n
			}
		}
	}
	for _, part := range strings.Split(ds, ",") {
		switch p := strings.ToLower(strings.TrimSpace(part)); p {
		case "iso":
			st.date = "ISO"
		case "sql":
			st.date = "SQL"
		case "postgres":
			st.date = "Postgres"
		case "german":
			st.date = "German"
			st.dmy = true
		case "dmy", "euro", "european":
			st.dmy = true
		case "mdy", "us", "noneuropean", "ymd":
			st.dmy = false
		}
	}
	if is != "" {
		st.interval = strings.ToLower(is)
	}
	return st
}

// styled reports whether timestamptz, interval or float8 text output
// differs from the default (ISO, postgres, extra_float_digits 1).
func (s outStyle) styled() bool {
	return s.date != "ISO" || s.interval != "postgres" || s.floatDigits < 1
}

// appendFloatStyle is float8out under extra_float_digits n < 1:
// printf's %.{15+n}g.
func appendFloatStyle(dst []byte, f float64, n int) []byte {
	if n >= 1 || math.IsNaN(f) || math.IsInf(f, 0) {
		return appendFloat8(dst, f)
	}
	return strconv.AppendFloat(dst, f, 'g', max(15+n, 1), 64)
}

var (
	monthAbbr = []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
	monthName = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
	dayAbbr   = []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	dayName   = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
)

// appendDateTime is EncodeDateTime (and EncodeDateOnly for a date): a
// timestamptz (zoned), timestamp or date in DateStyle st.
func appendDateTime(dst []byte, tm tmOf, st outStyle, zoned, dateOnly bool) []byte {
	year := int64(tm.year)
	bc := year <= 0
	if bc {
		year = 1 - year
	}
	clock := func(dst []byte) []byte {
		return appendClock(dst, int64(tm.hour), int64(tm.min), int64(tm.sec), int64(tm.usec))
	}
	offset := func(dst []byte) []byte { return appendOffset(dst, tm.off, false) }
	zone := func(dst []byte) []byte {
		if tm.abbr != "" {
			return append(append(dst, ' '), tm.abbr...)
		}
		return offset(append(dst, ' '))
	}
	dm := func(dst []byte, sep byte) []byte {
		a, b := tm.mon, tm.mday
		if st.dmy {
			a, b = b, a
		}
		dst = appendPadded(dst, int64(a), 2)
		dst = append(dst, sep)
		return appendPadded(dst, int64(b), 2)
	}
	switch st.date {
	case "SQL", "German":
		if st.date == "SQL" {
			dst = dm(dst, '/')
			dst = append(dst, '/')
		} else {
			dst = appendPadded(dst, int64(tm.mday), 2)
			dst = append(dst, '.')
			dst = appendPadded(dst, int64(tm.mon), 2)
			dst = append(dst, '.')
		}
		dst = appendPadded(dst, year, 4)
		if !dateOnly {
			dst = clock(append(dst, ' '))
			if zoned {
				dst = zone(dst)
			}
		}
	case "Postgres":
		if dateOnly {
			dst = dm(dst, '-')
			dst = append(dst, '-')
			dst = appendPadded(dst, year, 4)
			break
		}
		dst = append(dst, dayAbbr[tm.wday]...)
		dst = append(dst, ' ')
		if st.dmy {
			dst = appendPadded(dst, int64(tm.mday), 2)
			dst = append(dst, ' ')
			dst = append(dst, monthAbbr[tm.mon-1]...)
		} else {
			dst = append(dst, monthAbbr[tm.mon-1]...)
			dst = append(dst, ' ')
			dst = appendPadded(dst, int64(tm.mday), 2)
		}
		dst = clock(append(dst, ' '))
		dst = append(dst, ' ')
		dst = appendPadded(dst, year, 4)
		if zoned {
			dst = zone(dst)
		}
	default:
		dst = appendPadded(dst, year, 4)
		dst = append(dst, '-')
		dst = appendPadded(dst, int64(tm.mon), 2)
		dst = append(dst, '-')
		dst = appendPadded(dst, int64(tm.mday), 2)
		if !dateOnly {
			dst = clock(append(dst, ' '))
			if zoned {
				dst = offset(dst)
			}
		}
	}
	if bc {
		dst = append(dst, " BC"...)
	}
	return dst
}

// appendSeconds is AppendSeconds: |sec| with its fraction, trailing
// zeros removed; two digits when fill.
func appendSeconds(dst []byte, sec, fsec int64, fill bool) []byte {
	if sec < 0 {
		sec = -sec
	}
	if fsec < 0 {
		fsec = -fsec
	}
	if fill {
		dst = appendPadded(dst, sec, 2)
	} else {
		dst = strconv.AppendInt(dst, sec, 10)
	}
	if fsec != 0 {
		dst = append(dst, appendMicros(nil, fsec)[1:]...) // ".ddd" of "0.ddd"
	}
	return dst
}

// appendIntervalStyle is EncodeInterval in IntervalStyle style.
func appendIntervalStyle(dst []byte, v value, style string) []byte {
	year, mon, mday := int64(v.m/12), int64(v.m%12), int64(v.d)
	t := v.n
	hour := t / 3600_000_000
	t -= hour * 3600_000_000
	min := t / 60_000_000
	t -= min * 60_000_000
	sec := t / 1_000_000
	fsec := t - sec*1_000_000
	switch style {
	case "iso_8601":
		if year == 0 && mon == 0 && mday == 0 && hour == 0 && min == 0 && sec == 0 && fsec == 0 {
			return append(dst, "PT0S"...)
		}
		dst = append(dst, 'P')
		part := func(n int64, c byte) {
			if n != 0 {
				dst = strconv.AppendInt(dst, n, 10)
				dst = append(dst, c)
			}
		}
		part(year, 'Y')
		part(mon, 'M')
		part(mday, 'D')
		if hour != 0 || min != 0 || sec != 0 || fsec != 0 {
			dst = append(dst, 'T')
		}
		part(hour, 'H')
		part(min, 'M')
		if sec != 0 || fsec != 0 {
			if sec < 0 || fsec < 0 {
				dst = append(dst, '-')
			}
			dst = appendSeconds(dst, sec, fsec, false)
			dst = append(dst, 'S')
		}
		return dst
	case "sql_standard":
		neg := year < 0 || mon < 0 || mday < 0 || hour < 0 || min < 0 || sec < 0 || fsec < 0
		pos := year > 0 || mon > 0 || mday > 0 || hour > 0 || min > 0 || sec > 0 || fsec > 0
		ym := year != 0 || mon != 0
		dt := mday != 0 || hour != 0 || min != 0 || sec != 0 || fsec != 0
		standard := !(neg && pos) && !(ym && dt)
		if neg && standard {
			dst = append(dst, '-')
			year, mon, mday, hour, min, sec, fsec = -year, -mon, -mday, -hour, -min, -sec, -fsec
		}
		abs := func(n int64) int64 {
			if n < 0 {
				return -n
			}
			return n
		}
		switch {
		case !neg && !pos:
			return append(dst, '0')
		case !standard:
			sign := func(b bool) byte {
				if b {
					return '-'
				}
				return '+'
			}
			dst = append(dst, sign(year < 0 || mon < 0))
			dst = strconv.AppendInt(dst, abs(year), 10)
			dst = append(dst, '-')
			dst = strconv.AppendInt(dst, abs(mon), 10)
			dst = append(dst, ' ', sign(mday < 0))
			dst = strconv.AppendInt(dst, abs(mday), 10)
			dst = append(dst, ' ', sign(hour < 0 || min < 0 || sec < 0 || fsec < 0))
			dst = strconv.AppendInt(dst, abs(hour), 10)
			dst = append(dst, ':')
			dst = appendPadded(dst, abs(min), 2)
			dst = append(dst, ':')
			return appendSeconds(dst, sec, fsec, true)
		case ym:
			dst = strconv.AppendInt(dst, year, 10)
			dst = append(dst, '-')
			return strconv.AppendInt(dst, mon, 10)
		case mday != 0:
			dst = strconv.AppendInt(dst, mday, 10)
			dst = append(dst, ' ')
		}
		dst = strconv.AppendInt(dst, hour, 10)
		dst = append(dst, ':')
		dst = appendPadded(dst, min, 2)
		dst = append(dst, ':')
		return appendSeconds(dst, sec, fsec, true)
	case "postgres_verbose":
		dst = append(dst, '@')
		zero, before := true, false
		part := func(n int64, unit string) {
			if n == 0 {
				return
			}
			if zero {
				before = n < 0
				if n < 0 {
					n = -n
				}
			} else if before {
				n = -n
			}
			dst = append(dst, ' ')
			dst = strconv.AppendInt(dst, n, 10)
			dst = append(dst, ' ')
			dst = append(dst, unit...)
			if n != 1 {
				dst = append(dst, 's')
			}
			zero = false
		}
		part(year, "year")
		part(mon, "mon")
		part(mday, "day")
		part(hour, "hour")
		part(min, "min")
		if sec != 0 || fsec != 0 {
			dst = append(dst, ' ')
			if sec < 0 || sec == 0 && fsec < 0 {
				if zero {
					before = true
				} else if !before {
					dst = append(dst, '-')
				}
			} else if before {
				dst = append(dst, '-')
			}
			dst = appendSeconds(dst, sec, fsec, false)
			dst = append(dst, " sec"...)
			if (sec != 1 && sec != -1) || fsec != 0 {
				dst = append(dst, 's')
			}
			zero = false
		}
		if zero {
			dst = append(dst, " 0"...)
		}
		if before {
			dst = append(dst, " ago"...)
		}
		return dst
	}
	return appendInterval(dst, v)
}

// appendStyled is the text output of a timestamptz or interval in the
// session's styles.
func appendStyled(dst []byte, t typ, v *value, x *evalCtx, st outStyle) []byte {
	if t == tFloat8 {
		return appendFloatStyle(dst, v.f, st.floatDigits)
	}
	if t == tInterval {
		return appendIntervalStyle(dst, *v, st.interval)
	}
	if st.date == "ISO" {
		return appendTimestamptz(dst, v.n, x.loc)
	}
	return appendDateTime(dst, fieldsOf(v.n, x.loc), st, true, false)
}

// appendExtText is the text output of a value of pgt held as t.
func appendExtText(dst []byte, pgt uint32, t typ, v value, x *evalCtx) []byte {
	st := styleOf(x)
	switch pgt {
	case oidDate:
		return appendDateTime(dst, fieldsOf(v.n, nil), st, false, true)
	case oidTimestamp:
		return appendDateTime(dst, fieldsOf(v.n, nil), st, false, false)
	case oidTime:
		return appendClock(dst, v.n/3600_000_000, v.n/60_000_000%60, v.n/1_000_000%60, v.n%1_000_000)
	case oidTimestamptz:
		return appendStyled(dst, tTimestamptz, &v, x, st)
	case jsonOID, jsonbOID, 25:
		return append(dst, v.s...)
	}
	if t == tTimestamptz || t == tInterval {
		return appendStyled(dst, t, &v, x, st)
	}
	return append(dst, textOf(t, v, x.loc)...)
}

// extWire reports whether values of the type oid are this file's or
// json.go's.
func extWire(oid uint32) bool {
	switch oid {
	case oidDate, oidTime, oidTimestamp, jsonOID, jsonbOID:
		return true
	}
	return false
}

// appendExtWire is appendSpecial for extWire types.
func appendExtWire(dst []byte, oid uint32, v *value, x *evalCtx, format int16) []byte {
	if format == 0 {
		return appendExtText(dst, oid, 0, *v, x)
	}
	switch oid {
	case oidDate:
		days := (v.n - pgEpochUnixMicro) / usPerDay
		return binary.BigEndian.AppendUint32(dst, uint32(int32(days)))
	case oidTime:
		return binary.BigEndian.AppendUint64(dst, uint64(v.n))
	case oidTimestamp:
		return binary.BigEndian.AppendUint64(dst, uint64(v.n-pgEpochUnixMicro))
	case jsonbOID:
		dst = append(dst, 1)
	}
	return append(dst, v.s...)
}

// extValue is a Result cell of an extWire type: its text and binary forms.
type extValue struct {
	text, bin string
}

func boxExt(oid uint32, v value, x *evalCtx) any {
	return extValue{text: string(appendExtWire(nil, oid, &v, x, 0)), bin: string(appendExtWire(nil, oid, &v, x, 1))}
}

// toChar is to_char(v, format) for a timestamptz, timestamp, interval
// or number.
func toChar(x *evalCtx, t typ, pgt uint32, v value, format string) string {
	if t.numeric() {
		return numberToChar(t, v, format)
	}
	var tm tmOf
	interval := t == tInterval
	switch {
	case interval:
		tm.year, tm.mon, tm.mday = int(v.m/12), int(v.m%12), int(v.d)
		us := v.n
		tm.hour = int(us / 3600_000_000)
		tm.min = int(us / 60_000_000 % 60)
		tm.sec = int(us / 1_000_000 % 60)
		tm.usec = int(us % 1_000_000)
	case pgt == oidTimestamp:
		tm = fieldsOf(v.n, nil)
	default:
		tm = fieldsOf(v.n, x.loc)
	}
	var b strings.Builder
	fm := false
	pad := func(n int64, width int) {
		s := strconv.FormatInt(n, 10)
		neg := n < 0
		if neg {
			s = s[1:]
		}
		if !fm {
			for len(s) < width {
				s = "0" + s
			}
		}
		if neg {
			s = "-" + s
		}
		b.WriteString(s)
	}
	word := func(s string, upper, lower bool, width int) {
		switch {
		case upper:
			s = strings.ToUpper(s)
		case lower:
			s = strings.ToLower(s)
		}
		b.WriteString(s)
		if !fm {
			for i := len(s); i < width; i++ {
				b.WriteByte(' ')
			}
		}
	}
	hour12 := tm.hour % 12
	if hour12 == 0 {
		hour12 = 12
	}
	for i := 0; i < len(format); {
		rest := format[i:]
		has := func(p string) bool { return strings.HasPrefix(rest, p) }
		switch {
		case has("FM"):
			fm = true
			i += 2
			continue
		case has("HH24"):
			pad(int64(tm.hour), 2)
			i += 4
		case has("HH12"):
			pad(int64(hour12), 2)
			i += 4
		case has("HH"):
			pad(int64(hour12), 2)
			i += 2
		case has("MI"):
			pad(int64(tm.min), 2)
			i += 2
		case has("SSSSS"), has("SSSS"):
			pad(int64(tm.hour*3600+tm.min*60+tm.sec), 0)
			if has("SSSSS") {
				i += 5
			} else {
				i += 4
			}
		case has("SS"):
			pad(int64(tm.sec), 2)
			i += 2
		case has("MS"):
			pad(int64(tm.usec/1000), 3)
			i += 2
		case has("US"):
			pad(int64(tm.usec), 6)
			i += 2
		case has("AM"), has("PM"), has("am"), has("pm"), has("A.M."), has("P.M."), has("a.m."), has("p.m."):
			s := "AM"
			if tm.hour >= 12 {
				s = "PM"
			}
			n := 2
			if rest[1] == '.' {
				s, n = s[:1]+"."+s[1:]+".", 4
			}
			if rest[0] >= 'a' {
				s = strings.ToLower(s)
			}
			b.WriteString(s)
			i += n
		case has("YYYY"), has("yyyy"):
			pad(int64(tm.year), 4)
			i += 4
		case has("YYY"), has("yyy"):
			pad(int64(tm.year%1000), 3)
			i += 3
		case has("YY"), has("yy"):
			pad(int64(tm.year%100), 2)
			i += 2
		case has("Y"), has("y"):
			pad(int64(tm.year%10), 1)
			i++
		case has("MONTH"), has("Month"), has("month"):
			if tm.mon >= 1 {
				word(monthName[tm.mon-1], rest[1] == 'O', rest[0] == 'm', 9)
			}
			i += 5
		case has("MON"), has("Mon"), has("mon"):
			if tm.mon >= 1 {
				word(monthAbbr[tm.mon-1], rest[1] == 'O', rest[0] == 'm', 3)
			}
			i += 3
		case has("MM"), has("mm"):
			pad(int64(tm.mon), 2)
			i += 2
		case has("DAY"), has("Day"), has("day"):
			word(dayName[tm.wday], rest[1] == 'A', rest[0] == 'd', 9)
			i += 3
		case has("DY"), has("Dy"), has("dy"):
			word(dayAbbr[tm.wday], rest[1] == 'Y', rest[0] == 'd', 3)
			i += 2
		case has("DDD"), has("ddd"):
			pad(int64(tm.yday), 3)
			i += 3
		case has("DD"), has("dd"):
			pad(int64(tm.mday), 2)
			i += 2
		case has("D"), has("d"):
			pad(int64(tm.wday+1), 1)
			i++
		case has("IW"), has("iw"):
			_, w := isoWeek(tm)
			pad(int64(w), 2)
			i += 2
		case has("Q"), has("q"):
			pad(int64((tm.mon-1)/3+1), 1)
			i++
		case has("TZ"), has("tz"):
			if !interval {
				s := tm.abbr
				if rest[0] == 't' {
					s = strings.ToLower(s)
				}
				b.WriteString(s)
			}
			i += 2
		case has("OF"):
			if !interval {
				b.Write(appendOffset(nil, tm.off, false))
			}
			i += 2
		case has("J"):
			pad(tm.days+2440588, 0)
			i++
		case rest[0] == '"':
			j := 1
			for j < len(rest) && rest[j] != '"' {
				if rest[j] == '\\' && j+1 < len(rest) {
					j++
				}
				b.WriteByte(rest[j])
				j++
			}
			i += j + 1
		case rest[0] == '\\' && len(rest) > 1:
			b.WriteByte(rest[1])
			i += 2
		default:
			b.WriteByte(rest[0])
			i++
		}
		fm = false
	}
	return b.String()
}

// numberToChar is to_char for numbers with the patterns 9, 0, '.', D,
// ',', G, FM, S, MI, PL.
func numberToChar(t typ, v value, format string) string {
	fm := strings.HasPrefix(format, "FM")
	f := strings.TrimPrefix(format, "FM")
	intDigits, fracDigits, point := 0, 0, false
	zeroFrom := -1 // position of the first 0 in the integer part
	keepFrac := 0  // fraction digits up to the last 0, which FM keeps
	for _, c := range f {
		switch c {
		case '9', '0':
			if point {
				fracDigits++
				if c == '0' {
					keepFrac = fracDigits
				}
			} else {
				if c == '0' && zeroFrom < 0 {
					zeroFrom = intDigits
				}
				intDigits++
			}
		case '.', 'D':
			point = true
		}
	}
	var num string
	switch t {
	case tNumeric:
		num = v.s
	default:
		num = strconv.FormatInt(v.n, 10)
	}
	r := numericRound(num, fracDigits, false).s
	if t == tFloat8 {
		r = strconv.FormatFloat(v.f, 'f', fracDigits, 64) // printf's %.*f, ties to even
	}
	neg := strings.HasPrefix(r, "-")
	r = strings.TrimPrefix(r, "-")
	ip, fp, _ := strings.Cut(r, ".")
	if ip == "0" && zeroFrom < 0 {
		ip = ""
	}
	for len(fp) < fracDigits {
		fp += "0"
	}
	if len(ip) > intDigits {
		ip = strings.Repeat("#", intDigits)
		fp = strings.Repeat("#", fracDigits)
	}
	// integer digits, right-aligned in the pattern's positions
	var b strings.Builder
	sign := " "
	if neg {
		sign = "-"
	}
	digits := make([]byte, intDigits)
	for i := range digits {
		digits[i] = ' '
	}
	for i := 0; i < len(ip); i++ {
		digits[intDigits-len(ip)+i] = ip[i]
	}
	if zeroFrom >= 0 {
		for i := zeroFrom; i < intDigits; i++ {
			if digits[i] == ' ' {
				digits[i] = '0'
			}
		}
	}
	di, fi := 0, 0
	point = false
	signDone := false
	for _, c := range f {
		switch c {
		case '9', '0':
			if point {
				b.WriteByte(fp[fi])
				fi++
				continue
			}
			if !signDone && (digits[di] != ' ' || di == intDigits-1) {
				b.WriteString(sign)
				signDone = true
			}
			if digits[di] == ' ' && (di < intDigits-1 || fracDigits > 0 || ip != "") {
				b.WriteByte(' ')
			} else if digits[di] == ' ' {
				b.WriteByte('0')
			} else {
				b.WriteByte(digits[di])
			}
			di++
		case '.', 'D':
			if !signDone {
				b.WriteString(sign)
				signDone = true
			}
			b.WriteByte('.')
			point = true
		case ',', 'G':
			if di > 0 && digits[di-1] != ' ' {
				b.WriteByte(',')
			} else {
				b.WriteByte(' ')
			}
		default:
			b.WriteRune(c)
		}
	}
	out := b.String()
	if fm {
		out = strings.TrimLeft(out, " ")
		for n := fracDigits - keepFrac; n > 0 && strings.HasSuffix(out, "0"); n-- {
			out = out[:len(out)-1]
		}
	}
	return out
}
