#!/usr/bin/env bash
# graphile-worker's throughput method on this machine: queue JOBS no-op jobs with one
# SQL statement, then time `graphile-worker --once -j 24` draining them.
# Usage: run.sh ADMIN_URL [JOBS]   (prints "graphile-worker: N jobs/s")
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
admin=${1:?admin PostgreSQL URL}
jobs=${2:-20000}
[ -d node_modules/graphile-worker ] || npm install --silent --no-audit --no-fund >/dev/null
db="chronicle_t_graphile_$$"
psql -q "$admin" -c "CREATE DATABASE $db" >/dev/null
trap 'psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
url="${admin%/*}/$db"
npx graphile-worker -c "$url" --schema-only >/dev/null 2>&1
psql -q "$url" -c "SELECT graphile_worker.add_job('noop', json_build_object('i', i)) FROM generate_series(1, $jobs) i" >/dev/null
start=$(date +%s.%N)
npx graphile-worker -c "$url" --once -j 24 >/dev/null 2>&1
end=$(date +%s.%N)
left=$(psql -qAt "$url" -c "SELECT count(*) FROM graphile_worker.jobs" 2>/dev/null || psql -qAt "$url" -c "SELECT count(*) FROM graphile_worker._private_jobs")
python3 -c "import sys; n=$jobs-$left; t=$end-$start; print(f'graphile-worker: {n/t:.0f} jobs/s ({n} jobs in {t:.1f} s, -j 24)')"
