package session

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
)

// sidAlphabet is PHP's bin_to_readable alphabet: session.sid_bits_per_character
// 4 uses its first 16 characters ([0-9a-f]), 5 its first 32 ([0-9a-v]) and
// 6 all 64 ([0-9a-zA-Z,-]).
const sidAlphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ,-"

// PHP's defaults and limits for session.sid_length and
// session.sid_bits_per_character.
const (
	DefaultSIDLength = 32
	DefaultSIDBits   = 4
	minSIDLength     = 22
	maxSIDLength     = 256
)

// CheckIDFormat reports whether length and bits are values PHP accepts for
// session.sid_length (22 to 256) and session.sid_bits_per_character (4, 5
// or 6).
func CheckIDFormat(length, bits int) error {
	if length < minSIDLength || length > maxSIDLength {
		return fmt.Errorf("session id length %d: PHP allows %d to %d", length, minSIDLength, maxSIDLength)
	}
	if bits < 4 || bits > 6 {
		return fmt.Errorf("session id bits per character %d: PHP allows 4, 5 or 6", bits)
	}
	return nil
}

// NewID returns a new random session id as PHP's php_session_create_id makes
// one: length characters (session.sid_length) of the alphabet of bits bits
// per character (session.sid_bits_per_character: 4 is [0-9a-f], 5 is
// [0-9a-v], 6 is [0-9a-zA-Z,-]), from crypto/rand.
func NewID(length, bits int) (string, error) {
	if err := CheckIDFormat(length, bits); err != nil {
		return "", err
	}
	buf := make([]byte, length)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("new session id: %w", err)
	}
	mask := byte(1)<<bits - 1
	for i, b := range buf {
		buf[i] = sidAlphabet[b&mask]
	}
	return string(buf), nil
}

// IDPattern returns the regular expression that matches exactly the ids
// NewID(length, bits) makes, anchored: the rule CodeIgniter applies to its
// cookie, and a good --id-pattern for any layout whose PHP side uses these
// settings (Debian's php.ini: 26 characters, 5 bits: ^[0-9a-v]{26}$).
func IDPattern(length, bits int) (*regexp.Regexp, error) {
	if err := CheckIDFormat(length, bits); err != nil {
		return nil, err
	}
	class := map[int]string{4: "[0-9a-f]", 5: "[0-9a-v]", 6: "[0-9a-zA-Z,-]"}[bits]
	return regexp.MustCompile(fmt.Sprintf(`^%s{%d}$`, class, length)), nil
}

// shortHash is the first 12 hex digits of SHA-256: enough to tell sessions
// apart in logs, nothing to find the id by.
func shortHash(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:6])
}
