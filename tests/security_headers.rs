//! Security headers on every kind of response: API JSON, every error path (400, 401, 404,
//! 405, 413, the API catch-all), the OpenAPI document, `/metrics`, `/healthz`, the web app's
//! files and its 404s. HSTS only when the request came over https through a trusted proxy, or
//! with `--hsts always`.

mod common;

use common::*;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use yizhan::config::{Hsts, ServeArgs};
use yizhan::http::headers::{CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY};

/// One request of each kind: (what, method, path, body, expected status).
fn representative_requests() -> Vec<(&'static str, Method, String, Option<String>, StatusCode)> {
    let (lon, lat) = NANCHANG;
    let too_large = format!(
        "{{\"login\":\"{}\",\"password\":\"x\"}}",
        "a".repeat(70 * 1024)
    );
    vec![
        (
            "API JSON",
            Method::GET,
            format!("/api/v1/stations/nearest?lat={lat}&lon={lon}&limit=2"),
            None,
            StatusCode::OK,
        ),
        (
            "GeoJSON",
            Method::GET,
            "/api/v1/stations?bbox=115.8,28.6,116.0,28.8&limit=5".into(),
            None,
            StatusCode::OK,
        ),
        (
            "400",
            Method::GET,
            "/api/v1/stations/nearest?lat=999&lon=115".into(),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            "401",
            Method::GET,
            "/api/v1/auth/me".into(),
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "404 of a station",
            Method::GET,
            "/api/v1/stations/987654321".into(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            "API catch-all",
            Method::GET,
            "/api/v1/no-such-thing".into(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            "bare /api",
            Method::POST,
            "/api".into(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            "405",
            Method::DELETE,
            "/healthz".into(),
            None,
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "413",
            Method::POST,
            "/api/v1/auth/login".into(),
            Some(too_large),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "OpenAPI document",
            Method::GET,
            "/api/openapi.json".into(),
            None,
            StatusCode::OK,
        ),
        (
            "metrics",
            Method::GET,
            "/metrics".into(),
            None,
            StatusCode::OK,
        ),
        (
            "healthz",
            Method::GET,
            "/healthz".into(),
            None,
            StatusCode::OK,
        ),
        (
            "web app page",
            Method::GET,
            "/".into(),
            None,
            StatusCode::OK,
        ),
        (
            "web app script",
            Method::GET,
            "/js/app.js".into(),
            None,
            StatusCode::OK,
        ),
        (
            "vendored stylesheet",
            Method::GET,
            "/vendor/leaflet/leaflet.css".into(),
            None,
            StatusCode::OK,
        ),
        (
            "icon",
            Method::GET,
            "/icons/icon-192.png".into(),
            None,
            StatusCode::OK,
        ),
        (
            "manifest",
            Method::GET,
            "/manifest.webmanifest".into(),
            None,
            StatusCode::OK,
        ),
        (
            "web 404 in a served folder",
            Method::GET,
            "/js/no-such-module.js".into(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            "web 404 outside the served files",
            Method::GET,
            "/package.json".into(),
            None,
            StatusCode::NOT_FOUND,
        ),
    ]
}

/// Sends every representative request (with `extra` headers) and checks each reply's headers
/// with `check`.
async fn for_every_kind(app: &TestApp, extra: &[(&str, &str)], check: impl Fn(&str, &HeaderMap)) {
    for (what, method, path, body, status) in representative_requests() {
        let mut req = app.client.request(method.clone(), app.url(&path));
        for (name, value) in extra {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body);
        }
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: {method} {path}: {e}"));
        assert_eq!(res.status(), status, "{what}: {method} {path}");
        check(what, res.headers());
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .map(|v| v.to_str().expect("an ASCII header"))
}

fn assert_always_present(what: &str, h: &HeaderMap) {
    assert_eq!(
        header(h, "content-security-policy"),
        Some(CONTENT_SECURITY_POLICY),
        "{what}"
    );
    assert_eq!(
        header(h, "x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        header(h, "referrer-policy"),
        Some(REFERRER_POLICY),
        "{what}"
    );
    assert_eq!(header(h, "x-frame-options"), Some("DENY"), "{what}");
    for name in [
        "content-security-policy",
        "x-content-type-options",
        "referrer-policy",
        "x-frame-options",
    ] {
        assert_eq!(h.get_all(name).iter().count(), 1, "{what}: one {name}");
    }
}

async fn app_with(trusted: &[&str], hsts: Hsts) -> TestApp {
    let trusted: Vec<_> = trusted.iter().map(|t| t.parse().unwrap()).collect();
    spawn_app_with(move |a: &mut ServeArgs| {
        a.trusted_proxies = trusted;
        a.hsts = hsts;
    })
    .await
}

#[tokio::test]
async fn every_route_kind_carries_the_security_headers_and_no_hsts_over_http() {
    let app = app_with(&["127.0.0.1/32"], Hsts::Auto).await;
    for_every_kind(&app, &[], |what, h| {
        assert_always_present(what, h);
        assert!(
            h.get("strict-transport-security").is_none(),
            "{what}: HSTS over plain http"
        );
    })
    .await;
}

#[tokio::test]
async fn hsts_when_a_trusted_proxy_says_https() {
    let app = app_with(&["127.0.0.1/32"], Hsts::Auto).await;
    for_every_kind(&app, &[("x-forwarded-proto", "https")], |what, h| {
        assert_always_present(what, h);
        assert_eq!(
            header(h, "strict-transport-security"),
            Some(STRICT_TRANSPORT_SECURITY),
            "{what}"
        );
    })
    .await;
    // The first entry is the client-facing hop: http there is http, whatever came after.
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-forwarded-proto", "http, https")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("strict-transport-security").is_none());
}

#[tokio::test]
async fn forwarded_proto_from_an_untrusted_peer_gives_no_hsts() {
    for trusted in [&[][..], &["10.0.0.0/8"][..]] {
        let app = app_with(trusted, Hsts::Auto).await;
        for_every_kind(&app, &[("x-forwarded-proto", "https")], |what, h| {
            assert_always_present(what, h);
            assert!(
                h.get("strict-transport-security").is_none(),
                "{what}: HSTS on the word of an untrusted peer ({trusted:?})"
            );
        })
        .await;
    }
}

#[tokio::test]
async fn hsts_always_and_never_override_the_request() {
    let always = app_with(&[], Hsts::Always).await;
    for_every_kind(&always, &[], |what, h| {
        assert_eq!(
            header(h, "strict-transport-security"),
            Some(STRICT_TRANSPORT_SECURITY),
            "{what}"
        );
    })
    .await;
    let never = app_with(&["127.0.0.1/32"], Hsts::Never).await;
    for_every_kind(&never, &[("x-forwarded-proto", "https")], |what, h| {
        assert_always_present(what, h);
        assert!(h.get("strict-transport-security").is_none(), "{what}");
    })
    .await;
}

/// `web/index.html` states its own policy in a `<meta>` tag (it also applies when the files
/// are served by something else); the header must say the same, plus what only a header can
/// say (`frame-ancestors`), so neither is stricter than the page was tested with.
#[test]
fn the_header_policy_is_the_web_apps_own() {
    let html = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/web/index.html"))
        .expect("reading web/index.html");
    let marker = "http-equiv=\"Content-Security-Policy\" content=\"";
    let start = html.find(marker).expect("a CSP meta tag in index.html") + marker.len();
    let meta = &html[start..start + html[start..].find('"').expect("the end of the tag")];
    let directives = |policy: &str| -> Vec<String> {
        let mut d: Vec<String> = policy
            .split(';')
            .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|d| !d.is_empty())
            .collect();
        d.sort();
        d
    };
    let mut from_meta = directives(meta);
    from_meta.push("frame-ancestors 'none'".into());
    from_meta.sort();
    assert_eq!(directives(CONTENT_SECURITY_POLICY), from_meta);
    // No external origin anywhere: the web app needs no CDN, tile server or web font.
    assert!(
        !CONTENT_SECURITY_POLICY.contains("http") && !CONTENT_SECURITY_POLICY.contains('*'),
        "{CONTENT_SECURITY_POLICY}"
    );
}
