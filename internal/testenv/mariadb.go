package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Credentials of the user and database provisioned in MariaDB and
// PostgreSQL.
const (
	dbUser     = "sess"
	dbPassword = "sesspass"
	dbName     = "sessions"
)

// MySQLServer is a running MariaDB server with a password user that may do
// anything (it has ALL PRIVILEGES ON *.*, so tests can create databases).
type MySQLServer struct {
	// Addr is "127.0.0.1:PORT".
	Addr string
	// User and Password log in over TCP (mysql_native_password): "sess",
	// "sesspass".
	User, Password string
	// DB is the database DSN and URL name: "sessions", or the one a test
	// put there, e.g. from NewDatabase.
	DB string
	// Socket is the unix socket path (the server's root user, without
	// password, can log in through it).
	Socket string
	// Server is the process, to Kill and Start it in fault-injection tests.
	// Do not stop the shared server (the one MariaDB returns).
	Server *Server
}

// DSN returns the go-sql-driver/mysql data source name of the database,
// user:pass@tcp(127.0.0.1:PORT)/DB?parseTime=true&timeout=10s.
func (s MySQLServer) DSN() string {
	return fmt.Sprintf("%s:%s@tcp(%s)/%s?parseTime=true&timeout=10s", s.User, s.Password, s.Addr, s.DB)
}

// URL returns the database as mysql://user:pass@127.0.0.1:PORT/DB.
func (s MySQLServer) URL() string {
	return fmt.Sprintf("mysql://%s:%s@%s/%s", s.User, s.Password, s.Addr, s.DB)
}

// NewDatabase creates an empty database (utf8mb4) with a unique name for
// this test, drops it at the end of the test and returns its name. To use
// it: s.DB = s.NewDatabase(t); db, err := sql.Open("mysql", s.DSN()).
func (s MySQLServer) NewDatabase(t testing.TB) string {
	t.Helper()
	admin := s
	admin.DB = ""
	return newDatabase(t, "mariadb", 64, func(q string) error { return mysqlExec(admin.DSN(), q) },
		"CREATE DATABASE `%s` CHARACTER SET utf8mb4", "DROP DATABASE IF EXISTS `%s`")
}

// newDatabase creates a database with a unique name for this test (at most
// max bytes) by running create (a format with one %s, the name) through
// exec, drops it with drop at the end of the test, and returns its name.
func newDatabase(t testing.TB, kind string, max int, exec func(query string) error, create, drop string) string {
	t.Helper()
	name := uniqueDBName(t, max)
	if err := exec(fmt.Sprintf(create, name)); err != nil {
		t.Fatalf("testenv: %s: create database %s: %v", kind, name, err)
	}
	t.Cleanup(func() {
		if err := exec(fmt.Sprintf(drop, name)); err != nil {
			t.Logf("testenv: %s: drop database %s: %v", kind, name, err)
		}
	})
	return name
}

// MariaDB returns the MariaDB server shared by the tests of this package,
// starting it on first use, with the user sess/sesspass and the database
// "sessions". Tests sharing it should use tables or databases of their own
// (see NewDatabase); use NewMariaDB to get a server of your own.
func MariaDB(t testing.TB) MySQLServer {
	t.Helper()
	skipShort(t, "mariadbd")
	return mysqlServer(shared(t, "mariadb", startMariaDB))
}

// NewMariaDB starts a MariaDB server for this test only and stops it at the
// end of the test.
func NewMariaDB(t testing.TB) MySQLServer {
	t.Helper()
	skipShort(t, "mariadbd")
	s, err := startMariaDB()
	return mysqlServer(dedicated(t, s, err))
}

func mysqlServer(s *Server) MySQLServer {
	return MySQLServer{
		Addr: s.Addr, User: dbUser, Password: dbPassword, DB: dbName,
		Socket: mariadbSocket(s), Server: s,
	}
}

func mariadbSocket(s *Server) string { return filepath.Join(s.Dir, "mysqld.sock") }

// mariadbOptions are passed to mariadb-install-db (which hands them to its
// bootstrap server) and mariadbd alike: a small InnoDB log (8 MiB instead of
// 100) keeps the data dir and its creation small; durability to the OS
// cache only (killed servers lose nothing, a crashed machine would).
var mariadbOptions = []string{
	"--innodb-log-file-size=8M",
	"--innodb-buffer-pool-size=64M",
	"--innodb-flush-log-at-trx-commit=2",
	"--innodb-doublewrite=0",
	"--character-set-server=utf8mb4",
	"--skip-name-resolve",
}

func startMariaDB() (*Server, error) { return startMariaDBFrom(true) }

// startMariaDBFrom starts a MariaDB server on a copy of the template data
// dir, or (template false) on a data dir initialised from scratch.
func startMariaDBFrom(template bool) (*Server, error) {
	const pkg = "mariadb-server"
	mariadbd, err := findBinary("mariadbd", pkg)
	if err != nil {
		return nil, err
	}
	installDB, err := findBinary("mariadb-install-db", pkg)
	if err != nil {
		return nil, err
	}
	// Run mariadb-install-db as root with --user=mysql (the tested recipe):
	// it creates the data dir and chowns it. "normal" root auth gives
	// root@localhost no password instead of Debian's unix_socket plugin.
	installArgs := []string{"--no-defaults"}
	if runsAsRoot("mysql") {
		installArgs = append(installArgs, "--user=root")
	} else if a, _ := serviceAccount("mysql"); a != nil {
		installArgs = append(installArgs, "--user=mysql")
	}
	installArgs = append(installArgs, "--auth-root-authentication-method=normal", "--skip-test-db")
	installArgs = append(installArgs, mariadbOptions...)
	k := kind{
		name: "mariadb",
		user: "mysql",
		prepare: func(s *Server) error {
			args := append([]string{installArgs[0], "--datadir=" + filepath.Join(s.Dir, "data")}, installArgs[1:]...)
			ctx, cancel := context.WithTimeout(context.Background(), 2*startTimeout)
			defer cancel()
			if err := runOnce(ctx, "", s.Dir, installDB, args...); err != nil {
				return fmt.Errorf("testenv: mariadb: %v", err)
			}
			return nil
		},
		config: func(s *Server) (serverConfig, error) {
			if sock := mariadbSocket(s); len(sock) >= 100 {
				return serverConfig{}, fmt.Errorf("testenv: mariadb: socket path %s too long (set TMPDIR to a shorter dir)", sock)
			}
			return serverConfig{
				bin: mariadbd,
				args: func(s *Server) []string {
					// --no-defaults must come first: /etc/mysql/* is ignored.
					// No --log-error: the log goes to stderr, i.e. LogFile.
					args := []string{
						"--no-defaults",
						"--datadir=" + filepath.Join(s.Dir, "data"),
						"--socket=" + mariadbSocket(s),
						"--pid-file=" + filepath.Join(s.Dir, "mysqld.pid"),
						"--port=" + fmt.Sprint(s.Port),
						"--bind-address=127.0.0.1",
					}
					if runsAsRoot("mysql") {
						args = append(args, "--user=root")
					}
					return append(args, mariadbOptions...)
				},
				// Run as mysql from the start (not --user=mysql as root, which
				// would setuid and so clear the parent-death signal).
				user:  "mysql",
				ready: mariadbReady,
			}, nil
		},
		url:       func(s *Server) string { return mysqlServer(s).URL() },
		provision: provisionMariaDB,
	}
	if template {
		version, err := binaryVersion(mariadbd)
		if err != nil {
			return nil, fmt.Errorf("testenv: mariadb: %v", err)
		}
		key := templateKey(version, accountKey("mysql"), strings.Join(installArgs, " "), dbUser, dbPassword, dbName)
		k = withTemplate(k, key, func() (*Server, error) { return startMariaDBFrom(false) })
	}
	return newServer(k)
}

// mariadbReady reads the server's greeting: a packet of protocol 10.
func mariadbReady(ctx context.Context, s *Server) error {
	b, err := dialProbe(ctx, s.Addr, nil, 5)
	if err != nil {
		return err
	}
	if len(b) < 5 || b[4] != 10 {
		return fmt.Errorf("unexpected greeting % x", b)
	}
	return nil
}

func provisionMariaDB(s *Server) error {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "unix"
	cfg.Addr = mariadbSocket(s)
	cfg.Timeout = 10 * time.Second
	stmts := []string{
		"CREATE DATABASE IF NOT EXISTS `" + dbName + "` CHARACTER SET utf8mb4",
		"CREATE USER IF NOT EXISTS '" + dbUser + "'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('" + dbPassword + "')",
		"GRANT ALL PRIVILEGES ON *.* TO '" + dbUser + "'@'%' WITH GRANT OPTION",
	}
	if err := mysqlExec(cfg.FormatDSN(), stmts...); err != nil {
		return fmt.Errorf("testenv: mariadb: provisioning: %v", err)
	}
	return nil
}

// mysqlExec runs statements on a connection of its own.
func mysqlExec(dsn string, stmts ...string) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// uniqueDBName makes a database name from the test name and a random
// suffix: lower case, [a-z0-9_], at most max bytes.
func uniqueDBName(t testing.TB, max int) string {
	var b strings.Builder
	b.WriteString("t_")
	under := true
	for _, r := range strings.ToLower(t.Name()) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			under = false
		} else if !under {
			b.WriteByte('_')
			under = true
		}
	}
	base := strings.TrimRight(b.String(), "_")
	if len(base) > max-10 {
		base = base[:max-10]
	}
	rnd := make([]byte, 4)
	rand.Read(rnd)
	return base + "_" + hex.EncodeToString(rnd)
}
