package ops

import (
	"fmt"
	"strings"

	"github.com/phpsess/phpsess/phpserialize"
)

// Assignment is one change to a session: PATH=VALUE sets the value at a
// path (phpsess find --set), or, with Unset, removes it (--unset PATH).
type Assignment struct {
	Path  Path
	Value phpserialize.Value
	Unset bool
}

// ParseAssignment parses PATH=VALUE: a path as in Where expressions (no
// [*]) and a value in the JSON form (README.md, "The JSON form"): 42,
// "text", true, null, [1,2], {"id":7}, {"$object":{...}}. As PHP's
// $_SESSION['a']['b'] = v does, missing arrays on the way are created.
// An error is a *WhereError.
func ParseAssignment(s string) (Assignment, error) {
	p := &whereParser{s: s}
	p.skipSpace()
	path, err := p.path()
	if err != nil {
		return Assignment{}, err
	}
	if err := checkSettable(path, p); err != nil {
		return Assignment{}, err
	}
	p.skipSpace()
	if p.pos >= len(p.s) || p.s[p.pos] != '=' {
		return Assignment{}, p.errorf("expected = and a JSON value after %s, found %s", path.src, p.found())
	}
	p.pos++
	start := p.pos
	v, err := phpserialize.ParseJSON([]byte(strings.TrimSpace(s[start:])))
	if err != nil {
		p.pos = start
		return Assignment{}, p.errorf("expected a value in the JSON form (42, \"text\", true, null, [..], {..}): %v", err)
	}
	return Assignment{Path: path, Value: v}, nil
}

// ParseUnset parses the PATH of an --unset.
func ParseUnset(s string) (Assignment, error) {
	path, err := ParsePath(s)
	if err != nil {
		return Assignment{}, err
	}
	if err := checkSettable(path, &whereParser{s: s}); err != nil {
		return Assignment{}, err
	}
	return Assignment{Path: path, Unset: true}, nil
}

func checkSettable(path Path, p *whereParser) error {
	for _, e := range path.elems {
		if e.kind == elemAny {
			p.pos = strings.Index(p.s, "[*]")
			return p.errorf("[*] cannot be assigned to: name one element")
		}
	}
	return nil
}

// String returns PATH=VALUE (or unset PATH).
func (a Assignment) String() string {
	if a.Unset {
		return "unset " + a.Path.src
	}
	return a.Path.src + "=" + string(phpserialize.AppendJSON(nil, a.Value))
}

// Apply makes the change in a session decoded with handler h. Setting
// creates missing (or null) arrays on the way, as PHP does; a path through
// a scalar is an error, and nothing is changed then. Unsetting a path that
// does not exist does nothing.
func (a Assignment) Apply(h phpserialize.Handler, sess *phpserialize.Array) error {
	cur := sess
	for i, e := range a.Path.elems {
		last := i == len(a.Path.elems)-1
		key, exists := a.key(h, cur, e, i == 0)
		if last {
			if a.Unset {
				if exists {
					cur.Delete(key)
				}
				return nil
			}
			if i == 0 && h != phpserialize.HandlerPHPSerialize && key.IsInt() {
				return fmt.Errorf("%s: the %s handler keeps only string names at the top", a.Path.src, h)
			}
			cur.Set(key, a.Value.Clone())
			return nil
		}
		v, _ := cur.Get(key)
		switch v.Kind() {
		case phpserialize.KindArray, phpserialize.KindObject:
			cur = v.Array()
		case phpserialize.KindNull:
			if a.Unset {
				return nil
			}
			next := phpserialize.NewArray()
			cur.Set(key, phpserialize.ArrayValue(next))
			cur = next
		default:
			return fmt.Errorf("%s: %s is a %s, not an array", a.Path.src, a.prefix(i), v.Kind())
		}
	}
	return nil
}

// key returns the key element e names in cur, and whether it is there.
func (a Assignment) key(h phpserialize.Handler, cur *phpserialize.Array, e pathElem, top bool) (phpserialize.Key, bool) {
	if e.kind == elemIndex {
		k := phpserialize.IntKey(e.index)
		_, ok := cur.Get(k)
		return k, ok
	}
	var k phpserialize.Key
	if top && h != phpserialize.HandlerPHPSerialize {
		k = phpserialize.StringKey(e.name)
	} else {
		k = phpserialize.ArrayKey(e.name)
	}
	if _, ok := cur.Get(k); ok {
		return k, true
	}
	if sk := phpserialize.StringKey(e.name); !top || h == phpserialize.HandlerPHPSerialize {
		if _, ok := cur.Get(sk); ok {
			return sk, true
		}
	}
	if pk, ok := propertyKey(cur, e.name); ok {
		return pk, true
	}
	return k, false
}

// prefix is the path up to and including element i, for errors.
func (a Assignment) prefix(i int) string {
	var b strings.Builder
	for j, e := range a.Path.elems[:i+1] {
		switch e.kind {
		case elemIndex:
			fmt.Fprintf(&b, "[%d]", e.index)
		default:
			if j > 0 {
				b.WriteByte('.')
			}
			b.WriteString(e.name)
		}
	}
	return b.String()
}
