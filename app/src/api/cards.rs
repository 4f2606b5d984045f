//! Cards, their thread and their subscribers: the board's card actions and the card page.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::boards::BoardSummary;
use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadEntry {
    pub id: Uuid,
    pub author_id: Option<Uuid>,
    pub author_name: String,
    pub body: String,
    /// Posted by Chronicle about a change, not written by a person.
    pub system: bool,
    /// RFC 3339.
    pub created_at: String,
    /// The same, in milliseconds since the Unix epoch.
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonView {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardData {
    pub id: Uuid,
    pub version: i32,
    pub title: String,
    pub description: String,
    pub status: String,
    pub assignee_id: Option<Uuid>,
    pub due_date: Option<String>,
    pub archived: bool,
    pub board: BoardSummary,
    pub column: BoardSummary,
    pub columns: Vec<BoardSummary>,
    pub members: Vec<PersonView>,
    pub subscribers: Vec<PersonView>,
    pub subscribed: bool,
    pub me: Uuid,
    pub can_moderate: bool,
    pub thread: Vec<ThreadEntry>,
    /// When the server read this, in milliseconds since the Unix epoch (the thread's
    /// relative times are counted from it, the same on the server and in the browser).
    pub rendered_ms: i64,
}

#[server(endpoint = "card")]
pub async fn card(account: String, card_id: Uuid) -> Result<CardData, AppError> {
    use super::ssr;
    let store = ssr::store()?;
    let current = ssr::current(&account).await?;
    let detail = chronicle::cards::card_detail(&store, &current, card_id).await?;
    let members = chronicle::accounts::members::list_members(&store, &current).await?;
    let thread =
        chronicle::inbox::card_thread_messages(&store, current.account_id(), card_id).await?;
    let me = current.user.id.0;
    Ok(CardData {
        id: detail.card.id,
        version: detail.card.version,
        title: detail.card.title,
        description: detail.card.description,
        status: detail.card.status,
        assignee_id: detail.card.assignee_id,
        due_date: detail.card.due_date,
        archived: detail.card.archived_at.is_some(),
        board: BoardSummary {
            id: detail.board.id,
            name: detail.board.name,
        },
        column: BoardSummary {
            id: detail.column.id,
            name: detail.column.name,
        },
        columns: detail
            .columns
            .into_iter()
            .map(|c| BoardSummary {
                id: c.id,
                name: c.name,
            })
            .collect(),
        members: members
            .into_iter()
            .map(|m| PersonView {
                id: m.user_id.0,
                name: m.name,
            })
            .collect(),
        subscribed: detail.subscribers.iter().any(|s| s.user_id == me),
        subscribers: detail
            .subscribers
            .into_iter()
            .map(|s| PersonView {
                id: s.user_id,
                name: s.name,
            })
            .collect(),
        me,
        can_moderate: current.role.manages_members(),
        thread: thread
            .into_iter()
            .map(|m| ThreadEntry {
                id: m.id,
                author_id: m.author_id,
                author_name: m.author_name,
                body: m.body,
                system: m.system,
                created_ms: (m.created_at.unix_timestamp_nanos() / 1_000_000) as i64,
                created_at: m
                    .created_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            })
            .collect(),
        rendered_ms: (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64,
    })
}

#[server(endpoint = "create_card")]
pub async fn create_card(account: String, column_id: Uuid, title: String) -> Result<(), AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    chronicle::cards::create_card(&ssr::store()?, &current, column_id, &title).await?;
    Ok(())
}

/// Moves a card; the board reconciles its optimistic move with the server's answer.
#[server(endpoint = "move_card")]
pub async fn move_card(
    account: String,
    card_id: Uuid,
    column_id: Uuid,
    position: i32,
) -> Result<(), AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    chronicle::cards::move_card(&ssr::store()?, &current, card_id, column_id, position).await?;
    Ok(())
}

#[server(endpoint = "update_card")]
pub async fn update_card(
    account: String,
    card_id: Uuid,
    version: i32,
    title: String,
    description: String,
    assignee_id: String,
    due_date: String,
) -> Result<(), AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    let assignee_id = match assignee_id.trim() {
        "" => None,
        s => Some(Uuid::parse_str(s).map_err(|_| AppError::invalid("assignee", "not a member"))?),
    };
    let edit = chronicle::cards::CardEdit {
        title,
        description,
        assignee_id,
        due_date: Some(due_date).filter(|d| !d.trim().is_empty()),
    };
    chronicle::cards::update_card(&ssr::store()?, &current, card_id, version, &edit).await?;
    Ok(())
}

#[server(endpoint = "set_card_status")]
pub async fn set_card_status(
    account: String,
    card_id: Uuid,
    status: String,
    reason: Option<String>,
) -> Result<(), AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    chronicle::cards::set_status(
        &ssr::store()?,
        &current,
        card_id,
        &status,
        reason.as_deref(),
    )
    .await?;
    Ok(())
}

#[server(endpoint = "archive_card")]
pub async fn archive_card(account: String, card_id: Uuid) -> Result<(), AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    // Back to the board the card was on.
    let board = chronicle::cards::archive_card(&ssr::store()?, &current, card_id).await?;
    leptos_axum::redirect(&format!("/{}/boards/{board}", current.account.slug));
    Ok(())
}

#[server(endpoint = "restore_card")]
pub async fn restore_card(account: String, card_id: Uuid) -> Result<(), AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    chronicle::cards::restore_card(&ssr::store()?, &current, card_id).await?;
    Ok(())
}

#[server(endpoint = "delete_card")]
pub async fn delete_card(account: String, card_id: Uuid) -> Result<(), AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    // Back to the board the card was on.
    let board = chronicle::cards::delete_card(&ssr::store()?, &current, card_id).await?;
    leptos_axum::redirect(&format!("/{}/boards/{board}", current.account.slug));
    Ok(())
}

#[server(endpoint = "add_comment")]
pub async fn add_comment(account: String, card_id: Uuid, body: String) -> Result<(), AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    chronicle::comments::add_comment(&ssr::store()?, &current, card_id, &body).await?;
    Ok(())
}

#[server(endpoint = "edit_comment")]
pub async fn edit_comment(account: String, comment_id: Uuid, body: String) -> Result<(), AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    chronicle::comments::edit_comment(&ssr::store()?, &current, comment_id, &body).await?;
    Ok(())
}

#[server(endpoint = "delete_comment")]
pub async fn delete_comment(account: String, comment_id: Uuid) -> Result<(), AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    chronicle::comments::delete_comment(&ssr::store()?, &current, comment_id).await?;
    Ok(())
}

#[server(endpoint = "set_subscribed")]
pub async fn set_subscribed(
    account: String,
    card_id: Uuid,
    subscribed: bool,
) -> Result<(), AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    chronicle::cards::subscriptions::set_subscribed(&ssr::store()?, &current, card_id, subscribed)
        .await?;
    Ok(())
}
