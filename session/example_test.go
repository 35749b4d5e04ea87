package session_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/user"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/phpserialize"
	"github.com/phpsess/phpsess/session"
)

// exampleStore opens a files store in a new directory, as PHP's files save
// handler keeps sessions (session.save_path), with one session in it.
func exampleStore(query, id, payload string) (handlers.Store, func()) {
	dir, err := os.MkdirTemp("", "phpsess-example-")
	if err != nil {
		panic(err)
	}
	u, _ := user.Current()
	st, err := handlers.Open(context.Background(), "file://"+dir+"?owner="+u.Username+query)
	if err != nil {
		panic(err)
	}
	if id != "" {
		if err := st.Write(context.Background(), &handlers.Record{ID: id, Data: []byte(payload)}); err != nil {
			panic(err)
		}
	}
	return st, func() { st.Close(); os.RemoveAll(dir) }
}

// request runs one request with the session cookie id through h.
func request(h http.Handler, cookie, id string) *http.Response {
	r := httptest.NewRequest("GET", "/", nil)
	if id != "" {
		r.AddCookie(&http.Cookie{Name: cookie, Value: id})
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

const exampleID = "k3j5ifd0a1b2c3d4e5f6g7h8i9"

// A Go handler shares the session of a PHP application: the middleware
// reads the PHPSESSID cookie, loads the session on first use, and writes
// back what the handler changed before the response goes out.
func ExampleMiddleware() {
	st, done := exampleStore("", exampleID, `user_id|i:42;cart|a:1:{i:0;i:7;}`)
	defer done()

	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		uid, _ := s.Get("user_id")
		s.Set("last_seen_by", "go")
		fmt.Fprintf(w, "user %d", uid.Int())
	})
	h := session.Middleware(st, session.Options{CookieName: "PHPSESSID"})(app)

	body, _ := io.ReadAll(request(h, "PHPSESSID", exampleID).Body)
	fmt.Println(string(body))
	rec, _ := st.Read(context.Background(), exampleID)
	fmt.Println(string(rec.Data))
	// Output:
	// user 42
	// user_id|i:42;cart|a:1:{i:0;i:7;}last_seen_by|s:2:"go";
}

// Start starts the session explicitly, as session_start() does: a new
// session is stored (and its cookie sent) even if nothing is set.
func ExampleSession_Start() {
	st, done := exampleStore("", "", "")
	defer done()
	h := session.Middleware(st, session.Options{SIDLength: 26, SIDBits: 5})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		if err := s.Start(r.Context()); err != nil {
			http.Error(w, "no session", http.StatusServiceUnavailable)
		}
	}))
	resp := request(h, "PHPSESSID", "")
	c := resp.Cookies()[0]
	_, err := st.Read(context.Background(), c.Value)
	fmt.Println(c.Name, len(c.Value), c.HttpOnly, err)
	// Output:
	// PHPSESSID 26 true <nil>
}

// Get and Unmarshal read session variables: as phpserialize values, or into
// Go types with phpserialize's struct tags.
func ExampleSession_Get() {
	st, done := exampleStore("", exampleID, `user|O:4:"User":2:{s:4:"name";s:4:"Zoë";s:8:"`+"\x00*\x00"+`roles";a:1:{i:0;s:5:"admin";}}`)
	defer done()
	h := session.Middleware(st, session.Options{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		v, ok := s.Get("user")
		fmt.Println(v.Class(), ok)

		var u struct {
			Name  string   `php:"name"`
			Roles []string `php:"roles,protected"`
		}
		if err := s.Unmarshal("user", &u); err != nil {
			fmt.Println(err)
		}
		fmt.Printf("%+v\n", u)
	}))
	request(h, "PHPSESSID", exampleID)
	// Output:
	// User true
	// {Name:Zoë Roles:[admin]}
}

// Set and Delete change variables; only these changes are written, on top
// of the session as stored when the request ends (under the PHP side's
// lock), so a PHP request running meanwhile loses nothing.
func ExampleSession_Set() {
	st, done := exampleStore("", exampleID, `a|i:1;b|i:2;`)
	defer done()
	h := session.Middleware(st, session.Options{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		s.Set("cart", []int{7, 9})
		s.Set("total", 19.9)
		s.Delete("a")
		fmt.Println(s.Modified())
	}))
	request(h, "PHPSESSID", exampleID)
	rec, _ := st.Read(context.Background(), exampleID)
	fmt.Println(string(rec.Data))
	// Output:
	// true
	// b|i:2;cart|a:2:{i:0;i:7;i:1;i:9;}total|d:19.9;
}

// Save writes the changes now, as session_write_close() does, and reports
// errors the end of the request could only log.
func ExampleSession_Save() {
	st, done := exampleStore("", exampleID, `n|i:1;`)
	defer done()
	h := session.Middleware(st, session.Options{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		s.Set("n", 2)
		if err := s.Save(r.Context()); err != nil {
			http.Error(w, "session not saved", http.StatusServiceUnavailable)
			return
		}
		rec, _ := st.Read(r.Context(), s.ID())
		fmt.Println(string(rec.Data))
	}))
	request(h, "PHPSESSID", exampleID)
	// Output:
	// n|i:2;
}

// Destroy is a logout: the session is removed from the store and the
// browser is told to drop the cookie.
func ExampleSession_Destroy() {
	st, done := exampleStore("", exampleID, `user_id|i:42;`)
	defer done()
	h := session.Middleware(st, session.Options{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Destroy(r.Context())
	}))
	resp := request(h, "PHPSESSID", exampleID)
	_, err := st.Read(context.Background(), exampleID)
	fmt.Println(resp.Cookies()[0].MaxAge < 0, err != nil)
	// Output:
	// true true
}

// Regenerate gives the session a new id after a login, as
// session_regenerate_id(true): the data moves, the old id is gone, and the
// new cookie goes out with the response.
func ExampleSession_Regenerate() {
	st, done := exampleStore("", exampleID, `cart|i:3;`)
	defer done()
	var newID string
	h := session.Middleware(st, session.Options{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		s.Set("user_id", 42)
		if err := s.Regenerate(r.Context(), true); err != nil {
			fmt.Println(err)
		}
		newID = s.ID()
	}))
	resp := request(h, "PHPSESSID", exampleID)
	rec, _ := st.Read(context.Background(), newID)
	_, err := st.Read(context.Background(), exampleID)
	fmt.Println(resp.Cookies()[0].Value == newID, string(rec.Data), err != nil)
	// Output:
	// true cart|i:3;user_id|i:42; true
}

// Flash and Temp are CodeIgniter's flashdata and tempdata: a message for
// the next request, whichever side (PHP or Go) serves it.
func ExampleSession_Flash() {
	const id = "0123456789abcdefghijklmnopqrstuv" // CodeIgniter 3's form
	st, done := exampleStore("&layout=ci3", id, `user|s:3:"bob";`)
	defer done()
	opts := session.Options{CookieName: "ci_session", SIDLength: 32, SIDBits: 5}
	h := session.Middleware(st, opts)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		if r.URL.Query().Has("save") {
			s.Flash("notice", "Saved.")
			s.Temp("captcha", "x7q", 5*time.Minute)
			return
		}
		msg, ok := s.Flashdata("notice")
		fmt.Println(msg.Str(), ok)
	}))
	r := httptest.NewRequest("GET", "/?save=1", nil)
	r.AddCookie(&http.Cookie{Name: "ci_session", Value: id})
	h.ServeHTTP(httptest.NewRecorder(), r)
	request(h, "ci_session", id) // the next request shows it
	request(h, "ci_session", id) // the one after, not any more
	// Output:
	// Saved. true
	//  false
}

// An Edit applies changes to a session as stored, renumbering PHP's
// references so that they still point to the same values.
func ExampleEdit() {
	sess, _ := phpserialize.DecodeSession(phpserialize.HandlerPHP, []byte(`tmp|i:1;user|O:8:"stdClass":0:{}same|r:2;`))
	var e session.Edit
	e.Delete(phpserialize.StringKey("tmp"))
	e.Set(phpserialize.StringKey("n"), phpserialize.Int(5))
	if err := e.Apply(phpserialize.HandlerPHP, sess); err != nil {
		fmt.Println(err)
	}
	out, _ := phpserialize.EncodeSession(phpserialize.HandlerPHP, sess)
	fmt.Println(string(out))
	// Output:
	// user|O:8:"stdClass":0:{}same|r:1;n|i:5;
}

// NewID makes ids as PHP does for session.sid_length and
// session.sid_bits_per_character.
func ExampleNewID() {
	id, _ := session.NewID(26, 5) // Debian's php.ini
	re, _ := session.IDPattern(26, 5)
	fmt.Println(len(id), re.MatchString(id), re)
	// Output:
	// 26 true ^[0-9a-v]{26}$
}
