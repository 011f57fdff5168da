use super::admission::Admission;
use super::metrics::Metrics;
use super::AppState;
use crate::index::StationIndex;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Health and metrics routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(prometheus_metrics))
}

/// Liveness: the service answers and how many stations it indexes.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "OK", body = Object)))]
pub async fn health(State(index): State<Arc<StationIndex>>) -> Json<Value> {
    let snap = index.load();
    Json(json!({ "status": "ok", "stations": snap.len(), "generation": snap.generation() }))
}

/// Request counts and latencies per route in Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text", content_type = "text/plain")))]
pub async fn prometheus_metrics(
    State(metrics): State<Arc<Metrics>>,
    State(admission): State<Arc<Admission>>,
    State(index): State<Arc<StationIndex>>,
) -> impl IntoResponse {
    let mut out = metrics.render();
    out.push_str(&admission.render());
    out.push_str(
        "# HELP yizhan_stations Active stations in the index.\n# TYPE yizhan_stations gauge\n",
    );
    out.push_str(&format!("yizhan_stations {}\n", index.load().len()));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
