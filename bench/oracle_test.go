package bench

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	psd "github.com/yvasiyarov/php_session_decoder"
	psdser "github.com/yvasiyarov/php_session_decoder/php_serialize"

	"github.com/phpsess/phpsess/phpserialize"
)

// TestSecondOracle decodes every PHP-made php-encoded payload with
// yvasiyarov/php_session_decoder too, where that library is right (no
// references, objects, enums or empty strings, which it loses, see
// shared/spec/peers.md), and checks that both read the same data. Real PHP
// is the first oracle (phpserialize's tests); this is the second.
func TestSecondOracle(t *testing.T) {
	files, _ := filepath.Glob("../testdata/payloads/*.php.sess")
	checked := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 || bytes.Contains(data, []byte(`s:0:""`)) || bytes.ContainsAny(data, "\x00") {
			continue
		}
		theirs, err := psd.NewPhpDecoder(string(data)).Decode()
		if err != nil {
			continue
		}
		ours, err := phpserialize.DecodeSession(phpserialize.HandlerPHP, data)
		if err != nil {
			t.Errorf("%s: php_session_decoder reads it, phpsess does not: %v", filepath.Base(f), err)
			continue
		}
		if !lossless(ours) {
			continue
		}
		a := canonOurs(phpserialize.ArrayValue(ours))
		b := canonTheirs(psdser.PhpArray(toArray(theirs)))
		if a != b {
			t.Errorf("%s: phpsess and php_session_decoder read different data:\n ours   %.300s\n theirs %.300s", filepath.Base(f), a, b)
		}
		checked++
	}
	if checked < 5 {
		t.Fatalf("only %d payloads compared", checked)
	}
	t.Logf("%d payloads read alike by both", checked)
}

func toArray(s psd.PhpSession) map[psdser.PhpValue]psdser.PhpValue {
	m := map[psdser.PhpValue]psdser.PhpValue{}
	for k, v := range s {
		m[k] = v
	}
	return m
}

// lossless reports whether a session holds only what php_session_decoder
// reads right: scalars and arrays, no references, objects or enums.
func lossless(a *phpserialize.Array) bool {
	for _, e := range a.Entries() {
		switch e.Value.Kind() {
		case phpserialize.KindArray:
			if !lossless(e.Value.Array()) {
				return false
			}
		case phpserialize.KindObject, phpserialize.KindSerializable, phpserialize.KindEnum, phpserialize.KindRef, phpserialize.KindObjectRef:
			return false
		case phpserialize.KindFloat:
			if f := e.Value.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
				return false
			}
		}
	}
	return true
}

// canon prints data with sorted keys, so that a Go map and an ordered
// array compare.
func canonOurs(v phpserialize.Value) string {
	switch v.Kind() {
	case phpserialize.KindArray:
		var parts []string
		for k, e := range v.Array().All() {
			parts = append(parts, k.String()+"=>"+canonOurs(e))
		}
		sort.Strings(parts)
		return "{" + strings.Join(parts, ",") + "}"
	case phpserialize.KindInt:
		return fmt.Sprint(v.Int())
	case phpserialize.KindFloat:
		return fmt.Sprint(v.Float())
	case phpserialize.KindString:
		return fmt.Sprintf("%q", v.Str())
	case phpserialize.KindBool:
		return fmt.Sprint(v.Bool())
	}
	return "null"
}

func canonTheirs(v psdser.PhpValue) string {
	switch v := v.(type) {
	case psdser.PhpArray:
		var parts []string
		for k, e := range v {
			parts = append(parts, fmt.Sprint(k)+"=>"+canonTheirs(e))
		}
		sort.Strings(parts)
		return "{" + strings.Join(parts, ",") + "}"
	case int:
		return fmt.Sprint(v)
	case float64:
		return fmt.Sprint(v)
	case string:
		return fmt.Sprintf("%q", v)
	case bool:
		return fmt.Sprint(v)
	}
	return "null"
}
