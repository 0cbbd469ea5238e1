package statusdb

import (
	"math"
	"math/big"
)

// Math functions, with PostgreSQL's signatures: an integer argument of a
// function that has float8 and numeric forms (sqrt(2), power(2, 10))
// takes float8's, the preferred type, and a numeric one numeric's. The
// numeric forms of power, exp, ln and log are refused (0A000)
// rather than computed in float8: their results' scales are PostgreSQL's
// own and a float8 would show.

var (
	f8   = []typ{tFloat8}
	f8x2 = []typ{tFloat8, tFloat8}
	num  = []typ{tNumeric}
	num2 = []typ{tNumeric, tNumeric}
)

// floatFn makes a strict float8 function of float8 arguments.
func floatFn(f func(v []value) float64) func(*expr) func(*evalCtx, []value) value {
	return textFn(func(v []value) value { return value{f: f(v)} })
}

// unary makes a float8 function of one float8 that raises PostgreSQL's
// overflow and underflow errors where f leaves the finite range on its
// own (not for an infinite argument).
func unary(f func(float64) float64, zeroOK bool) func(*expr) func(*evalCtx, []value) value {
	return floatFn(func(v []value) float64 {
		x := v[0].f
		return checkFloat(f(x), math.IsInf(x, 0), zeroOK || x == 0 || math.IsInf(x, 0))
	})
}

func withNumeric(floatSig []fnSig, numericArgs ...[]typ) []fnSig {
	for _, a := range numericArgs {
		floatSig = append(floatSig, fnSig{args: a, res: tNumeric}) // no impl: refused
	}
	return floatSig
}

func logFn(f func(float64) float64) func(*expr) func(*evalCtx, []value) value {
	return floatFn(func(v []value) float64 {
		x := v[0].f
		switch {
		case x == 0:
			fail("2201E", "cannot take logarithm of zero")
		case x < 0:
			fail("2201E", "cannot take logarithm of a negative number")
		}
		return f(x)
	})
}

var mathFuncs = map[string][]fnSig{
	"mod": {
		{args: []typ{tInt4, tInt4}, res: tInt4, impl: textFn(intMod)},
		{args: []typ{tInt8, tInt8}, res: tInt8, impl: textFn(intMod)},
		{args: num2, res: tNumeric, impl: textFn(numericMod)},
	},
	"power": withNumeric(sigs(tFloat8, floatFn(power), f8x2), num2),
	"pow":   withNumeric(sigs(tFloat8, floatFn(power), f8x2), num2),
	"sqrt": {
		{args: f8, res: tFloat8, impl: floatFn(func(v []value) float64 {
			if v[0].f < 0 {
				negativeSqrt()
			}
			return math.Sqrt(v[0].f)
		})},
		{args: num, res: tNumeric, impl: textFn(numericSqrt)},
	},
	"cbrt":    sigs(tFloat8, unary(cbrt, false), f8),
	"exp":     withNumeric(sigs(tFloat8, unary(math.Exp, false), f8), num),
	"ln":      withNumeric(sigs(tFloat8, logFn(math.Log), f8), num),
	"log":     withNumeric(sigs(tFloat8, logFn(math.Log10), f8), num, num2),
	"log10":   withNumeric(sigs(tFloat8, logFn(math.Log10), f8), num),
	"degrees": sigs(tFloat8, unary(func(x float64) float64 { return x * (180 / math.Pi) }, false), f8),
	"radians": sigs(tFloat8, unary(func(x float64) float64 { return x * (math.Pi / 180) }, false), f8),
	"sin":     sigs(tFloat8, trig(math.Sin, false), f8),
	"cos":     sigs(tFloat8, trig(math.Cos, false), f8),
	"tan":     sigs(tFloat8, trig(math.Tan, false), f8),
	"asin":    sigs(tFloat8, trig(math.Asin, true), f8),
	"acos":    sigs(tFloat8, trig(math.Acos, true), f8),
	"atan":    sigs(tFloat8, floatFn(func(v []value) float64 { return math.Atan(v[0].f) }), f8),
	"atan2":   sigs(tFloat8, floatFn(func(v []value) float64 { return math.Atan2(v[0].f, v[1].f) }), f8x2),
	"pi":      {{args: nil, res: tFloat8, impl: floatFn(func([]value) float64 { return math.Pi })}},
	"sign": {
		{args: f8, res: tFloat8, impl: floatFn(func(v []value) float64 {
			switch x := v[0].f; {
			case x > 0:
				return 1
			case x < 0:
				return -1
			default:
				return 0 // NaN too, as PostgreSQL's dsign
			}
		})},
		{args: num, res: tNumeric, impl: textFn(func(v []value) value {
			switch c := compareNumeric(v[0].s, "0"); {
			case v[0].s == numNaN:
				return v[0]
			case c > 0:
				return value{s: "1"}
			case c < 0:
				return value{s: "-1"}
			}
			return value{s: "0"}
		})},
	},
	"width_bucket": {
		{args: []typ{tFloat8, tFloat8, tFloat8, tInt4}, res: tInt4, impl: textFn(widthBucketFloat)},
		{args: []typ{tNumeric, tNumeric, tNumeric, tInt4}, res: tInt4, impl: textFn(widthBucketNumeric)},
	},
	"gcd": {
		{args: []typ{tInt4, tInt4}, res: tInt4, impl: gcdLcm(false)},
		{args: []typ{tInt8, tInt8}, res: tInt8, impl: gcdLcm(false)},
		{args: num2, res: tNumeric},
	},
	"lcm": {
		{args: []typ{tInt4, tInt4}, res: tInt4, impl: gcdLcm(true)},
		{args: []typ{tInt8, tInt8}, res: tInt8, impl: gcdLcm(true)},
		{args: num2, res: tNumeric},
	},
}

// trig is a trigonometric function: an infinite argument, or one outside
// [-1, 1] for asin and acos, is "input is out of range".
func trig(f func(float64) float64, unit bool) func(*expr) func(*evalCtx, []value) value {
	return floatFn(func(v []value) float64 {
		x := v[0].f
		if math.IsNaN(x) {
			return x
		}
		if math.IsInf(x, 0) || unit && (x < -1 || x > 1) {
			fail(codeOutOfRange, "input is out of range")
		}
		return f(x)
	})
}

func intMod(v []value) value {
	if v[1].n == 0 {
		fail(codeDivisionByZero, "division by zero")
	}
	if v[1].n == -1 {
		return value{n: 0}
	}
	return value{n: v[0].n % v[1].n}
}

// numericMod is mod(numeric, numeric): x - trunc(x / y) * y, at the
// larger of the two scales.
func numericMod(v []value) value {
	a, b := v[0].s, v[1].s
	switch {
	case a == numNaN || b == numNaN:
		return value{s: numNaN}
	case compareNumeric(b, "0") == 0:
		fail(codeDivisionByZero, "division by zero")
	case numSpecial(a):
		return value{s: numNaN}
	case numSpecial(b):
		return v[0]
	}
	ua, sa := decParse(a)
	ub, sb := decParse(b)
	s := max(sa, sb)
	r := new(big.Int).Rem(rescale(ua, sa, s), rescale(ub, sb, s))
	return decValue(r, s)
}

// power is float8 pow with PostgreSQL's errors.
func power(v []value) float64 {
	x, y := v[0].f, v[1].f
	switch {
	case x == 0 && y < 0:
		fail("2201F", "zero raised to a negative power is undefined")
	case x < 0 && !math.IsInf(x, 0) && !math.IsInf(y, 0) && math.Floor(y) != y && !math.IsNaN(y):
		fail("2201F", "a negative number raised to a non-integer power yields a complex result")
	}
	r := math.Pow(x, y)
	finite := !math.IsInf(x, 0) && !math.IsInf(y, 0)
	return checkFloat(r, !finite, !finite || x == 0 || math.IsNaN(r))
}

func bucketErrors(count int64, equal bool) {
	if count <= 0 {
		fail("2201G", "count must be greater than zero")
	}
	if equal {
		fail("2201G", "lower bound cannot equal upper bound")
	}
}

// widthBucketFloat is width_bucket(x, low, high, count): 0 below low,
// count+1 at or above high (the other way round when low > high).
func widthBucketFloat(v []value) value {
	x, lo, hi, n := v[0].f, v[1].f, v[2].f, v[3].n
	bucketErrors(n, lo == hi)
	switch {
	case math.IsNaN(x) || math.IsNaN(lo) || math.IsNaN(hi):
		fail("2201G", "operand, lower bound, and upper bound cannot be NaN")
	case math.IsInf(lo, 0) || math.IsInf(hi, 0):
		fail("2201G", "lower and upper bounds must be finite")
	}
	var b int64
	if lo < hi {
		switch {
		case x < lo:
			b = 0
		case x >= hi:
			b = n + 1
		default:
			b = int64(float64(n)*((x-lo)/(hi-lo))) + 1
		}
	} else {
		switch {
		case x > lo:
			b = 0
		case x <= hi:
			b = n + 1
		default:
			b = int64(float64(n)*((lo-x)/(lo-hi))) + 1
		}
	}
	return value{n: checkInt(tInt4, min(b, n+1))}
}

func widthBucketNumeric(v []value) value {
	n := v[3].n
	bucketErrors(n, compareNumeric(v[1].s, v[2].s) == 0)
	for _, s := range []string{v[0].s, v[1].s, v[2].s} {
		if s == numNaN {
			fail("2201G", "operand, lower bound, and upper bound cannot be NaN")
		}
	}
	if numSpecial(v[1].s) || numSpecial(v[2].s) {
		fail("2201G", "lower and upper bounds must be finite")
	}
	rat := func(s string) *big.Rat {
		r, _ := new(big.Rat).SetString(s)
		return r
	}
	lo, hi := rat(v[1].s), rat(v[2].s)
	asc := lo.Cmp(hi) < 0
	switch {
	case v[0].s == numNegInf:
		if asc {
			return value{n: 0}
		}
		return value{n: n + 1}
	case v[0].s == numPosInf:
		if asc {
			return value{n: n + 1}
		}
		return value{n: 0}
	}
	x := rat(v[0].s)
	if !asc {
		lo, hi, x = new(big.Rat).Neg(lo), new(big.Rat).Neg(hi), new(big.Rat).Neg(x)
	}
	switch {
	case x.Cmp(lo) < 0:
		return value{n: 0}
	case x.Cmp(hi) >= 0:
		return value{n: checkInt(tInt4, n+1)}
	}
	q := new(big.Rat).Quo(new(big.Rat).Mul(new(big.Rat).Sub(x, lo), new(big.Rat).SetInt64(n)), new(big.Rat).Sub(hi, lo))
	b := new(big.Int).Quo(q.Num(), q.Denom())
	return value{n: b.Int64() + 1}
}

// gcdLcm is gcd or lcm of two integers of the call's type.
func gcdLcm(lcm bool) func(e *expr) func(*evalCtx, []value) value {
	return func(e *expr) func(*evalCtx, []value) value {
		t := e.typ
		return func(_ *evalCtx, v []value) value {
			a, b := new(big.Int).SetInt64(v[0].n), new(big.Int).SetInt64(v[1].n)
			g := new(big.Int).GCD(nil, nil, new(big.Int).Abs(a), new(big.Int).Abs(b))
			r := g
			if lcm {
				if a.Sign() == 0 || b.Sign() == 0 {
					return value{n: 0}
				}
				r = new(big.Int).Abs(new(big.Int).Mul(new(big.Int).Quo(a, g), b))
			}
			if !r.IsInt64() {
				outOfRange(t)
			}
			return value{n: checkInt(t, r.Int64())}
		}
	}
}

// cbrt is the cube root correctly rounded, as C's cbrt gives it where
// Go's math.Cbrt can be one unit in the last place off.
func cbrt(x float64) float64 {
	r := math.Cbrt(x)
	if r == 0 || math.IsInf(r, 0) || math.IsNaN(r) {
		return r
	}
	bx := new(big.Float).SetPrec(256).SetFloat64(x)
	dist := func(c float64) *big.Float {
		bc := new(big.Float).SetPrec(256).SetFloat64(c)
		cube := new(big.Float).SetPrec(256).Mul(bc, bc)
		cube.Mul(cube, bc)
		return cube.Sub(cube, bx).Abs(cube)
	}
	best, bestDist := r, dist(r)
	for _, c := range []float64{math.Nextafter(r, math.Inf(-1)), math.Nextafter(r, math.Inf(1))} {
		if d := dist(c); d.Cmp(bestDist) < 0 {
			best, bestDist = c, d
		}
	}
	return best
}

func negativeSqrt() { fail("2201F", "cannot take square root of a negative number") }

// numericSqrt is sqrt(numeric): at least 16 significant digits and no
// fewer decimals than the argument, rounded half away from zero, as
// numeric_sqrt.
func numericSqrt(v []value) value {
	switch s := v[0].s; {
	case s == numNaN || s == numPosInf:
		return v[0]
	case s == numNegInf || compareNumeric(s, "0") < 0:
		negativeSqrt()
	}
	u, scale := decParse(v[0].s)
	weight, _ := nbaseLead(u, scale)
	rscale := min(max(16-((weight+1)*4/2-1), scale, 0), 1000)
	// floor(sqrt(x) × 10^(rscale+1)), then the last digit rounds.
	t := new(big.Int).Sqrt(rescale(u, scale, 2*(rscale+1)))
	q, r := new(big.Int).QuoRem(t, bigTen, new(big.Int))
	if r.Int64() >= 5 {
		q.Add(q, big.NewInt(1))
	}
	return decValue(q, rscale)
}
