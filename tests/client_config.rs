//! `GET /api/v1/client-config` and the raster basemap flags: off by default (the policy and
//! the page exactly as shipped, nothing external announced), and when configured the page is
//! told the layer and both content security policies — the header on every kind of response
//! and the page's own `<meta>` tag — let in exactly the template's tile hosts.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use yizhan::config::ServeArgs;
use yizhan::http::headers::CONTENT_SECURITY_POLICY;

const TIANDITU: &str = "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile\
    &VERSION=1.0.0&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles\
    &TILECOL={x}&TILEROW={y}&TILEMATRIX={z}&tk=TEST-KEY";

/// Paths of every kind: the page, a script, an API answer, an API error, a web 404.
const PATHS: [&str; 6] = [
    "/",
    "/index.html",
    "/js/app.js",
    "/api/v1/client-config",
    "/api/v1/stations/nearest?lat=999&lon=115",
    "/js/no-such-module.js",
];

fn shipped_page() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/web/index.html"))
        .expect("reading web/index.html")
}

/// The `content` of the page's `<meta http-equiv="Content-Security-Policy">`.
fn meta_policy(html: &str) -> String {
    let tag = html
        .split("<meta")
        .find(|t| t.contains("Content-Security-Policy"))
        .expect("a CSP meta tag");
    let start = tag.find("content=\"").expect("a content attribute") + "content=\"".len();
    tag[start..]
        .split('"')
        .next()
        .expect("a closing quote")
        .to_string()
}

/// The sources of one directive of a policy.
fn directive<'a>(policy: &'a str, name: &str) -> Vec<&'a str> {
    policy
        .split(';')
        .map(str::trim)
        .find_map(|d| {
            d.strip_prefix(name)
                .map(|rest| rest.split_whitespace().collect())
        })
        .unwrap_or_else(|| panic!("no {name} in {policy}"))
}

#[tokio::test]
async fn without_a_basemap_nothing_external_is_announced_or_allowed() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/api/v1/client-config").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["basemap"], Value::Null, "{body}");
    assert_eq!(body["geoip"], false, "{body}");
    assert_eq!(body["travel"]["walk_kmh"], 4.5);
    assert_eq!(body["travel"]["ebike_kmh"], 15.0);
    assert_eq!(body["travel"]["detour"], 1.3);
    // The TileJSON's maxzoom, so the page need not fetch it.
    let (_, tilejson) = app.get_json("/api/v1/tiles.json").await;
    assert_eq!(body["tiles_points_zoom"], tilejson["maxzoom"], "{body}");
    assert_eq!(body["tiles_points_zoom"], 14, "{body}");
    for path in PATHS {
        let res = app.get(path).await;
        assert_eq!(
            res.headers()["content-security-policy"],
            CONTENT_SECURITY_POLICY,
            "{path}"
        );
    }
    let res = app.get("/api/v1/client-config").await;
    assert_eq!(res.headers()["cache-control"], "no-cache");
    let page = app.get("/").await.text().await.unwrap();
    assert_eq!(page, shipped_page(), "the page is served as shipped");
    assert_eq!(
        directive(&meta_policy(&page), "img-src"),
        ["'self'", "data:"]
    );
}

#[tokio::test]
async fn a_configured_basemap_is_announced_and_exactly_its_hosts_are_let_in() {
    let app = spawn_app_with(|a: &mut ServeArgs| {
        a.basemap.url = Some(TIANDITU.into());
        a.basemap.attribution = "审图号：GS(2024)0568号 · 天地图 <b>".into();
        a.basemap.subdomains = Some("01".into());
        a.basemap.crs = "gcj02".into();
        a.basemap.max_zoom = 17;
    })
    .await;
    let (status, body) = app.get_json("/api/v1/client-config").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let b = &body["basemap"];
    assert_eq!(b["url"], TIANDITU);
    assert_eq!(b["crs"], "gcj02");
    assert_eq!(b["subdomains"], serde_json::json!(["0", "1"]));
    assert_eq!(b["max_zoom"], 17);
    assert_eq!(b["attribution"], "审图号：GS(2024)0568号 · 天地图 <b>");

    let hosts = ["https://t0.tianditu.gov.cn", "https://t1.tianditu.gov.cn"];
    let mut img = vec!["'self'", "data:"];
    img.extend(hosts);
    for path in PATHS {
        let res = app.get(path).await;
        let policy = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(directive(&policy, "img-src"), img, "{path}: {policy}");
        // Nothing else widened: the policy is the shipped one with only img-src changed.
        assert_eq!(
            policy.replace(" https://t0.tianditu.gov.cn https://t1.tianditu.gov.cn", ""),
            CONTENT_SECURITY_POLICY,
            "{path}"
        );
    }
    for path in ["/", "/index.html"] {
        let res = app.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let page = res.text().await.unwrap();
        let meta = meta_policy(&page);
        assert_eq!(directive(&meta, "img-src"), img, "{path}: {meta}");
        assert_eq!(directive(&meta, "connect-src"), ["'self'"], "{path}");
        assert_eq!(directive(&meta, "default-src"), ["'self'"], "{path}");
        // Only the policy differs from the page as shipped.
        let shipped = shipped_page();
        assert_eq!(
            page.replace(&meta, ""),
            shipped.replace(&meta_policy(&shipped), ""),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_template_without_subdomains_lets_in_its_one_host() {
    let app = spawn_app_with(|a: &mut ServeArgs| {
        a.seed = false;
        a.basemap.url = Some("http://127.0.0.1:9/tiles/{z}/{x}/{y}.png".into());
    })
    .await;
    let res = app.get("/api/v1/client-config").await;
    let policy = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        directive(&policy, "img-src"),
        ["'self'", "data:", "http://127.0.0.1:9"]
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["basemap"]["crs"], "wgs84");
    assert_eq!(body["basemap"]["subdomains"], serde_json::json!([]));
}

#[tokio::test]
async fn a_bad_basemap_template_stops_the_start_with_the_reason() {
    for (url, why) in [
        ("https://t.example.cn/{z}/{x}.png", "lacks {y}"),
        ("ftp://t.example.cn/{z}/{x}/{y}.png", "http(s)"),
        (
            "https://t.example.cn/{z}/{x}/{y}.png?k={key}",
            "placeholder",
        ),
        ("https://t.example.cn/{s}/{z}/{x}/{y}.png", "host name"),
    ] {
        let db = TestDb::new().await;
        let mut args = ServeArgs::for_store(&db.url, "127.0.0.1:0".parse().unwrap());
        args.seed = false;
        args.basemap.url = Some(url.into());
        let err = match yizhan::startup::Application::build(args).await {
            Ok(_) => panic!("{url} was accepted"),
            Err(e) => format!("{e:#}"),
        };
        assert!(
            err.contains("--basemap-url") && err.contains(why),
            "{url}: {err}"
        );
    }
}
