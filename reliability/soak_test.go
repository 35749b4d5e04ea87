package reliability_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/phpsess/phpsess/cmd"
	"github.com/phpsess/phpsess/internal/testenv"
	"github.com/phpsess/phpsess/session/sessiontest"
)

// soakDuration is PHPSESS_SOAK (a Go duration), 15 s by default.
func soakDuration(t *testing.T) time.Duration {
	v := os.Getenv("PHPSESS_SOAK")
	if v == "" {
		return 15 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("PHPSESS_SOAK=%q: want a duration such as 2m", v)
	}
	return d
}

// buildPhpsess builds the phpsess binary into a temporary dir.
func buildPhpsess(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	bin := filepath.Join(t.TempDir(), "phpsess")
	c := exec.Command(goBin, "build", "-o", bin, "github.com/phpsess/phpsess")
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serveProcess runs `phpsess serve` as a child process and returns its
// base URL and pid.
func serveProcess(t *testing.T, bin, store string) (string, int) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	c := exec.Command(bin, "serve", "--store", store, "--listen", addr, "--log-level", "error")
	var logs bytes.Buffer
	c.Stdout, c.Stderr = &logs, &logs
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	t.Cleanup(func() {
		c.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("phpsess serve exited with %v after SIGTERM; its log:\n%s", err, logs.String())
			}
		case <-time.After(10 * time.Second):
			c.Process.Kill()
			t.Errorf("phpsess serve did not stop within 10 s of SIGTERM")
		}
	})
	base := "http://" + addr
	for i := 0; ; i++ {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			return base, c.Process.Pid
		}
		if i == 200 {
			t.Fatalf("phpsess serve did not answer /healthz; its log:\n%s", logs.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// rssKB reads VmRSS of a process, in KiB.
func rssKB(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// soakCounts are one session's counters: acknowledged and attempted.
type soakCounts struct {
	phpAck, phpTry atomic.Int64
	apiAck         atomic.Int64
}

// TestSoak runs PHP requests (php -S, the files handler, each client with
// its cookie jar), `phpsess serve` (the built binary, a child process)
// and `phpsess put`/`get` on the same few sessions for PHPSESS_SOAK
// (15 s by default; `PHPSESS_SOAK=2m scripts/reliability.sh` is the
// nightly-sized run). PHP increments "php", HTTP clients increment "api"
// by compare-and-set (GET, PATCH with If-Match) and set their own "w<i>";
// the CLI rewrites a session of its own and reads the shared ones. At the
// end every counter must equal its acknowledged increments (0 lost
// updates, with locking on), and the server's RSS must stay flat: the
// largest sample of the last third at most 1.5 times the largest of the
// first third, plus 8 MiB.
func TestSoak(t *testing.T) {
	dur := soakDuration(t)
	var (
		ops, errs, lost           atomic.Int64
		rssFirst, rssLast, rssMax int64
		classes                   sync.Map // class -> *atomic.Int64
	)
	verdict(t, "soak", "mixed", func(failed bool) (string, string) {
		var cls []string
		classes.Range(func(k, v any) bool {
			cls = append(cls, fmt.Sprintf("%s:%d", k, v.(*atomic.Int64).Load()))
			return true
		})
		word := "passed"
		if failed {
			word = "failed"
		}
		return word, fmt.Sprintf("duration=%v ops=%d errors=%d lost=%d rss_first_kb=%d rss_last_kb=%d rss_max_kb=%d classes=%s",
			dur, ops.Load(), errs.Load(), lost.Load(), rssFirst, rssLast, rssMax, strings.Join(cls, ","))
	})
	countErr := func(class string) {
		errs.Add(1)
		v, _ := classes.LoadOrStore(class, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	testenv.PHP(t)
	docroot, err := filepath.Abs("../session/testdata/php")
	if err != nil {
		t.Fatal(err)
	}
	store, dir := sessiontest.FileURL(t, "lock_timeout=10s")
	php := testenv.PHPServer(t, docroot, map[string]string{
		"session.save_handler":      "files",
		"session.save_path":         dir,
		"session.serialize_handler": "php",
		"session.use_strict_mode":   "0",
		"display_errors":            "0",
		"log_errors":                "1",
	}, []string{"PHP_CLI_SERVER_WORKERS=4"}) + "/native.php"
	api, pid := serveProcess(t, buildPhpsess(t), store)

	const nSessions, nPHP, nHTTP = 4, 3, 3
	ids := make([]string, nSessions)
	counts := make([]*soakCounts, nSessions)
	for i := range ids {
		ids[i] = newID()
		counts[i] = &soakCounts{}
		if code, body := call("PUT", api+"/v1/sessions/"+ids[i], `{"php":0,"api":0}`, nil); code != 200 {
			t.Fatalf("PUT: %d %s", code, body)
		}
	}
	own := make([]atomic.Int64, nHTTP) // each HTTP client's own variable w<i>, on session 0
	var cliAck atomic.Int64
	cliID := newID()

	ctx, stop := context.WithTimeout(context.Background(), dur)
	defer stop()
	var wg sync.WaitGroup
	var rss []int64
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if kb := rssKB(pid); kb > 0 {
					rss = append(rss, kb)
				}
			}
		}
	})
	for w := 0; w < nPHP; w++ {
		wg.Go(func() {
			jar, _ := cookiejar.New(nil)
			client := &http.Client{Jar: jar, Timeout: 30 * time.Second}
			u, _ := url.Parse(php)
			for n := w; ctx.Err() == nil; n++ {
				i := n % nSessions
				jar.SetCookies(u, []*http.Cookie{{Name: "PHPSESSID", Value: ids[i]}})
				counts[i].phpTry.Add(1)
				ops.Add(1)
				resp, err := client.Get(php + "?inc=php")
				if err != nil {
					countErr("php-transport")
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var a struct{ ID string }
				if resp.StatusCode != 200 || json.Unmarshal(b, &a) != nil || a.ID != ids[i] {
					countErr(fmt.Sprintf("php-%d", resp.StatusCode))
					continue
				}
				counts[i].phpAck.Add(1)
			}
		})
	}
	for w := 0; w < nHTTP; w++ {
		wg.Go(func() {
			for n := w; ctx.Err() == nil; n++ {
				i := n % nSessions
				ops.Add(1)
				if n%4 == 3 { // a PATCH of this client's own variable
					v := own[w].Load() + 1
					code, _ := call("PATCH", api+"/v1/sessions/"+ids[0], fmt.Sprintf(`{"set":{"w%d":%d}}`, w, v), nil)
					if code != 200 {
						countErr(fmt.Sprintf("patch-%d", code))
						continue
					}
					own[w].Store(v)
					continue
				}
				if err := casIncrement(api, ids[i]); err != "" {
					countErr(err)
					continue
				}
				counts[i].apiAck.Add(1)
			}
		})
	}
	wg.Go(func() {
		for n := 0; ctx.Err() == nil; n++ {
			ops.Add(1)
			var stdout, stderr bytes.Buffer
			if n%2 == 0 {
				v := cliAck.Load() + 1
				code := cmd.Execute([]string{"put", store, cliID}, strings.NewReader(fmt.Sprintf(`{"c":%d}`, v)), &stdout, &stderr)
				if code != 0 {
					countErr(fmt.Sprintf("cli-put-%d", code))
					continue
				}
				cliAck.Store(v)
				continue
			}
			code := cmd.Execute([]string{"get", store, ids[n/2%nSessions]}, strings.NewReader(""), &stdout, &stderr)
			var m map[string]any
			if code != 0 || json.Unmarshal(stdout.Bytes(), &m) != nil {
				countErr(fmt.Sprintf("cli-get-%d", code))
				t.Errorf("phpsess get: exit %d: %s", code, stderr.String())
			}
		}
	})
	wg.Wait()

	// the stored counters against the acknowledged increments
	st := open(t, store)
	for i, id := range ids {
		vars, err := ints(mustRead(t, st, id))
		if err != nil {
			t.Fatalf("session %d does not decode: %v", i, err)
		}
		c := counts[i]
		if d := c.phpAck.Load() - vars["php"]; d > 0 {
			t.Errorf("session %d: php = %d, %d PHP increments acknowledged: %d lost", i, vars["php"], c.phpAck.Load(), d)
			lost.Add(d)
		}
		if vars["php"] > c.phpTry.Load() {
			t.Errorf("session %d: php = %d, more than the %d requests", i, vars["php"], c.phpTry.Load())
		}
		if d := c.apiAck.Load() - vars["api"]; d != 0 {
			t.Errorf("session %d: api = %d, %d compare-and-set increments acknowledged", i, vars["api"], c.apiAck.Load())
			if d > 0 {
				lost.Add(d)
			}
		}
		if i == 0 {
			for w := range own {
				if got := vars[fmt.Sprintf("w%d", w)]; got < own[w].Load() {
					t.Errorf("w%d = %d, %d acknowledged", w, got, own[w].Load())
					lost.Add(own[w].Load() - got)
				}
			}
		}
	}
	if vars, err := ints(mustRead(t, st, cliID)); err != nil || vars["c"] != cliAck.Load() {
		t.Errorf("the CLI's session: %v (%v), want c = %d", vars, err, cliAck.Load())
		lost.Add(1)
	}

	// memory: flat
	if len(rss) < 6 {
		t.Fatalf("only %d RSS samples", len(rss))
	}
	third := len(rss) / 3
	rssFirst, rssLast = maxOf(rss[:third]), maxOf(rss[len(rss)-third:])
	rssMax = maxOf(rss)
	if rssLast > rssFirst*3/2+8<<10 {
		t.Errorf("phpsess serve grew: max RSS %d KiB in the first third, %d KiB in the last", rssFirst, rssLast)
	}
	t.Logf("soak %v: %d ops, %d errors, %d lost; RSS %d KiB first third, %d KiB last, %d max", dur, ops.Load(), errs.Load(), lost.Load(), rssFirst, rssLast, rssMax)
	if e := errs.Load(); e*100 > ops.Load() {
		t.Errorf("%d errors in %d operations (more than 1%%)", e, ops.Load())
	}
}

func maxOf(xs []int64) int64 {
	var m int64
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// call sends one request and returns the status and body (0 on a
// transport error).
func call(method, u, body string, hdr http.Header) (int, []byte) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return 0, []byte(err.Error())
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// casIncrement increments "api" by compare-and-set: GET the variable and
// its ETag, PATCH with If-Match, again on 412. It returns "" or the class
// of the error.
func casIncrement(api, id string) string {
	for try := 0; try < 1000; try++ {
		code, body, etag := getWithETag(api + "/v1/sessions/" + id + "?key=api")
		if code != 200 {
			return fmt.Sprintf("get-%d", code)
		}
		n, _ := strconv.Atoi(strings.TrimSpace(string(body)))
		code, _ = call("PATCH", api+"/v1/sessions/"+id, fmt.Sprintf(`{"set":{"api":%d}}`, n+1), http.Header{"If-Match": {etag}})
		switch code {
		case 200:
			return ""
		case 412:
			continue
		default:
			return fmt.Sprintf("cas-%d", code)
		}
	}
	return "cas-starved"
}

func getWithETag(u string) (int, []byte, string) {
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Get(u)
	if err != nil {
		return 0, nil, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header.Get("ETag")
}
