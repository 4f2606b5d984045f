//! People's comments in a card's thread: added (`comment.added`; the author is
//! subscribed to the card), edited by their author (`comment.edited` with old → new),
//! deleted softly by their author or a team admin (`comment.deleted`; the thread drops
//! it, the log keeps it). The card-thread inbox posts system messages into the same
//! thread, so it reads as the card's story.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::accounts::Current;
use crate::boards::find_board;
use crate::cards::{lock_card, subscriptions};
use crate::error::{Error, Result};
use crate::events::catalog::{CommentAdded, CommentDeleted, CommentEdited};
use crate::events::FieldChange;
use crate::store::{on_tx, Store, Tx};

pub const MAX_COMMENT_CHARS: usize = 10_000;

fn now() -> OffsetDateTime {
    crate::accounts::truncate_to_micros(OffsetDateTime::now_utc())
}

/// How many people's comments (not deleted, not Chronicle's own notes) each card of
/// `board` has; cards without any are absent.
pub async fn counts_on_board(
    store: &Store,
    current: &Current,
    board: Uuid,
) -> Result<std::collections::HashMap<Uuid, i64>> {
    let account = current.account_id();
    let rows: Vec<(Uuid, i64)> = crate::store::on_account!(store, account, |p| {
        sqlx::query_as(
            "SELECT c.card_id, count(*) FROM comments c \
             JOIN cards k ON k.account_id = c.account_id AND k.id = c.card_id \
             WHERE c.account_id = $1 AND k.board_id = $2 \
               AND NOT c.system AND c.deleted_at IS NULL \
             GROUP BY c.card_id",
        )
        .bind(account)
        .bind(board)
        .fetch_all(p)
        .await?
    });
    Ok(rows.into_iter().collect())
}

/// Adds a comment to a card; returns its id.
pub async fn add_comment(
    store: &Store,
    current: &Current,
    card_id: Uuid,
    body: &str,
) -> Result<Uuid> {
    let body = crate::validate::text("body", body, MAX_COMMENT_CHARS, true)?;
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    let card = lock_card(&mut tx, account, card_id).await?;
    let board = find_board(&mut tx, account, card.board_id).await?;
    let id = Uuid::now_v7();
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO comments (account_id, id, card_id, author_id, author_name, body, system, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7)"
    )
    .bind(account)
    .bind(id)
    .bind(card_id)
    .bind(current.user.id.0)
    .bind(&current.user.name)
    .bind(&body)
    .bind(now())
    .execute(c)
    .await?
    .rows_affected()
    });
    subscriptions::subscribe_in(&mut tx, account, card_id, current.user.id.0).await?;
    let event = CommentAdded {
        comment_id: id,
        card: card.as_ref(&board),
        body,
    };
    current.record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(id)
}

#[derive(sqlx::FromRow)]
struct CommentRow {
    card_id: Uuid,
    author_id: Option<Uuid>,
    body: String,
    system: bool,
    deleted_at: Option<OffsetDateTime>,
}

async fn lock_comment(tx: &mut Tx, current: &Current, id: Uuid) -> Result<CommentRow> {
    let row: Option<CommentRow> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT card_id, author_id, body, system, deleted_at FROM comments \
         WHERE account_id = $1 AND id = $2"
    )
    .bind(current.account_id())
    .bind(id)
    .fetch_optional(c)
    .await?);
    match row {
        Some(r) if r.deleted_at.is_none() => Ok(r),
        _ => Err(Error::NotFound("comment")),
    }
}

/// Changes a comment's text; only its author may.
pub async fn edit_comment(store: &Store, current: &Current, id: Uuid, body: &str) -> Result<()> {
    let body = crate::validate::text("body", body, MAX_COMMENT_CHARS, true)?;
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    let row = lock_comment(&mut tx, current, id).await?;
    if row.system || row.author_id != Some(current.user.id.0) {
        return Err(Error::Forbidden(
            "only its author can edit a comment".into(),
        ));
    }
    if row.body == body {
        return Ok(());
    }
    let card = lock_card(&mut tx, account, row.card_id).await?;
    let board = find_board(&mut tx, account, card.board_id).await?;
    on_tx!(tx, |c| sqlx::query(
        "UPDATE comments SET body = $1, edited_at = $2 WHERE account_id = $3 AND id = $4"
    )
    .bind(&body)
    .bind(now())
    .bind(account)
    .bind(id)
    .execute(c)
    .await?
    .rows_affected());
    let event = CommentEdited {
        comment_id: id,
        card: card.as_ref(&board),
        changes: vec![FieldChange {
            field: "body".into(),
            old: row.body.into(),
            new: body.into(),
        }],
    };
    current.record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(())
}

/// Removes a comment from the thread (the log keeps it); its author or an admin may.
pub async fn delete_comment(store: &Store, current: &Current, id: Uuid) -> Result<()> {
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    let row = lock_comment(&mut tx, current, id).await?;
    let own = row.author_id == Some(current.user.id.0);
    if row.system || !(own || current.role.manages_members()) {
        return Err(Error::Forbidden(
            "only its author or a team admin can delete a comment".into(),
        ));
    }
    let card = lock_card(&mut tx, account, row.card_id).await?;
    let board = find_board(&mut tx, account, card.board_id).await?;
    on_tx!(tx, |c| sqlx::query(
        "UPDATE comments SET deleted_at = $1 WHERE account_id = $2 AND id = $3"
    )
    .bind(now())
    .bind(account)
    .bind(id)
    .execute(c)
    .await?
    .rows_affected());
    let event = CommentDeleted {
        comment_id: id,
        card: card.as_ref(&board),
    };
    current.record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(())
}
