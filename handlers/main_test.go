package handlers_test

import (
	"testing"

	"github.com/phpsess/phpsess/internal/testenv"
)

// TestMain stops the shared test servers (Redis, Memcached, MariaDB,
// Postgres) that the backends' tests start, after all tests of the package.
// There is one TestMain per package: every backend's tests rely on this one.
func TestMain(m *testing.M) { testenv.Run(m) }
