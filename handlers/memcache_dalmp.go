package handlers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/phpsess/phpsess/phpserialize"
)

// DALMP's Memcache backend (DALMP\Sessions\Memcache over
// DALMP\Cache\Memcache and pecl memcache), as DALMP 3.1.0 stores it:
//
//	session key  DALMP_<sha1(<ref name> . <id>)>          (DALMPCacheKey)
//	write        set(<key>, <payload>, <compress>, gc_maxlifetime): the raw
//	             payload, flags 0, or 2 (zlib) with the compress argument
//	             when it shrinks by 20 %
//	index        DALMP_REF_<sha1(<ref name> . DALMP_SESSIONS_KEY)>: a PHP
//	             array stored serialized (flags 1, 3 if compressed),
//	             [<session key> => [<ref> => <expiry>], ...], rewritten for
//	             3600 s by every write that has a reference, after pruning
//	             the entries whose expiry has passed; numeric references are
//	             int keys, as PHP makes them
//	destroy      delete(<key>), and the index rewritten without it
//	gc           nothing
//
// Both schemes name this layout: memcache://...?layout=dalmp and
// memcached://...?layout=dalmp are the same store, with pecl memcache's
// value flags, because DALMP has no backend for php-memcached (its
// Cache\Memcache is pecl memcache's Memcache class). The scheme only names
// the backend in Info and errors.
//
// Where phpsess differs, on purpose:
//   - Writes are never compressed (flags 0): pecl memcache reads those
//     whatever DALMP's compress argument. Reads undo zlib (flags 2).
//   - The index is rewritten with check-and-set, retried on a conflict, so
//     that a PHP request writing the index at the same moment loses no
//     entry to phpsess (PHP itself writes it without CAS).
//   - Destroy writes no index when there is none (DALMP stores PHP false
//     then), and DestroyRef goes on past sessions that have already expired
//     (DALMP's delSessionRef stops at the first one, index unchanged).
//   - Lifetimes above 30 days are sent as absolute times, which memcached
//     requires (DALMP sends them as they are, and they expire at once).
//
// Options besides handler= and ttl= (default 1440, session.gc_maxlifetime):
// ref_name=, sessions_key= or ref_index= (see parseDALMPCacheOpts) and
// timeout= (default 1s).

// mcDALMPStore is a Store in DALMP's Memcache layout.
type mcDALMPStore struct {
	info Info
	c    *mcClient
	keys dalmpCacheOpts
}

// mcDALMPCASTries bounds the check-and-set retries of an index update.
const mcDALMPCASTries = 20

var (
	_ Store      = (*mcDALMPStore)(nil)
	_ Referencer = (*mcDALMPStore)(nil)
)

// openMemcacheDALMP opens memcache:// or memcached:// with layout=dalmp;
// c holds the common options the scheme's open function has read.
func openMemcacheDALMP(o *options, backend string, c common) (Store, error) {
	dalmpParseCommon(o, &c)
	keys := parseDALMPCacheOpts(o)
	timeout := o.Duration("timeout", mcDefaultTimeout)
	if err := o.Err(); err != nil {
		return nil, err
	}
	// the client and Info of the other memcache layouts; their layout
	// hooks are not used
	base, err := newMCStore(o, backend, c, "", "", nil, timeout)
	if err != nil {
		return nil, err
	}
	return &mcDALMPStore{info: base.info, c: base.c, keys: keys}, nil
}

// Info describes the store.
func (s *mcDALMPStore) Info() Info { return s.info }

// Close closes the connections.
func (s *mcDALMPStore) Close() error { return s.c.close() }

func (s *mcDALMPStore) fail(op, id string, err error) error {
	return opError(op, s.info.Backend, id, err)
}

// Read returns the session with the lifetime memcached says is left and,
// with the index key known, the reference the index holds for it.
func (s *mcDALMPStore) Read(ctx context.Context, id string) (*Record, error) {
	if err := checkID(id); err != nil {
		return nil, s.fail("read", id, err)
	}
	key := s.keys.key(id)
	value, flags, ttl, err := s.c.get(ctx, key)
	if errors.Is(err, memcache.ErrCacheMiss) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, s.fail("read", id, err)
	}
	data, err := (&memcacheNative{}).decode(flags, value)
	if err != nil {
		return nil, s.fail("read", id, err)
	}
	rec := &Record{ID: id, Data: data, TTL: ttl}
	if s.keys.refIndex != "" {
		idx, _, err := s.readIndex(ctx)
		if err != nil {
			return nil, s.fail("read", id, fmt.Errorf("reference index: %w", err))
		}
		if v, ok := idx.Get(phpserialize.StringKey(key)); ok {
			rec.Meta.Ref = mcDALMPEntry(key, v).Ref
		}
	}
	return rec, nil
}

// Write stores the session as DALMP's write() does and, with a reference,
// records it in the index. Without a reference the index is left as it is.
func (s *mcDALMPStore) Write(ctx context.Context, rec *Record) error {
	secs, ref, err := s.keys.checkWrite(rec, s.info.TTL)
	if err != nil {
		return s.fail("write", rec.ID, err)
	}
	key := s.keys.key(rec.ID)
	now := time.Now()
	err = s.c.set(ctx, &memcache.Item{Key: key, Value: rec.Data, Expiration: mcRelativeOrAbsolute(secs, now)})
	if err != nil || ref == "" {
		return s.fail("write", rec.ID, err)
	}
	expiry := now.Unix() + secs
	err = s.updateIndex(ctx, func(idx *phpserialize.Array) (*phpserialize.Array, bool) {
		// DALMP prunes with current($rexpiry) < time(), then sets its entry
		idx, _ = mcDALMPFilter(idx, func(e RefEntry) bool {
			return e.Expiry.IsZero() || e.Expiry.Unix() >= now.Unix()
		})
		inner := phpserialize.NewArray(phpserialize.Entry{Key: phpserialize.ArrayKey(ref), Value: phpserialize.Int(expiry)})
		idx.Set(phpserialize.StringKey(key), phpserialize.ArrayValue(inner))
		return idx, true
	})
	if err != nil {
		err = fmt.Errorf("the session was written, its reference was not: %w", err)
	}
	return s.fail("write", rec.ID, err)
}

// Destroy deletes the session and, with the index key known, removes it
// from the index.
func (s *mcDALMPStore) Destroy(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return s.fail("destroy", id, err)
	}
	key := s.keys.key(id)
	if err := s.c.delete(ctx, key); err != nil {
		return s.fail("destroy", id, err)
	}
	if s.keys.refIndex == "" {
		return nil
	}
	err := s.updateIndex(ctx, func(idx *phpserialize.Array) (*phpserialize.Array, bool) {
		return idx, idx.Delete(phpserialize.StringKey(key))
	})
	return s.fail("destroy", id, err)
}

// mcDALMPEntry reads one index entry, <session key> => [<ref> => <expiry>]:
// the reference is the inner array's first key (DALMP's key()), the expiry
// its first value (current()).
func mcDALMPEntry(key string, v phpserialize.Value) RefEntry {
	e := RefEntry{Session: key}
	inner := v.Array()
	if inner == nil || inner.Len() == 0 {
		return e
	}
	first := inner.Entries()[0]
	e.Ref = first.Key.String()
	switch x := first.Value; x.Kind() {
	case phpserialize.KindInt:
		e.Expiry = time.Unix(x.Int(), 0)
	case phpserialize.KindString:
		if n, err := strconv.ParseInt(x.Str(), 10, 64); err == nil {
			e.Expiry = time.Unix(n, 0)
		}
	}
	return e
}

// readIndex returns the reference index (empty when there is none) and its
// item, for a check-and-set; the item is nil when there is no index.
func (s *mcDALMPStore) readIndex(ctx context.Context) (*phpserialize.Array, *memcache.Item, error) {
	if err := s.keys.needIndex(); err != nil {
		return nil, nil, err
	}
	var it *memcache.Item
	err := s.c.do(ctx, s.keys.refIndex, func() (err error) {
		it, err = s.c.mc.Get(s.keys.refIndex)
		return err
	})
	if errors.Is(err, memcache.ErrCacheMiss) {
		return phpserialize.NewArray(), nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	idx, err := mcDALMPDecodeIndex(it.Flags, it.Value)
	return idx, it, err
}

// mcDALMPDecodeIndex decodes the index item: a PHP array serialized by pecl
// memcache (flags 1, or 3 when zlib-compressed). PHP false, which DALMP's
// destroy() stores when there was no index, is an empty index.
func mcDALMPDecodeIndex(flags uint32, v []byte) (*phpserialize.Array, error) {
	if flags&mmcTypeMask == 0x0100 { // a PHP bool: false
		return phpserialize.NewArray(), nil
	}
	if flags&mmcSerialized == 0 || flags&mmcTypeMask != 0 {
		return nil, fmt.Errorf("the index item has pecl memcache flags %#x, not a serialized PHP array", flags)
	}
	if flags&mmcCompressed != 0 {
		out, err := mcInflate(v, mcMaxDecoded)
		if err != nil {
			return nil, fmt.Errorf("cannot decompress the index (flags %#x): %w", flags, err)
		}
		v = out
	}
	val, err := phpserialize.Decode(v)
	if err != nil {
		return nil, fmt.Errorf("the index does not unserialize: %w", err)
	}
	switch val.Kind() {
	case phpserialize.KindArray:
		return val.Array(), nil
	case phpserialize.KindBool:
		if !val.Bool() {
			return phpserialize.NewArray(), nil
		}
	}
	return nil, fmt.Errorf("the index holds a PHP %s, not an array", val.Kind())
}

// mcDALMPFilter returns the index entries keep accepts, in order, and
// whether any was dropped.
func mcDALMPFilter(idx *phpserialize.Array, keep func(RefEntry) bool) (*phpserialize.Array, bool) {
	out := phpserialize.NewArray()
	dropped := false
	for _, e := range idx.Entries() {
		if keep(mcDALMPEntry(e.Key.String(), e.Value)) {
			out.Set(e.Key, e.Value)
		} else {
			dropped = true
		}
	}
	return out, dropped
}

// updateIndex changes the index with fn and writes it back with
// check-and-set (add when there was none), retrying on a conflict. fn
// returns the new index and whether it differs; if not, nothing is
// written.
func (s *mcDALMPStore) updateIndex(ctx context.Context, fn func(idx *phpserialize.Array) (*phpserialize.Array, bool)) error {
	for range mcDALMPCASTries {
		idx, it, err := s.readIndex(ctx)
		if err != nil {
			return err
		}
		idx, changed := fn(idx)
		if !changed {
			return nil
		}
		b, err := phpserialize.Encode(phpserialize.ArrayValue(idx))
		if err != nil {
			return err
		}
		exp := int32(dalmpRefIndexTTL / time.Second)
		if it == nil {
			err = s.c.add(ctx, &memcache.Item{Key: s.keys.refIndex, Value: b, Flags: mmcSerialized, Expiration: exp})
		} else {
			it.Value, it.Flags, it.Expiration = b, mmcSerialized, exp
			err = s.c.do(ctx, it.Key, func() error { return s.c.mc.CompareAndSwap(it) })
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, memcache.ErrNotStored), errors.Is(err, memcache.ErrCASConflict), errors.Is(err, memcache.ErrCacheMiss):
			continue // someone else changed (or removed) it meanwhile
		default:
			return err
		}
	}
	return fmt.Errorf("the reference index kept changing under %d attempts to update it", mcDALMPCASTries)
}

// Refs calls fn with every entry of the reference index.
func (s *mcDALMPStore) Refs(ctx context.Context, fn func(RefEntry) error) error {
	idx, _, err := s.readIndex(ctx)
	if err != nil {
		return fmt.Errorf("%s refs: %w", s.info.Backend, err)
	}
	for _, e := range idx.Entries() {
		if err := fn(mcDALMPEntry(e.Key.String(), e.Value)); err != nil {
			return err
		}
	}
	return nil
}

// SessionRefs returns the index entries whose reference equals ref as
// PHP's == compares them (getSessionRef).
func (s *mcDALMPStore) SessionRefs(ctx context.Context, ref string) ([]RefEntry, error) {
	var out []RefEntry
	err := s.Refs(ctx, func(e RefEntry) error {
		if dalmpRefEqual(e.Ref, ref) {
			out = append(out, e)
		}
		return nil
	})
	return out, dalmpRefError(s.info.Backend, "find", ref, err)
}

// SessionsByRef returns the cache keys of the sessions with reference ref.
func (s *mcDALMPStore) SessionsByRef(ctx context.Context, ref string) ([]string, error) {
	return dalmpSessions(s.SessionRefs(ctx, ref))
}

// DestroyRef deletes the sessions with reference ref and their index
// entries, as delSessionRef does, and returns how many sessions it deleted
// (entries whose session had already expired are removed but not
// counted).
func (s *mcDALMPStore) DestroyRef(ctx context.Context, ref string) (int, error) {
	entries, err := s.SessionRefs(ctx, ref)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	n := 0
	matched := make(map[string]bool, len(entries))
	for _, e := range entries {
		matched[e.Session] = true
		err := s.c.do(ctx, e.Session, func() error { return s.c.mc.Delete(e.Session) })
		switch {
		case err == nil:
			n++
		case !errors.Is(err, memcache.ErrCacheMiss):
			return n, dalmpRefError(s.info.Backend, "delete", ref, err)
		}
	}
	err = s.updateIndex(ctx, func(idx *phpserialize.Array) (*phpserialize.Array, bool) {
		// only the entries whose sessions were deleted above
		return mcDALMPFilter(idx, func(e RefEntry) bool { return !matched[e.Session] || !dalmpRefEqual(e.Ref, ref) })
	})
	return n, dalmpRefError(s.info.Backend, "delete", ref, err)
}
