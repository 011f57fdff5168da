//! The database goes away and comes back while the service is under load: riders' nearest
//! queries keep being answered from the in-memory index, writes fail fast with 503
//! `store_unavailable` (never a 500, never a hang) and succeed again once PostgreSQL is back,
//! without restarting yizhan; nothing the client saw acknowledged is lost, and the index
//! converges on the store through the reconnected change feed and resync.
//!
//! The restart test stops and starts a PostgreSQL cluster of its own (initdb into a temporary
//! directory, a free loopback port), never the shared server on 5432. It runs under both values
//! of `YIZHAN_TEST_STORE`; it skips only when no PostgreSQL server binaries are installed and
//! the store under test is not PostgreSQL.

mod common;

use common::{backend, new_station, Backend, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use yizhan::auth::{hash_password, new_session_token, token_hash};
use yizhan::config::ServeArgs;
use yizhan::domain::{Login, Role};
use yizhan::http::AppState;
use yizhan::startup::Application;

/// A write must get its answer within this long, outage or not.
const FAIL_FAST: Duration = Duration::from_secs(3);
/// How long PostgreSQL stays down: long enough for every writer to see a whole failed attempt
/// (one acquire timeout) start and end within it.
const OUTAGE: Duration = Duration::from_secs(5);
/// Stations under edit, one writer each.
const WRITERS: usize = 8;
/// Tasks asking for the nearest stations as fast as they are answered.
const READERS: usize = 3;

/// A throwaway PostgreSQL cluster: `initdb` into a temporary directory, served on a free
/// loopback port with its socket in that directory. Stopped and removed when dropped, even
/// when the test fails. As root (CI), the server runs as the `postgres` OS user, because
/// `initdb` and `postgres` refuse to run as root.
struct PrivatePg {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl PrivatePg {
    /// The PostgreSQL server binaries: `YIZHAN_TEST_PG_BIN`, Debian's PostgreSQL 15, or
    /// whatever `pg_config --bindir` names.
    fn bin_dir() -> Option<PathBuf> {
        let from_pg_config = Command::new("pg_config")
            .arg("--bindir")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
        std::env::var_os("YIZHAN_TEST_PG_BIN")
            .map(PathBuf::from)
            .into_iter()
            .chain([PathBuf::from("/usr/lib/postgresql/15/bin")])
            .chain(from_pg_config)
            .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
    }

    /// Creates and starts a cluster with PostGIS available.
    async fn start_new(bin: PathBuf) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("yizhan-pg-")
            .tempdir()
            .expect("a temporary directory for the cluster");
        // SAFETY: geteuid has no preconditions and cannot fail.
        let as_postgres = unsafe { libc::geteuid() } == 0;
        if as_postgres {
            let (uid, gid) = postgres_os_user();
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .expect("giving the cluster directory to the postgres user");
        }
        let mut pg = Self {
            bin,
            dir,
            port: 0,
            as_postgres,
        };
        let data = pg.data_dir();
        pg.run_sync(
            "initdb",
            &[
                "-D".into(),
                data.into(),
                "-U".into(),
                "postgres".into(),
                "-A".into(),
                "trust".into(),
                "-E".into(),
                "UTF8".into(),
                "--locale=C".into(),
                "--no-sync".into(),
            ],
        );
        // Another process may take the free port between the probe and the start: try again.
        for attempt in 1..=5 {
            pg.port = free_port();
            match pg.pg_ctl(&pg.start_args()).await {
                Ok(()) => return pg,
                Err(e) if attempt < 5 => {
                    eprintln!("private PostgreSQL did not start ({e}); retrying")
                }
                Err(e) => panic!("private PostgreSQL did not start: {e}\n{}", pg.log()),
            }
        }
        unreachable!("the last attempt panics")
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    fn start_args(&self) -> Vec<OsString> {
        // fsync off: a fast shutdown writes everything to the operating system, which keeps it
        // across the restart; this test is about the service, not about power loss.
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=16MB",
            self.port,
            self.dir.path().display()
        );
        vec![
            "-D".into(),
            self.data_dir().into(),
            "-l".into(),
            self.dir.path().join("log").into(),
            "-w".into(),
            "-t".into(),
            "60".into(),
            "-o".into(),
            options.into(),
            "start".into(),
        ]
    }

    fn stop_args(&self, mode: &str) -> Vec<OsString> {
        vec![
            "-D".into(),
            self.data_dir().into(),
            "-m".into(),
            mode.into(),
            "-w".into(),
            "stop".into(),
        ]
    }

    /// `pg_ctl stop -m fast`: running sessions are terminated (57P01), new ones refused.
    async fn stop(&self) {
        if let Err(e) = self.pg_ctl(&self.stop_args("fast")).await {
            panic!("stopping the private PostgreSQL: {e}\n{}", self.log());
        }
    }

    /// `pg_ctl start` on the same port and data.
    async fn restart(&self) {
        if let Err(e) = self.pg_ctl(&self.start_args()).await {
            panic!("restarting the private PostgreSQL: {e}\n{}", self.log());
        }
    }

    /// A PostgreSQL program, run as the `postgres` OS user when we are root.
    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    async fn pg_ctl(&self, args: &[OsString]) -> Result<(), String> {
        let mut c = tokio::process::Command::from(self.command("pg_ctl"));
        let out = c
            .args(args)
            .output()
            .await
            .map_err(|e| format!("running pg_ctl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "pg_ctl {:?}: {}{}",
                args.last(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn run_sync(&self, program: &str, args: &[OsString]) {
        let out = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running {program}: {e}"));
        assert!(
            out.status.success(),
            "{program} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        if self.data_dir().join("postmaster.pid").exists() {
            let _ = self
                .command("pg_ctl")
                .args(self.stop_args("immediate"))
                .output();
        }
        // The temporary directory goes with `self.dir`.
    }
}

/// Uid and gid of the `postgres` OS user (which the Debian packages create).
fn postgres_os_user() -> (u32, u32) {
    let name = std::ffi::CString::new("postgres").expect("no NUL in a literal");
    // SAFETY: a valid C string; the record is read before any other getpw* call.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(
        !pw.is_null(),
        "running as root, the private PostgreSQL must run as the `postgres` OS user, and there is none"
    );
    // SAFETY: non-null, pointing at libc's static record.
    unsafe { ((*pw).pw_uid, (*pw).pw_gid) }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The PostgreSQL server binaries, or `None` (with a loud message) when the test may skip.
fn pg_binaries_or_skip(test: &str) -> Option<PathBuf> {
    match PrivatePg::bin_dir() {
        Some(bin) => Some(bin),
        None if backend() == Backend::Postgres => panic!(
            "{test}: no PostgreSQL server binaries (initdb, pg_ctl) found; install \
             postgresql-15-postgis-3 or set YIZHAN_TEST_PG_BIN"
        ),
        None => {
            eprintln!(
                "\n*** SKIPPED {test}: no PostgreSQL server binaries (initdb, pg_ctl) found. \
                 Install postgresql-15-postgis-3 or set YIZHAN_TEST_PG_BIN. ***\n"
            );
            None
        }
    }
}

/// The service in this process on `url`, as `serve` builds it, with a one-second resync.
async fn serve(url: &str) -> (String, AppState) {
    let mut args = ServeArgs::for_store(url, "127.0.0.1:0".parse().expect("an address"));
    args.seed = false;
    args.geoip_db = None;
    args.trusted_proxies = Vec::new();
    args.resync_seconds = 1;
    args.report_rate_per_hour = 100_000;
    args.demand_from_queries = false;
    args.nearest_engine = yizhan::config::NearestEngine::Index;
    // The shipped default, whatever the environment says: that is what must fail fast.
    args.db_acquire_timeout_ms = yizhan::store::DEFAULT_ACQUIRE_TIMEOUT_MS;
    let app = Application::build(args)
        .await
        .unwrap_or_else(|e| panic!("starting yizhan on {url}: {e:#}"));
    let base = format!("http://{}", app.local_addr());
    let state = app.state().clone();
    tokio::spawn(app.run());
    (base, state)
}

/// `WRITERS` stations near Nanchang and a manager of all of them with a session token.
async fn prepare(url: &str) -> (Vec<i64>, String) {
    let store = yizhan::store::connect(url)
        .await
        .unwrap_or_else(|e| panic!("migrating {url}: {e}"));
    let stations: Vec<_> = (0..WRITERS)
        .map(|i| new_station(&format!("PG-{i}"), (115.88 + 0.002 * i as f64, 28.68)))
        .collect();
    let ids = store.insert_stations(&stations).await.expect("stations");
    let codes: Vec<String> = stations.iter().map(|s| s.code.clone()).collect();
    let account = store
        .create_account(
            &Login::new("outage_mgr").expect("a login"),
            &hash_password("a long test password").expect("a hash"),
            Role::Manager,
            &codes,
        )
        .await
        .expect("a manager");
    let token = new_session_token();
    store
        .create_session(
            &token_hash(&token),
            account,
            chrono::Utc::now() + chrono::TimeDelta::hours(1),
        )
        .await
        .expect("a session");
    store.close().await;
    (ids, token)
}

/// One write as the client saw it.
#[derive(Debug)]
struct Attempt {
    started: Instant,
    took: Duration,
    /// HTTP status, or `None` when no response came at all.
    status: Option<StatusCode>,
    error_code: Option<String>,
    retry_after: Option<String>,
    /// Set when acknowledged: the station id and version the reply carried, or the report id.
    acked: Option<(i64, i64)>,
    /// The notes (edits) or note (reports) sent.
    text: String,
}

impl Attempt {
    async fn of(
        started: Instant,
        res: reqwest::Result<reqwest::Response>,
        text: String,
    ) -> (Self, Value) {
        let mut a = Attempt {
            started,
            took: started.elapsed(),
            status: None,
            error_code: None,
            retry_after: None,
            acked: None,
            text,
        };
        let Ok(res) = res else {
            return (a, Value::Null);
        };
        a.status = Some(res.status());
        a.retry_after = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body: Value = res.json().await.unwrap_or(Value::Null);
        a.took = started.elapsed();
        a.error_code = body
            .pointer("/error/code")
            .and_then(Value::as_str)
            .map(str::to_string);
        (a, body)
    }
}

/// Edits one station's notes in a loop with `If-Match`, recording every attempt.
async fn edit_loop(
    client: reqwest::Client,
    base: String,
    token: String,
    id: i64,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Attempt>>>,
) {
    let mut version = 1;
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let notes = format!("edit {id}-{n}");
        let started = Instant::now();
        let res = client
            .patch(format!("{base}/api/v1/stations/{id}"))
            .bearer_auth(&token)
            .header("if-match", format!("\"{version}\""))
            .json(&json!({ "notes": notes }))
            .send()
            .await;
        let (mut a, body) = Attempt::of(started, res, notes).await;
        match a.status {
            Some(StatusCode::OK) => {
                version = body["properties"]["version"].as_i64().expect("a version");
                a.acked = Some((id, version));
            }
            // An edit answered 503 had committed just as the connection broke: carry on from
            // the version the store has.
            Some(StatusCode::PRECONDITION_FAILED) => {
                version = body["error"]["current_version"]
                    .as_i64()
                    .expect("current_version");
            }
            _ => {}
        }
        log.lock().expect("the log").push(a);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Files problem reports about the stations in turn, recording every attempt.
async fn report_loop(
    client: reqwest::Client,
    base: String,
    ids: Vec<i64>,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Attempt>>>,
) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let id = ids[n % ids.len()];
        n += 1;
        let note = format!("report {n}");
        let started = Instant::now();
        let res = client
            .post(format!("{base}/api/v1/stations/{id}/reports"))
            .json(&json!({ "kind": "other", "note": note }))
            .send()
            .await;
        let (mut a, body) = Attempt::of(started, res, note).await;
        if a.status == Some(StatusCode::CREATED) {
            a.acked = Some((id, body["id"].as_i64().expect("a report id")));
        }
        log.lock().expect("the log").push(a);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Nearest queries from points around Nanchang; returns (started, answered with stations).
async fn read_loop(
    client: reqwest::Client,
    base: String,
    seed: usize,
    stop: Arc<AtomicBool>,
) -> Vec<(Instant, bool)> {
    let mut out = Vec::new();
    let mut n = seed;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let lat = 28.6 + (n % 17) as f64 * 0.01;
        let lon = 115.8 + (n % 13) as f64 * 0.01;
        let started = Instant::now();
        let ok = match client
            .get(format!(
                "{base}/api/v1/stations/nearest?lat={lat}&lon={lon}&limit=3"
            ))
            .send()
            .await
        {
            Ok(r) if r.status() == StatusCode::OK => r
                .json::<Value>()
                .await
                .is_ok_and(|b| b["items"].as_array().is_some_and(|i| i.len() == 3)),
            _ => false,
        };
        out.push((started, ok));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    out
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

/// Polls `done` every 50 ms until it holds or `within` passes.
async fn eventually<F, Fut>(what: &str, within: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < within, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The index holds exactly what the store holds for these stations.
async fn index_equals_store(state: &AppState, ids: &[i64]) -> bool {
    let snap = state.index.load();
    for &id in ids {
        let stored = state.store.get_station(id).await.ok().flatten();
        if snap.get(id).as_deref() != stored.as_ref() {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restart_under_load_keeps_reads_fails_writes_fast_and_loses_nothing() {
    let Some(bin) = pg_binaries_or_skip("postgres_restart_under_load") else {
        return;
    };
    let pg = PrivatePg::start_new(bin).await;
    let (ids, token) = prepare(&pg.url()).await;
    let (base, state) = serve(&pg.url()).await;
    let client = client();

    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(Mutex::new(Vec::new()));
    let reports = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = ids
        .iter()
        .map(|&id| {
            tokio::spawn(edit_loop(
                client.clone(),
                base.clone(),
                token.clone(),
                id,
                stop.clone(),
                writes.clone(),
            ))
        })
        .collect();
    let reporter = tokio::spawn(report_loop(
        client.clone(),
        base.clone(),
        ids.clone(),
        stop.clone(),
        reports.clone(),
    ));
    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            tokio::spawn(read_loop(
                client.clone(),
                base.clone(),
                r * 1000,
                stop.clone(),
            ))
        })
        .collect();

    // Load runs normally first.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    pg.stop().await;
    let down_since = Instant::now();
    tokio::time::sleep(OUTAGE).await;
    let down_until = Instant::now();
    pg.restart().await;
    let up_since = Instant::now();

    // Writes succeed again, on every station, with the same yizhan process.
    let acked_after = |log: &Mutex<Vec<Attempt>>, id: i64| {
        log.lock()
            .expect("the log")
            .iter()
            .any(|a| a.started >= up_since && a.acked.is_some_and(|(s, _)| s == id))
    };
    eventually(
        "every station edited after the restart",
        Duration::from_secs(20),
        || {
            let done = ids.iter().all(|&id| acked_after(&writes, id))
                && reports
                    .lock()
                    .expect("the log")
                    .iter()
                    .any(|a| a.started >= up_since && a.acked.is_some());
            async move { done }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.expect("a writer");
    }
    reporter.await.expect("the reporter");
    let mut reads = Vec::new();
    for r in readers {
        reads.extend(r.await.expect("a reader"));
    }
    let writes = std::mem::take(&mut *writes.lock().expect("the log"));
    let reports = std::mem::take(&mut *reports.lock().expect("the log"));

    // Reads: answered from the index throughout, the outage included.
    let ok = reads.iter().filter(|(_, ok)| *ok).count();
    let during = reads
        .iter()
        .filter(|(t, _)| *t >= down_since && *t < down_until)
        .collect::<Vec<_>>();
    eprintln!(
        "reads: {ok}/{} answered, {} of them during the outage; writes: {} attempts, {} reports",
        reads.len(),
        during.len(),
        writes.len(),
        reports.len()
    );
    assert!(
        reads.len() >= 200,
        "too few reads to judge: {}",
        reads.len()
    );
    assert!(
        ok as f64 >= 0.999 * reads.len() as f64,
        "nearest answered {ok} of {} queries",
        reads.len()
    );
    assert!(
        during.len() >= 20 && during.iter().all(|(_, ok)| *ok),
        "nearest during the outage: {} queries, {} failed",
        during.len(),
        during.iter().filter(|(_, ok)| !*ok).count()
    );

    // Writes: every answer fast; every failure a 503 store_unavailable with Retry-After.
    for a in writes.iter().chain(&reports) {
        assert!(a.took < FAIL_FAST, "a write took {:?}: {a:?}", a.took);
        match a.status {
            Some(StatusCode::OK | StatusCode::CREATED | StatusCode::PRECONDITION_FAILED) => {}
            Some(StatusCode::SERVICE_UNAVAILABLE) => {
                assert_eq!(a.error_code.as_deref(), Some("store_unavailable"), "{a:?}");
                assert!(a.retry_after.is_some(), "503 without Retry-After: {a:?}");
            }
            _ => panic!("a write got neither an answer nor a 503: {a:?}"),
        }
    }
    let in_outage: Vec<&Attempt> = writes
        .iter()
        .chain(&reports)
        .filter(|a| a.started >= down_since && a.started + a.took < down_until)
        .collect();
    assert!(
        in_outage.len() >= WRITERS,
        "too few writes during the outage: {}",
        in_outage.len()
    );
    for a in &in_outage {
        assert_eq!(
            a.status,
            Some(StatusCode::SERVICE_UNAVAILABLE),
            "a write while the database was down: {a:?}"
        );
    }
    let slowest_503 = in_outage.iter().map(|a| a.took).max().unwrap_or_default();
    let back_after = writes
        .iter()
        .filter(|a| a.acked.is_some() && a.started + a.took >= up_since)
        .map(|a| a.started + a.took - up_since)
        .min()
        .unwrap_or_default();
    eprintln!(
        "writes during the outage: {} answered 503, the slowest in {slowest_503:?}; \
         first acknowledged edit {back_after:?} after PostgreSQL was back",
        in_outage.len()
    );

    // Every acknowledged edit is in the store, with its version and notes, in the audit log.
    let store = state.store.clone();
    let mut last_acked: BTreeMap<i64, (i64, &str)> = BTreeMap::new();
    for a in &writes {
        let Some((id, version)) = a.acked else {
            continue;
        };
        let history = store.station_history(id).await.expect("history");
        let found = history.iter().any(|r| {
            r.after
                .as_ref()
                .is_some_and(|s| s["version"] == json!(version) && s["notes"] == json!(a.text))
        });
        assert!(found, "acknowledged edit {a:?} is not in the audit log");
        let e = last_acked.entry(id).or_insert((version, &a.text));
        if version > e.0 {
            *e = (version, &a.text);
        }
    }
    for (&id, &(version, notes)) in &last_acked {
        let s = store.get_station(id).await.expect("read").expect("active");
        assert!(
            s.version >= version,
            "station {id} went back to {}",
            s.version
        );
        if s.version == version {
            assert_eq!(s.notes.as_deref(), Some(notes), "station {id}");
        }
    }
    // …and every acknowledged report.
    for a in &reports {
        let Some((station, report)) = a.acked else {
            continue;
        };
        let stored = store
            .reports_of_station(station, None, 500)
            .await
            .expect("reports");
        assert!(
            stored
                .iter()
                .any(|r| r.id == report && r.note.as_deref() == Some(a.text.as_str())),
            "acknowledged report {a:?} is not in the store"
        );
    }

    // The index converges on the store (edits that committed as the connection broke were
    // answered 503 and never applied by the handler: only the resync brings them in).
    eventually(
        "the index equal to the store",
        Duration::from_secs(10),
        || index_equals_store(&state, &ids),
    )
    .await;

    // The change feed listens again: a change only a notification can reveal (its
    // updated_at is too old for any resync) reaches the index.
    let pool = sqlx::PgPool::connect(&pg.url()).await.expect("a pool");
    let id = ids[0];
    sqlx::query(
        "UPDATE stations SET notes = 'via feed', version = version + 1, \
         updated_at = '2000-01-01' WHERE id = $1",
    )
    .bind(id)
    .execute(&pool)
    .await
    .expect("an unaudited change");
    eventually(
        "the notified change in the index",
        Duration::from_secs(10),
        || {
            let (pool, index) = (pool.clone(), state.index.clone());
            async move {
                // Sent until heard: the feed may still be resubscribing.
                let _ = sqlx::query("SELECT pg_notify('yizhan_stations', $1)")
                    .bind(id.to_string())
                    .execute(&pool)
                    .await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                index
                    .load()
                    .get(id)
                    .is_some_and(|s| s.notes.as_deref() == Some("via feed"))
            }
        },
    )
    .await;
    // The periodic resync survived the outage: a change nobody announces is healed.
    sqlx::query(
        "UPDATE stations SET notes = 'via resync', version = version + 1, \
         updated_at = now() WHERE id = $1",
    )
    .bind(ids[1])
    .execute(&pool)
    .await
    .expect("an unannounced change");
    eventually(
        "the periodic resync after the outage",
        Duration::from_secs(10),
        || {
            let s = state.index.load().get(ids[1]);
            async move { s.is_some_and(|s| s.notes.as_deref() == Some("via resync")) }
        },
    )
    .await;
    pool.close().await;
    state.store.close().await;
}

/// The server ends the listening connection (as a failover, a proxy restart or an idle reaper
/// would) while the database stays up: the change sent right then has no listener. The feed
/// must notice, subscribe again and resync what it missed, well before the periodic resync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_cut_off_by_the_server_resyncs_what_it_missed() {
    if backend() != Backend::Postgres {
        eprintln!("this test needs PostGIS: run with YIZHAN_TEST_STORE=postgres (CI does)");
        return;
    }
    let db = TestDb::postgres().await;
    let app = common::spawn_app_on(db, |a| a.resync_seconds = 3600).await;
    let pool = sqlx::PgPool::connect(&app.database_url)
        .await
        .expect("a pool");
    let listener_pid = || async {
        sqlx::query_scalar::<_, i32>(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
             AND query LIKE 'LISTEN%'",
        )
        .fetch_optional(&pool)
        .await
        .expect("pg_stat_activity")
    };
    let start = Instant::now();
    let pid = loop {
        if let Some(pid) = listener_pid().await {
            break pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the application never listened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let id = app.index.load().all().first().expect("a seeded station").id;

    // A notified change, and in the same transaction the end of every session of the service:
    // the notification goes out as the listener's session is gone, and the listener cannot
    // reconnect and listen again before it does (it needs a new session, the commit does not).
    let mut tx = pool.begin().await.expect("a transaction");
    sqlx::query(
        "UPDATE stations SET notes = 'while cut off', version = version + 1, \
         updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await
    .expect("a change");
    sqlx::query("SELECT pg_notify('yizhan_stations', $1)")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .expect("a notification");
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&mut *tx)
    .await
    .expect("ending the service's sessions");
    tx.commit().await.expect("commit");

    let start = Instant::now();
    loop {
        let notes = app.index.load().get(id).and_then(|s| s.notes.clone());
        if notes.as_deref() == Some("while cut off") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the change made while the listener was cut off never reached the index"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_ne!(listener_pid().await, Some(pid), "a new listener");
    pool.close().await;
}
