#!/usr/bin/env bash
# Set up and run the whole test suite on SQLite and PostgreSQL.
#
# Creates .venv (if missing), installs the project with its test extras, installs the Debian
# postgresql and redis-server packages when missing, starts a throw-away PostgreSQL cluster
# and a Redis (the shared rate-limit store) on 127.0.0.1 (free ports, data in temp dirs),
# starts the test identity provider (oidc-provider from npm, tests/oidc), installs the
# Debian chromium and chromium-driver packages and axe-core (npm) for the console's browser
# tests, runs ruff and pytest against both databases, and stops and removes all three
# whatever happens.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"

# --- PostgreSQL: install if missing, start a throw-away cluster -------------------------
export DEBIAN_FRONTEND=noninteractive
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "test.sh: installing PostgreSQL (Debian package)"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGPORT=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PGROOT=$(mktemp -d /tmp/pathfinder-pg.XXXXXX)
if [ "$(id -u)" -eq 0 ]; then
  # initdb refuses to run as root: the cluster belongs to the postgres system user.
  chown postgres:postgres "$PGROOT"
  AS_PG=(runuser -u postgres --)
else
  AS_PG=()
fi
stop_pg() {
  "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGROOT/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$PGROOT"
}
trap stop_pg EXIT
"${AS_PG[@]}" "$PGBIN/initdb" -D "$PGROOT/data" -U pf --auth=trust -E UTF8 --locale=C.UTF-8 \
  --no-sync >/dev/null
"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGROOT/data" -l "$PGROOT/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PGPORT -c unix_socket_directories=$PGROOT \
      -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
      -c max_locks_per_transaction=512 -c max_connections=200" start >/dev/null
"$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U pf pathfinder_test
export PATHFINDER_TEST_PG_URL="postgresql+psycopg://pf@127.0.0.1:$PGPORT/pathfinder_test"
export PATHFINDER_TEST_REQUIRE_PG=1
echo "test.sh: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PGPORT"

# --- Redis: the shared rate-limit store, installed if missing, on a free loopback port ----
if ! command -v redis-server >/dev/null 2>&1; then
  echo "test.sh: installing Redis (Debian package)"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi
REDIS_PORT=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
REDIS_DIR=$(mktemp -d /tmp/pathfinder-redis.XXXXXX)
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
  --dir "$REDIS_DIR" --daemonize yes --pidfile "$REDIS_DIR/redis.pid" \
  --logfile "$REDIS_DIR/redis.log" >/dev/null
stop_all() {
  if [ -f "$REDIS_DIR/redis.pid" ]; then kill "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null || true; fi
  rm -rf "$REDIS_DIR"
  stop_pg
}
trap stop_all EXIT
for _ in $(seq 1 50); do
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
  sleep 0.1
done
export PATHFINDER_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
echo "test.sh: Redis $(redis-server --version | awk '{print $3}' | cut -d= -f2) on 127.0.0.1:$REDIS_PORT"

# --- the test identity provider: oidc-provider (npm) on a free loopback port -------------
# Installed into a temporary folder (node_modules never enters the repository); the server
# and its configuration are tests/oidc/. The single sign-on tests read its URL.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "test.sh: installing Node.js and npm (Debian packages)"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
OIDC_DIR=$(mktemp -d /tmp/pathfinder-oidc.XXXXXX)
OIDC_CACHE=${PATHFINDER_OIDC_CACHE:-/tmp/pathfinder-oidc-provider}
if [ ! -d "$OIDC_CACHE/node_modules/oidc-provider" ]; then
  echo "test.sh: installing oidc-provider (npm) into $OIDC_CACHE"
  mkdir -p "$OIDC_CACHE"
  (cd "$OIDC_CACHE" && echo '{"private": true}' > package.json \
    && npm install --silent --no-audit --no-fund --no-save oidc-provider@9.13.3 >/dev/null)
fi
ln -s "$OIDC_CACHE/node_modules" "$OIDC_DIR/node_modules"
cp tests/oidc/provider.mjs "$OIDC_DIR/"
OIDC_PORT=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
node "$OIDC_DIR/provider.mjs" --port "$OIDC_PORT" --config "$PWD/tests/oidc/provider.json" \
  >"$OIDC_DIR/provider.log" 2>&1 &
OIDC_PID=$!
stop_everything() {
  kill "$OIDC_PID" 2>/dev/null || true
  rm -rf "$OIDC_DIR"
  stop_all
}
trap stop_everything EXIT
# Python's urllib, not curl: a fresh machine need not have curl.
for _ in $(seq 1 100); do
  .venv/bin/python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
    "http://127.0.0.1:$OIDC_PORT/__test/health" >/dev/null 2>&1 && break
  sleep 0.1
done
export PATHFINDER_TEST_OIDC_URL="http://127.0.0.1:$OIDC_PORT"
export PATHFINDER_TEST_REQUIRE_OIDC=1
echo "test.sh: oidc-provider $(node -p "require('$OIDC_CACHE/node_modules/oidc-provider/package.json').version") on 127.0.0.1:$OIDC_PORT"

# --- the console's browser tests: Debian's Chromium and chromedriver, axe-core from npm ----
# Selenium drives /usr/bin/chromium through /usr/bin/chromedriver and never downloads a
# browser or a driver; axe.min.js is injected into each page for the accessibility scan.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "test.sh: installing Chromium and chromedriver (Debian packages)"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
AXE_CACHE=${PATHFINDER_AXE_CACHE:-/tmp/pathfinder-axe-core}
if [ ! -f "$AXE_CACHE/node_modules/axe-core/axe.min.js" ]; then
  echo "test.sh: installing axe-core (npm) into $AXE_CACHE"
  mkdir -p "$AXE_CACHE"
  (cd "$AXE_CACHE" && echo '{"private": true}' > package.json \
    && npm install --silent --no-audit --no-fund --no-save axe-core@4.11.0 >/dev/null)
fi
export PATHFINDER_TEST_AXE_JS="$AXE_CACHE/node_modules/axe-core/axe.min.js"
echo "test.sh: $(chromium --version 2>/dev/null | head -1), axe-core $(node -p "require('$AXE_CACHE/node_modules/axe-core/package.json').version")"

# --- lint, then the suite ----------------------------------------------------------------
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest "$@"
