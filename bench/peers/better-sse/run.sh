#!/usr/bin/env bash
# Starts the better-sse peer on PORT (default 3950) for DATABASE_URL and prints its pid.
# Usage: run.sh DATABASE_URL [PORT]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
[ -d node_modules/better-sse ] || npm ci --silent --no-audit --no-fund >/dev/null
DATABASE_URL="$1" PORT="${2:-3950}" node server.js >/dev/null 2>&1 &
echo $!
