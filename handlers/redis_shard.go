package handlers

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// phpredis with several servers: session.save_path lists them, and
// phpredis' session handler (redis_session.c) keeps each session on one.
//
//	redis://[user:pass@]H1:P1[:WEIGHT],H2:P2[:WEIGHT],...[/DB]?layout=native&...
//	rediss://...   the same over TLS
//
// List the servers in the order of session.save_path, each with its weight=
// (default 1) after the port, as memcached:// URLs give weights:
// "tcp://10.0.0.1:6379?weight=1, tcp://10.0.0.2:6379?weight=2" is
// redis://10.0.0.1:6379,10.0.0.2:6379:2. The order and the weights decide
// where sessions are; how a host is spelled does not.
//
// Which server holds a session (redis_pool_get_sock, checked against
// phpredis 5.3.7 on PHP 8.2): phpredis puts each server at the head of its
// list as it parses save_path, so its list is save_path reversed. It reads
// the first 4 bytes of the session id as a native-endian uint32 (Go reads
// them little-endian, as x86 and arm64 do; PHP on a big-endian machine such
// as s390x picks other servers), takes pos = that % the total weight, and
// walks its list adding up weights: the server whose [start, start+weight)
// holds pos has the session. The session key, its _LOCK key and every
// command on them (GET, SETEX, EXPIRE, DEL, the lock's SET NX and release)
// go to that server. An id of 3 characters is read with its NUL terminator
// as the 4th byte; for one of 1 or 2 characters phpredis reads memory past
// the id, so where it goes is not known: such ids are refused with
// ErrInvalidID.
//
// Each server is a native store of redis.go opened with the URL's options
// (user, password, database, prefix=, lock=, ...): phpredis takes auth,
// database and prefix per server, so give every server the same ones. A
// server listed twice is refused. Read, Write, Destroy, Touch and Lock go
// to the session's server. List and Count go over every server; List
// reports a session only from the server phpredis picks for its id (a key
// left on another server by another save_path is no session PHP can
// reach). ReadBatch and WriteBatch send each server its share of a batch,
// all servers at once. As phpredis, Go does not fail over: a server that is
// down fails the sessions it holds.
//
// Locks. Go takes and releases a session's lock on the session's server,
// where phpredis takes it. But phpredis 5.3.7 releases its lock (at
// session_write_close) on the server it picks for the prefixed key
// (PS_CLOSE_FUNC picks by lock_status.session_key, "PHPREDIS_SESSION:<id>",
// whose first 4 bytes are the prefix's, "PHPR"): one server for all. With
// redis.session.locking_enabled=1 and several servers, the lock of every
// session on another server stays until it expires (lock_expire, else
// max_execution_time; with both 0, as in the CLI, never); meanwhile the
// next PHP request for the session reads without the lock and its write is
// refused, and a Go store with lock=on waits for it up to lock_timeout
// (TestRedisShardPHPLocks shows all of it). Keep locking off on both sides
// with several servers, as phpredis and this store do by default.
//
// The other layouts refuse several servers: CodeIgniter's, Phalcon's and
// DALMP's Redis clients connect to one server.

// redisShard is a native Redis store over the servers of a phpredis
// save_path, each session on the one server phpredis picks. It is
// immutable after openRedisShard and safe for concurrent use.
type redisShard struct {
	info    Info
	addrs   []string      // HOST:PORT, in the URL's (save_path's) order
	members []*redisStore // the store of each server, as addrs
	weights []uint32      // as addrs
	total   uint32        // the sum of weights
}

var (
	_ Store       = (*redisShard)(nil)
	_ Lister      = (*redisShard)(nil)
	_ Locker      = (*redisShard)(nil)
	_ Toucher     = (*redisShard)(nil)
	_ Counter     = (*redisShard)(nil)
	_ BatchReader = (*redisShard)(nil)
	_ BatchWriter = (*redisShard)(nil)
)

// redisShardMaxWeight bounds the weights: phpredis adds them up in a C int.
const redisShardMaxWeight = math.MaxInt32

// redisSharded reports whether a redis:// or rediss:// URL names several
// servers (or gives a weight), for openRedisShard.
func redisSharded(u *url.URL) bool {
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return false
	}
	hosts, _, err := splitServerWeights(u.Host, redisShardMaxWeight)
	return err != nil || hosts != u.Host || strings.Contains(hosts, ",")
}

// redisOneServer names the PHP client of a layout that speaks to one
// server only ("" for native, and for a layout that does not exist).
func redisOneServer(layout string) string {
	switch layout {
	case "ci3", "ci4":
		return "CodeIgniter's Redis session driver"
	case "phalcon3", "phalcon4", "phalcon5":
		return "Phalcon's Redis session adapter"
	case dalmpLayout:
		return "DALMP's Redis cache"
	}
	return ""
}

// openRedisShard opens a redis:// or rediss:// URL with several servers:
// a native store of each, opened with the URL's options.
func openRedisShard(ctx context.Context, o *options) (Store, error) {
	if vs := o.q["layout"]; len(vs) > 0 {
		if who := redisOneServer(vs[len(vs)-1]); who != "" {
			return nil, fmt.Errorf("layout=%s with several servers: %s connects to one server; only phpredis' session handler (layout=native) spreads sessions over several", vs[len(vs)-1], who)
		}
	}
	hosts, weights, err := splitServerWeights(o.URL.Host, redisShardMaxWeight)
	if err != nil {
		return nil, err
	}
	addrs, err := redisAddrs(hosts, "6379")
	if err != nil {
		return nil, err
	}
	s := &redisShard{addrs: addrs}
	var total uint64
	for i, a := range addrs {
		if slices.Contains(addrs[:i], a) {
			return nil, fmt.Errorf("server %s is listed twice", a)
		}
		total += uint64(weights[i])
		s.weights = append(s.weights, uint32(weights[i]))
	}
	if total > math.MaxInt32 {
		return nil, fmt.Errorf("the weights add up to %d, more than phpredis' int total holds (%d)", total, math.MaxInt32)
	}
	s.total = uint32(total)
	for _, a := range addrs {
		one := *o.URL
		one.Host = a
		st, err := openRedis(ctx, newOptions(&one))
		m, ok := st.(*redisStore)
		if err == nil && !ok { // only the native layout gets here
			st.Close()
			err = fmt.Errorf("layout %s cannot be spread over several servers", st.Info().Layout)
		}
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("server %s: %w", a, err)
		}
		s.members = append(s.members, m)
	}
	s.info = s.members[0].info
	s.info.URL = o.URL.Redacted()
	return s, nil
}

// redisShardPick returns the server phpredis keeps session id on, as an
// index into weights (the servers in save_path order; total is their sum).
// See the file comment; id has at least 3 bytes.
func redisShardPick(id string, weights []uint32, total uint32) int {
	var b [4]byte
	copy(b[:], id) // a 3-byte id: its NUL terminator is the 4th
	pos := binary.LittleEndian.Uint32(b[:]) % total
	var start uint32
	for i := len(weights) - 1; i > 0; i-- { // phpredis' list: save_path reversed
		if pos < start+weights[i] {
			return i
		}
		start += weights[i]
	}
	return 0 // the first server of save_path is the last of phpredis' list
}

// member returns the index of the server of id, after checking the id.
func (s *redisShard) member(op, id string) (int, error) {
	err := checkID(id)
	if err == nil && len(id) < 3 {
		err = fmt.Errorf("%w %q: phpredis picks the server of an id under 3 characters from memory past its end, so which server holds it is not known", ErrInvalidID, id)
	}
	if err != nil {
		return 0, opError(op, redisBackend, id, err)
	}
	return redisShardPick(id, s.weights, s.total), nil
}

// on runs f with the store of id's server, and names the server in f's
// error.
func (s *redisShard) on(op, id string, f func(m *redisStore) error) error {
	i, err := s.member(op, id)
	if err != nil {
		return err
	}
	if err := f(s.members[i]); err != nil {
		return fmt.Errorf("server %s: %w", s.addrs[i], err)
	}
	return nil
}

// Info describes the store; its URL is the one it was opened with.
func (s *redisShard) Info() Info { return s.info }

// Close closes the connections to every server.
func (s *redisShard) Close() error {
	var err error
	for _, m := range s.members {
		err = errors.Join(err, m.Close())
	}
	return err
}

// Read returns the session from its server.
func (s *redisShard) Read(ctx context.Context, id string) (rec *Record, err error) {
	err = s.on("read", id, func(m *redisStore) (err error) {
		rec, err = m.Read(ctx, id)
		return err
	})
	return rec, err
}

// Write stores the session on its server, as redisStore.Write does.
func (s *redisShard) Write(ctx context.Context, rec *Record) error {
	return s.on("write", rec.ID, func(m *redisStore) error { return m.Write(ctx, rec) })
}

// Destroy deletes the session from its server.
func (s *redisShard) Destroy(ctx context.Context, id string) error {
	return s.on("destroy", id, func(m *redisStore) error { return m.Destroy(ctx, id) })
}

// Touch sets the session's lifetime again on its server (EXPIRE).
func (s *redisShard) Touch(ctx context.Context, id string, ttl time.Duration) error {
	return s.on("touch", id, func(m *redisStore) error { return m.Touch(ctx, id, ttl) })
}

// Lock takes the session's lock on its server, where phpredis takes it.
func (s *redisShard) Lock(ctx context.Context, id string) (l Locked, err error) {
	err = s.on("lock", id, func(m *redisStore) (err error) {
		l, err = m.Lock(ctx, id)
		return err
	})
	return l, err
}

// List calls fn with the id of every session, server after server, each
// from the server phpredis picks for it.
func (s *redisShard) List(ctx context.Context, fn func(id string) error) error {
	for i, m := range s.members {
		err := m.List(ctx, func(id string) error {
			if len(id) < 3 || redisShardPick(id, s.weights, s.total) != i {
				return nil
			}
			return fn(id)
		})
		if err != nil {
			return fmt.Errorf("server %s: %w", s.addrs[i], err)
		}
	}
	return nil
}

// Count adds up every server's Count.
func (s *redisShard) Count(ctx context.Context) (int64, error) {
	var n int64
	for i, m := range s.members {
		c, err := m.Count(ctx)
		if err != nil {
			return 0, fmt.Errorf("server %s: %w", s.addrs[i], err)
		}
		n += c
	}
	return n, nil
}

// group sorts the n ids of a batch (id(j) is the j-th) by server: the
// positions in the batch of each server's ids. Every id is checked first.
func (s *redisShard) group(op string, n int, id func(j int) string) ([][]int, error) {
	groups := make([][]int, len(s.members))
	for j := range n {
		i, err := s.member(op, id(j))
		if err != nil {
			return nil, err
		}
		groups[i] = append(groups[i], j)
	}
	return groups, nil
}

// each calls fn with every server's share of a batch (positions in the
// batch), on all servers at once, and returns their errors, each naming
// its server.
func (s *redisShard) each(groups [][]int, fn func(m *redisStore, pos []int) error) error {
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for i, pos := range groups {
		if len(pos) == 0 {
			continue
		}
		wg.Go(func() {
			if err := fn(s.members[i], pos); err != nil {
				errs[i] = fmt.Errorf("server %s: %w", s.addrs[i], err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ReadBatch reads many sessions, one pipeline to each server, all at once.
// recs[i] is nil where session ids[i] does not exist.
func (s *redisShard) ReadBatch(ctx context.Context, ids []string) ([]*Record, error) {
	groups, err := s.group("read", len(ids), func(j int) string { return ids[j] })
	if err != nil {
		return nil, err
	}
	recs := make([]*Record, len(ids))
	err = s.each(groups, func(m *redisStore, pos []int) error {
		sub := make([]string, len(pos))
		for k, j := range pos {
			sub[k] = ids[j]
		}
		got, err := m.ReadBatch(ctx, sub)
		if err != nil {
			return err
		}
		for k, j := range pos {
			recs[j] = got[k]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// WriteBatch writes many sessions, one pipeline to each server, all at
// once, each as Write would without locking. Every record is checked before
// anything is sent; when a server fails, the other servers' shares may
// have been written.
func (s *redisShard) WriteBatch(ctx context.Context, recs []*Record) error {
	for _, rec := range recs {
		if _, _, err := s.members[0].checkWrite(rec); err != nil {
			return err
		}
	}
	groups, err := s.group("write", len(recs), func(j int) string { return recs[j].ID })
	if err != nil {
		return err
	}
	return s.each(groups, func(m *redisStore, pos []int) error {
		sub := make([]*Record, len(pos))
		for k, j := range pos {
			sub[k] = recs[j]
		}
		return m.WriteBatch(ctx, sub)
	})
}
