//! The error type every server function returns, and its mapping from engine errors.
//!
//! A person sees the message; the HTTP status says whose fault it was. Internal detail
//! (SQL, driver messages) is logged on the server and never sent to the browser.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AppError {
    /// The input is invalid; `field` names the form field when there is one.
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
    },
    /// Nobody is signed in (or the session expired).
    #[error("{message}")]
    Unauthenticated { message: String },
    /// Signed in, but not allowed (a role too low, a cross-site request).
    #[error("{message}")]
    Forbidden { message: String },
    /// Missing — or belonging to a team the person is not in, which looks the same.
    #[error("{message}")]
    NotFound { message: String },
    #[error("{message}")]
    Conflict { message: String },
    #[error("{message}")]
    RateLimited { message: String },
    /// The server is too busy right now; trying again may work.
    #[error("{message}")]
    Busy { message: String },
    /// Something failed on our side; the detail is in the server log.
    #[error("something went wrong on our side; please try again")]
    Internal,
    /// The request never reached the function or its answer was unreadable.
    #[error("could not reach the server: {message}")]
    Transport { message: String },
}

impl AppError {
    pub fn not_found(what: &str) -> Self {
        AppError::NotFound {
            message: format!("{what} not found"),
        }
    }

    pub fn unauthenticated() -> Self {
        AppError::Unauthenticated {
            message: "please sign in".to_owned(),
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(msg)
            | ServerFnErrorErr::Deserialization(msg)
            | ServerFnErrorErr::MissingArg(msg) => AppError::Invalid {
                field: None,
                message: format!("malformed request: {msg}"),
            },
            other => AppError::Transport {
                message: other.to_string(),
            },
        }
    }
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::AppError;
    use http::StatusCode;

    impl AppError {
        /// The HTTP status this error is answered with (set by the server's
        /// middleware, which sees every server function's error).
        pub fn status(&self) -> StatusCode {
            match self {
                AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                AppError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
                AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
                AppError::NotFound { .. } => StatusCode::NOT_FOUND,
                AppError::Conflict { .. } => StatusCode::CONFLICT,
                AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                AppError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
                AppError::Internal | AppError::Transport { .. } => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            }
        }
    }

    impl From<chronicle::Error> for AppError {
        fn from(err: chronicle::Error) -> Self {
            use chronicle::Error as E;
            match err {
                E::Invalid { field, message } => AppError::Invalid {
                    field: Some(field.to_owned()),
                    message,
                },
                E::NotFound(what) => AppError::not_found(what),
                E::Unauthenticated => AppError::unauthenticated(),
                E::Forbidden(message) => AppError::Forbidden { message },
                E::Conflict(message) => AppError::Conflict { message },
                E::RateLimited(message) => AppError::RateLimited { message },
                E::Busy => AppError::Busy {
                    message: E::Busy.to_string(),
                },
                other => {
                    tracing::error!(error = %other, "server function failed");
                    AppError::Internal
                }
            }
        }
    }
}
