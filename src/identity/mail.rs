//! Outgoing mail. Every message is written to the `mail_outbox` table in the
//! transaction that causes it (a sign-in request, an invitation), with a `mail.deliver`
//! job beside it, so a message is sent if and only if its cause committed. The job hands
//! the message to a [`Transport`]: SMTP when configured (the server provides it), else
//! the server log. The development mailbox page reads the outbox.

use std::sync::Arc;

use serde_json::json;
use uuid::Uuid;

use crate::accounts::AccountId;
use crate::error::{Error, Result};
use crate::queue::worker_types::BoxFuture;
use crate::queue::{enqueue, now_micros, Job, JobHandler, NewJob};
use crate::store::{on_pool, on_tx, on_writer, Store, Tx};

/// The job kind that delivers one outbox message.
pub const DELIVER_JOB: &str = "mail.deliver";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct Mail {
    pub id: Uuid,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// Hands a message to the outside world. Must be safe to call twice for one message
/// (a worker can die after sending and before recording it).
pub trait Transport: Send + Sync + 'static {
    fn deliver<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, Result<()>>;
}

/// Without SMTP: the message, link included, goes to the server log.
pub struct LogTransport;

impl Transport for LogTransport {
    fn deliver<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            tracing::info!(
                to = %mail.recipient,
                subject = %mail.subject,
                "mail (no SMTP configured):\n{}",
                mail.body
            );
            Ok(())
        })
    }
}

/// Writes a message to the outbox and schedules its delivery, inside `tx`. A message
/// sent on an account's behalf (an invitation) names it, so its job belongs to it.
pub(crate) async fn send(
    tx: &mut Tx,
    account: Option<AccountId>,
    recipient: &str,
    subject: &str,
    body: &str,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO mail_outbox (id, recipient, subject, body, created_at) \
         VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(id)
    .bind(recipient)
    .bind(subject)
    .bind(body)
    .bind(now_micros())
    .execute(c)
    .await?
    .rows_affected());
    let mut job = NewJob::new(DELIVER_JOB, json!({ "mail_id": id }));
    job.account = account;
    enqueue(tx, job).await?;
    Ok(id)
}

const MAIL_COLUMNS: &str = "id, recipient, subject, body, created_at, sent_at";

/// The newest messages, newest first (for the development mailbox).
pub async fn recent(store: &Store, limit: u32) -> Result<Vec<Mail>> {
    let sql = format!(
        "SELECT {MAIL_COLUMNS} FROM mail_outbox ORDER BY created_at DESC, id DESC LIMIT $1"
    );
    Ok(on_pool!(store, |p| sqlx::query_as(&sql)
        .bind(i64::from(limit))
        .fetch_all(p)
        .await?))
}

pub async fn get(store: &Store, id: Uuid) -> Result<Mail> {
    let sql = format!("SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE id = $1");
    let mail: Option<Mail> = on_pool!(store, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await?);
    mail.ok_or(Error::NotFound("message"))
}

/// What a delivered message's body becomes unless bodies are kept.
pub const DELIVERED_BODY: &str = "(delivered; the text is not kept)";

/// Runs `mail.deliver` jobs through a transport.
pub struct MailJobs {
    transport: Arc<dyn Transport>,
    keep_sent_bodies: bool,
}

impl MailJobs {
    /// Delivered messages lose their text (sign-in links and codes must not outlive
    /// their delivery in the database).
    pub fn new(transport: Arc<dyn Transport>) -> Self {
        MailJobs {
            transport,
            keep_sent_bodies: false,
        }
    }

    /// Keeps delivered messages' text: for the development mailbox, which shows it.
    pub fn keeping_sent_bodies(mut self, keep: bool) -> Self {
        self.keep_sent_bodies = keep;
        self
    }
}

impl JobHandler for MailJobs {
    fn kind(&self) -> &str {
        DELIVER_JOB
    }

    fn run<'a>(&'a self, store: &'a Store, job: &'a Job) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let id = job
                .payload
                .get("mail_id")
                .and_then(|v| v.as_str())
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or_else(|| Error::invalid("payload", "mail.deliver job without a mail_id"))?;
            let mail = get(store, id).await?;
            if mail.sent_at.is_some() {
                return Ok(());
            }
            self.transport.deliver(&mail).await?;
            let _writer = store.writer().await?;
            let body = (!self.keep_sent_bodies).then_some(DELIVERED_BODY);
            on_writer!(store, |p| sqlx::query(
                "UPDATE mail_outbox SET sent_at = $1, body = COALESCE($2, body) \
                 WHERE id = $3 AND sent_at IS NULL"
            )
            .bind(now_micros())
            .bind(body)
            .bind(id)
            .execute(p)
            .await?
            .rows_affected());
            Ok(())
        })
    }

    /// One message to one SMTP server: two minutes covers a slow server's greeting,
    /// STARTTLS and the data; past that the server is not answering.
    fn time_limit(&self) -> std::time::Duration {
        std::time::Duration::from_secs(120)
    }
}
