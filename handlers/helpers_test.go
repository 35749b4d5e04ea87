package handlers_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phpsess/phpsess/handlers"
)

// Helpers shared by every backend's tests.

// tctx is the context of one test: it ends with the test, or after 90 s.
func tctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// openStore opens a store URL and closes it at the end of the test.
func openStore(t testing.TB, rawURL string) handlers.Store {
	t.Helper()
	s, err := handlers.Open(tctx(t), rawURL)
	if err != nil {
		t.Fatalf("Open(%s): %v", handlers.Redact(rawURL), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// runPHPSessions runs a PHP script (handlers.PHPSessionLoop, say) with the
// ini settings given over those of a CLI run through many sessions (no
// strict mode, cookies, cache limiter or GC), with args and then the name
// of a file of the ids, one a line, and returns its output.
func runPHPSessions(t *testing.T, ini map[string]string, script string, ids []string, args ...string) string {
	t.Helper()
	idFile := filepath.Join(t.TempDir(), "ids")
	if err := os.WriteFile(idFile, []byte(strings.Join(ids, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	all := map[string]string{
		"session.use_strict_mode": "0", "session.use_cookies": "0",
		"session.cache_limiter": "", "session.gc_probability": "0",
	}
	maps.Copy(all, ini)
	return handlers.RunPHP(t, all, script, append(args, idFile)...)
}
