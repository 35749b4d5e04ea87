package phpserialize_test

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/phpsess/phpsess/phpserialize"
)

func TestMarshalTable(t *testing.T) {
	type inner struct {
		A int `php:"a,omitempty"`
		B string
	}
	type outer struct {
		inner
		N    *int   `php:"n"`
		S    []byte `php:"s"`
		Z    int    `php:"z,string"`
		Skip int    `php:"-"`
	}
	for _, tc := range []struct {
		in   any
		want string
	}{
		{nil, "N;"},
		{true, "b:1;"},
		{int8(-3), "i:-3;"},
		{uint64(math.MaxInt64), "i:9223372036854775807;"},
		{float32(0.1), "d:0.1;"},
		{"é", `s:2:"é";`},
		{[]int(nil), "N;"},
		{[]any{1, "a", nil}, `a:3:{i:0;i:1;i:1;s:1:"a";i:2;N;}`},
		{map[int]string{2: "b", -1: "a"}, `a:2:{i:-1;s:1:"a";i:2;s:1:"b";}`},
		{outer{inner: inner{B: "x"}, S: []byte{0, 1}, Z: 7}, "a:4:{s:1:\"B\";s:1:\"x\";s:1:\"n\";N;s:1:\"s\";s:2:\"\x00\x01\";s:1:\"z\";s:1:\"7\";}"},
		{phpserialize.Enum("Suit", "Hearts"), `E:11:"Suit:Hearts";`},
	} {
		got, err := phpserialize.Marshal(tc.in)
		if err != nil || string(got) != tc.want {
			t.Errorf("Marshal(%#v) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := phpserialize.Marshal(uint64(math.MaxUint64)); err == nil {
		t.Error("uint64 max accepted")
	}
	if _, err := phpserialize.Marshal(map[float64]int{1: 1}); err == nil {
		t.Error("float map key accepted")
	}
}

func TestUnmarshalAny(t *testing.T) {
	var v any
	in := `a:4:{s:1:"l";a:2:{i:0;i:1;i:1;d:2.5;}s:1:"m";a:1:{i:5;s:1:"x";}s:1:"o";O:1:"P":1:{s:4:"` + "\x00*\x00" + `p";b:1;}s:1:"r";R:3;}`
	if err := phpserialize.Unmarshal([]byte(in), &v); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"l": []any{int64(1), 2.5}, "m": map[string]any{"5": "x"}, "o": map[string]any{"p": true}, "r": int64(1)}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got %#v\nwant %#v", v, want)
	}
}

func TestUnmarshalErrors(t *testing.T) {
	var s struct {
		ID int `php:"id"`
	}
	err := phpserialize.Unmarshal([]byte(`a:1:{s:2:"id";s:3:"abc";}`), &s)
	if err == nil || !strings.Contains(err.Error(), `cannot unmarshal PHP string into Go int at ["id"]`) {
		t.Fatalf("got %v", err)
	}
	// numeric strings are accepted for ints, as PHP apps often store ids as strings
	if err := phpserialize.Unmarshal([]byte(`a:1:{s:2:"id";s:2:"42";}`), &s); err != nil || s.ID != 42 {
		t.Fatalf("got %v %d", err, s.ID)
	}
	// a reference cycle does not hang or overflow
	var v any
	err = phpserialize.Unmarshal([]byte(`a:1:{i:0;R:1;}`), &v)
	if err == nil || !strings.Contains(err.Error(), "reference cycle") {
		t.Fatalf("cycle: %v", err)
	}
	if err := phpserialize.Unmarshal([]byte(`i:1;`), s); err == nil {
		t.Fatal("non-pointer accepted")
	}
}

func TestSessionMarshal(t *testing.T) {
	type sess struct {
		UserID int    `php:"user_id"`
		Flash  string `php:"flash,omitempty"`
	}
	out, err := phpserialize.MarshalSession(phpserialize.HandlerPHP, sess{UserID: 3})
	if err != nil || string(out) != "user_id|i:3;" {
		t.Fatalf("%q %v", out, err)
	}
	var back sess
	if err := phpserialize.UnmarshalSession(phpserialize.HandlerPHP, []byte(`a|i:1;user_id|i:9;flash|s:2:"hi";`), &back); err != nil || back.UserID != 9 || back.Flash != "hi" {
		t.Fatalf("%+v %v", back, err)
	}
	// references in php sessions count slots from the first variable
	var m map[string]any
	if err := phpserialize.UnmarshalSession(phpserialize.HandlerPHP, []byte(`a|s:1:"x";b|R:1;`), &m); err != nil || m["b"] != "x" {
		t.Fatalf("%v %v", m, err)
	}
}
