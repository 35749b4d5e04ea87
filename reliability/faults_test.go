package reliability_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/phpsess/phpsess/cmd"
	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/internal/testenv"
	"github.com/phpsess/phpsess/server"
	"github.com/phpsess/phpsess/session/sessiontest"
)

// recoveryBound is how soon after a server is back every kind of traffic
// must succeed again.
const recoveryBound = 15 * time.Second

// TestFaultServerKilled kills each server (SIGKILL, as a crash) in the
// middle of put/serve/get/migrate traffic on one session and starts it
// again on the same port and data. Every error must be clear (it names
// the backend, never the password; HTTP 503 store_error or 423
// lock_timeout; CLI exit 1 with one line), every kind of traffic must
// succeed again within recoveryBound, no acknowledged update may be lost
// where the server keeps its data (MariaDB, PostgreSQL: crash recovery;
// FerretDB: its SQLite files; Redis without persistence and memcached come
// back empty, which must read as "not found", never as a broken session),
// and PHP must read and write the session afterwards.
//
// Redis over TLS (rediss:// with tls_ca=) must reconnect with a new
// handshake. On a Redis Cluster of three masters without replicas the
// master of the session's slot is killed: while it is down, that slot
// fails with a clear error (not "not found") and the other masters' slots
// keep working (the outage is shorter than the node timeout, after which
// the whole cluster would refuse queries; see testenv.NewRedisCluster).
// The cluster's native layout and the incubator's Mongo layout take no
// lock, so their traffic has one writer at a time (backend.lockless).
func TestFaultServerKilled(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"redis", "redis-tls", "redis-cluster", "memcached", "mariadb", "postgres", "mongodb"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			faultUnderTraffic(t, name, "kill", func(b *backend, id string) error {
				if err := b.srv.Kill(); err != nil {
					return err
				}
				down := time.Now()
				if b.holds != nil {
					slotDown(t, b, id)
				}
				time.Sleep(700*time.Millisecond - time.Since(down))
				return b.srv.Start()
			})
		})
	}
}

// slotDown checks, while the master b.srv of session id's slot is down,
// that id fails with a clear error that is not "not found", and that a
// session of another master's slot is written and read.
func slotDown(t *testing.T, b *backend, id string) {
	st := open(t, b.url)
	ctx := ctxFor(t, 10*time.Second)
	if _, err := st.Read(ctx, id); err == nil {
		t.Errorf("a session of the killed master's slot was read")
	} else if class, clear := classify(err, b); !clear || class == "not_found" {
		t.Errorf("reading a session of the killed master's slot: %v (%s), want a clear error", err, class)
	} else {
		t.Logf("while %s is down, its slot: %v", b.srv.Addr, err)
	}
	other := newID()
	for b.holds(other) {
		other = newID()
	}
	data := encode(t, `{"n":1}`)
	if err := st.Write(ctx, &handlers.Record{ID: other, Data: data}); err != nil {
		t.Errorf("a session of another master, while %s is down: %v", b.srv.Addr, err)
	} else if got := mustRead(t, st, other); !bytes.Equal(got, data) {
		t.Errorf("a session of another master reads back %q", got)
	}
}

// TestFaultServerPaused freezes Redis (SIGSTOP: a hung server, or a
// network partition) for 1.5 s under traffic: operations fail with a
// timeout bounded by the store's timeout= (none hangs; over TLS, neither
// does a handshake the server never answers), nothing acknowledged is
// lost, and all traffic recovers once it answers again.
func TestFaultServerPaused(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"redis", "redis-tls"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			faultUnderTraffic(t, name, "pause", func(b *backend, _ string) error {
				if err := b.srv.Pause(); err != nil {
					return err
				}
				time.Sleep(1500 * time.Millisecond)
				return b.srv.Resume()
			})
		})
	}
}

func faultUnderTraffic(t *testing.T, name, how string, inject func(b *backend, id string) error) {
	var tr *traffic
	var lostN int64 = -1
	var rec time.Duration
	fault(t, name+"-"+how, func() string {
		if tr == nil {
			return ""
		}
		return fmt.Sprintf("ops=%d errors=%d recovery=%v lost=%d", tr.ta.opCount(), tr.ta.errorCount(), rec.Round(10*time.Millisecond), lostN)
	})
	b := newBackend(t, name)
	id := b.newID()
	tr = newTraffic(t, b, id)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.run(ctx); close(done) }()
	time.Sleep(time.Second)
	okBefore := tr.ta.opCount() - tr.ta.errorCount()
	if err := inject(b, id); err != nil {
		stop()
		<-done
		t.Fatalf("%s %s: %v", how, name, err)
	}
	tr.ta.markRestored()
	// run until every kind succeeded again, then a little longer
	deadline := time.Now().Add(recoveryBound)
	for {
		if _, ok := tr.ta.recovery(); ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	ready := get(t, tr.api+"/readyz")
	stop()
	<-done
	rec, ok := tr.ta.recovery()
	t.Logf("%s %s: %d ops before the fault; traffic:\n  %s", how, name, okBefore, tr.ta.summary())
	if !ok {
		t.Errorf("some traffic did not recover within %v of the server's return", recoveryBound)
	}
	for _, bad := range tr.ta.bad {
		t.Errorf("unclear: %s", bad)
	}
	if tr.ta.errorCount() == 0 {
		t.Errorf("the %s caused no error at all: the fault was not injected where the traffic is", how)
	}
	if ready != 200 {
		t.Errorf("/readyz = %d after recovery, want 200", ready)
	}
	vars := tr.stored(t)
	if b.durable || how == "pause" {
		lostN = tr.lost(t, vars, false)
	} else {
		// the server came back empty; whatever it holds now was written
		// after the restart, and must be no more than was attempted
		for i := range 2 {
			if g := vars[fmt.Sprintf("g%d", i)]; g > tr.putTry[i].Load() {
				t.Errorf("g%d = %d, more than %d attempts", i, g, tr.putTry[i].Load())
			}
		}
	}

	// a second round with no fault, on a fresh session of the restarted
	// server: every operation succeeds and every count is exact
	tr2 := newTraffic(t, b, b.newID())
	ctx2, stop2 := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	tr2.run(ctx2)
	stop2()
	if n := tr2.ta.errorCount(); n > 0 {
		t.Errorf("after recovery, %d errors with no fault:\n  %s", n, tr2.ta.summary())
	}
	l2 := tr2.lost(t, tr2.stored(t), true)
	if lostN >= 0 {
		lostN += l2
	} else {
		lostN = l2
	}

	// PHP reads and writes the session after the fault
	out := b.php.must(t, "inc", tr2.id, "key", "php")
	phpVars, err := ints(out.Data)
	if err != nil {
		t.Fatalf("PHP's session does not decode: %v", err)
	}
	after := tr2.stored(t)
	if after["php"] != 1 || after["g0"] != phpVars["g0"] || after["h1"] != phpVars["h1"] {
		t.Errorf("PHP's increment: Go reads %v, PHP wrote %v", after, phpVars)
	}
}

// get returns the status of a GET.
func get(t *testing.T, url string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxFor(t, 10*time.Second), "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// ---------------------------------------------------------- connection cut --

// cutProxy forwards TCP connections to a server and, once armed, cuts
// every connection after a number of bytes from client to server, as a
// network failure in the middle of a write.
type cutProxy struct {
	ln     net.Listener
	target string
	armed  atomic.Int64 // bytes left before the cut; <= 0: not armed
	cuts   atomic.Int64
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.closeAll() })
	go p.accept()
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

func (p *cutProxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = true
	}
}

func (p *cutProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		// RST rather than FIN: the server sees a broken connection
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
		delete(p.conns, c)
	}
}

func (p *cutProxy) serve(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.track(c, up)
	go func() { io.Copy(c, up); c.Close() }()
	buf := make([]byte, 16<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if left := p.armed.Load(); left > 0 {
				if int64(n) >= left {
					up.Write(buf[:left])
					p.armed.Store(0)
					p.cuts.Add(1)
					p.closeAll()
					return
				}
				p.armed.Add(-int64(n))
			}
			if _, err := up.Write(buf[:n]); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	up.Close()
	c.Close()
}

// TestFaultConnectionCut cuts the connection to the store while a large
// payload is on its way: the write fails with a clear error and the old
// session stays, or it is retried on a new connection and the new one is
// stored whole; never a torn one. PHP reads and writes it afterwards.
func TestFaultConnectionCut(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		size, cut int // payload and bytes before the cut
	}{
		{"redis", 4 << 20, 1 << 20},
		{"memcached", 900 << 10, 300 << 10}, // memcached items hold 1 MiB
		{"postgres", 4 << 20, 1 << 20},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var outcome string
			fault(t, c.name+"-connection-cut", func() string { return outcome })
			b := newBackend(t, c.name)
			direct := open(t, b.url)
			p := newCutProxy(t, b.srv.Addr)
			proxied := open(t, strings.Replace(b.url, b.srv.Addr, p.addr(), 1))
			id := newID()
			ctx := ctxFor(t, time.Minute)
			oldData := encode(t, `{"n":1,"who":"old"}`)
			if err := direct.Write(ctx, &handlers.Record{ID: id, Data: oldData}); err != nil {
				t.Fatal(err)
			}
			newData := encode(t, fmt.Sprintf(`{"n":2,"who":"new","big":"%s"}`, strings.Repeat("z", c.size)))
			p.armed.Store(int64(c.cut))
			err := proxied.Write(ctx, &handlers.Record{ID: id, Data: newData})
			p.armed.Store(0)
			if p.cuts.Load() == 0 {
				t.Fatalf("the connection was never cut (write: %v)", err)
			}
			if err == nil {
				// a store that retries the write on a new connection (the
				// memcached client does, once) must have stored it whole
				outcome = "write=retried "
			} else {
				outcome = "write=error "
				if class, clear := classify(err, b); !clear || class == "not_found" {
					t.Errorf("the cut write's error is not clear (%s): %v", class, err)
				}
				t.Logf("cut write: %v", err)
			}
			rec, rerr := direct.Read(ctx, id)
			if rerr != nil {
				t.Fatalf("reading back after the cut: %v", rerr)
			}
			switch {
			case bytes.Equal(rec.Data, oldData) && err != nil:
				outcome += "kept=old"
			case bytes.Equal(rec.Data, newData):
				outcome += "kept=new"
			default:
				t.Fatalf("after the cut the session is neither the old nor the new payload (%d bytes): torn", len(rec.Data))
			}
			// the store keeps working through the proxy, and PHP too
			if err := handlers.Update(ctx, proxied, id, func(r *handlers.Record) error {
				sess, err := decodeOrEmpty(r.Data)
				if err != nil {
					return err
				}
				setInt(sess, "go", 1)
				r.Data, err = encodeSess(sess)
				return err
			}); err != nil {
				t.Fatalf("a write after the cut: %v", err)
			}
			out := b.php.must(t, "inc", id, "key", "n")
			vars, err := ints(out.Data)
			if err != nil || vars["go"] != 1 || vars["n"] < 2 {
				t.Fatalf("PHP after the cut: %v %v", vars, err)
			}
		})
	}
}

// ---------------------------------------------------------------- stale lock --

// TestFaultStaleLock kills (SIGKILL) a PHP request that holds a session's
// lock, as a crashed PHP worker does. Where the lock is an item with a
// lifetime (phpredis, php-memcached, pecl memcache), a Go write waits up
// to lock_timeout and fails with ErrLockTimeout, nothing written, until
// the lock item expires; then it succeeds. Where it is flock(2) (files),
// the kernel releases it with the process and Go proceeds at once. PHP
// then reads what Go wrote.
func TestFaultStaleLock(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		ttl  time.Duration // the lock item's lifetime in PHP; 0: released at exit
		open func(t *testing.T) (string, *phpCLI)
	}{
		{"files-flock", 0, func(t *testing.T) (string, *phpCLI) {
			u, dir := sessiontest.FileURL(t, "lock_timeout=300ms")
			return u, newPHP(t, map[string]string{"session.save_handler": "files", "session.save_path": dir}, nil)
		}},
		{"phpredis", 2 * time.Second, func(t *testing.T) (string, *phpCLI) {
			s := newBackend(t, "redis")
			s.php.ini["redis.session.lock_expire"] = "2"
			return strings.Replace(s.url, "lock_timeout=2s", "lock_timeout=300ms", 1), s.php
		}},
		{"php-memcached", 2 * time.Second, func(t *testing.T) (string, *phpCLI) {
			s := newBackend(t, "memcached")
			s.php.ini["memcached.sess_lock_expire"] = "2"
			return strings.Replace(s.url, "lock_timeout=2s", "lock_timeout=300ms", 1), s.php
		}},
		{"pecl-memcache", 2 * time.Second, func(t *testing.T) (string, *phpCLI) {
			s := newBackend(t, "memcached") // the server; pecl memcache's handler
			// lock_expire= is memcache.lock_timeout: the lifetime a release
			// gives the lock counter, which a PHP request that takes the
			// lock by incr does not renew
			return "memcache://" + s.srv.Addr + "?lock_timeout=300ms&lock_expire=2s", newPHP(t, map[string]string{
				"session.save_handler":  "memcache",
				"session.save_path":     "tcp://" + s.srv.Addr,
				"memcache.lock_timeout": "2",
			}, nil)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var waited time.Duration
			var timeouts int
			fault(t, "stale-lock-"+c.name, func() string {
				return fmt.Sprintf("waited=%v lock_timeouts=%d lock_ttl=%v", waited.Round(10*time.Millisecond), timeouts, c.ttl)
			})
			u, php := c.open(t)
			st := open(t, u)
			ctx := ctxFor(t, time.Minute)
			id := newID()
			if err := st.Write(ctx, &handlers.Record{ID: id, Data: encode(t, `{"n":1}`)}); err != nil {
				t.Fatal(err)
			}
			holder := php.hold(t, id)
			holder.Process.Signal(syscall.SIGKILL)
			holder.Wait()
			killed := time.Now()
			want := encode(t, `{"n":2,"go":"after the crash"}`)
			var err error
			for {
				err = st.Write(ctx, &handlers.Record{ID: id, Data: want})
				if err == nil {
					break
				}
				if !errors.Is(err, handlers.ErrLockTimeout) {
					t.Fatalf("a write blocked by the stale lock: %v, want ErrLockTimeout", err)
				}
				timeouts++
				if time.Since(killed) > c.ttl+3*time.Second {
					t.Fatalf("still %v %v after the PHP process died (its lock lives %v)", err, time.Since(killed), c.ttl)
				}
			}
			waited = time.Since(killed)
			switch {
			case c.ttl == 0 && waited > time.Second:
				t.Errorf("flock: the write waited %v after the holder died, want at once", waited)
			case c.ttl > 0 && timeouts == 0:
				t.Errorf("the write did not wait for the stale lock (it lives %v): it wrote under a lock PHP still honours", c.ttl)
			case c.ttl > 0 && waited < c.ttl-time.Second:
				t.Errorf("the write went through %v after the kill, before the lock's %v lifetime", waited, c.ttl)
			}
			out := php.must(t, "read", id)
			vars, err := ints(out.Data)
			if err != nil || vars["n"] != 2 {
				t.Fatalf("PHP reads %q after Go's write (%v)", out.Data, err)
			}
		})
	}
}

// ------------------------------------------------------------- file systems --

// mountTmpfs mounts a tmpfs of size bytes on a new dir and unmounts it at
// the end of the test.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0755", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -t tmpfs (the full-disk test needs root, as the tests run in CI): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill writes a file into dir until the file system is full.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1024)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// TestFaultDiskFull puts the files store on a 256 KiB tmpfs and fills it:
// a write that needs more room fails with "no space left on device"
// through every entry (Go, `phpsess put`, PUT of phpsess serve), the
// previous payload is intact and PHP reads and writes it, and a new
// session leaves nothing PHP could take for a session.
func TestFaultDiskFull(t *testing.T) {
	t.Parallel()
	var notes []string
	fault(t, "files-disk-full", func() string { return strings.Join(notes, " ") })
	testenv.PHP(t) // needs PHP: skipped in -short mode, before anything is mounted
	dir := mountTmpfs(t, "256k")
	u := mountedURL(t, dir, "")
	st := open(t, u)
	php := newPHP(t, map[string]string{"session.save_handler": "files", "session.save_path": dir}, nil)
	ctx := ctxFor(t, time.Minute)
	id := newID()
	pad := strings.Repeat("p", 3000)
	oldData := encode(t, `{"n":1,"pad":"`+pad+`"}`)
	if err := st.Write(ctx, &handlers.Record{ID: id, Data: oldData}); err != nil {
		t.Fatal(err)
	}
	fill(t, dir)

	big := encode(t, `{"n":2,"pad":"`+strings.Repeat("q", 64<<10)+`"}`)
	err := st.Write(ctx, &handlers.Record{ID: id, Data: big})
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("a write that does not fit: %v, want \"no space left on device\"", err)
	}
	t.Logf("Go: %v", err)
	if got := mustRead(t, st, id); !bytes.Equal(got, oldData) {
		t.Fatalf("after the failed write the session is %d bytes, not the previous %d", len(got), len(oldData))
	}

	// phpsess put: exit 1, one line
	var stdout, stderr bytes.Buffer
	code := cmd.Execute([]string{"put", u, id}, strings.NewReader(`{"n":3,"pad":"`+strings.Repeat("r", 64<<10)+`"}`), &stdout, &stderr)
	if code != cmd.ExitFailure || !strings.Contains(stderr.String(), "no space left on device") || strings.Count(strings.TrimSpace(stderr.String()), "\n") > 0 {
		t.Errorf("phpsess put on a full disk: exit %d, %q", code, stderr.String())
	}
	// phpsess serve: 503 store_error naming the cause
	srv, err := server.New(server.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, httptest.NewRequest("PUT", "/v1/sessions/"+id, strings.NewReader(`{"n":4,"pad":"`+strings.Repeat("s", 64<<10)+`"}`)))
	if w.Code != 503 || !strings.Contains(w.Body.String(), "no space left on device") {
		t.Errorf("PUT on a full disk: %d %s", w.Code, w.Body.String())
	}
	if got := mustRead(t, st, id); !bytes.Equal(got, oldData) {
		t.Fatalf("after the failed put and PUT the session changed (%d bytes)", len(got))
	}

	// PHP reads it and writes a payload of the same size, which fits
	out := php.must(t, "inc", id, "key", "n")
	if vars, err := ints(out.Data); err != nil || vars["n"] != 2 {
		t.Fatalf("PHP on the full disk: %v %v", vars, err)
	}
	if vars, _ := ints(mustRead(t, st, id)); vars["n"] != 2 {
		t.Fatalf("Go does not read PHP's write: %v", vars)
	}

	// a new session on the full disk
	id2 := newID()
	err = st.Write(ctx, &handlers.Record{ID: id2, Data: big})
	if err == nil {
		t.Fatalf("a new session of %d bytes was written on a full disk", len(big))
	}
	if fi, serr := os.Stat(filepath.Join(dir, "sess_"+id2)); serr == nil {
		// PHP itself leaves an empty file when it cannot write: an empty
		// session, never a torn one
		notes = append(notes, fmt.Sprintf("new-session-left=%dB", fi.Size()))
		if fi.Size() != 0 {
			t.Errorf("the failed new session left %d bytes behind", fi.Size())
		}
	} else {
		notes = append(notes, "new-session-left=none")
	}

	// room again: the write goes through, and PHP reads it
	os.Remove(filepath.Join(dir, "filler"))
	if err := st.Write(ctx, &handlers.Record{ID: id, Data: big}); err != nil {
		t.Fatalf("the write after room was made: %v", err)
	}
	if vars, err := ints(php.must(t, "read", id).Data); err != nil || vars["n"] != 2 {
		t.Fatalf("PHP after room was made: %v %v", vars, err)
	}
}

func mustRead(t *testing.T, st handlers.Store, id string) []byte {
	t.Helper()
	rec, err := st.Read(ctxFor(t, 10*time.Second), id)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Data
}

// TestFaultReadOnly remounts the files store's dir read-only (a bind
// mount, as a file system the kernel turned read-only after errors): Go's
// write fails with "read-only file system" and changes nothing; reads go
// on; after the remount read-write, writes go through and PHP reads them.
func TestFaultReadOnly(t *testing.T) {
	t.Parallel()
	var notes []string
	fault(t, "files-read-only", func() string { return strings.Join(notes, " ") })
	testenv.PHP(t) // needs PHP: skipped in -short mode, before anything is mounted
	dir := mountTmpfs(t, "1m")
	u := mountedURL(t, dir, "lock_timeout=1s")
	st := open(t, u)
	php := newPHP(t, map[string]string{"session.save_handler": "files", "session.save_path": dir}, nil)
	ctx := ctxFor(t, time.Minute)
	id := newID()
	oldData := encode(t, `{"n":1}`)
	if err := st.Write(ctx, &handlers.Record{ID: id, Data: oldData}); err != nil {
		t.Fatal(err)
	}
	remount := func(mode string) {
		t.Helper()
		if out, err := exec.Command("mount", "-o", "remount,"+mode, dir).CombinedOutput(); err != nil {
			t.Fatalf("mount -o remount,%s: %v: %s", mode, err, out)
		}
	}
	remount("ro")
	t.Cleanup(func() { exec.Command("mount", "-o", "remount,rw", dir).Run() })

	err := st.Write(ctx, &handlers.Record{ID: id, Data: encode(t, `{"n":2}`)})
	if err == nil || !strings.Contains(err.Error(), "read-only file system") {
		t.Errorf("a write on a read-only file system: %v, want \"read-only file system\"", err)
	}
	t.Logf("Go write: %v", err)
	if err := st.Write(ctx, &handlers.Record{ID: newID(), Data: oldData}); err == nil || !strings.Contains(err.Error(), "read-only file system") {
		t.Errorf("a new session on a read-only file system: %v", err)
	}
	rec, err := st.Read(ctx, id)
	switch {
	case err != nil:
		notes = append(notes, "read=error")
		if !strings.Contains(err.Error(), "read-only file system") {
			t.Errorf("a read on a read-only file system: %v", err)
		}
		t.Logf("Go read: %v", err)
	case !bytes.Equal(rec.Data, oldData):
		t.Errorf("read %q on the read-only file system, want %q", rec.Data, oldData)
	default:
		notes = append(notes, "read=ok")
	}
	// PHP's files handler opens session files O_RDWR: it cannot start the
	// session either (recorded, not required)
	if _, perr := php.run(ctx, "read", id); perr != nil {
		notes = append(notes, "php=fails-too")
		t.Logf("PHP on the read-only dir: %v", perr)
	} else {
		notes = append(notes, "php=reads")
	}

	remount("rw")
	if got := mustRead(t, st, id); !bytes.Equal(got, oldData) {
		t.Fatalf("after the read-only spell the session is %q", got)
	}
	if err := st.Write(ctx, &handlers.Record{ID: id, Data: encode(t, `{"n":2}`)}); err != nil {
		t.Fatalf("the write after the remount: %v", err)
	}
	if vars, err := ints(php.must(t, "inc", id, "key", "n").Data); err != nil || vars["n"] != 3 {
		t.Fatalf("PHP after the remount: %v %v", vars, err)
	}
}

// ---------------------------------------------------------------- clock skew --

// skewedMemcached starts a memcached whose wall clock is moved by skew
// seconds (the clock shim), on a free port, stopped at the end of the test.
func skewedMemcached(t *testing.T, shim string, skew int) string {
	t.Helper()
	bin, err := exec.LookPath("memcached")
	if err != nil {
		t.Fatalf("memcached not found: run scripts/install-deps.sh (or: apt-get install memcached)")
	}
	for try := 0; ; try++ {
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		host, port, _ := net.SplitHostPort(addr)
		c := exec.Command(bin, "-l", host, "-p", port, "-U", "0", "-m", "16", "-u", "root")
		c.Env = []string{"LD_PRELOAD=" + shim, fmt.Sprintf("PHPSESS_CLOCK_SKEW=%d", skew)}
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		for i := 0; i < 100; i++ {
			if conn, err := net.Dial("tcp", addr); err == nil {
				conn.Close()
				return addr
			}
			time.Sleep(20 * time.Millisecond)
		}
		if try == 3 {
			t.Fatalf("memcached with a skewed clock did not start on %s", addr)
		}
	}
}

// TestFaultClockSkew moves clocks apart for the layouts whose expiry is an
// absolute time computed by the writer's clock (an LD_PRELOAD shim,
// testdata/skew.c, moves a process's wall clock; phpsess has no clock
// option: its clock is the machine's).
//
//   - pecl memcache (memcache://) and php-memcached (memcached://) against
//     a memcached whose clock is off: pecl memcache and phpsess send
//     time() + lifetime, which memcached judges by its own clock;
//     php-memcached sends the lifetime itself. (PHP loads extensions with
//     RTLD_DEEPBIND, so no LD_PRELOAD shim, libfaketime's included, reaches
//     the clock of memcache.so: the store's clock is moved instead, which
//     is the same disagreement seen from the other side.)
//   - DALMP's SQLite table against a PHP whose clock is off: expiry =
//     time() + lifetime at the write, compared with time() at the read,
//     each side by its own clock.
//
// What must hold at every skew: nothing half-written; a session a side
// cannot see is "not found", never a decoding error; PHP reads its own
// writes where its own clock and the store's agree. Within 5 minutes
// (well inside the 1440 s lifetime) both sides read each other's writes.
// Beyond the lifetime the outcome is the layout's, and the result line
// records it (SECURITY.md has the table).
func TestFaultClockSkew(t *testing.T) {
	t.Parallel()
	shim := clockShim(t)
	skews := []struct {
		name string
		secs int
	}{{"5m-behind", -300}, {"5m-ahead", 300}, {"2h-behind", -7200}, {"2h-ahead", 7200}}
	sqlitePath := filepath.Join(t.TempDir(), "dalmp.db")
	type layout struct {
		name string
		url  string
		php  *phpCLI
		// the skewed side: "store" (memcached's clock) or "php"
		side string
	}
	for _, sk := range skews {
		mcAddr := skewedMemcached(t, shim, sk.secs)
		dalmp := newPHP(t, map[string]string{"session.gc_maxlifetime": "1440"}, map[string]any{"handler": "dalmp-sqlite", "path": sqlitePath})
		dalmp.env = []string{"LD_PRELOAD=" + shim, fmt.Sprintf("PHPSESS_CLOCK_SKEW=%d", sk.secs)}
		for _, l := range []layout{
			{"memcache", "memcache://" + mcAddr, newPHP(t, map[string]string{"session.save_handler": "memcache",
				"session.save_path": "tcp://" + mcAddr, "session.gc_maxlifetime": "1440"}, nil), "store"},
			{"memcached", "memcached://" + mcAddr, newPHP(t, map[string]string{"session.save_handler": "memcached",
				"session.save_path": mcAddr, "session.gc_maxlifetime": "1440"}, nil), "store"},
			{"dalmp-sqlite", "sqlite://" + sqlitePath + "?layout=dalmp&create_table=on", dalmp, "php"},
		} {
			t.Run(l.name+"-"+l.side+"-"+sk.name, func(t *testing.T) {
				clockSkew(t, l.name+"-"+l.side+"-"+sk.name, open(t, l.url), l.php, sk.secs)
			})
		}
	}
}

func clockSkew(t *testing.T, name string, st handlers.Store, php *phpCLI, skew int) {
	var phpSeesGo, goSeesPHP, phpSeesPHP string
	fault(t, "clock-skew-"+name, func() string {
		return fmt.Sprintf("php_reads_go=%s go_reads_php=%s php_reads_php=%s", phpSeesGo, goSeesPHP, phpSeesPHP)
	})
	ctx := ctxFor(t, time.Minute)
	small := skew > -1440 && skew < 1440

	// Go writes, PHP reads (and writes back)
	id := newID()
	if err := st.Write(ctx, &handlers.Record{ID: id, Data: encode(t, `{"from":"go"}`)}); err != nil {
		t.Fatal(err)
	}
	out := php.must(t, "inc", id, "key", "n")
	sess, err := decodeOrEmpty(out.Data)
	if err != nil {
		t.Fatalf("PHP's session does not decode: %v", err)
	}
	_, seen := sess.Lookup("from")
	phpSeesGo = yesNo(seen)
	if small && !seen {
		t.Errorf("PHP does not see Go's session (clocks %+ds apart)", skew)
	}

	// PHP writes, Go reads
	id2 := newID()
	php.must(t, "inc", id2, "key", "n")
	rec, err := st.Read(ctx, id2)
	switch {
	case err == nil:
		goSeesPHP = "yes"
		if vars, derr := ints(rec.Data); derr != nil || vars["n"] != 1 {
			t.Errorf("Go reads PHP's session as %q (%v)", rec.Data, derr)
		}
		if rec.TTL > 0 {
			goSeesPHP += fmt.Sprintf("(ttl=%ds)", int(rec.TTL.Seconds()))
		}
	case errors.Is(err, handlers.ErrNotFound):
		goSeesPHP = "not-found"
		if small {
			t.Errorf("Go does not find PHP's session (clocks %+ds apart)", skew)
		}
	default:
		t.Errorf("Go reading PHP's session: %v, want it or ErrNotFound", err)
	}

	// PHP reads its own write
	vars, err := ints(php.must(t, "read", id2).Data)
	if err != nil {
		t.Fatal(err)
	}
	phpSeesPHP = yesNo(vars["n"] == 1)
	if small && vars["n"] != 1 {
		t.Errorf("PHP does not read its own session back: %v", vars)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
