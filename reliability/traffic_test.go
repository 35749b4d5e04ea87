package reliability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phpsess/phpsess/cmd"
	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/internal/testenv"
	"github.com/phpsess/phpsess/migrate"
	"github.com/phpsess/phpsess/server"
	"github.com/phpsess/phpsess/session/sessiontest"
)

// backend is a store under test on a dedicated server, with the PHP side
// that shares it.
type backend struct {
	name    string // redis, redis-tls, redis-cluster, memcached, mariadb, postgres, mongodb: the fault's name
	word    string // what the store's errors call it: redis, memcached, mysql, postgres, mongodb
	srv     *testenv.Server
	url     string
	secret  string // a password in url that no error may show
	durable bool   // the data survives a kill of the server
	php     *phpCLI
	// lockless: the layout takes no lock (phpredis' rediscluster handler,
	// the incubator's Mongo adapter), so concurrent read-modify-writes of
	// one session overwrite each other, in PHP as in Go; the traffic
	// serializes its writers to be able to count lost updates.
	lockless bool
	// holds reports whether srv serves session id (a cluster: the master
	// of its slot); nil: srv serves every session.
	holds func(id string) bool
}

// newID returns a fresh session id that b.srv serves, so that a fault of
// b.srv hits it.
func (b *backend) newID() string {
	for {
		if id := newID(); b.holds == nil || b.holds(id) {
			return id
		}
	}
}

// newBackend starts a dedicated server of the kind and returns the store
// URL phpsess uses for it, with locking on and short timeouts, and the
// PHP settings of the same save handler.
func newBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{name: name, word: name}
	switch name {
	case "redis", "redis-tls":
		var s *testenv.Server
		var certs *testenv.TLSCerts
		scheme, tlsQuery := "tcp://", ""
		if name == "redis" {
			s = testenv.NewRedis(t)
		} else {
			// a TLS-only server, verified against its CA (tls_ca=; PHP:
			// phpredis' tls:// with openssl.cafile)
			certs = testenv.NewTLSCerts(t)
			s = testenv.NewRedisTLS(t, certs)
			b.word, scheme, tlsQuery = "redis", "tls://", "&tls_ca="+url.QueryEscape(certs.CAFile)
		}
		b.srv = s
		b.url = s.URL + "/0?lock=on&timeout=500ms&lock_timeout=2s&lock_expire=5s" + tlsQuery
		b.php = newPHP(t, map[string]string{
			"session.save_handler":          "redis",
			"session.save_path":             scheme + s.Addr + "?timeout=2",
			"redis.session.locking_enabled": "1",
			"redis.session.lock_expire":     "5",
			"redis.session.lock_wait_time":  "20000",
			"redis.session.lock_retries":    "250",
		}, nil)
		if certs != nil {
			b.php.ini["openssl.cafile"] = certs.CAFile
		}
	case "redis-cluster":
		// three masters, no replicas; srv is the first, and b.newID picks
		// sessions whose slot it serves
		nodes := testenv.NewRedisCluster(t)
		var addrs, seeds []string
		for _, n := range nodes {
			addrs, seeds = append(addrs, n.Addr), append(seeds, "seed[]="+n.Addr)
		}
		b.srv, b.word, b.lockless = nodes[0], "redis", true
		b.url = "redis+cluster://" + strings.Join(addrs, ",") + "?layout=native&timeout=500ms"
		raw := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
		t.Cleanup(func() { raw.Close() })
		b.holds = func(id string) bool {
			m, err := raw.MasterForKey(ctxFor(t, 10*time.Second), "PHPREDIS_CLUSTER_SESSION:"+id)
			if err != nil {
				t.Fatalf("the master of a session's slot: %v", err)
			}
			return m.Options().Addr == b.srv.Addr
		}
		b.php = newPHP(t, map[string]string{
			"session.save_handler": "rediscluster",
			"session.save_path":    strings.Join(seeds, "&") + "&timeout=2&read_timeout=2",
		}, nil)
	case "memcached":
		s := testenv.NewMemcached(t)
		b.srv = s
		b.url = "memcached://" + s.Addr + "?timeout=500ms&lock_timeout=2s&lock_expire=5s"
		b.php = newPHP(t, map[string]string{
			"session.save_handler":         "memcached",
			"session.save_path":            s.Addr,
			"memcached.sess_locking":       "1",
			"memcached.sess_lock_expire":   "5",
			"memcached.sess_lock_wait_min": "20",
			"memcached.sess_lock_wait_max": "50",
			"memcached.sess_lock_retries":  "100",
		}, nil)
	case "mariadb":
		m := testenv.NewMariaDB(t)
		b.srv, b.word, b.secret, b.durable = m.Server, "mysql", m.Password, true
		b.url = m.URL() + "?layout=ci4&create_table=on&lock_timeout=5s"
		host, port, _ := net.SplitHostPort(m.Addr)
		b.php = newPHP(t, nil, map[string]any{"handler": "ci4", "db": "mysql", "host": host, "port": port,
			"user": m.User, "pass": m.Password, "name": m.DB})
	case "postgres":
		p := testenv.NewPostgres(t)
		b.srv, b.secret, b.durable = p.Server, p.Password, true
		b.url = p.URL() + "?layout=ci4&create_table=on&sslmode=disable&lock_timeout=5s"
		host, port, _ := net.SplitHostPort(p.Addr)
		b.php = newPHP(t, nil, map[string]any{"handler": "ci4", "db": "postgres", "host": host, "port": port,
			"user": p.User, "pass": p.Password, "name": p.DB})
	case "mongodb":
		// FerretDB v1 keeps its data in SQLite inside its own process:
		// killing it is killing the whole server, and what it
		// acknowledged is committed to the SQLite files
		s := testenv.NewFerretDB(t)
		b.srv, b.durable, b.lockless = s, true, true
		b.url = s.URL + "phpsess?layout=incubator&timeout=500ms"
		b.php = newPHP(t, nil, map[string]any{"handler": "incubator-mongo", "uri": s.URL, "db": "phpsess", "collection": "session_data"})
	default:
		t.Fatalf("no backend %q", name)
	}
	return b
}

// The kinds of traffic, each a way phpsess enters a store.
const (
	opPut     = "put"     // handlers.Update from Go: a locked read-modify-write
	opServe   = "serve"   // PATCH through server.New (phpsess serve)
	opGet     = "get"     // `phpsess get` (cmd.Execute), which opens the store itself
	opMigrate = "migrate" // migrate.Run from a files store into the store
)

// opKinds lists every kind of traffic.
func opKinds() []string { return []string{opPut, opServe, opGet, opMigrate} }

// tally counts what the traffic saw, by kind and by error class.
type tally struct {
	mu       sync.Mutex
	ok       map[string]int
	errs     map[string]int // "kind/class"
	bad      []string       // errors that are not clear, or data that is not whole
	restored time.Time      // when the server was back; zero before
	firstOK  map[string]time.Duration
	samples  map[string]string // one message per error class, for the log
}

func newTally() *tally {
	return &tally{ok: map[string]int{}, errs: map[string]int{}, firstOK: map[string]time.Duration{}, samples: map[string]string{}}
}

func (ta *tally) success(kind string) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	ta.ok[kind]++
	if !ta.restored.IsZero() {
		if _, seen := ta.firstOK[kind]; !seen {
			ta.firstOK[kind] = time.Since(ta.restored)
		}
	}
}

func (ta *tally) failure(kind, class, msg string) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	ta.errs[kind+"/"+class]++
	if _, ok := ta.samples[kind+"/"+class]; !ok {
		ta.samples[kind+"/"+class] = msg
	}
}

func (ta *tally) unclear(format string, args ...any) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	if len(ta.bad) < 20 {
		ta.bad = append(ta.bad, fmt.Sprintf(format, args...))
	}
}

func (ta *tally) markRestored() {
	ta.mu.Lock()
	ta.restored = time.Now()
	ta.mu.Unlock()
}

// errorCount is the number of errors of every kind.
func (ta *tally) errorCount() int {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	n := 0
	for _, c := range ta.errs {
		n += c
	}
	return n
}

func (ta *tally) opCount() int {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	n := 0
	for _, c := range ta.ok {
		n += c
	}
	for _, c := range ta.errs {
		n += c
	}
	return n
}

// recovery is the longest time from the server's return to the first
// success of a kind; ok is false if a kind never succeeded.
func (ta *tally) recovery() (time.Duration, bool) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	var max time.Duration
	for _, k := range opKinds() {
		d, ok := ta.firstOK[k]
		if !ok {
			return 0, false
		}
		max = maxDur(max, d)
	}
	return max, true
}

func maxDur(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

func (ta *tally) summary() string {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	var parts []string
	for k, n := range ta.ok {
		parts = append(parts, fmt.Sprintf("%s ok %d", k, n))
	}
	for k, n := range ta.errs {
		parts = append(parts, fmt.Sprintf("%s %d (e.g. %.160s)", k, n, ta.samples[k]))
	}
	sort.Strings(parts)
	return strings.Join(parts, "\n  ")
}

// classify names the class of a store error, or "" if the error is not a
// clear one: it must name the backend, and never the password, nor show
// a session that does not decode.
func classify(err error, b *backend) (string, bool) {
	msg := err.Error()
	low := strings.ToLower(msg)
	switch {
	case b.secret != "" && strings.Contains(msg, b.secret):
		return "leaks-password", false
	case strings.Contains(low, "panic"), strings.Contains(low, "phpserialize"):
		return "corrupt", false
	case errors.Is(err, handlers.ErrLockTimeout):
		return "lock_timeout", true
	case errors.Is(err, handlers.ErrNotFound):
		return "not_found", true
	case !strings.Contains(low, b.word):
		return "anonymous", false
	}
	for _, c := range []string{"refused", "reset", "broken pipe", "eof", "timeout", "deadline", "closed", "bad connection",
		"shutting down", "starting up", "recovery", "terminating", "no connection", "unexpected", "invalid connection",
		"not yet accepting", "failed to connect"} {
		if strings.Contains(low, c) {
			return "unavailable", true
		}
	}
	return "other", true
}

// traffic is mixed get/put/migrate/serve load on one session of a store.
type traffic struct {
	t   *testing.T
	b   *backend
	st  handlers.Store
	api string // base URL of server.New over st
	id  string // the shared session
	src handlers.Store
	ta  *tally

	// per worker: acknowledged and attempted increments of its variable
	putAck, putTry     [2]atomic.Int64
	serveAck, serveTry [2]atomic.Int64

	writeMu sync.Mutex // one writer at a time on a lockless store
}

// serialize takes writeMu on a lockless store (see backend.lockless) and
// returns its release.
func (tr *traffic) serialize() func() {
	if !tr.b.lockless {
		return func() {}
	}
	tr.writeMu.Lock()
	return tr.writeMu.Unlock
}

// newTraffic opens the store (and a files store with 10 sessions to
// migrate from) and serves it over HTTP in-process.
func newTraffic(t *testing.T, b *backend, id string) *traffic {
	tr := &traffic{t: t, b: b, st: open(t, b.url), id: id, ta: newTally()}
	srv, err := server.New(server.Config{Store: tr.st})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	tr.api = hs.URL
	srcURL, _ := sessiontest.FileURL(t, "")
	tr.src = open(t, srcURL)
	ctx := ctxFor(t, time.Minute)
	for i := 0; i < 10; i++ {
		id := fmt.Sprintf("m%031d", i)
		if err := tr.src.Write(ctx, &handlers.Record{ID: id, Data: encode(t, fmt.Sprintf(`{"m":%d,"pad":"%s"}`, i, strings.Repeat("x", 200)))}); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

// run drives the traffic until ctx ends: two Go writers, two HTTP
// writers, one `phpsess get` and one migration at a time.
func (tr *traffic) run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Go(func() { tr.loop(ctx, func() { tr.put(i) }) })
		wg.Go(func() { tr.loop(ctx, func() { tr.serve(i) }) })
	}
	wg.Go(func() { tr.loop(ctx, tr.get) })
	wg.Go(func() { tr.loop(ctx, tr.migrate) })
	wg.Wait()
}

func (tr *traffic) loop(ctx context.Context, op func()) {
	for ctx.Err() == nil {
		before := tr.ta.errorCount()
		op()
		d := 3 * time.Millisecond
		if tr.ta.errorCount() > before {
			d = 50 * time.Millisecond // a store that is down answers at once: do not spin
		}
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
}

// opCtx bounds one operation: the traffic's end does not cut it short (an
// operation cut by the test's own deadline would be counted as an error).
func opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 20*time.Second)
}

// put increments variable g<i> with a locked read-modify-write.
func (tr *traffic) put(i int) {
	ctx, cancel := opCtx()
	defer cancel()
	key := fmt.Sprintf("g%d", i)
	defer tr.serialize()()
	tr.putTry[i].Add(1)
	err := handlers.Update(ctx, tr.st, tr.id, func(rec *handlers.Record) error {
		sess, err := decodeOrEmpty(rec.Data)
		if err != nil {
			tr.ta.unclear("put: the stored session does not decode: %v", err)
			return err
		}
		v, _ := sess.Lookup(key)
		setInt(sess, key, v.Int()+1)
		rec.Data, err = encodeSess(sess)
		return err
	})
	if err == nil {
		tr.putAck[i].Add(1)
		tr.ta.success(opPut)
		return
	}
	class, clear := classify(err, tr.b)
	if !clear {
		tr.ta.unclear("put: %s error: %v", class, err)
	}
	tr.ta.failure(opPut, class, err.Error())
}

// serve sets variable h<i> to its own count + 1 through the HTTP API: a
// single writer per variable, so the stored value is the acknowledged
// count, or one more when the last PATCH was applied but not answered.
func (tr *traffic) serve(i int) {
	ctx, cancel := opCtx()
	defer cancel()
	defer tr.serialize()()
	n := tr.serveAck[i].Load() + 1
	tr.serveTry[i].Add(1)
	body := fmt.Sprintf(`{"set":{"h%d":%d}}`, i, n)
	req, _ := http.NewRequestWithContext(ctx, "PATCH", tr.api+"/v1/sessions/"+tr.id, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tr.ta.unclear("serve: no answer: %v", err)
		tr.ta.failure(opServe, "no_answer", err.Error())
		return
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct{ Error, Code string }
	json.Unmarshal(b, &e)
	switch {
	case resp.StatusCode == 200:
		tr.serveAck[i].Store(n)
		tr.ta.success(opServe)
		return
	case tr.b.secret != "" && bytes.Contains(b, []byte(tr.b.secret)):
		tr.ta.unclear("serve: %d answer shows the password: %s", resp.StatusCode, b)
	case resp.StatusCode == 503 && e.Code == "store_error", resp.StatusCode == 423 && e.Code == "lock_timeout":
	default:
		tr.ta.unclear("serve: PATCH answered %d %s", resp.StatusCode, b)
	}
	tr.ta.failure(opServe, fmt.Sprintf("%d_%s", resp.StatusCode, e.Code), e.Error)
}

// get runs `phpsess get STORE ID` in-process.
func (tr *traffic) get() {
	var stdout, stderr bytes.Buffer
	code := cmd.Execute([]string{"get", tr.b.url, tr.id}, strings.NewReader(""), &stdout, &stderr)
	msg := strings.TrimSpace(stderr.String())
	switch {
	case code == cmd.ExitOK:
		var m map[string]any
		if err := json.Unmarshal(stdout.Bytes(), &m); err != nil {
			tr.ta.unclear("get: exit 0 but the output is not JSON: %q", stdout.Bytes())
		}
		tr.ta.success(opGet)
		return
	case code == cmd.ExitNotFound:
		tr.ta.success(opGet) // a clean answer: the store (memcached, redis after a kill) lost it
		return
	case tr.b.secret != "" && strings.Contains(msg, tr.b.secret):
		tr.ta.unclear("get: stderr shows the password: %s", msg)
	case code != cmd.ExitFailure || strings.Count(msg, "\n") > 0 || !strings.HasPrefix(msg, "phpsess: "):
		tr.ta.unclear("get: exit %d, stderr %q: want exit 1 and one line", code, msg)
	case strings.Contains(msg, "phpserialize"), !strings.Contains(strings.ToLower(msg), tr.b.word):
		tr.ta.unclear("get: unclear or corrupt: %s", msg)
	}
	tr.ta.failure(opGet, "exit_"+fmt.Sprint(code), msg)
}

// migrate copies the 10 sessions of the files store into the store, with
// verification.
func (tr *traffic) migrate() {
	ctx, cancel := opCtx()
	defer cancel()
	rep, err := migrate.Run(ctx, migrate.Options{From: tr.src, To: tr.st, Verify: true, Workers: 2, Conflict: migrate.Overwrite})
	if err == nil && rep.Stats.Failed == 0 && rep.Stats.Verified == 10 {
		tr.ta.success(opMigrate)
		return
	}
	msg := fmt.Sprint(err)
	if rep != nil && len(rep.Failures) > 0 {
		msg = rep.Failures[0].Err
		class, clear := classify(errors.New(msg), tr.b)
		if !clear {
			tr.ta.unclear("migrate: %s failure: %s", class, msg)
		}
		tr.ta.failure(opMigrate, class, msg)
		return
	}
	if err == nil {
		tr.ta.unclear("migrate: no error but %+v", rep.Stats)
		tr.ta.failure(opMigrate, "short", fmt.Sprintf("%+v", rep.Stats))
		return
	}
	class, clear := classify(err, tr.b)
	if !clear {
		tr.ta.unclear("migrate: %s error: %v", class, err)
	}
	tr.ta.failure(opMigrate, class, msg)
}

// stored reads the shared session, retrying briefly, and returns its int
// variables (nil when it does not exist).
func (tr *traffic) stored(t *testing.T) map[string]int64 {
	t.Helper()
	var err error
	for try := 0; try < 50; try++ {
		var rec *handlers.Record
		rec, err = tr.st.Read(ctxFor(t, 10*time.Second), tr.id)
		if errors.Is(err, handlers.ErrNotFound) {
			return nil
		}
		if err == nil {
			vars, err := ints(rec.Data)
			if err != nil {
				t.Fatalf("the stored session does not decode: %v: %q", err, rec.Data)
			}
			return vars
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("reading the session back: %v", err)
	return nil
}

// lost checks every worker's variable against its acknowledged and
// attempted counts and returns the lost updates (acknowledged, not
// stored). With exact, an attempt that failed must not have been applied
// either (no fault was injected).
func (tr *traffic) lost(t *testing.T, vars map[string]int64, exact bool) int64 {
	t.Helper()
	var lost int64
	check := func(key string, ack, try int64) {
		got := vars[key]
		if got < ack {
			t.Errorf("%s = %d, but %d updates were acknowledged: %d lost", key, got, ack, ack-got)
			lost += ack - got
		}
		if got > try {
			t.Errorf("%s = %d, more than the %d attempts", key, got, try)
		}
		if exact && got != ack {
			t.Errorf("%s = %d, want exactly %d (no fault)", key, got, ack)
		}
	}
	for i := range 2 {
		check(fmt.Sprintf("g%d", i), tr.putAck[i].Load(), tr.putTry[i].Load())
		// a PATCH sets its own count: an applied, unanswered one leaves +1
		check(fmt.Sprintf("h%d", i), tr.serveAck[i].Load(), tr.serveAck[i].Load()+1)
	}
	return lost
}
