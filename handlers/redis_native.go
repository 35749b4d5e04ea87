package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The native layout is phpredis' session handler (redis_session.c),
// verified with MONITOR against phpredis 5.3.7:
//
//	session key  <prefix><id>, prefix PHPREDIS_SESSION: by default
//	read         GET <key>
//	write        SETEX <key> <gc_maxlifetime> <data>
//	touch        EXPIRE <key> <gc_maxlifetime>   (update_timestamp)
//	destroy      DEL <key>
//	lock         SET <key>_LOCK <host|pid> NX PX <lock_expire ms>, retried
//	unlock       EVALSHA/EVAL of the compare-and-delete script
//
// PHP takes the lock only with redis.session.locking_enabled=1 (off by
// default), so lock= is off by default here too; turn it on exactly when the
// PHP side has locking_enabled=1 (with PHP's locking off, Go's lock only
// orders Go's own writers: PHP neither sees nor honours it; with PHP's on and
// Go's off, a Go write can land in the middle of a PHP request and be
// overwritten by it at the request's end). With lock=on, Go takes the
// same lock key with SET NX PX and releases it with the same script; it
// never deletes or overwrites a lock it does not hold, and it writes only
// while its own value is in the lock key (checked and written in one Lua
// script, where phpredis does a GET then SETEX). A PHP request that finds
// Go's lock waits redis.session.lock_retries x lock_wait_time (phpredis 5:
// 10 x 2 ms, then it reads without the lock and its write is refused;
// phpredis 6: 100 x 20 ms, then session_start fails).
//
// Go's lock value is "<hostname>|<pid>|<16 random hex digits>": phpredis'
// "<hostname>|<pid>" made unique per lock taken, so that neither another
// goroutine nor a PHP worker with the same pid in another container (same
// hostname) can mistake Go's lock for its own. PHP only compares lock
// values with its own, so the suffix changes nothing for it.

// redisNative is the phpredis layout.
type redisNative struct {
	host   string
	pid    int
	expire time.Duration // PX of the locks we take
}

// parseRedisNative reads the native layout's options.
func parseRedisNative(o *options, s *redisStore) (redisLayout, error) {
	s.prefix = o.String("prefix", "PHPREDIS_SESSION:")
	s.lockRetry = o.Duration("lock_retry", 10*time.Millisecond)
	n := &redisNative{pid: os.Getpid(), expire: o.Duration("lock_expire", 30*time.Second)}
	if err := parseRedisCompression(o, s); err != nil {
		return nil, err
	}
	for _, opt := range []string{"cookie", "cookie_in_key", "match_ip", "ip"} {
		if given(o, opt) {
			return nil, errors.New(opt + "= applies to the CodeIgniter layouts (layout=ci3 or ci4), not to native")
		}
	}
	if n.expire < time.Millisecond {
		return nil, errors.New("lock_expire= must be at least 1ms: a lock without expiry outlives a crashed holder")
	}
	if s.lockRetry <= 0 {
		return nil, errors.New("lock_retry= must be more than 0")
	}
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	n.host = host
	return n, nil
}

func (n *redisNative) lockSuffix() string { return "_LOCK" }

func (n *redisNative) lockRefresh() time.Duration { return 0 }

func (n *redisNative) newLockValue() string {
	var b [8]byte
	rand.Read(b[:])
	return n.host + "|" + strconv.Itoa(n.pid) + "|" + hex.EncodeToString(b[:])
}

// acquire sends phpredis' own lock command: SET <lock> <value> NX PX <ms>.
func (n *redisNative) acquire(ctx context.Context, s *redisStore, lockKey, value string) (bool, error) {
	err := s.c.Do(ctx, "SET", lockKey, value, "NX", "PX", n.expire.Milliseconds()).Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	return err == nil, err
}
