//! `yizhan user disable|enable|delete|stations`, run as the built binary against the test's
//! store while the application serves from it.

mod common;

use common::{json_of, new_station, spawn_empty_app, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::process::Output;
use yizhan::auth::hash_password;
use yizhan::domain::{Login, Role};

const PASSWORD: &str = "correct horse battery staple";

/// Runs the binary with `args` plus `--database-url`, off the async runtime.
async fn yizhan(args: &[&str], database_url: &str) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_yizhan"));
    cmd.args(args)
        .arg("--database-url")
        .arg(database_url)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL");
    cmd.output().await.expect("running the yizhan binary")
}

/// Runs `yizhan user ARGS…`, asserting success or failure; returns its stderr.
async fn user(app: &TestApp, args: &[&str], succeeds: bool) -> String {
    let mut all = vec!["user"];
    all.extend_from_slice(args);
    let out = yizhan(&all, &app.database_url).await;
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.success(), succeeds, "yizhan {all:?}: {err}");
    err
}

async fn add_account(app: &TestApp, name: &str, role: Role, codes: &[&str]) -> i64 {
    let codes: Vec<String> = codes.iter().map(|c| c.to_string()).collect();
    let hash = tokio::task::spawn_blocking(|| hash_password(PASSWORD).unwrap())
        .await
        .unwrap();
    app.store
        .create_account(&Login::new(name).unwrap(), &hash, role, &codes)
        .await
        .expect("creating a test account")
}

async fn login(app: &TestApp, name: &str, password: &str) -> (StatusCode, Value) {
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "login": name, "password": password }))
        .send()
        .await
        .unwrap();
    json_of(res, "login").await
}

async fn token_of(app: &TestApp, name: &str) -> String {
    let (status, body) = login(app, name, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "login of {name}: {body}");
    body["token"].as_str().unwrap().to_string()
}

async fn me(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let res = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    json_of(res, "me").await
}

async fn patch_notes(app: &TestApp, token: &str, id: i64, notes: &str) -> StatusCode {
    let path = format!("/api/v1/stations/{id}");
    let etag = app.get(&path).await.headers()["etag"].clone();
    app.client
        .patch(app.url(&path))
        .bearer_auth(token)
        .header("if-match", etag)
        .json(&json!({ "notes": notes }))
        .send()
        .await
        .unwrap()
        .status()
}

fn login_of(s: &str) -> Login {
    Login::new(s).unwrap()
}

#[tokio::test]
async fn disable_ends_sessions_at_once_and_refuses_logins_until_enabled() {
    let app = spawn_empty_app().await;
    add_account(&app, "mgr.off", Role::Manager, &[]).await;
    add_account(&app, "mgr.on", Role::Manager, &[]).await;
    let token = token_of(&app, "mgr.off").await;
    let other = token_of(&app, "mgr.on").await;

    let said = user(&app, &["disable", "--login", "MGR.OFF"], true).await;
    assert!(said.contains("disabled mgr.off"), "{said}");
    // The live session ends at once; other accounts are untouched.
    assert_eq!(me(&app, &token).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&app, &other).await.0, StatusCode::OK);
    // The right password gets exactly what a wrong one gets.
    let refused = login(&app, "mgr.off", PASSWORD).await;
    let wrong = login(&app, "mgr.on", "not the password").await;
    assert_eq!(refused.0, StatusCode::UNAUTHORIZED);
    assert_eq!(refused, wrong);
    let record = app
        .store
        .account_by_login(&login_of("mgr.off"))
        .await
        .unwrap()
        .unwrap();
    let since = record.disabled_at.expect("disabled");

    // Twice is harmless and keeps the first time.
    let said = user(&app, &["disable", "--login", "mgr.off"], true).await;
    assert!(said.contains("already disabled"), "{said}");
    let again = app.store.account_by_login(&login_of("mgr.off")).await;
    assert_eq!(again.unwrap().unwrap().disabled_at, Some(since));

    let said = user(&app, &["enable", "--login", "mgr.off"], true).await;
    assert!(said.contains("enabled mgr.off"), "{said}");
    token_of(&app, "mgr.off").await;
    let said = user(&app, &["enable", "--login", "mgr.off"], true).await;
    assert!(said.contains("not disabled"), "{said}");

    for cmd in ["disable", "enable"] {
        let said = user(&app, &[cmd, "--login", "ghost"], false).await;
        assert!(said.contains("ghost"), "{said}");
    }
}

#[tokio::test]
async fn delete_removes_an_account_without_history_and_keeps_one_with_history() {
    let app = spawn_empty_app().await;
    let ids = app
        .add_stations(&[new_station("JX-DEL", (115.9, 28.7))])
        .await;
    add_account(&app, "mgr.editor", Role::Manager, &["JX-DEL"]).await;
    add_account(&app, "mgr.idle", Role::Manager, &["JX-DEL"]).await;
    let editor = token_of(&app, "mgr.editor").await;
    let idle = token_of(&app, "mgr.idle").await;
    assert_eq!(
        patch_notes(&app, &editor, ids[0], "edited before the delete").await,
        StatusCode::OK
    );

    // No history: gone, with its sessions and its stations.
    let said = user(&app, &["delete", "--login", "mgr.idle"], true).await;
    assert!(said.contains("deleted mgr.idle"), "{said}");
    assert_eq!(me(&app, &idle).await.0, StatusCode::UNAUTHORIZED);
    assert!(app
        .store
        .account_by_login(&login_of("mgr.idle"))
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        login(&app, "mgr.idle", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );

    // The audit log names the editor: it stays, and so does what the history says.
    let said = user(&app, &["delete", "--login", "mgr.editor"], false).await;
    assert!(
        said.contains("1 station change") && said.contains("user disable --login mgr.editor"),
        "{said}"
    );
    assert_eq!(me(&app, &editor).await.0, StatusCode::OK);
    let res = app
        .client
        .get(app.url(&format!("/api/v1/stations/{}/history", ids[0])))
        .bearer_auth(&editor)
        .send()
        .await
        .unwrap();
    let (status, history) = json_of(res, "history").await;
    assert_eq!(status, StatusCode::OK, "{history}");
    assert!(history.to_string().contains("mgr.editor"), "{history}");

    let said = user(&app, &["delete", "--login", "ghost"], false).await;
    assert!(said.contains("ghost"), "{said}");
}

#[tokio::test]
async fn stations_replaces_a_managers_stations_all_or_nothing() {
    let app = spawn_empty_app().await;
    let ids = app
        .add_stations(&[
            new_station("JX-S1", (115.90, 28.70)),
            new_station("JX-S2", (115.91, 28.71)),
            new_station("JX-S3", (115.92, 28.72)),
        ])
        .await;
    add_account(&app, "mgr.move", Role::Manager, &["JX-S1"]).await;
    add_account(&app, "boss", Role::Admin, &[]).await;
    add_account(&app, "plan.x", Role::Planner, &[]).await;
    let token = token_of(&app, "mgr.move").await;

    let said = user(
        &app,
        &[
            "stations",
            "--login",
            "mgr.move",
            "--station",
            "JX-S2,JX-S3",
        ],
        true,
    )
    .await;
    assert!(said.contains("2 station(s)"), "{said}");
    // The live session sees the change at its next request.
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["stations"], json!([ids[1], ids[2]]));
    assert_eq!(
        patch_notes(&app, &token, ids[0], "no longer mine").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        patch_notes(&app, &token, ids[1], "mine now").await,
        StatusCode::OK
    );

    // An unknown code changes nothing.
    let said = user(
        &app,
        &[
            "stations",
            "--login",
            "mgr.move",
            "--station",
            "JX-S1",
            "--station",
            "NOPE",
        ],
        false,
    )
    .await;
    assert!(
        said.contains("NOPE") && said.contains("nothing was changed"),
        "{said}"
    );
    assert_eq!(
        me(&app, &token).await.1["stations"],
        json!([ids[1], ids[2]])
    );

    // Only managers are given stations; unknown logins and no --station are refused.
    for who in ["boss", "plan.x"] {
        let said = user(
            &app,
            &["stations", "--login", who, "--station", "JX-S1"],
            false,
        )
        .await;
        assert!(said.contains("not a manager"), "{who}: {said}");
    }
    let said = user(
        &app,
        &["stations", "--login", "ghost", "--station", "JX-S1"],
        false,
    )
    .await;
    assert!(said.contains("ghost"), "{said}");
    let said = user(&app, &["stations", "--login", "mgr.move"], false).await;
    assert!(said.contains("--station"), "{said}");
}
