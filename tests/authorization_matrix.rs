//! Who may do what: {anonymous, manager of A, manager of B, admin, planner} × every endpoint and method
//! → the exact status. The table must cover every operation the OpenAPI document lists, so a
//! new endpoint without a row fails this test.

mod common;

use common::{json_of, new_station, spawn_app_with, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use yizhan::auth::{hash_password, new_session_token, token_hash};
use yizhan::domain::{Login, Role};

const PASSWORD: &str = "matrix test password";

/// A small box around the two test stations (coverage rows stay fast in debug builds).
const COVERAGE_BOX: &str = "115.88,28.67,115.91,28.69";

/// The five principals, in table order.
#[derive(Clone, Copy, Debug)]
enum Who {
    Anonymous,
    ManagerA,
    ManagerB,
    Admin,
    /// Manages no station: everywhere a station's manager is needed, it gets what manager B gets.
    Planner,
}
const EVERYONE: [Who; 5] = [
    Who::Anonymous,
    Who::ManagerA,
    Who::ManagerB,
    Who::Admin,
    Who::Planner,
];

struct World {
    app: TestApp,
    a: i64,
    tokens: [Option<String>; 5],
    created: std::sync::atomic::AtomicUsize,
}

impl World {
    fn token(&self, who: Who) -> Option<&str> {
        self.tokens[who as usize].as_deref()
    }

    async fn send(
        &self,
        who: Who,
        method: Method,
        path: &str,
        body: Option<Value>,
        if_match: Option<String>,
    ) -> reqwest::Response {
        let mut req = self.app.client.request(method, self.app.url(path));
        if let Some(t) = self.token(who) {
            req = req.bearer_auth(t);
        }
        if let Some(tag) = if_match {
            req = req.header("if-match", tag);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    async fn etag(&self, id: i64) -> String {
        let res = self.app.get(&format!("/api/v1/stations/{id}")).await;
        res.headers()["etag"].to_str().unwrap().to_string()
    }

    async fn new_report(&self) -> i64 {
        let res = self
            .send(
                Who::Anonymous,
                Method::POST,
                &format!("/api/v1/stations/{}/reports", self.a),
                Some(json!({"kind": "other"})),
                None,
            )
            .await;
        let (status, body) = json_of(res, "new report").await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_i64().unwrap()
    }

    async fn new_station_id(&self) -> i64 {
        let n = self
            .created
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.app
            .add_stations(&[new_station(&format!("JX-DEL-{n}"), (115.95, 28.7))])
            .await[0]
    }
}

async fn world() -> World {
    let app = spawn_app_with(|a| {
        a.seed = false;
        a.report_rate_per_hour = 10_000;
    })
    .await;
    let ids = app
        .add_stations(&[
            new_station("JX-A", (115.89, 28.68)),
            new_station("JX-B", (115.9, 28.68)),
        ])
        .await;
    let mut tokens: [Option<String>; 5] = Default::default();
    for (who, login, role, codes) in [
        (
            Who::ManagerA,
            "mgr_a",
            Role::Manager,
            vec!["JX-A".to_string()],
        ),
        (
            Who::ManagerB,
            "mgr_b",
            Role::Manager,
            vec!["JX-B".to_string()],
        ),
        (Who::Admin, "admin", Role::Admin, vec![]),
        (Who::Planner, "planner", Role::Planner, vec![]),
    ] {
        let id = app
            .store
            .create_account(
                &Login::new(login).unwrap(),
                &hash_password(PASSWORD).unwrap(),
                role,
                &codes,
            )
            .await
            .unwrap();
        let token = new_session_token();
        app.store
            .create_session(
                &token_hash(&token),
                id,
                chrono::Utc::now() + chrono::TimeDelta::hours(1),
            )
            .await
            .unwrap();
        tokens[who as usize] = Some(token);
    }
    World {
        app,
        a: ids[0],
        tokens,
        created: Default::default(),
    }
}

/// One row: an operation as the OpenAPI document names it, a case, and the expected status
/// for each principal.
struct Row {
    op: &'static str,
    case: &'static str,
    expect: [u16; 5],
}

const fn row(op: &'static str, case: &'static str, expect: [u16; 5]) -> Row {
    Row { op, case, expect }
}

const TABLE: &[Row] = &[
    row("GET /healthz", "", [200, 200, 200, 200, 200]),
    row("GET /metrics", "", [200, 200, 200, 200, 200]),
    row("GET /api/v1/counties", "", [200, 200, 200, 200, 200]),
    row("GET /api/v1/client-config", "", [200, 200, 200, 200, 200]),
    row("GET /api/v1/tiles.json", "", [200, 200, 200, 200, 200]),
    row(
        "GET /api/v1/tiles/{z}/{x}/{y}.mvt",
        "the world tile",
        [200, 200, 200, 200, 200],
    ),
    row(
        "GET /api/v1/tiles/roads/{z}/{x}/{y}.mvt",
        "no network loaded: empty for everyone",
        [204, 204, 204, 204, 204],
    ),
    row("GET /ogc", "", [200, 200, 200, 200, 200]),
    row("GET /ogc/conformance", "", [200, 200, 200, 200, 200]),
    row("GET /ogc/collections", "", [200, 200, 200, 200, 200]),
    row(
        "GET /ogc/collections/{collectionId}",
        "stations",
        [200, 200, 200, 200, 200],
    ),
    row(
        "GET /ogc/collections/{collectionId}/items",
        "stations",
        [200, 200, 200, 200, 200],
    ),
    row(
        "GET /ogc/collections/{collectionId}/items/{featureId}",
        "a station",
        [200, 200, 200, 200, 200],
    ),
    row(
        "GET /api/v1/locate",
        "no GeoIP database configured",
        [400, 400, 400, 400, 400],
    ),
    row("GET /api/v1/stations", "bbox", [200, 200, 200, 200, 200]),
    row(
        "GET /api/v1/stations/nearest",
        "",
        [200, 200, 200, 200, 200],
    ),
    row("GET /api/v1/stations/{id}", "", [200, 200, 200, 200, 200]),
    row(
        "GET /api/v1/stations/{id}",
        "unknown id",
        [404, 404, 404, 404, 404],
    ),
    row(
        "POST /api/v1/auth/login",
        "right password",
        [200, 200, 200, 200, 200],
    ),
    row(
        "POST /api/v1/auth/login",
        "wrong password",
        [401, 401, 401, 401, 401],
    ),
    row("POST /api/v1/auth/logout", "", [204, 204, 204, 204, 204]),
    row("GET /api/v1/auth/me", "", [401, 200, 200, 200, 200]),
    row(
        "PATCH /api/v1/stations/{id}",
        "current If-Match",
        [401, 200, 403, 200, 403],
    ),
    row(
        "PATCH /api/v1/stations/{id}",
        "no If-Match",
        [401, 428, 403, 428, 403],
    ),
    row(
        "PATCH /api/v1/stations/{id}",
        "stale If-Match",
        [401, 412, 403, 412, 403],
    ),
    row(
        "PATCH /api/v1/stations/{id}",
        "move (admin only)",
        [401, 403, 403, 200, 403],
    ),
    row(
        "PATCH /api/v1/stations/{id}",
        "unknown id",
        [401, 403, 403, 404, 403],
    ),
    row("POST /api/v1/stations", "", [401, 403, 403, 201, 403]),
    row(
        "DELETE /api/v1/stations/{id}",
        "",
        [401, 403, 403, 204, 403],
    ),
    row(
        "POST /api/v1/stations/{id}/verify",
        "",
        [401, 200, 403, 200, 403],
    ),
    row(
        "GET /api/v1/stations/{id}/history",
        "",
        [401, 200, 403, 200, 403],
    ),
    row(
        "POST /api/v1/stations/{id}/reports",
        "",
        [201, 201, 201, 201, 201],
    ),
    row(
        "GET /api/v1/stations/{id}/reports",
        "",
        [401, 200, 403, 200, 403],
    ),
    row("GET /api/v1/reports", "", [401, 200, 200, 200, 200]),
    row(
        "PATCH /api/v1/stations/{id}/reports/{rid}",
        "",
        [401, 200, 403, 200, 403],
    ),
    // Coverage by area is public; demand needs a planner or admin.
    row("GET /api/v1/regions", "", [200, 200, 200, 200, 200]),
    row(
        "GET /api/v1/regions/{adcode}",
        "unknown adcode",
        [404, 404, 404, 404, 404],
    ),
    row("GET /api/v1/coverage", "area", [200, 200, 200, 200, 200]),
    row(
        "GET /api/v1/coverage",
        "demand=import",
        [401, 403, 403, 200, 200],
    ),
    row(
        "GET /api/v1/coverage/suggestions",
        "weight=area",
        [200, 200, 200, 200, 200],
    ),
    row(
        "GET /api/v1/coverage/suggestions",
        "weight=demand, none imported",
        [401, 403, 403, 409, 409],
    ),
    row(
        "POST /api/v1/coverage/what-if",
        "",
        [200, 200, 200, 200, 200],
    ),
    row("PUT /api/v1/demand", "", [401, 403, 403, 200, 200]),
    row("GET /api/v1/demand", "", [401, 403, 403, 200, 200]),
];

async fn perform(w: &World, r: &Row, who: Who) -> StatusCode {
    let a = w.a;
    let (method, path, body, if_match): (Method, String, Option<Value>, Option<String>) = match (
        r.op, r.case,
    ) {
        ("GET /healthz", _) => (Method::GET, "/healthz".into(), None, None),
        ("GET /metrics", _) => (Method::GET, "/metrics".into(), None, None),
        ("GET /api/v1/counties", _) => (Method::GET, "/api/v1/counties".into(), None, None),
        ("GET /api/v1/client-config", _) => {
            (Method::GET, "/api/v1/client-config".into(), None, None)
        }
        ("GET /api/v1/tiles.json", _) => (Method::GET, "/api/v1/tiles.json".into(), None, None),
        ("GET /api/v1/tiles/{z}/{x}/{y}.mvt", _) => {
            (Method::GET, "/api/v1/tiles/0/0/0.mvt".into(), None, None)
        }
        ("GET /api/v1/tiles/roads/{z}/{x}/{y}.mvt", _) => (
            Method::GET,
            "/api/v1/tiles/roads/14/13463/6814.mvt".into(),
            None,
            None,
        ),
        ("GET /ogc", _) => (Method::GET, "/ogc".into(), None, None),
        ("GET /ogc/conformance", _) => (Method::GET, "/ogc/conformance".into(), None, None),
        ("GET /ogc/collections", _) => (Method::GET, "/ogc/collections".into(), None, None),
        ("GET /ogc/collections/{collectionId}", _) => {
            (Method::GET, "/ogc/collections/stations".into(), None, None)
        }
        ("GET /ogc/collections/{collectionId}/items", _) => (
            Method::GET,
            "/ogc/collections/stations/items".into(),
            None,
            None,
        ),
        ("GET /ogc/collections/{collectionId}/items/{featureId}", _) => (
            Method::GET,
            format!("/ogc/collections/stations/items/{a}"),
            None,
            None,
        ),
        ("GET /api/v1/locate", _) => (Method::GET, "/api/v1/locate".into(), None, None),
        ("GET /api/v1/stations", _) => (
            Method::GET,
            "/api/v1/stations?bbox=115.8,28.6,116.0,28.8".into(),
            None,
            None,
        ),
        ("GET /api/v1/stations/nearest", _) => (
            Method::GET,
            "/api/v1/stations/nearest?lat=28.68&lon=115.89".into(),
            None,
            None,
        ),
        ("GET /api/v1/stations/{id}", "unknown id") => {
            (Method::GET, "/api/v1/stations/999999".into(), None, None)
        }
        ("GET /api/v1/stations/{id}", _) => {
            (Method::GET, format!("/api/v1/stations/{a}"), None, None)
        }
        ("POST /api/v1/auth/login", case) => {
            let password = if case == "right password" {
                PASSWORD
            } else {
                "not the password"
            };
            (
                Method::POST,
                "/api/v1/auth/login".into(),
                Some(json!({"login": "mgr_a", "password": password})),
                None,
            )
        }
        ("POST /api/v1/auth/logout", _) => {
            // Log out a throwaway session so the principals' own sessions stay valid.
            let res = w
                .send(
                    Who::Anonymous,
                    Method::POST,
                    "/api/v1/auth/login",
                    Some(json!({"login": "mgr_b", "password": PASSWORD})),
                    None,
                )
                .await;
            let (_, body) = json_of(res, "login").await;
            let token = body["token"].as_str().unwrap().to_string();
            let req = w.app.client.post(w.app.url("/api/v1/auth/logout"));
            let req = if matches!(who, Who::Anonymous) {
                req
            } else {
                req.bearer_auth(token)
            };
            return req.send().await.unwrap().status();
        }
        ("GET /api/v1/auth/me", _) => (Method::GET, "/api/v1/auth/me".into(), None, None),
        ("PATCH /api/v1/stations/{id}", "current If-Match") => (
            Method::PATCH,
            format!("/api/v1/stations/{a}"),
            Some(json!({"notes": format!("{who:?}")})),
            Some(w.etag(a).await),
        ),
        ("PATCH /api/v1/stations/{id}", "no If-Match") => (
            Method::PATCH,
            format!("/api/v1/stations/{a}"),
            Some(json!({"notes": "x"})),
            None,
        ),
        ("PATCH /api/v1/stations/{id}", "stale If-Match") => (
            Method::PATCH,
            format!("/api/v1/stations/{a}"),
            Some(json!({"notes": "x"})),
            Some("\"0\"".into()),
        ),
        ("PATCH /api/v1/stations/{id}", "move (admin only)") => (
            Method::PATCH,
            format!("/api/v1/stations/{a}"),
            Some(json!({"lat": 28.681, "lon": 115.891})),
            Some(w.etag(a).await),
        ),
        ("PATCH /api/v1/stations/{id}", "unknown id") => (
            Method::PATCH,
            "/api/v1/stations/999999".into(),
            Some(json!({"notes": "x"})),
            Some("\"1\"".into()),
        ),
        ("POST /api/v1/stations", _) => {
            let n = w.created.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let body = json!({"code": format!("JX-NEW-{n}"), "name": "新站", "county": "360102", "lat": 28.7, "lon": 115.9, "opening_hours": "24/7"});
            (Method::POST, "/api/v1/stations".into(), Some(body), None)
        }
        ("DELETE /api/v1/stations/{id}", _) => (
            Method::DELETE,
            format!("/api/v1/stations/{}", w.new_station_id().await),
            None,
            None,
        ),
        ("POST /api/v1/stations/{id}/verify", _) => (
            Method::POST,
            format!("/api/v1/stations/{a}/verify"),
            None,
            None,
        ),
        ("GET /api/v1/stations/{id}/history", _) => (
            Method::GET,
            format!("/api/v1/stations/{a}/history"),
            None,
            None,
        ),
        ("POST /api/v1/stations/{id}/reports", _) => (
            Method::POST,
            format!("/api/v1/stations/{a}/reports"),
            Some(json!({"kind": "closed", "note": "门锁着"})),
            None,
        ),
        ("GET /api/v1/stations/{id}/reports", _) => (
            Method::GET,
            format!("/api/v1/stations/{a}/reports"),
            None,
            None,
        ),
        ("GET /api/v1/reports", _) => (Method::GET, "/api/v1/reports".into(), None, None),
        ("PATCH /api/v1/stations/{id}/reports/{rid}", _) => {
            let rid = w.new_report().await;
            (
                Method::PATCH,
                format!("/api/v1/stations/{a}/reports/{rid}"),
                Some(json!({"status": "resolved", "resolution": "已处理"})),
                None,
            )
        }
        ("GET /api/v1/regions", _) => (Method::GET, "/api/v1/regions".into(), None, None),
        ("GET /api/v1/regions/{adcode}", _) => {
            (Method::GET, "/api/v1/regions/110101".into(), None, None)
        }
        ("GET /api/v1/coverage", case) => (
            Method::GET,
            format!(
                "/api/v1/coverage?bbox={COVERAGE_BOX}{}",
                if case == "area" { "" } else { "&demand=import" }
            ),
            None,
            None,
        ),
        ("GET /api/v1/coverage/suggestions", case) => (
            Method::GET,
            format!(
                "/api/v1/coverage/suggestions?bbox={COVERAGE_BOX}&k=2&weight={}",
                if case == "weight=area" {
                    "area"
                } else {
                    "demand"
                }
            ),
            None,
            None,
        ),
        ("POST /api/v1/coverage/what-if", _) => (
            Method::POST,
            "/api/v1/coverage/what-if".into(),
            Some(
                json!({"bbox": [115.88, 28.67, 115.91, 28.69], "stations": [{"lat": 28.675, "lon": 115.9}]}),
            ),
            None,
        ),
        ("PUT /api/v1/demand", _) => {
            let mut req = w
                .app
                .client
                .put(w.app.url("/api/v1/demand?append=true"))
                .header("content-type", "text/csv")
                .body("lat,lon,weight\n28.68,115.89,2\n");
            if let Some(t) = w.token(who) {
                req = req.bearer_auth(t);
            }
            return req.send().await.unwrap().status();
        }
        ("GET /api/v1/demand", _) => (Method::GET, "/api/v1/demand".into(), None, None),
        (op, case) => panic!("no request for {op} ({case})"),
    };
    w.send(who, method, &path, body, if_match).await.status()
}

#[tokio::test]
async fn every_endpoint_answers_each_role_with_the_exact_status() {
    let w = world().await;
    let mut failures = Vec::new();
    for r in TABLE {
        for (i, who) in EVERYONE.into_iter().enumerate() {
            let got = perform(&w, r, who).await;
            if got.as_u16() != r.expect[i] {
                failures.push(format!(
                    "{} [{}] as {who:?}: expected {}, got {}",
                    r.op,
                    r.case,
                    r.expect[i],
                    got.as_u16()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorization matrix mismatches:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn the_table_covers_every_documented_operation() {
    let w = world().await;
    let (_, doc) = w.app.get_json("/api/openapi.json").await;
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                documented.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let tabled: BTreeSet<String> = TABLE.iter().map(|r| r.op.to_string()).collect();
    let missing: Vec<_> = documented.difference(&tabled).collect();
    let stale: Vec<_> = tabled.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "endpoints without a row in the authorization matrix: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "rows for endpoints that no longer exist: {stale:?}"
    );
}

#[tokio::test]
async fn rider_reports_are_rate_limited_per_address() {
    let app = spawn_app_with(|a| {
        a.seed = false;
        a.report_rate_per_hour = 2;
    })
    .await;
    let id = app
        .add_stations(&[new_station("JX-A", (115.89, 28.68))])
        .await[0];
    let post = || {
        app.client
            .post(app.url(&format!("/api/v1/stations/{id}/reports")))
            .json(&json!({"kind": "other"}))
            .send()
    };
    assert_eq!(post().await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(post().await.unwrap().status(), StatusCode::CREATED);
    let res = post().await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
}
