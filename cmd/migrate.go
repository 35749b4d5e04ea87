package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/phpsess/phpsess/migrate"
	"github.com/spf13/cobra"
)

func (a *app) migrateCmd() *cobra.Command {
	var from, to, conflict, match, since, report, checkpoint string
	var workers, ttl int
	var rateLimit float64
	var dry, verify, move, lock, strict, final, quiet bool
	c := &cobra.Command{
		Use:   "migrate --from STORE --to STORE",
		Short: "Copy every session from one store to another, live",
		Long: `Migrate copies every session from one store and layout to another while both
applications may be live, so that an app can move its sessions (files to Redis,
CodeIgniter MySQL to Redis, memcached to Redis Cluster, CodeIgniter to native)
and log nobody out.

Each session keeps what is left of its lifetime; expired ones are skipped and
counted. Payloads are converted between the php, php_binary and php_serialize
encodings where the stores differ (a session that cannot be converted exactly
is reported and skipped). The source is read as a stream and sessions are
copied by a pool of workers; memory stays flat as the store grows.

With --lock each session is copied under the source's lock, as a PHP request
would take it. --final-pass (on by default) lists the source again at the end
and copies the sessions that changed during the run. --checkpoint FILE makes a
run resumable: run the same command again after a crash or a kill, and it
continues where it was.

A session that cannot be read or decoded at the source is reported with its id
and skipped (the run stops there only with --strict); the exit code is then 4.
` + storeHelp,
		Example: `  # files to Redis, checking every copy, resumable
  phpsess migrate --from file:///var/lib/php/sessions --to redis://10.0.0.7:6379 \
      --verify --checkpoint /tmp/sess-migration.ckpt

  # CodeIgniter 3 on MySQL to CodeIgniter 4 on Redis, counts only
  phpsess migrate --from 'mysql://app:secret@db/app?layout=ci3' \
      --to 'redis://cache:6379?layout=ci4&cookie=ci_session' --dry-run

  # move (delete at the source after a verified copy), 200 sessions/s at most
  phpsess migrate --from memcached://10.0.0.5:11211 --to redis://10.0.0.7:6379 --move --rate 200`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			if from == "" || to == "" {
				return usageErr("--from and --to are required")
			}
			var sinceT time.Time
			if since != "" {
				d, err := time.ParseDuration(since)
				if err == nil {
					sinceT = time.Now().Add(-d)
				} else if sinceT, err = time.Parse(time.RFC3339, since); err != nil {
					return usageErr("--since %q: want a duration (30m) or an RFC 3339 time", since)
				}
			}
			src, err := openStore(ctx, from)
			if err != nil {
				return err
			}
			defer src.Close()
			dst, err := openStore(ctx, to)
			if err != nil {
				return err
			}
			defer dst.Close()
			opt := migrate.Options{
				From: src, To: dst, Workers: workers, Rate: rateLimit, DryRun: dry, Verify: verify, Move: move,
				Lock: lock, Strict: strict, Conflict: migrate.Conflict(conflict), Match: match, Since: sinceT,
				TTL: secondsFlag(ttl), Checkpoint: checkpoint, FinalPass: final && !move,
				Logger: slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
			}
			if !quiet {
				opt.Progress = newProgress(a.stderr)
			}
			rep, runErr := migrate.Run(ctx, opt)
			if rep != nil {
				s := rep.Stats
				verb := "copied"
				if dry {
					verb = "would copy"
				}
				fmt.Fprintf(a.stdout, "%s %d sessions (%s) in %s, %.0f sessions/s; skipped %d, expired %d, resumed %d, recopied %d, verified %d, moved %d, failed %d\n",
					verb, s.Copied, byteSize(s.Bytes), s.Elapsed.Round(time.Millisecond), s.PerSecond, s.Skipped, s.Expired, s.Resumed, s.Recopied, s.Verified, s.Moved, s.Failed)
				if report != "" {
					b, _ := json.MarshalIndent(rep, "", "  ")
					if err := os.WriteFile(report, append(b, '\n'), 0o600); err != nil {
						return err
					}
				}
			}
			if errors.Is(runErr, migrate.ErrFailed) {
				return withCode(ExitPartial, runErr)
			}
			return runErr
		},
	}
	f := c.Flags()
	f.StringVar(&from, "from", "", "source store URL")
	f.StringVar(&to, "to", "", "target store URL")
	f.IntVar(&workers, "workers", 8, "sessions copied at once")
	f.Float64Var(&rateLimit, "rate", 0, "at most this many sessions per second (0: no limit)")
	f.BoolVar(&dry, "dry-run", false, "read and convert everything, write nothing; print counts and sizes")
	f.BoolVar(&verify, "verify", false, "read every session back from the target and compare it with the source")
	f.BoolVar(&move, "move", false, "delete each session from the source after a verified copy")
	f.BoolVar(&lock, "lock", false, "copy each session under the source's PHP-compatible lock")
	f.BoolVar(&strict, "strict", false, "stop at the first session that cannot be copied")
	f.BoolVar(&final, "final-pass", true, "copy again the sessions that changed at the source during the run")
	f.StringVar(&conflict, "conflict", "overwrite", "when the target has the session: overwrite, skip, or newer")
	f.StringVar(&match, "match", "", "copy only ids matching this glob (e.g. 'ab*')")
	f.StringVar(&since, "since", "", "copy only sessions modified since: a duration (24h) or an RFC 3339 time")
	f.IntVar(&ttl, "ttl", 0, "give every copy this lifetime in seconds, instead of what is left at the source")
	f.StringVar(&checkpoint, "checkpoint", "", "resume file: finished sessions are recorded here and skipped on the next run")
	f.StringVar(&checkpoint, "resume", "", "same as --checkpoint")
	f.StringVar(&report, "report", "", "write the final report as JSON to this file")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress output")
	a.completeFlag(c, "conflict", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"overwrite", "skip", "newer"}, cobra.ShellCompDirectiveNoFileComp
	})
	return c
}

// newProgress returns a progress printer: a bar with rate and ETA redrawn in
// place on a terminal, a plain line every 10 s otherwise.
func newProgress(w io.Writer) func(migrate.Stats) {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	var last time.Time
	return func(s migrate.Stats) {
		done := s.Copied + s.Skipped + s.Expired + s.Failed + s.Resumed
		if tty {
			line := fmt.Sprintf("%s %d/%s  %.0f/s  ETA %s  failed %d", bar(done, s.Total), done, totalText(s.Total), s.PerSecond, eta(done, s.Total, s.Elapsed), s.Failed)
			end := ""
			if !s.InProgress {
				end = "\n"
			}
			fmt.Fprintf(w, "\r\033[K%s%s", line, end)
			return
		}
		if s.InProgress && time.Since(last) < 10*time.Second {
			return
		}
		last = time.Now()
		fmt.Fprintf(w, "phpsess: migrate: %d/%s done, %d copied, %d failed, %.0f sessions/s, elapsed %s\n", done, totalText(s.Total), s.Copied, s.Failed, s.PerSecond, s.Elapsed.Round(time.Second))
	}
}

func totalText(total int64) string {
	if total < 0 {
		return "?"
	}
	return fmt.Sprint(total)
}

func bar(done, total int64) string {
	const width = 30
	if total <= 0 {
		return "[" + strings.Repeat("?", width) + "]"
	}
	n := int(min(done, total) * width / total)
	return "[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "]"
}

func eta(done, total int64, elapsed time.Duration) string {
	if total <= 0 || done <= 0 || done >= total {
		return "-"
	}
	left := time.Duration(float64(elapsed) * float64(total-done) / float64(done))
	return left.Round(time.Second).String()
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
