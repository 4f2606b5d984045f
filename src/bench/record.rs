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

    let t = Instant::now();
    for b in 0..batches {
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
    }
    let batched = rate(batches * 1000, t.elapsed());

    Ok(RecordBench {
        engine: store.engine().to_string(),
        floor_tx_per_s: floor,
        record_tx_per_s: recorded,
        ratio: recorded / floor,
        batched_events_per_s: batched,
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
