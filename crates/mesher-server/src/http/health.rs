//! Liveness, readiness and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use super::READY_TIMEOUT;
use crate::services::ServiceState;
use crate::state::AppState;

/// `GET /healthz`: the process is alive and serving HTTP.
pub(super) async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the node can do its work: the database answers.
pub(super) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = match tokio::time::timeout(READY_TIMEOUT, state.store().ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {READY_TIMEOUT:?}")),
    };
    let services = state.supervisor().statuses();
    let services_ok = services.iter().all(|s| s.state == ServiceState::Running);
    let ready = database.is_ok() && services_ok;
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": {
            "database": match &database {
                Ok(()) => json!({"status": "ok", "backend": state.store().backend()}),
                Err(e) => json!({"status": "failing", "backend": state.store().backend(), "error": e}),
            },
            "services": services,
        },
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// `GET /metrics`: Prometheus text format.
pub(super) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let in_use = state.body_budget().in_use();
    state
        .metrics()
        .inflight_body_bytes
        .set(i64::try_from(in_use).unwrap_or(i64::MAX));
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics().render(),
    )
}
