package phpserialize

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unsafe"
)

// DefaultMaxDepth is PHP's default unserialize_max_depth: arrays and objects
// nested deeper than this are refused.
const DefaultMaxDepth = 4096

// maxDepthCap bounds Decoder.MaxDepth so that a caller cannot configure a
// depth at which the recursive decoder would exhaust the stack.
const maxDepthCap = 1 << 16

// SyntaxError reports input that PHP would not unserialize, or that phpsess
// refuses for safety, and where.
type SyntaxError struct {
	Offset int64  // byte offset in the input where the problem is
	Key    string // session variable being decoded, if any
	Msg    string // what was expected, or what is wrong
}

// Error reports the problem, the byte offset and the session key.
func (e *SyntaxError) Error() string {
	if e.Key != "" {
		return fmt.Sprintf("phpserialize: session key %q: offset %d: %s", e.Key, e.Offset, e.Msg)
	}
	return fmt.Sprintf("phpserialize: offset %d: %s", e.Offset, e.Msg)
}

// A Decoder decodes PHP-serialized data. The zero Decoder decodes as PHP 8
// does with its default settings, and refuses data after the value.
type Decoder struct {
	// MaxDepth limits how deeply arrays and objects may nest, counted as PHP
	// counts for unserialize_max_depth. 0 means DefaultMaxDepth.
	MaxDepth int
	// AllowTrailingData accepts bytes after the value, as PHP's unserialize()
	// does (PHP 8.3 warns about them). They are ignored.
	AllowTrailingData bool
	// ReuseMemory makes the Decoder keep the memory that holds its results
	// (the arrays and their entries, up to maxReuse bytes) and fill it again
	// on its next call, as PHP's allocator reuses the memory of the session
	// it destroyed: decoding in a loop then allocates next to nothing. A
	// result is valid only until the Decoder's next call; Clone what must
	// outlive it. Strings in results still share memory with the input, never
	// with the Decoder.
	ReuseMemory bool

	st *decodeState // kept between calls when ReuseMemory is set
}

// maxReuse bounds the memory a Decoder with ReuseMemory keeps between calls,
// so that one huge session does not pin its size in a long-lived Decoder.
const maxReuse = 32 << 20

// Decode decodes one PHP-serialized value, such as the output of serialize().
func Decode(data []byte) (Value, error) {
	var d Decoder
	return d.DecodeString(string(data))
}

// DecodeString is Decode for a string; it does not copy s.
func DecodeString(s string) (Value, error) {
	var d Decoder
	return d.DecodeString(s)
}

// Decode decodes one PHP-serialized value.
func (dec *Decoder) Decode(data []byte) (Value, error) {
	return dec.DecodeString(string(data))
}

// DecodeString decodes one PHP-serialized value held in s. Strings in the
// result share memory with s.
func (dec *Decoder) DecodeString(s string) (Value, error) {
	d := dec.state(s)
	var v Value
	if err := d.value(&v); err != nil {
		return Value{}, err
	}
	if d.pos != len(s) && !dec.AllowTrailingData {
		return Value{}, d.errorf(d.pos, "unexpected data after the value (%d bytes)", len(s)-d.pos)
	}
	return v, nil
}

func (dec *Decoder) state(s string) *decodeState {
	max := dec.MaxDepth
	if max <= 0 {
		max = DefaultMaxDepth
	}
	if max > maxDepthCap {
		max = maxDepthCap
	}
	if !dec.ReuseMemory {
		return &decodeState{s: s, maxDepth: max}
	}
	d := dec.st
	if d == nil {
		d = &decodeState{reuse: true}
		dec.st = d
	}
	d.reset(s, max)
	return d
}

// drop forgets the input of the last call, so that a kept decodeState does
// not keep it alive. The arena chunks still point into it until they are
// used again; ValidateSession's callers' buffers are then retained at most
// until the pool is emptied.
func (d *decodeState) drop() {
	if d != nil {
		d.s = ""
	}
}

// reset readies a kept decodeState for another call: chunks already handed
// out are used again, cleared, in the same order.
func (d *decodeState) reset(s string, maxDepth int) {
	*d = decodeState{
		s: s, maxDepth: maxDepth, reuse: true,
		objects:     d.objects[:0],
		arrayChunks: d.arrayChunks, entryChunks: d.entryChunks,
		kept: d.kept, sess: d.sess,
	}
}

// decodeState is one decode call: PHP's var_hash. Slot numbers run across
// every value decoded with the same state, as they run across all variables
// of one session.
type decodeState struct {
	s        string
	pos      int
	depth    int
	maxDepth int
	sessKey  string   // current session variable, for errors
	slots    int      // values pushed so far (every value but R:)
	objects  []uint64 // bit set: slot i+1 holds an object
	unsure   bool     // a C: payload may have used slots we did not see
	lenient  bool     // iv() takes no digits as 0, as PHP's parse_iv2 does
	arrays   []Array  // arena: Array structs handed out by newArray
	entries  []Entry  // arena: entry space handed out by entrySlice

	// With Decoder.ReuseMemory: the arena chunks of earlier calls, the
	// number of them handed out in this call, the bytes they hold, and the
	// session array.
	reuse         bool
	arrayChunks   [][]Array
	entryChunks   [][]Entry
	nArray, nEnty int
	kept          int
	sess          *Array
}

// newArray returns an Array from the arena: chunks sized by the input left
// (about one array per 140 bytes in PHP's own sessions), 4 to 256 at a time.
func (d *decodeState) newArray() *Array {
	if len(d.arrays) == 0 {
		want := min(max((len(d.s)-d.pos)/140, 4), 256)
		if !d.reuse {
			d.arrays = make([]Array, want)
		} else if d.nArray < len(d.arrayChunks) {
			d.arrays = d.arrayChunks[d.nArray]
			clear(d.arrays)
			d.nArray++
		} else {
			d.arrays = make([]Array, want)
			if size := want * int(unsafe.Sizeof(Array{})); d.kept+size <= maxReuse {
				d.kept += size
				d.arrayChunks = append(d.arrayChunks, d.arrays)
				d.nArray++
			}
		}
	}
	a := &d.arrays[0]
	d.arrays = d.arrays[1:]
	return a
}

// entrySlice returns an empty slice with room for n entries, cut from a
// shared chunk so that a document's arrays cost a few allocations in all.
// Its capacity is exactly n: an append beyond it moves to new memory.
func (d *decodeState) entrySlice(n int) []Entry {
	if n > len(d.entries) {
		// PHP's own sessions take about 28 bytes per element: size the chunk
		// for what is left of the input, so that little of it goes unused.
		want := max(n, 32, (len(d.s)-d.pos)/28)
		switch {
		case !d.reuse:
			d.entries = make([]Entry, want)
		case d.nEnty < len(d.entryChunks) && len(d.entryChunks[d.nEnty]) >= n:
			d.entries = d.entryChunks[d.nEnty]
			clear(d.entries)
			d.nEnty++
		default:
			d.entries = make([]Entry, want)
			size := want * int(unsafe.Sizeof(Entry{}))
			if d.nEnty < len(d.entryChunks) {
				// too small for this array: replace it
				old := len(d.entryChunks[d.nEnty]) * int(unsafe.Sizeof(Entry{}))
				if d.kept-old+size <= maxReuse {
					d.kept += size - old
					d.entryChunks[d.nEnty] = d.entries
					d.nEnty++
				}
			} else if d.kept+size <= maxReuse {
				d.kept += size
				d.entryChunks = append(d.entryChunks, d.entries)
				d.nEnty++
			}
		}
	}
	e := d.entries[:0:n]
	d.entries = d.entries[n:]
	return e
}

func (d *decodeState) errorf(off int, format string, args ...any) error {
	return &SyntaxError{Offset: int64(off), Key: d.sessKey, Msg: fmt.Sprintf(format, args...)}
}

func (d *decodeState) push(object bool) {
	d.slots++
	if object {
		w := (d.slots - 1) / 64
		for len(d.objects) <= w {
			d.objects = append(d.objects, 0)
		}
		d.objects[w] |= 1 << uint((d.slots-1)%64)
	}
}

func (d *decodeState) isObject(slot int) bool {
	w := (slot - 1) / 64
	return w < len(d.objects) && d.objects[w]&(1<<uint((slot-1)%64)) != 0
}

// describe names the byte at p for error messages.
func (d *decodeState) describe(p int) string {
	if p >= len(d.s) {
		return "end of data"
	}
	c := d.s[p]
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", c)
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (d *decodeState) expect(p int, c byte, what string) error {
	if p < len(d.s) && d.s[p] == c {
		return nil
	}
	return d.errorf(p, "expected %q %s, found %s", c, what, d.describe(p))
}

// uiv reads [0-9]+ at p, as PHP's uiv token, and returns the value and the
// offset after it. Values too large for the input are reported by callers.
func (d *decodeState) uiv(p int, what string) (int, int, error) {
	s := d.s
	start := p
	n := 0
	for p < len(s) && s[p] >= '0' && s[p] <= '9' {
		if n > (math.MaxInt32*64-9)/10 {
			return 0, p, d.errorf(start, "%s is too large", what)
		}
		n = n*10 + int(s[p]-'0')
		p++
	}
	if p == start {
		return 0, p, d.errorf(p, "expected digits of %s, found %s", what, d.describe(p))
	}
	return n, p, nil
}

// iv reads [+-]?[0-9]+ at p, clamping out-of-range values to the int64
// limits as PHP's parse_iv2 does.
func (d *decodeState) iv(p int, what string) (int64, int, error) {
	s := d.s
	start := p
	neg := false
	if p < len(s) && (s[p] == '+' || s[p] == '-') {
		neg = s[p] == '-'
		p++
	}
	digits := p
	var u uint64
	over := false
	for p < len(s) && s[p] >= '0' && s[p] <= '9' {
		if u > (math.MaxUint64-9)/10 {
			over = true
		} else {
			u = u*10 + uint64(s[p]-'0')
		}
		p++
	}
	if p == digits && !d.lenient {
		return 0, p, d.errorf(start, "expected digits of %s, found %s", what, d.describe(p))
	}
	switch {
	case neg && (over || u > 1<<63):
		return math.MinInt64, p, nil
	case neg:
		return -int64(u), p, nil
	case over || u > math.MaxInt64:
		return math.MaxInt64, p, nil
	}
	return int64(u), p, nil
}

// float reads the text of a d: value up to its ';' and checks it against
// PHP's grammar: iv, nv, nvexp, INF, -INF or NAN.
func (d *decodeState) float(p int) (float64, string, int, error) {
	s := d.s
	end := strings.IndexByte(s[p:], ';')
	if end < 0 {
		return 0, "", p, d.errorf(len(s), "expected ';' after float, found end of data")
	}
	text := s[p : p+end]
	switch text {
	case "INF":
		return math.Inf(1), text, p + end + 1, nil
	case "-INF":
		return math.Inf(-1), text, p + end + 1, nil
	case "NAN":
		return math.NaN(), text, p + end + 1, nil
	}
	if !validFloatText(text) {
		return 0, "", p, d.errorf(p, "invalid float %q", truncate(text))
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil && !isRangeErr(err) {
		return 0, "", p, d.errorf(p, "invalid float %q", truncate(text))
	}
	return f, text, p + end + 1, nil
}

// pow10 holds the powers of ten that a float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// shortFloat is the fast path for the floats PHP writes by default: it reads
// -?D+(.D+)?; at p, where phpFloatText and shortFloatText would both hold
// (so the text need not be kept), with at most 15 significant digits, and
// returns the value and the offset after ';'. Such a decimal is an integer
// below 2^53 over an exact power of ten, so one division rounds it as
// strconv.ParseFloat does. Anything else (ok false) takes the full path.
func shortFloat(s string, p int) (f float64, q int, ok bool) {
	neg := p < len(s) && s[p] == '-'
	if neg {
		p++
	}
	var mant uint64
	sig, frac := 0, 0
	i := p
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		mant = mant*10 + uint64(s[i]-'0')
		if mant != 0 {
			sig++
		}
		i++
	}
	intDigits := i - p
	if intDigits == 0 || (intDigits > 1 && s[p] == '0') || sig > 15 || i >= len(s) {
		return 0, 0, false
	}
	if s[i] == '.' {
		i++
		fs := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			mant = mant*10 + uint64(s[i]-'0')
			if mant != 0 {
				sig++
			}
			i++
		}
		frac = i - fs
		// no digits, a trailing zero, or PHP's exponent range (0.0000x)
		if frac == 0 || s[i-1] == '0' || sig > 15 || (mant != 0 && frac-sig >= 3 && s[p] == '0') || i >= len(s) {
			return 0, 0, false
		}
	}
	if s[i] != ';' || frac >= len(pow10) {
		return 0, 0, false
	}
	f = float64(mant) / pow10[frac]
	if neg {
		f = -f
	}
	return f, i + 1, true
}

// phpFloatText reports whether t is laid out as PHP's serialize() lays out
// floats at some serialize_precision: -?D+(.D+)? or -?D.D+E[+-]D+. Other
// forms PHP accepts (".5", "1e3", "+1.5") are rewritten, as PHP rewrites them.
func phpFloatText(t string) bool {
	i := 0
	if i < len(t) && t[i] == '-' {
		i++
	}
	start := i
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	intDigits := i - start
	if intDigits == 0 {
		return false
	}
	if i == len(t) {
		return true
	}
	if t[i] != '.' {
		return false
	}
	i++
	fs := i
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == fs {
		return false
	}
	if i == len(t) {
		return true
	}
	if t[i] != 'E' || intDigits != 1 || i+2 >= len(t) || (t[i+1] != '+' && t[i+1] != '-') {
		return false
	}
	for i += 2; i < len(t); i++ {
		if t[i] < '0' || t[i] > '9' {
			return false
		}
	}
	return true
}

// shortFloatText reports whether t, laid out as PHP lays out floats, is
// surely what PHP 8 writes by default for its value, so that it need not be
// kept: plain digits (no exponent) with at most 15 significant digits (any
// such decimal is the shortest text of its double) and no trailing zero
// after the point. Anything else is kept as written.
func shortFloatText(t string) bool {
	sig, started, dot := 0, false, false
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c == '-':
		case c == '.':
			dot = true
		case c >= '1' && c <= '9':
			started = true
			sig++
		case c == '0':
			if started {
				sig++
			}
		default:
			return false // an exponent: leave it to the kept text
		}
	}
	if dot && t[len(t)-1] == '0' {
		return false
	}
	if len(t) > 1 && (t[0] == '0' && t[1] != '.' || t[0] == '-' && len(t) > 2 && t[1] == '0' && t[2] != '.') {
		return false // a leading zero
	}
	// PHP switches to the exponent form below 1e-4 and above 1e17: only
	// plain numbers in between are surely canonical.
	intDigits := strings.IndexByte(strings.TrimPrefix(t, "-"), '.')
	if intDigits < 0 {
		intDigits = len(strings.TrimPrefix(t, "-"))
	}
	if intDigits > 17 || (strings.HasPrefix(strings.TrimPrefix(t, "-"), "0.000") && !dotOnlyZeros(t)) {
		return false
	}
	return sig <= 15
}

func dotOnlyZeros(t string) bool {
	return strings.Trim(strings.TrimPrefix(t, "-"), "0.") == ""
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// validFloatText reports whether t matches (iv | nv | nvexp) of PHP's
// unserializer: [+-]? digits with at most one '.', at least one digit, and an
// optional [eE][+-]?[0-9]+ exponent.
func validFloatText(t string) bool {
	i := 0
	if i < len(t) && (t[i] == '+' || t[i] == '-') {
		i++
	}
	digits, dot := 0, false
	for ; i < len(t); i++ {
		c := t[i]
		if c >= '0' && c <= '9' {
			digits++
		} else if c == '.' && !dot {
			dot = true
		} else {
			break
		}
	}
	if digits == 0 {
		return false
	}
	if i == len(t) {
		return true
	}
	if t[i] != 'e' && t[i] != 'E' {
		return false
	}
	i++
	if i < len(t) && (t[i] == '+' || t[i] == '-') {
		i++
	}
	if i == len(t) {
		return false
	}
	for ; i < len(t); i++ {
		if t[i] < '0' || t[i] > '9' {
			return false
		}
	}
	return true
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// minElem is the fewest bytes one array element can take: i:0;N;
const minElem = 6

// value decodes the value at d.pos into v, which must be the zero Value:
// fields are stored one by one, so that a fresh arena slot is not cleared
// again (clearing memory with pointers costs write barriers while the GC runs).
func (d *decodeState) value(v *Value) error {
	s := d.s
	p := d.pos
	if p >= len(s) {
		return d.errorf(p, "expected a value, found end of data")
	}
	t := s[p]
	if p+1 >= len(s) {
		return d.errorf(p+1, "expected ':' or ';' after %q, found end of data", t)
	}
	if t == 'N' {
		if s[p+1] != ';' {
			return d.expect(p+1, ';', "after N")
		}
		v.kind = KindNull // v is zero: see value
		d.pos = p + 2
		d.push(false)
		return nil
	}
	if s[p+1] != ':' {
		if !isTypeByte(t) {
			return d.errorf(p, "expected a value (one of N b i d s S a O C E r R), found %s", d.describe(p))
		}
		return d.expect(p+1, ':', fmt.Sprintf("after %q", t))
	}
	p += 2
	switch t {
	case 'b':
		if p+1 >= len(s) || (s[p] != '0' && s[p] != '1') || s[p+1] != ';' {
			return d.errorf(p, "expected 0; or 1; after b:, found %s", d.describe(p))
		}
		v.kind = KindBool
		if s[p] == '1' {
			v.num = 1
		}
		d.pos = p + 2
		d.push(false)
		return nil
	case 'i':
		n, q, err := d.iv(p, "int")
		if err != nil {
			return err
		}
		if err := d.expect(q, ';', "after int"); err != nil {
			return err
		}
		v.kind, v.num = KindInt, uint64(n)
		d.pos = q + 1
		d.push(false)
		return nil
	case 'd':
		if f, q, ok := shortFloat(s, p); ok {
			v.kind, v.num = KindFloat, math.Float64bits(f)
			d.pos = q
			d.push(false)
			return nil
		}
		f, text, q, err := d.float(p)
		if err != nil {
			return err
		}
		v.kind, v.num = KindFloat, math.Float64bits(f)
		if phpFloatText(text) && !shortFloatText(text) {
			v.str = text // keep e.g. serialize_precision=17 digits byte-exact
		}
		d.pos = q
		d.push(false)
		return nil
	case 's', 'S':
		str, q, err := d.str(p, t == 'S')
		if err != nil {
			return err
		}
		v.kind, v.str = KindString, str
		d.pos = q
		d.push(false)
		return nil
	case 'a':
		return d.array(p, v)
	case 'O':
		return d.object(p, v)
	case 'C':
		return d.serializable(p, v)
	case 'E':
		return d.enum(p, v)
	case 'r', 'R':
		n, q, err := d.uiv(p, "reference")
		if err != nil {
			return err
		}
		if err := d.expect(q, ';', "after reference"); err != nil {
			return err
		}
		if !d.unsure {
			if n < 1 || n > d.slots {
				return d.errorf(p, "reference %c:%d points to no value (%d values so far)", t, n, d.slots)
			}
			if t == 'r' && !d.isObject(n) {
				return d.errorf(p, "object reference r:%d points to a value that is not an object", n)
			}
		} else if n < 1 {
			return d.errorf(p, "reference %c:%d points to no value", t, n)
		}
		d.pos = q + 1
		if t == 'r' {
			v.kind, v.num = KindObjectRef, uint64(n)
			d.push(true)
		} else {
			v.kind, v.num = KindRef, uint64(n)
		}
		return nil
	}
	return d.errorf(p-2, "expected a value (one of N b i d s S a O C E r R), found %s", d.describe(p-2))
}

func isTypeByte(c byte) bool {
	return strings.IndexByte("NbidsSaOCErR", c) >= 0
}

// str reads len:"bytes"; starting after "s:".
func (d *decodeState) str(p int, escaped bool) (string, int, error) {
	s := d.s
	if !escaped {
		// Fast path for what PHP writes: digits, :", the bytes, ";
		q, n := p, 0
		for q < len(s) && q-p < 10 && s[q] >= '0' && s[q] <= '9' {
			n = n*10 + int(s[q]-'0')
			q++
		}
		if q > p && q+1 < len(s) && s[q] == ':' && s[q+1] == '"' {
			q += 2
			if n <= len(s)-q-2 && s[q+n] == '"' && s[q+n+1] == ';' {
				return s[q : q+n], q + n + 2, nil
			}
		}
	}
	n, q, err := d.uiv(p, "string length")
	if err != nil {
		return "", q, err
	}
	if err := d.expect(q, ':', "after string length"); err != nil {
		return "", q, err
	}
	if err := d.expect(q+1, '"', "before string"); err != nil {
		return "", q, err
	}
	q += 2
	if escaped {
		return d.escapedStr(q, n)
	}
	if n > len(s)-q-2 {
		return "", q, d.errorf(p, "string length %d is longer than the %d bytes left", n, max(len(s)-q-2, 0))
	}
	str := s[q : q+n]
	q += n
	if s[q] != '"' || s[q+1] != ';' {
		return "", q, d.errorf(q, "expected '\";' after %d string bytes, found %s", n, d.describe(q))
	}
	return str, q + 2, nil
}

// escapedStr reads the body of a legacy S: string: n decoded bytes where
// '\' is followed by two hex digits.
func (d *decodeState) escapedStr(q, n int) (string, int, error) {
	s := d.s
	if n > len(s)-q {
		return "", q, d.errorf(q, "string length %d is longer than the %d bytes left", n, len(s)-q)
	}
	var b strings.Builder
	b.Grow(n)
	for i := 0; i < n; i++ {
		if q >= len(s) {
			return "", q, d.errorf(q, "escaped string ends early")
		}
		if s[q] != '\\' {
			b.WriteByte(s[q])
			q++
			continue
		}
		if q+2 >= len(s) {
			return "", q, d.errorf(q, "escaped string ends early")
		}
		h, ok1 := unhex(s[q+1])
		l, ok2 := unhex(s[q+2])
		if !ok1 || !ok2 {
			return "", q, d.errorf(q, "invalid escape in S: string")
		}
		b.WriteByte(h<<4 | l)
		q += 3
	}
	if q+1 >= len(s) || s[q] != '"' || s[q+1] != ';' {
		return "", q, d.errorf(q, "expected '\";' after escaped string, found %s", d.describe(q))
	}
	return b.String(), q + 2, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// count reads a declared element count and its ":{" and checks it against
// the bytes left, before anything is allocated.
func (d *decodeState) count(p int, signed bool, what string) (int, int, error) {
	var n int
	var q int
	var err error
	if signed {
		// O: property counts are read with PHP's parse_iv2: "+1", "" and
		// "-" (as 0) are accepted.
		var n64 int64
		d.lenient = true
		n64, q, err = d.iv(p, what)
		d.lenient = false
		if err == nil && n64 < 0 {
			return 0, q, d.errorf(p, "negative %s %d", what, n64)
		}
		if n64 > math.MaxInt32 {
			n64 = math.MaxInt32
		}
		n = int(n64)
	} else {
		n, q, err = d.uiv(p, what)
	}
	if err != nil {
		return 0, q, err
	}
	if q+1 >= len(d.s) || d.s[q] != ':' || d.s[q+1] != '{' {
		if err := d.expect(q, ':', "after "+what); err != nil {
			return 0, q, err
		}
		return 0, q, d.expect(q+1, '{', "after "+what)
	}
	q += 2
	if left := len(d.s) - q; n > left/minElem {
		return 0, q, d.errorf(p, "%s %d cannot fit in the %d bytes left", what, n, left)
	}
	return n, q, nil
}

func (d *decodeState) enter(p int) error {
	if d.depth >= d.maxDepth {
		return d.errorf(p, "nesting deeper than the maximum depth of %d", d.maxDepth)
	}
	d.depth++
	return nil
}

func (d *decodeState) array(p int, v *Value) error {
	n, q, err := d.count(p, false, "array count")
	if err != nil {
		return err
	}
	d.push(false)
	a := d.newArray()
	v.kind, v.arr = KindArray, a
	if n == 0 {
		if err := d.expect(q, '}', "to close an empty array"); err != nil {
			return err
		}
		d.pos = q + 1
		return nil
	}
	if err := d.enter(p - 2); err != nil {
		return err
	}
	d.pos = q
	if err := d.elements(a, n, true); err != nil {
		return err
	}
	d.depth--
	return nil
}

// elements reads n key/value pairs and the closing '}'. Array keys that are
// canonical decimal strings become int keys, as in PHP.
func (d *decodeState) elements(a *Array, n int, isArray bool) error {
	a.entries = d.entrySlice(n)
	seq := true     // keys so far are 0..i-1, so an int key i cannot be a duplicate
	var seen uint64 // one bit per key seen (keyBit): a clear bit means a new key
	hits := 0       // keys whose bit was already set
	for i := 0; i < n; i++ {
		k, err := d.key(isArray)
		if err != nil {
			return err
		}
		bit := keyBit(k)
		if !seq || k.isStr || k.num != int64(i) {
			seq = false
			if seen&bit != 0 {
				if j := a.findRepeat(k, &hits); j >= 0 {
					// PHP keeps the first position and the last value
					var val Value
					if err := d.value(&val); err != nil {
						return err
					}
					a.entries[j].Value = val
					continue
				}
			}
			if a.index != nil {
				a.index[k] = len(a.entries)
			}
		}
		seen |= bit
		// decode straight into the entry: no copy of the value
		a.entries = a.entries[:len(a.entries)+1]
		e := &a.entries[len(a.entries)-1]
		// field by field: an int key stores no pointer (no write barrier)
		e.Key.num, e.Key.isStr = k.num, k.isStr
		if k.isStr {
			e.Key.str = k.str
		}
		if err := d.value(&e.Value); err != nil {
			return err
		}
	}
	a.index = nil
	if d.pos >= len(d.s) {
		return d.errorf(d.pos, "expected '}' after %d elements, found end of data", n)
	}
	if d.s[d.pos] != '}' {
		return d.errorf(d.pos, "expected '}' after %d elements, found %s (more elements than declared?)", n, d.describe(d.pos))
	}
	d.pos++
	return nil
}

// findRepeat looks for k, a key whose keyBit was seen before, in an array
// being decoded. A few look-ups scan the entries; only an array that keeps
// hitting the filter pays for building an index. hits counts the look-ups.
func (a *Array) findRepeat(k Key, hits *int) int {
	*hits++
	if a.index == nil && *hits <= linearHits {
		return a.findLinear(k)
	}
	return a.find(k)
}

// linearHits is how many possible duplicates (keyBit hits) one array's
// decode checks by scanning its entries before it builds an index.
const linearHits = 16

// keyBit maps a key to one of 64 bits, so that most keys are known to be
// new without comparing them with the earlier ones.
func keyBit(k Key) uint64 {
	var h uint64
	if k.isStr {
		if n := len(k.str); n > 0 {
			// length, first byte and last two bytes: keys like "item_12"
			// and "item_13" differ only at the end
			h = uint64(n)*0x9e3779b97f4a7c15 ^ uint64(k.str[0])*0xbf58476d1ce4e5b9 ^
				(uint64(k.str[n-1])|uint64(k.str[max(n-2, 0)])<<8)*0x94d049bb133111eb
		}
	} else {
		h = uint64(k.num) * 0x9e3779b97f4a7c15
	}
	return 1 << (h >> 58)
}

// key reads an array key or property name: i: or s: only.
func (d *decodeState) key(isArray bool) (Key, error) {
	s := d.s
	p := d.pos
	if p+1 >= len(s) {
		return Key{}, d.errorf(p, "expected a key, found end of data")
	}
	if s[p+1] == ':' {
		switch s[p] {
		case 'i':
			n, q, err := d.iv(p+2, "int key")
			if err != nil {
				return Key{}, err
			}
			if err := d.expect(q, ';', "after int key"); err != nil {
				return Key{}, err
			}
			d.pos = q + 1
			return IntKey(n), nil
		case 's', 'S':
			str, q, err := d.str(p+2, s[p] == 'S')
			if err != nil {
				return Key{}, err
			}
			d.pos = q
			if isArray {
				if i, ok := canonicalInt(str); ok {
					return IntKey(i), nil
				}
			}
			return StringKey(str), nil
		}
	}
	return Key{}, d.errorf(p, "expected an int or string key (i: or s:), found %s", d.describe(p))
}

// unserializable lists PHP's built-in classes and interfaces that
// unserialize() refuses to create (lower case): an O: of one of them makes PHP
// fail, so phpsess neither reads nor writes one.
var unserializable = map[string]bool{
	"closure": true, "generator": true, "fiber": true, "weakreference": true, "weakmap": true,
	"traversable": true, "iterator": true, "iteratoraggregate": true, "arrayaccess": true,
	"countable": true, "serializable": true, "stringable": true, "jsonserializable": true,
	"unitenum": true, "backedenum": true, "throwable": true, "datetimeinterface": true,
	"reflectionclass": true, "reflectionmethod": true, "reflectionfunction": true,
	"reflectionproperty": true, "reflectionobject": true, "simplexmlelement": true,
	"splfileinfo": true, "splfileobject": true, "spltempfileobject": true,
	"directoryiterator": true, "filesystemiterator": true, "recursivedirectoryiterator": true,
	"globiterator": true, "pdo": true, "pdostatement": true, "curlhandle": true,
}

func isUnserializable(name string) bool {
	var buf [32]byte
	if len(name) > len(buf) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return unserializable[string(buf[:len(name)])]
}

// validClassName reports whether PHP would take name as a class name when
// unserializing: not empty, and only [A-Za-z0-9_\x80-\xff\\] without a
// leading backslash, and not a built-in class PHP refuses to unserialize.
func validClassName(name string) bool {
	if name == "" || name[0] == '\\' || isUnserializable(name) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '\\' || c >= 0x80) {
			return false
		}
	}
	return true
}

// className reads len:"Name": starting after "O:" or "C:".
func (d *decodeState) className(p int) (string, int, error) {
	s := d.s
	n, q, err := d.uiv(p, "class name length")
	if err != nil {
		return "", q, err
	}
	if err := d.expect(q, ':', "after class name length"); err != nil {
		return "", q, err
	}
	if err := d.expect(q+1, '"', "before class name"); err != nil {
		return "", q, err
	}
	q += 2
	if n > len(s)-q-2 {
		return "", q, d.errorf(p, "class name length %d is longer than the %d bytes left", n, max(len(s)-q-2, 0))
	}
	name := s[q : q+n]
	if !validClassName(name) {
		return "", q, d.errorf(q, "invalid class name %q", truncate(name))
	}
	q += n
	if s[q] != '"' || s[q+1] != ':' {
		return "", q, d.errorf(q, "expected '\":' after class name, found %s", d.describe(q))
	}
	return name, q + 2, nil
}

func (d *decodeState) object(p int, v *Value) error {
	class, q, err := d.className(p)
	if err != nil {
		return err
	}
	n, q, err := d.count(q, true, "property count")
	if err != nil {
		return err
	}
	d.push(true)
	a := d.newArray()
	v.kind, v.str, v.arr = KindObject, class, a
	if err := d.enter(p - 2); err != nil {
		return err
	}
	d.pos = q
	if err := d.elements(a, n, false); err != nil {
		return err
	}
	d.depth--
	return nil
}

func (d *decodeState) serializable(p int, v *Value) error {
	s := d.s
	class, q, err := d.className(p)
	if err != nil {
		return err
	}
	d.lenient = true // parse_iv2, as for O: counts
	n64, q, err := d.iv(q, "payload length")
	d.lenient = false
	if err != nil {
		return err
	}
	if err := d.expect(q, ':', "after payload length"); err != nil {
		return err
	}
	if err := d.expect(q+1, '{', "before payload"); err != nil {
		return err
	}
	q += 2
	if n64 < 0 || n64 > int64(len(s)-q-1) {
		return d.errorf(p, "payload length %d does not fit in the %d bytes left", n64, max(len(s)-q-1, 0))
	}
	n := int(n64)
	payload := s[q : q+n]
	q += n
	if s[q] != '}' {
		return d.errorf(q, "expected '}' after %d payload bytes, found %s", n, d.describe(q))
	}
	v.kind, v.str = KindSerializable, class+"\x00"+payload
	d.push(true)
	if n > 0 {
		d.unsure = true // the class's unserialize() may decode nested values in our slots
	}
	d.pos = q + 1
	return nil
}

func (d *decodeState) enum(p int, v *Value) error {
	s := d.s
	n, q, err := d.uiv(p, "enum name length")
	if err != nil {
		return err
	}
	if err := d.expect(q, ':', "after enum name length"); err != nil {
		return err
	}
	if err := d.expect(q+1, '"', "before enum name"); err != nil {
		return err
	}
	q += 2
	if n > len(s)-q-2 {
		return d.errorf(p, "enum name length %d is longer than the %d bytes left", n, max(len(s)-q-2, 0))
	}
	name := s[q : q+n]
	enum, kase, ok := strings.Cut(name, ":")
	if !ok || !validClassName(enum) || kase == "" {
		return d.errorf(q, "invalid enum case %q: expected \"Enum:Case\"", truncate(name))
	}
	q += n
	if s[q] != '"' || s[q+1] != ';' {
		return d.errorf(q, "expected '\";' after enum case, found %s", d.describe(q))
	}
	v.kind, v.str = KindEnum, name
	d.push(true)
	d.pos = q + 2
	return nil
}
