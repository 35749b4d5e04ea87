// Package handlers reads and writes PHP sessions where PHP's save handlers
// keep them: the same file, key or row, in the same layout, under the same
// lock and with the same expiry as the PHP side, so that a Go program and a
// live PHP application can share sessions.
//
// A Store is opened from a URL whose scheme picks the backend and whose
// layout= option picks the framework layout:
//
//	file:///var/lib/php/sessions?layout=native
//	redis://127.0.0.1:6379/0?layout=ci4&cookie=ci_session
//	mysql://user:pass@127.0.0.1:3306/app?layout=ci3&table=ci_sessions
//
// A Store moves payload bytes; it does not decode them. The bytes are what
// PHP's session_decode() sees, in the encoding named by the handler= option
// (Info.Handler); package phpserialize decodes and encodes them.
package handlers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/phpsess/phpsess/phpserialize"
)

// ErrNotFound is returned by Read for a session that does not exist or has
// expired.
var ErrNotFound = errors.New("session not found")

// ErrLockTimeout is returned when the PHP side's lock on a session could not
// be taken in time. Nothing was written.
var ErrLockTimeout = errors.New("timed out waiting for the session lock")

// ErrTooLarge is returned by Write for a payload larger than the layout can
// hold (a MySQL BLOB column holds 65,535 bytes): PHP would truncate it and
// then destroy the session, so nothing is written.
var ErrTooLarge = errors.New("session payload too large for the store")

// ErrInvalidID is returned, before the store is touched, for a session id
// that the layout could never have made: path characters, NUL, '|', wrong
// length or alphabet.
var ErrInvalidID = errors.New("invalid session id")

// Record is one stored session.
type Record struct {
	// ID is the session id as PHP knows it (the cookie value), without any
	// key prefix or file name prefix.
	ID string
	// Data is the session payload in the store's encoding (Info.Handler),
	// exactly what PHP's session_decode() receives: layout framing such as
	// CodeIgniter 3's base64 column on PostgreSQL is already removed.
	Data []byte
	// TTL is the remaining lifetime. From Read: what the store says is left
	// (0 when the layout keeps no expiry). For Write: the lifetime to set;
	// 0 means the store's default lifetime (Info.TTL), as PHP would set.
	TTL time.Duration
	// Modified is when the session was last written, where the layout
	// records it (file mtime, CodeIgniter's timestamp column); else zero.
	Modified time.Time
	// Meta holds layout metadata that is not part of the payload.
	Meta Meta
}

// Meta is layout metadata kept beside the payload.
type Meta struct {
	IP  string // CodeIgniter's ip_address column (and match_ip key part)
	Ref string // DALMP's session reference
}

// Info describes an open store.
type Info struct {
	URL     string               // the store URL, with any password removed
	Backend string               // "file", "redis", "memcached", "memcache", "mysql", "postgres", ...
	Layout  string               // "native", "ci3", "ci4", ...
	Handler phpserialize.Handler // session.serialize_handler of the payloads
	TTL     time.Duration        // default lifetime written by Write
	Locking bool                 // whether Write and Lock take the PHP side's lock
}

// Store is a place where PHP keeps sessions, in one framework's layout.
//
// The contract, for every backend:
//   - Read returns the session, or an error wrapping ErrNotFound when it does
//     not exist or has expired. It never returns a half-written payload: where
//     the backend could show one (files), it reads under a shared lock.
//   - Write stores rec.Data under rec.ID as the PHP side would, setting
//     rec.TTL (or the default lifetime). With locking on it first takes the
//     PHP side's lock on the session, waiting up to the lock timeout, and
//     fails with ErrLockTimeout rather than write without it. A failed Write
//     leaves the previous payload in place where the backend allows it.
//   - Destroy removes the session; removing a missing session is not an error.
//   - Every method checks the id first and returns an error wrapping
//     ErrInvalidID for one the layout could not have made.
//   - Errors name the session id and the backend; they never include
//     session data or passwords.
//
// A Store is safe for concurrent use. Optional capabilities are separate
// interfaces: Lister, Locker, Collector, Toucher.
type Store interface {
	Read(ctx context.Context, id string) (*Record, error)
	Write(ctx context.Context, rec *Record) error
	Destroy(ctx context.Context, id string) error
	Info() Info
	Close() error
}

// Lister is a Store that can list its sessions.
type Lister interface {
	// List calls fn with the id of every session in the store, streaming:
	// it never loads all ids at once (Redis SCAN, keyset pagination, a
	// directory walk). An id may be reported whose session expires before it
	// is read. An error from fn stops the listing and is returned.
	List(ctx context.Context, fn func(id string) error) error
}

// Locker is a Store that can hold the PHP side's lock on a session across
// several operations, for a read-modify-write that a concurrent PHP request
// cannot interleave with.
type Locker interface {
	// Lock takes the lock on id as the PHP side takes it, waiting up to the
	// store's lock timeout (ErrLockTimeout), and returns a handle whose
	// methods run under the lock. The caller must call Unlock.
	Lock(ctx context.Context, id string) (Locked, error)
}

// Locked is a session whose lock is held.
type Locked interface {
	Read(ctx context.Context) (*Record, error)
	// Write stores rec.Data (rec.ID is ignored: the locked id is used).
	Write(ctx context.Context, rec *Record) error
	Destroy(ctx context.Context) error
	// Unlock releases the lock. It is safe to call more than once.
	Unlock(ctx context.Context) error
}

// Collector is a Store that removes expired sessions itself, as PHP's
// session GC does for layouts without a server-side expiry.
type Collector interface {
	// GC removes sessions older than the store's lifetime and returns how
	// many it removed.
	GC(ctx context.Context) (int, error)
}

// Toucher is a Store that can extend a session's lifetime without
// rewriting it, as PHP's update_timestamp does.
type Toucher interface {
	Touch(ctx context.Context, id string, ttl time.Duration) error
}

// Counter is a Store that can say cheaply how many sessions it holds
// (roughly: sessions may expire meanwhile), for progress and ETAs.
type Counter interface {
	Count(ctx context.Context) (int64, error)
}

// BatchWriter is a Store that can write many sessions in one round trip
// (pipelining). Each record is written as Write would write it, without
// taking locks; it is for copying into a store no PHP request uses yet, or
// with the caller holding the locks.
type BatchWriter interface {
	WriteBatch(ctx context.Context, recs []*Record) error
}

// BatchReader is a Store that can read many sessions in one round trip
// (pipelining), for migrations and dumps. recs[i] is the session ids[i], or
// nil where it does not exist; it reads as Read would, without locks.
type BatchReader interface {
	ReadBatch(ctx context.Context, ids []string) ([]*Record, error)
}

// DataBatchReader is a BatchReader that can also read only the payloads of
// many sessions, which costs the server less than ReadBatch where the
// lifetime is a separate command (Redis' PTTL): for checks that compare
// data, such as migrate --verify. data[i] is the payload of session ids[i]
// as Read would return it, or nil where it does not exist.
type DataBatchReader interface {
	ReadDataBatch(ctx context.Context, ids []string) ([][]byte, error)
}

// Update reads session id, calls fn with it (a new empty Record when the
// session does not exist), and writes the result, all under the session's
// lock when the store has locking on. If fn returns an error, nothing is
// written. As a PHP request does, the write gives the session its full
// lifetime again: the Record's TTL is 0 (the store's default) when fn is
// called; fn may set another.
func Update(ctx context.Context, s Store, id string, fn func(rec *Record) error) error {
	if l, ok := s.(Locker); ok && s.Info().Locking {
		h, err := l.Lock(ctx, id)
		if err != nil {
			return err
		}
		defer h.Unlock(context.WithoutCancel(ctx))
		rec, err := h.Read(ctx)
		if errors.Is(err, ErrNotFound) {
			rec, err = &Record{ID: id}, nil
		}
		if err != nil {
			return err
		}
		rec.TTL = 0
		if err := fn(rec); err != nil {
			return err
		}
		if err := h.Write(ctx, rec); err != nil {
			return err
		}
		return h.Unlock(ctx)
	}
	rec, err := s.Read(ctx, id)
	if errors.Is(err, ErrNotFound) {
		rec, err = &Record{ID: id}, nil
	}
	if err != nil {
		return err
	}
	rec.TTL = 0
	if err := fn(rec); err != nil {
		return err
	}
	rec.ID = id
	return s.Write(ctx, rec)
}

// opError wraps err with the operation, backend and session id.
func opError(op, backend, id string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %s session %q: %w", backend, op, id, err)
}
