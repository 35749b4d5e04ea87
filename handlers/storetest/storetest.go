// Package storetest is the conformance suite every handlers.Store passes:
// one set of tests, run against every backend and layout with real servers.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/phpserialize"
)

// Config describes the store under test.
type Config struct {
	// Open returns a store for the test. extra holds options to add to the
	// store URL (such as lock_timeout); Open must fail the test on error and
	// close the store at t.Cleanup. Stores opened by one test may share
	// their data; the suite uses fresh ids.
	Open func(t *testing.T, extra url.Values) handlers.Store
	// NewID returns a fresh session id as the layout would make one. If nil,
	// 32 random characters of [0-9a-v] are used.
	NewID func() string
	// MaxSize is the largest payload the layout can hold (0 means 1 MiB).
	MaxSize int
	// Expires says the backend expires sessions by itself, so that a session
	// written with a short TTL reads as not found after it.
	Expires bool
	// SkipLocking says the layout has no lock (lock=on is then a no-op).
	SkipLocking bool
	// Text says the layout keeps the payload as text (a utf8 TEXT column,
	// a BSON string), which cannot hold every byte string, as the PHP side
	// cannot store one there either: WriteRead then checks that a payload
	// of invalid UTF-8 and NUL is refused with handlers.ErrNotText, and
	// round-trips a UTF-8 one instead.
	Text bool
}

// NewID returns 32 random characters of [0-9a-v], PHP's 5-bit session ids.
func NewID() string {
	const alphabet = "0123456789abcdefghijklmnopqrstuv"
	b := make([]byte, 32)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[b[i]%32]
	}
	return string(b)
}

// Run runs the conformance suite.
func Run(t *testing.T, c Config) {
	if c.NewID == nil {
		c.NewID = NewID
	}
	if c.MaxSize == 0 {
		c.MaxSize = 1 << 20
	}
	t.Run("ReadMissing", func(t *testing.T) { testReadMissing(t, c) })
	t.Run("WriteRead", func(t *testing.T) { testWriteRead(t, c) })
	t.Run("OverwriteShorter", func(t *testing.T) { testOverwriteShorter(t, c) })
	t.Run("Large", func(t *testing.T) { testLarge(t, c) })
	t.Run("Destroy", func(t *testing.T) { testDestroy(t, c) })
	t.Run("InvalidIDs", func(t *testing.T) { testInvalidIDs(t, c) })
	t.Run("List", func(t *testing.T) { testList(t, c) })
	t.Run("TTL", func(t *testing.T) { testTTL(t, c) })
	t.Run("Batches", func(t *testing.T) { testBatches(t, c) })
	if !c.SkipLocking {
		t.Run("LockBlocksWriter", func(t *testing.T) { testLockBlocks(t, c) })
		t.Run("LockTimeout", func(t *testing.T) { testLockTimeout(t, c) })
		t.Run("NoLostUpdates", func(t *testing.T) { testNoLostUpdates(t, c) })
	}
}

func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// payload returns a session payload in handler h holding the given vars.
func payload(t *testing.T, h phpserialize.Handler, kv ...any) []byte {
	t.Helper()
	sess := &phpserialize.Array{}
	for i := 0; i+1 < len(kv); i += 2 {
		v, err := phpserialize.ToValue(kv[i+1])
		if err != nil {
			t.Fatal(err)
		}
		k := phpserialize.StringKey(kv[i].(string))
		if h == phpserialize.HandlerPHPSerialize {
			k = phpserialize.ArrayKey(kv[i].(string))
		}
		sess.Set(k, v)
	}
	b, err := phpserialize.EncodeSession(h, sess)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testReadMissing(t *testing.T, c Config) {
	s := c.Open(t, nil)
	_, err := s.Read(ctx(t), c.NewID())
	if !errors.Is(err, handlers.ErrNotFound) {
		t.Fatalf("Read of a missing session: got %v, want ErrNotFound", err)
	}
	if err := s.Destroy(ctx(t), c.NewID()); err != nil {
		t.Fatalf("Destroy of a missing session: %v", err)
	}
}

// testBatches: what WriteBatch writes, Read reads; ReadBatch and
// ReadDataBatch (where the store has them) agree with Read, nil for a
// missing session. Stores without batches pass.
func testBatches(t *testing.T, c Config) {
	s := c.Open(t, nil)
	h := s.Info().Handler
	var recs []*handlers.Record
	for i := range 5 {
		recs = append(recs, &handlers.Record{ID: c.NewID(), Data: payload(t, h, "n", i, "pad", strings.Repeat("p", i*100))})
	}
	if bw, ok := s.(handlers.BatchWriter); ok {
		if err := bw.WriteBatch(ctx(t), recs); err != nil {
			t.Fatalf("WriteBatch: %v", err)
		}
	} else {
		for _, r := range recs {
			if err := s.Write(ctx(t), r); err != nil {
				t.Fatalf("Write: %v", err)
			}
		}
	}
	ids := []string{recs[0].ID, c.NewID(), recs[1].ID, recs[2].ID, recs[3].ID, recs[4].ID}
	want := [][]byte{recs[0].Data, nil, recs[1].Data, recs[2].Data, recs[3].Data, recs[4].Data}
	for i, id := range ids {
		rec, err := s.Read(ctx(t), id)
		if want[i] == nil {
			if !errors.Is(err, handlers.ErrNotFound) {
				t.Fatalf("Read of a missing session: %v", err)
			}
			continue
		}
		if err != nil || !bytes.Equal(rec.Data, want[i]) {
			t.Fatalf("Read after WriteBatch = %v, %v; want %q", rec, err, want[i])
		}
	}
	if br, ok := s.(handlers.BatchReader); ok {
		got, err := br.ReadBatch(ctx(t), ids)
		if err != nil || len(got) != len(ids) {
			t.Fatalf("ReadBatch = %d records, %v", len(got), err)
		}
		for i, rec := range got {
			if (rec == nil) != (want[i] == nil) || rec != nil && (rec.ID != ids[i] || !bytes.Equal(rec.Data, want[i])) {
				t.Fatalf("ReadBatch[%d] = %+v, want %q", i, rec, want[i])
			}
		}
	}
	if dr, ok := s.(handlers.DataBatchReader); ok {
		got, err := dr.ReadDataBatch(ctx(t), ids)
		if err != nil || len(got) != len(ids) {
			t.Fatalf("ReadDataBatch = %d payloads, %v", len(got), err)
		}
		for i, d := range got {
			if (d == nil) != (want[i] == nil) || !bytes.Equal(d, want[i]) {
				t.Fatalf("ReadDataBatch[%d] = %q, want %q", i, d, want[i])
			}
		}
	}
}

func testWriteRead(t *testing.T, c Config) {
	s := c.Open(t, nil)
	h := s.Info().Handler
	id := c.NewID()
	data := payload(t, h, "user", map[string]any{"id": 42, "name": "zoë"}, "bin", "a\x00b\xff|\";}", "f", 0.1, "list", []any{1, "two", nil})
	if c.Text {
		if err := s.Write(ctx(t), &handlers.Record{ID: id, Data: data}); !errors.Is(err, handlers.ErrNotText) {
			t.Fatalf("Write of a payload that is not text: %v, want ErrNotText", err)
		}
		if _, err := s.Read(ctx(t), id); !errors.Is(err, handlers.ErrNotFound) {
			t.Fatalf("Read after a refused Write: %v, want ErrNotFound", err)
		}
		data = payload(t, h, "user", map[string]any{"id": 42, "name": "zoë"}, "txt", "a\tb€|\";}", "f", 0.1, "list", []any{1, "two", nil})
	}
	if err := s.Write(ctx(t), &handlers.Record{ID: id, Data: data}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	rec, err := s.Read(ctx(t), id)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if rec.ID != id || !bytes.Equal(rec.Data, data) {
		t.Fatalf("Read = %q %q, want %q %q", rec.ID, rec.Data, id, data)
	}
	if rec.TTL < 0 || rec.TTL > s.Info().TTL+time.Second {
		t.Errorf("TTL after write = %v, default lifetime %v", rec.TTL, s.Info().TTL)
	}
	if _, err := phpserialize.DecodeSession(h, rec.Data); err != nil {
		t.Errorf("stored payload does not decode: %v", err)
	}
}

func testOverwriteShorter(t *testing.T, c Config) {
	s := c.Open(t, nil)
	h := s.Info().Handler
	id := c.NewID()
	long := payload(t, h, "a", strings.Repeat("x", 5000), "b", 1)
	short := payload(t, h, "a", "y")
	for _, d := range [][]byte{long, short} {
		if err := s.Write(ctx(t), &handlers.Record{ID: id, Data: d}); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	rec, err := s.Read(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rec.Data, short) {
		t.Fatalf("after a shorter overwrite, Read = %.80q, want %q", rec.Data, short)
	}
}

func testLarge(t *testing.T, c Config) {
	s := c.Open(t, nil)
	h := s.Info().Handler
	id := c.NewID()
	// fill up to ~90% of the layout's limit
	n := c.MaxSize * 9 / 10
	data := payload(t, h, "blob", strings.Repeat("0123456789abcdef", n/16))
	if err := s.Write(ctx(t), &handlers.Record{ID: id, Data: data}); err != nil {
		t.Fatalf("Write of %d bytes: %v", len(data), err)
	}
	rec, err := s.Read(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rec.Data, data) {
		t.Fatalf("large payload changed: %d bytes read, %d written", len(rec.Data), len(data))
	}
}

func testDestroy(t *testing.T, c Config) {
	s := c.Open(t, nil)
	id := c.NewID()
	if err := s.Write(ctx(t), &handlers.Record{ID: id, Data: payload(t, s.Info().Handler, "a", 1)}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Destroy(ctx(t), id); err != nil {
			t.Fatalf("Destroy: %v", err)
		}
	}
	if _, err := s.Read(ctx(t), id); !errors.Is(err, handlers.ErrNotFound) {
		t.Fatalf("Read after Destroy: %v, want ErrNotFound", err)
	}
}

func testInvalidIDs(t *testing.T, c Config) {
	s := c.Open(t, nil)
	data := payload(t, s.Info().Handler, "a", 1)
	for _, id := range []string{"", "../../etc/passwd", "a/b", "a\x00b", "a|b", "a b", "a\nb", strings.Repeat("a", 300), "a.b"} {
		if _, err := s.Read(ctx(t), id); !errors.Is(err, handlers.ErrInvalidID) {
			t.Errorf("Read(%q) = %v, want ErrInvalidID", id, err)
		}
		if err := s.Write(ctx(t), &handlers.Record{ID: id, Data: data}); !errors.Is(err, handlers.ErrInvalidID) {
			t.Errorf("Write(%q) = %v, want ErrInvalidID", id, err)
		}
		if err := s.Destroy(ctx(t), id); !errors.Is(err, handlers.ErrInvalidID) {
			t.Errorf("Destroy(%q) = %v, want ErrInvalidID", id, err)
		}
	}
}

func testList(t *testing.T, c Config) {
	s := c.Open(t, nil)
	l, ok := s.(handlers.Lister)
	if !ok {
		t.Logf("%s/%s cannot list sessions", s.Info().Backend, s.Info().Layout)
		return
	}
	want := map[string]bool{}
	for range 3 {
		id := c.NewID()
		want[id] = true
		if err := s.Write(ctx(t), &handlers.Record{ID: id, Data: payload(t, s.Info().Handler, "a", 1)}); err != nil {
			t.Fatal(err)
		}
	}
	err := l.List(ctx(t), func(id string) error {
		delete(want, id)
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(want) > 0 {
		t.Fatalf("List missed %v", want)
	}
	stop := errors.New("stop")
	if err := l.List(ctx(t), func(string) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("List did not return the callback's error: %v", err)
	}
}

func testTTL(t *testing.T, c Config) {
	s := c.Open(t, nil)
	id := c.NewID()
	if err := s.Write(ctx(t), &handlers.Record{ID: id, Data: payload(t, s.Info().Handler, "a", 1), TTL: 100 * time.Second}); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Read(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Expires && (rec.TTL <= 90*time.Second || rec.TTL > 101*time.Second) {
		t.Errorf("TTL after writing with 100s = %v", rec.TTL)
	}
	if tc, ok := s.(handlers.Toucher); ok {
		if err := tc.Touch(ctx(t), id, 200*time.Second); err != nil {
			t.Fatalf("Touch: %v", err)
		}
		rec, err := s.Read(ctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Expires && rec.TTL <= 150*time.Second {
			t.Errorf("TTL after Touch(200s) = %v", rec.TTL)
		}
	}
	if !c.Expires {
		return
	}
	short := c.NewID()
	if err := s.Write(ctx(t), &handlers.Record{ID: short, Data: payload(t, s.Info().Handler, "a", 1), TTL: time.Second}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond)
	if _, err := s.Read(ctx(t), short); !errors.Is(err, handlers.ErrNotFound) {
		t.Fatalf("Read 2s after writing with TTL 1s: %v, want ErrNotFound", err)
	}
}

func testLockBlocks(t *testing.T, c Config) {
	s := c.Open(t, url.Values{"lock_timeout": {"10"}})
	l, ok := s.(handlers.Locker)
	if !ok {
		t.Fatalf("%s/%s has locking but is not a handlers.Locker", s.Info().Backend, s.Info().Layout)
	}
	id := c.NewID()
	h := s.Info().Handler
	lk, err := l.Lock(ctx(t), id)
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if err := lk.Write(ctx(t), &handlers.Record{Data: payload(t, h, "holder", 1)}); err != nil {
		t.Fatalf("Write under lock: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Write(ctx(t), &handlers.Record{ID: id, Data: payload(t, h, "second", 2)}) }()
	select {
	case err := <-done:
		t.Fatalf("a second writer did not wait for the lock (err=%v)", err)
	case <-time.After(500 * time.Millisecond):
	}
	if err := lk.Unlock(ctx(t)); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if err := lk.Unlock(ctx(t)); err != nil {
		t.Fatalf("second Unlock: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("second writer after unlock: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("second writer still blocked after Unlock")
	}
	rec, err := s.Read(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rec.Data, payload(t, h, "second", 2)) {
		t.Fatalf("Read = %q", rec.Data)
	}
}

func testLockTimeout(t *testing.T, c Config) {
	s := c.Open(t, url.Values{"lock_timeout": {"0.3"}})
	l := s.(handlers.Locker)
	id := c.NewID()
	h := s.Info().Handler
	if err := s.Write(ctx(t), &handlers.Record{ID: id, Data: payload(t, h, "v", 1)}); err != nil {
		t.Fatal(err)
	}
	lk, err := l.Lock(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock(ctx(t))
	start := time.Now()
	err = s.Write(ctx(t), &handlers.Record{ID: id, Data: payload(t, h, "v", 2)})
	if !errors.Is(err, handlers.ErrLockTimeout) {
		t.Fatalf("Write while locked: %v, want ErrLockTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("lock_timeout=0.3 waited %v", d)
	}
	rec, err := lk.Read(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rec.Data, payload(t, h, "v", 1)) {
		t.Fatalf("a timed-out writer changed the session: %q", rec.Data)
	}
}

// testNoLostUpdates increments one counter from many goroutines with
// handlers.Update: with the lock, every increment survives.
func testNoLostUpdates(t *testing.T, c Config) {
	s := c.Open(t, url.Values{"lock_timeout": {"30"}})
	h := s.Info().Handler
	id := c.NewID()
	const workers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := handlers.Update(ctx(t), s, id, func(rec *handlers.Record) error {
					n := 0
					if len(rec.Data) > 0 {
						sess, err := phpserialize.DecodeSession(h, rec.Data)
						if err != nil {
							return err
						}
						v, _ := sess.Lookup("n")
						n = int(v.Int())
					}
					rec.Data = payload(t, h, "n", n+1)
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
		t.Fatalf("Update: %v", err)
	}
	rec, err := s.Read(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	want := payload(t, h, "n", workers*each)
	if !bytes.Equal(rec.Data, want) {
		t.Fatalf("after %d locked increments: %q, want %q", workers*each, rec.Data, want)
	}
}

// Counter returns the payload n|i:N; in handler h, for interop tests.
func Counter(h phpserialize.Handler, n int) []byte {
	switch h {
	case phpserialize.HandlerPHPSerialize:
		return []byte(fmt.Sprintf(`a:1:{s:1:"n";i:%d;}`, n))
	case phpserialize.HandlerPHPBinary:
		return []byte("\x01ni:" + strconv.Itoa(n) + ";")
	}
	return []byte("n|i:" + strconv.Itoa(n) + ";")
}
