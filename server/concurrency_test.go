package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/internal/testenv"
	"github.com/phpsess/phpsess/server"
	"github.com/phpsess/phpsess/session/sessiontest"
)

// phpInc asks the PHP app to increment a variable of session id, holding
// the session (and its lock) a few milliseconds.
func phpInc(base, id, key string) error {
	req, _ := http.NewRequest("GET", base+"?inc="+key+"&sleep=5", nil)
	req.AddCookie(&http.Cookie{Name: "PHPSESSID", Value: id})
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("PHP: %s: %s", resp.Status, b)
	}
	var a struct{ ID string }
	if err := json.Unmarshal(b, &a); err != nil || a.ID != id {
		return fmt.Errorf("PHP answered %s (%v)", b, err)
	}
	return nil
}

// casInc increments n through the API by compare-and-set: GET, then PATCH
// with If-Match, again on 412.
func casInc(a *api, id string) error {
	for try := 0; try < 500; try++ {
		r := a.do("GET", "/v1/sessions/"+id+"?key=n", "")
		if r.status != 200 {
			return fmt.Errorf("GET: %d %s", r.status, r.body)
		}
		var n int
		json.Unmarshal(r.body, &n)
		p := a.do("PATCH", "/v1/sessions/"+id, fmt.Sprintf(`{"set":{"n":%d}}`, n+1), "If-Match", r.header.Get("ETag"))
		switch p.status {
		case 200:
			return nil
		case 412:
			continue
		default:
			return fmt.Errorf("PATCH: %d %s", p.status, p.body)
		}
	}
	return fmt.Errorf("500 compare-and-set tries lost")
}

// TestConcurrentPHPAndPatch: PHP requests and PATCH calls on one session at
// once, with locking on: PHP increments n; the API increments n by
// compare-and-set and adds variables of its own. No update is lost.
func TestConcurrentPHPAndPatch(t *testing.T) {
	docroot, err := filepath.Abs("../session/testdata/php")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(t *testing.T) (handlers.Store, map[string]string){
		"files": func(t *testing.T) (handlers.Store, map[string]string) {
			u, dir := sessiontest.FileURL(t, "")
			return openStore(t, u), map[string]string{"session.save_handler": "files", "session.save_path": dir}
		},
		"phpredis": func(t *testing.T) (handlers.Store, map[string]string) {
			addr := testenv.Redis(t)
			return openStore(t, "redis://"+addr+"/0?lock=on"), map[string]string{
				"session.save_handler":          "redis",
				"session.save_path":             "tcp://" + addr,
				"redis.session.locking_enabled": "1",
				"redis.session.lock_expire":     "30",
				"redis.session.lock_retries":    "-1",
				"redis.session.lock_wait_time":  "2000",
			}
		},
	}
	const phpN, casN, setN = 20, 20, 20
	for name, start := range cases {
		t.Run(name, func(t *testing.T) {
			testenv.PHP(t)
			st, ini := start(t)
			if !st.Info().Locking {
				t.Fatal("the store's locking is off")
			}
			ini["session.serialize_handler"] = "php"
			ini["display_errors"] = "0"
			ini["log_errors"] = "1"
			php := testenv.PHPServer(t, docroot, ini, []string{"PHP_CLI_SERVER_WORKERS=4"}) + "/native.php"
			a := newAPI(t, server.Config{Store: st})
			id := "k3j5ifd0a1b2c3d4e5f6g7h8i9"
			a.must(200, "PUT", "/v1/sessions/"+id, `{"n":0}`)

			var wg sync.WaitGroup
			errs := make(chan error, phpN+casN+setN)
			for i := 0; i < phpN; i++ {
				wg.Go(func() { errs <- phpInc(php, id, "n") })
			}
			for i := 0; i < casN; i++ {
				wg.Go(func() { errs <- casInc(a, id) })
			}
			for i := 0; i < setN; i++ {
				wg.Go(func() {
					r := a.do("PATCH", "/v1/sessions/"+id, fmt.Sprintf(`{"set":{"go_%d":%d}}`, i, i))
					if r.status != 200 {
						errs <- fmt.Errorf("PATCH go_%d: %d %s", i, r.status, r.body)
						return
					}
					errs <- nil
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			var got map[string]int
			json.Unmarshal(a.must(200, "GET", "/v1/sessions/"+id, "").body, &got)
			if got["n"] != phpN+casN {
				t.Errorf("n = %d after %d PHP and %d API increments: updates were lost", got["n"], phpN, casN)
			}
			for i := 0; i < setN; i++ {
				if v, ok := got[fmt.Sprintf("go_%d", i)]; !ok || v != i {
					t.Errorf("go_%d lost (a PHP request wrote over it)", i)
				}
			}
			if t.Failed() {
				t.Logf("session: %v", got)
			}
		})
	}
}
