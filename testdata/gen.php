<?php
/*
 * Regenerates testdata/payloads/: PHP session payloads and serialize() output
 * made by real PHP (8.2), plus a table of malformed inputs with PHP's verdict.
 *
 * Usage (from the repository root):
 *     php testdata/gen.php [OUTDIR]        # OUTDIR defaults to testdata/payloads
 *
 * Output, for every case NAME:
 *     NAME.ser               serialize($data)
 *     NAME.php.sess          session_encode() with session.serialize_handler=php
 *     NAME.php_binary.sess   ... php_binary
 *     NAME.php_serialize.sess ... php_serialize
 *     NAME.json              json_encode($data, ...) only when JSON holds the data natively
 * and MANIFEST.tsv / MANIFEST.json (what PHP did with each case under each
 * encoding), invalid/cases.json and invalid/cases.tsv (malformed inputs and
 * PHP's verdict).
 *
 * Everything is deterministic: no random numbers, no clock, fixed dates.
 * Nothing is printed on stdout (that would count as "headers sent" and stop
 * the session functions); progress goes to stderr.
 */

namespace App\Models {
    // A class the Go side cannot know: its objects are "unknown class" payloads.
    class User
    {
        public int $id;
        public string $email;
        protected array $roles = [];
        private ?string $passwordHash = null;
        public ?User $manager = null;

        public function __construct(int $id, string $email, array $roles, ?string $hash)
        {
            $this->id = $id;
            $this->email = $email;
            $this->roles = $roles;
            $this->passwordHash = $hash;
        }
    }

    class Order
    {
        public function __construct(public int $number, public User $customer, public array $lines)
        {
        }
    }
}

namespace {

    // Classes and enums the payloads use. The invalid-input table was computed
    // with exactly PRELUDE defined (it is stored in invalid/cases.json so the Go
    // oracle can define the same); it is eval'd because a class implementing
    // only Serializable raises a deprecation at compile time, which must reach
    // our error handler rather than stdout.
    const PRELUDE = <<<'PHP'
enum Suit: string
{
    case Hearts = 'H';
    case Spades = 'S';
}

enum Status
{
    case Active;
    case Banned;
}

// Serializable only (no __serialize), so PHP writes the C: format.
final class LegacyToken implements Serializable
{
    public function __construct(public string $value = '')
    {
    }

    public function serialize(): string
    {
        return $this->value;
    }

    public function unserialize(string $data): void
    {
        $this->value = $data;
    }
}
PHP;

    class BaseModel
    {
        public $id = 0;
        protected $createdAt = 1700000000;
        private $x = 'base-private-x';
    }

    class Customer extends BaseModel
    {
        public $name = 'Ada';
        protected $tier = 'gold';
        private $x = 'customer-private-x';
        private $secret = "s3cr3t\0with-nul";
        public int $uninitialized;   // typed and never set: omitted by serialize()
        public ?int $typedNull = null;
    }

    class SleepyUser
    {
        public $id = 7;
        public $name = 'sleepy';
        public $password = 'hunter2';
        protected $cache = ['warm' => true];
        private $conn = 'resource-like';

        public function __sleep(): array
        {
            return ['id', 'name', 'cache'];
        }
    }

    final class Money
    {
        public function __construct(public int $cents = 0, public string $currency = 'EUR')
        {
        }

        public function __serialize(): array
        {
            // int and string keys mixed, as __serialize() allows
            return ['cents' => $this->cents, 'cur' => $this->currency, 0 => 'v1', 7 => [1.5, null]];
        }

        public function __unserialize(array $data): void
        {
            $this->cents = $data['cents'];
            $this->currency = $data['cur'];
        }
    }

    // ---------------------------------------------------------------------
    // Infrastructure

    ini_set('display_errors', '0');
    ini_set('log_errors', '0');
    ini_set('serialize_precision', '-1');
    ini_set('precision', '14');
    ini_set('unserialize_max_depth', '4096');
    error_reporting(E_ALL);

    $GLOBALS['ERRS'] = [];
    set_error_handler(static function (int $no, string $str): bool {
        $GLOBALS['ERRS'][] = $str;
        return true;
    });

    function errs_take(): array
    {
        $e = $GLOBALS['ERRS'];
        $GLOBALS['ERRS'] = [];
        return $e;
    }

    function progress(string $msg): void
    {
        fwrite(STDERR, $msg . "\n");
    }

    function fail(string $msg): never
    {
        fwrite(STDERR, "gen.php: $msg\n");
        exit(1);
    }

    eval(PRELUDE);
    $compileWarnings = errs_take(); // the Serializable deprecation

    session_set_save_handler(new class implements SessionHandlerInterface {
        public function open(string $path, string $name): bool { return true; }
        public function close(): bool { return true; }
        public function read(string $id): string|false { return ''; }
        public function write(string $id, string $data): bool { return true; }
        public function destroy(string $id): bool { return true; }
        public function gc(int $max): int|false { return 0; }
    }, false);
    ini_set('session.use_cookies', '0');
    ini_set('session.use_only_cookies', '0');
    ini_set('session.use_trans_sid', '0');
    ini_set('session.cache_limiter', '');
    ini_set('session.gc_probability', '0');
    errs_take();

    const HANDLERS = ['php', 'php_binary', 'php_serialize'];
    const JSON_FLAGS = JSON_PRESERVE_ZERO_FRACTION | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PARTIAL_OUTPUT_ON_ERROR;

    /** Starts a fresh, empty session that uses $handler. */
    function session_fresh(string $handler): void
    {
        if (session_status() === PHP_SESSION_ACTIVE) {
            session_abort();
        }
        if (ini_set('session.serialize_handler', $handler) === false) {
            fail("cannot select serialize_handler $handler: " . implode('; ', errs_take()));
        }
        if (!session_start()) {
            fail('session_start failed: ' . implode('; ', errs_take()));
        }
        $_SESSION = [];
    }

    /** @return array{0: string|false, 1: list<string>} session_encode() of $data and its warnings */
    function session_encode_data(string $handler, array $data): array
    {
        session_fresh($handler);
        $_SESSION = $data;
        errs_take();
        $enc = session_encode();
        $w = errs_take();
        $_SESSION = [];
        return [$enc, $w];
    }

    /** @return array{0: bool, 1: array|null, 2: string|false|null, 3: list<string>} ok, $_SESSION, session_encode(), warnings */
    function session_decode_data(string $handler, string $payload): array
    {
        session_fresh($handler);
        errs_take();
        $ok = session_decode($payload);
        $vars = null;
        $enc = null;
        if ($ok) {
            $vars = $_SESSION;
            $enc = session_encode();
        }
        $w = errs_take();
        if (session_status() === PHP_SESSION_ACTIVE) {
            $_SESSION = [];
        }
        return [$ok, $vars, $enc, $w];
    }

    /** Why JSON cannot hold $v natively, or null if it can. */
    function json_obstacle(mixed $v, int $depth = 1): ?string
    {
        if ($depth > 500) {
            return 'nesting deeper than json_encode allows';
        }
        if (is_object($v)) {
            return 'objects';
        }
        if (is_float($v) && (is_nan($v) || is_infinite($v))) {
            return 'INF/NAN';
        }
        if (is_string($v) && preg_match('//u', $v) !== 1) {
            return 'invalid UTF-8';
        }
        if (is_array($v)) {
            foreach ($v as $k => $_) {
                if (is_string($k) && preg_match('//u', $k) !== 1) {
                    return 'invalid UTF-8 key';
                }
                if (ReflectionReference::fromArrayElement($v, $k) !== null) {
                    return 'PHP references';
                }
                $r = json_obstacle($v[$k], $depth + 1);
                if ($r !== null) {
                    return $r;
                }
            }
        }
        return null;
    }

    /** Unambiguous printable form of bytes: printable ASCII as is, backslash as \\, others as \xHH. */
    function esc(string $s): string
    {
        return preg_replace_callback('/[^\x20-\x5b\x5d-\x7e]|\\\\/', static function (array $m): string {
            return $m[0] === '\\' ? '\\\\' : sprintf('\\x%02x', ord($m[0]));
        }, $s);
    }

    function utf8_or_null(?string $s): ?string
    {
        return ($s !== null && preg_match('//u', $s) === 1) ? $s : null;
    }

    /** Keys of $a as strings (int 5 and string "5" compare equal). */
    function key_strings(array $a): array
    {
        return array_map('strval', array_keys($a));
    }

    /** Deterministic pseudo-random numbers (a 31-bit LCG), so sizes cases need no RNG. */
    final class Lcg
    {
        private int $s;

        public function __construct(int $seed)
        {
            $this->s = $seed;
        }

        public function next(int $n): int
        {
            $this->s = ($this->s * 1103515245 + 12345) & 0x7fffffff;
            return $this->s % $n;
        }

        public function pick(array $a): mixed
        {
            return $a[$this->next(count($a))];
        }
    }

    // ---------------------------------------------------------------------
    // Cases. Each builder returns the session array ($_SESSION contents).

    function nest(int $depth): array
    {
        $v = 'bottom';
        for ($i = 0; $i < $depth; $i++) {
            $v = ['d' . ($depth - $i) => $v];
        }
        return $v;
    }

    /** A realistic e-commerce session whose size grows with $n. */
    function realistic_session(int $n): array
    {
        $rng = new Lcg(20240102);
        $products = ['Espresso Cup', 'Tea Kettle', 'Notebook A5', 'Fountain Pen', 'Desk Lamp', 'Café Crème Beans 1kg', 'Wireless Mouse', 'USB-C Cable 2m', 'Bücherregal', '日本茶 Sencha', 'Socks (3 pairs)', 'Puzzle 1000 pcs'];
        $paths = ['/products', '/products/view', '/cart', '/checkout/address', '/account/orders', '/search', '/blog/post', '/category/kitchen', '/help/faq'];
        $cart = [];
        for ($i = 0; $i < $n; $i++) {
            $price = (100 + $rng->next(99000)) / 100; // e.g. 19.99
            $cart[] = [
                'sku' => sprintf('SKU-%05d', 1000 + $i),
                'name' => $rng->pick($products),
                'qty' => 1 + $rng->next(5),
                'price' => $price,
                'discount' => $rng->next(4) === 0 ? 0.1 : 0.0,
                'options' => ['color' => $rng->pick(['red', 'green', 'blue', 'black']), 'gift' => $rng->next(2) === 1],
                'added_at' => 1704164645 + $i * 37,
            ];
        }
        $history = [];
        for ($i = 0; $i < $n * 2; $i++) {
            $history[] = 'https://shop.example.com' . $rng->pick($paths) . '?id=' . $rng->next(100000) . '&ref=' . ($i % 7 === 0 ? 'newsletter' : 'nav') . '#top';
        }
        $prefs = [];
        for ($i = 0; $i < max(1, intdiv($n, 4)); $i++) {
            $prefs['widget_' . $i] = [
                'visible' => $i % 3 !== 0,
                'position' => ['x' => $rng->next(1920), 'y' => $rng->next(1080)],
                'filters' => ['price_min' => $rng->next(50), 'price_max' => 50 + $rng->next(500), 'brands' => [$rng->pick($products), $rng->pick($products)]],
                'label' => "Widget №$i — ünïcödé",
            ];
        }
        $total = 0.0;
        foreach ($cart as $line) {
            $total += $line['price'] * $line['qty'];
        }
        return [
            'user_id' => 48213,
            'username' => 'jdoe',
            'email' => 'jane.doe@example.com',
            'roles' => ['customer', 'newsletter'],
            'logged_in' => true,
            'login_time' => 1704164645,
            'csrf_token' => hash('sha256', 'fixed-csrf-seed'),
            'locale' => 'de_DE',
            'currency' => 'EUR',
            'cart' => ['items' => $cart, 'total' => round($total, 2), 'coupon' => null],
            'history' => $history,
            'prefs' => $prefs,
        ];
    }

    /** realistic_session sized to at least $bytes bytes of serialize() output. */
    function sized_session(int $bytes): array
    {
        $lo = 1;
        $hi = 1;
        while (strlen(serialize(realistic_session($hi))) < $bytes) {
            $lo = $hi;
            $hi *= 2;
        }
        while ($lo < $hi) {
            $mid = intdiv($lo + $hi, 2);
            if (strlen(serialize(realistic_session($mid))) < $bytes) {
                $lo = $mid + 1;
            } else {
                $hi = $mid;
            }
        }
        return realistic_session($lo);
    }


    function cases(): array
    {
        $c = [];
        $add = static function (string $name, string $desc, callable $build) use (&$c): void {
            $c[$name] = [$desc, $build];
        };

        $add('scalars', 'one of each scalar type: null, true, false, 0, 1, -1, 1.5, empty and plain strings', static fn () => [
            'null' => null, 'true' => true, 'false' => false, 'zero' => 0, 'one' => 1, 'minus_one' => -1,
            'float' => 1.5, 'empty' => '', 'string' => 'hello',
        ]);
        $add('ints', 'integers: 0, -1, PHP_INT_MAX, PHP_INT_MIN, 2^31, 2^32, 2^53, 2^53+1, -(2^53+1), 10^18', static fn () => [
            'zero' => 0, 'minus_one' => -1, 'PHP_INT_MAX' => PHP_INT_MAX, 'PHP_INT_MIN' => PHP_INT_MIN,
            '2^31' => 2147483648, '2^32' => 4294967296, '2^53' => 9007199254740992, '2^53+1' => 9007199254740993,
            '-(2^53+1)' => -9007199254740993, '10^18' => 1000000000000000000,
        ]);
        $add('floats', 'float formatting (serialize_precision=-1): keys are the PHP literals', static fn () => [
            '0.1' => 0.1, '1.0' => 1.0, '-0.0' => -0.0, '100.0' => 100.0, '1e15' => 1e15, '1e16' => 1e16,
            '1e17' => 1e17, '1.23e20' => 1.23e20, '1e21' => 1e21, '1e22' => 1e22, '1e25' => 1e25, '1e100' => 1e100,
            '0.001' => 0.001, '0.0001' => 0.0001, '0.00001' => 0.00001, '1.5e-7' => 1.5e-7, '-1e-10' => -1e-10,
            '1/3' => 1 / 3, '2/3' => 2 / 3, '0.1+0.2' => 0.1 + 0.2, '4.35' => 4.35, '2.5' => 2.5, '-2.5' => -2.5,
            'PHP_FLOAT_MAX' => PHP_FLOAT_MAX, 'PHP_FLOAT_MIN' => PHP_FLOAT_MIN, '5e-324' => 5e-324,
            'PHP_FLOAT_EPSILON' => PHP_FLOAT_EPSILON, '123456789012345678.0' => 123456789012345678.0,
            '12345678901234567.0' => 12345678901234567.0, '9007199254740993.0' => 9007199254740993.0,
            'PHP_INT_MAX+1.0' => (float) PHP_INT_MAX, '-1.5e300' => -1.5e300, '19.99' => 19.99, '1e-5*3' => 3e-5,
        ]);
        $add('floats_special', 'INF, -INF and NAN (no JSON form)', static fn () => [
            'INF' => INF, '-INF' => -INF, 'NAN' => NAN, 'list' => [INF, -INF, NAN, 0.0, -0.0],
        ]);
        $add('strings_utf8', 'valid UTF-8 strings: empty, multibyte, emoji, combining, RTL, BOM, quotes, serialize look-alikes, | in values', static fn () => [
            'empty' => '', 'ascii' => 'hello world', 'latin' => 'héllo wörld ñ ß', 'cjk' => '日本語テキスト',
            'emoji' => '👍🏽 family 👨‍👩‍👧 flag 🇩🇪', 'combining' => "e\u{0301} vs \u{00e9}", 'rtl' => 'مرحبا بالعالم',
            'bom' => "\u{FEFF}bom", 'nbsp' => "a\u{00A0}b", 'quotes' => 'He said "hi"; then left', 'semicolon_quote' => '";',
            'serialized_lookalike' => 's:3:"abc";', 'session_lookalike' => 'x|i:1;y|s:1:"z";', 'pipe' => 'a|b|c', 'lone_pipe' => '|',
            'newlines' => "line1\nline2\r\nline3\r", 'tab' => "a\tb", 'backslash' => 'C:\\dir\\x41 \\u00e9', 'braces' => '}{;:',
            'long' => str_repeat('abcdefghij', 100),
        ]);
        $add('strings_binary', 'binary strings: NUL bytes, invalid UTF-8, every byte value, ";" inside', static fn () => [
            'nul' => "\0", 'nul_mid' => "a\0b", 'nul_quote' => "\0\";\0", 'invalid_utf8' => "\xff\xfe\xfd",
            'overlong' => "\xc0\xaf", 'surrogate' => "\xed\xa0\x80", 'truncated_utf8' => "caf\xc3", 'latin1' => "caf\xe9",
            'all_bytes' => implode('', array_map('chr', range(0, 255))), 'quote_semicolon_binary' => "\xff\";s:1:\"x\";",
        ]);
        $add('arrays', 'nested arrays, lists, non-list int keys, mixed keys, holes, empty arrays', static function () {
            $holes = ['a', 'b', 'c'];
            unset($holes[1]);
            return [
                'list' => [1, 'two', 3.0, null, true, [4, 5]],
                'nested' => ['a' => ['b' => ['c' => [1, 2, 3], 'd' => []]]],
                'non_list_int_keys' => [5 => 'five', 2 => 'two', -3 => 'minus three', 0 => 'zero'],
                'mixed_keys' => [0 => 'a', 'x' => 'b', 1 => 'c', 'y' => ['z' => 1]],
                'list_with_hole' => $holes,
                'empty' => [],
                'empties' => [[], [[]], ['' => []]],
                'list_of_maps' => [['id' => 1, 'name' => 'a'], ['id' => 2, 'name' => 'b']],
            ];
        });
        $add('array_key_normalisation', "array keys: '10' becomes int 10, '010', '-0', ' 1', '1.5', '9223372036854775808' stay strings", static fn () => ['keys' => [
            '10' => 'int 10', '010' => 'string 010', '-5' => 'int -5', '-0' => 'string -0', ' 1' => 'string space-1',
            '1.5' => 'string 1.5', '9223372036854775807' => 'int max', '9223372036854775808' => 'string overflow',
            '0x1A' => 'string hex', '' => 'empty key', '1e3' => 'string 1e3',
        ]]);
        $add('empty', 'empty session (php and php_binary: session_encode() returns false)', static fn () => []);
        $add('stdclass', 'stdClass objects: flat, nested, empty, numeric property names', static function () {
            $o = new stdClass();
            $o->name = 'Ada';
            $o->tags = ['x', 'y'];
            $o->child = new stdClass();
            $o->child->v = 1.5;
            return [
                'obj' => $o,
                'empty_obj' => new stdClass(),
                'numeric_props' => (object) ['5' => 'five', 'a' => 'A', '' => 'empty name'],
            ];
        });
        $add('class_visibility', 'class with public/protected/private props, an inherited private (\0BaseModel\0x) and an uninitialized typed prop', static fn () => [
            'customer' => new Customer(), 'base' => new BaseModel(),
        ]);
        $add('class_sleep', 'class with __sleep() keeping id, name and a protected prop', static fn () => ['user' => new SleepyUser()]);
        $add('class_serialize_magic', 'class with __serialize()/__unserialize() returning mixed int/string keys', static fn () => [
            'price' => new Money(1999, 'EUR'), 'list' => [new Money(5, 'USD'), new Money(-1, 'JPY')],
        ]);
        $add('class_serializable', 'Serializable class (C: format) with a payload containing ";}| and NUL', static fn () => [
            'token' => new LegacyToken("abc\";}|x\0y"), 'empty' => new LegacyToken(''),
        ]);
        $add('enums', 'backed and pure enums (E:), repeated', static fn () => [
            'suit' => Suit::Hearts, 'status' => Status::Active, 'again' => Suit::Hearts,
            'list' => [Suit::Spades, Status::Banned, Status::Active],
        ]);
        $add('object_identity', 'the same object several times: r: back-references (numbering differs between php and php_serialize)', static function () {
            $o = new stdClass();
            $o->id = 1;
            $p = new stdClass();
            $p->friend = $o;
            return ['o1' => $o, 'o2' => $o, 'p' => $p, 'nested' => ['o3' => $o, 'p2' => $p], 'last' => $o];
        });
        $add('references', 'PHP references (&): R: back-references between session keys', static function () {
            $shared = 'shared';
            $count = 5;
            return ['a' => 1, 'r1' => &$shared, 'r2' => &$shared, 'n1' => &$count, 'x' => 'after', 'n2' => &$count];
        });
        $add('references_nested', 'references into nested arrays, to an array, to an object (R: to an object slot) and inside an object', static function () {
            $d = [];
            $d['config'] = ['level' => 1, 'name' => 'cfg'];
            $d['alias'] = &$d['config']['level'];
            $d['arr'] = [1, 2];
            $d['arr_ref'] = &$d['arr'];
            $o = new stdClass();
            $o->name = 'obj';
            $d['obj1'] = &$o;
            $d['obj2'] = &$o;
            $d['obj_copy'] = $o;
            $x = 'in object';
            $holder = new stdClass();
            $holder->p1 = &$x;
            $holder->p2 = &$x;
            $d['holder'] = $holder;
            $d['outside'] = &$x;
            $d['deep'] = ['l1' => ['l2' => &$d['config']['name']]];
            return $d;
        });
        $add('references_recursive', 'arrays that contain a reference to themselves (R: to an enclosing array)', static function () {
            $s = [];
            $s['a'] = ['x' => 1];
            $s['a']['self'] = &$s['a'];
            $b = ['k' => 1];
            $b['self'] = &$b;
            $s['copy'] = $b;
            return $s;
        });
        $add('datetime', 'DateTime, DateTimeImmutable (UTC, named zone, offset, abbreviation), DateTimeZone, DateInterval, DatePeriod', static function () {
            $utc = new DateTimeZone('UTC');
            $a = new DateTimeImmutable('2024-01-02 03:04:05.678901', $utc);
            return [
                'dt' => new DateTime('2024-01-02 03:04:05.678901', $utc),
                'dti' => $a,
                'berlin' => new DateTimeImmutable('2024-07-01 12:00:00', new DateTimeZone('Europe/Berlin')),
                'offset' => new DateTime('2024-01-02 03:04:05', new DateTimeZone('+02:00')),
                'abbr' => new DateTime('2024-01-02 03:04:05 EST'),
                'tz' => new DateTimeZone('Europe/Paris'),
                'tz_offset' => new DateTimeZone('-05:30'),
                'interval' => new DateInterval('P1Y2M3DT4H5M6S'),
                'diff' => $a->diff(new DateTimeImmutable('2024-03-15 12:00:00', $utc)),
                'period' => new DatePeriod(new DateTimeImmutable('2024-01-01', $utc), new DateInterval('P1D'), 2),
            ];
        });
        $add('spl', 'ArrayObject, ArrayIterator, SplObjectStorage, SplDoublyLinkedList, SplQueue, SplStack, SplFixedArray', static function () {
            $k1 = new stdClass();
            $k1->k = 1;
            $k2 = new stdClass();
            $st = new SplObjectStorage();
            $st[$k1] = 'data for k1';
            $st[$k2] = ['n' => 2];
            $dll = new SplDoublyLinkedList();
            $dll->push(1);
            $dll->push('two');
            $dll->push([3]);
            $q = new SplQueue();
            $q->enqueue('first');
            $s = new SplStack();
            $s->push('top');
            $fa = new SplFixedArray(3);
            $fa[0] = 'a';
            $fa[2] = 2.5;
            return [
                'array_object' => new ArrayObject(['a' => 1, 'b' => [1, 2]]),
                'array_object_props' => new ArrayObject(['x' => 1], ArrayObject::ARRAY_AS_PROPS),
                'array_iterator' => new ArrayIterator([3, 2, 1]),
                'object_storage' => $st, 'k1_again' => $k1,
                'dll' => $dll, 'queue' => $q, 'stack' => $s, 'fixed' => $fa,
            ];
        });
        $add('unknown_class', 'objects of App\\Models\\User / App\\Models\\Order (classes only gen.php defines), with a repeated object inside', static function () {
            $boss = new App\Models\User(1, 'boss@example.com', ['admin'], '$2y$10$abcdefghijklmnopqrstuv');
            $u = new App\Models\User(42, 'jane@example.com', ['editor', 'viewer'], null);
            $u->manager = $boss;
            return [
                'user' => $u,
                'order' => new App\Models\Order(1001, $u, [['sku' => 'A', 'qty' => 2, 'price' => 9.99]]),
                'boss' => $boss,
            ];
        });
        $add('codeigniter', 'CodeIgniter 3/4 style session: __ci_last_regenerate, __ci_vars with flash and temp keys, _ci_previous_url', static fn () => [
            '__ci_last_regenerate' => 1700000000,
            'user_id' => 42,
            'username' => 'jdoe',
            'logged_in' => true,
            '__ci_vars' => ['flash_msg' => 'new', 'old_flash' => 'old', 'temp_key' => 1700000300],
            'flash_msg' => 'Profile saved.',
            'old_flash' => 'Shown once already',
            'temp_key' => 'temporary value',
            '_ci_previous_url' => 'https://example.com/index.php/dashboard?tab=orders&page=2',
        ]);
        $add('login_realistic', 'realistic logged-in session: user id, roles, cart with prices, csrf token, flash message', static fn () => [
            'user_id' => 1234,
            'user' => ['id' => 1234, 'name' => 'Jane Doe', 'email' => 'jane@example.com', 'roles' => ['admin', 'editor'], 'verified' => true],
            'csrf_token' => hash('sha256', 'csrf-fixed'),
            'cart' => [
                ['sku' => 'TSHIRT-M', 'qty' => 2, 'price' => 19.99],
                ['sku' => 'MUG', 'qty' => 1, 'price' => 8.5],
                ['sku' => 'STICKER', 'qty' => 10, 'price' => 0.1],
            ],
            'cart_total' => 49.48,
            'last_activity' => 1704164645,
            'flash' => ['success' => 'Welcome back, Jane!'],
            'locale' => 'en_US',
            'remember_me' => false,
            'oauth_state' => null,
        ]);
        $add('keys_special', "session keys with spaces, unicode, an empty key '', '!' prefix, ';' ':' '\"' and a newline", static fn () => [
            'first name' => 'Ada', ' leading' => 1, 'trailing ' => 2, 'clé' => 'valeur', '日本' => 'Japan', '👍' => 'thumbs',
            '' => 'empty key', '!bang' => 'not an UNDEF marker', 'semi;colon' => 3, 'colon:key' => 4, 'quote"key' => 5,
            "new\nline" => 6, "tab\tkey" => 7, 's:1:"x";' => 8,
        ]);
        $add('keys_binary', 'session keys with a NUL byte and with invalid UTF-8', static fn () => [
            "a\0b" => 'nul in key', "\xff\xfekey" => 'invalid utf-8 key', 'ok' => true,
        ]);
        $add('key_pipe', "a session key containing '|': the php encoder fails and writes nothing", static fn () => [
            'before' => 1, 'a|b' => 'pipe in key', 'after' => 2,
        ]);
        $add('keys_numeric', 'integer session keys (5, 10 from "10", -1, PHP_INT_MAX): php and php_binary skip them with a warning', static fn () => [
            5 => 'five', 'name' => 'kept', '10' => 'ten (int key)', '010' => 'string key 010', -1 => 'minus one', PHP_INT_MAX => 'max',
        ]);
        $add('keys_long', 'session keys of 127, 128 and 200 bytes: php_binary drops keys longer than 127 bytes', static fn () => [
            'short' => 1, str_repeat('k', 127) => '127 bytes', str_repeat('l', 128) => '128 bytes', str_repeat('m', 200) => '200 bytes', 'end' => 2,
        ]);
        $add('depth_100', 'arrays nested 100 deep', static fn () => ['deep' => nest(100), 'after' => 1]);
        $add('depth_4000', 'arrays nested 4000 deep (below unserialize_max_depth=4096; too deep for json_encode)', static fn () => ['deep' => nest(4000)]);
        $add('size_2kb', 'realistic session, about 2 KB serialized', static fn () => sized_session(2 * 1024));
        $add('size_64kb', 'realistic session, about 64 KB serialized', static fn () => sized_session(64 * 1024));
        $add('size_1mb', 'realistic session, about 1 MB serialized', static fn () => sized_session(1024 * 1024));
        return $c;
    }

    // ---------------------------------------------------------------------
    // Malformed (and borderline) inputs. spec: what shared/spec section 3.3 or
    // 2.x says (accept/reject), or null if the spec says nothing.

    function invalid_cases(): array
    {
        $deep = static fn (int $n) => str_repeat('a:1:{i:0;', $n) . 'N;' . str_repeat('}', $n);
        $u = 'unserialize';
        return [
            // integers
            ['int_plus', $u, 'i:+5;', 'accept'],
            ['int_minus_zero', $u, 'i:-0;', 'accept'],
            ['int_leading_zeros', $u, 'i:007;', 'accept'],
            ['int_space', $u, 'i: 5;', 'reject'],
            ['int_no_semicolon', $u, 'i:5', 'reject'],
            ['int_fraction', $u, 'i:1.5;', 'reject'],
            ['int_empty', $u, 'i:;', 'reject'],
            ['int_overflow', $u, 'i:9223372036854775808;', 'accept'],
            ['int_underflow', $u, 'i:-9223372036854775809;', 'accept'],
            ['int_huge', $u, 'i:99999999999999999999999999;', 'accept'],
            ['int_hex', $u, 'i:0x1A;', null],
            ['int_uppercase_tag', $u, 'I:5;', null],
            ['int_leading_space', $u, ' i:5;', null],
            // booleans, null
            ['bool_two', $u, 'b:2;', 'reject'],
            ['bool_01', $u, 'b:01;', 'reject'],
            ['bool_minus', $u, 'b:-1;', 'reject'],
            ['bool_false', $u, 'b:0;', 'accept'],
            ['bool_true', $u, 'b:1;', 'accept'],
            ['null', $u, 'N;', null],
            ['null_no_semicolon', $u, 'N', null],
            // floats
            ['float_dot5', $u, 'd:.5;', 'accept'],
            ['float_5dot', $u, 'd:5.;', 'accept'],
            ['float_plus', $u, 'd:+1.5;', 'accept'],
            ['float_exp', $u, 'd:1e3;', 'accept'],
            ['float_exp_upper_sign', $u, 'd:1E+3;', 'accept'],
            ['float_exp_php_form', $u, 'd:1.0E+25;', 'accept'],
            ['float_precision17', $u, 'd:0.10000000000000001;', 'accept'],
            ['float_int_form', $u, 'd:5;', 'accept'],
            ['float_inf', $u, 'd:INF;', 'accept'],
            ['float_minus_inf', $u, 'd:-INF;', 'accept'],
            ['float_nan', $u, 'd:NAN;', 'accept'],
            ['float_plus_inf', $u, 'd:+INF;', 'reject'],
            ['float_minus_nan', $u, 'd:-NAN;', 'reject'],
            ['float_inf_lower', $u, 'd:inf;', 'reject'],
            ['float_hex', $u, 'd:0x1A;', 'reject'],
            ['float_underscore', $u, 'd:1_000;', 'reject'],
            ['float_empty', $u, 'd:;', null],
            ['float_dot_only', $u, 'd:.;', null],
            ['float_exp_no_digits', $u, 'd:1e;', null],
            ['float_overflow', $u, 'd:1e999;', null],
            // strings
            ['str_plus_len', $u, 's:+3:"abc";', 'reject'],
            ['str_leading_zero_len', $u, 's:03:"abc";', 'accept'],
            ['str_negative_len', $u, 's:-1:"";', 'reject'],
            ['str_short', $u, 's:3:"ab";', 'reject'],
            ['str_long', $u, 's:3:"abcd";', 'reject'],
            ['str_no_semicolon', $u, 's:3:"abc"', 'reject'],
            ['str_single_quotes', $u, "s:3:'abc';", null],
            ['str_truncated', $u, 's:10:"abc', 'reject'],
            ['str_len_beyond_input', $u, 's:999999999:"x";', 'reject'],
            ['str_with_quote_semicolon', $u, 's:5:"a";b"c";', null],
            ['str_escaped_S', $u, 'S:3:"\\61bc";', 'accept'],
            ['str_escaped_S_bad_hex', $u, 'S:3:"\\6gbc";', null],
            ['str_escaped_S_upper_hex', $u, 'S:1:"\\4A";', null],
            ['str_escaped_S_literal_backslash', $u, 'S:1:"\\";', null],
            // arrays
            ['arr_negative_count', $u, 'a:-1:{}', 'reject'],
            ['arr_missing_element', $u, 'a:2:{i:0;i:1;}', 'reject'],
            ['arr_extra_element', $u, 'a:1:{i:0;i:1;i:1;i:2;}', 'reject'],
            ['arr_fake_count', $u, 'a:100000000:{}', 'reject'],
            ['arr_missing_brace', $u, 'a:1:{i:0;i:1;', 'reject'],
            ['arr_semicolon_after_brace', $u, 'a:1:{i:0;i:1;};', 'accept'],
            ['arr_array_key', $u, 'a:1:{a:0:{}i:1;}', 'reject'],
            ['arr_float_key', $u, 'a:1:{d:1.5;i:1;}', 'reject'],
            ['arr_bool_key', $u, 'a:1:{b:1;i:1;}', 'reject'],
            ['arr_null_key', $u, 'a:1:{N;i:1;}', 'reject'],
            ['arr_numeric_string_key', $u, 'a:1:{s:1:"5";i:1;}', 'accept'],
            ['arr_zero_padded_string_key', $u, 'a:1:{s:2:"05";i:1;}', 'accept'],
            ['arr_duplicate_keys', $u, 'a:2:{i:0;i:1;i:0;i:2;}', null],
            ['arr_key_overflow', $u, 'a:1:{i:9223372036854775808;i:1;}', null],
            ['arr_no_count', $u, 'a::{}', null],
            ['arr_plus_count', $u, 'a:+1:{i:0;i:1;}', null],
            ['arr_value_missing', $u, 'a:1:{i:0;}', null],
            ['arr_depth_4096', $u, $deep(4096), null],
            ['arr_depth_4097', $u, $deep(4097), 'reject'],
            // objects
            ['obj_empty_class_name', $u, 'O:0:"":0:{}', 'reject'],
            ['obj_lowercase_stdclass', $u, 'O:8:"stdclass":0:{}', 'accept'],
            ['obj_plus_count', $u, 'O:8:"stdClass":+1:{s:1:"a";i:1;}', 'accept'],
            ['obj_negative_count', $u, 'O:8:"stdClass":-1:{}', 'reject'],
            ['obj_leading_backslash', $u, 'O:9:"\\stdClass":0:{}', 'reject'],
            ['obj_name_len_mismatch', $u, 'O:7:"stdClass":0:{}', null],
            ['obj_int_prop_name', $u, 'O:8:"stdClass":1:{i:5;s:1:"x";}', null],
            ['obj_unknown_class', $u, 'O:14:"App\\Nope\\Thing":2:{s:1:"a";i:1;s:4:"' . "\0*\0b" . '";i:2;}', 'accept'],
            ['obj_missing_value', $u, 'O:8:"stdClass":1:{s:1:"a";}', null],
            ['obj_closure', $u, 'O:7:"Closure":0:{}', null],
            ['obj_interface', $u, 'O:8:"Iterator":0:{}', null],
            ['obj_enum_as_O', $u, 'O:4:"Suit":0:{}', null],
            // C:
            ['C_unknown_class', $u, 'C:3:"Foo":5:{hello}', 'accept'],
            ['C_arrayobject', $u, 'C:11:"ArrayObject":21:{x:i:0;a:0:{};m:a:0:{}}', null],
            ['C_known_serializable', $u, 'C:11:"LegacyToken":5:{hello}', null],
            ['C_len_mismatch', $u, 'C:11:"LegacyToken":9:{hello}', 'reject'],
            ['C_stdclass', $u, 'C:8:"stdClass":0:{}', null],
            // E:
            ['enum_backed', $u, 'E:11:"Suit:Hearts";', 'accept'],
            ['enum_pure', $u, 'E:13:"Status:Active";', 'accept'],
            ['enum_unknown_enum', $u, 'E:11:"Nope:Hearts";', 'reject'],
            ['enum_unknown_case', $u, 'E:10:"Suit:Clubs";', 'reject'],
            ['enum_no_colon', $u, 'E:10:"SuitHearts";', 'reject'],
            ['enum_not_an_enum', $u, 'E:10:"stdClass:x";', 'reject'],
            // references
            ['ref_r0', $u, 'r:0;', 'reject'],
            ['ref_R0_in_array', $u, 'a:1:{i:0;R:0;}', 'reject'],
            ['ref_r_top_level', $u, 'r:1;', null],
            ['ref_R99', $u, 'R:99;', 'reject'],
            ['ref_R99_in_array', $u, 'a:1:{i:0;R:99;}', 'reject'],
            ['ref_r_to_object', $u, 'a:2:{i:0;O:8:"stdClass":0:{}i:1;r:2;}', 'accept'],
            ['ref_r_to_string', $u, 'a:2:{i:0;s:1:"x";i:1;r:2;}', 'reject'],
            ['ref_R_to_string', $u, 'a:2:{i:0;s:1:"x";i:1;R:2;}', 'accept'],
            ['ref_R_to_outer_array', $u, 'a:1:{i:0;R:1;}', null],
            ['ref_r_to_outer_array', $u, 'a:1:{i:0;r:1;}', null],
            ['ref_R_to_object', $u, 'a:2:{i:0;O:8:"stdClass":0:{}i:1;R:2;}', null],
            ['ref_R_forward', $u, 'a:2:{i:0;R:3;i:1;i:5;}', null],
            // whole-input shape
            ['empty_input', $u, '', null],
            ['unknown_type', $u, 'x:i:0;', null],
            ['trailing_bytes_int', $u, 'i:5;garbage', 'accept'],
            ['trailing_bytes_array', $u, 'a:0:{}garbage', 'accept'],
            ['two_values', $u, 'i:5;i:6;', 'accept'],
            ['trailing_newline', $u, "i:5;\n", 'accept'],

            // session decoding
            ['sess_php_ok', 'session:php', 'a|i:1;b|s:1:"x";', 'accept'],
            ['sess_php_trailing_garbage', 'session:php', 'a|i:1;garbage', 'reject'],
            ['sess_php_bad_value_mid', 'session:php', 'a|i:1;b|s:5:"xy";c|i:3;', 'reject'],
            ['sess_php_numeric_name', 'session:php', '5|i:1;10|s:1:"x";', null],
            ['sess_php_bang_name', 'session:php', '!x|i:1;', null],
            ['sess_php_undef_marker', 'session:php', '!x|a|i:1;', 'reject'],
            ['sess_php_empty', 'session:php', '', null],
            ['sess_php_no_pipe', 'session:php', 'abc', 'reject'],
            ['sess_php_name_only', 'session:php', 'a|', null],
            ['sess_php_empty_name', 'session:php', '|i:1;', 'accept'],
            ['sess_php_duplicate_name', 'session:php', 'a|i:1;a|i:2;', null],
            ['sess_php_semicolon_after_array', 'session:php', 'a|a:1:{i:0;i:1;};b|i:2;', null],
            ['sess_php_trailing_newline', 'session:php', "a|i:1;\n", null],
            ['sess_php_refs_across_names', 'session:php', 'a|O:8:"stdClass":0:{}b|r:1;c|s:1:"x";d|R:3;', null],
            ['sess_php_R_to_first_var', 'session:php', 'a|s:1:"x";b|R:1;', null],
            ['sess_php_php_serialize_payload', 'session:php', 'a:1:{s:1:"a";i:1;}', null],
            ['sess_php_name_with_nul', 'session:php', "a\0b|i:1;", null],
            ['sess_bin_ok', 'session:php_binary', "\x01ai:1;\x02bcs:1:\"x\";", 'accept'],
            ['sess_bin_high_bit', 'session:php_binary', "\x81ai:1;", 'accept'],
            ['sess_bin_len_past_end', 'session:php_binary', "\x85ai:1;", 'reject'],
            ['sess_bin_len_127_short', 'session:php_binary', "\x7fai:1;", 'reject'],
            ['sess_bin_len_255', 'session:php_binary', "\xff" . str_repeat('k', 127) . 'i:1;', null],
            ['sess_bin_empty', 'session:php_binary', '', null],
            ['sess_bin_zero_len_name', 'session:php_binary', "\x00i:1;", null],
            ['sess_bin_trailing_garbage', 'session:php_binary', "\x01ai:1;garbage", null],
            ['sess_bin_numeric_name', 'session:php_binary', "\x015i:1;", null],
            ['sess_bin_php_payload', 'session:php_binary', 'a|i:1;', null],
            ['sess_ser_ok', 'session:php_serialize', 'a:1:{s:1:"a";i:1;}', 'accept'],
            ['sess_ser_trailing_garbage', 'session:php_serialize', 'a:1:{s:1:"a";i:1;}garbage', 'accept'],
            ['sess_ser_empty', 'session:php_serialize', '', 'accept'],
            ['sess_ser_truncated', 'session:php_serialize', 'a:1:{s:1:"a";i:1;', 'reject'],
            ['sess_ser_int_keys', 'session:php_serialize', 'a:2:{i:5;s:4:"five";s:2:"10";i:10;}', null],
            ['sess_ser_not_an_array', 'session:php_serialize', 'i:5;', null],
            ['sess_ser_false', 'session:php_serialize', 'b:0;', null],
            ['sess_ser_object', 'session:php_serialize', 'O:8:"stdClass":1:{s:1:"a";i:1;}', null],
            ['sess_ser_php_payload', 'session:php_serialize', 'a|i:1;', null],
        ];
    }

    // ---------------------------------------------------------------------
    // Main

    $root = dirname(__DIR__);
    $out = $argv[1] ?? __DIR__ . '/payloads';
    if (!is_dir($out) && !mkdir($out, 0777, true)) {
        fail("cannot create $out");
    }
    $out = realpath($out);
    if (!is_dir("$out/invalid") && !mkdir("$out/invalid", 0777, true)) {
        fail("cannot create $out/invalid");
    }
    // Remove what a previous run generated, so renamed cases leave nothing stale.
    foreach (array_merge(glob("$out/*.ser"), glob("$out/*.sess"), glob("$out/*.json"), glob("$out/MANIFEST.*"), glob("$out/invalid/cases.*")) as $f) {
        unlink($f);
    }

    function put(string $path, string $data): void
    {
        if (file_put_contents($path, $data) !== strlen($data)) {
            fail("cannot write $path");
        }
    }

    $manifest = [];
    $files = []; // name => [kind => bytes], for the plain-PHP check
    foreach (cases() as $name => [$desc, $build]) {
        progress("case $name");
        errs_take();
        $data = $build();
        $buildWarnings = errs_take();
        $ser = serialize($data);
        $serWarnings = errs_take();
        put("$out/$name.ser", $ser);
        $files[$name]['ser'] = $ser;

        // Sanity: PHP reads its own serialize() output back identically.
        if (serialize(unserialize($ser)) !== $ser) {
            fail("$name: serialize(unserialize(.ser)) differs");
        }
        errs_take();

        $entry = [
            'name' => $name,
            'description' => $desc,
            'ser_bytes' => strlen($ser),
            'warnings' => array_values(array_merge($buildWarnings, $serWarnings)),
            'encodings' => [],
        ];
        foreach (HANDLERS as $h) {
            [$enc, $w] = session_encode_data($h, $data);
            $bytes = $enc === false ? '' : $enc;
            put("$out/$name.$h.sess", $bytes);
            $files[$name][$h] = $bytes;
            $e = ['bytes' => strlen($bytes), 'session_encode_false' => $enc === false, 'warnings' => $w];
            if ($h === 'php_serialize' && $enc !== $ser) {
                fail("$name: php_serialize session differs from serialize()");
            }
            if ($enc === false) {
                $e['status'] = count($data) === 0 ? 'empty' : 'failed';
                $e['dropped'] = key_strings($data);
            } else {
                [$ok, $vars, $re, $dw] = session_decode_data($h, $bytes);
                if (!$ok) {
                    fail("$name: PHP cannot decode its own $h encoding: " . implode('; ', $dw));
                }
                if ($re !== $enc) {
                    fail("$name: $h encoding is not stable under decode+encode");
                }
                $dropped = array_values(array_diff(key_strings($data), key_strings($vars)));
                $e['dropped'] = $dropped;
                $e['status'] = $dropped ? 'dropped' : 'ok';
            }
            $entry['encodings'][$h] = $e;
        }

        $obstacle = json_obstacle($data);
        if ($obstacle === null) {
            $json = json_encode($data, JSON_FLAGS);
            if ($json === false || json_last_error() !== JSON_ERROR_NONE) {
                fail("$name: json_encode failed: " . json_last_error_msg());
            }
            put("$out/$name.json", $json);
            $entry['json'] = true;
        } else {
            $entry['json'] = false;
            $entry['json_skipped_because'] = $obstacle;
        }
        $manifest[$name] = $entry;
        unset($data);
    }

    // What a plain PHP without gen.php's classes does with each file: run the
    // Go oracle's PHP script (internal/phporacle/oracle.php) on them.
    function run_oracle(string $root, string $mode, string $prelude, array $inputs): array
    {
        $script = "$root/internal/phporacle/oracle.php";
        if (!is_file($script)) {
            fail("$script not found");
        }
        $req = pack('N', strlen($mode)) . $mode . pack('N', strlen($prelude)) . $prelude . pack('N', count($inputs));
        foreach ($inputs as $in) {
            $req .= pack('N', strlen($in)) . $in;
        }
        $cmd = [PHP_BINARY, '-d', 'display_errors=stderr', '-d', 'log_errors=0', '-d', 'serialize_precision=-1', '-d', 'unserialize_max_depth=4096', '-d', 'memory_limit=2G', $script];
        $tmp = tmpfile();
        fwrite($tmp, $req);
        fseek($tmp, 0);
        $p = proc_open($cmd, [0 => $tmp, 1 => ['pipe', 'w'], 2 => STDERR], $pipes);
        if ($p === false) {
            fail('cannot run ' . PHP_BINARY);
        }
        $resp = stream_get_contents($pipes[1]);
        fclose($pipes[1]);
        if (proc_close($p) !== 0) {
            fail("oracle.php failed for $mode");
        }
        $magic = "PHPORACLE1\n";
        if (!str_starts_with($resp, $magic)) {
            fail('bad oracle response');
        }
        $pos = strlen($magic);
        $res = [];
        foreach ($inputs as $_) {
            $flags = ord($resp[$pos++]);
            $f = [];
            for ($j = 0; $j < 4; $j++) {
                $n = unpack('N', $resp, $pos)[1];
                $f[] = substr($resp, $pos + 4, $n);
                $pos += 4 + $n;
            }
            $res[] = ['ok' => (bool) ($flags & 1), 'output' => ($flags & 2) ? $f[0] : null, 'errors' => $f[3]];
        }
        if (substr($resp, $pos) !== "END\n") {
            fail('bad oracle response end');
        }
        return $res;
    }

    progress('plain-PHP round trips');
    foreach (['ser' => 'unserialize', 'php' => 'session:php', 'php_binary' => 'session:php_binary', 'php_serialize' => 'session:php_serialize'] as $kind => $mode) {
        $names = array_keys($files);
        $inputs = array_map(static fn ($n) => $files[$n][$kind], $names);
        $res = run_oracle($root, $mode, '', $inputs);
        foreach ($names as $i => $n) {
            $r = $res[$i];
            $v = !$r['ok'] ? 'rejected' : ($r['output'] === $inputs[$i] ? 'same' : ($r['output'] === null ? 'no-output' : 'differs'));
            $manifest[$n]['plain_php'][$kind] = $v;
        }
    }

    // MANIFEST.json and MANIFEST.tsv
    put("$out/MANIFEST.json", json_encode([
        'generator' => 'testdata/gen.php',
        'php_version' => PHP_VERSION,
        'note' => 'status per encoding: ok | dropped (keys PHP silently or with a warning left out) | failed (session_encode() returned false, the file is empty) | empty (no data; session_encode() returned false). plain_php: what a PHP without gen.php\'s classes does with the file: same (decodes and re-encodes byte-identically), differs, no-output, rejected.',
        'cases' => array_values($manifest),
    ], JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE) . "\n");

    $tsv = "name\tjson\tphp\tphp_binary\tphp_serialize\tplain_php\tdescription\n";
    foreach ($manifest as $n => $m) {
        $cols = [$n, $m['json'] ? 'yes' : 'no: ' . $m['json_skipped_because']];
        foreach (HANDLERS as $h) {
            $e = $m['encodings'][$h];
            $s = $e['status'];
            if ($s === 'dropped' || $s === 'failed') {
                $s .= ' ' . implode(',', array_map(static fn ($k) => strlen($k) > 20 ? esc(substr($k, 0, 8)) . '...(' . strlen($k) . ' bytes)' : esc($k), $e['dropped']));
            }
            $cols[] = $s;
        }
        $pp = [];
        foreach ($m['plain_php'] as $k => $v) {
            $pp[] = "$k=$v";
        }
        $cols[] = implode(' ', $pp);
        $cols[] = $m['description'];
        $tsv .= implode("\t", array_map(static fn ($c) => str_replace(["\t", "\n"], ' ', $c), $cols)) . "\n";
    }
    put("$out/MANIFEST.tsv", $tsv);

    // invalid/cases.json and invalid/cases.tsv
    progress('invalid inputs');
    $rows = [];
    $mismatch = [];
    foreach (invalid_cases() as [$name, $mode, $input, $spec]) {
        errs_take();
        $ok = false;
        $output = null;
        $json = null;
        $ex = null;
        try {
            if ($mode === 'unserialize') {
                $v = unserialize($input);
                // only "b:0;" legitimately decodes to false ('' gives false with no notice)
                $ok = $v !== false || str_starts_with($input, 'b:0;');
                if ($ok) {
                    $output = serialize($v);
                }
            } else {
                [$ok, $v, $enc, $w] = session_decode_data(substr($mode, 8), $input);
                $output = $ok && $enc !== false ? $enc : null;
                $GLOBALS['ERRS'] = array_merge($GLOBALS['ERRS'], $w);
            }
            if ($ok) {
                $j = json_encode($v, JSON_FLAGS);
                $json = $j === false ? null : $j;
            }
        } catch (Throwable $e) {
            $ok = false;
            $output = null;
            $ex = get_class($e) . ': ' . $e->getMessage();
        }
        unset($v);
        $errors = errs_take();
        if ($ex !== null) {
            $errors[] = $ex;
        }
        $verdict = $ok ? 'accept' : 'reject';
        if ($spec !== null && $spec !== $verdict) {
            $mismatch[] = "$name: spec says $spec, PHP does $verdict";
        }
        $rows[] = [
            'name' => $name,
            'mode' => $mode,
            'input_hex' => bin2hex($input),
            'input' => strlen($input) > 200 ? null : esc($input),
            'accepted' => $ok,
            'output_hex' => $output === null ? null : bin2hex($output),
            'output' => $output === null || strlen($output) > 200 ? null : esc($output),
            'json' => $json,
            'errors' => $errors,
            'spec' => $spec,
        ];
    }
    if (session_status() === PHP_SESSION_ACTIVE) {
        session_abort();
    }
    put("$out/invalid/cases.json", json_encode([
        'generator' => 'testdata/gen.php',
        'php_version' => PHP_VERSION,
        'note' => 'input_hex/output_hex are the exact bytes; input/output are the same bytes escaped (printable ASCII as is, \\\\ for a backslash, \\xHH otherwise), null when longer than 200 bytes. accepted: unserialize() did not fail (only "b:0;" may return false) / session_decode() returned true. output: serialize() of the value, or session_encode() under the same handler (null: rejected, or session_encode() returned false). spec: what shared/spec/codeigniter-and-native.md says (null: nothing). The table was computed with the classes in "prelude" defined.',
        'prelude' => PRELUDE,
        'cases' => $rows,
    ], JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE) . "\n");
    $tsv = "name\tmode\taccepted\tinput\toutput\terrors\n";
    foreach ($rows as $r) {
        $tsv .= implode("\t", [
            $r['name'], $r['mode'], $r['accepted'] ? 'yes' : 'no',
            $r['input'] ?? '(' . (strlen($r['input_hex']) / 2) . ' bytes, see cases.json)',
            $r['output'] ?? ($r['output_hex'] === null ? '-' : '(' . (strlen($r['output_hex']) / 2) . ' bytes, see cases.json)'),
            str_replace(["\t", "\n"], ' ', implode(' | ', $r['errors'])),
        ]) . "\n";
    }
    put("$out/invalid/cases.tsv", $tsv);

    $acc = count(array_filter($rows, static fn ($r) => $r['accepted']));
    progress(sprintf('%d cases, %d invalid-table rows (%d accepted, %d rejected)', count($manifest), count($rows), $acc, count($rows) - $acc));
    foreach ($mismatch as $m) {
        progress("SPEC MISMATCH $m");
    }
    if ($compileWarnings) {
        progress('compile-time warnings (expected): ' . implode('; ', $compileWarnings));
    }
}
