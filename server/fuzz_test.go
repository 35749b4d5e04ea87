package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/phpserialize"
	"github.com/phpsess/phpsess/server"
)

// fuzzMethods are the methods FuzzAPI picks from.
func fuzzMethods() []string {
	return []string{"GET", "PUT", "PATCH", "DELETE", "POST", "HEAD", "OPTIONS", "TRACE"}
}

// FuzzAPI sends random requests (method, path, body, one header) to
// server.New over a files store in a temporary dir. No request may panic
// the server or get a 5xx other than 503 store_error or 502
// corrupt_session; an error is JSON with a code; and every 2xx write
// leaves a payload that phpserialize.DecodeSession accepts (PHP could read
// it).
func FuzzAPI(f *testing.F) {
	st := fileStore(f, "")
	srv, err := server.New(server.Config{Store: st, AllowClasses: []string{"Allowed"}})
	if err != nil {
		f.Fatal(err)
	}
	const id = "0123456789abcdefghijklmnopqrstuv"
	seeds := []struct {
		m      byte
		path   string
		body   string
		header string
	}{
		{1, id, `{"a":1,"b":[1,2],"c":{"x":"y"}}`, ""},
		{0, id, ``, ""},
		{0, id + "?key=a", ``, ""},
		{0, id, ``, "X-Session-Key: b"},
		{2, id, `{"set":{"n":{"$float":"INF"}},"unset":["a"]}`, ""},
		{2, id, `{"set":{"r":{"$R":1}}}`, ""},
		{2, id, `{"set":{"o":{"$object":{"class":"Allowed","props":{"\u0000*\u0000p":1}}}}}`, "If-Match: *"},
		{1, id, `{"o":{"$object":{"class":"Evil","props":{}}}}`, ""},
		{1, id, `{"e":{"$enum":"Suit:Hearts"},"s":{"$serializable":{"class":"Allowed","data":"x"}}}`, ""},
		{1, id, `{"a|b":1}`, "If-None-Match: *"},
		{1, id, `{"$array":{"$r":1}}`, ""},
		{1, id, `{"k":{"$entries":[[{"$bytes":"/w=="},1]]}}`, ""},
		{3, id, ``, "If-Match: \"0\""},
		{4, id + "/regenerate?keep_old=1", ``, ""},
		{1, id + "/flash/k", `1`, ""},
		{1, id + "/temp/k?ttl=300", `"v"`, ""},
		{0, id + "/flash", ``, ""},
		{0, "/v1/refs/x", ``, ""},
		{0, "/readyz", ``, ""},
		{0, "/openapi.json", ``, ""},
		{1, "../../etc/passwd", `{}`, ""},
		{1, "a%00b", `{}`, ""},
		{1, id, `{"a":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`, ""},
		{1, id, `{"a":1e999,"b":-0.0,"c":0.1,"d":9223372036854775808}`, ""},
		{2, id, `{"set":5}`, "Content-Type: text/plain"},
	}
	for _, s := range seeds {
		f.Add(s.m, s.path, []byte(s.body), s.header)
	}
	f.Fuzz(func(t *testing.T, m byte, path string, body []byte, header string) {
		methods := fuzzMethods()
		method := methods[int(m)%len(methods)]
		if !strings.HasPrefix(path, "/") {
			path = "/v1/sessions/" + path
		}
		req, err := http.NewRequest(method, "http://phpsess.test"+path, bytes.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		req.RequestURI = req.URL.RequestURI()
		if name, value, ok := strings.Cut(header, ":"); ok {
			req.Header[http.CanonicalHeaderKey(strings.TrimSpace(name))] = []string{strings.TrimSpace(value)}
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		var e struct{ Error, Code string }
		if w.Code >= 400 && w.Header().Get("Content-Type") == "application/json" {
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Code == "" {
				t.Fatalf("%s %q: %d with an error body that is not {error, code}: %q", method, path, w.Code, w.Body.Bytes())
			}
		}
		switch {
		case w.Code >= 500 && !(w.Code == 503 && e.Code == "store_error") && !(w.Code == 502 && e.Code == "corrupt_session"):
			t.Fatalf("%s %q %q (%s): %d %s", method, path, body, header, w.Code, w.Body.Bytes())
		case w.Code < 200 || w.Code > 299 || method == "GET" || method == "HEAD":
			return
		}
		// a 2xx write: what is stored must decode, for every session the
		// request named or made
		ids := []string{}
		if rest, ok := strings.CutPrefix(req.URL.Path, "/v1/sessions/"); ok {
			sid, _, _ := strings.Cut(rest, "/")
			ids = append(ids, sid)
		}
		var regen struct{ ID string }
		if json.Unmarshal(w.Body.Bytes(), &regen) == nil && regen.ID != "" {
			ids = append(ids, regen.ID)
		}
		for _, sid := range ids {
			rec, err := st.Read(testCtx(t), sid)
			if errors.Is(err, handlers.ErrNotFound) || errors.Is(err, handlers.ErrInvalidID) {
				continue
			}
			if err != nil {
				t.Fatalf("%s %q answered %d, then reading %q: %v", method, path, w.Code, sid, err)
			}
			if _, err := phpserialize.DecodeSession(st.Info().Handler, rec.Data); err != nil {
				t.Fatalf("%s %q %q answered %d and stored %q, which does not decode: %v", method, path, body, w.Code, rec.Data, err)
			}
		}
	})
}
