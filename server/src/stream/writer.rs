//! The writers of live streams: one task per runtime worker, each owning the sockets of
//! its share of the open streams.
//!
//! When the hub shares a commit's items, each writer goes through its streams once and
//! writes every matching frame straight to the socket (one non-blocking `write`). A
//! stream never has a task of its own to wake per delivery; only the rare paths leave
//! the writer for a while: a replay longer than a page, a hole only the database can
//! fill, a filter only the database can decide ([`catch_up`], a task per stream that
//! reads, writes, then hands the stream back).
//!
//! A writer also notices clients that leave (the socket turns readable at end-of-file),
//! writes keep-alive comments to silent streams, re-checks sessions and memberships, and
//! closes every stream at shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use chronicle::activity::latest_sequence;
use futures_util::future::{AbortHandle, Abortable};
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc};

use super::{current, Applied, Hub, HubMessage, Position, Queue, KEEP_ALIVE_FRAME};

/// How the writers treat their streams (from `AppState`).
#[derive(Clone, Copy)]
pub(super) struct Settings {
    /// How often a writer looks for silent streams.
    pub keep_alive: Duration,
    /// How often a writer re-checks sessions and memberships.
    pub recheck: Duration,
    /// Bytes a stream may have waiting for its client before it sheds them and catches
    /// up from the database at the client's pace.
    pub backlog_limit: usize,
}

/// An open stream: its socket, its place in the team's log and what it has yet to send.
pub(super) struct Sink {
    socket: Arc<TcpStream>,
    position: Position,
    /// Frames not yet written; the first one `written` bytes in.
    out: Queue,
    written: usize,
    /// The database holds more for this stream than `out` (a replay longer than a page,
    /// or a batch the stream could not apply by itself).
    more: bool,
    /// Subscribed before the stream's last database read: what the hub shared since,
    /// applied when the stream joins (or rejoins) its writer.
    since_read: Option<broadcast::Receiver<HubMessage>>,
    /// Whether bytes went out since the keep-alive timer last looked.
    sent_since_check: bool,
    /// Keep-alive looks in a row that found a backlog and nothing sent since.
    stalled_looks: u8,
    _open: OpenStream,
}

/// Counts a stream among the open ones from its first frame until it ends, wherever it
/// is (a writer, or catching up).
struct OpenStream(Arc<AtomicUsize>);

impl OpenStream {
    fn new(open: Arc<AtomicUsize>) -> OpenStream {
        open.fetch_add(1, Ordering::Relaxed);
        OpenStream(open)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Sink {
    /// `out` holds the response head and the first page of the replay; `more` says
    /// whether the replay goes on; `since_read` was subscribed before that page was read;
    /// `open` counts open streams.
    pub(super) fn new(
        socket: Arc<TcpStream>,
        position: Position,
        out: Queue,
        more: bool,
        since_read: broadcast::Receiver<HubMessage>,
        open: Arc<AtomicUsize>,
    ) -> Sink {
        Sink {
            socket,
            position,
            out,
            written: 0,
            more,
            since_read: Some(since_read),
            sent_since_check: false,
            stalled_looks: 0,
            _open: OpenStream::new(open),
        }
    }

    /// Writes what the socket takes now: `Ok(true)` when everything went out,
    /// `Ok(false)` when the socket is full, an error when the client is gone.
    fn write_now(&mut self) -> io::Result<bool> {
        while let Some((_, front)) = self.out.front() {
            match self.socket.try_write(&front[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.sent_since_check = true;
                    self.written += n;
                    if self.written == front.len() {
                        self.out.pop_front();
                        self.written = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Bytes waiting for the client.
    fn backlog(&self) -> usize {
        self.out.iter().map(|(_, b)| b.len()).sum::<usize>() - self.written
    }

    /// Gives up the queued items that have not started to go out, to be read again from
    /// the database at the client's pace ([`catch_up`]): the cursor steps back to just
    /// before the first of them (everything before it was sent or does not belong).
    fn shed(&mut self) {
        let keep = usize::from(self.written > 0);
        let Some(first) = self.out.iter().skip(keep).position(|(seq, _)| *seq > 0) else {
            return;
        };
        let first = first + keep;
        self.position.cursor = self.out[first].0 - 1;
        self.out.truncate(first);
        self.more = true;
    }

    /// Writes everything, waiting for the socket as needed, but not longer than
    /// `stalled` for any room: a client that reads nothing is not waited on forever.
    async fn write_all(&mut self, stalled: Duration) -> io::Result<()> {
        while !self.write_now()? {
            tokio::time::timeout(stalled, self.socket.writable())
                .await
                .map_err(|_| io::Error::other("the client does not read its stream"))??;
        }
        Ok(())
    }

    /// Applies a batch the hub shared; `false` when only the database can tell what it
    /// holds for this stream (the sink then needs [`catch_up`]).
    fn apply(&mut self, message: &HubMessage) -> bool {
        let HubMessage::Batch(batch) = message else {
            return true;
        };
        match self.position.apply(batch, &mut self.out) {
            Applied::Done => true,
            Applied::NeedsRead => {
                self.more = true;
                false
            }
        }
    }
}

/// Reads what a stream misses from the database, writes it, and hands the stream back
/// to its writer. Ends the stream (drops its socket) on a read or write failure.
async fn catch_up(mut sink: Sink, hub: Hub, settings: Settings, back: mpsc::UnboundedSender<Sink>) {
    // Subscribe before reading, so a commit the read does not see is shared later.
    sink.since_read = Some(hub.subscribe());
    // Whatever is committed now — every batch the stream could not apply, everything
    // up to a cursor that shedding stepped back — the reads below see: once they are
    // done, the cursor can stand here even if the stream's filters matched nothing this
    // far (else a stream with sparse filters would find a hole at every batch).
    let covered = match latest_sequence(&hub.store, sink.position.account).await {
        Ok(latest) => latest,
        Err(e) => {
            tracing::warn!(error = %e, "event stream read failed; ending the stream");
            return;
        }
    };
    // As long as a keep-alive comment may wait: two periods.
    let stalled = settings.keep_alive * 2;
    loop {
        if sink.write_all(stalled).await.is_err() {
            return;
        }
        if hub.is_closing() {
            return;
        }
        if !sink.more {
            break;
        }
        match sink.position.read_page(&mut sink.out).await {
            Ok(more) => sink.more = more,
            Err(()) => return,
        }
    }
    sink.position.cursor = sink.position.cursor.max(covered);
    let _ = back.send(sink);
}

/// What a writer waits for on one stream's socket.
#[derive(Clone, Copy)]
enum Want {
    /// Bytes or end-of-file from the client.
    Read,
    /// Room to write a backlog.
    Write,
}

struct Woken {
    slot: usize,
    generation: u64,
    want: Want,
}

type Wait = Abortable<Pin<Box<dyn Future<Output = Woken> + Send>>>;

struct Entry {
    sink: Sink,
    /// Tells a wait for this entry from one for an earlier entry in the same slot.
    generation: u64,
    reading: AbortHandle,
    writing: Option<AbortHandle>,
}

/// One writer and the streams it owns.
pub(super) struct Writer {
    hub: Hub,
    settings: Settings,
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
    generations: u64,
    waits: FuturesUnordered<Wait>,
    /// Streams back from [`catch_up`] (and new ones, through the hub).
    back: mpsc::UnboundedSender<Sink>,
    /// Streams whose session or membership no longer holds.
    expired: mpsc::UnboundedReceiver<(usize, u64)>,
    expire: mpsc::UnboundedSender<(usize, u64)>,
    /// A round of session checks is running.
    rechecking: Arc<AtomicBool>,
}

/// Clears its flag when dropped (a task that ended, however it ended).
struct Done(Arc<AtomicBool>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Writer {
    /// Starts a writer and returns where to send it streams. It subscribes to the hub
    /// here, before any stream can reach it.
    pub(super) fn spawn(hub: Hub, settings: Settings) -> mpsc::UnboundedSender<Sink> {
        let (back, joins) = mpsc::unbounded_channel();
        let (expire, expired) = mpsc::unbounded_channel();
        let batches = hub.subscribe();
        let writer = Writer {
            hub,
            settings,
            entries: Vec::new(),
            free: Vec::new(),
            generations: 0,
            waits: FuturesUnordered::new(),
            back: back.clone(),
            expired,
            expire,
            rechecking: Arc::default(),
        };
        tokio::spawn(writer.run(joins, batches));
        back
    }

    async fn run(
        mut self,
        mut joins: mpsc::UnboundedReceiver<Sink>,
        mut batches: broadcast::Receiver<HubMessage>,
    ) {
        let start = tokio::time::Instant::now();
        let every = self.settings.keep_alive;
        let mut keep_alive = tokio::time::interval_at(start + every, every);
        keep_alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let every = self.settings.recheck;
        let mut recheck = tokio::time::interval_at(start + every, every);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                // New items first: they are what the streams are for.
                biased;
                msg = batches.recv() => match msg {
                    Ok(HubMessage::Closing) | Err(broadcast::error::RecvError::Closed) => break,
                    Ok(msg) => self.deliver(&msg).await,
                    Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up_all(),
                },
                Some(sink) = joins.recv() => self.admit(sink),
                Some(woken) = self.waits.next(), if !self.waits.is_empty() => {
                    if let Ok(woken) = woken {
                        self.woken(woken);
                    }
                }
                Some((slot, generation)) = self.expired.recv() => {
                    if self.get(slot, generation).is_some() {
                        self.remove(slot);
                    }
                }
                _ = keep_alive.tick() => self.keep_alive().await,
                _ = recheck.tick() => self.recheck(),
            }
            if self.hub.is_closing() {
                break;
            }
        }
        // Shutdown: every stream ends (its socket closes as its entry drops).
        self.entries.clear();
    }

    fn get(&mut self, slot: usize, generation: u64) -> Option<&mut Entry> {
        self.entries
            .get_mut(slot)
            .and_then(Option::as_mut)
            .filter(|e| e.generation == generation)
    }

    /// Takes a stream in: applies what the hub shared since its last read, then writes.
    fn admit(&mut self, mut sink: Sink) {
        if self.hub.is_closing() {
            return;
        }
        if let Some(mut since) = sink.since_read.take() {
            loop {
                match since.try_recv() {
                    Ok(HubMessage::Closing) => return,
                    Ok(msg) => {
                        if !sink.apply(&msg) {
                            break;
                        }
                    }
                    Err(broadcast::error::TryRecvError::Empty) => break,
                    Err(broadcast::error::TryRecvError::Lagged(_)) => {
                        sink.more = true;
                        break;
                    }
                    Err(broadcast::error::TryRecvError::Closed) => return,
                }
            }
        }
        if sink.more {
            self.send_to_catch_up(sink);
            return;
        }
        let slot = self.free.pop().unwrap_or_else(|| {
            self.entries.push(None);
            self.entries.len() - 1
        });
        self.generations += 1;
        let generation = self.generations;
        let reading = self.wait(slot, generation, sink.socket.clone(), Want::Read);
        self.entries[slot] = Some(Entry {
            sink,
            generation,
            reading,
            writing: None,
        });
        self.flush(slot);
    }

    fn wait(
        &self,
        slot: usize,
        generation: u64,
        socket: Arc<TcpStream>,
        want: Want,
    ) -> AbortHandle {
        let (handle, registration) = AbortHandle::new_pair();
        let wait: Pin<Box<dyn Future<Output = Woken> + Send>> = Box::pin(async move {
            // An error shows in the read or write that follows.
            let _ = match want {
                Want::Read => socket.readable().await,
                Want::Write => socket.writable().await,
            };
            Woken {
                slot,
                generation,
                want,
            }
        });
        self.waits.push(Abortable::new(wait, registration));
        handle
    }

    /// Takes the stream in `slot` out of this writer.
    fn take(&mut self, slot: usize) -> Option<Sink> {
        let entry = self.entries[slot].take()?;
        self.free.push(slot);
        // Its waits hold the socket too: let them go.
        entry.reading.abort();
        if let Some(w) = entry.writing {
            w.abort();
        }
        Some(entry.sink)
    }

    /// Ends the stream in `slot`: its socket closes.
    fn remove(&mut self, slot: usize) {
        self.take(slot);
    }

    /// Hands a stream to [`catch_up`], which brings it back when done.
    fn send_to_catch_up(&mut self, sink: Sink) {
        tokio::spawn(catch_up(
            sink,
            self.hub.clone(),
            self.settings,
            self.back.clone(),
        ));
    }

    fn take_for_catch_up(&mut self, slot: usize) {
        if let Some(sink) = self.take(slot) {
            self.send_to_catch_up(sink);
        }
    }

    /// Writes what the stream in `slot` has queued; waits for room if the socket is
    /// full. A stream whose backlog passes the limit (a burst bigger than the client's
    /// pace) sheds it and catches up from the database instead, at the client's pace.
    fn flush(&mut self, slot: usize) {
        let Some(entry) = self.entries[slot].as_mut() else {
            return;
        };
        match entry.sink.write_now() {
            Ok(true) => {}
            Ok(false) if entry.sink.backlog() > self.settings.backlog_limit => {
                entry.sink.shed();
                self.take_for_catch_up(slot);
            }
            Ok(false) if entry.writing.is_none() => {
                let generation = entry.generation;
                let socket = entry.sink.socket.clone();
                let handle = self.wait(slot, generation, socket, Want::Write);
                if let Some(entry) = self.entries[slot].as_mut() {
                    entry.writing = Some(handle);
                }
            }
            Ok(false) => {}
            Err(_) => self.remove(slot),
        }
    }

    async fn deliver(&mut self, msg: &HubMessage) {
        let HubMessage::Batch(batch) = msg else {
            return;
        };
        for slot in 0..self.entries.len() {
            let Some(entry) = self.entries[slot].as_mut() else {
                continue;
            };
            if entry.sink.position.account != batch.account {
                continue;
            }
            take_turns().await;
            let Some(entry) = self.entries[slot].as_mut() else {
                continue;
            };
            let queued = entry.sink.out.len();
            if !entry.sink.apply(msg) {
                self.take_for_catch_up(slot);
            } else if entry.sink.out.len() > queued {
                self.flush(slot);
            }
        }
    }

    /// This writer fell behind the hub: every stream reads what it missed.
    fn catch_up_all(&mut self) {
        for slot in 0..self.entries.len() {
            if let Some(entry) = self.entries[slot].as_mut() {
                entry.sink.more = true;
                self.take_for_catch_up(slot);
            }
        }
    }

    fn woken(&mut self, woken: Woken) {
        let Some(entry) = self.get(woken.slot, woken.generation) else {
            return;
        };
        match woken.want {
            Want::Write => {
                entry.writing = None;
                self.flush(woken.slot);
            }
            Want::Read => {
                // Clients send nothing after their request: read and drop what they do
                // send (a bounded amount per wake-up), and notice when they leave.
                let mut scratch = [0u8; 512];
                for _ in 0..16 {
                    match entry.sink.socket.try_read(&mut scratch) {
                        Ok(0) => return self.remove(woken.slot),
                        Ok(_) => continue,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => return self.remove(woken.slot),
                    }
                }
                let socket = entry.sink.socket.clone();
                let generation = entry.generation;
                let handle = self.wait(woken.slot, generation, socket, Want::Read);
                if let Some(entry) = self.entries[woken.slot].as_mut() {
                    entry.reading = handle;
                }
            }
        }
    }

    /// A stream silent since the last look gets a comment, so proxies keep it open:
    /// silence lasts one to two keep-alive periods. A stream with a backlog that took
    /// nothing for two whole periods is closed: its client stopped reading.
    async fn keep_alive(&mut self) {
        for slot in 0..self.entries.len() {
            if self.entries[slot].is_none() {
                continue;
            }
            take_turns().await;
            let Some(entry) = self.entries[slot].as_mut() else {
                continue;
            };
            let sent = std::mem::take(&mut entry.sink.sent_since_check);
            if !entry.sink.out.is_empty() {
                entry.sink.stalled_looks = if sent {
                    0
                } else {
                    entry.sink.stalled_looks + 1
                };
                if entry.sink.stalled_looks >= 2 {
                    self.remove(slot);
                }
                continue;
            }
            entry.sink.stalled_looks = 0;
            if sent {
                continue;
            }
            entry
                .sink
                .out
                .push_back((0, Bytes::from_static(KEEP_ALIVE_FRAME)));
            self.flush(slot);
            if let Some(entry) = self.entries[slot].as_mut() {
                // A comment is not news: the next look still finds the stream silent.
                entry.sink.sent_since_check = false;
            }
        }
    }

    /// Checks, off this task, that every stream's session and membership still hold;
    /// streams that fail are closed when the answer comes back.
    fn recheck(&mut self) {
        let checks: Vec<(usize, u64, String, String)> = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(slot, e)| {
                let e = e.as_ref()?;
                let p = &e.sink.position;
                Some((slot, e.generation, p.token.clone(), p.slug.clone()))
            })
            .collect();
        if checks.is_empty() {
            return;
        }
        if self.rechecking.swap(true, Ordering::AcqRel) {
            return; // the last round is still going
        }
        let rechecking = self.rechecking.clone();
        let store = self.hub.store.clone();
        let expire = self.expire.clone();
        tokio::spawn(async move {
            let _done = Done(rechecking);
            let mut verdicts: HashMap<(String, String), bool> = HashMap::new();
            for (slot, generation, token, slug) in checks {
                let key = (token, slug);
                let holds = match verdicts.get(&key) {
                    Some(v) => *v,
                    None => {
                        let v = current(&store, &key.0, &key.1).await.is_ok();
                        verdicts.insert(key, v);
                        v
                    }
                };
                if !holds {
                    let _ = expire.send((slot, generation));
                }
            }
        });
    }
}

/// A step of a pass over a writer's streams. Passes are long — a fan-out to thousands of
/// sockets is tens of milliseconds of system calls — and run on the runtime's workers,
/// beside the hub's next read, the database connections and page requests. Each step
/// takes a unit of the task's cooperative budget, so a pass steps aside every hundred or
/// so streams (about a millisecond) and never holds the others up for a whole fan-out.
async fn take_turns() {
    tokio::task::coop::consume_budget().await;
}
