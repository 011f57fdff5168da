//! `GET /api/v1/tiles/{z}/{x}/{y}.mvt` and `GET /api/v1/tiles.json`: vector tiles of the stations.

use super::AppState;
use crate::error::{Error, Result};
use crate::index::StationIndex;
use crate::tiles::encode::{CLUSTER_FIELDS, CLUSTER_LAYER, STATION_FIELDS, STATION_LAYER};
use crate::tiles::grid::{TileId, MAX_ZOOM};
use crate::tiles::TileService;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The content type of Mapbox Vector Tiles.
pub const MVT_CONTENT_TYPE: &str = "application/vnd.mapbox-vector-tile";

/// How long clients and caches may reuse a tile or the TileJSON without asking: short, since
/// stations change and station tiles carry `open_now`.
const CACHE_CONTROL: &str = "public, max-age=60";

/// The tile routes. The tile path ends in `{y}.mvt`, a suffix axum's router cannot match, so it
/// is routed on `{y}` (the handler requires the `.mvt`) and documented by its real template.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(TileDoc::openapi())
        .routes(routes!(tilejson))
        .route("/api/v1/tiles/{z}/{x}/{y}", axum::routing::get(get_tile))
}

#[derive(OpenApi)]
#[openapi(paths(get_tile))]
struct TileDoc;

/// A tile's `ETag`: a hash of its bytes, so it changes exactly when the tile does (a station
/// edited, moved, retired, opened or closed) and agrees between replicas behind a balancer.
pub(crate) fn etag_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!("\"{}\"", hex::encode(&digest[..10]))
}

/// RFC 9110 §13.1.2: a list of tags, `*`, weak comparison.
pub(crate) fn matches(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == tag)
}

/// One vector tile of the stations (Mapbox Vector Tile 2.1, extent 4096).
///
/// Below the points zoom (`--tiles-points-zoom`, see `/api/v1/tiles.json`) the tile has one
/// layer `clusters`: one point per cluster of stations with `count`, `amenities` (keys at least
/// one offers), `n_water`, `n_toilet`, `n_phone_charging`, `n_ebike_charging`, `demo` (all
/// demo) and `expand_zoom`. From the points zoom on it has one layer `stations` with `id`,
/// `name`, `amenities`, `opening_hours`, `open_now` (when the tile was made), `closed_until`
/// and `demo`. A station belongs to the tile its position falls in (west and north edges
/// inclusive); clusters are drawn at their stations' mean position and never cross a tile edge.
#[utoipa::path(
    get, path = "/api/v1/tiles/{z}/{x}/{y}.mvt", tag = "stations",
    params(
        ("z" = u8, Path, minimum = 0, maximum = 22, description = "Zoom"),
        ("x" = u32, Path, description = "Column, 0..2^z, from 180° W"),
        ("y" = u32, Path, description = "Row, 0..2^z, from the north (the path segment is `{y}.mvt`)"),
    ),
    responses(
        (status = 200, description = "The tile", content_type = "application/vnd.mapbox-vector-tile",
         headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 204, description = "No station in this tile"),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Zoom above 22, x or y outside 0..2^z, not integers, or no `.mvt`"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn get_tile(
    State(index): State<Arc<StationIndex>>,
    State(tiles): State<Arc<TileService>>,
    Path((z, x, y)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let t = TileId::parse(&z, &x, &y)?;
    let rendered = tiles
        .render(index.load(), t, chrono::Utc::now())
        .await
        .map_err(Error::Internal)?;
    tile_reply(rendered, &headers, CACHE_CONTROL)
}

/// The reply for a rendered tile: 204 when there is none, else the MVT with its `ETag` (a hash
/// of the bytes) or a 304 when the client holds it; `cache_control` on all three.
pub fn tile_reply(
    rendered: Option<Vec<u8>>,
    headers: &HeaderMap,
    cache_control: &'static str,
) -> Result<Response> {
    let cache = (
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    let Some(bytes) = rendered else {
        return Ok((StatusCode::NO_CONTENT, [cache]).into_response());
    };
    let tag = etag_of(&bytes);
    let etag = HeaderValue::from_str(&tag).map_err(|e| Error::Internal(e.into()))?;
    if matches(headers, &tag) {
        return Ok((StatusCode::NOT_MODIFIED, [cache, (header::ETAG, etag)]).into_response());
    }
    Ok((
        [
            cache,
            (header::ETAG, etag),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(MVT_CONTENT_TYPE),
            ),
        ],
        bytes,
    )
        .into_response())
}

fn fields(list: &[(&str, &str)]) -> Value {
    Value::Object(
        list.iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect::<Map<_, _>>(),
    )
}

/// The TileJSON 3.0.0 document of the station tiles: URL template (relative to this server),
/// zooms, bounds of the data and the two layers with their fields.
#[utoipa::path(
    get, path = "/api/v1/tiles.json", tag = "stations",
    responses((status = 200, description = "TileJSON 3.0.0", body = Object))
)]
#[tracing::instrument(skip_all)]
pub async fn tilejson(
    State(index): State<Arc<StationIndex>>,
    State(tiles): State<Arc<TileService>>,
) -> Result<Response> {
    let clusters = tiles
        .clusters(index.load())
        .await
        .map_err(Error::Internal)?;
    let pz = tiles.points_zoom();
    let whole = clusters.in_tile(TileId { z: 0, x: 0, y: 0 });
    let all_demo = whole.iter().all(|c| c.all_demo);
    let any_demo = whole.iter().any(|c| c.all_demo) || !all_demo && !whole.is_empty();
    let attribution = if whole.is_empty() {
        "工会户外劳动者服务站 yizhan"
    } else if all_demo {
        "演示数据，并非真实驿站 Demo data: not real stations"
    } else if any_demo {
        "含演示数据（demo=true 的驿站并非真实） Includes demo data: stations with demo=true are not real"
    } else {
        "工会户外劳动者服务站 yizhan"
    };
    let bounds =
        clusters
            .bounds
            .unwrap_or([-180.0, -85.051_128_779_806_59, 180.0, 85.051_128_779_806_59]);
    let doc = json!({
        "tilejson": "3.0.0",
        "name": "yizhan stations",
        "description": format!(
            "Trade-union outdoor-worker stations: layer `{CLUSTER_LAYER}` below zoom {pz}, \
             layer `{STATION_LAYER}` from zoom {pz} (tiles are served up to zoom {MAX_ZOOM})."
        ),
        "version": "1.0.0",
        "attribution": attribution,
        "scheme": "xyz",
        "tiles": ["/api/v1/tiles/{z}/{x}/{y}.mvt"],
        "minzoom": 0,
        // Station tiles at the points zoom hold every station at 0.6 m precision: clients
        // overzoom them instead of asking for deeper tiles.
        "maxzoom": pz,
        "bounds": bounds,
        "center": [(bounds[0] + bounds[2]) / 2.0, (bounds[1] + bounds[3]) / 2.0, 6],
        "vector_layers": [
            {
                "id": CLUSTER_LAYER,
                "description": "Clusters of stations (grid of 4×4 cells per tile, drawn at the mean position)",
                "minzoom": 0,
                "maxzoom": pz.saturating_sub(1),
                "fields": fields(CLUSTER_FIELDS),
            },
            {
                "id": STATION_LAYER,
                "description": "Stations",
                "minzoom": pz,
                "maxzoom": pz,
                "fields": fields(STATION_FIELDS),
            },
        ],
    });
    Ok((
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static(CACHE_CONTROL),
        )],
        Json(doc),
    )
        .into_response())
}
