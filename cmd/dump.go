package cmd

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/phpsess/phpsess/ops"
	"github.com/spf13/cobra"
)

func (a *app) dumpCmd() *cobra.Command {
	var raw, quiet bool
	var workers int
	var where string
	c := &cobra.Command{
		Use:   "dump STORE",
		Short: "Print every session of a store as JSON lines, for a backup or a move",
		Long: `Dump streams every session of STORE to standard output, one JSON line each:

    {"id":"k3j5...","ttl":1432,"modified":"2026-05-01T10:00:00Z","ip":"10.0.0.7",
     "ref":"user-42","handler":"php","data":{"user_id":42}}

ttl is the remaining lifetime in seconds (0: expired, kept by the store until
its GC; absent when the store cannot say), modified the last write where the
layout records it, ip CodeIgniter's ip_address, ref DALMP's session reference,
handler the store's session.serialize_handler, data the session in the JSON
form (README.md). With --raw each line also carries "raw", the stored payload
bytes in base64, so that load restores them byte for byte.

Load reads the same lines back into any store. Sessions are read by a pool of
workers as the store lists them; memory stays flat however big the store is.
A session that cannot be read or decoded is reported on stderr and left out;
the exit code is then 4. Progress goes to stderr every few seconds.
` + storeHelp,
		Example: `  # back up, and restore byte for byte
  phpsess dump --raw redis://127.0.0.1:6379/0 > sessions.jsonl
  phpsess load --raw redis://127.0.0.1:6379/0 < sessions.jsonl

  # move CodeIgniter 3 sessions from MySQL to Redis
  phpsess dump 'mysql://app:secret@db/app?layout=ci3' | phpsess load 'redis://cache:6379?layout=ci3'

  # who is logged in
  phpsess dump file:///var/lib/php/sessions | jq -r 'select(.data.user_id) | .data.user_id' | sort -u`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeStores,
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			opt := ops.DumpOptions{Raw: raw}
			if where != "" {
				w, err := ops.ParseWhere(where)
				if err != nil {
					return usageErr("--where: %v", err)
				}
				opt.Where = w
			}
			s, err := openStore(ctx, args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			opt.Common = a.opsCommon("dump", workers, quiet)
			st, err := ops.Dump(ctx, s, a.stdout, opt)
			if !quiet {
				fmt.Fprintf(a.stderr, "phpsess: dump: %d sessions written, %d expired since listed, %d failed, in %s\n",
					st.Done, st.Expired, st.Failed, st.Elapsed.Round(time.Millisecond))
			}
			return opsErr(err)
		},
	}
	f := c.Flags()
	f.BoolVar(&raw, "raw", false, `add each session's payload bytes ("raw", base64) for a byte-identical restore`)
	f.StringVar(&where, "where", "", "dump only the sessions this condition matches (see phpsess find --help)")
	f.IntVar(&workers, "workers", 8, "sessions read at once")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress or summary on stderr")
	return c
}

// opsCommon returns the options every ops run takes: workers, errors
// reported on stderr as they come, and a progress line every 5 seconds.
func (a *app) opsCommon(verb string, workers int, quiet bool) ops.Common {
	opt := ops.Common{
		Workers: workers,
		OnError: func(where string, err error) {
			fmt.Fprintf(a.stderr, "phpsess: %s: %s: %v\n", verb, quoteWhere(where), err)
		},
	}
	if !quiet {
		opt.Progress = opsProgress(a.stderr, verb)
	}
	return opt
}

// quoteWhere quotes a bare session id; "line N ..." stays as it is.
func quoteWhere(where string) string {
	if len(where) > 5 && where[:5] == "line " {
		return where
	}
	return fmt.Sprintf("session %q", where)
}

// opsProgress prints a plain progress line (not the final one: each command
// prints its own summary).
func opsProgress(w io.Writer, verb string) func(ops.Stats) {
	return func(s ops.Stats) {
		if s.Final {
			return
		}
		rate := float64(s.Seen) / s.Elapsed.Seconds()
		fmt.Fprintf(w, "phpsess: %s: %d seen, %d done, %d failed, %.0f/s, %s\n", verb, s.Seen, s.Done, s.Failed, rate, s.Elapsed.Round(time.Second))
	}
}

// opsErr gives a run that finished with failures exit code 4.
func opsErr(err error) error {
	if errors.Is(err, ops.ErrFailed) {
		return withCode(ExitPartial, err)
	}
	return err
}
