//! Leases: how a job is held while it runs, and how its run ends.
//!
//! The contract:
//! - [`claim`] leases ready jobs until `now + lease` under a token new to that claim
//!   (`lease_token`) and counts the attempt. A job whose attempts are already used up
//!   is not run again: the claim that finds it moves it to `dead` instead. That is what
//!   ends a job that kills its process (an abort, running out of memory): nothing else
//!   ever records its failure.
//! - While the handler runs, its worker [`extend`]s the lease (a heartbeat every third
//!   of the lease), so a long job is never claimed a second time; a job whose worker
//!   stopped beating is claimable again once the lease runs out.
//! - [`complete`], [`fail`], [`release`] and [`extend`] act only with the token of the
//!   claim that holds the job now. A copy whose lease was lost and taken by another
//!   claim changes nothing: they report that they no longer hold it.

use std::time::Duration;

use uuid::Uuid;

use super::{duration_micros, now_micros, Job, JOB_COLUMNS};
use crate::error::Result;
use crate::store::{on_writer, Engine, Store};

/// Why a job went dead at claim time: its last attempt never reported back.
pub const NEVER_FINISHED: &str = "its last attempt never finished: the worker stopped, \
    crashed or lost its lease while running it";

/// How a claim's transaction begins on PostgreSQL: with bitmap scans and sorts switched
/// off for that transaction only, so the claim always walks `jobs_ready` in `run_at` order
/// and stops at its limit. Left to its statistics, the planner picks a bitmap scan and a
/// sort of every ready job whenever it thinks few are ready — which is what it thinks of
/// a table just filled by a burst, before autovacuum has analysed it (the kind filter's
/// guessed selectivity takes the estimate to one row): each claim then sorted all 60,000
/// ready jobs of a benchmark, and draining them took minutes instead of seconds.
pub(crate) const PLAN_CLAIM_BY_RUN_AT: &str =
    "BEGIN; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off";

/// Claims up to `limit` ready jobs of the given `kinds` for `worker` (a name, kept for
/// people reading the table), leasing them for `lease` under one new token. Each claim
/// counts as an attempt. Jobs of other kinds are left for a node that handles them, so
/// a rolling deploy never spends a new kind's attempts on an old node.
///
/// Ready jobs whose attempts are used up are moved to `dead` rather than claimed (they
/// are logged, not returned), and the slots they took are claimed again at once, so a
/// run of spent jobs at the head of the queue does not leave the worker idle.
pub async fn claim(
    store: &Store,
    worker: &str,
    kinds: &[String],
    limit: u32,
    lease: Duration,
) -> Result<Vec<Job>> {
    let mut claimed = Vec::new();
    while (claimed.len() as u32) < limit {
        let wanted = limit - claimed.len() as u32;
        let (jobs, buried) = match claim_once(store, worker, kinds, wanted, lease).await {
            Ok(outcome) => outcome,
            // Jobs an earlier pass claimed are held (their attempt counted): hand them
            // over rather than lose them to the error.
            Err(e) if !claimed.is_empty() => {
                tracing::warn!(error = %e, claimed = claimed.len(), "claiming more jobs failed");
                break;
            }
            Err(e) => return Err(e),
        };
        claimed.extend(jobs);
        if buried == 0 {
            break;
        }
    }
    Ok(claimed)
}

/// One claim statement: the jobs claimed, and how many spent jobs it buried.
async fn claim_once(
    store: &Store,
    worker: &str,
    kinds: &[String],
    limit: u32,
    lease: Duration,
) -> Result<(Vec<Job>, usize)> {
    if kinds.is_empty() || limit == 0 {
        return Ok((Vec::new(), 0));
    }
    let now = now_micros();
    let until = now.saturating_add(duration_micros(lease));
    let token = Uuid::now_v7();
    let sql = claim_sql(store.engine(), kinds.len());
    let begin = match store.engine() {
        Engine::Postgres => PLAN_CLAIM_BY_RUN_AT,
        Engine::Sqlite => "BEGIN",
    };
    let _writer = store.writer().await?;
    let jobs: Vec<Job> = on_writer!(store, |p| {
        let mut q = sqlx::query_as(&sql)
            .bind(NEVER_FINISHED)
            .bind(until)
            .bind(worker)
            .bind(token)
            .bind(now)
            .bind(i64::from(limit));
        for kind in kinds {
            q = q.bind(kind);
        }
        let mut tx = p.begin_with(begin).await?;
        let jobs = q.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        jobs
    });
    let (claimed, buried): (Vec<Job>, Vec<Job>) =
        jobs.into_iter().partition(|j| j.state == "ready");
    for job in &buried {
        tracing::warn!(
            job = %job.id,
            kind = %job.kind,
            attempts = job.attempts,
            "job is dead: {NEVER_FINISHED}"
        );
    }
    Ok((claimed, buried.len()))
}

/// The claim statement for `kinds` kinds. Parameters, in order: the never-finished
/// reason, the lease's end, the worker, the token, now, the limit, then each kind.
///
/// One statement both claims and buries: SET expressions read the row as it was, so
/// `attempts < max_attempts` decides every column alike.
pub(crate) fn claim_sql(engine: Engine, kinds: usize) -> String {
    let n = |i: usize| match engine {
        Engine::Postgres => format!("${i}"),
        Engine::Sqlite => format!("?{i}"),
    };
    let lock = match engine {
        Engine::Postgres => " FOR UPDATE SKIP LOCKED",
        Engine::Sqlite => "",
    };
    let kind_list: Vec<String> = (7..7 + kinds).map(n).collect();
    let live = "attempts < max_attempts";
    format!(
        "UPDATE jobs SET \
           state = CASE WHEN {live} THEN 'ready' ELSE 'dead' END, \
           attempts = CASE WHEN {live} THEN attempts + 1 ELSE attempts END, \
           last_error = CASE WHEN {live} THEN last_error ELSE {reason} END, \
           locked_until = CASE WHEN {live} THEN {until} END, \
           locked_by = CASE WHEN {live} THEN {worker} END, \
           lease_token = CASE WHEN {live} THEN {token} END \
         WHERE id IN (SELECT id FROM jobs \
           WHERE state = 'ready' AND run_at <= {now} \
             AND (locked_until IS NULL OR locked_until < {now}) \
             AND kind IN ({kinds}) \
           ORDER BY run_at LIMIT {limit}{lock}) \
         RETURNING {JOB_COLUMNS}",
        reason = n(1),
        until = n(2),
        worker = n(3),
        token = n(4),
        now = n(5),
        limit = n(6),
        kinds = kind_list.join(", "),
    )
}

/// Extends the leases of `jobs` to `now + lease` (a heartbeat). Returns the claims still
/// held, as `(id, lease_token)`; a job missing from it was lost (its lease ran out and
/// another claim took it — perhaps this worker's own — or it was deleted) and its
/// handler should stop.
pub async fn extend(store: &Store, jobs: &[Job], lease: Duration) -> Result<Vec<(Uuid, Uuid)>> {
    let until = now_micros().saturating_add(duration_micros(lease));
    let mut held = Vec::with_capacity(jobs.len());
    let _writer = store.writer().await?;
    for chunk in jobs.chunks(CHUNK) {
        let ids: Vec<(Uuid, Uuid)> = on_writer!(store, |p| {
            let mut q = sqlx::QueryBuilder::new("UPDATE jobs SET locked_until = ");
            q.push_bind(until).push(" WHERE state = 'ready' AND ");
            where_held(&mut q, chunk);
            q.push(" RETURNING id, lease_token");
            q.build_query_as().fetch_all(p).await?
        });
        held.extend(ids);
    }
    Ok(held)
}

/// Rows per statement for the batched forms: two binds a row stays far below both
/// engines' bind limits.
const CHUNK: usize = 500;

/// `(id, lease_token) IN ((…), …)`: the rows of `jobs` that their claims still hold.
fn where_held<'a, DB: sqlx::Database>(q: &mut sqlx::QueryBuilder<'a, DB>, jobs: &'a [Job])
where
    Uuid: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<Uuid>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    q.push("(id, lease_token) IN (VALUES ");
    let mut rows = q.separated(", ");
    for job in jobs {
        rows.push("(")
            .push_bind_unseparated(job.id)
            .push_unseparated(", ")
            .push_bind_unseparated(job.lease_token)
            .push_unseparated(")");
    }
    q.push(")");
}

/// Finishes a job its claim still holds: it is deleted. Returns false if the lease was
/// lost (expired and claimed again), in which case nothing changes.
pub async fn complete(store: &Store, job: &Job) -> Result<bool> {
    Ok(complete_many(store, std::slice::from_ref(job)).await? == 1)
}

/// Finishes several held jobs in one statement per few hundred; returns how many were
/// still held (a job whose lease was lost is left alone).
pub async fn complete_many(store: &Store, jobs: &[Job]) -> Result<u64> {
    let _writer = store.writer().await?;
    let mut done = 0;
    for chunk in jobs.chunks(CHUNK) {
        done += on_writer!(store, |p| {
            let mut q = sqlx::QueryBuilder::new("DELETE FROM jobs WHERE ");
            where_held(&mut q, chunk);
            q.build().execute(p).await?.rows_affected()
        });
    }
    Ok(done)
}

/// Records a failed attempt of a held job: it runs again after `retry_in` (see
/// [`super::backoff`]), or, once it has used `max_attempts`, goes to the dead state.
/// Returns false if the lease was lost (nothing changes).
pub async fn fail(store: &Store, job: &Job, error: &str, retry_in: Duration) -> Result<bool> {
    let error: String = error.chars().take(2000).collect();
    let dead = job.attempts >= job.max_attempts;
    let run_at = now_micros().saturating_add(duration_micros(retry_in));
    let _writer = store.writer().await?;
    let changed = on_writer!(store, |p| sqlx::query(
        "UPDATE jobs SET state = $3, run_at = $4, locked_until = NULL, locked_by = NULL, \
         lease_token = NULL, last_error = $5 WHERE id = $1 AND lease_token = $2"
    )
    .bind(job.id)
    .bind(job.lease_token)
    .bind(if dead { "dead" } else { "ready" })
    .bind(run_at)
    .bind(&error)
    .execute(p)
    .await?
    .rows_affected());
    if dead && changed == 1 {
        tracing::warn!(job = %job.id, kind = %job.kind, attempts = job.attempts, %error, "job is dead");
    }
    Ok(changed == 1)
}

/// Gives back a held job without counting the attempt (graceful stop).
pub async fn release(store: &Store, job: &Job) -> Result<bool> {
    let _writer = store.writer().await?;
    let changed = on_writer!(store, |p| sqlx::query(
        "UPDATE jobs SET locked_until = NULL, locked_by = NULL, lease_token = NULL, \
         attempts = attempts - 1 WHERE id = $1 AND lease_token = $2"
    )
    .bind(job.id)
    .bind(job.lease_token)
    .execute(p)
    .await?
    .rows_affected());
    Ok(changed == 1)
}
