package handlers

import (
	"context"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"
)

// The Phalcon layouts of file:// stores.
//
//	file:///var/lib/php/sessions?layout=phalcon5&owner=www-data
//
//   - layout=phalcon4 and layout=phalcon5 are Phalcon 4 and 5's
//     Session\Adapter\Stream (and the v6 PHP port's): one file per session,
//     <savePath>/<prefix><id>, prefix option default EMPTY: the file is named
//     by the bare id, not sess_<id>. The content is the raw payload. From
//     4.0.3 read() takes flock(LOCK_SH) around file_get_contents() and
//     write() is file_put_contents(..., LOCK_EX), which opens without
//     truncating, locks, then truncates and writes: the same in-place write
//     under LOCK_EX as PHP's files handler, which is what the files store
//     does (see files.go). Nothing is held between read and write, so
//     lock=on (the default) only makes handlers.Update hold LOCK_EX across
//     its read-modify-write; a Phalcon request meanwhile waits in flock.
//     There is no expiry on read; gc() (when PHP's GC calls it: never on
//     Debian, session.gc_probability=0) deletes <prefix>* files whose mtime
//     is older than session.gc_maxlifetime (ttl=, default 1440). Debian's
//     cron cleaner only deletes sess_* files, so with the empty prefix
//     nothing removes these files there.
//   - layout=phalcon3 is Phalcon 1 to 3's Session\Adapter\Files, an empty
//     class over PHP's own files handler: it is layout=native under another
//     name, with the same options (depth=, mode=, prefix=sess_).
//
// Stream options: prefix= (the adapter's prefix option, default empty) and
// mode= (of the files Go creates, default 0600; PHP creates them 0666 less
// its umask), besides the files store's ttl=, lock=, lock_timeout= and
// owner=.
//
// Go's GC removes only files named <prefix><a valid session id>: Phalcon's
// glob("<prefix>*") with the empty prefix takes every old file of the
// directory, other applications' sess_* files included, which Go does not.

// streamLayout is Phalcon 4 and 5's Stream adapter.
type streamLayout struct {
	prefix string
}

// parseStreamOptions reads prefix= and mode=; it returns the layout and the
// mode of new files.
func parseStreamOptions(o *options, layout string) (streamLayout, uint32) {
	l := streamLayout{prefix: o.String("prefix", "")}
	if strings.ContainsAny(l.prefix, "/\x00") || len(l.prefix) > 200 {
		o.errs = append(o.errs, fmt.Sprintf("prefix=%q: want a file name prefix (no /, at most 200 bytes)", l.prefix))
		l.prefix = ""
	}
	for _, opt := range []string{"depth", "cookie", "match_ip", "ip", "sid_length", "sid_bits_per_character"} {
		if given(o, opt) {
			o.errs = append(o.errs, fmt.Sprintf("%s= does not apply to layout=%s (Phalcon's Stream adapter)", opt, layout))
		}
	}
	if mode, err := strconv.ParseUint(o.String("mode", "0600"), 8, 32); err == nil && mode <= 0o7777 {
		return l, uint32(mode)
	}
	o.errs = append(o.errs, fmt.Sprintf("mode=%q: want an octal file mode such as 0600", o.String("mode", "")))
	return l, 0o600
}

// checkID accepts PHP's session ids whose file name fits NAME_MAX.
func (l streamLayout) checkID(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if len(l.prefix)+len(id) > 255 {
		return fmt.Errorf("%w %q: with prefix %q the file name is longer than 255 bytes", ErrInvalidID, truncateID(id), l.prefix)
	}
	return nil
}

// name is the adapter's getPrefixedName: prefix + id.
func (l streamLayout) name(id, _ string) (string, error) { return l.prefix + id, nil }

// recordIP is empty: the Stream adapter keeps no IP.
func (streamLayout) recordIP(string) string { return "" }

// list reports the regular files named prefix + a valid session id.
func (l streamLayout) list(ctx context.Context, dir, _ string, fn func(id string) error) error {
	return readDirChunks(ctx, dir, func(e fs.DirEntry) error {
		id, ok := l.sessionID(e.Name())
		if !ok || !e.Type().IsRegular() {
			return nil
		}
		return fn(id)
	})
}

func (l streamLayout) sessionID(name string) (string, bool) {
	id, ok := strings.CutPrefix(name, l.prefix)
	return id, ok && l.checkID(id) == nil
}

// gcName: files named prefix + a valid id (narrower than Phalcon's glob).
func (l streamLayout) gcName(name string) bool {
	_, ok := l.sessionID(name)
	return ok
}

// expired is Stream::gc's test: filemtime(file) < time() - maxlifetime.
func (streamLayout) expired(now, mtime time.Time, lifetime time.Duration) bool {
	return mtime.Unix() < now.Unix()-int64(lifetime/time.Second)
}

// collects: Stream::gc removes old files when PHP's GC calls it.
func (streamLayout) collects() bool { return true }
