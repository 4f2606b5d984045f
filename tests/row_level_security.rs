//! PostgreSQL's second lock: with row-level security, tenant work that forgets its
//! account filter still sees and writes nothing of another account. (SQLite has no
//! row-level security; there the engine's account arguments are the only lock, which
//! the isolation tests in members.rs and the server's isolation suite check.)

use chronicle::accounts::members::{self, Role};
use chronicle::events::{record, RecordOptions};
use chronicle::identity::Email;
use chronicle::testing::{
    card_moved, card_ref, join, postgres, query_i64, scoped_execute, scoped_i64, team,
};

/// Tables without account_id that tenant work may read (people are shared by teams).
const SHARED_TABLES: &[&str] = &["users"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_without_the_account_filter_returns_no_foreign_rows() {
    let (store, db) = postgres().await;
    let acme = team(&store, "Acme", "alice@example.com").await;
    let zeta = team(&store, "Zeta", "zed@example.com").await;
    for current in [&acme, &zeta] {
        join(
            &store,
            current,
            &format!("m@{}.test", current.account.slug),
            Role::Member,
        )
        .await;
        members::invite(
            &store,
            current,
            &Email::parse(&format!("later@{}.test", current.account.slug)).expect("email"),
            Role::Member,
            "http://x.test",
        )
        .await
        .expect("invite");
        let todo = chronicle::testing::board(&store, current)
            .await
            .column("To do");
        chronicle::cards::create_card(&store, current, todo, "Fix login")
            .await
            .expect("card");
        let mut tx = store.begin_for(current.account_id()).await.expect("begin");
        let card = card_ref("Fix login");
        record(
            &mut tx,
            current.account_id(),
            &current.actor(),
            &card_moved(&card),
            RecordOptions::default(),
        )
        .await
        .expect("record");
        tx.commit().await.expect("commit");
        // Rows the queue's inboxes would write (no worker runs here).
        chronicle::testing::execute_raw(&db, &format!(
            "INSERT INTO comments (account_id, id, card_id, author_name, body, created_at) \
               VALUES ('{a}', gen_random_uuid(), gen_random_uuid(), 'Chronicle', 'moved', now()); \
             INSERT INTO inbox_receipts (inbox, account_id, sequence, handled_at) VALUES ('test', '{a}', 1, 0)",
            a = current.account_id()
        )).await.expect("inbox rows");
    }

    // Every table that carries account_id, straight from the catalogue.
    let tables: Vec<String> = {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
        sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.columns \
             WHERE table_schema = 'public' AND column_name = 'account_id' ORDER BY 1",
        )
        .fetch_all(&mut conn)
        .await
        .expect("catalogue")
    };
    assert!(tables.len() >= 8, "{tables:?}");

    for table in &tables {
        let total = query_i64(&db, &format!("SELECT count(*) FROM {table}")).await;
        let own = query_i64(
            &db,
            &format!(
                "SELECT count(*) FROM {table} WHERE account_id = '{}'",
                acme.account_id()
            ),
        )
        .await;
        let seen = scoped_i64(
            &store,
            acme.account_id(),
            &format!("SELECT count(*) FROM {table}"),
        )
        .await
        .unwrap_or_else(|e| panic!("{table}: {e}"));
        assert_eq!(
            seen, own,
            "{table}: Acme's unfiltered query must see exactly its own rows"
        );
        if table != "jobs" {
            assert!(
                total > own,
                "{table}: the test needs Zeta rows to hide ({total} total)"
            );
        }
        let foreign = scoped_i64(
            &store,
            acme.account_id(),
            &format!(
                "SELECT count(*) FROM {table} WHERE account_id = '{}'",
                zeta.account_id()
            ),
        )
        .await
        .expect("query");
        assert_eq!(foreign, 0, "{table}: Zeta's rows asked for by id");
    }
    let accounts = scoped_i64(&store, acme.account_id(), "SELECT count(*) FROM accounts")
        .await
        .expect("accounts");
    assert_eq!(accounts, 1, "only its own account row");

    // Writing into another account fails at the database, and changes nothing.
    let err = scoped_execute(&store, acme.account_id(), &format!(
        "INSERT INTO members (account_id, user_id, role, joined_at) VALUES ('{}', '{}', 'owner', 0)",
        zeta.account_id(), acme.user.id
    )).await.expect_err("foreign insert");
    assert!(err.to_string().contains("row-level security"), "{err}");
    let changed = scoped_execute(
        &store,
        acme.account_id(),
        &format!(
            "UPDATE members SET role = 'member' WHERE account_id = '{}'",
            zeta.account_id()
        ),
    )
    .await
    .expect("update runs");
    assert_eq!(changed, 0, "Zeta's rows are invisible to UPDATE");

    // People: only the team's own (Acme has Ana and its member, not Zeta's two).
    let people = scoped_i64(&store, acme.account_id(), "SELECT count(*) FROM users")
        .await
        .expect("users");
    assert_eq!(people, 2, "only Acme's people");

    // Secrets are not the tenant role's to read at all.
    for private in ["sessions", "sign_in_tokens", "mail_outbox"] {
        let err = scoped_i64(
            &store,
            acme.account_id(),
            &format!("SELECT count(*) FROM {private}"),
        )
        .await
        .expect_err("no privilege");
        assert!(
            err.to_string().contains("permission denied"),
            "{private}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tenant_table_has_row_level_security_and_a_policy() {
    let (_store, db) = postgres().await;
    let unprotected = query_i64(
        &db,
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r' \
           AND (c.relname = 'accounts' OR EXISTS (SELECT 1 FROM information_schema.columns col \
                 WHERE col.table_schema = 'public' AND col.table_name = c.relname \
                   AND col.column_name = 'account_id')) \
           AND (NOT c.relrowsecurity OR NOT EXISTS (SELECT 1 FROM pg_policies p \
                 WHERE p.schemaname = 'public' AND p.tablename = c.relname))",
    )
    .await;
    assert_eq!(
        unprotected, 0,
        "a tenant table lacks row-level security or its policy"
    );
    // Tables the tenant role may read must be tenant tables or listed as shared.
    let readable_unlisted = query_i64(
        &db,
        &format!(
            "SELECT count(*) FROM information_schema.role_table_grants g \
         WHERE g.grantee = 'chronicle_tenant' AND g.table_schema = 'public' \
           AND g.privilege_type = 'SELECT' AND g.table_name <> 'accounts' \
           AND g.table_name NOT IN ({}) \
           AND NOT EXISTS (SELECT 1 FROM information_schema.columns col \
                 WHERE col.table_schema = 'public' AND col.table_name = g.table_name \
                   AND col.column_name = 'account_id')",
            SHARED_TABLES
                .iter()
                .map(|t| format!("'{t}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
    .await;
    assert_eq!(
        readable_unlisted, 0,
        "the tenant role can read a global table not listed as shared"
    );
}

/// What migration 0009 set up must hold for every table a later migration adds: row-level
/// security forced with the cross-account policy, and no way for the serving or tenant
/// role to change or remove what the log holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_secured_table_is_forced_and_lets_the_serving_role_across_and_the_log_stays_append_only(
) {
    let (_store, db) = postgres().await;
    let unforced: Vec<String> = {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&db.owner_url)
            .await
            .expect("connect");
        sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relrowsecurity \
               AND (NOT c.relforcerowsecurity OR NOT EXISTS (SELECT 1 FROM pg_policies p \
                     WHERE p.schemaname = 'public' AND p.tablename = c.relname \
                       AND p.policyname = 'cross_account_work' \
                       AND p.roles = '{chronicle_serving}'::name[])) \
             ORDER BY 1",
        )
        .fetch_all(&mut conn)
        .await
        .expect("catalogue")
    };
    assert!(
        unforced.is_empty(),
        "tables without FORCE or the cross_account_work policy: {unforced:?}"
    );
    for role in ["chronicle_serving", "chronicle_tenant"] {
        let rights = query_i64(
            &db,
            &format!(
                "SELECT count(*) FROM (VALUES ('events'), ('event_chains')) t(name), \
                 (VALUES ('UPDATE'), ('DELETE'), ('TRUNCATE')) p(privilege) \
                 WHERE has_table_privilege('{role}', 'public.' || t.name, p.privilege) \
                   AND NOT (t.name = 'event_chains' AND p.privilege = 'UPDATE')"
            ),
        )
        .await;
        assert_eq!(rights, 0, "{role} may change or remove what the log holds");
        // The head's columns only: never the team it belongs to.
        let rekey = query_i64(
            &db,
            &format!(
                "SELECT count(*) WHERE has_column_privilege('{role}', 'public.event_chains', \
                 'account_id', 'UPDATE')"
            ),
        )
        .await;
        assert_eq!(rekey, 0, "{role} may move a chain to another team");
    }
}
