package phpserialize

import (
	"fmt"
	"strconv"
	"strings"
)

// EncodeError reports a value that cannot be written in a form PHP would
// read back, and where it is in the value.
type EncodeError struct {
	Path string // where the value is, e.g. `["user"]["roles"][3]`; "" for the top
	Msg  string
}

// Error reports what cannot be written and where in the value.
func (e *EncodeError) Error() string {
	if e.Path == "" {
		return "phpserialize: cannot encode: " + e.Msg
	}
	return "phpserialize: cannot encode " + e.Path + ": " + e.Msg
}

// Encode returns the PHP serialize() form of v. It refuses, with an
// *EncodeError, to write anything PHP's unserialize() would reject: a
// reference to a slot that does not exist, an object reference to a
// non-object, an invalid class name, nesting deeper than PHP's default
// unserialize_max_depth.
func Encode(v Value) ([]byte, error) {
	return AppendEncode(nil, v)
}

// AppendEncode appends the PHP serialize() form of v to dst.
func AppendEncode(dst []byte, v Value) ([]byte, error) {
	e := encodeState{buf: dst}
	if err := e.value(&v); err != nil {
		return dst, err
	}
	return e.buf, nil
}

// encodeState mirrors decodeState: it counts slots as PHP will when it reads
// the output back, so that references can be checked before they are written.
type encodeState struct {
	buf     []byte
	slots   int
	objects []uint64
	unsure  bool
	depth   int
}

func (e *encodeState) push(object bool) {
	e.slots++
	if object {
		w := (e.slots - 1) / 64
		for len(e.objects) <= w {
			e.objects = append(e.objects, 0)
		}
		e.objects[w] |= 1 << uint((e.slots-1)%64)
	}
}

func (e *encodeState) isObject(slot int) bool {
	w := (slot - 1) / 64
	return w < len(e.objects) && e.objects[w]&(1<<uint((slot-1)%64)) != 0
}

// errorf reports a value that cannot be written. The path to it is filled in
// as the error goes up through the arrays that hold it (within), so that
// encoding pays nothing to track where it is.
func (e *encodeState) errorf(format string, args ...any) error {
	return &EncodeError{Msg: fmt.Sprintf(format, args...)}
}

// within puts the key under which the failed value sits in front of the
// error's path.
func within(err error, k Key) error {
	if ee, ok := err.(*EncodeError); ok {
		if k.isStr {
			ee.Path = fmt.Sprintf("[%q]", k.str) + ee.Path
		} else {
			ee.Path = fmt.Sprintf("[%d]", k.num) + ee.Path
		}
	}
	return err
}

// appendInt is strconv.AppendInt with shortcuts for up to three digits,
// the lengths, counts and keys of a session.
func appendInt(b []byte, i int64) []byte {
	switch u := uint64(i); {
	case u < 10:
		return append(b, byte('0'+u))
	case u < 100:
		return append(b, byte('0'+u/10), byte('0'+u%10))
	case u < 1000:
		return append(b, byte('0'+u/100), byte('0'+u/10%10), byte('0'+u%10))
	}
	return strconv.AppendInt(b, i, 10)
}

func (e *encodeState) value(v *Value) error {
	switch v.kind {
	case KindNull:
		e.buf = append(e.buf, 'N', ';')
	case KindBool:
		if v.num != 0 {
			e.buf = append(e.buf, "b:1;"...)
		} else {
			e.buf = append(e.buf, "b:0;"...)
		}
	case KindInt:
		e.buf = append(e.buf, 'i', ':')
		e.buf = appendInt(e.buf, int64(v.num))
		e.buf = append(e.buf, ';')
	case KindFloat:
		e.buf = append(e.buf, 'd', ':')
		if v.str != "" {
			e.buf = append(e.buf, v.str...) // as read: keeps precision-17 payloads byte-exact
		} else {
			e.buf = AppendFloat(e.buf, v.Float())
		}
		e.buf = append(e.buf, ';')
	case KindString:
		e.appendString(v.str)
		e.buf = append(e.buf, ';')
	case KindArray:
		e.push(false)
		return e.array(v.arr)
	case KindObject:
		cls := v.str
		if !validClassName(cls) {
			return e.errorf("invalid class name %q", cls)
		}
		e.push(true)
		e.buf = append(e.buf, 'O', ':')
		e.buf = strconv.AppendInt(e.buf, int64(len(cls)), 10)
		e.buf = append(e.buf, ':', '"')
		e.buf = append(e.buf, cls...)
		e.buf = append(e.buf, '"', ':')
		return e.elements(v.arr, false)
	case KindSerializable:
		cls, payload := v.className(), v.payload()
		if !validClassName(cls) {
			return e.errorf("invalid class name %q", cls)
		}
		e.push(true)
		if payload != "" {
			e.unsure = true
		}
		e.buf = append(e.buf, 'C', ':')
		e.buf = strconv.AppendInt(e.buf, int64(len(cls)), 10)
		e.buf = append(e.buf, ':', '"')
		e.buf = append(e.buf, cls...)
		e.buf = append(e.buf, '"', ':')
		e.buf = strconv.AppendInt(e.buf, int64(len(payload)), 10)
		e.buf = append(e.buf, ':', '{')
		e.buf = append(e.buf, payload...)
		e.buf = append(e.buf, '}')
		return nil
	case KindEnum:
		enum, kase, ok := strings.Cut(v.str, ":")
		if !ok || !validClassName(enum) || kase == "" {
			return e.errorf("invalid enum case %q: want \"Enum:Case\"", v.str)
		}
		e.push(true)
		e.buf = append(e.buf, 'E', ':')
		e.buf = strconv.AppendInt(e.buf, int64(len(v.str)), 10)
		e.buf = append(e.buf, ':', '"')
		e.buf = append(e.buf, v.str...)
		e.buf = append(e.buf, '"', ';')
		return nil
	case KindObjectRef, KindRef:
		n := int(v.num)
		tok := byte('R')
		if v.kind == KindObjectRef {
			tok = 'r'
		}
		if n < 1 || (!e.unsure && n > e.slots) {
			return e.errorf("reference %c:%d points to no value (%d values written before it)", tok, n, e.slots)
		}
		if tok == 'r' && !e.unsure && !e.isObject(n) {
			return e.errorf("object reference r:%d points to a value that is not an object", n)
		}
		e.buf = append(e.buf, tok, ':')
		e.buf = strconv.AppendInt(e.buf, int64(n), 10)
		e.buf = append(e.buf, ';')
		if tok == 'r' {
			e.push(true)
		}
		return nil
	default:
		return e.errorf("unknown kind %d", v.kind)
	}
	e.push(false)
	return nil
}

func (e *encodeState) appendString(s string) {
	e.buf = append(e.buf, 's', ':')
	e.buf = appendInt(e.buf, int64(len(s)))
	e.buf = append(e.buf, ':', '"')
	e.buf = append(e.buf, s...)
	e.buf = append(e.buf, '"')
}

func (e *encodeState) array(a *Array) error {
	if a.Len() == 0 {
		e.buf = append(e.buf, "a:0:{}"...)
		return nil
	}
	e.buf = append(e.buf, 'a', ':')
	return e.elements(a, true)
}

// elements writes "N:{key value ...}" for an array (isArray) or an object.
func (e *encodeState) elements(a *Array, isArray bool) error {
	n := a.Len()
	e.buf = appendInt(e.buf, int64(n))
	e.buf = append(e.buf, ':', '{')
	if n > 0 || !isArray {
		if e.depth >= DefaultMaxDepth {
			return e.errorf("nesting deeper than PHP's unserialize_max_depth of %d", DefaultMaxDepth)
		}
		e.depth++
		defer func() { e.depth-- }()
	}
	entries := a.Entries()
	for i := range entries {
		en := &entries[i]
		k := en.Key
		if k.isStr && isArray {
			if i, ok := canonicalInt(k.str); ok {
				k = IntKey(i) // what PHP holds for $a["5"]
			}
		}
		if k.isStr {
			e.appendString(k.str)
			e.buf = append(e.buf, ';')
		} else {
			e.buf = append(e.buf, 'i', ':')
			e.buf = appendInt(e.buf, k.num)
			e.buf = append(e.buf, ';')
		}
		if err := e.value(&en.Value); err != nil {
			return within(err, en.Key)
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}
