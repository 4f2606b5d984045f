//! Projects, boards and columns: the team page's project list and the board page.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::accounts::TeamView;
use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardSummary {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectView {
    pub id: Uuid,
    pub name: String,
    pub archived: bool,
    pub archive_reason: Option<String>,
    pub boards: Vec<BoardSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectsData {
    pub team: TeamView,
    pub projects: Vec<ProjectView>,
}

/// A card as the board shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardView {
    pub id: Uuid,
    pub title: String,
    pub status: String,
    pub assignee_name: Option<String>,
    pub due_date: Option<String>,
    /// People's comments on it.
    pub comments: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnView {
    pub id: Uuid,
    pub name: String,
    pub cards: Vec<CardView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardData {
    pub team: TeamView,
    pub project: BoardSummary,
    pub board: BoardSummary,
    pub columns: Vec<ColumnView>,
    /// The board's archived cards, most recently archived first.
    pub archived: Vec<ArchivedCardView>,
    /// The server's date (UTC, YYYY-MM-DD) when the board was read: what "overdue"
    /// is measured against, the same on the server's render and in the browser.
    pub today: String,
}

/// An archived card, listed on its board so it can be found and restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedCardView {
    pub id: Uuid,
    pub title: String,
    /// The column it goes back to when restored.
    pub column: String,
}

#[server(endpoint = "projects")]
pub async fn projects(account: String) -> Result<ProjectsData, AppError> {
    use super::ssr;
    let store = ssr::store()?;
    let current = ssr::current(&account).await?;
    let list = chronicle::projects::list_projects(&store, &current).await?;
    let mut projects = Vec::with_capacity(list.len());
    for p in list {
        let boards = chronicle::boards::list_boards(&store, &current, p.id).await?;
        projects.push(ProjectView {
            id: p.id,
            name: p.name,
            archived: p.archived_at.is_some(),
            archive_reason: p.archive_reason,
            boards: boards
                .into_iter()
                .map(|b| BoardSummary {
                    id: b.id,
                    name: b.name,
                })
                .collect(),
        });
    }
    Ok(ProjectsData {
        team: TeamView::new(current.account, current.role),
        projects,
    })
}

#[server(endpoint = "create_project")]
pub async fn create_project(account: String, name: String) -> Result<(), AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    chronicle::projects::create_project(&ssr::store()?, &current, &name).await?;
    Ok(())
}

#[server(endpoint = "rename_project")]
pub async fn rename_project(
    account: String,
    project_id: Uuid,
    name: String,
) -> Result<(), AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    chronicle::projects::rename_project(&ssr::store()?, &current, project_id, &name).await?;
    Ok(())
}

#[server(endpoint = "archive_project")]
pub async fn archive_project(
    account: String,
    project_id: Uuid,
    reason: String,
) -> Result<(), AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    chronicle::projects::archive_project(&ssr::store()?, &current, project_id, &reason).await?;
    Ok(())
}

/// Creates a board (with To do / Doing / Done) and opens it.
#[server(endpoint = "create_board")]
pub async fn create_board(account: String, project_id: Uuid, name: String) -> Result<(), AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    let board =
        chronicle::boards::create_board(&ssr::store()?, &current, project_id, &name).await?;
    leptos_axum::redirect(&format!("/{}/boards/{}", current.account.slug, board.id));
    Ok(())
}

#[server(endpoint = "board")]
pub async fn board(account: String, board_id: Uuid) -> Result<BoardData, AppError> {
    use super::ssr;
    use std::collections::HashMap;
    let store = ssr::store()?;
    let current = ssr::current(&account).await?;
    let view = chronicle::boards::board_view(&store, &current, board_id).await?;
    let names: HashMap<Uuid, String> = chronicle::accounts::members::list_members(&store, &current)
        .await?
        .into_iter()
        .map(|m| (m.user_id.0, m.name))
        .collect();
    let column_names: HashMap<Uuid, String> = view
        .columns
        .iter()
        .map(|(c, _)| (c.id, c.name.clone()))
        .collect();
    let comments = chronicle::comments::counts_on_board(&store, &current, view.board.id).await?;
    let archived = chronicle::cards::archived_cards(&store, &current, view.board.id)
        .await?
        .into_iter()
        .map(|c| ArchivedCardView {
            column: column_names.get(&c.column_id).cloned().unwrap_or_default(),
            id: c.id,
            title: c.title,
        })
        .collect();
    Ok(BoardData {
        team: TeamView::new(current.account, current.role),
        project: BoardSummary {
            id: view.project.id,
            name: view.project.name,
        },
        board: BoardSummary {
            id: view.board.id,
            name: view.board.name,
        },
        columns: view
            .columns
            .into_iter()
            .map(|(col, cards)| ColumnView {
                id: col.id,
                name: col.name,
                cards: cards
                    .into_iter()
                    .map(|c| CardView {
                        assignee_name: c.assignee_id.and_then(|a| names.get(&a).cloned()),
                        id: c.id,
                        title: c.title,
                        comments: comments.get(&c.id).copied().unwrap_or(0),
                        status: c.status,
                        due_date: c.due_date,
                    })
                    .collect(),
            })
            .collect(),
        archived,
        today: today_utc(),
    })
}

#[cfg(feature = "ssr")]
fn today_utc() -> String {
    let d = time::OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[server(endpoint = "rename_board")]
pub async fn rename_board(account: String, board_id: Uuid, name: String) -> Result<(), AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    chronicle::boards::rename_board(&ssr::store()?, &current, board_id, &name).await?;
    Ok(())
}

#[server(endpoint = "add_column")]
pub async fn add_column(account: String, board_id: Uuid, name: String) -> Result<(), AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    chronicle::boards::add_column(&ssr::store()?, &current, board_id, &name).await?;
    Ok(())
}

#[server(endpoint = "rename_column")]
pub async fn rename_column(account: String, column_id: Uuid, name: String) -> Result<(), AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    chronicle::boards::rename_column(&ssr::store()?, &current, column_id, &name).await?;
    Ok(())
}

#[server(endpoint = "move_column")]
pub async fn move_column(account: String, column_id: Uuid, position: i32) -> Result<(), AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    chronicle::boards::move_column(&ssr::store()?, &current, column_id, position).await?;
    Ok(())
}

#[server(endpoint = "delete_column")]
pub async fn delete_column(account: String, column_id: Uuid) -> Result<(), AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    chronicle::boards::delete_column(&ssr::store()?, &current, column_id).await?;
    Ok(())
}

#[server(endpoint = "archive_column_cards")]
pub async fn archive_column_cards(account: String, column_id: Uuid) -> Result<usize, AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    Ok(chronicle::cards::archive_column_cards(&ssr::store()?, &current, column_id).await?)
}
