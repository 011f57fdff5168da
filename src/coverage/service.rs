//! The planners' coverage service: regions and demand in memory, grids and results cached,
//! every computation run off the async threads by the caller.

use super::cache::Lru;
use super::grid::{Grid, GridError};
use super::suggest::{suggest, Suggestion};
use super::travel::{TravelKind, TravelTimes};
use super::{compute, CellWeights, Coverage, Figures, Params};
use crate::domain::demand::{DemandCell, QUERY_DEMAND_MIN_COUNT};
use crate::domain::{Adcode, BBox, LonLat, Region, RegionSet};
use crate::index::Snapshot;
use arc_swap::ArcSwap;
use h3o::{CellIndex, Resolution};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What is measured: a region by code, or a box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Area {
    /// A province, city or county.
    Region(Adcode),
    /// A box, corners in micro-degrees (so the key is exact and hashable).
    BBox([i64; 4]),
}

impl Area {
    /// The area of a box.
    pub fn bbox(b: &BBox) -> Self {
        let micro = |v: f64| (v * 1e6).round() as i64;
        Area::BBox([
            micro(b.min.lon),
            micro(b.min.lat),
            micro(b.max.lon),
            micro(b.max.lat),
        ])
    }
}

/// Which demand weighs cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DemandSource {
    /// Imported points (e.g. a platform's pick-ups), all labels summed.
    Imported,
    /// Counted nearest-query origins (only cells with enough queries).
    Queries,
}

impl DemandSource {
    /// The name used in queries and replies.
    pub fn as_str(self) -> &'static str {
        match self {
            DemandSource::Imported => "import",
            DemandSource::Queries => "queries",
        }
    }
}

/// Why a coverage question has no answer.
#[derive(Debug, thiserror::Error)]
pub enum CoverageError {
    /// No region with this code.
    #[error("no region with adcode {0}; GET /api/v1/regions lists them")]
    UnknownRegion(Adcode),
    /// The region has no county to measure.
    #[error("region {0} has no county outline to measure")]
    NoCounties(Adcode),
    /// The grid could not be made.
    #[error(transparent)]
    Grid(#[from] GridError),
    /// Network travel asked for, and no road network is loaded.
    #[error("travel=network needs a road network: start the service with --osm FILE.osm.pbf (YIZHAN_OSM), or use travel=straight_line")]
    NoNetwork,
}

/// One answered coverage question, kept in the cache.
#[derive(Debug)]
pub struct CoverageResult {
    /// The grid it was measured on.
    pub grid: Arc<Grid>,
    /// The travel model the minutes come from.
    pub travel: TravelKind,
    /// Cells, minutes, flags and figures.
    pub coverage: Coverage,
    /// County rows sorted worst first (lowest covered share, then most uncovered km²).
    pub counties_worst_first: Vec<Figures>,
    /// The gaps as a GeoJSON FeatureCollection.
    pub gaps_geojson: String,
    /// Station data version (the index generation) measured.
    pub data_version: u64,
    /// Demand used, if any.
    pub demand: Option<DemandSource>,
    /// Milliseconds the computation took.
    pub computed_ms: u64,
}

/// Demand held in memory: imported cells (labels summed) and query-origin counts.
#[derive(Debug, Default)]
pub struct DemandData {
    /// Imported demand per cell.
    pub imported: Vec<(CellIndex, f64)>,
    /// Query-origin counts per cell (all of them; publication filters by the threshold).
    pub queries: Vec<(CellIndex, u64)>,
    /// Bumped on every change, part of result cache keys.
    pub version: u64,
}

impl DemandData {
    /// Builds the in-memory demand from stored rows.
    pub fn new(imported: &[DemandCell], queries: Vec<(CellIndex, u64)>, version: u64) -> Self {
        let mut sums: std::collections::BTreeMap<u64, f64> = Default::default();
        for c in imported {
            *sums.entry(u64::from(c.cell)).or_default() += c.weight;
        }
        Self {
            imported: sums
                .into_iter()
                .filter_map(|(c, w)| Some((CellIndex::try_from(c).ok()?, w)))
                .collect(),
            queries,
            version,
        }
    }

    /// Whether this source has any weight.
    pub fn has(&self, source: DemandSource) -> bool {
        match source {
            DemandSource::Imported => !self.imported.is_empty(),
            DemandSource::Queries => self.published_queries().next().is_some(),
        }
    }

    /// Query-origin cells with at least [`QUERY_DEMAND_MIN_COUNT`] queries.
    pub fn published_queries(&self) -> impl Iterator<Item = (CellIndex, u64)> + '_ {
        self.queries
            .iter()
            .copied()
            .filter(|&(_, n)| n >= QUERY_DEMAND_MIN_COUNT)
    }

    fn weights(&self, grid: &Grid, source: DemandSource) -> CellWeights {
        match source {
            DemandSource::Imported => CellWeights::spread(grid, self.imported.iter().copied()),
            DemandSource::Queries => {
                CellWeights::spread(grid, self.published_queries().map(|(c, n)| (c, n as f64)))
            }
        }
    }
}

/// Cache key of a result.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ResultKey {
    travel: TravelKind,
    area: Area,
    res: u8,
    mode: crate::domain::Mode,
    minutes_bits: u64,
    only_24h: bool,
    data_version: u64,
    demand: Option<(DemandSource, u64)>,
}

/// Grids kept (a province at resolution 9 is ~70 MB).
const GRID_CACHE: usize = 4;
/// Results kept (each holds minutes and flags per cell, ~10 MB for a province).
const RESULT_CACHE: usize = 16;

/// A snapshot's overlay is folded into a fresh one before measuring when overlay stations ×
/// cells reaches this many times the stations: each query checks every overlay station (about
/// 0.05 µs each, more for the first), a rebuild costs about 0.25 µs per station
/// (`benches/coverage.rs`, `benches/index.rs`).
const FOLD_WHEN_OVERLAY_CELLS_PER_STATION: usize = 4;

/// Regions, demand, the travel model and the caches: what the coverage endpoints and the CLI use.
pub struct CoverageService {
    travel: Arc<dyn TravelTimes>,
    network: Option<Arc<dyn TravelTimes>>,
    regions: Arc<RegionSet>,
    demand: ArcSwap<DemandData>,
    grids: Lru<(Area, u8), Grid>,
    results: Lru<ResultKey, CoverageResult>,
    /// The last stations counted that are not the snapshot itself: (generation, only 24h, them).
    counted: Mutex<Option<(u64, bool, Arc<Snapshot>)>>,
    compute: Arc<tokio::sync::Semaphore>,
}

impl CoverageService {
    /// Waits for the right to run a computation (one at a time: each uses every core).
    pub async fn compute_permit(&self) -> tokio::sync::OwnedSemaphorePermit {
        // The semaphore is never closed, so acquiring only waits.
        loop {
            if let Ok(p) = self.compute.clone().acquire_owned().await {
                return p;
            }
            tokio::task::yield_now().await;
        }
    }

    /// A service over these regions and demand.
    pub fn new(travel: Arc<dyn TravelTimes>, regions: RegionSet, demand: DemandData) -> Self {
        Self {
            travel,
            network: None,
            regions: Arc::new(regions),
            demand: ArcSwap::from_pointee(demand),
            grids: Lru::new(GRID_CACHE),
            results: Lru::new(RESULT_CACHE),
            counted: Mutex::new(None),
            compute: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }

    /// The same service measuring on a road network too (`network` answers
    /// [`TravelKind::Network`] and becomes the default).
    pub fn with_network(mut self, network: Arc<dyn TravelTimes>) -> Self {
        self.network = Some(network);
        self
    }

    /// Whether a road network is loaded.
    pub fn has_network(&self) -> bool {
        self.network.is_some()
    }

    /// The travel model used when a question names none: the network when one is loaded.
    pub fn default_travel(&self) -> TravelKind {
        if self.network.is_some() {
            TravelKind::Network
        } else {
            TravelKind::StraightLine
        }
    }

    /// The model of a kind, or [`CoverageError::NoNetwork`].
    pub fn travel(&self, kind: TravelKind) -> Result<&Arc<dyn TravelTimes>, CoverageError> {
        match kind {
            TravelKind::StraightLine => Ok(&self.travel),
            TravelKind::Network => self.network.as_ref().ok_or(CoverageError::NoNetwork),
        }
    }

    /// The default travel model's name.
    pub fn travel_name(&self) -> &'static str {
        self.default_travel().as_str()
    }

    /// The straight-line radius of `minutes`, when the travel model has one.
    pub fn reach_m(
        &self,
        kind: TravelKind,
        mode: crate::domain::Mode,
        minutes: f64,
    ) -> Option<f64> {
        self.travel(kind).ok()?.reach_m(mode, minutes)
    }

    /// The regions known.
    pub fn regions(&self) -> Arc<RegionSet> {
        self.regions.clone()
    }

    /// What an area is, as replies and files name it: `{"adcode","name","level"}` for a region,
    /// `{"bbox":[w,s,e,n]}` for a box.
    pub fn describe_area(&self, area: Area) -> serde_json::Value {
        match area {
            Area::Region(code) => {
                let regions = self.regions();
                let r = regions.get(code);
                serde_json::json!({
                    "adcode": code.to_string(),
                    "name": r.map(|r| r.name.clone()),
                    "level": r.map(|r| r.level.as_str()),
                })
            }
            Area::BBox([w, s, e, n]) => {
                let f = |v: i64| v as f64 / 1e6;
                serde_json::json!({ "bbox": [f(w), f(s), f(e), f(n)] })
            }
        }
    }

    /// The demand in memory.
    pub fn demand(&self) -> Arc<DemandData> {
        self.demand.load_full()
    }

    /// Replaces the imported demand (after an import), keeping query counts.
    pub fn set_imported_demand(&self, cells: &[DemandCell]) {
        let old = self.demand.load();
        self.demand.store(Arc::new(DemandData::new(
            cells,
            old.queries.clone(),
            old.version + 1,
        )));
    }

    /// Replaces the query-origin counts (after a flush).
    pub fn set_query_counts(&self, counts: Vec<(CellIndex, u64)>) {
        let old = self.demand.load();
        self.demand.store(Arc::new(DemandData {
            imported: old.imported.clone(),
            queries: counts,
            version: old.version + 1,
        }));
    }

    /// The grid of an area at a resolution (cached).
    pub fn grid(&self, area: Area, res: Resolution) -> Result<Arc<Grid>, CoverageError> {
        let key = (area, u8::from(res));
        if let Some(g) = self.grids.get(&key) {
            return Ok(g);
        }
        let regions = &self.regions;
        let grid = match area {
            Area::Region(code) => {
                if regions.get(code).is_none() {
                    return Err(CoverageError::UnknownRegion(code));
                }
                let counties: Vec<&Region> = regions.counties_of(code);
                if counties.is_empty() {
                    return Err(CoverageError::NoCounties(code));
                }
                Grid::of_counties(&counties, res)?
            }
            Area::BBox([w, s, e, n]) => {
                let f = |v: i64| v as f64 / 1e6;
                let bbox = BBox::new(f(w), f(s), f(e), f(n))
                    .map_err(|e| GridError::Outline("the box".into(), e.message))?;
                Grid::of_bbox(&bbox, &regions.counties(), res)?
            }
        };
        let grid = Arc::new(grid);
        self.grids.put(key, grid.clone());
        Ok(grid)
    }

    /// The stations counted: all of the snapshot, or those open around the clock. A filtered
    /// set is a snapshot of its own; so is the whole set when the snapshot carries enough
    /// changed stations in its overlay for `cells` queries to cost more than a rebuild (with
    /// 100 edited stations, the minutes of all Jiangxi took 5 s instead of 1). Kept for the
    /// last data version asked.
    fn sources(&self, snapshot: &Arc<Snapshot>, only_24h: bool, cells: usize) -> Arc<Snapshot> {
        let mut cached = self.counted.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((generation, h24, s)) = cached.as_ref() {
            if *generation == snapshot.generation() && *h24 == only_24h {
                return s.clone();
            }
        }
        let fold = snapshot.overlay_len().saturating_mul(cells)
            >= snapshot
                .len()
                .saturating_mul(FOLD_WHEN_OVERLAY_CELLS_PER_STATION);
        if !only_24h && !fold {
            return snapshot.clone();
        }
        let counted: Vec<Arc<crate::domain::Station>> = snapshot
            .all()
            .into_iter()
            .filter(|s| !only_24h || s.opening_hours.is_always_open())
            .collect();
        let s = Arc::new(Snapshot::build(counted, snapshot.tz()));
        *cached = Some((snapshot.generation(), only_24h, s.clone()));
        s
    }

    /// Coverage of an area by the default travel model (see [`Self::coverage_by`]).
    pub fn coverage(
        &self,
        area: Area,
        res: Resolution,
        params: Params,
        snapshot: &Arc<Snapshot>,
        demand: Option<DemandSource>,
        extra: &[LonLat],
    ) -> Result<(Arc<CoverageResult>, bool), CoverageError> {
        let travel = self.default_travel();
        self.coverage_by(travel, area, res, params, snapshot, demand, extra)
    }

    /// Coverage of an area by a travel model (cached per station data version), or as if
    /// `extra` stations existed (never cached). Blocking: call it from a blocking thread.
    #[allow(clippy::too_many_arguments)]
    pub fn coverage_by(
        &self,
        travel: TravelKind,
        area: Area,
        res: Resolution,
        params: Params,
        snapshot: &Arc<Snapshot>,
        demand: Option<DemandSource>,
        extra: &[LonLat],
    ) -> Result<(Arc<CoverageResult>, bool), CoverageError> {
        let model = self.travel(travel)?.clone();
        let demand_data = self.demand.load_full();
        let demand = demand.filter(|d| demand_data.has(*d));
        let key = ResultKey {
            travel,
            area,
            res: u8::from(res),
            mode: params.mode,
            minutes_bits: params.minutes.to_bits(),
            only_24h: params.only_24h,
            data_version: snapshot.generation(),
            demand: demand.map(|d| (d, demand_data.version)),
        };
        if extra.is_empty() {
            if let Some(hit) = self.results.get(&key) {
                return Ok((hit, true));
            }
        }
        let started = Instant::now();
        let grid = self.grid(area, res)?;
        let sources = self.sources(snapshot, params.only_24h, grid.len());
        let weights = demand.map(|d| demand_data.weights(&grid, d));
        let coverage = compute(
            &grid,
            &sources,
            extra,
            model.as_ref(),
            params,
            weights.as_ref(),
        );
        let mut worst = coverage.counties.clone();
        worst.sort_by(|a, b| {
            a.covered_share
                .total_cmp(&b.covered_share)
                .then_with(|| b.uncovered_km2.total_cmp(&a.uncovered_km2))
                .then_with(|| a.adcode.cmp(&b.adcode))
        });
        let gaps_geojson = super::gaps::gaps_geojson(&grid, &coverage.gaps);
        let result = Arc::new(CoverageResult {
            grid,
            travel,
            coverage,
            counties_worst_first: worst,
            gaps_geojson,
            data_version: snapshot.generation(),
            demand,
            computed_ms: started.elapsed().as_millis() as u64,
        });
        if extra.is_empty() {
            self.results.put(key, result.clone());
        }
        Ok((result, false))
    }

    /// Up to `k` sites that would cover the most uncovered area (or demand), from a coverage
    /// result. Blocking.
    pub fn suggestions(
        &self,
        result: &CoverageResult,
        params: Params,
        by_demand: bool,
        k: usize,
    ) -> Vec<Suggestion> {
        let grid = &result.grid;
        let demand: Option<Vec<f64>> = result.demand.map(|d| {
            self.demand
                .load()
                .weights(grid, d)
                .0
                .into_iter()
                .map(f64::from)
                .collect()
        });
        let weight: Vec<f64> = match (&demand, by_demand) {
            (Some(d), true) => d.clone(),
            _ => grid.area_km2.iter().map(|&a| f64::from(a)).collect(),
        };
        // A result exists only for a model the service has.
        let model = self.travel(result.travel).unwrap_or(&self.travel);
        suggest(
            grid,
            model.as_ref(),
            params,
            &result.coverage.covered,
            &weight,
            demand.as_deref(),
            k,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coverage::travel::StraightLine;
    use crate::domain::{Mode, Station, TravelModel};
    use crate::index::StationIndex;

    const TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;
    const BOX: (f64, f64, f64, f64) = (115.8, 28.6, 116.0, 28.75);

    /// The demo stations inside [`BOX`] (central Nanchang).
    fn stations() -> Vec<Station> {
        let now = chrono::Utc::now();
        crate::io::import::parse_csv(crate::io::seed::DEMO_STATIONS_CSV)
            .expect("demo stations")
            .stations
            .into_iter()
            .enumerate()
            .map(|(i, s)| s.into_station(i as i64 + 1, now))
            .filter(|s| {
                let p = s.location;
                (BOX.0..BOX.2).contains(&p.lon) && (BOX.1..BOX.3).contains(&p.lat)
            })
            .collect()
    }

    fn travel() -> StraightLine {
        StraightLine {
            model: TravelModel::default(),
        }
    }

    fn service() -> CoverageService {
        CoverageService::new(
            Arc::new(travel()),
            RegionSet::default(),
            DemandData::default(),
        )
    }

    /// An index of `stations` after one was moved and another removed, and a fresh snapshot
    /// of the stations as they then are.
    fn edited(stations: &[Station]) -> (Arc<Snapshot>, Arc<Snapshot>) {
        let index = StationIndex::new(Snapshot::build(stations.to_vec(), TZ));
        let mut moved = stations[0].clone();
        moved.location = LonLat::new(115.85, 28.70).expect("valid");
        moved.version += 1;
        let removed = stations[1].id;
        index.apply(vec![(moved.id, Some(moved.clone())), (removed, None)]);
        let mut after = stations.to_vec();
        after[0] = moved;
        after.remove(1);
        (index.load(), Arc::new(Snapshot::build(after, TZ)))
    }

    #[test]
    fn coverage_after_edits_equals_coverage_of_a_fresh_snapshot() {
        let stations = stations();
        assert!(
            stations.len() > 20,
            "{} stations in the box",
            stations.len()
        );
        let (edited, fresh) = edited(&stations);
        assert_eq!(edited.overlay_len(), 2);
        let (w, s, e, n) = BOX;
        let area = Area::bbox(&BBox::new(w, s, e, n).expect("valid box"));
        for only_24h in [false, true] {
            let params = Params {
                mode: Mode::Walk,
                minutes: 15.0,
                only_24h,
            };
            let (a, _) = service()
                .coverage(area, Resolution::Nine, params, &edited, None, &[])
                .expect("coverage");
            let (b, _) = service()
                .coverage(area, Resolution::Nine, params, &fresh, None, &[])
                .expect("coverage");
            assert_eq!(
                a.coverage.minutes, b.coverage.minutes,
                "only_24h {only_24h}"
            );
            assert_eq!(a.coverage.total, b.coverage.total, "only_24h {only_24h}");
            assert_eq!(a.data_version, edited.generation());
            if !only_24h {
                // Measured on the overlay itself, as before folding: the same minutes.
                let direct = compute(&a.grid, &edited, &[], &travel(), params, None);
                assert_eq!(direct.minutes, a.coverage.minutes);
            }
        }
    }

    #[test]
    fn overlay_is_folded_only_when_the_queries_cost_more_than_a_rebuild() {
        let stations = stations();
        let (edited, _) = edited(&stations);
        let svc = service();
        let plain = Arc::new(Snapshot::build(stations.clone(), TZ));
        assert!(Arc::ptr_eq(&svc.sources(&plain, false, 1 << 20), &plain));
        assert!(Arc::ptr_eq(&svc.sources(&edited, false, 1), &edited));
        let cells = stations.len() * FOLD_WHEN_OVERLAY_CELLS_PER_STATION;
        let folded = svc.sources(&edited, false, cells);
        assert!(!Arc::ptr_eq(&folded, &edited));
        assert_eq!(folded.overlay_len(), 0);
        assert_eq!(folded.len(), edited.len());
        assert!(
            Arc::ptr_eq(&svc.sources(&edited, false, 1), &folded),
            "kept for its data version"
        );
    }
}
