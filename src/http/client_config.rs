//! What the web app asks once at start: whether a GeoIP database is configured (so it never
//! calls `/locate` for a certain 400), the raster basemap if any, and the travel model (so a
//! rider offline can still be told minutes from saved stations). Also serves the page itself
//! when a basemap widens its `<meta>` content security policy.

use super::{ApiConfig, AppState};
use crate::domain::{Basemap, Mode};
use crate::geoip::GeoIp;
use crate::network::cache::Origin;
use crate::network::stations::NetworkStations;
use crate::tiles::TileService;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::{Json, Router};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The client-config route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(client_config))
}

/// Settings the web app starts with.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientConfig {
    /// True when `GET /api/v1/locate` can answer (a GeoIP database is configured); when false
    /// it always answers 400 and the page does not ask.
    pub geoip: bool,
    /// The raster basemap to draw under the stations; null when none is configured (the page
    /// then fetches nothing from another host).
    pub basemap: Option<BasemapConfig>,
    /// The straight-line travel model minutes are computed with.
    pub travel: TravelConfig,
    /// The zoom from which vector tiles carry single stations (below it, clusters), as the
    /// TileJSON's `maxzoom` says: here so the page need not fetch that document too.
    pub tiles_points_zoom: u8,
    /// True when a road network is loaded (`serve --osm`): coverage can be measured on it
    /// (`travel=network`, the default then) and the planner offers 直线/路网.
    pub road_network: bool,
}

/// A raster tile layer, as Leaflet's `L.tileLayer` takes it.
#[derive(Debug, Serialize, ToSchema)]
pub struct BasemapConfig {
    /// URL template with `{z}`, `{x}`, `{y}` and optionally `{s}` and `{r}`.
    pub url: String,
    /// The provider's credit, plain text (never HTML).
    pub attribution: String,
    /// The datum the tiles are drawn in: `wgs84` or `gcj02` (markers are shifted to match).
    #[schema(value_type = String, example = "wgs84")]
    pub crs: &'static str,
    /// What `{s}` takes, in turn.
    pub subdomains: Vec<String>,
    /// The highest zoom the provider serves.
    pub max_zoom: u8,
}

/// Speeds and detour: minutes = metres × detour / speed.
#[derive(Debug, Serialize, ToSchema)]
pub struct TravelConfig {
    /// Walking speed, km/h.
    pub walk_kmh: f64,
    /// E-bike speed, km/h.
    pub ebike_kmh: f64,
    /// Road distance over straight-line distance.
    pub detour: f64,
    /// The road network nearest queries can use (`by=time`, `network_minutes`); null
    /// without one (`serve --osm`), when minutes are straight-line estimates only.
    pub network: Option<NetworkConfig>,
}

/// The loaded road network.
#[derive(Debug, Serialize, ToSchema)]
pub struct NetworkConfig {
    /// The modes with a road graph (`walk`, `ebike`).
    #[schema(value_type = Vec<String>)]
    pub modes: Vec<&'static str>,
    /// How this start-up got the graphs: `cache` (read from the file beside the extract) or
    /// `built` (read from the extract and cached).
    #[schema(value_type = String, example = "cache")]
    pub origin: &'static str,
}

impl From<&Basemap> for BasemapConfig {
    fn from(b: &Basemap) -> Self {
        Self {
            url: b.url().to_string(),
            attribution: b.attribution().to_string(),
            crs: b.crs().as_str(),
            subdomains: b.subdomains().to_vec(),
            max_zoom: b.max_zoom(),
        }
    }
}

/// What the web app needs to know before it draws its first view.
#[utoipa::path(
    get, path = "/api/v1/client-config", tag = "ops",
    responses((status = 200, description = "The web app's start-up settings", body = ClientConfig))
)]
#[tracing::instrument(skip_all)]
pub async fn client_config(
    State(config): State<Arc<ApiConfig>>,
    State(geoip): State<Option<Arc<GeoIp>>>,
    State(tiles): State<Arc<TileService>>,
    State(roads): State<Option<Arc<crate::network::roads::Roads>>>,
    State(network): State<Option<Arc<NetworkStations>>>,
) -> impl IntoResponse {
    let reply = ClientConfig {
        geoip: geoip.is_some(),
        basemap: config.basemap.as_deref().map(BasemapConfig::from),
        travel: TravelConfig {
            walk_kmh: config.travel.walk_kmh,
            ebike_kmh: config.travel.ebike_kmh,
            detour: config.travel.detour,
            network: network.map(|n| NetworkConfig {
                modes: Mode::ALL.map(Mode::as_str).to_vec(),
                origin: match n.origin {
                    Origin::Cache => "cache",
                    Origin::Built => "built",
                },
            }),
        },
        tiles_points_zoom: tiles.points_zoom(),
        road_network: roads.is_some(),
    };
    // Revalidated on every start: a changed basemap must not wait for a cache to expire (the
    // service worker keeps a copy for starts without a signal).
    ([(header::CACHE_CONTROL, "no-cache")], Json(reply))
}

/// Serves `/` and `/index.html` from memory with the page's `<meta>` policy widened to
/// `img_origins` (browsers enforce both the header's and the page's policy, so both must let
/// the tiles in). Left to the static files when the page cannot be read or carries a policy
/// this server does not recognise: then the tiles stay blocked, and the log says why.
pub fn serve_page_with_policy(
    router: Router<AppState>,
    web_dir: &Path,
    img_origins: &[String],
) -> Router<AppState> {
    let path = web_dir.join("index.html");
    let html = match std::fs::read_to_string(&path) {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot read the web app's page; the basemap's tiles stay blocked by its policy");
            return router;
        }
    };
    let Some(page) = super::headers::page_with_policy(&html, img_origins) else {
        tracing::error!(path = %path.display(), "the web app's page has an unexpected <meta> policy; the basemap's tiles stay blocked by it");
        return router;
    };
    let page: Arc<str> = page.into();
    let serve = move || {
        let page = page.clone();
        async move {
            (
                [(header::CACHE_CONTROL, "no-cache")],
                Html(page.to_string()),
            )
        }
    };
    router
        .route("/", axum::routing::get(serve.clone()))
        .route("/index.html", axum::routing::get(serve))
}
