//! The live timeline: `GET /<account>/events?scope=account|project|board|card&id=…`, a
//! server-sent event stream of activity items, authorized like the page it feeds.
//!
//! Each message is `event: activity`, `id: <sequence>`, `data: <ActivityView JSON>`. On
//! connect the stream replays every item after `Last-Event-ID` (the browser's own
//! reconnect) or `?since=` (a client that reconnects by itself), then follows commits
//! live. It subscribes to commits *before* replaying and always reads from the database
//! after its cursor, so nothing falls in between and nothing is sent twice. Commits made
//! on other nodes arrive through PostgreSQL `LISTEN` (see `Store::relay_cluster_commits`).
//! Keep-alive comments every 15 s; the stream ends when the server shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chronicle::accounts::{members, Current};
use chronicle::activity::{feed, latest_sequence, FeedQuery, FeedScope};
use chronicle::identity::sessions;
use chronicle::Store;
use chronicle_app::api::activity::{ActivityView, FeedFilter};
use chronicle_app::error::AppError;
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc, watch};
use uuid::Uuid;

use crate::AppState;

/// Items read per query while catching up.
const PAGE: u32 = 200;
/// How often an idle stream sends a comment so proxies keep it open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

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
    (err.status(), Json(err)).into_response()
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

/// The member a request's cookie signs in, acting in team `slug`.
async fn current(store: &Store, headers: &HeaderMap, slug: &str) -> Result<Current, AppError> {
    let token = chronicle_app::api::session_token(headers).ok_or_else(AppError::unauthenticated)?;
    let me = sessions::authenticate(store, &token)
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
    let current = match current(&store, &headers, &account).await {
        Ok(c) => c,
        Err(e) => return refuse(e),
    };
    if let Err(e) = chronicle::activity::check_scope(&store, &current, scope).await {
        return refuse(e.into());
    }
    // Checked once here, applied to every read below.
    let mut template = FeedQuery::new(scope);
    if let Err(e) = query.filter.apply(&mut template, current.user.id.0) {
        return refuse(e);
    }
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().parse::<i64>());
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

    // Subscribe before the first read, so a commit between the two is not missed.
    let commits = store.subscribe();
    let (tx, rx) = mpsc::channel::<Event>(64);
    let stop = state.stop_streams.subscribe();
    let follow = Follow {
        store,
        current,
        template,
        cursor,
    };
    tokio::spawn(follow.run(commits, tx, stop));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    let mut res = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response();
    // Tell proxies such as nginx not to buffer the stream.
    res.headers_mut()
        .insert("x-accel-buffering", "no".parse().expect("static header"));
    *res.status_mut() = StatusCode::OK;
    res
}

/// One subscriber's position in its team's log.
struct Follow {
    store: Store,
    current: Current,
    /// Scope and filters of every read.
    template: FeedQuery,
    cursor: i64,
}

impl Follow {
    async fn run(
        mut self,
        mut commits: broadcast::Receiver<chronicle::store::Committed>,
        tx: mpsc::Sender<Event>,
        mut stop: watch::Receiver<bool>,
    ) {
        let account = self.current.account_id();
        if self.catch_up(&tx).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tx.closed() => return,
                msg = commits.recv() => match msg {
                    Ok(c) if c.account == account && c.last_sequence > self.cursor => {
                        if self.catch_up(&tx).await.is_err() {
                            return;
                        }
                        // Commits whose events this scope does not show move it on too.
                        self.cursor = self.cursor.max(c.last_sequence);
                    }
                    Ok(_) => {}
                    // Missed announcements cost nothing: the read starts at the cursor.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if self.catch_up(&tx).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }

    /// Sends every item after the cursor, oldest first; `Err` when the client is gone.
    async fn catch_up(&mut self, tx: &mpsc::Sender<Event>) -> Result<(), ()> {
        loop {
            let mut query = self.template.clone();
            query.after = Some(self.cursor);
            query.oldest_first = true;
            query.limit = PAGE;
            let items = match feed(&self.store, self.current.account_id(), &query).await {
                Ok(items) => items,
                Err(e) => {
                    tracing::warn!(error = %e, "event stream read failed; ending the stream");
                    return Err(());
                }
            };
            let full = items.len() as u32 == PAGE;
            for item in items {
                let sequence = item.sequence;
                let view = ActivityView::from_item(item, &self.current.account.slug);
                let event = Event::default()
                    .event("activity")
                    .id(sequence.to_string())
                    .json_data(&view)
                    .map_err(|_| ())?;
                tx.send(event).await.map_err(|_| ())?;
                self.cursor = sequence;
            }
            if !full {
                return Ok(());
            }
        }
    }
}
