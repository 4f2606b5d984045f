//! The card-thread inbox: when something happens to a card, a system message in the
//! card's thread says so ("Ana moved Fix login from To do to Doing"), so the thread
//! reads as the card's story, interleaved with people's comments.

use uuid::Uuid;

use super::{Delivery, Inbox};
use crate::error::Result;
use crate::events::catalog::{CommentAdded, CommentDeleted, CommentEdited};
use crate::events::{AnyEvent, DomainEvent};
use crate::queue::worker_types::BoxFuture;
use crate::store::{on_tx, Tx};

pub struct CardThreadInbox;

impl Inbox for CardThreadInbox {
    fn name(&self) -> &'static str {
        "card_thread"
    }

    fn accepts(&self, event: &dyn AnyEvent) -> bool {
        // Comments are the thread itself; everything else about a card is news in it.
        event.scope().card.is_some()
            && ![
                CommentAdded::TYPE,
                CommentEdited::TYPE,
                CommentDeleted::TYPE,
            ]
            .contains(&event.type_name())
    }

    fn handle<'a>(&'a self, tx: &'a mut Tx, delivery: &'a Delivery) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let Some(card) = delivery.event.scope().card else {
                return Ok(());
            };
            let row = &delivery.stored.row;
            let body = delivery.event.describe(&row.actor_name);
            on_tx!(tx, |c| {
                sqlx::query(
                "INSERT INTO comments (account_id, id, card_id, author_id, author_name, body, \
                 system, event_sequence, created_at) VALUES ($1, $2, $3, NULL, $4, $5, TRUE, $6, $7)"
            )
            .bind(delivery.account)
            .bind(Uuid::now_v7())
            .bind(card)
            .bind(&row.actor_name)
            .bind(&body)
            .bind(row.sequence)
            .bind(row.created_at)
            .execute(c)
            .await?
            .rows_affected()
            });
            Ok(())
        })
    }
}

/// One entry of a card's thread (a comment, or a system message).
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct ThreadMessage {
    pub id: Uuid,
    pub author_id: Option<Uuid>,
    pub author_name: String,
    pub body: String,
    pub system: bool,
    pub event_sequence: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
}

/// A card's thread, oldest first, without deleted comments.
pub async fn card_thread_messages(
    store: &crate::Store,
    account: crate::accounts::AccountId,
    card: Uuid,
) -> Result<Vec<ThreadMessage>> {
    let rows = crate::store::on_account!(store, account, |p| sqlx::query_as::<_, ThreadMessage>(
        "SELECT id, author_id, author_name, body, system, event_sequence, created_at \
         FROM comments WHERE account_id = $1 AND card_id = $2 AND deleted_at IS NULL \
         ORDER BY created_at, id"
    )
    .bind(account)
    .bind(card)
    .fetch_all(p)
    .await?);
    Ok(rows)
}
