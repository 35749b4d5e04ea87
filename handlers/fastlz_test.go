package handlers

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// phpFastLZHello is what php-memcached 3.2.0 stored for
// str_repeat("hello world ", 400) with compression_type fastlz: a 4-byte
// little-endian length (4800) and a level-1 FastLZ block.
const phpFastLZHello = "c01200000b68656c6c6f20776f726c6420e0fd0be0fd0be0fd0be0fd0be0fd0be0fd0be0fd0be0fd0be0fd0be0fd0be0fd0be0fd0be0fd0be0fd0be0fd0be0fd0be0fd0be0fd0be03c0b026c6420"

func TestFastLZPHPVector(t *testing.T) {
	raw, err := hex.DecodeString(phpFastLZHello)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint32(raw)
	got, err := fastlzDecompress(raw[4:], int(n))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("hello world ", 400); string(got) != want {
		t.Fatalf("decoded %d bytes %.40q..., want %d bytes", len(got), got, len(want))
	}
}

func TestFastLZHandMade(t *testing.T) {
	lit := func(level byte, b []byte) []byte { // one literal run of up to 32 bytes
		return append([]byte{byte(len(b)-1) | (level-1)<<5}, b...)
	}
	long := make([]byte, 0, 9024)
	var stream2 []byte
	for i := range 282 {
		chunk := bytes.Repeat([]byte{byte('A' + i%26)}, 32)
		chunk[0] = byte(i)
		long = append(long, chunk...)
		if i == 0 {
			stream2 = append(stream2, lit(2, chunk)...)
		} else {
			stream2 = append(stream2, lit(1, chunk)...)
		}
	}
	// 5 bytes from the very start: distance 9023 = 8191 + 832, a level-2
	// 16-bit distance (0x0340), length 5 (3<<5), high bits 31, low byte 255.
	stream2 = append(stream2, 0x7f, 0xff, 0x03, 0x40)
	wantLong := append(bytes.Clone(long), long[:5]...)

	// level 2 length extension: 7<<5 plus 255, 255, 10 = 6+520+3 = 529 bytes
	ext2 := append(lit(2, []byte("xy")), 0xe0, 255, 255, 10, 1)
	wantExt2 := "xy" + strings.Repeat("xy", 529/2) + "x"

	for _, tc := range []struct {
		name string
		src  []byte
		want string
	}{
		{"level1 literal", []byte{0x02, 'a', 'b', 'c'}, "abc"},
		{"level1 overlap", []byte{0x02, 'a', 'b', 'c', 0xe0, 0x00, 0x02}, "abcabcabcabc"},
		{"level1 run", []byte{0x00, 'z', 0x20, 0x00}, "zzzz"},
		{"level1 two literal runs", []byte{0x00, 'a', 0x01, 'b', 'c'}, "abc"},
		{"level2 overlap", []byte{0x22, 'a', 'b', 'c', 0xe0, 0x00, 0x02}, "abcabcabcabc"},
		{"level2 long length", ext2, wantExt2},
		{"level2 16-bit distance", stream2, string(wantLong)},
	} {
		got, err := fastlzDecompress(tc.src, len(tc.want))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if string(got) != tc.want {
			t.Errorf("%s: got %d bytes %.60q, want %d bytes %.60q", tc.name, len(got), got, len(tc.want), tc.want)
		}
	}
}

func TestFastLZCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name   string
		src    []byte
		maxOut int
	}{
		{"empty", nil, 10},
		{"level 3", []byte{0x40, 'a'}, 10},
		{"truncated literal", []byte{0x05, 'a', 'b'}, 10},
		{"match before start", []byte{0x00, 'a', 0x20, 0x05}, 10},
		{"truncated distance", []byte{0x00, 'a', 0x20}, 10},
		{"truncated length", []byte{0x00, 'a', 0xe0}, 10},
		{"level2 truncated long distance", []byte{0x20, 'a', 0x7f, 0xff, 0x01}, 10},
		{"output too long", []byte{0x02, 'a', 'b', 'c', 0xe0, 0x00, 0x02}, 11},
		{"literal too long", []byte{0x02, 'a', 'b', 'c'}, 2},
	} {
		if got, err := fastlzDecompress(tc.src, tc.maxOut); !errors.Is(err, errFastLZCorrupt) {
			t.Errorf("%s: got %q, %v; want errFastLZCorrupt", tc.name, got, err)
		}
	}
}

// FuzzFastLZ checks that no input makes the decoder panic or exceed its
// output bound.
func FuzzFastLZ(f *testing.F) {
	raw, _ := hex.DecodeString(phpFastLZHello)
	f.Add(raw[4:], 4800)
	f.Add([]byte{0x22, 'a', 'b', 'c', 0xe0, 0x00, 0x02}, 12)
	f.Add([]byte{0x20, 'a', 0x7f, 0xff, 0x00, 0x00}, 100)
	f.Fuzz(func(t *testing.T, src []byte, maxOut int) {
		if maxOut < 0 || maxOut > 1<<20 {
			return
		}
		out, err := fastlzDecompress(src, maxOut)
		if err == nil && len(out) > maxOut {
			t.Fatalf("%d bytes out, bound %d", len(out), maxOut)
		}
	})
}
