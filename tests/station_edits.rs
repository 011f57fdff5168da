//! Managers and admins change stations: optimistic concurrency, audit, closures, live index.

mod common;

use common::{json_of, new_station, spawn_empty_app, token_for, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use yizhan::domain::audit::{station_state, AuditAction};
use yizhan::domain::Role;

async fn patch(
    app: &TestApp,
    token: &str,
    id: i64,
    if_match: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut req = app
        .client
        .patch(app.url(&format!("/api/v1/stations/{id}")))
        .bearer_auth(token)
        .json(&body);
    if let Some(tag) = if_match {
        req = req.header("if-match", tag);
    }
    req.send().await.expect("PATCH station")
}

fn etag_of(res: &reqwest::Response) -> String {
    res.headers()
        .get("etag")
        .expect("an ETag")
        .to_str()
        .unwrap()
        .to_string()
}

/// Two stations 300 m apart in Nanchang; A managed by `mgr_a`, B by `mgr_b`.
async fn two_stations() -> (TestApp, i64, i64) {
    let app = spawn_empty_app().await;
    let ids = app
        .add_stations(&[
            new_station("JX-A", (115.89, 28.68)),
            new_station("JX-B", (115.893, 28.68)),
        ])
        .await;
    (app, ids[0], ids[1])
}

#[tokio::test]
async fn patch_needs_if_match_and_rejects_stale_versions() {
    let (app, a, _) = two_stations().await;
    let t = token_for(&app, "mgr_a", Role::Manager, &["JX-A"]).await;

    let res = patch(&app, &t, a, None, json!({"phone": "0791-1"})).await;
    assert_eq!(res.status(), StatusCode::PRECONDITION_REQUIRED);

    let res = patch(&app, &t, a, Some("\"1\""), json!({"phone": "0791-1"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(etag_of(&res), "\"2\"");
    let (_, body) = json_of(res, "patch").await;
    assert_eq!(body["properties"]["phone"], "0791-1");

    // A second manager holding the old ETag must not overwrite silently.
    let res = patch(&app, &t, a, Some("\"1\""), json!({"phone": "0791-2"})).await;
    assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
    let (_, body) = json_of(res, "stale patch").await;
    assert_eq!(body["error"]["code"], "version_mismatch");
    assert_eq!(body["error"]["current_version"], 2);
    let (_, now) = app.get_json(&format!("/api/v1/stations/{a}")).await;
    assert_eq!(now["properties"]["phone"], "0791-1");
}

#[tokio::test]
async fn managers_edit_only_their_stations_and_only_admins_move_them() {
    let (app, a, b) = two_stations().await;
    let t = token_for(&app, "mgr_a", Role::Manager, &["JX-A"]).await;
    let admin = token_for(&app, "boss", Role::Admin, &[]).await;

    assert_eq!(
        patch(&app, &t, b, Some("\"1\""), json!({"notes": "x"}))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        patch(
            &app,
            &t,
            a,
            Some("\"1\""),
            json!({"lat": 28.7, "lon": 115.9})
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    let res = patch(
        &app,
        &admin,
        a,
        Some("\"1\""),
        json!({"lat": 28.7, "lon": 115.9}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (_, body) = app
        .get_json("/api/v1/stations/nearest?lat=28.7&lon=115.9&limit=1&include=code")
        .await;
    assert_eq!(
        body["items"][0]["code"], "JX-A",
        "the index follows the move: {body}"
    );
    assert!(body["items"][0]["distance_m"].as_f64().unwrap() < 0.01);
}

#[tokio::test]
async fn bad_patches_get_400_and_change_nothing() {
    let (app, a, _) = two_stations().await;
    let t = token_for(&app, "mgr_a", Role::Manager, &["JX-A"]).await;
    for (body, code) in [
        (json!({"nmae": "typo"}), "invalid_body"),
        (json!({"amenities": ["sauna"]}), "invalid_body"),
        (json!({"opening_hours": "whenever we like"}), "invalid_body"),
        (json!({"name": null}), "invalid_field"),
        (json!({"phone": 12}), "invalid_body"),
        (json!({"notes": "x".repeat(501)}), "invalid_field"),
        (
            json!({"temporary_closure": {"until": "2001-01-01T00:00:00+08:00", "reason": "past"}}),
            "invalid_closure",
        ),
    ] {
        let res = patch(&app, &t, a, Some("\"1\""), body.clone()).await;
        let (status, err) = json_of(res, "bad patch").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {err}");
        assert_eq!(err["error"]["code"], code, "{body} → {err}");
    }
    let big = "x".repeat(70 * 1024);
    let res = patch(&app, &t, a, Some("\"1\""), json!({ "notes": big })).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let (_, s) = app.get_json(&format!("/api/v1/stations/{a}")).await;
    assert_eq!(s["properties"]["version"], 1, "nothing was written: {s}");
    let history = app.store.station_history(a).await.unwrap();
    assert_eq!(history.len(), 1, "only the import's creation: {history:?}");
    assert_eq!(history[0].actor.login, "import");
}

/// Only absolute http(s) URLs are photos: PATCH and create share the rule (import too, see
/// `cli_import_export.rs`), and a refused URL changes nothing.
#[tokio::test]
async fn photo_urls_other_than_http_or_https_get_400() {
    let (app, a, _) = two_stations().await;
    let mgr = token_for(&app, "mgr_a", Role::Manager, &["JX-A"]).await;
    let admin = token_for(&app, "boss", Role::Admin, &[]).await;
    let hostile = [
        "javascript:alert(document.cookie)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "file:///etc/passwd",
        "//evil.example/p.jpg",
        "vbscript:msgbox(1)",
    ];
    for url in hostile {
        let res = patch(&app, &mgr, a, Some("\"1\""), json!({ "photo_url": url })).await;
        let (status, err) = json_of(res, "PATCH photo_url").await;
        common::assert_error(
            url,
            status,
            &err,
            StatusCode::BAD_REQUEST,
            "invalid_photo_url",
        );

        let res = app
            .client
            .post(app.url("/api/v1/stations"))
            .bearer_auth(&admin)
            .json(
                &json!({"code": "JX-PHOTO", "name": "（示例）照片", "county": "360102",
                          "lat": 28.69, "lon": 115.89, "opening_hours": "24/7", "photo_url": url}),
            )
            .send()
            .await
            .unwrap();
        let (status, err) = json_of(res, "create with photo_url").await;
        common::assert_error(
            url,
            status,
            &err,
            StatusCode::BAD_REQUEST,
            "invalid_photo_url",
        );
    }
    let (_, s) = app.get_json(&format!("/api/v1/stations/{a}")).await;
    assert_eq!(s["properties"]["version"], 1, "nothing was written: {s}");
    assert_eq!(app.count().await, 2, "nothing was created");

    let good = "https://example.org/photos/a.jpg";
    let res = patch(&app, &mgr, a, Some("\"1\""), json!({ "photo_url": good })).await;
    let (status, s) = json_of(res, "PATCH a good photo_url").await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!(s["properties"]["photo_url"], good);
}

#[tokio::test]
async fn temporary_closure_hides_a_station_from_open_now_until_it_ends() {
    let (app, a, _) = two_stations().await;
    let t = token_for(&app, "mgr_a", Role::Manager, &["JX-A"]).await;
    let q = "/api/v1/stations/nearest?lat=28.68&lon=115.89&limit=1&open_now=true&include=code";
    let (_, before) = app.get_json(q).await;
    assert_eq!(before["items"][0]["code"], "JX-A");

    let until = (chrono::Utc::now() + chrono::TimeDelta::seconds(3)).to_rfc3339();
    let res = patch(
        &app,
        &t,
        a,
        Some("\"1\""),
        json!({"temporary_closure": {"until": until, "reason": "停电检修"}}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (_, during) = app.get_json(q).await;
    assert_eq!(
        during["items"][0]["code"], "JX-B",
        "closed A is skipped: {during}"
    );
    let (_, all) = app
        .get_json("/api/v1/stations/nearest?lat=28.68&lon=115.89&limit=1&include=code")
        .await;
    assert_eq!(all["items"][0]["open_now"], false);
    assert_eq!(all["items"][0]["temporary_closure"]["reason"], "停电检修");

    tokio::time::sleep(std::time::Duration::from_millis(3_300)).await;
    let (_, after) = app.get_json(q).await;
    assert_eq!(
        after["items"][0]["code"], "JX-A",
        "the closure ended by itself: {after}"
    );
}

#[tokio::test]
async fn admins_create_and_retire_stations_and_history_keeps_everything() {
    let (app, a, _) = two_stations().await;
    let admin = token_for(&app, "boss", Role::Admin, &[]).await;
    let mgr = token_for(&app, "mgr_a", Role::Manager, &["JX-A"]).await;
    let new = json!({"code": "JX-NEW", "name": "（示例）新站", "county": "360102", "lat": 28.69, "lon": 115.89,
                     "amenities": ["water", "toilet"], "opening_hours": "Mo-Su 08:00-20:00"});
    let post = |token: String, body: Value| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/api/v1/stations"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        post(mgr.clone(), new.clone()).await.status(),
        StatusCode::FORBIDDEN
    );
    let res = post(admin.clone(), new.clone()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let (_, created) = json_of(res, "create").await;
    let new_id = created["id"].as_i64().unwrap();
    assert_eq!(
        post(admin.clone(), new.clone()).await.status(),
        StatusCode::CONFLICT,
        "duplicate code"
    );

    let del = |token: String, id: i64| {
        let app = &app;
        async move {
            app.client
                .delete(app.url(&format!("/api/v1/stations/{id}")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(del(mgr.clone(), a).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(del(admin.clone(), a).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/api/v1/stations/{a}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let (_, near) = app
        .get_json("/api/v1/stations/nearest?lat=28.68&lon=115.89&limit=5&include=code")
        .await;
    assert!(
        !common::codes(&near).contains(&"JX-A".to_string()),
        "retired A is gone: {near}"
    );
    assert_eq!(del(admin.clone(), a).await.status(), StatusCode::NOT_FOUND);

    let res = app
        .client
        .get(app.url(&format!("/api/v1/stations/{a}/history")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let (status, hist) = json_of(res, "history").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hist["items"][0]["action"], "create", "the import: {hist}");
    assert_eq!(hist["items"][0]["actor"]["login"], "import");
    assert_eq!(hist["items"][1]["action"], "retire", "{hist}");
    assert_eq!(hist["items"][1]["actor"]["login"], "boss");
    assert_eq!(
        app.store.station_history(new_id).await.unwrap()[0].action,
        AuditAction::Create
    );
}

/// Replaying every audited `after` state from the seed state gives exactly the current store.
#[tokio::test]
async fn replaying_the_audit_log_from_the_seed_state_reproduces_the_store() {
    let (app, a, b) = two_stations().await;
    let seed: BTreeMap<i64, Value> = app
        .store
        .load_stations()
        .await
        .unwrap()
        .iter()
        .map(|s| (s.id, station_state(s)))
        .collect();
    let admin = token_for(&app, "boss", Role::Admin, &[]).await;
    let mgr = token_for(&app, "mgr_a", Role::Manager, &["JX-A"]).await;

    let res = patch(
        &app,
        &mgr,
        a,
        Some("\"1\""),
        json!({"amenities": ["water", "microwave"], "phone": null}),
    )
    .await;
    let tag = etag_of(&res);
    let until = (chrono::Utc::now() + chrono::TimeDelta::days(2)).to_rfc3339();
    let res = patch(
        &app,
        &mgr,
        a,
        Some(&tag),
        json!({"temporary_closure": {"until": until, "reason": "整修"}}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .client
        .post(app.url(&format!("/api/v1/stations/{a}/verify")))
        .bearer_auth(&mgr)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = patch(
        &app,
        &admin,
        b,
        Some("\"1\""),
        json!({"lat": 28.7, "lon": 115.91, "county": "360103"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .client
        .post(app.url("/api/v1/stations"))
        .bearer_auth(&admin)
        .json(&json!({"code": "JX-C", "name": "C", "county": "360102", "lat": 28.6, "lon": 115.8, "opening_hours": "24/7"}))
        .send()
        .await
        .unwrap();
    let (_, c) = json_of(res, "create").await;
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/stations/{}", c["id"])))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    let log = app.store.audit_log().await.unwrap();
    let imports = log.iter().filter(|r| r.actor.login == "import").count();
    assert_eq!(
        imports, 2,
        "the two imported stations' creations are audited"
    );
    assert_eq!(log.len() - imports, 6, "one record per change");
    let replay = |mut state: BTreeMap<i64, Value>| {
        for rec in &log {
            match rec.action {
                AuditAction::Retire => {
                    state.remove(&rec.station_id);
                }
                _ => {
                    state.insert(rec.station_id, rec.after.clone().expect("an after state"));
                }
            }
        }
        state
    };
    let from_seed = replay(seed);
    let from_nothing = replay(BTreeMap::new());
    let current: BTreeMap<i64, Value> = app
        .store
        .load_stations()
        .await
        .unwrap()
        .iter()
        .map(|s| (s.id, station_state(s)))
        .collect();
    assert_eq!(from_seed, current);
    assert_eq!(
        from_nothing, current,
        "imports are audited too: the log alone rebuilds the store"
    );
}

/// Readers keep answering while writers edit, and every reply shows each station whole: the
/// writer always changes phone and amenities together, so a torn read would mismatch them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_see_consistent_snapshots_while_writers_edit() {
    let (app, a, b) = two_stations().await;
    let mgr = token_for(&app, "mgr_ab", Role::Manager, &["JX-A", "JX-B"]).await;
    let app = std::sync::Arc::new(app);
    let writer = {
        let app = app.clone();
        let mgr = mgr.clone();
        tokio::spawn(async move {
            let mut tags = [(a, "\"1\"".to_string()), (b, "\"1\"".to_string())];
            for n in 1..=40 {
                for (id, tag) in tags.iter_mut() {
                    let amenities = if n % 2 == 0 {
                        json!(["water", "wifi"])
                    } else {
                        json!(["water"])
                    };
                    let res = patch(
                        &app,
                        &mgr,
                        *id,
                        Some(tag),
                        json!({"phone": format!("v{n}"), "amenities": amenities}),
                    )
                    .await;
                    assert_eq!(res.status(), StatusCode::OK);
                    *tag = etag_of(&res);
                }
            }
        })
    };
    let mut readers = Vec::new();
    for _ in 0..4 {
        let app = app.clone();
        readers.push(tokio::spawn(async move {
            let mut seen = 0;
            for _ in 0..60 {
                let (status, body) = app
                    .get_json("/api/v1/stations/nearest?lat=28.68&lon=115.891&limit=2")
                    .await;
                assert_eq!(status, StatusCode::OK, "{body}");
                let items = body["items"].as_array().unwrap();
                assert_eq!(items.len(), 2, "{body}");
                assert!(items[0]["distance_m"].as_f64() <= items[1]["distance_m"].as_f64());
                for it in items {
                    let has_wifi = it["amenities"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|x| x == "wifi");
                    if let Some(phone) = it["phone"].as_str() {
                        let n: u32 = phone.trim_start_matches('v').parse().unwrap();
                        assert_eq!(has_wifi, n.is_multiple_of(2), "torn read: {it}");
                        seen += 1;
                    } else {
                        assert!(!has_wifi, "{it}");
                    }
                }
            }
            seen
        }));
    }
    writer.await.expect("the writer finished");
    let mut seen = 0;
    for r in readers {
        seen += r.await.expect("a reader finished");
    }
    assert!(seen > 0, "readers saw edited states");
    let (_, last) = app.get_json(&format!("/api/v1/stations/{a}")).await;
    assert_eq!(last["properties"]["version"], 41);
}
