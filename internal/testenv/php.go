package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// PHPExtensions are the PHP extensions PHP checks for: the session save
// handlers and serializers phpsess is compatible with, and the database
// drivers its tests use from PHP.
var PHPExtensions = []string{
	"session", "redis", "memcached", "memcache", "mysqli", "pdo_mysql", "pgsql",
	"pdo_pgsql", "sqlite3", "pdo_sqlite", "mongodb", "igbinary", "msgpack",
}

var phpOnce struct {
	sync.Once
	path string
	err  error
}

// PHP returns the path of the PHP 8.2 CLI (php8.2, else php; PHPSESS_PHP
// overrides), after checking that it is PHP >= 8.2 and that every extension
// of PHPExtensions is loaded.
func PHP(t testing.TB) string {
	t.Helper()
	skipShort(t, "php")
	phpOnce.Do(func() { phpOnce.path, phpOnce.err = findPHP() })
	if phpOnce.err != nil {
		t.Fatalf("%v", phpOnce.err)
	}
	return phpOnce.path
}

func findPHP() (string, error) {
	php := os.Getenv("PHPSESS_PHP")
	if php == "" {
		for _, name := range []string{"php8.2", "php"} {
			if p, err := exec.LookPath(name); err == nil {
				php = p
				break
			}
		}
	}
	if php == "" {
		return "", missing("php8.2", "php8.2-cli")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, php, "-r",
		`echo PHP_VERSION, "\n", strtolower(implode(" ", get_loaded_extensions())), "\n";`)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s does not run: %v: run scripts/install-deps.sh (or: apt-get install php8.2-cli)", php, err)
	}
	version, exts, _ := strings.Cut(string(out), "\n")
	var major, minor int
	if parts := strings.SplitN(version, ".", 3); len(parts) >= 2 {
		major, _ = strconv.Atoi(parts[0])
		minor, _ = strconv.Atoi(parts[1])
	}
	if major < 8 || major == 8 && minor < 2 {
		return "", fmt.Errorf("%s is PHP %s, PHP >= 8.2 is needed: run scripts/install-deps.sh (or: apt-get install php8.2-cli), or set PHPSESS_PHP", php, version)
	}
	loaded := map[string]bool{}
	for _, e := range strings.Fields(exts) {
		loaded[e] = true
	}
	var absent, pkgs []string
	seen := map[string]bool{}
	for _, e := range PHPExtensions {
		if loaded[e] {
			continue
		}
		absent = append(absent, e)
		pkg := "php8.2-" + strings.TrimPrefix(e, "pdo_")
		switch e {
		case "mysqli":
			pkg = "php8.2-mysql"
		case "pdo_sqlite":
			pkg = "php8.2-sqlite3"
		case "session":
			pkg = "php8.2-cli"
		}
		if !seen[pkg] {
			seen[pkg] = true
			pkgs = append(pkgs, pkg)
		}
	}
	if len(absent) > 0 {
		return "", fmt.Errorf("%s (PHP %s): extensions not loaded: %s: run scripts/install-deps.sh (or: apt-get install %s)",
			php, version, strings.Join(absent, ", "), strings.Join(pkgs, " "))
	}
	return php, nil
}

// PHPServer starts PHP's built-in web server (php -S) on a free port of
// 127.0.0.1, serving docroot, and returns its base URL
// "http://127.0.0.1:PORT" once it accepts connections. ini settings are
// passed as -d KEY=VALUE; session.save_path defaults to an empty dir of the
// server's own. env is added to the test's environment (later entries win;
// PHP_CLI_SERVER_WORKERS=N serves N requests at a time). The server is
// stopped at the end of the test; if the test failed, the end of its log
// (PHP errors, access log) is logged.
func PHPServer(t testing.TB, docroot string, ini map[string]string, env []string) string {
	t.Helper()
	php := PHP(t)
	root, err := filepath.Abs(docroot)
	if err == nil {
		_, err = os.Stat(root)
	}
	if err != nil {
		t.Fatalf("testenv: php -S: docroot: %v", err)
	}
	s, err := newServer(kind{
		name: "php",
		prepare: func(s *Server) error {
			return os.Mkdir(filepath.Join(s.Dir, "sessions"), 0o700)
		},
		config: func(s *Server) (serverConfig, error) {
			settings := map[string]string{"session.save_path": filepath.Join(s.Dir, "sessions")}
			for k, v := range ini {
				settings[k] = v
			}
			keys := make([]string, 0, len(settings))
			for k := range settings {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			return serverConfig{
				bin: php,
				args: func(s *Server) []string {
					args := []string{"-S", s.Addr, "-t", root}
					for _, k := range keys {
						args = append(args, "-d", k+"="+settings[k])
					}
					return args
				},
				cwd: root,
				env: append(os.Environ(), env...),
				ready: func(ctx context.Context, s *Server) error {
					_, err := dialProbe(ctx, s.Addr, nil, 0)
					return err
				},
			}, nil
		},
		url: func(s *Server) string { return "http://" + s.Addr },
	})
	dedicated(t, s, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv: last lines of the php -S log:\n%s", s.LogTail(30))
		}
	})
	return s.URL
}
