//! `/:account/members`: who is in the team; owners and admins invite, change roles,
//! remove people and withdraw invitations here.

use leptos::prelude::*;

use super::team::account_param;
use crate::api::members::{
    members, ChangeMemberRole, InvitationView, InviteMember, MemberView, MembersData, RemoveMember,
    RevokeInvitation,
};
use crate::components::{Avatar, ErrorMessage, LastError};

const ROLES: [&str; 3] = ["member", "admin", "owner"];

fn role_options(selected: String) -> impl IntoView {
    ROLES
        .iter()
        .map(|r| {
            let is = *r == selected;
            view! {
                <option value=*r selected=is>
                    {*r}
                </option>
            }
        })
        .collect_view()
}

#[component]
pub fn MembersPage() -> impl IntoView {
    let account = account_param();
    let invite = ServerAction::<InviteMember>::new();
    let change = ServerAction::<ChangeMemberRole>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let revoke = ServerAction::<RevokeInvitation>::new();
    let data = Resource::new(
        move || {
            (
                account(),
                invite.version().get(),
                change.version().get(),
                remove.version().get(),
                revoke.version().get(),
            )
        },
        |(account, ..)| members(account),
    );
    // The most recent failure of any action on this page.
    let last_error = LastError::new()
        .watch(invite)
        .watch(change)
        .watch(remove)
        .watch(revoke);
    let error = move || last_error.get();
    // Someone removed: no row that took their place shows the question still open.
    Effect::new(move |seen: Option<()>| {
        remove.version().track();
        if seen.is_some() {
            crate::components::close_confirmations();
        }
    });
    // A refused role change: every role menu shows the role the person has again (the
    // page re-renders in place, and a menu keeps what was picked in it).
    Effect::new(move |_| {
        if change.value().with(|v| matches!(v, Some(Err(_)))) {
            reset_role_menus();
        }
    });
    let invite_input = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = invite.value().get() {
            if let Some(input) = invite_input.get() {
                input.set_value("");
            }
        }
    });

    view! {
        <section class="page members">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    data.get()
                        .map(|r| match r {
                            Err(e) => view! { <ErrorMessage error=e /> }.into_any(),
                            Ok(d) => members_view(d, change, remove, invite, revoke, invite_input).into_any(),
                        })
                }}
            </Suspense>
            <Show when=move || error().is_some()>
                <p class="error" role="alert" data-testid="members-error">
                    {error}
                </p>
            </Show>
        </section>
    }
}

fn reset_role_menus() {
    #[cfg(feature = "hydrate")]
    crate::components::each::<leptos::web_sys::HtmlFormElement>("form.role-form", |form| {
        form.reset()
    });
}

fn member_row(
    m: MemberView,
    slug: &str,
    team: &str,
    manages: bool,
    change: ServerAction<ChangeMemberRole>,
    remove: ServerAction<RemoveMember>,
) -> impl IntoView {
    let role_cell = if manages {
        let (account, user_id) = (slug.to_owned(), m.user_id.to_string());
        let label = format!("Role of {}", m.name);
        view! {
            <ActionForm action=change attr:class="inline role-form">
                <input type="hidden" name="account" value=account />
                <input type="hidden" name="user_id" value=user_id />
                <select name="role" aria-label=label>
                    {role_options(m.role.clone())}
                </select>
                <button type="submit">"Change"</button>
            </ActionForm>
        }
        .into_any()
    } else {
        let role = m.role.clone();
        view! { <span>{role}</span> }.into_any()
    };
    // Removing someone (or leaving) asks first.
    let action_cell = (manages || m.is_me).then(|| {
        let (account, user_id) = (slug.to_owned(), m.user_id.to_string());
        let (open, question, confirm) = if m.is_me {
            (
                "Leave team…".to_owned(),
                format!("Leave {team}? You will need a new invitation to come back."),
                "Leave the team".to_owned(),
            )
        } else {
            (
                "Remove…".to_owned(),
                format!("Remove {} from {team}? Their past activity stays.", m.name),
                format!("Remove {}", m.name),
            )
        };
        view! {
            <details class="confirm">
                <summary>{open}</summary>
                <p>{question}</p>
                <ActionForm action=remove attr:class="inline">
                    <input type="hidden" name="account" value=account />
                    <input type="hidden" name="user_id" value=user_id />
                    <button type="submit" class="danger">
                        {confirm}
                    </button>
                </ActionForm>
            </details>
        }
    });
    let key = m.email.clone();
    view! {
        <tr data-member=key>
            <td class="name">
                <Avatar name=m.name.clone() size="small" />
                " "
                {m.name}
            </td>
            <td class="email">{m.email}</td>
            <td class="role">{role_cell}</td>
            <td class="actions">{action_cell}</td>
        </tr>
    }
}

fn invitation_item(
    i: InvitationView,
    slug: &str,
    revoke: ServerAction<RevokeInvitation>,
) -> impl IntoView {
    let (account, id, key) = (slug.to_owned(), i.id.to_string(), i.email.clone());
    view! {
        <li data-email=key>
            <span>{i.email} " as " {i.role} " (invited by " {i.invited_by_name} ")"</span>
            <ActionForm action=revoke attr:class="inline">
                <input type="hidden" name="account" value=account />
                <input type="hidden" name="invitation_id" value=id />
                <button type="submit">"Withdraw"</button>
            </ActionForm>
        </li>
    }
}

fn members_view(
    d: MembersData,
    change: ServerAction<ChangeMemberRole>,
    remove: ServerAction<RemoveMember>,
    invite: ServerAction<InviteMember>,
    revoke: ServerAction<RevokeInvitation>,
    invite_input: NodeRef<leptos::html::Input>,
) -> impl IntoView {
    let slug = d.team.slug.clone();
    let manages = d.team.manages_members();
    let team_href = format!("/{slug}");
    let team_name = d.team.name.clone();
    let rows = d
        .members
        .into_iter()
        .map(|m| member_row(m, &slug, &team_name, manages, change, remove))
        .collect_view();
    let invite_form = manages.then(|| {
        let account = slug.clone();
        view! {
            <h2>"Invite someone"</h2>
            <ActionForm action=invite attr:class="invite">
                <input type="hidden" name="account" value=account />
                <label for="invite-email">"E-mail address"</label>
                <input node_ref=invite_input id="invite-email" type="email" name="email" required maxlength="254" />
                <label for="invite-role">"Role"</label>
                <select id="invite-role" name="role">
                    {role_options("member".to_owned())}
                </select>
                <button type="submit" disabled=move || invite.pending().get()>
                    "Send invitation"
                </button>
            </ActionForm>
        }
    });
    let invitations = (!d.invitations.is_empty()).then(|| {
        let items = d
            .invitations
            .into_iter()
            .map(|i| invitation_item(i, &slug, revoke))
            .collect_view();
        view! {
            <h2>"Open invitations"</h2>
            <ul class="invitations" data-testid="open-invitations">
                {items}
            </ul>
        }
    });
    view! {
        <p class="crumbs">
            <a href=team_href>{team_name}</a>
        </p>
        <h1>"Members"</h1>
        <table class="member-list" data-testid="members">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"E-mail"</th>
                    <th scope="col">"Role"</th>
                    <th scope="col">
                        <span class="visually-hidden">"Actions"</span>
                    </th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
        {invite_form}
        {invitations}
    }
}
