package handlers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DALMP's Redis backend (DALMP\Sessions\Redis over DALMP\Cache\Redis and
// phpredis), as DALMP 3.1.0 sends it:
//
//	session key  DALMP_<sha1(<ref name> . <id>)>          (DALMPCacheKey)
//	read         GET <key>, then PHP unserialize()
//	write        SETEX <key> <gc_maxlifetime> s:<len>:"<payload>";
//	             and, when the request has a reference:
//	             HSET <index> <key> "<ref>|<expiry>"; EXPIRE <index> 3600
//	destroy      DEL <key>; with a reference in the request also
//	             HDEL <index> <key>; EXPIRE <index> 3600
//	gc           HGETALL <index>, HDEL of some fields (below)
//	refs         HGETALL <index>, fields parsed as "<ref>|<expiry>"
//	delSessionRef HDEL <index> <matching keys...>; DEL <matching keys...>
//
// where <index> is DALMP_REF_<sha1(<ref name> . DALMP_SESSIONS_KEY)> and
// <expiry> is time() + gc_maxlifetime. The value is always PHP-serialized
// (DALMP's cache serializes whatever it stores), so a session is PHPSTR,
// never the raw payload.
//
// Where phpsess differs, on purpose:
//   - Destroy always removes the index field, so that getSessionRef stops
//     naming a deleted session (DALMP removes it only when the request has
//     a reference set).
//   - Writes are one MULTI/EXEC, so the index never names a session that
//     was not written.
//   - GC removes the index fields whose recorded expiry has passed. DALMP's
//     gc compares the reference (the part before '|') with time(), which in
//     PHP 8 removes every numeric reference and no other; the sessions
//     themselves expire by their TTL either way. Debian never runs it.
//   - DestroyRef deletes a field and its session only if the field still
//     holds the reference it was matched on, in one Lua script per batch.
//
// Options besides handler= and ttl= (default 1440, session.gc_maxlifetime):
// ref_name= (DALMP_SESSIONS_REF, default UID), sessions_key= or ref_index=
// (the index key, see parseDALMPCacheOpts), timeout= and the TLS options of
// the other Redis layouts. DALMP itself always uses database 0 without a
// password; the URL may say otherwise for a proxy or a copy.

// redisDALMPStore is a Store in DALMP's Redis layout.
type redisDALMPStore struct {
	c    *redis.Client
	info Info
	keys dalmpCacheOpts
	form payloadForm   // PHPSTR, always: DALMP's cache serializes its values
	del  *redis.Script // DestroyRef's checked HDEL + DEL
	gc   *redis.Script // GC's checked HDEL
}

// redisDALMPDelLua deletes, for each session key KEYS[i+1], its index field
// and the session, if the field in index KEYS[1] still holds reference
// ARGV[i] (the part before '|'). It returns how many sessions DEL removed.
const redisDALMPDelLua = `local n = 0
for i = 1, #ARGV do
  local v = redis.call("hget", KEYS[1], KEYS[i+1])
  if v then
    local bar = string.find(v, "|", 1, true)
    local ref = v
    if bar then ref = string.sub(v, 1, bar - 1) end
    if ref == ARGV[i] then
      redis.call("hdel", KEYS[1], KEYS[i+1])
      n = n + redis.call("del", KEYS[i+1])
    end
  end
end
return n`

// redisDALMPGCLua removes the index fields KEYS[2..] of index KEYS[1] whose
// expiry (after the first '|') is still below ARGV[1], the unix time now:
// a field rewritten since it was found stale is left alone.
const redisDALMPGCLua = `local n = 0
for i = 2, #KEYS do
  local v = redis.call("hget", KEYS[1], KEYS[i])
  if v then
    local e = string.match(v, "^[^|]*|(%-?%d+)$") or string.match(v, "^[^|]*|(%-?%d+)|")
    if e and tonumber(e) < tonumber(ARGV[1]) then
      n = n + redis.call("hdel", KEYS[1], KEYS[i])
    end
  end
end
return n`

// redisDALMPBatch is how many index fields one command or script handles.
const redisDALMPBatch = 500

var (
	_ Store      = (*redisDALMPStore)(nil)
	_ Referencer = (*redisDALMPStore)(nil)
	_ Collector  = (*redisDALMPStore)(nil)
)

// openRedisDALMP opens redis://...?layout=dalmp; c holds the common options
// openRedis has read.
func openRedisDALMP(ctx context.Context, o *options, c common) (Store, error) {
	dalmpParseCommon(o, &c)
	keys := parseDALMPCacheOpts(o)
	timeout := o.Duration("timeout", 5*time.Second)
	ropts, terr := redisClientOptions(o, timeout)
	if err := o.Err(); err != nil {
		return nil, err
	}
	if terr != nil {
		return nil, terr
	}
	if timeout <= 0 {
		return nil, errors.New("timeout= must be more than 0")
	}
	s := &redisDALMPStore{
		info: Info{URL: o.URL.Redacted(), Backend: redisBackend, Layout: dalmpLayout, Handler: c.Handler, TTL: c.TTL},
		keys: keys,
		form: payloadForm{layout: dalmpLayout, wrapped: true, handler: c.Handler, other: "phpredis (layout=native) or Phalcon 3"},
		del:  redis.NewScript(redisDALMPDelLua),
		gc:   redis.NewScript(redisDALMPGCLua),
		c:    redis.NewClient(ropts),
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.c.Ping(pctx).Err(); err != nil {
		s.Close()
		return nil, fmt.Errorf("redis: %w", err)
	}
	return s, nil
}

// Info describes the store.
func (s *redisDALMPStore) Info() Info { return s.info }

// Close closes the connections.
func (s *redisDALMPStore) Close() error { return s.c.Close() }

func (s *redisDALMPStore) fail(op, id string, err error) error {
	return opError(op, redisBackend, id, err)
}

// redisDALMPIndexValue parses an index field, "<ref>|<expiry>", as DALMP's
// explode('|') does: the reference is what precedes the first '|', the
// expiry what follows up to the next one.
func redisDALMPIndexValue(key, v string) RefEntry {
	ref, rest, _ := strings.Cut(v, "|")
	rest, _, _ = strings.Cut(rest, "|")
	e := RefEntry{Session: key, Ref: ref}
	if n, err := strconv.ParseInt(rest, 10, 64); err == nil {
		e.Expiry = time.Unix(n, 0)
	}
	return e
}

// Read returns the session, its remaining TTL and, with the index key
// known, the reference the index holds for it.
func (s *redisDALMPStore) Read(ctx context.Context, id string) (*Record, error) {
	if err := checkID(id); err != nil {
		return nil, s.fail("read", id, err)
	}
	key := s.keys.key(id)
	var (
		get  *redis.StringCmd
		pttl *redis.DurationCmd
		ref  *redis.StringCmd
	)
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, key)
		pttl = p.PTTL(ctx, key)
		if s.keys.refIndex != "" {
			ref = p.HGet(ctx, s.keys.refIndex, key)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, s.fail("read", id, err)
	}
	raw, err := get.Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, s.fail("read", id, ErrNotFound)
	}
	if err != nil {
		return nil, s.fail("read", id, err)
	}
	data, err := s.form.decode(raw)
	if err != nil {
		return nil, s.fail("read", id, err)
	}
	rec := &Record{ID: id, Data: data}
	if d := pttl.Val(); d > 0 {
		rec.TTL = d
	}
	if ref != nil {
		if v, err := ref.Result(); err == nil {
			rec.Meta.Ref = redisDALMPIndexValue(key, v).Ref
		}
	}
	return rec, nil
}

// Write stores the session as DALMP's write() does, SETEX of the
// PHP-serialized payload, and with a reference (Record.Meta.Ref) the index
// field "<ref>|<expiry>", in one transaction. Without a reference the index
// is left as it is, as DALMP leaves it.
func (s *redisDALMPStore) Write(ctx context.Context, rec *Record) error {
	secs, ref, err := s.keys.checkWrite(rec, s.info.TTL)
	if err != nil {
		return s.fail("write", rec.ID, err)
	}
	if strings.Contains(ref, "|") {
		return s.fail("write", rec.ID, fmt.Errorf("reference %q holds '|', which DALMP's index uses as its separator: getSessionRef could not find it", ref))
	}
	key := s.keys.key(rec.ID)
	expiry := time.Now().Unix() + secs
	_, err = s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, "SETEX", key, secs, s.form.encode(rec.Data))
		if ref != "" {
			p.HSet(ctx, s.keys.refIndex, key, ref+"|"+strconv.FormatInt(expiry, 10))
			p.Expire(ctx, s.keys.refIndex, dalmpRefIndexTTL)
		}
		return nil
	})
	return s.fail("write", rec.ID, err)
}

// Destroy deletes the session and, with the index key known, its index
// field.
func (s *redisDALMPStore) Destroy(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return s.fail("destroy", id, err)
	}
	key := s.keys.key(id)
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key)
		if s.keys.refIndex != "" {
			p.HDel(ctx, s.keys.refIndex, key)
			p.Expire(ctx, s.keys.refIndex, dalmpRefIndexTTL)
		}
		return nil
	})
	return s.fail("destroy", id, err)
}

// scanIndex calls fn with every field of the index, by HSCAN.
func (s *redisDALMPStore) scanIndex(ctx context.Context, fn func(RefEntry) error) error {
	if err := s.keys.needIndex(); err != nil {
		return err
	}
	var cursor uint64
	for {
		kv, next, err := s.c.HScan(ctx, s.keys.refIndex, cursor, "", redisDALMPBatch).Result()
		if err != nil {
			return err
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if err := fn(redisDALMPIndexValue(kv[i], kv[i+1])); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// Refs calls fn with every entry of the reference index. As with HSCAN, an
// entry changed during the listing may be reported twice.
func (s *redisDALMPStore) Refs(ctx context.Context, fn func(RefEntry) error) error {
	var fnErr error
	err := s.scanIndex(ctx, func(e RefEntry) error {
		fnErr = fn(e)
		return fnErr
	})
	if err != nil && err != fnErr {
		return fmt.Errorf("redis refs: %w", err)
	}
	return err
}

// SessionRefs returns the index entries whose reference equals ref as
// PHP's == compares them (getSessionRef), each once.
func (s *redisDALMPStore) SessionRefs(ctx context.Context, ref string) ([]RefEntry, error) {
	var out []RefEntry
	seen := map[string]bool{}
	err := s.scanIndex(ctx, func(e RefEntry) error {
		if dalmpRefEqual(e.Ref, ref) && !seen[e.Session] {
			seen[e.Session] = true
			out = append(out, e)
		}
		return nil
	})
	return out, dalmpRefError(redisBackend, "find", ref, err)
}

// SessionsByRef returns the cache keys of the sessions with reference ref.
func (s *redisDALMPStore) SessionsByRef(ctx context.Context, ref string) ([]string, error) {
	return dalmpSessions(s.SessionRefs(ctx, ref))
}

// DestroyRef deletes the sessions with reference ref and their index
// fields, as delSessionRef does, and returns how many sessions it deleted
// (index entries whose session had already expired are removed but not
// counted).
func (s *redisDALMPStore) DestroyRef(ctx context.Context, ref string) (int, error) {
	entries, err := s.SessionRefs(ctx, ref)
	if err != nil {
		return 0, err
	}
	n := 0
	for len(entries) > 0 {
		batch := entries[:min(len(entries), redisDALMPBatch)]
		entries = entries[len(batch):]
		keys := []string{s.keys.refIndex}
		args := make([]any, len(batch))
		for i, e := range batch {
			keys = append(keys, e.Session)
			args[i] = e.Ref
		}
		m, err := s.del.Run(ctx, s.c, keys, args...).Int()
		n += m
		if err != nil {
			return n, dalmpRefError(redisBackend, "delete", ref, err)
		}
	}
	return n, nil
}

// GC removes the index fields whose recorded expiry has passed and
// returns how many it removed. The sessions themselves expire by their
// TTL; see the top of this file for how DALMP's own gc differs.
func (s *redisDALMPStore) GC(ctx context.Context) (int, error) {
	now := time.Now().Unix()
	var stale []string
	err := s.scanIndex(ctx, func(e RefEntry) error {
		if !e.Expiry.IsZero() && e.Expiry.Unix() < now {
			stale = append(stale, e.Session)
		}
		return nil
	})
	n := 0
	for err == nil && len(stale) > 0 {
		batch := stale[:min(len(stale), redisDALMPBatch)]
		stale = stale[len(batch):]
		var m int
		m, err = s.gc.Run(ctx, s.c, append([]string{s.keys.refIndex}, batch...), now).Int()
		n += m
	}
	if err != nil {
		return n, fmt.Errorf("redis gc: %w", err)
	}
	return n, nil
}
