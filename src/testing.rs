//! Test support: a fresh database per test, on each engine. Used by the engine's own
//! tests and by the server's; compiled into the library so both can reach it.
//!
//! SQLite: a new file in a temporary directory. PostgreSQL: a new database on the
//! server at `CHRONICLE_TEST_POSTGRES_URL` (default: the local server, trust auth),
//! named `chronicle_t_…` so `scripts/test` can drop leftovers. A PostgreSQL test never
//! skips itself: if the server is unreachable it fails, loudly.
use crate::Store;

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Keeps the test's database alive; SQLite's directory is removed on drop.
pub struct TestDb {
    /// The database URL, for a second connection or a second server process. On
    /// PostgreSQL it logs in as a serving login (a member of `chronicle_serving` only,
    /// as in production), not as the tables' owner.
    pub url: String,
    /// The owner's URL (a superuser on PostgreSQL; the same file on SQLite): what tests
    /// use to tamper with the log or to look behind the engine, as someone with
    /// database access would.
    pub owner_url: String,
    _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite() -> (Store, TestDb) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!(
        "sqlite://{}",
        dir.path().join("chronicle.sqlite3").display()
    );
    let store = Store::open(&url).await.expect("open SQLite store");
    (
        store,
        TestDb {
            owner_url: url.clone(),
            url,
            _dir: Some(dir),
        },
    )
}

pub async fn postgres() -> (Store, TestDb) {
    let owner_url = fresh_postgres_database().await;
    let url = serving_login_url(&owner_url).await;
    // Migrated by `serving_login_url`, as the owner: the serving login only checks.
    let store = Store::open(&url)
        .await
        .expect("open PostgreSQL store as the serving login");
    (
        store,
        TestDb {
            url,
            owner_url,
            _dir: None,
        },
    )
}

/// The login PostgreSQL tests serve as: a member of `chronicle_serving` only.
pub const TEST_SERVING_LOGIN: &str = "chronicle_test_serving";

/// `owner_url` with the test serving login instead of its user, after making sure the
/// login exists and migrating the database (which creates `chronicle_serving`).
async fn serving_login_url(owner_url: &str) -> String {
    use sqlx::Connection;
    let owner = Store::open(owner_url).await.expect("migrate as the owner");
    owner.close().await;
    let mut admin = sqlx::PgConnection::connect(owner_url)
        .await
        .expect("connect as the owner");
    // Roles are cluster-wide and tests run in parallel: another may be making it.
    sqlx::raw_sql(&format!(
        "DO $$ BEGIN CREATE ROLE {TEST_SERVING_LOGIN} LOGIN; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$; \
         DO $$ BEGIN GRANT chronicle_serving TO {TEST_SERVING_LOGIN}; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;"
    ))
    .execute(&mut admin)
    .await
    .expect("create the serving login");
    admin.close().await.ok();
    let (scheme, rest) = owner_url.split_once("://").expect("URL with a scheme");
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{TEST_SERVING_LOGIN}@{host}")
}

/// Creates an empty database and returns its URL.
pub async fn fresh_postgres_database() -> String {
    use sqlx::Connection;
    let admin_url = std::env::var("CHRONICLE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL suite cannot run: {admin_url} is unreachable ({e}). \
                 Start the server or set CHRONICLE_TEST_POSTGRES_URL."
            )
        });
    let name = format!("chronicle_t_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create test database");
    admin.close().await.ok();
    match admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("CHRONICLE_TEST_POSTGRES_URL has no database path: {admin_url}"),
    }
}

/// Runs each test body once on SQLite and once on PostgreSQL:
/// `engine_tests! { async fn name(store) { … } }` makes `sqlite::name` and
/// `postgres::name`.
#[macro_export]
macro_rules! engine_tests {
    // `async fn name(store)`: the test does not need the database URL.
    ($(async fn $name:ident($store:ident $(, $db:ident)?) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    #[allow(unused_variables)]
                    let ($store, db) = $crate::testing::sqlite().await;
                    $(let $db = &db;)?
                    $body
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    #[allow(unused_variables)]
                    let ($store, db) = $crate::testing::postgres().await;
                    $(let $db = &db;)?
                    $body
                }
            )*
        }
    };
}

/// The plan PostgreSQL chooses now for a worker's claim of `kinds`, begun the way the
/// worker begins it, as `EXPLAIN` prints it (one line per plan node). `plain` leaves
/// out the claim's planner settings, to show what the planner would pick on its own.
pub async fn postgres_claim_plan(store: &Store, kinds: &[String], plain: bool) -> String {
    let crate::store::Pool::Postgres(pool) = &store.pool else {
        panic!("postgres_claim_plan needs a PostgreSQL store");
    };
    let begin = if plain {
        "BEGIN"
    } else {
        crate::queue::PLAN_CLAIM_BY_RUN_AT
    };
    let mut tx = pool.begin_with(begin).await.expect("begin");
    let sql = format!(
        "EXPLAIN {}",
        crate::queue::claim_sql(crate::store::Engine::Postgres, kinds.len())
    );
    let mut q = sqlx::query_scalar::<_, String>(&sql)
        .bind("reason")
        .bind(i64::MAX)
        .bind("plan")
        .bind(uuid::Uuid::nil())
        .bind(i64::MAX)
        .bind(24_i64);
    for kind in kinds {
        q = q.bind(kind);
    }
    let lines = q.fetch_all(&mut *tx).await.expect("explain the claim");
    tx.rollback().await.expect("rollback");
    lines.join("\n")
}

/// Runs `sql` on a connection of its own, bypassing the engine: how tests tamper with
/// the log or inspect what the engine hides.
pub async fn execute_raw(db: &TestDb, sql: &str) -> Result<u64, sqlx::Error> {
    use sqlx::Connection;
    if db.owner_url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(&db.owner_url).await?;
        let n = sqlx::raw_sql(sql).execute(&mut conn).await?.rows_affected();
        conn.close().await?;
        Ok(n)
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&db.owner_url).await?;
        let n = sqlx::raw_sql(sql).execute(&mut conn).await?.rows_affected();
        conn.close().await?;
        Ok(n)
    }
}

/// Lifts the triggers that keep the log append-only, on either engine, so a test can
/// tamper with it the way an attacker with database access could.
pub async fn allow_log_tampering(db: &TestDb) {
    let sql = if db.url.starts_with("postgres") {
        "ALTER TABLE events DISABLE TRIGGER events_reject_change"
    } else {
        "DROP TRIGGER events_reject_update; DROP TRIGGER events_reject_delete"
    };
    execute_raw(db, sql).await.expect("lift the log's triggers");
}

/// Forges `account`'s log the way someone with write access to the database could:
/// renames the actor of every event from `from` on to `actor_name`, recomputes each of
/// those rows' links and hashes, and moves the chain head along, so the database agrees
/// with itself. Only an anchor kept outside it can tell (see `events::log::Anchor`).
pub async fn forge_tail(
    store: &Store,
    db: &TestDb,
    account: crate::accounts::AccountId,
    from: i64,
    actor_name: &str,
) {
    allow_log_tampering(db).await;
    let rows = crate::events::log::read(store, account, 0, 100_000)
        .await
        .expect("read the log");
    let literal = |bytes: &[u8]| bytes_literal(db, bytes);
    let mut prev: Option<Vec<u8>> = None;
    let mut sql = String::new();
    for stored in rows {
        let mut row = stored.row;
        if row.sequence < from {
            prev = Some(stored.hash);
            continue;
        }
        row.actor_name = actor_name.to_owned();
        if let Some(p) = prev.take() {
            row.prev_hash = p;
        }
        let hash = row.chain_hash();
        sql.push_str(&format!(
            "UPDATE events SET actor_name = '{}', prev_hash = {}, hash = {} \
             WHERE account_id = {} AND sequence = {};\n",
            actor_name.replace('\'', "''"),
            literal(&row.prev_hash),
            literal(&hash),
            uuid_literal(db, row.account_id),
            row.sequence
        ));
        sql.push_str(&format!(
            "UPDATE event_chains SET last_hash = {} WHERE account_id = {} AND last_sequence = {};\n",
            literal(&hash),
            uuid_literal(db, row.account_id),
            row.sequence
        ));
        prev = Some(hash);
    }
    execute_raw(db, &sql).await.expect("forge the tail");
}

/// Bytes (a hash) as an SQL literal of the engine's binary type (`bytea` / blob).
pub fn bytes_literal(db: &TestDb, bytes: &[u8]) -> String {
    let hex = crate::events::log::hex(bytes);
    if db.url.starts_with("postgres") {
        format!("decode('{hex}', 'hex')")
    } else {
        format!("X'{hex}'")
    }
}

/// A UUID as an SQL literal of the engine's column type (PostgreSQL `uuid`, SQLite blob).
pub fn uuid_literal(db: &TestDb, id: uuid::Uuid) -> String {
    if db.url.starts_with("postgres") {
        format!("'{id}'::uuid")
    } else {
        format!("X'{}'", id.simple())
    }
}

/// A new account named `name`, created by the system actor.
pub async fn account(store: &Store, name: &str) -> crate::accounts::Account {
    let name = crate::accounts::AccountName::parse(name).expect("valid account name");
    crate::accounts::create_account(store, name, &crate::events::Actor::System)
        .await
        .expect("create account")
}

/// A member actor with a fresh id.
pub fn member(name: &str) -> crate::events::Actor {
    crate::events::Actor::Member {
        id: uuid::Uuid::now_v7(),
        name: name.to_owned(),
    }
}

/// The test inbox: accepts every event of the types it is given (all when empty) and
/// remembers each delivery as `(account, sequence, type)`.
pub struct RecordingInbox {
    pub name: &'static str,
    pub types: Vec<&'static str>,
    pub deliveries: std::sync::Mutex<Vec<(crate::accounts::AccountId, i64, String)>>,
}

impl RecordingInbox {
    pub fn new(name: &'static str) -> std::sync::Arc<Self> {
        std::sync::Arc::new(RecordingInbox {
            name,
            types: Vec::new(),
            deliveries: std::sync::Mutex::new(Vec::new()),
        })
    }

    pub fn delivered(&self) -> Vec<(crate::accounts::AccountId, i64, String)> {
        self.deliveries
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default()
    }
}

impl crate::inbox::Inbox for RecordingInbox {
    fn name(&self) -> &'static str {
        self.name
    }
    fn accepts(&self, event: &dyn crate::events::AnyEvent) -> bool {
        self.types.is_empty() || self.types.contains(&event.type_name())
    }
    fn handle<'a>(
        &'a self,
        _tx: &'a mut crate::store::Tx,
        delivery: &'a crate::inbox::Delivery,
    ) -> crate::queue::worker_types::BoxFuture<'a, crate::Result<()>> {
        Box::pin(async move {
            if let Ok(mut d) = self.deliveries.lock() {
                d.push((
                    delivery.account,
                    delivery.stored.row.sequence,
                    delivery.stored.row.event_type.clone(),
                ));
            }
            Ok(())
        })
    }
}

/// An inbox whose every delivery fails, to prove failures stay in their inbox.
pub struct FailingInbox {
    pub max_attempts: i32,
}

impl crate::inbox::Inbox for FailingInbox {
    fn name(&self) -> &'static str {
        "failing"
    }
    fn accepts(&self, _event: &dyn crate::events::AnyEvent) -> bool {
        true
    }
    fn handle<'a>(
        &'a self,
        _tx: &'a mut crate::store::Tx,
        _delivery: &'a crate::inbox::Delivery,
    ) -> crate::queue::worker_types::BoxFuture<'a, crate::Result<()>> {
        Box::pin(async { Err(crate::Error::Conflict("this inbox always fails".into())) })
    }
    fn max_attempts(&self) -> i32 {
        self.max_attempts
    }
}

/// A card on a board and project of its own, as events remember it.
pub fn card_ref(title: &str) -> crate::events::catalog::CardRef {
    crate::events::catalog::CardRef {
        id: uuid::Uuid::now_v7(),
        title: title.to_owned(),
        board_id: uuid::Uuid::now_v7(),
        project_id: uuid::Uuid::now_v7(),
    }
}

/// `card` moved from "To do" to "Doing".
pub fn card_moved(card: &crate::events::catalog::CardRef) -> crate::events::catalog::CardMoved {
    use crate::events::catalog::{CardMoved, ColumnRef};
    CardMoved {
        card: card.clone(),
        from_column: ColumnRef {
            id: uuid::Uuid::now_v7(),
            name: "To do".into(),
        },
        to_column: ColumnRef {
            id: uuid::Uuid::now_v7(),
            name: "Doing".into(),
        },
        position: 0,
    }
}

/// Polls `cond` every 10 ms until it holds; panics naming `what` after 10 s.
pub async fn eventually(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    for _ in 0..1000 {
        if cond().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Where test sign-in requests come from.
pub fn origin(ip: &str) -> crate::identity::sign_in::RequestOrigin {
    crate::identity::sign_in::RequestOrigin {
        ip: Some(ip.parse().expect("an IP address")),
        base_url: "http://chronicle.test".to_owned(),
    }
}

/// The person with this address, signed up through the real link flow.
pub async fn person(store: &Store, email: &str) -> crate::identity::User {
    use crate::identity::{sign_in, Email};
    let email = Email::parse(email).expect("valid e-mail");
    let request = sign_in::request_sign_in(store, &email, &origin("192.0.2.1"))
        .await
        .expect("request sign-in");
    sign_in::redeem_link(store, &request.token)
        .await
        .expect("redeem link")
}

/// A team named `name` owned by a new person at `owner_email`, as that owner.
pub async fn team(store: &Store, name: &str, owner_email: &str) -> crate::accounts::Current {
    let owner = person(store, owner_email).await;
    let name = crate::accounts::AccountName::parse(name).expect("valid team name");
    let account = crate::accounts::members::create_team(store, name, &owner)
        .await
        .expect("create team");
    crate::accounts::members::membership(store, &account.slug, &owner)
        .await
        .expect("owner's membership")
}

/// `email` invited to `current`'s team as `role`, signed in and joined; as that member.
pub async fn join(
    store: &Store,
    current: &crate::accounts::Current,
    email: &str,
    role: crate::accounts::Role,
) -> crate::accounts::Current {
    use crate::accounts::members;
    let address = crate::identity::Email::parse(email).expect("valid e-mail");
    let invitation = members::invite(store, current, &address, role, "http://chronicle.test")
        .await
        .expect("invite");
    let user = person(store, email).await;
    members::accept_invitation(store, &user, invitation.account_id, invitation.id)
        .await
        .expect("accept invitation");
    members::membership(store, &current.account.slug, &user)
        .await
        .expect("new member's membership")
}

/// The first column of the first row of `sql`, run on a connection of its own.
pub async fn query_i64(db: &TestDb, sql: &str) -> i64 {
    use sqlx::Connection;
    if db.owner_url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(&db.owner_url)
            .await
            .expect("connect");
        sqlx::query_scalar(sql)
            .fetch_one(&mut conn)
            .await
            .expect(sql)
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&db.owner_url)
            .await
            .expect("connect");
        sqlx::query_scalar(sql)
            .fetch_one(&mut conn)
            .await
            .expect(sql)
    }
}

/// Runs `sql` (no filter of its own) in a transaction scoped to `account`, as tenant
/// work runs, and returns the first column of its first row: how the row-level
/// security test asks "what can this account see without a WHERE clause?".
pub async fn scoped_i64(
    store: &Store,
    account: crate::accounts::AccountId,
    sql: &str,
) -> crate::Result<i64> {
    let mut tx = store.begin_for(account).await?;
    let n: i64 = crate::store::on_tx!(tx, |c| sqlx::query_scalar(sql).fetch_one(c).await?);
    tx.rollback().await?;
    Ok(n)
}

/// Runs a statement in a transaction scoped to `account` and commits it.
pub async fn scoped_execute(
    store: &Store,
    account: crate::accounts::AccountId,
    sql: &str,
) -> crate::Result<u64> {
    let mut tx = store.begin_for(account).await?;
    let n = crate::store::on_tx!(tx, |c| sqlx::raw_sql(sql).execute(c).await?.rows_affected());
    tx.commit().await?;
    Ok(n)
}

/// A project "Website" with a board "Launch" (To do / Doing / Done) in `current`'s team.
pub struct TestBoard {
    pub project: crate::projects::Project,
    pub board: crate::boards::Board,
    /// The columns in order: To do, Doing, Done.
    pub columns: Vec<crate::boards::Column>,
}

impl TestBoard {
    /// The id of the column named `name`.
    pub fn column(&self, name: &str) -> uuid::Uuid {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.id)
            .unwrap_or_else(|| panic!("no column {name:?}"))
    }
}

pub async fn board(store: &Store, current: &crate::accounts::Current) -> TestBoard {
    let project = crate::projects::create_project(store, current, "Website")
        .await
        .expect("create project");
    let board = crate::boards::create_board(store, current, project.id, "Launch")
        .await
        .expect("create board");
    let columns = crate::boards::board_view(store, current, board.id)
        .await
        .expect("board view")
        .columns
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    TestBoard {
        project,
        board,
        columns,
    }
}
