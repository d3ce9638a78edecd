#!/usr/bin/env bash
# Set up and run the API on SQLite: virtualenv, install, `pathfinder db init`, serve on
# 127.0.0.1 (port from PORT, default 5000). Safe to run again; data stays in ./instance/.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
.venv/bin/pathfinder db init
# Mailed API requests (invitations, resets) name the address this server answers on.
export PATHFINDER_PUBLIC_BASE_URL="${PATHFINDER_PUBLIC_BASE_URL:-http://127.0.0.1:${PORT:-5000}}"
exec .venv/bin/pathfinder run --host 127.0.0.1 --port "${PORT:-5000}"
