package session_test

import (
	"errors"
	"testing"
	"time"

	"github.com/phpsess/phpsess/phpserialize"
	"github.com/phpsess/phpsess/session"
)

func applyTo(t *testing.T, h phpserialize.Handler, payload string, e *session.Edit) (string, error) {
	t.Helper()
	sess, err := phpserialize.DecodeSession(h, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(h, sess); err != nil {
		return "", err
	}
	out, err := phpserialize.EncodeSession(h, sess)
	if err != nil {
		t.Fatal(err)
	}
	return string(out), nil
}

// TestEditReferences: references are renumbered as PHP numbers values, in
// every session encoding; a reference into a replaced variable is a
// conflict.
func TestEditReferences(t *testing.T) {
	k := phpserialize.StringKey
	for _, tc := range []struct {
		h        phpserialize.Handler
		in, want string
		edit     func(*session.Edit)
		conflict bool
	}{
		{phpserialize.HandlerPHP, `x|a:2:{i:0;i:1;i:1;i:2;}o|O:8:"stdClass":0:{}r|r:4;p|R:4;`, `o|O:8:"stdClass":0:{}r|r:1;p|R:1;`,
			func(e *session.Edit) { e.Delete(k("x")) }, false},
		{phpserialize.HandlerPHP, `x|i:1;o|O:8:"stdClass":0:{}r|r:2;`, `x|a:1:{i:0;i:1;}o|O:8:"stdClass":0:{}r|r:3;`,
			func(e *session.Edit) { e.Set(k("x"), phpserialize.ArrayValue(phpserialize.List(phpserialize.Int(1)))) }, false},
		{phpserialize.HandlerPHPSerialize, `a:3:{s:1:"x";i:1;s:1:"o";O:8:"stdClass":0:{}s:1:"r";r:3;}`, `a:2:{s:1:"o";O:8:"stdClass":0:{}s:1:"r";r:2;}`,
			func(e *session.Edit) { e.Delete(phpserialize.ArrayKey("x")) }, false},
		{phpserialize.HandlerPHPBinary, "\x01xi:1;\x01oO:8:\"stdClass\":0:{}\x01rr:2;", "\x01oO:8:\"stdClass\":0:{}\x01rr:1;",
			func(e *session.Edit) { e.Delete(k("x")) }, false},
		{phpserialize.HandlerPHP, `o|O:8:"stdClass":0:{}r|r:1;`, "", func(e *session.Edit) { e.Set(k("o"), phpserialize.Int(1)) }, true},
		{phpserialize.HandlerPHP, `o|O:8:"stdClass":0:{}r|r:1;`, "", func(e *session.Edit) { e.Delete(k("o")) }, true},
	} {
		var e session.Edit
		tc.edit(&e)
		got, err := applyTo(t, tc.h, tc.in, &e)
		var ce *session.ConflictError
		if tc.conflict {
			if !errors.As(err, &ce) || ce.Key != "r" || ce.Target != "o" {
				t.Errorf("%s %q: %v, want a conflict of r with o", tc.h, tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s %q: %q %v, want %q", tc.h, tc.in, got, err, tc.want)
		}
	}
}

// TestEditAgeOnce: CodeIgniter's ageing applies only if the marks are still
// what was read: a session another request aged meanwhile is not aged
// twice.
func TestEditAgeOnce(t *testing.T) {
	now := time.Unix(1795300487, 0)
	read := `a|i:1;__ci_vars|a:3:{s:1:"a";s:3:"new";s:1:"b";s:3:"old";s:1:"t";i:1795300000;}b|i:2;t|i:3;`
	sess, _ := phpserialize.DecodeSession(phpserialize.HandlerPHP, []byte(read))
	e := session.Edit{Layout: "ci3"}
	e.Age(sess, now)
	if got, _ := applyTo(t, phpserialize.HandlerPHP, read, &e); got != `a|i:1;__ci_vars|a:1:{s:1:"a";s:3:"old";}` {
		t.Errorf("aged: %q", got)
	}
	// a PHP request aged it first (a is "old" now, b and t gone) and set c
	if got, _ := applyTo(t, phpserialize.HandlerPHP, `a|i:1;__ci_vars|a:1:{s:1:"a";s:3:"old";}c|i:4;`, &e); got != `a|i:1;__ci_vars|a:1:{s:1:"a";s:3:"old";}c|i:4;` {
		t.Errorf("aged twice: %q", got)
	}
}
