//! Workers: claim jobs, run their handlers, and record the outcome.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{claim, complete_many, enqueue, fail, release, Job, NewJob};
use crate::error::Result;
use crate::store::{Pool, Store};

/// A boxed future, for handlers behind `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs jobs of one kind. Must be idempotent: a job can run more than once (a worker
/// can die after the work and before recording it).
pub trait JobHandler: Send + Sync + 'static {
    fn kind(&self) -> &str;
    fn run<'a>(&'a self, store: &'a Store, job: &'a Job) -> BoxFuture<'a, Result<()>>;
}

/// A job task's end: its id, the job and the handler's outcome (or how it panicked).
type Finished = std::result::Result<(tokio::task::Id, (Job, Result<()>)), tokio::task::JoinError>;

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Names this worker in leases (`locked_by`).
    pub id: String,
    /// Jobs run at once.
    pub concurrency: usize,
    /// How long a claim holds before another worker may take the job.
    pub lease: Duration,
    /// Fallback poll when no wake-up arrives.
    pub poll_interval: Duration,
    /// On shutdown, how long in-flight jobs may take before their leases are released.
    pub shutdown_grace: Duration,
    /// First retry delay; it doubles with every failed attempt (see [`super::backoff`]).
    pub backoff_base: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            id: format!("worker-{}", uuid::Uuid::now_v7().simple()),
            concurrency: 8,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(10),
            backoff_base: Duration::from_secs(1),
        }
    }
}

/// A queue worker. Build it, register handlers, then [`Worker::run`] it until shutdown.
pub struct Worker {
    store: Store,
    config: WorkerConfig,
    handlers: HashMap<String, Arc<dyn JobHandler>>,
    recurring: HashMap<String, Duration>,
}

impl Worker {
    /// A worker with the engine's built-in handlers (inbox deliveries).
    pub fn new(store: Store, config: WorkerConfig) -> Self {
        let mut worker = Worker {
            store,
            config,
            handlers: HashMap::new(),
            recurring: HashMap::new(),
        };
        worker.register(Arc::new(crate::inbox::InboxJobs));
        worker
    }

    pub fn register(&mut self, handler: Arc<dyn JobHandler>) {
        self.handlers.insert(handler.kind().to_owned(), handler);
    }

    /// Runs `handler` every `interval`, once per cluster: the job has a unique key, so
    /// however many nodes schedule it, one job exists; each run schedules the next.
    pub async fn recurring(
        &mut self,
        handler: Arc<dyn JobHandler>,
        interval: Duration,
    ) -> Result<()> {
        let kind = handler.kind().to_owned();
        self.register(handler);
        self.recurring.insert(kind.clone(), interval);
        let mut tx = self.store.begin().await?;
        enqueue(&mut tx, recurring_job(&kind, None)).await?;
        tx.commit().await
    }

    /// Claims and runs jobs until `shutdown` turns true; then stops claiming, lets
    /// in-flight jobs finish within the grace period and releases the rest.
    ///
    /// Finished jobs are settled in batches: every success that completed since the
    /// last look is deleted in one statement, which on PostgreSQL saves a commit (and
    /// a WAL flush) per job.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<()> {
        let this = Arc::new(self);
        let listener = this.spawn_listener();
        let mut running: JoinSet<(Job, Result<()>)> = JoinSet::new();
        let mut in_flight: HashMap<tokio::task::Id, Job> = HashMap::new();
        loop {
            if *shutdown.borrow() {
                break;
            }
            // Register interest before claiming, so a wake-up that arrives while we
            // claim is not lost.
            let notified = this.store.shared.jobs_ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            let mut done = Vec::new();
            while let Some(r) = running.try_join_next_with_id() {
                done.push(r);
            }
            this.settle(done, &mut in_flight).await;

            let free = this.config.concurrency.saturating_sub(running.len());
            let mut claimed = 0;
            if free > 0 {
                match claim(&this.store, &this.config.id, free as u32, this.config.lease).await {
                    Ok(jobs) => {
                        claimed = jobs.len();
                        for job in jobs {
                            let worker = this.clone();
                            let j = job.clone();
                            let handle = running.spawn(async move {
                                let outcome = worker.execute(&j).await;
                                (j, outcome)
                            });
                            in_flight.insert(handle.id(), job);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "claiming jobs failed"),
                }
            }
            if claimed > 0 && running.len() < this.config.concurrency {
                continue;
            }
            tokio::select! {
                _ = &mut notified => {}
                Some(first) = running.join_next_with_id(), if !running.is_empty() => {
                    let mut done = vec![first];
                    while let Some(r) = running.try_join_next_with_id() {
                        done.push(r);
                    }
                    this.settle(done, &mut in_flight).await;
                }
                _ = tokio::time::sleep(this.config.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
        }
        if let Some(l) = listener {
            l.abort();
        }
        // Graceful stop: finish what is running, within the grace period.
        let deadline = tokio::time::sleep(this.config.shutdown_grace);
        tokio::pin!(deadline);
        while !running.is_empty() {
            tokio::select! {
                Some(done) = running.join_next_with_id() => {
                    this.settle(vec![done], &mut in_flight).await;
                }
                _ = &mut deadline => break,
            }
        }
        running.abort_all();
        for job in in_flight.values() {
            if let Err(e) = release(&this.store, job, &this.config.id).await {
                tracing::warn!(job = %job.id, error = %e, "could not release a job at shutdown");
            }
        }
        Ok(())
    }

    async fn execute(&self, job: &Job) -> Result<()> {
        match self.handlers.get(&job.kind) {
            Some(handler) => handler.run(&self.store, job).await,
            None => Err(crate::Error::invalid(
                "kind",
                format!("no handler for job kind {:?}", job.kind),
            )),
        }
    }

    /// Records the outcome of finished jobs: successes deleted together, failures
    /// retried or declared dead, recurring jobs rescheduled.
    async fn settle(&self, done: Vec<Finished>, in_flight: &mut HashMap<tokio::task::Id, Job>) {
        if done.is_empty() {
            return;
        }
        let mut succeeded = Vec::new();
        for result in done {
            let (job, outcome) = match result {
                Ok((id, (job, outcome))) => {
                    in_flight.remove(&id);
                    (job, outcome)
                }
                Err(e) => match in_flight.remove(&e.id()) {
                    // The handler panicked: count it as a failed attempt.
                    Some(job) => (
                        job,
                        Err(crate::Error::Conflict(format!("handler panicked: {e}"))),
                    ),
                    None => continue,
                },
            };
            let job_id = job.id;
            let recorded = match outcome {
                Ok(()) if !self.recurring.contains_key(&job.kind) => {
                    succeeded.push(job);
                    Ok(())
                }
                Ok(()) => self.reschedule(&job).await,
                Err(e) => {
                    let retry_in = super::backoff(job.attempts, self.config.backoff_base);
                    fail(&self.store, &job, &self.config.id, &e.to_string(), retry_in).await
                }
            };
            if let Err(e) = recorded {
                // The lease will expire and the job run again; handlers are idempotent.
                tracing::warn!(job = %job_id, error = %e, "could not record a job's outcome");
            }
        }
        if !succeeded.is_empty() {
            if let Err(e) = complete_many(&self.store, &succeeded, &self.config.id).await {
                tracing::warn!(error = %e, jobs = succeeded.len(), "could not complete jobs");
            }
        }
    }

    /// Deletes a recurring job's run and schedules the next one, atomically.
    async fn reschedule(&self, job: &Job) -> Result<()> {
        let Some(interval) = self.recurring.get(&job.kind) else {
            return Ok(());
        };
        let mut tx = self.store.begin().await?;
        let deleted = crate::store::on_tx!(tx, |c| sqlx::query(
            "DELETE FROM jobs WHERE id = $1 AND locked_by = $2"
        )
        .bind(job.id)
        .bind(&self.config.id)
        .execute(c)
        .await?
        .rows_affected());
        if deleted == 1 {
            let next = time::OffsetDateTime::now_utc() + *interval;
            enqueue(&mut tx, recurring_job(&job.kind, Some(next))).await?;
        }
        tx.commit().await
    }

    /// On PostgreSQL, turns `NOTIFY chronicle_jobs` (sent by any node's commit) into
    /// this process's wake-up.
    fn spawn_listener(&self) -> Option<tokio::task::JoinHandle<()>> {
        let Pool::Postgres(pool) = &self.store.pool else {
            return None;
        };
        let pool = pool.clone();
        let store = self.store.clone();
        Some(tokio::spawn(async move {
            loop {
                let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN connection failed; polling");
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        continue;
                    }
                };
                if let Err(e) = listener.listen("chronicle_jobs").await {
                    tracing::warn!(error = %e, "LISTEN failed; polling");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
                while listener.recv().await.is_ok() {
                    store.shared.jobs_ready.notify_waiters();
                }
            }
        }))
    }
}

fn recurring_job(kind: &str, run_at: Option<time::OffsetDateTime>) -> NewJob {
    NewJob {
        run_at,
        unique_key: Some(format!("recurring:{kind}")),
        ..NewJob::new(kind, serde_json::Value::Null)
    }
}
