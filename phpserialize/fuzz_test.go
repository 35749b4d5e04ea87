package phpserialize_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/phpsess/phpsess/phpserialize"
)

// seeds returns the payloads real PHP wrote (under 100 kB) and the
// malformed inputs of PHP's verdict table: the fuzzers' seed corpus, which
// every plain `go test` runs.
func seeds(t testing.TB) [][]byte {
	var out [][]byte
	files, _ := filepath.Glob(filepath.Join(payloadDir, "*"))
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && !st.IsDir() && st.Size() < 100<<10 && filepath.Ext(f) != ".json" && filepath.Ext(f) != ".tsv" {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
	}
	raw, err := os.ReadFile(filepath.Join(payloadDir, "invalid", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var table struct {
		Cases []invalidCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	for _, c := range table.Cases {
		b, _ := hex.DecodeString(c.InputHex)
		out = append(out, b)
	}
	return out
}

// FuzzDecode: no input panics; whatever decodes re-encodes, decodes to the
// same value, re-encodes to the same bytes, and survives the JSON form.
func FuzzDecode(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := phpserialize.Decode(data)
		if err != nil {
			return
		}
		out, err := phpserialize.Encode(v)
		if err != nil {
			t.Fatalf("decoded %q but cannot encode it: %v", data, err)
		}
		w, err := phpserialize.Decode(out)
		if err != nil {
			t.Fatalf("our own output %q does not decode: %v", out, err)
		}
		if !w.Equal(v) {
			t.Fatalf("value changed through encode: %q -> %q", data, out)
		}
		out2, _ := phpserialize.Encode(w)
		if !bytes.Equal(out, out2) {
			t.Fatalf("encoding is not stable: %q then %q", out, out2)
		}
		j := phpserialize.AppendJSON(nil, v)
		x, err := phpserialize.ParseJSON(j)
		if err != nil {
			t.Fatalf("our JSON %s does not parse: %v", j, err)
		}
		if !x.Equal(v) {
			t.Fatalf("value changed through JSON %s", j)
		}
	})
}

// FuzzDecodeSession: the same for the three session encodings.
func FuzzDecodeSession(f *testing.F) {
	for _, s := range seeds(f) {
		for h := range byte(3) {
			f.Add(h, s)
		}
	}
	handlers := []phpserialize.Handler{phpserialize.HandlerPHP, phpserialize.HandlerPHPBinary, phpserialize.HandlerPHPSerialize}
	reused := phpserialize.Decoder{ReuseMemory: true} // dirtied by every input before
	f.Fuzz(func(t *testing.T, hb byte, data []byte) {
		h := handlers[int(hb)%3]
		s, err := phpserialize.DecodeSession(h, data)
		r, rerr := reused.DecodeSession(h, data)
		if (err == nil) != (rerr == nil) || err != nil && err.Error() != rerr.Error() {
			t.Fatalf("%s: %q: fresh decoder says %v, reused one %v", h, data, err, rerr)
		}
		if err != nil {
			return
		}
		if !phpserialize.ArrayValue(r).Equal(phpserialize.ArrayValue(s)) {
			t.Fatalf("%s: %q: reused decoder gives another session", h, data)
		}
		out, err := phpserialize.EncodeSession(h, s)
		if err != nil {
			return // e.g. a php_binary name over 127 bytes cannot occur; '|' cannot; ok to refuse
		}
		s2, err := phpserialize.DecodeSession(h, out)
		if err != nil {
			t.Fatalf("%s: our own output %q does not decode: %v", h, out, err)
		}
		if !phpserialize.ArrayValue(s2).Equal(phpserialize.ArrayValue(s)) {
			t.Fatalf("%s: session changed through encode: %q -> %q", h, data, out)
		}
		j := phpserialize.AppendSessionJSON(nil, s)
		s3, err := phpserialize.ParseSessionJSON(h, j)
		if err != nil {
			t.Fatalf("%s: our JSON %s does not parse: %v", h, j, err)
		}
		out3, err := phpserialize.EncodeSession(h, s3)
		if err != nil || !bytes.Equal(out3, out) {
			t.Fatalf("%s: JSON round trip %s gave %q (%v), want %q", h, j, out3, err, out)
		}
	})
}

// FuzzParseJSON: no JSON input panics; what parses prints and parses back
// to the same value.
func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1,2.0,"x",null,true]`, `{"$float":"NAN"}`, `{"$bytes":"/w=="}`,
		`{"$object":{"class":"User","props":{"\u0000*\u0000r":1}}}`, `{"$object":{"class":"A","entries":[[0,1],["x",2]]}}`,
		`{"$serializable":{"class":"S","data":"x"}}`, `{"$enum":"Suit:Hearts"}`, `[{"$object":{"class":"A","props":{}}},{"$r":2},{"$R":2}]`,
		`{"$array":{"$r":1}}`, `{"$entries":[[{"$bytes":"/w=="},1],[5,2]]}`, `{"5":1,"05":2,"-0":3}`, `1e400`, `-0.0`, `{"$x":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := phpserialize.ParseJSON(data)
		if err != nil {
			return
		}
		j := phpserialize.AppendJSON(nil, v)
		w, err := phpserialize.ParseJSON(j)
		if err != nil {
			t.Fatalf("%s printed as %s, which does not parse: %v", data, j, err)
		}
		if !w.Equal(v) {
			t.Fatalf("%s printed as %s, which parses to another value", data, j)
		}
	})
}
