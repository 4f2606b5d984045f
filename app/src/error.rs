//! The error type every server function returns, and its mapping from engine errors.
//!
//! A person sees `message`; the HTTP status says whose fault it was. Internal detail
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
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Something failed on our side; the detail is in the server log.
    #[error("something went wrong on our side; please try again")]
    Internal,
    /// The request never reached the function or its answer was unreadable.
    #[error("could not reach the server: {0}")]
    Transport(String),
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
            other => AppError::Transport(other.to_string()),
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
                AppError::NotFound(_) => StatusCode::NOT_FOUND,
                AppError::Conflict(_) => StatusCode::CONFLICT,
                AppError::Internal | AppError::Transport(_) => StatusCode::INTERNAL_SERVER_ERROR,
            }
        }
    }

    impl From<chronicle::Error> for AppError {
        fn from(err: chronicle::Error) -> Self {
            match err {
                chronicle::Error::Invalid { field, message } => AppError::Invalid {
                    field: Some(field.to_owned()),
                    message,
                },
                chronicle::Error::NotFound(what) => AppError::NotFound(what.to_owned()),
                chronicle::Error::Conflict(msg) => AppError::Conflict(msg),
                other => {
                    tracing::error!(error = %other, "server function failed");
                    AppError::Internal
                }
            }
        }
    }
}
