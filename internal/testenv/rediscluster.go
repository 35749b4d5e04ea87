package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Redis Cluster and Redis Sentinel set-ups for one test: throw-away
// redis-server processes on free ports of 127.0.0.1, stopped and deleted at
// the end of the test, like NewRedis.

// clusterTimeout bounds the wait for a cluster or sentinel set-up to settle.
const clusterTimeout = 30 * time.Second

// RedisCluster starts a Redis Cluster of three masters without replicas
// (cluster-enabled yes, the nodes.conf in each server's dir), assigns the
// slots with redis-cli --cluster create, and waits until every node says
// cluster_state:ok. It returns the nodes' addresses ("127.0.0.1:PORT").
func RedisCluster(t testing.TB) []string {
	t.Helper()
	var addrs []string
	for _, s := range NewRedisCluster(t) {
		addrs = append(addrs, s.Addr)
	}
	return addrs
}

// NewRedisCluster is RedisCluster returning the nodes' servers, for
// fault-injection tests: a node killed and started again keeps its port,
// cluster bus port and nodes.conf, so it rejoins the cluster with its
// slots (and without its keys: there is no persistence). With no
// replicas, a master's slots are down while it is; once it has been down
// longer than the node timeout (2 s), the other nodes mark it failed and
// the whole cluster refuses queries until it is back.
func NewRedisCluster(t testing.TB) []*Server {
	t.Helper()
	skipShort(t, "redis-server")
	cli := redisCLIPath(t)
	var nodes []*Server
	var addrs []string
	for range 3 {
		bus := 0 // picked once: the other nodes keep it in their nodes.conf
		s, err := startRedisNode("redis-cluster", nil, func(s *Server) []string {
			// the cluster bus port is normally PORT+10000, which may be
			// taken (or above 65535): pick one of its own
			if bus == 0 {
				var err error
				if bus, err = freePort(); err != nil {
					bus = s.Port + 10000
				}
			}
			return []string{
				"--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(s.Dir, "nodes.conf"),
				"--cluster-port", fmt.Sprint(bus),
				"--cluster-node-timeout", "2000",
			}
		})
		nodes = append(nodes, dedicated(t, s, err))
		addrs = append(addrs, s.Addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, addrs...)
	if _, err := redisCLI(ctx, cli, "", append(args, "--cluster-replicas", "0", "--cluster-yes")...); err != nil {
		t.Fatalf("testenv: redis cluster create: %v", err)
	}
	if err := clusterSettled(ctx, cli, addrs); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return nodes
}

// clusterSettled waits until every node of addrs says cluster_state:ok,
// knows them all and sees every slot served.
func clusterSettled(ctx context.Context, cli string, addrs []string) error {
	for _, a := range addrs {
		err := poll(ctx, func() error {
			out, err := redisCLI(ctx, cli, a, "cluster", "info")
			if err != nil {
				return err
			}
			f := redisFields(out, ":")
			if f["cluster_state"] != "ok" || f["cluster_known_nodes"] != fmt.Sprint(len(addrs)) || f["cluster_slots_ok"] != "16384" {
				return fmt.Errorf("cluster info: state %s, %s nodes, %s slots ok", f["cluster_state"], f["cluster_known_nodes"], f["cluster_slots_ok"])
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("redis cluster node %s did not settle: %v", a, err)
		}
	}
	return nil
}

// SentinelSetup is a Redis master, its replica and three sentinels
// watching it under one name (quorum 2, down-after-milliseconds 1000), as
// RedisSentinel starts them. Which server is the master changes with a
// failover; Master and Replica are the initial roles.
type SentinelSetup struct {
	// Name is the master name the sentinels monitor.
	Name string
	// Master and Replica are the data servers, in their initial roles.
	Master, Replica *Server
	// Sentinels are the three sentinel processes.
	Sentinels []*Server

	cli string
}

// RedisSentinel starts a master, a replica of it and three sentinels, and
// waits until the replica is in sync and every sentinel knows the replica
// and the two other sentinels (so that a failover can be agreed on). It
// returns the sentinels' addresses, the master name and the set-up.
func RedisSentinel(t testing.TB) (sentinels []string, master string, setup *SentinelSetup) {
	t.Helper()
	skipShort(t, "redis-server")
	ss := &SentinelSetup{Name: "phpsess", cli: redisCLIPath(t)}
	m, err := startRedisNode("redis", nil, nil)
	ss.Master = dedicated(t, m, err)
	r, err := startRedisNode("redis", nil, func(*Server) []string {
		host, port, _ := net.SplitHostPort(ss.Master.Addr)
		return []string{"--replicaof", host, port}
	})
	ss.Replica = dedicated(t, r, err)
	for range 3 {
		s, err := startSentinel(ss.Name, ss.Master.Addr)
		ss.Sentinels = append(ss.Sentinels, dedicated(t, s, err))
		sentinels = append(sentinels, ss.Sentinels[len(ss.Sentinels)-1].Addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	err = poll(ctx, func() error {
		out, err := redisCLI(ctx, ss.cli, ss.Replica.Addr, "info", "replication")
		if err != nil {
			return err
		}
		if f := redisFields(out, ":"); f["master_link_status"] != "up" {
			return fmt.Errorf("replica: master_link_status %q", f["master_link_status"])
		}
		for _, s := range ss.Sentinels {
			out, err := redisCLI(ctx, ss.cli, s.Addr, "sentinel", "master", ss.Name)
			if err != nil {
				return err
			}
			f := redisPairs(out)
			if f["num-other-sentinels"] != "2" || f["num-slaves"] != "1" {
				return fmt.Errorf("sentinel %s knows %s other sentinels and %s replicas", s.Addr, f["num-other-sentinels"], f["num-slaves"])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("testenv: redis sentinel set-up did not settle: %v", err)
	}
	return sentinels, ss.Name, ss
}

// MasterAddr returns the master's address as the first sentinel that
// answers reports it.
func (ss *SentinelSetup) MasterAddr(ctx context.Context) (string, error) {
	var last error
	for _, s := range ss.Sentinels {
		if !s.Running() {
			continue
		}
		out, err := redisCLI(ctx, ss.cli, s.Addr, "sentinel", "get-master-addr-by-name", ss.Name)
		if err != nil {
			last = err
			continue
		}
		f := strings.Fields(out)
		if len(f) != 2 {
			last = fmt.Errorf("get-master-addr-by-name answered %q", out)
			continue
		}
		return net.JoinHostPort(f[0], f[1]), nil
	}
	if last == nil {
		last = errors.New("no sentinel is running")
	}
	return "", last
}

// Failover has a sentinel fail the master over to the replica (SENTINEL
// FAILOVER) and waits until the sentinels name the new master and it
// answers as one.
func (ss *SentinelSetup) Failover() error {
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	old, err := ss.MasterAddr(ctx)
	if err != nil {
		return err
	}
	if out, err := redisCLI(ctx, ss.cli, ss.Sentinels[0].Addr, "sentinel", "failover", ss.Name); err != nil || strings.TrimSpace(out) != "OK" {
		return fmt.Errorf("testenv: sentinel failover: %q %v", out, err)
	}
	return ss.waitNewMaster(ctx, old)
}

// KillMaster kills the current master (SIGKILL, as a crash) and waits
// until the sentinels have noticed (down-after-milliseconds), agreed and
// promoted the replica. The killed server stays down.
func (ss *SentinelSetup) KillMaster() error {
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	old, err := ss.MasterAddr(ctx)
	if err != nil {
		return err
	}
	for _, s := range []*Server{ss.Master, ss.Replica} {
		if s.Addr == old {
			if err := s.Kill(); err != nil {
				return err
			}
		}
	}
	return ss.waitNewMaster(ctx, old)
}

// waitNewMaster waits until the sentinels name a master other than old
// and that server reports role:master.
func (ss *SentinelSetup) waitNewMaster(ctx context.Context, old string) error {
	err := poll(ctx, func() error {
		addr, err := ss.MasterAddr(ctx)
		if err != nil {
			return err
		}
		if addr == old {
			return fmt.Errorf("the sentinels still name %s", old)
		}
		out, err := redisCLI(ctx, ss.cli, addr, "info", "replication")
		if err != nil {
			return err
		}
		if role := redisFields(out, ":")["role"]; role != "master" {
			return fmt.Errorf("new master %s says role:%s", addr, role)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("testenv: no failover from %s: %v", old, err)
	}
	return nil
}

// startSentinel starts a redis-server in sentinel mode watching master
// under name. Its config file (which sentinel rewrites) is in its dir.
func startSentinel(name, master string) (*Server, error) {
	bin, err := findBinary("redis-server", "redis-server")
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(master)
	return newServer(kind{
		name: "redis-sentinel",
		user: "redis",
		prepare: func(s *Server) error {
			conf := filepath.Join(s.Dir, "sentinel.conf")
			text := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s 2\n"+
				"sentinel down-after-milliseconds %[1]s 1000\n"+
				"sentinel failover-timeout %[1]s 5000\n"+
				"sentinel parallel-syncs %[1]s 1\n", name, host, port)
			if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
				return err
			}
			return chownToUser(conf, "redis")
		},
		config: func(s *Server) (serverConfig, error) {
			return serverConfig{
				bin: bin,
				args: func(s *Server) []string {
					return []string{
						filepath.Join(s.Dir, "sentinel.conf"), "--sentinel",
						"--bind", "127.0.0.1", "--port", fmt.Sprint(s.Port),
						"--dir", s.Dir, "--logfile", "", "--daemonize", "no",
					}
				},
				user:  "redis",
				ready: redisPing(nil),
			}, nil
		},
	})
}

// redisCLIPath returns the path of redis-cli, or fails t.
func redisCLIPath(t testing.TB) string {
	t.Helper()
	p, err := findBinary("redis-cli", "redis-tools")
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}

// redisCLI runs redis-cli against addr (none: the arguments name the
// servers) and returns its output; an error reply is an error.
func redisCLI(ctx context.Context, cli, addr string, args ...string) (string, error) {
	if addr != "" {
		host, port, _ := net.SplitHostPort(addr)
		args = append([]string{"-h", host, "-p", port}, args...)
	}
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Env = baseEnv(os.TempDir())
	out, err := cmd.CombinedOutput()
	s := string(out)
	if err == nil && (strings.HasPrefix(s, "ERR") || strings.HasPrefix(s, "(error)")) {
		err = errors.New("error reply")
	}
	if err != nil {
		return s, fmt.Errorf("redis-cli %s: %v: %s", strings.Join(args, " "), err, lastLines(s, 5))
	}
	return s, nil
}

// redisFields parses "key<sep>value" lines (INFO, CLUSTER INFO).
func redisFields(out, sep string) map[string]string {
	f := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), sep); ok {
			f[k] = v
		}
	}
	return f
}

// redisPairs parses redis-cli's output of a flat array of alternating
// names and values (SENTINEL MASTER), one element a line.
func redisPairs(out string) map[string]string {
	f := map[string]string{}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		f[strings.TrimSpace(lines[i])] = strings.TrimSpace(lines[i+1])
	}
	return f
}

// poll calls f every 50 ms until it succeeds or ctx ends (then it returns
// f's last error).
func poll(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}
