package testenv

import (
	"bytes"
	"context"
	"fmt"
	"syscall"
	"testing"
)

// Redis returns the address ("127.0.0.1:PORT") of the redis-server shared by
// the tests of this package, starting it on first use. It runs without
// persistence (no RDB snapshots, no AOF) and with DEBUG enabled for local
// clients. Tests sharing it should use keys of their own (or SELECT a
// database of their own); use NewRedis to get an instance of your own.
func Redis(t testing.TB) string {
	t.Helper()
	skipShort(t, "redis-server")
	return shared(t, "redis", startRedis).Addr
}

// NewRedis starts a redis-server for this test only and stops it at the end
// of the test. Its URL is redis://127.0.0.1:PORT.
func NewRedis(t testing.TB) *Server {
	t.Helper()
	skipShort(t, "redis-server")
	s, err := startRedis()
	return dedicated(t, s, err)
}

func startRedis() (*Server, error) {
	bin, err := findBinary("redis-server", "redis-server")
	if err != nil {
		return nil, err
	}
	return newServer(kind{
		name: "redis",
		user: "redis",
		config: func(s *Server) (serverConfig, error) {
			return serverConfig{
				bin: bin,
				args: func(s *Server) []string {
					return []string{
						"--bind", "127.0.0.1", "--port", fmt.Sprint(s.Port),
						"--save", "", "--appendonly", "no",
						"--daemonize", "no", "--supervised", "no",
						"--dir", s.Dir, "--logfile", "",
						"--enable-debug-command", "local",
					}
				},
				user:  "redis",
				ready: redisReady,
			}, nil
		},
		url: func(s *Server) string { return "redis://" + s.Addr },
	})
}

func redisReady(ctx context.Context, s *Server) error {
	b, err := dialProbe(ctx, s.Addr, []byte("PING\r\n"), 64)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(b, []byte("+PONG")) {
		return fmt.Errorf("PING answered %q", b)
	}
	return nil
}

// Memcached returns the address ("127.0.0.1:PORT") of the memcached shared
// by the tests of this package, starting it on first use (-m 64, no UDP).
// Tests sharing it should use keys of their own; use NewMemcached to get an
// instance of your own.
func Memcached(t testing.TB) string {
	t.Helper()
	skipShort(t, "memcached")
	return shared(t, "memcached", startMemcached).Addr
}

// NewMemcached starts a memcached for this test only and stops it at the
// end of the test.
func NewMemcached(t testing.TB) *Server {
	t.Helper()
	skipShort(t, "memcached")
	s, err := startMemcached()
	return dedicated(t, s, err)
}

func startMemcached() (*Server, error) {
	bin, err := findBinary("memcached", "memcached")
	if err != nil {
		return nil, err
	}
	return newServer(kind{
		name: "memcached",
		user: "memcache",
		config: func(s *Server) (serverConfig, error) {
			return serverConfig{
				bin: bin,
				args: func(s *Server) []string {
					args := []string{"-l", "127.0.0.1", "-p", fmt.Sprint(s.Port), "-U", "0", "-m", "64"}
					if runsAsRoot("memcache") {
						args = append(args, "-u", "root") // as root it insists on a -u
					}
					return args
				},
				user: "memcache",
				// memcached keeps nothing, and its graceful shutdown takes
				// about a second: Stop kills it at once.
				stopSignal: syscall.SIGKILL,
				ready:      memcachedReady,
			}, nil
		},
	})
}

func memcachedReady(ctx context.Context, s *Server) error {
	b, err := dialProbe(ctx, s.Addr, []byte("version\r\n"), 64)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(b, []byte("VERSION ")) {
		return fmt.Errorf("version answered %q", b)
	}
	return nil
}
