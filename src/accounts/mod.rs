//! Accounts: the tenants. Everything else in Chronicle belongs to exactly one.

pub mod members;
mod name;

pub use members::{Current, Role};
pub use name::{AccountName, AccountSlug, RESERVED_SLUGS};

use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::events::catalog::AccountCreated;
use crate::events::record::GENESIS_HASH;
use crate::events::{record, Actor, RecordOptions};
use crate::store::{on_pool, on_tx, Store, Tx};

/// Identifies an account. A distinct type so an account id cannot be passed where a
/// card id is expected.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    sqlx::Type,
)]
#[sqlx(transparent)]
pub struct AccountId(pub Uuid);

impl AccountId {
    pub fn new() -> Self {
        AccountId(Uuid::now_v7())
    }
}

impl Default for AccountId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct Account {
    pub id: AccountId,
    pub slug: String,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Creates an account named `name`; its URL slug is derived from the name.
pub async fn create_account(store: &Store, name: AccountName, actor: &Actor) -> Result<Account> {
    let mut tx = store.begin().await?;
    let account = create_account_in(&mut tx, &name, actor).await?;
    tx.commit().await?;
    Ok(account)
}

/// Creates an account inside the caller's transaction (e.g. together with its owner).
/// Two teams may share a name: the second gets the next free slug (`acme-2`).
/// Starts the account's event chain and records `account.created`.
pub async fn create_account_in(tx: &mut Tx, name: &AccountName, actor: &Actor) -> Result<Account> {
    let base = AccountSlug::from_name(name);
    let mut account = Account {
        id: AccountId::new(),
        slug: String::new(),
        name: name.as_str().to_owned(),
        // Stored at microsecond precision on both engines.
        created_at: truncate_to_micros(OffsetDateTime::now_utc()),
    };
    for n in 1..=MAX_SLUG_ATTEMPTS {
        account.slug = base.numbered(n);
        // ON CONFLICT DO NOTHING rather than catching the error: on PostgreSQL a failed
        // statement aborts the whole transaction.
        let inserted = on_tx!(tx, |c| {
            sqlx::query(
                "INSERT INTO accounts (id, slug, name, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (slug) DO NOTHING",
            )
            .bind(account.id)
            .bind(&account.slug)
            .bind(&account.name)
            .bind(account.created_at)
            .execute(c)
            .await?
            .rows_affected()
        });
        if inserted == 1 {
            start_chain(tx, account.id).await?;
            let event = AccountCreated {
                account_id: account.id.0,
                name: account.name.clone(),
            };
            record(tx, account.id, actor, &event, RecordOptions::default()).await?;
            return Ok(account);
        }
    }
    Err(Error::Conflict(format!(
        "too many teams are called {:?}; choose another name",
        name.as_str()
    )))
}

async fn start_chain(tx: &mut Tx, account: AccountId) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO event_chains (account_id, last_sequence, last_hash) VALUES ($1, 0, $2)"
    )
    .bind(account)
    .bind(&GENESIS_HASH[..])
    .execute(c)
    .await?
    .rows_affected());
    Ok(())
}

/// How many numbered slugs to try before giving up on a name.
const MAX_SLUG_ATTEMPTS: u32 = 50;

/// All accounts, oldest first. (The sign-in-less home page lists them; once sign-in
/// exists a person sees only the accounts they belong to.)
pub async fn list_accounts(store: &Store) -> Result<Vec<Account>> {
    let rows = on_pool!(store, |p| {
        sqlx::query_as::<_, Account>(
            "SELECT id, slug, name, created_at FROM accounts ORDER BY created_at, id",
        )
        .fetch_all(p)
        .await?
    });
    Ok(rows)
}

/// The account at `/<slug>`.
pub async fn find_account_by_slug(store: &Store, slug: &str) -> Result<Account> {
    let row = on_pool!(store, |p| {
        sqlx::query_as::<_, Account>(
            "SELECT id, slug, name, created_at FROM accounts WHERE slug = $1",
        )
        .bind(slug)
        .fetch_optional(p)
        .await?
    });
    row.ok_or(Error::NotFound("account"))
}

pub(crate) fn truncate_to_micros(t: OffsetDateTime) -> OffsetDateTime {
    let micros = t.microsecond();
    t.replace_microsecond(micros).unwrap_or(t)
}

/// The URL slug of an account (slugs never change once given).
pub async fn slug_of(store: &Store, account: AccountId) -> Result<String> {
    let slug: Option<String> = on_pool!(store, |p| sqlx::query_scalar(
        "SELECT slug FROM accounts WHERE id = $1"
    )
    .bind(account)
    .fetch_optional(p)
    .await?);
    slug.ok_or(Error::NotFound("account"))
}
