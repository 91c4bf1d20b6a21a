#!/usr/bin/env bash
# One command to prepare a machine for buildcast: npm dependencies from the lock file, and —
# where apt is available — Debian's nats-server and redis-server (for `npm start` and the
# tests) and chromium (for the dashboard's browser test) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)

if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "setup: apt-get is not available; please install: ${missing[*]}" >&2
    echo "setup: (npm start can use NATS_URL / REDIS_URL pointing at servers elsewhere)" >&2
  fi
fi

echo "setup: installing npm dependencies from package-lock.json"
npm ci --no-audit --no-fund

echo "setup: done. Next: npm start   (gateway on http://localhost:3000)   ·   npm test"
