package session

import (
	"time"

	"github.com/phpsess/phpsess/phpserialize"
)

// CodeIgniter 3 and 4 keep flashdata and tempdata marks in one session
// variable, __ci_vars: an array from variable name to the string "new" or
// "old" (flashdata) or an int, the unix time the variable expires
// (tempdata). At the start of every request CodeIgniter ages them
// (Session::_ci_init_vars, initVars): "new" becomes "old"; an "old" entry,
// or an int earlier than now, is removed together with its variable; an
// empty __ci_vars is removed.

// CIVarsKey is the session variable that holds CodeIgniter's marks.
const CIVarsKey = "__ci_vars"

// DefaultTempTTL is CodeIgniter's default tempdata lifetime (set_tempdata's
// $ttl = 300).
const DefaultTempTTL = 300 * time.Second

// IsCodeIgniter reports whether a store layout (handlers.Info.Layout) is
// one of CodeIgniter's, whose sessions have flashdata and tempdata.
func IsCodeIgniter(layout string) bool { return layout == "ci3" || layout == "ci4" }

// ciVars returns the __ci_vars array of a session, or nil.
func ciVars(data *phpserialize.Array) *phpserialize.Array {
	v, ok := data.Get(phpserialize.StringKey(CIVarsKey))
	if !ok || v.Kind() != phpserialize.KindArray {
		return nil
	}
	return v.Array()
}

// Flashdata returns the session's current flashdata, as CodeIgniter's
// get_flashdata() without a key returns it: every variable whose __ci_vars
// mark is not an int ("new": set by the last request; "old": being shown by
// this one), in the order of the marks. A mark whose variable is missing is
// skipped (CodeIgniter would return null for it, with a warning).
func Flashdata(data *phpserialize.Array) *phpserialize.Array {
	out := &phpserialize.Array{}
	for k, mark := range ciVars(data).All() {
		if mark.Kind() == phpserialize.KindInt {
			continue
		}
		if v, ok := data.Lookup(k.String()); ok {
			out.Set(k, v)
		}
	}
	return out
}

// Tempdata returns the session's tempdata that has not expired at now:
// every variable whose __ci_vars mark is an int not earlier than now (the
// ones CodeIgniter's next request keeps), in the order of the marks.
func Tempdata(data *phpserialize.Array, now time.Time) *phpserialize.Array {
	out := &phpserialize.Array{}
	for k, mark := range ciVars(data).All() {
		if mark.Kind() != phpserialize.KindInt || mark.Int() < now.Unix() {
			continue
		}
		if v, ok := data.Lookup(k.String()); ok {
			out.Set(k, v)
		}
	}
	return out
}

// ciIsset is PHP's isset($_SESSION[$key]): present and not null.
func ciIsset(data *phpserialize.Array, k phpserialize.Key) bool {
	v, ok := data.Lookup(k.String())
	return ok && !v.IsNull()
}

// ageCIVars adds to e what CodeIgniter's _ci_init_vars does at the start of
// a request, given the session as read: "new" marks become "old"; "old"
// marks and tempdata expired at now are removed with their variables.
func ageCIVars(e *Edit, data *phpserialize.Array, now time.Time) {
	for k, mark := range ciVars(data).All() {
		switch {
		case mark.Kind() == phpserialize.KindString && mark.Str() == "new":
			e.ops = append(e.ops, op{kind: opMark, key: k, val: phpserialize.String("old"), ifMark: "new"})
		case mark.Kind() == phpserialize.KindString && mark.Str() == "old",
			mark.Kind() == phpserialize.KindInt && mark.Int() < now.Unix():
			e.ops = append(e.ops, op{kind: opExpire, key: k, val: mark})
		}
	}
}
