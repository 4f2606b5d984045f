//! The `chronicle` command line: migrate, verify, replay, jobs.

use std::process::Command;

use chronicle::testing::{account, allow_log_tampering, execute_raw};

fn chronicle(url: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_chronicle"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run chronicle");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn migrate_creates_and_migrates_a_new_sqlite_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("new/db.sqlite3").display());
    let (ok, out) = chronicle(&url, &["migrate"]);
    assert!(ok, "{out}");
    assert!(out.contains("sqlite database migrated to version"), "{out}");
}

#[tokio::test]
async fn verify_reports_intact_chains_and_names_a_broken_row() {
    let (store, db) = chronicle::testing::sqlite().await;
    account(&store, "Acme").await;
    account(&store, "Beta").await;
    let (ok, out) = chronicle(&db.url, &["verify"]);
    assert!(ok, "{out}");
    assert!(out.contains("acme: 1 events, chain intact"), "{out}");
    assert!(out.contains("beta: 1 events, chain intact"), "{out}");

    allow_log_tampering(&db).await;
    execute_raw(&db, "UPDATE events SET actor_name = 'Mallory' WHERE event_type = 'account.created' AND account_id = (SELECT id FROM accounts WHERE slug = 'beta')")
        .await
        .expect("tamper");
    let (ok, out) = chronicle(&db.url, &["verify"]);
    assert!(!ok, "a broken chain exits non-zero: {out}");
    assert!(out.contains("beta: BROKEN at sequence 1"), "{out}");
    assert!(out.contains("acme: 1 events, chain intact"), "{out}");
}

#[tokio::test]
async fn replay_rebuilds_the_activity_feed() {
    let (store, db) = chronicle::testing::postgres().await;
    let acme = account(&store, "Acme").await;
    execute_raw(&db, "DELETE FROM activities")
        .await
        .expect("lose the projection");
    let feed = chronicle::activity::FeedQuery::new(chronicle::activity::FeedScope::Account);
    assert!(chronicle::activity::feed(&store, acme.id, &feed)
        .await
        .expect("feed")
        .is_empty());
    let (ok, out) = chronicle(&db.url, &["replay", "activity"]);
    assert!(ok, "{out}");
    assert!(out.contains("acme: 1 activity rows rebuilt"), "{out}");
    assert_eq!(
        chronicle::activity::feed(&store, acme.id, &feed)
            .await
            .expect("feed")
            .len(),
        1
    );
}

#[tokio::test]
async fn an_unknown_database_url_is_a_clear_error() {
    let (ok, out) = chronicle("mysql://nowhere/x", &["migrate"]);
    assert!(!ok);
    assert!(out.contains("unsupported database URL"), "{out}");
}
