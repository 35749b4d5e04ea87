package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/handlers/storetest"
	"github.com/phpsess/phpsess/internal/testenv"
)

// Tests of redis_shard.go: phpredis' session handler with several servers
// in session.save_path, each session on the one phpredis picks, checked
// against phpredis 5.3.7 itself.

// TestRedisShardPick: the server of fixed ids, worked out by hand from
// phpredis' rule: pos = the first 4 bytes of the id as a little-endian
// uint32 % the total weight; the servers, in save_path order reversed,
// hold [0, w_last), [w_last, w_last+w_before), ...
func TestRedisShardPick(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id      string
		weights []int
		want    int
	}{
		// weights 1, 2: phpredis' list is [B(2), A(1)]; B holds pos 0 and
		// 1, A pos 2. "abcd" = 0x64636261 = 1684234849; % 3 = 1 (its digit
		// sum 49 % 3): B.
		{"abcd" + strings.Repeat("0", 28), []int{1, 2}, 1},
		{"0000", []int{1, 2}, 1}, // 0x30303030 = 808464432, % 3 = 0: B
		{"1000", []int{1, 2}, 1}, // 808464433 % 3 = 1: B
		{"2000", []int{1, 2}, 0}, // 808464434 % 3 = 2: A
		// 3 characters: the 4th byte is the NUL terminator
		{"abc", []int{1, 2}, 1},  // 0x00636261 = 6513249, % 3 = 0: B
		{"abe", []int{1, 2}, 0},  // 0x00656261 = 6644321, % 3 = 2: A
		{"abe1", []int{1, 2}, 1}, // 0x31656261 = 828727905, % 3 = 0: B
		// four servers of weight 1: 2^8 % 4 = 0, so pos is the first
		// character % 4 (little-endian: big-endian would take the 4th), and
		// the list [D, C, B, A] gives server 3 - pos
		{"abcd", []int{1, 1, 1, 1}, 2}, // 'a' = 97, % 4 = 1
		{"bcda", []int{1, 1, 1, 1}, 1}, // 98 % 4 = 2
		{"cdab", []int{1, 1, 1, 1}, 0}, // 99 % 4 = 3
		{"dabc", []int{1, 1, 1, 1}, 3}, // 100 % 4 = 0
		// weights 2, 5: [B(5), A(2)]: B holds 0-4, A 5-6. 2^24, 2^16, 2^8
		// are 1, 2, 4 mod 7.
		{"zzzz", []int{2, 5}, 1}, // 122 * (1+2+4+1) = 976, % 7 = 3: B
		{"0a00", []int{2, 5}, 0}, // 48*1 + 48*2 + 97*4 + 48 = 580, % 7 = 6: A
		// weights 1, 2, 3: [C(3), B(2), A(1)]: C 0-2, B 3-4, A 5.
		{"abcd", []int{1, 2, 3}, 2}, // 1684234849 % 6 = 1: C
		{"3000", []int{1, 2, 3}, 1}, // 808464435 % 6 = 3: B
		{"4000", []int{1, 2, 3}, 1}, // 808464436 % 6 = 4: B
		{"5000", []int{1, 2, 3}, 0}, // 808464437 % 6 = 5: A
		{"abcd", []int{7}, 0},
		// what phpredis' close() picks to release a lock: the prefix's
		// "PHPR" = 0x52504850 = 1380993104, % 3 = 2: A
		{"PHPREDIS_SESSION:abcd", []int{1, 2}, 0},
	} {
		if got := handlers.RedisShardPick(tc.id, tc.weights...); got != tc.want {
			t.Errorf("server of %q among weights %v = %d, want %d", tc.id, tc.weights, got, tc.want)
		}
	}
}

// TestRedisShardURLs: mistakes in a URL with several servers are refused
// before anything is sent.
func TestRedisShardURLs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, want string }{
		{"redis://127.0.0.1:1,127.0.0.1:2?layout=ci3", "layout=ci3 with several servers: CodeIgniter's Redis session driver connects to one server"},
		{"redis://127.0.0.1:1,127.0.0.1:2?layout=ci4", "CodeIgniter's Redis session driver connects to one server"},
		{"rediss://127.0.0.1:1,127.0.0.1:2?layout=phalcon5", "Phalcon's Redis session adapter connects to one server"},
		{"redis://127.0.0.1:1,127.0.0.1:2?layout=phalcon3", "Phalcon's Redis session adapter"},
		{"redis://127.0.0.1:1,127.0.0.1:2/0?layout=dalmp", "DALMP's Redis cache connects to one server"},
		{"redis://127.0.0.1:1:2?layout=ci4", "connects to one server"},
		{"redis://127.0.0.1:1,127.0.0.1:1:2", "listed twice"},
		{"redis://127.0.0.1:1,127.0.0.1:2:0", "the weight after the port must be 1 to"},
		{"redis://127.0.0.1:1,127.0.0.1:2:2147483648", "the weight after the port must be 1 to 2147483647"},
		{"redis://127.0.0.1:1:2147483647,127.0.0.1:2:2", "the weights add up to"},
		{"redis://127.0.0.1:1,:5", "want HOST:PORT"},
		{"redis://127.0.0.1:1,127.0.0.1:2/x", "database number"},
		{"redis://127.0.0.1:1,127.0.0.1:2?layout=bogus", "layout="},
		{"redis://127.0.0.1:1,127.0.0.1:2?bogus=1", `unknown option "bogus"`},
		{"redis://127.0.0.1:1,127.0.0.1:2?tls_ca=x", "rediss://"},
	} {
		s, err := handlers.Open(context.Background(), tc.url)
		if err == nil {
			s.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%s) = %v, want an error with %q", tc.url, err, tc.want)
		}
	}
}

// shardPair is two Redis servers of a sharded store: a of weight 1 and b
// of weight 2, listed in that order.
type shardPair struct {
	a, b   string
	ra, rb *redis.Client
}

// newShardPair starts two Redis servers of the test's own.
func newShardPair(t *testing.T) shardPair {
	t.Helper()
	a, b := testenv.NewRedis(t).Addr, testenv.NewRedis(t).Addr
	return shardPair{a: a, b: b, ra: rawRedis(t, a, 0), rb: rawRedis(t, b, 0)}
}

// url is the store URL of the pair with a query.
func (p shardPair) url(query string) string {
	return "redis://" + p.a + "," + p.b + ":2/0?" + query
}

// savePath is phpredis' session.save_path of the pair.
func (p shardPair) savePath() string {
	return "tcp://" + p.a + "?weight=1, tcp://" + p.b + "?weight=2"
}

// holder returns the raw client of the server phpredis picks for id, and
// that of the other.
func (p shardPair) holder(id string) (on, other *redis.Client) {
	if handlers.RedisShardPick(id, 1, 2) == 0 {
		return p.ra, p.rb
	}
	return p.rb, p.ra
}

// checkPlaced fails t unless the session key of every id (with suffix: ""
// or "_LOCK") is on the server phpredis picks for it, and not on the other;
// it returns how many ids each server holds.
func (p shardPair) checkPlaced(t *testing.T, ids []string, suffix string) (onA, onB int) {
	t.Helper()
	ctx := tctx(t)
	for _, id := range ids {
		key := "PHPREDIS_SESSION:" + id + suffix
		on, other := p.holder(id)
		if on.Exists(ctx, key).Val() != 1 || other.Exists(ctx, key).Val() != 0 {
			t.Fatalf("%s: not (only) on %s, the server phpredis picks", key, on.Options().Addr)
		}
		if on == p.ra {
			onA++
		} else {
			onB++
		}
	}
	return onA, onB
}

// checkSpread is checkPlaced for session keys, and fails t unless both
// servers hold some of them.
func (p shardPair) checkSpread(t *testing.T, ids []string) {
	t.Helper()
	onA, onB := p.checkPlaced(t, ids, "")
	if onA == 0 || onB == 0 {
		t.Fatalf("%d sessions on A (weight 1), %d on B (weight 2): want some on each", onA, onB)
	}
	t.Logf("%d sessions on A (weight 1), %d on B (weight 2)", onA, onB)
}

// TestRedisShardConformance runs the store suite on two servers of
// weights 1 and 2, without and with locking.
func TestRedisShardConformance(t *testing.T) {
	t.Parallel()
	p := newShardPair(t)
	multiConformance(t, func(q url.Values) string { return p.url(q.Encode()) }, []multiCase{
		{"native", "layout=native", true},
		{"native-lock", "layout=native&lock=on", false},
	})
}

// TestRedisShardKeys: every operation goes to the session's server: the
// key, its TTL, the lock key, Touch, Destroy, the batches; List and Count
// cover both servers; the store has every capability of a one-server
// native store.
func TestRedisShardKeys(t *testing.T) {
	t.Parallel()
	p := newShardPair(t)
	ctx := tctx(t)
	rawURL := p.url("layout=native&ttl=600")
	s := openStore(t, rawURL)
	if i := s.Info(); i.URL != rawURL || i.Backend != "redis" || i.Layout != "native" || i.Locking || i.TTL != 600*time.Second {
		t.Errorf("Info = %+v", i)
	}
	one := openStore(t, "redis://"+p.a+"/0")
	for name, has := range map[string]func(handlers.Store) bool{
		"Lister":      func(s handlers.Store) bool { _, ok := s.(handlers.Lister); return ok },
		"Locker":      func(s handlers.Store) bool { _, ok := s.(handlers.Locker); return ok },
		"Collector":   func(s handlers.Store) bool { _, ok := s.(handlers.Collector); return ok },
		"Toucher":     func(s handlers.Store) bool { _, ok := s.(handlers.Toucher); return ok },
		"Counter":     func(s handlers.Store) bool { _, ok := s.(handlers.Counter); return ok },
		"BatchReader": func(s handlers.Store) bool { _, ok := s.(handlers.BatchReader); return ok },
		"BatchWriter": func(s handlers.Store) bool { _, ok := s.(handlers.BatchWriter); return ok },
		"Referencer":  func(s handlers.Store) bool { _, ok := s.(handlers.Referencer); return ok },
	} {
		if has(one) != has(s) {
			t.Errorf("%s: the one-server store %v, the sharded store %v", name, has(one), has(s))
		}
	}

	// Write, one at a time and in a batch
	var ids []string
	var recs []*handlers.Record
	for i := range 60 {
		id := storetest.NewID()
		ids = append(ids, id)
		rec := &handlers.Record{ID: id, Data: redisCounter(i)}
		if i < 20 {
			if err := s.Write(ctx, rec); err != nil {
				t.Fatal(err)
			}
		} else {
			recs = append(recs, rec)
		}
	}
	bad := append(recs[:5:5], &handlers.Record{ID: "ab", Data: redisCounter(1)})
	if err := s.(handlers.BatchWriter).WriteBatch(ctx, bad); !errors.Is(err, handlers.ErrInvalidID) {
		t.Fatalf("WriteBatch with a 2-character id: %v, want ErrInvalidID", err)
	}
	if n := p.ra.DBSize(ctx).Val() + p.rb.DBSize(ctx).Val(); n != 20 {
		t.Fatalf("a refused batch wrote: %d keys", n)
	}
	if err := s.(handlers.BatchWriter).WriteBatch(ctx, recs); err != nil {
		t.Fatal(err)
	}
	p.checkSpread(t, ids)
	for _, id := range ids[:3] {
		on, _ := p.holder(id)
		if d := on.TTL(ctx, "PHPREDIS_SESSION:"+id).Val(); d != 600*time.Second {
			t.Errorf("TTL of %s = %v", id, d)
		}
	}

	// ReadBatch, with a missing id among them
	batch := append([]string{storetest.NewID()}, ids...)
	got, err := s.(handlers.BatchReader).ReadBatch(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != nil {
		t.Errorf("ReadBatch of a missing id: %+v", got[0])
	}
	for i, rec := range got[1:] {
		if rec == nil || rec.ID != ids[i] || string(rec.Data) != string(redisCounter(i)) || rec.TTL <= 590*time.Second {
			t.Fatalf("ReadBatch[%d] = %+v, want %s n=%d", i+1, rec, ids[i], i)
		}
	}

	// List and Count: both servers; a key on the wrong server is no
	// session PHP can reach, and is not listed
	stray := storetest.NewID()
	_, other := p.holder(stray)
	other.Set(ctx, "PHPREDIS_SESSION:"+stray, "n|i:1;", time.Minute)
	listed := map[string]int{}
	if err := s.(handlers.Lister).List(ctx, func(id string) error { listed[id]++; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if listed[id] != 1 {
			t.Fatalf("List reported %s %d times", id, listed[id])
		}
	}
	if len(listed) != len(ids) {
		t.Errorf("List reported %d ids, want %d (the stray key %s is not a session)", len(listed), len(ids), stray)
	}
	if n, err := s.(handlers.Counter).Count(ctx); err != nil || n < int64(len(ids)) || n > int64(len(ids))+1 {
		t.Errorf("Count = %d, %v; want %d (+1 for the stray key)", n, err, len(ids))
	}

	// Lock: the lock key is on the session's server
	ls := openStore(t, p.url("layout=native&lock=on&lock_timeout=300ms"))
	for _, id := range ids[:6] {
		h, err := ls.(handlers.Locker).Lock(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		p.checkPlaced(t, []string{id}, "_LOCK")
		if err := ls.Write(ctx, &handlers.Record{ID: id, Data: redisCounter(99)}); !errors.Is(err, handlers.ErrLockTimeout) {
			t.Fatalf("Write while locked: %v, want ErrLockTimeout", err)
		}
		if err := h.Write(ctx, &handlers.Record{Data: redisCounter(7)}); err != nil {
			t.Fatal(err)
		}
		if err := h.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
		on, _ := p.holder(id)
		if v := on.Get(ctx, "PHPREDIS_SESSION:"+id).Val(); v != string(redisCounter(7)) || on.Exists(ctx, "PHPREDIS_SESSION:"+id+"_LOCK").Val() != 0 {
			t.Fatalf("after a locked write and Unlock: %q", v)
		}
	}

	// Touch and Destroy on the session's server
	for _, id := range ids[:6] {
		if err := s.(handlers.Toucher).Touch(ctx, id, 100*time.Second); err != nil {
			t.Fatal(err)
		}
		on, _ := p.holder(id)
		if d := on.TTL(ctx, "PHPREDIS_SESSION:"+id).Val(); d != 100*time.Second {
			t.Errorf("TTL after Touch = %v", d)
		}
		if err := s.Destroy(ctx, id); err != nil {
			t.Fatal(err)
		}
		if on.Exists(ctx, "PHPREDIS_SESSION:"+id).Val() != 0 {
			t.Fatalf("%s left after Destroy", id)
		}
	}

	// ids of 1 or 2 characters: phpredis' server is not known; 3 are fine
	for _, id := range []string{"a", "ab"} {
		if _, err := s.Read(ctx, id); !errors.Is(err, handlers.ErrInvalidID) || !strings.Contains(err.Error(), "under 3 characters") {
			t.Errorf("Read(%q) = %v, want ErrInvalidID", id, err)
		}
	}
	if err := s.Write(ctx, &handlers.Record{ID: "abe", Data: redisCounter(3)}); err != nil {
		t.Fatal(err)
	}
	p.checkPlaced(t, []string{"abe"}, "")

	// an error names the server
	if err := s.(handlers.Toucher).Touch(ctx, storetest.NewID(), time.Minute); !errors.Is(err, handlers.ErrNotFound) || !strings.Contains(err.Error(), "server 127.0.0.1:") {
		t.Errorf("Touch of a missing session: %v", err)
	}
}

// TestRedisShardTLS: rediss:// with several servers, each verified
// against the CA.
func TestRedisShardTLS(t *testing.T) {
	t.Parallel()
	certs := testenv.NewTLSCerts(t) // one CA for both servers
	a, b := testenv.NewRedisTLS(t, certs).Addr, testenv.NewRedisTLS(t, certs).Addr
	q := "?tls_ca=" + url.QueryEscape(certs.CAFile)
	s := openStore(t, "rediss://"+a+","+b+":2/0"+q)
	onA, onB := openStore(t, "rediss://"+a+"/0"+q), openStore(t, "rediss://"+b+"/0"+q)
	ctx := tctx(t)
	var seen [2]int
	for i := range 30 {
		id := storetest.NewID()
		if err := s.Write(ctx, &handlers.Record{ID: id, Data: redisCounter(i)}); err != nil {
			t.Fatal(err)
		}
		on, other := onA, onB
		if k := handlers.RedisShardPick(id, 1, 2); k == 1 {
			on, other = onB, onA
		}
		seen[handlers.RedisShardPick(id, 1, 2)]++
		if rec, err := on.Read(ctx, id); err != nil || string(rec.Data) != string(redisCounter(i)) {
			t.Fatalf("%s on its server: %v %v", id, rec, err)
		}
		if _, err := other.Read(ctx, id); !errors.Is(err, handlers.ErrNotFound) {
			t.Fatalf("%s on the other server: %v", id, err)
		}
	}
	if seen[0] == 0 || seen[1] == 0 {
		t.Fatalf("sessions per server: %v", seen)
	}
	if s, err := handlers.Open(ctx, "rediss://"+a+","+b+"/0?timeout=2"); err == nil {
		s.Close()
		t.Error("an unknown CA was accepted without tls_insecure")
	}
}

// shardPHP runs a PHP script with phpredis' session handler on the pair
// (gc_maxlifetime 1000 s) and the ini settings given: runPHPSessions.
func shardPHP(t *testing.T, p shardPair, ini map[string]string, script string, ids []string, args ...string) string {
	t.Helper()
	all := map[string]string{
		"session.save_handler": "redis", "session.save_path": p.savePath(),
		"session.gc_maxlifetime": "1000",
	}
	maps.Copy(all, ini)
	return runPHPSessions(t, all, script, ids, args...)
}

// shardIDs returns n random session ids, and three of 3 characters
// (whose 4th byte is their NUL terminator).
func shardIDs(n int) []string {
	ids := []string{"abc", "abe", "x-9"}
	for range n {
		ids = append(ids, storetest.NewID())
	}
	return ids
}

// TestRedisShardPHP: phpredis, with the two servers in save_path, writes
// sessions: Go reads every one, and each sits on the server phpredis
// chose. Go then changes them and writes new ones, and PHP reads them all.
func TestRedisShardPHP(t *testing.T) {
	t.Parallel()
	p := newShardPair(t)
	ctx := tctx(t)
	s := openStore(t, p.url("layout=native&ttl=1000"))

	phpIDs := shardIDs(40)
	shardPHP(t, p, nil, handlers.PHPSessionLoop, phpIDs, "write")
	p.checkSpread(t, phpIDs)
	for i, id := range phpIDs {
		rec, err := s.Read(ctx, id)
		if err != nil || string(rec.Data) != fmt.Sprintf("n|i:%d;", i) {
			t.Fatalf("Go reads PHP's session %s: %+v %v", id, rec, err)
		}
		if rec.TTL < 990*time.Second || rec.TTL > 1000*time.Second {
			t.Fatalf("TTL of PHP's session %s: %v", id, rec.TTL)
		}
	}

	// Go changes PHP's sessions and writes new ones; PHP reads them
	goIDs := append(phpIDs, shardIDs(40)[3:]...)
	for i, id := range goIDs {
		if err := s.Write(ctx, &handlers.Record{ID: id, Data: fmt.Appendf(nil, "n|i:%d;", 1000+i)}); err != nil {
			t.Fatal(err)
		}
	}
	p.checkPlaced(t, goIDs, "")
	lines := strings.Split(strings.TrimSpace(shardPHP(t, p, nil, handlers.PHPSessionLoop, goIDs, "read")), "\n")
	if len(lines) != len(goIDs) {
		t.Fatalf("PHP read %d sessions of %d", len(lines), len(goIDs))
	}
	for i, l := range lines {
		if want := fmt.Sprintf("%s %d", goIDs[i], 1000+i); l != want {
			t.Fatalf("PHP read %q, want %q", l, want)
		}
	}
	// Go destroys; PHP finds nothing
	for _, id := range goIDs[:10] {
		if err := s.Destroy(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for i, l := range strings.Split(strings.TrimSpace(shardPHP(t, p, nil, handlers.PHPSessionLoop, goIDs[:10], "read")), "\n") {
		if want := goIDs[i] + " -"; l != want {
			t.Fatalf("PHP after Go's Destroy: %q, want %q", l, want)
		}
	}
}

// shardPHPIncrement adds 100 to n in every session of the id file and
// prints "<id> <n read>|<session_start's error>|<session_write_close's
// error>" (session_write_close returns true even when the write failed).
const shardPHPIncrement = `<?php
ob_start();
foreach (file($argv[1], FILE_IGNORE_NEW_LINES) as $id) {
	session_id($id);
	error_clear_last();
	session_start();
	$startErr = error_get_last()['message'] ?? '';
	$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 100;
	error_clear_last();
	session_write_close();
	echo $id, ' ', $_SESSION['n'] - 100, '|', $startErr, '|', error_get_last()['message'] ?? '', "\n";
}
`

// TestRedisShardPHPLocks checks at runtime what the file comment of
// redis_shard.go says of phpredis' locks with several servers: phpredis
// locks a session on its server but releases the lock on the server it
// picks for the prefixed key ("PHPR..."), which is A here, so the lock of
// every session on B stays behind; PHP's next write of such a session is
// refused, and Go with lock=on waits for the lock and times out.
func TestRedisShardPHPLocks(t *testing.T) {
	t.Parallel()
	p := newShardPair(t)
	ctx := tctx(t)
	if handlers.RedisShardPick("PHPREDIS_SESSION:", 1, 2) != 0 {
		t.Fatal("the test expects phpredis to release locks on A")
	}
	ini := map[string]string{
		"redis.session.locking_enabled": "1",
		"redis.session.lock_expire":     "60",
		"display_errors":                "0",
		"log_errors":                    "0",
	}
	ids := shardIDs(30)
	shardPHP(t, p, ini, handlers.PHPSessionLoop, ids, "write")
	var stuck, freed []string
	for _, id := range ids {
		lock := "PHPREDIS_SESSION:" + id + "_LOCK"
		on, other := p.holder(id)
		if other.Exists(ctx, lock).Val() != 0 {
			t.Fatalf("%s is on the server that does not hold the session", lock)
		}
		held := on.Exists(ctx, lock).Val() == 1
		if held != (on == p.rb) {
			t.Fatalf("%s left behind: %v; want a lock left exactly for the sessions on B", lock, held)
		}
		if !held {
			freed = append(freed, id)
			continue
		}
		stuck = append(stuck, id)
		if v := on.Get(ctx, lock).Val(); !phpredisLockValue.MatchString(v) {
			t.Errorf("%s = %q, not phpredis' host|pid", lock, v)
		}
		if d := on.TTL(ctx, lock).Val(); d <= 50*time.Second || d > 60*time.Second {
			t.Errorf("TTL of %s = %v, want lock_expire 60 s", lock, d)
		}
	}
	if len(stuck) == 0 || len(freed) == 0 {
		t.Fatalf("%d sessions on A, %d on B: want some on each", len(freed), len(stuck))
	}
	t.Logf("phpredis released the locks of %d sessions on A and left those of %d on B", len(freed), len(stuck))

	// PHP's next request for a session on B does not get the lock, reads
	// without it, and its write is refused
	out := strings.Split(strings.TrimSpace(shardPHP(t, p, ini, shardPHPIncrement, ids)), "\n")
	if len(out) != len(ids) {
		t.Fatalf("PHP answered %d lines for %d sessions", len(out), len(ids))
	}
	for i, l := range out {
		id := ids[i]
		on, _ := p.holder(id)
		want := fmt.Sprintf("%s %d||", id, i)
		if on == p.rb {
			want = fmt.Sprintf("%s %d|session_start(): Acquire of session lock was not successful|session_write_close(): Failed to write session data (redis)", id, i)
		}
		if !strings.HasPrefix(l, want) {
			t.Errorf("PHP's second request for %s (on %s):\n%s\nwant\n%s", id, on.Options().Addr, l, want)
		}
		n := i
		if on == p.ra {
			n += 100
		}
		if v := on.Get(ctx, "PHPREDIS_SESSION:"+id).Val(); v != fmt.Sprintf("n|i:%d;", n) {
			t.Errorf("%s after PHP's second request: %q, want n=%d", id, v, n)
		}
	}
	// Go with lock=on: waits for the lock left behind, and times out
	s := openStore(t, p.url("layout=native&lock=on&lock_timeout=200ms"))
	if err := s.Write(ctx, &handlers.Record{ID: stuck[0], Data: redisCounter(1)}); !errors.Is(err, handlers.ErrLockTimeout) {
		t.Errorf("Go's locked write of a session whose lock PHP left: %v, want ErrLockTimeout", err)
	}
	if err := s.Write(ctx, &handlers.Record{ID: freed[0], Data: redisCounter(1)}); err != nil {
		t.Errorf("Go's locked write of a session on A: %v", err)
	}
}
