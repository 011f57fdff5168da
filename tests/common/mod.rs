//! Shared test harness: `spawn_app()` starts the real application on 127.0.0.1:0 in a tokio
//! task, each test with its own database.
//!
//! The backend comes from `YIZHAN_TEST_STORE`: `sqlite` (default; a fresh GeoPackage file in a
//! temporary directory) or `postgres` (a fresh database `yizhan_test_<secs>_<random>` on
//! `YIZHAN_TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`). PostgreSQL
//! or PostGIS missing is a loud failure, never a skip. Each test database is dropped when its
//! test ends; ones left behind by killed runs are dropped an hour later by the next run.
#![allow(dead_code)]

/// The real binary as a child process.
pub mod process;

use chrono::{DateTime, Utc};
use geographiclib_rs::{DirectGeodesic, Geodesic};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use yizhan::config::ServeArgs;
use yizhan::domain::{AmenitySet, Hours, LonLat, NewStation, Station};
use yizhan::index::StationIndex;
use yizhan::startup::Application;
use yizhan::store::{self, Store};

/// Default admin URL of the test PostgreSQL.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Databases created by these tests start with this prefix.
const PG_PREFIX: &str = "yizhan_test_";

/// Templates of migrated PostGIS databases are named this plus a hash of the migrations.
const PG_TEMPLATE_PREFIX: &str = "yizhan_tmpl_";

/// Test databases older than this are leftovers of killed runs (live runs drop their own).
const STALE_AFTER_SECS: u64 = 3600;

/// Nanchang, the provincial capital (lon, lat), a convenient origin.
pub const NANCHANG: (f64, f64) = (115.89, 28.68);

/// Which store the tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded GeoPackage file.
    Sqlite,
    /// PostgreSQL + PostGIS.
    Postgres,
}

/// The backend named by `YIZHAN_TEST_STORE` (default `sqlite`); anything else is a mistake.
pub fn backend() -> Backend {
    match std::env::var("YIZHAN_TEST_STORE").as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => Backend::Sqlite,
        Ok("postgres") | Ok("postgresql") | Ok("pg") => Backend::Postgres,
        Ok(other) => panic!("YIZHAN_TEST_STORE must be `sqlite` or `postgres`, got {other:?}"),
    }
}

/// The PostgreSQL server tests use (an admin connection URL, any database).
pub fn pg_admin_url() -> String {
    std::env::var("YIZHAN_TEST_PG_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_PG_URL.to_string())
}

/// `url` with its database name replaced by `name` (query string kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

fn random_suffix() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("{n:016x}")
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn pg_admin() -> PgConnection {
    let url = pg_admin_url();
    match PgConnection::connect(&url).await {
        Ok(c) => c,
        Err(e) => panic!(
            "\n\nYIZHAN_TEST_STORE=postgres but PostgreSQL is not reachable at {url}: {e}\n\
             Start PostgreSQL 15 with PostGIS (apt-get install -y postgresql-15-postgis-3) or set \
             YIZHAN_TEST_PG_URL. The postgres tests never skip silently.\n\n"
        ),
    }
}

/// The template for the migrations compiled into this build: a database that already has
/// PostGIS and every migration, so a test database is one `CREATE DATABASE … TEMPLATE` away
/// (installing PostGIS and migrating costs seconds per test on a busy machine).
fn pg_template_name() -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for m in sqlx::migrate!("./migrations/postgres").iter() {
        h.update(m.version.to_le_bytes());
        h.update(&*m.checksum);
    }
    format!("{PG_TEMPLATE_PREFIX}{}", &hex::encode(h.finalize())[..16])
}

/// Once per test process: drop leftovers of killed runs and make sure the template exists.
async fn pg_prepare() -> &'static str {
    static READY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    READY
        .get_or_init(|| async {
            let template = pg_template_name();
            let mut admin = pg_admin().await;
            drop_stale_databases(&mut admin, &template).await;
            ensure_template(&mut admin, &template).await;
            let _ = admin.close().await;
            template
        })
        .await
        .as_str()
}

async fn drop_stale_databases(admin: &mut PgConnection, template: &str) {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'yizhan\\_test\\_%' \
         OR datname LIKE 'yizhan\\_tmpl\\_%'",
    )
    .fetch_all(&mut *admin)
    .await
    .expect("listing test databases");
    let now = unix_now();
    for name in names {
        if name == template {
            continue;
        }
        if let Some(rest) = name
            .strip_prefix(PG_PREFIX)
            .or_else(|| name.strip_prefix("yizhan_tmpl_build_"))
        {
            // Names carry their creation time: yizhan_test_<secs>_<random>.
            let created = rest
                .split('_')
                .next()
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0);
            if now.saturating_sub(created) > STALE_AFTER_SECS {
                let _ = admin
                    .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
                    .await;
            }
        } else {
            // A template for other migrations (an older build): dropped unless in use.
            let _ = admin
                .execute(format!("DROP DATABASE IF EXISTS \"{name}\"").as_str())
                .await;
        }
    }
}

async fn ensure_template(admin: &mut PgConnection, template: &str) {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(template)
            .fetch_one(&mut *admin)
            .await
            .expect("looking for the test template database");
    if exists {
        return;
    }
    // Build under a private name and rename when complete, so a concurrent run never copies
    // a half-built template.
    let building = format!("yizhan_tmpl_build_{}_{}", unix_now(), random_suffix());
    admin
        .execute(format!("CREATE DATABASE \"{building}\"").as_str())
        .await
        .expect("creating the template database");
    // The application's own start-up path: migrations, PostGIS included.
    match yizhan::store::postgres::PgStore::open(&with_database(&pg_admin_url(), &building)).await {
        Ok(store) => store.pool().close().await,
        Err(e) => {
            let _ = admin
                .execute(format!("DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)").as_str())
                .await;
            panic!(
                "\n\nPostgreSQL is reachable but a fresh database could not be migrated: {e}\n\
                 If PostGIS is missing: apt-get install -y postgresql-15-postgis-3\n\n"
            );
        }
    }
    // The server may take a moment to notice the closed connections.
    for _ in 0..100 {
        let renamed = admin
            .execute(format!("ALTER DATABASE \"{building}\" RENAME TO \"{template}\"").as_str())
            .await;
        match renamed {
            Ok(_) => return,
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55006") => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // Another run published it first (42P04 duplicate_database), or something else:
            // either way test databases fall back to a plain CREATE DATABASE if needed.
            Err(_) => break,
        }
    }
    let _ = admin
        .execute(format!("DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)").as_str())
        .await;
}

/// One test's own database, removed when dropped.
pub struct TestDb {
    /// The URL the application and the CLI are given.
    pub url: String,
    /// Which backend.
    pub backend: Backend,
    /// The temporary directory holding the GeoPackage (sqlite).
    pub dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    /// A fresh database on the backend `YIZHAN_TEST_STORE` names.
    pub async fn new() -> Self {
        match backend() {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => Self::postgres().await,
        }
    }

    /// A fresh GeoPackage file path in its own temporary directory (created on first open).
    pub fn sqlite() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("yizhan-test-")
            .tempdir()
            .expect("creating a temporary directory");
        let path = dir.path().join("yizhan.gpkg");
        Self {
            url: format!("sqlite://{}", path.display()),
            backend: Backend::Sqlite,
            dir: Some(dir),
            pg_name: None,
        }
    }

    /// A fresh, empty PostgreSQL database with PostGIS available.
    pub async fn postgres() -> Self {
        let template = pg_prepare().await;
        let name = format!("{PG_PREFIX}{}_{}", unix_now(), random_suffix());
        let mut admin = pg_admin().await;
        let mut created = false;
        for _ in 0..20 {
            match admin
                .execute(format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"").as_str())
                .await
            {
                Ok(_) => {
                    created = true;
                    break;
                }
                // 55006: someone is connected to the template right now; try again shortly.
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55006") => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(_) => break,
            }
        }
        if !created {
            // Without the template the application migrates (and installs PostGIS) itself.
            admin
                .execute(format!("CREATE DATABASE \"{name}\"").as_str())
                .await
                .unwrap_or_else(|e| panic!("creating the test database {name}: {e}"));
        }
        // Tests need no durability: skip the WAL flush at every commit.
        let _ = admin
            .execute(format!("ALTER DATABASE \"{name}\" SET synchronous_commit = off").as_str())
            .await;
        let _ = admin.close().await;
        Self {
            url: with_database(&pg_admin_url(), &name),
            backend: Backend::Postgres,
            dir: None,
            pg_name: Some(name),
        }
    }

    /// A fresh database no migration has touched (no template, no PostGIS yet): for tests
    /// of the migrations themselves.
    pub async fn unmigrated() -> Self {
        if backend() == Backend::Sqlite {
            return Self::sqlite();
        }
        let name = format!("{PG_PREFIX}{}_{}", unix_now(), random_suffix());
        let mut admin = pg_admin().await;
        admin
            .execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
            .unwrap_or_else(|e| panic!("creating the test database {name}: {e}"));
        let _ = admin.close().await;
        Self {
            url: with_database(&pg_admin_url(), &name),
            backend: Backend::Postgres,
            dir: None,
            pg_name: Some(name),
        }
    }

    /// Opens (creating and migrating) the store.
    pub async fn connect(&self) -> Arc<dyn Store> {
        store::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("opening the test store {}: {e}", self.url))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs inside the test's runtime: use a thread with its own runtime, and FORCE to
        // end the connections the still-running server holds.
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            rt.block_on(async move {
                if let Ok(mut admin) = PgConnection::connect(&pg_admin_url()).await {
                    let _ = admin
                        .execute(
                            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str(),
                        )
                        .await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = handle.join();
    }
}

/// A running application and what tests need to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// A client that ignores proxy settings from the environment.
    pub client: reqwest::Client,
    /// The application's store (the same one it serves from).
    pub store: Arc<dyn Store>,
    /// The application's index.
    pub index: Arc<StationIndex>,
    /// The URL of this test's database (for the CLI).
    pub database_url: String,
    /// The database; dropped (and removed) last.
    pub db: TestDb,
}

fn init_test_tracing() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "info,sqlx=warn".into()),
            )
            .with_test_writer()
            .try_init();
    }
}

/// The application as it ships (demo seed loaded), on a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The application with no demo stations: tests insert exactly the stations they reason about.
pub async fn spawn_empty_app() -> TestApp {
    spawn_app_with(|a| a.seed = false).await
}

/// The application with settings changed by `configure` (geoip_db, trusted_proxies, seed…).
pub async fn spawn_app_with(configure: impl FnOnce(&mut ServeArgs)) -> TestApp {
    let db = TestDb::new().await;
    spawn_app_on(db, configure).await
}

/// The application on a given database.
pub async fn spawn_app_on(db: TestDb, configure: impl FnOnce(&mut ServeArgs)) -> TestApp {
    init_test_tracing();
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("a socket address");
    let mut args = ServeArgs::for_store(&db.url, listen);
    // `for_store` reads the environment like the binary does; a developer's exported
    // YIZHAN_GEOIP_DB or YIZHAN_SEED must not change what the tests assert.
    args.geoip_db = None;
    args.basemap.url = None;
    args.trusted_proxies = Vec::new();
    args.seed = true;
    args.travel.walk_kmh = 4.5;
    args.travel.ebike_kmh = 15.0;
    args.travel.detour = 1.3;
    args.travel.tz = chrono_tz::Asia::Shanghai;
    args.nearest_engine = yizhan::config::NearestEngine::Index;
    configure(&mut args);
    let app = Application::build(args)
        .await
        .unwrap_or_else(|e| panic!("building the application on {}: {e:#}", db.url));
    let addr = app.local_addr();
    let state = app.state().clone();
    tokio::spawn(app.run());
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");
    TestApp {
        base_url: format!("http://{addr}"),
        addr,
        client,
        store: state.store.clone(),
        index: state.index.clone(),
        database_url: db.url.clone(),
        db,
    }
}

impl TestApp {
    /// The absolute URL of a path (with its query string).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base_url)
    }

    /// `GET` a path.
    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.client
            .get(self.url(path_and_query))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path_and_query}: {e}"))
    }

    /// `GET` a path and read its JSON body (panics, showing the body, if it is not JSON).
    pub async fn get_json(&self, path_and_query: &str) -> (StatusCode, Value) {
        let res = self.get(path_and_query).await;
        json_of(res, path_and_query).await
    }

    /// Inserts stations through the store, then publishes them to the index as the write
    /// path does (store first, then index). Returns their ids in order.
    pub async fn add_stations(&self, stations: &[NewStation]) -> Vec<i64> {
        let ids = self
            .store
            .insert_stations(stations)
            .await
            .expect("inserting test stations");
        let mut changes = Vec::with_capacity(ids.len());
        for &id in &ids {
            let s = self
                .store
                .get_station(id)
                .await
                .expect("reading a test station back")
                .expect("the inserted station exists");
            changes.push((id, Some(s)));
        }
        self.index.apply(changes);
        ids
    }

    /// Active stations in the store.
    pub async fn count(&self) -> i64 {
        self.store
            .count_stations()
            .await
            .expect("counting stations")
    }
}

/// Reads a response as JSON, failing with the status and raw body when it is not.
pub async fn json_of(res: reqwest::Response, what: &str) -> (StatusCode, Value) {
    let status = res.status();
    let text = res.text().await.expect("reading the body");
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{what}: status {status}, body is not JSON ({e}): {text}"));
    (status, json)
}

/// Asserts a JSON error reply `{"error":{"code","message"}}` with this status and code.
pub fn assert_error(what: &str, status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{what}: status; body {body}");
    assert_eq!(
        body.pointer("/error/code").and_then(Value::as_str),
        Some(code),
        "{what}: error code; body {body}"
    );
    let message = body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert!(
        !message.is_empty(),
        "{what}: error message is empty; body {body}"
    );
}

/// A plain, valid, always-open test station at (lon, lat) with no amenities.
pub fn new_station(code: &str, (lon, lat): (f64, f64)) -> NewStation {
    NewStation {
        code: code.to_string(),
        name: format!("测试驿站 {code}"),
        address: format!("测试路 {code} 号"),
        county: "360102".to_string(),
        location: LonLat::new(lon, lat).expect("a valid test position"),
        amenities: AmenitySet::EMPTY,
        opening_hours: hours("24/7"),
        phone: None,
        photo_url: None,
        notes: None,
        demo: false,
    }
}

/// An amenity set from keys (panics on unknown keys: tests write known ones).
pub fn amenities(keys: &[&str]) -> AmenitySet {
    AmenitySet::from_keys(keys).expect("known amenity keys")
}

/// Parsed opening hours (panics on invalid syntax).
pub fn hours(text: &str) -> Hours {
    text.parse().expect("valid opening_hours")
}

/// The point `distance_m` metres from `from` along the geodesic with initial `bearing_deg`.
pub fn point_at(from: (f64, f64), bearing_deg: f64, distance_m: f64) -> (f64, f64) {
    let (lat, lon) = Geodesic::wgs84().direct(from.1, from.0, bearing_deg, distance_m);
    (lon, lat)
}

/// Geodesic distance in metres between two (lon, lat) points on WGS-84.
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    use geographiclib_rs::InverseGeodesic;
    Geodesic::wgs84().inverse(a.1, a.0, b.1, b.0)
}

/// The `items[].code` of a nearest reply, in order.
pub fn codes(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items array in {body}"))
        .iter()
        .map(|i| i["code"].as_str().expect("item code").to_string())
        .collect()
}

/// A station record as the index holds it, for tests that build snapshots directly.
pub fn station_record(id: i64, new: &NewStation, now: DateTime<Utc>) -> Station {
    Station {
        id,
        code: new.code.clone(),
        name: new.name.clone(),
        address: new.address.clone(),
        county: new.county.clone(),
        location: new.location,
        amenities: new.amenities,
        opening_hours: new.opening_hours.clone(),
        temporary_closure: None,
        phone: new.phone.clone(),
        photo_url: new.photo_url.clone(),
        notes: new.notes.clone(),
        demo: new.demo,
        verified_at: None,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

/// The Helsinki extract (ODbL, tests/data/osm/README.md) copied into a new temporary directory,
/// so the graph cache `serve --osm` writes beside it stays out of the repository.
pub fn helsinki_extract() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let to = dir.path().join("Helsinki.osm.pbf");
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/osm/Helsinki.osm.pbf"),
        &to,
    )
    .expect("copying the Helsinki extract");
    (dir, to)
}

/// Creates an account managing `codes` and returns a session token for it.
pub async fn token_for(
    app: &TestApp,
    login: &str,
    role: yizhan::domain::Role,
    codes: &[&str],
) -> String {
    let codes: Vec<String> = codes.iter().map(|c| c.to_string()).collect();
    let id = app
        .store
        .create_account(
            &yizhan::domain::Login::new(login).unwrap(),
            &yizhan::auth::hash_password("a long test password").unwrap(),
            role,
            &codes,
        )
        .await
        .expect("creating a test account");
    let token = yizhan::auth::new_session_token();
    app.store
        .create_session(
            &yizhan::auth::token_hash(&token),
            id,
            chrono::Utc::now() + chrono::TimeDelta::hours(1),
        )
        .await
        .expect("creating a test session");
    token
}
