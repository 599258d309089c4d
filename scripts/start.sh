#!/usr/bin/env bash
# The demo: a controller and three simulated hosts with agents on this machine; networks, a router,
# a load balancer and a firewall policy, each proved with packets; the API left up; Ctrl-C removes
# everything. Needs root (it creates namespaces and bridges).
# `npm run start:controller -- [flags]` starts only the controller instead.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/apps/demo/src/main.js ] || npm run --silent build
exec node dist/apps/demo/src/main.js "$@"
