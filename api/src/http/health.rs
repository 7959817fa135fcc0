//! Operations endpoints: liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::{AppState, telemetry};

/// The process is up and serving (no database involved).
pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok")
}

/// The database answers and has every migration this binary expects.
/// Load balancers should route to an instance only while this is 200. It
/// answers within [`READY_WITHIN`] whatever the database does: while the
/// database is down the pool would otherwise wait its whole acquire
/// timeout for a connection.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match tokio::time::timeout(READY_WITHIN, ready(&state)).await {
        Ok(answer) => answer,
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database did not answer within {} ms", READY_WITHIN.as_millis()),
        ),
    }
}

const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// One read of the migration table answers both questions: whether the
/// database answers and whether its schema is current.
async fn ready(state: &AppState) -> (StatusCode, String) {
    match state.ledger.pending_migrations().await {
        Ok(0) => (StatusCode::OK, "ok".to_owned()),
        Ok(n) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{n} migration(s) not applied (run `tally migrate`)"),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: cannot read the migration table");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "database unreachable or migration state unknown".to_owned(),
            )
        }
    }
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    if let Some((open, idle)) = state.ledger.pool_connections() {
        let in_use = f64::from(open) - idle as f64;
        metrics::gauge!("tally_db_pool_connections", "state" => "in_use").set(in_use.max(0.0));
        metrics::gauge!("tally_db_pool_connections", "state" => "idle").set(idle as f64);
    }
    metrics::gauge!("tally_subscribed_accounts").set(state.ledger.watched_accounts() as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        telemetry::render(),
    )
}
