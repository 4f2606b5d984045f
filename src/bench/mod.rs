//! Benchmarks, each measured beside its floor in the same run so the figure is a
//! ratio that holds on a noisy machine. Run them with `scripts/bench` (release build,
//! fresh SQLite file and fresh PostgreSQL database).
//!
//! - P1 [`record`]: recording (event + activity + inbox job) per second vs. a bare
//!   one-row insert transaction on the same database and durability settings; and
//!   batched recording (1,000 events per transaction).
//! - P2 [`queue`]: enqueue and drain throughput; enqueue → start latency.

pub mod queue;
pub mod record;

use std::time::Duration;

/// `n / elapsed`, per second.
pub fn rate(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// The `p`-th percentile (0–100) of sorted `samples`.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}
