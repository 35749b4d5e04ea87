package handlers

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// What phpredis 5.3.7 (Redis::OPT_COMPRESSION, the redis_compress that
// phpredis 6's session handler calls) stored for str_repeat("hello world ",
// 50): LZF with no header, and LZ4 behind its 5-byte header (CRC-8 0x9f of
// the little-endian length 600).
const (
	phpLZFHello = "0c68656c6c6f20776f726c642068e0ff0be1ff07e13007016420"
	phpLZ4Hello = "9f58020000cf68656c6c6f20776f726c64200c00ffff36506f726c6420"
)

// RedisLZ4CRC8 is crc8 for the tests of package handlers_test: the CRC-8
// byte of phpredis' LZ4 header.
func RedisLZ4CRC8(b []byte) byte { return crc8(b) }

func mustHex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCompressLZFPHPVector(t *testing.T) {
	raw := mustHex(t, phpLZFHello)
	want := strings.Repeat("hello world ", 50)
	got, err := lzfDecompress(raw, redisMaxPayload)
	if err != nil || string(got) != want {
		t.Fatalf("decoded %q, %v", got, err)
	}
	if !lzfLiblzfShaped(raw) {
		t.Error("phpredis' LZF is not liblzf-shaped")
	}
	if _, err := lzfDecompress(raw, len(want)-1); !errors.Is(err, errLZFTooLong) {
		t.Errorf("bound %d: %v", len(want)-1, err)
	}
}

func TestCompressLZFHandMade(t *testing.T) {
	long := make([]byte, 8300)
	for i := range long {
		long[i] = byte(i*7 + i/256)
	}
	far := lzfLiterals(nil, long)
	far = append(far, 0x3f, 0xff) // 3 bytes from 8192 back: ctrl 1<<5|31, low 255
	wantFar := append(bytes.Clone(long), long[len(long)-8192:len(long)-8192+3]...)
	for _, tc := range []struct {
		name string
		src  []byte
		want string
	}{
		{"empty", nil, ""},
		{"literal", []byte{0x02, 'a', 'b', 'c'}, "abc"},
		{"overlap", []byte{0x02, 'a', 'b', 'c', 0xe0, 0x00, 0x02}, "abcabcabcabc"},
		{"run", []byte{0x00, 'z', 0x20, 0x00}, "zzzz"},
		{"two literal runs", []byte{0x00, 'a', 0x01, 'b', 'c'}, "abc"},
		{"longest match", []byte{0x00, 'q', 0xe0, 0xff, 0x00}, strings.Repeat("q", 265)},
		{"farthest match", far, string(wantFar)},
	} {
		got, err := lzfDecompress(tc.src, len(tc.want))
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: got %d bytes %.40q, %v; want %d bytes", tc.name, len(got), got, err, len(tc.want))
		}
	}
}

func TestCompressLZFCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name   string
		src    []byte
		maxOut int
		want   error
	}{
		{"truncated literal", []byte{0x05, 'a', 'b'}, 10, errLZFTruncated},
		{"truncated distance", []byte{0x00, 'a', 0x20}, 10, errLZFTruncated},
		{"truncated length", []byte{0x00, 'a', 0xe0}, 10, errLZFTruncated},
		{"truncated distance after length", []byte{0x00, 'a', 0xe0, 0x01}, 10, errLZFTruncated},
		{"before the start", []byte{0x00, 'a', 0x20, 0x05}, 10, errLZFCorrupt},
		{"plain text", []byte("n|i:5;"), 100, errLZFCorrupt},
		{"match too long", []byte{0x02, 'a', 'b', 'c', 0xe0, 0x00, 0x02}, 11, errLZFTooLong},
		{"literal too long", []byte{0x02, 'a', 'b', 'c'}, 2, errLZFTooLong},
	} {
		if got, err := lzfDecompress(tc.src, tc.maxOut); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %q, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestCompressLZFShape(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  []byte
		want bool
	}{
		{"php serializer", []byte("n|i:5;"), false},
		{"igbinary", mustHex(t, "0000000214011101610601"), false},
		{"literal then match", []byte{0x00, 'z', 0x20, 0x00}, true},
		{"truncated literal", []byte{0x05, 'a'}, true},
		{"full literal then literal", lzfLiterals(nil, bytes.Repeat([]byte{'x'}, 40)), true},
		{"short literal then literal", []byte{0x00, 'a', 0x00, 'b'}, false},
		{"empty", nil, false},
	} {
		if got := lzfLiblzfShaped(tc.src); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCompressLZFRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	inputs := [][]byte{
		{'a'}, []byte("ab"), []byte("abc"), []byte("n|i:5;"),
		bytes.Repeat([]byte{0}, 100000),
		[]byte(strings.Repeat("hello world ", 9000)),
	}
	noise := make([]byte, 70000)
	for i := range noise {
		noise[i] = byte(r.IntN(256))
	}
	inputs = append(inputs, noise, append(bytes.Clone(noise[:9000]), noise[:9000]...))
	for _, in := range inputs {
		c := lzfCompress(in)
		if !lzfLiblzfShaped(c) {
			t.Errorf("%d bytes: compressed form not liblzf-shaped", len(in))
		}
		out, err := lzfDecompress(c, len(in))
		if err != nil || !bytes.Equal(out, in) {
			t.Errorf("%d bytes: round trip gave %d bytes, %v", len(in), len(out), err)
		}
		if len(c) > len(in)+len(in)/32+1 {
			t.Errorf("%d bytes compressed to %d", len(in), len(c))
		}
	}
}

func TestCompressLZ4(t *testing.T) {
	for n, want := range map[uint32]byte{12: 0xc5, 600: 0x9f} { // from phpredis
		b := []byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}
		if got := crc8(b); got != want {
			t.Errorf("crc8(%x) = %#x, want %#x", b, got, want)
		}
	}
	out, ok, err := lz4Undo(mustHex(t, phpLZ4Hello))
	if !ok || err != nil || string(out) != strings.Repeat("hello world ", 50) {
		t.Fatalf("phpredis' LZ4: %q, %v, %v", out, ok, err)
	}
	in := []byte(strings.Repeat("n|i:5;", 20000))
	if out, ok, err := lz4Undo(lz4Encode(in)); !ok || err != nil || !bytes.Equal(out, in) {
		t.Errorf("round trip: %d bytes, %v, %v", len(out), ok, err)
	}
}

// FuzzLZF checks that no input makes the LZF decoder panic or exceed its
// output bound, and that the compressor's output decodes back to its input.
func FuzzLZF(f *testing.F) {
	f.Add(mustHex(f, phpLZFHello), uint32(600))
	f.Add([]byte{0x02, 'a', 'b', 'c', 0xe0, 0x00, 0x02}, uint32(12))
	f.Add([]byte{0x00, 'q', 0xe0, 0xff, 0x00}, uint32(300))
	f.Add([]byte("n|i:5;"), uint32(100))
	f.Fuzz(func(t *testing.T, src []byte, bound uint32) {
		maxOut := int(bound % (1<<20 + 1)) // up to 1 MiB
		out, err := lzfDecompress(src, maxOut)
		if err == nil && len(out) > maxOut {
			t.Fatalf("%d bytes out, bound %d", len(out), maxOut)
		}
		if err != nil && !errors.Is(err, errLZFCorrupt) {
			t.Fatalf("error not wrapping errLZFCorrupt: %v", err)
		}
		if len(src) == 0 {
			return
		}
		c := lzfCompress(src)
		back, err := lzfDecompress(c, len(src))
		if err != nil || !bytes.Equal(back, src) || !lzfLiblzfShaped(c) {
			t.Fatalf("round trip of %x: %x, %v (shaped %v)", src, back, err, lzfLiblzfShaped(c))
		}
	})
}
