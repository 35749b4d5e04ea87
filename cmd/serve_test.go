package cmd

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/session/sessiontest"
)

// TestServeRefusesPublicWithoutToken: serve will not listen on an address
// other hosts can reach unless a bearer token is set, from flags or from
// the environment.
func TestServeRefusesPublicWithoutToken(t *testing.T) {
	storeURL, _ := sessiontest.FileURL(t, "")
	for _, listen := range []string{"0.0.0.0:0", "[::]:0", ":0", "192.0.2.1:8080", "example.com:80"} {
		var out, errb bytes.Buffer
		code := Execute([]string{"serve", "--store", storeURL, "--listen", listen}, nil, &out, &errb)
		if code != ExitUsage || !strings.Contains(errb.String(), "token") {
			t.Errorf("serve --listen %s without a token: exit %d, %q", listen, code, errb.String())
		}
	}
	t.Setenv("PHPSESS_STORE", storeURL)
	t.Setenv("PHPSESS_LISTEN", "0.0.0.0:0")
	var errb bytes.Buffer
	if code := Execute([]string{"serve"}, nil, io.Discard, &errb); code != ExitUsage || !strings.Contains(errb.String(), "token") {
		t.Errorf("PHPSESS_LISTEN=0.0.0.0:0 without a token: exit %d, %q", code, errb.String())
	}
	for _, v := range []string{"127.0.0.1:0", "[::1]:0", "localhost:0", "unix:/tmp/x.sock"} {
		if needsToken(v) {
			t.Errorf("needsToken(%q)", v)
		}
	}
	tok := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tok, []byte("short\n"), 0o600)
	errb.Reset()
	if code := Execute([]string{"serve", "--token-file", tok}, nil, io.Discard, &errb); code != ExitFailure || !strings.Contains(errb.String(), "16 characters") {
		t.Errorf("a short token: exit %d, %q", code, errb.String())
	}
	t.Setenv("PHPSESS_LISTEN", "")
	for _, args := range [][]string{{"--max-body", "lots"}, {"--sid-bits", "7"}, {"--id-pattern", "("}, {"--log-level", "loud"}} {
		errb.Reset()
		if code := Execute(append([]string{"serve", "--listen", "127.0.0.1:0"}, args...), nil, io.Discard, &errb); code != ExitUsage {
			t.Errorf("serve %v: exit %d, %q", args, code, errb.String())
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"4MiB": 4 << 20, "512KiB": 512 << 10, "1048576": 1 << 20, "2 MB": 2 << 20, "1G": 1 << 30} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0", "-1", "4XB", "MiB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

// buildPhpsess builds the phpsess binary for a test.
func buildPhpsess(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "phpsess")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goBin, "build", "-o", bin, "github.com/phpsess/phpsess")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestServeSIGTERM: on SIGTERM, phpsess serve stops taking requests, lets
// the one in flight (waiting for a session lock) finish and release its
// lock, removes its unix socket and exits 0.
func TestServeSIGTERM(t *testing.T) {
	bin := buildPhpsess(t)
	storeURL, _ := sessiontest.FileURL(t, "lock_timeout=60")
	st := sessiontest.Open(t, storeURL)
	ctx := sessiontest.Ctx(t)
	const id = "k3j5ifd0a1b2c3d4e5f6g7h8i9"
	sessiontest.Write(t, st, id, `n|i:1;`)

	sock := filepath.Join(t.TempDir(), "api.sock")
	os.WriteFile(sock, nil, 0o600) // not a socket: serve must not remove it
	var errb bytes.Buffer
	if code := Execute([]string{"serve", "--store", storeURL, "--listen", "unix:" + sock}, nil, io.Discard, &errb); code == ExitOK || !strings.Contains(errb.String(), "not a socket") {
		t.Fatalf("serve on a regular file: exit %d, %q", code, errb.String())
	}
	os.Remove(sock)

	var logs bytes.Buffer
	proc := exec.Command(bin, "serve", "--listen", "unix:"+sock, "--log-format", "text")
	proc.Env = append(os.Environ(), "PHPSESS_STORE="+storeURL)
	proc.Stderr = &logs
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- proc.Wait() }()
	t.Cleanup(func() { proc.Process.Kill() })

	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get("http://phpsess/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}

	// a PHP request holds the session's lock (flock); a PATCH waits for it
	lk, err := st.(handlers.Locker).Lock(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	patched := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest("PATCH", "http://phpsess/v1/sessions/"+id, strings.NewReader(`{"set":{"n":2}}`))
		resp, err := client.Do(req)
		if err != nil {
			patched <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		patched <- resp.Status + " " + string(b)
	}()
	time.Sleep(500 * time.Millisecond)
	if err := proc.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	select {
	case err := <-exited:
		t.Fatalf("serve exited with a request in flight: %v\n%s", err, logs.String())
	case r := <-patched:
		t.Fatalf("the PATCH finished while the lock was held: %s", r)
	default:
	}
	// the PHP request ends; the PATCH gets the lock and finishes
	if err := lk.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-patched:
		if r != `200 OK {"n":2}` {
			t.Fatalf("PATCH in flight: %s", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the PATCH in flight did not finish")
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("serve exited with %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not exit after SIGTERM\n%s", logs.String())
	}
	if got := sessiontest.Stored(t, st, id); got != `n|i:2;` {
		t.Fatalf("stored %q", got)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("the socket is still there: %v", err)
	}
	if !strings.Contains(logs.String(), "msg=stopped") {
		t.Errorf("log:\n%s", logs.String())
	}
	// the server's lock was released: the session can be locked at once
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	lk2, err := st.(handlers.Locker).Lock(lctx, id)
	if err != nil {
		t.Fatalf("lock after shutdown: %v", err)
	}
	lk2.Unlock(ctx)
}
