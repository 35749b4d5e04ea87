package phpserialize

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The JSON form
//
// Data JSON can hold prints as PHP's json_encode($data,
// JSON_PRESERVE_ZERO_FRACTION|JSON_UNESCAPED_SLASHES|JSON_UNESCAPED_UNICODE)
// prints it: null, bools, ints, floats (1.0 stays 1.0), UTF-8 strings, lists
// (keys 0..n-1 in order) as JSON arrays and other arrays as JSON objects, keys
// in PHP's order. Everything else is a tagged value: a JSON object with one
// member whose name starts with '$':
//
//	{"$float": "INF"}                      INF, -INF, NAN, or a float PHP wrote
//	                                       with other digits (serialize_precision=17)
//	{"$bytes": "AP8="}                     a string that is not UTF-8 (base64)
//	{"$object": {"class": "User", "props": {"name": "x", "\u0000*\u0000role": 1}}}
//	{"$object": {"class": "ArrayObject", "entries": [[0, 0], [1, []]]}}
//	                                       an object; "entries" (pairs) is used when
//	                                       a property key is an int
//	{"$serializable": {"class": "S", "data": "payload"}}   C: (data may be a $bytes tag)
//	{"$enum": "Suit:Hearts"}               an enum case
//	{"$r": 2}                              r:2; (the object in slot 2, again)
//	{"$R": 4}                              R:4; (a PHP reference to slot 4)
//	{"$array": {"$r": 1}}                  a PHP array whose first key starts
//	                                       with '$' (so it cannot look like a tag)
//	{"$entries": [[0, "a"], [{"$bytes": "/w=="}, 1]]}
//	                                       an array with a key that is not UTF-8
//
// A JSON object whose first member name starts with '$' is always a tag, so
// user data can never be mistaken for one: such an array is written inside
// {"$array": ...}. An unknown tag is an error when reading.

// JSONError reports JSON that does not describe a PHP value, and where.
type JSONError struct {
	Offset int64 // byte offset in the JSON input
	Msg    string
}

// Error reports the problem and its byte offset in the JSON input.
func (e *JSONError) Error() string {
	return fmt.Sprintf("phpserialize: JSON offset %d: %s", e.Offset, e.Msg)
}

// MarshalJSON returns the JSON form of v.
func (v Value) MarshalJSON() ([]byte, error) {
	return AppendJSON(nil, v), nil
}

// UnmarshalJSON reads the JSON form into v.
func (v *Value) UnmarshalJSON(data []byte) error {
	w, err := ParseJSON(data)
	if err != nil {
		return err
	}
	*v = w
	return nil
}

// AppendJSON appends the JSON form of v to dst.
func AppendJSON(dst []byte, v Value) []byte {
	switch v.kind {
	case KindNull:
		return append(dst, "null"...)
	case KindBool:
		if v.num != 0 {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case KindInt:
		return strconv.AppendInt(dst, int64(v.num), 10)
	case KindFloat:
		f := v.Float()
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return appendTag(dst, "$float", func(b []byte) []byte { return AppendFloat(append(b, '"'), f) }, '"')
		}
		if v.str != "" && v.str != string(AppendFloat(nil, f)) {
			return appendTag(dst, "$float", func(b []byte) []byte { return appendJSONString(b, v.str) }, 0)
		}
		return appendJSONFloat(dst, f)
	case KindString:
		return appendJSONText(dst, v.str)
	case KindArray:
		a := v.arr
		if a.IsList() {
			dst = append(dst, '[')
			for i, e := range a.Entries() {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = AppendJSON(dst, e.Value)
			}
			return append(dst, ']')
		}
		return appendJSONObject(dst, a)
	case KindObject:
		return appendTag(dst, "$object", func(b []byte) []byte {
			b = append(b, `{"class":`...)
			b = appendJSONText(b, v.str)
			if jsonNameKeys(v.arr) {
				b = append(b, `,"props":`...)
				b = appendJSONMembers(b, v.arr)
			} else {
				b = append(b, `,"entries":`...)
				b = appendJSONEntries(b, v.arr)
			}
			return append(b, '}')
		}, 0)
	case KindSerializable:
		return appendTag(dst, "$serializable", func(b []byte) []byte {
			b = append(b, `{"class":`...)
			b = appendJSONText(b, v.className())
			b = append(b, `,"data":`...)
			b = appendJSONText(b, v.payload())
			return append(b, '}')
		}, 0)
	case KindEnum:
		return appendTag(dst, "$enum", func(b []byte) []byte { return appendJSONText(b, v.str) }, 0)
	case KindObjectRef:
		return appendTag(dst, "$r", func(b []byte) []byte { return strconv.AppendUint(b, v.num, 10) }, 0)
	case KindRef:
		return appendTag(dst, "$R", func(b []byte) []byte { return strconv.AppendUint(b, v.num, 10) }, 0)
	}
	return append(dst, "null"...)
}

// AppendSessionJSON appends the JSON form of a session: always a JSON object
// of its variables in order (an empty session is {}).
func AppendSessionJSON(dst []byte, sess *Array) []byte {
	return appendJSONObject(dst, sess)
}

// jsonNameKeys reports whether every key is a UTF-8 string, so that the
// keys can be JSON member names without losing anything.
func jsonNameKeys(a *Array) bool {
	for _, e := range a.Entries() {
		if !e.Key.isStr || !utf8.ValidString(e.Key.str) {
			return false
		}
	}
	return true
}

func appendTag(dst []byte, tag string, body func([]byte) []byte, closeWith byte) []byte {
	dst = append(dst, `{"`...)
	dst = append(dst, tag...)
	dst = append(dst, `":`...)
	dst = body(dst)
	if closeWith != 0 {
		dst = append(dst, closeWith)
	}
	return append(dst, '}')
}

// appendJSONObject writes a as a JSON object; or, when its keys cannot be
// JSON member names as they are, as {"$entries": [[key, value], ...]}; or,
// when its first key starts with '$', inside {"$array": ...}.
func appendJSONObject(dst []byte, a *Array) []byte {
	for _, e := range a.Entries() {
		if e.Key.isStr && !utf8.ValidString(e.Key.str) {
			return appendTag(dst, "$entries", func(b []byte) []byte { return appendJSONEntries(b, a) }, 0)
		}
	}
	if a.Len() > 0 && a.entries[0].Key.isStr && strings.HasPrefix(a.entries[0].Key.str, "$") {
		return appendTag(dst, "$array", func(b []byte) []byte { return appendJSONMembers(b, a) }, 0)
	}
	return appendJSONMembers(dst, a)
}

func appendJSONMembers(dst []byte, a *Array) []byte {
	dst = append(dst, '{')
	for i, e := range a.Entries() {
		if i > 0 {
			dst = append(dst, ',')
		}
		if e.Key.isStr {
			dst = appendJSONString(dst, e.Key.str)
		} else {
			dst = append(dst, '"')
			dst = strconv.AppendInt(dst, e.Key.num, 10)
			dst = append(dst, '"')
		}
		dst = append(dst, ':')
		dst = AppendJSON(dst, e.Value)
	}
	return append(dst, '}')
}

// appendJSONEntries writes [[key, value], ...] with int keys as JSON numbers
// and string keys as JSON text (a $bytes tag when not UTF-8).
func appendJSONEntries(dst []byte, a *Array) []byte {
	dst = append(dst, '[')
	for i, e := range a.Entries() {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		if e.Key.isStr {
			dst = appendJSONText(dst, e.Key.str)
		} else {
			dst = strconv.AppendInt(dst, e.Key.num, 10)
		}
		dst = append(dst, ',')
		dst = AppendJSON(dst, e.Value)
		dst = append(dst, ']')
	}
	return append(dst, ']')
}

// appendJSONText appends a PHP string: a JSON string when s is UTF-8, else a
// $bytes tag.
func appendJSONText(dst []byte, s string) []byte {
	if utf8.ValidString(s) {
		return appendJSONString(dst, s)
	}
	return appendTag(dst, "$bytes", func(b []byte) []byte {
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, []byte(s))
		return append(b, '"')
	}, 0)
}

const hexDigits = "0123456789abcdef"

// appendJSONString escapes s as PHP's json_encode does with
// JSON_UNESCAPED_SLASHES|JSON_UNESCAPED_UNICODE.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < 0x80 {
			i++
			continue
		}
		if c >= 0x80 {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i++
				start = i
				continue
			}
			if r == '\u2028' || r == '\u2029' {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\u202`...)
				dst = append(dst, hexDigits[r&0xf])
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// ParseJSON reads one value in the JSON form.
func ParseJSON(data []byte) (Value, error) {
	if err := checkUTF8(data); err != nil {
		return Value{}, err
	}
	p := newJSONParser(bytes.NewReader(data))
	v, err := p.value(0)
	if err != nil {
		return Value{}, err
	}
	if err := p.end(); err != nil {
		return Value{}, err
	}
	return v, nil
}

// ParseSessionJSON reads a session in the JSON form: a JSON object of
// variables (or an empty JSON array, as json_encode writes an empty array).
// Keys are kept as strings for the php and php_binary handlers and become
// PHP array keys (ArrayKey) for php_serialize.
func ParseSessionJSON(h Handler, data []byte) (*Array, error) {
	if err := checkUTF8(data); err != nil {
		return nil, err
	}
	p := newJSONParser(bytes.NewReader(data))
	sess, err := p.session(h)
	if err != nil {
		return nil, err
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	return sess, nil
}

// checkUTF8 refuses JSON text that is not UTF-8, as PHP's json_decode does:
// encoding/json would silently turn the bad bytes into U+FFFD, and a
// string that is not UTF-8 belongs in a $bytes tag.
func checkUTF8(data []byte) error {
	if utf8.Valid(data) {
		return nil
	}
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			return &JSONError{Offset: int64(i), Msg: "invalid UTF-8 (JSON text must be UTF-8; write binary strings as {\"$bytes\": \"<base64>\"})"}
		}
		i += n
	}
	return nil
}

type jsonParser struct {
	dec *json.Decoder
}

func newJSONParser(r io.Reader) *jsonParser {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	return &jsonParser{dec: dec}
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return &JSONError{Offset: p.dec.InputOffset(), Msg: fmt.Sprintf(format, args...)}
}

func (p *jsonParser) token() (json.Token, error) {
	t, err := p.dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, p.errorf("unexpected end of JSON")
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, &JSONError{Offset: se.Offset, Msg: se.Error()}
		}
		return nil, p.errorf("%v", err)
	}
	return t, nil
}

func (p *jsonParser) end() error {
	if _, err := p.dec.Token(); err != io.EOF {
		return p.errorf("unexpected data after the JSON value")
	}
	return nil
}

func (p *jsonParser) session(h Handler) (*Array, error) {
	key := StringKey
	if h == HandlerPHPSerialize {
		key = ArrayKey
	}
	t, err := p.token()
	if err != nil {
		return nil, err
	}
	switch t {
	case json.Delim('{'):
		return p.members(0, key, true)
	case json.Delim('['):
		if p.dec.More() {
			return nil, p.errorf("a session must be a JSON object of variables, not a list")
		}
		_, err := p.token()
		return &Array{}, err
	}
	return nil, p.errorf("a session must be a JSON object of variables")
}

// members reads the members of a JSON object after its '{' into an array,
// with key making PHP keys of member names. With tags set, a first member
// named $array or $entries is read as that tag.
func (p *jsonParser) members(depth int, key func(string) Key, tags bool) (*Array, error) {
	a := &Array{}
	first := true
	for p.dec.More() {
		kt, err := p.token()
		if err != nil {
			return nil, err
		}
		name := kt.(string)
		if first && tags && (name == "$array" || name == "$entries") {
			if name == "$array" {
				t, err := p.token()
				if err != nil {
					return nil, err
				}
				if t != json.Delim('{') {
					return nil, p.errorf("$array wants a JSON object")
				}
				a, err = p.members(depth+1, key, false)
				if err != nil {
					return nil, err
				}
			} else if err := p.entries(a, depth); err != nil {
				return nil, err
			}
			if p.dec.More() {
				return nil, p.errorf("tag %q must be the only member of its object", name)
			}
			_, err = p.token()
			return a, err
		}
		first = false
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		a.Set(key(name), v)
	}
	_, err := p.token()
	return a, err
}

func (p *jsonParser) value(depth int) (Value, error) {
	if depth > DefaultMaxDepth+2 {
		return Value{}, p.errorf("nesting deeper than %d", DefaultMaxDepth)
	}
	t, err := p.token()
	if err != nil {
		return Value{}, err
	}
	switch t := t.(type) {
	case nil:
		return Null(), nil
	case bool:
		return Bool(t), nil
	case string:
		return String(t), nil
	case json.Number:
		return p.number(string(t))
	case json.Delim:
		if t == '[' {
			a := &Array{}
			for i := int64(0); p.dec.More(); i++ {
				v, err := p.value(depth + 1)
				if err != nil {
					return Value{}, err
				}
				a.entries = append(a.entries, Entry{Key: IntKey(i), Value: v})
			}
			if _, err := p.token(); err != nil {
				return Value{}, err
			}
			return ArrayValue(a), nil
		}
		if t == '{' {
			return p.object(depth)
		}
	}
	return Value{}, p.errorf("unexpected JSON token %v", t)
}

func (p *jsonParser) number(text string) (Value, error) {
	if !strings.ContainsAny(text, ".eE") {
		i, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return Value{}, p.errorf("integer %s does not fit in PHP's 64-bit int (write it as a float, e.g. %s.0)", text, text)
		}
		return Int(i), nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil && !isRangeErr(err) {
		return Value{}, p.errorf("invalid number %s", text)
	}
	return Float(f), nil
}

// object reads the members of a JSON object after its '{': a tag, or an array.
func (p *jsonParser) object(depth int) (Value, error) {
	a := &Array{}
	first := true
	for p.dec.More() {
		kt, err := p.token()
		if err != nil {
			return Value{}, err
		}
		name := kt.(string)
		if first && strings.HasPrefix(name, "$") {
			v, err := p.tag(name, depth)
			if err != nil {
				return Value{}, err
			}
			if p.dec.More() {
				return Value{}, p.errorf("tag %q must be the only member of its object (use {\"$array\": {...}} for an array whose first key starts with '$')", name)
			}
			if _, err := p.token(); err != nil {
				return Value{}, err
			}
			return v, nil
		}
		first = false
		v, err := p.value(depth + 1)
		if err != nil {
			return Value{}, err
		}
		a.Set(ArrayKey(name), v)
	}
	if _, err := p.token(); err != nil {
		return Value{}, err
	}
	return ArrayValue(a), nil
}

func (p *jsonParser) tag(name string, depth int) (Value, error) {
	switch name {
	case "$float":
		s, err := p.str(name)
		if err != nil {
			return Value{}, err
		}
		st := (&Decoder{}).state(s + ";")
		f, text, _, err := st.float(0)
		if err != nil {
			return Value{}, p.errorf("$float %q is not a PHP float", s)
		}
		return Value{kind: KindFloat, num: math.Float64bits(f), str: text}, nil
	case "$bytes":
		s, err := p.str(name)
		if err != nil {
			return Value{}, err
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return Value{}, p.errorf("$bytes is not standard base64: %v", err)
		}
		return String(string(b)), nil
	case "$enum":
		s, err := p.str(name)
		if err != nil {
			return Value{}, err
		}
		enum, kase, ok := strings.Cut(s, ":")
		if !ok || !validClassName(enum) || kase == "" {
			return Value{}, p.errorf("$enum %q: want \"Enum:Case\"", s)
		}
		return Value{kind: KindEnum, str: s}, nil
	case "$r", "$R":
		t, err := p.token()
		if err != nil {
			return Value{}, err
		}
		n, ok := t.(json.Number)
		i, err := strconv.ParseInt(string(n), 10, 32)
		if !ok || err != nil || i < 1 {
			return Value{}, p.errorf("%s wants a slot number >= 1", name)
		}
		if name == "$r" {
			return ObjectRef(int(i)), nil
		}
		return Ref(int(i)), nil
	case "$array":
		t, err := p.token()
		if err != nil {
			return Value{}, err
		}
		if t != json.Delim('{') {
			return Value{}, p.errorf("$array wants a JSON object")
		}
		a, err := p.members(depth+1, ArrayKey, false)
		if err != nil {
			return Value{}, err
		}
		return ArrayValue(a), nil
	case "$entries":
		a := &Array{}
		if err := p.entries(a, depth); err != nil {
			return Value{}, err
		}
		return ArrayValue(a), nil
	case "$object", "$serializable":
		return p.objectTag(name, depth)
	}
	return Value{}, p.errorf("unknown tag %q (tags: $float $bytes $object $serializable $enum $r $R $array $entries)", name)
}

func (p *jsonParser) str(tag string) (string, error) {
	v, err := p.value(0)
	if err != nil {
		return "", err
	}
	if v.kind != KindString {
		return "", p.errorf("%s wants a string", tag)
	}
	return v.str, nil
}

func (p *jsonParser) objectTag(tag string, depth int) (Value, error) {
	if t, err := p.token(); err != nil {
		return Value{}, err
	} else if t != json.Delim('{') {
		return Value{}, p.errorf("%s wants an object with \"class\"", tag)
	}
	var class, data string
	var haveClass, haveData bool
	props := &Array{}
	for p.dec.More() {
		kt, err := p.token()
		if err != nil {
			return Value{}, err
		}
		switch field := kt.(string); {
		case field == "class":
			if class, err = p.str(tag + ".class"); err != nil {
				return Value{}, err
			}
			haveClass = true
		case field == "data" && tag == "$serializable":
			if data, err = p.str(tag + ".data"); err != nil {
				return Value{}, err
			}
			haveData = true
		case field == "props" && tag == "$object":
			if t, err := p.token(); err != nil {
				return Value{}, err
			} else if t != json.Delim('{') {
				return Value{}, p.errorf("$object.props wants a JSON object")
			}
			if props, err = p.members(depth+1, StringKey, false); err != nil {
				return Value{}, err
			}
		case field == "entries" && tag == "$object":
			if err := p.entries(props, depth); err != nil {
				return Value{}, err
			}
		default:
			return Value{}, p.errorf("unknown member %q in %s", field, tag)
		}
	}
	if _, err := p.token(); err != nil {
		return Value{}, err
	}
	if !haveClass || !validClassName(class) {
		return Value{}, p.errorf("%s needs a valid \"class\"", tag)
	}
	if tag == "$serializable" {
		if !haveData {
			return Value{}, p.errorf("$serializable needs \"data\"")
		}
		return Serializable(class, data), nil
	}
	return Object(class, props), nil
}

// entries reads [[key, value], ...] where key is a JSON int or string.
func (p *jsonParser) entries(a *Array, depth int) error {
	if t, err := p.token(); err != nil {
		return err
	} else if t != json.Delim('[') {
		return p.errorf("entries want a list of [key, value] pairs")
	}
	for p.dec.More() {
		if t, err := p.token(); err != nil {
			return err
		} else if t != json.Delim('[') {
			return p.errorf("entries want [key, value] pairs")
		}
		kt, err := p.token()
		if err != nil {
			return err
		}
		var k Key
		switch kt := kt.(type) {
		case string:
			k = StringKey(kt)
		case json.Delim:
			if kt != '{' {
				return p.errorf("entry key must be a string, an int or a $bytes tag")
			}
			v, err := p.object(depth + 1)
			if err != nil {
				return err
			}
			if v.kind != KindString {
				return p.errorf("entry key must be a string, an int or a $bytes tag")
			}
			k = StringKey(v.str)
		case json.Number:
			i, err := strconv.ParseInt(string(kt), 10, 64)
			if err != nil {
				return p.errorf("entry key %s is not an int", kt)
			}
			k = IntKey(i)
		default:
			return p.errorf("entry key must be a string or an int")
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return err
		}
		if t, err := p.token(); err != nil {
			return err
		} else if t != json.Delim(']') {
			return p.errorf("entries are pairs: [key, value]")
		}
		a.Set(k, v)
	}
	_, err := p.token()
	return err
}
