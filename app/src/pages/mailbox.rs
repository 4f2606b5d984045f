//! `/dev/mailbox`: the newest outgoing mail, for development and tests (the server
//! enables it explicitly; otherwise the page is a 404).

use leptos::prelude::*;

use crate::api::mailbox::dev_mailbox;
use crate::components::ErrorMessage;

#[component]
pub fn MailboxPage() -> impl IntoView {
    let mail = Resource::new(|| (), |_| dev_mailbox());
    view! {
        <section class="page mailbox">
            <h1>"Development mailbox"</h1>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    mail.get()
                        .map(|r| match r {
                            Err(e) => view! { <ErrorMessage error=e /> }.into_any(),
                            Ok(list) if list.is_empty() => {
                                view! { <p class="empty">"No mail yet."</p> }.into_any()
                            }
                            Ok(list) => {
                                view! {
                                    <ol class="mail" data-testid="mailbox">
                                        {list
                                            .into_iter()
                                            .map(|m| {
                                                let recipient = m.recipient.clone();
                                                view! {
                                                    <li data-recipient=recipient>
                                                        <p class="meta">
                                                            <span class="to">"To " {m.recipient}</span>
                                                            " · "
                                                            <time datetime=m.created_at.clone()>{m.created_at.clone()}</time>
                                                        </p>
                                                        <h2 class="subject">{m.subject}</h2>
                                                        <pre class="body">{m.body}</pre>
                                                    </li>
                                                }
                                            })
                                            .collect_view()}
                                    </ol>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Suspense>
        </section>
    }
}
