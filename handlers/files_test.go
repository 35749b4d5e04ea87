package handlers_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/handlers/storetest"
	"github.com/phpsess/phpsess/internal/testenv"
	"github.com/phpsess/phpsess/phpserialize"
)

// ---------------------------------------------------------------- helpers --

// filesURL is a store URL for dir. New files belong to the test's own user
// (owner=): as root, the automatic owner refuses a root-owned directory.
func filesURL(dir, query string) string {
	q, err := url.ParseQuery(query)
	if err != nil {
		panic(err)
	}
	if !q.Has("owner") {
		q.Set("owner", strconv.Itoa(os.Geteuid()))
	}
	return (&url.URL{Scheme: "file", Path: dir, RawQuery: q.Encode()}).String()
}

// filesHexID returns n random hex characters: CodeIgniter 4's (and 40-character
// CodeIgniter 3) ids.
func filesHexID(n int) func() string {
	return func() string {
		b := make([]byte, (n+1)/2)
		rand.Read(b)
		return hex.EncodeToString(b)[:n]
	}
}

// filesSubdirs makes the depth-2 directories PHP's mod_files.sh would make
// for hex ids (session.sid_bits_per_character=4).
func filesSubdirs(t testing.TB, dir string) {
	t.Helper()
	const alphabet = "0123456789abcdef"
	for _, a := range alphabet {
		for _, b := range alphabet {
			if err := os.MkdirAll(filepath.Join(dir, string(a), string(b)), 0o700); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func filesWrite(t testing.TB, s handlers.Store, rec *handlers.Record) {
	t.Helper()
	if err := s.Write(tctx(t), rec); err != nil {
		t.Fatalf("Write(%s): %v", rec.ID, err)
	}
}

func filesRead(t testing.TB, s handlers.Store, id string) *handlers.Record {
	t.Helper()
	rec, err := s.Read(tctx(t), id)
	if err != nil {
		t.Fatalf("Read(%s): %v", id, err)
	}
	return rec
}

// filesCounter decodes the session variable n.
func filesCounter(t testing.TB, h phpserialize.Handler, data []byte) int {
	t.Helper()
	sess, err := phpserialize.DecodeSession(h, data)
	if err != nil {
		t.Fatalf("decode %q: %v", data, err)
	}
	v, ok := sess.Lookup("n")
	if !ok {
		t.Fatalf("no n in %q", data)
	}
	return int(v.Int())
}

// filesSetVars returns data with the given session variables set.
func filesSetVars(t testing.TB, h phpserialize.Handler, data []byte, kv ...any) []byte {
	t.Helper()
	sess := &phpserialize.Array{}
	if len(data) > 0 {
		var err error
		if sess, err = phpserialize.DecodeSession(h, data); err != nil {
			t.Fatalf("decode %q: %v", data, err)
		}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		v, err := phpserialize.ToValue(kv[i+1])
		if err != nil {
			t.Fatal(err)
		}
		sess.Set(phpserialize.ArrayKey(kv[i].(string)), v)
	}
	out, err := phpserialize.EncodeSession(h, sess)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func filesInode(t testing.TB, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// ------------------------------------------------------------ conformance --

func TestFilesConformance(t *testing.T) {
	cases := []struct {
		name, query string
		newID       func() string
		prepare     func(t testing.TB, dir string)
	}{
		{name: "native", query: "layout=native"},
		{name: "native_php_serialize", query: "handler=php_serialize"},
		{name: "native_php_binary", query: "handler=php_binary"},
		{name: "native_depth2", query: "depth=2&mode=0640", newID: filesHexID(32), prepare: filesSubdirs},
		{name: "ci3", query: "layout=ci3"},
		{name: "ci3_php_serialize", query: "layout=ci3&handler=php_serialize"},
		{name: "ci3_match_ip", query: "layout=ci3&match_ip=on&ip=10.1.2.3"},
		{name: "ci3_40hex", query: "layout=ci3&sid_length=32&sid_bits_per_character=4", newID: filesHexID(40)},
		{name: "ci4", query: "layout=ci4", newID: filesHexID(32)},
		{name: "ci4_php_serialize", query: "layout=ci4&handler=php_serialize", newID: filesHexID(32)},
		{name: "ci4_match_ip", query: "layout=ci4&match_ip=on&ip=2001:db8::1", newID: filesHexID(32)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if c.prepare != nil {
				c.prepare(t, dir)
			}
			storetest.Run(t, storetest.Config{
				Open: func(t *testing.T, extra url.Values) handlers.Store {
					q := c.query
					if len(extra) > 0 {
						q += "&" + extra.Encode()
					}
					return openStore(t, filesURL(dir, q))
				},
				NewID: c.newID,
				// PHP reads a file past its lifetime until the GC removes it.
				Expires: false,
			})
		})
	}
}

// ----------------------------------------------------- options and layout --

func TestFilesOptions(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o600)
	bad := map[string]string{
		"native&cookie=x":                     `unknown option "cookie"`,
		"depth=-1":                            "depth=-1",
		"depth=x":                             `depth="x"`,
		"mode=0999":                           `mode="0999"`,
		"mode=10000":                          `mode="10000"`,
		"prefix=a/b":                          `prefix="a/b"`,
		"layout=ci3&depth=1":                  `unknown option "depth"`,
		"layout=ci3&mode=0600":                `unknown option "mode"`,
		"layout=ci4&sid_bits_per_character=7": "sid_bits_per_character=7",
		"layout=ci3&sid_length=10":            "sid_length=10",
		"layout=ci3&ip=10.0.0.1":              "only used with match_ip=on",
		"layout=ci3&match_ip=on&ip=x":         "not an IP address",
		"layout=ci3&cookie=a/b":               `cookie="a/b"`,
		"layout=ci5":                          `layout="ci5"`,
		"ttl=0":                               "lifetime above 0",
		"owner=no-such-user-phpsess":          "no-such-user-phpsess",
		"lock_timeout=soon":                   "lock_timeout",
	}
	for q, want := range bad {
		_, err := handlers.Open(tctx(t), filesURL(dir, strings.TrimPrefix(q, "native&")))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(?%s) = %v, want an error with %q", q, err, want)
		}
	}
	for _, u := range []string{
		"file:///no/such/dir/phpsess",
		"file://" + notDir,
		"file://example.com/tmp",
		"file://",
	} {
		if _, err := handlers.Open(tctx(t), u); err == nil {
			t.Errorf("Open(%s) did not fail", u)
		}
	}
	if os.Geteuid() != 0 {
		if _, err := handlers.Open(tctx(t), filesURL(dir, "owner=0")); err == nil {
			t.Errorf("owner=0 accepted for a non-root process")
		}
	}

	for _, c := range []struct {
		query, layout string
		ttl           time.Duration
		collector     bool
	}{
		{"", "native", 1440 * time.Second, true},
		{"depth=1", "native", 1440 * time.Second, false},
		{"layout=ci3", "ci3", 7200 * time.Second, true},
		{"layout=ci4&ttl=300&lock=off&handler=php_serialize", "ci4", 300 * time.Second, true},
	} {
		s := openStore(t, filesURL(dir, c.query))
		info := s.Info()
		if info.Backend != "file" || info.Layout != c.layout || info.TTL != c.ttl || !strings.HasPrefix(info.URL, "file://") {
			t.Errorf("?%s: Info = %+v", c.query, info)
		}
		if want := !strings.Contains(c.query, "lock=off"); info.Locking != want {
			t.Errorf("?%s: Locking = %v", c.query, info.Locking)
		}
		if _, ok := s.(handlers.Collector); ok != c.collector {
			t.Errorf("?%s: Collector = %v, want %v (PHP collects only at depth 0)", c.query, ok, c.collector)
		}
		if _, ok := s.(interface {
			handlers.Lister
			handlers.Locker
			handlers.Toucher
		}); !ok {
			t.Errorf("?%s: not a Lister, Locker and Toucher", c.query)
		}
	}
}

// TestFilesNaming checks the exact file each layout uses.
func TestFilesNaming(t *testing.T) {
	md5ip := func(ip string) string { s := md5.Sum([]byte(ip)); return hex.EncodeToString(s[:]) }
	cases := []struct {
		query, id, ip, file string
		mode                os.FileMode
	}{
		{"", "abc123", "", "sess_abc123", 0o600},
		{"mode=0640&prefix=php_", "abc123", "", "php_abc123", 0o640},
		{"depth=2", "abc123", "", "a/b/sess_abc123", 0o600},
		{"layout=ci3", "0123456789abcdefghijklmnopqrstuv", "", "ci_session0123456789abcdefghijklmnopqrstuv", 0o600},
		{"layout=ci3&cookie=app&match_ip=on", "0123456789abcdefghijklmnopqrstuv", "192.0.2.7", "app" + md5ip("192.0.2.7") + "0123456789abcdefghijklmnopqrstuv", 0o600},
		{"layout=ci4&match_ip=yes&ip=192.0.2.8", "0123456789abcdef0123456789abcdef", "", "ci_session" + md5ip("192.0.2.8") + "0123456789abcdef0123456789abcdef", 0o600},
		{"layout=ci3&sid_length=32&sid_bits_per_character=4", strings.Repeat("ab", 20), "", "ci_session" + strings.Repeat("ab", 20), 0o600},
		{"layout=ci3&sid_length=22&sid_bits_per_character=6", strings.Repeat("aZ,-", 7)[:27], "", "ci_session" + strings.Repeat("aZ,-", 7)[:27], 0o600},
	}
	for _, c := range cases {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "a", "b"), 0o700)
		s := openStore(t, filesURL(dir, c.query))
		filesWrite(t, s, &handlers.Record{ID: c.id, Data: []byte("x|i:1;"), Meta: handlers.Meta{IP: c.ip}})
		fi, err := os.Stat(filepath.Join(dir, c.file))
		if err != nil {
			t.Errorf("?%s: %v", c.query, err)
			continue
		}
		if fi.Mode() != c.mode {
			t.Errorf("?%s: mode %v, want %v", c.query, fi.Mode(), c.mode)
		}
	}

	// CodeIgniter's id rules: exact length and alphabet.
	ci := map[string][]string{
		"layout=ci3": {strings.Repeat("a", 31), strings.Repeat("a", 33), strings.Repeat("w", 32), strings.Repeat("A", 32)},
		"layout=ci4": {strings.Repeat("a", 40), strings.Repeat("A", 32), strings.Repeat("g", 32), strings.Repeat("0", 26)},
		"depth=2":    {"a", "ab"},
	}
	for q, ids := range ci {
		s := openStore(t, filesURL(t.TempDir(), q))
		for _, id := range ids {
			if _, err := s.Read(tctx(t), id); !errors.Is(err, handlers.ErrInvalidID) {
				t.Errorf("?%s: Read(%q) = %v, want ErrInvalidID", q, id, err)
			}
		}
	}
	// match_ip needs the IP.
	s := openStore(t, filesURL(t.TempDir(), "layout=ci4&match_ip=on"))
	id := filesHexID(32)()
	if _, err := s.Read(tctx(t), id); err == nil || !strings.Contains(err.Error(), "ip=") {
		t.Errorf("Read without the IP: %v", err)
	}
	if err := s.(handlers.Lister).List(tctx(t), func(string) error { return nil }); err == nil {
		t.Errorf("List without the IP did not fail")
	}
	filesWrite(t, s, &handlers.Record{ID: id, Data: []byte("a|i:1;"), Meta: handlers.Meta{IP: "127.0.0.1"}})
}

// --------------------------------------------------- expiry, touch and GC --

func TestFilesTTL(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, filesURL(dir, ""))
	path := func(id string) string { return filepath.Join(dir, "sess_"+id) }
	mtime := func(id string) time.Time {
		fi, err := os.Stat(path(id))
		if err != nil {
			t.Fatal(err)
		}
		return fi.ModTime()
	}
	near := func(what string, got, want time.Duration) {
		t.Helper()
		if d := got - want; d < -2*time.Second || d > time.Second {
			t.Errorf("%s = %v, want about %v", what, got, want)
		}
	}

	filesWrite(t, s, &handlers.Record{ID: "dflt", Data: []byte("a|i:1;")})
	near("TTL after a default write", filesRead(t, s, "dflt").TTL, 1440*time.Second)
	near("mtime age after a default write", time.Since(mtime("dflt")), 0)

	filesWrite(t, s, &handlers.Record{ID: "short", Data: []byte("a|i:1;"), TTL: 100 * time.Second})
	near("TTL after writing 100s", filesRead(t, s, "short").TTL, 100*time.Second)
	near("mtime age after writing 100s", time.Since(mtime("short")), 1340*time.Second)

	filesWrite(t, s, &handlers.Record{ID: "long", Data: []byte("a|i:1;"), TTL: 3000 * time.Second})
	near("TTL after writing 3000s", filesRead(t, s, "long").TTL, 3000*time.Second)
	if !mtime("long").After(time.Now()) {
		t.Errorf("a TTL beyond the lifetime should put the mtime in the future")
	}

	tc := s.(handlers.Toucher)
	if err := tc.Touch(tctx(t), "short", 200*time.Second); err != nil {
		t.Fatal(err)
	}
	near("TTL after Touch(200s)", filesRead(t, s, "short").TTL, 200*time.Second)
	if err := tc.Touch(tctx(t), "short", 0); err != nil {
		t.Fatal(err)
	}
	near("TTL after Touch(0)", filesRead(t, s, "short").TTL, 1440*time.Second)
	if err := tc.Touch(tctx(t), "missing", 0); !errors.Is(err, handlers.ErrNotFound) {
		t.Errorf("Touch of a missing session: %v", err)
	}
	if _, err := os.Stat(path("missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Touch created a file")
	}

	// Past its lifetime, a file is still read (as PHP reads it until its GC).
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(path("dflt"), old, old)
	rec := filesRead(t, s, "dflt")
	if rec.TTL != 0 || string(rec.Data) != "a|i:1;" || !rec.Modified.Equal(old) {
		t.Errorf("stale Read = TTL %v, data %q, modified %v", rec.TTL, rec.Data, rec.Modified)
	}
}

func TestFilesGC(t *testing.T) {
	now := time.Now()
	age := func(path string, d time.Duration) {
		if err := os.Chtimes(path, now.Add(-d), now.Add(-d)); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("native", func(t *testing.T) {
		dir := t.TempDir()
		s := openStore(t, filesURL(dir, "ttl=1440"))
		files := map[string]time.Duration{
			"sess_old":         1442 * time.Second, // removed: now - mtime > 1440
			"sess_bad.name":    2000 * time.Second, // removed: PHP takes any sess_*
			"sess_edge":        1440 * time.Second, // kept: not more than 1440
			"sess_fresh":       10 * time.Second,
			"other_old":        5000 * time.Second, // kept: not ours
			"sub/sess_nested":  5000 * time.Second, // kept: depth 0 only
			"sess_locked":      5000 * time.Second, // kept while a request holds it
			"ci_sessionabcdef": 5000 * time.Second,
		}
		for name, d := range files {
			p := filepath.Join(dir, name)
			os.MkdirAll(filepath.Dir(p), 0o700)
			os.WriteFile(p, []byte("a|i:1;"), 0o600)
			age(p, d)
		}
		lk, err := s.(handlers.Locker).Lock(tctx(t), "locked")
		if err != nil {
			t.Fatal(err)
		}
		age(filepath.Join(dir, "sess_locked"), 5000*time.Second)
		n, err := s.(handlers.Collector).GC(tctx(t))
		if err != nil || n != 2 {
			t.Errorf("GC = %d, %v; want 2", n, err)
		}
		lk.Unlock(tctx(t))
		for name := range files {
			_, err := os.Stat(filepath.Join(dir, name))
			gone := errors.Is(err, os.ErrNotExist)
			if want := name == "sess_old" || name == "sess_bad.name"; gone != want {
				t.Errorf("%s: removed = %v, want %v", name, gone, want)
			}
		}
		// Once the request is over, the GC takes it.
		if n, err := s.(handlers.Collector).GC(tctx(t)); err != nil || n != 1 {
			t.Errorf("second GC = %d, %v; want 1", n, err)
		}
	})
	t.Run("ci", func(t *testing.T) {
		dir := t.TempDir()
		s := openStore(t, filesURL(dir, "layout=ci4&match_ip=on&ip=127.0.0.1&ttl=7200"))
		id := strings.Repeat("a", 32)
		m1, m2 := md5.Sum([]byte("127.0.0.1")), md5.Sum([]byte("10.0.0.1"))
		files := map[string]time.Duration{
			"ci_session" + hex.EncodeToString(m1[:]) + id:           7200 * time.Second, // removed: mtime <= now - 7200
			"ci_session" + hex.EncodeToString(m2[:]) + id:           8000 * time.Second, // removed: any IP
			"ci_session" + hex.EncodeToString(m2[:]) + "b" + id[1:]: 7198 * time.Second,
			"ci_session" + id: 9000 * time.Second, // kept: no md5 part
			"ci_session" + hex.EncodeToString(m1[:]) + id + "0": 9000 * time.Second, // kept: 33 characters
			"other" + hex.EncodeToString(m1[:]) + id:            9000 * time.Second,
			"sess_" + id:                                        9000 * time.Second,
		}
		for name, d := range files {
			p := filepath.Join(dir, name)
			os.WriteFile(p, nil, 0o600)
			age(p, d)
		}
		n, err := s.(handlers.Collector).GC(tctx(t))
		if err != nil || n != 2 {
			t.Errorf("GC = %d, %v; want 2", n, err)
		}
		left, _ := os.ReadDir(dir)
		if len(left) != len(files)-2 {
			t.Errorf("%d files left, want %d", len(left), len(files)-2)
		}
	})
}

func TestFilesList(t *testing.T) {
	t.Run("native", func(t *testing.T) {
		dir := t.TempDir()
		s := openStore(t, filesURL(dir, ""))
		want := map[string]bool{}
		for i := range 700 { // more than one ReadDir chunk
			id := fmt.Sprintf("id%04d", i)
			want[id] = true
			os.WriteFile(filepath.Join(dir, "sess_"+id), nil, 0o600)
		}
		os.WriteFile(filepath.Join(dir, "sess_bad.id"), nil, 0o600)
		os.WriteFile(filepath.Join(dir, "sess_"), nil, 0o600)
		os.WriteFile(filepath.Join(dir, "ci_sessionabc"), nil, 0o600)
		os.Mkdir(filepath.Join(dir, "sess_adir"), 0o700)
		os.Symlink("/etc/passwd", filepath.Join(dir, "sess_link"))
		got := map[string]bool{}
		err := s.(handlers.Lister).List(tctx(t), func(id string) error {
			if got[id] {
				t.Errorf("%s listed twice", id)
			}
			got[id] = true
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Errorf("listed %d ids, want %d", len(got), len(want))
		}
		for id := range got {
			if !want[id] {
				t.Errorf("listed %q", id)
			}
		}
	})
	t.Run("depth2", func(t *testing.T) {
		dir := t.TempDir()
		filesSubdirs(t, dir)
		s := openStore(t, filesURL(dir, "depth=2"))
		for _, id := range []string{"abc", "ab1", "ff9"} {
			os.MkdirAll(filepath.Join(dir, id[:1], id[1:2]), 0o700)
			filesWrite(t, s, &handlers.Record{ID: id, Data: []byte("a|i:1;")})
		}
		os.WriteFile(filepath.Join(dir, "a", "c", "sess_abx"), nil, 0o600) // in the wrong directory
		os.WriteFile(filepath.Join(dir, "sess_top"), nil, 0o600)           // not at depth 2
		var got []string
		if err := s.(handlers.Lister).List(tctx(t), func(id string) error { got = append(got, id); return nil }); err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if strings.Join(got, ",") != "ab1,abc,ff9" {
			t.Errorf("List = %v, want ab1 abc ff9", got)
		}
	})
}

// ---------------------------------------------------------------- locking --

func TestFilesLocked(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, filesURL(dir, "lock_timeout=0.2"))
	l := s.(handlers.Locker)

	lk, err := l.Lock(tctx(t), "fresh")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lk.Read(tctx(t)); !errors.Is(err, handlers.ErrNotFound) {
		t.Errorf("Read of a session Lock created: %v, want ErrNotFound", err)
	}
	// Another reader waits for the writer's lock (and gives up here).
	if _, err := s.Read(tctx(t), "fresh"); !errors.Is(err, handlers.ErrLockTimeout) {
		t.Errorf("Read while locked: %v, want ErrLockTimeout", err)
	}
	if err := s.Destroy(tctx(t), "fresh"); !errors.Is(err, handlers.ErrLockTimeout) {
		t.Errorf("Destroy while locked: %v, want ErrLockTimeout", err)
	}
	if err := lk.Write(tctx(t), &handlers.Record{Data: []byte("a|i:1;")}); err != nil {
		t.Fatal(err)
	}
	if rec, err := lk.Read(tctx(t)); err != nil || string(rec.Data) != "a|i:1;" {
		t.Errorf("Read after Write under lock: %v %v", rec, err)
	}
	if err := lk.Destroy(tctx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := lk.Read(tctx(t)); !errors.Is(err, handlers.ErrNotFound) {
		t.Errorf("Read after Destroy: %v", err)
	}
	if err := lk.Write(tctx(t), &handlers.Record{Data: []byte("x")}); err == nil {
		t.Errorf("Write after Destroy under the lock succeeded")
	}
	lk.Unlock(tctx(t))
	if err := lk.Unlock(tctx(t)); err != nil {
		t.Errorf("second Unlock: %v", err)
	}
	if _, err := lk.Read(tctx(t)); err == nil {
		t.Errorf("Read after Unlock succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "sess_fresh")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("destroyed session file still there: %v", err)
	}

	// A Lock that writes nothing leaves no file behind (a failed
	// compare-and-set of the sidecar must not create a session).
	lk, _ = l.Lock(tctx(t), "empty")
	lk.Unlock(tctx(t))
	if _, err := s.Read(tctx(t), "empty"); !errors.Is(err, handlers.ErrNotFound) {
		t.Errorf("Read after a Lock that wrote nothing = %v, want ErrNotFound", err)
	}
	// An empty file PHP wrote is a session, and stays one.
	os.WriteFile(filepath.Join(dir, "sess_phpempty"), nil, 0o600)
	lk, _ = l.Lock(tctx(t), "phpempty")
	lk.Unlock(tctx(t))
	if rec, err := s.Read(tctx(t), "phpempty"); err != nil || len(rec.Data) != 0 {
		t.Errorf("Read of an empty session file = %v, %v", rec, err)
	}

	// The context ends a lock wait, and it is not a lock timeout.
	slow := openStore(t, filesURL(dir, "lock_timeout=30"))
	lk, _ = l.Lock(tctx(t), "held")
	defer lk.Unlock(tctx(t))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = slow.Write(ctx, &handlers.Record{ID: "held", Data: []byte("x")})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, handlers.ErrLockTimeout) || time.Since(start) > 2*time.Second {
		t.Errorf("Write with an ending context = %v after %v", err, time.Since(start))
	}

	// lock=off: Update does not hold the lock, but a Write still takes it.
	off := openStore(t, filesURL(dir, "lock=off&lock_timeout=0.1"))
	if off.Info().Locking {
		t.Errorf("lock=off: Locking = true")
	}
	if err := off.Write(tctx(t), &handlers.Record{ID: "held", Data: []byte("x")}); !errors.Is(err, handlers.ErrLockTimeout) {
		t.Errorf("lock=off Write while locked: %v, want ErrLockTimeout", err)
	}
}

// TestFilesInPlace checks that writes keep the inode (no rename), so a PHP
// process blocked in flock on it writes to the live file.
func TestFilesInPlace(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, filesURL(dir, ""))
	filesWrite(t, s, &handlers.Record{ID: "inode", Data: bytes.Repeat([]byte("x"), 5000)})
	p := filepath.Join(dir, "sess_inode")
	before := filesInode(t, p)
	for _, n := range []int{10, 9000, 0, 1} {
		filesWrite(t, s, &handlers.Record{ID: "inode", Data: bytes.Repeat([]byte("y"), n)})
		if b, _ := os.ReadFile(p); len(b) != n {
			t.Errorf("after writing %d bytes the file has %d", n, len(b))
		}
	}
	if after := filesInode(t, p); after != before {
		t.Errorf("Write replaced the file: inode %d -> %d", before, after)
	}
}

// ---------------------------------------------------------- hostile input --

func TestFilesHostile(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, filesURL(dir, "lock_timeout=1"))
	secret := []byte("secret|s:6:\"hunter\";")

	t.Run("ids", func(t *testing.T) {
		outside := filepath.Join(filepath.Dir(dir), "sess_escape")
		for _, id := range []string{"../sess_escape", "..", ".", "a/../../b", "/etc/passwd", "a\x00b", "ab\n", "a;b", "ä", " "} {
			if err := s.Write(tctx(t), &handlers.Record{ID: id, Data: secret}); !errors.Is(err, handlers.ErrInvalidID) {
				t.Errorf("Write(%q) = %v", id, err)
			} else if strings.Contains(err.Error(), "hunter") {
				t.Errorf("error shows the data: %v", err)
			}
			if err := s.(handlers.Toucher).Touch(tctx(t), id, 0); !errors.Is(err, handlers.ErrInvalidID) {
				t.Errorf("Touch(%q) = %v", id, err)
			}
			if _, err := s.(handlers.Locker).Lock(tctx(t), id); !errors.Is(err, handlers.ErrInvalidID) {
				t.Errorf("Lock(%q) = %v", id, err)
			}
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("invalid ids made files: %v", ents)
		}
		if _, err := os.Stat(outside); err == nil {
			t.Errorf("a file escaped the directory")
		}
	})

	t.Run("undecodable", func(t *testing.T) {
		// The store moves bytes: what PHP could not decode is kept as is
		// (the encoder and the CLI refuse it, not the store).
		for _, data := range [][]byte{[]byte("a|i:1;b|s:5:\"xy\";"), {0, 0xff, '|', 0}, nil} {
			filesWrite(t, s, &handlers.Record{ID: "junk", Data: data})
			rec := filesRead(t, s, "junk")
			if !bytes.Equal(rec.Data, data) {
				t.Errorf("Read = %q, want %q", rec.Data, data)
			}
		}
		filesWrite(t, s, &handlers.Record{ID: "junk", Data: []byte("a|i:1;b|s:5:\"xy\";")})
		if _, err := phpserialize.DecodeSession(phpserialize.HandlerPHP, filesRead(t, s, "junk").Data); err == nil {
			t.Errorf("the decoder accepted a payload PHP refuses")
		}
	})

	t.Run("symlink", func(t *testing.T) {
		target := filepath.Join(t.TempDir(), "target")
		os.WriteFile(target, []byte("keep"), 0o600)
		os.Symlink(target, filepath.Join(dir, "sess_link"))
		_, rerr := s.Read(tctx(t), "link")
		werr := s.Write(tctx(t), &handlers.Record{ID: "link", Data: secret})
		terr := s.(handlers.Toucher).Touch(tctx(t), "link", 0)
		_, lerr := s.(handlers.Locker).Lock(tctx(t), "link")
		for _, err := range []error{rerr, werr, terr, lerr} {
			if err == nil || !strings.Contains(err.Error(), "symbolic link") {
				t.Errorf("session file is a symlink: %v", err)
			}
		}
		if b, _ := os.ReadFile(target); string(b) != "keep" {
			t.Errorf("the symlink's target was written: %q", b)
		}
	})

	t.Run("fifo_and_dir", func(t *testing.T) {
		if err := syscall.Mkfifo(filepath.Join(dir, "sess_fifo"), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Mkdir(filepath.Join(dir, "sess_dir"), 0o700)
		for _, id := range []string{"fifo", "dir"} {
			done := make(chan error, 2)
			go func() { _, err := s.Read(tctx(t), id); done <- err }()
			go func() { done <- s.Write(tctx(t), &handlers.Record{ID: id, Data: secret}) }()
			for range 2 {
				select {
				case err := <-done:
					if err == nil || !strings.Contains(err.Error(), "not a regular file") {
						t.Errorf("%s: %v", id, err)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("%s: blocked", id)
				}
			}
		}
	})

	t.Run("huge_file", func(t *testing.T) {
		p := filepath.Join(dir, "sess_huge")
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		os.Truncate(p, 2<<30) // sparse: no disk used
		_, err := s.Read(tctx(t), "huge")
		if err == nil || !strings.Contains(err.Error(), "too large") {
			t.Errorf("Read of a 2 GiB file: %v", err)
		}
		os.Remove(p)
	})

	t.Run("file_instead_of_dir", func(t *testing.T) {
		d := t.TempDir()
		os.WriteFile(filepath.Join(d, "a"), nil, 0o600) // where depth=1 wants a directory
		s := openStore(t, filesURL(d, "depth=1"))
		err := s.Write(tctx(t), &handlers.Record{ID: "abc", Data: secret})
		if err == nil || !strings.Contains(err.Error(), "not a directory") || !strings.Contains(err.Error(), `"abc"`) {
			t.Errorf("Write under a file: %v", err)
		}
		if _, err := s.Read(tctx(t), "abc"); err == nil {
			t.Errorf("Read under a file succeeded")
		}
		// A missing subdirectory is not created (PHP does not create them).
		err = s.Write(tctx(t), &handlers.Record{ID: "bcd", Data: secret})
		if err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("Write into a missing subdirectory: %v", err)
		}
		if _, err := s.Read(tctx(t), "bcd"); !errors.Is(err, handlers.ErrNotFound) {
			t.Errorf("Read from a missing subdirectory: %v, want ErrNotFound", err)
		}
	})

	t.Run("read_only_dir", func(t *testing.T) {
		d := t.TempDir()
		w := openStore(t, filesURL(d, ""))
		filesWrite(t, w, &handlers.Record{ID: "old", Data: []byte("a|i:1;")})
		ro, mounted := filesReadOnly(t, d)
		s := openStore(t, filesURL(ro, ""))
		ids := []string{"new"}
		if mounted {
			ids = append(ids, "old") // a 0500 directory still lets its files be written
		}
		for _, id := range ids {
			err := s.Write(tctx(t), &handlers.Record{ID: id, Data: secret})
			if err == nil || !(strings.Contains(err.Error(), "read-only") || strings.Contains(err.Error(), "permission denied")) {
				t.Errorf("Write(%s) to a read-only directory: %v", id, err)
			}
		}
		if rec := filesRead(t, s, "old"); mounted && string(rec.Data) != "a|i:1;" {
			t.Errorf("Read = %q", rec.Data)
		}
	})

	t.Run("disk_full", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Log("a full file system needs a small tmpfs, which only root can mount: checked when run as root")
			return
		}
		d := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", d).CombinedOutput(); err != nil {
			t.Fatalf("mount tmpfs: %v: %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", d).Run() })
		s := openStore(t, filesURL(d, ""))
		filesWrite(t, s, &handlers.Record{ID: "full", Data: []byte("a|i:1;")})
		big := bytes.Repeat([]byte("x"), 200<<10)
		err := s.Write(tctx(t), &handlers.Record{ID: "full", Data: big})
		if err == nil || !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), `file write session "full"`) {
			t.Fatalf("Write past a full disk: %v", err)
		}
		if len(err.Error()) > 300 {
			t.Errorf("error too long (holds data?): %.300s", err)
		}
		if rec := filesRead(t, s, "full"); string(rec.Data) != "a|i:1;" {
			t.Errorf("after a failed write Read = %.40q, want the previous payload", rec.Data)
		}
		if err := s.Write(tctx(t), &handlers.Record{ID: "other", Data: big}); err == nil {
			t.Errorf("a new session past a full disk was written")
		}
		if rec, err := s.Read(tctx(t), "other"); err == nil && len(rec.Data) != 0 {
			t.Errorf("a failed new session holds %d bytes", len(rec.Data))
		}
	})
}

// filesReadOnly returns a read-only view of dir: a read-only bind mount as
// root (whom chmod does not stop; mounted is true), else dir itself made
// 0500.
func filesReadOnly(t *testing.T, dir string) (ro string, mounted bool) {
	t.Helper()
	if os.Geteuid() != 0 {
		os.Chmod(dir, 0o500)
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		return dir, false
	}
	ro = t.TempDir()
	if out, err := exec.Command("mount", "--bind", "-o", "ro", dir, ro).CombinedOutput(); err != nil {
		t.Fatalf("read-only bind mount: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", ro).Run() })
	// older mount(8) ignore ro on the first bind: remount to be sure
	exec.Command("mount", "-o", "remount,bind,ro", ro).Run()
	if err := os.WriteFile(filepath.Join(ro, "probe"), nil, 0o600); err == nil {
		t.Fatalf("bind mount %s is writable", ro)
	}
	return ro, true
}

// ------------------------------------------------------------- ownership --

func TestFilesOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		// Not root: files are ours, and owner= cannot name another user
		// (TestFilesOptions). The rest needs root to chown.
		s := openStore(t, filesURL(t.TempDir(), ""))
		filesWrite(t, s, &handlers.Record{ID: "mine", Data: nil})
		t.Log("chown checks need root: checked when run as root")
		return
	}
	const nobody = 65534
	stat := func(p string) *syscall.Stat_t {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t)
	}

	// automatic: the directory's owner
	dir := t.TempDir()
	os.Chown(dir, nobody, nobody)
	auto := openStore(t, "file://"+dir)
	filesWrite(t, auto, &handlers.Record{ID: "auto", Data: []byte("a|i:1;")})
	if st := stat(filepath.Join(dir, "sess_auto")); st.Uid != nobody || st.Gid != nobody || st.Mode&0o777 != 0o600 {
		t.Errorf("auto owner: uid %d gid %d mode %o", st.Uid, st.Gid, st.Mode&0o777)
	}

	// automatic in a root-owned directory: refused, with advice
	rootDir := t.TempDir()
	rs := openStore(t, "file://"+rootDir)
	err := rs.Write(tctx(t), &handlers.Record{ID: "x", Data: nil})
	if err == nil || !strings.Contains(err.Error(), "owner=") {
		t.Errorf("auto owner in a root-owned dir: %v", err)
	}
	if ents, _ := os.ReadDir(rootDir); len(ents) != 0 {
		t.Errorf("a refused file was left: %v", ents)
	}

	// explicit
	es := openStore(t, "file://"+rootDir+"?owner=12345:23456")
	filesWrite(t, es, &handlers.Record{ID: "explicit", Data: nil})
	if st := stat(filepath.Join(rootDir, "sess_explicit")); st.Uid != 12345 || st.Gid != 23456 {
		t.Errorf("owner=12345:23456: uid %d gid %d", st.Uid, st.Gid)
	}
	// an existing file keeps its owner (and inode)
	p := filepath.Join(rootDir, "sess_theirs")
	os.WriteFile(p, []byte("old"), 0o600)
	os.Chown(p, 4242, 4243)
	ino := filesInode(t, p)
	filesWrite(t, es, &handlers.Record{ID: "theirs", Data: []byte("new")})
	if st := stat(p); st.Uid != 4242 || st.Gid != 4243 || st.Ino != ino {
		t.Errorf("rewritten file: uid %d gid %d inode %d", st.Uid, st.Gid, st.Ino)
	}
}

// TestFilesOwnerWithPHP runs PHP as nobody: it opens the session Go created
// as root for the directory's owner, and refuses (as the spec says) a file
// owned by another user.
func TestFilesOwnerWithPHP(t *testing.T) {
	php := testenv.PHP(t)
	if os.Geteuid() != 0 {
		t.Log("running PHP as another user needs root: checked when run as root")
		return
	}
	const nobody = 65534
	dir, err := os.MkdirTemp("", "phpsess-files-owner-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o700)
	os.Chown(dir, nobody, nobody)
	s := openStore(t, "file://"+dir)
	filesWrite(t, s, &handlers.Record{ID: "fromgo", Data: storetest.Counter(phpserialize.HandlerPHP, 7)})
	os.WriteFile(filepath.Join(dir, "sess_foreign"), []byte("n|i:1;"), 0o666)
	os.Chown(filepath.Join(dir, "sess_foreign"), 4242, 4242)
	os.Chmod(filepath.Join(dir, "sess_foreign"), 0o666) // so that only the owner check stops PHP

	run := func(id string) string {
		cmd := exec.Command(php, "-d", "session.save_path="+dir, "-d", "display_errors=stderr", "-r",
			`$errs = []; set_error_handler(function ($no, $msg) use (&$errs) { $errs[] = $msg; return true; });`+
				`session_id($argv[1]); session_start(); echo json_encode([$_SESSION['n'] ?? null, implode('; ', $errs)]);`, "--", id)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("php as nobody: %v", err)
		}
		return string(out)
	}
	if out := run("fromgo"); out != `[7,""]` {
		t.Errorf("PHP as nobody reading Go's session: %s", out)
	}
	if out := run("foreign"); !strings.Contains(out, "not created by your uid") {
		t.Errorf("PHP as nobody reading a file of uid 4242: %s", out)
	}
}

// ---------------------------------------------------- PHP interop: native --

// filesPHPCounter is the PHP side: count n up in the session; optionally touch a
// marker file once the session is open and then sleep, holding its lock.
const filesPHPCounter = `<?php
if (isset($_GET['gc'])) { ini_set('session.gc_probability', '1'); ini_set('session.gc_divisor', '1'); }
session_start();
if (($_GET['op'] ?? 'inc') === 'inc') { $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1; }
if (isset($_GET['marker'])) { touch($_GET['marker']); }
if (isset($_GET['ms'])) { usleep((int) $_GET['ms'] * 1000); }
header('Content-Type: application/json');
echo json_encode(['id' => session_id(), 'n' => $_SESSION['n'] ?? null, 'enc' => base64_encode(session_encode())]);
`

type filesReply struct {
	ID   string `json:"id"`
	N    int    `json:"n"`
	Enc  []byte `json:"enc"`
	File string `json:"file"`
}

// filesGet requests url with the client (and its cookie jar), or with the
// cookie header given.
func filesGet(t testing.TB, c *http.Client, u, cookie string) (filesReply, error) {
	req, _ := http.NewRequest("GET", u, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := c.Do(req)
	if err != nil {
		return filesReply{}, err
	}
	defer resp.Body.Close()
	var r filesReply
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != 200 {
		return r, fmt.Errorf("%s: %s: %s", u, resp.Status, buf.Bytes())
	}
	if err := json.Unmarshal(buf.Bytes(), &r); err != nil {
		return r, fmt.Errorf("%s: %v: %s", u, err, buf.Bytes())
	}
	return r, nil
}

func filesMustGet(t testing.TB, c *http.Client, u, cookie string) filesReply {
	t.Helper()
	r, err := filesGet(t, c, u, cookie)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func filesClient(t testing.TB) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 60 * time.Second}
}

func filesDocroot(t testing.TB, files map[string]string) string {
	d := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(d, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func TestFilesNativePHPInterop(t *testing.T) {
	root := filesDocroot(t, map[string]string{"counter.php": filesPHPCounter})
	cases := []struct {
		name, query string
		handler     phpserialize.Handler
		ini         func(dir string) map[string]string
		prepare     func(t testing.TB, dir string)
	}{
		{name: "php", handler: phpserialize.HandlerPHP, ini: func(dir string) map[string]string {
			return map[string]string{"session.save_path": dir}
		}},
		{name: "php_serialize", query: "handler=php_serialize", handler: phpserialize.HandlerPHPSerialize, ini: func(dir string) map[string]string {
			return map[string]string{"session.save_path": dir, "session.serialize_handler": "php_serialize"}
		}},
		{name: "depth2", query: "depth=2", handler: phpserialize.HandlerPHP, prepare: filesSubdirs, ini: func(dir string) map[string]string {
			// quoted: in php.ini syntax ';' starts a comment
			return map[string]string{"session.save_path": `"2;0600;` + dir + `"`, "session.sid_bits_per_character": "4"}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			base := testenv.PHPServer(t, root, c.ini(dir), nil)
			if c.prepare != nil {
				c.prepare(t, dir)
			}
			s := openStore(t, filesURL(dir, c.query))
			client := filesClient(t)
			u := base + "/counter.php"

			r := filesMustGet(t, client, u, "")
			if r.N != 1 {
				t.Fatalf("first PHP request: n=%d", r.N)
			}
			rec := filesRead(t, s, r.ID)
			if !bytes.Equal(rec.Data, r.Enc) {
				t.Fatalf("Go read %q, PHP stored %q", rec.Data, r.Enc)
			}
			var list []string
			s.(handlers.Lister).List(tctx(t), func(id string) error { list = append(list, id); return nil })
			if len(list) != 1 || list[0] != r.ID {
				t.Errorf("List = %v, want [%s]", list, r.ID)
			}

			// Go changes the session: PHP sees it and goes on.
			err := handlers.Update(tctx(t), s, r.ID, func(rec *handlers.Record) error {
				rec.Data = filesSetVars(t, c.handler, rec.Data, "n", filesCounter(t, c.handler, rec.Data)+40, "from_go", "héllo\x00|;")
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			r2 := filesMustGet(t, client, u, "")
			if r2.ID != r.ID || r2.N != 42 {
				t.Fatalf("PHP after Go's write: id %s n=%d, want %s 42", r2.ID, r2.N, r.ID)
			}
			sess, err := phpserialize.DecodeSession(c.handler, r2.Enc)
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := sess.Lookup("from_go"); v.Str() != "héllo\x00|;" {
				t.Errorf("PHP kept from_go = %q", v.Str())
			}
			if rec := filesRead(t, s, r.ID); !bytes.Equal(rec.Data, r2.Enc) {
				t.Errorf("Go read %q, PHP stored %q", rec.Data, r2.Enc)
			}

			// Destroy: PHP starts over.
			if err := s.Destroy(tctx(t), r.ID); err != nil {
				t.Fatal(err)
			}
			if r3 := filesMustGet(t, client, u, ""); r3.N != 1 {
				t.Errorf("PHP after Go's Destroy: n=%d", r3.N)
			}
		})
	}
}

// filesHold starts a request that holds its session for ms milliseconds, and
// returns once PHP holds it (the script touches a marker file then); the
// reply comes on the channel.
func filesHold(t testing.TB, c *http.Client, u, cookie string, ms int) chan filesReply {
	t.Helper()
	marker := filepath.Join(t.TempDir(), "held")
	done := make(chan filesReply, 1)
	go func() {
		r, err := filesGet(t, c, u+"?ms="+strconv.Itoa(ms)+"&marker="+url.QueryEscape(marker), cookie)
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(marker); err == nil {
			return done
		}
		if time.Now().After(deadline) {
			t.Fatalf("PHP did not open the session")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// filesBlocked starts a request and checks that it is still waiting after d
// (for a lock Go holds); the reply comes on the channel.
func filesBlocked(t testing.TB, c *http.Client, u, cookie string, d time.Duration) chan filesReply {
	t.Helper()
	done := make(chan filesReply, 1)
	go func() {
		r, err := filesGet(t, c, u, cookie)
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	select {
	case r := <-done:
		t.Fatalf("PHP did not wait for Go's lock (n=%d)", r.N)
	case <-time.After(d):
	}
	return done
}

// TestFilesPHPLocks: a PHP request holding a session makes Go wait (or time
// out having written nothing), and Go holding the lock makes PHP wait.
func TestFilesPHPLocks(t *testing.T) {
	t.Parallel()
	root := filesDocroot(t, map[string]string{"counter.php": filesPHPCounter})
	dir := t.TempDir()
	base := testenv.PHPServer(t, root, map[string]string{"session.save_path": dir}, []string{"PHP_CLI_SERVER_WORKERS=4"})
	client := filesClient(t)
	u := base + "/counter.php"
	r := filesMustGet(t, client, u, "")
	id, h := r.ID, phpserialize.HandlerPHP
	impatient := openStore(t, filesURL(dir, "lock_timeout=0.2"))
	patient := openStore(t, filesURL(dir, "lock_timeout=20"))

	// PHP holds: a Go Write times out and writes nothing; so does a Read.
	done := filesHold(t, client, u, "", 1500)
	start := time.Now()
	err := impatient.Write(tctx(t), &handlers.Record{ID: id, Data: storetest.Counter(h, 100)})
	if !errors.Is(err, handlers.ErrLockTimeout) || time.Since(start) > time.Second {
		t.Errorf("Write while PHP holds the session: %v after %v", err, time.Since(start))
	}
	if _, err := impatient.Read(tctx(t), id); !errors.Is(err, handlers.ErrLockTimeout) {
		t.Errorf("Read while PHP holds the session: %v", err)
	}
	r = <-done
	if r.N != 2 {
		t.Errorf("PHP n=%d, want 2", r.N)
	}
	if rec := filesRead(t, impatient, id); !bytes.Equal(rec.Data, r.Enc) {
		t.Errorf("after a timed-out Write the file holds %q, PHP wrote %q", rec.Data, r.Enc)
	}

	// PHP holds: a patient Write waits, then writes after PHP.
	done = filesHold(t, client, u, "", 800)
	start = time.Now()
	filesWrite(t, patient, &handlers.Record{ID: id, Data: storetest.Counter(h, 100)})
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("Write did not wait for PHP's lock (%v)", d)
	}
	if r := <-done; r.N != 3 {
		t.Errorf("PHP n=%d, want 3", r.N)
	}
	if n := filesCounter(t, h, filesRead(t, patient, id).Data); n != 100 {
		t.Errorf("after PHP, Go's write: n=%d, want 100", n)
	}
	if r := filesMustGet(t, client, u, ""); r.N != 101 {
		t.Errorf("PHP after Go: n=%d, want 101", r.N)
	}

	// Go holds: PHP waits for it.
	lk, err := patient.(handlers.Locker).Lock(tctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	phpDone := filesBlocked(t, client, u, "", 700*time.Millisecond)
	rec, err := lk.Read(tctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := lk.Write(tctx(t), &handlers.Record{Data: filesSetVars(t, h, rec.Data, "n", 500)}); err != nil {
		t.Fatal(err)
	}
	lk.Unlock(tctx(t))
	if r := <-phpDone; r.N != 501 {
		t.Errorf("PHP after Go's locked write: n=%d, want 501", r.N)
	}
}

// TestFilesPHPConcurrentCounter: PHP requests and Go writers count up one
// session together; with the flock no increment is lost.
func TestFilesPHPConcurrentCounter(t *testing.T) {
	t.Parallel()
	root := filesDocroot(t, map[string]string{"counter.php": filesPHPCounter})
	dir := t.TempDir()
	base := testenv.PHPServer(t, root, map[string]string{"session.save_path": dir}, []string{"PHP_CLI_SERVER_WORKERS=4"})
	s := openStore(t, filesURL(dir, "lock_timeout=30"))
	h := phpserialize.HandlerPHP
	id := storetest.NewID()
	filesWrite(t, s, &handlers.Record{ID: id, Data: storetest.Counter(h, 0)})

	const phpWorkers, goWorkers, each = 4, 2, 25
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 60 * time.Second}
	for range phpWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := filesGet(t, client, base+"/counter.php", "PHPSESSID="+id); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range goWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := handlers.Update(tctx(t), s, id, func(rec *handlers.Record) error {
					n := filesCounter(t, h, rec.Data)
					rec.Data = filesSetVars(t, h, rec.Data, "n", n+1)
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := filesCounter(t, h, filesRead(t, s, id).Data); n != (phpWorkers+goWorkers)*each {
		t.Errorf("n = %d after %d increments", n, (phpWorkers+goWorkers)*each)
	}
}

// TestFilesPHPExpiry checks the mtime rules against PHP: PHP reads a file
// past its lifetime, and PHP's GC removes a session Go wrote with a short
// TTL once that TTL is over, but not one with the default lifetime.
func TestFilesPHPExpiry(t *testing.T) {
	t.Parallel()
	root := filesDocroot(t, map[string]string{"counter.php": filesPHPCounter})
	dir := t.TempDir()
	base := testenv.PHPServer(t, root, map[string]string{"session.save_path": dir, "session.gc_maxlifetime": "1440", "session.gc_probability": "0"}, nil)
	s := openStore(t, filesURL(dir, "ttl=1440"))
	h := phpserialize.HandlerPHP
	client := &http.Client{Timeout: 30 * time.Second}

	stale, short, full := storetest.NewID(), storetest.NewID(), storetest.NewID()
	filesWrite(t, s, &handlers.Record{ID: stale, Data: storetest.Counter(h, 7)})
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(filepath.Join(dir, "sess_"+stale), old, old)
	if r := filesMustGet(t, client, base+"/counter.php", "PHPSESSID="+stale); r.N != 8 {
		t.Errorf("PHP on a session past its lifetime: n=%d, want 8 (PHP reads it until its GC runs)", r.N)
	}

	filesWrite(t, s, &handlers.Record{ID: short, Data: storetest.Counter(h, 1), TTL: time.Second})
	filesWrite(t, s, &handlers.Record{ID: full, Data: storetest.Counter(h, 1)})
	time.Sleep(2100 * time.Millisecond)
	filesMustGet(t, client, base+"/counter.php?gc=1&op=none", "")
	if _, err := os.Stat(filepath.Join(dir, "sess_"+short)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("PHP's GC kept a session written with TTL 1s, 2s ago: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sess_"+full)); err != nil {
		t.Errorf("PHP's GC removed a fresh session: %v", err)
	}
}

// ------------------------------------------------ PHP interop: CodeIgniter --

// filesPHPCI plays CodeIgniter's files session driver, as the spec (sections
// 5.1, 5.3, 6.1, 6.2) and CodeIgniter 3.1.x's Session_files_driver and
// 4.7's FileHandler have it: file <dir>/<cookie>[md5(ip)]<id>; fopen 'c+b'
// then flock LOCK_EX held until close; chmod 0600 on a new file; on write,
// touch when the data is unchanged, else ftruncate(0), rewind and fwrite;
// CodeIgniter 3 also validates ids by is_file and updates timestamps by
// touch; ids must match CodeIgniter's rule or the cookie is dropped.
const filesPHPCI = `<?php
$version = (int) getenv('CI_VERSION');
$matchIP = getenv('CI_MATCH_IP') === '1';
$dir = getenv('CI_SAVE_PATH');
$cookie = 'ci_session';

if ($version === 4) {
	ini_set('session.sid_bits_per_character', '4');
	ini_set('session.sid_length', '32');
	$sidRule = '[0-9a-f]{32}';
} else {
	$bits = (int) ini_get('session.sid_bits_per_character');
	$len = (int) ini_get('session.sid_length');
	if (($total = $len * $bits) < 160) {
		$len += (int) ceil((160 % $total) / $bits);
		ini_set('session.sid_length', (string) $len);
	}
	$sidRule = [4 => '[0-9a-f]', 5 => '[0-9a-v]', 6 => '[0-9a-zA-Z,-]'][$bits] . '{' . $len . '}';
}
ini_set('session.use_trans_sid', '0');
ini_set('session.use_strict_mode', '1');
ini_set('session.use_cookies', '1');
ini_set('session.use_only_cookies', '1');
ini_set('session.gc_maxlifetime', '7200');
ini_set('session.save_path', $dir);
session_name($cookie);
if (isset($_COOKIE[$cookie]) && !preg_match('#\A' . $sidRule . '\z#', $_COOKIE[$cookie])) {
	unset($_COOKIE[$cookie]);
}

class CIFiles implements SessionHandlerInterface {
	public $prefix;
	protected $fh;
	protected $isNew;
	protected $sum;
	protected $sid;
	function __construct(protected bool $matchIP, protected string $rule) {}
	function open($path, $name): bool {
		$this->prefix = $path . '/' . $name . ($this->matchIP ? md5($_SERVER['REMOTE_ADDR']) : '');
		return true;
	}
	function read($id): string|false {
		if ($this->fh === null) {
			$this->isNew = !is_file($this->prefix . $id);
			if (($this->fh = fopen($this->prefix . $id, 'c+b')) === false) { return false; }
			if (!flock($this->fh, LOCK_EX)) { fclose($this->fh); $this->fh = null; return false; }
			$this->sid = $id;
			if ($this->isNew) { chmod($this->prefix . $id, 0600); $this->sum = md5(''); return ''; }
		} else {
			rewind($this->fh);
		}
		clearstatcache();
		$data = '';
		for ($got = 0, $size = filesize($this->prefix . $id); $got < $size; $got += strlen($chunk)) {
			if (($chunk = fread($this->fh, $size - $got)) === false) { break; }
			$data .= $chunk;
		}
		$this->sum = md5($data);
		return $data;
	}
	function write($id, $data): bool {
		if ($id !== $this->sid) { $this->close(); $this->read($id); }
		if (!is_resource($this->fh)) { return false; }
		if ($this->sum === md5($data)) { return $this->isNew ? true : touch($this->prefix . $id); }
		if (!$this->isNew) { ftruncate($this->fh, 0); rewind($this->fh); }
		for ($put = 0, $len = strlen($data); $put < $len; $put += $n) {
			if (($n = fwrite($this->fh, substr($data, $put))) === false) { return false; }
		}
		$this->sum = md5($data);
		return true;
	}
	function close(): bool {
		if (is_resource($this->fh)) { flock($this->fh, LOCK_UN); fclose($this->fh); }
		$this->fh = null;
		return true;
	}
	function destroy($id): bool {
		$this->close();
		return is_file($this->prefix . $id) ? unlink($this->prefix . $id) : true;
	}
	function gc($max): int|false {
		$pattern = '#\A' . preg_quote(session_name(), '#') . ($this->matchIP ? '[0-9a-f]{32}' : '') . $this->rule . '\z#';
		$n = 0;
		foreach (scandir(ini_get('session.save_path')) as $f) {
			$p = ini_get('session.save_path') . '/' . $f;
			if (preg_match($pattern, $f) && is_file($p) && filemtime($p) <= time() - $max) { unlink($p); $n++; }
		}
		return $n;
	}
}
class CI3Files extends CIFiles implements SessionUpdateTimestampHandlerInterface {
	function validateId($id): bool { return is_file($this->prefix . $id); }
	function updateTimestamp($id, $data): bool { return touch($this->prefix . $id); }
}

$h = $version === 4 ? new CIFiles($matchIP, $sidRule) : new CI3Files($matchIP, $sidRule);
session_set_save_handler($h, true);
session_start();
if (($_GET['op'] ?? 'inc') === 'inc') { $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1; }
if (isset($_GET['marker'])) { touch($_GET['marker']); }
if (isset($_GET['ms'])) { usleep((int) $_GET['ms'] * 1000); }
header('Content-Type: application/json');
echo json_encode(['id' => session_id(), 'n' => $_SESSION['n'] ?? null, 'enc' => base64_encode(session_encode()), 'file' => $h->prefix . session_id()]);
`

func TestFilesCodeIgniterInterop(t *testing.T) {
	root := filesDocroot(t, map[string]string{"ci.php": filesPHPCI})
	cases := []struct {
		name, version string
		matchIP       bool
		newID         func() string
		idLen         int
		alphabet      string
	}{
		{"ci3", "3", false, storetest.NewID, 32, "0123456789abcdefghijklmnopqrstuv"},
		{"ci3_match_ip", "3", true, storetest.NewID, 32, "0123456789abcdefghijklmnopqrstuv"},
		{"ci4", "4", false, filesHexID(32), 32, "0123456789abcdef"},
		{"ci4_match_ip", "4", true, filesHexID(32), 32, "0123456789abcdef"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			mip := "0"
			query := "layout=ci" + c.version
			if c.matchIP {
				mip = "1"
				query += "&match_ip=on&ip=127.0.0.1"
			}
			// php.ini-production's id settings, which CodeIgniter 3 builds on
			ini := map[string]string{"session.sid_length": "26", "session.sid_bits_per_character": "5"}
			base := testenv.PHPServer(t, root, ini, []string{"CI_VERSION=" + c.version, "CI_MATCH_IP=" + mip, "CI_SAVE_PATH=" + dir, "PHP_CLI_SERVER_WORKERS=2"})
			u := base + "/ci.php"
			s := openStore(t, filesURL(dir, query))
			h := phpserialize.HandlerPHP
			client := filesClient(t)

			// PHP makes a session: the file name, mode and id rule Go expects.
			r := filesMustGet(t, client, u, "")
			if len(r.ID) != c.idLen || strings.Trim(r.ID, c.alphabet) != "" {
				t.Errorf("CodeIgniter id %q", r.ID)
			}
			want := "ci_session" + r.ID
			if c.matchIP {
				sum := md5.Sum([]byte("127.0.0.1"))
				want = "ci_session" + hex.EncodeToString(sum[:]) + r.ID
			}
			if r.File != filepath.Join(dir, want) {
				t.Errorf("PHP's file %s, want %s", r.File, filepath.Join(dir, want))
			}
			if fi, err := os.Stat(filepath.Join(dir, want)); err != nil || fi.Mode() != 0o600 {
				t.Errorf("PHP's file: %v %v", fi, err)
			}
			rec := filesRead(t, s, r.ID)
			if !bytes.Equal(rec.Data, r.Enc) {
				t.Fatalf("Go read %q, PHP stored %q", rec.Data, r.Enc)
			}
			if c.matchIP && rec.Meta.IP != "127.0.0.1" {
				t.Errorf("Meta.IP = %q", rec.Meta.IP)
			}

			// Go writes; PHP reads Go's value.
			err := handlers.Update(tctx(t), s, r.ID, func(rec *handlers.Record) error {
				rec.Data = filesSetVars(t, h, rec.Data, "n", 20)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if r2 := filesMustGet(t, client, u, ""); r2.ID != r.ID || r2.N != 21 {
				t.Errorf("PHP after Go's write: id %s n=%d, want %s 21", r2.ID, r2.N, r.ID)
			}

			// A session Go makes is adopted by CodeIgniter (CI3 validates by
			// is_file, CI4 takes any id of its rule).
			id := c.newID()
			filesWrite(t, s, &handlers.Record{ID: id, Data: storetest.Counter(h, 100), Meta: handlers.Meta{IP: "127.0.0.1"}})
			if r3 := filesMustGet(t, &http.Client{}, u, "ci_session="+id); r3.ID != id || r3.N != 101 {
				t.Errorf("PHP with Go's new session: id %s n=%d, want %s 101", r3.ID, r3.N, id)
			}

			// Go holds the lock: CodeIgniter waits.
			lk, err := s.(handlers.Locker).Lock(tctx(t), id)
			if err != nil {
				t.Fatal(err)
			}
			phpDone := filesBlocked(t, &http.Client{}, u, "ci_session="+id, 500*time.Millisecond)
			lk.Write(tctx(t), &handlers.Record{Data: storetest.Counter(h, 300)})
			lk.Unlock(tctx(t))
			if r4 := <-phpDone; r4.N != 301 {
				t.Errorf("CodeIgniter after Go's locked write: n=%d, want 301", r4.N)
			}

			// CodeIgniter holds the lock: Go times out and writes nothing.
			held := filesHold(t, &http.Client{}, u, "ci_session="+id, 800)
			imp := openStore(t, filesURL(dir, query+"&lock_timeout=0.1"))
			if err := imp.Write(tctx(t), &handlers.Record{ID: id, Data: storetest.Counter(h, 0)}); !errors.Is(err, handlers.ErrLockTimeout) {
				t.Errorf("Write while CodeIgniter holds the session: %v", err)
			}
			<-held
			if n := filesCounter(t, h, filesRead(t, s, id).Data); n != 302 {
				t.Errorf("n = %d, want CodeIgniter's 302", n)
			}
		})
	}
}

// ------------------------------------------------------------- benchmarks --

func filesBenchSetup(b *testing.B) (handlers.Store, string, []byte) {
	dir := b.TempDir()
	s := openStore(b, filesURL(dir, ""))
	data := []byte(`user|a:3:{s:2:"id";i:42;s:4:"name";s:4:"zoë";s:5:"roles";a:2:{i:0;s:5:"admin";i:1;s:6:"editor";}}csrf|s:64:"` + strings.Repeat("f", 64) + `";` + `blob|s:700:"` + strings.Repeat("x", 700) + `";`)
	return s, dir, data
}

// BenchmarkFilesGet reads one ~1 KB session through the store (open,
// flock LOCK_SH, fstat, pread) beside a plain os.ReadFile of the same file.
func BenchmarkFilesGet(b *testing.B) {
	s, dir, data := filesBenchSetup(b)
	id := "benchget"
	filesWrite(b, s, &handlers.Record{ID: id, Data: data})
	ctx := context.Background()
	b.Run("store", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := s.Read(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("os.ReadFile", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		p := filepath.Join(dir, "sess_"+id)
		for b.Loop() {
			if _, err := os.ReadFile(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFilesPut writes one ~1 KB session through the store (open,
// flock LOCK_EX, pwrite, ftruncate, utimes) beside a plain os.WriteFile.
func BenchmarkFilesPut(b *testing.B) {
	s, dir, data := filesBenchSetup(b)
	id := "benchput"
	ctx := context.Background()
	b.Run("store", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if err := s.Write(ctx, &handlers.Record{ID: id, Data: data}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("os.WriteFile", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		p := filepath.Join(dir, "sess_"+id)
		for b.Loop() {
			if err := os.WriteFile(p, data, 0o600); err != nil {
				b.Fatal(err)
			}
		}
	})
}
