//! `/`: for a signed-in person, their teams, invitations waiting for them, a form to
//! create a team and their name; for everyone else, the way in.

use leptos::prelude::*;

use crate::api::accounts::{my_teams, CreateTeam};
use crate::api::auth::{me, RenameMe, SignOut};
use crate::api::members::{my_invitations, AcceptInvitation};

#[component]
pub fn HomePage() -> impl IntoView {
    let create = ServerAction::<CreateTeam>::new();
    let accept = ServerAction::<AcceptInvitation>::new();
    let rename = ServerAction::<RenameMe>::new();
    let sign_out_everywhere = ServerAction::<SignOut>::new();
    let data = Resource::new(
        move || {
            (
                create.version().get(),
                accept.version().get(),
                rename.version().get(),
            )
        },
        |_| async move {
            let user = me().await?;
            let teams = my_teams().await?;
            let invitations = my_invitations().await?;
            Ok::<_, crate::error::AppError>((user, teams, invitations))
        },
    );
    let create_error = move || {
        create
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| e.to_string())
    };
    let accept_error = move || {
        accept
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| e.to_string())
    };
    // The top bar shows the name and the teams too.
    let who_changed = use_context::<crate::components::WhoChanged>();
    Effect::new(move |seen: Option<()>| {
        let done = [
            create.version().get(),
            accept.version().get(),
            rename.version().get(),
        ];
        if seen.is_some() && done.iter().any(|v| *v > 0) {
            if let Some(who) = who_changed {
                who.bump();
            }
        }
    });
    let rename_error = move || {
        rename
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| e.to_string())
    };

    view! {
        <section class="page home">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    data.get()
                        .map(|r| match r {
                            Err(e) => view! { <crate::components::ErrorMessage error=e /> }.into_any(),
                            Ok((None, _, _)) => {
                                view! {
                                    <h1>"Chronicle"</h1>
                                    <p class="lead">
                                        "A team board that remembers every change: who moved what, when, and from where to where."
                                    </p>
                                    <p>
                                        <a class="button" href="/sign-in" data-testid="start">
                                            "Sign in or sign up"
                                        </a>
                                    </p>
                                }
                                    .into_any()
                            }
                            Ok((Some(user), teams, invitations)) => {
                                let has_teams = !teams.is_empty();
                                let has_invitations = !invitations.is_empty();
                                view! {
                                    <h1>"Your teams"</h1>
                                    <Show when=move || has_invitations>
                                        <section class="invitations" data-testid="my-invitations">
                                            <h2>"Invitations"</h2>
                                            <ul>
                                                {invitations
                                                    .clone()
                                                    .into_iter()
                                                    .map(|i| {
                                                        view! {
                                                            <li data-team=i.team_slug.clone()>
                                                                <span>
                                                                    {i.invited_by_name} " invited you to " <strong>{i.team_name}</strong>
                                                                    " as " {i.role}
                                                                </span>
                                                                <ActionForm action=accept attr:class="inline">
                                                                    <input type="hidden" name="account_id" value=i.account_id.to_string() />
                                                                    <input type="hidden" name="invitation_id" value=i.id.to_string() />
                                                                    <button type="submit">"Join"</button>
                                                                </ActionForm>
                                                            </li>
                                                        }
                                                    })
                                                    .collect_view()}
                                            </ul>
                                            <Show when=move || accept_error().is_some()>
                                                <p class="error" role="alert">{accept_error}</p>
                                            </Show>
                                        </section>
                                    </Show>
                                    {if has_teams {
                                        view! {
                                            <ul class="teams" data-testid="teams">
                                                {teams
                                                    .into_iter()
                                                    .map(|t| {
                                                        let href = format!("/{}", t.slug);
                                                        view! {
                                                            <li data-slug=t.slug.clone()>
                                                                <a href=href>{t.name}</a>
                                                                <span class="role">{t.role}</span>
                                                            </li>
                                                        }
                                                    })
                                                    .collect_view()}
                                            </ul>
                                        }
                                            .into_any()
                                    } else {
                                        view! {
                                            <p class="empty" data-testid="no-teams">
                                                "You are not in a team yet. Create one, or ask a teammate to invite "
                                                {user.email.clone()} "."
                                            </p>
                                        }
                                            .into_any()
                                    }}
                                    <h2>"Create a team"</h2>
                                    <ActionForm action=create attr:class="create-team">
                                        <label for="team-name">"Team name"</label>
                                        <input id="team-name" type="text" name="name" required maxlength="80" autocomplete="organization" placeholder="e.g. Acme Design" />
                                        <button type="submit" disabled=move || create.pending().get()>
                                            "Create team"
                                        </button>
                                    </ActionForm>
                                    <Show when=move || create_error().is_some()>
                                        <p class="error" role="alert" data-testid="create-error">{create_error}</p>
                                    </Show>
                                    <h2>"Your name"</h2>
                                    <ActionForm action=rename attr:class="rename-me">
                                        <label for="my-name">"Name teammates see"</label>
                                        <input id="my-name" type="text" name="name" required maxlength="80" autocomplete="name" value=user.name.clone() />
                                        <button type="submit">"Save"</button>
                                    </ActionForm>
                                    <Show when=move || rename_error().is_some()>
                                        <p class="error" role="alert">{rename_error}</p>
                                    </Show>
                                    <h2>"Your sessions"</h2>
                                    <ActionForm action=sign_out_everywhere attr:class="inline">
                                        <input type="hidden" name="everywhere" value="yes" />
                                        <button type="submit">"Sign out on every device"</button>
                                    </ActionForm>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Suspense>
        </section>
    }
}
