package handlers_test

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/klauspost/compress/zstd"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/handlers/storetest"
	"github.com/phpsess/phpsess/internal/testenv"
	"github.com/phpsess/phpsess/phpserialize"
)

// ------------------------------------------------------------- helpers --

// mcRaw is a plain gomemcache client, to look at items as stored.
func mcRaw(addr string) *memcache.Client {
	c := memcache.New(addr)
	c.Timeout = 2 * time.Second
	return c
}

func mcMustGet(t testing.TB, c *memcache.Client, key string) *memcache.Item {
	t.Helper()
	it, err := c.Get(key)
	if err != nil {
		t.Fatalf("raw get %s: %v", key, err)
	}
	return it
}

// mcWaitKey waits until key exists (a PHP request took its lock).
func mcWaitKey(t testing.TB, c *memcache.Client, key string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, err := c.Get(key); err == nil {
			return
		}
	}
	t.Fatalf("%s did not appear", key)
}

// mcTTL is the remaining lifetime memcached reports for key (mg key t).
func mcTTL(t testing.TB, addr, key string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c, "mg %s t\r\n", key)
	buf := make([]byte, 128)
	n, _ := c.Read(buf)
	line := strings.TrimSpace(string(buf[:n]))
	var ttl int
	if _, err := fmt.Sscanf(line, "HD t%d", &ttl); err != nil {
		t.Fatalf("mg %s t: %q", key, line)
	}
	return ttl
}

// mcDocroot writes PHP files into a fresh docroot.
func mcDocroot(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// mcPHPScript is the PHP side of the interop tests: it starts the session,
// increments n (or only reads with ro=1), optionally adds a large value,
// holds the session for hold= ms, and reports what it saw as JSON.
const mcPHPScript = `<?php
$t0 = microtime(true);
$ok = @session_start(isset($_GET['ro']) ? ['read_and_close' => true] : []);
$waited = microtime(true) - $t0;
if (!$ok) {
	http_response_code(409);
	echo json_encode(['ok' => false, 'waited' => $waited, 'error' => error_get_last()['message'] ?? '']);
	exit;
}
$seen = $_SESSION;
if (!isset($_GET['ro'])) {
	$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
	if (isset($_GET['big'])) {
		$_SESSION['big'] = str_repeat('compressible session data ', (int)$_GET['big']);
	}
}
if (isset($_GET['hold'])) {
	usleep((int)$_GET['hold'] * 1000);
}
echo json_encode(['ok' => true, 'id' => session_id(), 'waited' => $waited, 'seen' => (object)$seen]);
`

// mcPHPResult is what mcPHPScript reports.
type mcPHPResult struct {
	OK     bool           `json:"ok"`
	ID     string         `json:"id"`
	Waited float64        `json:"waited"`
	Error  string         `json:"error"`
	Seen   map[string]any `json:"seen"`
	Status int            `json:"-"`
}

// mcPHPClient is a browser: a cookie jar holding the session cookie.
type mcPHPClient struct {
	t    testing.TB
	base string
	hc   *http.Client
}

func newMCPHPClient(t testing.TB, base, cookie, id string) *mcPHPClient {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(base)
	jar.SetCookies(u, []*http.Cookie{{Name: cookie, Value: id, Path: "/"}})
	return &mcPHPClient{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 60 * time.Second}}
}

func (p *mcPHPClient) get(path string) (mcPHPResult, error) {
	resp, err := p.hc.Get(p.base + path)
	if err != nil {
		return mcPHPResult{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r mcPHPResult
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("GET %s: %d %q", path, resp.StatusCode, body)
	}
	r.Status = resp.StatusCode
	return r, nil
}

func (p *mcPHPClient) mustGet(path string) mcPHPResult {
	p.t.Helper()
	r, err := p.get(path)
	if err != nil {
		p.t.Fatal(err)
	}
	if !r.OK {
		p.t.Fatalf("GET %s: session_start failed: %+v", path, r)
	}
	return r
}

func (p *mcPHPClient) async(path string) <-chan mcPHPResult {
	ch := make(chan mcPHPResult, 1)
	go func() {
		r, err := p.get(path)
		if err != nil {
			r.Error = err.Error()
		}
		ch <- r
	}()
	return ch
}

// mcSeenN is the n the PHP request saw.
func mcSeenN(r mcPHPResult) int {
	f, _ := r.Seen["n"].(float64)
	return int(f)
}

// mcReadN returns the n of the stored session (php handler), or -1.
func mcReadN(t testing.TB, s handlers.Store, id string) int {
	t.Helper()
	rec, err := s.Read(tctx(t), id)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	n, err := mcDataN(rec.Data)
	if err != nil {
		t.Fatalf("stored session %q does not decode: %v", rec.Data, err)
	}
	return n
}

// mcDataN returns the n of a php-handler payload: -1 if unset, 0 if empty.
func mcDataN(data []byte) (int, error) {
	if len(data) == 0 {
		return 0, nil
	}
	sess, err := phpserialize.DecodeSession(phpserialize.HandlerPHP, data)
	if err != nil {
		return 0, err
	}
	if v, ok := sess.Lookup("n"); ok {
		return int(v.Int()), nil
	}
	return -1, nil
}

func mcPayload(t testing.TB, kv ...any) []byte {
	t.Helper()
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	b, err := phpserialize.MarshalSession(phpserialize.HandlerPHP, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hexID returns n random hex characters (CodeIgniter 4's ids).
func mcHexID(n int) func() string {
	return func() string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "0123456789abcdef"[rand.IntN(16)]
		}
		return string(b)
	}
}

// ----------------------------------------------------------- conformance --

func mcConformance(t *testing.T, base string, newID func() string) storetest.Config {
	return storetest.Config{
		Open: func(t *testing.T, extra url.Values) handlers.Store {
			u, err := url.Parse(base)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			for k, v := range extra {
				q[k] = v
			}
			u.RawQuery = q.Encode()
			return openStore(t, u.String())
		},
		NewID:   newID,
		Expires: true,
	}
}

func TestMemcachedConformance(t *testing.T) {
	addr := testenv.Memcached(t)
	for _, tc := range []struct {
		name, query string
		newID       func() string
	}{
		{"native", "layout=native", nil},
		{"native/php_serialize", "layout=native&handler=php_serialize", nil},
		{"native/prefix", "prefix=app1.sess.", nil},
		{"ci3", "layout=ci3", mcHexID(40)},
		{"ci4", "layout=ci4", mcHexID(32)},
		{"ci4/match_ip", "layout=ci4&match_ip=127.0.0.1&cookie=app", mcHexID(32)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, mcConformance(t, "memcached://"+addr+"?"+tc.query, tc.newID))
		})
	}
}

// TestMemcachedKeys checks the keys, flags and lifetimes Go writes, item by
// item, against what the PHP side writes (verified with real PHP in the
// interop tests below).
func TestMemcachedKeys(t *testing.T) {
	addr := testenv.Memcached(t)
	raw := mcRaw(addr)
	data := mcPayload(t, "n", 1)
	for _, tc := range []struct {
		query, key, lock string
		lockFlags        uint32
		lockValue        string
		lockTTL          int
	}{
		{"layout=native", "memc.sess.key.ID", "memc.sess.key.lock.ID", 0, "1", 30},
		{"layout=native&prefix=x:&lock_expire=90", "x:ID", "x:lock.ID", 0, "1", 90},
		{"layout=native&prefix=", "ID", "lock.ID", 0, "1", 30},
		{"layout=ci3", "ci_session:ID", "ci_session:ID:lock", 1, "", 300},
		{"layout=ci3&match_ip=10.1.2.3", "ci_session:10.1.2.3:ID", "ci_session:10.1.2.3:ID:lock", 1, "", 300},
		{"layout=ci4", "ci_session:ci_session:ID", "ci_session:ci_session:ID:lock", 1, "", 300},
		{"layout=ci4&cookie=shop&match_ip=::1", "ci_session:shop:::1:ID", "ci_session:shop:::1:ID:lock", 1, "", 300},
		{"layout=ci4&prefix=p:", "p:ID", "p:ID:lock", 1, "", 300},
	} {
		t.Run(tc.query, func(t *testing.T) {
			s := openStore(t, "memcached://"+addr+"?"+tc.query)
			id := storetest.NewID()
			key := strings.ReplaceAll(tc.key, "ID", id)
			lockKey := strings.ReplaceAll(tc.lock, "ID", id)
			lk, err := s.(handlers.Locker).Lock(tctx(t), id)
			if err != nil {
				t.Fatal(err)
			}
			it := mcMustGet(t, raw, lockKey)
			if tc.lockValue == "" { // CodeIgniter: time()
				if ts, err := strconv.ParseInt(string(it.Value), 10, 64); err != nil || time.Since(time.Unix(ts, 0)).Abs() > 2*time.Second {
					t.Errorf("lock value %q, want time()", it.Value)
				}
			} else if string(it.Value) != tc.lockValue {
				t.Errorf("lock value %q, want %q", it.Value, tc.lockValue)
			}
			if it.Flags != tc.lockFlags {
				t.Errorf("lock flags %d, want %d", it.Flags, tc.lockFlags)
			}
			if ttl := mcTTL(t, addr, lockKey); ttl < tc.lockTTL-2 || ttl > tc.lockTTL {
				t.Errorf("lock TTL %d, want %d", ttl, tc.lockTTL)
			}
			if err := lk.Write(tctx(t), &handlers.Record{Data: data}); err != nil {
				t.Fatal(err)
			}
			if err := lk.Unlock(tctx(t)); err != nil {
				t.Fatal(err)
			}
			if _, err := raw.Get(lockKey); !errors.Is(err, memcache.ErrCacheMiss) {
				t.Errorf("lock key after Unlock: %v", err)
			}
			it = mcMustGet(t, raw, key)
			if !bytes.Equal(it.Value, data) || it.Flags != 0 {
				t.Errorf("stored %q flags %d, want %q flags 0", it.Value, it.Flags, data)
			}
			wantTTL := 1440
			if strings.Contains(tc.query, "ci") {
				wantTTL = 7200
			}
			if ttl := mcTTL(t, addr, key); ttl < wantTTL-2 || ttl > wantTTL {
				t.Errorf("TTL %d, want %d", ttl, wantTTL)
			}
			rec, err := s.Read(tctx(t), id)
			if err != nil {
				t.Fatal(err)
			}
			q, _ := url.ParseQuery(tc.query)
			if rec.Meta.IP != q.Get("match_ip") {
				t.Errorf("Meta.IP = %q, want %q", rec.Meta.IP, q.Get("match_ip"))
			}
		})
	}
}

// TestMemcachedExpiry checks the 30-day rule: longer lifetimes are written
// as absolute unix times (as php-memcached does), and ttl=0 never expires.
func TestMemcachedExpiry(t *testing.T) {
	addr := testenv.Memcached(t)
	for _, layout := range []string{"native", "ci4"} {
		s := openStore(t, "memcached://"+addr+"?layout="+layout+"&ttl=3456000")
		id := storetest.NewID()
		if err := s.Write(tctx(t), &handlers.Record{ID: id, Data: []byte("a|i:1;")}); err != nil {
			t.Fatal(err)
		}
		rec, err := s.Read(tctx(t), id)
		if err != nil {
			t.Fatalf("%s: a 40-day session is gone at once: %v", layout, err)
		}
		if d := rec.TTL - 3456000*time.Second; d < -5*time.Second || d > time.Second {
			t.Errorf("%s: TTL of a 40-day session = %v", layout, rec.TTL)
		}
		never := openStore(t, "memcached://"+addr+"?layout="+layout+"&ttl=0")
		if err := never.Write(tctx(t), &handlers.Record{ID: id, Data: []byte("a|i:1;")}); err != nil {
			t.Fatal(err)
		}
		if ttl := mcTTL(t, addr, map[string]string{"native": "memc.sess.key.", "ci4": "ci_session:ci_session:"}[layout]+id); ttl != -1 {
			t.Errorf("%s: ttl=0 wrote TTL %d, want none (-1)", layout, ttl)
		}
	}
}

func TestMemcachedOptions(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []string{
		"memcached://127.0.0.1:1?layout=ci5",
		"memcached://127.0.0.1:1?colour=red",
		"memcached://127.0.0.1:1?layout=ci3&cookie=x",
		"memcached://127.0.0.1:1?layout=ci4&cookie=x&prefix=y",
		"memcached://127.0.0.1:1?layout=ci3&match_ip=on",
		"memcached://127.0.0.1:1?prefix=a%20b",
		"memcached://127.0.0.1:1?lock_expire=0",
		"memcached://127.0.0.1:1?timeout=0",
		"memcached://127.0.0.1:99999",
		"memcached://127.0.0.1:1/0",
		"memcached://user:pw@127.0.0.1:1",
		"memcached://",
		"memcache://127.0.0.1:1?layout=ci3",
		"memcache://127.0.0.1:1?match_ip=1.2.3.4",
	} {
		if s, err := handlers.Open(ctx, bad); err == nil {
			s.Close()
			t.Errorf("Open(%s) succeeded", bad)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("Open(%s): error shows the password: %v", bad, err)
		}
	}
	s, err := handlers.Open(ctx, "memcached://127.0.0.1:1,localhost,127.0.0.1:2?layout=ci3&ttl=60&lock=off")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if i := s.Info(); i.Backend != "memcached" || i.Layout != "ci3" || i.TTL != time.Minute || i.Locking || i.Handler != "php" {
		t.Errorf("Info = %+v", i)
	}
	m, err := handlers.Open(ctx, "memcache://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if i := m.Info(); i.Backend != "memcache" || i.Layout != "native" || i.TTL != 1440*time.Second || !i.Locking {
		t.Errorf("Info = %+v", i)
	}
}

// ------------------------------------------------- php-memcached native --

// mcPHPServer serves mcPHPScript with a session save handler
// ("memcached" or "memcache") and save path; workers > 1 serves requests
// in parallel.
func mcPHPServer(t *testing.T, handler, savePath string, ini map[string]string, workers int) string {
	all := map[string]string{
		"session.save_handler":    handler,
		"session.save_path":       savePath,
		"session.use_strict_mode": "0",
		"session.gc_probability":  "0",
	}
	for k, v := range ini {
		all[k] = v
	}
	root := mcDocroot(t, map[string]string{"s.php": mcPHPScript})
	var env []string
	if workers > 1 {
		env = []string{"PHP_CLI_SERVER_WORKERS=" + strconv.Itoa(workers)}
	}
	return testenv.PHPServer(t, root, all, env)
}

// TestMemcachedNativePHP: PHP (save_handler=memcached) writes, Go reads; Go
// writes, PHP's next request reads it and keeps working.
func TestMemcachedNativePHP(t *testing.T) {
	t.Parallel()
	addr := testenv.Memcached(t)
	base := mcPHPServer(t, "memcached", addr, nil, 1)
	s := openStore(t, "memcached://"+addr)
	raw := mcRaw(addr)
	id := storetest.NewID()
	php := newMCPHPClient(t, base, "PHPSESSID", id)

	if r := php.mustGet("/s.php"); r.ID != id || mcSeenN(r) != 0 {
		t.Fatalf("first PHP request: %+v", r)
	}
	rec, err := s.Read(tctx(t), id)
	if err != nil {
		t.Fatalf("Go reads PHP's session: %v", err)
	}
	if string(rec.Data) != "n|i:1;" {
		t.Fatalf("Go read %q", rec.Data)
	}
	if rec.TTL < 1430*time.Second || rec.TTL > 1440*time.Second {
		t.Errorf("TTL of PHP's session = %v, want ~1440s", rec.TTL)
	}
	if it := mcMustGet(t, raw, "memc.sess.key."+id); it.Flags != 0 {
		t.Errorf("PHP stored flags %d", it.Flags)
	}

	goData := mcPayload(t, "n", 41, "from", "go", "list", []any{1, "two"})
	if err := s.Write(tctx(t), &handlers.Record{ID: id, Data: goData}); err != nil {
		t.Fatal(err)
	}
	r := php.mustGet("/s.php")
	if mcSeenN(r) != 41 || r.Seen["from"] != "go" {
		t.Fatalf("PHP read Go's write as %+v", r.Seen)
	}
	if n := mcReadN(t, s, id); n != 42 {
		t.Fatalf("after PHP incremented Go's session: n=%d, want 42", n)
	}
	// A large session: php-memcached's session handler never compresses.
	php.mustGet("/s.php?big=2000")
	if it := mcMustGet(t, raw, "memc.sess.key."+id); it.Flags != 0 || !bytes.Contains(it.Value, []byte("compressible session data")) {
		t.Errorf("large native session stored with flags %d", it.Flags)
	}
	if n := mcReadN(t, s, id); n != 43 {
		t.Fatalf("n=%d, want 43", n)
	}
	if err := s.Destroy(tctx(t), id); err != nil {
		t.Fatal(err)
	}
	if r := php.mustGet("/s.php"); mcSeenN(r) != 0 {
		t.Fatalf("PHP still sees a destroyed session: %+v", r.Seen)
	}
}

// TestMemcachedNativeLocking: locks are shared both ways with
// php-memcached's session locking (on by default).
func TestMemcachedNativeLocking(t *testing.T) {
	t.Parallel()
	addr := testenv.Memcached(t)
	base := mcPHPServer(t, "memcached", addr, nil, 2)
	raw := mcRaw(addr)
	id := storetest.NewID()
	php := newMCPHPClient(t, base, "PHPSESSID", id)
	php.mustGet("/s.php")

	t.Run("PHPHolds", func(t *testing.T) {
		done := php.async("/s.php?hold=1500")
		mcWaitKey(t, raw, "memc.sess.key.lock."+id)
		impatient := openStore(t, "memcached://"+addr+"?lock_timeout=0.3")
		err := impatient.Write(tctx(t), &handlers.Record{ID: id, Data: mcPayload(t, "n", 100)})
		if !errors.Is(err, handlers.ErrLockTimeout) {
			t.Fatalf("Write while PHP holds the session: %v, want ErrLockTimeout", err)
		}
		if !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), "memcached") {
			t.Errorf("error does not name backend and id: %v", err)
		}
		patient := openStore(t, "memcached://"+addr+"?lock_timeout=10")
		start := time.Now()
		if err := patient.Write(tctx(t), &handlers.Record{ID: id, Data: mcPayload(t, "n", 100)}); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if !r.OK || mcSeenN(r) != 1 {
			t.Fatalf("PHP request: %+v", r)
		}
		if d := time.Since(start); d < 500*time.Millisecond {
			t.Errorf("Go wrote after %v, before PHP released its lock", d)
		}
		if n := mcReadN(t, patient, id); n != 100 {
			t.Fatalf("n=%d: PHP's write came after Go's", n)
		}
	})

	t.Run("GoHolds", func(t *testing.T) {
		s := openStore(t, "memcached://"+addr)
		lk, err := s.(handlers.Locker).Lock(tctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		r, err := php.get("/s.php")
		if err != nil {
			t.Fatal(err)
		}
		// php-memcached gives up after 5 retries of 150 ms, and
		// session_start() fails without writing.
		if r.OK || r.Waited < 0.6 || r.Waited > 3 {
			t.Fatalf("PHP while Go holds the lock: %+v, want session_start failing after ~0.75 s", r)
		}
		t.Logf("PHP gave up after %.2fs: %s", r.Waited, r.Error)
		if err := lk.Write(tctx(t), &handlers.Record{Data: mcPayload(t, "n", 7)}); err != nil {
			t.Fatal(err)
		}
		if err := lk.Unlock(tctx(t)); err != nil {
			t.Fatal(err)
		}
		if n := mcReadN(t, s, id); n != 7 {
			t.Fatalf("n=%d: PHP overwrote Go's locked session", n)
		}
		if r := php.mustGet("/s.php"); mcSeenN(r) != 7 {
			t.Fatalf("PHP after Unlock saw %+v", r.Seen)
		}
	})
}

// mcCounter increments one session's n from PHP requests and Go Updates at
// once; with both sides locking, no increment is lost.
func mcCounter(t *testing.T, s handlers.Store, base, cookie, path string, phpN, goN, each int) {
	t.Helper()
	id := storetest.NewID()
	if strings.HasPrefix(s.Info().Layout, "ci4") {
		id = mcHexID(32)()
	}
	var wg sync.WaitGroup
	errs := make(chan error, (phpN+goN)*each)
	for range phpN {
		wg.Add(1)
		go func() {
			defer wg.Done()
			php := newMCPHPClient(t, base, cookie, id)
			for range each {
				r, err := php.get(path)
				if err == nil && !r.OK {
					err = fmt.Errorf("PHP request failed: %+v", r)
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	for range goN {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := handlers.Update(tctx(t), s, id, func(rec *handlers.Record) error {
					n, err := mcDataN(rec.Data)
					rec.Data = storetest.Counter(phpserialize.HandlerPHP, max(n, 0)+1)
					return err
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := mcReadN(t, s, id); n != (phpN+goN)*each {
		t.Fatalf("after %d increments n=%d: updates were lost", (phpN+goN)*each, n)
	}
}

func TestMemcachedNativeCounter(t *testing.T) {
	t.Parallel()
	addr := testenv.Memcached(t)
	// PHP's own patience is 5 x 150 ms: let it wait as long as Go does.
	base := mcPHPServer(t, "memcached", addr, map[string]string{
		"memcached.sess_lock_retries":  "3000",
		"memcached.sess_lock_wait_min": "2",
		"memcached.sess_lock_wait_max": "10",
	}, 4)
	s := openStore(t, "memcached://"+addr+"?lock_timeout=30")
	mcCounter(t, s, base, "PHPSESSID", "/s.php", 3, 2, 10)
}

// -------------------------------------------------- Memcached class values --

// mcClassScript stores files through php-memcached's Memcached class, as
// the CodeIgniter drivers do (binary protocol, OPT_COMPRESSION on by
// default), with the compression type named per key.
const mcClassScript = `<?php
[$port, $specs] = [(int)$argv[1], array_slice($argv, 2)];
$m = new Memcached();
$m->setOption(Memcached::OPT_BINARY_PROTOCOL, true);
$m->addServer('127.0.0.1', $port);
$zstd = defined('Memcached::HAVE_ZSTD') && constant('Memcached::HAVE_ZSTD');
foreach ($specs as $spec) {
	[$key, $type, $file] = explode('=', $spec, 3);
	if ($type === 'zstd' && !$zstd) { continue; }
	$m->setOption(Memcached::OPT_COMPRESSION, $type !== 'none');
	if ($type !== 'none') {
		$m->setOption(Memcached::OPT_COMPRESSION_TYPE, constant('Memcached::COMPRESSION_' . strtoupper($type)));
	}
	if (!$m->set($key, file_get_contents($file), 7200)) { fwrite(STDERR, "set $key: " . $m->getResultMessage()); exit(1); }
}
echo $zstd ? "zstd" : "nozstd";
`

// mcClassGetScript prints, base64, (string) Memcached::get of each key, as
// CodeIgniter reads sessions.
const mcClassGetScript = `<?php
$m = new Memcached();
$m->setOption(Memcached::OPT_BINARY_PROTOCOL, true);
$m->addServer('127.0.0.1', (int)$argv[1]);
foreach (array_slice($argv, 2) as $key) { echo base64_encode((string)$m->get($key)), "\n"; }
`

func mcRunPHP(t *testing.T, script string, args ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "script.php")
	if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(tctx(t), testenv.PHP(t), append([]string{f}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("php: %v: %s", err, stderr.Bytes())
	}
	return string(out)
}

// mcSessionBlob is a compressible session of about size bytes, with a
// random block repeated far apart (so that FastLZ level 2 needs its 16-bit
// distances).
func mcSessionBlob(size int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	block := make([]byte, 3000)
	for i := range block {
		block[i] = "0123456789abcdef"[r.IntN(16)]
	}
	var b bytes.Buffer
	for b.Len() < size {
		b.Write(block)
		fmt.Fprintf(&b, "%s", strings.Repeat("session filler ", r.IntN(3000)+1500))
	}
	body := b.Bytes()[:size]
	return []byte(fmt.Sprintf("__ci_last_regenerate|i:1795300000;blob|s:%d:\"%s\";", len(body), body))
}

// TestMemcachedClassCompression: values the Memcached class wrote
// compressed (FastLZ levels 1 and 2, zlib, zstd where the extension has it)
// read back through the CodeIgniter layouts byte for byte.
func TestMemcachedClassCompression(t *testing.T) {
	t.Parallel()
	addr := testenv.Memcached(t)
	_, port, _ := net.SplitHostPort(addr)
	s := openStore(t, "memcached://"+addr+"?layout=ci3")
	raw := mcRaw(addr)
	dir := t.TempDir()
	type value struct {
		typ   string
		data  []byte
		flags uint32
	}
	values := map[string]value{
		"fastlz":      {"fastlz", mcSessionBlob(5000, 1), 0x50},
		"fastlz-lvl2": {"fastlz", mcSessionBlob(200000, 2), 0x50},
		"zlib":        {"zlib", mcSessionBlob(50000, 3), 0x30},
		"zstd":        {"zstd", mcSessionBlob(50000, 4), 0x90},
		"small":       {"fastlz", []byte("n|i:1;"), 0},
		"none":        {"none", mcSessionBlob(5000, 5), 0},
	}
	ids := map[string]string{}
	var specs []string
	for name, v := range values {
		id := mcHexID(40)()
		ids[name] = id
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, v.data, 0o644); err != nil {
			t.Fatal(err)
		}
		specs = append(specs, "ci_session:"+id+"="+v.typ+"="+f)
	}
	zstdSupport := mcRunPHP(t, mcClassScript, append([]string{port}, specs...)...)
	if zstdSupport != "zstd" {
		// php-memcached < 3.3 has no zstd: store what it would, a 4-byte
		// length and a zstd frame with flags 0x90.
		t.Logf("php-memcached has no zstd (Memcached::HAVE_ZSTD undefined); testing a zstd value made in Go")
		enc, _ := zstd.NewWriter(nil)
		v := values["zstd"].data
		payload := binary.LittleEndian.AppendUint32(nil, uint32(len(v)))
		payload = enc.EncodeAll(v, payload)
		if err := raw.Set(&memcache.Item{Key: "ci_session:" + ids["zstd"], Value: payload, Flags: 0x90}); err != nil {
			t.Fatal(err)
		}
	}
	for name, v := range values {
		it := mcMustGet(t, raw, "ci_session:"+ids[name])
		if it.Flags != v.flags {
			t.Errorf("%s: stored with flags %#x, want %#x", name, it.Flags, v.flags)
		}
		if name == "fastlz-lvl2" && len(it.Value) > 4 && it.Value[4]>>5 != 1 {
			t.Errorf("%s: FastLZ level %d, want 2", name, it.Value[4]>>5+1)
		}
		rec, err := s.Read(tctx(t), ids[name])
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(rec.Data, v.data) {
			t.Errorf("%s: read %d bytes, PHP stored %d", name, len(rec.Data), len(v.data))
		}
	}

	// Old php-memcached (1.x): compressed flag, no compressor flag, a bare
	// zlib stream; and scalars CodeIgniter would cast to string.
	var zb bytes.Buffer
	zw := zlib.NewWriter(&zb)
	zw.Write(values["none"].data)
	zw.Close()
	for _, tc := range []struct {
		name  string
		value []byte
		flags uint32
		want  string
		bad   bool
	}{
		{"legacy zlib", zb.Bytes(), 0x10, string(values["none"].data), false},
		{"long", []byte("42"), 1, "42", false},
		{"bool", []byte("1"), 3, "1", false},
		{"serialized array", []byte(`a:0:{}`), 4, "", true},
		{"igbinary", []byte{0, 0, 0, 2, 0x14, 0}, 5, "", true},
		{"corrupt fastlz", []byte{0x10, 0, 0, 0, 0x40, 1, 2}, 0x50, "", true},
		{"huge claim", []byte{0xff, 0xff, 0xff, 0xff, 0, 1}, 0x50, "", true},
	} {
		id := mcHexID(40)()
		if err := raw.Set(&memcache.Item{Key: "ci_session:" + id, Value: tc.value, Flags: tc.flags}); err != nil {
			t.Fatal(err)
		}
		rec, err := s.Read(tctx(t), id)
		switch {
		case tc.bad && err == nil:
			t.Errorf("%s: read %q, want an error", tc.name, rec.Data)
		case tc.bad && (strings.Contains(err.Error(), "a:0") || !strings.Contains(err.Error(), id)):
			t.Errorf("%s: error %v", tc.name, err)
		case !tc.bad && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !tc.bad && string(rec.Data) != tc.want:
			t.Errorf("%s: read %.40q, want %.40q", tc.name, rec.Data, tc.want)
		}
	}

	// And the other way: what Go writes, the Memcached class reads.
	id := mcHexID(40)()
	big := mcSessionBlob(30000, 9)
	if err := s.Write(tctx(t), &handlers.Record{ID: id, Data: big}); err != nil {
		t.Fatal(err)
	}
	out := strings.TrimSpace(mcRunPHP(t, mcClassGetScript, port, "ci_session:"+id))
	if out != base64.StdEncoding.EncodeToString(big) {
		t.Fatalf("Memcached::get of Go's write differs (%d base64 chars)", len(out))
	}
}

// ------------------------------------------------------------ CodeIgniter --

// mcCIHandler emulates CodeIgniter's Memcached session drivers, line for
// line where it matters: CI3 3.1.13 Session_memcached_driver and CI4
// MemcachedHandler (4.2.11 to 4.6; 4.7.0 cannot start, see the spec). The
// keys, lock keys, lock values and lifetimes are theirs.
const mcCIHandler = `<?php
class CIMemcachedSession implements SessionHandlerInterface {
	private $m, $lockKey, $lock = false, $fingerprint, $sessionID;
	private $prefix = 'ci_session:';
	public function __construct(private int $ver, private int $port, string $cookie, bool $matchIP, private int $expiration) {
		if ($ver === 4) { $this->prefix .= $cookie . ':'; }
		if ($matchIP) { $this->prefix .= $_SERVER['REMOTE_ADDR'] . ':'; }
	}
	public function open($path, $name): bool {
		$this->m = new Memcached();
		$this->m->setOption(Memcached::OPT_BINARY_PROTOCOL, true);
		return $this->m->addServer('127.0.0.1', $this->port);
	}
	public function read($id): string|false {
		if (!$this->getLock($id)) { return $this->ver === 3 ? false : ''; }
		$this->sessionID = $id;
		$data = (string) $this->m->get($this->prefix . $id);
		$this->fingerprint = md5($data);
		return $data;
	}
	public function write($id, $data): bool {
		if (!isset($this->lockKey)) { return false; }
		if ($id !== $this->sessionID) {
			if (!$this->releaseLock() || !$this->getLock($id)) { return false; }
			$this->fingerprint = md5('');
			$this->sessionID = $id;
		}
		$key = $this->prefix . $id;
		$this->m->replace($this->lockKey, time(), 300);
		if ($this->fingerprint !== ($fingerprint = md5($data))) {
			if ($this->m->set($key, $data, $this->expiration)) { $this->fingerprint = $fingerprint; return true; }
			return false;
		}
		if ($this->ver === 4) { return $this->m->touch($key, $this->expiration); }
		return $this->m->touch($key, $this->expiration)
			|| ($this->m->getResultCode() === Memcached::RES_NOTFOUND && $this->m->set($key, $data, $this->expiration));
	}
	public function close(): bool {
		if ($this->ver === 3) { $this->releaseLock(); } elseif (isset($this->lockKey)) { $this->m->delete($this->lockKey); }
		$this->m->quit();
		return true;
	}
	public function destroy($id): bool { $this->m->delete($this->prefix . $id); return true; }
	public function gc($max): int|false { return 1; }
	private function getLock($id) {
		if ($this->ver === 3) {
			if ($this->lockKey === $this->prefix . $id . ':lock') {
				if (!$this->m->replace($this->lockKey, time(), 300)) {
					return $this->m->getResultCode() === Memcached::RES_NOTFOUND ? $this->m->add($this->lockKey, time(), 300) : false;
				}
			}
			$lockKey = $this->prefix . $id . ':lock';
			$attempt = 0;
			do {
				if ($this->m->get($lockKey)) { sleep(1); continue; }
				$method = ($this->m->getResultCode() === Memcached::RES_NOTFOUND) ? 'add' : 'set';
				if (!$this->m->$method($lockKey, time(), 300)) { return false; }
				$this->lockKey = $lockKey;
				break;
			} while (++$attempt < 30);
			if ($attempt === 30) { return false; }
			$this->lock = true;
			return true;
		}
		if (isset($this->lockKey)) { return $this->m->replace($this->lockKey, time(), 300); }
		$lockKey = $this->prefix . $id . ':lock';
		$attempt = 0;
		do {
			if ($this->m->get($lockKey) !== false) { sleep(1); continue; }
			if (!$this->m->set($lockKey, time(), 300)) { return false; }
			$this->lockKey = $lockKey;
			break;
		} while (++$attempt < 30);
		if ($attempt === 30) { return false; }
		$this->lock = true;
		return true;
	}
	private function releaseLock() {
		if (isset($this->m, $this->lockKey) && $this->lock) {
			if (!$this->m->delete($this->lockKey) && $this->m->getResultCode() !== Memcached::RES_NOTFOUND) { return false; }
			$this->lockKey = null;
			$this->lock = false;
		}
		return true;
	}
}
$cookie = getenv('CI_COOKIE') ?: 'ci_session';
session_set_save_handler(new CIMemcachedSession((int)getenv('CI_VERSION'), (int)getenv('CI_PORT'), $cookie, getenv('CI_MATCH_IP') === '1', 7200), true);
session_name($cookie);
`

func mcCIServer(t *testing.T, addr string, version int, cookie string, matchIP bool) string {
	_, port, _ := net.SplitHostPort(addr)
	root := mcDocroot(t, map[string]string{
		"handler.php": mcCIHandler,
		"s.php":       strings.Replace(mcPHPScript, "<?php\n", "<?php\nrequire __DIR__ . '/handler.php';\n", 1),
	})
	m := "0"
	if matchIP {
		m = "1"
	}
	return testenv.PHPServer(t, root, map[string]string{"session.use_strict_mode": "0", "session.gc_probability": "0"}, []string{
		"PHP_CLI_SERVER_WORKERS=2", "CI_VERSION=" + strconv.Itoa(version), "CI_PORT=" + port, "CI_COOKIE=" + cookie, "CI_MATCH_IP=" + m,
	})
}

func TestMemcachedCodeIgniter(t *testing.T) {
	addr := testenv.Memcached(t)
	for _, tc := range []struct {
		name, query, cookie, key string
		version                  int
		matchIP                  bool
	}{
		{"ci3", "layout=ci3", "ci_session", "ci_session:", 3, false},
		{"ci3/match_ip", "layout=ci3&match_ip=127.0.0.1", "ci_session", "ci_session:127.0.0.1:", 3, true},
		{"ci4", "layout=ci4", "ci_session", "ci_session:ci_session:", 4, false},
		{"ci4/cookie+match_ip", "layout=ci4&cookie=shop&match_ip=127.0.0.1", "shop", "ci_session:shop:127.0.0.1:", 4, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := mcCIServer(t, addr, tc.version, tc.cookie, tc.matchIP)
			s := openStore(t, "memcached://"+addr+"?"+tc.query)
			raw := mcRaw(addr)
			id := mcHexID(32)()
			php := newMCPHPClient(t, base, tc.cookie, id)

			// PHP writes, Go reads.
			php.mustGet("/s.php")
			rec, err := s.Read(tctx(t), id)
			if err != nil {
				t.Fatalf("Go reads CodeIgniter's session: %v", err)
			}
			if string(rec.Data) != "n|i:1;" {
				t.Fatalf("read %q", rec.Data)
			}
			if ttl := mcTTL(t, addr, tc.key+id); ttl < 7190 || ttl > 7200 {
				t.Errorf("CodeIgniter's TTL %d", ttl)
			}
			// Go writes (large enough that PHP would compress it), PHP reads.
			goData := mcPayload(t, "n", 10, "big", strings.Repeat("go data ", 1000))
			if err := s.Write(tctx(t), &handlers.Record{ID: id, Data: goData}); err != nil {
				t.Fatal(err)
			}
			if r := php.mustGet("/s.php"); mcSeenN(r) != 10 {
				t.Fatalf("CodeIgniter read Go's write as %v", r.Seen["n"])
			}
			if n := mcReadN(t, s, id); n != 11 {
				t.Fatalf("n=%d, want 11", n)
			}

			// CodeIgniter holds the lock: Go waits; its lock item is CI's.
			done := php.async("/s.php?hold=1200")
			mcWaitKey(t, raw, tc.key+id+":lock")
			if it := mcMustGet(t, raw, tc.key+id+":lock"); it.Flags != 1 {
				t.Errorf("CodeIgniter's lock flags %d", it.Flags)
			}
			impatient := openStore(t, "memcached://"+addr+"?"+tc.query+"&lock_timeout=0.2")
			if err := impatient.Write(tctx(t), &handlers.Record{ID: id, Data: goData}); !errors.Is(err, handlers.ErrLockTimeout) {
				t.Fatalf("Write while CodeIgniter holds the lock: %v", err)
			}
			err = handlers.Update(tctx(t), s, id, func(rec *handlers.Record) error {
				rec.Data = append(rec.Data, []byte("go|b:1;")...)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if r := <-done; !r.OK {
				t.Fatalf("PHP: %+v", r)
			}
			if n := mcReadN(t, s, id); n != 12 {
				t.Fatalf("n=%d, want 12: Go did not wait for CodeIgniter", n)
			}

			// Go holds the lock: CodeIgniter waits (1 s sleeps), then sees
			// Go's write.
			lk, err := s.(handlers.Locker).Lock(tctx(t), id)
			if err != nil {
				t.Fatal(err)
			}
			done = php.async("/s.php")
			time.Sleep(300 * time.Millisecond)
			if err := lk.Write(tctx(t), &handlers.Record{Data: mcPayload(t, "n", 50)}); err != nil {
				t.Fatal(err)
			}
			lk.Unlock(tctx(t))
			r := <-done
			if !r.OK || mcSeenN(r) != 50 || r.Waited < 0.9 {
				t.Fatalf("CodeIgniter while Go held the lock: %+v", r)
			}
			if n := mcReadN(t, s, id); n != 51 {
				t.Fatalf("n=%d, want 51", n)
			}
		})
	}
}

// -------------------------------------------------------------- hostile --

// mcListener accepts connections and counts them, answering nothing.
func mcListener(t *testing.T) (addr string, conns *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().String(), conns
}

// TestMemcacheBadIDs: ids no layout could have made are rejected before
// anything is sent (not even a connection).
func TestMemcacheBadIDs(t *testing.T) {
	addr, conns := mcListener(t)
	long := strings.Repeat("a", 246) // with ".lock" longer than a memcached key
	for _, u := range []string{
		"memcached://" + addr, "memcached://" + addr + "?layout=ci3&match_ip=10.0.0.1",
		"memcached://" + addr + "?layout=ci4", "memcache://" + addr, "memcached://" + addr + "?lock=off",
	} {
		s := openStore(t, u)
		for _, id := range []string{"", "a b", "a\r\nflush_all", "a\x00", "../x", "a.lock", "a:b", "ä", long, strings.Repeat("b", 300)} {
			ctx := tctx(t)
			checks := map[string]error{}
			_, checks["Read"] = s.Read(ctx, id)
			checks["Write"] = s.Write(ctx, &handlers.Record{ID: id, Data: []byte("a|i:1;")})
			checks["Destroy"] = s.Destroy(ctx, id)
			checks["Touch"] = s.(handlers.Toucher).Touch(ctx, id, time.Minute)
			_, checks["Lock"] = s.(handlers.Locker).Lock(ctx, id)
			for op, err := range checks {
				if !errors.Is(err, handlers.ErrInvalidID) {
					t.Errorf("%s %s(%.20q) = %v, want ErrInvalidID", u, op, id, err)
				}
			}
		}
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("bad ids made %d connections", n)
	}
	// The control: a good id does reach the (mute) server.
	s := openStore(t, "memcached://"+addr+"?timeout=0.2")
	if _, err := s.Read(tctx(t), "goodid"); err == nil || errors.Is(err, handlers.ErrInvalidID) {
		t.Fatalf("Read from a server that hangs up: %v", err)
	}
	if conns.Load() == 0 {
		t.Fatal("the control read made no connection")
	}
}

// TestMemcachedServerDies: a killed or frozen memcached gives clear errors
// quickly, never a hang, and the store recovers when it is back.
func TestMemcachedServerDies(t *testing.T) {
	t.Parallel()
	srv := testenv.NewMemcached(t)
	s := openStore(t, "memcached://"+srv.Addr+"?timeout=0.5")
	holder := openStore(t, "memcached://"+srv.Addr+"?timeout=0.5")
	id := storetest.NewID()
	data := mcPayload(t, "n", 1)
	if err := s.Write(tctx(t), &handlers.Record{ID: id, Data: data}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(tctx(t), id); err != nil {
		t.Fatal(err)
	}

	// A writer waiting for a lock when the server dies stops waiting.
	lk, err := holder.(handlers.Locker).Lock(tctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() { waiting <- s.Write(tctx(t), &handlers.Record{ID: id, Data: data}) }()
	time.Sleep(200 * time.Millisecond)
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	select {
	case err := <-waiting:
		if err == nil || errors.Is(err, handlers.ErrLockTimeout) {
			t.Fatalf("lock waiter after the server died: %v", err)
		}
		t.Logf("lock waiter: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("lock waiter still waiting 5 s after the server died")
	}
	for op, f := range map[string]func() error{
		"read":  func() error { _, err := s.Read(tctx(t), id); return err },
		"write": func() error { return s.Write(tctx(t), &handlers.Record{ID: id, Data: data}) },
		"list":  func() error { return s.(handlers.Lister).List(tctx(t), func(string) error { return nil }) },
	} {
		start := time.Now()
		err := f()
		if err == nil || errors.Is(err, handlers.ErrNotFound) {
			t.Fatalf("%s with the server dead: %v", op, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s took %v to fail", op, d)
		}
		msg := err.Error()
		if !strings.Contains(msg, "memcached") || !strings.Contains(msg, op) || !strings.Contains(msg, srv.Addr) || (op != "list" && !strings.Contains(msg, id)) {
			t.Errorf("%s error does not say what failed: %v", op, err)
		}
		if strings.Contains(msg, "n|i:1") {
			t.Errorf("%s error shows session data: %v", op, err)
		}
	}
	t.Logf("errors within %v of the kill", time.Since(killed).Round(time.Millisecond))

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	lk.Unlock(tctx(t))
	if err := s.Write(tctx(t), &handlers.Record{ID: id, Data: data}); err != nil {
		t.Fatalf("Write after the server came back: %v", err)
	}
	if _, err := s.Read(tctx(t), id); err != nil {
		t.Fatalf("Read after the server came back: %v", err)
	}
	// A restart behind the pooled connections' back: the first command
	// finds them dead, and still succeeds.
	for _, stop := range []func() error{srv.Kill, srv.Stop} {
		var wg sync.WaitGroup
		for range 8 { // fill the pools with idle connections
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.Read(tctx(t), id)
				s.(handlers.Toucher).Touch(tctx(t), id, 0)
			}()
		}
		wg.Wait()
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		if err := s.Write(tctx(t), &handlers.Record{ID: id, Data: data}); err != nil {
			t.Fatalf("Write after a restart: %v", err)
		}
		if _, err := s.Read(tctx(t), id); err != nil {
			t.Fatalf("Read after a restart: %v", err)
		}
	}

	// A frozen server: commands time out.
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	defer srv.Resume()
	start := time.Now()
	_, err = s.Read(tctx(t), id)
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("Read from a frozen server: %v after %v", err, time.Since(start))
	}
	t.Logf("frozen: %v", err)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := s.Read(ctx, id); err == nil || time.Since(start) > time.Second {
		t.Fatalf("Read with a 100 ms context from a frozen server: %v after %v", err, time.Since(start))
	}
}

// TestMemcachedOldServer: a server without meta commands or LRU crawler
// (memcached 1.4, or a proxy) still serves Read, with TTL 0, and List says
// why it cannot list.
func TestMemcachedOldServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mgSeen atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch f := strings.Fields(line); {
					case f[0] == "mg":
						mgSeen.Add(1)
						io.WriteString(c, "ERROR\r\n")
					case f[0] == "gets" && f[1] == "memc.sess.key.old1":
						io.WriteString(c, "VALUE memc.sess.key.old1 0 6 9\r\nn|i:5;\r\nEND\r\n")
					case f[0] == "gets":
						io.WriteString(c, "END\r\n")
					case f[0] == "lru_crawler":
						io.WriteString(c, "CLIENT_ERROR lru crawler disabled\r\n")
					default:
						io.WriteString(c, "ERROR\r\n")
					}
				}
			}()
		}
	}()
	s := openStore(t, "memcached://"+ln.Addr().String())
	for range 3 {
		rec, err := s.Read(tctx(t), "old1")
		if err != nil {
			t.Fatal(err)
		}
		if string(rec.Data) != "n|i:5;" || rec.TTL != 0 {
			t.Fatalf("Read = %q TTL %v", rec.Data, rec.TTL)
		}
	}
	if _, err := s.Read(tctx(t), "old2"); !errors.Is(err, handlers.ErrNotFound) {
		t.Fatalf("Read of a missing session: %v", err)
	}
	if n := mgSeen.Load(); n != 1 {
		t.Errorf("mg tried %d times, want once", n)
	}
	err = s.(handlers.Lister).List(tctx(t), func(string) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "cannot list keys") || !strings.Contains(err.Error(), "lru crawler disabled") {
		t.Fatalf("List without the LRU crawler: %v", err)
	}
	t.Log(err)
}

// TestMemcachedListSkips: List reports sessions of the layout only, not
// lock keys, other layouts' keys or expired items.
func TestMemcachedListSkips(t *testing.T) {
	srv := testenv.NewMemcached(t)
	raw := mcRaw(srv.Addr)
	for _, k := range []string{"memc.sess.key.lock.abc", "ci_session:abc", "memc.sess.key.a.b", "other", "memc.sess.key.x y"} {
		raw.Set(&memcache.Item{Key: strings.ReplaceAll(k, " ", "_"), Value: []byte("x")})
	}
	// expired at once, but still in memory until the crawler reclaims it
	raw.Set(&memcache.Item{Key: "memc.sess.key.expired", Value: []byte("x"), Expiration: int32(time.Now().Unix() - 100)})
	native := openStore(t, "memcached://"+srv.Addr)
	native.Write(tctx(t), &handlers.Record{ID: "live1", Data: []byte("a|i:1;")})
	var got []string
	if err := native.(handlers.Lister).List(tctx(t), func(id string) error { got = append(got, id); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "live1" {
		t.Fatalf("List = %v, want [live1]", got)
	}
}

// ------------------------------------------------------------ benchmarks --

var mcBenchData = bytes.Repeat([]byte(`k|s:40:"0123456789012345678901234567890123456789";`), 20)

func BenchmarkMemcachedGet(b *testing.B) {
	addr := testenv.Memcached(b)
	s := openStore(b, "memcached://"+addr)
	id := storetest.NewID()
	if err := s.Write(context.Background(), &handlers.Record{ID: id, Data: mcBenchData}); err != nil {
		b.Fatal(err)
	}
	b.Run("store", func(b *testing.B) {
		ctx := context.Background()
		for b.Loop() {
			if _, err := s.Read(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gomemcache", func(b *testing.B) {
		c := memcache.New(addr)
		for b.Loop() {
			if _, err := c.Get("memc.sess.key." + id); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkMemcachedPut(b *testing.B) {
	addr := testenv.Memcached(b)
	id := storetest.NewID()
	for _, lock := range []string{"on", "off"} {
		s := openStore(b, "memcached://"+addr+"?lock="+lock)
		b.Run("store/lock="+lock, func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				if err := s.Write(ctx, &handlers.Record{ID: id, Data: mcBenchData}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("gomemcache", func(b *testing.B) {
		c := memcache.New(addr)
		for b.Loop() {
			if err := c.Set(&memcache.Item{Key: "memc.sess.key." + id, Value: mcBenchData, Expiration: 1440}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
