//! Whether this process's database login can rewrite the event log.
//!
//! On PostgreSQL the log is append-only for `chronicle_serving` and `chronicle_tenant`
//! (`migrations/postgres/0009_database_roles.sql`), but not for the tables' owner or a
//! superuser: they can disable the trigger that refuses changes, or alter the table. A
//! server that connects as one of those still works — the single-login development
//! set-up does — and says so at start, because then only `chronicle verify` (and its
//! anchors kept elsewhere) stands between the log and its own login.

use super::{Engine, Pool, Store};
use crate::error::Result;

/// What the connected login can do to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogProtection {
    /// The login can only add to the log and read it.
    AppendOnly,
    /// The login can change or remove what the log holds; `why` says how.
    Alterable { login: String, why: String },
    /// An SQLite file: whoever can write the file can change anything in it.
    FileOnly,
}

impl Store {
    /// What this store's login can do to the log (see [`LogProtection`]).
    pub async fn log_protection(&self) -> Result<LogProtection> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(LogProtection::FileOnly);
        };
        debug_assert_eq!(self.engine(), Engine::Postgres);
        let (login, superuser, owner, schema_owner, create_role, changes): (
            String,
            bool,
            bool,
            bool,
            bool,
            bool,
        ) = sqlx::query_as(
            "SELECT current_user::text, r.rolsuper, \
                    pg_has_role(current_user, c.relowner, 'MEMBER'), \
                    pg_has_role(current_user, n.nspowner, 'MEMBER'), \
                    r.rolcreaterole, \
                    has_table_privilege('public.events', 'UPDATE, DELETE, TRUNCATE') \
                    OR has_table_privilege('public.event_chains', 'DELETE, TRUNCATE') \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                  JOIN pg_roles r ON r.rolname = current_user \
             WHERE c.oid = 'public.events'::regclass",
        )
        .fetch_one(pool)
        .await?;
        let why = if superuser {
            "it is a superuser"
        } else if owner {
            "it owns the log's tables, so it can disable their triggers or alter them"
        } else if schema_owner {
            "it owns the schema that holds the log (as a database's owner does), so it \
             can drop the log's tables"
        } else if create_role {
            "it may create roles, and so grant itself the owner's"
        } else if changes {
            "it holds UPDATE, DELETE or TRUNCATE on the log"
        } else {
            return Ok(LogProtection::AppendOnly);
        };
        Ok(LogProtection::Alterable {
            login,
            why: why.to_owned(),
        })
    }
}
