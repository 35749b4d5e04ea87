package handlers

import (
	"context"
	"errors"
	"sync"

	"github.com/redis/go-redis/v9"
)

// redisCoalescer gathers the GET and PTTL of concurrent Reads into shared
// pipelines, as rueidis' auto-pipelining does: under load, many requests
// share one round trip (one write and one read, for Redis and for us)
// instead of taking one each. With no other Read waiting, a Read goes out
// alone at once, so that a quiet store pays only a goroutine hand-off.
type redisCoalescer struct {
	c    redis.UniversalClient
	reqs chan *coalescedRead
	stop chan struct{}

	once    sync.Once
	stopped sync.Once
	wg      sync.WaitGroup
}

// Coalescing bounds: pipelines sent at once, and reads in one pipeline.
const (
	coalesceSenders = 4
	coalesceMax     = 128
)

// errStoreClosed is returned by a Read on a closed store.
var errStoreClosed = errors.New("the store is closed")

// coalescedRead is one Read waiting for its pipeline.
type coalescedRead struct {
	key  string
	get  *redis.StringCmd
	pttl *redis.DurationCmd
	done chan struct{}
}

func newRedisCoalescer(c redis.UniversalClient) *redisCoalescer {
	return &redisCoalescer{c: c, reqs: make(chan *coalescedRead), stop: make(chan struct{})}
}

// read returns the GET and PTTL of key, sent in a pipeline shared with the
// Reads waiting at the same time.
func (q *redisCoalescer) read(ctx context.Context, key string) (*redis.StringCmd, *redis.DurationCmd, error) {
	q.once.Do(q.start)
	r := &coalescedRead{key: key, done: make(chan struct{})}
	select {
	case q.reqs <- r:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-q.stop:
		return nil, nil, errStoreClosed
	}
	select {
	case <-r.done:
		return r.get, r.pttl, nil
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

func (q *redisCoalescer) start() {
	for range coalesceSenders {
		q.wg.Go(q.send)
	}
}

// send takes a waiting Read, and every other one already waiting, and sends
// them in one pipeline.
func (q *redisCoalescer) send() {
	batch := make([]*coalescedRead, 0, coalesceMax)
	ctx := context.Background() // each command fails by the client's timeouts
	for {
		select {
		case r := <-q.reqs:
			batch = append(batch[:0], r)
		case <-q.stop:
			return
		}
	drain:
		for len(batch) < coalesceMax {
			select {
			case r := <-q.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		// Errors are the commands' own: a failed round trip sets every one.
		_, _ = q.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, r := range batch {
				r.get = p.Get(ctx, r.key)
				r.pttl = p.PTTL(ctx, r.key)
			}
			return nil
		})
		for i, r := range batch {
			close(r.done)
			batch[i] = nil
		}
	}
}

// close stops the senders; Reads still waiting get errStoreClosed. It may
// be called more than once.
func (q *redisCoalescer) close() {
	q.stopped.Do(func() { close(q.stop) })
	q.wg.Wait()
}
