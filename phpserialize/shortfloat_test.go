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
