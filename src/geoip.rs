//! Approximate positions from client IPs through a MaxMind (GeoIP2/GeoLite2 City) database.

use maxminddb::{geoip2, Reader};
use std::net::IpAddr;
use std::path::Path;

/// A position guessed from an IP address.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IpPosition {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// MaxMind's radius (km) holding the device with 67 % confidence.
    pub accuracy_km: Option<u16>,
}

/// An open MaxMind City database (memory-mapped file contents).
pub struct GeoIp {
    reader: Reader<Vec<u8>>,
}

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open GeoIP database {path}: {source}")]
pub struct OpenError {
    path: String,
    source: maxminddb::MaxMindDbError,
}

impl GeoIp {
    /// Opens and verifies a `.mmdb` file.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let err = |source| OpenError {
            path: path.display().to_string(),
            source,
        };
        let reader = Reader::open_readfile(path).map_err(err)?;
        Ok(Self { reader })
    }

    /// The position of an address, or `None` when the database has none for it.
    pub fn locate(&self, ip: IpAddr) -> Option<IpPosition> {
        let result = self.reader.lookup(ip).ok()?;
        let city: geoip2::City = result.decode().ok()??;
        let loc = city.location;
        match (loc.latitude, loc.longitude) {
            (Some(lat), Some(lon)) if lat.is_finite() && lon.is_finite() => Some(IpPosition {
                lat,
                lon,
                accuracy_km: loc.accuracy_radius,
            }),
            _ => None,
        }
    }
}
