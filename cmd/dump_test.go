package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/handlers/storetest"
	"github.com/phpsess/phpsess/internal/testenv"
)

// openTestStore opens a store URL and closes it at the end of the test.
func openTestStore(t *testing.T, rawURL string) handlers.Store {
	t.Helper()
	s, err := handlers.Open(context.Background(), rawURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fileStore returns the URL of a files store in an empty temp dir.
func fileStore(t *testing.T, query string) string {
	u := "file://" + t.TempDir() + "?owner=root"
	if query != "" {
		u += "&" + query
	}
	return u
}

// writeRealPayloads writes every php-handler payload PHP 8.2 made in
// testdata (objects, references, floats, binary strings...) as a session,
// with lifetimes from 100 s up, and returns how many. Payloads over 512 KiB
// are left out: memcached's items hold 1 MiB.
func writeRealPayloads(t *testing.T, s handlers.Store) int {
	t.Helper()
	files, _ := filepath.Glob("../testdata/payloads/*.php.sess")
	if len(files) < 10 {
		t.Fatalf("only %d payloads in testdata", len(files))
	}
	n := 0
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 512<<10 {
			continue
		}
		n++
		rec := &handlers.Record{ID: storetest.NewID(), Data: data, TTL: time.Duration(100+i*10) * time.Second}
		if err := s.Write(context.Background(), rec); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	return n
}

// dumpLines runs dump and returns its lines by id, parsed.
func dumpLines(t *testing.T, args ...string) map[string]map[string]any {
	t.Helper()
	out, stderr, code := run(t, "", append([]string{"dump", "-q"}, args...)...)
	if code != 0 {
		t.Fatalf("dump %v: exit %d: %s", args, code, stderr)
	}
	lines := map[string]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("dump line %q: %v", l, err)
		}
		lines[m["id"].(string)] = m
	}
	return lines
}

// sameLines compares two dumps, ttl within 3 seconds, other members
// exactly, except those named in ignore.
func sameLines(t *testing.T, a, b map[string]map[string]any, ignore ...string) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d lines, then %d", len(a), len(b))
	}
	for id, la := range a {
		lb, ok := b[id]
		if !ok {
			t.Fatalf("session %s missing after the round trip", id)
		}
		ta, tb := la["ttl"].(float64), lb["ttl"].(float64)
		if ta-tb > 3 || tb > ta {
			t.Errorf("%s: ttl %v, then %v", id, ta, tb)
		}
		for _, m := range []map[string]any{la, lb} {
			delete(m, "ttl")
			for _, k := range ignore {
				delete(m, k)
			}
		}
		ja, _ := json.Marshal(la)
		jb, _ := json.Marshal(lb)
		if string(ja) != string(jb) {
			t.Errorf("%s:\n %s\n %s", id, ja, jb)
		}
	}
}

// TestDumpLoadAcrossBackends: Redis -> dump -> load into an empty memcached
// -> dump again gives the same lines (ttl counting down); with --raw the
// same payload bytes; into php_serialize the same data.
func TestDumpLoadAcrossBackends(t *testing.T) {
	redisURL := "redis://" + testenv.NewRedis(t).Addr + "/0"
	mcURL := "memcached://" + testenv.NewMemcached(t).Addr
	n := writeRealPayloads(t, openTestStore(t, redisURL))

	first, stderr, code := run(t, "", "dump", "--raw", redisURL)
	if code != 0 || strings.Count(first, "\n") != n {
		t.Fatalf("dump: exit %d, %d lines of %d: %s", code, strings.Count(first, "\n"), n, stderr)
	}
	if !strings.Contains(stderr, fmt.Sprintf("%d sessions written", n)) {
		t.Errorf("dump summary: %q", stderr)
	}
	backup := filepath.Join(t.TempDir(), "sessions.jsonl")
	os.WriteFile(backup, []byte(first), 0o600)
	out, stderr, code := run(t, "", "load", "--raw", mcURL, backup)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("loaded %d sessions", n)) {
		t.Fatalf("load: exit %d, %q, %s", code, out, stderr)
	}
	a := dumpLines(t, "--raw", redisURL)
	b := dumpLines(t, "--raw", mcURL)
	sameLines(t, a, b)

	// without raw, through the JSON form, into php_serialize (whose slot
	// numbers differ: references are renumbered) and back into php
	serURL := "redis://" + testenv.Redis(t) + "/11?handler=php_serialize"
	backURL := "redis://" + testenv.Redis(t) + "/12"
	flushRedis(t, serURL)
	flushRedis(t, backURL)
	if out, stderr, code := run(t, first, "load", serURL); code != 0 {
		t.Fatalf("load into php_serialize: exit %d, %s %s", code, out, stderr)
	}
	ser, stderr, code := run(t, "", "dump", "-q", serURL)
	if code != 0 || !strings.Contains(ser, `"handler":"php_serialize"`) {
		t.Fatalf("dump php_serialize: exit %d, %s", code, stderr)
	}
	if out, stderr, code := run(t, ser, "load", backURL); code != 0 {
		t.Fatalf("load back into php: exit %d, %s %s", code, out, stderr)
	}
	sameLines(t, dumpLines(t, redisURL), dumpLines(t, backURL))
	if _, stderr, code := run(t, first, "load", "--raw", serURL); code != ExitPartial || !strings.Contains(stderr, "the raw payload is php, the store's handler is php_serialize") {
		t.Errorf("load --raw into another handler: exit %d, %s", code, stderr)
	}
}

// flushRedis empties a Redis store through phpsess itself.
func flushRedis(t *testing.T, u string) {
	t.Helper()
	s := openTestStore(t, u)
	s.(handlers.Lister).List(context.Background(), func(id string) error { return s.Destroy(context.Background(), id) })
}

// TestDumpLoadFilesByteIdentical: a backup of a files store restored into
// an empty one gives the same file bytes, and the same dump.
func TestDumpLoadFilesByteIdentical(t *testing.T) {
	src, dst := fileStore(t, ""), fileStore(t, "")
	n := writeRealPayloads(t, openTestStore(t, src))
	dump, stderr, code := run(t, "", "dump", "-q", "--raw", src)
	if code != 0 {
		t.Fatal(stderr)
	}
	if _, stderr, code := run(t, dump, "load", "-q", dst); code != 0 {
		t.Fatal(stderr)
	}
	srcDir := strings.TrimPrefix(strings.Split(src, "?")[0], "file://")
	dstDir := strings.TrimPrefix(strings.Split(dst, "?")[0], "file://")
	files, _ := filepath.Glob(filepath.Join(srcDir, "sess_*"))
	if len(files) != n {
		t.Fatalf("%d files, want %d", len(files), n)
	}
	for _, f := range files {
		a, _ := os.ReadFile(f)
		b, err := os.ReadFile(filepath.Join(dstDir, filepath.Base(f)))
		if err != nil || string(a) != string(b) {
			t.Fatalf("%s: restored %q (%v), want %q", filepath.Base(f), b, err, a)
		}
	}
	sameLines(t, dumpLines(t, "--raw", src), dumpLines(t, "--raw", dst), "modified")
	again, _, _ := run(t, "", "dump", "-q", "--raw", dst)
	sortLines := func(s string) string {
		l := strings.Split(s, "\n")
		sort.Strings(l)
		return strings.Join(l, "\n")
	}
	if strip := func(s string) string { return stripTTLAndModified(sortLines(s)) }; strip(dump) != strip(again) {
		t.Errorf("dump of the restore differs:\n%s\n%s", strip(dump), strip(again))
	}
}

// stripTTLAndModified removes the members that change with time from dump
// lines, leaving the rest byte for byte.
func stripTTLAndModified(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if i := strings.Index(l, `,"ttl":`); i >= 0 {
			j := strings.Index(l, `,"handler":`)
			l = l[:i] + l[j:]
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

// TestLoadReportsLines: bad lines are reported with their number, expired
// ones counted, the rest loaded; the exit code is 4.
func TestLoadReportsLines(t *testing.T) {
	dst := fileStore(t, "")
	id1, id2, id3, id4, id5 := storetest.NewID(), storetest.NewID(), storetest.NewID(), storetest.NewID(), storetest.NewID()
	in := strings.Join([]string{
		`{"id":"` + id1 + `","ttl":600,"handler":"php","data":{"user_id":42}}`,
		`{"id":"` + id2 + `","ttl":600,"data":`,
		`{"id":"` + id3 + `","ttl":0,"handler":"php","data":{"a":1}}`,
		``,
		`{"id":"` + id4 + `","handler":"php_binary","data":{"b":2},"raw":"AWJpOjI7"}`,
		`{"id":"` + id5 + `","ttl":600,"handler":"php","data":{"a|b":1}}`,
		`{"id":"` + id5 + `","ttl":600,"handler":"php","data":{},"colour":"red"}`,
	}, "\n")
	out, stderr, code := run(t, in, "load", dst)
	if code != ExitPartial {
		t.Fatalf("exit %d, %s", code, stderr)
	}
	if out != "loaded 2 sessions of 6 lines in "+strings.Split(strings.TrimPrefix(out, "loaded 2 sessions of 6 lines in "), ";")[0]+"; expired 1, failed 3\n" {
		t.Errorf("summary %q", out)
	}
	for _, want := range []string{
		"phpsess: load: line 2: not a dump line: unexpected EOF\n",
		`phpsess: load: line 6 (session "` + id5 + `"): phpserialize: cannot encode: session key "a|b" contains '|'`,
		`phpsess: load: line 7: not a dump line: json: unknown field "colour"`,
		"phpsess: 3 of 6 lines failed\n",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	got, _, code := run(t, "", "get", dst, id4)
	if code != 0 || got != `{"b":2}`+"\n" {
		t.Errorf("line 4 converted from php_binary: %q, exit %d", got, code)
	}
	if _, _, code := run(t, "", "get", dst, id3); code != ExitNotFound {
		t.Errorf("expired line 3 was written")
	}
	_, stderr, code = run(t, in, "load", "--raw", dst)
	if code != ExitPartial || !strings.Contains(stderr, `line 1 (session "`+id1+`"): no "raw" payload (dump with --raw)`) ||
		!strings.Contains(stderr, "the raw payload is php_binary, the store's handler is php") {
		t.Errorf("load --raw: exit %d, %s", code, stderr)
	}
}

// TestDecodeCodeIgniterFileNames: decode of a copy of CodeIgniter's session
// directory gives ids without the cookie name, as of PHP's without sess_.
func TestDecodeCodeIgniterFileNames(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ci_session1lh4m9qqkhb9su1epvpuo9vu78t3jg12"), []byte(`a|i:1;`), 0o600)
	os.WriteFile(filepath.Join(dir, "sess_k3j5"), []byte(`b|i:2;`), 0o600)
	out, stderr, code := run(t, "", "decode", dir)
	want := `{"id":"1lh4m9qqkhb9su1epvpuo9vu78t3jg12","file":"` + dir + `/ci_session1lh4m9qqkhb9su1epvpuo9vu78t3jg12","handler":"php","data":{"a":1}}
{"id":"k3j5","file":"` + dir + `/sess_k3j5","handler":"php","data":{"b":2}}
`
	if code != 0 || out != want {
		t.Fatalf("exit %d, %s\ngot\n%s\nwant\n%s", code, stderr, out, want)
	}
	out, _, _ = run(t, "", "decode", "--prefix", "app_sess", dir)
	if !strings.Contains(out, `"id":"ci_session1lh4m9qqkhb9su1epvpuo9vu78t3jg12"`) {
		t.Errorf("--prefix app_sess: %s", out)
	}
}
