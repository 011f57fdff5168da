//! `GET /api/v1/coverage`, `GET /api/v1/coverage/suggestions`, `POST /api/v1/coverage/what-if`:
//! the 15-minute circle measured on an H3 grid, for planners. Area figures are public; demand
//! figures need a planner or admin session.

use super::auth::MaybeUser;
use super::extract::{ApiJson, ApiQuery};
use super::openapi::{
    AdcodeSchema, BboxSchema, CrsSchema, DemandSchema, FormatSchema, ModeSchema, OpenSchema,
    TravelOneSchema, TravelSchema, WeightSchema,
};
use super::AppState;
use crate::coverage::service::{
    Area, CoverageError, CoverageResult, CoverageService, DemandSource,
};
use crate::coverage::table::counties_csv;
use crate::coverage::travel::TravelKind;
use crate::coverage::{Params, DEFAULT_RES};
pub use crate::coverage::{ATTRIBUTION, MAX_COVERAGE_MINUTES};
use crate::domain::{Account, Adcode, BBox, Crs, LonLat, Mode, Role};
use crate::error::{Error, Result};
use crate::index::StationIndex;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use h3o::Resolution;
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

/// Most suggestions one request returns.
pub const MAX_K: usize = 50;
/// Most hypothetical stations one what-if carries.
pub const MAX_WHAT_IF_STATIONS: usize = 100;
/// What `open` takes: all stations count, or only those open around the clock.
pub const OPEN_VALUES: [&str; 2] = ["any", "24h"];
/// What `format` takes.
pub const FORMATS: [&str; 3] = ["json", "cells", "csv"];
/// What `demand` takes.
pub const DEMAND_VALUES: [&str; 3] = ["import", "queries", "none"];
/// What `travel` takes on `GET /api/v1/coverage`.
pub const TRAVEL_VALUES: [&str; 3] = ["network", "straight_line", "both"];
/// What `travel` takes where one model answers (suggestions, what-if).
pub const TRAVEL_ONE_VALUES: [&str; 2] = ["network", "straight_line"];
/// What `weight` takes.
pub const WEIGHTS: [&str; 2] = ["area", "demand"];
/// How long a coverage request waits for the computation slot before a 503.
const COMPUTE_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The coverage routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_coverage))
        .routes(routes!(coverage_suggestions))
        .routes(routes!(coverage_what_if))
}

/// The query of `GET /api/v1/coverage`: where, how, how far, and in what format. Values arrive
/// as text and are parsed into [`Ask`] so every mistake gets a precise message.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CoverageParams {
    /// A province, city or county adcode (e.g. `360100`); or give `bbox` (one of the two).
    #[param(value_type = Option<AdcodeSchema>, inline)]
    region: Option<String>,
    /// `w,s,e,n` in WGS-84 degrees instead of a region (sides ≤ 10°).
    #[param(value_type = Option<BboxSchema>, inline)]
    bbox: Option<String>,
    /// Travel mode (default `walk`).
    #[param(value_type = Option<ModeSchema>, inline)]
    mode: Option<String>,
    /// Covered means a station within this many minutes (default 15).
    #[param(value_type = Option<f64>, exclusive_minimum = 0, maximum = 120)]
    minutes: Option<String>,
    /// H3 resolution (default 9, cells of ~0.1 km²).
    #[param(value_type = Option<u8>, minimum = 7, maximum = 10)]
    res: Option<String>,
    /// `any` (default: temporarily closed stations count too) or `24h` (only stations open
    /// around the clock).
    #[param(value_type = Option<OpenSchema>, inline)]
    open: Option<String>,
    /// `json` (default), `cells` (every cell's minutes) or `csv` (the county table).
    #[param(value_type = Option<FormatSchema>, inline)]
    format: Option<String>,
    /// Demand to weigh cells by: `import` (imported points; the default for planners and
    /// admins when some exist), `queries` (counted nearest-query origins) or `none`.
    /// `import` and `queries` need a planner or admin.
    #[param(value_type = Option<DemandSchema>, inline)]
    demand: Option<String>,
    /// How minutes are measured: `network` (the roads of the extract the service loaded;
    /// the default when one is loaded, else a 400), `straight_line` (the default without
    /// one) or `both` (`format=json` only: the figures and gaps of each under `by_travel`).
    #[param(value_type = Option<TravelSchema>, inline)]
    travel: Option<String>,
}

impl CoverageParams {
    /// The question these parameters ask (the parts every coverage endpoint shares).
    fn ask(&self) -> Result<Ask> {
        parse_ask(
            self.region.as_deref(),
            self.bbox.as_deref(),
            self.mode.as_deref(),
            self.minutes.as_deref(),
            self.res.as_deref(),
            self.open.as_deref(),
            self.demand.as_deref(),
        )
    }
}

/// The query of `GET /api/v1/coverage/suggestions`: the coverage question, and how many sites
/// to suggest by what weight.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SuggestionParams {
    /// A province, city or county adcode (e.g. `360100`); or give `bbox` (one of the two).
    #[param(value_type = Option<AdcodeSchema>, inline)]
    region: Option<String>,
    /// `w,s,e,n` in WGS-84 degrees instead of a region (sides ≤ 10°).
    #[param(value_type = Option<BboxSchema>, inline)]
    bbox: Option<String>,
    /// Travel mode (default `walk`).
    #[param(value_type = Option<ModeSchema>, inline)]
    mode: Option<String>,
    /// Covered means a station within this many minutes (default 15).
    #[param(value_type = Option<f64>, exclusive_minimum = 0, maximum = 120)]
    minutes: Option<String>,
    /// H3 resolution (default 9).
    #[param(value_type = Option<u8>, minimum = 7, maximum = 10)]
    res: Option<String>,
    /// `any` (default) or `24h` (only stations open around the clock).
    #[param(value_type = Option<OpenSchema>, inline)]
    open: Option<String>,
    /// Demand to weigh cells by (`import` and `queries` need a planner or admin).
    #[param(value_type = Option<DemandSchema>, inline)]
    demand: Option<String>,
    /// How many sites (default 10).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 50)]
    k: Option<String>,
    /// Maximise covered `area` (default) or `demand` (planner or admin).
    #[param(value_type = Option<WeightSchema>, inline)]
    weight: Option<String>,
    /// How minutes are measured: `network` (default when a road network is loaded, else a
    /// 400) or `straight_line` (default without one).
    #[param(value_type = Option<TravelOneSchema>, inline)]
    travel: Option<String>,
}

impl SuggestionParams {
    /// The coverage question these parameters ask.
    fn ask(&self) -> Result<Ask> {
        parse_ask(
            self.region.as_deref(),
            self.bbox.as_deref(),
            self.mode.as_deref(),
            self.minutes.as_deref(),
            self.res.as_deref(),
            self.open.as_deref(),
            self.demand.as_deref(),
        )
    }
}

/// A parsed coverage question.
#[derive(Debug, Clone)]
struct Ask {
    area: Area,
    res: Resolution,
    params: Params,
    /// Demand asked for explicitly (`Some(None)` is `demand=none`).
    demand: Option<Option<DemandSource>>,
}

fn parse_f64(name: &str, s: &str) -> Result<f64> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| {
            Error::bad_request(
                "invalid_query",
                format!("{name} must be a number, got {s:?}"),
            )
        })
}

/// Which travel models a question asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum TravelAsk {
    /// One model.
    One(TravelKind),
    /// The network and the straight line side by side.
    Both,
}

/// Parses `travel` (default: the network when one is loaded); `both` only where `allow_both`.
fn parse_travel(
    travel: Option<&str>,
    service: &CoverageService,
    allow_both: bool,
) -> Result<TravelAsk> {
    let ask = match travel {
        None => TravelAsk::One(service.default_travel()),
        Some("straight_line") => TravelAsk::One(TravelKind::StraightLine),
        Some("network") => TravelAsk::One(TravelKind::Network),
        Some("both") if allow_both => TravelAsk::Both,
        Some(t) => {
            let allowed = if allow_both {
                "network, straight_line or both"
            } else {
                "network or straight_line"
            };
            return Err(Error::bad_request(
                "invalid_travel",
                format!("travel must be {allowed}, got {t:?}"),
            ));
        }
    };
    if ask != TravelAsk::One(TravelKind::StraightLine) && !service.has_network() {
        return Err(Error::bad_request(
            "network_unavailable",
            CoverageError::NoNetwork.to_string(),
        ));
    }
    Ok(ask)
}

fn parse_area(region: Option<&str>, bbox: Option<&str>) -> Result<Area> {
    match (region, bbox) {
        (Some(r), None) => Ok(Area::Region(r.parse::<Adcode>()?)),
        (None, Some(b)) => {
            let parts: Vec<&str> = b.split(',').collect();
            if parts.len() != 4 {
                return Err(Error::bad_request(
                    "invalid_bbox",
                    format!("bbox must be w,s,e,n, got {b:?}"),
                ));
            }
            let v: Vec<f64> = parts
                .iter()
                .map(|p| parse_f64("bbox", p))
                .collect::<Result<_>>()?;
            Ok(Area::bbox(&BBox::new(v[0], v[1], v[2], v[3])?))
        }
        (Some(_), Some(_)) => Err(Error::bad_request(
            "invalid_query",
            "give either region or bbox, not both",
        )),
        (None, None) => Err(Error::bad_request(
            "invalid_query",
            "give region=ADCODE (e.g. 360100) or bbox=w,s,e,n",
        )),
    }
}

fn parse_ask(
    region: Option<&str>,
    bbox: Option<&str>,
    mode: Option<&str>,
    minutes: Option<&str>,
    res: Option<&str>,
    open: Option<&str>,
    demand: Option<&str>,
) -> Result<Ask> {
    let area = parse_area(region, bbox)?;
    let mode: Mode = mode.map(str::parse).transpose()?.unwrap_or_default();
    let minutes = minutes
        .map(|m| parse_f64("minutes", m))
        .transpose()?
        .unwrap_or(15.0);
    if !(minutes > 0.0 && minutes <= MAX_COVERAGE_MINUTES) {
        return Err(Error::bad_request(
            "invalid_minutes",
            format!("minutes must be in (0, {MAX_COVERAGE_MINUTES}], got {minutes}"),
        ));
    }
    let res = match res {
        None => DEFAULT_RES,
        Some(s) => s
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|r| (7..=10).contains(r))
            .and_then(|r| Resolution::try_from(r).ok())
            .ok_or_else(|| {
                Error::bad_request(
                    "invalid_res",
                    format!("res must be an H3 resolution from 7 to 10, got {s:?}"),
                )
            })?,
    };
    let only_24h = match open {
        None | Some("any") => false,
        Some("24h") => true,
        Some(o) => {
            return Err(Error::bad_request(
                "invalid_open",
                format!("open must be any or 24h, got {o:?}"),
            ))
        }
    };
    let demand = match demand {
        None => None,
        Some("none") => Some(None),
        Some("import") => Some(Some(DemandSource::Imported)),
        Some("queries") => Some(Some(DemandSource::Queries)),
        Some(d) => {
            return Err(Error::bad_request(
                "invalid_demand",
                format!("demand must be import, queries or none, got {d:?}"),
            ))
        }
    };
    Ok(Ask {
        area,
        res,
        params: Params {
            mode,
            minutes,
            only_24h,
        },
        demand,
    })
}

/// Whether an account may read demand data (planners and admins).
fn reads_demand(user: Option<&Account>) -> bool {
    user.is_some_and(|a| matches!(a.role, Role::Admin | Role::Planner))
}

/// The demand a request gets: what it asked for if it may read demand (401/403 if it may not),
/// imported demand by default for those who may, none for everyone else.
fn demand_for(ask: &Ask, user: Option<&Account>) -> Result<Option<DemandSource>> {
    match ask.demand {
        Some(None) => Ok(None),
        Some(Some(source)) => {
            require_demand_reader(user)?;
            Ok(Some(source))
        }
        None => Ok(reads_demand(user).then_some(DemandSource::Imported)),
    }
}

fn require_demand_reader(user: Option<&Account>) -> Result<()> {
    match user {
        None => Err(Error::Unauthorized(
            "demand data needs a planner or admin session (POST /api/v1/auth/login)".into(),
        )),
        Some(a) if !reads_demand(Some(a)) => Err(Error::Forbidden(format!(
            "{} is a {}; demand data needs a planner or admin",
            a.login, a.role
        ))),
        Some(_) => Ok(()),
    }
}

impl From<CoverageError> for Error {
    fn from(e: CoverageError) -> Self {
        match e {
            CoverageError::UnknownRegion(_) => Error::NotFound(e.to_string()),
            CoverageError::NoCounties(_) => Error::NotFound(e.to_string()),
            CoverageError::Grid(crate::coverage::grid::GridError::TooLarge { .. }) => {
                Error::bad_request("region_too_large", e.to_string())
            }
            CoverageError::NoNetwork => Error::bad_request("network_unavailable", e.to_string()),
            CoverageError::Grid(g) => Error::Internal(anyhow::anyhow!(g)),
        }
    }
}

/// Runs a coverage computation on a blocking thread.
async fn measure(
    service: Arc<CoverageService>,
    index: &StationIndex,
    travel: TravelKind,
    ask: &Ask,
    demand: Option<DemandSource>,
    extra: Vec<LonLat>,
) -> Result<(Arc<CoverageResult>, bool)> {
    let snapshot = index.load();
    let (area, res, params) = (ask.area, ask.res, ask.params);
    // One computation at a time (each uses every core): others queue for a while, then are
    // told to come back rather than piling up CPU and memory.
    let _permit = tokio::time::timeout(COMPUTE_QUEUE_WAIT, service.compute_permit())
        .await
        .map_err(|_| Error::Busy {
            message: "coverage computations are queued; try again shortly".into(),
            retry_after_s: 10,
        })?;
    let out = tokio::task::spawn_blocking(move || {
        service.coverage_by(travel, area, res, params, &snapshot, demand, &extra)
    })
    .await
    .map_err(|e| Error::Internal(anyhow::anyhow!("coverage task: {e}")))??;
    Ok(out)
}

/// The JSON body of a coverage reply (the gaps spliced in as they were written).
fn coverage_body(
    service: &CoverageService,
    ask: &Ask,
    r: &CoverageResult,
    cached: bool,
) -> serde_json::Value {
    let mut body = json!({
        "region": service.describe_area(ask.area),
        "mode": ask.params.mode,
        "minutes": ask.params.minutes,
        "res": u8::from(ask.res),
        "open": if ask.params.only_24h { "24h" } else { "any" },
        "demand": r.demand.map(DemandSource::as_str),
        "data_version": r.data_version,
        "attribution": ATTRIBUTION,
    });
    if let (Some(b), serde_json::Value::Object(m)) = (
        body.as_object_mut(),
        travel_figures(service, ask, r, cached),
    ) {
        b.extend(m);
    }
    body
}

/// What one travel model measured: its name, reach, timing, figures and gaps.
fn travel_figures(
    service: &CoverageService,
    ask: &Ask,
    r: &CoverageResult,
    cached: bool,
) -> serde_json::Value {
    let reach_m = service.reach_m(r.travel, ask.params.mode, ask.params.minutes);
    let gaps: Box<RawValue> = RawValue::from_string(r.gaps_geojson.clone())
        .unwrap_or_else(|_| RawValue::from_string("null".into()).unwrap_or_default());
    json!({
        "travel": r.travel.as_str(),
        "reach_m": reach_m,
        "computed_ms": r.computed_ms,
        "cached": cached,
        "total": r.coverage.total,
        "counties": r.counties_worst_first,
        "gaps": gaps,
    })
}

/// Every cell's minutes as `{"res","travel","cells":[{"cell","minutes","covered","county"}]}`
/// (`covered` null and `no_road_access` true for a cell without road access).
fn cells_body(r: &CoverageResult) -> String {
    use std::fmt::Write;
    let g = &r.grid;
    let mut out = String::with_capacity(g.len() * 64 + 64);
    out.push_str("{\"res\":");
    let _ = write!(
        out,
        "{},\"travel\":\"{}\"",
        u8::from(g.res),
        r.travel.as_str()
    );
    out.push_str(",\"cells\":[");
    for i in 0..g.len() {
        if i > 0 {
            out.push(',');
        }
        let m = r.coverage.minutes[i];
        let county = g
            .counties
            .get(usize::from(g.county[i]))
            .map(|c| format!("\"{}\"", c.adcode))
            .unwrap_or_else(|| "null".into());
        let minutes = if m.is_finite() {
            format!("{:.2}", m)
        } else {
            "null".into()
        };
        // A cell without road access is neither covered nor uncovered.
        let covered = if r.coverage.access[i] {
            if r.coverage.covered[i] {
                "true"
            } else {
                "false"
            }
        } else {
            "null,\"no_road_access\":true"
        };
        let _ = write!(
            out,
            "{{\"cell\":\"{}\",\"minutes\":{minutes},\"covered\":{covered},\"area_km2\":{:.6},\"county\":{county}}}",
            g.cells[i], g.area_km2[i]
        );
    }
    out.push_str("]}");
    out
}

/// Coverage of a region: per-county figures worst first, totals, and the uncovered areas.
#[utoipa::path(
    get, path = "/api/v1/coverage", tag = "coverage",
    params(CoverageParams),
    responses(
        (status = 200, description = "Figures per county, totals, gaps as GeoJSON MultiPolygons (or every cell with format=cells, or CSV with format=csv)",
         content((Object = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Invalid or unknown parameter, neither or both of region and bbox, an area too large for the resolution, or travel=network without a road network (`network_unavailable`)"),
        (status = 401, description = "demand asked for without a session"),
        (status = 403, description = "demand asked for by a manager"),
        (status = 404, description = "Unknown region, or a region without counties"),
        (status = 503, description = "Coverage computations are queued; try again later", headers(("Retry-After" = u64))),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn get_coverage(
    State(service): State<Arc<CoverageService>>,
    State(index): State<Arc<StationIndex>>,
    MaybeUser(user): MaybeUser,
    ApiQuery(p): ApiQuery<CoverageParams>,
) -> Result<Response> {
    let ask = p.ask()?;
    let format = p.format.as_deref().unwrap_or("json");
    if !FORMATS.contains(&format) {
        return Err(Error::bad_request(
            "invalid_format",
            format!("format must be json, cells or csv, got {format:?}"),
        ));
    }
    let demand = demand_for(&ask, user.as_ref())?;
    let travel = match parse_travel(p.travel.as_deref(), &service, true)? {
        TravelAsk::One(kind) => kind,
        TravelAsk::Both if format != "json" => {
            return Err(Error::bad_request(
                "invalid_travel",
                format!("travel=both answers in format=json only, got format={format}"),
            ))
        }
        TravelAsk::Both => return coverage_both(service, &index, &ask, demand).await,
    };
    let (r, cached) = measure(service.clone(), &index, travel, &ask, demand, Vec::new()).await?;
    Ok(match format {
        "csv" => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            counties_csv(&r).map_err(|e| Error::Internal(anyhow::anyhow!("writing CSV: {e}")))?,
        )
            .into_response(),
        "cells" => {
            let body = tokio::task::spawn_blocking(move || cells_body(&r))
                .await
                .map_err(|e| Error::Internal(anyhow::anyhow!("cells task: {e}")))?;
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        _ => axum::Json(coverage_body(&service, &ask, &r, cached)).into_response(),
    })
}

/// Coverage by the network and by the straight line side by side: the shared fields once,
/// `"travel":"both"`, and each model's figures and gaps under `by_travel`.
async fn coverage_both(
    service: Arc<CoverageService>,
    index: &StationIndex,
    ask: &Ask,
    demand: Option<DemandSource>,
) -> Result<Response> {
    let mut body = json!({});
    let mut by_travel = serde_json::Map::new();
    for kind in [TravelKind::Network, TravelKind::StraightLine] {
        let (r, cached) = measure(service.clone(), index, kind, ask, demand, Vec::new()).await?;
        let mut one = coverage_body(&service, ask, &r, cached);
        let figures = travel_figures(&service, ask, &r, cached);
        if let (Some(o), serde_json::Value::Object(f)) = (one.as_object_mut(), &figures) {
            for k in f.keys() {
                o.remove(k);
            }
        }
        body = one;
        by_travel.insert(kind.as_str().to_string(), figures);
    }
    body["travel"] = json!("both");
    body["by_travel"] = serde_json::Value::Object(by_travel);
    Ok(axum::Json(body).into_response())
}

/// One suggested site.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestionItem {
    /// 1 for the best.
    pub rank: usize,
    /// The H3 cell whose centre is the site.
    pub cell: String,
    /// Latitude, WGS-84.
    pub lat: f64,
    /// Longitude, WGS-84.
    pub lon: f64,
    /// The county it lies in.
    #[schema(value_type = Object)]
    pub county: serde_json::Value,
    /// Newly covered area, km².
    pub adds_km2: f64,
    /// Newly covered cells.
    pub adds_cells: u64,
    /// Newly covered demand (when demand is known to the caller).
    pub adds_demand: Option<f64>,
    /// Covered area after this site and those before it, km².
    pub total_covered_km2: f64,
    /// Covered share after this site and those before it.
    pub total_covered_share: f64,
    /// Covered demand after this site and those before it.
    pub total_covered_demand: Option<f64>,
}

/// Where to build next: k sites chosen greedily (CELF) to cover the most uncovered area or demand.
#[utoipa::path(
    get, path = "/api/v1/coverage/suggestions", tag = "coverage",
    params(SuggestionParams),
    responses(
        (status = 200, description = "Suggested sites with what each adds and the running totals", body = Object),
        (status = 400, description = "Invalid or unknown parameter, neither or both of region and bbox, an area too large for the resolution, or travel=network without a road network (`network_unavailable`)"),
        (status = 401, description = "weight=demand or demand asked for without a session"),
        (status = 403, description = "weight=demand or demand asked for by a manager"),
        (status = 404, description = "Unknown region, or a region without counties"),
        (status = 409, description = "weight=demand and no demand data of that kind (`no_demand`)"),
        (status = 503, description = "Coverage computations are queued; try again later", headers(("Retry-After" = u64))),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn coverage_suggestions(
    State(service): State<Arc<CoverageService>>,
    State(index): State<Arc<StationIndex>>,
    MaybeUser(user): MaybeUser,
    ApiQuery(p): ApiQuery<SuggestionParams>,
) -> Result<Response> {
    let ask = p.ask()?;
    let k = match p.k.as_deref() {
        None => 10,
        Some(s) => s
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|k| (1..=MAX_K).contains(k))
            .ok_or_else(|| {
                Error::bad_request(
                    "invalid_k",
                    format!("k must be an integer in 1..={MAX_K}, got {s:?}"),
                )
            })?,
    };
    let by_demand = match p.weight.as_deref() {
        None | Some("area") => false,
        Some("demand") => {
            require_demand_reader(user.as_ref())?;
            true
        }
        Some(w) => {
            return Err(Error::bad_request(
                "invalid_weight",
                format!("weight must be area or demand, got {w:?}"),
            ))
        }
    };
    let mut demand = demand_for(&ask, user.as_ref())?;
    if by_demand && demand.is_none() {
        demand = Some(DemandSource::Imported);
    }
    let TravelAsk::One(travel) = parse_travel(p.travel.as_deref(), &service, false)? else {
        return Err(Error::bad_request(
            "invalid_travel",
            "travel=both is for GET /api/v1/coverage",
        ));
    };
    let (r, _) = measure(service.clone(), &index, travel, &ask, demand, Vec::new()).await?;
    if by_demand && r.demand.is_none() {
        return Err(Error::Conflict {
            code: "no_demand",
            message:
                "no demand data of that kind: import some (yizhan demand import) or use weight=area"
                    .into(),
        });
    }
    let started = std::time::Instant::now();
    let params = ask.params;
    let (svc, res) = (service.clone(), r.clone());
    let picks = tokio::task::spawn_blocking(move || svc.suggestions(&res, params, by_demand, k))
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("suggestions task: {e}")))?;
    let grid = &r.grid;
    let items: Vec<SuggestionItem> = picks
        .into_iter()
        .map(|s| {
            let county = grid
                .counties
                .get(usize::from(grid.county[s.position]))
                .map(|c| json!({"adcode": c.adcode.to_string(), "name": c.name}))
                .unwrap_or(serde_json::Value::Null);
            SuggestionItem {
                rank: s.rank,
                cell: s.cell,
                lat: s.lat,
                lon: s.lon,
                county,
                adds_km2: s.adds_km2,
                adds_cells: s.adds_cells,
                adds_demand: s.adds_demand,
                total_covered_km2: s.total_covered_km2,
                total_covered_share: s.total_covered_share,
                total_covered_demand: s.total_covered_demand,
            }
        })
        .collect();
    Ok(axum::Json(json!({
        "region": service.describe_area(ask.area),
        "mode": ask.params.mode,
        "minutes": ask.params.minutes,
        "res": u8::from(ask.res),
        "open": if ask.params.only_24h { "24h" } else { "any" },
        "travel": r.travel.as_str(),
        "weight": if by_demand { "demand" } else { "area" },
        "demand": r.demand.map(DemandSource::as_str),
        "k": k,
        "data_version": r.data_version,
        "computed_ms": r.computed_ms + started.elapsed().as_millis() as u64,
        "total_before": r.coverage.total,
        "suggestions": items,
        "attribution": ATTRIBUTION,
    }))
    .into_response())
}

/// A hypothetical station of a what-if question.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HypotheticalStation {
    /// Latitude (in `crs`).
    #[schema(minimum = -90, maximum = 90)]
    pub lat: f64,
    /// Longitude (in `crs`).
    #[schema(minimum = -180, maximum = 180)]
    pub lon: f64,
}

/// Body of `POST /api/v1/coverage/what-if`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatIfRequest {
    /// A region adcode (or give `bbox`: one of the two).
    #[schema(value_type = Option<AdcodeSchema>)]
    pub region: Option<String>,
    /// `[w, s, e, n]` instead of a region (west < east, south < north, sides ≤ 10°).
    #[schema(value_type = Option<Vec<f64>>, min_items = 4, max_items = 4)]
    pub bbox: Option<[f64; 4]>,
    /// Travel mode (default `walk`).
    #[schema(value_type = Option<ModeSchema>)]
    pub mode: Option<String>,
    /// Minutes (default 15).
    #[schema(exclusive_minimum = 0, maximum = 120)]
    pub minutes: Option<f64>,
    /// H3 resolution (default 9).
    #[schema(minimum = 7, maximum = 10)]
    pub res: Option<u8>,
    /// `any` (default) or `24h`.
    #[schema(value_type = Option<OpenSchema>)]
    pub open: Option<String>,
    /// Demand to weigh cells by (`import` and `queries` need a planner or admin).
    #[schema(value_type = Option<DemandSchema>)]
    pub demand: Option<String>,
    /// Coordinate system of the stations (default `wgs84`).
    #[schema(value_type = Option<CrsSchema>)]
    pub crs: Option<String>,
    /// `network` (default when a road network is loaded, else a 400) or `straight_line`.
    #[schema(value_type = Option<TravelOneSchema>)]
    pub travel: Option<String>,
    /// Stations as if they existed; nothing is saved.
    #[schema(min_items = 1, max_items = 100)]
    pub stations: Vec<HypotheticalStation>,
}

/// Coverage as if some stations existed (nothing is saved): the same figures as `GET
/// /api/v1/coverage`, plus the totals without them.
#[utoipa::path(
    post, path = "/api/v1/coverage/what-if", tag = "coverage",
    request_body = WhatIfRequest,
    responses(
        (status = 200, description = "Coverage with the hypothetical stations, and `before`", body = Object),
        (status = 400, description = "Invalid JSON or body, neither or both of region and bbox, an area too large for the resolution, or travel=network without a road network (`network_unavailable`)"),
        (status = 401, description = "demand asked for without a session"),
        (status = 403, description = "demand asked for by a manager"),
        (status = 404, description = "Unknown region, or a region without counties"),
        (status = 413, description = "Body larger than 64 KiB"),
        (status = 503, description = "Coverage computations are queued; try again later", headers(("Retry-After" = u64))),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn coverage_what_if(
    State(service): State<Arc<CoverageService>>,
    State(index): State<Arc<StationIndex>>,
    MaybeUser(user): MaybeUser,
    ApiJson(body): ApiJson<WhatIfRequest>,
) -> Result<Response> {
    let bbox = body
        .bbox
        .map(|b| format!("{},{},{},{}", b[0], b[1], b[2], b[3]));
    let minutes = body.minutes.map(|m| m.to_string());
    let res = body.res.map(|r| r.to_string());
    let ask = parse_ask(
        body.region.as_deref(),
        bbox.as_deref(),
        body.mode.as_deref(),
        minutes.as_deref(),
        res.as_deref(),
        body.open.as_deref(),
        body.demand.as_deref(),
    )?;
    if body.stations.is_empty() || body.stations.len() > MAX_WHAT_IF_STATIONS {
        return Err(Error::bad_request(
            "invalid_stations",
            format!(
                "stations must list 1 to {MAX_WHAT_IF_STATIONS} positions, got {}",
                body.stations.len()
            ),
        ));
    }
    let crs: Crs = body
        .crs
        .as_deref()
        .map(str::parse)
        .transpose()?
        .unwrap_or_default();
    let extra: Vec<LonLat> = body
        .stations
        .iter()
        .map(|s| crs.parse_point(s.lon, s.lat))
        .collect::<Result<_, _>>()?;
    let demand = demand_for(&ask, user.as_ref())?;
    let TravelAsk::One(travel) = parse_travel(body.travel.as_deref(), &service, false)? else {
        return Err(Error::bad_request(
            "invalid_travel",
            "travel=both is for GET /api/v1/coverage",
        ));
    };
    let (before, _) = measure(service.clone(), &index, travel, &ask, demand, Vec::new()).await?;
    let (after, _) = measure(service.clone(), &index, travel, &ask, demand, extra.clone()).await?;
    let mut reply = coverage_body(&service, &ask, &after, false);
    reply["before"] = serde_json::to_value(&before.coverage.total).unwrap_or_default();
    reply["hypothetical"] = json!(extra.len());
    Ok(axum::Json(reply).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_travel_is_accepted_and_network_needs_one() {
        use crate::coverage::service::DemandData;
        use crate::coverage::travel::StraightLine;
        let model = || {
            Arc::new(StraightLine {
                model: crate::domain::TravelModel::default(),
            })
        };
        let plain = CoverageService::new(model(), Default::default(), DemandData::default());
        // Any second model stands in for a network here: only the parsing is tested.
        let with = CoverageService::new(model(), Default::default(), DemandData::default())
            .with_network(model());
        for t in TRAVEL_VALUES {
            assert!(parse_travel(Some(t), &with, true).is_ok(), "{t}");
        }
        for t in TRAVEL_ONE_VALUES {
            assert!(parse_travel(Some(t), &with, false).is_ok(), "{t}");
        }
        assert!(parse_travel(Some("both"), &with, false).is_err());
        assert!(parse_travel(Some("roads"), &with, true).is_err());
        assert_eq!(
            parse_travel(None, &with, true).ok(),
            Some(TravelAsk::One(TravelKind::Network))
        );
        assert_eq!(
            parse_travel(None, &plain, true).ok(),
            Some(TravelAsk::One(TravelKind::StraightLine))
        );
        for t in ["network", "both"] {
            assert!(parse_travel(Some(t), &plain, true).is_err(), "{t}");
        }
    }

    #[test]
    fn every_documented_value_is_accepted() {
        let ask = |open: Option<&str>, demand: Option<&str>| {
            parse_ask(Some("360102"), None, None, None, None, open, demand)
        };
        for open in OPEN_VALUES {
            assert!(ask(Some(open), None).is_ok(), "{open}");
        }
        for demand in DEMAND_VALUES {
            assert!(ask(None, Some(demand)).is_ok(), "{demand}");
        }
        assert!(ask(Some("always"), None).is_err());
        assert!(ask(None, Some("")).is_err());
        for mode in crate::domain::Mode::ALL {
            let a = parse_ask(
                Some("360102"),
                None,
                Some(mode.as_str()),
                None,
                None,
                None,
                None,
            );
            assert_eq!(a.map(|a| a.params.mode).ok(), Some(mode));
        }
    }
}
