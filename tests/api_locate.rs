//! Positions from client IPs: `GET /api/v1/locate` and nearest without lat/lon, with a small
//! MaxMind City database written by the test (crate `mmdb-writer`).

mod common;

use common::*;
use mmdb_writer::ipnet::IpNet;
use mmdb_writer::{Value as Mmdb, Writer};
use reqwest::StatusCode;
use serde_json::Value;
use std::path::PathBuf;
use yizhan::config::ServeArgs;

/// Where the test database puts 81.2.69.0/24 (Nanchang) and 2001:db8:1::/48 (Ganzhou).
const NANCHANG_IP: &str = "81.2.69.160";
const NANCHANG_POS: (f64, f64) = (115.8922, 28.6765);
const GANZHOU_IP: &str = "2001:db8:1::7";
const GANZHOU_POS: (f64, f64) = (114.9350, 25.8452);
/// In the database, but only with a country: no position.
const COUNTRY_ONLY_IP: &str = "81.2.70.5";
/// Not in the database at all.
const UNMAPPED_IP: &str = "8.8.8.8";

fn city(name: &str, (lon, lat): (f64, f64), radius_km: u16) -> Mmdb {
    Mmdb::map([
        (
            "city",
            Mmdb::map([("names", Mmdb::map([("en", Mmdb::from(name))]))]),
        ),
        ("country", Mmdb::map([("iso_code", Mmdb::from("CN"))])),
        (
            "location",
            Mmdb::map([
                ("latitude", Mmdb::from(lat)),
                ("longitude", Mmdb::from(lon)),
                ("accuracy_radius", Mmdb::from(radius_km)),
                ("time_zone", Mmdb::from("Asia/Shanghai")),
            ]),
        ),
    ])
}

/// Writes a City-shaped MaxMind database into `dir`.
fn write_geoip_db(dir: &std::path::Path) -> PathBuf {
    let mut w = Writer::new("GeoIP2-City");
    let net = |s: &str| s.parse::<IpNet>().expect("a network");
    w.insert_value(net("81.2.69.0/24"), city("Nanchang", NANCHANG_POS, 20))
        .expect("insert Nanchang");
    w.insert_value(net("2001:db8:1::/48"), city("Ganzhou", GANZHOU_POS, 50))
        .expect("insert Ganzhou");
    w.insert_value(
        net("81.2.70.0/24"),
        Mmdb::map([("country", Mmdb::map([("iso_code", Mmdb::from("GB"))]))]),
    )
    .expect("insert country-only");
    let path = dir.join("test-city.mmdb");
    std::fs::write(&path, w.to_bytes().expect("serialising the mmdb")).expect("writing the mmdb");
    path
}

/// An app with the test GeoIP database, trusting `trusted` as proxies.
async fn app_with_geoip(trusted: &[&str]) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = write_geoip_db(dir.path());
    let trusted: Vec<IpNet> = trusted.iter().map(|t| t.parse().unwrap()).collect();
    let app = spawn_app_with(move |a: &mut ServeArgs| {
        a.seed = false;
        a.geoip_db = Some(db);
        a.trusted_proxies = trusted;
    })
    .await;
    (app, dir)
}

async fn get_from(app: &TestApp, path: &str, forwarded_for: Option<&str>) -> (StatusCode, Value) {
    let mut req = app.client.get(app.url(path));
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    json_of(req.send().await.unwrap(), path).await
}

fn assert_position(body: &Value, (lon, lat): (f64, f64), radius: u64) {
    assert_eq!(body["source"], "ip", "{body}");
    assert!((body["lat"].as_f64().unwrap() - lat).abs() < 1e-9, "{body}");
    assert!((body["lon"].as_f64().unwrap() - lon).abs() < 1e-9, "{body}");
    assert_eq!(body["accuracy_km"].as_u64(), Some(radius), "{body}");
}

#[tokio::test]
async fn locate_uses_forwarded_for_from_a_trusted_proxy() {
    let (app, _dir) = app_with_geoip(&["127.0.0.1/32"]).await;
    let (status, body) = get_from(&app, "/api/v1/locate", Some(NANCHANG_IP)).await;
    assert_eq!(status, 200, "{body}");
    assert_position(&body, NANCHANG_POS, 20);

    // The right-most address that is not a trusted proxy is the client; the left part of the
    // header is whatever the client claimed.
    for chain in [
        format!("8.8.8.8, {NANCHANG_IP}"),
        format!("{NANCHANG_IP}, 127.0.0.1"),
    ] {
        let (status, body) = get_from(&app, "/api/v1/locate", Some(&chain)).await;
        assert_eq!(status, 200, "{chain}: {body}");
        assert_position(&body, NANCHANG_POS, 20);
    }

    let (status, body) = get_from(&app, "/api/v1/locate", Some(GANZHOU_IP)).await;
    assert_eq!(status, 200, "IPv6: {body}");
    assert_position(&body, GANZHOU_POS, 50);
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    for trusted in [&[][..], &["10.0.0.0/8"][..]] {
        let (app, _dir) = app_with_geoip(trusted).await;
        // The peer is 127.0.0.1, which the database does not know: 404, whatever the header says.
        let (status, body) = get_from(&app, "/api/v1/locate", Some(NANCHANG_IP)).await;
        assert_error(
            "spoofed X-Forwarded-For",
            status,
            &body,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("127.0.0.1"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn locate_without_a_geoip_database_gets_400() {
    let app = spawn_empty_app().await;
    let (status, body) = get_from(&app, "/api/v1/locate", None).await;
    assert_error(
        "no database",
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "geoip_unavailable",
    );
}

#[tokio::test]
async fn locate_of_an_unmapped_ip_gets_404() {
    let (app, _dir) = app_with_geoip(&["127.0.0.1/32"]).await;
    for ip in [UNMAPPED_IP, COUNTRY_ONLY_IP, "2001:db8:2::1"] {
        let (status, body) = get_from(&app, "/api/v1/locate", Some(ip)).await;
        assert_error(ip, status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    // A header that is not an address falls back to the peer (loopback, unknown).
    let (status, body) = get_from(&app, "/api/v1/locate", Some("not-an-ip")).await;
    assert_error("garbage", status, &body, StatusCode::NOT_FOUND, "not_found");
    // No header at all: the peer itself.
    let (status, body) = get_from(&app, "/api/v1/locate", None).await;
    assert_error(
        "no header",
        status,
        &body,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn nearest_without_lat_lon_uses_the_client_ip() {
    let (app, _dir) = app_with_geoip(&["127.0.0.1/32"]).await;
    app.add_stations(&[
        new_station("IP-FAR", point_at(NANCHANG_POS, 90.0, 3_000.0)),
        new_station("IP-NEAR", point_at(NANCHANG_POS, 270.0, 400.0)),
    ])
    .await;
    let (status, body) = get_from(
        &app,
        "/api/v1/stations/nearest?include=code",
        Some(NANCHANG_IP),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(codes(&body), ["IP-NEAR", "IP-FAR"]);
    let origin = &body["origin"];
    assert_eq!(origin["source"], "ip");
    assert_eq!(origin["accuracy_km"], 20);
    assert!((origin["lat"].as_f64().unwrap() - NANCHANG_POS.1).abs() < 1e-7);
    assert!((origin["lon"].as_f64().unwrap() - NANCHANG_POS.0).abs() < 1e-7);
    let d = body["items"][0]["distance_m"].as_f64().unwrap();
    assert!((d - 400.0).abs() <= 0.1, "{d}");

    // With lat/lon the query wins and the source says so.
    let (_, body) = get_from(
        &app,
        "/api/v1/stations/nearest?lat=28.68&lon=115.89",
        Some(NANCHANG_IP),
    )
    .await;
    assert_eq!(body["origin"]["source"], "query");
    assert!(body["origin"]["accuracy_km"].is_null(), "{body}");
}

#[tokio::test]
async fn nearest_without_lat_lon_and_no_position_is_a_clear_error() {
    let (app, _dir) = app_with_geoip(&["127.0.0.1/32"]).await;
    let (status, body) = get_from(&app, "/api/v1/stations/nearest", Some(UNMAPPED_IP)).await;
    assert_error(
        "unmapped",
        status,
        &body,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    let plain = spawn_empty_app().await;
    let (status, body) = get_from(&plain, "/api/v1/stations/nearest", None).await;
    assert_error(
        "no database",
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "geoip_unavailable",
    );
}

#[tokio::test]
async fn a_missing_geoip_database_stops_the_start() {
    let db = TestDb::new().await;
    let mut args = ServeArgs::for_store(&db.url, "127.0.0.1:0".parse().unwrap());
    args.seed = false;
    args.geoip_db = Some(PathBuf::from("/nonexistent/GeoLite2-City.mmdb"));
    let err = match yizhan::startup::Application::build(args).await {
        Ok(_) => panic!("a missing GeoIP database must stop the start"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("/nonexistent/GeoLite2-City.mmdb"), "{err}");
}

/// A dual-stack listener sees the IPv4 proxy as `::ffff:127.0.0.1`; an IPv4 `--trusted-proxy`
/// must still match it.
#[tokio::test]
async fn trusted_proxy_matches_on_a_dual_stack_listener() {
    if std::net::TcpListener::bind("[::]:0").is_err() {
        eprintln!("no IPv6 on this machine: the dual-stack listener cannot be tested here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = write_geoip_db(dir.path());
    let app = spawn_app_with(move |a: &mut ServeArgs| {
        a.seed = false;
        a.geoip_db = Some(db);
        a.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        a.listen = "[::]:0".parse().unwrap();
    })
    .await;
    // Connect over IPv4 to the [::] listener.
    let url = format!("http://127.0.0.1:{}/api/v1/locate", app.addr.port());
    let res = app
        .client
        .get(&url)
        .header("x-forwarded-for", NANCHANG_IP)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res, "dual-stack locate").await;
    assert_eq!(status, 200, "{body}");
    assert_position(&body, NANCHANG_POS, 20);

    // Without the header the client is the proxy itself, reported as plain IPv4.
    let res = app.client.get(&url).send().await.unwrap();
    let (status, body) = json_of(res, "dual-stack, no header").await;
    assert_eq!(status, 404, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("127.0.0.1") && !message.contains("::ffff"),
        "{message}"
    );
}

#[tokio::test]
async fn client_config_says_the_page_may_ask_locate_only_with_a_geoip_database() {
    let (app, _dir) = app_with_geoip(&[]).await;
    let (status, body) = app.get_json("/api/v1/client-config").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["geoip"], true, "{body}");
    let plain = spawn_app_with(|a: &mut ServeArgs| a.seed = false).await;
    let (status, body) = plain.get_json("/api/v1/client-config").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["geoip"], false, "{body}");
    // And it would have been a 400 there.
    let (status, _) = plain.get_json("/api/v1/locate").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
