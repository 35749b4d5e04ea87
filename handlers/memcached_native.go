package handlers

import (
	"context"
	"errors"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// The layout of php-memcached's session handler (session.save_handler =
// memcached, php_memcached_session.c), as verified against php-memcached
// 3.2.0 on memcached 1.6:
//
//   - data key memcached.sess_prefix + id (default "memc.sess.key."; the
//     prefix is libmemcached's namespace, so it is on the wire), the raw
//     session string with flags 0: no Memcached-class encoding, never
//     compressed;
//   - expiry session.gc_maxlifetime, relative up to 30 days, absolute
//     (time() + lifetime) above, none for 0;
//   - lock key prefix + "lock." + id, taken with add(value "1", flags 0,
//     exptime memcached.sess_lock_expire or else max_execution_time, 0 =
//     never), released with an unconditional delete. PHP polls
//     sess_lock_retries (5) times sess_lock_wait_min..max (150 ms) apart,
//     then session_start() fails ("Unable to clear session lock record")
//     without writing.
//   - update_timestamp is touch; destroy deletes the data key and the lock.

// memcachedNativePrefix is memcached.sess_prefix's default.
const memcachedNativePrefix = "memc.sess.key."

// parseMemcachedNative reads the native layout's options: prefix= and
// lock_expire=.
func parseMemcachedNative(o *options) (string, mcLayout) {
	prefix := o.String("prefix", memcachedNativePrefix)
	if err := mcKeyPart("prefix", prefix); err != nil {
		o.errs = append(o.errs, err.Error())
	}
	// PHP's lock item lives max_execution_time (30 s for web requests) when
	// sess_lock_expire is 0. Go never takes a lock that does not expire.
	return prefix, &memcachedNative{
		prefix:     prefix,
		lockExpire: mcLockExpire(o, 30*time.Second),
	}
}

// memcachedNative is php-memcached's session handler layout.
type memcachedNative struct {
	prefix     string
	lockExpire int32 // seconds
}

// lockKey is the namespace, "lock.", then the id.
func (l *memcachedNative) lockKey(dataKey string) string {
	return l.prefix + "lock." + dataKey[len(l.prefix):]
}

// tryLock adds the lock item as php-memcached does: value "1", flags 0.
func (l *memcachedNative) tryLock(ctx context.Context, c *mcClient, lockKey string) (bool, error) {
	err := c.add(ctx, &memcache.Item{Key: lockKey, Value: []byte("1"), Expiration: l.lockExpire})
	if errors.Is(err, memcache.ErrNotStored) {
		return false, nil
	}
	return err == nil, err
}

// unlock deletes the lock item, as php-memcached does (it does not check
// whose lock it deletes).
func (l *memcachedNative) unlock(ctx context.Context, c *mcClient, lockKey string) error {
	return c.delete(ctx, lockKey)
}

func (l *memcachedNative) expiration(secs int64, now time.Time) int32 {
	return mcRelativeOrAbsolute(secs, now)
}

// decode returns the value as stored: php-memcached's session handler reads
// the raw bytes whatever the flags.
func (l *memcachedNative) decode(_ uint32, v []byte) ([]byte, error) { return v, nil }
