//! `GET /api/v1/regions` (codes, names, levels, parents) and `GET /api/v1/regions/{adcode}`
//! (one region with its outline as GeoJSON): what planners pick coverage regions from.

use super::AppState;
use crate::coverage::gaps::multipolygon_json;
use crate::coverage::service::CoverageService;
use crate::domain::{Adcode, RegionLevel};
use crate::error::{Error, Result};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The region routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_regions))
        .routes(routes!(get_region))
}

/// One region, without its outline.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionItem {
    /// Six-digit code.
    pub adcode: String,
    /// Name.
    pub name: String,
    /// `province`, `city` or `county`.
    #[schema(value_type = String)]
    pub level: RegionLevel,
    /// The region it belongs to.
    pub parent: Option<String>,
}

/// Reply of `GET /api/v1/regions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionList {
    /// Provinces, then cities, then counties, each by code.
    pub regions: Vec<RegionItem>,
    /// Where the outlines come from.
    pub attribution: &'static str,
}

/// Every region coverage can be measured over.
#[utoipa::path(
    get, path = "/api/v1/regions", tag = "coverage",
    responses((status = 200, description = "Regions by level and code", body = RegionList))
)]
pub async fn list_regions(State(service): State<Arc<CoverageService>>) -> Json<RegionList> {
    let set = service.regions();
    let mut regions: Vec<_> = set.all().iter().collect();
    regions.sort_by_key(|r| (r.level, r.adcode));
    Json(RegionList {
        regions: regions
            .into_iter()
            .map(|r| RegionItem {
                adcode: r.adcode.to_string(),
                name: r.name.clone(),
                level: r.level,
                parent: r.parent.map(|p| p.to_string()),
            })
            .collect(),
        attribution: super::coverage::ATTRIBUTION,
    })
}

/// One region with its outline (GeoJSON Feature, WGS-84).
#[utoipa::path(
    get, path = "/api/v1/regions/{adcode}", tag = "coverage",
    params(("adcode" = String, Path, pattern = "^[1-9][0-9]{5}$", description = "Six-digit code, e.g. 360100")),
    responses(
        (status = 200, description = "GeoJSON Feature", content_type = "application/geo+json"),
        (status = 400, description = "Not an adcode"),
        (status = 404, description = "Unknown region"),
    )
)]
pub async fn get_region(
    State(service): State<Arc<CoverageService>>,
    Path(code): Path<String>,
) -> Result<Response> {
    let code: Adcode = code.parse()?;
    let set = service.regions();
    let r = set
        .get(code)
        .ok_or_else(|| Error::NotFound(format!("no region with adcode {code}")))?;
    let props = serde_json::json!({
        "adcode": r.adcode.to_string(),
        "name": r.name,
        "level": r.level,
        "parent": r.parent.map(|p| p.to_string()),
    });
    let mut body = format!("{{\"type\":\"Feature\",\"properties\":{props},\"geometry\":");
    multipolygon_json(&mut body, &r.outline);
    body.push('}');
    Ok(([(header::CONTENT_TYPE, "application/geo+json")], body).into_response())
}
