//! P3: live timeline fan-out. Starts a real `chronicle serve` process on the benchmark's
//! PostgreSQL database, opens N server-sent event streams to it, records events at a
//! steady rate through the engine (in this process: the server learns of them through
//! `LISTEN`, as a second node would), and measures commit → client latency, deliveries
//! per second and the server's resident memory per stream. A peer SSE server fed by the
//! same `NOTIFY` (see bench/peers/better-sse) is measured the same way in the same run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chronicle::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// What one round measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Round {
    pub target: String,
    pub subscribers: usize,
    pub events: usize,
    pub delivered: usize,
    pub missing: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub deliveries_per_s: f64,
    pub kb_per_stream: Option<f64>,
}

/// A server to measure: where its stream is, and its process (for memory).
pub struct Target {
    pub name: String,
    pub host: String,
    pub path: String,
    pub cookie: Option<String>,
    pub pid: Option<u32>,
}

fn rss_kb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Opens one stream (HTTP/1.0, so the body is plain bytes until the server closes it)
/// and returns the connection once the response head has arrived.
async fn open(target: &Target) -> anyhow::Result<(TcpStream, Vec<u8>)> {
    let mut conn = TcpStream::connect(&target.host).await?;
    let cookie = target
        .cookie
        .as_ref()
        .map(|c| format!("Cookie: chronicle_session={c}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nAccept: text/event-stream\r\n{cookie}\r\n",
        target.path, target.host
    );
    conn.write_all(req.as_bytes()).await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = conn.read(&mut buf).await?;
        anyhow::ensure!(n > 0, "{} closed the stream before answering", target.name);
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            let status = String::from_utf8_lossy(&head[..end]);
            anyhow::ensure!(
                status.starts_with("HTTP/1.") && status.contains(" 200"),
                "{}: {status}",
                target.name
            );
            let rest = head[end + 4..].to_vec();
            return Ok((conn, rest));
        }
    }
}

/// Reads a stream until `deadline`, noting when each `id:` arrived.
async fn read(
    mut conn: TcpStream,
    mut pending: Vec<u8>,
    deadline: tokio::time::Instant,
) -> Vec<(i64, Instant)> {
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 4096];
    loop {
        // Complete lines only.
        while let Some(nl) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=nl).collect();
            if let Some(id) = line.strip_prefix(b"id:") {
                if let Ok(id) = String::from_utf8_lossy(id).trim().parse::<i64>() {
                    seen.push((id, Instant::now()));
                }
            }
        }
        match tokio::time::timeout_at(deadline, conn.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => pending.extend_from_slice(&buf[..n]),
            _ => return seen,
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// One round: `n` streams to `target`, `events` recorded at `rate` per second.
pub async fn round(
    store: &Store,
    current: &chronicle::accounts::Current,
    column: uuid::Uuid,
    target: &Target,
    n: usize,
    events: usize,
    rate: f64,
) -> anyhow::Result<Round> {
    let before = target.pid.and_then(rss_kb);
    // Connect in waves so the listen backlog never overflows.
    let mut conns = Vec::with_capacity(n);
    for wave in (0..n).collect::<Vec<_>>().chunks(200) {
        let opened = futures_util::future::join_all(wave.iter().map(|_| open(target))).await;
        for c in opened {
            conns.push(c.with_context(|| format!("opening a stream to {}", target.name))?);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = target.pid.and_then(rss_kb);
    let kb_per_stream = match (before, after) {
        (Some(b), Some(a)) => Some((a - b).max(0.0) / n as f64),
        _ => None,
    };

    let interval = Duration::from_secs_f64(1.0 / rate);
    let deadline = tokio::time::Instant::now() + interval * events as u32 + Duration::from_secs(5);
    let readers: Vec<_> = conns
        .into_iter()
        .map(|(conn, rest)| tokio::spawn(read(conn, rest, deadline)))
        .collect();

    // Record at a steady rate; remember when each sequence committed.
    let committed: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let mut tick = tokio::time::interval(interval);
    let first = Instant::now();
    for i in 0..events {
        tick.tick().await;
        chronicle::cards::create_card(store, current, column, &format!("{} #{i}", target.name))
            .await?;
        let at = Instant::now();
        let seq = chronicle::activity::latest_sequence(store, current.account_id()).await?;
        committed.lock().await.insert(seq, at);
    }

    let committed = committed.lock().await.clone();
    let mut latencies = Vec::new();
    let mut last_delivery = first;
    for r in readers {
        for (seq, at) in r.await? {
            if let Some(c) = committed.get(&seq) {
                latencies.push(at.duration_since(*c).as_secs_f64() * 1000.0);
                last_delivery = last_delivery.max(at);
            }
        }
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    let expected = n * events;
    let span = last_delivery.duration_since(first).as_secs_f64().max(1e-9);
    Ok(Round {
        target: target.name.clone(),
        subscribers: n,
        events,
        delivered: latencies.len(),
        missing: expected.saturating_sub(latencies.len()),
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        deliveries_per_s: latencies.len() as f64 / span,
        kb_per_stream,
    })
}

/// A `chronicle serve` child process; killed when dropped.
pub struct Server {
    pub child: std::process::Child,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn start_server(database_url: &str) -> anyhow::Result<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = std::process::Command::new(std::env::current_exe()?)
        .args(["serve", "--addr", &addr])
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .spawn()?;
    let server = Server { child, addr };
    for _ in 0..400 {
        if let Ok(mut c) = TcpStream::connect(&server.addr).await {
            let req = format!("GET /healthz HTTP/1.0\r\nHost: {}\r\n\r\n", server.addr);
            if c.write_all(req.as_bytes()).await.is_ok() {
                let mut head = [0u8; 16];
                if c.read(&mut head)
                    .await
                    .is_ok_and(|n| n > 12 && head[9..12] == *b"200")
                {
                    return Ok(server);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the server on {} did not become healthy", server.addr)
}

/// The whole benchmark: for each subscriber count, Chronicle and (if given) the peer.
pub async fn run(
    database_url: &str,
    subscribers: &[usize],
    events: usize,
    rate: f64,
    peer: Option<(String, u32)>,
) -> anyhow::Result<Vec<Round>> {
    anyhow::ensure!(
        database_url.starts_with("postgres"),
        "P3 runs on PostgreSQL (its peer listens to the same NOTIFY)"
    );
    let store = Store::open(database_url).await?;
    let current = chronicle::testing::team(&store, "Bench", "bench@example.com").await;
    let column = chronicle::testing::board(&store, &current)
        .await
        .column("To do");
    let token = chronicle::identity::sessions::start(&store, current.user.id, None)
        .await?
        .token;
    let server = start_server(database_url).await?;
    let chronicle_target = Target {
        name: "chronicle".into(),
        host: server.addr.clone(),
        path: format!("/{}/events?scope=account", current.account.slug),
        cookie: Some(token),
        pid: Some(server.child.id()),
    };
    let mut rounds = Vec::new();
    for &n in subscribers {
        rounds.push(round(&store, &current, column, &chronicle_target, n, events, rate).await?);
        if let Some((url, pid)) = &peer {
            let (host, path) = url
                .strip_prefix("http://")
                .and_then(|rest| rest.split_once('/'))
                .map(|(h, p)| (h.to_owned(), format!("/{p}")))
                .context("--peer takes http://HOST:PORT/PATH")?;
            let target = Target {
                name: "better-sse".into(),
                host,
                path,
                cookie: None,
                pid: Some(*pid),
            };
            rounds.push(round(&store, &current, column, &target, n, events, rate).await?);
        }
    }
    drop(server);
    store.close().await;
    Ok(rounds)
}
