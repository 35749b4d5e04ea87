package handlers

// The Phalcon incubator's SQL session tables, on MySQL and PostgreSQL:
//
//	mysql://USER:PASS@HOST:PORT/DB?layout=incubator[&table=session_data]
//	postgres://USER:PASS@HOST:PORT/DB?layout=incubator
//	mysql://USER:PASS@HOST:PORT/DB?layout=handlersocket[&table=php_session]
//
// layout=incubator is Phalcon\Session\Adapter\Database of phalcon/incubator
// 1.3.4 to 3.4 (for Phalcon 1 to 3), with its documented table:
//
//	CREATE TABLE `session_data` (
//	  `session_id` VARCHAR(35) NOT NULL,
//	  `data` text NOT NULL,
//	  `created_at` INT unsigned NOT NULL,
//	  `modified_at` INT unsigned DEFAULT NULL,
//	  PRIMARY KEY (`session_id`)
//	);
//
//   - data is the raw payload; created_at and modified_at are PHP's time().
//   - write: UPDATE data, modified_at = time() of the row, or INSERT
//     (session_id, data, time(), NULL) when there is none.
//   - read: the row only while COALESCE(modified_at, created_at) +
//     session.gc_maxlifetime >= time(): an older row reads as a new, empty
//     session, so Go's Read says ErrNotFound, and its TTL is what is left.
//   - gc: DELETE the rows past that; destroy: DELETE the row. No lock.
//
// Options: table= (default session_data), column_session_id=,
// column_data=, column_created_at=, column_modified_at= (the adapter's
// options of the same names), ttl= (session.gc_maxlifetime, default 1440),
// create_table=on (create the table above if it is missing; on PostgreSQL
// with text and bigint columns). A Write with a TTL other than the
// lifetime dates modified_at so that the row expires when the TTL is over.
// The created_at and modified_at columns must be integers: TIMESTAMP
// columns are phalcon/incubator-session's (Phalcon 4 and 5), which this
// layout does not speak.
//
// layout=handlersocket (MySQL only) is the incubator's HandlerSocket
// adapter's table, read and written over SQL: HandlerSocket is a MySQL
// plugin that reads and writes the same InnoDB table. Its documented DDL:
//
//	CREATE TABLE `php_session` (
//	  `id` VARCHAR(32) NOT NULL DEFAULT '',
//	  `modified` DATETIME NOT NULL DEFAULT '0000-00-00 00:00:00',
//	  `data` TEXT,
//	  PRIMARY KEY (`id`),
//	  KEY `modified` (`modified`)
//	) ENGINE=InnoDB DEFAULT CHARACTER SET utf8;
//
//   - write: update (or insert) of (id, date('Y-m-d H:i:s'), data): modified
//     is a wall-clock string in PHP's date.timezone (timezone=, default UTC,
//     PHP's default when php.ini sets none, as Debian's does).
//   - read: by primary key, with no expiry check: Go reads old rows too,
//     with TTL 0.
//   - gc: rows with modified older than session.gc_maxlifetime (ttl=,
//     default 1440). PHP deletes at most 1000 per gc() call; Go all.
//
// Options: table= (the adapter's server.dbtable, default php_session),
// timezone=, ttl=, create_table=on.
//
// Text. Both tables keep the payload in a TEXT column, which holds at most
// 65,535 bytes (ErrTooLarge beyond) of text in the column's character set:
// a payload that is not valid UTF-8 (or, in a utf8mb3 column such as
// HandlerSocket's, holds 4-byte characters; on PostgreSQL, NUL bytes) is
// refused with ErrNotText, as the server would refuse it from PHP. Go
// connects with utf8mb4 (MySQL), so the PHP side must use a utf8 or utf8mb4
// connection too for the bytes to be the same. Ids longer than the id
// column (35, 32 characters) are refused with ErrInvalidID. Neither
// adapter locks: lock=on is refused.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// sqlIncubatorDefaults are the defaults of the incubator layouts:
// session.gc_maxlifetime.
func sqlIncubatorDefaults() layoutDefaults { return layoutDefaults{TTL: 1440 * time.Second} }

// hsTimeLayout is PHP's date('Y-m-d H:i:s').
const hsTimeLayout = "2006-01-02 15:04:05"

// sqlIncubatorStore is an incubator session table.
type sqlIncubatorStore struct {
	db   *sql.DB
	d    sqlDialect
	info Info

	hs      bool           // HandlerSocket's table, else the Database adapter's
	loc     *time.Location // hs: PHP's date.timezone
	text    *textRules     // what the data column holds; nil: any bytes
	maxData int64          // bytes the data column holds, 0 unknown
	maxID   int64          // characters the id column holds, 0 unknown

	qRead, qUpdate, qInsert, qDelete, qTouch, qGC, qList string
}

// sqlIncubatorCols are the column names of a table.
type sqlIncubatorCols struct {
	id, data, created, modified string // created: "" for HandlerSocket
}

// openSQLIncubator opens a layout=incubator or layout=handlersocket table.
func openSQLIncubator(ctx context.Context, o *options, d sqlDialect, c common) (Store, error) {
	s := &sqlIncubatorStore{d: d, hs: c.Layout == "handlersocket"}
	var bad []string
	if given(o, "lock") && c.Lock {
		bad = append(bad, fmt.Sprintf("lock=on: the incubator's %s adapter takes no lock", c.Layout))
	}
	if s.hs && d.Name() != "mysql" {
		bad = append(bad, "layout=handlersocket is a MySQL table (HandlerSocket is a MySQL plugin): use a mysql:// URL")
	}
	for _, opt := range []string{"lock_timeout", "cookie", "ci4_version", "match_ip", "ip"} {
		if given(o, opt) {
			bad = append(bad, fmt.Sprintf("%s= does not apply to layout=%s", opt, c.Layout))
		}
	}
	s.info = Info{
		URL: Redact(o.URL.String()), Backend: d.Name(), Layout: c.Layout,
		Handler: c.Handler, TTL: c.TTL,
	}
	var cols sqlIncubatorCols
	var table string
	if s.hs {
		table = o.String("table", "php_session")
		cols = sqlIncubatorCols{id: "id", data: "data", modified: "modified"}
		tz := o.String("timezone", "UTC")
		loc, err := time.LoadLocation(tz)
		if err != nil {
			bad = append(bad, fmt.Sprintf("timezone=%q: %v (want PHP's date.timezone, such as Europe/Paris)", tz, err))
			loc = time.UTC
		}
		s.loc = loc
	} else {
		table = o.String("table", "session_data")
		cols = sqlIncubatorCols{
			id:       o.String("column_session_id", "session_id"),
			data:     o.String("column_data", "data"),
			created:  o.String("column_created_at", "created_at"),
			modified: o.String("column_modified_at", "modified_at"),
		}
		if given(o, "timezone") {
			bad = append(bad, "timezone= applies to layout=handlersocket (the incubator's Database adapter stores unix times)")
		}
	}
	for what, name := range map[string]string{"table": table, "column_session_id": cols.id, "column_data": cols.data, "column_created_at": cols.created, "column_modified_at": cols.modified} {
		if name == "" && what == "column_created_at" && s.hs {
			continue
		}
		if err := sqlCheckIdent(what, name); err != nil {
			bad = append(bad, err.Error())
		}
	}
	if c.TTL < time.Second {
		bad = append(bad, "ttl= must be at least 1 second (session.gc_maxlifetime)")
	}
	createTable := o.Bool("create_table", false)
	db, err := d.Open(ctx, o)
	for _, e := range []error{err, o.Err()} {
		if e != nil {
			bad = append(bad, e.Error())
		}
	}
	if len(bad) == 0 {
		s.db = db
		err = s.prepareTable(ctx, table, cols, createTable)
	} else {
		err = errors.New(strings.Join(bad, "; "))
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		return nil, fmt.Errorf("%s: %w", d.Name(), err)
	}
	return s, nil
}

// createTableSQL is the adapter's documented DDL (on PostgreSQL, its
// equivalent).
func (s *sqlIncubatorStore) createTableSQL(table string, c sqlIncubatorCols) string {
	q := s.d.Quote
	if s.hs {
		return "CREATE TABLE IF NOT EXISTS " + q(table) + " (\n" +
			"  `id` VARCHAR(32) NOT NULL DEFAULT '',\n" +
			"  `modified` DATETIME NOT NULL DEFAULT '0000-00-00 00:00:00',\n" +
			"  `data` TEXT,\n" +
			"  PRIMARY KEY (`id`),\n" +
			"  KEY `modified` (`modified`)\n" +
			") ENGINE=InnoDB DEFAULT CHARACTER SET utf8"
	}
	intType, nullInt := "INT unsigned NOT NULL", "INT unsigned DEFAULT NULL"
	if s.d.Name() == "postgres" {
		intType, nullInt = "bigint NOT NULL", "bigint DEFAULT NULL"
	}
	return "CREATE TABLE IF NOT EXISTS " + q(table) + " (\n" +
		"  " + q(c.id) + " VARCHAR(35) NOT NULL,\n" +
		"  " + q(c.data) + " text NOT NULL,\n" +
		"  " + q(c.created) + " " + intType + ",\n" +
		"  " + q(c.modified) + " " + nullInt + ",\n" +
		"  PRIMARY KEY (" + q(c.id) + ")\n)"
}

// prepareTable checks the table against the layout (creating it first with
// create_table=on), learns what its data column holds, and builds the
// queries.
func (s *sqlIncubatorStore) prepareTable(ctx context.Context, table string, c sqlIncubatorCols, create bool) error {
	cols, err := sqlPrepareColumns(ctx, s.d, s.db, table, create, func() []string { return []string{s.createTableSQL(table, c)} },
		"the "+s.info.Layout+" adapter's", c.id, c.data, c.created, c.modified)
	if err != nil {
		return err
	}
	isInt := func(t string) bool { return strings.Contains(t, "int") || t == "numeric" || t == "decimal" }
	isTime := func(t string) bool { return strings.HasPrefix(t, "timestamp") || t == "datetime" }
	if s.hs {
		if t := cols[strings.ToLower(c.modified)].Type; !isTime(t) {
			return fmt.Errorf("table %s: the modified column is %s, but HandlerSocket's table keeps a DATETIME there", table, t)
		}
	} else {
		for _, name := range []string{c.created, c.modified} {
			t := cols[strings.ToLower(name)].Type
			switch {
			case isTime(t):
				return fmt.Errorf("table %s: the %s column is %s: that is phalcon/incubator-session's table (Phalcon 4/5), whose TIMESTAMP columns layout=incubator does not speak; it needs the incubator's INT unix times", table, name, t)
			case !isInt(t):
				return fmt.Errorf("table %s: the %s column is %s, but the incubator keeps time() integers there", table, name, t)
			}
		}
	}
	data := cols[strings.ToLower(c.data)]
	s.maxData = data.MaxBytes
	s.maxID = cols[strings.ToLower(c.id)].MaxChars
	if s.text, err = s.textRules(ctx, table, c.data, data.Type); err != nil {
		return err
	}
	s.buildQueries(table, c)
	return nil
}

// textRules says what the data column can hold: nil for a binary column.
func (s *sqlIncubatorStore) textRules(ctx context.Context, table, column, typ string) (*textRules, error) {
	what := "the " + typ + " column " + column
	if s.d.Name() == "postgres" {
		switch typ {
		case "text", "varchar", "bpchar":
		default:
			return nil, fmt.Errorf("table %s: the %s column is %s, but the adapter binds the payload as a string into a text column", table, column, typ)
		}
		var enc string
		if err := s.db.QueryRowContext(ctx, "SELECT current_setting('server_encoding')").Scan(&enc); err != nil {
			return nil, fmt.Errorf("reading the server encoding: %w", err)
		}
		if strings.ToUpper(enc) != "UTF8" {
			return nil, fmt.Errorf("the database's encoding is %s: phpsess supports UTF8 databases for layout=%s", enc, s.info.Layout)
		}
		return &textRules{what: what, noNUL: true}, nil
	}
	var charset sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT CHARACTER_SET_NAME FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?`, table, column).Scan(&charset)
	if err != nil {
		return nil, fmt.Errorf("reading the character set of %s.%s: %w", table, column, err)
	}
	switch cs := strings.ToLower(charset.String); {
	case !charset.Valid || cs == "binary":
		return nil, nil // BLOB, VARBINARY: any bytes
	case cs == "utf8mb4":
		return &textRules{what: what + " (utf8mb4)"}, nil
	case cs == "utf8" || cs == "utf8mb3":
		return &textRules{what: what, bmp: true}, nil
	default:
		// latin1 and the like: the server converts from the connection's
		// utf8mb4 and refuses what does not fit.
		return &textRules{what: what + " (" + cs + ")"}, nil
	}
}

// buildQueries writes the statements once. Every value is a bound argument.
func (s *sqlIncubatorStore) buildQueries(table string, c sqlIncubatorCols) {
	d := s.d
	t, id, data, mod := d.Quote(table), d.Quote(c.id), d.Quote(c.data), d.Quote(c.modified)
	s.qDelete = "DELETE FROM " + t + " WHERE " + id + " = " + d.Arg(1)
	if s.hs {
		s.qRead = "SELECT " + data + ", " + mod + " FROM " + t + " WHERE " + id + " = " + d.Arg(1)
		s.qUpdate = "UPDATE " + t + " SET " + mod + " = " + d.Arg(1) + ", " + data + " = " + d.Arg(2) + " WHERE " + id + " = " + d.Arg(3)
		s.qInsert = "INSERT INTO " + t + " (" + id + ", " + mod + ", " + data + ") VALUES (" + d.Arg(1) + ", " + d.Arg(2) + ", " + d.Arg(3) + ")"
		s.qTouch = "UPDATE " + t + " SET " + mod + " = " + d.Arg(1) + " WHERE " + id + " = " + d.Arg(2)
		s.qGC = "DELETE FROM " + t + " WHERE " + mod + " < " + d.Arg(1)
		s.qList = "SELECT " + id + " FROM " + t + " WHERE " + id + " > " + d.Arg(1) + " ORDER BY " + id + " LIMIT " + strconv.Itoa(sqlListPage)
		return
	}
	created := d.Quote(c.created)
	last := "COALESCE(" + mod + ", " + created + ")"
	s.qRead = "SELECT " + data + ", " + created + ", " + mod + " FROM " + t + " WHERE " + id + " = " + d.Arg(1)
	s.qUpdate = "UPDATE " + t + " SET " + data + " = " + d.Arg(1) + ", " + mod + " = " + d.Arg(2) + " WHERE " + id + " = " + d.Arg(3)
	s.qInsert = "INSERT INTO " + t + " (" + id + ", " + data + ", " + created + ", " + mod + ") VALUES (" + d.Arg(1) + ", " + d.Arg(2) + ", " + d.Arg(3) + ", " + d.Arg(4) + ")"
	s.qTouch = "UPDATE " + t + " SET " + mod + " = " + d.Arg(1) + " WHERE " + id + " = " + d.Arg(2) + " AND " + last + " >= " + d.Arg(3)
	s.qGC = "DELETE FROM " + t + " WHERE " + last + " < " + d.Arg(1)
	s.qList = "SELECT " + id + " FROM " + t + " WHERE " + id + " > " + d.Arg(1) + " AND " + last + " >= " + d.Arg(2) +
		" ORDER BY " + id + " LIMIT " + strconv.Itoa(sqlListPage)
}

// Info describes the store.
func (s *sqlIncubatorStore) Info() Info { return s.info }

// Close closes the connection pool.
func (s *sqlIncubatorStore) Close() error { return s.db.Close() }

func (s *sqlIncubatorStore) fail(op, id string, err error) error {
	return opError(op, s.d.Name(), id, err)
}

// check rejects an id PHP could not have made, or one too long for the id
// column, before any query.
func (s *sqlIncubatorStore) check(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if s.maxID > 0 && int64(len(id)) > s.maxID {
		return fmt.Errorf("%w %q: %d characters, the id column holds %d", ErrInvalidID, truncateID(id), len(id), s.maxID)
	}
	return nil
}

// lifetime is session.gc_maxlifetime in whole seconds.
func (s *sqlIncubatorStore) lifetime() int64 { return int64(s.info.TTL / time.Second) }

// cutoff is the oldest unix time a session may have been written at and
// still be read: time() - gc_maxlifetime.
func (s *sqlIncubatorStore) cutoff(now time.Time) int64 { return now.Unix() - s.lifetime() }

// hsTime formats a time as PHP's date('Y-m-d H:i:s') in date.timezone.
func (s *sqlIncubatorStore) hsTime(t time.Time) string { return t.In(s.loc).Format(hsTimeLayout) }

// Read returns the session's row. For layout=incubator a row past the
// lifetime is ErrNotFound, as the adapter reads it as a new session; the
// HandlerSocket adapter reads any row.
func (s *sqlIncubatorStore) Read(ctx context.Context, id string) (*Record, error) {
	if err := s.check(id); err != nil {
		return nil, s.fail("read", id, err)
	}
	rec, err := s.read(ctx, id)
	if err != nil {
		return nil, s.fail("read", id, err)
	}
	return rec, nil
}

func (s *sqlIncubatorStore) read(ctx context.Context, id string) (*Record, error) {
	now := time.Now()
	row := s.db.QueryRowContext(ctx, s.qRead, id)
	var data []byte
	var modified time.Time
	if s.hs {
		var mod sql.NullString
		err := row.Scan(&data, &mod)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		if err != nil {
			return nil, err
		}
		if t, err := time.ParseInLocation(hsTimeLayout, mod.String, s.loc); err == nil {
			modified = t
		}
	} else {
		var created int64
		var mod sql.NullInt64
		err := row.Scan(&data, &created, &mod)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		if err != nil {
			return nil, err
		}
		last := created
		if mod.Valid {
			last = mod.Int64
		}
		if last < s.cutoff(now) {
			return nil, ErrNotFound
		}
		modified = time.Unix(last, 0)
	}
	ttl := time.Duration(0)
	if !modified.IsZero() {
		ttl = max(0, time.Duration(modified.Unix()+s.lifetime()-now.Unix())*time.Second)
	}
	return &Record{ID: id, Data: data, TTL: ttl, Modified: modified}, nil
}

// stamp is the modified value of a write with lifetime ttl (0: the
// lifetime): now, dated so that the row expires when ttl is over. For the
// Database adapter's INSERT, nil (NULL) when that is now.
func (s *sqlIncubatorStore) stamp(now time.Time, ttl time.Duration, insert bool) any {
	offset := time.Duration(0)
	if ttl > 0 {
		offset = (ttl - s.info.TTL).Round(time.Second)
	}
	t := now.Add(offset)
	switch {
	case s.hs:
		return s.hsTime(t)
	case insert && offset == 0:
		return nil
	}
	return t.Unix()
}

// Write stores rec as the adapter does: an UPDATE of the row, or an INSERT
// when there is none.
func (s *sqlIncubatorStore) Write(ctx context.Context, rec *Record) error {
	if rec == nil {
		return errors.New(s.d.Name() + " write: nil record")
	}
	if err := s.check(rec.ID); err != nil {
		return s.fail("write", rec.ID, err)
	}
	if err := s.checkData(rec); err != nil {
		return s.fail("write", rec.ID, err)
	}
	return s.fail("write", rec.ID, s.put(ctx, rec))
}

// checkData refuses a payload the data column cannot hold.
func (s *sqlIncubatorStore) checkData(rec *Record) error {
	if rec.TTL < 0 {
		return fmt.Errorf("negative TTL %v", rec.TTL)
	}
	if s.maxData > 0 && int64(len(rec.Data)) > s.maxData {
		return fmt.Errorf("%w: %d bytes, the data column holds %d; PHP's write would fail (or be truncated, and then the session destroyed), so nothing was written", ErrTooLarge, len(rec.Data), s.maxData)
	}
	if s.text != nil {
		return s.text.check(rec.Data)
	}
	return nil
}

// put updates the row, or inserts it when there is none; a concurrent
// insert of the same id is met by updating once more.
func (s *sqlIncubatorStore) put(ctx context.Context, rec *Record) error {
	now := time.Now()
	data := string(rec.Data)
	for tries := 2; ; tries-- {
		var upd []any
		if s.hs {
			upd = []any{s.stamp(now, rec.TTL, false), data, rec.ID}
		} else {
			upd = []any{data, s.stamp(now, rec.TTL, false), rec.ID}
		}
		if n, err := sqlAffected(s.db.ExecContext(ctx, s.qUpdate, upd...)); err != nil || n > 0 {
			return err
		}
		var err error
		if s.hs {
			_, err = s.db.ExecContext(ctx, s.qInsert, rec.ID, s.stamp(now, rec.TTL, true), data)
		} else {
			_, err = s.db.ExecContext(ctx, s.qInsert, rec.ID, data, now.Unix(), s.stamp(now, rec.TTL, true))
		}
		if err == nil || !s.d.IsDuplicate(err) || tries == 1 {
			return err
		}
	}
}

// Destroy deletes the row.
func (s *sqlIncubatorStore) Destroy(ctx context.Context, id string) error {
	if err := s.check(id); err != nil {
		return s.fail("destroy", id, err)
	}
	_, err := s.db.ExecContext(ctx, s.qDelete, id)
	return s.fail("destroy", id, err)
}

// Touch sets the row's modified time (dated for ttl, 0 meaning the
// lifetime) without rewriting the data. A missing session, or for
// layout=incubator an expired one, is ErrNotFound.
func (s *sqlIncubatorStore) Touch(ctx context.Context, id string, ttl time.Duration) error {
	if err := s.check(id); err != nil {
		return s.fail("touch", id, err)
	}
	if ttl < 0 {
		return s.fail("touch", id, fmt.Errorf("negative TTL %v", ttl))
	}
	now := time.Now()
	args := []any{s.stamp(now, ttl, false), id}
	if !s.hs {
		args = append(args, s.cutoff(now))
	}
	n, err := sqlAffected(s.db.ExecContext(ctx, s.qTouch, args...))
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return s.fail("touch", id, err)
}

// GC deletes the rows older than the lifetime, as the adapter's gc() does
// (HandlerSocket's 1000-row limit aside).
func (s *sqlIncubatorStore) GC(ctx context.Context) (int, error) {
	now := time.Now()
	var arg any = s.cutoff(now)
	if s.hs {
		arg = s.hsTime(now.Add(-s.info.TTL))
	}
	n, err := sqlAffected(s.db.ExecContext(ctx, s.qGC, arg))
	if err != nil {
		return 0, fmt.Errorf("%s gc: %w", s.d.Name(), err)
	}
	return int(n), nil
}

// sqlAffected returns the rows a statement matched (clientFoundRows on
// MySQL), or its error.
func sqlAffected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// List reports the session ids of the table by keyset pagination (for
// layout=incubator only rows not yet expired); rows whose id PHP could not
// have made are skipped.
func (s *sqlIncubatorStore) List(ctx context.Context, fn func(id string) error) error {
	cutoff := s.cutoff(time.Now())
	args := func(last string) []any {
		if s.hs {
			return []any{last}
		}
		return []any{last, cutoff}
	}
	var cbErr error
	err := sqlListKeyset(ctx, s.db, s.qList, sqlListPage, args, func(id string) error {
		if checkID(id) != nil {
			return nil
		}
		cbErr = fn(id)
		return cbErr
	})
	if err != nil && (cbErr == nil || err != cbErr) {
		return fmt.Errorf("%s list: %w", s.d.Name(), err)
	}
	return err
}
