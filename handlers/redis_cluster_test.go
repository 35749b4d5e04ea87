package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/handlers/storetest"
	"github.com/phpsess/phpsess/internal/testenv"
	"github.com/phpsess/phpsess/migrate"
)

// Tests of redis_cluster.go: Redis Cluster (three masters made by
// redis-cli --cluster create) and Redis Sentinel (a master, a replica and
// three sentinels), with phpredis' rediscluster session handler on the PHP
// side of the cluster.

// TestRedisMultiURLs: URL mistakes are refused before anything is sent.
func TestRedisMultiURLs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, want string }{
		{"redis+cluster:///", "no host"},
		{"redis+cluster://127.0.0.1:1/3", "database 0 only"},
		{"redis+cluster://127.0.0.1:1,:5", "want HOST:PORT"},
		{"redis+sentinel://127.0.0.1:1", "no master name"},
		{"redis+sentinel://127.0.0.1:1/m/x", "database number"},
		{"redis+cluster://127.0.0.1:1?layout=dalmp", "layout=dalmp"},
		{"redis+sentinel://127.0.0.1:1/m?layout=dalmp", "layout=dalmp"},
		{"redis+cluster://127.0.0.1:1?lock=on", "takes no lock"},
		{"redis+cluster://127.0.0.1:1?wait_replicas=1", "redis+sentinel:// only"},
		{"redis+sentinel://127.0.0.1:1/m?wait_timeout=9s", "less than timeout="},
		{"redis+sentinel://127.0.0.1:1/m?wait_replicas=-1", "wait_replicas=-1"},
		{"redis+sentinel://127.0.0.1:1/m?tls_ca=x", "rediss://"},
		{"redis+sentinel://127.0.0.1:1/m?bogus=1", `unknown option "bogus"`},
	} {
		s, err := handlers.Open(context.Background(), tc.url)
		if err == nil {
			s.Close()
			t.Errorf("Open(%s) worked", tc.url)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%s): %v, want %q", tc.url, err, tc.want)
		}
	}
}

// clusterURL is a redis+cluster:// URL of the nodes with a query.
func clusterURL(addrs []string, query string) string {
	return "redis+cluster://" + strings.Join(addrs, ",") + "?" + query
}

// TestRedisClusterConformance runs the store suite on a cluster: the native
// layout without lock (as phpredis' rediscluster handler) and the
// CodeIgniter layouts with their locks split over two slots.
func TestRedisClusterConformance(t *testing.T) {
	t.Parallel()
	addrs := testenv.RedisCluster(t)
	multiConformance(t, func(q url.Values) string { return clusterURL(addrs, q.Encode()) }, []multiCase{
		{"native", "layout=native", true},
		{"ci3", "layout=ci3", false},
		{"ci4-match_ip", "layout=ci4&match_ip=on&ip=10.0.0.7", false},
		{"phalcon5-lock", "layout=phalcon5&lock=on", false},
	})
}

// multiCase is one layout of a conformance run.
type multiCase struct {
	name, query string
	skipLocking bool
}

// multiConformance runs the store suite for each case on the store URL
// storeURL makes of the case's query.
func multiConformance(t *testing.T, storeURL func(url.Values) string, cases []multiCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Run(t, storetest.Config{
				Open: func(t *testing.T, extra url.Values) handlers.Store {
					q, _ := url.ParseQuery(tc.query)
					for k, v := range extra {
						q[k] = v
					}
					return openStore(t, storeURL(q))
				},
				Expires:     true,
				SkipLocking: tc.skipLocking,
			})
		})
	}
}

// clusterClient is a raw go-redis cluster client.
func clusterClient(t testing.TB, addrs []string) *redis.ClusterClient {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRedisClusterKeysAndLocks: the native layout uses phpredis'
// rediscluster prefix and refuses to lock; a CodeIgniter lock lives in
// another slot than its session and still keeps writers out; SCAN-based
// List, Count and WriteBatch see every master.
func TestRedisClusterKeysAndLocks(t *testing.T) {
	t.Parallel()
	addrs := testenv.RedisCluster(t)
	ctx := tctx(t)
	raw := clusterClient(t, addrs)

	native := openStore(t, clusterURL(addrs, "layout=native"))
	id := storetest.NewID()
	if err := native.Write(ctx, &handlers.Record{ID: id, Data: []byte("a|i:1;")}); err != nil {
		t.Fatal(err)
	}
	if v, err := raw.Get(ctx, "PHPREDIS_CLUSTER_SESSION:"+id).Result(); err != nil || v != "a|i:1;" {
		t.Fatalf("native key on the cluster: %q %v", v, err)
	}
	if _, err := native.(handlers.Locker).Lock(ctx, id); err == nil || !strings.Contains(err.Error(), "takes no lock") {
		t.Fatalf("Lock on a cluster's native layout: %v", err)
	}

	ci := openStore(t, clusterURL(addrs, "layout=ci4&lock_timeout=300ms"))
	key := "ci_session:ci_session:" + id
	if redisSlot(t, raw, key) == redisSlot(t, raw, key+":lock") {
		t.Fatalf("test id %s: its lock is in the same slot; pick another", id)
	}
	h, err := ci.(handlers.Locker).Lock(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// a writer waits for the lock, and times out
	if err := ci.Write(ctx, &handlers.Record{ID: id, Data: []byte("b|i:2;")}); !errors.Is(err, handlers.ErrLockTimeout) {
		t.Fatalf("Write while locked: %v", err)
	}
	if err := h.Write(ctx, &handlers.Record{ID: id, Data: []byte("c|i:3;")}); err != nil {
		t.Fatal(err)
	}
	if ttl := raw.TTL(ctx, key+":lock").Val(); ttl < 299*time.Second {
		t.Errorf("a locked write did not refresh the lock's 300 s: %v", ttl)
	}
	// the lock taken over (it expired, PHP took it): the write is refused
	raw.Set(ctx, key+":lock", "1234", 300*time.Second)
	if err := h.Write(ctx, &handlers.Record{ID: id, Data: []byte("d|i:4;")}); !errors.Is(err, handlers.ErrLockTimeout) {
		t.Fatalf("Write under a lost lock: %v", err)
	}
	if err := h.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if v := raw.Get(ctx, key+":lock").Val(); v != "1234" {
		t.Fatalf("Unlock removed a lock it did not hold: %q", v)
	}
	raw.Del(ctx, key+":lock")
	if rec, err := ci.Read(ctx, id); err != nil || string(rec.Data) != "c|i:3;" {
		t.Fatalf("read %v %v", rec, err)
	}

	// WriteBatch over every master, then List and Count through SCAN
	var recs []*handlers.Record
	want := map[string]bool{id: true}
	for i := range 300 {
		r := &handlers.Record{ID: storetest.NewID(), Data: fmt.Appendf(nil, "n|i:%d;", i)}
		recs, want[r.ID] = append(recs, r), true
	}
	if err := ci.(handlers.BatchWriter).WriteBatch(ctx, recs); err != nil {
		t.Fatal(err)
	}
	perMaster := masterSizes(t, raw)
	if len(perMaster) != 3 {
		t.Fatalf("masters: %v", perMaster)
	}
	for a, n := range perMaster {
		if n < 50 {
			t.Errorf("master %s holds %d keys: the batch did not spread", a, n)
		}
	}
	got := map[string]bool{}
	if err := ci.(handlers.Lister).List(ctx, func(id string) error { got[id] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	for id := range want {
		if !got[id] {
			t.Fatalf("List missed %s (%d of %d listed)", id, len(got), len(want))
		}
	}
	if n, err := ci.(handlers.Counter).Count(ctx); err != nil || n != int64(len(want)) {
		t.Errorf("Count = %d, %v; want %d", n, err, len(want))
	}

	// a password on every node: the URL's credentials reach every node
	err = raw.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		return m.ConfigSet(ctx, "requirepass", "s3cret").Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	withPass := make([]string, len(addrs))
	copy(withPass, addrs)
	withPass[0] = "default:s3cret@" + addrs[0]
	authed := openStore(t, clusterURL(withPass, "layout=ci3"))
	for _, r := range recs[:20] {
		if err := authed.Write(ctx, r); err != nil {
			t.Fatalf("write with the password: %v", err)
		}
	}
	if s, err := handlers.Open(ctx, clusterURL(addrs, "layout=ci3")); err == nil {
		s.Close()
		t.Fatal("a cluster with a password opened without one")
	} else if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error shows the password: %v", err)
	}
	if _, err := handlers.Open(ctx, clusterURL(append([]string{"default:wrong@" + addrs[0]}, addrs[1:]...), "layout=ci3")); err == nil || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong password: %v", err)
	}
}

// masterSizes returns how many keys each master of a cluster holds.
func masterSizes(t testing.TB, c *redis.ClusterClient) map[string]int64 {
	var mu sync.Mutex
	sizes := map[string]int64{}
	err := c.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		n, err := m.DBSize(ctx).Result()
		mu.Lock()
		sizes[m.Options().Addr] = n
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return sizes
}

// redisSlot is the cluster slot of a key.
func redisSlot(t testing.TB, c *redis.ClusterClient, key string) int64 {
	n, err := c.ClusterKeySlot(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// clusterPHP runs handlers.PHPSessionLoop with phpredis' rediscluster
// session handler.
func clusterPHP(t *testing.T, addrs []string, mode string, ids []string) string {
	t.Helper()
	var seeds []string
	for _, a := range addrs {
		seeds = append(seeds, "seed[]="+a)
	}
	ini := map[string]string{"session.save_handler": "rediscluster", "session.save_path": strings.Join(seeds, "&")}
	return runPHPSessions(t, ini, handlers.PHPSessionLoop, ids, mode)
}

// TestRedisClusterPHP: phpredis' rediscluster session handler writes 1,000
// sessions and Go reads every one; Go writes 1,000 and PHP reads every one.
func TestRedisClusterPHP(t *testing.T) {
	t.Parallel()
	addrs := testenv.RedisCluster(t)
	ctx := tctx(t)
	s := openStore(t, clusterURL(addrs, "layout=native"))
	const n = 1000
	ids := func() []string {
		out := make([]string, n)
		for i := range out {
			out[i] = storetest.NewID()
		}
		return out
	}
	phpIDs := ids()
	clusterPHP(t, addrs, "write", phpIDs)
	for i, id := range phpIDs {
		rec, err := s.Read(ctx, id)
		if err != nil || string(rec.Data) != fmt.Sprintf("n|i:%d;", i) {
			t.Fatalf("Go reads PHP's session %s: %v", id, err)
		}
		if rec.TTL < 1400*time.Second || rec.TTL > 1440*time.Second {
			t.Fatalf("TTL of PHP's session: %v", rec.TTL)
		}
	}
	goIDs := ids()
	for i, id := range goIDs {
		if err := s.Write(ctx, &handlers.Record{ID: id, Data: fmt.Appendf(nil, "n|i:%d;", i)}); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(clusterPHP(t, addrs, "read", goIDs)), "\n")
	if len(lines) != n {
		t.Fatalf("PHP read %d sessions", len(lines))
	}
	for i, l := range lines {
		if want := fmt.Sprintf("%s %d", goIDs[i], i); l != want {
			t.Fatalf("PHP read %q, want %q", l, want)
		}
	}
	// every master holds some: the ids spread over the slots
	perMaster := masterSizes(t, clusterClient(t, addrs))
	t.Logf("sessions per master: %v", perMaster)
	if len(perMaster) != 3 {
		t.Fatalf("masters: %v", perMaster)
	}
}

// TestRedisSentinelFailover: writers keep writing through a sentinel
// store while the master is failed over (SENTINEL FAILOVER) and then
// killed; every write that was acknowledged is there afterwards.
func TestRedisSentinelFailover(t *testing.T) {
	t.Parallel()
	sentinels, name, setup := testenv.RedisSentinel(t)
	ctx := tctx(t)
	u := "redis+sentinel://" + strings.Join(sentinels, ",") + "/" + name + "?layout=ci4&lock_timeout=5s&timeout=2s"
	s := openStore(t, u)

	// a write no replica confirms (the replica hangs) is reported as failed
	if err := setup.Replica.Pause(); err != nil {
		t.Fatal(err)
	}
	err := s.Write(ctx, &handlers.Record{ID: storetest.NewID(), Data: []byte("n|i:0;")})
	setup.Replica.Resume()
	if err == nil || !strings.Contains(err.Error(), "no replica confirmed") {
		t.Fatalf("write while the replica hangs: %v", err)
	}

	const writers = 8
	type state struct {
		id    string
		acked atomic.Int64 // last acknowledged counter
	}
	ws := make([]*state, writers)
	for i := range ws {
		ws[i] = &state{id: storetest.NewID()}
	}
	var (
		stop             atomic.Bool
		wg               sync.WaitGroup
		ackedN, failedN  atomic.Int64
		readErr, readBad atomic.Int64
	)
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := int64(1); !stop.Load(); n++ {
				wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				err := s.Write(wctx, &handlers.Record{ID: w.id, Data: fmt.Appendf(nil, "n|i:%d;", n)})
				if err == nil {
					w.acked.Store(n)
					ackedN.Add(1)
				} else {
					failedN.Add(1)
					time.Sleep(20 * time.Millisecond)
				}
				// reads during the failover: an error is fine, an older
				// value than the last acknowledged write is not
				if rec, err := s.Read(wctx, w.id); err != nil {
					readErr.Add(1)
				} else if got := parseN(rec.Data); got < w.acked.Load() {
					readBad.Add(1)
				}
				cancel()
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	if err := setup.Failover(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := setup.KillMaster(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	stop.Store(true)
	wg.Wait()
	t.Logf("%d writes acknowledged, %d failed (during the failovers, and after the kill left no replica); %d reads failed",
		ackedN.Load(), failedN.Load(), readErr.Load())
	if ackedN.Load() < writers*10 {
		t.Fatalf("only %d writes acknowledged", ackedN.Load())
	}
	if readBad.Load() > 0 {
		t.Errorf("%d reads returned an older value than an acknowledged write", readBad.Load())
	}
	for _, w := range ws {
		rec, err := s.Read(ctx, w.id)
		if err != nil {
			t.Fatalf("session %s after the failovers: %v (last acknowledged write %d)", w.id, err, w.acked.Load())
		}
		if got := parseN(rec.Data); got < w.acked.Load() {
			t.Errorf("session %s: n=%d after the failovers, but write %d was acknowledged", w.id, got, w.acked.Load())
		}
	}
	// the killed master left no replica: writes are refused, not lost
	err = s.Write(ctx, &handlers.Record{ID: ws[0].id, Data: []byte("n|i:0;")})
	if err == nil || !strings.Contains(err.Error(), "no replica confirmed") {
		t.Errorf("write without a replica: %v", err)
	}
}

// parseN reads n out of "n|i:<n>;".
func parseN(b []byte) int64 {
	var n int64
	fmt.Sscanf(string(b), "n|i:%d;", &n)
	return n
}

// TestRedisSentinelConformance runs the store suite through sentinels.
func TestRedisSentinelConformance(t *testing.T) {
	t.Parallel()
	sentinels, name, _ := testenv.RedisSentinel(t)
	base := "redis+sentinel://" + strings.Join(sentinels, ",") + "/" + name + "/2?"
	multiConformance(t, func(q url.Values) string { return base + q.Encode() }, []multiCase{
		{"native", "layout=native", true},
		{"native-lock", "layout=native&lock=on", false},
		{"ci3", "layout=ci3", false},
	})
}

// TestMigrateMemcachedPoolToRedisCluster copies 1,000 sessions from a
// pool of three memcached servers (php-memcached's session layout, spread
// by ketama) into a Redis Cluster, verifying each copy.
func TestMigrateMemcachedPoolToRedisCluster(t *testing.T) {
	t.Parallel()
	var pool []string
	for range 3 {
		pool = append(pool, testenv.NewMemcached(t).Addr)
	}
	addrs := testenv.RedisCluster(t)
	ctx := tctx(t)
	from := openStore(t, "memcached://"+strings.Join(pool, ","))
	to := openStore(t, clusterURL(addrs, "layout=native"))
	want := map[string]string{}
	for i := range 1000 {
		id := storetest.NewID()
		want[id] = fmt.Sprintf("n|i:%d;", i)
		if err := from.Write(ctx, &handlers.Record{ID: id, Data: []byte(want[id])}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := migrate.Run(ctx, migrate.Options{From: from, To: to, Verify: true})
	if err != nil {
		t.Fatalf("migrate: %v (%+v)", err, rep.Failures)
	}
	if rep.Stats.Copied != 1000 || rep.Stats.Verified != 1000 {
		t.Fatalf("migrate stats: %+v", rep.Stats)
	}
	for id, data := range want {
		rec, err := to.Read(ctx, id)
		if err != nil || string(rec.Data) != data {
			t.Fatalf("session %s in the cluster: %v", id, err)
		}
	}
}
