//! The job queue: a table in the same database, no broker.
//!
//! Jobs are claimed in short statements that take a lease (`locked_until`) under a
//! token of that claim's own (`lease_token`; see [`lease`] for the contract); a worker
//! that dies simply lets its leases expire and the jobs become claimable again, until
//! their attempts are used up and they go dead. PostgreSQL claims with
//! `FOR UPDATE SKIP LOCKED`, so workers on several nodes never wait on each other;
//! SQLite has one writer and needs no more. Workers wake at once when a transaction
//! enqueues (PostgreSQL `LISTEN/NOTIFY`, an in-process notification on SQLite) and
//! otherwise poll slowly as a fallback.

mod lease;
mod recurring;
mod worker;

pub use lease::{claim, complete, complete_many, extend, fail, release};
pub(crate) use lease::{claim_sql, PLAN_CLAIM_BY_RUN_AT};
pub use recurring::schedule_recurring;
pub use worker::{JobHandler, Worker, WorkerConfig, DEFAULT_TIME_LIMIT};

/// Types handler implementations need.
pub mod worker_types {
    pub use super::worker::BoxFuture;
}

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::accounts::AccountId;
use crate::error::{Error, Result};
use crate::store::{on_pool, on_tx, Store, Tx};

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub payload: Value,
    pub account: Option<AccountId>,
    /// Not before this time; `None` means now.
    pub run_at: Option<OffsetDateTime>,
    pub max_attempts: i32,
    /// At most one job with this key exists at a time (recurring jobs use it to be
    /// scheduled once per cluster, however many nodes ask).
    pub unique_key: Option<String>,
}

/// Attempts before a job is declared dead, unless the job says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 10;

impl NewJob {
    pub fn new(kind: impl Into<String>, payload: Value) -> Self {
        NewJob {
            kind: kind.into(),
            payload,
            account: None,
            run_at: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            unique_key: None,
        }
    }
}

/// A job built inside a recording transaction and written with its event by the
/// transaction's flush (no unique key: inbox deliveries never collide).
#[derive(Debug, Clone)]
pub(crate) struct PendingJob {
    pub(crate) id: Uuid,
    pub(crate) kind: &'static str,
    /// The payload as JSON text, serialised once.
    pub(crate) payload: String,
    pub(crate) account: Option<AccountId>,
    pub(crate) run_at: i64,
    pub(crate) max_attempts: i32,
    pub(crate) created_at: i64,
}

impl PendingJob {
    pub(crate) fn new(
        kind: &'static str,
        payload: String,
        account: Option<AccountId>,
        max_attempts: i32,
    ) -> Self {
        let now = now_micros();
        PendingJob {
            id: Uuid::now_v7(),
            kind,
            payload,
            account,
            run_at: now,
            max_attempts: max_attempts.max(1),
            created_at: now,
        }
    }
}

/// A claimed (or dead) job.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Job {
    pub id: Uuid,
    pub kind: String,
    #[sqlx(json)]
    pub payload: Value,
    pub account_id: Option<Uuid>,
    pub state: String,
    /// Attempts so far, including the current one for a claimed job.
    pub attempts: i32,
    pub max_attempts: i32,
    /// Microseconds since the Unix epoch.
    pub run_at: i64,
    pub last_error: Option<String>,
    pub unique_key: Option<String>,
    pub created_at: i64,
    /// The token of the claim that holds the job (`None` when nobody does). Finishing
    /// or extending the job takes it, so only the current claim can.
    pub lease_token: Option<Uuid>,
}

const JOB_COLUMNS: &str = "id, kind, payload, account_id, state, attempts, max_attempts, \
    run_at, last_error, unique_key, created_at, lease_token";

/// Now, in the queue's unit: microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64
}

fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

fn duration_micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Enqueues `job` inside `tx`: it exists, and wakes the workers, only if `tx` commits.
/// Returns `None` when a job with the same `unique_key` is already queued.
pub async fn enqueue(tx: &mut Tx, job: NewJob) -> Result<Option<Uuid>> {
    let id = Uuid::now_v7();
    let now = now_micros();
    let run_at = job.run_at.map(micros).unwrap_or(now);
    if job.max_attempts < 1 {
        return Err(Error::invalid("max_attempts", "at least 1"));
    }
    let inserted = on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO jobs (id, kind, payload, account_id, run_at, max_attempts, unique_key, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (unique_key) DO NOTHING"
    )
    .bind(id)
    .bind(&job.kind)
    .bind(sqlx::types::Json(&job.payload))
    .bind(job.account)
    .bind(run_at)
    .bind(job.max_attempts)
    .bind(&job.unique_key)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected()
    });
    if inserted == 0 {
        return Ok(None);
    }
    tx.enqueued_jobs = true;
    Ok(Some(id))
}

/// Enqueues many jobs in one transaction with multi-row inserts (bulk loads, benchmarks).
pub async fn enqueue_many(store: &Store, jobs: &[NewJob]) -> Result<u64> {
    // Ten columns a row; stay well under SQLite's and PostgreSQL's bind limits.
    const ROWS_PER_STATEMENT: usize = 500;
    let mut tx = store.begin().await?;
    let now = now_micros();
    let mut total = 0;
    for chunk in jobs.chunks(ROWS_PER_STATEMENT) {
        total += on_tx!(tx, |c| {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO jobs (id, kind, payload, account_id, run_at, max_attempts, unique_key, created_at) ",
            );
            q.push_values(chunk, |mut b, job| {
                b.push_bind(Uuid::now_v7())
                    .push_bind(&job.kind)
                    .push_bind(sqlx::types::Json(&job.payload))
                    .push_bind(job.account)
                    .push_bind(job.run_at.map(micros).unwrap_or(now))
                    .push_bind(job.max_attempts.max(1))
                    .push_bind(&job.unique_key)
                    .push_bind(now);
            });
            q.push(" ON CONFLICT (unique_key) DO NOTHING");
            q.build().execute(c).await?.rows_affected()
        });
    }
    tx.enqueued_jobs = true;
    tx.commit().await?;
    Ok(total)
}

/// The wait before attempt `attempts + 1`: `base`, 2×, 4× … capped at one hour, each
/// ±25 % at random so failed jobs do not retry in lock-step.
pub fn backoff(attempts: i32, base: Duration) -> Duration {
    let exp = attempts.clamp(1, 20) as u32 - 1;
    let delay = base
        .saturating_mul(1u32 << exp)
        .min(Duration::from_secs(3600));
    let jitter = 0.75 + fastrand::f64() * 0.5;
    delay.mul_f64(jitter)
}

/// Dead jobs, newest first, for the admin page.
pub async fn dead_jobs(store: &Store, limit: u32) -> Result<Vec<Job>> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE state = 'dead' ORDER BY created_at DESC LIMIT $1"
    );
    let jobs: Vec<Job> = on_pool!(store, |p| sqlx::query_as(&sql)
        .bind(i64::from(limit))
        .fetch_all(p)
        .await?);
    Ok(jobs)
}

/// Puts a dead job back in the queue with fresh attempts.
pub async fn retry_dead(store: &Store, id: Uuid) -> Result<()> {
    let mut tx = store.begin().await?;
    let n = on_tx!(tx, |c| sqlx::query(
        "UPDATE jobs SET state = 'ready', attempts = 0, run_at = $2, last_error = NULL, \
         locked_until = NULL, locked_by = NULL, lease_token = NULL \
         WHERE id = $1 AND state = 'dead'"
    )
    .bind(id)
    .bind(now_micros())
    .execute(c)
    .await?
    .rows_affected());
    if n == 0 {
        return Err(Error::NotFound("dead job"));
    }
    tx.enqueued_jobs = true;
    tx.commit().await
}

/// Jobs waiting (ready, whether or not leased) and dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    pub ready: i64,
    pub dead: i64,
}

pub async fn counts(store: &Store) -> Result<QueueCounts> {
    let (ready, dead): (i64, i64) = on_pool!(store, |p| sqlx::query_as(
        "SELECT count(*) FILTER (WHERE state = 'ready'), \
         count(*) FILTER (WHERE state = 'dead') FROM jobs"
    )
    .fetch_one(p)
    .await?);
    Ok(QueueCounts { ready, dead })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for attempt in 1..=25 {
            let d = backoff(attempt, Duration::from_secs(1));
            let base = (1u64 << (attempt.clamp(1, 20) - 1)).min(3600) as f64;
            assert!(d.as_secs_f64() >= base * 0.75 - 1e-9, "{attempt}: {d:?}");
            assert!(d.as_secs_f64() <= base * 1.25 + 1e-9, "{attempt}: {d:?}");
        }
    }
}
