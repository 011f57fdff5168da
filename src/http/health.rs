use super::admission::Admission;
use super::metrics::Metrics;
use super::AppState;
use crate::index::StationIndex;
use crate::sync::{FeedState, SyncStatus};
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

/// Liveness: the service answers, how many stations it indexes, and how closely it follows
/// other replicas (`sync.feed`: `following`, `connecting` or `none` for a one-process store;
/// `sync.last_resync_age_s`: seconds since the store was last read for changes).
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "OK", body = Object)))]
pub async fn health(
    State(index): State<Arc<StationIndex>>,
    State(sync): State<Arc<SyncStatus>>,
) -> Json<Value> {
    let snap = index.load();
    // Still 200 when the store is unreachable: the index keeps answering nearest queries, and
    // a load balancer must not take every replica out at once for it. The age says how stale.
    Json(json!({
        "status": "ok",
        "stations": snap.len(),
        "generation": snap.generation(),
        "sync": {
            "feed": sync.feed().as_str(),
            "last_resync_age_s": sync.seconds_since_resync(),
        },
    }))
}

/// Request counts and latencies per route in Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text", content_type = "text/plain")))]
pub async fn prometheus_metrics(
    State(metrics): State<Arc<Metrics>>,
    State(admission): State<Arc<Admission>>,
    State(index): State<Arc<StationIndex>>,
    State(sync): State<Arc<SyncStatus>>,
) -> impl IntoResponse {
    let mut out = metrics.render();
    out.push_str(&admission.render());
    out.push_str(
        "# HELP yizhan_stations Active stations in the index.\n# TYPE yizhan_stations gauge\n",
    );
    out.push_str(&format!("yizhan_stations {}\n", index.load().len()));
    out.push_str(
        "# HELP yizhan_sync_resync_age_seconds Seconds since the store was last read for \
         changes other replicas made.\n# TYPE yizhan_sync_resync_age_seconds gauge\n",
    );
    out.push_str(&format!(
        "yizhan_sync_resync_age_seconds {}\n",
        sync.seconds_since_resync()
    ));
    if sync.feed() != FeedState::None {
        out.push_str(
            "# HELP yizhan_sync_feed_up Whether change notifications from other replicas \
             arrive (1) or the feed is being (re)subscribed (0).\n\
             # TYPE yizhan_sync_feed_up gauge\n",
        );
        let up = u8::from(sync.feed() == FeedState::Following);
        out.push_str(&format!("yizhan_sync_feed_up {up}\n"));
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
