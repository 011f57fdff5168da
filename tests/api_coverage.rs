//! The coverage API over HTTP, on the store `YIZHAN_TEST_STORE` names: figures per county
//! equal brute force over the stored stations, suggestions equal an exhaustive search, what-if
//! agrees with the suggestions, results are cached per station data version, bad input is 4xx.

mod common;

use common::{assert_error, json_of, new_station, spawn_app, spawn_empty_app, TestApp};
use h3o::{CellIndex, LatLng};
use reqwest::StatusCode;
use serde_json::{json, Value};
use yizhan::domain::{LonLat, Mode, TravelModel};

fn centre(cell: &str) -> LonLat {
    let c: CellIndex = cell.parse().expect("an H3 cell");
    let ll = LatLng::from(c);
    LonLat::new(ll.lng(), ll.lat()).expect("valid")
}

struct Cell {
    id: String,
    at: LonLat,
    minutes: Option<f64>,
    covered: bool,
    area: f64,
}

async fn cells(app: &TestApp, query: &str) -> Vec<Cell> {
    let (status, body) = app
        .get_json(&format!("/api/v1/coverage?{query}&format=cells"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|c| {
            let id = c["cell"].as_str().expect("cell").to_string();
            Cell {
                at: centre(&id),
                id,
                minutes: c["minutes"].as_f64(),
                covered: c["covered"].as_bool().expect("covered"),
                area: c["area_km2"].as_f64().expect("area"),
            }
        })
        .collect()
}

#[tokio::test]
async fn county_coverage_equals_brute_force_over_the_stored_stations() {
    let app = spawn_app().await;
    let stations: Vec<LonLat> = app.index.load().all().iter().map(|s| s.location).collect();
    assert!(stations.len() > 4_000);
    let model = TravelModel::default();
    for (mode, minutes) in [("walk", 15.0), ("ebike", 5.0)] {
        let m: Mode = mode.parse().unwrap();
        let got = cells(
            &app,
            &format!("region=360102&mode={mode}&minutes={minutes}"),
        )
        .await;
        assert!(got.len() > 100, "{} cells", got.len());
        let mut covered = 0;
        for c in &got {
            let d = stations
                .iter()
                .map(|s| c.at.geodesic_distance(s))
                .fold(f64::INFINITY, f64::min);
            let want = model.minutes(m, d);
            let have = c.minutes.expect("every cell has a station somewhere");
            assert!((have - want).abs() <= 0.0051, "{}: {have} vs {want}", c.id);
            if (want - minutes).abs() > 1e-6 {
                assert_eq!(c.covered, want <= minutes, "{} at {want} min", c.id);
            }
            covered += usize::from(c.covered);
        }
        assert!(
            covered > 0 && covered < got.len(),
            "{mode}: {covered} of {}",
            got.len()
        );
    }
}

#[tokio::test]
async fn a_city_reply_has_county_rows_worst_first_totals_and_dissolved_gaps() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/api/v1/coverage?region=360100&res=8").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["region"]["name"], "南昌市");
    assert_eq!(body["region"]["level"], "city");
    assert_eq!(body["res"], 8);
    assert_eq!(body["travel"], "straight_line");
    assert_eq!(body["cached"], false);
    assert!(body["attribution"].as_str().unwrap().contains("高德"));
    let counties = body["counties"].as_array().unwrap();
    assert!(counties.len() >= 5, "{}", counties.len());
    assert!(counties
        .iter()
        .all(|c| c["adcode"].as_str().unwrap().starts_with("3601")));
    let shares: Vec<f64> = counties
        .iter()
        .map(|c| c["covered_share"].as_f64().unwrap())
        .collect();
    assert!(
        shares.windows(2).all(|w| w[0] <= w[1]),
        "worst first: {shares:?}"
    );
    let total = &body["total"];
    let sum = |k: &str| counties.iter().map(|c| c[k].as_f64().unwrap()).sum::<f64>();
    assert_eq!(sum("cells"), total["cells"].as_f64().unwrap());
    assert!((sum("uncovered_km2") - total["uncovered_km2"].as_f64().unwrap()).abs() < 0.05);
    assert!(total["stations"].as_u64().unwrap() > 100);
    assert!(body.get("demand").is_none() || body["demand"].is_null());
    assert!(
        total.get("demand").is_none(),
        "no demand figures for the public"
    );
    // Gaps: one feature per county with uncovered cells, MultiPolygons with holes (stations
    // punch holes in a county's gap), far fewer rings than uncovered cells.
    let features = body["gaps"]["features"].as_array().unwrap();
    assert!(!features.is_empty());
    let mut rings = 0;
    for f in features {
        assert_eq!(f["geometry"]["type"], "MultiPolygon");
        for poly in f["geometry"]["coordinates"].as_array().unwrap() {
            rings += poly.as_array().unwrap().len();
        }
    }
    let uncovered = total["cells"].as_u64().unwrap() - total["covered_cells"].as_u64().unwrap();
    assert!(rings > features.len(), "holes expected");
    assert!(
        (rings as u64) * 20 < uncovered,
        "{rings} rings for {uncovered} cells"
    );

    // Cached until the stations change; a new station in a gap raises coverage.
    let (_, again) = app.get_json("/api/v1/coverage?region=360100&res=8").await;
    assert_eq!(again["cached"], true);
    assert_eq!(again["data_version"], body["data_version"]);
    let worst = &counties[0];
    let (_, cells_body) = app
        .get_json("/api/v1/coverage?region=360100&res=8&format=cells")
        .await;
    let gap_cell = cells_body["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["covered"] == false && c["county"] == worst["adcode"])
        .expect("an uncovered cell in the worst county");
    let at = centre(gap_cell["cell"].as_str().unwrap());
    app.add_stations(&[new_station("JX-GAP-1", (at.lon, at.lat))])
        .await;
    let (_, after) = app.get_json("/api/v1/coverage?region=360100&res=8").await;
    assert_eq!(after["cached"], false);
    assert_ne!(after["data_version"], body["data_version"]);
    assert!(
        after["total"]["covered_km2"].as_f64().unwrap() > total["covered_km2"].as_f64().unwrap()
    );
    assert_eq!(
        after["total"]["stations"].as_u64().unwrap(),
        total["stations"].as_u64().unwrap() + 1
    );
}

#[tokio::test]
async fn the_county_table_comes_as_csv() {
    let app = spawn_app().await;
    let res = app
        .get("/api/v1/coverage?region=360100&format=csv&res=8")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = res.text().await.unwrap();
    let mut lines = text.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("adcode,name,cells,covered_cells,area_km2"));
    let rows: Vec<&str> = lines.collect();
    assert!(rows.len() >= 6);
    assert!(rows.last().unwrap().starts_with("total,"));
}

/// Cells a site at each cell's centre would newly cover, by brute force over all pairs.
fn cover_sets(cells: &[Cell], minutes: f64) -> Vec<Vec<usize>> {
    let model = TravelModel::default();
    (0..cells.len())
        .map(|c| {
            (0..cells.len())
                .filter(|&u| {
                    !cells[u].covered
                        && model.minutes(Mode::Walk, cells[c].at.geodesic_distance(&cells[u].at))
                            <= minutes
                })
                .collect()
        })
        .collect()
}

fn union_area(sets: &[&Vec<usize>], cells: &[Cell]) -> f64 {
    let mut seen = std::collections::BTreeSet::new();
    sets.iter()
        .flat_map(|s| s.iter())
        .filter(|&&u| seen.insert(u))
        .map(|&u| cells[u].area)
        .sum()
}

#[tokio::test]
async fn suggestions_match_an_exhaustive_search_and_what_if_confirms_them() {
    let app = spawn_empty_app().await;
    let (w, s) = (116.30, 28.40);
    app.add_stations(&[
        new_station("JX-S-1", (w + 0.002, s + 0.002)),
        new_station("JX-S-2", (w + 0.004, s + 0.02)),
    ])
    .await;
    let bbox = format!("{w},{s},{},{}", w + 0.031, s + 0.027);
    let cells = cells(&app, &format!("bbox={bbox}")).await;
    let sets = cover_sets(&cells, 15.0);
    let n = cells.len();
    assert!(n > 50);
    let best1 = (0..n)
        .map(|c| union_area(&[&sets[c]], &cells))
        .fold(0.0, f64::max);
    let mut best2 = 0.0f64;
    let mut best3 = 0.0f64;
    for a in 0..n {
        for b in a + 1..n {
            best2 = best2.max(union_area(&[&sets[a], &sets[b]], &cells));
            for c in b + 1..n {
                best3 = best3.max(union_area(&[&sets[a], &sets[b], &sets[c]], &cells));
            }
        }
    }
    let (status, body) = app
        .get_json(&format!("/api/v1/coverage/suggestions?bbox={bbox}&k=3"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let picks = body["suggestions"].as_array().unwrap();
    assert_eq!(picks.len(), 3);
    assert_eq!(body["weight"], "area");
    let before = body["total_before"]["covered_km2"].as_f64().unwrap();
    let gain = |k: usize| picks[k - 1]["total_covered_km2"].as_f64().unwrap() - before;
    assert!(
        (gain(1) - best1).abs() < 2e-3,
        "k=1: {} vs {best1}",
        gain(1)
    );
    for (k, opt) in [(2usize, best2), (3, best3)] {
        let bound = 1.0 - (1.0 - 1.0 / k as f64).powi(k as i32);
        assert!(
            gain(k) <= opt + 2e-3 && gain(k) >= bound * opt - 2e-3,
            "k={k}: {} vs {opt}",
            gain(k)
        );
    }
    // What-if with the three sites covers what the suggestions said, and says what it was before.
    let stations: Vec<Value> = picks
        .iter()
        .map(|p| json!({"lat": p["lat"], "lon": p["lon"]}))
        .collect();
    let res = app
        .client
        .post(app.url("/api/v1/coverage/what-if"))
        .json(&json!({"bbox": [w, s, w + 0.031, s + 0.027], "stations": stations}))
        .send()
        .await
        .unwrap();
    let (status, what_if) = json_of(res, "what-if").await;
    assert_eq!(status, StatusCode::OK, "{what_if}");
    assert_eq!(what_if["hypothetical"], 3);
    assert!((what_if["before"]["covered_km2"].as_f64().unwrap() - before).abs() < 1e-9);
    let after = what_if["total"]["covered_km2"].as_f64().unwrap();
    assert!((after - picks[2]["total_covered_km2"].as_f64().unwrap()).abs() < 2e-3);
    // Nothing was saved.
    assert_eq!(app.count().await, 2);
}

#[tokio::test]
async fn bad_coverage_questions_get_clear_4xx() {
    let app = spawn_app().await;
    for (q, status, code) in [
        ("region=110000", StatusCode::NOT_FOUND, "not_found"),
        ("region=36010", StatusCode::BAD_REQUEST, "invalid_adcode"),
        ("", StatusCode::BAD_REQUEST, "invalid_query"),
        (
            "region=360100&bbox=115,28,116,29",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "bbox=116,28,115,29",
            StatusCode::BAD_REQUEST,
            "invalid_bbox",
        ),
        (
            "region=360100&res=6",
            StatusCode::BAD_REQUEST,
            "invalid_res",
        ),
        (
            "region=360100&res=11",
            StatusCode::BAD_REQUEST,
            "invalid_res",
        ),
        (
            "region=360100&minutes=0",
            StatusCode::BAD_REQUEST,
            "invalid_minutes",
        ),
        (
            "region=360100&minutes=NaN",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "region=360100&mode=car",
            StatusCode::BAD_REQUEST,
            "invalid_mode",
        ),
        (
            "region=360100&open=sometimes",
            StatusCode::BAD_REQUEST,
            "invalid_open",
        ),
        (
            "region=360100&format=xml",
            StatusCode::BAD_REQUEST,
            "invalid_format",
        ),
        (
            "region=360100&k=3",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "region=360100&demand=import",
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "region=360100&colour=red",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
    ] {
        let (got, body) = app.get_json(&format!("/api/v1/coverage?{q}")).await;
        assert_error(q, got, &body, status, code);
    }
    for (q, status, code) in [
        ("region=360102&k=0", StatusCode::BAD_REQUEST, "invalid_k"),
        ("region=360102&k=51", StatusCode::BAD_REQUEST, "invalid_k"),
        (
            "region=360102&weight=people",
            StatusCode::BAD_REQUEST,
            "invalid_weight",
        ),
        (
            "region=360102&weight=demand",
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
    ] {
        let (got, body) = app
            .get_json(&format!("/api/v1/coverage/suggestions?{q}"))
            .await;
        assert_error(q, got, &body, status, code);
    }
    for (body, code) in [
        (
            json!({"region": "360102", "stations": []}),
            "invalid_stations",
        ),
        (
            json!({"region": "360102", "stations": [{"lat": 95.0, "lon": 115.0}]}),
            "invalid_lat",
        ),
        (
            json!({"region": "360102", "stations": [{"lat": 28.6}]}),
            "invalid_body",
        ),
    ] {
        let res = app
            .client
            .post(app.url("/api/v1/coverage/what-if"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let (got, reply) = json_of(res, "what-if").await;
        assert!(got.is_client_error(), "{body}: {got} {reply}");
        assert_error(&body.to_string(), got, &reply, got, code);
    }
}

#[tokio::test]
async fn regions_are_listed_and_served_with_outlines() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/api/v1/regions").await;
    assert_eq!(status, StatusCode::OK);
    let regions = body["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 112);
    assert_eq!(regions[0]["adcode"], "360000");
    assert_eq!(regions[0]["level"], "province");
    let res = app.get("/api/v1/regions/360100").await;
    assert_eq!(res.status(), StatusCode::OK);
    let (_, f) = json_of(res, "region").await;
    assert_eq!(f["properties"]["name"], "南昌市");
    assert_eq!(f["geometry"]["type"], "MultiPolygon");
    let (status, body) = app.get_json("/api/v1/regions/110000").await;
    assert_error(
        "unknown region",
        status,
        &body,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}
