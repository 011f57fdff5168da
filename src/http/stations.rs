use super::extract::{ApiQuery, ClientIp};
use super::nav::{links, NavLinks, NavOrigin};
use super::openapi::{AmenityListSchema, BboxSchema, CrsSchema, IncludeSchema, ModeSchema};
use super::static_files;
use super::{ApiConfig, AppState};
use crate::config::NearestEngine;
use crate::coverage::queries::QueryCounter;
use crate::domain::{AmenitySet, BBox, Crs, LonLat, Mode, TemporaryClosure};
use crate::error::{Error, Result};
use crate::geoip::GeoIp;
use crate::index::{NearestQuery, StationIndex};
use crate::io::export::{round7, station_feature};
use crate::network::stations::{Labelled, NetworkStations, RiderOnRoads};
use crate::store::Store;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

/// Most stations one nearest query returns.
pub const MAX_LIMIT: usize = 100;
/// Default and largest number of features one bbox query returns.
pub const BBOX_DEFAULT_LIMIT: usize = 2_000;
/// Largest bbox `limit`.
pub const BBOX_MAX_LIMIT: usize = 10_000;
/// Largest `max_minutes` accepted.
pub const MAX_MINUTES: f64 = 600.0;

/// The station routes, compressed at the fast level (see [`static_files::compression_fast`]).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(nearest_stations))
        .routes(routes!(list_stations))
        .routes(routes!(get_station))
        .layer(static_files::compression_fast())
}

/// Query of `GET /api/v1/stations/nearest`; values arrive as text and are parsed here so every
/// mistake gets a precise message. The document describes the values accepted.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NearestParams {
    /// Latitude of the rider: documented with `lon` as the `position` pair.
    #[param(ignore)]
    lat: Option<String>,
    /// Longitude of the rider.
    #[param(ignore)]
    lon: Option<String>,
    /// How many stations (default 5).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Comma-separated amenity keys the station must all have (blank entries are ignored).
    #[param(value_type = Option<AmenityListSchema>, inline)]
    amenities: Option<String>,
    /// Only stations open now (regular hours, no temporary closure); `1`/`0` also accepted.
    #[param(value_type = Option<bool>)]
    open_now: Option<String>,
    /// Travel mode for minutes (default `walk`).
    #[param(value_type = Option<ModeSchema>, inline)]
    mode: Option<String>,
    /// Only stations within this many minutes.
    #[param(value_type = Option<f64>, exclusive_minimum = 0, maximum = 600)]
    max_minutes: Option<String>,
    /// Coordinate system of lat/lon in and out (default `wgs84`).
    #[param(value_type = Option<CrsSchema>, inline)]
    crs: Option<String>,
    /// Order of the answer: `distance` (default; geodesic metres) or `time` (network minutes
    /// on the road network, exactly; needs `--osm`, else a 400 `network_unavailable`). With
    /// `time`, `max_minutes` caps network minutes and stations off the roads are left out; a
    /// rider farther than 300 m from any road is answered by distance (the reply's `by` says
    /// `distance`, every item `minutes_source: straight_line`).
    #[param(value_type = Option<NearestOrder>, inline)]
    by: Option<String>,
    /// Extra members per item, comma-separated: `nav` adds the navigation hand-off links
    /// (Amap, Baidu, Tencent), which the web app builds itself from `lat`/`lon`; `code` the
    /// union's station code; `county` the county adcode.
    #[param(value_type = Option<IncludeSchema>, inline)]
    include: Option<String>,
}

/// How a nearest answer is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NearestOrder {
    /// By geodesic distance.
    Distance,
    /// By network minutes on the road network.
    Time,
}

fn parse_order(s: Option<&str>) -> Result<NearestOrder> {
    match s {
        None | Some("distance") => Ok(NearestOrder::Distance),
        Some("time") => Ok(NearestOrder::Time),
        Some(other) => Err(Error::bad_request(
            "invalid_query",
            format!("by must be distance or time, got {other:?}"),
        )),
    }
}

/// Which minutes a client should show for an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MinutesSource {
    /// `network_minutes`, on the roads (absent: no road path within 600 minutes).
    Network,
    /// `minutes`, the straight-line estimate: the rider or the station is more than 300 m
    /// from any road of the mode.
    StraightLine,
}

/// Values of `include` on `GET /api/v1/stations/nearest`.
pub const INCLUDE_VALUES: [&str; 3] = ["nav", "code", "county"];

/// What `include` adds to each item of a nearest reply.
#[derive(Debug, Clone, Copy, Default)]
struct Include {
    /// The navigation hand-off links.
    nav: bool,
    /// The union's station code.
    code: bool,
    /// The county adcode.
    county: bool,
}

/// Parses `include`: a comma list of [`INCLUDE_VALUES`].
fn parse_include(s: Option<&str>) -> Result<Include> {
    let Some(s) = s else {
        return Ok(Include::default());
    };
    let mut include = Include::default();
    for v in s.split(',') {
        match v.trim() {
            "nav" => include.nav = true,
            "code" => include.code = true,
            "county" => include.county = true,
            other => {
                return Err(Error::bad_request(
                    "invalid_query",
                    format!(
                        "include takes a comma list of {}, got {other:?}",
                        INCLUDE_VALUES.join(", ")
                    ),
                ))
            }
        }
    }
    Ok(include)
}

/// The rider's position in `crs`: `lat` and `lon` together, or neither (the origin then comes
/// from the client's IP through GeoIP).
#[derive(Debug, ToSchema)]
pub struct QueryPosition {
    /// Latitude.
    #[schema(minimum = -90, maximum = 90)]
    pub lat: f64,
    /// Longitude.
    #[schema(minimum = -180, maximum = 180)]
    pub lon: f64,
}

/// Where the search started.
#[derive(Debug, Serialize, ToSchema)]
pub struct Origin {
    /// Latitude (in the requested crs).
    pub lat: f64,
    /// Longitude (in the requested crs).
    pub lon: f64,
    /// `query` (from lat/lon) or `ip` (from the client address).
    pub source: &'static str,
    /// For `ip`: radius in km holding the client with 67 % confidence (absent for `query`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy_km: Option<u16>,
}

/// One nearby station. Optional members without a value are left out (not `null`): a rider's
/// phone asks for these on a weak signal, and five `null`s a station were a tenth of the reply.
#[derive(Debug, Serialize, ToSchema)]
pub struct NearbyStation {
    /// Id.
    pub id: i64,
    /// Union code: only with `include=code` (the web app does not show it, and in every item
    /// it took five stations with long names past 2.5 KB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Name.
    pub name: String,
    /// Address.
    pub address: String,
    /// County adcode: only with `include=county` (the web app does not show it, and a
    /// rider's phone should not download it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub county: Option<String>,
    /// Latitude (in the requested crs).
    pub lat: f64,
    /// Longitude (in the requested crs).
    pub lon: f64,
    /// Geodesic distance on WGS-84, metres.
    pub distance_m: f64,
    /// Travel minutes for the mode by the straight-line model (distance × detour / speed),
    /// always present; with a road network, `network_minutes` is the road time and
    /// `minutes_source` says which of the two to show.
    pub minutes: f64,
    /// Minutes on the road network (rider's and station's nearest roads, 0.1 min): only with
    /// `--osm`, when both are within 300 m of a road and a road path exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_minutes: Option<f64>,
    /// Only with `--osm`: `network` when rider and station are both on the roads (then show
    /// `network_minutes`), else `straight_line` (show `minutes`, an estimate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minutes_source: Option<MinutesSource>,
    /// Amenity keys.
    #[schema(value_type = Vec<String>)]
    pub amenities: AmenitySet,
    /// OSM opening_hours.
    pub opening_hours: String,
    /// Open right now (hours and no temporary closure).
    pub open_now: bool,
    /// A temporary closure set by the manager, if any.
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temporary_closure: Option<TemporaryClosure>,
    /// Phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Photo.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo_url: Option<String>,
    /// Demo data: not a real station.
    pub demo: bool,
    /// When a manager last confirmed the data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<DateTime<Utc>>,
    /// Navigation hand-off links: only with `include=nav`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nav: Option<NavLinks>,
}

/// Reply of `GET /api/v1/stations/nearest`.
#[derive(Debug, Serialize, ToSchema)]
pub struct NearestReply {
    /// Stations sorted by distance, or by network time when `by` is `time`;
    /// ties by id.
    pub items: Vec<NearbyStation>,
    /// Only with a road network (`--osm`): the order used, `time` only when asked and the
    /// rider is on the roads (else `distance`). Absent without a network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<NearestOrder>,
    /// The search origin.
    pub origin: Origin,
    /// The travel mode used for minutes.
    #[schema(value_type = ModeSchema)]
    pub mode: Mode,
    /// The coordinate system of all coordinates in this reply.
    #[schema(value_type = CrsSchema)]
    pub crs: Crs,
}

fn parse_f64(name: &'static str, code: &'static str, s: &str) -> Result<f64> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| {
            Error::bad_request(code, format!("{name} must be a finite number, got {s:?}"))
        })
}

fn parse_bool(name: &'static str, s: &str) -> Result<bool> {
    match s {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::bad_request(
            "invalid_query",
            format!("{name} must be true or false, got {s:?}"),
        )),
    }
}

fn parse_crs(s: Option<&str>) -> Result<Crs> {
    Ok(s.map(str::parse).transpose()?.unwrap_or_default())
}

/// The origin from lat/lon, or from the client's IP through GeoIP.
fn resolve_origin(
    p: &NearestParams,
    crs: Crs,
    geoip: Option<&GeoIp>,
    ip: Option<std::net::IpAddr>,
) -> Result<(LonLat, &'static str, Option<u16>)> {
    match (&p.lat, &p.lon) {
        (Some(lat), Some(lon)) => {
            let lat = parse_f64("lat", "invalid_lat", lat)?;
            let lon = parse_f64("lon", "invalid_lon", lon)?;
            Ok((crs.parse_point(lon, lat)?, "query", None))
        }
        (None, None) => {
            let pos = super::locate::locate_ip(geoip, ip)?;
            Ok((LonLat::new(pos.lon, pos.lat)?, "ip", pos.accuracy_km))
        }
        _ => Err(Error::bad_request(
            "invalid_query",
            "give both lat and lon, or neither to locate by IP",
        )),
    }
}

/// The nearest stations, sorted by geodesic distance.
#[utoipa::path(
    get, path = "/api/v1/stations/nearest", tag = "stations",
    params(
        ("position" = inline(Option<QueryPosition>), Query, style = Form, explode,
         description = "`lat` and `lon` (in `crs`), both or neither: without them the origin \
            comes from the client's IP (GeoIP); one without the other is a 400"),
        NearestParams,
    ),
    responses(
        (status = 200, description = "Nearest matching stations", body = NearestReply),
        (status = 400, description = "Invalid or unknown parameter, lat without lon (or the reverse), \
            or no lat/lon and no GeoIP database"),
        (status = 404, description = "No lat/lon and the client IP has no known position"),
    )
)]
#[tracing::instrument(skip_all)]
#[allow(clippy::too_many_arguments)] // one extractor per part of the state it reads
pub async fn nearest_stations(
    State(index): State<Arc<StationIndex>>,
    State(store): State<Arc<dyn Store>>,
    State(config): State<Arc<ApiConfig>>,
    State(geoip): State<Option<Arc<GeoIp>>>,
    State(counter): State<Option<Arc<QueryCounter>>>,
    State(network): State<Option<Arc<NetworkStations>>>,
    ClientIp(ip): ClientIp,
    ApiQuery(p): ApiQuery<NearestParams>,
) -> Result<Json<NearestReply>> {
    let crs = parse_crs(p.crs.as_deref())?;
    let by = parse_order(p.by.as_deref())?;
    if by == NearestOrder::Time && network.is_none() {
        return Err(Error::bad_request(
            "network_unavailable",
            "by=time needs a road network: this server runs without one (serve --osm FILE)",
        ));
    }
    let include = parse_include(p.include.as_deref())?;
    let limit = match &p.limit {
        None => 5,
        Some(s) => s
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                Error::bad_request(
                    "invalid_limit",
                    format!("limit must be an integer in 1..={MAX_LIMIT}, got {s:?}"),
                )
            })?,
    };
    let amenities = AmenitySet::parse_list(p.amenities.as_deref().unwrap_or(""), ',')?;
    let open_now = p
        .open_now
        .as_deref()
        .map(|s| parse_bool("open_now", s))
        .transpose()?
        .unwrap_or(false);
    let mode: Mode = p
        .mode
        .as_deref()
        .map(str::parse)
        .transpose()?
        .unwrap_or_default();
    let max_minutes = p
        .max_minutes
        .as_deref()
        .map(|s| parse_f64("max_minutes", "invalid_max_minutes", s))
        .transpose()?;
    if let Some(m) = max_minutes {
        if !(m > 0.0 && m <= MAX_MINUTES) {
            return Err(Error::bad_request(
                "invalid_max_minutes",
                format!("max_minutes must be in (0, {MAX_MINUTES}], got {m}"),
            ));
        }
    }
    let (origin, source, accuracy_km) = resolve_origin(&p, crs, geoip.as_deref(), ip)?;
    // Opt-in demand: only positions the rider gave (GPS), reduced to their cell at once.
    if let (Some(counter), "query") = (&counter, source) {
        counter.record(origin);
    }

    let now = Utc::now();
    let snapshot = index.load();
    // With roads, stations and times come from the labelled snapshot, so they agree.
    let (snapshot, rider) = match &network {
        Some(net) => {
            let lab = net.labelled(snapshot.generation()).await;
            (lab.snapshot.clone(), net.rider(lab, mode, &origin))
        }
        None => (snapshot, None),
    };
    let query = NearestQuery {
        origin,
        limit,
        amenities,
        open_at: open_now.then_some(now),
        max_distance_m: max_minutes.map(|m| config.travel.reach_m(mode, m)),
    };
    // Under by=time, max_minutes caps network minutes; the road times of a distance answer
    // are reported up to the largest cap whatever max_minutes (a straight-line cap there).
    let time_limit = deciseconds(max_minutes.unwrap_or(MAX_MINUTES));
    let any_time = deciseconds(MAX_MINUTES);
    let nav_origin = include.nav.then(|| NavOrigin::new(origin));
    // Set when the rider is on the roads: then each station on them gets network minutes.
    let rider_on: Option<Arc<Labelled>> = rider.as_ref().map(|r| r.labelled().clone());
    let item = |s: &crate::domain::Station, distance_m: f64, network_ds: Option<u32>| {
        let (lon, lat) = crs.from_wgs84(s.location);
        let minutes_source = network.as_ref().map(|_| match &rider_on {
            Some(lab) if lab.is_on_network(mode, s.id) => MinutesSource::Network,
            _ => MinutesSource::StraightLine,
        });
        NearbyStation {
            id: s.id,
            code: include.code.then(|| s.code.clone()),
            name: s.name.clone(),
            address: s.address.clone(),
            county: include.county.then(|| s.county.clone()),
            lat: round7(lat),
            lon: round7(lon),
            distance_m: (distance_m * 10.0).round() / 10.0,
            minutes: (config.travel.minutes(mode, distance_m) * 10.0).round() / 10.0,
            network_minutes: network_ds.map(|ds| (f64::from(ds) / 60.0).round() / 10.0),
            minutes_source,
            amenities: s.amenities,
            opening_hours: s.opening_hours.to_string(),
            open_now: snapshot.is_open(s, now),
            temporary_closure: s
                .temporary_closure
                .clone()
                .filter(|_| s.is_temporarily_closed(now)),
            phone: s.phone.clone(),
            photo_url: s.photo_url.clone(),
            demo: s.demo,
            verified_at: s.verified_at,
            nav: nav_origin
                .as_ref()
                .map(|o| links(o, s.location, &s.name, mode)),
        }
    };

    let (by, items) = match (by, rider) {
        (NearestOrder::Time, Some(rider)) => {
            let hits = by_time(rider, &query, time_limit).await?;
            let items = hits
                .iter()
                .map(|(s, ds)| {
                    let d = crate::index::distance_m(
                        &origin,
                        &origin.ecef(),
                        &s.location,
                        &s.location.ecef(),
                    );
                    item(s, d, Some(*ds))
                })
                .collect();
            (NearestOrder::Time, items)
        }
        (_, rider) => {
            let from_store: Vec<(Arc<crate::domain::Station>, f64)>;
            let hits = match config.nearest_engine {
                NearestEngine::Index => snapshot.nearest(&query),
                NearestEngine::Store => {
                    // Benchmark baseline: the database answers, the index only supplies the records.
                    let rows = store.nearest_in_store(origin, limit).await?;
                    from_store = rows
                        .into_iter()
                        .filter_map(|(id, d)| snapshot.get(id).map(|s| (s, d)))
                        .collect();
                    from_store
                        .iter()
                        .map(|(s, d)| crate::index::Hit {
                            station: s,
                            distance_m: *d,
                        })
                        .collect()
                }
            };
            let times: Vec<(i64, u32)> = match rider {
                Some(rider) => {
                    let ids: Vec<i64> = hits.iter().map(|h| h.station.id).collect();
                    tokio::task::spawn_blocking(move || rider.times_to(&ids, any_time))
                        .await
                        .map_err(|e| Error::Internal(anyhow::anyhow!("network minutes: {e}")))?
                }
                None => Vec::new(),
            };
            let time_of = |id: i64| times.iter().find(|t| t.0 == id).map(|t| t.1);
            let items = hits
                .into_iter()
                .map(|h| item(h.station, h.distance_m, time_of(h.station.id)))
                .collect();
            (NearestOrder::Distance, items)
        }
    };
    let (olon, olat) = crs.from_wgs84(origin);
    Ok(Json(NearestReply {
        items,
        by: network.is_some().then_some(by),
        origin: Origin {
            lat: round7(olat),
            lon: round7(olon),
            source,
            accuracy_km,
        },
        mode,
        crs,
    }))
}

/// Whole deciseconds in `minutes` (rounded down: a time is within the cap iff its
/// deciseconds are).
fn deciseconds(minutes: f64) -> u32 {
    (minutes * 600.0).floor() as u32
}

/// The `query.limit` stations matching its filters nearest by network time within `limit`
/// deciseconds: from the labels when they prove it, else by a search off the runtime.
async fn by_time(
    rider: RiderOnRoads,
    query: &NearestQuery,
    limit: u32,
) -> Result<Vec<(Arc<crate::domain::Station>, u32)>> {
    let snapshot = rider.labelled().snapshot.clone();
    let (amenities, open_at, k) = (query.amenities, query.open_at, query.limit);
    let allow = move |s: &crate::domain::Station| {
        s.amenities.contains_all(amenities) && open_at.is_none_or(|now| snapshot.is_open(s, now))
    };
    let (rider, hits) = match rider.nearest_by_labels(k, limit, &allow) {
        Some(hits) => (rider, hits),
        None => tokio::task::spawn_blocking(move || {
            let hits = rider.nearest_by_search(k, limit, allow);
            (rider, hits)
        })
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("nearest by time: {e}")))?,
    };
    Ok(hits
        .into_iter()
        .filter_map(|h| rider.labelled().station(h.station).map(|s| (s, h.time)))
        .collect())
}

/// Query of `GET /api/v1/stations`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `west,south,east,north` (in `crs`): west < east, south < north, at most 10° a side.
    #[param(required = true, value_type = Option<BboxSchema>, inline)]
    bbox: Option<String>,
    /// Comma-separated amenity keys the station must all have (blank entries are ignored).
    #[param(value_type = Option<AmenityListSchema>, inline)]
    amenities: Option<String>,
    /// Most features (default 2000); `truncated` says when more matched.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    limit: Option<String>,
    /// Coordinate system of bbox and output (default `wgs84`).
    #[param(value_type = Option<CrsSchema>, inline)]
    crs: Option<String>,
}

/// Stations in a box, as a GeoJSON FeatureCollection.
#[utoipa::path(
    get, path = "/api/v1/stations", tag = "stations",
    params(ListParams),
    responses(
        (status = 200, description = "GeoJSON FeatureCollection of stations; `truncated` when limit was hit", body = Object),
        (status = 400, description = "Missing, out-of-range, inverted or too large bbox; unknown amenity or parameter"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn list_stations(
    State(index): State<Arc<StationIndex>>,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<Json<Value>> {
    let crs = parse_crs(p.crs.as_deref())?;
    let raw = p.bbox.as_deref().ok_or_else(|| {
        Error::bad_request("invalid_bbox", "bbox=west,south,east,north is required")
    })?;
    let mut bbox: BBox = raw.parse()?;
    if crs != Crs::Wgs84 {
        let min = crs.parse_point(bbox.min.lon, bbox.min.lat)?;
        let max = crs.parse_point(bbox.max.lon, bbox.max.lat)?;
        bbox = BBox::new(min.lon, min.lat, max.lon, max.lat)?;
    }
    let amenities = AmenitySet::parse_list(p.amenities.as_deref().unwrap_or(""), ',')?;
    let limit = match &p.limit {
        None => BBOX_DEFAULT_LIMIT,
        Some(s) => s
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=BBOX_MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                Error::bad_request(
                    "invalid_limit",
                    format!("limit must be an integer in 1..={BBOX_MAX_LIMIT}, got {s:?}"),
                )
            })?,
    };
    let (stations, truncated) = index.load().in_bbox(&bbox, amenities, limit);
    let features: Vec<Value> = stations.iter().map(|s| station_feature(s, crs)).collect();
    Ok(Json(json!({
        "type": "FeatureCollection",
        "features": features,
        "truncated": truncated,
        "crs_name": crs,
    })))
}

/// Query of `GET /api/v1/stations/{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GetParams {
    /// Coordinate system of the output (default `wgs84`).
    #[param(value_type = Option<CrsSchema>, inline)]
    crs: Option<String>,
}

/// The ETag of a station version.
pub fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// One station; the `ETag` carries its version (for `If-Match` on edits).
#[utoipa::path(
    get, path = "/api/v1/stations/{id}", tag = "stations",
    params(("id" = i64, Path, description = "Station id"), GetParams),
    responses(
        (status = 200, description = "The station as a GeoJSON Feature", body = Object, headers(("ETag" = String))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Id not a 64-bit integer, unknown crs or parameter"),
        (status = 404, description = "No active station with this id"),
    )
)]
#[tracing::instrument(skip_all, fields(id))]
pub async fn get_station(
    State(index): State<Arc<StationIndex>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<GetParams>,
) -> Result<Response> {
    let crs = parse_crs(p.crs.as_deref())?;
    let id: i64 = id.parse().map_err(|_| {
        Error::bad_request(
            "invalid_id",
            format!("station id must be an integer, got {id:?}"),
        )
    })?;
    let s = index
        .load()
        .get(id)
        .ok_or_else(|| Error::NotFound(format!("no station with id {id}")))?;
    let tag = etag(s.version);
    // RFC 9110 §13.1.2: a list of tags, `*`, and weak comparison (`W/"3"` matches `"3"`).
    let current = format!("\"{}\"", s.version);
    let not_modified = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == current);
    if not_modified {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, tag)]).into_response());
    }
    Ok(([(header::ETAG, tag)], Json(station_feature(&s, crs))).into_response())
}
