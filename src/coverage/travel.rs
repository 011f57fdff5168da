//! Travel times between outdoor workers and stations, behind one trait: the straight line
//! (geodesic distance × detour ÷ speed, the same model as the nearest API) here, the road
//! network in [`super::network_travel`]. Coverage only sees minutes.

use super::grid::Grid;
use super::MAX_COVERAGE_MINUTES;
use crate::domain::AmenitySet;
use crate::domain::{LonLat, Mode, TravelModel};
use crate::index::{distance_m, NearestQuery, Snapshot};

/// The stations minutes are measured to: a snapshot of real ones and, for what-if questions,
/// hypothetical ones that exist only for this computation.
pub struct Sources<'a> {
    /// Stations of the index (already filtered, e.g. to those open around the clock).
    pub snapshot: &'a Snapshot,
    /// Hypothetical stations.
    pub extra: &'a [LonLat],
}

/// How coverage learns travel times. Minutes run from a cell's centre to a station.
pub trait TravelTimes: Send + Sync {
    /// A stable name for replies and cache keys (`straight_line`, `network`).
    fn name(&self) -> &'static str;

    /// Minutes from each cell centre of `grid` to its nearest source, by `mode`
    /// (`f64::INFINITY` where none can be reached within [`MAX_COVERAGE_MINUTES`]), in grid
    /// order. [`NO_ROAD_ACCESS`] (NaN) marks a cell the model cannot place at all (no road
    /// within reach of its centre): neither covered nor uncovered.
    fn nearest_minutes(&self, sources: &Sources<'_>, grid: &Grid, mode: Mode) -> Vec<f64>;

    /// Calls `found(position, minutes)` for every cell of `grid` whose centre is within `limit`
    /// minutes of a station at `site` (what a new station there would cover). Must agree with
    /// [`TravelTimes::nearest_minutes`]: a cell it reports has, with a station at `site`,
    /// nearest minutes of at most the reported value.
    fn reach(
        &self,
        site: LonLat,
        grid: &Grid,
        mode: Mode,
        limit: f64,
        found: &mut dyn FnMut(usize, f64),
    );

    /// Whether some cells may have [`NO_ROAD_ACCESS`] (the figures then report them apart).
    fn has_access_limits(&self) -> bool {
        false
    }

    /// The straight-line radius `minutes` stands for, when the model has one (for display).
    fn reach_m(&self, _mode: Mode, _minutes: f64) -> Option<f64> {
        None
    }
}

/// Which travel model a coverage question uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TravelKind {
    /// Geodesic distance × detour ÷ speed.
    StraightLine,
    /// The road network of the loaded extract.
    Network,
}

impl TravelKind {
    /// The name used in queries, replies and cache keys.
    pub fn as_str(self) -> &'static str {
        match self {
            TravelKind::StraightLine => "straight_line",
            TravelKind::Network => "network",
        }
    }
}

/// The minutes of a cell with no road within reach of its centre (see
/// [`TravelTimes::nearest_minutes`]); test with `is_nan`.
pub const NO_ROAD_ACCESS: f64 = f64::NAN;

/// Straight-line travel: geodesic distance on WGS-84 × detour ÷ speed.
#[derive(Debug, Clone, Copy)]
pub struct StraightLine {
    /// Speeds and detour factor (the service's configuration).
    pub model: TravelModel,
}

/// Below this many cells the work stays on one thread.
const PARALLEL_FROM: usize = 16_384;

impl StraightLine {
    fn minutes_of_cell(&self, sources: &Sources<'_>, grid: &Grid, i: usize, mode: Mode) -> f64 {
        let origin = grid.centres[i];
        // Searching without a bound from a cell far from every station (a box off Africa's
        // coast) solved about a thousand geodesics per cell, whose chords all lie within the
        // ellipsoid's slack of the nearest: 51,000 cells took six minutes. Only minutes up to
        // the longest a planner may ask about decide coverage; beyond them a cell has none.
        let horizon = self.model.reach_m(mode, MAX_COVERAGE_MINUTES);
        let q = NearestQuery {
            origin,
            limit: 1,
            amenities: AmenitySet::default(),
            open_at: None,
            max_distance_m: Some(horizon * (1.0 + 1e-9)),
        };
        let mut best = sources
            .snapshot
            .nearest(&q)
            .first()
            .map_or(f64::INFINITY, |h| h.distance_m);
        for site in sources.extra {
            let e = site.ecef();
            let c = chord(&grid.ecef[i], &e);
            if c <= best {
                best = best.min(distance_m(&origin, &grid.ecef[i], site, &e));
            }
        }
        let minutes = self.model.minutes(mode, best);
        if minutes <= MAX_COVERAGE_MINUTES {
            minutes
        } else {
            f64::INFINITY
        }
    }
}

fn chord(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

impl TravelTimes for StraightLine {
    fn name(&self) -> &'static str {
        "straight_line"
    }

    fn reach_m(&self, mode: Mode, minutes: f64) -> Option<f64> {
        Some((self.model.reach_m(mode, minutes) * 10.0).round() / 10.0)
    }

    fn nearest_minutes(&self, sources: &Sources<'_>, grid: &Grid, mode: Mode) -> Vec<f64> {
        let n = grid.len();
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
        if n < PARALLEL_FROM || threads < 2 {
            return (0..n)
                .map(|i| self.minutes_of_cell(sources, grid, i, mode))
                .collect();
        }
        let mut out = vec![0.0; n];
        let chunk = n.div_ceil(threads);
        std::thread::scope(|scope| {
            for (k, part) in out.chunks_mut(chunk).enumerate() {
                scope.spawn(move || {
                    for (j, m) in part.iter_mut().enumerate() {
                        *m = self.minutes_of_cell(sources, grid, k * chunk + j, mode);
                    }
                });
            }
        });
        out
    }

    fn reach(
        &self,
        site: LonLat,
        grid: &Grid,
        mode: Mode,
        limit: f64,
        found: &mut dyn FnMut(usize, f64),
    ) {
        let radius = self.model.reach_m(mode, limit);
        if !radius.is_finite() || radius < 0.0 {
            return;
        }
        let e = site.ecef();
        // A chord is never longer than its geodesic: past the radius, no need to solve one.
        let radius_chord = radius * (1.0 + 1e-12) + 1e-6;
        grid.near(&site, radius, |range| {
            for i in range {
                if chord(&grid.ecef[i], &e) > radius_chord {
                    continue;
                }
                let m = self
                    .model
                    .minutes(mode, distance_m(&grid.centres[i], &grid.ecef[i], &site, &e));
                if m <= limit {
                    found(i, m);
                }
            }
        });
    }
}
