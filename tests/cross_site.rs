//! Cross-site request forgery: state-changing requests that ride on the session cookie, and
//! logins, are refused when a browser says they come from another site; bearer tokens,
//! same-origin pages and non-browser clients pass. On the store `YIZHAN_TEST_STORE` names.

mod common;

use common::{assert_error, json_of, new_station, spawn_empty_app, TestApp};
use reqwest::header::{AUTHORIZATION, COOKIE, ORIGIN, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::json;
use yizhan::auth::{hash_password, new_session_token, token_hash};
use yizhan::domain::{Login, Role};

/// A manager of one station with a live session: (app, station id, token).
async fn manager_with_session() -> (TestApp, i64, String) {
    let app = spawn_empty_app().await;
    let ids = app
        .add_stations(&[new_station("JX-CSRF", (115.9, 28.7))])
        .await;
    let id = app
        .store
        .create_account(
            &Login::new("mgr.csrf").unwrap(),
            &hash_password("correct horse battery staple").unwrap(),
            Role::Manager,
            &["JX-CSRF".to_string()],
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
    (app, ids[0], token)
}

/// What a browser adds to say where a request comes from.
enum From {
    /// `Sec-Fetch-Site: <value>`.
    FetchSite(&'static str),
    /// `Origin: <value>` only (older browsers).
    Origin(String),
    /// Neither: curl, scripts.
    NoBrowser,
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    credentials: (reqwest::header::HeaderName, String),
    from: From,
) -> reqwest::Response {
    let mut req = app
        .client
        .request(method, app.url(path))
        .header(credentials.0, credentials.1);
    req = match from {
        From::FetchSite(v) => req.header("sec-fetch-site", v),
        From::Origin(o) => req.header(ORIGIN, o),
        From::NoBrowser => req,
    };
    req.send().await.expect("sending the request")
}

fn cookie(token: &str) -> (reqwest::header::HeaderName, String) {
    (COOKIE, format!("lang=zh; yizhan_session={token}"))
}

fn bearer(token: &str) -> (reqwest::header::HeaderName, String) {
    (AUTHORIZATION, format!("Bearer {token}"))
}

async fn assert_cross_site(res: reqwest::Response, what: &str) {
    let (status, body) = json_of(res, what).await;
    assert_error(what, status, &body, StatusCode::FORBIDDEN, "cross_site");
}

#[tokio::test]
async fn cookie_writes_from_another_site_are_refused() {
    let (app, id, token) = manager_with_session().await;
    let verify = format!("/api/v1/stations/{id}/verify");
    let own_origin = app.base_url.clone();

    for (from, what) in [
        (From::FetchSite("cross-site"), "Sec-Fetch-Site: cross-site"),
        (From::FetchSite("same-site"), "Sec-Fetch-Site: same-site"),
        (
            From::Origin("https://evil.example".into()),
            "Origin: https://evil.example",
        ),
        (From::Origin("null".into()), "Origin: null"),
    ] {
        let res = send(&app, Method::POST, &verify, cookie(&token), from).await;
        assert_cross_site(res, what).await;
    }
    // Nothing was verified by the refused requests.
    let (_, station) = app.get_json(&format!("/api/v1/stations/{id}")).await;
    assert!(station["verified_at"].is_null(), "{station}");

    // A PATCH and a DELETE are refused the same way, before any other check.
    let res = send(
        &app,
        Method::PATCH,
        &format!("/api/v1/stations/{id}"),
        cookie(&token),
        From::FetchSite("cross-site"),
    )
    .await;
    assert_cross_site(res, "cross-site PATCH").await;
    let res = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/stations/{id}"),
        cookie(&token),
        From::Origin("https://evil.example".into()),
    )
    .await;
    assert_cross_site(res, "cross-site DELETE").await;

    // Reading with the cookie from anywhere is not a forgery.
    let res = send(
        &app,
        Method::GET,
        "/api/v1/auth/me",
        cookie(&token),
        From::FetchSite("cross-site"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);

    // Our own pages, the user typing, and non-browser clients pass.
    for from in [
        From::FetchSite("same-origin"),
        From::FetchSite("none"),
        From::Origin(own_origin.clone()),
        From::NoBrowser,
    ] {
        let res = send(&app, Method::POST, &verify, cookie(&token), from).await;
        let (status, body) = json_of(res, "a same-origin verify").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // A bearer token is no forgery, whatever the Origin says.
    let res = send(
        &app,
        Method::POST,
        &verify,
        bearer(&token),
        From::Origin("https://evil.example".into()),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_and_login_from_another_site_are_refused() {
    let (app, _, token) = manager_with_session().await;

    // A forged logout leaves the session alone.
    let res = send(
        &app,
        Method::POST,
        "/api/v1/auth/logout",
        cookie(&token),
        From::FetchSite("cross-site"),
    )
    .await;
    assert_cross_site(res, "cross-site logout").await;
    let me = send(
        &app,
        Method::GET,
        "/api/v1/auth/me",
        bearer(&token),
        From::NoBrowser,
    )
    .await;
    assert_eq!(me.status(), StatusCode::OK, "the session survived");

    // Login CSRF: another site cannot sign the browser into an account, even without a cookie.
    let body = json!({ "login": "mgr.csrf", "password": "correct horse battery staple" });
    for (header, value) in [
        ("sec-fetch-site", "cross-site".to_string()),
        ("origin", "https://evil.example".to_string()),
    ] {
        let res = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .header(header, value)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(res.headers().get(SET_COOKIE).is_none(), "no session cookie");
        assert_cross_site(res, "cross-site login").await;
    }
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("sec-fetch-site", "same-origin")
        .header(ORIGIN, app.base_url.clone())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // The real logout from our own page works.
    let res = send(
        &app,
        Method::POST,
        "/api/v1/auth/logout",
        cookie(&token),
        From::FetchSite("same-origin"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let me = send(
        &app,
        Method::GET,
        "/api/v1/auth/me",
        bearer(&token),
        From::NoBrowser,
    )
    .await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn riders_without_a_session_may_report_from_anywhere() {
    let (app, id, _) = manager_with_session().await;
    // Problem reports are anonymous: a page elsewhere linking to them forges nothing.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/stations/{id}/reports")))
        .header("sec-fetch-site", "cross-site")
        .json(&json!({ "kind": "closed" }))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res, "an anonymous cross-site report").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
