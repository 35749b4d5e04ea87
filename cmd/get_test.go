package cmd

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/phpsess/phpsess/internal/testenv"
)

// TestGetStoreDownOneLine runs `phpsess get` (this test binary, calling
// Execute with the process's own stderr) against Redis stores whose server
// is down: exit 1 and one line on stderr, with nothing else of the process
// (go-redis logs every failed dial to os.Stderr unless told not to).
func TestGetStoreDownOneLine(t *testing.T) {
	if os.Getenv("PHPSESS_CMD_EXECUTE") == "1" {
		os.Exit(Execute(flag.Args(), os.Stdin, os.Stdout, os.Stderr))
	}
	t.Parallel()
	port := testenv.FreePort(t) // nothing listens there
	for _, u := range []string{
		"redis://127.0.0.1:%d/0?timeout=500ms",
		"redis+cluster://127.0.0.1:%d?layout=native&timeout=500ms",
	} {
		u = fmt.Sprintf(u, port)
		c := exec.Command(os.Args[0], "-test.run=^TestGetStoreDownOneLine$", "--", "get", u, "0123456789abcdefghijklmnopqrstuv")
		c.Env = append(os.Environ(), "PHPSESS_CMD_EXECUTE=1")
		var stderr bytes.Buffer
		c.Stderr = &stderr
		err := c.Run()
		var ee *exec.ExitError
		msg := strings.TrimSuffix(stderr.String(), "\n")
		if !errors.As(err, &ee) || ee.ExitCode() != ExitFailure || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "phpsess: ") {
			t.Errorf("get %s: %v, stderr:\n%s\nwant exit 1 and one line", u, err, stderr.String())
		}
	}
}
