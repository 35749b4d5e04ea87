package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run executes phpsess in-process and returns stdout, stderr and the exit code.
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Execute(args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func TestDecodeEncodeRoundTripCLI(t *testing.T) {
	files, _ := filepath.Glob("../testdata/payloads/*.sess")
	files2, _ := filepath.Glob("../testdata/payloads/*.ser")
	if len(files) == 0 {
		t.Fatal("no payloads")
	}
	for _, f := range append(files, files2...) {
		h := "serialize"
		for _, cand := range []string{"php_serialize", "php_binary", "php"} {
			if strings.HasSuffix(f, "."+cand+".sess") {
				h = cand
				break
			}
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		js, stderr, code := run(t, string(data), "decode", "--handler", h)
		if code != 0 {
			t.Fatalf("%s: decode exit %d: %s", f, code, stderr)
		}
		back, stderr, code := run(t, js, "encode", "--handler", h)
		if code != 0 || back != string(data) {
			t.Fatalf("%s: decode | encode changed the bytes (exit %d, %s)", f, code, stderr)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		stdin string
		code  int
		msg   string
	}{
		{[]string{"decode"}, `a|i:1;b|b:2;`, ExitFailure, `phpsess: decode standard input: phpserialize: session key "b": offset 10: expected 0; or 1; after b:, found '2'` + "\n"},
		{[]string{"decode", "--handler", "nope"}, ``, ExitUsage, "phpsess: --handler \"nope\": want php, php_binary, php_serialize or serialize, or auto\n"},
		{[]string{"decode", "--bogus"}, ``, ExitUsage, ""},
		{[]string{"decode", "/does/not/exist"}, ``, ExitFailure, ""},
		{[]string{"encode"}, `{"a|b":1}`, ExitFailure, ""},
		{[]string{"encode"}, `{"a":`, ExitFailure, "phpsess: encode standard input: phpserialize: JSON offset 5: unexpected end of JSON\n"},
		{[]string{"encode", "--handler", "auto"}, `{}`, ExitUsage, ""},
	} {
		out, stderr, code := run(t, tc.stdin, tc.args...)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, code, tc.code, stderr)
		}
		if out != "" {
			t.Errorf("%v: wrote %q to stdout on error", tc.args, out)
		}
		if tc.msg != "" && stderr != tc.msg {
			t.Errorf("%v: stderr\n got %q\nwant %q", tc.args, stderr, tc.msg)
		}
		if strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: want one line on stderr, got %q", tc.args, stderr)
		}
	}
}

func TestDecodeAutoAndDirectory(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "sess_a"), []byte(`x|i:1;`), 0o600)
	os.WriteFile(filepath.Join(dir, "sess_b"), []byte(`a:1:{s:1:"x";i:2;}`), 0o600)
	os.WriteFile(filepath.Join(dir, "sess_c"), []byte("\x01xi:3;"), 0o600)
	out, stderr, code := run(t, "", "decode", "--handler", "auto", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := `{"id":"a","file":"` + dir + `/sess_a","handler":"php","data":{"x":1}}
{"id":"b","file":"` + dir + `/sess_b","handler":"php_serialize","data":{"x":2}}
{"id":"c","file":"` + dir + `/sess_c","handler":"php_binary","data":{"x":3}}
`
	if out != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	os.WriteFile(filepath.Join(dir, "sess_d"), []byte(`garbage`), 0o600)
	out, stderr, code = run(t, "", "decode", "--handler", "auto", dir)
	if code != ExitPartial || strings.Count(out, "\n") != 3 || !strings.Contains(stderr, "sess_d") {
		t.Fatalf("exit %d, out %q, stderr %q", code, out, stderr)
	}
}
