//! Backups restore to the same data.
//!
//! SQLite: `yizhan backup` taken while a running service acknowledges a stream of edits is a
//! consistent prefix of them (every edit acknowledged before the backup started, none that
//! was not yet sent, station rows and audit log agreeing), a valid GeoPackage a service starts
//! on, and copying it back gives the same export. This is about the SQLite file, so it runs
//! on its own GeoPackage whichever store `YIZHAN_TEST_STORE` selects.
//!
//! PostGIS: the README's `pg_dump -Fc` / `pg_restore` into a new database gives byte-identical
//! exports and the same audit log. Runs under `YIZHAN_TEST_STORE=postgres` (CI does).

mod common;

use common::process::ServerProcess;
use common::{backend, spawn_app, Backend, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use yizhan::auth::{hash_password, new_session_token, token_hash};
use yizhan::domain::audit::AuditAction;
use yizhan::domain::{Login, Role};

async fn serve(db_url: &str, client: &reqwest::Client) -> ServerProcess {
    ServerProcess::start(db_url, &[], ("BACKUP_LOG", "warn"), client).await
}

/// Runs the binary with `args` plus `--database-url`.
async fn yizhan(args: &[&str], database_url: &str) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_yizhan"))
        .args(args)
        .args(["--database-url", database_url])
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .env_remove("RUST_BACKTRACE")
        .output()
        .await
        .expect("running the yizhan binary")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `yizhan export --format FORMAT` of a store, as text.
async fn export(database_url: &str, format: &str) -> String {
    let out = yizhan(&["export", "--format", format], database_url).await;
    assert!(out.status.success(), "export: {}", stderr(&out));
    String::from_utf8(out.stdout).expect("exports are UTF-8")
}

/// A manager of stations `codes` and a session token for them, created in the store directly.
async fn manager_token(database_url: &str, codes: &[String]) -> String {
    let store = yizhan::store::connect(database_url).await.unwrap();
    let id = store
        .create_account(
            &Login::new("backup_mgr").unwrap(),
            &hash_password("a long test password").unwrap(),
            Role::Manager,
            codes,
        )
        .await
        .unwrap();
    let token = new_session_token();
    store
        .create_session(
            &token_hash(&token),
            id,
            chrono::Utc::now() + chrono::TimeDelta::hours(1),
        )
        .await
        .unwrap();
    store.close().await;
    token
}

/// The phone edit `n` writes; edits alternate between two stations, even ones to the first.
fn phone(n: usize) -> String {
    format!("0791-{n:06}")
}

/// Edits the two stations in turn through the API, one at a time, until told to stop;
/// counts the edits the service acknowledged.
async fn edit_until_stopped(
    client: reqwest::Client,
    base: String,
    token: String,
    stations: [i64; 2],
    acked: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let mut versions = [1i64, 1];
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let which = n % 2;
        let res = client
            .patch(format!("{base}/api/v1/stations/{}", stations[which]))
            .bearer_auth(&token)
            .header("if-match", format!("\"{}\"", versions[which]))
            .json(&json!({ "phone": phone(n) }))
            .send()
            .await
            .expect("PATCH");
        assert_eq!(res.status(), StatusCode::OK, "edit {n}");
        versions[which] += 1;
        n += 1;
        acked.store(n, Ordering::SeqCst);
    }
}

/// The CSV records of an export, by station code.
fn rows_by_code(csv_text: &str) -> std::collections::BTreeMap<String, csv::StringRecord> {
    csv::Reader::from_reader(csv_text.as_bytes())
        .records()
        .map(|r| {
            let r = r.expect("a CSV record");
            (r[0].to_string(), r)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backup_while_serving_writes_is_a_consistent_prefix_and_restores() {
    let dir = tempfile::tempdir().unwrap();
    let live_path = dir.path().join("live.gpkg");
    let live = format!("sqlite://{}", live_path.display());
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let server = serve(&live, &client).await; // creates and seeds the store

    let first_two: Value = client
        .get(format!(
            "{}/api/v1/stations/nearest?lat=28.68&lon=115.89&limit=2&include=code",
            server.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let item = |i: usize| &first_two["items"][i];
    let ids = [
        item(0)["id"].as_i64().unwrap(),
        item(1)["id"].as_i64().unwrap(),
    ];
    let codes: Vec<String> = (0..2)
        .map(|i| item(i)["code"].as_str().unwrap().to_string())
        .collect();
    let token = manager_token(&live, &codes).await;

    let acked = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(edit_until_stopped(
        client.clone(),
        server.base.clone(),
        token,
        ids,
        acked.clone(),
        stop.clone(),
    ));
    let waiting = Instant::now();
    while acked.load(Ordering::SeqCst) < 20 {
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "edits too slow"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let backup_path = dir.path().join("backup.gpkg");
    let backup_arg = backup_path.to_str().unwrap();
    let acked_before = acked.load(Ordering::SeqCst);
    let out = yizhan(&["backup", backup_arg], &live).await;
    let acked_after = acked.load(Ordering::SeqCst);
    assert!(out.status.success(), "backup: {}", stderr(&out));
    assert!(
        stderr(&out).contains("backed up 4618 active stations"),
        "{}",
        stderr(&out)
    );
    // Writes went on after the backup.
    let waiting = Instant::now();
    while acked.load(Ordering::SeqCst) < acked_after + 5 {
        assert!(waiting.elapsed() < Duration::from_secs(60), "edits stopped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    let live_csv = export(&live, "csv").await;

    // A pristine copy for the restore: starting a service on the backup changes the file.
    let pristine = dir.path().join("pristine.gpkg");
    std::fs::copy(&backup_path, &pristine).unwrap();
    assert!(
        !Path::new(&format!("{backup_arg}-wal")).exists(),
        "the backup is one self-contained file"
    );

    // Never overwritten by accident, never the store itself.
    let again = yizhan(&["backup", backup_arg], &live).await;
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists; pass --force"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        std::fs::read(&backup_path).unwrap(),
        std::fs::read(&pristine).unwrap()
    );
    let onto_itself = yizhan(&["backup", "--force", live_path.to_str().unwrap()], &live).await;
    assert!(!onto_itself.status.success());
    assert!(
        stderr(&onto_itself).contains("is the store itself"),
        "{}",
        stderr(&onto_itself)
    );

    // A valid GeoPackage: GDAL reads the station layer from it.
    let ogr = Command::new("ogrinfo")
        .args(["-so", backup_arg, "stations"])
        .output()
        .expect("ogrinfo (apt-get install -y gdal-bin; CI installs it)");
    let summary = String::from_utf8_lossy(&ogr.stdout);
    assert!(
        ogr.status.success(),
        "{}",
        String::from_utf8_lossy(&ogr.stderr)
    );
    assert!(summary.contains("Feature Count: 4618"), "{summary}");

    // A consistent prefix: k edits, with k at least those acknowledged before the backup
    // started and at most those sent before it ended; the station rows and the audit log both
    // show exactly the first k.
    let backup_url = format!("sqlite://{backup_arg}");
    let backup_store = yizhan::store::connect(&backup_url).await.unwrap();
    let k = backup_store
        .audit_log()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.action == AuditAction::Update)
        .count();
    backup_store.close().await;
    assert!(
        (acked_before..=acked_after + 1).contains(&k),
        "{k} edits in the backup; {acked_before} acknowledged before it, {acked_after} after"
    );
    let backup_csv = export(&backup_url, "csv").await;
    let mut want = rows_by_code(&live_csv);
    for (which, code) in codes.iter().enumerate() {
        // The last edit before k that went to this station, or the seeded value.
        let last = (0..k).rev().find(|n| n % 2 == which);
        let seeded = rows_by_code(
            &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/seeds/stations.csv"))
                .unwrap(),
        )[code][8]
            .to_string();
        let mut fields: Vec<String> = want[code].iter().map(str::to_string).collect();
        fields[8] = last.map_or(seeded, phone);
        want.insert(code.clone(), csv::StringRecord::from(fields));
    }
    assert_eq!(
        rows_by_code(&backup_csv),
        want,
        "the backup is not the live data after {k} edits"
    );

    // A service starts on the backup and answers from it.
    let on_backup = serve(&backup_url, &client).await;
    let one: Value = client
        .get(format!("{}/api/v1/stations/{}", on_backup.base, ids[0]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["properties"]["phone"], want[&codes[0]][8], "{one}");
    drop(on_backup);

    // Restore: stop the service, put the backup in place of the store (its WAL files gone).
    drop(server);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", live_path.display()));
    }
    std::fs::copy(&pristine, &live_path).unwrap();
    let restored = serve(&live, &client).await;
    let health = client
        .get(format!("{}/healthz", restored.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(export(&live, "csv").await, backup_csv);
    assert_eq!(
        export(&live, "geojson").await,
        export(&backup_url, "geojson").await
    );
}

/// Whether `tool` runs; if not, says why the test cannot run.
fn have(tool: &str) -> bool {
    match Command::new(tool).arg("--version").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            eprintln!(
                "SKIPPED: `{tool}` is not installed (apt-get install -y postgresql-client-15; CI installs it)"
            );
            false
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgis_pg_dump_and_pg_restore_into_a_new_database_give_identical_exports() {
    if backend() != Backend::Postgres {
        eprintln!(
            "the pg_dump restore test needs PostGIS: run with YIZHAN_TEST_STORE=postgres (CI does)"
        );
        return;
    }
    if !have("pg_dump") || !have("pg_restore") {
        return;
    }
    // The demo stations, one of them edited and one retired, so the history has all kinds.
    let app = spawn_app().await;
    let actor = yizhan::domain::audit::Actor {
        account_id: None,
        login: "backup-test".into(),
    };
    let before = app.store.get_station(1).await.unwrap().unwrap();
    let mut after = before.clone();
    after.phone = Some("0791-RESTORE".into());
    app.store
        .update_station(&before, &after, AuditAction::Update, &actor)
        .await
        .unwrap();
    app.store.retire_station(2, None, &actor).await.unwrap();
    app.store
        .create_account(
            &Login::new("restored_admin").unwrap(),
            &hash_password("a long test password").unwrap(),
            Role::Admin,
            &[],
        )
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("yizhan.dump");
    // The README's commands, as written there.
    let out = Command::new("pg_dump")
        .args(["-Fc", "-d", &app.database_url, "-f", dump.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "pg_dump: {}", stderr(&out));

    let restored = TestDb::unmigrated().await; // a new, empty database, dropped at the end
    let out = Command::new("pg_restore")
        .args(["--no-owner", "--exit-on-error", "-d", &restored.url])
        .arg(&dump)
        .output()
        .unwrap();
    assert!(out.status.success(), "pg_restore: {}", stderr(&out));

    for format in ["csv", "geojson"] {
        let original = export(&app.database_url, format).await;
        assert_eq!(
            export(&restored.url, format).await,
            original,
            "{format} export differs"
        );
        assert!(original.contains("0791-RESTORE"));
    }
    let restored_store = restored.connect().await;
    assert_eq!(
        restored_store.audit_log().await.unwrap(),
        app.store.audit_log().await.unwrap()
    );
    assert!(restored_store
        .account_by_login(&Login::new("restored_admin").unwrap())
        .await
        .unwrap()
        .is_some());
    restored_store.close().await;

    // `yizhan backup` on PostGIS points to these commands instead of doing something else.
    let out = yizhan(
        &["backup", dir.path().join("x.gpkg").to_str().unwrap()],
        &app.database_url,
    )
    .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("pg_dump -Fc"), "{}", stderr(&out));
    assert!(!dir.path().join("x.gpkg").exists());
}
