package phpserialize

import (
	"iter"
	"math"
	"strconv"
	"strings"
)

// Kind is the PHP type of a Value.
type Kind uint8

// The kinds of value PHP's serialize() writes.
const (
	KindNull         Kind = iota // N;
	KindBool                     // b:0; b:1;
	KindInt                      // i:42;
	KindFloat                    // d:0.1;
	KindString                   // s:3:"abc"; (bytes, not necessarily UTF-8)
	KindArray                    // a:N:{...} an ordered map with int or string keys
	KindObject                   // O:N:"Class":N:{...} properties, or __serialize data
	KindSerializable             // C:N:"Class":N:{payload} a Serializable object
	KindEnum                     // E:N:"Enum:Case";
	KindObjectRef                // r:N; the object in slot N, again
	KindRef                      // R:N; a PHP reference (&) to slot N
)

var kindNames = [...]string{"null", "bool", "int", "float", "string", "array", "object", "serializable", "enum", "object reference", "reference"}

// String returns a lower-case name for the kind, such as "array".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one PHP value: the lossless tree that Decode returns and Encode
// writes. Decoding and re-encoding a payload that PHP produced gives the same
// bytes back, including objects of classes phpsess knows nothing about.
//
// The zero Value is PHP's null. Values are small and are passed by value;
// arrays and objects share their *Array, as PHP objects do (not as PHP arrays
// do: copy an array with Clone before changing it if the original must stay).
type Value struct {
	kind Kind
	num  uint64 // bool, int (two's complement), float bits, reference slot
	str  string // string bytes; float text as read; enum "Enum:Case"; object class; Serializable "Class\x00payload"
	arr  *Array // array elements or object properties
}

// Null returns PHP's null.
func Null() Value { return Value{} }

// Bool returns a PHP bool.
func Bool(b bool) Value {
	if b {
		return Value{kind: KindBool, num: 1}
	}
	return Value{kind: KindBool}
}

// Int returns a PHP int.
func Int(i int64) Value { return Value{kind: KindInt, num: uint64(i)} }

// Float returns a PHP float. It is written as PHP 8 writes it with
// serialize_precision=-1: the shortest digits that read back as f.
func Float(f float64) Value { return Value{kind: KindFloat, num: math.Float64bits(f)} }

// String returns a PHP string. PHP strings are bytes: s need not be UTF-8.
func String(s string) Value { return Value{kind: KindString, str: s} }

// ArrayValue returns a PHP array holding a. A nil a is an empty array.
func ArrayValue(a *Array) Value {
	if a == nil {
		a = &Array{}
	}
	return Value{kind: KindArray, arr: a}
}

// Object returns a PHP object of the named class with the given properties
// (or, for a class with __serialize, the data it returned). Property names
// are as PHP writes them: "name" for public, "\x00*\x00name" for protected and
// "\x00Class\x00name" for private ones (see PropertyName).
func Object(class string, props *Array) Value {
	if props == nil {
		props = &Array{}
	}
	return Value{kind: KindObject, str: class, arr: props}
}

// Serializable returns an object of a class that implements PHP's
// Serializable interface, written as C:...:{payload}. The payload is opaque.
func Serializable(class, payload string) Value {
	return Value{kind: KindSerializable, str: class + "\x00" + payload}
}

// Enum returns a case of a PHP 8.1 enum, written as E:N:"Enum:Case";.
func Enum(enum, kase string) Value {
	return Value{kind: KindEnum, str: enum + ":" + kase}
}

// ObjectRef returns r:slot;, the object that was serialized in the given slot
// (1-based, numbered as PHP numbers them) appearing again.
func ObjectRef(slot int) Value { return Value{kind: KindObjectRef, num: uint64(slot)} }

// Ref returns R:slot;, a PHP reference (&) to the value in the given slot.
func Ref(slot int) Value { return Value{kind: KindRef, num: uint64(slot)} }

// Kind reports the value's PHP type.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is PHP's null.
func (v Value) IsNull() bool { return v.kind == KindNull }

// Bool returns the value of a bool, and false for any other kind.
func (v Value) Bool() bool { return v.kind == KindBool && v.num != 0 }

// Int returns the value of an int, and 0 for any other kind.
func (v Value) Int() int64 {
	if v.kind != KindInt {
		return 0
	}
	return int64(v.num)
}

// Float returns the value of a float, and 0 for any other kind.
func (v Value) Float() float64 {
	if v.kind != KindFloat {
		return 0
	}
	return math.Float64frombits(v.num)
}

// Str returns the bytes of a string, the payload of a Serializable and
// "Enum:Case" of an enum; "" for any other kind.
func (v Value) Str() string {
	switch v.kind {
	case KindString, KindEnum:
		return v.str
	case KindSerializable:
		return v.payload()
	}
	return ""
}

// className returns the class of an object or Serializable (class names
// cannot contain NUL, so a Serializable keeps "Class\x00payload" in str).
func (v Value) className() string {
	if v.kind == KindSerializable {
		c, _, _ := strings.Cut(v.str, "\x00")
		return c
	}
	return v.str
}

func (v Value) payload() string {
	_, p, _ := strings.Cut(v.str, "\x00")
	return p
}

// Array returns the elements of an array or the properties of an object, and
// nil for any other kind.
func (v Value) Array() *Array {
	if v.kind == KindArray || v.kind == KindObject {
		return v.arr
	}
	return nil
}

// Class returns the class name of an object or Serializable, the enum name
// of an enum case, and "" for any other kind.
func (v Value) Class() string {
	switch v.kind {
	case KindObject, KindSerializable:
		return v.className()
	case KindEnum:
		e, _, _ := strings.Cut(v.str, ":")
		return e
	}
	return ""
}

// Case returns the case name of an enum value, and "" for any other kind.
func (v Value) Case() string {
	if v.kind != KindEnum {
		return ""
	}
	_, c, _ := strings.Cut(v.str, ":")
	return c
}

// Slot returns the slot number of an r: or R: reference, and 0 otherwise.
func (v Value) Slot() int {
	if v.kind == KindObjectRef || v.kind == KindRef {
		return int(v.num)
	}
	return 0
}

// Equal reports whether v and w hold the same PHP data: same kinds, same
// scalars (floats compared by bits, so NAN equals NAN), same keys in the same
// order. It compares what PHP would see, not how it was written: d:1.0E+25;
// and d:1.0e25; are equal.
func (v Value) Equal(w Value) bool {
	if v.kind != w.kind {
		return false
	}
	switch v.kind {
	case KindNull:
		return true
	case KindBool, KindInt, KindObjectRef, KindRef:
		return v.num == w.num
	case KindFloat:
		return v.num == w.num || (math.IsNaN(v.Float()) && math.IsNaN(w.Float()))
	case KindString, KindEnum, KindSerializable:
		return v.str == w.str
	case KindObject:
		if v.str != w.str {
			return false
		}
	}
	return v.arr.Equal(w.arr)
}

// Clone returns a deep copy of v: arrays and objects inside it are copied, so
// changing the copy leaves v as it was.
func (v Value) Clone() Value {
	if v.arr != nil {
		v.arr = v.arr.Clone()
	}
	return v
}

// Key is an array key or property name: a PHP int or a PHP string.
type Key struct {
	str   string
	num   int64
	isStr bool
}

// IntKey returns an int key.
func IntKey(i int64) Key { return Key{num: i} }

// StringKey returns a string key exactly as given. Use ArrayKey for the key
// PHP makes of a string when it is used as an array index.
func StringKey(s string) Key { return Key{str: s, isStr: true} }

// ArrayKey returns the key PHP uses for $array[s]: a string that is a
// canonical decimal int ("10", "-3", but not "010", "-0" or "1.5") becomes an
// int key; any other string stays a string.
func ArrayKey(s string) Key {
	if i, ok := canonicalInt(s); ok {
		return IntKey(i)
	}
	return StringKey(s)
}

// IsInt reports whether k is an int key.
func (k Key) IsInt() bool { return !k.isStr }

// Int returns an int key's value (0 for a string key).
func (k Key) Int() int64 {
	if k.isStr {
		return 0
	}
	return k.num
}

// String returns a string key's bytes, or an int key in decimal.
func (k Key) String() string {
	if k.isStr {
		return k.str
	}
	return strconv.FormatInt(k.num, 10)
}

// canonicalInt reports whether s is a decimal int as PHP writes one (the rule
// of ZEND_HANDLE_NUMERIC_STR): optional '-', no leading zeros, no '+', fits in
// 64 bits, and not "-0".
func canonicalInt(s string) (int64, bool) {
	n := len(s)
	if n == 0 || n > 20 {
		return 0, false
	}
	i := 0
	if s[0] == '-' {
		i = 1
		if n == 1 {
			return 0, false
		}
	}
	if s[i] == '0' && (n-i > 1 || i == 1) {
		return 0, false
	}
	for j := i; j < n; j++ {
		if s[j] < '0' || s[j] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// Entry is one key and its value in an Array.
type Entry struct {
	Key   Key
	Value Value
}

// Array is an ordered map with int and string keys: a PHP array, or the
// properties of a PHP object. Order is insertion order and is always kept.
// The zero Array is empty and ready to use. An Array is not safe for
// concurrent use while it is being changed.
type Array struct {
	entries []Entry
	index   map[Key]int // built on demand for large arrays; nil when stale
}

// NewArray returns an array holding the given entries in order. Later entries
// replace earlier ones with the same key, keeping the earlier position, as
// PHP does.
func NewArray(entries ...Entry) *Array {
	a := &Array{entries: make([]Entry, 0, len(entries))}
	for _, e := range entries {
		a.Set(e.Key, e.Value)
	}
	return a
}

// List returns a PHP list: an array with keys 0, 1, 2, ...
func List(values ...Value) *Array {
	a := &Array{entries: make([]Entry, len(values))}
	for i, v := range values {
		a.entries[i] = Entry{Key: IntKey(int64(i)), Value: v}
	}
	return a
}

// Len returns the number of entries.
func (a *Array) Len() int {
	if a == nil {
		return 0
	}
	return len(a.entries)
}

// Entries returns the entries in order. The slice belongs to the array: read
// it, do not change it.
func (a *Array) Entries() []Entry {
	if a == nil {
		return nil
	}
	return a.entries
}

// All iterates over the entries in order.
func (a *Array) All() iter.Seq2[Key, Value] {
	return func(yield func(Key, Value) bool) {
		for _, e := range a.Entries() {
			if !yield(e.Key, e.Value) {
				return
			}
		}
	}
}

const indexThreshold = 16

func (a *Array) find(k Key) int {
	if a == nil {
		return -1
	}
	if len(a.entries) > indexThreshold {
		if a.index == nil {
			a.index = make(map[Key]int, len(a.entries))
			for i, e := range a.entries {
				if _, dup := a.index[e.Key]; !dup {
					a.index[e.Key] = i
				}
			}
		}
		if i, ok := a.index[k]; ok {
			return i
		}
		return -1
	}
	return a.findLinear(k)
}

// findLinear is find without the index: a scan, for a few look-ups in an
// array that is still being built.
func (a *Array) findLinear(k Key) int {
	for i := range a.entries {
		if e := &a.entries[i].Key; e.isStr == k.isStr && e.num == k.num && e.str == k.str {
			return i
		}
	}
	return -1
}

// Get returns the value stored under k.
func (a *Array) Get(k Key) (Value, bool) {
	if i := a.find(k); i >= 0 {
		return a.entries[i].Value, true
	}
	return Value{}, false
}

// Lookup returns the value stored under the key PHP would use for
// $array[name] (see ArrayKey), or under the string name exactly.
func (a *Array) Lookup(name string) (Value, bool) {
	if v, ok := a.Get(ArrayKey(name)); ok {
		return v, true
	}
	return a.Get(StringKey(name))
}

// Set stores v under k: in place if k is present, else at the end.
func (a *Array) Set(k Key, v Value) {
	if i := a.find(k); i >= 0 {
		a.entries[i].Value = v
		return
	}
	if a.index != nil {
		a.index[k] = len(a.entries)
	}
	a.entries = append(a.entries, Entry{Key: k, Value: v})
}

// Append stores v under the next int key, as PHP's $array[] = v does: one
// more than the largest int key so far, or 0.
func (a *Array) Append(v Value) {
	next := int64(0)
	for _, e := range a.entries {
		if !e.Key.isStr && e.Key.num >= next {
			next = e.Key.num + 1
		}
	}
	a.Set(IntKey(next), v)
}

// Delete removes k and reports whether it was present.
func (a *Array) Delete(k Key) bool {
	i := a.find(k)
	if i < 0 {
		return false
	}
	a.entries = append(a.entries[:i], a.entries[i+1:]...)
	a.index = nil
	return true
}

// IsList reports whether the keys are 0, 1, 2, ... in order, as PHP's
// array_is_list() does. An empty array is a list.
func (a *Array) IsList() bool {
	for i, e := range a.Entries() {
		if e.Key.isStr || e.Key.num != int64(i) {
			return false
		}
	}
	return true
}

// Equal reports whether a and b hold equal values under the same keys in the
// same order.
func (a *Array) Equal(b *Array) bool {
	if a.Len() != b.Len() {
		return false
	}
	for i, e := range a.Entries() {
		f := b.entries[i]
		if e.Key != f.Key || !e.Value.Equal(f.Value) {
			return false
		}
	}
	return true
}

// Clone returns a deep copy of a.
func (a *Array) Clone() *Array {
	if a == nil {
		return nil
	}
	b := &Array{entries: make([]Entry, len(a.entries))}
	for i, e := range a.entries {
		b.entries[i] = Entry{Key: e.Key, Value: e.Value.Clone()}
	}
	return b
}

// Visibility is the visibility of an object property.
type Visibility uint8

// Property visibilities, as PHP marks them in property names.
const (
	Public    Visibility = iota // "name"
	Protected                   // "\x00*\x00name"
	Private                     // "\x00Class\x00name"
)

// PropertyName returns the name PHP writes for a property: name for a public
// one, "\x00*\x00name" for a protected one and "\x00class\x00name" for a private
// one declared in class.
func PropertyName(name string, vis Visibility, class string) string {
	switch vis {
	case Protected:
		return "\x00*\x00" + name
	case Private:
		return "\x00" + class + "\x00" + name
	}
	return name
}

// ParsePropertyName splits a property name as PHP writes it into the plain
// name, its visibility and, for a private property, the declaring class.
func ParsePropertyName(mangled string) (name string, vis Visibility, class string) {
	if len(mangled) < 3 || mangled[0] != 0 {
		return mangled, Public, ""
	}
	i := strings.IndexByte(mangled[1:], 0)
	if i < 0 {
		return mangled, Public, ""
	}
	cls, name := mangled[1:1+i], mangled[2+i:]
	if cls == "*" {
		return name, Protected, ""
	}
	return name, Private, cls
}
