//! Server functions for accounts.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// An account as pages show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub id: uuid::Uuid,
    pub slug: String,
    pub name: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}

#[cfg(feature = "ssr")]
impl From<chronicle::accounts::Account> for AccountView {
    fn from(a: chronicle::accounts::Account) -> Self {
        AccountView {
            id: a.id.0,
            slug: a.slug,
            name: a.name,
            created_at: a
                .created_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        }
    }
}

#[server(endpoint = "list_accounts")]
pub async fn list_accounts() -> Result<Vec<AccountView>, AppError> {
    let store = super::store()?;
    let accounts = chronicle::accounts::list_accounts(&store).await?;
    Ok(accounts.into_iter().map(AccountView::from).collect())
}

#[server(endpoint = "create_account")]
pub async fn create_account(name: String) -> Result<AccountView, AppError> {
    let store = super::store()?;
    let name = chronicle::accounts::AccountName::parse(&name)?;
    let account =
        chronicle::accounts::create_account(&store, name, &chronicle::events::Actor::System)
            .await?;
    Ok(account.into())
}
