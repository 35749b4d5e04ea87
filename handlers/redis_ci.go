package handlers

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The CodeIgniter layouts are CodeIgniter 3's Session_redis_driver (3.1.x)
// and CodeIgniter 4's RedisHandler, both on a phpredis Redis object:
//
//	ci3 key   <prefix>[<ip>:]<id>            prefix ci_session:
//	ci4 key   <prefix><cookie>:[<ip>:]<id>   ci_session:ci_session: (4.2.11+)
//	          <prefix>[<ip>:]<id>            4.0.0 to 4.2.10 (cookie_in_key=off)
//	lock key  <key>:lock, value time() as decimal text, lifetime 300 s
//	write     EXPIRE <lock> 300, SETEX <key> <expiration> <data>
//	          (EXPIRE <key> <expiration> when the data did not change)
//	release   DEL <lock>, without checking whose lock it is
//	destroy   DEL <key>
//
// CodeIgniter takes the lock on every request. CodeIgniter 3 checks TTL
// <lock> and sleeps 1 s while it is above 0, then SET <lock> <time> NX EX 300
// (and SETEX <lock> 300 <time>), and overrides a lock with no TTL; it gives
// up after 30 tries. CodeIgniter 4.4.6+ loops SET <lock> <time> NX EX 300,
// 300 times 100 ms apart. Go takes the lock atomically the same way (SET NX
// EX 300; for ci3 also over a lock without TTL, as CodeIgniter 3 does), with
// the same value and lifetime, and writes only while the lock still holds
// its value, refreshing the lock's 300 s as CodeIgniter's write does. Go
// releases its lock with a compare-and-delete rather than CodeIgniter's
// plain DEL, so that a lock that expired and was taken by PHP is left alone.

// redisCILockTTL is how long CodeIgniter's locks live.
const redisCILockTTL = 300 * time.Second

// redisCI3Acquire takes CodeIgniter 3's lock: if free, or if it has no TTL
// (CodeIgniter 3 overrides such a lock). KEYS = lock key; ARGV = value,
// lifetime in seconds.
const redisCI3Acquire = `if redis.call("set",KEYS[1],ARGV[1],"NX","EX",ARGV[2]) then return 1 end
if redis.call("ttl",KEYS[1]) == -1 then redis.call("set",KEYS[1],ARGV[1],"EX",ARGV[2]) return 1 end
return 0`

// redisCI is the CodeIgniter 3 or 4 layout.
type redisCI struct {
	ci3 bool
}

// parseRedisCI reads the CodeIgniter layouts' options.
func parseRedisCI(o *options, s *redisStore, layout string) (redisLayout, error) {
	ci := &redisCI{ci3: layout == "ci3"}
	prefixGiven := o.Has("prefix")
	s.prefix = o.String("prefix", "ci_session:")
	if ci.ci3 {
		for _, opt := range []string{"cookie", "cookie_in_key"} {
			if given(o, opt) {
				return nil, errors.New(opt + "= applies to layout=ci4: CodeIgniter 3 keys have no cookie name")
			}
		}
		s.ci3Acquire = redis.NewScript(redisCI3Acquire)
	} else {
		cookieGiven := o.Has("cookie")
		cookie := o.String("cookie", "ci_session")
		inKey := o.Bool("cookie_in_key", true)
		switch {
		case cookieGiven && prefixGiven:
			return nil, errors.New("cookie= and prefix= together: as in CodeIgniter 4, a save_path prefix= replaces the whole prefix, cookie name included; give the full prefix")
		case cookieGiven && !inKey:
			return nil, errors.New("cookie= with cookie_in_key=off: CodeIgniter 4 before 4.2.11 has no cookie name in its keys")
		case cookie == "":
			return nil, errors.New("cookie= is empty")
		case inKey && !prefixGiven:
			s.prefix += cookie + ":"
		}
	}
	s.matchIP = o.Bool("match_ip", false)
	s.fixedIP = o.String("ip", "")
	if s.fixedIP != "" {
		if !s.matchIP {
			return nil, errors.New("ip= needs match_ip=on")
		}
		if err := checkIP(s.fixedIP); err != nil {
			return nil, err
		}
	}
	s.lockRetry = o.Duration("lock_retry", 100*time.Millisecond)
	if s.lockRetry <= 0 {
		return nil, errors.New("lock_retry= must be more than 0")
	}
	for _, opt := range []string{"lock_expire", "compression"} {
		if given(o, opt) {
			return nil, errors.New(opt + "= applies to layout=native only (CodeIgniter locks live 300 s; CodeIgniter does not compress)")
		}
	}
	return ci, nil
}

func (ci *redisCI) lockSuffix() string { return ":lock" }

func (ci *redisCI) lockRefresh() time.Duration { return redisCILockTTL }

// newLockValue is CodeIgniter's: the unix time, in decimal.
func (ci *redisCI) newLockValue() string { return strconv.FormatInt(time.Now().Unix(), 10) }

func (ci *redisCI) acquire(ctx context.Context, s *redisStore, lockKey, value string) (bool, error) {
	secs := int64(redisCILockTTL / time.Second)
	if ci.ci3 {
		n, err := s.ci3Acquire.Run(ctx, s.c, []string{lockKey}, value, secs).Int()
		return n == 1, err
	}
	err := s.c.Do(ctx, "SET", lockKey, value, "NX", "EX", secs).Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	return err == nil, err
}
