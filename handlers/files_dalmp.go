package handlers

// DALMP's Files backend (DALMP\Sessions\Files, DALMP 3.x):
//
//	<dir>/<id[0:2]>/<id[2:4]>/<id[4:6]>/<id>.sess
//
// the raw payload, written with file_put_contents() (no lock) and read with
// file_get_contents(); the three directory levels are created with mode
// 0700 on every read and write. There is no expiry: DALMP's gc() dies on an
// unqualified RecursiveDirectoryIterator, and nothing else removes a file.
// The backend keeps no reference (its getSessionsRefs, getSessionRef and
// delSessionRef return false), so a Record's Meta.Ref is not stored, and
// this store is no Referencer.
//
// The directory: DALMP 3.0 and 3.1.0 mean it to be the constructor's
// argument, else DALMP_SESSIONS_DIR, else /tmp/dalmp_sessions, but assign an
// undefined variable instead, so every install writes below the file system
// root: /<aa>/<bb>/<cc>/<id>.sess (PHP must run as root for that to work).
// Stock DALMP is therefore file:///?layout=dalmp; a patched DALMP is
// file:///tmp/dalmp_sessions?layout=dalmp or wherever it points.
//
//	file:///?layout=dalmp&owner=root
//	file:///tmp/dalmp_sessions?layout=dalmp&owner=www-data
//
// Where phpsess differs, on purpose: a write goes to a temporary file in the
// same directory that is then renamed over the session file, so that a PHP
// reader (which takes no lock) sees the old payload or the new one, never a
// half-written file. A PHP write can still be seen half-done by phpsess, as
// by PHP itself. Read creates no directories.
//
// Options besides handler= and ttl= (DALMP's gc_maxlifetime, unused: there
// is no expiry): owner=USER[:GROUP], who owns the directories and files
// Write creates (default, as root: the owner of the base directory).

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// fileDALMPStore is a Store in DALMP's Files layout.
type fileDALMPStore struct {
	info  Info
	dir   string
	owner fileOwner
}

var (
	_ Store  = (*fileDALMPStore)(nil)
	_ Lister = (*fileDALMPStore)(nil)
)

// openFilesDALMP opens file:///DIR?layout=dalmp; c holds the common options
// openFiles has read.
func openFilesDALMP(o *options, c common) (Store, error) {
	dalmpParseCommon(o, &c)
	ownerOpt := o.String("owner", "")
	dir, err := fileURLDir(o)
	if err != nil {
		return nil, err
	}
	if err := o.Err(); err != nil {
		return nil, err
	}
	owner, err := parseFileOwner(ownerOpt)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("session directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("session directory %s is not a directory", dir)
	}
	return &fileDALMPStore{
		info:  Info{URL: Redact(o.URL.String()), Backend: fileBackend, Layout: dalmpLayout, Handler: c.Handler, TTL: c.TTL},
		dir:   dir,
		owner: owner,
	}, nil
}

// Info describes the store.
func (s *fileDALMPStore) Info() Info { return s.info }

// Close releases nothing.
func (s *fileDALMPStore) Close() error { return nil }

// fileDALMPSubdirs are the directory levels of an id: its characters 0-1,
// 2-3 and 4-5, as PHP's substr() cuts them (shorter or empty for a short
// id; empty levels vanish from the path).
func fileDALMPSubdirs(id string) []string {
	var parts []string
	for i := 0; i < 6 && i < len(id); i += 2 {
		parts = append(parts, id[i:min(i+2, len(id))])
	}
	return parts
}

// path returns the session's directory and file, after checking the id.
func (s *fileDALMPStore) path(id string) (dir, file string, err error) {
	if err := checkID(id); err != nil {
		return "", "", err
	}
	dir = filepath.Join(append([]string{s.dir}, fileDALMPSubdirs(id)...)...)
	return dir, filepath.Join(dir, id+".sess"), nil
}

// Read returns the session file's content, with its mtime; DALMP keeps no
// expiry, so TTL is 0.
func (s *fileDALMPStore) Read(ctx context.Context, id string) (*Record, error) {
	_, path, err := s.path(id)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, opError("read", fileBackend, id, err)
	}
	f, err := openSessionFile(path, fileOpenRead, nil)
	if err != nil {
		return nil, opError("read", fileBackend, id, err)
	}
	defer f.close()
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return nil, opError("read", fileBackend, id, filePathErr("fstat", path, err))
	}
	data, err := f.readAll(st.Size)
	if err != nil {
		return nil, opError("read", fileBackend, id, err)
	}
	return &Record{ID: id, Data: data, Modified: fileMtime(&st)}, nil
}

// Write stores the payload: the directories are made as DALMP makes them
// (0700), then a temporary file is written and renamed over the session
// file. Meta.Ref is not stored: DALMP's Files backend keeps none.
func (s *fileDALMPStore) Write(ctx context.Context, rec *Record) error {
	dir, path, err := s.path(rec.ID)
	if err == nil {
		err = ctx.Err()
	}
	if err == nil && rec.TTL < 0 {
		err = fmt.Errorf("negative TTL %v", rec.TTL)
	}
	if err == nil && len(rec.Data) > fileMaxSize {
		err = fmt.Errorf("%w: %d bytes (at most %d, what Read accepts)", ErrTooLarge, len(rec.Data), fileMaxSize)
	}
	if err == nil {
		err = s.mkdirs(rec.ID)
	}
	if err == nil {
		err = s.replace(dir, path, rec.ID, rec.Data)
	}
	return opError("write", fileBackend, rec.ID, err)
}

// chownNew gives a file or directory Write created to the store's owner:
// owner=, or as root by default the owner of the base directory.
func (s *fileDALMPStore) chownNew(path string) error {
	uid, gid := s.owner.uid, s.owner.gid
	if s.owner.auto {
		if os.Geteuid() != 0 {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Stat(s.dir, &st); err != nil {
			return filePathErr("stat", s.dir, err)
		}
		uid, gid = int(st.Uid), int(st.Gid)
	}
	if uid == os.Geteuid() && (gid < 0 || gid == os.Getegid()) {
		return nil
	}
	if err := unix.Lchown(path, uid, gid); err != nil {
		return filePathErr("chown", path, err)
	}
	return nil
}

// mkdirs creates the id's directory levels that are missing, mode 0700.
func (s *fileDALMPStore) mkdirs(id string) error {
	dir := s.dir
	for _, part := range fileDALMPSubdirs(id) {
		dir = filepath.Join(dir, part)
		err := unix.Mkdir(dir, 0o700)
		if err == unix.EEXIST {
			continue
		}
		if err != nil {
			return filePathErr("mkdir", dir, err)
		}
		if err := s.chownNew(dir); err != nil {
			return err
		}
	}
	return nil
}

// replace writes data to a temporary file in dir and renames it to path.
func (s *fileDALMPStore) replace(dir, path, id string, data []byte) error {
	tmp, err := os.CreateTemp(dir, "."+id+".sess.*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.chownNew(name)
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}

// Destroy removes the session file, as DALMP's destroy() does; its
// directories stay.
func (s *fileDALMPStore) Destroy(ctx context.Context, id string) error {
	_, path, err := s.path(id)
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		if uerr := unix.Unlink(path); uerr != nil && uerr != unix.ENOENT {
			err = filePathErr("unlink", path, uerr)
		}
	}
	return opError("destroy", fileBackend, id, err)
}

// List walks the three directory levels and reports every <id>.sess file
// that lies where its id puts it.
func (s *fileDALMPStore) List(ctx context.Context, fn func(id string) error) error {
	var fnErr error
	err := s.walk(ctx, s.dir, "", 0, func(id string) error {
		fnErr = fn(id)
		return fnErr
	})
	if err != nil && err != fnErr {
		return fmt.Errorf("%s list %s: %w", fileBackend, s.dir, err)
	}
	return err
}

// walk lists dir, which is rel (the id's leading characters) below the base
// directory at the given depth.
func (s *fileDALMPStore) walk(ctx context.Context, dir, rel string, depth int, fn func(id string) error) error {
	err := readDirChunks(ctx, dir, func(e fs.DirEntry) error {
		name := e.Name()
		if e.IsDir() {
			if depth < 3 && len(name) <= 2 && checkID(name) == nil {
				return s.walk(ctx, filepath.Join(dir, name), rel+name, depth+1, fn)
			}
			return nil
		}
		id, ok := strings.CutSuffix(name, ".sess")
		if !ok || !e.Type().IsRegular() || checkID(id) != nil || strings.Join(fileDALMPSubdirs(id), "") != rel {
			return nil
		}
		return fn(id)
	})
	if depth > 0 && errors.Is(err, fs.ErrPermission) {
		return nil // a directory of someone else's, below the base
	}
	return err
}
