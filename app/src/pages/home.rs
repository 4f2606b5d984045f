//! The start page: the accounts (teams) on this server, and a form to create one.

use leptos::prelude::*;

use crate::api::accounts::{list_accounts, CreateAccount};

#[component]
pub fn HomePage() -> impl IntoView {
    let create = ServerAction::<CreateAccount>::new();
    let name_input = NodeRef::<leptos::html::Input>::new();
    // A created team clears the field for the next one.
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            if let Some(input) = name_input.get() {
                input.set_value("");
            }
        }
    });
    // Refetched whenever an account has been created.
    let accounts = Resource::new(move || create.version().get(), |_| list_accounts());
    let error = move || {
        create
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| e.to_string())
    };

    view! {
        <section class="page home">
            <h1>"Your teams"</h1>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    accounts
                        .get()
                        .map(|result| match result {
                            Ok(list) if list.is_empty() => {
                                view! {
                                    <p class="empty" data-testid="no-accounts">
                                        "No teams yet. Create the first one below."
                                    </p>
                                }
                                    .into_any()
                            }
                            Ok(list) => {
                                view! {
                                    <ul class="accounts" data-testid="accounts">
                                        <For
                                            each=move || list.clone()
                                            key=|a| a.id
                                            children=|a| {
                                                let path = format!("/{}", a.slug);
                                                view! {
                                                    <li data-slug=a.slug>
                                                        <span class="name">{a.name}</span>
                                                        <span class="slug">{path}</span>
                                                    </li>
                                                }
                                            }
                                        />
                                    </ul>
                                }
                                    .into_any()
                            }
                            Err(e) => {
                                view! {
                                    <p class="error" role="alert">
                                        {e.to_string()}
                                    </p>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Transition>

            <h2>"Create a team"</h2>
            <ActionForm action=create attr:class="create-account">
                <label for="account-name">"Team name"</label>
                <input
                    node_ref=name_input
                    id="account-name"
                    type="text"
                    name="name"
                    required
                    maxlength="80"
                    autocomplete="organization"
                    placeholder="e.g. Acme Design"
                />
                <button type="submit" disabled=move || create.pending().get()>
                    "Create team"
                </button>
            </ActionForm>
            <Show when=move || error().is_some()>
                <p class="error" role="alert" data-testid="create-error">
                    {error}
                </p>
            </Show>
        </section>
    }
}
