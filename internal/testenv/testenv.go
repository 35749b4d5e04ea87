// Package testenv starts the real servers that phpsess's integration tests
// talk to: redis-server, memcached, MariaDB, PostgreSQL, FerretDB (a
// MongoDB-wire server) and PHP's built-in web server.
//
// Every server is a throw-away child process of the test binary, listening
// on a free port of 127.0.0.1, with its data in a temporary directory that is
// deleted when the server is stopped. Nothing global on the machine is used
// or changed: no default ports, no /run/mysqld, no systemd, no Debian
// clusters.
//
// Two kinds of servers are offered:
//
//   - shared ones (Redis, Memcached, MariaDB, Postgres, FerretDB): started on
//     first use and shared by all tests of one package process, then stopped
//     by Main. A package that uses them needs
//
//     func TestMain(m *testing.M) { testenv.Run(m) }
//
//   - dedicated ones (NewRedis, NewRedisTLS, NewRedisCluster,
//     NewMemcached, NewMariaDB, NewPostgres, NewFerretDB): a fresh instance
//     for one test, stopped and deleted by t.Cleanup. Their *Server can be
//     killed, paused and restarted on the same port and data dir, for
//     fault-injection tests.
//
// When a binary or a PHP extension is missing, the helpers fail the test
// with a message that says how to install it (scripts/install-deps.sh); they
// never skip, except in -short mode, where every helper that needs a server
// skips the test.
//
// The servers run in their own process group, with the parent-death signal
// set to SIGKILL, so they die with the test binary even if it is killed or
// times out; data dirs left behind by such a run are removed by the next one.
//
// MariaDB and PostgreSQL start on a copy of a provisioned data dir that the
// first server of the kind leaves in ~/.cache/phpsess/testenv-templates (a
// cache: delete it at will); this makes their start-up 0.2-0.5 s instead of
// 1-2 s. FerretDB is the binary scripts/install-deps.sh builds (see
// FerretDBBinary).
package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds the wait for a server to become ready.
const startTimeout = 30 * time.Second

// dirPrefix starts the name of every temporary dir this package creates; the
// pid of the owning process follows, so that stale dirs can be recognised.
const dirPrefix = "phpsess-testenv-"

var (
	mainCalled atomic.Bool

	// live holds every server this process created and has not destroyed.
	liveMu sync.Mutex
	live   = map[*Server]bool{}

	sharedMu    sync.Mutex
	sharedSlots = map[string]*sharedSlot{}
)

// Main runs the tests of a package and then stops every shared server the
// tests started and deletes their data. It returns the exit code for
// os.Exit. Call it (or Run) from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
//
// On SIGINT or SIGTERM it stops all servers of this process before exiting.
func Main(m *testing.M) int {
	mainCalled.Store(true)
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigc:
			fmt.Fprintf(os.Stderr, "testenv: %v: stopping the servers of this test process\n", sig)
			destroyAll()
			os.Exit(1)
		case <-done:
		}
	}()
	code := m.Run()
	signal.Stop(sigc)
	close(done)
	destroyAll()
	return code
}

// Run is Main followed by os.Exit with its result, for a one-line TestMain:
//
//	func TestMain(m *testing.M) { testenv.Run(m) }
func Run(m *testing.M) {
	os.Exit(Main(m))
}

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago (the
// kernel picked it for a listener that was closed at once). Another process
// may take it before it is used; the server helpers of this package retry
// with a new port when that happens.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatalf("testenv: no free port: %v", err)
	}
	return p
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// skipShort skips the test in -short mode: the only skip of this package.
func skipShort(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs " + what + "; skipped in -short mode")
	}
}

// sharedSlot memoises the start of one shared server, failure included.
type sharedSlot struct {
	once sync.Once
	val  any
	err  error
}

// shared returns the value start produced the first time it was called for
// name in this process, or fails t with its error.
func shared[T any](t testing.TB, name string, start func() (T, error)) T {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatalf("testenv: the shared %s server is stopped by testenv.Main, which this package does not call; add\n\n"+
			"\tfunc TestMain(m *testing.M) { testenv.Run(m) }\n\n"+
			"(or use testenv.New%s for a server of this test only)", name, sharedCtorName(name))
	}
	sharedMu.Lock()
	slot := sharedSlots[name]
	if slot == nil {
		slot = &sharedSlot{}
		sharedSlots[name] = slot
	}
	sharedMu.Unlock()
	slot.once.Do(func() {
		t0 := time.Now()
		v, err := start()
		slot.val, slot.err = v, err
		if err == nil {
			t.Logf("testenv: shared %s started in %v", name, time.Since(t0).Round(time.Millisecond))
		}
	})
	if slot.err != nil {
		t.Fatalf("%v", slot.err)
	}
	return slot.val.(T)
}

func sharedCtorName(name string) string {
	switch name {
	case "mariadb":
		return "MariaDB"
	case "postgres":
		return "Postgres"
	case "ferretdb":
		return "FerretDB"
	default:
		return strings.ToUpper(name[:1]) + name[1:]
	}
}

// dedicated registers the destruction of s at the end of t.
func dedicated(t testing.TB, s *Server, err error) *Server {
	t.Helper()
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Logf("testenv: %s started on %s in %v", s.Name, s.Addr, s.StartupTime.Round(time.Millisecond))
	t.Cleanup(func() {
		if err := s.destroy(); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	return s
}

// destroyAll stops every server of this process, in parallel, and deletes
// their dirs.
func destroyAll() {
	liveMu.Lock()
	var all []*Server
	for s := range live {
		all = append(all, s)
	}
	liveMu.Unlock()
	var wg sync.WaitGroup
	for _, s := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.destroy(); err != nil {
				fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
			}
		}()
	}
	wg.Wait()
}

// ---------------------------------------------------------------- temp dirs --

var cleanStaleOnce sync.Once

// tempRoot is where server dirs go: os.TempDir(), unless service accounts
// (postgres, mysql, ...) could not traverse it or unix socket paths below it
// would get too long (108 bytes), then /tmp.
func tempRoot() string {
	d := os.TempDir()
	if len(d) > 48 || !traversable(d) {
		return "/tmp"
	}
	return d
}

// traversable reports whether every dir from / to d is searchable by others.
func traversable(d string) bool {
	d, err := filepath.Abs(d)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(d)
		if parent == d {
			return true
		}
		d = parent
	}
}

// newServerDir creates an empty dir for one server, readable by everyone (so
// that a service account can reach its data dir below it).
func newServerDir(name string) (string, error) {
	cleanStaleOnce.Do(cleanStale)
	dir, err := os.MkdirTemp(tempRoot(), fmt.Sprintf("%s%d-%s-", dirPrefix, os.Getpid(), name))
	if err != nil {
		return "", fmt.Errorf("testenv: %s: %w", name, err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("testenv: %s: %w", name, err)
	}
	return dir, nil
}

// cleanStale removes the dirs of test processes that no longer exist (killed,
// or timed out: their servers died with them by the parent-death signal).
func cleanStale() {
	root := tempRoot()
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), dirPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat("/proc/" + pidStr); errors.Is(err, os.ErrNotExist) {
			os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
}
