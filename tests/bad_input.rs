//! Every parameter is validated at the edge: each mistake is a 400 with
//! `{"error":{"code","message"}}` and a stable code, and nothing reaches the store.

mod common;

use common::*;
use reqwest::StatusCode;

const NEAREST: &str = "/api/v1/stations/nearest";
const LIST: &str = "/api/v1/stations";

/// (what, path and query, expected code)
fn cases() -> Vec<(&'static str, String, &'static str)> {
    let near = |q: &str| format!("{NEAREST}?{q}");
    let list = |q: &str| format!("{LIST}?{q}");
    vec![
        // Coordinates.
        ("lat above 90", near("lat=90.5&lon=115.89"), "invalid_lat"),
        ("lat below -90", near("lat=-91&lon=115.89"), "invalid_lat"),
        ("lon above 180", near("lat=28.68&lon=180.01"), "invalid_lon"),
        ("lon below -180", near("lat=28.68&lon=-200"), "invalid_lon"),
        ("lat NaN", near("lat=NaN&lon=115.89"), "invalid_lat"),
        ("lon NaN", near("lat=28.68&lon=nan"), "invalid_lon"),
        ("lat inf", near("lat=inf&lon=115.89"), "invalid_lat"),
        (
            "lon -infinity",
            near("lat=28.68&lon=-infinity"),
            "invalid_lon",
        ),
        ("lat abc", near("lat=abc&lon=115.89"), "invalid_lat"),
        ("lon empty", near("lat=28.68&lon="), "invalid_lon"),
        (
            "lat with a comma",
            near("lat=28,68&lon=115.89"),
            "invalid_lat",
        ),
        ("only lat", near("lat=28.68"), "invalid_query"),
        ("only lon", near("lon=115.89"), "invalid_query"),
        (
            "lat twice",
            near("lat=28.68&lat=28.7&lon=115.89"),
            "invalid_query",
        ),
        // Limit.
        (
            "limit 0",
            near("lat=28.68&lon=115.89&limit=0"),
            "invalid_limit",
        ),
        (
            "limit 101",
            near("lat=28.68&lon=115.89&limit=101"),
            "invalid_limit",
        ),
        (
            "limit -1",
            near("lat=28.68&lon=115.89&limit=-1"),
            "invalid_limit",
        ),
        (
            "limit abc",
            near("lat=28.68&lon=115.89&limit=abc"),
            "invalid_limit",
        ),
        (
            "limit 2.5",
            near("lat=28.68&lon=115.89&limit=2.5"),
            "invalid_limit",
        ),
        (
            "limit huge",
            near("lat=28.68&lon=115.89&limit=99999999999999999999999"),
            "invalid_limit",
        ),
        // Filters.
        (
            "unknown amenity",
            near("lat=28.68&lon=115.89&amenities=microwave,sauna"),
            "unknown_amenity",
        ),
        (
            "amenity in the wrong case",
            near("lat=28.68&lon=115.89&amenities=Toilet"),
            "unknown_amenity",
        ),
        (
            "bad mode",
            near("lat=28.68&lon=115.89&mode=car"),
            "invalid_mode",
        ),
        (
            "empty mode",
            near("lat=28.68&lon=115.89&mode="),
            "invalid_mode",
        ),
        (
            "bad crs",
            near("lat=28.68&lon=115.89&crs=epsg:3857"),
            "invalid_crs",
        ),
        (
            "bad open_now",
            near("lat=28.68&lon=115.89&open_now=maybe"),
            "invalid_query",
        ),
        (
            "max_minutes 0",
            near("lat=28.68&lon=115.89&max_minutes=0"),
            "invalid_max_minutes",
        ),
        (
            "max_minutes -1",
            near("lat=28.68&lon=115.89&max_minutes=-1"),
            "invalid_max_minutes",
        ),
        (
            "max_minutes 1e9",
            near("lat=28.68&lon=115.89&max_minutes=1e9"),
            "invalid_max_minutes",
        ),
        (
            "max_minutes NaN",
            near("lat=28.68&lon=115.89&max_minutes=NaN"),
            "invalid_max_minutes",
        ),
        (
            "max_minutes abc",
            near("lat=28.68&lon=115.89&max_minutes=abc"),
            "invalid_max_minutes",
        ),
        // No position and no GeoIP database.
        ("no lat/lon, no GeoIP", near(""), "geoip_unavailable"),
        // Boxes.
        ("missing bbox", list(""), "invalid_bbox"),
        ("empty bbox", list("bbox="), "invalid_bbox"),
        (
            "inverted bbox (west > east)",
            list("bbox=116,28.6,115.8,28.8"),
            "invalid_bbox",
        ),
        (
            "inverted bbox (south > north)",
            list("bbox=115.8,28.8,116,28.6"),
            "invalid_bbox",
        ),
        (
            "degenerate bbox",
            list("bbox=115.8,28.6,115.8,28.8"),
            "invalid_bbox",
        ),
        (
            "continent-sized bbox",
            list("bbox=73,18,135,54"),
            "bbox_too_large",
        ),
        (
            "bbox 10.5 degrees tall",
            list("bbox=115,20,116,30.5"),
            "bbox_too_large",
        ),
        ("three numbers", list("bbox=115.8,28.6,116"), "invalid_bbox"),
        (
            "five numbers",
            list("bbox=115.8,28.6,116,28.8,1"),
            "invalid_bbox",
        ),
        ("words", list("bbox=a,b,c,d"), "invalid_bbox"),
        ("NaN corner", list("bbox=NaN,28.6,116,28.8"), "invalid_bbox"),
        (
            "latitude beyond the pole",
            list("bbox=115,85,116,95"),
            "invalid_bbox",
        ),
        (
            "bbox unknown amenity",
            list("bbox=115.8,28.6,116,28.8&amenities=pool"),
            "unknown_amenity",
        ),
        (
            "bbox limit 0",
            list("bbox=115.8,28.6,116,28.8&limit=0"),
            "invalid_limit",
        ),
        (
            "bbox limit too large",
            list("bbox=115.8,28.6,116,28.8&limit=10001"),
            "invalid_limit",
        ),
        (
            "bbox bad crs",
            list("bbox=115.8,28.6,116,28.8&crs=mars"),
            "invalid_crs",
        ),
        // One station.
        ("id abc", "/api/v1/stations/abc".to_string(), "invalid_id"),
        ("id 1.5", "/api/v1/stations/1.5".to_string(), "invalid_id"),
        (
            "station bad crs",
            "/api/v1/stations/1?crs=utm".to_string(),
            "invalid_crs",
        ),
    ]
}

#[tokio::test]
async fn bad_parameters_get_400_with_a_stable_code_and_leave_the_store_alone() {
    let app = spawn_empty_app().await;
    app.add_stations(&[
        new_station("BAD-1", NANCHANG),
        new_station("BAD-2", point_at(NANCHANG, 90.0, 500.0)),
    ])
    .await;
    let before = app.count().await;
    let generation_before = app.index.load().generation();

    let mut failures = Vec::new();
    for (what, path, code) in cases() {
        let res = app.get(&path).await;
        let status = res.status();
        let ctype = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("").to_string())
            .unwrap_or_default();
        let text = res.text().await.unwrap();
        let body: serde_json::Value = match serde_json::from_str(&text) {
            Ok(b) => b,
            Err(_) => {
                failures.push(format!("{what} ({path}): {status}, not JSON: {text}"));
                continue;
            }
        };
        let got_code = body.pointer("/error/code").and_then(|c| c.as_str());
        let message = body
            .pointer("/error/message")
            .and_then(|m| m.as_str())
            .unwrap_or("");
        if status != StatusCode::BAD_REQUEST
            || got_code != Some(code)
            || message.is_empty()
            || !ctype.starts_with("application/json")
        {
            failures.push(format!(
                "{what} ({path}): want 400 {code}, got {status} {body} ({ctype})"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n"));

    assert_eq!(app.count().await, before, "the store is unchanged");
    assert_eq!(app.index.load().generation(), generation_before);
    assert_eq!(app.index.load().len() as i64, before);
    // Still serving.
    let (status, _) = app
        .get_json("/api/v1/stations/nearest?lat=28.68&lon=115.89")
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn unknown_amenity_message_lists_the_valid_keys() {
    let app = spawn_empty_app().await;
    for path in [
        format!("{NEAREST}?lat=28.68&lon=115.89&amenities=sauna"),
        format!("{LIST}?bbox=115.8,28.6,116,28.8&amenities=sauna"),
    ] {
        let (status, body) = app.get_json(&path).await;
        assert_error(
            &path,
            status,
            &body,
            StatusCode::BAD_REQUEST,
            "unknown_amenity",
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("sauna"), "names the bad key: {message}");
        for key in [
            "water",
            "hot_water",
            "microwave",
            "fridge",
            "phone_charging",
            "ebike_charging",
            "battery_swap",
            "toilet",
            "rest_area",
            "air_conditioning",
            "heating",
            "first_aid",
            "reading",
            "nursing_room",
            "wifi",
            "umbrella",
            "repair_tools",
        ] {
            assert!(message.contains(key), "lists {key}: {message}");
        }
    }
}

#[tokio::test]
async fn error_messages_name_the_offending_value() {
    let app = spawn_empty_app().await;
    for (path, needle) in [
        (format!("{NEAREST}?lat=91.25&lon=115.89"), "91.25"),
        (format!("{NEAREST}?lat=28.68&lon=115.89&limit=101"), "101"),
        (format!("{NEAREST}?lat=28.68&lon=115.89&mode=car"), "car"),
        (format!("{LIST}?bbox=116,28.6,115.8,28.8"), "116"),
    ] {
        let (_, body) = app.get_json(&path).await;
        let message = body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(needle), "{path}: {message}");
    }
}

/// (what, path, content type, body, expected status, expected code)
type BodyCase<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    String,
    StatusCode,
    &'a str,
);

#[tokio::test]
async fn bad_bodies_get_json_errors_and_write_nothing() {
    let app = spawn_empty_app().await;
    let ids = app.add_stations(&[new_station("BODY-1", NANCHANG)]).await;
    let before = app.count().await;
    let report = format!("/api/v1/stations/{}/reports", ids[0]);
    let oversized = format!(
        "{{\"kind\":\"closed\",\"note\":\"{}\"}}",
        "x".repeat(200 * 1024)
    );
    let cases: Vec<BodyCase> = vec![
        (
            "oversized report",
            report.as_str(),
            Some("application/json"),
            oversized.clone(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        (
            "oversized login",
            "/api/v1/auth/login",
            Some("application/json"),
            oversized,
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        (
            "malformed JSON",
            report.as_str(),
            Some("application/json"),
            "{\"kind\": ".to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "not JSON at all",
            "/api/v1/auth/login",
            None,
            "login=a&password=b".to_string(),
            StatusCode::BAD_REQUEST,
            "unsupported_media_type",
        ),
    ];
    for (what, path, ctype, body, want, code) in cases {
        let mut req = app.client.post(app.url(path)).body(body);
        if let Some(c) = ctype {
            req = req.header(reqwest::header::CONTENT_TYPE, c);
        }
        let res = req.send().await.unwrap();
        let (status, json) = json_of(res, what).await;
        assert_error(what, status, &json, want, code);
    }
    assert_eq!(app.count().await, before);
}

/// A misspelt parameter (`amenity=` for `amenities=`) must not silently return unfiltered results.
#[tokio::test]
async fn unknown_query_parameters_get_400_naming_them() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/stations/nearest?lat=28.68&lon=115.89&amenity=toilet",
        "/api/v1/stations?bbox=115.8,28.6,116.0,28.8&amenity=toilet",
        "/api/v1/stations/1?format=xml",
    ] {
        let (status, body) = app.get_json(path).await;
        assert_error(
            path,
            status,
            &body,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        );
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("unknown field"), "{path}: {body}");
    }
}
