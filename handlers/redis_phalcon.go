package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The Phalcon layouts of redis:// stores: Phalcon's Redis session adapter,
// whose key, value form and lifetime change with the major version.
//
//	redis://HOST:PORT/DB?layout=phalcon3|phalcon4|phalcon5
//
//	           key                    value                      ttl   lock
//	phalcon3   _PHCR<prefix><id>      raw payload                8600  none
//	phalcon4   <prefix><id>           s:N:"<payload>";           3600  none
//	phalcon5   <prefix><id>           s:N:"<payload>";           3600  opt-in
//
//   - phalcon3 is Phalcon 2.0.6 to 3.4: a Phalcon\Cache\Backend\Redis with
//     Frontend\None, so the payload is stored raw under "_PHCR" + the
//     adapter's prefix option (default empty) + id, written with SET and
//     EXPIRE <lifetime> (default 8600). Go writes SETEX, the same result in
//     one command. Phalcon 2.0's statsKey set (_PHCR) is not maintained.
//   - phalcon4 is Phalcon 4.0 and 4.1: Storage\Adapter\Redis with phpredis'
//     OPT_PREFIX "sess-reds-" (4.0.x ignores the prefix option; 4.1 takes
//     it) and phpredis' SERIALIZER_PHP, so the value is the payload
//     serialized as a PHP string; SETEX with the storage lifetime (default
//     3600, not session.gc_maxlifetime).
//   - phalcon5 is Phalcon 5.x (and the v6 PHP port): the same key, the
//     payload serialized by Phalcon's own Php serializer (the same bytes),
//     lifetime 3600. From 5.14.2 the adapter can lock (lockingEnabled,
//     off by default): lock=on takes that lock, see below.
//
// A value in the other form (raw where the layout wraps, wrapped where it
// does not) is refused on Read with ErrLayoutMismatch: handed to PHP it
// would lose the session. Write always stores the layout's form.
//
// Options, besides handler=, ttl= and the connection options of redis.go
// (timeout=, tls_*):
//
//	prefix=       phalcon3: the adapter's prefix option, after "_PHCR"
//	              (default empty); phalcon4/5: the whole key prefix
//	              (default sess-reds-)
//	lock=         phalcon5 only: on takes Phalcon 5.14.2's lock (default
//	              off, as lockingEnabled); phalcon3 and phalcon4 have no lock
//	              and refuse lock=on
//	lock_timeout= how long Go waits for the lock (default 5 s: Phalcon's
//	              lockRetries 100 x lockWaitTime 50 ms)
//	lock_expire=  the lifetime of a lock Go takes (lockExpiry, default 30 s)
//	lock_retry=   the wait between tries (default 50 ms, lockWaitTime)
//
// The lock (Phalcon >= 5.14.2, lockingEnabled): read() sends SET
// <prefix><id>-lock <32 hex digits> NX EX <lockExpiry>, retried every
// lockWaitTime up to lockRetries times, then fails; close() and destroy()
// release it with EVAL "if redis.call('get',KEYS[1])==ARGV[1] then return
// redis.call('del',KEYS[1]) else return 0 end". Go takes the same key the
// same way (a 32-hex-digit token), writes only while its token is in the
// lock (one Lua script) and releases with a compare-and-delete. A session
// id ending in "-lock" is not listed (it looks like a lock key).

// Phalcon's session lifetimes on Redis and Memcached.
const (
	phalcon3Lifetime = 8600 * time.Second // Phalcon <= 3: the adapters' _lifetime
	phalcon4Lifetime = 3600 * time.Second // Phalcon 4 and 5: the storage lifetime
)

// redisPhalconDefaults are a Phalcon layout's defaults for parseCommon.
func redisPhalconDefaults(layout string) layoutDefaults {
	if layout == "phalcon3" {
		return layoutDefaults{TTL: phalcon3Lifetime}
	}
	// Phalcon 5.14.2 tries lockRetries 100 x lockWaitTime 50 ms.
	return layoutDefaults{TTL: phalcon4Lifetime, LockTimeout: 5 * time.Second}
}

// redisPhalcon is a Phalcon Redis layout.
type redisPhalcon struct {
	form   payloadForm
	lock   bool          // phalcon5 with lock=on
	expire time.Duration // EX of the locks we take
}

// parseRedisPhalcon reads the Phalcon layouts' options into s and c (whose
// Lock it sets: off unless phalcon5 asks for it).
func parseRedisPhalcon(o *options, s *redisStore, c *common) (redisLayout, error) {
	p := &redisPhalcon{form: payloadForm{layout: c.Layout, handler: c.Handler}}
	switch c.Layout {
	case "phalcon3":
		s.prefix = "_PHCR" + o.String("prefix", "")
		p.form.other = "phalcon4 or phalcon5"
	default:
		s.prefix = o.String("prefix", "sess-reds-")
		p.form.wrapped = true
		p.form.other = "phalcon3"
	}
	lockOn := given(o, "lock") && c.Lock
	c.Lock = false
	if lockOn {
		if c.Layout != "phalcon5" {
			return nil, fmt.Errorf("lock=on: %s Redis sessions have no lock (only Phalcon 5.14.2 and later can lock, with lockingEnabled: layout=phalcon5)", c.Layout)
		}
		c.Lock, p.lock = true, true
	}
	s.lockRetry = o.Duration("lock_retry", 50*time.Millisecond)
	p.expire = o.Duration("lock_expire", 30*time.Second)
	for _, opt := range []string{"cookie", "cookie_in_key", "match_ip", "ip", "compression"} {
		if given(o, opt) {
			return nil, fmt.Errorf("%s= does not apply to layout=%s", opt, c.Layout)
		}
	}
	if c.Layout != "phalcon5" {
		for _, opt := range []string{"lock_timeout", "lock_retry", "lock_expire"} {
			if given(o, opt) {
				return nil, fmt.Errorf("%s=: layout=%s has no lock", opt, c.Layout)
			}
		}
	}
	if p.expire < time.Second {
		return nil, errors.New("lock_expire= must be at least 1s (Phalcon's lock is SET ... EX <seconds>)")
	}
	if s.lockRetry <= 0 {
		return nil, errors.New("lock_retry= must be more than 0")
	}
	return p, nil
}

// lockSuffix is Phalcon 5.14.2's "-lock".
func (p *redisPhalcon) lockSuffix() string { return "-lock" }

func (p *redisPhalcon) lockRefresh() time.Duration { return 0 }

// newLockValue is Phalcon's token: bin2hex(random_bytes(16)).
func (p *redisPhalcon) newLockValue() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// acquire sends Phalcon's SET <lock> <token> NX EX <lockExpiry>.
func (p *redisPhalcon) acquire(ctx context.Context, s *redisStore, lockKey, value string) (bool, error) {
	err := s.c.Do(ctx, "SET", lockKey, value, "NX", "EX", int64(p.expire/time.Second)).Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	return err == nil, err
}

// store returns the Store over s that applies the layout's value form.
func (p *redisPhalcon) store(s *redisStore) Store {
	return &redisPhalconStore{redisStore: s, p: p}
}

// redisPhalconStore is a redisStore in a Phalcon layout: Read unwraps and
// checks the value form, Write wraps; the rest is the redisStore's.
type redisPhalconStore struct {
	*redisStore
	p *redisPhalcon
}

// Read returns the session, its payload taken out of the layout's form.
func (s *redisPhalconStore) Read(ctx context.Context, id string) (*Record, error) {
	rec, err := s.redisStore.Read(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.unwrap(rec)
}

func (s *redisPhalconStore) unwrap(rec *Record) (*Record, error) {
	data, err := s.p.form.decode(rec.Data)
	if err != nil {
		return nil, opError("read", redisBackend, rec.ID, err)
	}
	rec.Data = data
	return rec, nil
}

// wrapped returns a copy of rec holding the stored form of its payload.
func (s *redisPhalconStore) wrapped(rec *Record) *Record {
	if rec == nil {
		return nil
	}
	c := *rec
	c.Data = s.p.form.encode(rec.Data)
	return &c
}

// Write stores the session in the layout's form (under Phalcon 5's lock
// with lock=on).
func (s *redisPhalconStore) Write(ctx context.Context, rec *Record) error {
	return s.redisStore.Write(ctx, s.wrapped(rec))
}

// WriteBatch writes many sessions in the layout's form, pipelined.
func (s *redisPhalconStore) WriteBatch(ctx context.Context, recs []*Record) error {
	w := make([]*Record, len(recs))
	for i, rec := range recs {
		w[i] = s.wrapped(rec)
	}
	return s.redisStore.WriteBatch(ctx, w)
}

// Lock takes Phalcon 5.14.2's lock on id (layout=phalcon5 with lock=on).
// The other layouts have no lock to take.
func (s *redisPhalconStore) Lock(ctx context.Context, id string) (Locked, error) {
	if !s.p.lock {
		return nil, opError("lock", redisBackend, id, fmt.Errorf("layout=%s without lock=on has no lock (Phalcon takes none)", s.info.Layout))
	}
	l, err := s.redisStore.Lock(ctx, id)
	if err != nil {
		return nil, err
	}
	return &redisPhalconLocked{Locked: l, s: s, id: id}, nil
}

// redisPhalconLocked is a locked Phalcon session: its Read and Write apply
// the layout's form.
type redisPhalconLocked struct {
	Locked
	s  *redisPhalconStore
	id string
}

// Read returns the locked session, unwrapped.
func (l *redisPhalconLocked) Read(ctx context.Context) (*Record, error) {
	rec, err := l.Locked.Read(ctx)
	if err != nil {
		return nil, err
	}
	return l.s.unwrap(rec)
}

// Write stores the locked session in the layout's form.
func (l *redisPhalconLocked) Write(ctx context.Context, rec *Record) error {
	return l.Locked.Write(ctx, l.s.wrapped(rec))
}
