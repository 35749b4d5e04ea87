package handlers

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/redis/go-redis/v9"
)

// Redis stores: one key per session, expired by Redis itself.
//
//	redis://[user:pass@]HOST[:PORT][/DB]?layout=native|ci3|ci4&...
//	rediss://...   the same over TLS
//	redis://H1:P1,H2:P2[:WEIGHT],...[/DB]?layout=native&...
//	               phpredis with several servers in session.save_path, each
//	               session on the one phpredis picks: see redis_shard.go
//	redis+cluster://..., redis+sentinel://...: see redis_cluster.go
//
// Layouts (see redis_native.go and redis_ci.go for the exact keys, lock
// keys, lock values and commands):
//
//	native  phpredis' session handler (session.save_handler=redis):
//	        key PHPREDIS_SESSION:<id>, lock <key>_LOCK. Default ttl 1440 s,
//	        lock off (as redis.session.locking_enabled=0).
//	ci3     CodeIgniter 3 Session_redis_driver: key ci_session:[<ip>:]<id>,
//	        lock <key>:lock. Default ttl 7200 s, lock on.
//	ci4     CodeIgniter 4 RedisHandler: key ci_session:<cookie>:[<ip>:]<id>
//	        (4.2.11 and later), lock <key>:lock. Default ttl 7200 s, lock on.
//
// Reads that run at the same time share pipelines (redis_coalesce.go): under
// load, one round trip serves many of them.
//
// Options, besides the common layout=, handler=, ttl=, lock= and
// lock_timeout= (default 30 s, about what PHP itself waits):
//
//	pool_size=     connections to each server (default go-redis', 10 per CPU)
//	prefix=        the key prefix, used verbatim as PHP does (native default
//	               PHPREDIS_SESSION:, CodeIgniter default ci_session:; for
//	               ci4 it replaces the cookie part too, as CodeIgniter 4's
//	               save_path prefix= does)
//	cookie=        ci4: the session cookie name in the key (default ci_session)
//	cookie_in_key= ci4: off for CodeIgniter 4.0.0 to 4.2.10, whose keys have
//	               no cookie part (default on)
//	match_ip=      ci3, ci4: sess_match_ip / matchIP; the client IP is part of
//	               the key. Write takes it from Record.Meta.IP, or from ip=;
//	               Read, Lock and Destroy of an id find it by a SCAN unless
//	               ip= is given
//	ip=            ci3, ci4 with match_ip: the one client IP this store serves
//	lock_expire=   native: the lifetime of a lock Go takes (PX), default 30 s,
//	               as phpredis with redis.session.lock_expire=0 and
//	               max_execution_time=30. CodeIgniter locks live 300 s.
//	lock_retry=    how long to sleep between tries for a lock (default
//	               10 ms native, 100 ms CodeIgniter, as CodeIgniter 4)
//	compression=   native: redis.session.compression of phpredis 6: none
//	               (default), zstd (read; writes stay uncompressed, which
//	               phpredis reads as is), lzf or lz4 (read, and writes are
//	               compressed as phpredis does, since phpredis does not
//	               reliably read uncompressed data then: redis_compress.go)
//	timeout=       network timeout for connecting and for each command
//	               (default 5 s)
//	tls_ca=, tls_cert=, tls_key=, tls_server_name=, tls_insecure=
//	               rediss:// only: CA bundle file, client certificate and
//	               key files, the name to verify, and skipping verification.
//
// Unix sockets are not supported.

// redisBackend names the backend in errors and Info.
const redisBackend = "redis"

// redisLayout is what differs between the framework layouts.
type redisLayout interface {
	// lockSuffix makes a lock key from a session key.
	lockSuffix() string
	// newLockValue returns the value of a lock about to be taken.
	newLockValue() string
	// acquire tries once to take the lock; false if someone holds it.
	acquire(ctx context.Context, s *redisStore, lockKey, value string) (bool, error)
	// lockRefresh is the lock lifetime a locked write sets again (0: none).
	lockRefresh() time.Duration
}

// redisStore is a Store on one Redis database. It is immutable after
// openRedis and safe for concurrent use.
type redisStore struct {
	c      redis.UniversalClient
	info   Info
	layout redisLayout
	multi  *redisMulti // cluster or sentinel: see redis_cluster.go; nil for one server

	prefix      string // everything before the id (and the match_ip part)
	matchIP     bool
	fixedIP     string // ip=, with match_ip
	lockTimeout time.Duration
	lockRetry   time.Duration

	zstd  *zstd.Decoder // compression=zstd; nil for none
	codec redisCodec    // compression=lzf or lz4: see redis_compress.go

	reads *redisCoalescer // Reads share pipelines under load

	// scripts, per store so that nothing is shared between stores
	release     *redis.Script // phpredis' compare-and-delete
	lockedWrite *redis.Script
	lockedDel   *redis.Script
	ci3Acquire  *redis.Script
}

// redisReleaseLua is phpredis' lock release, byte for byte (so its SHA1 is
// the b70c2384... that PHP's EVALSHA uses too).
const redisReleaseLua = `if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("del",KEYS[1]) else return 0 end`

// redisLockedWriteLua writes a session only while the lock still holds our
// value: KEYS = key, lock key; ARGV = lock value, ttl seconds, data, lock
// lifetime to set again in seconds (0: leave it).
const redisLockedWriteLua = `if redis.call("get",KEYS[2]) ~= ARGV[1] then return 0 end
if ARGV[4] ~= "0" then redis.call("expire",KEYS[2],ARGV[4]) end
redis.call("setex",KEYS[1],ARGV[2],ARGV[3])
return 1`

// redisLockedDelLua deletes a session only while the lock still holds our
// value: KEYS = key, lock key; ARGV = lock value.
const redisLockedDelLua = `if redis.call("get",KEYS[2]) ~= ARGV[1] then return 0 end
redis.call("del",KEYS[1])
return 1`

// openRedis opens a redis:// or rediss:// store URL.
func openRedis(ctx context.Context, o *options) (Store, error) {
	u := o.URL
	if redisSharded(u) { // phpredis with several servers: see redis_shard.go
		return openRedisShard(ctx, o)
	}
	lockGiven := o.Has("lock")
	c := parseCommon(o, []string{"native", "ci3", "ci4", "dalmp", "phalcon3", "phalcon4", "phalcon5"}, map[string]layoutDefaults{
		"native": {TTL: 1440 * time.Second, LockTimeout: 30 * time.Second},
		"ci3":    {TTL: 7200 * time.Second, LockTimeout: 30 * time.Second},
		"ci4":    {TTL: 7200 * time.Second, LockTimeout: 30 * time.Second},
		"dalmp":  dalmpDefaults, // dalmp layout: see dalmp.go
		// phalcon layouts: see redis_phalcon.go
		"phalcon3": redisPhalconDefaults("phalcon3"),
		"phalcon4": redisPhalconDefaults("phalcon4"),
		"phalcon5": redisPhalconDefaults("phalcon5"),
	})
	if c.Layout == dalmpLayout { // dalmp layout: see dalmp.go
		return openRedisDALMP(ctx, o, c)
	}
	if c.Layout == "native" && !lockGiven {
		c.Lock = false // phpredis: redis.session.locking_enabled=0
	}
	s := &redisStore{
		lockTimeout: c.LockTimeout,
		release:     redis.NewScript(redisReleaseLua),
		lockedWrite: redis.NewScript(redisLockedWriteLua),
		lockedDel:   redis.NewScript(redisLockedDelLua),
	}
	var err error
	switch c.Layout {
	case "native":
		s.layout, err = parseRedisNative(o, s)
	case "phalcon3", "phalcon4", "phalcon5": // phalcon layouts: see redis_phalcon.go
		s.layout, err = parseRedisPhalcon(o, s, &c)
	default:
		s.layout, err = parseRedisCI(o, s, c.Layout)
	}
	if err != nil {
		return nil, err
	}
	timeout := o.Duration("timeout", 5*time.Second)
	ropts, terr := redisClientOptions(o, timeout)
	if err := o.Err(); err != nil {
		return nil, err
	}
	if terr != nil {
		return nil, terr
	}
	if c.TTL <= 0 {
		return nil, errors.New("ttl= must be more than 0 seconds")
	}
	if timeout <= 0 {
		return nil, errors.New("timeout= must be more than 0")
	}
	s.info = Info{
		URL:     u.Redacted(),
		Backend: redisBackend,
		Layout:  c.Layout,
		Handler: c.Handler,
		TTL:     c.TTL,
		Locking: c.Lock,
	}
	if err := s.connect(o, c, ropts); err != nil { // cluster and sentinel: see redis_cluster.go
		return nil, err
	}
	s.reads = newRedisCoalescer(s.c)
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.c.Ping(pctx).Err(); err != nil {
		s.Close()
		return nil, fmt.Errorf("redis: %w", err)
	}
	if p, ok := s.layout.(*redisPhalcon); ok { // phalcon layouts: see redis_phalcon.go
		return p.store(s), nil
	}
	return s, nil
}

// redisClientOptions builds the go-redis options from the URL: address,
// credentials, database, TLS and timeouts.
func redisClientOptions(o *options, timeout time.Duration) (*redis.Options, error) {
	if redisMultiScheme(o.URL.Scheme) { // cluster and sentinel: see redis_cluster.go
		return redisMultiClientOptions(o, timeout)
	}
	u := o.URL
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("redis URL has no host")
	}
	port := u.Port()
	if port == "" {
		port = "6379"
	}
	db := 0
	if p := strings.TrimPrefix(u.Path, "/"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("redis URL path %q: want a database number such as /0", u.Path)
		}
		db = n
	}
	ro := &redis.Options{
		Addr:         net.JoinHostPort(host, port),
		DB:           db,
		DialTimeout:  timeout,
		ReadTimeout:  timeout,
		WriteTimeout: timeout,
		// No silent re-sends: a retried SET NX whose first reply was lost
		// would wait on its own lock.
		MaxRetries:            -1,
		DialerRetries:         1,
		ContextTimeoutEnabled: true,
		DisableIdentity:       true,
		// RESP2, which every Redis and Redis-compatible server speaks; no
		// client-side caching or maintenance notifications.
		Protocol: 2,
	}
	if u.User != nil {
		ro.Username = u.User.Username()
		ro.Password, _ = u.User.Password()
	}
	// pool_size= bounds the connections to each server (go-redis' default,
	// 10 per CPU, when not given): a sidecar serving many clients at once
	// waits for a free connection beyond it.
	ro.PoolSize = o.Int("pool_size", 0)
	if ro.PoolSize < 0 {
		return nil, fmt.Errorf("pool_size=%d: want a positive number", ro.PoolSize)
	}
	ca := o.String("tls_ca", "")
	cert := o.String("tls_cert", "")
	key := o.String("tls_key", "")
	serverName := o.String("tls_server_name", "")
	insecure := o.Bool("tls_insecure", false)
	if u.Scheme != "rediss" {
		if ca != "" || cert != "" || key != "" || serverName != "" || insecure {
			return nil, errors.New("tls_* options need a rediss:// URL")
		}
		return ro, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, InsecureSkipVerify: insecure}
	if serverName != "" {
		tc.ServerName = serverName
	}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("tls_ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls_ca=%q: no PEM certificate in it", ca)
		}
	}
	if (cert == "") != (key == "") {
		return nil, errors.New("tls_cert= and tls_key= go together")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("tls_cert/tls_key: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	ro.TLSConfig = tc
	return ro, nil
}

// parseRedisCompression reads compression= for the native layout.
func parseRedisCompression(o *options, s *redisStore) error {
	switch v := o.OneOf("compression", "none", "none", "zstd", "lzf", "lz4"); v {
	case "zstd":
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(2), zstd.WithDecoderMaxMemory(redisMaxPayload))
		if err != nil {
			return err
		}
		s.zstd = d
	case "lzf", "lz4":
		s.codec = redisCodec(v)
	}
	return nil
}

// given reports whether the URL has option name, without making it a known
// option of the URL (for options that belong to other layouts).
func given(o *options, name string) bool {
	_, ok := o.q[name]
	return ok
}

// Info describes the store.
func (s *redisStore) Info() Info { return s.info }

// Close closes the connections.
func (s *redisStore) Close() error {
	if s.reads != nil {
		s.reads.close()
	}
	if s.zstd != nil {
		s.zstd.Close()
	}
	if s.c == nil {
		return nil
	}
	return s.c.Close()
}

// key returns the session key of id (under ip, with match_ip).
func (s *redisStore) key(id, ip string) string {
	if s.matchIP {
		return s.prefix + ip + ":" + id
	}
	return s.prefix + id
}

// checkIP validates a client IP for a match_ip key.
func checkIP(ip string) error {
	if net.ParseIP(ip) == nil {
		return fmt.Errorf("match_ip: %q is not an IP address", ip)
	}
	return nil
}

// writeIP returns the IP a record is written under, with match_ip.
func (s *redisStore) writeIP(rec *Record) (string, error) {
	if !s.matchIP {
		return "", nil
	}
	ip := rec.Meta.IP
	switch {
	case ip == "" && s.fixedIP == "":
		return "", errors.New("match_ip: the record has no Meta.IP and the store no ip=")
	case ip == "":
		ip = s.fixedIP
	case s.fixedIP != "" && ip != s.fixedIP:
		return "", fmt.Errorf("match_ip: record IP %q is not the store's ip=%s", ip, s.fixedIP)
	}
	return ip, checkIP(ip)
}

// findIP returns the IP a session lives under, with match_ip: ip= if
// given, else the one IP a SCAN finds it under. ErrNotFound when none.
func (s *redisStore) findIP(ctx context.Context, id string) (string, error) {
	if !s.matchIP {
		return "", nil
	}
	if s.fixedIP != "" {
		return s.fixedIP, nil
	}
	var ips []string
	suffix := ":" + id
	err := s.scan(ctx, globEscape(s.prefix)+"*"+suffix, func(key string) error {
		ip := strings.TrimSuffix(strings.TrimPrefix(key, s.prefix), suffix)
		if checkIP(ip) == nil {
			ips = append(ips, ip)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	slices.Sort(ips)
	ips = slices.Compact(ips) // SCAN may report a key twice
	switch len(ips) {
	case 0:
		return "", ErrNotFound
	case 1:
		return ips[0], nil
	}
	return "", fmt.Errorf("match_ip: the id is stored under several IPs (%s); give ip=", strings.Join(ips, ", "))
}

// globEscape escapes the glob characters of a SCAN MATCH pattern.
func globEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ttlSeconds is the SETEX lifetime for a record's TTL: whole seconds,
// rounded up, at least 1; 0 means the store's default.
func (s *redisStore) ttlSeconds(ttl time.Duration) (int64, error) {
	if ttl < 0 {
		return 0, fmt.Errorf("negative TTL %v", ttl)
	}
	if ttl == 0 {
		ttl = s.info.TTL
	}
	return int64((ttl + time.Second - 1) / time.Second), nil
}

// get reads a session key and its remaining lifetime.
func (s *redisStore) get(ctx context.Context, id, ip string) (*Record, error) {
	// one round trip, shared with concurrent Reads; GET is what matters,
	// PTTL only says how long is left
	get, pttl, err := s.reads.read(ctx, s.key(id, ip))
	if err != nil {
		return nil, err
	}
	raw, err := get.Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	data, err := s.decompress(raw)
	if err != nil {
		return nil, err
	}
	rec := &Record{ID: id, Data: data, Meta: Meta{IP: ip}}
	if d := pttl.Val(); d > 0 {
		rec.TTL = d
	}
	return rec, nil
}

// redisMaxPayload bounds a decompressed session (a zstd bomb is an error).
const redisMaxPayload = 64 << 20

// zstdMagic starts every zstd frame.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// decompress undoes phpredis' redis.session.compression. As phpredis does,
// a payload that is not compressed is taken as it is.
func (s *redisStore) decompress(b []byte) ([]byte, error) {
	if out, done, err := s.undoCodec(b); done { // lzf, lz4
		return out, err
	}
	if !bytes.HasPrefix(b, zstdMagic) {
		return b, nil
	}
	if s.zstd == nil {
		return nil, errors.New("the payload is zstd-compressed (phpredis redis.session.compression=zstd): open the store with compression=zstd")
	}
	out, err := s.zstd.DecodeAll(b, nil)
	if err != nil {
		return nil, fmt.Errorf("the zstd-compressed payload does not decompress: %w", err)
	}
	return out, nil
}

// Read returns the session, with TTL from PTTL. It does not take the lock:
// a Redis GET never sees a half-written value.
func (s *redisStore) Read(ctx context.Context, id string) (*Record, error) {
	if err := checkID(id); err != nil {
		return nil, opError("read", redisBackend, id, err)
	}
	ip, err := s.findIP(ctx, id)
	if err != nil {
		return nil, opError("read", redisBackend, id, err)
	}
	rec, err := s.get(ctx, id, ip)
	return rec, opError("read", redisBackend, id, err)
}

// checkWrite checks a record before a write and returns the IP it goes
// under (match_ip) and its lifetime in seconds; errors are wrapped.
func (s *redisStore) checkWrite(rec *Record) (ip string, secs int64, err error) {
	if err = checkID(rec.ID); err == nil {
		if ip, err = s.writeIP(rec); err == nil {
			secs, err = s.ttlSeconds(rec.TTL)
		}
	}
	return ip, secs, opError("write", redisBackend, rec.ID, err)
}

// Write stores the session with SETEX, as PHP does; with locking on, under
// the PHP side's lock, which it waits for up to lock_timeout.
func (s *redisStore) Write(ctx context.Context, rec *Record) error {
	ip, secs, err := s.checkWrite(rec)
	if err != nil {
		return err
	}
	if !s.info.Locking {
		err := s.c.Do(ctx, "SETEX", s.key(rec.ID, ip), secs, s.compress(rec.Data)).Err()
		return opError("write", redisBackend, rec.ID, err)
	}
	l, err := s.lock(ctx, rec.ID, ip)
	if err != nil {
		return opError("write", redisBackend, rec.ID, err)
	}
	err = l.write(ctx, rec.Data, secs)
	if uerr := l.unlock(context.WithoutCancel(ctx)); err == nil {
		err = uerr
	}
	return opError("write", redisBackend, rec.ID, err)
}

// Destroy deletes the session (DEL); with locking on, under the lock, so
// that a PHP request holding the session finishes first.
func (s *redisStore) Destroy(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return opError("destroy", redisBackend, id, err)
	}
	ip, err := s.findIP(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return opError("destroy", redisBackend, id, err)
	}
	if !s.info.Locking {
		return opError("destroy", redisBackend, id, s.c.Del(ctx, s.key(id, ip)).Err())
	}
	l, err := s.lock(ctx, id, ip)
	if err != nil {
		return opError("destroy", redisBackend, id, err)
	}
	err = l.destroy(ctx)
	if uerr := l.unlock(context.WithoutCancel(ctx)); err == nil {
		err = uerr
	}
	return opError("destroy", redisBackend, id, err)
}

// Touch sets the session's lifetime again without rewriting it (EXPIRE),
// as phpredis' update_timestamp and CodeIgniter 3's updateTimestamp do.
func (s *redisStore) Touch(ctx context.Context, id string, ttl time.Duration) error {
	if err := checkID(id); err != nil {
		return opError("touch", redisBackend, id, err)
	}
	secs, err := s.ttlSeconds(ttl)
	if err != nil {
		return opError("touch", redisBackend, id, err)
	}
	ip, err := s.findIP(ctx, id)
	if err != nil {
		return opError("touch", redisBackend, id, err)
	}
	ok, err := s.c.Expire(ctx, s.key(id, ip), time.Duration(secs)*time.Second).Result()
	if err == nil && !ok {
		err = ErrNotFound
	}
	return opError("touch", redisBackend, id, err)
}

// scan calls fn with every key matching pattern, by SCAN (never KEYS).
func (s *redisStore) scan(ctx context.Context, pattern string, fn func(key string) error) error {
	return redisEachNode(ctx, s.c, func(c redis.Cmdable) error { // every master of a cluster
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, pattern, 1000).Result()
			if err != nil {
				return err
			}
			for _, k := range keys {
				if err := fn(k); err != nil {
					return err
				}
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	})
}

// List calls fn with the id of every session under the prefix, by SCAN.
// Lock keys and keys that are not sessions of this layout are skipped. As
// SCAN does, it may report an id twice.
func (s *redisStore) List(ctx context.Context, fn func(id string) error) error {
	err := s.scan(ctx, globEscape(s.prefix)+"*", func(key string) error {
		if id, ok := s.sessionID(key); ok {
			return fn(id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis list: %w", err)
	}
	return nil
}

// sessionID returns the session id a key holds, if it is a session key of
// this store (not a lock key, nor another layout's or application's key).
func (s *redisStore) sessionID(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, s.prefix)
	if !ok || strings.HasSuffix(rest, s.layout.lockSuffix()) {
		return "", false
	}
	if s.matchIP {
		i := strings.LastIndexByte(rest, ':')
		if i < 0 || checkIP(rest[:i]) != nil || (s.fixedIP != "" && rest[:i] != s.fixedIP) {
			return "", false
		}
		rest = rest[i+1:]
	}
	return rest, checkID(rest) == nil
}

// WriteBatch writes many sessions in one round trip (pipelined SETEX),
// each as Write would without locking, for copying into a store. Every
// record is checked before anything is sent.
func (s *redisStore) WriteBatch(ctx context.Context, recs []*Record) error {
	type item struct {
		key  string
		secs int64
	}
	items := make([]item, len(recs))
	for i, rec := range recs {
		ip, secs, err := s.checkWrite(rec)
		if err != nil {
			return err
		}
		items[i] = item{s.key(rec.ID, ip), secs}
	}
	cmds, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, it := range items {
			p.Do(ctx, "SETEX", it.key, it.secs, s.compress(recs[i].Data))
		}
		return nil
	})
	for i, c := range cmds {
		if c.Err() != nil {
			return opError("write", redisBackend, recs[i].ID, c.Err())
		}
	}
	if err != nil {
		return fmt.Errorf("redis write batch: %w", err)
	}
	return nil
}

// redisCountSample is how many random keys Count looks at in a large
// database, and redisCountExact the database size up to which it counts
// exactly by SCAN.
const (
	redisCountSample = 256
	redisCountExact  = 2000
)

// Count estimates how many sessions the store holds: exactly by SCAN in a
// small database, else DBSIZE times the share of session keys among
// randomly sampled keys (one round trip; other applications' keys and lock
// keys are not counted).
func (s *redisStore) Count(ctx context.Context) (int64, error) {
	size, err := s.c.DBSize(ctx).Result()
	if err != nil {
		return 0, fmt.Errorf("redis count: %w", err)
	}
	if size <= redisCountExact {
		var n int64
		err := s.List(ctx, func(string) error { n++; return nil })
		return n, err
	}
	cmds, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for range redisCountSample {
			p.RandomKey(ctx)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("redis count: %w", err)
	}
	hits, seen := 0, 0
	for _, c := range cmds {
		key, err := c.(*redis.StringCmd).Result()
		if err != nil {
			continue
		}
		seen++
		if _, ok := s.sessionID(key); ok {
			hits++
		}
	}
	if seen == 0 {
		return 0, nil
	}
	return size * int64(hits) / int64(seen), nil
}

// Lock takes the PHP side's lock on id, waiting up to lock_timeout. It
// takes the lock even when the store's locking is off.
func (s *redisStore) Lock(ctx context.Context, id string) (Locked, error) {
	if err := checkID(id); err != nil {
		return nil, opError("lock", redisBackend, id, err)
	}
	if err := s.multi.lockable(); err != nil { // a cluster's native layout: see redis_cluster.go
		return nil, opError("lock", redisBackend, id, err)
	}
	ip, err := s.findIP(ctx, id)
	if errors.Is(err, ErrNotFound) {
		err = errors.New("match_ip: the session does not exist, so its IP is unknown; give ip= to lock a new one")
	}
	if err != nil {
		return nil, opError("lock", redisBackend, id, err)
	}
	l, err := s.lock(ctx, id, ip)
	if err != nil {
		return nil, opError("lock", redisBackend, id, err)
	}
	return l, nil
}

// lock takes the lock of the session key of id under ip.
func (s *redisStore) lock(ctx context.Context, id, ip string) (*redisLocked, error) {
	key := s.key(id, ip)
	l := &redisLocked{s: s, id: id, ip: ip, key: key, lockKey: key + s.layout.lockSuffix(), value: s.layout.newLockValue()}
	deadline := time.Now().Add(s.lockTimeout)
	for {
		ok, err := s.layout.acquire(ctx, s, l.lockKey, l.value)
		if err != nil {
			return nil, err
		}
		if ok {
			return l, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("%w (%v, lock key held by another process)", ErrLockTimeout, s.lockTimeout)
		}
		// sleep lock_retry, give or take a quarter, so waiters spread out
		d := s.lockRetry*3/4 + rand.N(s.lockRetry/2+1)
		t := time.NewTimer(min(d, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// errLockLost is returned by a locked write whose lock is no longer ours.
var errLockLost = fmt.Errorf("%w: the lock expired or was taken over before the write; nothing was written", ErrLockTimeout)

// redisLocked is a session whose lock this process holds.
type redisLocked struct {
	s                    *redisStore
	id, ip, key, lockKey string
	value                string
	mu                   sync.Mutex
	released             bool
}

// write stores data only while the lock still holds our value.
func (l *redisLocked) write(ctx context.Context, data []byte, secs int64) error {
	refresh := int64(l.s.layout.lockRefresh() / time.Second)
	return l.runChecked(ctx, l.s.lockedWrite, secs, l.s.compress(data), refresh)
}

// destroy deletes the session only while the lock still holds our value.
func (l *redisLocked) destroy(ctx context.Context) error {
	return l.runChecked(ctx, l.s.lockedDel)
}

// runChecked runs a script on the session and lock keys that acts only
// while the lock holds our value (it answers 1 then, else 0).
func (l *redisLocked) runChecked(ctx context.Context, script *redis.Script, args ...any) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return errors.New("the lock was released")
	}
	if l.s.multi.crossSlot() { // keys in two slots: see redis_cluster.go
		return l.runSplit(ctx, script, args...)
	}
	n, err := script.Run(ctx, l.s.c, []string{l.key, l.lockKey}, append([]any{l.value}, args...)...).Int()
	if err != nil {
		return err
	}
	if n != 1 {
		return errLockLost
	}
	return nil
}

// unlock deletes the lock if it still holds our value, with phpredis'
// compare-and-delete script.
func (l *redisLocked) unlock(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	err := l.s.release.Run(ctx, l.s.c, []string{l.lockKey}, l.value).Err()
	if err != nil {
		return err
	}
	l.released = true
	return nil
}

// Read returns the locked session.
func (l *redisLocked) Read(ctx context.Context) (*Record, error) {
	rec, err := l.s.get(ctx, l.id, l.ip)
	return rec, opError("read", redisBackend, l.id, err)
}

// Write stores rec.Data under the locked id, if the lock is still ours
// (else an error wrapping ErrLockTimeout, and nothing is written).
func (l *redisLocked) Write(ctx context.Context, rec *Record) error {
	secs, err := l.s.ttlSeconds(rec.TTL)
	if err == nil {
		err = l.write(ctx, rec.Data, secs)
	}
	return opError("write", redisBackend, l.id, err)
}

// Destroy deletes the locked session, if the lock is still ours.
func (l *redisLocked) Destroy(ctx context.Context) error {
	return opError("destroy", redisBackend, l.id, l.destroy(ctx))
}

// Unlock releases the lock; safe to call more than once.
func (l *redisLocked) Unlock(ctx context.Context) error {
	return opError("unlock", redisBackend, l.id, l.unlock(ctx))
}
