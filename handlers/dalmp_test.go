package handlers_test

import (
	"bytes"
	"crypto/sha1"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/handlers/storetest"
	"github.com/phpsess/phpsess/internal/testenv"
	"github.com/phpsess/phpsess/phpserialize"
)

// dalmpSessionsKey is the DALMP_SESSIONS_KEY the tests' PHP side and stores
// share: the salt of the cache backends' reference index.
const dalmpSessionsKey = "/srv/app/vendor/dalmp/dalmp/src/DALMP/Sessions/Redis.php"

// ------------------------------------------------------------ conformance --

func TestDALMPConformance(t *testing.T) {
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		addr := testenv.Redis(t)
		storetest.Run(t, storetest.Config{
			Open: func(t *testing.T, extra url.Values) handlers.Store {
				return openStore(t, fmt.Sprintf("redis://%s/9?%s", addr, dalmpQuery(extra)))
			},
			Expires:     true,
			SkipLocking: true,
		})
	})
	t.Run("file", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		storetest.Run(t, storetest.Config{
			Open: func(t *testing.T, extra url.Values) handlers.Store {
				return openStore(t, "file://"+dir+"?"+dalmpWith(extra, "layout", "dalmp").Encode())
			},
			SkipLocking: true,
		})
	})
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		db := filepath.Join(t.TempDir(), "dalmp_sessions.db")
		storetest.Run(t, storetest.Config{
			Open: func(t *testing.T, extra url.Values) handlers.Store {
				extra = dalmpWith(dalmpWith(extra, "create_table", "on"), "layout", "dalmp")
				return openStore(t, "sqlite://"+db+"?"+extra.Encode())
			},
			Expires:     true,
			SkipLocking: true,
		})
	})
	t.Run("mysql", func(t *testing.T) {
		t.Parallel()
		// DALMP's documented table keeps data in a utf8 column, which
		// cannot hold the suite's non-UTF-8 payload (TestDALMPMySQLCharset);
		// the same table with a binary data column holds any.
		e := newSQLEnv(t, "mysql")
		if _, err := e.raw(t).ExecContext(tctx(t), dalmpMySQLBlobDDL); err != nil {
			t.Fatal(err)
		}
		storetest.Run(t, storetest.Config{
			Open: func(t *testing.T, extra url.Values) handlers.Store {
				kv := []string{"layout", "dalmp"}
				for k, v := range extra {
					kv = append(kv, k, v[0])
				}
				return e.open(t, kv...)
			},
			Expires:     true,
			SkipLocking: true,
		})
	})
	for _, scheme := range []string{"memcache", "memcached"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			c := mcConformance(t, scheme+"://"+testenv.Memcached(t)+"?"+dalmpQuery(nil), nil)
			c.SkipLocking = true
			storetest.Run(t, c)
		})
	}
}

// dalmpMySQLBlobDDL is DALMP's documented table with a binary data column.
const dalmpMySQLBlobDDL = "CREATE TABLE `dalmp_sessions` (\n" +
	"  `sid` varchar(128) CHARACTER SET utf8 COLLATE utf8_bin NOT NULL DEFAULT '',\n" +
	"  `expiry` int(11) unsigned NOT NULL DEFAULT '0',\n" +
	"  `data` longblob,\n" +
	"  `ref` varchar(255) DEFAULT NULL,\n" +
	"  `ts` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,\n" +
	"  PRIMARY KEY (`sid`),\n" +
	"  KEY `index` (`ref`,`sid`,`expiry`)\n" +
	") DEFAULT CHARSET=utf8"

// dalmpWith returns extra with one more option.
func dalmpWith(extra url.Values, k, v string) url.Values {
	q := url.Values{k: {v}}
	for kk, vv := range extra {
		q[kk] = vv
	}
	return q
}

// dalmpQuery is the query of a DALMP store URL with extra options.
func dalmpQuery(extra url.Values) string {
	q := url.Values{"layout": {"dalmp"}, "sessions_key": {dalmpSessionsKey}}
	for k, v := range extra {
		q[k] = v
	}
	return q.Encode()
}

// --------------------------------------------------------------- PHP side --

// dalmpPHP runs testdata/dalmp/dalmp.php, which replays DALMP's session
// handlers, against one backend.
type dalmpPHP struct {
	php, script string
	conf        map[string]any
}

// dalmpOut is what dalmp.php prints.
type dalmpOut struct {
	Before []byte          `json:"before"`
	After  []byte          `json:"after"`
	Data   []byte          `json:"data"`
	Found  bool            `json:"found"`
	OK     bool            `json:"ok"`
	Refs   json.RawMessage `json:"refs"`
	stderr string
}

func newDALMPPHP(t *testing.T, conf map[string]any) *dalmpPHP {
	t.Helper()
	script, err := filepath.Abs("testdata/dalmp/dalmp.php")
	if err != nil {
		t.Fatal(err)
	}
	return &dalmpPHP{php: testenv.PHP(t), script: script, conf: conf}
}

// run runs one operation (request, write, read, destroy, refs, ref, delref)
// with extra config pairs. PHP warnings are kept in the result's stderr.
func (p *dalmpPHP) run(t *testing.T, op string, kv ...any) dalmpOut {
	t.Helper()
	conf := map[string]any{"op": op}
	maps.Copy(conf, p.conf)
	for i := 0; i+1 < len(kv); i += 2 {
		conf[kv[i].(string)] = kv[i+1]
	}
	arg, _ := json.Marshal(conf)
	cmd := exec.CommandContext(tctx(t), p.php, "-d", "display_errors=stderr", "-d", "error_reporting=E_ALL & ~E_DEPRECATED",
		"-d", "session.gc_maxlifetime=1440", "-d", "session.serialize_handler=php", "-d", "session.use_cookies=0",
		"-d", "session.cache_limiter=", "-d", "session.use_strict_mode=0", p.script, string(arg))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("php dalmp.php %s: %v\n%s%s", op, err, stderr.Bytes(), out)
	}
	var o dalmpOut
	if err := json.Unmarshal(out, &o); err != nil {
		t.Fatalf("php dalmp.php %s: %v: %s\n%s", op, err, out, stderr.Bytes())
	}
	o.stderr = stderr.String()
	return o
}

// refs decodes getSessionsRefs/getSessionRef: {session: {ref: expiry}}.
func (o dalmpOut) refs(t *testing.T) map[string]map[string]any {
	t.Helper()
	m := map[string]map[string]any{}
	if len(o.Refs) == 0 || string(o.Refs) == "[]" || string(o.Refs) == "false" {
		return m
	}
	if err := json.Unmarshal(o.Refs, &m); err != nil {
		t.Fatalf("refs %s: %v", o.Refs, err)
	}
	return m
}

// dalmpBackend is one DALMP backend under test: the Go store, the PHP side
// and how sessions are named in reference lists.
type dalmpBackend struct {
	store handlers.Store
	php   *dalmpPHP
	// session names an id as the backend's reference lists do
	session func(id string) string
	// raw returns what the backend stores for id, for byte comparisons,
	// with the parts that depend on the second of the write (expiry)
	// returned apart
	raw func(t *testing.T, id string) (stored string, expiry int64)
	// sqlRef: the backend stores NULL for a write without reference (the
	// SQL tables); the caches keep the last index entry
	sqlRef bool
}

func dalmpKey(id string) string { return handlers.DALMPCacheKey("UID", id) }

// dalmpNumber reads a number PHP printed in JSON as an int or a string.
func dalmpNumber(v any) int64 {
	switch x := v.(type) {
	case float64:
		return int64(x)
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

// dalmpBackends sets up each backend with references, by name.
func dalmpBackends() map[string]func(t *testing.T) dalmpBackend {
	return map[string]func(t *testing.T) dalmpBackend{
		"redis": func(t *testing.T) dalmpBackend {
			addr := testenv.Redis(t)
			host, port, _ := net.SplitHostPort(addr)
			c := rawRedis(t, addr, 0)
			index := dalmpIndexKey()
			return dalmpBackend{
				store:   openStore(t, "redis://"+addr+"/0?"+dalmpQuery(nil)),
				php:     newDALMPPHP(t, map[string]any{"backend": "redis", "host": host, "port": port, "sessions_key": dalmpSessionsKey}),
				session: dalmpKey,
				raw: func(t *testing.T, id string) (string, int64) {
					v := redisMustGet(t, c, dalmpKey(id))
					ttl := c.TTL(tctx(t), dalmpKey(id)).Val()
					field, _ := c.HGet(tctx(t), index, dalmpKey(id)).Result()
					ref, exp, _ := strings.Cut(field, "|")
					n, _ := strconv.ParseInt(exp, 10, 64)
					return fmt.Sprintf("value %q ttl~%d ref %q", v, (ttl+30*time.Second)/time.Minute, ref), n
				},
			}
		},
		"memcache": func(t *testing.T) dalmpBackend {
			addr := testenv.Memcached(t)
			host, port, _ := net.SplitHostPort(addr)
			c := mcRaw(addr)
			index := dalmpIndexKey()
			return dalmpBackend{
				store:   openStore(t, "memcache://"+addr+"?"+dalmpQuery(nil)),
				php:     newDALMPPHP(t, map[string]any{"backend": "memcache", "host": host, "port": port, "sessions_key": dalmpSessionsKey}),
				session: dalmpKey,
				raw: func(t *testing.T, id string) (string, int64) {
					it := mcMustGet(t, c, dalmpKey(id))
					idx, err := phpserialize.Decode(mcMustGet(t, c, index).Value)
					if err != nil {
						t.Fatal(err)
					}
					e, _ := idx.Array().Get(phpserialize.StringKey(dalmpKey(id)))
					entry := e.Array().Entries()[0]
					ttl := mcTTL(t, addr, dalmpKey(id))
					return fmt.Sprintf("value %q flags %d ttl~%d ref key %v %q expiry kind %v", it.Value, it.Flags, (ttl+30)/60,
						entry.Key.IsInt(), entry.Key.String(), entry.Value.Kind()), entry.Value.Int()
				},
			}
		},
		"sqlite": func(t *testing.T) dalmpBackend {
			path := filepath.Join(t.TempDir(), "dalmp_sessions.db")
			s := openStore(t, "sqlite://"+path+"?layout=dalmp&create_table=on")
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return dalmpBackend{
				store: s, sqlRef: true,
				php:     newDALMPPHP(t, map[string]any{"backend": "sqlite", "db": path}),
				session: func(id string) string { return id },
				raw: func(t *testing.T, id string) (string, int64) {
					var typ, rtyp, data string
					var ref sql.NullString
					var exp int64
					err := db.QueryRowContext(tctx(t), "SELECT typeof(data), data, typeof(ref), ref, typeof(expiry), expiry FROM dalmp_sessions WHERE sid = ?", id).
						Scan(&typ, &data, &rtyp, &ref, new(string), &exp)
					if err != nil {
						t.Fatal(err)
					}
					return fmt.Sprintf("data %s %q ref %s %q", typ, data, rtyp, ref.String), exp
				},
			}
		},
		"mysql": func(t *testing.T) dalmpBackend {
			e := newSQLEnv(t, "mysql")
			s := e.open(t, "layout", "dalmp", "create_table", "on")
			db := e.raw(t)
			return dalmpBackend{
				store: s, sqlRef: true,
				php: newDALMPPHP(t, map[string]any{"backend": "mysql", "host": e.host, "port": e.port,
					"user": e.user, "pass": e.pass, "name": e.db}),
				session: func(id string) string { return id },
				raw: func(t *testing.T, id string) (string, int64) {
					var data string
					var ref sql.NullString
					var exp int64
					err := db.QueryRowContext(tctx(t), "SELECT HEX(data), ref, expiry FROM dalmp_sessions WHERE sid = ?", id).Scan(&data, &ref, &exp)
					if err != nil {
						t.Fatal(err)
					}
					return fmt.Sprintf("data %s ref %v %q", data, ref.Valid, ref.String), exp
				},
			}
		},
	}
}

// dalmpIndexKey is the reference index key of dalmpSessionsKey, computed
// here as DALMP does it: sprintf('DALMP_REF_%s', sha1('UID' . $key)).
func dalmpIndexKey() string { return "DALMP_REF_" + dalmpSHA1("UID"+dalmpSessionsKey) }

// TestDALMPPHPInterop runs DALMP's handlers (testdata/dalmp/dalmp.php) and
// phpsess on the same backend: each reads the other's sessions and
// references, both store the same bytes, and phpsess's DestroyRef removes
// exactly the sessions PHP's getSessionRef names, after which PHP starts
// those sessions afresh.
func TestDALMPPHPInterop(t *testing.T) {
	for name, setup := range dalmpBackends() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testDALMPInterop(t, setup(t))
		})
	}
}

func testDALMPInterop(t *testing.T, b dalmpBackend) {
	ctx := tctx(t)
	s := b.store
	refs := s.(handlers.Referencer)
	ref := "37" + strconv.Itoa(rand.IntN(1e6)) // numeric: an int key in PHP arrays
	other := "team-" + strconv.Itoa(rand.IntN(1e6))
	idA, idB, idC := storetest.NewID(), storetest.NewID(), storetest.NewID()

	// PHP writes A with a reference: Go reads the data and the reference.
	out := b.php.run(t, "request", "id", idA, "ref", ref, "set", map[string]any{"user": "ann", "n": 1})
	rec, err := s.Read(ctx, idA)
	if err != nil {
		t.Fatalf("Go reads PHP's session: %v", err)
	}
	if !bytes.Equal(rec.Data, out.After) || rec.Meta.Ref != ref {
		t.Fatalf("Go read %q ref %q, PHP wrote %q ref %q", rec.Data, rec.Meta.Ref, out.After, ref)
	}
	if rec.TTL < 1430*time.Second || rec.TTL > 1440*time.Second {
		t.Errorf("TTL of PHP's session = %v, want about 1440s", rec.TTL)
	}
	got, err := refs.SessionsByRef(ctx, ref)
	if err != nil || !slices.Equal(got, []string{b.session(idA)}) {
		t.Fatalf("SessionsByRef(%s) = %v, %v; want [%s]", ref, got, err, b.session(idA))
	}

	// Go writes B with the same reference and C with another: PHP finds
	// B by the reference and reads what Go wrote.
	data := []byte(`user|s:3:"bob";n|i:2;`)
	for _, r := range []*handlers.Record{{ID: idB, Data: data, Meta: handlers.Meta{Ref: ref}}, {ID: idC, Data: data, Meta: handlers.Meta{Ref: other}}} {
		if err := s.Write(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	found := b.php.run(t, "ref", "find", ref).refs(t)
	if len(found) != 2 || found[b.session(idA)] == nil || found[b.session(idB)] == nil {
		t.Fatalf("PHP getSessionRef(%s) = %v, want %s and %s", ref, found, b.session(idA), b.session(idB))
	}
	for r, exp := range found[b.session(idB)] {
		if e := dalmpNumber(exp); r != ref || math.Abs(float64(e-time.Now().Unix()-1440)) > 3 {
			t.Errorf("PHP sees Go's session with ref %q expiry %v, want %s and now+1440", r, exp, ref)
		}
	}
	if all := b.php.run(t, "refs").refs(t); len(all) != 3 {
		t.Errorf("PHP getSessionsRefs = %v, want 3 sessions", all)
	}
	// (with the global set: a request without it would clear B's
	// reference in the SQL tables, as tested below)
	if out := b.php.run(t, "request", "id", idB, "ref", ref); !bytes.Equal(out.Before, data) {
		t.Fatalf("PHP read Go's session as %q, want %q", out.Before, data)
	}
	var goRefs []handlers.RefEntry
	if err := refs.Refs(ctx, func(e handlers.RefEntry) error { goRefs = append(goRefs, e); return nil }); err != nil || len(goRefs) != 3 {
		t.Fatalf("Refs = %v, %v; want 3 entries", goRefs, err)
	}

	// The same payload and reference, written by PHP and by Go, is stored
	// alike, byte for byte but the second of the expiry.
	payload := []byte("a|s:5:\"x\"\x00y;\";b|s:4:\"zo\xc3\xab\";")
	idP, idG := storetest.NewID(), storetest.NewID()
	if o := b.php.run(t, "write", "id", idP, "ref", ref, "data", base64.StdEncoding.EncodeToString(payload)); !o.OK {
		t.Fatalf("PHP write failed: %s", o.stderr)
	}
	if err := s.Write(ctx, &handlers.Record{ID: idG, Data: payload, Meta: handlers.Meta{Ref: ref}}); err != nil {
		t.Fatal(err)
	}
	rawP, expP := b.raw(t, idP)
	rawG, expG := b.raw(t, idG)
	if rawP != rawG || expG-expP < 0 || expG-expP > 2 {
		t.Errorf("stored differently:\nPHP %s expiry %d\nGo  %s expiry %d", rawP, expP, rawG, expG)
	}

	// DestroyRef deletes exactly the sessions with the reference.
	n, err := refs.DestroyRef(ctx, ref)
	if err != nil || n != 4 {
		t.Fatalf("DestroyRef(%s) = %d, %v; want 4", ref, n, err)
	}
	for _, id := range []string{idA, idB, idP, idG} {
		if _, err := s.Read(ctx, id); !errors.Is(err, handlers.ErrNotFound) {
			t.Errorf("Read(%s) after DestroyRef: %v, want ErrNotFound", id, err)
		}
	}
	if found := b.php.run(t, "ref", "find", ref).refs(t); len(found) != 0 {
		t.Errorf("PHP getSessionRef after DestroyRef = %v", found)
	}
	if out := b.php.run(t, "request", "id", idA); len(out.Before) != 0 {
		t.Errorf("PHP's next request on a deleted session read %q, want a fresh session", out.Before)
	}
	if rec, err := s.Read(ctx, idC); err != nil || rec.Meta.Ref != other {
		t.Fatalf("the session with another reference: %v, %v", rec, err)
	}

	// A PHP request without the global: the SQL tables store NULL, the
	// caches keep the last index entry.
	b.php.run(t, "request", "id", idC, "set", map[string]any{"seen": true})
	rec, err = s.Read(ctx, idC)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[bool]string{true: "", false: other}[b.sqlRef]; rec.Meta.Ref != want {
		t.Errorf("after a PHP request without reference, Meta.Ref = %q, want %q", rec.Meta.Ref, want)
	}
	// and so does a Go write without reference
	if err := s.Write(ctx, &handlers.Record{ID: idC, Data: rec.Data}); err != nil {
		t.Fatal(err)
	}
	if n, err := refs.DestroyRef(ctx, other); err != nil || n != map[bool]int{true: 0, false: 1}[b.sqlRef] {
		t.Errorf("DestroyRef(%s) after writes without reference = %d, %v", other, n, err)
	}
}

// TestDALMPFilesPHP runs DALMP's Files handler and phpsess on one directory
// (DALMP's intended one: stock 3.1.0 writes below "/", see files_dalmp.go).
func TestDALMPFilesPHP(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, "file://"+dir+"?layout=dalmp")
	php := newDALMPPHP(t, map[string]any{"backend": "file", "dir": dir})
	ctx := tctx(t)
	idA, idB := storetest.NewID(), storetest.NewID()

	out := php.run(t, "request", "id", idA, "ref", "37", "set", map[string]any{"user": "ann"})
	path := filepath.Join(dir, idA[0:2], idA[2:4], idA[4:6], idA+".sess")
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, out.After) {
		t.Fatalf("PHP's file %s: %q, %v; want %q", path, b, err, out.After)
	}
	rec, err := s.Read(ctx, idA)
	if err != nil || !bytes.Equal(rec.Data, out.After) || rec.Meta.Ref != "" || rec.TTL != 0 {
		t.Fatalf("Go reads PHP's session: %+v, %v", rec, err)
	}
	if _, ok := s.(handlers.Referencer); ok {
		t.Error("DALMP's Files backend keeps no references, yet the store is a Referencer")
	}

	data := []byte(`user|s:3:"bob";`)
	if err := s.Write(ctx, &handlers.Record{ID: idB, Data: data, Meta: handlers.Meta{Ref: "37"}}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{idB[0:2], idB[0:2] + "/" + idB[2:4], idB[0:2] + "/" + idB[2:4] + "/" + idB[4:6]} {
		if fi, err := os.Stat(filepath.Join(dir, d)); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("directory %s: %v, %v; want mode 0700 as DALMP makes it", d, fi.Mode(), err)
		}
	}
	if out := php.run(t, "request", "id", idB, "set", map[string]any{"php": 1}); !bytes.Equal(out.Before, data) {
		t.Fatalf("PHP read Go's session as %q", out.Before)
	}
	ids := map[string]bool{}
	if err := s.(handlers.Lister).List(ctx, func(id string) error { ids[id] = true; return nil }); err != nil || len(ids) != 2 || !ids[idA] || !ids[idB] {
		t.Fatalf("List = %v, %v", ids, err)
	}
	if err := s.Destroy(ctx, idB); err != nil {
		t.Fatal(err)
	}
	if out := php.run(t, "read", "id", idB); out.Found {
		t.Fatalf("PHP still reads the destroyed session: %q", out.Data)
	}
}

// TestDALMPMemcacheCompressed reads what DALMP's Memcache backend stores
// with its compress argument: a zlib value (flags 2) and, once large enough,
// a compressed index (flags 3).
func TestDALMPMemcacheCompressed(t *testing.T) {
	addr := testenv.Memcached(t)
	host, port, _ := net.SplitHostPort(addr)
	key := dalmpSessionsKey + "/compressed"
	s := openStore(t, "memcached://"+addr+"?layout=dalmp&sessions_key="+url.QueryEscape(key))
	php := newDALMPPHP(t, map[string]any{"backend": "memcache", "host": host, "port": port, "sessions_key": key, "compress": true})
	ctx := tctx(t)
	id := storetest.NewID()
	big := strings.Repeat("lorem ipsum ", 3000)
	out := php.run(t, "request", "id", id, "ref", "alice", "set", map[string]any{"text": big})
	if it := mcMustGet(t, mcRaw(addr), dalmpKey(id)); it.Flags != 2 || !bytes.HasPrefix(it.Value, []byte{0x78}) {
		t.Fatalf("PHP stored flags %d %x..., want a zlib value with flags 2", it.Flags, it.Value[:2])
	}
	rec, err := s.Read(ctx, id)
	if err != nil || !bytes.Equal(rec.Data, out.After) || rec.Meta.Ref != "alice" {
		t.Fatalf("Go reads the compressed session: %v (ref %q)", err, rec.Meta.Ref)
	}
	// Go's write is not compressed; PHP reads it
	if err := s.Write(ctx, &handlers.Record{ID: id, Data: []byte(`n|i:1;`), Meta: handlers.Meta{Ref: "alice"}}); err != nil {
		t.Fatal(err)
	}
	if out := php.run(t, "request", "id", id, "ref", "alice"); string(out.Before) != `n|i:1;` {
		t.Fatalf("PHP read %q", out.Before)
	}
	// many references make the index large enough to compress
	for i := range 100 {
		php.run(t, "write", "id", fmt.Sprintf("%s%03d", id[:29], i), "ref", "alice", "data", "")
		if it := mcMustGet(t, mcRaw(addr), "DALMP_REF_"+dalmpSHA1("UID"+key)); it.Flags == 3 {
			break
		}
	}
	if it := mcMustGet(t, mcRaw(addr), "DALMP_REF_"+dalmpSHA1("UID"+key)); it.Flags != 3 {
		t.Fatalf("index flags %d, want 3 (serialized, compressed)", it.Flags)
	}
	got, err := s.(handlers.Referencer).SessionsByRef(ctx, "alice")
	if err != nil || len(got) < 2 || !slices.Contains(got, dalmpKey(id)) {
		t.Fatalf("SessionsByRef on a compressed index: %d sessions, %v", len(got), err)
	}
}

func dalmpSHA1(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestDALMPMySQLCharset: DALMP's documented table keeps data in a utf8
// (utf8mb3) column. What PHP cannot store there, Go refuses before writing.
func TestDALMPMySQLCharset(t *testing.T) {
	e := newSQLEnv(t, "mysql")
	s := e.open(t, "layout", "dalmp", "create_table", "on")
	php := newDALMPPHP(t, map[string]any{"backend": "mysql", "host": e.host, "port": e.port, "user": e.user, "pass": e.pass, "name": e.db})
	ctx := tctx(t)
	for _, bad := range []string{"a|s:1:\"\xff\";", "a|s:4:\"\U0001F600\";"} {
		id := storetest.NewID()
		err := s.Write(ctx, &handlers.Record{ID: id, Data: []byte(bad)})
		if err == nil || !strings.Contains(err.Error(), "utf8") {
			t.Errorf("Write of %q: %v, want a refusal naming utf8", bad, err)
		}
		if _, err := s.Read(ctx, id); !errors.Is(err, handlers.ErrNotFound) {
			t.Errorf("a refused write left a row: %v", err)
		}
		// PHP fails on it too (mysqli throws in strict mode)
		cmd := exec.CommandContext(ctx, php.php, "-d", "session.gc_maxlifetime=1440", php.script,
			fmt.Sprintf(`{"backend":"mysql","host":%q,"port":%q,"user":%q,"pass":%q,"name":%q,"op":"write","id":%q,"data":%q}`,
				e.host, e.port, e.user, e.pass, e.db, id, base64.StdEncoding.EncodeToString([]byte(bad))))
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("PHP stored %q in the utf8 column: %s", bad, out)
		}
	}
	good := []byte("a|s:5:\"zo\xc3\xabl\";")
	id := storetest.NewID()
	if err := s.Write(ctx, &handlers.Record{ID: id, Data: good}); err != nil {
		t.Fatal(err)
	}
	if out := php.run(t, "read", "id", id); !bytes.Equal(out.Data, good) {
		t.Fatalf("PHP read %q, want %q", out.Data, good)
	}
	// the ts column MySQL fills on every write is Record.Modified
	if rec, err := s.Read(ctx, id); err != nil || time.Since(rec.Modified).Abs() > 5*time.Second {
		t.Errorf("Modified = %v, %v; want the time of the write", rec.Modified, err)
	}
}

// TestDALMPRedisRewrite: DALMP's Redis write() answers false when the index
// field already existed (HSET says 0) and then leaves the index's EXPIRE as
// it was; phpsess refreshes it on every write with a reference.
func TestDALMPRedisRewrite(t *testing.T) {
	addr := testenv.Redis(t)
	host, port, _ := net.SplitHostPort(addr)
	php := newDALMPPHP(t, map[string]any{"backend": "redis", "host": host, "port": port, "sessions_key": dalmpSessionsKey + "/rewrite"})
	id := storetest.NewID()
	if o := php.run(t, "write", "id", id, "ref", "7", "data", ""); !o.OK {
		t.Fatal("first write with a reference failed")
	}
	if o := php.run(t, "write", "id", id, "ref", "7", "data", ""); o.OK {
		t.Error("DALMP's second write with the same reference reported success; the spec's HSET-then-EXPIRE holds on rewrites too")
	}
}

func TestDALMPOptions(t *testing.T) {
	dir := t.TempDir()
	redisAddr, mcAddr := testenv.Redis(t), testenv.Memcached(t)
	for _, tc := range []struct{ url, want string }{
		{"file://" + dir + "?layout=dalmp&lock=on", "DALMP takes no locks"},
		{"file://" + dir + "?layout=dalmp&lock_timeout=3", "lock_timeout"},
		{"file://" + dir + "?layout=dalmp&depth=2", `unknown option "depth"`},
		{"redis://" + redisAddr + "?layout=dalmp&ttl=0", "ttl=0s"},
		{"redis://" + redisAddr + "?layout=dalmp&sessions_key=a&ref_index=DALMP_REF_x", "give one"},
		{"redis://" + redisAddr + "?layout=dalmp&ref_index=DALMP_REF_x", "40 hex digits"},
		{"memcache://" + mcAddr + "?layout=dalmp&prefix=x", `unknown option "prefix"`},
		{"sqlite://" + dir + "/none.db?layout=dalmp", "create_table=on"},
		{"sqlite://" + dir + "/x.db?layout=dalmp&create_table=on&table=t", "always uses the table dalmp_sessions"},
		{"sqlite://" + dir + "/x.db?layout=ci4", "want one of dalmp"},
		{"sqlite:relative.db?layout=dalmp", "absolute"},
		{"postgres://u:p@127.0.0.1:1/db?layout=dalmp", "no postgres backend"},
	} {
		s, err := handlers.Open(tctx(t), tc.url)
		if err == nil {
			s.Close()
			t.Errorf("Open(%s) succeeded, want an error with %q", tc.url, tc.want)
		} else if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%s) = %v, want %q", tc.url, err, tc.want)
		}
	}
	// lock=off is accepted; a store without the index key refuses
	// references but serves sessions
	s := openStore(t, "redis://"+redisAddr+"?layout=dalmp&lock=off")
	if s.Info().Locking {
		t.Error("Info().Locking with layout=dalmp")
	}
	ctx := tctx(t)
	id := storetest.NewID()
	if err := s.Write(ctx, &handlers.Record{ID: id, Data: []byte("a|i:1;"), Meta: handlers.Meta{Ref: "9"}}); err == nil || !strings.Contains(err.Error(), "sessions_key=") {
		t.Errorf("Write with a reference and no index key: %v", err)
	}
	if err := s.Write(ctx, &handlers.Record{ID: id, Data: []byte("a|i:1;"), Meta: handlers.Meta{Ref: "0"}}); err != nil {
		t.Errorf(`Write with Ref "0" (empty() in PHP: no reference): %v`, err)
	}
	if _, err := s.(handlers.Referencer).SessionsByRef(ctx, "9"); err == nil {
		t.Error("SessionsByRef without the index key succeeded")
	}
	r := openStore(t, "redis://"+redisAddr+"?"+dalmpQuery(nil))
	if err := r.Write(ctx, &handlers.Record{ID: id, Data: nil, Meta: handlers.Meta{Ref: "a|b"}}); err == nil {
		t.Error("a reference with '|' was written to the Redis index")
	}
}

func TestDALMPCacheKey(t *testing.T) {
	// the key the spec recorded from DALMP itself (section 6.5)
	if got := handlers.DALMPCacheKey("UID", "sid0123456789abcdefghijkl"); got != "DALMP_8ec5c098215b0b012764e34d6f8c99148537ce4b" {
		t.Fatalf("DALMPCacheKey = %s", got)
	}
}

// TestDALMPRefMatching compares which index entries PHP's getSessionRef
// (PHP 8's ==) and Go's SessionsByRef find, for references spelled alike.
func TestDALMPRefMatching(t *testing.T) {
	addr := testenv.Redis(t)
	host, port, _ := net.SplitHostPort(addr)
	key := dalmpSessionsKey + "/matching"
	s := openStore(t, "redis://"+addr+"/0?layout=dalmp&sessions_key="+url.QueryEscape(key))
	php := newDALMPPHP(t, map[string]any{"backend": "redis", "host": host, "port": port, "sessions_key": key})
	ctx := tctx(t)
	for _, ref := range []string{"37", "abc", "1e1", "10", "-5", " 37"} {
		if err := s.Write(ctx, &handlers.Record{ID: storetest.NewID(), Data: []byte("a|i:1;"), Meta: handlers.Meta{Ref: ref}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{"37", "037", "37.0", " 37", "abc", "ABC", "10", "1e1", "-5", "-5.0", "x"} {
		var want []string
		for k := range php.run(t, "ref", "find", q).refs(t) {
			want = append(want, k)
		}
		got, err := s.(handlers.Referencer).SessionsByRef(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("reference %q: Go finds %d sessions, PHP %d", q, len(got), len(want))
		}
	}
}
