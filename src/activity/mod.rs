//! The activity projection: one row per user-facing event, scoped by project, board,
//! card and creator, written in the recording transaction and read by the feeds.
//! It is derived data: [`rebuild`] recreates it from the log.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::accounts::AccountId;
use crate::error::Result;
use crate::events::record::{EventRow, NewEvent, ACTIVITY_INSERT};
use crate::events::registry::AnyEvent;
use crate::events::{decode, Scope};
use crate::store::{on_account, on_tx, Store, Tx};

/// Writes one activity row (rebuilding from the log; recording writes them in bulk
/// with the same column list, see `events::record`).
pub(crate) async fn project(tx: &mut Tx, row: &EventRow) -> Result<()> {
    let sql = format!(
        "{ACTIVITY_INSERT} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (account_id, sequence) DO NOTHING"
    );
    on_tx!(tx, |c| sqlx::query(&sql)
        .bind(row.account_id)
        .bind(row.sequence)
        .bind(row.id)
        .bind(&row.event_type)
        .bind(&row.subject_kind)
        .bind(row.subject_id)
        .bind(row.scope.project)
        .bind(row.scope.board)
        .bind(row.scope.card)
        .bind(row.actor_id)
        .bind(row.batch_id)
        .bind(row.created_at)
        .execute(c)
        .await?
        .rows_affected());
    Ok(())
}

/// Which activity a feed shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedScope {
    Account,
    Project(Uuid),
    Board(Uuid),
    Card(Uuid),
    /// Everything one member did.
    Creator(Uuid),
}

/// A feed request: scope, filters and a keyset cursor.
#[derive(Debug, Clone)]
pub struct FeedQuery {
    pub scope: FeedScope,
    /// Only these event types (wire names); empty means all.
    pub types: Vec<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// Only items older than this sequence ("load older"); `None` starts at the newest.
    pub before: Option<i64>,
    /// Only items newer than this sequence (catching up after a reconnect).
    pub after: Option<i64>,
    pub limit: u32,
    /// Oldest first (replaying after a cursor) instead of newest first (a feed page).
    pub oldest_first: bool,
    /// Only what this person did (the "mine" filter).
    pub creator: Option<Uuid>,
    /// Not what this person did (the "team" filter: what the others did).
    pub exclude_creator: Option<Uuid>,
    /// Only items about cards this person follows (the "my items" filter).
    pub followed_by: Option<Uuid>,
}

impl FeedQuery {
    /// Whether `item` belongs in this feed, decided in memory (how a live stream filters
    /// items read once for all its subscribers). `None` when it cannot be decided
    /// without the database (the "my items" filter); the stream then reads instead.
    pub fn matches(&self, item: &ActivityItem) -> Option<bool> {
        if self.followed_by.is_some() {
            return None;
        }
        let in_scope = match self.scope {
            FeedScope::Account => true,
            FeedScope::Project(id) => item.scope.project == Some(id),
            FeedScope::Board(id) => item.scope.board == Some(id),
            FeedScope::Card(id) => item.scope.card == Some(id),
            FeedScope::Creator(id) => item.actor_id == Some(id),
        };
        let by_creator = self.creator.is_none_or(|me| item.actor_id == Some(me));
        let not_excluded = self
            .exclude_creator
            .is_none_or(|me| item.actor_id != Some(me));
        let of_type = self.types.is_empty() || self.types.contains(&item.event_type);
        let after_since = self.since.is_none_or(|t| item.created_at >= t);
        let before_until = self.until.is_none_or(|t| item.created_at < t);
        Some(in_scope && by_creator && not_excluded && of_type && after_since && before_until)
    }
}

/// Most items one page of a feed returns.
pub const MAX_FEED_LIMIT: u32 = 200;

impl FeedQuery {
    pub fn new(scope: FeedScope) -> Self {
        FeedQuery {
            scope,
            types: Vec::new(),
            since: None,
            until: None,
            before: None,
            after: None,
            limit: 50,
            oldest_first: false,
            creator: None,
            exclude_creator: None,
            followed_by: None,
        }
    }
}

/// One feed item, ready to show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityItem {
    pub sequence: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub actor_id: Option<Uuid>,
    pub actor_name: String,
    /// `"Bob moved Fix login from To do to Doing"`.
    pub description: String,
    pub icon: String,
    pub subject_kind: String,
    pub subject_id: Uuid,
    pub scope: Scope,
    pub batch_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct FeedRow {
    sequence: i64,
    event_id: Uuid,
    event_type: String,
    schema_version: i32,
    actor_id: Option<Uuid>,
    actor_name: String,
    data: sqlx::types::Json<serde_json::Value>,
    subject_kind: String,
    subject_id: Uuid,
    project_id: Option<Uuid>,
    board_id: Option<Uuid>,
    card_id: Option<Uuid>,
    batch_id: Option<Uuid>,
    created_at: OffsetDateTime,
}

/// A page of `account`'s feed, newest first. Only this account's rows can be returned:
/// the account is the first condition of every branch of the query.
pub async fn feed(
    store: &Store,
    account: AccountId,
    query: &FeedQuery,
) -> Result<Vec<ActivityItem>> {
    let limit = query.limit.clamp(1, MAX_FEED_LIMIT) as i64;
    let rows: Vec<FeedRow> = on_account!(store, account, |p| {
        let mut q = sqlx::QueryBuilder::new(
            "SELECT a.sequence, a.event_id, a.event_type, e.schema_version, e.actor_id, \
             e.actor_name, e.data, a.subject_kind, a.subject_id, a.project_id, a.board_id, \
             a.card_id, a.batch_id, a.created_at \
             FROM activities a JOIN events e \
             ON e.account_id = a.account_id AND e.sequence = a.sequence \
             WHERE a.account_id = ",
        );
        q.push_bind(account);
        match query.scope {
            FeedScope::Account => {}
            FeedScope::Project(id) => {
                q.push(" AND a.project_id = ").push_bind(id);
            }
            FeedScope::Board(id) => {
                q.push(" AND a.board_id = ").push_bind(id);
            }
            FeedScope::Card(id) => {
                q.push(" AND a.card_id = ").push_bind(id);
            }
            FeedScope::Creator(id) => {
                q.push(" AND a.creator_id = ").push_bind(id);
            }
        }
        if let Some(me) = query.creator {
            q.push(" AND a.creator_id = ").push_bind(me);
        }
        if let Some(me) = query.exclude_creator {
            q.push(" AND (a.creator_id IS NULL OR a.creator_id <> ")
                .push_bind(me)
                .push(")");
        }
        if let Some(me) = query.followed_by {
            q.push(" AND a.card_id IN (SELECT s.card_id FROM card_subscriptions s WHERE s.account_id = ")
                .push_bind(account)
                .push(" AND s.user_id = ")
                .push_bind(me)
                .push(")");
        }
        if !query.types.is_empty() {
            q.push(" AND a.event_type IN (");
            let mut list = q.separated(", ");
            for t in &query.types {
                list.push_bind(t.clone());
            }
            q.push(")");
        }
        if let Some(since) = query.since {
            q.push(" AND a.created_at >= ").push_bind(since);
        }
        if let Some(until) = query.until {
            q.push(" AND a.created_at < ").push_bind(until);
        }
        if let Some(before) = query.before {
            q.push(" AND a.sequence < ").push_bind(before);
        }
        if let Some(after) = query.after {
            q.push(" AND a.sequence > ").push_bind(after);
        }
        q.push(if query.oldest_first {
            " ORDER BY a.sequence ASC LIMIT "
        } else {
            " ORDER BY a.sequence DESC LIMIT "
        })
        .push_bind(limit);
        q.build_query_as::<FeedRow>().fetch_all(p).await?
    });
    rows.into_iter().map(item).collect()
}

/// The activity a commit recorded in one team, announced with the commit (see
/// [`crate::store::Committed`]) so a live timeline need not read it back: every item with
/// a sequence in (`after`, the commit's last sequence], oldest first. Only small commits
/// carry it ([`CARRIED_ITEMS`]); a larger one is read from the database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitActivity {
    pub after: i64,
    pub items: Vec<ActivityItem>,
}

/// The most activity items a commit announces with itself, per team.
pub const CARRIED_ITEMS: usize = 16;

/// The feed item of an event being recorded: what [`feed`] will read back for it.
pub(crate) fn item_of(row: &NewEvent, event: &dyn AnyEvent) -> ActivityItem {
    ActivityItem {
        sequence: row.sequence,
        event_id: row.id,
        event_type: row.event_type.to_owned(),
        actor_id: row.actor_id,
        description: event.describe(&row.actor_name),
        icon: event.icon().to_owned(),
        actor_name: row.actor_name.clone(),
        subject_kind: row.subject_kind.to_owned(),
        subject_id: row.subject_id,
        scope: row.scope,
        batch_id: row.batch_id,
        created_at: row.created_at,
    }
}

fn item(row: FeedRow) -> Result<ActivityItem> {
    let event = decode(&row.event_type, row.schema_version, row.data.0)?;
    Ok(ActivityItem {
        sequence: row.sequence,
        event_id: row.event_id,
        description: event.describe(&row.actor_name),
        icon: event.icon().to_owned(),
        event_type: row.event_type,
        actor_id: row.actor_id,
        actor_name: row.actor_name,
        subject_kind: row.subject_kind,
        subject_id: row.subject_id,
        scope: Scope {
            project: row.project_id,
            board: row.board_id,
            card: row.card_id,
        },
        batch_id: row.batch_id,
        created_at: row.created_at,
    })
}

/// Fails with "not found" unless the scope's project, board or card belongs to the
/// member's team: a feed or stream of another team's board is refused, not empty.
pub async fn check_scope(
    store: &Store,
    current: &crate::accounts::Current,
    scope: FeedScope,
) -> Result<()> {
    match scope {
        FeedScope::Account | FeedScope::Creator(_) => Ok(()),
        FeedScope::Project(id) => crate::projects::get_project(store, current, id)
            .await
            .map(drop),
        FeedScope::Board(id) => crate::boards::get_board(store, current, id).await.map(drop),
        FeedScope::Card(id) => crate::cards::get_card(store, current, id).await.map(drop),
    }
}

/// The newest sequence number in `account`'s log (0 when it has none): where a live
/// stream that replays nothing starts.
pub async fn latest_sequence(store: &Store, account: AccountId) -> Result<i64> {
    let head: Option<i64> = on_account!(store, account, |p| sqlx::query_scalar(
        "SELECT max(sequence) FROM events WHERE account_id = $1"
    )
    .bind(account)
    .fetch_one(p)
    .await?);
    Ok(head.unwrap_or(0))
}

/// Recreates `account`'s activity rows from its log, `chunk` events per transaction,
/// calling `progress(done, total)` after each chunk. Returns the number of rows written.
pub async fn rebuild(
    store: &Store,
    account: AccountId,
    chunk: u32,
    mut progress: impl FnMut(u64, u64),
) -> Result<u64> {
    let total = crate::events::log::count(store, account).await?;
    let mut tx = store.begin().await?;
    on_tx!(tx, |c| sqlx::query(
        "DELETE FROM activities WHERE account_id = $1"
    )
    .bind(account)
    .execute(c)
    .await?
    .rows_affected());
    tx.commit().await?;
    let mut after = 0i64;
    let mut done = 0u64;
    let mut written = 0u64;
    loop {
        let rows = crate::events::log::read(store, account, after, chunk.max(1)).await?;
        let Some(last) = rows.last() else { break };
        after = last.row.sequence;
        let mut tx = store.begin().await?;
        for stored in &rows {
            let event = decode(
                &stored.row.event_type,
                stored.row.schema_version,
                stored.row.data.clone(),
            )?;
            if event.user_facing() {
                project(&mut tx, &stored.row).await?;
                written += 1;
            }
        }
        tx.commit().await?;
        done += rows.len() as u64;
        progress(done, total);
    }
    Ok(written)
}
