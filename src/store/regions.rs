//! Regions as both backends store them, and back.

use super::{StoreError, StoreResult};
use crate::domain::{Adcode, Region, RegionLevel};

/// A stored region back into a validated [`Region`]; `Corrupt` (keyed by the adcode) when
/// anything does not decode.
pub(crate) fn decode_region(
    adcode: i64,
    name: &str,
    level: &str,
    parent: Option<i64>,
    geom: Option<geo_types::Geometry<f64>>,
) -> StoreResult<Region> {
    let corrupt = |reason: String| StoreError::Corrupt {
        id: adcode,
        reason: format!("region: {reason}"),
    };
    let code = |n: i64| {
        u32::try_from(n)
            .map_err(|_| corrupt(format!("adcode {n} out of range")))
            .and_then(|n| Adcode::new(n).map_err(|e| corrupt(e.message)))
    };
    let level: RegionLevel = level
        .parse()
        .map_err(|e: crate::domain::Invalid| corrupt(e.message))?;
    let outline = super::geom::to_multipolygon(adcode, geom)?;
    Region::new(
        code(adcode)?,
        name,
        level,
        parent.map(code).transpose()?,
        outline,
    )
    .map_err(|e| corrupt(e.message))
}

/// An adcode as both backends store it (a six-digit number fits any integer column).
pub(crate) fn adcode_value(code: Adcode) -> i32 {
    // At most 999 999: always in range.
    code.get() as i32
}
