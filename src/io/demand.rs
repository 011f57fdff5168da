//! Demand points from CSV (`lat, lon, weight`, optional `label`), validated all-or-nothing and
//! aggregated to H3 cells before anything reaches the store: raw points are never stored.

use super::import::ImportError;
use crate::domain::demand::{aggregate, DemandPoint};
use crate::domain::LonLat;
use crate::store::Store;
use std::path::Path;

/// The columns a demand file has (`label` may be left out), in any order.
pub const DEMAND_COLUMNS: [&str; 4] = ["lat", "lon", "weight", "label"];

/// What a demand import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemandImport {
    /// Points read from the file.
    pub points: usize,
    /// (cell, label) rows written.
    pub cells: usize,
}

/// Where each column is in the file.
struct Columns {
    lat: usize,
    lon: usize,
    weight: usize,
    label: Option<usize>,
}

fn columns(header: &csv::StringRecord) -> Result<Columns, ImportError> {
    let expected = "expected the columns lat, lon, weight and optionally label";
    if header.iter().all(str::is_empty) {
        return Err(ImportError::File(format!("the file is empty; {expected}")));
    }
    let mut at: [Option<usize>; 4] = [None; 4];
    for (i, name) in header.iter().enumerate() {
        let Some(k) = DEMAND_COLUMNS.iter().position(|c| *c == name) else {
            return Err(ImportError::File(format!(
                "unknown column {name:?} in the header; {expected}"
            )));
        };
        if at[k].replace(i).is_some() {
            return Err(ImportError::File(format!(
                "the column {name:?} appears twice in the header"
            )));
        }
    }
    let need = |k: usize| {
        at[k].ok_or_else(|| {
            ImportError::File(format!(
                "the header lacks the column {:?}; {expected}",
                DEMAND_COLUMNS[k]
            ))
        })
    };
    Ok(Columns {
        lat: need(0)?,
        lon: need(1)?,
        weight: need(2)?,
        label: at[3],
    })
}

fn number(record: &csv::StringRecord, at: usize, name: &str) -> Result<f64, String> {
    let raw = record.get(at).unwrap_or_default();
    raw.trim()
        .parse::<f64>()
        .map_err(|_| format!("{name} must be a number, got {raw:?}"))
}

/// Parses and validates every row; one bad row rejects the file with its row number (the
/// header is row 1) and what was wrong.
pub fn parse_demand_csv(bytes: &[u8]) -> Result<Vec<DemandPoint>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|e| ImportError::File(format!("cannot read the CSV header: {e}")))?
        .clone();
    let cols = columns(&header)?;
    let mut points = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 2;
        let err = |reason: String| ImportError::Row { row, reason };
        let record = record.map_err(|e| err(e.to_string()))?;
        let lat = number(&record, cols.lat, "lat").map_err(err)?;
        let lon = number(&record, cols.lon, "lon").map_err(err)?;
        let weight = number(&record, cols.weight, "weight").map_err(err)?;
        let label = cols.label.and_then(|at| record.get(at)).unwrap_or_default();
        let location = LonLat::new(lon, lat).map_err(|e| err(e.message))?;
        points.push(DemandPoint::new(location, weight, label).map_err(|e| err(e.message))?);
    }
    if points.is_empty() {
        return Err(ImportError::File(
            "the file has a header but no data rows".to_string(),
        ));
    }
    Ok(points)
}

/// Reads a demand file, aggregates it to cells and stores them in one transaction: replacing
/// all stored demand, or adding to it when `append`.
pub async fn import_demand_file(
    store: &dyn Store,
    path: &Path,
    append: bool,
) -> Result<DemandImport, ImportError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ImportError::File(format!("cannot read {}: {e}", path.display())))?;
    let points = parse_demand_csv(&bytes)?;
    let cells = aggregate(&points);
    let stored = store
        .store_demand(&cells, !append)
        .await
        .map_err(ImportError::Store)?;
    Ok(DemandImport {
        points: points.len(),
        cells: stored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row_error(csv: &str) -> (usize, String) {
        match parse_demand_csv(csv.as_bytes()) {
            Err(ImportError::Row { row, reason }) => (row, reason),
            other => panic!("{csv:?}: {other:?}"),
        }
    }

    fn file_error(csv: &str) -> String {
        match parse_demand_csv(csv.as_bytes()) {
            Err(ImportError::File(m)) => m,
            other => panic!("{csv:?}: {other:?}"),
        }
    }

    #[test]
    fn columns_come_in_any_order_and_label_is_optional() {
        let p = parse_demand_csv(b"weight,lon,lat\n2.5,115.89,28.68\n").unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].location.lon, p[0].location.lat), (115.89, 28.68));
        assert_eq!((p[0].weight, p[0].label.as_str()), (2.5, ""));
        let p = parse_demand_csv(
            "\u{feff}label,lat,lon,weight\r\n外卖,28.68,115.89,1\r\n,28.7,115.9,3\r\n".as_bytes(),
        )
        .unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].label.as_str(), p[1].label.as_str()), ("外卖", ""));
    }

    #[test]
    fn bad_rows_are_named_by_row_with_the_reason() {
        let h = "lat,lon,weight,label\n28.68,115.89,1,a\n";
        for (bad, says) in [
            ("95,115.89,1,a", "95"),
            ("28.68,abc,1,a", "lon must be a number"),
            ("28.68,115.89,0,a", "weight"),
            ("28.68,115.89,-2,a", "weight"),
            ("28.68,115.89,NaN,a", "weight"),
            ("28.68,115.89,1", "fields"),
        ] {
            let (row, reason) = row_error(&format!("{h}{bad}\n"));
            assert_eq!(row, 3, "{bad}");
            assert!(reason.contains(says), "{bad}: {says:?} in {reason:?}");
        }
    }

    #[test]
    fn headers_must_name_exactly_the_known_columns() {
        assert!(file_error("").contains("empty"));
        assert!(file_error("lat,lon,weight\n").contains("no data rows"));
        assert!(file_error("lat,lon\n28,115\n").contains("\"weight\""));
        let extra = file_error("lat,lon,weight,user_id\n28,115,1,42\n");
        assert!(
            extra.contains("user_id") && extra.contains("unknown column"),
            "{extra}"
        );
        assert!(file_error("lat,lon,weight,lat\n28,115,1,28\n").contains("twice"));
    }
}
