// Package sessiontest has the helpers the tests of package session and
// package server share: stores in temporary directories, and reading and
// writing raw payloads.
package sessiontest

import (
	"context"
	"errors"
	"os"
	"os/user"
	"testing"
	"time"

	"github.com/phpsess/phpsess/handlers"
)

// Ctx returns a context that ends with the test (or after two minutes).
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// FileURL returns a files store URL on a new directory (mode 0755, so that
// PHP can use it too) with files owned by whoever runs the test, and the
// directory. query is added to the URL's options.
func FileURL(t testing.TB, query string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	q := "owner=" + u.Username
	if query != "" {
		q += "&" + query
	}
	return "file://" + dir + "?" + q, dir
}

// Open opens a store, closed at the end of the test.
func Open(t testing.TB, rawURL string) handlers.Store {
	t.Helper()
	st, err := handlers.Open(Ctx(t), rawURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// FileStore opens a files store on a new directory and returns it and the
// directory.
func FileStore(t testing.TB, query string) (handlers.Store, string) {
	t.Helper()
	u, dir := FileURL(t, query)
	return Open(t, u), dir
}

// Write stores a raw payload under id.
func Write(t testing.TB, st handlers.Store, id, payload string) {
	t.Helper()
	if err := st.Write(Ctx(t), &handlers.Record{ID: id, Data: []byte(payload)}); err != nil {
		t.Fatal(err)
	}
}

// Stored returns the raw payload of session id, or "<none>" if it does not
// exist.
func Stored(t testing.TB, st handlers.Store, id string) string {
	t.Helper()
	rec, err := st.Read(Ctx(t), id)
	if errors.Is(err, handlers.ErrNotFound) {
		return "<none>"
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(rec.Data)
}
