package phpserialize

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unsafe"
)

// Handler names a PHP session serializer, the session.serialize_handler
// setting that decides how $_SESSION is stored.
type Handler string

// The session serializers PHP has built in.
const (
	// HandlerPHP is PHP's default: name|value name|value ... where each
	// value is in serialize() form. Names cannot contain '|' and int keys are
	// dropped by PHP.
	HandlerPHP Handler = "php"
	// HandlerPHPBinary is a length byte, the name, then the value, for each
	// variable. Names longer than 127 bytes and int keys are dropped by PHP.
	HandlerPHPBinary Handler = "php_binary"
	// HandlerPHPSerialize is serialize($_SESSION): one array.
	HandlerPHPSerialize Handler = "php_serialize"
)

// ParseHandler returns the handler with the given name.
func ParseHandler(name string) (Handler, error) {
	switch h := Handler(name); h {
	case HandlerPHP, HandlerPHPBinary, HandlerPHPSerialize:
		return h, nil
	}
	return "", fmt.Errorf("phpserialize: unknown session serialize handler %q (want php, php_binary or php_serialize)", name)
}

// maxBinaryKey is PS_BIN_MAX: the longest name php_binary can hold.
const maxBinaryKey = 127

// DecodeSession decodes a stored session payload written with handler h and
// returns the session variables in order, as PHP would put them in $_SESSION.
// It accepts what PHP 8's session decoder accepts and fails where PHP would
// fail (and would then destroy the session). An empty payload is an empty
// session.
func DecodeSession(h Handler, data []byte) (*Array, error) {
	var d Decoder
	return d.DecodeSessionString(h, string(data))
}

// validators holds Decoders that reuse their memory, for ValidateSession.
var validators = sync.Pool{New: func() any { return &Decoder{ReuseMemory: true} }}

// ValidateSession reports whether PHP could decode a stored session payload
// written with handler h: it returns the error DecodeSession would return,
// or nil. It keeps nothing and, called often, allocates next to nothing:
// use it to check a payload before writing it where PHP will read it.
func ValidateSession(h Handler, data []byte) error {
	dec := validators.Get().(*Decoder)
	// The result is dropped before return, so the input need not be copied.
	_, err := dec.DecodeSessionString(h, unsafe.String(unsafe.SliceData(data), len(data)))
	dec.st.drop()
	validators.Put(dec)
	if se, ok := err.(*SyntaxError); ok {
		se.Key = strings.Clone(se.Key) // it pointed into data
	}
	return err
}

// DecodeSession decodes a stored session payload; see DecodeSession.
func (dec *Decoder) DecodeSession(h Handler, data []byte) (*Array, error) {
	return dec.DecodeSessionString(h, string(data))
}

// DecodeSessionString decodes a stored session payload held in s. Strings in
// the result share memory with s.
func (dec *Decoder) DecodeSessionString(h Handler, s string) (*Array, error) {
	d := dec.state(s)
	switch h {
	case HandlerPHP:
		return d.sessionPHP()
	case HandlerPHPBinary:
		return d.sessionBinary()
	case HandlerPHPSerialize:
		return d.sessionSerialize()
	}
	_, err := ParseHandler(string(h))
	return nil, err
}

// session returns the empty array that a session's variables go into.
func (d *decodeState) session() *Array {
	if !d.reuse {
		return &Array{entries: make([]Entry, 0, 16)}
	}
	if d.sess == nil {
		d.sess = &Array{entries: make([]Entry, 0, 16)}
	}
	clear(d.sess.entries[:cap(d.sess.entries)])
	d.sess.entries, d.sess.index = d.sess.entries[:0], nil
	return d.sess
}

// sessionVar decodes the value of session variable name into sess. A name
// seen before keeps its place and takes the new value, as in PHP. Possible
// repeats are found as elements finds them: a filter, a scan, and an index
// only for a session that keeps hitting the filter.
func (d *decodeState) sessionVar(sess *Array, name string, seen *uint64, hits *int) error {
	k := StringKey(name)
	bit := keyBit(k)
	if *seen&bit != 0 {
		if j := sess.findRepeat(k, hits); j >= 0 {
			var v Value
			if err := d.value(&v); err != nil {
				return err
			}
			sess.entries[j].Value = v
			return nil
		}
	}
	*seen |= bit
	if sess.index != nil {
		sess.index[k] = len(sess.entries)
	}
	sess.entries = append(sess.entries, Entry{Key: k})
	return d.value(&sess.entries[len(sess.entries)-1].Value)
}

func (d *decodeState) sessionPHP() (*Array, error) {
	sess := d.session()
	s := d.s
	var seen uint64
	hits := 0
	for d.pos < len(s) {
		p := d.pos
		bar := strings.IndexByte(s[p:], '|')
		if bar < 0 {
			return nil, d.errorf(p, "expected '|' after session key name %q, found end of data", truncate(s[p:]))
		}
		name := s[p : p+bar]
		d.sessKey = name
		d.pos = p + bar + 1
		d.depth = 0
		if err := d.sessionVar(sess, name, &seen, &hits); err != nil {
			return nil, err
		}
	}
	return sess, nil
}

func (d *decodeState) sessionBinary() (*Array, error) {
	sess := d.session()
	s := d.s
	var seen uint64
	hits := 0
	for d.pos < len(s) {
		p := d.pos
		n := int(s[p] &^ 0x80)
		if p+n >= len(s) {
			return nil, d.errorf(p, "session key name of %d bytes runs past the end of data", n)
		}
		name := s[p+1 : p+1+n]
		d.sessKey = name
		d.pos = p + 1 + n
		d.depth = 0
		if err := d.sessionVar(sess, name, &seen, &hits); err != nil {
			return nil, err
		}
	}
	return sess, nil
}

func (d *decodeState) sessionSerialize() (*Array, error) {
	if len(d.s) == 0 {
		return &Array{}, nil
	}
	var v Value
	if err := d.value(&v); err != nil {
		return nil, err
	}
	// Like PHP, ignore bytes after the array: the session decoder never
	// looks at them, and PHP's next write drops them.
	switch v.kind {
	case KindArray:
		return v.arr, nil
	case KindNull:
		return &Array{}, nil
	}
	return nil, d.errorf(0, "php_serialize session holds %s, not an array", v.kind)
}

// EncodeSession encodes session variables with handler h, as PHP's
// session_encode() would. Where PHP would silently lose data (an int key or,
// for php_binary, a name over 127 bytes) or write something it cannot read
// back (a name containing '|' makes PHP write an empty session), it returns
// an *EncodeError instead, and nothing.
func EncodeSession(h Handler, sess *Array) ([]byte, error) {
	return AppendEncodeSession(nil, h, sess)
}

// AppendEncodeSession appends the encoded session to dst; see EncodeSession.
func AppendEncodeSession(dst []byte, h Handler, sess *Array) ([]byte, error) {
	e := encodeState{buf: dst}
	switch h {
	case HandlerPHPSerialize:
		v := ArrayValue(sess)
		if err := e.value(&v); err != nil {
			return dst, err
		}
		return e.buf, nil
	case HandlerPHP, HandlerPHPBinary:
	default:
		_, err := ParseHandler(string(h))
		return dst, err
	}
	entries := sess.Entries()
	for i := range entries {
		en := &entries[i]
		k := en.Key
		if !k.isStr {
			return dst, &EncodeError{Msg: fmt.Sprintf("session key %d is an int: PHP's %s handler drops int keys (use php_serialize, or a string key)", k.num, h)}
		}
		if h == HandlerPHP {
			if strings.IndexByte(k.str, '|') >= 0 {
				return dst, &EncodeError{Msg: fmt.Sprintf("session key %q contains '|': PHP's php handler cannot store it (PHP would write an empty session)", k.str)}
			}
			e.buf = append(e.buf, k.str...)
			e.buf = append(e.buf, '|')
		} else {
			if len(k.str) > maxBinaryKey {
				return dst, &EncodeError{Msg: fmt.Sprintf("session key %q is %d bytes: PHP's php_binary handler drops keys over %d bytes", truncate(k.str), len(k.str), maxBinaryKey)}
			}
			e.buf = append(e.buf, byte(len(k.str)))
			e.buf = append(e.buf, k.str...)
		}
		e.depth = 0
		if err := e.value(&en.Value); err != nil {
			if ee, ok := err.(*EncodeError); ok {
				ee.Path = fmt.Sprintf("session key %q", k.str) + ee.Path
			}
			return dst, err
		}
	}
	return e.buf, nil
}

// ErrUnknownEncoding is returned by DetectHandler for data that is not a
// session in any of PHP's built-in encodings.
var ErrUnknownEncoding = errors.New("phpserialize: data is not a php, php_binary or php_serialize session")

// DetectHandler guesses which handler wrote a session payload by decoding it
// with each: php_serialize first for data that starts with "a:", then php,
// then php_binary. An empty payload is reported as HandlerPHP. The error
// names igbinary and msgpack payloads, which phpsess does not decode.
func DetectHandler(data []byte) (Handler, error) {
	s := string(data)
	if s == "" {
		return HandlerPHP, nil
	}
	var d Decoder
	try := func(h Handler) bool {
		st := d.state(s)
		var err error
		switch h {
		case HandlerPHPSerialize:
			var v Value
			if err = st.value(&v); err == nil && (st.pos != len(s) || v.kind != KindArray) {
				err = ErrUnknownEncoding
			}
		case HandlerPHP:
			_, err = st.sessionPHP()
		case HandlerPHPBinary:
			_, err = st.sessionBinary()
		}
		return err == nil
	}
	if strings.HasPrefix(s, "a:") && try(HandlerPHPSerialize) {
		return HandlerPHPSerialize, nil
	}
	if try(HandlerPHP) {
		return HandlerPHP, nil
	}
	if try(HandlerPHPBinary) {
		return HandlerPHPBinary, nil
	}
	if strings.HasPrefix(s, "\x00\x00\x00\x02") {
		return "", fmt.Errorf("%w (it looks like igbinary)", ErrUnknownEncoding)
	}
	if c := s[0]; c&0xf0 == 0x80 || c == 0xde || c == 0xdf {
		return "", fmt.Errorf("%w (it may be msgpack)", ErrUnknownEncoding)
	}
	return "", ErrUnknownEncoding
}

// RenumberSessionRefs rewrites the r: and R: slot numbers in sess, decoded
// with handler from, so that they point at the same values once sess is
// encoded with handler to. php_serialize counts the session array itself as
// slot 1 and php and php_binary do not, so moving between them shifts every
// slot by one. A reference to the whole php_serialize session has no
// equivalent in php or php_binary: that is an error, and sess is then
// partly renumbered.
func RenumberSessionRefs(sess *Array, from, to Handler) error {
	delta := 0
	switch {
	case from == to:
	case to == HandlerPHPSerialize:
		delta = 1
	case from == HandlerPHPSerialize:
		delta = -1
	}
	if delta == 0 {
		return nil
	}
	return shiftRefs(sess, delta, to, 0)
}

func shiftRefs(a *Array, delta int, to Handler, depth int) error {
	if depth > maxDepthCap {
		return &EncodeError{Msg: "nesting too deep to renumber references"}
	}
	for i := range a.Entries() {
		v := &a.entries[i].Value
		switch v.kind {
		case KindObjectRef, KindRef:
			n := int(v.num) + delta
			if n < 1 {
				return &EncodeError{Path: fmt.Sprintf("[%q]", a.entries[i].Key.String()), Msg: fmt.Sprintf("a reference to the whole session, which the %s handler cannot write", to)}
			}
			v.num = uint64(n)
		case KindArray, KindObject:
			if err := shiftRefs(v.arr, delta, to, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// ConvertSession re-encodes a session payload written with handler from
// into handler to, renumbering references. The bytes are returned as they
// are when both handlers are the same (after checking that they decode).
// A session that cannot be carried over exactly (an int key into php or
// php_binary, a name with '|' into php, ...) is an error.
func ConvertSession(from, to Handler, data []byte) ([]byte, error) {
	if from == to {
		if err := ValidateSession(from, data); err != nil {
			return nil, err
		}
		return data, nil
	}
	sess, err := DecodeSession(from, data)
	if err != nil {
		return nil, err
	}
	if to != HandlerPHPSerialize {
		for _, e := range sess.Entries() {
			if !e.Key.isStr {
				return nil, &EncodeError{Msg: fmt.Sprintf("session variable %d has an int key, which PHP's %s handler cannot store", e.Key.num, to)}
			}
		}
	}
	if err := RenumberSessionRefs(sess, from, to); err != nil {
		return nil, err
	}
	return EncodeSession(to, sess)
}
