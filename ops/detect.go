package ops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/phpsess/phpsess/phpserialize"
)

// DetectOptions say where Detect reads the PHP side's configuration.
type DetectOptions struct {
	// PHPIni is a php.ini (or PHP-FPM pool) file to read.
	PHPIni string
	// PHPBinary, if set, is run as "PHPBinary -i" (with -c PHPIni when
	// PHPIni is set) for PHP's full view of its settings.
	PHPBinary string
	// AppDir is the root of a CodeIgniter 3 application (holding
	// application/config/config.php) or CodeIgniter 4 one (holding
	// app/Config/Session.php and maybe .env). Empty: PHP's own session
	// handler, from the ini settings alone.
	AppDir string
}

// Detection is what Detect found: the store URL, and for each part of it
// the setting it comes from.
type Detection struct {
	URL string `json:"url"`
	// Parts explains the URL, part by part.
	Parts []Part `json:"parts"`
	// Notes are what could not be determined, and what was assumed.
	Notes []string `json:"notes,omitempty"`
	// Sources are the files read and commands run.
	Sources []string `json:"sources"`
}

// Part is one part of a detected URL and where it comes from.
type Part struct {
	Part string `json:"part"`
	From string `json:"from"`
}

// ErrUndetermined is wrapped by Detect's error when the configuration does
// not say enough to build a URL, or names a store phpsess cannot open.
var ErrUndetermined = errors.New("cannot determine the session store")

// Detect reads the PHP side's configuration, as data (the application's PHP
// code is never run), and returns the URL of the store its sessions are
// in. The error wraps ErrUndetermined when the configuration does not say
// enough; the Detection it returns then (when not nil) holds what was read.
func Detect(ctx context.Context, opt DetectOptions) (*Detection, error) {
	d := &detector{det: &Detection{}}
	switch {
	case opt.PHPBinary != "":
		ini, err := PHPInfo(ctx, opt.PHPBinary, opt.PHPIni)
		if err != nil {
			return nil, err
		}
		d.ini = ini
	case opt.PHPIni != "":
		data, err := os.ReadFile(opt.PHPIni)
		if err != nil {
			return nil, err
		}
		d.ini = ParsePHPIni(data, opt.PHPIni)
	}
	if d.ini != nil {
		d.det.Sources = append(d.det.Sources, d.ini.Source)
	} else {
		d.note("no php.ini or php -i given: PHP's built-in defaults assumed for session.* settings")
	}
	var err error
	if opt.AppDir == "" {
		err = d.native()
	} else {
		err = d.app(opt.AppDir)
	}
	if err != nil {
		return d.det, fmt.Errorf("%w: %v", ErrUndetermined, err)
	}
	return d.det, nil
}

// detector builds one Detection.
type detector struct {
	det   *Detection
	ini   *INI
	host  string // scheme://user:pass@host:port
	path  string // /dir or /db
	query []Part // name=value parts, in order
	parts []Part // explanations of host and path

	prefixGiven bool // a save_path prefix= (CodeIgniter Redis)
}

func (d *detector) note(format string, args ...any) {
	d.det.Notes = append(d.det.Notes, fmt.Sprintf(format, args...))
}

// explain adds the explanation of a part that is not a query option.
func (d *detector) explain(part, from string) { d.parts = append(d.parts, Part{part, from}) }

// opt adds name=value to the query, explained.
func (d *detector) opt(name, value, from string) {
	d.query = append(d.query, Part{name + "=" + value, from})
}

// setting returns an ini setting, its default, and where it came from.
func (d *detector) setting(name, def string) (string, string) {
	if v, ok := d.ini.Get(name); ok {
		return v, fmt.Sprintf("%s = %q (%s)", name, v, d.ini.Source)
	}
	return def, fmt.Sprintf("%s = %q (PHP's default)", name, def)
}

// finish assembles the URL.
func (d *detector) finish() {
	var q []string
	for _, p := range d.query {
		name, val, _ := strings.Cut(p.Part, "=")
		q = append(q, url.QueryEscape(name)+"="+url.QueryEscape(val))
	}
	u := d.host + d.path
	if len(q) > 0 {
		u += "?" + strings.Join(q, "&")
	}
	d.det.URL = u
	d.det.Parts = append(d.parts, d.query...)
}

// handler sets handler= from session.serialize_handler.
func (d *detector) handler() error {
	h, from := d.setting("session.serialize_handler", "php")
	if _, err := phpserialize.ParseHandler(h); err != nil {
		return fmt.Errorf("%s: phpsess reads the php, php_binary and php_serialize encodings only", from)
	}
	if h != "php" {
		d.opt("handler", h, from)
	} else {
		d.note("handler=php (the default, left out of the URL): %s", from)
	}
	return nil
}

// ttl sets ttl= from session.gc_maxlifetime.
func (d *detector) ttlFromIni() {
	v, from := d.setting("session.gc_maxlifetime", "1440")
	d.opt("ttl", v, from)
}

// ------------------------------------------------------ native handlers --

func (d *detector) native() error {
	sh, shFrom := d.setting("session.save_handler", "files")
	sp, spFrom := d.setting("session.save_path", "")
	switch sh {
	case "files":
		if err := d.nativeFiles(sp, spFrom, shFrom); err != nil {
			return err
		}
	case "redis":
		if err := d.nativeRedis(sp, spFrom, shFrom); err != nil {
			return err
		}
	case "memcached":
		if err := d.nativeMemcached(sp, spFrom, shFrom); err != nil {
			return err
		}
	case "memcache":
		if err := d.nativeMemcache(sp, spFrom, shFrom); err != nil {
			return err
		}
	case "user":
		return fmt.Errorf("%s: the handler is PHP code (session_set_save_handler); if the app is CodeIgniter, give its directory", shFrom)
	case "rediscluster":
		return fmt.Errorf("%s: Redis Cluster is not supported yet", shFrom)
	default:
		return fmt.Errorf("%s: phpsess knows the files, redis, memcached and memcache handlers", shFrom)
	}
	if err := d.handler(); err != nil {
		return err
	}
	if name, from := d.setting("session.name", "PHPSESSID"); name != "" {
		d.note("the session id is the %s cookie (%s)", name, from)
	}
	d.finish()
	return nil
}

func (d *detector) nativeFiles(sp, spFrom, shFrom string) error {
	parts := strings.Split(sp, ";")
	dir := parts[len(parts)-1]
	var depth, mode string
	switch len(parts) {
	case 2:
		depth = parts[0]
	case 3:
		depth, mode = parts[0], parts[1]
	}
	if dir == "" {
		dir = os.TempDir()
		d.note("session.save_path is empty: PHP uses its temporary directory, assumed %s (sys_temp_dir or TMPDIR may say otherwise)", dir)
	}
	d.host = "file://"
	d.path = (&url.URL{Path: dir}).EscapedPath()
	d.explain("file://"+dir, "PHP's files handler ("+shFrom+"), directory from "+spFrom)
	if n, _ := strconv.Atoi(strings.TrimSpace(depth)); n > 0 {
		d.opt("depth", strconv.Itoa(n), "the N of \"N;MODE;/dir\" in "+spFrom+": files in N levels of subdirectories")
	}
	if m := strings.TrimSpace(mode); m != "" && m != "600" && m != "0600" {
		d.opt("mode", m, "the MODE of \"N;MODE;/dir\" in "+spFrom)
	}
	d.ttlFromIni()
	if os.Geteuid() == 0 {
		d.note("files written by phpsess running as root belong to the owner of the directory; add owner=USER (www-data) if that is root")
	}
	return nil
}

// phpRedisURL parses one server of phpredis' save_path (tcp://, tls://
// or host:port) and returns it with the store scheme it needs.
func phpRedisURL(raw, spFrom string) (*url.URL, string, error) {
	if !strings.Contains(raw, "://") {
		raw = "tcp://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %v", spFrom, err)
	}
	switch u.Scheme {
	case "tcp":
		return u, "redis", nil
	case "tls", "ssl":
		return u, "rediss", nil
	case "unix", "file":
		return nil, "", fmt.Errorf("%s: a unix socket; phpsess connects to Redis over TCP only", spFrom)
	}
	return nil, "", fmt.Errorf("%s: scheme %q: want tcp://, tls:// or host:port", spFrom, u.Scheme)
}

// phpURLs splits a save_path list: URLs separated by commas or whitespace.
func phpURLs(sp string) []string {
	return strings.FieldsFunc(sp, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

func (d *detector) nativeRedis(sp, spFrom, shFrom string) error {
	list := phpURLs(sp)
	if len(list) == 0 {
		return fmt.Errorf("%s is empty: phpredis needs a server", spFrom)
	}
	// Every server, in save_path order with its weight: phpredis puts each
	// session on one of them, and the store picks it the same way.
	var scheme string
	var u *url.URL
	hosts := make([]string, len(list))
	for i, raw := range list {
		su, sch, err := phpRedisURL(raw, spFrom)
		if err != nil {
			return err
		}
		if i == 0 {
			u, scheme = su, sch
		} else if sch != scheme {
			return fmt.Errorf("%s: mixes TLS and plain servers; phpsess speaks one to all", spFrom)
		}
		port := su.Port()
		if port == "" {
			port = "6379"
		}
		hosts[i] = net.JoinHostPort(su.Hostname(), port)
		if w := su.Query().Get("weight"); len(list) > 1 && w != "" && w != "1" {
			hosts[i] += ":" + w
		}
	}
	if len(list) > 1 {
		d.note("session.save_path lists %d servers: each session is on the one phpredis picks from its id and the weights; the server list keeps their order. Authentication, database and prefix are taken from the first", len(list))
	}
	q := u.Query()
	user, pass := q.Get("auth"), ""
	if vs := q["auth[]"]; len(vs) == 2 {
		user, pass = vs[0], vs[1]
	} else if q.Get("auth[pass]") != "" {
		user, pass = q.Get("auth[user]"), q.Get("auth[pass]")
	} else {
		user, pass = "", user
	}
	d.redisHost(scheme, strings.Join(hosts, ","), user, pass, "phpredis ("+shFrom+"), servers from "+spFrom)
	if db := q.Get("database"); db != "" && db != "-1" && db != "0" {
		d.path = "/" + db
		d.explain("/"+db, "database="+db+" in session.save_path")
	}
	if p := q.Get("prefix"); p != "" {
		d.opt("prefix", p, "prefix="+p+" in session.save_path")
	}
	for _, ignored := range []string{"timeout", "read_timeout", "persistent", "persistent_id", "retry_interval"} {
		if q.Has(ignored) {
			d.note("%s= in session.save_path does not change where sessions are: left out", ignored)
		}
	}
	d.ttlFromIni()
	if v, from := d.setting("redis.session.locking_enabled", ""); phpTruthy(v) {
		d.opt("lock", "on", from)
		if len(list) > 1 {
			d.note("locking with several servers: phpredis releases its lock on the server of the prefixed key, not the session's, so locks on the other servers stay until they expire; turn redis.session.locking_enabled off")
		}
		if e, efrom := d.setting("redis.session.lock_expire", "0"); e != "" && e != "0" {
			d.opt("lock_expire", e, efrom)
		}
	} else {
		d.note("lock off, as phpredis: %s", from)
	}
	if c, from := d.setting("redis.session.compression", "none"); c != "" && c != "none" {
		d.opt("compression", c, from)
	}
	return nil
}

// redisHost sets the store URL: hosts is host:port[,host:port[:weight]...].
func (d *detector) redisHost(scheme, hosts, user, pass, from string) {
	u := url.URL{Scheme: scheme, Host: hosts}
	if pass != "" {
		u.User = url.UserPassword(user, pass)
		d.note("the URL holds the Redis password from the configuration: keep it out of shell history and logs")
	}
	d.host = u.String()
	shown := u.Redacted()
	d.explain(shown, from)
}

func (d *detector) nativeMemcached(sp, spFrom, shFrom string) error {
	var hosts []string
	for _, s := range phpURLs(sp) {
		if strings.HasPrefix(strings.ToUpper(s), "PERSISTENT=") {
			continue
		}
		hosts = append(hosts, memcachedHost(s))
	}
	if len(hosts) == 0 {
		return fmt.Errorf("%s is empty: php-memcached needs a server", spFrom)
	}
	d.host = "memcached://" + strings.Join(hosts, ",")
	d.explain(d.host, "php-memcached ("+shFrom+"), servers from "+spFrom)
	if p, from := d.setting("memcached.sess_prefix", "memc.sess.key."); p != "memc.sess.key." {
		d.opt("prefix", p, from)
	}
	d.ttlFromIni()
	if v, from := d.setting("memcached.sess_locking", "1"); !phpTruthy(v) {
		d.opt("lock", "off", from)
	}
	if e, from := d.setting("memcached.sess_lock_expire", "0"); e != "" && e != "0" {
		d.opt("lock_expire", e, from)
	}
	return nil
}

// memcachedHost turns host:port[:weight] into host:port.
func memcachedHost(s string) string {
	s = strings.TrimPrefix(s, "tcp://")
	if strings.HasPrefix(s, "/") {
		return s
	}
	if h, p, err := net.SplitHostPort(s); err == nil {
		return net.JoinHostPort(h, p)
	}
	parts := strings.Split(s, ":")
	if len(parts) == 3 { // host:port:weight
		return parts[0] + ":" + parts[1]
	}
	return s
}

func (d *detector) nativeMemcache(sp, spFrom, shFrom string) error {
	if msp, from := d.setting("memcache.session_save_path", ""); msp != "" {
		sp, spFrom = msp, from
	}
	var hosts []string
	for _, s := range phpURLs(sp) {
		if !strings.Contains(s, "://") {
			s = "tcp://" + s
		}
		u, err := url.Parse(s)
		if err != nil {
			return fmt.Errorf("%s: %v", spFrom, err)
		}
		if u.Scheme == "unix" {
			return fmt.Errorf("%s: a unix socket; phpsess connects to memcached over TCP here", spFrom)
		}
		port := u.Port()
		if port == "" {
			port = "11211"
		}
		hosts = append(hosts, net.JoinHostPort(u.Hostname(), port))
	}
	if len(hosts) == 0 {
		return fmt.Errorf("%s is empty: pecl memcache needs a server", spFrom)
	}
	d.host = "memcache://" + strings.Join(hosts, ",")
	d.explain(d.host, "pecl memcache ("+shFrom+"), servers from "+spFrom)
	if p, from := d.setting("memcache.session_prefix_static_key", ""); p != "" {
		d.opt("prefix", p, from)
	}
	if v, from := d.setting("memcache.session_prefix_host_key", ""); phpTruthy(v) {
		d.note("%s: the key prefix holds the request's host name, which phpsess cannot know: add it to prefix=", from)
	}
	d.ttlFromIni()
	if e, from := d.setting("memcache.lock_timeout", "15"); e != "" && e != "15" {
		d.opt("lock_expire", e, from)
	}
	return nil
}

// ----------------------------------------------------------- CodeIgniter --

func (d *detector) app(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for _, cand := range []struct{ ci3, root string }{
		{filepath.Join(abs, "application", "config", "config.php"), abs},
		{filepath.Join(abs, "config", "config.php"), filepath.Dir(abs)},
	} {
		if _, err := os.Stat(cand.ci3); err == nil {
			return d.ci3(cand.root, filepath.Dir(filepath.Dir(cand.ci3)))
		}
	}
	if _, err := os.Stat(filepath.Join(abs, "app", "Config")); err == nil {
		return d.ci4(abs)
	}
	return fmt.Errorf("no CodeIgniter configuration in %s (looked for application/config/config.php and app/Config/Session.php)", dir)
}

func (d *detector) readConfig(file string, consts map[string]string) (*phpConfig, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	d.det.Sources = append(d.det.Sources, file)
	return parsePHPConfig(string(src), file, consts), nil
}

// ciSetting is one CodeIgniter setting as read: the value, and where from.
type ciSetting struct {
	v    any
	from string
	set  bool
}

func (s ciSetting) str() string {
	v, _ := scalarString(s.v)
	return v
}

// ci3 reads a CodeIgniter 3 application: root holds index.php, appDir is
// its application directory.
func (d *detector) ci3(root, appDir string) error {
	consts := map[string]string{
		"FCPATH": root + "/", "APPPATH": appDir + "/", "BASEPATH": filepath.Join(root, "system") + "/",
		"VIEWPATH": filepath.Join(appDir, "views") + "/", "SELF": "index.php", "ENVIRONMENT": "production",
	}
	file := filepath.Join(appDir, "config", "config.php")
	cfg, err := d.readConfig(file, consts)
	if err != nil {
		return err
	}
	rel := relTo(root, file)
	get := func(key string) ciSetting {
		v, ok := cfg.lookup("config", key)
		s := ciSetting{v: v, set: ok, from: fmt.Sprintf("$config['%s'] = %s (%s)", key, describe(v), rel)}
		if !ok {
			s.from = fmt.Sprintf("$config['%s'] not set (%s)", key, rel)
		}
		return s
	}
	driver := get("sess_driver")
	if !driver.set {
		driver = ciSetting{v: "files", from: "$config['sess_driver'] not set: CodeIgniter 3's default, files", set: true}
	}
	if u, ok := driver.v.(unknownExpr); ok {
		return fmt.Errorf("$config['sess_driver'] = %s: not a literal, phpsess does not run PHP code", u.src)
	}
	cookie := get("sess_cookie_name")
	if !cookie.set || cookie.str() == "" {
		cookie = ciSetting{v: "ci_session", from: "sess_cookie_name: CodeIgniter's default, ci_session"}
	}
	exp := get("sess_expiration")
	savePath := get("sess_save_path")
	matchIP := get("sess_match_ip")
	d.note("the session id is the %s cookie (%s)", cookie.str(), cookie.from)
	switch drv := driver.str(); drv {
	case "files":
		dir := savePath.str()
		from := savePath.from
		if dir == "" {
			dir, from = d.setting("session.save_path", "")
			if dir == "" {
				return fmt.Errorf("%s and session.save_path is empty: CodeIgniter 3's files driver needs a directory", savePath.from)
			}
		}
		if _, isUnknown := savePath.v.(unknownExpr); isUnknown {
			return fmt.Errorf("%s: not a literal, phpsess does not run PHP code; give the directory in a URL: file:///DIR?layout=ci3", savePath.from)
		}
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(root, dir)
			from += ", relative to " + root + " (index.php's directory)"
		}
		d.host, d.path = "file://", (&url.URL{Path: filepath.Clean(dir)}).EscapedPath()
		d.explain("file://"+filepath.Clean(dir), "CodeIgniter 3 files driver ("+driver.from+"), directory from "+from)
		d.ciCommon("ci3", cookie, exp, matchIP, "file")
		d.ciSID()
	case "redis":
		if err := d.ciRedis("ci3", savePath, driver, cookie, exp, matchIP); err != nil {
			return err
		}
	case "memcached":
		if err := d.ciMemcached("ci3", savePath, driver, cookie, exp, matchIP); err != nil {
			return err
		}
	case "database":
		dbFile := filepath.Join(appDir, "config", "database.php")
		db, err := d.readConfig(dbFile, consts)
		if err != nil {
			return fmt.Errorf("the database driver's connection is in %s: %v", dbFile, err)
		}
		group := "default"
		gfrom := "$active_group not set: default"
		if g, ok := db.lookup("active_group"); ok {
			group, _ = scalarString(g)
			gfrom = fmt.Sprintf("$active_group = %s (%s)", describe(g), relTo(root, dbFile))
		}
		conn := func(k string) (string, string) {
			v, ok := db.lookup("db", group, k)
			if !ok {
				return "", fmt.Sprintf("$db['%s']['%s'] not set (%s)", group, k, relTo(root, dbFile))
			}
			s, _ := scalarString(v)
			return s, fmt.Sprintf("$db['%s']['%s'] = %s (%s)", group, k, describe(v), relTo(root, dbFile))
		}
		if err := d.ciDatabase("ci3", conn, gfrom, driver, savePath, cookie, exp, matchIP, "dbdriver", "dsn"); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%s: phpsess knows the files, database, redis and memcached drivers", driver.from)
	}
	if err := d.handler(); err != nil {
		return err
	}
	d.finish()
	return nil
}

// ciCommon adds layout=, cookie=, ttl= and match_ip=.
func (d *detector) ciCommon(layout string, cookie, exp, matchIP ciSetting, backend string) {
	d.query = append([]Part{{"layout=" + layout, "CodeIgniter " + layout[2:]}}, d.query...)
	// CodeIgniter 3 keeps the cookie name in file names only; CodeIgniter 4
	// in keys and ids too, unless a save_path prefix= replaces it.
	takesCookie := (backend == "file" || layout == "ci4") && !d.prefixGiven
	if c := cookie.str(); c != "ci_session" && takesCookie {
		d.opt("cookie", c, cookie.from)
	}
	d.ciTTL(layout, exp, backend)
	if phpTruthy(matchIP.v) {
		if backend == "memcached" {
			d.note("%s: CodeIgniter puts the client IP in memcached keys; add match_ip=ADDRESS (one client's address) to the URL", matchIP.from)
		} else {
			d.opt("match_ip", "on", matchIP.from)
			d.note("match_ip is on: sessions are keyed by client IP; add ip=ADDRESS to read one client's sessions")
		}
	}
}

// ciTTL sets ttl= from the expiration setting (0 or unset: gc_maxlifetime;
// CodeIgniter 4's memcached handler keeps 0: never expire).
func (d *detector) ciTTL(layout string, exp ciSetting, backend string) {
	n := int64(7200)
	from := "expiration not set: CodeIgniter's default, 7200"
	if exp.set {
		s, _ := scalarString(exp.v)
		if v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
			n, from = v, exp.from
		} else {
			d.note("%s: not a number; CodeIgniter's default 7200 assumed", exp.from)
		}
	}
	if n == 0 {
		if layout == "ci4" && backend == "memcached" {
			d.opt("ttl", "0", from+": CodeIgniter 4's memcached handler keeps items forever")
			return
		}
		v, gfrom := d.setting("session.gc_maxlifetime", "1440")
		d.opt("ttl", v, from+": session.gc_maxlifetime is used, "+gfrom)
		return
	}
	d.opt("ttl", strconv.FormatInt(n, 10), from)
}

// ciSID passes PHP's session id settings to a CodeIgniter 3 files layout,
// whose id rule they make.
func (d *detector) ciSID() {
	l, lfrom := d.setting("session.sid_length", "32")
	b, bfrom := d.setting("session.sid_bits_per_character", "4")
	if d.ini == nil {
		d.note("session.sid_length and sid_bits_per_character unknown (no php.ini): the layout's default (26 and 5, as php.ini-production) assumed")
		return
	}
	if l != "26" {
		d.opt("sid_length", l, lfrom)
	}
	if b != "5" {
		d.opt("sid_bits_per_character", b, bfrom)
	}
}

// ciRedisSavePath matches CodeIgniter's Redis save_path, as CodeIgniter 3 reads it.
var ciRedisSavePath = regexp.MustCompile(`^(?:(tcp|tls)://)?([^:?/]+)(?::(\d+))?(\?.+)?$`)

func (d *detector) ciRedis(layout string, savePath, driver, cookie, exp, matchIP ciSetting) error {
	sp := savePath.str()
	m := ciRedisSavePath.FindStringSubmatch(sp)
	if m == nil {
		return fmt.Errorf("%s: want tcp://HOST:PORT?auth=...&database=...&prefix=... (unix sockets are not supported)", savePath.from)
	}
	q, _ := url.ParseQuery(strings.TrimPrefix(m[4], "?"))
	if layout == "ci3" {
		// CodeIgniter 3 reads the query by regexp, without URL decoding.
		q = url.Values{}
		for _, kv := range strings.Split(strings.TrimPrefix(m[4], "?"), "&") {
			k, v, _ := strings.Cut(kv, "=")
			q.Set(k, v)
		}
	}
	scheme := "redis"
	if m[1] == "tls" {
		scheme = "rediss"
	}
	user, pass := "", q.Get("auth")
	if q.Get("auth[pass]") != "" {
		user, pass = q.Get("auth[user]"), q.Get("auth[pass]")
	}
	port := m[3]
	if port == "" {
		port = "6379"
	}
	d.redisHost(scheme, net.JoinHostPort(m[2], port), user, pass, "CodeIgniter "+layout[2:]+" Redis driver ("+driver.from+"), server from "+savePath.from)
	if db := q.Get("database"); db != "" && db != "0" {
		d.path = "/" + db
		d.explain("/"+db, "database="+db+" in the save path")
	}
	if p := q.Get("prefix"); p != "" {
		d.opt("prefix", p, "prefix="+p+" in the save path")
		d.prefixGiven = true
	}
	d.ciCommon(layout, cookie, exp, matchIP, "redis")
	return nil
}

func (d *detector) ciMemcached(layout string, savePath, driver, cookie, exp, matchIP ciSetting) error {
	var hosts []string
	for _, s := range strings.Split(savePath.str(), ",") {
		if s = strings.TrimSpace(s); s != "" {
			hosts = append(hosts, memcachedHost(s))
		}
	}
	if len(hosts) == 0 {
		return fmt.Errorf("%s: want HOST:PORT[:WEIGHT],...", savePath.from)
	}
	d.host = "memcached://" + strings.Join(hosts, ",")
	d.explain(d.host, "CodeIgniter "+layout[2:]+" Memcached driver ("+driver.from+"), servers from "+savePath.from)
	d.ciCommon(layout, cookie, exp, matchIP, "memcached")
	return nil
}

// ciDatabase builds a mysql:// or postgres:// URL from a connection group.
func (d *detector) ciDatabase(layout string, conn func(string) (string, string), gfrom string, driver, table, cookie, exp, matchIP ciSetting, driverKey, dsnKey string) error {
	dbdriver, dfrom := conn(driverKey)
	host, hfrom := conn("hostname")
	user, _ := conn("username")
	pass, _ := conn("password")
	name, nfrom := conn("database")
	port, pfrom := conn("port")
	dsn, dsnFrom := conn(dsnKey)
	if dsn != "" {
		// pdo DSN: mysql:host=...;port=...;dbname=...
		kind, rest, _ := strings.Cut(dsn, ":")
		for _, kv := range strings.Split(rest, ";") {
			k, v, _ := strings.Cut(kv, "=")
			switch strings.TrimSpace(k) {
			case "host":
				host, hfrom = v, dsnFrom
			case "port":
				port, pfrom = v, dsnFrom
			case "dbname":
				name, nfrom = v, dsnFrom
			}
		}
		if dbdriver == "" || strings.EqualFold(dbdriver, "pdo") {
			dbdriver, dfrom = kind, dsnFrom
		}
	}
	scheme := ""
	switch strings.ToLower(dbdriver) {
	case "mysqli", "mysql", "pdo_mysql":
		scheme = "mysql"
	case "postgre", "pgsql", "postgres", "pdo_pgsql":
		scheme = "postgres"
	default:
		return fmt.Errorf("%s: phpsess knows MySQL and PostgreSQL session tables", dfrom)
	}
	if host == "" {
		return fmt.Errorf("%s: no database host", hfrom)
	}
	if host == "localhost" && scheme == "mysql" {
		d.note("hostname localhost: PHP's mysqli connects through the unix socket, phpsess over TCP to localhost:3306")
	}
	u := url.URL{Scheme: scheme, Host: host, Path: "/" + name}
	if port != "" && port != "0" {
		u.Host = net.JoinHostPort(host, port)
	}
	switch {
	case pass != "":
		u.User = url.UserPassword(user, pass)
		d.note("the URL holds the database password from the configuration: keep it out of shell history and logs")
	case user != "":
		u.User = url.User(user)
	}
	d.host = strings.TrimSuffix((&url.URL{Scheme: scheme, User: u.User, Host: u.Host}).String(), "/")
	d.path = u.EscapedPath()
	d.explain(u.Redacted(), fmt.Sprintf("CodeIgniter %s database driver (%s); connection group %s: %s, %s, %s", layout[2:], driver.from, gfrom, dfrom, hfrom, pfrom))
	d.explain("/"+name, nfrom)
	t := table.str()
	if t == "" {
		t = "ci_sessions"
		d.note("%s: the table name is empty, ci_sessions assumed", table.from)
	}
	d.opt("table", t, table.from+" (the table)")
	d.ciCommon(layout, cookie, exp, matchIP, scheme)
	return nil
}

// ci4 reads a CodeIgniter 4 application rooted at root.
func (d *detector) ci4(root string) error {
	writable := filepath.Join(root, "writable")
	consts := map[string]string{"ROOTPATH": root + "/", "APPPATH": filepath.Join(root, "app") + "/",
		"FCPATH": filepath.Join(root, "public") + "/", "SYSTEMPATH": filepath.Join(root, "vendor", "codeigniter4", "framework", "system") + "/"}
	if paths, err := d.readConfig(filepath.Join(root, "app", "Config", "Paths.php"), consts); err == nil {
		if w, ok := paths.lookup("writableDirectory"); ok {
			if s, isStr := w.(string); isStr {
				writable = filepath.Clean(s)
			}
		}
	}
	consts["WRITEPATH"] = writable + "/"
	env := map[string]string{}
	if data, err := os.ReadFile(filepath.Join(root, ".env")); err == nil {
		env = ParseDotEnv(data)
		d.det.Sources = append(d.det.Sources, filepath.Join(root, ".env"))
	}
	var get func(string) ciSetting
	file := filepath.Join(root, "app", "Config", "Session.php")
	if cfg, err := d.readConfig(file, consts); err == nil {
		rel := relTo(root, file)
		get = func(prop string) ciSetting {
			for _, k := range []string{"session." + prop, `Config\Session.` + prop} {
				if v, ok := env[k]; ok {
					return ciSetting{v: v, set: true, from: fmt.Sprintf("%s = %q (.env)", k, v)}
				}
			}
			v, ok := cfg.lookup(prop)
			if !ok {
				return ciSetting{from: fmt.Sprintf("Config\\Session::$%s not set (%s)", prop, rel)}
			}
			return ciSetting{v: v, set: true, from: fmt.Sprintf("Config\\Session::$%s = %s (%s)", prop, describe(v), rel)}
		}
	} else {
		// CodeIgniter 4 before 4.3: Config\App::$session* properties.
		file = filepath.Join(root, "app", "Config", "App.php")
		cfg, err := d.readConfig(file, consts)
		if err != nil {
			return fmt.Errorf("neither app/Config/Session.php nor app/Config/App.php: %v", err)
		}
		rel := relTo(root, file)
		get = func(prop string) ciSetting {
			name := "session" + strings.ToUpper(prop[:1]) + prop[1:]
			if prop == "matchIP" {
				name = "sessionMatchIP"
			}
			for _, k := range []string{"app." + name, `Config\App.` + name} {
				if v, ok := env[k]; ok {
					return ciSetting{v: v, set: true, from: fmt.Sprintf("%s = %q (.env)", k, v)}
				}
			}
			v, ok := cfg.lookup(name)
			if !ok {
				return ciSetting{from: fmt.Sprintf("Config\\App::$%s not set (%s)", name, rel)}
			}
			return ciSetting{v: v, set: true, from: fmt.Sprintf("Config\\App::$%s = %s (%s)", name, describe(v), rel)}
		}
	}
	driver := get("driver")
	if !driver.set {
		driver = ciSetting{v: "FileHandler", set: true, from: "driver not set: CodeIgniter 4's default, FileHandler"}
	}
	if u, ok := driver.v.(unknownExpr); ok {
		return fmt.Errorf("%s: not a literal, phpsess does not run PHP code", u.src)
	}
	cookie := get("cookieName")
	if !cookie.set || cookie.str() == "" {
		cookie = ciSetting{v: "ci_session", from: "cookieName: CodeIgniter's default, ci_session"}
	}
	exp, savePath, matchIP := get("expiration"), get("savePath"), get("matchIP")
	if s, ok := matchIP.v.(string); ok { // from .env
		matchIP.v = s == "true" || s == "1"
	}
	d.note("the session id is the %s cookie (%s)", cookie.str(), cookie.from)
	cls := driver.str()
	if i := strings.LastIndexByte(cls, '\\'); i >= 0 {
		cls = cls[i+1:]
	}
	switch cls {
	case "FileHandler":
		dir := savePath.str()
		from := savePath.from
		if _, isUnknown := savePath.v.(unknownExpr); isUnknown {
			return fmt.Errorf("%s: not a literal, phpsess does not run PHP code; give the directory in a URL: file:///DIR?layout=ci4", savePath.from)
		}
		if dir == "" {
			if dir, from = d.setting("session.save_path", ""); dir == "" {
				dir, from = filepath.Join(writable, "session"), "savePath empty: WRITEPATH/session"
			}
		}
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(root, "public", dir)
			from += ", relative to public/ (the front controller's directory)"
		}
		dir = filepath.Clean(dir)
		d.host, d.path = "file://", (&url.URL{Path: dir}).EscapedPath()
		d.explain("file://"+dir, "CodeIgniter 4 FileHandler ("+driver.from+"), directory from "+from)
		d.ciCommon("ci4", cookie, exp, matchIP, "file")
	case "RedisHandler":
		if err := d.ciRedis("ci4", savePath, driver, cookie, exp, matchIP); err != nil {
			return err
		}
	case "MemcachedHandler":
		if err := d.ciMemcached("ci4", savePath, driver, cookie, exp, matchIP); err != nil {
			return err
		}
	case "DatabaseHandler", "MySQLiHandler", "PostgreHandler":
		dbFile := filepath.Join(root, "app", "Config", "Database.php")
		db, err := d.readConfig(dbFile, consts)
		if err != nil {
			return fmt.Errorf("the database handler's connection is in %s: %v", dbFile, err)
		}
		group, gfrom := "default", "DBGroup not set: $defaultGroup"
		if g := get("DBGroup"); g.set && g.str() != "" {
			group, gfrom = g.str(), g.from
		} else if v, ok := env["database.defaultGroup"]; ok {
			group, gfrom = v, "database.defaultGroup (.env)"
		} else if v, ok := db.lookup("defaultGroup"); ok {
			group, _ = scalarString(v)
			gfrom = fmt.Sprintf("Config\\Database::$defaultGroup = %s", describe(v))
		}
		rel := relTo(root, dbFile)
		conn := func(k string) (string, string) {
			ek := "database." + group + "." + k
			if v, ok := env[ek]; ok {
				return v, fmt.Sprintf("%s = %q (.env)", ek, v)
			}
			v, ok := db.lookup(group, k)
			if !ok {
				return "", fmt.Sprintf("Config\\Database::$%s['%s'] not set (%s)", group, k, rel)
			}
			s, _ := scalarString(v)
			return s, fmt.Sprintf("Config\\Database::$%s['%s'] = %s (%s)", group, k, describe(v), rel)
		}
		if err := d.ciDatabase("ci4", conn, gfrom, driver, savePath, cookie, exp, matchIP, "DBDriver", "DSN"); err != nil {
			return err
		}
	case "ArrayHandler":
		return fmt.Errorf("%s: sessions are kept in memory for one request (tests); there is no store", driver.from)
	default:
		return fmt.Errorf("%s: phpsess knows FileHandler, DatabaseHandler, RedisHandler and MemcachedHandler", driver.from)
	}
	d.note("CodeIgniter 4.6 or later assumed (32 hex character ids, cookie name in Redis and database keys); for older versions see the layout options in README.md")
	if err := d.handler(); err != nil {
		return err
	}
	d.finish()
	return nil
}

func relTo(root, file string) string {
	if r, err := filepath.Rel(root, file); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return file
}
