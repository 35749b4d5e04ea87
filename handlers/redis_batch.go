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
	for _, id := range ids {
		if err := checkID(id); err != nil {
			return nil, opError("read", redisBackend, id, err)
		}
	}
	gets := make([]*redis.StringCmd, len(ids))
	pttls := make([]*redis.DurationCmd, len(ids))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			key := s.key(id, s.fixedIP)
			gets[i] = p.Get(ctx, key)
			pttls[i] = p.PTTL(ctx, key)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redis read batch: %w", err)
	}
	for i, id := range ids {
		raw, err := gets[i].Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, opError("read", redisBackend, id, err)
		}
		data, err := s.decompress(raw)
		if err != nil {
			return nil, opError("read", redisBackend, id, err)
		}
		rec := &Record{ID: id, Data: data, Meta: Meta{IP: s.fixedIP}}
		if d := pttls[i].Val(); d > 0 {
			rec.TTL = d.Round(time.Millisecond)
		}
		recs[i] = rec
	}
	return recs, nil
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
