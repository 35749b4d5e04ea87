#!/usr/bin/env bash
# test.sh - the whole phpsess test suite on a Debian 12 machine, as root:
# installs what the tests need (scripts/install-deps.sh: php-cli 8.2 and its
# extensions, redis-server, memcached, MariaDB, PostgreSQL, FerretDB), then
# runs every test against real servers and real PHP. The tests start their
# own throw-away servers on free loopback ports; nothing global is touched.
#
#   scripts/test.sh              install what is missing, run all tests, then
#                                every fuzz target for FUZZTIME (default 10s)
#   scripts/test.sh -run Redis   extra arguments go to `go test` (no fuzzing)
#
# For a quick loop without servers or PHP: go test -short ./...
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

scripts/install-deps.sh
echo "[test] go test ./... $*" >&2
go test -count=1 -timeout 25m "$@" ./...
if [ $# -eq 0 ]; then
  FUZZTIME=${FUZZTIME:-10s} scripts/fuzz.sh
fi
