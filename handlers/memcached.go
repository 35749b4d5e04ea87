package handlers

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/klauspost/compress/zstd"
)

// This file holds what the memcached:// and memcache:// stores share: the
// server list, the client, the store itself, and the php-memcached value
// format. The layouts are in memcached_native.go (php-memcached's session
// handler), memcached_ci.go (CodeIgniter 3 and 4, through php-memcached's
// Memcached class) and memcache.go (pecl memcache's session handler).
//
// Protocol. Commands go through github.com/bradfitz/gomemcache, which
// speaks memcached's text protocol. PHP's clients speak the binary protocol
// by default (php-memcached's session handler, and the CodeIgniter drivers
// which set OPT_BINARY_PROTOCOL); memcached serves both on one port and the
// items are the same, so that does not matter. Two things gomemcache does
// not offer go over a connection of our own:
//
//   - Read uses the meta command "mg <key> v f t" (memcached >= 1.6), which
//     returns the value, its flags and its remaining lifetime in one round
//     trip, so Record.TTL is what the server says is left. On a server that
//     does not know meta commands Read falls back to a plain get and reports
//     TTL 0.
//   - List uses "lru_crawler metadump all" (memcached >= 1.4.31 with the
//     LRU crawler on, the default since 1.5), the only way to enumerate keys.
//
// Servers. The URL names one server or a comma-separated list
// (memcached://10.0.0.1:11211,10.0.0.2:11211); the port defaults to 11211,
// and memcached:///path/to/socket names a unix socket. Keys are spread over
// the list by a gomemcache ServerSelector that picks the server the layout's
// PHP client picks (memcached_selectors.go); everything here, the raw
// connections included, goes through it (newMCClient).

// mcMaxKey is memcached's longest key (KEY_MAX_LENGTH).
const mcMaxKey = 250

// mcMaxRelative is memcached's REALTIME_MAXDELTA: an expiry above it is an
// absolute unix time.
const mcMaxRelative = 30 * 24 * 60 * 60

// mcMaxDecoded bounds the size a compressed value may claim, so a corrupt
// length header cannot make us allocate gigabytes.
const mcMaxDecoded = 128 << 20

// mcDefaultTimeout is the default network timeout of one command.
const mcDefaultTimeout = time.Second

// Lock polling: PHP's clients poll at fixed intervals (php-memcached 150 ms,
// pecl memcache 5 ms doubling to 1 s, CodeIgniter 1 s); Go starts short and
// backs off, so that a lock released by PHP is seen quickly.
const (
	mcLockPollMin = 2 * time.Millisecond
	mcLockPollMax = 100 * time.Millisecond
)

// errMetaUnsupported says the server does not know meta commands.
var errMetaUnsupported = errors.New("server does not support meta commands")

// mcLayout is what differs between the memcached session layouts: how the
// lock is taken and given back, how an expiry is written, how stored values
// are decoded. Data keys are always prefix + id.
type mcLayout interface {
	// lockKey returns the lock key of a data key.
	lockKey(dataKey string) string
	// tryLock makes one attempt to take the lock; false means another
	// holder has it.
	tryLock(ctx context.Context, c *mcClient, lockKey string) (bool, error)
	// unlock gives the lock back as the PHP side does.
	unlock(ctx context.Context, c *mcClient, lockKey string) error
	// expiration converts a lifetime of secs seconds (> 0) to the exptime
	// the PHP side would send.
	expiration(secs int64, now time.Time) int32
	// decode turns a stored value into the session payload.
	decode(flags uint32, value []byte) ([]byte, error)
}

// openMemcached opens a memcached:// store:
//
//	memcached://HOST:PORT[,HOST:PORT...]?layout=native|ci3|ci4
//
// Options, besides handler=, ttl=, lock= and lock_timeout=:
//
//   - layout=native (default): php-memcached's session handler
//     (session.save_handler=memcached). prefix= is memcached.sess_prefix
//     (default "memc.sess.key."); lock_expire= is the lifetime of the lock
//     item (memcached.sess_lock_expire, else max_execution_time; default 30).
//     Default ttl 1440 (session.gc_maxlifetime).
//   - layout=ci3, layout=ci4: CodeIgniter's Memcached session drivers.
//     prefix= replaces the key prefix ("ci_session:" for CI3,
//     "ci_session:<cookie>:" for CI4, cookie= defaulting to ci_session);
//     match_ip=ADDRESS is the client address for sess_match_ip / matchIP,
//     which CodeIgniter puts into the key. Default ttl 7200.
//   - timeout= bounds every network command (default 1s).
//
// ttl=0 means items that never expire (CodeIgniter 4's expiration = 0).
func openMemcached(_ context.Context, o *options) (Store, error) {
	c := parseCommon(o, []string{"native", "ci3", "ci4", "dalmp", "phalcon3", "phalcon4", "phalcon5"}, map[string]layoutDefaults{
		// PHP gives up after ~0.75 s (5 retries of 150 ms), which is too
		// short for a tool; its lock item lives max_execution_time (30 s).
		"native": {TTL: 1440 * time.Second, LockTimeout: 30 * time.Second},
		// CodeIgniter tries 30 times, one second apart.
		"ci3": {TTL: 7200 * time.Second, LockTimeout: 30 * time.Second},
		"ci4": {TTL: 7200 * time.Second, LockTimeout: 30 * time.Second},
		// dalmp layout: see dalmp.go
		"dalmp": dalmpDefaults,
		// phalcon layouts: see memcached_phalcon.go
		"phalcon3": mcPhalconDefaults("phalcon3"),
		"phalcon4": mcPhalconDefaults("phalcon4"),
		"phalcon5": mcPhalconDefaults("phalcon5"),
	})
	// distribution=, hash=, hash_with_prefix=: see memcached_selectors.go
	mcPoolOptions(o, "memcached", c.Layout)
	if c.Layout == dalmpLayout { // dalmp layout: see dalmp.go
		return openMemcacheDALMP(o, "memcached", c)
	}
	switch c.Layout {
	case "phalcon3", "phalcon4", "phalcon5": // phalcon layouts: see memcached_phalcon.go
		return openMemcachedPhalcon(o, "memcached", c)
	}
	var (
		lay    mcLayout
		prefix string
		ip     string
	)
	switch c.Layout {
	case "native":
		prefix, lay = parseMemcachedNative(o)
	default:
		prefix, ip, lay = parseMemcachedCI(o, c.Layout)
	}
	timeout := o.Duration("timeout", mcDefaultTimeout)
	if err := o.Err(); err != nil {
		return nil, err
	}
	return newMCStore(o, "memcached", c, prefix, ip, lay, timeout)
}

// newMCStore connects the store; it sends nothing yet (as PHP, the first
// command dials).
func newMCStore(o *options, backend string, c common, prefix, ip string, lay mcLayout, timeout time.Duration) (*mcStore, error) {
	if timeout <= 0 {
		return nil, fmt.Errorf("timeout=%v: want a positive duration", timeout)
	}
	sel, _, err := newMCSelector(o, backend, c.Layout, prefix) // PHP's server choice: see memcached_selectors.go
	if err != nil {
		return nil, err
	}
	return &mcStore{
		info: Info{
			URL:     Redact(o.URL.String()),
			Backend: backend,
			Layout:  c.Layout,
			Handler: c.Handler,
			TTL:     c.TTL,
			Locking: c.Lock,
		},
		c:           newMCClient(backend, sel, timeout),
		lay:         lay,
		prefix:      prefix,
		ip:          ip,
		lockTimeout: c.LockTimeout,
	}, nil
}

// mcServers returns the server addresses a memcached:// or memcache:// URL
// names: HOST[:PORT] items separated by commas (port 11211 by default), or
// a unix socket path.
func mcServers(u *url.URL) ([]string, error) {
	if u.User != nil {
		return nil, errors.New("memcached URLs take no user or password (PHP's session handlers connect without authentication)")
	}
	if u.Host == "" {
		if u.Path == "" || u.Path == "/" {
			return nil, errors.New("no memcached server: want memcached://HOST:PORT[,HOST:PORT...] or memcached:///path/to/socket")
		}
		return []string{u.Path}, nil
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("memcached URLs have no path (got %q)", u.Path)
	}
	var servers []string
	for _, hp := range strings.Split(u.Host, ",") {
		if hp == "" {
			return nil, fmt.Errorf("empty server in %q", u.Host)
		}
		host, port, err := net.SplitHostPort(hp)
		if err != nil {
			if !strings.Contains(err.Error(), "missing port") {
				return nil, fmt.Errorf("server %q: %v", hp, err)
			}
			host, port = strings.Trim(hp, "[]"), "11211"
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("server %q: bad port", hp)
		}
		servers = append(servers, net.JoinHostPort(host, port))
	}
	return servers, nil
}

// mcKeyPart checks a key prefix (or part of one) for characters memcached
// keys cannot hold.
func mcKeyPart(name, s string) error {
	if len(s) > mcMaxKey-32 {
		return fmt.Errorf("%s=%q: too long for a memcached key", name, s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return fmt.Errorf("%s=%q: memcached keys cannot hold byte %#x", name, s, s[i])
		}
	}
	return nil
}

// mcLockExpire reads lock_expire=: the lifetime of a lock item Go
// takes, in whole seconds.
func mcLockExpire(o *options, def time.Duration) int32 {
	d := o.Duration("lock_expire", def)
	secs := mcCeilSeconds(d)
	if secs <= 0 || secs > mcMaxRelative {
		o.errs = append(o.errs, fmt.Sprintf("lock_expire=%v: want 1s to 30 days (a lock that never expires would outlive a crashed holder)", d))
		return int32(mcCeilSeconds(def))
	}
	return int32(secs)
}

// mcCeilSeconds rounds d up to whole seconds.
func mcCeilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// mcRelativeOrAbsolute is the expiry php-memcached's session handler sends
// (s_adjust_expiration): lifetimes above 30 days become absolute unix
// times, because memcached reads such values that way.
func mcRelativeOrAbsolute(secs int64, now time.Time) int32 {
	if secs <= mcMaxRelative {
		return int32(secs)
	}
	return mcAbsoluteExpiry(secs, now)
}

// mcAbsoluteExpiry is now + secs as a unix time, clamped to what the protocol
// can carry.
func mcAbsoluteExpiry(secs int64, now time.Time) int32 {
	t := now.Unix() + secs
	if t > 1<<31-1 {
		t = 1<<31 - 1
	}
	return int32(t)
}

// ----------------------------------------------------------------- store --

// mcStore is a Store over memcached in one of the mcLayouts.
type mcStore struct {
	info        Info
	c           *mcClient
	lay         mcLayout
	prefix      string // data key = prefix + id
	ip          string // Meta.IP of every record (CodeIgniter match_ip)
	lockTimeout time.Duration
}

var (
	_ Store   = (*mcStore)(nil)
	_ Lister  = (*mcStore)(nil)
	_ Locker  = (*mcStore)(nil)
	_ Toucher = (*mcStore)(nil)
)

// keys checks id and returns its data and lock keys. An id whose lock key
// would not fit memcached's 250 bytes is one the PHP side rejects too
// (php-memcached: "The session id is too long").
func (s *mcStore) keys(id string) (data, lock string, err error) {
	if err := checkID(id); err != nil {
		return "", "", err
	}
	data = s.prefix + id
	lock = s.lay.lockKey(data)
	if len(lock) > mcMaxKey {
		return "", "", fmt.Errorf("%w %q: with prefix %q its lock key is longer than memcached's %d bytes", ErrInvalidID, truncateID(id), s.prefix, mcMaxKey)
	}
	return data, lock, nil
}

func (s *mcStore) fail(op, id string, err error) error {
	return opError(op, s.info.Backend, id, err)
}

// Info describes the store.
func (s *mcStore) Info() Info { return s.info }

// Close closes the connections.
func (s *mcStore) Close() error { return s.c.close() }

// Read returns the session under id, with the lifetime memcached says is
// left. It takes no lock: memcached replaces an item atomically.
func (s *mcStore) Read(ctx context.Context, id string) (*Record, error) {
	key, _, err := s.keys(id)
	if err != nil {
		return nil, s.fail("read", id, err)
	}
	rec, err := s.read(ctx, id, key)
	if err != nil {
		return nil, s.fail("read", id, err)
	}
	return rec, nil
}

func (s *mcStore) read(ctx context.Context, id, key string) (*Record, error) {
	value, flags, ttl, err := s.c.get(ctx, key)
	if errors.Is(err, memcache.ErrCacheMiss) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	data, err := s.lay.decode(flags, value)
	if err != nil {
		return nil, err
	}
	return &Record{ID: id, Data: data, TTL: ttl, Meta: Meta{IP: s.ip}}, nil
}

// Write stores rec.Data under rec.ID, uncompressed with flags 0 (what every
// PHP reader of the layout accepts), for rec.TTL or the default lifetime.
// With locking on it holds the PHP side's lock while it writes.
func (s *mcStore) Write(ctx context.Context, rec *Record) error {
	key, lockKey, err := s.keys(rec.ID)
	if err != nil {
		return s.fail("write", rec.ID, err)
	}
	if !s.info.Locking {
		return s.fail("write", rec.ID, s.put(ctx, key, rec))
	}
	if err := s.acquire(ctx, lockKey); err != nil {
		return s.fail("write", rec.ID, err)
	}
	err = s.put(ctx, key, rec)
	if uerr := s.release(ctx, lockKey); err == nil {
		err = uerr
	}
	return s.fail("write", rec.ID, err)
}

func (s *mcStore) put(ctx context.Context, key string, rec *Record) error {
	return s.c.set(ctx, &memcache.Item{Key: key, Value: rec.Data, Expiration: s.expiry(rec.TTL)})
}

// expiry returns the exptime for a lifetime (0: the default lifetime); a
// lifetime of 0 seconds means no expiry.
func (s *mcStore) expiry(ttl time.Duration) int32 {
	if ttl <= 0 {
		ttl = s.info.TTL
	}
	secs := mcCeilSeconds(ttl)
	if secs <= 0 {
		return 0
	}
	return s.lay.expiration(secs, time.Now())
}

// Destroy removes the session. With locking on it waits for the PHP side's
// lock first, so that a request in flight cannot write the session back
// after it was removed; so Destroy can fail with ErrLockTimeout.
func (s *mcStore) Destroy(ctx context.Context, id string) error {
	key, lockKey, err := s.keys(id)
	if err != nil {
		return s.fail("destroy", id, err)
	}
	if !s.info.Locking {
		return s.fail("destroy", id, s.c.delete(ctx, key))
	}
	if err := s.acquire(ctx, lockKey); err != nil {
		return s.fail("destroy", id, err)
	}
	err = s.c.delete(ctx, key)
	if uerr := s.release(ctx, lockKey); err == nil {
		err = uerr
	}
	return s.fail("destroy", id, err)
}

// Touch sets the session's lifetime to ttl (0: the default lifetime)
// without rewriting it, as PHP's update_timestamp (memcached touch).
func (s *mcStore) Touch(ctx context.Context, id string, ttl time.Duration) error {
	key, _, err := s.keys(id)
	if err != nil {
		return s.fail("touch", id, err)
	}
	err = s.c.touch(ctx, key, s.expiry(ttl))
	if errors.Is(err, memcache.ErrCacheMiss) {
		err = ErrNotFound
	}
	return s.fail("touch", id, err)
}

// Lock takes the PHP side's lock on id, waiting up to the lock timeout.
func (s *mcStore) Lock(ctx context.Context, id string) (Locked, error) {
	key, lockKey, err := s.keys(id)
	if err != nil {
		return nil, s.fail("lock", id, err)
	}
	if err := s.acquire(ctx, lockKey); err != nil {
		return nil, s.fail("lock", id, err)
	}
	return &mcLocked{s: s, id: id, key: key, lockKey: lockKey}, nil
}

// acquire polls the layout's lock until it is taken, the lock timeout
// passes (ErrLockTimeout) or ctx ends.
func (s *mcStore) acquire(ctx context.Context, lockKey string) error {
	deadline := time.Now().Add(s.lockTimeout)
	wait := mcLockPollMin
	for {
		ok, err := s.lay.tryLock(ctx, s.c, lockKey)
		if err != nil {
			return fmt.Errorf("taking the lock: %w", err)
		}
		if ok {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%w (%v)", ErrLockTimeout, s.lockTimeout)
		}
		t := time.NewTimer(min(wait, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, mcLockPollMax)
	}
}

// release gives the lock back, even when ctx was canceled meanwhile.
func (s *mcStore) release(ctx context.Context, lockKey string) error {
	if err := s.lay.unlock(context.WithoutCancel(ctx), s.c, lockKey); err != nil {
		return fmt.Errorf("releasing the lock: %w", err)
	}
	return nil
}

// List reports the id of every session of the layout on every server,
// from memcached's LRU crawler (lru_crawler metadump all): keys that start
// with the prefix and whose rest is a valid session id. Lock keys never
// qualify (they hold '.' or ':'). With an empty prefix (pecl memcache's
// default) any key that looks like a session id is reported.
func (s *mcStore) List(ctx context.Context, fn func(id string) error) error {
	var addrs []net.Addr
	s.c.sel.Each(func(a net.Addr) error { addrs = append(addrs, a); return nil })
	now := time.Now().Unix()
	for _, addr := range addrs {
		err := s.c.metadump(ctx, addr, func(key string, exp int64) error {
			if exp >= 0 && exp <= now {
				return nil // expired, not yet reclaimed
			}
			id, ok := strings.CutPrefix(key, s.prefix)
			if !ok || checkID(id) != nil {
				return nil
			}
			return fn(id)
		})
		if err != nil {
			return fmt.Errorf("%s list: %w", s.info.Backend, err)
		}
	}
	return nil
}

// mcLocked is a session whose lock the store holds.
type mcLocked struct {
	s            *mcStore
	id, key      string
	lockKey      string
	mu           sync.Mutex
	unlocked     bool
	unlockResult error
}

// Read reads the locked session.
func (l *mcLocked) Read(ctx context.Context) (*Record, error) {
	rec, err := l.s.read(ctx, l.id, l.key)
	if err != nil {
		return nil, l.s.fail("read", l.id, err)
	}
	return rec, nil
}

// Write stores rec.Data under the locked id.
func (l *mcLocked) Write(ctx context.Context, rec *Record) error {
	if err := l.held(); err != nil {
		return l.s.fail("write", l.id, err)
	}
	return l.s.fail("write", l.id, l.s.put(ctx, l.key, rec))
}

// Destroy removes the locked session; the lock stays until Unlock.
func (l *mcLocked) Destroy(ctx context.Context) error {
	if err := l.held(); err != nil {
		return l.s.fail("destroy", l.id, err)
	}
	return l.s.fail("destroy", l.id, l.s.c.delete(ctx, l.key))
}

// held refuses changes after Unlock: they would not be under the lock.
func (l *mcLocked) held() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.unlocked {
		return errors.New("the lock was released")
	}
	return nil
}

// Unlock gives the lock back; later calls return the first call's result.
func (l *mcLocked) Unlock(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.unlocked {
		l.unlocked = true
		l.unlockResult = l.s.fail("unlock", l.id, l.s.release(ctx, l.lockKey))
	}
	return l.unlockResult
}

// ---------------------------------------------------------------- client --

// mcClient runs commands on the servers a selector picks: through
// gomemcache, and over connections of its own for what gomemcache lacks.
type mcClient struct {
	backend string
	sel     memcache.ServerSelector
	mc      *memcache.Client
	timeout time.Duration
	pool    mcRawPool
	noMeta  atomic.Bool // the server answered ERROR to mg
}

func newMCClient(backend string, sel memcache.ServerSelector, timeout time.Duration) *mcClient {
	mc := memcache.NewFromSelector(sel)
	mc.Timeout = timeout
	mc.MaxIdleConns = 8
	return &mcClient{backend: backend, sel: sel, mc: mc, timeout: timeout, pool: mcRawPool{timeout: timeout}}
}

func (c *mcClient) close() error {
	c.pool.close()
	return c.mc.Close()
}

// do runs a command, once more if it failed on a connection the server had
// closed (a pooled connection to a restarted server), and names the server
// in network errors. gomemcache takes no context: ctx is checked before,
// and the command is bounded by the client's timeout.
func (c *mcClient) do(ctx context.Context, key string, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := f()
	if mcStaleConn(err) && ctx.Err() == nil {
		// The server restarted or dropped us: the other idle connections
		// are most likely dead too.
		c.mc.Close()
		c.pool.flush()
		err = f()
	}
	return c.wrap(key, err)
}

// mcStaleConn reports an error of a connection the server closed.
func mcStaleConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// wrap names the server in errors other than memcached's answers.
func (c *mcClient) wrap(key string, err error) error {
	switch {
	case err == nil, errors.Is(err, memcache.ErrCacheMiss), errors.Is(err, memcache.ErrNotStored),
		errors.Is(err, memcache.ErrCASConflict), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	if addr, aerr := c.sel.PickServer(key); aerr == nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("server %s: no answer within %v: %w", addr, c.timeout, err)
		}
		return fmt.Errorf("server %s: %w", addr, err)
	}
	return err
}

func (c *mcClient) set(ctx context.Context, it *memcache.Item) error {
	return c.do(ctx, it.Key, func() error { return c.mc.Set(it) })
}

// add stores it unless the key exists (ErrNotStored).
func (c *mcClient) add(ctx context.Context, it *memcache.Item) error {
	return c.do(ctx, it.Key, func() error { return c.mc.Add(it) })
}

// delete removes key; a missing key is not an error.
func (c *mcClient) delete(ctx context.Context, key string) error {
	err := c.do(ctx, key, func() error { return c.mc.Delete(key) })
	if errors.Is(err, memcache.ErrCacheMiss) {
		return nil
	}
	return err
}

func (c *mcClient) touch(ctx context.Context, key string, exptime int32) error {
	return c.do(ctx, key, func() error { return c.mc.Touch(key, exptime) })
}

func (c *mcClient) incr(ctx context.Context, key string, delta uint64) (uint64, error) {
	var n uint64
	err := c.do(ctx, key, func() (err error) {
		n, err = c.mc.Increment(key, delta)
		return err
	})
	return n, err
}

// get returns key's value, flags and remaining lifetime (0 for none, or
// when the server cannot tell), or memcache.ErrCacheMiss.
func (c *mcClient) get(ctx context.Context, key string) ([]byte, uint32, time.Duration, error) {
	if !c.noMeta.Load() {
		var (
			v     []byte
			flags uint32
			ttl   time.Duration
		)
		err := c.do(ctx, key, func() (err error) {
			v, flags, ttl, err = c.metaGet(ctx, key)
			return err
		})
		if !errors.Is(err, errMetaUnsupported) {
			return v, flags, ttl, err
		}
		c.noMeta.Store(true)
	}
	var it *memcache.Item
	err := c.do(ctx, key, func() (err error) {
		it, err = c.mc.Get(key)
		return err
	})
	if err != nil {
		return nil, 0, 0, err
	}
	return it.Value, it.Flags, 0, nil
}

// metaGet is "mg <key> v f t": value, client flags and remaining TTL.
func (c *mcClient) metaGet(ctx context.Context, key string) (value []byte, flags uint32, ttl time.Duration, err error) {
	if !mcLegalKey(key) {
		return nil, 0, 0, memcache.ErrMalformedKey
	}
	addr, err := c.sel.PickServer(key)
	if err != nil {
		return nil, 0, 0, err
	}
	rc, err := c.pool.get(ctx, addr)
	if err != nil {
		return nil, 0, 0, err
	}
	ok := false
	stop := rc.arm(ctx, c.timeout)
	defer func() { c.pool.put(rc, stop() && ok) }()

	rc.bw.WriteString("mg ")
	rc.bw.WriteString(key)
	rc.bw.WriteString(" v f t\r\n")
	if err := rc.bw.Flush(); err != nil {
		return nil, 0, 0, err
	}
	line, err := rc.br.ReadSlice('\n')
	if err != nil {
		return nil, 0, 0, err
	}
	switch {
	case bytes.Equal(line, []byte("EN\r\n")):
		ok = true
		return nil, 0, 0, memcache.ErrCacheMiss
	case bytes.Equal(line, []byte("ERROR\r\n")):
		ok = true
		return nil, 0, 0, errMetaUnsupported
	case !bytes.HasPrefix(line, []byte("VA ")):
		return nil, 0, 0, mcProtocolError("mg", line)
	}
	fields := strings.Fields(string(line[3:]))
	if len(fields) == 0 {
		return nil, 0, 0, mcProtocolError("mg", line)
	}
	size, err := strconv.Atoi(fields[0])
	if err != nil || size < 0 {
		return nil, 0, 0, mcProtocolError("mg", line)
	}
	for _, f := range fields[1:] {
		switch f[0] {
		case 'f':
			n, err := strconv.ParseUint(f[1:], 10, 32)
			if err != nil {
				return nil, 0, 0, mcProtocolError("mg", line)
			}
			flags = uint32(n)
		case 't':
			n, err := strconv.ParseInt(f[1:], 10, 64)
			if err != nil {
				return nil, 0, 0, mcProtocolError("mg", line)
			}
			if n > 0 {
				ttl = time.Duration(n) * time.Second
			}
		}
	}
	value = make([]byte, size+2)
	if _, err := io.ReadFull(rc.br, value); err != nil {
		return nil, 0, 0, err
	}
	if !bytes.HasSuffix(value, []byte("\r\n")) {
		return nil, 0, 0, errors.New("mg: value not terminated by CRLF")
	}
	ok = true
	return value[:size], flags, ttl, nil
}

// metadump streams "lru_crawler metadump all" from one server, calling fn
// with each key and its expiry (a unix time, -1 for none). It retries while
// another crawl keeps the crawler busy.
func (c *mcClient) metadump(ctx context.Context, addr net.Addr, fn func(key string, exp int64) error) error {
	wait := 50 * time.Millisecond
	for {
		busy, err := c.metadumpOnce(ctx, addr, fn)
		if err != nil || !busy {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
	}
}

func (c *mcClient) metadumpOnce(ctx context.Context, addr net.Addr, fn func(key string, exp int64) error) (busy bool, err error) {
	rc, err := c.pool.get(ctx, addr)
	if err != nil {
		return false, fmt.Errorf("server %s: %w", addr, err)
	}
	ok := false
	stop := rc.arm(ctx, c.timeout)
	defer func() { c.pool.put(rc, stop() && ok) }()

	rc.bw.WriteString("lru_crawler metadump all\r\n")
	if err := rc.bw.Flush(); err != nil {
		return false, fmt.Errorf("server %s: %w", addr, err)
	}
	for first := true; ; first = false {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		rc.nc.SetReadDeadline(time.Now().Add(c.timeout))
		line, err := rc.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return false, fmt.Errorf("server %s: metadump line too long", addr)
		}
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return false, fmt.Errorf("server %s: metadump: %w", addr, err)
		}
		if bytes.Equal(line, []byte("END\r\n")) {
			ok = true
			return false, nil
		}
		if !bytes.HasPrefix(line, []byte("key=")) {
			if first && bytes.HasPrefix(line, []byte("BUSY")) {
				ok = true
				return true, nil
			}
			if first {
				msg := strings.TrimSpace(string(line))
				if len(msg) > 80 {
					msg = msg[:80]
				}
				return false, fmt.Errorf("server %s cannot list keys: lru_crawler metadump answered %q (memcached >= 1.5 with the LRU crawler on is needed)", addr, msg)
			}
			return false, fmt.Errorf("server %s: %w", addr, mcProtocolError("lru_crawler metadump", line))
		}
		key, exp, perr := mcParseMetadump(line)
		if perr != nil {
			return false, fmt.Errorf("server %s: %w", addr, perr)
		}
		if err := fn(key, exp); err != nil {
			return false, err
		}
	}
}

// mcParseMetadump reads "key=<uri-encoded key> exp=<unix|-1> la=... ...".
func mcParseMetadump(line []byte) (string, int64, error) {
	var (
		key    string
		exp    int64 = -1
		gotKey bool
	)
	for _, f := range strings.Fields(string(line)) {
		name, val, _ := strings.Cut(f, "=")
		switch name {
		case "key":
			k, err := url.PathUnescape(val)
			if err != nil {
				return "", 0, errors.New("metadump: undecodable key")
			}
			key, gotKey = k, true
		case "exp":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return "", 0, errors.New("metadump: bad exp field")
			}
			exp = n
		}
	}
	if !gotKey {
		return "", 0, errors.New("metadump: line without key")
	}
	return key, exp, nil
}

// mcProtocolError describes an unexpected answer without quoting it: a
// desynchronised stream could be showing session data.
func mcProtocolError(cmd string, line []byte) error {
	word, _, _ := bytes.Cut(bytes.TrimSpace(line), []byte(" "))
	for _, b := range word {
		if b < 'A' || b > 'Z' && b != '_' {
			return fmt.Errorf("%s: unexpected answer from the server (%d bytes)", cmd, len(line))
		}
	}
	return fmt.Errorf("%s: unexpected answer %s from the server", cmd, word)
}

func mcLegalKey(key string) bool {
	if key == "" || len(key) > mcMaxKey {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] == 0x7f {
			return false
		}
	}
	return true
}

// ------------------------------------------------------ raw connections --

// mcRawPool keeps idle connections of our own per server, for the commands
// gomemcache does not offer.
type mcRawPool struct {
	timeout time.Duration
	mu      sync.Mutex
	idle    map[string][]*mcRawConn
	closed  bool
}

// mcRawIdle is how many idle connections a server keeps.
const mcRawIdle = 4

type mcRawConn struct {
	nc   net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	addr string
}

func (p *mcRawPool) get(ctx context.Context, addr net.Addr) (*mcRawConn, error) {
	key := addr.Network() + "!" + addr.String()
	p.mu.Lock()
	if l := p.idle[key]; len(l) > 0 {
		rc := l[len(l)-1]
		p.idle[key] = l[:len(l)-1]
		p.mu.Unlock()
		return rc, nil
	}
	p.mu.Unlock()
	d := net.Dialer{Timeout: p.timeout}
	nc, err := d.DialContext(ctx, addr.Network(), addr.String())
	if err != nil {
		return nil, err
	}
	return &mcRawConn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10), bw: bufio.NewWriter(nc), addr: key}, nil
}

// put returns rc to the pool if reuse is true, else closes it.
func (p *mcRawPool) put(rc *mcRawConn, reuse bool) {
	if reuse {
		p.mu.Lock()
		if !p.closed && len(p.idle[rc.addr]) < mcRawIdle {
			if p.idle == nil {
				p.idle = map[string][]*mcRawConn{}
			}
			p.idle[rc.addr] = append(p.idle[rc.addr], rc)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
	rc.nc.Close()
}

// flush closes the idle connections.
func (p *mcRawPool) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.idle {
		for _, rc := range l {
			rc.nc.Close()
		}
	}
	p.idle = nil
}

// close closes the idle connections and keeps busy ones from coming back.
func (p *mcRawPool) close() {
	p.flush()
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
}

// arm bounds the next exchange by the timeout and ctx's deadline, and makes
// ctx's cancellation interrupt it. The returned stop reports false if ctx
// interrupted the connection, which then must not be reused.
func (rc *mcRawConn) arm(ctx context.Context, timeout time.Duration) (stop func() bool) {
	d := time.Now().Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(d) {
		d = dl
	}
	rc.nc.SetDeadline(d)
	return context.AfterFunc(ctx, func() { rc.nc.SetDeadline(time.Unix(1, 0)) })
}

// --------------------------------------------- php-memcached value format --

// php-memcached's Memcached class keeps the PHP type and compression in the
// item flags (php_memcached.c): bits 0-3 the type, bits 4-15 internal flags
// (compressed, and which compressor), bits 16-31 user flags. A compressed
// payload is a 4-byte native-endian (little-endian on every platform PHP
// runs on in practice) uncompressed length followed by the compressed bytes.
const (
	memcTypeMask       = 0xf
	memcTypeString     = 0
	memcTypeLong       = 1
	memcTypeDouble     = 2
	memcTypeBool       = 3
	memcFlagCompressed = 1 << 4
	memcFlagZlib       = 2 << 4
	memcFlagFastLZ     = 4 << 4
	memcFlagZstd       = 8 << 4 // php-memcached >= 3.3
)

var memcTypeNames = [...]string{"string", "long", "double", "bool", "serialized", "igbinary", "json", "msgpack"}

// decodeMemcachedValue returns the string PHP gets from
// (string) Memcached::get() for a stored value, which is how CodeIgniter
// reads sessions. Scalars are stored as their text; serialized values are
// not session strings.
func decodeMemcachedValue(flags uint32, v []byte) ([]byte, error) {
	typ := flags & memcTypeMask
	switch typ {
	case memcTypeString, memcTypeLong, memcTypeDouble, memcTypeBool:
	default:
		name := "unknown"
		if int(typ) < len(memcTypeNames) {
			name = memcTypeNames[typ]
		}
		return nil, fmt.Errorf("stored value has php-memcached type %d (%s), not a session string", typ, name)
	}
	if flags&memcFlagCompressed == 0 {
		return v, nil
	}
	return memcDecompress(flags, v)
}

// memcDecompress undoes php-memcached's compression (s_decompress_value):
// by the compressor flag, after the length header; failing that (or with no
// compressor flag: php-memcached 1.x) as a bare zlib stream.
func memcDecompress(flags uint32, v []byte) ([]byte, error) {
	var err error
	if flags&(memcFlagZlib|memcFlagFastLZ|memcFlagZstd) != 0 {
		if len(v) < 4 {
			return nil, errors.New("compressed value shorter than its length header")
		}
		n := binary.LittleEndian.Uint32(v)
		if n > mcMaxDecoded {
			return nil, fmt.Errorf("compressed value claims %d bytes", n)
		}
		var out []byte
		switch {
		case flags&memcFlagFastLZ != 0:
			out, err = fastlzDecompress(v[4:], int(n))
		case flags&memcFlagZlib != 0:
			out, err = mcInflate(v[4:], int(n))
		default:
			out, err = mcUnzstd(v[4:], int(n))
		}
		if err == nil {
			return out, nil
		}
	}
	out, zerr := mcInflate(v, mcMaxDecoded)
	if zerr == nil {
		return out, nil
	}
	if err == nil {
		err = zerr
	}
	return nil, fmt.Errorf("cannot decompress stored value (flags %#x): %w", flags, err)
}

// mcInflate decodes a zlib stream of at most max bytes.
func mcInflate(src []byte, max int) ([]byte, error) {
	r, err := zlib.NewReader(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(out) > max {
		return nil, fmt.Errorf("zlib data longer than %d bytes", max)
	}
	return out, nil
}

// mcUnzstd decodes a zstd frame of at most max bytes.
func mcUnzstd(src []byte, max int) ([]byte, error) {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(max)+1))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	out, err := d.DecodeAll(src, nil)
	if err != nil {
		return nil, err
	}
	if len(out) > max {
		return nil, fmt.Errorf("zstd data longer than %d bytes", max)
	}
	return out, nil
}
