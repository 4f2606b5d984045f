//! `/:account/activity`: the team's whole timeline, live, with filters — who (all,
//! mine, my items, team), event type and date range — in the URL, so a filtered view
//! can be shared and survives a reload.

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use super::team::account_param;
use crate::api::activity::{FeedFilter, FeedScopeView};
use crate::components::ActivityFeed;

const WHO: [(&str, &str); 4] = [
    ("all", "Everything"),
    ("mine", "What I did"),
    ("my_items", "My items"),
    ("team", "What others did"),
];

const TYPES: [(&str, &str); 8] = [
    ("", "All kinds"),
    ("card.created", "Cards added"),
    ("card.moved", "Cards moved"),
    ("card.updated", "Cards edited"),
    ("card.status_changed", "Status changes"),
    ("comment.added", "Comments"),
    (
        "member.joined,member.invited,member.removed,member.role_changed",
        "Members",
    ),
    (
        "project.created,project.updated,project.archived,board.created,board.updated",
        "Projects and boards",
    ),
];

#[component]
pub fn ActivityPage() -> impl IntoView {
    let account = account_param();
    let query = use_query_map();
    let filter = move || {
        query.with(|q| FeedFilter {
            who: q.get("who").unwrap_or_default(),
            types: q.get("types").unwrap_or_default(),
            from: q.get("from").unwrap_or_default(),
            to: q.get("to").unwrap_or_default(),
        })
    };
    // `?project=<id>` narrows the page to one project's activity.
    let scope = move || {
        query
            .with(|q| {
                q.get("project")
                    .and_then(|p| uuid::Uuid::parse_str(&p).ok())
            })
            .map_or(FeedScopeView::Account, FeedScopeView::Project)
    };
    let action = move || format!("/{}/activity", account());
    view! {
        <section class="page activity-page">
            <p class="crumbs">
                <a href=move || format!("/{}", account())>"Team"</a>
            </p>
            <h1>"Activity"</h1>
            <Form method="GET" action=action attr:class="feed-filters">
                <label>
                    "Show "
                    <select name="who">
                        {move || {
                            let current = filter().who;
                            WHO.iter()
                                .map(|(v, label)| {
                                    let selected = *v == current || (current.is_empty() && *v == "all");
                                    view! { <option value=*v selected=selected>{*label}</option> }
                                })
                                .collect_view()
                        }}
                    </select>
                </label>
                <label>
                    "Kind "
                    <select name="types">
                        {move || {
                            let current = filter().types;
                            TYPES.iter()
                                .map(|(v, label)| {
                                    let selected = *v == current;
                                    view! { <option value=*v selected=selected>{*label}</option> }
                                })
                                .collect_view()
                        }}
                    </select>
                </label>
                {move || {
                    query.with(|q| q.get("project")).map(|p| view! { <input type="hidden" name="project" value=p /> })
                }}
                <label>"From " <input type="date" name="from" prop:value=move || filter().from /></label>
                <label>"To " <input type="date" name="to" prop:value=move || filter().to /></label>
                <button type="submit">"Filter"</button>
            </Form>
            // A new filter is a new feed (and a new stream).
            {move || {
                let filter = filter();
                view! { <ActivityFeed account=account() scope=scope() filter=filter /> }
            }}
        </section>
    }
}
