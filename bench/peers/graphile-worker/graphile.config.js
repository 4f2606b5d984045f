// graphile-worker's batched, high-throughput settings, as its performance page
// (https://worker.graphile.org/docs/performance) recommends for many fast jobs:
// concurrency 24 on a pool of 25 connections, a local queue of 500 jobs fetched
// (and locked) per round trip, and completions/failures batched per tick
// (delay 0 ms = whatever accumulated before the next turn of the event loop).
// drain.js loads this preset; `npx graphile-worker` in this folder picks it up too.
/** @type {GraphileConfig.Preset} */
module.exports = {
  worker: {
    connectionString: process.env.DATABASE_URL,
    fileExtensions: [".js", ".cjs", ".mjs"],
    concurrentJobs: 24,
    maxPoolSize: 25,
    localQueue: { size: 500 },
    completeJobBatchDelay: 0,
    failJobBatchDelay: 0,
  },
};
