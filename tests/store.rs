//! The store opens, migrates and reports itself the same way on both engines.

use chronicle::{Engine, Store};

chronicle::engine_tests! {
    async fn a_new_database_is_migrated_to_the_latest_version(store) {
        let status = store.status().await.expect("status");
        assert_eq!(status.migration_version, store.latest_migration());
        assert!(status.migration_version.is_some());
    }

    async fn migrating_twice_changes_nothing(store) {
        let before = store.status().await.expect("status");
        store.migrate().await.expect("second migrate");
        assert_eq!(store.status().await.expect("status"), before);
    }

    async fn a_dropped_transaction_writes_nothing(store) {
        {
            let tx = store.begin().await.expect("begin");
            drop(tx);
        }
        let name = chronicle::accounts::AccountName::parse("Rolled back").expect("valid");
        let mut tx = store.begin().await.expect("begin");
        chronicle::accounts::create_account_in(&mut tx, &name, &chronicle::events::Actor::System).await.expect("insert");
        tx.rollback().await.expect("rollback");
        assert!(chronicle::accounts::list_accounts(&store).await.expect("list").is_empty());
    }
}

#[tokio::test]
async fn the_engine_is_chosen_by_the_url() {
    let (sqlite, _db) = chronicle::testing::sqlite().await;
    assert_eq!(sqlite.engine(), Engine::Sqlite);
    let (pg, _db) = chronicle::testing::postgres().await;
    assert_eq!(pg.engine(), Engine::Postgres);
}

#[tokio::test]
async fn an_unknown_url_scheme_is_a_configuration_error() {
    let err = Store::connect("mysql://localhost/x")
        .await
        .expect_err("refused");
    assert!(matches!(err, chronicle::Error::Config(_)), "{err:?}");
}

#[tokio::test]
async fn an_unmigrated_database_reports_no_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("new.sqlite3").display());
    let store = Store::connect(&url).await.expect("connect");
    assert_eq!(
        store.status().await.expect("status").migration_version,
        None
    );
}

#[tokio::test]
async fn the_sqlite_file_and_its_directory_are_created_in_wal_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested/dir/chronicle.sqlite3");
    let store = Store::open(&format!("sqlite://{}", path.display()))
        .await
        .expect("open");
    assert!(path.exists());
    store.close().await;
    // WAL is a property of the file: a fresh connection sees it.
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .expect("pragma");
    assert_eq!(mode, "wal");
}

// Automatic checkpoints are off (they ran inside whichever commit crossed the
// threshold); a background task copies committed pages into the database file.
#[tokio::test]
async fn committed_pages_reach_the_sqlite_file_in_the_background() {
    use chronicle::events::{record, RecordOptions};
    use chronicle::testing::{account, card_moved, card_ref, eventually, member};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("chronicle.sqlite3");
    let store = Store::open(&format!("sqlite://{}", path.display()))
        .await
        .expect("open");
    let acme = account(&store, "Acme").await;
    // Let the set-up's own writes settle into the file first.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let before = std::fs::metadata(&path).expect("file").len();
    let mut tx = store.begin().await.expect("begin");
    for i in 0..2000 {
        let card = card_ref(&format!("Card {i}"));
        record(
            &mut tx,
            acme.id,
            &member("Ana"),
            &card_moved(&card),
            RecordOptions::default(),
        )
        .await
        .expect("record");
    }
    tx.commit().await.expect("commit");
    eventually(
        "the new pages are checkpointed into the database file",
        async || std::fs::metadata(&path).expect("file").len() > before + 1_000_000,
    )
    .await;
    store.close().await;
}

/// Two stores on one PostgreSQL database stand for two nodes. Node B's `LISTEN`
/// connection is cut, and node A commits before B listens again: that NOTIFY reaches
/// nobody on B, so B must announce where every chain stands once it listens again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_relay_catches_up_on_commits_made_while_listen_was_down() {
    use chronicle::events::{record, RecordOptions};
    use chronicle::testing::{account, card_moved, card_ref, member};
    use std::time::Duration;

    let (node_a, db) = chronicle::testing::postgres().await;
    let acme = account(&node_a, "Acme").await;
    let node_b = Store::open(&db.url).await.expect("second node");
    let mut heard = node_b.subscribe();
    let relay = node_b
        .relay_cluster_commits()
        .expect("a relay on PostgreSQL");
    let move_a_card = || async {
        let mut tx = node_a.begin().await.expect("begin");
        let moved = card_moved(&card_ref("Fix login"));
        record(
            &mut tx,
            acme.id,
            &member("Ana"),
            &moved,
            RecordOptions::default(),
        )
        .await
        .expect("record");
        tx.commit().await.expect("commit");
    };
    let hear = |heard: &mut tokio::sync::broadcast::Receiver<chronicle::store::Committed>,
                sequence: i64| {
        let mut heard = heard.resubscribe();
        async move {
            tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    match heard.recv().await {
                        Ok(c) if c.account == acme.id && c.last_sequence >= sequence => return,
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            })
            .await
        }
    };
    // B listens: it hears a commit made on A (repeat until it does, LISTEN starts async).
    let mut sequence = 1;
    loop {
        let listening = hear(&mut heard, sequence + 1);
        move_a_card().await;
        sequence += 1;
        if tokio::time::timeout(Duration::from_millis(500), listening)
            .await
            .is_ok()
        {
            break;
        }
        assert!(sequence < 40, "node B never heard node A");
    }
    // Cut B's LISTEN connection and keep B from reconnecting while A commits, so the
    // NOTIFY of that commit certainly reaches nobody on B.
    use sqlx::Connection;
    let admin_url = std::env::var("CHRONICLE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| chronicle::testing::DEFAULT_POSTGRES_URL.to_owned());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("admin");
    let name = db.url.rsplit('/').next().expect("database name").to_owned();
    sqlx::raw_sql(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .execute(&mut admin)
        .await
        .expect("refuse new connections");
    let cut: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND query LIKE 'LISTEN%chronicle_events%') t",
    )
    .bind(&name)
    .fetch_one(&mut admin)
    .await
    .expect("cut the LISTEN connection");
    assert_eq!(cut, 1, "one LISTEN connection cut");
    let caught_up = hear(&mut heard, sequence + 1);
    move_a_card().await; // on a connection A already holds
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::raw_sql(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .execute(&mut admin)
        .await
        .expect("allow connections again");
    assert!(
        caught_up.await.is_ok(),
        "node B learned of the commit it missed"
    );
    relay.abort();
}

/// After a lost `LISTEN` connection a node announces every team's head; with more
/// teams than the commit channel holds, a subscriber that reads at its own pace must
/// still hear every one of them, not lag and lose some.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_after_a_reconnect_a_slow_subscriber_hears_every_teams_head() {
    use std::collections::HashSet;
    use std::time::Duration;
    use tokio::sync::broadcast::error::RecvError;

    const TEAMS: usize = 3_000;
    let (_node_a, db) = chronicle::testing::postgres().await;
    chronicle::testing::execute_raw(
        &db,
        &format!(
            "INSERT INTO accounts (id, slug, name, created_at) \
             SELECT gen_random_uuid(), 'team-' || n, 'Team ' || n, now() \
             FROM generate_series(1, {TEAMS}) n; \
             INSERT INTO event_chains (account_id, last_sequence, last_hash) \
             SELECT id, 0, decode(repeat('00', 32), 'hex') FROM accounts"
        ),
    )
    .await
    .expect("many teams");
    let node_b = Store::open(&db.url).await.expect("second node");
    let mut heard = node_b.subscribe();
    let relay = node_b.relay_cluster_commits().expect("a relay");
    let name = db.url.rsplit('/').next().expect("database name").to_owned();
    let listening = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}' \
         AND query LIKE 'LISTEN%chronicle_events%'"
    );
    chronicle::testing::eventually("node B listens", async || {
        chronicle::testing::query_i64(&db, &listening).await == 1
    })
    .await;
    let cut = chronicle::testing::query_i64(
        &db,
        &format!(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND query LIKE 'LISTEN%chronicle_events%') t"
        ),
    )
    .await;
    assert_eq!(cut, 1);

    let mut teams = HashSet::new();
    let mut lagged = 0;
    let all = tokio::time::timeout(Duration::from_secs(60), async {
        while teams.len() < TEAMS {
            match heard.recv().await {
                Ok(c) => {
                    teams.insert(c.account);
                }
                Err(RecvError::Lagged(n)) => lagged += n,
                Err(RecvError::Closed) => break,
            }
            // A subscriber with work of its own per notice.
            if teams.len() % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    })
    .await;
    relay.abort();
    assert_eq!(lagged, 0, "the subscriber lagged and lost {lagged} notices");
    assert!(all.is_ok(), "heard {} of {TEAMS} teams", teams.len());
}

/// A request stuck inside its transaction (a hung handler, a client that stopped
/// reading) holds its team's chain-head lock; PostgreSQL ends it after the idle limit,
/// so recording for that team goes on instead of waiting forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_stuck_transaction_does_not_hold_a_teams_chain_forever() {
    use chronicle::events::{record, RecordOptions};
    use chronicle::testing::{account, card_moved, card_ref, member};
    use std::time::Duration;

    let (store, db) = chronicle::testing::postgres().await;
    let acme = account(&store, "Acme").await;
    let impatient = Store::open(&format!(
        "{}?options=-c%20idle_in_transaction_session_timeout%3D1000",
        db.url
    ))
    .await
    .expect("a store with a one-second idle limit");
    let moved = card_moved(&card_ref("Fix login"));
    let mut stuck = impatient.begin().await.expect("begin");
    record(
        &mut stuck,
        acme.id,
        &member("Ana"),
        &moved,
        RecordOptions::default(),
    )
    .await
    .expect("record: takes the chain head's lock");
    // `stuck` now sits idle in its transaction, holding the lock.
    let recorded = tokio::time::timeout(Duration::from_secs(20), async {
        let mut tx = store.begin().await.expect("begin");
        record(
            &mut tx,
            acme.id,
            &member("Bob"),
            &moved,
            RecordOptions::default(),
        )
        .await?;
        tx.commit().await
    })
    .await
    .expect("the second recording does not wait forever");
    recorded.expect("and it succeeds once the stuck transaction is ended");
    assert!(
        stuck.commit().await.is_err(),
        "the stuck transaction was ended"
    );
    let v = chronicle::events::log::verify(&store, acme.id)
        .await
        .expect("verify");
    assert_eq!((v.checked, v.first_broken), (2, None));

    // A recording that waits past its statement limit is told the database is busy
    // (503, try again), not handed an internal error.
    let hasty = Store::open(&format!("{}?options=-c%20statement_timeout%3D300", db.url))
        .await
        .expect("a store with a 300 ms statement limit");
    let mut holder = store.begin().await.expect("begin");
    record(
        &mut holder,
        acme.id,
        &member("Ana"),
        &moved,
        RecordOptions::default(),
    )
    .await
    .expect("holds the head");
    let mut waiter = hasty.begin().await.expect("begin");
    let err = record(
        &mut waiter,
        acme.id,
        &member("Bob"),
        &moved,
        RecordOptions::default(),
    )
    .await
    .expect_err("gave up waiting");
    assert!(matches!(err, chronicle::Error::Busy), "{err:?}");
    drop(waiter);
    holder.commit().await.expect("the holder commits");
}
