//! `GET /healthz`: is the server up, which database does it use, at which migration.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use crate::AppState;

#[derive(Serialize)]
pub struct Health {
    status: &'static str,
    version: &'static str,
    database: Option<chronicle::store::StoreStatus>,
    /// The newest migration this build carries; equals the applied one when healthy.
    expected_migration: Option<i64>,
    /// Live timeline streams this process holds open.
    live_streams: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let expected = state.store.latest_migration();
    match state.store.status().await {
        Ok(status) => {
            let current = status.migration_version == expected;
            let code = if current {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let health = Health {
                status: if current { "ok" } else { "migration pending" },
                version: env!("CARGO_PKG_VERSION"),
                database: Some(status),
                expected_migration: expected,
                live_streams: state.hub.open_streams(),
                error: None,
            };
            (code, Json(health))
        }
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            let health = Health {
                status: "database unreachable",
                version: env!("CARGO_PKG_VERSION"),
                database: None,
                expected_migration: expected,
                live_streams: state.hub.open_streams(),
                error: Some("the database did not answer".into()),
            };
            (StatusCode::SERVICE_UNAVAILABLE, Json(health))
        }
    }
}
