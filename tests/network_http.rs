//! Network minutes over HTTP: `serve --osm` on the Helsinki extract (ODbL, see
//! tests/data/osm/README.md), stations placed in Helsinki through the store and moved or
//! retired through the API. Every `by=time` answer and every `network_minutes` equals a plain
//! Dijkstra (petgraph) from the rider's snapped point over the same graph.

mod common;
#[path = "common/network_oracle.rs"]
mod network_oracle;

use common::*;
use network_oracle::oracle_from_rider;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use yizhan::domain::{AmenitySet, LonLat, Mode, Role, TravelModel};
use yizhan::network::cache;
use yizhan::network::graph::Graph;
use yizhan::network::snap::{Snap, SnapIndex};
use yizhan::network::{lonlat_of, osm};

/// The extract copied into a temporary directory, so its graph cache is written there.
fn extract_in(dir: &Path) -> PathBuf {
    let to = dir.join("helsinki.osm.pbf");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/osm/Helsinki.osm.pbf"),
        &to,
    )
    .expect("copying the Helsinki extract");
    to
}

async fn spawn_on_roads(extract: &Path) -> TestApp {
    let extract = extract.to_path_buf();
    spawn_app_with(move |a| {
        a.seed = false;
        a.osm = Some(extract);
    })
    .await
}

/// The graphs the server routes on, read independently here, and their snapping indexes.
struct Roads {
    walk: (Graph, SnapIndex),
    ebike: (Graph, SnapIndex),
}

impl Roads {
    fn read(extract: &Path) -> Self {
        let model = TravelModel::default();
        let nets = osm::read(extract, &model).expect("reading the extract");
        let walk_idx = SnapIndex::new(&nets.walk);
        let ebike_idx = SnapIndex::new(&nets.ebike);
        Self {
            walk: (nets.walk, walk_idx),
            ebike: (nets.ebike, ebike_idx),
        }
    }

    fn mode(&self, mode: Mode) -> (&Graph, &SnapIndex) {
        let (g, i) = match mode {
            Mode::Walk => &self.walk,
            Mode::Ebike => &self.ebike,
        };
        (g, i)
    }
}

/// A station as the test knows it.
#[derive(Clone)]
struct Placed {
    id: i64,
    code: String,
    at: LonLat,
    amenities: AmenitySet,
}

/// `(station id, deciseconds)` of every accepted station reachable from `rider`, nearest
/// first, ties by id: the oracle's answer. `None` when the rider is off the roads.
fn expected(
    roads: &Roads,
    mode: Mode,
    stations: &[Placed],
    rider: LonLat,
    accept: impl Fn(&Placed) -> bool,
) -> Option<Vec<(i64, u32)>> {
    let (g, idx) = roads.mode(mode);
    let rider = idx.snap(g, &rider)?;
    let mut sorted: Vec<&Placed> = stations.iter().collect();
    sorted.sort_by_key(|p| p.id);
    let snaps: Vec<Option<Snap>> = sorted
        .iter()
        .map(|p| accept(p).then(|| idx.snap(g, &p.at)).flatten())
        .collect();
    Some(
        oracle_from_rider(g, &snaps, &rider)
            .into_iter()
            .map(|h| (sorted[h.station as usize].id, h.time))
            .collect(),
    )
}

fn minutes_of(ds: u32) -> f64 {
    (f64::from(ds) / 60.0).round() / 10.0
}

/// A point `offset_m` off a random point of a random edge of `g`.
fn near_a_road(g: &Graph, rng: &mut impl Rng, offset_m: f64) -> LonLat {
    let e = rng.gen_range(0..g.edges() as u32);
    let pts: Vec<[i32; 2]> = g.edge_points(e).collect();
    let p = lonlat_of(pts[rng.gen_range(0..pts.len())]);
    let (lon, lat) = point_at((p.lon, p.lat), rng.gen_range(0.0..360.0), offset_m);
    LonLat::new(lon, lat).unwrap()
}

/// A point south of every road by more than a kilometre (in the Gulf of Finland).
fn offshore(roads: &Roads) -> LonLat {
    let (g, idx) = roads.mode(Mode::Walk);
    let min_lat = (0..g.edges() as u32)
        .flat_map(|e| g.edge_points(e).collect::<Vec<_>>())
        .map(|p| lonlat_of(p).lat)
        .fold(f64::INFINITY, f64::min);
    let lon = lonlat_of(g.edge_points(0).next().unwrap()).lon;
    let at = LonLat::new(lon, min_lat - 0.012).unwrap();
    assert!(idx.snap(g, &at).is_none() && roads.ebike.1.snap(&roads.ebike.0, &at).is_none());
    at
}

async fn place(app: &TestApp, stations: Vec<(String, LonLat, AmenitySet)>) -> Vec<Placed> {
    let news: Vec<_> = stations
        .iter()
        .map(|(code, at, am)| {
            let mut s = new_station(code, (at.lon, at.lat));
            s.amenities = *am;
            s
        })
        .collect();
    let ids = app.add_stations(&news).await;
    ids.into_iter()
        .zip(stations)
        .map(|(id, (code, at, amenities))| Placed {
            id,
            code,
            at,
            amenities,
        })
        .collect()
}

fn helsinki_stations(roads: &Roads, n: usize, seed: u64) -> Vec<(String, LonLat, AmenitySet)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let off = rng.gen_range(0.0..40.0);
            let at = near_a_road(&roads.walk.0, &mut rng, off);
            let am = if i % 2 == 0 {
                amenities(&["water"])
            } else {
                AmenitySet::EMPTY
            };
            (format!("HEL-{i:03}"), at, am)
        })
        .collect()
}

fn nearest_url(at: LonLat, mode: Mode, by: &str, limit: usize, extra: &str) -> String {
    format!(
        "/api/v1/stations/nearest?lat={}&lon={}&mode={}&by={by}&limit={limit}{extra}",
        at.lat,
        at.lon,
        mode.as_str()
    )
}

fn items(body: &Value) -> &Vec<Value> {
    body["items"].as_array().expect("items")
}

/// `by=time` answers `(id, network_minutes)` exactly as the oracle's first `limit`.
async fn assert_by_time(
    app: &TestApp,
    roads: &Roads,
    stations: &[Placed],
    rider: LonLat,
    mode: Mode,
    limit: usize,
    water_only: bool,
) {
    let extra = if water_only { "&amenities=water" } else { "" };
    let url = nearest_url(rider, mode, "time", limit, extra);
    let (status, body) = app.get_json(&url).await;
    assert_eq!(status, StatusCode::OK, "{url}: {body}");
    let water = amenities(&["water"]);
    let want = expected(roads, mode, stations, rider, |p| {
        !water_only || p.amenities.contains_all(water)
    })
    .expect("the rider is on the roads");
    assert_eq!(body["by"], "time", "{url}: {body}");
    let got: Vec<(i64, f64)> = items(&body)
        .iter()
        .map(|i| {
            assert_eq!(i["minutes_source"], "network", "{url}: {i}");
            (
                i["id"].as_i64().unwrap(),
                i["network_minutes"].as_f64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(i64, f64)> = want
        .into_iter()
        .take(limit)
        .map(|(id, ds)| (id, minutes_of(ds)))
        .collect();
    assert_eq!(got, want, "{url}");
}

/// Every `by=distance` item carries the oracle's network minutes (or says straight line).
async fn assert_by_distance(
    app: &TestApp,
    roads: &Roads,
    stations: &[Placed],
    rider: LonLat,
    mode: Mode,
) {
    let url = nearest_url(rider, mode, "distance", 8, "");
    let (status, body) = app.get_json(&url).await;
    assert_eq!(status, StatusCode::OK, "{url}: {body}");
    assert_eq!(body["by"], "distance");
    let want = expected(roads, mode, stations, rider, |_| true).expect("rider on the roads");
    let (g, idx) = roads.mode(mode);
    let mut last = 0.0;
    for i in items(&body) {
        let id = i["id"].as_i64().unwrap();
        let d = i["distance_m"].as_f64().unwrap();
        assert!(d >= last, "sorted by distance: {body}");
        last = d;
        let p = stations.iter().find(|p| p.id == id).unwrap();
        if idx.snap(g, &p.at).is_none() {
            assert_eq!(i["minutes_source"], "straight_line", "{i}");
            assert!(i.get("network_minutes").is_none(), "{i}");
            continue;
        }
        assert_eq!(i["minutes_source"], "network", "{i}");
        let ds = want.iter().find(|w| w.0 == id).map(|w| w.1);
        assert_eq!(
            i.get("network_minutes").and_then(Value::as_f64),
            ds.map(minutes_of),
            "{url}: {i}"
        );
    }
}

/// An admin's session token.
async fn admin_token(app: &TestApp) -> String {
    token_for(app, "boss", Role::Admin, &[]).await
}

#[tokio::test]
async fn network_minutes_and_by_time_equal_dijkstra_and_follow_edits() {
    let dir = tempfile::tempdir().unwrap();
    let extract = extract_in(dir.path());
    let app = spawn_on_roads(&extract).await;
    let roads = Roads::read(&extract);
    let sea = offshore(&roads);
    let mut todo = helsinki_stations(&roads, 24, 11);
    // One station off the roads: straight line only, never in a by=time answer.
    todo.push(("HEL-SEA".to_string(), sea, amenities(&["water"])));
    let mut stations = place(&app, todo).await;

    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    let riders: Vec<LonLat> = (0..5)
        .map(|_| near_a_road(&roads.walk.0, &mut rng, 60.0))
        .collect();
    for &rider in &riders {
        for mode in Mode::ALL {
            // k ≤ 3 may come from the labels; k > 3 and filters need the search.
            assert_by_time(&app, &roads, &stations, rider, mode, 3, false).await;
            assert_by_time(&app, &roads, &stations, rider, mode, 8, false).await;
            assert_by_time(&app, &roads, &stations, rider, mode, 3, true).await;
            assert_by_distance(&app, &roads, &stations, rider, mode).await;
        }
    }

    // max_minutes under by=time caps network minutes.
    let rider = riders[0];
    let want = expected(&roads, Mode::Walk, &stations, rider, |_| true).unwrap();
    let cap_min = f64::from(want[2].1) / 600.0 + 0.05;
    let url = nearest_url(
        rider,
        Mode::Walk,
        "time",
        10,
        &format!("&max_minutes={cap_min}"),
    );
    let (_, body) = app.get_json(&url).await;
    let within: Vec<i64> = want
        .iter()
        .filter(|w| f64::from(w.1) <= cap_min * 600.0)
        .map(|w| w.0)
        .take(10)
        .collect();
    let got: Vec<i64> = items(&body)
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, within, "{url}: {body}");
    // Under by=distance max_minutes stays a straight-line cap, and road minutes beyond it
    // are still reported.
    let (_, all) = app
        .get_json(&nearest_url(rider, Mode::Walk, "distance", 10, ""))
        .await;
    let tight = items(&all)[1]["minutes"].as_f64().unwrap() + 0.05;
    let url = nearest_url(
        rider,
        Mode::Walk,
        "distance",
        10,
        &format!("&max_minutes={tight}"),
    );
    let (_, body) = app.get_json(&url).await;
    for i in items(&body) {
        assert!(i["minutes"].as_f64().unwrap() <= tight, "{url}: {i}");
        let id = i["id"].as_i64().unwrap();
        let ds = want.iter().find(|w| w.0 == id).map(|w| minutes_of(w.1));
        assert_eq!(
            i.get("network_minutes").and_then(Value::as_f64),
            ds,
            "{url}: {i}"
        );
    }

    // Move the station nearest by time far away: the labels follow the edit.
    let admin = admin_token(&app).await;
    let first = want[0].0;
    let far = near_a_road(&roads.walk.0, &mut rng, 10.0);
    let res = app
        .client
        .patch(app.url(&format!("/api/v1/stations/{first}")))
        .bearer_auth(&admin)
        .header("if-match", "\"1\"")
        .json(&json!({"lat": far.lat, "lon": far.lon}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    stations.iter_mut().find(|p| p.id == first).unwrap().at = far;
    for mode in Mode::ALL {
        assert_by_time(&app, &roads, &stations, rider, mode, 3, false).await;
        assert_by_time(&app, &roads, &stations, rider, mode, 8, true).await;
        assert_by_distance(&app, &roads, &stations, rider, mode).await;
    }

    // Retire the nearest by time now: it disappears, the rest equals the oracle.
    let now_first = expected(&roads, Mode::Ebike, &stations, rider, |_| true).unwrap()[0].0;
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/stations/{now_first}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    stations.retain(|p| p.id != now_first);
    for mode in Mode::ALL {
        let (_, body) = app.get_json(&nearest_url(rider, mode, "time", 5, "")).await;
        assert!(
            items(&body).iter().all(|i| i["id"] != now_first),
            "retired station still answered: {body}"
        );
        assert_by_time(&app, &roads, &stations, rider, mode, 3, false).await;
        assert_by_time(&app, &roads, &stations, rider, mode, 5, false).await;
    }

    // A new station right at the rider becomes the nearest by time.
    let added = place(
        &app,
        vec![("HEL-NEW".to_string(), rider, AmenitySet::EMPTY)],
    )
    .await;
    stations.extend(added.clone());
    for mode in Mode::ALL {
        assert_by_time(&app, &roads, &stations, rider, mode, 3, false).await;
    }
    let (_, body) = app
        .get_json(&nearest_url(rider, Mode::Walk, "time", 1, "&include=code"))
        .await;
    assert_eq!(items(&body)[0]["code"], added[0].code);
}

#[tokio::test]
async fn a_rider_offshore_is_answered_by_straight_line() {
    let dir = tempfile::tempdir().unwrap();
    let extract = extract_in(dir.path());
    let app = spawn_on_roads(&extract).await;
    let roads = Roads::read(&extract);
    place(&app, helsinki_stations(&roads, 6, 21)).await;
    let sea = offshore(&roads);
    for by in ["time", "distance"] {
        let url = nearest_url(sea, Mode::Walk, by, 5, "");
        let (status, body) = app.get_json(&url).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        assert_eq!(body["by"], "distance", "{url}: {body}");
        assert_eq!(items(&body).len(), 5);
        for i in items(&body) {
            assert_eq!(i["minutes_source"], "straight_line", "{i}");
            assert!(i.get("network_minutes").is_none(), "{i}");
            assert!(i["minutes"].as_f64().unwrap() > 0.0);
        }
    }
}

#[tokio::test]
async fn without_roads_by_time_is_refused_and_replies_are_unchanged() {
    let app = spawn_empty_app().await;
    app.add_stations(&[new_station("JX-A", NANCHANG)]).await;
    let (status, body) = app
        .get_json("/api/v1/stations/nearest?lat=28.68&lon=115.89&by=time")
        .await;
    assert_error(
        "by=time",
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "network_unavailable",
    );
    let (status, body) = app
        .get_json("/api/v1/stations/nearest?lat=28.68&lon=115.89&by=sideways")
        .await;
    assert_error(
        "by=sideways",
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    let (status, body) = app
        .get_json("/api/v1/stations/nearest?lat=28.68&lon=115.89")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("by").is_none(), "{body}");
    let item = &items(&body)[0];
    assert!(item.get("network_minutes").is_none() && item.get("minutes_source").is_none());
    let (_, config) = app.get_json("/api/v1/client-config").await;
    assert!(config["travel"]["network"].is_null(), "{config}");
}

#[tokio::test]
async fn a_second_start_loads_the_graph_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let extract = extract_in(dir.path());
    let first = spawn_on_roads(&extract).await;
    let (_, config) = first.get_json("/api/v1/client-config").await;
    assert_eq!(config["travel"]["network"]["origin"], "built", "{config}");
    assert_eq!(
        config["travel"]["network"]["modes"],
        json!(["walk", "ebike"])
    );
    assert!(cache::cache_path(&extract).exists());
    let second = spawn_on_roads(&extract).await;
    let (_, config) = second.get_json("/api/v1/client-config").await;
    assert_eq!(config["travel"]["network"]["origin"], "cache", "{config}");
}

#[tokio::test]
async fn a_station_another_process_wrote_is_labelled_once_the_index_hears_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let extract = extract_in(dir.path());
    let app = spawn_app_with({
        let extract = extract.clone();
        move |a| {
            a.seed = false;
            a.osm = Some(extract);
            a.resync_seconds = 1;
        }
    })
    .await;
    let roads = Roads::read(&extract);
    let mut stations = place(&app, helsinki_stations(&roads, 8, 31)).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(32);
    let rider = near_a_road(&roads.walk.0, &mut rng, 30.0);
    // Written to the store only, as another replica or `yizhan import` would: the change feed
    // (PostGIS) or the periodic resync brings it into the index, and the labels follow.
    let ids = app
        .store
        .insert_stations(&[new_station("HEL-ELSEWHERE", (rider.lon, rider.lat))])
        .await
        .unwrap();
    stations.push(Placed {
        id: ids[0],
        code: "HEL-ELSEWHERE".to_string(),
        at: rider,
        amenities: AmenitySet::EMPTY,
    });
    let url = nearest_url(rider, Mode::Walk, "time", 1, "");
    let started = std::time::Instant::now();
    loop {
        let (_, body) = app.get_json(&url).await;
        if items(&body)[0]["id"] == ids[0] {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the labels never heard of the new station: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for mode in Mode::ALL {
        assert_by_time(&app, &roads, &stations, rider, mode, 3, false).await;
    }
}
