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

/// Newest first, older than `before` when given ("load older").
#[server(endpoint = "activity")]
pub async fn activity(
    account: String,
    scope: String,
    id: Option<Uuid>,
    before: Option<i64>,
) -> Result<Vec<ActivityView>, AppError> {
    use super::ssr;
    use chronicle::activity::{feed, FeedQuery, FeedScope};
    let store = ssr::store()?;
    let current = ssr::current(&account).await?;
    let scope = match FeedScopeView::parse(&scope, id)? {
        FeedScopeView::Account => FeedScope::Account,
        FeedScopeView::Project(id) => FeedScope::Project(id),
        FeedScopeView::Board(id) => FeedScope::Board(id),
        FeedScopeView::Card(id) => FeedScope::Card(id),
    };
    chronicle::activity::check_scope(&store, &current, scope).await?;
    let mut query = FeedQuery::new(scope);
    query.before = before;
    query.limit = 30;
    let items = feed(&store, current.account_id(), &query).await?;
    let slug = current.account.slug.clone();
    Ok(items
        .into_iter()
        .map(|i| ActivityView::from_item(i, &slug))
        .collect())
}
