use super::extract::ClientIp;
use super::AppState;
use crate::error::{Error, Result};
use crate::geoip::{GeoIp, IpPosition};
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use std::net::IpAddr;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The locate route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(locate_client))
}

/// A position guessed from the client's IP.
#[derive(Debug, Serialize, ToSchema)]
pub struct Located {
    /// Latitude (WGS-84).
    pub lat: f64,
    /// Longitude (WGS-84).
    pub lon: f64,
    /// Radius in km holding the client with 67 % confidence.
    pub accuracy_km: Option<u16>,
    /// Always `ip`.
    pub source: &'static str,
}

/// Looks the client up; never guesses: no database is a 400, no match a 404.
pub fn locate_ip(geoip: Option<&GeoIp>, ip: Option<IpAddr>) -> Result<IpPosition> {
    let geoip = geoip.ok_or_else(|| {
        Error::bad_request(
            "geoip_unavailable",
            "no position given and no GeoIP database is configured: send lat and lon",
        )
    })?;
    let ip =
        ip.ok_or_else(|| Error::bad_request("geoip_unavailable", "the client address is unknown"))?;
    geoip.locate(ip).ok_or_else(|| {
        Error::NotFound(format!(
            "no position is known for the address {ip}; send lat and lon"
        ))
    })
}

/// The client's approximate position from its IP address (MaxMind database).
#[utoipa::path(
    get, path = "/api/v1/locate", tag = "locate",
    responses(
        (status = 200, description = "Approximate position", body = Located),
        (status = 400, description = "No GeoIP database configured"),
        (status = 404, description = "The address has no known position"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn locate_client(
    State(geoip): State<Option<Arc<GeoIp>>>,
    ClientIp(ip): ClientIp,
) -> Result<Json<Located>> {
    let pos = locate_ip(geoip.as_deref(), ip)?;
    Ok(Json(Located {
        lat: pos.lat,
        lon: pos.lon,
        accuracy_km: pos.accuracy_km,
        source: "ip",
    }))
}
