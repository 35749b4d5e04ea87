package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/internal/testenv"
	"github.com/phpsess/phpsess/server"
	"github.com/phpsess/phpsess/session/sessiontest"
)

func TestMain(m *testing.M) { testenv.Run(m) }

func testCtx(t testing.TB) context.Context { return sessiontest.Ctx(t) }

func openStore(t testing.TB, rawURL string) handlers.Store { return sessiontest.Open(t, rawURL) }

func fileStore(t testing.TB, query string) handlers.Store {
	st, _ := sessiontest.FileStore(t, query)
	return st
}

// api is a test server and its client.
type api struct {
	t   *testing.T
	srv *server.Server
	url string
	hdr http.Header // sent with every request
}

func newAPI(t *testing.T, cfg server.Config) *api {
	t.Helper()
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return &api{t: t, srv: s, url: hs.URL, hdr: http.Header{}}
}

// response is a finished request.
type response struct {
	status int
	header http.Header
	body   []byte
}

// code returns the "code" of a JSON error body.
func (r response) code() string {
	var e struct{ Code string }
	json.Unmarshal(r.body, &e)
	return e.Code
}

func (a *api) do(method, path, body string, hdr ...string) response {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.url+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	for k, v := range a.hdr {
		req.Header[k] = v
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

// must checks the status of a request and returns it.
func (a *api) must(status int, method, path, body string, hdr ...string) response {
	a.t.Helper()
	r := a.do(method, path, body, hdr...)
	if r.status != status {
		a.t.Fatalf("%s %s: %d %s, want %d", method, path, r.status, r.body, status)
	}
	return r
}

func stored(t *testing.T, st handlers.Store, id string) string { return sessiontest.Stored(t, st, id) }

func mustWrite(t *testing.T, st handlers.Store, id, payload string) {
	sessiontest.Write(t, st, id, payload)
}

const id1 = "0123456789abcdefghijklmnopqrstuv"

// spy counts the calls that reach a store.
type spy struct {
	handlers.Store
	calls atomic.Int64
}

func (s *spy) Read(ctx context.Context, id string) (*handlers.Record, error) {
	s.calls.Add(1)
	return s.Store.Read(ctx, id)
}

func (s *spy) Write(ctx context.Context, rec *handlers.Record) error {
	s.calls.Add(1)
	return s.Store.Write(ctx, rec)
}

func (s *spy) Destroy(ctx context.Context, id string) error {
	s.calls.Add(1)
	return s.Store.Destroy(ctx, id)
}

// TestBadIDs: ids no PHP could have made are refused with 400 on every
// route, and the store never sees them.
func TestBadIDs(t *testing.T) {
	sp := &spy{Store: fileStore(t, "")}
	a := newAPI(t, server.Config{Store: sp, IDPattern: regexp.MustCompile(`^[0-9a-v]{32}$`), SIDBits: 5})
	bad := []string{"..%2Fx", "..%2F..%2Fetc%2Fpasswd", "a%00b", "a%7Cb", "a%20b", strings.Repeat("a", 257), "0123456789abcdefghijklmnopqrstuw", "0123456789"}
	routes := []struct{ method, suffix, body string }{
		{"GET", "", ""}, {"PUT", "", "{}"}, {"PATCH", "", `{"set":{"a":1}}`}, {"DELETE", "", ""},
		{"POST", "/regenerate", ""}, {"GET", "/flash", ""}, {"PUT", "/temp/k", "1"},
	}
	for _, id := range bad {
		for _, r := range routes {
			resp := a.do(r.method, "/v1/sessions/"+id+r.suffix, r.body)
			if r.suffix == "/temp/k" || r.suffix == "/flash" {
				// not a CodeIgniter store: the id is still checked first, or
				// the route is refused: never the store
				if resp.status != 400 && resp.code() != "not_supported" {
					t.Errorf("%s %s: %d %s", r.method, id, resp.status, resp.body)
				}
				continue
			}
			if resp.status != 400 || resp.code() != "invalid_id" {
				t.Errorf("%s %s%s: %d %s, want 400 invalid_id", r.method, id, r.suffix, resp.status, resp.body)
			}
		}
	}
	if n := sp.calls.Load(); n != 0 {
		t.Fatalf("the store was called %d times for bad ids", n)
	}
	a.must(404, "GET", "/v1/sessions/"+id1, "")
	if sp.calls.Load() != 1 {
		t.Fatal("a good id did not reach the store")
	}
	if _, err := server.New(server.Config{Store: sp, IDPattern: regexp.MustCompile(`^[0-9a-f]{26}$`)}); err == nil {
		t.Error("New accepted an id pattern that the ids regenerate makes do not match")
	}
}

// TestBodyLimit: a body over MaxBody is refused with 413 and nothing is
// written.
func TestBodyLimit(t *testing.T) {
	st := fileStore(t, "")
	a := newAPI(t, server.Config{Store: st, MaxBody: 1024})
	big := `{"a":"` + strings.Repeat("x", 2000) + `"}`
	for _, m := range []string{"PUT", "PATCH"} {
		body := big
		if m == "PATCH" {
			body = `{"set":` + big + `}`
		}
		if r := a.do(m, "/v1/sessions/"+id1, body); r.status != 413 || r.code() != "too_large" {
			t.Errorf("%s of %d bytes: %d %s", m, len(body), r.status, r.body)
		}
	}
	if got := stored(t, st, id1); got != "<none>" {
		t.Fatalf("stored %q", got)
	}
	a.must(200, "PUT", "/v1/sessions/"+id1, `{"a":"small"}`)
}

// TestToken: with a token, every route but /healthz needs it.
func TestToken(t *testing.T) {
	const tok = "0123456789abcdef-token"
	a := newAPI(t, server.Config{Store: fileStore(t, ""), Token: tok})
	for _, p := range []string{"/v1/sessions/" + id1, "/metrics", "/openapi.json", "/nope"} {
		for _, h := range []string{"", "Bearer wrong", "Bearer " + tok + "x", "Basic " + tok, tok} {
			r := a.do("GET", p, "", "Authorization", h)
			if r.status != 401 || r.code() != "unauthorized" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("GET %s with Authorization %q: %d %s", p, h, r.status, r.body)
			}
		}
	}
	a.must(401, "PUT", "/v1/sessions/"+id1, `{}`)
	a.must(200, "GET", "/healthz", "")
	a.must(200, "GET", "/readyz", "")
	a.hdr.Set("Authorization", "Bearer "+tok)
	a.must(404, "GET", "/v1/sessions/"+id1, "")
	a.must(200, "PUT", "/v1/sessions/"+id1, `{"a":1}`)
	a.must(200, "GET", "/metrics", "")
	a.must(200, "GET", "/openapi.json", "", "Authorization", "bearer "+tok)
}

// TestForbiddenClasses: objects of classes not on the allow list are
// refused anywhere in a body, and nothing is written; the allow list lets
// them in; objects PHP put in the session are kept.
func TestForbiddenClasses(t *testing.T) {
	st := fileStore(t, "")
	a := newAPI(t, server.Config{Store: st, AllowClasses: []string{`\App\Cart`, "Suit"}})
	evil := []string{
		`{"$object":{"class":"GuzzleHttp\\Cookie\\FileCookieJar","props":{"filename":"/var/www/shell.php"}}}`,
		`[1,{"x":{"$object":{"class":"Monolog\\Handler\\SyslogUdpHandler","props":{}}}}]`,
		`{"$serializable":{"class":"ArrayObject","data":"x:i:0;a:0:{};m:a:0:{}"}}`,
		`{"$enum":"Evil:Case"}`,
		`{"$object":{"class":"App\\Cart","props":{"inner":{"$object":{"class":"Evil","props":{}}}}}}`,
	}
	for _, v := range evil {
		for _, req := range []struct{ method, path, body string }{
			{"PUT", "/v1/sessions/" + id1, `{"ok":1,"v":` + v + `}`},
			{"PATCH", "/v1/sessions/" + id1, `{"set":{"v":` + v + `}}`},
		} {
			r := a.do(req.method, req.path, req.body)
			if r.status != 422 || r.code() != "forbidden_class" {
				t.Errorf("%s %s: %d %s", req.method, v, r.status, r.body)
			}
		}
	}
	if got := stored(t, st, id1); got != "<none>" {
		t.Fatalf("written despite forbidden classes: %q", got)
	}
	r := a.must(200, "PUT", "/v1/sessions/"+id1, `{"cart":{"$object":{"class":"app\\cart","props":{"items":[7]}}},"suit":{"$enum":"Suit:Hearts"}}`)
	if !bytes.Contains(r.body, []byte(`"class":"app\\cart"`)) {
		t.Errorf("answer %s", r.body)
	}
	// an object PHP stored is kept by a PATCH of other variables
	mustWrite(t, st, id1, `u|O:4:"User":1:{s:4:"name";s:3:"bob";}n|i:1;`)
	a.must(200, "PATCH", "/v1/sessions/"+id1, `{"set":{"n":2}}`)
	if got := stored(t, st, id1); got != `u|O:4:"User":1:{s:4:"name";s:3:"bob";}n|i:2;` {
		t.Fatalf("after PATCH: %q", got)
	}
	// data PHP could not read back is refused too
	if r := a.do("PUT", "/v1/sessions/"+id1, `{"a|b":1}`); r.status != 422 || r.code() != "invalid_data" {
		t.Errorf("key with '|': %d %s", r.status, r.body)
	}
	if r := a.do("PUT", "/v1/sessions/"+id1, `{"a":`); r.status != 400 || r.code() != "bad_request" {
		t.Errorf("bad JSON: %d %s", r.status, r.body)
	}
}

// TestGetAndETags: GET gives the JSON form with ETag and TTL; one key;
// If-Match, If-None-Match compare-and-set; DELETE.
func TestGetAndETags(t *testing.T) {
	st := fileStore(t, "ttl=600")
	a := newAPI(t, server.Config{Store: st})
	p := "/v1/sessions/" + id1
	mustWrite(t, st, id1, `user_id|i:42;roles|a:2:{i:0;s:5:"admin";i:1;s:6:"editor";}ratio|d:0.5;`)
	r := a.must(200, "GET", p, "")
	if string(r.body) != `{"user_id":42,"roles":["admin","editor"],"ratio":0.5}` || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET: %s", r.body)
	}
	tag := r.header.Get("ETag")
	if !regexp.MustCompile(`^"[0-9a-f]{16}"$`).MatchString(tag) {
		t.Fatalf("ETag %q", tag)
	}
	if ttl := r.header.Get("X-Session-TTL"); ttl < "590" || ttl > "600" || len(ttl) != 3 {
		t.Errorf("X-Session-TTL %q", ttl)
	}
	a.must(304, "GET", p, "", "If-None-Match", tag)
	if r := a.must(200, "GET", p+"?key=roles", ""); string(r.body) != `["admin","editor"]` || r.header.Get("ETag") != tag {
		t.Errorf("?key=roles: %s", r.body)
	}
	if r := a.must(200, "GET", p, "", "X-Session-Key", "user_id"); string(r.body) != `42` {
		t.Errorf("X-Session-Key: %s", r.body)
	}
	if r := a.must(404, "GET", p+"?key=nope", ""); r.code() != "not_found" {
		t.Errorf("missing key: %s", r.body)
	}

	// compare-and-set
	if r := a.do("PATCH", p, `{"set":{"user_id":1}}`, "If-Match", `"0000000000000000"`); r.status != 412 || r.code() != "precondition_failed" {
		t.Fatalf("stale If-Match: %d %s", r.status, r.body)
	}
	r = a.must(200, "PATCH", p, `{"set":{"user_id":43},"unset":["ratio"]}`, "If-Match", tag)
	if string(r.body) != `{"user_id":43,"roles":["admin","editor"]}` || r.header.Get("ETag") == tag {
		t.Fatalf("PATCH: %s %s", r.body, r.header.Get("ETag"))
	}
	newTag := r.header.Get("ETag")
	if got := a.must(200, "GET", p, "").header.Get("ETag"); got != newTag {
		t.Fatalf("ETag after PATCH %s, GET says %s", newTag, got)
	}
	a.must(412, "PUT", p, `{}`, "If-None-Match", "*")
	a.must(412, "PUT", p, `{}`, "If-Match", tag)
	a.must(200, "PUT", p, `{"x":true}`, "If-Match", newTag)
	a.must(400, "PATCH", p, `{"set":{"a":1},"unset":["a"]}`)
	a.must(400, "PATCH", p, `{"sett":{}}`)
	a.must(412, "DELETE", p, "", "If-Match", newTag)
	a.must(204, "DELETE", p, "", "If-Match", "*")
	a.must(404, "GET", p, "")
	a.must(200, "PUT", p, `{"a":1}`, "If-None-Match", "*")
	a.must(204, "DELETE", p, "")
	a.must(412, "PATCH", p, `{"set":{"a":1}}`, "If-Match", "*")
	// PATCH creates a missing session (the files store's Lock leaves an
	// empty one behind, as PHP's session_start does)
	if r := a.must(200, "PATCH", p, `{"set":{"b":2}}`); string(r.body) != `{"b":2}` {
		t.Errorf("PATCH of a missing session: %s", r.body)
	}
}

// TestPatchReferences: PHP references in the variables a PATCH keeps are
// renumbered; one into a replaced variable is a 409 and nothing changes.
func TestPatchReferences(t *testing.T) {
	st := fileStore(t, "")
	a := newAPI(t, server.Config{Store: st})
	p := "/v1/sessions/" + id1
	mustWrite(t, st, id1, `x|i:1;a|O:8:"stdClass":1:{s:1:"p";i:1;}b|r:2;c|a:1:{i:0;R:3;}`)
	a.must(200, "PATCH", p, `{"unset":["x"]}`)
	if got := stored(t, st, id1); got != `a|O:8:"stdClass":1:{s:1:"p";i:1;}b|r:1;c|a:1:{i:0;R:2;}` {
		t.Fatalf("after unset: %q", got)
	}
	if r := a.do("PATCH", p, `{"set":{"a":5}}`); r.status != 409 || r.code() != "conflict" {
		t.Fatalf("replacing a referenced variable: %d %s", r.status, r.body)
	}
	if got := stored(t, st, id1); got != `a|O:8:"stdClass":1:{s:1:"p";i:1;}b|r:1;c|a:1:{i:0;R:2;}` {
		t.Fatalf("after the conflict: %q", got)
	}
}

// TestRegenerate: a new id of the configured form, the data moved, the old
// session gone (or kept with keep_old=1).
func TestRegenerate(t *testing.T) {
	st := openStore(t, "redis://"+testenv.Redis(t)+"/3?layout=ci3")
	a := newAPI(t, server.Config{Store: st, SIDLength: 32, SIDBits: 5})
	for _, keep := range []bool{false, true} {
		mustWrite(t, st, id1, `a|i:1;`)
		path := "/v1/sessions/" + id1 + "/regenerate"
		if keep {
			path += "?keep_old=1"
		}
		r := a.must(200, "POST", path, "")
		var out struct{ ID string }
		json.Unmarshal(r.body, &out)
		if !regexp.MustCompile(`^[0-9a-v]{32}$`).MatchString(out.ID) || out.ID == id1 {
			t.Fatalf("new id %q", out.ID)
		}
		if got := stored(t, st, out.ID); got != `a|i:1;` {
			t.Fatalf("new session %q", got)
		}
		if got := stored(t, st, id1); keep && got != `a|i:1;` || !keep && got != "<none>" {
			t.Fatalf("keep_old=%v: old session %q", keep, got)
		}
	}
	st.Destroy(testCtx(t), id1)
	a.must(404, "POST", "/v1/sessions/"+id1+"/regenerate", "")
}

// TestCodeIgniterFlashTemp: flashdata and tempdata set and read with
// CodeIgniter's layout and rules; other layouts say not_supported.
func TestCodeIgniterFlashTemp(t *testing.T) {
	st := fileStore(t, "layout=ci3")
	now := time.Unix(1795300487, 0)
	var clock atomic.Int64
	clock.Store(now.Unix())
	a := newAPI(t, server.Config{Store: st, Now: func() time.Time { return time.Unix(clock.Load(), 0) }})
	p := "/v1/sessions/" + id1
	mustWrite(t, st, id1, `__ci_last_regenerate|i:1795300487;user|s:3:"bob";`)
	a.must(200, "PUT", p+"/flash/msg", `"hi"`)
	a.must(200, "PUT", p+"/temp/tmp?ttl=60", `"T"`)
	// byte for byte what CodeIgniter 3 writes (spec 5.2)
	want := `__ci_last_regenerate|i:1795300487;user|s:3:"bob";msg|s:2:"hi";__ci_vars|a:2:{s:3:"msg";s:3:"new";s:3:"tmp";i:1795300547;}tmp|s:1:"T";`
	if got := stored(t, st, id1); got != want {
		t.Fatalf("stored\n%q, want\n%q", got, want)
	}
	if r := a.must(200, "GET", p+"/flash", ""); string(r.body) != `{"msg":"hi"}` {
		t.Errorf("flash: %s", r.body)
	}
	if r := a.must(200, "GET", p+"/temp", ""); string(r.body) != `{"tmp":"T"}` {
		t.Errorf("temp: %s", r.body)
	}
	clock.Store(now.Unix() + 60)
	if r := a.must(200, "GET", p+"/temp", ""); string(r.body) != `{"tmp":"T"}` {
		t.Errorf("temp at its expiry second: %s", r.body)
	}
	clock.Store(now.Unix() + 61)
	if r := a.must(200, "GET", p+"/temp", ""); string(r.body) != `{}` {
		t.Errorf("expired temp: %s", r.body)
	}
	// "old" flashdata is still flashdata; null is set but not marked
	mustWrite(t, st, id1, `m|i:1;__ci_vars|a:1:{s:1:"m";s:3:"old";}`)
	a.must(200, "PUT", p+"/flash/z", `null`)
	if got := stored(t, st, id1); got != `m|i:1;__ci_vars|a:1:{s:1:"m";s:3:"old";}z|N;` {
		t.Errorf("null flashdata: %q", got)
	}
	if r := a.must(200, "GET", p+"/flash", ""); string(r.body) != `{"m":1}` {
		t.Errorf("old flash: %s", r.body)
	}
	a.must(400, "PUT", p+"/temp/x?ttl=-1", `1`)
	if r := a.do("PUT", p+"/flash/o", `{"$object":{"class":"Evil","props":{}}}`); r.code() != "forbidden_class" {
		t.Errorf("object in flashdata: %s", r.body)
	}

	native := newAPI(t, server.Config{Store: fileStore(t, "")})
	for _, req := range [][2]string{{"GET", "/flash"}, {"GET", "/temp"}, {"PUT", "/flash/a"}, {"PUT", "/temp/a"}} {
		if r := native.do(req[0], p+req[1], "1"); r.status != 404 || r.code() != "not_supported" {
			t.Errorf("%s %s on a native store: %d %s", req[0], req[1], r.status, r.body)
		}
	}
}

// refStore is a store that can look DALMP references up.
type refStore struct{ handlers.Store }

func (refStore) SessionsByRef(ctx context.Context, ref string) ([]string, error) {
	if ref == "user-42" {
		return []string{id1}, nil
	}
	return nil, nil
}

func TestRefs(t *testing.T) {
	st := fileStore(t, "")
	a := newAPI(t, server.Config{Store: st})
	if r := a.do("GET", "/v1/refs/user-42", ""); r.status != 404 || r.code() != "not_supported" {
		t.Errorf("refs on a store without them: %d %s", r.status, r.body)
	}
	b := newAPI(t, server.Config{Store: refStore{st}})
	if r := b.must(200, "GET", "/v1/refs/user-42", ""); string(r.body) != `{"ids":["`+id1+`"]}` {
		t.Errorf("refs: %s", r.body)
	}
	if r := b.must(200, "GET", "/v1/refs/nobody", ""); string(r.body) != `{"ids":[]}` {
		t.Errorf("refs: %s", r.body)
	}

	// DALMP on Redis: its reference index holds cache keys, not ids
	dalmp := openStore(t, "redis://"+testenv.Redis(t)+"/5?layout=dalmp&sessions_key=phpsess-test")
	if err := dalmp.Write(testCtx(t), &handlers.Record{ID: id1, Data: []byte(`a|i:1;`), Meta: handlers.Meta{Ref: "user-7"}}); err != nil {
		t.Fatal(err)
	}
	c := newAPI(t, server.Config{Store: dalmp})
	if r := c.must(200, "GET", "/v1/refs/user-7", ""); string(r.body) != `{"ids":["`+handlers.DALMPCacheKey("UID", id1)+`"]}` {
		t.Errorf("DALMP refs: %s", r.body)
	}
}

// broken is a store whose backend is down.
type broken struct{ handlers.Store }

var errDown = errors.New("dial tcp 127.0.0.1:1: connection refused")

func (broken) Read(ctx context.Context, id string) (*handlers.Record, error) {
	return nil, fmt.Errorf("redis read session %q: %w", id, errDown)
}

// TestHealthMetricsLogs: /healthz, /readyz, /metrics, and log lines that
// name neither session ids nor data.
func TestHealthMetricsLogs(t *testing.T) {
	var logs bytes.Buffer
	st := fileStore(t, "")
	a := newAPI(t, server.Config{Store: st, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	a.must(200, "GET", "/healthz", "")
	a.must(200, "GET", "/readyz", "")
	a.must(200, "PUT", "/v1/sessions/"+id1, `{"password":"hunter2-secret"}`)
	a.must(200, "PATCH", "/v1/sessions/"+id1, `{"set":{"card":"4111111111111111"}}`)
	a.must(200, "GET", "/v1/sessions/"+id1, "")

	down := newAPI(t, server.Config{Store: broken{st}, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	down.must(200, "GET", "/healthz", "")
	if r := down.do("GET", "/readyz", ""); r.status != 503 || r.code() != "store_error" {
		t.Errorf("readyz with the store down: %d %s", r.status, r.body)
	}
	if r := down.do("GET", "/v1/sessions/"+id1, ""); r.status != 503 || r.code() != "store_error" || bytes.Contains(r.body, []byte(id1)) {
		t.Errorf("GET with the store down: %d %s", r.status, r.body)
	}

	m := string(a.must(200, "GET", "/metrics", "").body)
	for _, want := range []string{
		`phpsess_http_requests_total{code="200",method="PUT",route="PUT /v1/sessions/{id}"} 1`,
		`phpsess_http_request_duration_seconds_count{route="PATCH /v1/sessions/{id}"} 1`,
		`phpsess_lock_wait_seconds_count 2`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if m := string(down.must(200, "GET", "/metrics", "").body); !strings.Contains(m, `phpsess_store_errors_total{op="read"} 2`) {
		t.Errorf("store errors not counted:\n%s", m)
	}

	out := logs.String()
	for _, secret := range []string{id1, "hunter2", "4111111111111111"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds %q:\n%s", secret, out)
		}
	}
	var line struct {
		Method, Route, Sid string
		Status             int
	}
	first, _, _ := strings.Cut(strings.SplitN(out, "\n", 4)[2], "\n")
	if err := json.Unmarshal([]byte(first), &line); err != nil || line.Method != "PUT" || line.Route != "PUT /v1/sessions/{id}" || line.Status != 200 || len(line.Sid) != 12 {
		t.Errorf("log line %s: %+v %v", first, line, err)
	}
}

// TestOpenAPI: the document in the repository is the one served, and it
// documents every route of the mux, and nothing else.
func TestOpenAPI(t *testing.T) {
	a := newAPI(t, server.Config{Store: fileStore(t, "")})
	onDisk, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if served := a.must(200, "GET", "/openapi.json", "").body; !bytes.Equal(served, onDisk) {
		t.Fatal("the served /openapi.json is not server/openapi.json")
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(onDisk, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json: %v (version %q)", err, doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	routes := a.srv.Routes()
	sort.Strings(documented)
	sort.Strings(routes)
	if !slices.Equal(documented, routes) {
		t.Fatalf("routes and openapi.json differ:\nroutes:     %q\ndocumented: %q", routes, documented)
	}
}
