//! Rider problem reports (纠错): anyone files one about a station (rate limited per client
//! address), the station's managers and admins list and resolve them. Reports are messages to
//! the managers; they never change the station.

use super::auth::CurrentUser;
use super::extract::{ApiJson, ApiQuery, ClientIp};
use super::openapi::{
    AmenitySchema, ReportKindSchema, ReportStatusSchema, RequiredTextSchema, ResolvedSchema,
    StatusFilterSchema, TextSchema,
};
use super::station_edits::parse_id;
use super::AppState;
use crate::auth::RateLimiter;
use crate::domain::audit::Actor;
use crate::domain::report::{
    InboxReport, NewReport, Report, ReportScope, ReportStatus, Resolution,
};
use crate::domain::Role;
use crate::error::{Error, Result};
use crate::store::Store;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

/// Most reports one list returns (newest first).
pub const REPORTS_LIST_MAX: usize = 500;

/// The report routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_report, list_station_reports))
        .routes(routes!(resolve_report))
        .routes(routes!(list_reports))
}

// ---- rate limit ----------------------------------------------------------------------------

/// Reports accepted per client address per hour.
pub struct ReportLimiter(RateLimiter<IpAddr>);

impl ReportLimiter {
    /// At most `per_hour` reports from one client address (an IPv6 client: one /64) per hour.
    pub fn new(per_hour: u32) -> Self {
        Self(RateLimiter::new(per_hour, Duration::from_secs(3600)))
    }

    /// Counts one report from `ip`, or 429 with the seconds until the next one is accepted.
    pub fn check(&self, ip: Option<IpAddr>) -> Result<()> {
        self.0
            .check(&limiter_key(ip))
            .map_err(|retry_after_s| Error::TooManyRequests { retry_after_s })
    }
}

/// The quota a client address draws on. An IPv6 subscriber usually holds a whole /64, so the
/// /64 is one client (else changing the interface id would reset the quota); an IPv4-mapped
/// address is its IPv4 address. Without an address (no socket info) everyone shares one quota.
fn limiter_key(ip: Option<IpAddr>) -> IpAddr {
    match ip.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V6(v6)) => {
            let prefix = u128::from(v6) & (u128::MAX << 64);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        Some(v4) => v4,
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

// ---- views ---------------------------------------------------------------------------------

/// A position, WGS-84 degrees (rounded to 3 decimals for reporters).
#[derive(Debug, Serialize, ToSchema)]
pub struct PositionView {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
}

/// A report as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportView {
    /// Report id.
    pub id: i64,
    /// The station it is about.
    pub station_id: i64,
    /// What is wrong.
    #[schema(value_type = ReportKindSchema, example = "amenity_broken")]
    pub kind: &'static str,
    /// The broken amenity's key (kind `amenity_broken` only).
    #[schema(value_type = Option<AmenitySchema>, example = "hot_water")]
    pub amenity: Option<&'static str>,
    /// The rider's note.
    pub note: Option<String>,
    /// The reporter's position rounded to ~100 m; only the reporter (in the reply to the POST)
    /// and the station's managers see it, `null` otherwise or when none was given.
    pub position: Option<PositionView>,
    /// `open` or `resolved`.
    #[schema(value_type = ReportStatusSchema, example = "open")]
    pub status: &'static str,
    /// When it was filed.
    pub created_at: DateTime<Utc>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The login of who resolved it.
    pub resolved_by: Option<String>,
    /// What was done.
    pub resolution: Option<String>,
}

impl ReportView {
    /// The view of a report; `show_position` only for its reporter and the station's managers.
    pub fn new(r: Report, show_position: bool) -> Self {
        Self {
            id: r.id,
            station_id: r.station_id,
            kind: r.kind.as_str(),
            amenity: r.amenity.map(|a| a.key()),
            note: r.note,
            position: r.position.filter(|_| show_position).map(|p| PositionView {
                lat: p.lat,
                lon: p.lon,
            }),
            status: r.status.as_str(),
            created_at: r.created_at,
            resolved_at: r.resolved_at,
            resolved_by: r.resolved_by,
            resolution: r.resolution,
        }
    }
}

/// A report in a manager's inbox: the report and which station it is about.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboxReportView {
    /// The report.
    #[serde(flatten)]
    pub report: ReportView,
    /// The station's union code.
    pub station_code: String,
    /// The station's name.
    pub station_name: String,
}

/// `{"items":[…]}` of one station.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportList {
    /// Newest first.
    pub items: Vec<ReportView>,
}

/// `{"items":[…]}` of a manager's inbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboxList {
    /// Newest first.
    pub items: Vec<InboxReportView>,
}

/// A reply managers' browsers and proxies must not keep: it carries reporters' positions.
fn private(status: StatusCode, body: impl Serialize) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

// ---- requests ------------------------------------------------------------------------------

/// Body of `POST /api/v1/stations/{id}/reports`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReport {
    /// What is wrong.
    #[schema(value_type = ReportKindSchema, example = "amenity_broken")]
    pub kind: String,
    /// The broken amenity: given exactly when kind is `amenity_broken` (else a 400).
    #[serde(default)]
    #[schema(value_type = Option<AmenitySchema>, example = "hot_water")]
    pub amenity: Option<String>,
    /// Free text, at most 500 characters, no control characters except newlines.
    #[serde(default)]
    #[schema(value_type = Option<TextSchema>)]
    pub note: Option<String>,
    /// Reporter's latitude, WGS-84 (with lon, or neither). Stored rounded to 3 decimals.
    #[serde(default)]
    #[schema(value_type = f64, minimum = -90, maximum = 90)]
    pub lat: Option<f64>,
    /// Reporter's longitude, WGS-84.
    #[serde(default)]
    #[schema(value_type = f64, minimum = -180, maximum = 180)]
    pub lon: Option<f64>,
}

/// Body of `PATCH /api/v1/stations/{id}/reports/{rid}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveReport {
    /// `resolved` (the only change a report takes).
    #[schema(value_type = ResolvedSchema)]
    pub status: String,
    /// What was done, 1 to 500 characters (not blank).
    #[serde(default)]
    #[schema(value_type = RequiredTextSchema, required = true, example = "热水器已修好")]
    pub resolution: Option<String>,
}

/// `?status=` of the report lists.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusFilter {
    /// Which reports (default `open`).
    #[param(value_type = Option<StatusFilterSchema>, inline)]
    pub status: Option<String>,
}

impl StatusFilter {
    fn parse(&self) -> Result<Option<ReportStatus>> {
        Ok(ReportStatus::parse_filter(self.status.as_deref())?)
    }
}

fn parse_report_id(rid: &str) -> Result<i64> {
    rid.parse().map_err(|_| {
        Error::bad_request(
            "invalid_id",
            format!("report id must be an integer, got {rid:?}"),
        )
    })
}

/// The document says what [`NewReport::parse`] requires of `lat`/`lon`: both or neither.
pub fn document_position_pairs(doc: &mut utoipa::openapi::OpenApi) {
    super::openapi::dependent_required(
        doc,
        "CreateReport",
        &[("lat", &["lon"]), ("lon", &["lat"])],
    );
}

// ---- routes --------------------------------------------------------------------------------

/// Files a problem report about a station (anyone; rate limited per client address).
/// The station itself is not changed: its managers see the report and act on it.
#[utoipa::path(
    post, path = "/api/v1/stations/{id}/reports", tag = "reports",
    params(("id" = i64, Path, description = "Station id")),
    request_body = CreateReport,
    responses(
        (status = 201, description = "Filed; the reply shows the reporter the stored (rounded) position", body = ReportView),
        (status = 400, description = "Invalid id, JSON or report, or an unknown field"),
        (status = 404, description = "No active station with this id"),
        (status = 413, description = "Body larger than 64 KiB"),
        (status = 429, description = "Too many reports from this address", headers(("Retry-After" = u64))),
    )
)]
#[tracing::instrument(skip_all, fields(id))]
pub async fn create_report(
    State(store): State<Arc<dyn Store>>,
    State(limiter): State<Arc<ReportLimiter>>,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CreateReport>,
) -> Result<Response> {
    let id = parse_id(&id)?;
    let new = NewReport::parse(
        &body.kind,
        body.amenity.as_deref(),
        body.note.as_deref(),
        body.lat,
        body.lon,
    )?;
    // Counted after validation (a typo costs no quota) and before the store (so unknown
    // stations cannot be probed without limit).
    limiter.check(ip)?;
    let report = store.create_report(id, &new, Utc::now()).await?;
    // Neither the note nor the position is logged: they are the rider's.
    tracing::info!(station = id, report = report.id, kind = %report.kind, "report filed");
    Ok(private(StatusCode::CREATED, ReportView::new(report, true)))
}

/// Reports about one station, newest first (manager of the station, or admin).
#[utoipa::path(
    get, path = "/api/v1/stations/{id}/reports", tag = "reports",
    params(("id" = i64, Path, description = "Station id"), StatusFilter),
    responses(
        (status = 200, description = "At most 500, newest first", body = ReportList),
        (status = 400, description = "Invalid id, status filter or parameter"),
        (status = 401, description = "Not logged in"), (status = 403, description = "Not a manager of this station"),
        (status = 404, description = "No such station"),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[tracing::instrument(skip_all, fields(id))]
pub async fn list_station_reports(
    State(store): State<Arc<dyn Store>>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    ApiQuery(filter): ApiQuery<StatusFilter>,
) -> Result<Response> {
    let id = parse_id(&id)?;
    user.require_manager_of(id)?;
    let status = filter.parse()?;
    if !store.station_exists(id).await? {
        return Err(Error::NotFound(format!("no station with id {id}")));
    }
    let items = store
        .reports_of_station(id, status, REPORTS_LIST_MAX)
        .await?
        .into_iter()
        .map(|r| ReportView::new(r, true))
        .collect();
    Ok(private(StatusCode::OK, ReportList { items }))
}

/// The caller's inbox: reports about every station they manage (admins: all; planners: none),
/// newest first,
/// each with the station's code and name.
#[utoipa::path(
    get, path = "/api/v1/reports", tag = "reports",
    params(StatusFilter),
    responses(
        (status = 200, description = "At most 500, newest first", body = InboxList),
        (status = 400, description = "Invalid status filter or parameter"),
        (status = 401, description = "Not logged in"),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_reports(
    State(store): State<Arc<dyn Store>>,
    CurrentUser(user): CurrentUser,
    ApiQuery(filter): ApiQuery<StatusFilter>,
) -> Result<Response> {
    let status = filter.parse()?;
    let scope = match user.role {
        Role::Admin => ReportScope::All,
        // A planner manages no station: its inbox is empty, like a manager's without one.
        Role::Manager => ReportScope::Stations(&user.stations),
        Role::Planner => ReportScope::Stations(&[]),
    };
    let items = store
        .reports_for(scope, status, REPORTS_LIST_MAX)
        .await?
        .into_iter()
        .map(|i: InboxReport| InboxReportView {
            report: ReportView::new(i.report, true),
            station_code: i.station_code,
            station_name: i.station_name,
        })
        .collect();
    Ok(private(StatusCode::OK, InboxList { items }))
}

/// Resolves a report with a note saying what was done (manager of the station, or admin).
/// Resolving changes only the report; any fix to the station is its own edit.
#[utoipa::path(
    patch, path = "/api/v1/stations/{id}/reports/{rid}", tag = "reports",
    params(("id" = i64, Path, description = "Station id"), ("rid" = i64, Path, description = "Report id")),
    request_body = ResolveReport,
    responses(
        (status = 200, description = "The resolved report", body = ReportView),
        (status = 400, description = "Invalid ids, JSON or body, or an unknown field"),
        (status = 401, description = "Not logged in"), (status = 403, description = "Not a manager of this station"),
        (status = 404, description = "This station has no such report"),
        (status = 409, description = "Already resolved (`already_resolved`)"),
        (status = 413, description = "Body larger than 64 KiB"),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[tracing::instrument(skip_all, fields(id, rid))]
pub async fn resolve_report(
    State(store): State<Arc<dyn Store>>,
    CurrentUser(user): CurrentUser,
    Path((id, rid)): Path<(String, String)>,
    ApiJson(body): ApiJson<ResolveReport>,
) -> Result<Response> {
    let id = parse_id(&id)?;
    let rid = parse_report_id(&rid)?;
    user.require_manager_of(id)?;
    if body.status != ReportStatus::Resolved.as_str() {
        return Err(Error::bad_request(
            "invalid_status",
            format!(
                "a report can only be set to status \"resolved\", got {:?}",
                body.status
            ),
        ));
    }
    let resolution = Resolution::new(body.resolution.as_deref().unwrap_or(""))?;
    let actor = Actor {
        account_id: Some(user.id),
        login: user.login.clone(),
    };
    let report = store
        .resolve_report(id, rid, &resolution, &actor, Utc::now())
        .await?;
    tracing::info!(station = id, report = rid, by = %user.login, "report resolved");
    Ok(private(StatusCode::OK, ReportView::new(report, true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_ipv6_subscriber_prefix_is_one_client() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(limiter_key(Some(a)), limiter_key(Some(b)));
        assert_ne!(limiter_key(Some(a)), limiter_key(Some(other)));
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(
            limiter_key(Some(mapped)),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn the_limiter_refuses_past_the_quota_with_a_wait() {
        let l = ReportLimiter::new(2);
        let ip = Some("198.51.100.1".parse().unwrap());
        assert!(l.check(ip).is_ok() && l.check(ip).is_ok());
        match l.check(ip) {
            Err(Error::TooManyRequests { retry_after_s }) => {
                assert!((3590..=3600).contains(&retry_after_s))
            }
            other => panic!("expected 429, got {other:?}"),
        }
        assert!(l.check(Some("198.51.100.2".parse().unwrap())).is_ok());
    }
}
