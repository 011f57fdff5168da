//! `GET /api/v1/tiles/roads/{z}/{x}/{y}.mvt`: the streets of the loaded OpenStreetMap extract as
//! vector tiles (a basemap served by yizhan itself; empty without `--osm`, which
//! `client-config`'s `road_network` tells the page before it asks).

use super::AppState;
use crate::error::{Error, Result};
use crate::network::roads::Roads;
use crate::tiles::grid::TileId;
use crate::tiles::roads::roads_tile;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// Roads do not change while the service runs (the extract is read at start): clients may
/// keep a tile for a day, and revalidate by `ETag` after a restart with a new extract.
const CACHE_CONTROL: &str = "public, max-age=86400";

/// The road tile route (routed on `{y}` like the station tiles; documented by its template).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(RoadTileDoc::openapi()).route(
        "/api/v1/tiles/roads/{z}/{x}/{y}",
        axum::routing::get(get_road_tile),
    )
}

#[derive(OpenApi)]
#[openapi(paths(get_road_tile))]
struct RoadTileDoc;

/// One vector tile of the roads (Mapbox Vector Tile 2.1, extent 4096): one layer `roads` of
/// lines, the walking graph's edges (every way a pedestrian may use; e-bike ways are a subset),
/// from zoom 12 to 16 (deeper zooms: overzoom the zoom-16 tile; coarser ones are empty).
/// © OpenStreetMap contributors, ODbL.
#[utoipa::path(
    get, path = "/api/v1/tiles/roads/{z}/{x}/{y}.mvt", tag = "stations",
    params(
        ("z" = u8, Path, minimum = 0, maximum = 22, description = "Zoom (roads from 12 to 16)"),
        ("x" = u32, Path, description = "Column, 0..2^z, from 180° W"),
        ("y" = u32, Path, description = "Row, 0..2^z, from the north (the path segment is `{y}.mvt`)"),
    ),
    responses(
        (status = 200, description = "The tile", content_type = "application/vnd.mapbox-vector-tile",
         headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 204, description = "No road in this tile, a zoom outside 12–16, or no road network loaded (`client-config` says `road_network`)"),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Zoom above 22, x or y outside 0..2^z, not integers, or no `.mvt`"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn get_road_tile(
    State(roads): State<Option<Arc<Roads>>>,
    Path((z, x, y)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let t = TileId::parse(&z, &x, &y)?;
    let rendered = match roads {
        Some(roads) => tokio::task::spawn_blocking(move || roads_tile(&roads.walk, t))
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("road tile task: {e}")))?,
        None => None,
    };
    super::tiles::tile_reply(rendered, &headers, CACHE_CONTROL)
}
