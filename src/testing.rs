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
    /// The database URL, for a second connection or a second server process.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite() -> (Store, TestDb) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("chronicle.sqlite3").display());
    let store = Store::open(&url).await.expect("open SQLite store");
    (
        store,
        TestDb {
            url,
            _dir: Some(dir),
        },
    )
}

pub async fn postgres() -> (Store, TestDb) {
    let url = fresh_postgres_database().await;
    let store = Store::open(&url).await.expect("open PostgreSQL store");
    (store, TestDb { url, _dir: None })
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
    ($(async fn $name:ident($store:ident) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let ($store, _db) = $crate::testing::sqlite().await;
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
                    let ($store, _db) = $crate::testing::postgres().await;
                    $body
                }
            )*
        }
    };
}
