//! Road network core (issue 11) on a synthetic network of Jiangxi's size with the demo
//! stations: build, labelling, incremental updates, queries, memory, cache load.
//!
//! `cargo bench --bench network` (release). Prints wall and CPU times and the load average:
//! the machine is shared, so compare CPU times and repeat when the load is high.
//!
//! Last, coverage on the network: all of Jiangxi at resolution 9 on the e-bike graph, the first
//! computation (snapping every cell centre) and a repeat (snaps kept), beside the straight line.
//!
//! Quick mode (a debug build, `cargo test --benches`, `BENCH_QUICK=1`, or no `--bench`
//! argument): a small network around Nanchang and one county (360102 东湖区).

mod roads;

use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use yizhan::coverage::grid::Grid;
use yizhan::coverage::network_travel::NetworkTravel;
use yizhan::coverage::travel::{Sources, StraightLine, TravelTimes};
use yizhan::coverage::{compute, Params, DEFAULT_RES};
use yizhan::domain::{Adcode, LonLat, Mode, RegionSet, TravelModel};
use yizhan::index::Snapshot;
use yizhan::io::import::parse_csv;
use yizhan::io::regions::parse_regions_geojson;
use yizhan::io::seed::{DEMO_STATIONS_CSV, JIANGXI_COUNTIES_GEOJSON};
use yizhan::network::cache;
use yizhan::network::graph::Graph;
use yizhan::network::labels::{Labels, Method, Scratch};
use yizhan::network::osm::Networks;
use yizhan::network::roads::{ModeNetwork, Roads};
use yizhan::network::snap::{Snap, SnapIndex};
use yizhan::network::synthetic::{generate, Spec};
use yizhan::network::Profile;

/// The service's allocator, so that the RSS figures are the service's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / 1e6
}

/// Peak resident set (`VmHWM`) in MB.
fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1e3
}

extern "C" {
    /// mimalloc's own: returns freed memory to the system now rather than when the allocator
    /// next runs (the service keeps allocating after start-up, which does the same).
    fn mi_collect(force: bool);
}

/// The resident set once freed memory is returned, in MB.
fn settled_rss_mb() -> f64 {
    // SAFETY: mi_collect takes no pointers; it only walks mimalloc's own heaps.
    unsafe { mi_collect(true) };
    rss_mb()
}

fn cpu_s() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 * 1e-6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Runs `f`, printing wall and CPU seconds.
fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let (w, c) = (Instant::now(), cpu_s());
    let out = f();
    println!(
        "{what:<44} wall {:>8.3} s  cpu {:>8.3} s",
        w.elapsed().as_secs_f64(),
        cpu_s() - c
    );
    out
}

fn main() {
    println!("load average at start: {}", load());
    let quick = roads::quick();
    let model = TravelModel::default();
    let spec = roads::spec(quick);
    let rss0 = rss_mb();
    let b = timed("generate (synthetic e-bike network)", || {
        generate(&spec, Mode::Ebike)
    });
    let g = timed("Graph::build (lengths, CSR, SCC islands)", || {
        Graph::build(b, Profile::new(Mode::Ebike, &model))
    });
    println!(
        "graph: {} nodes, {} edges, {} arcs, arrays {:.1} MB",
        g.nodes(),
        g.edges(),
        g.arcs(),
        g.heap_bytes() as f64 / 1e6
    );
    let idx = timed("SnapIndex::new (R-tree of edges)", || SnapIndex::new(&g));
    let sites = roads::stations();
    let snaps: Vec<Option<Snap>> = timed("snap the demo stations", || {
        sites.iter().map(|p| idx.snap(&g, p)).collect()
    });
    println!(
        "stations: {} of {} snapped within 300 m",
        snaps.iter().filter(|s| s.is_some()).count(),
        sites.len()
    );
    let labels = timed("Labels::build (multi-source, K=3) run 0", || {
        Labels::build(&g, &snaps)
    });
    // What one mode holds once built (the build's queues freed), as a service would.
    let one_mode = settled_rss_mb() - rss0;
    println!(
        "memory, one mode: graph {:.1} MB + snap index ~{:.1} MB + labels {:.1} MB; resident {one_mode:.1} MB once built (peak {:.1} MB during the build)",
        g.heap_bytes() as f64 / 1e6,
        idx.heap_bytes() as f64 / 1e6,
        labels.heap_bytes() as f64 / 1e6,
        peak_mb() - rss0
    );
    let mut labels = labels;
    for i in 1..3 {
        labels = timed(
            &format!("Labels::build (multi-source, K=3) run {i}"),
            || Labels::build(&g, &snaps),
        );
    }
    timed("certify labels (O(E) certificate)", || {
        labels.certify(&g).expect("certificate")
    });

    // Riders: random points of the box that snap.
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let [w, s, e, n] = spec.bbox;
    let mut riders = Vec::new();
    let t = Instant::now();
    let mut tries = 0;
    let wanted = if quick { 500 } else { 20_000 };
    while riders.len() < wanted {
        tries += 1;
        let p = LonLat::new(rng.gen_range(w..e), rng.gen_range(s..n)).expect("in range");
        if let Some(r) = idx.snap(&g, &p) {
            riders.push(r);
        }
    }
    println!(
        "snap: {:.2} µs per point ({} of {} points within 300 m)",
        t.elapsed().as_secs_f64() * 1e6 / tries as f64,
        riders.len(),
        tries
    );
    let mut scratch = Scratch::default();
    for k in [1usize, 3] {
        let t = Instant::now();
        let mut proved = 0;
        for r in &riders {
            if labels.nearest_by_labels(&g, r, k, |_| true).is_some() {
                proved += 1;
            }
        }
        println!(
            "nearest by labels k={k}: {:.3} µs per query, proved {:.1} %",
            t.elapsed().as_secs_f64() * 1e6 / riders.len() as f64,
            100.0 * proved as f64 / riders.len() as f64
        );
    }
    // The fallback: k = 5 (beyond the labels) within 30 e-bike minutes.
    for k in [3usize, 5] {
        let t = Instant::now();
        let mut found = 0;
        for r in riders.iter().take(2_000.min(wanted)) {
            found += labels
                .nearest_by_search(&g, r, k, 18_000, |_| true, &mut scratch)
                .len();
        }
        println!(
            "nearest by bounded search k={k} (≤ 30 min): {:.1} µs per query ({:.2} found on average)",
            t.elapsed().as_secs_f64() * 1e6 / 2_000f64.min(wanted as f64),
            found as f64 / 2_000f64.min(wanted as f64)
        );
    }
    let t = Instant::now();
    let mut via = [0usize; 2];
    for r in riders.iter().take(2_000.min(wanted)) {
        let (_, m) = labels.nearest(&g, r, 3, u32::MAX, |s| s.is_multiple_of(2), &mut scratch);
        via[usize::from(m == Method::Search)] += 1;
    }
    println!(
        "nearest k=3, half the stations filtered out: {:.1} µs per query ({} by labels, {} by search)",
        t.elapsed().as_secs_f64() * 1e6 / 2_000f64.min(wanted as f64),
        via[0],
        via[1]
    );

    // Incremental updates: 20 additions at rider positions, then 20 retirements.
    let base = snaps.len() as u32;
    let t = Instant::now();
    for (i, r) in riders.iter().take(20).enumerate() {
        labels.add(&g, base + i as u32, *r);
    }
    println!(
        "add a station (pruned search): {:.2} ms each",
        t.elapsed().as_secs_f64() * 50.0
    );
    let t = Instant::now();
    for i in 0..20u32 {
        labels.retire(&g, i * 97);
    }
    println!(
        "retire a station (repair): {:.2} ms each",
        t.elapsed().as_secs_f64() * 50.0
    );
    timed("certify after updates", || {
        labels.certify(&g).expect("certificate")
    });

    // The service loads both modes: the walking graph of the same network (no one-ways) with
    // its index and labels beside the e-bike one.
    let walk = timed("walking mode: graph, snap index, labels", || {
        let wg = Graph::build(
            generate(&spec, Mode::Walk),
            Profile::new(Mode::Walk, &model),
        );
        let widx = SnapIndex::new(&wg);
        let wsnaps: Vec<Option<Snap>> = sites.iter().map(|p| widx.snap(&wg, p)).collect();
        let wl = Labels::build(&wg, &wsnaps);
        (wg, widx, wl)
    });
    println!(
        "memory, both modes: arrays {:.1} MB; resident {:.1} MB once built",
        (g.heap_bytes() + idx.heap_bytes() + labels.heap_bytes()) as f64 / 1e6
            + (walk.0.heap_bytes() + walk.1.heap_bytes() + walk.2.heap_bytes()) as f64 / 1e6,
        settled_rss_mb() - rss0
    );
    drop(walk);

    // Cache: both profiles' graphs (the walking one small here), written and read back.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("synthetic.osm.pbf.yizhan-graph");
    let small = Spec {
        cols: 10,
        rows: 10,
        ..spec
    };
    let nets = Networks {
        walk: Graph::build(
            generate(&small, Mode::Walk),
            Profile::new(Mode::Walk, &model),
        ),
        ebike: g,
    };
    let key = [7u8; 32];
    timed("cache save", || {
        cache::save(&path, &key, &model, &nets).expect("save")
    });
    println!(
        "cache file: {:.1} MB",
        std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) as f64 / 1e6
    );
    drop(nets);
    let back = timed("cache load (read, CRC, decode, validate)", || {
        cache::load(&path, &key, &model).expect("load")
    });
    let _idx = timed("SnapIndex::new after load", || SnapIndex::new(&back.ebike));
    drop(_idx);
    coverage(back, quick);
    println!("load average at end: {}", load());
}

/// Coverage on the network (e-bike, 15 minutes, the demo stations) of Jiangxi at resolution 9
/// (one county in quick mode), beside the straight line on the same grid.
fn coverage(nets: Networks, quick: bool) {
    let roads = Arc::new(Roads {
        walk: ModeNetwork::new(nets.walk),
        ebike: ModeNetwork::new(nets.ebike),
        extract: PathBuf::from("synthetic"),
    });
    let regions = RegionSet::new(
        parse_regions_geojson(JIANGXI_COUNTIES_GEOJSON.as_bytes()).expect("the seed regions"),
    );
    let code: Adcode = (if quick { "360102" } else { "360000" })
        .parse()
        .expect("an adcode");
    let counties = regions.counties_of(code);
    let grid = timed(&format!("coverage grid of {code} at res 9"), || {
        Grid::of_counties(&counties, DEFAULT_RES).expect("a grid")
    });
    let now = chrono::Utc::now();
    let stations: Vec<_> = parse_csv(DEMO_STATIONS_CSV)
        .expect("the demo stations")
        .stations
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.into_station(i as i64 + 1, now))
        .collect();
    let snapshot = Snapshot::build(stations, chrono_tz::Asia::Shanghai);
    let params = Params {
        mode: Mode::Ebike,
        minutes: 15.0,
        only_24h: false,
    };
    let network = NetworkTravel::new(roads);
    let cov = timed("coverage on the network, first (snaps cells)", || {
        compute(&grid, &snapshot, &[], &network, params, None)
    });
    for run in 0..2 {
        timed(&format!("coverage on the network, repeat {run}"), || {
            compute(&grid, &snapshot, &[], &network, params, None)
        });
    }
    timed("network minutes alone (snaps kept)", || {
        let sources = Sources {
            snapshot: &snapshot,
            extra: &[],
        };
        network.nearest_minutes(&sources, &grid, params.mode)
    });
    let straight = StraightLine {
        model: TravelModel::default(),
    };
    let sl = timed("coverage by straight line (same grid)", || {
        compute(&grid, &snapshot, &[], &straight, params, None)
    });
    let t = &cov.total;
    println!(
        "coverage of {code}: {} cells; network covers {} ({:.2} % of the accessible area), {} without road access; straight line covers {} ({:.2} %)",
        t.cells,
        t.covered_cells,
        100.0 * t.covered_share,
        t.no_access_cells.unwrap_or(0),
        sl.total.covered_cells,
        100.0 * sl.total.covered_share
    );
}
