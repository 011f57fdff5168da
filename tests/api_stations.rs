//! `GET /api/v1/stations?bbox=…` (GeoJSON) and `GET /api/v1/stations/{id}` (ETag) over a real socket.

mod common;

use common::*;
use reqwest::header;
use serde_json::Value;
use yizhan::domain::NewStation;

fn feature_codes(fc: &Value) -> Vec<String> {
    let mut codes: Vec<String> = fc["features"]
        .as_array()
        .unwrap_or_else(|| panic!("no features in {fc}"))
        .iter()
        .map(|f| f["properties"]["code"].as_str().unwrap().to_string())
        .collect();
    codes.sort();
    codes
}

/// Three stations inside the box 115.8,28.6,116.0,28.8 and two outside it.
async fn box_fixture(app: &TestApp) -> Vec<i64> {
    app.add_stations(&[
        NewStation {
            amenities: amenities(&["water", "toilet"]),
            ..new_station("IN-1", (115.85, 28.65))
        },
        NewStation {
            amenities: amenities(&["water"]),
            ..new_station("IN-2", (115.95, 28.75))
        },
        NewStation {
            amenities: amenities(&["toilet", "wifi"]),
            ..new_station("IN-3", (115.90, 28.70))
        },
        new_station("OUT-W", (115.79, 28.70)),
        new_station("OUT-N", (115.90, 28.81)),
    ])
    .await
}

#[tokio::test]
async fn bbox_returns_a_geojson_feature_collection_of_the_stations_inside() {
    let app = spawn_empty_app().await;
    box_fixture(&app).await;
    let (status, fc) = app
        .get_json("/api/v1/stations?bbox=115.8,28.6,116.0,28.8")
        .await;
    assert_eq!(status, 200, "{fc}");
    assert_eq!(fc["type"], "FeatureCollection");
    assert_eq!(fc["truncated"], false);
    assert_eq!(feature_codes(&fc), ["IN-1", "IN-2", "IN-3"]);
    for f in fc["features"].as_array().unwrap() {
        assert_eq!(f["type"], "Feature");
        assert_eq!(f["geometry"]["type"], "Point");
        let c = f["geometry"]["coordinates"].as_array().unwrap();
        let (lon, lat) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        assert!(
            (115.8..=116.0).contains(&lon) && (28.6..=28.8).contains(&lat),
            "{f}"
        );
        assert!(f["id"].is_i64(), "{f}");
        assert_eq!(f["properties"]["id"], f["id"]);
        assert!(f["properties"]["amenities"].is_array(), "{f}");
        assert!(f["properties"]["version"].is_i64(), "{f}");
    }
    let in1 = fc["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["properties"]["code"] == "IN-1")
        .unwrap();
    assert_eq!(
        in1["geometry"]["coordinates"],
        serde_json::json!([115.85, 28.65])
    );

    // A box with nothing inside is an empty collection, not an error.
    let (status, empty) = app.get_json("/api/v1/stations?bbox=100,20,101,21").await;
    assert_eq!(status, 200);
    assert_eq!(empty["features"], serde_json::json!([]));
}

#[tokio::test]
async fn bbox_filters_by_all_amenities() {
    let app = spawn_empty_app().await;
    box_fixture(&app).await;
    let (_, water) = app
        .get_json("/api/v1/stations?bbox=115.8,28.6,116.0,28.8&amenities=water")
        .await;
    assert_eq!(feature_codes(&water), ["IN-1", "IN-2"]);
    let (_, both) = app
        .get_json("/api/v1/stations?bbox=115.8,28.6,116.0,28.8&amenities=water,toilet")
        .await;
    assert_eq!(feature_codes(&both), ["IN-1"]);
}

#[tokio::test]
async fn bbox_says_truncated_when_the_limit_cuts_it_short() {
    let app = spawn_empty_app().await;
    box_fixture(&app).await;
    let (status, cut) = app
        .get_json("/api/v1/stations?bbox=115.8,28.6,116.0,28.8&limit=2")
        .await;
    assert_eq!(status, 200, "{cut}");
    assert_eq!(cut["features"].as_array().unwrap().len(), 2);
    assert_eq!(cut["truncated"], true);
    let (_, exact) = app
        .get_json("/api/v1/stations?bbox=115.8,28.6,116.0,28.8&limit=3")
        .await;
    assert_eq!(exact["features"].as_array().unwrap().len(), 3);
    assert_eq!(exact["truncated"], false);
}

#[tokio::test]
async fn bbox_in_gcj02_converts_the_box_and_the_output() {
    let app = spawn_empty_app().await;
    let wgs = (115.90, 28.70);
    app.add_stations(&[new_station("GCJ-BOX", wgs)]).await;
    let (glon, glat) = coordtransform::wgs84_to_gcj02(wgs.0, wgs.1);
    // A tight GCJ-02 box around the GCJ-02 position (about ±100 m): the WGS-84 point, some
    // 500 m away in GCJ-02 terms, is found only if the box is converted.
    let d = 0.001;
    let url = format!(
        "/api/v1/stations?bbox={},{},{},{}&crs=gcj02",
        glon - d,
        glat - d,
        glon + d,
        glat + d
    );
    let (status, fc) = app.get_json(&url).await;
    assert_eq!(status, 200, "{fc}");
    assert_eq!(feature_codes(&fc), ["GCJ-BOX"]);
    let c = &fc["features"][0]["geometry"]["coordinates"];
    assert!((c[0].as_f64().unwrap() - glon).abs() < 2e-7, "{c}");
    assert!((c[1].as_f64().unwrap() - glat).abs() < 2e-7, "{c}");

    // The same numbers read as WGS-84 miss the station.
    let (_, wgs_box) = app.get_json(&url.replace("&crs=gcj02", "")).await;
    assert_eq!(feature_codes(&wgs_box), Vec::<String>::new());
}

#[tokio::test]
async fn station_by_id_has_an_etag_and_honours_if_none_match() {
    let app = spawn_empty_app().await;
    let ids = box_fixture(&app).await;
    let id = ids[0];

    let res = app.get(&format!("/api/v1/stations/{id}")).await;
    assert_eq!(res.status(), 200);
    let etag = res
        .headers()
        .get(header::ETAG)
        .expect("an ETag header")
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(etag, "\"1\"", "a new station is at version 1");
    let (_, feature) = json_of(res, "GET station").await;
    assert_eq!(feature["type"], "Feature");
    assert_eq!(feature["id"], id);
    assert_eq!(feature["properties"]["code"], "IN-1");
    assert_eq!(feature["properties"]["version"], 1);
    assert_eq!(
        feature["geometry"]["coordinates"],
        serde_json::json!([115.85, 28.65])
    );

    let not_modified = app
        .client
        .get(app.url(&format!("/api/v1/stations/{id}")))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);
    assert_eq!(not_modified.headers().get(header::ETAG).unwrap(), &etag);
    assert!(not_modified.bytes().await.unwrap().is_empty());

    // Weak comparison, lists and `*` (RFC 9110 §13.1.2) also mean "you have it".
    for inm in ["W/\"1\"", "\"7\", \"1\"", "*"] {
        let res = app
            .client
            .get(app.url(&format!("/api/v1/stations/{id}")))
            .header(header::IF_NONE_MATCH, inm)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 304, "If-None-Match: {inm}");
    }

    for stale_tag in ["\"999\"", "\"11\"", "W/\"2\", \"3\""] {
        let stale = app
            .client
            .get(app.url(&format!("/api/v1/stations/{id}")))
            .header(header::IF_NONE_MATCH, stale_tag)
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), 200, "If-None-Match: {stale_tag}");
        assert_eq!(stale.headers().get(header::ETAG).unwrap(), &etag);
    }
}

#[tokio::test]
async fn station_by_id_in_gcj02_shifts_the_point() {
    let app = spawn_empty_app().await;
    let ids = box_fixture(&app).await;
    let (_, f) = app
        .get_json(&format!("/api/v1/stations/{}?crs=gcj02", ids[0]))
        .await;
    let (glon, glat) = coordtransform::wgs84_to_gcj02(115.85, 28.65);
    let c = &f["geometry"]["coordinates"];
    assert!((c[0].as_f64().unwrap() - glon).abs() < 2e-7, "{f}");
    assert!((c[1].as_f64().unwrap() - glat).abs() < 2e-7, "{f}");
}

#[tokio::test]
async fn unknown_station_id_gets_404() {
    let app = spawn_empty_app().await;
    let ids = box_fixture(&app).await;
    let missing = ids.iter().max().unwrap() + 1_000;
    let (status, body) = app.get_json(&format!("/api/v1/stations/{missing}")).await;
    assert_error(
        "missing id",
        status,
        &body,
        reqwest::StatusCode::NOT_FOUND,
        "not_found",
    );
    let (status, body) = app.get_json("/api/v1/stations/-1").await;
    assert_error(
        "negative id",
        status,
        &body,
        reqwest::StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn non_integer_station_id_gets_400() {
    let app = spawn_empty_app().await;
    for id in ["abc", "1.5", "99999999999999999999999", "%20"] {
        let (status, body) = app.get_json(&format!("/api/v1/stations/{id}")).await;
        assert_error(
            id,
            status,
            &body,
            reqwest::StatusCode::BAD_REQUEST,
            "invalid_id",
        );
    }
}
