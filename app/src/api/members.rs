//! A team's members and invitations, and the invitations waiting for the signed-in
//! person. Only owners and admins manage members (the engine checks the role).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::accounts::TeamView;
use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
    pub role: String,
    pub is_me: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationView {
    pub id: Uuid,
    pub email: String,
    pub role: String,
    pub invited_by_name: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// Everything the members page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembersData {
    pub team: TeamView,
    pub members: Vec<MemberView>,
    /// Open invitations; empty for people who do not manage members.
    pub invitations: Vec<InvitationView>,
}

/// An invitation waiting for the signed-in person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyInvitationView {
    pub account_id: Uuid,
    pub id: Uuid,
    pub team_name: String,
    pub team_slug: String,
    pub role: String,
    pub invited_by_name: String,
}

#[server(endpoint = "members")]
pub async fn members(account: String) -> Result<MembersData, AppError> {
    use super::ssr;
    use chronicle::accounts::members;
    let store = ssr::store()?;
    let current = ssr::current(&account).await?;
    let me = current.user.id;
    let list = members::list_members(&store, &current).await?;
    let invitations = if current.role.manages_members() {
        members::open_invitations(&store, &current).await?
    } else {
        Vec::new()
    };
    Ok(MembersData {
        team: TeamView::new(current.account.clone(), current.role),
        members: list
            .into_iter()
            .map(|m| MemberView {
                is_me: m.user_id == me,
                user_id: m.user_id.0,
                name: m.name,
                email: m.email,
                role: m.role.as_str().to_owned(),
            })
            .collect(),
        invitations: invitations
            .into_iter()
            .map(|i| InvitationView {
                id: i.id,
                email: i.email,
                role: i.role.as_str().to_owned(),
                invited_by_name: i.invited_by_name,
                expires_at: ssr::rfc3339(i.expires_at),
            })
            .collect(),
    })
}

#[server(endpoint = "invite_member")]
pub async fn invite_member(account: String, email: String, role: String) -> Result<(), AppError> {
    use super::ssr;
    use chronicle::accounts::{members, Role};
    use chronicle::identity::Email;
    let current = ssr::current(&account).await?;
    let email = Email::parse(&email)?;
    let role = Role::parse(&role)?;
    let base = ssr::site()?.public_url;
    members::invite(&ssr::store()?, &current, &email, role, &base).await?;
    Ok(())
}

#[server(endpoint = "change_member_role")]
pub async fn change_member_role(
    account: String,
    user_id: Uuid,
    role: String,
) -> Result<(), AppError> {
    use super::ssr;
    use chronicle::accounts::{members, Role};
    let current = ssr::current(&account).await?;
    let role = Role::parse(&role)?;
    members::change_role(
        &ssr::store()?,
        &current,
        chronicle::identity::UserId(user_id),
        role,
    )
    .await?;
    Ok(())
}

#[server(endpoint = "remove_member")]
pub async fn remove_member(account: String, user_id: Uuid) -> Result<(), AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    let leaving = current.user.id.0 == user_id;
    chronicle::accounts::members::remove_member(
        &ssr::store()?,
        &current,
        chronicle::identity::UserId(user_id),
    )
    .await?;
    if leaving {
        leptos_axum::redirect("/");
    }
    Ok(())
}

#[server(endpoint = "revoke_invitation")]
pub async fn revoke_invitation(account: String, invitation_id: Uuid) -> Result<(), AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    chronicle::accounts::members::revoke_invitation(&ssr::store()?, &current, invitation_id)
        .await?;
    Ok(())
}

/// Invitations addressed to the signed-in person's e-mail.
#[server(endpoint = "my_invitations")]
pub async fn my_invitations() -> Result<Vec<MyInvitationView>, AppError> {
    use super::ssr;
    let Some(me) = ssr::signed_in().await? else {
        return Ok(Vec::new());
    };
    let list = chronicle::accounts::members::invitations_for(&ssr::store()?, &me.user).await?;
    Ok(list
        .into_iter()
        .map(|i| MyInvitationView {
            account_id: i.account_id.0,
            id: i.id,
            team_name: i.team_name,
            team_slug: i.team_slug,
            role: i.role.as_str().to_owned(),
            invited_by_name: i.invited_by_name,
        })
        .collect())
}

/// Joins the team an invitation is for, and opens it.
#[server(endpoint = "accept_invitation")]
pub async fn accept_invitation(account_id: Uuid, invitation_id: Uuid) -> Result<(), AppError> {
    use super::ssr;
    let me = ssr::user().await?;
    let team = chronicle::accounts::members::accept_invitation(
        &ssr::store()?,
        &me.user,
        chronicle::accounts::AccountId(account_id),
        invitation_id,
    )
    .await?;
    leptos_axum::redirect(&format!("/{}", team.slug));
    Ok(())
}
