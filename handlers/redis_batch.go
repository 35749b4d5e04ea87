package handlers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ReadBatch reads many sessions in one round trip: a pipeline of GET and
// PTTL for each, as Read does one at a time. recs[i] is nil where session
// ids[i] does not exist. With match_ip and no ip= (where Read has to find
// each session's key first) it reads one at a time.
func (s *redisStore) ReadBatch(ctx context.Context, ids []string) ([]*Record, error) {
	recs := make([]*Record, len(ids))
	if s.matchIP && s.fixedIP == "" {
		for i, id := range ids {
			rec, err := s.Read(ctx, id)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
			recs[i] = rec
		}
		return recs, nil
	}
	keys, err := s.batchKeys(ids)
	if err != nil {
		return nil, err
	}
	raws, ttls, err := s.readKeys(ctx, keys)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		if raws[i] == nil {
			continue
		}
		data, err := s.decompress(raws[i])
		if err != nil {
			return nil, opError("read", redisBackend, id, err)
		}
		rec := &Record{ID: id, Data: data, Meta: Meta{IP: s.fixedIP}}
		if d := ttls[i]; d > 0 {
			rec.TTL = d.Round(time.Millisecond)
		}
		recs[i] = rec
	}
	return recs, nil
}

// readKeys reads the raw values (nil where missing) and PTTLs of keys in one
// round trip.
func (s *redisStore) readKeys(ctx context.Context, keys []string) ([][]byte, []time.Duration, error) {
	raws := make([][]byte, len(keys))
	ttls := make([]time.Duration, len(keys))
	if s.multi == nil || !s.multi.cluster {
		// one MGET for the values: a cluster's keys are in many slots
		var mget *redis.SliceCmd
		pttls := make([]*redis.DurationCmd, len(keys))
		_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			mget = p.MGet(ctx, keys...)
			for i, key := range keys {
				pttls[i] = p.PTTL(ctx, key)
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("redis read batch: %w", err)
		}
		if err := mgetValues(raws, keys, mget.Val()); err != nil {
			return nil, nil, err
		}
		for i := range raws {
			if raws[i] != nil {
				ttls[i] = pttls[i].Val()
			}
		}
		return raws, ttls, nil
	}
	gets := make([]*redis.StringCmd, len(keys))
	pttls := make([]*redis.DurationCmd, len(keys))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, key := range keys {
			gets[i] = p.Get(ctx, key)
			pttls[i] = p.PTTL(ctx, key)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, fmt.Errorf("redis read batch: %w", err)
	}
	for i := range keys {
		raw, err := gets[i].Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("redis read batch: %s: %w", keys[i], err)
		}
		raws[i] = raw
		ttls[i] = pttls[i].Val()
	}
	return raws, ttls, nil
}

// ReadDataBatch reads the payloads of many sessions in one round trip: one
// MGET on a single server, no PTTL. With match_ip and no ip=, or on a
// cluster, it is ReadBatch's payloads.
func (s *redisStore) ReadDataBatch(ctx context.Context, ids []string) ([][]byte, error) {
	data := make([][]byte, len(ids))
	if (s.matchIP && s.fixedIP == "") || (s.multi != nil && s.multi.cluster) {
		return payloads(s.ReadBatch(ctx, ids))
	}
	keys, err := s.batchKeys(ids)
	if err != nil {
		return nil, err
	}
	vals, err := s.c.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("redis read batch: %w", err)
	}
	if err := mgetValues(data, keys, vals); err != nil {
		return nil, err
	}
	for i := range data {
		if data[i] != nil {
			if data[i], err = s.decompress(data[i]); err != nil {
				return nil, opError("read", redisBackend, ids[i], err)
			}
		}
	}
	return data, nil
}

// batchKeys checks ids and returns their keys (with ip=, under it).
func (s *redisStore) batchKeys(ids []string) ([]string, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		if err := checkID(id); err != nil {
			return nil, opError("read", redisBackend, id, err)
		}
		keys[i] = s.key(id, s.fixedIP)
	}
	return keys, nil
}

// mgetValues puts MGET's reply into raws: the bytes of each value, nil
// where the key does not exist.
func mgetValues(raws [][]byte, keys []string, vals []any) error {
	for i, v := range vals {
		switch v := v.(type) {
		case string:
			raws[i] = []byte(v)
		case nil:
		default:
			return fmt.Errorf("redis read batch: %s holds %T", keys[i], v)
		}
	}
	return nil
}

// ReadDataBatch is ReadBatch's payloads: they are taken out of the
// layout's form one record at a time.
func (s *redisPhalconStore) ReadDataBatch(ctx context.Context, ids []string) ([][]byte, error) {
	return payloads(s.ReadBatch(ctx, ids))
}

// payloads is the data of what ReadBatch returned (nil where a session
// does not exist).
func payloads(recs []*Record, err error) ([][]byte, error) {
	if err != nil {
		return nil, err
	}
	data := make([][]byte, len(recs))
	for i, rec := range recs {
		if rec != nil {
			data[i] = rec.Data
		}
	}
	return data, nil
}

// ReadBatch reads many sessions in one round trip, each payload taken out
// of the layout's form as Read does.
func (s *redisPhalconStore) ReadBatch(ctx context.Context, ids []string) ([]*Record, error) {
	recs, err := s.redisStore.ReadBatch(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i, rec := range recs {
		if rec == nil {
			continue
		}
		if recs[i], err = s.unwrap(rec); err != nil {
			return nil, err
		}
	}
	return recs, nil
}
