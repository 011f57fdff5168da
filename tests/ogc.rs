//! OGC API – Features at `/ogc`, read by a real client (GDAL's `OAPIF` driver through
//! `ogrinfo`, which is what QGIS uses too) and checked at the JSON level: landing page,
//! conformance, collections, paging, bbox against `GET /api/v1/stations?bbox=`, errors.
//! Without `ogrinfo` the GDAL tests fail under CI and skip loudly elsewhere.

mod common;

use common::*;
use reqwest::{header, StatusCode};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::process::Command;

/// Under CI a missing `ogrinfo` is a failure; on a developer's machine a loud skip.
fn skip_without_ogrinfo() -> bool {
    let ok = Command::new("ogrinfo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return false;
    }
    if std::env::var_os("CI").is_some() {
        panic!("\n\nogrinfo is missing: apt-get install -y gdal-bin. CI never skips these.\n\n");
    }
    let _ = std::io::stderr().write_all(
        b"\n!!! SKIPPED: the OGC API tests with GDAL did not run: ogrinfo is missing \
          (apt-get install -y gdal-bin)\n\n",
    );
    true
}

/// Runs ogrinfo off the runtime's threads (the server answers on them) and returns stdout.
async fn ogrinfo(args: Vec<String>) -> String {
    let shown = args.join(" ");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("ogrinfo")
            .args(&args)
            // No proxy, no cached connection reuse surprises; GDAL reads these from the env.
            .env("GDAL_HTTP_TIMEOUT", "30")
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .output()
    })
    .await
    .unwrap()
    .expect("running ogrinfo");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "ogrinfo {shown} failed:\n{stderr}\n{stdout}"
    );
    assert!(
        !stderr.contains("ERROR"),
        "ogrinfo {shown} complained:\n{stderr}"
    );
    stdout
}

/// Station ids in `ogrinfo -al` output: each feature's FID (the GeoJSON feature id), checked
/// against its `id` attribute.
fn ogr_ids(out: &str) -> BTreeSet<i64> {
    let fids: Vec<i64> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("OGRFeature(stations):"))
        .map(|v| v.trim().parse().unwrap())
        .collect();
    let attrs: Vec<i64> = out
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix("id (Integer) = ")
                .or_else(|| l.strip_prefix("id (Integer64) = "))
        })
        .map(|v| v.trim().parse().unwrap())
        .collect();
    assert_eq!(fids, attrs, "FIDs and id attributes differ");
    fids.into_iter().collect()
}

fn feature_ids(body: &Value) -> Vec<i64> {
    body["features"]
        .as_array()
        .unwrap_or_else(|| panic!("no features in {body}"))
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect()
}

fn link<'a>(body: &'a Value, rel: &str) -> Option<&'a str> {
    body["links"]
        .as_array()?
        .iter()
        .find(|l| l["rel"] == rel)
        .and_then(|l| l["href"].as_str())
}

/// A box around Nanchang holding a few hundred demo stations.
const NANCHANG_BOX: &str = "115.80,28.60,115.98,28.75";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ogrinfo_lists_the_layers_counts_and_filters_like_the_api() {
    if skip_without_ogrinfo() {
        return;
    }
    let app = spawn_app().await;
    let source = format!("OAPIF:{}/ogc", app.base_url);

    let layers = ogrinfo(vec!["-ro".into(), "-q".into(), source.clone()]).await;
    assert!(layers.contains("stations"), "{layers}");
    assert!(layers.contains("regions"), "{layers}");

    let n = app.index.load().len();
    assert!(n > 1000, "the demo seed is loaded");
    let summary = ogrinfo(vec![
        "-ro".into(),
        "-so".into(),
        source.clone(),
        "stations".into(),
    ])
    .await;
    assert!(
        summary.contains(&format!("Feature Count: {n}")),
        "index has {n}:\n{summary}"
    );

    let (w, s, e, n_) = (115.80, 28.60, 115.98, 28.75);
    let filtered = ogrinfo(vec![
        "-ro".into(),
        "-al".into(),
        "-q".into(),
        "-spat".into(),
        w.to_string(),
        s.to_string(),
        e.to_string(),
        n_.to_string(),
        source.clone(),
        "stations".into(),
    ])
    .await;
    let from_gdal = ogr_ids(&filtered);
    let (status, api) = app
        .get_json(&format!("/api/v1/stations?bbox={NANCHANG_BOX}&limit=10000"))
        .await;
    assert_eq!(status, 200, "{api}");
    assert_eq!(api["truncated"], false);
    let from_api: BTreeSet<i64> = feature_ids(&api).into_iter().collect();
    assert!(
        from_api.len() > 50,
        "the box holds stations: {}",
        from_api.len()
    );
    assert_eq!(
        from_gdal, from_api,
        "ogrinfo -spat vs GET /api/v1/stations?bbox="
    );
}

#[tokio::test]
async fn landing_page_links_resolve_and_are_absolute() {
    let app = spawn_app().await;
    let res = app.get("/ogc").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
    let (_, body) = json_of(res, "/ogc").await;
    for rel in ["self", "service-desc", "conformance", "data"] {
        let href = link(&body, rel).unwrap_or_else(|| panic!("no {rel} link in {body}"));
        assert!(
            href.starts_with(&app.base_url),
            "{rel} link {href} is not absolute on {}",
            app.base_url
        );
        let res = app.client.get(href).send().await.unwrap();
        assert_eq!(res.status(), 200, "{rel} → {href}");
    }
    // The service description documents the OGC paths it points to.
    let (_, doc) = app.get_json("/api/openapi.json").await;
    for path in [
        "/ogc",
        "/ogc/conformance",
        "/ogc/collections",
        "/ogc/collections/{collectionId}",
        "/ogc/collections/{collectionId}/items",
        "/ogc/collections/{collectionId}/items/{featureId}",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} not in the OpenAPI document"
        );
    }
}

#[tokio::test]
async fn conformance_declares_core_and_geojson_only() {
    let app = spawn_empty_app().await;
    let (status, body) = app.get_json("/ogc/conformance?f=json").await;
    assert_eq!(status, 200, "{body}");
    let classes: Vec<&str> = body["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(classes.contains(&"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"));
    assert!(classes.contains(&"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson"));
    // The service description is OpenAPI 3.1: claiming the 3.0 class would be untrue.
    let (_, doc) = app.get_json("/api/openapi.json").await;
    let version = doc["openapi"].as_str().unwrap();
    let claims_oas30 = classes.iter().any(|c| c.ends_with("/conf/oas30"));
    assert_eq!(
        claims_oas30,
        version.starts_with("3.0"),
        "openapi {version}"
    );
}

#[tokio::test]
async fn collections_describe_stations_and_regions_with_their_extent() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/ogc/collections").await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["stations", "regions"]);
    let (status, stations) = app.get_json("/ogc/collections/stations").await;
    assert_eq!(status, 200);
    assert_eq!(stations["itemType"], "feature");
    let bbox = &stations["extent"]["spatial"]["bbox"][0];
    let all = app.index.load().all();
    let min_lon = all.iter().map(|s| s.location.lon).fold(f64::MAX, f64::min);
    let max_lat = all.iter().map(|s| s.location.lat).fold(f64::MIN, f64::max);
    assert_eq!(bbox[0].as_f64().unwrap(), min_lon);
    assert_eq!(bbox[3].as_f64().unwrap(), max_lat);
    let items = link(&stations, "items").unwrap();
    assert!(
        items.ends_with("/ogc/collections/stations/items"),
        "{items}"
    );
}

#[tokio::test]
async fn paging_with_limit_100_visits_every_station_once() {
    let app = spawn_app().await;
    let expected: Vec<i64> = app.index.load().all().iter().map(|s| s.id).collect();
    let mut seen = Vec::new();
    let mut url = app.url("/ogc/collections/stations/items?limit=100");
    let mut pages = 0;
    loop {
        let res = app.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 200, "{url}");
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/geo+json");
        let (_, body) = json_of(res, &url).await;
        assert_eq!(body["numberMatched"], expected.len(), "{url}");
        let ids = feature_ids(&body);
        assert_eq!(body["numberReturned"], ids.len());
        assert!(ids.len() <= 100);
        assert!(body["timeStamp"].as_str().is_some());
        if pages > 0 {
            assert_eq!(
                link(&body, "self"),
                Some(url.as_str()),
                "self is the link followed"
            );
            assert!(link(&body, "prev").is_some(), "page {pages} has no prev");
        }
        seen.extend(ids);
        pages += 1;
        match link(&body, "next") {
            Some(next) => url = next.to_string(),
            None => break,
        }
        assert!(pages < 1000, "paging does not end");
    }
    assert_eq!(pages, expected.len().div_ceil(100));
    assert_eq!(seen, expected, "every station exactly once, by id");
}

#[tokio::test]
async fn bbox_items_match_the_station_api_and_limit_is_clamped() {
    let app = spawn_app().await;
    let (_, api) = app
        .get_json(&format!("/api/v1/stations?bbox={NANCHANG_BOX}&limit=10000"))
        .await;
    let want = feature_ids(&api);
    let (status, body) = app
        .get_json(&format!(
            "/ogc/collections/stations/items?bbox={NANCHANG_BOX}&limit=20000&datetime=2026-01-01T00:00:00Z"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(feature_ids(&body), want);
    assert_eq!(body["numberMatched"], want.len());
    let this = link(&body, "self").unwrap();
    assert!(this.contains("limit=10000"), "clamped limit in {this}");
    assert!(this.contains("bbox=115.80%2C28.60"), "{this}");
    // A feature looks like the station export's, with links of its own.
    let first = &body["features"][0];
    assert_eq!(first["type"], "Feature");
    assert_eq!(first["properties"]["id"], first["id"]);
    assert!(first["properties"]["demo"].is_boolean());
    let id = first["id"].as_i64().unwrap();
    let res = app
        .get(&format!("/ogc/collections/stations/items/{id}"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/geo+json");
    let (_, one) = json_of(res, "one item").await;
    assert_eq!(one["id"], id);
    assert_eq!(one["properties"], first["properties"]);
    assert!(link(&one, "collection")
        .unwrap()
        .ends_with("/ogc/collections/stations"));
    // A box across the whole world scans instead of refusing (paging bounds the reply).
    let (status, world) = app
        .get_json("/ogc/collections/stations/items?bbox=-180,-90,180,90&limit=1")
        .await;
    assert_eq!(status, 200, "{world}");
    assert_eq!(world["numberMatched"], app.index.load().len());
}

#[tokio::test]
async fn regions_are_features_with_outlines() {
    let app = spawn_app().await;
    let (status, body) = app
        .get_json("/ogc/collections/regions/items?bbox=115.85,28.65,115.9,28.7&limit=50")
        .await;
    assert_eq!(status, 200, "{body}");
    let codes: Vec<String> = body["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["adcode"].as_str().unwrap().to_string())
        .collect();
    assert!(codes.contains(&"360000".to_string()), "Jiangxi: {codes:?}");
    assert!(codes.contains(&"360100".to_string()), "Nanchang: {codes:?}");
    assert!(
        !codes.contains(&"360700".to_string()),
        "Ganzhou is far away: {codes:?}"
    );
    assert_eq!(body["features"][0]["geometry"]["type"], "MultiPolygon");
    let (status, one) = app.get_json("/ogc/collections/regions/items/360100").await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["properties"]["level"], "city");
}

#[tokio::test]
async fn bad_requests_get_400_and_missing_things_404() {
    let app = spawn_empty_app().await;
    let ids = app.add_stations(&[new_station("OGC-1", NANCHANG)]).await;
    for (path, code) in [
        ("/ogc?foo=1", "invalid_query"),
        ("/ogc/collections?limit=5", "invalid_query"),
        ("/ogc/collections/stations/items?limt=5", "invalid_query"),
        (
            "/ogc/collections/stations/items?limit=5&limit=6",
            "invalid_query",
        ),
        ("/ogc/collections/stations/items?limit=0", "invalid_limit"),
        ("/ogc/collections/stations/items?limit=-3", "invalid_limit"),
        ("/ogc/collections/stations/items?offset=x", "invalid_offset"),
        ("/ogc/collections/stations/items?bbox=1,2,3", "invalid_bbox"),
        (
            "/ogc/collections/stations/items?bbox=0,50,1,40",
            "invalid_bbox",
        ),
        (
            "/ogc/collections/stations/items?bbox=0,0,1,91",
            "invalid_bbox",
        ),
        ("/ogc/collections/stations/items?f=html", "invalid_format"),
    ] {
        let (status, body) = app.get_json(path).await;
        assert_error(path, status, &body, StatusCode::BAD_REQUEST, code);
    }
    for path in [
        "/ogc/collections/nope",
        "/ogc/collections/nope/items",
        "/ogc/collections/stations/items/999999",
        "/ogc/collections/stations/items/abc",
        // No regions loaded in an empty app: the collection is not offered.
        "/ogc/collections/regions",
    ] {
        let (status, body) = app.get_json(path).await;
        assert_error(path, status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    let (status, one) = app
        .get_json(&format!(
            "/ogc/collections/stations/items/{}?f=json",
            ids[0]
        ))
        .await;
    assert_eq!(status, 200, "{one}");
    let (status, page) = app
        .get_json("/ogc/collections/stations/items?offset=5")
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["numberMatched"], 1);
    assert_eq!(page["numberReturned"], 0);
    assert!(link(&page, "next").is_none());
    assert!(link(&page, "prev").unwrap().contains("offset=0"));
}

#[tokio::test]
async fn links_follow_the_trusted_proxy_scheme_and_the_host() {
    let app = spawn_app_with(|a| a.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let res = app
        .client
        .get(app.url("/ogc"))
        .header(header::HOST, "stations.example.org")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let (_, body) = json_of(res, "/ogc behind a proxy").await;
    assert_eq!(
        link(&body, "self"),
        Some("https://stations.example.org/ogc")
    );

    // Without a trusted proxy the header is the client's word: ignored.
    let direct = spawn_empty_app().await;
    let res = direct
        .client
        .get(direct.url("/ogc"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let (_, body) = json_of(res, "/ogc direct").await;
    assert_eq!(link(&body, "self").unwrap(), direct.url("/ogc"));
}
