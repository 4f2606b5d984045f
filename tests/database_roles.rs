//! PostgreSQL logins: the serving login (a member of `chronicle_serving`) runs all of
//! Chronicle but can only add to the event log; the tables' owner migrates. Every other
//! PostgreSQL test also serves as that login (`chronicle::testing::postgres`), so a
//! right the serving role lacks fails the suite.

use chronicle::events::{record, RecordOptions};
use chronicle::testing::{account, card_moved, card_ref, member, scoped_execute, TestDb};
use chronicle::{LogProtection, Store};

/// Runs `sql` through a connection of the serving login, outside the engine: what the
/// application's own login could do if it were taken over.
async fn as_serving_login(db: &TestDb, sql: &str) -> Result<u64, sqlx::Error> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&db.url).await?;
    Ok(sqlx::raw_sql(sql).execute(&mut conn).await?.rows_affected())
}

fn refused(result: Result<u64, sqlx::Error>, what: &str) -> String {
    match result {
        Ok(n) => panic!("{what} was allowed ({n} rows)"),
        Err(sqlx::Error::Database(e)) => {
            assert!(
                matches!(e.code().as_deref(), Some("42501")),
                "{what}: refused, but not for lack of rights: {e}"
            );
            e.message().to_owned()
        }
        Err(e) => panic!("{what}: {e}"),
    }
}

async fn record_a_move(store: &Store, account: chronicle::accounts::AccountId) {
    let mut tx = store.begin().await.expect("begin");
    record(
        &mut tx,
        account,
        &member("Bob"),
        &card_moved(&card_ref("Fix login")),
        RecordOptions::default(),
    )
    .await
    .expect("the serving login records");
    tx.commit().await.expect("commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_serving_login_cannot_alter_delete_truncate_or_disable_the_log() {
    let (store, db) = chronicle::testing::postgres().await;
    let acme = account(&store, "Acme").await;
    record_a_move(&store, acme.id).await;
    assert_eq!(
        store.log_protection().await.expect("protection"),
        LogProtection::AppendOnly
    );

    let id = acme.id.0;
    for (what, sql) in [
        (
            "UPDATE events",
            format!("UPDATE events SET actor_name = 'Mallory' WHERE account_id = '{id}'"),
        ),
        (
            "DELETE FROM events",
            format!("DELETE FROM events WHERE account_id = '{id}'"),
        ),
        ("TRUNCATE events", "TRUNCATE events".to_owned()),
        (
            "DELETE FROM event_chains",
            format!("DELETE FROM event_chains WHERE account_id = '{id}'"),
        ),
        ("TRUNCATE event_chains", "TRUNCATE event_chains".to_owned()),
        (
            "UPDATE event_chains SET account_id",
            format!(
                "UPDATE event_chains SET account_id = gen_random_uuid() WHERE account_id = '{id}'"
            ),
        ),
    ] {
        refused(as_serving_login(&db, &sql).await, what);
    }
    for (what, sql) in [
        (
            "DISABLE TRIGGER",
            "ALTER TABLE events DISABLE TRIGGER events_reject_change",
        ),
        (
            "DROP TRIGGER",
            "DROP TRIGGER events_reject_change ON events",
        ),
        (
            "DISABLE ROW LEVEL SECURITY",
            "ALTER TABLE events DISABLE ROW LEVEL SECURITY",
        ),
        ("DROP TABLE", "DROP TABLE events"),
    ] {
        let message = refused(as_serving_login(&db, sql).await, what);
        assert!(message.contains("must be owner"), "{what}: {message}");
    }

    // Tenant work (SET ROLE chronicle_tenant inside its transaction) no more.
    for (what, sql) in [
        (
            "tenant UPDATE events",
            "UPDATE events SET actor_name = 'Mallory'",
        ),
        ("tenant DELETE FROM events", "DELETE FROM events"),
        (
            "tenant DELETE FROM event_chains",
            "DELETE FROM event_chains",
        ),
    ] {
        let err = scoped_execute(&store, acme.id, sql)
            .await
            .expect_err(what)
            .to_string();
        assert!(err.contains("permission denied"), "{what}: {err}");
    }

    // And the log is whole: nothing above changed it, and recording goes on.
    record_a_move(&store, acme.id).await;
    let v = chronicle::events::log::verify(&store, acme.id)
        .await
        .expect("verify");
    assert!(v.first_broken.is_none(), "{:?}", v.first_broken);
    assert_eq!(v.checked, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_serving_login_sees_every_team_and_tenant_work_still_only_its_own() {
    let (store, db) = chronicle::testing::postgres().await;
    let acme = account(&store, "Acme").await;
    let globex = account(&store, "Globex").await;
    record_a_move(&store, acme.id).await;
    record_a_move(&store, globex.id).await;
    // Cross-account work (workers, verify) sees both teams through its policy …
    let all = chronicle::testing::scoped_i64(&store, acme.id, "SELECT count(*) FROM events")
        .await
        .expect("tenant count");
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("serving");
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&mut conn)
        .await
        .expect("serving count");
    assert_eq!(seen, 4, "both teams' creation and move");
    // … tenant work only its own team's rows.
    assert_eq!(all, 2);
}

/// The default, single-login set-up keeps working for a login that owns the tables
/// without being a superuser (forced row-level security lets it through as a member
/// of `chronicle_serving`), and the server is told the log is alterable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_single_owner_login_works_and_is_told_it_can_alter_the_log() {
    use sqlx::Connection;
    let admin_url = std::env::var("CHRONICLE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| chronicle::testing::DEFAULT_POSTGRES_URL.to_owned());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("admin");
    let name = format!("chronicle_t_{}", uuid::Uuid::now_v7().simple());
    sqlx::raw_sql(
        "DO $$ BEGIN CREATE ROLE chronicle_test_owner LOGIN CREATEROLE; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
    )
    .execute(&mut admin)
    .await
    .expect("an owner login");
    sqlx::raw_sql(&format!(
        "CREATE DATABASE {name} OWNER chronicle_test_owner"
    ))
    .execute(&mut admin)
    .await
    .expect("its database");
    let (scheme, rest) = admin_url.split_once("://").expect("scheme");
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = host.rsplit_once('/').map_or(host, |(h, _)| h);
    let url = format!("{scheme}://chronicle_test_owner@{host}/{name}");

    let store = Store::open(&url)
        .await
        .expect("the owner migrates and serves");
    let acme = account(&store, "Acme").await;
    record_a_move(&store, acme.id).await;
    let v = chronicle::events::log::verify(&store, acme.id)
        .await
        .expect("verify");
    assert_eq!((v.checked, v.first_broken.is_none()), (2, true));
    match store.log_protection().await.expect("protection") {
        LogProtection::Alterable { login, why } => {
            assert_eq!(login, "chronicle_test_owner");
            assert!(why.contains("owns"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    store.close().await;
    sqlx::raw_sql(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_serving_login_starts_on_a_migrated_database_and_refuses_to_migrate() {
    let (store, db) = chronicle::testing::postgres().await;
    // Current: opening as the serving login checks and goes on.
    Store::open(&db.url)
        .await
        .expect("open as the serving login");
    // Behind (the newest migration undone by the owner): the serving login may not
    // catch up, and says who can.
    chronicle::testing::execute_raw(
        &db,
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
    )
    .await
    .expect("forget the newest migration");
    let Err(err) = Store::open(&db.url).await else {
        panic!("a serving login opened a database that is behind its migrations");
    };
    let err = err.to_string();
    assert!(err.contains("CHRONICLE_MIGRATE_DATABASE_URL"), "{err}");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_the_log_is_protected_only_by_the_file() {
    let (store, _db) = chronicle::testing::sqlite().await;
    assert_eq!(
        store.log_protection().await.expect("protection"),
        LogProtection::FileOnly
    );
}
