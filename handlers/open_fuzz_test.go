package handlers_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/phpsess/phpsess/handlers"
)

// FuzzOpenOptions: any query string on a store URL gives a store or an
// error, never a panic; a store that opens rejects hostile ids. Only the
// files backend is fuzzed (no network): the options parser is shared.
func FuzzOpenOptions(f *testing.F) {
	for _, q := range []string{"", "layout=ci4&cookie=x", "depth=2&mode=0640", "ttl=30m&lock=off", "handler=php_binary",
		"layout=ci3&match_ip=on&ip=::1", "lock_timeout=-1", "ttl=1e400", "mode=99999", "depth=99", "layout=nope", "owner=root",
		"%zz", "a=1&a=2", "sid_length=300", "prefix=../../x"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		dir := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := handlers.Open(ctx, "file://"+dir+"?"+q)
		if err != nil {
			return
		}
		defer s.Close()
		for _, id := range []string{"../../etc/passwd", "a\x00b", ""} {
			if _, err := s.Read(ctx, id); !errors.Is(err, handlers.ErrInvalidID) {
				t.Fatalf("?%s: Read(%q) = %v, want ErrInvalidID", q, id, err)
			}
		}
	})
}
