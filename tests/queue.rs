//! The job queue: leases, retries, dead jobs, recurring jobs, wake-up and shutdown.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chronicle::queue::worker_types::BoxFuture;
use chronicle::queue::{self, Job, JobHandler, NewJob, Worker, WorkerConfig};
use chronicle::Store;
use serde_json::json;
use tokio::sync::watch;

/// Counts runs; fails the first `fail_first` of them; takes `delay` per run.
struct Counting {
    kind: &'static str,
    runs: AtomicUsize,
    fail_first: usize,
    delay: Duration,
}

impl Counting {
    fn new(kind: &'static str) -> Arc<Self> {
        Arc::new(Counting {
            kind,
            runs: AtomicUsize::new(0),
            fail_first: 0,
            delay: Duration::ZERO,
        })
    }
    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }
}

impl JobHandler for Counting {
    fn kind(&self) -> &str {
        self.kind
    }
    fn run<'a>(&'a self, _store: &'a Store, _job: &'a Job) -> BoxFuture<'a, chronicle::Result<()>> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            let n = self.runs.fetch_add(1, Ordering::SeqCst);
            if n < self.fail_first {
                Err(chronicle::Error::Conflict(format!("failure {}", n + 1)))
            } else {
                Ok(())
            }
        })
    }
}

fn fast_config(id: &str) -> WorkerConfig {
    WorkerConfig {
        id: id.to_owned(),
        concurrency: 4,
        local_queue: 0,
        lease: Duration::from_secs(30),
        heartbeats: true,
        poll_interval: Duration::from_millis(200),
        shutdown_grace: Duration::from_secs(5),
        backoff_base: Duration::from_millis(5),
    }
}

async fn enqueue(store: &Store, job: NewJob) -> Option<uuid::Uuid> {
    let mut tx = store.begin().await.expect("begin");
    let id = queue::enqueue(&mut tx, job).await.expect("enqueue");
    tx.commit().await.expect("commit");
    id
}

/// Enqueues `n` jobs of `kind` (payload: their number) in one transaction, so a worker
/// started afterwards finds them all at its first claim.
async fn enqueue_numbered(store: &Store, kind: &str, n: i64) {
    let mut tx = store.begin().await.expect("begin");
    for i in 0..n {
        queue::enqueue(&mut tx, NewJob::new(kind, json!(i)))
            .await
            .expect("enqueue");
    }
    tx.commit().await.expect("commit");
}

fn kinds(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Notes each start, then takes `delay` (a hung handler: a receiver that never answers).
/// A run stopped before its delay is over (its future dropped) is noted too.
struct Sleeper {
    kind: &'static str,
    delay: Duration,
    limit: Duration,
    starts: AtomicUsize,
    stopped: Arc<AtomicUsize>,
    /// Each start's attempt number, in order.
    attempts: std::sync::Mutex<Vec<i32>>,
}

/// Counts a run that was dropped before it finished.
struct StopNote(Arc<AtomicUsize>, bool);

impl Drop for StopNote {
    fn drop(&mut self) {
        if !self.1 {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Sleeper {
    fn new(kind: &'static str, delay: Duration, limit: Duration) -> Arc<Self> {
        Arc::new(Sleeper {
            kind,
            delay,
            limit,
            starts: AtomicUsize::new(0),
            stopped: Arc::new(AtomicUsize::new(0)),
            attempts: std::sync::Mutex::new(Vec::new()),
        })
    }
    fn starts(&self) -> usize {
        self.starts.load(Ordering::SeqCst)
    }
    fn stopped(&self) -> usize {
        self.stopped.load(Ordering::SeqCst)
    }
}

impl JobHandler for Sleeper {
    fn kind(&self) -> &str {
        self.kind
    }
    fn run<'a>(&'a self, _store: &'a Store, job: &'a Job) -> BoxFuture<'a, chronicle::Result<()>> {
        Box::pin(async move {
            self.starts.fetch_add(1, Ordering::SeqCst);
            self.attempts.lock().expect("attempts").push(job.attempts);
            let mut note = StopNote(self.stopped.clone(), false);
            tokio::time::sleep(self.delay).await;
            note.1 = true;
            Ok(())
        })
    }
    fn time_limit(&self) -> Duration {
        self.limit
    }
}

fn start(
    worker: Worker,
) -> (
    watch::Sender<bool>,
    tokio::task::JoinHandle<chronicle::Result<()>>,
) {
    let (stop, stopped) = watch::channel(false);
    (stop, tokio::spawn(worker.run(stopped)))
}

chronicle::engine_tests! {
    async fn an_enqueued_job_runs_once_and_is_gone(store) {
        let handler = Counting::new("test.count");
        let mut worker = Worker::new(store.clone(), fast_config("w1"));
        worker.register(handler.clone());
        let (stop, task) = start(worker);
        enqueue(&store, NewJob::new("test.count", json!({"n": 1}))).await;
        chronicle::testing::eventually("the job ran", async || handler.runs() == 1).await;
        chronicle::testing::eventually("the job is deleted", async || queue::counts(&store).await.expect("counts").ready == 0).await;
        stop.send(true).expect("stop");
        task.await.expect("join").expect("worker");
        assert_eq!(handler.runs(), 1);
    }

    async fn a_job_enqueued_in_a_rolled_back_transaction_never_exists(store) {
        let mut tx = store.begin().await.expect("begin");
        queue::enqueue(&mut tx, NewJob::new("test.count", json!(null))).await.expect("enqueue");
        tx.rollback().await.expect("rollback");
        assert_eq!(queue::counts(&store).await.expect("counts").ready, 0);
    }

    async fn a_killed_workers_job_is_claimed_again_after_its_lease(store) {
        enqueue(&store, NewJob::new("test.count", json!(null))).await;
        // "Worker A" claims and dies: it never completes nor fails the job.
        let claimed = queue::claim(&store, "A", &kinds(&["test.count"]), 10, Duration::from_millis(200)).await.expect("claim");
        assert_eq!(claimed.len(), 1);
        assert!(queue::claim(&store, "B", &kinds(&["test.count"]), 10, Duration::from_secs(30)).await.expect("claim").is_empty(),
            "leased jobs are not claimable");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let again = queue::claim(&store, "B", &kinds(&["test.count"]), 10, Duration::from_secs(30)).await.expect("claim");
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].id, claimed[0].id);
        assert_eq!(again[0].attempts, 2);
        // A's late completion, failure or heartbeat does not touch B's claim.
        assert!(queue::extend(&store, &claimed, Duration::from_secs(60)).await.expect("extend").is_empty());
        assert!(!queue::fail(&store, &claimed[0], "late", Duration::ZERO).await.expect("fail"));
        assert!(!queue::complete(&store, &claimed[0]).await.expect("complete"));
        assert!(queue::complete(&store, &again[0]).await.expect("complete"));
    }

    async fn a_poison_job_dies_after_max_attempts_and_can_be_retried(store) {
        let handler = Arc::new(Counting { kind: "test.poison", runs: AtomicUsize::new(0), fail_first: 3, delay: Duration::ZERO });
        let mut worker = Worker::new(store.clone(), fast_config("w1"));
        worker.register(handler.clone());
        let (stop, task) = start(worker);
        let id = enqueue(&store, NewJob { max_attempts: 3, ..NewJob::new("test.poison", json!(null)) }).await.expect("id");
        chronicle::testing::eventually("the job is dead", async || queue::counts(&store).await.expect("counts").dead == 1).await;
        assert_eq!(handler.runs(), 3);
        let dead = queue::dead_jobs(&store, 10).await.expect("dead");
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].id, id);
        assert_eq!(dead[0].attempts, 3);
        assert_eq!(dead[0].last_error.as_deref(), Some("failure 3"));

        queue::retry_dead(&store, id).await.expect("retry");
        chronicle::testing::eventually("the retried job ran", async || handler.runs() == 4).await;
        chronicle::testing::eventually("the job is gone", async || {
            let c = queue::counts(&store).await.expect("counts");
            c.ready == 0 && c.dead == 0
        }).await;
        stop.send(true).expect("stop");
        task.await.expect("join").expect("worker");
        assert!(matches!(queue::retry_dead(&store, id).await, Err(chronicle::Error::NotFound(_))));
    }

    async fn a_worker_leaves_kinds_it_has_no_handler_for_to_a_node_that_has_one(store) {
        // An old node during a rolling deploy: it does not know the new kind.
        let (stop, task) = start(Worker::new(store.clone(), fast_config("old-node")));
        let id = enqueue(&store, NewJob { max_attempts: 2, ..NewJob::new("test.new-kind", json!(null)) }).await.expect("id");
        tokio::time::sleep(Duration::from_millis(600)).await;
        let waiting = queue::claim(&store, "inspector", &kinds(&["test.new-kind"]), 10, Duration::from_millis(1)).await.expect("claim");
        assert_eq!(waiting.len(), 1, "still ready");
        assert_eq!((waiting[0].id, waiting[0].attempts), (id, 1), "the old node spent no attempt on it");
        stop.send(true).expect("stop");
        task.await.expect("join").expect("worker");
        tokio::time::sleep(Duration::from_millis(5)).await;
        // A new node runs it.
        let handler = Counting::new("test.new-kind");
        let mut new_node = Worker::new(store.clone(), fast_config("new-node"));
        new_node.register(handler.clone());
        let (stop, task) = start(new_node);
        chronicle::testing::eventually("the new node ran it", async || handler.runs() == 1).await;
        stop.send(true).expect("stop");
        task.await.expect("join").expect("worker");
    }

    async fn a_job_whose_process_keeps_dying_ends_dead_at_its_next_claim(store) {
        let id = enqueue(&store, NewJob { max_attempts: 3, ..NewJob::new("test.crash", json!(null)) }).await.expect("id");
        let kinds = kinds(&["test.crash"]);
        // Three processes claim it and die (nothing recorded, the leases run out).
        for attempt in 1..=3 {
            let claimed = queue::claim(&store, &format!("doomed-{attempt}"), &kinds, 10, Duration::from_millis(20)).await.expect("claim");
            assert_eq!(claimed.len(), 1, "attempt {attempt}");
            assert_eq!(claimed[0].attempts, attempt);
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        // The next claim does not run it a fourth time: it buries it.
        assert!(queue::claim(&store, "next", &kinds, 10, Duration::from_secs(30)).await.expect("claim").is_empty());
        let dead = queue::dead_jobs(&store, 10).await.expect("dead");
        assert_eq!(dead.len(), 1);
        assert_eq!((dead[0].id, dead[0].attempts), (id, 3));
        assert!(dead[0].last_error.as_deref().unwrap_or("").contains("never finished"), "{:?}", dead[0].last_error);
        assert_eq!(queue::counts(&store).await.expect("counts").ready, 0);
    }

    async fn a_copy_whose_lease_another_claim_took_is_stopped_at_its_next_heartbeat(store, db) {
        let slow = Sleeper::new("test.stolen", Duration::from_secs(60), Duration::from_secs(120));
        let mut config = fast_config("first");
        config.lease = Duration::from_millis(900);
        let mut worker = Worker::new(store.clone(), config);
        worker.register(slow.clone());
        let (stop, task) = start(worker);
        let id = enqueue(&store, NewJob::new("test.stolen", json!(null))).await.expect("id");
        chronicle::testing::eventually("the first copy runs", async || slow.starts() == 1).await;
        // Another claim takes the job (as one would after a lease ran out unnoticed).
        let thief = uuid::Uuid::now_v7();
        chronicle::testing::execute_raw(db, &format!(
            "UPDATE jobs SET lease_token = {}, locked_by = 'thief' WHERE id = {}",
            chronicle::testing::uuid_literal(db, thief),
            chronicle::testing::uuid_literal(db, id),
        )).await.expect("steal the lease");
        chronicle::testing::eventually("the first copy is stopped", async || slow.stopped() == 1).await;
        // It changed nothing: the job is the thief's, its attempt still counted once.
        let owner = chronicle::testing::query_i64(db, &format!(
            "SELECT count(*) FROM jobs WHERE id = {} AND locked_by = 'thief' AND attempts = 1 AND state = 'ready'",
            chronicle::testing::uuid_literal(db, id),
        )).await;
        assert_eq!(owner, 1, "the stopped copy left the thief's claim alone");
        assert_eq!(slow.starts(), 1);
        stop.send(true).expect("stop");
        task.await.expect("join").expect("worker");
    }

    async fn a_local_queue_holds_its_jobs_through_heartbeats_and_gives_them_back_at_shutdown(store, db) {
        let slow = Sleeper::new("test.queued", Duration::from_secs(60), Duration::from_secs(120));
        enqueue_numbered(&store, "test.queued", 10).await;
        let mut config = fast_config("prefetcher");
        config.concurrency = 2;
        config.local_queue = 4;
        config.lease = Duration::from_millis(900);
        config.shutdown_grace = Duration::from_millis(100);
        let mut worker = Worker::new(store.clone(), config);
        worker.register(slow.clone());
        let (stop, task) = start(worker);
        // One claim for the two free slots and the local queue of four.
        let held = "SELECT count(*) FROM jobs WHERE locked_by = 'prefetcher'";
        chronicle::testing::eventually("two run and four wait in the local queue", async || {
            slow.starts() == 2 && chronicle::testing::query_i64(db, held).await == 6
        }).await;
        // Three leases' time later the queued jobs are still this worker's: their
        // leases were extended with the running ones'.
        tokio::time::sleep(Duration::from_millis(2_700)).await;
        let leased = format!("{held} AND locked_until > {}", queue::now_micros());
        assert_eq!(chronicle::testing::query_i64(db, &leased).await, 6);
        assert_eq!(slow.starts(), 2, "a queued job never starts while slots are full");
        stop.send(true).expect("stop");
        task.await.expect("join").expect("worker");
        // Every claimed job is given back, its attempt not counted.
        assert_eq!(chronicle::testing::query_i64(db, "SELECT count(*) FROM jobs WHERE lease_token IS NULL AND attempts = 0").await, 10);
    }

    async fn a_queued_job_whose_lease_ran_out_while_waiting_is_claimed_again_not_run_stale(store) {
        // Without heartbeats the queued jobs' leases run out while the first job runs.
        let slow = Sleeper::new("test.stale", Duration::from_millis(1200), Duration::from_secs(60));
        enqueue_numbered(&store, "test.stale", 3).await;
        let mut config = fast_config("stale");
        config.concurrency = 1;
        config.local_queue = 2;
        config.heartbeats = false;
        config.lease = Duration::from_millis(400);
        let mut worker = Worker::new(store.clone(), config);
        worker.register(slow.clone());
        let (stop, task) = start(worker);
        chronicle::testing::eventually("all three ran", async || slow.starts() >= 3).await;
        stop.send(true).expect("stop");
        task.await.expect("join").expect("worker");
        let attempts = slow.attempts.lock().expect("attempts").clone();
        // The first ran on its claim; the two that waited past their lease were claimed
        // again (a second attempt) instead of being started on the stale claim.
        assert_eq!(attempts[0], 1, "{attempts:?}");
        assert!(attempts[1..3].iter().all(|a| *a >= 2), "{attempts:?}");
    }

    async fn every_completion_reaches_the_database_before_the_worker_has_stopped(store) {
        let handler = Counting::new("test.quick");
        enqueue_numbered(&store, "test.quick", 200).await;
        let mut config = fast_config("finisher");
        config.local_queue = 50;
        let mut worker = Worker::new(store.clone(), config);
        worker.register(handler.clone());
        let (stop, task) = start(worker);
        chronicle::testing::eventually("all ran", async || handler.runs() == 200).await;
        // Stop at once: completions may still be on their way when it is asked to.
        stop.send(true).expect("stop");
        task.await.expect("join").expect("worker");
        assert_eq!(queue::counts(&store).await.expect("counts").ready, 0, "every completed job is gone");
    }

    async fn spent_jobs_at_the_head_of_the_queue_do_not_take_a_claims_slots(store) {
        let kinds = kinds(&["test.crash"]);
        for _ in 0..3 {
            enqueue(&store, NewJob { max_attempts: 1, ..NewJob::new("test.crash", json!(null)) }).await;
        }
        // Their one attempt each is taken by a process that dies.
        let doomed = queue::claim(&store, "doomed", &kinds, 10, Duration::from_millis(20)).await.expect("claim");
        assert_eq!(doomed.len(), 3);
        tokio::time::sleep(Duration::from_millis(40)).await;
        // Two live jobs queue behind the three spent ones.
        let live: Vec<_> = [enqueue(&store, NewJob::new("test.crash", json!(1))).await, enqueue(&store, NewJob::new("test.crash", json!(2))).await]
            .into_iter().map(|id| id.expect("id")).collect();
        let claimed = queue::claim(&store, "next", &kinds, 2, Duration::from_secs(30)).await.expect("claim");
        let mut ids: Vec<_> = claimed.iter().map(|j| j.id).collect();
        ids.sort();
        let mut want = live.clone();
        want.sort();
        assert_eq!(ids, want, "both live jobs are claimed although three spent ones were buried first");
        assert_eq!(queue::dead_jobs(&store, 10).await.expect("dead").len(), 3);
    }

    async fn a_hung_handler_is_stopped_at_its_time_limit_and_ends_dead_while_others_run(store) {
        let hung = Sleeper::new("test.hung", Duration::from_secs(86_400), Duration::from_millis(1500));
        let quick = Counting::new("test.quick");
        let mut config = fast_config("w1");
        config.concurrency = 2;
        config.lease = Duration::from_millis(600);
        let mut worker = Worker::new(store.clone(), config);
        worker.register(hung.clone());
        worker.register(quick.clone());
        let (stop, task) = start(worker);
        enqueue(&store, NewJob { max_attempts: 2, ..NewJob::new("test.hung", json!(null)) }).await;
        for _ in 0..5 {
            enqueue(&store, NewJob::new("test.quick", json!(null))).await;
        }
        chronicle::testing::eventually("the other jobs ran", async || quick.runs() == 5).await;
        chronicle::testing::eventually("the hung job is dead", async || queue::counts(&store).await.expect("counts").dead == 1).await;
        let dead = queue::dead_jobs(&store, 1).await.expect("dead");
        assert_eq!(dead[0].attempts, 2);
        assert!(dead[0].last_error.as_deref().unwrap_or("").contains("time limit"), "{:?}", dead[0].last_error);
        // One copy per attempt: heartbeats kept the short lease from handing out more.
        assert_eq!(hung.starts(), 2);
        stop.send(true).expect("stop");
        task.await.expect("join").expect("worker");
    }

    async fn heartbeats_keep_a_job_that_outlives_its_lease_to_one_copy(store) {
        for heartbeats in [true, false] {
            let kind = if heartbeats { "test.beating" } else { "test.silent" };
            let slow = Sleeper::new(kind, Duration::from_millis(2500), Duration::from_secs(60));
            let mut workers = Vec::new();
            for node in ["a", "b"] {
                let mut config = fast_config(node);
                config.lease = Duration::from_millis(600);
                config.poll_interval = Duration::from_millis(50);
                config.heartbeats = heartbeats;
                let mut worker = Worker::new(store.clone(), config);
                worker.register(slow.clone());
                workers.push(start(worker));
            }
            enqueue(&store, NewJob::new(kind, json!(null))).await;
            if heartbeats {
                chronicle::testing::eventually("the job is done", async || queue::counts(&store).await.expect("counts").ready == 0).await;
                assert_eq!(slow.starts(), 1, "with heartbeats the lease holds while the handler runs");
            } else {
                // Without them the lease runs out under the running handler and another
                // copy starts: what heartbeats are for.
                chronicle::testing::eventually("a second copy started", async || slow.starts() >= 2).await;
            }
            for (stop, task) in workers {
                stop.send(true).expect("stop");
                task.await.expect("join").expect("worker");
            }
        }
    }

    async fn a_failing_recurring_job_is_retried_and_keeps_its_schedule(store) {
        let handler = Arc::new(Counting { kind: "test.sweep", runs: AtomicUsize::new(0), fail_first: 12, delay: Duration::ZERO });
        let mut config = fast_config("w1");
        config.backoff_base = Duration::from_millis(1);
        let mut worker = Worker::new(store.clone(), config);
        // More failures in a row than any job's attempts: a recurring job never dies of them.
        worker.recurring(handler.clone(), Duration::from_millis(40)).await.expect("schedule");
        let (stop, task) = start(worker);
        chronicle::testing::eventually("it recovered and ran on schedule", async || handler.runs() >= 15).await;
        stop.send(true).expect("stop");
        task.await.expect("join").expect("worker");
        let c = queue::counts(&store).await.expect("counts");
        assert_eq!((c.ready, c.dead), (1, 0), "one next run scheduled, nothing dead");
    }

    async fn a_dead_recurring_job_is_scheduled_again_at_the_next_start(store) {
        let handler = Counting::new("test.sweep");
        queue::schedule_recurring(&store, "test.sweep").await.expect("schedule");
        // Its run killed its process every time it was tried, until it went dead.
        let kinds = kinds(&["test.sweep"]);
        for _ in 0..chronicle::queue::DEFAULT_MAX_ATTEMPTS {
            assert_eq!(queue::claim(&store, "doomed", &kinds, 1, Duration::from_millis(1)).await.expect("claim").len(), 1);
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        assert!(queue::claim(&store, "doomed", &kinds, 1, Duration::from_millis(1)).await.expect("claim").is_empty());
        assert_eq!(queue::counts(&store).await.expect("counts").dead, 1);
        // The next start schedules it again, though the dead row holds its key.
        let mut worker = Worker::new(store.clone(), fast_config("w1"));
        worker.recurring(handler.clone(), Duration::from_secs(3600)).await.expect("schedule");
        let (stop, task) = start(worker);
        chronicle::testing::eventually("the sweep ran", async || handler.runs() == 1).await;
        stop.send(true).expect("stop");
        task.await.expect("join").expect("worker");
        assert_eq!(queue::counts(&store).await.expect("counts").dead, 0);
    }

    async fn a_worker_whose_shutdown_sender_is_dropped_stops(store) {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(Worker::new(store.clone(), fast_config("w1")).run(stopped));
        drop(stop);
        let ended = tokio::time::timeout(Duration::from_secs(10), task).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))), "the worker stops instead of spinning: {ended:?}");
    }

    async fn a_recurring_job_is_scheduled_once_however_many_nodes_ask(store) {
        let handler = Counting::new("test.sweep");
        let mut a = Worker::new(store.clone(), fast_config("node-a"));
        let mut b = Worker::new(store.clone(), fast_config("node-b"));
        a.recurring(handler.clone(), Duration::from_secs(3600)).await.expect("schedule a");
        b.recurring(handler.clone(), Duration::from_secs(3600)).await.expect("schedule b");
        let (stop_a, task_a) = start(a);
        let (stop_b, task_b) = start(b);
        chronicle::testing::eventually("the sweep ran", async || handler.runs() >= 1).await;
        // It ran once and scheduled exactly one next run, an hour away.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(handler.runs(), 1);
        assert_eq!(queue::counts(&store).await.expect("counts").ready, 1);
        stop_a.send(true).expect("stop");
        stop_b.send(true).expect("stop");
        task_a.await.expect("join").expect("worker");
        task_b.await.expect("join").expect("worker");
    }

    async fn shutdown_finishes_running_jobs_and_releases_the_rest(store) {
        let quick = Arc::new(Counting { kind: "test.quick", runs: AtomicUsize::new(0), fail_first: 0, delay: Duration::from_millis(300) });
        let slow = Arc::new(Counting { kind: "test.slow", runs: AtomicUsize::new(0), fail_first: 0, delay: Duration::from_secs(30) });
        let mut config = fast_config("w1");
        config.shutdown_grace = Duration::from_secs(1);
        let mut worker = Worker::new(store.clone(), config);
        worker.register(quick.clone());
        worker.register(slow.clone());
        enqueue(&store, NewJob::new("test.quick", json!(null))).await;
        enqueue(&store, NewJob::new("test.slow", json!(null))).await;
        let (stop, task) = start(worker);
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(true).expect("stop");
        task.await.expect("join").expect("worker");
        assert_eq!(quick.runs(), 1, "the quick job finished during the grace period");
        // The slow one was released: claimable at once, its attempt not counted.
        let again = queue::claim(&store, "w2", &kinds(&["test.slow"]), 10, Duration::from_secs(30)).await.expect("claim");
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].kind, "test.slow");
        assert_eq!(again[0].attempts, 1);
    }

    async fn many_jobs_are_drained_by_several_workers_exactly_once(store) {
        let handler = Counting::new("test.bulk");
        let jobs: Vec<NewJob> = (0..600).map(|i| NewJob::new("test.bulk", json!({"i": i}))).collect();
        assert_eq!(queue::enqueue_many(&store, &jobs).await.expect("enqueue"), 600);
        let mut running = Vec::new();
        for w in 0..3 {
            let mut worker = Worker::new(store.clone(), fast_config(&format!("w{w}")));
            worker.register(handler.clone());
            running.push(start(worker));
        }
        chronicle::testing::eventually("all jobs ran", async || queue::counts(&store).await.expect("counts").ready == 0).await;
        for (stop, task) in running {
            stop.send(true).expect("stop");
            task.await.expect("join").expect("worker");
        }
        assert_eq!(handler.runs(), 600);
    }
}

/// Two stores on one PostgreSQL database stand for two nodes: a job enqueued through
/// node A wakes node B's worker through LISTEN/NOTIFY, long before B would poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_wakes_another_nodes_worker_through_notify() {
    let (node_a, db) = chronicle::testing::postgres().await;
    let node_b = Store::open(&db.url).await.expect("second node");
    let handler = Counting::new("test.count");
    let mut config = fast_config("node-b");
    config.poll_interval = Duration::from_secs(60);
    let mut worker = Worker::new(node_b.clone(), config);
    worker.register(handler.clone());
    let (stop, task) = start(worker);
    // Let B's worker reach its wait (and its LISTEN connection start).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = std::time::Instant::now();
    enqueue(&node_a, NewJob::new("test.count", json!(null))).await;
    chronicle::testing::eventually("node B ran the job", async || handler.runs() == 1).await;
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "woken, not polled: {:?}",
        t.elapsed()
    );
    stop.send(true).expect("stop");
    task.await.expect("join").expect("worker");
}

/// A burst fills the table before autovacuum has analysed it. Left to its guesses, the
/// planner then sorts every ready job for each claim (the drain of 60,000 jobs took
/// minutes); the claim's own planner settings keep it walking `jobs_ready` in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_claims_walk_the_ready_index_even_before_the_table_is_analysed() {
    let (store, db) = chronicle::testing::postgres().await;
    // No analysis may happen behind the test's back.
    chronicle::testing::execute_raw(&db, "ALTER TABLE jobs SET (autovacuum_enabled = false)")
        .await
        .expect("autovacuum off");
    enqueue_numbered(&store, "test.burst", 3_000).await;
    let kinds = kinds(&["test.burst", "test.other"]);

    let guessed = chronicle::testing::postgres_claim_plan(&store, &kinds, true).await;
    assert!(
        guessed.contains("Sort"),
        "without the claim's settings the planner sorts every ready job (what this \
         test guards against); if this PostgreSQL no longer does, revisit \
         PLAN_CLAIM_BY_RUN_AT:\n{guessed}"
    );
    let plan = chronicle::testing::postgres_claim_plan(&store, &kinds, false).await;
    assert!(plan.contains("Index Scan using jobs_ready"), "{plan}");
    assert!(!plan.contains("Sort"), "{plan}");

    let claimed = queue::claim(&store, "w", &kinds, 24, Duration::from_secs(30))
        .await
        .expect("claim");
    let mut claimed: Vec<i64> = claimed
        .iter()
        .map(|j| j.payload.as_i64().expect("n"))
        .collect();
    claimed.sort();
    assert_eq!(claimed, (0..24).collect::<Vec<_>>(), "the oldest 24");
}
