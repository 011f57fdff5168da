//! Demand: where outdoor workers need stations, as weights on H3 cells. Raw points (e.g. a
//! platform's pick-ups) are aggregated to cells on import and never kept.

use super::{Invalid, LonLat};
use h3o::{CellIndex, LatLng, Resolution};
use std::collections::BTreeMap;

/// The resolution imported demand is aggregated to (about 0.015 km² a cell): finer than any
/// coverage grid, so it rolls up to whichever resolution coverage is measured at.
pub const DEMAND_RES: Resolution = Resolution::Ten;

/// The resolution nearest-query origins are counted at (about 0.74 km² a cell): coarse enough
/// that a count says nothing about one person (see `docs/demand.md`).
pub const QUERY_DEMAND_RES: Resolution = Resolution::Eight;

/// A query-origin cell's count is published only from this many queries on.
pub const QUERY_DEMAND_MIN_COUNT: u64 = 5;

/// Largest weight one demand point may carry.
pub const MAX_WEIGHT: f64 = 1e9;

/// Longest label accepted, in characters.
pub const MAX_LABEL: usize = 100;

/// One weighted demand point as imported.
#[derive(Debug, Clone, PartialEq)]
pub struct DemandPoint {
    /// Where, WGS-84.
    pub location: LonLat,
    /// How much demand (e.g. pick-ups per day); finite, > 0.
    pub weight: f64,
    /// What kind of demand (`''` when none was given).
    pub label: String,
}

impl DemandPoint {
    /// Validates a point: weight finite and in (0, [`MAX_WEIGHT`]], label at most [`MAX_LABEL`].
    pub fn new(location: LonLat, weight: f64, label: &str) -> Result<Self, Invalid> {
        if !weight.is_finite() || weight <= 0.0 || weight > MAX_WEIGHT {
            return Err(Invalid::new(
                "invalid_weight",
                format!("weight must be a number in (0, {MAX_WEIGHT}], got {weight}"),
            ));
        }
        let label = label.trim();
        if label.chars().count() > MAX_LABEL || label.chars().any(char::is_control) {
            return Err(Invalid::new(
                "invalid_label",
                format!("label must be at most {MAX_LABEL} printable characters"),
            ));
        }
        Ok(Self {
            location,
            weight,
            label: label.to_string(),
        })
    }
}

/// Demand aggregated on one H3 cell ([`DEMAND_RES`]) for one label: what is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DemandCell {
    /// The H3 cell.
    pub cell: CellIndex,
    /// The label of the points summed here.
    pub label: String,
    /// Sum of their weights.
    pub weight: f64,
    /// How many points were summed.
    pub points: i64,
}

/// The H3 cell of a position at a resolution.
pub fn cell_of(p: LonLat, res: Resolution) -> CellIndex {
    // LonLat is validated, so the conversion cannot fail; fall back to the origin cell of the
    // grid rather than panicking should it ever.
    LatLng::new(p.lat, p.lon)
        .map(|ll| ll.to_cell(res))
        .unwrap_or_else(|_| LatLng::new(0.0, 0.0).expect("origin").to_cell(res))
}

/// Sums points per (cell at [`DEMAND_RES`], label), ordered by cell then label.
pub fn aggregate(points: &[DemandPoint]) -> Vec<DemandCell> {
    let mut sums: BTreeMap<(u64, &str), (f64, i64)> = BTreeMap::new();
    for p in points {
        let e = sums
            .entry((u64::from(cell_of(p.location, DEMAND_RES)), p.label.as_str()))
            .or_default();
        e.0 += p.weight;
        e.1 += 1;
    }
    sums.into_iter()
        .filter_map(|((cell, label), (weight, points))| {
            Some(DemandCell {
                cell: CellIndex::try_from(cell).ok()?,
                label: label.to_string(),
                weight,
                points,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_in_one_cell_sum_per_label() {
        let p = LonLat::new(115.89, 28.68).unwrap();
        let q = LonLat::new(115.890_01, 28.680_01).unwrap();
        let far = LonLat::new(116.0, 28.9).unwrap();
        let cells = aggregate(&[
            DemandPoint::new(p, 2.0, "").unwrap(),
            DemandPoint::new(q, 3.0, "").unwrap(),
            DemandPoint::new(q, 1.0, "pickup").unwrap(),
            DemandPoint::new(far, 4.0, "").unwrap(),
        ]);
        assert_eq!(cells.len(), 3);
        let total: f64 = cells.iter().map(|c| c.weight).sum();
        assert_eq!(total, 10.0);
        let same = cells
            .iter()
            .find(|c| c.label.is_empty() && c.points == 2)
            .unwrap();
        assert_eq!(same.weight, 5.0);
        assert!(cells.iter().all(|c| c.cell.resolution() == DEMAND_RES));
    }

    #[test]
    fn weights_must_be_positive_and_finite() {
        let p = LonLat::new(115.89, 28.68).unwrap();
        for w in [0.0, -1.0, f64::NAN, f64::INFINITY, 2e9] {
            assert_eq!(
                DemandPoint::new(p, w, "").unwrap_err().code,
                "invalid_weight"
            );
        }
        assert_eq!(
            DemandPoint::new(p, 1.0, &"x".repeat(101)).unwrap_err().code,
            "invalid_label"
        );
    }
}
