package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/redis/go-redis/v9"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/handlers/storetest"
	"github.com/phpsess/phpsess/internal/testenv"
	"github.com/phpsess/phpsess/phpserialize"
)

// ------------------------------------------------------------ helpers --

// rawRedis is a plain go-redis client, to look at keys behind the store.
func rawRedis(t testing.TB, addr string, db int) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, DB: db})
	t.Cleanup(func() { c.Close() })
	return c
}

func redisCounter(n int) []byte { return storetest.Counter(phpserialize.HandlerPHP, n) }

// redisMustGet returns the raw value of key, failing the test if it is missing.
func redisMustGet(t *testing.T, c *redis.Client, key string) []byte {
	t.Helper()
	b, err := c.Get(tctx(t), key).Bytes()
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	return b
}

// redisWaitKey waits until key exists (a PHP request took its lock).
func redisWaitKey(t *testing.T, c *redis.Client, key string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if n, _ := c.Exists(tctx(t), key).Result(); n == 1 {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("%s did not appear within 10 s", key)
}

// ------------------------------------------------------- conformance --

func TestRedisConformance(t *testing.T) {
	addr := testenv.Redis(t)
	cases := []struct {
		name, query string
		db          int
		skipLocking bool
	}{
		{"native", "layout=native", 1, true},
		{"native-lock", "layout=native&lock=on", 2, false},
		{"native-lock-php_serialize", "layout=native&lock=on&handler=php_serialize", 3, false},
		{"ci3", "layout=ci3", 4, false},
		{"ci4", "layout=ci4", 5, false},
		{"ci4-match_ip", "layout=ci4&match_ip=on&ip=10.0.0.7&handler=php_binary", 6, false},
		{"native-lz4", "layout=native&compression=lz4", 7, true},
		{"native-lzf-lock", "layout=native&compression=lzf&lock=on", 8, false},
		{"native-zstd", "layout=native&compression=zstd", 9, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, storetest.Config{
				Open: func(t *testing.T, extra url.Values) handlers.Store {
					q, _ := url.ParseQuery(tc.query)
					for k, v := range extra {
						q[k] = v
					}
					return openStore(t, fmt.Sprintf("redis://%s/%d?%s", addr, tc.db, q.Encode()))
				},
				Expires:     true,
				SkipLocking: tc.skipLocking,
			})
		})
	}
}

// TestRedisKeys checks the exact keys, values and TTLs each layout writes.
func TestRedisKeys(t *testing.T) {
	addr := testenv.Redis(t)
	raw := rawRedis(t, addr, 7)
	cases := []struct {
		query, key string
		ttl        time.Duration
		meta       handlers.Meta
	}{
		{"layout=native", "PHPREDIS_SESSION:%s", 1440 * time.Second, handlers.Meta{}},
		{"layout=native&prefix=app:", "app:%s", 1440 * time.Second, handlers.Meta{}},
		{"layout=ci3", "ci_session:%s", 7200 * time.Second, handlers.Meta{}},
		{"layout=ci3&match_ip=on", "ci_session:192.168.1.2:%s", 7200 * time.Second, handlers.Meta{IP: "192.168.1.2"}},
		{"layout=ci4", "ci_session:ci_session:%s", 7200 * time.Second, handlers.Meta{}},
		{"layout=ci4&cookie=app_sess&ttl=600", "ci_session:app_sess:%s", 600 * time.Second, handlers.Meta{}},
		{"layout=ci4&cookie_in_key=off", "ci_session:%s", 7200 * time.Second, handlers.Meta{}},
		{"layout=ci4&prefix=my:", "my:%s", 7200 * time.Second, handlers.Meta{}},
		{"layout=ci4&match_ip=on", "ci_session:ci_session:::1:%s", 7200 * time.Second, handlers.Meta{IP: "::1"}},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			s := openStore(t, "redis://"+addr+"/7?"+tc.query)
			id := storetest.NewID()
			data := redisCounter(3)
			if err := s.Write(tctx(t), &handlers.Record{ID: id, Data: data, Meta: tc.meta}); err != nil {
				t.Fatal(err)
			}
			key := fmt.Sprintf(tc.key, id)
			if got := redisMustGet(t, raw, key); !bytes.Equal(got, data) {
				t.Fatalf("%s = %q, want %q", key, got, data)
			}
			if d := raw.TTL(tctx(t), key).Val(); d != tc.ttl {
				t.Errorf("TTL %s = %v, want %v", key, d, tc.ttl)
			}
			if n := raw.Exists(tctx(t), key+"_LOCK", key+":lock").Val(); n != 0 {
				t.Errorf("a lock key is left after Write")
			}
			rec, err := s.Read(tctx(t), id)
			if err != nil || !bytes.Equal(rec.Data, data) || rec.Meta.IP != tc.meta.IP {
				t.Fatalf("Read = %+v, %v", rec, err)
			}
			if err := s.Destroy(tctx(t), id); err != nil {
				t.Fatal(err)
			}
			if raw.Exists(tctx(t), key).Val() != 0 {
				t.Fatalf("%s left after Destroy", key)
			}
		})
	}
}

// TestRedisListSkips checks that List strips prefixes and skips lock keys
// and keys that are not this layout's sessions.
func TestRedisListSkips(t *testing.T) {
	addr := testenv.Redis(t)
	raw := rawRedis(t, addr, 8)
	ctx := tctx(t)
	raw.FlushDB(ctx)
	id1, id2, id3 := storetest.NewID(), storetest.NewID(), storetest.NewID()
	for _, k := range []string{
		"ci_session:" + id1, "ci_session:" + id1 + ":lock",
		"ci_session:ci_session:" + id2, // ci4's, not a ci3 session
		"ci_session:10.0.0.1:" + id3,   // match_ip key
		"ci_session:bad.id", "other:" + id1,
	} {
		raw.Set(ctx, k, "x", time.Minute)
	}
	list := func(query string) []string {
		var ids []string
		s := openStore(t, "redis://"+addr+"/8?"+query)
		if err := s.(handlers.Lister).List(ctx, func(id string) error { ids = append(ids, id); return nil }); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if got := list("layout=ci3"); len(got) != 1 || got[0] != id1 {
		t.Errorf("ci3 List = %q, want [%s]", got, id1)
	}
	if got := list("layout=ci4"); len(got) != 1 || got[0] != id2 {
		t.Errorf("ci4 List = %q, want [%s]", got, id2)
	}
	if got := list("layout=ci3&match_ip=on"); len(got) != 1 || got[0] != id3 {
		t.Errorf("ci3 match_ip List = %q, want [%s]", got, id3)
	}
	if got := list("layout=native&prefix=other:"); len(got) != 1 || got[0] != id1 {
		t.Errorf("native List = %q, want [%s]", got, id1)
	}
	// a glob character in the prefix is matched literally
	raw.Set(ctx, "a*b:"+id1, "x", time.Minute)
	raw.Set(ctx, "aXb:"+id2, "x", time.Minute)
	if got := list("layout=native&prefix=" + url.QueryEscape("a*b:")); len(got) != 1 || got[0] != id1 {
		t.Errorf("List with prefix a*b: = %q, want [%s]", got, id1)
	}
}

// TestRedisBatchAndCount checks WriteBatch (for migrations) and Count.
func TestRedisBatchAndCount(t *testing.T) {
	srv := testenv.NewRedis(t)
	ctx := tctx(t)
	raw := rawRedis(t, srv.Addr, 0)
	s := openStore(t, "redis://"+srv.Addr+"/0?layout=ci4")
	bw := s.(handlers.BatchWriter)
	var recs []*handlers.Record
	for i := range 100 {
		recs = append(recs, &handlers.Record{ID: storetest.NewID(), Data: redisCounter(i), TTL: time.Duration(100+i) * time.Second})
	}
	bad := append(recs[:50:50], &handlers.Record{ID: "../x", Data: redisCounter(1)})
	if err := bw.WriteBatch(ctx, bad); !errors.Is(err, handlers.ErrInvalidID) {
		t.Fatalf("WriteBatch with a bad id: %v", err)
	}
	if n := raw.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("a rejected batch wrote %d keys", n)
	}
	if err := bw.WriteBatch(ctx, recs); err != nil {
		t.Fatal(err)
	}
	for i, rec := range recs {
		key := "ci_session:ci_session:" + rec.ID
		if got := redisMustGet(t, raw, key); !bytes.Equal(got, rec.Data) {
			t.Fatalf("%s = %q", key, got)
		}
		if d := raw.TTL(ctx, key).Val(); d != time.Duration(100+i)*time.Second {
			t.Fatalf("TTL %s = %v", key, d)
		}
	}
	// lock keys and foreign keys are not sessions
	raw.Set(ctx, "ci_session:ci_session:"+recs[0].ID+":lock", "1", time.Minute)
	raw.Set(ctx, "cache:thing", "1", time.Minute)
	cn := s.(handlers.Counter)
	if n, err := cn.Count(ctx); err != nil || n != 100 {
		t.Fatalf("Count (exact) = %d, %v, want 100", n, err)
	}
	// a large database: sampled, roughly right
	p := raw.Pipeline()
	for i := range 6000 {
		p.Set(ctx, fmt.Sprintf("cache:%d", i), "x", time.Minute)
	}
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	recs = recs[:0]
	for i := range 2900 {
		recs = append(recs, &handlers.Record{ID: storetest.NewID(), Data: redisCounter(i)})
	}
	if err := bw.WriteBatch(ctx, recs); err != nil {
		t.Fatal(err)
	}
	n, err := cn.Count(ctx)
	if err != nil || n < 2000 || n > 4400 {
		t.Fatalf("Count (sampled) = %d, %v, want about 3000 of %d keys", n, err, raw.DBSize(ctx).Val())
	}
	t.Logf("sampled Count: %d (3000 sessions among %d keys)", n, raw.DBSize(ctx).Val())
}

func TestRedisOptions(t *testing.T) {
	addr := testenv.Redis(t)
	ctx := tctx(t)
	bad := map[string]string{
		"layout=native&colour=red":              "unknown option",
		"layout=ci3&cookie=x":                   "cookie= applies to layout=ci4",
		"layout=ci4&cookie=x&prefix=y:":         "cookie= and prefix=",
		"layout=ci4&cookie=x&cookie_in_key=off": "cookie_in_key=off",
		"layout=ci3&ip=1.2.3.4":                 "ip= needs match_ip=on",
		"layout=ci3&match_ip=on&ip=nonsense":    "not an IP",
		"layout=native&match_ip=on":             "applies to the CodeIgniter layouts",
		"layout=native&compression=snappy":      `compression="snappy": want one of none, zstd, lzf, lz4`,
		"layout=ci3&compression=lzf":            "applies to layout=native only",
		"layout=ci4&compression=zstd":           "applies to layout=native only",
		"layout=ci3&lock_expire=10":             "applies to layout=native only",
		"layout=native&tls_insecure=on":         "need a rediss:// URL",
		"layout=native&lock_expire=0":           "lock_expire= must be",
		"layout=native&ttl=0":                   "ttl= must be",
		"layout=bogus":                          "layout=",
	}
	for q, want := range bad {
		_, err := handlers.Open(ctx, "redis://"+addr+"/0?"+q)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(?%s) = %v, want an error with %q", q, err, want)
		}
	}
	if _, err := handlers.Open(ctx, "redis://"+addr+"/x"); err == nil || !strings.Contains(err.Error(), "database number") {
		t.Errorf("bad db path: %v", err)
	}
	for _, c := range []string{"none", "zstd", "lzf", "lz4"} { // every codec phpredis 6 has
		openStore(t, "redis://"+addr+"/0?compression="+c)
	}
	s := openStore(t, "redis://"+addr+"/0")
	if i := s.Info(); i.Backend != "redis" || i.Layout != "native" || i.Locking || i.TTL != 1440*time.Second || i.Handler != "php" {
		t.Errorf("native defaults: %+v", i)
	}
	s = openStore(t, "redis://"+addr+"/0?layout=ci3")
	if i := s.Info(); !i.Locking || i.TTL != 7200*time.Second {
		t.Errorf("ci3 defaults: %+v", i)
	}
	s = openStore(t, "redis://"+addr+"/0?lock=on&lock_timeout=2")
	if i := s.Info(); !i.Locking {
		t.Errorf("native lock=on: %+v", i)
	}
	for _, iface := range []string{"Lister", "Locker", "Toucher", "BatchWriter", "Counter"} {
		var ok bool
		switch iface {
		case "Lister":
			_, ok = s.(handlers.Lister)
		case "Locker":
			_, ok = s.(handlers.Locker)
		case "Toucher":
			_, ok = s.(handlers.Toucher)
		case "BatchWriter":
			_, ok = s.(handlers.BatchWriter)
		case "Counter":
			_, ok = s.(handlers.Counter)
		}
		if !ok {
			t.Errorf("the redis store is not a %s", iface)
		}
	}
}

// TestRedisAuth checks passwords and ACL users, and that no error shows a
// password.
func TestRedisAuth(t *testing.T) {
	srv := testenv.NewRedis(t)
	ctx := tctx(t)
	admin := rawRedis(t, srv.Addr, 0)
	if err := admin.Do(ctx, "ACL", "SETUSER", "app", "on", ">app-secret-pw", "~*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.ConfigSet(ctx, "requirepass", "default-secret-pw").Err(); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{
		"redis://:default-secret-pw@" + srv.Addr + "/0",
		"redis://app:app-secret-pw@" + srv.Addr + "/0",
	} {
		s := openStore(t, u)
		id := storetest.NewID()
		if err := s.Write(ctx, &handlers.Record{ID: id, Data: redisCounter(1)}); err != nil {
			t.Fatalf("%s: %v", handlers.Redact(u), err)
		}
		if strings.Contains(s.Info().URL, "secret") {
			t.Errorf("Info().URL shows the password: %s", s.Info().URL)
		}
	}
	for _, u := range []string{
		"redis://:wrong-secret-pw@" + srv.Addr + "/0",
		"redis://app:wrong-secret-pw@" + srv.Addr + "/0",
		"redis://" + srv.Addr + "/0",
	} {
		_, err := handlers.Open(ctx, u)
		if err == nil {
			t.Fatalf("%s: opened", handlers.Redact(u))
		}
		if strings.Contains(err.Error(), "secret-pw") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

// TestRedisTLS runs a redis-server with TLS only and talks to it through
// rediss://, verifying the server with tls_ca=.
func TestRedisTLS(t *testing.T) {
	certs := testenv.NewTLSCerts(t)
	addr := testenv.NewRedisTLS(t, certs).Addr
	base := "rediss://" + addr + "/0?tls_ca=" + url.QueryEscape(certs.CAFile)
	s, err := handlers.Open(tctx(t), base)
	if err != nil {
		t.Fatalf("rediss open: %v", err)
	}
	defer s.Close()
	id := storetest.NewID()
	if err := s.Write(tctx(t), &handlers.Record{ID: id, Data: redisCounter(5)}); err != nil {
		t.Fatal(err)
	}
	if rec, err := s.Read(tctx(t), id); err != nil || !bytes.Equal(rec.Data, redisCounter(5)) {
		t.Fatalf("Read over TLS = %v, %v", rec, err)
	}
	if _, err := handlers.Open(tctx(t), "rediss://"+addr+"/0?timeout=2"); err == nil {
		t.Error("an unknown CA was accepted without tls_insecure")
	}
	s2 := openStore(t, "rediss://"+addr+"/0?tls_insecure=on")
	if _, err := s2.Read(tctx(t), id); err != nil {
		t.Errorf("tls_insecure=on: %v", err)
	}
	if _, err := handlers.Open(tctx(t), base+"&tls_server_name=other.example&timeout=2"); err == nil {
		t.Error("a certificate for the wrong name was accepted")
	}
}

// --------------------------------------------------------- hostile --

// TestRedisBadIDsSendNothing kills the server first: a bad id must be
// rejected with ErrInvalidID, not with a connection error.
func TestRedisBadIDsSendNothing(t *testing.T) {
	srv := testenv.NewRedis(t)
	s := openStore(t, "redis://"+srv.Addr+"/0?lock=on&timeout=1&layout=ci3&match_ip=on")
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	ctx := tctx(t)
	for _, id := range []string{"", "a/b", "a:b", "*", "a*", "a?b", "[ab]", "x_LOCK", "a\r\nFLUSHALL", strings.Repeat("a", 257), "a b", "é"} {
		checks := map[string]error{}
		_, checks["Read"] = s.Read(ctx, id)
		checks["Write"] = s.Write(ctx, &handlers.Record{ID: id, Data: redisCounter(1), Meta: handlers.Meta{IP: "1.2.3.4"}})
		checks["Destroy"] = s.Destroy(ctx, id)
		_, checks["Lock"] = s.(handlers.Locker).Lock(ctx, id)
		checks["Touch"] = s.(handlers.Toucher).Touch(ctx, id, time.Minute)
		for op, err := range checks {
			if !errors.Is(err, handlers.ErrInvalidID) {
				t.Errorf("%s(%q) = %v, want ErrInvalidID", op, id, err)
			}
		}
	}
	// a hostile IP is no key material either
	err := s.Write(ctx, &handlers.Record{ID: storetest.NewID(), Data: redisCounter(1), Meta: handlers.Meta{IP: "1.2.3.4:*"}})
	if err == nil || !strings.Contains(err.Error(), "not an IP") {
		t.Errorf("Write with IP 1.2.3.4:* = %v", err)
	}
}

// TestRedisServerFailures kills and freezes the server under the store: a
// clear error within the timeout, never a hang; and the store recovers.
func TestRedisServerFailures(t *testing.T) {
	srv := testenv.NewRedis(t)
	ctx := tctx(t)
	rawRedis(t, srv.Addr, 0).ConfigSet(ctx, "requirepass", "hunter2-secret")
	s := openStore(t, "redis://:hunter2-secret@"+srv.Addr+"/0?lock=on&timeout=1")
	id := storetest.NewID()
	if err := s.Write(ctx, &handlers.Record{ID: id, Data: redisCounter(1)}); err != nil {
		t.Fatal(err)
	}
	lk, err := s.(handlers.Locker).Lock(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error, within time.Duration, start time.Time) {
		t.Helper()
		if err == nil {
			t.Errorf("%s with the server down: no error", what)
			return
		}
		if d := time.Since(start); d > within {
			t.Errorf("%s took %v (> %v)", what, d, within)
		}
		msg := err.Error()
		if !strings.Contains(msg, "redis") || !strings.Contains(msg, id) {
			t.Errorf("%s error does not name backend and id: %v", what, err)
		}
		if strings.Contains(msg, "hunter2") || strings.Contains(msg, "n|i:") {
			t.Errorf("%s error shows a secret or data: %v", what, err)
		}
	}
	start := time.Now()
	_, err = s.Read(ctx, id)
	check("Read (killed)", err, 3*time.Second, start)
	start = time.Now()
	check("Write (killed)", s.Write(ctx, &handlers.Record{ID: id, Data: redisCounter(2)}), 3*time.Second, start)
	start = time.Now()
	check("Locked.Write (killed)", lk.Write(ctx, &handlers.Record{Data: redisCounter(2)}), 3*time.Second, start)
	start = time.Now()
	check("Unlock (killed)", lk.Unlock(ctx), 3*time.Second, start)

	// back up, empty (no persistence): the store reconnects by itself
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	rawRedis(t, srv.Addr, 0).ConfigSet(ctx, "requirepass", "hunter2-secret")
	var werr error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if werr = s.Write(ctx, &handlers.Record{ID: id, Data: redisCounter(3)}); werr == nil {
			break
		}
	}
	if werr != nil {
		t.Fatalf("Write after restart: %v", werr)
	}

	// frozen server: connections stay open, nothing answers
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	_, err = s.Read(ctx, id)
	check("Read (frozen)", err, 4*time.Second, start)
	start = time.Now()
	check("Write (frozen)", s.Write(ctx, &handlers.Record{ID: id, Data: redisCounter(4)}), 4*time.Second, start)
	// a context deadline shorter than timeout= wins
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	start = time.Now()
	_, err = s.Read(short, id)
	cancel()
	check("Read (frozen, 200ms context)", err, time.Second, start)
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
}

// TestRedisHostilePayloads feeds the store values PHP's side could hold.
func TestRedisHostilePayloads(t *testing.T) {
	addr := testenv.Redis(t)
	ctx := tctx(t)
	raw := rawRedis(t, addr, 9)
	plain := openStore(t, "redis://"+addr+"/9")
	zs := openStore(t, "redis://"+addr+"/9?compression=zstd")

	// a zstd frame, as phpredis 6 writes with redis.session.compression=zstd
	enc, _ := zstd.NewWriter(nil)
	id := storetest.NewID()
	raw.Set(ctx, "PHPREDIS_SESSION:"+id, enc.EncodeAll(redisCounter(77), nil), time.Minute)
	if _, err := plain.Read(ctx, id); err == nil || !strings.Contains(err.Error(), "compression=zstd") {
		t.Errorf("zstd payload without compression=zstd: %v", err)
	}
	if rec, err := zs.Read(ctx, id); err != nil || !bytes.Equal(rec.Data, redisCounter(77)) {
		t.Errorf("zstd Read = %v, %v", rec, err)
	}
	// an uncompressed payload reads as is with compression=zstd, as phpredis does
	if err := zs.Write(ctx, &handlers.Record{ID: id, Data: redisCounter(78)}); err != nil {
		t.Fatal(err)
	}
	if got := redisMustGet(t, raw, "PHPREDIS_SESSION:"+id); !bytes.Equal(got, redisCounter(78)) {
		t.Errorf("compression=zstd wrote %q, want it uncompressed", got)
	}
	// a zstd bomb: 300 MiB of redisZeros in a few kB
	w := &bytes.Buffer{}
	zw, _ := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest))
	io.Copy(zw, io.LimitReader(redisZeros{}, 300<<20))
	zw.Close()
	raw.Set(ctx, "PHPREDIS_SESSION:"+id, w.Bytes(), time.Minute)
	if _, err := zs.Read(ctx, id); err == nil {
		t.Errorf("a %d-byte zstd bomb was decompressed", w.Len())
	}
	// a broken frame
	raw.Set(ctx, "PHPREDIS_SESSION:"+id, append([]byte{0x28, 0xb5, 0x2f, 0xfd}, "garbage"...), time.Minute)
	if _, err := zs.Read(ctx, id); err == nil {
		t.Error("a broken zstd frame read without error")
	}
	// not a string
	raw.Del(ctx, "PHPREDIS_SESSION:"+id)
	raw.HSet(ctx, "PHPREDIS_SESSION:"+id, "a", "b")
	if _, err := plain.Read(ctx, id); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Errorf("Read of a hash: %v", err)
	}
	// an empty session exists and is empty
	raw.Set(ctx, "PHPREDIS_SESSION:"+id, "", 0)
	if rec, err := plain.Read(ctx, id); err != nil || len(rec.Data) != 0 || rec.TTL != 0 {
		t.Errorf("Read of an empty key without TTL = %+v, %v", rec, err)
	}
}

type redisZeros struct{}

func (redisZeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestRedisLockRules checks Go's own lock keys and values, and that Go
// never takes over a foreign lock.
func TestRedisLockRules(t *testing.T) {
	addr := testenv.Redis(t)
	ctx := tctx(t)
	raw := rawRedis(t, addr, 10)
	host, _ := os.Hostname()

	// native: SET <key>_LOCK <host|pid|rand> NX PX <lock_expire>
	s := openStore(t, "redis://"+addr+"/10?lock=on&lock_expire=12&lock_timeout=0.2")
	id := storetest.NewID()
	lk, err := s.(handlers.Locker).Lock(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	v := raw.Get(ctx, "PHPREDIS_SESSION:"+id+"_LOCK").Val()
	if want := fmt.Sprintf("%s|%d|", host, os.Getpid()); !strings.HasPrefix(v, want) || len(v) != len(want)+16 {
		t.Errorf("native lock value %q, want %s<16 hex>", v, want)
	}
	if d := raw.PTTL(ctx, "PHPREDIS_SESSION:"+id+"_LOCK").Val(); d <= 11*time.Second || d > 12*time.Second {
		t.Errorf("native lock PTTL %v, want 12s", d)
	}
	_, err = s.(handlers.Locker).Lock(ctx, id)
	if !errors.Is(err, handlers.ErrLockTimeout) {
		t.Fatalf("second Lock in the same process: %v, want ErrLockTimeout", err)
	}
	// the lock is taken away (expired, and someone else took it): Go's
	// write must not go through, and Go's unlock must not delete it
	raw.Set(ctx, "PHPREDIS_SESSION:"+id+"_LOCK", "vm|4242", time.Minute)
	if err := lk.Write(ctx, &handlers.Record{Data: redisCounter(1)}); !errors.Is(err, handlers.ErrLockTimeout) {
		t.Errorf("Write after losing the lock: %v, want ErrLockTimeout", err)
	}
	if raw.Exists(ctx, "PHPREDIS_SESSION:"+id).Val() != 0 {
		t.Error("a write went through without the lock")
	}
	if err := lk.Destroy(ctx); !errors.Is(err, handlers.ErrLockTimeout) {
		t.Errorf("Destroy after losing the lock: %v", err)
	}
	if err := lk.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if got := raw.Get(ctx, "PHPREDIS_SESSION:"+id+"_LOCK").Val(); got != "vm|4242" {
		t.Errorf("Unlock deleted a foreign lock: now %q", got)
	}
	// a PHP lock without expiry (lock_expire=0 under the CLI) is never stolen
	raw.Persist(ctx, "PHPREDIS_SESSION:"+id+"_LOCK")
	if err := s.Write(ctx, &handlers.Record{ID: id, Data: redisCounter(1)}); !errors.Is(err, handlers.ErrLockTimeout) {
		t.Errorf("Write under a foreign lock without TTL: %v", err)
	}

	// CodeIgniter: <key>:lock = time(), TTL 300
	for _, layout := range []string{"ci3", "ci4"} {
		s := openStore(t, "redis://"+addr+"/10?lock_timeout=0.3&layout="+layout)
		id := storetest.NewID()
		key := "ci_session:" + id
		if layout == "ci4" {
			key = "ci_session:ci_session:" + id
		}
		lk, err := s.(handlers.Locker).Lock(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := strconv.ParseInt(raw.Get(ctx, key+":lock").Val(), 10, 64)
		if now := time.Now().Unix(); v < now-2 || v > now {
			t.Errorf("%s lock value %d, want time() %d", layout, v, now)
		}
		if d := raw.TTL(ctx, key+":lock").Val(); d != 300*time.Second {
			t.Errorf("%s lock TTL %v, want 300s", layout, d)
		}
		raw.Expire(ctx, key+":lock", 100*time.Second)
		if err := lk.Write(ctx, &handlers.Record{Data: redisCounter(1)}); err != nil {
			t.Fatal(err)
		}
		if d := raw.TTL(ctx, key+":lock").Val(); d != 300*time.Second {
			t.Errorf("%s: a locked write left the lock TTL at %v, want 300s again (as CodeIgniter's write)", layout, d)
		}
		lk.Unlock(ctx)
		// a lock without TTL: CodeIgniter 3 overrides it, 4 waits for it
		raw.Set(ctx, key+":lock", "12345", 0)
		err = s.Write(ctx, &handlers.Record{ID: id, Data: redisCounter(2)})
		switch layout {
		case "ci3":
			if err != nil {
				t.Errorf("ci3 Write over a lock without TTL: %v", err)
			}
		case "ci4":
			if !errors.Is(err, handlers.ErrLockTimeout) {
				t.Errorf("ci4 Write over a lock without TTL: %v, want ErrLockTimeout", err)
			}
		}
		// a foreign lock with a TTL is honoured by both
		raw.Set(ctx, key+":lock", "12345", time.Minute)
		if err := s.Write(ctx, &handlers.Record{ID: id, Data: redisCounter(3)}); !errors.Is(err, handlers.ErrLockTimeout) {
			t.Errorf("%s Write under a foreign lock: %v", layout, err)
		}
		if err := s.Destroy(ctx, id); !errors.Is(err, handlers.ErrLockTimeout) {
			t.Errorf("%s Destroy under a foreign lock: %v", layout, err)
		}
		if raw.Get(ctx, key+":lock").Val() != "12345" {
			t.Errorf("%s: Go touched a foreign lock", layout)
		}
	}
}

// ------------------------------------------------------ real PHP --

// redisPHPResult is what the PHP test scripts answer.
type redisPHPResult struct {
	ID       string  `json:"id"`
	N        int     `json:"n"`
	Started  bool    `json:"started"`
	StartErr string  `json:"start_err"`
	WriteErr string  `json:"write_err"`
	WaitedMS float64 `json:"waited_ms"`
}

// redisIncPHP increments $_SESSION['n'], optionally sleeping with the
// session open, and reports what happened. A prelude may install a handler.
const redisIncPHP = `<?php
%s
error_clear_last();
$t0 = microtime(true);
$started = session_start();
$startErr = error_get_last()['message'] ?? '';
$waited = microtime(true) - $t0;
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
if (isset($_GET['sleep'])) usleep((int)$_GET['sleep'] * 1000);
error_clear_last();
session_write_close();
$writeErr = error_get_last()['message'] ?? '';
echo json_encode(['id' => session_id(), 'n' => $_SESSION['n'], 'started' => $started,
    'start_err' => $startErr, 'write_err' => $writeErr, 'waited_ms' => $waited * 1000]);
`

// redisPHPClient is a browser with a cookie jar.
type redisPHPClient struct {
	t      *testing.T
	base   *url.URL
	c      *http.Client
	cookie string
}

func newRedisPHPClient(t *testing.T, base, cookie string) *redisPHPClient {
	u, _ := url.Parse(base)
	jar, _ := cookiejar.New(nil)
	return &redisPHPClient{t: t, base: u, c: &http.Client{Jar: jar, Timeout: 60 * time.Second}, cookie: cookie}
}

// useID makes the client present session id id.
func (p *redisPHPClient) useID(id string) {
	p.c.Jar.SetCookies(p.base, []*http.Cookie{{Name: p.cookie, Value: id, Path: "/"}})
}

// get requests path and decodes the script's answer. Safe to call from
// other goroutines: errors are returned, not fatal.
func (p *redisPHPClient) get(path string) (redisPHPResult, error) {
	var r redisPHPResult
	resp, err := p.c.Get(p.base.String() + path)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return r, fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("GET %s: %v: %q", path, err, body)
	}
	return r, nil
}

func (p *redisPHPClient) mustGet(path string) redisPHPResult {
	p.t.Helper()
	r, err := p.get(path)
	if err != nil {
		p.t.Fatal(err)
	}
	return r
}

// async starts a request in the background.
func (p *redisPHPClient) async(path string) <-chan redisPHPResult {
	ch := make(chan redisPHPResult, 1)
	go func() {
		r, err := p.get(path)
		if err != nil {
			p.t.Errorf("background %v", err)
		}
		ch <- r
	}()
	return ch
}

func redisDocroot(t *testing.T, files map[string]string) string {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// phpredisServer starts php -S with phpredis' save handler on addr.
func phpredisServer(t *testing.T, addr string, ini map[string]string, workers int) string {
	root := redisDocroot(t, map[string]string{"inc.php": fmt.Sprintf(redisIncPHP, "")})
	all := map[string]string{
		"session.save_handler":      "redis",
		"session.save_path":         "tcp://" + addr,
		"session.gc_maxlifetime":    "1000",
		"session.serialize_handler": "php",
		"session.use_strict_mode":   "0",
		"display_errors":            "0",
		"log_errors":                "1",
	}
	for k, v := range ini {
		all[k] = v
	}
	return testenv.PHPServer(t, root, all, []string{"PHP_CLI_SERVER_WORKERS=" + strconv.Itoa(workers)})
}

var phpredisLockValue = regexp.MustCompile(`^[^|]+\|[0-9]+$`)

// TestRedisNativePHP: phpredis writes, Go reads; Go writes, PHP reads and
// goes on; with PHP's locking off and on.
func TestRedisNativePHP(t *testing.T) {
	t.Parallel()
	addr := testenv.Redis(t)
	testenv.PHP(t)
	raw := rawRedis(t, addr, 0)
	for _, locking := range []string{"0", "1"} {
		t.Run("locking_enabled="+locking, func(t *testing.T) {
			base := phpredisServer(t, addr, map[string]string{
				"redis.session.locking_enabled": locking,
				"redis.session.lock_expire":     "30",
			}, 1)
			lock := map[string]string{"0": "off", "1": "on"}[locking]
			s := openStore(t, "redis://"+addr+"/0?ttl=1000&lock="+lock)
			ctx := tctx(t)
			php := newRedisPHPClient(t, base, "PHPSESSID")

			// PHP creates the session; Go reads it
			r := php.mustGet("/inc.php")
			if r.N != 1 || r.StartErr != "" || r.WriteErr != "" {
				t.Fatalf("first PHP request: %+v", r)
			}
			rec, err := s.Read(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(rec.Data, redisCounter(1)) {
				t.Fatalf("Go read %q, want %q", rec.Data, redisCounter(1))
			}
			if rec.TTL <= 990*time.Second || rec.TTL > 1000*time.Second {
				t.Errorf("TTL of PHP's session %v, want gc_maxlifetime 1000s", rec.TTL)
			}
			// Go writes; PHP sees it and goes on
			if err := s.Write(ctx, &handlers.Record{ID: r.ID, Data: redisCounter(41)}); err != nil {
				t.Fatal(err)
			}
			if d := raw.PTTL(ctx, "PHPREDIS_SESSION:"+r.ID).Val(); d <= 999*time.Second || d > 1000*time.Second {
				t.Errorf("TTL after Go's write %v, want 1000s", d)
			}
			if r2 := php.mustGet("/inc.php"); r2.N != 42 || r2.ID != r.ID || r2.WriteErr != "" {
				t.Fatalf("PHP after Go's write: %+v, want n=42 under %s", r2, r.ID)
			}
			if rec, _ := s.Read(ctx, r.ID); rec == nil || !bytes.Equal(rec.Data, redisCounter(42)) {
				t.Fatalf("Go re-read %+v", rec)
			}
			// a session Go creates is adopted by PHP
			id := storetest.NewID()
			if err := s.Write(ctx, &handlers.Record{ID: id, Data: redisCounter(7)}); err != nil {
				t.Fatal(err)
			}
			php.useID(id)
			if r3 := php.mustGet("/inc.php"); r3.ID != id || r3.N != 8 {
				t.Fatalf("PHP on Go's new session: %+v", r3)
			}
			// Touch is update_timestamp's EXPIRE
			if err := s.(handlers.Toucher).Touch(ctx, id, 500*time.Second); err != nil {
				t.Fatal(err)
			}
			if d := raw.TTL(ctx, "PHPREDIS_SESSION:"+id).Val(); d != 500*time.Second {
				t.Errorf("TTL after Touch = %v", d)
			}
			if n := raw.Exists(ctx, "PHPREDIS_SESSION:"+id+"_LOCK", "PHPREDIS_SESSION:"+r.ID+"_LOCK").Val(); n != 0 {
				t.Errorf("%d lock keys left behind", n)
			}
			// Go destroys; PHP starts afresh
			if err := s.Destroy(ctx, id); err != nil {
				t.Fatal(err)
			}
			if r4 := php.mustGet("/inc.php"); r4.N != 1 {
				t.Fatalf("PHP after Go's Destroy: %+v", r4)
			}
		})
	}
}

// TestRedisNativePHPHoldsLock: while a PHP request holds the phpredis lock,
// a Go write waits, or times out and writes nothing.
func TestRedisNativePHPHoldsLock(t *testing.T) {
	t.Parallel()
	addr := testenv.Redis(t)
	raw := rawRedis(t, addr, 0)
	ctx := tctx(t)
	base := phpredisServer(t, addr, map[string]string{
		"redis.session.locking_enabled": "1",
		"redis.session.lock_expire":     "30",
		"redis.session.lock_retries":    "-1",
	}, 2)
	php := newRedisPHPClient(t, base, "PHPSESSID")
	id := php.mustGet("/inc.php").ID
	key := "PHPREDIS_SESSION:" + id

	held := php.async("/inc.php?sleep=1500")
	redisWaitKey(t, raw, key+"_LOCK")
	phpLock := raw.Get(ctx, key+"_LOCK").Val()
	if !phpredisLockValue.MatchString(phpLock) {
		t.Errorf("PHP's lock value %q is not host|pid", phpLock)
	}
	if d := raw.PTTL(ctx, key+"_LOCK").Val(); d < 25*time.Second || d > 30*time.Second {
		t.Errorf("PHP's lock PTTL %v, want lock_expire 30s", d)
	}

	impatient := openStore(t, "redis://"+addr+"/0?lock=on&lock_timeout=0.3&ttl=1000")
	start := time.Now()
	err := impatient.Write(ctx, &handlers.Record{ID: id, Data: redisCounter(100)})
	if !errors.Is(err, handlers.ErrLockTimeout) {
		t.Fatalf("Go Write while PHP holds the lock: %v, want ErrLockTimeout", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 1200*time.Millisecond {
		t.Errorf("lock_timeout=0.3 gave up after %v", d)
	}
	if got := redisMustGet(t, raw, key); !bytes.Equal(got, redisCounter(1)) {
		t.Fatalf("a timed-out Go write changed the session: %q", got)
	}
	if got := raw.Get(ctx, key+"_LOCK").Val(); got != phpLock {
		t.Fatalf("Go touched PHP's lock: %q, was %q", got, phpLock)
	}

	patient := openStore(t, "redis://"+addr+"/0?lock=on&lock_timeout=10&ttl=1000")
	if err := patient.Write(ctx, &handlers.Record{ID: id, Data: redisCounter(100)}); err != nil {
		t.Fatalf("patient Go write: %v", err)
	}
	if d := time.Since(start); d < 1200*time.Millisecond {
		t.Errorf("the Go write did not wait for PHP's request (%v)", d)
	}
	if r := <-held; r.N != 2 || r.WriteErr != "" {
		t.Fatalf("PHP request holding the lock: %+v", r)
	}
	if got := redisMustGet(t, raw, key); !bytes.Equal(got, redisCounter(100)) {
		t.Fatalf("after both: %q, want Go's write (it came last)", got)
	}
	if r := php.mustGet("/inc.php"); r.N != 101 {
		t.Fatalf("PHP after Go's write: %+v", r)
	}
}

// TestRedisNativeGoHoldsLock: while Go holds the phpredis lock, PHP waits
// (lock_retries=-1), or gives up after its 10 x 2 ms and does not write.
func TestRedisNativeGoHoldsLock(t *testing.T) {
	t.Parallel()
	addr := testenv.Redis(t)
	raw := rawRedis(t, addr, 0)
	ctx := tctx(t)
	s := openStore(t, "redis://"+addr+"/0?lock=on&ttl=1000")
	for _, retries := range []string{"default", "-1"} {
		t.Run("lock_retries="+retries, func(t *testing.T) {
			ini := map[string]string{"redis.session.locking_enabled": "1", "redis.session.lock_expire": "30"}
			if retries != "default" {
				ini["redis.session.lock_retries"] = retries
			}
			php := newRedisPHPClient(t, phpredisServer(t, addr, ini, 2), "PHPSESSID")
			id := storetest.NewID()
			key := "PHPREDIS_SESSION:" + id
			if err := s.Write(ctx, &handlers.Record{ID: id, Data: redisCounter(10)}); err != nil {
				t.Fatal(err)
			}
			php.useID(id)
			lk, err := s.(handlers.Locker).Lock(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			goLock := raw.Get(ctx, key+"_LOCK").Val()
			if err := lk.Write(ctx, &handlers.Record{Data: redisCounter(20)}); err != nil {
				t.Fatal(err)
			}
			if retries == "default" {
				// phpredis 5: 10 tries 2 ms apart, a notice, a read without
				// the lock, and a refused write
				r := php.mustGet("/inc.php")
				if !strings.Contains(r.StartErr, "lock") || !strings.Contains(r.WriteErr, "Failed to write") || r.N != 21 {
					t.Errorf("PHP against Go's lock: %+v", r)
				}
				if r.WaitedMS > 500 {
					t.Errorf("PHP waited %v ms", r.WaitedMS)
				}
				t.Logf("phpredis gave up after %.1f ms: %q / %q", r.WaitedMS, r.StartErr, r.WriteErr)
				if got := redisMustGet(t, raw, key); !bytes.Equal(got, redisCounter(20)) {
					t.Fatalf("PHP overwrote Go's locked write: %q", got)
				}
				if got := raw.Get(ctx, key+"_LOCK").Val(); got != goLock {
					t.Fatalf("PHP touched Go's lock: %q", got)
				}
				if err := lk.Unlock(ctx); err != nil {
					t.Fatal(err)
				}
				if r := php.mustGet("/inc.php"); r.N != 21 || r.StartErr != "" || r.WriteErr != "" {
					t.Fatalf("PHP after Unlock: %+v", r)
				}
				return
			}
			ch := php.async("/inc.php")
			select {
			case r := <-ch:
				t.Fatalf("PHP did not wait for Go's lock: %+v", r)
			case <-time.After(400 * time.Millisecond):
			}
			if err := lk.Unlock(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-ch:
				if r.N != 21 || r.StartErr != "" || r.WriteErr != "" || r.WaitedMS < 350 {
					t.Fatalf("PHP after waiting for Go: %+v", r)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("PHP still waiting after Unlock")
			}
			if got := redisMustGet(t, raw, key); !bytes.Equal(got, redisCounter(21)) {
				t.Fatalf("final %q", got)
			}
		})
	}
}

// TestRedisNativeConcurrency: PHP requests and Go writers increment one
// counter, all with the phpredis lock: no update is lost.
func TestRedisNativeConcurrency(t *testing.T) {
	t.Parallel()
	addr := testenv.Redis(t)
	base := phpredisServer(t, addr, map[string]string{
		"redis.session.locking_enabled": "1",
		"redis.session.lock_expire":     "30",
		"redis.session.lock_retries":    "-1",
		"redis.session.lock_wait_time":  "2000",
	}, 4)
	s := openStore(t, "redis://"+addr+"/0?lock=on&lock_timeout=30&ttl=1000")
	redisConcurrentCounter(t, s, base, "PHPSESSID", "/inc.php", 3, 3, 12)
}

// redisConcurrentCounter runs phpN PHP clients and goN Go writers, each doing
// each increments of one session's counter, and checks the total.
func redisConcurrentCounter(t *testing.T, s handlers.Store, base, cookie, path string, phpN, goN, each int) {
	ctx := tctx(t)
	id := storetest.NewID()
	if err := s.Write(ctx, &handlers.Record{ID: id, Data: redisCounter(0)}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, (phpN+goN)*each)
	for range phpN {
		wg.Add(1)
		go func() {
			defer wg.Done()
			php := newRedisPHPClient(t, base, cookie)
			php.useID(id)
			for range each {
				r, err := php.get(path)
				if err == nil && (r.ID != id || r.StartErr != "" || r.WriteErr != "") {
					err = fmt.Errorf("PHP request: %+v", r)
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
				err := handlers.Update(ctx, s, id, func(rec *handlers.Record) error {
					sess, err := phpserialize.DecodeSession(phpserialize.HandlerPHP, rec.Data)
					if err != nil {
						return err
					}
					v, _ := sess.Lookup("n")
					rec.Data = redisCounter(int(v.Int()) + 1)
					rec.TTL = 0
					return nil
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
		t.Error(err)
	}
	rec, err := s.Read(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if want := redisCounter((phpN + goN) * each); !bytes.Equal(rec.Data, want) {
		t.Fatalf("after %d PHP and %d Go increments: %q, want %q", phpN*each, goN*each, rec.Data, want)
	}
}

// ---------------------------------------------------- CodeIgniter --

// redisCIHandlersPHP replays CodeIgniter 3.1.13's Session_redis_driver and
// CodeIgniter 4.4.6+'s RedisHandler against phpredis: the same keys, lock
// keys, lock values, TTLs, retry loops and command sequence (logging and
// save_path parsing left out).
const redisCIHandlersPHP = `<?php
class CI3Redis implements SessionHandlerInterface, SessionUpdateTimestampHandlerInterface {
    protected $_redis; protected $_key_prefix = 'ci_session:'; protected $_lock_key; protected $_lock = FALSE;
    protected $_session_id; protected $_fingerprint; protected $_key_exists = FALSE;
    public function __construct(protected int $port, bool $matchIP, protected int $expiration) {
        if ($matchIP) $this->_key_prefix .= $_SERVER['REMOTE_ADDR'].':';
    }
    public function open(string $path, string $name): bool {
        $redis = new Redis();
        if (!$redis->connect('127.0.0.1', $this->port, 0.0)) return FALSE;
        $this->_redis = $redis;
        return TRUE;
    }
    public function read(string $session_id): string|false {
        if (isset($this->_redis) && $this->_get_lock($session_id)) {
            $this->_session_id = $session_id;
            $session_data = $this->_redis->get($this->_key_prefix.$session_id);
            is_string($session_data) ? $this->_key_exists = TRUE : $session_data = '';
            $this->_fingerprint = md5($session_data);
            return $session_data;
        }
        return FALSE;
    }
    public function write(string $session_id, string $session_data): bool {
        if (!isset($this->_redis, $this->_lock_key)) return FALSE;
        elseif ($session_id !== $this->_session_id) {
            if (!$this->_release_lock() OR !$this->_get_lock($session_id)) return FALSE;
            $this->_key_exists = FALSE;
            $this->_session_id = $session_id;
        }
        $this->_redis->expire($this->_lock_key, 300);
        if ($this->_fingerprint !== ($fingerprint = md5($session_data)) OR $this->_key_exists === FALSE) {
            if ($this->_redis->set($this->_key_prefix.$session_id, $session_data, $this->expiration)) {
                $this->_fingerprint = $fingerprint;
                $this->_key_exists = TRUE;
                return TRUE;
            }
            return FALSE;
        }
        return $this->_redis->expire($this->_key_prefix.$session_id, $this->expiration);
    }
    public function close(): bool {
        if (isset($this->_redis)) {
            try {
                if ($this->_redis->ping() === TRUE) { $this->_release_lock(); $this->_redis->close(); }
            } catch (RedisException $e) {}
            $this->_redis = NULL;
        }
        return TRUE;
    }
    public function destroy(string $session_id): bool {
        if (isset($this->_redis, $this->_lock_key)) { $this->_redis->del($this->_key_prefix.$session_id); return TRUE; }
        return FALSE;
    }
    public function gc(int $maxlifetime): int|false { return 0; }
    public function updateTimestamp(string $id, string $data): bool {
        return $this->_redis->expire($this->_key_prefix.$id, $this->expiration);
    }
    public function validateId(string $id): bool { return (bool) $this->_redis->exists($this->_key_prefix.$id); }
    protected function _get_lock($session_id) {
        if ($this->_lock_key === $this->_key_prefix.$session_id.':lock') {
            return $this->_redis->expire($this->_lock_key, 300);
        }
        $lock_key = $this->_key_prefix.$session_id.':lock';
        $attempt = 0;
        do {
            if (($ttl = $this->_redis->ttl($lock_key)) > 0) { sleep(1); continue; }
            if ($ttl === -2 && ! $this->_redis->set($lock_key, time(), array('nx', 'ex' => 300))) { sleep(1); continue; }
            elseif ( ! $this->_redis->setex($lock_key, 300, time())) { return FALSE; }
            $this->_lock_key = $lock_key;
            break;
        } while (++$attempt < 30);
        if ($attempt === 30) return FALSE;
        $this->_lock = TRUE;
        return TRUE;
    }
    protected function _release_lock() {
        if (isset($this->_redis, $this->_lock_key) && $this->_lock) {
            if ( ! $this->_redis->del($this->_lock_key)) return FALSE;
            $this->_lock_key = NULL;
            $this->_lock = FALSE;
        }
        return TRUE;
    }
}

class CI4Redis implements SessionHandlerInterface {
    protected $redis; protected $keyPrefix = 'ci_session:'; protected $lockKey; protected $lock = false;
    protected $keyExists = false; protected $sessionID; protected $fingerprint;
    public function __construct(protected int $port, string $cookieName, bool $matchIP, protected int $sessionExpiration) {
        $this->keyPrefix .= $cookieName . ':';
        if ($matchIP) $this->keyPrefix .= $_SERVER['REMOTE_ADDR'] . ':';
    }
    public function open(string $path, string $name): bool {
        $redis = new Redis();
        if (!$redis->connect('127.0.0.1', $this->port, 0.0)) return false;
        if (!$redis->select(0)) return false;
        $this->redis = $redis;
        return true;
    }
    public function read(string $id): string|false {
        if (isset($this->redis) && $this->lockSession($id)) {
            if (! isset($this->sessionID)) $this->sessionID = $id;
            $data = $this->redis->get($this->keyPrefix . $id);
            if (is_string($data)) $this->keyExists = true; else $data = '';
            $this->fingerprint = md5($data);
            return $data;
        }
        return false;
    }
    public function write(string $id, string $data): bool {
        if (! isset($this->redis)) return false;
        if ($this->sessionID !== $id) {
            if (! $this->releaseLock() || ! $this->lockSession($id)) return false;
            $this->keyExists = false;
            $this->sessionID = $id;
        }
        if (isset($this->lockKey)) {
            $this->redis->expire($this->lockKey, 300);
            if ($this->fingerprint !== ($fingerprint = md5($data)) || $this->keyExists === false) {
                if ($this->redis->set($this->keyPrefix . $id, $data, $this->sessionExpiration)) {
                    $this->fingerprint = $fingerprint;
                    $this->keyExists = true;
                    return true;
                }
                return false;
            }
            return $this->redis->expire($this->keyPrefix . $id, $this->sessionExpiration);
        }
        return false;
    }
    public function close(): bool {
        if (isset($this->redis)) {
            try {
                $pingReply = $this->redis->ping();
                if (($pingReply === true) || ($pingReply === '+PONG')) {
                    if (isset($this->lockKey) && ! $this->releaseLock()) return false;
                    if (! $this->redis->close()) return false;
                }
            } catch (RedisException $e) {}
            $this->redis = null;
        }
        return true;
    }
    public function destroy(string $id): bool {
        if (isset($this->redis, $this->lockKey)) { $this->redis->del($this->keyPrefix . $id); return true; }
        return false;
    }
    public function gc(int $max_lifetime): int|false { return 1; }
    protected function lockSession(string $sessionID): bool {
        $lockKey = $this->keyPrefix . $sessionID . ':lock';
        if ($this->lockKey === $lockKey) return $this->redis->expire($this->lockKey, 300);
        $attempt = 0;
        do {
            $result = $this->redis->set($lockKey, (string) time(), ['nx', 'ex' => 300]);
            if (! $result) { usleep(100000); continue; }
            $this->lockKey = $lockKey;
            break;
        } while (++$attempt < 300);
        if ($attempt === 300) return false;
        $this->lock = true;
        return true;
    }
    protected function releaseLock(): bool {
        if (isset($this->redis, $this->lockKey) && $this->lock) {
            if (! $this->redis->del($this->lockKey)) return false;
            $this->lockKey = null;
            $this->lock = false;
        }
        return true;
    }
}
`

// redisCIPrelude installs the CodeIgniter handler chosen by the environment.
const redisCIPrelude = `require __DIR__ . '/handlers.php';
$port = (int) getenv('REDIS_PORT');
$matchIP = getenv('CI_MATCH_IP') === '1';
$h = getenv('CI_VERSION') === '3' ? new CI3Redis($port, $matchIP, 7200) : new CI4Redis($port, 'ci_session', $matchIP, 7200);
session_set_save_handler($h, true);
session_name('ci_session');`

// redisCIServer starts php -S with the CodeIgniter handler of version (3 or 4).
func redisCIServer(t *testing.T, addr string, version string, matchIP bool, workers int) string {
	root := redisDocroot(t, map[string]string{
		"handlers.php": redisCIHandlersPHP,
		"ci.php":       fmt.Sprintf(redisIncPHP, redisCIPrelude),
	})
	_, port, _ := net.SplitHostPort(addr)
	mip := "0"
	if matchIP {
		mip = "1"
	}
	return testenv.PHPServer(t, root, map[string]string{
		"session.use_strict_mode":   "1",
		"session.gc_maxlifetime":    "7200",
		"session.serialize_handler": "php",
		"display_errors":            "0",
		"log_errors":                "1",
	}, []string{"REDIS_PORT=" + port, "CI_VERSION=" + version, "CI_MATCH_IP=" + mip,
		"PHP_CLI_SERVER_WORKERS=" + strconv.Itoa(workers)})
}

// TestRedisCodeIgniterPHP: CodeIgniter 3's and 4's Redis drivers, replayed
// by PHP, against Go's ci3 and ci4 stores: data both ways, locks both ways.
func TestRedisCodeIgniterPHP(t *testing.T) {
	t.Parallel()
	addr := testenv.Redis(t)
	testenv.PHP(t)
	raw := rawRedis(t, addr, 0)
	for _, version := range []string{"3", "4"} {
		t.Run("ci"+version, func(t *testing.T) {
			t.Parallel()
			ctx := tctx(t)
			prefix := map[string]string{"3": "ci_session:", "4": "ci_session:ci_session:"}[version]
			base := redisCIServer(t, addr, version, false, 3)
			s := openStore(t, "redis://"+addr+"/0?layout=ci"+version)
			php := newRedisPHPClient(t, base, "ci_session")

			// Go creates a session (CodeIgniter 3's validateId wants it to
			// exist); PHP adopts it and increments it
			id := storetest.NewID()
			if err := s.Write(ctx, &handlers.Record{ID: id, Data: redisCounter(5)}); err != nil {
				t.Fatal(err)
			}
			php.useID(id)
			r := php.mustGet("/ci.php")
			if r.ID != id || r.N != 6 || r.StartErr != "" || r.WriteErr != "" {
				t.Fatalf("PHP on Go's session: %+v", r)
			}
			if got := redisMustGet(t, raw, prefix+id); !bytes.Equal(got, redisCounter(6)) {
				t.Fatalf("%s%s = %q", prefix, id, got)
			}
			rec, err := s.Read(ctx, id)
			if err != nil || !bytes.Equal(rec.Data, redisCounter(6)) {
				t.Fatalf("Go Read = %+v, %v", rec, err)
			}
			if rec.TTL <= 7190*time.Second || rec.TTL > 7200*time.Second {
				t.Errorf("TTL of CodeIgniter's write %v, want 7200s", rec.TTL)
			}
			if raw.Exists(ctx, prefix+id+":lock").Val() != 0 {
				t.Error("PHP left its lock")
			}

			// PHP holds the lock: Go times out, then waits
			held := php.async("/ci.php?sleep=1500")
			redisWaitKey(t, raw, prefix+id+":lock")
			lockVal := raw.Get(ctx, prefix+id+":lock").Val()
			if v, err := strconv.ParseInt(lockVal, 10, 64); err != nil || v < time.Now().Unix()-3 {
				t.Errorf("CodeIgniter's lock value %q, want time()", lockVal)
			}
			if d := raw.TTL(ctx, prefix+id+":lock").Val(); d < 295*time.Second || d > 300*time.Second {
				t.Errorf("CodeIgniter's lock TTL %v, want 300s", d)
			}
			impatient := openStore(t, "redis://"+addr+"/0?lock_timeout=0.3&layout=ci"+version)
			err = impatient.Write(ctx, &handlers.Record{ID: id, Data: redisCounter(100)})
			if !errors.Is(err, handlers.ErrLockTimeout) {
				t.Fatalf("Go Write while PHP holds the lock: %v", err)
			}
			if got := redisMustGet(t, raw, prefix+id); !bytes.Equal(got, redisCounter(6)) {
				t.Fatalf("a timed-out Go write changed the session: %q", got)
			}
			if got := raw.Get(ctx, prefix+id+":lock").Val(); got != lockVal {
				t.Fatalf("Go touched PHP's lock")
			}
			if err := s.Write(ctx, &handlers.Record{ID: id, Data: redisCounter(100)}); err != nil {
				t.Fatal(err)
			}
			if r := <-held; r.N != 7 {
				t.Fatalf("PHP request holding the lock: %+v", r)
			}
			if got := redisMustGet(t, raw, prefix+id); !bytes.Equal(got, redisCounter(100)) {
				t.Fatalf("after both: %q, want Go's write (it came last)", got)
			}

			// Go holds the lock: PHP waits (CodeIgniter 3 polls TTL each
			// second, 4 tries SET NX every 100 ms) and then reads Go's write
			lk, err := s.(handlers.Locker).Lock(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			ch := php.async("/ci.php")
			time.Sleep(400 * time.Millisecond)
			if err := lk.Write(ctx, &handlers.Record{Data: redisCounter(50)}); err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-ch:
				t.Fatalf("PHP did not wait for Go's lock: %+v", r)
			default:
			}
			if err := lk.Unlock(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-ch:
				if r.N != 51 || r.StartErr != "" || r.WriteErr != "" {
					t.Fatalf("PHP after Go's lock: %+v", r)
				}
				t.Logf("CodeIgniter %s waited %.0f ms for Go's lock", version, r.WaitedMS)
			case <-time.After(10 * time.Second):
				t.Fatal("PHP still waiting after Go's Unlock")
			}
			if got := redisMustGet(t, raw, prefix+id); !bytes.Equal(got, redisCounter(51)) {
				t.Fatalf("final %q", got)
			}

			// no lost updates between PHP requests and Go writers
			each := map[string]int{"3": 4, "4": 8}[version]
			redisConcurrentCounter(t, s, base, "ci_session", "/ci.php", 2, 2, each)
		})
	}
}

// TestRedisCodeIgniterMatchIP: with match_ip, CodeIgniter puts the client
// IP in the key; Go finds it by SCAN, or writes under Record.Meta.IP.
func TestRedisCodeIgniterMatchIP(t *testing.T) {
	t.Parallel()
	addr := testenv.Redis(t)
	raw := rawRedis(t, addr, 0)
	for _, version := range []string{"3", "4"} {
		t.Run("ci"+version, func(t *testing.T) {
			ctx := tctx(t)
			prefix := map[string]string{"3": "ci_session:127.0.0.1:", "4": "ci_session:ci_session:127.0.0.1:"}[version]
			php := newRedisPHPClient(t, redisCIServer(t, addr, version, true, 1), "ci_session")
			s := openStore(t, "redis://"+addr+"/0?match_ip=on&layout=ci"+version)
			id := storetest.NewID()
			if err := s.Write(ctx, &handlers.Record{ID: id, Data: redisCounter(1)}); err == nil {
				t.Fatal("match_ip Write without an IP succeeded")
			}
			if err := s.Write(ctx, &handlers.Record{ID: id, Data: redisCounter(1), Meta: handlers.Meta{IP: "127.0.0.1"}}); err != nil {
				t.Fatal(err)
			}
			php.useID(id)
			if r := php.mustGet("/ci.php"); r.ID != id || r.N != 2 {
				t.Fatalf("PHP with match_ip: %+v", r)
			}
			if got := redisMustGet(t, raw, prefix+id); !bytes.Equal(got, redisCounter(2)) {
				t.Fatalf("%s%s = %q", prefix, id, got)
			}
			rec, err := s.Read(ctx, id)
			if err != nil || !bytes.Equal(rec.Data, redisCounter(2)) || rec.Meta.IP != "127.0.0.1" {
				t.Fatalf("Go Read with match_ip = %+v, %v", rec, err)
			}
			// Update finds the IP, locks under it, writes under it
			if err := handlers.Update(ctx, s, id, func(rec *handlers.Record) error { rec.Data = redisCounter(10); return nil }); err != nil {
				t.Fatal(err)
			}
			if r := php.mustGet("/ci.php"); r.N != 11 {
				t.Fatalf("PHP after Go's Update: %+v", r)
			}
			pinned := openStore(t, "redis://"+addr+"/0?match_ip=on&ip=127.0.0.2&layout=ci"+version)
			if _, err := pinned.Read(ctx, id); !errors.Is(err, handlers.ErrNotFound) {
				t.Errorf("Read under another IP: %v, want ErrNotFound", err)
			}
			if err := s.Destroy(ctx, id); err != nil {
				t.Fatal(err)
			}
			if raw.Exists(ctx, prefix+id).Val() != 0 {
				t.Fatal("Destroy left the key")
			}
		})
	}
}

// ------------------------------------------------------- benchmarks --

var redisBenchPayload = bytes.Repeat([]byte(`k|s:40:"0123456789012345678901234567890123456789";`), 20)

// BenchmarkRedisGet compares Store.Read with a raw go-redis GET.
func BenchmarkRedisGet(b *testing.B) {
	addr := testenv.Redis(b)
	ctx := context.Background()
	s := openStore(b, "redis://"+addr+"/11")
	raw := rawRedis(b, addr, 11)
	id := storetest.NewID()
	if err := s.Write(ctx, &handlers.Record{ID: id, Data: redisBenchPayload}); err != nil {
		b.Fatal(err)
	}
	b.Run("phpsess", func(b *testing.B) {
		b.SetBytes(int64(len(redisBenchPayload)))
		for b.Loop() {
			if _, err := s.Read(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-redis", func(b *testing.B) {
		b.SetBytes(int64(len(redisBenchPayload)))
		for b.Loop() {
			if _, err := raw.Get(ctx, "PHPREDIS_SESSION:"+id).Bytes(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRedisPut compares Store.Write, without and with the lock, with
// a raw go-redis SETEX.
func BenchmarkRedisPut(b *testing.B) {
	addr := testenv.Redis(b)
	ctx := context.Background()
	s := openStore(b, "redis://"+addr+"/11")
	locked := openStore(b, "redis://"+addr+"/11?lock=on")
	raw := rawRedis(b, addr, 11)
	id := storetest.NewID()
	for _, bc := range []struct {
		name string
		s    handlers.Store
	}{{"phpsess", s}, {"phpsess-lock", locked}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(redisBenchPayload)))
			for b.Loop() {
				if err := bc.s.Write(ctx, &handlers.Record{ID: id, Data: redisBenchPayload}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("go-redis", func(b *testing.B) {
		b.SetBytes(int64(len(redisBenchPayload)))
		for b.Loop() {
			if err := raw.SetEx(ctx, "PHPREDIS_SESSION:"+id, redisBenchPayload, 1440*time.Second).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestRedisConcurrentReads: Reads that share pipelines (under load) each get
// their own session, or ErrNotFound; ReadBatch agrees; a closed store's
// Read fails at once.
func TestRedisConcurrentReads(t *testing.T) {
	srv := testenv.NewRedis(t)
	ctx := tctx(t)
	s, err := handlers.Open(ctx, "redis://"+srv.Addr+"/0")
	if err != nil {
		t.Fatal(err)
	}
	var recs []*handlers.Record
	for i := range 200 {
		recs = append(recs, &handlers.Record{ID: storetest.NewID(), Data: redisCounter(i), TTL: time.Duration(100+i) * time.Second})
	}
	if err := s.(handlers.BatchWriter).WriteBatch(ctx, recs); err != nil {
		t.Fatal(err)
	}
	missing := storetest.NewID()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 64 {
		wg.Go(func() {
			for i := range 100 {
				if (w+i)%10 == 0 {
					if _, err := s.Read(ctx, missing); !errors.Is(err, handlers.ErrNotFound) {
						errs <- fmt.Errorf("Read(missing) = %v", err)
						return
					}
					continue
				}
				want := recs[(w*7+i)%len(recs)]
				got, err := s.Read(ctx, want.ID)
				if err != nil || !bytes.Equal(got.Data, want.Data) || got.TTL <= 0 || got.TTL > want.TTL {
					errs <- fmt.Errorf("Read(%s) = %+v, %v; want %q", want.ID, got, err, want.Data)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ids := []string{recs[3].ID, missing, recs[150].ID}
	got, err := s.(handlers.BatchReader).ReadBatch(ctx, ids)
	if err != nil || len(got) != 3 || got[1] != nil || !bytes.Equal(got[0].Data, recs[3].Data) || !bytes.Equal(got[2].Data, recs[150].Data) ||
		got[2].TTL <= 100*time.Second || got[2].TTL > 250*time.Second {
		t.Fatalf("ReadBatch = %+v, %v", got, err)
	}
	s.Close()
	s.Close() // twice: no panic
	done := make(chan error, 1)
	go func() { _, err := s.Read(ctx, recs[0].ID); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Read on a closed store succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read on a closed store hangs")
	}
}
