//! Index benchmarks (criterion): exact geodesic k=5 nearest at 10k, 100k and 1M synthetic
//! stations, the same with a common filter, the geographiclib brute-force scan at 10k as the
//! baseline, bulk-load time at 1M, and heap bytes per station measured by a counting allocator.
//!
//! `cargo bench --bench index` runs everything (a few minutes) and ends with a summary table;
//! `cargo bench --bench index -- --test` (or `cargo test --benches`) is a quick smoke run on 10k
//! stations that also checks the index against the brute-force scan.
//!
//! Settings: `BENCH_SIZES=10000,1000000` picks the sizes; `BENCH_PROFILE=SECONDS` only loops
//! k=5 queries on the largest index and prints queries/s (for `perf record`), with
//! `BENCH_SORTED=1` visiting the query points in spatial order (how much is cache misses).

use chrono::{DateTime, TimeZone, Utc};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};
use yizhan::domain::{Amenity, AmenitySet, Hours, LonLat, Station, TemporaryClosure};
use yizhan::index::{NearestQuery, Snapshot};

// ---------------------------------------------------------------------------------------------
// Counting allocator: live heap bytes of the whole process, and the peak since the last reset.

/// Counts live heap bytes; the cost is one uncontended atomic add per (de)allocation.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(by: isize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            grew(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------------
// Synthetic stations: dense city clusters, county seats, sparse background; deterministic.

/// Jiangxi's prefecture-level cities (WGS-84 centres) and their share of the city stations.
const CITIES: [(f64, f64, f64); 11] = [
    (115.892, 28.676, 0.30), // 南昌
    (116.001, 29.705, 0.08), // 九江
    (114.935, 25.831, 0.10), // 赣州
    (117.943, 28.455, 0.08), // 上饶
    (114.993, 27.113, 0.07), // 吉安
    (114.417, 27.816, 0.07), // 宜春
    (116.358, 27.948, 0.06), // 抚州
    (113.854, 27.623, 0.06), // 萍乡
    (114.917, 27.818, 0.06), // 新余
    (117.069, 28.260, 0.06), // 鹰潭
    (117.178, 29.269, 0.06), // 景德镇
];

/// Jiangxi's bounding box: west, south, east, north.
const JIANGXI: [f64; 4] = [113.57, 24.49, 118.48, 30.08];
/// China's bounding box, for a thin national background.
const CHINA: [f64; 4] = [75.0, 20.0, 134.0, 50.0];

const SCHEDULES: [(&str, f64); 6] = [
    ("24/7", 0.10),
    ("Mo-Su 08:00-20:00", 0.35),
    ("Mo-Fr 08:00-18:00", 0.25),
    ("Mo-Sa 07:30-19:30", 0.15),
    ("Mo-Fr 08:30-17:30; Sa 09:00-12:00", 0.10),
    ("Mo-Su 06:00-22:00", 0.05),
];

/// Chance each amenity is offered, in contract order.
const AMENITY_P: [(Amenity, f64); 17] = [
    (Amenity::Water, 0.95),
    (Amenity::HotWater, 0.80),
    (Amenity::Microwave, 0.55),
    (Amenity::Fridge, 0.35),
    (Amenity::PhoneCharging, 0.85),
    (Amenity::EbikeCharging, 0.25),
    (Amenity::BatterySwap, 0.08),
    (Amenity::Toilet, 0.60),
    (Amenity::RestArea, 0.90),
    (Amenity::AirConditioning, 0.70),
    (Amenity::Heating, 0.30),
    (Amenity::FirstAid, 0.50),
    (Amenity::Reading, 0.40),
    (Amenity::NursingRoom, 0.10),
    (Amenity::Wifi, 0.60),
    (Amenity::Umbrella, 0.45),
    (Amenity::RepairTools, 0.30),
];

/// The layout of the synthetic world: city and county centres.
struct World {
    counties: Vec<(f64, f64)>,
}

impl World {
    fn new(rng: &mut StdRng) -> Self {
        let counties = (0..90)
            .map(|_| uniform_in(rng, &JIANGXI))
            .collect::<Vec<_>>();
        Self { counties }
    }

    /// A position: 55 % in cities (σ 2–8 km), 25 % around county seats (σ 1.5 km),
    /// 17 % uniform over Jiangxi, 3 % uniform over China.
    fn place(&self, rng: &mut StdRng) -> (f64, f64) {
        let u: f64 = rng.gen();
        if u < 0.55 {
            let mut pick: f64 = rng.gen();
            let mut city = CITIES[0];
            for c in CITIES {
                city = c;
                if pick < c.2 {
                    break;
                }
                pick -= c.2;
            }
            let sigma_km = if city == CITIES[0] { 8.0 } else { 4.0 };
            // Half of a city's stations sit in its inner core.
            let sigma_km = if rng.gen_bool(0.5) {
                sigma_km / 4.0
            } else {
                sigma_km
            };
            jitter(rng, (city.0, city.1), sigma_km)
        } else if u < 0.80 {
            let c = self.counties[rng.gen_range(0..self.counties.len())];
            jitter(rng, c, 1.5)
        } else if u < 0.97 {
            uniform_in(rng, &JIANGXI)
        } else {
            uniform_in(rng, &CHINA)
        }
    }
}

fn uniform_in(rng: &mut StdRng, b: &[f64; 4]) -> (f64, f64) {
    (rng.gen_range(b[0]..b[2]), rng.gen_range(b[1]..b[3]))
}

/// A normal offset of σ km around a centre (Box–Muller).
fn jitter(rng: &mut StdRng, (lon, lat): (f64, f64), sigma_km: f64) -> (f64, f64) {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    let r = (-2.0 * u1.ln()).sqrt() * sigma_km;
    let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
    let dlat = r * s / 111.0;
    let dlon = r * c / (111.0 * lat.to_radians().cos());
    (
        (lon + dlon).clamp(-180.0, 180.0),
        (lat + dlat).clamp(-90.0, 90.0),
    )
}

fn stations(n: usize, seed: u64) -> Vec<Station> {
    let mut rng = StdRng::seed_from_u64(seed);
    let world = World::new(&mut rng);
    let hours: Vec<(Hours, f64)> = SCHEDULES
        .iter()
        .map(|(s, p)| (s.parse().expect("valid schedule"), *p))
        .collect();
    let epoch = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let shanghai = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    (0..n)
        .map(|i| {
            let (lon, lat) = world.place(&mut rng);
            let amenities: AmenitySet = AMENITY_P
                .iter()
                .filter(|(_, p)| rng.gen_bool(*p))
                .map(|(a, _)| *a)
                .collect();
            let mut pick: f64 = rng.gen();
            let mut opening_hours = hours[0].0.clone();
            for (h, p) in &hours {
                opening_hours = h.clone();
                if pick < *p {
                    break;
                }
                pick -= p;
            }
            // 1 % temporarily closed until well after the benchmark's instant.
            let temporary_closure = rng.gen_bool(0.01).then(|| TemporaryClosure {
                until: Utc
                    .with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
                    .unwrap()
                    .with_timezone(&shanghai),
                reason: "装修".to_string(),
            });
            Station {
                id: i as i64 + 1,
                code: format!("JX-SYN-{:07}", i + 1),
                name: format!("（示例）合成驿站{}", i + 1),
                address: String::new(),
                county: "360102".to_string(),
                location: LonLat::new(lon, lat).expect("in range"),
                amenities,
                opening_hours,
                temporary_closure,
                phone: None,
                photo_url: None,
                notes: None,
                demo: true,
                verified_at: None,
                version: 1,
                created_at: epoch,
                updated_at: epoch,
            }
        })
        .collect()
}

/// Query points: 80 % where stations are (the same mixture), 20 % uniform over Jiangxi.
fn query_points(n: usize, seed: u64) -> Vec<LonLat> {
    let mut rng = StdRng::seed_from_u64(seed);
    let world = World::new(&mut StdRng::seed_from_u64(STATION_SEED));
    (0..n)
        .map(|_| {
            let (lon, lat) = if rng.gen_bool(0.8) {
                loop {
                    let p = world.place(&mut rng);
                    if JIANGXI[0] <= p.0
                        && p.0 <= JIANGXI[2]
                        && JIANGXI[1] <= p.1
                        && p.1 <= JIANGXI[3]
                    {
                        break p;
                    }
                }
            } else {
                uniform_in(&mut rng, &JIANGXI)
            };
            LonLat::new(lon, lat).expect("in range")
        })
        .collect()
}

const STATION_SEED: u64 = 0x5EED_2026;
const QUERY_SEED: u64 = 0x0A11_CE55;
const K: usize = 5;

/// Wednesday 10:00 in Shanghai: most schedules are open, some are not.
fn bench_instant() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 2, 0, 0).unwrap()
}

fn plain_query(origin: LonLat) -> NearestQuery {
    NearestQuery {
        origin,
        limit: K,
        amenities: AmenitySet::EMPTY,
        open_at: None,
        max_distance_m: None,
    }
}

/// The filter riders use most: microwave and toilet, open now.
fn filtered_query(origin: LonLat) -> NearestQuery {
    NearestQuery {
        origin,
        limit: K,
        amenities: [Amenity::Microwave, Amenity::Toilet].into_iter().collect(),
        open_at: Some(bench_instant()),
        max_distance_m: None,
    }
}

/// The baseline: geographiclib distance to every station, keep the k best (ties by id).
fn brute_force(stations: &[Station], origin: &LonLat, k: usize) -> Vec<(i64, f64)> {
    let mut best: Vec<(f64, i64)> = Vec::with_capacity(k + 1);
    for s in stations {
        let d = origin.geodesic_distance(&s.location);
        if best.len() < k || (d, s.id) < best[k - 1] {
            let at = best.partition_point(|b| *b < (d, s.id));
            best.insert(at, (d, s.id));
            best.truncate(k);
        }
    }
    best.into_iter().map(|(d, id)| (id, d)).collect()
}

/// The index must agree with the brute-force scan (ties within a millimetre aside).
fn check_exact(snapshot: &Snapshot, stations: &[Station], queries: &[LonLat]) {
    for q in queries {
        let got = snapshot.nearest(&plain_query(*q));
        let want = brute_force(stations, q, K);
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g.distance_m - w.1).abs() < 1e-3,
                "at {q:?}: index {} m, brute force {} m",
                g.distance_m,
                w.1
            );
            assert!(
                g.station.id == w.0 || (g.distance_m - w.1).abs() < 1e-3,
                "at {q:?}: index id {}, brute force id {}",
                g.station.id,
                w.0
            );
        }
    }
}

/// Builds an index and returns it with the heap bytes it added per station, and the peak.
///
/// Counted: every byte the build leaves allocated (the R-tree, the filter records, the id
/// order, the `Arc` headers and the vector of `Arc`s), net of the `Vec<Station>` buffer it
/// consumes. Not counted: the `Station` records themselves (struct, strings, parsed opening
/// hours), which exist before the call and are moved, not copied.
fn build_measured(stations: Vec<Station>) -> (Snapshot, f64, f64) {
    let n = stations.len() as f64;
    let before = live();
    PEAK.store(before, Ordering::Relaxed);
    let index = Snapshot::build(stations, chrono_tz::Asia::Shanghai);
    let after = live();
    let peak = PEAK.load(Ordering::Relaxed);
    (
        index,
        (after - before) as f64 / n,
        (peak - before) as f64 / n,
    )
}

/// Nanoseconds this thread has spent on a CPU (Linux schedstat; 0 elsewhere).
///
/// Other work on the machine inflates wall time but hardly this, so rates per CPU second are
/// the steadier "per core" figure on a shared machine; the summary prints both.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A rate per wall-clock second and per CPU second of this thread.
#[derive(Clone, Copy)]
struct Rate {
    wall: f64,
    cpu: f64,
}

/// Queries per second on one thread over the query set, for about `budget`.
fn qps(index: &Snapshot, queries: &[NearestQuery], budget: Duration) -> Rate {
    let started = Instant::now();
    let cpu0 = thread_cpu_ns();
    let mut done = 0usize;
    while started.elapsed() < budget {
        for q in queries {
            black_box(index.nearest(black_box(q)));
        }
        done += queries.len();
    }
    let cpu = (thread_cpu_ns() - cpu0) as f64 / 1e9;
    let wall = started.elapsed().as_secs_f64();
    Rate {
        wall: done as f64 / wall,
        cpu: if cpu > 0.0 {
            done as f64 / cpu
        } else {
            f64::NAN
        },
    }
}

/// Median wall and CPU seconds of three bulk loads of `stations` (copies made outside the timing).
fn load_time(stations: &[Station]) -> (f64, f64) {
    let mut wall = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..3 {
        let input = stations.to_vec();
        let t = Instant::now();
        let cpu0 = thread_cpu_ns();
        let index = Snapshot::build(input, chrono_tz::Asia::Shanghai);
        cpu.push((thread_cpu_ns() - cpu0) as f64 / 1e9);
        wall.push(t.elapsed().as_secs_f64());
        drop(index);
    }
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    (wall[1], cpu[1])
}

struct Row {
    n: usize,
    qps: Rate,
    qps_filtered: Rate,
    bytes: f64,
    peak: f64,
}

impl Row {
    fn measure(
        all: &[Station],
        n: usize,
        plain: &[NearestQuery],
        filtered: &[NearestQuery],
        budget: Duration,
    ) -> Row {
        let (index, bytes, peak) = build_measured(all[..n].to_vec());
        Row {
            n,
            qps: qps(&index, plain, budget),
            qps_filtered: qps(&index, filtered, budget),
            bytes,
            peak,
        }
    }
}

fn print_rows(title: &str, rows: &[Row]) {
    println!();
    println!("{title}");
    println!(
        "| stations | k=5 q/s per CPU second | k=5 q/s wall | k=5 + microwave,toilet,open_now q/s per CPU second | same, wall | index bytes/station | build peak bytes/station |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} | {:.1} |",
            r.n, r.qps.cpu, r.qps.wall, r.qps_filtered.cpu, r.qps_filtered.wall, r.bytes, r.peak
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    // BENCH_SIZES=10000,1000000 overrides the sizes (the brute-force baseline runs at the first).
    let sizes: Vec<usize> = match std::env::var("BENCH_SIZES") {
        Ok(list) => list
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .expect("BENCH_SIZES: comma-separated counts")
            })
            .collect(),
        Err(_) if quick => vec![10_000],
        Err(_) => vec![10_000, 100_000, 1_000_000],
    };
    let max_n = *sizes.iter().max().unwrap();

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args();

    let t = Instant::now();
    let all = stations(max_n, STATION_SEED);
    eprintln!("generated {max_n} stations in {:.2?}", t.elapsed());
    let points = query_points(if quick { 256 } else { 4096 }, QUERY_SEED);
    let plain: Vec<NearestQuery> = points.iter().map(|p| plain_query(*p)).collect();
    let filtered: Vec<NearestQuery> = points.iter().map(|p| filtered_query(*p)).collect();
    let budget = Duration::from_millis(if quick { 50 } else { 1500 });

    // BENCH_PROFILE=SECONDS: only loop k=5 queries on the largest index, for a profiler.
    if let Some(secs) = std::env::var("BENCH_PROFILE")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        let snap = Snapshot::build(all.clone(), chrono_tz::Asia::Shanghai);
        eprintln!("profiling {max_n} stations for {secs} s");
        let mut plain = plain.clone();
        if std::env::var_os("BENCH_SORTED").is_some() {
            plain.sort_by(|a, b| {
                ((a.origin.lat * 20.0) as i64, a.origin.lon)
                    .partial_cmp(&((b.origin.lat * 20.0) as i64, b.origin.lon))
                    .unwrap()
            });
        }
        for _ in 0..3 {
            let rate = qps(&snap, &plain, Duration::from_secs(secs));
            eprintln!("{:.0} q/s per CPU second, {:.0} wall", rate.cpu, rate.wall);
        }
        return;
    }

    let mut rows = Vec::new();
    let mut brute_qps = 0.0;
    for &n in &sizes {
        let snap = Snapshot::build(all[..n].to_vec(), chrono_tz::Asia::Shanghai);
        if n == sizes[0] && n <= 100_000 {
            let checked = if quick { 64 } else { 256 };
            check_exact(&snap, &all[..n], &points[..checked]);
            eprintln!("index == brute force on {checked} queries at {n} stations");
        }

        let mut g = c.benchmark_group("nearest_k5");
        g.throughput(Throughput::Elements(1));
        let mut i = 0;
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                i = (i + 1) % plain.len();
                snap.nearest(black_box(&plain[i]))
            })
        });
        g.finish();

        let mut g = c.benchmark_group("nearest_k5_microwave_toilet_open_now");
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                i = (i + 1) % filtered.len();
                snap.nearest(black_box(&filtered[i]))
            })
        });
        g.finish();
        drop(snap);

        if n == sizes[0] && n <= 100_000 {
            let stations = &all[..n];
            let mut g = c.benchmark_group("brute_force_k5_geographiclib");
            g.sample_size(10).throughput(Throughput::Elements(1));
            g.bench_function(BenchmarkId::from_parameter(n), |b| {
                b.iter(|| {
                    i = (i + 1) % points.len();
                    brute_force(stations, black_box(&points[i]), K)
                })
            });
            g.finish();
            let t = Instant::now();
            let m = if quick { 4 } else { 64 };
            for p in &points[..m] {
                black_box(brute_force(stations, p, K));
            }
            brute_qps = m as f64 / t.elapsed().as_secs_f64();
        }

        rows.push(Row::measure(&all, n, &plain, &filtered, budget));
    }

    // Bulk load at the largest size; the copy of the input is made outside the timing.
    let mut g = c.benchmark_group("bulk_load");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(if quick { 1 } else { 15 }));
    g.bench_function(BenchmarkId::from_parameter(max_n), |b| {
        b.iter_batched(
            || all.clone(),
            |s| Snapshot::build(s, chrono_tz::Asia::Shanghai),
            BatchSize::PerIteration,
        )
    });
    g.finish();
    let load = load_time(&all);

    c.final_summary();

    print_rows(
        &format!("summary (one thread; queries/s per core = 1 / time per query; k = {K})"),
        &rows,
    );
    let r0 = &rows[0];
    if brute_qps > 0.0 {
        println!(
            "brute force (geographiclib scan) at {}: {:.1} queries/s; the index is {:.0}x faster at that size",
            r0.n,
            brute_qps,
            r0.qps.wall / brute_qps
        );
    }
    println!(
        "bulk load (Snapshot::build) of {max_n} stations: median of 3 {:.3} s wall, {:.3} s CPU",
        load.0, load.1
    );
    println!(
        "bytes/station: live heap left by the build (tree, filter records, id order, Arc headers,\n  Vec<Arc>) net of the consumed Vec<Station>; the Station records (struct, strings, hours) are excluded"
    );
}
