//! Web Mercator tile arithmetic (the XYZ scheme of OSM, Leaflet and Mapbox): lon/lat to
//! normalised world coordinates, tiles, and positions inside a tile's extent.

use crate::domain::{Invalid, LonLat};

/// Highest zoom served: about 4 cm per tile unit at extent 4096; nothing finer is useful.
pub const MAX_ZOOM: u8 = 22;

/// Tile units per tile side (the MVT default; every client expects it).
pub const EXTENT: u32 = 4096;

/// Latitude limit of Web Mercator (the square world): stations beyond it sit on its edge.
pub const MAX_LAT: f64 = 85.051_128_779_806_59;

/// A position on the square Mercator world, both coordinates in `[0, 1)`: x east from 180° W,
/// y south from the northern limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct World {
    /// East, 0 at 180° W.
    pub x: f64,
    /// South, 0 at [`MAX_LAT`].
    pub y: f64,
}

/// The largest value below 1: keeps 180° E and the southern limit inside the last tile.
const BELOW_ONE: f64 = 1.0 - f64::EPSILON;

impl World {
    /// The world position of a WGS-84 point (latitude clamped to the Mercator square).
    pub fn of(p: LonLat) -> Self {
        let lat = p.lat.clamp(-MAX_LAT, MAX_LAT).to_radians();
        let x = (p.lon + 180.0) / 360.0;
        let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0;
        Self {
            x: x.clamp(0.0, BELOW_ONE),
            y: y.clamp(0.0, BELOW_ONE),
        }
    }

    /// Back to longitude and latitude (degrees).
    pub fn lonlat(self) -> (f64, f64) {
        let lon = self.x * 360.0 - 180.0;
        let n = std::f64::consts::PI * (1.0 - 2.0 * self.y);
        let lat = n.sinh().atan().to_degrees();
        (lon, lat)
    }

    /// The cell holding this position on a grid of `2^level` cells a side.
    pub fn cell(self, level: u8) -> (u32, u32) {
        let n = f64::from(1u32 << level);
        ((self.x * n) as u32, (self.y * n) as u32)
    }
}

/// One tile of the XYZ scheme: `x` east and `y` south from the north-west corner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileId {
    /// Zoom, `0..=MAX_ZOOM`.
    pub z: u8,
    /// Column, `0..2^z`.
    pub x: u32,
    /// Row, `0..2^z`.
    pub y: u32,
}

impl TileId {
    /// Validates a tile address.
    pub fn new(z: u8, x: u32, y: u32) -> Result<Self, Invalid> {
        if z > MAX_ZOOM {
            return Err(Invalid::new(
                "invalid_tile",
                format!("zoom must be in 0..={MAX_ZOOM}, got {z}"),
            ));
        }
        let n = 1u64 << z;
        if u64::from(x) >= n || u64::from(y) >= n {
            return Err(Invalid::new(
                "invalid_tile",
                format!("x and y must be in 0..{n} at zoom {z}, got x={x} y={y}",),
            ));
        }
        Ok(Self { z, x, y })
    }

    /// Parses the three path segments `{z}`, `{x}` and `{y}.mvt` (plain decimal integers).
    pub fn parse(z: &str, x: &str, y_mvt: &str) -> Result<Self, Invalid> {
        let y = y_mvt.strip_suffix(".mvt").ok_or_else(|| {
            Invalid::new(
                "invalid_tile",
                format!("a tile path ends in {{y}}.mvt, got {y_mvt:?}"),
            )
        })?;
        let int = |name: &str, s: &str| -> Result<u32, Invalid> {
            // Only digits: `+1`, ` 1` or `1e2` are not tile addresses.
            if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Invalid::new(
                    "invalid_tile",
                    format!("{name} must be a non-negative integer, got {s:?}"),
                ));
            }
            s.parse()
                .map_err(|_| Invalid::new("invalid_tile", format!("{name} is out of range: {s:?}")))
        };
        let zoom = int("z", z)?;
        let zoom = u8::try_from(zoom).unwrap_or(u8::MAX);
        Self::new(zoom, int("x", x)?, int("y", y)?)
    }

    /// Whether a world position falls in this tile (west and north edges inclusive), so each
    /// position belongs to exactly one tile per zoom.
    pub fn contains(&self, w: World) -> bool {
        w.cell(self.z) == (self.x, self.y)
    }

    /// West, south, east, north in degrees.
    pub fn bounds(&self) -> [f64; 4] {
        let n = f64::from(1u32 << self.z);
        let (w, north) = World {
            x: f64::from(self.x) / n,
            y: f64::from(self.y) / n,
        }
        .lonlat();
        let (e, s) = World {
            x: f64::from(self.x + 1) / n,
            y: f64::from(self.y + 1) / n,
        }
        .lonlat();
        [w, s, e, north]
    }

    /// A position in this tile's coordinates: `0..EXTENT` east and south from its north-west
    /// corner, rounded to the nearest unit (the edge value `EXTENT` is possible and valid).
    pub fn to_extent(&self, w: World) -> (i32, i32) {
        let n = f64::from(1u32 << self.z);
        let ext = f64::from(EXTENT);
        let x = ((w.x * n - f64::from(self.x)) * ext).round();
        let y = ((w.y * n - f64::from(self.y)) * ext).round();
        (x as i32, y as i32)
    }

    /// The world position of tile coordinates (the inverse of [`TileId::to_extent`]).
    pub fn from_extent(&self, x: i32, y: i32) -> World {
        let n = f64::from(1u32 << self.z);
        let ext = f64::from(EXTENT);
        World {
            x: (f64::from(self.x) + f64::from(x) / ext) / n,
            y: (f64::from(self.y) + f64::from(y) / ext) / n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_tiles_of_nanchang() {
        // Worked by hand with the OSM wiki's slippy-map formula: x = 295.89 / 360 × 1024 = 841.6,
        // y = (1 − asinh(tan 28.68°) / π) / 2 × 1024 = 426.8.
        let w = World::of(LonLat {
            lon: 115.89,
            lat: 28.68,
        });
        assert_eq!(w.cell(10), (841, 426));
        assert_eq!(w.cell(0), (0, 0));
        let t = TileId::new(10, 841, 426).unwrap();
        let [west, south, east, north] = t.bounds();
        assert!(west <= 115.89 && 115.89 < east && south < 28.68 && 28.68 <= north);
    }

    #[test]
    fn bad_addresses_are_rejected() {
        for (z, x, y) in [
            ("23", "0", "0.mvt"),
            ("3", "8", "0.mvt"),
            ("3", "0", "8.mvt"),
            ("3", "0", "0"),
            ("3", "0", "0.png"),
            ("a", "0", "0.mvt"),
            ("3", "-1", "0.mvt"),
            ("3", "+1", "0.mvt"),
            ("3", "1.5", "0.mvt"),
            ("", "0", "0.mvt"),
            ("3", "0", ".mvt"),
            ("300", "0", "0.mvt"),
            ("99999999999", "0", "0.mvt"),
        ] {
            assert!(TileId::parse(z, x, y).is_err(), "{z}/{x}/{y}");
        }
        assert_eq!(
            TileId::parse("22", "4194303", "0.mvt").unwrap(),
            TileId {
                z: 22,
                x: 4_194_303,
                y: 0
            }
        );
    }

    #[test]
    fn the_edges_of_the_world_stay_inside() {
        let w = World::of(LonLat {
            lon: 180.0,
            lat: -90.0,
        });
        assert_eq!(w.cell(3), (7, 7));
        let w = World::of(LonLat {
            lon: -180.0,
            lat: 90.0,
        });
        assert_eq!(w.cell(3), (0, 0));
    }

    proptest! {
        #[test]
        fn lonlat_world_round_trip(lon in -180.0f64..180.0, lat in -MAX_LAT..MAX_LAT) {
            let (lon2, lat2) = World::of(LonLat { lon, lat }).lonlat();
            prop_assert!((lon - lon2).abs() < 1e-9, "{lon} -> {lon2}");
            prop_assert!((lat - lat2).abs() < 1e-9, "{lat} -> {lat2}");
        }

        #[test]
        fn a_point_is_in_exactly_the_tile_its_bounds_say(
            lon in -180.0f64..180.0, lat in -85.0f64..85.0, z in 0u8..=MAX_ZOOM,
        ) {
            let w = World::of(LonLat { lon, lat });
            let (x, y) = w.cell(z);
            let t = TileId::new(z, x, y).unwrap();
            prop_assert!(t.contains(w));
            let [west, south, east, north] = t.bounds();
            // The bounds hold the point up to rounding of the inverse projection.
            let eps = 1e-9;
            prop_assert!(west - eps <= lon && lon <= east + eps, "{lon} in {west}..{east}");
            prop_assert!(south - eps <= lat && lat <= north + eps, "{lat} in {south}..{north}");
            // Parent and child agree.
            if z > 0 {
                let (px, py) = w.cell(z - 1);
                prop_assert_eq!((px, py), (x / 2, y / 2));
            }
        }

        #[test]
        fn extent_round_trip_is_within_half_a_unit(
            lon in -180.0f64..180.0, lat in -85.0f64..85.0, z in 0u8..=MAX_ZOOM,
        ) {
            let w = World::of(LonLat { lon, lat });
            let (x, y) = w.cell(z);
            let t = TileId::new(z, x, y).unwrap();
            let (ex, ey) = t.to_extent(w);
            prop_assert!((0..=EXTENT as i32).contains(&ex) && (0..=EXTENT as i32).contains(&ey));
            let back = t.from_extent(ex, ey);
            // Half a tile unit, in world units, plus float slack.
            let unit = 1.0 / (f64::from(EXTENT) * f64::from(1u32 << z));
            prop_assert!((back.x - w.x).abs() <= unit * 0.5 + 1e-15);
            prop_assert!((back.y - w.y).abs() <= unit * 0.5 + 1e-15);
        }
    }
}
