package handlers

// The files backend: one file per session in one directory, as PHP's files
// save handler (layout=native, ext/session/mod_files.c) and CodeIgniter's
// files drivers (layout=ci3, Session_files_driver; layout=ci4, FileHandler)
// keep them.
//
//	file:///var/lib/php/sessions?owner=www-data
//	file:///srv/app/writable/session?layout=ci4&owner=www-data
//	file:///srv/app/sessions?layout=ci3&match_ip=on&ip=203.0.113.9
//
// Options of every layout (besides handler= and lock=):
//
//	lock_timeout=SECONDS how long to wait for the session's flock (default
//	                  30; PHP itself waits forever).
//	ttl=SECONDS       the lifetime: session.gc_maxlifetime (native, default
//	                  1440) or sess_expiration / Config\Session::$expiration
//	                  (ci3, ci4, default 7200). Expiry is the file's mtime.
//	owner=USER[:GROUP] who owns the session files Write creates (uid or name).
//	                  Default, when phpsess runs as root: the owner of the
//	                  directory the file is created in; a directory owned by
//	                  root (Debian's /var/lib/php/sessions, mode 1733) is an
//	                  error then, because a root-owned 0600 file cannot be
//	                  opened by PHP running as www-data: say owner=www-data (or
//	                  owner=root when PHP runs as root). Not running as root,
//	                  files are ours; owner= may only name ourselves.
//
// native also takes depth=N, mode=0600 and prefix=sess_: session.save_path
// "N;MODE;/dir" (files in dir/a/b/sess_ab... for N=2; PHP never creates the
// subdirectories and neither does phpsess). ci3 and ci4 take cookie=
// (sess_cookie_name, default ci_session), match_ip=on|off (sess_match_ip),
// ip= (the client IP for match_ip: see ciFilesLayout) and sid_length= /
// sid_bits_per_character= (the php.ini values, which make the id rule:
// see ciFilesLayout).
//
// How the backend behaves, and why:
//
//   - Locking is flock(2) on the session file, as PHP and CodeIgniter take it:
//     LOCK_EX to write, LOCK_SH to read (so a read never sees a payload PHP is
//     writing). PHP blocks forever in flock; phpsess polls with LOCK_NB and
//     gives up after lock_timeout with ErrLockTimeout, having written nothing.
//     Every Write and Read takes the lock even with lock=off, since an
//     in-place write is only safe under it; lock=off only stops
//     handlers.Update from holding the lock across its read-modify-write.
//   - Writes go to the same inode, in place: PHP and CodeIgniter open the file
//     before they lock it, so a file replaced by rename would leave a PHP
//     process blocked in flock on the old inode, and its write would be lost.
//     New files are created with O_CREAT|O_EXCL|O_NOFOLLOW and the layout's
//     mode (native mode=, CodeIgniter 0600), set exactly with fchmod (the
//     umask does not apply).
//   - A failed Write leaves the previous payload in place where it can: the
//     space for a longer payload is reserved with fallocate first (so a full
//     disk or quota fails before a byte is changed), the old payload is kept
//     in memory and written back if the write itself fails. A crash of the
//     machine in the middle of a write can still leave a torn file, as with
//     PHP itself; nothing short of rename makes that atomic, and rename is
//     what must not be done (above).
//   - Expiry is the mtime, as PHP and CodeIgniter's GC see it. Write sets
//     mtime = now - (lifetime - TTL), so that a GC by mtime removes the
//     session when its TTL is over; Read reports TTL = lifetime - (now -
//     mtime), or 0. A file past its lifetime is still read, as PHP reads it
//     until its GC runs. Debian's cron job (/usr/lib/php/sessionclean) goes
//     by ctime, which no one can set: there a session lives a full lifetime
//     from its last write whatever its TTL.
//   - Symbolic links, FIFOs and directories where a session file should be
//     are refused, without following or blocking.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

const fileBackend = "file"

// fileLayout is what differs between PHP's files handler and CodeIgniter's
// files drivers: file naming, id rules and the GC rule.
type fileLayout interface {
	// checkID returns an error wrapping ErrInvalidID for an id the layout
	// could not have made. It is called before any path is built.
	checkID(id string) error
	// name returns the file name of a valid id, relative to the store dir.
	// ip is the client IP, for layouts that put it into the name.
	name(id, ip string) (string, error)
	// recordIP is the IP a Read reports in Record.Meta.IP.
	recordIP(ip string) string
	// list calls fn with the id of every session file below dir.
	list(ctx context.Context, dir, ip string, fn func(id string) error) error
	// gcName reports whether the GC considers a file of dir by its name.
	gcName(name string) bool
	// expired reports whether the GC removes a file of this mtime, in whole
	// seconds as PHP compares them.
	expired(now, mtime time.Time, lifetime time.Duration) bool
	// collects reports whether the layout's PHP side runs a GC at all.
	collects() bool
}

// fileStore is a Store of session files in one directory.
type fileStore struct {
	info        Info
	dir         string
	layout      fileLayout
	lockTimeout time.Duration
	mode        uint32
	ip          string // default client IP (CodeIgniter match_ip)
	owner       fileOwner
}

// fileCollector is a fileStore whose layout has a GC (native at depth 0,
// CodeIgniter): openFiles returns it so that only those are a Collector.
type fileCollector struct{ *fileStore }

// fileOwner says who owns files Write creates.
type fileOwner struct {
	auto     bool // chown to the directory's owner when running as root
	uid, gid int  // with !auto: chown to these (-1 = leave)
}

// openFiles opens a file:// store.
func openFiles(ctx context.Context, o *options) (Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The lifetimes PHP and CodeIgniter use by default, and how long
	// phpsess waits for a lock (PHP itself waits forever).
	c := parseCommon(o, []string{"native", "ci3", "ci4", "phalcon3", "phalcon4", "phalcon5", "dalmp"}, map[string]layoutDefaults{
		"native": {TTL: 1440 * time.Second, LockTimeout: 30 * time.Second},
		"ci3":    {TTL: 7200 * time.Second, LockTimeout: 30 * time.Second},
		"ci4":    {TTL: 7200 * time.Second, LockTimeout: 30 * time.Second},
		// phalcon layouts: see files_phalcon.go
		"phalcon3": {TTL: 1440 * time.Second, LockTimeout: 30 * time.Second},
		"phalcon4": {TTL: 1440 * time.Second, LockTimeout: 30 * time.Second},
		"phalcon5": {TTL: 1440 * time.Second, LockTimeout: 30 * time.Second},
		// dalmp layout: see dalmp.go
		"dalmp": dalmpDefaults,
	})
	if c.Layout == dalmpLayout { // dalmp layout: see dalmp.go
		return openFilesDALMP(o, c)
	}
	s := &fileStore{lockTimeout: c.LockTimeout}
	var err error
	s.dir, err = fileURLDir(o)
	if err != nil {
		return nil, err
	}
	ownerOpt := o.String("owner", "")
	switch c.Layout {
	case "native", "phalcon3": // phalcon layouts: see files_phalcon.go
		var nl nativeFilesLayout
		nl, s.mode = parseNativeOptions(o)
		s.layout = nl
	case "phalcon4", "phalcon5": // phalcon layouts: see files_phalcon.go
		s.layout, s.mode = parseStreamOptions(o, c.Layout)
	default:
		var cl ciFilesLayout
		cl, s.ip = parseCIOptions(o, c.Layout)
		s.layout, s.mode = cl, 0o600
	}
	if err := o.Err(); err != nil {
		return nil, err
	}
	if c.TTL <= 0 {
		return nil, fmt.Errorf("ttl=%v: a files store needs a lifetime above 0", c.TTL)
	}
	if s.owner, err = parseFileOwner(ownerOpt); err != nil {
		return nil, err
	}
	fi, err := os.Stat(s.dir)
	if err != nil {
		return nil, fmt.Errorf("session directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("session directory %s is not a directory", s.dir)
	}
	s.info = Info{
		URL:     Redact(o.URL.String()),
		Backend: fileBackend,
		Layout:  c.Layout,
		Handler: c.Handler,
		TTL:     c.TTL,
		Locking: c.Lock,
	}
	if s.layout.collects() {
		return fileCollector{s}, nil
	}
	return s, nil
}

// fileURLDir returns the absolute, cleaned directory of a file URL.
func fileURLDir(o *options) (string, error) {
	u := o.URL
	if u.Host != "" && u.Host != "localhost" {
		return "", fmt.Errorf("file URL host %q: only local directories can be opened (file:///dir)", u.Host)
	}
	dir := u.Path
	if dir == "" {
		dir = u.Opaque
	}
	if dir == "" {
		return "", errors.New("file URL names no directory (want file:///path/to/sessions)")
	}
	if strings.IndexByte(dir, 0) >= 0 {
		return "", errors.New("file URL: NUL in the directory")
	}
	return filepath.Abs(dir)
}

// parseFileOwner reads owner=: "" (automatic), USER, USER:GROUP, UID or
// UID:GID.
func parseFileOwner(v string) (fileOwner, error) {
	if v == "" {
		return fileOwner{auto: true, uid: -1, gid: -1}, nil
	}
	name, group, hasGroup := strings.Cut(v, ":")
	own := fileOwner{uid: -1, gid: -1}
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		own.uid = n
		if u, err := user.LookupId(name); err == nil && !hasGroup {
			own.gid, _ = strconv.Atoi(u.Gid)
		}
	} else {
		u, err := user.Lookup(name)
		if err != nil {
			return own, fmt.Errorf("owner=%q: %w", v, err)
		}
		own.uid, _ = strconv.Atoi(u.Uid)
		own.gid, _ = strconv.Atoi(u.Gid)
	}
	if hasGroup {
		if n, err := strconv.Atoi(group); err == nil && n >= 0 {
			own.gid = n
		} else {
			g, err := user.LookupGroup(group)
			if err != nil {
				return own, fmt.Errorf("owner=%q: %w", v, err)
			}
			own.gid, _ = strconv.Atoi(g.Gid)
		}
	}
	if euid := os.Geteuid(); euid != 0 && own.uid != euid {
		return own, fmt.Errorf("owner=%q: only root can create files owned by another user (phpsess runs as uid %d)", v, euid)
	}
	return own, nil
}

// Info describes the store.
func (s *fileStore) Info() Info { return s.info }

// Close releases nothing: a files store holds no descriptor between calls.
func (s *fileStore) Close() error { return nil }

// path returns the file of a session, after checking the id.
func (s *fileStore) path(id, ip string) (string, error) {
	if err := s.layout.checkID(id); err != nil {
		return "", err
	}
	name, err := s.layout.name(id, ip)
	if err != nil {
		return "", err
	}
	return s.dir + string(filepath.Separator) + name, nil
}

// Read returns the session, read under a shared flock.
func (s *fileStore) Read(ctx context.Context, id string) (*Record, error) {
	path, err := s.path(id, s.ip)
	if err != nil {
		return nil, opError("read", fileBackend, id, err)
	}
	f, err := s.open(ctx, path, fileOpenRead)
	if err != nil {
		return nil, opError("read", fileBackend, id, err)
	}
	defer f.close()
	rec, err := s.readRecord(f, id, s.ip)
	return rec, opError("read", fileBackend, id, err)
}

// Write stores rec under an exclusive flock, in place.
func (s *fileStore) Write(ctx context.Context, rec *Record) error {
	if rec == nil {
		return errors.New("file write: nil record")
	}
	ip := s.ip
	if rec.Meta.IP != "" {
		ip = rec.Meta.IP
	}
	path, err := s.path(rec.ID, ip)
	if err != nil {
		return opError("write", fileBackend, rec.ID, err)
	}
	if rec.TTL < 0 {
		return opError("write", fileBackend, rec.ID, fmt.Errorf("negative TTL %v", rec.TTL))
	}
	if len(rec.Data) > fileMaxSize {
		return opError("write", fileBackend, rec.ID, fmt.Errorf("%w: %d bytes (at most %d, what Read accepts)", ErrTooLarge, len(rec.Data), fileMaxSize))
	}
	f, err := s.open(ctx, path, fileOpenWrite)
	if err != nil {
		return opError("write", fileBackend, rec.ID, err)
	}
	defer f.close()
	return opError("write", fileBackend, rec.ID, s.writeData(f, rec.Data, rec.TTL))
}

// Destroy removes the session file. With locking on it first waits for the
// session's lock, so that a PHP request in progress finishes before.
func (s *fileStore) Destroy(ctx context.Context, id string) error {
	path, err := s.path(id, s.ip)
	if err != nil {
		return opError("destroy", fileBackend, id, err)
	}
	if !s.info.Locking {
		if err := unix.Unlink(path); err != nil && err != unix.ENOENT {
			return opError("destroy", fileBackend, id, &os.PathError{Op: "unlink", Path: path, Err: err})
		}
		return nil
	}
	f, err := s.open(ctx, path, fileOpenDestroy)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return opError("destroy", fileBackend, id, err)
	}
	defer f.close()
	return opError("destroy", fileBackend, id, f.unlink())
}

// Touch sets the session's remaining lifetime to ttl (0: the store's
// lifetime) by its mtime, without rewriting it, as PHP's update_timestamp.
func (s *fileStore) Touch(ctx context.Context, id string, ttl time.Duration) error {
	path, err := s.path(id, s.ip)
	if err == nil && ttl < 0 {
		err = fmt.Errorf("negative TTL %v", ttl)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return opError("touch", fileBackend, id, err)
	}
	f, err := openSessionFile(path, fileOpenTouch, s)
	if err != nil {
		return opError("touch", fileBackend, id, err)
	}
	defer f.close()
	return opError("touch", fileBackend, id, f.setTimes(s.mtimeFor(ttl, time.Now())))
}

// List calls fn with the id of every session file of the layout's naming.
func (s *fileStore) List(ctx context.Context, fn func(id string) error) error {
	var fnErr error
	err := s.layout.list(ctx, s.dir, s.ip, func(id string) error {
		fnErr = fn(id)
		return fnErr
	})
	if err != nil && fnErr == nil {
		return fmt.Errorf("%s list %s: %w", fileBackend, s.dir, err)
	}
	return err
}

// GC removes the session files whose mtime is past the lifetime, by the
// layout's rule (PHP: now - mtime > lifetime for every file named prefix*;
// CodeIgniter: mtime <= now - lifetime for names of its pattern), in the
// store directory only. Unlike PHP it skips a file whose lock is held: a
// request using that session is in progress, and would lose its write.
func (c fileCollector) GC(ctx context.Context) (int, error) {
	s := c.fileStore
	removed := 0
	var errs []error
	err := readDirChunks(ctx, s.dir, func(e fs.DirEntry) error {
		if !e.Type().IsRegular() || !s.layout.gcName(e.Name()) {
			return nil
		}
		ok, err := s.collect(filepath.Join(s.dir, e.Name()))
		if ok {
			removed++
		}
		if err != nil && len(errs) < 10 {
			errs = append(errs, err)
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("%s gc %s: %w", fileBackend, s.dir, errors.Join(errs...))
	}
	return removed, nil
}

// collect removes one file if it is expired and not in use.
func (s *fileStore) collect(path string) (bool, error) {
	f, err := openSessionFile(path, fileOpenGC, s)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.close()
	if err := flockRetry(f.fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if err == unix.EWOULDBLOCK {
			return false, nil // in use
		}
		return false, &os.PathError{Op: "flock", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return false, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if !s.layout.expired(time.Now(), fileMtime(&st), s.info.TTL) {
		return false, nil
	}
	if err := f.unlink(); err != nil {
		return false, err
	}
	return true, nil
}

// Lock takes the session's flock (LOCK_EX) as PHP takes it, creating the
// file as PHP does when it opens a new session.
func (s *fileStore) Lock(ctx context.Context, id string) (Locked, error) {
	path, err := s.path(id, s.ip)
	if err != nil {
		return nil, opError("lock", fileBackend, id, err)
	}
	f, err := s.open(ctx, path, fileOpenWrite)
	if err != nil {
		return nil, opError("lock", fileBackend, id, err)
	}
	return &fileLocked{s: s, id: id, f: f}, nil
}

// fileLocked is a session file whose flock is held through its descriptor.
type fileLocked struct {
	s         *fileStore
	id        string
	mu        sync.Mutex
	f         *sessFile // nil after Unlock
	written   bool
	destroyed bool
}

var errFileUnlocked = errors.New("the session lock was released")

// usable says why the handle cannot be used now, if it cannot (l.mu held).
func (l *fileLocked) usable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.f == nil {
		return errFileUnlocked
	}
	return nil
}

// Read reads the locked session. A file that Lock created and nobody has
// written yet is ErrNotFound.
func (l *fileLocked) Read(ctx context.Context) (*Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.usable(ctx)
	if err == nil && l.destroyed {
		err = ErrNotFound
	}
	if err != nil {
		return nil, opError("read", fileBackend, l.id, err)
	}
	rec, err := l.s.readRecord(l.f, l.id, l.s.ip)
	if err == nil && len(rec.Data) == 0 && l.f.created && !l.written {
		err = ErrNotFound
	}
	if err != nil {
		return nil, opError("read", fileBackend, l.id, err)
	}
	return rec, nil
}

// Write writes the locked session in place (rec.ID is ignored).
func (l *fileLocked) Write(ctx context.Context, rec *Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.usable(ctx)
	switch {
	case err != nil:
	case rec == nil:
		err = errors.New("nil record")
	case l.destroyed:
		err = errors.New("the session was destroyed under this lock")
	case rec.TTL < 0:
		err = fmt.Errorf("negative TTL %v", rec.TTL)
	case len(rec.Data) > fileMaxSize:
		err = fmt.Errorf("%w: %d bytes (at most %d, what Read accepts)", ErrTooLarge, len(rec.Data), fileMaxSize)
	case rec.Meta.IP != "" && rec.Meta.IP != l.s.ip && l.s.layout.recordIP(rec.Meta.IP) != "":
		err = fmt.Errorf("record IP %q differs from the locked session's IP %q", rec.Meta.IP, l.s.ip)
	}
	if err == nil {
		err = l.s.writeData(l.f, rec.Data, rec.TTL)
		l.written = l.written || err == nil
	}
	return opError("write", fileBackend, l.id, err)
}

// Destroy removes the locked session's file; the lock stays held until
// Unlock.
func (l *fileLocked) Destroy(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.usable(ctx)
	if err == nil && !l.destroyed {
		err = l.f.unlink()
		l.destroyed = err == nil
	}
	return opError("destroy", fileBackend, l.id, err)
}

// Unlock closes the descriptor, which releases the flock. A file that Lock
// created and nobody wrote is removed first, still under the lock: a lock
// taken and given back (a failed compare-and-set, say) leaves no empty
// session behind.
func (l *fileLocked) Unlock(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	if l.f.created && !l.written && !l.destroyed {
		var st unix.Stat_t
		if err := unix.Fstat(l.f.fd, &st); err == nil && st.Size == 0 {
			_ = l.f.unlink()
		}
	}
	err := l.f.close()
	l.f = nil
	return opError("unlock", fileBackend, l.id, err)
}

// ------------------------------------------------------------ file access --

// fileOpenMode is what a session file is opened for.
type fileOpenMode int

const (
	fileOpenRead    fileOpenMode = iota // O_RDONLY, LOCK_SH; missing: ErrNotFound
	fileOpenWrite                       // O_RDWR, LOCK_EX; missing: created
	fileOpenDestroy                     // O_RDONLY, LOCK_EX; missing: ErrNotFound
	fileOpenTouch                       // O_RDONLY, no lock; missing: ErrNotFound
	fileOpenGC                          // O_RDONLY, the caller locks; missing: ErrNotFound
)

// sessFile is an open session file.
type sessFile struct {
	fd      int
	path    string
	created bool // this open created the file
}

// open opens path and takes its flock, waiting up to the lock timeout, and
// makes sure the file is still the one at path once locked: a session
// destroyed while we waited is opened again (or is ErrNotFound).
func (s *fileStore) open(ctx context.Context, path string, mode fileOpenMode) (*sessFile, error) {
	how := unix.LOCK_EX
	if mode == fileOpenRead {
		how = unix.LOCK_SH
	}
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := openSessionFile(path, mode, s)
		if err != nil {
			return nil, err
		}
		if err := flockWait(ctx, f.fd, how, s.lockTimeout); err != nil {
			f.close()
			if err == errFileLockWait {
				return nil, fmt.Errorf("%w (%v, file %s)", ErrLockTimeout, s.lockTimeout, path)
			}
			return nil, err
		}
		same, err := f.stillAt()
		if err != nil || same {
			if err != nil {
				f.close()
				return nil, err
			}
			return f, nil
		}
		f.close()
		if attempt >= 20 {
			return nil, fmt.Errorf("%s keeps being replaced while its lock is awaited", path)
		}
	}
}

// openSessionFile opens (or, for fileOpenWrite, creates) a session file without
// following a symbolic link or blocking on a FIFO, and checks that it is a
// regular file.
func openSessionFile(path string, mode fileOpenMode, s *fileStore) (*sessFile, error) {
	flags := unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_RDONLY
	if mode == fileOpenWrite {
		flags = unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_RDWR
	}
	for {
		f := &sessFile{fd: -1, path: path}
		fd, err := unix.Open(path, flags, 0)
		if err == unix.ENOENT && mode == fileOpenWrite {
			fd, err = unix.Open(path, flags|unix.O_CREAT|unix.O_EXCL, s.mode)
			if err == unix.EEXIST {
				continue // created by someone else meanwhile: open theirs
			}
			if err == unix.ENOENT {
				return nil, fmt.Errorf("directory %s does not exist (PHP does not create save_path subdirectories either: make them as PHP's mod_files.sh does)", filepath.Dir(path))
			}
			f.created = err == nil
		}
		if err == unix.ENOENT {
			return nil, fmt.Errorf("%w (no file %s)", ErrNotFound, path)
		}
		if err != nil {
			return nil, filePathErr("open", path, err)
		}
		f.fd = fd
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			f.close()
			return nil, filePathErr("fstat", path, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			f.close()
			return nil, fmt.Errorf("%s is not a regular file (mode %s): refused", path, fs.FileMode(st.Mode&0o777)|fileType(st.Mode))
		}
		if f.created {
			if err := s.prepareNew(f); err != nil {
				unix.Unlink(path)
				f.close()
				return nil, err
			}
		}
		return f, nil
	}
}

// prepareNew sets a new file's mode and owner.
func (s *fileStore) prepareNew(f *sessFile) error {
	if err := unix.Fchmod(f.fd, s.mode); err != nil {
		return filePathErr("fchmod", f.path, err)
	}
	uid, gid := s.owner.uid, s.owner.gid
	if os.Geteuid() != 0 {
		// Our files are ours (owner= was checked at open); only a group
		// of ours can be given.
		if s.owner.auto || gid < 0 || gid == os.Getegid() {
			return nil
		}
		uid = -1
	}
	if s.owner.auto {
		var st unix.Stat_t
		dir := filepath.Dir(f.path)
		if err := unix.Stat(dir, &st); err != nil {
			return filePathErr("stat", dir, err)
		}
		if st.Uid == 0 {
			return fmt.Errorf("new session file %s would be owned by root, as its directory is, and PHP running as another user could not open it: set owner= to PHP's user (owner=www-data, or owner=root if PHP runs as root)", f.path)
		}
		uid, gid = int(st.Uid), int(st.Gid)
	}
	if uid == os.Geteuid() && (gid < 0 || gid == os.Getegid()) {
		return nil // already ours
	}
	if err := unix.Fchown(f.fd, uid, gid); err != nil {
		return filePathErr("fchown", f.path, err)
	}
	return nil
}

// stillAt reports whether the open file is still the one at its path (not
// unlinked or replaced).
func (f *sessFile) stillAt() (bool, error) {
	var st, pst unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return false, filePathErr("fstat", f.path, err)
	}
	if st.Nlink == 0 {
		return false, nil
	}
	if err := unix.Lstat(f.path, &pst); err != nil {
		if err == unix.ENOENT {
			return false, nil
		}
		return false, filePathErr("lstat", f.path, err)
	}
	return st.Dev == pst.Dev && st.Ino == pst.Ino, nil
}

// unlink removes the file from its directory if it is still there.
func (f *sessFile) unlink() error {
	same, err := f.stillAt()
	if err != nil || !same {
		return err
	}
	if err := unix.Unlink(f.path); err != nil && err != unix.ENOENT {
		return filePathErr("unlink", f.path, err)
	}
	return nil
}

func (f *sessFile) close() error {
	if f.fd < 0 {
		return nil
	}
	err := unix.Close(f.fd)
	f.fd = -1
	if err != nil {
		return filePathErr("close", f.path, err)
	}
	return nil
}

// readRecord reads the whole file (under the caller's lock).
func (s *fileStore) readRecord(f *sessFile, id, ip string) (*Record, error) {
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return nil, filePathErr("fstat", f.path, err)
	}
	data, err := f.readAll(st.Size)
	if err != nil {
		return nil, err
	}
	mtime := fileMtime(&st)
	ttl := s.info.TTL - time.Since(mtime)
	if ttl < 0 {
		ttl = 0
	}
	return &Record{ID: id, Data: data, TTL: ttl, Modified: mtime, Meta: Meta{IP: s.layout.recordIP(ip)}}, nil
}

// fileMaxSize bounds what is read into memory from one session file: far
// beyond any real session, it only stops a stray huge file from exhausting
// memory.
const fileMaxSize = 1 << 30

// readAll reads size bytes from offset 0 (fewer if the file is shorter).
func (f *sessFile) readAll(size int64) ([]byte, error) {
	if size > fileMaxSize {
		return nil, fmt.Errorf("%s: %d bytes is too large for a session file (at most %d)", f.path, size, fileMaxSize)
	}
	buf := make([]byte, size)
	n := 0
	for n < len(buf) {
		m, err := unix.Pread(f.fd, buf[n:], int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, filePathErr("pread", f.path, err)
		}
		if m == 0 {
			break
		}
		n += m
	}
	return buf[:n], nil
}

// writeData replaces the file's content with data, in place, and sets its
// mtime for ttl. See the top of this file for what happens on failure.
func (s *fileStore) writeData(f *sessFile, data []byte, ttl time.Duration) error {
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return filePathErr("fstat", f.path, err)
	}
	old, err := f.readAll(st.Size)
	if err != nil {
		return err
	}
	if size := int64(len(data)); size > st.Size {
		if err := fallocate(f.fd, size); err != nil {
			unix.Ftruncate(f.fd, st.Size) // drop whatever part was allocated
			return filePathErr("fallocate", f.path, err)
		}
	}
	if err := f.replace(data); err != nil {
		if rerr := f.replace(old); rerr != nil {
			return fmt.Errorf("%w; restoring the previous payload failed too, the file may be torn: %v", err, rerr)
		}
		return fmt.Errorf("%w (the previous payload was put back)", err)
	}
	return f.setTimes(s.mtimeFor(ttl, time.Now()))
}

// replace writes data at offset 0 and truncates the file to its length.
func (f *sessFile) replace(data []byte) error {
	for n := 0; n < len(data); {
		m, err := unix.Pwrite(f.fd, data[n:], int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return filePathErr("pwrite", f.path, err)
		}
		if m == 0 {
			return filePathErr("pwrite", f.path, io.ErrShortWrite)
		}
		n += m
	}
	for {
		err := unix.Ftruncate(f.fd, int64(len(data)))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return filePathErr("ftruncate", f.path, err)
		}
		return nil
	}
}

// fallocate reserves the first size bytes of the file, so that writing them
// cannot run out of space. File systems without fallocate are not an error.
func fallocate(fd int, size int64) error {
	for {
		err := unix.Fallocate(fd, 0, 0, size)
		switch err {
		case unix.EINTR:
			continue
		case unix.EOPNOTSUPP, unix.ENOSYS, unix.EINVAL:
			return nil
		}
		return err
	}
}

// mtimeFor returns the mtime that leaves ttl of the store's lifetime (0: all
// of it) at now.
func (s *fileStore) mtimeFor(ttl time.Duration, now time.Time) time.Time {
	if ttl == 0 {
		return now
	}
	return now.Add(ttl - s.info.TTL)
}

// setTimes sets the file's atime to now and its mtime to mtime, through the
// descriptor (/proc/self/fd, as glibc's futimens does), else by path without
// following a link.
func (f *sessFile) setTimes(mtime time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(time.Now().UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	err := unix.UtimesNano("/proc/self/fd/"+strconv.Itoa(f.fd), ts)
	if err == unix.ENOENT {
		err = unix.UtimesNanoAt(unix.AT_FDCWD, f.path, ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		return filePathErr("utimes", f.path, err)
	}
	return nil
}

// errFileLockWait is flockWait's timeout; open turns it into ErrLockTimeout.
var errFileLockWait = errors.New("lock wait timed out")

// flockWait takes flock(how) on fd, polling with LOCK_NB and short sleeps
// until timeout (errFileLockWait) or the context ends.
func flockWait(ctx context.Context, fd, how int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	wait := 500 * time.Microsecond
	var timer *time.Timer
	for {
		err := flockRetry(fd, how|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if err != unix.EWOULDBLOCK {
			return fmt.Errorf("flock: %w", err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return errFileLockWait
		}
		// sleep 0.5 ms doubling to 8 ms, with jitter so that pollers do not
		// march in step
		d := min(wait+rand.N(wait), left)
		wait = min(2*wait, 8*time.Millisecond)
		if timer == nil {
			timer = time.NewTimer(d)
			defer timer.Stop()
		} else {
			timer.Reset(d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
	}
}

func flockRetry(fd, how int) error {
	for {
		err := unix.Flock(fd, how)
		if err != unix.EINTR {
			return err
		}
	}
}

// readDirChunks calls fn for every entry of dir, reading the directory a
// chunk at a time so that a large one is never held in memory whole.
func readDirChunks(ctx context.Context, dir string, fn func(fs.DirEntry) error) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		ents, err := d.ReadDir(512)
		for _, e := range ents {
			if err := fn(e); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func fileMtime(st *unix.Stat_t) time.Time {
	return time.Unix(int64(st.Mtim.Sec), int64(st.Mtim.Nsec))
}

func fileType(mode uint32) fs.FileMode {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFLNK:
		return fs.ModeSymlink
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	}
	return 0
}

// filePathErr wraps a system call error; ELOOP from O_NOFOLLOW is said plainly.
func filePathErr(op, path string, err error) error {
	if op == "open" {
		switch err {
		case unix.ELOOP:
			return fmt.Errorf("%s is a symbolic link: refused (PHP opens session files with O_NOFOLLOW too)", path)
		case unix.EISDIR:
			return fmt.Errorf("%s is not a regular file (a directory): refused", path)
		}
	}
	return &os.PathError{Op: op, Path: path, Err: err}
}
