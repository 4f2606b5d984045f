//! Sign-in, sign-out and the signed-in person.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The signed-in person as pages show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub id: uuid::Uuid,
    pub name: String,
    pub email: String,
}

#[cfg(feature = "ssr")]
impl From<chronicle::identity::User> for UserView {
    fn from(u: chronicle::identity::User) -> Self {
        UserView {
            id: u.id.0,
            name: u.name,
            email: u.email,
        }
    }
}

/// Percent-encodes a query value (`application/x-www-form-urlencoded`).
pub fn query_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Who is signed in (`None` when nobody is).
#[server(endpoint = "me")]
pub async fn me() -> Result<Option<UserView>, AppError> {
    use super::ssr;
    Ok(ssr::signed_in().await?.map(|s| s.user.into()))
}

/// Where to go after signing in, if `next` is a path on this site: it starts with one
/// `/` (not `//`, which leaves the site) and holds only characters a path and query
/// need here — anything else (a scheme, a backslash, spaces, quotes) is refused.
pub fn safe_next(next: &str) -> Option<&str> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/-._~?=&%+:@".contains(c);
    let bytes = next.as_bytes();
    (bytes.first() == Some(&b'/')
        && bytes.get(1) != Some(&b'/')
        && next.len() <= 1000
        && next.chars().all(allowed))
    .then_some(next)
}

/// Mails a sign-in link and code to `email`, then shows the check-your-e-mail page.
/// `next` (a path on this site) is where signing in in this browser will lead.
#[server(endpoint = "request_sign_in")]
pub async fn request_sign_in(email: String, next: Option<String>) -> Result<(), AppError> {
    use super::ssr;
    use chronicle::identity::{sign_in, Email};
    let email = Email::parse(&email)?;
    let origin = sign_in::RequestOrigin {
        ip: ssr::client_ip(),
        base_url: ssr::site()?.public_url,
    };
    sign_in::request_sign_in(&ssr::store()?, &email, &origin).await?;
    if let Some(next) = next.as_deref().and_then(safe_next) {
        ssr::remember_next_path(next)?;
    }
    leptos_axum::redirect(&format!(
        "/sign-in/check?email={}",
        query_encode(email.as_str())
    ));
    Ok(())
}

#[cfg(feature = "ssr")]
async fn start_session(user: &chronicle::identity::User) -> Result<(), AppError> {
    use super::ssr;
    let session =
        chronicle::identity::sessions::start(&ssr::store()?, user.id, ssr::user_agent().as_deref())
            .await?;
    ssr::set_session_cookie(&session.token)?;
    let next = ssr::take_next_path()?;
    leptos_axum::redirect(next.as_deref().and_then(safe_next).unwrap_or("/"));
    Ok(())
}

/// Signs in with the six-digit code from the e-mail.
#[server(endpoint = "sign_in_with_code")]
pub async fn sign_in_with_code(email: String, code: String) -> Result<(), AppError> {
    use super::ssr;
    use chronicle::identity::{sign_in, Email};
    let email = Email::parse(&email)?;
    let user = sign_in::redeem_code(&ssr::store()?, &email, &code, ssr::client_ip()).await?;
    start_session(&user).await
}

/// Signs in with the token from the e-mailed link. (The link opens a page with a
/// button that posts here, so a mail scanner that follows links spends nothing.)
#[server(endpoint = "sign_in_with_link")]
pub async fn sign_in_with_link(token: String) -> Result<(), AppError> {
    use super::ssr;
    let user = chronicle::identity::sign_in::redeem_link(&ssr::store()?, &token).await?;
    start_session(&user).await
}

/// Signs out this browser, or every browser the person is signed in on.
#[server(endpoint = "sign_out")]
pub async fn sign_out(everywhere: Option<String>) -> Result<(), AppError> {
    use super::ssr;
    use chronicle::identity::sessions;
    let store = ssr::store()?;
    if let Some(me) = ssr::signed_in().await? {
        if everywhere.is_some() {
            sessions::end_all(&store, me.user.id).await?;
        } else {
            sessions::end(&store, me.session_id).await?;
        }
    }
    ssr::clear_session_cookie()?;
    leptos_axum::redirect("/sign-in");
    Ok(())
}

/// Changes the signed-in person's display name.
#[server(endpoint = "rename_me")]
pub async fn rename_me(name: String) -> Result<UserView, AppError> {
    use super::ssr;
    use chronicle::identity::{rename_user, UserName};
    let me = ssr::user().await?;
    let name = UserName::parse(&name)?;
    Ok(rename_user(&ssr::store()?, me.user.id, &name).await?.into())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_paths_on_this_site_are_followed_after_sign_in() {
        for ok in [
            "/",
            "/acme/boards/0192f0c1-8a3b-7c4d-9e5f-112233445566",
            "/acme/activity?who=mine&types=card.moved%2Ccard.created",
        ] {
            assert_eq!(safe_next(ok), Some(ok), "{ok}");
        }
        for bad in [
            "",
            "//evil.example/x",
            "/\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "acme/boards",
            "/a b",
            "/a\"onmouseover",
            "/a;b",
        ] {
            assert_eq!(safe_next(bad), None, "{bad}");
        }
    }
}
