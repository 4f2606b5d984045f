//! P2: queue throughput (enqueue, drain) and enqueue → start latency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use tokio::sync::{watch, Notify};

use super::{percentile, rate};
use crate::error::Result;
use crate::queue::worker_types::BoxFuture;
use crate::queue::{enqueue, enqueue_many, Job, JobHandler, NewJob, Worker, WorkerConfig};
use crate::store::Store;

#[derive(Debug, Clone, Serialize)]
pub struct QueueBench {
    pub engine: String,
    pub jobs: u64,
    pub workers: usize,
    pub concurrency: usize,
    pub local_queue: usize,
    pub enqueue_jobs_per_s: f64,
    pub drain_jobs_per_s: f64,
    pub latency_samples: usize,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
}

/// Does nothing but count; `start` notes when a latency job began.
struct Noop {
    done: AtomicU64,
    all_done: Notify,
    target: AtomicU64,
    started: Mutex<Option<Instant>>,
    started_signal: Notify,
}

impl JobHandler for Noop {
    fn kind(&self) -> &str {
        "bench.noop"
    }
    fn run<'a>(&'a self, _store: &'a Store, job: &'a Job) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if job.payload.get("latency").is_some() {
                if let Ok(mut s) = self.started.lock() {
                    *s = Some(Instant::now());
                }
                self.started_signal.notify_one();
            } else if self.done.fetch_add(1, Ordering::SeqCst) + 1
                >= self.target.load(Ordering::SeqCst)
            {
                self.all_done.notify_one();
            }
            Ok(())
        })
    }
}

/// Enqueues `jobs` no-op jobs in batches of 1,000, drains them with `workers` workers of
/// `concurrency` each (claiming `local_queue` ahead, see `WorkerConfig::local_queue`),
/// then times `samples` single jobs from commit to handler start.
pub async fn run(
    store: &Store,
    jobs: u64,
    workers: usize,
    concurrency: usize,
    local_queue: usize,
    samples: usize,
) -> Result<QueueBench> {
    let handler = Arc::new(Noop {
        done: AtomicU64::new(0),
        all_done: Notify::new(),
        target: AtomicU64::new(jobs),
        started: Mutex::new(None),
        started_signal: Notify::new(),
    });

    let t = Instant::now();
    let batch: Vec<NewJob> = (0..1000)
        .map(|i| NewJob::new("bench.noop", json!({"i": i})))
        .collect();
    let mut left = jobs;
    while left > 0 {
        let n = left.min(1000) as usize;
        enqueue_many(store, &batch[..n]).await?;
        left -= n as u64;
    }
    let enqueue_rate = rate(jobs, t.elapsed());

    let (stop, stopped) = watch::channel(false);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let mut worker = Worker::new(
            store.clone(),
            WorkerConfig {
                id: format!("bench-{w}"),
                concurrency,
                local_queue,
                poll_interval: Duration::from_millis(500),
                ..WorkerConfig::default()
            },
        );
        worker.register(handler.clone());
        tasks.push(tokio::spawn(worker.run(stopped.clone())));
    }
    if jobs > 0 {
        handler.all_done.notified().await;
    }
    let drain_rate = rate(jobs, t.elapsed());

    // Latency: one job at a time, from the enqueuing commit to the handler starting.
    let mut latencies = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = handler.started_signal.notified();
        tokio::pin!(started);
        started.as_mut().enable();
        let before_enqueue = Instant::now();
        let mut tx = store.begin().await?;
        enqueue(&mut tx, NewJob::new("bench.noop", json!({"latency": true}))).await?;
        tx.commit().await?;
        started.await;
        let began = handler
            .started
            .lock()
            .ok()
            .and_then(|s| *s)
            .unwrap_or_else(Instant::now);
        latencies.push(began.saturating_duration_since(before_enqueue));
    }
    latencies.sort();

    let _ = stop.send(true);
    for task in tasks {
        let _ = task.await;
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Ok(QueueBench {
        engine: store.engine().to_string(),
        jobs,
        workers,
        concurrency,
        local_queue,
        enqueue_jobs_per_s: enqueue_rate,
        drain_jobs_per_s: drain_rate,
        latency_samples: samples,
        latency_p50_ms: ms(percentile(&latencies, 50.0)),
        latency_p99_ms: ms(percentile(&latencies, 99.0)),
    })
}
