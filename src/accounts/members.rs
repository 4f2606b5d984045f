//! Members: who belongs to which team, with what role, and how people join (an
//! invitation, accepted by signing in with the invited address) and leave.
//!
//! Every function here acts as a [`Current`] member — the signed-in person in one
//! account — checks that member's role, runs in a transaction scoped to the account
//! (row-level security on PostgreSQL) and records its event in that transaction.

use std::time::Duration;

use uuid::Uuid;

use super::{Account, AccountId, AccountName};
use crate::error::{Error, Result};
use crate::events::catalog::{MemberInvited, MemberJoined, MemberRemoved, MemberRoleChanged};
use crate::events::{record, Actor, RecordOptions};
use crate::identity::{mail, Email, User, UserId};
use crate::queue::now_micros;
use crate::store::{on_account, on_pool, on_tx, Store, Tx};

/// What a member may do in their team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything an admin can, and manage owners. Every team keeps at least one.
    Owner,
    /// Manage members and (later) webhooks.
    Admin,
    /// Work on the team's boards.
    Member,
}

impl Role {
    pub fn parse(raw: &str) -> Result<Role> {
        match raw.trim() {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            other => Err(Error::invalid(
                "role",
                format!("{other:?} is not a role; choose owner, admin or member"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    /// Invite, remove and change the roles of members.
    pub fn manages_members(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

/// A role as stored: sqlx reads the text, then it is parsed.
impl TryFrom<String> for Role {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Role::parse(&s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The signed-in person acting in one account: what every server function and handler
/// that touches tenant data works from (the seeds' `Current.user` / `Current.account`).
/// Only [`membership`] makes one, so holding a `Current` proves the membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub user: User,
    pub account: Account,
    pub role: Role,
}

impl Current {
    /// How events recorded by this member name them.
    pub fn actor(&self) -> Actor {
        Actor::Member {
            id: self.user.id.0,
            name: self.user.name.clone(),
        }
    }

    pub fn account_id(&self) -> AccountId {
        self.account.id
    }

    /// Records `event` in `tx`, in this member's team, as this member.
    pub async fn record<E: crate::events::DomainEvent>(
        &self,
        tx: &mut Tx,
        event: &E,
    ) -> Result<()> {
        record(
            tx,
            self.account.id,
            &self.actor(),
            event,
            RecordOptions::default(),
        )
        .await
        .map(drop)
    }

    /// Fails with a message naming what is needed unless this member manages members.
    pub fn require_member_manager(&self) -> Result<()> {
        if self.role.manages_members() {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "only the team's owners and admins can manage members".to_owned(),
            ))
        }
    }
}

/// `user` acting in the team at `/<slug>`. A team that does not exist and one the
/// person does not belong to give the same answer, so its existence does not leak.
pub async fn membership(store: &Store, slug: &str, user: &User) -> Result<Current> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        account: Account,
        role: String,
    }
    let row: Option<Row> = on_pool!(store, |p| sqlx::query_as(
        "SELECT a.id, a.slug, a.name, a.created_at, m.role \
         FROM accounts a JOIN members m ON m.account_id = a.id \
         WHERE a.slug = $1 AND m.user_id = $2"
    )
    .bind(slug)
    .bind(user.id)
    .fetch_optional(p)
    .await?);
    let row = row.ok_or(Error::NotFound("team"))?;
    Ok(Current {
        user: user.clone(),
        account: row.account,
        role: Role::parse(&row.role)?,
    })
}

/// The teams `user` belongs to, with their role in each, by name.
pub async fn teams_of(store: &Store, user: UserId) -> Result<Vec<(Account, Role)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        account: Account,
        role: String,
    }
    let rows: Vec<Row> = on_pool!(store, |p| sqlx::query_as(
        "SELECT a.id, a.slug, a.name, a.created_at, m.role \
         FROM accounts a JOIN members m ON m.account_id = a.id \
         WHERE m.user_id = $1 ORDER BY a.name, a.id"
    )
    .bind(user)
    .fetch_all(p)
    .await?);
    rows.into_iter()
        .map(|r| Ok((r.account, Role::parse(&r.role)?)))
        .collect()
}

/// Creates a team with `user` as its owner: records `account.created` and
/// `member.joined` in one transaction.
pub async fn create_team(store: &Store, name: AccountName, user: &User) -> Result<Account> {
    let actor = Actor::Member {
        id: user.id.0,
        name: user.name.clone(),
    };
    let mut tx = store.begin().await?;
    let account = super::create_account_in(&mut tx, &name, &actor).await?;
    add_member(&mut tx, account.id, user, Role::Owner, &actor).await?;
    tx.commit().await?;
    Ok(account)
}

async fn add_member(
    tx: &mut Tx,
    account: AccountId,
    user: &User,
    role: Role,
    actor: &Actor,
) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO members (account_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4)"
    )
    .bind(account)
    .bind(user.id)
    .bind(role.as_str())
    .bind(now_micros())
    .execute(c)
    .await?
    .rows_affected());
    let event = MemberJoined {
        member_id: user.id.0,
        name: user.name.clone(),
        role: role.as_str().to_owned(),
    };
    record(tx, account, actor, &event, RecordOptions::default()).await?;
    Ok(())
}

/// A member as the members page shows them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Member {
    pub user_id: UserId,
    pub name: String,
    pub email: String,
    pub role: Role,
    /// Microseconds since the Unix epoch.
    pub joined_at: i64,
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    user_id: UserId,
    name: String,
    email: String,
    role: String,
    joined_at: i64,
}

impl MemberRow {
    fn into_member(self) -> Result<Member> {
        Ok(Member {
            user_id: self.user_id,
            name: self.name,
            email: self.email,
            role: Role::parse(&self.role)?,
            joined_at: self.joined_at,
        })
    }
}

const MEMBER_SELECT: &str = "SELECT m.user_id, u.name, u.email, m.role, m.joined_at \
     FROM members m JOIN users u ON u.id = m.user_id";

/// The team's members, owners first, then by name. Any member may see them.
pub async fn list_members(store: &Store, current: &Current) -> Result<Vec<Member>> {
    let sql = format!(
        "{MEMBER_SELECT} WHERE m.account_id = $1 \
         ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, u.name, m.user_id"
    );
    let rows: Vec<MemberRow> = on_account!(store, current.account_id(), |c| sqlx::query_as(&sql)
        .bind(current.account_id())
        .fetch_all(c)
        .await?);
    rows.into_iter().map(MemberRow::into_member).collect()
}

async fn find_member(tx: &mut Tx, account: AccountId, user: UserId) -> Result<Member> {
    let sql = format!("{MEMBER_SELECT} WHERE m.account_id = $1 AND m.user_id = $2");
    let row: Option<MemberRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(account)
        .bind(user)
        .fetch_optional(c)
        .await?);
    row.ok_or(Error::NotFound("member"))?.into_member()
}

/// Serializes changes to one team's memberships (PostgreSQL: the account row, `FOR
/// UPDATE`; SQLite's write transaction is exclusive already), so two owners demoting
/// each other at once cannot leave the team without one.
async fn lock_team(tx: &mut Tx, account: AccountId) -> Result<()> {
    if tx.engine() == crate::store::Engine::Postgres {
        on_tx!(tx, |c| sqlx::query(
            "SELECT id FROM accounts WHERE id = $1 FOR UPDATE"
        )
        .bind(account)
        .fetch_optional(c)
        .await?
        .is_some());
    }
    Ok(())
}

async fn owner_count(tx: &mut Tx, account: AccountId) -> Result<i64> {
    Ok(on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT count(*) FROM members WHERE account_id = $1 AND role = 'owner'"
    )
    .bind(account)
    .fetch_one(c)
    .await?))
}

/// Only owners may touch an owner or make someone an owner.
fn check_owner_rules(current: &Current, target: Role, new_role: Option<Role>) -> Result<()> {
    let touches_owner = target == Role::Owner || new_role == Some(Role::Owner);
    if touches_owner && current.role != Role::Owner {
        return Err(Error::Forbidden(
            "only an owner can change an owner or make someone an owner".to_owned(),
        ));
    }
    Ok(())
}

/// Changes a member's role. Records `member.role_changed`.
pub async fn change_role(
    store: &Store,
    current: &Current,
    user: UserId,
    role: Role,
) -> Result<Member> {
    current.require_member_manager()?;
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    lock_team(&mut tx, account).await?;
    let member = find_member(&mut tx, account, user).await?;
    check_owner_rules(current, member.role, Some(role))?;
    if member.role == role {
        return Ok(member);
    }
    if member.role == Role::Owner && owner_count(&mut tx, account).await? <= 1 {
        return Err(Error::Conflict(
            "a team needs an owner: make someone else owner first".to_owned(),
        ));
    }
    on_tx!(tx, |c| sqlx::query(
        "UPDATE members SET role = $1 WHERE account_id = $2 AND user_id = $3"
    )
    .bind(role.as_str())
    .bind(account)
    .bind(user)
    .execute(c)
    .await?
    .rows_affected());
    let event = MemberRoleChanged {
        member_id: user.0,
        name: member.name.clone(),
        from: member.role.as_str().to_owned(),
        to: role.as_str().to_owned(),
    };
    current.record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(Member { role, ..member })
}

/// Removes a member from the team (or lets a member leave). Records `member.removed`.
pub async fn remove_member(store: &Store, current: &Current, user: UserId) -> Result<()> {
    let leaving = user == current.user.id;
    if !leaving {
        current.require_member_manager()?;
    }
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    lock_team(&mut tx, account).await?;
    let member = find_member(&mut tx, account, user).await?;
    if !leaving {
        check_owner_rules(current, member.role, None)?;
    }
    if member.role == Role::Owner && owner_count(&mut tx, account).await? <= 1 {
        return Err(Error::Conflict(
            "a team needs an owner: make someone else owner first".to_owned(),
        ));
    }
    on_tx!(tx, |c| sqlx::query(
        "DELETE FROM members WHERE account_id = $1 AND user_id = $2"
    )
    .bind(account)
    .bind(user)
    .execute(c)
    .await?
    .rows_affected());
    let event = MemberRemoved {
        member_id: user.0,
        name: member.name,
        role: member.role.as_str().to_owned(),
    };
    current.record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(())
}

/// How long an invitation stays open.
pub const INVITATION_LIFETIME: Duration = Duration::from_secs(14 * 24 * 60 * 60);

/// An open invitation to a team.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct Invitation {
    pub account_id: AccountId,
    pub id: Uuid,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub invited_by_name: String,
    pub created_at: i64,
    pub expires_at: i64,
}

const INVITATION_COLUMNS: &str =
    "account_id, id, email, role, invited_by_name, created_at, expires_at";

/// Invites `email` to the team as `role`: records `member.invited` and mails the
/// person a link to sign in, after which the invitation waits on their start page.
pub async fn invite(
    store: &Store,
    current: &Current,
    email: &Email,
    role: Role,
    base_url: &str,
) -> Result<Invitation> {
    current.require_member_manager()?;
    check_owner_rules(current, Role::Member, Some(role))?;
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    let already: i64 = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT count(*) FROM members m JOIN users u ON u.id = m.user_id \
         WHERE m.account_id = $1 AND u.email = $2"
    )
    .bind(account)
    .bind(email.as_str())
    .fetch_one(c)
    .await?);
    if already > 0 {
        return Err(Error::Conflict(format!("{email} is already in this team")));
    }
    let now = now_micros();
    // An expired invitation no longer stands in the way of a new one.
    on_tx!(tx, |c| sqlx::query(
        "UPDATE invitations SET revoked_at = $1 WHERE account_id = $2 AND email = $3 \
         AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at <= $1"
    )
    .bind(now)
    .bind(account)
    .bind(email.as_str())
    .execute(c)
    .await?
    .rows_affected());
    let invitation = Invitation {
        account_id: account,
        id: Uuid::now_v7(),
        email: email.as_str().to_owned(),
        role,
        invited_by_name: current.user.name.clone(),
        created_at: now,
        expires_at: now + i64::try_from(INVITATION_LIFETIME.as_micros()).unwrap_or(i64::MAX),
    };
    let inserted = on_tx!(tx, |c| sqlx::query(
        "INSERT INTO invitations \
           (account_id, id, email, role, invited_by, invited_by_name, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (account_id, email) WHERE accepted_at IS NULL AND revoked_at IS NULL \
         DO NOTHING"
    )
    .bind(account)
    .bind(invitation.id)
    .bind(email.as_str())
    .bind(role.as_str())
    .bind(current.user.id)
    .bind(&current.user.name)
    .bind(now)
    .bind(invitation.expires_at)
    .execute(c)
    .await?
    .rows_affected());
    if inserted != 1 {
        return Err(Error::Conflict(format!("{email} has already been invited")));
    }
    let event = MemberInvited {
        invitation_id: invitation.id,
        email: email.as_str().to_owned(),
        role: role.as_str().to_owned(),
    };
    current.record(&mut tx, &event).await?;
    let base = base_url.trim_end_matches('/');
    let body = format!(
        "Hello,\n\n{inviter} invited you to join {team} on Chronicle as {role}.\n\n\
         Sign in with this address ({email}) to accept:\n\n{base}/sign-in?email={link_email}\n",
        link_email = crate::validate::query_encode(email.as_str()),
        inviter = current.user.name,
        team = current.account.name,
    );
    mail::send(
        &mut tx,
        Some(account),
        email.as_str(),
        &format!(
            "{} invited you to {}",
            current.user.name, current.account.name
        ),
        &body,
    )
    .await?;
    tx.commit().await?;
    Ok(invitation)
}

/// The team's open invitations, newest first (for its members page).
pub async fn open_invitations(store: &Store, current: &Current) -> Result<Vec<Invitation>> {
    let sql = format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations \
         WHERE account_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
         ORDER BY created_at DESC, id DESC"
    );
    Ok(on_account!(store, current.account_id(), |c| {
        sqlx::query_as(&sql)
            .bind(current.account_id())
            .bind(now_micros())
            .fetch_all(c)
            .await?
    }))
}

/// Withdraws an open invitation.
pub async fn revoke_invitation(store: &Store, current: &Current, id: Uuid) -> Result<()> {
    current.require_member_manager()?;
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    let n = on_tx!(tx, |c| sqlx::query(
        "UPDATE invitations SET revoked_at = $1 \
         WHERE account_id = $2 AND id = $3 AND accepted_at IS NULL AND revoked_at IS NULL"
    )
    .bind(now_micros())
    .bind(account)
    .bind(id)
    .execute(c)
    .await?
    .rows_affected());
    if n != 1 {
        // Accepted first (the accept held the row until it committed), or never open.
        let accepted: Option<Option<i64>> = on_tx!(tx, |c| sqlx::query_scalar(
            "SELECT accepted_at FROM invitations WHERE account_id = $1 AND id = $2"
        )
        .bind(account)
        .bind(id)
        .fetch_optional(c)
        .await?);
        return Err(match accepted {
            Some(Some(_)) => {
                Error::Conflict("this invitation has already been accepted".to_owned())
            }
            _ => Error::NotFound("invitation"),
        });
    }
    tx.commit().await?;
    Ok(())
}

/// An invitation waiting for the signed-in person, with the team it is for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct InvitationForMe {
    pub account_id: AccountId,
    pub id: Uuid,
    pub team_name: String,
    pub team_slug: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub invited_by_name: String,
}

/// Open invitations addressed to `user`'s e-mail, across teams (the invitation is
/// addressed to the person, so this is the one read that spans accounts by design).
pub async fn invitations_for(store: &Store, user: &User) -> Result<Vec<InvitationForMe>> {
    Ok(on_pool!(store, |p| sqlx::query_as(
        "SELECT i.account_id, i.id, a.name AS team_name, a.slug AS team_slug, i.role, \
                i.invited_by_name \
         FROM invitations i JOIN accounts a ON a.id = i.account_id \
         WHERE i.email = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL \
           AND i.expires_at > $2 \
         ORDER BY i.created_at, i.id"
    )
    .bind(&user.email)
    .bind(now_micros())
    .fetch_all(p)
    .await?))
}

/// Accepts an invitation addressed to `user`: they join the team with the invited
/// role (`member.joined`). Returns the team.
pub async fn accept_invitation(
    store: &Store,
    user: &User,
    account: AccountId,
    id: Uuid,
) -> Result<Account> {
    let now = now_micros();
    let mut tx = store.begin_for(account).await?;
    #[derive(sqlx::FromRow)]
    struct Row {
        email: String,
        role: String,
        expires_at: i64,
        accepted_at: Option<i64>,
        revoked_at: Option<i64>,
    }
    // Locked until commit (PostgreSQL; SQLite's transaction holds the one write lock):
    // a revoke waits for this accept to end, or this accept for the revoke, and the
    // second sees what the first did.
    let lock = match tx.engine() {
        crate::store::Engine::Postgres => " FOR UPDATE",
        crate::store::Engine::Sqlite => "",
    };
    let sql = format!(
        "SELECT email, role, expires_at, accepted_at, revoked_at \
         FROM invitations WHERE account_id = $1 AND id = $2{lock}"
    );
    let row: Option<Row> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(account)
        .bind(id)
        .fetch_optional(c)
        .await?);
    // Someone else's invitation is as invisible as a missing one.
    let row = row
        .filter(|r| r.email == user.email)
        .ok_or(Error::NotFound("invitation"))?;
    if row.accepted_at.is_some() {
        return Err(Error::Conflict(
            "this invitation has already been accepted".to_owned(),
        ));
    }
    if row.revoked_at.is_some() {
        return Err(Error::Conflict(
            "this invitation has been withdrawn".to_owned(),
        ));
    }
    if row.expires_at <= now {
        return Err(Error::Conflict(
            "this invitation has expired; ask for a new one".to_owned(),
        ));
    }
    let role = Role::parse(&row.role)?;
    let already: i64 = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT count(*) FROM members WHERE account_id = $1 AND user_id = $2"
    )
    .bind(account)
    .bind(user.id)
    .fetch_one(c)
    .await?);
    let accepted = on_tx!(tx, |c| sqlx::query(
        "UPDATE invitations SET accepted_at = $1 WHERE account_id = $2 AND id = $3 \
         AND accepted_at IS NULL AND revoked_at IS NULL"
    )
    .bind(now)
    .bind(account)
    .bind(id)
    .execute(c)
    .await?
    .rows_affected());
    if accepted != 1 {
        return Err(Error::Conflict(
            "this invitation has been withdrawn".to_owned(),
        ));
    }
    if already == 0 {
        let actor = Actor::Member {
            id: user.id.0,
            name: user.name.clone(),
        };
        add_member(&mut tx, account, user, role, &actor).await?;
    }
    let team: Account = on_tx!(tx, |c| sqlx::query_as(
        "SELECT id, slug, name, created_at FROM accounts WHERE id = $1"
    )
    .bind(account)
    .fetch_one(c)
    .await?);
    tx.commit().await?;
    Ok(team)
}

/// Whether `user` belongs to `account` (checked inside the caller's transaction).
pub(crate) async fn is_member(tx: &mut Tx, account: AccountId, user: Uuid) -> Result<bool> {
    let n: i64 = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT count(*) FROM members WHERE account_id = $1 AND user_id = $2"
    )
    .bind(account)
    .bind(user)
    .fetch_one(c)
    .await?);
    Ok(n > 0)
}
