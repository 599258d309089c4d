#!/usr/bin/env bash
# Everything a fresh machine of this kind needs, idempotent: OS packages, npm dependencies, build.
set -euo pipefail
cd "$(dirname "$0")/.."

# Kernel tooling for the agent and the tests (iproute2, nftables, setpriv, ping, conntrack, capture/traffic tools; openssl makes the TLS test CA);
# Chromium drives the browser tests of the web pages (headless); systemd-analyze verifies the units;
# dnsmasq and busybox (udhcpc) are the DHCP server and client of the plugin examples and their tests.
need=()
for pair in ip:iproute2 nft:nftables setpriv:util-linux umount:mount openssl:openssl ping:iputils-ping conntrack:conntrack tcpdump:tcpdump socat:socat iperf3:iperf3 chromium:chromium systemd-analyze:systemd dnsmasq:dnsmasq-base busybox:busybox; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
# The agent's netlink helper: Debian's Python with pyroute2 (batches in namespaces without a process each).
/usr/bin/python3 -c 'import pyroute2' >/dev/null 2>&1 || need+=(python3-pyroute2)
# PostgreSQL's binaries (initdb, postgres): the tests run throwaway clusters of their own, not the system's service.
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing OS packages (${need[*]}); run as root or install them yourself" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a < 20 || (a === 20 && b < 19)) { console.error(`setup: Node >= 20.19 needed, found ${process.versions.node}`); process.exit(1); }'

# npm ci only when the lock file changed since the last install (better-sqlite3 compiles ~1 min).
stamp=node_modules/.netloom-lock-hash
hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$hash" ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
  echo "$hash" > "$stamp"
fi

npm run --silent build
