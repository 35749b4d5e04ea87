package handlers

// The PHPSTR wrapper and payload checks shared by the layouts that store
// the session payload inside something else.
//
// Several framework adapters do not store the payload PHP hands them as it
// is, but PHP-serialized as a string ("PHPSTR"):
//
//	s:<decimal byte length>:"<payload bytes, verbatim>";
//
// (Phalcon 3 Memcache and Libmemcached, Phalcon 4 Redis through phpredis'
// SERIALIZER_PHP, Phalcon 5 Redis and Libmemcached, DALMP's Redis), while
// the next version of the same adapter may store the payload raw (Phalcon 4
// Libmemcached). Getting the form wrong loses the session: a PHP reader that
// expects the wrapper unserializes raw data to false and starts an empty
// session, which it then writes back; one that expects raw data hands the
// wrapper to session_decode(), which fails and destroys the session. So a
// wrapped layout's Read refuses raw data, a raw layout's Read refuses a
// wrapped payload, both with ErrLayoutMismatch and a message that says what
// was found, and Write always produces the layout's form.

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/phpsess/phpsess/phpserialize"
)

// ErrLayoutMismatch is returned by Read when the stored value is not in the
// form the layout stores (a raw payload where the layout wraps it as a PHP
// string, or the reverse): the store was most likely written by another
// version of the framework, whose PHP side would lose the session if it
// were handed these bytes. Nothing is returned and nothing is changed.
var ErrLayoutMismatch = errors.New("stored session is not in the layout's form")

// ErrNotText is returned by Write for a payload that the layout keeps as
// text (a utf8 TEXT column, a BSON string) and that is not valid text
// there: invalid UTF-8, or NUL or 4-byte characters where the column cannot
// hold them. The PHP side could not store it either (the server refuses
// it, or PHP's BSON encoder does), so nothing is written.
var ErrNotText = errors.New("session payload cannot be stored as text")

// phpstrEncode wraps payload as PHP's serialize() of a string does.
func phpstrEncode(payload []byte) []byte {
	b := make([]byte, 0, len(payload)+16)
	b = append(b, 's', ':')
	b = strconv.AppendInt(b, int64(len(payload)), 10)
	b = append(b, ':', '"')
	b = append(b, payload...)
	return append(b, '"', ';')
}

// phpstrDecode returns the payload of a value that is exactly one PHP
// serialized string: "s:", the byte length in decimal, ':"', that many
// bytes, '";', and nothing after. The length is in bytes and the content
// is not escaped, so the end is found by the length, never by searching
// for a quote.
func phpstrDecode(b []byte) ([]byte, error) {
	if !bytes.HasPrefix(b, []byte("s:")) {
		return nil, errors.New(`does not start with s:`)
	}
	i := 2
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == 2 || i-2 > 19 {
		return nil, errors.New("has no valid length after s:")
	}
	n, err := strconv.ParseInt(string(b[2:i]), 10, 64)
	if err != nil {
		return nil, errors.New("has no valid length after s:")
	}
	if !bytes.HasPrefix(b[i:], []byte(`:"`)) {
		return nil, errors.New(`has no :" after the length`)
	}
	start := i + 2
	if n > int64(len(b)-start) {
		return nil, fmt.Errorf("claims %d bytes but only %d follow", n, len(b)-start)
	}
	end := start + int(n)
	if !bytes.HasPrefix(b[end:], []byte(`";`)) {
		return nil, fmt.Errorf(`is not closed by "; after its %d bytes`, n)
	}
	if end+2 != len(b) {
		return nil, fmt.Errorf("has %d bytes after the serialized string", len(b)-end-2)
	}
	return b[start:end], nil
}

// payloadForm is how one layout keeps the payload: wrapped as a PHP string
// or raw. It names the layout and the layouts that use the other form, for
// the errors.
type payloadForm struct {
	layout  string               // "phalcon5"
	wrapped bool                 // PHPSTR, else RAW
	handler phpserialize.Handler // session.serialize_handler of the payloads
	other   string               // who stores the other form: "phalcon4"
}

// encode returns what the layout stores for payload.
func (f payloadForm) encode(payload []byte) []byte {
	if f.wrapped {
		return phpstrEncode(payload)
	}
	return payload
}

// decode returns the payload of a stored value, or an error wrapping
// ErrLayoutMismatch when the value is in the other form. An empty value
// is an empty session in every version (PHP reads it as "").
func (f payloadForm) decode(stored []byte) ([]byte, error) {
	if len(stored) == 0 {
		return stored, nil
	}
	if f.wrapped {
		p, err := phpstrDecode(stored)
		if err == nil {
			return p, nil
		}
		found := fmt.Sprintf("%d bytes that are not a PHP string (the value %v)", len(stored), err)
		if f.isSession(stored) {
			found = "raw session data"
		}
		return nil, fmt.Errorf(`%w: %s layout expects the payload wrapped as a PHP string (s:N:"...";) but found %s: is this a %s store? (PHP would read it as an empty session and write that back)`,
			ErrLayoutMismatch, f.layout, found, f.other)
	}
	// A raw payload that is also exactly one serialized string is taken as
	// the other form only if it is not a session in its own right (a php
	// handler key may be `s:8:"k`, however unlikely).
	if p, err := phpstrDecode(stored); err == nil && !f.isSession(stored) && (len(p) == 0 || f.isSession(p)) {
		return nil, fmt.Errorf(`%w: %s layout expects raw session data but found it wrapped as a PHP string (s:N:"...";): is this a %s store? (PHP's session_decode() would fail on it and destroy the session)`,
			ErrLayoutMismatch, f.layout, f.other)
	}
	return stored, nil
}

// isSession reports whether b decodes as a session in the store's handler.
func (f payloadForm) isSession(b []byte) bool {
	return phpserialize.ValidateSession(f.handler, b) == nil
}

// textRules is what a text column or BSON string can hold.
type textRules struct {
	what  string // "the utf8mb4 TEXT column data", "a BSON string"
	noNUL bool   // PostgreSQL text
	bmp   bool   // MySQL utf8 (utf8mb3): no 4-byte sequences
}

// check returns an error wrapping ErrNotText for a payload the text cannot
// hold. It names the offset, never the bytes.
func (r textRules) check(data []byte) error {
	for i := 0; i < len(data); {
		c, size := utf8.DecodeRune(data[i:])
		switch {
		case c == utf8.RuneError && size <= 1:
			return fmt.Errorf("%w: invalid UTF-8 at byte %d, which %s cannot hold", ErrNotText, i, r.what)
		case c == 0 && r.noNUL:
			return fmt.Errorf("%w: NUL byte at %d, which %s cannot hold", ErrNotText, i, r.what)
		case size == 4 && r.bmp:
			return fmt.Errorf("%w: 4-byte UTF-8 character at byte %d, which %s (utf8mb3) cannot hold", ErrNotText, i, r.what)
		}
		i += size
	}
	return nil
}
