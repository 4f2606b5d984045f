//! Sessions: a signed-in browser. The browser holds a random token in an HttpOnly
//! cookie; the database holds only its hash, an expiry and the user agent it began with.

use std::time::Duration;

use uuid::Uuid;

use super::secret::{hash, looks_like_token, random_token};
use super::{User, UserId};
use crate::error::Result;
use crate::queue::now_micros;
use crate::store::{on_pool, on_writer, Store};

/// How long a session lasts after sign-in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// The cookie that carries the session token.
pub const COOKIE_NAME: &str = "chronicle_session";

const TOKEN_CONTEXT: &[u8] = b"session";

/// Longest user agent kept, in characters.
const MAX_USER_AGENT_CHARS: usize = 256;

/// A session just begun: `token` goes into the cookie and is never seen again.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: Uuid,
    pub token: String,
    pub expires_at: i64,
}

/// Who a request's cookie signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub session_id: Uuid,
    pub user: User,
}

/// Begins a session for `user`.
pub async fn start(store: &Store, user: UserId, user_agent: Option<&str>) -> Result<NewSession> {
    let token = random_token()?;
    let now = now_micros();
    let lifetime = i64::try_from(SESSION_LIFETIME.as_micros()).unwrap_or(i64::MAX);
    let session = NewSession {
        id: Uuid::now_v7(),
        token,
        expires_at: now + lifetime,
    };
    let user_agent = user_agent.map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect::<String>());
    let _writer = store.writer().await?;
    on_writer!(store, |p| sqlx::query(
        "INSERT INTO sessions (id, token_hash, user_id, user_agent, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(session.id)
    .bind(hash(TOKEN_CONTEXT, &session.token))
    .bind(user)
    .bind(user_agent)
    .bind(now)
    .bind(session.expires_at)
    .execute(p)
    .await?
    .rows_affected());
    Ok(session)
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    session_id: Uuid,
    #[sqlx(flatten)]
    user: User,
}

/// The person a cookie's token signs in, or `None` for a malformed, unknown, expired
/// or signed-out token.
pub async fn authenticate(store: &Store, token: &str) -> Result<Option<SignedIn>> {
    if !looks_like_token(token) {
        return Ok(None);
    }
    let row: Option<SessionRow> = on_pool!(store, |p| sqlx::query_as(
        "SELECT s.id AS session_id, u.id, u.email, u.name, u.created_at \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2"
    )
    .bind(hash(TOKEN_CONTEXT, token))
    .bind(now_micros())
    .fetch_optional(p)
    .await?);
    Ok(row.map(|r| SignedIn {
        session_id: r.session_id,
        user: r.user,
    }))
}

/// Signs out this browser.
pub async fn end(store: &Store, session: Uuid) -> Result<()> {
    let _writer = store.writer().await?;
    on_writer!(store, |p| sqlx::query("DELETE FROM sessions WHERE id = $1")
        .bind(session)
        .execute(p)
        .await?
        .rows_affected());
    Ok(())
}

/// Signs `user` out everywhere; returns how many sessions ended.
pub async fn end_all(store: &Store, user: UserId) -> Result<u64> {
    let _writer = store.writer().await?;
    Ok(on_writer!(store, |p| sqlx::query(
        "DELETE FROM sessions WHERE user_id = $1"
    )
    .bind(user)
    .execute(p)
    .await?
    .rows_affected()))
}
