//! P3: live timeline fan-out. Starts a real `chronicle serve` process on the benchmark's
//! PostgreSQL database, opens N server-sent event streams to it, records events at a
//! steady rate through the engine (in this process: the server learns of them through
//! `LISTEN`, as a second node would), and measures commit → client latency, deliveries
//! per second and the server's resident memory per stream. Measured the same way in the
//! same run: a floor ([`Floor`]: fixed frames written to every socket, nothing else) and
//! a peer SSE server fed by the same `NOTIFY` (see bench/peers/better-sse).

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
    /// Median over events of the first stream's latency, from the commit returning to
    /// the recorder to the first client reading the event (negative when a server
    /// delivered it before the recorder saw its commit return).
    pub first_ms: f64,
    /// Median over events of last delivery − first delivery: the fan-out itself.
    pub fan_out_ms: f64,
    pub deliveries_per_s: f64,
    pub kb_per_stream: Option<f64>,
    /// Bytes the clients read per delivered event (frame size, with any framing).
    pub bytes_per_delivery: usize,
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

/// Opens one stream and returns the connection once the response head has arrived.
/// HTTP/1.1, as browsers ask (whether the body comes in chunks or, as Chronicle sends it,
/// until the connection closes, the `id:` lines read the same); a server then learns at
/// once that a client closed (over HTTP/1.0 a server that waits for its next write to
/// learn it would carry one round's closed streams into the next round's first event).
async fn open(target: &Target) -> anyhow::Result<(TcpStream, Vec<u8>)> {
    tokio::time::timeout(Duration::from_secs(30), open_within(target))
        .await
        .with_context(|| format!("{} did not answer within 30 s", target.name))?
}

/// Where a request or response head ends (after its blank line), if it has.
fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

async fn open_within(target: &Target) -> anyhow::Result<(TcpStream, Vec<u8>)> {
    let mut conn = TcpStream::connect(&target.host).await?;
    let cookie = target
        .cookie
        .as_ref()
        .map(|c| format!("Cookie: chronicle_session={c}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n{cookie}\r\n",
        target.path, target.host
    );
    conn.write_all(req.as_bytes()).await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = conn.read(&mut buf).await?;
        anyhow::ensure!(n > 0, "{} closed the stream before answering", target.name);
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head_end(&head) {
            let status = String::from_utf8_lossy(&head[..end - 4]);
            anyhow::ensure!(
                status.starts_with("HTTP/1.") && status.contains(" 200"),
                "{}: {status}",
                target.name
            );
            let rest = head[end..].to_vec();
            return Ok((conn, rest));
        }
    }
}

/// What one stream saw: when each `id:` arrived, and the bytes it read after its
/// response head.
type Seen = (Vec<(i64, Instant)>, usize);

/// Reads every stream until `deadline` on one dedicated thread, noting when each `id:`
/// arrived; returns what each stream saw, in the order given.
///
/// The clients share the machine with the server they measure, so they are kept as
/// cheap as a client can be: one thread waiting on every socket at once (`epoll` through
/// mio), one `read` per wake-up (a read that fills less than the buffer drained the
/// socket, and edge-triggered readiness reports any later arrival), no allocation per
/// message, and the arrival time taken when the bytes are read.
fn read_all(
    conns: Vec<(std::net::TcpStream, Vec<u8>)>,
    deadline: Instant,
) -> std::io::Result<Vec<Seen>> {
    use mio::{Events, Interest, Poll, Token};
    struct Reader {
        conn: mio::net::TcpStream,
        pending: Vec<u8>,
        seen: Vec<(i64, Instant)>,
        bytes: usize,
        open: bool,
    }
    let mut poll = Poll::new()?;
    let mut readers = Vec::with_capacity(conns.len());
    for (i, (conn, pending)) in conns.into_iter().enumerate() {
        // Non-blocking already: tokio's `into_std` keeps the mode.
        let mut conn = mio::net::TcpStream::from_std(conn);
        poll.registry()
            .register(&mut conn, Token(i), Interest::READABLE)?;
        let mut reader = Reader {
            conn,
            pending,
            seen: Vec::new(),
            bytes: 0,
            open: true,
        };
        // Bytes that came with the response head.
        scan(&mut reader.pending, &mut reader.seen, Instant::now());
        readers.push(reader);
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 16 * 1024];
    let mut open = readers.len();
    while open > 0 {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        match poll.poll(&mut events, Some(deadline - now)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in &events {
            let r = &mut readers[event.token().0];
            if !r.open {
                continue;
            }
            loop {
                match std::io::Read::read(&mut r.conn, &mut buf) {
                    Ok(0) => {
                        r.open = false;
                        open -= 1;
                        break;
                    }
                    Ok(n) => {
                        let at = Instant::now();
                        r.bytes += n;
                        r.pending.extend_from_slice(&buf[..n]);
                        scan(&mut r.pending, &mut r.seen, at);
                        if n < buf.len() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        r.open = false;
                        open -= 1;
                        break;
                    }
                }
            }
        }
    }
    Ok(readers.into_iter().map(|r| (r.seen, r.bytes)).collect())
}

/// Notes the sequence of every complete `id:` line in `pending` as arrived `at`, and
/// keeps only the incomplete last line.
fn scan(pending: &mut Vec<u8>, seen: &mut Vec<(i64, Instant)>, at: Instant) {
    let mut start = 0;
    while let Some(nl) = pending[start..].iter().position(|b| *b == b'\n') {
        let line = &pending[start..start + nl];
        if let Some(id) = line.strip_prefix(b"id:") {
            if let Some(id) = std::str::from_utf8(id)
                .ok()
                .and_then(|id| id.trim().parse::<i64>().ok())
            {
                seen.push((id, at));
            }
        }
        start += nl + 1;
    }
    pending.drain(..start);
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
    let deadline = Instant::now() + interval * events as u32 + Duration::from_secs(5);
    let conns = conns
        .into_iter()
        .map(|(conn, rest)| Ok((conn.into_std()?, rest)))
        .collect::<std::io::Result<Vec<_>>>()?;
    let readers = tokio::task::spawn_blocking(move || read_all(conns, deadline));

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
    // Per event: its first and last delivery (how long the event took to reach the
    // first client, and how long the fan-out to every stream took).
    let mut per_event: HashMap<i64, (f64, f64)> = HashMap::new();
    let seen = readers.await??;
    let mut bytes = 0;
    for (stream, read) in seen {
        bytes += read;
        for (seq, at) in stream {
            if let Some(c) = committed.get(&seq) {
                // Signed: the commit notice can reach a server, and it a client, before
                // the recorder's own call returns.
                let ms = match at.checked_duration_since(*c) {
                    Some(after) => after.as_secs_f64() * 1000.0,
                    None => -(c.duration_since(at).as_secs_f64() * 1000.0),
                };
                latencies.push(ms);
                let span = per_event.entry(seq).or_insert((ms, ms));
                *span = (span.0.min(ms), span.1.max(ms));
                last_delivery = last_delivery.max(at);
            }
        }
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    let mut firsts: Vec<f64> = per_event.values().map(|s| s.0).collect();
    let mut fan_outs: Vec<f64> = per_event.values().map(|s| s.1 - s.0).collect();
    firsts.sort_by(|a, b| a.total_cmp(b));
    fan_outs.sort_by(|a, b| a.total_cmp(b));
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
        first_ms: percentile(&firsts, 0.50),
        fan_out_ms: percentile(&fan_outs, 0.50),
        deliveries_per_s: latencies.len() as f64 / span,
        kb_per_stream,
        bytes_per_delivery: bytes / latencies.len().max(1),
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

/// The floor of this benchmark on this machine: the least a server can do per
/// delivery, measured by the same clients. It hears commits exactly as Chronicle does
/// (`LISTEN chronicle_events`, through its own store connection, in the benchmark's
/// process) and writes one fixed frame, as long as Chronicle's and with the commit's
/// sequence as its `id:`, to every stream with a plain blocking `write` — the streams
/// split between one thread per core. No HTTP framework, no authentication, no database
/// read, no filtering: what is left is the kernel's cost of sending on thousands of
/// sockets (and, on one host, of receiving), which no server avoids.
pub struct Floor {
    pub addr: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
    relay: Option<tokio::task::JoinHandle<()>>,
    forward: tokio::task::JoinHandle<()>,
    store: Store,
}

impl Floor {
    pub async fn start(database_url: &str, frame_len: usize) -> anyhow::Result<Floor> {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicBool, Ordering};
        // One writing thread per core.
        let writers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let streams: Vec<Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>> =
            (0..writers).map(|_| Arc::default()).collect();
        {
            let (stop, streams) = (stop.clone(), streams.clone());
            std::thread::spawn(move || {
                for (i, conn) in listener.incoming().enumerate() {
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                    let Ok(mut conn) = conn else {
                        // Out of descriptors, say: give the others a moment to close.
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    let _ = conn.set_nodelay(true);
                    // A client that never sends its request cannot hold up the others.
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                    // The request head, then the response head.
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while head_end(&head).is_none() {
                        match conn.read(&mut buf) {
                            Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
                            _ => break,
                        }
                    }
                    let ok = b"HTTP/1.0 200 OK\r\ncontent-type: text/event-stream\r\n\r\n";
                    if conn.write_all(ok).is_ok() {
                        if let Ok(mut s) = streams[i % streams.len()].lock() {
                            s.push(conn);
                        }
                    }
                }
            });
        }
        let mut senders = Vec::new();
        for shard in &streams {
            let (tx, rx) = std::sync::mpsc::channel::<i64>();
            senders.push(tx);
            let shard = shard.clone();
            std::thread::spawn(move || {
                while let Ok(seq) = rx.recv() {
                    let head = format!("event: activity\nid: {seq}\ndata: ");
                    let pad = frame_len.saturating_sub(head.len() + 2).max(2);
                    let mut frame = head.into_bytes();
                    frame.push(b'"');
                    frame.resize(frame.len() + pad - 2, b'x');
                    frame.extend_from_slice(b"\"\n\n");
                    let Ok(mut conns) = shard.lock() else { return };
                    conns.retain_mut(|c| c.write_all(&frame).is_ok());
                }
            });
        }
        let store = Store::open(database_url).await?;
        let relay = store.relay_cluster_commits();
        let mut commits = store.subscribe();
        let forward = tokio::spawn(async move {
            let mut sent = 0;
            while let Ok(c) = commits.recv().await {
                if c.last_sequence > sent {
                    sent = c.last_sequence;
                    for tx in &senders {
                        let _ = tx.send(sent);
                    }
                }
            }
        });
        Ok(Floor {
            addr,
            stop,
            relay,
            forward,
            store,
        })
    }

    /// Closes every stream and stops the threads.
    pub async fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        let _ = TcpStream::connect(&self.addr).await; // wakes the accepting thread
        self.forward.abort(); // drops the senders: the writers end, closing their streams
        if let Some(relay) = self.relay {
            relay.abort();
        }
        self.store.close().await;
    }
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
        let ours = round(&store, &current, column, &chronicle_target, n, events, rate).await?;
        let floor = Floor::start(database_url, ours.bytes_per_delivery).await?;
        let floor_target = Target {
            name: "floor".into(),
            host: floor.addr.clone(),
            path: "/events".into(),
            cookie: None,
            pid: None,
        };
        rounds.push(ours);
        let measured = round(&store, &current, column, &floor_target, n, events, rate).await;
        floor.stop().await;
        rounds.push(measured?);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_notes_each_complete_id_line_and_keeps_a_partial_one() {
        let at = Instant::now();
        let mut seen = Vec::new();
        let mut pending =
            b"event: activity\nid: 7\ndata: {}\n\n1f\r\nid: 8\ndata: x\n\nid: 1".to_vec();
        scan(&mut pending, &mut seen, at);
        assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), vec![7, 8]);
        assert_eq!(pending, b"id: 1", "the unfinished line waits for its end");
        pending.extend_from_slice(b"2\n");
        scan(&mut pending, &mut seen, at);
        assert_eq!(seen.last().map(|s| s.0), Some(12));
        assert!(pending.is_empty());
    }

    #[test]
    fn head_end_is_after_the_blank_line() {
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\n\r\nid: 1"), Some(19));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\n"), None);
    }
}
