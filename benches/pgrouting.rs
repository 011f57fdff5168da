//! Issue 11's same-run baseline: pgRouting on the very graph `benches/network.rs` measures
//! (the synthetic Jiangxi-sized e-bike network with the demo stations), beside yizhan's
//! labels, with every answer compared.
//!
//! `cargo bench --bench pgrouting` (release; needs PostgreSQL with PostGIS and pgRouting:
//! `apt-get install -y postgresql-15-pgrouting`; `PG=postgres://…` names the server, default
//! `postgres://postgres@127.0.0.1:5432`). Quick mode (debug build, `cargo test --benches`,
//! `BENCH_QUICK=1`, or no `--bench`): a small network around Nanchang, every answer checked.
//!
//! What a planner would run, loaded the way a pgRouting user loads a network:
//! - every arc of yizhan's graph is one row of `arcs(id, source, target, cost, reverse_cost,
//!   geom)` with `cost` in the same whole deciseconds (so sums are exact in `float8`) and
//!   `reverse_cost = -1`; a station is a vertex of its own, reached from its edge's ends by
//!   arcs of the times yizhan uses; a GiST index on `geom`; `ANALYZE` after the load.
//! - **Nearest** for a rider: `pgr_dijkstraCost` from a vertex added for the rider (arcs to its
//!   edge's ends) to the stations in a box around it, over the arcs in that box (the GiST
//!   index), a wider box when fewer than three stations answer; and, for a few riders, over the
//!   whole graph (exact, the way the pgRouting docs show it).
//! - **Coverage**: `pgr_drivingDistance` over the reversed arcs within 15 minutes from a vertex
//!   joined to every station at no cost (one search: each vertex once, with its nearest
//!   station's time). The many-start form is run in quick mode only (see below).
//!
//! Each side runs single-threaded (one connection; pgRouting runs a query on one core).

mod roads;

use rand::{Rng, SeedableRng};
use sqlx::{Connection, Executor, PgConnection, Row};
use std::collections::HashSet;
use std::time::Instant;
use yizhan::domain::{LonLat, Mode, TravelModel};
use yizhan::network::graph::Graph;
use yizhan::network::labels::{Hit, Labels, Scratch};
use yizhan::network::snap::{Snap, SnapIndex};
use yizhan::network::synthetic::{generate, Spec};
use yizhan::network::{lonlat_of, Profile};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Vertex ids: graph nodes keep theirs, station `s` is `STATION_BASE + s`, the rider `RIDER`.
const STATION_BASE: i64 = 1_000_000_000;
const RIDER: i64 = 2_000_000_000;
/// The virtual vertex joined to every station for the coverage search.
const SUPER: i64 = 3_000_000_000;
/// 15 minutes in deciseconds.
const FIFTEEN_MIN: u32 = 9_000;

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The rows of the `arcs` table as COPY text: graph arcs, then the stations' entry arcs.
fn arcs_copy(g: &Graph, snaps: &[Option<Snap>], sites: &[LonLat]) -> (Vec<u8>, usize) {
    use std::fmt::Write;
    let mut out = String::new();
    let mut id = 0usize;
    for x in 0..g.nodes() as u32 {
        let a = lonlat_of(g.coords[x as usize]);
        for (y, w) in g.fwd.arcs(x) {
            let b = lonlat_of(g.coords[y as usize]);
            id += 1;
            let _ = writeln!(
                out,
                "{id}\t{x}\t{y}\t{w}\t-1\t{}\t{}\t{}\t{}",
                a.lon, a.lat, b.lon, b.lat
            );
        }
    }
    for (s, snap) in snaps.iter().enumerate() {
        let Some(snap) = snap else { continue };
        let p = &sites[s];
        for (x, t) in snap.entries(g).into_iter().flatten() {
            let a = lonlat_of(g.coords[x as usize]);
            id += 1;
            let _ = writeln!(
                out,
                "{id}\t{x}\t{}\t{t}\t-1\t{}\t{}\t{}\t{}",
                STATION_BASE + s as i64,
                a.lon,
                a.lat,
                p.lon,
                p.lat
            );
        }
    }
    (out.into_bytes(), id)
}

/// A rider's extra arcs, as a `VALUES` list for the edges SQL: from the rider's vertex to the
/// ends of its edge (the times yizhan's query starts from).
fn rider_values(g: &Graph, r: &Snap) -> String {
    r.exits(g)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, (x, t))| {
            format!(
                "(-{}::bigint, {RIDER}::bigint, {x}::bigint, {t}::float8, -1::float8)",
                i + 1
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The three nearest stations of pgRouting's answer rows, ordered like yizhan's (time, id).
fn top3(rows: &[(i64, f64)]) -> Vec<Hit> {
    let mut hits: Vec<Hit> = rows
        .iter()
        .map(|&(v, c)| Hit {
            time: c as u32,
            station: (v - STATION_BASE) as u32,
        })
        .collect();
    hits.sort_unstable();
    hits.truncate(3);
    hits
}

async fn dijkstra_cost(db: &mut PgConnection, edges_sql: &str, targets: &[i64]) -> Vec<(i64, f64)> {
    if targets.is_empty() {
        return Vec::new();
    }
    sqlx::query(
        "SELECT end_vid, agg_cost FROM pgr_dijkstraCost($1, $2::bigint, $3::bigint[], directed => true)",
    )
    .bind(edges_sql)
    .bind(RIDER)
    .bind(targets)
    .fetch_all(&mut *db)
    .await
    .expect("pgr_dijkstraCost")
    .iter()
    .map(|row| (row.get::<i64, _>(0), row.get::<f64, _>(1)))
    .collect()
}

const BOX_SQL: &str = "ST_Expand(ST_SetSRID(ST_MakePoint($X, $Y), 4326), $D)";

fn boxed(x: f64, y: f64, deg: f64) -> String {
    BOX_SQL
        .replace("$X", &x.to_string())
        .replace("$Y", &y.to_string())
        .replace("$D", &deg.to_string())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let quick = roads::quick();
    let pg = std::env::var("PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let spec = roads::spec(quick);
    let model = TravelModel::default();
    let g = Graph::build(
        generate(&spec, Mode::Ebike),
        Profile::new(Mode::Ebike, &model),
    );
    let idx = SnapIndex::new(&g);
    let sites = roads::stations();
    let snaps: Vec<Option<Snap>> = sites.iter().map(|p| idx.snap(&g, p)).collect();
    let placed = snaps.iter().filter(|s| s.is_some()).count();
    println!(
        "graph: {} nodes, {} arcs; {placed} of {} stations on it",
        g.nodes(),
        g.arcs(),
        sites.len()
    );

    // The database: created here, dropped at the end.
    let name = format!("yizhan_pgr_bench_{}", std::process::id());
    let mut admin = PgConnection::connect(&format!("{pg}/postgres"))
        .await
        .expect("PostgreSQL (set PG=postgres://user@host:port)");
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create database");
    let mut db = PgConnection::connect(&format!("{pg}/{name}"))
        .await
        .expect("connect");
    let result = run(&mut db, quick, &spec, &g, &idx, &sites, &snaps).await;
    db.close().await.ok();
    admin
        .execute(format!("DROP DATABASE {name}").as_str())
        .await
        .expect("drop database");
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[allow(clippy::too_many_arguments)]
async fn run(
    db: &mut PgConnection,
    quick: bool,
    spec: &Spec,
    g: &Graph,
    idx: &SnapIndex,
    sites: &[LonLat],
    snaps: &[Option<Snap>],
) -> Result<(), String> {
    db.execute("CREATE EXTENSION postgis; CREATE EXTENSION pgrouting;")
        .await
        .map_err(|e| {
            format!("pgRouting missing? apt-get install -y postgresql-15-pgrouting: {e}")
        })?;
    let version: String = sqlx::query_scalar("SELECT pgr_version()")
        .fetch_one(&mut *db)
        .await
        .map_err(|e| e.to_string())?;
    println!("pgRouting {version}");
    db.execute(
        "CREATE TABLE arcs (id bigint PRIMARY KEY, source bigint NOT NULL, target bigint NOT NULL, \
         cost float8 NOT NULL, reverse_cost float8 NOT NULL, x1 float8, y1 float8, x2 float8, y2 float8, \
         geom geometry(LineString, 4326) GENERATED ALWAYS AS \
         (ST_MakeLine(ST_SetSRID(ST_MakePoint(x1, y1), 4326), ST_SetSRID(ST_MakePoint(x2, y2), 4326))) STORED)",
    )
    .await
    .map_err(|e| e.to_string())?;
    let t = Instant::now();
    let (rows, count) = arcs_copy(g, snaps, sites);
    let mut copy = db
        .copy_in_raw(
            "COPY arcs (id, source, target, cost, reverse_cost, x1, y1, x2, y2) FROM STDIN",
        )
        .await
        .map_err(|e| e.to_string())?;
    for chunk in rows.chunks(1 << 20) {
        copy.send(chunk).await.map_err(|e| e.to_string())?;
    }
    copy.finish().await.map_err(|e| e.to_string())?;
    db.execute(
        "CREATE INDEX arcs_geom_gist ON arcs USING gist (geom); \
         CREATE INDEX arcs_source ON arcs (source); CREATE INDEX arcs_target ON arcs (target); \
         CREATE TABLE stations AS SELECT DISTINCT target AS vid, \
           ST_SetSRID(ST_MakePoint(x2, y2), 4326) AS geom FROM arcs WHERE target >= 1000000000; \
         CREATE INDEX stations_geom_gist ON stations USING gist (geom); \
         ANALYZE arcs; ANALYZE stations;",
    )
    .await
    .map_err(|e| e.to_string())?;
    println!(
        "load: {count} arcs (graph and station entries) copied, indexed, analysed in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // The box query must walk the GiST index, or the baseline is crippled (checked on a box
    // of a few hundred metres; on the quick mode's small table a wide box rightly scans).
    let plan: Vec<String> = sqlx::query_scalar(&format!(
        "EXPLAIN SELECT id, source, target, cost, reverse_cost FROM arcs WHERE geom && {}",
        boxed(115.9, 28.68, 0.002)
    ))
    .fetch_all(&mut *db)
    .await
    .map_err(|e| e.to_string())?;
    println!("EXPLAIN of the box's edges SQL:\n  {}", plan.join("\n  "));
    if !plan.iter().any(|l| l.contains("arcs_geom_gist")) {
        return Err("the edges SQL does not use the GiST index".into());
    }

    // yizhan's side on the same graph.
    let t = Instant::now();
    let labels = Labels::build(g, snaps);
    let labelling = t.elapsed();
    println!(
        "yizhan labelling (K = 3, every node, no time bound): {:.0} ms",
        ms(labelling)
    );

    // Riders: random points of the box that snap, on edges without a station (so that the
    // rider's only ways out are its edge's ends, as in pgRouting's graph).
    let station_edges: HashSet<u32> = snaps.iter().flatten().map(|s| s.edge).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let [w, s, e, n] = spec.bbox;
    let wanted = if quick { 20 } else { 200 };
    let mut riders = Vec::new();
    while riders.len() < wanted {
        let p = LonLat::new(rng.gen_range(w..e), rng.gen_range(s..n)).expect("in range");
        if let Some(r) = idx.snap(g, &p) {
            if !station_edges.contains(&r.edge) {
                riders.push((p, r));
            }
        }
    }
    let mut scratch = Scratch::default();
    let t = Instant::now();
    let ours: Vec<Vec<Hit>> = riders
        .iter()
        .map(|(_, r)| labels.nearest(g, r, 3, u32::MAX, |_| true, &mut scratch).0)
        .collect();
    let ours_us = t.elapsed().as_secs_f64() * 1e6 / riders.len() as f64;
    let t = Instant::now();
    for (_, r) in &riders {
        let found = labels.nearest_by_search(g, r, 3, u32::MAX, |_| true, &mut scratch);
        assert_eq!(found.len(), 3.min(snaps.iter().flatten().count()));
    }
    let search_us = t.elapsed().as_secs_f64() * 1e6 / riders.len() as f64;
    println!(
        "yizhan nearest k = 3 over {} riders: labels {ours_us:.2} µs, search (fallback) {search_us:.1} µs per query",
        riders.len()
    );

    // pgRouting, boxed: the stations within 10 km (≈ 0.1°) and the arcs within that box plus
    // 5 km, widening to 40 km when fewer than three stations answer.
    let mut boxed_ms = Vec::new();
    let (mut wrong, mut widened) = (0, 0);
    for ((p, r), exact) in riders.iter().zip(&ours) {
        let t = Instant::now();
        let mut got = Vec::new();
        for (near, pad) in [(0.1, 0.05), (0.4, 0.1)] {
            let targets: Vec<i64> = sqlx::query_scalar(&format!(
                "SELECT vid FROM stations WHERE geom && {}",
                boxed(p.lon, p.lat, near)
            ))
            .fetch_all(&mut *db)
            .await
            .map_err(|e| e.to_string())?;
            let edges = format!(
                "SELECT id, source, target, cost, reverse_cost FROM arcs WHERE geom && {} UNION ALL VALUES {}",
                boxed(p.lon, p.lat, near + pad),
                rider_values(g, r)
            );
            got = top3(&dijkstra_cost(db, &edges, &targets).await);
            if got.len() >= 3 {
                break;
            }
            widened += 1;
        }
        boxed_ms.push(ms(t.elapsed()));
        if &got != exact {
            wrong += 1;
        }
    }
    boxed_ms.sort_by(f64::total_cmp);
    let median = boxed_ms[boxed_ms.len() / 2];
    let mean = boxed_ms.iter().sum::<f64>() / boxed_ms.len() as f64;
    println!(
        "pgRouting nearest, boxed: median {median:.1} ms, mean {mean:.1} ms per query ({widened} widened, {wrong} of {} answers differ from the exact ones)",
        riders.len()
    );
    println!(
        "  ratio: yizhan labels {:.0}× faster (mean), fallback search {:.0}× faster",
        mean * 1e3 / ours_us,
        mean * 1e3 / search_us
    );

    // pgRouting over the whole graph: exact, checked against yizhan's answers.
    let whole = if quick { riders.len() } else { 3 };
    let all: Vec<i64> = sqlx::query_scalar("SELECT vid FROM stations")
        .fetch_all(&mut *db)
        .await
        .map_err(|e| e.to_string())?;
    let t = Instant::now();
    for ((_, r), exact) in riders.iter().zip(&ours).take(whole) {
        let edges = format!(
            "SELECT id, source, target, cost, reverse_cost FROM arcs UNION ALL VALUES {}",
            rider_values(g, r)
        );
        let got = top3(&dijkstra_cost(db, &edges, &all).await);
        if &got != exact {
            return Err(format!(
                "pgRouting's exact answer {got:?} differs from yizhan's {exact:?}"
            ));
        }
    }
    let whole_ms = ms(t.elapsed()) / whole as f64;
    println!(
        "pgRouting nearest, whole graph: {whole_ms:.0} ms per query over {whole} riders, every answer equal to yizhan's; yizhan labels {:.0}× faster",
        whole_ms * 1e3 / ours_us
    );

    // Coverage: every vertex within 15 minutes of a station, with its nearest station's time.
    // What a planner runs: one search from a virtual vertex joined to every station at no
    // cost, over the reversed arcs. `pgr_drivingDistance` with all the stations as start
    // vertices is the documented alternative, but it keeps a whole-graph search per start:
    // on this graph it grew past 23 GB and was killed (pgRouting 3.4.2, 24 GB machine). In
    // quick mode it runs too, with `equicost` (it returns some vertices with a worse station's
    // time; pgRouting's own pgr_dijkstraCost agrees with yizhan there, checked below) and
    // without (each station's own search, the least time per vertex: exact).
    let reversed = "SELECT id, target AS source, source AS target, cost, reverse_cost FROM arcs";
    let joined = format!(
        "'{reversed} UNION ALL SELECT -vid, {SUPER}::bigint, vid, 0::float8, -1::float8 FROM stations'"
    );
    let reversed = format!("'{reversed}'");
    let mut forms = vec![(
        "from a vertex joined to every station",
        format!(
            "SELECT node, agg_cost FROM pgr_drivingDistance({joined}, {SUPER}::bigint, $1::float8, directed => true)"
        ),
    )];
    if quick {
        forms.push((
            "equicost",
            format!("SELECT node, agg_cost FROM pgr_drivingDistance({reversed}, \
             (SELECT array_agg(vid) FROM stations), $1::float8, directed => true, equicost => true)"),
        ));
        forms.push((
            "per station, least time per vertex",
            format!("SELECT node, min(agg_cost) FROM pgr_drivingDistance({reversed}, \
             (SELECT array_agg(vid) FROM stations), $1::float8, directed => true, equicost => false) \
             GROUP BY node"),
        ));
    }
    for (name, sql) in forms {
        let t = Instant::now();
        let reached: Vec<(i64, f64)> = sqlx::query(&sql)
            .bind(f64::from(FIFTEEN_MIN))
            .fetch_all(&mut *db)
            .await
            .map_err(|e| e.to_string())?
            .iter()
            .map(|row| (row.get::<i64, _>(0), row.get::<f64, _>(1)))
            .collect();
        let took = t.elapsed();
        let mut covered = vec![None; g.nodes()];
        for &(v, c) in &reached {
            if (0..g.nodes() as i64).contains(&v) {
                covered[v as usize] = Some(c as u32);
            }
        }
        let mut differ = Vec::new();
        for (x, c) in covered.iter().enumerate() {
            let ours = labels
                .of(x as u32)
                .next()
                .map(|h| h.time)
                .filter(|&t| t <= FIFTEEN_MIN);
            if ours != *c {
                differ.push((x, *c));
            }
        }
        let n_cov = covered.iter().filter(|c| c.is_some()).count();
        println!(
            "pgRouting coverage, pgr_drivingDistance {name} (15 min, reversed arcs): {:.0} ms, {n_cov} nodes covered; {} nodes differ from yizhan's labels",
            ms(took),
            differ.len()
        );
        println!(
            "  ratio: yizhan's whole labelling (K = 3, unbounded: more work) {:.1}× faster",
            took.as_secs_f64() / labelling.as_secs_f64()
        );
        for &(x, theirs) in differ.iter().take(3) {
            let h = labels
                .of(x as u32)
                .next()
                .expect("a covered node is labelled");
            let check: Option<f64> = sqlx::query_scalar(
                "SELECT agg_cost FROM pgr_dijkstraCost('SELECT id, source, target, cost, reverse_cost FROM arcs', \
                 $1::bigint, $2::bigint, directed => true)",
            )
            .bind(x as i64)
            .bind(STATION_BASE + i64::from(h.station))
            .fetch_optional(&mut *db)
            .await
            .map_err(|e| e.to_string())?;
            println!(
                "  node {x}: {name} says {theirs:?}; yizhan {} to station {}; pgr_dijkstraCost from the node to that station: {check:?}",
                h.time, h.station
            );
            if check != Some(f64::from(h.time)) {
                return Err(format!(
                    "node {x}: pgr_dijkstraCost disagrees with yizhan's label"
                ));
            }
        }
        if name != "equicost" && !differ.is_empty() {
            return Err(format!(
                "{} nodes' exact coverage differs from yizhan's",
                differ.len()
            ));
        }
    }
    Ok(())
}
