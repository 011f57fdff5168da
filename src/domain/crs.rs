use super::{Invalid, LonLat};
use std::str::FromStr;

/// The coordinate system a client speaks; everything stored is WGS-84.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Crs {
    /// GPS / EPSG:4326.
    #[default]
    Wgs84,
    /// China's "Mars" datum used by Amap, Tencent and WeChat.
    Gcj02,
    /// Baidu's datum.
    Bd09,
}

impl Crs {
    /// Every system, in contract order.
    pub const ALL: [Crs; 3] = [Crs::Wgs84, Crs::Gcj02, Crs::Bd09];

    /// The key used in the API (`wgs84`, `gcj02`, `bd09`).
    pub fn as_str(self) -> &'static str {
        match self {
            Crs::Wgs84 => "wgs84",
            Crs::Gcj02 => "gcj02",
            Crs::Bd09 => "bd09",
        }
    }

    /// Converts a client's coordinates to WGS-84.
    pub fn to_wgs84(self, lon: f64, lat: f64) -> (f64, f64) {
        match self {
            Crs::Wgs84 => (lon, lat),
            Crs::Gcj02 => coordtransform::gcj02_to_wgs84(lon, lat),
            Crs::Bd09 => {
                let (lon, lat) = coordtransform::bd09_to_gcj02(lon, lat);
                coordtransform::gcj02_to_wgs84(lon, lat)
            }
        }
    }

    /// Converts a stored WGS-84 position to this system.
    pub fn from_wgs84(self, p: LonLat) -> (f64, f64) {
        match self {
            Crs::Wgs84 => (p.lon, p.lat),
            Crs::Gcj02 => coordtransform::wgs84_to_gcj02(p.lon, p.lat),
            Crs::Bd09 => {
                let (lon, lat) = coordtransform::wgs84_to_gcj02(p.lon, p.lat);
                coordtransform::gcj02_to_bd09(lon, lat)
            }
        }
    }

    /// Parses client input in this system into a validated WGS-84 position.
    pub fn parse_point(self, lon: f64, lat: f64) -> Result<LonLat, Invalid> {
        // Validate the raw values first so NaN never reaches the datum formulas.
        LonLat::new(lon, lat)?;
        let (lon, lat) = self.to_wgs84(lon, lat);
        LonLat::new(lon, lat)
    }
}

impl FromStr for Crs {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key = s.to_ascii_lowercase();
        if key == "epsg:4326" {
            return Ok(Crs::Wgs84);
        }
        match Crs::ALL.into_iter().find(|c| c.as_str() == key) {
            Some(c) => Ok(c),
            None => Err(Invalid::new(
                "invalid_crs",
                format!("crs must be wgs84, gcj02 or bd09, got {s:?}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_each_datum() {
        let p = LonLat::new(115.89, 28.68).unwrap();
        for crs in [Crs::Wgs84, Crs::Gcj02, Crs::Bd09] {
            let (x, y) = crs.from_wgs84(p);
            let back = crs.parse_point(x, y).unwrap();
            assert!(p.geodesic_distance(&back) < 0.01, "{crs:?}");
        }
        let (gx, gy) = Crs::Gcj02.from_wgs84(p);
        let shift = p.geodesic_distance(&LonLat::new(gx, gy).unwrap());
        assert!(
            shift > 100.0,
            "GCJ-02 shifts points by hundreds of metres, got {shift}"
        );
    }
}
