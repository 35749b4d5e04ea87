package cmd

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/handlers/storetest"
	"github.com/phpsess/phpsess/internal/testenv"
	"github.com/phpsess/phpsess/phpserialize"
)

// userSession is a php-handler payload of user id and a request counter.
func userSession(uid, count int) []byte {
	return fmt.Appendf(nil, `user|a:2:{s:2:"id";i:%d;s:5:"roles";a:1:{i:0;s:%d:"%s";}}count|i:%d;`,
		uid, len(role(uid)), role(uid), count)
}

func role(uid int) string {
	if uid%2 == 0 {
		return "admin"
	}
	return "viewer"
}

func sortedLines(s string) []string {
	l := strings.Fields(s)
	sort.Strings(l)
	return l
}

// TestFindFiles: find lists, changes and deletes matching sessions of a
// files store, and reports bad expressions as usage errors.
func TestFindFiles(t *testing.T) {
	u := fileStore(t, "")
	s := openTestStore(t, u)
	ids := map[int]string{}
	for uid := 1; uid <= 6; uid++ {
		ids[uid] = storetest.NewID()
		if err := s.Write(context.Background(), &handlers.Record{ID: ids[uid], Data: userSession(uid, uid*10)}); err != nil {
			t.Fatal(err)
		}
	}
	find := func(args ...string) []string {
		t.Helper()
		out, stderr, code := run(t, "", append([]string{"find", u, "-q"}, args...)...)
		if code != 0 {
			t.Fatalf("find %v: exit %d: %s", args, code, stderr)
		}
		return sortedLines(out)
	}
	want := func(uids ...int) []string {
		var l []string
		for _, u := range uids {
			l = append(l, ids[u])
		}
		sort.Strings(l)
		return l
	}
	check := func(got, want []string) {
		t.Helper()
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("got %v, want %v", got, want)
		}
	}
	check(find("--where", "user.id=3"), want(3))
	check(find("--where", `user.roles[*]="admin"`), want(2, 4, 6))
	check(find("--where", `count>=30 and not user.roles[0]="admin"`), want(3, 5))
	check(find("--where", `user.id exists`), want(1, 2, 3, 4, 5, 6))

	out, _, _ := run(t, "", "find", u, "-q", "-o", "json", "--where", "user.id=1")
	if !strings.HasPrefix(out, `{"id":"`+ids[1]+`","ttl":`) || !strings.Contains(out, `"handler":"php","data":{"user":{"id":1,"roles":["viewer"]},"count":10}}`) {
		t.Errorf("-o json: %q", out)
	}

	// --set and --unset under the lock
	check(find("--where", `user.roles[*]="admin"`, "--set", `user.roles[0]="viewer"`, "--set", `flagged=true`, "--unset", "count"), want(2, 4, 6))
	got, _, _ := run(t, "", "get", u, ids[4])
	if got != `{"user":{"id":4,"roles":["viewer"]},"flagged":true}`+"\n" {
		t.Errorf("after --set: %s", got)
	}
	check(find("--where", `user.roles[*]="admin"`), nil)

	// --delete
	out, stderr, code := run(t, "", "find", u, "--where", "flagged=true", "--delete")
	if code != 0 || len(sortedLines(out)) != 3 || !strings.Contains(stderr, "phpsess: find: 3 of 6 sessions deleted, 0 failed") {
		t.Errorf("--delete: exit %d, %q, %q", code, out, stderr)
	}
	check(find("--where", `user.id exists`), want(1, 3, 5))

	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--where", "user.id=="}, "phpsess: --where: where: offset 8: expected a value after =, found \"=\" (equality is a single =)\n"},
		{[]string{}, "phpsess: --where is required (use --where 'PATH exists' or see phpsess find --help)\n"},
		{[]string{"--where", "a=1", "--set", "b"}, "phpsess: --set b: where: offset 1: expected = and a JSON value after b, found the end\n"},
		{[]string{"--where", "a=1", "--set", "b=1", "--delete"}, "phpsess: --delete cannot be combined with --set or --unset\n"},
		{[]string{"--where", "a=1", "-o", "yaml"}, "phpsess: --output \"yaml\": want text or json\n"},
	} {
		out, stderr, code := run(t, "", append([]string{"find", u}, tc.args...)...)
		if code != ExitUsage || out != "" || stderr != tc.msg {
			t.Errorf("%v: exit %d, out %q, stderr %q, want %q", tc.args, code, out, stderr, tc.msg)
		}
	}
	// a session PHP could not decode is reported, the others still found
	bad := storetest.NewID()
	os.WriteFile(filepath.Join(strings.TrimPrefix(strings.Split(u, "?")[0], "file://"), "sess_"+bad), []byte("garbage"), 0o600)
	out, stderr, code = run(t, "", "find", u, "-q", "--where", "user.id=1")
	if code != ExitPartial || strings.TrimSpace(out) != ids[1] || !strings.Contains(stderr, `phpsess: find: session "`+bad+`": phpserialize:`) {
		t.Errorf("a bad session: exit %d, %q, %q", code, out, stderr)
	}
}

// counterPHP counts requests in the session and prints "count user-id".
const counterPHP = `<?php
session_start();
$_SESSION['count'] = ($_SESSION['count'] ?? 0) + 1;
echo $_SESSION['count'], ' ', isset($_SESSION['user']) ? $_SESSION['user']['id'] : '-';
`

// TestFindDelete10000WhilePHPRuns: find --delete on 10,000 Redis sessions
// removes exactly those of user 42 while PHP requests on matching and other
// sessions keep going; PHP's next request for a deleted session starts a
// fresh one (its counter restarts at 1, without the user).
func TestFindDelete10000WhilePHPRuns(t *testing.T) {
	addr := testenv.Redis(t)
	storeURL := "redis://" + addr + "/13?lock=on"
	flushRedis(t, storeURL)
	s := openTestStore(t, storeURL)
	ctx := context.Background()
	const total, users = 10000, 50 // user 42 has 200 sessions
	ids := make([]string, total)
	uidOf := map[string]int{}
	var batch []*handlers.Record
	for i := range ids {
		ids[i] = storetest.NewID()
		uidOf[ids[i]] = i % users
		batch = append(batch, &handlers.Record{ID: ids[i], Data: userSession(i%users, 0)})
		if len(batch) == 500 {
			if err := s.(handlers.BatchWriter).WriteBatch(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}

	docroot := t.TempDir()
	os.WriteFile(filepath.Join(docroot, "counter.php"), []byte(counterPHP), 0o644)
	base := testenv.PHPServer(t, docroot, map[string]string{
		"session.save_handler":          "redis",
		"session.save_path":             `"tcp://` + addr + `?database=13"`, // quoted: an = ends an unquoted ini value
		"redis.session.locking_enabled": "1",
		"redis.session.lock_retries":    "-1",
		"redis.session.lock_wait_time":  "1000",
		"session.use_strict_mode":       "0",
		"session.gc_maxlifetime":        "1440",
	}, []string{"PHP_CLI_SERVER_WORKERS=4"})

	// 8 matching and 8 other sessions, each requested over and over by
	// its own client until find is done, and once more after.
	var hit []string
	for i := 0; len(hit) < 16; i++ {
		if (uidOf[ids[i]] == 42) == (len(hit) < 8) {
			hit = append(hit, ids[i])
		}
	}
	findDone := make(chan struct{})
	responses := make([][]string, len(hit))
	var wg sync.WaitGroup
	for k, id := range hit {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jar, _ := cookiejar.New(nil)
			bu, _ := url.Parse(base)
			jar.SetCookies(bu, []*http.Cookie{{Name: "PHPSESSID", Value: id}})
			c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
			for n := 0; n < 2000; n++ {
				done := false
				select {
				case <-findDone:
					done = true
				default:
				}
				resp, err := c.Get(base + "/counter.php")
				if err != nil {
					t.Errorf("session %s: %v", id, err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				responses[k] = append(responses[k], string(b))
				if done {
					return
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond) // PHP requests under way
	out, stderr, code := run(t, "", "find", storeURL, "--where", "user.id=42", "--delete")
	close(findDone)
	wg.Wait()
	if code != 0 {
		t.Fatalf("find --delete: exit %d: %s", code, stderr)
	}
	if n := len(strings.Fields(out)); n != total/users {
		t.Errorf("find --delete printed %d ids, want %d", n, total/users)
	}
	t.Logf("find: %s", strings.TrimSpace(stderr))

	// exactly the matching sessions are gone: every other one is there
	// with its user, and no session of user 42 is left
	if out, _, _ := run(t, "", "find", storeURL, "-q", "--where", "user.id=42"); out != "" {
		t.Errorf("sessions of user 42 left: %s", out)
	}
	hitSet := map[string]bool{}
	for _, id := range hit {
		hitSet[id] = true
	}
	for _, id := range ids {
		rec, err := s.Read(ctx, id)
		switch {
		case uidOf[id] != 42 && err != nil:
			t.Fatalf("session %s of user %d: %v", id, uidOf[id], err)
		case uidOf[id] != 42:
			sess, err := phpserialize.DecodeSession("php", rec.Data)
			if v, _ := sess.Lookup("user"); err != nil || v.Array() == nil {
				t.Fatalf("session %s of user %d lost its user: %q", id, uidOf[id], rec.Data)
			}
		case !hitSet[id] && err == nil:
			t.Fatalf("session %s of user 42 is still there: %q", id, rec.Data)
		}
	}

	// what PHP saw: other sessions count 1, 2, 3... without a break; the
	// matching ones count up with user 42, then start again at 1 without it
	for k, id := range hit {
		r := responses[k]
		if len(r) < 2 {
			t.Fatalf("session %s: only %d requests", id, len(r))
		}
		if uidOf[id] != 42 {
			for n, line := range r {
				if want := fmt.Sprintf("%d %d", n+1, uidOf[id]); line != want {
					t.Fatalf("session %s (not matching), request %d: %q, want %q (all: %v)", id, n+1, line, want, r)
				}
			}
			continue
		}
		reset := -1
		for n, line := range r {
			if line == "1 -" {
				reset = n
				break
			}
			if want := fmt.Sprintf("%d 42", n+1); line != want {
				t.Fatalf("session %s, request %d before the delete: %q, want %q (all: %v)", id, n+1, line, want, r)
			}
		}
		if reset < 0 {
			t.Fatalf("session %s: PHP never started afresh after the delete: %v", id, r)
		}
		for n, line := range r[reset:] {
			if want := fmt.Sprintf("%d -", n+1); line != want {
				t.Fatalf("session %s, request %d after the delete: %q, want %q (all: %v)", id, n+1, line, want, r)
			}
		}
	}
}
