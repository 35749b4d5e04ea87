package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/phpsess/phpsess/internal/testenv"
)

// Tests of memcached_selectors.go: Go picks the memcached server PHP picks,
// for every layout's PHP client, checked against the real PHP extensions.

// poolCtx is the context of one pool test.
func poolCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// RunPHP runs a PHP script with args and -d ini settings and returns its
// output; anything on stderr fails t. Exported for the tests of package
// handlers_test.
func RunPHP(t testing.TB, ini map[string]string, script string, args ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "pool.php")
	if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	var argv []string
	for k, v := range ini {
		argv = append(argv, "-d", k+`="`+v+`"`)
	}
	argv = append(argv, f)
	cmd := exec.CommandContext(poolCtx(t), testenv.PHP(t), append(argv, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("php: %v: %s", err, stderr.Bytes())
	}
	return string(out)
}

// poolKeys are n session ids of the forms PHP makes (32 hex digits, 26 and
// 48 characters of [0-9a-v], and a few odd ones).
func poolKeys(n int) []string {
	keys := []string{"a", "0", "abc,def-ghi", strings.Repeat("Z", 128)}
	for i := 0; len(keys) < n; i++ {
		switch i % 3 {
		case 0:
			keys = append(keys, fmt.Sprintf("%032x", uint64(i)*0x9e3779b97f4a7c15))
		case 1:
			keys = append(keys, fmt.Sprintf("%026d", uint64(i)*2654435761)[:26])
		default:
			keys = append(keys, fmt.Sprintf("s%047x", uint64(i)*0xc2b2ae3d27d4eb4f))
		}
	}
	return keys[:n]
}

// poolSelector builds the selector a store URL gets.
func poolSelector(t testing.TB, rawURL, layout, prefix string) *mcSelector {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	o := newOptions(u)
	sel, _, err := newMCSelector(o, u.Scheme, layout, prefix)
	if err != nil {
		t.Fatalf("%s: %v", rawURL, err)
	}
	return sel
}

// poolClassScript prints, for each key of a file, the server PHP's
// Memcached class (getServerByKey) or pecl's Memcache class (findServer)
// picks. The config is JSON: client, options set before and after
// addServer (Memcached constant names), servers [host, port, weight].
const poolClassScript = `<?php
$cfg = json_decode($argv[1], true);
$keys = file($argv[2], FILE_IGNORE_NEW_LINES);
$opt = function ($m, $opts) {
	foreach ($opts as $k => $v) {
		$v = is_string($v) && defined("Memcached::$v") ? constant("Memcached::$v") : $v;
		if (!$m->setOption(constant("Memcached::$k"), $v)) { fwrite(STDERR, "setOption $k failed\n"); exit(1); }
	}
};
if ($cfg['client'] === 'memcached') {
	$m = new Memcached();
	$opt($m, $cfg['before'] ?? []);
	foreach ($cfg['servers'] as $s) $m->addServer($s[0], $s[1], $s[2]);
	$opt($m, $cfg['after'] ?? []);
	foreach ($keys as $k) { $s = $m->getServerByKey($k); echo $s['host'], ':', $s['port'], "\n"; }
} else {
	$m = new Memcache();
	foreach ($cfg['servers'] as $s) $m->addServer($s[0], $s[1], false, $s[2]);
	foreach ($keys as $k) echo $m->findServer($k), "\n";
}
`

// TestMemcachedSelectorsMatchPHPClasses compares Go's choice with what the
// Memcached class (getServerByKey) and pecl's Memcache class (findServer)
// answer, for 1,000 keys and every distribution, hash and weights. No
// server is needed: both compute the choice without connecting.
func TestMemcachedSelectorsMatchPHPClasses(t *testing.T) {
	t.Parallel()
	testenv.PHP(t)
	keys := poolKeys(1000)
	keyFile := filepath.Join(t.TempDir(), "keys")
	os.WriteFile(keyFile, []byte(strings.Join(keys, "\n")+"\n"), 0o644)

	// 127.0.0.1:11211 has the continuum label "127.0.0.1-i" (no port).
	plain := [][3]any{{"127.0.0.1", 11211, 1}, {"127.0.0.1", 11312, 1}, {"127.0.0.2", 11313, 1}}
	weighted := [][3]any{{"127.0.0.1", 11211, 1}, {"127.0.0.1", 11312, 3}, {"127.0.0.2", 11313, 2}}
	two := [][3]any{{"127.0.0.1", 11211, 1}, {"127.0.0.2", 11313, 1}}
	hostList := func(servers [][3]any) string {
		var hs []string
		for _, s := range servers {
			hs = append(hs, fmt.Sprintf("%s:%d:%d", s[0], s[1], s[2]))
		}
		return strings.Join(hs, ",")
	}
	type opts = map[string]any
	cases := []struct {
		name, client string
		before       opts
		after        opts
		servers      [][3]any
		url          string // query of the Go store URL
		layout       string
		prefix       string
		ini          map[string]string
	}{
		{"class default (CodeIgniter)", "memcached", opts{"OPT_BINARY_PROTOCOL": true}, nil, plain, "", "ci3", "", nil},
		{"class default, weights ignored", "memcached", nil, nil, weighted, "", "ci4", "", nil},
		{"class default, 2 servers", "memcached", nil, nil, two, "", "ci3", "", nil},
		{"OPT_HASH md5", "memcached", opts{"OPT_HASH": "HASH_MD5"}, nil, plain, "hash=md5", "ci3", "", nil},
		{"OPT_HASH crc", "memcached", opts{"OPT_HASH": "HASH_CRC"}, nil, plain, "hash=crc", "ci3", "", nil},
		{"OPT_HASH fnv1_64", "memcached", opts{"OPT_HASH": "HASH_FNV1_64"}, nil, plain, "hash=fnv1_64", "ci3", "", nil},
		{"OPT_HASH fnv1a_64", "memcached", opts{"OPT_HASH": "HASH_FNV1A_64"}, nil, plain, "hash=fnv1a_64", "ci3", "", nil},
		{"OPT_HASH fnv1_32", "memcached", opts{"OPT_HASH": "HASH_FNV1_32"}, nil, plain, "hash=fnv1_32", "ci3", "", nil},
		{"OPT_HASH fnv1a_32", "memcached", opts{"OPT_HASH": "HASH_FNV1A_32"}, nil, plain, "hash=fnv1a_32", "ci3", "", nil},
		{"DISTRIBUTION_CONSISTENT", "memcached", opts{"OPT_DISTRIBUTION": "DISTRIBUTION_CONSISTENT"}, nil, plain, "distribution=consistent", "ci3", "", nil},
		{"DISTRIBUTION_CONSISTENT before weighted servers (Phalcon 5)", "memcached",
			opts{"OPT_DISTRIBUTION": "DISTRIBUTION_CONSISTENT", "OPT_PREFIX_KEY": "sess-memc-"}, nil, weighted, "", "phalcon5", "sess-memc-", nil},
		{"DISTRIBUTION_CONSISTENT after weighted servers", "memcached", nil, opts{"OPT_DISTRIBUTION": "DISTRIBUTION_CONSISTENT"}, weighted, "distribution=ketama", "ci3", "", nil},
		{"DISTRIBUTION_CONSISTENT with md5", "memcached", opts{"OPT_DISTRIBUTION": "DISTRIBUTION_CONSISTENT", "OPT_HASH": "HASH_MD5"}, nil, plain, "distribution=consistent&hash=md5", "ci3", "", nil},
		{"OPT_LIBKETAMA_COMPATIBLE", "memcached", opts{"OPT_LIBKETAMA_COMPATIBLE": true}, nil, plain, "distribution=ketama_weighted", "ci3", "", nil},
		{"OPT_LIBKETAMA_COMPATIBLE weighted", "memcached", opts{"OPT_LIBKETAMA_COMPATIBLE": true}, nil, weighted, "distribution=ketama_weighted", "ci4", "", nil},
		{"OPT_LIBKETAMA_COMPATIBLE after servers", "memcached", nil, opts{"OPT_LIBKETAMA_COMPATIBLE": true}, weighted, "distribution=ketama_weighted", "ci3", "", nil},
		{"OPT_LIBKETAMA_COMPATIBLE, 2 servers", "memcached", opts{"OPT_LIBKETAMA_COMPATIBLE": true}, nil, two, "distribution=ketama_weighted", "ci3", "", nil},
		{"OPT_PREFIX_KEY namespace not hashed", "memcached", opts{"OPT_PREFIX_KEY": "pfx."}, nil, plain, "hash_with_prefix=off&prefix=pfx.", "ci3", "pfx.", nil},
		{"pecl consistent (Phalcon 3, DALMP)", "memcache", nil, nil, plain, "", "phalcon3", "", nil},
		{"pecl consistent weighted", "memcache", nil, nil, weighted, "", "dalmp", "", nil},
		{"pecl consistent, 2 servers", "memcache", nil, nil, two, "", "dalmp", "", nil},
		{"pecl consistent fnv", "memcache", nil, nil, weighted, "hash=fnv", "phalcon3", "", map[string]string{"memcache.hash_function": "fnv"}},
		{"pecl standard", "memcache", nil, nil, plain, "distribution=standard", "phalcon3", "", map[string]string{"memcache.hash_strategy": "standard"}},
		{"pecl standard weighted fnv", "memcache", nil, nil, weighted, "distribution=standard&hash=fnv", "dalmp", "",
			map[string]string{"memcache.hash_strategy": "standard", "memcache.hash_function": "fnv"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg, _ := json.Marshal(map[string]any{"client": c.client, "before": c.before, "after": c.after, "servers": c.servers})
			if c.before == nil {
				cfg, _ = json.Marshal(map[string]any{"client": c.client, "after": c.after, "servers": c.servers})
			}
			out := strings.Fields(RunPHP(t, c.ini, poolClassScript, string(cfg), keyFile))
			if len(out) != len(keys) {
				t.Fatalf("PHP answered %d servers for %d keys", len(out), len(keys))
			}
			rawURL := c.client + "://" + hostList(c.servers) + "?" + c.url
			sel := poolSelector(t, rawURL, c.layout, c.prefix)
			bad := 0
			for i, k := range keys {
				a, err := sel.PickServer(c.prefix + k)
				if err != nil {
					t.Fatal(err)
				}
				if a.String() != out[i] {
					if bad++; bad <= 5 {
						t.Errorf("key %q: Go picks %s, PHP %s", k, a, out[i])
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d keys on another server than PHP's", bad, len(keys))
			}
		})
	}
}

// PHPSessionLoop is a PHP script that drives the session handler the ini
// settings choose, in one process: "php PHPSessionLoop write FILE" stores
// n|i:<line number>; under every id of FILE, "read" prints "<id> <n>" for
// each ("-" for an empty session). Exported for the tests of package
// handlers_test.
const PHPSessionLoop = `<?php
ob_start();
$ids = file($argv[2], FILE_IGNORE_NEW_LINES);
foreach ($ids as $i => $id) {
	session_id($id);
	if (!session_start()) { fwrite(STDERR, "session_start($id) failed\n"); exit(1); }
	if ($argv[1] === 'write') {
		$_SESSION['n'] = $i;
	} else {
		echo $id, ' ', $_SESSION['n'] ?? '-', "\n";
	}
	if (!session_write_close()) { fwrite(STDERR, "session_write_close($id) failed\n"); exit(1); }
}
`

// poolCIScript uses the Memcached class as CodeIgniter's Memcached session
// driver does (binary protocol, addServer in save_path order, key
// ci_session:<id>), with the options of argv[3] (JSON, Memcached constant
// names) set before addServer: "write" sets n|i:<line>; for every id,
// "read" prints "<id> <n>".
const poolCIScript = `<?php
$ids = file($argv[2], FILE_IGNORE_NEW_LINES);
$cfg = json_decode($argv[3], true);
$m = new Memcached();
$m->setOption(Memcached::OPT_BINARY_PROTOCOL, true);
// not CodeIgniter's, and no bearing on the server choice: without it each
// binary-protocol command waits for a delayed ACK
$m->setOption(Memcached::OPT_TCP_NODELAY, true);
foreach ($cfg['options'] as $k => $v) {
	$m->setOption(constant("Memcached::$k"), is_string($v) ? constant("Memcached::$v") : $v);
}
foreach ($cfg['servers'] as $s) $m->addServer($s[0], $s[1], $s[2]);
foreach ($ids as $i => $id) {
	if ($argv[1] === 'write') {
		if (!$m->set("ci_session:$id", "n|i:$i;", 7200)) { fwrite(STDERR, "set($id): " . $m->getResultMessage() . "\n"); exit(1); }
	} else {
		$v = $m->get("ci_session:$id");
		echo $id, ' ', $v === false ? '-' : (int)substr($v, 4), "\n";
	}
}
`

// poolServer is one memcached of a test pool, with a weight.
type poolServer struct {
	addr   string
	weight int
}

// poolIDs returns n session ids starting with tag.
func poolIDs(tag string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%04d%024x", tag, i, uint64(i+1)*0x9e3779b97f4a7c15)
	}
	return ids
}

// poolHolders asks every server of the pool which of keys it holds, and
// returns key -> addresses, in pool order.
func poolHolders(t testing.TB, pool []poolServer, keys []string) map[string][]string {
	t.Helper()
	held := map[string][]string{}
	for _, s := range pool {
		c := memcache.New(s.addr)
		c.Timeout = 5 * time.Second
		for start := 0; start < len(keys); start += 100 {
			items, err := c.GetMulti(keys[start:min(start+100, len(keys))])
			if err != nil {
				t.Fatalf("get from %s: %v", s.addr, err)
			}
			for k := range items {
				held[k] = append(held[k], s.addr)
			}
		}
		c.Close()
	}
	return held
}

// poolChosen returns the servers a store writes key to, in order.
func poolChosen(t testing.TB, s Store, key string) []string {
	t.Helper()
	var stores []*mcStore
	switch st := s.(type) {
	case *mcStore:
		stores = []*mcStore{st}
	case *mcCopies:
		stores = st.copies
	default:
		t.Fatalf("store is a %T", s)
	}
	var addrs []string
	for _, st := range stores {
		a, err := st.c.sel.PickServer(key)
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, a.String())
	}
	return addrs
}

// poolWriteFile writes ids one per line to a temporary file.
func poolWriteFile(t testing.TB, ids []string) string {
	f := filepath.Join(t.TempDir(), "ids")
	if err := os.WriteFile(f, []byte(strings.Join(ids, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// poolCheckRead checks a PHP "read" output: every id has n = its line.
func poolCheckRead(t testing.TB, out string, ids []string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(ids) {
		t.Fatalf("PHP read %d sessions, want %d", len(lines), len(ids))
	}
	bad := 0
	for i, l := range lines {
		if want := fmt.Sprintf("%s %d", ids[i], i); l != want {
			if bad++; bad <= 5 {
				t.Errorf("PHP read %q, want %q", l, want)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("PHP did not find %d of the %d sessions Go wrote", bad, len(ids))
	}
}

// poolRun is one pool configuration seen from both sides.
type poolRun struct {
	pool     []poolServer
	goURL    string                                   // the Go store URL
	prefix   string                                   // the data key prefix
	phpWrite func(t *testing.T, idFile string)        // PHP writes ids
	phpRead  func(t *testing.T, idFile string) string // PHP reads ids
	phpGone  func(t *testing.T, ids []string)         // optional: after Go's Destroy
}

// check runs the proof for one configuration: PHP writes n sessions and Go
// finds each on exactly the servers it would have picked, and reads it; Go
// writes n sessions and PHP reads every one. It returns the ids PHP wrote
// (session i holds n|i:i;).
func (r poolRun) check(t *testing.T, tag string, n int) []string {
	t.Helper()
	ctx := poolCtx(t)
	s, err := Open(ctx, r.goURL)
	if err != nil {
		t.Fatalf("Open(%s): %v", r.goURL, err)
	}
	defer s.Close()

	phpIDs := poolIDs(tag+"p", n)
	r.phpWrite(t, poolWriteFile(t, phpIDs))
	keys := make([]string, n)
	for i, id := range phpIDs {
		keys[i] = r.prefix + id
	}
	held := poolHolders(t, r.pool, keys)
	perServer := map[string]int{}
	bad := 0
	for i, id := range phpIDs {
		want := poolChosen(t, s, keys[i])
		perServer[want[0]]++
		got := held[keys[i]]
		if !slicesEqualSet(got, want) {
			if bad++; bad <= 5 {
				t.Errorf("session %s: PHP stored it on %v, Go would use %v", id, got, want)
			}
			continue
		}
		rec, err := s.Read(ctx, id)
		if err != nil || string(rec.Data) != fmt.Sprintf("n|i:%d;", i) {
			t.Fatalf("Go reads PHP's session %s: %v %q", id, err, recData(rec))
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d PHP sessions are not where Go looks", bad, n)
	}
	if len(perServer) != len(r.pool) {
		t.Errorf("PHP's sessions spread over %d of %d servers: %v", len(perServer), len(r.pool), perServer)
	}
	t.Logf("%d PHP sessions found where Go looks (first copy per server: %v)", n, perServer)

	goIDs := poolIDs(tag+"g", n)
	for i, id := range goIDs {
		if err := s.Write(ctx, &Record{ID: id, Data: fmt.Appendf(nil, "n|i:%d;", i)}); err != nil {
			t.Fatal(err)
		}
	}
	poolCheckRead(t, r.phpRead(t, poolWriteFile(t, goIDs)), goIDs)
	if r.phpGone != nil {
		for _, id := range goIDs {
			if err := s.Destroy(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		r.phpGone(t, goIDs)
	}
	return phpIDs
}

func recData(rec *Record) []byte {
	if rec == nil {
		return nil
	}
	return rec.Data
}

// slicesEqualSet reports whether a and b hold the same strings.
func slicesEqualSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		seen[x]--
	}
	for _, v := range seen {
		if v != 0 {
			return false
		}
	}
	return true
}

// afterRemoval opens the pool without one server (r is the smaller
// configuration) and checks that Go and PHP find exactly the same of the
// sessions PHP wrote with the full pool (ids, n|i:<index>;): those whose
// server survived, as each client's continuum (or modulo) moves keys. It
// returns how many both still find.
func (r poolRun) afterRemoval(t *testing.T, ids []string) int {
	t.Helper()
	ctx := poolCtx(t)
	s, err := Open(ctx, r.goURL)
	if err != nil {
		t.Fatalf("Open(%s): %v", r.goURL, err)
	}
	defer s.Close()
	goFound := map[string]bool{}
	for i, id := range ids {
		rec, err := s.Read(ctx, id)
		switch {
		case err == nil && string(rec.Data) == fmt.Sprintf("n|i:%d;", i):
			goFound[id] = true
		case err != nil && !errors.Is(err, ErrNotFound):
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(r.phpRead(t, poolWriteFile(t, ids))), "\n")
	if len(lines) != len(ids) {
		t.Fatalf("PHP read %d sessions, want %d", len(lines), len(ids))
	}
	bad := 0
	for i, l := range lines {
		phpFound := l == fmt.Sprintf("%s %d", ids[i], i)
		if phpFound != goFound[ids[i]] {
			if bad++; bad <= 5 {
				t.Errorf("session %s: PHP read %q, Go found it: %v", ids[i], l, goFound[ids[i]])
			}
		}
	}
	if bad > 0 {
		t.Fatalf("with a server removed, Go and PHP disagree on %d of %d sessions", bad, len(ids))
	}
	return len(goFound)
}

// poolN is how many sessions each side writes per configuration.
const poolN = 1000

// TestMemcachedPoolPHPSessions: three memcached servers. For each PHP
// client (php-memcached's session handler, the Memcached class as
// CodeIgniter uses it, pecl memcache's session handler), with equal and
// with unequal weights: PHP writes 1,000 sessions and Go finds every one
// on the server(s) PHP chose; Go writes 1,000 and PHP reads every one.
// Then one server is removed from both configurations and Go and PHP
// still agree, session by session, on which sessions are found.
func TestMemcachedPoolPHPSessions(t *testing.T) {
	t.Parallel()
	testenv.PHP(t)
	var pool []poolServer
	for range 3 {
		pool = append(pool, poolServer{addr: testenv.NewMemcached(t).Addr, weight: 1})
	}
	weighted := []poolServer{{pool[0].addr, 1}, {pool[1].addr, 3}, {pool[2].addr, 2}}
	without := func(p []poolServer, i int) []poolServer {
		return append(append([]poolServer{}, p[:i]...), p[i+1:]...)
	}
	// libmemcached's save_path and the URL host list: HOST:PORT[:WEIGHT]
	hosts := func(p []poolServer) string {
		var hs []string
		for _, s := range p {
			hs = append(hs, fmt.Sprintf("%s:%d", s.addr, s.weight))
		}
		return strings.Join(hs, ",")
	}
	peclPath := func(p []poolServer) string {
		var hs []string
		for _, s := range p {
			hs = append(hs, fmt.Sprintf("tcp://%s?weight=%d", s.addr, s.weight))
		}
		return strings.Join(hs, ",")
	}
	sessionINI := func(handler, path string, extra map[string]string) map[string]string {
		ini := map[string]string{
			"session.save_handler": handler, "session.save_path": path,
			"session.use_strict_mode": "0", "session.use_cookies": "0", "session.cache_limiter": "",
			"session.gc_probability": "0", "session.serialize_handler": "php",
		}
		for k, v := range extra {
			ini[k] = v
		}
		return ini
	}
	sessionRun := func(p []poolServer, goURL, prefix, handler, path string, extra map[string]string) poolRun {
		ini := sessionINI(handler, path, extra)
		return poolRun{
			pool: p, goURL: goURL, prefix: prefix,
			phpWrite: func(t *testing.T, f string) { RunPHP(t, ini, PHPSessionLoop, "write", f) },
			phpRead:  func(t *testing.T, f string) string { return RunPHP(t, ini, PHPSessionLoop, "read", f) },
		}
	}
	ciRun := func(p []poolServer, query string, options map[string]any) poolRun {
		var servers [][3]any
		for _, s := range p {
			h, port, _ := strings.Cut(s.addr, ":")
			servers = append(servers, [3]any{h, port, s.weight})
		}
		for i := range servers {
			servers[i][1], _ = strconv.Atoi(servers[i][1].(string))
		}
		cfg, _ := json.Marshal(map[string]any{"options": options, "servers": servers})
		return poolRun{
			pool: p, goURL: "memcached://" + hosts(p) + "?layout=ci3&" + query, prefix: "ci_session:",
			phpWrite: func(t *testing.T, f string) { RunPHP(t, nil, poolCIScript, "write", f, string(cfg)) },
			phpRead:  func(t *testing.T, f string) string { return RunPHP(t, nil, poolCIScript, "read", f, string(cfg)) },
		}
	}
	type config struct {
		name string
		run  func(p []poolServer) poolRun
	}
	configs := []config{
		{"php-memcached session handler (ketama)", func(p []poolServer) poolRun {
			return sessionRun(p, "memcached://"+hosts(p), "memc.sess.key.", "memcached", hosts(p), nil)
		}},
		{"php-memcached session handler (ketama_weighted)", func(p []poolServer) poolRun {
			return sessionRun(p, "memcached://"+hosts(p)+"?distribution=ketama_weighted", "memc.sess.key.", "memcached", hosts(p),
				map[string]string{"memcached.sess_consistent_hash_type": "ketama_weighted"})
		}},
		{"php-memcached session handler (sess_consistent_hash off)", func(p []poolServer) poolRun {
			return sessionRun(p, "memcached://"+hosts(p)+"?distribution=modula", "memc.sess.key.", "memcached", hosts(p),
				map[string]string{"memcached.sess_consistent_hash": "0"})
		}},
		{"Memcached class as CodeIgniter uses it (modula)", func(p []poolServer) poolRun {
			return ciRun(p, "", map[string]any{})
		}},
		{"Memcached class with OPT_LIBKETAMA_COMPATIBLE", func(p []poolServer) poolRun {
			return ciRun(p, "distribution=ketama_weighted", map[string]any{"OPT_LIBKETAMA_COMPATIBLE": true})
		}},
		{"pecl memcache session handler (redundancy 2)", func(p []poolServer) poolRun {
			r := sessionRun(p, "memcache://"+hosts(p), "", "memcache", peclPath(p), nil)
			r.phpGone = func(t *testing.T, ids []string) {
				out := r.phpRead(t, poolWriteFile(t, ids))
				if n := strings.Count(out, " -\n"); n != len(ids) {
					t.Errorf("PHP still finds %d of %d sessions Go destroyed (a copy left on a second server)", len(ids)-n, len(ids))
				}
			}
			return r
		}},
		{"pecl memcache session handler (redundancy 1)", func(p []poolServer) poolRun {
			return sessionRun(p, "memcache://"+hosts(p)+"?redundancy=1", "", "memcache", peclPath(p),
				map[string]string{"memcache.session_redundancy": "1"})
		}},
	}
	for ci, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			for wi, p := range [][]poolServer{pool, weighted} {
				tag := fmt.Sprintf("c%dw%d", ci, wi)
				ids := c.run(p).check(t, tag, poolN)
				if wi == 0 {
					continue
				}
				removed := 1 // the heaviest server
				found := c.run(without(p, removed)).afterRemoval(t, ids)
				t.Logf("weights %v: with %s removed, Go and PHP both still find %d of %d sessions", hosts(p), p[removed].addr, found, poolN)
			}
		})
	}
	t.Run("php-memcached session lock", func(t *testing.T) {
		// PHP holds each session's lock while the script asks every server
		// for the lock item: it is where Go takes the lock, which is not
		// always the session's server (the lock hashes as "lock.<id>")
		var addrs []string
		for _, s := range pool {
			addrs = append(addrs, s.addr)
		}
		ini := sessionINI("memcached", hosts(pool), nil)
		ids := poolIDs("lk", 100)
		out := RunPHP(t, ini, poolLockScript, poolWriteFile(t, ids), strings.Join(addrs, ","))
		s, err := Open(poolCtx(t), "memcached://"+hosts(pool))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		elsewhere := 0
		for i, l := range strings.Split(strings.TrimSpace(out), "\n") {
			lock := poolChosen(t, s, "memc.sess.key.lock."+ids[i])[0]
			if want := ids[i] + " " + lock; l != want {
				t.Fatalf("PHP's lock: %q, Go would lock %q", l, want)
			}
			if lock != poolChosen(t, s, "memc.sess.key."+ids[i])[0] {
				elsewhere++
			}
		}
		t.Logf("%d of %d locks on another server than their session, where Go locks too", elsewhere, len(ids))
	})
}

// poolLockScript opens the session of every id of argv[1] (php-memcached's
// handler, locking on) and, while it holds the lock, prints "<id> <server>"
// for the server of argv[2] (a comma-separated list) holding the lock item.
const poolLockScript = `<?php
ob_start();
$servers = explode(',', $argv[2]);
foreach (file($argv[1], FILE_IGNORE_NEW_LINES) as $id) {
	session_id($id);
	if (!session_start()) { fwrite(STDERR, "session_start($id) failed\n"); exit(1); }
	$where = [];
	foreach ($servers as $s) {
		[$h, $p] = explode(':', $s);
		$c = new Memcached();
		$c->addServer($h, (int)$p);
		if ($c->get("memc.sess.key.lock.$id") !== false) $where[] = $s;
	}
	echo $id, ' ', implode('+', $where), "\n";
	session_write_close();
}
`

// TestMemcachedPoolOptions: the pool options are checked per layout, and
// weights parse as HOST:PORT:WEIGHT.
func TestMemcachedPoolOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, want string }{
		{"memcached://127.0.0.1:1?distribution=consistent_hash", `distribution="consistent_hash"`},
		{"memcached://127.0.0.1:1?distribution=standard", `want one of modula, ketama, consistent, ketama_weighted`},
		{"memcached://127.0.0.1:1?hash=crc32", `hash="crc32"`},
		{"memcached://127.0.0.1:1?redundancy=2", "redundancy= applies to memcache://"},
		{"memcached://127.0.0.1:1?layout=dalmp&hash_with_prefix=on", "pecl memcache always hashes the whole key"},
		{"memcached://127.0.0.1:1?layout=phalcon5&distribution=x", `distribution="x"`},
		{"memcache://127.0.0.1:1?distribution=ketama", "want one of consistent, standard"},
		{"memcache://127.0.0.1:1?hash=md5", "want one of crc32, fnv"},
		{"memcache://127.0.0.1:1?redundancy=0", "redundancy=0"},
		{"memcache://127.0.0.1:1?layout=phalcon3&redundancy=2", "session handler"},
		{"memcached://127.0.0.1:1:0,127.0.0.1:2", "weight after the port must be 1 to 1000"},
		{"memcached://127.0.0.1:1:1001", "weight after the port"},
		{"memcached://127.0.0.1:1:x", "invalid port"}, // url.Parse
	} {
		s, err := Open(context.Background(), tc.url)
		if err == nil {
			s.Close()
			t.Errorf("Open(%s) worked", tc.url)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%s): %v, want %q", tc.url, err, tc.want)
		}
	}
	for _, tc := range []struct {
		url     string
		weights []int
		hosts   []string
	}{
		{"memcached://a:1:3,b,c.example:7:2,d:11211", []int{3, 1, 2, 1}, []string{"a", "b", "c.example", "d"}},
		{"memcache://10.0.0.1:11211", []int{1}, []string{"10.0.0.1"}},
	} {
		u, _ := url.Parse(tc.url)
		pool, err := mcParsePool(u)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		for i, s := range pool {
			if s.weight != tc.weights[i] || s.host != tc.hosts[i] {
				t.Errorf("%s: server %d = %+v", tc.url, i, s)
			}
		}
	}
}

// FuzzPoolURLs: any host list of a memcached://, memcache://,
// redis+cluster:// or redis+sentinel:// URL parses or is an error, and a
// parsed memcached pool picks a server in range for any key, never
// panicking (nothing is resolved or dialed).
func FuzzPoolURLs(f *testing.F) {
	for _, s := range []string{"a:1:3,b,c:7:2", "127.0.0.1:11211", "[::1]:1", "a:1:0", ",", "a:1:1000,b:2:1000", "h/mymaster/3", "x:99999"} {
		f.Add(s, "key")
	}
	f.Fuzz(func(t *testing.T, hosts, key string) {
		for _, scheme := range []string{"redis+cluster", "redis+sentinel"} {
			if u, err := url.Parse(scheme + "://" + hosts); err == nil {
				parseRedisMultiURL(u)
			}
		}
		u, err := url.Parse("memcached://" + hosts)
		if err != nil {
			return
		}
		pool, err := mcParsePool(u)
		if err != nil || len(pool) == 0 {
			return
		}
		for _, sp := range []mcDistSpec{
			{distribution: "ketama", hash: "one_at_a_time"},
			{distribution: "consistent", hash: "crc"},
			{distribution: "ketama_weighted", hash: "md5"},
			{distribution: "modula", hash: "fnv1a_64"},
		} {
			if i := newLibmcDist(pool, sp).index(key); i < 0 || i >= len(pool) {
				t.Fatalf("%s %s: server %d of %d", hosts, sp.distribution, i, len(pool))
			}
		}
		for _, sp := range []mcDistSpec{{distribution: "consistent", hash: "crc32"}, {distribution: "standard", hash: "fnv"}} {
			d := newPeclDist(pool, sp)
			for _, i := range append(d.sessionServers(key, 3), d.find(key)) {
				if i < 0 || i >= len(pool) {
					t.Fatalf("%s pecl %s: server %d of %d", hosts, sp.distribution, i, len(pool))
				}
			}
		}
	})
}
