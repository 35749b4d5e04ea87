package bench

import (
	"testing"

	"github.com/phpsess/phpsess/internal/testenv"
)

// TestMain stops the servers the migration benchmarks start.
func TestMain(m *testing.M) { testenv.Run(m) }
