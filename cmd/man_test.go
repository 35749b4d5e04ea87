package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestManPages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man1")
	_, stderr, code := run(t, "", "man", "--dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, page := range []string{"phpsess.1", "phpsess-find.1", "phpsess-dump.1", "phpsess-load.1", "phpsess-detect.1", "phpsess-get.1"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), ".TH \"PHPSESS") || page != "phpsess.1" && !strings.Contains(string(b), ".SH EXAMPLE") {
			t.Errorf("%s is not a man page with examples:\n%.300s", page, b)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "phpsess-find.1"))
	if !strings.Contains(string(b), "roles[*]") {
		t.Errorf("phpsess-find.1 lacks the --where syntax")
	}
	if _, _, code := run(t, "", "man"); code != ExitUsage {
		t.Errorf("man without --dir: exit %d", code)
	}
}

func TestCompletion(t *testing.T) {
	for shell, marker := range map[string]string{"bash": "__start_phpsess", "zsh": "#compdef phpsess", "fish": "complete -c phpsess"} {
		out, stderr, code := run(t, "", "completion", shell)
		if code != 0 || !strings.Contains(out, marker) {
			t.Errorf("completion %s: exit %d, %d bytes, %s", shell, code, len(out), stderr)
		}
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"get", ""}, []string{"file://", "redis://", "memcached://", "mysql://", "postgres://"}},
		{[]string{"find", ""}, []string{"redis://"}},
		{[]string{"dump", ""}, []string{"file://"}},
		{[]string{"load", ""}, []string{"file://"}},
		{[]string{"decode", "--handler", ""}, []string{"php", "php_binary", "php_serialize", "auto"}},
		{[]string{"find", "redis://x", "--output", ""}, []string{"text", "json"}},
		{[]string{"detect", "--output", ""}, []string{"text", "json"}},
		{[]string{""}, []string{"dump", "load", "find", "detect", "man", "completion"}},
	} {
		out, stderr, code := run(t, "", append([]string{"__complete"}, tc.args...)...)
		if code != 0 {
			t.Errorf("__complete %v: exit %d, %s", tc.args, code, stderr)
			continue
		}
		got := map[string]bool{}
		for _, l := range strings.Split(out, "\n") {
			name, _, _ := strings.Cut(l, "\t")
			got[name] = true
		}
		for _, w := range tc.want {
			if !got[w] {
				t.Errorf("__complete %v: no %q in\n%s", tc.args, w, out)
			}
		}
	}
}
