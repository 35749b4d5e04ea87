package handlers_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/handlers/storetest"
	"github.com/phpsess/phpsess/internal/testenv"
)

// compressDB is the Redis database of these tests.
const compressDB = "13"

// compressPHP is phpredis 6's session handler with
// redis.session.compression=lzf|lz4, played by phpredis 5.3.7 (PHP 8.2 here),
// which has the codecs but not that INI: phpredis 6's PS_READ is GET, then
// redis_uncompress (the payload taken as is when that fails); its PS_WRITE
// is redis_compress, then SETEX. Redis::OPT_COMPRESSION runs those same two
// functions of library.c on GET and SETEX, so this user handler stores and
// reads exactly what phpredis 6's does. It prints what read() got and what
// write() was given.
const compressPHP = `<?php
[, $addr, $db, $comp, $id, $mode] = $argv;
$const = 'Redis::COMPRESSION_' . strtoupper($comp);
if (!defined($const)) {
    echo json_encode(['error' => "phpredis was built without $comp (php --ri redis: Available compression)"]);
    exit;
}
[$host, $port] = explode(':', $addr);
$r = new Redis();
$r->connect($host, (int)$port);
$r->select((int)$db);
$r->setOption(Redis::OPT_COMPRESSION, constant($const));
$r->setOption(Redis::OPT_COMPRESSION_LEVEL, 3); // redis.session.compression_level's default

final class H implements SessionHandlerInterface {
    public string $read = '';
    public string $wrote = '';
    public function __construct(private Redis $r) {}
    public function open(string $path, string $name): bool { return true; }
    public function close(): bool { return true; }
    public function read(string $id): string|false {
        $v = $this->r->get('PHPREDIS_SESSION:' . $id);
        return $this->read = ($v === false ? '' : $v);
    }
    public function write(string $id, string $data): bool {
        $this->wrote = $data;
        return $this->r->setex('PHPREDIS_SESSION:' . $id, 1000, $data);
    }
    public function destroy(string $id): bool { $this->r->del('PHPREDIS_SESSION:' . $id); return true; }
    public function gc(int $max): int|false { return 0; }
}

$h = new H($r);
session_set_save_handler($h, true);
ini_set('session.use_strict_mode', '0');
ini_set('session.use_cookies', '0');
ini_set('session.serialize_handler', 'php');
session_id($id);
session_start();
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
if ($mode === 'big') {
    // over 64 KiB, past LZ4's 64 KiB window and LZF's 8 KiB: repetitive
    // text, and md5 output that does not compress
    $s = '';
    $x = $id;
    for ($i = 0; strlen($s) < 90000; $i++) {
        $x = md5($x, true);
        $s .= $x . str_repeat(chr(65 + $i % 26), $i % 40) . bin2hex($x);
    }
    $_SESSION['big'] = $s;
    $_SESSION['text'] = str_repeat('lorem ipsum dolor sit amet ', 3000);
}
session_write_close();
echo json_encode(['n' => $_SESSION['n'], 'read' => base64_encode($h->read), 'wrote' => base64_encode($h->wrote)]);
`

// compressRun is what one compressPHP request reports.
type compressRun struct {
	Error string
	N     int
	Read  []byte // what phpredis' read gave the session module
	Wrote []byte // what the session module gave phpredis' write
}

// compressPHPRunner runs compressPHP against Redis at addr with codec.
func compressPHPRunner(t *testing.T, addr, codec string) func(id, mode string) compressRun {
	php := testenv.PHP(t)
	script := filepath.Join(t.TempDir(), "session.php")
	if err := os.WriteFile(script, []byte(compressPHP), 0o644); err != nil {
		t.Fatal(err)
	}
	return func(id, mode string) compressRun {
		t.Helper()
		cmd := exec.CommandContext(tctx(t), php, "-d", "display_errors=stderr", script, addr, compressDB, codec, id, mode)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("php: %v\n%s%s", err, out, stderr.Bytes())
		}
		var r compressRun
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("php said %q (%v)\n%s", out, err, stderr.Bytes())
		}
		if r.Error != "" {
			t.Fatalf("php: %s: install Debian's php8.2-redis (scripts/install-deps.sh), built with lzf, zstd and lz4", r.Error)
		}
		return r
	}
}

// compressCheckStored checks that a raw value is data compressed the way
// phpredis compresses with codec.
func compressCheckStored(t *testing.T, codec string, stored, data []byte) {
	t.Helper()
	if bytes.Equal(stored, data) || len(stored) == 0 {
		t.Fatalf("stored %d bytes %.40q uncompressed", len(stored), stored)
	}
	switch codec {
	case "lzf": // liblzf starts with a literal run
		if stored[0] >= 32 {
			t.Errorf("LZF payload starts with %#x, not a literal run", stored[0])
		}
	case "lz4": // the int32 length, little-endian, after the CRC-8 byte
		if n := binary.LittleEndian.Uint32(stored[1:5]); int(n) != len(data) {
			t.Errorf("LZ4 header length %d, want %d", n, len(data))
		}
	}
}

// TestCompressPHP: with redis.session.compression=lzf and lz4, PHP writes
// sessions, small and over 64 KiB, and Go reads them byte for byte; Go
// writes, by every write path, and PHP reads that byte for byte and goes on.
func TestCompressPHP(t *testing.T) {
	t.Parallel()
	addr := testenv.Redis(t)
	for _, codec := range []string{"lzf", "lz4"} {
		t.Run(codec, func(t *testing.T) {
			t.Parallel()
			ctx := tctx(t)
			run := compressPHPRunner(t, addr, codec)
			raw := rawRedis(t, addr, 13)
			s := openStore(t, "redis://"+addr+"/"+compressDB+"?compression="+codec+"&ttl=1000")
			key := func(id string) string { return "PHPREDIS_SESSION:" + id }

			// PHP writes; Go reads what PHP's session module wrote
			var ids []string
			var wrote [][]byte
			for _, mode := range []string{"small", "big", "small", "big"} {
				id := storetest.NewID()
				r := run(id, mode)
				if mode == "big" && len(r.Wrote) <= 64<<10 {
					t.Fatalf("PHP's big session is only %d bytes", len(r.Wrote))
				}
				compressCheckStored(t, codec, redisMustGet(t, raw, key(id)), r.Wrote)
				rec, err := s.Read(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(rec.Data, r.Wrote) {
					t.Fatalf("%s: Go read %d bytes %.60q, PHP wrote %d bytes %.60q", mode, len(rec.Data), rec.Data, len(r.Wrote), r.Wrote)
				}
				ids = append(ids, id)
				wrote = append(wrote, r.Wrote)
			}
			recs, err := s.(handlers.BatchReader).ReadBatch(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			for i, rec := range recs {
				if rec == nil || !bytes.Equal(rec.Data, wrote[i]) {
					t.Errorf("ReadBatch[%d] differs from what PHP wrote", i)
				}
			}

			// Go writes (Write, WriteBatch, Write under the lock); PHP reads
			// exactly that, and goes on
			big := append(redisCounter(9), fmt.Sprintf(`big|s:%d:"%s";`, len(wrote[1]), wrote[1])...)
			locked := openStore(t, "redis://"+addr+"/"+compressDB+"?compression="+codec+"&ttl=1000&lock=on")
			for _, tc := range []struct {
				name  string
				data  []byte
				write func(id string, data []byte) error
			}{
				{"Write", redisCounter(41), func(id string, data []byte) error {
					return s.Write(ctx, &handlers.Record{ID: id, Data: data})
				}},
				{"Write big", big, func(id string, data []byte) error {
					return s.Write(ctx, &handlers.Record{ID: id, Data: data})
				}},
				{"WriteBatch", redisCounter(41), func(id string, data []byte) error {
					return s.(handlers.BatchWriter).WriteBatch(ctx, []*handlers.Record{{ID: id, Data: data}})
				}},
				{"Write with lock=on", big, func(id string, data []byte) error {
					return locked.Write(ctx, &handlers.Record{ID: id, Data: data})
				}},
			} {
				id := storetest.NewID()
				if err := tc.write(id, tc.data); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				compressCheckStored(t, codec, redisMustGet(t, raw, key(id)), tc.data)
				r := run(id, "small")
				if !bytes.Equal(r.Read, tc.data) {
					t.Fatalf("%s: PHP read %d bytes %.60q, Go wrote %d bytes", tc.name, len(r.Read), r.Read, len(tc.data))
				}
				want := 42
				if len(tc.data) > 100 {
					want = 10
				}
				if r.N != want {
					t.Fatalf("%s: PHP's n = %d, want %d", tc.name, r.N, want)
				}
				if rec, err := s.Read(ctx, id); err != nil || !bytes.Equal(rec.Data, r.Wrote) {
					t.Fatalf("%s: Go re-read %v, %v", tc.name, rec, err)
				}
			}

			// an empty session is stored empty, as phpredis does
			id := storetest.NewID()
			if err := s.Write(ctx, &handlers.Record{ID: id, Data: nil}); err != nil {
				t.Fatal(err)
			}
			if got := redisMustGet(t, raw, key(id)); len(got) != 0 {
				t.Errorf("empty session stored as %q", got)
			}
			if r := run(id, "small"); len(r.Read) != 0 || r.N != 1 {
				t.Errorf("PHP on Go's empty session: %+v", r)
			}
		})
	}
}

// TestCompressHostile: payloads phpredis takes as they are read as they are;
// damaged compressed payloads are an error that names the session, where
// phpredis would hand garbage to the session decoder.
func TestCompressHostile(t *testing.T) {
	t.Parallel()
	addr := testenv.Redis(t)
	ctx := tctx(t)
	raw := rawRedis(t, addr, 13)
	stores := map[string]handlers.Store{}
	runs := map[string]func(id, mode string) compressRun{}
	for _, codec := range []string{"lzf", "lz4"} {
		stores[codec] = openStore(t, "redis://"+addr+"/"+compressDB+"?compression="+codec)
		runs[codec] = compressPHPRunner(t, addr, codec)
	}
	set := func(payload []byte) string {
		id := storetest.NewID()
		if err := raw.Set(ctx, "PHPREDIS_SESSION:"+id, payload, 0).Err(); err != nil {
			t.Fatal(err)
		}
		return id
	}
	// asIs: Go and PHP both read payload unchanged
	asIs := func(codec, name string, payload []byte) {
		t.Helper()
		id := set(payload)
		if rec, err := stores[codec].Read(ctx, id); err != nil || !bytes.Equal(rec.Data, payload) {
			t.Errorf("%s %s: Go read %v, %v; want it as is", codec, name, rec, err)
		}
		if r := runs[codec](id, "read"); !bytes.Equal(r.Read, payload) {
			t.Errorf("%s %s: PHP read %x, want it as is", codec, name, r.Read)
		}
	}
	// refused: Go's read fails, naming the session and want
	refused := func(s handlers.Store, name string, payload []byte, want string) {
		t.Helper()
		id := set(payload)
		rec, err := s.Read(ctx, id)
		if err == nil || !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Read = %v, %v; want an error naming %s with %q", name, rec, err, id, want)
		}
	}

	// uncompressed sessions, as phpredis reads them: the php serializer's,
	// and igbinary's (its 00 00 00 02 header is LZF, but not as liblzf writes)
	igbinary := []byte("\x00\x00\x00\x02\x14\x01\x11\x01n\x06\x05")
	for _, codec := range []string{"lzf", "lz4"} {
		asIs(codec, "php serializer", redisCounter(5))
		asIs(codec, "igbinary", igbinary)
	}
	// LZ4: a header whose CRC-8 does not match is no header
	lz4Payload := func(data []byte) []byte {
		id := storetest.NewID()
		if err := stores["lz4"].Write(ctx, &handlers.Record{ID: id, Data: data}); err != nil {
			t.Fatal(err)
		}
		return redisMustGet(t, raw, "PHPREDIS_SESSION:"+id)
	}
	good := lz4Payload([]byte(strings.Repeat("n|i:5;", 1000)))
	badCRC := bytes.Clone(good)
	badCRC[0]++
	asIs("lz4", "bad CRC", badCRC)

	// LZF: PHP's own compressed session, cut short: inside an instruction it
	// is an error (phpredis would take the cut payload as is); cut between
	// two instructions it decodes to a prefix, in PHP as in Go
	id := storetest.NewID()
	full := runs["lzf"](id, "big").Wrote
	lzfFull := redisMustGet(t, raw, "PHPREDIS_SESSION:"+id)
	errs := 0
	for _, cut := range []int{1, 2, 3, 10, 33, 100, 1000, len(lzfFull) / 2, len(lzfFull) - 3, len(lzfFull) - 2, len(lzfFull) - 1} {
		id := set(lzfFull[:cut])
		rec, err := stores["lzf"].Read(ctx, id)
		switch {
		case err != nil && strings.Contains(err.Error(), id) && strings.Contains(err.Error(), "truncated"):
			errs++
		case err == nil && len(rec.Data) < len(full) && bytes.HasPrefix(full, rec.Data):
		default:
			t.Errorf("LZF cut to %d of %d bytes: %v, %v", cut, len(lzfFull), rec, err)
		}
	}
	if errs < 6 {
		t.Errorf("only %d cuts of PHP's LZF payload were refused", errs)
	}
	if r := runs["lzf"](set(lzfFull[:len(lzfFull)-1]), "read"); !bytes.Equal(r.Read, lzfFull[:len(lzfFull)-1]) {
		t.Errorf("phpredis did not take the cut LZF payload as is: %d bytes", len(r.Read))
	}
	// an LZF bomb: a 1-byte literal, then 264-byte matches of 3 bytes each,
	// over redisMaxPayload (64 MiB)
	bomb := append([]byte{0x00, 'a'}, bytes.Repeat([]byte{0xe0, 0xff, 0x00}, 260000)...)
	refused(stores["lzf"], "LZF bomb", bomb, "output too long")

	// LZ4, once the CRC-8 matches: every failure is an error
	withLen := func(p []byte, n uint32) []byte {
		p = bytes.Clone(p)
		binary.LittleEndian.PutUint32(p[1:5], n)
		p[0] = handlers.RedisLZ4CRC8(p[1:5])
		return p
	}
	refused(stores["lz4"], "LZ4 block cut short", good[:len(good)-3], "does not decompress")
	refused(stores["lz4"], "LZ4 header too long", withLen(good, 6001), "header says 6001")
	refused(stores["lz4"], "LZ4 header too short", withLen(good, 5999), "does not decompress")
	refused(stores["lz4"], "LZ4 header negative", withLen(good, 0xffffffff), "claims -1 bytes")
	refused(stores["lz4"], "LZ4 header huge", withLen(good, 1<<30), "claims 1073741824 bytes")
	refused(stores["lz4"], "LZ4 header past the block", withLen(good[:20], 1<<20), "more than its 15-byte block")
	refused(stores["lz4"], "LZ4 header, no block", withLen(good[:5], 12), "decompresses to 0 bytes")
	if r := runs["lz4"](set(withLen(good, 6001)), "read"); len(r.Read) != 6001 {
		t.Errorf("phpredis read %d bytes of an LZ4 payload whose header says 6001", len(r.Read))
	}

	// an LZ4 payload where the store has no compression=lz4
	plain := openStore(t, "redis://"+addr+"/"+compressDB)
	refused(plain, "LZ4 payload, compression=none", good, "compression=lz4")
	refused(stores["lzf"], "LZ4 payload, compression=lzf", good, "compression=lz4")
}
