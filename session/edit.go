package session

import (
	"fmt"
	"sort"
	"time"

	"github.com/phpsess/phpsess/phpserialize"
)

// Edit is a list of changes to a session's variables: sets, deletes and
// CodeIgniter's flashdata and tempdata marks. It is applied to the stored
// session as it is when the session's lock has been taken, not to the copy
// read earlier, so that a concurrent PHP request's changes to other
// variables are kept: that is how the middleware writes a session back, and
// how the HTTP server's PATCH works.
//
// The zero Edit is empty and ready to use.
type Edit struct {
	// Layout is the store's layout (handlers.Info.Layout). It decides the
	// small differences between CodeIgniter 3 and 4 (CodeIgniter 4 marks a
	// null variable as tempdata, CodeIgniter 3 does not).
	Layout string
	ops    []op
}

type opKind uint8

const (
	opSet    opKind = iota // data[key] = val
	opDelete               // unset(data[key])
	opFlash                // mark_as_flash(key): __ci_vars[key] = "new" if isset(data[key])
	opTemp                 // mark_as_temp(key): __ci_vars[key] = val (expiry) if isset(data[key])
	opMark                 // __ci_vars[key] = val if the mark is still ifMark (aging "new" to "old")
	opExpire               // unset data[key] and its mark if the mark is still val (aging)
)

type op struct {
	kind   opKind
	key    phpserialize.Key
	val    phpserialize.Value
	ifMark string
}

// VarKey returns the key of session variable name in a session with
// handler h: the key PHP's $_SESSION[name] uses for php_serialize (where
// "5" is the int key 5), and the string name for php and php_binary, whose
// variables always have string names.
func VarKey(h phpserialize.Handler, name string) phpserialize.Key {
	if h == phpserialize.HandlerPHPSerialize {
		return phpserialize.ArrayKey(name)
	}
	return phpserialize.StringKey(name)
}

// Set records $_SESSION[key] = v.
func (e *Edit) Set(key phpserialize.Key, v phpserialize.Value) {
	e.ops = append(e.ops, op{kind: opSet, key: key, val: v})
}

// Delete records unset($_SESSION[key]).
func (e *Edit) Delete(key phpserialize.Key) {
	e.ops = append(e.ops, op{kind: opDelete, key: key})
}

// Flash records CodeIgniter's set_flashdata(key, v): the variable is set and
// marked "new" in __ci_vars (a null value is set but not marked, as
// CodeIgniter's isset() check does).
func (e *Edit) Flash(key phpserialize.Key, v phpserialize.Value) {
	e.Set(key, v)
	e.ops = append(e.ops, op{kind: opFlash, key: key})
}

// Temp records CodeIgniter's set_tempdata(key, v, ttl): the variable is set
// and marked in __ci_vars with the unix time it expires.
func (e *Edit) Temp(key phpserialize.Key, v phpserialize.Value, expires time.Time) {
	e.Set(key, v)
	e.ops = append(e.ops, op{kind: opTemp, key: key, val: phpserialize.Int(expires.Unix())})
}

// Age records what CodeIgniter does to flashdata and tempdata at the start
// of every request, as seen in data (the session as read): "new" marks
// become "old"; "old" marks and tempdata expired at now are removed with
// their variables. Each change is applied only if the mark is still what
// was read, so a request that aged the session meanwhile is not aged twice.
func (e *Edit) Age(data *phpserialize.Array, now time.Time) {
	ageCIVars(e, data, now)
}

// Len returns the number of changes recorded.
func (e *Edit) Len() int { return len(e.ops) }

// Reset forgets the recorded changes.
func (e *Edit) Reset() { e.ops = e.ops[:0] }

// ConflictError is returned by Apply when a variable the edit keeps holds
// a PHP reference (r: or R:) to a value inside a variable the edit replaces
// or removes: the reference cannot be kept without changing what it means.
type ConflictError struct {
	Key    string // the variable holding the reference
	Target string // the variable replaced or removed
}

// Error says which variable holds the reference and where it points.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("session variable %q holds a PHP reference to a value inside %q, which this change replaces or removes: write the whole session instead", e.Key, e.Target)
}

// Apply applies the changes to data, a session with handler h, in order.
//
// PHP numbers the values of a session across all its variables, and
// references (r:N, R:N) name those numbers, so removing or resizing a
// variable moves the values after it. Apply renumbers the references in the
// variables it keeps so that they still point to the same values, and
// returns a *ConflictError if one points into a variable it replaces or
// removes. References inside new values are taken as they are, numbered as
// in the resulting session.
func (e *Edit) Apply(h phpserialize.Handler, data *phpserialize.Array) error {
	if len(e.ops) == 0 {
		return nil
	}
	var before []varSlots
	refs := sessionHasRefs(data)
	if refs {
		before = slotLayout(h, data)
	}
	touched := map[phpserialize.Key]bool{}
	civars := phpserialize.StringKey(CIVarsKey)
	for _, o := range e.ops {
		switch o.kind {
		case opSet:
			data.Set(o.key, o.val)
			touched[o.key] = true
		case opDelete:
			data.Delete(o.key)
			touched[o.key] = true
		case opFlash:
			if ciIsset(data, o.key) {
				setMark(data, o.key, phpserialize.String("new"))
				touched[civars] = true
			}
		case opTemp:
			_, present := data.Lookup(o.key.String())
			if ciIsset(data, o.key) || e.Layout == "ci4" && present {
				setMark(data, o.key, o.val)
				touched[civars] = true
			}
		case opMark:
			if m, ok := ciVars(data).Get(markKey(o.key)); ok && m.Kind() == phpserialize.KindString && m.Str() == o.ifMark {
				setMark(data, o.key, o.val)
				touched[civars] = true
			}
		case opExpire:
			vars := ciVars(data)
			if m, ok := vars.Get(markKey(o.key)); ok && m.Equal(o.val) {
				vars.Delete(markKey(o.key))
				deleteVar(data, o.key)
				touched[o.key] = true
				touched[phpserialize.ArrayKey(o.key.String())] = true
				touched[civars] = true
				if vars.Len() == 0 {
					data.Delete(civars)
				}
			}
		}
	}
	if refs {
		return renumber(h, data, before, touched)
	}
	return nil
}

// markKey is the key of a variable's mark in __ci_vars: PHP's
// $_SESSION['__ci_vars'][$key] makes "5" the int key 5.
func markKey(k phpserialize.Key) phpserialize.Key { return phpserialize.ArrayKey(k.String()) }

// setMark sets __ci_vars[key] = mark, creating __ci_vars at the end of the
// session if it is missing (or not an array, which PHP would refuse).
func setMark(data *phpserialize.Array, key phpserialize.Key, mark phpserialize.Value) {
	vars := ciVars(data)
	if vars == nil {
		vars = &phpserialize.Array{}
		data.Set(phpserialize.StringKey(CIVarsKey), phpserialize.ArrayValue(vars))
	}
	vars.Set(markKey(key), mark)
}

// deleteVar is unset($_SESSION[$key]) for a key taken from __ci_vars.
func deleteVar(data *phpserialize.Array, key phpserialize.Key) {
	if !data.Delete(phpserialize.ArrayKey(key.String())) {
		data.Delete(phpserialize.StringKey(key.String()))
	}
}

// varSlots is where one session variable's values sit in PHP's numbering.
type varSlots struct {
	key          phpserialize.Key
	start, count int
}

// slotLayout numbers the values of a session as PHP's session decoder does:
// every value but an R: takes a slot, arrays and objects before their
// elements; php and php_binary sessions start at slot 1 with the first
// variable's value, php_serialize sessions with the outer array.
func slotLayout(h phpserialize.Handler, data *phpserialize.Array) []varSlots {
	next := 1
	if h == phpserialize.HandlerPHPSerialize {
		next = 2
	}
	out := make([]varSlots, 0, data.Len())
	for _, e := range data.Entries() {
		n := slotCount(e.Value)
		out = append(out, varSlots{key: e.Key, start: next, count: n})
		next += n
	}
	return out
}

func slotCount(v phpserialize.Value) int {
	switch v.Kind() {
	case phpserialize.KindRef:
		return 0
	case phpserialize.KindArray, phpserialize.KindObject:
		n := 1
		for _, e := range v.Array().Entries() {
			n += slotCount(e.Value)
		}
		return n
	}
	return 1
}

func sessionHasRefs(data *phpserialize.Array) bool {
	for _, e := range data.Entries() {
		if hasRefs(e.Value) {
			return true
		}
	}
	return false
}

func hasRefs(v phpserialize.Value) bool {
	switch v.Kind() {
	case phpserialize.KindRef, phpserialize.KindObjectRef:
		return true
	case phpserialize.KindArray, phpserialize.KindObject:
		for _, e := range v.Array().Entries() {
			if hasRefs(e.Value) {
				return true
			}
		}
	}
	return false
}

// renumber rewrites the references in the variables that were not touched
// so that they point to the same values after the edit.
func renumber(h phpserialize.Handler, data *phpserialize.Array, before []varSlots, touched map[phpserialize.Key]bool) error {
	after := map[phpserialize.Key]int{}
	for _, v := range slotLayout(h, data) {
		after[v.key] = v.start
	}
	// newSlot maps an old slot number to the new one, or names the touched
	// variable it was in.
	newSlot := func(t int) (int, string) {
		i := sort.Search(len(before), func(i int) bool { return before[i].start+before[i].count > t })
		if i == len(before) || t < before[i].start {
			return t, "" // the outer array of php_serialize, or no value: left to the encoder
		}
		b := before[i]
		start, ok := after[b.key]
		if touched[b.key] || !ok {
			return 0, b.key.String()
		}
		return t + start - b.start, ""
	}
	var fix func(v phpserialize.Value, holder string) (phpserialize.Value, error)
	fix = func(v phpserialize.Value, holder string) (phpserialize.Value, error) {
		switch v.Kind() {
		case phpserialize.KindRef, phpserialize.KindObjectRef:
			t, target := newSlot(v.Slot())
			if target != "" {
				return v, &ConflictError{Key: holder, Target: target}
			}
			if v.Kind() == phpserialize.KindRef {
				return phpserialize.Ref(t), nil
			}
			return phpserialize.ObjectRef(t), nil
		case phpserialize.KindArray, phpserialize.KindObject:
			a := v.Array()
			for _, e := range a.Entries() {
				if !hasRefs(e.Value) {
					continue
				}
				w, err := fix(e.Value, holder)
				if err != nil {
					return v, err
				}
				a.Set(e.Key, w)
			}
		}
		return v, nil
	}
	for _, e := range data.Entries() {
		if touched[e.Key] || !hasRefs(e.Value) {
			continue
		}
		w, err := fix(e.Value, e.Key.String())
		if err != nil {
			return err
		}
		data.Set(e.Key, w)
	}
	return nil
}
