//! Workers: claim jobs, run their handlers, and record the outcome.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;

use super::recurring::{retry_run, schedule_next};
use super::{backoff, claim, complete_many, extend, fail, release, schedule_recurring, Job};
use crate::error::{Error, Result};
use crate::store::{Pool, Store};

/// A boxed future, for handlers behind `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How long a handler may run unless its kind says otherwise.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(300);

/// Runs jobs of one kind. Must be idempotent: a job can run more than once (a worker
/// can die after the work and before recording it).
pub trait JobHandler: Send + Sync + 'static {
    fn kind(&self) -> &str;
    fn run<'a>(&'a self, store: &'a Store, job: &'a Job) -> BoxFuture<'a, Result<()>>;
    /// How long one attempt may take. A run still going then is stopped (its future is
    /// dropped at its next await) and counts as a failed attempt.
    fn time_limit(&self) -> Duration {
        DEFAULT_TIME_LIMIT
    }
}

/// A job task's end: its id, the job and the handler's outcome (or how it panicked).
type Finished = std::result::Result<(tokio::task::Id, (Job, Result<()>)), tokio::task::JoinError>;

/// The jobs this worker is running, by task: the job as claimed (with its lease token)
/// and the handle that stops the task if its lease is lost.
type InFlight = HashMap<tokio::task::Id, (Job, AbortHandle)>;

/// Completion statements a worker lets run beside its loop at once.
const MAX_COMPLETING: usize = 4;

/// Jobs claimed ahead of free slots, each with the time until which its lease is known
/// to hold (the claim's, or the last heartbeat's, start plus the lease).
type Queued = VecDeque<(Job, Instant)>;

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Names this worker in leases (`locked_by`).
    pub id: String,
    /// Jobs run at once.
    pub concurrency: usize,
    /// Jobs claimed ahead of free slots and kept here until a slot frees (0: claim
    /// only for free slots). Fewer, larger claims for many short jobs; the jobs waiting
    /// here hold leases (extended like running ones, released at shutdown), so keep it
    /// small where jobs are long.
    pub local_queue: usize,
    /// How long a claim holds before another worker may take the job, unless extended.
    pub lease: Duration,
    /// Extend the leases of running jobs every third of `lease` (on by default; off
    /// only to show what happens without).
    pub heartbeats: bool,
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
            local_queue: 0,
            lease: Duration::from_secs(60),
            heartbeats: true,
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
    /// however many nodes schedule it, one job exists; each run schedules the next, and
    /// a failed run is tried again (see [`super::recurring`]).
    pub async fn recurring(
        &mut self,
        handler: Arc<dyn JobHandler>,
        interval: Duration,
    ) -> Result<()> {
        let kind = handler.kind().to_owned();
        self.register(handler);
        self.recurring.insert(kind.clone(), interval);
        schedule_recurring(&self.store, &kind).await
    }

    /// Claims and runs jobs until `shutdown` turns true (or its sender is dropped);
    /// then stops claiming, lets in-flight jobs finish within the grace period and
    /// releases the rest.
    ///
    /// Only kinds with a registered handler are claimed. Running jobs' leases are
    /// extended every third of the lease; a job whose lease turns out lost (taken by
    /// another claim after this worker could not reach the database in time) is stopped
    /// here, since another copy now owns it.
    ///
    /// Finished jobs are settled in batches: every success that completed since the
    /// last look is deleted in one statement, which on PostgreSQL saves a commit (and
    /// a WAL flush) per job. That statement runs in a task beside the loop (at most
    /// four at once), so new jobs start while it is on its way; the worker waits for
    /// every one before it returns.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<()> {
        let this = Arc::new(self);
        let kinds: Vec<String> = this.handlers.keys().cloned().collect();
        let listener = this.spawn_listener();
        let mut running: JoinSet<(Job, Result<()>)> = JoinSet::new();
        let mut in_flight: InFlight = HashMap::new();
        // Claimed, not yet started (see `WorkerConfig::local_queue`), with the time
        // until which this worker knows it holds each.
        let mut queued: Queued = VecDeque::new();
        // Completions on their way to the database (see `settle`).
        let mut completing: JoinSet<()> = JoinSet::new();
        // A claim running beside the loop (made while queued jobs remain).
        let mut claiming: Option<tokio::task::JoinHandle<(Instant, Result<Vec<Job>>)>> = None;
        // False after a claim found nothing, until something wakes the loop.
        let mut claim_again = true;
        let concurrency = this.config.concurrency;
        let capacity = concurrency + this.config.local_queue;
        let beat = this.config.heartbeats.then(|| this.config.lease / 3);
        let mut next_beat = beat.map(|b| Instant::now() + b);
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
            this.settle(done, &mut in_flight, &mut completing).await;
            this.beat_if_due(&mut next_beat, beat, &mut in_flight, &mut queued)
                .await;
            this.start_queued(&mut queued, &mut running, &mut in_flight);

            // Claim when the local queue runs low: for free slots, and as many again
            // as the local queue holds. While queued jobs remain, the claim runs in a
            // task beside the loop, so they keep starting during its round trip.
            let room = capacity.saturating_sub(running.len() + queued.len());
            let mut claimed = 0;
            if room > 0
                && queued.len() <= this.config.local_queue / 2
                && claiming.is_none()
                && claim_again
            {
                let claimed_at = Instant::now();
                if queued.is_empty() {
                    let result = claim(
                        &this.store,
                        &this.config.id,
                        &kinds,
                        room as u32,
                        this.config.lease,
                    )
                    .await;
                    claimed = this.take_claim(claimed_at, result, &mut queued);
                    this.start_queued(&mut queued, &mut running, &mut in_flight);
                } else {
                    let (store, id, kinds, lease) = (
                        this.store.clone(),
                        this.config.id.clone(),
                        kinds.clone(),
                        this.config.lease,
                    );
                    claiming = Some(tokio::spawn(async move {
                        (
                            claimed_at,
                            claim(&store, &id, &kinds, room as u32, lease).await,
                        )
                    }));
                }
            }
            if claimed > 0 && running.len() < concurrency {
                continue;
            }
            let beat_at = next_beat.filter(|_| !in_flight.is_empty() || !queued.is_empty());
            // Until something happens, a claim beside the loop that found nothing is not
            // repeated.
            claim_again = tokio::select! {
                _ = &mut notified => true,
                Some(first) = running.join_next_with_id(), if !running.is_empty() => {
                    let mut done = vec![first];
                    while let Some(r) = running.try_join_next_with_id() {
                        done.push(r);
                    }
                    this.settle(done, &mut in_flight, &mut completing).await;
                    true
                }
                claimed = async { claiming.as_mut().expect("a claim in flight").await }, if claiming.is_some() => {
                    claiming = None;
                    let found = match claimed {
                        Ok((at, result)) => this.take_claim(at, result, &mut queued),
                        Err(e) => {
                            tracing::warn!(error = %e, "the claiming task failed");
                            0
                        }
                    };
                    this.start_queued(&mut queued, &mut running, &mut in_flight);
                    found > 0
                }
                _ = sleep_until(beat_at) => true,
                _ = tokio::time::sleep(this.config.poll_interval) => true,
                // A dropped sender means nobody can ask to stop any more: stop now
                // rather than wake at once, forever.
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    true
                }
            };
        }
        if let Some(l) = listener {
            l.abort();
        }
        // Graceful stop: finish what is running, within the grace period.
        let deadline = tokio::time::sleep(this.config.shutdown_grace);
        tokio::pin!(deadline);
        while !running.is_empty() {
            let beat_at = next_beat.filter(|_| !in_flight.is_empty() || !queued.is_empty());
            tokio::select! {
                Some(done) = running.join_next_with_id() => {
                    this.settle(vec![done], &mut in_flight, &mut completing).await;
                }
                _ = sleep_until(beat_at) => {
                    this.beat_if_due(&mut next_beat, beat, &mut in_flight, &mut queued).await;
                }
                _ = &mut deadline => break,
            }
        }
        // Stopped and waited for, so no copy still runs once its job is released.
        running.shutdown().await;
        // A claim still on its way: its jobs are given back with the queued ones.
        if let Some(claim) = claiming.take() {
            if let Ok((at, result)) = claim.await {
                this.take_claim(at, result, &mut queued);
            }
        }
        // Running copies that did not finish in time, and jobs never started.
        for job in in_flight
            .values()
            .map(|(job, _)| job)
            .chain(queued.iter().map(|(job, _)| job))
        {
            if let Err(e) = release(&this.store, job).await {
                tracing::warn!(job = %job.id, error = %e, "could not release a job at shutdown");
            }
        }
        // Every completion has reached the database before the worker says it stopped.
        while completing.join_next().await.is_some() {}
        Ok(())
    }

    /// Adds a claim's jobs to the local queue, each held until `claimed_at` plus the
    /// lease (measured from before the claim, so never later than the lease really
    /// ends); returns how many.
    fn take_claim(
        &self,
        claimed_at: Instant,
        result: Result<Vec<Job>>,
        queued: &mut Queued,
    ) -> usize {
        match result {
            Ok(jobs) => {
                let n = jobs.len();
                let held_until = claimed_at + self.config.lease;
                queued.extend(jobs.into_iter().map(|j| (j, held_until)));
                n
            }
            Err(e) => {
                tracing::warn!(error = %e, "claiming jobs failed");
                0
            }
        }
    }

    /// Starts queued jobs while slots are free. A job whose lease may have run out
    /// while it waited (no heartbeat reached the database in time) is not started:
    /// another claim may hold it now.
    fn start_queued(
        self: &Arc<Self>,
        queued: &mut Queued,
        running: &mut JoinSet<(Job, Result<()>)>,
        in_flight: &mut InFlight,
    ) {
        while running.len() < self.config.concurrency {
            let Some((job, held_until)) = queued.pop_front() else {
                return;
            };
            if Instant::now() >= held_until {
                tracing::warn!(job = %job.id, kind = %job.kind, "queued job's lease may have run out; leaving it");
                continue;
            }
            let worker = self.clone();
            let j = job.clone();
            let handle = running.spawn(async move {
                let outcome = worker.execute(&j).await;
                (j, outcome)
            });
            in_flight.insert(handle.id(), (job, handle));
        }
    }

    /// Extends the leases of every running and queued job when the heartbeat is due,
    /// stops the running jobs whose lease was lost and forgets such queued ones.
    async fn beat_if_due(
        &self,
        next_beat: &mut Option<Instant>,
        beat: Option<Duration>,
        in_flight: &mut InFlight,
        queued: &mut Queued,
    ) {
        let (Some(due), Some(every)) = (*next_beat, beat) else {
            return;
        };
        if Instant::now() < due {
            return;
        }
        *next_beat = Some(Instant::now() + every);
        if in_flight.is_empty() && queued.is_empty() {
            return;
        }
        let beat_at = Instant::now();
        let jobs: Vec<Job> = in_flight
            .values()
            .map(|(j, _)| j.clone())
            .chain(queued.iter().map(|(j, _)| j.clone()))
            .collect();
        let held = match extend(&self.store, &jobs, self.config.lease).await {
            Ok(held) => held,
            Err(e) => {
                // The leases may yet hold; the next beat tries again.
                tracing::warn!(error = %e, jobs = jobs.len(), "could not extend job leases");
                return;
            }
        };
        let holds = |job: &Job| job.lease_token.is_some_and(|t| held.contains(&(job.id, t)));
        queued.retain_mut(|(job, held_until)| {
            let kept = holds(job);
            if kept {
                *held_until = beat_at + self.config.lease;
            } else {
                tracing::warn!(job = %job.id, kind = %job.kind, "queued job lost its lease; dropping it");
            }
            kept
        });
        in_flight.retain(|_, (job, task)| {
            if holds(job) {
                return true;
            }
            tracing::warn!(job = %job.id, kind = %job.kind, "job lost its lease; stopping this copy");
            task.abort();
            false
        });
    }

    async fn execute(&self, job: &Job) -> Result<()> {
        let Some(handler) = self.handlers.get(&job.kind) else {
            return Err(Error::invalid(
                "kind",
                format!("no handler for job kind {:?}", job.kind),
            ));
        };
        let limit = handler.time_limit();
        match tokio::time::timeout(limit, handler.run(&self.store, job)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Error::TimedOut(format!(
                "the {} handler ran past its time limit of {limit:?} and was stopped",
                job.kind
            ))),
        }
    }

    /// Records the outcome of finished jobs: successes deleted together, failures
    /// retried or declared dead, recurring jobs rescheduled.
    async fn settle(
        &self,
        done: Vec<Finished>,
        in_flight: &mut InFlight,
        completing: &mut JoinSet<()>,
    ) {
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
                // Stopped because its lease was lost: the copy that holds it now will
                // record the outcome.
                Err(e) if e.is_cancelled() => continue,
                Err(e) => match in_flight.remove(&e.id()) {
                    // The handler panicked: count it as a failed attempt.
                    Some((job, _)) => (job, Err(Error::Conflict(format!("handler panicked: {e}")))),
                    None => continue,
                },
            };
            let job_id = job.id;
            let interval = self.recurring.get(&job.kind).copied();
            let recorded = match (outcome, interval) {
                (Ok(()), None) => {
                    succeeded.push(job);
                    Ok(())
                }
                (Ok(()), Some(interval)) => schedule_next(&self.store, &job, interval).await,
                (Err(e), None) => {
                    let retry_in = backoff(job.attempts, self.config.backoff_base);
                    fail(&self.store, &job, &e.to_string(), retry_in)
                        .await
                        .map(drop)
                }
                (Err(e), Some(interval)) => {
                    let error = e.to_string();
                    retry_run(&self.store, &job, &error, self.config.backoff_base, interval)
                        .await
                        .map(|wait| {
                            if let Some(wait) = wait {
                                tracing::warn!(kind = %job.kind, %error, "recurring job failed; next try in {wait:?}");
                            }
                        })
                }
            };
            if let Err(e) = recorded {
                // The lease will expire and the job run again; handlers are idempotent.
                tracing::warn!(job = %job_id, error = %e, "could not record a job's outcome");
            }
        }
        // Successes are deleted in a task of their own: the loop goes on starting jobs
        // while the statement is on its way (waiting for it left every slot idle for
        // a round trip, and the database and this process each idle a third of the
        // time). At most a few are in flight; the worker waits for all before it stops.
        while completing.try_join_next().is_some() {}
        while completing.len() >= MAX_COMPLETING {
            completing.join_next().await;
        }
        if !succeeded.is_empty() {
            let store = self.store.clone();
            completing.spawn(async move {
                if let Err(e) = complete_many(&store, &succeeded).await {
                    tracing::warn!(error = %e, jobs = succeeded.len(), "could not complete jobs");
                }
            });
        }
    }

    /// On PostgreSQL, turns `NOTIFY chronicle_jobs` (sent by any node's commit) into
    /// this process's wake-up. Wake-ups sent while the connection is down are lost, so
    /// after a reconnect the worker is woken once to look for itself.
    fn spawn_listener(&self) -> Option<tokio::task::JoinHandle<()>> {
        let Pool::Postgres(pool) = &self.store.pool else {
            return None;
        };
        let pool = pool.clone();
        let store = self.store.clone();
        Some(tokio::spawn(async move {
            let mut reconnecting = false;
            loop {
                if reconnecting {
                    tokio::time::sleep(crate::store::RECONNECT_PAUSE).await;
                }
                reconnecting = true;
                let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN connection failed; polling");
                        continue;
                    }
                };
                if let Err(e) = listener.listen("chronicle_jobs").await {
                    tracing::warn!(error = %e, "LISTEN failed; polling");
                    continue;
                }
                store.shared.jobs_ready.notify_waiters();
                // `try_recv` says when the connection is lost (`recv` would reconnect
                // silently, hiding the gap).
                while let Ok(Some(_)) = listener.try_recv().await {
                    store.shared.jobs_ready.notify_waiters();
                }
            }
        }))
    }
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
