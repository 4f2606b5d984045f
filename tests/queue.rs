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
        lease: Duration::from_secs(30),
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
        let claimed = queue::claim(&store, "A", 10, Duration::from_millis(200)).await.expect("claim");
        assert_eq!(claimed.len(), 1);
        assert!(queue::claim(&store, "B", 10, Duration::from_secs(30)).await.expect("claim").is_empty(),
            "leased jobs are not claimable");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let again = queue::claim(&store, "B", 10, Duration::from_secs(30)).await.expect("claim");
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].id, claimed[0].id);
        assert_eq!(again[0].attempts, 2);
        // A's late completion does not delete B's job.
        assert!(!queue::complete(&store, &claimed[0], "A").await.expect("complete"));
        assert!(queue::complete(&store, &again[0], "B").await.expect("complete"));
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

    async fn a_job_with_no_handler_ends_dead_instead_of_looping(store) {
        let (stop, task) = start(Worker::new(store.clone(), fast_config("w1")));
        enqueue(&store, NewJob { max_attempts: 2, ..NewJob::new("test.nobody", json!(null)) }).await;
        chronicle::testing::eventually("the job is dead", async || queue::counts(&store).await.expect("counts").dead == 1).await;
        let dead = queue::dead_jobs(&store, 1).await.expect("dead");
        assert!(dead[0].last_error.as_deref().unwrap_or("").contains("no handler"));
        stop.send(true).expect("stop");
        task.await.expect("join").expect("worker");
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
        let again = queue::claim(&store, "w2", 10, Duration::from_secs(30)).await.expect("claim");
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
