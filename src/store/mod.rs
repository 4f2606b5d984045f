//! Storage: one `Store` over two first-class engines.
//!
//! SQLite (a file in WAL mode) is the embedded default; PostgreSQL, chosen by a
//! `postgres://` URL, is how several server nodes share one database.
//!
//! Why not sqlx's `Any` driver: it maps only primitive types, so UUIDs, timestamps and
//! JSON would have to be stored as text on PostgreSQL too, and the engine-specific parts
//! the event log needs (row locks, `SKIP LOCKED`, `LISTEN/NOTIFY`, row-level security)
//! do not fit behind it anyway. Instead the store holds one concrete sqlx pool per
//! engine. Most SQL is written once, in the portable subset both engines accept (`$1`
//! placeholders, `uuid`/`timestamp`/`json` mapped by sqlx natively on each), and the
//! [`on_pool!`] / [`on_tx!`] macros expand the same code for each engine, so each copy
//! is type-checked against its own driver. Where the engines differ, the code matches
//! on the engine explicitly and says why.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use tokio::sync::{broadcast, Notify};

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Postgres, Sqlite};

use crate::accounts::AccountId;
use crate::activity::CommitActivity;
use crate::error::{Error, Result};
use crate::events::record::{ChainHead, Hash, Pending};
use crate::inbox::Inbox;

mod roles;
pub use roles::LogProtection;

/// Runs `$body` with `$p` bound to the engine's pool (`&SqlitePool` or `&PgPool`).
macro_rules! on_pool {
    ($store:expr, |$p:ident| $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($p) => $body,
            $crate::store::Pool::Postgres($p) => $body,
        }
    };
}

/// Runs `$body` with `$c` bound to the transaction's connection, after writing what
/// `record()` buffered (so the statement sees every event recorded before it).
macro_rules! on_tx {
    ($tx:expr, |$c:ident| $body:expr) => {{
        $tx.flush().await?;
        match &mut $tx.inner {
            $crate::store::TxInner::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::store::TxInner::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    }};
}

/// Runs `$body` with `$c` bound to a connection that can see only `$account`'s rows:
/// the way every tenant read goes. On PostgreSQL the read runs in a short transaction as
/// the `chronicle_tenant` role (see [`Store::begin_for`]), so row-level security hides
/// other accounts' rows even if the query forgot its filter; on SQLite, on the pool.
macro_rules! on_account {
    ($store:expr, $account:expr, |$c:ident| $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($c) => $body,
            $crate::store::Pool::Postgres(p) => {
                let mut t = p
                    .begin_with($crate::store::tenant_begin_sql($account))
                    .await?;
                let out = {
                    let $c = &mut *t;
                    $body
                };
                t.commit().await?;
                out
            }
        }
    };
}

/// Runs `$body` with `$p` bound to the pool that writes outside a [`Tx`] go through,
/// while the caller holds [`Store::writer`]: on SQLite the single writer connection
/// (see `Shared::sqlite_writes`), on PostgreSQL the pool.
macro_rules! on_writer {
    ($store:expr, |$p:ident| $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite(reads) => {
                let $p = $store.shared.sqlite_writes.as_ref().unwrap_or(reads);
                $body
            }
            $crate::store::Pool::Postgres($p) => $body,
        }
    };
}

#[allow(unused_imports)]
pub(crate) use {on_account, on_pool, on_tx, on_writer};

/// Commit notices a subscriber may fall behind by before it lags (and must re-read).
pub const COMMITTED_CAPACITY: usize = 1024;
/// Chain heads announced per round after a reconnect (see `announce_all_heads`).
const HEADS_PER_ROUND: usize = 256;
/// The longest wait for subscribers to make room for a round of heads.
const HEADS_ROUND_WAIT: Duration = Duration::from_secs(5);

/// The pause before a lost `LISTEN` connection is opened again.
pub const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

/// Longest wait for this process's SQLite write turn.
pub const WRITER_WAIT: Duration = Duration::from_secs(30);

/// The PostgreSQL role tenant work runs as; row-level security applies to it.
pub const TENANT_ROLE: &str = "chronicle_tenant";

/// `BEGIN` for one account's work on PostgreSQL: switch to the tenant role and set the
/// account for this transaction only (both revert at COMMIT or ROLLBACK). Sent as one
/// simple-protocol round trip. The id is a UUID, formatted by us: nothing to escape.
pub(crate) fn tenant_begin_sql(account: AccountId) -> String {
    format!(
        "BEGIN; SELECT set_config('role', '{TENANT_ROLE}', true), \
         set_config('chronicle.account_id', '{}', true)",
        account.0
    )
}

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A handle on the database. Cheap to clone: a pool plus shared in-process state (the
/// registered inboxes, the commit broadcast, the queue's wake-up).
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: Pool,
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("engine", &self.engine())
            .finish()
    }
}

/// Sent on [`Store::subscribe`] after a transaction that recorded events commits.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    pub account: AccountId,
    /// The account's newest sequence number after the commit.
    pub last_sequence: i64,
    /// The activity the commit recorded, when it was small enough to come with the
    /// notice (in-process, or inside the `NOTIFY` payload); otherwise a listener reads
    /// it from the database.
    pub activity: Option<Arc<CommitActivity>>,
}

/// The longest `NOTIFY` payload sent with activity: PostgreSQL refuses 8,000 bytes or
/// more; the margin costs nothing (a larger commit's items are read instead).
pub(crate) const NOTICE_MAX: usize = 7_500;

/// The `pg_notify('chronicle_events', …)` payload: `"<account uuid>:<sequence>"`,
/// followed by `":<CommitActivity JSON>"` when that fits in [`NOTICE_MAX`] bytes.
pub(crate) fn commit_notice(c: &Committed) -> String {
    let plain = format!("{}:{}", c.account.0, c.last_sequence);
    let with_activity = c
        .activity
        .as_ref()
        .and_then(|a| serde_json::to_string(a).ok())
        .map(|json| format!("{plain}:{json}"));
    match with_activity {
        Some(full) if full.len() <= NOTICE_MAX => full,
        _ => plain,
    }
}

/// Reads a [`commit_notice`]. Activity that does not parse is left to be read.
fn parse_commit(payload: &str) -> Option<Committed> {
    let mut parts = payload.splitn(3, ':');
    let account = AccountId(uuid::Uuid::parse_str(parts.next()?).ok()?);
    let last_sequence = parts.next()?.parse().ok()?;
    let activity = parts
        .next()
        .and_then(|json| serde_json::from_str::<CommitActivity>(json).ok())
        .filter(|a| {
            a.items
                .iter()
                .all(|i| i.sequence > a.after && i.sequence <= last_sequence)
        })
        .map(Arc::new);
    Some(Committed {
        account,
        last_sequence,
        activity,
    })
}

pub(crate) struct Shared {
    pub(crate) inboxes: RwLock<Vec<Arc<dyn Inbox>>>,
    pub(crate) committed: broadcast::Sender<Committed>,
    /// Wakes this process's queue workers when a transaction enqueued jobs.
    pub(crate) jobs_ready: Notify,
    /// SQLite allows one writer at a time. Writers in this process queue here, in
    /// order, instead of racing for the file lock and sleeping in SQLite's busy
    /// handler (which backs off in steps of up to 100 ms).
    pub(crate) sqlite_writer: Arc<tokio::sync::Mutex<()>>,
    /// SQLite: each account's chain head as this process last committed it. Only this
    /// process's writers (queued on `sqlite_writer`) change it, so it saves re-reading
    /// the head at every recording. Should another process record into the same file,
    /// a stale head collides with the `(account_id, sequence)` primary key, the
    /// transaction fails, and the entry is dropped so the next one reads afresh.
    sqlite_heads: std::sync::Mutex<HashMap<AccountId, (i64, Hash)>>,
    /// SQLite: the one connection every write after start-up goes through
    /// (transactions from [`Store::begin`], and the writes made holding
    /// [`Store::writer`]; migrations run on the readers' pool before anything else). Writers take
    /// turns anyway; one connection keeps its page cache across them, where a pool
    /// hands each turn a connection whose cache another's commit made stale.
    pub(crate) sqlite_writes: Option<SqlitePool>,
    /// SQLite: told after every commit; wakes the background checkpointer.
    pub(crate) sqlite_committed: Arc<Notify>,
}

impl Shared {
    fn is_sqlite(&self) -> bool {
        self.sqlite_writes.is_some()
    }

    pub(crate) fn cached_head(&self, account: AccountId) -> Option<(i64, Hash)> {
        if !self.is_sqlite() {
            return None;
        }
        let heads = self.sqlite_heads.lock().unwrap_or_else(|p| p.into_inner());
        heads.get(&account).cloned()
    }

    fn remember_heads(&self, heads: &[crate::events::record::HeadUpdate]) {
        if !self.is_sqlite() {
            return;
        }
        let mut cache = self.sqlite_heads.lock().unwrap_or_else(|p| p.into_inner());
        for h in heads {
            cache.insert(h.account, (h.sequence, h.hash));
        }
    }

    pub(crate) fn forget_heads(&self, accounts: impl Iterator<Item = AccountId>) {
        let mut cache = self.sqlite_heads.lock().unwrap_or_else(|p| p.into_inner());
        for a in accounts {
            cache.remove(&a);
        }
    }

    fn new(sqlite_writes: Option<SqlitePool>) -> Arc<Self> {
        Arc::new(Shared {
            sqlite_writes,
            sqlite_heads: std::sync::Mutex::new(HashMap::new()),
            inboxes: RwLock::new(crate::inbox::builtin()),
            committed: broadcast::channel(COMMITTED_CAPACITY).0,
            jobs_ready: Notify::new(),
            sqlite_writer: Arc::new(tokio::sync::Mutex::new(())),
            sqlite_committed: Arc::new(Notify::new()),
        })
    }
}

/// Bytes of write-ahead log SQLite keeps on disk after a checkpoint reset it.
const JOURNAL_SIZE_LIMIT: u64 = 64 * 1024 * 1024;
/// How long the checkpointer lets commits gather before it copies them into the
/// database: one checkpoint (and its `fsync`s) per burst, not one per commit.
const CHECKPOINT_DELAY: Duration = Duration::from_millis(100);

/// SQLite, WAL mode: copies committed pages from the log into the database file.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses its threshold, so
/// one writer in a thousand pays for writing back everyone's pages and two `fsync`s.
/// Here automatic checkpoints are off and this task does the work on its own
/// connection, shortly after commits, while writers go on appending (a PASSIVE
/// checkpoint never blocks them). Durability is still that of `synchronous = NORMAL`:
/// a commit survives a crash of the process at once, and a power cut once the log is
/// synced — which a checkpoint with pages to copy does, typically within this delay
/// (a reader holding an old snapshot can hold it back).
///
/// Ends when the store is dropped or its pool closed; a process that exits without it
/// loses nothing (the log is replayed, or checkpointed by the last connection closed).
async fn checkpoint_in_background(pool: SqlitePool, committed: Arc<Notify>, owner: Weak<Shared>) {
    loop {
        // A commit, or a second's pause (which also notices that the store is gone).
        let woke = tokio::time::timeout(Duration::from_secs(1), committed.notified()).await;
        if owner.strong_count() == 0 || pool.is_closed() {
            return;
        }
        if woke.is_ok() {
            tokio::time::sleep(CHECKPOINT_DELAY).await;
        }
        // Also once a second without a commit: writes that bypass `Tx` (the queue's
        // claims and acknowledgements) are checkpointed too.
        let done: std::result::Result<(i64, i64, i64), sqlx::Error> =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&pool)
                .await;
        if let Err(e) = done {
            if !pool.is_closed() {
                tracing::warn!(error = %e, "SQLite checkpoint failed; the next one retries");
            }
        }
    }
}

/// PostgreSQL's time limits unless the database URL sets its own (e.g.
/// `?options=-c%20statement_timeout%3D5s`): no statement runs longer than this …
pub const DEFAULT_STATEMENT_TIMEOUT: &str = "30s";
/// … and no transaction sits idle longer than this, so a stuck request cannot hold a
/// team's chain-head lock (and with it every recording for that team) indefinitely.
pub const DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT: &str = "60s";

/// Connection options for `url`, with the default time limits the URL does not set.
fn postgres_options(url: &str) -> Result<sqlx::postgres::PgConnectOptions> {
    let mut options = sqlx::postgres::PgConnectOptions::from_str(url)
        .map_err(|e| Error::Config(format!("bad PostgreSQL URL: {e}")))?;
    for (setting, default) in [
        ("statement_timeout", DEFAULT_STATEMENT_TIMEOUT),
        (
            "idle_in_transaction_session_timeout",
            DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT,
        ),
    ] {
        if !url.contains(setting) {
            options = options.options([(setting, default)]);
        }
    }
    Ok(options)
}

/// What the database reports about itself, for `/healthz`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoreStatus {
    pub engine: Engine,
    /// The newest applied migration, or `None` on an unmigrated database.
    pub migration_version: Option<i64>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Store {
    /// Opens the database at `url`: `sqlite://path/to/file` (created if missing) or
    /// `postgres://…`. Does not migrate; call [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Store> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = postgres_options(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            return Ok(Store {
                pool: Pool::Postgres(pool),
                shared: Shared::new(None),
            });
        }
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| Error::Config(format!("bad SQLite URL {url:?}: {e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // WAL + NORMAL: durable across application crashes; a power cut can lose
                // the last transactions but never corrupts the file.
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // Checkpoints run in the background (see `checkpoint_in_background`),
                // not inside whichever commit happens to cross the threshold.
                .pragma("wal_autocheckpoint", "0")
                // A log that grew during a burst is cut back once checkpointed.
                .pragma("journal_size_limit", JOURNAL_SIZE_LIMIT.to_string());
            if let Some(dir) = options.get_filename().parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        Error::Config(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
            }
            let writes = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(WRITER_WAIT)
                .connect_with(options.clone())
                .await?;
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            let shared = Shared::new(Some(writes));
            tokio::spawn(checkpoint_in_background(
                pool.clone(),
                shared.sqlite_committed.clone(),
                Arc::downgrade(&shared),
            ));
            return Ok(Store {
                pool: Pool::Sqlite(pool),
                shared,
            });
        }
        Err(Error::Config(format!(
            "unsupported database URL {url:?}: use sqlite://FILE or postgres://…"
        )))
    }

    /// Opens and migrates in one step: what the server does at start-up.
    pub async fn open(url: &str) -> Result<Store> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub fn engine(&self) -> Engine {
        match self.pool {
            Pool::Sqlite(_) => Engine::Sqlite,
            Pool::Postgres(_) => Engine::Postgres,
        }
    }

    /// Opens `url` after migrating through `owner_url`: the set-up in which the serving
    /// login does not own the tables (see `migrations/postgres/0009_database_roles.sql`).
    /// The serving store then only checks that the migrations are current.
    pub async fn open_migrated_by(url: &str, owner_url: &str) -> Result<Store> {
        let owner = Store::open(owner_url).await?;
        owner.close().await;
        Store::open(url).await
    }

    /// Applies the embedded migrations of this engine that are not applied yet. A
    /// database whose applied migrations are exactly this binary's is left alone, so a
    /// serving login that may not create or alter tables starts on a database its owner
    /// has migrated; one that is behind or differs is migrated (and a login without the
    /// rights to do so gets an error saying how to apply them).
    pub async fn migrate(&self) -> Result<()> {
        if self.migrations_current().await? {
            return Ok(());
        }
        match &self.pool {
            Pool::Sqlite(p) => SQLITE_MIGRATIONS.run(p).await?,
            Pool::Postgres(p) => {
                // A migration of a large table may rightly take longer than any request
                // statement: no time limits on the connection that runs them.
                let mut conn = p.acquire().await?;
                sqlx::raw_sql(
                    "SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0",
                )
                .execute(&mut *conn)
                .await?;
                let migrated = POSTGRES_MIGRATIONS
                    .run(&mut *conn)
                    .await
                    .map_err(|e| match &e {
                        sqlx::migrate::MigrateError::Execute(sqlx::Error::Database(d))
                            if d.code().as_deref() == Some("42501") =>
                        {
                            Error::Config(format!(
                                "this login may not migrate the database ({d}): apply the \
                                 migrations as the tables' owner (`chronicle migrate` with \
                                 CHRONICLE_MIGRATE_DATABASE_URL)"
                            ))
                        }
                        _ => Error::from(e),
                    });
                sqlx::raw_sql("RESET statement_timeout; RESET idle_in_transaction_session_timeout")
                    .execute(&mut *conn)
                    .await?;
                migrated?
            }
        }
        Ok(())
    }

    /// Whether the applied migrations are exactly those compiled into this binary (same
    /// versions, same checksums, all successful).
    async fn migrations_current(&self) -> Result<bool> {
        if self.status().await?.migration_version.is_none() {
            return Ok(false);
        }
        let applied: Vec<(i64, Vec<u8>, bool)> = on_pool!(self, |p| {
            sqlx::query_as(
                "SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version",
            )
            .fetch_all(p)
            .await?
        });
        let migrator = match self.engine() {
            Engine::Sqlite => &SQLITE_MIGRATIONS,
            Engine::Postgres => &POSTGRES_MIGRATIONS,
        };
        let compiled: Vec<(i64, &[u8])> = migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| (m.version, m.checksum.as_ref()))
            .collect();
        Ok(applied.len() == compiled.len()
            && applied
                .iter()
                .zip(&compiled)
                .all(|((v, sum, ok), (cv, csum))| *ok && v == cv && sum.as_slice() == *csum))
    }

    /// The version of the newest migration compiled into this binary.
    pub fn latest_migration(&self) -> Option<i64> {
        let migrator = match self.engine() {
            Engine::Sqlite => &SQLITE_MIGRATIONS,
            Engine::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.iter().map(|m| m.version).max()
    }

    /// Engine and applied migration version; fails if the database is unreachable.
    pub async fn status(&self) -> Result<StoreStatus> {
        let applied: Option<i64> = on_pool!(self, |p| {
            let exists: bool =
                match self.engine() {
                    Engine::Sqlite => sqlx::query_scalar(
                        "SELECT count(*) > 0 FROM sqlite_master WHERE name = '_sqlx_migrations'",
                    )
                    .fetch_one(p)
                    .await?,
                    Engine::Postgres => {
                        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                            .fetch_one(p)
                            .await?
                    }
                };
            if exists {
                sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                    .fetch_one(p)
                    .await?
            } else {
                None
            }
        });
        Ok(StoreStatus {
            engine: self.engine(),
            migration_version: applied,
        })
    }

    /// Begins a read-write transaction.
    ///
    /// On SQLite it is `BEGIN IMMEDIATE`: the write lock is taken up front, so two
    /// writers queue on the busy timeout instead of one failing when it upgrades a read
    /// lock. On PostgreSQL it is an ordinary `BEGIN` (READ COMMITTED).
    ///
    /// It may touch any account: use it for work that spans accounts on purpose
    /// (sign-in, queue bookkeeping, maintenance). One account's work uses
    /// [`Store::begin_for`].
    pub async fn begin(&self) -> Result<Tx> {
        self.begin_scoped(None).await
    }

    /// Begins a read-write transaction that can see and write only `account`'s rows.
    ///
    /// On PostgreSQL it runs as the `chronicle_tenant` role with `chronicle.account_id`
    /// set for the transaction, and row-level security on every tenant table refuses
    /// anything else: a query that forgets its account filter finds nothing foreign, and
    /// a write into another account fails. (SQLite has no row-level security: there the
    /// account argument of every engine function is the one lock.)
    pub async fn begin_for(&self, account: AccountId) -> Result<Tx> {
        self.begin_scoped(Some(account)).await
    }

    /// Begins a read-only view of one account's rows, consistent across statements
    /// (a deferred transaction on SQLite: it takes no write turn).
    pub async fn read_for(&self, account: AccountId) -> Result<Tx> {
        let inner = match &self.pool {
            Pool::Sqlite(p) => TxInner::Sqlite(p.begin().await?),
            Pool::Postgres(p) => TxInner::Postgres(p.begin_with(tenant_begin_sql(account)).await?),
        };
        Ok(Tx {
            inner,
            _writer: None,
            store: self.clone(),
            heads: HashMap::new(),
            pending: Pending::default(),
            carried: HashMap::new(),
            enqueued_jobs: false,
        })
    }

    async fn begin_scoped(&self, account: Option<AccountId>) -> Result<Tx> {
        let writer = self.writer().await?;
        let inner = match (&self.pool, account) {
            (Pool::Sqlite(reads), _) => {
                let p = self.shared.sqlite_writes.as_ref().unwrap_or(reads);
                TxInner::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?)
            }
            (Pool::Postgres(p), None) => TxInner::Postgres(p.begin().await?),
            (Pool::Postgres(p), Some(a)) => {
                TxInner::Postgres(p.begin_with(tenant_begin_sql(a)).await?)
            }
        };
        Ok(Tx {
            inner,
            _writer: writer,
            store: self.clone(),
            heads: HashMap::new(),
            pending: Pending::default(),
            carried: HashMap::new(),
            enqueued_jobs: false,
        })
    }

    /// On SQLite, waits for this process's turn to write (see `Shared::sqlite_writer`);
    /// hold the guard for the duration of a write outside a [`Tx`].
    ///
    /// The wait is bounded: a writer stuck for [`WRITER_WAIT`] is a fault somewhere
    /// else, and the caller gets a clear "busy" error instead of hanging with it.
    pub(crate) async fn writer(&self) -> Result<Option<tokio::sync::OwnedMutexGuard<()>>> {
        match self.pool {
            Pool::Sqlite(_) => {
                let turn = self.shared.sqlite_writer.clone().lock_owned();
                match tokio::time::timeout(WRITER_WAIT, turn).await {
                    Ok(guard) => Ok(Some(guard)),
                    Err(_) => {
                        tracing::error!("waited {WRITER_WAIT:?} for the SQLite writer");
                        Err(Error::Busy)
                    }
                }
            }
            Pool::Postgres(_) => Ok(None),
        }
    }

    /// Adds an inbox: every event it accepts from now on gets a job for it.
    pub fn register_inbox(&self, inbox: Arc<dyn Inbox>) {
        let mut inboxes = self
            .shared
            .inboxes
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        inboxes.retain(|i| i.name() != inbox.name());
        inboxes.push(inbox);
    }

    pub(crate) fn inboxes(&self) -> Vec<Arc<dyn Inbox>> {
        self.shared
            .inboxes
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Runs `f` over the registered inboxes without copying the list (every recorded
    /// event asks which inboxes accept it).
    pub(crate) fn with_inboxes<R>(&self, f: impl FnOnce(&[Arc<dyn Inbox>]) -> R) -> R {
        let inboxes = self
            .shared
            .inboxes
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&inboxes)
    }

    pub(crate) fn inbox(&self, name: &str) -> Option<Arc<dyn Inbox>> {
        self.inboxes().into_iter().find(|i| i.name() == name)
    }

    /// Commits of recorded events in this process, as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<Committed> {
        self.shared.committed.subscribe()
    }

    /// On PostgreSQL, relays every node's commits into this process's
    /// [`Store::subscribe`] channel: `NOTIFY chronicle_events` carries `account:sequence`
    /// from the committing node, followed by the commit's activity items when they fit
    /// ([`commit_notice`]), so a live stream here sees events recorded anywhere.
    /// (On SQLite there is one node and commits are announced in-process.) Runs until
    /// the returned task is aborted.
    ///
    /// Notifications sent while the `LISTEN` connection is down are lost, so after a
    /// reconnect (once listening again) it announces every team's current head, without
    /// activity: each subscriber reads what it missed from the database, from its own
    /// position, and one that missed nothing does nothing.
    pub fn relay_cluster_commits(&self) -> Option<tokio::task::JoinHandle<()>> {
        let Pool::Postgres(pool) = &self.pool else {
            return None;
        };
        let pool = pool.clone();
        let shared = self.shared.clone();
        let store = self.clone();
        Some(tokio::spawn(async move {
            let mut reconnecting = false;
            let mut listened_before = false;
            loop {
                if reconnecting {
                    // A restarting server is not asked again at once.
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                }
                reconnecting = true;
                let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN chronicle_events failed; retrying");
                        continue;
                    }
                };
                if let Err(e) = listener.listen("chronicle_events").await {
                    tracing::warn!(error = %e, "LISTEN chronicle_events failed; retrying");
                    continue;
                }
                // Only after a lost connection: at the first start nothing was missed
                // (streams begin from the database), so start-up reads no heads.
                if listened_before {
                    // In a task of its own: it may wait for slow subscribers, and new
                    // notifications must not wait behind it.
                    let store = store.clone();
                    tokio::spawn(async move {
                        if let Err(e) = store.announce_all_heads().await {
                            tracing::warn!(error = %e, "could not announce chain heads after reconnecting");
                        }
                    });
                }
                listened_before = true;
                // `try_recv` says when the connection is lost (`recv` would reconnect
                // silently, hiding the gap).
                while let Ok(Some(n)) = listener.try_recv().await {
                    if let Some(c) = parse_commit(n.payload()) {
                        let _ = shared.committed.send(c);
                    }
                }
                tracing::warn!("LISTEN chronicle_events connection lost; reconnecting");
            }
        }))
    }

    /// Announces every team's chain head as a commit without activity (see
    /// [`Store::relay_cluster_commits`]). A round of heads is sent only once the channel
    /// has room for it: with more teams than the channel holds, sending them all at once
    /// would make subscribers lag and lose some heads — the very notices this is for.
    /// A subscriber that takes nothing for [`HEADS_ROUND_WAIT`] is not waited for longer.
    async fn announce_all_heads(&self) -> Result<()> {
        let heads: Vec<(AccountId, i64)> = on_pool!(self, |p| sqlx::query_as(
            "SELECT account_id, last_sequence FROM event_chains"
        )
        .fetch_all(p)
        .await?);
        let channel = &self.shared.committed;
        for round in heads.chunks(HEADS_PER_ROUND) {
            let waited = tokio::time::Instant::now();
            while channel.len() + round.len() > COMMITTED_CAPACITY
                && waited.elapsed() < HEADS_ROUND_WAIT
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            for &(account, last_sequence) in round {
                // No receiver is fine: nobody is listening.
                let _ = channel.send(Committed {
                    account,
                    last_sequence,
                    activity: None,
                });
            }
        }
        Ok(())
    }

    /// Announces where `accounts`' chains stand now, as their commit would have: for a
    /// commit on SQLite whose caller stopped waiting for it (it may have landed). The
    /// write turn taken here comes after that commit's, on the same connection.
    async fn announce_heads(&self, accounts: &[AccountId]) -> Result<()> {
        let mut tx = self.begin().await?;
        let mut heads = Vec::new();
        for &account in accounts {
            let last: Option<i64> = on_tx!(tx, |c| sqlx::query_scalar(
                "SELECT last_sequence FROM event_chains WHERE account_id = $1"
            )
            .bind(account)
            .fetch_optional(c)
            .await?);
            if let Some(last_sequence) = last {
                heads.push(Committed {
                    activity: None,
                    account,
                    last_sequence,
                });
            }
        }
        tx.rollback().await?;
        for head in heads {
            // No receiver is fine: nobody is listening.
            let _ = self.shared.committed.send(head);
        }
        // Its jobs, if it landed, are ready.
        self.shared.jobs_ready.notify_waiters();
        Ok(())
    }

    /// Closes every connection; pending work finishes first.
    pub async fn close(&self) {
        if let Some(writes) = &self.shared.sqlite_writes {
            writes.close().await;
        }
        on_pool!(self, |p| p.close().await)
    }
}

/// Forgets the remembered chain heads of `accounts` when dropped, unless
/// [`DistrustHeads::settled`]: a commit that failed or was cancelled part-way may or may
/// not have advanced them, so the next writer reads them from the database. On SQLite it
/// also announces where those chains stand now (see [`Store::announce_heads`]).
struct DistrustHeads {
    store: Store,
    accounts: Vec<AccountId>,
}

impl DistrustHeads {
    fn settled(mut self) {
        self.accounts.clear();
    }
}

impl Drop for DistrustHeads {
    fn drop(&mut self) {
        if self.accounts.is_empty() {
            return;
        }
        let accounts: Vec<AccountId> = self.accounts.drain(..).collect();
        self.store.shared.forget_heads(accounts.iter().copied());
        // A COMMIT that reached SQLite before its caller stopped waiting is announced by
        // nobody else (PostgreSQL's NOTIFY goes out with the commit itself).
        if self.store.shared.is_sqlite() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let store = self.store.clone();
                runtime.spawn(async move {
                    if let Err(e) = store.announce_heads(&accounts).await {
                        tracing::warn!(error = %e, "could not announce chain heads");
                    }
                });
            }
        }
    }
}

pub(crate) enum TxInner {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// A database transaction on either engine. Dropped without [`Tx::commit`], it rolls
/// back, so an error anywhere in a business change leaves nothing half-written.
///
/// It also carries what recording needs until commit: the head of each account chain
/// it appended to (taken under the per-account lock on first use, written back once at
/// commit) and whether it enqueued jobs (to wake the workers after commit).
pub struct Tx {
    pub(crate) inner: TxInner,
    /// SQLite: this process's write turn, released when the transaction ends.
    _writer: Option<tokio::sync::OwnedMutexGuard<()>>,
    pub(crate) store: Store,
    pub(crate) heads: HashMap<AccountId, ChainHead>,
    pub(crate) pending: Pending,
    /// Per team, the activity recorded so far, to announce with the commit.
    pub(crate) carried: HashMap<AccountId, crate::events::record::Carry>,
    pub(crate) enqueued_jobs: bool,
}

impl Tx {
    pub async fn commit(mut self) -> Result<()> {
        // Rows, chain heads and notifications go in one statement before COMMIT.
        let heads = crate::events::record::dirty_heads(&mut self);
        let finale = crate::events::record::Finale {
            heads: &heads,
            // Delivered by PostgreSQL at commit, to every node's LISTENing worker.
            notify_jobs: self.enqueued_jobs && self.engine() == Engine::Postgres,
        };
        let shared = self.store.shared.clone();
        // From here until the new heads are remembered, the remembered heads of these
        // accounts are not to be trusted: on failure, or when the caller stops polling
        // (a request whose client went away) after COMMIT reached the database.
        let distrust = DistrustHeads {
            store: self.store.clone(),
            accounts: self.heads.keys().copied().collect(),
        };
        crate::events::record::flush_final(&mut self, &finale).await?;
        self.heads.clear();
        match self.inner {
            TxInner::Sqlite(t) => t.commit().await?,
            TxInner::Postgres(t) => t.commit().await?,
        }
        shared.remember_heads(&heads);
        distrust.settled();
        if shared.is_sqlite() {
            shared.sqlite_committed.notify_one();
        }
        for head in &heads {
            // No receiver is fine: nobody is listening.
            let _ = self.store.shared.committed.send(head.committed());
        }
        if self.enqueued_jobs {
            self.store.shared.jobs_ready.notify_waiters();
        }
        Ok(())
    }

    /// Takes the chain-head locks of every team this transaction will record for, in
    /// the one order all transactions use (by account id), so that two transactions
    /// recording for the same teams can never wait on each other. Needed only when a
    /// transaction records for more than one team.
    pub async fn lock_chains(&mut self, accounts: &[AccountId]) -> Result<()> {
        let mut ordered = accounts.to_vec();
        ordered.sort_by_key(|a| a.0);
        ordered.dedup();
        for account in ordered {
            crate::events::record::lock_head(self, account).await?;
        }
        Ok(())
    }

    /// Writes what `record()` buffered so far (see `events::record::Pending`).
    pub(crate) async fn flush(&mut self) -> Result<()> {
        crate::events::record::flush_pending(self).await
    }

    /// The store this transaction belongs to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub async fn rollback(self) -> Result<()> {
        match self.inner {
            TxInner::Sqlite(t) => t.rollback().await?,
            TxInner::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }

    pub fn engine(&self) -> Engine {
        match self.inner {
            TxInner::Sqlite(_) => Engine::Sqlite,
            TxInner::Postgres(_) => Engine::Postgres,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::ActivityItem;

    fn notice_with(description: &str, items: usize) -> Committed {
        let account = AccountId(uuid::Uuid::now_v7());
        let item = |sequence: i64| ActivityItem {
            sequence,
            event_id: uuid::Uuid::now_v7(),
            event_type: "card.moved".into(),
            actor_id: Some(uuid::Uuid::now_v7()),
            actor_name: "Ana: \"the\" boss".into(),
            description: description.into(),
            icon: "arrow-right".into(),
            subject_kind: "card".into(),
            subject_id: uuid::Uuid::now_v7(),
            scope: Default::default(),
            batch_id: None,
            created_at: crate::accounts::truncate_to_micros(time::OffsetDateTime::now_utc()),
        };
        Committed {
            account,
            last_sequence: 40 + items as i64,
            activity: Some(Arc::new(CommitActivity {
                after: 40,
                items: (41..=40 + items as i64).map(item).collect(),
            })),
        }
    }

    #[test]
    fn postgres_connections_get_time_limits_unless_the_url_sets_its_own() {
        let plain = postgres_options("postgres://app@127.0.0.1/db").expect("options");
        let sent = plain.get_options().unwrap_or_default();
        assert!(sent.contains("statement_timeout=30s"), "{sent}");
        assert!(
            sent.contains("idle_in_transaction_session_timeout=60s"),
            "{sent}"
        );
        let own =
            postgres_options("postgres://app@127.0.0.1/db?options=-c%20statement_timeout%3D5s")
                .expect("options");
        let sent = own.get_options().unwrap_or_default();
        assert!(sent.contains("statement_timeout=5s"), "{sent}");
        assert!(!sent.contains("statement_timeout=30s"), "{sent}");
        assert!(
            sent.contains("idle_in_transaction_session_timeout=60s"),
            "{sent}"
        );
    }

    #[test]
    fn a_commit_notice_carries_its_activity_when_it_fits() {
        let small = notice_with("Ana moved Fix: login from To do to Doing", 3);
        let payload = commit_notice(&small);
        assert!(payload.len() <= NOTICE_MAX);
        assert_eq!(parse_commit(&payload), Some(small.clone()));

        // Too long for NOTIFY: where the commit ends, and nothing else.
        let large = notice_with(&"é".repeat(300), crate::activity::CARRIED_ITEMS);
        let payload = commit_notice(&large);
        assert_eq!(
            payload,
            format!("{}:{}", large.account.0, large.last_sequence)
        );
        let heard = parse_commit(&payload).expect("plain notice");
        assert_eq!(
            (heard.account, heard.last_sequence, heard.activity),
            (large.account, large.last_sequence, None)
        );

        // Activity that does not fit the commit is not believed; the notice still counts.
        let mut wrong = small.clone();
        wrong.last_sequence = 42;
        let heard = parse_commit(&commit_notice(&wrong)).expect("notice");
        assert_eq!((heard.last_sequence, heard.activity), (42, None));
        assert_eq!(parse_commit("not-a-uuid:3"), None);
    }
}
