// Times graphile-worker draining a jobs table that run.sh filled beforehand, with the
// batched settings of graphile.config.js, in one process through the library's run().
// The clock starts when the worker pool is created ("pool:create", emitted just
// before the local queue's first fetch) — after Node's start-up, loading the library,
// opening every connection of the pool, the schema check and loading tasks/ — and
// stops when PostgreSQL reports the jobs table empty, i.e. the last batch of
// completions has been committed. Start-up is measured and printed separately.
// Usage: LAUNCH_MS=<epoch ms before exec> node drain.js DATABASE_URL JOBS
"use strict";

// graphile-worker logs every completed job at info level unless this is set (read
// when the module loads); its own perf test sets it too.
process.env.NO_LOG_SUCCESS = "1";

const { performance } = require("node:perf_hooks");
const EventEmitter = require("node:events");
const pg = require("pg");
const preset = require("./graphile.config.js");

const secs = (ms) => (ms / 1000).toFixed(2);

async function main() {
  const [url, jobsArg] = process.argv.slice(2);
  const expected = Number(jobsArg);
  if (!url || !Number.isInteger(expected) || expected < 1) {
    throw new Error("usage: node drain.js DATABASE_URL JOBS");
  }
  const launchedAt = Number(process.env.LAUNCH_MS) || performance.timeOrigin;

  const { run, Logger } = await import("graphile-worker");
  const loaded = performance.now();

  // Only warnings and errors, on stderr: stdout carries the result.
  const logger = new Logger(() => (level, message) => {
    if (level === "error" || level === "warning") {
      console.error(`graphile-worker ${level}: ${message}`);
    }
  });

  // The pool graphile-worker runs on, every connection opened before the clock
  // starts (as a long-running worker's would be).
  const { maxPoolSize, concurrentJobs, localQueue } = preset.worker;
  const pool = new pg.Pool({ connectionString: url, max: maxPoolSize });
  pool.on("error", (e) => console.error(`idle client error: ${e.message}`));
  pool.on("connect", (client) =>
    client.on("error", (e) => console.error(`client error: ${e.message}`)),
  );
  const clients = await Promise.all(
    Array.from({ length: maxPoolSize }, () => pool.connect()),
  );
  for (const client of clients) client.release();

  // A connection of our own, outside the pool, to watch the jobs table.
  const watcher = new pg.Client({ connectionString: url });
  await watcher.connect();
  const remaining = async () =>
    (
      await watcher.query({
        name: "remaining",
        text: "SELECT count(*)::int AS n FROM graphile_worker._private_jobs",
      })
    ).rows[0].n;

  const events = new EventEmitter();
  let started = null;
  let succeeded = 0;
  let lastProgress = performance.now();
  let problem = null;
  let wake = () => {};
  const allRan = new Promise((resolve) => (wake = resolve));
  events.on("pool:create", () => {
    started = performance.now();
  });
  events.on("job:success", () => {
    succeeded += 1;
    lastProgress = performance.now();
    if (succeeded === expected) wake();
  });
  events.on("job:error", ({ error }) => {
    problem = `a job failed: ${error}`;
    wake();
  });
  events.on("pool:fatalError", ({ error }) => {
    problem = `worker pool fatal error: ${error}`;
    wake();
  });
  const stall = setInterval(() => {
    if (performance.now() - lastProgress > 30000) {
      problem = `no job finished for 30 s (${succeeded} of ${expected} done)`;
      wake();
    }
  }, 1000);

  const runner = await run({ preset, pgPool: pool, events, logger });

  // Counting successes in-process costs nothing; once all have run, ask the
  // database until the batched completions are committed and the table is empty.
  await allRan;
  clearInterval(stall);
  if (problem) throw new Error(problem);
  const deadline = performance.now() + 30000;
  let left = await remaining();
  while (left > 0) {
    if (performance.now() > deadline) {
      throw new Error(`all ${expected} jobs ran but ${left} are still in the table`);
    }
    left = await remaining();
  }
  const finished = performance.now();

  await runner.stop();
  await runner.promise;
  await watcher.end();
  await pool.end();

  const drain = finished - started;
  const rate = Math.round(expected / (drain / 1000));
  console.log(
    `graphile-worker: ${rate} jobs/s (${expected} jobs in ${secs(drain)} s, ` +
      `-j ${concurrentJobs}, local queue ${localQueue.size}, batched completion)`,
  );
  const node = performance.timeOrigin + loaded - launchedAt;
  console.log(
    `graphile-worker: not timed: start-up ${secs(performance.timeOrigin + started - launchedAt)} s ` +
      `(Node + loading the library ${secs(node)} s, ` +
      `${maxPoolSize} connections + schema check + tasks ${secs(started - loaded)} s)`,
  );
}

main().catch((e) => {
  console.error(`drain.js: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
