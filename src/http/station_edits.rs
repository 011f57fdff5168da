//! Changing stations: managers patch theirs, admins create, move and retire. Every change is
//! optimistic (`If-Match` with the version ETag), audited, then published to the index.

use super::auth::CurrentUser;
use super::extract::ApiJson;
use super::openapi::{
    AmenitySchema, CountySchema, OpeningHoursSchema, RequiredTextSchema, StationCodeSchema,
    TextSchema,
};
use super::stations::etag;
use super::AppState;
use crate::domain::account::Account;
use crate::domain::audit::{Actor, AuditAction};
use crate::domain::{AmenitySet, Hours, LonLat, NewStation, Station, StationPatch, StationState};
use crate::error::{Error, Result};
use crate::index::StationIndex;
use crate::io::export::station_feature;
use crate::store::Store;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The station write routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(update_station, retire_station))
        .routes(routes!(create_station))
        .routes(routes!(verify_station))
}

/// Parses a path id.
pub fn parse_id(id: &str) -> Result<i64> {
    id.parse().map_err(|_| {
        Error::bad_request(
            "invalid_id",
            format!("station id must be an integer, got {id:?}"),
        )
    })
}

/// The version an `If-Match` header names (`"3"`, `W/"3"` or `3`); `None` when absent.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let raw = v.to_str().unwrap_or("").trim();
    raw.trim_start_matches("W/")
        .trim_matches('"')
        .parse::<i64>()
        .map(Some)
        .map_err(|_| {
            Error::bad_request(
                "invalid_if_match",
                format!("If-Match must be the ETag from GET (e.g. \"3\"), got {raw:?}"),
            )
        })
}

fn actor(a: &Account) -> Actor {
    Actor {
        account_id: Some(a.id),
        login: a.login.clone(),
    }
}

fn station_response(status: StatusCode, s: &Station) -> Response {
    (
        status,
        [(header::ETAG, etag(s.version))],
        Json(station_feature(s, crate::domain::Crs::Wgs84)),
    )
        .into_response()
}

/// The store's current station, 404 when there is none.
async fn current(store: &dyn Store, id: i64) -> Result<Station> {
    store
        .get_station(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no station with id {id}")))
}

/// Edits a station with a JSON merge patch (manager of the station, or admin; location and
/// county are admin-only). Needs `If-Match` with the ETag from GET.
#[utoipa::path(
    patch, path = "/api/v1/stations/{id}", tag = "stations",
    params(
        ("id" = i64, Path, description = "Station id"),
        ("If-Match" = String, Header, pattern = r#"^(W/)?"?[0-9]{1,18}"?$"#,
         description = "ETag from GET (a missing one is a 428)"),
    ),
    request_body(content = PatchStation, description = "JSON merge patch (RFC 7396): an absent field stays, \
        `null` clears an optional one; admins also lat+lon, county"),
    responses(
        (status = 200, description = "The station after the change", body = Object, headers(("ETag" = String))),
        (status = 400, description = "Invalid id, If-Match, JSON or patch"), (status = 401, description = "Not logged in"),
        (status = 403, description = "Not a manager of this station, or not an admin for lat/lon/county"),
        (status = 404, description = "No such station"),
        (status = 412, description = "Stale If-Match; the body carries current_version"),
        (status = 413, description = "Body larger than 64 KiB"),
        (status = 428, description = "If-Match missing"),
    )
)]
#[tracing::instrument(skip_all, fields(id))]
pub async fn update_station(
    State(store): State<Arc<dyn Store>>,
    State(index): State<Arc<StationIndex>>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<StationPatch>,
) -> Result<Response> {
    let id = parse_id(&id)?;
    user.require_manager_of(id)?;
    if patch.needs_admin() {
        user.require_admin()?;
    }
    let expected = if_match(&headers)?.ok_or(Error::PreconditionRequired)?;
    let before = current(store.as_ref(), id).await?;
    if before.version != expected {
        return Err(Error::PreconditionFailed {
            current_version: before.version,
        });
    }
    let after = patch.apply(&before, Utc::now())?;
    if crate::domain::patch::changed_fields(&before, &after).is_empty() {
        return Ok(station_response(StatusCode::OK, &before));
    }
    let stored = store
        .update_station(&before, &after, AuditAction::Update, &actor(&user))
        .await?;
    index.apply_newer(vec![StationState::Active(stored.clone())]);
    Ok(station_response(StatusCode::OK, &stored))
}

/// The body of `PATCH /api/v1/stations/{id}` as the document shows it: what
/// [`StationPatch`] accepts (a test holds the two together).
#[derive(Debug, Default, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PatchStation {
    /// New name.
    #[schema(value_type = RequiredTextSchema)]
    pub name: (),
    /// New address (`null` clears it).
    #[schema(value_type = Option<TextSchema>)]
    pub address: (),
    /// The new amenity set (replaces the old one).
    #[schema(value_type = Vec<AmenitySchema>)]
    pub amenities: (),
    /// New opening hours.
    #[schema(value_type = OpeningHoursSchema)]
    pub opening_hours: (),
    /// Close the station until a time in the future (`null` reopens it).
    #[schema(value_type = Option<ClosureBody>)]
    pub temporary_closure: (),
    /// Phone (`null` clears it).
    #[schema(value_type = Option<TextSchema>)]
    pub phone: (),
    /// Photo URL (`null` clears it).
    #[schema(value_type = Option<TextSchema>)]
    pub photo_url: (),
    /// Notes (`null` clears them).
    #[schema(value_type = Option<TextSchema>)]
    pub notes: (),
    /// Admin only: move the station (with `lon`), WGS-84.
    #[schema(value_type = f64, minimum = -90, maximum = 90)]
    pub lat: (),
    /// Admin only: move the station (with `lat`), WGS-84.
    #[schema(value_type = f64, minimum = -180, maximum = 180)]
    pub lon: (),
    /// Admin only: the county adcode.
    #[schema(value_type = CountySchema)]
    pub county: (),
}

/// A temporary closure in a patch.
#[derive(Debug, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClosureBody {
    /// When the station reopens: in the future, RFC 3339 with an offset.
    pub until: chrono::DateTime<chrono::FixedOffset>,
    /// Why it is closed, shown to riders: at most 200 characters, no control characters.
    #[schema(value_type = Option<String>, max_length = 200, pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$")]
    pub reason: (),
}

/// The document says what [`StationPatch::apply`] requires of `lat`/`lon`: both or neither.
pub fn document_location_pairs(doc: &mut utoipa::openapi::OpenApi) {
    super::openapi::dependent_required(
        doc,
        "PatchStation",
        &[("lat", &["lon"]), ("lon", &["lat"])],
    );
}

/// A new station (admin).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStation {
    /// Union code, unique.
    #[schema(value_type = StationCodeSchema)]
    pub code: String,
    /// Name.
    #[schema(value_type = RequiredTextSchema)]
    pub name: String,
    /// Address.
    #[serde(default)]
    #[schema(value_type = TextSchema)]
    pub address: String,
    /// County adcode (6 digits).
    #[schema(value_type = CountySchema)]
    pub county: String,
    /// Latitude, WGS-84.
    #[schema(minimum = -90, maximum = 90)]
    pub lat: f64,
    /// Longitude, WGS-84.
    #[schema(minimum = -180, maximum = 180)]
    pub lon: f64,
    /// Amenity keys.
    #[schema(value_type = Vec<AmenitySchema>)]
    #[serde(default)]
    pub amenities: AmenitySet,
    /// OSM opening_hours.
    #[schema(value_type = OpeningHoursSchema)]
    pub opening_hours: Hours,
    /// Phone.
    #[serde(default)]
    #[schema(value_type = Option<TextSchema>)]
    pub phone: Option<String>,
    /// Photo URL.
    #[serde(default)]
    #[schema(value_type = Option<TextSchema>)]
    pub photo_url: Option<String>,
    /// Notes.
    #[serde(default)]
    #[schema(value_type = Option<TextSchema>)]
    pub notes: Option<String>,
    /// Demo data (not a real station).
    #[serde(default)]
    pub demo: bool,
}

/// Creates a station (admin).
#[utoipa::path(
    post, path = "/api/v1/stations", tag = "stations",
    request_body = CreateStation,
    responses(
        (status = 201, description = "Created", body = Object, headers(("ETag" = String), ("Location" = String))),
        (status = 400, description = "Invalid JSON or station"), (status = 401, description = "Not logged in"),
        (status = 403, description = "Not an admin"), (status = 409, description = "Duplicate code"),
        (status = 413, description = "Body larger than 64 KiB"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn create_station(
    State(store): State<Arc<dyn Store>>,
    State(index): State<Arc<StationIndex>>,
    CurrentUser(user): CurrentUser,
    ApiJson(body): ApiJson<CreateStation>,
) -> Result<Response> {
    user.require_admin()?;
    let new = NewStation {
        code: body.code.trim().to_string(),
        name: body.name.trim().to_string(),
        address: body.address.trim().to_string(),
        county: body.county.trim().to_string(),
        location: LonLat::new(body.lon, body.lat)?,
        amenities: body.amenities,
        opening_hours: body.opening_hours,
        phone: body.phone.filter(|p| !p.trim().is_empty()),
        photo_url: body.photo_url.filter(|p| !p.trim().is_empty()),
        notes: body.notes.filter(|p| !p.trim().is_empty()),
        demo: body.demo,
    };
    new.validate()?;
    let created = store.create_station(&new, &actor(&user)).await?;
    index.apply_newer(vec![StationState::Active(created.clone())]);
    let mut res = station_response(StatusCode::CREATED, &created);
    if let Ok(loc) = format!("/api/v1/stations/{}", created.id).parse() {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(res)
}

/// Retires a station (admin): gone from queries, kept with its history. `If-Match` optional.
#[utoipa::path(
    delete, path = "/api/v1/stations/{id}", tag = "stations",
    params(
        ("id" = i64, Path, description = "Station id"),
        ("If-Match" = Option<String>, Header, pattern = r#"^(W/)?"?[0-9]{1,18}"?$"#,
         description = "ETag from GET: retire only this version"),
    ),
    responses(
        (status = 204, description = "Retired"),
        (status = 400, description = "Id not a 64-bit integer, or a malformed If-Match"),
        (status = 401, description = "Not logged in"),
        (status = 403, description = "Not an admin"), (status = 404, description = "No such station"),
        (status = 412, description = "Stale If-Match"),
    )
)]
#[tracing::instrument(skip_all, fields(id))]
pub async fn retire_station(
    State(store): State<Arc<dyn Store>>,
    State(index): State<Arc<StationIndex>>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode> {
    let id = parse_id(&id)?;
    user.require_admin()?;
    let expected = if_match(&headers)?;
    let retired = store.retire_station(id, expected, &actor(&user)).await?;
    index.apply_newer(vec![StationState::Retired {
        id,
        version: retired.version,
    }]);
    Ok(StatusCode::NO_CONTENT)
}

/// Confirms the station's data is current (manager of it, or admin): sets `verified_at`.
#[utoipa::path(
    post, path = "/api/v1/stations/{id}/verify", tag = "stations",
    params(("id" = i64, Path, description = "Station id")),
    responses(
        (status = 200, description = "The station with its new verified_at", body = Object, headers(("ETag" = String))),
        (status = 400, description = "Id not a 64-bit integer"),
        (status = 401, description = "Not logged in"), (status = 403, description = "Not a manager of this station"),
        (status = 404, description = "No such station"), (status = 412, description = "Changed meanwhile; retry"),
    )
)]
#[tracing::instrument(skip_all, fields(id))]
pub async fn verify_station(
    State(store): State<Arc<dyn Store>>,
    State(index): State<Arc<StationIndex>>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let id = parse_id(&id)?;
    user.require_manager_of(id)?;
    let before = current(store.as_ref(), id).await?;
    let mut after = before.clone();
    after.verified_at = Some(Utc::now());
    let stored = store
        .update_station(&before, &after, AuditAction::Verify, &actor(&user))
        .await?;
    index.apply_newer(vec![StationState::Active(stored.clone())]);
    Ok(station_response(StatusCode::OK, &stored))
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;

    /// The documented patch body and the patch the service reads name the same fields.
    #[test]
    fn documented_patch_fields_are_the_fields_a_patch_takes() {
        let doc = serde_json::to_value(PatchStation::schema()).expect("json");
        let mut documented: Vec<String> = doc["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .cloned()
            .collect();
        documented.sort();
        // serde names every field it knows when it meets one it does not.
        let err = serde_json::from_str::<StationPatch>(r#"{"not_a_field":1}"#)
            .expect_err("unknown fields are refused")
            .to_string();
        let known = err
            .split("expected one of ")
            .nth(1)
            .expect("the field list");
        let mut accepted: Vec<String> = known
            .split(", ")
            .map(|f| f.trim_matches(|c: char| c == '`' || !c.is_ascii_graphic()))
            .map(|f| f.split('`').next().unwrap_or(f).to_string())
            .collect();
        accepted.sort();
        assert_eq!(documented, accepted, "{err}");
        assert_eq!(doc["additionalProperties"], false);
        assert!(
            doc.get("required").is_none(),
            "nothing is required in a merge patch: {doc}"
        );
    }
}
