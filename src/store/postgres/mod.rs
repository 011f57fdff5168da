//! PostgreSQL + PostGIS: `geometry(Point, 4326)` with a GIST index, EWKB through geozero.

use crate::domain::{LonLat, NewStation, Station, TemporaryClosure};
use crate::store::geom::{to_lonlat, Wgs84Geometry};
use crate::store::{
    decode_amenities, encode_amenities, StationStore, StoreError, StoreOptions, StoreResult,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use geozero::wkb;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{FromRow, PgPool, Row};
use std::str::FromStr;
use std::sync::Arc;

/// Accounts and sessions.
mod accounts;
/// Demand cells and query-origin counts.
mod demand;
/// Audited station changes.
mod edits;
/// Administrative regions and their outlines.
mod regions;
/// Rider problem reports.
mod reports;

/// The NOTIFY channel carrying ids of changed stations between replicas.
pub const CHANGE_CHANNEL: &str = "yizhan_stations";

/// The store engine's nearest query (`$1` the origin point, `$2` k): a KNN walk of the partial
/// GiST index `stations_active_geom_gist` (migration 0009, same `retired_at IS NULL` predicate),
/// then exact spheroid distances for the k found. Public so `tests/postgis_plan.rs` can
/// `EXPLAIN` the very text the store runs.
pub const NEAREST_SQL: &str = "SELECT id, ST_Distance(geom::geography, $1::geography) AS d FROM ( \
     SELECT id, geom FROM stations WHERE retired_at IS NULL \
     ORDER BY geom <-> $1 LIMIT $2) k ORDER BY d, id";

/// A PostGIS-backed store.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

/// Columns read for a station, in the order of [`StationRow`].
macro_rules! station_columns {
    () => {
        "id, geom, code, name, address, county, amenities, opening_hours, \
     closure_until, closure_reason, phone, photo_url, notes, demo, verified_at, version, created_at, updated_at"
    };
}
#[allow(unused_imports)]
pub(crate) use station_columns;

/// A station row, read by column position in the order of [`station_columns`] (by name, sqlx
/// would hash and compare every column name of every row of a million-station load).
struct StationRow {
    id: i64,
    geom: wkb::Decode<geo_types::Geometry<f64>>,
    code: String,
    name: String,
    address: String,
    county: String,
    amenities: String,
    opening_hours: String,
    closure_until: Option<DateTime<Utc>>,
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

impl<'r> FromRow<'r, PgRow> for StationRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get(0)?,
            geom: row.try_get(1)?,
            code: row.try_get(2)?,
            name: row.try_get(3)?,
            address: row.try_get(4)?,
            county: row.try_get(5)?,
            amenities: row.try_get(6)?,
            opening_hours: row.try_get(7)?,
            closure_until: row.try_get(8)?,
            closure_reason: row.try_get(9)?,
            phone: row.try_get(10)?,
            photo_url: row.try_get(11)?,
            notes: row.try_get(12)?,
            demo: row.try_get(13)?,
            verified_at: row.try_get(14)?,
            version: row.try_get(15)?,
            created_at: row.try_get(16)?,
            updated_at: row.try_get(17)?,
        })
    }
}

impl StationRow {
    fn into_station(self) -> StoreResult<Station> {
        let id = self.id;
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
                until: until.with_timezone(&shanghai_offset()),
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

/// PostgreSQL keeps instants, not the offset they were written with; closures are shown in
/// China Standard Time (UTC+8), the stations' zone.
fn shanghai_offset() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// Station ids per range query of a start-up load.
const LOAD_CHUNK_IDS: i64 = 65_536;

/// The active stations with ids in `from..=to`, by id, streamed row by row.
async fn load_range(pool: PgPool, from: i64, to: i64) -> StoreResult<Vec<Arc<Station>>> {
    let sql = concat!(
        "SELECT ",
        station_columns!(),
        " FROM stations WHERE retired_at IS NULL AND id BETWEEN $1 AND $2 ORDER BY id"
    );
    let mut rows = sqlx::query_as::<_, StationRow>(sql)
        .bind(from)
        .bind(to)
        .fetch(&pool);
    let mut out = Vec::new();
    while let Some(row) = rows.try_next().await? {
        out.push(Arc::new(row.into_station()?));
    }
    Ok(out)
}

impl PgStore {
    /// Connects to the database a `postgres://` URL names and migrates it (PostGIS must be installable).
    pub async fn open(url: &str) -> StoreResult<Self> {
        Self::open_with(url, StoreOptions::default()).await
    }

    /// [`PgStore::open`] with pool settings.
    pub async fn open_with(url: &str, options: StoreOptions) -> StoreResult<Self> {
        let opts = PgConnectOptions::from_str(url)?;
        // Every pooled connection is pinged before use (sqlx's default): after a server
        // restart the dead ones are replaced transparently instead of failing one request each.
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(options.acquire_timeout)
            .test_before_acquire(true)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Inserts one row; `index` names the row in errors.
    async fn insert_one(
        tx: &mut sqlx::PgConnection,
        s: &NewStation,
        index: usize,
        now: DateTime<Utc>,
    ) -> StoreResult<i64> {
        let res = sqlx::query_scalar::<_, i64>(
            "INSERT INTO stations (geom, code, name, address, county, amenities, opening_hours, \
               phone, photo_url, notes, demo, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $12) RETURNING id",
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
        .fetch_one(&mut *tx)
        .await;
        match res {
            Ok(id) => Ok(id),
            Err(e) if is_unique_violation(&e) => Err(StoreError::DuplicateCode {
                code: s.code.clone(),
                index: Some(index),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The pool, for the change feed that listens on its own connection.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[async_trait]
impl StationStore for PgStore {
    fn kind(&self) -> &'static str {
        "postgres"
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

    async fn load_stations(&self) -> StoreResult<Vec<Arc<Station>>> {
        // Ranges of ids read and decoded concurrently, each streamed row by row. Ranges may be
        // read at slightly different moments if a writer is busy; the index's resync on
        // subscribing to the change feed reconciles anything that changed meanwhile.
        let (lo, hi): (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT min(id), max(id) FROM stations")
                .fetch_one(&self.pool)
                .await?;
        let (Some(lo), Some(hi)) = (lo, hi) else {
            return Ok(Vec::new());
        };
        crate::store::load_in_ranges(lo, hi, LOAD_CHUNK_IDS, |from, to| {
            load_range(self.pool.clone(), from, to)
        })
        .await
    }

    async fn get_station(&self, id: i64) -> StoreResult<Option<Station>> {
        let sql = concat!(
            "SELECT ",
            station_columns!(),
            " FROM stations WHERE id = $1 AND retired_at IS NULL"
        );
        let row: Option<StationRow> = sqlx::query_as(sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(StationRow::into_station).transpose()
    }

    async fn insert_stations(&self, stations: &[NewStation]) -> StoreResult<Vec<i64>> {
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
        tx.commit().await?;
        // A bulk load changes the tables' statistics wholesale, and autovacuum may be off or
        // not have run yet: without fresh statistics the planner takes the KNN of the store
        // engine and the resync for a scan of every row.
        sqlx::query("ANALYZE stations, audit_log")
            .execute(&self.pool)
            .await?;
        Ok(ids)
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn nearest_in_store(&self, origin: LonLat, k: usize) -> StoreResult<Vec<(i64, f64)>> {
        let rows: Vec<(i64, f64)> = sqlx::query_as(NEAREST_SQL)
            .bind(wkb::Encode(Wgs84Geometry::point(origin)))
            .bind(k as i64)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }
}
