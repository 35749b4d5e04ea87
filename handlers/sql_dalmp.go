package handlers

// DALMP's SQL backends: DALMP\Sessions\MySQL (mysql://...?layout=dalmp,
// table DALMP_SESSIONS_TABLE, default dalmp_sessions) and
// DALMP\Sessions\SQLite (sqlite:///path?layout=dalmp, table dalmp_sessions,
// fixed). One row per session:
//
//	sid     the session id (MySQL varchar(128) utf8_bin; SQLite VARCHAR)
//	expiry  time() + session.gc_maxlifetime at the last write, unix seconds
//	data    the payload (MySQL longtext utf8; SQLite TEXT, bytes verbatim)
//	ref     $GLOBALS[<ref name>] at the last write, or NULL (MySQL
//	        varchar(255); SQLite TEXT)
//	ts      MySQL only: the time of the last write, filled by MySQL
//
// The statements are DALMP's own, with the same clocks:
//
//	read     SELECT data ... WHERE sid = ? AND expiry >= <PHP's time()>
//	write    REPLACE INTO (MySQL) / INSERT OR REPLACE INTO (SQLite)
//	         (sid, expiry, data, ref) VALUES (?, ?, ?, ?)
//	destroy  DELETE ... WHERE sid = ?
//	gc       DELETE ... WHERE expiry < UNIX_TIMESTAMP() (MySQL: the server's
//	         clock) / expiry < <PHP's time()> (SQLite)
//	refs     SELECT sid, ref, expiry ... WHERE ref IS NOT NULL
//	ref      SELECT sid, ref, expiry ... WHERE ref = ?
//	delref   DELETE ... WHERE ref = ?
//
// so a reference matches as the column's collation says (the documented
// MySQL table compares ref case-insensitively; SQLite byte for byte).
// phpsess's clock stands for PHP's. Where phpsess differs, on purpose:
//   - getSessionRef on MySQL always queries the table dalmp_sessions,
//     whatever DALMP_SESSIONS_TABLE says; phpsess queries table=.
//   - GC does not run DALMP's OPTIMIZE TABLE / VACUUM afterwards: they
//     rebuild the whole table (MySQL) or file (SQLite) and block PHP
//     meanwhile; run them when it suits.
//   - A payload the data column cannot hold is refused before anything is
//     written: on a utf8 (utf8mb3) column anything but UTF-8 without 4-byte
//     sequences, which MySQL rejects in strict mode and mangles otherwise
//     (PHP's write then fails, or stores '?'). A data column of a binary
//     type (longblob) holds any payload.
//   - List reports the rows that have not expired, whose Read would find
//     them.
//
// Options besides handler= and ttl= (default 1440, session.gc_maxlifetime):
// table= (MySQL), create_table=on (creates the table with DALMP's DDL, and
// for SQLite the file), tls= (MySQL), busy_timeout= (SQLite).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// sqlDALMPStore is a DALMP session table.
type sqlDALMPStore struct {
	db   *sql.DB
	d    sqlDialect
	info Info

	binData bool  // the data column is binary: bound as bytes, no charset check
	utf8mb  int   // the data column's UTF-8 flavour to check: 3, 4, or 0 (none)
	maxSID  int64 // characters the sid column holds, 0 unknown
	maxRef  int64 // characters the ref column holds, 0 unknown
	hasTS   bool  // MySQL's ts column: Modified

	qRead, qWrite, qDelete, qGC, qList, qRefs, qRef, qDelRef string
}

var (
	_ Store      = (*sqlDALMPStore)(nil)
	_ Lister     = (*sqlDALMPStore)(nil)
	_ Collector  = (*sqlDALMPStore)(nil)
	_ Referencer = (*sqlDALMPStore)(nil)
)

// openSQLDALMP opens DALMP's table on a MySQL or SQLite database; c holds
// the common options openSQL (or openSQLite) has read.
func openSQLDALMP(ctx context.Context, o *options, d sqlDialect, c common) (Store, error) {
	if d.Name() != "mysql" && d.Name() != "sqlite" {
		return nil, fmt.Errorf("layout=dalmp: DALMP has no %s backend (its SQL backends are MySQL and SQLite)", d.Name())
	}
	dalmpParseCommon(o, &c)
	table := "dalmp_sessions"
	var bad []string
	if d.Name() == "sqlite" {
		if given(o, "table") {
			bad = append(bad, "table=: DALMP's SQLite backend always uses the table dalmp_sessions")
		}
	} else {
		table = o.String("table", table)
		if err := sqlCheckIdent("table", table); err != nil {
			bad = append(bad, err.Error())
		}
	}
	create := o.Bool("create_table", false)
	db, err := d.Open(ctx, o)
	if err != nil {
		bad = append(bad, err.Error())
	}
	if err := o.Err(); err != nil {
		bad = append(bad, err.Error())
	}
	if len(bad) > 0 {
		if db != nil {
			db.Close()
		}
		return nil, errors.New(strings.Join(bad, "; "))
	}
	s := &sqlDALMPStore{db: db, d: d, info: Info{
		URL: Redact(o.URL.String()), Backend: d.Name(), Layout: dalmpLayout, Handler: c.Handler, TTL: c.TTL,
	}}
	if err := s.prepareTable(ctx, table, create); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", d.Name(), err)
	}
	return s, nil
}

// sqlDALMPCreate is DALMP's DDL: MySQL's from docs/sessions/MySQL.rst (the
// table name substituted), SQLite's as its constructor runs it.
func (s *sqlDALMPStore) createSQL(table string) []string {
	if s.d.Name() == "sqlite" {
		return []string{
			`CREATE TABLE IF NOT EXISTS dalmp_sessions (sid VARCHAR NOT null, expiry INTEGER NOT null, data TEXT, ref TEXT, PRIMARY KEY(sid))`,
			`CREATE INDEX IF NOT EXISTS "dalmp_index" ON dalmp_sessions ("sid" DESC, "expiry" DESC, "ref" DESC)`,
		}
	}
	return []string{"CREATE TABLE IF NOT EXISTS `" + table + "` (\n" +
		"  `sid` varchar(128) CHARACTER SET utf8 COLLATE utf8_bin NOT NULL DEFAULT '',\n" +
		"  `expiry` int(11) unsigned NOT NULL DEFAULT '0',\n" +
		"  `data` longtext CHARACTER SET utf8 COLLATE utf8_bin,\n" +
		"  `ref` varchar(255) DEFAULT NULL,\n" +
		"  `ts` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,\n" +
		"  PRIMARY KEY (`sid`),\n" +
		"  KEY `index` (`ref`,`sid`,`expiry`)\n" +
		") DEFAULT CHARSET=utf8"}
}

// prepareTable checks the table's columns (creating it first with
// create_table=on), learns what the data column holds, and builds the
// statements.
func (s *sqlDALMPStore) prepareTable(ctx context.Context, table string, create bool) error {
	cols, err := sqlPrepareColumns(ctx, s.d, s.db, table, create, func() []string { return s.createSQL(table) },
		"DALMP's", "sid", "expiry", "data", "ref")
	if err != nil {
		return err
	}
	if typ := cols["expiry"].Type; !strings.Contains(typ, "int") {
		return fmt.Errorf("table %s: the expiry column is %s, but DALMP keeps unix seconds there (an integer)", table, typ)
	}
	data := cols["data"].Type
	s.binData = strings.Contains(data, "blob") || strings.Contains(data, "binary")
	s.maxSID, s.maxRef = cols["sid"].MaxChars, cols["ref"].MaxChars
	_, s.hasTS = cols["ts"]
	if s.d.Name() == "mysql" && !s.binData {
		var cs sql.NullString
		err := s.db.QueryRowContext(ctx, `SELECT CHARACTER_SET_NAME FROM information_schema.COLUMNS
			WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = 'data'`, table).Scan(&cs)
		if err != nil {
			return fmt.Errorf("reading the character set of %s.data: %w", table, err)
		}
		switch strings.ToLower(cs.String) {
		case "utf8", "utf8mb3":
			s.utf8mb = 3
		case "utf8mb4":
			s.utf8mb = 4
		}
	}
	s.buildQueries(table)
	return nil
}

// buildQueries writes DALMP's statements for the table.
func (s *sqlDALMPStore) buildQueries(table string) {
	q := s.d.Quote
	t := q(table)
	sid, expiry, data, ref := q("sid"), q("expiry"), q("data"), q("ref")
	cols := data + ", " + ref + ", " + expiry
	replace := "REPLACE INTO "
	if s.d.Name() == "sqlite" {
		replace = "INSERT OR REPLACE INTO "
	}
	if s.hasTS {
		cols += ", " + s.d.Epoch(q("ts"))
	}
	s.qRead = "SELECT " + cols + " FROM " + t + " WHERE " + sid + " = ? AND " + expiry + " >= ?"
	s.qWrite = replace + t + " (" + sid + ", " + expiry + ", " + data + ", " + ref + ") VALUES (?, ?, ?, ?)"
	s.qDelete = "DELETE FROM " + t + " WHERE " + sid + " = ?"
	if s.d.Name() == "mysql" {
		s.qGC = "DELETE FROM " + t + " WHERE " + expiry + " < UNIX_TIMESTAMP()"
	} else {
		s.qGC = "DELETE FROM " + t + " WHERE " + expiry + " < ?"
	}
	page := " ORDER BY " + sid + " LIMIT " + strconv.Itoa(sqlListPage)
	s.qList = "SELECT " + sid + " FROM " + t + " WHERE " + sid + " > ? AND " + expiry + " >= ?" + page
	s.qRefs = "SELECT " + sid + ", " + ref + ", " + expiry + " FROM " + t + " WHERE " + ref + " IS NOT NULL AND " + sid + " > ?" + page
	s.qRef = "SELECT " + sid + ", " + ref + ", " + expiry + " FROM " + t + " WHERE " + ref + " = ?"
	s.qDelRef = "DELETE FROM " + t + " WHERE " + ref + " = ?"
}

// Info describes the store.
func (s *sqlDALMPStore) Info() Info { return s.info }

// Close closes the connection pool.
func (s *sqlDALMPStore) Close() error { return s.db.Close() }

func (s *sqlDALMPStore) fail(op, id string, err error) error { return opError(op, s.d.Name(), id, err) }

// check rejects an id PHP could not have made, or one longer than the sid
// column.
func (s *sqlDALMPStore) check(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if s.maxSID > 0 && int64(len(id)) > s.maxSID {
		return fmt.Errorf("%w %q: %d characters, the sid column holds %d", ErrInvalidID, truncateID(id), len(id), s.maxSID)
	}
	return nil
}

// Read returns the session's row unless it has expired (expiry before
// now, as DALMP's read() checks), with its reference and, on MySQL, the
// time of its last write.
func (s *sqlDALMPStore) Read(ctx context.Context, id string) (*Record, error) {
	if err := s.check(id); err != nil {
		return nil, s.fail("read", id, err)
	}
	now := time.Now()
	var (
		data   []byte
		ref    sql.NullString
		expiry int64
		ts     sql.NullInt64
	)
	dest := []any{&data, &ref, &expiry}
	if s.hasTS {
		dest = append(dest, &ts)
	}
	err := s.db.QueryRowContext(ctx, s.qRead, id, now.Unix()).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, s.fail("read", id, err)
	}
	if data == nil {
		data = []byte{} // a NULL data column: an empty session
	}
	rec := &Record{ID: id, Data: data, TTL: dalmpTTLLeft(expiry, now), Meta: Meta{Ref: ref.String}}
	if ts.Valid {
		rec.Modified = time.Unix(ts.Int64, 0)
	}
	return rec, nil
}

// dataArg is the data column's argument: bytes for a binary column, else
// a string in the connection's character set, after checking that the
// column's UTF-8 can hold it (ErrNotText).
func (s *sqlDALMPStore) dataArg(data []byte) (any, error) {
	if s.binData {
		if data == nil {
			data = []byte{}
		}
		return data, nil
	}
	if s.utf8mb != 0 {
		rules := textRules{what: "the utf8 data column of DALMP's table", bmp: s.utf8mb == 3}
		if err := rules.check(data); err != nil {
			return nil, fmt.Errorf("%w (PHP's write would fail too); nothing was written", err)
		}
	}
	return string(data), nil
}

// Write replaces the row as DALMP's write() does: expiry now + TTL (the
// lifetime by default), the payload, and the reference or NULL.
func (s *sqlDALMPStore) Write(ctx context.Context, rec *Record) error {
	if err := s.check(rec.ID); err != nil {
		return s.fail("write", rec.ID, err)
	}
	secs, err := dalmpSeconds(rec.TTL, s.info.TTL)
	if err != nil {
		return s.fail("write", rec.ID, err)
	}
	data, err := s.dataArg(rec.Data)
	if err != nil {
		return s.fail("write", rec.ID, err)
	}
	var ref any // NULL, as DALMP binds a request without reference
	if r := dalmpRef(rec.Meta.Ref); r != "" {
		if s.maxRef > 0 && int64(utf8.RuneCountInString(r)) > s.maxRef {
			return s.fail("write", rec.ID, fmt.Errorf("reference of %d characters: the ref column holds %d", utf8.RuneCountInString(r), s.maxRef))
		}
		ref = r
	}
	_, err = s.db.ExecContext(ctx, s.qWrite, rec.ID, time.Now().Unix()+secs, data, ref)
	return s.fail("write", rec.ID, err)
}

// Destroy deletes the row.
func (s *sqlDALMPStore) Destroy(ctx context.Context, id string) error {
	if err := s.check(id); err != nil {
		return s.fail("destroy", id, err)
	}
	_, err := s.db.ExecContext(ctx, s.qDelete, id)
	return s.fail("destroy", id, err)
}

// GC deletes the rows past their expiry, as DALMP's gc() does (MySQL by
// the server's clock, SQLite by ours), and returns how many it deleted.
func (s *sqlDALMPStore) GC(ctx context.Context) (int, error) {
	var args []any
	if s.d.Name() != "mysql" {
		args = append(args, time.Now().Unix())
	}
	res, err := s.db.ExecContext(ctx, s.qGC, args...)
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err != nil {
		return 0, fmt.Errorf("%s gc: %w", s.d.Name(), err)
	}
	return int(n), nil
}

// List reports the ids of the rows that have not expired, by keyset
// pagination on sid.
func (s *sqlDALMPStore) List(ctx context.Context, fn func(id string) error) error {
	now := time.Now().Unix()
	args := func(last string) []any { return []any{last, now} }
	var fnErr error
	err := sqlListKeyset(ctx, s.db, s.qList, sqlListPage, args, func(id string) error {
		if checkID(id) != nil {
			return nil
		}
		fnErr = fn(id)
		return fnErr
	})
	if err != nil && err != fnErr {
		return fmt.Errorf("%s list: %w", s.d.Name(), err)
	}
	return err
}

// scanRefs reads rows of sid, ref, expiry.
func scanRefs(rows *sql.Rows, fn func(RefEntry) error) (last string, n int, err error) {
	defer rows.Close()
	for rows.Next() {
		var (
			e      RefEntry
			expiry sql.NullInt64
		)
		if err := rows.Scan(&e.Session, &e.Ref, &expiry); err != nil {
			return last, n, err
		}
		if expiry.Valid {
			e.Expiry = time.Unix(expiry.Int64, 0)
		}
		last = e.Session
		n++
		if err := fn(e); err != nil {
			return last, n, err
		}
	}
	return last, n, rows.Err()
}

// Refs calls fn with every row that has a reference, expired or not, as
// getSessionsRefs lists them, a page of sids at a time.
func (s *sqlDALMPStore) Refs(ctx context.Context, fn func(RefEntry) error) error {
	last := ""
	for {
		rows, err := s.db.QueryContext(ctx, s.qRefs, last)
		if err != nil {
			return fmt.Errorf("%s refs: %w", s.d.Name(), err)
		}
		var fnErr error
		next, n, err := scanRefs(rows, func(e RefEntry) error {
			fnErr = fn(e)
			return fnErr
		})
		if err != nil {
			if err == fnErr {
				return err
			}
			return fmt.Errorf("%s refs: %w", s.d.Name(), err)
		}
		if n < sqlListPage {
			return nil
		}
		last = next
	}
}

// SessionRefs returns the rows whose ref equals ref by the column's
// collation, expired or not, as getSessionRef returns them.
func (s *sqlDALMPStore) SessionRefs(ctx context.Context, ref string) ([]RefEntry, error) {
	rows, err := s.db.QueryContext(ctx, s.qRef, ref)
	if err != nil {
		return nil, dalmpRefError(s.d.Name(), "find", ref, err)
	}
	var out []RefEntry
	_, _, err = scanRefs(rows, func(e RefEntry) error {
		out = append(out, e)
		return nil
	})
	return out, dalmpRefError(s.d.Name(), "find", ref, err)
}

// SessionsByRef returns the ids of the sessions with reference ref.
func (s *sqlDALMPStore) SessionsByRef(ctx context.Context, ref string) ([]string, error) {
	return dalmpSessions(s.SessionRefs(ctx, ref))
}

// DestroyRef deletes the rows with reference ref, as delSessionRef does,
// and returns how many it deleted.
func (s *sqlDALMPStore) DestroyRef(ctx context.Context, ref string) (int, error) {
	res, err := s.db.ExecContext(ctx, s.qDelRef, ref)
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	return int(n), dalmpRefError(s.d.Name(), "delete", ref, err)
}
