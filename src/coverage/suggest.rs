//! Where to build next: k sites among the grid's cell centres, chosen greedily to cover the most
//! uncovered weight (area or demand), with lazy evaluation (CELF, Leskovec et al. 2007): a
//! site's gain only shrinks as others are chosen, so a stale gain is an upper bound and most
//! sites are never re-evaluated. Greedy is within 1 − (1 − 1/k)^k ≥ 63 % of the optimum.

use super::grid::Grid;
use super::travel::TravelTimes;
use super::Params;
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// One suggested site and what it adds, with the running totals after it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Suggestion {
    /// 1 for the first pick.
    pub rank: usize,
    /// Grid position of the chosen cell.
    #[serde(skip)]
    pub position: usize,
    /// The chosen cell (its centre is the site).
    pub cell: String,
    /// Latitude of the site, WGS-84.
    pub lat: f64,
    /// Longitude of the site, WGS-84.
    pub lon: f64,
    /// The weight it adds (km² for area, demand units for demand).
    pub adds: f64,
    /// Newly covered cells.
    pub adds_cells: u64,
    /// Newly covered area, km².
    pub adds_km2: f64,
    /// Newly covered demand (when demand is known).
    pub adds_demand: Option<f64>,
    /// Covered area after this pick, km².
    pub total_covered_km2: f64,
    /// Covered share of the area after this pick.
    pub total_covered_share: f64,
    /// Covered demand after this pick (when demand is known).
    pub total_covered_demand: Option<f64>,
}

/// A heap entry: a site's gain as of `round` (picks made when it was computed).
#[derive(Debug, Clone, Copy)]
struct Entry {
    gain: f64,
    position: u32,
    round: u32,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    /// Larger gain first; among equal gains the lower grid position, so picks are deterministic.
    fn cmp(&self, o: &Self) -> Ordering {
        self.gain
            .total_cmp(&o.gain)
            .then_with(|| o.position.cmp(&self.position))
    }
}

/// The uncovered weight a site at grid position `c` would cover.
pub fn gain(
    grid: &Grid,
    travel: &dyn TravelTimes,
    params: Params,
    covered: &[bool],
    weight: &[f64],
    c: usize,
) -> f64 {
    let mut g = 0.0;
    travel.reach(
        grid.centres[c],
        grid,
        params.mode,
        params.minutes,
        &mut |u, _| {
            if !covered[u] {
                g += weight[u];
            }
        },
    );
    g
}

/// Gains of every site, on every core.
fn initial_gains(
    grid: &Grid,
    travel: &dyn TravelTimes,
    params: Params,
    covered: &[bool],
    weight: &[f64],
) -> Vec<f64> {
    let n = grid.len();
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .max(1);
    let mut out = vec![0.0; n];
    if n == 0 {
        return out;
    }
    let chunk = n.div_ceil(threads);
    std::thread::scope(|scope| {
        for (k, part) in out.chunks_mut(chunk).enumerate() {
            scope.spawn(move || {
                for (j, g) in part.iter_mut().enumerate() {
                    *g = gain(grid, travel, params, covered, weight, k * chunk + j);
                }
            });
        }
    });
    out
}

/// Chooses up to `k` sites (fewer when nothing more can be gained). `weight` is what is
/// maximised (area or demand per cell); `demand`, when known, is reported beside the area.
pub fn suggest(
    grid: &Grid,
    travel: &dyn TravelTimes,
    params: Params,
    covered: &[bool],
    weight: &[f64],
    demand: Option<&[f64]>,
    k: usize,
) -> Vec<Suggestion> {
    let mut covered = covered.to_vec();
    let gains = initial_gains(grid, travel, params, &covered, weight);
    let mut heap: BinaryHeap<Entry> = gains
        .iter()
        .enumerate()
        .filter(|(_, &g)| g > 0.0)
        .map(|(i, &g)| Entry {
            gain: g,
            position: i as u32,
            round: 0,
        })
        .collect();
    let total_area: f64 = grid.area_km2.iter().map(|&a| f64::from(a)).sum();
    let mut covered_area: f64 = (0..grid.len())
        .filter(|&i| covered[i])
        .map(|i| f64::from(grid.area_km2[i]))
        .sum();
    let mut covered_demand: Option<f64> =
        demand.map(|d| (0..grid.len()).filter(|&i| covered[i]).map(|i| d[i]).sum());
    let mut picks = Vec::new();
    while picks.len() < k {
        let Some(top) = heap.pop() else { break };
        let round = picks.len() as u32;
        if top.round != round {
            let g = gain(
                grid,
                travel,
                params,
                &covered,
                weight,
                top.position as usize,
            );
            if g > 0.0 {
                heap.push(Entry {
                    gain: g,
                    position: top.position,
                    round,
                });
            }
            continue;
        }
        let c = top.position as usize;
        let (mut cells, mut km2, mut dem) = (0u64, 0.0, 0.0);
        travel.reach(
            grid.centres[c],
            grid,
            params.mode,
            params.minutes,
            &mut |u, _| {
                if !covered[u] {
                    covered[u] = true;
                    cells += 1;
                    km2 += f64::from(grid.area_km2[u]);
                    dem += demand.map_or(0.0, |d| d[u]);
                }
            },
        );
        covered_area += km2;
        if let Some(t) = covered_demand.as_mut() {
            *t += dem;
        }
        let round3 = |v: f64| (v * 1000.0).round() / 1000.0;
        picks.push(Suggestion {
            rank: picks.len() + 1,
            position: c,
            cell: grid.cells[c].to_string(),
            lat: grid.centres[c].lat,
            lon: grid.centres[c].lon,
            adds: top.gain,
            adds_cells: cells,
            adds_km2: round3(km2),
            adds_demand: demand.map(|_| round3(dem)),
            total_covered_km2: round3(covered_area),
            total_covered_share: if total_area > 0.0 {
                ((covered_area / total_area) * 1e6).round() / 1e6
            } else {
                0.0
            },
            total_covered_demand: covered_demand.map(round3),
        });
    }
    picks
}
