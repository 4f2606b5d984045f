//! The activity timeline: feed pages (server-rendered, newest first, keyset "load
//! older") and the items the live stream pushes (same view type).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::AppError;

/// One timeline item, as pages and the live stream show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityView {
    pub sequence: i64,
    pub event_type: String,
    pub actor_id: Option<Uuid>,
    pub actor_name: String,
    /// "Bob moved Fix login from To do to Doing".
    pub description: String,
    pub icon: String,
    pub board_id: Option<Uuid>,
    pub card_id: Option<Uuid>,
    /// Where the item's subject lives, if it has a page.
    pub href: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// The same moment in milliseconds since the epoch, for relative times.
    pub created_ms: i64,
}

/// A page of a feed, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedPage {
    pub items: Vec<ActivityView>,
    /// Older items exist ("load older").
    pub more: bool,
    /// The team's newest sequence when the page was read: where the live stream starts.
    pub head: i64,
    /// When the page was rendered (ms since the epoch), so relative times render the
    /// same on the server and in the browser until the browser's clock takes over.
    pub rendered_ms: i64,
}

/// The feed filters people choose: who (all, mine, my items, team), event types and a
/// date range. Also the query string of the live stream, which applies the same ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeedFilter {
    /// `all`, `mine` (what I did), `my_items` (cards I follow) or `team` (what the
    /// others did). Empty means all.
    pub who: String,
    /// Event types, comma-separated (`card.moved,card.created`); empty means all.
    pub types: String,
    /// First day shown, `YYYY-MM-DD`, or empty.
    pub from: String,
    /// Last day shown, `YYYY-MM-DD`, or empty.
    pub to: String,
}

impl FeedFilter {
    /// `&who=…&types=…` for the non-empty filters (percent-encoded).
    pub fn query(&self) -> String {
        let mut q = String::new();
        for (k, v) in [
            ("who", &self.who),
            ("types", &self.types),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !v.is_empty() {
                q.push_str(&format!("&{k}={}", super::auth::query_encode(v)));
            }
        }
        q
    }
}

#[cfg(feature = "ssr")]
impl FeedFilter {
    /// Sets the filters on `query` for member `me`; bad values are a clear 422.
    pub fn apply(
        &self,
        query: &mut chronicle::activity::FeedQuery,
        me: Uuid,
    ) -> Result<(), AppError> {
        match self.who.as_str() {
            "" | "all" => {}
            "mine" => query.creator = Some(me),
            "team" => query.exclude_creator = Some(me),
            "my_items" => query.followed_by = Some(me),
            other => {
                return Err(AppError::invalid(
                    "who",
                    format!("{other:?} is not a filter: all, mine, my_items or team"),
                ))
            }
        }
        query.types = self
            .types
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(bad) = query
            .types
            .iter()
            .find(|t| !chronicle::events::is_known_type(t))
        {
            return Err(AppError::invalid(
                "types",
                format!("{bad:?} is not an event type"),
            ));
        }
        let day = |field: &str, raw: &str| -> Result<Option<time::OffsetDateTime>, AppError> {
            if raw.trim().is_empty() {
                return Ok(None);
            }
            let format = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(raw.trim(), format)
                .map(|d| Some(d.midnight().assume_utc()))
                .map_err(|_| AppError::invalid(field, "a date looks like 2026-12-31"))
        };
        query.since = day("from", &self.from)?;
        // "to" is inclusive: everything before the next midnight.
        query.until = day("to", &self.to)?.map(|t| t + time::Duration::days(1));
        Ok(())
    }
}

#[cfg(feature = "ssr")]
impl ActivityView {
    pub fn from_item(item: chronicle::activity::ActivityItem, slug: &str) -> Self {
        let href = match (item.scope.card, item.scope.board) {
            (Some(card), _) if item.event_type != "card.deleted" => {
                Some(format!("/{slug}/cards/{card}"))
            }
            (_, Some(board)) if item.event_type != "board.deleted" => {
                Some(format!("/{slug}/boards/{board}"))
            }
            _ => None,
        };
        ActivityView {
            sequence: item.sequence,
            event_type: item.event_type,
            actor_id: item.actor_id,
            actor_name: item.actor_name,
            description: item.description,
            icon: item.icon,
            board_id: item.scope.board,
            card_id: item.scope.card,
            href,
            created_ms: (item.created_at.unix_timestamp_nanos() / 1_000_000) as i64,
            created_at: item
                .created_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        }
    }
}

/// Which part of a team's activity a feed shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", content = "id", rename_all = "snake_case")]
pub enum FeedScopeView {
    Account,
    Project(Uuid),
    Board(Uuid),
    Card(Uuid),
}

impl FeedScopeView {
    /// `(scope, id)` as the feed function and the event stream take them.
    pub fn parts(&self) -> (&'static str, Option<Uuid>) {
        match *self {
            FeedScopeView::Account => ("account", None),
            FeedScopeView::Project(id) => ("project", Some(id)),
            FeedScopeView::Board(id) => ("board", Some(id)),
            FeedScopeView::Card(id) => ("card", Some(id)),
        }
    }

    /// The query string the event stream takes for this scope.
    pub fn query(&self) -> String {
        match self.parts() {
            (scope, Some(id)) => format!("scope={scope}&id={id}"),
            (scope, None) => format!("scope={scope}"),
        }
    }

    pub fn parse(scope: &str, id: Option<Uuid>) -> Result<Self, AppError> {
        let need =
            || id.ok_or_else(|| AppError::invalid("id", format!("a {scope} feed needs an id")));
        Ok(match scope {
            "account" => FeedScopeView::Account,
            "project" => FeedScopeView::Project(need()?),
            "board" => FeedScopeView::Board(need()?),
            "card" => FeedScopeView::Card(need()?),
            other => {
                return Err(AppError::invalid(
                    "scope",
                    format!("{other:?} is not a scope"),
                ))
            }
        })
    }
}

/// Newest first, older than `before` when given ("load older"), with filters.
#[allow(clippy::too_many_arguments)]
#[server(endpoint = "activity")]
pub async fn activity(
    account: String,
    scope: String,
    id: Option<Uuid>,
    before: Option<i64>,
    filter: Option<FeedFilter>,
) -> Result<FeedPage, AppError> {
    use super::ssr;
    use chronicle::activity::{feed, latest_sequence, FeedQuery, FeedScope};
    const PAGE: u32 = 30;
    let store = ssr::store()?;
    let current = ssr::current(&account).await?;
    let scope = match FeedScopeView::parse(&scope, id)? {
        FeedScopeView::Account => FeedScope::Account,
        FeedScopeView::Project(id) => FeedScope::Project(id),
        FeedScopeView::Board(id) => FeedScope::Board(id),
        FeedScopeView::Card(id) => FeedScope::Card(id),
    };
    chronicle::activity::check_scope(&store, &current, scope).await?;
    let head = latest_sequence(&store, current.account_id()).await?;
    let mut query = FeedQuery::new(scope);
    filter
        .unwrap_or_default()
        .apply(&mut query, current.user.id.0)?;
    query.before = before;
    // One more than a page tells whether older items exist.
    query.limit = PAGE + 1;
    let mut items = feed(&store, current.account_id(), &query).await?;
    let more = items.len() > PAGE as usize;
    items.truncate(PAGE as usize);
    let slug = current.account.slug.clone();
    Ok(FeedPage {
        items: items
            .into_iter()
            .map(|i| ActivityView::from_item(i, &slug))
            .collect(),
        more,
        head,
        rendered_ms: (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64,
    })
}
