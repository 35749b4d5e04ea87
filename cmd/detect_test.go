package cmd

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phpsess/phpsess/internal/testenv"
)

// copyTree copies a fixture dir into a temp dir and returns the copy.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// edit replaces old with new in a file, which must contain old.
func edit(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(b), old) {
		t.Fatalf("%s lacks %q (%v)", file, old, err)
	}
	os.WriteFile(file, []byte(strings.Replace(string(b), old, new, 1)), 0o644)
}

// writeIni writes a php.ini with the given lines and returns its path.
func writeIni(t *testing.T, dir string, lines ...string) string {
	t.Helper()
	p := filepath.Join(dir, "zz-phpsess.ini")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// detectURL runs detect and returns the URL it prints first.
func detectURL(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, code := run(t, "", append([]string{"detect"}, args...)...)
	if code != 0 {
		t.Fatalf("detect %v: exit %d: %s%s", args, code, stderr, out)
	}
	url, _, _ := strings.Cut(out, "\n")
	return url
}

func TestDetectCodeIgniter(t *testing.T) {
	ini := writeIni(t, t.TempDir(), "[Session]", "session.save_handler = files", "session.gc_maxlifetime = 1440",
		"session.sid_length = 26", "session.sid_bits_per_character = 5")

	ci3 := copyTree(t, "testdata/ci3")
	cfg := filepath.Join(ci3, "application", "config", "config.php")
	if got, want := detectURL(t, "--php-ini", ini, ci3), "file://"+ci3+"/application/cache/sessions?layout=ci3&cookie=myapp_sess&ttl=3600"; got != want {
		t.Errorf("CI3 files:\n got %s\nwant %s", got, want)
	}
	out, _, _ := run(t, "", "detect", "--php-ini", ini, ci3)
	for _, want := range []string{
		"CodeIgniter 3 files driver ($config['sess_driver'] = \"files\" (application/config/config.php)), directory from $config['sess_save_path'] = \"" + ci3 + "/application/cache/sessions\"",
		"\n  cookie=myapp_sess ",
		"  $config['sess_cookie_name'] = \"myapp_sess\" (application/config/config.php)\n",
		"ttl=3600 ",
		"read: " + ini + ", " + cfg,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("CI3 explanation lacks %q:\n%s", want, out)
		}
	}

	edit(t, cfg, `$config['sess_driver'] = 'files';`, `$config['sess_driver'] = 'redis';`)
	edit(t, cfg, `APPPATH . 'cache/sessions'`, `'tcp://cache.internal:6380?auth=pw&database=3&prefix=app:'`)
	if got, want := detectURL(t, "-q", "--php-ini", ini, ci3), "redis://:pw@cache.internal:6380/3?layout=ci3&prefix=app%3A&ttl=3600"; got != want {
		t.Errorf("CI3 redis:\n got %s\nwant %s", got, want)
	}
	edit(t, cfg, `'redis'`, `'database'`)
	edit(t, cfg, `'tcp://cache.internal:6380?auth=pw&database=3&prefix=app:'`, `'ci_sessions'`)
	edit(t, cfg, `$config['sess_match_ip'] = FALSE;`, `$config['sess_match_ip'] = TRUE;`)
	if got, want := detectURL(t, "-q", "--php-ini", ini, ci3), "mysql://app:s3cret@10.0.0.5:3307/shop?layout=ci3&table=ci_sessions&ttl=3600&match_ip=on"; got != want {
		t.Errorf("CI3 database:\n got %s\nwant %s", got, want)
	}
	edit(t, filepath.Join(ci3, "application", "config", "database.php"), `$active_group = 'default';`, `$active_group = 'reports';`)
	if got, want := detectURL(t, "-q", "--php-ini", ini, ci3), "postgres://rep@pg.internal/reports?layout=ci3&table=ci_sessions&ttl=3600&match_ip=on"; got != want {
		t.Errorf("CI3 database, reports group:\n got %s\nwant %s", got, want)
	}
	edit(t, cfg, `$config['sess_driver'] = 'database';`, `$config['sess_driver'] = getenv('SESS_DRIVER');`)
	out, stderr, code := run(t, "", "detect", "--php-ini", ini, ci3)
	if code != ExitFailure || out != "" || !strings.Contains(stderr, "phpsess: cannot determine the session store: $config['sess_driver'] = getenv('SESS_DRIVER'): not a literal, phpsess does not run PHP code\n") {
		t.Errorf("CI3 driver from getenv: exit %d, %q, %q", code, out, stderr)
	}

	ci4 := copyTree(t, "testdata/ci4")
	if got, want := detectURL(t, "-q", "--php-ini", ini, ci4), "file://"+ci4+"/writable/session?layout=ci4&ttl=7200"; got != want {
		t.Errorf("CI4 files:\n got %s\nwant %s", got, want)
	}
	env := filepath.Join(ci4, ".env")
	os.WriteFile(env, []byte("CI_ENVIRONMENT = production\n"+
		"session.driver = 'CodeIgniter\\Session\\Handlers\\RedisHandler'\n"+
		"session.savePath = \"tcp://127.0.0.1:6379?database=2\"\n"+
		"session.cookieName = app_sess # the cookie\n"), 0o644)
	if got, want := detectURL(t, "-q", "--php-ini", ini, ci4), "redis://127.0.0.1:6379/2?layout=ci4&cookie=app_sess&ttl=7200"; got != want {
		t.Errorf("CI4 redis from .env:\n got %s\nwant %s", got, want)
	}
	os.WriteFile(env, []byte("session.driver = CodeIgniter\\Session\\Handlers\\DatabaseHandler\n"+
		"session.savePath = ci_sessions\nsession.expiration = 0\n"+
		"database.default.hostname = db.internal\ndatabase.default.username = app\ndatabase.default.password = pw\n"+
		"database.default.database = app\ndatabase.default.DBDriver = Postgre\ndatabase.default.port = 5432\n"), 0o644)
	if got, want := detectURL(t, "-q", "--php-ini", ini, ci4), "postgres://app:pw@db.internal:5432/app?layout=ci4&table=ci_sessions&ttl=1440"; got != want {
		t.Errorf("CI4 database from .env:\n got %s\nwant %s", got, want)
	}
	out, _, _ = run(t, "", "detect", "-o", "json", "--php-ini", ini, ci4)
	var det struct {
		URL   string
		Parts []struct{ Part, From string }
	}
	if err := json.Unmarshal([]byte(out), &det); err != nil || det.URL == "" || len(det.Parts) < 4 {
		t.Errorf("-o json: %v: %s", err, out)
	}
	if _, stderr, code := run(t, "", "detect", "--php-ini", ini, t.TempDir()); code != ExitFailure || !strings.Contains(stderr, "no CodeIgniter configuration") {
		t.Errorf("no app: exit %d, %s", code, stderr)
	}
}

func TestDetectNativeIni(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		lines []string
		want  string
	}{
		{[]string{"session.save_path = \"2;0640;/var/lib/php/sessions\"", "session.gc_maxlifetime = 600 ; ten minutes"},
			"file:///var/lib/php/sessions?depth=2&mode=0640&ttl=600"},
		{[]string{"[Session]", "session.save_handler = redis", `session.save_path = "tcp://10.0.0.7:6379?weight=1&auth=secret&database=4&prefix=shop:"`,
			"session.serialize_handler = php_serialize", "redis.session.locking_enabled = On", "redis.session.lock_expire = 60"},
			"redis://:secret@10.0.0.7:6379/4?prefix=shop%3A&ttl=1440&lock=on&lock_expire=60&handler=php_serialize"},
		{[]string{"session.save_handler = redis", `session.save_path = "tcp://10.0.0.7:6379?weight=1, tcp://10.0.0.8:6380?weight=3,10.0.0.9"`},
			"redis://10.0.0.7:6379,10.0.0.8:6380:3,10.0.0.9:6379?ttl=1440"},
		{[]string{"php_admin_value[session.save_handler] = memcached", "php_value[session.save_path] = \"10.0.0.8:11211:2, 10.0.0.9:11211\"",
			"memcached.sess_locking = Off"},
			"memcached://10.0.0.8:11211,10.0.0.9:11211?ttl=1440&lock=off"},
		{[]string{"session.save_handler = memcache", `session.save_path = "tcp://10.0.0.8:11211?persistent=1"`, "memcache.session_prefix_static_key = app_"},
			"memcache://10.0.0.8:11211?prefix=app_&ttl=1440"},
	} {
		ini := writeIni(t, dir, tc.lines...)
		if got := detectURL(t, "-q", "--php-ini", ini); got != tc.want {
			t.Errorf("%v:\n got %s\nwant %s", tc.lines, got, tc.want)
		}
	}
	for _, tc := range []struct {
		lines []string
		msg   string
	}{
		{[]string{"session.save_handler = user"}, "the handler is PHP code (session_set_save_handler)"},
		{[]string{"session.serialize_handler = igbinary"}, `session.serialize_handler = "igbinary"`},
		{[]string{"session.save_handler = redis", `session.save_path = "unix:///run/redis.sock"`}, "a unix socket"},
		{[]string{"session.save_handler = redis", `session.save_path = "tcp://10.0.0.7:6379, tls://10.0.0.8:6380"`}, "mixes TLS and plain servers"},
	} {
		ini := writeIni(t, dir, tc.lines...)
		_, stderr, code := run(t, "", "detect", "--php-ini", ini)
		if code != ExitFailure || !strings.Contains(stderr, tc.msg) || strings.Count(stderr, "phpsess: cannot") != 1 {
			t.Errorf("%v: exit %d, %q", tc.lines, code, stderr)
		}
	}
}

// TestDetectWithPHP: a PHP app configured by a php.ini writes a session;
// detect reads that php.ini (and php -c FILE -i), prints a URL, and get
// through the URL finds the session.
func TestDetectWithPHP(t *testing.T) {
	docroot := t.TempDir()
	os.WriteFile(filepath.Join(docroot, "counter.php"), []byte(counterPHP), 0o644)
	redisAddr := testenv.Redis(t)
	mcAddr := testenv.Memcached(t)
	sessDir := t.TempDir()
	for _, tc := range []struct {
		name, savePath string
		lines          []string
	}{
		{"files", sessDir, []string{"session.save_handler = files", "session.save_path = " + sessDir, "session.gc_maxlifetime = 900"}},
		{"redis", `"tcp://` + redisAddr + `?database=2&prefix=myapp:"`, []string{"session.save_handler = redis",
			`session.save_path = "tcp://` + redisAddr + `?database=2&prefix=myapp:"`, "redis.session.locking_enabled = 1"}},
		{"memcached", mcAddr, []string{"session.save_handler = memcached", "session.save_path = " + mcAddr,
			"memcached.sess_prefix = app.sess.", "session.serialize_handler = php_binary"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ini := writeIni(t, dir, append([]string{"[PHP]", "session.name = APPSESS"}, tc.lines...)...)
			// PHP reads the ini from its scan dir, beside its own conf.d; the
			// save_path is given again because testenv sets one of its own.
			base := testenv.PHPServer(t, docroot, map[string]string{"session.save_path": tc.savePath},
				[]string{"PHP_INI_SCAN_DIR=:" + dir})
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Jar: jar}
			for range 2 {
				resp, err := c.Get(base + "/counter.php")
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			bu, _ := url.Parse(base)
			var id string
			for _, ck := range jar.Cookies(bu) {
				if ck.Name == "APPSESS" {
					id = ck.Value
				}
			}
			if id == "" {
				t.Fatalf("PHP set no APPSESS cookie: %v", jar.Cookies(bu))
			}
			u1 := detectURL(t, "-q", "--php-ini", ini)
			u2 := detectURL(t, "-q", "--php-ini", ini, "--php-binary", testenv.PHP(t))
			if u1 != u2 {
				t.Errorf("php.ini says %s, php -c FILE -i says %s", u1, u2)
			}
			out, stderr, code := run(t, "", "get", u2, id)
			if code != 0 || out != `{"count":2}`+"\n" {
				t.Fatalf("get %s %s: exit %d, %q, %s", u2, id, code, out, stderr)
			}
			t.Logf("%s: %s", tc.name, u2)
		})
	}
}
