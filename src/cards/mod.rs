//! Cards: created in a column, edited field by field (`card.updated` with old → new),
//! moved between columns and within one (`card.moved`), given a status
//! (`card.status_changed`), archived (and restored) and deleted. Each column keeps its
//! active cards in a dense order 0..n-1; an archived card keeps its column, off the order.
//!
//! Concurrent edits: every edit names the version it was based on; if the card changed
//! since, the edit is refused with a conflict naming what to do (reload), so nobody
//! overwrites a change they never saw. Moves are not versioned: the last move wins, and
//! each one is recorded.

pub mod subscriptions;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::accounts::{AccountId, Current};
use crate::boards::{find_board, lock_board, lock_column, Board, Column};
use crate::error::{Error, Result};
use crate::events::catalog::{
    CardArchived, CardCreated, CardDeleted, CardMoved, CardRef, CardRestored, CardUpdated,
    StatusChanged,
};
use crate::events::{record, FieldChange, RecordOptions};
use crate::queue::now_micros;
use crate::store::{on_tx, Store, Tx};

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 20_000;

/// The statuses a card can have.
pub const STATUSES: [&str; 4] = ["open", "in_progress", "blocked", "done"];

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct Card {
    pub id: Uuid,
    pub board_id: Uuid,
    pub column_id: Uuid,
    pub position: i32,
    pub title: String,
    pub description: String,
    pub assignee_id: Option<Uuid>,
    /// YYYY-MM-DD.
    pub due_date: Option<String>,
    pub status: String,
    pub version: i32,
    pub archived_at: Option<i64>,
    pub created_by: Uuid,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Card {
    pub fn as_ref(&self, board: &Board) -> CardRef {
        CardRef {
            id: self.id,
            title: self.title.clone(),
            board_id: self.board_id,
            project_id: board.project_id,
        }
    }

    /// The tracked fields, for `card.updated` and `card.deleted`.
    fn fields(&self) -> [(&'static str, Value); 4] {
        [
            ("title", json!(self.title)),
            ("description", json!(self.description)),
            ("assignee", json!(self.assignee_id)),
            ("due_date", json!(self.due_date)),
        ]
    }
}

const CARD_COLUMNS: &str = "id, board_id, column_id, position, title, description, assignee_id, \
     due_date, status, version, archived_at, created_by, created_at, updated_at";

pub(crate) async fn lock_card(tx: &mut Tx, account: AccountId, id: Uuid) -> Result<Card> {
    let sql = format!("SELECT {CARD_COLUMNS} FROM cards WHERE account_id = $1 AND id = $2");
    let card: Option<Card> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(account)
        .bind(id)
        .fetch_optional(c)
        .await?);
    card.ok_or(Error::NotFound("card"))
}

/// A card and its board, the board locked (see `boards::lock_board`) and the card read
/// again after the lock, so it reflects every change that committed before.
pub(crate) async fn lock_card_on_board(
    tx: &mut Tx,
    account: AccountId,
    id: Uuid,
) -> Result<(Card, Board)> {
    let board_id = lock_card(tx, account, id).await?.board_id;
    let board = lock_board(tx, account, board_id).await?;
    let card = lock_card(tx, account, id).await?;
    Ok((card, board))
}

/// The active cards of a board, by column then position.
pub(crate) async fn cards_on_board(
    tx: &mut Tx,
    account: AccountId,
    board: Uuid,
) -> Result<Vec<Card>> {
    let sql = format!(
        "SELECT {CARD_COLUMNS} FROM cards WHERE account_id = $1 AND board_id = $2 \
         AND archived_at IS NULL ORDER BY column_id, position"
    );
    Ok(on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(account)
        .bind(board)
        .fetch_all(c)
        .await?))
}

async fn active_in_column(tx: &mut Tx, account: AccountId, column: Uuid) -> Result<Vec<Card>> {
    let sql = format!(
        "SELECT {CARD_COLUMNS} FROM cards WHERE account_id = $1 AND column_id = $2 \
         AND archived_at IS NULL ORDER BY position, id"
    );
    Ok(on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(account)
        .bind(column)
        .fetch_all(c)
        .await?))
}

/// How many active cards a column holds: the position a new card takes at its end.
async fn count_active_in_column(tx: &mut Tx, account: AccountId, column: Uuid) -> Result<i32> {
    let n: i64 = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM cards WHERE account_id = $1 AND column_id = $2 \
         AND archived_at IS NULL"
    )
    .bind(account)
    .bind(column)
    .fetch_one(c)
    .await?);
    Ok(i32::try_from(n).unwrap_or(i32::MAX))
}

/// Writes positions 0..n-1 for `cards` in `column`, touching only rows that change.
async fn renumber(tx: &mut Tx, account: AccountId, column: Uuid, cards: &[Card]) -> Result<()> {
    for (i, card) in cards.iter().enumerate() {
        let i = i as i32;
        if card.position != i || card.column_id != column {
            on_tx!(tx, |c| sqlx::query(
                "UPDATE cards SET position = $1, column_id = $2 WHERE account_id = $3 AND id = $4"
            )
            .bind(i)
            .bind(column)
            .bind(account)
            .bind(card.id)
            .execute(c)
            .await?
            .rows_affected());
        }
    }
    Ok(())
}

/// Adds a card at the bottom of a column; its creator is subscribed.
pub async fn create_card(
    store: &Store,
    current: &Current,
    column_id: Uuid,
    title: &str,
) -> Result<Card> {
    let title = crate::validate::single_line("title", title, MAX_TITLE_CHARS)?;
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    let column = lock_column(&mut tx, account, column_id).await?;
    let board = lock_board(&mut tx, account, column.board_id).await?;
    // (The column cannot have moved to another board: columns never change boards.)
    let position = count_active_in_column(&mut tx, account, column_id).await?;
    let now = now_micros();
    let card = Card {
        id: Uuid::now_v7(),
        board_id: board.id,
        column_id,
        position,
        title,
        description: String::new(),
        assignee_id: None,
        due_date: None,
        status: "open".into(),
        version: 1,
        archived_at: None,
        created_by: current.user.id.0,
        created_at: now,
        updated_at: now,
    };
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO cards (account_id, id, board_id, column_id, position, title, created_by, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    )
    .bind(account)
    .bind(card.id)
    .bind(card.board_id)
    .bind(column_id)
    .bind(position)
    .bind(&card.title)
    .bind(card.created_by)
    .bind(now)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected());
    subscriptions::subscribe_in(&mut tx, account, card.id, current.user.id.0).await?;
    let event = CardCreated {
        card: card.as_ref(&board),
        column: column.as_ref(),
    };
    current.record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(card)
}

/// What an edit sets (every field; unchanged ones produce no change).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CardEdit {
    pub title: String,
    pub description: String,
    pub assignee_id: Option<Uuid>,
    /// YYYY-MM-DD, or none.
    pub due_date: Option<String>,
}

fn parse_due(raw: Option<&str>) -> Result<Option<String>> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(raw, format)
        .map(|d| Some(d.format(format).unwrap_or_else(|_| raw.to_owned())))
        .map_err(|_| Error::invalid("due_date", "a due date looks like 2026-12-31"))
}

/// Edits a card's fields as of `version`; records `card.updated` with every changed
/// field (nothing when nothing changed). A new assignee is subscribed.
pub async fn update_card(
    store: &Store,
    current: &Current,
    card_id: Uuid,
    version: i32,
    edit: &CardEdit,
) -> Result<Card> {
    let title = crate::validate::single_line("title", &edit.title, MAX_TITLE_CHARS)?;
    let description = crate::validate::text(
        "description",
        &edit.description,
        MAX_DESCRIPTION_CHARS,
        false,
    )?;
    let due_date = parse_due(edit.due_date.as_deref())?;
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    let old = lock_card(&mut tx, account, card_id).await?;
    if let Some(assignee) = edit.assignee_id {
        if assignee != old.assignee_id.unwrap_or_default()
            && !crate::accounts::members::is_member(&mut tx, account, assignee).await?
        {
            return Err(Error::invalid(
                "assignee",
                "the assignee must be a member of this team",
            ));
        }
    }
    let new = Card {
        title,
        description,
        assignee_id: edit.assignee_id,
        due_date,
        ..old.clone()
    };
    let changes: Vec<FieldChange> = old
        .fields()
        .into_iter()
        .zip(new.fields())
        .filter(|((_, o), (_, n))| o != n)
        .map(|((field, o), (_, n))| FieldChange {
            field: field.into(),
            old: o,
            new: n,
        })
        .collect();
    if changes.is_empty() {
        return Ok(old);
    }
    let now = now_micros();
    let updated = on_tx!(tx, |c| sqlx::query(
        "UPDATE cards SET title = $1, description = $2, assignee_id = $3, due_date = $4, \
         version = version + 1, updated_at = $5 WHERE account_id = $6 AND id = $7 AND version = $8"
    )
    .bind(&new.title)
    .bind(&new.description)
    .bind(new.assignee_id)
    .bind(&new.due_date)
    .bind(now)
    .bind(account)
    .bind(card_id)
    .bind(version)
    .execute(c)
    .await?
    .rows_affected());
    if updated != 1 {
        return Err(Error::Conflict(
            "someone changed this card while you were editing it; reload to see their change"
                .into(),
        ));
    }
    if let Some(assignee) = new.assignee_id {
        subscriptions::subscribe_in(&mut tx, account, card_id, assignee).await?;
    }
    let board = find_board(&mut tx, account, old.board_id).await?;
    let new = Card {
        version: old.version + 1,
        updated_at: now,
        ..new
    };
    let event = CardUpdated {
        card: new.as_ref(&board),
        changes,
    };
    current.record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(new)
}

/// Changes a card's status (`card.status_changed`, with an optional reason).
pub async fn set_status(
    store: &Store,
    current: &Current,
    card_id: Uuid,
    status: &str,
    reason: Option<&str>,
) -> Result<Card> {
    if !STATUSES.contains(&status) {
        return Err(Error::invalid(
            "status",
            format!(
                "{status:?} is not a status; choose one of {}",
                STATUSES.join(", ")
            ),
        ));
    }
    let reason = reason
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    let old = lock_card(&mut tx, account, card_id).await?;
    if old.status == status {
        return Ok(old);
    }
    let board = find_board(&mut tx, account, old.board_id).await?;
    let event = StatusChanged {
        card: old.as_ref(&board),
        from: old.status.clone(),
        to: status.to_owned(),
        reason,
        automated: false,
    };
    crate::events::DomainEvent::validate(&event)?;
    let now = now_micros();
    on_tx!(tx, |c| {
        sqlx::query(
        "UPDATE cards SET status = $1, version = version + 1, updated_at = $2 WHERE account_id = $3 AND id = $4"
    )
    .bind(status)
    .bind(now)
    .bind(account)
    .bind(card_id)
    .execute(c)
    .await?
    .rows_affected()
    });
    current.record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(Card {
        status: status.to_owned(),
        version: old.version + 1,
        updated_at: now,
        ..old
    })
}

/// Moves a card to `to_position` in `to_column` (a column of the same board; the
/// position is clamped to the column). Records `card.moved` with both columns.
pub async fn move_card(
    store: &Store,
    current: &Current,
    card_id: Uuid,
    to_column: Uuid,
    to_position: i32,
) -> Result<Card> {
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    let (card, board) = lock_card_on_board(&mut tx, account, card_id).await?;
    if card.archived_at.is_some() {
        return Err(Error::Conflict("an archived card cannot be moved".into()));
    }
    let from: Column = lock_column(&mut tx, account, card.column_id).await?;
    let to: Column = lock_column(&mut tx, account, to_column).await?;
    if to.board_id != card.board_id {
        return Err(Error::invalid(
            "column",
            "a card can only move to a column of its own board",
        ));
    }
    let mut source: Vec<Card> = active_in_column(&mut tx, account, from.id).await?;
    let current_index = source
        .iter()
        .position(|c| c.id == card_id)
        .ok_or(Error::NotFound("card"))?;
    let moving = source.remove(current_index);
    let mut target = if from.id == to.id {
        source.clone()
    } else {
        active_in_column(&mut tx, account, to.id).await?
    };
    let index = (to_position.max(0) as usize).min(target.len());
    if from.id == to.id && index == current_index {
        return Ok(card);
    }
    target.insert(index, moving);
    if from.id != to.id {
        renumber(&mut tx, account, from.id, &source).await?;
    }
    renumber(&mut tx, account, to.id, &target).await?;
    let now = now_micros();
    on_tx!(tx, |c| sqlx::query(
        "UPDATE cards SET updated_at = $1 WHERE account_id = $2 AND id = $3"
    )
    .bind(now)
    .bind(account)
    .bind(card_id)
    .execute(c)
    .await?
    .rows_affected());
    let event = CardMoved {
        card: card.as_ref(&board),
        from_column: from.as_ref(),
        to_column: to.as_ref(),
        position: index as i64,
    };
    current.record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(Card {
        column_id: to.id,
        position: index as i32,
        updated_at: now,
        ..card
    })
}

async fn archive_in(
    tx: &mut Tx,
    current: &Current,
    card: &Card,
    board: &Board,
    options: RecordOptions,
) -> Result<()> {
    let account = current.account_id();
    on_tx!(tx, |c| {
        sqlx::query("UPDATE cards SET archived_at = $1, version = version + 1 WHERE account_id = $2 AND id = $3")
        .bind(now_micros())
        .bind(account)
        .bind(card.id)
        .execute(c)
        .await?
        .rows_affected()
    });
    let event = CardArchived {
        card: card.as_ref(board),
    };
    record(tx, account, &current.actor(), &event, options).await?;
    Ok(())
}

/// Archives a card: it leaves the board (and its column's order) but keeps its history.
/// Returns the board it was on.
pub async fn archive_card(store: &Store, current: &Current, card_id: Uuid) -> Result<Uuid> {
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    let (card, board) = lock_card_on_board(&mut tx, account, card_id).await?;
    if card.archived_at.is_some() {
        return Err(Error::Conflict(format!(
            "{} is already archived",
            card.title
        )));
    }
    archive_in(&mut tx, current, &card, &board, RecordOptions::default()).await?;
    let rest = active_in_column(&mut tx, account, card.column_id).await?;
    renumber(&mut tx, account, card.column_id, &rest).await?;
    tx.commit().await?;
    Ok(board.id)
}

/// Archives every active card in a column, recorded as one batch. Returns how many.
pub async fn archive_column_cards(
    store: &Store,
    current: &Current,
    column_id: Uuid,
) -> Result<usize> {
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    let column = lock_column(&mut tx, account, column_id).await?;
    let board = lock_board(&mut tx, account, column.board_id).await?;
    let cards = active_in_column(&mut tx, account, column_id).await?;
    let batch = RecordOptions {
        batch_id: Some(Uuid::now_v7()),
        ..RecordOptions::default()
    };
    for card in &cards {
        archive_in(&mut tx, current, card, &board, batch.clone()).await?;
    }
    tx.commit().await?;
    Ok(cards.len())
}

/// Puts an archived card back on its board, at the end of the column it was archived
/// from. Returns the board.
pub async fn restore_card(store: &Store, current: &Current, card_id: Uuid) -> Result<Uuid> {
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    let (card, board) = lock_card_on_board(&mut tx, account, card_id).await?;
    if card.archived_at.is_none() {
        return Err(Error::Conflict(format!("{} is not archived", card.title)));
    }
    // A column holding archived cards cannot be deleted, so the card's column is there.
    let column = lock_column(&mut tx, account, card.column_id).await?;
    let position = count_active_in_column(&mut tx, account, column.id).await?;
    on_tx!(tx, |c| sqlx::query(
        "UPDATE cards SET archived_at = NULL, position = $1, version = version + 1, \
         updated_at = $2 WHERE account_id = $3 AND id = $4"
    )
    .bind(position)
    .bind(now_micros())
    .bind(account)
    .bind(card_id)
    .execute(c)
    .await?
    .rows_affected());
    let event = CardRestored {
        card: card.as_ref(&board),
        column: column.as_ref(),
    };
    current.record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(board.id)
}

/// A board's archived cards, most recently archived first.
pub async fn archived_cards(store: &Store, current: &Current, board: Uuid) -> Result<Vec<Card>> {
    let account = current.account_id();
    let sql = format!(
        "SELECT {CARD_COLUMNS} FROM cards WHERE account_id = $1 AND board_id = $2 \
         AND archived_at IS NOT NULL ORDER BY archived_at DESC, id"
    );
    Ok(crate::store::on_account!(store, account, |p| {
        sqlx::query_as(&sql)
            .bind(account)
            .bind(board)
            .fetch_all(p)
            .await?
    }))
}

/// Deletes a card for good; `card.deleted` keeps its final values. Returns the board it
/// was on.
pub async fn delete_card(store: &Store, current: &Current, card_id: Uuid) -> Result<Uuid> {
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    let (card, board) = lock_card_on_board(&mut tx, account, card_id).await?;
    on_tx!(tx, |c| sqlx::query(
        "DELETE FROM card_subscriptions WHERE account_id = $1 AND card_id = $2"
    )
    .bind(account)
    .bind(card_id)
    .execute(c)
    .await?
    .rows_affected());
    on_tx!(tx, |c| sqlx::query(
        "DELETE FROM cards WHERE account_id = $1 AND id = $2"
    )
    .bind(account)
    .bind(card_id)
    .execute(c)
    .await?
    .rows_affected());
    if card.archived_at.is_none() {
        let rest = active_in_column(&mut tx, account, card.column_id).await?;
        renumber(&mut tx, account, card.column_id, &rest).await?;
    }
    let mut final_values: serde_json::Map<String, Value> = card
        .fields()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    final_values.insert("status".into(), json!(card.status));
    final_values.insert("column_id".into(), json!(card.column_id));
    let event = CardDeleted {
        card: card.as_ref(&board),
        final_values: Value::Object(final_values),
    };
    current.record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(board.id)
}

/// A card with what its page shows around it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CardDetail {
    pub card: Card,
    pub board: Board,
    pub column: Column,
    pub columns: Vec<Column>,
    pub subscribers: Vec<subscriptions::Subscriber>,
}

pub async fn card_detail(store: &Store, current: &Current, card_id: Uuid) -> Result<CardDetail> {
    let account = current.account_id();
    let mut tx = store.read_for(account).await?;
    let card = lock_card(&mut tx, account, card_id).await?;
    let board = find_board(&mut tx, account, card.board_id).await?;
    let column = lock_column(&mut tx, account, card.column_id).await?;
    let columns = crate::boards::columns_in(&mut tx, account, board.id).await?;
    let subscribers = subscriptions::subscribers_in(&mut tx, account, card_id).await?;
    tx.rollback().await?;
    Ok(CardDetail {
        card,
        board,
        column,
        columns,
        subscribers,
    })
}

pub async fn get_card(store: &Store, current: &Current, id: Uuid) -> Result<Card> {
    let account = current.account_id();
    let mut tx = store.read_for(account).await?;
    let card = lock_card(&mut tx, account, id).await?;
    tx.rollback().await?;
    Ok(card)
}
