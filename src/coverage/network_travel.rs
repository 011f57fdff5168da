//! Coverage minutes on the road network (issue 11): cell centres are snapped to roads like
//! riders, and one multi-source Dijkstra per computation over the reversed graph gives every
//! node its time to the nearest station; a cell reads the two ends of its edge (plus stations
//! on its own edge). Times are whole deciseconds, so results equal a plain Dijkstra exactly.
//!
//! A cell whose centre lies farther than [`crate::network::MAX_SNAP_M`] from every road of the
//! mode has [`NO_ROAD_ACCESS`]. A station that does not snap reaches no cell by road (it is
//! not reachable on the network either); see `docs/network.md`.

use super::grid::Grid;
use super::travel::{Sources, TravelTimes, NO_ROAD_ACCESS};
use super::MAX_COVERAGE_MINUTES;
use crate::domain::{LonLat, Mode};
use crate::network::graph::Graph;
use crate::network::roads::{ModeNetwork, Roads};
use crate::network::snap::Snap;
use crate::network::MAX_SNAP_M;
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};

/// Deciseconds in a minute.
const DS_PER_MINUTE: f64 = 600.0;
/// Marks "no edge" in [`Placed`] and "unreached" in distance arrays.
const NONE: u32 = u32::MAX;
/// Snapped grids kept (per grid and mode; a province at resolution 9 is ~29 MB each).
const PLACED_CACHE: usize = 2;
/// Below this many items the work stays on one thread.
const PARALLEL_FROM: usize = 4_096;

/// A cell centre on the network: its edge ([`NONE`] without road access) and the metres
/// along it (16 bytes a cell; the distance to the road is not needed for times).
#[derive(Debug, Clone, Copy)]
struct Placed {
    offset_m: f64,
    edge: u32,
}

impl Placed {
    fn snap(self) -> Option<Snap> {
        (self.edge != NONE).then_some(Snap {
            edge: self.edge,
            offset_m: self.offset_m,
            distance_m: 0.0,
        })
    }
}

/// The cells of one grid placed on one mode's network.
struct PlacedGrid {
    grid: u64,
    mode: Mode,
    cells: Vec<Placed>,
}

/// Travel times on the loaded road networks (`travel=network`).
pub struct NetworkTravel {
    /// The walking and e-bike graphs with their snapping indexes.
    pub roads: Arc<Roads>,
    /// Recently snapped grids: snapping every centre costs more than the search itself, and
    /// suggestions and repeated questions measure the same grid again.
    placed: Mutex<Vec<Arc<PlacedGrid>>>,
}

impl NetworkTravel {
    /// Coverage minutes on `roads`.
    pub fn new(roads: Arc<Roads>) -> Self {
        Self {
            roads,
            placed: Mutex::new(Vec::new()),
        }
    }

    /// The cells of `grid` placed on `mode`'s network (snapped on every core, then kept).
    fn placed(&self, grid: &Grid, mode: Mode) -> Arc<PlacedGrid> {
        // Held while snapping: a second caller for the same grid waits instead of redoing it.
        let mut cache = self.placed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hit) = cache.iter().find(|p| p.grid == grid.id && p.mode == mode) {
            return hit.clone();
        }
        let net = self.roads.mode(mode);
        let cells = par_map(&grid.centres, |p| {
            net.snap(p).map_or(
                Placed {
                    offset_m: 0.0,
                    edge: NONE,
                },
                |s| Placed {
                    offset_m: s.offset_m,
                    edge: s.edge,
                },
            )
        });
        let placed = Arc::new(PlacedGrid {
            grid: grid.id,
            mode,
            cells,
        });
        cache.push(placed.clone());
        if cache.len() > PLACED_CACHE {
            cache.remove(0);
        }
        placed
    }
}

/// The snapped sources, sorted by edge (for stations on a cell's own edge).
fn source_snaps(net: &ModeNetwork, sources: &Sources<'_>) -> Vec<Snap> {
    let mut snaps: Vec<Snap> = sources
        .snapshot
        .all()
        .iter()
        .map(|s| s.location)
        .chain(sources.extra.iter().copied())
        .filter_map(|p| net.snap(&p))
        .collect();
    snaps.sort_by_key(|s| s.edge);
    snaps
}

/// Deciseconds from `cell` to the nearest source: out of its edge by an exit, then `dist`
/// (node to nearest source); or along its own edge to a source on it.
fn cell_time(g: &Graph, cell: &Snap, dist: &[u32], on_edge: &[Snap]) -> u32 {
    let mut best = NONE;
    for (x, t) in cell.exits(g).into_iter().flatten() {
        let d = dist[x as usize];
        if d != NONE {
            best = best.min(t.saturating_add(d));
        }
    }
    let from = on_edge.partition_point(|s| s.edge < cell.edge);
    for s in on_edge[from..].iter().take_while(|s| s.edge == cell.edge) {
        if let Some(t) = cell.along(g, s) {
            best = best.min(t);
        }
    }
    best
}

/// Minutes of a time in deciseconds ([`f64::INFINITY`] past `limit_ds`).
fn minutes_of(ds: u32, limit_ds: u32) -> f64 {
    if ds <= limit_ds {
        f64::from(ds) / DS_PER_MINUTE
    } else {
        f64::INFINITY
    }
}

/// Reusable search arrays of one thread: a distance per node, reset through `touched`.
#[derive(Default)]
struct Scratch {
    dist: Vec<u32>,
    touched: Vec<u32>,
    heap: BinaryHeap<Reverse<(u32, u32)>>,
}

impl Scratch {
    fn reset(&mut self, n: usize) {
        for &x in &self.touched {
            self.dist[x as usize] = NONE;
        }
        self.touched.clear();
        self.heap.clear();
        if self.dist.len() < n {
            self.dist.resize(n, NONE);
        }
    }

    /// Dijkstra over the reversed graph from `(node, time)` seeds, settling nodes up to
    /// `limit_ds`: afterwards `dist[x]` is the time from `x` to the nearest seed's target
    /// wherever that is at most `limit_ds` (and `NONE` or larger elsewhere).
    fn search(&mut self, g: &Graph, seeds: impl IntoIterator<Item = (u32, u32)>, limit_ds: u32) {
        self.reset(g.nodes());
        for (x, t) in seeds {
            if t <= limit_ds && t < self.dist[x as usize] {
                if self.dist[x as usize] == NONE {
                    self.touched.push(x);
                }
                self.dist[x as usize] = t;
                self.heap.push(Reverse((t, x)));
            }
        }
        while let Some(Reverse((d, x))) = self.heap.pop() {
            if d > self.dist[x as usize] {
                continue;
            }
            for (y, w) in g.rev.arcs(x) {
                let nd = d.saturating_add(w);
                if nd <= limit_ds && nd < self.dist[y as usize] {
                    if self.dist[y as usize] == NONE {
                        self.touched.push(y);
                    }
                    self.dist[y as usize] = nd;
                    self.heap.push(Reverse((nd, y)));
                }
            }
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl TravelTimes for NetworkTravel {
    fn name(&self) -> &'static str {
        "network"
    }

    fn has_access_limits(&self) -> bool {
        true
    }

    fn nearest_minutes(&self, sources: &Sources<'_>, grid: &Grid, mode: Mode) -> Vec<f64> {
        let net = self.roads.mode(mode);
        let g = &net.graph;
        let placed = self.placed(grid, mode);
        let on_edge = source_snaps(net, sources);
        let limit_ds = (MAX_COVERAGE_MINUTES * DS_PER_MINUTE) as u32;
        // One search from every source at once (its own arrays: the whole graph is touched).
        let mut s = Scratch::default();
        s.search(
            g,
            on_edge
                .iter()
                .flat_map(|p| p.entries(g).into_iter().flatten()),
            limit_ds,
        );
        let dist = &s.dist;
        par_map(&placed.cells, |c| match c.snap() {
            None => NO_ROAD_ACCESS,
            Some(cell) => minutes_of(cell_time(g, &cell, dist, &on_edge), limit_ds),
        })
    }

    fn reach(
        &self,
        site: LonLat,
        grid: &Grid,
        mode: Mode,
        limit: f64,
        found: &mut dyn FnMut(usize, f64),
    ) {
        if limit.is_nan() || limit < 0.0 {
            return;
        }
        let net = self.roads.mode(mode);
        let g = &net.graph;
        let Some(at) = net.snap(&site) else { return };
        let placed = self.placed(grid, mode);
        let limit_ds = (limit.min(MAX_COVERAGE_MINUTES) * DS_PER_MINUTE).floor() as u32;
        // A road time is never shorter than the geodesic between the two snapped points at the
        // mode's speed, and each point lies within MAX_SNAP_M of its own: cells farther than
        // this cannot be reached.
        let radius_m =
            f64::from(limit_ds) / 10.0 * g.profile.speed_kmh / 3.6 * 1.01 + 2.0 * MAX_SNAP_M + 10.0;
        let on_edge = [at];
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            s.search(g, at.entries(g).into_iter().flatten(), limit_ds);
            let dist = &s.dist;
            grid.near(&site, radius_m, |range| {
                for i in range {
                    let Some(cell) = placed.cells[i].snap() else {
                        continue;
                    };
                    let m = minutes_of(cell_time(g, &cell, dist, &on_edge), limit_ds);
                    if m <= limit {
                        found(i, m);
                    }
                }
            });
        });
    }
}

/// `f` of every item, on every core, in order.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    if items.len() < PARALLEL_FROM || threads < 2 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let f = &f;
                scope.spawn(move || part.iter().map(f).collect::<Vec<R>>())
            })
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for p in parts {
            out.extend(p.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        out
    })
}
