//! People and how they prove who they are: users (global, one per e-mail address),
//! passwordless sign-in (an e-mailed link or code), sessions, and the mail outbox that
//! carries the links. Which teams a person belongs to lives in `accounts::members`.

mod email;
pub mod mail;
mod secret;
pub mod sessions;
pub mod sign_in;

pub use email::Email;

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::queue::now_micros;
use crate::store::{on_pool, on_tx, Store, Tx};

/// Identifies a person across every team they belong to.
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
pub struct UserId(pub Uuid);

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A person. Not tenant-owned: the same person can belong to several teams.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
}

/// Longest display name, in characters.
pub const MAX_USER_NAME_CHARS: usize = 80;

/// A person's display name: trimmed, 1–80 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub fn parse(raw: &str) -> Result<Self> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(Error::invalid("name", "enter your name"));
        }
        let n = s.chars().count();
        if n > MAX_USER_NAME_CHARS {
            return Err(Error::invalid(
                "name",
                format!("at most {MAX_USER_NAME_CHARS} characters (this one has {n})"),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(Error::invalid(
                "name",
                "a name cannot contain control characters",
            ));
        }
        Ok(UserName(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const USER_COLUMNS: &str = "id, email, name, created_at";

pub async fn find_user(store: &Store, id: UserId) -> Result<User> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    let user: Option<User> = on_pool!(store, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await?);
    user.ok_or(Error::NotFound("person"))
}

/// The person with this address, if they have ever signed in.
pub async fn find_user_by_email(store: &Store, email: &Email) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
    Ok(on_pool!(store, |p| sqlx::query_as(&sql)
        .bind(email.as_str())
        .fetch_optional(p)
        .await?))
}

/// Changes a person's display name (what teammates see from now on; history keeps the
/// name each event was recorded with).
pub async fn rename_user(store: &Store, id: UserId, name: &UserName) -> Result<User> {
    let mut tx = store.begin().await?;
    let n = on_tx!(tx, |c| sqlx::query(
        "UPDATE users SET name = $1 WHERE id = $2"
    )
    .bind(name.as_str())
    .bind(id)
    .execute(c)
    .await?
    .rows_affected());
    if n != 1 {
        return Err(Error::NotFound("person"));
    }
    tx.commit().await?;
    find_user(store, id).await
}

/// The person with this address, created on their first sign-in.
pub(crate) async fn find_or_create_user(tx: &mut Tx, email: &Email) -> Result<User> {
    let candidate = User {
        id: UserId(Uuid::now_v7()),
        email: email.as_str().to_owned(),
        name: email.guess_name(),
        created_at: now_micros(),
    };
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
    on_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO users (id, email, name, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (email) DO NOTHING",
        )
        .bind(candidate.id)
        .bind(&candidate.email)
        .bind(&candidate.name)
        .bind(candidate.created_at)
        .execute(&mut *c)
        .await?;
        let user: User = sqlx::query_as(&sql)
            .bind(email.as_str())
            .fetch_one(&mut *c)
            .await?;
        Ok(user)
    })
}
