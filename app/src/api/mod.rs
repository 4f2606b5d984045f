//! Server functions, one file per area, and the view types they return. Each function
//! is thin: it finds the signed-in person (and, for team data, their membership) from
//! the request, calls one engine function, and maps the result into a view type.

pub mod accounts;
pub mod activity;
pub mod auth;
pub mod boards;
pub mod cards;
pub mod mailbox;
pub mod members;

#[cfg(feature = "ssr")]
pub use ssr::{session_token, SiteConfig};

/// What a server function needs from the request and the server, in one place.
#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    use std::net::{IpAddr, SocketAddr};

    use axum::extract::ConnectInfo;
    use chronicle::accounts::Current;
    use chronicle::identity::sessions::{self, SignedIn, COOKIE_NAME};
    use chronicle::identity::sign_in;
    use chronicle::Store;
    use http::header::{COOKIE, SET_COOKIE, USER_AGENT};
    use http::HeaderValue;
    use leptos::prelude::use_context;

    use crate::error::AppError;

    /// Server settings pages and server functions depend on; provided by the server.
    #[derive(Debug, Clone)]
    pub struct SiteConfig {
        /// The site's public address (`https://chronicle.example.com`): the base of
        /// links in e-mails and the only origin mutating requests are accepted from.
        /// Never taken from a request's Host header, which the client controls.
        pub public_url: String,
        /// Show recent outgoing mail at /dev/mailbox (development and tests only: it
        /// shows everyone's sign-in links).
        pub dev_mailbox: bool,
        /// The server sits behind a reverse proxy that appends the client's address to
        /// `X-Forwarded-For`: take the client IP (for rate limits) from its last entry.
        /// Off by default: without a proxy, clients could write any address there.
        pub trust_proxy: bool,
    }

    impl SiteConfig {
        /// Cookies are `Secure` when the site is served over https.
        pub fn secure_cookies(&self) -> bool {
            self.public_url.starts_with("https://")
        }
    }

    pub fn store() -> Result<Store, AppError> {
        use_context::<Store>().ok_or_else(|| {
            tracing::error!("no Store in the server function context");
            AppError::Internal
        })
    }

    pub fn site() -> Result<SiteConfig, AppError> {
        use_context::<SiteConfig>().ok_or_else(|| {
            tracing::error!("no SiteConfig in the server function context");
            AppError::Internal
        })
    }

    fn parts() -> Result<http::request::Parts, AppError> {
        use_context::<http::request::Parts>().ok_or_else(|| {
            tracing::error!("no request parts in the server function context");
            AppError::Internal
        })
    }

    /// The value of cookie `name` in the request, if any.
    fn cookie(headers: &http::HeaderMap, name: &str) -> Option<String> {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    }

    /// The session token in a request's cookie, if any (also for handlers outside
    /// Leptos, such as the event stream).
    pub fn session_token(headers: &http::HeaderMap) -> Option<String> {
        cookie(headers, COOKIE_NAME)
    }

    /// The person the request's session cookie signs in, if any.
    pub async fn signed_in() -> Result<Option<SignedIn>, AppError> {
        let parts = parts()?;
        let Some(token) = session_token(&parts.headers) else {
            return Ok(None);
        };
        Ok(sessions::authenticate(&store()?, &token).await?)
    }

    /// The signed-in person, or 401.
    pub async fn user() -> Result<SignedIn, AppError> {
        signed_in().await?.ok_or_else(AppError::unauthenticated)
    }

    /// The signed-in person acting in the team at `/<account>`, or 401/404.
    pub async fn current(account: &str) -> Result<Current, AppError> {
        let me = user().await?;
        Ok(chronicle::accounts::members::membership(&store()?, account, &me.user).await?)
    }

    pub fn client_ip() -> Option<IpAddr> {
        let parts = parts().ok()?;
        let forwarded = || {
            parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|ip| ip.trim().parse::<IpAddr>().ok())
        };
        if site().is_ok_and(|s| s.trust_proxy) {
            if let Some(ip) = forwarded() {
                return Some(ip);
            }
        }
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
    }

    pub fn user_agent() -> Option<String> {
        let parts = parts().ok()?;
        parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// Sets cookie `name`: HttpOnly (no script can read it), SameSite=Lax (not sent on
    /// cross-site POSTs), Secure behind https; `max_age` 0 deletes it.
    fn set_cookie(name: &str, value: &str, max_age: u64) -> Result<(), AppError> {
        let secure = if site()?.secure_cookies() {
            "; Secure"
        } else {
            ""
        };
        let header =
            format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
        let res = use_context::<leptos_axum::ResponseOptions>().ok_or(AppError::Internal)?;
        let header = HeaderValue::from_str(&header).map_err(|_| AppError::Internal)?;
        res.append_header(SET_COOKIE, header);
        Ok(())
    }

    /// The session cookie, for the session's lifetime.
    pub fn set_session_cookie(token: &str) -> Result<(), AppError> {
        set_cookie(COOKIE_NAME, token, sessions::SESSION_LIFETIME.as_secs())
    }

    pub fn clear_session_cookie() -> Result<(), AppError> {
        set_cookie(COOKIE_NAME, "", 0)
    }

    const NEXT_COOKIE: &str = "chronicle_next";

    /// Remembers, for as long as a sign-in link lasts, where this browser was going
    /// (checked by the caller with `auth::safe_next`, whose characters need no quoting).
    /// A request without one keeps an earlier target: the sign-in pages' own links
    /// ("send a new code") lead to a bare `/sign-in`.
    pub fn remember_next_path(next: &str) -> Result<(), AppError> {
        set_cookie(NEXT_COOKIE, next, sign_in::LINK_LIFETIME.as_secs())
    }

    /// Where this browser was going when it asked to sign in, if anywhere; forgotten as
    /// it is read.
    pub fn take_next_path() -> Result<Option<String>, AppError> {
        let next = cookie(&parts()?.headers, NEXT_COOKIE);
        if next.is_some() {
            set_cookie(NEXT_COOKIE, "", 0)?;
        }
        Ok(next)
    }

    /// Microseconds since the epoch as RFC 3339 (UTC).
    pub fn rfc3339(micros: i64) -> String {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default()
    }
}
