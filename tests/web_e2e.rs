//! The web app against the real server: the browser tests in `web/tests/` (node's test runner,
//! playwright-core, the system Chromium) run against this process's application, seeded with the
//! demo stations and given manager, admin and planner accounts, on the store
//! `YIZHAN_TEST_STORE` names. Also: the server hands out the web app's files and nothing else of
//! its folder.
//!
//! Without `web/node_modules` or Chromium the browser test fails under CI (with what to install)
//! and is skipped loudly elsewhere.

mod common;

use common::{new_station, spawn_app, spawn_app_with, TestApp};
use reqwest::StatusCode;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use yizhan::auth::hash_password;
use yizhan::domain::{Login, Role};

const MANAGER_LOGIN: &str = "e2e-zhanzhang";
const ADMIN_LOGIN: &str = "e2e-admin";
const PLANNER_LOGIN: &str = "e2e-guihua";
const PASSWORD: &str = "e2e correct horse battery";
/// The raster basemap of the second server the browser tests use (nothing answers there: the
/// browser test serves its tiles itself).
const BASEMAP_TEMPLATE: &str = "https://t{s}.tiles.example.cn/gcj/{z}/{x}/{y}.png";
/// The whole browser suite; each test has its own, shorter timeout inside.
const NODE_TIMEOUT: Duration = Duration::from_secs(480);

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// What the browser tests need that is not here, if anything.
fn missing_tooling() -> Vec<String> {
    let mut missing = Vec::new();
    let modules = web_dir().join("node_modules");
    if !modules.join("playwright-core").is_dir() {
        missing.push(format!(
            "{} (run `npm ci` in web/)",
            modules.join("playwright-core").display()
        ));
    }
    if !chromium().exists() {
        missing.push(format!(
            "{} (run `apt-get install chromium`, or set CHROMIUM)",
            chromium().display()
        ));
    }
    let node = std::process::Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        missing.push("node (run `apt-get install nodejs npm`)".to_string());
    }
    missing
}

/// Under CI a missing tool is a failure; on a developer's machine a loud skip.
fn skip_or_fail_without_tooling() -> bool {
    let missing = missing_tooling();
    if missing.is_empty() {
        return false;
    }
    let list = missing.join("\n  ");
    if std::env::var_os("CI").is_some() {
        panic!(
            "\n\nThe web app's browser tests cannot run; missing:\n  {list}\n\
             Run `npm ci` in web/ and `apt-get install chromium`. CI never skips them.\n\n"
        );
    }
    // Straight to the process's stderr: the test harness would swallow an eprintln! of a
    // passing test.
    let warning = format!(
        "\n\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         !!! SKIPPED: the web app's browser tests did not run; missing:\n  {list}\n\
         !!! Run `npm ci` in web/ and `apt-get install chromium` to run them.\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n"
    );
    let _ = std::io::stderr().write_all(warning.as_bytes());
    true
}

/// The demo station nearest to Nanchang's centre, where the browser tests' rider stands:
/// (id, code).
async fn station_near_nanchang(app: &TestApp) -> (i64, String) {
    let (lon, lat) = common::NANCHANG;
    let (status, body) = app
        .get_json(&format!(
            "/api/v1/stations/nearest?lat={lat}&lon={lon}&limit=1&include=code"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "nearest: {body}");
    let first = &body["items"][0];
    let id = first["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no id in {body}"));
    let code = first["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code in {body}"))
        .to_string();
    (id, code)
}

async fn add_account(app: &TestApp, login: &str, role: Role, codes: &[String]) {
    let hash = tokio::task::spawn_blocking(|| hash_password(PASSWORD))
        .await
        .expect("the hashing task")
        .expect("hashing the test password");
    app.store
        .create_account(
            &Login::new(login).expect("a valid login"),
            &hash,
            role,
            codes,
        )
        .await
        .unwrap_or_else(|e| panic!("creating the account {login}: {e}"));
}

/// Asks once for the coverage of 南昌市, the planner tests' region: the first answer for a region
/// builds its H3 grid (under a second in release, up to a minute or two in a debug build on a
/// busy machine), which must not count against the browser tests' time limits.
async fn warm_coverage(app: &TestApp) {
    let url = format!("{}/api/v1/coverage?region=360100", app.base_url);
    let res = app
        .client
        .get(&url)
        .timeout(Duration::from_secs(600))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(res.status(), StatusCode::OK, "GET {url}");
}

// Several worker threads: the server keeps answering the browser while this test waits on node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn browser_tests_pass_against_the_real_server() {
    if skip_or_fail_without_tooling() {
        return;
    }
    let app = spawn_app().await;
    let (station_id, station_code) = station_near_nanchang(&app).await;
    add_account(
        &app,
        MANAGER_LOGIN,
        Role::Manager,
        std::slice::from_ref(&station_code),
    )
    .await;
    add_account(&app, ADMIN_LOGIN, Role::Admin, &[]).await;
    add_account(&app, PLANNER_LOGIN, Role::Planner, &[]).await;
    warm_coverage(&app).await;
    // A second server with a (fake, GCJ-02) raster basemap: the page must fetch its tiles, from
    // exactly those hosts, under its policy, and shift what it draws.
    let basemap_app = spawn_app_with(|a| {
        a.basemap.url = Some(BASEMAP_TEMPLATE.into());
        a.basemap.subdomains = Some("01".into());
        a.basemap.crs = "gcj02".into();
        a.basemap.attribution = "测试底图 <b>GS(2026)</b>".into();
    })
    .await;

    // A third with a road network (Helsinki's: nowhere near Jiangxi), for the planner's 直线/路网.
    let osm_dir = tempfile::tempdir().expect("a temporary directory");
    let osm = osm_dir.path().join("Helsinki.osm.pbf");
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/osm/Helsinki.osm.pbf"),
        &osm,
    )
    .expect("copying the extract");
    let network_app = spawn_app_with(|a| a.osm = Some(osm.clone())).await;
    // Three stations on Helsinki's streets, for the rider's road minutes
    // (web/tests/rider-network.test.mjs).
    network_app
        .add_stations(&[
            new_station("E2E-HEL-1", (24.9414, 60.1710)),
            new_station("E2E-HEL-2", (24.9460, 60.1680)),
            new_station("E2E-HEL-3", (24.9500, 60.1700)),
        ])
        .await;

    let mut node = tokio::process::Command::new("node");
    node.arg("--test")
        .arg("web/tests/")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("YIZHAN_URL", &app.base_url)
        .env("YIZHAN_BASEMAP_APP_URL", &basemap_app.base_url)
        .env("YIZHAN_NETWORK_APP_URL", &network_app.base_url)
        .env("CHROMIUM", chromium())
        .env("YIZHAN_MANAGER_LOGIN", MANAGER_LOGIN)
        .env("YIZHAN_MANAGER_PASSWORD", PASSWORD)
        .env("YIZHAN_MANAGER_STATION", station_id.to_string())
        .env("YIZHAN_MANAGER_STATION_CODE", &station_code)
        .env("YIZHAN_ADMIN_LOGIN", ADMIN_LOGIN)
        .env("YIZHAN_ADMIN_PASSWORD", PASSWORD)
        .env("YIZHAN_PLANNER_LOGIN", PLANNER_LOGIN)
        .env("YIZHAN_PLANNER_PASSWORD", PASSWORD)
        .env_remove("NODE_OPTIONS")
        // Run under libfaketime (scripts/browser-hours.sh), only the server takes
        // the fake clock: Chromium's timers misbehave under it.
        .env_remove("LD_PRELOAD")
        .env_remove("FAKETIME")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(NODE_TIMEOUT, node.output())
        .await
        .unwrap_or_else(|_| panic!("the browser tests took longer than {NODE_TIMEOUT:?}"))
        .expect("starting node (is it installed?)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("---- node --test web/tests/ (stdout) ----\n{stdout}");
    if !stderr.trim().is_empty() {
        println!("---- node --test web/tests/ (stderr) ----\n{stderr}");
    }
    assert!(
        out.status.success(),
        "the browser tests failed ({}); their output is above. Failed:\n{}",
        out.status,
        failed_tests(&stdout)
    );
    // Skipped browser tests would pass silently: every one must have run.
    assert!(
        !stdout
            .lines()
            .any(|l| l.trim_start().starts_with("# skipped")
                && l.split_whitespace().last() != Some("0")),
        "some browser tests were skipped although the server and accounts were given"
    );
}

/// The failed tests of a TAP report with the first lines of each one's error, so that the
/// failure says which test it was even where only the end of a long log is kept.
fn failed_tests(tap: &str) -> String {
    let lines: Vec<&str> = tap.lines().collect();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = line.trim_start().strip_prefix("not ok ") else {
            continue;
        };
        out.push_str(&format!("  not ok {name}\n"));
        let details = lines[i + 1..]
            .iter()
            .take_while(|l| !l.trim_start().starts_with("..."))
            .skip_while(|l| !l.trim_start().starts_with("error:"))
            .take(8);
        for d in details {
            out.push_str(&format!("      {}\n", d.trim()));
        }
    }
    if out.is_empty() {
        out.push_str("  (no 'not ok' line: node itself failed, see stderr)\n");
    }
    out
}

#[tokio::test]
async fn only_the_web_apps_own_files_are_served() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/index.html",
        "/vendor/leaflet/leaflet.js",
        "/js/app.js",
        "/js/planner.js",
        "/css/app.css",
        "/icons/icon.svg",
        "/manifest.webmanifest",
        "/sw.js",
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
    }
    for path in [
        "/node_modules/leaflet/package.json",
        "/node_modules/playwright-core/package.json",
        "/tests/e2e.mjs",
        "/scripts/vendor.mjs",
        "/package.json",
        "/package-lock.json",
        "/README.md",
        "/js/../package.json",
        "/js/%2e%2e/package.json",
        "/vendor/../tests/e2e.mjs",
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "GET {path}");
    }
    // The API still answers its own 404s as JSON.
    let (status, body) = app.get_json("/api/v1/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body
        .pointer("/error/code")
        .and_then(Value::as_str)
        .is_some());
}
