package migrate_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/internal/testenv"
	"github.com/phpsess/phpsess/migrate"
)

// TestLiveMigrationWithPHPWriting: PHP (phpredis' session handler, through
// php -S and cookie jars) keeps writing sessions while they are migrated
// to a files store; writers stop when the first pass ends, and after the
// final pass every session at the target equals the source.
func TestLiveMigrationWithPHPWriting(t *testing.T) {
	addr := testenv.Redis(t)
	db := 1 + redisDB.Add(1)%15
	docroot := t.TempDir()
	os.WriteFile(filepath.Join(docroot, "count.php"), []byte(`<?php
session_start();
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
$_SESSION['pad'] = str_repeat('x', 200);
echo session_id(), ' ', $_SESSION['n'];
`), 0o644)
	base := testenv.PHPServer(t, docroot, map[string]string{
		"session.save_handler": "redis",
		"session.save_path":    fmt.Sprintf(`"tcp://%s?database=%d"`, addr, db), // quoted: = and ? are ini syntax
	}, []string{"PHP_CLI_SERVER_WORKERS=4"})
	clients := make([]*http.Client, 60)
	hit := func(c *http.Client) error {
		resp, err := c.Get(base + "/count.php")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		return err
	}
	for i := range clients {
		jar, _ := cookiejar.New(nil)
		clients[i] = &http.Client{Jar: jar, Timeout: 10 * time.Second}
		if err := hit(clients[i]); err != nil {
			t.Fatal(err)
		}
	}
	src := open(t, fmt.Sprintf("redis://%s/%d", addr, db))
	dst := open(t, stores(t)["files"](t))

	stop := make(chan struct{})
	var writes atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if hit(clients[rand.IntN(len(clients))]) == nil {
					writes.Add(1)
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond) // PHP is writing before the run starts
	var once sync.Once
	rep, err := migrate.Run(context.Background(), migrate.Options{
		From: src, To: dst, FinalPass: true, Workers: 2, Rate: 150,
		OnPassDone: func(pass int) {
			once.Do(func() { close(stop); wg.Wait() })
		},
	})
	once.Do(func() { close(stop); wg.Wait() })
	if err != nil {
		t.Fatalf("%v %+v", err, rep.Stats)
	}
	t.Logf("PHP requests during the run: %d; first pass copied %d, final pass copied again %d", writes.Load(), rep.Stats.Copied, rep.Stats.Recopied)
	if rep.Stats.Recopied == 0 {
		t.Errorf("PHP wrote %d times during the run but the final pass copied nothing again", writes.Load())
	}
	ctx := context.Background()
	n := 0
	err = src.(handlers.Lister).List(ctx, func(id string) error {
		a, err := src.Read(ctx, id)
		if err != nil {
			return err
		}
		b, err := dst.Read(ctx, id)
		if err != nil {
			return fmt.Errorf("session %s missing at the target: %w", id, err)
		}
		if !bytes.Equal(a.Data, b.Data) {
			return fmt.Errorf("session %s differs: %q at the source, %q at the target", id, a.Data, b.Data)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(clients) {
		t.Fatalf("%d sessions compared, want %d", n, len(clients))
	}
}

// TestKilledMigrationResumes: a 100,000-session migration killed with
// SIGKILL at random moments, three times, then run to the end with the same
// checkpoint: the target holds exactly the source's sessions, each equal,
// none lost and none extra.
func TestKilledMigrationResumes(t *testing.T) {
	n := 100000
	srv := testenv.NewRedis(t) // (skips in -short mode, as every server test)
	srcURL, dstURL := "redis://"+srv.Addr+"/1", "redis://"+srv.Addr+"/2"
	src, dst := open(t, srcURL), open(t, dstURL)
	ctx := context.Background()
	var batch []*handlers.Record
	for i := range n {
		batch = append(batch, &handlers.Record{ID: fmt.Sprintf("k%031d", i), Data: fmt.Appendf(nil, "n|i:%d;", i), TTL: time.Hour})
		if len(batch) == 1000 {
			if err := src.(handlers.BatchWriter).WriteBatch(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	bin := filepath.Join(t.TempDir(), "phpsess")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/phpsess/phpsess").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ckpt := filepath.Join(t.TempDir(), "ckpt")
	args := []string{"migrate", "--from", srcURL, "--to", dstURL, "--checkpoint", ckpt, "--final-pass=false", "-q"}
	for kill := range 3 {
		cmd := exec.Command(bin, args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(200+rand.IntN(600)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		done, _ := os.ReadFile(ckpt)
		t.Logf("kill %d: %d sessions in the checkpoint", kill+1, bytes.Count(done, []byte("\n")))
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("the resumed run failed: %v\n%s", err, out)
	}
	t.Logf("resumed run: %s", strings.TrimSpace(string(out)))
	host, port, _ := strings.Cut(srv.Addr, ":")
	size, err := exec.Command("redis-cli", "-h", host, "-p", port, "-n", "2", "DBSIZE").Output()
	if err != nil || strings.TrimSpace(string(size)) != fmt.Sprint(n) {
		t.Fatalf("target holds %q keys (%v), want exactly %d", size, err, n)
	}
	for i := 0; i < n; i += 1000 {
		ids := make([]string, 0, 1000)
		for j := i; j < i+1000; j++ {
			ids = append(ids, fmt.Sprintf("k%031d", j))
		}
		got, err := dst.(handlers.BatchReader).ReadBatch(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		for j, rec := range got {
			want := fmt.Sprintf("n|i:%d;", i+j)
			if rec == nil || string(rec.Data) != want {
				t.Fatalf("session %s at the target: %v, want %q", ids[j], rec, want)
			}
		}
	}
}
