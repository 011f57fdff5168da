//! Demand over HTTP, on the store `YIZHAN_TEST_STORE` names: planners import weighted points
//! (aggregated to cells, all-or-nothing), coverage reports covered demand to them and to no one
//! else, suggestions can maximise demand, and opt-in query origins become demand per
//! resolution-8 cell, published from five queries on.

mod common;

use common::{json_of, new_station, spawn_app_with, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use yizhan::auth::hash_password;
use yizhan::domain::{Login, Role};

const PASSWORD: &str = "demand test password";

async fn login_as(app: &TestApp, login: &str, role: Role) -> String {
    let hash = tokio::task::spawn_blocking(|| hash_password(PASSWORD))
        .await
        .unwrap()
        .unwrap();
    app.store
        .create_account(&Login::new(login).unwrap(), &hash, role, &[])
        .await
        .unwrap();
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"login": login, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res, "login").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_string()
}

async fn get_as(app: &TestApp, token: Option<&str>, path: &str) -> (StatusCode, Value) {
    let mut req = app.client.get(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    json_of(req.send().await.unwrap(), path).await
}

async fn put_demand(app: &TestApp, token: &str, csv: &str, append: bool) -> (StatusCode, Value) {
    let res = app
        .client
        .put(app.url(&format!("/api/v1/demand?append={append}")))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .unwrap();
    json_of(res, "PUT demand").await
}

/// A 3 × 3 km box with one station in its south-west corner.
const BOX: &str = "116.30,28.40,116.331,28.427";

async fn app_with_one_station(queries: bool) -> TestApp {
    let app = spawn_app_with(|a| {
        a.seed = false;
        a.demand_from_queries = queries;
        a.demand_flush_seconds = 1;
    })
    .await;
    app.add_stations(&[new_station("JX-D-1", (116.302, 28.402))])
        .await;
    app
}

#[tokio::test]
async fn planners_import_demand_and_only_they_see_covered_demand() {
    let app = app_with_one_station(false).await;
    let planner = login_as(&app, "planner1", Role::Planner).await;
    // 10 units next to the station (covered), 30 in the far corner (not), 5 more there by append.
    let csv = "lat,lon,weight,label\n28.4025,116.3025,4,pickup\n28.4026,116.3024,6,\n28.425,116.329,30,pickup\n";
    let (status, body) = put_demand(&app, &planner, csv, false).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["points"], 3);
    let (status, _) =
        put_demand(&app, &planner, "lat,lon,weight\n28.4251,116.3291,5\n", true).await;
    assert_eq!(status, StatusCode::OK);

    let q = format!("/api/v1/coverage?bbox={BOX}");
    let (_, public) = get_as(&app, None, &q).await;
    assert!(
        public["total"].get("demand").is_none(),
        "{}",
        public["total"]
    );
    let (status, mine) = get_as(&app, Some(&planner), &q).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine["demand"], "import");
    assert!(
        (mine["total"]["demand"].as_f64().unwrap() - 45.0).abs() < 1e-3,
        "{}",
        mine["total"]
    );
    assert!((mine["total"]["covered_demand"].as_f64().unwrap() - 10.0).abs() < 1e-3);
    assert!((mine["total"]["covered_demand_share"].as_f64().unwrap() - 10.0 / 45.0).abs() < 1e-4);

    // By demand, the first site covers the 35 units in the far corner.
    let (status, s) = get_as(
        &app,
        Some(&planner),
        &format!("/api/v1/coverage/suggestions?bbox={BOX}&k=2&weight=demand"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{s}");
    let first = &s["suggestions"][0];
    assert!(
        (first["adds_demand"].as_f64().unwrap() - 35.0).abs() < 1e-3,
        "{first}"
    );
    assert!((first["total_covered_demand"].as_f64().unwrap() - 45.0).abs() < 1e-3);
    assert_eq!(
        s["suggestions"].as_array().unwrap().len(),
        1,
        "nothing left to gain by demand"
    );

    // A bad row rejects the file and changes nothing.
    let (_, before) = get_as(&app, Some(&planner), "/api/v1/demand").await;
    let (status, err) = put_demand(
        &app,
        &planner,
        "lat,lon,weight\n28.4,116.3,1\n28.4,116.3,-2\n",
        false,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("row 3"),
        "{err}"
    );
    let (_, after) = get_as(&app, Some(&planner), "/api/v1/demand").await;
    assert_eq!(before, after);
    assert!((after["imported_weight"].as_f64().unwrap() - 45.0).abs() < 1e-9);

    // Managers may not read demand.
    let manager = login_as(&app, "mgr1", Role::Manager).await;
    let (status, _) = get_as(&app, Some(&manager), &format!("{q}&demand=import")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn query_origins_become_demand_per_cell_from_five_queries() {
    let app = app_with_one_station(true).await;
    let planner = login_as(&app, "planner2", Role::Planner).await;
    for _ in 0..6 {
        let (status, _) = get_as(&app, None, "/api/v1/stations/nearest?lat=28.42&lon=116.32").await;
        assert_eq!(status, StatusCode::OK);
    }
    for _ in 0..4 {
        get_as(&app, None, "/api/v1/stations/nearest?lat=28.35&lon=116.20").await;
    }
    let mut summary = Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        (_, summary) = get_as(&app, Some(&planner), "/api/v1/demand").await;
        if summary["queries"] == 6 {
            break;
        }
    }
    assert_eq!(summary["query_cells"], 1, "{summary}");
    assert_eq!(
        summary["queries"], 6,
        "the cell with 4 queries stays unpublished: {summary}"
    );
    // Only cells and counts are stored: no position survives.
    let stored = app.store.load_query_counts().await.unwrap();
    assert_eq!(stored.len(), 2);
    assert!(stored
        .iter()
        .all(|(c, _)| c.resolution() == h3o::Resolution::Eight));
    let (status, cov) = get_as(
        &app,
        Some(&planner),
        &format!("/api/v1/coverage?bbox={BOX}&demand=queries"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cov}");
    assert_eq!(cov["demand"], "queries");
    let d = cov["total"]["demand"].as_f64().unwrap();
    assert!(d > 0.0 && d <= 6.0 + 1e-6, "{}", cov["total"]);
}
