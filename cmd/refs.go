package cmd

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/spf13/cobra"
)

// refsHelp explains DALMP's references to both refs commands.
const refsHelp = `
A reference is what DALMP (nbari/DALMP) stores beside a session: the value of a
PHP global, $GLOBALS['UID'] by default, typically the logged-in user's id, at
the session's last write. refs works on DALMP stores (layout=dalmp) that keep
references: redis://, memcache://, memcached://, mysql:// and sqlite://;
DALMP's Files backend keeps none. It asks what DALMP's getSessionsRefs(),
getSessionRef() and delSessionRef() ask, so it finds what they find:

  - mysql, sqlite: the rows of dalmp_sessions (table=) whose ref column is set,
    named by session id; a reference matches by the column's collation
    (DALMP's MySQL table compares ref case-insensitively).
  - redis, memcache(d): the entries of DALMP's reference index, named by cache
    key (DALMP_<sha1(UID . id)>): the index does not keep session ids, and a
    key does not give its id back. The index key depends on
    DALMP_SESSIONS_KEY: give sessions_key= (its value, or the absolute path of
    DALMP/Sessions/Redis.php or Memcache.php on the PHP host, DALMP's default)
    or ref_index=DALMP_REF_<sha1>. References match as PHP's == matches them
    ("37" and "037" are the same reference).

Entries past their expiry are listed too, as DALMP lists them (ttl 0).
`

func (a *app) refsCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "refs STORE [REF]",
		Short: "List DALMP sessions by reference (the PHP global UID)",
		Long: `Refs lists the sessions of a DALMP store that carry a reference: all of them,
or with REF those whose reference is REF. Each line is the session (an id, or
a cache key on Redis and memcache), the reference, the expiry recorded with it
(RFC 3339, UTC; - when unknown) and the seconds left until then (0: expired,
-1: unknown). With --output json each line is an object {"id"|"key",
"ref", "expiry" (unix seconds or null), "ttl"}.

Exit codes: 0 when something was listed, or when the store holds no
reference at all; 3 when REF was given and no session carries it; 1 when the
store is not a DALMP store with references.

refs rm deletes the sessions of a reference: see phpsess refs rm --help.
` + refsHelp + storeHelp,
		Example: `  phpsess refs 'mysql://app:secret@db/app?layout=dalmp'
  phpsess refs 'sqlite:///tmp/dalmp_sessions.db?layout=dalmp' 37
  phpsess refs -o json 'redis://127.0.0.1:6379?layout=dalmp&sessions_key=/srv/app/vendor/dalmp/dalmp/src/DALMP/Sessions/Redis.php' 37
  phpsess refs rm 'mysql://app:secret@db/app?layout=dalmp' 37    # log user 37 out everywhere`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: completeStores,
		RunE: func(c *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageErr("--output %q: want text or json", output)
			}
			ctx := c.Context()
			s, r, err := openReferencer(c, args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			w := bufio.NewWriter(a.stdout)
			defer w.Flush()
			now := time.Now()
			byKey := refsByKey(s)
			if len(args) == 1 {
				return r.Refs(ctx, func(e handlers.RefEntry) error {
					return writeRefEntry(w, e, byKey, output, now)
				})
			}
			entries, err := r.SessionRefs(ctx, args[1])
			if err != nil {
				return err
			}
			for _, e := range entries {
				if err := writeRefEntry(w, e, byKey, output, now); err != nil {
					return err
				}
			}
			if len(entries) == 0 {
				return withCode(ExitNotFound, fmt.Errorf("no session in %s has reference %q", s.Info().URL, args[1]))
			}
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text (tab-separated) or json (one object a line)")
	c.AddCommand(a.refsRmCmd())
	return c
}

func (a *app) refsRmCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "rm STORE REF",
		Short: "Delete the DALMP sessions that carry a reference",
		Long: `Refs rm deletes every session of a DALMP store whose reference is REF, as DALMP's
delSessionRef() does, and removes them from the reference index: the user is
logged out of every session. It prints how many sessions it deleted (index
entries of sessions that had already expired are removed but not counted).
Deleting a reference no session carries is not an error: it prints 0 and
exits 0, so that it can be repeated. With --output json it prints
{"ref": REF, "deleted": N}.
` + refsHelp + storeHelp,
		Example: `  phpsess refs rm 'mysql://app:secret@db/app?layout=dalmp' 37
  phpsess refs rm 'memcache://127.0.0.1:11211?layout=dalmp&sessions_key=/srv/app/vendor/dalmp/dalmp/src/DALMP/Sessions/Memcache.php' 37`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: completeStores,
		RunE: func(c *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageErr("--output %q: want text or json", output)
			}
			s, r, err := openReferencer(c, args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			n, err := r.DestroyRef(c.Context(), args[1])
			if err != nil {
				return err
			}
			if output == "json" {
				line := appendJSONString([]byte(`{"ref":`), args[1])
				_, err = fmt.Fprintf(a.stdout, "%s,\"deleted\":%d}\n", line, n)
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "%d sessions deleted\n", n)
			return err
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}

// openReferencer opens a store that keeps DALMP references.
func openReferencer(c *cobra.Command, rawURL string) (handlers.Store, handlers.Referencer, error) {
	s, err := openStore(c.Context(), rawURL)
	if err != nil {
		return nil, nil, err
	}
	r, ok := s.(handlers.Referencer)
	if ok {
		return s, r, nil
	}
	info := s.Info()
	s.Close()
	if info.Layout == "dalmp" {
		return nil, nil, fmt.Errorf("%s: DALMP's %s backend keeps no references", info.URL, info.Backend)
	}
	return nil, nil, fmt.Errorf("%s: references are DALMP's; this is a %s store of layout %s (want layout=dalmp on redis, memcache, memcached, mysql or sqlite)", info.URL, info.Backend, info.Layout)
}

// refsByKey reports whether a store's reference lists name cache keys
// rather than session ids.
func refsByKey(s handlers.Store) bool {
	switch s.Info().Backend {
	case "redis", "memcache", "memcached":
		return true
	}
	return false
}

// writeRefEntry prints one entry as text or a JSON line.
func writeRefEntry(w io.Writer, e handlers.RefEntry, byKey bool, output string, now time.Time) error {
	ttl := int64(-1)
	if !e.Expiry.IsZero() {
		ttl = max(0, int64(e.Expiry.Sub(now)/time.Second))
	}
	if output == "json" {
		name := `{"id":`
		if byKey {
			name = `{"key":`
		}
		line := appendJSONString([]byte(name), e.Session)
		line = appendJSONString(append(line, `,"ref":`...), e.Ref)
		line = append(line, `,"expiry":`...)
		if e.Expiry.IsZero() {
			line = append(line, "null"...)
		} else {
			line = strconv.AppendInt(line, e.Expiry.Unix(), 10)
		}
		line = fmt.Appendf(line, `,"ttl":%d}`+"\n", ttl)
		_, err := w.Write(line)
		return err
	}
	expiry := "-"
	if !e.Expiry.IsZero() {
		expiry = e.Expiry.UTC().Format(time.RFC3339)
	}
	ref := e.Ref
	if strings.ContainsFunc(ref, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		ref = strconv.Quote(ref) // a tab or newline would break the columns
	}
	_, err := fmt.Fprintf(w, "%s\t%s\t%s\t%d\n", e.Session, ref, expiry, ttl)
	return err
}
