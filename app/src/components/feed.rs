//! The activity timeline component: server-rendered with the newest items, then — once
//! hydrated — subscribed to the team's event stream. New items are prepended without
//! moving what the reader is looking at, announced in a polite ARIA live region, and
//! consecutive similar events by one person are grouped ("Ana moved 3 cards"). The
//! element carries `data-live="connecting|connected|offline"` so people and tests can
//! see the stream's state; it reconnects forever, with back-off.

use leptos::prelude::*;

use super::{event_icon, Avatar, Icon};
use crate::api::activity::{activity, ActivityView, FeedFilter, FeedPage, FeedScopeView};

/// Consecutive items by one person of one type within this long form one group.
const GROUP_WINDOW_MS: i64 = 15 * 60 * 1000;

/// "just now", "5 min ago", "3 h ago", "2 days ago".
pub fn relative(then_ms: i64, now_ms: i64) -> String {
    let secs = (now_ms - then_ms).max(0) / 1000;
    match secs {
        0..=44 => "just now".to_owned(),
        45..=3599 => format!("{} min ago", (secs + 30) / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        _ => match secs / 86_400 {
            1 => "yesterday".to_owned(),
            d => format!("{d} days ago"),
        },
    }
}

/// The time relative times count from: when the server rendered the page, then — once
/// hydrated — the browser's clock, read again every 30 s, so "just now" becomes "1 min
/// ago" while the page stays open. Stops with the view that asked for it.
pub fn clock(rendered_ms: i64) -> RwSignal<i64> {
    let now_ms = RwSignal::new(rendered_ms);
    #[cfg(feature = "hydrate")]
    Effect::new(move |started: Option<()>| {
        if started.is_none() {
            now_ms.set(js_sys::Date::now() as i64);
            let tick = set_interval_with_handle(
                move || now_ms.set(js_sys::Date::now() as i64),
                std::time::Duration::from_secs(30),
            );
            if let Ok(tick) = tick {
                on_cleanup(move || tick.clear());
            }
        }
    });
    now_ms
}

/// Runs of consecutive items by the same person, of the same type, close in time.
pub fn group(items: &[ActivityView]) -> Vec<Vec<ActivityView>> {
    let mut groups: Vec<Vec<ActivityView>> = Vec::new();
    for item in items {
        match groups.last_mut() {
            Some(g)
                if g[0].actor_id == item.actor_id
                    && g[0].event_type == item.event_type
                    && (g[g.len() - 1].created_ms - item.created_ms).abs() <= GROUP_WINDOW_MS =>
            {
                g.push(item.clone())
            }
            _ => groups.push(vec![item.clone()]),
        }
    }
    groups
}

/// "Ana moved 3 cards" for a group of more than one.
pub fn group_summary(group: &[ActivityView]) -> String {
    let first = &group[0];
    let n = group.len();
    let (verb, noun) = match first.event_type.as_str() {
        "card.moved" => ("moved", "cards"),
        "card.created" => ("added", "cards"),
        "card.updated" => ("edited", "cards"),
        "card.archived" => ("archived", "cards"),
        "card.restored" => ("restored", "cards"),
        "card.deleted" => ("deleted", "cards"),
        "card.status_changed" => ("changed the status of", "cards"),
        "comment.added" => ("added", "comments"),
        "member.invited" => ("invited", "people"),
        "column.created" => ("added", "columns"),
        _ => ("made", "changes"),
    };
    format!("{} {verb} {n} {noun}", first.actor_name)
}

#[component]
pub fn ActivityFeed(
    /// The team's slug.
    account: String,
    scope: FeedScopeView,
    /// Who / types / dates; none by default.
    #[prop(optional)]
    filter: FeedFilter,
    /// Called with each item that arrives live (the board applies moves with it).
    #[prop(optional)]
    on_item: Option<Callback<ActivityView>>,
) -> impl IntoView {
    let (scope_name, scope_id) = scope.parts();
    let first_page = {
        let (account, filter) = (account.clone(), filter.clone());
        Resource::new(
            || (),
            move |_| {
                activity(
                    account.clone(),
                    scope_name.to_owned(),
                    scope_id,
                    None,
                    Some(filter.clone()),
                )
            },
        )
    };
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading activity…"</p> }>
            {
                let account = account.clone();
                move || {
                    let (account, filter) = (account.clone(), filter.clone());
                    first_page
                        .get()
                        .map(|r| match r {
                            Ok(page) => feed_view(page, account, scope, filter, on_item).into_any(),
                            Err(e) => view! { <super::ErrorMessage error=e /> }.into_any(),
                        })
                }
            }
        </Suspense>
    }
}

fn feed_view(
    page: FeedPage,
    account: String,
    scope: FeedScopeView,
    filter: FeedFilter,
    on_item: Option<Callback<ActivityView>>,
) -> impl IntoView {
    let newest = page.items.first().map(|i| i.sequence).unwrap_or(page.head);
    let items = RwSignal::new(page.items);
    let more = RwSignal::new(page.more);
    let now_ms = clock(page.rendered_ms);
    let live = RwSignal::new("connecting");
    let announcement = RwSignal::new(String::new());
    let loading_older = RwSignal::new(false);

    #[cfg(feature = "hydrate")]
    {
        let url = format!("/{account}/events?{}{}", scope.query(), filter.query());
        Effect::new(move |started: Option<()>| {
            if started.is_none() {
                live::start(url.clone(), newest, items, live, announcement, on_item);
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (newest, on_item);

    let load_older = {
        let account = account.clone();
        move |_| {
            let Some(oldest) = items.with_untracked(|i| i.last().map(|i| i.sequence)) else {
                return;
            };
            let (scope_name, scope_id) = scope.parts();
            let (account, filter) = (account.clone(), filter.clone());
            loading_older.set(true);
            leptos::task::spawn_local(async move {
                if let Ok(page) = activity(
                    account,
                    scope_name.to_owned(),
                    scope_id,
                    Some(oldest),
                    Some(filter),
                )
                .await
                {
                    more.set(page.more);
                    items.update(|list| list.extend(page.items));
                }
                loading_older.set(false);
            });
        }
    };

    view! {
        <section class="feed" data-testid="feed" data-live=move || live.get() aria-label="Activity">
            <h2>
                "Activity" <span class="live-dot" title=move || live.get()></span>
            </h2>
            <p class="visually-hidden" aria-live="polite" data-testid="feed-announcer">
                {move || announcement.get()}
            </p>
            <ol class="feed-items" data-testid="feed-items">
                {move || {
                    let now = now_ms.get();
                    items.with(|list| {
                        group(list)
                            .into_iter()
                            .map(|g| group_view(g, now))
                            .collect_view()
                    })
                }}
            </ol>
            <Show when=move || items.with(|i| i.is_empty())>
                <p class="empty">"Nothing has happened here yet."</p>
            </Show>
            <Show when=move || more.get()>
                <button type="button" class="link" on:click=load_older.clone() disabled=move || loading_older.get()>
                    "Load older"
                </button>
            </Show>
        </section>
    }
}

fn group_view(group: Vec<ActivityView>, now_ms: i64) -> impl IntoView {
    let first = group[0].clone();
    let when = relative(first.created_ms, now_ms);
    let stamp = first.created_at.clone();
    let icon = first.icon.clone();
    // The event's icon and who did it, before the words that say the same.
    let marks = view! {
        <span class="feed-marks">
            <Icon icon=event_icon(&icon) class="feed-icon" />
            <Avatar name=first.actor_name.clone() size="small" />
        </span>
    };
    if group.len() == 1 {
        let text = first.description.clone();
        let body = match first.href.clone() {
            Some(href) => view! { <a href=href>{text}</a> }.into_any(),
            None => view! { <span>{text}</span> }.into_any(),
        };
        view! {
            <li class="feed-item" data-sequence=first.sequence data-type=first.event_type.clone() data-icon=icon>
                {marks}
                <span class="feed-text">{body} " " <time datetime=stamp>{when}</time></span>
            </li>
        }
        .into_any()
    } else {
        let summary = group_summary(&group);
        let details = group
            .into_iter()
            .map(|i| {
                let text = i.description;
                match i.href {
                    Some(href) => view! { <li><a href=href>{text}</a></li> }.into_any(),
                    None => view! { <li>{text}</li> }.into_any(),
                }
            })
            .collect_view();
        view! {
            <li class="feed-item group" data-sequence=first.sequence data-type=first.event_type.clone() data-icon=icon>
                {marks}
                <details class="feed-text">
                    <summary>{summary} " " <time datetime=stamp>{when}</time></summary>
                    <ul>{details}</ul>
                </details>
            </li>
        }
        .into_any()
    }
}

#[cfg(feature = "hydrate")]
mod live {
    //! The browser side of the stream: an `EventSource` that the browser reconnects on
    //! its own (sending `Last-Event-ID`), and that this module reopens with back-off —
    //! from the last sequence seen — when the browser gives up (an HTTP error, a
    //! restarted server).

    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    use std::time::Duration;

    use leptos::prelude::*;
    use leptos::wasm_bindgen::closure::Closure;
    use leptos::wasm_bindgen::JsCast;
    use leptos::web_sys::{EventSource, MessageEvent};

    use crate::api::activity::ActivityView;

    struct Live {
        url: String,
        last: Cell<i64>,
        attempt: Cell<u32>,
        items: RwSignal<Vec<ActivityView>>,
        state: RwSignal<&'static str>,
        announcement: RwSignal<String>,
        on_item: Option<Callback<ActivityView>>,
        alive: Cell<bool>,
        source: RefCell<Option<EventSource>>,
    }

    pub fn start(
        url: String,
        since: i64,
        items: RwSignal<Vec<ActivityView>>,
        state: RwSignal<&'static str>,
        announcement: RwSignal<String>,
        on_item: Option<Callback<ActivityView>>,
    ) {
        let live = Rc::new(Live {
            url,
            last: Cell::new(since),
            attempt: Cell::new(0),
            items,
            state,
            announcement,
            on_item,
            alive: Cell::new(true),
            source: RefCell::new(None),
        });
        open(live.clone());
        // Leaving the page closes the stream and stops reconnecting.
        let handle = send_wrapper::SendWrapper::new(live);
        on_cleanup(move || {
            handle.alive.set(false);
            if let Some(source) = handle.source.borrow_mut().take() {
                source.close();
            }
        });
    }

    fn open(live: Rc<Live>) {
        if !live.alive.get() {
            return;
        }
        live.state.set("connecting");
        let url = format!("{}&since={}", live.url, live.last.get());
        let Ok(source) = EventSource::new(&url) else {
            retry(live);
            return;
        };
        let source = Rc::new(source);
        if let Some(old) = live.source.borrow_mut().replace((*source).clone()) {
            old.close();
        }

        let on_open = {
            let live = live.clone();
            Closure::<dyn FnMut()>::new(move || {
                live.attempt.set(0);
                live.state.set("connected");
            })
        };
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        on_open.forget();

        let on_activity = {
            let live = live.clone();
            let source = source.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                if !live.alive.get() {
                    source.close();
                    return;
                }
                let Some(text) = ev.data().as_string() else {
                    return;
                };
                let Ok(item) = serde_json::from_str::<ActivityView>(&text) else {
                    return;
                };
                if item.sequence <= live.last.get() {
                    return;
                }
                live.last.set(item.sequence);
                live.announcement.set(item.description.clone());
                live.items.update(|list| {
                    if !list.iter().any(|i| i.sequence == item.sequence) {
                        list.insert(0, item.clone());
                    }
                });
                if let Some(cb) = live.on_item {
                    cb.run(item);
                }
            })
        };
        let _ = source
            .add_event_listener_with_callback("activity", on_activity.as_ref().unchecked_ref());
        on_activity.forget();

        let on_error = {
            let live = live.clone();
            let source = source.clone();
            Closure::<dyn FnMut()>::new(move || {
                if source.ready_state() == EventSource::CLOSED {
                    // The browser gave up (an HTTP error): reopen ourselves, later.
                    live.state.set("offline");
                    retry(live.clone());
                } else {
                    // The browser is reconnecting by itself, with Last-Event-ID.
                    live.state.set("connecting");
                }
            })
        };
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
    }

    /// Reopens after 1, 2, 4 … 30 s.
    fn retry(live: Rc<Live>) {
        let attempt = live.attempt.get();
        live.attempt.set(attempt + 1);
        let delay = Duration::from_secs((1u64 << attempt.min(5)).min(30));
        set_timeout(move || open(live), delay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(seq: i64, actor: u128, kind: &str, ms: i64) -> ActivityView {
        ActivityView {
            sequence: seq,
            event_type: kind.to_owned(),
            actor_id: Some(uuid::Uuid::from_u128(actor)),
            actor_name: if actor == 1 {
                "Ana".into()
            } else {
                "Bob".into()
            },
            description: format!("#{seq}"),
            icon: String::new(),
            board_id: None,
            card_id: None,
            href: None,
            created_at: String::new(),
            created_ms: ms,
        }
    }

    #[test]
    fn relative_times_read_naturally() {
        let now = 10_000_000_000;
        assert_eq!(relative(now - 5_000, now), "just now");
        assert_eq!(relative(now - 5 * 60_000, now), "5 min ago");
        assert_eq!(relative(now - 3 * 3_600_000, now), "3 h ago");
        assert_eq!(relative(now - 30 * 3_600_000, now), "yesterday");
        assert_eq!(relative(now - 3 * 86_400_000, now), "3 days ago");
        assert_eq!(
            relative(now + 60_000, now),
            "just now",
            "a clock ahead is not the future"
        );
    }

    #[test]
    fn consecutive_similar_events_by_one_person_are_grouped() {
        let min = 60_000;
        let items = vec![
            item(6, 1, "card.moved", 60 * min),
            item(5, 1, "card.moved", 59 * min),
            item(4, 1, "card.moved", 58 * min),
            item(3, 2, "card.moved", 57 * min),
            item(2, 1, "card.moved", 56 * min),
            item(1, 1, "card.moved", 10 * min),
        ];
        let groups = group(&items);
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        assert_eq!(
            sizes,
            [3, 1, 1, 1],
            "another person or a long pause breaks a group"
        );
        assert_eq!(group_summary(&groups[0]), "Ana moved 3 cards");
        let mixed = vec![
            item(2, 1, "comment.added", 0),
            item(1, 1, "project.created", 0),
        ];
        assert_eq!(group(&mixed).len(), 2);
        let other = vec![
            item(2, 1, "board.updated", 0),
            item(1, 1, "board.updated", 0),
        ];
        assert_eq!(group_summary(&group(&other)[0]), "Ana made 2 changes");
    }
}
