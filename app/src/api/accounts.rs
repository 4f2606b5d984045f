//! Teams (accounts): the signed-in person's teams, creating one, and one team's summary.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A team as pages show it, with the signed-in person's role in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamView {
    pub id: uuid::Uuid,
    pub slug: String,
    pub name: String,
    /// owner, admin or member.
    pub role: String,
}

impl TeamView {
    pub fn manages_members(&self) -> bool {
        self.role == "owner" || self.role == "admin"
    }
}

#[cfg(feature = "ssr")]
impl TeamView {
    pub(crate) fn new(a: chronicle::accounts::Account, role: chronicle::accounts::Role) -> Self {
        TeamView {
            id: a.id.0,
            slug: a.slug,
            name: a.name,
            role: role.as_str().to_owned(),
        }
    }
}

/// The teams the signed-in person belongs to (empty when signed out).
#[server(endpoint = "my_teams")]
pub async fn my_teams() -> Result<Vec<TeamView>, AppError> {
    use super::ssr;
    let Some(me) = ssr::signed_in().await? else {
        return Ok(Vec::new());
    };
    let teams = chronicle::accounts::members::teams_of(&ssr::store()?, me.user.id).await?;
    Ok(teams
        .into_iter()
        .map(|(a, r)| TeamView::new(a, r))
        .collect())
}

/// Creates a team owned by the signed-in person and opens it.
#[server(endpoint = "create_team")]
pub async fn create_team(name: String) -> Result<TeamView, AppError> {
    use super::ssr;
    use chronicle::accounts::{members, AccountName, Role};
    let me = ssr::user().await?;
    let name = AccountName::parse(&name)?;
    let account = members::create_team(&ssr::store()?, name, &me.user).await?;
    leptos_axum::redirect(&format!("/{}", account.slug));
    Ok(TeamView::new(account, Role::Owner))
}

/// One team the signed-in person belongs to.
#[server(endpoint = "team")]
pub async fn team(account: String) -> Result<TeamView, AppError> {
    use super::ssr;
    let current = ssr::current(&account).await?;
    Ok(TeamView::new(current.account, current.role))
}
