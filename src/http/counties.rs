use super::encoding::{accepted, best_compressed, Accepted};
use super::extract::ApiQuery;
use super::openapi::{BboxSchema, DetailSchema};
use super::AppState;
use crate::domain::BBox;
use crate::error::{Error, Result};
use crate::io::basemap::{render_levels, Rendered, LEVELS};
use crate::io::seed::JIANGXI_COUNTIES_GEOJSON;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::Digest;
use std::sync::OnceLock;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The counties route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_counties))
}

/// The names `?detail=` takes, coarse to fine.
pub const DETAIL_VALUES: [&str; 3] = ["low", "medium", "full"];

/// Query of `GET /api/v1/counties`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CountiesParams {
    /// Level of detail (default `low`): `low` for a province-wide view (map zoom ≤ 7, ~0.5 km
    /// tolerance, 3 decimals), `medium` up to zoom 9 (~0.1 km, 4 decimals), `full` the
    /// shipped outlines (5 decimals). Neighbouring counties share their border vertices at
    /// every level.
    #[param(value_type = Option<DetailSchema>, inline)]
    detail: Option<String>,
    /// `west,south,east,north` (WGS-84): only the counties whose outline box meets it. The web
    /// app asks for `full` detail this way at street zoom, where a phone shows a county or two.
    #[param(value_type = Option<BboxSchema>, inline)]
    bbox: Option<String>,
}

/// One level and its bytes in each encoding, compressed once at the best settings.
struct Variants {
    level: Rendered,
    gzip: Vec<u8>,
    br: Vec<u8>,
}

fn compress(level: Rendered) -> std::io::Result<Variants> {
    let (gzip, br) = best_compressed(level.body.as_bytes())?;
    Ok(Variants { level, gzip, br })
}

fn build() -> std::result::Result<Vec<Variants>, String> {
    render_levels(JIANGXI_COUNTIES_GEOJSON)?
        .into_iter()
        .map(|l| compress(l).map_err(|e| e.to_string()))
        .collect()
}

/// Builds every level now (the application calls this on a thread of its own at start, so the
/// first request does not wait for it).
pub fn warm() {
    if let Err(e) = LEVELS_RENDERED.get_or_init(build) {
        tracing::error!(error = %e, "the county basemap could not be built");
    }
}

/// Every level, built once (at start, or on first use, off the async workers).
static LEVELS_RENDERED: OnceLock<std::result::Result<Vec<Variants>, String>> = OnceLock::new();

async fn rendered() -> Result<&'static [Variants]> {
    if LEVELS_RENDERED.get().is_none() {
        tokio::task::spawn_blocking(|| {
            LEVELS_RENDERED.get_or_init(build);
        })
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("building the basemap: {e}")))?;
    }
    match LEVELS_RENDERED.get() {
        Some(Ok(levels)) => Ok(levels),
        Some(Err(e)) => Err(Error::Internal(anyhow::anyhow!("the county basemap: {e}"))),
        None => Err(Error::Internal(anyhow::anyhow!(
            "the county basemap was not built"
        ))),
    }
}

/// County outlines (GeoJSON, WGS-84): the offline basemap, at a level of detail. 边界数据来源：高德.
///
/// The reply carries a strong `ETag` (a hash of its bytes) and may be cached for a day.
#[utoipa::path(
    get, path = "/api/v1/counties", tag = "stations",
    params(CountiesParams),
    responses(
        (status = 200, description = "GeoJSON FeatureCollection of the 100 county outlines, with \
            `detail` and `max_zoom` (the highest map zoom the level is meant for)",
            content_type = "application/geo+json", headers(("ETag" = String))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Unknown detail or parameter"),
    )
)]
pub async fn list_counties(
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<CountiesParams>,
) -> Result<Response> {
    let name = p.detail.as_deref().unwrap_or("low");
    let Some(i) = LEVELS.iter().position(|l| l.name == name) else {
        return Err(Error::bad_request(
            "invalid_query",
            format!(
                "detail must be one of {}, got {name:?}",
                DETAIL_VALUES.join(", ")
            ),
        ));
    };
    let bbox = p
        .bbox
        .as_deref()
        .map(str::parse::<BBox>)
        .transpose()?
        .map(|b| [b.min.lon, b.min.lat, b.max.lon, b.max.lat]);
    let variants = &rendered().await?[i];
    let level = &variants.level;
    if let Some(bbox) = bbox {
        return Ok(within(level, bbox, &headers));
    }
    let etag = HeaderValue::from_str(&level.etag)
        .map_err(|e| Error::Internal(anyhow::anyhow!("basemap ETag: {e}")))?;
    let cache = HeaderValue::from_static("public, max-age=86400");
    let not_modified = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == level.etag);
    if not_modified {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::CACHE_CONTROL, cache)],
        )
            .into_response());
    }
    let (encoding, body): (Option<&str>, &'static [u8]) = match accepted(&headers) {
        Accepted::Br => (Some("br"), &variants.br),
        Accepted::Gzip => (Some("gzip"), &variants.gzip),
        Accepted::Identity => (None, level.body.as_bytes()),
    };
    let mut res = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/geo+json"),
            ),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, cache),
            (header::VARY, HeaderValue::from_static("accept-encoding")),
        ],
        axum::body::Body::from(body),
    )
        .into_response();
    if let Some(e) = encoding {
        res.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static(e));
    }
    Ok(res)
}

/// The counties of `level` meeting `bbox`; the compression layer encodes the reply.
fn within(level: &Rendered, bbox: [f64; 4], headers: &HeaderMap) -> Response {
    let body = level.within(bbox);
    let hash = sha2::Sha256::digest(body.as_bytes());
    let tag = format!("\"{}\"", hex::encode(&hash[..12]));
    let cache = (header::CACHE_CONTROL, "public, max-age=86400");
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().trim_start_matches("W/") == tag);
    if matches {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, tag)], [cache]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "application/geo+json".to_string()),
            (header::ETAG, tag),
        ],
        [cache],
        body,
    )
        .into_response()
}
