//! The live timeline: `GET /<account>/events?scope=account|project|board|card&id=…`, a
//! server-sent event stream of activity items, authorized like the page it feeds.
//!
//! Each message is `event: activity`, `id: <sequence>`, `data: <ActivityView JSON>`. On
//! connect the stream replays every item after `Last-Event-ID` (the browser's own
//! reconnect) or `?since=` (a client that reconnects by itself), then follows commits
//! live. Keep-alive comments after 10–20 s of silence; streams end when the server shuts
//! down.
//!
//! Fan-out: one [`Hub`] per process reads each commit's new activity rows once, renders
//! each item's JSON once, and broadcasts the batch; every stream filters batches in
//! memory ([`FeedQuery::matches`]). A stream subscribes to the hub *before* it replays
//! from the database, and each batch says which sequences it covers (`from`, `to`], so a
//! stream that sees a hole between its cursor and a batch — it lagged, or the hub did —
//! reads the hole from the database: no gap, and no duplicate (nothing at or below the
//! cursor is sent). Commits made on other nodes reach the hub through PostgreSQL
//! `LISTEN` (see `Store::relay_cluster_commits`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chronicle::accounts::{members, AccountId, Current};
use chronicle::activity::{feed, latest_sequence, ActivityItem, FeedQuery, FeedScope};
use chronicle::identity::sessions;
use chronicle::store::Committed;
use chronicle::Store;
use chronicle_app::api::activity::{ActivityView, FeedFilter};
use chronicle_app::error::AppError;
use serde::Deserialize;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use crate::AppState;

/// Items read per query: the most one feed query returns.
const PAGE: u32 = chronicle::activity::MAX_FEED_LIMIT;
/// How often a stream looks whether it has been silent; a silent stream then sends a
/// comment so proxies keep it open. Silence therefore lasts 10–20 s at most, under the
/// 30 s idle timeout of the strictest common proxies.
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);
/// How often an open stream checks that its session and membership still hold.
pub const RECHECK: Duration = Duration::from_secs(30);
/// Batches a slow stream may fall behind before it reads from the database instead.
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

/// Reads each commit's activity once per process and shares it with every stream.
#[derive(Clone)]
pub struct Hub {
    store: Store,
    batches: broadcast::Sender<HubMessage>,
    /// Set at shutdown, before `Closing` is sent; read by streams on every pass (a
    /// plain load, no lock shared by thousands of streams).
    closing: Arc<AtomicBool>,
}

impl Hub {
    pub fn new(store: Store) -> Hub {
        Hub {
            store,
            batches: broadcast::channel(HUB_CAPACITY).0,
            closing: Arc::new(AtomicBool::new(false)),
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<HubMessage> {
        self.batches.subscribe()
    }

    /// Ends every open stream (at shutdown). Streams learn it from the channel they
    /// already wait on, so none keeps a second waiter registered per frame.
    pub fn close_streams(&self) {
        self.closing.store(true, Ordering::Release);
        let _ = self.batches.send(HubMessage::Closing);
    }

    /// Follows the store's commit announcements until `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut commits = self.store.subscribe();
        // Per team: the last sequence read, and its slug (for links in items).
        let mut read_up_to: HashMap<AccountId, i64> = HashMap::new();
        let mut slugs: HashMap<AccountId, String> = HashMap::new();
        loop {
            let first = tokio::select! {
                _ = stop.changed() => return,
                msg = commits.recv() => msg,
            };
            // Coalesce whatever else is already waiting: one read per team.
            let mut newest: HashMap<AccountId, i64> = HashMap::new();
            let mut note = |msg: Result<Committed, broadcast::error::RecvError>| match msg {
                Ok(c) => {
                    let n = newest.entry(c.account).or_insert(c.last_sequence);
                    *n = (*n).max(c.last_sequence);
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
            for (account, last) in newest {
                // Nobody listening: just remember where the team is.
                if self.batches.receiver_count() == 0 {
                    read_up_to.insert(account, last);
                    continue;
                }
                // Unknown position: start just below this commit; streams that need
                // anything older see the hole and read it themselves.
                let from = read_up_to.get(&account).copied().unwrap_or(last - 1);
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
                // Every item after `from`, page by page (a bulk change can exceed one).
                let mut items: Vec<ActivityItem> = Vec::new();
                let mut failed = false;
                loop {
                    let mut query = FeedQuery::new(FeedScope::Account);
                    query.after = Some(items.last().map_or(from, |i| i.sequence));
                    query.oldest_first = true;
                    query.limit = PAGE;
                    match feed(&self.store, account, &query).await {
                        Ok(page) => {
                            let full = page.len() as u32 == PAGE;
                            items.extend(page);
                            if !full {
                                break;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "live timeline: reading new activity failed");
                            failed = true;
                            break;
                        }
                    }
                }
                if failed {
                    read_up_to.remove(&account);
                    continue;
                }
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
    let batches = state.hub.subscribe();
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
    let mut follow = Follow {
        store,
        account: current.account_id(),
        slug: current.account.slug.clone(),
        template,
        cursor,
        queue: VecDeque::new(),
        replaying: true,
        keep_alive_every: state.stream_keep_alive,
        keep_alive_at: tokio::time::Instant::now() + state.stream_keep_alive,
        sent_since_check: false,
        token,
        recheck_every: state.stream_recheck,
        recheck_at: tokio::time::Instant::now() + state.stream_recheck,
        timer: Box::pin(tokio::time::sleep(
            state.stream_recheck.min(state.stream_keep_alive),
        )),
        batches,
        closing: state.hub.closing.clone(),
    };
    // The first page now, so a failing read is an error status, not an empty stream.
    if follow.read_page().await.is_err() {
        return refuse(AppError::Internal);
    }
    let stream = futures_util::stream::unfold(follow, |mut f| async move {
        f.next()
            .await
            .map(|e| (Ok::<_, std::convert::Infallible>(e), f))
    });
    let mut res = Response::new(Body::from_stream(stream));
    *res.status_mut() = StatusCode::OK;
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Tell proxies such as nginx not to buffer the stream.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

/// One stream's position in its team's log, and what it has yet to send.
struct Follow {
    store: Store,
    account: AccountId,
    slug: String,
    /// Scope and filters.
    template: FeedQuery,
    /// Everything up to here has been sent or does not belong in this stream.
    cursor: i64,
    queue: VecDeque<Bytes>,
    batches: broadcast::Receiver<HubMessage>,
    /// The hub's shutdown flag: its `Closing` message wakes streams at shutdown; this
    /// catches a stream that lagged past that message or opened after it.
    closing: Arc<AtomicBool>,
    /// More of the replay is in the database than in the queue (read a page at a time).
    replaying: bool,
    /// How often the stream looks whether it has been silent (a silent stream sends a
    /// keep-alive comment, so silence lasts one to two periods).
    keep_alive_every: Duration,
    /// When to look again whether the stream has been silent since the last look. It
    /// moves only when the timer fires, never per frame: re-arming thousands of streams'
    /// timers at every delivery contends on the runtime's timer wheel.
    keep_alive_at: tokio::time::Instant,
    /// Whether a frame went out since the keep-alive timer last fired. A flag, not a
    /// timestamp, so a delivery reads no clock: an idle stream's comment goes out
    /// between one and two `keep_alive_every` after its last frame.
    sent_since_check: bool,
    /// The session the stream was opened with: signed out, or no longer a member, and
    /// the stream ends at the next check.
    token: String,
    recheck_every: Duration,
    recheck_at: tokio::time::Instant,
    /// Fires at the earlier of the two deadlines above.
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl Follow {
    /// The next bytes to send; `None` ends the stream (shutdown, or a database failure).
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if self.closing.load(Ordering::Acquire) {
                return None;
            }
            if let Some(e) = self.queue.pop_front() {
                self.sent_since_check = true;
                return Some(e);
            }
            // The database paths below are rare and their futures large: they are boxed,
            // so the state every idle stream keeps between frames stays small.
            if self.replaying {
                Box::pin(self.read_page()).await.ok()?;
                continue;
            }
            // One timer per stream, moved only when its deadline changes (thousands of
            // streams re-arming fresh timers on every batch cost measurable latency).
            let due = self.keep_alive_at.min(self.recheck_at);
            if self.timer.deadline() != due {
                self.timer.as_mut().reset(due);
            }
            let msg = tokio::select! {
                _ = &mut self.timer => {
                    let now = tokio::time::Instant::now();
                    if now >= self.recheck_at {
                        if Box::pin(current(&self.store, &self.token, &self.slug))
                            .await
                            .is_err()
                        {
                            return None;
                        }
                        self.recheck_at = now + self.recheck_every;
                        continue;
                    }
                    self.keep_alive_at = now + self.keep_alive_every;
                    if std::mem::take(&mut self.sent_since_check) {
                        // Something went out meanwhile: look again a period from now.
                        continue;
                    }
                    return Some(Bytes::from_static(KEEP_ALIVE_FRAME));
                }
                msg = self.batches.recv() => msg,
            };
            match msg {
                Ok(HubMessage::Closing) => return None,
                Ok(HubMessage::Batch(batch))
                    if batch.account == self.account && batch.to > self.cursor =>
                {
                    let decidable = batch.from <= self.cursor
                        && batch
                            .items
                            .first()
                            .is_none_or(|i| self.template.matches(&i.item).is_some());
                    if decidable {
                        for shared in &batch.items {
                            if shared.item.sequence > self.cursor
                                && self.template.matches(&shared.item) == Some(true)
                            {
                                self.queue.push_back(shared.frame.clone());
                            }
                        }
                    } else {
                        // A hole before this batch, or a filter only the database knows.
                        Box::pin(self.read_all()).await.ok()?;
                    }
                    self.cursor = self.cursor.max(batch.to);
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    Box::pin(self.read_all()).await.ok()?
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Queues the next page of matching items after the cursor, oldest first, from the
    /// database, and notes whether more remain.
    async fn read_page(&mut self) -> Result<(), ()> {
        let mut query = self.template.clone();
        query.after = Some(self.cursor);
        query.oldest_first = true;
        query.limit = PAGE;
        let items = feed(&self.store, self.account, &query).await.map_err(|e| {
            tracing::warn!(error = %e, "event stream read failed; ending the stream");
        })?;
        self.replaying = items.len() as u32 == PAGE;
        for item in items {
            self.queue.push_back(frame(&item, &self.slug).ok_or(())?);
            self.cursor = item.sequence;
        }
        Ok(())
    }

    /// Reads every page after the cursor (a hole to fill before a live batch applies).
    async fn read_all(&mut self) -> Result<(), ()> {
        self.read_page().await?;
        while self.replaying {
            self.read_page().await?;
        }
        Ok(())
    }
}
