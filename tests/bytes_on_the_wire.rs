//! Bytes on the wire, over a real socket: gzip and brotli for every textual reply (API JSON,
//! errors, `/metrics`, the web app), never for images or tiny bodies or without
//! `Accept-Encoding`; validators and a cache policy on the web app's files (304s, `Range`,
//! HEAD); the county basemap per level of detail, shared borders kept shared, within its budget.

mod common;

use common::*;
use geo::{Coord, LineString, Polygon, Validation};
use reqwest::header::{self, HeaderMap};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io::Read;

fn decode(encoding: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "gzip" => flate2::read::GzDecoder::new(bytes).read_to_end(&mut out),
        "br" => brotli::Decompressor::new(bytes, 4096).read_to_end(&mut out),
        other => panic!("unexpected encoding {other}"),
    }
    .unwrap_or_else(|e| panic!("decoding {encoding}: {e}"));
    out
}

async fn fetch(
    app: &TestApp,
    path: &str,
    accept: Option<&str>,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = app.client.get(app.url(path));
    if let Some(a) = accept {
        req = req.header(header::ACCEPT_ENCODING, a);
    }
    let res = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let (status, headers) = (res.status(), res.headers().clone());
    (status, headers, res.bytes().await.expect("a body").to_vec())
}

fn header_of(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn textual_replies_are_compressed_with_br_and_gzip_and_decode_to_the_same_bytes() {
    let app = spawn_app().await;
    let (lon, lat) = NANCHANG;
    let paths = [
        format!("/api/v1/stations/nearest?lat={lat}&lon={lon}&limit=20"),
        "/api/v1/stations?bbox=115.8,28.6,116.0,28.8&limit=50".to_string(),
        "/api/openapi.json".to_string(),
        "/".to_string(),
        "/js/app.js".to_string(),
        "/css/app.css".to_string(),
        "/manifest.webmanifest".to_string(),
        "/vendor/leaflet/leaflet.js".to_string(),
        "/api/v1/counties".to_string(),
        // An error long enough to be worth it: the unknown-parameter message lists them all.
        format!(
            "/api/v1/stations/nearest?lat={lat}&lon={lon}&{}=1",
            "x".repeat(600)
        ),
    ];
    for path in &paths {
        let (status, plain_headers, plain) = fetch(&app, path, None).await;
        assert!(
            status.is_success() || status.is_client_error(),
            "{path}: {status}"
        );
        assert_eq!(
            header_of(&plain_headers, header::CONTENT_ENCODING),
            None,
            "{path}"
        );
        for encoding in ["br", "gzip"] {
            let (s, h, body) = fetch(&app, path, Some(encoding)).await;
            assert_eq!(s, status, "{path} {encoding}");
            assert_eq!(
                header_of(&h, header::CONTENT_ENCODING),
                Some(encoding),
                "{path}: {h:?}"
            );
            let vary = header_of(&h, header::VARY)
                .unwrap_or("")
                .to_ascii_lowercase();
            assert!(vary.contains("accept-encoding"), "{path}: {h:?}");
            assert!(h.contains_key(header::CONTENT_SECURITY_POLICY), "{path}");
            assert!(
                body.len() < plain.len(),
                "{path} {encoding}: {} vs {}",
                body.len(),
                plain.len()
            );
            assert_eq!(decode(encoding, &body), plain, "{path} {encoding}");
        }
        // The client's preference order is its own; brotli wins when both are offered.
        let (_, h, _) = fetch(&app, path, Some("gzip, deflate, br")).await;
        assert_eq!(
            header_of(&h, header::CONTENT_ENCODING),
            Some("br"),
            "{path}"
        );
    }
    let (_, h, body) = fetch(&app, "/metrics", Some("gzip")).await;
    assert_eq!(header_of(&h, header::CONTENT_ENCODING), Some("gzip"));
    let text = String::from_utf8(decode("gzip", &body)).expect("text");
    assert!(text.contains("# TYPE"), "{text}");
}

/// Length of `plain` as brotli at `quality` (default window), by the streaming encoder as the
/// server's compression runs it (the one-shot one takes another path at low qualities).
fn brotli_len(plain: &[u8], quality: i32) -> usize {
    use std::io::Write;
    let params = brotli::enc::BrotliEncoderParams {
        quality,
        ..Default::default()
    };
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::with_params(&mut out, 64 * 1024, &params);
        w.write_all(plain).expect("brotli");
    }
    out.len()
}

#[tokio::test]
async fn station_replies_are_compressed_at_the_fast_level_and_the_rest_at_level_4() {
    let app = spawn_app().await;
    let (lon, lat) = NANCHANG;
    // Per-request replies: the station routes at level 1 (twice cheaper, ~10 % larger), the
    // others at 4. Told apart by their lengths against brotli of the same bytes here.
    let cases = [
        (
            format!("/api/v1/stations/nearest?lat={lat}&lon={lon}&limit=5"),
            1,
        ),
        (
            "/api/v1/stations?bbox=115.8,28.6,116.0,28.8&limit=50".to_string(),
            1,
        ),
        ("/api/openapi.json".to_string(), 4),
        (
            "/api/v1/counties?detail=full&bbox=115.75,28.5,116.25,29".to_string(),
            4,
        ),
    ];
    for (path, level) in &cases {
        let (_, _, plain) = fetch(&app, path, None).await;
        let (_, h, body) = fetch(&app, path, Some("br")).await;
        assert_eq!(
            header_of(&h, header::CONTENT_ENCODING),
            Some("br"),
            "{path}"
        );
        assert_eq!(h.get_all(header::VARY).iter().count(), 1, "{path}: {h:?}");
        assert_eq!(decode("br", &body), plain, "{path}");
        let (fast, four) = (brotli_len(&plain, 1), brotli_len(&plain, 4));
        assert!(four < fast, "{path}: level 4 {four} B, level 1 {fast} B");
        let expected = if *level == 1 { fast } else { four };
        // The server's encoder is fed as the body arrives: allow a few bytes of framing.
        assert!(
            body.len().abs_diff(expected) <= 16,
            "{path}: {} B brotli, expected level {level}: {expected} B (level 1 {fast}, level 4 {four})",
            body.len()
        );
    }
}

#[tokio::test]
async fn images_tiny_bodies_and_clients_without_accept_encoding_get_identity() {
    let app = spawn_app().await;
    for path in [
        "/icons/icon-192.png",
        "/vendor/leaflet/images/marker-icon.png",
    ] {
        let (_, _, plain) = fetch(&app, path, None).await;
        let (status, h, body) = fetch(&app, path, Some("br, gzip")).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(header_of(&h, header::CONTENT_ENCODING), None, "{path}");
        assert_eq!(body, plain, "{path}");
        assert_eq!(
            header_of(&h, header::CACHE_CONTROL),
            Some("public, max-age=86400")
        );
    }
    for path in [
        "/api/v1/nothing-here",
        "/healthz",
        "/api/v1/stations/4242424",
    ] {
        let (_, h, body) = fetch(&app, path, Some("br, gzip")).await;
        assert!(body.len() < 512, "{path}: {} bytes", body.len());
        assert_eq!(header_of(&h, header::CONTENT_ENCODING), None, "{path}");
    }
    let (_, h, _) = fetch(&app, "/js/app.js", Some("identity")).await;
    assert_eq!(header_of(&h, header::CONTENT_ENCODING), None);
}

#[tokio::test]
async fn web_files_carry_validators_and_revalidate_with_304s() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/index.html",
        "/sw.js",
        "/js/app.js",
        "/css/app.css",
        "/manifest.webmanifest",
    ] {
        for accept in [None, Some("br")] {
            let (status, h, _) = fetch(&app, path, accept).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            let etag = header_of(&h, header::ETAG)
                .unwrap_or_else(|| panic!("{path}: no ETag"))
                .to_string();
            let modified = header_of(&h, header::LAST_MODIFIED)
                .expect("Last-Modified")
                .to_string();
            assert_eq!(
                header_of(&h, header::CACHE_CONTROL),
                Some("no-cache"),
                "{path}"
            );
            // A compressed variant has other bytes: its tag is weak.
            assert_eq!(etag.starts_with("W/"), accept.is_some(), "{path}: {etag}");
            for (name, value) in [
                (header::IF_NONE_MATCH, etag.as_str()),
                (header::IF_MODIFIED_SINCE, modified.as_str()),
            ] {
                let mut req = app.client.get(app.url(path)).header(name.clone(), value);
                if let Some(a) = accept {
                    req = req.header(header::ACCEPT_ENCODING, a);
                }
                let res = req.send().await.expect("a reply");
                assert_eq!(
                    res.status(),
                    StatusCode::NOT_MODIFIED,
                    "{path} {name}: {value}"
                );
                let h = res.headers().clone();
                assert!(h.contains_key(header::ETAG), "{path}: {h:?}");
                assert_eq!(
                    header_of(&h, header::CACHE_CONTROL),
                    Some("no-cache"),
                    "{path}"
                );
                // The stored 200 keeps its security headers; a revalidation need not repeat them.
                assert!(
                    !h.contains_key(header::CONTENT_SECURITY_POLICY),
                    "{path}: {h:?}"
                );
                let header_bytes: usize =
                    h.iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum();
                assert!(
                    header_bytes < 200,
                    "{path}: {header_bytes} B of headers: {h:?}"
                );
                assert_eq!(header_of(&h, header::CONTENT_ENCODING), None, "{path}");
                assert!(res.bytes().await.expect("body").is_empty(), "{path}");
            }
        }
        // Another tag: the whole file again.
        let res = app
            .client
            .get(app.url(path))
            .header(header::IF_NONE_MATCH, "\"other\"")
            .send()
            .await
            .expect("a reply");
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn head_and_range_requests_still_work_beside_compression() {
    let app = spawn_app().await;
    let (_, get_headers, plain) = fetch(&app, "/js/app.js", None).await;
    let head = app
        .client
        .head(app.url("/js/app.js"))
        .header(header::ACCEPT_ENCODING, "br")
        .send()
        .await
        .expect("a reply");
    assert_eq!(head.status(), StatusCode::OK);
    let (_, br_headers, _) = fetch(&app, "/js/app.js", Some("br")).await;
    for name in [
        header::CONTENT_ENCODING,
        header::ETAG,
        header::CACHE_CONTROL,
        header::CONTENT_TYPE,
    ] {
        assert_eq!(
            header_of(head.headers(), name.clone()),
            header_of(&br_headers, name.clone()),
            "{name}"
        );
    }
    assert!(head.bytes().await.expect("body").is_empty());
    let head = app
        .client
        .head(app.url("/js/app.js"))
        .send()
        .await
        .expect("a reply");
    assert_eq!(
        header_of(head.headers(), header::CONTENT_LENGTH),
        header_of(&get_headers, header::CONTENT_LENGTH)
    );
    // A range is of the identity bytes, never compressed.
    let res = app
        .client
        .get(app.url("/js/app.js"))
        .header(header::RANGE, "bytes=10-29")
        .header(header::ACCEPT_ENCODING, "br, gzip")
        .send()
        .await
        .expect("a reply");
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header_of(res.headers(), header::CONTENT_ENCODING), None);
    assert_eq!(
        res.bytes().await.expect("body").to_vec(),
        plain[10..30].to_vec()
    );
}

// ---- the county basemap ----------------------------------------------------------------------

type Rings = Vec<Vec<Vec<[f64; 2]>>>;

fn polygons(feature: &Value) -> Rings {
    let g = &feature["geometry"];
    let parse = |p: &Value| -> Vec<Vec<[f64; 2]>> {
        serde_json::from_value(p.clone()).expect("rings of [lon, lat]")
    };
    match g["type"].as_str() {
        Some("Polygon") => vec![parse(&g["coordinates"])],
        Some("MultiPolygon") => g["coordinates"]
            .as_array()
            .expect("polygons")
            .iter()
            .map(parse)
            .collect(),
        other => panic!("geometry {other:?}"),
    }
}

type Edge = ((u64, u64), (u64, u64));

fn edge(a: [f64; 2], b: [f64; 2]) -> Edge {
    let (a, b) = (
        (a[0].to_bits(), a[1].to_bits()),
        (b[0].to_bits(), b[1].to_bits()),
    );
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// Per feature (adcode) its edges; and the length of the edges only one county has (the outer
/// boundary, plus any gap or sliver a side-by-side simplification would open).
fn edges(fc: &Value) -> (HashMap<String, HashSet<Edge>>, f64) {
    let mut per = HashMap::new();
    let mut count: HashMap<Edge, (usize, f64)> = HashMap::new();
    for f in fc["features"].as_array().expect("features") {
        let adcode = f["properties"]["adcode"]
            .as_str()
            .expect("adcode")
            .to_string();
        let mut set = HashSet::new();
        for ring in polygons(f).into_iter().flatten() {
            for w in ring.windows(2) {
                set.insert(edge(w[0], w[1]));
                let len = (w[1][0] - w[0][0]).hypot(w[1][1] - w[0][1]);
                count.entry(edge(w[0], w[1])).or_insert((0, len)).0 += 1;
            }
        }
        per.insert(adcode, set);
    }
    let single = count
        .values()
        .filter(|(n, _)| *n == 1)
        .map(|(_, l)| l)
        .sum();
    (per, single)
}

#[tokio::test]
async fn every_level_has_all_counties_valid_and_neighbours_sharing_their_borders() {
    let app = spawn_app().await;
    let seed: Value =
        serde_json::from_str(yizhan::io::seed::JIANGXI_COUNTIES_GEOJSON).expect("seed");
    let (seed_edges, seed_single) = edges(&seed);
    let neighbours: Vec<(String, String)> = {
        let codes: Vec<&String> = seed_edges.keys().collect();
        let mut pairs = Vec::new();
        for (i, a) in codes.iter().enumerate() {
            for b in &codes[i + 1..] {
                if !seed_edges[*a].is_disjoint(&seed_edges[*b]) {
                    pairs.push(((*a).clone(), (*b).clone()));
                }
            }
        }
        pairs
    };
    assert!(
        neighbours.len() > 200,
        "{} neighbour pairs",
        neighbours.len()
    );
    let mut sizes = Vec::new();
    for detail in ["low", "medium", "full"] {
        let (status, h, plain) =
            fetch(&app, &format!("/api/v1/counties?detail={detail}"), None).await;
        assert_eq!(status, StatusCode::OK, "{detail}");
        assert_eq!(
            header_of(&h, header::CONTENT_TYPE),
            Some("application/geo+json")
        );
        let fc: Value = serde_json::from_slice(&plain).expect("GeoJSON");
        assert_eq!(fc["detail"], detail);
        let features = fc["features"].as_array().expect("features");
        assert_eq!(features.len(), 100, "{detail}");
        let codes: HashSet<&str> = features
            .iter()
            .filter_map(|f| f["properties"]["adcode"].as_str())
            .collect();
        assert_eq!(codes.len(), 100, "{detail}: distinct adcodes");
        assert!(
            codes.iter().all(|c| c.len() == 6 && c.starts_with("36")),
            "{detail}"
        );
        for f in features {
            for rings in polygons(f) {
                for r in &rings {
                    assert!(
                        r.len() >= 4 && r.first() == r.last(),
                        "{detail} {}: ring {r:?}",
                        f["properties"]["name"]
                    );
                }
                let mut ls = rings.iter().map(|r| {
                    LineString::from(
                        r.iter()
                            .map(|c| Coord { x: c[0], y: c[1] })
                            .collect::<Vec<_>>(),
                    )
                });
                let poly = Polygon::new(ls.next().expect("exterior"), ls.collect());
                assert!(
                    poly.is_valid(),
                    "{detail} {}: invalid polygon",
                    f["properties"]["name"]
                );
            }
        }
        let (level_edges, single) = edges(&fc);
        for (a, b) in &neighbours {
            assert!(
                !level_edges[a].is_disjoint(&level_edges[b]),
                "{detail}: {a} and {b} no longer share a border edge"
            );
        }
        // Simplifying each side on its own would leave most inner borders unshared.
        assert!(
            single <= seed_single * 1.001,
            "{detail}: unshared edges {single:.3}° vs the seed's {seed_single:.3}°"
        );
        let (_, hb, br) = fetch(
            &app,
            &format!("/api/v1/counties?detail={detail}"),
            Some("br"),
        )
        .await;
        assert_eq!(decode("br", &br), plain, "{detail}");
        let (_, _, gz) = fetch(
            &app,
            &format!("/api/v1/counties?detail={detail}"),
            Some("gzip"),
        )
        .await;
        assert_eq!(decode("gzip", &gz), plain, "{detail}");
        println!(
            "{detail}: {} bytes, gzip {}, br {}",
            plain.len(),
            gz.len(),
            br.len()
        );
        sizes.push((plain.len(), gz.len(), br.len()));
        // Conditional GET: the strong tag, or the weak one the compressed variant carries.
        let tag = header_of(&hb, header::ETAG).expect("ETag").to_string();
        let res = app
            .client
            .get(app.url(&format!("/api/v1/counties?detail={detail}")))
            .header(header::IF_NONE_MATCH, &tag)
            .send()
            .await
            .expect("a reply");
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "{detail}");
        assert!(
            header_of(res.headers(), header::CACHE_CONTROL).is_some_and(|c| c.contains("max-age"))
        );
    }
    // The budget: a province-wide first view is the low level, ≤ 60 KB compressed (with room
    // to spare for the rest of the page); each level smaller than the next.
    let (low, medium, full) = (sizes[0], sizes[1], sizes[2]);
    assert!(low.2 <= 20_000 && low.1 <= 30_000, "low: {low:?}");
    assert!(medium.2 <= 60_000, "medium: {medium:?}");
    assert!(low.0 < medium.0 && medium.0 < full.0, "{sizes:?}");
    let (_, _, default) = fetch(&app, "/api/v1/counties", None).await;
    assert_eq!(default.len(), low.0, "the default level is low");
    let (status, body) = app.get_json("/api/v1/counties?detail=huge").await;
    assert_error(
        "detail=huge",
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
}

/// West, south, east, north of a feature's coordinates.
fn feature_bounds(feature: &Value) -> [f64; 4] {
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for rings in polygons(feature) {
        for ring in rings {
            for [x, y] in ring {
                b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
            }
        }
    }
    b
}

#[tokio::test]
async fn full_detail_cut_to_a_box_holds_exactly_the_counties_meeting_it_and_is_small() {
    let app = spawn_app().await;
    let (status, whole) = app.get_json("/api/v1/counties?detail=full").await;
    assert_eq!(status, StatusCode::OK);
    // Around central Nanchang, as a phone at street zoom asks for it.
    let bbox = [115.75, 28.5, 116.0, 28.75];
    let url = format!(
        "/api/v1/counties?detail=full&bbox={},{},{},{}",
        bbox[0], bbox[1], bbox[2], bbox[3]
    );
    let (status, cut) = app.get_json(&url).await;
    assert_eq!(status, StatusCode::OK, "{cut}");
    let meets = |f: &Value| {
        let b = feature_bounds(f);
        b[0] <= bbox[2] && b[2] >= bbox[0] && b[1] <= bbox[3] && b[3] >= bbox[1]
    };
    let want: Vec<&Value> = whole["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| meets(f))
        .collect();
    let got = cut["features"].as_array().unwrap();
    assert!(
        !want.is_empty() && want.len() < 20,
        "{} counties",
        want.len()
    );
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, *w, "a cut county is the same feature at full detail");
    }
    assert_eq!(cut["detail"], "full");
    let (_, headers, br) = fetch(&app, &url, Some("br")).await;
    assert_eq!(header_of(&headers, header::CONTENT_ENCODING), Some("br"));
    assert!(br.len() < 20_000, "{} bytes for a street view", br.len());
    let (status, body) = app
        .get_json("/api/v1/counties?detail=full&bbox=1,2,3")
        .await;
    assert_error(
        "bad bbox",
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_bbox",
    );
}

/// The web app's text files are compressed once at the best settings and kept: every reply,
/// the first included, is smaller than per-request compression would make it, decodes to the
/// file's bytes, keeps the file's validator (weakened) and 304s, and an edited file is served
/// new at once.
#[tokio::test]
async fn web_files_are_served_best_compressed_and_follow_edits() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let web = dir.path().join("web");
    std::fs::create_dir_all(web.join("js")).unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/web/index.html"),
        web.join("index.html"),
    )
    .unwrap();
    let leaflet = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/web/vendor/leaflet/leaflet.js"
    ))
    .unwrap();
    let file = web.join("js/big.js");
    std::fs::write(&file, &leaflet).unwrap();
    let app = spawn_app_with(|a| a.web_dir = Some(web.clone())).await;

    // What the compression layer makes per request (brotli level 4), for comparison.
    let per_request = {
        use std::io::Write;
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 4, 22);
            w.write_all(&leaflet).unwrap();
        }
        out.len()
    };
    // A crowd asking at once: one compression, the same bytes for all.
    let crowd: Vec<_> = (0..6)
        .map(|_| fetch(&app, "/js/big.js", Some("br")))
        .collect();
    let crowd = futures::future::join_all(crowd).await;
    assert!(
        crowd.windows(2).all(|w| w[0].2 == w[1].2),
        "same bytes for all"
    );
    let (_, identity, _) = fetch(&app, "/js/big.js", None).await;
    let strong = header_of(&identity, header::ETAG)
        .expect("ETag")
        .to_string();
    let (status, h, body) = fetch(&app, "/js/big.js", Some("br")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, crowd[0].2);
    assert_eq!(header_of(&h, header::CONTENT_ENCODING), Some("br"));
    assert!(
        body.len() * 100 < per_request * 95,
        "first reply {} bytes vs {per_request} at level 4",
        body.len()
    );
    let (_, _, again) = fetch(&app, "/js/big.js", Some("br")).await;
    assert_eq!(again, body, "kept, not made again");
    assert_eq!(decode("br", &body), leaflet, "same bytes");
    assert_eq!(header_of(&h, header::CONTENT_TYPE), Some("text/javascript"));
    assert_eq!(header_of(&h, header::VARY), Some("accept-encoding"));
    assert_eq!(header_of(&h, header::CACHE_CONTROL), Some("no-cache"));
    let tag = header_of(&h, header::ETAG).expect("ETag").to_string();
    assert_eq!(
        tag,
        format!("W/{strong}"),
        "the file's own validator, weakened"
    );
    let (_, gz, gz_body) = fetch(&app, "/js/big.js", Some("gzip")).await;
    assert_eq!(header_of(&gz, header::CONTENT_ENCODING), Some("gzip"));
    assert_eq!(decode("gzip", &gz_body), leaflet);
    let res = app
        .client
        .get(app.url("/js/big.js"))
        .header(header::ACCEPT_ENCODING, "br")
        .header(header::IF_NONE_MATCH, &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let head = app
        .client
        .head(app.url("/js/big.js"))
        .header(header::ACCEPT_ENCODING, "br")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header_of(head.headers(), header::CONTENT_LENGTH),
        Some(body.len().to_string().as_str())
    );
    // A range is of the file's own bytes, never of a compressed form.
    let res = app
        .client
        .get(app.url("/js/big.js"))
        .header(header::ACCEPT_ENCODING, "br")
        .header(header::RANGE, "bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.bytes().await.unwrap().as_ref(), &leaflet[..100]);

    // An edit is served at once, whatever was kept.
    let edited = [&leaflet[..], b"\n// edited\n"].concat();
    std::fs::write(&file, &edited).unwrap();
    let (_, h, body) = fetch(&app, "/js/big.js", Some("br")).await;
    assert_eq!(decode("br", &body), edited);
    assert_ne!(header_of(&h, header::ETAG), Some(tag.as_str()));
}
