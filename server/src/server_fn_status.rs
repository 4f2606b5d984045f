//! Gives every failed server function the HTTP status its error deserves.
//!
//! Leptos answers every server-function error with 500, including arguments that could
//! not be parsed, which are the caller's fault. This middleware reads the error body (an
//! [`AppError`] as JSON) and sets the status from its kind, in one place, so a bad
//! request is a 4xx whether the engine refused it or the arguments never parsed.

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use chronicle_app::error::AppError;

/// Server-function errors are small JSON documents; anything bigger is left alone.
const MAX_ERROR_BODY: usize = 64 * 1024;

pub async fn set_status(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    if !res.headers().contains_key("serverfnerror") {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_ERROR_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => return Response::from_parts(parts, Body::empty()),
    };
    if let Ok(err) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status = err.status();
        if parts.status.is_server_error() {
            tracing::warn!(error = %err, "server function failed");
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}
