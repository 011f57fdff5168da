//! Rider problem reports (纠错) over HTTP, on the store `YIZHAN_TEST_STORE` names: anyone files,
//! the station's managers and admins list and resolve, nobody else sees them, and a report never
//! changes its station.

mod common;

use common::{assert_error, json_of, new_station, spawn_app_with, TestApp};
use reqwest::header::{AUTHORIZATION, CACHE_CONTROL, ETAG, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::{json, Value};
use yizhan::auth::hash_password;
use yizhan::config::ServeArgs;
use yizhan::domain::audit::Actor;
use yizhan::domain::report::NewReport;
use yizhan::domain::{Login, Role};

const PASSWORD: &str = "correct horse battery staple";

/// Two stations, A and B; a manager of each, an admin; everyone logged in.
struct World {
    app: TestApp,
    a: i64,
    b: i64,
    mgr_a: String,
    mgr_b: String,
    admin: String,
}

async fn world() -> World {
    world_with(|_| {}).await
}

async fn world_with(configure: impl FnOnce(&mut ServeArgs)) -> World {
    let app = spawn_app_with(|args| {
        args.seed = false;
        configure(args);
    })
    .await;
    let ids = app
        .add_stations(&[
            new_station("RPT-A", (115.89, 28.68)),
            new_station("RPT-B", (115.95, 28.70)),
        ])
        .await;
    add_account(&app, "mgr.a", Role::Manager, &["RPT-A"]).await;
    add_account(&app, "mgr.b", Role::Manager, &["RPT-B"]).await;
    add_account(&app, "admin", Role::Admin, &[]).await;
    let mgr_a = log_in(&app, "mgr.a").await;
    let mgr_b = log_in(&app, "mgr.b").await;
    let admin = log_in(&app, "admin").await;
    World {
        app,
        a: ids[0],
        b: ids[1],
        mgr_a,
        mgr_b,
        admin,
    }
}

/// Creates an account through the store, as `yizhan user add` does.
async fn add_account(app: &TestApp, login: &str, role: Role, codes: &[&str]) {
    let codes: Vec<String> = codes.iter().map(|c| c.to_string()).collect();
    app.store
        .create_account(
            &Login::new(login).unwrap(),
            &hash_password(PASSWORD).unwrap(),
            role,
            &codes,
        )
        .await
        .expect("creating a test account");
}

/// Logs in over HTTP and returns the bearer token.
async fn log_in(app: &TestApp, login: &str) -> String {
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "login": login, "password": PASSWORD }))
        .send()
        .await
        .expect("POST /api/v1/auth/login");
    let (status, body) = json_of(res, "login").await;
    assert_eq!(status, StatusCode::OK, "login of {login}: {body}");
    body["token"].as_str().unwrap().to_string()
}

/// A request, with a bearer token when one is given.
fn request(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut req = app.client.request(method, app.url(path));
    if let Some(t) = token {
        req = req.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    req
}

async fn send(req: reqwest::RequestBuilder, what: &str) -> (StatusCode, Value) {
    json_of(req.send().await.expect(what), what).await
}

/// Files a report anonymously.
async fn file(app: &TestApp, station: i64, body: &Value) -> (StatusCode, Value) {
    let path = format!("/api/v1/stations/{station}/reports");
    send(
        request(app, reqwest::Method::POST, &path, None).json(body),
        &format!("POST {path} {body}"),
    )
    .await
}

/// Files a report that must be accepted; returns its id.
async fn file_ok(app: &TestApp, station: i64, body: Value) -> i64 {
    let (status, reply) = file(app, station, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{body}: {reply}");
    reply["id"].as_i64().expect("a report id")
}

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    send(
        request(app, reqwest::Method::GET, path, token),
        &format!("GET {path}"),
    )
    .await
}

async fn resolve(
    app: &TestApp,
    station: i64,
    report: i64,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let path = format!("/api/v1/stations/{station}/reports/{report}");
    send(
        request(app, reqwest::Method::PATCH, &path, token).json(&body),
        &format!("PATCH {path}"),
    )
    .await
}

fn ids(list: &Value) -> Vec<i64> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {list}"))
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn anyone_files_a_report_and_sees_the_rounded_position_stored() {
    let w = world().await;
    let path = format!("/api/v1/stations/{}/reports", w.a);
    let res = w
        .app
        .client
        .post(w.app.url(&path))
        .json(&json!({
            "kind": "amenity_broken", "amenity": "hot_water",
            "note": "  热水器不出热水\n已经两天了 ", "lat": 28.682_49, "lon": 115.893_51
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers().get(CACHE_CONTROL).unwrap(),
        "no-store",
        "the reply carries a position"
    );
    let (status, r) = json_of(res, "POST report").await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert!(r["id"].as_i64().unwrap() > 0);
    assert!(r["created_at"]
        .as_str()
        .unwrap()
        .parse::<chrono::DateTime<chrono::Utc>>()
        .is_ok());
    let mut r = r;
    r.as_object_mut().unwrap().remove("id");
    r.as_object_mut().unwrap().remove("created_at");
    assert_eq!(
        r,
        json!({
            "station_id": w.a, "kind": "amenity_broken", "amenity": "hot_water",
            "note": "热水器不出热水\n已经两天了",
            "position": { "lat": 28.682, "lon": 115.894 },
            "status": "open", "resolved_at": null, "resolved_by": null, "resolution": null
        })
    );

    // The smallest report: a kind alone.
    let (status, r) = file(&w.app, w.b, &json!({ "kind": "closed" })).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(r["amenity"], Value::Null);
    assert_eq!(r["note"], Value::Null);
    assert_eq!(r["position"], Value::Null);

    // Explicit nulls mean "not given".
    let (status, r) = file(
        &w.app,
        w.b,
        &json!({ "kind": "other", "amenity": null, "note": null, "lat": null, "lon": null }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
}

#[tokio::test]
async fn invalid_reports_get_400_with_a_precise_code_and_are_not_stored() {
    let w = world().await;
    let long_note = "驿".repeat(501);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("bad kind", json!({ "kind": "on_fire" }), "invalid_kind"),
        ("no kind", json!({ "note": "x" }), "invalid_body"),
        (
            "amenity missing for amenity_broken",
            json!({ "kind": "amenity_broken" }),
            "amenity_required",
        ),
        (
            "unknown amenity",
            json!({ "kind": "amenity_broken", "amenity": "sauna" }),
            "unknown_amenity",
        ),
        (
            "amenity with another kind",
            json!({ "kind": "closed", "amenity": "water" }),
            "amenity_not_allowed",
        ),
        (
            "note too long",
            json!({ "kind": "other", "note": long_note }),
            "note_too_long",
        ),
        (
            "control character in note",
            json!({ "kind": "other", "note": "a\u{7}b" }),
            "invalid_note",
        ),
        (
            "only lat",
            json!({ "kind": "closed", "lat": 28.6 }),
            "invalid_position",
        ),
        (
            "only lon",
            json!({ "kind": "closed", "lon": 115.9 }),
            "invalid_position",
        ),
        (
            "lat out of range",
            json!({ "kind": "closed", "lat": 95.0, "lon": 115.9 }),
            "invalid_lat",
        ),
        (
            "lat as text",
            json!({ "kind": "closed", "lat": "28.6", "lon": 115.9 }),
            "invalid_body",
        ),
        (
            "unknown field",
            json!({ "kind": "closed", "station_id": 1 }),
            "invalid_body",
        ),
    ];
    for (what, body, code) in cases {
        let (status, reply) = file(&w.app, w.a, &body).await;
        assert_error(what, status, &reply, StatusCode::BAD_REQUEST, code);
    }
    // A 500-character note is fine.
    file_ok(
        &w.app,
        w.a,
        json!({ "kind": "other", "note": "驿".repeat(500) }),
    )
    .await;

    let res = w
        .app
        .client
        .post(w.app.url(&format!("/api/v1/stations/{}/reports", w.a)))
        .header("content-type", "application/json")
        .body("{\"kind\": ")
        .send()
        .await
        .unwrap();
    let (status, reply) = json_of(res, "truncated JSON").await;
    assert_error(
        "truncated JSON",
        status,
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_json",
    );

    let (status, list) = get(
        &w.app,
        &format!("/api/v1/stations/{}/reports?status=all", w.a),
        Some(&w.admin),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(
        ids(&list).len(),
        1,
        "only the valid report was stored: {list}"
    );
}

#[tokio::test]
async fn reports_about_unknown_or_retired_stations_get_404() {
    let w = world().await;
    let (status, body) = file(&w.app, 987_654, &json!({ "kind": "closed" })).await;
    assert_error(
        "unknown station",
        status,
        &body,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    w.app
        .store
        .retire_station(
            w.b,
            None,
            &Actor {
                account_id: None,
                login: "test".into(),
            },
        )
        .await
        .unwrap();
    let (status, body) = file(&w.app, w.b, &json!({ "kind": "closed" })).await;
    assert_error(
        "retired station",
        status,
        &body,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    let res = w
        .app
        .client
        .post(w.app.url("/api/v1/stations/abc/reports"))
        .json(&json!({ "kind": "closed" }))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res, "non-numeric id").await;
    assert_error(
        "non-numeric id",
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_id",
    );
}

#[tokio::test]
async fn too_many_reports_from_one_address_get_429_with_retry_after() {
    let w = world_with(|a| {
        a.report_rate_per_hour = 3;
        // Clients are told apart by X-Forwarded-For from this (trusted) local proxy.
        a.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let post = |xff: &'static str, body: Value| {
        let req = w
            .app
            .client
            .post(w.app.url(&format!("/api/v1/stations/{}/reports", w.a)))
            .header("x-forwarded-for", xff)
            .json(&body);
        async move { req.send().await.unwrap() }
    };
    for i in 0..3 {
        let res = post("203.0.113.5", json!({ "kind": "closed" })).await;
        assert_eq!(res.status(), StatusCode::CREATED, "report {i}");
        // Invalid reports cost no quota.
        let res = post("203.0.113.5", json!({ "kind": "nope" })).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
    let res = post("203.0.113.5", json!({ "kind": "other" })).await;
    let retry_after: u64 = res
        .headers()
        .get(RETRY_AFTER)
        .expect("a 429 says when to retry")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=3600).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    let (status, body) = json_of(res, "4th report").await;
    assert_error(
        "4th report",
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );

    // Another rider has their own quota; the same address is refused on every station.
    let res = post("198.51.100.7", json!({ "kind": "closed" })).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = w
        .app
        .client
        .post(w.app.url(&format!("/api/v1/stations/{}/reports", w.b)))
        .header("x-forwarded-for", "203.0.113.5")
        .json(&json!({ "kind": "closed" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);

    let (_, list) = get(&w.app, "/api/v1/reports", Some(&w.admin)).await;
    assert_eq!(ids(&list).len(), 4, "{list}");
}

#[tokio::test]
async fn the_manager_of_a_station_lists_and_resolves_its_reports() {
    let w = world().await;
    let first = file_ok(
        &w.app,
        w.a,
        json!({ "kind": "closed", "note": "下午三点锁门了", "lat": 28.6801, "lon": 115.8899 }),
    )
    .await;
    let second = file_ok(
        &w.app,
        w.a,
        json!({ "kind": "amenity_broken", "amenity": "microwave" }),
    )
    .await;
    let on_b = file_ok(&w.app, w.b, json!({ "kind": "wrong_location" })).await;

    // The station's list: open ones, newest first, with the reporter's position.
    let path_a = format!("/api/v1/stations/{}/reports", w.a);
    let res = request(&w.app, reqwest::Method::GET, &path_a, Some(&w.mgr_a))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers().get(CACHE_CONTROL).unwrap(), "no-store");
    let (status, list) = json_of(res, "GET A's reports").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(ids(&list), vec![second, first]);
    assert_eq!(
        list["items"][1]["position"],
        json!({ "lat": 28.68, "lon": 115.89 })
    );
    assert_eq!(list["items"][1]["note"], "下午三点锁门了");
    assert!(list["items"][0].get("station_code").is_none(), "{list}");

    // The inbox: only A's for A's manager, everything for the admin, with station code and name.
    let (status, inbox) = get(&w.app, "/api/v1/reports", Some(&w.mgr_a)).await;
    assert_eq!(status, StatusCode::OK, "{inbox}");
    assert_eq!(ids(&inbox), vec![second, first]);
    assert_eq!(inbox["items"][0]["station_code"], "RPT-A");
    assert_eq!(inbox["items"][0]["station_name"], "测试驿站 RPT-A");
    assert_eq!(inbox["items"][0]["station_id"], w.a);
    let (_, inbox) = get(&w.app, "/api/v1/reports", Some(&w.mgr_b)).await;
    assert_eq!(ids(&inbox), vec![on_b]);
    let (_, inbox) = get(&w.app, "/api/v1/reports?status=open", Some(&w.admin)).await;
    assert_eq!(ids(&inbox), vec![on_b, second, first]);

    // Resolve one.
    let (status, r) = resolve(
        &w.app,
        w.a,
        first,
        Some(&w.mgr_a),
        json!({ "status": "resolved", "resolution": "已和站点联系，营业时间已更正" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["id"], first);
    assert_eq!(r["status"], "resolved");
    assert_eq!(r["resolved_by"], "mgr.a");
    assert_eq!(r["resolution"], "已和站点联系，营业时间已更正");
    assert_eq!(r["kind"], "closed");
    assert_eq!(r["position"], json!({ "lat": 28.68, "lon": 115.89 }));
    let resolved_at: chrono::DateTime<chrono::Utc> =
        r["resolved_at"].as_str().unwrap().parse().unwrap();
    let created_at: chrono::DateTime<chrono::Utc> =
        r["created_at"].as_str().unwrap().parse().unwrap();
    assert!(resolved_at >= created_at);

    // Again: 409, and the first resolution stands.
    let (status, body) = resolve(
        &w.app,
        w.a,
        first,
        Some(&w.admin),
        json!({ "status": "resolved", "resolution": "second try" }),
    )
    .await;
    assert_error(
        "resolve twice",
        status,
        &body,
        StatusCode::CONFLICT,
        "already_resolved",
    );

    // The filters.
    let (_, open) = get(&w.app, &path_a, Some(&w.mgr_a)).await;
    assert_eq!(ids(&open), vec![second]);
    let (_, done) = get(&w.app, &format!("{path_a}?status=resolved"), Some(&w.mgr_a)).await;
    assert_eq!(ids(&done), vec![first]);
    assert_eq!(
        done["items"][0]["resolution"],
        "已和站点联系，营业时间已更正"
    );
    let (_, all) = get(&w.app, &format!("{path_a}?status=all"), Some(&w.mgr_a)).await;
    assert_eq!(ids(&all), vec![second, first]);
    let (_, inbox) = get(&w.app, "/api/v1/reports?status=resolved", Some(&w.admin)).await;
    assert_eq!(ids(&inbox), vec![first]);
    let (status, body) = get(&w.app, &format!("{path_a}?status=closed"), Some(&w.mgr_a)).await;
    assert_error(
        "bad filter",
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_status",
    );
    let (status, body) = get(&w.app, "/api/v1/reports?status=maybe", Some(&w.mgr_a)).await;
    assert_error(
        "bad filter",
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_status",
    );

    // Admins resolve anywhere.
    let (status, r) = resolve(
        &w.app,
        w.b,
        on_b,
        Some(&w.admin),
        json!({ "status": "resolved", "resolution": "位置已核实无误" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["resolved_by"], "admin");
}

#[tokio::test]
async fn other_managers_get_403_and_anonymous_callers_401() {
    let w = world().await;
    let rid = file_ok(
        &w.app,
        w.a,
        json!({ "kind": "closed", "lat": 28.68, "lon": 115.89 }),
    )
    .await;
    let list_a = format!("/api/v1/stations/{}/reports", w.a);
    let body = json!({ "status": "resolved", "resolution": "x" });

    let (status, reply) = get(&w.app, &list_a, Some(&w.mgr_b)).await;
    assert_error(
        "B lists A",
        status,
        &reply,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let (status, reply) = resolve(&w.app, w.a, rid, Some(&w.mgr_b), body.clone()).await;
    assert_error(
        "B resolves A's",
        status,
        &reply,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    let (status, reply) = get(&w.app, &list_a, None).await;
    assert_error(
        "anonymous list",
        status,
        &reply,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    let (status, reply) = get(&w.app, "/api/v1/reports", None).await;
    assert_error(
        "anonymous inbox",
        status,
        &reply,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    let (status, reply) = resolve(&w.app, w.a, rid, None, body.clone()).await;
    assert_error(
        "anonymous resolve",
        status,
        &reply,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    let (status, reply) = get(&w.app, &list_a, Some("not-a-real-session-token-000000")).await;
    assert_error(
        "bad token",
        status,
        &reply,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    // A manager's 403 does not reveal whether a station exists; an admin gets the 404.
    let (status, _) = get(&w.app, "/api/v1/stations/987654/reports", Some(&w.mgr_b)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, reply) = get(&w.app, "/api/v1/stations/987654/reports", Some(&w.admin)).await;
    assert_error(
        "admin, no station",
        status,
        &reply,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    // Nothing was resolved by the refused attempts.
    let (_, open) = get(&w.app, &list_a, Some(&w.mgr_a)).await;
    assert_eq!(ids(&open), vec![rid]);
}

#[tokio::test]
async fn a_report_is_resolved_only_under_its_own_station() {
    let w = world().await;
    let on_a = file_ok(&w.app, w.a, json!({ "kind": "closed" })).await;
    let on_b = file_ok(&w.app, w.b, json!({ "kind": "closed" })).await;
    let body = json!({ "status": "resolved", "resolution": "done" });

    // A's manager names their own station but B's report: no such report there.
    let (status, reply) = resolve(&w.app, w.a, on_b, Some(&w.mgr_a), body.clone()).await;
    assert_error(
        "B's report under A",
        status,
        &reply,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (status, reply) = resolve(&w.app, w.b, on_a, Some(&w.admin), body.clone()).await;
    assert_error(
        "A's report under B",
        status,
        &reply,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (status, reply) = resolve(&w.app, w.a, 987_654, Some(&w.admin), body.clone()).await;
    assert_error(
        "unknown report",
        status,
        &reply,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let path = format!("/api/v1/stations/{}/reports/xyz", w.a);
    let (status, reply) = send(
        request(&w.app, reqwest::Method::PATCH, &path, Some(&w.admin)).json(&body),
        "PATCH xyz",
    )
    .await;
    assert_error(
        "non-numeric rid",
        status,
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_id",
    );

    // Both are still open.
    let (_, inbox) = get(&w.app, "/api/v1/reports", Some(&w.admin)).await;
    assert_eq!(ids(&inbox), vec![on_b, on_a]);
}

#[tokio::test]
async fn resolving_needs_status_resolved_and_a_resolution() {
    let w = world().await;
    let rid = file_ok(&w.app, w.a, json!({ "kind": "other", "note": "?" })).await;
    let long = "x".repeat(501);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "no resolution",
            json!({ "status": "resolved" }),
            "resolution_required",
        ),
        (
            "blank resolution",
            json!({ "status": "resolved", "resolution": "   " }),
            "resolution_required",
        ),
        (
            "resolution too long",
            json!({ "status": "resolved", "resolution": long }),
            "resolution_too_long",
        ),
        (
            "reopen",
            json!({ "status": "open", "resolution": "x" }),
            "invalid_status",
        ),
        ("no status", json!({ "resolution": "x" }), "invalid_body"),
        (
            "unknown field",
            json!({ "status": "resolved", "resolution": "x", "kind": "closed" }),
            "invalid_body",
        ),
    ];
    for (what, body, code) in cases {
        let (status, reply) = resolve(&w.app, w.a, rid, Some(&w.mgr_a), body).await;
        assert_error(what, status, &reply, StatusCode::BAD_REQUEST, code);
    }
    let (status, r) = resolve(
        &w.app,
        w.a,
        rid,
        Some(&w.mgr_a),
        json!({ "status": "resolved", "resolution": "x".repeat(500) }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
}

#[tokio::test]
async fn reports_never_change_the_station() {
    let w = world().await;
    let station_path = format!("/api/v1/stations/{}", w.a);
    let before = w.app.get(&station_path).await;
    let etag_before = before.headers().get(ETAG).unwrap().clone();
    let (_, body_before) = json_of(before, "GET station").await;
    let stored_before = w.app.store.get_station(w.a).await.unwrap().unwrap();
    let history_before = w.app.store.station_history(w.a).await.unwrap().len();

    let mut rids = Vec::new();
    for body in [
        json!({ "kind": "closed", "note": "关门了" }),
        json!({ "kind": "amenity_broken", "amenity": "water" }),
        json!({ "kind": "wrong_location", "lat": 28.7, "lon": 115.9 }),
        json!({ "kind": "other", "note": "没有人" }),
    ] {
        rids.push(file_ok(&w.app, w.a, body).await);
    }
    for rid in &rids[..2] {
        let (status, r) = resolve(
            &w.app,
            w.a,
            *rid,
            Some(&w.mgr_a),
            json!({ "status": "resolved", "resolution": "已处理" }),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{r}");
    }

    let after = w.app.get(&station_path).await;
    assert_eq!(after.headers().get(ETAG).unwrap(), &etag_before);
    let (_, body_after) = json_of(after, "GET station").await;
    assert_eq!(body_after, body_before);
    let stored_after = w.app.store.get_station(w.a).await.unwrap().unwrap();
    assert_eq!(
        stored_after, stored_before,
        "version, amenities, location… unchanged"
    );
    assert_eq!(
        w.app.store.station_history(w.a).await.unwrap().len(),
        history_before,
        "reports write no audit record of the station"
    );
    // Still found, still open, amenities as they were.
    let (status, nearest) = w
        .app
        .get_json(
            "/api/v1/stations/nearest?lat=28.68&lon=115.89&limit=1&open_now=true&include=code",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{nearest}");
    assert_eq!(nearest["items"][0]["code"], "RPT-A");
}

#[tokio::test]
async fn lists_return_at_most_500_newest_first() {
    let w = world().await;
    let report = NewReport::parse("other", None, Some("bulk"), None, None).unwrap();
    let t0 = chrono::Utc::now();
    let mut last = 0;
    for i in 0..501 {
        let r = w
            .app
            .store
            .create_report(w.b, &report, t0 + chrono::Duration::milliseconds(i))
            .await
            .unwrap();
        last = r.id;
    }
    let (status, inbox) = get(&w.app, "/api/v1/reports", Some(&w.mgr_b)).await;
    assert_eq!(status, StatusCode::OK);
    let got = ids(&inbox);
    assert_eq!(got.len(), 500);
    assert_eq!(got[0], last);
    assert!(got.windows(2).all(|p| p[0] > p[1]), "newest first");
    let (_, list) = get(
        &w.app,
        &format!("/api/v1/stations/{}/reports", w.b),
        Some(&w.mgr_b),
    )
    .await;
    assert_eq!(ids(&list), got);
}

#[tokio::test]
async fn openapi_documents_the_report_routes() {
    let w = world().await;
    let (status, doc) = w.app.get_json("/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let paths = &doc["paths"];
    for (path, method) in [
        ("/api/v1/stations/{id}/reports", "post"),
        ("/api/v1/stations/{id}/reports", "get"),
        ("/api/v1/stations/{id}/reports/{rid}", "patch"),
        ("/api/v1/reports", "get"),
    ] {
        assert!(
            paths[path][method].is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["ReportView"].is_object());
}

#[tokio::test]
async fn of_two_simultaneous_resolutions_exactly_one_wins() {
    let w = world().await;
    for round in 0..5 {
        let rid = file_ok(&w.app, w.a, json!({ "kind": "closed" })).await;
        let (one, two) = tokio::join!(
            resolve(
                &w.app,
                w.a,
                rid,
                Some(&w.mgr_a),
                json!({ "status": "resolved", "resolution": "manager" }),
            ),
            resolve(
                &w.app,
                w.a,
                rid,
                Some(&w.admin),
                json!({ "status": "resolved", "resolution": "admin" }),
            ),
        );
        let mut statuses = [one.0, two.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "round {round}: {} / {}",
            one.1,
            two.1
        );
        let winner = if one.0 == StatusCode::OK {
            &one.1
        } else {
            &two.1
        };
        let (_, done) = get(
            &w.app,
            &format!("/api/v1/stations/{}/reports?status=resolved", w.a),
            Some(&w.admin),
        )
        .await;
        assert_eq!(done["items"][0]["resolution"], winner["resolution"]);
    }
}
