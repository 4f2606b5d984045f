#!/usr/bin/env bash
# graphile-worker's drain rate on this machine, at its documented high-throughput
# settings (graphile.config.js: -j 24, pool of 25, local queue of 500, batched
# completion): queue JOBS no-op jobs with one SQL statement (add_jobs), ANALYZE the
# table, then time one worker process draining them, from its worker pool starting
# (Node up, connected, schema checked) until the jobs table is empty (drain.js).
# Usage: run.sh ADMIN_URL [JOBS]
# Prints "graphile-worker: N jobs/s (...)" and a line with the untimed start-up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
admin=${1:?admin PostgreSQL URL}
jobs=${2:-20000}
want=$(node -p 'require("./package.json").dependencies["graphile-worker"]')
have=$(node -p 'try { require("./node_modules/graphile-worker/package.json").version } catch { "" }')
# graphile-worker 0.18 declares Node >= 22.18 but runs on Node 20 (no .ts tasks here).
[ "$have" = "$want" ] || npm ci --silent --no-audit --no-fund >/dev/null
db="chronicle_t_graphile_$$"
psql -q "$admin" -c "CREATE DATABASE $db" >/dev/null
trap 'psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
url="${admin%/*}/$db"
node node_modules/graphile-worker/dist/cli.js -c "$url" --schema-only >/dev/null
psql -q "$url" -c "SELECT count(*) FROM graphile_worker.add_jobs(ARRAY(
  SELECT ROW('noop', json_build_object('i', i), NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec
  FROM generate_series(1, $jobs) i))" >/dev/null
# Planner statistics for the freshly filled table, as autovacuum would gather within a
# minute: without them each fetch of 500 jobs seq-scans and sorts the whole table
# (halves the rate at 100,000 jobs).
psql -q "$url" -c "ANALYZE graphile_worker._private_jobs" >/dev/null
LAUNCH_MS=$(date +%s%3N) node drain.js "$url" "$jobs"
