//! The live timeline: `GET /<account>/events?scope=account|project|board|card&id=…`, a
//! server-sent event stream of activity items, authorized like the page it feeds.
//!
//! Each message is `event: activity`, `id: <sequence>`, `data: <ActivityView JSON>`. On
//! connect the stream replays every item after `Last-Event-ID` (the browser's own
//! reconnect) or `?since=` (a client that reconnects by itself), then follows commits
//! live. Keep-alive comments after 10–20 s of silence; streams end when the server shuts
//! down.
//!
//! Fan-out: one [`Hub`] per process takes each commit's new activity once — from the
//! commit's own announcement when it is small (`Committed::activity`, carried in-process
//! and inside the `NOTIFY` payload), otherwise by reading the rows — renders each item's
//! JSON once, and broadcasts the batch; every stream filters batches in
//! memory ([`FeedQuery::matches`]). A stream subscribes to the hub *before* it replays
//! from the database, and each batch says which sequences it covers (`from`, `to`], so a
//! stream that sees a hole between its cursor and a batch — it lagged, or the hub did —
//! reads the hole from the database: no gap, and no duplicate (nothing at or below the
//! cursor is sent). Commits made on other nodes reach the hub through PostgreSQL
//! `LISTEN` (see `Store::relay_cluster_commits`).
//!
//! Who writes: an authorized stream takes its connection over from hyper
//! ([`socket`]) and joins one of a few writers that own every stream's socket and
//! write each frame with one non-blocking `write` (`writer.rs`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chronicle::accounts::{members, AccountId, Current};
use chronicle::activity::{feed, latest_sequence, ActivityItem, FeedQuery, FeedScope};
use chronicle::identity::sessions;
use chronicle::store::Committed;
use chronicle::Store;
use chronicle_app::api::activity::{ActivityView, FeedFilter};
use chronicle_app::error::AppError;
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc, watch};
use uuid::Uuid;

use crate::AppState;
pub use socket::{Listener, TakeOver};

pub mod socket;
mod writer;

/// Items read per query: the most one feed query returns.
const PAGE: u32 = chronicle::activity::MAX_FEED_LIMIT;
/// How often a writer looks whether its streams have been silent; a silent stream then
/// gets a comment so proxies keep it open. Silence therefore lasts 10–20 s at most, under the
/// 30 s idle timeout of the strictest common proxies.
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);
/// How often a writer checks that its streams' sessions and memberships still hold.
pub const RECHECK: Duration = Duration::from_secs(30);
/// Bytes a stream may have waiting for a client that reads slower than the team writes
/// (a bulk change on a slow link) before it sheds them and reads them again from the
/// database at the client's pace, a page at a time; a client that reads nothing for two
/// keep-alive periods meanwhile is closed.
pub const BACKLOG_LIMIT: usize = 1 << 20;
/// The kernel's send buffer for a stream's socket (Linux doubles it for bookkeeping):
/// hundreds of frames.
const SEND_BUFFER: usize = 64 * 1024;
/// Batches a writer (or a stream joining one) may fall behind before its streams read
/// from the database instead.
const HUB_CAPACITY: usize = 256;

/// One activity item, rendered once — as the complete SSE message — for every stream of
/// its team: a stream sends it by cloning a reference-counted buffer.
pub struct SharedItem {
    pub item: ActivityItem,
    pub frame: Bytes,
}

/// The new activity of one commit (or of several, coalesced) in one team: every item
/// with a sequence in (`from`, `to`], oldest first, all scopes.
pub struct Batch {
    pub account: AccountId,
    pub from: i64,
    pub to: i64,
    pub items: Vec<SharedItem>,
}

/// What the hub sends every stream.
#[derive(Clone)]
enum HubMessage {
    Batch(Arc<Batch>),
    /// The server is shutting down: streams end.
    Closing,
}

/// Takes each commit's activity once per process (as the commit announced it, or read
/// from the database) and shares it with every stream.
#[derive(Clone)]
pub struct Hub {
    store: Store,
    batches: broadcast::Sender<HubMessage>,
    /// Set at shutdown, before `Closing` is sent: a writer or stream that lagged past
    /// that message, or starts after it, still ends.
    closing: Arc<AtomicBool>,
    /// Told at shutdown: [`Hub::run`] stops following commits.
    stop: Arc<watch::Sender<bool>>,
    /// The streams' writers, started with the first stream: one per runtime worker.
    writers: Arc<Writers>,
    /// How many times the hub read new activity from the database (a commit too large
    /// to carry its items, or a hole), since start.
    reads: Arc<AtomicUsize>,
}

#[derive(Default)]
struct Writers {
    joins: OnceLock<Vec<mpsc::UnboundedSender<writer::Sink>>>,
    next: AtomicUsize,
    /// Streams open now.
    open: Arc<AtomicUsize>,
}

impl Hub {
    pub fn new(store: Store) -> Hub {
        Hub {
            store,
            batches: broadcast::channel(HUB_CAPACITY).0,
            closing: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(watch::channel(false).0),
            writers: Arc::default(),
            reads: Arc::default(),
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<HubMessage> {
        self.batches.subscribe()
    }

    /// How many times the hub has read new activity from the database instead of taking
    /// what the commits carried.
    pub fn database_reads(&self) -> usize {
        self.reads.load(Ordering::Relaxed)
    }

    /// How many live streams this process holds open.
    pub fn open_streams(&self) -> usize {
        self.writers.open.load(Ordering::Relaxed)
    }

    fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Hands a new stream to a writer (in turn, so each owns a like share).
    fn admit(&self, sink: writer::Sink, settings: writer::Settings) {
        if self.is_closing() {
            return; // the socket closes as the sink drops
        }
        let joins = self.writers.joins.get_or_init(|| {
            let n = tokio::runtime::Handle::current()
                .metrics()
                .num_workers()
                .max(1);
            (0..n)
                .map(|_| writer::Writer::spawn(self.clone(), settings))
                .collect()
        });
        let i = self.writers.next.fetch_add(1, Ordering::Relaxed) % joins.len();
        // A writer ends only at shutdown; a stream sent after that just closes.
        let _ = joins[i].send(sink);
    }

    /// Ends every open stream (at shutdown): the writers learn it from the channel they
    /// already wait on, and close their streams.
    pub fn close_streams(&self) {
        self.closing.store(true, Ordering::Release);
        let _ = self.batches.send(HubMessage::Closing);
        self.stop.send_replace(true);
    }

    /// Follows the store's commit announcements until [`Hub::close_streams`].
    pub async fn run(self) {
        let mut stop = self.stop.subscribe();
        let mut commits = self.store.subscribe();
        // Per team: the last sequence shared, and its slug (for links in items).
        let mut read_up_to: HashMap<AccountId, i64> = HashMap::new();
        let mut slugs: HashMap<AccountId, String> = HashMap::new();
        loop {
            let first = tokio::select! {
                _ = stop.changed() => return,
                msg = commits.recv() => msg,
            };
            // Coalesce whatever else is already waiting: at most one read per team.
            let mut notices: HashMap<AccountId, Vec<Committed>> = HashMap::new();
            let mut note = |msg: Result<Committed, broadcast::error::RecvError>| match msg {
                Ok(c) => {
                    notices.entry(c.account).or_default().push(c);
                    true
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Positions are unknown now; streams will see holes and read them.
                    read_up_to.clear();
                    true
                }
                Err(broadcast::error::RecvError::Closed) => false,
            };
            if !note(first) {
                return;
            }
            while let Ok(c) = commits.try_recv() {
                note(Ok(c));
            }
            for (account, mut notices) in notices {
                notices.sort_by_key(|c| c.last_sequence);
                let Some(last) = notices.last().map(|c| c.last_sequence) else {
                    continue;
                };
                // Nobody listening: just remember where the team is.
                if self.batches.receiver_count() == 0 {
                    read_up_to.insert(account, last);
                    continue;
                }
                // Unknown position: start where the first commit heard began (or just
                // below the newest); streams that need anything older see the hole and
                // read it themselves.
                let from = read_up_to
                    .get(&account)
                    .copied()
                    .unwrap_or_else(|| notices[0].activity.as_ref().map_or(last - 1, |a| a.after));
                if last <= from {
                    continue; // announced twice (in-process and through LISTEN)
                }
                let slug = match slugs.get(&account) {
                    Some(s) => s.clone(),
                    None => match chronicle::accounts::slug_of(&self.store, account).await {
                        Ok(s) => {
                            slugs.insert(account, s.clone());
                            s
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "live timeline: unknown team");
                            continue;
                        }
                    },
                };
                // What the commits carried, when they cover (`from`, `last`] without a
                // hole; otherwise every item after `from`, read page by page.
                let items = match carried(from, &notices) {
                    Some(items) => items,
                    None => match self.read_after(account, from).await {
                        Ok(items) => items,
                        Err(e) => {
                            tracing::warn!(error = %e, "live timeline: reading new activity failed");
                            read_up_to.remove(&account);
                            continue;
                        }
                    },
                };
                let to = last.max(items.last().map_or(last, |i| i.sequence));
                read_up_to.insert(account, to);
                let items = items
                    .into_iter()
                    .filter_map(|item| render(item, &slug))
                    .collect();
                let _ = self.batches.send(HubMessage::Batch(Arc::new(Batch {
                    account,
                    from,
                    to,
                    items,
                })));
            }
        }
    }

    /// Every activity item of `account` after sequence `from`, oldest first.
    async fn read_after(
        &self,
        account: AccountId,
        from: i64,
    ) -> chronicle::Result<Vec<ActivityItem>> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let mut items: Vec<ActivityItem> = Vec::new();
        loop {
            let mut query = FeedQuery::new(FeedScope::Account);
            query.after = Some(items.last().map_or(from, |i| i.sequence));
            query.oldest_first = true;
            query.limit = PAGE;
            let page = feed(&self.store, account, &query).await?;
            let full = page.len() as u32 == PAGE;
            items.extend(page);
            if !full {
                return Ok(items);
            }
        }
    }
}

/// The items of one team's commits after `from`, from what the notices carried: `None`
/// unless every commit past `from` carried its activity and they follow on without a
/// gap (`notices` sorted by last sequence).
fn carried(from: i64, notices: &[Committed]) -> Option<Vec<ActivityItem>> {
    let mut at = from;
    let mut items = Vec::new();
    for c in notices {
        if c.last_sequence <= at {
            continue; // heard twice
        }
        let activity = c.activity.as_ref()?;
        if activity.after > at {
            return None; // a commit in between was not heard, or not carried
        }
        items.extend(activity.items.iter().filter(|i| i.sequence > at).cloned());
        at = c.last_sequence;
    }
    Some(items)
}

fn render(item: ActivityItem, slug: &str) -> Option<SharedItem> {
    let frame = frame(&item, slug)?;
    Some(SharedItem { item, frame })
}

/// `event: activity`, `id: <sequence>`, `data: <JSON on one line>`, blank line.
fn frame(item: &ActivityItem, slug: &str) -> Option<Bytes> {
    let view = ActivityView::from_item(item.clone(), slug);
    // serde_json escapes newlines inside strings, so the data is one line.
    let json = serde_json::to_string(&view).ok()?;
    Some(Bytes::from(format!(
        "event: activity\nid: {}\ndata: {json}\n\n",
        item.sequence
    )))
}

/// What a stream silent for one to two [`KEEP_ALIVE`] periods sends: an SSE comment.
const KEEP_ALIVE_FRAME: &[u8] = b": keep-alive\n\n";

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    scope: Option<String>,
    id: Option<Uuid>,
    since: Option<i64>,
    /// The feed's filters (who, types, from, to), as the feed page applies them.
    #[serde(flatten)]
    filter: FeedFilter,
}

fn refuse(err: AppError) -> Response {
    let status = err.status();
    if status.is_server_error() {
        // Streams stand outside the trace layer, which would otherwise have logged it.
        tracing::error!(error = ?err, %status, "could not open a live stream");
    }
    (status, Json(err)).into_response()
}

fn scope_of(q: &StreamQuery) -> Result<FeedScope, AppError> {
    let need_id = |what: &str| {
        q.id.ok_or_else(|| AppError::invalid("id", format!("a {what} stream needs ?id=")))
    };
    Ok(match q.scope.as_deref().unwrap_or("account") {
        "account" => FeedScope::Account,
        "project" => FeedScope::Project(need_id("project")?),
        "board" => FeedScope::Board(need_id("board")?),
        "card" => FeedScope::Card(need_id("card")?),
        other => {
            return Err(AppError::invalid(
                "scope",
                format!("{other:?} is not a scope: account, project, board or card"),
            ))
        }
    })
}

/// The member a session token signs in, acting in team `slug`.
async fn current(store: &Store, token: &str, slug: &str) -> Result<Current, AppError> {
    let me = sessions::authenticate(store, token)
        .await?
        .ok_or_else(AppError::unauthenticated)?;
    Ok(members::membership(store, slug, &me.user).await?)
}

pub async fn events(
    State(state): State<AppState>,
    Path(account): Path<String>,
    Query(query): Query<StreamQuery>,
    take_over: Option<Extension<TakeOver>>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let store = state.store.clone();
    let scope = match scope_of(&query) {
        Ok(s) => s,
        Err(e) => return refuse(e),
    };
    let Some(token) = chronicle_app::api::session_token(&headers) else {
        return refuse(AppError::unauthenticated());
    };
    let current = match current(&store, &token, &account).await {
        Ok(c) => c,
        Err(e) => return refuse(e),
    };
    if let Err(e) = chronicle::activity::check_scope(&store, &current, scope).await {
        return refuse(e.into());
    }
    let mut template = FeedQuery::new(scope);
    if let Err(e) = query.filter.apply(&mut template, current.user.id.0) {
        return refuse(e);
    }
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().parse::<i64>());
    // Subscribe before the first read, so a commit between the two is not missed.
    let since_read = state.hub.subscribe();
    let cursor = match (last_event_id, query.since) {
        (Some(Ok(id)), _) => id,
        (Some(Err(_)), _) => {
            return refuse(AppError::invalid("Last-Event-ID", "not a sequence number"))
        }
        (None, Some(since)) => since,
        (None, None) => match latest_sequence(&store, current.account_id()).await {
            Ok(s) => s,
            Err(e) => return refuse(e.into()),
        },
    };
    if cursor < 0 {
        return refuse(AppError::invalid("since", "a sequence number is 0 or more"));
    }
    let Some(Extension(take_over)) = take_over else {
        // Only connections accepted by `socket::Listener` (every one `serve` accepts)
        // can carry a stream.
        tracing::error!("a live stream was asked on a connection it cannot take over");
        return refuse(AppError::Internal);
    };
    let mut position = Position {
        store,
        account: current.account_id(),
        slug: current.account.slug.clone(),
        template,
        cursor,
        token,
    };
    let mut out = Queue::from([(0, Bytes::from_static(RESPONSE_HEAD))]);
    // The first page now, so a failing read is an error status, not an empty stream.
    let Ok(more) = position.read_page(&mut out).await else {
        return refuse(AppError::Internal);
    };
    if method == Method::HEAD {
        // The head a stream would get, without the stream.
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/event-stream")],
        )
            .into_response();
    }
    // Nothing may be awaited from here on (see `TakeOver::take`).
    let Some(socket) = take_over.take() else {
        return refuse(AppError::invalid(
            "connection",
            "this connection already carries a stream",
        ));
    };
    // A fixed send buffer instead of the kernel's autotuned one (up to megabytes per
    // socket): it bounds what thousands of streams hold in the kernel, and a client that
    // stops reading meets the backlog limit soon after.
    if let Err(e) = socket2::SockRef::from(&*socket).set_send_buffer_size(SEND_BUFFER) {
        tracing::debug!(error = %e, "could not set a live stream's send buffer");
    }
    state.hub.admit(
        writer::Sink::new(
            socket,
            position,
            out,
            more,
            since_read,
            state.hub.writers.open.clone(),
        ),
        writer::Settings {
            keep_alive: state.stream_keep_alive,
            recheck: state.stream_recheck,
            backlog_limit: state.stream_backlog_limit,
        },
    );
    // hyper writes this nowhere: the stream has the socket now. `Connection: close` has
    // it end the connection at once (it would otherwise wait to read a next request,
    // and nothing wakes it: its socket is no longer its own).
    (StatusCode::OK, [(header::CONNECTION, "close")]).into_response()
}

/// The stream's response head. Its body is the stream and ends when the connection
/// closes (no length, no chunked encoding: each frame goes out as it is).
const RESPONSE_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\n\
content-type: text/event-stream\r\n\
cache-control: no-cache\r\n\
x-accel-buffering: no\r\n\
connection: close\r\n\r\n";

/// What a stream has yet to send, oldest first: each frame with the sequence of its item
/// (0 for the response head and keep-alive comments, which carry none).
type Queue = VecDeque<(i64, Bytes)>;

/// What a batch meant to one stream.
enum Applied {
    /// Its frames (if any match) are queued; the stream's cursor is past the batch.
    Done,
    /// Only the database can tell: a hole lies before the batch (the stream or the hub
    /// fell behind), or the stream's filters need more than the item to decide.
    NeedsRead,
}

/// One stream's place in its team's log: what it shows, and how far it has got.
pub(crate) struct Position {
    store: Store,
    account: AccountId,
    slug: String,
    /// Scope and filters.
    template: FeedQuery,
    /// Everything up to here has been queued or does not belong in this stream.
    cursor: i64,
    /// The session the stream was opened with: signed out, or no longer a member, and
    /// the stream ends at the next check.
    token: String,
}

impl Position {
    /// Queues the frames of `batch` this stream shows.
    fn apply(&mut self, batch: &Batch, out: &mut Queue) -> Applied {
        if batch.account != self.account || batch.to <= self.cursor {
            return Applied::Done;
        }
        let decidable = batch.from <= self.cursor
            && batch
                .items
                .first()
                .is_none_or(|i| self.template.matches(&i.item).is_some());
        if !decidable {
            return Applied::NeedsRead;
        }
        for shared in &batch.items {
            if shared.item.sequence > self.cursor
                && self.template.matches(&shared.item) == Some(true)
            {
                out.push_back((shared.item.sequence, shared.frame.clone()));
            }
        }
        self.cursor = batch.to;
        Applied::Done
    }

    /// Queues the next page of matching items after the cursor, oldest first, from the
    /// database; `Ok(true)` when more remain.
    async fn read_page(&mut self, out: &mut Queue) -> Result<bool, ()> {
        let mut query = self.template.clone();
        query.after = Some(self.cursor);
        query.oldest_first = true;
        query.limit = PAGE;
        let items = feed(&self.store, self.account, &query).await.map_err(|e| {
            tracing::warn!(error = %e, "event stream read failed; ending the stream");
        })?;
        let more = items.len() as u32 == PAGE;
        for item in items {
            out.push_back((item.sequence, frame(&item, &self.slug).ok_or(())?));
            self.cursor = item.sequence;
        }
        Ok(more)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chronicle::activity::CommitActivity;

    fn item(sequence: i64) -> ActivityItem {
        ActivityItem {
            sequence,
            event_id: Uuid::now_v7(),
            event_type: "card.moved".into(),
            actor_id: None,
            actor_name: "Ana".into(),
            description: format!("Ana moved card {sequence}"),
            icon: "arrow-right".into(),
            subject_kind: "card".into(),
            subject_id: Uuid::now_v7(),
            scope: Default::default(),
            batch_id: None,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    /// A commit of (`after`, `last`] whose activity items have `sequences`; `None`: not
    /// carried.
    fn notice(after: i64, last: i64, sequences: Option<&[i64]>) -> Committed {
        Committed {
            account: AccountId(Uuid::nil()),
            last_sequence: last,
            activity: sequences.map(|s| {
                Arc::new(CommitActivity {
                    after,
                    items: s.iter().copied().map(item).collect(),
                })
            }),
        }
    }

    fn sequences(items: Option<Vec<ActivityItem>>) -> Option<Vec<i64>> {
        items.map(|items| items.iter().map(|i| i.sequence).collect())
    }

    #[test]
    fn the_hub_uses_carried_activity_only_when_it_covers_every_commit_since_its_position() {
        // Two commits following on (one with a non-feed event at 12), one heard twice.
        let run = [
            notice(10, 12, Some(&[11])),
            notice(10, 12, Some(&[11])),
            notice(12, 14, Some(&[13, 14])),
        ];
        assert_eq!(sequences(carried(10, &run)), Some(vec![11, 13, 14]));
        // Already past the first: only what is new.
        assert_eq!(sequences(carried(12, &run)), Some(vec![13, 14]));
        // A commit in between that this node did not hear: read.
        assert_eq!(sequences(carried(9, &run)), None);
        // One commit that came without its items (too large, or from an old node): read.
        let mixed = [notice(10, 12, Some(&[11])), notice(12, 40, None)];
        assert_eq!(sequences(carried(10, &mixed)), None);
        // Nothing new at all.
        assert_eq!(sequences(carried(14, &run)), Some(vec![]));
    }
}
