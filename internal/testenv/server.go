package testenv

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is one server process started by this package: a throw-away
// instance on 127.0.0.1 with its own dir. Addr, Port and Dir stay the same
// for the life of the Server, across Stop/Kill and Start, so a test can take
// a server down in the middle of traffic and bring it back where clients
// expect it.
//
// The methods are safe for concurrent use. Do not stop the shared servers
// (those behind Redis, MariaDB, ...): other tests of the package use them.
type Server struct {
	// Name is the kind of server: "redis", "redis-tls", "redis-cluster",
	// "redis-sentinel", "memcached", "mariadb", "postgres", "ferretdb" or
	// "php".
	Name string
	// Addr is "127.0.0.1:PORT".
	Addr string
	// Port is the TCP port of Addr.
	Port int
	// URL is how a client names the server: redis://127.0.0.1:PORT,
	// rediss://127.0.0.1:PORT (TLS only), mongodb://127.0.0.1:PORT/, mysql://..., postgres://...,
	// http://127.0.0.1:PORT; for memcached it equals Addr.
	URL string
	// Dir is the server's dir (data, sockets, log), deleted when the server
	// is destroyed.
	Dir string
	// LogFile collects the server's stdout and stderr, across restarts.
	LogFile string
	// StartupTime is how long the first start took, from the first launch
	// to readiness (data dir initialisation included).
	StartupTime time.Duration

	cfg serverConfig

	mu        sync.Mutex
	proc      *process // nil when not started (or stopped)
	starts    int
	destroyed bool
}

// serverConfig tells how to run one kind of server.
type serverConfig struct {
	bin  string
	args func(s *Server) []string
	// user is the account to run as when we are root ("" = ourselves).
	user string
	// cwd is the working dir; Dir when empty.
	cwd string
	// env is the environment; a minimal one (see baseEnv) when nil.
	env []string
	// stopSignal asks for a clean, quick shutdown; SIGTERM when zero.
	stopSignal syscall.Signal
	// ready reports whether the server answers. Called repeatedly.
	ready func(ctx context.Context, s *Server) error
}

// process is one run of a server.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd.Wait returned
	err  error         // cmd.Wait's result, valid after done
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Start starts the server again after Stop or Kill, on the same port and
// with the same data, and waits until it is ready (30 s at most). A Redis
// server runs without persistence, so it comes back empty; MariaDB and
// PostgreSQL recover their data (after Kill, by crash recovery).
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return fmt.Errorf("testenv: %s on %s was destroyed", s.Name, s.Addr)
	}
	if s.proc != nil && !s.proc.exited() {
		return fmt.Errorf("testenv: %s on %s is already running (pid %d)", s.Name, s.Addr, s.proc.cmd.Process.Pid)
	}
	return s.startLocked()
}

// Stop stops the server cleanly (SIGTERM; SIGINT, a fast shutdown, for
// PostgreSQL; SIGKILL for memcached, which keeps nothing and takes a second
// to shut down) and waits for it to exit; after 10 s it kills it. The data
// dir is kept for a later Start. Stopping a stopped server does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked(s.cfg.stopSignal, 10*time.Second)
}

// Kill kills the server and all its processes (PostgreSQL's backends
// included) with SIGKILL, as a crash would, and waits until they are gone. The data dir is kept for a later
// Start. Killing a stopped server does nothing.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked(syscall.SIGKILL, 0)
}

// Restart is Stop followed by Start.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.stopLocked(s.cfg.stopSignal, 10*time.Second); err != nil {
		return err
	}
	if s.destroyed {
		return fmt.Errorf("testenv: %s on %s was destroyed", s.Name, s.Addr)
	}
	return s.startLocked()
}

// Pause freezes all the server's processes (SIGSTOP): connections stay
// open, new ones are still accepted by the kernel, but nothing is answered,
// as with a hung server or a network partition.
func (s *Server) Pause() error { return s.signalGroup(syscall.SIGSTOP) }

// Resume lets a paused server go on (SIGCONT).
func (s *Server) Resume() error { return s.signalGroup(syscall.SIGCONT) }

// Running reports whether the server process is alive (it may be paused).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil && !s.proc.exited()
}

// Pid returns the process id of the running server, 0 when it is not
// running.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || s.proc.exited() {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// LogTail returns the last n lines of the server's log.
func (s *Server) LogTail(n int) string {
	return tailFile(s.LogFile, n)
}

func (s *Server) signalGroup(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || s.proc.exited() {
		return fmt.Errorf("testenv: %s on %s is not running", s.Name, s.Addr)
	}
	pid := s.proc.cmd.Process.Pid
	if sig == syscall.SIGSTOP {
		syscall.Kill(-pid, sig) // first, so that the leader forks no more
	}
	for _, p := range processTree(pid) {
		syscall.Kill(p, sig)
	}
	if err := syscall.Kill(-pid, sig); err != nil {
		return fmt.Errorf("testenv: %s: kill %v: %w", s.Name, sig, err)
	}
	if sig == syscall.SIGSTOP {
		// kill returns before the signal is taken: a thread running on the
		// other core may still answer a request. Wait until every thread
		// of the tree is stopped.
		waitStopped(processTree(pid), 2*time.Second)
	}
	return nil
}

// waitStopped waits, up to limit, until every thread of pids is stopped
// (state T or t in /proc/PID/task/TID/stat), or gone.
func waitStopped(pids []int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for _, p := range pids {
		tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(p) + "/task/*")
		for _, task := range tasks {
			tid, err := strconv.Atoi(filepath.Base(task))
			if err != nil {
				continue
			}
			for time.Now().Before(deadline) {
				st, ok := taskState(p, tid)
				if !ok || st == 'T' || st == 't' || st == 'Z' {
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
}

// taskState returns the state letter of thread tid of process pid.
func taskState(pid, tid int) (byte, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(tid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, false
	}
	return b[i+2], true
}

// killTree kills the process group led by pid and every descendant of pid
// (PostgreSQL's backends make themselves leaders of groups of their own), as
// a crash of the whole server would, and waits until they are gone.
func killTree(pid int) {
	syscall.Kill(-pid, syscall.SIGSTOP) // no more forks while we look
	tree := processTree(pid)
	for _, p := range tree {
		syscall.Kill(p, syscall.SIGKILL)
	}
	syscall.Kill(-pid, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range tree {
		for p != pid && procAlive(p) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// errPortTaken: another process listens on the port a server was to use.
var errPortTaken = errors.New("port taken by another process")

// portListeners looks for TCP sockets listening on port of 127.0.0.1 (or of
// every address) and reports whether one belongs to the process tree of
// root and whether one belongs to another process. Both are false when
// nothing listens, or when /proc cannot tell.
func portListeners(root, port int) (ours, foreign bool) {
	inodes := map[string]bool{}
	p := fmt.Sprintf(":%04X", port)
	loopback := []string{
		"0100007F" + p, "00000000" + p, // tcp: 127.0.0.1, 0.0.0.0
		"00000000000000000000000000000000" + p, // tcp6: ::
		"00000000000000000000000001000000" + p, // ::1
		"0000000000000000FFFF00000100007F" + p, // ::ffff:127.0.0.1
	}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(line)
			if len(fields) < 10 || fields[3] != "0A" { // 0A: LISTEN
				continue
			}
			for _, l := range loopback {
				if fields[1] == l {
					inodes[fields[9]] = true
				}
			}
		}
	}
	if len(inodes) == 0 {
		return false, false
	}
	found := map[string]bool{}
	for _, pid := range processTree(root) {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if err != nil {
				continue
			}
			if ino, ok := strings.CutPrefix(target, "socket:["); ok {
				if ino = strings.TrimSuffix(ino, "]"); inodes[ino] {
					found[ino] = true
				}
			}
		}
	}
	return len(found) > 0, len(found) < len(inodes)
}

// processTree returns root and all its descendants, from /proc.
func processTree(root int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return []int{root}
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, ok := procStat(pid); ok {
			children[ppid] = append(children[ppid], pid)
		}
	}
	tree := []int{root}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, children[tree[i]]...)
	}
	return tree
}

// procStat returns the state and parent pid of a process.
func procStat(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// "pid (comm) S ppid ...": comm may contain spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return f[0][0], ppid, err == nil
}

// ProcessCPU is the CPU time (user and system) process pid has used, read
// from /proc; 0 if it cannot be read. Benchmarks use it to show where the
// CPU went between a client and the servers.
func ProcessCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// SelfCPU is the CPU time (user and system) this process has used.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procAlive reports whether pid exists and is not a zombie (killed
// processes re-parented to a lazy init stay zombies for a while).
func procAlive(pid int) bool {
	state, _, ok := procStat(pid)
	return ok && state != 'Z'
}

func (s *Server) startLocked() error {
	s.starts++
	logf, err := os.OpenFile(s.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("testenv: %s: %w", s.Name, err)
	}
	fmt.Fprintf(logf, "==== testenv: start #%d of %s on %s at %s ====\n",
		s.starts, s.Name, s.Addr, time.Now().Format(time.RFC3339Nano))
	args := s.cfg.args(s)
	cmd := exec.Command(s.cfg.bin, args...)
	cmd.Dir = s.cfg.cwd
	if cmd.Dir == "" {
		cmd.Dir = s.Dir
	}
	cmd.Env = s.cfg.env
	if cmd.Env == nil {
		cmd.Env = baseEnv(s.Dir)
	}
	// An *os.File is passed to the child as is: no copying goroutine, and
	// the server gets fds 0-2 only (os/exec closes everything else).
	cmd.Stdout, cmd.Stderr = logf, logf
	attr, err := procAttr(s.cfg.user)
	if err != nil {
		logf.Close()
		return fmt.Errorf("testenv: %s: %w", s.Name, err)
	}
	cmd.SysProcAttr = attr
	err = startCmd(cmd)
	logf.Close()
	if err != nil {
		return fmt.Errorf("testenv: %s: starting %s: %w", s.Name, s.cfg.bin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.proc = p

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := s.waitReady(ctx, p); err != nil {
		s.stopLocked(syscall.SIGKILL, 0)
		if errors.Is(err, errPortTaken) {
			return fmt.Errorf("testenv: %s: %w", s.Addr, err)
		}
		return fmt.Errorf("testenv: %s (%s %s) did not start: %v\n--- last lines of %s ---\n%s",
			s.Name, s.cfg.bin, strings.Join(args, " "), err, s.LogFile, s.LogTail(25))
	}
	return nil
}

func (s *Server) waitReady(ctx context.Context, p *process) error {
	var last error
	for {
		if p.exited() {
			return fmt.Errorf("it exited during start-up (%v)", p.err)
		}
		// Someone else listening on the port means our bind failed (or
		// will): do not mistake their answers for ours.
		if ours, foreign := portListeners(p.cmd.Process.Pid, s.Port); foreign && !ours {
			return errPortTaken
		}
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = s.cfg.ready(actx, s)
		cancel()
		if last == nil {
			if p.exited() {
				return fmt.Errorf("it exited during start-up (%v)", p.err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %v", startTimeout, last)
		case <-p.done:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stopLocked signals the process group and waits for the leader to exit;
// after grace it sends SIGKILL.
func (s *Server) stopLocked(sig syscall.Signal, grace time.Duration) error {
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	if p.exited() {
		return nil
	}
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	pgid := p.cmd.Process.Pid
	if sig != syscall.SIGKILL {
		syscall.Kill(-pgid, sig)
		for _, pid := range processTree(pgid) { // a paused server could not act on sig
			syscall.Kill(pid, syscall.SIGCONT)
		}
		select {
		case <-p.done:
			return nil
		case <-time.After(grace):
			fmt.Fprintf(os.Stderr, "testenv: %s on %s ignored %v for %v, killing it\n", s.Name, s.Addr, sig, grace)
		}
	}
	killTree(pgid)
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s on %s (pid %d) did not exit after SIGKILL", s.Name, s.Addr, pgid)
	}
}

// destroy stops the server for good and deletes its dir.
func (s *Server) destroy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return nil
	}
	s.destroyed = true
	liveMu.Lock()
	delete(live, s)
	liveMu.Unlock()
	err := s.stopLocked(s.cfg.stopSignal, 10*time.Second)
	if rmErr := os.RemoveAll(s.Dir); rmErr != nil && err == nil {
		err = rmErr
	}
	return err
}

// kind describes how to create one kind of server.
type kind struct {
	name string
	// user is the service account to run as when we are root.
	user string
	// prepare initialises the dir once, before the first start (initdb, ...).
	prepare func(s *Server) error
	// config returns how to run the server; called once, after prepare.
	config func(s *Server) (serverConfig, error)
	// url returns Server.URL; Addr when nil.
	url func(s *Server) string
	// provision runs once, after the first start (users, databases).
	provision func(s *Server) error
}

// pickPort chooses the port of a new server (a variable for tests).
var pickPort = freePort

// newServer creates a dir, prepares it, and starts the server on a free
// port, retrying with another port when the chosen one was taken meanwhile.
func newServer(k kind) (*Server, error) {
	t0 := time.Now()
	dir, err := newServerDir(k.name)
	if err != nil {
		return nil, err
	}
	s := &Server{Name: k.name, Dir: dir, LogFile: filepath.Join(dir, k.name+".log")}
	fail := func(err error) (*Server, error) {
		s.destroy()
		return nil, err
	}
	liveMu.Lock()
	live[s] = true
	liveMu.Unlock()
	if err := chownToUser(dir, k.user); err != nil {
		return fail(fmt.Errorf("testenv: %s: %w", k.name, err))
	}
	if k.prepare != nil {
		if err := k.prepare(s); err != nil {
			return fail(err)
		}
	}
	s.cfg, err = k.config(s)
	if err != nil {
		return fail(err)
	}
	const attempts = 5
	for i := 1; ; i++ {
		if s.Port, err = pickPort(); err != nil {
			return fail(fmt.Errorf("testenv: %s: no free port: %w", k.name, err))
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
		s.mu.Lock()
		err = s.startLocked()
		s.mu.Unlock()
		if err == nil {
			break
		}
		taken := errors.Is(err, errPortTaken) ||
			strings.Contains(strings.ToLower(lastStart(s.LogFile)), "address already in use")
		if i == attempts || !taken {
			return fail(err)
		}
	}
	s.URL = s.Addr
	if k.url != nil {
		s.URL = k.url(s)
	}
	if k.provision != nil {
		if err := k.provision(s); err != nil {
			return fail(fmt.Errorf("%v\n--- last lines of %s ---\n%s", err, s.LogFile, s.LogTail(15)))
		}
	}
	s.StartupTime = time.Since(t0)
	return s, nil
}

// ---------------------------------------------------------------- processes --

// The kernel sends a child its parent-death signal when the *thread* that
// forked it exits, and Go may end threads (those of goroutines that exit
// while locked to them). So every server is forked from one goroutine that
// stays locked to its thread for the life of the process.
var spawner struct {
	once sync.Once
	reqs chan spawnReq
}

type spawnReq struct {
	cmd *exec.Cmd
	res chan error
}

func startCmd(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for r := range spawner.reqs {
				r.res <- r.cmd.Start()
			}
		}()
	})
	res := make(chan error, 1)
	spawner.reqs <- spawnReq{cmd, res}
	return <-res
}

// procAttr puts the child in its own process group (to signal it with all
// its children), has it killed when the test process dies, and runs it as
// the service account u when we are root and u exists.
func procAttr(u string) (*syscall.SysProcAttr, error) {
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cred, err := credential(u)
	if err != nil {
		return nil, err
	}
	attr.Credential = cred
	return attr, nil
}

type account struct {
	uid, gid int
	groups   []uint32
}

var accounts sync.Map // name -> *account or error

// serviceAccount returns the account to run as: nil when we are not root,
// when u is "", or when u does not exist (callers decide whether that is
// fine).
func serviceAccount(u string) (*account, error) {
	if u == "" || os.Geteuid() != 0 {
		return nil, nil
	}
	if v, ok := accounts.Load(u); ok {
		if a, ok := v.(*account); ok {
			return a, nil
		}
		return nil, v.(error)
	}
	usr, err := user.Lookup(u)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return nil, nil
		}
		accounts.Store(u, err)
		return nil, err
	}
	a := &account{}
	a.uid, _ = strconv.Atoi(usr.Uid)
	a.gid, _ = strconv.Atoi(usr.Gid)
	gids, _ := usr.GroupIds()
	for _, g := range gids {
		if n, err := strconv.Atoi(g); err == nil {
			a.groups = append(a.groups, uint32(n))
		}
	}
	accounts.Store(u, a)
	return a, nil
}

func credential(u string) (*syscall.Credential, error) {
	a, err := serviceAccount(u)
	if a == nil || err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(a.uid), Gid: uint32(a.gid), Groups: a.groups}, nil
}

// chownToUser gives path to the service account u (when we run as root).
func chownToUser(path, u string) error {
	a, err := serviceAccount(u)
	if a == nil || err != nil {
		return err
	}
	return os.Chown(path, a.uid, a.gid)
}

// runsAsRoot reports whether a server of account u would run as root (we
// are root and u does not exist).
func runsAsRoot(u string) bool {
	a, _ := serviceAccount(u)
	return os.Geteuid() == 0 && a == nil
}

// baseEnv is the environment of the servers: minimal, so that nothing of
// the caller's (FERRETDB_*, PG*, MYSQL_* variables, ...) changes how they
// behave.
func baseEnv(home string) []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + home,
		"LANG=C.UTF-8",
		"TZ=UTC",
	}
}

// runOnce runs a one-shot command (initdb, mariadb-install-db) as account u
// and returns an error with its output if it fails.
func runOnce(ctx context.Context, u, dir string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = baseEnv(dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	attr, err := procAttr(u)
	if err != nil {
		return err
	}
	cmd.SysProcAttr = attr
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := startCmd(cmd); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, lastLines(out.String(), 25))
	}
	return nil
}

// ---------------------------------------------------------------- binaries --

// findBinary looks name up in PATH and the sbin dirs (mariadbd lives in
// /usr/sbin, which a non-login PATH may lack). pkg is the Debian package to
// suggest when it is missing.
func findBinary(name, pkg string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", missing(name, pkg)
}

// missing is the error for a program that is not installed.
func missing(what, pkg string) error {
	return fmt.Errorf("%s not found: run scripts/install-deps.sh (or: apt-get install %s)", what, pkg)
}

// ---------------------------------------------------------------- helpers --

// tailFile returns the last n lines of a file (of its last 64 KiB).
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	const max = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		f.Seek(fi.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return lastLines(string(b), n)
}

// lastStart returns the part of a server log written by its last start.
func lastStart(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndex(s, "==== testenv: start #"); i >= 0 {
		return s[i:]
	}
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// dialProbe connects to addr, writes req (if any) and returns the first
// bytes of the answer (up to max).
func dialProbe(ctx context.Context, addr string, req []byte, max int) ([]byte, error) {
	return dialProbeTLS(ctx, addr, nil, req, max)
}

// dialProbeTLS is dialProbe over TLS with the client configuration conf
// (nil: plain TCP).
func dialProbeTLS(ctx context.Context, addr string, conf *tls.Config, req []byte, max int) ([]byte, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if conf != nil {
		tc := tls.Client(c, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		c = tc
	}
	if len(req) > 0 {
		if _, err := c.Write(req); err != nil {
			return nil, err
		}
	}
	if max == 0 {
		return nil, nil
	}
	buf := make([]byte, max)
	n, err := io.ReadAtLeast(c, buf, 1)
	return buf[:n], err
}
