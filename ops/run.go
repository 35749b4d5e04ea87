package ops

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/phpserialize"
)

// Stats counts what a Dump, Load or Find did.
type Stats struct {
	Seen    int64         // sessions listed (Dump, Find) or lines read (Load)
	Done    int64         // lines written (Dump), sessions written (Load), sessions matched (Find)
	Changed int64         // Find: sessions deleted or changed
	Expired int64         // gone or expired before they were read (Dump, Find) or lines whose ttl is 0 (Load)
	Failed  int64         // reported to OnError
	Elapsed time.Duration // so far
	Final   bool          // the last report of the run
}

// ErrFailed is matched (errors.Is) by the error of a run that finished but
// in which some sessions or lines failed, each reported to OnError.
var ErrFailed = errors.New("some sessions failed")

// failedError says how many of how many failed; it is ErrFailed.
type failedError struct {
	failed, of int64
	unit       string
}

func (e failedError) Error() string {
	return fmt.Sprintf("%d of %d %s failed", e.failed, e.of, e.unit)
}

func (e failedError) Is(target error) bool { return target == ErrFailed }

// Common are the options Dump, Load and Find share.
type Common struct {
	// Workers is how many sessions are read or written at once (default 8):
	// stores are network-bound.
	Workers int
	// OnError is called with each session that failed (its id, or for Load
	// "line N"), and the error. Calls are serialized. Nil: not reported.
	OnError func(where string, err error)
	// Progress, if set, is called every ProgressEvery (default 5 s) during
	// the run and once at the end (Stats.Final). Calls are serialized.
	Progress      func(Stats)
	ProgressEvery time.Duration
}

// counters are a run's Stats, updated by the workers.
type counters struct {
	start                                time.Time
	seen, done, changed, expired, failed atomic.Int64
	mu                                   sync.Mutex // serializes the callbacks
	opt                                  *Common
	unit                                 string // what Seen counts: "sessions" or "lines"
}

func newCounters(opt *Common) *counters {
	if opt.Workers <= 0 {
		opt.Workers = 8
	}
	if opt.ProgressEvery <= 0 {
		opt.ProgressEvery = 5 * time.Second
	}
	return &counters{start: time.Now(), opt: opt, unit: "sessions"}
}

func (c *counters) stats(final bool) Stats {
	return Stats{Seen: c.seen.Load(), Done: c.done.Load(), Changed: c.changed.Load(), Expired: c.expired.Load(),
		Failed: c.failed.Load(), Elapsed: time.Since(c.start), Final: final}
}

func (c *counters) fail(where string, err error) {
	c.failed.Add(1)
	if c.opt.OnError != nil {
		c.mu.Lock()
		c.opt.OnError(where, err)
		c.mu.Unlock()
	}
}

// progress reports every ProgressEvery until stop is closed, then once more.
func (c *counters) progress(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	if c.opt.Progress == nil {
		return
	}
	t := time.NewTicker(c.opt.ProgressEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.mu.Lock()
			c.opt.Progress(c.stats(false))
			c.mu.Unlock()
		case <-stop:
			c.mu.Lock()
			c.opt.Progress(c.stats(true))
			c.mu.Unlock()
			return
		}
	}
}

// result turns a run's end into its error.
func (c *counters) result(err error) (Stats, error) {
	st := c.stats(true)
	if err != nil {
		return st, err
	}
	if st.Failed > 0 {
		return st, failedError{st.Failed, st.Seen, c.unit}
	}
	return st, nil
}

// fatal marks an error that stops the whole run (an output that cannot be
// written), as opposed to one session's failure.
type fatal struct{ err error }

func (f fatal) Error() string { return f.err.Error() }
func (f fatal) Unwrap() error { return f.err }

// scan lists s, reads each session and calls fn with it, from opt.Workers
// goroutines. Sessions gone since they were listed count as expired. An
// error from fn (or from Read) is that session's failure, unless it is a
// fatal, which stops the run.
func scan(ctx context.Context, s handlers.Store, c *counters, fn func(ctx context.Context, rec *handlers.Record) error) error {
	l, ok := s.(handlers.Lister)
	if !ok {
		return fmt.Errorf("%s stores cannot list their sessions", s.Info().Backend)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop, pdone := make(chan struct{}), make(chan struct{})
	go c.progress(stop, pdone)
	ids := make(chan string, 4*c.opt.Workers)
	var wg sync.WaitGroup
	for range c.opt.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				if ctx.Err() != nil {
					continue
				}
				if err := readAnd(ctx, s, c, id, fn); err != nil {
					var f fatal
					if errors.As(err, &f) {
						cancel(f.err)
						continue
					}
					if ctx.Err() == nil {
						c.fail(id, err)
					}
				}
			}
		}()
	}
	listErr := l.List(ctx, func(id string) error {
		c.seen.Add(1)
		select {
		case ids <- id:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(ids)
	wg.Wait()
	close(stop)
	<-pdone
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	if listErr != nil {
		return listErr
	}
	return ctx.Err()
}

// readAnd reads session id and calls fn with it.
func readAnd(ctx context.Context, s handlers.Store, c *counters, id string, fn func(ctx context.Context, rec *handlers.Record) error) error {
	rec, err := s.Read(ctx, id)
	if errors.Is(err, handlers.ErrNotFound) {
		c.expired.Add(1)
		return nil
	}
	if err != nil {
		return err
	}
	return fn(ctx, rec)
}

// ----------------------------------------------------------------- Dump --

// DumpOptions are the options of Dump.
type DumpOptions struct {
	Common
	// Raw adds each session's payload bytes ("raw"), so that Load can
	// restore them byte for byte.
	Raw bool
	// Where, if set, dumps only the sessions it matches.
	Where *Where
}

// Dump writes every session of s to w as dump lines (see Line), in the
// order the store lists them, reading opt.Workers sessions at once. A
// session that expires between listing and reading is counted as expired; one
// that cannot be read or decoded is reported to OnError and left out, and
// the run returns an error wrapping ErrFailed at the end.
func Dump(ctx context.Context, s handlers.Store, w io.Writer, opt DumpOptions) (Stats, error) {
	c := newCounters(&opt.Common)
	h := s.Info().Handler
	bw := bufio.NewWriterSize(w, 64<<10)
	var wmu sync.Mutex
	err := scan(ctx, s, c, func(ctx context.Context, rec *handlers.Record) error {
		l, err := LineFromRecord(rec, h, opt.Raw)
		if err != nil {
			return err
		}
		if opt.Where != nil {
			sess, _ := phpserialize.DecodeSession(h, rec.Data)
			if !opt.Where.Match(sess) {
				return nil
			}
		}
		b := append(l.AppendJSON(make([]byte, 0, len(l.Data)+128)), '\n')
		wmu.Lock()
		defer wmu.Unlock()
		if _, err := bw.Write(b); err != nil {
			return fatal{fmt.Errorf("write the dump: %w", err)}
		}
		c.done.Add(1)
		return nil
	})
	if ferr := bw.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("write the dump: %w", ferr)
	}
	return c.result(err)
}

// ----------------------------------------------------------------- Load --

// LoadOptions are the options of Load.
type LoadOptions struct {
	Common
	// Raw says when the raw payloads of the lines are written (default
	// RawPrefer).
	Raw RawMode
	// TTL, if set, is the lifetime of every session written, instead of the
	// lines' ttl.
	TTL time.Duration
}

// maxLine bounds one dump line (a session of 64 MiB, base64'd twice over).
const maxLine = 256 << 20

// Load reads dump lines from r, line by line, and writes each session into
// s with Store.Write (under the PHP side's lock where the store takes it),
// keeping its ttl. Empty lines are skipped. Lines whose ttl is 0 are
// counted as expired and not written. A line that cannot be parsed,
// converted or written is reported to OnError as "line N" and the run goes
// on; it then returns an error wrapping ErrFailed.
func Load(ctx context.Context, r io.Reader, s handlers.Store, opt LoadOptions) (Stats, error) {
	c := newCounters(&opt.Common)
	c.unit = "lines"
	h := s.Info().Handler
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop, pdone := make(chan struct{}), make(chan struct{})
	go c.progress(stop, pdone)
	type job struct {
		n    int
		line []byte
	}
	jobs := make(chan job, 4*opt.Workers)
	var wg sync.WaitGroup
	for range opt.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if ctx.Err() != nil {
					continue
				}
				where := fmt.Sprintf("line %d", j.n)
				l, err := ParseLine(j.line)
				if err != nil {
					c.fail(where, err)
					continue
				}
				where += fmt.Sprintf(" (session %q)", l.ID)
				rec, err := l.Record(h, opt.Raw)
				if errors.Is(err, ErrExpired) {
					c.expired.Add(1)
					continue
				}
				if err != nil {
					c.fail(where, err)
					continue
				}
				if opt.TTL > 0 {
					rec.TTL = opt.TTL
				}
				if err := s.Write(ctx, rec); err != nil {
					if ctx.Err() == nil {
						c.fail(where, err)
					}
					continue
				}
				c.done.Add(1)
			}
		}()
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var readErr error
	for n := 1; ctx.Err() == nil; n++ {
		b, err := readLine(br)
		if len(bytes.TrimSpace(b)) > 0 {
			c.seen.Add(1)
			jobs <- job{n, b}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = fmt.Errorf("line %d: %w", n, err)
			break
		}
	}
	close(jobs)
	wg.Wait()
	close(stop)
	<-pdone
	if readErr == nil {
		readErr = ctx.Err()
	}
	return c.result(readErr)
}

// readLine reads one line (without its newline), up to maxLine bytes.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxLine {
			return nil, fmt.Errorf("line longer than %d bytes", maxLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == nil {
			line = line[:len(line)-1]
		}
		return line, err
	}
}

// ----------------------------------------------------------------- Find --

// FindOptions are the options of Find.
type FindOptions struct {
	Common
	// Where selects the sessions; nil selects all.
	Where *Where
	// Delete destroys every matching session, as session_destroy() does:
	// under the PHP side's lock where the store takes it, after checking
	// again that the session still matches.
	Delete bool
	// Set changes every matching session with these assignments, as a PHP
	// request would: under the lock (handlers.Update), checking the
	// condition again on what is read under it, and giving the session its
	// full lifetime again as a PHP write does. Exclusive with Delete.
	Set []Assignment
	// OnMatch, if set, is called with each matching session: as read, or as
	// written by Set. Calls are serialized. An error from it stops the run.
	OnMatch func(rec *handlers.Record, sess *phpserialize.Array) error
}

// errSkip: the session no longer matches (or is gone) under the lock.
var errSkip = errors.New("no longer matches")

// Find reads every session of s, decodes it and calls OnMatch with those
// that opt.Where matches, deleting or changing them first if asked, with
// opt.Workers sessions in flight. Sessions that vanish or stop matching in
// the meantime are left alone (counted as expired, or not at all).
func Find(ctx context.Context, s handlers.Store, opt FindOptions) (Stats, error) {
	if opt.Delete && len(opt.Set) > 0 {
		return Stats{}, errors.New("find: Delete and Set cannot be combined")
	}
	c := newCounters(&opt.Common)
	h := s.Info().Handler
	match := func(data []byte) (*phpserialize.Array, bool, error) {
		sess, err := phpserialize.DecodeSession(h, data)
		if err != nil {
			return nil, false, err
		}
		return sess, opt.Where == nil || opt.Where.Match(sess), nil
	}
	report := func(rec *handlers.Record, sess *phpserialize.Array) error {
		c.done.Add(1)
		if opt.OnMatch == nil {
			return nil
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if err := opt.OnMatch(rec, sess); err != nil {
			return fatal{err}
		}
		return nil
	}
	err := scan(ctx, s, c, func(ctx context.Context, rec *handlers.Record) error {
		sess, ok, err := match(rec.Data)
		if err != nil || !ok {
			return err
		}
		switch {
		case opt.Delete:
			destroyed, err := destroyIf(ctx, s, rec.ID, func(data []byte) (bool, error) {
				cur, matched, err := match(data)
				if matched {
					sess = cur
				}
				return matched, err
			})
			if err != nil || !destroyed {
				return err
			}
			c.changed.Add(1)
		case len(opt.Set) > 0:
			err := handlers.Update(ctx, s, rec.ID, func(r *handlers.Record) error {
				if len(r.Data) == 0 && r.TTL == 0 && r.Modified.IsZero() {
					return errSkip // gone since it was read
				}
				cur, ok, err := match(r.Data)
				if err != nil {
					return err
				}
				if !ok {
					return errSkip
				}
				for _, a := range opt.Set {
					if err := a.Apply(h, cur); err != nil {
						return err
					}
				}
				data, err := phpserialize.EncodeSession(h, cur)
				if err != nil {
					return err
				}
				r.Data, sess, rec = data, cur, r
				return nil
			})
			if errors.Is(err, errSkip) {
				return nil
			}
			if err != nil {
				return err
			}
			c.changed.Add(1)
		}
		return report(rec, sess)
	})
	return c.result(err)
}

// destroyIf destroys session id if check, run on its payload under the
// PHP side's lock (where the store takes one), says so. It reports whether
// it destroyed the session.
func destroyIf(ctx context.Context, s handlers.Store, id string, check func([]byte) (bool, error)) (bool, error) {
	l, ok := s.(handlers.Locker)
	if !ok || !s.Info().Locking {
		return true, s.Destroy(ctx, id)
	}
	lk, err := l.Lock(ctx, id)
	if err != nil {
		return false, err
	}
	defer lk.Unlock(context.WithoutCancel(ctx))
	rec, err := lk.Read(ctx)
	if errors.Is(err, handlers.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if ok, err := check(rec.Data); err != nil || !ok {
		return false, err
	}
	if err := lk.Destroy(ctx); err != nil {
		return false, err
	}
	return true, lk.Unlock(ctx)
}
