//! The engine's one error type. Callers map it to a status and a message; the variants
//! say what went wrong in terms a person can act on, and keep internal detail (SQL,
//! driver errors) out of what is shown.

/// The result of every fallible engine function.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input failed validation; `field` names the offending input.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },

    /// The thing asked for does not exist (or belongs to another account, which the
    /// caller must not be able to tell apart).
    #[error("{0} not found")]
    NotFound(&'static str),

    /// Nobody is signed in, or the session has expired or was signed out.
    #[error("please sign in")]
    Unauthenticated,

    /// The signed-in person may not do this (their role is too low); the message says
    /// what they would need.
    #[error("{0}")]
    Forbidden(String),

    /// Too many requests of this kind; the message says when to try again.
    #[error("{0}")]
    RateLimited(String),

    /// The database is too busy to take this write now; trying again later may work.
    #[error("the database is busy; please try again")]
    Busy,

    /// Work ran past its time limit and was stopped.
    #[error("{0}")]
    TimedOut(String),

    /// The change conflicts with existing data (a taken name, a stale version).
    #[error("{0}")]
    Conflict(String),

    /// Chronicle's own code broke one of the engine's rules (e.g. recording for several
    /// teams without locking their chains in order): a bug, answered as 500, never a
    /// fault of the request.
    #[error("internal error: {0}")]
    Bug(String),

    /// The database URL or other configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),

    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),

    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for Error {
    /// A statement PostgreSQL stopped at its time limit, a transaction it ended for
    /// sitting idle, a lock wait it gave up or a deadlock it broke is the database
    /// being busy — worth a retry — not a fault to report as one.
    fn from(e: sqlx::Error) -> Self {
        const BUSY: [&str; 4] = [
            "57014", // query_canceled (statement_timeout)
            "25P03", // idle_in_transaction_session_timeout
            "55P03", // lock_not_available
            "40P01", // deadlock_detected
        ];
        match &e {
            sqlx::Error::Database(d) if d.code().is_some_and(|c| BUSY.contains(&c.as_ref())) => {
                tracing::warn!(error = %e, "the database gave up on a statement");
                Error::Busy
            }
            _ => Error::Database(e),
        }
    }
}

impl Error {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            message: message.into(),
        }
    }
}
