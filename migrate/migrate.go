// Package migrate copies live PHP sessions from one store to another,
// converting layout and encoding, keeping each session's remaining
// lifetime, verified and resumable, so that an application can switch
// session backends without logging anybody out.
package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/time/rate"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/phpserialize"
)

// Conflict says what to do when a session already exists at the target.
type Conflict string

// The conflict policies.
const (
	Overwrite Conflict = "overwrite" // write the source's session over it
	Skip      Conflict = "skip"      // keep the target's session
	Newer     Conflict = "newer"     // keep whichever was modified last (the source's when unknown)
)

// Options configure a migration. From and To are required.
type Options struct {
	From, To handlers.Store
	// Workers is the number of sessions copied at once (default 8).
	Workers int
	// Rate limits sessions per second (0: no limit).
	Rate float64
	// DryRun reads and converts every session but writes nothing.
	DryRun bool
	// Verify reads every session back from the target after writing it
	// and compares the decoded data with the source's.
	Verify bool
	// Move deletes each session from the source after a verified copy.
	// It implies Verify.
	Move bool
	// Lock copies each session under the source layout's lock, so that a
	// PHP request cannot change it half-way through the copy.
	Lock bool
	// Strict stops at the first session that cannot be copied.
	Strict bool
	// Conflict decides what happens when the target has the session.
	Conflict Conflict
	// Match copies only sessions whose id matches this path.Match pattern.
	Match string
	// Since copies only sessions modified at or after this time, where the
	// source layout records it.
	Since time.Time
	// TTL, if set, is the lifetime given to every copied session instead
	// of what remains of it at the source.
	TTL time.Duration
	// Checkpoint names a file that records finished sessions, so that a run
	// that was stopped (even killed) continues where it was.
	Checkpoint string
	// FinalPass lists the source again after the first pass and copies the
	// sessions that changed meanwhile (or appeared): for live sources.
	FinalPass bool
	// BatchSize groups writes to a target that can pipeline them
	// (handlers.BatchWriter); 0 means 64. Not used with Lock.
	BatchSize int
	// Progress, if set, is called about once a second with the counts so far.
	Progress func(Stats)
	// OnPassDone, if set, is called after each pass over the source (1, then
	// 2 for the final pass): a place to quiesce writers before the last pass.
	OnPassDone func(pass int)
	// Logger receives one line per failed session (id and error, never
	// data). Nil discards.
	Logger *slog.Logger
}

// Stats counts what a migration did.
type Stats struct {
	Total      int64         `json:"total"`      // sessions at the source, if known in advance, else -1
	Listed     int64         `json:"listed"`     // ids listed so far
	Copied     int64         `json:"copied"`     // written to the target (or, in a dry run, would be)
	Skipped    int64         `json:"skipped"`    // not copied: filtered out, or kept by Conflict
	Resumed    int64         `json:"resumed"`    // already copied by an earlier run (Checkpoint)
	Expired    int64         `json:"expired"`    // expired or gone at the source: not copied
	Failed     int64         `json:"failed"`     // could not be copied (see Failures)
	Verified   int64         `json:"verified"`   // read back from the target and found equal
	Moved      int64         `json:"moved"`      // deleted from the source after a verified copy
	Recopied   int64         `json:"recopied"`   // copied again in the final pass
	Bytes      int64         `json:"bytes"`      // payload bytes copied
	Elapsed    time.Duration `json:"elapsed_ns"` // time since the start
	PerSecond  float64       `json:"sessions_per_second"`
	InProgress bool          `json:"-"`
}

// Failure is one session that could not be copied.
type Failure struct {
	ID  string `json:"id"`
	Err string `json:"error"`
}

// Report is the outcome of a migration.
type Report struct {
	From     string    `json:"from"`
	To       string    `json:"to"`
	DryRun   bool      `json:"dry_run"`
	Stats    Stats     `json:"stats"`
	Failures []Failure `json:"failures"` // the first 1000
}

// maxFailures bounds the failures a Report lists, so that memory stays flat.
const maxFailures = 1000

// ErrFailed is returned (wrapped) by Run when some sessions failed.
var ErrFailed = errors.New("some sessions could not be copied")

type counters struct {
	total, listed, copied, skipped, resumed, expired, failed, verified, moved, recopied, bytes atomic.Int64
}

func (c *counters) stats(start time.Time) Stats {
	s := Stats{
		Total: c.total.Load(), Listed: c.listed.Load(), Copied: c.copied.Load(), Skipped: c.skipped.Load(),
		Resumed: c.resumed.Load(), Expired: c.expired.Load(), Failed: c.failed.Load(), Verified: c.verified.Load(),
		Moved: c.moved.Load(), Recopied: c.recopied.Load(), Bytes: c.bytes.Load(), Elapsed: time.Since(start),
	}
	if secs := s.Elapsed.Seconds(); secs > 0 {
		s.PerSecond = float64(s.Copied+s.Recopied) / secs
	}
	return s
}

type migration struct {
	opt      Options
	from, to handlers.Info
	c        counters
	start    time.Time
	limiter  *rate.Limiter
	ckpt     *checkpoint
	mu       sync.Mutex
	failures []Failure
	copied   map[uint64]uint64 // id hash -> payload hash, for the final pass (without a checkpoint)
	log      *slog.Logger
}

// Run copies every session from opt.From to opt.To. It returns the report
// and, if any session failed, an error wrapping ErrFailed (with Strict, the
// first failure stops the run and is returned).
func Run(ctx context.Context, opt Options) (*Report, error) {
	if opt.From == nil || opt.To == nil {
		return nil, errors.New("migrate: From and To are required")
	}
	lister, ok := opt.From.(handlers.Lister)
	if !ok {
		return nil, fmt.Errorf("migrate: %s stores cannot list their sessions, so they cannot be a migration source", opt.From.Info().Backend)
	}
	if opt.Workers <= 0 {
		opt.Workers = 8
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 64
	}
	if opt.Conflict == "" {
		opt.Conflict = Overwrite
	}
	switch opt.Conflict {
	case Overwrite, Skip, Newer:
	default:
		return nil, fmt.Errorf("migrate: conflict policy %q: want overwrite, skip or newer", opt.Conflict)
	}
	if opt.Move {
		opt.Verify = true
	}
	if opt.Match != "" {
		if _, err := path.Match(opt.Match, ""); err != nil {
			return nil, fmt.Errorf("migrate: --match %q: %w", opt.Match, err)
		}
	}
	m := &migration{opt: opt, from: opt.From.Info(), to: opt.To.Info(), start: time.Now(), log: opt.Logger}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if opt.Rate > 0 {
		m.limiter = rate.NewLimiter(rate.Limit(opt.Rate), max(1, int(opt.Rate/10)))
	}
	finalPass := opt.FinalPass && !opt.DryRun && !opt.Move
	m.c.total.Store(-1)
	if cn, ok := opt.From.(handlers.Counter); ok {
		if n, err := cn.Count(ctx); err == nil {
			m.c.total.Store(n)
		}
	}
	if opt.Checkpoint != "" && !opt.DryRun {
		ck, err := openCheckpoint(opt.Checkpoint)
		if err != nil {
			return nil, err
		}
		m.ckpt = ck
		defer ck.Close()
	} else if finalPass {
		m.copied = make(map[uint64]uint64) // with a checkpoint, its own map serves
	}
	stopProgress := m.progress(ctx)
	err := m.pass(ctx, lister, false)
	if err == nil && opt.OnPassDone != nil {
		opt.OnPassDone(1)
	}
	if err == nil && finalPass {
		if err = m.pass(ctx, lister, true); err == nil && opt.OnPassDone != nil {
			opt.OnPassDone(2)
		}
	}
	stopProgress()
	if m.ckpt != nil {
		if cerr := m.ckpt.Flush(); err == nil && cerr != nil {
			err = cerr
		}
	}
	rep := m.report()
	if err != nil {
		return rep, err
	}
	if rep.Stats.Failed > 0 {
		return rep, fmt.Errorf("migrate: %d of %d sessions: %w", rep.Stats.Failed, rep.Stats.Listed, ErrFailed)
	}
	return rep, nil
}

func (m *migration) report() *Report {
	s := m.c.stats(m.start)
	m.mu.Lock()
	defer m.mu.Unlock()
	return &Report{From: m.from.URL, To: m.to.URL, DryRun: m.opt.DryRun, Stats: s, Failures: append([]Failure(nil), m.failures...)}
}

func (m *migration) progress(ctx context.Context) func() {
	if m.opt.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				s := m.c.stats(m.start)
				s.InProgress = true
				m.opt.Progress(s)
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		m.opt.Progress(m.c.stats(m.start))
	}
}

// pass lists the source and copies what it finds with a pool of workers.
// In the final pass only sessions that are new or changed are copied.
func (m *migration) pass(ctx context.Context, l handlers.Lister, final bool) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ids := make(chan string, m.opt.Workers*4)
	var wg sync.WaitGroup
	for range m.opt.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &worker{m: m, final: final}
			if err := w.run(ctx, ids); err != nil {
				cancel(err)
			}
		}()
	}
	lerr := l.List(ctx, func(id string) error {
		if !final {
			m.c.listed.Add(1)
		}
		select {
		case ids <- id:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(ids)
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	if lerr != nil {
		return fmt.Errorf("migrate: listing %s: %w", m.from.URL, lerr)
	}
	return ctx.Err()
}

// fail records a session that could not be copied; with Strict it is
// returned and stops the run.
func (m *migration) fail(id string, err error) error {
	m.c.failed.Add(1)
	m.log.Warn("session not copied", "id", id, "error", err.Error())
	m.mu.Lock()
	if len(m.failures) < maxFailures {
		m.failures = append(m.failures, Failure{ID: id, Err: err.Error()})
	}
	m.mu.Unlock()
	if m.opt.Strict {
		return fmt.Errorf("migrate: session %q: %w", id, err)
	}
	return nil
}

func idHash(id string) uint64 { return xxhash.Sum64String(id) }

func dataHash(b []byte) uint64 { return xxhash.Sum64(b) }

// worker copies sessions one by one, or in batches to a pipelining target.
type worker struct {
	m     *migration
	final bool
	batch []*handlers.Record
	srcs  []*handlers.Record
}

// run copies the ids it receives, in batches where the stores allow: up to
// BatchSize ids that are already waiting are read in one round trip from a
// handlers.BatchReader source (not with Lock, which goes one session at a
// time), written in one to a handlers.BatchWriter target, and read back in
// one for Verify.
func (w *worker) run(ctx context.Context, ids <-chan string) error {
	batch := make([]string, 0, w.m.opt.BatchSize)
	for id := range ids {
		batch = append(batch[:0], id)
	drain:
		for len(batch) < cap(batch) {
			select {
			case next, ok := <-ids:
				if !ok {
					break drain
				}
				batch = append(batch, next)
			default:
				break drain
			}
		}
		if err := w.many(ctx, batch); err != nil {
			return err
		}
	}
	return w.flush(ctx)
}

// skip applies --match and the checkpoint, and reports whether id is left out.
func (w *worker) skip(id string) bool {
	m := w.m
	if m.opt.Match != "" {
		if ok, _ := path.Match(m.opt.Match, id); !ok {
			if !w.final {
				m.c.skipped.Add(1)
			}
			return true
		}
	}
	if !w.final && m.ckpt != nil && m.ckpt.Done(id) {
		m.c.resumed.Add(1)
		return true
	}
	return false
}

func (w *worker) many(ctx context.Context, ids []string) error {
	m := w.m
	todo := make([]string, 0, len(ids))
	for _, id := range ids {
		if !w.skip(id) {
			todo = append(todo, id)
		}
	}
	br, ok := m.opt.From.(handlers.BatchReader)
	if !ok || m.opt.Lock || len(todo) < 2 {
		for _, id := range todo {
			if err := w.one(ctx, id); err != nil {
				return err
			}
		}
		return nil
	}
	if m.limiter != nil {
		if err := m.limiter.WaitN(ctx, min(len(todo), m.limiter.Burst())); err != nil {
			return err
		}
	}
	recs, err := br.ReadBatch(ctx, todo)
	if err != nil {
		// one at a time, so that one bad session does not fail the others
		for _, id := range todo {
			if err := w.read(ctx, id); err != nil {
				return err
			}
		}
		return nil
	}
	for i, rec := range recs {
		if rec == nil {
			if !w.final {
				m.c.expired.Add(1)
			}
			continue
		}
		rec.ID = todo[i]
		if err := w.process(ctx, rec, nil); err != nil {
			return err
		}
	}
	return nil
}

func (w *worker) one(ctx context.Context, id string) error {
	if w.m.limiter != nil {
		if err := w.m.limiter.Wait(ctx); err != nil {
			return err
		}
	}
	return w.read(ctx, id)
}

// read reads one session, under the source's lock with Lock, and copies it.
func (w *worker) read(ctx context.Context, id string) error {
	m := w.m
	var rec *handlers.Record
	var lk handlers.Locked
	var err error
	if l, ok := m.opt.From.(handlers.Locker); ok && m.opt.Lock {
		if lk, err = l.Lock(ctx, id); err == nil {
			defer lk.Unlock(context.WithoutCancel(ctx))
			rec, err = lk.Read(ctx)
		}
	} else {
		rec, err = m.opt.From.Read(ctx, id)
	}
	if errors.Is(err, handlers.ErrNotFound) {
		if !w.final {
			m.c.expired.Add(1)
		}
		return nil
	}
	if err != nil {
		return m.fail(id, err)
	}
	return w.process(ctx, rec, lk)
}

// process copies one session read from the source (lk: its held lock).
func (w *worker) process(ctx context.Context, rec *handlers.Record, lk handlers.Locked) error {
	m := w.m
	id := rec.ID
	if w.final {
		if prev, seen := m.copiedHash(id); seen && prev == dataHash(rec.Data) {
			return nil
		}
	}
	ttl, expired := m.lifetime(rec)
	if expired {
		if !w.final {
			m.c.expired.Add(1)
		}
		return nil
	}
	if !m.opt.Since.IsZero() && !rec.Modified.IsZero() && rec.Modified.Before(m.opt.Since) {
		if !w.final {
			m.c.skipped.Add(1)
		}
		return nil
	}
	data, err := convert(rec.Data, m.from.Handler, m.to.Handler)
	if err != nil {
		return m.fail(id, err)
	}
	out := &handlers.Record{ID: id, Data: data, TTL: ttl, Modified: rec.Modified, Meta: rec.Meta}
	if m.opt.DryRun {
		m.c.copied.Add(1)
		m.c.bytes.Add(int64(len(data)))
		return nil
	}
	if keep, err := w.keepTarget(ctx, rec); err != nil {
		return m.fail(id, err)
	} else if keep {
		m.c.skipped.Add(1)
		return nil
	}
	if bw, ok := m.opt.To.(handlers.BatchWriter); ok && lk == nil {
		w.batch = append(w.batch, out)
		w.srcs = append(w.srcs, rec)
		if len(w.batch) >= m.opt.BatchSize {
			return w.flushWith(ctx, bw)
		}
		return nil
	}
	if err := m.opt.To.Write(ctx, out); err != nil {
		return m.fail(id, fmt.Errorf("write to %s: %w", m.to.Backend, err))
	}
	return w.done(ctx, rec, out, lk, nil)
}

// keepTarget applies the conflict policy.
func (w *worker) keepTarget(ctx context.Context, src *handlers.Record) (bool, error) {
	m := w.m
	if m.opt.Conflict == Overwrite || w.final {
		return false, nil
	}
	cur, err := m.opt.To.Read(ctx, src.ID)
	if errors.Is(err, handlers.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read from %s: %w", m.to.Backend, err)
	}
	if m.opt.Conflict == Skip {
		return true, nil
	}
	// Newer: keep the target's if it was modified after the source's.
	return !src.Modified.IsZero() && !cur.Modified.IsZero() && cur.Modified.After(src.Modified), nil
}

func (w *worker) flush(ctx context.Context) error {
	if len(w.batch) == 0 {
		return nil
	}
	return w.flushWith(ctx, w.m.opt.To.(handlers.BatchWriter))
}

func (w *worker) flushWith(ctx context.Context, bw handlers.BatchWriter) error {
	batch, srcs := w.batch, w.srcs
	w.batch, w.srcs = nil, nil
	if err := bw.WriteBatch(ctx, batch); err != nil {
		// Fall back to one at a time, so that one bad session does not fail the others.
		for i, r := range batch {
			if err := w.m.opt.To.Write(ctx, r); err != nil {
				if ferr := w.m.fail(r.ID, fmt.Errorf("write to %s: %w", w.m.to.Backend, err)); ferr != nil {
					return ferr
				}
				continue
			}
			if err := w.done(ctx, srcs[i], r, nil, nil); err != nil {
				return err
			}
		}
		return nil
	}
	backs := w.readBack(ctx, batch)
	for i, r := range batch {
		var back *handlers.Record
		if backs != nil {
			if back = backs[i]; back == nil {
				back = notThere
			}
		}
		if err := w.done(ctx, srcs[i], r, nil, back); err != nil {
			return err
		}
	}
	return nil
}

// readBack reads a written batch back from the target for Verify, in one
// round trip where the target can: only the payloads where it can read
// them alone (they are all Verify compares). It returns nil (done then
// reads each back itself) without Verify, or on an error.
func (w *worker) readBack(ctx context.Context, batch []*handlers.Record) []*handlers.Record {
	if !w.m.opt.Verify {
		return nil
	}
	ids := make([]string, len(batch))
	for i, r := range batch {
		ids[i] = r.ID
	}
	switch to := w.m.opt.To.(type) {
	case handlers.DataBatchReader:
		data, err := to.ReadDataBatch(ctx, ids)
		if err != nil {
			return nil
		}
		backs := make([]*handlers.Record, len(data))
		for i, d := range data {
			if d != nil {
				backs[i] = &handlers.Record{ID: ids[i], Data: d}
			}
		}
		return backs
	case handlers.BatchReader:
		backs, _ := to.ReadBatch(ctx, ids)
		return backs
	}
	return nil
}

// notThere marks a session a batched read-back did not find.
var notThere = &handlers.Record{}

// done runs after a session was written: verify, move, count, checkpoint.
// back is the session as read back from the target, if it was already
// (notThere: it was not there); nil to read it here.
func (w *worker) done(ctx context.Context, src, out *handlers.Record, lk handlers.Locked, back *handlers.Record) error {
	m := w.m
	if m.opt.Verify {
		var err error
		if back == nil {
			back, err = m.opt.To.Read(ctx, out.ID)
		} else if back == notThere {
			err = handlers.ErrNotFound
		}
		if err != nil {
			return m.fail(out.ID, fmt.Errorf("verify: read back from %s: %w", m.to.Backend, err))
		}
		if err := sameData(src.Data, m.from.Handler, back.Data, m.to.Handler); err != nil {
			return m.fail(out.ID, fmt.Errorf("verify: %w", err))
		}
		m.c.verified.Add(1)
	}
	if m.opt.Move {
		var err error
		if lk != nil {
			err = lk.Destroy(ctx)
		} else {
			err = m.opt.From.Destroy(ctx, out.ID)
		}
		if err != nil {
			return m.fail(out.ID, fmt.Errorf("copied and verified, but not deleted from the source: %w", err))
		}
		m.c.moved.Add(1)
	}
	if w.final {
		m.c.recopied.Add(1)
	} else {
		m.c.copied.Add(1)
	}
	m.c.bytes.Add(int64(len(out.Data)))
	return m.recordCopied(out.ID, dataHash(src.Data))
}

// copiedHash returns the payload hash a session was copied with, for the
// final pass: 16 bytes a session, in the checkpoint's map when there is one.
func (m *migration) copiedHash(id string) (uint64, bool) {
	if m.ckpt != nil {
		return m.ckpt.Hash(id)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.copied[idHash(id)]
	return h, ok
}

func (m *migration) recordCopied(id string, h uint64) error {
	if m.ckpt != nil {
		return m.ckpt.Add(id, h)
	}
	if m.copied != nil {
		m.mu.Lock()
		m.copied[idHash(id)] = h
		m.mu.Unlock()
	}
	return nil
}

// lifetime returns the lifetime to give the copy, and whether the session
// has already expired at the source.
func (m *migration) lifetime(rec *handlers.Record) (time.Duration, bool) {
	if m.opt.TTL > 0 {
		return m.opt.TTL, false
	}
	if rec.TTL > 0 {
		return rec.TTL, false
	}
	// Layouts that keep a modification time but no expiry (files, SQL):
	// the session lives for the source's lifetime after it.
	if !rec.Modified.IsZero() && m.from.TTL > 0 {
		left := m.from.TTL - time.Since(rec.Modified)
		if left <= 0 {
			return 0, true
		}
		return left, false
	}
	return 0, false // unknown: the target's default lifetime
}

// convert re-encodes a payload from one session encoding to another,
// references renumbered. The bytes are kept as they are when both use the
// same encoding.
func convert(data []byte, from, to phpserialize.Handler) ([]byte, error) {
	if err := phpserialize.ValidateSession(from, data); err != nil {
		return nil, fmt.Errorf("cannot decode the %s payload (PHP could not either): %w", from, err)
	}
	if from == to {
		return data, nil
	}
	out, err := phpserialize.ConvertSession(from, to, data)
	if err != nil {
		return nil, fmt.Errorf("cannot convert from %s to %s: %w", from, to, err)
	}
	return out, nil
}

// sameData compares two payloads by what PHP would see in $_SESSION.
func sameData(a []byte, ha phpserialize.Handler, b []byte, hb phpserialize.Handler) error {
	if ha == hb && bytes.Equal(a, b) {
		return nil // the same bytes in the same encoding: the same data
	}
	sa, err := phpserialize.DecodeSession(ha, a)
	if err != nil {
		return err
	}
	sb, err := phpserialize.DecodeSession(hb, b)
	if err != nil {
		return fmt.Errorf("the target's payload does not decode: %w", err)
	}
	if err := phpserialize.RenumberSessionRefs(sa, ha, hb); err != nil {
		return err
	}
	if !normalized(sa).Equal(normalized(sb)) {
		return errors.New("the target's data differs from the source's")
	}
	return nil
}

// normalized makes session keys comparable across encodings: "5" and 5 are
// the same $_SESSION entry for PHP code.
func normalized(s *phpserialize.Array) phpserialize.Value {
	out := &phpserialize.Array{}
	for _, e := range s.Entries() {
		out.Set(phpserialize.ArrayKey(e.Key.String()), e.Value)
	}
	return phpserialize.ArrayValue(out)
}
