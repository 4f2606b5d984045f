//! Pieces several pages share.

mod feed;
mod topbar;

pub use feed::ActivityFeed;
pub use topbar::TopBar;

use leptos::prelude::*;

use crate::error::AppError;

/// An error in place of a page's content, with the status it deserves when rendered on
/// the server (pages that can fail render in `SsrMode::Async`, so the status is set
/// before the response starts).
#[component]
pub fn ErrorMessage(error: AppError) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(error.status());
    }
    let sign_in = matches!(error, AppError::Unauthenticated { .. });
    view! {
        <div class="error-page" role="alert" data-testid="page-error">
            <p class="error">{error.to_string()}</p>
            <Show when=move || sign_in>
                <p>
                    <a href="/sign-in">"Sign in"</a>
                </p>
            </Show>
        </div>
    }
}
