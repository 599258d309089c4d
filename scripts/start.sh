#!/usr/bin/env bash
# Starts the controller on the embedded default (SQLite under ./data, or NETLOOM_DATA_DIR).
# On the first start it prints the admin token once. Extra arguments go to the controller.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/apps/controller/src/main.js ] || npm run --silent build
exec node dist/apps/controller/src/main.js "$@"
