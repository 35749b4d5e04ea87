package handlers_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/handlers/storetest"
	"github.com/phpsess/phpsess/internal/testenv"
)

// Tests of the memcache:// store against pecl memcache's session handler.
// Helpers are in memcached_test.go.

func TestMemcacheConformance(t *testing.T) {
	addr := testenv.Memcached(t)
	for _, tc := range []struct{ name, query string }{
		{"native", ""},
		{"native/prefix", "prefix=site1."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, mcConformance(t, "memcache://"+addr+"?"+tc.query, nil))
		})
	}
}

// mcPeclStarted starts PHP with pecl memcache's session handler and a
// browser whose session exists (n=1).
func mcPeclStarted(t *testing.T, addr string, ini map[string]string) (*mcPHPClient, string) {
	base := mcPHPServer(t, "memcache", "tcp://"+addr, ini, 2)
	id := storetest.NewID()
	php := newMCPHPClient(t, base, "PHPSESSID", id)
	php.mustGet("/s.php")
	return php, id
}

// TestMemcachePHP: pecl memcache writes, Go reads (a large session
// compressed with zlib, flags 2, included); Go writes, PHP reads.
func TestMemcachePHP(t *testing.T) {
	t.Parallel()
	addr := testenv.Memcached(t)
	base := mcPHPServer(t, "memcache", "tcp://"+addr, nil, 1)
	s := openStore(t, "memcache://"+addr)
	raw := mcRaw(addr)
	id := storetest.NewID()
	php := newMCPHPClient(t, base, "PHPSESSID", id)

	php.mustGet("/s.php")
	rec, err := s.Read(tctx(t), id)
	if err != nil {
		t.Fatalf("Go reads pecl memcache's session: %v", err)
	}
	// An absolute expiry can read one second long: memcached's clock ticks
	// in whole seconds.
	if string(rec.Data) != "n|i:1;" || rec.TTL < 1430*time.Second || rec.TTL > 1441*time.Second {
		t.Fatalf("read %q TTL %v", rec.Data, rec.TTL)
	}
	if it := mcMustGet(t, raw, id+".lock"); string(it.Value) != "0" || it.Flags != 768 {
		t.Errorf("PHP's released lock: %q flags %d", it.Value, it.Flags)
	}

	// > 20000 bytes: pecl memcache stores it zlib-compressed, flags 2.
	php.mustGet("/s.php?big=2000")
	it := mcMustGet(t, raw, id)
	if it.Flags != 2 || !bytes.HasPrefix(it.Value, []byte{0x78}) {
		t.Fatalf("large session stored with flags %d, header % x: not zlib", it.Flags, it.Value[:2])
	}
	rec, err = s.Read(tctx(t), id)
	if err != nil {
		t.Fatalf("Go reads a zlib-compressed session: %v", err)
	}
	if !bytes.HasPrefix(rec.Data, []byte("n|i:2;big|s:52000:\"compressible session data ")) || len(rec.Data) < 52000 {
		t.Fatalf("read %d bytes %.60q", len(rec.Data), rec.Data)
	}

	// Go writes (large, uncompressed), PHP reads and keeps working.
	goData := mcPayload(t, "n", 30, "big", strings.Repeat("from go ", 5000))
	if err := s.Write(tctx(t), &handlers.Record{ID: id, Data: goData}); err != nil {
		t.Fatal(err)
	}
	if it := mcMustGet(t, raw, id); it.Flags != 0 {
		t.Errorf("Go stored flags %d", it.Flags)
	}
	if it := mcMustGet(t, raw, id+".lock"); string(it.Value) != "0" || it.Flags != 768 {
		t.Errorf("lock after Go's write: %q flags %d", it.Value, it.Flags)
	}
	if ttl := mcTTL(t, addr, id); ttl < 1430 || ttl > 1441 {
		t.Errorf("TTL of Go's write %d", ttl)
	}
	if r := php.mustGet("/s.php"); mcSeenN(r) != 30 || !strings.HasPrefix(r.Seen["big"].(string), "from go") {
		t.Fatalf("PHP read Go's write as n=%v", r.Seen["n"])
	}
	if n := mcReadN(t, s, id); n != 31 {
		t.Fatalf("n=%d, want 31", n)
	}
	if err := s.Destroy(tctx(t), id); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Get(id); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("after Destroy: %v", err)
	}
}

// TestMemcacheLocking: the incr/add lock counter is shared both ways.
func TestMemcacheLocking(t *testing.T) {
	t.Parallel()
	addr := testenv.Memcached(t)
	raw := mcRaw(addr)

	t.Run("PHPHolds", func(t *testing.T) {
		t.Parallel()
		php, id := mcPeclStarted(t, addr, nil)
		done := php.async("/s.php?hold=1500")
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if it, err := raw.Get(id + ".lock"); err == nil && string(it.Value) != "0" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("PHP did not take the lock")
			}
		}
		impatient := openStore(t, "memcache://"+addr+"?lock_timeout=0.3")
		if err := impatient.Write(tctx(t), &handlers.Record{ID: id, Data: mcPayload(t, "n", 100)}); !errors.Is(err, handlers.ErrLockTimeout) {
			t.Fatalf("Write while PHP holds the session: %v", err)
		}
		patient := openStore(t, "memcache://"+addr+"?lock_timeout=10")
		if err := patient.Write(tctx(t), &handlers.Record{ID: id, Data: mcPayload(t, "n", 100)}); err != nil {
			t.Fatal(err)
		}
		if r := <-done; !r.OK || mcSeenN(r) != 1 {
			t.Fatalf("PHP: %+v", r)
		}
		if n := mcReadN(t, patient, id); n != 100 {
			t.Fatalf("n=%d: PHP's write came after Go's", n)
		}
	})

	t.Run("GoHolds", func(t *testing.T) {
		t.Parallel()
		php, id := mcPeclStarted(t, addr, nil)
		s := openStore(t, "memcache://"+addr)
		lk, err := s.(handlers.Locker).Lock(tctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		done := php.async("/s.php")
		time.Sleep(500 * time.Millisecond)
		if err := lk.Write(tctx(t), &handlers.Record{Data: mcPayload(t, "n", 20)}); err != nil {
			t.Fatal(err)
		}
		lk.Unlock(tctx(t))
		r := <-done
		if !r.OK || mcSeenN(r) != 20 || r.Waited < 0.4 {
			t.Fatalf("PHP while Go held the lock: %+v", r)
		}
		if n := mcReadN(t, s, id); n != 21 {
			t.Fatalf("n=%d, want 21", n)
		}
	})

	// pecl memcache's own limit: after 2 * memcache.lock_timeout it reads an
	// empty session without the lock and overwrites the stored one. This is
	// PHP's behaviour, recorded here because it bounds how long Go may hold
	// a lock.
	t.Run("PHPGivesUp", func(t *testing.T) {
		t.Parallel()
		php, id := mcPeclStarted(t, addr, map[string]string{"memcache.lock_timeout": "1"})
		php.mustGet("/s.php")
		s := openStore(t, "memcache://"+addr)
		lk, err := s.(handlers.Locker).Lock(tctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		defer lk.Unlock(tctx(t))
		r := php.mustGet("/s.php")
		if r.Waited < 1.5 || len(r.Seen) != 0 {
			t.Fatalf("PHP with Go holding the lock beyond 2 x lock_timeout: %+v", r)
		}
		if n := mcReadN(t, s, id); n != 1 {
			t.Fatalf("n=%d, want 1 (PHP overwrote n=2 with a fresh session)", n)
		}
		t.Logf("pecl memcache gave up after %.2fs and replaced n=2 by n=1", r.Waited)
	})
}

func TestMemcacheCounter(t *testing.T) {
	t.Parallel()
	addr := testenv.Memcached(t)
	base := mcPHPServer(t, "memcache", "tcp://"+addr, nil, 4)
	s := openStore(t, "memcache://"+addr+"?lock_timeout=30")
	mcCounter(t, s, base, "PHPSESSID", "/s.php", 3, 2, 10)
}
