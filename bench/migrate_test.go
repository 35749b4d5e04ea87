package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/internal/testenv"
	"github.com/phpsess/phpsess/migrate"
	"github.com/phpsess/phpsess/phpserialize"
)

// payloadOf returns a php-encoded session of about size bytes.
func payloadOf(size, i int) []byte {
	sess := &phpserialize.Array{}
	sess.Set(phpserialize.StringKey("user_id"), phpserialize.Int(int64(i)))
	sess.Set(phpserialize.StringKey("csrf"), phpserialize.String(fmt.Sprintf("%064x", i)))
	pad := size - 120
	if pad < 0 {
		pad = 0
	}
	sess.Set(phpserialize.StringKey("history"), phpserialize.String(strings.Repeat("/p", pad/2)))
	b, _ := phpserialize.EncodeSession(phpserialize.HandlerPHP, sess)
	return b
}

func openStore(b *testing.B, url string) handlers.Store {
	s, err := handlers.Open(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// fill writes n sessions of size bytes with 8 writers (pipelined where the
// store can batch).
func fill(b *testing.B, s handlers.Store, n, size int) {
	ctx := context.Background()
	var wg sync.WaitGroup
	var next atomic.Int64
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var batch []*handlers.Record
			flush := func() error {
				if bw, ok := s.(handlers.BatchWriter); ok && len(batch) > 0 {
					err := bw.WriteBatch(ctx, batch)
					batch = batch[:0]
					return err
				}
				for _, r := range batch {
					if err := s.Write(ctx, r); err != nil {
						return err
					}
				}
				batch = batch[:0]
				return nil
			}
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					break
				}
				batch = append(batch, &handlers.Record{ID: fmt.Sprintf("%032x", i), Data: payloadOf(size, i), TTL: time.Hour})
				if len(batch) == 200 {
					if err := flush(); err != nil {
						errs <- err
						return
					}
				}
			}
			if err := flush(); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

var rpsLine = regexp.MustCompile(`([\d.]+) requests per second`)

// rawSetRate runs redis-benchmark SET with pipelining at the same value size
// against addr: the raw limit to compare a migration with.
func rawSetRate(b *testing.B, addr string, n, size int) float64 {
	host, port, _ := strings.Cut(addr, ":")
	out, err := exec.Command("redis-benchmark", "-h", host, "-p", port, "-t", "set", "-P", "16", "-c", "8",
		"-d", strconv.Itoa(size), "-n", strconv.Itoa(n), "-r", strconv.Itoa(n), "-q").CombinedOutput()
	if err != nil {
		b.Fatalf("redis-benchmark: %v: %s (apt-get install redis-tools)", err, out)
	}
	m := rpsLine.FindSubmatch(out)
	if m == nil {
		b.Fatalf("redis-benchmark said %q", out)
	}
	f, _ := strconv.ParseFloat(string(m[1]), 64)
	return f
}

// BenchmarkMigrate copies N sessions of 1 KB and 8 KB, redis->redis,
// files->redis and mysql->redis, with --verify, and reports sessions/s
// beside redis-benchmark's pipelined SET rate at the same value size
// against the same target, measured in the same run. Run it with
// -benchtime 1x (bench/run does).
func BenchmarkMigrate(b *testing.B) {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("PHPSESS_BENCH_SESSIONS")); err == nil && v > 0 {
		n = v
	}
	for _, size := range []int{1024, 8192} {
		count := n
		if size > 1024 {
			count = n / 4
		}
		for _, from := range []string{"redis", "files", "mysql"} {
			b.Run(fmt.Sprintf("%s-redis/%dKB", from, size/1024), func(b *testing.B) {
				var srcURL string
				srcPid := -1 // the source server's process, for its CPU time (Redis only)
				switch from {
				case "redis":
					srv := testenv.NewRedis(b)
					srcURL, srcPid = "redis://"+srv.Addr, srv.Pid()
				case "files":
					srcURL = "file://" + b.TempDir() + "?owner=root"
				case "mysql":
					my := testenv.MariaDB(b)
					srcURL = strings.Replace(my.URL(), "/"+my.DB, "/"+my.NewDatabase(b), 1) + "?layout=ci4&create_table=on&lock=off"
					count = min(count, 5000)
				}
				src := openStore(b, srcURL)
				fill(b, src, count, size)
				dst := testenv.NewRedis(b)
				to := openStore(b, "redis://"+dst.Addr)
				raw := rawSetRate(b, dst.Addr, count, size)
				var rate float64
				var cpu [3]time.Duration // phpsess, source server (Redis only), target Redis
				for b.Loop() {
					c0 := [3]time.Duration{testenv.SelfCPU(), testenv.ProcessCPU(srcPid), testenv.ProcessCPU(dst.Pid())}
					rep, err := migrate.Run(context.Background(), migrate.Options{From: src, To: to, Verify: true, Workers: 16})
					if err != nil {
						b.Fatal(err)
					}
					cpu = [3]time.Duration{testenv.SelfCPU() - c0[0], testenv.ProcessCPU(srcPid) - c0[1], testenv.ProcessCPU(dst.Pid()) - c0[2]}
					if rep.Stats.Copied != int64(count) {
						b.Fatalf("copied %d of %d", rep.Stats.Copied, count)
					}
					rate = rep.Stats.PerSecond
				}
				b.ReportMetric(rate, "sessions/s")
				b.ReportMetric(raw, "raw-SET/s")
				b.ReportMetric(rate/raw, "ratio")
				// Where the CPU went, per session: on a machine of N cores the
				// servers' share alone caps the rate at N / (their µs).
				per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(count) }
				b.ReportMetric(per(cpu[0]), "phpsess-µs/op")
				b.ReportMetric(per(cpu[2]), "dst-redis-µs/op")
				if from == "redis" {
					b.ReportMetric(per(cpu[1]), "src-redis-µs/op")
					redisOnly := per(cpu[1]) + per(cpu[2])
					b.ReportMetric(float64(runtime.NumCPU())*1e6/redisOnly/raw, "ceiling-ratio")
				}
			})
		}
	}
}

// BenchmarkMigrateMemory copies PHPSESS_BENCH_SESSIONS (default 100,000)
// 1 KB sessions redis->redis with --verify and a checkpoint, and reports
// the peak heap in use: memory must stay flat as the store grows
// (PHPSESS_BENCH_SESSIONS=1000000 for the figure in the README).
func BenchmarkMigrateMemory(b *testing.B) {
	n := 100000
	if v, err := strconv.Atoi(os.Getenv("PHPSESS_BENCH_SESSIONS")); err == nil && v > 0 {
		n = v
	}
	src := openStore(b, "redis://"+testenv.NewRedis(b).Addr)
	fill(b, src, n, 1024)
	to := openStore(b, "redis://"+testenv.NewRedis(b).Addr)
	ckpt := filepath.Join(b.TempDir(), "ckpt")
	var peak atomic.Uint64
	for b.Loop() {
		runtime.GC()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}()
		rep, err := migrate.Run(context.Background(), migrate.Options{From: src, To: to, Verify: true, Workers: 16, Checkpoint: ckpt, FinalPass: true})
		close(stop)
		wg.Wait()
		if err != nil || rep.Stats.Copied != int64(n) {
			b.Fatalf("%v %+v", err, rep.Stats)
		}
	}
	b.ReportMetric(float64(n), "sessions")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
}
