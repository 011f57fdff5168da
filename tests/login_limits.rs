//! Brute-force protection without a lock-out button, and the bounded queue in front of argon2,
//! over a real socket on the store `YIZHAN_TEST_STORE` names.
//!
//! The application trusts `X-Forwarded-For` from 127.0.0.1 here (as behind a proxy), so each
//! request can come from the client address the test gives it.

mod common;

use common::{assert_error, json_of, new_station, spawn_app_with, TestApp};
use reqwest::header::RETRY_AFTER;
use reqwest::StatusCode;
use serde_json::json;
use std::io::{Read, Seek};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use yizhan::auth::hash_password;
use yizhan::auth::throttle::{ACCOUNT_BURST, ACCOUNT_INTERVAL, FAILURES_PER_LOGIN_AND_ADDRESS};
use yizhan::domain::{Login, Role};

const PASSWORD: &str = "correct horse battery staple";

async fn behind_a_proxy() -> TestApp {
    spawn_app_with(|a| {
        a.seed = false;
        a.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await
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

/// `POST /api/v1/auth/login` from the client address `from`.
async fn login_from(app: &TestApp, from: &str, name: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", from)
        .json(&json!({ "login": name, "password": password }))
        .send()
        .await
        .expect("POST /api/v1/auth/login")
}

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()
        .get(RETRY_AFTER)
        .unwrap_or_else(|| panic!("a {} without Retry-After", res.status()))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn an_attacker_address_is_limited_but_the_real_user_elsewhere_is_not() {
    let app = behind_a_proxy().await;
    add_account(&app, "admin", Role::Admin, &[]).await;
    let attacker = "203.0.113.66";
    for i in 0..FAILURES_PER_LOGIN_AND_ADDRESS {
        let res = login_from(&app, attacker, "admin", "guess guess guess").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "guess {i}");
    }
    // The attacker's own address is limited for the window, even with the right password.
    for password in ["guess guess guess", PASSWORD] {
        let res = login_from(&app, attacker, "ADMIN", password).await;
        let wait = retry_after(&res);
        assert!((60..=15 * 60).contains(&wait), "Retry-After {wait}");
        let (status, body) = json_of(res, "the attacker again").await;
        assert_error(
            "the attacker again",
            status,
            &body,
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
        );
    }
    // The real user, elsewhere, logs in at once.
    let res = login_from(&app, "198.51.100.7", "admin", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);

    // An IPv6 attacker rotating addresses inside its /64 is one client (on another login:
    // ten failures on `admin` from anywhere would start pacing it, tested below).
    add_account(&app, "mgr.v6", Role::Manager, &[]).await;
    for i in 0..FAILURES_PER_LOGIN_AND_ADDRESS {
        let from = format!("2001:db8:66:1::{:x}", i + 1);
        let res = login_from(&app, &from, "mgr.v6", "guess guess guess").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{from}");
    }
    let res = login_from(&app, "2001:db8:66:1:ffff::9", "mgr.v6", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // The next /64 is another client.
    let res = login_from(&app, "2001:db8:66:2::1", "mgr.v6", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn many_addresses_failing_pace_a_login_without_locking_it_out() {
    let app = behind_a_proxy().await;
    add_account(&app, "admin", Role::Admin, &[]).await;
    // The user logged in once from the office: that address is known from now on.
    let office = "198.51.100.1";
    assert_eq!(
        login_from(&app, office, "admin", PASSWORD).await.status(),
        StatusCode::OK
    );

    // A botnet: one guess from each new address, until the login is paced.
    let mut failed = 0;
    let paced = loop {
        let from = format!("203.0.113.{}", failed + 1);
        let res = login_from(&app, &from, "admin", "guess guess guess").await;
        if res.status() != StatusCode::UNAUTHORIZED {
            break res;
        }
        failed += 1;
        assert!(failed <= ACCOUNT_BURST + 3, "never paced");
    };
    assert!(failed >= ACCOUNT_BURST, "paced after {failed} failures");
    assert_eq!(paced.status(), StatusCode::TOO_MANY_REQUESTS);
    // Paced, not locked: a turn a few seconds away.
    assert!(retry_after(&paced) <= ACCOUNT_INTERVAL.as_secs());

    // The real user on the road, at a new address: told to wait seconds, not minutes.
    let road = "198.51.100.200";
    let res = login_from(&app, road, "admin", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&res);
    assert!(
        wait <= 2 * ACCOUNT_INTERVAL.as_secs(),
        "the user waits {wait} s behind one attacker"
    );
    let turn = Instant::now() + Duration::from_secs(wait);
    // Meanwhile the botnet hammers from more new addresses: each is put behind the user.
    for n in 0..5 {
        let from = format!("203.0.113.{}", 100 + n);
        let res = login_from(&app, &from, "admin", "guess guess guess").await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{from}");
        assert!(retry_after(&res) > 1, "{from} would jump the line");
    }
    // From the known office address the user is not slowed at all.
    assert_eq!(
        login_from(&app, office, "admin", PASSWORD).await.status(),
        StatusCode::OK
    );
    // At the turn given, the user on the road gets in.
    tokio::time::sleep_until(turn.into()).await;
    let res = login_from(&app, road, "admin", PASSWORD).await;
    let (status, body) = json_of(res, "the user at its turn").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_logins_is_shed_and_staff_keep_working() {
    let app = behind_a_proxy().await;
    let ids = app
        .add_stations(&[new_station("JX-FLOOD", (115.9, 28.7))])
        .await;
    add_account(&app, "mgr.flood", Role::Manager, &["JX-FLOOD"]).await;
    add_account(&app, "admin", Role::Admin, &[]).await;
    let res = login_from(&app, "198.51.100.1", "mgr.flood", PASSWORD).await;
    let (status, body) = json_of(res, "the manager's login").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_string();

    // 300 wrong logins at once from 300 addresses: a third on `admin`, the rest on names
    // that do not exist (which cost a password check all the same).
    const FLOOD: usize = 300;
    let started = Instant::now();
    let flood: Vec<_> = (0..FLOOD)
        .map(|i| {
            let client = app.client.clone();
            let url = app.url("/api/v1/auth/login");
            let name = if i % 3 == 0 {
                "admin".to_string()
            } else {
                format!("flood{i}")
            };
            tokio::spawn(async move {
                let t = Instant::now();
                let res = client
                    .post(url)
                    .header("x-forwarded-for", format!("10.{}.{}.1", i / 200, i % 200))
                    .json(&json!({ "login": name, "password": "wrong wrong wrong" }))
                    .send()
                    .await
                    .expect("a flood login");
                let has_retry = res.headers().contains_key(RETRY_AFTER);
                (res.status(), has_retry, t.elapsed())
            })
        })
        .collect();

    // While the flood is on, the manager edits a station.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let station = format!("/api/v1/stations/{}", ids[0]);
    let edit_started = Instant::now();
    let etag = app.get(&station).await.headers()["etag"].clone();
    let res = app
        .client
        .patch(app.url(&station))
        .bearer_auth(&token)
        .header("if-match", etag)
        .json(&json!({ "notes": "still working during the flood" }))
        .send()
        .await
        .unwrap();
    let edit_took = edit_started.elapsed();
    let (status, body) = json_of(res, "PATCH during the flood").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A colleague logs in meanwhile: shed at most briefly, never queued behind the flood.
    let login_started = Instant::now();
    let mut shed_before = 0;
    loop {
        let res = login_from(&app, "198.51.100.2", "mgr.flood", PASSWORD).await;
        if res.status() != StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(res.status(), StatusCode::OK);
            break;
        }
        shed_before += 1;
        tokio::time::sleep(Duration::from_secs(retry_after(&res))).await;
    }
    let login_took = login_started.elapsed();

    let mut results = Vec::new();
    for task in flood {
        results.push(task.await.unwrap());
    }
    let flood_took = started.elapsed();
    let count = |want: StatusCode| results.iter().filter(|r| r.0 == want).count();
    let (checked, paced, shed) = (
        count(StatusCode::UNAUTHORIZED),
        count(StatusCode::TOO_MANY_REQUESTS),
        count(StatusCode::SERVICE_UNAVAILABLE),
    );
    eprintln!(
        "flood of {FLOOD}: {checked} checked (401), {paced} paced (429), {shed} shed (503) \
         in {flood_took:?}; the manager's GET+PATCH took {edit_took:?}; a colleague's login \
         took {login_took:?} ({shed_before} times shed first)"
    );
    assert_eq!(checked + paced + shed, FLOOD, "{results:?}");
    assert!(shed > 0, "nothing was shed: the queue is unbounded");
    assert!(paced > 0, "the attacked login was never paced");
    assert!(
        results
            .iter()
            .all(|r| r.0 == StatusCode::UNAUTHORIZED || r.1),
        "every 429 and 503 says when to retry"
    );
    // Shed at once: no 503 waited behind the password checks.
    let slowest_shed = results
        .iter()
        .filter(|r| r.0 == StatusCode::SERVICE_UNAVAILABLE)
        .map(|r| r.2)
        .max()
        .unwrap();
    let slowest_check = results
        .iter()
        .filter(|r| r.0 == StatusCode::UNAUTHORIZED)
        .map(|r| r.2)
        .max()
        .unwrap();
    assert!(
        slowest_shed < slowest_check,
        "a 503 took {slowest_shed:?}, longer than the slowest check {slowest_check:?}"
    );
    assert!(
        edit_took < Duration::from_secs(5),
        "the manager's edit took {edit_took:?} during the flood"
    );
    assert!(
        login_took < Duration::from_secs(10),
        "a colleague's login took {login_took:?} during the flood"
    );
}

/// The real binary as a server, its log in a file.
#[tokio::test]
async fn a_failed_login_never_logs_the_name_tried() {
    let db = common::TestDb::new().await;
    let log = tempfile::tempfile().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_yizhan"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", &db.url, "--seed", "false"])
        .env_remove("YIZHAN_TRUSTED_PROXIES")
        .env("RUST_LOG", "info,sqlx=warn")
        .stdout(Stdio::null())
        .stderr(log.try_clone().unwrap())
        .spawn()
        .expect("starting yizhan serve");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == StatusCode::OK)
    {
        assert!(Instant::now() < deadline, "yizhan serve did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Someone types the password into the login field.
    let secret = "Hunter2-MyRealPassword";
    let res = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "login": secret, "password": "whatever" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let _ = child.kill();
    let _ = child.wait();

    let mut text = String::new();
    let mut log = log;
    log.rewind().unwrap();
    log.read_to_string(&mut text).unwrap();
    assert!(
        text.contains("failed login"),
        "no failed login logged: {text}"
    );
    assert!(text.contains("login_tag"), "{text}");
    let lower = secret.to_ascii_lowercase();
    assert!(
        !text.contains(secret) && !text.contains(&lower),
        "the name tried is in the log: {text}"
    );
}
