//! Coverage benchmarks (criterion): all of Jiangxi at resolution 9 (~1.8 million cells) against
//! the 4,618 demo stations, walk 15 minutes, straight-line travel (the service's defaults),
//! through `CoverageService` as the HTTP handlers call it.
//!
//! Measured separately:
//! - `cold`: a new service per iteration, so the grid is built too (tiling, centres, bins,
//!   areas), then minutes, figures, gaps and their GeoJSON;
//! - `warm_stations_replaced`: the grid cached, the stations changed: a new snapshot of the same
//!   stations (`StationIndex::replace`, as a full resync publishes), so the data version moves
//!   and the result cache misses;
//! - `warm_stations_edited`: the same after 100 stations were edited (`StationIndex::apply`, as
//!   edits publish; `BENCH_EDITS` sets how many): the snapshot carries them in its overlay;
//! - `suggestions_k10`: ten greedy sites on a computed result.
//!
//! Besides criterion's wall-clock figures it prints, per benchmark, the process CPU time per
//! iteration (user + system, all threads; steadier than wall time when other work shares the
//! cores), once the time of each phase of one computation, the gaps GeoJSON size raw and
//! gzipped, the grid's heap bytes, and the process's peak RSS (`VmHWM`) for the memory target.
//!
//! `cargo bench --bench coverage` measures the province (about two and a half minutes on 2
//! cores). Quick mode, for `cargo test --benches` (a debug build) and smoke runs: a debug build,
//! `BENCH_QUICK=1`, or no `--bench` argument measures one county (360102 东湖区) instead.
//! `BENCH_REGION=360100` measures another region.

use criterion::Criterion;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};
use yizhan::coverage::service::{Area, CoverageService, DemandData};
use yizhan::coverage::travel::{Sources, StraightLine, TravelTimes};
use yizhan::coverage::{figures, gaps, grid::Grid, Params, DEFAULT_RES};
use yizhan::domain::{Adcode, Mode, RegionSet, Station, TravelModel};
use yizhan::index::{Snapshot, StationIndex};
use yizhan::io::import::parse_csv;
use yizhan::io::regions::parse_regions_geojson;
use yizhan::io::seed::{DEMO_STATIONS_CSV, JIANGXI_COUNTIES_GEOJSON};

// The server's allocator, so allocation-heavy phases (gaps, GeoJSON) cost what they cost there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The whole province.
const PROVINCE: &str = "360000";
/// One urban county (东湖区, Nanchang) for quick runs.
const QUICK_REGION: &str = "360102";

/// What the planners ask by default: on foot, 15 minutes, every station.
const PARAMS: Params = Params {
    mode: Mode::Walk,
    minutes: 15.0,
    only_24h: false,
};

fn quick(args: &[String]) -> bool {
    cfg!(debug_assertions)
        || std::env::var_os("BENCH_QUICK").is_some()
        || !args.iter().any(|a| a == "--bench")
}

fn regions() -> RegionSet {
    RegionSet::new(
        parse_regions_geojson(JIANGXI_COUNTIES_GEOJSON.as_bytes()).expect("the seed regions parse"),
    )
}

fn demo_stations() -> Vec<Station> {
    let now = chrono::Utc::now();
    parse_csv(DEMO_STATIONS_CSV)
        .expect("the demo stations parse")
        .stations
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.into_station(i as i64 + 1, now))
        .collect()
}

fn travel() -> StraightLine {
    StraightLine {
        model: TravelModel::default(),
    }
}

fn service(regions: RegionSet) -> CoverageService {
    CoverageService::new(Arc::new(travel()), regions, DemandData::default())
}

/// CPU time of the whole process so far (user + system, every thread, finished ones included).
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is given, which is plain data.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Peak resident set of this process (`VmHWM`), MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn peak_rss() -> String {
    peak_rss_mib().map_or("unknown".to_string(), |m| format!("{m:.0} MiB"))
}

fn gzip_len(bytes: &[u8]) -> usize {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(bytes).expect("gzip into memory");
    gz.finish().expect("gzip into memory").len()
}

/// Wall and CPU time of `f`.
fn clocked<R>(f: impl FnOnce() -> R) -> (R, Duration, Duration) {
    let (t, c) = (Instant::now(), cpu_time());
    let r = f();
    (r, t.elapsed(), cpu_time().saturating_sub(c))
}

/// Wall and CPU time over every iteration criterion ran (warm-up included).
#[derive(Default)]
struct Tally {
    iterations: u64,
    wall: Duration,
    cpu: Duration,
}

impl Tally {
    /// Runs `setup` then, timed, `run` on its output, `iters` times; the output is dropped
    /// outside the timing. Returns the timed wall time (what criterion records).
    fn iterate<S, R>(
        &mut self,
        iters: u64,
        mut setup: impl FnMut() -> S,
        mut run: impl FnMut(S) -> R,
    ) -> Duration {
        let mut wall = Duration::ZERO;
        for _ in 0..iters {
            let input = setup();
            let (out, w, c) = clocked(|| run(input));
            drop(out);
            wall += w;
            self.wall += w;
            self.cpu += c;
            self.iterations += 1;
        }
        wall
    }

    fn report(&self, name: &str) {
        if self.iterations == 0 {
            return; // filtered out on the command line
        }
        let n = self.iterations.max(1) as u32;
        eprintln!(
            "{name}: {} iterations, mean wall {:.3?}, mean CPU {:.3?} (all threads), load {}",
            self.iterations,
            self.wall / n,
            self.cpu / n,
            load_average(),
        );
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// One computation phase by phase (what the service does inside `coverage`), printed once:
/// where the time goes, for whoever tunes the engine. Also the minutes once more with `edits`
/// applied, measured on the snapshot's overlay as the engine does without the service.
fn phases(
    regions: &RegionSet,
    code: Adcode,
    index: &StationIndex,
    edits: &[(i64, Option<Station>)],
) {
    let snapshot = index.load();
    let counties = regions.counties_of(code);
    let (grid, g_wall, g_cpu) =
        clocked(|| Grid::of_counties(&counties, DEFAULT_RES).expect("grid"));
    let travel = travel();
    let minutes_from = |snapshot: &Snapshot| {
        let sources = Sources {
            snapshot,
            extra: &[],
        };
        clocked(|| travel.nearest_minutes(&sources, &grid, PARAMS.mode))
    };
    let (minutes, m_wall, m_cpu) = minutes_from(&snapshot);
    let covered: Vec<bool> = minutes.iter().map(|&m| m <= PARAMS.minutes).collect();
    let positions: Vec<_> = snapshot.all().iter().map(|s| s.location).collect();
    let ((_, total), f_wall, f_cpu) = clocked(|| figures(&grid, &covered, None, &positions, None));
    let (gaps, d_wall, d_cpu) = clocked(|| gaps::gaps(&grid, &covered, &vec![true; grid.len()]));
    let (json, j_wall, j_cpu) = clocked(|| gaps::gaps_geojson(&grid, &gaps));
    let uncovered = covered.iter().filter(|&&c| !c).count();
    eprintln!(
        "phases of one computation, wall / CPU ({} cells, {} counties, load {}):\n  \
         grid {g_wall:.2?} / {g_cpu:.2?} ({:.1} MiB)\n  \
         minutes {m_wall:.2?} / {m_cpu:.2?} (nearest station of every cell)\n  \
         figures {f_wall:.2?} / {f_cpu:.2?}\n  \
         gaps {d_wall:.2?} / {d_cpu:.2?} (dissolving {uncovered} uncovered cells)\n  \
         GeoJSON {j_wall:.2?} / {j_cpu:.2?} ({} bytes)\n  \
         covered {} of {} cells ({:.2} % of the area)",
        grid.len(),
        counties.len(),
        load_average(),
        grid.heap_bytes() as f64 / 1048576.0,
        json.len(),
        total.covered_cells,
        total.cells,
        100.0 * total.covered_share,
    );
    index.apply(edits.to_vec());
    let (again, e_wall, e_cpu) = minutes_from(&index.load());
    assert_eq!(
        again, minutes,
        "edits of the version alone change no minutes"
    );
    eprintln!(
        "  minutes with {} edited stations in the snapshot's overlay: {e_wall:.2?} / {e_cpu:.2?}",
        edits.len()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = quick(&args);
    let code: Adcode = std::env::var("BENCH_REGION")
        .unwrap_or_else(|_| (if quick { QUICK_REGION } else { PROVINCE }).to_string())
        .parse()
        .expect("BENCH_REGION: an adcode");
    let area = Area::Region(code);

    let regions = regions();
    let stations = demo_stations();
    let index = StationIndex::new(Snapshot::build(stations.clone(), chrono_tz::Asia::Shanghai));
    // Edits that change nothing but the version: the data version moves, the answer not.
    let n_edits: usize = std::env::var("BENCH_EDITS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100)
        .clamp(1, stations.len());
    let edits: Vec<(i64, Option<Station>)> = stations[..n_edits]
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s.version += 1;
            (s.id, Some(s))
        })
        .collect();
    eprintln!(
        "region {code} ({}), {} demo stations, resolution {}, {:?} {} min, {} threads{}",
        regions.get(code).map_or("?", |r| r.name.as_str()),
        stations.len(),
        u8::from(DEFAULT_RES),
        PARAMS.mode,
        PARAMS.minutes,
        std::thread::available_parallelism().map_or(1, |t| t.get()),
        if quick { ", quick mode" } else { "" },
    );
    phases(&regions, code, &index, &edits);
    index.replace(stations.clone());

    // One service as the server holds it: one coverage, then ten suggestions on it.
    let svc = service(regions.clone());
    let ((first, _), c_wall, c_cpu) = clocked(|| {
        svc.coverage(area, DEFAULT_RES, PARAMS, &index.load(), None, &[])
            .expect("coverage")
    });
    let (mut picks, s_wall, s_cpu) = clocked(|| svc.suggestions(&first, PARAMS, false, 10));
    eprintln!(
        "one service: first coverage {c_wall:.2?} / {c_cpu:.2?} CPU, suggestions k=10 \
         {s_wall:.2?} / {s_cpu:.2?} CPU; peak RSS so far (VmHWM) {}",
        peak_rss()
    );

    // Every benchmark runs at least 10 samples of one iteration (plus one to warm up): with
    // iterations of seconds that is what sets the run's length, not the target time.
    let mut c = Criterion::default();
    if quick {
        c = c.without_plots();
    }
    let mut c = c
        .sample_size(10)
        .warm_up_time(Duration::from_millis(if quick { 100 } else { 10 }))
        .measurement_time(Duration::from_secs(if quick { 1 } else { 20 }))
        .configure_from_args();
    let mut g = c.benchmark_group("coverage");
    let mut tallies: Vec<(String, Tally)> = Vec::new();

    // (a) Nothing cached: a new service, so the grid is built as well.
    let name = format!("cold/{code}");
    let mut t = Tally::default();
    g.bench_function(&name, |b| {
        b.iter_custom(|iters| {
            t.iterate(
                iters,
                || service(regions.clone()),
                |svc| {
                    let (r, hit) = svc
                        .coverage(area, DEFAULT_RES, PARAMS, &index.load(), None, &[])
                        .expect("coverage");
                    assert!(!hit, "a new service has nothing cached");
                    (svc, r)
                },
            )
        })
    });
    t.report(&name);
    tallies.push((name, t));

    // (b) The grid cached, the stations changed (a new snapshot of the same stations).
    let name = format!("warm_stations_replaced/{code}");
    let mut t = Tally::default();
    g.bench_function(&name, |b| {
        b.iter_custom(|iters| {
            t.iterate(
                iters,
                || {
                    index.replace(stations.clone());
                    index.load()
                },
                |snapshot| {
                    let (r, hit) = svc
                        .coverage(area, DEFAULT_RES, PARAMS, &snapshot, None, &[])
                        .expect("coverage");
                    assert!(!hit, "a new station data version misses the result cache");
                    r
                },
            )
        })
    });
    t.report(&name);
    tallies.push((name, t));

    // (b') The same after edits: `n_edits` stations in the snapshot's overlay (each iteration
    // edits the first once more, so the data version moves and the overlay keeps its size).
    index.apply(edits.clone());
    let (first_id, first_edit) = edits[0].clone();
    let mut edited = first_edit.expect("an upsert");
    let name = format!("warm_{n_edits}_stations_edited/{code}");
    let mut t = Tally::default();
    g.bench_function(&name, |b| {
        b.iter_custom(|iters| {
            t.iterate(
                iters,
                || {
                    edited.version += 1;
                    index.apply(vec![(first_id, Some(edited.clone()))]);
                    index.load()
                },
                |snapshot| {
                    let (r, hit) = svc
                        .coverage(area, DEFAULT_RES, PARAMS, &snapshot, None, &[])
                        .expect("coverage");
                    assert!(!hit, "a new station data version misses the result cache");
                    r
                },
            )
        })
    });
    t.report(&name);
    tallies.push((name, t));

    // (c) Ten sites on a computed result (by area).
    let name = format!("suggestions_k10/{code}");
    let mut t = Tally::default();
    g.bench_function(&name, |b| {
        b.iter_custom(|iters| {
            t.iterate(
                iters,
                || (),
                |()| picks = svc.suggestions(&first, PARAMS, false, 10),
            )
        })
    });
    t.report(&name);
    tallies.push((name, t));
    g.finish();

    // (d) What the gaps weigh on the wire.
    let raw = first.gaps_geojson.len();
    let gz = gzip_len(first.gaps_geojson.as_bytes());
    let total = &first.coverage.total;
    eprintln!();
    eprintln!(
        "coverage of {code}: {} cells, {} covered ({:.2} % of {:.0} km²), {} gap features",
        total.cells,
        total.covered_cells,
        100.0 * total.covered_share,
        total.area_km2,
        first.coverage.gaps.len(),
    );
    eprintln!(
        "gaps GeoJSON: {raw} bytes raw ({:.2} MiB), {gz} bytes gzipped ({:.0} KiB, level 6)",
        raw as f64 / 1048576.0,
        gz as f64 / 1024.0
    );
    if let (Some(p), Some(last)) = (picks.first(), picks.last()) {
        eprintln!(
            "suggestions k=10: {} sites, the first adds {:.3} km², covered share {:.4} → {:.4}",
            picks.len(),
            p.adds_km2,
            total.covered_share,
            last.total_covered_share
        );
    }
    eprintln!("mean per iteration (wall / CPU of all threads):");
    for (name, t) in tallies.iter().filter(|(_, t)| t.iterations > 0) {
        let n = t.iterations.max(1) as u32;
        eprintln!("  {name}: {:.3?} / {:.3?}", t.wall / n, t.cpu / n);
    }
    eprintln!(
        "grid heap {:.1} MiB; peak RSS of this process at the end (VmHWM; up to 16 results \
         cached, as in the server): {}",
        first.grid.heap_bytes() as f64 / 1048576.0,
        peak_rss()
    );
    c.final_summary();
}
