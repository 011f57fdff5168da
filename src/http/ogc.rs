//! OGC API – Features, Part 1 Core with the GeoJSON encoding, at `/ogc`: what QGIS ("WFS / OGC
//! API – Features" layer) and GDAL's `OAPIF` driver read. Two collections: `stations` (the
//! in-memory index, the properties of the station GeoJSON export) and `regions` (province,
//! city and county outlines, when loaded). Links are absolute, built from the request's `Host`
//! and scheme (https only when a trusted proxy says so).

/// Which stations and regions match a query, and their GeoJSON.
mod features;
/// Query parameters, bbox, paging and links: the standard's rules as pure functions.
pub mod params;

use super::auth::came_over_https;
use super::{ApiConfig, AppState};
use crate::coverage::service::CoverageService;
use crate::domain::Crs;
use crate::error::{Error, Result};
use crate::index::StationIndex;
use crate::io::export::station_feature;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use features::{matching_regions, matching_stations, region_feature};
use geo::BoundingRect;
use params::{check_format, link, neighbour_pages, parse_limit, parse_offset, parse_query};
use params::{BaseUrl, Crs84Box};
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Conformance classes implemented. Not `oas30`: the service description is OpenAPI 3.1
/// (utoipa's), which that class does not cover.
pub const CONFORMS_TO: [&str; 2] = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
];
/// The only coordinate reference system served: WGS-84 longitude/latitude.
pub const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";

const JSON: &str = "application/json";
const GEOJSON: &str = "application/geo+json";
const OPENAPI: &str = "application/vnd.oai.openapi+json;version=3.1";

/// The OGC API – Features routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ogc_landing))
        .routes(routes!(ogc_conformance))
        .routes(routes!(ogc_collections))
        .routes(routes!(ogc_collection))
        .routes(routes!(ogc_items))
        .routes(routes!(ogc_item))
}

/// `f` (documentation only: the handlers read the raw query to refuse unknown parameters).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatParam {
    /// Encoding: only `json` (the default) is served.
    #[param(value_type = Option<String>, pattern = "^json$")]
    pub f: Option<String>,
}

/// Query of `/ogc/collections/{collectionId}/items` (documentation; parsed from the raw query).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemsParams {
    /// `west,south,east,north` in CRS84 (or 6 numbers with heights); west > east crosses the
    /// antimeridian. Features intersecting it.
    #[param(value_type = Option<String>)]
    pub bbox: Option<String>,
    /// Features per page. The standard's definition (minimum 1, maximum 10000, default 10),
    /// which also says a larger value is served as the maximum, not refused; GDAL and QGIS
    /// size their pages from this maximum.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 10000, default = 10)]
    pub limit: Option<String>,
    /// Matching features to skip (paging: follow the `next` link).
    #[param(value_type = Option<u32>, minimum = 0)]
    pub offset: Option<String>,
    /// Accepted and ignored: the features carry no time.
    #[param(value_type = Option<String>)]
    pub datetime: Option<String>,
    /// Encoding: `json` or `geojson` (the same GeoJSON).
    #[param(value_type = Option<String>, pattern = "^(geo)?json$")]
    pub f: Option<String>,
}

/// Where the client reached us (scheme and host), to write absolute links.
pub struct Base(pub BaseUrl);

impl<S> axum::extract::FromRequestParts<S> for Base
where
    S: Send + Sync,
    Arc<ApiConfig>: axum::extract::FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let config: Arc<ApiConfig> = axum::extract::FromRef::from_ref(state);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let https = came_over_https(&parts.headers, peer, &config.trusted_proxies);
        // HTTP/2 carries the host in the URI (`:authority`), HTTP/1.1 in `Host`.
        let host = host_of(&parts.headers).or(parts.uri.authority().map(|a| a.as_str()));
        Ok(Base(BaseUrl::new(host, https)?))
    }
}

fn host_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|v| v.to_str().ok())
}

fn json_reply(body: Value) -> Response {
    ([(header::CONTENT_TYPE, JSON)], body.to_string()).into_response()
}

/// Reads the query of an endpoint that takes only `f` (`geojson` too when it serves GeoJSON).
fn only_format(raw: Option<&str>, geojson: bool) -> Result<()> {
    let q = parse_query(raw, &["f"])?;
    check_format(q.get("f").map(String::as_str), geojson)
}

/// The landing page: links to the API description, the conformance declaration and the data.
#[utoipa::path(
    get, path = "/ogc", tag = "ogc",
    params(FormatParam),
    responses(
        (status = 200, description = "Landing page (OGC API – Features)", body = Object),
        (status = 400, description = "Unknown query parameter or unsupported `f`"),
    )
)]
pub async fn ogc_landing(Base(base): Base, RawQuery(raw): RawQuery) -> Result<Response> {
    only_format(raw.as_deref(), false)?;
    Ok(json_reply(json!({
        "title": "yizhan: trade-union outdoor-worker stations (工会户外劳动者服务站)",
        "description": "OGC API – Features (Part 1 Core, GeoJSON) over the stations and the \
            administrative regions of this service. Demo stations are marked `demo: true`.",
        "links": [
            link(base.url("/ogc", &[]), "self", JSON, "This document"),
            link(base.url("/api/openapi.json", &[]), "service-desc", OPENAPI,
                 "The API definition (OpenAPI 3.1)"),
            link(base.url("/ogc/conformance", &[]), "conformance", JSON,
                 "Conformance classes implemented"),
            link(base.url("/ogc/conformance", &[]),
                 "http://www.opengis.net/def/rel/ogc/1.0/conformance", JSON,
                 "Conformance classes implemented"),
            link(base.url("/ogc/collections", &[]), "data", JSON, "The feature collections"),
            link(base.url("/ogc/collections", &[]),
                 "http://www.opengis.net/def/rel/ogc/1.0/data", JSON, "The feature collections"),
        ],
    })))
}

/// The conformance classes this service implements.
#[utoipa::path(
    get, path = "/ogc/conformance", tag = "ogc",
    params(FormatParam),
    responses(
        (status = 200, description = "`{\"conformsTo\":[…]}`", body = Object),
        (status = 400, description = "Unknown query parameter or unsupported `f`"),
    )
)]
pub async fn ogc_conformance(RawQuery(raw): RawQuery) -> Result<Response> {
    only_format(raw.as_deref(), false)?;
    Ok(json_reply(json!({ "conformsTo": CONFORMS_TO })))
}

/// The collections served: `stations` always, `regions` when regions are loaded.
fn collection_ids(service: &CoverageService) -> Vec<&'static str> {
    let mut ids = vec!["stations"];
    if !service.regions().is_empty() {
        ids.push("regions");
    }
    ids
}

/// `[w, s, e, n]` around the features of a collection, if it has any.
fn extent(index: &StationIndex, service: &CoverageService, id: &str) -> Option<[f64; 4]> {
    let mut acc: Option<[f64; 4]> = None;
    let mut add = |w: f64, s: f64, e: f64, n: f64| {
        let a = acc.get_or_insert([w, s, e, n]);
        *a = [a[0].min(w), a[1].min(s), a[2].max(e), a[3].max(n)];
    };
    if id == "stations" {
        for st in index.load().all() {
            add(
                st.location.lon,
                st.location.lat,
                st.location.lon,
                st.location.lat,
            );
        }
    } else {
        for r in service.regions().all() {
            if let Some(b) = r.outline.bounding_rect() {
                add(b.min().x, b.min().y, b.max().x, b.max().y);
            }
        }
    }
    acc
}

fn collection_doc(
    base: &BaseUrl,
    index: &StationIndex,
    service: &CoverageService,
    id: &str,
) -> Value {
    let (title, description) = match id {
        "stations" => (
            "Stations (驿站)",
            "Active trade-union outdoor-worker stations; `demo: true` marks demonstration data.",
        ),
        _ => (
            "Regions (行政区)",
            "Province, city and county outlines (WGS-84). 边界数据来源：高德.",
        ),
    };
    let path = format!("/ogc/collections/{id}");
    let mut doc = json!({
        "id": id,
        "title": title,
        "description": description,
        "itemType": "feature",
        "crs": [CRS84],
        "links": [
            link(base.url(&path, &[]), "self", JSON, "This collection"),
            link(base.url(&format!("{path}/items"), &[]), "items", GEOJSON, "Its features"),
        ],
    });
    if let Some(bbox) = extent(index, service, id) {
        doc["extent"] = json!({ "spatial": { "bbox": [bbox], "crs": CRS84 } });
    }
    doc
}

/// The collections and what each holds.
#[utoipa::path(
    get, path = "/ogc/collections", tag = "ogc",
    params(FormatParam),
    responses(
        (status = 200, description = "`{\"links\",\"collections\":[…]}`", body = Object),
        (status = 400, description = "Unknown query parameter or unsupported `f`"),
    )
)]
pub async fn ogc_collections(
    State(index): State<Arc<StationIndex>>,
    State(service): State<Arc<CoverageService>>,
    Base(base): Base,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    only_format(raw.as_deref(), false)?;
    let collections: Vec<Value> = collection_ids(&service)
        .into_iter()
        .map(|id| collection_doc(&base, &index, &service, id))
        .collect();
    Ok(json_reply(json!({
        "links": [link(base.url("/ogc/collections", &[]), "self", JSON, "This document")],
        "collections": collections,
    })))
}

/// The collection id if it is served, else a 404.
fn known_collection(service: &CoverageService, id: &str) -> Result<&'static str> {
    collection_ids(service)
        .into_iter()
        .find(|c| *c == id)
        .ok_or_else(|| Error::NotFound(format!("no collection {id:?} (see /ogc/collections)")))
}

/// One collection.
#[utoipa::path(
    get, path = "/ogc/collections/{collectionId}", tag = "ogc",
    params(("collectionId" = String, Path, description = "`stations` or `regions`"), FormatParam),
    responses(
        (status = 200, description = "The collection's description", body = Object),
        (status = 400, description = "Unknown query parameter or unsupported `f`"),
        (status = 404, description = "No such collection"),
    )
)]
pub async fn ogc_collection(
    State(index): State<Arc<StationIndex>>,
    State(service): State<Arc<CoverageService>>,
    Base(base): Base,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let id = known_collection(&service, &id)?;
    only_format(raw.as_deref(), false)?;
    Ok(json_reply(collection_doc(&base, &index, &service, id)))
}

/// The features of a collection, a page at a time (GeoJSON FeatureCollection).
#[utoipa::path(
    get, path = "/ogc/collections/{collectionId}/items", tag = "ogc",
    params(("collectionId" = String, Path, description = "`stations` or `regions`"), ItemsParams),
    responses(
        (status = 200, description = "GeoJSON FeatureCollection with `links` (self, next, prev), \
            `numberMatched`, `numberReturned`, `timeStamp`", content_type = "application/geo+json", body = Object),
        (status = 400, description = "Unknown query parameter; bad bbox, limit, offset or f"),
        (status = 404, description = "No such collection"),
    )
)]
#[tracing::instrument(skip_all, fields(collection = %id))]
pub async fn ogc_items(
    State(index): State<Arc<StationIndex>>,
    State(service): State<Arc<CoverageService>>,
    Base(base): Base,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let id = known_collection(&service, &id)?;
    let q = parse_query(
        raw.as_deref(),
        &["bbox", "limit", "offset", "datetime", "f"],
    )?;
    let get = |k: &str| q.get(k).map(String::as_str);
    check_format(get("f"), true)?;
    let bbox = get("bbox").map(Crs84Box::parse).transpose()?;
    let limit = parse_limit(get("limit"))?;
    let offset = parse_offset(get("offset"))?;
    // `datetime` is accepted and ignored: these features have no temporal extent.
    let (matched, page): (usize, Vec<String>) = match id {
        "stations" => {
            let all = matching_stations(&index, bbox.as_ref());
            let page = all.iter().skip(offset).take(limit);
            (
                all.len(),
                page.map(|s| station_feature(s, Crs::Wgs84).to_string())
                    .collect(),
            )
        }
        _ => {
            let all = matching_regions(&service, bbox.as_ref());
            let page = all.iter().skip(offset).take(limit);
            (all.len(), page.map(region_feature).collect())
        }
    };
    let path = format!("/ogc/collections/{id}/items");
    let page_url = |off: usize| {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for k in ["bbox", "datetime", "f"] {
            if let Some(v) = q.get(k) {
                pairs.push((k, v.clone()));
            }
        }
        pairs.push(("limit", limit.to_string()));
        pairs.push(("offset", off.to_string()));
        base.url(&path, &pairs)
    };
    let mut links = vec![
        link(page_url(offset), "self", GEOJSON, "This page"),
        link(
            base.url(&format!("/ogc/collections/{id}"), &[]),
            "collection",
            JSON,
            "The collection",
        ),
    ];
    let (prev, next) = neighbour_pages(offset, limit, matched);
    if let Some(p) = prev {
        links.push(link(page_url(p), "prev", GEOJSON, "Previous page"));
    }
    if let Some(n) = next {
        links.push(link(page_url(n), "next", GEOJSON, "Next page"));
    }
    let head = json!({
        "type": "FeatureCollection",
        "numberMatched": matched,
        "numberReturned": page.len(),
        "timeStamp": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        "links": links,
    });
    // The features are already JSON text: splice them in rather than parse them back.
    let mut body = head.to_string();
    body.pop(); // the closing brace
    body.push_str(",\"features\":[");
    body.push_str(&page.join(","));
    body.push_str("]}");
    Ok(([(header::CONTENT_TYPE, GEOJSON)], body).into_response())
}

/// One feature by id (a station id, or a region's adcode).
#[utoipa::path(
    get, path = "/ogc/collections/{collectionId}/items/{featureId}", tag = "ogc",
    params(
        ("collectionId" = String, Path, description = "`stations` or `regions`"),
        ("featureId" = String, Path, description = "Station id, or region adcode"),
        FormatParam,
    ),
    responses(
        (status = 200, description = "GeoJSON Feature with `links`", content_type = "application/geo+json", body = Object),
        (status = 400, description = "Unknown query parameter or unsupported `f`"),
        (status = 404, description = "No such collection or feature"),
    )
)]
pub async fn ogc_item(
    State(index): State<Arc<StationIndex>>,
    State(service): State<Arc<CoverageService>>,
    Base(base): Base,
    Path((collection, fid)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let id = known_collection(&service, &collection)?;
    only_format(raw.as_deref(), true)?;
    let missing = || Error::NotFound(format!("no feature {fid:?} in collection {id:?}"));
    let mut body = match id {
        "stations" => {
            let sid: i64 = fid.parse().map_err(|_| missing())?;
            let s = index.load().get(sid).ok_or_else(missing)?;
            station_feature(&s, Crs::Wgs84).to_string()
        }
        _ => {
            let code = fid.parse().map_err(|_| missing())?;
            let set = service.regions();
            let r = set.get(code).ok_or_else(missing)?;
            region_feature(r)
        }
    };
    let path = format!("/ogc/collections/{id}");
    let links = json!([
        link(
            base.url(&format!("{path}/items/{fid}"), &[]),
            "self",
            GEOJSON,
            "This feature"
        ),
        link(base.url(&path, &[]), "collection", JSON, "The collection"),
    ]);
    body.pop(); // the Feature's closing brace
    body.push_str(&format!(",\"links\":{links}}}"));
    Ok(([(header::CONTENT_TYPE, GEOJSON)], body).into_response())
}
