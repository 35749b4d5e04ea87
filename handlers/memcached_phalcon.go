package handlers

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The Phalcon layouts of memcached:// and memcache:// stores: Phalcon's
// Libmemcached session adapter (php-memcached's Memcached class) and
// Phalcon 3's Memcache adapter (pecl memcache's Memcache class).
//
//	memcached://HOST:PORT?layout=phalcon3|phalcon4|phalcon5
//	memcache://HOST:PORT?layout=phalcon3
//
//	                     key                   value               ttl
//	memcached phalcon3   <prefix><id>          s:N:"<payload>";    min(8600, 30 days)
//	memcached phalcon4   sess-memc-<id>        raw payload         3600
//	memcached phalcon5   sess-memc-<id>        s:N:"<payload>";    3600
//	memcache  phalcon3   <prefix><id>          s:N:"<payload>";    8600
//
//   - memcached phalcon3 is Phalcon 1.3 to 3.4's Session\Adapter\Libmemcached:
//     a Phalcon\Cache\Backend\Libmemcached with Frontend\Data, so the payload
//     is serialize()d; the key is the client's Memcached::OPT_PREFIX_KEY (if
//     the application set one in "client") + the adapter's prefix option
//     (default none) + id: prefix= is both together. The lifetime is
//     min(lifetime, 2592000), default 8600.
//   - memcached phalcon4 is Phalcon 4.0 and 4.1's Libmemcached: OPT_PREFIX_KEY
//     "sess-memc-" (4.0.x ignores the prefix option, 4.1 takes it) and
//     php-memcached's SERIALIZER_PHP, which never serializes strings: the
//     payload is stored raw. Unlike Phalcon 3 and 5.
//   - memcached phalcon5 is Phalcon 5.x (and the v6 PHP port): the same key,
//     the payload serialized by Phalcon's Php serializer.
//   - memcache phalcon3 is Phalcon 1.3 to 3.4's Session\Adapter\Memcache: a
//     Phalcon\Cache\Backend\Memcache with Frontend\Data: key prefix option +
//     id (no separator, default no prefix), the payload serialize()d,
//     stored with Memcache::set(key, value, 0, lifetime), default 8600.
//
// Values are stored with flags 0, uncompressed, which both PHP extensions
// read; on read the extensions' compressed forms are undone (php-memcached
// compresses values of 2000 bytes and more, pecl memcache of 20000 with its
// default ini). A value in the other form (raw where the layout wraps, or
// wrapped where it does not) is refused with ErrLayoutMismatch: Phalcon 5
// reads a raw value as an empty session and writes that back, Phalcon 4
// hands a wrapped one to session_decode(), which destroys the session.
//
// Phalcon takes no lock on Memcached: lock=on is refused. Lifetimes above 30
// days are sent as absolute times (Phalcon 3's Libmemcached clamps them to
// 30 days first, as Go does for that layout). Options: prefix=, ttl=,
// handler=, timeout=.
//
// With a persistent connection (persistentId, default "ph-mcid-" in Phalcon
// 4 and 5) shared with a Phalcon cache adapter, php-memcached shares the
// OPT_PREFIX_KEY between both, and sessions can land under the cache's
// prefix ("ph-memc-"): give that prefix= to read them, and a distinct
// persistentId to the session adapter to fix it.

// openMemcachedPhalcon opens a memcached:// (Libmemcached) or memcache://
// (Memcache, phalcon3 only) store in a Phalcon layout; c comes from
// parseCommon.
func openMemcachedPhalcon(o *options, backend string, c common) (Store, error) {
	pecl := backend == "memcache"
	lay := &mcPhalcon{pecl: pecl, form: payloadForm{layout: c.Layout, handler: c.Handler, wrapped: c.Layout != "phalcon4"}}
	def := "sess-memc-"
	switch {
	case c.Layout == "phalcon3":
		def = ""
		lay.clamp = !pecl
		lay.form.other = "phalcon4"
	case c.Layout == "phalcon4":
		lay.form.other = "phalcon3 or phalcon5"
	default:
		lay.form.other = "phalcon4"
	}
	if pecl {
		lay.form.other = "layout=native (PHP's own memcache handler)"
	}
	prefix := o.String("prefix", def)
	if err := mcKeyPart("prefix", prefix); err != nil {
		o.errs = append(o.errs, err.Error())
	}
	if given(o, "lock") && c.Lock {
		o.errs = append(o.errs, fmt.Sprintf("lock=on: Phalcon's %s sessions have no lock", backend))
	}
	c.Lock = false
	for _, opt := range []string{"lock_timeout", "lock_expire", "cookie", "match_ip"} {
		if given(o, opt) {
			o.errs = append(o.errs, fmt.Sprintf("%s= does not apply to layout=%s", opt, c.Layout))
		}
	}
	timeout := o.Duration("timeout", mcDefaultTimeout)
	if err := o.Err(); err != nil {
		return nil, err
	}
	s, err := newMCStore(o, backend, c, prefix, "", lay, timeout)
	if err != nil {
		return nil, err
	}
	return &mcPhalconStore{mcStore: s, form: lay.form}, nil
}

// mcPhalconDefaults are a Phalcon layout's defaults for parseCommon.
func mcPhalconDefaults(layout string) layoutDefaults {
	if layout == "phalcon3" {
		return layoutDefaults{TTL: phalcon3Lifetime}
	}
	return layoutDefaults{TTL: phalcon4Lifetime}
}

// mcPhalcon is a Phalcon memcached layout.
type mcPhalcon struct {
	pecl  bool // pecl memcache's flags, else php-memcached's
	clamp bool // lifetimes clamped to 30 days (Phalcon 3 Libmemcached)
	form  payloadForm
}

// errMCPhalconNoLock is what the lock methods answer: Phalcon takes no lock.
var errMCPhalconNoLock = errors.New("Phalcon's memcached layouts have no lock")

func (l *mcPhalcon) lockKey(dataKey string) string { return dataKey }

func (l *mcPhalcon) tryLock(context.Context, *mcClient, string) (bool, error) {
	return false, errMCPhalconNoLock
}

func (l *mcPhalcon) unlock(context.Context, *mcClient, string) error { return errMCPhalconNoLock }

// expiration is relative, as Phalcon sends it; see the file comment for
// lifetimes above 30 days.
func (l *mcPhalcon) expiration(secs int64, now time.Time) int32 {
	if l.clamp && secs > mcMaxRelative {
		secs = mcMaxRelative
	}
	return mcRelativeOrAbsolute(secs, now)
}

// decode undoes the extension's value format, then the layout's form.
func (l *mcPhalcon) decode(flags uint32, v []byte) ([]byte, error) {
	var err error
	if l.pecl {
		v, err = new(memcacheNative).decode(flags, v)
	} else {
		v, err = decodeMemcachedValue(flags, v)
	}
	if err != nil {
		return nil, err
	}
	return l.form.decode(v)
}

// mcPhalconStore is an mcStore in a Phalcon layout: Write stores the
// layout's form (Read gets it undone by the layout's decode) and there is
// no lock.
type mcPhalconStore struct {
	*mcStore
	form payloadForm
}

// Write stores the session in the layout's form, flags 0.
func (s *mcPhalconStore) Write(ctx context.Context, rec *Record) error {
	if rec == nil {
		return errors.New(s.info.Backend + " write: nil record")
	}
	c := *rec
	c.Data = s.form.encode(rec.Data)
	return s.mcStore.Write(ctx, &c)
}

// Lock fails: Phalcon takes no lock on memcached.
func (s *mcPhalconStore) Lock(_ context.Context, id string) (Locked, error) {
	return nil, s.fail("lock", id, errMCPhalconNoLock)
}
