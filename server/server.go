// Package server exposes a phpsess store over HTTP and JSON, for services
// in any language that share sessions with a PHP application: the handler
// behind `phpsess serve`.
//
// Routes (all documented in openapi.json, served at /openapi.json):
//
//	GET    /v1/sessions/{id}              the session's JSON form (as `phpsess get`);
//	                                      ?key=NAME or X-Session-Key: one variable
//	PUT    /v1/sessions/{id}              replace the session (body: JSON form)
//	PATCH  /v1/sessions/{id}              {"set": {...}, "unset": [...]}, under the lock
//	DELETE /v1/sessions/{id}              destroy
//	POST   /v1/sessions/{id}/regenerate   new id, data moved (?keep_old=1 keeps the old)
//	PUT    /v1/sessions/{id}/flash/{key}  CodeIgniter set_flashdata
//	GET    /v1/sessions/{id}/flash        CodeIgniter flashdata
//	PUT    /v1/sessions/{id}/temp/{key}   CodeIgniter set_tempdata (?ttl=SECONDS)
//	GET    /v1/sessions/{id}/temp         CodeIgniter tempdata not yet expired
//	GET    /v1/refs/{ref}                 ids of the sessions with a DALMP reference
//	GET    /healthz  /readyz  /metrics  /openapi.json
//
// Every write is a read-modify-write under the PHP side's lock
// (session.Update), so a concurrent PHP request loses nothing; ETag and
// If-Match give callers compare-and-set on top. Errors are JSON:
// {"error": "...", "code": "..."} (see the codes in errors.go).
package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/session"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// OpenAPI is the OpenAPI 3 document of the server's routes, served at
// /openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte

// DefaultMaxBody is the default limit on a request body: 4 MiB.
const DefaultMaxBody = 4 << 20

// Config configures a Server.
type Config struct {
	// Store is where the sessions are. Required.
	Store handlers.Store
	// Token, if not empty, must be sent as "Authorization: Bearer TOKEN"
	// on every route but the probes /healthz and /readyz.
	Token string
	// MaxBody limits request bodies (default DefaultMaxBody); larger ones
	// are refused with 413.
	MaxBody int64
	// AllowClasses are the PHP classes (and enums) a PUT, PATCH, flash or
	// temp body may contain objects of, matched without regard to case as
	// PHP matches class names. By default none: an object of any class is
	// refused with 422, since a PHP application that unserializes an
	// attacker's object is the classic PHP object-injection hole.
	AllowClasses []string
	// IDPattern, if set, is a rule every session id must match (besides
	// handlers.CheckID), checked before the store is touched. See
	// session.IDPattern for the rule of a PHP configuration.
	IDPattern *regexp.Regexp
	// SIDLength and SIDBits are the form of the ids regenerate makes
	// (session.sid_length, default 32; session.sid_bits_per_character,
	// 4, 5 or 6, default 4) and of the id /readyz probes with.
	SIDLength, SIDBits int
	// Logger gets one line per request (method, route, status, duration,
	// a digest of the session id: never the id, never data). Default: a
	// logger that discards.
	Logger *slog.Logger
	// Registerer registers the server's metrics and Gatherer serves them at
	// /metrics. By default the server has a registry of its own (and the
	// Go and process collectors are not included).
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Now returns the current time (tempdata expiry); default time.Now.
	Now func() time.Time
}

// RefLister is a Store that can find sessions by their DALMP reference
// (Record.Meta.Ref), for GET /v1/refs/{ref}; the DALMP stores of package
// handlers are (handlers.Referencer). What they return names each session
// as the layout's reference index does: its id in DALMP's SQL tables, its
// cache key DALMP_<sha1> on Memcache and Redis, where DALMP keeps no id
// (handlers.DALMPCacheKey makes the key of an id). Stores that do not
// implement it answer 404 not_supported there.
type RefLister interface {
	SessionsByRef(ctx context.Context, ref string) ([]string, error)
}

// Server is the HTTP handler. It is safe for concurrent use.
type Server struct {
	cfg       Config
	info      handlers.Info
	tokenHash [sha256.Size]byte
	allow     map[string]bool
	mux       *http.ServeMux
	metrics   *metrics
	gatherer  prometheus.Gatherer
	log       *slog.Logger
	patterns  []string
	st        handlers.Store // cfg.Store, instrumented
	bufs      sync.Pool      // *[]byte response buffers
	decoders  sync.Pool      // *phpserialize.Decoder with ReuseMemory, for GET
}

// store returns the instrumented store.
func (s *Server) store() handlers.Store { return s.st }

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: Config.Store is required")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.SIDLength == 0 {
		cfg.SIDLength = session.DefaultSIDLength
	}
	if cfg.SIDBits == 0 {
		cfg.SIDBits = session.DefaultSIDBits
	}
	if err := session.CheckIDFormat(cfg.SIDLength, cfg.SIDBits); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, info: cfg.Store.Info(), allow: map[string]bool{}, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Token != "" {
		s.tokenHash = sha256.Sum256([]byte(cfg.Token))
	}
	for _, c := range cfg.AllowClasses {
		c = strings.TrimPrefix(strings.TrimSpace(c), `\`)
		if c != "" {
			s.allow[strings.ToLower(c)] = true
		}
	}
	reg, gat := cfg.Registerer, cfg.Gatherer
	if reg == nil && gat == nil {
		r := prometheus.NewRegistry()
		reg, gat = r, r
	} else if gat == nil {
		gat, _ = reg.(prometheus.Gatherer)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("server: metrics: %w", err)
	}
	s.metrics, s.gatherer = m, gat
	s.st = instrument(cfg.Store, m)
	if cfg.IDPattern != nil {
		if id, err := session.NewID(cfg.SIDLength, cfg.SIDBits); err == nil && !cfg.IDPattern.MatchString(id) {
			return nil, fmt.Errorf("server: the ids regenerate makes (%d characters of %d bits) do not match the id pattern %s", cfg.SIDLength, cfg.SIDBits, cfg.IDPattern)
		}
	}
	s.routes()
	return s, nil
}

// routes registers every route; Routes lists them for the OpenAPI test.
func (s *Server) routes() {
	s.mux = http.NewServeMux()
	handle := func(pattern string, auth bool, h func(w http.ResponseWriter, r *http.Request) error) {
		s.patterns = append(s.patterns, pattern)
		s.mux.Handle(pattern, s.wrap(pattern, auth, h))
	}
	handle("GET /v1/sessions/{id}", true, s.getSession)
	handle("PUT /v1/sessions/{id}", true, s.putSession)
	handle("PATCH /v1/sessions/{id}", true, s.patchSession)
	handle("DELETE /v1/sessions/{id}", true, s.deleteSession)
	handle("POST /v1/sessions/{id}/regenerate", true, s.regenerate)
	handle("PUT /v1/sessions/{id}/flash/{key}", true, s.putFlash)
	handle("GET /v1/sessions/{id}/flash", true, s.getFlash)
	handle("PUT /v1/sessions/{id}/temp/{key}", true, s.putTemp)
	handle("GET /v1/sessions/{id}/temp", true, s.getTemp)
	handle("GET /v1/refs/{ref}", true, s.refs)
	handle("GET /healthz", false, s.healthz)
	handle("GET /readyz", false, s.readyz)
	handle("GET /metrics", true, s.serveMetrics)
	handle("GET /openapi.json", true, s.openapi)
	// anything else: a JSON 404 (still behind the token, so that probing
	// for routes tells nothing)
	s.mux.Handle("/", s.wrap("/", true, func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, codeNotFound, "no route %s %s", r.Method, r.URL.Path)
	}))
}

// Routes returns the route patterns the server serves, in Go ServeMux
// syntax ("GET /v1/sessions/{id}").
func (s *Server) Routes() []string { return append([]string(nil), s.patterns...) }

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// statusWriter remembers the status a handler sent.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader remembers the first status.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write counts as a 200 if no status was sent.
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wrap adds authentication, the body limit, error rendering, metrics and
// the log line to a route handler.
func (s *Server) wrap(route string, auth bool, h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		var err error
		if auth && !s.authorized(r) {
			sw.Header().Set("WWW-Authenticate", `Bearer realm="phpsess"`)
			err = errorf(http.StatusUnauthorized, codeUnauthorized, "a valid bearer token is required")
		} else {
			if r.Body != nil {
				r.Body = http.MaxBytesReader(sw, r.Body, s.cfg.MaxBody)
			}
			err = h(sw, r)
		}
		if err != nil {
			s.writeError(sw, r, err)
		}
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		d := time.Since(t0)
		s.metrics.observe(r.Method, route, status, d)
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		if !s.log.Enabled(r.Context(), level) {
			return // nothing to build: the id's digest costs a hash
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Float64("ms", float64(d.Microseconds())/1000),
		}
		if id := r.PathValue("id"); id != "" {
			attrs = append(attrs, slog.String("sid", session.ShortID(id)))
		}
		if err != nil && status >= 500 {
			attrs = append(attrs, slog.String("err", redactID(err.Error(), r.PathValue("id"))))
		}
		s.log.LogAttrs(r.Context(), level, "request", attrs...)
	})
}

// redactID replaces the session id in a message (store errors name it) by
// its digest.
func redactID(msg, id string) string {
	if id == "" {
		return msg
	}
	return strings.ReplaceAll(msg, id, "sid:"+session.ShortID(id))
}

// authorized checks the bearer token in constant time.
func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.Token == "" {
		return true
	}
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(h[len(prefix):])))
	return subtle.ConstantTimeCompare(got[:], s.tokenHash[:]) == 1
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	return writeJSONBytes(w, http.StatusOK, []byte(`{"status":"ok"}`))
}

// readyz reads a random id that does not exist: ErrNotFound means the
// store answered.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	id, err := session.NewID(s.cfg.SIDLength, s.cfg.SIDBits)
	if err != nil {
		return err
	}
	_, err = s.cfg.Store.Read(r.Context(), id)
	switch {
	case err == nil, errors.Is(err, handlers.ErrNotFound):
		return writeJSONBytes(w, http.StatusOK, []byte(`{"status":"ready"}`))
	case errors.Is(err, handlers.ErrInvalidID):
		return errorf(http.StatusServiceUnavailable, codeStoreError, "the store refuses ids of %d characters of %d bits: set --sid-length and --sid-bits as the PHP side makes them", s.cfg.SIDLength, s.cfg.SIDBits)
	}
	s.metrics.storeError("read")
	return errorf(http.StatusServiceUnavailable, codeStoreError, "store not reachable: %s", redactID(err.Error(), id))
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	if s.gatherer == nil {
		return errorf(http.StatusNotFound, codeNotSupported, "metrics are gathered elsewhere")
	}
	promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	return nil
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) error {
	return writeJSONBytes(w, http.StatusOK, OpenAPI)
}
