//! Operations routes: `/healthz`, `/metrics`, `/api/openapi.json`, unknown routes, the web app.

mod common;

use common::*;
use reqwest::{header, StatusCode};
use std::path::Path;

/// The checked-in list of documented operations; regenerate with `YIZHAN_UPDATE_SNAPSHOTS=1`.
const OPENAPI_SNAPSHOT: &str = "tests/snapshots/openapi_operations.txt";

#[tokio::test]
async fn healthz_reports_ok_and_the_station_count() {
    let app = spawn_empty_app().await;
    app.add_stations(&[
        new_station("H-1", NANCHANG),
        new_station("H-2", point_at(NANCHANG, 0.0, 100.0)),
    ])
    .await;
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["stations"], 2);
}

#[tokio::test]
async fn metrics_count_requests_per_route_and_status() {
    let app = spawn_empty_app().await;
    let ids = app.add_stations(&[new_station("M-1", NANCHANG)]).await;
    for _ in 0..3 {
        app.get("/api/v1/stations/nearest?lat=28.68&lon=115.89")
            .await;
    }
    app.get("/api/v1/stations/nearest?lat=95&lon=115.89").await;
    app.get(&format!("/api/v1/stations/{}", ids[0])).await;
    app.get("/api/v1/stations/424242").await;
    app.get("/api/v1/no-such-thing").await;

    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    let ctype = res.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(ctype.starts_with("text/plain"), "{ctype}");
    let text = res.text().await.unwrap();
    let count = |route: &str, status: u16| -> Option<u64> {
        let prefix = format!(
            "yizhan_http_requests_total{{method=\"GET\",route=\"{route}\",status=\"{status}\"}} "
        );
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .map(|v| v.trim().parse().unwrap())
    };
    assert_eq!(count("/api/v1/stations/nearest", 200), Some(3), "{text}");
    assert_eq!(count("/api/v1/stations/nearest", 400), Some(1), "{text}");
    // Routes are labelled by template, never by raw path (ids would explode the label set).
    assert_eq!(count("/api/v1/stations/{id}", 200), Some(1), "{text}");
    assert_eq!(count("/api/v1/stations/{id}", 404), Some(1), "{text}");
    assert!(!text.contains("424242"), "{text}");
    assert!(!text.contains("no-such-thing"), "{text}");
    // Latencies are a histogram per route.
    assert!(
        text.contains(
            "yizhan_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/stations/nearest\",status=\"200\"} 3"
        ),
        "{text}"
    );
    assert!(text.contains("# TYPE yizhan_http_request_duration_seconds histogram"));
    assert!(text.contains("yizhan_stations 1"), "{text}");
}

/// `METHOD path` of every operation in the OpenAPI document, sorted.
fn operations(doc: &serde_json::Value) -> Vec<String> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"]
        .as_object()
        .expect("paths in the OpenAPI document")
    {
        for method in [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ] {
            if item.get(method).is_some() {
                ops.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    ops.sort();
    ops
}

#[tokio::test]
async fn openapi_document_matches_the_checked_in_operation_list() {
    let app = spawn_empty_app().await;
    let (status, doc) = app.get_json("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap_or("").starts_with("3."),
        "{doc}"
    );
    assert!(doc["info"]["title"].is_string());
    let got = operations(&doc).join("\n") + "\n";

    if std::env::var_os("YIZHAN_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(Path::new(OPENAPI_SNAPSHOT).parent().unwrap()).unwrap();
        std::fs::write(OPENAPI_SNAPSHOT, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(OPENAPI_SNAPSHOT).unwrap_or_default();
    assert_eq!(
        got, want,
        "the documented operations changed; if intended, rerun with YIZHAN_UPDATE_SNAPSHOTS=1 \
         and commit {OPENAPI_SNAPSHOT}"
    );
}

#[tokio::test]
async fn every_documented_get_path_answers() {
    // Seeded: the regions ({adcode}) come with the seed.
    let app = spawn_app().await;
    let ids = app.add_stations(&[new_station("DOC-1", NANCHANG)]).await;
    let (_, doc) = app.get_json("/api/openapi.json").await;
    let paths: Vec<String> = operations(&doc)
        .into_iter()
        .filter_map(|op| op.strip_prefix("GET ").map(str::to_string))
        .collect();
    assert!(paths.len() >= 5, "{paths:?}");
    for path in paths {
        // Fill path parameters with something real.
        let concrete = path
            .replace("{id}", &ids[0].to_string())
            .replace("{adcode}", "360100")
            .replace("{z}/{x}/{y}", "0/0/0")
            .replace("{collectionId}", "stations")
            .replace("{featureId}", &ids[0].to_string());
        assert!(!concrete.contains('{'), "unfilled parameter in {path}");
        let res = app.get(&concrete).await;
        let status = res.status();
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "documented GET {path} answered {status}"
        );
        assert!(!status.is_server_error(), "GET {path} answered {status}");
    }
}

#[tokio::test]
async fn unknown_api_route_gets_a_json_404() {
    let app = spawn_empty_app().await;
    for path in [
        "/api/v1/nope",
        "/api/v2/stations/nearest",
        "/api/",
        "/api",
        "/api/v1/stations/nearest/",
    ] {
        let res = app.get(path).await;
        let ctype = res
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        assert!(ctype.starts_with("application/json"), "{path}: {ctype}");
        let (status, body) = json_of(res, path).await;
        assert_error(path, status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    // Wrong method on a real route is not a 200 either.
    let res = app
        .client
        .delete(app.url("/api/v1/stations/nearest"))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
}

#[tokio::test]
async fn web_app_is_served_at_the_root() {
    let app = spawn_empty_app().await;
    let res = app.get("/").await;
    assert_eq!(res.status(), 200);
    let ctype = res.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(ctype.starts_with("text/html"), "{ctype}");
    assert!(res.headers().contains_key(header::X_CONTENT_TYPE_OPTIONS));
    let html = res.text().await.unwrap();
    assert!(html.to_ascii_lowercase().contains("<html"), "{html}");
}

#[tokio::test]
async fn counties_basemap_is_geojson_in_wgs84() {
    let app = spawn_empty_app().await;
    let res = app.get("/api/v1/counties").await;
    assert_eq!(res.status(), 200);
    let (_, fc) = json_of(res, "counties").await;
    assert_eq!(fc["type"], "FeatureCollection");
    assert_eq!(
        fc["features"].as_array().unwrap().len(),
        100,
        "Jiangxi's 100 counties"
    );
}
