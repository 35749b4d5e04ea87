// Command load measures phpsess serve over a Redis store beside Redis
// itself, in one run: GET and PATCH throughput and p50/p99 latency at the
// same concurrency, then redis-benchmark GET at that concurrency and the
// session's payload size.
//
// It starts its own redis-server (no persistence, a free loopback port, a
// temporary directory) and runs the phpsess binary given by -phpsess as
// `phpsess serve` against it:
//
//	go build -o /tmp/phpsess . && go run ./bench/load -phpsess /tmp/phpsess
//
// Every request goes to 127.0.0.1 only, and the run is bounded by -d.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/internal/testenv"
	"github.com/phpsess/phpsess/phpserialize"
)

func main() {
	var (
		phpsess  = flag.String("phpsess", "", "the phpsess binary to run as the server (required)")
		clients  = flag.Int("c", 50, "concurrent clients")
		duration = flag.Duration("d", 10*time.Second, "how long each HTTP test runs")
		sessions = flag.Int("sessions", 100, "sessions in the store")
		size     = flag.Int("size", 1024, "approximate session payload size in bytes")
	)
	flag.Parse()
	if *phpsess == "" {
		fmt.Fprintln(os.Stderr, "load: -phpsess is required")
		os.Exit(2)
	}
	if err := run(*phpsess, *clients, *duration, *sessions, *size); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// result is one line of the report.
type result struct {
	name     string
	rps      float64
	p50, p99 time.Duration
	errors   int
	secs     float64    // how long it ran
	cpu      []cpuShare // CPU time of each process during the test
}

// cpuShare is the CPU time one process spent in a test.
type cpuShare struct {
	who string
	d   time.Duration
}

func run(bin string, clients int, d time.Duration, nSessions, size int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "phpsess-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	redisPort, err := freePort()
	if err != nil {
		return err
	}
	redisAddr := fmt.Sprintf("127.0.0.1:%d", redisPort)
	redisSrv := exec.CommandContext(ctx, "redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(redisPort),
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", "")
	redisSrv.Stdout, redisSrv.Stderr = io.Discard, io.Discard
	if err := redisSrv.Start(); err != nil {
		return fmt.Errorf("redis-server: %w (apt-get install redis-server)", err)
	}
	defer func() { redisSrv.Process.Kill(); redisSrv.Wait() }()
	storeURL := "redis://" + redisAddr + "/0?lock=on"
	var st handlers.Store
	for deadline := time.Now().Add(10 * time.Second); ; {
		if st, err = handlers.Open(ctx, storeURL); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis did not start: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer st.Close()

	// sessions of about size bytes, as a PHP app keeps them
	ids := make([]string, nSessions)
	var payload []byte
	for i := range ids {
		ids[i] = fmt.Sprintf("bench%027d", i)
		sess := &phpserialize.Array{}
		sess.Set(phpserialize.StringKey("user_id"), phpserialize.Int(int64(i)))
		sess.Set(phpserialize.StringKey("roles"), phpserialize.ArrayValue(phpserialize.List(phpserialize.String("admin"), phpserialize.String("editor"))))
		sess.Set(phpserialize.StringKey("counter"), phpserialize.Int(0))
		for n := 0; ; n++ {
			payload, err = phpserialize.EncodeSession(phpserialize.HandlerPHP, sess)
			if err != nil {
				return err
			}
			if len(payload) >= size {
				break
			}
			sess.Set(phpserialize.StringKey(fmt.Sprintf("item_%d", n)), phpserialize.String(strings.Repeat("x", 40)))
		}
		if err := st.Write(ctx, &handlers.Record{ID: ids[i], Data: payload}); err != nil {
			return err
		}
	}

	port, err := freePort()
	if err != nil {
		return err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	srv := exec.CommandContext(ctx, bin, "serve", "--store", storeURL, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--log-level", "error")
	srv.Stdout, srv.Stderr = io.Discard, os.Stderr
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	client := &http.Client{Timeout: 30 * time.Second}
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("phpsess serve did not become ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	addr := fmt.Sprintf("127.0.0.1:%d", port)
	get := func(w, i int) request {
		return request{method: "GET", path: "/v1/sessions/" + ids[(w+i*clients)%len(ids)]}
	}
	patch := func(w, i int) request {
		// each client its own sessions: lock waits are not the subject here
		id := ids[(w+(i%2)*clients)%len(ids)]
		return request{method: "PATCH", path: "/v1/sessions/" + id, body: []byte(fmt.Sprintf(`{"set":{"counter":%d}}`, i))}
	}
	var results []result
	if _, err := load(addr, "warm-up", clients, time.Second, get); err != nil {
		return err
	}
	redisPid, srvPid := redisSrv.Process.Pid, srv.Process.Pid
	for _, t := range []struct {
		name string
		mk   func(w, i int) request
	}{{"phpsess serve GET", get}, {"phpsess serve PATCH", patch}} {
		c0 := [3]time.Duration{testenv.SelfCPU(), testenv.ProcessCPU(srvPid), testenv.ProcessCPU(redisPid)}
		r, err := load(addr, t.name, clients, d, t.mk)
		if err != nil {
			return err
		}
		r.cpu = []cpuShare{{"load generator", testenv.SelfCPU() - c0[0]}, {"phpsess serve", testenv.ProcessCPU(srvPid) - c0[1]}, {"redis-server", testenv.ProcessCPU(redisPid) - c0[2]}}
		results = append(results, r)
	}
	r0 := testenv.ProcessCPU(redisPid)
	rb, benchCPU, err := redisBenchmark(redisPort, clients, len(payload))
	if err != nil {
		return err
	}
	rb.cpu = []cpuShare{{"redis-benchmark", benchCPU}, {"redis-server", testenv.ProcessCPU(redisPid) - r0}}
	results = append(results, rb)

	fmt.Printf("serve benchmark: %d clients, %v per HTTP test, %d sessions of %d bytes, redis native layout with lock=on (PATCH takes the lock)\n",
		clients, d, nSessions, len(payload))
	fmt.Printf("%-22s %12s %9s %9s %7s\n", "what", "req/s", "p50 ms", "p99 ms", "errors")
	for _, r := range results {
		fmt.Printf("%-22s %12.0f %9.3f %9.3f %7d\n", r.name, r.rps, ms(r.p50), ms(r.p99), r.errors)
	}
	// Where the CPU went, per request: the load generator and the server
	// pay for the HTTP leg, and all share the same cores.
	for _, r := range results {
		fmt.Printf("CPU per request, %s:", r.name)
		for _, c := range r.cpu {
			fmt.Printf(" %s %.1f us", c.who, float64(c.d.Microseconds())/(r.rps*r.secs))
		}
		fmt.Println()
	}
	g, rg := results[0], results[2]
	fmt.Printf("GET throughput = %.2f x redis-benchmark GET (goal >= 0.50); GET p99 %.2f ms (goal < 5 ms)\n", g.rps/rg.rps, ms(g.p99))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// request is one HTTP/1.1 request, as bytes.
type request struct {
	method, path string
	body         []byte
}

// conn is a keep-alive HTTP/1.1 connection that sends one request at a time
// and reads the answer: a lean client, as wrk is, so that the load
// generator takes as little of the machine's CPU as it can.
type conn struct {
	c   net.Conn
	r   *bufio.Reader
	buf []byte
}

func dial(addr string) (*conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &conn{c: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

// do sends req and reads the answer; it returns the status code.
func (c *conn) do(host string, req request) (int, error) {
	b := c.buf[:0]
	b = append(b, req.method...)
	b = append(b, ' ')
	b = append(b, req.path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	if req.body != nil {
		b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(req.body)), 10)
	}
	b = append(b, "\r\n\r\n"...)
	b = append(b, req.body...)
	c.buf = b
	if _, err := c.c.Write(b); err != nil {
		return 0, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length := -1
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break
		}
		if len(h) > 16 && strings.EqualFold(string(h[:15]), "content-length:") {
			length, _ = strconv.Atoi(strings.TrimSpace(string(h[15:])))
		}
	}
	if length < 0 {
		return 0, errors.New("no Content-Length in the answer")
	}
	if _, err := c.r.Discard(length); err != nil {
		return 0, err
	}
	return status, nil
}

// load runs clients workers for d, each on its own connection sending
// requests one after another, and reports throughput and latency
// percentiles.
func load(addr, name string, clients int, d time.Duration, mk func(w, i int) request) (result, error) {
	var mu sync.Mutex
	var all []time.Duration
	errs := 0
	var firstErr error
	conns := make([]*conn, clients)
	for w := range conns {
		c, err := dial(addr)
		if err != nil {
			return result{}, err
		}
		defer c.c.Close()
		conns[w] = c
	}
	start := time.Now()
	stop := start.Add(d)
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		wg.Go(func() {
			c := conns[w]
			lat := make([]time.Duration, 0, 1<<14)
			bad := 0
			var werr error
			for i := 0; time.Now().Before(stop); i++ {
				t0 := time.Now()
				status, err := c.do(addr, mk(w, i))
				lat = append(lat, time.Since(t0))
				if err == nil && status != 200 {
					err = fmt.Errorf("HTTP %d", status)
				}
				if err != nil {
					bad++
					if werr == nil {
						werr = err
					}
					if status == 0 {
						break // the connection is gone
					}
				}
			}
			mu.Lock()
			all = append(all, lat...)
			errs += bad
			if firstErr == nil {
				firstErr = werr
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if len(all) == 0 {
		return result{}, fmt.Errorf("%s: no request made: %v", name, firstErr)
	}
	if errs > len(all)/100 {
		return result{}, fmt.Errorf("%s: %d of %d requests failed: %v", name, errs, len(all), firstErr)
	}
	slices.Sort(all)
	return result{
		name:   name,
		secs:   elapsed.Seconds(),
		rps:    float64(len(all)) / elapsed.Seconds(),
		p50:    all[len(all)/2],
		p99:    all[len(all)*99/100],
		errors: errs,
	}, nil
}

// redisBenchmark runs redis-benchmark GET with the same concurrency and
// value size.
// It also returns the CPU time redis-benchmark used.
func redisBenchmark(port, clients, size int) (result, time.Duration, error) {
	const requests = 500000
	cmd := exec.Command("redis-benchmark", "-h", "127.0.0.1", "-p", strconv.Itoa(port),
		"-c", strconv.Itoa(clients), "-d", strconv.Itoa(size), "-t", "get", "-n", strconv.Itoa(requests), "--csv")
	out, err := cmd.Output()
	if err != nil {
		return result{}, 0, fmt.Errorf("redis-benchmark: %w (apt-get install redis-tools)", err)
	}
	client := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	rd := csv.NewReader(bufio.NewReader(bytes.NewReader(out)))
	rows, err := rd.ReadAll()
	if err != nil || len(rows) < 2 {
		return result{}, 0, fmt.Errorf("redis-benchmark output %q: %v", out, err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	num := func(name string) float64 {
		i, ok := col[name]
		if !ok {
			return 0
		}
		f, _ := strconv.ParseFloat(rows[1][i], 64)
		return f
	}
	rps := num("rps")
	if rps <= 0 {
		return result{}, 0, fmt.Errorf("redis-benchmark output %q: no rps", out)
	}
	return result{
		name: "redis-benchmark GET",
		rps:  rps,
		secs: requests / rps,
		p50:  time.Duration(num("p50_latency_ms") * float64(time.Millisecond)),
		p99:  time.Duration(num("p99_latency_ms") * float64(time.Millisecond)),
	}, client, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
