package session

import (
	"context"
	"errors"
	"time"

	"github.com/phpsess/phpsess/handlers"
)

// Action is what Update does with a session after its callback.
type Action uint8

// The actions of Update.
const (
	Keep    Action = iota // write nothing
	Write                 // write the record the callback returned
	Destroy               // destroy the session
)

// Update runs a read-modify-write of session id the way a PHP request does
// it: with the store's locking on and a handlers.Locker, it takes the PHP
// side's lock (waiting up to the store's lock timeout), reads, calls fn,
// then writes or destroys under the same lock and releases it, whatever
// happens. Otherwise it reads, calls fn and writes without holding a lock
// in between, as handlers.Update does.
//
// fn gets the stored record, or nil when the session does not exist (or
// has expired), and returns what to do. A record to write gets the full
// lifetime (its TTL is what fn set, 0 for the store's default), never the
// remaining TTL that Read reported. If fn returns an error nothing is
// written and Update returns it.
//
// lockWait, if not nil, is called with the time spent waiting for the lock.
func Update(ctx context.Context, st handlers.Store, id string, lockWait func(time.Duration), fn func(cur *handlers.Record) (Action, *handlers.Record, error)) error {
	if l, ok := st.(handlers.Locker); ok && st.Info().Locking {
		t0 := time.Now()
		h, err := l.Lock(ctx, id)
		if lockWait != nil {
			lockWait(time.Since(t0))
		}
		if err != nil {
			return err
		}
		// the lock is released even if ctx is cancelled meanwhile
		defer h.Unlock(context.WithoutCancel(ctx))
		cur, err := h.Read(ctx)
		if errors.Is(err, handlers.ErrNotFound) {
			cur, err = nil, nil
		}
		if err != nil {
			return err
		}
		if err := run(ctx, cur, fn, h.Write, h.Destroy); err != nil {
			return err
		}
		return h.Unlock(context.WithoutCancel(ctx))
	}
	cur, err := st.Read(ctx, id)
	if errors.Is(err, handlers.ErrNotFound) {
		cur, err = nil, nil
	}
	if err != nil {
		return err
	}
	write := func(ctx context.Context, rec *handlers.Record) error {
		rec.ID = id
		return st.Write(ctx, rec)
	}
	destroy := func(ctx context.Context) error { return st.Destroy(ctx, id) }
	return run(ctx, cur, fn, write, destroy)
}

// run calls fn and does what it says.
func run(ctx context.Context, cur *handlers.Record, fn func(*handlers.Record) (Action, *handlers.Record, error),
	write func(context.Context, *handlers.Record) error, destroy func(context.Context) error) error {
	act, rec, err := fn(cur)
	if err != nil {
		return err
	}
	switch act {
	case Write:
		return write(ctx, rec)
	case Destroy:
		return destroy(ctx)
	}
	return nil
}
