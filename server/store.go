package server

import (
	"context"
	"errors"
	"time"

	"github.com/phpsess/phpsess/handlers"
)

// instrumented counts a store's failures and times its lock waits.
type instrumented struct {
	handlers.Store
	m *metrics
}

// instrumentedLocker is an instrumented Store that is also a Locker.
type instrumentedLocker struct {
	instrumented
	l handlers.Locker
}

func instrument(st handlers.Store, m *metrics) handlers.Store {
	in := instrumented{Store: st, m: m}
	if l, ok := st.(handlers.Locker); ok {
		return &instrumentedLocker{instrumented: in, l: l}
	}
	return &in
}

// count records err as a failure of op, unless it is an answer (the
// session is missing, the id is refused) rather than a failure.
func (m *metrics) count(op string, err error) error {
	if err != nil && !errors.Is(err, handlers.ErrNotFound) && !errors.Is(err, handlers.ErrInvalidID) {
		m.storeError(op)
	}
	return err
}

// Read counts failed reads.
func (s *instrumented) Read(ctx context.Context, id string) (*handlers.Record, error) {
	rec, err := s.Store.Read(ctx, id)
	return rec, s.m.count("read", err)
}

// Write counts failed writes.
func (s *instrumented) Write(ctx context.Context, rec *handlers.Record) error {
	return s.m.count("write", s.Store.Write(ctx, rec))
}

// Destroy counts failed destroys.
func (s *instrumented) Destroy(ctx context.Context, id string) error {
	return s.m.count("destroy", s.Store.Destroy(ctx, id))
}

// Lock times the wait for the lock and counts failures.
func (s *instrumentedLocker) Lock(ctx context.Context, id string) (handlers.Locked, error) {
	t0 := time.Now()
	h, err := s.l.Lock(ctx, id)
	s.m.lockWaited(time.Since(t0))
	if err != nil {
		return nil, s.m.count("lock", err)
	}
	return &instrumentedLocked{Locked: h, m: s.m}, nil
}

type instrumentedLocked struct {
	handlers.Locked
	m *metrics
}

// Read counts failed reads.
func (l *instrumentedLocked) Read(ctx context.Context) (*handlers.Record, error) {
	rec, err := l.Locked.Read(ctx)
	return rec, l.m.count("read", err)
}

// Write counts failed writes.
func (l *instrumentedLocked) Write(ctx context.Context, rec *handlers.Record) error {
	return l.m.count("write", l.Locked.Write(ctx, rec))
}

// Destroy counts failed destroys.
func (l *instrumentedLocked) Destroy(ctx context.Context) error {
	return l.m.count("destroy", l.Locked.Destroy(ctx))
}

// Unlock counts failed unlocks.
func (l *instrumentedLocked) Unlock(ctx context.Context) error {
	return l.m.count("unlock", l.Locked.Unlock(ctx))
}
