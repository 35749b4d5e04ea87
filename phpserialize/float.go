package phpserialize

import (
	"math"
	"strconv"
)

// AppendFloat appends f as PHP 8 writes it in serialize() with the default
// serialize_precision=-1: the shortest digits that read back as f, laid out
// by zend_gcvt: "0.1", "100", "-0", "1.0E+25", "1.0E-5", "INF", "-INF", "NAN".
func AppendFloat(dst []byte, f float64) []byte {
	if out, ok := appendShortDecimal(dst, f); ok {
		return out
	}
	return appendGcvt(dst, f, 'E')
}

// appendShortDecimal is the fast path of appendGcvt for the floats sessions
// hold (prices, ratios, coordinates): a value in [1e-4, 1e15), where PHP
// writes plain digits, that is m/10^k for an integer m below 1e15. Any
// decimal of at most 15 significant digits is the only one of that length
// that reads back as its double (DBL_DIG), so the smallest such k gives
// exactly the shortest digits that strconv would find. ok is false for
// anything else.
func appendShortDecimal(dst []byte, f float64) ([]byte, bool) {
	a := math.Abs(f)
	if !(a >= 1e-4 && a < 1e15) {
		return dst, false
	}
	for k := 0; k <= 15; k++ {
		m := a * pow10[k]
		if m >= 1e15 {
			return dst, false
		}
		if m != math.Trunc(m) {
			continue
		}
		u := uint64(m)
		if m/pow10[k] != a || (k > 0 && u%10 == 0) {
			return dst, false // not exact, or a trailing zero: leave it to strconv
		}
		if f < 0 {
			dst = append(dst, '-')
		}
		p10 := uint64(pow10[k])
		dst = strconv.AppendUint(dst, u/p10, 10)
		if k > 0 {
			dst = append(dst, '.')
			frac := u % p10
			for z := p10 / 10; z > frac && z > 1; z /= 10 {
				dst = append(dst, '0')
			}
			dst = strconv.AppendUint(dst, frac, 10)
		}
		return dst, true
	}
	return dst, false
}

// appendGcvt is zend_gcvt(value, 17, '.', expChar) in mode 0 (precision -1).
// json_encode uses the same layout with 'e'.
func appendGcvt(dst []byte, f float64, expChar byte) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NAN"...)
	case math.IsInf(f, 1):
		return append(dst, "INF"...)
	case math.IsInf(f, -1):
		return append(dst, "-INF"...)
	}
	var buf [32]byte
	// Shortest round-trip digits: "d.ddddde±XX" (or "de±XX").
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	neg := false
	if e[0] == '-' {
		neg = true
		e = e[1:]
	}
	// Split mantissa digits and exponent.
	var digits [20]byte
	nd := 0
	i := 0
	for ; i < len(e) && e[i] != 'e'; i++ {
		if e[i] != '.' {
			digits[nd] = e[i]
			nd++
		}
	}
	exp := 0
	expNeg := e[i+1] == '-'
	for j := i + 2; j < len(e); j++ {
		exp = exp*10 + int(e[j]-'0')
	}
	if expNeg {
		exp = -exp
	}
	// Trim trailing zeros (zend_dtoa returns none; FormatFloat may for 0).
	for nd > 1 && digits[nd-1] == '0' {
		nd--
	}
	decpt := exp + 1 // value = 0.d1d2... x 10^decpt
	if f == 0 {
		decpt = 1
	}
	if neg {
		dst = append(dst, '-')
	}
	d := digits[:nd]
	if (decpt < 0 && decpt < -3) || (decpt >= 0 && decpt > 17) {
		x := decpt - 1
		dst = append(dst, d[0], '.')
		if nd == 1 {
			dst = append(dst, '0')
		} else {
			dst = append(dst, d[1:]...)
		}
		dst = append(dst, expChar)
		if x < 0 {
			dst = append(dst, '-')
			x = -x
		} else {
			dst = append(dst, '+')
		}
		return strconv.AppendInt(dst, int64(x), 10)
	}
	if decpt <= 0 {
		dst = append(dst, '0', '.')
		for k := decpt; k < 0; k++ {
			dst = append(dst, '0')
		}
		return append(dst, d...)
	}
	for k := 0; k < decpt; k++ {
		if k < nd {
			dst = append(dst, d[k])
		} else {
			dst = append(dst, '0')
		}
	}
	if nd > decpt {
		dst = append(dst, '.')
		dst = append(dst, d[decpt:]...)
	}
	return dst
}

// appendJSONFloat appends f as PHP's json_encode writes it with
// JSON_PRESERVE_ZERO_FRACTION: like serialize() but with 'e', and ".0" added
// when there is no '.' (1.0 stays "1.0"). f must be finite.
func appendJSONFloat(dst []byte, f float64) []byte {
	start := len(dst)
	dst = appendGcvt(dst, f, 'e')
	for _, c := range dst[start:] {
		if c == '.' {
			return dst
		}
	}
	return append(dst, '.', '0')
}
