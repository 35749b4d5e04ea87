package phpserialize_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phpsess/phpsess/internal/phporacle"
	"github.com/phpsess/phpsess/phpserialize"
)

// prelude declares the enums and classes the generated values use, so that
// PHP can load them (an unknown enum is an error in PHP).
const prelude = `
enum Suit: string { case Hearts = 'H'; case Spades = 'S'; }
enum Status { case Active; case Banned; }
final class LegacyToken implements Serializable {
    public function __construct(public string $value = '') {}
    public function serialize(): string { return $this->value; }
    public function unserialize(string $data): void { $this->value = $data; }
}
`

// gen makes random PHP values of the kinds PHP can read back exactly:
// every scalar, nested arrays with int and string keys, objects of
// unknown classes with visibility-mangled names, Serializable, enums, and
// r:/R: references to earlier slots.
type gen struct {
	r       *rand.Rand
	slots   int
	objs    []int          // slots holding objects
	scalars []int          // slots holding strings and ints: R: targets, as PHP writes them
	enums   map[string]int // slot of each enum case's first appearance: PHP writes r: after
}

func (g *gen) reset(slots int) {
	g.slots, g.objs, g.scalars, g.enums = slots, nil, nil, map[string]int{}
}

func (g *gen) str() string {
	const pool = "ab|;:\"{}\x00\xff\xc3\xa9é 🙂09-"
	n := g.r.IntN(12)
	var b strings.Builder
	for range n {
		if g.r.IntN(4) == 0 {
			b.WriteString(pool[g.r.IntN(len(pool)):][:1])
		} else {
			b.WriteByte(byte('a' + g.r.IntN(26)))
		}
	}
	return b.String()
}

func (g *gen) key() phpserialize.Key {
	switch g.r.IntN(4) {
	case 0:
		return phpserialize.IntKey(g.r.Int64N(100) - 10)
	case 1:
		return phpserialize.ArrayKey(fmt.Sprint(g.r.IntN(20)))
	}
	return phpserialize.ArrayKey(g.str())
}

var floats = []float64{0, math.Copysign(0, -1), 0.1, 1, -1.5, 1e15, 1e16, 1e17, 1e25, 1e-5, 0.0001, 1.0 / 3, math.MaxFloat64, 5e-324, math.Inf(1), math.Inf(-1), math.NaN(), 123456789.125}

func (g *gen) value(depth int) phpserialize.Value {
	n := 12
	if depth > 4 {
		n = 6
	}
	switch g.r.IntN(n) {
	case 0:
		g.slots++
		return phpserialize.Null()
	case 1:
		g.slots++
		return phpserialize.Bool(g.r.IntN(2) == 1)
	case 2:
		g.slots++
		g.scalars = append(g.scalars, g.slots)
		return phpserialize.Int(g.r.Int64() - math.MaxInt64/2*int64(g.r.IntN(3)))
	case 3:
		g.slots++
		if g.r.IntN(2) == 0 {
			return phpserialize.Float(floats[g.r.IntN(len(floats))])
		}
		return phpserialize.Float(g.r.NormFloat64() * math.Pow(10, float64(g.r.IntN(40)-20)))
	case 4, 5:
		g.slots++
		g.scalars = append(g.scalars, g.slots)
		return phpserialize.String(g.str())
	case 6:
		if len(g.scalars) > 0 && g.r.IntN(2) == 0 {
			return phpserialize.Ref(g.scalars[g.r.IntN(len(g.scalars))]) // R: takes no slot
		}
		if len(g.objs) > 0 {
			g.slots++
			return phpserialize.ObjectRef(g.objs[g.r.IntN(len(g.objs))])
		}
		g.slots++
		return phpserialize.Int(7)
	case 7:
		g.slots++
		enum, kase := "Suit", []string{"Hearts", "Spades"}[g.r.IntN(2)]
		if g.r.IntN(2) == 0 {
			enum, kase = "Status", "Banned"
		}
		if first, seen := g.enums[enum+kase]; seen {
			return phpserialize.ObjectRef(first) // an enum case is one object
		}
		g.enums[enum+kase] = g.slots
		g.objs = append(g.objs, g.slots)
		return phpserialize.Enum(enum, kase)
	case 8, 9:
		g.slots++
		a := &phpserialize.Array{}
		for range g.r.IntN(5) {
			// a repeated key would replace a value whose slots were counted
			if k := g.key(); !has(a, k) {
				a.Set(k, g.value(depth+1))
			}
		}
		return phpserialize.ArrayValue(a)
	case 10:
		g.slots++
		g.objs = append(g.objs, g.slots)
		props := &phpserialize.Array{}
		cls := []string{"App\\Models\\User", "stdClass", "Foo_Bar"}[g.r.IntN(3)]
		for range g.r.IntN(4) {
			vis := phpserialize.Visibility(g.r.IntN(3))
			if cls == "stdClass" {
				vis = phpserialize.Public
			}
			if k := phpserialize.StringKey(phpserialize.PropertyName("p"+g.str(), vis, cls)); !has(props, k) {
				props.Set(k, g.value(depth+1))
			}
		}
		return phpserialize.Object(cls, props)
	default:
		g.slots++
		g.objs = append(g.objs, g.slots)
		return phpserialize.Serializable("LegacyToken", "")
	}
}

// seed returns a random seed, logged so that a failure can be replayed
// with PHPSESS_SEED=N.
func seed(t *testing.T) uint64 {
	n := uint64(time.Now().UnixNano())
	if v := os.Getenv("PHPSESS_SEED"); v != "" {
		n, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("PHPSESS_SEED=%d", n)
	return n
}

func has(a *phpserialize.Array, k phpserialize.Key) bool {
	_, ok := a.Get(k)
	return ok
}

func oracle(t *testing.T) *phporacle.Oracle {
	o := phporacle.Require(t)
	o.Prelude = prelude
	return o
}

// TestPHPReadsWhatWeWrite: PHP 8.2 unserializes every value we encode and
// serializes it back to exactly our bytes.
func TestPHPReadsWhatWeWrite(t *testing.T) {
	o := oracle(t)
	g := &gen{r: rand.New(rand.NewPCG(1, seed(t)))}
	var inputs [][]byte
	for len(inputs) < 3000 {
		g.reset(0)
		b, err := phpserialize.Encode(g.value(0))
		if err != nil {
			continue // a generated reference PHP could not resolve: refused, as it must be
		}
		inputs = append(inputs, b)
	}
	res, err := o.Unserialize(context.Background(), inputs)
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for i, r := range res {
		if !r.OK || !bytes.Equal(r.Output, inputs[i]) {
			bad++
			if bad <= 5 {
				t.Errorf("we wrote %q\nPHP: ok=%v re-serialized %q %s", inputs[i], r.OK, r.Output, r.Error)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d encoded values were not read back by PHP as written", bad, len(inputs))
	}
}

// TestPHPReadsOurSessions: the same for whole sessions in each encoding.
func TestPHPReadsOurSessions(t *testing.T) {
	o := oracle(t)
	g := &gen{r: rand.New(rand.NewPCG(2, seed(t)))}
	for _, h := range []phpserialize.Handler{phpserialize.HandlerPHP, phpserialize.HandlerPHPBinary, phpserialize.HandlerPHPSerialize} {
		var inputs [][]byte
		for len(inputs) < 1000 {
			g.reset(0)
			if h == phpserialize.HandlerPHPSerialize {
				g.reset(1)
			}
			sess := &phpserialize.Array{}
			for range 1 + g.r.IntN(4) {
				if k := phpserialize.StringKey("k" + g.str()); !has(sess, k) {
					sess.Set(k, g.value(1))
				}
			}
			b, err := phpserialize.EncodeSession(h, sess)
			if err != nil {
				continue
			}
			inputs = append(inputs, b)
		}
		res, err := o.SessionDecode(context.Background(), string(h), inputs)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if !r.OK || !bytes.Equal(r.Output, inputs[i]) {
				t.Fatalf("%s: we wrote %q\nPHP: ok=%v re-encoded %q %s", h, inputs[i], r.OK, r.Output, r.Error)
			}
		}
	}
}

// TestSameVerdictAsPHP mutates PHP's own payloads at random and checks
// that phpsess accepts exactly what PHP accepts: the differential fuzz
// against the real thing.
func TestSameVerdictAsPHP(t *testing.T) {
	o := oracle(t)
	r := rand.New(rand.NewPCG(3, seed(t)))
	var base [][]byte
	for _, s := range seeds(t) {
		if len(s) < 4000 {
			base = append(base, s)
		}
	}
	const alphabet = "NbidsSaOCErR:;{}\"0123456789+-.eE|\x00\xff"
	mutate := func(b []byte) []byte {
		b = bytes.Clone(b)
		for range 1 + r.IntN(3) {
			if len(b) == 0 {
				return b
			}
			i := r.IntN(len(b))
			switch r.IntN(4) {
			case 0:
				b[i] = alphabet[r.IntN(len(alphabet))]
			case 1:
				b = append(b[:i], b[i+1:]...)
			case 2:
				b = append(b[:i], append([]byte{alphabet[r.IntN(len(alphabet))]}, b[i:]...)...)
			case 3:
				b = b[:i]
			}
		}
		return b
	}
	for _, mode := range []string{"unserialize", "php", "php_binary", "php_serialize"} {
		var inputs [][]byte
		for range 3000 {
			inputs = append(inputs, mutate(base[r.IntN(len(base))]))
		}
		var res []phporacle.Result
		var err error
		if mode == "unserialize" {
			res, err = o.Unserialize(context.Background(), inputs)
		} else {
			res, err = o.SessionDecode(context.Background(), mode, inputs)
		}
		if err != nil {
			t.Fatal(err)
		}
		disagree := 0
		for i, in := range inputs {
			var ours error
			var v phpserialize.Value
			if mode == "unserialize" {
				v, ours = (&phpserialize.Decoder{AllowTrailingData: true}).Decode(in)
			} else {
				_, ours = phpserialize.DecodeSession(phpserialize.Handler(mode), in)
			}
			php := res[i].OK
			if (ours == nil) == php || knownVerdictDifference(mode, in, v, ours, res[i]) {
				continue
			}
			disagree++
			if disagree <= 5 {
				t.Errorf("%s %q: PHP accepted=%v (%s), phpsess err=%v", mode, in, php, res[i].Error, ours)
			}
		}
		if disagree > 0 {
			t.Fatalf("%s: %d of %d mutated inputs got another verdict than PHP's", mode, disagree, len(inputs))
		}
	}
}

// knownVerdictDifference lists the documented cases where phpsess and PHP
// disagree (README.md, "Where phpsess differs from PHP"): phpsess cannot
// know the app's enums and classes, and it refuses a php_serialize session
// that is not an array.
func knownVerdictDifference(mode string, in []byte, v phpserialize.Value, ours error, php phporacle.Result) bool {
	if ours == nil && !php.OK {
		// PHP refused an enum case or class it does not have, or an O: of an enum.
		for _, s := range []string{"E:", "O:4:\"Suit\"", "O:6:\"Status\"", "C:"} {
			if bytes.Contains(in, []byte(s)) {
				return true
			}
		}
		// A class PHP has loaded (DateTime, ArrayObject, ...) refused its data
		// in __unserialize or __wakeup: phpsess runs no class code.
		if strings.Contains(php.Error, "serialization data") {
			return true
		}
	}
	if mode == "php_serialize" && ours != nil && php.OK && strings.Contains(ours.Error(), "not an array") {
		return true
	}
	return false
}
