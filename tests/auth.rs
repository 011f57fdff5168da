//! Accounts and sessions over HTTP and through the real `yizhan user` command, on the store
//! `YIZHAN_TEST_STORE` names.

mod common;

use chrono::Utc;
use common::{assert_error, json_of, new_station, spawn_app_with, spawn_empty_app, TestApp};
use reqwest::header::{AUTHORIZATION, COOKIE, RETRY_AFTER, SET_COOKIE, WWW_AUTHENTICATE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;
use yizhan::auth::{hash_password, new_session_token, token_hash};
use yizhan::domain::{Login, Role};
use yizhan::store::StoreError;

const PASSWORD: &str = "correct horse battery staple";

fn login(s: &str) -> Login {
    Login::new(s).expect("a valid test login")
}

/// Creates an account directly in the store.
async fn add_account(app: &TestApp, name: &str, role: Role, codes: &[&str]) -> i64 {
    let codes: Vec<String> = codes.iter().map(|c| c.to_string()).collect();
    app.store
        .create_account(
            &login(name),
            &hash_password(PASSWORD).unwrap(),
            role,
            &codes,
        )
        .await
        .expect("creating a test account")
}

async fn post_login(app: &TestApp, name: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "login": name, "password": password }))
        .send()
        .await
        .expect("POST /api/v1/auth/login")
}

async fn me_with(
    app: &TestApp,
    header: (reqwest::header::HeaderName, String),
) -> (StatusCode, Value) {
    let res = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header(header.0, header.1)
        .send()
        .await
        .expect("GET /api/v1/auth/me");
    json_of(res, "GET /api/v1/auth/me").await
}

fn bearer(token: &str) -> (reqwest::header::HeaderName, String) {
    (AUTHORIZATION, format!("Bearer {token}"))
}

fn cookie(token: &str) -> (reqwest::header::HeaderName, String) {
    (COOKIE, format!("theme=dark; yizhan_session={token}"))
}

/// Logs in and returns (token, Set-Cookie).
async fn logged_in(app: &TestApp, name: &str) -> (String, String) {
    let res = post_login(app, name, PASSWORD).await;
    let set_cookie = res
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let (status, body) = json_of(res, "login").await;
    assert_eq!(status, StatusCode::OK, "login of {name}: {body}");
    (body["token"].as_str().unwrap().to_string(), set_cookie)
}

#[tokio::test]
async fn login_gives_a_token_that_works_as_bearer_and_as_cookie() {
    let app = spawn_empty_app().await;
    let ids = app
        .add_stations(&[
            new_station("JX-A", (115.9, 28.7)),
            new_station("JX-B", (115.8, 28.6)),
        ])
        .await;
    let id = add_account(&app, "mgr.a", Role::Manager, &["JX-B", "JX-A"]).await;

    // Logins are case-insensitive.
    let res = post_login(&app, "MGR.A", PASSWORD).await;
    assert_eq!(
        res.headers().get("cache-control").unwrap(),
        "no-store",
        "a token must not be cached"
    );
    let set_cookie = res
        .headers()
        .get(SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let (status, body) = json_of(res, "login").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap();
    assert_eq!(token.len(), 43, "256 bits in URL-safe base64: {token}");
    let mut want_stations = ids.clone();
    want_stations.sort();
    assert_eq!(
        body["account"],
        json!({ "id": id, "login": "mgr.a", "role": "manager", "stations": want_stations })
    );
    let expires: chrono::DateTime<Utc> = body["expires_at"].as_str().unwrap().parse().unwrap();
    let ttl = expires - Utc::now();
    assert!(
        ttl > chrono::Duration::hours(11) && ttl <= chrono::Duration::hours(12),
        "default session is 12 h, got {ttl}"
    );
    assert!(
        set_cookie.starts_with(&format!("yizhan_session={token};")),
        "{set_cookie}"
    );
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(
            set_cookie.contains(attr),
            "{attr} missing from {set_cookie}"
        );
    }
    assert!(
        !set_cookie.contains("Secure"),
        "plain http, no proxy: {set_cookie}"
    );

    for how in [bearer(token), cookie(token)] {
        let (status, me) = me_with(&app, how.clone()).await;
        assert_eq!(status, StatusCode::OK, "{how:?}: {me}");
        assert_eq!(me, body["account"]);
    }

    // The store never holds the token itself.
    assert!(app
        .store
        .session_account(token, Utc::now())
        .await
        .unwrap()
        .is_none());
    assert!(app
        .store
        .session_account(&token_hash(token), Utc::now())
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn no_or_bad_credentials_get_401_with_a_challenge() {
    let app = spawn_empty_app().await;
    let res = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers().get(WWW_AUTHENTICATE).unwrap(),
        "Bearer realm=\"yizhan\""
    );
    let (status, body) = json_of(res, "me without session").await;
    assert_error(
        "me without session",
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    for how in [
        bearer(&new_session_token()),
        cookie(&new_session_token()),
        bearer("not a token; at all"),
    ] {
        let (status, body) = me_with(&app, how.clone()).await;
        assert_error(
            &format!("{how:?}"),
            status,
            &body,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_login_look_the_same() {
    let app = spawn_empty_app().await;
    add_account(&app, "admin", Role::Admin, &[]).await;

    let mut bodies = Vec::new();
    let mut times = Vec::new();
    for (name, password) in [
        ("admin", "wrong password 1"),
        ("nobody", "wrong password 1"),
        ("admin", "wrong password 2"),
        ("nobody2", "wrong password 2"),
        ("x", "not even a valid login"),
    ] {
        let started = Instant::now();
        let res = post_login(&app, name, password).await;
        times.push(started.elapsed());
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {text}");
        bodies.push(text);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "every failure has the same body: {bodies:#?}"
    );
    // Unknown logins are checked against a dummy hash: no fast path tells them apart.
    let known = times[0].min(times[2]);
    let unknown = times[1].min(times[3]);
    assert!(
        unknown * 3 >= known,
        "an unknown login answered much faster ({unknown:?}) than a wrong password ({known:?})"
    );
}

#[tokio::test]
async fn repeated_failures_for_one_login_get_429_with_retry_after() {
    let app = spawn_empty_app().await;
    add_account(&app, "mgr.b", Role::Manager, &[]).await;
    add_account(&app, "mgr.c", Role::Manager, &[]).await;

    for i in 0..5 {
        let res = post_login(&app, "mgr.b", "guess guess guess").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // Now even the right password is refused until the window passes.
    let res = post_login(&app, "mgr.b", PASSWORD).await;
    let retry: u64 = res
        .headers()
        .get(RETRY_AFTER)
        .expect("a Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=15 * 60).contains(&retry), "Retry-After {retry}");
    let (status, body) = json_of(res, "locked login").await;
    assert_error(
        "locked login",
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    // Case does not get around it.
    assert_eq!(
        post_login(&app, "MGR.B", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    // Another login from the same address is not affected.
    logged_in(&app, "mgr.c").await;
}

#[tokio::test]
async fn parallel_guesses_cannot_exceed_the_quota() {
    let app = spawn_empty_app().await;
    add_account(&app, "mgr.p", Role::Manager, &[]).await;
    let guess = |i: usize| {
        let app = &app;
        async move {
            post_login(app, "mgr.p", &format!("parallel guess {i}"))
                .await
                .status()
        }
    };
    // In parallel, then one by one until refused: five guesses are checked in all.
    let mut statuses = futures::future::join_all((0..12).map(guess)).await;
    for i in 12..40 {
        let status = guess(i).await;
        statuses.push(status);
        if status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }
    let count = |want: StatusCode| statuses.iter().filter(|s| **s == want).count();
    assert_eq!(count(StatusCode::UNAUTHORIZED), 5, "{statuses:?}");
    // The rest were refused (429) or shed while this address had a check running (503).
    assert_eq!(
        count(StatusCode::TOO_MANY_REQUESTS) + count(StatusCode::SERVICE_UNAVAILABLE) + 5,
        statuses.len(),
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
}

#[tokio::test]
async fn repeated_failures_from_one_address_get_429() {
    let app = spawn_empty_app().await;
    add_account(&app, "mgr.d", Role::Manager, &[]).await;
    // Twenty failures spread over many logins, none locked on its own.
    for i in 0..20 {
        let res = post_login(&app, &format!("spray{i}"), "guess guess guess").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let res = post_login(&app, "mgr.d", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().get(RETRY_AFTER).is_some());
}

#[tokio::test]
async fn logout_ends_the_session_and_clears_the_cookie() {
    let app = spawn_empty_app().await;
    add_account(&app, "admin", Role::Admin, &[]).await;

    // Bearer.
    let (token, _) = logged_in(&app, "admin").await;
    let (other, _) = logged_in(&app, "admin").await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let cleared = res.headers().get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(
        cleared.starts_with("yizhan_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(
        me_with(&app, bearer(&token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        me_with(&app, cookie(&token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Only that session ended.
    assert_eq!(me_with(&app, bearer(&other)).await.0, StatusCode::OK);

    // Cookie.
    let res = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .header(COOKIE, format!("yizhan_session={other}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me_with(&app, bearer(&other)).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Logging out twice, or without a session, is harmless.
    let res = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn an_expired_session_gets_401_and_is_swept() {
    let app = spawn_empty_app().await;
    let id = add_account(&app, "mgr.e", Role::Manager, &[]).await;
    let token = new_session_token();
    let hash = token_hash(&token);
    app.store
        .create_session(&hash, id, Utc::now() - chrono::Duration::seconds(1))
        .await
        .unwrap();
    let (status, body) = me_with(&app, bearer(&token)).await;
    assert_error(
        "expired session",
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    let live = new_session_token();
    app.store
        .create_session(
            &token_hash(&live),
            id,
            Utc::now() + chrono::Duration::minutes(5),
        )
        .await
        .unwrap();
    assert_eq!(me_with(&app, bearer(&live)).await.0, StatusCode::OK);
    // The live one expires too, once its time has passed.
    assert!(app
        .store
        .session_account(
            &token_hash(&live),
            Utc::now() + chrono::Duration::minutes(6)
        )
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        app.store.delete_expired_sessions(Utc::now()).await.unwrap(),
        1,
        "only the expired session is swept"
    );
    assert_eq!(me_with(&app, bearer(&live)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn login_rejects_unknown_fields_and_bad_json() {
    let app = spawn_empty_app().await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "login": "admin", "password": PASSWORD, "role": "admin" }))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res, "unknown field").await;
    assert_error(
        "unknown field",
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    );
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{\"login\":")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn cookie_is_secure_behind_a_trusted_https_proxy_or_when_forced() {
    let app = spawn_app_with(|a| {
        a.seed = false;
        a.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    add_account(&app, "admin", Role::Admin, &[]).await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-proto", "https")
        .json(&json!({ "login": "admin", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let c = res.headers().get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(c.ends_with("; Secure"), "{c}");

    let forced = spawn_app_with(|a| {
        a.seed = false;
        a.cookie_secure = yizhan::config::CookieSecure::Always;
        a.session_ttl_hours = 1;
    })
    .await;
    add_account(&forced, "admin", Role::Admin, &[]).await;
    let (_, c) = logged_in(&forced, "admin").await;
    assert!(c.contains("Max-Age=3600") && c.ends_with("; Secure"), "{c}");
}

#[tokio::test]
async fn store_refuses_duplicate_logins_and_unknown_station_codes() {
    let app = spawn_empty_app().await;
    app.add_stations(&[new_station("JX-1", (115.9, 28.7))])
        .await;
    add_account(&app, "mgr.f", Role::Manager, &["JX-1"]).await;
    let hash = hash_password(PASSWORD).unwrap();
    let dup = app
        .store
        .create_account(&login("MGR.F"), &hash, Role::Admin, &[])
        .await;
    assert!(
        matches!(dup, Err(StoreError::DuplicateLogin(ref l)) if l == "mgr.f"),
        "{dup:?}"
    );
    let unknown = app
        .store
        .create_account(
            &login("mgr.g"),
            &hash,
            Role::Manager,
            &["JX-1".into(), "JX-404".into()],
        )
        .await;
    assert!(
        matches!(unknown, Err(StoreError::UnknownStationCode(ref c)) if c == "JX-404"),
        "{unknown:?}"
    );
    // All or nothing: the account was not created either.
    assert!(app
        .store
        .account_by_login(&login("mgr.g"))
        .await
        .unwrap()
        .is_none());
    let missing = app.store.set_password(&login("nobody"), &hash).await;
    assert!(
        matches!(missing, Err(StoreError::UnknownLogin(_))),
        "{missing:?}"
    );
}

/// Runs the real binary with `stdin` piped in.
fn yizhan(args: &[&str], database_url: &str, stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_yizhan"))
        .args(args)
        .arg("--database-url")
        .arg(database_url)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the yizhan binary");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .expect("writing the password");
    child.wait_with_output().expect("waiting for yizhan")
}

#[tokio::test]
async fn user_add_and_passwd_through_the_binary_read_the_password_from_stdin() {
    let app = spawn_empty_app().await;
    let ids = app
        .add_stations(&[
            new_station("JX-CLI-1", (115.9, 28.7)),
            new_station("JX-CLI-2", (116.0, 28.8)),
        ])
        .await;
    let url = app.database_url.clone();

    let run = |args: Vec<&'static str>, stdin: &'static str| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || yizhan(&args, &url, stdin))
    };

    let out = run(
        vec![
            "user",
            "add",
            "--login",
            "Wang.Fang",
            "--role",
            "manager",
            "--station",
            "JX-CLI-2",
        ],
        "a long enough password\n",
    )
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let res = post_login(&app, "wang.fang", "a long enough password").await;
    let (status, body) = json_of(res, "login of the CLI-made manager").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["account"]["role"], "manager");
    assert_eq!(body["account"]["stations"], json!([ids[1]]));
    let token = body["token"].as_str().unwrap().to_string();

    // Refusals: short password, duplicate login, unknown station, admin with stations.
    for (args, stdin, says) in [
        (
            vec!["user", "add", "--login", "short", "--role", "admin"],
            "too short\n",
            "at least 10",
        ),
        (
            vec!["user", "add", "--login", "wang.fang", "--role", "admin"],
            "a long enough password\n",
            "already exists",
        ),
        (
            vec![
                "user",
                "add",
                "--login",
                "li.lei",
                "--role",
                "manager",
                "--station",
                "NOPE",
            ],
            "a long enough password\n",
            "NOPE",
        ),
        (
            vec![
                "user",
                "add",
                "--login",
                "boss",
                "--role",
                "admin",
                "--station",
                "JX-CLI-1",
            ],
            "a long enough password\n",
            "--station",
        ),
        (
            vec!["user", "passwd", "--login", "ghost"],
            "a long enough password\n",
            "ghost",
        ),
    ] {
        let out = run(args.clone(), stdin).await.unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            err.contains(says),
            "{args:?}: stderr should mention {says:?}: {err}"
        );
    }
    assert!(app
        .store
        .account_by_login(&login("li.lei"))
        .await
        .unwrap()
        .is_none());

    // A new password works, the old one does not, and old sessions are over.
    let out = run(
        vec!["user", "passwd", "--login", "wang.fang"],
        "another long password\r\n",
    )
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        me_with(&app, bearer(&token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_login(&app, "wang.fang", "a long enough password")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_login(&app, "wang.fang", "another long password")
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn openapi_documents_the_auth_routes() {
    let app = spawn_empty_app().await;
    let (status, doc) = app.get_json("/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/auth/me",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn planner_logs_in_over_http_and_manages_no_station() {
    let app = spawn_empty_app().await;
    let ids = app
        .add_stations(&[new_station("JX-PLAN-1", (115.9, 28.7))])
        .await;
    let id = add_account(&app, "plan.a", Role::Planner, &[]).await;
    let res = post_login(&app, "plan.a", PASSWORD).await;
    let (status, body) = json_of(res, "login of a planner").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["account"]["id"], id);
    assert_eq!(body["account"]["role"], "planner");
    assert_eq!(body["account"]["stations"], json!([]));
    let token = body["token"].as_str().unwrap().to_string();
    let (status, me) = me_with(&app, bearer(&token)).await;
    assert_eq!((status, &me["role"]), (StatusCode::OK, &json!("planner")));

    // A planner edits no station and sees no station's reports.
    let station = format!("/api/v1/stations/{}", ids[0]);
    let etag = app.get(&station).await.headers()["etag"].clone();
    let res = app
        .client
        .patch(app.url(&station))
        .bearer_auth(&token)
        .header("if-match", etag)
        .json(&json!({"notes": "planner was here"}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res, "PATCH by a planner").await;
    assert_error(
        "PATCH by a planner",
        status,
        &body,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let res = app
        .client
        .get(app.url(&format!("{station}/reports")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn user_add_makes_planners_and_refuses_them_stations() {
    let app = spawn_empty_app().await;
    app.add_stations(&[new_station("JX-PLAN-2", (115.9, 28.7))])
        .await;
    let url = app.database_url.clone();
    let run = |args: Vec<&'static str>| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || yizhan(&args, &url, "a long enough password\n"))
    };

    let out = run(vec![
        "user",
        "add",
        "--login",
        "plan.b",
        "--role",
        "planner",
        "--station",
        "JX-PLAN-2",
    ])
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a planner with --station: {err}");
    assert!(
        err.contains("planner") && err.contains("--station"),
        "{err}"
    );
    assert!(app
        .store
        .account_by_login(&login("plan.b"))
        .await
        .unwrap()
        .is_none());

    let out = run(vec![
        "user", "add", "--login", "plan.b", "--role", "planner",
    ])
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let res = post_login(&app, "plan.b", "a long enough password").await;
    let (status, body) = json_of(res, "login of the CLI-made planner").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["account"]["role"], "planner");
}
