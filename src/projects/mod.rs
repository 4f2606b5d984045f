//! Projects: a team's containers for boards. Created, renamed and archived (with a
//! required reason), each change recorded as its event in the same transaction.

use uuid::Uuid;

use crate::accounts::Current;
use crate::error::{Error, Result};
use crate::events::catalog::{ProjectArchived, ProjectCreated, ProjectRef, ProjectUpdated};
use crate::events::FieldChange;
use crate::queue::now_micros;
use crate::store::{on_account, on_tx, Store, Tx};

/// Longest project name.
pub const MAX_PROJECT_NAME_CHARS: usize = 80;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct Project {
    pub id: Uuid,
    pub name: String,
    pub archived_at: Option<i64>,
    pub archive_reason: Option<String>,
    pub created_at: i64,
}

impl Project {
    pub fn as_ref(&self) -> ProjectRef {
        ProjectRef {
            id: self.id,
            name: self.name.clone(),
        }
    }
}

const COLUMNS: &str = "id, name, archived_at, archive_reason, created_at";

pub async fn create_project(store: &Store, current: &Current, name: &str) -> Result<Project> {
    let name = crate::validate::single_line("name", name, MAX_PROJECT_NAME_CHARS)?;
    let account = current.account_id();
    let project = Project {
        id: Uuid::now_v7(),
        name,
        archived_at: None,
        archive_reason: None,
        created_at: now_micros(),
    };
    let mut tx = store.begin_for(account).await?;
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO projects (account_id, id, name, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(account)
    .bind(project.id)
    .bind(&project.name)
    .bind(current.user.id)
    .bind(project.created_at)
    .execute(c)
    .await?
    .rows_affected());
    let event = ProjectCreated {
        project: project.as_ref(),
    };
    current.record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(project)
}

/// The team's projects: active ones first, by name.
pub async fn list_projects(store: &Store, current: &Current) -> Result<Vec<Project>> {
    let account = current.account_id();
    let sql = format!(
        "SELECT {COLUMNS} FROM projects WHERE account_id = $1 \
         ORDER BY archived_at IS NOT NULL, name, id"
    );
    Ok(on_account!(store, account, |c| sqlx::query_as(&sql)
        .bind(account)
        .fetch_all(c)
        .await?))
}

pub async fn get_project(store: &Store, current: &Current, id: Uuid) -> Result<Project> {
    let account = current.account_id();
    let sql = format!("SELECT {COLUMNS} FROM projects WHERE account_id = $1 AND id = $2");
    let p: Option<Project> = on_account!(store, account, |c| sqlx::query_as(&sql)
        .bind(account)
        .bind(id)
        .fetch_optional(c)
        .await?);
    p.ok_or(Error::NotFound("project"))
}

pub(crate) async fn lock_project(
    tx: &mut Tx,
    account: crate::accounts::AccountId,
    id: Uuid,
) -> Result<Project> {
    let sql = format!("SELECT {COLUMNS} FROM projects WHERE account_id = $1 AND id = $2");
    let p: Option<Project> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(account)
        .bind(id)
        .fetch_optional(c)
        .await?);
    p.ok_or(Error::NotFound("project"))
}

pub async fn rename_project(
    store: &Store,
    current: &Current,
    id: Uuid,
    name: &str,
) -> Result<Project> {
    let name = crate::validate::single_line("name", name, MAX_PROJECT_NAME_CHARS)?;
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    let old = lock_project(&mut tx, account, id).await?;
    if old.name == name {
        return Ok(old);
    }
    on_tx!(tx, |c| sqlx::query(
        "UPDATE projects SET name = $1 WHERE account_id = $2 AND id = $3"
    )
    .bind(&name)
    .bind(account)
    .bind(id)
    .execute(c)
    .await?
    .rows_affected());
    let project = Project {
        name,
        ..old.clone()
    };
    let event = ProjectUpdated {
        project: project.as_ref(),
        changes: vec![FieldChange {
            field: "name".into(),
            old: old.name.into(),
            new: project.name.clone().into(),
        }],
    };
    current.record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(project)
}

/// Archives a project; the reason is required (at most 500 characters).
pub async fn archive_project(
    store: &Store,
    current: &Current,
    id: Uuid,
    reason: &str,
) -> Result<Project> {
    let reason = reason.trim().to_owned();
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    let old = lock_project(&mut tx, account, id).await?;
    if old.archived_at.is_some() {
        return Err(Error::Conflict(format!("{} is already archived", old.name)));
    }
    let event = ProjectArchived {
        project: old.as_ref(),
        reason: reason.clone(),
    };
    // Validated by record() too; checked first so nothing is written for a bad reason.
    crate::events::DomainEvent::validate(&event)?;
    let now = now_micros();
    on_tx!(tx, |c| {
        sqlx::query(
        "UPDATE projects SET archived_at = $1, archive_reason = $2 WHERE account_id = $3 AND id = $4"
    )
    .bind(now)
    .bind(&reason)
    .bind(account)
    .bind(id)
    .execute(c)
    .await?
    .rows_affected()
    });
    current.record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(Project {
        archived_at: Some(now),
        archive_reason: Some(reason),
        ..old
    })
}
