package phpserialize_test

import (
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/phpsess/phpsess/phpserialize"
)

// TestReuseMemory: a Decoder that reuses its memory gives, call after call
// and whatever came before, exactly what a fresh decode gives.
func TestReuseMemory(t *testing.T) {
	files := payloadFiles(t)
	names := make([]string, 0, len(files))
	for f := range files {
		names = append(names, f)
	}
	slices.Sort(names)
	orders := [][]string{names, slices.Clone(names), slices.Clone(names)}
	slices.Reverse(orders[1])
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(orders[2]), func(i, j int) { orders[2][i], orders[2][j] = orders[2][j], orders[2][i] })
	dec := phpserialize.Decoder{ReuseMemory: true}
	for _, order := range orders {
		for _, f := range order {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			h := files[f]
			if h == "" {
				want, err := phpserialize.Decode(data)
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				got, err := dec.Decode(data)
				if err != nil || !got.Equal(want) {
					t.Fatalf("%s: reused decoder gives %v, %v; want %v", f, got, err, want)
				}
				continue
			}
			want, err := phpserialize.DecodeSession(h, data)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			got, err := dec.DecodeSession(h, data)
			if err != nil || !phpserialize.ArrayValue(got).Equal(phpserialize.ArrayValue(want)) {
				t.Fatalf("%s: reused decoder gives %v, %v; want %v", f, got, err, want)
			}
			out, err := phpserialize.EncodeSession(h, got)
			if err != nil || string(out) != string(data) {
				t.Fatalf("%s: reused decoder's result encodes to %q, %v", f, out, err)
			}
		}
	}
}

// TestReuseMemoryAllocs: in a loop, a reused Decoder allocates nothing for a
// string and only the string copy for a []byte.
func TestReuseMemoryAllocs(t *testing.T) {
	data, err := os.ReadFile(payloadDir + "/size_64kb.php.sess")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	dec := phpserialize.Decoder{ReuseMemory: true}
	for _, tc := range []struct {
		name string
		max  float64
		f    func() error
	}{
		{"string", 0, func() error { _, err := dec.DecodeSessionString(phpserialize.HandlerPHP, s); return err }},
		{"bytes", 1, func() error { _, err := dec.DecodeSession(phpserialize.HandlerPHP, data); return err }},
	} {
		if err := tc.f(); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(20, func() {
			if err := tc.f(); err != nil {
				t.Fatal(err)
			}
		}); n > tc.max {
			t.Errorf("%s: %v allocations per decode, want at most %v", tc.name, n, tc.max)
		}
	}
}

// TestEncodeErrorPath: an encode error names where the bad value sits.
func TestEncodeErrorPath(t *testing.T) {
	inner := phpserialize.NewArray(
		phpserialize.Entry{Key: phpserialize.IntKey(0), Value: phpserialize.Int(1)},
		phpserialize.Entry{Key: phpserialize.IntKey(3), Value: phpserialize.Ref(99)},
	)
	user := phpserialize.NewArray(phpserialize.Entry{Key: phpserialize.StringKey("a"), Value: phpserialize.ArrayValue(inner)})
	sess := phpserialize.NewArray(
		phpserialize.Entry{Key: phpserialize.StringKey("ok"), Value: phpserialize.String("x")},
		phpserialize.Entry{Key: phpserialize.StringKey("user"), Value: phpserialize.ArrayValue(user)},
	)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"php", func() error { _, err := phpserialize.EncodeSession(phpserialize.HandlerPHP, sess); return err }(), `session key "user"["a"][3]`},
		{"php_serialize", func() error { _, err := phpserialize.EncodeSession(phpserialize.HandlerPHPSerialize, sess); return err }(), `["user"]["a"][3]`},
		{"value", func() error { _, err := phpserialize.Encode(phpserialize.ArrayValue(user)); return err }(), `["a"][3]`},
	} {
		var ee *phpserialize.EncodeError
		if !errors.As(tc.err, &ee) || ee.Path != tc.want {
			t.Errorf("%s: got %v, want an EncodeError at %s", tc.name, tc.err, tc.want)
		}
	}
}

// TestValidateSession: ValidateSession says what DecodeSession says, and an
// error's key does not change when the caller reuses its buffer.
func TestValidateSession(t *testing.T) {
	for f, h := range payloadFiles(t) {
		if h == "" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := phpserialize.ValidateSession(h, data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	buf := []byte(`user|s:3:"bob";cart|a:1:{i:0;x}`)
	err := phpserialize.ValidateSession(phpserialize.HandlerPHP, buf)
	_, want := phpserialize.DecodeSession(phpserialize.HandlerPHP, buf)
	copy(buf, "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXX")
	if err == nil || want == nil || err.Error() != want.Error() {
		t.Fatalf("ValidateSession says %v, DecodeSession %v", err, want)
	}
	data, _ := os.ReadFile(payloadDir + "/size_64kb.php.sess")
	if n := testing.AllocsPerRun(20, func() { _ = phpserialize.ValidateSession(phpserialize.HandlerPHP, data) }); n > 0 {
		t.Errorf("ValidateSession: %v allocations per call, want 0", n)
	}
}
