package handlers

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/pierrec/lz4/v4"
)

// phpredis' redis.session.compression=lzf and lz4 (phpredis 6; zstd is in
// redis.go). The session handler passes the session string through
// redis_compress on write and redis_uncompress on read (library.c), the same
// functions as the Redis class' OPT_COMPRESSION:
//
//   - lzf: the bare LZF block (liblzf's lzf_compress), no header. phpredis
//     reads by trying lzf_decompress into a buffer of twice the payload,
//     doubling it while the answer is E2BIG (too small); any other failure
//     and the payload is taken as it is.
//   - lz4: a 5-byte header, then one LZ4 block: byte 0 is a CRC-8 (polynomial
//     0x31, initial value 0xff, no reflection, no final xor) of bytes 1..4,
//     the original length as a native-endian (here: little-endian, as on
//     x86-64 and arm64) int32. phpredis reads a payload as LZ4 only if it
//     has the 5 bytes and the CRC matches; else, or if LZ4_decompress_safe
//     fails, the payload is taken as it is.
//
// Both write an empty session as "" (nothing to compress), and read "" as
// "". So phpredis reads an uncompressed payload as is, except by chance:
// one that happens to decode as LZF (igbinary and php_binary sessions start
// with bytes below 0x20, LZF literal runs; phpredis 5.3.7 turned 31 of 2000
// small igbinary sessions into garbage), or whose first byte happens to be
// the CRC-8 of the next four (1 in 256: the php-serialized "Z|i:1;" made it
// allocate the 825 MB those four bytes spell, a fatal error under any
// usual memory_limit). Go therefore compresses what it writes, as phpredis
// does, rather than relying on that.
//
// Go reads as phpredis does, with these differences, where phpredis would
// silently hand garbage to the session decoder (or fail fatally):
//
//   - lzf: a payload that decodes past redisMaxPayload is an error; so is
//     one that ends inside an instruction while it is shaped as liblzf's
//     output (see lzfLiblzfShaped): a truncated compressed session. Any
//     other failure to decode is an uncompressed payload, taken as is. LZF
//     has no length or checksum: a payload cut exactly between two
//     instructions decodes, to a prefix of the session, here as in PHP.
//   - lz4: once the CRC matches, every failure is an error: a length below
//     1 or above redisMaxPayload or more than the block could hold, a block
//     that does not decode, or one that decodes to another length than the
//     header's (phpredis returns the header's length then, padded with
//     whatever its buffer held).

// redisCodec is the store's compression= when lzf or lz4; "" otherwise.
type redisCodec string

const (
	redisCodecLZF redisCodec = "lzf"
	redisCodecLZ4 redisCodec = "lz4"
)

// undoCodec undoes the store's lzf or lz4 compression. done is false when
// the payload is not compressed that way (the caller goes on to the zstd
// check and takes it as is). A store not on lz4 refuses a payload that
// fully checks out as phpredis' LZ4, as it refuses zstd frames.
func (s *redisStore) undoCodec(b []byte) (out []byte, done bool, err error) {
	switch s.codec {
	case redisCodecLZF:
		if out, ok, err := lzfUndo(b); ok || err != nil {
			return out, true, err
		}
	case redisCodecLZ4:
		if out, ok, err := lz4Undo(b); ok || err != nil {
			return out, true, err
		}
	}
	if s.codec != redisCodecLZ4 {
		if _, ok, err := lz4Undo(b); ok && err == nil {
			return nil, true, errors.New("the payload is lz4-compressed (phpredis redis.session.compression=lz4): open the store with compression=lz4")
		}
	}
	return nil, false, nil
}

// compress applies the store's lzf or lz4 compression to a payload about
// to be written, as phpredis' redis_compress does; other payloads are
// returned unchanged.
func (s *redisStore) compress(b []byte) []byte {
	if len(b) == 0 {
		return b // phpredis stores an empty session uncompressed
	}
	switch s.codec {
	case redisCodecLZF:
		return lzfCompress(b)
	case redisCodecLZ4:
		if len(b) <= math.MaxInt32 {
			return lz4Encode(b)
		}
	}
	return b
}

// lzfUndo reads a payload as phpredis does with compression=lzf. ok is
// false for a payload taken as is.
func lzfUndo(b []byte) (out []byte, ok bool, err error) {
	if len(b) == 0 {
		return nil, false, nil
	}
	out, err = lzfDecompress(b, redisMaxPayload)
	switch {
	case err == nil:
		return out, true, nil
	case errors.Is(err, errLZFTooLong):
		return nil, false, fmt.Errorf("the lzf-compressed payload does not decompress: %w", err)
	case errors.Is(err, errLZFTruncated) && lzfLiblzfShaped(b):
		return nil, false, fmt.Errorf("the lzf-compressed payload (%d bytes) is truncated: %w", len(b), err)
	}
	return nil, false, nil
}

// lz4HeaderSize is phpredis' REDIS_LZ4_HDR_SIZE: the CRC-8 byte and the
// int32 length.
const lz4HeaderSize = 5

// lz4MaxRatio bounds what an LZ4 block can expand to (a little above the
// format's 255:1), so that a header claiming more than its block could
// hold is refused before anything is allocated.
const lz4MaxRatio = 256

// lz4Undo reads a payload as phpredis does with compression=lz4. ok is
// false for a payload taken as is.
func lz4Undo(b []byte) (out []byte, ok bool, err error) {
	if len(b) < lz4HeaderSize || crc8(b[1:lz4HeaderSize]) != b[0] {
		return nil, false, nil
	}
	n := int64(int32(binary.LittleEndian.Uint32(b[1:lz4HeaderSize])))
	block := b[lz4HeaderSize:]
	switch {
	case n < 1 || n > redisMaxPayload:
		return nil, false, fmt.Errorf("the lz4-compressed payload claims %d bytes, outside 1 to %d", n, redisMaxPayload)
	case n > int64(len(block))*lz4MaxRatio+16:
		return nil, false, fmt.Errorf("the lz4-compressed payload claims %d bytes, more than its %d-byte block can hold", n, len(block))
	}
	out = make([]byte, n)
	got, err := lz4.UncompressBlock(block, out)
	if err != nil {
		return nil, false, fmt.Errorf("the lz4-compressed payload does not decompress: %w", err)
	}
	if int64(got) != n {
		return nil, false, fmt.Errorf("the lz4-compressed payload decompresses to %d bytes, its header says %d", got, n)
	}
	return out, true, nil
}

// lz4Compressors are reused: a Compressor holds a hash table and is not
// safe for concurrent use.
var lz4Compressors = sync.Pool{New: func() any { return new(lz4.Compressor) }}

// lz4Encode makes phpredis' LZ4 payload of b (1 to MaxInt32 bytes).
func lz4Encode(b []byte) []byte {
	out := make([]byte, lz4HeaderSize+lz4.CompressBlockBound(len(b)))
	binary.LittleEndian.PutUint32(out[1:], uint32(len(b)))
	out[0] = crc8(out[1:lz4HeaderSize])
	c := lz4Compressors.Get().(*lz4.Compressor)
	n, err := c.CompressBlock(b, out[lz4HeaderSize:])
	lz4Compressors.Put(c)
	if err != nil || n == 0 {
		// cannot happen with a CompressBlockBound-sized buffer; phpredis
		// stores the session uncompressed when LZ4 fails
		return b
	}
	return out[:lz4HeaderSize+n]
}

// crc8 is phpredis' CRC-8 of the LZ4 header: polynomial 0x31, initial value
// 0xff, most significant bit first, no final xor.
func crc8(b []byte) byte {
	crc := byte(0xff)
	for _, c := range b {
		crc ^= c
		for range 8 {
			if crc&0x80 != 0 {
				crc = crc<<1 ^ 0x31
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
