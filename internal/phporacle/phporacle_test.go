package phporacle

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// oracle uses the exported test helper, so that it is exercised too.
func oracle(t *testing.T) *Oracle {
	t.Helper()
	return Require(t)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestUnserialize(t *testing.T) {
	o := oracle(t)
	cases := []struct {
		in     string
		ok     bool
		out    string
		json   string
		errSub string
	}{
		{in: `i:+5;`, ok: true, out: `i:5;`, json: `5`},
		{in: `i:007;`, ok: true, out: `i:7;`, json: `7`},
		{in: `i: 5;`, ok: false, errSub: "Error at offset 0 of 5 bytes"},
		{in: `b:2;`, ok: false, errSub: "Error at offset"},
		{in: `b:0;`, ok: true, out: `b:0;`, json: `false`},
		{in: `b:0;trailing`, ok: true, out: `b:0;`, json: `false`},
		{in: ``, ok: false},
		{in: `d:.5;`, ok: true, out: `d:0.5;`, json: `0.5`},
		{in: `d:1.0;`, ok: true, out: `d:1;`, json: `1.0`},
		{in: `d:+INF;`, ok: false},
		{in: `d:INF;`, ok: true, out: `d:INF;`, json: `0`, errSub: ""},
		{in: `i:9223372036854775808;`, ok: true, out: `i:9223372036854775807;`, errSub: "Numerical result out of range"},
		{in: `s:3:"a` + "\xff" + `c";`, ok: true, out: `s:3:"a` + "\xff" + `c";`, json: `null`},
		{in: `a:2:{i:0;i:1;}`, ok: false},
		{in: `O:8:"App\User":1:{s:2:"id";i:7;}`, ok: true, out: `O:8:"App\User":1:{s:2:"id";i:7;}`},
		{in: `C:3:"Foo":5:{hello}`, ok: true, out: `O:3:"Foo":0:{}`, errSub: "has no unserializer"},
		{in: `O:7:"Closure":0:{}`, ok: false, errSub: "Unserialization of 'Closure' is not allowed"},
		{in: `E:11:"Suit:Hearts";`, ok: false, errSub: "Class 'Suit' not found"},
	}
	inputs := make([][]byte, len(cases))
	for i, c := range cases {
		inputs[i] = []byte(c.in)
	}
	res, err := o.Unserialize(ctx(t), inputs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(cases) {
		t.Fatalf("got %d results for %d inputs", len(res), len(cases))
	}
	for i, c := range cases {
		r := res[i]
		if r.OK != c.ok {
			t.Errorf("%q: OK=%v, want %v (error %q)", c.in, r.OK, c.ok, r.Error)
			continue
		}
		if c.ok && string(r.Output) != c.out {
			t.Errorf("%q: output %q, want %q", c.in, r.Output, c.out)
		}
		if c.ok != r.Encoded {
			t.Errorf("%q: Encoded=%v", c.in, r.Encoded)
		}
		if c.json != "" && string(r.JSON) != c.json {
			t.Errorf("%q: json %q, want %q (json error %q)", c.in, r.JSON, c.json, r.JSONError)
		}
		if c.errSub != "" && !strings.Contains(r.Error, c.errSub) {
			t.Errorf("%q: error %q does not contain %q", c.in, r.Error, c.errSub)
		}
		if !c.ok && (r.Output != nil || r.JSON != nil) {
			t.Errorf("%q: rejected input has output %q / json %q", c.in, r.Output, r.JSON)
		}
	}
	// JSON of invalid UTF-8 is partial output with an error message.
	if r := res[12]; r.JSONError == "" {
		t.Errorf("invalid UTF-8: no JSONError")
	}
}

func TestPrelude(t *testing.T) {
	o := oracle(t)
	o.Prelude = `<?php
enum Suit: string { case Hearts = 'H'; case Spades = 'S'; }
final class Token implements Serializable {
    public string $v = '';
    public function serialize(): string { return $this->v; }
    public function unserialize(string $d): void { $this->v = $d; }
}
echo "noise on stdout\n";
trigger_error("noise in the error handler", E_USER_WARNING);`
	res, err := o.Unserialize(ctx(t), [][]byte{
		[]byte(`E:11:"Suit:Hearts";`),
		[]byte(`E:10:"Suit:Clubs";`),
		[]byte(`C:5:"Token":5:{hello}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].OK || string(res[0].Output) != `E:11:"Suit:Hearts";` || string(res[0].JSON) != `"H"` {
		t.Errorf("enum: %+v", res[0])
	}
	if res[1].OK || !strings.Contains(res[1].Error, "Undefined constant Suit::Clubs") {
		t.Errorf("unknown case: %+v", res[1])
	}
	if !res[2].OK || string(res[2].Output) != `C:5:"Token":5:{hello}` {
		t.Errorf("Serializable: %+v", res[2])
	}

	o.Prelude = `class Broken {`
	if _, err := o.Unserialize(ctx(t), [][]byte{[]byte(`N;`)}); err == nil || !strings.Contains(err.Error(), "prelude") {
		t.Errorf("broken prelude: err = %v", err)
	}
}

func TestSessionDecode(t *testing.T) {
	o := oracle(t)
	type c struct {
		in      string
		ok      bool
		encoded bool
		out     string
	}
	byHandler := map[string][]c{
		"php": {
			{in: `a|i:1;`, ok: true, encoded: true, out: `a|i:1;`},
			{in: `a|i:1;garbage`, ok: false},
			{in: `a|i:1;b|s:5:"xy";c|i:3;`, ok: false},
			// A decoded numeric name stays a string key, so session_encode keeps it.
			{in: `5|i:1;`, ok: true, encoded: true, out: `5|i:1;`},
			{in: `!x|i:1;`, ok: true, encoded: true, out: `!x|i:1;`},
			{in: `!x|a|i:1;`, ok: false},
			{in: ``, ok: true, encoded: false},
			{in: `|i:1;`, ok: true, encoded: true, out: `|i:1;`},
			{in: `a|O:8:"stdClass":0:{}b|r:1;c|s:1:"x";d|R:3;`, ok: true, encoded: true, out: `a|O:8:"stdClass":0:{}b|r:1;c|s:1:"x";d|R:3;`},
		},
		"php_binary": {
			{in: "\x01ai:1;", ok: true, encoded: true, out: "\x01ai:1;"},
			{in: "\x81ai:1;", ok: true, encoded: true, out: "\x01ai:1;"},
			{in: "\x85ai:1;", ok: false},
			{in: ``, ok: true, encoded: false},
		},
		"php_serialize": {
			{in: `a:1:{s:1:"a";i:1;}`, ok: true, encoded: true, out: `a:1:{s:1:"a";i:1;}`},
			{in: `a:1:{s:1:"a";i:1;}garbage`, ok: true, encoded: true, out: `a:1:{s:1:"a";i:1;}`},
			{in: `a:1:{s:1:"a";i:1;`, ok: false},
			{in: ``, ok: true, encoded: true, out: `a:0:{}`},
		},
	}
	for _, h := range Handlers {
		cases := byHandler[h]
		var inputs [][]byte
		for _, c := range cases {
			inputs = append(inputs, []byte(c.in))
		}
		res, err := o.SessionDecode(ctx(t), h, inputs)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range cases {
			r := res[i]
			if r.OK != c.ok || r.Encoded != c.encoded || (c.encoded && string(r.Output) != c.out) {
				t.Errorf("%s %q: got OK=%v Encoded=%v Output=%q Error=%q; want OK=%v Encoded=%v Output=%q",
					h, c.in, r.OK, r.Encoded, r.Output, r.Error, c.ok, c.encoded, c.out)
			}
		}
	}
	if _, err := o.SessionDecode(ctx(t), "igbinary", nil); err == nil {
		t.Error("unknown handler accepted")
	}
}

// TestLargeBatch sends several megabytes of binary-safe input in one batch.
func TestLargeBatch(t *testing.T) {
	o := oracle(t)
	big := bytes.Repeat([]byte("\x00\xff\";|s:1:\"x\";\n"), 1<<20/16)
	var bigSer []byte
	bigSer = append(bigSer, []byte("s:")...)
	bigSer = append(bigSer, []byte(strconv.Itoa(len(big)))...)
	bigSer = append(bigSer, []byte(":\"")...)
	bigSer = append(bigSer, big...)
	bigSer = append(bigSer, []byte("\";")...)
	var inputs [][]byte
	for i := 0; i < 5; i++ {
		inputs = append(inputs, bigSer, []byte(`b:2;`), []byte(`i:1;`))
	}
	res, err := o.Unserialize(ctx(t), inputs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		switch i % 3 {
		case 0:
			if !r.OK || !bytes.Equal(r.Output, bigSer) {
				t.Errorf("big string %d: OK=%v len(Output)=%d", i, r.OK, len(r.Output))
			}
		case 1:
			if r.OK {
				t.Errorf("b:2; accepted")
			}
		case 2:
			if string(r.Output) != "i:1;" {
				t.Errorf("i:1; -> %q", r.Output)
			}
		}
	}
	// The ~1 MB session payload produced by testdata/gen.php round-trips.
	p := filepath.Join("..", "..", "testdata", "payloads", "size_1mb.php.sess")
	sess, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (regenerate with: php testdata/gen.php)", err)
	}
	sr, err := o.SessionDecode(ctx(t), "php", [][]byte{sess, sess})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range sr {
		if !r.OK || !bytes.Equal(r.Output, sess) {
			t.Errorf("size_1mb.php.sess: OK=%v, output equal=%v, error %q", r.OK, bytes.Equal(r.Output, sess), r.Error)
		}
	}
}

// TestManySmall checks that a batch of many inputs stays in order.
func TestManySmall(t *testing.T) {
	o := oracle(t)
	var inputs [][]byte
	for i := 0; i < 20000; i++ {
		inputs = append(inputs, []byte("i:"+strconv.Itoa(i)+";"))
	}
	start := time.Now()
	res, err := o.Unserialize(ctx(t), inputs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d inputs in %v", len(inputs), time.Since(start))
	for i, r := range res {
		if !r.OK || string(r.Output) != string(inputs[i]) || string(r.JSON) != strconv.Itoa(i) {
			t.Fatalf("input %d: %+v", i, r)
		}
	}
}

func TestEval(t *testing.T) {
	o := oracle(t)
	o.Prelude = `function twice(string $s): string { return $s . $s; }`
	out, err := o.Eval(ctx(t), `<?php echo twice(stream_get_contents(STDIN)); trigger_error("to stderr", E_USER_WARNING);`, []byte("ab\x00"))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "ab\x00ab\x00" {
		t.Errorf("eval output %q", out)
	}
	if _, err := o.Eval(ctx(t), `exit(3);`, nil); err == nil {
		t.Error("exit status 3 not reported")
	}
	v, err := o.Version(ctx(t))
	if err != nil || !strings.HasPrefix(v, "8.2.") {
		t.Errorf("Version() = %q, %v", v, err)
	}
}

// TestInvalidTable checks that testdata/payloads/invalid/cases.json still
// matches what PHP does (it is regenerated by testdata/gen.php).
func TestInvalidTable(t *testing.T) {
	o := oracle(t)
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "payloads", "invalid", "cases.json"))
	if err != nil {
		t.Fatalf("%v (regenerate with: php testdata/gen.php)", err)
	}
	var table struct {
		Prelude string `json:"prelude"`
		Cases   []struct {
			Name      string  `json:"name"`
			Mode      string  `json:"mode"`
			InputHex  string  `json:"input_hex"`
			Accepted  bool    `json:"accepted"`
			OutputHex *string `json:"output_hex"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	o.Prelude = table.Prelude
	byMode := map[string][]int{}
	var inputs [][]byte
	for i, c := range table.Cases {
		in, err := hex.DecodeString(c.InputHex)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		inputs = append(inputs, in)
		byMode[c.Mode] = append(byMode[c.Mode], i)
	}
	for mode, idx := range byMode {
		var in [][]byte
		for _, i := range idx {
			in = append(in, inputs[i])
		}
		var res []Result
		if mode == "unserialize" {
			res, err = o.Unserialize(ctx(t), in)
		} else {
			res, err = o.SessionDecode(ctx(t), strings.TrimPrefix(mode, "session:"), in)
		}
		if err != nil {
			t.Fatal(err)
		}
		for j, i := range idx {
			c, r := table.Cases[i], res[j]
			want := ""
			if c.OutputHex != nil {
				want = *c.OutputHex
			}
			if r.OK != c.Accepted || hex.EncodeToString(r.Output) != want || r.Encoded != (c.OutputHex != nil) {
				t.Errorf("%s (%s): oracle OK=%v output=%q, table accepted=%v output_hex=%q",
					c.Name, mode, r.OK, r.Output, c.Accepted, want)
			}
		}
	}
}
