package handlers

// The SQL backends: what MySQL (MariaDB) and PostgreSQL stores share,
// whatever the framework layout of the session table. A layout (sql_ci.go
// for CodeIgniter 3 and 4) builds its queries with a sqlDialect, which
// knows the database's quoting, placeholders, clock expressions, table
// introspection and advisory locks; the helpers here hold a lock on one
// dedicated connection, page through ids by keyset and classify errors.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// sqlLayoutDefaults are the PHP side's defaults of each SQL layout.
func sqlLayoutDefaults() map[string]layoutDefaults {
	// CodeIgniter's sess_expiration / Config\Session::$expiration is 7200 s;
	// its MySQL lock waits up to 300 s (GET_LOCK(..., 300)); its PostgreSQL
	// lock waits forever, where Go waits 300 s too.
	d := layoutDefaults{TTL: 7200 * time.Second, LockTimeout: 300 * time.Second}
	return map[string]layoutDefaults{"ci3": d, "ci4": d,
		"dalmp": dalmpDefaults, // dalmp layout: see dalmp.go
		// phalcon layouts: see sql_incubator.go
		"incubator": sqlIncubatorDefaults(), "handlersocket": sqlIncubatorDefaults(),
	}
}

// openMySQL opens mysql://USER:PASS@HOST:PORT/DB?layout=ci4&table=ci_sessions
// (MySQL or MariaDB; port 3306 by default).
//
// Options, beside handler=, ttl= (default 7200 s, CodeIgniter's
// sess_expiration), lock= and lock_timeout= (default 300 s):
//
//	layout=ci4|ci3     CodeIgniter 4 (the default) or 3; see sql_ci.go
//	table=ci_sessions  the session table ([A-Za-z0-9_])
//	cookie=ci_session  CI4 >= 4.2.11: the cookie name prefixing ids ("<cookie>:<id>")
//	ci4_version=4.7.0  CI4's version: < 4.2.11 bare ids, < 4.1.2 CI3's columns
//	match_ip=off       sess_match_ip / $matchIP: the IP keys the row and the lock
//	ip=0.0.0.0         the client address: needed with match_ip; else written on insert
//	create_table=off   create the table with CodeIgniter's schema if it is missing
//	tls=               MySQL: go-sql-driver's tls (true, false, skip-verify, preferred)
//	sslmode=...        PostgreSQL: sslmode (default prefer), sslrootcert, sslcert, sslkey
func openMySQL(ctx context.Context, o *options) (Store, error) {
	return openSQL(ctx, o, mysqlDialect{})
}

// openPostgres opens postgres://USER:PASS@HOST:PORT/DB?layout=ci4&table=ci_sessions
// (port 5432 by default), with the options of openMySQL.
func openPostgres(ctx context.Context, o *options) (Store, error) {
	return openSQL(ctx, o, pgDialect{})
}

func openSQL(ctx context.Context, o *options, d sqlDialect) (Store, error) {
	// The layouts, the default first; both databases take the same ones.
	c := parseCommon(o, []string{"ci4", "ci3", "dalmp", "incubator", "handlersocket"}, sqlLayoutDefaults())
	if c.Layout == dalmpLayout { // dalmp layout: see dalmp.go
		return openSQLDALMP(ctx, o, d, c)
	}
	switch c.Layout {
	case "incubator", "handlersocket": // phalcon layouts: see sql_incubator.go
		return openSQLIncubator(ctx, o, d, c)
	}
	// Every layout is CodeIgniter's so far; other layouts (Phalcon, DALMP)
	// dispatch on c.Layout here.
	return openSQLCI(ctx, o, d, c)
}

// sqlColumn is a column of a session table as the database describes it.
type sqlColumn struct {
	Type     string // data type, lower case: "blob", "int", "timestamp", "bytea", "inet", "text", ...
	MaxBytes int64  // the most bytes a value may have (0: unknown or unbounded)
	MaxChars int64  // the most characters (0: unknown or unbounded)
}

// sqlDialect is what differs between the SQL databases, for any layout.
type sqlDialect interface {
	// Name is the backend name in Info and errors: "mysql", "postgres".
	Name() string
	// Open connects to the database the URL names, with the options the
	// dialect passes through (TLS); it reads them from o.
	Open(ctx context.Context, o *options) (*sql.DB, error)
	// Quote quotes an identifier (already checked to be [A-Za-z0-9_]).
	Quote(ident string) string
	// Arg is the placeholder of the n-th argument (1-based).
	Arg(n int) string
	// Epoch is an expression giving the unix time, in seconds, of the
	// date-time expression expr.
	Epoch(expr string) string
	// Age is an expression giving the seconds from the date-time
	// expression expr to the database's now().
	Age(expr string) string
	// NowPlus is the database's now() plus the seconds of the (numeric)
	// expression arg.
	NowPlus(arg string) string
	// Columns describes the columns of table, or returns (nil, nil) when
	// the table does not exist.
	Columns(ctx context.Context, db *sql.DB, table string) (map[string]sqlColumn, error)
	// Lock takes the advisory lock named by args on conn, waiting up to
	// timeout. It returns false (and no error) when the lock could not be
	// had in time and conn is still usable.
	Lock(ctx context.Context, conn *sql.Conn, args []string, timeout time.Duration) (bool, error)
	// Unlock releases a lock Lock took on conn.
	Unlock(ctx context.Context, conn *sql.Conn, args []string) error
	// IsDuplicate reports whether err is a unique-key violation.
	IsDuplicate(err error) bool
}

// sqlQuerier is a *sql.DB or a *sql.Conn.
type sqlQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// sqlCheckIdent accepts table and column names of [A-Za-z0-9_], 1 to 64
// characters, so that they can be quoted into SQL.
func sqlCheckIdent(what, s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("%s=%q: want 1 to 64 characters of [A-Za-z0-9_]", what, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Errorf("%s=%q: want 1 to 64 characters of [A-Za-z0-9_]", what, s)
		}
	}
	return nil
}

// sqlURLParts returns the host, port, user, password and database of a
// store URL.
func sqlURLParts(u *url.URL, defPort string) (host, port, user, pass, db string, err error) {
	host, port = u.Hostname(), u.Port()
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = defPort
	}
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
	}
	db = strings.TrimPrefix(u.Path, "/")
	if db == "" || strings.Contains(db, "/") {
		return "", "", "", "", "", fmt.Errorf("want the database name as the URL path, as in %s://user:pass@host/DB", u.Scheme)
	}
	return host, port, user, pass, db, nil
}

// sqlPoolLimits sizes a store's connection pool: idle connections are kept for
// the next operation; each held lock has a connection of its own.
func sqlPoolLimits(db *sql.DB) {
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
}

// ------------------------------------------------------------------ MySQL --

// mysqlDialect is MySQL and MariaDB, through github.com/go-sql-driver/mysql.
type mysqlDialect struct{}

func (mysqlDialect) Name() string { return "mysql" }

// Open connects with parameters interpolated by the driver (one round trip
// per statement, values escaped by the driver, binary-safe as _binary'...'),
// and clientFoundRows, so that an UPDATE reports the rows it matched even
// when nothing changed.
func (mysqlDialect) Open(ctx context.Context, o *options) (*sql.DB, error) {
	host, port, user, pass, dbName, err := sqlURLParts(o.URL, "3306")
	tlsMode := o.String("tls", "")
	if err != nil {
		return nil, err
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd = user, pass
	cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(host, port)
	cfg.DBName = dbName
	cfg.InterpolateParams = true
	cfg.ClientFoundRows = true
	cfg.Timeout = 10 * time.Second
	cfg.TLSConfig = tlsMode
	// ParseDSN resolves TLSConfig ("true", "skip-verify", "preferred", ...)
	// the way the driver's own DSN does.
	cfg, err = mysql.ParseDSN(cfg.FormatDSN())
	if err != nil {
		return nil, fmt.Errorf("tls=%q: %v", tlsMode, err)
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	sqlPoolLimits(db)
	return db, nil
}

func (mysqlDialect) Quote(ident string) string { return "`" + ident + "`" }
func (mysqlDialect) Arg(int) string            { return "?" }

// Epoch: UNIX_TIMESTAMP converts from the connection's time zone, the one
// now() was stored in.
func (mysqlDialect) Epoch(expr string) string { return "UNIX_TIMESTAMP(" + expr + ")" }
func (mysqlDialect) Age(expr string) string {
	return "(UNIX_TIMESTAMP() - UNIX_TIMESTAMP(" + expr + "))"
}
func (mysqlDialect) NowPlus(arg string) string { return "(now() + INTERVAL " + arg + " SECOND)" }

func (mysqlDialect) Columns(ctx context.Context, db *sql.DB, table string) (map[string]sqlColumn, error) {
	return sqlQueryColumns(ctx, db, `SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_OCTET_LENGTH, CHARACTER_MAXIMUM_LENGTH
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`, table)
}

// sqlQueryColumns runs an information_schema query for table that returns
// name, type, octet length and character length, one row per column; nil
// when there is no such table.
func sqlQueryColumns(ctx context.Context, db *sql.DB, query, table string) (map[string]sqlColumn, error) {
	rows, err := db.QueryContext(ctx, query, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols := map[string]sqlColumn{}
	for rows.Next() {
		var name, typ string
		var octets, chars sql.NullInt64
		if err := rows.Scan(&name, &typ, &octets, &chars); err != nil {
			return nil, err
		}
		cols[strings.ToLower(name)] = sqlColumn{Type: strings.ToLower(typ), MaxBytes: octets.Int64, MaxChars: chars.Int64}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return nil, nil
	}
	return cols, nil
}

// Lock runs SELECT GET_LOCK(name, timeout), as CodeIgniter does with its
// 300 s; MySQL 5.7+ and MariaDB take fractional seconds. args is the lock
// name.
func (mysqlDialect) Lock(ctx context.Context, conn *sql.Conn, args []string, timeout time.Duration) (bool, error) {
	var got sql.NullInt64
	err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", args[0], timeout.Seconds()).Scan(&got)
	if err != nil {
		return false, err
	}
	if !got.Valid {
		return false, errors.New("GET_LOCK returned NULL")
	}
	return got.Int64 == 1, nil
}

func (mysqlDialect) Unlock(ctx context.Context, conn *sql.Conn, args []string) error {
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT RELEASE_LOCK(?)", args[0]).Scan(&got); err != nil {
		return err
	}
	if got.Int64 != 1 {
		return errors.New("RELEASE_LOCK: the lock was not held by this connection")
	}
	return nil
}

func (mysqlDialect) IsDuplicate(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1062
}

// ------------------------------------------------------------- PostgreSQL --

// pgDialect is PostgreSQL, through pgx's database/sql driver.
type pgDialect struct{}

func (pgDialect) Name() string { return "postgres" }

// Open connects with pgx; the store URL may carry the libpq TLS parameters
// sslmode (default prefer), sslrootcert, sslcert and sslkey.
func (pgDialect) Open(ctx context.Context, o *options) (*sql.DB, error) {
	host, port, user, pass, dbName, err := sqlURLParts(o.URL, "5432")
	q := url.Values{}
	for _, k := range []string{"sslmode", "sslrootcert", "sslcert", "sslkey"} {
		if v := o.String(k, ""); v != "" {
			q.Set(k, v)
		}
	}
	if err != nil {
		return nil, err
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, pass), Host: net.JoinHostPort(host, port), Path: "/" + dbName, RawQuery: q.Encode()}
	if !q.Has("connect_timeout") {
		q.Set("connect_timeout", "10")
		u.RawQuery = q.Encode()
	}
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		// pgx's parse errors quote the connection string; say which option.
		return nil, fmt.Errorf("postgres connection options %v: invalid", q)
	}
	db := stdlib.OpenDB(*cfg)
	sqlPoolLimits(db)
	return db, nil
}

func (pgDialect) Quote(ident string) string { return `"` + ident + `"` }
func (pgDialect) Arg(n int) string          { return "$" + strconv.Itoa(n) }

// Epoch casts to timestamptz so that a "timestamp without time zone"
// column is read in the session's time zone, as now() was stored in it.
func (pgDialect) Epoch(expr string) string {
	return "extract(epoch from " + expr + "::timestamptz)::float8"
}
func (pgDialect) Age(expr string) string {
	return "extract(epoch from (now() - " + expr + "::timestamptz))::float8"
}
func (pgDialect) NowPlus(arg string) string {
	return "(now() + make_interval(secs => " + arg + "::float8))"
}

func (pgDialect) Columns(ctx context.Context, db *sql.DB, table string) (map[string]sqlColumn, error) {
	cols, err := sqlQueryColumns(ctx, db, `SELECT column_name, udt_name, character_octet_length, character_maximum_length
		FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`, table)
	for name, c := range cols {
		if c.Type == "bytea" || c.Type == "text" {
			c.MaxBytes = 1 << 30 // a field holds at most 1 GB
			cols[name] = c
		}
	}
	return cols, err
}

// sqlPGLockArgs is the argument list CodeIgniter gives pg_advisory_lock:
// hashtext('a') or hashtext('a'), hashtext('b') (two int4 keys: a lock
// space apart from the one-bigint one). The database computes hashtext.
func sqlPGLockArgs(args []string) string {
	parts := make([]string, len(args))
	for i := range args {
		parts[i] = "hashtext($" + strconv.Itoa(i+1) + ")"
	}
	return strings.Join(parts, ", ")
}

// Lock tries pg_try_advisory_lock first (one round trip when the lock is
// free); else it queues on pg_advisory_lock, as CodeIgniter does, bounded
// by a transaction-local lock_timeout (a session-level advisory lock
// outlives the transaction it was taken in).
func (pgDialect) Lock(ctx context.Context, conn *sql.Conn, args []string, timeout time.Duration) (bool, error) {
	a := sqlAnyArgs(args)
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock("+sqlPGLockArgs(args)+")", a...).Scan(&got); err != nil {
		return false, err
	}
	if got || timeout < time.Millisecond {
		return got, nil
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, "SELECT set_config('lock_timeout', $1, true)", strconv.FormatInt(timeout.Milliseconds(), 10)+"ms"); err != nil {
		tx.Rollback()
		return false, err
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_lock("+sqlPGLockArgs(args)+")", a...); err != nil {
		tx.Rollback()
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "55P03" { // lock_not_available
			return false, nil
		}
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	return true, nil
}

func (pgDialect) Unlock(ctx context.Context, conn *sql.Conn, args []string) error {
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_advisory_unlock("+sqlPGLockArgs(args)+")", sqlAnyArgs(args)...).Scan(&got); err != nil {
		return err
	}
	if !got {
		return errors.New("pg_advisory_unlock: the lock was not held by this connection")
	}
	return nil
}

func (pgDialect) IsDuplicate(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func sqlAnyArgs(s []string) []any {
	a := make([]any, len(s))
	for i, v := range s {
		a[i] = v
	}
	return a
}

// -------------------------------------------------------- held locks ------

// sqlLock is an advisory lock held on a dedicated connection: database
// locks belong to the connection (session) that took them, so every query
// made under the lock goes through Conn, and the connection goes back to
// the pool only once the lock is released.
type sqlLock struct {
	Conn *sql.Conn
	d    sqlDialect
	args []string
}

// acquireSQLLock takes the lock named by args on a connection of its own,
// waiting up to timeout; ErrLockTimeout when it could not be had.
func acquireSQLLock(ctx context.Context, db *sql.DB, d sqlDialect, args []string, timeout time.Duration) (*sqlLock, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	got, err := d.Lock(ctx, conn, args, timeout)
	if err != nil {
		// The wait may have been cut short with the statement still running
		// (and the lock then granted): never reuse such a connection.
		sqlDiscardConn(conn)
		return nil, err
	}
	if !got {
		conn.Close()
		return nil, fmt.Errorf("%w (waited %v)", ErrLockTimeout, timeout)
	}
	return &sqlLock{Conn: conn, d: d, args: args}, nil
}

// Release releases the lock and returns the connection to the pool. If the
// lock cannot be released cleanly, the connection is closed instead, which
// makes the server drop the lock.
func (l *sqlLock) Release(ctx context.Context) error {
	if err := l.d.Unlock(ctx, l.Conn, l.args); err != nil {
		sqlDiscardConn(l.Conn)
		return err
	}
	return l.Conn.Close()
}

// sqlDiscardConn closes conn's underlying connection instead of pooling it.
func sqlDiscardConn(conn *sql.Conn) {
	conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}

// ---------------------------------------------------------------- listing --

// sqlListPage is how many ids one keyset query fetches.
const sqlListPage = 500

// sqlListKeyset streams the ids a keyset-paginated query returns: query takes
// the last id of the previous page (first "") as its only argument, returns
// the id column in the order of the comparison "id > last" it applies, and
// at most limit rows. Consecutive equal ids (one id under several IPs) are
// reported once.
func sqlListKeyset(ctx context.Context, q sqlQuerier, query string, limit int, args func(last string) []any, fn func(id string) error) error {
	last := ""
	for {
		rows, err := q.QueryContext(ctx, query, args(last)...)
		if err != nil {
			return err
		}
		var page []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			page = append(page, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range page {
			if id == last {
				continue
			}
			last = id
			if err := fn(id); err != nil {
				return err
			}
		}
		if len(page) < limit {
			return nil
		}
		last = page[len(page)-1]
	}
}

// sqlPrepareColumns reads the columns of table, creating it first with the
// statements create returns when it is missing and createTable is set, and
// checks that the required columns are there (names compared in lower
// case). schema names the table's owner in errors ("CodeIgniter's",
// "DALMP's", ...).
func sqlPrepareColumns(ctx context.Context, d sqlDialect, db *sql.DB, table string, createTable bool, create func() []string, schema string, required ...string) (map[string]sqlColumn, error) {
	cols, err := d.Columns(ctx, db, table)
	if err != nil {
		return nil, fmt.Errorf("reading the columns of table %s: %w", table, err)
	}
	if cols == nil && createTable {
		for _, stmt := range create() {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return nil, fmt.Errorf("create_table=on: creating table %s: %w", table, err)
			}
		}
		if cols, err = d.Columns(ctx, db, table); err != nil {
			return nil, fmt.Errorf("reading the columns of table %s: %w", table, err)
		}
	}
	if cols == nil {
		return nil, fmt.Errorf("table %s does not exist (create it with %s schema, or add create_table=on)", table, schema)
	}
	for _, name := range required {
		if _, ok := cols[strings.ToLower(name)]; name != "" && !ok {
			return nil, fmt.Errorf("table %s has no %s column: not %s session table", table, name, schema)
		}
	}
	return cols, nil
}
