package testenv

import (
	"bytes"
	"context"
	"crypto/tls"
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
	return startRedisNode("redis", nil, func(*Server) []string {
		return []string{"--enable-debug-command", "local"}
	})
}

// startRedisNode starts a redis-server without persistence (no RDB
// snapshots, no AOF), with extra arguments; with tc, on a TLS port only
// (the plain port is 0), with the certificates of tc copied into its dir.
func startRedisNode(name string, tc *redisTLS, extra func(s *Server) []string) (*Server, error) {
	bin, err := findBinary("redis-server", "redis-server")
	if err != nil {
		return nil, err
	}
	var certs *TLSCerts // the copies in the server's dir
	k := kind{
		name: name,
		user: "redis",
		config: func(s *Server) (serverConfig, error) {
			return serverConfig{
				bin: bin,
				args: func(s *Server) []string {
					port := fmt.Sprint(s.Port)
					plain := port
					if certs != nil {
						plain = "0" // no plain port
					}
					args := []string{
						"--bind", "127.0.0.1", "--port", plain,
						"--save", "", "--appendonly", "no",
						"--daemonize", "no", "--supervised", "no",
						"--dir", s.Dir, "--logfile", "",
					}
					if certs != nil {
						args = append(args, "--tls-port", port,
							"--tls-cert-file", certs.CertFile, "--tls-key-file", certs.KeyFile,
							"--tls-ca-cert-file", certs.CAFile, "--tls-auth-clients", "no")
					}
					if extra != nil {
						args = append(args, extra(s)...)
					}
					return args
				},
				user:  "redis",
				ready: redisPing(tc.clientConfig()),
			}, nil
		},
		url: func(s *Server) string { return "redis://" + s.Addr },
	}
	if tc != nil {
		k.prepare = func(s *Server) (err error) {
			certs, err = tc.certs.copyTo(s.Dir, "redis")
			return err
		}
		k.url = func(s *Server) string { return "rediss://" + s.Addr }
	}
	return newServer(k)
}

// redisPing returns a readiness check that sends PING (over TLS with
// conf) and wants PONG.
func redisPing(conf *tls.Config) func(ctx context.Context, s *Server) error {
	return func(ctx context.Context, s *Server) error {
		b, err := dialProbeTLS(ctx, s.Addr, conf, []byte("PING\r\n"), 64)
		if err != nil {
			return err
		}
		if !bytes.HasPrefix(b, []byte("+PONG")) {
			return fmt.Errorf("PING answered %q", b)
		}
		return nil
	}
}

// NewRedisTLS starts a redis-server for this test only that speaks TLS
// only (no plain port), with the server certificate of certs, and stops it
// at the end of the test. Its URL is rediss://127.0.0.1:PORT; clients
// verify it with certs.CAFile. Several servers may share one TLSCerts (one
// CA for them all). Like NewRedis it runs without persistence: it comes
// back empty after Kill and Start.
func NewRedisTLS(t testing.TB, certs *TLSCerts) *Server {
	t.Helper()
	skipShort(t, "redis-server")
	conf, err := certs.tlsConfig()
	if err != nil {
		t.Fatalf("%v", err)
	}
	s, err := startRedisNode("redis-tls", &redisTLS{certs: certs, client: conf}, nil)
	return dedicated(t, s, err)
}

// redisTLS is how a TLS-only redis-server is run and probed.
type redisTLS struct {
	certs  *TLSCerts   // the caller's files, copied into the server's dir
	client *tls.Config // the readiness probe's
}

// clientConfig is the probe's TLS configuration; nil for plain TCP.
func (tc *redisTLS) clientConfig() *tls.Config {
	if tc == nil {
		return nil
	}
	return tc.client
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
