//! A replica that falls behind can be told from `/healthz` and `/metrics`: the change feed's
//! state and the seconds since the store was last read for changes. Both stores (SQLite has no
//! feed: one process owns the file).

mod common;

use common::*;
use serde_json::Value;
use sqlx::{Connection, Executor};
use std::time::{Duration, Instant};
use yizhan::config::ServeArgs;

async fn app_resyncing_every_second() -> TestApp {
    spawn_app_with(|a: &mut ServeArgs| {
        a.seed = false;
        a.resync_seconds = 1;
    })
    .await
}

async fn sync_of(app: &TestApp) -> Value {
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!(status, 200, "{body}");
    body["sync"].clone()
}

/// Polls `/healthz` until `ok` holds for its `sync` object, for at most `within`.
async fn wait_for(app: &TestApp, within: Duration, what: &str, ok: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + within;
    loop {
        let sync = sync_of(app).await;
        if ok(&sync) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {sync}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn age(sync: &Value) -> i64 {
    sync["last_resync_age_s"]
        .as_i64()
        .unwrap_or_else(|| panic!("no last_resync_age_s in {sync}"))
}

/// Renames the column the resync reads, so every resync fails until it is renamed back.
async fn rename_updated_at(app: &TestApp, from: &str, to: &str) {
    let sql = format!("ALTER TABLE stations RENAME COLUMN {from} TO {to}");
    match backend() {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.database_url)
                .await
                .expect("opening the GeoPackage");
            c.execute(sql.as_str()).await.expect("renaming the column");
            c.close().await.unwrap();
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.database_url)
                .await
                .expect("connecting to the test database");
            c.execute(sql.as_str()).await.expect("renaming the column");
            c.close().await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_metrics_say_how_closely_the_replica_follows() {
    let app = app_resyncing_every_second().await;
    let feed = match backend() {
        Backend::Sqlite => "none",
        Backend::Postgres => "following",
    };
    wait_for(&app, Duration::from_secs(10), "the feed", |s| {
        s["feed"] == feed
    })
    .await;
    // Resyncs every second: the age never passes a couple of seconds.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let sync = sync_of(&app).await;
        assert!(age(&sync) <= 2, "{sync}");
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("yizhan_sync_resync_age_seconds ")),
        "{metrics}"
    );
    let feed_up = metrics
        .lines()
        .find(|l| l.starts_with("yizhan_sync_feed_up "));
    match backend() {
        Backend::Sqlite => assert_eq!(feed_up, None, "no feed to report"),
        Backend::Postgres => assert_eq!(feed_up, Some("yizhan_sync_feed_up 1")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_cannot_read_changes_shows_a_growing_resync_age() {
    let app = app_resyncing_every_second().await;
    wait_for(&app, Duration::from_secs(10), "a first resync", |s| {
        age(s) <= 1
    })
    .await;
    rename_updated_at(&app, "updated_at", "updated_at_hidden").await;
    wait_for(&app, Duration::from_secs(15), "the age growing", |s| {
        age(s) >= 4
    })
    .await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("yizhan_sync_resync_age_seconds "))
        .unwrap_or_else(|| panic!("{metrics}"));
    let seconds: i64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(seconds >= 4, "{line}");
    // Nearest keeps answering from the index meanwhile.
    let (status, _) = app
        .get_json("/api/v1/stations/nearest?lat=28.68&lon=115.89")
        .await;
    assert_eq!(status, 200);

    rename_updated_at(&app, "updated_at_hidden", "updated_at").await;
    wait_for(&app, Duration::from_secs(15), "the age recovering", |s| {
        age(s) <= 1
    })
    .await;
}
