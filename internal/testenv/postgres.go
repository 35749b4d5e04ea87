package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PGServer is a running PostgreSQL server with a password user (sess,
// CREATEDB) that owns the database "sessions".
type PGServer struct {
	// Addr is "127.0.0.1:PORT".
	Addr string
	// User and Password log in over TCP (scram-sha-256): "sess", "sesspass".
	User, Password string
	// DB is the database DSN and URL name: "sessions", or the one a test
	// put there, e.g. from NewDatabase.
	DB string
	// Socket is the dir of the server's unix socket; the superuser
	// "postgres" may log in through it without a password.
	Socket string
	// Server is the process, to Kill and Start it in fault-injection tests.
	// Do not stop the shared server (the one Postgres returns).
	Server *Server
}

// DSN returns the pgx connection string of the database:
// postgres://user:pass@127.0.0.1:PORT/DB?sslmode=disable.
func (s PGServer) DSN() string { return s.URL() + "?sslmode=disable" }

// URL returns the database as postgres://user:pass@127.0.0.1:PORT/DB (the
// server has no TLS; clients that insist on it need DSN's sslmode=disable).
func (s PGServer) URL() string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s", s.User, s.Password, s.Addr, s.DB)
}

// NewDatabase creates an empty database owned by User with a unique name for
// this test, drops it at the end of the test (closing connections left
// open) and returns its name. To use it: s.DB = s.NewDatabase(t); then
// s.DSN().
func (s PGServer) NewDatabase(t testing.TB) string {
	t.Helper()
	admin := s
	admin.DB = "postgres"
	return newDatabase(t, "postgres", 63, func(q string) error { return pgExec(admin.DSN(), q) },
		`CREATE DATABASE "%s"`, `DROP DATABASE IF EXISTS "%s" WITH (FORCE)`)
}

// Postgres returns the PostgreSQL server shared by the tests of this
// package, starting it on first use, with the user sess/sesspass and the
// database "sessions". Tests sharing it should use tables or databases of
// their own (see NewDatabase); use NewPostgres to get a server of your own.
func Postgres(t testing.TB) PGServer {
	t.Helper()
	skipShort(t, "postgres")
	return pgServer(shared(t, "postgres", startPostgres))
}

// NewPostgres starts a PostgreSQL server for this test only and stops it at
// the end of the test.
func NewPostgres(t testing.TB) PGServer {
	t.Helper()
	skipShort(t, "postgres")
	s, err := startPostgres()
	return pgServer(dedicated(t, s, err))
}

func pgServer(s *Server) PGServer {
	return PGServer{
		Addr: s.Addr, User: dbUser, Password: dbPassword, DB: dbName,
		Socket: s.Dir, Server: s,
	}
}

// pgBinDir returns the newest /usr/lib/postgresql/VERSION/bin that has
// initdb and postgres (Debian does not put them in PATH).
func pgBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", missing("postgres (/usr/lib/postgresql/*/bin/postgres)", "postgresql")
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

func startPostgres() (*Server, error) { return startPostgresFrom(true) }

// startPostgresFrom starts a PostgreSQL server on a copy of the template
// data dir, or (template false) on a cluster initialised from scratch.
func startPostgresFrom(template bool) (*Server, error) {
	bin, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	if runsAsRoot("postgres") {
		return nil, fmt.Errorf("postgres refuses to run as root and there is no 'postgres' account: run scripts/install-deps.sh (or: apt-get install postgresql)")
	}
	initdbArgs := []string{"-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
		"-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions",
		"--wal-segsize=1"} // 1 MiB WAL segments: a smaller data dir to copy
	k := kind{
		name: "postgres",
		user: "postgres",
		prepare: func(s *Server) error {
			pw := filepath.Join(s.Dir, "pwfile")
			if err := os.WriteFile(pw, []byte(dbPassword+"\n"), 0o600); err != nil {
				return fmt.Errorf("testenv: postgres: %w", err)
			}
			defer os.Remove(pw)
			if err := chownToUser(pw, "postgres"); err != nil {
				return fmt.Errorf("testenv: postgres: %w", err)
			}
			// Unix socket: trust (for provisioning); TCP: passwords.
			ctx, cancel := context.WithTimeout(context.Background(), 2*startTimeout)
			defer cancel()
			args := append([]string{"-D", filepath.Join(s.Dir, "data"), "--pwfile=" + pw}, initdbArgs...)
			err := runOnce(ctx, "postgres", s.Dir, filepath.Join(bin, "initdb"), args...)
			if err != nil {
				return fmt.Errorf("testenv: postgres: %v", err)
			}
			return nil
		},
		config: func(s *Server) (serverConfig, error) {
			return serverConfig{
				bin: filepath.Join(bin, "postgres"),
				args: func(s *Server) []string {
					// Own socket dir (Debian's /run/postgresql may not exist).
					// fsync off: commits reach the OS cache only, so a killed
					// server loses nothing committed (a crashed machine
					// would). synchronous_commit stays on: off would lose the
					// last commits on a kill, which fault-injection tests
					// must not see.
					return []string{
						"-D", filepath.Join(s.Dir, "data"),
						"-c", "listen_addresses=127.0.0.1",
						"-c", "port=" + strconv.Itoa(s.Port),
						"-c", "unix_socket_directories=" + s.Dir,
						"-c", "fsync=off",
						"-c", "full_page_writes=off",
						"-c", "logging_collector=off",
					}
				},
				user:       "postgres",
				stopSignal: syscall.SIGINT, // fast shutdown (SIGTERM waits for clients)
				ready: func(ctx context.Context, s *Server) error {
					c, err := pgx.Connect(ctx, pgSocketConn(s))
					if err != nil {
						return err
					}
					return c.Close(ctx)
				},
			}, nil
		},
		url: func(s *Server) string { return pgServer(s).URL() },
		provision: func(s *Server) error {
			err := pgExec(pgSocketConn(s),
				`CREATE ROLE "`+dbUser+`" LOGIN CREATEDB PASSWORD '`+dbPassword+`'`,
				`CREATE DATABASE "`+dbName+`" OWNER "`+dbUser+`"`)
			if err != nil {
				return fmt.Errorf("testenv: postgres: provisioning: %v", err)
			}
			return nil
		},
	}
	if template {
		version, err := binaryVersion(filepath.Join(bin, "postgres"))
		if err != nil {
			return nil, fmt.Errorf("testenv: postgres: %v", err)
		}
		key := templateKey(version, accountKey("postgres"), strings.Join(initdbArgs, " "), dbUser, dbPassword, dbName)
		k = withTemplate(k, key, func() (*Server, error) { return startPostgresFrom(false) })
	}
	return newServer(k)
}

// pgSocketConn is the superuser's connection string over the unix socket.
func pgSocketConn(s *Server) string {
	return fmt.Sprintf("host='%s' port=%d user=postgres dbname=postgres sslmode=disable connect_timeout=5",
		strings.ReplaceAll(s.Dir, `'`, `\'`), s.Port)
}

// pgExec runs statements on a connection of its own.
func pgExec(conn string, stmts ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, conn)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	for _, q := range stmts {
		if _, err := c.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}
