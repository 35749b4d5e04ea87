package handlers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis Cluster and Redis Sentinel: the Redis layouts of redis.go on many
// servers, through go-redis's ClusterClient and FailoverClient.
//
//	redis+cluster://[user:pass@]HOST:PORT[,HOST:PORT...][/0]?layout=...
//	rediss+cluster://...                  the same over TLS
//	redis+sentinel://[user:pass@]HOST:PORT[,HOST:PORT...]/MASTER[/DB]?layout=...
//	rediss+sentinel://...                 the same over TLS
//
// The hosts of a cluster URL are seeds: any masters or replicas of the
// cluster (port 6379 by default); go-redis learns the rest from CLUSTER
// SLOTS and follows MOVED and ASK. The hosts of a sentinel URL are the
// sentinels (port 26379 by default), MASTER is the name they monitor, DB
// the database (default 0). Every layout's options apply, and those of
// redis.go (timeout=, tls_*: over rediss+..., for every node; a
// tls_server_name= fixes the name checked on every node, else each node's
// host is checked). Reads and writes go to masters only: a replica may
// not have the last write yet.
//
// Cluster. Keys spread over 16384 slots by CRC16 of the whole key, and a
// Lua script may only touch keys of one slot. What PHP does on a cluster,
// Go does:
//
//   - layout=native is phpredis' rediscluster session handler
//     (session.save_handler=rediscluster, session.save_path
//     "seed[]=HOST:PORT&seed[]=..."): key PHPREDIS_CLUSTER_SESSION:<id>
//     (the default prefix= here), GET/SETEX/EXPIRE/DEL as the redis
//     handler, and no lock at all: lock=on and Lock are refused, since PHP
//     would neither take nor honour one.
//   - layout=ci3, ci4 and phalcon5 (lock=on) keep their keys and locks,
//     although CodeIgniter's and Phalcon's Redis drivers speak to one
//     server only (use them behind a cluster-aware proxy, or for copies).
//     Their lock keys (<key>:lock, <key>-lock) carry no hash tag, so they
//     are in another slot than the session: the lock is taken with SET NX
//     on its own key as PHP takes it, released by a compare-and-delete of
//     that one key, and a locked write is a GET of the lock (is it still
//     ours?) followed by SETEX, not one script. What remains of the
//     guarantee: Go writes only after it saw its own lock value; a lock that
//     expires (CodeIgniter: 300 s) between that GET and the SETEX could let
//     one PHP request in, where one server runs both in one script.
//   - layout=dalmp is refused: DALMP's index and sessions would span slots,
//     and DALMP itself cannot use a cluster.
//
// List, Count, match_ip look-ups and migrate SCAN every master, one after
// the other; keys moving between masters during a SCAN (resharding) may be
// reported twice or missed, as SCAN may.
//
// Sentinel. One master at a time, so every layout works as on one server,
// locks and scripts included (layout=dalmp too is refused: DALMP cannot
// follow a sentinel). phpredis 5 has no sentinel session handler; a PHP
// application behind sentinels reaches the master some other way (a
// proxy, a virtual IP), which the redis:// layouts describe. go-redis asks
// the sentinels for the master and follows a failover.
//
// Replication is asynchronous: a write the master acknowledged and had not
// yet sent to a replica is lost when that replica is promoted. So a
// sentinel store sends every write together with WAIT <wait_replicas>
// <wait_timeout> on the same connection, and reports the write as failed
// unless that many replicas have it: an acknowledged Write survives a
// failover to a replica that acknowledged it (Sentinel promotes the
// replica with the most data; with one replica, that one). A failed Write
// may still have reached the master, as with any network error. Options:
//
//	wait_replicas=  replicas that must have a write (default 1; 0: no WAIT,
//	                the writes of an unreplicated master)
//	wait_timeout=   how long WAIT waits (default 1s; below timeout=)
//	sentinel_auth=  on: the sentinels take the URL's user and password too
//	                (default off: they take none)

// redisClusterPrefix is phpredis' rediscluster session prefix
// (PHPREDIS_CLUSTER_SESSION_PREFIX).
const redisClusterPrefix = "PHPREDIS_CLUSTER_SESSION:"

// redisMulti is what a store on a cluster or behind sentinels does
// differently from one on a single server. A nil *redisMulti is a single
// server.
type redisMulti struct {
	cluster bool   // keys in many slots: no script may touch two keys
	noLock  string // why the layout has no lock here; "" when it has one
}

// redisMultiURL is a parsed redis+cluster:// or redis+sentinel:// URL.
type redisMultiURL struct {
	cluster bool
	tls     bool
	addrs   []string
	master  string // sentinel: the monitored master's name
	db      int
}

// redisMultiScheme reports whether a scheme names a cluster or sentinels.
func redisMultiScheme(scheme string) bool {
	switch scheme {
	case "redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel":
		return true
	}
	return false
}

// parseRedisMultiURL reads the hosts, master name and database of a
// cluster or sentinel URL.
func parseRedisMultiURL(u *url.URL) (*redisMultiURL, error) {
	base, kind, _ := strings.Cut(u.Scheme, "+")
	m := &redisMultiURL{cluster: kind == "cluster", tls: base == "rediss"}
	defPort := "26379"
	if m.cluster {
		defPort = "6379"
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%s URL has no host: want %s://HOST:PORT[,HOST:PORT...]", u.Scheme, u.Scheme)
	}
	var err error
	if m.addrs, err = redisAddrs(u.Host, defPort); err != nil {
		return nil, err
	}
	path := strings.Trim(u.Path, "/")
	if m.cluster {
		if path != "" && path != "0" {
			return nil, fmt.Errorf("%s URL path %q: a cluster has database 0 only", u.Scheme, u.Path)
		}
		return m, nil
	}
	name, db, hasDB := strings.Cut(path, "/")
	if name == "" {
		return nil, fmt.Errorf("%s URL has no master name: want %s://HOST:PORT[,...]/MASTER[/DB]", u.Scheme, u.Scheme)
	}
	m.master = name
	if hasDB {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%s URL path %q: want /MASTER or /MASTER/DB with a database number", u.Scheme, u.Path)
		}
		m.db = n
	}
	return m, nil
}

// redisAddrs reads a list of HOST[:PORT] separated by commas, with defPort
// where a port is not given, into HOST:PORT addresses.
func redisAddrs(hosts, defPort string) ([]string, error) {
	var addrs []string
	for _, hp := range strings.Split(hosts, ",") {
		host, port, err := net.SplitHostPort(hp)
		if err != nil {
			if !strings.Contains(err.Error(), "missing port") {
				return nil, fmt.Errorf("host %q: %v", hp, err)
			}
			host, port = strings.Trim(hp, "[]"), defPort
		}
		if n, err := strconv.Atoi(port); host == "" || err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("host %q: want HOST:PORT", hp)
		}
		addrs = append(addrs, net.JoinHostPort(host, port))
	}
	return addrs, nil
}

// openRedisMulti opens a redis+cluster:// or redis+sentinel:// store URL:
// openRedis with a cluster or failover client (see redisStore.connect).
func openRedisMulti(ctx context.Context, o *options) (Store, error) {
	if vs := o.q["layout"]; len(vs) > 0 && vs[len(vs)-1] == dalmpLayout {
		return nil, fmt.Errorf("layout=dalmp on %s: DALMP's Redis cache speaks to one server (its reference index and sessions would span cluster slots); use redis://", o.URL.Scheme)
	}
	return openRedis(ctx, o)
}

// redisMultiClientOptions is redisClientOptions for a cluster or sentinel
// URL: the options every node gets (credentials, TLS, timeouts, the
// database), with Addr the first host. It also reads the sentinel options,
// so that o.Err() knows them.
func redisMultiClientOptions(o *options, timeout time.Duration) (*redis.Options, error) {
	m, err := parseRedisMultiURL(o.URL)
	if err != nil {
		return nil, err
	}
	if !m.cluster {
		w := redisWaitOptions(o)
		if w.n < 0 || w.n > 16 {
			o.errs = append(o.errs, fmt.Sprintf("wait_replicas=%d: want 0 to 16", w.n))
		}
		if w.n > 0 && (w.timeout <= 0 || w.timeout >= timeout) {
			o.errs = append(o.errs, fmt.Sprintf("wait_timeout=%v: want more than 0 and less than timeout= (%v)", w.timeout, timeout))
		}
		o.Bool("sentinel_auth", false)
	} else {
		for _, opt := range []string{"wait_replicas", "wait_timeout", "sentinel_auth"} {
			if o.Has(opt) {
				o.errs = append(o.errs, opt+"= applies to redis+sentinel:// only")
			}
		}
	}
	one := *o.URL
	one.Scheme = "redis"
	if m.tls {
		one.Scheme = "rediss"
	}
	one.Host, one.Path = m.addrs[0], "/"+strconv.Itoa(m.db)
	saved := o.URL
	o.URL = &one
	ro, err := redisClientOptions(o, timeout)
	o.URL = saved
	if err == nil && ro.TLSConfig != nil && !given(o, "tls_server_name") {
		ro.TLSConfig.ServerName = "" // each node's own host name is checked
	}
	return ro, err
}

// redisWait is a sentinel store's WAIT after writes.
type redisWait struct {
	n       int
	timeout time.Duration
}

func redisWaitOptions(o *options) redisWait {
	return redisWait{n: o.Int("wait_replicas", 1), timeout: o.Duration("wait_timeout", time.Second)}
}

// connect creates the store's client: one server (redis://, rediss://),
// a cluster or a sentinel-watched master. c holds the layout's options.
func (s *redisStore) connect(o *options, c common, ro *redis.Options) error {
	if !redisMultiScheme(o.URL.Scheme) {
		s.c = redis.NewClient(ro)
		return nil
	}
	m, err := parseRedisMultiURL(o.URL)
	if err != nil {
		return err
	}
	if m.cluster {
		s.multi = &redisMulti{cluster: true}
		if c.Layout == "native" {
			if c.Lock {
				return errors.New("lock=on: phpredis' rediscluster session handler takes no lock, so PHP would neither see nor honour Go's; leave lock off")
			}
			s.multi.noLock = "phpredis' rediscluster session handler takes no lock"
			if !given(o, "prefix") {
				s.prefix = redisClusterPrefix
			}
		}
		s.c = redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:                 m.addrs,
			Username:              ro.Username,
			Password:              ro.Password,
			TLSConfig:             ro.TLSConfig,
			DialTimeout:           ro.DialTimeout,
			ReadTimeout:           ro.ReadTimeout,
			WriteTimeout:          ro.WriteTimeout,
			MaxRetries:            ro.MaxRetries,
			DialerRetries:         ro.DialerRetries,
			ContextTimeoutEnabled: ro.ContextTimeoutEnabled,
			DisableIdentity:       ro.DisableIdentity,
			Protocol:              ro.Protocol,
			PoolSize:              ro.PoolSize,
		})
		return nil
	}
	fo := &redis.FailoverOptions{
		MasterName:            m.master,
		SentinelAddrs:         m.addrs,
		Username:              ro.Username,
		Password:              ro.Password,
		DB:                    ro.DB,
		TLSConfig:             ro.TLSConfig,
		DialTimeout:           ro.DialTimeout,
		ReadTimeout:           ro.ReadTimeout,
		WriteTimeout:          ro.WriteTimeout,
		MaxRetries:            ro.MaxRetries,
		DialerRetries:         ro.DialerRetries,
		ContextTimeoutEnabled: ro.ContextTimeoutEnabled,
		DisableIdentity:       ro.DisableIdentity,
		Protocol:              ro.Protocol,
		PoolSize:              ro.PoolSize,
	}
	if o.Bool("sentinel_auth", false) {
		fo.SentinelUsername, fo.SentinelPassword = ro.Username, ro.Password
	}
	fc := redis.NewFailoverClient(fo)
	if w := redisWaitOptions(o); w.n > 0 {
		fc.AddHook(&redisWaitHook{c: fc, w: w})
	}
	s.c, s.multi = fc, &redisMulti{}
	return nil
}

// lockable reports why the store cannot lock (nil: it can).
func (m *redisMulti) lockable() error {
	if m == nil || m.noLock == "" {
		return nil
	}
	return errors.New(m.noLock)
}

// crossSlot reports whether the session and lock keys may be in different
// slots (a cluster), where no script may touch both.
func (m *redisMulti) crossSlot() bool { return m != nil && m.cluster }

// runSplit is runChecked on a cluster: the lock check and the change are
// separate commands, since the keys are in different slots (see the file
// comment for what that leaves of the guarantee). l.mu is held.
func (l *redisLocked) runSplit(ctx context.Context, script *redis.Script, args ...any) error {
	v, err := l.s.c.Get(ctx, l.lockKey).Result()
	if errors.Is(err, redis.Nil) || err == nil && v != l.value {
		return errLockLost
	}
	if err != nil {
		return err
	}
	switch script {
	case l.s.lockedWrite: // args: ttl seconds, data, lock lifetime to set again
		if refresh, _ := args[2].(int64); refresh > 0 {
			if err := l.s.c.Expire(ctx, l.lockKey, time.Duration(refresh)*time.Second).Err(); err != nil {
				return err
			}
		}
		return l.s.c.Do(ctx, "SETEX", l.key, args[0], args[1]).Err()
	case l.s.lockedDel:
		return l.s.c.Del(ctx, l.key).Err()
	}
	return errors.New("redis cluster: no split form of this locked command")
}

// redisEachNode calls fn with every master of a cluster, one after the
// other, or with c itself for a single server or a sentinel's master.
func redisEachNode(ctx context.Context, c redis.UniversalClient, fn func(redis.Cmdable) error) error {
	cc, ok := c.(*redis.ClusterClient)
	if !ok {
		return fn(c)
	}
	var (
		mu      sync.Mutex
		masters []*redis.Client
	)
	err := cc.ForEachMaster(ctx, func(_ context.Context, m *redis.Client) error {
		mu.Lock()
		masters = append(masters, m)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(masters, func(a, b *redis.Client) int { return strings.Compare(a.Options().Addr, b.Options().Addr) })
	for _, m := range masters {
		if err := fn(m); err != nil {
			return fmt.Errorf("master %s: %w", m.Options().Addr, err)
		}
	}
	return nil
}

// ------------------------------------------------------------ sentinel --

// redisWaitHook makes every write of a client wait for replicas: single
// write commands are sent as a pipeline with WAIT, pipelines that write get
// WAIT appended, so that WAIT runs on the connection that wrote.
type redisWaitHook struct {
	c *redis.Client
	w redisWait
}

// redisWrites are the commands that change data, of those the stores send.
func redisWrites(name string) bool {
	switch name {
	case "set", "setex", "psetex", "setnx", "getset", "getdel", "getex", "del", "unlink",
		"expire", "pexpire", "expireat", "pexpireat", "persist", "eval", "evalsha",
		"hset", "hdel", "hsetnx", "hmset", "incr", "incrby", "decr", "decrby", "append", "rename":
		return true
	}
	return false
}

// DialHook leaves dialing alone.
func (h *redisWaitHook) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook sends a write command with WAIT, through the pipeline hook.
func (h *redisWaitHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !redisWrites(cmd.Name()) {
			return next(ctx, cmd)
		}
		_, err := h.c.Pipelined(ctx, func(p redis.Pipeliner) error { return p.Process(ctx, cmd) })
		return err
	}
}

// ProcessPipelineHook appends WAIT to a pipeline that writes (not to a
// MULTI/EXEC transaction) and fails its writes unless enough replicas
// acknowledged them.
func (h *redisWaitHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		writes := slices.ContainsFunc(cmds, func(c redis.Cmder) bool { return redisWrites(c.Name()) })
		if !writes || cmds[0].Name() == "multi" {
			return next(ctx, cmds)
		}
		wait := redis.NewIntCmd(ctx, "wait", h.w.n, h.w.timeout.Milliseconds())
		err := next(ctx, append(cmds[:len(cmds):len(cmds)], wait))
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		if n, werr := wait.Result(); werr != nil || n < int64(h.w.n) {
			if werr == nil {
				werr = fmt.Errorf("%d of %d replicas within %v", n, h.w.n, h.w.timeout)
			}
			e := fmt.Errorf("the master took the write but no replica confirmed it (WAIT: %v): a failover now could lose it", werr)
			for _, c := range cmds {
				if redisWrites(c.Name()) && c.Err() == nil {
					c.SetErr(e)
				}
			}
			return e
		}
		return err
	}
}
