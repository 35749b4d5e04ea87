package handlers

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// nativeFilesLayout is PHP's files save handler (ext/session/mod_files.c): the
// session id in a file dir/[a/b/]sess_<id>, with save_path "N;MODE;dir".
type nativeFilesLayout struct {
	depth  int    // N: one directory level per leading id character
	prefix string // "sess_" (FILE_PREFIX, fixed in PHP)
}

// parseNativeOptions reads depth=, mode= and prefix=, and returns the
// layout and the mode of new files.
func parseNativeOptions(o *options) (nativeFilesLayout, uint32) {
	l := nativeFilesLayout{
		depth:  o.Int("depth", 0),
		prefix: o.String("prefix", "sess_"),
	}
	if l.depth < 0 || l.depth > 64 {
		o.errs = append(o.errs, fmt.Sprintf("depth=%d: want 0 to 64 (the N of session.save_path \"N;/dir\")", l.depth))
		l.depth = 0
	}
	if l.prefix == "" || strings.ContainsAny(l.prefix, "/\x00") || l.prefix == "." || l.prefix == ".." {
		o.errs = append(o.errs, fmt.Sprintf("prefix=%q: want a non-empty file name prefix", l.prefix))
		l.prefix = "sess_"
	}
	// PHP reads MODE with strtol(s, NULL, 8) and allows 0 to 07777.
	modeStr := o.String("mode", "0600")
	mode, err := strconv.ParseUint(modeStr, 8, 32)
	if err != nil || mode > 0o7777 {
		o.errs = append(o.errs, fmt.Sprintf("mode=%q: want an octal file mode such as 0600 (the MODE of session.save_path \"N;MODE;/dir\")", modeStr))
		mode = 0o600
	}
	return l, uint32(mode)
}

// checkID accepts what php_session_valid_key accepts (1 to 256 characters
// of [A-Za-z0-9,-]), longer than the depth as ps_files_path_create wants.
func (l nativeFilesLayout) checkID(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if len(id) <= l.depth {
		return fmt.Errorf("%w %q: with depth=%d an id needs more than %d characters", ErrInvalidID, id, l.depth, l.depth)
	}
	return nil
}

// name is ps_files_path_create's path: one directory per leading character,
// then the prefix and the id.
func (l nativeFilesLayout) name(id, _ string) (string, error) {
	var b strings.Builder
	b.Grow(2*l.depth + len(l.prefix) + len(id))
	for i := 0; i < l.depth; i++ {
		b.WriteByte(id[i])
		b.WriteByte(filepath.Separator)
	}
	b.WriteString(l.prefix)
	b.WriteString(id)
	return b.String(), nil
}

// recordIP is empty: PHP's files keep no IP.
func (nativeFilesLayout) recordIP(string) string { return "" }

// list walks depth levels of one-character directories down to the files.
func (l nativeFilesLayout) list(ctx context.Context, dir, _ string, fn func(id string) error) error {
	return l.walk(ctx, dir, "", fn)
}

func (l nativeFilesLayout) walk(ctx context.Context, dir, lead string, fn func(id string) error) error {
	return readDirChunks(ctx, dir, func(e fs.DirEntry) error {
		name := e.Name()
		if len(lead) < l.depth {
			if !e.IsDir() || len(name) != 1 || checkID(name) != nil {
				return nil
			}
			return l.walk(ctx, filepath.Join(dir, name), lead+name, fn)
		}
		id, ok := strings.CutPrefix(name, l.prefix)
		if !ok || !e.Type().IsRegular() || !strings.HasPrefix(id, lead) || l.checkID(id) != nil {
			return nil
		}
		return fn(id)
	})
}

// gcName is PHP's test: the name starts with the prefix (whatever follows).
func (l nativeFilesLayout) gcName(name string) bool { return strings.HasPrefix(name, l.prefix) }

// expired is ps_files_cleanup_dir's test: now - mtime > maxlifetime, in
// seconds.
func (nativeFilesLayout) expired(now, mtime time.Time, lifetime time.Duration) bool {
	return now.Unix()-mtime.Unix() > int64(lifetime/time.Second)
}

// collects: PHP's GC does nothing when the depth is above 0.
func (l nativeFilesLayout) collects() bool { return l.depth == 0 }
