package cmd

import (
	"fmt"
	"os"
	"time"

	"github.com/phpsess/phpsess/ops"
	"github.com/spf13/cobra"
)

func (a *app) loadCmd() *cobra.Command {
	var raw, noRaw, quiet bool
	var workers, ttl int
	c := &cobra.Command{
		Use:   "load STORE [FILE|-]",
		Short: "Write sessions from dump's JSON lines into a store",
		Long: `Load reads the JSON lines that dump prints (from FILE, or standard input) and
writes each session into STORE, the same store or another backend or layout,
as a PHP request would: under the PHP side's lock where the store takes one.

Each session keeps its lifetime: the line's ttl (the store's default lifetime
when the line has none). Lines whose ttl is 0 (expired) are skipped and
counted. The data is encoded with STORE's handler (handler=), so sessions move
between the php, php_binary and php_serialize encodings; a line with "raw"
(dump --raw) whose handler is STORE's is written byte for byte instead.
With --raw every line must be written byte for byte: a line without "raw",
or with another handler, is an error.

Lines are read one at a time and written by a pool of workers. A line that
cannot be parsed, converted or written is reported on stderr with its line
number and the others are still loaded; the exit code is then 4.
` + storeHelp,
		Example: `  phpsess dump --raw redis://old:6379 > sessions.jsonl
  phpsess load --raw redis://new:6379 sessions.jsonl

  # files to Redis, converting to php_serialize on the way
  phpsess dump file:///var/lib/php/sessions | phpsess load 'redis://127.0.0.1:6379?handler=php_serialize'

  # only one user's sessions, a fresh lifetime each
  jq -c 'select(.data.user_id == 42)' sessions.jsonl | phpsess load --ttl 3600 redis://127.0.0.1:6379`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: completeStores,
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			if raw && noRaw {
				return usageErr("--raw and --no-raw cannot be combined")
			}
			opt := ops.LoadOptions{TTL: secondsFlag(ttl)}
			switch {
			case raw:
				opt.Raw = ops.RawRequire
			case noRaw:
				opt.Raw = ops.RawNever
			}
			in := a.stdin
			if len(args) == 2 && args[1] != "-" {
				f, err := os.Open(args[1])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			s, err := openStore(ctx, args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			opt.Common = a.opsCommon("load", workers, quiet)
			st, err := ops.Load(ctx, in, s, opt)
			if !quiet {
				fmt.Fprintf(a.stdout, "loaded %d sessions of %d lines in %s; expired %d, failed %d\n",
					st.Done, st.Seen, st.Elapsed.Round(time.Millisecond), st.Expired, st.Failed)
			}
			return opsErr(err)
		},
	}
	f := c.Flags()
	f.BoolVar(&raw, "raw", false, `write every session's "raw" payload byte for byte; a line without one, or of another handler, fails`)
	f.BoolVar(&noRaw, "no-raw", false, `ignore "raw": always encode "data" with the store's handler`)
	f.IntVar(&ttl, "ttl", 0, "give every session this lifetime in seconds, instead of the line's ttl")
	f.IntVar(&workers, "workers", 8, "sessions written at once")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress or summary")
	return c
}
