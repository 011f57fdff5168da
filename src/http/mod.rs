//! The HTTP API: one file per resource, a shared state passed with `FromRef`.

/// Requests in flight per lane (reads, writes, coverage), shed past their budget, and timed.
pub mod admission;
/// `POST /api/v1/auth/login|logout`, `GET /api/v1/auth/me`, and the `CurrentUser` extractor.
pub mod auth;
/// `GET /api/v1/client-config`: what the web app needs to know at start (basemap, GeoIP).
pub mod client_config;
/// `GET /api/v1/counties`: the county outlines the web app draws as its basemap.
pub mod counties;
/// `GET /api/v1/coverage…`, `POST /api/v1/coverage/what-if`: the 15-minute circle for planners.
pub mod coverage;
/// `PUT/GET /api/v1/demand`: demand data for planners (planner or admin only).
pub mod demand;
/// Content negotiation and compression at the best settings, for bodies served many times.
pub mod encoding;
/// Extractors whose rejections become our JSON errors, and the client address.
pub mod extract;
/// Security headers (CSP, nosniff, Referrer-Policy, framing, HSTS) on every response.
pub mod headers;
/// `GET /healthz`.
pub mod health;
/// `GET /api/v1/stations/{id}/history`: the audit trail of one station.
pub mod history;
/// `GET /api/v1/locate`: a position from the client's IP.
pub mod locate;
/// Request counts and latencies per route, and `GET /metrics`.
pub mod metrics;
/// Navigation hand-off links to Amap, Baidu and Tencent maps.
pub mod nav;
/// `/ogc…`: OGC API – Features (Part 1 Core, GeoJSON) for GIS tools such as QGIS and GDAL.
pub mod ogc;
/// The OpenAPI document's error bodies and closed vocabularies (enumerations).
pub mod openapi;
/// `GET /api/v1/regions…`: the administrative regions coverage is measured over.
pub mod regions;
/// `/api/v1/stations/{id}/reports…`, `/api/v1/reports`: rider problem reports (纠错).
pub mod reports;
/// `GET /api/v1/tiles/roads/{z}/{x}/{y}.mvt`: the loaded extract's streets as vector tiles.
pub mod road_tiles;
/// Refuses state-changing requests that ride on the session cookie from another site.
pub mod same_origin;
/// The web app's files (validators, cache policy) and gzip/brotli for every textual reply.
pub mod static_files;
/// `PATCH/POST/DELETE /api/v1/stations…`: audited, optimistic station changes.
pub mod station_edits;
/// `GET /api/v1/stations…`: nearest, in a box, one by id.
pub mod stations;
/// `GET /api/v1/tiles/{z}/{x}/{y}.mvt` and `/api/v1/tiles.json`: vector tiles of the stations.
pub mod tiles;

use crate::config::{Hsts, NearestEngine};
use crate::domain::TravelModel;
use crate::geoip::GeoIp;
use crate::index::StationIndex;
use crate::store::Store;
use auth::SecuritySchemes;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::Router;
use ipnet::IpNet;
use std::path::PathBuf;
use std::sync::Arc;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Settings handlers read.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Minutes from distances.
    pub travel: TravelModel,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Index or store (benchmark baseline) for nearest queries.
    pub nearest_engine: NearestEngine,
    /// When responses carry `Strict-Transport-Security`.
    pub hsts: Hsts,
    /// The raster basemap the web app draws, when one is configured.
    pub basemap: Option<Arc<crate::domain::Basemap>>,
    /// The `Content-Security-Policy` every response carries (with the basemap's tile hosts).
    pub content_security_policy: axum::http::HeaderValue,
}

/// Everything handlers share; each extracts only the part it needs.
#[derive(Clone, FromRef)]
pub struct AppState {
    /// The source of truth.
    pub store: Arc<dyn Store>,
    /// The in-memory index.
    pub index: Arc<StationIndex>,
    /// The GeoIP database, when configured.
    pub geoip: Option<Arc<GeoIp>>,
    /// Settings.
    pub config: Arc<ApiConfig>,
    /// Request metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// Budgets of requests in flight per lane, and their time budgets.
    pub admission: Arc<admission::Admission>,
    /// Session policy and login rate limits.
    pub auth: Arc<auth::AuthState>,
    /// Problem reports accepted per client address.
    pub report_limiter: Arc<reports::ReportLimiter>,
    /// Regions, demand and cached coverage results.
    pub coverage: Arc<crate::coverage::service::CoverageService>,
    /// Counts nearest-query origins per cell, when `--demand-from-queries` is on.
    pub query_counter: Option<Arc<crate::coverage::queries::QueryCounter>>,
    /// How closely the index follows other replicas' writes.
    pub sync: Arc<crate::sync::SyncStatus>,
    /// Vector tiles: the points zoom and the clusters of the latest snapshot.
    pub tiles: Arc<crate::tiles::TileService>,
    /// The road networks, when an OpenStreetMap extract is configured (`--osm`).
    pub roads: Option<Arc<crate::network::roads::Roads>>,
    /// The stations labelled on those networks, following the index (with `--osm`).
    pub network: Option<Arc<crate::network::stations::NetworkStations>>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "yizhan API",
        description = "Nearest open trade-union outdoor-worker stations (工会户外劳动者服务站). \
            Errors are `{\"error\":{\"code\",\"message\"}}` with a 4xx/5xx status."
    ),
    tags((name = "stations"), (name = "coverage"), (name = "locate"), (name = "auth"), (name = "ops")),
    components(schemas(openapi::ErrorReply, openapi::ErrorDetail)),
    modifiers(&SecuritySchemes)
)]
struct ApiDoc;

/// The API routes and the OpenAPI document generated from them (so the two cannot drift).
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(stations::router())
        .merge(station_edits::router())
        .merge(history::router())
        .merge(reports::router())
        .merge(auth::router())
        .merge(locate::router())
        .merge(client_config::router())
        .merge(counties::router())
        .merge(regions::router())
        .merge(coverage::router())
        .merge(demand::router())
        .merge(health::router())
        .merge(tiles::router())
        .merge(road_tiles::router())
        .merge(ogc::router())
        .split_for_parts();
    // After the merge: these edit what the routes documented.
    openapi::ErrorBodies.modify(&mut doc);
    reports::document_position_pairs(&mut doc);
    station_edits::document_location_pairs(&mut doc);
    (router, doc)
}

/// The whole application: API, OpenAPI document, metrics, and the web app as the fallback.
pub fn app(state: AppState, web_dir: PathBuf) -> Router {
    let (api, doc) = api();
    let doc = Arc::new(doc);
    // Seconds of CPU once (simplifying and compressing every level), not on the first request.
    std::thread::spawn(counties::warm);
    let metrics_state = state.metrics.clone();
    let admit = axum::middleware::from_fn_with_state(state.admission.clone(), admission::admit);
    let config = state.config.clone();
    // With a basemap the page's own `<meta>` policy must let its tile hosts in too.
    let api = match &config.basemap {
        Some(basemap) => client_config::serve_page_with_policy(api, &web_dir, basemap.origins()),
        None => api,
    };
    let web = static_files::web_app(web_dir);
    let app = api
        .route(
            "/api/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { axum::Json((*doc).clone()) }
            }),
        )
        .route("/api/{*rest}", axum::routing::any(no_such_route))
        // The catch-all needs a non-empty rest: without these `/api` and `/api/` fell through to
        // the web app's empty 404 instead of a JSON error.
        .route("/api", axum::routing::any(no_such_route))
        .route("/api/", axum::routing::any(no_such_route))
        // Admission innermost: cross-site refusals take no slot, and the metrics (outermost)
        // count refused requests under their route.
        .route_layer(admit.clone())
        .route_layer(axum::middleware::from_fn_with_state(
            state.config.clone(),
            same_origin::refuse_cross_site,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            metrics_state,
            metrics::track,
        ))
        .with_state(state)
        .fallback(axum::handler::Handler::layer(web, admit))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    let app = if config.trusted_proxies.is_empty() {
        app.layer(axum::middleware::from_fn_with_state(
            Arc::new(extract::UndeclaredProxyWatch::default()),
            extract::watch_for_undeclared_proxy,
        ))
    } else {
        app
    };
    // Compression outermost but for the ETag weakening: it sees every reply, API, errors and
    // files alike, after the security headers are set and after admission let it through.
    app.layer(axum::middleware::from_fn_with_state(
        config,
        headers::set_security_headers,
    ))
    .layer(static_files::compression())
    .layer(axum::middleware::from_fn(
        static_files::weaken_etag_when_encoded,
    ))
}

async fn no_such_route(uri: axum::http::Uri) -> crate::error::Error {
    crate::error::Error::NotFound(format!("no API route for {}", uri.path()))
}
