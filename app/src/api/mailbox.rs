//! The development mailbox: recent outgoing mail, when the server enables it.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailView {
    pub id: uuid::Uuid,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    /// RFC 3339.
    pub created_at: String,
}

/// The 50 newest messages; 404 unless the server runs with the mailbox enabled.
#[server(endpoint = "dev_mailbox")]
pub async fn dev_mailbox() -> Result<Vec<MailView>, AppError> {
    use super::ssr;
    if !ssr::site()?.dev_mailbox {
        return Err(AppError::not_found("mailbox"));
    }
    let mail = chronicle::identity::mail::recent(&ssr::store()?, 50).await?;
    Ok(mail
        .into_iter()
        .map(|m| MailView {
            id: m.id,
            recipient: m.recipient,
            subject: m.subject,
            body: m.body,
            created_at: ssr::rfc3339(m.created_at),
        })
        .collect())
}
