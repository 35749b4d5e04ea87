package handlers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// The layout of pecl memcache's session handler (session.save_handler =
// memcache, src/memcache_session.c), as verified against pecl-memcache
// 4.0.5.2 on memcached 1.6:
//
//   - data key: memcache.session_prefix_static_key (default empty) + id, so
//     by default the bare session id. Values use pecl memcache's flags: a
//     string is flags 0, or 2 (MMC_COMPRESSED: a zlib stream) when it is at
//     least memcache.compress_threshold (20000) bytes and compression saves
//     20 %.
//   - expiry: always absolute, time() + session.gc_maxlifetime.
//   - lock key data key + ".lock", a counter. A reader sends
//     "incr <key>.lock 1" and "add <key>.lock 768 <lock_timeout> 1" (flags
//     768 = a PHP int) and holds the lock if the incr answered 1 (the
//     counter was "0": released) or the add stored it (no lock item). Else
//     it backs off (5 ms doubling to 1 s) for 2 * memcache.lock_timeout
//     (default 15 s), and then reads an EMPTY session without the lock, whose
//     write replaces the stored one.
//   - write: "set <key> 0 <absolute expiry> <data>" and
//     "set <key>.lock 768 <lock_timeout> 0": the release is a reset of the
//     counter to "0". There is no update_timestamp: every request writes.
//   - destroy: delete the data key and the lock key.

// openMemcache opens a memcache:// store (pecl memcache's session handler):
//
//	memcache://HOST:PORT[,HOST:PORT...]?prefix=...
//
// Options, besides handler=, ttl= (default 1440) and lock=, lock_timeout=:
// prefix= is memcache.session_prefix_static_key (default empty: the key is
// the bare id); lock_expire= is the lifetime of the lock item
// (memcache.lock_timeout, default 15); timeout= bounds every network
// command (default 1s). ttl=0 means items that never expire (PHP would send
// time() + 0, which expires at once).
//
// Go's lock_timeout (default 30 s, PHP's own 2 * lock_timeout) only bounds
// Go's wait: PHP does not wait for Go longer than 2 * memcache.lock_timeout
// and then overwrites the session, so hold pecl memcache locks briefly.
// With lock=off Write does not touch the lock item at all (PHP's write
// would reset it to "0", releasing a lock someone else holds).
func openMemcache(_ context.Context, o *options) (Store, error) {
	c := parseCommon(o, []string{"native", "dalmp", "phalcon3"}, map[string]layoutDefaults{
		"native": {TTL: 1440 * time.Second, LockTimeout: 30 * time.Second},
		"dalmp":  dalmpDefaults, // dalmp layout: see dalmp.go
		// phalcon layouts: see memcached_phalcon.go
		"phalcon3": mcPhalconDefaults("phalcon3"),
	})
	// distribution=, hash=, redundancy=: see memcached_selectors.go
	mcPoolOptions(o, "memcache", c.Layout)
	if c.Layout == dalmpLayout { // dalmp layout: see dalmp.go
		return openMemcacheDALMP(o, "memcache", c)
	}
	if c.Layout == "phalcon3" { // phalcon layouts: see memcached_phalcon.go
		return openMemcachedPhalcon(o, "memcache", c)
	}
	prefix := o.String("prefix", "")
	if err := mcKeyPart("prefix", prefix); err != nil {
		o.errs = append(o.errs, err.Error())
	}
	lay := &memcacheNative{lockExpire: mcLockExpire(o, 15*time.Second)}
	timeout := o.Duration("timeout", mcDefaultTimeout)
	if err := o.Err(); err != nil {
		return nil, err
	}
	s, err := newMCStore(o, "memcache", c, prefix, "", lay, timeout)
	if err != nil {
		return nil, err
	}
	return peclSessionCopies(o, s, timeout) // memcache.session_redundancy: see memcached_selectors.go
}

// pecl memcache's value flags (memcache_pool.h).
const (
	mmcSerialized = 0x0001
	mmcCompressed = 0x0002
	mmcTypeMask   = 0x0f00
	mmcTypeLong   = 0x0300
)

// memcacheNative is pecl memcache's session handler layout.
type memcacheNative struct {
	lockExpire int32 // seconds: memcache.lock_timeout
}

func (l *memcacheNative) lockKey(dataKey string) string { return dataKey + ".lock" }

// tryLock increments the lock counter; 1 means it was released ("0") and
// is now ours. Without a lock item it adds one holding 1. The lifetime of a
// counter taken by incr is renewed: incr keeps the lifetime the last
// release gave it, which may be nearly over.
func (l *memcacheNative) tryLock(ctx context.Context, c *mcClient, lockKey string) (bool, error) {
	n, err := c.incr(ctx, lockKey, 1)
	switch {
	case err == nil && n == 1:
		if err := c.touch(ctx, lockKey, l.lockExpire); err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
			return false, err
		}
		return true, nil
	case err == nil:
		return false, nil // held: n is 1 + the number of waiters' attempts
	case !errors.Is(err, memcache.ErrCacheMiss):
		return false, err
	}
	err = c.add(ctx, &memcache.Item{Key: lockKey, Value: []byte("1"), Flags: mmcTypeLong, Expiration: l.lockExpire})
	if errors.Is(err, memcache.ErrNotStored) {
		return false, nil
	}
	return err == nil, err
}

// unlock resets the counter to "0", as pecl memcache's write does.
func (l *memcacheNative) unlock(ctx context.Context, c *mcClient, lockKey string) error {
	return c.set(ctx, &memcache.Item{Key: lockKey, Value: []byte("0"), Flags: mmcTypeLong, Expiration: l.lockExpire})
}

// expiration is always absolute, as pecl memcache writes it.
func (l *memcacheNative) expiration(secs int64, now time.Time) int32 {
	return mcAbsoluteExpiry(secs, now)
}

// decode undoes pecl memcache's compression (flags 2: zlib). A session is
// always a string; other types are not session data.
func (l *memcacheNative) decode(flags uint32, v []byte) ([]byte, error) {
	if flags&mmcSerialized != 0 || flags&mmcTypeMask != 0 {
		return nil, fmt.Errorf("stored value has pecl memcache flags %#x: not a session string", flags)
	}
	if flags&mmcCompressed == 0 {
		return v, nil
	}
	out, err := mcInflate(v, mcMaxDecoded)
	if err != nil {
		return nil, fmt.Errorf("cannot decompress stored value (flags %#x): %w", flags, err)
	}
	return out, nil
}
