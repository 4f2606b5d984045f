//! Recording: an event, its activity row and its inbox jobs, written in the caller's
//! transaction, so the change and its record commit or vanish together.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use super::canonical::{canonical_json, canonical_json_as, chain_hash, HashFormat, HashInput};
use super::registry::AnyEvent;
use super::{DomainEvent, Scope, Subject};
use crate::accounts::{truncate_to_micros, AccountId};
use crate::activity::{item_of, ActivityItem, CommitActivity, CARRIED_ITEMS};
use crate::error::{Error, Result};
use crate::store::{on_tx, Committed, Engine, Tx, TxInner};

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A signed-in member; the name is kept so history reads right after renames.
    Member { id: Uuid, name: String },
    /// Chronicle itself (a rule, a migration, a scheduled job).
    System,
}

impl Actor {
    pub fn id(&self) -> Option<Uuid> {
        match self {
            Actor::Member { id, .. } => Some(*id),
            Actor::System => None,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Actor::Member { name, .. } => name,
            Actor::System => "Chronicle",
        }
    }
}

/// Where a request came from. The IP address is truncated before it is stored (IPv4
/// to /24, IPv6 to /48): enough to tell networks apart, not to single out a person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    pub request_id: Option<String>,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// Longest user agent kept, in characters.
const MAX_USER_AGENT_CHARS: usize = 256;

impl RequestContext {
    fn to_metadata(&self) -> Value {
        json!({
            "request_id": self.request_id,
            "ip": self.ip.map(truncate_ip),
            "user_agent": self.user_agent.as_ref()
                .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect::<String>()),
        })
    }
}

/// `203.0.113.77` → `203.0.113.0/24`; `2001:db8:1:2::1` → `2001:db8:1::/48`.
pub fn truncate_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return truncate_ip(IpAddr::V4(v4));
            }
            let s = v6.segments();
            let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
            format!("{net}/48")
        }
    }
}

/// How to record.
#[derive(Debug, Clone, Default)]
pub struct RecordOptions {
    pub request: Option<RequestContext>,
    /// The id shared by everything one user action caused, across inboxes.
    pub correlation_id: Option<Uuid>,
    /// The id of the event that caused this one, when an inbox records in reaction.
    pub causation_id: Option<Uuid>,
    /// One bulk operation = one batch; feeds show a batch grouped.
    pub batch_id: Option<Uuid>,
    /// Skip recording if the same event type on the same subject was recorded within
    /// this long (e.g. typing in a description records one edit a minute, not fifty).
    pub throttle: Option<Duration>,
    /// A copy of the subject's state at this moment, stored beside the event.
    pub snapshot: Option<Value>,
}

/// What [`record`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    Recorded {
        id: Uuid,
        sequence: i64,
    },
    /// Skipped by the throttle; nothing was written.
    Throttled,
}

impl RecordOutcome {
    pub fn sequence(&self) -> Option<i64> {
        match self {
            RecordOutcome::Recorded { sequence, .. } => Some(*sequence),
            RecordOutcome::Throttled => None,
        }
    }
}

/// Where an account's chain stands inside a transaction.
#[derive(Debug, Clone)]
pub(crate) struct ChainHead {
    pub(crate) sequence: i64,
    pub(crate) hash: Hash,
    /// Whether this transaction appended (and so must write the head back).
    pub(crate) dirty: bool,
}

/// A SHA-256 digest: each event's link in its account's chain.
pub type Hash = [u8; 32];

/// The hash that starts every account's chain.
pub const GENESIS_HASH: Hash = [0; 32];

/// Records `event` for `account` inside `tx`: validates it, appends it to the account's
/// chain with the next sequence number, writes its activity row (when user-facing) and
/// a job for every inbox that accepts it. Nothing is visible until `tx` commits; an
/// error leaves the transaction to be dropped and nothing written.
pub async fn record<E: DomainEvent>(
    tx: &mut Tx,
    account: AccountId,
    actor: &Actor,
    event: &E,
    options: RecordOptions,
) -> Result<RecordOutcome> {
    record_any(tx, account, actor, event, options).await
}

/// [`record`] for an event whose type is known only at run time.
pub async fn record_any(
    tx: &mut Tx,
    account: AccountId,
    actor: &Actor,
    event: &dyn AnyEvent,
    options: RecordOptions,
) -> Result<RecordOutcome> {
    event.validate()?;
    let subject = event.subject();
    let now = truncate_to_micros(OffsetDateTime::now_utc());

    if let Some(window) = options.throttle {
        if recently_recorded(tx, account, event.type_name(), subject, now, window).await? {
            return Ok(RecordOutcome::Throttled);
        }
    }

    let mut head = lock_head(tx, account).await?;
    let row = NewEvent {
        account_id: account.0,
        sequence: head.sequence + 1,
        id: Uuid::now_v7(),
        event_type: event.type_name(),
        schema_version: event.version(),
        subject_kind: subject.kind.as_str(),
        subject_id: subject.id,
        scope: event.scope(),
        actor_id: actor.id(),
        actor_name: actor.name().to_owned(),
        data: canonical_json(&event.to_data()?),
        metadata: metadata(&options),
        batch_id: options.batch_id,
        // A JSON null snapshot means none (the two would hash alike).
        snapshot: options
            .snapshot
            .as_ref()
            .filter(|s| !s.is_null())
            .map(canonical_json),
        created_at: now,
        prev_hash: head.hash,
        hash_format: HashFormat::CURRENT,
    };
    let hash = row.chain_hash();
    // What a live timeline will show, kept to announce with the commit (small commits).
    let carry = tx.carried.entry(account).or_insert_with(|| Carry {
        after: row.sequence - 1,
        items: Some(Vec::new()),
    });
    if event.user_facing() {
        match &mut carry.items {
            Some(items) if items.len() < CARRIED_ITEMS => items.push(item_of(&row, event)),
            _ => carry.items = None,
        }
    }
    let jobs = crate::inbox::jobs_for(tx.store(), event, account, row.sequence, row.id);
    if !jobs.is_empty() {
        tx.enqueued_jobs = true;
    }
    let id = row.id;
    let sequence = row.sequence;
    // Written by `flush_pending`, at the latest at commit (see `Pending`).
    tx.pending.events.push(PendingEvent {
        activity: event.user_facing(),
        row,
        hash,
        jobs,
    });

    head.sequence = sequence;
    head.hash = hash;
    head.dirty = true;
    tx.heads.insert(account, head);
    Ok(RecordOutcome::Recorded { id, sequence })
}

/// The metadata of an event recorded with no request, correlation or causation: most
/// events recorded by jobs and benchmarks, written without building a JSON tree.
const NO_METADATA: &str = r#"{"causation_id":null,"correlation_id":null,"request":null}"#;

/// The event's metadata as canonical JSON text.
fn metadata(options: &RecordOptions) -> Cow<'static, str> {
    if options.request.is_none()
        && options.correlation_id.is_none()
        && options.causation_id.is_none()
    {
        return Cow::Borrowed(NO_METADATA);
    }
    Cow::Owned(canonical_json(&metadata_value(options)))
}

fn metadata_value(options: &RecordOptions) -> Value {
    json!({
        "request": options.request.as_ref().map(RequestContext::to_metadata),
        "correlation_id": options.correlation_id,
        "causation_id": options.causation_id,
    })
}

/// The account's chain head, taking the per-account lock on first use in `tx`.
///
/// PostgreSQL: `SELECT … FOR UPDATE` on the account's `event_chains` row; concurrent
/// recorders for the same account queue here until this transaction ends, so sequence
/// numbers become visible in commit order. SQLite: the transaction already holds the
/// database's single write lock (`BEGIN IMMEDIATE`), and the head committed last by
/// this process is remembered, which saves the read (see `Shared::sqlite_heads`).
///
/// A transaction that records for several teams takes their locks in one order (by
/// account id), or two such transactions could each hold the lock the other waits for.
/// Locking a team after a later one in that order is refused: lock them together first
/// with [`Tx::lock_chains`].
pub(crate) async fn lock_head(tx: &mut Tx, account: AccountId) -> Result<ChainHead> {
    if let Some(head) = tx.heads.get(&account) {
        return Ok(head.clone());
    }
    if tx.heads.keys().any(|held| held.0 > account.0) {
        return Err(Error::Bug(
            "this transaction records for several teams out of order; lock their chains \
             first with Tx::lock_chains"
                .into(),
        ));
    }
    if let Some((sequence, hash)) = tx.store().shared.cached_head(account) {
        let head = ChainHead {
            sequence,
            hash,
            dirty: false,
        };
        tx.heads.insert(account, head.clone());
        return Ok(head);
    }
    let sql = match tx.engine() {
        Engine::Postgres => {
            "SELECT last_sequence, last_hash FROM event_chains WHERE account_id = $1 FOR UPDATE"
        }
        Engine::Sqlite => "SELECT last_sequence, last_hash FROM event_chains WHERE account_id = $1",
    };
    let row: Option<(i64, Vec<u8>)> = on_tx!(tx, |c| sqlx::query_as(sql)
        .bind(account)
        .fetch_optional(c)
        .await?);
    let (sequence, hash) = row.ok_or(Error::NotFound("account"))?;
    // A head that is not 32 bytes is a damaged row, not bad input: a decoding error.
    let hash = Hash::try_from(hash.as_slice())
        .map_err(|_| sqlx::Error::Decode("event_chains.last_hash is not a SHA-256 hash".into()))?;
    let head = ChainHead {
        sequence,
        hash,
        dirty: false,
    };
    tx.heads.insert(account, head.clone());
    Ok(head)
}

/// The chain heads this transaction advanced, to write back and announce at commit,
/// each with the activity recorded for its team when there was little enough to carry.
pub(crate) fn dirty_heads(tx: &mut Tx) -> Vec<HeadUpdate> {
    let mut carried = std::mem::take(&mut tx.carried);
    tx.heads
        .iter()
        .filter(|(_, h)| h.dirty)
        .map(|(a, h)| HeadUpdate {
            account: *a,
            sequence: h.sequence,
            hash: h.hash,
            activity: carried.remove(a).and_then(|c| {
                Some(Arc::new(CommitActivity {
                    after: c.after,
                    items: c.items?,
                }))
            }),
        })
        .collect()
}

/// The activity a transaction has recorded in one team so far: items in (`after`, …],
/// or `None` once there are more than [`CARRIED_ITEMS`].
pub(crate) struct Carry {
    after: i64,
    items: Option<Vec<ActivityItem>>,
}

/// A chain head to write back, and announce, at commit.
pub(crate) struct HeadUpdate {
    pub(crate) account: AccountId,
    pub(crate) sequence: i64,
    pub(crate) hash: Hash,
    pub(crate) activity: Option<Arc<CommitActivity>>,
}

impl HeadUpdate {
    pub(crate) fn committed(&self) -> Committed {
        Committed {
            account: self.account,
            last_sequence: self.sequence,
            activity: self.activity.clone(),
        }
    }
}

async fn recently_recorded(
    tx: &mut Tx,
    account: AccountId,
    event_type: &str,
    subject: Subject,
    now: OffsetDateTime,
    window: Duration,
) -> Result<bool> {
    let since = now - window;
    let found: Option<i64> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT sequence FROM events WHERE account_id = $1 AND subject_id = $2 \
         AND event_type = $3 AND subject_kind = $4 AND created_at > $5 \
         ORDER BY sequence DESC LIMIT 1"
    )
    .bind(account)
    .bind(subject.id)
    .bind(event_type)
    .bind(subject.kind.as_str())
    .bind(since)
    .fetch_optional(c)
    .await?);
    Ok(found.is_some())
}

/// An event as stored: every column of the log but the hash.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub account_id: Uuid,
    pub sequence: i64,
    pub id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub subject_kind: String,
    pub subject_id: Uuid,
    pub scope: Scope,
    pub actor_id: Option<Uuid>,
    pub actor_name: String,
    pub data: Value,
    pub metadata: Value,
    pub batch_id: Option<Uuid>,
    pub snapshot: Option<Value>,
    pub created_at: OffsetDateTime,
    pub prev_hash: Vec<u8>,
    /// The [`HashFormat`] code the row was hashed with.
    pub hash_format: i16,
}

impl EventRow {
    /// The row's hash by its own format (see [`super::canonical`]): the same whichever
    /// engine stored the row and however it returned its JSON. A row of a format this
    /// build does not know hashes to nothing, which matches no stored hash.
    pub fn chain_hash(&self) -> Vec<u8> {
        let Some(format) = HashFormat::from_code(self.hash_format) else {
            return Vec::new();
        };
        let canonical = |v: &Value| canonical_json_as(v, format);
        let snapshot = self.snapshot.as_ref().map(canonical);
        chain_hash(&HashInput {
            format,
            account_id: self.account_id,
            sequence: self.sequence,
            id: self.id,
            event_type: &self.event_type,
            schema_version: self.schema_version,
            subject_kind: &self.subject_kind,
            subject_id: self.subject_id,
            scope: self.scope,
            actor_id: self.actor_id,
            actor_name: &self.actor_name,
            data: &canonical(&self.data),
            metadata: &canonical(&self.metadata),
            batch_id: self.batch_id,
            snapshot: snapshot.as_deref(),
            created_at: self.created_at,
            prev_hash: &self.prev_hash,
        })
        .to_vec()
    }
}

/// An event about to be written: an [`EventRow`] whose JSON is already canonical text,
/// serialised once and used both for the hash and as the stored column.
pub(crate) struct NewEvent {
    pub(crate) account_id: Uuid,
    pub(crate) sequence: i64,
    pub(crate) id: Uuid,
    pub(crate) event_type: &'static str,
    pub(crate) schema_version: i32,
    pub(crate) subject_kind: &'static str,
    pub(crate) subject_id: Uuid,
    pub(crate) scope: Scope,
    pub(crate) actor_id: Option<Uuid>,
    pub(crate) actor_name: String,
    pub(crate) data: String,
    pub(crate) metadata: Cow<'static, str>,
    pub(crate) batch_id: Option<Uuid>,
    pub(crate) snapshot: Option<String>,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) prev_hash: Hash,
    /// Always [`HashFormat::CURRENT`]; the JSON columns above are its canonical text.
    pub(crate) hash_format: HashFormat,
}

impl NewEvent {
    fn chain_hash(&self) -> Hash {
        chain_hash(&HashInput {
            format: self.hash_format,
            account_id: self.account_id,
            sequence: self.sequence,
            id: self.id,
            event_type: self.event_type,
            schema_version: self.schema_version,
            subject_kind: self.subject_kind,
            subject_id: self.subject_id,
            scope: self.scope,
            actor_id: self.actor_id,
            actor_name: &self.actor_name,
            data: &self.data,
            metadata: &self.metadata,
            batch_id: self.batch_id,
            snapshot: self.snapshot.as_deref(),
            created_at: self.created_at,
            prev_hash: &self.prev_hash,
        })
    }
}

/// Rows recorded in a transaction but not yet written.
///
/// `record()` only computes: the event row, its hash, its activity and its inbox jobs
/// go here, and are written in a few multi-row statements by [`flush_pending`] — before
/// any other statement runs in the transaction, and at the latest at commit. A
/// transaction that records 1,000 events thus sends a handful of statements, not
/// 3,000. Errors from these inserts surface at that point, and the transaction is
/// abandoned as with any error.
#[derive(Default)]
pub(crate) struct Pending {
    pub(crate) events: Vec<PendingEvent>,
}

pub(crate) struct PendingEvent {
    pub(crate) row: NewEvent,
    pub(crate) hash: Hash,
    /// Whether the event gets an activity row (it is user-facing).
    pub(crate) activity: bool,
    pub(crate) jobs: Vec<crate::queue::PendingJob>,
}

impl PendingEvent {
    /// The most bind parameters this event adds to a flush statement.
    fn binds(&self) -> usize {
        EVENT_BINDS + if self.activity { RANGE_BINDS } else { 0 } + self.jobs.len() * JOB_BINDS
    }
}

const EVENT_BINDS: usize = 20;
/// An activity row costs no binds of its own: activities are copied from the events
/// just inserted, selected by (account, first sequence, last sequence) ranges.
const RANGE_BINDS: usize = 3;
const JOB_BINDS: usize = 7;
/// Bind parameters per flush statement: under SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_BINDS: usize = 30_000;

const EVENT_INSERT: &str = "INSERT INTO events (account_id, sequence, id, event_type, \
    schema_version, subject_kind, subject_id, project_id, board_id, card_id, actor_id, \
    actor_name, data, metadata, batch_id, snapshot, created_at, prev_hash, hash, \
    hash_format) ";
pub(crate) const ACTIVITY_INSERT: &str = "INSERT INTO activities (account_id, sequence, event_id, \
    event_type, subject_kind, subject_id, project_id, board_id, card_id, creator_id, \
    batch_id, created_at) ";
/// The events' columns that make their activity rows, in [`ACTIVITY_INSERT`]'s order.
const ACTIVITY_FROM_EVENT: &str = "account_id, sequence, id, event_type, subject_kind, \
    subject_id, project_id, board_id, card_id, actor_id, batch_id, created_at";
const JOB_INSERT: &str = "INSERT INTO jobs (id, kind, payload, account_id, run_at, \
    max_attempts, created_at) ";

/// Runs of consecutive user-facing events of one account: (account, first, last).
fn activity_ranges(chunk: &[PendingEvent]) -> Vec<(Uuid, i64, i64)> {
    let mut ranges: Vec<(Uuid, i64, i64)> = Vec::new();
    for p in chunk.iter().filter(|p| p.activity) {
        let (account, sequence) = (p.row.account_id, p.row.sequence);
        match ranges.last_mut() {
            Some((a, _, last)) if *a == account && *last + 1 == sequence => *last = sequence,
            _ => ranges.push((account, sequence, sequence)),
        }
    }
    ranges
}

/// What the last statement before COMMIT also carries.
pub(crate) struct Finale<'a> {
    pub(crate) heads: &'a [HeadUpdate],
    /// PostgreSQL: wake every node's workers (jobs were enqueued).
    pub(crate) notify_jobs: bool,
}

/// Builds one statement out of `parts`: on SQLite `;`-separated statements (its driver
/// runs them in one call); on PostgreSQL data-modifying CTEs (`WITH p1 AS (…), … last`),
/// which run in one round trip. JSON goes in as the canonical text `record()` made
/// (cast to `jsonb` on PostgreSQL), never re-serialised.
macro_rules! flush_statement {
    ($chunk:expr, $finale:expr, $pg:expr) => {{
        let chunk: &[PendingEvent] = $chunk;
        let finale: Option<&Finale> = $finale;
        let pg: bool = $pg;
        let json = if pg { "::jsonb" } else { "" };
        let ranges = activity_ranges(chunk);
        let jobs: Vec<&crate::queue::PendingJob> = chunk.iter().flat_map(|p| &p.jobs).collect();
        let heads: &[HeadUpdate] = finale.map(|f| f.heads).unwrap_or(&[]);
        // PostgreSQL announces commits with pg_notify in a final SELECT (delivered by
        // the server when the transaction commits).
        let notify = pg && finale.is_some_and(|f| !f.heads.is_empty() || f.notify_jobs);
        let parts = usize::from(!chunk.is_empty())
            + if pg {
                usize::from(!ranges.is_empty())
            } else {
                ranges.len()
            }
            + usize::from(!jobs.is_empty())
            + heads.len()
            + usize::from(notify);
        let mut part = 0;
        let mut qb = sqlx::QueryBuilder::new("");
        let mut open = |qb: &mut sqlx::QueryBuilder<'_, _>| {
            part += 1;
            if pg {
                if part < parts {
                    qb.push(if part == 1 { "WITH " } else { ", " });
                    qb.push(format_args!("p{part} AS ("));
                }
            } else if part > 1 {
                qb.push("; ");
            }
            part
        };
        let close = |qb: &mut sqlx::QueryBuilder<'_, _>, part: usize| {
            if pg && part < parts {
                qb.push(") ");
            }
        };
        if !chunk.is_empty() {
            let n = open(&mut qb);
            qb.push(EVENT_INSERT);
            qb.push_values(chunk, |mut b, p| {
                let r = &p.row;
                b.push_bind(r.account_id)
                    .push_bind(r.sequence)
                    .push_bind(r.id)
                    .push_bind(r.event_type)
                    .push_bind(r.schema_version)
                    .push_bind(r.subject_kind)
                    .push_bind(r.subject_id)
                    .push_bind(r.scope.project)
                    .push_bind(r.scope.board)
                    .push_bind(r.scope.card)
                    .push_bind(r.actor_id)
                    .push_bind(r.actor_name.as_str())
                    .push_bind(r.data.as_str())
                    .push_unseparated(json)
                    .push_bind(&*r.metadata)
                    .push_unseparated(json)
                    .push_bind(r.batch_id)
                    .push_bind(r.snapshot.as_deref())
                    .push_unseparated(json)
                    .push_bind(r.created_at)
                    .push_bind(&r.prev_hash[..])
                    .push_bind(&p.hash[..])
                    .push_bind(r.hash_format.code());
            });
            // PostgreSQL's CTEs cannot read each other's rows from the table: the
            // activity part selects them from this part's RETURNING instead.
            if pg && !ranges.is_empty() {
                qb.push(" RETURNING ").push(ACTIVITY_FROM_EVENT);
            }
            close(&mut qb, n);
        }
        // PostgreSQL: one statement whose WHERE lists every range. SQLite: a statement
        // per range, because it nests each OR one level deeper and refuses expressions
        // deeper than 1,000 (a transaction alternating between teams could get there).
        let statements = if pg {
            usize::from(!ranges.is_empty())
        } else {
            ranges.len()
        };
        for s in 0..statements {
            let n = open(&mut qb);
            qb.push(ACTIVITY_INSERT)
                .push("SELECT ")
                .push(ACTIVITY_FROM_EVENT)
                .push(if pg {
                    " FROM p1 WHERE "
                } else {
                    " FROM events WHERE "
                });
            let these = if pg { &ranges[..] } else { &ranges[s..=s] };
            for (i, (account, first, last)) in these.iter().enumerate() {
                qb.push(if i == 0 {
                    "(account_id = "
                } else {
                    " OR (account_id = "
                })
                .push_bind(*account)
                .push(" AND sequence BETWEEN ")
                .push_bind(*first)
                .push(" AND ")
                .push_bind(*last)
                .push(")");
            }
            close(&mut qb, n);
        }
        if !jobs.is_empty() {
            let n = open(&mut qb);
            qb.push(JOB_INSERT);
            qb.push_values(jobs, |mut b, j| {
                b.push_bind(j.id)
                    .push_bind(j.kind)
                    .push_bind(j.payload.as_str())
                    .push_unseparated(json)
                    .push_bind(j.account)
                    .push_bind(j.run_at)
                    .push_bind(j.max_attempts)
                    .push_bind(j.created_at);
            });
            close(&mut qb, n);
        }
        for head in heads {
            let n = open(&mut qb);
            qb.push("UPDATE event_chains SET last_sequence = ")
                .push_bind(head.sequence)
                .push(", last_hash = ")
                .push_bind(&head.hash[..])
                .push(" WHERE account_id = ")
                .push_bind(head.account);
            close(&mut qb, n);
        }
        if notify {
            open(&mut qb);
            qb.push("SELECT ");
            let mut calls = qb.separated(", ");
            for head in heads {
                calls.push("pg_notify('chronicle_events', ");
                calls.push_bind_unseparated(crate::store::commit_notice(&head.committed()));
                calls.push_unseparated(")");
            }
            if finale.is_some_and(|f| f.notify_jobs) {
                calls.push("pg_notify('chronicle_jobs', '')");
            }
        }
        qb
    }};
}

/// Writes what `record()` buffered in `tx` (see [`Pending`]).
pub(crate) async fn flush_pending(tx: &mut Tx) -> Result<()> {
    write_pending(tx, None).await
}

/// The last write before COMMIT: buffered rows, chain heads and (PostgreSQL) the
/// notifications, in as few statements as the bind limit allows — one, usually.
pub(crate) async fn flush_final(tx: &mut Tx, finale: &Finale<'_>) -> Result<()> {
    if tx.pending.events.is_empty() && finale.heads.is_empty() && !finale.notify_jobs {
        return Ok(());
    }
    write_pending(tx, Some(finale)).await
}

async fn write_pending(tx: &mut Tx, finale: Option<&Finale<'_>>) -> Result<()> {
    if tx.pending.events.is_empty() && finale.is_none() {
        return Ok(());
    }
    let pending = std::mem::take(&mut tx.pending.events);
    let mut start = 0;
    loop {
        let mut end = start;
        let mut binds = 0;
        while end < pending.len() && (end == start || binds + pending[end].binds() <= MAX_BINDS) {
            binds += pending[end].binds();
            end += 1;
        }
        let chunk = &pending[start..end];
        // Only the last statement carries the finale.
        let last = end >= pending.len();
        let finale = if last { finale } else { None };
        if chunk.is_empty() && finale.is_none() {
            break;
        }
        let written = match &mut tx.inner {
            TxInner::Sqlite(t) => {
                let mut qb = flush_statement!(chunk, finale, false);
                qb.build().execute(&mut **t).await.map(|_| ())
            }
            TxInner::Postgres(t) => {
                let mut qb = flush_statement!(chunk, finale, true);
                qb.build().execute(&mut **t).await.map(|_| ())
            }
        };
        if let Err(e) = written {
            // A remembered head may be stale (see `Shared::sqlite_heads`): read it next time.
            tx.store.shared.forget_heads(tx.heads.keys().copied());
            return Err(e.into());
        }
        start = end;
        if last {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_addresses_are_truncated_to_their_network() {
        assert_eq!(
            truncate_ip("203.0.113.77".parse().expect("ip")),
            "203.0.113.0/24"
        );
        assert_eq!(
            truncate_ip("2001:db8:1:2::1".parse().expect("ip")),
            "2001:db8:1::/48"
        );
        assert_eq!(
            truncate_ip("::ffff:198.51.100.9".parse().expect("ip")),
            "198.51.100.0/24"
        );
    }

    #[test]
    fn metadata_text_is_the_canonical_form_of_the_options() {
        let none = RecordOptions::default();
        assert_eq!(metadata(&none), canonical_json(&metadata_value(&none)));
        let some = RecordOptions {
            correlation_id: Some(Uuid::nil()),
            request: Some(RequestContext {
                request_id: Some("r-1".into()),
                ip: Some("203.0.113.77".parse().expect("ip")),
                user_agent: Some("curl".into()),
            }),
            ..RecordOptions::default()
        };
        assert_eq!(
            metadata(&some),
            r#"{"causation_id":null,"correlation_id":"00000000-0000-0000-0000-000000000000","request":{"ip":"203.0.113.0/24","request_id":"r-1","user_agent":"curl"}}"#
        );
    }

    #[test]
    fn the_chain_hash_covers_every_column() {
        let row = EventRow {
            account_id: Uuid::nil(),
            sequence: 1,
            id: Uuid::nil(),
            event_type: "card.moved".into(),
            schema_version: 1,
            subject_kind: "card".into(),
            subject_id: Uuid::nil(),
            scope: Scope::default(),
            actor_id: None,
            actor_name: "Ana".into(),
            data: json!({"a": 1}),
            metadata: json!({}),
            batch_id: None,
            snapshot: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            prev_hash: GENESIS_HASH.to_vec(),
            hash_format: HashFormat::CURRENT.code(),
        };
        let base = row.chain_hash();
        let changed = [
            EventRow {
                sequence: 2,
                ..row.clone()
            },
            EventRow {
                actor_name: "Bob".into(),
                ..row.clone()
            },
            EventRow {
                data: json!({"a": 2}),
                ..row.clone()
            },
            EventRow {
                snapshot: Some(json!({"title": "x"})),
                ..row.clone()
            },
            EventRow {
                scope: Scope {
                    card: Some(Uuid::max()),
                    ..Scope::default()
                },
                ..row.clone()
            },
            EventRow {
                prev_hash: vec![1; 32],
                ..row.clone()
            },
            EventRow {
                hash_format: 1,
                ..row.clone()
            },
        ];
        for other in changed {
            assert_ne!(other.chain_hash(), base, "{other:?}");
        }
    }

    /// Rows hashed before format 2 existed must verify forever: format 1's hash of this
    /// row is the one the code before format 2 computed (recorded from it, with a float
    /// in the data and the snapshot).
    #[test]
    fn format_1_hashes_exactly_as_before_format_2() {
        let row = EventRow {
            account_id: Uuid::from_u128(0x0192_0000_0000_7000_8000_0000_0000_0001),
            sequence: 7,
            id: Uuid::from_u128(0x0192_0000_0000_7000_8000_0000_0000_0002),
            event_type: "card.moved".into(),
            schema_version: 1,
            subject_kind: "card".into(),
            subject_id: Uuid::from_u128(3),
            scope: Scope {
                project: Some(Uuid::from_u128(4)),
                board: Some(Uuid::from_u128(5)),
                card: Some(Uuid::from_u128(3)),
            },
            actor_id: Some(Uuid::from_u128(6)),
            actor_name: "Ana Lima".into(),
            data: json!({"title": "Fix login", "to": {"name": "Doing", "position": 2}, "weight": 1.5}),
            metadata: json!({"request_id": "r-1"}),
            batch_id: None,
            snapshot: Some(json!({"due": null, "n": [1, 2.5, -3]})),
            created_at: OffsetDateTime::from_unix_timestamp(1_780_000_000).expect("time"),
            prev_hash: vec![0xab; 32],
            hash_format: 1,
        };
        assert_eq!(
            crate::events::log::hex(&row.chain_hash()),
            "fce9c375c32f64bd1163f65ab0f8dab7793f9c5af07c2ab898e635146fe6b35e"
        );
        let v2 = EventRow {
            hash_format: 2,
            ..row.clone()
        };
        assert_ne!(v2.chain_hash(), row.chain_hash());
        let unknown = EventRow {
            hash_format: 3,
            ..row
        };
        assert!(unknown.chain_hash().is_empty());
    }
}
