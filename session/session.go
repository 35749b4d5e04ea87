// Package session is net/http middleware that shares live PHP sessions with
// a PHP application: what the phpsess issue tracker calls
// phpsess.Middleware.
//
// Middleware reads the PHP session cookie (PHPSESSID, ci_session, ... as
// Options say), and gives each request a *Session (FromContext) that loads
// the session from a handlers.Store on first use, lets the handler read and
// change its variables (Get, Set, Delete, Unmarshal; CodeIgniter's Flash and
// Temp), regenerate its id or destroy it, and writes it back as PHP would:
//
//   - only when something changed, under the PHP side's lock, applying only
//     this request's changes on top of the session as stored at that moment
//     (see Edit), so that a PHP request running at the same time loses
//     nothing;
//   - when nothing changed, refreshing its expiry as PHP's lazy_write does
//     (handlers.Toucher, else a rewrite of what is stored);
//   - before the response's header is sent, so that once the client has the
//     response, the next request (to PHP or Go) sees the changes. The
//     session cookie of a new or regenerated id goes out with that header.
//     Changes made after the header was sent are saved when the handler
//     returns; call Save to learn about errors, which are otherwise logged.
//
// The life cycle of a classic session API maps as follows: start (Start,
// or lazily on first access), read and write data (Get, Unmarshal, Set,
// Delete), wipe on logout (Destroy), explicit save (Save), a default
// lifetime (Options.Lifetime, else the store's ttl=).
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/phpserialize"
)

// Options configure Middleware. The zero Options are PHP's defaults.
type Options struct {
	// CookieName is the session cookie: session.name (default "PHPSESSID";
	// CodeIgniter uses "ci_session").
	CookieName string
	// Lifetime is how long a written session lives in the store
	// (session.gc_maxlifetime, CodeIgniter's sess_expiration); 0 is the
	// store's ttl= or its layout's default.
	Lifetime time.Duration
	// CookieLifetime is session.cookie_lifetime: 0 (the default) makes a
	// cookie that lasts until the browser is closed.
	CookieLifetime time.Duration
	// CookiePath (default "/"), CookieDomain and CookieSecure are the
	// cookie's attributes, as session.cookie_path, cookie_domain and
	// cookie_secure.
	CookiePath   string
	CookieDomain string
	CookieSecure bool
	// CookieScriptAccess leaves out HttpOnly (session.cookie_httponly=0).
	// By default the cookie is HttpOnly.
	CookieScriptAccess bool
	// CookieSameSite is the SameSite attribute (default Lax).
	CookieSameSite http.SameSite
	// SIDLength and SIDBits are session.sid_length (default 32) and
	// session.sid_bits_per_character (4, 5 or 6; default 4): the form of
	// the ids made for new and regenerated sessions. Debian's php.ini says
	// 26 and 5; CodeIgniter 4.6 and later force 32 and 4.
	SIDLength, SIDBits int
	// IDPattern, if set, is a rule a cookie's id must match as well as
	// handlers.CheckID (CodeIgniter's, for instance: ^[0-9a-f]{32}$, see
	// IDPattern). A cookie that does not match is ignored, as PHP and
	// CodeIgniter ignore a malformed one, and a new session is started.
	IDPattern *regexp.Regexp
	// AdoptUnknownIDs makes a cookie whose session does not exist start a
	// session under that id, as PHP does with session.use_strict_mode=0.
	// By default (strict mode, as CodeIgniter forces it) such a session
	// gets a new id, which stops session fixation.
	AdoptUnknownIDs bool
	// Logger receives errors that cannot be returned: a failed write-back
	// after the handler returned. Session ids and data are never logged.
	// Default: slog.Default().
	Logger *slog.Logger
}

type ctxKey struct{}

// FromContext returns the session of the request whose context ctx is, or
// nil outside Middleware.
func FromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(ctxKey{}).(*Session)
	return s
}

// ErrNotCodeIgniter is returned by Flash and Temp for a store whose layout
// is not CodeIgniter's: no other PHP side reads __ci_vars.
var ErrNotCodeIgniter = errors.New("session: flashdata and tempdata need a CodeIgniter layout (ci3, ci4)")

// manager is what Middleware shares between requests: configuration only.
type manager struct {
	store   handlers.Store
	info    handlers.Info
	opts    Options
	log     *slog.Logger
	toucher handlers.Toucher
}

// Middleware returns middleware that gives every request a *Session backed
// by store (see FromContext). It panics if opts.SIDLength or opts.SIDBits
// are values PHP refuses.
func Middleware(store handlers.Store, opts Options) func(http.Handler) http.Handler {
	if opts.CookieName == "" {
		opts.CookieName = "PHPSESSID"
	}
	if opts.CookiePath == "" {
		opts.CookiePath = "/"
	}
	if opts.CookieSameSite == 0 {
		opts.CookieSameSite = http.SameSiteLaxMode
	}
	if opts.SIDLength == 0 {
		opts.SIDLength = DefaultSIDLength
	}
	if opts.SIDBits == 0 {
		opts.SIDBits = DefaultSIDBits
	}
	if err := CheckIDFormat(opts.SIDLength, opts.SIDBits); err != nil {
		panic("session.Middleware: " + err.Error())
	}
	m := &manager{store: store, info: store.Info(), opts: opts, log: opts.Logger}
	if m.log == nil {
		m.log = slog.Default()
	}
	m.toucher, _ = store.(handlers.Toucher)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := &Session{m: m, ctx: context.WithoutCancel(r.Context())}
			if c, err := r.Cookie(m.opts.CookieName); err == nil && m.validID(c.Value) {
				s.cookieID = c.Value
			}
			rw := &responseWriter{ResponseWriter: w, s: s}
			next.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), ctxKey{}, s)))
			if !rw.wrote {
				// the header goes out after we return: the session first
				rw.finish()
				return
			}
			if err := s.end(false); err != nil {
				m.log.Error("session: saving after the response was sent", "err", err, "sid", ShortID(s.idForLog()))
			}
		})
	}
}

// validID reports whether a cookie's id may be used.
func (m *manager) validID(id string) bool {
	if handlers.CheckID(id) != nil {
		return false
	}
	return m.opts.IDPattern == nil || m.opts.IDPattern.MatchString(id)
}

type state uint8

const (
	unloaded state = iota
	loaded
	failed
)

// Session is one request's view of a PHP session. Its methods are safe for
// concurrent use by the goroutines of one request.
type Session struct {
	m        *manager
	ctx      context.Context // the request's, for lazy loads
	mu       sync.Mutex
	state    state
	loadErr  error
	cookieID string // the valid id the client sent, if any
	id       string
	exists   bool // the session is in the store (as far as we know)
	data     *phpserialize.Array
	edit     Edit
	started  bool // Start was called: persist even if empty, as PHP does
	// the cookie: newID says the id is not the client's; expire asks to
	// remove the client's cookie (after Destroy); sent is the id whose
	// cookie went out with the header.
	newID, expire bool
	sent          string
	headerSent    bool
	touched       bool
}

// ShortID returns a short, one-way digest of a session id, to name a
// session in logs: ids are bearer credentials and must not be logged.
func ShortID(id string) string {
	if id == "" {
		return ""
	}
	return shortHash(id)
}

func (s *Session) idForLog() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// Start starts the session now instead of on first access, as PHP's
// session_start() does: it is read from the store (or a new one is made)
// and, even if nothing is set, it is written at the end of the request and
// a new session's cookie is sent.
func (s *Session) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(ctx); err != nil {
		return err
	}
	s.started = true
	return nil
}

// load reads the session once, under s.mu.
func (s *Session) load(ctx context.Context) error {
	switch s.state {
	case loaded:
		return nil
	case failed:
		return s.loadErr
	}
	err := s.read(ctx)
	if err != nil {
		s.state, s.loadErr = failed, err
		return err
	}
	s.state = loaded
	return nil
}

func (s *Session) read(ctx context.Context) error {
	h := s.m.info.Handler
	s.data = &phpserialize.Array{}
	s.edit = Edit{Layout: s.m.info.Layout}
	if id := s.cookieID; id != "" {
		rec, err := s.m.store.Read(ctx, id)
		switch {
		case err == nil:
			s.id, s.exists = id, true
			data, derr := phpserialize.DecodeSession(h, rec.Data)
			if derr != nil {
				// PHP destroys a session it cannot decode and starts an
				// empty one; the write-back replaces the bad payload.
				s.m.log.Warn("session: stored payload does not decode; starting empty, as PHP does", "sid", ShortID(id), "err", derr)
				s.started = true
				data = &phpserialize.Array{}
			}
			s.data = data
			if IsCodeIgniter(s.m.info.Layout) {
				s.edit.Age(s.data, time.Now())
				view := Edit{Layout: s.edit.Layout, ops: s.edit.ops}
				if err := view.Apply(h, s.data); err != nil {
					return fmt.Errorf("session: ageing CodeIgniter's flashdata: %w", err)
				}
			}
			return nil
		case errors.Is(err, handlers.ErrNotFound):
			if s.m.opts.AdoptUnknownIDs {
				s.id = id
				return nil
			}
		case errors.Is(err, handlers.ErrInvalidID):
			// the layout's own id rule: a new session, as CodeIgniter does
		default:
			return fmt.Errorf("session: reading session %s: %w", ShortID(id), err)
		}
	}
	return s.newSessionID(ctx)
}

// newSessionID gives the session a fresh id that is not in use, as PHP's
// create_sid does (three tries).
func (s *Session) newSessionID(ctx context.Context) error {
	for range 3 {
		id, err := NewID(s.m.opts.SIDLength, s.m.opts.SIDBits)
		if err != nil {
			return err
		}
		_, err = s.m.store.Read(ctx, id)
		if errors.Is(err, handlers.ErrNotFound) {
			s.id, s.exists, s.newID = id, false, true
			return nil
		}
		if err != nil {
			return fmt.Errorf("session: checking a new id: %w", err)
		}
	}
	return errors.New("session: three new ids in a row are taken")
}

// Err returns the error that stopped the session from loading, if any: Get
// and the other accessors without an error result report a session that
// could not be read as empty.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loadErr
}

// ID returns the session id, starting the session if needed ("" if it could
// not be read: see Err).
func (s *Session) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.load(s.ctx) != nil {
		return ""
	}
	return s.id
}

// key returns the key of variable name in this store's encoding.
func (s *Session) key(name string) phpserialize.Key { return VarKey(s.m.info.Handler, name) }

// Get returns the value of session variable key ($_SESSION[key]).
func (s *Session) Get(key string) (phpserialize.Value, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.load(s.ctx) != nil {
		return phpserialize.Value{}, false
	}
	return s.data.Get(s.key(key))
}

// All returns a copy of all the session's variables, in order.
func (s *Session) All() *phpserialize.Array {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.load(s.ctx) != nil {
		return &phpserialize.Array{}
	}
	return s.data.Clone()
}

// Unmarshal stores session variable key in v, a non-nil pointer, as
// phpserialize.Unmarshal does (struct tags `php:"name"`; PHP references are
// resolved across the whole session). A missing variable is an error
// wrapping handlers.ErrNotFound.
func (s *Session) Unmarshal(key string, v any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(s.ctx); err != nil {
		return err
	}
	val, ok := s.data.Get(s.key(key))
	if !ok {
		return fmt.Errorf("session variable %q: %w", key, handlers.ErrNotFound)
	}
	if !hasRefs(val) {
		return phpserialize.FromValue(val, v)
	}
	// References are numbered across the session: decode the whole
	// session into a struct that has this one variable.
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("session: Unmarshal needs a non-nil pointer, not %T", v)
	}
	if strings.ContainsAny(key, ",\"`\\") {
		return fmt.Errorf("session variable %q holds PHP references and has a name Unmarshal cannot resolve them under", key)
	}
	h := s.m.info.Handler
	payload, err := phpserialize.EncodeSession(h, s.data)
	if err != nil {
		return err
	}
	t := reflect.StructOf([]reflect.StructField{{Name: "V", Type: rv.Elem().Type(), Tag: reflect.StructTag(`php:"` + key + `"`)}})
	holder := reflect.New(t)
	if err := phpserialize.UnmarshalSession(h, payload, holder.Interface()); err != nil {
		return err
	}
	rv.Elem().Set(holder.Elem().Field(0))
	return nil
}

// Set sets session variable key to v ($_SESSION[key] = v), converting v as
// phpserialize.Marshal does (a phpserialize.Value is stored as it is).
func (s *Session) Set(key string, v any) error {
	return s.change(key, v, (*Edit).Set)
}

// Delete removes session variable key (unset($_SESSION[key])).
func (s *Session) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(s.ctx); err != nil {
		return err
	}
	k := s.key(key)
	if _, ok := s.data.Get(k); !ok {
		return nil
	}
	s.edit.Delete(k)
	s.data.Delete(k)
	return nil
}

// Flash sets key to v as CodeIgniter's set_flashdata does: the variable
// lives for the next request (CodeIgniter's, or Go's behind this
// middleware), then is removed. It needs a CodeIgniter layout.
func (s *Session) Flash(key string, v any) error {
	if !IsCodeIgniter(s.m.info.Layout) {
		return ErrNotCodeIgniter
	}
	return s.change(key, v, (*Edit).Flash)
}

// Temp sets key to v as CodeIgniter's set_tempdata does: the variable is
// removed by the first request that starts ttl (default 300 s if 0) from
// now or later. It needs a CodeIgniter layout.
func (s *Session) Temp(key string, v any, ttl time.Duration) error {
	if ttl <= 0 {
		ttl = DefaultTempTTL
	}
	if !IsCodeIgniter(s.m.info.Layout) {
		return ErrNotCodeIgniter
	}
	expires := time.Now().Add(ttl)
	return s.change(key, v, func(e *Edit, k phpserialize.Key, val phpserialize.Value) { e.Temp(k, val, expires) })
}

// change records one change and applies it to the session as seen by this
// request.
func (s *Session) change(key string, v any, rec func(*Edit, phpserialize.Key, phpserialize.Value)) error {
	val, err := phpserialize.ToValue(v)
	if err != nil {
		return fmt.Errorf("session variable %q: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(s.ctx); err != nil {
		return err
	}
	k := s.key(key)
	var one Edit
	one.Layout = s.edit.Layout
	rec(&one, k, val)
	if err := one.Apply(s.m.info.Handler, s.data); err != nil {
		return err
	}
	s.edit.ops = append(s.edit.ops, one.ops...)
	return nil
}

// Flashdata returns flashdata variable key, as CodeIgniter's
// get_flashdata(key): the variable if __ci_vars marks it as flashdata.
func (s *Session) Flashdata(key string) (phpserialize.Value, bool) {
	return s.marked(key, func(m phpserialize.Value) bool { return m.Kind() != phpserialize.KindInt })
}

// Tempdata returns tempdata variable key, as CodeIgniter's
// get_tempdata(key): the variable if __ci_vars marks it with an expiry
// time (expired ones were removed when the session started).
func (s *Session) Tempdata(key string) (phpserialize.Value, bool) {
	return s.marked(key, func(m phpserialize.Value) bool { return m.Kind() == phpserialize.KindInt })
}

func (s *Session) marked(key string, is func(phpserialize.Value) bool) (phpserialize.Value, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.load(s.ctx) != nil {
		return phpserialize.Value{}, false
	}
	k := s.key(key)
	m, ok := ciVars(s.data).Get(markKey(k))
	if !ok || !is(m) || !ciIsset(s.data, k) {
		return phpserialize.Value{}, false
	}
	return s.data.Lookup(k.String())
}

// Modified reports whether the session will be written: something was
// changed, or a new session was started.
func (s *Session) Modified() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.modified()
}

func (s *Session) modified() bool {
	return s.state == loaded && (s.edit.Len() > 0 || s.started && !s.exists)
}

// Save writes the session's changes now, under the PHP side's lock, as
// session_write_close() does; the session stays usable and later changes
// are saved again. It does nothing if nothing changed.
func (s *Session) Save(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == failed {
		return s.loadErr
	}
	if !s.modified() {
		return nil
	}
	return s.save(ctx)
}

// applyTo applies the edit to the stored session cur (nil: none, or one
// that does not decode, which PHP would replace) and returns the record to
// write, without its id, and the resulting session.
func (s *Session) applyTo(cur *handlers.Record) (*handlers.Record, *phpserialize.Array, error) {
	h := s.m.info.Handler
	rec := &handlers.Record{TTL: s.m.opts.Lifetime}
	base := &phpserialize.Array{}
	if cur != nil {
		rec.Meta = cur.Meta
		if d, err := phpserialize.DecodeSession(h, cur.Data); err == nil {
			base = d
		}
	}
	if err := s.edit.Apply(h, base); err != nil {
		return nil, nil, err
	}
	payload, err := phpserialize.EncodeSession(h, base)
	if err != nil {
		return nil, nil, err
	}
	rec.Data = payload
	return rec, base, nil
}

// save applies the edit to the stored session under its lock.
func (s *Session) save(ctx context.Context) error {
	err := Update(ctx, s.m.store, s.id, nil, func(cur *handlers.Record) (Action, *handlers.Record, error) {
		rec, _, err := s.applyTo(cur)
		if err != nil {
			return Keep, nil, err
		}
		rec.ID = s.id
		return Write, rec, nil
	})
	if err != nil {
		return fmt.Errorf("session: saving session %s: %w", ShortID(s.id), err)
	}
	s.edit.Reset()
	s.exists, s.touched = true, true
	return nil
}

// touch refreshes the expiry of an unchanged session, as PHP's
// update_timestamp does (or a rewrite of what is stored, for a store that
// cannot touch).
func (s *Session) touch(ctx context.Context) error {
	if s.m.toucher != nil {
		return s.m.toucher.Touch(ctx, s.id, s.m.opts.Lifetime)
	}
	return Update(ctx, s.m.store, s.id, nil, func(cur *handlers.Record) (Action, *handlers.Record, error) {
		if cur == nil {
			return Keep, nil, nil
		}
		rec := *cur
		rec.TTL = s.m.opts.Lifetime
		return Write, &rec, nil
	})
}

// Regenerate gives the session a new id, as session_regenerate_id does: the
// data (with this request's changes) moves to the new id, and the old
// session is destroyed if deleteOld, else left with a copy of the data
// (PHP's default, session_regenerate_id(false)). The new cookie is sent with
// the response header, so call it before writing the response.
func (s *Session) Regenerate(ctx context.Context, deleteOld bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(ctx); err != nil {
		return err
	}
	if !s.exists {
		// nothing stored yet: only the id changes
		return s.newSessionID(ctx)
	}
	old := s.id
	var moved *phpserialize.Array
	err := Update(ctx, s.m.store, old, nil, func(cur *handlers.Record) (Action, *handlers.Record, error) {
		rec, base, err := s.applyTo(cur)
		if err != nil {
			return Keep, nil, err
		}
		if err := s.newSessionID(ctx); err != nil {
			return Keep, nil, err
		}
		rec.ID = s.id
		if err := s.m.store.Write(ctx, rec); err != nil {
			s.id = old
			return Keep, nil, err
		}
		moved = base
		if deleteOld {
			return Destroy, nil, nil
		}
		keep := *rec
		keep.ID = old
		return Write, &keep, nil
	})
	if err != nil {
		return fmt.Errorf("session: regenerating session %s: %w", ShortID(old), err)
	}
	s.data, s.exists, s.newID = moved, true, true
	s.edit.Reset()
	return nil
}

// Destroy removes the session from the store and asks the browser to drop
// its cookie, as a logout does (session_destroy() and an expired cookie).
// The Session can be used again afterwards: a Set then starts a new session
// with a new id.
func (s *Session) Destroy(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.id
	if s.state != loaded {
		id = s.cookieID
	}
	if id != "" && (s.state != loaded || s.exists) {
		if err := s.m.store.Destroy(ctx, id); err != nil {
			return fmt.Errorf("session: destroying session %s: %w", ShortID(id), err)
		}
	}
	s.expire = s.cookieID != ""
	s.cookieID = ""
	s.state, s.loadErr, s.started, s.exists, s.touched = unloaded, nil, false, false, true
	s.data, s.edit = &phpserialize.Array{}, Edit{Layout: s.m.info.Layout}
	s.id, s.newID = "", false
	return nil
}

// end saves what changed, or refreshes the expiry of a session that was
// used but not changed. header says whether the response header is about
// to be sent (and the cookie with it).
func (s *Session) end(header bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != loaded {
		return nil
	}
	ctx := s.ctx
	if s.modified() {
		if s.newID && s.headerSent && s.sent != s.id {
			return fmt.Errorf("session: a new session was started after the response header was sent; its cookie could not be set, so it is not saved")
		}
		return s.save(ctx)
	}
	if s.exists && !s.touched {
		s.touched = true
		return s.touch(ctx)
	}
	return nil
}

// cookies adds the Set-Cookie header the session needs, as the response
// header is sent.
func (s *Session) cookies(h http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.headerSent = true
	o := s.m.opts
	c := &http.Cookie{
		Name:     o.CookieName,
		Path:     o.CookiePath,
		Domain:   o.CookieDomain,
		Secure:   o.CookieSecure,
		HttpOnly: !o.CookieScriptAccess,
		SameSite: o.CookieSameSite,
	}
	switch {
	case s.state == loaded && s.newID && s.exists:
		c.Value = s.id
		if o.CookieLifetime > 0 {
			c.MaxAge = int(o.CookieLifetime / time.Second)
			c.Expires = time.Now().Add(o.CookieLifetime)
		}
		s.sent = s.id
	case s.expire:
		c.MaxAge = -1
		c.Expires = time.Unix(1, 0)
	default:
		return
	}
	h.Add("Set-Cookie", c.String())
}

// responseWriter saves the session and adds its cookie just before the
// response header is sent.
type responseWriter struct {
	http.ResponseWriter
	s     *Session
	wrote bool
}

// finish saves the session and sets the cookie; once.
func (w *responseWriter) finish() {
	if w.wrote {
		return
	}
	w.wrote = true
	if err := w.s.end(true); err != nil {
		w.s.m.log.Error("session: saving before the response", "err", err, "sid", ShortID(w.s.idForLog()))
	}
	w.s.cookies(w.Header())
}

// WriteHeader saves the session, adds its cookie, then sends the header.
func (w *responseWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.finish()
	w.ResponseWriter.WriteHeader(code)
}

// Write sends the header first if needed, as http.ResponseWriter does.
func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends the header if needed, then flushes.
func (w *responseWriter) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
