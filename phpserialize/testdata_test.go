package phpserialize_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phpsess/phpsess/phpserialize"
)

const payloadDir = "../testdata/payloads"

// payloadFiles lists the payloads real PHP made (testdata/gen.php), with the
// encoding each is in: "" for a plain serialize() value.
func payloadFiles(t testing.TB) map[string]phpserialize.Handler {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(payloadDir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no payloads in %s (run: php testdata/gen.php): %v", payloadDir, err)
	}
	out := map[string]phpserialize.Handler{}
	for _, f := range files {
		switch {
		case strings.HasSuffix(f, ".ser"):
			out[f] = ""
		case strings.HasSuffix(f, ".php.sess"):
			out[f] = phpserialize.HandlerPHP
		case strings.HasSuffix(f, ".php_binary.sess"):
			out[f] = phpserialize.HandlerPHPBinary
		case strings.HasSuffix(f, ".php_serialize.sess"):
			out[f] = phpserialize.HandlerPHPSerialize
		}
	}
	return out
}

// TestPHPPayloadsRoundTrip: every payload PHP wrote decodes, and encodes back
// to the same bytes, directly and through the JSON form.
func TestPHPPayloadsRoundTrip(t *testing.T) {
	for file, h := range payloadFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var out, viaJSON []byte
			if h == "" {
				v, err := phpserialize.Decode(data)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if out, err = phpserialize.Encode(v); err != nil {
					t.Fatalf("encode: %v", err)
				}
				j := phpserialize.AppendJSON(nil, v)
				w, err := phpserialize.ParseJSON(j)
				if err != nil {
					t.Fatalf("parse own JSON: %v\n%s", err, j)
				}
				if !w.Equal(v) {
					t.Errorf("JSON round trip changed the value")
				}
				if viaJSON, err = phpserialize.Encode(w); err != nil {
					t.Fatalf("encode from JSON: %v", err)
				}
			} else {
				s, err := phpserialize.DecodeSession(h, data)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if out, err = phpserialize.EncodeSession(h, s); err != nil {
					t.Fatalf("encode: %v", err)
				}
				j := phpserialize.AppendSessionJSON(nil, s)
				w, err := phpserialize.ParseSessionJSON(h, j)
				if err != nil {
					t.Fatalf("parse own JSON: %v\n%.300s", err, j)
				}
				if viaJSON, err = phpserialize.EncodeSession(h, w); err != nil {
					t.Fatalf("encode from JSON: %v", err)
				}
			}
			if !bytes.Equal(out, data) {
				t.Errorf("re-encoded bytes differ:\n got %.200q\nwant %.200q", out, data)
			}
			if !bytes.Equal(viaJSON, data) {
				t.Errorf("bytes through JSON differ:\n got %.200q\nwant %.200q", viaJSON, data)
			}
		})
	}
}

// TestJSONMatchesPHP: where JSON can hold the data natively, our JSON is
// byte for byte what PHP's json_encode printed (gen.php uses
// JSON_PRESERVE_ZERO_FRACTION|JSON_UNESCAPED_SLASHES|JSON_UNESCAPED_UNICODE).
func TestJSONMatchesPHP(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(payloadDir, "*.json"))
	n := 0
	for _, jf := range files {
		if strings.HasSuffix(jf, "MANIFEST.json") {
			continue
		}
		n++
		want, err := os.ReadFile(jf)
		if err != nil {
			t.Fatal(err)
		}
		ser, err := os.ReadFile(strings.TrimSuffix(jf, ".json") + ".ser")
		if err != nil {
			t.Fatal(err)
		}
		v, err := phpserialize.Decode(ser)
		if err != nil {
			t.Fatalf("%s: %v", jf, err)
		}
		got := phpserialize.AppendJSON(nil, v)
		if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
			t.Errorf("%s:\n got %.300s\nwant %.300s", filepath.Base(jf), got, want)
		}
	}
	if n == 0 {
		t.Fatal("no .json payloads found")
	}
}

type invalidCase struct {
	Name      string  `json:"name"`
	Mode      string  `json:"mode"`
	InputHex  string  `json:"input_hex"`
	Accepted  bool    `json:"accepted"`
	OutputHex *string `json:"output_hex"`
}

// knownDifferences are inputs PHP accepts or re-encodes differently, on
// purpose; README.md ("Where phpsess differs from PHP") explains each.
var knownDifferences = map[string]string{
	"float_precision17":      "floats in PHP's serialize_precision=17 layout are kept as written",
	"obj_lowercase_stdclass": "class names are kept as written; PHP respells classes it has loaded",
	"obj_int_prop_name":      "property keys are kept as written; PHP converts int keys of plain objects",
	"obj_enum_as_O":          "phpsess cannot know which classes the app declares as enums",
	"C_unknown_class":        "Serializable payloads are kept; PHP loses those of classes it has not loaded",
	"C_arrayobject":          "Serializable payloads are kept as written; PHP 8 rewrites ArrayObject as O:",
	"C_stdclass":             "Serializable payloads are kept as written",
	"enum_unknown_enum":      "phpsess cannot know which enums the app declares",
	"enum_unknown_case":      "phpsess cannot know which enum cases the app declares",
	"enum_not_an_enum":       "phpsess cannot know which classes are enums",
	"ref_R_to_outer_array":   "a reference to its own array is kept; PHP writes it back as null",
	"sess_ser_not_an_array":  "a php_serialize session must be an array; PHP takes the value and then cannot save the session",
	"sess_ser_false":         "a php_serialize session must be an array",
	"sess_ser_object":        "a php_serialize session must be an array",
}

// TestPHPVerdicts: we accept exactly the inputs PHP 8.2 accepts
// (testdata/payloads/invalid, made by real PHP), and re-encode accepted
// ones as PHP does.
func TestPHPVerdicts(t *testing.T) {
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
		t.Run(c.Name+"/"+c.Mode, func(t *testing.T) {
			in, _ := hex.DecodeString(c.InputHex)
			var out []byte
			var err error
			if c.Mode == "unserialize" {
				dec := phpserialize.Decoder{AllowTrailingData: true}
				var v phpserialize.Value
				if v, err = dec.Decode(in); err == nil {
					out, err = phpserialize.Encode(v)
				}
			} else {
				h := phpserialize.Handler(strings.TrimPrefix(c.Mode, "session:"))
				var s *phpserialize.Array
				if s, err = phpserialize.DecodeSession(h, in); err == nil {
					out, err = phpserialize.EncodeSession(h, s)
				}
			}
			if why, ok := knownDifferences[c.Name]; ok {
				t.Logf("known difference (%s): PHP accepted=%v, we: out=%q err=%v", why, c.Accepted, out, err)
				return
			}
			if (err == nil) != c.Accepted {
				t.Fatalf("input %q: PHP accepted=%v, we got err=%v", in, c.Accepted, err)
			}
			if c.Accepted && c.OutputHex != nil {
				want, _ := hex.DecodeString(*c.OutputHex)
				if !bytes.Equal(out, want) {
					t.Errorf("input %q: re-encoded %q, PHP wrote %q", in, out, want)
				}
			}
			if err != nil {
				var se *phpserialize.SyntaxError
				if !asSyntax(err, &se) {
					t.Errorf("error is not a *SyntaxError: %T %v", err, err)
				}
			}
		})
	}
}

func asSyntax(err error, target **phpserialize.SyntaxError) bool {
	se, ok := err.(*phpserialize.SyntaxError)
	if ok {
		*target = se
	}
	return ok
}

// TestConvertSessionMatchesPHP: converting PHP's php payload to
// php_binary and php_serialize (and back) gives exactly what PHP wrote for
// the same data in those encodings, references renumbered.
func TestConvertSessionMatchesPHP(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(payloadDir, "*.php.sess"))
	n := 0
	for _, f := range files {
		base := strings.TrimSuffix(f, ".php.sess")
		php, _ := os.ReadFile(f)
		ser, _ := os.ReadFile(base + ".php_serialize.sess")
		bin, _ := os.ReadFile(base + ".php_binary.sess")
		if len(php) == 0 || len(ser) == 0 {
			continue // PHP dropped or refused something in one encoding
		}
		sess, _ := phpserialize.DecodeSession(phpserialize.HandlerPHPSerialize, ser)
		if sess == nil || !allStringKeys(sess) {
			continue // int keys: not in the php encoding
		}
		for _, tc := range []struct {
			from, to phpserialize.Handler
			in, want []byte
		}{
			{phpserialize.HandlerPHP, phpserialize.HandlerPHPSerialize, php, ser},
			{phpserialize.HandlerPHPSerialize, phpserialize.HandlerPHP, ser, php},
			{phpserialize.HandlerPHP, phpserialize.HandlerPHPBinary, php, bin},
			{phpserialize.HandlerPHPBinary, phpserialize.HandlerPHPSerialize, bin, ser},
		} {
			a, _ := phpserialize.DecodeSession(tc.from, tc.in)
			b, _ := phpserialize.DecodeSession(tc.to, tc.want)
			if a.Len() != b.Len() {
				continue // PHP dropped a variable in one of the encodings (see MANIFEST)
			}
			got, err := phpserialize.ConvertSession(tc.from, tc.to, tc.in)
			if err != nil {
				if strings.Contains(err.Error(), "127 bytes") {
					continue
				}
				t.Errorf("%s %s->%s: %v", filepath.Base(base), tc.from, tc.to, err)
				continue
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("%s %s->%s:\n got %.200q\nwant %.200q", filepath.Base(base), tc.from, tc.to, got, tc.want)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no conversions checked")
	}
}

func allStringKeys(a *phpserialize.Array) bool {
	for _, e := range a.Entries() {
		if e.Key.IsInt() {
			return false
		}
	}
	return true
}
