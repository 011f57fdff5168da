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

/// Reads a decoded geometry back into an outline: a multipolygon, or a polygon (as GIS tools
/// may write one) taken as a multipolygon of one. `key` names the row in errors.
pub fn to_multipolygon(
    key: i64,
    g: Option<geo_types::Geometry<f64>>,
) -> super::StoreResult<geo_types::MultiPolygon<f64>> {
    match g {
        Some(geo_types::Geometry::MultiPolygon(mp)) => Ok(mp),
        Some(geo_types::Geometry::Polygon(p)) => Ok(geo_types::MultiPolygon(vec![p])),
        other => Err(super::StoreError::Corrupt {
            id: key,
            reason: format!(
                "geometry is not a multipolygon: {}",
                other.map_or("none", |g| geometry_kind(&g))
            ),
        }),
    }
}

/// The geometry type's name, for messages (a whole outline would be too long to print).
fn geometry_kind(g: &geo_types::Geometry<f64>) -> &'static str {
    use geo_types::Geometry as G;
    match g {
        G::Point(_) => "Point",
        G::Line(_) => "Line",
        G::LineString(_) => "LineString",
        G::Polygon(_) => "Polygon",
        G::MultiPoint(_) => "MultiPoint",
        G::MultiLineString(_) => "MultiLineString",
        G::MultiPolygon(_) => "MultiPolygon",
        G::GeometryCollection(_) => "GeometryCollection",
        G::Rect(_) => "Rect",
        G::Triangle(_) => "Triangle",
    }
}
