package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// The layouts of CodeIgniter's Memcached session drivers, which store
// through php-memcached's Memcached class (so its value format applies:
// decodeMemcachedValue):
//
//   - CodeIgniter 3 (3.1.13, Session_memcached_driver.php): data key
//     "ci_session:" [+ REMOTE_ADDR + ":" with sess_match_ip] + id.
//   - CodeIgniter 4 (MemcachedHandler.php, since 4.2.11): data key
//     "ci_session:" + cookieName + ":" [+ ip + ":" with matchIP] + id, so
//     "ci_session:ci_session:<id>" by default (before 4.2.11 the CI3 form:
//     use layout=ci3 for those).
//   - both: lock key data key + ":lock" holding time() as a PHP int (flags
//     1, decimal text), exptime 300. CI3 waits while get(lock) is truthy
//     (sleep 1 s, 30 attempts), then add()s the lock if it was missing, set()s
//     it otherwise; CI4 waits while get(lock) !== false, then set()s it (not
//     atomic). Release is an unconditional delete. Go takes the lock with
//     add, the only atomic choice, and a value both read as held.
//   - data: set(key, data, expiration) with flags 0 for a string (the class
//     compresses values of 2000 bytes and more with FastLZ, zlib or zstd when
//     compression pays; we read all of them, and write uncompressed, which
//     PHP reads back); unchanged data is touch()ed.
//   - expiration: sess_expiration (CI3: session.gc_maxlifetime when 0) or
//     Config\Session::$expiration (CI4: 0 = never expire), passed to
//     memcached as is. CodeIgniter does not convert lifetimes above 30 days,
//     which memcached then reads as absolute times in 1970: such items
//     vanish at once (checked with php-memcached 3.2.0). Go converts them to
//     absolute times, so that its writes keep the lifetime asked for.

// mcCILockTTL is the lifetime of CodeIgniter's lock items, in seconds.
const mcCILockTTL = 300

// parseMemcachedCI reads the CodeIgniter layouts' options: prefix=,
// cookie= (CI4) and match_ip=. It returns the key prefix (match_ip
// included) and the client address for Meta.IP.
func parseMemcachedCI(o *options, layout string) (prefix, ip string, lay mcLayout) {
	prefix = "ci_session:"
	if layout == "ci4" {
		cookie := o.String("cookie", "ci_session")
		if err := mcKeyPart("cookie", cookie); err != nil {
			o.errs = append(o.errs, err.Error())
		}
		if o.Has("prefix") && o.Has("cookie") {
			o.errs = append(o.errs, "give prefix= (the whole key prefix) or cookie=, not both")
		}
		prefix += cookie + ":"
	} else if o.Has("cookie") {
		o.errs = append(o.errs, "cookie= applies to layout=ci4 only (CodeIgniter 3 keys do not hold the cookie name)")
	}
	prefix = o.String("prefix", prefix)
	if err := mcKeyPart("prefix", prefix); err != nil {
		o.errs = append(o.errs, err.Error())
	}
	if o.Has("match_ip") {
		ip = o.String("match_ip", "")
		if _, err := netip.ParseAddr(ip); err != nil {
			o.errs = append(o.errs, fmt.Sprintf("match_ip=%q: want the client's IP address as PHP saw it (CodeIgniter puts it into the key)", ip))
		} else {
			prefix += ip + ":"
		}
	}
	return prefix, ip, memcachedCI{}
}

// memcachedCI is the CodeIgniter 3 and 4 Memcached layout.
type memcachedCI struct{}

func (memcachedCI) lockKey(dataKey string) string { return dataKey + ":lock" }

// tryLock adds the lock item holding time() as a PHP int (flags 1).
func (memcachedCI) tryLock(ctx context.Context, c *mcClient, lockKey string) (bool, error) {
	err := c.add(ctx, &memcache.Item{
		Key:        lockKey,
		Value:      strconv.AppendInt(nil, time.Now().Unix(), 10),
		Flags:      memcTypeLong,
		Expiration: mcCILockTTL,
	})
	if errors.Is(err, memcache.ErrNotStored) {
		return false, nil
	}
	return err == nil, err
}

// unlock deletes the lock item, as CodeIgniter does.
func (memcachedCI) unlock(ctx context.Context, c *mcClient, lockKey string) error {
	return c.delete(ctx, lockKey)
}

func (memcachedCI) expiration(secs int64, now time.Time) int32 {
	return mcRelativeOrAbsolute(secs, now)
}

func (memcachedCI) decode(flags uint32, v []byte) ([]byte, error) {
	return decodeMemcachedValue(flags, v)
}
