package cmd

import (
	"testing"

	"github.com/phpsess/phpsess/internal/testenv"
)

// TestMain stops the shared test servers (Redis, Memcached, ...) that the
// command tests start, after all tests of the package.
func TestMain(m *testing.M) { testenv.Run(m) }
