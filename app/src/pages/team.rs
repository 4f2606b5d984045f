//! `/:account`: a team's home.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api::accounts::team;
use crate::components::ErrorMessage;

/// The `:account` segment of the URL.
pub fn account_param() -> impl Fn() -> String + Copy + Send + Sync + 'static {
    let params = use_params_map();
    move || params.with(|p| p.get("account").unwrap_or_default())
}

#[component]
pub fn TeamPage() -> impl IntoView {
    let account = account_param();
    let data = Resource::new(account, team);
    view! {
        <section class="page team">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    data.get()
                        .map(|r| match r {
                            Err(e) => view! { <ErrorMessage error=e /> }.into_any(),
                            Ok(t) => {
                                let members = format!("/{}/members", t.slug);
                                view! {
                                    <h1 data-testid="team-name">{t.name}</h1>
                                    <p class="muted">"You are " {t.role} " of this team."</p>
                                    <nav class="team-nav">
                                        <a href=members data-testid="members-link">"Members"</a>
                                    </nav>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Suspense>
        </section>
    }
}
