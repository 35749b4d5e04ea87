package phpserialize

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// TestShortFloat: the fast path takes only texts that the full path would
// not keep, and reads them to the same bits.
func TestShortFloat(t *testing.T) {
	texts := []string{"0", "-0", "1", "0.5", "938.67", "-12.25", "0.1", "0.001", "0.0001", "0.00010", "1.0",
		"123456789012345", "1234567890123456", "0.123456789012345", "0.1234567890123456", "100", "010",
		"1e3", "1.5E+25", ".5", "5.", "-", "", "99999999999999.9", "0.000", "00", "-0.0", "1.10", "4.35",
		"0.30000000000000004", "9007199254740993", "1.7976931348623157E+308", "INF", "NAN"}
	r := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		var b strings.Builder
		if r.IntN(4) == 0 {
			b.WriteByte('-')
		}
		for n := r.IntN(18); n >= 0; n-- {
			b.WriteByte(byte('0' + r.IntN(10)))
		}
		if r.IntN(3) > 0 {
			b.WriteByte('.')
			for n := r.IntN(18); n >= 0; n-- {
				b.WriteByte(byte('0' + r.IntN(10)))
			}
		}
		texts = append(texts, b.String())
	}
	taken := 0
	for _, text := range texts {
		f, q, ok := shortFloat(text+";", 0)
		if !ok {
			continue
		}
		taken++
		if q != len(text)+1 {
			t.Fatalf("%q: ends at %d", text, q)
		}
		if !phpFloatText(text) || !shortFloatText(text) || !validFloatText(text) {
			t.Fatalf("%q: taken by the fast path, but the full path would keep or refuse it", text)
		}
		want, err := strconv.ParseFloat(text, 64)
		if err != nil || math.Float64bits(f) != math.Float64bits(want) {
			t.Fatalf("%q: fast path reads %v (%x), strconv %v (%x)", text, f, math.Float64bits(f), want, math.Float64bits(want))
		}
	}
	if taken < len(texts)/10 {
		t.Fatalf("the fast path took only %d of %d texts", taken, len(texts))
	}
}

// TestAppendShortDecimal: the fast path writes what the full zend_gcvt
// layout writes, on random short decimals and on random doubles.
func TestAppendShortDecimal(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var fs []float64
	for range 300000 {
		digits := r.IntN(16) + 1
		m := r.Int64N(int64(math.Pow10(digits)))
		f := float64(m) / math.Pow10(r.IntN(20))
		if r.IntN(2) == 0 {
			f = -f
		}
		fs = append(fs, f, math.Float64frombits(r.Uint64()), math.Nextafter(f, 0))
	}
	fs = append(fs, 0.0001, 1e-4, 9.999e-5, 1e15, 999999999999999, 0.1, 0.3, 938.67, 1e14+0.5, 123.0, 100, 0.5, -0.25)
	taken := 0
	for _, f := range fs {
		fast, ok := appendShortDecimal(nil, f)
		if !ok {
			continue
		}
		taken++
		if slow := appendGcvt(nil, f, 'E'); string(fast) != string(slow) {
			t.Fatalf("%v (%x): fast path %q, zend_gcvt layout %q", f, math.Float64bits(f), fast, slow)
		}
	}
	if taken < len(fs)/10 {
		t.Fatalf("the fast path took only %d of %d", taken, len(fs))
	}
}

func TestAppendInt(t *testing.T) {
	for _, i := range []int64{0, 5, 9, 10, 42, 99, 100, 512, 999, 1000, 12345, -1, -10, -999, math.MaxInt64, math.MinInt64} {
		if got, want := string(appendInt([]byte("x"), i)), "x"+strconv.FormatInt(i, 10); got != want {
			t.Errorf("appendInt(%d) = %q, want %q", i, got, want)
		}
	}
}
