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
