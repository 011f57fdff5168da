use super::AppState;
use crate::io::seed::JIANGXI_COUNTIES_GEOJSON;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The counties route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_counties))
}

/// County outlines (GeoJSON, WGS-84): the offline basemap. 边界数据来源：高德.
#[utoipa::path(
    get, path = "/api/v1/counties", tag = "stations",
    responses((status = 200, description = "GeoJSON FeatureCollection of county outlines", content_type = "application/geo+json"))
)]
pub async fn list_counties() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/geo+json"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        JIANGXI_COUNTIES_GEOJSON,
    )
}
