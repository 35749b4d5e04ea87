package phpserialize

import (
	"cmp"
	"encoding"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Marshaler is implemented by types that write themselves as a PHP value.
type Marshaler interface {
	MarshalPHP() (Value, error)
}

// Unmarshaler is implemented by types that read themselves from a PHP value.
// References (r:, R:) in the value have already been resolved.
type Unmarshaler interface {
	UnmarshalPHP(Value) error
}

// ClassNamer is implemented by struct types that are PHP objects: Marshal
// writes them as O:...:"Class":... instead of as arrays.
type ClassNamer interface {
	PHPClass() string
}

// Marshal returns the PHP serialize() form of v.
//
// Go values map to PHP values as follows: nil, nil pointers, nil slices and
// nil maps are null; bools, ints (unsigned ones up to math.MaxInt64), floats
// and strings map to their PHP kinds ([]byte is a string); slices and arrays
// are lists; maps with string or int keys are arrays, keys sorted (string keys
// that are canonical ints become int keys, as in PHP); structs are arrays of
// their exported fields in order, or objects when the type implements
// ClassNamer; Value and *Array are written as they are.
//
// Struct fields are named by the tag `php:"name,options"` (as encoding/json
// does: "-" skips a field, embedded structs are flattened). Options:
// omitempty; protected; private (declared in the struct's own PHPClass), or
// private=Class; string (an int, float or bool written as a PHP string).
func Marshal(v any) ([]byte, error) {
	val, err := ToValue(v)
	if err != nil {
		return nil, err
	}
	return Encode(val)
}

// Unmarshal decodes PHP-serialized data into v, which must be a non-nil
// pointer. References are resolved to the values they point to.
//
// PHP values map to Go values as Marshal describes. Into an interface{},
// Unmarshal stores nil, bool, int64, float64, string, []any for lists and
// map[string]any for other arrays and for objects (property names without
// their visibility marks); an enum case becomes "Enum:Case" and a
// Serializable its payload. A struct field takes the property whose PHP name
// (with visibility marks) matches exactly, else the one whose plain name does.
func Unmarshal(data []byte, v any) error {
	val, err := Decode(data)
	if err != nil {
		return err
	}
	return FromValue(val, v)
}

// MarshalSession encodes a map or struct as a session with handler h: each
// key or field is one session variable, in Marshal's order.
func MarshalSession(h Handler, v any) ([]byte, error) {
	val, err := ToValue(v)
	if err != nil {
		return nil, err
	}
	if val.kind != KindArray {
		return nil, fmt.Errorf("phpserialize: a session must be a map or a struct, not %T", v)
	}
	sess := val.arr
	if h != HandlerPHPSerialize {
		sess = &Array{entries: slices.Clone(sess.entries)}
		for i, e := range sess.entries {
			if !e.Key.isStr {
				sess.entries[i].Key = StringKey(e.Key.String())
			}
		}
	}
	return EncodeSession(h, sess)
}

// UnmarshalSession decodes a session payload written with handler h into v,
// a pointer to a map or struct.
func UnmarshalSession(h Handler, data []byte, v any) error {
	sess, err := DecodeSession(h, data)
	if err != nil {
		return err
	}
	return fromValue(ArrayValue(sess), v, h == HandlerPHPSerialize)
}

// ToValue converts a Go value to a PHP value as Marshal does.
func ToValue(v any) (Value, error) {
	return toValue(reflect.ValueOf(v), "")
}

var (
	valueType       = reflect.TypeFor[Value]()
	arrayPtrType    = reflect.TypeFor[*Array]()
	marshalerType   = reflect.TypeFor[Marshaler]()
	unmarshalerType = reflect.TypeFor[Unmarshaler]()
	classNamerType  = reflect.TypeFor[ClassNamer]()
	textMarshType   = reflect.TypeFor[encoding.TextMarshaler]()
)

func marshalErr(path, format string, args ...any) error {
	return &EncodeError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

func toValue(rv reflect.Value, path string) (Value, error) {
	if !rv.IsValid() {
		return Null(), nil
	}
	t := rv.Type()
	if t == valueType {
		return rv.Interface().(Value), nil
	}
	if t == arrayPtrType {
		if rv.IsNil() {
			return Null(), nil
		}
		return ArrayValue(rv.Interface().(*Array)), nil
	}
	if t.Implements(marshalerType) && (t.Kind() != reflect.Pointer || !rv.IsNil()) {
		return rv.Interface().(Marshaler).MarshalPHP()
	}
	switch t.Kind() {
	case reflect.Bool:
		return Bool(rv.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return Int(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return Value{}, marshalErr(path, "%d does not fit in PHP's int", u)
		}
		return Int(int64(u)), nil
	case reflect.Float32:
		f, _ := strconv.ParseFloat(strconv.FormatFloat(rv.Float(), 'g', -1, 32), 64)
		return Float(f), nil
	case reflect.Float64:
		return Float(rv.Float()), nil
	case reflect.String:
		return String(rv.String()), nil
	case reflect.Interface, reflect.Pointer:
		if rv.IsNil() {
			return Null(), nil
		}
		return toValue(rv.Elem(), path)
	case reflect.Slice:
		if rv.IsNil() {
			return Null(), nil
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return String(string(rv.Bytes())), nil
		}
		fallthrough
	case reflect.Array:
		a := &Array{entries: make([]Entry, rv.Len())}
		for i := range rv.Len() {
			v, err := toValue(rv.Index(i), path+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return Value{}, err
			}
			a.entries[i] = Entry{Key: IntKey(int64(i)), Value: v}
		}
		return ArrayValue(a), nil
	case reflect.Map:
		if rv.IsNil() {
			return Null(), nil
		}
		return mapToValue(rv, path)
	case reflect.Struct:
		a := &Array{}
		class := ""
		if cn, ok := rv.Interface().(ClassNamer); ok {
			class = cn.PHPClass()
		} else if rv.CanAddr() && reflect.PointerTo(t).Implements(classNamerType) {
			class = rv.Addr().Interface().(ClassNamer).PHPClass()
		}
		for _, f := range cachedFields(t) {
			fv, ok := fieldByIndex(rv, f.index)
			if !ok || (f.omitEmpty && fv.IsZero()) {
				continue
			}
			v, err := toValue(fv, path+"["+strconv.Quote(f.name)+"]")
			if err != nil {
				return Value{}, err
			}
			if f.asString {
				v = scalarString(v)
			}
			name := f.name
			if class != "" {
				owner := f.privateOf
				if f.vis == Private && owner == "" {
					owner = class
				}
				name = PropertyName(f.name, f.vis, owner)
			}
			a.entries = append(a.entries, Entry{Key: ArrayKeyOrString(name, class == ""), Value: v})
		}
		if class != "" {
			if !validClassName(class) {
				return Value{}, marshalErr(path, "invalid class name %q from %s.PHPClass", class, t)
			}
			return Object(class, a), nil
		}
		return ArrayValue(a), nil
	}
	return Value{}, marshalErr(path, "cannot marshal Go %s to PHP", t)
}

// ArrayKeyOrString returns ArrayKey(s) for array keys and StringKey(s) for
// property names.
func ArrayKeyOrString(s string, array bool) Key {
	if array {
		return ArrayKey(s)
	}
	return StringKey(s)
}

func scalarString(v Value) Value {
	switch v.kind {
	case KindInt:
		return String(strconv.FormatInt(v.Int(), 10))
	case KindFloat:
		return String(string(AppendFloat(nil, v.Float())))
	case KindBool:
		if v.Bool() {
			return String("1")
		}
		return String("")
	}
	return v
}

func mapToValue(rv reflect.Value, path string) (Value, error) {
	type kv struct {
		k Key
		v reflect.Value
	}
	items := make([]kv, 0, rv.Len())
	iter := rv.MapRange()
	for iter.Next() {
		mk := iter.Key()
		var k Key
		switch mk.Kind() {
		case reflect.String:
			k = ArrayKey(mk.String())
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			k = IntKey(mk.Int())
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			if mk.Uint() > math.MaxInt64 {
				return Value{}, marshalErr(path, "map key %d does not fit in PHP's int", mk.Uint())
			}
			k = IntKey(int64(mk.Uint()))
		default:
			if mk.Type().Implements(textMarshType) {
				b, err := mk.Interface().(encoding.TextMarshaler).MarshalText()
				if err != nil {
					return Value{}, err
				}
				k = ArrayKey(string(b))
				break
			}
			return Value{}, marshalErr(path, "map key type %s cannot be a PHP array key", mk.Type())
		}
		items = append(items, kv{k, iter.Value()})
	}
	slices.SortFunc(items, func(a, b kv) int {
		if a.k.isStr != b.k.isStr {
			if a.k.isStr {
				return 1
			}
			return -1
		}
		if a.k.isStr {
			return strings.Compare(a.k.str, b.k.str)
		}
		return cmp.Compare(a.k.num, b.k.num)
	})
	a := &Array{entries: make([]Entry, 0, len(items))}
	for _, it := range items {
		v, err := toValue(it.v, path+"["+strconv.Quote(it.k.String())+"]")
		if err != nil {
			return Value{}, err
		}
		a.Set(it.k, v)
	}
	return ArrayValue(a), nil
}

// field is one struct field as Marshal and Unmarshal see it.
type field struct {
	name      string
	index     []int
	omitEmpty bool
	asString  bool
	vis       Visibility
	privateOf string
}

var fieldCache sync.Map // reflect.Type -> []field

func cachedFields(t reflect.Type) []field {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]field)
	}
	f, _ := fieldCache.LoadOrStore(t, typeFields(t, nil))
	return f.([]field)
}

func typeFields(t reflect.Type, index []int) []field {
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("php")
		if tag == "-" {
			continue
		}
		idx := append(slices.Clone(index), i)
		if sf.Anonymous && tag == "" {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, typeFields(ft, idx)...)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		f := field{name: sf.Name, index: idx}
		name, opts, _ := strings.Cut(tag, ",")
		if name != "" {
			f.name = name
		}
		for opts != "" {
			var o string
			o, opts, _ = strings.Cut(opts, ",")
			switch {
			case o == "omitempty":
				f.omitEmpty = true
			case o == "string":
				f.asString = true
			case o == "protected":
				f.vis = Protected
			case o == "private":
				f.vis = Private
			case strings.HasPrefix(o, "private="):
				f.vis = Private
				f.privateOf = strings.TrimPrefix(o, "private=")
			}
		}
		out = append(out, f)
	}
	return out
}

func fieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

// UnmarshalTypeError reports a PHP value that cannot be stored in a Go value
// of the given type.
type UnmarshalTypeError struct {
	Kind Kind         // the PHP value's kind
	Type reflect.Type // the Go type it could not be stored in
	Path string       // where, e.g. `["user"]["id"]`
}

// Error names the PHP kind, the Go type and where the value is.
func (e *UnmarshalTypeError) Error() string {
	at := ""
	if e.Path != "" {
		at = " at " + e.Path
	}
	return fmt.Sprintf("phpserialize: cannot unmarshal PHP %s into Go %s%s", e.Kind, e.Type, at)
}

// FromValue stores a PHP value in v, a non-nil pointer, as Unmarshal does.
func FromValue(val Value, v any) error {
	return fromValue(val, v, true)
}

// fromValue stores val in v; outer says whether val itself takes slot 1 (a
// serialized value, or a php_serialize session) or only its elements do (a
// php or php_binary session).
func fromValue(val Value, v any, outer bool) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("phpserialize: Unmarshal needs a non-nil pointer, not %T", v)
	}
	u := unmarshaler{slots: slotTable(val, outer)}
	return u.store(val, rv.Elem(), "")
}

// slotTable lists the values in PHP's slot order, so that r:N and R:N can be
// resolved: slot N is slots[N-1].
func slotTable(v Value, outer bool) []Value {
	var slots []Value
	var walk func(Value)
	walk = func(v Value) {
		if v.kind == KindRef {
			return
		}
		slots = append(slots, v)
		if v.kind == KindArray || v.kind == KindObject {
			for _, e := range v.arr.Entries() {
				walk(e.Value)
			}
		}
	}
	if !hasRefs(v) {
		return nil
	}
	if outer || v.kind != KindArray {
		walk(v)
	} else {
		for _, e := range v.arr.Entries() {
			walk(e.Value)
		}
	}
	return slots
}

func hasRefs(v Value) bool {
	switch v.kind {
	case KindObjectRef, KindRef:
		return true
	case KindArray, KindObject:
		for _, e := range v.arr.Entries() {
			if hasRefs(e.Value) {
				return true
			}
		}
	}
	return false
}

type unmarshaler struct {
	slots []Value
	depth int // guards against reference cycles such as a:1:{i:0;R:1;}
}

const maxUnmarshalDepth = DefaultMaxDepth * 2

func (u *unmarshaler) enter(path string) error {
	u.depth++
	if u.depth > maxUnmarshalDepth {
		return fmt.Errorf("phpserialize: nesting deeper than %d at %s (a reference cycle?)", maxUnmarshalDepth, path)
	}
	return nil
}

func (u *unmarshaler) resolve(val Value, path string) (Value, error) {
	// Each hop goes to a lower slot number, so this ends.
	for val.kind == KindObjectRef || val.kind == KindRef {
		n := val.Slot()
		if n < 1 || n > len(u.slots) {
			return Value{}, fmt.Errorf("phpserialize: reference to slot %d at %s cannot be resolved", n, path)
		}
		val = u.slots[n-1]
	}
	return val, nil
}

func (u *unmarshaler) store(val Value, rv reflect.Value, path string) error {
	if err := u.enter(path); err != nil {
		return err
	}
	defer func() { u.depth-- }()
	val, err := u.resolve(val, path)
	if err != nil {
		return err
	}
	t := rv.Type()
	if t == valueType {
		rv.Set(reflect.ValueOf(val))
		return nil
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return rv.Addr().Interface().(Unmarshaler).UnmarshalPHP(val)
	}
	mismatch := func() error { return &UnmarshalTypeError{Kind: val.kind, Type: t, Path: path} }
	if val.kind == KindNull {
		rv.SetZero()
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			rv.Set(reflect.New(t.Elem()))
		}
		return u.store(val, rv.Elem(), path)
	case reflect.Interface:
		if t.NumMethod() != 0 {
			return mismatch()
		}
		x, err := u.toAny(val, path)
		if err != nil {
			return err
		}
		if x == nil {
			rv.SetZero()
		} else {
			rv.Set(reflect.ValueOf(x))
		}
		return nil
	case reflect.Bool:
		if val.kind != KindBool {
			return mismatch()
		}
		rv.SetBool(val.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := intOf(val)
		if !ok || rv.OverflowInt(n) {
			return mismatch()
		}
		rv.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, ok := intOf(val)
		if !ok || n < 0 || rv.OverflowUint(uint64(n)) {
			return mismatch()
		}
		rv.SetUint(uint64(n))
	case reflect.Float32, reflect.Float64:
		switch val.kind {
		case KindFloat:
			rv.SetFloat(val.Float())
		case KindInt:
			rv.SetFloat(float64(val.Int()))
		default:
			return mismatch()
		}
	case reflect.String:
		if val.kind != KindString {
			return mismatch()
		}
		rv.SetString(val.str)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && val.kind == KindString {
			rv.SetBytes([]byte(val.str))
			return nil
		}
		if val.kind != KindArray {
			return mismatch()
		}
		s := reflect.MakeSlice(t, val.arr.Len(), val.arr.Len())
		for i, e := range val.arr.Entries() {
			if err := u.store(e.Value, s.Index(i), path+"["+e.Key.String()+"]"); err != nil {
				return err
			}
		}
		rv.Set(s)
	case reflect.Array:
		if val.kind != KindArray || val.arr.Len() > t.Len() {
			return mismatch()
		}
		for i, e := range val.arr.Entries() {
			if err := u.store(e.Value, rv.Index(i), path+"["+e.Key.String()+"]"); err != nil {
				return err
			}
		}
	case reflect.Map:
		if val.kind != KindArray && val.kind != KindObject {
			return mismatch()
		}
		if rv.IsNil() {
			rv.Set(reflect.MakeMapWithSize(t, val.arr.Len()))
		}
		kt := t.Key()
		for _, e := range val.arr.Entries() {
			mk := reflect.New(kt).Elem()
			switch kt.Kind() {
			case reflect.String:
				name := e.Key.String()
				if val.kind == KindObject {
					name, _, _ = ParsePropertyName(name)
				}
				mk.SetString(name)
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
				n, err := strconv.ParseInt(e.Key.String(), 10, 64)
				if err != nil || mk.OverflowInt(n) {
					return &UnmarshalTypeError{Kind: val.kind, Type: t, Path: path + "[" + strconv.Quote(e.Key.String()) + "]"}
				}
				mk.SetInt(n)
			default:
				return mismatch()
			}
			mv := reflect.New(t.Elem()).Elem()
			if err := u.store(e.Value, mv, path+"["+strconv.Quote(e.Key.String())+"]"); err != nil {
				return err
			}
			rv.SetMapIndex(mk, mv)
		}
	case reflect.Struct:
		if val.kind != KindArray && val.kind != KindObject {
			return mismatch()
		}
		return u.storeStruct(val, rv, path)
	default:
		return mismatch()
	}
	return nil
}

func intOf(v Value) (int64, bool) {
	switch v.kind {
	case KindInt:
		return v.Int(), true
	case KindString:
		if n, ok := canonicalInt(v.str); ok {
			return n, true
		}
	}
	return 0, false
}

func (u *unmarshaler) storeStruct(val Value, rv reflect.Value, path string) error {
	fields := cachedFields(rv.Type())
	byPlain := make(map[string]Value, val.arr.Len())
	for _, e := range val.arr.Entries() {
		name, _, _ := ParsePropertyName(e.Key.String())
		if _, dup := byPlain[name]; !dup {
			byPlain[name] = e.Value
		}
	}
	for _, f := range fields {
		pv, ok := val.arr.Get(StringKey(f.name))
		if !ok && f.vis == Public {
			pv, ok = val.arr.Get(ArrayKey(f.name))
		}
		if !ok {
			pv, ok = byPlain[f.name]
		}
		if !ok {
			continue
		}
		fv := rv
		for i, x := range f.index {
			if i > 0 && fv.Kind() == reflect.Pointer {
				if fv.IsNil() {
					fv.Set(reflect.New(fv.Type().Elem()))
				}
				fv = fv.Elem()
			}
			fv = fv.Field(x)
		}
		if f.asString {
			if r, err := u.resolve(pv, path); err == nil && r.kind == KindString {
				if err := setFromString(fv, r.str); err == nil {
					continue
				}
			}
		}
		if err := u.store(pv, fv, path+"["+strconv.Quote(f.name)+"]"); err != nil {
			return err
		}
	}
	return nil
}

func setFromString(fv reflect.Value, s string) error {
	switch fv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || fv.OverflowInt(n) {
			return fmt.Errorf("bad int")
		}
		fv.SetInt(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		fv.SetFloat(f)
	case reflect.Bool:
		fv.SetBool(s != "" && s != "0")
	default:
		return fmt.Errorf("not a scalar")
	}
	return nil
}

func (u *unmarshaler) toAny(val Value, path string) (any, error) {
	if err := u.enter(path); err != nil {
		return nil, err
	}
	defer func() { u.depth-- }()
	val, err := u.resolve(val, path)
	if err != nil {
		return nil, err
	}
	switch val.kind {
	case KindNull:
		return nil, nil
	case KindBool:
		return val.Bool(), nil
	case KindInt:
		return val.Int(), nil
	case KindFloat:
		return val.Float(), nil
	case KindString, KindSerializable, KindEnum:
		return val.str, nil
	case KindArray, KindObject:
		if val.kind == KindArray && val.arr.IsList() {
			out := make([]any, val.arr.Len())
			for i, e := range val.arr.Entries() {
				x, err := u.toAny(e.Value, path+"["+strconv.Itoa(i)+"]")
				if err != nil {
					return nil, err
				}
				out[i] = x
			}
			return out, nil
		}
		out := make(map[string]any, val.arr.Len())
		for _, e := range val.arr.Entries() {
			name := e.Key.String()
			if val.kind == KindObject {
				name, _, _ = ParsePropertyName(name)
			}
			x, err := u.toAny(e.Value, path+"["+strconv.Quote(name)+"]")
			if err != nil {
				return nil, err
			}
			out[name] = x
		}
		return out, nil
	}
	return nil, &UnmarshalTypeError{Kind: val.kind, Type: reflect.TypeFor[any](), Path: path}
}
