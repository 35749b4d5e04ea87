package handlers

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"strings"
	"time"
)

// ciFilesLayout is CodeIgniter's files session driver: CodeIgniter 3's
// Session_files_driver (3.1.x) and CodeIgniter 4's FileHandler. A session is
// the file <dir>/<cookie>[md5(ip)]<id>: no separator, no "sess_", and
// md5(ip) only with match_ip (sess_match_ip, Config\Session::$matchIP).
//
// The id rule, which CodeIgniter checks against the cookie and its GC
// against file names, is [alphabet]{length}, from php.ini's
// session.sid_bits_per_character (4: [0-9a-f], 5: [0-9a-v], 6:
// [0-9a-zA-Z,-]) and session.sid_length, raised by CodeIgniter to at least 160
// bits: length += ceil((160 % (length*bits)) / bits) when length*bits < 160.
//
//   - ci3: sid_length= and sid_bits_per_character= are php.ini's values;
//     the defaults are those of PHP's php.ini-production (26 and 5, as
//     Debian ships), so ids are 32 characters of [0-9a-v]. With PHP's
//     built-in defaults (32 and 4, no php.ini) say sid_length=32&
//     sid_bits_per_character=4: ids are then 40 hex characters.
//   - ci4: since 4.6.0 CodeIgniter forces 32 and 4 and accepts exactly 32
//     hex characters; that is the default. For CodeIgniter 4 before 4.6.0,
//     which used CodeIgniter 3's rule, give sid_length= and/or
//     sid_bits_per_character= and that rule applies.
//
// With match_ip=on the file name holds md5 of the client IP, which a Write
// takes from Record.Meta.IP and everything else (Read, Destroy, Touch, Lock,
// List, and Write without Meta.IP) from the ip= option, in the form PHP saw
// it (CodeIgniter 3: $_SERVER['REMOTE_ADDR']; CodeIgniter 4:
// Request::getIPAddress()). The GC removes the expired files of every IP.
type ciFilesLayout struct {
	version  int    // 3 or 4
	cookie   string // session cookie name, the file name prefix
	matchIP  bool
	alphabet string // the characters of an id
	length   int    // the exact length of an id
}

// errNeedIP is returned with match_ip=on when no client IP is known.
var errNeedIP = errors.New("match_ip=on puts md5(client IP) in the file name: give the IP (ip= option, or Record.Meta.IP on Write)")

const (
	sidAlphabet4 = "0123456789abcdef"
	sidAlphabet5 = "0123456789abcdefghijklmnopqrstuv"
	sidAlphabet6 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ,-"
)

// parseCIOptions reads cookie=, match_ip=, ip=, sid_length= and
// sid_bits_per_character=, and returns the layout and the default IP.
func parseCIOptions(o *options, layout string) (ciFilesLayout, string) {
	l := ciFilesLayout{version: 3, cookie: o.String("cookie", "ci_session")}
	if layout == "ci4" {
		l.version = 4
	}
	if l.cookie == "" || strings.ContainsAny(l.cookie, "/\x00") || l.cookie == "." || l.cookie == ".." {
		o.errs = append(o.errs, fmt.Sprintf("cookie=%q: want the session cookie name (a file name prefix)", l.cookie))
		l.cookie = "ci_session"
	}
	l.matchIP = o.Bool("match_ip", false)
	ip := o.String("ip", "")
	if ip != "" {
		if !l.matchIP {
			o.errs = append(o.errs, fmt.Sprintf("ip=%q is only used with match_ip=on", ip))
		} else if err := checkClientIP(ip); err != nil {
			o.errs = append(o.errs, fmt.Sprintf("ip=%q: %v", ip, err))
		}
	}
	sidGiven := o.Has("sid_length") || o.Has("sid_bits_per_character")
	length := o.Int("sid_length", 26)
	bits := o.Int("sid_bits_per_character", 5)
	if l.version == 4 && !sidGiven {
		// CodeIgniter 4.6+ forces 32 characters of 4 bits and checks for
		// exactly [0-9a-f]{32}, with no lengthening.
		l.alphabet, l.length = sidAlphabet4, 32
		return l, ip
	}
	if length < 22 || length > 256 {
		o.errs = append(o.errs, fmt.Sprintf("sid_length=%d: want 22 to 256, as php.ini's session.sid_length", length))
		length = 26
	}
	switch bits {
	case 4:
		l.alphabet = sidAlphabet4
	case 5:
		l.alphabet = sidAlphabet5
	case 6:
		l.alphabet = sidAlphabet6
	default:
		o.errs = append(o.errs, fmt.Sprintf("sid_bits_per_character=%d: want 4, 5 or 6, as php.ini's session.sid_bits_per_character", bits))
		bits, l.alphabet = 5, sidAlphabet5
	}
	l.length = ciSIDLength(length, bits)
	return l, ip
}

// ciSIDLength is CodeIgniter's _configure_sid_length: lengthen ids of fewer
// than 160 bits to at least 160 (within php.ini's ranges, length*bits is at
// least 88, so one step of its formula gets there).
func ciSIDLength(length, bits int) int {
	if total := length * bits; total < 160 {
		length += (160%total + bits - 1) / bits
	}
	return length
}

// checkClientIP accepts what an IP address looks like to PHP.
func checkClientIP(ip string) error {
	if _, err := netip.ParseAddr(ip); err != nil {
		return fmt.Errorf("not an IP address")
	}
	return nil
}

// checkID accepts exactly CodeIgniter's \A[alphabet]{length}\z.
func (l ciFilesLayout) checkID(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if len(id) != l.length || strings.Trim(id, l.alphabet) != "" {
		return fmt.Errorf("%w %q: CodeIgniter %d ids here are %d characters of [%s] (see the sid_length= and sid_bits_per_character= options)",
			ErrInvalidID, truncateID(id), l.version, l.length, alphabetClass(l.alphabet))
	}
	return nil
}

func alphabetClass(a string) string {
	switch a {
	case sidAlphabet4:
		return "0-9a-f"
	case sidAlphabet5:
		return "0-9a-v"
	}
	return "0-9a-zA-Z,-"
}

// prefix is the file name up to the id: the cookie name and, with
// match_ip, md5 of the IP in hex.
func (l ciFilesLayout) prefix(ip string) (string, error) {
	if !l.matchIP {
		return l.cookie, nil
	}
	if ip == "" {
		return "", errNeedIP
	}
	if err := checkClientIP(ip); err != nil {
		return "", fmt.Errorf("client IP %q: %w", ip, err)
	}
	sum := md5.Sum([]byte(ip))
	return l.cookie + hex.EncodeToString(sum[:]), nil
}

func (l ciFilesLayout) name(id, ip string) (string, error) {
	p, err := l.prefix(ip)
	return p + id, err
}

// recordIP is the IP with match_ip, else empty (the file keeps none).
func (l ciFilesLayout) recordIP(ip string) string {
	if l.matchIP {
		return ip
	}
	return ""
}

// list lists the session files of the IP (with match_ip, which it needs).
func (l ciFilesLayout) list(ctx context.Context, dir, ip string, fn func(id string) error) error {
	prefix, err := l.prefix(ip)
	if err != nil {
		return err
	}
	return readDirChunks(ctx, dir, func(e fs.DirEntry) error {
		id, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.Type().IsRegular() || l.checkID(id) != nil {
			return nil
		}
		return fn(id)
	})
}

// gcName is CodeIgniter's GC pattern \A<cookie>([0-9a-f]{32})?<id rule>\z,
// the md5 part present exactly when match_ip is on.
func (l ciFilesLayout) gcName(name string) bool {
	rest, ok := strings.CutPrefix(name, l.cookie)
	if !ok {
		return false
	}
	if l.matchIP {
		if len(rest) < 32 || strings.Trim(rest[:32], sidAlphabet4) != "" {
			return false
		}
		rest = rest[32:]
	}
	return len(rest) == l.length && strings.Trim(rest, l.alphabet) == ""
}

// expired is CodeIgniter's test: mtime <= time() - maxlifetime.
func (ciFilesLayout) expired(now, mtime time.Time, lifetime time.Duration) bool {
	return mtime.Unix() <= now.Unix()-int64(lifetime/time.Second)
}

func (ciFilesLayout) collects() bool { return true }
