//! `kill -9` in the middle of a burst of writes, on the store `YIZHAN_TEST_STORE` names: after a
//! restart on the same store, every write the clients saw acknowledged is there with its
//! version, the audit log has exactly one entry per committed change and none for a change
//! that is not in the store (a write cut off unanswered is all there, with its audit row, or
//! not at all), and the index rebuilt at start answers exactly what the store holds.
//!
//! On SQLite this cannot tell `synchronous=NORMAL` from `FULL`: a killed process leaves its
//! committed WAL frames in the operating system's page cache, which the next process reads
//! whether or not they reached the disk. Only losing power (or the kernel) between a commit
//! and the next WAL sync tells them apart, and no test on a running machine does that.

mod common;

use chrono::{DateTime, Utc};
use common::process::ServerProcess;
use common::{distance_m, new_station, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use yizhan::auth::{hash_password, new_session_token, token_hash};
use yizhan::domain::audit::{station_state, AuditAction};
use yizhan::domain::{Login, Role};
use yizhan::store::Store;

/// Stations edited during the burst, one editor each.
const EDITED: usize = 6;
/// Tasks creating (and retiring every other one of) new stations.
const CREATORS: usize = 2;
/// The burst runs this long before the kill (and until this many acknowledgements).
const BURST: Duration = Duration::from_millis(1200);
const MIN_ACKS: usize = 30;

async fn start(db_url: &str, client: &reqwest::Client) -> ServerProcess {
    ServerProcess::start(
        db_url,
        &["--seed", "false", "--report-rate-per-hour", "100000"],
        ("CRASH_LOG", "error"),
        client,
    )
    .await
}

async fn session(store: &dyn Store, login: &str, role: Role, codes: &[String]) -> String {
    let id = store
        .create_account(
            &Login::new(login).expect("a login"),
            &hash_password("a long test password").expect("a hash"),
            role,
            codes,
        )
        .await
        .expect("an account");
    let token = new_session_token();
    store
        .create_session(
            &token_hash(&token),
            id,
            Utc::now() + chrono::TimeDelta::hours(1),
        )
        .await
        .expect("a session");
    token
}

/// A write the client saw acknowledged.
#[derive(Debug, Clone)]
enum Ack {
    /// PATCH of `notes`: 200 with this version.
    Edit {
        id: i64,
        version: i64,
        notes: String,
    },
    /// POST verify: 200 with this version.
    Verify { id: i64, version: i64 },
    /// POST: 201 with this id.
    Create { id: i64, code: String },
    /// DELETE: 204.
    Retire { id: i64 },
    /// A problem report: 201 with this id.
    Report { station: i64, id: i64, note: String },
}

/// What the burst produced: acknowledgements, every notes value sent, and any reply that was
/// neither an acknowledgement nor a cut connection.
#[derive(Default)]
struct Outcome {
    acks: Vec<Ack>,
    sent_notes: BTreeMap<i64, BTreeSet<String>>,
    unexpected: Vec<String>,
}

struct Burst {
    client: reqwest::Client,
    base: String,
    stop: Arc<AtomicBool>,
    out: Arc<Mutex<Outcome>>,
}

impl Burst {
    fn record(&self, f: impl FnOnce(&mut Outcome)) {
        f(&mut self.out.lock().expect("the outcome"));
    }

    /// Sends a request: `None` when the connection was cut (the kill), else status and body.
    async fn send(&self, req: reqwest::RequestBuilder, what: &str) -> Option<(StatusCode, Value)> {
        let res = req.send().await.ok()?;
        let status = res.status();
        let body = res.json::<Value>().await.unwrap_or(Value::Null);
        let expected = [StatusCode::OK, StatusCode::CREATED, StatusCode::NO_CONTENT];
        if !expected.contains(&status) {
            self.record(|o| o.unexpected.push(format!("{what}: {status} {body}")));
        }
        Some((status, body))
    }

    /// Edits one station's notes (and every fourth time verifies it) until stopped or cut off.
    async fn edit(self: Arc<Self>, token: String, id: i64) {
        let mut version = 1;
        for n in 1.. {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            let url = format!("{}/api/v1/stations/{id}", self.base);
            if n % 4 == 0 {
                let req = self
                    .client
                    .post(format!("{url}/verify"))
                    .bearer_auth(&token);
                let Some((status, body)) = self.send(req, "verify").await else {
                    return;
                };
                if status == StatusCode::OK {
                    version = body["properties"]["version"].as_i64().expect("a version");
                    self.record(|o| o.acks.push(Ack::Verify { id, version }));
                }
            } else {
                let notes = format!("edit {id}-{n}");
                self.record(|o| {
                    o.sent_notes.entry(id).or_default().insert(notes.clone());
                });
                let req = self
                    .client
                    .patch(&url)
                    .bearer_auth(&token)
                    .header("if-match", format!("\"{version}\""))
                    .json(&json!({ "notes": notes }));
                let Some((status, body)) = self.send(req, "edit").await else {
                    return;
                };
                if status == StatusCode::OK {
                    version = body["properties"]["version"].as_i64().expect("a version");
                    self.record(|o| o.acks.push(Ack::Edit { id, version, notes }));
                }
            }
        }
    }

    /// Creates stations, retiring every other one, until stopped or cut off.
    async fn create_and_retire(self: Arc<Self>, token: String, task: usize) {
        for n in 1.. {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            let code = format!("N-{task}-{n}");
            let req = self
                .client
                .post(format!("{}/api/v1/stations", self.base))
                .bearer_auth(&token)
                .json(&json!({
                    "code": code, "name": format!("新驿站 {code}"), "county": "360102",
                    "lat": 28.70 + 0.0003 * n as f64, "lon": 115.80 + 0.01 * task as f64 + 0.0007 * n as f64,
                    "opening_hours": "24/7",
                }));
            let Some((status, body)) = self.send(req, "create").await else {
                return;
            };
            if status != StatusCode::CREATED {
                continue;
            }
            let id = body["id"].as_i64().expect("an id");
            self.record(|o| o.acks.push(Ack::Create { id, code }));
            if n % 2 == 0 {
                let req = self
                    .client
                    .delete(format!("{}/api/v1/stations/{id}", self.base))
                    .bearer_auth(&token)
                    .header("if-match", "\"1\"");
                let Some((status, _)) = self.send(req, "retire").await else {
                    return;
                };
                if status == StatusCode::NO_CONTENT {
                    self.record(|o| o.acks.push(Ack::Retire { id }));
                }
            }
        }
    }

    /// Files problem reports about the edited stations until stopped or cut off.
    async fn report(self: Arc<Self>, ids: Vec<i64>) {
        for n in 0.. {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            let station = ids[n % ids.len()];
            let note = format!("report {n}");
            let req = self
                .client
                .post(format!("{}/api/v1/stations/{station}/reports", self.base))
                .json(&json!({ "kind": "other", "note": note }));
            let Some((status, body)) = self.send(req, "report").await else {
                return;
            };
            if status == StatusCode::CREATED {
                let id = body["id"].as_i64().expect("a report id");
                self.record(|o| o.acks.push(Ack::Report { station, id, note }));
            }
        }
    }
}

/// The audit trail of one station is one entry per version from its creation to the version
/// stored, each `after` naming that version and each `before` the one below; the last `after`
/// is the stored row and a retired row's last entry is its retirement.
fn check_history(
    id: i64,
    history: &[yizhan::domain::audit::AuditRecord],
    stored_version: i64,
    active: bool,
    stored: Option<&yizhan::domain::Station>,
) {
    let versions: Vec<i64> = history
        .iter()
        .map(|r| {
            r.after
                .as_ref()
                .and_then(|a| a["version"].as_i64())
                .unwrap_or_else(|| panic!("station {id}: audit entry without a version: {r:?}"))
        })
        .collect();
    let want: Vec<i64> = (1..=stored_version).collect();
    assert_eq!(
        versions, want,
        "station {id}: one audit entry per stored version, none beyond the store's"
    );
    assert_eq!(history[0].action, AuditAction::Create, "station {id}");
    for r in &history[1..] {
        let before = r.before.as_ref().and_then(|b| b["version"].as_i64());
        let after = r.after.as_ref().and_then(|a| a["version"].as_i64());
        assert_eq!(before.map(|v| v + 1), after, "station {id}: {r:?}");
    }
    let last = history.last().expect("a creation at least");
    assert_eq!(
        last.action == AuditAction::Retire,
        !active,
        "station {id}: retired exactly when its last entry is a retirement"
    );
    if let Some(s) = stored {
        assert_eq!(
            last.after.as_ref(),
            Some(&station_state(s)),
            "station {id}: the stored row is its last audited state"
        );
    }
}

/// The audit entry that produced `version` of station `id` (panics naming `ack` when none did).
async fn audited_version(
    store: &dyn Store,
    id: i64,
    version: i64,
    ack: &Ack,
) -> yizhan::domain::audit::AuditRecord {
    store
        .station_history(id)
        .await
        .expect("history")
        .into_iter()
        .find(|r| r.after.as_ref().and_then(|a| a["version"].as_i64()) == Some(version))
        .unwrap_or_else(|| panic!("acknowledged {ack:?} is not in the audit log"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_mid_burst_loses_no_acknowledged_write_and_keeps_audit_and_index_exact() {
    let db = TestDb::new().await;
    let test_started: DateTime<Utc> = "2000-01-01T00:00:00Z".parse().expect("a date");
    let (ids, manager, admin) = {
        let store = db.connect().await;
        let stations: Vec<_> = (0..EDITED)
            .map(|i| new_station(&format!("K-{i}"), (115.85 + 0.003 * i as f64, 28.66)))
            .collect();
        let ids = store.insert_stations(&stations).await.expect("stations");
        let codes: Vec<String> = stations.iter().map(|s| s.code.clone()).collect();
        let manager = session(store.as_ref(), "crash_mgr", Role::Manager, &codes).await;
        let admin = session(store.as_ref(), "crash_admin", Role::Admin, &[]).await;
        store.close().await;
        (ids, manager, admin)
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");

    let mut server = start(&db.url, &client).await;
    let burst = Arc::new(Burst {
        client: client.clone(),
        base: server.base.clone(),
        stop: Arc::new(AtomicBool::new(false)),
        out: Arc::new(Mutex::new(Outcome::default())),
    });
    let mut tasks = Vec::new();
    for &id in &ids {
        tasks.push(tokio::spawn(burst.clone().edit(manager.clone(), id)));
    }
    for t in 0..CREATORS {
        tasks.push(tokio::spawn(
            burst.clone().create_and_retire(admin.clone(), t),
        ));
    }
    tasks.push(tokio::spawn(burst.clone().report(ids.clone())));

    let started = Instant::now();
    while started.elapsed() < BURST || burst.out.lock().expect("the outcome").acks.len() < MIN_ACKS
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "too few writes acknowledged to judge"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // SIGKILL, with requests in flight.
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaping the killed server");
    burst.stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("a burst task");
    }
    let out = std::mem::take(&mut *burst.out.lock().expect("the outcome"));
    assert!(
        out.unexpected.is_empty(),
        "replies that were neither acknowledgements nor cut off: {:?}",
        out.unexpected
    );
    let count = |f: fn(&Ack) -> bool| out.acks.iter().filter(|a| f(a)).count();
    eprintln!(
        "acknowledged before the kill: {} edits, {} verifications, {} creations, {} retirements, {} reports",
        count(|a| matches!(a, Ack::Edit { .. })),
        count(|a| matches!(a, Ack::Verify { .. })),
        count(|a| matches!(a, Ack::Create { .. })),
        count(|a| matches!(a, Ack::Retire { .. })),
        count(|a| matches!(a, Ack::Report { .. })),
    );

    let server = start(&db.url, &client).await;
    let store = db.connect().await;

    // Every station ever touched: its audit trail is exactly its stored versions.
    let rows = store
        .changed_since(test_started)
        .await
        .expect("every station");
    let mut stored: BTreeMap<i64, (i64, bool)> = BTreeMap::new();
    for (id, version, active) in rows {
        let history = store.station_history(id).await.expect("history");
        let row = store.get_station(id).await.expect("a read");
        assert_eq!(row.is_some(), active, "station {id}");
        check_history(id, &history, version, active, row.as_ref());
        stored.insert(id, (version, active));
    }
    // …and no audit entry names a station the store does not have.
    for r in store.audit_log().await.expect("the audit log") {
        assert!(
            stored.contains_key(&r.station_id),
            "audit entry for a missing station: {r:?}"
        );
    }
    // An edit cut off unanswered that committed anyway carries notes a client sent.
    for &id in &ids {
        let s = store
            .get_station(id)
            .await
            .expect("a read")
            .expect("active");
        if let Some(notes) = &s.notes {
            assert!(
                out.sent_notes[&id].contains(notes),
                "station {id}: notes {notes:?}"
            );
        }
    }

    // Writes cut off unanswered that committed anyway (allowed; all or nothing, as checked).
    let mut last_acked: BTreeMap<i64, i64> = BTreeMap::new();
    for ack in &out.acks {
        match ack {
            Ack::Edit { id, version, .. } | Ack::Verify { id, version } => {
                let v = last_acked.entry(*id).or_default();
                *v = (*v).max(*version);
            }
            Ack::Create { id, .. } => {
                last_acked.entry(*id).or_insert(1);
            }
            Ack::Retire { id } => {
                last_acked.insert(*id, 2);
            }
            Ack::Report { .. } => {}
        }
    }
    let unanswered = stored
        .iter()
        .filter(|(id, (v, _))| {
            last_acked.get(id).is_some_and(|a| v > a)
                || (!ids.contains(id) && !last_acked.contains_key(id))
        })
        .count();
    eprintln!("stations with a committed change the client never saw answered: {unanswered}");

    // Every acknowledged write is in the store.
    for ack in &out.acks {
        match ack {
            Ack::Edit { id, version, notes } => {
                let entry = audited_version(store.as_ref(), *id, *version, ack).await;
                assert_eq!(entry.action, AuditAction::Update, "{ack:?}");
                assert_eq!(
                    entry.after.as_ref().map(|a| &a["notes"]),
                    Some(&json!(notes)),
                    "{ack:?}"
                );
                assert!(
                    stored[id].0 >= *version,
                    "{ack:?} went back to {:?}",
                    stored[id]
                );
            }
            Ack::Verify { id, version } => {
                let entry = audited_version(store.as_ref(), *id, *version, ack).await;
                assert_eq!(entry.action, AuditAction::Verify, "{ack:?}");
                assert!(
                    stored[id].0 >= *version,
                    "{ack:?} went back to {:?}",
                    stored[id]
                );
            }
            Ack::Create { id, code } => {
                let history = store.station_history(*id).await.expect("history");
                assert_eq!(
                    history
                        .first()
                        .and_then(|r| r.after.as_ref())
                        .map(|a| &a["code"]),
                    Some(&json!(code)),
                    "acknowledged {ack:?}"
                );
            }
            Ack::Retire { id } => {
                assert_eq!(
                    stored.get(id).map(|s| s.1),
                    Some(false),
                    "acknowledged {ack:?}"
                );
            }
            Ack::Report { station, id, note } => {
                let reports = store
                    .reports_of_station(*station, None, 500)
                    .await
                    .expect("reports");
                assert!(
                    reports
                        .iter()
                        .any(|r| r.id == *id && r.note.as_deref() == Some(note)),
                    "acknowledged {ack:?} is not in the store"
                );
            }
        }
    }

    // The index rebuilt at start is the store: a bbox over everything returns every active
    // station as stored, and nearest answers match a brute-force scan of the store.
    let active = store.load_stations().await.expect("the stations");
    let body: Value = client
        .get(server.base.clone() + "/api/v1/stations?bbox=115.7,28.5,116.0,28.9&limit=10000")
        .send()
        .await
        .expect("bbox")
        .json()
        .await
        .expect("GeoJSON");
    let served: BTreeMap<i64, Value> = body["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| (f["id"].as_i64().expect("an id"), f["properties"].clone()))
        .collect();
    let want: BTreeMap<i64, Value> = active
        .iter()
        .map(|s| {
            (
                s.id,
                Value::Object(yizhan::io::export::station_properties(s)),
            )
        })
        .collect();
    assert_eq!(served, want, "the index after the restart equals the store");
    for origin in [
        (115.85, 28.66),
        (115.81, 28.70),
        (115.83, 28.71),
        (115.9, 28.6),
    ] {
        let body: Value = client
            .get(format!(
                "{}/api/v1/stations/nearest?lat={}&lon={}&limit=5",
                server.base, origin.1, origin.0
            ))
            .send()
            .await
            .expect("nearest")
            .json()
            .await
            .expect("JSON");
        let got: Vec<i64> = body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["id"].as_i64().expect("an id"))
            .collect();
        let mut by_distance: Vec<(f64, i64)> = active
            .iter()
            .map(|s| (distance_m(origin, (s.location.lon, s.location.lat)), s.id))
            .collect();
        by_distance.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let want: Vec<i64> = by_distance.iter().take(5).map(|&(_, id)| id).collect();
        assert_eq!(got, want, "nearest to {origin:?}");
    }
    store.close().await;
    drop(server);
}
