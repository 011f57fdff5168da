//! The road network against independent oracles: labels and nearest-by-time answers equal a
//! plain Dijkstra (petgraph) from the same point, on a real OpenStreetMap extract (Helsinki,
//! ODbL, see tests/data/osm/README.md) and on random graphs; the cache round-trips and
//! refuses stale or corrupt files.

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use yizhan::domain::{LonLat, Mode, TravelModel};
use yizhan::network::cache::{self, Origin};
use yizhan::network::graph::{Graph, GraphBuilder};
use yizhan::network::labels::{Hit, Labels, Method, Scratch};
use yizhan::network::snap::{Snap, SnapIndex};
use yizhan::network::{fixed_of, osm, Profile};

#[path = "common/network_oracle.rs"]
mod network_oracle;

use network_oracle::{oracle_from_rider, oracle_labels};

fn helsinki() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/osm/Helsinki.osm.pbf")
}

fn assert_labels(g: &Graph, labels: &Labels, stations: &[Option<Snap>]) {
    let want = oracle_labels(g, stations);
    for (x, w) in want.iter().enumerate() {
        let got: Vec<Hit> = labels.of(x as u32).collect();
        assert_eq!(&got, w, "labels of node {x}");
    }
    labels.certify(g).unwrap();
}

/// Checks every k and a filter against the oracle; returns how many answers the labels proved.
fn assert_queries(g: &Graph, labels: &Labels, stations: &[Option<Snap>], rider: &Snap) -> usize {
    let all = oracle_from_rider(g, stations, rider);
    let mut scratch = Scratch::default();
    let mut proved = 0;
    for k in 1..=5 {
        for filter in [0u32, 3] {
            let allow = |s: u32| filter == 0 || !s.is_multiple_of(filter);
            let want: Vec<Hit> = all
                .iter()
                .copied()
                .filter(|h| allow(h.station))
                .take(k)
                .collect();
            let (got, method) = labels.nearest(g, rider, k, u32::MAX, allow, &mut scratch);
            assert_eq!(
                got, want,
                "k {k} filter {filter} via {method:?} rider {rider:?}"
            );
            let searched = labels.nearest_by_search(g, rider, k, u32::MAX, allow, &mut scratch);
            assert_eq!(searched, want, "search k {k} filter {filter}");
            if method == Method::Labels {
                proved += 1;
            }
            // A time limit cuts the fallback's answer exactly.
            if let Some(h) = want.last() {
                let limit = h.time.saturating_sub(1);
                let cut: Vec<Hit> = want.iter().copied().filter(|h| h.time <= limit).collect();
                let (got, _) = labels.nearest(g, rider, k, limit, allow, &mut scratch);
                assert_eq!(got, cut, "limited k {k}");
            }
        }
    }
    proved
}

#[test]
fn helsinki_graphs_are_read_valid_and_distinct_per_profile() {
    let nets = osm::read(&helsinki(), &TravelModel::default()).unwrap();
    for g in [&nets.walk, &nets.ebike] {
        g.validate().unwrap();
        assert!(g.nodes() > 1000 && g.arcs() > 2000, "{} nodes", g.nodes());
    }
    // Footways and steps make the walking graph larger; one-ways make e-bike arcs fewer
    // than twice its edges.
    assert!(nets.walk.edges() > nets.ebike.edges());
    assert_eq!(nets.walk.arcs(), 2 * nets.walk.edges());
    assert!(nets.ebike.arcs() < 2 * nets.ebike.edges());
    let test = osm::read(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/osm/test.osm.pbf"),
        &TravelModel::default(),
    )
    .unwrap();
    test.walk.validate().unwrap();
    assert!(test.walk.nodes() > 10);
}

fn helsinki_stations(g: &Graph, idx: &SnapIndex, n: usize, seed: u64) -> Vec<Option<Snap>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (lo, hi) = bbox(g);
    (0..n)
        .map(|_| {
            let p = LonLat::new(rng.gen_range(lo[0]..hi[0]), rng.gen_range(lo[1]..hi[1])).unwrap();
            idx.snap(g, &p)
        })
        .collect()
}

fn bbox(g: &Graph) -> ([f64; 2], [f64; 2]) {
    let mut lo = [f64::MAX; 2];
    let mut hi = [f64::MIN; 2];
    for c in &g.coords {
        for k in 0..2 {
            lo[k] = lo[k].min(f64::from(c[k]) * 1e-7);
            hi[k] = hi[k].max(f64::from(c[k]) * 1e-7);
        }
    }
    (lo, hi)
}

#[test]
fn helsinki_labels_and_nearest_equal_dijkstra_for_both_profiles() {
    let nets = osm::read(&helsinki(), &TravelModel::default()).unwrap();
    for (i, g) in [&nets.walk, &nets.ebike].into_iter().enumerate() {
        let idx = SnapIndex::new(g);
        let stations = helsinki_stations(g, &idx, 40, 7 + i as u64);
        assert!(stations.iter().filter(|s| s.is_some()).count() > 20);
        let labels = Labels::build(g, &stations);
        assert_labels(g, &labels, &stations);
        let mut rng = rand::rngs::StdRng::seed_from_u64(99);
        let (lo, hi) = bbox(g);
        let mut proved = 0;
        let mut riders = 0;
        while riders < 25 {
            let p = LonLat::new(rng.gen_range(lo[0]..hi[0]), rng.gen_range(lo[1]..hi[1])).unwrap();
            if let Some(r) = idx.snap(g, &p) {
                proved += assert_queries(g, &labels, &stations, &r);
                riders += 1;
            }
        }
        // k = 1 with no filter is nearly always proved by the labels.
        assert!(proved > riders, "labels proved only {proved} answers");
    }
}

#[test]
fn helsinki_incremental_updates_equal_a_rebuild() {
    let nets = osm::read(&helsinki(), &TravelModel::default()).unwrap();
    let g = &nets.ebike;
    let idx = SnapIndex::new(g);
    let mut stations = helsinki_stations(g, &idx, 30, 3);
    let extra = helsinki_stations(g, &idx, 10, 4);
    let mut labels = Labels::build(g, &stations);
    for (i, s) in extra.into_iter().enumerate() {
        let Some(s) = s else { continue };
        match i % 3 {
            0 => {
                labels.add(g, stations.len() as u32, s);
                stations.push(Some(s));
            }
            1 => {
                labels.moved(g, i as u32, s);
                stations[i] = Some(s);
            }
            _ => {
                labels.retire(g, i as u32);
                stations[i] = None;
            }
        }
        assert_labels(g, &labels, &stations);
    }
}

#[test]
fn the_cache_round_trips_and_refuses_stale_or_corrupt_files() {
    let dir = tempfile::tempdir().unwrap();
    let extract = dir.path().join("helsinki.osm.pbf");
    std::fs::copy(helsinki(), &extract).unwrap();
    let model = TravelModel::default();
    let (built, o1) = cache::load_or_build(&extract, &model).unwrap();
    assert_eq!(o1, Origin::Built);
    let (loaded, o2) = cache::load_or_build(&extract, &model).unwrap();
    assert_eq!(o2, Origin::Cache);
    assert!(loaded.walk == built.walk && loaded.ebike == built.ebike);
    // Other speeds: the weights would differ, so the cache is not used.
    let fast = TravelModel {
        ebike_kmh: 20.0,
        ..model
    };
    let key = cache::extract_key(&extract).unwrap();
    let path = cache::cache_path(&extract);
    assert!(cache::load(&path, &key, &fast).is_err());
    // A flipped payload byte and a truncated file are refused, then rebuilt.
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    assert!(cache::load(&path, &key, &model).is_err());
    let (_, o3) = cache::load_or_build(&extract, &model).unwrap();
    assert_eq!(o3, Origin::Built);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 9]).unwrap();
    assert!(cache::load(&path, &key, &model).is_err());
    // Another extract's cache under this extract's name is stale.
    let other = dir.path().join("test.osm.pbf");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/osm/test.osm.pbf"),
        &other,
    )
    .unwrap();
    cache::load_or_build(&other, &model).unwrap();
    std::fs::copy(cache::cache_path(&other), &path).unwrap();
    assert!(cache::load(&path, &key, &model).is_err());
    let (again, o4) = cache::load_or_build(&extract, &model).unwrap();
    assert_eq!(o4, Origin::Built);
    assert!(again.walk == built.walk);
}

/// A random graph: nodes on a few shared positions (zero-length edges), one-way and parallel
/// edges, several components.
fn random_graph(seed: u64, n: usize, m: usize) -> (Graph, Vec<Option<Snap>>, Vec<Snap>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let spots: Vec<[i32; 2]> = (0..n.div_ceil(2).max(1))
        .map(|_| {
            fixed_of(
                115.0 + rng.gen_range(0.0..0.01),
                28.0 + rng.gen_range(0.0..0.01),
            )
        })
        .collect();
    let mut b = GraphBuilder::default();
    for _ in 0..n {
        b.coords.push(spots[rng.gen_range(0..spots.len())]);
    }
    for _ in 0..m {
        let u = rng.gen_range(0..n as u32);
        // Mostly near ids, so that components form.
        let v = (u + rng.gen_range(0..4)).min(n as u32 - 1);
        let dir = rng.gen_range(1..=3u8);
        b.push_edge(u, v, dir & 1 != 0, dir & 2 != 0, &[]);
    }
    let g = Graph::build_keeping(b, Profile::new(Mode::Ebike, &TravelModel::default()), 1);
    let snap = |rng: &mut rand::rngs::StdRng| {
        let e = rng.gen_range(0..g.edges() as u32);
        // Often exactly at an end: the point is then that node, whatever the edge's direction.
        let f: f64 = match rng.gen_range(0..10) {
            0 | 1 => 0.0,
            2 | 3 => 1.0,
            _ => rng.gen_range(0.0..=1.0),
        };
        Snap {
            edge: e,
            offset_m: f * g.edge_len[e as usize],
            distance_m: 0.0,
        }
    };
    if g.edges() == 0 {
        return (g, Vec::new(), Vec::new());
    }
    let stations = (0..rng.gen_range(1..8))
        .map(|_| {
            if rng.gen_bool(0.9) {
                Some(snap(&mut rng))
            } else {
                None
            }
        })
        .collect();
    let riders = (0..5).map(|_| snap(&mut rng)).collect();
    (g, stations, riders)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_graph_labels_and_queries_equal_dijkstra(seed in any::<u64>(), n in 2usize..30, m in 1usize..60) {
        let (g, stations, riders) = random_graph(seed, n, m);
        if g.edges() == 0 {
            return Ok(());
        }
        let labels = Labels::build(&g, &stations);
        assert_labels(&g, &labels, &stations);
        for r in &riders {
            assert_queries(&g, &labels, &stations, r);
        }
    }

    #[test]
    fn random_graph_updates_equal_a_rebuild(seed in any::<u64>(), n in 2usize..30, m in 1usize..60, ops in proptest::collection::vec((0u8..3, 0usize..10, any::<u64>()), 1..6)) {
        let (g, mut stations, _) = random_graph(seed, n, m);
        if g.edges() == 0 {
            return Ok(());
        }
        let mut labels = Labels::build(&g, &stations);
        for (op, i, s2) in ops {
            let mut rng = rand::rngs::StdRng::seed_from_u64(s2);
            let e = rng.gen_range(0..g.edges() as u32);
            let snap = Snap { edge: e, offset_m: rng.gen_range(0.0..=1.0) * g.edge_len[e as usize], distance_m: 0.0 };
            let i = i.min(stations.len());
            match op {
                0 => { labels.add(&g, stations.len() as u32, snap); stations.push(Some(snap)); }
                1 if i < stations.len() => { labels.moved(&g, i as u32, snap); stations[i] = Some(snap); }
                _ if i < stations.len() => { labels.retire(&g, i as u32); stations[i] = None; }
                _ => {}
            }
            assert_labels(&g, &labels, &stations);
        }
    }
}
