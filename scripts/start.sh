#!/usr/bin/env bash
# The demo: controller + agent on this machine, a network with two ports, a ping between them,
# the API left up; Ctrl-C removes everything. Needs root (it creates namespaces and bridges).
# `npm run start:controller -- [flags]` starts only the controller instead.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/apps/demo/src/main.js ] || npm run --silent build
exec node dist/apps/demo/src/main.js "$@"
