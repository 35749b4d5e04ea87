// Package cmd holds the phpsess command line: one file per subcommand.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
)

// Exit codes, documented in README.md.
const (
	ExitOK       = 0 // success
	ExitFailure  = 1 // the input, a session or a store was bad: see the message
	ExitUsage    = 2 // wrong flags or arguments
	ExitNotFound = 3 // the session does not exist
	ExitPartial  = 4 // a long run finished, but some items failed
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

func usageErr(format string, args ...any) error {
	return withCode(ExitUsage, fmt.Errorf(format, args...))
}

// app is the state shared by the commands of one invocation.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// completing says whether flag completions are wanted: cobra keeps
	// them in a package-level map that is never cleared, so an in-process
	// Execute registers them only when the shell asks for completions.
	completing bool
}

// completeFlag registers a flag's shell completion when completing.
func (a *app) completeFlag(c *cobra.Command, flag string, fn func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective)) {
	if a.completing {
		_ = c.RegisterFlagCompletionFunc(flag, fn)
	}
}

// quietRedis silences go-redis's own logger, which writes a line of its
// own to the process's stderr for every failed dial ("redis: connection
// pool: failed to dial after 1 attempts: ..."): the same failure reaches
// the caller as an error, so a store that is down made `phpsess get` print
// two lines instead of its one, and put unformatted lines among the logs
// of `phpsess serve`.
var quietRedis sync.Once

// noRedisLog is a go-redis logger that drops everything.
type noRedisLog struct{}

func (noRedisLog) Printf(context.Context, string, ...any) {}

// Version is set at build time with -ldflags "-X github.com/phpsess/phpsess/cmd.Version=...".
var Version = "dev"

// NewRoot returns the phpsess command tree, reading and writing the given
// streams.
func NewRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	return newRoot(stdin, stdout, stderr, true)
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer, completing bool) *cobra.Command {
	quietRedis.Do(func() { redis.SetLogger(noRedisLog{}) })
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, completing: completing}
	root := &cobra.Command{
		Use:   "phpsess",
		Short: "Read, write and move live PHP sessions",
		Long: `phpsess reads and writes PHP sessions byte for byte as PHP does: the serialize
format, the session encodings php, php_binary and php_serialize, and the storage
layouts of PHP's own save handlers, CodeIgniter, Phalcon and DALMP.`,
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return withCode(ExitUsage, fmt.Errorf("%w (see %s --help)", err, c.CommandPath()))
	})
	root.AddCommand(
		a.decodeCmd(),
		a.encodeCmd(),
		a.getCmd(),
		a.putCmd(),
		a.rmCmd(),
		a.lsCmd(),
		a.gcCmd(),
		a.migrateCmd(),
		a.serveCmd(),
		a.dumpCmd(),
		a.loadCmd(),
		a.findCmd(),
		a.detectCmd(),
		a.manCmd(),
		a.refsCmd(),
	)
	return root
}

// Execute runs phpsess with args and returns the process exit code. Errors
// are printed as one line on stderr.
func Execute(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	completing := len(args) > 0 && strings.HasPrefix(args[0], cobra.ShellCompRequestCmd)
	root := newRoot(stdin, stdout, stderr, completing)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(stderr, "phpsess: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if isUsage(err) {
		return ExitUsage
	}
	return ExitFailure
}

// isUsage recognizes cobra's own argument errors.
func isUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "accepts ", "requires at least", "requires at most", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
