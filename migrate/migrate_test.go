package migrate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/handlers/storetest"
	"github.com/phpsess/phpsess/internal/testenv"
	"github.com/phpsess/phpsess/migrate"
	"github.com/phpsess/phpsess/phpserialize"
)

func TestMain(m *testing.M) { testenv.Run(m) }

func open(t *testing.T, url string) handlers.Store {
	t.Helper()
	s, err := handlers.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var redisDB atomic.Int32

// stores returns a fresh, empty store of each kind, by name.
func stores(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"files": func(t *testing.T) string { return "file://" + t.TempDir() + "?owner=root" },
		"files-php_serialize": func(t *testing.T) string {
			return "file://" + t.TempDir() + "?owner=root&handler=php_serialize"
		},
		"redis": func(t *testing.T) string {
			return fmt.Sprintf("redis://%s/%d", testenv.Redis(t), 1+redisDB.Add(1)%15)
		},
		"redis-ci4": func(t *testing.T) string {
			return fmt.Sprintf("redis://%s/%d?layout=ci4&cookie=ci_session", testenv.Redis(t), 1+redisDB.Add(1)%15)
		},
		"mysql-ci3": func(t *testing.T) string {
			my := testenv.MariaDB(t)
			return strings.Replace(my.URL(), "/"+my.DB, "/"+my.NewDatabase(t), 1) + "?layout=ci3&create_table=on"
		},
		"postgres-ci4": func(t *testing.T) string {
			pg := testenv.Postgres(t)
			return strings.Replace(pg.URL(), "/"+pg.DB, "/"+pg.NewDatabase(t), 1) + "?layout=ci4&create_table=on"
		},
		"memcached": func(t *testing.T) string { return "memcached://" + testenv.NewMemcached(t).Addr },
	}
}

// fill writes n sessions with varied data and a TTL of 1000 s.
func fill(t *testing.T, s handlers.Store, n int) map[string][]byte {
	t.Helper()
	h := s.Info().Handler
	out := map[string][]byte{}
	for i := range n {
		sess := &phpserialize.Array{}
		key := phpserialize.StringKey
		if h == phpserialize.HandlerPHPSerialize {
			key = phpserialize.ArrayKey
		}
		sess.Set(key("user_id"), phpserialize.Int(int64(i)))
		sess.Set(key("name"), phpserialize.String(fmt.Sprintf("user \x00 %d é", i)))
		sess.Set(key("cart"), phpserialize.ArrayValue(phpserialize.List(phpserialize.Float(0.1*float64(i)), phpserialize.Bool(i%2 == 0))))
		data, err := phpserialize.EncodeSession(h, sess)
		if err != nil {
			t.Fatal(err)
		}
		id := storetest.NewID()
		if err := s.Write(context.Background(), &handlers.Record{ID: id, Data: data, TTL: 1000 * time.Second}); err != nil {
			t.Fatal(err)
		}
		out[id] = data
	}
	return out
}

// check reads every session back from the target and compares the data.
func check(t *testing.T, src, dst handlers.Store, want map[string][]byte) {
	t.Helper()
	for id, data := range want {
		rec, err := dst.Read(context.Background(), id)
		if err != nil {
			t.Fatalf("session %s missing at the target: %v", id, err)
		}
		if src.Info().Handler == dst.Info().Handler && !bytes.Equal(rec.Data, data) {
			t.Fatalf("session %s: bytes differ: %q vs %q", id, rec.Data, data)
		}
		a, _ := phpserialize.DecodeSession(src.Info().Handler, data)
		b, err := phpserialize.DecodeSession(dst.Info().Handler, rec.Data)
		if err != nil {
			t.Fatalf("session %s does not decode at the target: %v", id, err)
		}
		if a.Len() != b.Len() {
			t.Fatalf("session %s: %d variables at the source, %d at the target", id, a.Len(), b.Len())
		}
		if dst.Info().Backend != "memcached" && rec.TTL != 0 && (rec.TTL < 950*time.Second || rec.TTL > 1001*time.Second) {
			t.Fatalf("session %s: TTL at the target %v, want what was left of 1000 s", id, rec.TTL)
		}
	}
}

// TestPairs copies between pairs of backends and layouts.
func TestPairs(t *testing.T) {
	mk := stores(t)
	for _, pair := range [][2]string{
		{"files", "redis"},
		{"redis", "files-php_serialize"},
		{"mysql-ci3", "redis-ci4"},
		{"postgres-ci4", "files"},
		{"memcached", "redis"},
		{"files-php_serialize", "mysql-ci3"},
	} {
		t.Run(pair[0]+"->"+pair[1], func(t *testing.T) {
			src, dst := open(t, mk[pair[0]](t)), open(t, mk[pair[1]](t))
			want := fill(t, src, 50)
			rep, err := migrate.Run(context.Background(), migrate.Options{From: src, To: dst, Verify: true, FinalPass: true})
			if err != nil {
				t.Fatalf("%v %+v", err, rep)
			}
			if rep.Stats.Copied != 50 || rep.Stats.Verified != 50 || rep.Stats.Failed != 0 {
				t.Fatalf("stats %+v", rep.Stats)
			}
			check(t, src, dst, want)
		})
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	dir := t.TempDir()
	src, dst := open(t, stores(t)["files"](t)), open(t, "file://"+dir+"?owner=root")
	fill(t, src, 10)
	rep, err := migrate.Run(context.Background(), migrate.Options{From: src, To: dst, DryRun: true})
	if err != nil || rep.Stats.Copied != 10 || rep.Stats.Bytes == 0 {
		t.Fatalf("%v %+v", err, rep.Stats)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("dry run wrote %d files", len(ents))
	}
}

// TestBadSessionsAreReported: a source session that cannot be decoded, or
// cannot be converted exactly, is reported with its id and skipped; the
// others are copied.
func TestBadSessionsAreReported(t *testing.T) {
	dir := t.TempDir()
	src := open(t, "file://"+dir+"?owner=root&handler=php_serialize")
	dst := open(t, stores(t)["files"](t))
	fill(t, src, 5)
	ctx := context.Background()
	// an int key cannot go into the php encoding
	src.Write(ctx, &handlers.Record{ID: "intkey", Data: []byte(`a:1:{i:5;s:1:"x";}`)})
	// garbage PHP would destroy
	os.WriteFile(filepath.Join(dir, "sess_garbage"), []byte("a:1:{i:0;"), 0o600)
	rep, err := migrate.Run(ctx, migrate.Options{From: src, To: dst})
	if !errors.Is(err, migrate.ErrFailed) {
		t.Fatalf("err = %v", err)
	}
	if rep.Stats.Copied != 5 || rep.Stats.Failed != 2 || len(rep.Failures) != 2 {
		t.Fatalf("%+v %+v", rep.Stats, rep.Failures)
	}
	for _, f := range rep.Failures {
		if f.ID != "intkey" && f.ID != "garbage" {
			t.Fatalf("failure names %q", f.ID)
		}
	}
	if _, err := dst.Read(ctx, "garbage"); !errors.Is(err, handlers.ErrNotFound) {
		t.Fatal("a bad session was copied")
	}
	_, err = migrate.Run(ctx, migrate.Options{From: src, To: dst, Strict: true, Workers: 1})
	if err == nil || errors.Is(err, migrate.ErrFailed) {
		t.Fatalf("strict: %v", err)
	}
}

// TestExpiredAreSkipped: a files session past its lifetime is not copied.
func TestExpiredAreSkipped(t *testing.T) {
	dir := t.TempDir()
	src := open(t, "file://"+dir+"?owner=root&ttl=1440")
	dst := open(t, stores(t)["files"](t))
	fill(t, src, 3)
	old := time.Now().Add(-2 * time.Hour)
	os.WriteFile(filepath.Join(dir, "sess_stale"), []byte("a|i:1;"), 0o600)
	os.Chtimes(filepath.Join(dir, "sess_stale"), old, old)
	rep, err := migrate.Run(context.Background(), migrate.Options{From: src, To: dst})
	if err != nil || rep.Stats.Copied != 3 || rep.Stats.Expired != 1 {
		t.Fatalf("%v %+v", err, rep.Stats)
	}
}

// TestResume: a run stopped half-way continues from its checkpoint and
// copies each remaining session once.
func TestResume(t *testing.T) {
	src, dst := open(t, stores(t)["files"](t)), open(t, stores(t)["redis"](t))
	want := fill(t, src, 200)
	ckpt := filepath.Join(t.TempDir(), "ckpt")
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int64
	opt := migrate.Options{From: src, To: dst, Checkpoint: ckpt, Workers: 2, Rate: 100, BatchSize: 8,
		Progress: func(s migrate.Stats) {
			if n.Store(s.Copied); s.Copied > 50 {
				cancel()
			}
		}}
	rep, err := migrate.Run(ctx, opt)
	if err == nil {
		t.Fatalf("the first run was not stopped: %+v", rep.Stats)
	}
	first := rep.Stats.Copied
	opt.Progress, opt.Rate = nil, 0
	rep, err = migrate.Run(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Stats.Resumed != first || rep.Stats.Copied != 200-first {
		t.Fatalf("first run copied %d; resume: %+v", first, rep.Stats)
	}
	check(t, src, dst, want)
}

// TestFinalPassCopiesChanges: sessions changed during the first pass are
// copied again.
func TestFinalPassCopiesChanges(t *testing.T) {
	src, dst := open(t, stores(t)["redis"](t)), open(t, stores(t)["files"](t))
	want := fill(t, src, 100)
	var changed atomic.Bool
	var ids []string
	for id := range want {
		ids = append(ids, id)
	}
	opt := migrate.Options{From: src, To: dst, FinalPass: true, Workers: 1, OnPassDone: func(pass int) {
		if pass == 1 && changed.CompareAndSwap(false, true) {
			for _, id := range ids[:10] {
				data := []byte(`changed|b:1;`)
				src.Write(context.Background(), &handlers.Record{ID: id, Data: data})
				want[id] = data
			}
		}
	}}
	rep, err := migrate.Run(context.Background(), opt)
	if err != nil || rep.Stats.Recopied != 10 {
		t.Fatalf("%v %+v", err, rep.Stats)
	}
	for _, id := range ids[:10] {
		rec, err := dst.Read(context.Background(), id)
		if err != nil || string(rec.Data) != "changed|b:1;" {
			t.Fatalf("%s: %q %v", id, rec.Data, err)
		}
	}
}
