//! Pieces several pages share.

mod avatar;
mod feed;
mod icon;
mod theme;
mod topbar;

pub use avatar::Avatar;
pub use feed::{clock, relative, ActivityFeed};
pub use icon::{event_icon, Icon, IconData};
pub use theme::{ThemeChoice, THEME_SCRIPT};
pub use topbar::{TopBar, WhoChanged};

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

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
    // Back to this page once signed in.
    let location = leptos_router::hooks::use_location();
    let sign_in_href = move || {
        let (path, query) = (location.pathname.get(), location.search.get());
        let here = if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        };
        format!("/sign-in?next={}", crate::api::auth::query_encode(&here))
    };
    view! {
        <div class="error-page" role="alert" data-testid="page-error">
            <p class="error">{error.to_string()}</p>
            <Show when=move || sign_in>
                <p>
                    <a href=sign_in_href>"Sign in"</a>
                </p>
            </Show>
        </div>
    }
}

/// A page's latest failed action, for its one alert: set when a watched action fails,
/// cleared as soon as any watched action starts, so an old error neither hides a newer
/// one nor outlives the next success.
#[derive(Clone, Copy)]
pub struct LastError(RwSignal<Option<String>>);

impl LastError {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self(RwSignal::new(None))
    }

    /// Shows `action`'s failures.
    pub fn watch<S>(self, action: ServerAction<S>) -> Self
    where
        S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
        S::Output: Send + Sync + 'static,
    {
        fn message<O>(v: &Option<Result<O, AppError>>) -> Option<String> {
            v.as_ref()
                .and_then(|r| r.as_ref().err().map(|e| e.to_string()))
        }
        // A failure already there: a form posted without JavaScript comes back with it.
        if let Some(e) = action.value().with_untracked(message) {
            self.0.set(Some(e));
        }
        let pending = action.pending();
        Effect::new(move |_| {
            if pending.get() {
                self.0.set(None);
            }
        });
        Effect::new(move |seen: Option<()>| {
            let failed = action.value().with(message);
            if seen.is_some() {
                if let Some(e) = failed {
                    self.0.set(Some(e));
                }
            }
        });
        self
    }

    pub fn get(self) -> Option<String> {
        self.0.get()
    }
}

/// Closes every open confirmation (`<details class="confirm">`) on the page: after the
/// action it asked about, a list re-rendered in place could otherwise show the open
/// question — and its button — on the row that took the place of the one acted on.
pub fn close_confirmations() {
    #[cfg(feature = "hydrate")]
    each::<leptos::web_sys::Element>("details.confirm[open]", |el| {
        let _ = el.remove_attribute("open");
    });
}

/// Calls `f` on every element of the page that matches `selector` and is a `T`.
#[cfg(feature = "hydrate")]
pub fn each<T: leptos::wasm_bindgen::JsCast>(selector: &str, mut f: impl FnMut(T)) {
    if let Ok(found) = document().query_selector_all(selector) {
        for i in 0..found.length() {
            if let Some(el) = found
                .item(i)
                .and_then(|n| leptos::wasm_bindgen::JsCast::dyn_into::<T>(n).ok())
            {
                f(el);
            }
        }
    }
}
