use super::Invalid;
use serde::{Deserialize, Serialize};

/// A WGS-84 position in degrees; latitude in [-90, 90], longitude in [-180, 180].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LonLat {
    /// Longitude in degrees east.
    pub lon: f64,
    /// Latitude in degrees north.
    pub lat: f64,
}

impl LonLat {
    /// Validates a position; NaN and out-of-range values are rejected with the value named.
    pub fn new(lon: f64, lat: f64) -> Result<Self, Invalid> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(Invalid::new(
                "invalid_lat",
                format!("lat must be a number in [-90, 90], got {lat}"),
            ));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(Invalid::new(
                "invalid_lon",
                format!("lon must be a number in [-180, 180], got {lon}"),
            ));
        }
        Ok(Self { lon, lat })
    }

    /// Earth-centred, earth-fixed coordinates (metres) of this point on the WGS-84 ellipsoid.
    pub fn ecef(&self) -> [f64; 3] {
        const A: f64 = 6_378_137.0;
        const F: f64 = 1.0 / 298.257_223_563;
        const E2: f64 = F * (2.0 - F);
        let (sin_lat, cos_lat) = self.lat.to_radians().sin_cos();
        let (sin_lon, cos_lon) = self.lon.to_radians().sin_cos();
        let n = A / (1.0 - E2 * sin_lat * sin_lat).sqrt();
        [
            n * cos_lat * cos_lon,
            n * cos_lat * sin_lon,
            n * (1.0 - E2) * sin_lat,
        ]
    }

    /// Geodesic distance in metres on WGS-84 (Karney's algorithm).
    pub fn geodesic_distance(&self, other: &LonLat) -> f64 {
        use geographiclib_rs::{Geodesic, InverseGeodesic};
        let s12: f64 = Geodesic::wgs84().inverse(self.lat, self.lon, other.lat, other.lon);
        s12
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_out_of_range_and_nan() {
        assert_eq!(LonLat::new(0.0, 91.0).unwrap_err().code, "invalid_lat");
        assert_eq!(LonLat::new(f64::NAN, 0.0).unwrap_err().code, "invalid_lon");
        assert_eq!(LonLat::new(180.5, 0.0).unwrap_err().code, "invalid_lon");
        assert!(LonLat::new(-180.0, -90.0).is_ok());
    }

    #[test]
    fn ecef_chord_never_exceeds_geodesic() {
        let a = LonLat::new(115.89, 28.68).unwrap();
        let b = LonLat::new(116.2, 29.1).unwrap();
        let (pa, pb) = (a.ecef(), b.ecef());
        let chord =
            ((pa[0] - pb[0]).powi(2) + (pa[1] - pb[1]).powi(2) + (pa[2] - pb[2]).powi(2)).sqrt();
        let geo = a.geodesic_distance(&b);
        assert!(chord <= geo && geo - chord < 1.0, "chord {chord} geo {geo}");
    }
}
