//! Reading the log back, and verifying each account's hash chain.

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::canonical::HashFormat;
use super::record::{EventRow, GENESIS_HASH};
use super::{decode, AnyEvent, Scope};
use crate::accounts::AccountId;
use crate::error::Result;
use crate::store::{on_account, on_pool, Store};

/// A stored event with its hash.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub row: EventRow,
    pub hash: Vec<u8>,
}

impl StoredEvent {
    /// The event as its Rust type (upcast from older schema versions).
    pub fn event(&self) -> Result<Box<dyn AnyEvent>> {
        decode(
            &self.row.event_type,
            self.row.schema_version,
            self.row.data.clone(),
        )
    }
}

#[derive(sqlx::FromRow)]
struct LogRow {
    account_id: Uuid,
    sequence: i64,
    id: Uuid,
    event_type: String,
    schema_version: i32,
    subject_kind: String,
    subject_id: Uuid,
    project_id: Option<Uuid>,
    board_id: Option<Uuid>,
    card_id: Option<Uuid>,
    actor_id: Option<Uuid>,
    actor_name: String,
    data: sqlx::types::Json<serde_json::Value>,
    metadata: sqlx::types::Json<serde_json::Value>,
    batch_id: Option<Uuid>,
    snapshot: Option<sqlx::types::Json<serde_json::Value>>,
    created_at: OffsetDateTime,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
    hash_format: i16,
}

impl From<LogRow> for StoredEvent {
    fn from(r: LogRow) -> Self {
        StoredEvent {
            row: EventRow {
                account_id: r.account_id,
                sequence: r.sequence,
                id: r.id,
                event_type: r.event_type,
                schema_version: r.schema_version,
                subject_kind: r.subject_kind,
                subject_id: r.subject_id,
                scope: Scope {
                    project: r.project_id,
                    board: r.board_id,
                    card: r.card_id,
                },
                actor_id: r.actor_id,
                actor_name: r.actor_name,
                data: r.data.0,
                metadata: r.metadata.0,
                batch_id: r.batch_id,
                snapshot: r.snapshot.map(|s| s.0),
                created_at: r.created_at,
                prev_hash: r.prev_hash,
                hash_format: r.hash_format,
            },
            hash: r.hash,
        }
    }
}

const COLUMNS: &str = "account_id, sequence, id, event_type, schema_version, subject_kind, \
    subject_id, project_id, board_id, card_id, actor_id, actor_name, data, metadata, \
    batch_id, snapshot, created_at, prev_hash, hash, hash_format";

/// Up to `limit` of `account`'s events after sequence `after`, oldest first.
pub async fn read(
    store: &Store,
    account: AccountId,
    after: i64,
    limit: u32,
) -> Result<Vec<StoredEvent>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM events WHERE account_id = $1 AND sequence > $2 \
         ORDER BY sequence LIMIT $3"
    );
    let rows: Vec<LogRow> = on_account!(store, account, |p| sqlx::query_as(&sql)
        .bind(account)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(p)
        .await?);
    Ok(rows.into_iter().map(StoredEvent::from).collect())
}

/// One event of `account` by sequence.
pub async fn get(store: &Store, account: AccountId, sequence: i64) -> Result<StoredEvent> {
    let sql = format!("SELECT {COLUMNS} FROM events WHERE account_id = $1 AND sequence = $2");
    let row: Option<LogRow> = on_account!(store, account, |p| sqlx::query_as(&sql)
        .bind(account)
        .bind(sequence)
        .fetch_optional(p)
        .await?);
    row.map(StoredEvent::from)
        .ok_or(crate::Error::NotFound("event"))
}

/// Every event about one subject (e.g. a card's audit trail), oldest first.
pub async fn for_subject(
    store: &Store,
    account: AccountId,
    subject_id: Uuid,
) -> Result<Vec<StoredEvent>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM events WHERE account_id = $1 AND subject_id = $2 ORDER BY sequence"
    );
    let rows: Vec<LogRow> = on_account!(store, account, |p| sqlx::query_as(&sql)
        .bind(account)
        .bind(subject_id)
        .fetch_all(p)
        .await?);
    Ok(rows.into_iter().map(StoredEvent::from).collect())
}

/// How many events `account` has.
pub async fn count(store: &Store, account: AccountId) -> Result<u64> {
    let n: i64 = on_account!(store, account, |p| sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE account_id = $1"
    )
    .bind(account)
    .fetch_one(p)
    .await?);
    Ok(n.max(0) as u64)
}

/// The result of walking one account's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub account: AccountId,
    /// Events checked before the walk stopped (all of them when the chain is intact).
    pub checked: u64,
    pub first_broken: Option<BrokenLink>,
    /// Where the chain stood when the walk began (`None` for an account without one):
    /// keep it outside the database and check it later with [`verify_to_anchors`].
    pub head: Option<Anchor>,
}

/// The first row at which the chain no longer holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenLink {
    pub sequence: i64,
    pub event_id: Uuid,
    pub reason: String,
}

/// A point of a chain (its sequence and that event's hash), kept outside the database
/// so that a later walk can prove nothing up to it changed — even a tail rewritten with
/// recomputed hashes and a matching head, which a walk of the database alone accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anchor {
    pub sequence: i64,
    #[serde(serialize_with = "hex_hash")]
    pub hash: Vec<u8>,
}

fn hex_hash<S: serde::Serializer>(hash: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&hex(hash))
}

/// Lower-case hex, as anchors are written down.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Anchor {
    /// Reads `"<sequence> <hex hash>"`, the form [`Anchor`]'s `Display` writes.
    pub fn parse(text: &str) -> Option<Anchor> {
        let (sequence, hash) = text.trim().split_once(' ')?;
        let hash = hash.trim();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let bytes = (0..32)
            .map(|i| u8::from_str_radix(&hash[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        Some(Anchor {
            sequence: sequence.parse().ok().filter(|s: &i64| *s >= 1)?,
            hash: bytes,
        })
    }
}

impl std::fmt::Display for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.sequence, hex(&self.hash))
    }
}

/// Walks `account`'s chain from the first event to its head, recomputing every hash.
/// Stops at, and names, the first row whose sequence, link or content does not match.
///
/// The head (sequence and hash) is read first and the walk ends there: events that
/// commit while it runs are left for the next walk, never reported missing. At the end
/// the newest event's hash must equal the head's, so a rewritten or removed newest row
/// is caught even when its sequence still fits.
pub async fn verify(store: &Store, account: AccountId) -> Result<Verification> {
    verify_to_anchors(store, account, &[]).await
}

/// [`verify`], also checking that the event at each anchor's sequence still has the
/// hash written down then.
pub async fn verify_to_anchors(
    store: &Store,
    account: AccountId,
    anchors: &[Anchor],
) -> Result<Verification> {
    const PAGE: u32 = 1000;
    let head: Option<(i64, Vec<u8>)> = on_pool!(store, |p| sqlx::query_as(
        "SELECT last_sequence, last_hash FROM event_chains WHERE account_id = $1"
    )
    .bind(account)
    .fetch_optional(p)
    .await?);
    let mut v = Verification {
        account,
        checked: 0,
        first_broken: None,
        head: head
            .clone()
            .map(|(sequence, hash)| Anchor { sequence, hash }),
    };
    let last = match &head {
        Some((s, _)) => *s,
        None => {
            // No head: a team whose head row was deleted to hide what its log holds.
            if count(store, account).await? > 0 {
                v.first_broken = Some(BrokenLink {
                    sequence: 1,
                    event_id: Uuid::nil(),
                    reason: "the team has events but no chain head: the head was removed"
                        .to_owned(),
                });
            }
            return Ok(v);
        }
    };
    let mut expected_prev = GENESIS_HASH.to_vec();
    let mut expected_seq = 1i64;
    let mut anchors_seen = 0;
    'walk: while expected_seq <= last {
        let page = read(store, account, expected_seq - 1, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for stored in page {
            if stored.row.sequence > last {
                break 'walk;
            }
            let problem = if stored.row.sequence != expected_seq {
                Some(format!(
                    "expected sequence {expected_seq}: a row is missing"
                ))
            } else if stored.row.prev_hash != expected_prev {
                Some("prev_hash does not match the previous event's hash".to_owned())
            } else if HashFormat::from_code(stored.row.hash_format).is_none() {
                Some(format!(
                    "its hash format {} is unknown to this build of chronicle: verify \
                     with a newer one",
                    stored.row.hash_format
                ))
            } else if stored.row.chain_hash() != stored.hash {
                Some("content does not match its hash: the row was altered".to_owned())
            } else if anchors
                .iter()
                .any(|a| a.sequence == stored.row.sequence && a.hash != stored.hash)
            {
                Some(
                    "its hash is not the one anchored: the log was rewritten from here \
                     or before"
                        .to_owned(),
                )
            } else {
                None
            };
            if let Some(reason) = problem {
                v.first_broken = Some(BrokenLink {
                    sequence: stored.row.sequence,
                    event_id: stored.row.id,
                    reason,
                });
                return Ok(v);
            }
            anchors_seen += anchors
                .iter()
                .filter(|a| a.sequence == stored.row.sequence)
                .count();
            expected_prev = stored.hash;
            expected_seq += 1;
            v.checked += 1;
        }
    }
    let missing = |reason: String| BrokenLink {
        sequence: expected_seq,
        event_id: Uuid::nil(),
        reason,
    };
    // The head remembers the newest event: a truncated or rewritten tail shows here.
    if let Some((last, last_hash)) = head {
        if last != expected_seq - 1 {
            v.first_broken = Some(missing(format!(
                "missing: the chain's head is at sequence {last}"
            )));
            return Ok(v);
        }
        if last > 0 && last_hash != expected_prev {
            v.first_broken = Some(BrokenLink {
                sequence: last,
                event_id: Uuid::nil(),
                reason: "the newest event's hash is not the chain head's: the newest row \
                         was replaced or removed"
                    .to_owned(),
            });
            return Ok(v);
        }
    }
    if anchors_seen < anchors.len() {
        let furthest = anchors.iter().map(|a| a.sequence).max().unwrap_or_default();
        v.first_broken = Some(missing(format!(
            "the anchored sequence {furthest} is past the chain's end: events were removed"
        )));
    }
    Ok(v)
}

/// [`verify`] for every account.
pub async fn verify_all(store: &Store) -> Result<Vec<Verification>> {
    let mut out = Vec::new();
    for account in crate::accounts::list_accounts(store).await? {
        out.push(verify(store, account.id).await?);
    }
    Ok(out)
}

impl StoredEvent {
    /// The event as webhooks and the public API show it: a stable envelope around the
    /// type's public representation, without internal metadata (IPs, hashes).
    pub fn public_envelope(&self) -> Result<serde_json::Value> {
        let event = self.event()?;
        Ok(serde_json::json!({
            "id": self.row.id,
            "type": self.row.event_type,
            "sequence": self.row.sequence,
            "occurred_at": self.row.created_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            "account_id": self.row.account_id,
            "actor": { "id": self.row.actor_id, "name": self.row.actor_name },
            "subject": { "kind": self.row.subject_kind, "id": self.row.subject_id },
            "description": event.describe(&self.row.actor_name),
            "data": event.public(),
        }))
    }
}
