// Package reliability holds phpsess's whole-product stress tests: faults
// injected into real servers in the middle of get, put, migrate and serve
// traffic (TestFault*), a soak of PHP requests mixed with `phpsess serve`
// and CLI traffic on the same sessions (TestSoak), and hostile input at
// every entry point (TestHostile*). The package has no API: it is tests
// only.
//
// Every test prints machine-readable result lines on standard output,
//
//	RELIABILITY fault redis-kill survived recovery=1.2s errors=37
//	RELIABILITY hostile http/nested-100k rejected status=400
//	RELIABILITY soak ops=5321 errors=0 lost=0 rss_first_kb=14200 rss_last_kb=15100 rss_max_kb=15800
//
// which scripts/reliability.sh counts into its table. They are ordinary Go
// tests: `go test ./...` runs them (with a 15 s soak; PHPSESS_SOAK=2m for a
// longer one), and `go test -short` skips those that need servers or PHP.
package reliability
