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

/// Percent-encodes a query value (enough for e-mail addresses and tokens).
pub fn query_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Who is signed in (`None` when nobody is).
#[server(endpoint = "me")]
pub async fn me() -> Result<Option<UserView>, AppError> {
    use super::ssr;
    Ok(ssr::signed_in().await?.map(|s| s.user.into()))
}

/// Mails a sign-in link and code to `email`, then shows the check-your-e-mail page.
#[server(endpoint = "request_sign_in")]
pub async fn request_sign_in(email: String) -> Result<(), AppError> {
    use super::ssr;
    use chronicle::identity::{sign_in, Email};
    let email = Email::parse(&email)?;
    let origin = sign_in::RequestOrigin {
        ip: ssr::client_ip(),
        base_url: ssr::site()?.public_url,
    };
    sign_in::request_sign_in(&ssr::store()?, &email, &origin).await?;
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
    leptos_axum::redirect("/");
    Ok(())
}

/// Signs in with the six-digit code from the e-mail.
#[server(endpoint = "sign_in_with_code")]
pub async fn sign_in_with_code(email: String, code: String) -> Result<(), AppError> {
    use super::ssr;
    use chronicle::identity::{sign_in, Email};
    let email = Email::parse(&email)?;
    let user = sign_in::redeem_code(&ssr::store()?, &email, &code).await?;
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
