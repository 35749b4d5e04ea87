package handlers

import (
	"errors"
	"fmt"
)

// FastLZ decompression, for values php-memcached's Memcached class stored
// with Memcached::OPT_COMPRESSION and the default compression_type fastlz
// (the CodeIgniter memcached drivers go through that class).
//
// The block format (Ariya Hidayat's FastLZ, bundled in php-memcached): the
// top 3 bits of the first byte give the level (0 = level 1, 1 = level 2;
// fastlz_compress picks level 2 for inputs of 64 KiB or more). The stream is
// a sequence of instructions, each starting with a control byte c:
//
//   - c < 32: a literal run of c+1 bytes follows.
//   - c >= 32: a back reference. len = c>>5 (1..7), distance high bits
//     c&31. If len == 7 more length bytes follow (level 1: one byte; level
//     2: bytes summed while they are 255). Then the distance low byte. The
//     match copies len+2 bytes from distance+1 bytes back (byte by byte, so
//     it may overlap the bytes it produces). Level 2 only: a low byte of 255
//     with high bits 31 is followed by a 16-bit big-endian distance d, and
//     the match starts d+8192 bytes back.
//
// The first instruction is always a literal run; its control byte carries
// the level bits, which are masked off.

// errFastLZCorrupt reports a FastLZ stream that cannot be decoded.
var errFastLZCorrupt = errors.New("corrupt FastLZ data")

// fastlzMaxL2Distance is MAX_L2_DISTANCE of fastlz.c.
const fastlzMaxL2Distance = 8191

// fastlzDecompress decodes a FastLZ block whose decoded size is at most
// maxOut bytes (php-memcached stores the exact size in a 4-byte header in
// front of the block). It never reads or writes out of bounds, whatever the
// input.
func fastlzDecompress(src []byte, maxOut int) ([]byte, error) {
	if len(src) == 0 {
		return nil, fmt.Errorf("%w: empty input", errFastLZCorrupt)
	}
	level := src[0]>>5 + 1
	if level != 1 && level != 2 {
		return nil, fmt.Errorf("%w: unknown level %d", errFastLZCorrupt, level)
	}
	// A corrupt header can claim a huge size: grow towards it as the data
	// really decodes.
	out := make([]byte, 0, min(maxOut, 16*len(src)+64))
	ip := 1
	ctrl := int(src[0] & 31)
	for {
		if ctrl >= 32 {
			n := ctrl>>5 - 1
			dist := (ctrl & 31) << 8
			if n == 6 {
				if level == 1 {
					if ip >= len(src) {
						return nil, fmt.Errorf("%w: truncated match length", errFastLZCorrupt)
					}
					n += int(src[ip])
					ip++
				} else {
					for {
						if ip >= len(src) {
							return nil, fmt.Errorf("%w: truncated match length", errFastLZCorrupt)
						}
						code := src[ip]
						ip++
						n += int(code)
						if code != 255 {
							break
						}
					}
				}
			}
			if ip >= len(src) {
				return nil, fmt.Errorf("%w: truncated match distance", errFastLZCorrupt)
			}
			code := int(src[ip])
			ip++
			dist += code
			n += 3
			if level == 2 && code == 255 && dist == 31<<8+255 {
				if ip+1 >= len(src) {
					return nil, fmt.Errorf("%w: truncated long match distance", errFastLZCorrupt)
				}
				dist = int(src[ip])<<8 | int(src[ip+1])
				dist += fastlzMaxL2Distance
				ip += 2
			}
			ref := len(out) - dist - 1
			if ref < 0 {
				return nil, fmt.Errorf("%w: match before the start of the output", errFastLZCorrupt)
			}
			if len(out)+n > maxOut {
				return nil, fmt.Errorf("%w: output longer than %d bytes", errFastLZCorrupt, maxOut)
			}
			out = lzAppendMatch(out, ref, n)
		} else {
			n := ctrl + 1
			if ip+n > len(src) {
				return nil, fmt.Errorf("%w: truncated literal run", errFastLZCorrupt)
			}
			if len(out)+n > maxOut {
				return nil, fmt.Errorf("%w: output longer than %d bytes", errFastLZCorrupt, maxOut)
			}
			out = append(out, src[ip:ip+n]...)
			ip += n
		}
		if ip >= len(src) {
			break
		}
		ctrl = int(src[ip])
		ip++
	}
	return out, nil
}
