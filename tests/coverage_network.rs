//! Coverage on the road network (issue 11) on a real OpenStreetMap extract (Helsinki, © OpenStreetMap
//! contributors, ODbL, see tests/data/osm/README.md): every cell's minutes equal a plain
//! Dijkstra (petgraph) from its snapped point, `reach` agrees with the minutes, cells with no
//! road within 300 m are reported apart; over HTTP on the store `YIZHAN_TEST_STORE` names,
//! `travel=network` and `travel=straight_line` differ and their figures add up.

mod common;
#[path = "common/network_oracle.rs"]
mod network_oracle;

use common::{assert_error, helsinki_extract, new_station, spawn_app_with, station_record};
use h3o::Resolution;
use petgraph::graph::{DiGraph, NodeIndex};
use reqwest::StatusCode;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use yizhan::coverage::grid::Grid;
use yizhan::coverage::network_travel::NetworkTravel;
use yizhan::coverage::travel::{Sources, TravelTimes};
use yizhan::coverage::{compute, Params, MAX_COVERAGE_MINUTES};
use yizhan::domain::{BBox, LonLat, Mode, TravelModel};
use yizhan::index::Snapshot;
use yizhan::network::graph::{Graph, BACKWARD, FORWARD};
use yizhan::network::roads::Roads;
use yizhan::network::snap::Snap;

fn roads(path: &Path) -> Arc<Roads> {
    Arc::new(
        Roads::load(path, &TravelModel::default())
            .expect("loading Helsinki")
            .0,
    )
}

/// The extract's box, a little wider (so that open water and cells far from roads are in it).
fn bbox(g: &Graph) -> [f64; 4] {
    let mut b = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    for c in &g.coords {
        let (lon, lat) = (f64::from(c[0]) * 1e-7, f64::from(c[1]) * 1e-7);
        b = [b[0].min(lon), b[1].min(lat), b[2].max(lon), b[3].max(lat)];
    }
    [b[0] - 0.004, b[1] - 0.004, b[2] + 0.004, b[3] + 0.004]
}

fn grid(b: [f64; 4], res: Resolution) -> Grid {
    Grid::of_bbox(&BBox::new(b[0], b[1], b[2], b[3]).unwrap(), &[], res).expect("a grid")
}

/// Station positions spread over the box (deterministic).
fn station_points(b: [f64; 4], n: usize) -> Vec<(f64, f64)> {
    (0..n)
        .map(|i| {
            let (fx, fy) = ((i * 7 % n) as f64 + 0.5, (i * 3 % n) as f64 + 0.5);
            (
                b[0] + (b[2] - b[0]) * (0.15 + 0.7 * fx / n as f64),
                b[1] + (b[3] - b[1]) * (0.15 + 0.7 * fy / n as f64),
            )
        })
        .collect()
}

fn snapshot_of(points: &[(f64, f64)]) -> Snapshot {
    let now = chrono::Utc::now();
    let stations = points
        .iter()
        .enumerate()
        .map(|(i, &p)| station_record(i as i64 + 1, &new_station(&format!("H{i}"), p), now))
        .collect();
    Snapshot::build(stations, chrono_tz::Asia::Shanghai)
}

/// The graph in petgraph with one sink node every station reaches through its entries
/// (the oracle's, computed from the raw arrays).
fn petgraph_with_sink(g: &Graph, stations: &[Snap]) -> DiGraph<(), u32> {
    let mut p = DiGraph::<(), u32>::new();
    for _ in 0..g.nodes() + 2 {
        p.add_node(());
    }
    for x in 0..g.nodes() {
        for i in g.fwd.first[x]..g.fwd.first[x + 1] {
            let [h, w] = g.fwd.arcs[i as usize];
            p.add_edge(NodeIndex::new(x), NodeIndex::new(h as usize), w);
        }
    }
    let sink = NodeIndex::new(g.nodes());
    for s in stations {
        for (x, t) in network_oracle::oracle_entries(g, s) {
            p.add_edge(NodeIndex::new(x as usize), sink, t);
        }
    }
    p
}

/// Deciseconds from a cell's snapped point to the nearest station: Dijkstra from a node joined
/// to the ends it may leave its edge by, and straight to stations on its own edge.
fn oracle_ds(base: &DiGraph<(), u32>, g: &Graph, stations: &[Snap], cell: &Snap) -> Option<u32> {
    let mut p = base.clone();
    let (sink, from) = (NodeIndex::new(g.nodes()), NodeIndex::new(g.nodes() + 1));
    let dir = g.edge_dir[cell.edge as usize];
    for (x, t) in network_oracle::oracle_exits(g, cell) {
        p.add_edge(from, NodeIndex::new(x as usize), t);
    }
    for s in stations.iter().filter(|s| s.edge == cell.edge) {
        let d = s.offset_m - cell.offset_m;
        if d == 0.0 || (d > 0.0 && dir & FORWARD != 0) || (d < 0.0 && dir & BACKWARD != 0) {
            p.add_edge(from, sink, g.profile.deciseconds(d.abs()));
        }
    }
    let dist = petgraph::algo::dijkstra(&p, from, Some(sink), |e| *e.weight());
    dist.get(&sink).copied()
}

fn minutes_of_ds(ds: Option<u32>) -> f64 {
    match ds {
        Some(ds) if f64::from(ds) <= MAX_COVERAGE_MINUTES * 600.0 => f64::from(ds) / 600.0,
        _ => f64::INFINITY,
    }
}

#[test]
fn network_minutes_equal_dijkstra_from_each_cells_snapped_point() {
    let (_dir, path) = helsinki_extract();
    let roads = roads(&path);
    let travel = NetworkTravel::new(roads.clone());
    let b = bbox(&roads.walk.graph);
    let grid = grid(b, Resolution::Ten);
    assert!(grid.len() > 250, "{} cells", grid.len());
    let points = station_points(b, 12);
    let (stored, extra) = points.split_at(9);
    let snapshot = snapshot_of(stored);
    let extra: Vec<LonLat> = extra
        .iter()
        .map(|&(lon, lat)| LonLat::new(lon, lat).unwrap())
        .collect();
    let sources = Sources {
        snapshot: &snapshot,
        extra: &extra,
    };
    for mode in [Mode::Walk, Mode::Ebike] {
        let net = roads.mode(mode);
        let g = &net.graph;
        let minutes = travel.nearest_minutes(&sources, &grid, mode);
        assert_eq!(minutes.len(), grid.len());
        let station_snaps: Vec<Snap> = stored
            .iter()
            .map(|&(lon, lat)| LonLat::new(lon, lat).unwrap())
            .chain(extra.iter().copied())
            .filter_map(|p| net.snap(&p))
            .collect();
        assert!(station_snaps.len() >= 6, "{mode:?}: few stations on roads");
        let base = petgraph_with_sink(g, &station_snaps);
        let (mut no_access, mut finite) = (0, 0);
        for (i, &got) in minutes.iter().enumerate() {
            match net.snap(&grid.centres[i]) {
                None => {
                    assert!(got.is_nan(), "{mode:?} cell {i}: no road, got {got}");
                    no_access += 1;
                }
                Some(cell) => {
                    let want = minutes_of_ds(oracle_ds(&base, g, &station_snaps, &cell));
                    assert_eq!(got, want, "{mode:?} cell {} ({:?})", grid.cells[i], cell);
                    finite += usize::from(got.is_finite());
                }
            }
        }
        assert!(no_access > 0, "{mode:?}: no cell without road access");
        assert!(finite > 100, "{mode:?}: {finite} cells with minutes");
    }
}

#[test]
fn reach_agrees_with_nearest_minutes() {
    let (_dir, path) = helsinki_extract();
    let roads = roads(&path);
    let travel = NetworkTravel::new(roads.clone());
    let grid = grid(bbox(&roads.walk.graph), Resolution::Ten);
    let empty = Snapshot::build(
        Vec::<yizhan::domain::Station>::new(),
        chrono_tz::Asia::Shanghai,
    );
    let mut reached_any = 0;
    for (mode, limit) in [(Mode::Walk, 10.0), (Mode::Ebike, 4.0)] {
        for k in 0..8 {
            let site = grid.centres[(k * 7919 + 13) % grid.len()];
            let extra = [site];
            let sources = Sources {
                snapshot: &empty,
                extra: &extra,
            };
            let minutes = travel.nearest_minutes(&sources, &grid, mode);
            let mut want: Vec<(usize, f64)> = minutes
                .iter()
                .enumerate()
                .filter(|(_, &m)| m <= limit)
                .map(|(i, &m)| (i, m))
                .collect();
            let mut got = Vec::new();
            travel.reach(site, &grid, mode, limit, &mut |i, m| got.push((i, m)));
            got.sort_by_key(|g| g.0);
            want.sort_by_key(|w| w.0);
            assert_eq!(got, want, "{mode:?} site {k} at {site:?}");
            reached_any += usize::from(!got.is_empty());
        }
    }
    assert!(reached_any >= 8, "only {reached_any} sites reached a cell");
}

#[test]
fn cells_without_road_access_are_neither_covered_nor_gaps() {
    let (_dir, path) = helsinki_extract();
    let roads = roads(&path);
    let travel = NetworkTravel::new(roads.clone());
    let b = bbox(&roads.walk.graph);
    let grid = grid(b, Resolution::Ten);
    let snapshot = snapshot_of(&station_points(b, 3));
    let params = Params {
        mode: Mode::Walk,
        minutes: 5.0,
        only_24h: false,
    };
    let cov = compute(&grid, &snapshot, &[], &travel, params, None);
    let t = &cov.total;
    let no_access: Vec<usize> = (0..grid.len()).filter(|&i| !cov.access[i]).collect();
    assert!(!no_access.is_empty());
    assert_eq!(t.no_access_cells, Some(no_access.len() as u64));
    for &i in &no_access {
        assert!(cov.minutes[i].is_nan() && !cov.covered[i]);
        assert!(roads.walk.snap(&grid.centres[i]).is_none());
    }
    let area = |f: &dyn Fn(usize) -> bool| -> f64 {
        (0..grid.len())
            .filter(|&i| f(i))
            .map(|i| f64::from(grid.area_km2[i]))
            .sum()
    };
    let uncovered = area(&|i| cov.access[i] && !cov.covered[i]);
    assert!((t.uncovered_km2 - uncovered).abs() < 2e-3, "{t:?}");
    assert!((t.no_access_km2.unwrap() - area(&|i| !cov.access[i])).abs() < 2e-3);
    let sum = t.covered_km2 + t.uncovered_km2 + t.no_access_km2.unwrap();
    assert!((sum - t.area_km2).abs() < 3e-3, "{t:?}");
    assert!(t.covered_cells > 0 && uncovered > 0.0, "{t:?}");
    // The gaps are the uncovered cells with road access, and only those.
    let gap_km2: f64 = cov.gaps.iter().map(|g| g.uncovered_km2).sum();
    assert!(
        (gap_km2 - uncovered).abs() < 1e-6,
        "{gap_km2} vs {uncovered}"
    );
    // Straight lines place every cell: the figures carry no access columns.
    let straight = yizhan::coverage::travel::StraightLine {
        model: TravelModel::default(),
    };
    let sl = compute(&grid, &snapshot, &[], &straight, params, None);
    assert_eq!(sl.total.no_access_cells, None);
    assert!(sl.access.iter().all(|&a| a));
}

/// Counts of `covered` true / false / null (no road access) in a `format=cells` reply.
fn cell_counts(body: &Value) -> (u64, u64, u64) {
    let mut n = (0, 0, 0);
    for c in body["cells"].as_array().expect("cells") {
        match &c["covered"] {
            Value::Bool(true) => n.0 += 1,
            Value::Bool(false) => n.1 += 1,
            Value::Null => {
                assert_eq!(c["no_road_access"], true, "{c}");
                assert!(c["minutes"].is_null(), "{c}");
                n.2 += 1
            }
            other => panic!("covered is {other}"),
        }
    }
    n
}

fn assert_adds_up(what: &str, total: &Value) {
    let u = |k: &str| total[k].as_u64().unwrap_or(0);
    let f = |k: &str| total[k].as_f64().unwrap_or(0.0);
    assert!(
        u("covered_cells") + u("no_access_cells") <= u("cells"),
        "{what}: {total}"
    );
    let sum = f("covered_km2") + f("uncovered_km2") + f("no_access_km2");
    assert!((sum - f("area_km2")).abs() < 3e-3, "{what}: {total}");
}

#[tokio::test]
async fn http_network_and_straight_line_differ_and_add_up() {
    let (_dir, path) = helsinki_extract();
    let app = spawn_app_with(|a| {
        a.seed = false;
        a.osm = Some(path.clone());
    })
    .await;
    let b = {
        let nets = yizhan::network::osm::read(&path, &TravelModel::default()).unwrap();
        bbox(&nets.walk)
    };
    let points = station_points(b, 3);
    let stations: Vec<_> = points
        .iter()
        .enumerate()
        .map(|(i, &p)| new_station(&format!("HEL{i:02}"), p))
        .collect();
    app.add_stations(&stations).await;
    let (_, config) = app.get_json("/api/v1/client-config").await;
    assert_eq!(config["road_network"], true, "{config}");
    let q = format!(
        "bbox={},{},{},{}&mode=walk&minutes=5&res=10",
        b[0], b[1], b[2], b[3]
    );

    let (s, default) = app.get_json(&format!("/api/v1/coverage?{q}")).await;
    assert_eq!(s, StatusCode::OK, "{default}");
    assert_eq!(
        default["travel"], "network",
        "a loaded network is the default"
    );
    let (_, net) = app
        .get_json(&format!("/api/v1/coverage?{q}&travel=network"))
        .await;
    let (s, line) = app
        .get_json(&format!("/api/v1/coverage?{q}&travel=straight_line"))
        .await;
    assert_eq!(s, StatusCode::OK, "{line}");
    assert_eq!(line["travel"], "straight_line");
    assert_eq!(net["total"], default["total"]);
    assert_adds_up("network", &net["total"]);
    assert_adds_up("straight_line", &line["total"]);
    assert!(net["total"]["no_access_cells"].as_u64().unwrap() > 0);
    assert!(line["total"].get("no_access_cells").is_none());
    assert_eq!(net["total"]["cells"], line["total"]["cells"]);
    assert_ne!(
        net["total"]["covered_cells"], line["total"]["covered_cells"],
        "network and straight line should differ"
    );

    // Every cell is covered, uncovered or without road access, as the figures say.
    for (travel, reply) in [("network", &net), ("straight_line", &line)] {
        let (s, cells) = app
            .get_json(&format!(
                "/api/v1/coverage?{q}&travel={travel}&format=cells"
            ))
            .await;
        assert_eq!(s, StatusCode::OK, "{cells}");
        assert_eq!(cells["travel"], travel);
        let (c, u, n) = cell_counts(&cells);
        let t = &reply["total"];
        assert_eq!(c, t["covered_cells"].as_u64().unwrap(), "{travel}");
        assert_eq!(n, t["no_access_cells"].as_u64().unwrap_or(0), "{travel}");
        assert_eq!(c + u + n, t["cells"].as_u64().unwrap(), "{travel}");
    }

    // Both side by side: the same figures as asked one by one.
    let (s, both) = app
        .get_json(&format!("/api/v1/coverage?{q}&travel=both"))
        .await;
    assert_eq!(s, StatusCode::OK, "{both}");
    assert_eq!(both["travel"], "both");
    assert_eq!(both["by_travel"]["network"]["total"], net["total"]);
    assert_eq!(both["by_travel"]["straight_line"]["total"], line["total"]);
    assert_eq!(both["by_travel"]["network"]["gaps"], net["gaps"]);

    let csv = app
        .get(&format!("/api/v1/coverage?{q}&travel=network&format=csv"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        csv.lines().next().unwrap().contains("no_access_cells"),
        "{csv}"
    );

    // The CLI with --osm writes the same county table.
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("helsinki.csv");
    let bbox = format!("{},{},{},{}", b[0], b[1], b[2], b[3]);
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_yizhan"))
        .args([
            "coverage",
            "--bbox",
            &bbox,
            "--mode",
            "walk",
            "--minutes",
            "5",
        ])
        .args(["--res", "10", "--osm", path.to_str().unwrap()])
        .args([
            "--out",
            out.to_str().unwrap(),
            "--database-url",
            &app.database_url,
        ])
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .expect("running yizhan coverage");
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{err}");
    assert!(
        err.contains("network") && err.contains("without road access"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), csv);

    let (s, body) = app
        .get_json(&format!("/api/v1/coverage?{q}&travel=both&format=cells"))
        .await;
    assert_error(
        "both as cells",
        s,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_travel",
    );
    let (s, body) = app
        .get_json(&format!("/api/v1/coverage?{q}&travel=roads"))
        .await;
    assert_error(
        "unknown travel",
        s,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_travel",
    );

    // Suggestions on the network add up too, and say which model they used.
    let (s, sug) = app
        .get_json(&format!(
            "/api/v1/coverage/suggestions?{q}&k=3&travel=network"
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "{sug}");
    assert_eq!(sug["travel"], "network");
    assert!(!sug["suggestions"].as_array().unwrap().is_empty(), "{sug}");
}

#[tokio::test]
async fn network_travel_without_a_network_is_a_clear_400() {
    let app = spawn_app_with(|a| a.seed = false).await;
    let q = "bbox=24.9,60.15,24.95,60.18&mode=walk";
    let (s, body) = app.get_json(&format!("/api/v1/coverage?{q}")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["travel"], "straight_line");
    let (_, config) = app.get_json("/api/v1/client-config").await;
    assert_eq!(config["road_network"], false, "{config}");
    for travel in ["network", "both"] {
        let (s, body) = app
            .get_json(&format!("/api/v1/coverage?{q}&travel={travel}"))
            .await;
        assert_error(
            travel,
            s,
            &body,
            StatusCode::BAD_REQUEST,
            "network_unavailable",
        );
        assert!(
            body["error"]["message"].as_str().unwrap().contains("--osm"),
            "{body}"
        );
    }
    let (s, body) = app
        .get_json(&format!("/api/v1/coverage/suggestions?{q}&travel=network"))
        .await;
    assert_error(
        "suggestions",
        s,
        &body,
        StatusCode::BAD_REQUEST,
        "network_unavailable",
    );
}
