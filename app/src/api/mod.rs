//! Server functions, one file per area. Each one is thin: it takes the store (and,
//! once sign-in exists, the signed-in member) from context, calls one engine function,
//! and maps the result into a view type.

pub mod accounts;

#[cfg(feature = "ssr")]
pub(crate) fn store() -> Result<chronicle::Store, crate::error::AppError> {
    leptos::prelude::use_context::<chronicle::Store>().ok_or_else(|| {
        tracing::error!("no Store in the server function context");
        crate::error::AppError::Internal
    })
}
