//! Two `yizhan serve` processes on one PostGIS database stay in step: an edit through one is
//! visible in the other's nearest results within a second (LISTEN/NOTIFY), and a change that
//! sent no notification is healed by the periodic resync.
//!
//! PostgreSQL only (SQLite is one process by design): under `YIZHAN_TEST_STORE=sqlite` these
//! tests say so and return; CI runs the suite on both stores.

mod common;

use common::process::ServerProcess;
use common::{backend, Backend, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use yizhan::auth::{hash_password, new_session_token, token_hash};
use yizhan::domain::{Login, Role};

async fn start(db_url: &str, client: &reqwest::Client) -> ServerProcess {
    ServerProcess::start(
        db_url,
        &["--resync-seconds", "1"],
        ("REPLICA_LOG", "warn"),
        client,
    )
    .await
}

async fn nearest_first(client: &reqwest::Client, base: &str) -> Value {
    let url = format!("{base}/api/v1/stations/nearest?lat=28.68&lon=115.885&limit=1&include=code");
    let body: Value = client.get(url).send().await.unwrap().json().await.unwrap();
    body["items"][0].clone()
}

fn postgres_only() -> bool {
    if backend() != Backend::Postgres {
        eprintln!("replica tests need PostGIS: run with YIZHAN_TEST_STORE=postgres (CI does)");
        return false;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_through_one_replica_shows_in_the_other_within_a_second() {
    if !postgres_only() {
        return;
    }
    let db = TestDb::postgres().await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let one = start(&db.url, &client).await; // migrates and seeds the demo stations
    let two = start(&db.url, &client).await;

    let store = db.connect().await;
    let first = nearest_first(&client, &two.base).await;
    let id = first["id"].as_i64().unwrap();
    let code = first["code"].as_str().unwrap().to_string();
    let account = store
        .create_account(
            &Login::new("replica_mgr").unwrap(),
            &hash_password("a long test password").unwrap(),
            Role::Manager,
            &[code],
        )
        .await
        .unwrap();
    let token = new_session_token();
    store
        .create_session(
            &token_hash(&token),
            account,
            chrono::Utc::now() + chrono::TimeDelta::hours(1),
        )
        .await
        .unwrap();

    let mut lags = Vec::new();
    let mut version = first_version(&client, &one.base, id).await;
    for n in 0..15 {
        let phone = format!("lag-{n}");
        let res = client
            .patch(format!("{}/api/v1/stations/{id}", one.base))
            .bearer_auth(&token)
            .header("if-match", format!("\"{version}\""))
            .json(&json!({ "phone": phone }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        version += 1;
        let sent = Instant::now();
        loop {
            if nearest_first(&client, &two.base).await["phone"] == phone.as_str() {
                lags.push(sent.elapsed());
                break;
            }
            assert!(
                sent.elapsed() < Duration::from_secs(1),
                "edit {n} not visible in the second replica within 1 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    lags.sort();
    eprintln!(
        "replica visibility over {} edits: median {:?}, max {:?}",
        lags.len(),
        lags[lags.len() / 2],
        lags[lags.len() - 1]
    );
}

async fn first_version(client: &reqwest::Client, base: &str, id: i64) -> i64 {
    let body: Value = client
        .get(format!("{base}/api/v1/stations/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["properties"]["version"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_without_notification_is_healed_by_the_resync() {
    if !postgres_only() {
        return;
    }
    let db = TestDb::postgres().await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let server = start(&db.url, &client).await;
    let id = nearest_first(&client, &server.base).await["id"]
        .as_i64()
        .unwrap();

    // A write that bypasses the service (and so sends no NOTIFY), as a lost notification would.
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    sqlx::query("UPDATE stations SET phone = 'healed', version = version + 1, updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let start = Instant::now();
    loop {
        if nearest_first(&client, &server.base).await["phone"] == "healed" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the resync did not pick up the change"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notified_change_is_reloaded_in_process() {
    if !postgres_only() {
        return;
    }
    let app = common::spawn_app_on(TestDb::postgres().await, |_| {}).await;
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    // Wait until the application listens, so the notification is not sent into the void.
    let listening = Instant::now();
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'")
            .fetch_one(&pool)
            .await
            .unwrap();
        if n > 0 {
            break;
        }
        assert!(
            listening.elapsed() < Duration::from_secs(20),
            "the application never listened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sqlx::query("UPDATE stations SET phone = 'notified', version = version + 1, updated_at = '2000-01-01' WHERE id = 1")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("SELECT pg_notify('yizhan_stations', '1')")
        .execute(&pool)
        .await
        .unwrap();
    let start = Instant::now();
    loop {
        let (_, body) = app.get_json("/api/v1/stations/1").await;
        if body["properties"]["phone"] == "notified" {
            break;
        }
        eprintln!(
            "index has {:?}",
            app.index
                .load()
                .get(1)
                .map(|s| (s.version, s.phone.clone()))
        );
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "not reloaded: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
