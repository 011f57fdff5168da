//! Geometry encoding shared by both backends: geometries tagged EPSG:4326 through geozero.

use crate::domain::LonLat;
use geozero::{GeomProcessor, GeozeroGeometry};

/// A WGS-84 geometry that tells geozero its SRID, so GeoPackage headers and EWKB carry 4326
/// (geozero writes 0 otherwise, and QGIS would misplace it).
pub struct Wgs84Geometry(pub geo_types::Geometry<f64>);

impl Wgs84Geometry {
    /// Wraps any geometry in lon/lat degrees (a point, a multipolygon …).
    pub fn new(g: impl Into<geo_types::Geometry<f64>>) -> Self {
        Self(g.into())
    }

    /// Wraps a validated position.
    pub fn point(p: LonLat) -> Self {
        Self::new(geo_types::Point::new(p.lon, p.lat))
    }
}

impl GeozeroGeometry for Wgs84Geometry {
    fn process_geom<P: GeomProcessor>(&self, processor: &mut P) -> geozero::error::Result<()> {
        self.0.process_geom(processor)
    }

    fn srid(&self) -> Option<i32> {
        Some(4326)
    }
}

/// Reads a decoded geometry back into a validated position.
pub fn to_lonlat(id: i64, g: Option<geo_types::Geometry<f64>>) -> super::StoreResult<LonLat> {
    match g {
        Some(geo_types::Geometry::Point(p)) => {
            LonLat::new(p.x(), p.y()).map_err(|e| super::StoreError::Corrupt {
                id,
                reason: e.message,
            })
        }
        other => Err(super::StoreError::Corrupt {
            id,
            reason: format!("geometry is not a point: {other:?}"),
        }),
    }
}
