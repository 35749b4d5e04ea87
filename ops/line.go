package ops

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/phpserialize"
)

// Line is one session in the dump format: one JSON object a line (JSONL),
// members in this order, optional ones left out when empty:
//
//	{"id":"k3j5...","ttl":1432,"modified":"2026-05-01T10:00:00Z","ip":"10.0.0.7","ref":"user-42",
//	 "handler":"php","data":{"user_id":42},"raw":"dXNlcl9pZHxpOjQyOw=="}
//
//	id        the session id (the cookie value)
//	ttl       remaining lifetime in whole seconds, rounded up; 0 means the
//	          session has expired (its store keeps it until a GC); absent
//	          when the store cannot say (load then gives the target store's
//	          default lifetime)
//	modified  last write, RFC 3339 in UTC, where the layout records it
//	ip        CodeIgniter's ip_address (and match_ip key part)
//	ref       DALMP's session reference
//	handler   the store's session.serialize_handler: the encoding of raw,
//	          and the numbering of the reference slots ($r, $R) in data
//	          (php_serialize counts its outer array as slot 1; load
//	          renumbers them for a store of another handler)
//	data      the session in the JSON form (README.md, "The JSON form")
//	raw       with dump --raw: the stored payload bytes, standard base64
type Line struct {
	ID       string
	TTL      time.Duration // remaining lifetime, when TTLKnown
	TTLKnown bool
	Modified time.Time
	IP, Ref  string
	Handler  phpserialize.Handler
	Data     []byte // the JSON form of the session
	Raw      []byte // the payload, or nil
}

// ErrExpired is returned by Line.Record for a line whose ttl says the
// session has expired.
var ErrExpired = errors.New("session expired (ttl 0)")

// LineFromRecord makes the dump line of a record read from a store whose
// payloads use handler h. The payload is decoded (an error if PHP could not
// decode it either); withRaw keeps the payload bytes too.
func LineFromRecord(rec *handlers.Record, h phpserialize.Handler, withRaw bool) (*Line, error) {
	sess, err := phpserialize.DecodeSession(h, rec.Data)
	if err != nil {
		return nil, err
	}
	l := &Line{ID: rec.ID, Modified: rec.Modified, IP: rec.Meta.IP, Ref: rec.Meta.Ref, Handler: h,
		Data: phpserialize.AppendSessionJSON(nil, sess)}
	switch {
	case rec.TTL > 0:
		l.TTL, l.TTLKnown = rec.TTL, true
	case !rec.Modified.IsZero():
		// The layout dates sessions and reports no time left: expired.
		l.TTLKnown = true
	}
	if withRaw {
		l.Raw = rec.Data
	}
	return l, nil
}

// ttlSeconds is the ttl member: whole seconds, rounded up.
func (l *Line) ttlSeconds() int64 {
	if l.TTL <= 0 {
		return 0
	}
	return int64((l.TTL + time.Second - 1) / time.Second)
}

// AppendJSON appends the line (without the newline) to dst.
func (l *Line) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, l.ID)
	if l.TTLKnown {
		dst = append(dst, `,"ttl":`...)
		dst = strconv.AppendInt(dst, l.ttlSeconds(), 10)
	}
	if !l.Modified.IsZero() {
		dst = append(dst, `,"modified":"`...)
		dst = l.Modified.UTC().AppendFormat(dst, time.RFC3339)
		dst = append(dst, '"')
	}
	if l.IP != "" {
		dst = append(dst, `,"ip":`...)
		dst = appendString(dst, l.IP)
	}
	if l.Ref != "" {
		dst = append(dst, `,"ref":`...)
		dst = appendString(dst, l.Ref)
	}
	dst = append(dst, `,"handler":`...)
	dst = appendString(dst, string(l.Handler))
	dst = append(dst, `,"data":`...)
	dst = append(dst, l.Data...)
	if l.Raw != nil {
		dst = append(dst, `,"raw":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, l.Raw)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

func appendString(dst []byte, s string) []byte {
	return phpserialize.AppendJSON(dst, phpserialize.String(s))
}

// lineJSON is the wire form ParseLine reads.
type lineJSON struct {
	ID       *string         `json:"id"`
	TTL      *float64        `json:"ttl"`
	Modified string          `json:"modified"`
	IP       string          `json:"ip"`
	Ref      string          `json:"ref"`
	Handler  string          `json:"handler"`
	Data     json.RawMessage `json:"data"`
	Raw      *string         `json:"raw"`
}

// ParseLine reads one dump line. Unknown members are an error, so that a
// misspelled member is not silently dropped.
func ParseLine(b []byte) (*Line, error) {
	var j lineJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("not a dump line: %w", err)
	}
	if dec.More() {
		return nil, errors.New("not a dump line: more than one JSON value")
	}
	if j.ID == nil || *j.ID == "" {
		return nil, errors.New(`no "id"`)
	}
	l := &Line{ID: *j.ID, IP: j.IP, Ref: j.Ref}
	if j.TTL != nil {
		l.TTLKnown = true
		if *j.TTL > 0 {
			l.TTL = time.Duration(*j.TTL * float64(time.Second))
		}
	}
	if j.Modified != "" {
		t, err := time.Parse(time.RFC3339, j.Modified)
		if err != nil {
			return nil, fmt.Errorf(`"modified": %w`, err)
		}
		l.Modified = t
	}
	l.Handler = phpserialize.HandlerPHP
	if j.Handler != "" {
		h, err := phpserialize.ParseHandler(j.Handler)
		if err != nil {
			return nil, fmt.Errorf(`"handler" %q: want php, php_binary or php_serialize`, j.Handler)
		}
		l.Handler = h
	}
	if len(j.Data) > 0 && string(j.Data) != "null" {
		l.Data = j.Data
	}
	if j.Raw != nil {
		raw, err := base64.StdEncoding.DecodeString(*j.Raw)
		if err != nil {
			return nil, fmt.Errorf(`"raw": %w`, err)
		}
		l.Raw = raw
	}
	if l.Data == nil && l.Raw == nil {
		return nil, errors.New(`neither "data" nor "raw"`)
	}
	return l, nil
}

// RawMode says when Line.Record writes the raw payload.
type RawMode uint8

const (
	// RawPrefer writes the raw payload when the line has one and its handler
	// is the target's, else encodes data.
	RawPrefer RawMode = iota
	// RawRequire writes only raw payloads: a line without one, or with
	// another handler than the target's, is an error.
	RawRequire
	// RawNever always encodes data with the target's handler.
	RawNever
)

// Record returns what to write into a store whose payloads use handler h:
// the raw payload (see RawMode) or data encoded with h, checked the way PHP
// would decode it, the lifetime from ttl (0, the store's default, when the
// line has none) and the ip and ref. A line whose ttl is 0 returns
// ErrExpired.
func (l *Line) Record(h phpserialize.Handler, mode RawMode) (*handlers.Record, error) {
	if l.TTLKnown && l.TTL <= 0 {
		return nil, ErrExpired
	}
	rec := &handlers.Record{ID: l.ID, TTL: l.TTL, Modified: l.Modified, Meta: handlers.Meta{IP: l.IP, Ref: l.Ref}}
	useRaw := mode != RawNever && l.Raw != nil && l.Handler == h
	if mode == RawRequire && !useRaw {
		if l.Raw == nil {
			return nil, errors.New(`no "raw" payload (dump with --raw)`)
		}
		return nil, fmt.Errorf("the raw payload is %s, the store's handler is %s: load without --raw to convert", l.Handler, h)
	}
	if useRaw {
		if err := phpserialize.ValidateSession(h, l.Raw); err != nil {
			return nil, fmt.Errorf("raw payload: not a valid %s session (PHP would destroy it): %w", h, err)
		}
		rec.Data = l.Raw
		return rec, nil
	}
	if l.Data == nil {
		return nil, fmt.Errorf(`no "data" to convert the %s raw payload from`, l.Handler)
	}
	sess, err := phpserialize.ParseSessionJSON(h, l.Data)
	if err != nil {
		return nil, fmt.Errorf(`"data": %w`, err)
	}
	if err := renumberRefs(sess, l.Handler, h); err != nil {
		return nil, err
	}
	data, err := phpserialize.EncodeSession(h, sess)
	if err != nil {
		return nil, err
	}
	rec.Data = data
	return rec, nil
}

// renumberRefs rewrites the slots of r: and R: references in a session
// whose JSON form was taken from an encoding "from", for encoding "to":
// php_serialize numbers its outer array as slot 1, so every value's slot is
// one more than in php and php_binary, which have no outer array.
func renumberRefs(sess *phpserialize.Array, from, to phpserialize.Handler) error {
	return phpserialize.RenumberSessionRefs(sess, from, to)
}
