package handlers

// The SQLite dialect of the SQL backends, through modernc.org/sqlite (pure
// Go, no cgo). The only SQLite layout is DALMP's (layout=dalmp, see
// sql_dalmp.go):
//
//	sqlite:///tmp/dalmp_sessions.db?layout=dalmp
//
// The URL path is the database file, absolute. It must exist unless
// create_table=on, which creates the file and DALMP's table as DALMP's
// constructor does. PHP's DALMP opens the file on every request with
// busyTimeout(2000), journal_mode=MEMORY and synchronous=OFF; phpsess opens
// it with a busy timeout (busy_timeout=, default 5 s) and leaves the
// journal mode as the file has it: both use SQLite's rollback journal and
// its file locks, so they exclude each other statement by statement. WAL is
// never switched on: it is a property of the file that would outlive
// phpsess, and DALMP's PRAGMA journal_mode=MEMORY cannot leave it while
// another connection has the file open. Run phpsess as the user PHP runs
// as, or a database file it creates will not be writable by PHP.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// openSQLite opens a sqlite:// store: the DALMP layout only.
func openSQLite(ctx context.Context, o *options) (Store, error) {
	c := parseCommon(o, []string{dalmpLayout}, map[string]layoutDefaults{dalmpLayout: dalmpDefaults})
	return openSQLDALMP(ctx, o, sqliteDialect{}, c)
}

// sqliteDialect is SQLite, through modernc.org/sqlite.
type sqliteDialect struct{}

func (sqliteDialect) Name() string { return "sqlite" }

// sqliteBusyDefault is how long a statement waits for another process's
// lock on the file (SQLite's busy timeout) unless busy_timeout= says.
const sqliteBusyDefault = 5 * time.Second

// Open opens the database file the URL names, read-write (and created with
// create_table=on), with the busy timeout.
func (sqliteDialect) Open(ctx context.Context, o *options) (*sql.DB, error) {
	u := o.URL
	busy := o.Duration("busy_timeout", sqliteBusyDefault)
	create := false
	// create_table= is read (and its value checked) by openSQLDALMP; here
	// only whether it says on
	switch strings.ToLower(o.String("create_table", "")) {
	case "1", "on", "true", "yes":
		create = true
	}
	if u.Host != "" && u.Host != "localhost" {
		return nil, fmt.Errorf("sqlite URL host %q: want a local file, sqlite:///path/to/file.db", u.Host)
	}
	path := u.Path
	if path == "" || !filepath.IsAbs(path) || strings.HasSuffix(path, "/") || strings.IndexByte(path, 0) >= 0 {
		return nil, errors.New("sqlite URL names no database file: want sqlite:///absolute/path/to/file.db (DALMP's default is /tmp/dalmp_sessions.db)")
	}
	mode := "rw"
	if create {
		mode = "rwc"
	}
	q := url.Values{"mode": {mode}, "_busy_timeout": {strconv.FormatInt(busy.Milliseconds(), 10)}}
	dsn := "file:" + (&url.URL{Path: filepath.Clean(path)}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	sqlPoolLimits(db)
	// a first connection now, so that a missing file is an error of Open
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		if sqliteCode(err) == sqlite3.SQLITE_CANTOPEN {
			return nil, fmt.Errorf("sqlite: cannot open %s (a missing file is created only with create_table=on): %w", path, err)
		}
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	return db, nil
}

// sqliteCode is the primary result code of a SQLite error, or 0.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() & 0xff
	}
	return 0
}

func (sqliteDialect) Quote(ident string) string { return `"` + ident + `"` }
func (sqliteDialect) Arg(int) string            { return "?" }

// Epoch reads a date-time text (as CURRENT_TIMESTAMP writes it, UTC) or a
// unix time as unix seconds.
func (sqliteDialect) Epoch(expr string) string {
	return "CAST(strftime('%s', " + expr + ") AS INTEGER)"
}

func (d sqliteDialect) Age(expr string) string {
	return "(CAST(strftime('%s', 'now') AS INTEGER) - " + d.Epoch(expr) + ")"
}

func (sqliteDialect) NowPlus(arg string) string {
	return "datetime('now', (" + arg + ") || ' seconds')"
}

// Columns reads PRAGMA table_info; SQLite declares no lengths.
func (sqliteDialect) Columns(ctx context.Context, db *sql.DB, table string) (map[string]sqlColumn, error) {
	return sqlQueryColumns(ctx, db, "SELECT name, type, NULL, NULL FROM pragma_table_info(?)", table)
}

// errSQLiteNoLocks says SQLite has no advisory locks to share with PHP.
var errSQLiteNoLocks = errors.New("sqlite has no advisory locks (PHP's layouts on SQLite take none)")

// Lock fails: SQLite has no advisory locks.
func (sqliteDialect) Lock(context.Context, *sql.Conn, []string, time.Duration) (bool, error) {
	return false, errSQLiteNoLocks
}

// Unlock fails: SQLite has no advisory locks.
func (sqliteDialect) Unlock(context.Context, *sql.Conn, []string) error {
	return errSQLiteNoLocks
}

// IsDuplicate reports a PRIMARY KEY or UNIQUE constraint violation.
func (sqliteDialect) IsDuplicate(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}
