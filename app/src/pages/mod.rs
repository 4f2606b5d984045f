//! Pages, one file each. A page renders on the server and hydrates in the browser.

mod activity;
mod board;
mod card;
mod home;
mod mailbox;
mod members;
mod sign_in;
mod team;

pub use activity::ActivityPage;
pub use board::BoardPage;
pub use card::CardPage;
pub use home::HomePage;
pub use mailbox::MailboxPage;
pub use members::MembersPage;
pub use sign_in::{CheckEmailPage, SignInPage, VerifyPage};
pub use team::TeamPage;

use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <section class="page">
            <h1>"Page not found"</h1>
            <p>
                <a href="/">"Back to the start page"</a>
            </p>
        </section>
    }
}
