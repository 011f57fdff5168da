//! `GET /api/v1/stations/nearest` over a real socket: the contract in DESIGN.md.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use yizhan::domain::NewStation;

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {v}"))
}

/// Five stations due east of Nanchang at known geodesic distances, with different amenities.
async fn five_stations_east(app: &TestApp) -> Vec<(String, f64)> {
    let spec: [(&str, f64, &[&str]); 5] = [
        ("E-0300", 300.0, &["water", "toilet"]),
        ("E-0800", 800.0, &["microwave", "toilet", "water"]),
        ("E-1500", 1_500.0, &["microwave"]),
        ("E-2500", 2_500.0, &["microwave", "toilet"]),
        ("E-4000", 4_000.0, &["microwave", "toilet", "wifi"]),
    ];
    // Insert out of distance order so the sort is the API's, not the insert order's.
    let mut stations: Vec<NewStation> = spec
        .iter()
        .rev()
        .map(|(code, d, keys)| NewStation {
            amenities: amenities(keys),
            ..new_station(code, point_at(NANCHANG, 90.0, *d))
        })
        .collect();
    stations.rotate_left(2);
    app.add_stations(&stations).await;
    spec.iter().map(|(c, d, _)| (c.to_string(), *d)).collect()
}

fn nearest_url(origin: (f64, f64), extra: &str) -> String {
    format!(
        "/api/v1/stations/nearest?lat={}&lon={}{extra}",
        origin.1, origin.0
    )
}

/// [`nearest_url`] with the station codes the assertions name stations by.
fn coded_url(origin: (f64, f64), extra: &str) -> String {
    nearest_url(origin, &format!("{extra}&include=code"))
}

#[tokio::test]
async fn nearest_sorts_by_distance_and_filters_amenities() {
    let app = spawn_empty_app().await;
    let placed = five_stations_east(&app).await;

    let (status, body) = app.get_json(&coded_url(NANCHANG, "&limit=10")).await;
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().expect("items");
    assert_eq!(
        codes(&body),
        placed.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>()
    );
    for (item, (_, d)) in items.iter().zip(&placed) {
        assert!(
            (f(item, "distance_m") - d).abs() <= 0.1,
            "distance_m {} for a station placed at {d} m",
            item["distance_m"]
        );
    }
    let distances: Vec<f64> = items.iter().map(|i| f(i, "distance_m")).collect();
    assert!(distances.windows(2).all(|w| w[0] <= w[1]), "{distances:?}");

    // All of the amenities, not any of them.
    let (status, body) = app
        .get_json(&coded_url(NANCHANG, "&limit=10&amenities=microwave,toilet"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(codes(&body), ["E-0800", "E-2500", "E-4000"]);
    for item in body["items"].as_array().unwrap() {
        let keys: Vec<&str> = item["amenities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(
            keys.contains(&"microwave") && keys.contains(&"toilet"),
            "{item}"
        );
    }

    // Spaces around keys are tolerated, as are empty entries.
    let (_, spaced) = app
        .get_json(&coded_url(NANCHANG, "&limit=10&amenities=%20wifi%20,"))
        .await;
    assert_eq!(codes(&spaced), ["E-4000"]);
}

#[tokio::test]
async fn nearest_reply_has_the_contract_fields() {
    let app = spawn_empty_app().await;
    let ids = app
        .add_stations(&[NewStation {
            amenities: amenities(&["water"]),
            phone: Some("0791-12345678".into()),
            ..new_station("SHAPE-1", point_at(NANCHANG, 45.0, 250.0))
        }])
        .await;

    let (status, body) = app.get_json(&coded_url(NANCHANG, "")).await;
    assert_eq!(status, 200, "{body}");
    let item = &body["items"][0];
    assert_eq!(item["id"], ids[0]);
    assert_eq!(item["code"], "SHAPE-1");
    assert_eq!(item["name"], "测试驿站 SHAPE-1");
    for key in ["lat", "lon", "distance_m", "minutes"] {
        assert!(item[key].is_number(), "{key} in {item}");
    }
    assert_eq!(item["amenities"], serde_json::json!(["water"]));
    assert_eq!(item["open_now"], true);
    assert_eq!(item["opening_hours"], "24/7");
    assert_eq!(item["demo"], false);
    assert_eq!(item["phone"], "0791-12345678");
    assert_eq!(body["origin"]["source"], "query");
    assert_eq!(f(&body["origin"], "lat"), NANCHANG.1);
    assert_eq!(f(&body["origin"], "lon"), NANCHANG.0);
    assert_eq!(body["mode"], "walk");
    assert_eq!(body["crs"], "wgs84");
}

#[tokio::test]
async fn nearest_returns_at_most_limit_and_defaults_to_five() {
    let app = spawn_empty_app().await;
    let stations: Vec<NewStation> = (0..12)
        .map(|i| {
            new_station(
                &format!("L-{i:02}"),
                point_at(NANCHANG, 30.0 * i as f64, 100.0 + 50.0 * i as f64),
            )
        })
        .collect();
    app.add_stations(&stations).await;

    let (_, body) = app.get_json(&coded_url(NANCHANG, "")).await;
    assert_eq!(codes(&body), ["L-00", "L-01", "L-02", "L-03", "L-04"]);
    let (_, body) = app.get_json(&coded_url(NANCHANG, "&limit=1")).await;
    assert_eq!(codes(&body), ["L-00"]);
    let (status, body) = app.get_json(&coded_url(NANCHANG, "&limit=100")).await;
    assert_eq!(status, 200);
    assert_eq!(
        codes(&body).len(),
        12,
        "fewer stations than the limit: all of them"
    );
}

#[tokio::test]
async fn nearest_on_an_empty_store_is_an_empty_list() {
    let app = spawn_empty_app().await;
    let (status, body) = app.get_json(&nearest_url(NANCHANG, "")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"], serde_json::json!([]));
}

#[tokio::test]
async fn nearest_open_now_skips_closed_stations() {
    let app = spawn_empty_app().await;
    let spec = [
        ("NEVER-1", 100.0, "off"),
        ("ALWAYS-247", 200.0, "24/7"),
        ("NEVER-2", 300.0, "Mo-Su off"),
        // Always open too, but through the schedule evaluator rather than the 24/7 shortcut.
        ("ALWAYS-RANGE", 400.0, "Mo-Su 00:00-24:00"),
        ("NEVER-3", 500.0, "2000 Jan 01 10:00-11:00"),
    ];
    let stations: Vec<NewStation> = spec
        .iter()
        .map(|(code, d, h)| NewStation {
            opening_hours: hours(h),
            ..new_station(code, point_at(NANCHANG, 0.0, *d))
        })
        .collect();
    app.add_stations(&stations).await;

    let (_, all) = app.get_json(&coded_url(NANCHANG, "&limit=10")).await;
    assert_eq!(
        codes(&all),
        [
            "NEVER-1",
            "ALWAYS-247",
            "NEVER-2",
            "ALWAYS-RANGE",
            "NEVER-3"
        ]
    );
    let flags: Vec<bool> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["open_now"].as_bool().unwrap())
        .collect();
    assert_eq!(flags, [false, true, false, true, false]);

    for on in ["true", "1"] {
        let (status, open) = app
            .get_json(&coded_url(NANCHANG, &format!("&limit=10&open_now={on}")))
            .await;
        assert_eq!(status, 200, "{open}");
        assert_eq!(
            codes(&open),
            ["ALWAYS-247", "ALWAYS-RANGE"],
            "open_now={on}"
        );
    }
    let (_, off) = app
        .get_json(&coded_url(NANCHANG, "&limit=10&open_now=false"))
        .await;
    assert_eq!(codes(&off).len(), 5);
}

#[tokio::test]
async fn nearest_max_minutes_reach_depends_on_mode() {
    let app = spawn_empty_app().await;
    let placed = five_stations_east(&app).await;
    let reach = |kmh: f64, minutes: f64| minutes * kmh * 1000.0 / 60.0 / 1.3;
    // 15 minutes: on foot 4.5 km/h → 865 m straight line; by e-bike 15 km/h → 2885 m.
    for (mode, kmh) in [("walk", 4.5), ("ebike", 15.0)] {
        let (status, body) = app
            .get_json(&coded_url(
                NANCHANG,
                &format!("&limit=10&mode={mode}&max_minutes=15"),
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        let want: Vec<String> = placed
            .iter()
            .filter(|(_, d)| *d <= reach(kmh, 15.0))
            .map(|(c, _)| c.clone())
            .collect();
        assert_eq!(codes(&body), want, "mode {mode}");
        assert_eq!(body["mode"], mode);
        for item in body["items"].as_array().unwrap() {
            assert!(f(item, "minutes") <= 15.0, "{item}");
        }
    }
    let (_, walk) = app
        .get_json(&coded_url(NANCHANG, "&mode=walk&max_minutes=15"))
        .await;
    assert_eq!(codes(&walk), ["E-0300", "E-0800"]);
    let (_, ebike) = app
        .get_json(&coded_url(NANCHANG, "&mode=ebike&max_minutes=15"))
        .await;
    assert_eq!(codes(&ebike), ["E-0300", "E-0800", "E-1500", "E-2500"]);
    // Fractional minutes are accepted.
    let (status, tight) = app.get_json(&coded_url(NANCHANG, "&max_minutes=5.5")).await;
    assert_eq!(status, 200);
    assert_eq!(codes(&tight), ["E-0300"]);
}

#[tokio::test]
async fn nearest_minutes_are_distance_times_detour_over_speed() {
    let app = spawn_empty_app().await;
    five_stations_east(&app).await;
    for (mode, kmh) in [("walk", 4.5), ("ebike", 15.0)] {
        let (_, body) = app
            .get_json(&nearest_url(NANCHANG, &format!("&limit=10&mode={mode}")))
            .await;
        for item in body["items"].as_array().unwrap() {
            let want = f(item, "distance_m") * 1.3 / (kmh * 1000.0 / 60.0);
            assert!(
                (f(item, "minutes") - want).abs() <= 0.051,
                "{mode}: minutes {} for {} m, want {want:.2}",
                item["minutes"],
                item["distance_m"]
            );
        }
    }
    // The official 15-minute circle: 1 km on foot is about 17.3 minutes with the detour.
    let (_, body) = app.get_json(&nearest_url(NANCHANG, "&limit=10")).await;
    let at_800 = &body["items"][1];
    assert!((f(at_800, "minutes") - 13.9).abs() <= 0.05, "{at_800}");
}

#[tokio::test]
async fn travel_model_is_configurable() {
    let app = spawn_app_with(|a| {
        a.seed = false;
        a.travel.walk_kmh = 6.0;
        a.travel.ebike_kmh = 20.0;
        a.travel.detour = 1.0;
    })
    .await;
    app.add_stations(&[new_station("CFG-1", point_at(NANCHANG, 180.0, 1_000.0))])
        .await;
    let (_, walk) = app.get_json(&nearest_url(NANCHANG, "")).await;
    assert!(
        (f(&walk["items"][0], "minutes") - 10.0).abs() <= 0.05,
        "{walk}"
    );
    let (_, ebike) = app.get_json(&nearest_url(NANCHANG, "&mode=ebike")).await;
    assert!(
        (f(&ebike["items"][0], "minutes") - 3.0).abs() <= 0.05,
        "{ebike}"
    );
    let (_, capped) = app.get_json(&coded_url(NANCHANG, "&max_minutes=9.9")).await;
    assert_eq!(codes(&capped), Vec::<String>::new());
}

#[tokio::test]
async fn nearest_in_gcj02_converts_input_and_output() {
    let app = spawn_empty_app().await;
    let wgs = point_at(NANCHANG, 120.0, 600.0);
    app.add_stations(&[new_station("GCJ-1", wgs)]).await;

    // A client speaking GCJ-02 (Amap, WeChat) sends the GCJ-02 coordinates of the station itself.
    let (glon, glat) = coordtransform::wgs84_to_gcj02(wgs.0, wgs.1);
    let (status, body) = app
        .get_json(&format!(
            "/api/v1/stations/nearest?lat={glat}&lon={glon}&crs=gcj02"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["crs"], "gcj02");
    let item = &body["items"][0];
    assert!(
        f(item, "distance_m") < 0.5,
        "the station is where the client stands: {item}"
    );
    // Out: the station and the origin are in GCJ-02 too.
    assert!((f(item, "lon") - glon).abs() < 2e-7 && (f(item, "lat") - glat).abs() < 2e-7);
    assert!((f(&body["origin"], "lon") - glon).abs() < 2e-7);
    assert!((f(&body["origin"], "lat") - glat).abs() < 2e-7);

    // Sending the same numbers as WGS-84 lands hundreds of metres away: the crs matters.
    let (_, as_wgs) = app
        .get_json(&format!("/api/v1/stations/nearest?lat={glat}&lon={glon}"))
        .await;
    let shift = f(&as_wgs["items"][0], "distance_m");
    assert!(
        shift > 100.0,
        "GCJ-02 offset in Jiangxi is hundreds of metres, got {shift}"
    );

    // BD-09 too.
    let (glon2, glat2) = coordtransform::wgs84_to_gcj02(wgs.0, wgs.1);
    let (blon, blat) = coordtransform::gcj02_to_bd09(glon2, glat2);
    let (_, bd) = app
        .get_json(&format!(
            "/api/v1/stations/nearest?lat={blat}&lon={blon}&crs=bd09"
        ))
        .await;
    assert_eq!(bd["crs"], "bd09");
    assert!(f(&bd["items"][0], "distance_m") < 0.5, "{bd}");
    assert!((f(&bd["items"][0], "lon") - blon).abs() < 2e-7);
}

#[tokio::test]
async fn nearest_items_carry_navigation_links_in_each_apps_datum() {
    let app = spawn_empty_app().await;
    let wgs = point_at(NANCHANG, 200.0, 700.0);
    app.add_stations(&[new_station("NAV-1", wgs)]).await;
    let (_, body) = app
        .get_json(&nearest_url(NANCHANG, "&mode=ebike&include=nav"))
        .await;
    let nav = &body["items"][0]["nav"];
    let amap = nav["amap"].as_str().expect("amap link");
    let baidu = nav["baidu"].as_str().expect("baidu link");
    let tencent = nav["tencent"].as_str().expect("tencent link");

    let (glon, glat) = coordtransform::wgs84_to_gcj02(wgs.0, wgs.1);
    let (blon, blat) = coordtransform::gcj02_to_bd09(glon, glat);
    assert!(
        amap.starts_with("https://uri.amap.com/navigation?"),
        "{amap}"
    );
    assert!(amap.contains(&format!("to={glon:.6},{glat:.6},")), "{amap}");
    assert!(amap.contains("mode=ride"), "{amap}");
    assert!(
        baidu.starts_with("https://api.map.baidu.com/direction?"),
        "{baidu}"
    );
    assert!(
        baidu.contains(&format!("destination=latlng:{blat:.6},{blon:.6}")),
        "{baidu}"
    );
    assert!(baidu.contains("coord_type=bd09ll"), "{baidu}");
    assert!(
        tencent.starts_with("https://apis.map.qq.com/uri/v1/routeplan?"),
        "{tencent}"
    );
    assert!(
        tencent.contains(&format!("tocoord={glat:.6},{glon:.6}")),
        "{tencent}"
    );
    // The name is percent-encoded, never raw.
    assert!(!amap.contains("测试") && amap.contains("NAV"), "{amap}");
}

#[tokio::test]
async fn nearest_ties_are_broken_by_id() {
    let app = spawn_empty_app().await;
    let spot = point_at(NANCHANG, 10.0, 333.0);
    let ids = app
        .add_stations(&[
            new_station("TIE-A", spot),
            new_station("TIE-B", spot),
            new_station("TIE-C", spot),
        ])
        .await;
    let (_, body) = app.get_json(&nearest_url(NANCHANG, "&limit=2")).await;
    let got: Vec<i64> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, ids[..2]);
}

/// The issue's own example against the shipped demo data, checked against a brute-force scan.
#[tokio::test]
async fn seeded_demo_answers_the_riders_example_like_a_brute_force_scan() {
    let app = spawn_app().await;
    let n = app.count().await;
    assert!(
        n > 4_500,
        "the demo seed is loaded on an empty store, got {n}"
    );

    let (status, body) = app
        .get_json(
            "/api/v1/stations/nearest?lat=28.68&lon=115.89&limit=5&amenities=microwave,toilet&open_now=true&mode=walk",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().unwrap();
    assert!(items.len() <= 5);
    for item in items {
        assert_eq!(item["open_now"], true, "{item}");
        assert_eq!(item["demo"], true, "{item}");
        assert!(item["name"].as_str().unwrap().starts_with("（示例）"));
    }

    // Without open_now the answer does not depend on the clock: compare with a scan.
    let (_, body) = app
        .get_json(
            "/api/v1/stations/nearest?lat=28.68&lon=115.89&limit=20&amenities=microwave,toilet",
        )
        .await;
    let want_amenities = amenities(&["microwave", "toilet"]);
    let mut scan: Vec<(f64, i64)> = app
        .store
        .load_stations()
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.amenities.contains_all(want_amenities))
        .map(|s| (distance_m(NANCHANG, (s.location.lon, s.location.lat)), s.id))
        .collect();
    scan.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let got: Vec<(f64, i64)> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (f(i, "distance_m"), i["id"].as_i64().unwrap()))
        .collect();
    assert_eq!(got.len(), 20);
    for (i, ((gd, gid), (sd, sid))) in got.iter().zip(&scan).enumerate() {
        assert!((gd - sd).abs() <= 0.051, "#{i}: {gd} vs scan {sd}");
        if gid != sid {
            assert!((gd - sd).abs() <= 0.1, "#{i}: id {gid} vs scan {sid}");
        }
    }
}

#[tokio::test]
async fn navigation_links_only_when_included_and_unknown_includes_are_refused() {
    let app = spawn_empty_app().await;
    app.add_stations(&[new_station("NAV-2", point_at(NANCHANG, 10.0, 300.0))])
        .await;
    let (status, body) = app.get_json(&nearest_url(NANCHANG, "")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let item = body["items"][0].as_object().expect("an item");
    assert!(!item.contains_key("nav"), "{body}");
    // Optional members without a value are left out, not null; code and county only on request.
    for absent in [
        "temporary_closure",
        "photo_url",
        "verified_at",
        "code",
        "county",
    ] {
        assert!(!item.contains_key(absent), "{absent}: {body}");
    }
    assert!(!body["origin"]
        .as_object()
        .expect("origin")
        .contains_key("accuracy_km"));
    let (status, body) = app
        .get_json(&nearest_url(NANCHANG, "&include=nav,nav"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["items"][0]["nav"]["tencent"].is_string(), "{body}");
    let (status, body) = app
        .get_json(&nearest_url(NANCHANG, "&include=county"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"][0]["county"], "360102", "{body}");
    assert!(body["items"][0].get("nav").is_none(), "{body}");
    assert!(body["items"][0].get("code").is_none(), "{body}");
    let (status, body) = app
        .get_json(&nearest_url(NANCHANG, "&include=code,county"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"][0]["code"], "NAV-2", "{body}");
    assert_eq!(body["items"][0]["county"], "360102", "{body}");
    for bad in ["", "navs", "nav,", "nav,amenities", "NAV"] {
        let (status, body) = app
            .get_json(&nearest_url(NANCHANG, &format!("&include={bad}")))
            .await;
        assert_error(
            &format!("include={bad:?}"),
            status,
            &body,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        );
    }
}

/// What a rider's phone downloads per query: five stations of the demo seed (long Chinese
/// names and addresses, up to a dozen amenities each) fit in 2.5 KB before compression, at the
/// three cities and at 300 points spread over Jiangxi (a fixed sequence), the worst included.
#[tokio::test]
async fn five_station_reply_fits_in_two_and_a_half_kilobytes() {
    let app = spawn_app().await;
    let reply = |origin: (f64, f64), extra: &'static str| {
        let app = &app;
        async move {
            let res = app
                .get(&nearest_url(origin, &format!("&limit=5{extra}")))
                .await;
            assert_eq!(res.status(), StatusCode::OK);
            let bytes = res.bytes().await.expect("a body");
            let body: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
            assert_eq!(body["items"].as_array().map(Vec::len), Some(5), "{body}");
            (bytes.len(), body)
        }
    };
    for (what, origin) in [
        ("Nanchang", NANCHANG),
        ("Ganzhou", (114.935, 25.831)),
        ("Jiujiang", (116.0, 29.705)),
    ] {
        let (len, body) = reply(origin, "").await;
        assert!(len <= 2_500, "{what}: {len} bytes: {body}");
        let (with_nav, _) = reply(origin, "&include=nav").await;
        assert!(
            with_nav > len + 5 * 3 * 200,
            "{what}: nav adds the links: {with_nav}"
        );
    }
    // Jiangxi's bounding box, points from a fixed linear congruential sequence.
    let mut state: u64 = 0x5eed;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut sizes = Vec::with_capacity(300);
    for _ in 0..300 {
        let origin = (113.6 + 4.9 * next(), 24.5 + 5.6 * next());
        let (len, body) = reply(origin, "").await;
        assert!(len <= 2_500, "at {origin:?}: {len} bytes: {body}");
        sizes.push(len);
    }
    sizes.sort_unstable();
    // The figures of BENCHMARKS.md ("Nearest reply"): `cargo test --test api_nearest
    // five_station -- --nocapture`.
    eprintln!(
        "five-station replies over 300 points in Jiangxi: min {} B, median {} B, p90 {} B, max {} B",
        sizes[0], sizes[150], sizes[270], sizes[299]
    );
    // Not a degenerate sweep: the replies vary, and the largest come near the budget.
    assert!(sizes[299] > sizes[0] + 100, "{sizes:?}");
    assert!(sizes[299] > 2_000, "{sizes:?}");
}
