//! `/:account/boards/:board`: the board, its columns and cards.
//!
//! Cards move by dragging (pointer events, so a mouse, a pen or — by the ⠿ handle — a
//! finger) or, without a pointer, with each card's "Move to…" menu. A move shows at once
//! (optimistically) and the board then reloads the server's answer: on success that is
//! the same picture, on failure the card goes back and the reason is shown.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use uuid::Uuid;

use super::team::account_param;
use crate::api::activity::FeedScopeView;
use crate::api::boards::{
    board, AddColumn, ArchiveColumnCards, ArchivedCardView, BoardData, CardView, ColumnView,
    DeleteColumn, MoveColumn, RenameBoard, RenameColumn,
};
use crate::api::cards::{CreateCard, MoveCard};
use crate::components::{ActivityFeed, Avatar, ErrorMessage, Icon, LastError};

/// A card being pressed or dragged.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Drag {
    card: Uuid,
    x: i32,
    y: i32,
    /// Moved far enough to be a drag rather than a click.
    active: bool,
}

/// Moves `card` to `position` (clamped) in `to` within `columns`; returns the position
/// it landed at, or `None` if nothing changed.
fn apply_move(columns: &mut [ColumnView], card: Uuid, to: Uuid, position: usize) -> Option<usize> {
    let (from_index, from_pos) = columns
        .iter()
        .enumerate()
        .find_map(|(i, c)| c.cards.iter().position(|k| k.id == card).map(|p| (i, p)))?;
    let to_index = columns.iter().position(|c| c.id == to)?;
    let moving = columns[from_index].cards.remove(from_pos);
    let landed = position.min(columns[to_index].cards.len());
    columns[to_index].cards.insert(landed, moving);
    if from_index == to_index && from_pos == landed {
        return None;
    }
    Some(landed)
}

#[component]
pub fn BoardPage() -> impl IntoView {
    let account = account_param();
    let params = use_params_map();
    let board_id = move || params.with(|p| p.get("board").and_then(|b| Uuid::parse_str(&b).ok()));
    let move_card = ServerAction::<MoveCard>::new();
    let create_card = ServerAction::<CreateCard>::new();
    let add_column = ServerAction::<AddColumn>::new();
    let rename_column = ServerAction::<RenameColumn>::new();
    let move_column = ServerAction::<MoveColumn>::new();
    let delete_column = ServerAction::<DeleteColumn>::new();
    let archive_all = ServerAction::<ArchiveColumnCards>::new();
    let rename_board = ServerAction::<RenameBoard>::new();
    // Someone else changed the board: reload it — but not under the hands of a person
    // typing in one of its fields; then after they leave the field.
    let remote = RwSignal::new(0u32);
    let deferred = RwSignal::new(false);
    let on_item = Callback::new(move |item: crate::api::activity::ActivityView| {
        let about_board = ["card.", "column.", "board."]
            .iter()
            .any(|p| item.event_type.starts_with(p));
        if !about_board {
            return;
        }
        if editing_on_board() {
            deferred.set(true);
        } else {
            remote.update(|n| *n += 1);
        }
    });
    let on_focus_out = move |_| {
        if deferred.get_untracked() {
            deferred.set(false);
            remote.update(|n| *n += 1);
        }
    };
    let data = Resource::new(
        move || {
            (
                account(),
                board_id(),
                move_card.version().get(),
                move_card.value().with(|v| matches!(v, Some(Err(_)))),
                create_card.version().get(),
                add_column.version().get(),
                rename_column.version().get(),
                move_column.version().get(),
                delete_column.version().get(),
                archive_all.version().get(),
                rename_board.version().get(),
                remote.get(),
            )
        },
        |(account, board_id, ..)| async move {
            match board_id {
                Some(id) => board(account, id).await,
                None => Err(crate::error::AppError::not_found("board")),
            }
        },
    );
    let actions = Actions {
        move_card,
        create_card,
        add_column,
        rename_column,
        move_column,
        delete_column,
        archive_all,
        rename_board,
        refocus: RwSignal::new(None),
    };
    let last_error = LastError::new()
        .watch(move_card)
        .watch(create_card)
        .watch(add_column)
        .watch(rename_column)
        .watch(move_column)
        .watch(delete_column)
        .watch(archive_all)
        .watch(rename_board);
    let error = move || last_error.get();
    let feed = move || {
        board_id().map(|id| {
            view! { <ActivityFeed account=account() scope=FeedScopeView::Board(id) on_item=on_item /> }
        })
    };
    view! {
        <section class="page board-page">
            <Show when=move || error().is_some()>
                <p class="error" role="alert" data-testid="board-error">{error}</p>
            </Show>
            <div class="board-layout" on:focusout=on_focus_out>
                <div class="board-main">
                    <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                        {move || {
                            data.get()
                                .map(|r| match r {
                                    Err(e) => view! { <ErrorMessage error=e /> }.into_any(),
                                    Ok(d) => board_view(d, actions).into_any(),
                                })
                        }}
                    </Transition>
                </div>
                <aside class="board-feed">{feed}</aside>
            </div>
        </section>
    }
}

/// Whether a text field, menu or button on the board has the keyboard focus.
fn editing_on_board() -> bool {
    #[cfg(feature = "hydrate")]
    {
        document()
            .active_element()
            .map(|el| {
                matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
                    && el.closest(".board").ok().flatten().is_some()
            })
            .unwrap_or(false)
    }
    #[cfg(not(feature = "hydrate"))]
    false
}

/// The control an action started from (its `data-focus`) and when (ms since the epoch):
/// the board re-renders after each action — optimistically, when the live feed brings
/// the change, and with the server's answer — and for a few seconds each re-render
/// gives the control the focus back instead of leaving it on the page's body.
type Refocus = RwSignal<Option<(String, f64)>>;

const REFOCUS_WITHIN_MS: f64 = 5000.0;

fn now_ms() -> f64 {
    #[cfg(feature = "hydrate")]
    return js_sys::Date::now();
    #[cfg(not(feature = "hydrate"))]
    0.0
}

fn refocus_later(refocus: Refocus, key: String) {
    refocus.set(Some((key, now_ms())));
}

/// What the board page's forms and menus need.
#[derive(Clone, Copy)]
struct Actions {
    move_card: ServerAction<MoveCard>,
    create_card: ServerAction<CreateCard>,
    add_column: ServerAction<AddColumn>,
    rename_column: ServerAction<RenameColumn>,
    move_column: ServerAction<MoveColumn>,
    delete_column: ServerAction<DeleteColumn>,
    archive_all: ServerAction<ArchiveColumnCards>,
    rename_board: ServerAction<RenameBoard>,
    refocus: Refocus,
}

/// Gives the focus back to the control named `key` (its `data-focus`) if the focus was
/// lost on the page's body after a re-render — or, with `reused`, right after the
/// action's own optimistic change, if it sits on another board control whose element
/// the re-render reused for a different card. It never takes the focus from a control
/// the person moved to.
fn restore_focus(key: &str, reused: bool) {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::JsCast;
        let doc = document();
        let lost = doc.active_element().is_none_or(|el| {
            el.tag_name() == "BODY"
                || (reused
                    && el.closest(".board").ok().flatten().is_some()
                    && el.get_attribute("data-focus").as_deref() != Some(key))
        });
        if lost {
            if let Some(el) = doc
                .query_selector(&format!("[data-focus=\"{key}\"]"))
                .ok()
                .flatten()
                .and_then(|el| el.dyn_into::<leptos::web_sys::HtmlElement>().ok())
            {
                let _ = el.focus();
            }
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (key, reused);
}

fn board_view(d: BoardData, actions: Actions) -> impl IntoView {
    let slug = d.team.slug.clone();
    let board_id = d.board.id;
    // The board as shown: the server's answer, moved optimistically until the next one.
    let columns = RwSignal::new(d.columns);
    let today = d.today.clone();
    let drag = RwSignal::new(None::<Drag>);
    // After this view mounts and after each optimistic change, the control a recent
    // action came from gets the focus back.
    let refocus = actions.refocus;
    Effect::new(move |_| {
        columns.track();
        // A column re-rendered in place keeps no other column's open question.
        crate::components::close_confirmations();
        if let Some((key, at)) = refocus.get_untracked() {
            let age = now_ms() - at;
            if age <= REFOCUS_WITHIN_MS {
                restore_focus(&key, age < 300.0);
            } else {
                refocus.set(None);
            }
        }
    });
    let archived = archived_view(d.archived, &d.team.slug);

    let dispatch_move = {
        let slug = slug.clone();
        move |card: Uuid, to: Uuid, position: usize| {
            let landed = columns
                .try_update(|cs| apply_move(cs, card, to, position))
                .flatten();
            if let Some(landed) = landed {
                actions.move_card.dispatch(MoveCard {
                    account: slug.clone(),
                    card_id: card,
                    column_id: to,
                    position: i32::try_from(landed).unwrap_or(i32::MAX),
                });
            }
        }
    };

    let on_move = move |ev: leptos::ev::PointerEvent| {
        if let Some(d) = drag.get_untracked() {
            if !d.active && ((ev.client_x() - d.x).abs() > 4 || (ev.client_y() - d.y).abs() > 4) {
                drag.set(Some(Drag { active: true, ..d }));
            }
        }
    };
    let on_up = {
        let dispatch_move = dispatch_move.clone();
        move |ev: leptos::ev::PointerEvent| {
            let Some(d) = drag.get_untracked() else {
                return;
            };
            drag.set(None);
            if !d.active {
                return;
            }
            if let Some((to, position)) = drop_target(&ev, columns, d.card) {
                dispatch_move(d.card, to, position);
            }
        }
    };
    let on_cancel = move |_: leptos::ev::PointerEvent| drag.set(None);

    let project_href = format!("/{slug}");
    let add_account = slug.clone();
    let board_name = d.board.name.clone();
    let project_name = d.project.name.clone();
    let slug_for_columns = slug.clone();
    let (rename_account, rename_id, current_name) =
        (slug.clone(), board_id.to_string(), d.board.name.clone());
    view! {
        <p class="crumbs">
            <a href=project_href>{project_name}</a>
        </p>
        <h1 data-testid="board-name">{board_name}</h1>
        <details class="board-menu">
            <summary>"Rename board…"</summary>
            <ActionForm action=actions.rename_board attr:class="inline">
                <input type="hidden" name="account" value=rename_account />
                <input type="hidden" name="board_id" value=rename_id />
                <input type="text" name="name" required maxlength="80" value=current_name aria-label="Board name" />
                <button type="submit">"Rename"</button>
            </ActionForm>
        </details>
        <div
            class="board"
            class:dragging=move || drag.with(|d| d.is_some_and(|d| d.active))
            data-testid="board"
            // A press (a drag, a click elsewhere) is the person moving on: no control
            // gets the focus back after it.
            on:pointerdown=move |_| refocus.set(None)
            on:pointermove=on_move
            on:pointerup=on_up
            on:pointercancel=on_cancel
        >
            {move || {
                let all = columns.get();
                let names: Vec<(Uuid, String)> = all.iter().map(|c| (c.id, c.name.clone())).collect();
                let count = all.len();
                all.into_iter()
                    .enumerate()
                    .map(|(i, col)| {
                        column_view(col, i, count, &names, &today, &slug_for_columns, actions, drag, dispatch_move.clone())
                    })
                    .collect_view()
            }}
            <div class="column add-column">
                <ActionForm
                    action=actions.add_column
                    attr:class="add-column-form"
                    on:submit=move |_| refocus_later(refocus, "new-column".into())
                >
                    <input type="hidden" name="account" value=add_account />
                    <input type="hidden" name="board_id" value=board_id.to_string() />
                    <input type="text" name="name" required maxlength="40" placeholder="New column" aria-label="New column name" data-focus="new-column" />
                    <button type="submit">"Add column"</button>
                </ActionForm>
            </div>
        </div>
        {archived}
    }
}

/// The board's archived cards, each a link to its page (where it can be restored).
fn archived_view(cards: Vec<ArchivedCardView>, slug: &str) -> Option<impl IntoView> {
    if cards.is_empty() {
        return None;
    }
    let count = cards.len();
    let items = cards
        .into_iter()
        .map(|c| {
            let href = format!("/{slug}/cards/{}", c.id);
            view! {
                <li>
                    <a href=href>{c.title}</a>
                    <span class="muted">" · from " {c.column}</span>
                </li>
            }
        })
        .collect_view();
    Some(view! {
        <details class="archived-cards" data-testid="archived-cards">
            <summary>"Archived cards (" {count} ")"</summary>
            <ul>{items}</ul>
        </details>
    })
}

/// The column and position under the pointer, for dropping `card`.
fn drop_target(
    ev: &leptos::ev::PointerEvent,
    columns: RwSignal<Vec<ColumnView>>,
    card: Uuid,
) -> Option<(Uuid, usize)> {
    let (x, y) = (ev.client_x() as f32, ev.client_y() as f32);
    let under = document().element_from_point(x, y)?;
    let column_el = under.closest("[data-column-id]").ok()??;
    let to = Uuid::parse_str(&column_el.get_attribute("data-column-id")?).ok()?;
    let cards: Vec<Uuid> = columns.with_untracked(|cs| {
        cs.iter()
            .find(|c| c.id == to)
            .map(|c| {
                c.cards
                    .iter()
                    .map(|k| k.id)
                    .filter(|id| *id != card)
                    .collect()
            })
            .unwrap_or_default()
    });
    // Over a card: before it, or after it when in its lower half. Elsewhere: the end.
    let position = match under.closest("[data-card-id]").ok().flatten() {
        Some(card_el) => {
            let over = card_el
                .get_attribute("data-card-id")
                .and_then(|s| Uuid::parse_str(&s).ok());
            match over.and_then(|id| cards.iter().position(|c| *c == id)) {
                Some(i) => {
                    let rect = card_el.get_bounding_client_rect();
                    if f64::from(y) > rect.top() + rect.height() / 2.0 {
                        i + 1
                    } else {
                        i
                    }
                }
                None => cards.len(),
            }
        }
        None => cards.len(),
    };
    Some((to, position))
}

#[allow(clippy::too_many_arguments)]
fn column_view(
    col: ColumnView,
    index: usize,
    count: usize,
    names: &[(Uuid, String)],
    today: &str,
    slug: &str,
    actions: Actions,
    drag: RwSignal<Option<Drag>>,
    dispatch_move: impl Fn(Uuid, Uuid, usize) + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let col_id = col.id;
    let empty = col.cards.is_empty();
    let refocus = actions.refocus;
    let cards = col
        .cards
        .iter()
        .map(|c| {
            card_view(
                c.clone(),
                today,
                col_id,
                names,
                slug,
                drag,
                refocus,
                dispatch_move.clone(),
            )
        })
        .collect_view();
    let field = |s: &str| s.to_owned();
    let (a1, a2, a3, a4, a5, a6) = (
        field(slug),
        field(slug),
        field(slug),
        field(slug),
        field(slug),
        field(slug),
    );
    let id = col_id.to_string();
    let (i1, i2, i3, i4, i5, i6) = (
        id.clone(),
        id.clone(),
        id.clone(),
        id.clone(),
        id.clone(),
        id.clone(),
    );
    let name = col.name.clone();
    let (label, key) = (format!("New card in {}", col.name), col.name.clone());
    let (menu_label, name_label) = (
        format!("Actions for {}", col.name),
        format!("Name of {}", col.name),
    );
    let new_card_key = format!("new-card:{col_id}");
    let submit_key = new_card_key.clone();
    let cards_count = col.cards.len();
    let left = (index > 0).then(|| {
        let pos = (index - 1).to_string();
        view! {
            <ActionForm action=actions.move_column attr:class="inline">
                <input type="hidden" name="account" value=a3 />
                <input type="hidden" name="column_id" value=i3 />
                <input type="hidden" name="position" value=pos />
                <button type="submit">"← Move left"</button>
            </ActionForm>
        }
    });
    let right = (index + 1 < count).then(|| {
        let pos = (index + 1).to_string();
        view! {
            <ActionForm action=actions.move_column attr:class="inline">
                <input type="hidden" name="account" value=a4 />
                <input type="hidden" name="column_id" value=i4 />
                <input type="hidden" name="position" value=pos />
                <button type="submit">"Move right →"</button>
            </ActionForm>
        }
    });
    let remove = if empty {
        view! {
            <ActionForm action=actions.delete_column attr:class="inline">
                <input type="hidden" name="account" value=a5 />
                <input type="hidden" name="column_id" value=i5 />
                <button type="submit" class="danger">"Delete column"</button>
            </ActionForm>
        }
        .into_any()
    } else {
        view! {
            // Many cards at once: it asks first.
            <details class="confirm">
                <summary>"Archive all cards…"</summary>
                <p>
                    {format!(
                        "Archive the {cards_count} card{} in {}? They stay listed under the board's archived cards, where each can be restored.",
                        if cards_count == 1 { "" } else { "s" },
                        col.name,
                    )}
                </p>
                <ActionForm action=actions.archive_all attr:class="inline">
                    <input type="hidden" name="account" value=a6 />
                    <input type="hidden" name="column_id" value=i6 />
                    <button type="submit">
                        {format!("Archive {cards_count} card{}", if cards_count == 1 { "" } else { "s" })}
                    </button>
                </ActionForm>
            </details>
        }
        .into_any()
    };
    view! {
        <div class="column" data-column-id=col_id.to_string() data-column=key>
            <header class="column-head">
                <h2>{name}</h2>
                <details class="column-menu">
                    <summary aria-label=menu_label>"⋯"</summary>
                    <ActionForm action=actions.rename_column attr:class="inline">
                        <input type="hidden" name="account" value=a2 />
                        <input type="hidden" name="column_id" value=i2 />
                        <input type="text" name="name" required maxlength="40" aria-label=name_label value=col.name.clone() />
                        <button type="submit">"Rename"</button>
                    </ActionForm>
                    {left}
                    {right}
                    {remove}
                </details>
            </header>
            <ol class="cards">{cards}</ol>
            <ActionForm
                action=actions.create_card
                attr:class="add-card"
                on:submit=move |_| refocus_later(refocus, submit_key.clone())
            >
                <input type="hidden" name="account" value=a1 />
                <input type="hidden" name="column_id" value=i1 />
                <input type="text" name="title" required maxlength="200" placeholder="Add a card" aria-label=label data-focus=new_card_key />
                <button type="submit">"Add"</button>
            </ActionForm>
        </div>
    }
}

/// What a card says at a glance: status (unless open), due date (overdue in words and
/// colour), comment count, and who has it.
fn card_meta(card: &CardView, today: &str) -> impl IntoView {
    let status = (card.status != "open").then(|| {
        let kind = match card.status.as_str() {
            "done" => "badge success",
            "blocked" => "badge warning",
            _ => "badge accent",
        };
        view! { <span class=kind data-testid="card-status">{card.status.replace('_', " ")}</span> }
    });
    let due = card.due_date.clone().map(|date| {
        let (class, text) = match date.as_str().cmp(today) {
            std::cmp::Ordering::Less => {
                ("badge warning", format!("Overdue · {}", short_date(&date)))
            }
            std::cmp::Ordering::Equal => ("badge warning", "Due today".to_owned()),
            std::cmp::Ordering::Greater => ("badge", format!("Due {}", short_date(&date))),
        };
        view! {
            <span class=class data-testid="card-due" title=date.clone()>
                <Icon icon=icondata::LuCalendar />
                {text}
            </span>
        }
    });
    let comments = (card.comments > 0).then(|| {
        let n = card.comments;
        let label = if n == 1 {
            "1 comment".to_owned()
        } else {
            format!("{n} comments")
        };
        view! {
            <span class="badge" data-testid="card-comments" title=label.clone()>
                <Icon icon=icondata::LuMessageSquare />
                {n}
                <span class="visually-hidden">{if n == 1 { " comment" } else { " comments" }}</span>
            </span>
        }
    });
    let assignee = card.assignee_name.clone().map(|name| {
        let label = format!("Assigned to {name}");
        view! { <Avatar name=name label=label size="small" /> }
    });
    let empty = card.status == "open"
        && card.due_date.is_none()
        && card.comments == 0
        && card.assignee_name.is_none();
    // Type-erased: every part is optional, and without erasure the board's view type
    // grows past the compiler's depth limit in release builds.
    (!empty).then(|| {
        view! { <span class="meta">{status} {due} {comments} {assignee}</span> }.into_any()
    })
}

/// `2026-12-03` as `Dec 3`.
fn short_date(date: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut parts = date.split('-').skip(1);
    match (
        parts.next().and_then(|m| m.parse::<usize>().ok()),
        parts.next().and_then(|d| d.parse::<u32>().ok()),
    ) {
        (Some(m @ 1..=12), Some(d)) => format!("{} {d}", MONTHS[m - 1]),
        _ => date.to_owned(),
    }
}

#[allow(clippy::too_many_arguments)]
fn card_view(
    card: CardView,
    today: &str,
    column: Uuid,
    names: &[(Uuid, String)],
    slug: &str,
    drag: RwSignal<Option<Drag>>,
    refocus: Refocus,
    dispatch_move: impl Fn(Uuid, Uuid, usize) + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let id = card.id;
    let menu_key = format!("move:{id}");
    let href = format!("/{slug}/cards/{id}");
    let menu_label = format!("Move {} to", card.title);
    let options = names
        .iter()
        .map(|(cid, name)| {
            let selected = *cid == column;
            let (value, text) = (cid.to_string(), name.clone());
            view! { <option value=value selected=selected>{text}</option> }
        })
        .collect_view();
    let on_down = move |ev: leptos::ev::PointerEvent| {
        if ev.button() != 0 {
            return;
        }
        // Fingers drag by the handle only, so the rest of the card still scrolls.
        let on_handle = ev
            .target()
            .and_then(|t| {
                leptos::wasm_bindgen::JsCast::dyn_into::<leptos::web_sys::Element>(t).ok()
            })
            .and_then(|el| el.closest(".handle").ok().flatten())
            .is_some();
        if ev.pointer_type() == "touch" && !on_handle {
            return;
        }
        drag.set(Some(Drag {
            card: id,
            x: ev.client_x(),
            y: ev.client_y(),
            active: false,
        }));
    };
    let on_choose = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        if let Ok(to) = Uuid::parse_str(&value) {
            if to != column {
                // To the end of the chosen column; the menu keeps the focus.
                refocus_later(refocus, format!("move:{id}"));
                dispatch_move(id, to, usize::MAX);
            }
        }
    };
    let meta = card_meta(&card, today);
    let (title, key) = (card.title.clone(), card.title.clone());
    view! {
        <li
            class="card"
            class:lifted=move || drag.with(|d| d.is_some_and(|d| d.active && d.card == id))
            data-card-id=id.to_string()
            data-card=key
            on:pointerdown=on_down
        >
            <span class="handle" aria-hidden="true">"⠿"</span>
            <a class="title" href=href draggable="false">{title}</a>
            {meta}
            <select class="move-to" aria-label=menu_label data-focus=menu_key on:change=on_choose>
                {options}
            </select>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_dates_read_as_month_and_day() {
        assert_eq!(short_date("2026-12-03"), "Dec 3");
        assert_eq!(short_date("2020-01-31"), "Jan 31");
        assert_eq!(short_date("not a date"), "not a date");
        assert_eq!(short_date("2026-13-01"), "2026-13-01");
    }

    fn board(columns: &[(&str, &[u128])]) -> Vec<ColumnView> {
        columns
            .iter()
            .enumerate()
            .map(|(i, (name, cards))| ColumnView {
                id: Uuid::from_u128(1000 + i as u128),
                name: (*name).to_owned(),
                cards: cards
                    .iter()
                    .map(|c| CardView {
                        id: Uuid::from_u128(*c),
                        title: c.to_string(),
                        status: "open".into(),
                        assignee_name: None,
                        due_date: None,
                        comments: 0,
                    })
                    .collect(),
            })
            .collect()
    }

    fn layout(columns: &[ColumnView]) -> Vec<Vec<u128>> {
        columns
            .iter()
            .map(|c| c.cards.iter().map(|k| k.id.as_u128()).collect())
            .collect()
    }

    #[test]
    fn an_optimistic_move_lands_where_the_server_will_put_it() {
        let mut cols = board(&[("To do", &[1, 2, 3]), ("Doing", &[])]);
        let doing = cols[1].id;
        assert_eq!(apply_move(&mut cols, Uuid::from_u128(2), doing, 0), Some(0));
        assert_eq!(layout(&cols), vec![vec![1, 3], vec![2]]);
        // Past the end is clamped, as the server clamps.
        assert_eq!(
            apply_move(&mut cols, Uuid::from_u128(1), doing, usize::MAX),
            Some(1)
        );
        assert_eq!(layout(&cols), vec![vec![3], vec![2, 1]]);
        // Within a column; the same place is no move at all.
        assert_eq!(apply_move(&mut cols, Uuid::from_u128(1), doing, 0), Some(0));
        assert_eq!(apply_move(&mut cols, Uuid::from_u128(1), doing, 0), None);
        assert_eq!(
            apply_move(&mut cols, Uuid::from_u128(99), doing, 0),
            None,
            "unknown card"
        );
        assert_eq!(layout(&cols), vec![vec![3], vec![1, 2]]);
    }
}
