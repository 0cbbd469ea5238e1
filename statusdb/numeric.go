package statusdb

import (
	"encoding/binary"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// PostgreSQL's numeric, exact. A numeric value is held as its text output
// in value.s ("5433.0000000000000000", "-0.05", "NaN", "Infinity"), which
// carries the display scale (dscale) PostgreSQL keeps with every value;
// arithmetic works on math/big integers scaled by 10^dscale and follows
// numeric.c's rules for the result's scale. Numbers are rare in status
// queries next to text and floats, so the parse on every operation costs
// nothing that matters, and a value needs no pointer.

// The special values, as numeric_out prints them.
const (
	numNaN    = "NaN"
	numPosInf = "Infinity"
	numNegInf = "-Infinity"
)

func numSpecial(s string) bool { return s == numNaN || s == numPosInf || s == numNegInf }

// decParse splits our own text form of a finite numeric into an integer
// and a scale: the value is u × 10^-scale.
func decParse(s string) (u *big.Int, scale int) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	if i := strings.IndexByte(s, '.'); i >= 0 {
		scale = len(s) - i - 1
		s = s[:i] + s[i+1:]
	}
	u = new(big.Int)
	u.SetString(s, 10)
	if neg {
		u.Neg(u)
	}
	return u, scale
}

// decValue formats u × 10^-scale as numeric_out does, with scale digits
// after the point.
func decValue(u *big.Int, scale int) value {
	s := new(big.Int).Abs(u).String()
	if scale > 0 {
		if len(s) <= scale {
			s = strings.Repeat("0", scale-len(s)+1) + s
		}
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	}
	if u.Sign() < 0 {
		s = "-" + s
	}
	return value{s: s}
}

var bigTen = big.NewInt(10)

func pow10(n int) *big.Int { return new(big.Int).Exp(bigTen, big.NewInt(int64(n)), nil) }

// rescale returns u × 10^-from as an integer scaled by 10^to, to >= from.
func rescale(u *big.Int, from, to int) *big.Int {
	if to == from {
		return u
	}
	return new(big.Int).Mul(u, pow10(to-from))
}

// numericIn parses text as numeric_in does: blanks around, a sign,
// digits with a point, an exponent; NaN and Infinity in any case. The
// scale is the digits after the point less the exponent, at least 0.
func numericIn(in string) (value, *Error) {
	bad := func() (value, *Error) {
		return value{}, errorf(codeInvalidText, "invalid input syntax for type numeric: %q", in)
	}
	s := strings.Trim(in, " \t\n\r\v\f")
	switch strings.ToLower(s) {
	case "nan":
		return value{s: numNaN}, nil
	case "infinity", "+infinity", "inf", "+inf":
		return value{s: numPosInf}, nil
	case "-infinity", "-inf":
		return value{s: numNegInf}, nil
	}
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var digits []byte
	frac, seenPoint, i := 0, false, 0
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
			if seenPoint {
				frac++
			}
		case c == '.' && !seenPoint:
			seenPoint = true
		default:
			goto rest
		}
	}
rest:
	if len(digits) == 0 {
		return bad()
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || strings.HasPrefix(s[i+1:], "+-") {
			return bad()
		}
		if e > 1000 || e < -1000 {
			return value{}, errorf(codeOutOfRange, "value overflows numeric format")
		}
		exp, i = e, len(s)
	}
	if i != len(s) {
		return bad()
	}
	u := new(big.Int)
	u.SetString(string(digits), 10)
	if neg {
		u.Neg(u)
	}
	scale := frac - exp
	if scale < 0 {
		return decValue(rescale(u, 0, -scale), 0), nil
	}
	return decValue(u, scale), nil
}

// numericFromInt is int4/int8 → numeric.
func numericFromInt(n int64) value { return value{s: strconv.FormatInt(n, 10)} }

// numericFromFloat is float8 → numeric: the float printed with 15
// significant digits (DBL_DIG), then read as numeric.
func numericFromFloat(f float64) value {
	switch {
	case math.IsNaN(f):
		return value{s: numNaN}
	case math.IsInf(f, 1):
		return value{s: numPosInf}
	case math.IsInf(f, -1):
		return value{s: numNegInf}
	}
	v, _ := numericIn(strconv.FormatFloat(f, 'g', 15, 64))
	return v
}

// numericToFloat is numeric → float8.
func numericToFloat(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && math.IsInf(f, 0) {
		fail(codeOutOfRange, strconv.Quote(s)+" is out of range for type double precision")
	}
	return f
}

// numericToInt is numeric → int4/int8: rounded half away from zero.
func numericToInt(t typ, s string) int64 {
	switch s {
	case numNaN:
		fail(codeFeature, "cannot convert NaN to "+t.String())
	case numPosInf, numNegInf:
		fail(codeFeature, "cannot convert infinity to "+t.String())
	}
	u, scale := decParse(s)
	u, _ = decRound(u, scale, 0, false)
	if !u.IsInt64() {
		outOfRange(t)
	}
	return checkInt(t, u.Int64())
}

// numClass orders the special values: -Infinity < finite < Infinity < NaN.
func numClass(s string) int {
	switch s {
	case numNegInf:
		return -1
	case numPosInf:
		return 1
	case numNaN:
		return 2
	}
	return 0
}

// compareNumeric orders two numerics as numeric_cmp does.
func compareNumeric(a, b string) int {
	if a == b {
		return 0
	}
	ca, cb := numClass(a), numClass(b)
	if ca != 0 || cb != 0 {
		return max(-1, min(1, ca-cb))
	}
	ua, sa := decParse(a)
	ub, sb := decParse(b)
	s := max(sa, sb)
	return rescale(ua, sa, s).Cmp(rescale(ub, sb, s))
}

// numericKey is the form of a numeric that is equal for equal values
// (1.50 and 1.5), for grouping and hashing.
func numericKey(s string) string {
	if numSpecial(s) || !strings.Contains(s, ".") {
		return s
	}
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}

// decRound rounds u × 10^-scale to places decimals (negative: to tens,
// hundreds, ...), half away from zero or, with trunc, toward zero; the
// result's scale is max(places, 0), as round(numeric, int) gives.
func decRound(u *big.Int, scale, places int, trunc bool) (*big.Int, int) {
	if places >= scale {
		return rescale(u, scale, places), places
	}
	div := pow10(scale - places)
	q, r := new(big.Int).QuoRem(u, div, new(big.Int))
	if !trunc && new(big.Int).Lsh(new(big.Int).Abs(r), 1).Cmp(div) >= 0 {
		q.Add(q, big.NewInt(int64(u.Sign())))
	}
	if places < 0 {
		return q.Mul(q, pow10(-places)), 0
	}
	return q, places
}

// nbaseLead returns the weight and value of the leading base-10000 digit
// of u × 10^-scale, as numeric.c stores numbers; 0, 0 for zero.
func nbaseLead(u *big.Int, scale int) (weight, first int) {
	if u.Sign() == 0 {
		return 0, 0
	}
	d := new(big.Int).Abs(u).String()
	e10 := len(d) - scale - 1 // the place of the leading digit
	weight = e10 / 4
	if e10 < 0 && e10%4 != 0 {
		weight--
	}
	n := e10 - 4*weight + 1
	for len(d) < n {
		d += "0"
	}
	first, _ = strconv.Atoi(d[:n])
	return weight, first
}

// divScale is numeric.c's select_div_scale: the quotient gets at least 16
// significant digits and no fewer decimals than either input.
func divScale(u1 *big.Int, s1 int, u2 *big.Int, s2 int) int {
	w1, f1 := nbaseLead(u1, s1)
	w2, f2 := nbaseLead(u2, s2)
	qweight := w1 - w2
	if f1 <= f2 {
		qweight--
	}
	return min(max(16-qweight*4, s1, s2, 0), 1000)
}

// numericArith computes a op b for finite or special numerics in text form.
func numericArith(op, a, b string) value {
	if a == numNaN || b == numNaN {
		return value{s: numNaN}
	}
	if numSpecial(a) || numSpecial(b) {
		fail(codeFeature, "arithmetic on numeric infinity is not supported")
	}
	u1, s1 := decParse(a)
	u2, s2 := decParse(b)
	switch op {
	case "+", "-":
		s := max(s1, s2)
		x, y := rescale(u1, s1, s), rescale(u2, s2, s)
		if op == "+" {
			return decValue(new(big.Int).Add(x, y), s)
		}
		return decValue(new(big.Int).Sub(x, y), s)
	case "*":
		return decValue(new(big.Int).Mul(u1, u2), s1+s2)
	case "/":
		if u2.Sign() == 0 {
			fail(codeDivisionByZero, "division by zero")
		}
		return decDiv(u1, s1, u2, s2)
	default: // %
		if u2.Sign() == 0 {
			fail(codeDivisionByZero, "division by zero")
		}
		s := max(s1, s2)
		return decValue(new(big.Int).Rem(rescale(u1, s1, s), rescale(u2, s2, s)), s)
	}
}

// decDiv divides with numeric_div's result scale, rounding the last digit
// half away from zero.
func decDiv(u1 *big.Int, s1 int, u2 *big.Int, s2 int) value {
	rs := divScale(u1, s1, u2, s2)
	// u1/10^s1 / (u2/10^s2) × 10^rs = u1 × 10^(s2+rs) / (u2 × 10^s1)
	num := new(big.Int).Mul(u1, pow10(s2+rs))
	den := new(big.Int).Mul(u2, pow10(s1))
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	if new(big.Int).Lsh(new(big.Int).Abs(r), 1).Cmp(new(big.Int).Abs(den)) >= 0 {
		q.Add(q, big.NewInt(int64(num.Sign()*den.Sign())))
	}
	return decValue(q, rs)
}

// numericNeg and numericAbs keep the scale.
func numericNeg(s string) value {
	switch {
	case s == numNaN:
		return value{s: s}
	case s == numPosInf:
		return value{s: numNegInf}
	case s == numNegInf:
		return value{s: numPosInf}
	case strings.HasPrefix(s, "-"):
		return value{s: s[1:]}
	case strings.Trim(s, "0.") == "":
		return value{s: s} // numeric has no negative zero
	}
	return value{s: "-" + s}
}

func numericAbs(s string) value {
	if s == numNegInf {
		return value{s: numPosInf}
	}
	return value{s: strings.TrimPrefix(s, "-")}
}

// numericRound is round(numeric, places) and trunc(numeric, places).
func numericRound(s string, places int, trunc bool) value {
	if numSpecial(s) {
		return value{s: s}
	}
	places = max(min(places, 2000), -2000)
	u, scale := decParse(s)
	return decValue(decRound(u, scale, places, trunc))
}

// numericCeilFloor is ceil(numeric) (up) and floor(numeric).
func numericCeilFloor(s string, up bool) value {
	if numSpecial(s) {
		return value{s: s}
	}
	u, scale := decParse(s)
	q, r := new(big.Int).QuoRem(u, pow10(scale), new(big.Int))
	switch {
	case up && r.Sign() > 0:
		q.Add(q, big.NewInt(1))
	case !up && r.Sign() < 0:
		q.Sub(q, big.NewInt(1))
	}
	return decValue(q, 0)
}

// numericTypmod applies numeric(prec, scale): rounds to scale decimals
// and checks that the integer part fits in prec - scale digits.
func numericTypmod(s string, prec, scale int) value {
	detail := "A field with precision " + strconv.Itoa(prec) + ", scale " + strconv.Itoa(scale)
	switch s {
	case numNaN:
		return value{s: s}
	case numPosInf, numNegInf:
		failErr(&Error{Code: codeOutOfRange, Message: "numeric field overflow", Detail: detail + " cannot hold an infinite value."})
	}
	u, sc := decParse(s)
	v := decValue(decRound(u, sc, scale, false))
	intPart := strings.TrimLeft(strings.TrimPrefix(v.s, "-"), "0")
	if i := strings.IndexByte(intPart, '.'); i >= 0 {
		intPart = intPart[:i]
	}
	if digits := prec - scale; len(intPart) > digits {
		limit := "1"
		if digits > 0 {
			limit = "10^" + strconv.Itoa(digits)
		}
		failErr(&Error{Code: codeOutOfRange, Message: "numeric field overflow", Detail: detail + " must round to an absolute value less than " + limit + "."})
	}
	return v
}

// Signs of numeric's binary form.
const (
	numSignPos    = 0x0000
	numSignNeg    = 0x4000
	numSignNaN    = 0xC000
	numSignPosInf = 0xD000
	numSignNegInf = 0xF000
)

// appendNumericBinary appends numeric_send's form: ndigits, weight,
// sign, dscale (int16 each), then the base-10000 digits without leading
// or trailing zero digits.
func appendNumericBinary(dst []byte, s string) []byte {
	head := func(ndigits, weight, sign, dscale int) []byte {
		dst = binary.BigEndian.AppendUint16(dst, uint16(ndigits))
		dst = binary.BigEndian.AppendUint16(dst, uint16(int16(weight)))
		dst = binary.BigEndian.AppendUint16(dst, uint16(sign))
		return binary.BigEndian.AppendUint16(dst, uint16(dscale))
	}
	switch s {
	case numNaN:
		return head(0, 0, numSignNaN, 0)
	case numPosInf:
		return head(0, 0, numSignPosInf, 0)
	case numNegInf:
		return head(0, 0, numSignNegInf, 0)
	}
	sign := numSignPos
	if strings.HasPrefix(s, "-") {
		sign, s = numSignNeg, s[1:]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	dscale := len(frac)
	intPart = strings.TrimLeft(intPart, "0")
	intPart = strings.Repeat("0", (4-len(intPart)%4)%4) + intPart
	frac += strings.Repeat("0", (4-len(frac)%4)%4)
	var groups []int
	for i := 0; i < len(intPart); i += 4 {
		g, _ := strconv.Atoi(intPart[i : i+4])
		groups = append(groups, g)
	}
	weight := len(groups) - 1
	for i := 0; i < len(frac); i += 4 {
		g, _ := strconv.Atoi(frac[i : i+4])
		groups = append(groups, g)
	}
	for len(groups) > 0 && groups[0] == 0 {
		groups, weight = groups[1:], weight-1
	}
	for len(groups) > 0 && groups[len(groups)-1] == 0 {
		groups = groups[:len(groups)-1]
	}
	if len(groups) == 0 {
		return head(0, 0, numSignPos, dscale)
	}
	dst = head(len(groups), weight, sign, dscale)
	for _, g := range groups {
		dst = binary.BigEndian.AppendUint16(dst, uint16(g))
	}
	return dst
}

// numericRecvValue decodes numeric_recv's input into our form.
func numericRecvValue(b []byte) (value, bool) {
	if len(b) < 8 {
		return value{}, false
	}
	ndigits := int(binary.BigEndian.Uint16(b))
	weight := int(int16(binary.BigEndian.Uint16(b[2:])))
	sign := int(binary.BigEndian.Uint16(b[4:]))
	dscale := int(binary.BigEndian.Uint16(b[6:]))
	if len(b) != 8+2*ndigits || dscale > 0x3fff {
		return value{}, false
	}
	switch sign {
	case numSignNaN:
		return value{s: numNaN}, true
	case numSignPosInf:
		return value{s: numPosInf}, true
	case numSignNegInf:
		return value{s: numNegInf}, true
	case numSignPos, numSignNeg:
	default:
		return value{}, false
	}
	u := new(big.Int)
	for i := range ndigits {
		d := binary.BigEndian.Uint16(b[8+2*i:])
		if d >= 10000 {
			return value{}, false
		}
		u.Mul(u, big.NewInt(10000)).Add(u, big.NewInt(int64(d)))
	}
	if sign == numSignNeg {
		u.Neg(u)
	}
	// u is the value × 10^(4 × (ndigits - 1 - weight)).
	scale := 4 * (ndigits - 1 - weight)
	if scale < 0 {
		u, scale = rescale(u, 0, -scale), 0
	}
	u, scale = decRound(u, scale, dscale, false)
	return decValue(u, scale), true
}
