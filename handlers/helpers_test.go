package handlers_test

import (
	"context"
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
