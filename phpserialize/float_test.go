package phpserialize_test

import (
	"math"
	"strconv"
	"testing"

	"github.com/phpsess/phpsess/phpserialize"
)

// TestAppendFloat: the layouts PHP 8.2 writes with serialize_precision=-1
// (each checked with real PHP; spec 3.2).
func TestAppendFloat(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{1, "1"}, {0.1, "0.1"}, {math.Copysign(0, -1), "-0"}, {0, "0"}, {100, "100"},
		{1e15, "1000000000000000"}, {1e16, "10000000000000000"}, {1e17, "1.0E+17"},
		{1.23e20, "1.23E+20"}, {1e25, "1.0E+25"}, {0.0001, "0.0001"}, {0.00001, "1.0E-5"},
		{1.5e-7, "1.5E-7"}, {1.0 / 3, "0.3333333333333333"}, {math.MaxFloat64, "1.7976931348623157E+308"},
		{5e-324, "5.0E-324"}, {123456789012345678.0, "1.2345678901234568E+17"}, {2.5, "2.5"},
		{-1.5e300, "-1.5E+300"}, {math.Inf(1), "INF"}, {math.Inf(-1), "-INF"}, {math.NaN(), "NAN"},
		{0.5, "0.5"}, {0.001, "0.001"}, {-0.001, "-0.001"}, {123.456, "123.456"}, {1e100, "1.0E+100"},
		{2.2250738585072014e-308, "2.2250738585072014E-308"},
	} {
		got := string(phpserialize.AppendFloat(nil, tc.f))
		if got != tc.want {
			t.Errorf("AppendFloat(%v) = %s, want %s", tc.f, got, tc.want)
		}
	}
}

// TestFloatRoundTrip: every float's text reads back as the same bits.
func TestFloatRoundTrip(t *testing.T) {
	for _, f := range []float64{0.1, 1e-320, 1e308, 3.141592653589793, 1 << 62, -7.25e-11, 9007199254740993} {
		s := string(phpserialize.AppendFloat(nil, f))
		g, err := strconv.ParseFloat(s, 64)
		if err != nil || g != f {
			t.Errorf("%v -> %s -> %v (%v)", f, s, g, err)
		}
	}
}
