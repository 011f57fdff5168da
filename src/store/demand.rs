//! Demand cells and query-origin counts as both backends store them, and back.

use super::{StoreError, StoreResult};
use crate::domain::demand::{DemandCell, QUERY_DEMAND_RES};
use h3o::CellIndex;
use std::collections::BTreeMap;

/// An H3 index as stored: every index fits in 63 bits, so the signed value is the same number.
pub(crate) fn cell_value(cell: CellIndex) -> i64 {
    u64::from(cell) as i64
}

/// A stored H3 index back; `Corrupt` when it is not one.
pub(crate) fn decode_cell(table: &str, raw: i64) -> StoreResult<CellIndex> {
    u64::try_from(raw)
        .ok()
        .and_then(|v| CellIndex::try_from(v).ok())
        .ok_or_else(|| StoreError::Corrupt {
            id: raw,
            reason: format!("{table}: {raw} is not an H3 cell index"),
        })
}

/// Demand cells with duplicate (cell, label) pairs summed, ordered by cell then label: a batch
/// then writes each row once (PostgreSQL refuses to upsert one row twice in a statement).
pub(crate) fn merge_demand(cells: &[DemandCell]) -> Vec<DemandCell> {
    let mut sums: BTreeMap<(u64, &str), (f64, i64)> = BTreeMap::new();
    for c in cells {
        let e = sums
            .entry((u64::from(c.cell), c.label.as_str()))
            .or_default();
        e.0 += c.weight;
        e.1 = e.1.saturating_add(c.points);
    }
    cells_from_sums(sums)
}

fn cells_from_sums(sums: BTreeMap<(u64, &str), (f64, i64)>) -> Vec<DemandCell> {
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

/// Query-origin counts as stored: each cell at [`QUERY_DEMAND_RES`] (a finer one is counted on
/// its parent), duplicates summed, counts saturated at the largest stored value.
pub(crate) fn merge_query_counts(counts: &[(CellIndex, u64)]) -> Vec<(i64, i64)> {
    let mut sums: BTreeMap<i64, i64> = BTreeMap::new();
    for &(cell, n) in counts {
        let cell = cell.parent(QUERY_DEMAND_RES).unwrap_or(cell);
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let e = sums.entry(cell_value(cell)).or_default();
        *e = e.saturating_add(n);
    }
    sums.into_iter().collect()
}

/// A stored count back.
pub(crate) fn decode_count(cell: i64, count: i64) -> StoreResult<(CellIndex, u64)> {
    let n = u64::try_from(count).map_err(|_| StoreError::Corrupt {
        id: cell,
        reason: format!("query_demand: negative count {count}"),
    })?;
    Ok((decode_cell("query_demand", cell)?, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::demand::{cell_of, DEMAND_RES};
    use crate::domain::LonLat;

    #[test]
    fn cells_round_trip_and_garbage_is_corrupt() {
        let c = cell_of(LonLat::new(115.89, 28.68).unwrap(), DEMAND_RES);
        assert_eq!(decode_cell("t", cell_value(c)).unwrap(), c);
        for bad in [-1, 0, 42, i64::MAX] {
            assert!(matches!(
                decode_cell("t", bad),
                Err(StoreError::Corrupt { id, .. }) if id == bad
            ));
        }
    }

    #[test]
    fn duplicates_are_summed_and_fine_query_cells_coarsened() {
        let p = LonLat::new(115.89, 28.68).unwrap();
        let c = cell_of(p, DEMAND_RES);
        let cell = |label: &str, weight: f64, points: i64| DemandCell {
            cell: c,
            label: label.into(),
            weight,
            points,
        };
        let merged = merge_demand(&[cell("", 1.0, 1), cell("x", 2.0, 1), cell("", 3.0, 2)]);
        assert_eq!(merged, [cell("", 4.0, 3), cell("x", 2.0, 1)]);

        let coarse = cell_of(p, QUERY_DEMAND_RES);
        assert_eq!(
            merge_query_counts(&[(c, 2), (coarse, 3), (coarse, u64::MAX)]),
            [(cell_value(coarse), i64::MAX)]
        );
        assert_eq!(
            merge_query_counts(&[(coarse, 3)]),
            [(cell_value(coarse), 3)]
        );
    }
}
