package handlers_test

// Tests of the Phalcon layouts (redis_phalcon.go, memcached_phalcon.go,
// files_phalcon.go) and the incubator's SQL tables (sql_incubator.go).
//
// The PHP side: Phalcon's C extension cannot be installed here (Debian
// packages no Phalcon, and Phalcon 3 and 4 do not run on PHP 8), so
// testdata/phalcon/replay.php replays each adapter's storage calls, byte
// for byte as ../shared/spec/phalcon-and-dalmp.md describes them, with the
// same PHP extensions (phpredis, php-memcached, pecl memcache, mysqli,
// pgsql, mongodb) behind session_set_save_handler, so that PHP's real
// session_start() and session_write_close() run on what Go wrote, and Go
// reads what they wrote.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/handlers/storetest"
	"github.com/phpsess/phpsess/internal/testenv"
	"github.com/phpsess/phpsess/phpserialize"
)

// ------------------------------------------------------------ helpers --

// phalconReply is what testdata/phalcon/replay.php prints.
type phalconReply struct {
	Started bool   `json:"started"`
	Read    []byte `json:"read"` // what the adapter's read() returned
	N       int    `json:"n"`    // $_SESSION['n'] after the increment
	Error   string `json:"error"`
}

// phalconPHP runs one request of the replayed adapter cfg describes (see
// replay.php). Errors are returned, not fatal, so that it can run in a
// goroutine.
func phalconPHP(ctx context.Context, php string, cfg map[string]any) (phalconReply, error) {
	var r phalconReply
	arg, err := json.Marshal(cfg)
	if err != nil {
		return r, err
	}
	cmd := exec.CommandContext(ctx, php, filepath.Join("testdata", "phalcon", "replay.php"), string(arg))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return r, fmt.Errorf("php replay of %v %v: %v: %s%s", cfg["adapter"], cfg["version"], err, stderr.Bytes(), out)
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return r, fmt.Errorf("php replay of %v %v: %v: %q", cfg["adapter"], cfg["version"], err, out)
	}
	if !r.Started || r.Error != "" {
		return r, fmt.Errorf("php replay of %v %v: started=%v: %s", cfg["adapter"], cfg["version"], r.Started, r.Error)
	}
	return r, nil
}

func phalconMustPHP(t *testing.T, cfg map[string]any) phalconReply {
	t.Helper()
	r, err := phalconPHP(tctx(t), testenv.PHP(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// phalconWith returns a copy of cfg with more settings.
func phalconWith(cfg map[string]any, kv ...any) map[string]any {
	c := make(map[string]any, len(cfg)+len(kv)/2)
	for k, v := range cfg {
		c[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		c[kv[i].(string)] = kv[i+1]
	}
	return c
}

// phalconMsg is a session string with the bytes that trip a reader that
// looks for quotes instead of counting bytes: quotes, ";", "|" and UTF-8.
const phalconMsg = `say "hi"; a|b ";} zoë €`

// phalconPayload is the session n|i:N;msg|s:...; in handler php.
func phalconPayload(t testing.TB, n int) []byte {
	return filesSetVars(t, phpserialize.HandlerPHP, nil, "n", n, "msg", phalconMsg)
}

// phalconCheck reads id and checks its n and msg.
func phalconCheck(t *testing.T, s handlers.Store, id string, n int) *handlers.Record {
	t.Helper()
	rec, err := s.Read(tctx(t), id)
	if err != nil {
		t.Fatalf("Read(%s): %v", id, err)
	}
	if got := filesCounter(t, phpserialize.HandlerPHP, rec.Data); got != n {
		t.Fatalf("Read(%s): n = %d, want %d (%q)", id, got, n, rec.Data)
	}
	sess, _ := phpserialize.DecodeSession(phpserialize.HandlerPHP, rec.Data)
	if v, ok := sess.Lookup("msg"); ok && v.Str() != phalconMsg {
		t.Fatalf("Read(%s): msg = %q, want %q", id, v.Str(), phalconMsg)
	}
	return rec
}

// phalconInterop runs both directions against the replayed adapter cfg:
// Go writes, PHP's session_start() reads exactly that payload, increments
// n and writes; Go reads the result. Then PHP starts a session of its own
// and Go reads it. It returns the two ids.
func phalconInterop(t *testing.T, s handlers.Store, cfg map[string]any, newID func() string) (goID, phpID string) {
	t.Helper()
	goID = newID()
	data := phalconPayload(t, 41)
	if err := s.Write(tctx(t), &handlers.Record{ID: goID, Data: data}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	r := phalconMustPHP(t, phalconWith(cfg, "id", goID))
	if !bytes.Equal(r.Read, data) || r.N != 42 {
		t.Fatalf("PHP read %q (n=%d) of what Go wrote, want %q (n=42)", r.Read, r.N, data)
	}
	phalconCheck(t, s, goID, 42)

	phpID = newID()
	if r := phalconMustPHP(t, phalconWith(cfg, "id", phpID, "set", map[string]any{"msg": phalconMsg})); r.N != 1 || len(r.Read) != 0 {
		t.Fatalf("PHP's new session: n=%d read=%q", r.N, r.Read)
	}
	phalconCheck(t, s, phpID, 1)
	// and once more through PHP, after Go read it
	if r := phalconMustPHP(t, phalconWith(cfg, "id", phpID)); r.N != 2 {
		t.Fatalf("PHP's second request: n=%d", r.N)
	}
	phalconCheck(t, s, phpID, 2)
	return goID, phpID
}

// phalconMismatch checks that err is ErrLayoutMismatch and says what it
// should.
func phalconMismatch(t *testing.T, err error, words ...string) {
	t.Helper()
	if !errors.Is(err, handlers.ErrLayoutMismatch) {
		t.Fatalf("Read of the other form: %v, want ErrLayoutMismatch", err)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

// ------------------------------------------------------- conformance --

func TestPhalconConformance(t *testing.T) {
	redisAddr := testenv.Redis(t)
	mcAddr := testenv.Memcached(t)
	for _, tc := range []struct {
		name, base string
		lock       bool
	}{
		{"redis/phalcon3", "redis://" + redisAddr + "/11?layout=phalcon3", false},
		{"redis/phalcon4", "redis://" + redisAddr + "/12?layout=phalcon4", false},
		{"redis/phalcon5", "redis://" + redisAddr + "/13?layout=phalcon5&handler=php_serialize", false},
		{"redis/phalcon5-lock", "redis://" + redisAddr + "/14?layout=phalcon5&lock=on", true},
		{"memcached/phalcon3", "memcached://" + mcAddr + "?layout=phalcon3&prefix=conf3.", false},
		{"memcached/phalcon4", "memcached://" + mcAddr + "?layout=phalcon4&prefix=conf4-", false},
		{"memcached/phalcon5", "memcached://" + mcAddr + "?layout=phalcon5&handler=php_binary", false},
		{"memcache/phalcon3", "memcache://" + mcAddr + "?layout=phalcon3&prefix=confm3.", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mcConformance(t, tc.base, nil) // any store URL, expiring
			c.SkipLocking = !tc.lock
			storetest.Run(t, c)
		})
	}
	for _, layout := range []string{"phalcon3", "phalcon4", "phalcon5"} {
		t.Run("file/"+layout, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			storetest.Run(t, storetest.Config{
				Open: func(t *testing.T, extra url.Values) handlers.Store {
					return openStore(t, filesURL(dir, "layout="+layout+"&"+extra.Encode()))
				},
				// Phalcon reads a file past its lifetime until gc() removes it.
				Expires: false,
			})
		})
	}
}

func TestIncubatorConformance(t *testing.T) {
	for _, tc := range []struct{ backend, layout string }{
		{"mysql", "incubator"}, {"postgres", "incubator"}, {"mysql", "handlersocket"},
	} {
		t.Run(tc.backend+"/"+tc.layout, func(t *testing.T) {
			t.Parallel()
			e := newSQLEnv(t, tc.backend)
			storetest.Run(t, storetest.Config{
				Open: func(t *testing.T, extra url.Values) handlers.Store {
					kv := []string{"layout", tc.layout, "create_table", "on"}
					for k, v := range extra {
						kv = append(kv, k, v[0])
					}
					return e.open(t, kv...)
				},
				MaxSize:     65535, // TEXT
				Expires:     tc.layout == "incubator",
				SkipLocking: true,
				Text:        true,
			})
		})
	}
}

// ------------------------------------------------------------ redis --

func TestPhalconRedisPHP(t *testing.T) {
	addr := testenv.Redis(t)
	host, port, _ := net.SplitHostPort(addr)
	raw := rawRedis(t, addr, 15)
	for _, tc := range []struct {
		version int
		key     string // the key prefix Phalcon uses
		wrapped bool
		ttl     time.Duration
	}{
		{3, "_PHCRapp1", false, 8600 * time.Second},
		{4, "sess-reds-", true, 3600 * time.Second},
		{5, "sess-reds-", true, 3600 * time.Second},
	} {
		t.Run(fmt.Sprint("phalcon", tc.version), func(t *testing.T) {
			t.Parallel()
			cfg := map[string]any{"adapter": "redis", "version": tc.version, "host": host, "port": port, "index": 15}
			q := fmt.Sprintf("layout=phalcon%d", tc.version)
			if tc.version == 3 {
				cfg["prefix"] = "app1"
				q += "&prefix=app1"
			}
			s := openStore(t, "redis://"+addr+"/15?"+q)
			if s.Info().TTL != tc.ttl {
				t.Errorf("default lifetime %v, want %v", s.Info().TTL, tc.ttl)
			}
			goID, phpID := phalconInterop(t, s, cfg, storetest.NewID)
			for _, id := range []string{goID, phpID} {
				stored := redisMustGet(t, raw, tc.key+id)
				rec := phalconCheck(t, s, id, filesCounter(t, phpserialize.HandlerPHP, phalconUnwrap(t, stored, tc.wrapped)))
				if ttl := raw.TTL(tctx(t), tc.key+id).Val(); ttl < tc.ttl-5*time.Second || ttl > tc.ttl {
					t.Errorf("TTL of %s = %v, want %v", tc.key+id, ttl, tc.ttl)
				}
				if rec.TTL < tc.ttl-5*time.Second {
					t.Errorf("Read TTL %v, want about %v", rec.TTL, tc.ttl)
				}
			}
			// Go writes exactly the layout's form.
			if err := s.Write(tctx(t), &handlers.Record{ID: goID, Data: phalconPayload(t, 7)}); err != nil {
				t.Fatal(err)
			}
			want := phalconPayload(t, 7)
			if tc.wrapped {
				want = []byte(fmt.Sprintf(`s:%d:"%s";`, len(want), want))
			}
			if got := redisMustGet(t, raw, tc.key+goID); !bytes.Equal(got, want) {
				t.Errorf("stored %q, want %q", got, want)
			}
			if err := s.Destroy(tctx(t), goID); err != nil {
				t.Fatal(err)
			}
			if n := raw.Exists(tctx(t), tc.key+goID).Val(); n != 0 {
				t.Errorf("key still there after Destroy")
			}
		})
	}
}

// phalconUnwrap undoes s:N:"...";, checking the form.
func phalconUnwrap(t *testing.T, stored []byte, wrapped bool) []byte {
	t.Helper()
	m := regexp.MustCompile(`(?s)^s:(\d+):"(.*)";$`).FindSubmatch(stored)
	if wrapped != (m != nil) {
		t.Fatalf("stored %q: wrapped=%v, want %v", stored, m != nil, wrapped)
	}
	if !wrapped {
		return stored
	}
	if n, _ := strconv.Atoi(string(m[1])); n != len(m[2]) {
		t.Fatalf("stored %q: length %d for %d bytes", stored, n, len(m[2]))
	}
	return m[2]
}

// TestPhalconRedisLock: with lock=on, layout=phalcon5 takes Phalcon 5.14.2's
// lock as the adapter does, and each side waits for the other's.
func TestPhalconRedisLock(t *testing.T) {
	t.Parallel()
	addr := testenv.Redis(t)
	host, port, _ := net.SplitHostPort(addr)
	php := testenv.PHP(t)
	raw := rawRedis(t, addr, 14)
	cfg := map[string]any{"adapter": "redis", "version": 5, "host": host, "port": port, "index": 14, "locking": true}
	s := openStore(t, "redis://"+addr+"/14?layout=phalcon5&lock=on&lock_timeout=10")
	id := storetest.NewID()

	// PHP holds the lock for a while; Go's write waits for it, then wins.
	ch := make(chan error, 1)
	go func() {
		_, err := phalconPHP(tctx(t), php, phalconWith(cfg, "id", id, "sleep_ms", 1200))
		ch <- err
	}()
	redisWaitKey(t, raw, "sess-reds-"+id+"-lock")
	if v := raw.Get(tctx(t), "sess-reds-"+id+"-lock").Val(); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(v) {
		t.Errorf("PHP's lock value %q", v)
	}
	impatient := openStore(t, "redis://"+addr+"/14?layout=phalcon5&lock=on&lock_timeout=0.2")
	if err := impatient.Write(tctx(t), &handlers.Record{ID: id, Data: phalconPayload(t, 100)}); !errors.Is(err, handlers.ErrLockTimeout) {
		t.Fatalf("Write while PHP holds the lock, lock_timeout=0.2: %v, want ErrLockTimeout", err)
	}
	start := time.Now()
	if err := s.Write(tctx(t), &handlers.Record{ID: id, Data: phalconPayload(t, 10)}); err != nil {
		t.Fatalf("Write after PHP's lock: %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("Write did not wait for PHP's lock (%v)", d)
	}
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
	phalconCheck(t, s, id, 10)

	// Go holds the lock; PHP's session_start() waits for it.
	l, err := s.(handlers.Locker).Lock(tctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if v, ttl := raw.Get(tctx(t), "sess-reds-"+id+"-lock").Val(), raw.TTL(tctx(t), "sess-reds-"+id+"-lock").Val(); len(v) != 32 || ttl <= 0 || ttl > 30*time.Second {
		t.Errorf("Go's lock: value %q, TTL %v (want 32 hex digits, EX 30)", v, ttl)
	}
	done := make(chan phalconReply, 1)
	go func() {
		r, err := phalconPHP(tctx(t), php, phalconWith(cfg, "id", id))
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	time.Sleep(400 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("PHP did not wait for Go's lock: %+v", r)
	default:
	}
	if err := l.Write(tctx(t), &handlers.Record{Data: phalconPayload(t, 20)}); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(tctx(t)); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.N != 21 {
		t.Fatalf("PHP after Go's unlock: n=%d, want 21", r.N)
	}
	if n := raw.Exists(tctx(t), "sess-reds-"+id+"-lock").Val(); n != 0 {
		t.Errorf("lock key left behind")
	}
}

// ------------------------------------------------------- memcached --

func TestPhalconMemcachedPHP(t *testing.T) {
	addr := testenv.Memcached(t)
	host, port, _ := net.SplitHostPort(addr)
	raw := mcRaw(addr)
	for _, tc := range []struct {
		scheme  string
		version int
		prefix  string // the key prefix Go and PHP use
		wrapped bool
		ttl     time.Duration
	}{
		{"memcached", 3, "p3-", true, 8600 * time.Second},
		{"memcached", 4, "sess-memc-", false, 3600 * time.Second},
		{"memcached", 5, "sess-memc-", true, 3600 * time.Second},
		{"memcache", 3, "m3-", true, 8600 * time.Second},
	} {
		t.Run(fmt.Sprintf("%s/phalcon%d", tc.scheme, tc.version), func(t *testing.T) {
			t.Parallel()
			adapter := map[string]string{"memcached": "libmemcached", "memcache": "memcache"}[tc.scheme]
			cfg := map[string]any{"adapter": adapter, "version": tc.version, "host": host, "port": port}
			q := fmt.Sprintf("layout=phalcon%d", tc.version)
			if tc.version == 3 {
				cfg["prefix"] = tc.prefix
				q += "&prefix=" + tc.prefix
			}
			s := openStore(t, tc.scheme+"://"+addr+"?"+q)
			if s.Info().TTL != tc.ttl {
				t.Errorf("default lifetime %v, want %v", s.Info().TTL, tc.ttl)
			}
			goID, phpID := phalconInterop(t, s, cfg, storetest.NewID)
			for _, id := range []string{goID, phpID} {
				it := mcMustGet(t, raw, tc.prefix+id)
				if it.Flags != 0 {
					t.Errorf("flags %d, want 0", it.Flags)
				}
				phalconUnwrap(t, it.Value, tc.wrapped)
				if ttl := mcTTL(t, addr, tc.prefix+id); ttl < int(tc.ttl/time.Second)-5 || ttl > int(tc.ttl/time.Second) {
					t.Errorf("TTL of %s = %d, want %v", tc.prefix+id, ttl, tc.ttl)
				}
			}
			// A session large enough for the extension to compress it
			// (php-memcached: >= 2000 bytes; pecl memcache: >= 20000).
			big := strings.Repeat("compressible session text ", 1200)
			if r := phalconMustPHP(t, phalconWith(cfg, "id", phpID, "set", map[string]any{"big": big})); r.N != 3 {
				t.Fatalf("n=%d", r.N)
			}
			if it := mcMustGet(t, raw, tc.prefix+phpID); it.Flags == 0 {
				t.Errorf("PHP stored %d bytes uncompressed (flags 0): the test does not cover compression", len(it.Value))
			}
			rec := phalconCheck(t, s, phpID, 3)
			sess, _ := phpserialize.DecodeSession(phpserialize.HandlerPHP, rec.Data)
			if v, _ := sess.Lookup("big"); v.Str() != big {
				t.Errorf("big session var lost (%d bytes)", len(v.Str()))
			}
			// PHP goes on with what Go wrote back, uncompressed.
			if err := s.Write(tctx(t), rec); err != nil {
				t.Fatal(err)
			}
			if r := phalconMustPHP(t, phalconWith(cfg, "id", phpID)); r.N != 4 {
				t.Fatalf("PHP after Go rewrote the large session: n=%d", r.N)
			}
			if _, err := s.(handlers.Locker).Lock(tctx(t), phpID); err == nil {
				t.Error("Lock succeeded on a layout without a lock")
			}
		})
	}
}

// ------------------------------------------------------------ files --

func TestPhalconFilesPHP(t *testing.T) {
	for _, tc := range []struct {
		layout, adapter, prefix, file string // file: the name prefix on disk
	}{
		{"phalcon3", "files", "", "sess_"},
		{"phalcon4", "stream", "", ""},
		{"phalcon5", "stream", "", ""},
		{"phalcon5", "stream", "app-", "app-"},
	} {
		t.Run(tc.layout+"/"+tc.file, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := map[string]any{"adapter": tc.adapter, "version": tc.layout[len(tc.layout)-1:], "save_path": dir, "prefix": tc.prefix}
			q := "layout=" + tc.layout
			if tc.prefix != "" {
				q += "&prefix=" + tc.prefix
			}
			s := openStore(t, filesURL(dir, q))
			goID, phpID := phalconInterop(t, s, cfg, storetest.NewID)
			for _, id := range []string{goID, phpID} {
				b, err := os.ReadFile(filepath.Join(dir, tc.file+id))
				if err != nil {
					t.Fatal(err)
				}
				if filesCounter(t, phpserialize.HandlerPHP, b) == 0 {
					t.Errorf("%s holds %q", tc.file+id, b)
				}
			}
			var listed []string
			if err := s.(handlers.Lister).List(tctx(t), func(id string) error { listed = append(listed, id); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(listed) != 2 {
				t.Errorf("List = %v, want the 2 sessions", listed)
			}
			if tc.adapter != "stream" {
				return
			}
			// Go holds the lock (LOCK_EX): the Stream adapter's read waits
			// in flock(LOCK_SH) until Go has written and unlocked.
			l, err := s.(handlers.Locker).Lock(tctx(t), goID)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan phalconReply, 1)
			go func() {
				r, err := phalconPHP(tctx(t), testenv.PHP(t), phalconWith(cfg, "id", goID))
				if err != nil {
					t.Error(err)
				}
				done <- r
			}()
			time.Sleep(400 * time.Millisecond)
			if err := l.Write(tctx(t), &handlers.Record{Data: phalconPayload(t, 50)}); err != nil {
				t.Fatal(err)
			}
			l.Unlock(tctx(t))
			if r := <-done; r.N != 51 {
				t.Fatalf("PHP read under Go's lock: n=%d, want 51", r.N)
			}
		})
	}
}

// ----------------------------------------------------------- wrong form --

// TestPhalconWrongForm: for every pair of versions whose stored form
// differs, the other version's bytes are refused on Read with a clear
// ErrLayoutMismatch, never handed over; and the PHP side shows why: a
// Phalcon 5 reader of raw data starts an empty session.
func TestPhalconWrongForm(t *testing.T) {
	t.Parallel()
	addr := testenv.Redis(t)
	host, port, _ := net.SplitHostPort(addr)
	mc := testenv.Memcached(t)
	mcHost, mcPort, _ := net.SplitHostPort(mc)
	raw := rawRedis(t, addr, 15)
	data := phalconPayload(t, 5)
	wrapped := []byte(fmt.Sprintf(`s:%d:"%s";`, len(data), data))

	// redis: phalcon3 (raw, _PHCR) against phalcon4/5 (wrapped): a Phalcon 3
	// store opened as phalcon5 (prefix=_PHCR points it at those keys).
	id := storetest.NewID()
	phalconMustPHP(t, map[string]any{"adapter": "redis", "version": 3, "host": host, "port": port, "index": 15, "id": id})
	for _, layout := range []string{"phalcon4", "phalcon5"} {
		s := openStore(t, "redis://"+addr+"/15?prefix=_PHCR&layout="+layout)
		_, err := s.Read(tctx(t), id)
		phalconMismatch(t, err, layout+" layout expects the payload wrapped", "found raw session data", "phalcon3 store")
	}
	id = storetest.NewID()
	raw.Set(tctx(t), "_PHCR"+id, wrapped, time.Minute)
	p3 := openStore(t, "redis://"+addr+"/15?layout=phalcon3")
	_, err := p3.Read(tctx(t), id)
	phalconMismatch(t, err, "phalcon3 layout expects raw session data", "wrapped as a PHP string")
	// Why it matters: Phalcon 5 reads raw data as an empty session.
	id = storetest.NewID()
	raw.Set(tctx(t), "sess-reds-"+id, data, time.Minute)
	if r := phalconMustPHP(t, map[string]any{"adapter": "redis", "version": 5, "host": host, "port": port, "index": 15, "id": id}); len(r.Read) != 0 || r.N != 1 {
		t.Fatalf("the Phalcon 5 replay read raw data as %q (n=%d): the spec says it reads an empty session", r.Read, r.N)
	}

	// libmemcached: phalcon4 (raw) against phalcon3 and phalcon5 (wrapped),
	// under the same sess-memc- key for 4 and 5, also compressed.
	memc := func(version int, id string, set map[string]any) {
		phalconMustPHP(t, map[string]any{"adapter": "libmemcached", "version": version, "host": mcHost, "port": mcPort, "id": id, "set": set, "prefix": "sess-memc-"})
	}
	p4 := openStore(t, "memcached://"+mc+"?layout=phalcon4")
	p5 := openStore(t, "memcached://"+mc+"?layout=phalcon5")
	p3m := openStore(t, "memcached://"+mc+"?layout=phalcon3&prefix=sess-memc-")
	for _, big := range []string{"", strings.Repeat("compressible ", 500)} {
		id4, id5 := storetest.NewID(), storetest.NewID()
		memc(4, id4, map[string]any{"big": big})
		memc(5, id5, map[string]any{"big": big})
		_, err := p5.Read(tctx(t), id4)
		phalconMismatch(t, err, `phalcon5 layout expects the payload wrapped as a PHP string (s:N:"...";) but found raw session data: is this a phalcon4 store?`)
		_, err = p3m.Read(tctx(t), id4)
		phalconMismatch(t, err, "phalcon3 layout expects the payload wrapped", "phalcon4 store")
		_, err = p4.Read(tctx(t), id5)
		phalconMismatch(t, err, "phalcon4 layout expects raw session data", "phalcon3 or phalcon5 store")
		if _, err := p5.Read(tctx(t), id5); err != nil {
			t.Fatal(err)
		}
	}

	// pecl memcache: Phalcon 3's Memcache adapter (wrapped) against PHP's
	// own memcache handler (raw, the same bare-id keys).
	id = storetest.NewID()
	if err := mcRaw(mc).Set(&memcache.Item{Key: "pm-" + id, Value: data}); err != nil {
		t.Fatal(err)
	}
	pm := openStore(t, "memcache://"+mc+"?layout=phalcon3&prefix=pm-")
	_, err = pm.Read(tctx(t), id)
	phalconMismatch(t, err, "phalcon3 layout expects the payload wrapped", "found raw session data")

	// A value that is neither form is named as such, without its bytes.
	id = storetest.NewID()
	raw.Set(tctx(t), "sess-reds-"+id, `s:99:"short";`, time.Minute)
	_, err = openStore(t, "redis://"+addr+"/15?layout=phalcon5").Read(tctx(t), id)
	phalconMismatch(t, err, "claims 99 bytes but only")
	if strings.Contains(err.Error(), "short") {
		t.Errorf("the error quotes the stored value: %v", err)
	}
}

// ------------------------------------------------------------ options --

func TestPhalconOptions(t *testing.T) {
	t.Parallel()
	redisAddr := testenv.Redis(t)
	mc := testenv.Memcached(t)
	dir := t.TempDir()
	for _, tc := range []struct{ url, want string }{
		{"redis://" + redisAddr + "/15?layout=phalcon4&lock=on", "have no lock"},
		{"redis://" + redisAddr + "/15?layout=phalcon3&lock=on", "have no lock"},
		{"redis://" + redisAddr + "/15?layout=phalcon3&lock_timeout=3", "has no lock"},
		{"redis://" + redisAddr + "/15?layout=phalcon5&match_ip=on", "does not apply"},
		{"redis://" + redisAddr + "/15?layout=phalcon5&lock_expire=0.5", "at least 1s"},
		{"memcached://" + mc + "?layout=phalcon5&lock=on", "no lock"},
		{"memcache://" + mc + "?layout=phalcon4", "want one of"},
		{"memcached://" + mc + "?layout=phalcon5&lock_expire=3", "does not apply"},
		{filesURL(dir, "layout=phalcon5&depth=2"), "does not apply"},
		{filesURL(dir, "layout=phalcon4&prefix=a/b"), "file name prefix"},
		{filesURL(dir, "layout=phalcon4&mode=999"), "octal"},
	} {
		_, err := handlers.Open(tctx(t), tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%s) = %v, want an error saying %q", tc.url, err, tc.want)
		}
	}
	// Defaults: Phalcon takes no lock unless phalcon5 asks for it.
	for _, u := range []string{
		"redis://" + redisAddr + "/15?layout=phalcon5",
		"memcached://" + mc + "?layout=phalcon3",
		"memcache://" + mc + "?layout=phalcon3",
		"redis://" + redisAddr + "/15?layout=phalcon3&lock=off",
	} {
		if s := openStore(t, u); s.Info().Locking {
			t.Errorf("%s: locking on by default", u)
		}
	}
	s := openStore(t, "redis://"+redisAddr+"/15?layout=phalcon5&lock=on")
	if i := s.Info(); !i.Locking || i.TTL != time.Hour {
		t.Errorf("phalcon5 lock=on: %+v", i)
	}
	if _, err := openStore(t, "redis://"+redisAddr+"/15?layout=phalcon4").(handlers.Locker).Lock(tctx(t), "abc"); err == nil {
		t.Error("phalcon4 Lock succeeded")
	}
	// Stream files are named by the bare id, and sess_ files are not
	// listed or collected as sessions.
	st := openStore(t, filesURL(dir, "layout=phalcon5&ttl=60"))
	id := storetest.NewID()
	filesWrite(t, st, &handlers.Record{ID: id, Data: phalconPayload(t, 1)})
	old := filepath.Join(dir, "sess_"+id)
	if err := os.WriteFile(old, phalconPayload(t, 2), 0o600); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	os.Chtimes(old, past, past)
	os.Chtimes(filepath.Join(dir, id), past, past)
	n, err := st.(handlers.Collector).GC(tctx(t))
	if err != nil || n != 1 {
		t.Fatalf("GC = %d, %v; want the one Stream file", n, err)
	}
	if _, err := os.Stat(old); err != nil {
		t.Errorf("GC removed a sess_ file: %v", err)
	}
}

// ------------------------------------------------------------ incubator --

func TestIncubatorPHP(t *testing.T) {
	for _, tc := range []struct{ backend, layout string }{
		{"mysql", "incubator"}, {"postgres", "incubator"}, {"mysql", "handlersocket"},
	} {
		t.Run(tc.backend+"/"+tc.layout, func(t *testing.T) {
			t.Parallel()
			e := newSQLEnv(t, tc.backend)
			cfg := map[string]any{"adapter": "database", "driver": tc.backend, "host": e.host, "port": e.port,
				"user": e.user, "pass": e.pass, "db": e.db, "gc_maxlifetime": 1440}
			opts := []string{"layout", tc.layout, "create_table", "on"}
			if tc.layout == "handlersocket" {
				cfg["adapter"], cfg["timezone"] = "handlersocket", "Asia/Kolkata"
				opts = append(opts, "timezone", "Asia/Kolkata")
			}
			s := e.open(t, opts...)
			goID, phpID := phalconInterop(t, s, cfg, storetest.NewID)
			db := e.raw(t)
			if tc.layout == "handlersocket" {
				// modified is PHP's date('Y-m-d H:i:s') in date.timezone
				loc, _ := time.LoadLocation("Asia/Kolkata")
				for _, id := range []string{goID, phpID} {
					var mod string
					if err := db.QueryRowContext(tctx(t), "SELECT DATE_FORMAT(modified, '%Y-%m-%d %H:%i:%s') FROM php_session WHERE id = ?", id).Scan(&mod); err != nil {
						t.Fatal(err)
					}
					at, _ := time.ParseInLocation("2006-01-02 15:04:05", mod, loc)
					if d := time.Since(at); d < -5*time.Second || d > 30*time.Second {
						t.Errorf("modified %s is %v from now in Asia/Kolkata", mod, d)
					}
				}
				// no expiry on read: an old row is still read
				if _, err := db.ExecContext(tctx(t), "UPDATE php_session SET modified = '2001-01-01 00:00:00' WHERE id = ?", goID); err != nil {
					t.Fatal(err)
				}
				if rec := phalconCheck(t, s, goID, 42); rec.TTL != 0 {
					t.Errorf("TTL of an old row: %v", rec.TTL)
				}
				return
			}
			// PHP inserts with modified_at NULL; its updates set it.
			var created int64
			var modified *int64
			q := e.rewrite("SELECT created_at, modified_at FROM session_data WHERE session_id = ?")
			if err := db.QueryRowContext(tctx(t), q, phpID).Scan(&created, &modified); err != nil {
				t.Fatal(err)
			}
			if d := time.Now().Unix() - created; d < -5 || d > 30 || modified == nil {
				t.Errorf("PHP's row: created_at %d, modified_at %v", created, modified)
			}
			id := storetest.NewID()
			if err := s.Write(tctx(t), &handlers.Record{ID: id, Data: phalconPayload(t, 1)}); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRowContext(tctx(t), q, id).Scan(&created, &modified); err != nil || modified != nil {
				t.Errorf("Go's new row: modified_at %v, %v; want NULL as the adapter inserts it", modified, err)
			}
			// Expired for both sides alike: PHP starts an empty session, Go
			// says not found.
			if _, err := db.ExecContext(tctx(t), e.rewrite("UPDATE session_data SET modified_at = ? WHERE session_id = ?"), time.Now().Unix()-1441, goID); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Read(tctx(t), goID); !errors.Is(err, handlers.ErrNotFound) {
				t.Errorf("Read of an expired row: %v, want ErrNotFound", err)
			}
			if r := phalconMustPHP(t, phalconWith(cfg, "id", goID)); r.N != 1 || len(r.Read) != 0 {
				t.Errorf("PHP read an expired row as %q (n=%d)", r.Read, r.N)
			}
			phalconCheck(t, s, goID, 1) // PHP's write reused the row
		})
	}
}

func TestIncubatorOptions(t *testing.T) {
	t.Parallel()
	my := newSQLEnv(t, "mysql")
	pg := newSQLEnv(t, "postgres")
	for _, tc := range []struct {
		e    sqlEnv
		kv   []string
		want string
	}{
		{my, []string{"layout", "incubator", "lock", "on"}, "takes no lock"},
		{pg, []string{"layout", "handlersocket"}, "use a mysql:// URL"},
		{my, []string{"layout", "incubator"}, "does not exist"},
		{my, []string{"layout", "incubator", "timezone", "UTC"}, "applies to layout=handlersocket"},
		{my, []string{"layout", "handlersocket", "timezone", "Mars/Olympus", "create_table", "on"}, "timezone="},
		{my, []string{"layout", "incubator", "column_data", "da-ta"}, "column_data="},
	} {
		_, err := handlers.Open(tctx(t), tc.e.url(tc.kv...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%v) = %v, want an error saying %q", tc.kv, err, tc.want)
		}
	}
	// phalcon/incubator-session's TIMESTAMP table is not the incubator's.
	db := my.raw(t)
	if _, err := db.ExecContext(tctx(t), "CREATE TABLE session_data (session_id VARCHAR(35) NOT NULL PRIMARY KEY, data text NOT NULL, created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, modified_at TIMESTAMP NULL DEFAULT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := handlers.Open(tctx(t), my.url("layout", "incubator")); err == nil || !strings.Contains(err.Error(), "incubator-session") {
		t.Errorf("Open on incubator-session's table: %v", err)
	}
	// Custom table and column names, as the adapter's options allow; an id
	// longer than the column is refused before any query.
	if _, err := db.ExecContext(tctx(t), "CREATE TABLE sess2 (sid VARCHAR(20) NOT NULL PRIMARY KEY, payload text NOT NULL, c INT unsigned NOT NULL, m INT unsigned DEFAULT NULL) DEFAULT CHARSET=utf8mb3"); err != nil {
		t.Fatal(err)
	}
	s := my.open(t, "layout", "incubator", "table", "sess2", "column_session_id", "sid", "column_data", "payload", "column_created_at", "c", "column_modified_at", "m")
	if err := s.Write(tctx(t), &handlers.Record{ID: "abcdef", Data: phalconPayload(t, 3)}); err != nil {
		t.Fatal(err)
	}
	phalconCheck(t, s, "abcdef", 3)
	if err := s.Write(tctx(t), &handlers.Record{ID: strings.Repeat("a", 21), Data: phalconPayload(t, 3)}); !errors.Is(err, handlers.ErrInvalidID) {
		t.Errorf("Write of a 21-character id into VARCHAR(20): %v", err)
	}
	if err := s.Write(tctx(t), &handlers.Record{ID: "abcdef", Data: []byte("e|s:4:\"😀\";")}); !errors.Is(err, handlers.ErrNotText) {
		t.Errorf("Write of a 4-byte character into utf8mb3: %v", err)
	}
	if err := s.Write(tctx(t), &handlers.Record{ID: "abcdef", Data: bytes.Repeat([]byte("x"), 70000)}); !errors.Is(err, handlers.ErrTooLarge) {
		t.Errorf("Write of 70000 bytes into TEXT: %v", err)
	}
	phalconCheck(t, s, "abcdef", 3)
	n, err := s.(handlers.Collector).GC(tctx(t))
	if err != nil || n != 0 {
		t.Errorf("GC = %d, %v", n, err)
	}
}
