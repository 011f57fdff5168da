//! Vector tiles over a real socket: decoded with prost (geozero's generated MVT types) and a
//! geometry decoder of our own, checked against `GET /api/v1/stations?bbox=` and brute force.

mod common;

use common::{new_station, spawn_app, spawn_empty_app, TestApp, NANCHANG};
use geozero::mvt::{Message, Tile};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use yizhan::auth::{hash_password, new_session_token, token_hash};
use yizhan::domain::{Login, NewStation, Role};

/// Normalised Web Mercator, written here again so the test does not trust the server's math.
fn world(lon: f64, lat: f64) -> (f64, f64) {
    let x = (lon + 180.0) / 360.0;
    let s = lat.to_radians().sin();
    let y = 0.5 - ((1.0 + s) / (1.0 - s)).ln() / (4.0 * std::f64::consts::PI);
    (x, y)
}

fn tile_of(z: u8, (lon, lat): (f64, f64)) -> (u32, u32) {
    let (x, y) = world(lon, lat);
    let n = f64::from(1u32 << z);
    ((x * n).floor() as u32, (y * n).floor() as u32)
}

/// West, south, east, north of a tile.
fn bounds(z: u8, x: u32, y: u32) -> [f64; 4] {
    let n = f64::from(1u32 << z);
    let lon = |x: f64| x / n * 360.0 - 180.0;
    let lat = |y: f64| {
        (std::f64::consts::PI * (1.0 - 2.0 * y / n))
            .sinh()
            .atan()
            .to_degrees()
    };
    [
        lon(f64::from(x)),
        lat(f64::from(y + 1)),
        lon(f64::from(x + 1)),
        lat(f64::from(y)),
    ]
}

/// One decoded point feature: tile coordinates and properties.
#[derive(Debug)]
struct Feature {
    id: Option<u64>,
    x: i32,
    y: i32,
    props: BTreeMap<String, Value>,
}

/// Decodes a tile: layer name → point features. Geometry commands decoded by hand (MoveTo of
/// one point, zigzag parameters) per the MVT 2.1 spec, §4.3.
fn decode(bytes: &[u8]) -> BTreeMap<String, Vec<Feature>> {
    let tile = Tile::decode(bytes).expect("a valid protobuf tile");
    let mut out = BTreeMap::new();
    for layer in tile.layers {
        assert_eq!(layer.version, 2);
        assert_eq!(layer.extent, Some(4096));
        let mut features = Vec::new();
        for f in &layer.features {
            assert_eq!(f.r#type, Some(1), "points only");
            let g = &f.geometry;
            assert_eq!(g.len(), 3, "one MoveTo of one point: {g:?}");
            assert_eq!(g[0], (1 << 3) | 1, "MoveTo, count 1");
            let zz = |v: u32| ((v >> 1) as i32) ^ -((v & 1) as i32);
            let mut props = BTreeMap::new();
            for pair in f.tags.chunks(2) {
                let key = layer.keys[pair[0] as usize].clone();
                let v = &layer.values[pair[1] as usize];
                let value = if let Some(s) = &v.string_value {
                    json!(s)
                } else if let Some(b) = v.bool_value {
                    json!(b)
                } else if let Some(u) = v.uint_value {
                    json!(u)
                } else if let Some(i) = v.int_value {
                    json!(i)
                } else if let Some(i) = v.sint_value {
                    json!(i)
                } else {
                    panic!("unexpected value type {v:?}")
                };
                props.insert(key, value);
            }
            features.push(Feature {
                id: f.id,
                x: zz(g[1]),
                y: zz(g[2]),
                props,
            });
        }
        out.insert(layer.name, features);
    }
    out
}

async fn get_tile(app: &TestApp, z: u8, x: u32, y: u32) -> reqwest::Response {
    app.get(&format!("/api/v1/tiles/{z}/{x}/{y}.mvt")).await
}

/// The decoded layers of a tile that must exist (200).
async fn layers(app: &TestApp, z: u8, x: u32, y: u32) -> BTreeMap<String, Vec<Feature>> {
    let res = get_tile(app, z, x, y).await;
    assert_eq!(res.status(), 200, "tile {z}/{x}/{y}");
    assert_eq!(
        res.headers()["content-type"],
        "application/vnd.mapbox-vector-tile"
    );
    assert!(res.headers().contains_key("etag"));
    decode(&res.bytes().await.unwrap())
}

/// A deterministic scatter: `n` stations within about `spread` degrees of `centre`.
fn scatter(prefix: &str, n: usize, centre: (f64, f64), spread: f64, seed: u64) -> Vec<NewStation> {
    let mut state = seed;
    let mut next = || {
        // xorshift64*: reproducible without a dependency.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|i| {
            let lon = centre.0 + (next() - 0.5) * 2.0 * spread;
            let lat = centre.1 + (next() - 0.5) * 2.0 * spread;
            let mut s = new_station(&format!("{prefix}-{i}"), (lon, lat));
            if i % 3 == 0 {
                s.amenities = common::amenities(&["water", "toilet"]);
            }
            s.demo = i % 2 == 0;
            s
        })
        .collect()
}

#[tokio::test]
async fn high_zoom_tiles_hold_exactly_the_stations_the_bbox_query_returns() {
    let app = spawn_empty_app().await;
    // Dense around Nanchang (many per z14 tile), plus some spread over the province.
    let mut stations = scatter("N", 300, NANCHANG, 0.03, 1);
    stations.extend(scatter("J", 100, (115.9, 27.5), 1.5, 2));
    app.add_stations(&stations).await;
    let mut checked = 0;
    for z in [14u8, 16] {
        let tiles: BTreeSet<(u32, u32)> = stations
            .iter()
            .map(|s| tile_of(z, (s.location.lon, s.location.lat)))
            .take(60)
            .collect();
        for &(x, y) in &tiles {
            let [w, s, e, n] = bounds(z, x, y);
            let (status, fc) = app
                .get_json(&format!(
                    "/api/v1/stations?bbox={w},{s},{e},{n}&limit=10000"
                ))
                .await;
            assert_eq!(status, 200, "{fc}");
            let want: BTreeMap<u64, (f64, f64)> = fc["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    let c = &f["geometry"]["coordinates"];
                    (
                        f["properties"]["id"]
                            .as_u64()
                            .unwrap_or_else(|| f["id"].as_u64().unwrap()),
                        (c[0].as_f64().unwrap(), c[1].as_f64().unwrap()),
                    )
                })
                .collect();
            let layers = layers(&app, z, x, y).await;
            assert_eq!(layers.len(), 1, "one layer");
            let got = &layers["stations"];
            let got_ids: BTreeSet<u64> = got.iter().map(|f| f.id.unwrap()).collect();
            assert_eq!(
                got_ids,
                want.keys().copied().collect::<BTreeSet<_>>(),
                "tile {z}/{x}/{y}"
            );
            let n = f64::from(1u32 << z);
            for f in got {
                let (lon, lat) = want[&f.id.unwrap()];
                let (wx, wy) = world(lon, lat);
                // Within half a tile unit (plus the bbox reply's 7-decimal rounding, ~1 cm).
                let ux = (wx * n - f64::from(x)) * 4096.0;
                let uy = (wy * n - f64::from(y)) * 4096.0;
                assert!((ux - f64::from(f.x)).abs() <= 0.5 + 0.05, "{ux} vs {}", f.x);
                assert!((uy - f64::from(f.y)).abs() <= 0.5 + 0.05, "{uy} vs {}", f.y);
                assert_eq!(f.props["id"], json!(f.id.unwrap()));
                assert!(f.props["name"].as_str().unwrap().starts_with("测试驿站"));
                assert_eq!(f.props["open_now"], json!(true), "24/7 stations");
                assert_eq!(f.props["opening_hours"], json!("24/7"));
                assert!(f.props.contains_key("demo"));
                assert!(f.props.contains_key("amenities"));
                checked += 1;
            }
        }
    }
    assert!(checked >= 100, "only {checked} stations compared");
}

#[tokio::test]
async fn low_zoom_cluster_counts_sum_to_the_stations_in_each_tile() {
    let app = spawn_empty_app().await;
    let mut stations = scatter("C", 400, NANCHANG, 0.2, 3);
    stations.extend(scatter("P", 200, (116.0, 27.0), 2.5, 4));
    app.add_stations(&stations).await;
    let positions: Vec<(f64, f64)> = stations
        .iter()
        .map(|s| (s.location.lon, s.location.lat))
        .collect();
    for z in [0u8, 3, 5, 8, 10, 13] {
        // Brute force: stations per tile by our own Mercator.
        let mut per_tile: BTreeMap<(u32, u32), u64> = BTreeMap::new();
        for &p in &positions {
            *per_tile.entry(tile_of(z, p)).or_default() += 1;
        }
        let mut total = 0;
        for (&(x, y), &want) in &per_tile {
            let layers = layers(&app, z, x, y).await;
            let clusters = &layers["clusters"];
            assert!(!clusters.is_empty() && clusters.len() <= 16);
            let sum: u64 = clusters
                .iter()
                .map(|c| c.props["count"].as_u64().unwrap())
                .sum();
            assert_eq!(sum, want, "clusters of {z}/{x}/{y}");
            for c in clusters {
                // Cluster centres are inside their tile.
                assert!((0..=4096).contains(&c.x) && (0..=4096).contains(&c.y));
                let ez = c.props["expand_zoom"].as_u64().unwrap();
                assert!(ez > u64::from(z) && ez <= 14, "{ez}");
                assert!(c.props["n_water"].as_u64().unwrap() <= c.props["count"].as_u64().unwrap());
            }
            if z >= 8 {
                // Where the bbox query can answer (≤ 10° a side), it agrees.
                let [w, s, e, n] = bounds(z, x, y);
                let (_, fc) = app
                    .get_json(&format!(
                        "/api/v1/stations?bbox={w},{s},{e},{n}&limit=10000"
                    ))
                    .await;
                assert_eq!(fc["features"].as_array().unwrap().len() as u64, want);
            }
            total += sum;
        }
        assert_eq!(total, stations.len() as u64, "zoom {z}");
    }
}

#[tokio::test]
async fn empty_tiles_are_204_and_bad_addresses_400() {
    let app = spawn_empty_app().await;
    let res = get_tile(&app, 0, 0, 0).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.add_stations(&[new_station("E-1", NANCHANG)]).await;
    assert_eq!(get_tile(&app, 0, 0, 0).await.status(), 200);
    // The Atlantic, at a cluster zoom and at a points zoom.
    for (z, x, y) in [(5u8, 12u32, 12u32), (15, 10_000, 12_000)] {
        let res = get_tile(&app, z, x, y).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "{z}/{x}/{y}");
        assert!(res.bytes().await.unwrap().is_empty());
    }
    for path in [
        "/api/v1/tiles/23/0/0.mvt",
        "/api/v1/tiles/3/8/0.mvt",
        "/api/v1/tiles/3/0/8.mvt",
        "/api/v1/tiles/3/0/0",
        "/api/v1/tiles/3/0/0.png",
        "/api/v1/tiles/x/0/0.mvt",
        "/api/v1/tiles/3/-1/0.mvt",
        "/api/v1/tiles/3/1.5/0.mvt",
        "/api/v1/tiles/255/0/0.mvt",
        "/api/v1/tiles/3/99999999999999999999/0.mvt",
    ] {
        let (status, body) = app.get_json(path).await;
        common::assert_error(path, status, &body, StatusCode::BAD_REQUEST, "invalid_tile");
    }
}

async fn admin_token(app: &TestApp) -> String {
    let id = app
        .store
        .create_account(
            &Login::new("boss").unwrap(),
            &hash_password("a long test password").unwrap(),
            Role::Admin,
            &[],
        )
        .await
        .unwrap();
    let token = new_session_token();
    app.store
        .create_session(
            &token_hash(&token),
            id,
            chrono::Utc::now() + chrono::TimeDelta::hours(1),
        )
        .await
        .unwrap();
    token
}

async fn tile_etag(app: &TestApp, z: u8, (x, y): (u32, u32)) -> (String, Vec<u8>) {
    let res = get_tile(app, z, x, y).await;
    assert_eq!(res.status(), 200);
    let tag = res.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(res.headers()["cache-control"], "public, max-age=60");
    (tag, res.bytes().await.unwrap().to_vec())
}

async fn not_modified(app: &TestApp, z: u8, (x, y): (u32, u32), tag: &str) -> bool {
    let res = app
        .client
        .get(app.url(&format!("/api/v1/tiles/{z}/{x}/{y}.mvt")))
        .header("if-none-match", tag)
        .send()
        .await
        .unwrap();
    let status = res.status();
    if status == StatusCode::NOT_MODIFIED {
        let current = res.headers()["etag"].to_str().unwrap().to_string();
        assert!(tag.contains(&current), "{current} answered {tag}");
        assert!(res.bytes().await.unwrap().is_empty());
    }
    status == StatusCode::NOT_MODIFIED
}

#[tokio::test]
async fn etags_answer_304_until_a_station_is_edited_or_retired() {
    let app = spawn_empty_app().await;
    let ids = app
        .add_stations(&[
            new_station("T-1", NANCHANG),
            new_station("T-2", common::point_at(NANCHANG, 90.0, 20.0)),
        ])
        .await;
    let token = admin_token(&app).await;
    let hi = tile_of(16, NANCHANG);
    let lo = tile_of(5, NANCHANG);
    let (hi_tag, _) = tile_etag(&app, 16, hi).await;
    let (lo_tag, _) = tile_etag(&app, 5, lo).await;
    assert!(not_modified(&app, 16, hi, &hi_tag).await);
    assert!(not_modified(&app, 5, lo, &lo_tag).await);
    assert!(not_modified(&app, 5, lo, &format!("\"other\", W/{lo_tag}")).await);
    assert!(!not_modified(&app, 5, lo, "\"other\"").await);

    // Rename T-1: its pin's tile changes; the cluster tile does not (same count, position…).
    let res = app
        .client
        .patch(app.url(&format!("/api/v1/stations/{}", ids[0])))
        .bearer_auth(&token)
        .header("if-match", "\"1\"")
        .json(&json!({"name": "改名的驿站"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert!(!not_modified(&app, 16, hi, &hi_tag).await);
    let (hi_tag2, bytes) = tile_etag(&app, 16, hi).await;
    assert_ne!(hi_tag2, hi_tag);
    let names: Vec<Value> = decode(&bytes)["stations"]
        .iter()
        .map(|f| f.props["name"].clone())
        .collect();
    assert!(names.contains(&json!("改名的驿站")), "{names:?}");
    assert!(not_modified(&app, 5, lo, &lo_tag).await);

    // Retire T-2: both change, and the cluster counts one station.
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/stations/{}", ids[1])))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    assert!(!not_modified(&app, 16, hi, &hi_tag2).await);
    assert!(!not_modified(&app, 5, lo, &lo_tag).await);
    let (_, bytes) = tile_etag(&app, 5, lo).await;
    let counts: u64 = decode(&bytes)["clusters"]
        .iter()
        .map(|c| c.props["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counts, 1);
}

#[tokio::test]
async fn tilejson_describes_layers_zooms_bounds_and_demo_data() {
    let app = spawn_app().await;
    let (status, doc) = app.get_json("/api/v1/tiles.json").await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["tilejson"], "3.0.0");
    assert_eq!(doc["tiles"][0], "/api/v1/tiles/{z}/{x}/{y}.mvt");
    assert_eq!(doc["minzoom"], 0);
    assert_eq!(doc["maxzoom"], 14);
    let ids: Vec<&str> = doc["vector_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["clusters", "stations"]);
    assert!(doc["vector_layers"][1]["fields"]["open_now"].is_string());
    // The seed is demo data, and says so.
    assert!(
        doc["attribution"].as_str().unwrap().contains("Demo"),
        "{doc}"
    );
    // Bounds hold the seed (Jiangxi).
    let b: Vec<f64> = doc["bounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(
        b[0] > 113.0 && b[2] < 119.0 && b[1] > 24.0 && b[3] < 31.0,
        "{b:?}"
    );
    // The template works as given.
    let url = doc["tiles"][0]
        .as_str()
        .unwrap()
        .replace("{z}", "0")
        .replace("{x}", "0")
        .replace("{y}", "0");
    let layers = layers(&app, 0, 0, 0).await;
    assert_eq!(app.get(&url).await.status(), 200);
    assert_eq!(
        layers["clusters"]
            .iter()
            .map(|c| c.props["count"].as_u64().unwrap())
            .sum::<u64>(),
        app.count().await as u64
    );
    assert!(layers["clusters"]
        .iter()
        .all(|c| c.props["demo"] == json!(true)));
}

#[tokio::test]
async fn points_zoom_is_configurable() {
    let app = common::spawn_app_with(|a| {
        a.seed = false;
        a.tiles_points_zoom = 10;
    })
    .await;
    app.add_stations(&[new_station("Z-1", NANCHANG)]).await;
    let (x, y) = tile_of(10, NANCHANG);
    assert!(layers(&app, 10, x, y).await.contains_key("stations"));
    let (x, y) = tile_of(9, NANCHANG);
    assert!(layers(&app, 9, x, y).await.contains_key("clusters"));
    let (_, doc) = app.get_json("/api/v1/tiles.json").await;
    assert_eq!(doc["maxzoom"], 10);
}
