package phpserialize_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/phpsess/phpsess/phpserialize"
)

// TestHostileInputIsCheap: inputs that make other libraries allocate
// gigabytes, spin or crash (shared/spec/peers.md) fail fast, with little
// memory and an error that says where.
func TestHostileInputIsCheap(t *testing.T) {
	deep := strings.Repeat("a:1:{i:0;", 5000) + "N;" + strings.Repeat("}", 5000)
	for _, tc := range []struct {
		name, in string
		offset   int64
	}{
		{"huge string length", `s:999999999:"x";`, 2},
		{"string length over int64", `s:99999999999999999999999:"x";`, 2},
		{"huge array count", `a:100000000:{}`, 2},
		{"huge nested count", `a:1:{i:0;a:100000000:{}}`, 11},
		{"count over 2^31", `a:2000000000:{}`, 2},
		{"issue 17 of php_session_decoder", "a:1:{s:1:\"|\";a-463537550:\x0e}", 14},
		{"array as key", `a:1:{a:0:{}i:1;}`, 5},
		{"deeper than 4096", deep, 4096 * 9},
		{"negative string length", `s:-1:"";`, 2},
		{"huge object count", `O:8:"stdClass":99999999:{}`, 15},
		{"huge C payload", `C:1:"X":999999999:{}`, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			allocs := testing.AllocsPerRun(1, func() { phpserialize.DecodeString(tc.in) })
			_, err := phpserialize.DecodeString(tc.in)
			var se *phpserialize.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a *SyntaxError", err)
			}
			if se.Offset != tc.offset {
				t.Errorf("offset %d, want %d (%v)", se.Offset, tc.offset, err)
			}
			if tc.name != "deeper than 4096" && allocs > 20 {
				t.Errorf("%v allocations for a %d-byte input", allocs, len(tc.in))
			}
		})
	}
}

// TestDepthLimit: PHP's unserialize_max_depth counts non-empty arrays and
// all objects; 4096 levels pass, 4097 fail.
func TestDepthLimit(t *testing.T) {
	nest := func(n int) string {
		return strings.Repeat("a:1:{i:0;", n) + "a:0:{}" + strings.Repeat("}", n)
	}
	if _, err := phpserialize.DecodeString(nest(4096)); err != nil {
		t.Fatalf("4096 levels: %v", err)
	}
	if _, err := phpserialize.DecodeString(nest(4097)); err == nil {
		t.Fatal("4097 levels accepted")
	}
	d := phpserialize.Decoder{MaxDepth: 10}
	if _, err := d.DecodeString(nest(11)); err == nil {
		t.Fatal("MaxDepth 10 accepted 11 levels")
	}
	// The encoder refuses to write what PHP would refuse to read.
	v, err := (&phpserialize.Decoder{MaxDepth: 5000}).DecodeString(nest(4097))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := phpserialize.Encode(v); err == nil {
		t.Fatal("Encode wrote 4097 levels")
	}
}

// TestEncodeRefuses: values PHP could not read back are refused, with the
// path to the bad value.
func TestEncodeRefuses(t *testing.T) {
	list := phpserialize.List
	for _, tc := range []struct {
		name string
		v    phpserialize.Value
		want string
	}{
		{"R to nothing", phpserialize.ArrayValue(list(phpserialize.Int(1), phpserialize.Ref(9))), `[1]: reference R:9 points to no value`},
		{"r to non-object", phpserialize.ArrayValue(list(phpserialize.Int(1), phpserialize.ObjectRef(2))), `[1]: object reference r:2 points to a value that is not an object`},
		{"bad class", phpserialize.Object("a b", nil), `invalid class name "a b"`},
		{"closure", phpserialize.Object("Closure", nil), `invalid class name "Closure"`},
		{"bad enum", phpserialize.Enum("", "X"), `invalid enum case`},
	} {
		_, err := phpserialize.Encode(tc.v)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want ...%s", tc.name, err, tc.want)
		}
	}
	sess := phpserialize.NewArray(phpserialize.Entry{Key: phpserialize.StringKey("a|b"), Value: phpserialize.Int(1)})
	if _, err := phpserialize.EncodeSession(phpserialize.HandlerPHP, sess); err == nil || !strings.Contains(err.Error(), `contains '|'`) {
		t.Errorf("key with |: %v", err)
	}
	sess = phpserialize.NewArray(phpserialize.Entry{Key: phpserialize.IntKey(5), Value: phpserialize.Int(1)})
	for _, h := range []phpserialize.Handler{phpserialize.HandlerPHP, phpserialize.HandlerPHPBinary} {
		if _, err := phpserialize.EncodeSession(h, sess); err == nil || !strings.Contains(err.Error(), "drops int keys") {
			t.Errorf("%s int key: %v", h, err)
		}
	}
	if out, err := phpserialize.EncodeSession(phpserialize.HandlerPHPSerialize, sess); err != nil || string(out) != "a:1:{i:5;i:1;}" {
		t.Errorf("php_serialize int key: %q %v", out, err)
	}
	sess = phpserialize.NewArray(phpserialize.Entry{Key: phpserialize.StringKey(strings.Repeat("k", 128)), Value: phpserialize.Int(1)})
	if _, err := phpserialize.EncodeSession(phpserialize.HandlerPHPBinary, sess); err == nil || !strings.Contains(err.Error(), "over 127 bytes") {
		t.Errorf("long php_binary key: %v", err)
	}
}

// TestSessionErrorsNameKey: a bad value in a session names the variable and
// the byte offset.
func TestSessionErrorsNameKey(t *testing.T) {
	_, err := phpserialize.DecodeSession(phpserialize.HandlerPHP, []byte(`a|i:1;user|a:1:{s:2:"id";b:2;}`))
	want := `phpserialize: session key "user": offset 27: expected 0; or 1; after b:, found '2'`
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}

// TestDuplicateKeys: a repeated key keeps its first position and takes the
// last value, as PHP's unserialize does (checked with PHP 8.2), for int and
// string keys, in small arrays and in ones large enough to be indexed.
func TestDuplicateKeys(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`a:3:{i:0;i:1;i:1;i:2;i:0;i:3;}`, `a:2:{i:0;i:3;i:1;i:2;}`},
		{`a:3:{s:1:"a";i:1;s:1:"b";i:2;s:1:"a";i:3;}`, `a:2:{s:1:"a";i:3;s:1:"b";i:2;}`},
		{`a:3:{i:5;i:1;s:1:"5";i:2;i:6;i:3;}`, `a:2:{i:5;i:2;i:6;i:3;}`},
	} {
		v, err := phpserialize.DecodeString(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := phpserialize.Encode(v)
		if string(out) != tc.want {
			t.Errorf("%s -> %s, want %s", tc.in, out, tc.want)
		}
	}
	// 100 keys, then every one of them again: the filter is saturated and
	// the index is used.
	var b strings.Builder
	b.WriteString("a:200:{")
	for r := range 2 {
		for i := range 100 {
			fmt.Fprintf(&b, `s:%d:"k%d";i:%d;`, len(fmt.Sprint(i))+1, i, r*1000+i)
		}
	}
	b.WriteString("}")
	v, err := phpserialize.DecodeString(b.String())
	if err != nil {
		t.Fatal(err)
	}
	a := v.Array()
	if a.Len() != 100 {
		t.Fatalf("%d entries, want 100", a.Len())
	}
	for i, e := range a.Entries() {
		if e.Key.String() != fmt.Sprintf("k%d", i) || e.Value.Int() != int64(1000+i) {
			t.Fatalf("entry %d = %s => %d", i, e.Key.String(), e.Value.Int())
		}
	}
}
