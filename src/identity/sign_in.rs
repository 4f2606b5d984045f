//! Passwordless sign-in: a person asks with their e-mail address and receives a link
//! and a six-digit code, either of which signs them in once within 15 minutes. The
//! first sign-in of an address creates the person ("sign-up" is the same path).
//!
//! Requests are rate-limited per address and per client network (the IPv4 address, or
//! the IPv6 /64 a single host is typically given), counted from the requests themselves
//! so the limit holds across server nodes. The count and the insert are one step: on
//! PostgreSQL each limit's key is locked for the transaction (an advisory lock), so
//! parallel requests take turns; SQLite has one writer anyway. Codes allow a few wrong
//! guesses per request before it is spent, and typed codes are also bounded per client
//! network and in all, so spraying guesses across many addresses is bounded too.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use uuid::Uuid;

use super::mail;
use super::secret::{hash, looks_like_token, random_code, random_token};
use super::{find_or_create_user, Email, User};
use crate::error::{Error, Result};
use crate::queue::now_micros;
use crate::store::{on_tx, Engine, Store, Tx};

/// How long a link or code stays valid.
pub const LINK_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// The window the rate limits count over.
pub const RATE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Sign-in requests per address within the window.
pub const MAX_REQUESTS_PER_EMAIL: i64 = 5;
/// Sign-in requests per client IP within the window.
pub const MAX_REQUESTS_PER_IP: i64 = 20;
/// Wrong codes tried against one request before it is spent.
pub const MAX_CODE_ATTEMPTS: i32 = 5;
/// Codes typed from one client network within the window.
pub const MAX_CODE_GUESSES_PER_IP: i64 = 30;
/// Codes typed from anywhere within the window. Past it codes wait; links still work.
pub const MAX_CODE_GUESSES: i64 = 2_000;

const TOKEN_CONTEXT: &[u8] = b"sign-in link";
const CODE_CONTEXT: &[u8] = b"sign-in code";
const IP_CONTEXT: &[u8] = b"sign-in ip";

/// What a request produced. The server mails it and shows neither secret; tests use
/// them directly.
#[derive(Debug, Clone)]
pub struct SignInRequest {
    pub email: Email,
    /// Goes into the link: `{base_url}/sign-in/verify?token=…`.
    pub token: String,
    pub code: String,
    pub expires_at: i64,
}

/// Where a request comes from and where links should point.
#[derive(Debug, Clone)]
pub struct RequestOrigin {
    /// The client's address, for the per-IP limit (not stored: only a hash is).
    pub ip: Option<IpAddr>,
    /// The site's public address, e.g. `https://chronicle.example.com`.
    pub base_url: String,
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// The client network a limit counts: an IPv4 address as it is (also when written as
/// an IPv4-mapped IPv6 address), an IPv6 address by its /64, since one host is usually
/// given a whole /64 and could otherwise take a fresh address per request.
pub fn client_network(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let prefix = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
    }
}

fn network_hash(ip: Option<IpAddr>) -> Option<Vec<u8>> {
    ip.map(|ip| hash(IP_CONTEXT, &client_network(ip)))
}

/// Makes the limits named by `keys` count and write as one step: on PostgreSQL, an
/// advisory lock per key until the transaction ends, taken in sorted order (so two
/// requests never wait on each other crosswise). SQLite's single writer already
/// serialises every write transaction.
async fn take_turns(tx: &mut Tx, keys: &mut [String]) -> crate::Result<()> {
    if tx.engine() != Engine::Postgres {
        return Ok(());
    }
    keys.sort();
    for key in keys.iter() {
        on_tx!(tx, |c| sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
        )
        .bind(key.as_str())
        .execute(c)
        .await?
        .rows_affected());
    }
    Ok(())
}

/// Records a sign-in request and mails the link and code to `email`.
pub async fn request_sign_in(
    store: &Store,
    email: &Email,
    origin: &RequestOrigin,
) -> Result<SignInRequest> {
    let now = now_micros();
    let since = now - micros(RATE_WINDOW);
    let ip_hash = network_hash(origin.ip);
    let token = random_token()?;
    let code = random_code()?;
    let id = Uuid::now_v7();
    let expires_at = now + micros(LINK_LIFETIME);

    let mut tx = store.begin().await?;
    let mut keys = vec![format!("sign-in request:email:{email}")];
    if let Some(h) = &ip_hash {
        keys.push(format!("sign-in request:ip:{}", crate::events::log::hex(h)));
    }
    take_turns(&mut tx, &mut keys).await?;
    let (by_email, by_ip): (i64, i64) = on_tx!(tx, |c| sqlx::query_as(
        "SELECT \
           (SELECT count(*) FROM sign_in_tokens WHERE email = $1 AND created_at > $2), \
           (SELECT count(*) FROM sign_in_tokens WHERE ip_hash = $3 AND created_at > $2)"
    )
    .bind(email.as_str())
    .bind(since)
    .bind(&ip_hash)
    .fetch_one(c)
    .await?);
    let minutes = RATE_WINDOW.as_secs() / 60;
    if by_email >= MAX_REQUESTS_PER_EMAIL {
        return Err(Error::RateLimited(format!(
            "too many sign-in requests for {email}; wait {minutes} minutes and try again"
        )));
    }
    if by_ip >= MAX_REQUESTS_PER_IP {
        return Err(Error::RateLimited(format!(
            "too many sign-in requests from your network; wait {minutes} minutes and try again"
        )));
    }
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO sign_in_tokens \
           (id, email, token_hash, code_hash, ip_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(id)
    .bind(email.as_str())
    .bind(hash(TOKEN_CONTEXT, &token))
    .bind(hash(&code_context(id), &code))
    .bind(&ip_hash)
    .bind(now)
    .bind(expires_at)
    .execute(c)
    .await?
    .rows_affected());
    let base = origin.base_url.trim_end_matches('/');
    let body = format!(
        "Hello,\n\n\
         to sign in to Chronicle, open this link within 15 minutes:\n\n\
         {base}/sign-in/verify?token={token}\n\n\
         or enter this code on the sign-in page: {code}\n\n\
         The link and the code work once. If you did not ask to sign in, ignore this \
         message: nobody can sign in without it.\n"
    );
    mail::send(
        &mut tx,
        None,
        email.as_str(),
        &format!("Your Chronicle sign-in code: {code}"),
        &body,
    )
    .await?;
    tx.commit().await?;
    Ok(SignInRequest {
        email: email.clone(),
        token,
        code,
        expires_at,
    })
}

/// Counts a typed code against the per-network and global limits (refusing it, with
/// nothing written, when either is reached), and forgets guesses older than the window.
async fn count_guess(tx: &mut Tx, ip_hash: Option<Vec<u8>>, now: i64) -> Result<()> {
    let since = now - micros(RATE_WINDOW);
    let mut keys = vec!["sign-in guess:all".to_owned()];
    if let Some(h) = &ip_hash {
        keys.push(format!("sign-in guess:ip:{}", crate::events::log::hex(h)));
    }
    take_turns(tx, &mut keys).await?;
    let (from_ip, in_all): (i64, i64) = on_tx!(tx, |c| sqlx::query_as(
        "SELECT \
           (SELECT count(*) FROM sign_in_guesses WHERE ip_hash = $1 AND created_at > $2), \
           (SELECT count(*) FROM sign_in_guesses WHERE created_at > $2)"
    )
    .bind(&ip_hash)
    .bind(since)
    .fetch_one(c)
    .await?);
    let minutes = RATE_WINDOW.as_secs() / 60;
    if from_ip >= MAX_CODE_GUESSES_PER_IP {
        return Err(Error::RateLimited(format!(
            "too many codes tried from your network; wait {minutes} minutes, or use the link in the e-mail"
        )));
    }
    if in_all >= MAX_CODE_GUESSES {
        return Err(Error::RateLimited(format!(
            "too many codes are being tried right now; wait {minutes} minutes, or use the link in the e-mail"
        )));
    }
    on_tx!(tx, |c| sqlx::query(
        "DELETE FROM sign_in_guesses WHERE created_at <= $1"
    )
    .bind(since)
    .execute(c)
    .await?
    .rows_affected());
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO sign_in_guesses (id, ip_hash, created_at) VALUES ($1, $2, $3)"
    )
    .bind(Uuid::now_v7())
    .bind(&ip_hash)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected());
    Ok(())
}

/// A code's hash is salted with its request's id.
fn code_context(id: Uuid) -> Vec<u8> {
    let mut c = CODE_CONTEXT.to_vec();
    c.extend_from_slice(id.as_bytes());
    c
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: Uuid,
    email: String,
    code_hash: Vec<u8>,
    code_attempts: i32,
    expires_at: i64,
    used_at: Option<i64>,
}

const EXPIRED: &str = "this sign-in link has expired; ask for a new one";
const USED: &str = "this sign-in link has already been used; ask for a new one";

/// Signs in with the token from an e-mailed link. Spends the link (and every other
/// open request for the same address).
pub async fn redeem_link(store: &Store, token: &str) -> Result<User> {
    let unknown = || Error::invalid("link", "this sign-in link is not valid; ask for a new one");
    if !looks_like_token(token) {
        return Err(unknown());
    }
    let now = now_micros();
    let mut tx = store.begin().await?;
    let row: Option<TokenRow> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT id, email, code_hash, code_attempts, expires_at, used_at \
         FROM sign_in_tokens WHERE token_hash = $1"
    )
    .bind(hash(TOKEN_CONTEXT, token))
    .fetch_optional(c)
    .await?);
    let row = row.ok_or_else(unknown)?;
    if row.used_at.is_some() {
        return Err(Error::invalid("link", USED));
    }
    if row.expires_at <= now {
        return Err(Error::invalid("link", EXPIRED));
    }
    let email = Email::parse(&row.email)?;
    spend(&mut tx, row.id, &email, now).await?;
    let user = find_or_create_user(&mut tx, &email).await?;
    tx.commit().await?;
    Ok(user)
}

/// Signs in with the code from the e-mail, typed on the check-your-e-mail page by a
/// client at `ip`.
pub async fn redeem_code(
    store: &Store,
    email: &Email,
    code: &str,
    ip: Option<IpAddr>,
) -> Result<User> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid(
            "code",
            "the code is the six digits from the e-mail",
        ));
    }
    let now = now_micros();
    // Counted in a transaction of its own, committed at once: the global limit's lock
    // is held while counting, never while a sign-in runs (every code typed anywhere
    // would wait behind a slow one), and a guess counts whatever becomes of it.
    let mut tx = store.begin().await?;
    count_guess(&mut tx, network_hash(ip), now).await?;
    tx.commit().await?;
    let mut tx = store.begin().await?;
    // The newest request is the one whose code the person is looking at.
    let row: Option<TokenRow> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT id, email, code_hash, code_attempts, expires_at, used_at \
         FROM sign_in_tokens WHERE email = $1 ORDER BY created_at DESC, id DESC LIMIT 1"
    )
    .bind(email.as_str())
    .fetch_optional(c)
    .await?);
    let none_waiting = || {
        Error::invalid(
            "code",
            format!("no sign-in code is waiting for {email}; ask for a new one"),
        )
    };
    let row = row.ok_or_else(none_waiting)?;
    if row.used_at.is_some() {
        return Err(none_waiting());
    }
    if row.expires_at <= now {
        return Err(Error::invalid(
            "code",
            "this code has expired; ask for a new one",
        ));
    }
    // Count the attempt before comparing, atomically: parallel guesses cannot all pass
    // a check made before any of them was counted.
    let counted = on_tx!(tx, |c| sqlx::query(
        "UPDATE sign_in_tokens SET code_attempts = code_attempts + 1 \
         WHERE id = $1 AND code_attempts < $2 AND used_at IS NULL"
    )
    .bind(row.id)
    .bind(MAX_CODE_ATTEMPTS)
    .execute(c)
    .await?
    .rows_affected());
    if counted != 1 {
        return Err(Error::invalid(
            "code",
            "too many wrong codes; ask for a new one",
        ));
    }
    if hash(&code_context(row.id), code) != row.code_hash {
        // The failed attempt stays counted even though the sign-in fails.
        tx.commit().await?;
        let left = MAX_CODE_ATTEMPTS - row.code_attempts - 1;
        return Err(Error::invalid(
            "code",
            if left > 0 {
                format!("that code is not right; {left} tries left")
            } else {
                "that code is not right, and it was the last try; ask for a new one".to_owned()
            },
        ));
    }
    debug_assert_eq!(row.email, email.as_str());
    spend(&mut tx, row.id, email, now).await?;
    let user = find_or_create_user(&mut tx, email).await?;
    tx.commit().await?;
    Ok(user)
}

/// Marks the request `id` used — failing if a concurrent sign-in got there first —
/// and every other open request for `email` with it: one sign-in spends them all.
async fn spend(tx: &mut crate::store::Tx, id: Uuid, email: &Email, now: i64) -> Result<()> {
    let won = on_tx!(tx, |c| sqlx::query(
        "UPDATE sign_in_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL"
    )
    .bind(now)
    .bind(id)
    .execute(c)
    .await?
    .rows_affected());
    if won != 1 {
        return Err(Error::invalid("link", USED));
    }
    on_tx!(tx, |c| sqlx::query(
        "UPDATE sign_in_tokens SET used_at = $1 WHERE email = $2 AND used_at IS NULL"
    )
    .bind(now)
    .bind(email.as_str())
    .execute(c)
    .await?
    .rows_affected());
    Ok(())
}
