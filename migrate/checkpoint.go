package migrate

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// checkpoint is an append-only file of finished sessions: one line
// "<id>\t<payload hash>" each. Lines are written in groups and synced at
// least every flushEvery, so a killed run loses at most the last group:
// those sessions are copied again on resume, with the same data, never lost.
// A torn last line is ignored on load. In memory only 16 bytes per session
// are kept (hashes), so a million sessions fit in a few tens of MB.
type checkpoint struct {
	mu      sync.Mutex
	f       *os.File
	w       *bufio.Writer
	done    map[uint64]uint64 // id hash -> payload hash
	last    time.Time
	pending int
}

const flushEvery = 200 * time.Millisecond

func openCheckpoint(name string) (*checkpoint, error) {
	c := &checkpoint{done: map[uint64]uint64{}, last: time.Now()}
	if f, err := os.Open(name); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			id, h, ok := strings.Cut(sc.Text(), "\t")
			if !ok {
				continue
			}
			v, err := strconv.ParseUint(h, 16, 64)
			if err != nil || len(h) != 16 {
				continue // a line torn by a kill
			}
			c.done[idHash(id)] = v
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("migrate: reading checkpoint %s: %w", name, err)
		}
	} else if !os.IsNotExist(err) {
		return nil, fmt.Errorf("migrate: checkpoint: %w", err)
	}
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("migrate: checkpoint: %w", err)
	}
	// A torn last line from a kill must not glue onto the next one.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		b := make([]byte, 1)
		if rf, err := os.Open(name); err == nil {
			if _, err := rf.ReadAt(b, st.Size()-1); err == nil && b[0] != '\n' {
				f.Write([]byte("\n"))
			}
			rf.Close()
		}
	}
	c.f, c.w = f, bufio.NewWriterSize(f, 64<<10)
	return c, nil
}

// Done reports whether an earlier run finished session id.
func (c *checkpoint) Done(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.done[idHash(id)]
	return ok
}

// Hash returns the payload hash session id was copied with.
func (c *checkpoint) Hash(id string) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.done[idHash(id)]
	return h, ok
}

// Add records that session id was copied with the given payload hash.
func (c *checkpoint) Add(id string, h uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done[idHash(id)] = h
	fmt.Fprintf(c.w, "%s\t%016x\n", id, h)
	c.pending++
	if time.Since(c.last) >= flushEvery {
		return c.flushLocked()
	}
	return nil
}

// Flush writes and syncs what was added.
func (c *checkpoint) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

func (c *checkpoint) flushLocked() error {
	c.last = time.Now()
	if c.pending == 0 {
		return nil
	}
	c.pending = 0
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("migrate: checkpoint: %w", err)
	}
	if err := c.f.Sync(); err != nil {
		return fmt.Errorf("migrate: checkpoint: %w", err)
	}
	return nil
}

func (c *checkpoint) Close() error {
	err := c.Flush()
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	return err
}
