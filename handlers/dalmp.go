package handlers

// The DALMP layout (nbari/DALMP 3.x, class DALMP\Sessions and its backends
// DALMP\Sessions\{Files,SQLite,MySQL,Memcache,Redis}), on five schemes:
//
//	file:///?layout=dalmp                               Files (see files_dalmp.go)
//	sqlite:///tmp/dalmp_sessions.db?layout=dalmp        SQLite (sql_dalmp.go, sql_sqlite.go)
//	mysql://user:pass@host/db?layout=dalmp              MySQL (sql_dalmp.go)
//	memcache://127.0.0.1:11211?layout=dalmp             Memcache (memcache_dalmp.go)
//	redis://127.0.0.1:6379?layout=dalmp                 Redis (redis_dalmp.go)
//
// What the backends share, and this file holds:
//
//   - The reference. DALMP's write() stores $GLOBALS[<ref name>] (UID by
//     default, DALMP_SESSIONS_REF) beside the session when that global is
//     set and not empty() in the request; else NULL (SQL) or nothing (the
//     cache backends, which then stop refreshing the index entry). Here the
//     reference is Record.Meta.Ref, and a Write with an empty Ref (or "0",
//     which PHP's empty() counts as empty) is exactly such a request.
//   - The cache keys. Memcache and Redis keep a session under
//     "DALMP_" + sha1(<ref name> + <id>) (DALMPCacheKey): the id cannot be
//     recovered from the key, so these stores cannot list sessions, and
//     their reference lookups name cache keys, not ids. Their reference
//     index is one more key, "DALMP_REF_" + sha1(<ref name> +
//     DALMP_SESSIONS_KEY), where DALMP_SESSIONS_KEY defaults to PHP's
//     __FILE__ of DALMP/Sessions/{Memcache,Redis}.php on the PHP host.
//   - The expiry: time() + session.gc_maxlifetime at every write (1440 s by
//     default here, Debian's php.ini), absolute in the SQL tables, a TTL in
//     the caches; none for Files.
//   - No locks: DALMP takes none. lock=on is refused; lock=off is accepted.
//   - The three reference methods, getSessionsRefs, getSessionRef and
//     delSessionRef: the Referencer interface below, which every DALMP store
//     but Files implements (DALMP's Files backend returns false from all
//     three).

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// dalmpLayout is the layout= name of DALMP's session backends.
const dalmpLayout = "dalmp"

// dalmpDefaults are DALMP's defaults: session.gc_maxlifetime of Debian's
// php.ini; no lock, so no lock timeout.
var dalmpDefaults = layoutDefaults{TTL: 1440 * time.Second}

// dalmpRefIndexTTL is the lifetime DALMP's Memcache and Redis backends give
// their reference index on every change (3600 s).
const dalmpRefIndexTTL = 3600 * time.Second

// RefEntry is one session that carries a DALMP reference.
type RefEntry struct {
	// Session names the session: its id in the SQL tables (SQLite, MySQL);
	// its cache key "DALMP_<sha1(ref name + id)>" for Memcache and Redis,
	// whose reference index keeps only the key (DALMPCacheKey makes the
	// key of an id).
	Session string
	// Ref is the reference, as DALMP stored it: the value of the PHP
	// global (in decimal for an int).
	Ref string
	// Expiry is the session's absolute expiry recorded with the reference:
	// the expiry column of the SQL tables, or the expiry of the last write
	// with a reference in the cache indexes. Zero when the index holds no
	// number there. An entry may be past its expiry: DALMP lists such
	// entries too.
	Expiry time.Time
}

// Referencer is a DALMP store that can find and delete sessions by their
// reference ($GLOBALS['UID'], Record.Meta.Ref). Its methods are DALMP's own
// three, with DALMP's semantics: the same queries on the same tables, the
// same reference index on the caches, the same comparison of references
// (SQL: the column's collation; caches: PHP's == between the stored and the
// asked reference). Entries past their expiry are included, as DALMP
// includes them.
type Referencer interface {
	// Refs calls fn with every session that carries a reference, as
	// getSessionsRefs() lists them. An error from fn stops the listing and
	// is returned.
	Refs(ctx context.Context, fn func(RefEntry) error) error
	// SessionRefs returns the sessions whose reference is ref, with their
	// expiry, as getSessionRef($ref) finds them.
	SessionRefs(ctx context.Context, ref string) ([]RefEntry, error)
	// SessionsByRef returns what SessionRefs returns, the sessions only:
	// ids for the SQL tables, cache keys for Memcache and Redis.
	SessionsByRef(ctx context.Context, ref string) ([]string, error)
	// DestroyRef deletes every session whose reference is ref, as
	// delSessionRef($ref) does, and returns how many it deleted.
	DestroyRef(ctx context.Context, ref string) (int, error)
}

// DALMPCacheKey returns the key under which DALMP's Memcache and Redis
// backends keep session id: "DALMP_" + sha1(refName + id) in lower-case
// hex. refName is the name of the reference global (DALMP_SESSIONS_REF,
// "UID" by default).
func DALMPCacheKey(refName, id string) string {
	return "DALMP_" + dalmpSHA1(refName+id)
}

// dalmpRefIndexKey is the key of the cache backends' reference index.
func dalmpRefIndexKey(refName, sessionsKey string) string {
	return "DALMP_REF_" + dalmpSHA1(refName+sessionsKey)
}

func dalmpSHA1(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// dalmpRef returns the reference a write stores: "" for none. Like
// DALMP's !empty($GLOBALS[...]), "0" counts as none.
func dalmpRef(ref string) string {
	if ref == "0" {
		return ""
	}
	return ref
}

// dalmpParseCommon applies DALMP's rules to the common options: there is
// no lock (lock=on and lock_timeout= are refused) and a lifetime is needed.
func dalmpParseCommon(o *options, c *common) {
	if given(o, "lock") && c.Lock {
		o.errs = append(o.errs, "lock=on: DALMP takes no locks on its sessions, so there is no lock to share with PHP (leave lock= out, or lock=off)")
	}
	if given(o, "lock_timeout") {
		o.errs = append(o.errs, "lock_timeout=: DALMP takes no locks; the option has no meaning for layout=dalmp")
	}
	c.Lock = false
	if c.TTL < time.Second {
		o.errs = append(o.errs, fmt.Sprintf("ttl=%v: DALMP needs a lifetime of at least 1s (session.gc_maxlifetime)", c.TTL))
	}
}

// dalmpSeconds rounds a lifetime up to whole seconds, as gc_maxlifetime
// holds them; 0 means def. Negative lifetimes are an error.
func dalmpSeconds(ttl, def time.Duration) (int64, error) {
	if ttl < 0 {
		return 0, fmt.Errorf("negative TTL %v", ttl)
	}
	if ttl == 0 {
		ttl = def
	}
	return int64((ttl + time.Second - 1) / time.Second), nil
}

// dalmpTTLLeft is the lifetime left until an absolute expiry (unix
// seconds), or 0 when it has passed.
func dalmpTTLLeft(expiry int64, now time.Time) time.Duration {
	d := time.Unix(expiry, 0).Sub(now)
	if d < 0 {
		return 0
	}
	return d
}

// dalmpRefEqual is PHP 8's $a == $b between two references as the cache
// backends compare them (the stored one, an int array key printed in
// decimal or a string, with the asked one): numerically when both are
// numeric strings, else byte for byte.
func dalmpRefEqual(a, b string) bool {
	if a == b {
		return true
	}
	x, xok := phpNumeric(a)
	y, yok := phpNumeric(b)
	if !xok || !yok {
		return false
	}
	if x.isInt && y.isInt {
		return x.i == y.i
	}
	return x.f == y.f
}

// phpNumber is a numeric string's value, as PHP 8 reads it.
type phpNumber struct {
	isInt bool
	i     int64
	f     float64
}

// phpNumeric is PHP 8's is_numeric_string for a string: leading and
// trailing whitespace allowed, an optional sign, digits with an optional
// fraction and exponent. Integers that overflow int64 are floats.
func phpNumeric(s string) (phpNumber, bool) {
	s = strings.Trim(s, " \t\n\r\v\f")
	if s == "" {
		return phpNumber{}, false
	}
	digits, dot, exp := 0, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case (c == '+' || c == '-') && (i == 0 || s[i-1] == 'e' || s[i-1] == 'E'):
		case c == '.' && !dot && !exp:
			dot = true
		case (c == 'e' || c == 'E') && digits > 0 && !exp && i+1 < len(s):
			exp = true
		default:
			return phpNumber{}, false
		}
	}
	if digits == 0 {
		return phpNumber{}, false
	}
	if !dot && !exp {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return phpNumber{isInt: true, i: i, f: float64(i)}, true
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return phpNumber{}, false
	}
	if math.IsNaN(f) {
		return phpNumber{}, false
	}
	return phpNumber{f: f}, true
}

// dalmpCacheOpts are the key options of DALMP's cache backends.
type dalmpCacheOpts struct {
	refName  string // DALMP_SESSIONS_REF: salts the session keys
	refIndex string // the reference index key; "" when not configured
}

// parseDALMPCacheOpts reads ref_name= (DALMP_SESSIONS_REF, default UID),
// sessions_key= (DALMP_SESSIONS_KEY, or the __FILE__ path DALMP falls back
// to) and ref_index= (the index key itself, DALMP_REF_<sha1>).
func parseDALMPCacheOpts(o *options) dalmpCacheOpts {
	k := dalmpCacheOpts{refName: o.String("ref_name", "UID")}
	if k.refName == "" {
		o.errs = append(o.errs, "ref_name=: want the name of DALMP's reference global (DALMP_SESSIONS_REF, default UID)")
	}
	salt, hasSalt := o.String("sessions_key", ""), o.Has("sessions_key")
	index, hasIndex := o.String("ref_index", ""), o.Has("ref_index")
	switch {
	case hasSalt && hasIndex:
		o.errs = append(o.errs, "sessions_key= and ref_index= both name the reference index: give one")
	case hasIndex:
		if !strings.HasPrefix(index, "DALMP_REF_") || len(index) != len("DALMP_REF_")+40 {
			o.errs = append(o.errs, fmt.Sprintf("ref_index=%q: want DALMP's index key, DALMP_REF_ and 40 hex digits", index))
		}
		k.refIndex = index
	case hasSalt:
		k.refIndex = dalmpRefIndexKey(k.refName, salt)
	}
	return k
}

// key is the cache key of session id.
func (k dalmpCacheOpts) key(id string) string { return DALMPCacheKey(k.refName, id) }

// checkWrite checks a record before a cache write and returns its lifetime
// in whole seconds and the reference to record ("" for none).
func (k dalmpCacheOpts) checkWrite(rec *Record, def time.Duration) (secs int64, ref string, err error) {
	if err = checkID(rec.ID); err != nil {
		return 0, "", err
	}
	if secs, err = dalmpSeconds(rec.TTL, def); err != nil {
		return 0, "", err
	}
	if ref = dalmpRef(rec.Meta.Ref); ref != "" {
		err = k.needIndex()
	}
	return secs, ref, err
}

// errDALMPNoIndex is returned by reference operations of a cache store
// opened without its index key.
var errDALMPNoIndex = errors.New("the reference index key is not known: open the store with sessions_key= (PHP's DALMP_SESSIONS_KEY, or else the absolute path of DALMP/Sessions/<Backend>.php on the PHP host, DALMP's __FILE__ default) or ref_index=DALMP_REF_<sha1>")

// needIndex reports errDALMPNoIndex when the index key is unknown.
func (k dalmpCacheOpts) needIndex() error {
	if k.refIndex == "" {
		return errDALMPNoIndex
	}
	return nil
}

// dalmpRefError wraps an error of a reference operation.
func dalmpRefError(backend, op, ref string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %s reference %q: %w", backend, op, ref, err)
}

// dalmpSessions is SessionsByRef on top of SessionRefs.
func dalmpSessions(entries []RefEntry, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Session
	}
	return out, nil
}
