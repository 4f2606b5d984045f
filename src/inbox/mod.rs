//! Inboxes: named consumers that react to events asynchronously.
//!
//! Recording an event enqueues, in the same transaction, one job per inbox that
//! accepts it (a transactional outbox). A worker later delivers the event to the inbox
//! in a transaction of its own that also writes a receipt (inbox, account, sequence):
//! a delivery that runs twice does its work once. Each inbox has its own jobs, so a
//! failing inbox retries and dies alone and never holds up the others.

mod card_thread;

pub use card_thread::{card_thread_messages, CardThreadInbox, ThreadMessage};

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::accounts::AccountId;
use crate::error::{Error, Result};
use crate::events::log::StoredEvent;
use crate::events::AnyEvent;
use crate::queue::worker_types::BoxFuture;
use crate::queue::{Job, JobHandler, PendingJob};
use crate::store::{on_tx, Store, Tx};

/// An event handed to an inbox.
pub struct Delivery {
    pub account: AccountId,
    pub stored: StoredEvent,
    pub event: Box<dyn AnyEvent>,
}

/// A named consumer of events.
pub trait Inbox: Send + Sync + 'static {
    /// Stable name: it is stored in jobs and receipts.
    fn name(&self) -> &'static str;
    /// Whether this inbox wants the event (decided at recording time).
    fn accepts(&self, event: &dyn AnyEvent) -> bool;
    /// Handles the event inside `tx`, which also holds the receipt: database work done
    /// here commits exactly once. Work outside the database must be idempotent.
    fn handle<'a>(&'a self, tx: &'a mut Tx, delivery: &'a Delivery) -> BoxFuture<'a, Result<()>>;
    /// Attempts before the delivery is declared dead.
    fn max_attempts(&self) -> i32 {
        crate::queue::DEFAULT_MAX_ATTEMPTS
    }
}

/// The inboxes every store starts with.
pub(crate) fn builtin() -> Vec<Arc<dyn Inbox>> {
    vec![Arc::new(CardThreadInbox)]
}

/// The job kind of inbox deliveries.
pub const INBOX_JOB: &str = "inbox";

#[derive(Debug, Serialize, Deserialize)]
struct InboxPayload<'a> {
    inbox: std::borrow::Cow<'a, str>,
    account_id: Uuid,
    sequence: i64,
    event_id: Uuid,
}

/// A delivery job for every registered inbox that accepts `event`; `record()` writes
/// them in the same transaction as the event.
pub(crate) fn jobs_for(
    store: &Store,
    event: &dyn AnyEvent,
    account: AccountId,
    sequence: i64,
    event_id: Uuid,
) -> Vec<PendingJob> {
    store.with_inboxes(|inboxes| {
        inboxes
            .iter()
            .filter(|inbox| inbox.accepts(event))
            .map(|inbox| {
                let payload = InboxPayload {
                    inbox: inbox.name().into(),
                    account_id: account.0,
                    sequence,
                    event_id,
                };
                // Plain fields: serialising them cannot fail.
                let payload = serde_json::to_string(&payload).unwrap_or_default();
                PendingJob::new(INBOX_JOB, payload, Some(account), inbox.max_attempts())
            })
            .collect()
    })
}

/// The job handler that delivers events to inboxes (every [`crate::queue::Worker`] has
/// it; exposed to run a delivery by hand).
pub fn delivery_handler() -> InboxJobs {
    InboxJobs
}

/// The job handler that delivers events to inboxes.
pub struct InboxJobs;

impl JobHandler for InboxJobs {
    fn kind(&self) -> &str {
        INBOX_JOB
    }

    fn run<'a>(&'a self, store: &'a Store, job: &'a Job) -> BoxFuture<'a, Result<()>> {
        Box::pin(deliver(store, job))
    }

    /// Inboxes do their work in one database transaction; a minute is far past slow.
    fn time_limit(&self) -> std::time::Duration {
        std::time::Duration::from_secs(60)
    }
}

async fn deliver(store: &Store, job: &Job) -> Result<()> {
    let payload: InboxPayload = serde_json::from_value(job.payload.clone())
        .map_err(|e| Error::invalid("payload", format!("not an inbox delivery: {e}")))?;
    let inbox = store
        .inbox(&payload.inbox)
        .ok_or_else(|| Error::invalid("inbox", format!("no inbox named {:?}", payload.inbox)))?;
    let account = AccountId(payload.account_id);
    let stored = crate::events::log::get(store, account, payload.sequence).await?;
    let event = stored.event()?;
    let delivery = Delivery {
        account,
        stored,
        event,
    };

    let mut tx = store.begin().await?;
    let first_time = on_tx!(tx, |c| sqlx::query(
        "INSERT INTO inbox_receipts (inbox, account_id, sequence, handled_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
    )
    .bind(inbox.name())
    .bind(account)
    .bind(payload.sequence)
    .bind(crate::queue::now_micros())
    .execute(c)
    .await?
    .rows_affected())
        == 1;
    if first_time {
        inbox.handle(&mut tx, &delivery).await?;
    }
    tx.commit().await
}
