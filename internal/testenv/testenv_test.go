package testenv

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
)

func TestMain(m *testing.M) { Run(m) }

// resp sends one Redis command and returns the reply (bulk strings as is,
// simple strings and integers as text, errors as Go errors).
func resp(t *testing.T, addr string, args ...string) (string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "(nil)", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

// memcache sends one text-protocol command and returns the first reply
// line(s) up to and including the terminating line.
func memcache(t *testing.T, addr, cmd string, endings ...string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, cmd); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	var out strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("memcached %q: %v (read %q)", cmd, err, out.String())
		}
		out.WriteString(line)
		for _, e := range endings {
			if strings.HasPrefix(line, e) {
				return out.String()
			}
		}
	}
}

func TestRedis(t *testing.T) {
	t.Parallel()
	addr := Redis(t)
	if got, err := resp(t, addr, "PING"); err != nil || got != "PONG" {
		t.Fatalf("PING = %q, %v", got, err)
	}
	if _, err := resp(t, addr, "SET", "testenv:k", "v"); err != nil {
		t.Fatal(err)
	}
	if got, err := resp(t, addr, "GET", "testenv:k"); err != nil || got != "v" {
		t.Fatalf("GET = %q, %v", got, err)
	}
	if again := Redis(t); again != addr {
		t.Errorf("second Redis() = %s, want the shared %s", again, addr)
	}
}

func TestMemcached(t *testing.T) {
	t.Parallel()
	addr := Memcached(t)
	if got := memcache(t, addr, "version\r\n", "VERSION"); !strings.HasPrefix(got, "VERSION 1.") {
		t.Fatalf("version = %q", got)
	}
	memcache(t, addr, "set testenv 0 0 5\r\nhello\r\n", "STORED")
	if got := memcache(t, addr, "get testenv\r\n", "END"); got != "VALUE testenv 0 5\r\nhello\r\nEND\r\n" {
		t.Fatalf("get = %q", got)
	}
}

func TestMariaDB(t *testing.T) {
	t.Parallel()
	s := MariaDB(t)
	if want := "mysql://sess:sesspass@" + s.Addr + "/sessions"; s.URL() != want {
		t.Errorf("URL() = %q, want %q", s.URL(), want)
	}
	db, err := sql.Open("mysql", s.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version string
	if err := db.QueryRow("SELECT VERSION()").Scan(&version); err != nil {
		t.Fatalf("%s: %v", s.DSN(), err)
	}
	if !strings.Contains(version, "MariaDB") {
		t.Errorf("VERSION() = %q", version)
	}
	t.Logf("MariaDB %s at %s", version, s.Addr)

	bad := s
	bad.Password = "wrong"
	if err := mysqlExec(bad.DSN(), "SELECT 1"); err == nil || !strings.Contains(err.Error(), "1045") {
		t.Errorf("wrong password: err = %v, want access denied (1045)", err)
	}

	s.DB = s.NewDatabase(t)
	db2, err := sql.Open("mysql", s.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if _, err := db2.Exec("CREATE TABLE t (id VARCHAR(64) PRIMARY KEY, data BLOB)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db2.Exec("INSERT INTO t VALUES ('a', 'n|i:1;')"); err != nil {
		t.Fatal(err)
	}
	var cur string
	if err := db2.QueryRow("SELECT DATABASE()").Scan(&cur); err != nil || cur != s.DB {
		t.Errorf("DATABASE() = %q, %v; want %q", cur, err, s.DB)
	}
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	s := Postgres(t)
	if want := "postgres://sess:sesspass@" + s.Addr + "/sessions?sslmode=disable"; s.DSN() != want {
		t.Errorf("DSN() = %q, want %q", s.DSN(), want)
	}
	db, err := sql.Open("pgx", s.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version string
	if err := db.QueryRow("SHOW server_version").Scan(&version); err != nil {
		t.Fatalf("%s: %v", s.DSN(), err)
	}
	t.Logf("PostgreSQL %s at %s", version, s.Addr)

	bad := s
	bad.Password = "wrong"
	if err := pgExec(bad.DSN(), "SELECT 1"); err == nil || !strings.Contains(err.Error(), "password authentication failed") {
		t.Errorf("wrong password: err = %v, want password authentication failed", err)
	}

	s.DB = s.NewDatabase(t)
	db2, err := sql.Open("pgx", s.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if _, err := db2.Exec("CREATE TABLE t (id text PRIMARY KEY, data bytea)"); err != nil {
		t.Fatal(err)
	}
	var cur string
	if err := db2.QueryRow("SELECT current_database()").Scan(&cur); err != nil || cur != s.DB {
		t.Errorf("current_database() = %q, %v; want %q", cur, err, s.DB)
	}
}

// runPHP runs php -r code with extra environment variables.
func runPHP(t *testing.T, code string, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, PHP(t), "-r", code)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("php: %v\n%s", err, out)
	}
	return string(out)
}

func TestFerretDB(t *testing.T) {
	t.Parallel()
	uri := FerretDB(t)
	if !strings.HasPrefix(uri, "mongodb://127.0.0.1:") || !strings.HasSuffix(uri, "/") {
		t.Fatalf("FerretDB() = %q", uri)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(uri, "mongodb://"), "/")
	if err := mongoPing(context.Background(), addr); err != nil {
		t.Fatal(err)
	}
	// What matters to phpsess: PHP's mongodb extension can use it.
	out := runPHP(t, `
$m = new MongoDB\Driver\Manager(getenv('MONGO_URI'));
for ($i = 0; $i < 2; $i++) {
  $bw = new MongoDB\Driver\BulkWrite();
  $bw->update(['_id' => 'sid1'], ['$inc' => ['n' => 1]], ['upsert' => true]);
  $m->executeBulkWrite('testenv.sessions', $bw);
}
$doc = $m->executeQuery('testenv.sessions', new MongoDB\Driver\Query(['_id' => 'sid1']))->toArray()[0];
echo $doc->n;`, "MONGO_URI="+uri)
	if out != "2" {
		t.Fatalf("php mongodb: n = %q, want 2", out)
	}
}

const counterPHP = `<?php
session_start();
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
header('Content-Type: text/plain');
echo session_id(), ' ', $_SESSION['n'];
`

// countTo3 requests base three times with a cookie jar and returns the
// session id; the counter must reach 3.
func countTo3(t *testing.T, base string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	var sid, n string
	for i := 1; i <= 3; i++ {
		res, err := c.Get(base + "/counter.php")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("request %d: %s: %s", i, res.Status, body)
		}
		sid, n, _ = strings.Cut(string(body), " ")
		if n != strconv.Itoa(i) {
			t.Fatalf("request %d: counter = %q (body %q)", i, n, body)
		}
	}
	u, _ := http.NewRequest("GET", base, nil)
	for _, ck := range jar.Cookies(u.URL) {
		if ck.Name == "PHPSESSID" && ck.Value == sid {
			return sid
		}
	}
	t.Fatalf("no PHPSESSID=%s cookie in the jar", sid)
	return ""
}

func writeDocroot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "counter.php"), []byte(counterPHP), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestPHPServerFilesSession(t *testing.T) {
	t.Parallel()
	sessions := t.TempDir()
	base := PHPServer(t, writeDocroot(t), map[string]string{"session.save_path": sessions}, nil)
	sid := countTo3(t, base)
	data, err := os.ReadFile(filepath.Join(sessions, "sess_"+sid))
	if err != nil || string(data) != "n|i:3;" {
		t.Fatalf("session file = %q, %v", data, err)
	}
}

func TestPHPServerRedisSession(t *testing.T) {
	t.Parallel()
	addr := Redis(t)
	base := PHPServer(t, writeDocroot(t), map[string]string{
		"session.save_handler": "redis",
		"session.save_path":    "tcp://" + addr,
	}, []string{"PHPSESS_TESTENV=1"})
	sid := countTo3(t, base)
	if got, err := resp(t, addr, "GET", "PHPREDIS_SESSION:"+sid); err != nil || got != "n|i:3;" {
		t.Fatalf("redis session = %q, %v", got, err)
	}
}

func TestRedisKillRestartPause(t *testing.T) {
	t.Parallel()
	s := NewRedis(t)
	if s.URL != "redis://"+s.Addr {
		t.Errorf("URL = %q", s.URL)
	}
	if _, err := resp(t, s.Addr, "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	pid := s.Pid()
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if s.Running() {
		t.Fatal("Running() after Kill")
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		t.Errorf("process %d still exists after Kill", pid)
	}
	if _, err := resp(t, s.Addr, "PING"); err == nil {
		t.Fatal("PING answered after Kill")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if got, err := resp(t, s.Addr, "GET", "k"); err != nil || got != "(nil)" {
		t.Fatalf("GET after restart = %q, %v (no persistence: want nil)", got, err)
	}

	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.Addr) // the kernel still accepts
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(200 * time.Millisecond))
	io.WriteString(c, "PING\r\n")
	if _, err := c.Read(make([]byte, 16)); err == nil {
		t.Fatal("a paused server answered")
	}
	c.Close()
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	if got, err := resp(t, s.Addr, "PING"); err != nil || got != "PONG" {
		t.Fatalf("PING after Resume = %q, %v", got, err)
	}
}

func TestMemcachedDedicatedIsCleanedUp(t *testing.T) {
	t.Parallel()
	var s *Server
	t.Run("use", func(t *testing.T) {
		s = NewMemcached(t)
		memcache(t, s.Addr, "version\r\n", "VERSION")
		if err := s.Restart(); err != nil {
			t.Fatal(err)
		}
		memcache(t, s.Addr, "version\r\n", "VERSION")
	})
	if s == nil { // skipped (-short) or failed
		return
	}
	if s.Running() {
		t.Error("still running after the test's cleanup")
	}
	if _, err := os.Stat(s.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists after the test's cleanup (%v)", s.Dir, err)
	}
	if err := s.Start(); err == nil {
		t.Error("Start after destruction succeeded")
	}
}

// Databases must keep committed data across a crash and come back on the
// same address: what fault-injection tests of the SQL stores rely on.
func TestDatabasesSurviveKill(t *testing.T) {
	t.Parallel()
	t.Run("mariadb", func(t *testing.T) {
		t.Parallel()
		s := NewMariaDB(t)
		crashAndCheck(t, "mysql", s.DSN(), s.Server)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		s := NewPostgres(t)
		crashAndCheck(t, "pgx", s.DSN(), s.Server)
	})
}

func crashAndCheck(t *testing.T, driver, dsn string, s *Server) {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"CREATE TABLE kv (k VARCHAR(10) PRIMARY KEY, v VARCHAR(10))", "INSERT INTO kv VALUES ('a', 'b')"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(); err == nil {
		t.Error("Ping succeeded while the server was down")
	}
	t0 := time.Now()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s back after crash recovery in %v", s.Name, time.Since(t0).Round(time.Millisecond))
	var v string
	if err := db.QueryRow("SELECT v FROM kv WHERE k = 'a'").Scan(&v); err != nil || v != "b" {
		t.Fatalf("after restart: v = %q, %v", v, err)
	}

	// Pause must freeze the connection's own server process too
	// (PostgreSQL backends are not in the postmaster's process group).
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err = conn.QueryRowContext(ctx, "SELECT 1").Scan(&v)
	cancel()
	if err == nil {
		t.Error("a paused server answered")
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if err := db.QueryRow("SELECT v FROM kv WHERE k = 'a'").Scan(&v); err != nil || v != "b" {
		t.Fatalf("after Resume: v = %q, %v", v, err)
	}
}

func TestFreePort(t *testing.T) {
	p := FreePort(t)
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		t.Fatalf("FreePort() = %d, not free: %v", p, err)
	}
	l.Close()
}

func TestMissingBinaryMessage(t *testing.T) {
	t.Setenv("PHPSESS_FERRETDB_BIN", "/nonexistent/ferretdb")
	_, err := startFerretDB()
	if err == nil || !strings.Contains(err.Error(), "run scripts/install-deps.sh") {
		t.Fatalf("err = %v, want a hint to run scripts/install-deps.sh", err)
	}
	if _, err := findBinary("no-such-server-xyz", "no-such-pkg"); err == nil ||
		err.Error() != "no-such-server-xyz not found: run scripts/install-deps.sh (or: apt-get install no-such-pkg)" {
		t.Fatalf("err = %v", err)
	}
}

// TestHelperProcess is the child of TestServersDieWithTestProcess: it starts
// a shared and a dedicated server, prints their pids and dirs, and waits to
// be killed. Run normally, it does nothing.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("PHPSESS_TESTENV_HELPER") != "1" {
		return
	}
	r := shared(t, "redis", startRedis)
	pg := NewPostgres(t)
	fmt.Printf("SERVERS %d %s %d %s\n", r.Pid(), r.Dir, pg.Server.Pid(), pg.Server.Dir)
	time.Sleep(time.Minute)
}

// A test binary that is killed (or panics on -timeout) runs no cleanup: its
// servers must die with it (parent-death signal), must not hold its output
// pipe open, and the next run must delete the dirs left behind.
func TestServersDieWithTestProcess(t *testing.T) {
	skipShort(t, "redis-server and postgres")
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "PHPSESS_TESTENV_HELPER=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pids []int
	var dirs []string
	var seen bytes.Buffer
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		var p1, p2 int
		var d1, d2 string
		if _, err := fmt.Sscanf(sc.Text(), "SERVERS %d %s %d %s", &p1, &d1, &p2, &d2); err == nil {
			pids, dirs = []int{p1, p2}, []string{d1, d2}
			break
		}
	}
	if pids == nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper printed no SERVERS line:\n%s", seen.String())
	}
	t.Logf("helper started redis (pid %d) and postgres (pid %d); killing the helper", pids[0], pids[1])
	cmd.Process.Kill()
	// EOF on the pipe: no server inherited the test process's stdout.
	eof := make(chan struct{})
	go func() { io.Copy(io.Discard, out); close(eof) }()
	select {
	case <-eof:
	case <-time.After(10 * time.Second):
		t.Error("the helper's stdout stays open after it was killed: a server inherited it")
	}
	cmd.Wait()
	for _, pid := range pids {
		deadline := time.Now().Add(10 * time.Second)
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("server pid %d survived its killed test process", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	cleanStale()
	for _, d := range dirs {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("stale dir %s not removed (%v)", d, err)
		}
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// A port that another process took between FreePort and the server's bind
// must not be mistaken for the server: it is detected and another port is
// used. (Not parallel: it swaps pickPort.)
func TestPortTakenRetries(t *testing.T) {
	skipShort(t, "servers")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	orig := pickPort
	t.Cleanup(func() { pickPort = orig })
	for _, c := range []struct {
		name  string
		start func() (*Server, error)
	}{
		{"redis", startRedis},
		{"memcached", startMemcached},
		{"ferretdb", startFerretDB},
		{"postgres", startPostgres},
		{"mariadb", startMariaDB},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			pickPort = func() (int, error) {
				if calls++; calls == 1 {
					return busy, nil
				}
				return orig()
			}
			s, err := c.start()
			if err != nil {
				t.Fatal(err)
			}
			defer s.destroy()
			// (More picks when the data dir template was built meanwhile.)
			if s.Port == busy || calls < 2 {
				t.Fatalf("port %d after %d picks; busy port was %d", s.Port, calls, busy)
			}
		})
	}
}

func TestPHPMissingExtensionMessage(t *testing.T) {
	php := PHP(t)
	// php -n loads no ini file, hence none of the shared extensions.
	wrapper := filepath.Join(t.TempDir(), "php-n")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\nexec "+php+" -n \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PHPSESS_PHP", wrapper)
	_, err := findPHP()
	if err == nil {
		t.Fatal("no error for a PHP without its extensions")
	}
	for _, want := range []string{"extensions not loaded: ", "redis", "run scripts/install-deps.sh (or: apt-get install ", "php8.2-redis", "php8.2-mysql"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	t.Log(err)
}

func TestRedisTLSKillRestart(t *testing.T) {
	t.Parallel()
	certs := NewTLSCerts(t)
	s := NewRedisTLS(t, certs)
	if s.URL != "rediss://"+s.Addr {
		t.Errorf("URL = %q", s.URL)
	}
	conf, err := certs.tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	ping := redisPing(conf)
	ctx := context.Background()
	if err := ping(ctx, s); err != nil {
		t.Fatalf("PING over TLS with the CA: %v", err)
	}
	if b, err := dialProbe(ctx, s.Addr, []byte("PING\r\n"), 64); err == nil && bytes.HasPrefix(b, []byte("+PONG")) {
		t.Error("the TLS-only server answered a plain PING")
	}
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := ping(ctx, s); err == nil {
		t.Fatal("PING answered after Kill")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := ping(ctx, s); err != nil {
		t.Fatalf("PING over TLS after restart: %v", err)
	}
}

func TestRedisClusterNodeRestart(t *testing.T) {
	t.Parallel()
	nodes := NewRedisCluster(t)
	cli := redisCLIPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	if err := nodes[0].Kill(); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].Start(); err != nil {
		t.Fatal(err)
	}
	// the node rejoins with its slots, on the bus port the others know
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.Addr)
	}
	if err := clusterSettled(ctx, cli, addrs); err != nil {
		t.Fatal(err)
	}
}
