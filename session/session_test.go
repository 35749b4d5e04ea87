package session_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/internal/testenv"
	"github.com/phpsess/phpsess/phpserialize"
	"github.com/phpsess/phpsess/session"
	"github.com/phpsess/phpsess/session/sessiontest"
)

func TestMain(m *testing.M) { testenv.Run(m) }

func testCtx(t testing.TB) context.Context { return sessiontest.Ctx(t) }

func openStore(t testing.TB, rawURL string) handlers.Store { return sessiontest.Open(t, rawURL) }

func fileStore(t testing.TB, query string) (handlers.Store, string) {
	return sessiontest.FileStore(t, query)
}

// answer is what both test apps, PHP's and Go's, answer.
type answer struct {
	ID    string         `json:"id"`
	Data  map[string]any `json:"data"`
	Flash map[string]any `json:"flash"`
}

// goApp is the Go side of the interop tests: the same query language as
// testdata/php/ops.inc.php, behind the middleware.
func goApp(t testing.TB, st handlers.Store, opts session.Options) *httptest.Server {
	h := st.Info().Handler
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		q := r.URL.Query()
		fail := func(err error) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
		before := s.All()
		if err := s.Err(); err != nil {
			fail(err)
			return
		}
		flash := session.Flashdata(before)
		if q.Has("destroy") {
			if err := s.Destroy(r.Context()); err != nil {
				fail(err)
				return
			}
		}
		if q.Has("regenerate") {
			if err := s.Regenerate(r.Context(), true); err != nil {
				fail(err)
				return
			}
		}
		for _, op := range []struct {
			name string
			do   func(string, any) error
		}{{"set", s.Set}, {"flash", s.Flash}} {
			if !q.Has(op.name) {
				continue
			}
			vars, err := phpserialize.ParseSessionJSON(h, []byte(q.Get(op.name)))
			if err != nil {
				fail(err)
				return
			}
			for k, v := range vars.All() {
				if err := op.do(k.String(), v); err != nil {
					fail(err)
					return
				}
			}
		}
		for _, k := range strings.Split(q.Get("unset"), ",") {
			if k != "" {
				s.Delete(k)
			}
		}
		if k := q.Get("inc"); k != "" {
			v, _ := s.Get(k)
			s.Set(k, v.Int()+1)
		}
		out := []byte(`{"id":`)
		out, _ = appendJSON(out, s.ID())
		out = append(out, `,"data":`...)
		out = phpserialize.AppendSessionJSON(out, s.All())
		out = append(out, `,"flash":`...)
		out = phpserialize.AppendSessionJSON(out, flash)
		out = append(out, '}')
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
	})
	srv := httptest.NewServer(session.Middleware(st, opts)(app))
	t.Cleanup(srv.Close)
	return srv
}

func appendJSON(dst []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(dst, b...), err
}

// browser is one user agent: one cookie jar for the PHP app and the Go app.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar, Timeout: time.Minute}}
}

func (b *browser) get(base, path string, query ...string) answer {
	b.t.Helper()
	q := url.Values{}
	for i := 0; i+1 < len(query); i += 2 {
		q.Set(query[i], query[i+1])
	}
	u := base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	resp, err := b.c.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: %s: %s", u, resp.Status, body)
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		b.t.Fatalf("GET %s: %v: %s", u, err, body)
	}
	return a
}

// cookie returns the value of the named cookie the browser holds for base.
func (b *browser) cookie(base, name string) string {
	u, _ := url.Parse(base)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func wantData(t *testing.T, who string, a answer, want string) {
	t.Helper()
	var w map[string]any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(a.Data)
	exp, _ := json.Marshal(w)
	if !bytes.Equal(got, exp) {
		t.Fatalf("%s sees %s, want %s", who, got, exp)
	}
}

// TestSharedCookieJar: a PHP app (php -S) and a Go handler behind the
// middleware, one browser: each sees the other's writes, new sessions,
// regenerated ids and logouts; for PHP's files handler, phpredis, and
// CodeIgniter 3's files driver with its flashdata.
func TestSharedCookieJar(t *testing.T) {
	docroot, err := filepath.Abs("testdata/php")
	if err != nil {
		t.Fatal(err)
	}
	type setup struct {
		script, cookie string
		ci             bool
		start          func(t *testing.T) (handlers.Store, map[string]string, session.Options)
	}
	debian := session.Options{SIDLength: 26, SIDBits: 5, AdoptUnknownIDs: true}
	cases := map[string]setup{
		"files": {"/native.php", "PHPSESSID", false, func(t *testing.T) (handlers.Store, map[string]string, session.Options) {
			st, dir := fileStore(t, "")
			return st, map[string]string{"session.save_handler": "files", "session.save_path": dir}, debian
		}},
		"phpredis": {"/native.php", "PHPSESSID", false, func(t *testing.T) (handlers.Store, map[string]string, session.Options) {
			addr := testenv.Redis(t)
			st := openStore(t, "redis://"+addr+"/0?lock=on&ttl=1440")
			return st, map[string]string{
				"session.save_handler":          "redis",
				"session.save_path":             "tcp://" + addr,
				"redis.session.locking_enabled": "1",
				"redis.session.lock_expire":     "30",
				"redis.session.lock_retries":    "-1",
			}, debian
		}},
		"ci3": {"/ci3.php", "ci_session", true, func(t *testing.T) (handlers.Store, map[string]string, session.Options) {
			st, dir := fileStore(t, "layout=ci3")
			return st, map[string]string{"session.save_path": dir}, session.Options{
				CookieName: "ci_session", SIDLength: 32, SIDBits: 5,
				IDPattern: regexp.MustCompile(`^[0-9a-v]{32}$`),
			}
		}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			testenv.PHP(t)
			st, ini, opts := c.start(t)
			ini["session.serialize_handler"] = "php"
			ini["session.use_strict_mode"] = "0"
			ini["display_errors"] = "0"
			ini["log_errors"] = "1"
			php := testenv.PHPServer(t, docroot, ini, []string{"PHP_CLI_SERVER_WORKERS=2"}) + c.script
			goSrv := goApp(t, st, opts).URL + "/"

			b := newBrowser(t)
			r1 := b.get(php, "", "set", `{"a":1}`)
			wantData(t, "PHP, first", r1, `{"a":1}`)
			r2 := b.get(goSrv, "", "set", `{"b":"x"}`)
			if r2.ID != r1.ID {
				t.Fatalf("Go sees session %q, PHP made %q", r2.ID, r1.ID)
			}
			wantData(t, "Go after PHP", r2, `{"a":1,"b":"x"}`)
			wantData(t, "PHP after Go", b.get(php, "", "unset", "a"), `{"b":"x"}`)
			wantData(t, "Go after PHP's unset", b.get(goSrv, ""), `{"b":"x"}`)

			// a session the Go side starts is PHP's too
			b2 := newBrowser(t)
			g1 := b2.get(goSrv, "", "set", `{"c":3}`)
			if g1.ID == "" || b2.cookie(goSrv, c.cookie) != g1.ID {
				t.Fatalf("Go's new session %q, cookie %q", g1.ID, b2.cookie(goSrv, c.cookie))
			}
			p1 := b2.get(php, "", "inc", "c")
			if p1.ID != g1.ID {
				t.Fatalf("PHP took session %q, Go made %q", p1.ID, g1.ID)
			}
			wantData(t, "PHP on Go's session", p1, `{"c":4}`)

			// regenerate in Go: PHP follows the new cookie, the old session is gone
			g2 := b2.get(goSrv, "", "regenerate", "1")
			if g2.ID == g1.ID || b2.cookie(php, c.cookie) != g2.ID {
				t.Fatalf("regenerated id %q (was %q), cookie %q", g2.ID, g1.ID, b2.cookie(php, c.cookie))
			}
			if _, err := st.Read(testCtx(t), g1.ID); !errors.Is(err, handlers.ErrNotFound) {
				t.Fatalf("old session after Regenerate: %v", err)
			}
			p2 := b2.get(php, "")
			if p2.ID != g2.ID {
				t.Fatalf("PHP after Go's regenerate: session %q, want %q", p2.ID, g2.ID)
			}
			wantData(t, "PHP after regenerate", p2, `{"c":4}`)

			// logout in Go: PHP starts afresh
			b2.get(goSrv, "", "destroy", "1")
			if v := b2.cookie(php, c.cookie); v != "" {
				t.Fatalf("cookie after Destroy: %q", v)
			}
			if _, err := st.Read(testCtx(t), g2.ID); !errors.Is(err, handlers.ErrNotFound) {
				t.Fatalf("session after Destroy: %v", err)
			}
			p3 := b2.get(php, "")
			if p3.ID == g2.ID || len(p3.Data) != 0 {
				t.Fatalf("PHP after Go's Destroy: %+v", p3)
			}

			if !c.ci {
				return
			}
			// flashdata both ways, aged by whichever side serves the request
			b3 := newBrowser(t)
			b3.get(goSrv, "", "flash", `{"msg":"hi"}`)
			if f := b3.get(php, "").Flash; f["msg"] != "hi" {
				t.Fatalf("PHP's request after Go's set_flashdata sees flashdata %v", f)
			}
			if a := b3.get(php, ""); a.Data["msg"] != nil || a.Flash["msg"] != nil {
				t.Fatalf("flashdata still there two requests later: %+v", a)
			}
			b3.get(php, "", "flash", `{"m2":"yo"}`)
			if f := b3.get(goSrv, "").Flash; f["m2"] != "yo" {
				t.Fatalf("Go's request after PHP's set_flashdata sees flashdata %v", f)
			}
			if a := b3.get(php, ""); a.Data["m2"] != nil || a.Data["__ci_vars"] != nil {
				t.Fatalf("PHP two requests after set_flashdata: %+v", a)
			}
		})
	}
}

// serve runs one request through the middleware.
func serve(t *testing.T, st handlers.Store, opts session.Options, cookie string, h func(w http.ResponseWriter, s *session.Session)) *http.Response {
	t.Helper()
	mw := session.Middleware(st, opts)
	r := httptest.NewRequest("GET", "/", nil)
	if cookie != "" {
		name := opts.CookieName
		if name == "" {
			name = "PHPSESSID"
		}
		r.AddCookie(&http.Cookie{Name: name, Value: cookie})
	}
	w := httptest.NewRecorder()
	mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(w, session.FromContext(r.Context()))
	})).ServeHTTP(w, r)
	return w.Result()
}

func sessionCookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func mustWrite(t *testing.T, st handlers.Store, id, payload string) {
	sessiontest.Write(t, st, id, payload)
}

func stored(t *testing.T, st handlers.Store, id string) string { return sessiontest.Stored(t, st, id) }

const testID = "0123456789abcdef0123456789abcdef"

// TestLazy: a request that does not use its session reads and writes
// nothing and sends no cookie; one that only reads a new session stores
// nothing either.
func TestLazy(t *testing.T) {
	st, dir := fileStore(t, "")
	resp := serve(t, st, session.Options{}, "", func(w http.ResponseWriter, s *session.Session) { io.WriteString(w, "hi") })
	if len(resp.Cookies()) != 0 {
		t.Fatalf("cookies from a request that did not use its session: %v", resp.Cookies())
	}
	resp = serve(t, st, session.Options{}, "", func(w http.ResponseWriter, s *session.Session) {
		if _, ok := s.Get("x"); ok {
			t.Error("Get on a new session found x")
		}
		if s.Modified() {
			t.Error("Modified after a Get")
		}
	})
	if len(resp.Cookies()) != 0 {
		t.Fatalf("cookies from a request that only read: %v", resp.Cookies())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("files written: %v", ents)
	}
}

// TestNewSession: Set on a request without a cookie makes a session with
// an id of the configured form, stored before the header went out, and
// sends its cookie with PHP's attributes.
func TestNewSession(t *testing.T) {
	st, _ := fileStore(t, "")
	var id string
	resp := serve(t, st, session.Options{SIDLength: 26, SIDBits: 5, CookieSecure: true}, "", func(w http.ResponseWriter, s *session.Session) {
		if err := s.Set("user", map[string]any{"id": 7, "roles": []string{"admin"}}); err != nil {
			t.Fatal(err)
		}
		id = s.ID()
		w.WriteHeader(http.StatusCreated)
		// saved before the header was sent
		if got := stored(t, st, id); got != `user|a:2:{s:2:"id";i:7;s:5:"roles";a:1:{i:0;s:5:"admin";}}` {
			t.Errorf("stored when the header went out: %q", got)
		}
	})
	if !regexp.MustCompile(`^[0-9a-v]{26}$`).MatchString(id) {
		t.Fatalf("new id %q is not 26 characters of [0-9a-v]", id)
	}
	c := sessionCookie(resp, "PHPSESSID")
	if c == nil || c.Value != id || !c.HttpOnly || !c.Secure || c.Path != "/" || c.SameSite != http.SameSiteLaxMode || c.MaxAge != 0 {
		t.Fatalf("cookie %+v", c)
	}
}

// TestStrictMode: a cookie naming a session that does not exist gets a new
// id unless AdoptUnknownIDs; a malformed cookie is ignored.
func TestStrictMode(t *testing.T) {
	st, _ := fileStore(t, "")
	for _, tc := range []struct {
		cookie string
		adopt  bool
		same   bool
	}{{testID, false, false}, {testID, true, true}, {"../../etc/passwd", true, false}} {
		var id string
		serve(t, st, session.Options{AdoptUnknownIDs: tc.adopt}, tc.cookie, func(w http.ResponseWriter, s *session.Session) {
			s.Set("a", 1)
			id = s.ID()
		})
		if (id == tc.cookie) != tc.same {
			t.Errorf("cookie %q adopt=%v: session %q", tc.cookie, tc.adopt, id)
		}
		st.Destroy(testCtx(t), id)
	}
}

// TestOnlyOwnChangesWritten: a change made by someone else (PHP) while the
// request runs is kept: the middleware applies its own changes on top of
// the session as stored.
func TestOnlyOwnChangesWritten(t *testing.T) {
	st, _ := fileStore(t, "")
	mustWrite(t, st, testID, `a|i:1;b|i:2;`)
	serve(t, st, session.Options{}, testID, func(w http.ResponseWriter, s *session.Session) {
		v, _ := s.Get("a")
		// meanwhile, a PHP request changes b and adds c
		mustWrite(t, st, testID, `a|i:1;b|i:20;c|i:30;`)
		s.Set("a", v.Int()+1)
		s.Delete("zz")
	})
	if got := stored(t, st, testID); got != `a|i:2;b|i:20;c|i:30;` {
		t.Fatalf("stored %q", got)
	}
}

// TestTouchUnchanged: a session read but not changed gets its lifetime
// back, as PHP's update_timestamp gives it, and is not rewritten.
func TestTouchUnchanged(t *testing.T) {
	st, _ := fileStore(t, "ttl=1000")
	if err := st.Write(testCtx(t), &handlers.Record{ID: testID, Data: []byte(`a|i:1;`), TTL: 100 * time.Second}); err != nil {
		t.Fatal(err)
	}
	resp := serve(t, st, session.Options{}, testID, func(w http.ResponseWriter, s *session.Session) {
		if v, _ := s.Get("a"); v.Int() != 1 {
			t.Errorf("a = %v", v)
		}
	})
	if len(resp.Cookies()) != 0 {
		t.Errorf("cookie for an existing session: %v", resp.Cookies())
	}
	rec, err := st.Read(testCtx(t), testID)
	if err != nil || rec.TTL < 990*time.Second {
		t.Fatalf("after an unchanged request: %+v %v, want ttl about 1000s", rec, err)
	}
}

// TestDestroy: logout removes the session and expires the cookie; a Set
// afterwards starts a new session with a new id.
func TestDestroy(t *testing.T) {
	st, _ := fileStore(t, "")
	mustWrite(t, st, testID, `user|i:5;`)
	resp := serve(t, st, session.Options{}, testID, func(w http.ResponseWriter, s *session.Session) {
		if err := s.Destroy(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	})
	if c := sessionCookie(resp, "PHPSESSID"); c == nil || c.MaxAge >= 0 {
		t.Fatalf("cookie after Destroy: %+v", c)
	}
	if got := stored(t, st, testID); got != "<none>" {
		t.Fatalf("after Destroy: %q", got)
	}
	mustWrite(t, st, testID, `user|i:5;`)
	var newID string
	resp = serve(t, st, session.Options{}, testID, func(w http.ResponseWriter, s *session.Session) {
		s.Destroy(testCtx(t))
		s.Set("flash", "logged out")
		newID = s.ID()
	})
	if c := sessionCookie(resp, "PHPSESSID"); newID == testID || c == nil || c.Value != newID {
		t.Fatalf("new session after Destroy: id %q, cookie %+v", newID, c)
	}
	if got := stored(t, st, newID); got != `flash|s:10:"logged out";` {
		t.Fatalf("new session stored %q", got)
	}
}

// TestRegenerate: the data (with this request's changes) moves to a new id;
// the old session is destroyed, or kept with a copy.
func TestRegenerate(t *testing.T) {
	st, _ := fileStore(t, "")
	for _, deleteOld := range []bool{true, false} {
		mustWrite(t, st, testID, `a|i:1;`)
		var newID string
		resp := serve(t, st, session.Options{}, testID, func(w http.ResponseWriter, s *session.Session) {
			s.Set("b", 2)
			if err := s.Regenerate(testCtx(t), deleteOld); err != nil {
				t.Fatal(err)
			}
			newID = s.ID()
			s.Set("c", 3)
		})
		if c := sessionCookie(resp, "PHPSESSID"); newID == testID || c == nil || c.Value != newID {
			t.Fatalf("deleteOld=%v: id %q, cookie %+v", deleteOld, newID, c)
		}
		if got := stored(t, st, newID); got != `a|i:1;b|i:2;c|i:3;` {
			t.Fatalf("new session %q", got)
		}
		old := stored(t, st, testID)
		if deleteOld && old != "<none>" || !deleteOld && old != `a|i:1;b|i:2;` {
			t.Fatalf("deleteOld=%v: old session %q", deleteOld, old)
		}
	}
}

// TestSaveAfterHeader: a change made after the response header went out is
// saved when the handler returns; Save saves at once.
func TestSaveAfterHeader(t *testing.T) {
	st, _ := fileStore(t, "")
	mustWrite(t, st, testID, `a|i:1;`)
	serve(t, st, session.Options{}, testID, func(w http.ResponseWriter, s *session.Session) {
		s.Get("a")
		io.WriteString(w, "body")
		s.Set("late", true)
	})
	if got := stored(t, st, testID); got != `a|i:1;late|b:1;` {
		t.Fatalf("stored %q", got)
	}
	serve(t, st, session.Options{}, testID, func(w http.ResponseWriter, s *session.Session) {
		s.Set("n", 1)
		if err := s.Save(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if got := stored(t, st, testID); got != `a|i:1;late|b:1;n|i:1;` {
			t.Errorf("after Save: %q", got)
		}
		if s.Modified() {
			t.Error("Modified after Save")
		}
	})
}

// TestUnmarshalReferences: typed access resolves PHP references, which are
// numbered across the whole session.
func TestUnmarshalReferences(t *testing.T) {
	st, _ := fileStore(t, "")
	mustWrite(t, st, testID, `n|i:1;user|O:4:"User":2:{s:4:"name";s:3:"bob";s:5:"roles";a:1:{i:0;s:5:"admin";}}same|r:2;`)
	type User struct {
		Name  string   `php:"name"`
		Roles []string `php:"roles"`
	}
	serve(t, st, session.Options{}, testID, func(w http.ResponseWriter, s *session.Session) {
		for _, k := range []string{"user", "same"} {
			var u User
			if err := s.Unmarshal(k, &u); err != nil || u.Name != "bob" || len(u.Roles) != 1 {
				t.Errorf("Unmarshal(%q) = %+v, %v", k, u, err)
			}
		}
		var n int
		if err := s.Unmarshal("missing", &n); !errors.Is(err, handlers.ErrNotFound) {
			t.Errorf("Unmarshal of a missing variable: %v", err)
		}
		// deleting n moves the object to slot 1: the reference follows
		s.Delete("n")
	})
	if got := stored(t, st, testID); got != `user|O:4:"User":2:{s:4:"name";s:3:"bob";s:5:"roles";a:1:{i:0;s:5:"admin";}}same|r:1;` {
		t.Fatalf("stored %q", got)
	}
}

// TestFlashTempGo: CodeIgniter's flashdata and tempdata, from Go alone.
func TestFlashTempGo(t *testing.T) {
	st, _ := fileStore(t, "layout=ci3")
	opts := session.Options{CookieName: "ci_session", SIDLength: 32, SIDBits: 5}
	const id = "0123456789abcdefghijklmnopqrstuv"
	mustWrite(t, st, id, `x|i:1;`)
	serve(t, st, opts, id, func(w http.ResponseWriter, s *session.Session) {
		if err := s.Flash("msg", "saved"); err != nil {
			t.Fatal(err)
		}
		if err := s.Temp("tmp", 5, time.Minute); err != nil {
			t.Fatal(err)
		}
		if v, ok := s.Flashdata("msg"); !ok || v.Str() != "saved" {
			t.Errorf("Flashdata in the same request: %v %v", v, ok)
		}
	})
	exp := time.Now().Add(time.Minute).Unix()
	want := fmt.Sprintf(`x|i:1;msg|s:5:"saved";__ci_vars|a:2:{s:3:"msg";s:3:"new";s:3:"tmp";i:%d;}tmp|i:5;`, exp)
	if got := stored(t, st, id); got != want && got != strings.Replace(want, fmt.Sprint(exp), fmt.Sprint(exp-1), 1) {
		t.Fatalf("stored %q, want %q", got, want)
	}
	for i, wantMsg := range []bool{true, false} {
		serve(t, st, opts, id, func(w http.ResponseWriter, s *session.Session) {
			_, ok := s.Flashdata("msg")
			if ok != wantMsg {
				t.Errorf("request %d: flashdata msg %v", i+1, ok)
			}
			if v, ok := s.Tempdata("tmp"); !ok || v.Int() != 5 {
				t.Errorf("request %d: tempdata %v %v", i+1, v, ok)
			}
		})
	}
	if got := stored(t, st, id); !strings.HasPrefix(got, `x|i:1;__ci_vars|a:1:{s:3:"tmp";`) {
		t.Fatalf("after two requests: %q", got)
	}
	plain, _ := fileStore(t, "")
	serve(t, plain, session.Options{}, "", func(w http.ResponseWriter, s *session.Session) {
		if err := s.Flash("a", 1); !errors.Is(err, session.ErrNotCodeIgniter) {
			t.Errorf("Flash on a native layout: %v", err)
		}
	})
}
