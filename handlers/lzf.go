package handlers

import (
	"errors"
	"fmt"
)

// LZF, for phpredis' redis.session.compression=lzf (redis_compress.go).
//
// The block format (Marc Lehmann's liblzf, which phpredis bundles): a
// sequence of instructions, each starting with a control byte c:
//
//   - c < 32: a literal run of c+1 bytes follows.
//   - c >= 32: a back reference. len = c>>5 (1..7); if len == 7 one more
//     byte is added to it. Then the distance low byte; the distance high
//     bits are c&31. The match copies len+2 bytes (3 to 264) from
//     distance+1 bytes back (1 to 8192), byte by byte, so it may overlap
//     the bytes it produces.
//
// There is no header, length or checksum. liblzf's compressor always starts
// with a literal run, and ends a literal run shorter than 32 bytes only with
// a back reference or the end of its output (lzfLiblzfShaped).

var (
	// errLZFCorrupt reports an LZF block that cannot be decoded.
	errLZFCorrupt = errors.New("corrupt LZF data")
	// errLZFTruncated reports an LZF block that ends inside an instruction.
	errLZFTruncated = fmt.Errorf("%w: truncated", errLZFCorrupt)
	// errLZFTooLong reports an LZF block that decodes past its bound.
	errLZFTooLong = fmt.Errorf("%w: output too long", errLZFCorrupt)
)

// lzfMaxDistance and lzfMaxMatch are liblzf's MAX_OFF and MAX_REF; lzfMaxLit
// is MAX_LIT.
const (
	lzfMaxDistance = 1 << 13
	lzfMaxMatch    = 7 + 255 + 2
	lzfMaxLit      = 32
)

// lzfDecompress decodes an LZF block whose decoded size is at most maxOut
// bytes. It never reads or writes out of bounds, whatever the input; the
// errors wrap errLZFTruncated, errLZFTooLong or errLZFCorrupt. The empty
// block decodes to nothing.
func lzfDecompress(src []byte, maxOut int) ([]byte, error) {
	// Grow towards the bound as the data really decodes.
	out := make([]byte, 0, min(maxOut, 4*len(src)+64))
	for ip := 0; ip < len(src); {
		ctrl := int(src[ip])
		ip++
		if ctrl < 32 {
			n := ctrl + 1
			if ip+n > len(src) {
				return nil, fmt.Errorf("%w literal run at byte %d", errLZFTruncated, ip-1)
			}
			if len(out)+n > maxOut {
				return nil, fmt.Errorf("%w: more than %d bytes", errLZFTooLong, maxOut)
			}
			out = append(out, src[ip:ip+n]...)
			ip += n
			continue
		}
		at := ip - 1
		n := ctrl >> 5
		if n == 7 {
			if ip >= len(src) {
				return nil, fmt.Errorf("%w back reference at byte %d", errLZFTruncated, at)
			}
			n += int(src[ip])
			ip++
		}
		if ip >= len(src) {
			return nil, fmt.Errorf("%w back reference at byte %d", errLZFTruncated, at)
		}
		n += 2
		ref := len(out) - (ctrl&31)<<8 - int(src[ip]) - 1
		ip++
		if ref < 0 {
			return nil, fmt.Errorf("%w: back reference at byte %d before the start of the output", errLZFCorrupt, at)
		}
		if len(out)+n > maxOut {
			return nil, fmt.Errorf("%w: more than %d bytes", errLZFTooLong, maxOut)
		}
		out = lzAppendMatch(out, ref, n)
	}
	return out, nil
}

// lzAppendMatch appends to out the n bytes of out that start at ref, a
// back reference of LZ77 formats (LZF, FastLZ): byte by byte where the
// match overlaps the bytes it produces, which it then repeats.
func lzAppendMatch(out []byte, ref, n int) []byte {
	if ref+n <= len(out) {
		return append(out, out[ref:ref+n]...)
	}
	for i := range n {
		out = append(out, out[ref+i])
	}
	return out
}

// lzfLiblzfShaped reports whether src, as far as its instructions go, is
// shaped as liblzf's output: it starts with a literal run, and no literal
// run shorter than lzfMaxLit bytes is followed by another literal run.
// Uncompressed session data mostly is not: the php serializer's first byte
// is a key's first character (a back reference that points before the
// start), igbinary's is 0x00 0x00 0x00 (two 1-byte literal runs in a row).
func lzfLiblzfShaped(src []byte) bool {
	if len(src) == 0 || src[0] >= 32 {
		return false
	}
	short := false // the last instruction was a literal run shorter than lzfMaxLit
	for ip := 0; ip < len(src); {
		ctrl := src[ip]
		ip++
		if ctrl < 32 {
			if short {
				return false
			}
			short = int(ctrl)+1 < lzfMaxLit
			ip += int(ctrl) + 1
			continue
		}
		short = false
		if ctrl>>5 == 7 {
			ip++
		}
		ip++
	}
	return true
}

// lzfHashBits sizes lzfCompress' table of recent 3-byte sequences.
const lzfHashBits = 14

// lzfCompress encodes src (non-empty) as one LZF block that liblzf's
// lzf_decompress, and so phpredis, reads back; its output is shaped as
// liblzf's (lzfLiblzfShaped). Greedy: at each position, the last earlier
// position with the same 3 bytes, if close enough, gives the longest
// match there. Incompressible data grows by 1 byte in 32.
func lzfCompress(src []byte) []byte {
	out := make([]byte, 0, len(src)+len(src)/lzfMaxLit+1)
	var table [1 << lzfHashBits]int32 // position+1 of the last sequence with that hash
	lit := 0                          // start of the literals not yet written
	for i := 0; i+2 < len(src); {
		v := uint32(src[i])<<16 | uint32(src[i+1])<<8 | uint32(src[i+2])
		h := (v * 2654435761) >> (32 - lzfHashBits)
		cand := int(table[h]) - 1
		table[h] = int32(i + 1)
		if cand < 0 || i-cand > lzfMaxDistance || src[cand] != src[i] || src[cand+1] != src[i+1] || src[cand+2] != src[i+2] {
			i++
			continue
		}
		n := 3
		for n < lzfMaxMatch && i+n < len(src) && src[cand+n] == src[i+n] {
			n++
		}
		out = lzfLiterals(out, src[lit:i])
		dist := i - cand - 1
		if l := n - 2; l < 7 {
			out = append(out, byte(l<<5|dist>>8), byte(dist))
		} else {
			out = append(out, byte(7<<5|dist>>8), byte(l-7), byte(dist))
		}
		i += n
		lit = i
	}
	return lzfLiterals(out, src[lit:])
}

// lzfLiterals appends b as literal runs of at most lzfMaxLit bytes.
func lzfLiterals(out, b []byte) []byte {
	for len(b) > 0 {
		n := min(len(b), lzfMaxLit)
		out = append(out, byte(n-1))
		out = append(out, b[:n]...)
		b = b[n:]
	}
	return out
}
