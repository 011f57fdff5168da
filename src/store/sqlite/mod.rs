//! The embedded default: a SQLite file that is a valid OGC GeoPackage (QGIS opens it).

use crate::domain::{LonLat, NewStation, Station, TemporaryClosure};
use crate::store::geom::{to_lonlat, Wgs84Geometry};
use crate::store::{decode_amenities, encode_amenities, StationStore, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, Utc};
use geozero::wkb;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{FromRow, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

/// Accounts and sessions.
mod accounts;
/// Online backups into a new GeoPackage (`VACUUM INTO`).
pub mod backup;
/// Reading every station at start-up.
mod bulk;
/// Demand cells and query-origin counts.
mod demand;
/// Audited station changes.
mod edits;
/// Standalone GeoPackage files for GIS tools (coverage results), apart from the store.
pub mod export_gpkg;
/// SQLite's C API, read-only, for the start-up read.
mod raw;
/// Administrative regions: the GeoPackage layer `regions`.
mod regions;
/// Rider problem reports.
mod reports;

/// A GeoPackage-backed store.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The database file (the start-up read opens its own read-only connections to it).
    path: std::path::PathBuf,
    /// SQLite has one writer at a time; queueing writers here (instead of in SQLite's busy
    /// handler) means a read-then-write transaction never fails with SQLITE_BUSY.
    write_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// Columns read for a station, in the order of [`StationRow`].
macro_rules! station_columns {
    () => {
        "fid, geom, code, name, address, county, amenities, opening_hours, \
     closure_until, closure_reason, phone, photo_url, notes, demo, verified_at, version, created_at, updated_at"
    };
}
#[allow(unused_imports)]
pub(crate) use station_columns;

#[derive(FromRow)]
struct StationRow {
    fid: i64,
    geom: wkb::Decode<geo_types::Geometry<f64>>,
    code: String,
    name: String,
    address: String,
    county: String,
    amenities: String,
    opening_hours: String,
    closure_until: Option<DateTime<FixedOffset>>,
    closure_reason: Option<String>,
    phone: Option<String>,
    photo_url: Option<String>,
    notes: Option<String>,
    demo: bool,
    verified_at: Option<DateTime<Utc>>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl StationRow {
    fn into_station(self) -> StoreResult<Station> {
        let id = self.fid;
        Ok(Station {
            id,
            location: to_lonlat(id, self.geom.geometry)?,
            amenities: decode_amenities(id, &self.amenities)?,
            opening_hours: self
                .opening_hours
                .parse()
                .map_err(|e: crate::domain::Invalid| StoreError::Corrupt {
                    id,
                    reason: e.message,
                })?,
            temporary_closure: self.closure_until.map(|until| TemporaryClosure {
                until,
                reason: self.closure_reason.unwrap_or_default(),
            }),
            code: self.code,
            name: self.name,
            address: self.address,
            county: self.county,
            phone: self.phone,
            photo_url: self.photo_url,
            notes: self.notes,
            demo: self.demo,
            verified_at: self.verified_at,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// The file a `sqlite://PATH` URL names (none for other URLs).
pub fn file_of_url(url: &str) -> Option<std::path::PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    // Only the file matters here: a bad `synchronous` value is reported when the store opens.
    let (url, _) = take_synchronous(url);
    SqliteConnectOptions::from_str(&url)
        .ok()
        .map(|o| o.get_filename().to_owned())
}

/// A `sqlite://` URL without our own `synchronous=…` parameter (sqlx refuses parameters it
/// does not know), and that parameter's value if it was given.
fn take_synchronous(url: &str) -> (String, Option<&str>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None);
    };
    let mut value = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.strip_prefix("synchronous=") {
            Some(v) => value = Some(v),
            None => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, value)
}

/// The URL sqlx is given and how commits reach the disk, from a `sqlite://` URL that may say
/// `synchronous=full|normal|extra`.
///
/// `full` (the default): a commit is on disk before it is acknowledged, so an acknowledged
/// edit survives power loss. `normal` skips that sync in WAL mode (faster; survives a crash of
/// the process, but may lose the last commits on power loss or an OS crash). `extra` also
/// syncs the directory. `BENCHMARKS.md` measures what `full` costs.
fn split_synchronous(url: &str) -> StoreResult<(String, SqliteSynchronous)> {
    let (url, value) = take_synchronous(url);
    let synchronous = match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("full") => SqliteSynchronous::Full,
        Some("normal") => SqliteSynchronous::Normal,
        Some("extra") => SqliteSynchronous::Extra,
        Some(other) => {
            return Err(StoreError::Db(sqlx::Error::Configuration(
                format!(
                    "synchronous={other:?} in the database URL: use full (the default), normal or extra"
                )
                .into(),
            )))
        }
    };
    Ok((url, synchronous))
}

impl SqliteStore {
    /// Opens (creating if missing) the file a `sqlite://PATH[?synchronous=…]` URL names and
    /// migrates it. Commits are durable before they are acknowledged unless the URL says
    /// `synchronous=normal` (see `split_synchronous`).
    pub async fn open(url: &str) -> StoreResult<Self> {
        let (url, synchronous) = split_synchronous(url)?;
        let url = url.as_str();
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // The store is a GeoPackage: a file other tools open, and the start-up read opens
        // again. A private in-memory database would be gone (and empty) for both.
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        }
        let path = opts.get_filename().to_owned();
        if let Some(dir) = opts.get_filename().parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        // In WAL mode the first migration's header (application_id 'GPKG', user_version) sits
        // in the -wal file until a checkpoint; GDAL reads the header from the main file and
        // warns "bad application_id" while the service runs. Copy it over now.
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await?;
        Ok(Self {
            pool,
            path,
            write_lock: Default::default(),
        })
    }

    /// The connection pool (tests read the connection settings through it).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Inserts one row and its spatial-index entry; `index` names the row in errors.
    async fn insert_one(
        tx: &mut sqlx::SqliteConnection,
        s: &NewStation,
        index: usize,
        now: chrono::DateTime<Utc>,
    ) -> StoreResult<i64> {
        let res = sqlx::query_scalar::<_, i64>(
            "INSERT INTO stations (geom, code, name, address, county, amenities, opening_hours, \
               phone, photo_url, notes, demo, version, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?) RETURNING fid",
        )
        .bind(wkb::Encode(Wgs84Geometry::point(s.location)))
        .bind(&s.code)
        .bind(&s.name)
        .bind(&s.address)
        .bind(&s.county)
        .bind(encode_amenities(s.amenities))
        .bind(s.opening_hours.as_str())
        .bind(&s.phone)
        .bind(&s.photo_url)
        .bind(&s.notes)
        .bind(s.demo)
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await;
        let id = match res {
            Ok(id) => id,
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::DuplicateCode {
                    code: s.code.clone(),
                    index: Some(index),
                })
            }
            Err(e) => return Err(e.into()),
        };
        sqlx::query(
            "INSERT INTO rtree_stations_geom (id, minx, maxx, miny, maxy) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(s.location.lon)
        .bind(s.location.lon)
        .bind(s.location.lat)
        .bind(s.location.lat)
        .execute(&mut *tx)
        .await?;
        Ok(id)
    }

    /// Recomputes the layer extent GeoPackage readers show, from the spatial index.
    async fn refresh_extent(tx: &mut sqlx::SqliteConnection) -> StoreResult<()> {
        sqlx::query(
            "UPDATE gpkg_contents SET \
               min_x = (SELECT min(minx) FROM rtree_stations_geom), \
               max_x = (SELECT max(maxx) FROM rtree_stations_geom), \
               min_y = (SELECT min(miny) FROM rtree_stations_geom), \
               max_y = (SELECT max(maxy) FROM rtree_stations_geom), \
               last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') \
             WHERE table_name = 'stations'",
        )
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[async_trait]
impl StationStore for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn count_stations(&self) -> StoreResult<i64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM stations WHERE retired_at IS NULL")
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }

    async fn has_stations(&self) -> StoreResult<bool> {
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM stations)")
            .fetch_one(&self.pool)
            .await?;
        Ok(any)
    }

    async fn load_stations(&self) -> StoreResult<Vec<std::sync::Arc<Station>>> {
        bulk::load_stations(&self.pool, &self.path).await
    }

    async fn get_station(&self, id: i64) -> StoreResult<Option<Station>> {
        let sql = concat!(
            "SELECT ",
            station_columns!(),
            " FROM stations WHERE fid = ? AND retired_at IS NULL"
        );
        let row: Option<StationRow> = sqlx::query_as(sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(StationRow::into_station).transpose()
    }

    async fn insert_stations(&self, stations: &[NewStation]) -> StoreResult<Vec<i64>> {
        let _w = self.write_lock.lock().await;
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let mut ids = Vec::with_capacity(stations.len());
        let actor = crate::domain::audit::Actor::importer();
        for (index, s) in stations.iter().enumerate() {
            let id = Self::insert_one(&mut tx, s, index, now).await?;
            // Imports are changes too: each station's creation is audited like any other.
            let created = s.clone().into_station(id, now);
            edits::write_audit(
                &mut tx,
                id,
                &actor,
                crate::domain::audit::AuditAction::Create,
                now,
                &["*"],
                None,
                Some(&created),
            )
            .await?;
            ids.push(id);
        }
        Self::refresh_extent(&mut tx).await?;
        tx.commit().await?;
        Ok(ids)
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn nearest_in_store(&self, origin: LonLat, k: usize) -> StoreResult<Vec<(i64, f64)>> {
        // Grow a window over the R-tree until it holds k stations within its inscribed circle.
        let total = self.count_stations().await?;
        let want = k.min(total as usize);
        if want == 0 {
            return Ok(Vec::new());
        }
        let mut half_deg = 0.01_f64;
        loop {
            let (s, n) = (
                (origin.lat - half_deg).max(-90.0),
                (origin.lat + half_deg).min(90.0),
            );
            let lon_half = half_deg / origin.lat.to_radians().cos().max(1e-6);
            // A window crossing the antimeridian falls back to all longitudes: still exact.
            let (w, e) = if origin.lon - lon_half < -180.0 || origin.lon + lon_half > 180.0 {
                (-180.0, 180.0)
            } else {
                (origin.lon - lon_half, origin.lon + lon_half)
            };
            let rows: Vec<(i64, f64, f64)> = sqlx::query_as(
                "SELECT r.id, r.minx, r.miny FROM rtree_stations_geom r JOIN stations s ON s.fid = r.id \
                 WHERE s.retired_at IS NULL AND r.maxx >= ? AND r.minx <= ? AND r.maxy >= ? AND r.miny <= ?",
            )
            .bind(w)
            .bind(e)
            .bind(s)
            .bind(n)
            .fetch_all(&self.pool)
            .await?;
            let mut found: Vec<(i64, f64)> = rows
                .into_iter()
                .filter_map(|(id, lon, lat)| {
                    LonLat::new(lon, lat)
                        .ok()
                        .map(|p| (id, origin.geodesic_distance(&p)))
                })
                .collect();
            found.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            // The window's inscribed radius: one degree of latitude is at least 110.5 km.
            let safe_radius = half_deg * 110_500.0;
            let whole_world = half_deg >= 180.0;
            if found.len() >= want && (found[want - 1].1 <= safe_radius || whole_world) {
                found.truncate(want);
                return Ok(found);
            }
            if whole_world {
                found.truncate(want);
                return Ok(found);
            }
            half_deg *= 2.0;
        }
    }
}
