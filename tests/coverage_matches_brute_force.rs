//! Coverage against brute force: every cell's minutes equal the geodesic minimum over every
//! station (hypothetical ones included), the greedy's first pick is the exhaustive best single
//! site, and its gain for k = 2, 3 is within the greedy bound of the exhaustive optimum.

// Cells are addressed by position in several parallel arrays.
#![allow(clippy::needless_range_loop)]

mod common;

use common::{new_station, station_record};
use proptest::prelude::*;
use yizhan::coverage::grid::Grid;
use yizhan::coverage::suggest::suggest;
use yizhan::coverage::travel::{Sources, StraightLine, TravelTimes};
use yizhan::coverage::{compute, Params, MAX_COVERAGE_MINUTES};
use yizhan::domain::{BBox, LonLat, Mode, TravelModel};
use yizhan::index::Snapshot;

const TRAVEL: StraightLine = StraightLine {
    model: TravelModel {
        walk_kmh: 4.5,
        ebike_kmh: 15.0,
        detour: 1.3,
    },
};

fn snapshot(points: &[(f64, f64)]) -> Snapshot {
    let now = chrono::Utc::now();
    let stations: Vec<_> = points
        .iter()
        .enumerate()
        .map(|(i, &p)| station_record(i as i64 + 1, &new_station(&format!("T{i}"), p), now))
        .collect();
    Snapshot::build(stations, chrono_tz::Asia::Shanghai)
}

fn geodesic(a: &LonLat, b: &LonLat) -> f64 {
    a.geodesic_distance(b)
}

/// Minutes from every cell to its nearest station, by scanning them all (none beyond the
/// longest a planner may ask about).
fn brute_minutes(grid: &Grid, stations: &[LonLat], mode: Mode) -> Vec<f64> {
    grid.centres
        .iter()
        .map(|c| {
            stations
                .iter()
                .map(|s| TRAVEL.model.minutes(mode, geodesic(c, s)))
                .fold(f64::INFINITY, f64::min)
        })
        .map(|m| {
            if m <= MAX_COVERAGE_MINUTES {
                m
            } else {
                f64::INFINITY
            }
        })
        .collect()
}

fn lonlat(p: (f64, f64)) -> LonLat {
    LonLat::new(p.0, p.1).expect("valid")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn cell_minutes_equal_brute_force(
        lon in 100.0f64..120.0,
        lat in -60.0f64..60.0,
        real in prop::collection::vec((0.0f64..1.0, 0.0f64..1.0), 0..25),
        extra in prop::collection::vec((0.0f64..1.0, 0.0f64..1.0), 0..4),
        ebike in any::<bool>(),
    ) {
        // A box of about 5 × 5 km with stations in and around it.
        let (w, s) = (lon, lat);
        let (dx, dy) = (0.05 / lat.to_radians().cos(), 0.045);
        let bbox = BBox::new(w, s, w + dx, s + dy).expect("valid box");
        let place = |&(u, v): &(f64, f64)| (w - dx + 3.0 * dx * u, s - dy + 3.0 * dy * v);
        let real: Vec<(f64, f64)> = real.iter().map(place).collect();
        let extra: Vec<LonLat> = extra.iter().map(place).map(lonlat).collect();
        let grid = Grid::of_bbox(&bbox, &[], h3o::Resolution::Nine).expect("grid");
        prop_assume!(!grid.is_empty());
        let mode = if ebike { Mode::Ebike } else { Mode::Walk };
        let snap = snapshot(&real);
        let got = TRAVEL.nearest_minutes(&Sources { snapshot: &snap, extra: &extra }, &grid, mode);
        let all: Vec<LonLat> = real.iter().copied().map(lonlat).chain(extra.iter().copied()).collect();
        let want = brute_minutes(&grid, &all, mode);
        for i in 0..grid.len() {
            if want[i].is_infinite() {
                prop_assert!(got[i].is_infinite());
            } else {
                // The index pins short geodesics to a millimetre without solving them.
                let tol = TRAVEL.model.minutes(mode, 2e-3);
                prop_assert!((got[i] - want[i]).abs() <= tol, "cell {}: {} vs {}", grid.cells[i], got[i], want[i]);
            }
        }
        // Covered flags agree wherever the brute-force minutes are not within a millimetre of
        // the threshold.
        let params = Params { mode, minutes: 15.0, only_24h: false };
        let cov = compute(&grid, &snap, &extra, &TRAVEL, params, None);
        let tol = TRAVEL.model.minutes(mode, 2e-3);
        for i in 0..grid.len() {
            if (want[i] - 15.0).abs() > tol {
                prop_assert_eq!(cov.covered[i], want[i] <= 15.0);
            }
        }
        let covered_area: f64 = (0..grid.len()).filter(|&i| cov.covered[i]).map(|i| f64::from(grid.area_km2[i])).sum();
        prop_assert!((cov.total.covered_km2 - covered_area).abs() < 1e-3);
    }
}

/// Sets of cells (positions) a site at each cell would cover, by brute force.
fn brute_cover_sets(grid: &Grid, covered: &[bool], mode: Mode, minutes: f64) -> Vec<Vec<usize>> {
    (0..grid.len())
        .map(|c| {
            (0..grid.len())
                .filter(|&u| {
                    !covered[u]
                        && TRAVEL
                            .model
                            .minutes(mode, geodesic(&grid.centres[c], &grid.centres[u]))
                            <= minutes
                })
                .collect()
        })
        .collect()
}

fn weight_of(sets: &[&Vec<usize>], w: &[f64], seen: &mut [bool]) -> f64 {
    let mut total = 0.0;
    for s in sets {
        for &u in s.iter() {
            if !seen[u] {
                seen[u] = true;
                total += w[u];
            }
        }
    }
    for s in sets {
        for &u in s.iter() {
            seen[u] = false;
        }
    }
    total
}

#[test]
fn greedy_first_pick_is_the_exhaustive_best_and_later_picks_within_the_bound() {
    // A 3 × 3 km box at res 9 (~90 cells) with two stations near one corner: a gap to fill.
    let (w, s) = (116.30, 28.40);
    let bbox = BBox::new(w, s, w + 0.031, s + 0.027).expect("box");
    let grid = Grid::of_bbox(&bbox, &[], h3o::Resolution::Nine).expect("grid");
    assert!(grid.len() > 50, "{} cells", grid.len());
    let snap = snapshot(&[(w + 0.002, s + 0.002), (w + 0.004, s + 0.020)]);
    let params = Params {
        mode: Mode::Walk,
        minutes: 15.0,
        only_24h: false,
    };
    let cov = compute(&grid, &snap, &[], &TRAVEL, params, None);
    assert!(cov.covered.iter().any(|&c| c) && cov.covered.iter().any(|&c| !c));
    let area: Vec<f64> = grid.area_km2.iter().map(|&a| f64::from(a)).collect();
    let sets = brute_cover_sets(&grid, &cov.covered, params.mode, params.minutes);
    let mut seen = vec![false; grid.len()];
    let n = grid.len();

    let best1 = (0..n)
        .map(|c| weight_of(&[&sets[c]], &area, &mut seen))
        .fold(0.0, f64::max);
    let mut best2 = 0.0f64;
    let mut best3 = 0.0f64;
    for a in 0..n {
        for b in a + 1..n {
            best2 = best2.max(weight_of(&[&sets[a], &sets[b]], &area, &mut seen));
            for c in b + 1..n {
                best3 = best3.max(weight_of(&[&sets[a], &sets[b], &sets[c]], &area, &mut seen));
            }
        }
    }
    let picks = suggest(&grid, &TRAVEL, params, &cov.covered, &area, None, 3);
    assert_eq!(picks.len(), 3);
    let before = cov.total.covered_km2;
    let gain = |k: usize| picks[k - 1].total_covered_km2 - before;
    // k = 1: the greedy pick is an exhaustive optimum (equal gain; ties may pick another site).
    assert!(
        (picks[0].adds - best1).abs() < 1e-9,
        "{} vs {best1}",
        picks[0].adds
    );
    assert!((gain(1) - best1).abs() < 2e-3);
    for (k, opt) in [(2usize, best2), (3, best3)] {
        let bound = 1.0 - (1.0 - 1.0 / k as f64).powi(k as i32);
        assert!(
            gain(k) <= opt + 2e-3,
            "k={k}: greedy {} beats the optimum {opt}",
            gain(k)
        );
        assert!(
            gain(k) >= bound * opt - 2e-3,
            "k={k}: greedy {} below {bound} × {opt}",
            gain(k)
        );
    }
    // What the greedy reports it adds is what a what-if with those sites covers.
    let sites: Vec<LonLat> = picks.iter().map(|p| grid.centres[p.position]).collect();
    let after = compute(&grid, &snap, &sites, &TRAVEL, params, None);
    assert!((after.total.covered_km2 - picks[2].total_covered_km2).abs() < 2e-3);
}

#[test]
fn gaps_cover_exactly_the_uncovered_area() {
    use geo::{Area, Contains};
    let (w, s) = (115.85, 28.66);
    let bbox = BBox::new(w, s, w + 0.05, s + 0.045).expect("box");
    let grid = Grid::of_bbox(&bbox, &[], h3o::Resolution::Nine).expect("grid");
    let snap = snapshot(&[(w + 0.025, s + 0.022)]);
    let params = Params {
        mode: Mode::Walk,
        minutes: 15.0,
        only_24h: false,
    };
    let cov = compute(&grid, &snap, &[], &TRAVEL, params, None);
    assert_eq!(cov.gaps.len(), 1);
    let gap = &cov.gaps[0].outline;
    // One outer ring with the covered disc as a hole; the station's cell is not in the gap, a
    // corner cell is.
    assert!(gap.0.iter().map(|p| p.interiors().len()).sum::<usize>() >= 1);
    let station_cell = grid
        .position_of_point(lonlat((w + 0.025, s + 0.022)))
        .expect("in grid");
    assert!(!gap.contains(&geo::Point::new(
        grid.centres[station_cell].lon,
        grid.centres[station_cell].lat
    )));
    let uncovered = (0..grid.len()).filter(|&i| !cov.covered[i]).count();
    let inside = (0..grid.len())
        .filter(|&i| !cov.covered[i])
        .filter(|&i| gap.contains(&geo::Point::new(grid.centres[i].lon, grid.centres[i].lat)))
        .count();
    // Simplification moves the outline by up to about a cell: nearly every uncovered centre
    // stays inside.
    assert!(
        inside as f64 >= 0.9 * uncovered as f64,
        "{inside} of {uncovered}"
    );
    assert!(gap.unsigned_area() > 0.0);
}
