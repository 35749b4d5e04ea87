package handlers

// CodeIgniter's database session drivers, on MySQL and PostgreSQL:
// layout=ci3 is CodeIgniter 3.1's Session_database_driver, layout=ci4
// CodeIgniter 4's DatabaseHandler (MySQLiHandler, PostgreHandler).
//
// The table (table=, default ci_sessions) has the columns id, ip_address,
// timestamp and data. How each version fills them:
//
//	                    ci3 (and ci4 < 4.1.2)      ci4 >= 4.1.2
//	id                  the session id             "<cookie>:<id>" from 4.2.11, else the id
//	ip_address          REMOTE_ADDR, on insert     the client IP, on insert (PostgreSQL: inet)
//	timestamp           PHP's time(), an int       SQL now(), a TIMESTAMP / timestamptz
//	data  MySQL         the payload, BLOB          the payload, BLOB
//	data  PostgreSQL    base64 of it, TEXT         the payload, bytea
//
// Every write (and CI3's updateTimestamp) sets timestamp; garbage
// collection deletes rows whose timestamp is older than the lifetime.
// Both versions lock the session with the same calls, on the connection
// that runs the queries: MySQL SELECT GET_LOCK(md5(id[ + "_" + ip]), 300),
// PostgreSQL SELECT pg_advisory_lock(hashtext(id)[, hashtext(ip)]), where
// id is the bare session id and the ip part is there with match_ip. So CI3,
// CI4 and phpsess sharing a table exclude each other.
//
// Choices where CodeIgniter has no counterpart:
//   - Read does not lock (a row is read whole) and does not check the
//     timestamp: like CodeIgniter, a row past its lifetime that GC has not
//     removed yet is still read, with TTL 0.
//   - A Write whose TTL differs from the lifetime (ttl=) dates the timestamp
//     so that CodeIgniter's GC removes the row when the TTL runs out:
//     timestamp = now - (lifetime - TTL). The lifetime itself is the
//     application's sess_expiration; there is no per-row expiry.
//   - ip_address is written on insert only, as CodeIgniter does: from
//     Record.Meta.IP, else ip= (default 0.0.0.0, what CI4 records when it
//     has no valid client address).

import (
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sqlCIStore is a CodeIgniter session table.
type sqlCIStore struct {
	db   *sql.DB
	d    sqlDialect
	info Info

	prefix      string // id column prefix: "<cookie>:" (CI4 >= 4.2.11) or ""
	matchIP     bool   // sess_match_ip / $matchIP
	ip          string // the client address: lock name and WHERE with match_ip, new rows
	intTS       bool   // timestamp holds time() ints (CI3, CI4 < 4.1.2), else now()
	b64         bool   // data holds base64 text (PostgreSQL, CI3 and CI4 < 4.1.2)
	maxData     int64  // bytes the data column holds (after base64), 0 unknown
	maxID       int64  // characters the id column holds, 0 unknown
	lockTimeout time.Duration

	qRead, qUpdate, qInsert, qDelete, qTouch, qGC, qList string
	// qReadMany is qRead for many ids at once, without its WHERE: it
	// selects the id column first, then qRead's columns.
	qReadMany, idCol string
}

// sqlCIVersion is a CodeIgniter 4 version, for ci4_version=.
type sqlCIVersion [3]int

func (v sqlCIVersion) less(w sqlCIVersion) bool {
	for i := range v {
		if v[i] != w[i] {
			return v[i] < w[i]
		}
	}
	return false
}

func parseSQLCIVersion(s string) (sqlCIVersion, error) {
	var v sqlCIVersion
	parts := strings.Split(strings.TrimPrefix(s, "v"), ".")
	if len(parts) > 3 {
		return v, fmt.Errorf("ci4_version=%q: want a version such as 4.1.1", s)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, fmt.Errorf("ci4_version=%q: want a version such as 4.1.1", s)
		}
		v[i] = n
	}
	if v[0] != 4 {
		return v, fmt.Errorf("ci4_version=%q: want a CodeIgniter 4 version (4.x.y)", s)
	}
	return v, nil
}

// sqlCheckCookie accepts CodeIgniter cookie names of [A-Za-z0-9_.-].
func sqlCheckCookie(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("cookie=%q: want 1 to 64 characters of [A-Za-z0-9_.-]", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("cookie=%q: want 1 to 64 characters of [A-Za-z0-9_.-]", s)
		}
	}
	return nil
}

func sqlCheckIP(what, ip string) error {
	if _, err := netip.ParseAddr(ip); err != nil {
		return fmt.Errorf("%s %q: not an IP address", what, ip)
	}
	return nil
}

// openSQLCI opens a CodeIgniter session table: options table=, cookie=,
// ci4_version=, match_ip=, ip=, create_table=, and the dialect's own.
func openSQLCI(ctx context.Context, o *options, d sqlDialect, c common) (Store, error) {
	s := &sqlCIStore{d: d, lockTimeout: c.LockTimeout}
	s.info = Info{
		URL: Redact(o.URL.String()), Backend: d.Name(), Layout: c.Layout,
		Handler: c.Handler, TTL: c.TTL, Locking: c.Lock,
	}
	table := o.String("table", "ci_sessions")
	var bad []string
	if err := sqlCheckIdent("table", table); err != nil {
		bad = append(bad, err.Error())
	}
	s.matchIP = o.Bool("match_ip", false)
	hasIP := o.Has("ip")
	s.ip = o.String("ip", "0.0.0.0")
	if err := sqlCheckIP("ip=", s.ip); err != nil {
		bad = append(bad, err.Error())
	}
	if s.matchIP && !hasIP {
		bad = append(bad, "match_ip=on needs ip= (the client address PHP sees, with which CodeIgniter locks and finds the row)")
	}
	createTable := o.Bool("create_table", false)
	hasCookie, hasVersion := o.Has("cookie"), o.Has("ci4_version")
	cookie := o.String("cookie", "ci_session")
	version := o.String("ci4_version", "4.7.0")
	switch c.Layout {
	case "ci3":
		s.intTS = true
		if hasCookie || hasVersion {
			bad = append(bad, "cookie= and ci4_version= apply to layout=ci4 (CodeIgniter 3 stores the bare session id)")
		}
	case "ci4":
		v, err := parseSQLCIVersion(version)
		if err != nil {
			bad = append(bad, err.Error())
		}
		s.intTS = v.less(sqlCIVersion{4, 1, 2})
		if !v.less(sqlCIVersion{4, 2, 11}) {
			if err := sqlCheckCookie(cookie); err != nil {
				bad = append(bad, err.Error())
			}
			s.prefix = cookie + ":"
		} else if hasCookie {
			bad = append(bad, fmt.Sprintf("cookie= applies to CodeIgniter 4.2.11 and later (ci4_version=%s stores the bare session id)", version))
		}
	}
	s.b64 = s.intTS && d.Name() == "postgres"
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
	s.db = db
	if err := s.prepareTable(ctx, table, createTable); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", d.Name(), err)
	}
	return s, nil
}

// prepareTable checks the table against the layout (creating it first with
// create_table=on) and builds the queries.
func (s *sqlCIStore) prepareTable(ctx context.Context, table string, create bool) error {
	cols, err := sqlPrepareColumns(ctx, s.d, s.db, table, create, func() []string { return s.createTableSQL(table) },
		"CodeIgniter's", "id", "ip_address", "timestamp", "data")
	if err != nil {
		return err
	}
	ts := cols["timestamp"].Type
	isInt := strings.Contains(ts, "int") || ts == "numeric" || ts == "decimal"
	isTime := strings.HasPrefix(ts, "timestamp") || ts == "datetime"
	switch {
	case s.intTS && !isInt:
		return fmt.Errorf("table %s: the timestamp column is %s, but layout %s keeps time() integers there (CodeIgniter 4.1.2 and later write now() into a timestamp column: layout=ci4 without ci4_version=)", table, ts, s.info.Layout)
	case !s.intTS && !isTime:
		return fmt.Errorf("table %s: the timestamp column is %s, but CodeIgniter 4.1.2 and later write now() there and need a timestamp column (an int column means CodeIgniter 3 (layout=ci3) or 4.0-4.1.1 (ci4_version=4.1.1); CI4's make:migration --session of some versions made it int by mistake)", table, ts)
	}
	data := cols["data"].Type
	if s.d.Name() == "postgres" {
		switch {
		case s.b64 && data == "bytea":
			return fmt.Errorf("table %s: the data column is bytea, but layout %s keeps base64 text there (bytea is CodeIgniter 4.1.2 and later)", table, s.info.Layout)
		case !s.b64 && data != "bytea":
			return fmt.Errorf("table %s: the data column is %s, but CodeIgniter 4.1.2 and later keep bytea there (text means CodeIgniter 3 or 4.0-4.1.1)", table, data)
		}
	}
	s.maxData = cols["data"].MaxBytes
	s.maxID = cols["id"].MaxChars
	s.buildQueries(table, cols["ip_address"].Type == "inet")
	return nil
}

// createTableSQL is CodeIgniter's schema for the table (CI3's user guide;
// CI4's from 4.1.2 on), with the primary key CodeIgniter asks for.
func (s *sqlCIStore) createTableSQL(table string) []string {
	pk, mysqlPK := `"id"`, "`id`"
	if s.matchIP {
		pk, mysqlPK = `"id", "ip_address"`, "`id`, `ip_address`"
	}
	index := table
	if len(index) > 53 {
		index = index[:53]
	}
	index += "_timestamp"
	if s.d.Name() == "mysql" {
		ts := "`timestamp` int(10) unsigned DEFAULT 0 NOT NULL"
		if !s.intTS {
			ts = "`timestamp` timestamp DEFAULT CURRENT_TIMESTAMP NOT NULL"
		}
		return []string{"CREATE TABLE IF NOT EXISTS `" + table + "` (\n" +
			"  `id` varchar(128) NOT NULL,\n" +
			"  `ip_address` varchar(45) NOT NULL,\n" +
			"  " + ts + ",\n" +
			"  `data` blob NOT NULL,\n" +
			"  KEY `" + index + "` (`timestamp`),\n" +
			"  PRIMARY KEY (" + mysqlPK + ")\n)"}
	}
	cols := `  "id" varchar(128) NOT NULL,
  "ip_address" varchar(45) NOT NULL,
  "timestamp" bigint DEFAULT 0 NOT NULL,
  "data" text DEFAULT '' NOT NULL,`
	if !s.intTS {
		cols = `  "id" varchar(128) NOT NULL,
  "ip_address" inet NOT NULL,
  "timestamp" timestamptz DEFAULT CURRENT_TIMESTAMP NOT NULL,
  "data" bytea DEFAULT '' NOT NULL,`
	}
	return []string{
		`CREATE TABLE IF NOT EXISTS "` + table + "\" (\n" + cols + "\n  PRIMARY KEY (" + pk + ")\n)",
		`CREATE INDEX IF NOT EXISTS "` + index + `" ON "` + table + `" ("timestamp")`,
	}
}

// buildQueries writes the statements once, with the dialect's quoting and
// placeholders. Every value is a bound argument.
func (s *sqlCIStore) buildQueries(table string, inet bool) {
	d := s.d
	t := d.Quote(table)
	id, ip, ts, data := d.Quote("id"), d.Quote("ip_address"), d.Quote("timestamp"), d.Quote("data")
	ipArg := func(n int) string {
		if inet {
			return d.Arg(n) + "::inet"
		}
		return d.Arg(n)
	}
	// where is the row's key from argument n on.
	where := func(n int) string {
		w := " WHERE " + id + " = " + d.Arg(n)
		if s.matchIP {
			w += " AND " + ip + " = " + ipArg(n+1)
		}
		return w
	}
	tsExpr := func(n int) string {
		if s.intTS {
			return d.Arg(n)
		}
		return d.NowPlus(d.Arg(n))
	}
	ipSel := ip
	if inet {
		ipSel = "host(" + ip + ")"
	}
	s.idCol = id
	if s.intTS {
		s.qReadMany = "SELECT " + id + ", " + data + ", " + ipSel + ", " + ts + " FROM " + t
	} else {
		s.qReadMany = "SELECT " + id + ", " + data + ", " + ipSel + ", " + d.Epoch(ts) + ", " + d.Age(ts) + " FROM " + t
	}
	if s.intTS {
		s.qRead = "SELECT " + data + ", " + ipSel + ", " + ts + " FROM " + t + where(1) + " LIMIT 1"
		s.qGC = "DELETE FROM " + t + " WHERE " + ts + " < " + d.Arg(1)
	} else {
		s.qRead = "SELECT " + data + ", " + ipSel + ", " + d.Epoch(ts) + ", " + d.Age(ts) + " FROM " + t + where(1) + " LIMIT 1"
		s.qGC = "DELETE FROM " + t + " WHERE " + ts + " < " + d.NowPlus(d.Arg(1))
	}
	s.qUpdate = "UPDATE " + t + " SET " + ts + " = " + tsExpr(1) + ", " + data + " = " + d.Arg(2) + where(3)
	s.qInsert = "INSERT INTO " + t + " (" + id + ", " + ip + ", " + ts + ", " + data + ") VALUES (" +
		d.Arg(1) + ", " + ipArg(2) + ", " + tsExpr(3) + ", " + d.Arg(4) + ")"
	s.qTouch = "UPDATE " + t + " SET " + ts + " = " + tsExpr(1) + where(2)
	s.qDelete = "DELETE FROM " + t + where(1)
	s.qList = "SELECT " + id + " FROM " + t + " WHERE " + id + " > " + d.Arg(1)
	if s.prefix != "" {
		s.qList += " AND " + id + " LIKE " + d.Arg(2) + " ESCAPE '!'"
	}
	s.qList += " ORDER BY " + id + " LIMIT " + strconv.Itoa(sqlListPage)
}

// Info describes the store.
func (s *sqlCIStore) Info() Info { return s.info }

// Close closes the connection pool.
func (s *sqlCIStore) Close() error { return s.db.Close() }

func (s *sqlCIStore) fail(op, id string, err error) error { return opError(op, s.d.Name(), id, err) }

// check rejects an id PHP could not have made, or one too long for the id
// column, before any query.
func (s *sqlCIStore) check(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if s.maxID > 0 && int64(len(s.prefix)+len(id)) > s.maxID {
		return fmt.Errorf("%w %q: %d characters with the %q prefix, the id column holds %d", ErrInvalidID, truncateID(id), len(s.prefix)+len(id), s.prefix, s.maxID)
	}
	return nil
}

// keyArgs are the arguments of the row's WHERE.
func (s *sqlCIStore) keyArgs(id string) []any {
	if s.matchIP {
		return []any{s.prefix + id, s.ip}
	}
	return []any{s.prefix + id}
}

// lockArgs name the session's lock as CodeIgniter does: the bare id (not
// the prefixed column value), with "_"+ip (MySQL) or a second hashtext
// (PostgreSQL) under match_ip.
func (s *sqlCIStore) lockArgs(id string) []string {
	if s.d.Name() == "mysql" {
		name := id
		if s.matchIP {
			name += "_" + s.ip
		}
		sum := md5.Sum([]byte(name))
		return []string{hex.EncodeToString(sum[:])}
	}
	if s.matchIP {
		return []string{id, s.ip}
	}
	return []string{id}
}

func (s *sqlCIStore) lock(ctx context.Context, id string) (*sqlLock, error) {
	return acquireSQLLock(ctx, s.db, s.d, s.lockArgs(id), s.lockTimeout)
}

// Read returns the session's row, without locking. A row past its lifetime
// that GC has not removed is read with TTL 0, as CodeIgniter reads it.
func (s *sqlCIStore) Read(ctx context.Context, id string) (*Record, error) {
	if err := s.check(id); err != nil {
		return nil, s.fail("read", id, err)
	}
	rec, err := s.read(ctx, s.db, id)
	if err != nil {
		return nil, s.fail("read", id, err)
	}
	return rec, nil
}

func (s *sqlCIStore) read(ctx context.Context, q sqlQuerier, id string) (*Record, error) {
	row := q.QueryRowContext(ctx, s.qRead, s.keyArgs(id)...)
	rec, err := s.scanRecord(row.Scan, id, nil)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return rec, err
}

// scanRecord reads one row of qRead (after the id column, with qReadMany)
// into a Record: data, ip, and the timestamp as the layout keeps it.
func (s *sqlCIStore) scanRecord(scan func(...any) error, id string, idDest *string) (*Record, error) {
	var data []byte
	var ip string
	var modified time.Time
	var age float64
	lead := []any{}
	if idDest != nil {
		lead = append(lead, idDest)
	}
	var err error
	if s.intTS {
		var ts int64
		err = scan(append(lead, &data, &ip, &ts)...)
		modified = time.Unix(ts, 0)
		age = time.Since(modified).Seconds()
	} else {
		var epoch float64
		err = scan(append(lead, &data, &ip, &epoch, &age)...)
		modified = time.Unix(0, int64(epoch*1e9))
	}
	if err != nil {
		return nil, err
	}
	if idDest != nil {
		id = strings.TrimPrefix(*idDest, s.prefix)
	}
	if s.b64 {
		data = sqlBase64Decode(data)
	}
	ttl := s.info.TTL - time.Duration(age*float64(time.Second))
	if ttl < 0 {
		ttl = 0
	}
	return &Record{ID: id, Data: data, TTL: ttl, Modified: modified, Meta: Meta{IP: ip}}, nil
}

// ReadBatch reads many sessions with one query (WHERE id IN (...)), each as
// Read reads it: for migrations out of a database. recs[i] is nil where
// session ids[i] has no row. With match_ip it reads one at a time.
func (s *sqlCIStore) ReadBatch(ctx context.Context, ids []string) ([]*Record, error) {
	recs := make([]*Record, len(ids))
	if s.matchIP {
		for i, id := range ids {
			rec, err := s.Read(ctx, id)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
			recs[i] = rec
		}
		return recs, nil
	}
	at := make(map[string]int, len(ids))
	args := make([]any, len(ids))
	marks := make([]string, len(ids))
	for i, id := range ids {
		if err := s.check(id); err != nil {
			return nil, s.fail("read", id, err)
		}
		at[id] = i
		args[i] = s.prefix + id
		marks[i] = s.d.Arg(i + 1)
	}
	rows, err := s.db.QueryContext(ctx, s.qReadMany+" WHERE "+s.idCol+" IN ("+strings.Join(marks, ", ")+")", args...)
	if err != nil {
		return nil, fmt.Errorf("%s read batch: %w", s.d.Name(), err)
	}
	defer rows.Close()
	for rows.Next() {
		var rowID string
		rec, err := s.scanRecord(rows.Scan, "", &rowID)
		if err != nil {
			return nil, fmt.Errorf("%s read batch: %w", s.d.Name(), err)
		}
		if i, ok := at[rec.ID]; ok {
			recs[i] = rec
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s read batch: %w", s.d.Name(), err)
	}
	return recs, nil
}

// tsArg is the timestamp argument of a write: time() (plus the TTL offset)
// for int timestamps, else the offset in seconds added to now().
func (s *sqlCIStore) tsArg(ttl time.Duration) any {
	offset := time.Duration(0)
	if ttl > 0 {
		offset = (ttl - s.info.TTL).Round(time.Second) // the columns hold seconds
	}
	if s.intTS {
		return time.Now().Add(offset).Unix()
	}
	return offset.Seconds()
}

// dataArg encodes the payload for the data column and refuses one the
// column cannot hold.
func (s *sqlCIStore) dataArg(data []byte) (any, error) {
	var v any
	n := int64(len(data))
	if s.b64 {
		str := base64.StdEncoding.EncodeToString(data)
		n, v = int64(len(str)), str
	} else {
		if data == nil {
			data = []byte{} // NOT NULL
		}
		v = data
	}
	if s.maxData > 0 && n > s.maxData {
		what := fmt.Sprintf("%d bytes", len(data))
		if s.b64 {
			what += fmt.Sprintf(" (%d in base64)", n)
		}
		return nil, fmt.Errorf("%w: %s, the column holds %d; PHP would have it truncated and then destroy the session, so nothing was written", ErrTooLarge, what, s.maxData)
	}
	return v, nil
}

// Write stores rec as CodeIgniter's write does (UPDATE of timestamp and
// data, or INSERT of a new row), under the session's lock with locking on.
func (s *sqlCIStore) Write(ctx context.Context, rec *Record) error {
	if err := s.check(rec.ID); err != nil {
		return s.fail("write", rec.ID, err)
	}
	w, err := s.prepareWrite(rec)
	if err != nil {
		return s.fail("write", rec.ID, err)
	}
	if !s.info.Locking {
		return s.fail("write", rec.ID, s.put(ctx, s.db, rec.ID, w, false))
	}
	l, err := s.lock(ctx, rec.ID)
	if err != nil {
		return s.fail("write", rec.ID, err)
	}
	err = s.put(ctx, l.Conn, rec.ID, w, true)
	// A failed release closes the lock's connection, which releases the
	// lock; the write stands.
	l.Release(context.WithoutCancel(ctx))
	return s.fail("write", rec.ID, err)
}

// sqlCIWrite is a Write's arguments, checked and encoded before any lock.
type sqlCIWrite struct {
	data any
	ttl  time.Duration
	ip   string
}

func (s *sqlCIStore) prepareWrite(rec *Record) (sqlCIWrite, error) {
	if rec.TTL < 0 {
		return sqlCIWrite{}, fmt.Errorf("negative TTL %v", rec.TTL)
	}
	w := sqlCIWrite{ttl: rec.TTL, ip: s.ip}
	if rec.Meta.IP != "" {
		if err := sqlCheckIP("Meta.IP", rec.Meta.IP); err != nil {
			return w, err
		}
		if s.matchIP && rec.Meta.IP != s.ip {
			return w, fmt.Errorf("Meta.IP %q differs from ip=%q: with match_ip the address is part of the session's key", rec.Meta.IP, s.ip)
		}
		w.ip = rec.Meta.IP
	}
	var err error
	w.data, err = s.dataArg(rec.Data)
	return w, err
}

// put updates the row, or inserts it when there is none. Unlocked, a
// concurrent insert of the same id is met by updating once more.
func (s *sqlCIStore) put(ctx context.Context, q sqlQuerier, id string, w sqlCIWrite, locked bool) error {
	tries := 2
	if locked {
		tries = 1
	}
	for {
		res, err := q.ExecContext(ctx, s.qUpdate, append([]any{s.tsArg(w.ttl), w.data}, s.keyArgs(id)...)...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		_, err = q.ExecContext(ctx, s.qInsert, s.prefix+id, w.ip, s.tsArg(w.ttl), w.data)
		tries--
		if err == nil || !s.d.IsDuplicate(err) || tries == 0 {
			return err
		}
	}
}

// Destroy deletes the row, under the session's lock with locking on.
func (s *sqlCIStore) Destroy(ctx context.Context, id string) error {
	if err := s.check(id); err != nil {
		return s.fail("destroy", id, err)
	}
	if !s.info.Locking {
		_, err := s.db.ExecContext(ctx, s.qDelete, s.keyArgs(id)...)
		return s.fail("destroy", id, err)
	}
	l, err := s.lock(ctx, id)
	if err != nil {
		return s.fail("destroy", id, err)
	}
	_, err = l.Conn.ExecContext(ctx, s.qDelete, s.keyArgs(id)...)
	l.Release(context.WithoutCancel(ctx))
	return s.fail("destroy", id, err)
}

// Touch sets the timestamp as CI3's updateTimestamp does (to now, or dated
// for a TTL other than the lifetime). It does not take the lock: it changes
// no data. A missing session is ErrNotFound.
func (s *sqlCIStore) Touch(ctx context.Context, id string, ttl time.Duration) error {
	if err := s.check(id); err != nil {
		return s.fail("touch", id, err)
	}
	if ttl < 0 {
		return s.fail("touch", id, fmt.Errorf("negative TTL %v", ttl))
	}
	res, err := s.db.ExecContext(ctx, s.qTouch, append([]any{s.tsArg(ttl)}, s.keyArgs(id)...)...)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = ErrNotFound
		}
	}
	return s.fail("touch", id, err)
}

// GC runs CodeIgniter's gc(): it deletes every row of the table whose
// timestamp is older than the lifetime (time() - lifetime for int
// timestamps, now() - INTERVAL lifetime SECOND otherwise), whatever its
// cookie prefix, as CodeIgniter does.
func (s *sqlCIStore) GC(ctx context.Context) (int, error) {
	life := int64(s.info.TTL / time.Second)
	var arg any = float64(-life)
	if s.intTS {
		arg = time.Now().Unix() - life
	}
	res, err := s.db.ExecContext(ctx, s.qGC, arg)
	if err != nil {
		return 0, fmt.Errorf("%s gc: %w", s.d.Name(), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("%s gc: %w", s.d.Name(), err)
	}
	return int(n), nil
}

// List reports the session ids of the table (of this cookie's prefix, for
// CI4), by keyset pagination on id; rows whose id PHP could not have made
// are skipped.
func (s *sqlCIStore) List(ctx context.Context, fn func(id string) error) error {
	var pattern string
	if s.prefix != "" {
		r := strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")
		pattern = r.Replace(s.prefix) + "%"
	}
	args := func(last string) []any {
		if s.prefix != "" {
			return []any{last, pattern}
		}
		return []any{last}
	}
	var cbErr error
	err := sqlListKeyset(ctx, s.db, s.qList, sqlListPage, args, func(col string) error {
		if len(col) < len(s.prefix) || !strings.EqualFold(col[:len(s.prefix)], s.prefix) {
			return nil
		}
		id := col[len(s.prefix):]
		if checkID(id) != nil {
			return nil
		}
		if err := fn(id); err != nil {
			cbErr = err
			return err
		}
		return nil
	})
	if err != nil && (cbErr == nil || err != cbErr) {
		return fmt.Errorf("%s list: %w", s.d.Name(), err)
	}
	return err
}

// Lock takes the session's lock as CodeIgniter does, on a connection held
// until Unlock.
func (s *sqlCIStore) Lock(ctx context.Context, id string) (Locked, error) {
	if err := s.check(id); err != nil {
		return nil, s.fail("lock", id, err)
	}
	l, err := s.lock(ctx, id)
	if err != nil {
		return nil, s.fail("lock", id, err)
	}
	return &sqlCILocked{s: s, id: id, l: l}, nil
}

// sqlCILocked is a session whose CodeIgniter lock is held; its queries run on
// the lock's connection.
type sqlCILocked struct {
	s  *sqlCIStore
	id string

	mu sync.Mutex
	l  *sqlLock // nil once unlocked
}

var errSQLUnlocked = errors.New("the session's lock was released")

func (h *sqlCILocked) conn() (*sql.Conn, error) {
	if h.l == nil {
		return nil, errSQLUnlocked
	}
	return h.l.Conn, nil
}

// Read reads the locked session.
func (h *sqlCILocked) Read(ctx context.Context) (*Record, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.conn()
	if err != nil {
		return nil, h.s.fail("read", h.id, err)
	}
	rec, err := h.s.read(ctx, c, h.id)
	return rec, h.s.fail("read", h.id, err)
}

// Write writes the locked session.
func (h *sqlCILocked) Write(ctx context.Context, rec *Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.conn()
	if err != nil {
		return h.s.fail("write", h.id, err)
	}
	w, err := h.s.prepareWrite(rec)
	if err != nil {
		return h.s.fail("write", h.id, err)
	}
	return h.s.fail("write", h.id, h.s.put(ctx, c, h.id, w, true))
}

// Destroy deletes the locked session; the lock stays held until Unlock.
func (h *sqlCILocked) Destroy(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.conn()
	if err != nil {
		return h.s.fail("destroy", h.id, err)
	}
	_, err = c.ExecContext(ctx, h.s.qDelete, h.s.keyArgs(h.id)...)
	return h.s.fail("destroy", h.id, err)
}

// Unlock releases the lock (RELEASE_LOCK, pg_advisory_unlock) and the
// connection. It is safe to call more than once.
func (h *sqlCILocked) Unlock(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.l == nil {
		return nil
	}
	l := h.l
	h.l = nil
	return h.s.fail("unlock", h.id, l.Release(ctx))
}

// sqlBase64Decode decodes as PHP's base64_decode($s) does in its default,
// non-strict mode (CodeIgniter reads base64_decode(rtrim($data))):
// characters outside the alphabet, '=' included, are skipped, and a last
// lone character is dropped.
func sqlBase64Decode(b []byte) []byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	clean := make([]byte, 0, len(b))
	for _, c := range b {
		if strings.IndexByte(alphabet, c) >= 0 {
			clean = append(clean, c)
		}
	}
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1]
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, _ := base64.RawStdEncoding.Decode(out, clean)
	return out[:n]
}
