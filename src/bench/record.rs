//! P1: recording throughput against the one-row-insert floor.

use std::time::Instant;

use serde::Serialize;
use uuid::Uuid;

use super::rate;
use crate::accounts::{create_account, AccountId, AccountName};
use crate::error::Result;
use crate::events::catalog::{CardMoved, CardRef, ColumnRef};
use crate::events::{record as record_event, Actor, RecordOptions};
use crate::store::{on_tx, Engine, Store};

#[derive(Debug, Clone, Serialize)]
pub struct RecordBench {
    pub engine: String,
    /// Bare `BEGIN; INSERT one row; COMMIT` per second: the floor.
    pub floor_tx_per_s: f64,
    /// `record()` (event + activity + one inbox job) in its own transaction, per second.
    pub record_tx_per_s: f64,
    /// `record_tx_per_s / floor_tx_per_s`; the goal is ≥ 0.5.
    pub ratio: f64,
    /// Events per second when 1,000 are recorded per transaction.
    pub batched_events_per_s: f64,
    /// The same rows (event, activity, job) made by the database itself, 1,000 per
    /// transaction, in one `INSERT … SELECT` per table: the most the schema allows on
    /// this machine, with no application in the loop.
    pub batched_ceiling_events_per_s: f64,
    /// `batched_events_per_s / batched_ceiling_events_per_s`.
    pub batched_ratio: f64,
}

fn event(card: &CardRef, from: &ColumnRef, to: &ColumnRef, i: u64) -> CardMoved {
    CardMoved {
        card: card.clone(),
        from_column: from.clone(),
        to_column: to.clone(),
        position: i as i64,
    }
}

/// Runs P1 with `n` single-event transactions (and as many floor transactions) and
/// `batches` transactions of 1,000 events.
pub async fn run(store: &Store, n: u64, batches: u64) -> Result<RecordBench> {
    let create = match store.engine() {
        Engine::Sqlite => {
            "CREATE TABLE IF NOT EXISTS bench_floor (id BLOB PRIMARY KEY, payload TEXT NOT NULL)"
        }
        Engine::Postgres => {
            "CREATE TABLE IF NOT EXISTS bench_floor (id uuid PRIMARY KEY, payload text NOT NULL)"
        }
    };
    let mut tx = store.begin().await?;
    on_tx!(tx, |c| sqlx::query(create)
        .execute(c)
        .await?
        .rows_affected());
    tx.commit().await?;

    let name = AccountName::parse(&format!("Bench {}", Uuid::now_v7()))?;
    let account = create_account(store, name, &Actor::System).await?;
    let actor = Actor::Member {
        id: Uuid::now_v7(),
        name: "Bench".into(),
    };
    let card = CardRef {
        id: Uuid::now_v7(),
        title: "Benchmark card".into(),
        board_id: Uuid::now_v7(),
        project_id: Uuid::now_v7(),
    };
    let from = ColumnRef {
        id: Uuid::now_v7(),
        name: "To do".into(),
    };
    let to = ColumnRef {
        id: Uuid::now_v7(),
        name: "Doing".into(),
    };
    // The floor's row carries a payload of the same size as the event's data.
    let payload = serde_json::to_string(&event(&card, &from, &to, 0)).unwrap_or_default();

    // Warm up both paths (connections, prepared statements).
    for i in 0..50 {
        floor_tx(store, &payload).await?;
        record_tx(store, account.id, &actor, &event(&card, &from, &to, i)).await?;
    }

    // Interleave floor and record rounds so drift on a noisy machine hits both alike.
    const ROUNDS: u64 = 5;
    let per_round = (n / ROUNDS).max(1);
    let (mut floor_time, mut record_time) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..per_round {
            floor_tx(store, &payload).await?;
        }
        floor_time += t.elapsed();
        let t = Instant::now();
        for i in 0..per_round {
            record_tx(store, account.id, &actor, &event(&card, &from, &to, i)).await?;
        }
        record_time += t.elapsed();
    }
    let floor = rate(per_round * ROUNDS, floor_time);
    let recorded = rate(per_round * ROUNDS, record_time);

    // Batched recording, each batch followed by a batch of the ceiling's rows.
    let ceiling_account = create_account(
        store,
        AccountName::parse(&format!("Bench ceiling {}", Uuid::now_v7()))?,
        &Actor::System,
    )
    .await?;
    let mut ceiling_time = std::time::Duration::ZERO;
    let mut batched_time = std::time::Duration::ZERO;
    for b in 0..batches {
        let t = Instant::now();
        let mut tx = store.begin().await?;
        let batch = Some(Uuid::now_v7());
        for i in 0..1000 {
            let options = RecordOptions {
                batch_id: batch,
                ..Default::default()
            };
            record_event(
                &mut tx,
                account.id,
                &actor,
                &event(&card, &from, &to, b * 1000 + i),
                options,
            )
            .await?;
        }
        tx.commit().await?;
        batched_time += t.elapsed();
        let t = Instant::now();
        // After the account's own first event (`account.created`).
        let first = 2 + b as i64 * 1000;
        ceiling_tx(store, ceiling_account.id, first, &card, &payload).await?;
        ceiling_time += t.elapsed();
    }
    let batched = rate(batches * 1000, batched_time);
    let ceiling = rate(batches * 1000, ceiling_time);

    // The queued card-thread jobs (and the ceiling's) are not meant to run: drop them,
    // so a queue benchmark on the same database starts from an empty queue.
    let mut tx = store.begin().await?;
    on_tx!(tx, |c| sqlx::query(
        "DELETE FROM jobs WHERE account_id IN ($1, $2)"
    )
    .bind(account.id)
    .bind(ceiling_account.id)
    .execute(c)
    .await?
    .rows_affected());
    tx.commit().await?;

    Ok(RecordBench {
        engine: store.engine().to_string(),
        floor_tx_per_s: floor,
        record_tx_per_s: recorded,
        ratio: recorded / floor,
        batched_events_per_s: batched,
        batched_ceiling_events_per_s: ceiling,
        batched_ratio: batched / ceiling,
    })
}

/// One event in a transaction of its own: what P1 measures against the floor.
async fn record_tx(
    store: &Store,
    account: AccountId,
    actor: &Actor,
    event: &CardMoved,
) -> Result<()> {
    let mut tx = store.begin().await?;
    record_event(&mut tx, account, actor, event, RecordOptions::default()).await?;
    tx.commit().await
}

async fn floor_tx(store: &Store, payload: &str) -> Result<()> {
    let mut tx = store.begin().await?;
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO bench_floor (id, payload) VALUES ($1, $2)"
    )
    .bind(Uuid::now_v7())
    .bind(payload)
    .execute(c)
    .await?
    .rows_affected());
    tx.commit().await
}

/// 1,000 rows each in `events`, `activities` and `jobs`, made by the database from one
/// statement per table (sequences `first..first + 999` of `account`, time-ordered ids,
/// `data` of the benchmark event's size). Not a valid chain: the account is the
/// ceiling's own and is never recorded into.
async fn ceiling_tx(
    store: &Store,
    account: AccountId,
    first: i64,
    card: &CardRef,
    data: &str,
) -> Result<()> {
    const EVENTS_SQLITE: &str =
        "WITH RECURSIVE s(n) AS (SELECT $1 UNION ALL SELECT n + 1 FROM s WHERE n < $2) \
        INSERT INTO events (account_id, sequence, id, event_type, schema_version, subject_kind, \
        subject_id, project_id, board_id, card_id, actor_id, actor_name, data, metadata, batch_id, \
        snapshot, created_at, prev_hash, hash) \
        SELECT $3, n, unhex(printf('%016x%016x', $4, n)), 'card.moved', 1, 'card', $5, $6, $7, $5, \
        $8, 'Bench', $9, $10, $11, NULL, $12, randomblob(32), randomblob(32) FROM s";
    const EVENTS_PG: &str = "INSERT INTO events (account_id, sequence, id, event_type, \
        schema_version, subject_kind, subject_id, project_id, board_id, card_id, actor_id, \
        actor_name, data, metadata, batch_id, snapshot, created_at, prev_hash, hash) \
        SELECT $3, n, (lpad(to_hex($4::bigint), 16, '0') || lpad(to_hex(n), 16, '0'))::uuid, \
        'card.moved', 1, 'card', $5, $6, $7, $5, $8, 'Bench', $9::jsonb, $10::jsonb, $11, NULL, \
        $12, sha256(int8send(n)), sha256(int8send(-n)) FROM generate_series($1::bigint, $2::bigint) n";
    const ACTIVITIES: &str = "INSERT INTO activities (account_id, sequence, event_id, event_type, \
        subject_kind, subject_id, project_id, board_id, card_id, creator_id, batch_id, created_at) \
        SELECT account_id, sequence, id, event_type, subject_kind, subject_id, project_id, \
        board_id, card_id, actor_id, batch_id, created_at FROM events \
        WHERE account_id = $1 AND sequence BETWEEN $2 AND $3";
    const JOBS_SQLITE: &str =
        "WITH RECURSIVE s(n) AS (SELECT $1 UNION ALL SELECT n + 1 FROM s WHERE n < $2) \
        INSERT INTO jobs (id, kind, payload, account_id, run_at, max_attempts, created_at) \
        SELECT unhex(printf('%016x%016x', $3, n)), 'inbox.deliver', $4, $5, $6, 10, $6 FROM s";
    const JOBS_PG: &str = "INSERT INTO jobs (id, kind, payload, account_id, run_at, max_attempts, \
        created_at) SELECT (lpad(to_hex($3::bigint), 16, '0') || lpad(to_hex(n), 16, '0'))::uuid, \
        'inbox.deliver', $4::jsonb, $5, $6, 10, $6 FROM generate_series($1::bigint, $2::bigint) n";

    let last = first + 999;
    // Time-ordered ids, as `Uuid::now_v7` makes them: a fresh v7 prefix and a counter.
    let event_base = Uuid::now_v7().as_u64_pair().0 as i64;
    let job_base = Uuid::now_v7().as_u64_pair().0 as i64;
    let now = crate::accounts::truncate_to_micros(time::OffsetDateTime::now_utc());
    let micros = (now.unix_timestamp_nanos() / 1000) as i64;
    let metadata = r#"{"causation_id":null,"correlation_id":null,"request":null}"#;
    let job_payload = format!(
        r#"{{"inbox":"card_thread","account_id":"{}","sequence":{first},"event_id":"{}"}}"#,
        account.0,
        Uuid::now_v7()
    );
    let (events_sql, jobs_sql) = match store.engine() {
        Engine::Sqlite => (EVENTS_SQLITE, JOBS_SQLITE),
        Engine::Postgres => (EVENTS_PG, JOBS_PG),
    };
    let mut tx = store.begin().await?;
    on_tx!(tx, |c| {
        sqlx::query(events_sql)
            .bind(first)
            .bind(last)
            .bind(account)
            .bind(event_base)
            .bind(card.id)
            .bind(card.project_id)
            .bind(card.board_id)
            .bind(Uuid::now_v7())
            .bind(data)
            .bind(metadata)
            .bind(Uuid::now_v7())
            .bind(now)
            .execute(&mut *c)
            .await?;
        sqlx::query(ACTIVITIES)
            .bind(account)
            .bind(first)
            .bind(last)
            .execute(&mut *c)
            .await?;
        sqlx::query(jobs_sql)
            .bind(first)
            .bind(last)
            .bind(job_base)
            .bind(&job_payload)
            .bind(account)
            .bind(micros)
            .execute(&mut *c)
            .await?
            .rows_affected()
    });
    tx.commit().await
}
