package handlers

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/phpsess/phpsess/phpserialize"
)

// Schemes lists the URL schemes Open understands.
func Schemes() []string {
	return []string{"file", "redis", "rediss", "redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel", "memcached", "memcache", "mysql", "postgres", "postgresql", "sqlite", "mongodb"}
}

// Open opens the store a URL names. The scheme picks the backend, layout=
// the framework layout; see README.md for every backend's options. Unknown
// options are an error.
func Open(ctx context.Context, rawURL string) (Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store URL: %w", redactErr(err, rawURL))
	}
	o := newOptions(u)
	var s Store
	switch u.Scheme {
	case "file":
		s, err = openFiles(ctx, o)
	case "redis", "rediss":
		s, err = openRedis(ctx, o)
	case "redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel": // see redis_cluster.go
		s, err = openRedisMulti(ctx, o)
	case "memcached":
		s, err = openMemcached(ctx, o)
	case "memcache":
		s, err = openMemcache(ctx, o)
	case "mysql":
		s, err = openMySQL(ctx, o)
	case "postgres", "postgresql":
		s, err = openPostgres(ctx, o)
	case "sqlite": // dalmp layout: see dalmp.go
		s, err = openSQLite(ctx, o)
	case "mongodb": // phalcon layouts: see mongo.go
		s, err = openMongo(ctx, o)
	case "":
		return nil, fmt.Errorf("store URL %q has no scheme (want one of %s)", Redact(rawURL), strings.Join(Schemes(), ", "))
	default:
		return nil, fmt.Errorf("store URL: unknown scheme %q (want one of %s)", u.Scheme, strings.Join(Schemes(), ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", Redact(rawURL), err)
	}
	return s, nil
}

// Redact returns the URL with any password replaced by "xxxxx", for logs
// and errors.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func redactErr(err error, rawURL string) error {
	if ue, ok := err.(*url.Error); ok {
		return fmt.Errorf("%s: %v", Redact(rawURL), ue.Err)
	}
	return err
}

// options reads a store URL's query options and remembers which were used,
// so that an unknown (misspelled) option is an error, not silently ignored.
type options struct {
	URL  *url.URL
	q    url.Values
	used map[string]bool
	errs []string
}

func newOptions(u *url.URL) *options {
	o := &options{URL: u, used: map[string]bool{}}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		// u.Query() would silently drop the pair: lock=%zz must not mean lock=on
		o.errs = append(o.errs, fmt.Sprintf("malformed options %q: %v", u.RawQuery, err))
	}
	o.q = q
	return o
}

// Has reports whether the option was given.
func (o *options) Has(name string) bool {
	o.used[name] = true
	_, ok := o.q[name]
	return ok
}

// String returns the option's value, or def.
func (o *options) String(name, def string) string {
	o.used[name] = true
	if vs, ok := o.q[name]; ok {
		return vs[len(vs)-1]
	}
	return def
}

// OneOf returns the option's value, which must be one of choices, or def.
func (o *options) OneOf(name, def string, choices ...string) string {
	v := o.String(name, def)
	if !slices.Contains(choices, v) {
		o.errs = append(o.errs, fmt.Sprintf("%s=%q: want one of %s", name, v, strings.Join(choices, ", ")))
	}
	return v
}

// Bool returns the option as a bool (on/off, true/false, 1/0, yes/no), or def.
func (o *options) Bool(name string, def bool) bool {
	v := o.String(name, "")
	switch strings.ToLower(v) {
	case "":
		return def
	case "1", "on", "true", "yes":
		return true
	case "0", "off", "false", "no":
		return false
	}
	o.errs = append(o.errs, fmt.Sprintf("%s=%q: want on or off", name, v))
	return def
}

// Int returns the option as an int, or def.
func (o *options) Int(name string, def int) int {
	v := o.String(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		o.errs = append(o.errs, fmt.Sprintf("%s=%q: want an integer", name, v))
		return def
	}
	return n
}

// Duration returns the option as a duration: plain seconds ("1440", as in
// php.ini) or a Go duration ("24m", "1.5s"); or def.
func (o *options) Duration(name string, def time.Duration) time.Duration {
	v := o.String(name, "")
	if v == "" {
		return def
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 {
		return time.Duration(n * float64(time.Second))
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		o.errs = append(o.errs, fmt.Sprintf("%s=%q: want seconds or a duration such as 30m", name, v))
		return def
	}
	return d
}

// Err reports bad values and unknown options. Call it after reading every
// option the backend knows.
func (o *options) Err() error {
	var unknown []string
	for name := range o.q {
		if !o.used[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	errs := o.errs
	if len(unknown) > 0 {
		known := make([]string, 0, len(o.used))
		for name := range o.used {
			known = append(known, name)
		}
		sort.Strings(known)
		errs = append(errs, fmt.Sprintf("unknown option %s (%s URLs take: %s)", strings.Join(quoteAll(unknown), ", "), o.URL.Scheme, strings.Join(known, ", ")))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(errs, "; "))
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strconv.Quote(v)
	}
	return out
}

// common holds the options every backend takes.
type common struct {
	Layout      string
	Handler     phpserialize.Handler
	TTL         time.Duration
	Lock        bool
	LockTimeout time.Duration
}

// layoutDefaults are what the PHP side uses when the app does not say.
type layoutDefaults struct {
	TTL         time.Duration // session lifetime
	LockTimeout time.Duration // how long Go waits for the lock
}

// parseCommon reads layout=, handler=, ttl=, lock= and lock_timeout=.
// layouts maps each layout the backend speaks to its defaults; the first
// name in order is the default layout.
func parseCommon(o *options, order []string, layouts map[string]layoutDefaults) common {
	var c common
	c.Layout = o.OneOf("layout", order[0], order...)
	d := layouts[c.Layout]
	h := o.String("handler", "php")
	if _, err := phpserialize.ParseHandler(h); err != nil {
		o.errs = append(o.errs, fmt.Sprintf("handler=%q: want php, php_binary or php_serialize", h))
	}
	c.Handler = phpserialize.Handler(h)
	c.TTL = o.Duration("ttl", d.TTL)
	c.Lock = o.Bool("lock", true)
	c.LockTimeout = o.Duration("lock_timeout", d.LockTimeout)
	return c
}

// checkID rejects ids PHP itself would never accept (php_session_valid_key:
// 1 to 256 characters of [A-Za-z0-9,-]), before anything touches the store.
func checkID(id string) error {
	if id == "" || len(id) > 256 {
		return fmt.Errorf("%w %q: want 1 to 256 characters", ErrInvalidID, truncateID(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ',' || c == '-') {
			return fmt.Errorf("%w %q: character %q at %d is not one of [A-Za-z0-9,-]", ErrInvalidID, truncateID(id), c, i)
		}
	}
	return nil
}

// CheckID reports whether id is a session id PHP could have made: 1 to 256
// characters of [A-Za-z0-9,-]. Stores check ids themselves; this is for
// callers that want to reject bad ids early.
func CheckID(id string) error { return checkID(id) }

func truncateID(id string) string {
	if len(id) > 64 {
		return id[:64] + "..."
	}
	return id
}
