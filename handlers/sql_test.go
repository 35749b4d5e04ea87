package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/handlers/storetest"
	"github.com/phpsess/phpsess/internal/testenv"
	"github.com/phpsess/phpsess/phpserialize"
)

// sqlEnv is a fresh database on the shared MariaDB or PostgreSQL server.
type sqlEnv struct {
	backend                string // "mysql" or "postgres"
	storeURL               string // scheme://user:pass@host:port/db, no query
	driver, dsn            string // for raw access with database/sql
	host, port, user, pass string
	db                     string
}

func newSQLEnv(t testing.TB, backend string) sqlEnv {
	t.Helper()
	var e sqlEnv
	switch backend {
	case "mysql":
		srv := testenv.MariaDB(t)
		srv.DB = srv.NewDatabase(t)
		e = sqlEnv{storeURL: srv.URL(), driver: "mysql", dsn: srv.DSN() + "&interpolateParams=true",
			user: srv.User, pass: srv.Password, db: srv.DB}
		e.host, e.port, _ = net.SplitHostPort(srv.Addr)
	case "postgres":
		srv := testenv.Postgres(t)
		srv.DB = srv.NewDatabase(t)
		e = sqlEnv{storeURL: srv.URL(), driver: "pgx", dsn: srv.DSN(),
			user: srv.User, pass: srv.Password, db: srv.DB}
		e.host, e.port, _ = net.SplitHostPort(srv.Addr)
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	e.backend = backend
	return e
}

// url returns the store URL with the options (pairs of name, value).
func (e sqlEnv) url(kv ...string) string {
	q := url.Values{}
	if e.backend == "postgres" {
		q.Set("sslmode", "disable")
	}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return e.storeURL + "?" + q.Encode()
}

func (e sqlEnv) open(t testing.TB, kv ...string) handlers.Store {
	t.Helper()
	s, err := handlers.Open(context.Background(), e.url(kv...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (e sqlEnv) raw(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open(e.driver, e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// rewrite turns ? placeholders into $n for PostgreSQL and `x` into "x".
func (e sqlEnv) rewrite(q string) string {
	if e.backend != "postgres" {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		switch c {
		case '?':
			n++
			fmt.Fprintf(&b, "$%d", n)
		case '`':
			b.WriteByte('"')
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

var sqlCombos = []struct{ backend, layout string }{
	{"mysql", "ci3"}, {"mysql", "ci4"}, {"postgres", "ci3"}, {"postgres", "ci4"},
}

// ------------------------------------------------------------ conformance --

func TestSQLConformance(t *testing.T) {
	type run struct{ backend, layout, handler string }
	var runs []run
	for _, c := range sqlCombos {
		runs = append(runs, run{c.backend, c.layout, "php"})
	}
	runs = append(runs, run{"postgres", "ci3", "php_serialize"})
	for _, r := range runs {
		t.Run(r.backend+"/"+r.layout+"/"+r.handler, func(t *testing.T) {
			t.Parallel()
			e := newSQLEnv(t, r.backend)
			maxSize := 0
			if r.backend == "mysql" {
				maxSize = 60000 // BLOB: 65,535 bytes
			}
			storetest.Run(t, storetest.Config{
				Open: func(t *testing.T, extra url.Values) handlers.Store {
					kv := []string{"layout", r.layout, "handler", r.handler, "create_table", "on"}
					for k, v := range extra {
						kv = append(kv, k, v[0])
					}
					return e.open(t, kv...)
				},
				MaxSize: maxSize,
				Expires: false, // CodeIgniter's GC removes rows; see TestSQLGC
			})
		})
	}
}

// ---------------------------------------------------------------- GC, TTL --

func TestSQLGC(t *testing.T) {
	for _, c := range sqlCombos {
		t.Run(c.backend+"/"+c.layout, func(t *testing.T) {
			t.Parallel()
			e := newSQLEnv(t, c.backend)
			s := e.open(t, "layout", c.layout, "create_table", "on", "ttl", "600")
			db := e.raw(t)
			ctx := tctx(t)
			fresh, old, short := storetest.NewID(), storetest.NewID(), storetest.NewID()
			data := storetest.Counter(phpserialize.HandlerPHP, 1)
			for _, id := range []string{fresh, old, short} {
				if err := s.Write(ctx, &handlers.Record{ID: id, Data: data}); err != nil {
					t.Fatal(err)
				}
			}
			// Make "old" 700 s old, as CodeIgniter would have left it.
			key := func(id string) string {
				if c.layout == "ci4" {
					return "ci_session:" + id
				}
				return id
			}
			back := "UPDATE `ci_sessions` SET `timestamp` = `timestamp` - 700 WHERE `id` = ?"
			if c.layout == "ci4" && c.backend == "mysql" {
				back = "UPDATE `ci_sessions` SET `timestamp` = `timestamp` - INTERVAL 700 SECOND WHERE `id` = ?"
			} else if c.layout == "ci4" {
				back = "UPDATE `ci_sessions` SET `timestamp` = `timestamp` - INTERVAL '700 second' WHERE `id` = ?"
			}
			if _, err := db.ExecContext(ctx, e.rewrite(back), key(old)); err != nil {
				t.Fatal(err)
			}
			// Like CodeIgniter, an expired row not yet collected still reads.
			rec, err := s.Read(ctx, old)
			if err != nil {
				t.Fatalf("Read of an expired, uncollected row: %v (CodeIgniter reads it)", err)
			}
			if rec.TTL != 0 || time.Since(rec.Modified) < 690*time.Second || time.Since(rec.Modified) > 720*time.Second {
				t.Errorf("expired row: TTL %v, modified %v ago", rec.TTL, time.Since(rec.Modified))
			}
			// A write with TTL 100 s is dated 500 s back: read TTL ~100 s.
			if err := s.Write(ctx, &handlers.Record{ID: short, Data: data, TTL: 100 * time.Second}); err != nil {
				t.Fatal(err)
			}
			if rec, err := s.Read(ctx, short); err != nil || rec.TTL < 98*time.Second || rec.TTL > 100*time.Second {
				t.Fatalf("after writing with TTL 100s: %v, %v", rec, err)
			}
			// Touch with a TTL beyond the lifetime dates it ahead.
			tc := s.(handlers.Toucher)
			if err := tc.Touch(ctx, short, 900*time.Second); err != nil {
				t.Fatal(err)
			}
			if rec, err := s.Read(ctx, short); err != nil || rec.TTL < 898*time.Second || rec.TTL > 900*time.Second {
				t.Fatalf("after Touch(900s): %+v, %v", rec, err)
			}
			if err := tc.Touch(ctx, storetest.NewID(), 0); !errors.Is(err, handlers.ErrNotFound) {
				t.Errorf("Touch of a missing session: %v, want ErrNotFound", err)
			}
			n, err := s.(handlers.Collector).GC(ctx)
			if err != nil || n != 1 {
				t.Fatalf("GC = %d, %v; want 1 row removed", n, err)
			}
			if _, err := s.Read(ctx, old); !errors.Is(err, handlers.ErrNotFound) {
				t.Errorf("Read after GC: %v, want ErrNotFound", err)
			}
			for _, id := range []string{fresh, short} {
				if _, err := s.Read(ctx, id); err != nil {
					t.Errorf("GC removed a live session: %v", err)
				}
			}
		})
	}
}

// -------------------------------------------------------- PHP interop -----

// ciApp is a PHP request whose session save handler stores sessions as
// CodeIgniter's database drivers do: CI 3.1.13 Session_database_driver
// (layout ci3) and CI 4.7 DatabaseHandler with MySQLiHandler /
// PostgreHandler (layout ci4): the same statements (as their query
// builders render them, values escaped by mysqli / pg_escape_literal), the
// same lock calls and names, the same encodings, CI3's validateId and
// updateTimestamp, CI4's cookie-name id prefix and now() timestamps.
//
// Its only argument is a JSON object: db (mysql, postgres), layout, host,
// port, user, pass, name, table, cookie, match_ip, ip, handler, op, id, n.
// It prints one JSON line.
const ciApp = `<?php
$c = json_decode($argv[1], true);
mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
ini_set('session.use_strict_mode', '1');  // CI3 and CI4 force it
ini_set('session.use_cookies', '0');      // CLI: no cookie to send
ini_set('session.cache_limiter', '');
ini_set('session.gc_probability', '0');
ini_set('session.gc_maxlifetime', '7200');
ini_set('session.serialize_handler', $c['handler'] ?? 'php');

abstract class CIDatabaseSession
{
    protected $db;
    protected $pg;
    protected $ci3;
    protected $table;
    protected $prefix;
    protected $matchIP;
    protected $ip;
    protected $lock = false;
    protected $rowExists = false;
    protected $fingerprint;
    protected $sessionID;

    public function __construct(array $c)
    {
        $this->pg = $c['db'] === 'postgres';
        $this->ci3 = $c['layout'] === 'ci3';
        $this->table = $c['table'];
        $this->prefix = $this->ci3 ? '' : $c['cookie'] . ':';
        $this->matchIP = !empty($c['match_ip']);
        $this->ip = $c['ip'];
        if ($this->pg) {
            $this->db = pg_connect(sprintf("host=%s port=%s dbname=%s user=%s password=%s",
                $c['host'], $c['port'], $c['name'], $c['user'], $c['pass']), PGSQL_CONNECT_FORCE_NEW);
            if ($this->db === false) throw new Exception('pg_connect failed');
        } else {
            $this->db = new mysqli($c['host'], $c['user'], $c['pass'], $c['name'], (int) $c['port']);
            $this->db->set_charset('utf8mb4');
        }
    }

    protected function q($ident) { return $this->pg ? '"' . $ident . '"' : chr(96) . $ident . chr(96); }

    protected function lit($s)
    {
        return $this->pg ? pg_escape_literal($this->db, $s) : "'" . $this->db->real_escape_string($s) . "'";
    }

    protected function query($sql)
    {
        if (!$this->pg) return $this->db->query($sql);
        $r = pg_query($this->db, $sql);
        if ($r === false) throw new Exception(pg_last_error($this->db));
        return $r;
    }

    protected function row($sql)
    {
        $r = $this->query($sql);
        $row = $this->pg ? pg_fetch_assoc($r) : $r->fetch_assoc();
        return ($row === false || $row === null) ? null : $row;
    }

    protected function where($id)
    {
        $w = "\nWHERE " . $this->q('id') . ' = ' . $this->lit($this->prefix . $id);
        if ($this->matchIP) $w .= "\nAND " . $this->q('ip_address') . ' = ' . $this->lit($this->ip);
        return $w;
    }

    // Session_database_driver::_get_lock, MySQLiHandler/PostgreHandler::lockSession
    protected function getLock($id)
    {
        if (!$this->pg) {
            $arg = md5($id . ($this->matchIP ? '_' . $this->ip : ''));
            if ($this->row("SELECT GET_LOCK('" . $arg . "', 300) AS ci_session_lock")['ci_session_lock']) {
                $this->lock = $arg;
                return true;
            }
            return false;
        }
        $arg = "hashtext('" . $id . "')" . ($this->matchIP ? ", hashtext('" . $this->ip . "')" : '');
        if ($this->query('SELECT pg_advisory_lock(' . $arg . ')')) {
            $this->lock = $arg;
            return true;
        }
        return false;
    }

    protected function releaseLock()
    {
        if (!$this->lock) return true;
        if (!$this->pg) {
            if ($this->row("SELECT RELEASE_LOCK('" . $this->lock . "') AS ci_session_lock")['ci_session_lock']) {
                $this->lock = false;
                return true;
            }
            return false;
        }
        if ($this->query('SELECT pg_advisory_unlock(' . $this->lock . ')')) {
            $this->lock = false;
            return true;
        }
        return false;
    }

    public function open($path, $name): bool { return true; }

    public function close(): bool { return !($this->lock && !$this->releaseLock()); }

    public function read($id): string|false
    {
        if (!$this->getLock($id)) {
            $this->fingerprint = md5('');
            return $this->ci3 ? false : '';
        }
        $this->sessionID = $id;
        $select = ($this->pg && !$this->ci3) ? "encode(data, 'base64') AS data" : $this->q('data');
        $row = $this->row('SELECT ' . $select . "\nFROM " . $this->q($this->table) . $this->where($id));
        if ($row === null) {
            $this->rowExists = false;
            $this->fingerprint = md5('');
            return '';
        }
        $data = $row['data'];
        if ($this->pg) {
            $data = $this->ci3 ? base64_decode(rtrim($data)) : base64_decode(rtrim($data), true);
        }
        $this->fingerprint = md5($data);
        $this->rowExists = true;
        return $data;
    }

    protected function encode($data)
    {
        if (!$this->pg) return $this->lit($data);
        return $this->lit($this->ci3 ? base64_encode($data) : '\x' . bin2hex($data));
    }

    public function write($id, $data): bool
    {
        if ($this->lock === false) return false;
        if ($this->sessionID !== $id) {
            $this->rowExists = false;
            $this->sessionID = $id;
        }
        $ts = $this->ci3 ? (string) time() : 'now()';
        if (!$this->rowExists) {
            if ($this->ci3) {
                $cols = ['id', 'ip_address', 'timestamp', 'data'];
                $vals = [$this->lit($id), $this->lit($this->ip), $ts, $this->encode($data)];
            } else {
                $cols = ['timestamp', 'id', 'ip_address', 'data'];
                $vals = [$ts, $this->lit($this->prefix . $id), $this->lit($this->ip), $this->encode($data)];
            }
            $this->query('INSERT INTO ' . $this->q($this->table) . ' (' . implode(', ', array_map([$this, 'q'], $cols))
                . ') VALUES (' . implode(', ', $vals) . ')');
            $this->fingerprint = md5($data);
            $this->rowExists = true;
            return true;
        }
        $set = $this->q('timestamp') . ' = ' . $ts;
        if ($this->fingerprint !== md5($data)) $set .= ', ' . $this->q('data') . ' = ' . $this->encode($data);
        $this->query('UPDATE ' . $this->q($this->table) . ' SET ' . $set . $this->where($id));
        $this->fingerprint = md5($data);
        return true;
    }

    public function destroy($id): bool
    {
        if ($this->lock) $this->query('DELETE FROM ' . $this->q($this->table) . $this->where($id));
        return $this->close();
    }

    public function gc($max): int|false
    {
        $cut = $this->ci3 ? (time() - $max) : ($this->pg ? "now() - INTERVAL '" . $max . " second'" : 'now() - INTERVAL ' . $max . ' second');
        $this->query('DELETE FROM ' . $this->q($this->table) . ' WHERE ' . $this->q('timestamp') . ' < ' . $cut);
        return 1;
    }
}

// CodeIgniter 3 implements validateId and updateTimestamp (strict mode:
// an id without a row is replaced).
class CI3Session extends CIDatabaseSession implements SessionHandlerInterface, SessionUpdateTimestampHandlerInterface
{
    public function validateId($id): bool
    {
        return $this->row('SELECT 1 FROM ' . $this->q($this->table) . $this->where($id)) !== null;
    }

    public function updateTimestamp($id, $data): bool
    {
        $this->query('UPDATE ' . $this->q($this->table) . ' SET ' . $this->q('timestamp') . ' = ' . time() . $this->where($id));
        return true;
    }
}

// CodeIgniter 4 has neither: PHP calls write() on every request.
class CI4Session extends CIDatabaseSession implements SessionHandlerInterface {}

$h = $c['layout'] === 'ci3' ? new CI3Session($c) : new CI4Session($c);
session_set_save_handler($h, false);
$out = [];
switch ($c['op']) {
case 'create':
    session_start();
    $_SESSION['__ci_last_regenerate'] = time();
    $_SESSION['user'] = ['id' => 42, 'name' => "zo\u{eb}"];
    $_SESSION['bin'] = "a\0b\xff|\";}";
    $_SESSION['f'] = 0.1;
    $_SESSION['long'] = str_repeat('0123456789', 300);
    $out['id'] = session_id();
    $out['data'] = base64_encode(session_encode());
    session_write_close();
    break;
case 'read':
    session_id($c['id']);
    session_start();
    $out['id'] = session_id();
    $out['data'] = base64_encode(session_encode());
    session_write_close();
    break;
case 'incr':
    for ($i = 0; $i < $c['n']; $i++) {
        session_id($c['id']);
        session_start();
        $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
        session_write_close();
    }
    break;
case 'hold':
    session_id($c['id']);
    session_start();
    fwrite(STDOUT, "locked\n");
    fgets(STDIN);
    $_SESSION['php'] = 'held';
    session_write_close();
    break;
case 'wait':
    session_id($c['id']);
    fwrite(STDOUT, "starting\n"); // not through the output layer: no headers sent
    $t = microtime(true);
    session_start();
    $out['waited'] = microtime(true) - $t;
    $out['data'] = base64_encode(session_encode());
    session_write_close();
    break;
}
echo json_encode($out), "\n";
`

// phpCI runs ciApp.
type phpCI struct {
	php, script string
	conf        map[string]any
}

func newPHPCI(t *testing.T, e sqlEnv, layout string, kv ...any) *phpCI {
	t.Helper()
	php := testenv.PHP(t)
	script := filepath.Join(t.TempDir(), "ci_session.php")
	if err := os.WriteFile(script, []byte(ciApp), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := map[string]any{
		"db": e.backend, "layout": layout, "host": e.host, "port": e.port, "user": e.user,
		"pass": e.pass, "name": e.db, "table": "ci_sessions", "cookie": "ci_session", "ip": "127.0.0.1",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		conf[kv[i].(string)] = kv[i+1]
	}
	return &phpCI{php: php, script: script, conf: conf}
}

type phpOut struct {
	ID     string  `json:"id"`
	Data   []byte  `json:"data"` // base64 in JSON
	Waited float64 `json:"waited"`
}

func (p *phpCI) cmd(ctx context.Context, op string, kv ...any) *exec.Cmd {
	conf := map[string]any{}
	for k, v := range p.conf {
		conf[k] = v
	}
	conf["op"] = op
	for i := 0; i+1 < len(kv); i += 2 {
		conf[kv[i].(string)] = kv[i+1]
	}
	arg, _ := json.Marshal(conf)
	return exec.CommandContext(ctx, p.php, "-d", "display_errors=stderr", p.script, string(arg))
}

func (p *phpCI) run(t *testing.T, op string, kv ...any) phpOut {
	t.Helper()
	cmd := p.cmd(tctx(t), op, kv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("php %s: %v\n%s%s", op, err, stderr.Bytes(), out)
	}
	var o phpOut
	if err := json.Unmarshal(out, &o); err != nil {
		t.Fatalf("php %s: %v: %s", op, err, out)
	}
	return o
}

// TestSQLCodeIgniterInterop runs CodeIgniter's storage (ciApp) against
// phpsess on one table: each reads the other's writes, the stored rows are
// the same byte for byte, locks exclude each other both ways, and
// concurrent PHP requests and Go writers lose no increment.
func TestSQLCodeIgniterInterop(t *testing.T) {
	type run struct {
		backend, layout string
		matchIP         bool
	}
	var runs []run
	for _, c := range sqlCombos {
		runs = append(runs, run{c.backend, c.layout, false})
	}
	runs = append(runs, run{"mysql", "ci3", true}, run{"postgres", "ci4", true})
	for _, r := range runs {
		name := r.backend + "/" + r.layout
		if r.matchIP {
			name += "/match_ip"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newSQLEnv(t, r.backend)
			ip := "127.0.0.1"
			opts := []string{"layout", r.layout, "create_table", "on"}
			if r.matchIP {
				ip = "10.1.2.3"
				opts = append(opts, "match_ip", "on", "ip", ip)
			}
			s := e.open(t, opts...)
			php := newPHPCI(t, e, r.layout, "match_ip", r.matchIP, "ip", ip)
			t.Run("GoReadsPHP", func(t *testing.T) { testGoReadsPHP(t, e, s, php, r.layout, ip) })
			t.Run("PHPReadsGo", func(t *testing.T) { testPHPReadsGo(t, s, php) })
			t.Run("PHPHoldsGoWaits", func(t *testing.T) { testPHPHoldsLock(t, e, s, php, opts) })
			t.Run("GoHoldsPHPWaits", func(t *testing.T) { testGoHoldsLock(t, s, php) })
			t.Run("NoLostUpdates", func(t *testing.T) { testSQLNoLostUpdates(t, e, php, opts) })
			if r.matchIP {
				t.Run("OtherIP", func(t *testing.T) { testOtherIP(t, e, s, php, opts) })
			}
		})
	}
}

func testGoReadsPHP(t *testing.T, e sqlEnv, s handlers.Store, php *phpCI, layout, ip string) {
	ctx := tctx(t)
	o := php.run(t, "create")
	rec, err := s.Read(ctx, o.ID)
	if err != nil {
		t.Fatalf("Go reading PHP's session %s: %v", o.ID, err)
	}
	if !bytes.Equal(rec.Data, o.Data) {
		t.Fatalf("Go read %q, PHP wrote %q", rec.Data, o.Data)
	}
	if rec.Meta.IP != ip || rec.TTL < 7190*time.Second || time.Since(rec.Modified) > 10*time.Second {
		t.Errorf("Go read IP %q, TTL %v, modified %v", rec.Meta.IP, rec.TTL, rec.Modified)
	}
	// Go writes the same payload under another id: the rows must match.
	goID := storetest.NewID()
	if err := s.Write(ctx, &handlers.Record{ID: goID, Data: o.Data, Meta: handlers.Meta{IP: ip}}); err != nil {
		t.Fatal(err)
	}
	db := e.raw(t)
	prefix := ""
	if layout == "ci4" {
		prefix = "ci_session:"
	}
	ipText := "`ip_address`"
	tsText := "UNIX_TIMESTAMP(`timestamp`)"
	if e.backend == "postgres" {
		ipText = "`ip_address`::text"
		tsText = "extract(epoch from `timestamp`)::float8"
	}
	if layout == "ci3" {
		tsText = "`timestamp` + 0"
	}
	type row struct {
		id, ip string
		data   []byte
		ts     float64
	}
	get := func(id string) row {
		var r row
		err := db.QueryRowContext(ctx, e.rewrite("SELECT `id`, "+ipText+", `data`, "+tsText+" FROM `ci_sessions` WHERE `id` = ?"), prefix+id).
			Scan(&r.id, &r.ip, &r.data, &r.ts)
		if err != nil {
			t.Fatalf("raw select of %s: %v", id, err)
		}
		return r
	}
	pr, gr := get(o.ID), get(goID)
	if pr.id != prefix+o.ID || gr.id != prefix+goID {
		t.Errorf("id columns %q (PHP) and %q (Go), want the %q prefix", pr.id, gr.id, prefix)
	}
	if pr.ip != gr.ip || !bytes.Equal(pr.data, gr.data) {
		t.Errorf("rows differ:\nPHP ip %q data %.120q\nGo  ip %q data %.120q", pr.ip, pr.data, gr.ip, gr.data)
	}
	if d := gr.ts - pr.ts; d < -1 || d > 10 {
		t.Errorf("timestamps: PHP %v, Go %v", pr.ts, gr.ts)
	}
	t.Logf("data column holds %d bytes for a %d-byte payload: %.60q...", len(pr.data), len(o.Data), pr.data)
}

// sqlGoPayload is a php-handler payload with binary bytes and a string long
// enough that PostgreSQL's encode(..., 'base64') wraps its lines.
var sqlGoPayload = []byte(`go|s:4:"a` + "\x00\xff" + `|";n|i:7;long|s:3000:"` + strings.Repeat("9876543210", 300) + `";`)

func testPHPReadsGo(t *testing.T, s handlers.Store, php *phpCI) {
	id := storetest.NewID()
	if err := s.Write(tctx(t), &handlers.Record{ID: id, Data: sqlGoPayload}); err != nil {
		t.Fatal(err)
	}
	o := php.run(t, "read", "id", id)
	if o.ID != id {
		t.Fatalf("PHP (strict mode) did not accept Go's session: it made %s", o.ID)
	}
	if !bytes.Equal(o.Data, sqlGoPayload) {
		t.Fatalf("PHP read %.80q, Go wrote %.80q", o.Data, sqlGoPayload)
	}
	// PHP wrote it back (CI3: updateTimestamp; CI4: write): still the same.
	rec, err := s.Read(tctx(t), id)
	if err != nil || !bytes.Equal(rec.Data, sqlGoPayload) {
		t.Fatalf("after PHP's request: %v %.80q", err, rec.Data)
	}
}

// startHold starts a PHP request that holds the session's lock until its
// standard input is closed.
func startHold(t *testing.T, php *phpCI, id string) (release func() phpOut) {
	t.Helper()
	cmd := php.cmd(tctx(t), "hold", "id", id)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stdout)
	line, err := r.ReadString('\n')
	if err != nil || line != "locked\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("php hold: %q %v %s", line, err, stderr.Bytes())
	}
	var once sync.Once
	var o phpOut
	release = func() phpOut {
		once.Do(func() {
			stdin.Close()
			rest, _ := io.ReadAll(r)
			if err := cmd.Wait(); err != nil || stderr.Len() > 0 {
				t.Errorf("php hold: %v %s", err, stderr.Bytes())
			}
			json.Unmarshal(rest, &o)
		})
		return o
	}
	t.Cleanup(func() { release() })
	return release
}

func testPHPHoldsLock(t *testing.T, e sqlEnv, s handlers.Store, php *phpCI, opts []string) {
	ctx := tctx(t)
	id := storetest.NewID()
	if err := s.Write(ctx, &handlers.Record{ID: id, Data: []byte("v|i:1;")}); err != nil {
		t.Fatal(err)
	}
	release := startHold(t, php, id)
	// An unlocked read goes through.
	if rec, err := s.Read(ctx, id); err != nil || string(rec.Data) != "v|i:1;" {
		t.Fatalf("Read while PHP holds the lock: %v", err)
	}
	quick := e.open(t, append(opts, "lock_timeout", "0.3")...)
	start := time.Now()
	err := quick.Write(ctx, &handlers.Record{ID: id, Data: []byte("v|i:2;")})
	if !errors.Is(err, handlers.ErrLockTimeout) {
		t.Fatalf("Write while PHP holds the lock: %v, want ErrLockTimeout", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Errorf("lock_timeout=0.3 gave up after %v", d)
	}
	if err := quick.Destroy(ctx, id); !errors.Is(err, handlers.ErrLockTimeout) {
		t.Fatalf("Destroy while PHP holds the lock: %v, want ErrLockTimeout", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Write(ctx, &handlers.Record{ID: id, Data: []byte("v|i:3;")}) }()
	select {
	case err := <-done:
		t.Fatalf("Go wrote while PHP held the lock (err=%v)", err)
	case <-time.After(500 * time.Millisecond):
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("Go's write after PHP released: %v", err)
	}
	rec, err := s.Read(ctx, id)
	if err != nil || string(rec.Data) != "v|i:3;" {
		t.Fatalf("after PHP (v=1, php=held) then Go (v=3): %q %v", rec.Data, err)
	}
}

func testGoHoldsLock(t *testing.T, s handlers.Store, php *phpCI) {
	ctx := tctx(t)
	id := storetest.NewID()
	if err := s.Write(ctx, &handlers.Record{ID: id, Data: []byte("v|i:1;")}); err != nil {
		t.Fatal(err)
	}
	lk, err := s.(handlers.Locker).Lock(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock(ctx)
	cmd := php.cmd(ctx, "wait", "id", id)
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stdout)
	if line, err := r.ReadString('\n'); line != "starting\n" {
		cmd.Process.Kill()
		t.Fatalf("php wait: %q %v %s", line, err, stderr.Bytes())
	}
	var rest []byte
	exited := make(chan error, 1)
	go func() {
		rest, _ = io.ReadAll(r)
		exited <- cmd.Wait()
	}()
	select {
	case err := <-exited:
		t.Fatalf("PHP did not wait for Go's lock: %v %s %s", err, rest, stderr.Bytes())
	case <-time.After(700 * time.Millisecond):
	}
	if err := lk.Write(ctx, &handlers.Record{Data: []byte("v|i:2;")}); err != nil {
		t.Fatal(err)
	}
	if err := lk.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil || stderr.Len() > 0 {
		t.Fatalf("php wait: %v %s", err, stderr.Bytes())
	}
	var o phpOut
	if err := json.Unmarshal(rest, &o); err != nil {
		t.Fatal(err)
	}
	if string(o.Data) != "v|i:2;" || o.Waited < 0.6 {
		t.Fatalf("PHP waited %.2fs and read %q, want >= 0.7s and Go's v|i:2;", o.Waited, o.Data)
	}
}

// testSQLNoLostUpdates increments one counter from PHP requests and Go
// writers at once, all with locking.
func testSQLNoLostUpdates(t *testing.T, e sqlEnv, php *phpCI, opts []string) {
	const phpProcs, goWorkers, each = 2, 2, 15
	s := e.open(t, append(opts, "lock_timeout", "60")...)
	ctx := tctx(t)
	id := storetest.NewID()
	h := phpserialize.HandlerPHP
	if err := s.Write(ctx, &handlers.Record{ID: id, Data: storetest.Counter(h, 0)}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, phpProcs+goWorkers*each)
	for range phpProcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := php.cmd(ctx, "incr", "id", id, "n", each).CombinedOutput()
			if err != nil || !bytes.HasPrefix(out, []byte("[]")) {
				errs <- fmt.Errorf("php incr: %v %s", err, out)
			}
		}()
	}
	for range goWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				errs <- handlers.Update(ctx, s, id, func(rec *handlers.Record) error {
					sess, err := phpserialize.DecodeSession(h, rec.Data)
					if err != nil {
						return err
					}
					v, _ := sess.Lookup("n")
					rec.Data = storetest.Counter(h, int(v.Int())+1)
					return nil
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rec, err := s.Read(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if want := storetest.Counter(h, (phpProcs+goWorkers)*each); !bytes.Equal(rec.Data, want) {
		t.Fatalf("after %d PHP and %d Go increments: %q, want %q", phpProcs*each, goWorkers*each, rec.Data, want)
	}
}

// testOtherIP: with match_ip, the IP is part of the row's key and of the
// lock's name.
func testOtherIP(t *testing.T, e sqlEnv, s handlers.Store, php *phpCI, opts []string) {
	ctx := tctx(t)
	o := php.run(t, "create")
	other := make([]string, 0, len(opts))
	for i := 0; i+1 < len(opts); i += 2 {
		if opts[i] != "ip" {
			other = append(other, opts[i], opts[i+1])
		}
	}
	elsewhere := e.open(t, append(other, "ip", "10.9.9.9", "lock_timeout", "0.3")...)
	if _, err := elsewhere.Read(ctx, o.ID); !errors.Is(err, handlers.ErrNotFound) {
		t.Fatalf("Read from another IP: %v, want ErrNotFound", err)
	}
	release := startHold(t, php, o.ID)
	defer release()
	// The other IP's lock is another lock: it is free.
	lk, err := elsewhere.(handlers.Locker).Lock(ctx, o.ID)
	if err != nil {
		t.Fatalf("Lock from another IP while PHP holds its own: %v", err)
	}
	lk.Unlock(ctx)
	same := e.open(t, append(opts, "lock_timeout", "0.3")...)
	if _, err := same.(handlers.Locker).Lock(ctx, o.ID); !errors.Is(err, handlers.ErrLockTimeout) {
		t.Fatalf("Lock from PHP's IP while PHP holds it: %v, want ErrLockTimeout", err)
	}
}

// ---------------------------------------------------------------- hostile --

func TestSQLHostile(t *testing.T) {
	for _, backend := range []string{"mysql", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := newSQLEnv(t, backend)
			ctx := tctx(t)
			s := e.open(t, "layout", "ci4", "create_table", "on")
			db := e.raw(t)

			// Ids are checked before any query: on a closed store, a bad id
			// is ErrInvalidID, a good one a database error.
			closed, err := handlers.Open(ctx, e.url("layout", "ci4"))
			if err != nil {
				t.Fatal(err)
			}
			closed.Close()
			for _, id := range []string{"x' OR '1'='1", "a'; DROP TABLE ci_sessions; --", `a"b`, "a\\b", strings.Repeat("a", 118)} {
				if _, err := closed.Read(ctx, id); !errors.Is(err, handlers.ErrInvalidID) {
					t.Errorf("Read(%q) = %v, want ErrInvalidID", id, err)
				}
				if err := closed.Write(ctx, &handlers.Record{ID: id, Data: []byte("a|i:1;")}); !errors.Is(err, handlers.ErrInvalidID) {
					t.Errorf("Write(%q) = %v, want ErrInvalidID", id, err)
				}
				if err := closed.Destroy(ctx, id); !errors.Is(err, handlers.ErrInvalidID) {
					t.Errorf("Destroy(%q) = %v, want ErrInvalidID", id, err)
				}
				if _, err := closed.(handlers.Locker).Lock(ctx, id); !errors.Is(err, handlers.ErrInvalidID) {
					t.Errorf("Lock(%q) = %v, want ErrInvalidID", id, err)
				}
				if err := closed.(handlers.Toucher).Touch(ctx, id, 0); !errors.Is(err, handlers.ErrInvalidID) {
					t.Errorf("Touch(%q) = %v, want ErrInvalidID", id, err)
				}
			}
			if _, err := closed.Read(ctx, storetest.NewID()); err == nil || errors.Is(err, handlers.ErrInvalidID) {
				t.Errorf("Read of a good id on a closed store: %v", err)
			}
			// 117 characters + "ci_session:" fill varchar(128) exactly.
			if err := s.Write(ctx, &handlers.Record{ID: strings.Repeat("b", 117), Data: []byte("a|i:1;")}); err != nil {
				t.Errorf("Write of a 117-character id: %v", err)
			}
			var tables int
			if err := db.QueryRowContext(ctx, e.rewrite("SELECT count(*) FROM `ci_sessions`")).Scan(&tables); err != nil {
				t.Fatalf("the table did not survive: %v", err)
			}

			// Oversize: refused, nothing written, the old payload kept.
			id := storetest.NewID()
			old := []byte("a|i:1;")
			if err := s.Write(ctx, &handlers.Record{ID: id, Data: old}); err != nil {
				t.Fatal(err)
			}
			if backend == "mysql" {
				big := bytes.Repeat([]byte("x"), 65536)
				err := s.Write(ctx, &handlers.Record{ID: id, Data: big})
				if err == nil || !strings.Contains(err.Error(), "too large") || !strings.Contains(err.Error(), "65535") || !strings.Contains(err.Error(), id) {
					t.Fatalf("Write of 65,536 bytes into a BLOB: %v", err)
				}
				if strings.Contains(err.Error(), "xxxx") {
					t.Errorf("the error quotes the payload: %v", err)
				}
				if rec, err := s.Read(ctx, id); err != nil || !bytes.Equal(rec.Data, old) {
					t.Fatalf("after a refused write: %v %.40q", err, rec.Data)
				}
				fresh := storetest.NewID()
				if err := s.Write(ctx, &handlers.Record{ID: fresh, Data: big}); err == nil {
					t.Fatal("oversize write of a new session accepted")
				}
				if _, err := s.Read(ctx, fresh); !errors.Is(err, handlers.ErrNotFound) {
					t.Fatalf("a refused write created the session: %v", err)
				}
				if err := s.Write(ctx, &handlers.Record{ID: fresh, Data: big[:65535]}); err != nil {
					t.Fatalf("65,535 bytes (the BLOB's size): %v", err)
				}
				if rec, err := s.Read(ctx, fresh); err != nil || len(rec.Data) != 65535 {
					t.Fatalf("65,535 bytes read back as %d: %v", len(rec.Data), err)
				}
			}

			// Errors name backend, operation and id, never data or password.
			if _, err := db.ExecContext(ctx, e.rewrite("DROP TABLE `ci_sessions`")); err != nil {
				t.Fatal(err)
			}
			err = s.Write(ctx, &handlers.Record{ID: id, Data: []byte("secret|s:6:\"hunter\";")})
			if err == nil {
				t.Fatal("Write to a dropped table succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, backend+" write session \""+id+"\"") || strings.Contains(msg, "hunter") || strings.Contains(msg, e.pass) {
				t.Errorf("error: %s", msg)
			}
			badPass := strings.Replace(e.url("layout", "ci4"), ":"+e.pass+"@", ":n0tThePassw0rd@", 1)
			if _, err := handlers.Open(ctx, badPass); err == nil || strings.Contains(err.Error(), "n0tThePassw0rd") {
				t.Errorf("open with a wrong password: %v", err)
			}
			if _, err := handlers.Open(ctx, e.url("layout", "ci4")); err == nil || !strings.Contains(err.Error(), "create_table=on") {
				t.Errorf("open of a missing table: %v", err)
			}
		})
	}
}

// TestSQLLockWaitCancelled: a lock wait cut short by the context leaves
// no waiter behind that could take the lock later (the connection is
// dropped, not pooled).
func TestSQLLockWaitCancelled(t *testing.T) {
	for _, backend := range []string{"mysql", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := newSQLEnv(t, backend)
			s := e.open(t, "layout", "ci3", "create_table", "on", "lock_timeout", "30")
			l := s.(handlers.Locker)
			id := storetest.NewID()
			holder, err := l.Lock(tctx(t), id)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			_, err = l.Lock(ctx, id)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Lock with a 300ms context while locked: %v", err)
			}
			if err := holder.Unlock(tctx(t)); err != nil {
				t.Fatal(err)
			}
			ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			lk, err := l.Lock(ctx, id)
			if err != nil {
				t.Fatalf("Lock after the holder released (a cancelled waiter kept it?): %v", err)
			}
			lk.Unlock(ctx)
		})
	}
}

// TestSQLSchemaMismatch: a table of another version is refused at open.
func TestSQLSchemaMismatch(t *testing.T) {
	for _, backend := range []string{"mysql", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := newSQLEnv(t, backend)
			ctx := tctx(t)
			e.open(t, "layout", "ci3", "create_table", "on") // CI3's table
			if _, err := handlers.Open(ctx, e.url("layout", "ci4")); err == nil || !strings.Contains(err.Error(), "timestamp column") {
				t.Errorf("ci4 on a CI3 table: %v", err)
			}
			// CI4 4.0.0-4.1.1 kept CI3's columns, with the bare id.
			s := e.open(t, "layout", "ci4", "ci4_version", "4.1.1")
			id := storetest.NewID()
			if err := s.Write(ctx, &handlers.Record{ID: id, Data: []byte("a|i:1;")}); err != nil {
				t.Fatal(err)
			}
			ci3 := e.open(t, "layout", "ci3")
			if rec, err := ci3.Read(ctx, id); err != nil || string(rec.Data) != "a|i:1;" {
				t.Fatalf("CI3 reading CI4 4.1.1's row: %v", err)
			}
			// 4.1.2-4.2.10: new columns, bare id.
			e.open(t, "layout", "ci4", "table", "ci4new", "create_table", "on")
			old := e.open(t, "layout", "ci4", "table", "ci4new", "ci4_version", "4.2.10")
			cur := e.open(t, "layout", "ci4", "table", "ci4new", "cookie", "app")
			if err := old.Write(ctx, &handlers.Record{ID: id, Data: []byte("b|i:2;")}); err != nil {
				t.Fatal(err)
			}
			if _, err := cur.Read(ctx, id); !errors.Is(err, handlers.ErrNotFound) {
				t.Errorf("4.2.11 (app:%s) found 4.2.10's bare id: %v", id, err)
			}
			n := 0
			old.(handlers.Lister).List(ctx, func(string) error { n++; return nil })
			if n != 1 {
				t.Errorf("List of 4.2.10 ids: %d", n)
			}
			if backend == "postgres" {
				// CI3's base64 is read as PHP's lenient base64_decode does.
				db := e.raw(t)
				if _, err := db.ExecContext(ctx, `INSERT INTO ci_sessions (id, ip_address, "timestamp", data) VALUES ($1, '::1', 0, $2)`, "lenient", "YWJj\nZA=\t\n "); err != nil {
					t.Fatal(err)
				}
				if rec, err := ci3.Read(ctx, "lenient"); err != nil || string(rec.Data) != "abcd" {
					t.Errorf("base64 with newlines: %q %v", rec.Data, err)
				}
			}
		})
	}
}

// TestSQLOptions checks option errors (no server needed: they come first).
func TestSQLOptions(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ url, want string }{
		{"mysql://u:p@127.0.0.1:1/db?layout=ci5", "layout"},
		{"mysql://u:p@127.0.0.1:1/db?tabel=x", `unknown option "tabel"`},
		{"mysql://u:p@127.0.0.1:1/db?table=ci_sessions%3BDROP", "table="},
		{"postgres://u:p@127.0.0.1:1/db?layout=ci3&cookie=x", "cookie="},
		{"postgres://u:p@127.0.0.1:1/db?cookie=a'b", "cookie="},
		{"postgres://u:p@127.0.0.1:1/db?match_ip=on", "match_ip=on needs ip="},
		{"postgres://u:p@127.0.0.1:1/db?ip=localhost", "not an IP"},
		{"postgres://u:p@127.0.0.1:1/db?ci4_version=3.1", "ci4_version="},
		{"postgres://u:p@127.0.0.1:1/db?ci4_version=4.2.10&cookie=x", "cookie= applies"},
		{"mysql://u:p@127.0.0.1:1/?layout=ci3", "database name"},
		{"mysql://u:secretpw@127.0.0.1:1/db?tls=bogus", "tls="},
	} {
		_, err := handlers.Open(ctx, c.url)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "secretpw") {
			t.Errorf("Open(%s) = %v, want an error about %s", c.url, err, c.want)
		}
	}
}

// ------------------------------------------------------------- benchmarks --

func benchSQL(b *testing.B, backend string, put bool) {
	e := newSQLEnv(b, backend)
	ctx := context.Background()
	data := bytes.Repeat([]byte("k|s:3:\"abc\";"), 40)
	for _, lock := range []string{"on", "off"} {
		if !put && lock == "off" {
			continue
		}
		name := "phpsess" // Read takes no lock
		if put {
			name += "/lock=" + lock
		}
		b.Run(name, func(b *testing.B) {
			s := e.open(b, "layout", "ci4", "create_table", "on", "lock", lock)
			id := storetest.NewID()
			if err := s.Write(ctx, &handlers.Record{ID: id, Data: data}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				var err error
				if put {
					err = s.Write(ctx, &handlers.Record{ID: id, Data: data})
				} else {
					_, err = s.Read(ctx, id)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("raw", func(b *testing.B) {
		e.open(b, "layout", "ci4", "create_table", "on")
		db := e.raw(b)
		id := "ci_session:" + storetest.NewID()
		upsert := "INSERT INTO `ci_sessions` (`id`, `ip_address`, `timestamp`, `data`) VALUES (?, '0.0.0.0', now(), ?) ON DUPLICATE KEY UPDATE `timestamp` = now(), `data` = VALUES(`data`)"
		if backend == "postgres" {
			upsert = `INSERT INTO ci_sessions (id, ip_address, "timestamp", data) VALUES ($1, '0.0.0.0', now(), $2) ON CONFLICT (id) DO UPDATE SET "timestamp" = now(), data = excluded.data`
		}
		sel := e.rewrite("SELECT `data` FROM `ci_sessions` WHERE `id` = ?")
		if _, err := db.ExecContext(ctx, upsert, id, data); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for b.Loop() {
			var err error
			if put {
				_, err = db.ExecContext(ctx, upsert, id, data)
			} else {
				var got []byte
				err = db.QueryRowContext(ctx, sel, id).Scan(&got)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSQLMySQLGet(b *testing.B)    { benchSQL(b, "mysql", false) }
func BenchmarkSQLMySQLPut(b *testing.B)    { benchSQL(b, "mysql", true) }
func BenchmarkSQLPostgresGet(b *testing.B) { benchSQL(b, "postgres", false) }
func BenchmarkSQLPostgresPut(b *testing.B) { benchSQL(b, "postgres", true) }
