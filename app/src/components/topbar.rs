//! The bar on every page: the brand, the team switcher and the signed-in person with
//! sign-out. Refetched on every navigation, so signing in or joining a team shows at
//! once.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use super::theme::ThemeChoice;
use super::Avatar;
use crate::api::accounts::my_teams;
use crate::api::auth::{me, SignOut};

/// Counts changes to the signed-in person or their teams made without navigating (a new
/// name, say): the bar reloads on each, as it does on every navigation.
#[derive(Clone, Copy)]
pub struct WhoChanged(RwSignal<u32>);

impl WhoChanged {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self(RwSignal::new(0))
    }

    /// Tells the bar.
    pub fn bump(self) {
        self.0.update(|n| *n += 1);
    }
}

#[component]
pub fn TopBar() -> impl IntoView {
    let location = use_location();
    let sign_out = ServerAction::<SignOut>::new();
    let changed = use_context::<WhoChanged>().unwrap_or_else(WhoChanged::new);
    let who = Resource::new(
        move || {
            (
                location.pathname.get(),
                sign_out.version().get(),
                changed.0.get(),
            )
        },
        |_| async move {
            let user = me().await.ok().flatten();
            let teams = if user.is_some() {
                my_teams().await.unwrap_or_default()
            } else {
                Vec::new()
            };
            (user, teams)
        },
    );
    // The team in the URL, to mark it in the switcher.
    let current_slug = move || {
        location
            .pathname
            .get()
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    };

    view! {
        <header class="topbar">
            <a class="brand" href="/">
                "Chronicle"
            </a>
            <Transition fallback=|| ()>
                {move || {
                    who.get()
                        .map(|(user, teams)| match user {
                            None => {
                                view! {
                                    <nav class="session">
                                        <ThemeChoice />
                                        <a href="/sign-in" data-testid="sign-in-link">
                                            "Sign in"
                                        </a>
                                    </nav>
                                }
                                    .into_any()
                            }
                            Some(user) => {
                                let here = current_slug();
                                view! {
                                    <nav class="teams" aria-label="Your teams" data-testid="team-switcher">
                                        <details>
                                            <summary>
                                                {teams
                                                    .iter()
                                                    .find(|t| t.slug == here)
                                                    .map(|t| t.name.clone())
                                                    .unwrap_or_else(|| "Your teams".to_owned())}
                                            </summary>
                                            <ul>
                                                {teams
                                                    .into_iter()
                                                    .map(|t| {
                                                        let href = format!("/{}", t.slug);
                                                        let current = (t.slug == here).then_some("page");
                                                        view! {
                                                            <li>
                                                                <a href=href aria-current=current>
                                                                    {t.name}
                                                                </a>
                                                            </li>
                                                        }
                                                    })
                                                    .collect_view()}
                                                <li>
                                                    <a href="/">"All teams…"</a>
                                                </li>
                                            </ul>
                                        </details>
                                    </nav>
                                    <nav class="session">
                                        <ThemeChoice />
                                        <Avatar name=user.name.clone() />
                                        <span class="me" data-testid="me">
                                            {user.name}
                                        </span>
                                        <ActionForm action=sign_out attr:class="inline">
                                            <button type="submit" class="secondary">"Sign out"</button>
                                        </ActionForm>
                                    </nav>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
        </header>
    }
}
