//! Recurring jobs: one row per kind for the whole cluster (its `unique_key`), which
//! each run replaces with the next.
//!
//! A recurring job never dies of its own failures: a failed run is tried again after a
//! back-off that grows with the failures in a row but never waits longer than the
//! interval, and its attempts start over, so the schedule goes on. Its attempts still
//! end a run that keeps killing its process (see [`super::lease`]); such a dead row is
//! brought back, with a warning, the next time a node schedules the kind.

use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;

use super::{backoff, enqueue, now_micros, Job, NewJob};
use crate::error::Result;
use crate::store::{on_tx, Store};

/// The key that makes a kind's recurring job one per cluster.
fn unique_key(kind: &str) -> String {
    format!("recurring:{kind}")
}

fn recurring_job(kind: &str, run_at: Option<OffsetDateTime>) -> NewJob {
    NewJob {
        run_at,
        unique_key: Some(unique_key(kind)),
        ..NewJob::new(kind, json!({}))
    }
}

/// Schedules `kind` to run now unless a run is already scheduled, and brings back a
/// run that went dead (a dead row would otherwise hold the key and stop the schedule).
pub async fn schedule_recurring(store: &Store, kind: &str) -> Result<()> {
    let mut tx = store.begin().await?;
    enqueue(&mut tx, recurring_job(kind, None)).await?;
    let revived = on_tx!(tx, |c| sqlx::query(
        "UPDATE jobs SET state = 'ready', attempts = 0, run_at = $2, locked_until = NULL, \
         locked_by = NULL, lease_token = NULL WHERE unique_key = $1 AND state = 'dead'"
    )
    .bind(unique_key(kind))
    .bind(now_micros())
    .execute(c)
    .await?
    .rows_affected());
    if revived > 0 {
        tracing::warn!(%kind, "the recurring job was dead; it is scheduled again");
        tx.enqueued_jobs = true;
    }
    tx.commit().await
}

/// After a successful run: deletes the run and schedules the next one `interval` from
/// now, atomically. Does nothing if the claim no longer holds the run.
pub(crate) async fn schedule_next(store: &Store, job: &Job, interval: Duration) -> Result<()> {
    let mut tx = store.begin().await?;
    let deleted = on_tx!(tx, |c| sqlx::query(
        "DELETE FROM jobs WHERE id = $1 AND lease_token = $2"
    )
    .bind(job.id)
    .bind(job.lease_token)
    .execute(c)
    .await?
    .rows_affected());
    if deleted == 1 {
        let next = OffsetDateTime::now_utc() + interval;
        enqueue(&mut tx, recurring_job(&job.kind, Some(next))).await?;
    }
    tx.commit().await
}

/// Failed runs in a row, kept in the run's payload.
fn failed_runs(job: &Job) -> i32 {
    job.payload
        .get("failed_runs")
        .and_then(|v| v.as_i64())
        .map_or(0, |n| n.clamp(0, i64::from(i32::MAX)) as i32)
}

/// After a failed run: the same run again after a back-off (doubling from `base` with
/// every failure in a row, at most `interval`), with its attempts started over.
/// Returns how long until then, or `None` if the claim no longer holds the run.
pub(crate) async fn retry_run(
    store: &Store,
    job: &Job,
    error: &str,
    base: Duration,
    interval: Duration,
) -> Result<Option<Duration>> {
    let failures = failed_runs(job).saturating_add(1);
    let wait = backoff(failures, base).min(interval);
    let error: String = error.chars().take(2000).collect();
    let mut tx = store.begin().await?;
    let changed = on_tx!(tx, |c| sqlx::query(
        "UPDATE jobs SET attempts = 0, run_at = $3, payload = $4, last_error = $5, \
         locked_until = NULL, locked_by = NULL, lease_token = NULL \
         WHERE id = $1 AND lease_token = $2"
    )
    .bind(job.id)
    .bind(job.lease_token)
    .bind(now_micros().saturating_add(i64::try_from(wait.as_micros()).unwrap_or(i64::MAX)))
    .bind(sqlx::types::Json(json!({ "failed_runs": failures })))
    .bind(&error)
    .execute(c)
    .await?
    .rows_affected());
    tx.enqueued_jobs = true;
    tx.commit().await?;
    Ok((changed == 1).then_some(wait))
}
