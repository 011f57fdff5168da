//! What the road-network benches share: quick mode, the synthetic network's size, the demo
//! stations' positions.

use yizhan::domain::LonLat;
use yizhan::network::synthetic::Spec;

/// Quick mode: a debug build (`cargo test --benches`), `BENCH_QUICK`, or no `--bench` argument.
pub fn quick() -> bool {
    cfg!(debug_assertions)
        || std::env::var_os("BENCH_QUICK").is_some()
        || !std::env::args().any(|a| a == "--bench")
}

/// Jiangxi's size, or in quick mode a small network around Nanchang.
pub fn spec(quick: bool) -> Spec {
    if quick {
        println!("quick mode: a small network around Nanchang");
        Spec {
            cols: 60,
            rows: 60,
            bbox: [115.80, 28.60, 116.00, 28.75],
            ..Spec::jiangxi()
        }
    } else {
        Spec::jiangxi()
    }
}

/// The demo stations' positions (`seeds/stations.csv`), in file order.
pub fn stations() -> Vec<LonLat> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/seeds/stations.csv");
    let mut r = csv::Reader::from_path(path).expect("seeds/stations.csv");
    r.records()
        .filter_map(|rec| {
            let rec = rec.ok()?;
            LonLat::new(rec.get(4)?.parse().ok()?, rec.get(5)?.parse().ok()?).ok()
        })
        .collect()
}
