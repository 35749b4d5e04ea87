#!/usr/bin/env bash
# install-deps.sh - install everything phpsess's integration tests need on a
# Debian 12 (bookworm) machine, as root. Idempotent: only what is missing is
# installed, and a second run does nothing. It never starts a server: the Go
# package internal/testenv starts throw-away servers itself, on free loopback
# ports, for each test process.
#
#   * PHP 8.2 CLI + extensions: redis memcached memcache mysqli/pdo_mysql
#     pgsql/pdo_pgsql sqlite3/pdo_sqlite mongodb igbinary msgpack
#   * redis-server, memcached, MariaDB 10.11, PostgreSQL 15
#   * FerretDB v1.24.0 (a MongoDB-wire server; MongoDB is not packaged by
#     Debian), built from the Go module proxy into
#     ${XDG_CACHE_HOME:-$HOME/.cache}/phpsess/ferretdb-v1.24.0/ferretdb
#     (override the path with PHPSESS_FERRETDB_BIN; the tests use the same).
#
# Usage:
#   scripts/install-deps.sh                install what is missing
#   scripts/install-deps.sh --check        only report what is missing
#                                          (exit 1 if anything is)
#   scripts/install-deps.sh --no-ferretdb  skip the FerretDB build (~2 min)
#
# Progress goes to stderr. What was missing is detected from commands and the
# extensions `php -m` reports, not from package names, so images that ship
# e.g. postgresql-15 without the meta package are handled.
set -euo pipefail

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin:/usr/local/go/bin"   # mariadbd lives in /usr/sbin
export DEBIAN_FRONTEND=noninteractive

FERRETDB_VERSION=v1.24.0
FERRETDB_MODULE=github.com/FerretDB/FerretDB
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/phpsess"
FERRETDB_BIN="${PHPSESS_FERRETDB_BIN:-$CACHE_DIR/ferretdb-$FERRETDB_VERSION/ferretdb}"
PHP_VERSION=8.2
# PHP extension (as `php -m` names it) -> Debian package.
PHP_EXTS="redis memcached memcache mysqli pdo_mysql pgsql pdo_pgsql sqlite3 pdo_sqlite mongodb igbinary msgpack"

CHECK_ONLY=0
WITH_FERRETDB=1
for arg in "$@"; do
  case "$arg" in
    --check) CHECK_ONLY=1 ;;
    --no-ferretdb) WITH_FERRETDB=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-deps: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

T_START=$(date +%s%N)
log()  { printf '[install-deps] %s\n' "$*" >&2; }
die()  { log "ERROR: $*"; exit 1; }
# seconds since $1 (a `date +%s%N` value), e.g. 12.3
since() { local d=$(( ($(date +%s%N) - $1) / 1000000 )); printf '%d.%01d s' $((d / 1000)) $((d % 1000 / 100)); }
has() { command -v "$1" >/dev/null 2>&1; }

pg_bindir() {  # newest /usr/lib/postgresql/<ver>/bin with initdb and postgres
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
  [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && echo "$d"
}

php_ext_pkg() {
  case "$1" in
    mysqli|pdo_mysql) echo "php$PHP_VERSION-mysql" ;;
    pgsql|pdo_pgsql) echo "php$PHP_VERSION-pgsql" ;;
    sqlite3|pdo_sqlite) echo "php$PHP_VERSION-sqlite3" ;;
    *) echo "php$PHP_VERSION-$1" ;;
  esac
}

# Prints the Debian packages that are missing, one per line, sorted.
missing_packages() {
  local pkgs=() c mods="" ext
  if has "php$PHP_VERSION"; then
    mods=" $("php$PHP_VERSION" -m 2>/dev/null | tr 'A-Z\n' 'a-z ') "
  else
    pkgs+=("php$PHP_VERSION-cli")
  fi
  for ext in $PHP_EXTS; do
    [[ "$mods" == *" $ext "* ]] || pkgs+=("$(php_ext_pkg "$ext")")
  done
  has redis-server || pkgs+=(redis-server)
  has redis-cli || pkgs+=(redis-tools)
  has memcached || pkgs+=(memcached)
  for c in mariadbd mariadb-install-db; do has "$c" || pkgs+=(mariadb-server); done
  for c in mariadb mariadb-admin; do has "$c" || pkgs+=(mariadb-client); done
  pg_bindir >/dev/null || pkgs+=(postgresql)
  has psql || pkgs+=(postgresql-client)
  # The FerretDB build fetches modules over HTTPS.
  [ -s /etc/ssl/certs/ca-certificates.crt ] || pkgs+=(ca-certificates)
  [ "${#pkgs[@]}" -eq 0 ] || printf '%s\n' "${pkgs[@]}" | sort -u
}

ferretdb_ok() { [ -x "$FERRETDB_BIN" ] && "$FERRETDB_BIN" --version >/dev/null 2>&1; }

# ------------------------------------------------------------------ --check --
if [ "$CHECK_ONLY" = 1 ]; then
  missing="$(missing_packages)"
  rc=0
  if [ -n "$missing" ]; then
    log "missing Debian packages: $(echo "$missing" | tr '\n' ' ')"; rc=1
  else
    log "all Debian packages present"
  fi
  if [ "$WITH_FERRETDB" = 1 ]; then
    if ferretdb_ok; then log "ferretdb $FERRETDB_VERSION present: $FERRETDB_BIN"
    else log "missing: ferretdb $FERRETDB_VERSION binary at $FERRETDB_BIN"; rc=1; fi
  fi
  exit "$rc"
fi

# ------------------------------------------------------------------ install --
[ "$(id -u)" -eq 0 ] || die "run as root (apt-get install is needed)"
mkdir -p "$CACHE_DIR"
# Two runs at once (CI and a developer, say) would fight over dpkg and the
# build dir: serialise them. Children never outlive the script, so the fd
# they inherit is harmless.
exec 9>"$CACHE_DIR/install-deps.lock"
flock -w 900 9 || die "another install-deps.sh holds $CACHE_DIR/install-deps.lock"

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/phpsess-install-deps.XXXXXX")"
POLICY=/usr/sbin/policy-rc.d
POLICY_STATE=none   # none | created | replaced
restore_policy() {
  case "$POLICY_STATE" in
    created) rm -f "$POLICY" ;;
    replaced) mv -f "$SCRATCH/policy-rc.d.orig" "$POLICY" ;;
  esac
  POLICY_STATE=none
}
cleanup() { restore_policy; rm -rf "$SCRATCH"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

install_packages() {
  local missing t0
  missing="$(missing_packages)"
  if [ -z "$missing" ]; then log "Debian packages: all present"; return 0; fi
  # shellcheck disable=SC2086
  log "Debian packages to install: $(echo $missing)"
  # Without systemd, postinst scripts would start Debian's own redis,
  # memcached, mariadb and postgres on the default ports through invoke-rc.d.
  # A policy-rc.d that exits 101 forbids that; put one in place for the
  # install only, and restore whatever was there afterwards.
  if [ -e "$POLICY" ] || [ -L "$POLICY" ]; then
    cp -a "$POLICY" "$SCRATCH/policy-rc.d.orig"; POLICY_STATE=replaced
  else
    POLICY_STATE=created
  fi
  printf '#!/bin/sh\n# temporary, from phpsess scripts/install-deps.sh\nexit 101\n' > "$POLICY.phpsess"
  chmod 755 "$POLICY.phpsess"; mv -f "$POLICY.phpsess" "$POLICY"

  t0=$(date +%s%N)
  apt-get -o DPkg::Lock::Timeout=300 -qq update >"$SCRATCH/apt-update.log" 2>&1 \
    || { tail -n 20 "$SCRATCH/apt-update.log" >&2; die "apt-get update failed"; }
  log "apt-get update: $(since "$t0")"
  t0=$(date +%s%N)
  # shellcheck disable=SC2086
  apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends $missing \
    >"$SCRATCH/apt-install.log" 2>&1 \
    || { tail -n 30 "$SCRATCH/apt-install.log" >&2; die "apt-get install failed"; }
  restore_policy
  log "apt-get install: $(since "$t0")"

  missing="$(missing_packages)"
  # shellcheck disable=SC2086
  [ -z "$missing" ] || die "still missing after apt-get install: $(echo $missing) (a PHP extension disabled with phpdismod? try: phpenmod -v $PHP_VERSION EXT)"
}

build_ferretdb() {
  local t0 dir
  if ferretdb_ok; then log "ferretdb $FERRETDB_VERSION: already built ($FERRETDB_BIN)"; return 0; fi
  has go || die "go is needed to build FerretDB (Go >= 1.22; Debian's golang-go is too old)"
  log "ferretdb $FERRETDB_VERSION: building from the Go module proxy (about 2 minutes, ~600 MB of modules)"
  t0=$(date +%s%N)
  # `go install ...@v1.24.0` fails (the proxy refuses the module's version
  # list, which go install reads for its deprecation check), but a pinned
  # `go get` in a scratch module resolves. The module zip lacks
  # build/version/version.txt, without which the binary panics at start, and
  # GOMODCACHE is read-only, so build from a copy of the module source.
  (
    set -e
    export GOWORK=off GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
    cd "$SCRATCH"
    mkdir build && cd build
    go mod init phpsess.local/ferretdb-build
    go get "$FERRETDB_MODULE@$FERRETDB_VERSION"
    dir="$(go list -m -f '{{.Dir}}' "$FERRETDB_MODULE")"
    cp -r "$dir" "$SCRATCH/src"
    chmod -R u+w "$SCRATCH/src"
    echo "$FERRETDB_VERSION" > "$SCRATCH/src/build/version/version.txt"
    mkdir -p "$(dirname "$FERRETDB_BIN")"
    cd "$SCRATCH/src"
    go build -trimpath -o "$FERRETDB_BIN.tmp.$$" ./cmd/ferretdb
    "$FERRETDB_BIN.tmp.$$" --version
    mv -f "$FERRETDB_BIN.tmp.$$" "$FERRETDB_BIN"
  ) >"$SCRATCH/ferretdb-build.log" 2>&1 || {
    tail -n 30 "$SCRATCH/ferretdb-build.log" >&2
    rm -f "$FERRETDB_BIN.tmp.$$"
    die "ferretdb build failed"
  }
  log "ferretdb $FERRETDB_VERSION: built in $(since "$t0") -> $FERRETDB_BIN"
}

install_packages
if [ "$WITH_FERRETDB" = 1 ]; then build_ferretdb; fi
log "done in $(since "$T_START")"
