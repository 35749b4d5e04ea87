package reliability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/handlers/storetest"
	"github.com/phpsess/phpsess/internal/testenv"
	"github.com/phpsess/phpsess/phpserialize"
)

func TestMain(m *testing.M) { testenv.Run(m) }

// ctxFor returns a context that ends with the test, or after d.
func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// newID returns a fresh session id: 32 characters of [0-9a-v].
func newID() string { return storetest.NewID() }

// verdict prints, when t ends, the result line scripts/reliability.sh
// counts: "RELIABILITY <kind> <name> <word> <details>", where result gives
// the word and the details from whether t failed. Call it first in the
// test, so that it runs after every other cleanup (servers stopped, files
// checked).
func verdict(t *testing.T, kind, name string, result func(failed bool) (word, details string)) {
	t.Cleanup(func() {
		if t.Skipped() {
			return
		}
		word, details := result(t.Failed())
		line := fmt.Sprintf("RELIABILITY %s %s %s", kind, name, word)
		if details != "" {
			line += " " + details
		}
		fmt.Println(line)
	})
}

// fault registers t as one fault of the table: survived when t passed.
func fault(t *testing.T, name string, details func() string) {
	verdict(t, "fault", name, func(failed bool) (string, string) {
		if failed {
			return "failed", details()
		}
		return "survived", details()
	})
}

// encode returns the php-handler payload of a session given in the JSON
// form.
func encode(t testing.TB, jsonForm string) []byte {
	t.Helper()
	sess, err := phpserialize.ParseSessionJSON(phpserialize.HandlerPHP, []byte(jsonForm))
	if err != nil {
		t.Fatal(err)
	}
	b, err := phpserialize.EncodeSession(phpserialize.HandlerPHP, sess)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ints decodes a php-handler payload whose variables are ints.
func ints(data []byte) (map[string]int64, error) {
	sess, err := phpserialize.DecodeSession(phpserialize.HandlerPHP, data)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for k, v := range sess.All() {
		if v.Kind() == phpserialize.KindInt {
			out[k.String()] = v.Int()
		}
	}
	return out, nil
}

// open opens a store, closed at the end of the test.
func open(t testing.TB, rawURL string) handlers.Store {
	t.Helper()
	st, err := handlers.Open(ctxFor(t, time.Minute), rawURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// ---------------------------------------------------------------- PHP --

// phpCLI runs testdata/php/session.php: one PHP request on the command line
// with the given ini settings (the save handler) and environment.
type phpCLI struct {
	php, script string
	ini         map[string]string
	env         []string
	conf        map[string]any // merged into every request's argument
}

func newPHP(t testing.TB, ini map[string]string, conf map[string]any) *phpCLI {
	t.Helper()
	script, err := filepath.Abs("testdata/php/session.php")
	if err != nil {
		t.Fatal(err)
	}
	return &phpCLI{php: testenv.PHP(t), script: script, ini: ini, conf: conf}
}

// phpOut is what session.php prints.
type phpOut struct {
	ID   string `json:"id"`
	Data []byte `json:"data"`
	OK   bool   `json:"ok"`
}

func (p *phpCLI) cmd(ctx context.Context, op string, id string, kv ...string) *exec.Cmd {
	arg := map[string]any{"op": op, "id": id}
	for k, v := range p.conf {
		arg[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		arg[kv[i]] = kv[i+1]
	}
	a, _ := json.Marshal(arg)
	args := []string{"-d", "display_errors=stderr", "-d", "error_reporting=E_ALL"}
	keys := make([]string, 0, len(p.ini))
	for k := range p.ini {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := p.ini[k]
		if strings.ContainsAny(v, "=?&;") {
			v = `"` + v + `"` // else PHP's ini parser reads '=' as a syntax error
		}
		args = append(args, "-d", k+"="+v)
	}
	args = append(args, p.script, string(a))
	c := exec.CommandContext(ctx, p.php, args...)
	c.Env = append(os.Environ(), p.env...)
	return c
}

// run runs one request and returns what it printed; a PHP that fails, warns
// or cannot save the session is an error.
func (p *phpCLI) run(ctx context.Context, op, id string, kv ...string) (phpOut, error) {
	var out phpOut
	c := p.cmd(ctx, op, id, kv...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		return out, fmt.Errorf("php %s: %v: %s%s", op, err, stderr.Bytes(), stdout.Bytes())
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return out, fmt.Errorf("php %s printed %q (%v); stderr %s", op, stdout.Bytes(), err, stderr.Bytes())
	}
	if !out.OK || stderr.Len() > 0 {
		return out, fmt.Errorf("php %s: the session failed: %s", op, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// must is run that fails the test on error.
func (p *phpCLI) must(t testing.TB, op, id string, kv ...string) phpOut {
	t.Helper()
	out, err := p.run(ctxFor(t, time.Minute), op, id, kv...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// hold starts a PHP request that takes the session (and its lock) and
// keeps it; it returns once PHP said "locked". Kill it with SIGKILL to
// leave a stale lock behind, as a crashed PHP worker does.
func (p *phpCLI) hold(t testing.TB, id string) *exec.Cmd {
	t.Helper()
	c := p.cmd(context.Background(), "hold", id)
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	c.Stderr = &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	line := make(chan string, 1)
	go func() {
		b := make([]byte, 64)
		n, _ := stdout.Read(b)
		line <- string(b[:n])
	}()
	select {
	case l := <-line:
		if !strings.HasPrefix(l, "locked") {
			t.Fatalf("php hold: %q; stderr: %s", l, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("php hold: no answer after 30s; stderr: %s", stderr.String())
	}
	return c
}

// clockShim builds testdata/skew.c, an LD_PRELOAD library that moves a
// process's wall clock by PHPSESS_CLOCK_SKEW seconds, and returns its path.
func clockShim(t testing.TB) string {
	t.Helper()
	testenv.PHP(t) // skipped with the other PHP tests in -short mode
	src, err := filepath.Abs("testdata/skew.c")
	if err != nil {
		t.Fatal(err)
	}
	so := filepath.Join(t.TempDir(), "skew.so")
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	out, err := exec.Command(cc, "-shared", "-fPIC", "-O2", "-o", so, src, "-ldl").CombinedOutput()
	if err != nil {
		t.Fatalf("building the clock shim with %s (gcc is part of the Go machine; apt-get install gcc): %v\n%s", cc, err, out)
	}
	return so
}

// decodeOrEmpty decodes a php-handler payload; no bytes is an empty session.
func decodeOrEmpty(data []byte) (*phpserialize.Array, error) {
	if len(data) == 0 {
		return &phpserialize.Array{}, nil
	}
	return phpserialize.DecodeSession(phpserialize.HandlerPHP, data)
}

func setInt(sess *phpserialize.Array, key string, n int64) {
	sess.Set(phpserialize.StringKey(key), phpserialize.Int(n))
}

func encodeSess(sess *phpserialize.Array) ([]byte, error) {
	return phpserialize.EncodeSession(phpserialize.HandlerPHP, sess)
}

// mountedURL returns a files store URL on dir, a mount point, whose new
// files belong to whoever runs the test.
func mountedURL(t testing.TB, dir, query string) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if query != "" {
		query = "&" + query
	}
	return "file://" + dir + "?owner=" + u.Username + query
}
