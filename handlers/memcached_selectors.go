package handlers

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"net"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// Which server of a memcached pool holds a key: the PHP side's own choice,
// per layout, so that Go reads and writes where PHP does. gomemcache's
// ServerList (crc32 % n) matches none of them.
//
// Server lists. memcached:// and memcache:// URLs name the pool as the PHP
// side does, in the same order and with the same host spelling (the
// continuum hashes the host as written: 127.0.0.1 and localhost differ):
//
//	memcached://10.0.0.1:11211,10.0.0.2:11211:3,10.0.0.3:11211
//
// HOST:PORT:WEIGHT gives a server a weight (default 1), the libmemcached
// save_path form; for pecl memcache's "tcp://10.0.0.2:11211?weight=3"
// write 10.0.0.2:11211:3 too.
//
// memcached:// (php-memcached and libmemcached 1.0/1.1):
//
//	distribution=modula           hash(key) % number of servers; weights
//	                              are ignored (libmemcached's default, so
//	                              the Memcached class's: CodeIgniter 3 and 4,
//	                              Phalcon 3)
//	distribution=ketama           the continuum of 100 points per server,
//	                              point i of a server = hash("HOST:PORT-i")
//	                              ("HOST-i" on port 11211); weights ignored
//	                              (the session handler's default,
//	                              memcached.sess_consistent_hash_type=ketama)
//	distribution=consistent       the same continuum, but a server weight
//	                              above 1 switches to the weighted one below
//	                              with the key hash unchanged: what
//	                              Memcached::DISTRIBUTION_CONSISTENT set
//	                              before addServers() does (Phalcon 4 and 5,
//	                              memcached.default_consistent_hash=On)
//	distribution=ketama_weighted  160 points per server scaled by its share
//	                              of the total weight, 4 points per MD5 of
//	                              "HOST:PORT-i"; key hash md5 by default
//	                              (sess_consistent_hash_type=ketama_weighted,
//	                              Memcached::OPT_LIBKETAMA_COMPATIBLE)
//	hash=one_at_a_time|md5|crc|fnv1_64|fnv1a_64|fnv1_32|fnv1a_32
//	                              the key hash (Memcached::OPT_HASH); the
//	                              points of ketama/consistent use it too
//	hash_with_prefix=on|off       whether the key prefix is hashed: off for
//	                              a libmemcached namespace (the session
//	                              handler's memcached.sess_prefix, Phalcon
//	                              4/5's OPT_PREFIX_KEY), on for a prefix that
//	                              is part of the key (CodeIgniter, Phalcon 3)
//
// Layout defaults: native ketama, one_at_a_time, hash_with_prefix=off
// (memcached.sess_consistent_hash=On; with it Off, distribution=modula);
// ci3, ci4 and phalcon3 modula, one_at_a_time, hash_with_prefix=on;
// phalcon4 and phalcon5 consistent, one_at_a_time, hash_with_prefix=off.
//
// memcache:// and layout=dalmp (pecl memcache 3 and 4):
//
//	distribution=consistent       memcache.hash_strategy=consistent (the
//	                              default): 160 points per weight unit,
//	                              point i = hash("HOST:PORT-i"), looked up
//	                              through 1024 buckets: bucket b is the first
//	                              point >= b * (0xffffffff / 1024), a key
//	                              goes to bucket hash(key) % 1024
//	distribution=standard         memcache.hash_strategy=standard: each
//	                              server "weight" times in a list, a key goes
//	                              to entry ((hash(key) >> 16) & 0x7fff or 1)
//	                              % length
//	hash=crc32|fnv                memcache.hash_function (default crc32)
//	redundancy=N                  layout=native only: memcache.session_redundancy
//	                              (default 2), see below
//
// pecl memcache's session handler does not hash the key itself: it asks for
// the servers of "<key>-0", "<key>-1", ... (mmc_pool_find_next), skipping
// servers already chosen, and writes the session (and resets its lock) on
// the first min(redundancy, servers) of them; destroy deletes on all; a
// read takes the lock on the first and reads the session there only (the
// other copies are for when that server is down). Go does the same: Write
// and Destroy act on every copy; Read, List and the lock use the first. The
// Memcache class (Phalcon 3's and DALMP's) hashes the key itself and keeps
// one copy (memcache.redundancy=1).
//
// What the PHP side does and Go does not: failover. When a server is down,
// libmemcached with OPT_REMOVE_FAILED_SERVERS (Phalcon 4/5 turn it on)
// rebuilds its continuum without it and pecl memcache moves on to the next
// server of its sequence; Go reports the server as unreachable instead.
// Keys then written by PHP elsewhere stay where PHP put them.

// mcPoolServer is one server of a pool, as the URL names it.
type mcPoolServer struct {
	host   string // as written: the continuum hashes this spelling
	port   int    // 0 for a unix socket
	weight int    // at least 1
	addr   string // what to dial: HOST:PORT, or the socket path
}

// mcPointsPerServer and mcPointsPerServerKetama are libmemcached's
// MEMCACHED_POINTS_PER_SERVER and MEMCACHED_POINTS_PER_SERVER_KETAMA;
// mcDefaultPort is MEMCACHED_DEFAULT_PORT, which a continuum label omits.
const (
	mcPointsPerServer       = 100
	mcPointsPerServerKetama = 160
	mcDefaultPort           = 11211
)

// pecl memcache's consistent strategy (memcache_consistent_hash.c) and
// memcache.max_failover_attempts' default.
const (
	peclPointsPerWeight = 160
	peclBuckets         = 1024
	peclMaxFailover     = 20
)

// mcParsePool reads the server list of a memcached:// or memcache:// URL:
// HOST[:PORT[:WEIGHT]] items separated by commas, or a socket path.
func mcParsePool(u *url.URL) ([]mcPoolServer, error) {
	host, weights, err := splitServerWeights(u.Host, 1000)
	if err != nil {
		return nil, err
	}
	v := *u
	v.Host = host
	addrs, err := mcServers(&v)
	if err != nil {
		return nil, err
	}
	pool := make([]mcPoolServer, len(addrs))
	for i, a := range addrs {
		s := mcPoolServer{host: a, weight: 1, addr: a}
		if host != "" {
			h, p, _ := net.SplitHostPort(a)
			s.host = h
			s.port, _ = strconv.Atoi(p)
			s.weight = weights[i]
		}
		pool[i] = s
	}
	return pool, nil
}

// splitServerWeights takes the weights off a server list of
// HOST[:PORT[:WEIGHT]] items separated by commas (memcached://, and the
// several servers of redis://): it returns the list without them and each
// item's weight, 1 where none is given. A weight must be 1 to max.
func splitServerWeights(hosts string, max int) (string, []int, error) {
	if hosts == "" {
		return "", nil, nil
	}
	items := strings.Split(hosts, ",")
	weights := make([]int, len(items))
	for i, it := range items {
		weights[i] = 1
		rest := it
		if j := strings.LastIndexByte(it, ']'); j >= 0 {
			rest = it[j+1:]
		}
		if strings.Count(rest, ":") == 2 {
			k := strings.LastIndexByte(it, ':')
			n, err := strconv.Atoi(it[k+1:])
			if err != nil || n < 1 || n > max {
				return "", nil, fmt.Errorf("server %q: the weight after the port must be 1 to %d", it, max)
			}
			weights[i], items[i] = n, it[:k]
		}
	}
	return strings.Join(items, ","), weights, nil
}

// ------------------------------------------------------------- options --

// mcClientFamily is the PHP client whose choice a store copies.
type mcClientFamily int

const (
	familyLibmemcached mcClientFamily = iota // php-memcached
	familyPeclSession                        // pecl memcache's session handler
	familyPeclClass                          // pecl memcache's Memcache class
)

// mcDistSpec is how a store picks servers.
type mcDistSpec struct {
	family         mcClientFamily
	distribution   string
	hash           string
	hashWithPrefix bool
	redundancy     int // familyPeclSession
}

// mcFamily tells which PHP client a backend's layout goes through.
func mcFamily(backend, layout string) mcClientFamily {
	switch {
	case layout == dalmpLayout: // DALMP's cache is pecl memcache's class
		return familyPeclClass
	case backend == "memcache" && layout == "native":
		return familyPeclSession
	case backend == "memcache":
		return familyPeclClass
	}
	return familyLibmemcached
}

// mcPoolOptions reads the pool options (distribution=, hash=,
// hash_with_prefix=, redundancy=) of a layout into o, so that o.Err()
// reports their mistakes; the store itself reads them again in
// newMCSelector.
func mcPoolOptions(o *options, backend, layout string) {
	if _, errs := mcParseDist(o, backend, layout); len(errs) > 0 {
		o.errs = append(o.errs, errs...)
	}
}

// mcParseDist reads the pool options with the layout's defaults.
func mcParseDist(o *options, backend, layout string) (mcDistSpec, []string) {
	sp := mcDistSpec{family: mcFamily(backend, layout)}
	var errs []string
	bad := func(name, v string, choices ...string) {
		errs = append(errs, fmt.Sprintf("%s=%q: want one of %s", name, v, strings.Join(choices, ", ")))
	}
	dist, hash := o.String("distribution", ""), o.String("hash", "")
	if sp.family == familyLibmemcached {
		defDist := "modula"
		sp.hashWithPrefix = true
		switch layout {
		case "native":
			defDist, sp.hashWithPrefix = "ketama", false
		case "phalcon4", "phalcon5":
			defDist, sp.hashWithPrefix = "consistent", false
		}
		sp.hashWithPrefix = o.Bool("hash_with_prefix", sp.hashWithPrefix)
		if dist == "" {
			dist = defDist
		}
		if choices := []string{"modula", "ketama", "consistent", "ketama_weighted"}; !slices.Contains(choices, dist) {
			bad("distribution", dist, choices...)
		}
		if hash == "" {
			hash = "one_at_a_time"
			if dist == "ketama_weighted" {
				hash = "md5" // MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED sets it
			}
		}
		if libmcHash(hash) == nil {
			bad("hash", hash, "one_at_a_time", "md5", "crc", "fnv1_64", "fnv1a_64", "fnv1_32", "fnv1a_32")
		}
		if given(o, "redundancy") {
			errs = append(errs, "redundancy= applies to memcache:// (pecl memcache's session handler) only")
		}
	} else {
		if dist == "" {
			dist = "consistent"
		}
		if choices := []string{"consistent", "standard"}; !slices.Contains(choices, dist) {
			bad("distribution", dist, choices...)
		}
		if hash == "" {
			hash = "crc32"
		}
		if hash != "crc32" && hash != "fnv" {
			bad("hash", hash, "crc32", "fnv")
		}
		if given(o, "hash_with_prefix") {
			errs = append(errs, "hash_with_prefix= applies to php-memcached layouts only: pecl memcache always hashes the whole key")
		}
		if sp.family == familyPeclSession {
			sp.redundancy = o.Int("redundancy", 2)
			if sp.redundancy < 1 || sp.redundancy > 100 {
				errs = append(errs, fmt.Sprintf("redundancy=%d: want 1 to 100 (memcache.session_redundancy)", sp.redundancy))
			}
		} else if given(o, "redundancy") {
			errs = append(errs, "redundancy= applies to pecl memcache's session handler (memcache:// layout=native) only")
		}
	}
	sp.distribution, sp.hash = dist, hash
	return sp, errs
}

// ----------------------------------------------------------- selectors --

// mcSelector is a gomemcache ServerSelector that picks servers as the PHP
// side does. It is immutable, so safe for concurrent use.
type mcSelector struct {
	addrs []net.Addr
	pick  func(key string) int // index into addrs
}

// PickServer returns the server of key.
func (s *mcSelector) PickServer(key string) (net.Addr, error) {
	if len(s.addrs) == 0 {
		return nil, memcache.ErrNoServers
	}
	return s.addrs[s.pick(key)], nil
}

// Each calls f with every server, in list order.
func (s *mcSelector) Each(f func(net.Addr) error) error {
	for _, a := range s.addrs {
		if err := f(a); err != nil {
			return err
		}
	}
	return nil
}

// mcResolve resolves the pool's addresses as gomemcache's ServerList does.
func mcResolve(pool []mcPoolServer) ([]net.Addr, error) {
	names := make([]string, len(pool))
	for i, s := range pool {
		names[i] = s.addr
	}
	var sl memcache.ServerList
	if err := sl.SetServers(names...); err != nil {
		return nil, fmt.Errorf("memcached servers %s: %w", strings.Join(names, ","), err)
	}
	var addrs []net.Addr
	sl.Each(func(a net.Addr) error { addrs = append(addrs, a); return nil })
	return addrs, nil
}

// newMCSelector builds the selector of a store: the pool of the URL with
// the distribution the layout's PHP client uses (or the options name).
// prefix is the store's key prefix, which hash_with_prefix=off leaves out of
// the hash.
func newMCSelector(o *options, backend, layout, prefix string) (*mcSelector, mcDistSpec, error) {
	sp, errs := mcParseDist(o, backend, layout)
	if len(errs) > 0 {
		return nil, sp, errors.New(strings.Join(errs, "; "))
	}
	pool, err := mcParsePool(o.URL)
	if err != nil {
		return nil, sp, err
	}
	addrs, err := mcResolve(pool)
	if err != nil {
		return nil, sp, err
	}
	sel := &mcSelector{addrs: addrs}
	switch sp.family {
	case familyLibmemcached:
		d := newLibmcDist(pool, sp)
		strip := ""
		if !sp.hashWithPrefix {
			strip = prefix
		}
		sel.pick = func(key string) int { return d.index(strings.TrimPrefix(key, strip)) }
	case familyPeclClass:
		d := newPeclDist(pool, sp)
		sel.pick = d.find
	case familyPeclSession:
		d := newPeclDist(pool, sp)
		sel.pick = func(key string) int { return d.sessionServers(key, 1)[0] }
	}
	return sel, sp, nil
}

// -------------------------------------------------------- libmemcached --

// libmcHash returns libhashkit's key hash of a name of php-memcached's
// Memcached::HASH_* constants (nil for an unknown name). Bytes are signed
// chars, as libhashkit reads them.
func libmcHash(name string) func(string) uint32 {
	switch name {
	case "one_at_a_time":
		return libmcOneAtATime
	case "md5":
		return libmcMD5
	case "crc":
		return func(k string) uint32 { return crc32.ChecksumIEEE([]byte(k)) >> 16 & 0x7fff }
	case "fnv1_64":
		return func(k string) uint32 {
			h := uint64(0xcbf29ce484222325)
			for i := 0; i < len(k); i++ {
				h *= 0x100000001b3
				h ^= uint64(int64(int8(k[i])))
			}
			return uint32(h)
		}
	case "fnv1a_64": // libhashkit's is 32 bits wide, with the 64-bit constants cut
		return func(k string) uint32 { return libmcFNV32(k, 0x84222325, 0x000001b3, true) }
	case "fnv1_32":
		return func(k string) uint32 { return libmcFNV32(k, 2166136261, 16777619, false) }
	case "fnv1a_32":
		return func(k string) uint32 { return libmcFNV32(k, 2166136261, 16777619, true) }
	}
	return nil
}

// libmcFNV32 is a 32-bit FNV-1 (xorFirst false) or FNV-1a hash.
func libmcFNV32(k string, h, prime uint32, xorFirst bool) uint32 {
	for i := 0; i < len(k); i++ {
		c := uint32(int32(int8(k[i])))
		if xorFirst {
			h ^= c
			h *= prime
		} else {
			h *= prime
			h ^= c
		}
	}
	return h
}

// libmcOneAtATime is libhashkit's hashkit_one_at_a_time (Jenkins'
// one-at-a-time), libmemcached's default hash.
func libmcOneAtATime(k string) uint32 {
	var h uint32
	for i := 0; i < len(k); i++ {
		h += uint32(int32(int8(k[i])))
		h += h << 10
		h ^= h >> 6
	}
	h += h << 3
	h ^= h >> 11
	h += h << 15
	return h
}

// libmcMD5 is hashkit_md5: the first 4 bytes of the MD5, little-endian.
func libmcMD5(k string) uint32 {
	d := md5.Sum([]byte(k))
	return binary.LittleEndian.Uint32(d[:4])
}

// mcPoint is one point of a continuum.
type mcPoint struct {
	value uint32
	index int
}

// libmcDist is libmemcached's server choice (hash.cc dispatch_host,
// hosts.cc update_continuum).
type libmcDist struct {
	n      int
	modula bool
	hash   func(string) uint32
	points []mcPoint // sorted by value, then index
}

func newLibmcDist(pool []mcPoolServer, sp mcDistSpec) *libmcDist {
	d := &libmcDist{n: len(pool), hash: libmcHash(sp.hash), modula: sp.distribution == "modula"}
	if d.modula || d.n < 2 {
		return d
	}
	weighted := sp.distribution == "ketama_weighted"
	if sp.distribution == "consistent" {
		// server_add/memcached_server_push turn the weighted continuum on
		// for a weight above 1 when the distribution is already consistent
		weighted = slices.ContainsFunc(pool, func(s mcPoolServer) bool { return s.weight > 1 })
	}
	d.points = libmcContinuum(pool, weighted, d.hash)
	return d
}

// libmcContinuum computes update_continuum's points, sorted as its qsort
// (continuum_item_cmp) leaves them.
func libmcContinuum(pool []mcPoolServer, weighted bool, hash func(string) uint32) []mcPoint {
	var total uint64
	for _, s := range pool {
		total += uint64(s.weight)
	}
	live := float32(len(pool))
	var points []mcPoint
	for idx, s := range pool {
		perServer, perHash := mcPointsPerServer, 1
		if weighted {
			// float arithmetic as in C, each step rounded to float32
			pct := float32(s.weight) / float32(total)
			x := float32(float32(float32(pct*mcPointsPerServerKetama)/4)*live) + float32(0.0000000001)
			perServer, perHash = int(math.Floor(float64(x)))*4, 4
		}
		for i := 0; i < perServer/perHash; i++ {
			label := s.host + "-" + strconv.Itoa(i)
			if s.port != mcDefaultPort {
				label = s.host + ":" + strconv.Itoa(s.port) + "-" + strconv.Itoa(i)
			}
			if !weighted {
				points = append(points, mcPoint{hash(label), idx})
				continue
			}
			d := md5.Sum([]byte(label))
			for a := 0; a < perHash; a++ {
				points = append(points, mcPoint{binary.LittleEndian.Uint32(d[4*a:]), idx})
			}
		}
	}
	sort.Slice(points, func(i, j int) bool {
		if points[i].value != points[j].value {
			return points[i].value < points[j].value
		}
		return points[i].index < points[j].index
	})
	return points
}

// index is the server of a key (the key as hashed: without a namespace).
func (d *libmcDist) index(key string) int {
	if d.n < 2 {
		return 0 // libmemcached does not hash with one server
	}
	h := d.hash(key)
	if d.modula {
		return int(h % uint32(d.n))
	}
	i := sort.Search(len(d.points), func(i int) bool { return d.points[i].value >= h })
	if i == len(d.points) {
		i = 0
	}
	return d.points[i].index
}

// ---------------------------------------------------------------- pecl --

// peclDist is pecl memcache's server choice (memcache_consistent_hash.c,
// memcache_standard_hash.c, mmc_pool_find_next).
type peclDist struct {
	n       int
	hash    func(string) uint32
	buckets []int // consistent: 1024 buckets; standard: weight entries per server
	std     bool
}

func newPeclDist(pool []mcPoolServer, sp mcDistSpec) *peclDist {
	d := &peclDist{n: len(pool), hash: peclCRC32, std: sp.distribution == "standard"}
	if sp.hash == "fnv" {
		d.hash = peclFNV1a
	}
	if d.std {
		for i, s := range pool {
			for range s.weight {
				d.buckets = append(d.buckets, i)
			}
		}
		return d
	}
	var points []mcPoint
	for idx, s := range pool {
		for i := range s.weight * peclPointsPerWeight {
			label := s.host + ":" + strconv.Itoa(s.port) + "-" + strconv.Itoa(i)
			points = append(points, mcPoint{d.hash(label), idx})
		}
	}
	// qsort by point only; equal points of two servers (a 32-bit
	// collision) are ordered as the C library's qsort leaves them
	sort.SliceStable(points, func(i, j int) bool { return points[i].value < points[j].value })
	d.buckets = make([]int, peclBuckets)
	step := uint32(0xffffffff / peclBuckets)
	for b := range d.buckets {
		p := step * uint32(b)
		i := sort.Search(len(points), func(i int) bool { return points[i].value >= p })
		if i == len(points) {
			i = 0
		}
		d.buckets[b] = points[i].index
	}
	return d
}

// peclCRC32 is mmc_hash_crc32: the standard CRC-32.
func peclCRC32(k string) uint32 { return crc32.ChecksumIEEE([]byte(k)) }

// peclFNV1a is mmc_hash_fnv1a: 32-bit FNV-1a (bytes read as signed chars).
func peclFNV1a(k string) uint32 { return libmcFNV32(k, 0x811c9dc5, 0x01000193, true) }

// find is the server of a key (find_server).
func (d *peclDist) find(key string) int {
	if d.n < 2 {
		return 0
	}
	h := d.hash(key)
	if d.std {
		h = h >> 16 & 0x7fff
		if h == 0 {
			h = 1
		}
		return d.buckets[h%uint32(len(d.buckets))]
	}
	return d.buckets[h%peclBuckets]
}

// sessionServers returns the first r servers pecl memcache's session
// handler uses for a key (its lock key maps to the same servers): the
// servers of key-0, key-1, ... not chosen yet (mmc_pool_find_next), up to
// min(r, number of servers); after 20 tries a repeated server stands, as
// in PHP.
func (d *peclDist) sessionServers(key string, r int) []int {
	key = strings.TrimSuffix(key, ".lock")
	seq := make([]int, 0, r)
	last := 0
	for len(seq) < r && len(seq) < d.n {
		var idx int
		for {
			idx = d.find(key + "-" + strconv.Itoa(last))
			last++
			if !slices.Contains(seq, idx) || last >= peclMaxFailover {
				break
			}
		}
		seq = append(seq, idx)
	}
	return seq
}

// ------------------------------------------------ pecl session copies --

// mcCopies is pecl memcache's session handler over a pool with
// memcache.session_redundancy above 1: every session is kept on the first
// R servers of its sequence (copies[i] picks the i-th), as PHP keeps it.
type mcCopies struct {
	copies []*mcStore // copies[0] is the primary: its lock is the lock
}

var (
	_ Store   = (*mcCopies)(nil)
	_ Lister  = (*mcCopies)(nil)
	_ Locker  = (*mcCopies)(nil)
	_ Toucher = (*mcCopies)(nil)
)

// peclSessionCopies returns s as a store that keeps the copies pecl
// memcache's session handler keeps; s itself when there is one copy.
func peclSessionCopies(o *options, s *mcStore, timeout time.Duration) (Store, error) {
	sel, sp, err := newMCSelector(o, s.info.Backend, s.info.Layout, s.prefix)
	if err != nil {
		return nil, err
	}
	r := min(sp.redundancy, len(sel.addrs))
	if r < 2 {
		return s, nil
	}
	pool, _ := mcParsePool(o.URL) // parsed fine by newMCSelector
	d := newPeclDist(pool, sp)
	cs := &mcCopies{copies: []*mcStore{s}}
	for i := 1; i < r; i++ {
		c := *s
		c.c = newMCClient(s.info.Backend, &mcSelector{addrs: sel.addrs, pick: func(key string) int {
			seq := d.sessionServers(key, i+1)
			return seq[len(seq)-1]
		}}, timeout)
		cs.copies = append(cs.copies, &c)
	}
	return cs, nil
}

// Info describes the store.
func (s *mcCopies) Info() Info { return s.copies[0].info }

// Close closes the connections to every server.
func (s *mcCopies) Close() error {
	var err error
	for _, c := range s.copies {
		err = errors.Join(err, c.Close())
	}
	return err
}

// Read returns the session from the first server of its sequence. As in
// PHP, a copy on a later server is not read: pecl memcache turns to it
// only when the first server is down (checked with pecl memcache 4.0.5.2:
// a session whose only copy is on the second server reads as empty).
func (s *mcCopies) Read(ctx context.Context, id string) (*Record, error) {
	return s.copies[0].Read(ctx, id)
}

// putAll writes every copy.
func (s *mcCopies) putAll(ctx context.Context, key string, rec *Record) error {
	for _, c := range s.copies {
		if err := c.put(ctx, key, rec); err != nil {
			return err
		}
	}
	return nil
}

// deleteAll deletes every copy.
func (s *mcCopies) deleteAll(ctx context.Context, key string) error {
	for _, c := range s.copies {
		if err := c.c.delete(ctx, key); err != nil {
			return err
		}
	}
	return nil
}

// underLock runs f under the primary's lock when locking is on.
func (s *mcCopies) underLock(ctx context.Context, op, id string, f func(key string) error) error {
	p := s.copies[0]
	key, lockKey, err := p.keys(id)
	if err != nil {
		return p.fail(op, id, err)
	}
	if !p.info.Locking {
		return p.fail(op, id, f(key))
	}
	if err := p.acquire(ctx, lockKey); err != nil {
		return p.fail(op, id, err)
	}
	err = f(key)
	if uerr := p.release(ctx, lockKey); err == nil {
		err = uerr
	}
	return p.fail(op, id, err)
}

// Write stores the session on every server PHP writes it to.
func (s *mcCopies) Write(ctx context.Context, rec *Record) error {
	return s.underLock(ctx, "write", rec.ID, func(key string) error { return s.putAll(ctx, key, rec) })
}

// Destroy deletes every copy, so that PHP cannot fall back to one when the
// first server is down.
func (s *mcCopies) Destroy(ctx context.Context, id string) error {
	return s.underLock(ctx, "destroy", id, func(key string) error { return s.deleteAll(ctx, key) })
}

// Touch sets the lifetime of every copy there is.
func (s *mcCopies) Touch(ctx context.Context, id string, ttl time.Duration) error {
	var found bool
	for _, c := range s.copies {
		err := c.Touch(ctx, id, ttl)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		found = true
	}
	if !found {
		return s.copies[0].fail("touch", id, ErrNotFound)
	}
	return nil
}

// List reports every session once: from the first server of its sequence,
// the copy PHP reads (the copies on other servers are skipped).
func (s *mcCopies) List(ctx context.Context, fn func(id string) error) error {
	p := s.copies[0]
	now := time.Now().Unix()
	return p.c.sel.Each(func(addr net.Addr) error {
		err := p.c.metadump(ctx, addr, func(key string, exp int64) error {
			if exp >= 0 && exp <= now {
				return nil // expired, not yet reclaimed
			}
			id, ok := strings.CutPrefix(key, p.prefix)
			if !ok || checkID(id) != nil {
				return nil
			}
			if first, err := p.c.sel.PickServer(key); err != nil || first.String() != addr.String() {
				return err
			}
			return fn(id)
		})
		if err != nil {
			return fmt.Errorf("%s list: %w", p.info.Backend, err)
		}
		return nil
	})
}

// Lock takes the lock on the primary server, as PHP's read does.
func (s *mcCopies) Lock(ctx context.Context, id string) (Locked, error) {
	p := s.copies[0]
	key, lockKey, err := p.keys(id)
	if err != nil {
		return nil, p.fail("lock", id, err)
	}
	if err := p.acquire(ctx, lockKey); err != nil {
		return nil, p.fail("lock", id, err)
	}
	return &mcCopiesLocked{s: s, id: id, key: key, lockKey: lockKey}, nil
}

// mcCopiesLocked is a session of an mcCopies whose lock is held.
type mcCopiesLocked struct {
	s            *mcCopies
	id, key      string
	lockKey      string
	mu           sync.Mutex
	unlocked     bool
	unlockResult error
}

func (l *mcCopiesLocked) held() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.unlocked {
		return errors.New("the lock was released")
	}
	return nil
}

// Read reads the locked session from the first server.
func (l *mcCopiesLocked) Read(ctx context.Context) (*Record, error) {
	p := l.s.copies[0]
	rec, err := p.read(ctx, l.id, l.key)
	if err != nil {
		return nil, p.fail("read", l.id, err)
	}
	return rec, nil
}

// Write stores the locked session on every server.
func (l *mcCopiesLocked) Write(ctx context.Context, rec *Record) error {
	err := l.held()
	if err == nil {
		err = l.s.putAll(ctx, l.key, rec)
	}
	return l.s.copies[0].fail("write", l.id, err)
}

// Destroy deletes every copy of the locked session.
func (l *mcCopiesLocked) Destroy(ctx context.Context) error {
	err := l.held()
	if err == nil {
		err = l.s.deleteAll(ctx, l.key)
	}
	return l.s.copies[0].fail("destroy", l.id, err)
}

// Unlock gives the lock back; later calls return the first call's result.
func (l *mcCopiesLocked) Unlock(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.unlocked {
		l.unlocked = true
		p := l.s.copies[0]
		l.unlockResult = p.fail("unlock", l.id, p.release(ctx, l.lockKey))
	}
	return l.unlockResult
}
