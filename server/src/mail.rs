//! SMTP delivery for the engine's mail outbox (see `chronicle::identity::mail`).
//!
//! `--smtp-url` takes lettre's URL form: `smtp://user:pass@host:587?tls=required`
//! (STARTTLS), `smtps://user:pass@host:465` (TLS from the start), or
//! `smtp://host:25` (plain, for a local relay). Without it, mail goes to the log.

use std::sync::Arc;

use chronicle::identity::mail::{LogTransport, Mail, Transport};
use chronicle::queue::worker_types::BoxFuture;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

pub struct SmtpTransport {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpTransport {
    pub fn new(url: &str, from: &str) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("bad --smtp-url: {e}"))?
            .build();
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| anyhow::anyhow!("bad --mail-from {from:?}: {e}"))?;
        Ok(SmtpTransport { transport, from })
    }
}

impl Transport for SmtpTransport {
    fn deliver<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, chronicle::Result<()>> {
        Box::pin(async move {
            let to: Mailbox = mail.recipient.parse().map_err(|e| {
                chronicle::Error::invalid("recipient", format!("{}: {e}", mail.recipient))
            })?;
            let message = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(mail.subject.clone())
                .message_id(Some(format!("<{}@chronicle>", mail.id)))
                .body(mail.body.clone())
                .map_err(|e| {
                    chronicle::Error::Conflict(format!("cannot build the message: {e}"))
                })?;
            self.transport
                .send(message)
                .await
                .map_err(|e| chronicle::Error::Conflict(format!("SMTP delivery failed: {e}")))?;
            Ok(())
        })
    }
}

/// SMTP when a URL is configured, else the log.
pub fn transport(smtp_url: Option<&str>, from: &str) -> anyhow::Result<Arc<dyn Transport>> {
    Ok(match smtp_url {
        Some(url) => Arc::new(SmtpTransport::new(url, from)?),
        None => Arc::new(LogTransport),
    })
}
