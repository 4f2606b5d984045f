//! `/:account/cards/:card`: a card's fields, its thread (people's comments interleaved
//! with Chronicle's messages about each change) and who follows it.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use uuid::Uuid;

use super::team::account_param;
use crate::api::activity::FeedScopeView;
use crate::api::cards::{
    card, AddComment, ArchiveCard, CardData, DeleteCard, DeleteComment, EditComment, MoveCard,
    RestoreCard, SetCardStatus, SetSubscribed, ThreadEntry, UpdateCard,
};
use crate::components::{clock, relative, ActivityFeed, Avatar, ErrorMessage, LastError};

const STATUSES: [(&str, &str); 4] = [
    ("open", "Open"),
    ("in_progress", "In progress"),
    ("blocked", "Blocked"),
    ("done", "Done"),
];

#[component]
pub fn CardPage() -> impl IntoView {
    let account = account_param();
    let params = use_params_map();
    let card_id = move || params.with(|p| p.get("card").and_then(|c| Uuid::parse_str(&c).ok()));
    let update = ServerAction::<UpdateCard>::new();
    let status = ServerAction::<SetCardStatus>::new();
    let move_card = ServerAction::<MoveCard>::new();
    let comment = ServerAction::<AddComment>::new();
    let delete_comment = ServerAction::<DeleteComment>::new();
    let edit_comment = ServerAction::<EditComment>::new();
    let subscribe = ServerAction::<SetSubscribed>::new();
    let archive = ServerAction::<ArchiveCard>::new();
    let delete = ServerAction::<DeleteCard>::new();
    let restore = ServerAction::<RestoreCard>::new();
    let data = Resource::new(
        move || {
            (
                account(),
                card_id(),
                update.version().get(),
                status.version().get(),
                move_card.version().get(),
                comment.version().get(),
                delete_comment.version().get(),
                edit_comment.version().get(),
                subscribe.version().get(),
                restore.version().get(),
            )
        },
        |(account, id, ..)| async move {
            match id {
                Some(id) => card(account, id).await,
                None => Err(crate::error::AppError::not_found("card")),
            }
        },
    );
    let last_error = LastError::new()
        .watch(update)
        .watch(status)
        .watch(move_card)
        .watch(comment)
        .watch(delete_comment)
        .watch(edit_comment)
        .watch(subscribe)
        .watch(archive)
        .watch(delete)
        .watch(restore);
    let error = move || last_error.get();
    let comment_box = NodeRef::<leptos::html::Textarea>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = comment.value().get() {
            if let Some(el) = comment_box.get() {
                el.set_value("");
            }
        }
    });
    let forms = Forms {
        update,
        status,
        move_card,
        comment,
        delete_comment,
        edit_comment,
        subscribe,
        archive,
        delete,
        restore,
        comment_box,
    };
    view! {
        <section class="page card-page">
            <Show when=move || error().is_some()>
                <p class="error" role="alert" data-testid="card-error">{error}</p>
            </Show>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    let slug = account();
                    data.get()
                        .map(|r| match r {
                            Err(e) => view! { <ErrorMessage error=e /> }.into_any(),
                            Ok(d) => card_view(d, slug, forms).into_any(),
                        })
                }}
            </Transition>
            // Outside the card's Transition (as on the board page), so reloading the
            // card after an edit does not tear down the live feed.
            {move || {
                card_id()
                    .map(|id| {
                        view! {
                            <aside class="card-feed">
                                <ActivityFeed account=account() scope=FeedScopeView::Card(id) />
                            </aside>
                        }
                    })
            }}
        </section>
    }
}

#[derive(Clone, Copy)]
struct Forms {
    update: ServerAction<UpdateCard>,
    status: ServerAction<SetCardStatus>,
    move_card: ServerAction<MoveCard>,
    comment: ServerAction<AddComment>,
    delete_comment: ServerAction<DeleteComment>,
    edit_comment: ServerAction<EditComment>,
    subscribe: ServerAction<SetSubscribed>,
    archive: ServerAction<ArchiveCard>,
    delete: ServerAction<DeleteCard>,
    restore: ServerAction<RestoreCard>,
    comment_box: NodeRef<leptos::html::Textarea>,
}

fn card_view(d: CardData, slug: String, f: Forms) -> impl IntoView {
    let [a1, a2, a3, a4, a5, a6, a7] = std::array::from_fn(|_| slug.clone());
    let [i1, i2, i3, i4, i5, i6, i7] = std::array::from_fn(|_| d.id.to_string());
    let now_ms = clock(d.rendered_ms);
    let board_href = format!("/{slug}/boards/{}", d.board.id);
    let board_name = d.board.name.clone();
    let assignees = d
        .members
        .iter()
        .map(|m| {
            let (value, name, selected) = (
                m.id.to_string(),
                m.name.clone(),
                d.assignee_id == Some(m.id),
            );
            view! { <option value=value selected=selected>{name}</option> }
        })
        .collect_view();
    let statuses = STATUSES
        .iter()
        .map(|(value, label)| {
            let selected = *value == d.status;
            view! { <option value=*value selected=selected>{*label}</option> }
        })
        .collect_view();
    let columns = d
        .columns
        .iter()
        .map(|c| {
            let (value, name, selected) = (c.id.to_string(), c.name.clone(), c.id == d.column.id);
            view! { <option value=value selected=selected>{name}</option> }
        })
        .collect_view();
    let thread = d
        .thread
        .iter()
        .map(|m| {
            thread_entry(
                m.clone(),
                now_ms,
                &slug,
                d.me,
                d.can_moderate,
                f.delete_comment,
                f.edit_comment,
            )
        })
        .collect_view();
    let followers = d
        .subscribers
        .iter()
        .map(|p| p.name.clone())
        .collect::<Vec<_>>()
        .join(", ");
    let (follow_label, follow_value) = if d.subscribed {
        ("Unsubscribe", "false")
    } else {
        ("Subscribe", "true")
    };
    let title = d.title.clone();
    let archived = d.archived.then(|| {
        view! {
            <p class="muted" data-testid="card-archived">
                "This card is archived: it is off the board until it is restored."
            </p>
        }
    });
    // An archived card can be restored (or deleted); moving or archiving it again cannot.
    let (move_form, archive_or_restore) = if d.archived {
        let label = format!("Restore to {}", d.column.name);
        let restore = view! {
            <ActionForm action=f.restore attr:class="inline">
                <input type="hidden" name="account" value=a6 />
                <input type="hidden" name="card_id" value=i6 />
                <button type="submit">{label}</button>
            </ActionForm>
        };
        (None, restore.into_any())
    } else {
        let move_form = view! {
            <ActionForm action=f.move_card attr:class="stack">
                <input type="hidden" name="account" value=a4 />
                <input type="hidden" name="card_id" value=i4 />
                <input type="hidden" name="position" value=i32::MAX.to_string() />
                <label for="card-move">"Move to"</label>
                <select id="card-move" name="column_id">{columns}</select>
                <button type="submit">"Move"</button>
            </ActionForm>
        };
        let archive = view! {
            <ActionForm action=f.archive attr:class="inline">
                <input type="hidden" name="account" value=a6 />
                <input type="hidden" name="card_id" value=i6 />
                <button type="submit">"Archive"</button>
            </ActionForm>
        };
        (Some(move_form), archive.into_any())
    };
    view! {
        <p class="crumbs">
            <a href=board_href>{board_name}</a>
            " · in " <span data-testid="card-column">{d.column.name.clone()}</span>
        </p>
        <h1 data-testid="card-title">{title}</h1>
        {archived}
        <div class="card-layout">
            <div class="card-main">
                <ActionForm action=f.update attr:class="card-fields">
                    <input type="hidden" name="account" value=a1 />
                    <input type="hidden" name="card_id" value=i1 />
                    <input type="hidden" name="version" value=d.version.to_string() />
                    <label for="card-title">"Title"</label>
                    <input id="card-title" type="text" name="title" required maxlength="200" value=d.title.clone() />
                    <label for="card-description">"Description"</label>
                    <textarea id="card-description" name="description" rows="5" maxlength="20000">{d.description.clone()}</textarea>
                    <label for="card-assignee">"Assignee"</label>
                    <select id="card-assignee" name="assignee_id">
                        <option value="">"Nobody"</option>
                        {assignees}
                    </select>
                    <label for="card-due">"Due date"</label>
                    <input id="card-due" type="date" name="due_date" value=d.due_date.clone().unwrap_or_default() />
                    <button type="submit">"Save changes"</button>
                </ActionForm>

                <h2>"Thread"</h2>
                <ol class="thread" data-testid="thread" aria-live="polite">{thread}</ol>
                <ActionForm action=f.comment attr:class="add-comment">
                    <input type="hidden" name="account" value=a2 />
                    <input type="hidden" name="card_id" value=i2 />
                    <label for="comment-body">"Comment"</label>
                    <textarea node_ref=f.comment_box id="comment-body" name="body" required rows="3" maxlength="10000"></textarea>
                    <button type="submit">"Comment"</button>
                </ActionForm>
            </div>
            <aside class="card-side">
                <ActionForm action=f.status attr:class="stack">
                    <input type="hidden" name="account" value=a3 />
                    <input type="hidden" name="card_id" value=i3 />
                    <label for="card-status">"Status"</label>
                    <select id="card-status" name="status">{statuses}</select>
                    <input type="text" name="reason" maxlength="500" placeholder="Reason (optional)" aria-label="Reason for the status change" />
                    <button type="submit">"Set status"</button>
                </ActionForm>
                {move_form}
                <h2>"Subscribers"</h2>
                <p data-testid="subscribers">{followers}</p>
                <ActionForm action=f.subscribe attr:class="inline">
                    <input type="hidden" name="account" value=a5 />
                    <input type="hidden" name="card_id" value=i5 />
                    <input type="hidden" name="subscribed" value=follow_value />
                    <button type="submit">{follow_label}</button>
                </ActionForm>
                <h2>"Card"</h2>
                {archive_or_restore}
                // Deleting cannot be undone: it asks first.
                <details class="confirm">
                    <summary>"Delete…"</summary>
                    <p>"Delete this card and its thread for good? The activity log keeps a record of it."</p>
                    <ActionForm action=f.delete attr:class="inline">
                        <input type="hidden" name="account" value=a7 />
                        <input type="hidden" name="card_id" value=i7 />
                        <button type="submit" class="danger">"Delete for good"</button>
                    </ActionForm>
                </details>
            </aside>
        </div>
    }
}

fn thread_entry(
    m: ThreadEntry,
    now_ms: RwSignal<i64>,
    slug: &str,
    me: Uuid,
    can_moderate: bool,
    delete: ServerAction<DeleteComment>,
    edit: ServerAction<EditComment>,
) -> impl IntoView {
    let removable = !m.system && (m.author_id == Some(me) || can_moderate);
    let editable = (!m.system && m.author_id == Some(me)).then(|| {
        let (account, id, body) = (slug.to_owned(), m.id.to_string(), m.body.clone());
        view! {
            <details class="edit-comment">
                <summary>"Edit"</summary>
                <ActionForm action=edit attr:class="stack">
                    <input type="hidden" name="account" value=account />
                    <input type="hidden" name="comment_id" value=id />
                    <textarea name="body" required rows="3" maxlength="10000" aria-label="Edit comment">{body}</textarea>
                    <button type="submit">"Save comment"</button>
                </ActionForm>
            </details>
        }
    });
    let remove = removable.then(|| {
        let (account, id) = (slug.to_owned(), m.id.to_string());
        view! {
            <ActionForm action=delete attr:class="inline">
                <input type="hidden" name="account" value=account />
                <input type="hidden" name="comment_id" value=id />
                <button type="submit" class="link">"Delete"</button>
            </ActionForm>
        }
    });
    let class = if m.system {
        "entry system"
    } else {
        "entry comment"
    };
    let created_ms = m.created_ms;
    let when = move || relative(created_ms, now_ms.get());
    let (stamp, title) = (m.created_at.clone(), m.created_at.replace('T', " "));
    view! {
        <li class=class>
            <p class="who">
                <Avatar name=m.author_name.clone() size="small" />
                <strong>{m.author_name}</strong>
                " · "
                <time datetime=stamp title=title>{when}</time>
            </p>
            <p class="body">{m.body}</p>
            {editable}
            {remove}
        </li>
    }
}
