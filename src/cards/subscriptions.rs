//! Who follows a card: its creator, its assignee and its commenters are subscribed
//! automatically; anyone in the team can subscribe or unsubscribe. (The notifications
//! inbox reads these.)

use uuid::Uuid;

use crate::accounts::{AccountId, Current};
use crate::error::Result;
use crate::queue::now_micros;
use crate::store::{on_tx, Store, Tx};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct Subscriber {
    pub user_id: Uuid,
    pub name: String,
}

pub(crate) async fn subscribe_in(
    tx: &mut Tx,
    account: AccountId,
    card: Uuid,
    user: Uuid,
) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO card_subscriptions (account_id, card_id, user_id, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, card_id, user_id) DO NOTHING"
    )
    .bind(account)
    .bind(card)
    .bind(user)
    .bind(now_micros())
    .execute(c)
    .await?
    .rows_affected());
    Ok(())
}

pub(crate) async fn subscribers_in(
    tx: &mut Tx,
    account: AccountId,
    card: Uuid,
) -> Result<Vec<Subscriber>> {
    Ok(on_tx!(tx, |c| sqlx::query_as(
        "SELECT s.user_id, u.name FROM card_subscriptions s JOIN users u ON u.id = s.user_id \
         WHERE s.account_id = $1 AND s.card_id = $2 ORDER BY u.name, s.user_id"
    )
    .bind(account)
    .bind(card)
    .fetch_all(c)
    .await?))
}

/// Subscribes (`true`) or unsubscribes the signed-in member from a card.
pub async fn set_subscribed(
    store: &Store,
    current: &Current,
    card: Uuid,
    subscribed: bool,
) -> Result<Vec<Subscriber>> {
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    super::lock_card(&mut tx, account, card).await?;
    let me = current.user.id.0;
    if subscribed {
        subscribe_in(&mut tx, account, card, me).await?;
    } else {
        on_tx!(tx, |c| {
            sqlx::query(
            "DELETE FROM card_subscriptions WHERE account_id = $1 AND card_id = $2 AND user_id = $3"
        )
        .bind(account)
        .bind(card)
        .bind(me)
        .execute(c)
        .await?
        .rows_affected()
        });
    }
    let list = subscribers_in(&mut tx, account, card).await?;
    tx.commit().await?;
    Ok(list)
}
