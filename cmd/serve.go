package cmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/phpsess/phpsess/server"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// serveFlags are the options of phpsess serve.
type serveFlags struct {
	store, listen, tokenFile, idPattern, maxBody string
	logLevel, logFormat                          string
	allowClasses                                 []string
	sidLength, sidBits                           int
	shutdownTimeout                              time.Duration
}

func (a *app) serveCmd() *cobra.Command {
	var f serveFlags
	c := &cobra.Command{
		Use:   "serve --store STORE [--listen ADDR|unix:PATH]",
		Short: "Serve a store over HTTP/JSON",
		Long: `Serve exposes a store over HTTP and JSON, for services in any language that
share sessions with a PHP application. GET a session as JSON (the same as
phpsess get), PUT it, PATCH some variables atomically under the PHP side's
lock, DELETE it, regenerate its id; CodeIgniter flashdata and tempdata; ETags
and If-Match for compare-and-set. The routes are documented in OpenAPI at
/openapi.json; /healthz, /readyz and Prometheus /metrics are there too.

Secure by default: it listens on 127.0.0.1:8080 unless told otherwise, and
refuses to listen on any address but loopback or a unix socket without a
bearer token (--token-file). Bodies are limited (--max-body); ids no PHP
could have made are refused before the store is touched; objects are refused
unless their class is on --allow-class (a PHP application that unserializes
an attacker's object is the classic PHP object-injection hole). Logs name
sessions by a digest, never by id, and never hold session data.

A unix socket (--listen unix:/run/phpsess.sock) is made mode 0660: give the
group to the clients that may use it. A stale socket file is replaced; the
socket is removed at exit.

On SIGTERM or SIGINT the server stops accepting requests, lets the ones in
flight finish (their session locks are released as they end) for up to
--shutdown-timeout, and exits 0.

Every flag can be given as an environment variable: PHPSESS_ and the flag's
name in capitals with _ for -, such as PHPSESS_STORE, PHPSESS_LISTEN,
PHPSESS_TOKEN_FILE, PHPSESS_ALLOW_CLASS (comma-separated), PHPSESS_MAX_BODY,
PHPSESS_LOG_LEVEL. A flag on the command line wins.

Session ids: --id-pattern adds a rule to PHP's own (1 to 256 characters of
[A-Za-z0-9,-]). Use the one of the PHP side: native PHP with Debian's php.ini
(sid_length 26, sid_bits_per_character 5) '^[0-9a-v]{26}$'; PHP's built-in
defaults (32, 4) '^[0-9a-f]{32}$'; CodeIgniter 4.6+ '^[0-9a-f]{32}$';
CodeIgniter 3 with Debian's php.ini '^[0-9a-v]{32}$'. --sid-length and
--sid-bits are the form of the ids regenerate makes.
` + storeHelp,
		Example: `  phpsess serve --store redis://127.0.0.1:6379
  PHPSESS_STORE='redis://cache:6379?layout=ci4' phpsess serve --listen unix:/run/phpsess/api.sock
  phpsess serve --store file:///var/lib/php/sessions?owner=www-data --listen 10.0.0.4:8080 \
      --token-file /etc/phpsess/token --allow-class 'App\Cart' --id-pattern '^[0-9a-v]{26}$'
  curl -H "Authorization: Bearer $(cat /etc/phpsess/token)" http://10.0.0.4:8080/v1/sessions/$SID`,
		Args: cobra.NoArgs,
		PreRunE: func(c *cobra.Command, _ []string) error {
			return flagsFromEnv(c.Flags())
		},
		RunE: func(c *cobra.Command, _ []string) error {
			return a.serve(c.Context(), &f)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.store, "store", "", "the store URL (required)")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8080", "HOST:PORT, or unix:/path/to.sock")
	fl.StringVar(&f.tokenFile, "token-file", "", "file holding the bearer token clients must send (required unless listening on loopback or a unix socket)")
	fl.StringSliceVar(&f.allowClasses, "allow-class", nil, "a PHP class (or enum) whose objects clients may write; repeat or separate with commas")
	fl.StringVar(&f.maxBody, "max-body", "4MiB", "largest request body (bytes, or with KiB, MiB)")
	fl.StringVar(&f.idPattern, "id-pattern", "", "regular expression every session id must match, besides PHP's own rule")
	fl.IntVar(&f.sidLength, "sid-length", 32, "length of the ids regenerate makes (session.sid_length)")
	fl.IntVar(&f.sidBits, "sid-bits", 4, "bits per character of the ids regenerate makes: 4, 5 or 6 (session.sid_bits_per_character)")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long requests in flight may take to finish after SIGTERM")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "json", "json or text")
	return c
}

// flagsFromEnv sets every flag not given on the command line from its
// PHPSESS_ environment variable.
func flagsFromEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(fl *pflag.Flag) {
		if err != nil || fl.Changed || fl.Name == "help" {
			return
		}
		name := "PHPSESS_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		v, ok := os.LookupEnv(name)
		if !ok {
			return
		}
		if sv, isSlice := fl.Value.(pflag.SliceValue); isSlice {
			if serr := sv.Replace(splitList(v)); serr != nil {
				err = usageErr("%s=%q: %v", name, v, serr)
			}
			return
		}
		if serr := fs.Set(fl.Name, v); serr != nil {
			err = usageErr("%s=%q: %v", name, v, serr)
		}
	})
	return err
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// parseSize reads a byte count: 1048576, 512KiB, 4MiB, 1GiB (KB, MB, GB are
// taken as the same powers of two).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(strings.ToUpper(t), strings.ToUpper(u.suffix)) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("size %q: want a positive number of bytes, such as 4MiB", s)
	}
	return n * mult, nil
}

// needsToken reports whether a listen address is reachable from other
// hosts: anything but a unix socket or a loopback address.
func needsToken(listen string) bool {
	if strings.HasPrefix(listen, "unix:") {
		return false
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return true
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// readToken reads the bearer token: the file's first line, trimmed.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	tok, _, _ := strings.Cut(string(b), "\n")
	tok = strings.TrimSpace(tok)
	if len(tok) < 16 {
		return "", fmt.Errorf("token file %s: the token must be at least 16 characters", path)
	}
	return tok, nil
}

func newLogger(f *serveFlags, a *app) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, usageErr("--log-level %q: want debug, info, warn or error", f.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f.logFormat {
	case "json":
		return slog.New(slog.NewJSONHandler(a.stderr, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(a.stderr, opts)), nil
	}
	return nil, usageErr("--log-format %q: want json or text", f.logFormat)
}

// listen opens the listener: TCP, or a unix socket made 0660 (a stale
// socket file is removed first; a live one is an error).
func listen(ctx context.Context, addr string) (net.Listener, func(), error) {
	path, isUnix := strings.CutPrefix(addr, "unix:")
	if !isUnix {
		var lc net.ListenConfig
		l, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return nil, nil, err
		}
		return l, func() {}, nil
	}
	if path == "" {
		return nil, nil, usageErr("--listen unix: needs a path")
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, nil, fmt.Errorf("--listen %s: the file exists and is not a socket; not removing it", addr)
		}
		d := net.Dialer{Timeout: time.Second}
		if conn, err := d.DialContext(ctx, "unix", path); err == nil {
			conn.Close()
			return nil, nil, fmt.Errorf("--listen %s: another process is serving on that socket", addr)
		}
		if err := os.Remove(path); err != nil {
			return nil, nil, fmt.Errorf("removing the stale socket: %w", err)
		}
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		return nil, nil, err
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		os.Remove(path)
		return nil, nil, fmt.Errorf("chmod 0660 %s: %w", path, err)
	}
	return l, func() { os.Remove(path) }, nil
}

func (a *app) serve(ctx context.Context, f *serveFlags) error {
	if f.store == "" {
		return usageErr("--store (or PHPSESS_STORE) is required (see phpsess serve --help)")
	}
	log, err := newLogger(f, a)
	if err != nil {
		return err
	}
	maxBody, err := parseSize(f.maxBody)
	if err != nil {
		return usageErr("--max-body: %v", err)
	}
	var idPattern *regexp.Regexp
	if f.idPattern != "" {
		if idPattern, err = regexp.Compile(f.idPattern); err != nil {
			return usageErr("--id-pattern: %v", err)
		}
	}
	var token string
	if f.tokenFile != "" {
		if token, err = readToken(f.tokenFile); err != nil {
			return err
		}
	} else if needsToken(f.listen) {
		return usageErr("--listen %s is reachable from other hosts: a bearer token is required (--token-file); without one, listen on 127.0.0.1 or a unix socket", f.listen)
	}
	st, err := openStore(ctx, f.store)
	if err != nil {
		return err
	}
	defer st.Close()
	srv, err := server.New(server.Config{
		Store:        st,
		Token:        token,
		MaxBody:      maxBody,
		AllowClasses: f.allowClasses,
		IDPattern:    idPattern,
		SIDLength:    f.sidLength,
		SIDBits:      f.sidBits,
		Logger:       log,
	})
	if err != nil {
		return usageErr("%v", err)
	}
	l, cleanup, err := listen(ctx, f.listen)
	if err != nil {
		return err
	}
	defer cleanup()
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	info := st.Info()
	log.Info("serving", "listen", l.Addr().String(), "store", info.URL, "layout", info.Layout,
		"handler", string(info.Handler), "locking", info.Locking, "token", token != "")
	done := make(chan error, 1)
	go func() { done <- hs.Serve(l) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing the requests in flight", "timeout", f.shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
		return fmt.Errorf("shutdown: requests still running after %v: %w", f.shutdownTimeout, err)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}
