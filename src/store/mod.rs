//! The store: the source of truth. One trait, two backends (GeoPackage on SQLite, PostGIS).

/// Demand cells and query counts both backends encode and decode the same way.
mod demand;
/// Which store failures mean "unavailable, retry shortly" (503) rather than a bug (500).
mod fault;
/// Geometry encoding shared by both backends.
pub mod geom;
/// PostgreSQL + PostGIS backend for deployments.
pub mod postgres;
/// Region rows both backends decode the same way.
mod regions;
/// Report rows both backends decode the same way.
mod reports;
/// Embedded SQLite backend whose file is a valid OGC GeoPackage.
pub mod sqlite;

use crate::domain::audit::{Actor, AuditAction, AuditRecord};
use crate::domain::demand::DemandCell;
use crate::domain::report::{
    InboxReport, NewReport, Report, ReportScope, ReportStatus, Resolution,
};
use crate::domain::{Account, Login, LonLat, NewStation, Region, Role, Station, StationState};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Range queries a start-up load keeps in flight: each reads and decodes its rows on its own
/// connection and task, so loading a million stations uses every core.
pub(crate) const LOAD_PARTS: usize = 4;

/// Splits the ids `lo..=hi` into inclusive ranges of at most `chunk` ids, covering them all.
pub(crate) fn load_ranges(lo: i64, hi: i64, chunk: i64) -> Vec<(i64, i64)> {
    let (lo, hi, chunk) = (i128::from(lo), i128::from(hi), i128::from(chunk.max(1)));
    let mut ranges = Vec::new();
    let mut start = lo;
    while start <= hi {
        let end = (start + chunk - 1).min(hi);
        // Both ends lie within lo..=hi, so they fit in an i64.
        ranges.push((start as i64, end as i64));
        start = end + 1;
    }
    ranges
}

/// Every station `read` returns for the ids `lo..=hi`, reading ranges of at most `chunk` ids,
/// [`LOAD_PARTS`] at a time on their own tasks, concatenated in range order.
pub(crate) async fn load_in_ranges<Read, Part>(
    lo: i64,
    hi: i64,
    chunk: i64,
    read: Read,
) -> StoreResult<Vec<Arc<Station>>>
where
    Read: Fn(i64, i64) -> Part,
    Part: std::future::Future<Output = StoreResult<Vec<Arc<Station>>>> + Send + 'static,
{
    use futures::{StreamExt, TryStreamExt};
    let parts = futures::stream::iter(load_ranges(lo, hi, chunk))
        .map(|(from, to)| {
            let task = tokio::spawn(read(from, to));
            async move {
                match task.await {
                    Ok(part) => part,
                    // The task only ends by finishing or panicking: nothing cancels it.
                    Err(e) => std::panic::resume_unwind(e.into_panic()),
                }
            }
        })
        .buffered(LOAD_PARTS);
    futures::pin_mut!(parts);
    let mut all = Vec::new();
    while let Some(part) = parts.try_next().await? {
        all.extend(part);
    }
    Ok(all)
}

/// What can go wrong in a store, before it is mapped to HTTP.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database said no (connection, SQL, constraint not mapped below).
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A station code that already exists (in the store or earlier in the same batch).
    #[error("duplicate station code {code:?}")]
    DuplicateCode {
        /// The offending code.
        code: String,
        /// Zero-based position in the batch, when it came from one.
        index: Option<usize>,
    },
    /// A row that does not decode into a valid value (a station, an account, a region, a
    /// demand cell): the data was changed behind our back.
    #[error("corrupt stored row {id}: {reason}")]
    Corrupt {
        /// The row's key (station id, account id, adcode, H3 cell).
        id: i64,
        /// What did not decode.
        reason: String,
    },
    /// The station changed since the caller read it.
    #[error("version mismatch: the station is now at version {current}")]
    VersionMismatch {
        /// The version stored now.
        current: i64,
    },
    /// No active station with this id.
    #[error("no active station with id {0}")]
    NotFound(i64),
    /// A login that another account already has.
    #[error("an account with login {0:?} already exists")]
    DuplicateLogin(String),
    /// No account with this login.
    #[error("no account with login {0:?}")]
    UnknownLogin(String),
    /// Stations are assigned to managers only.
    #[error("{login} is a {role}, not a manager: only managers are given stations")]
    NotAManager {
        /// The account's login.
        login: String,
        /// Its role.
        role: Role,
    },
    /// An account the audit log or a resolved report names is kept, so the history still
    /// says who did what; it can be disabled instead.
    #[error(
        "{login} made {changes} station change(s) and resolved {resolutions} report(s); \
         the history names it, so it is not deleted: disable it instead \
         (`yizhan user disable --login {login}`)"
    )]
    AccountHasHistory {
        /// The account's login.
        login: String,
        /// Audit rows written by the account.
        changes: i64,
        /// Reports it resolved.
        resolutions: i64,
    },
    /// A station code that names no active station (when assigning stations to a manager).
    #[error("no active station with code {0:?}")]
    UnknownStationCode(String),
    /// The URL names no backend we have.
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// No report with this id about this station.
    #[error("station {station_id} has no report with id {report_id}")]
    ReportNotFound {
        /// The station in the request.
        station_id: i64,
        /// The report id in the request.
        report_id: i64,
    },
    /// The report was resolved already (resolving is not repeated).
    #[error("report {0} is already resolved")]
    ReportAlreadyResolved(i64),
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the service needs from a backend; both backends pass the same tests.
/// Each concern is its own trait, implemented per backend in its own file.
pub trait Store:
    StationStore
    + EditStore
    + AccountStore
    + ReportStore
    + RegionStore
    + DemandStore
    + Send
    + Sync
    + 'static
{
}

impl<
        T: StationStore
            + EditStore
            + AccountStore
            + ReportStore
            + RegionStore
            + DemandStore
            + Send
            + Sync
            + 'static,
    > Store for T
{
}

/// Stations: the bulk load, reads and inserts.
#[async_trait]
pub trait StationStore: Send + Sync {
    /// A short name for logs and metrics (`sqlite`, `postgres`).
    fn kind(&self) -> &'static str;

    /// Number of active (not retired) stations.
    async fn count_stations(&self) -> StoreResult<i64>;

    /// Whether any station was ever stored, retired ones included (a fresh store has none).
    /// Unlike counting, this reads one row.
    async fn has_stations(&self) -> StoreResult<bool>;

    /// Every active station by id, for the index's bulk load. Each is shared from the start:
    /// at a million stations, moving them into `Arc`s afterwards costs as much as reading them.
    async fn load_stations(&self) -> StoreResult<Vec<Arc<Station>>>;

    /// One active station by id.
    async fn get_station(&self, id: i64) -> StoreResult<Option<Station>>;

    /// Inserts a batch in one transaction: all rows or none. Returns the new ids in order.
    async fn insert_stations(&self, stations: &[NewStation]) -> StoreResult<Vec<i64>>;

    /// Closes the connections; on SQLite this checkpoints the WAL into the GeoPackage file so
    /// other tools (QGIS, ogrinfo) see every change in the file itself.
    async fn close(&self) {}

    /// The `k` nearest active station ids with distances in metres, computed by the database
    /// per request: the baseline the in-memory index is measured against.
    async fn nearest_in_store(&self, origin: LonLat, k: usize) -> StoreResult<Vec<(i64, f64)>>;
}

/// Station changes: each one commits together with its audit record, bumps the version,
/// and (on PostGIS) notifies the other replicas.
#[async_trait]
pub trait EditStore: Send + Sync {
    /// Creates one station (audited as `create`).
    async fn create_station(&self, station: &NewStation, actor: &Actor) -> StoreResult<Station>;

    /// Stores `after` if the station is still at `before.version`, as one audited change.
    /// Returns the stored station (new version); `VersionMismatch` or `NotFound` otherwise.
    async fn update_station(
        &self,
        before: &Station,
        after: &Station,
        action: AuditAction,
        actor: &Actor,
    ) -> StoreResult<Station>;

    /// Retires a station (gone from queries, kept with its history), if still at
    /// `expected_version` when one is given.
    async fn retire_station(
        &self,
        id: i64,
        expected_version: Option<i64>,
        actor: &Actor,
    ) -> StoreResult<Station>;

    /// The audit records of one station, oldest first (retired stations included).
    async fn station_history(&self, id: i64) -> StoreResult<Vec<AuditRecord>>;

    /// The whole audit log in commit order.
    async fn audit_log(&self) -> StoreResult<Vec<AuditRecord>>;

    /// Whether a station id exists at all, retired or not.
    async fn station_exists(&self, id: i64) -> StoreResult<bool>;

    /// One station at its current version, retired or not (`None`: no such id): what a
    /// replica reloads, so a retirement reaches its index with the version that orders it.
    async fn station_state(&self, id: i64) -> StoreResult<Option<StationState>>;

    /// `(id, version, active)` of stations changed at or after `since`: cheap rows a replica
    /// compares with its index before reloading only the stale ones.
    async fn changed_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<(i64, i64, bool)>>;

    /// Ids of stations changed by any process, as they commit; `None` when the backend has no
    /// such feed (SQLite: one process, healed by the periodic resync).
    async fn subscribe_changes(&self) -> StoreResult<Option<ChangeStream>>;
}

/// A stream of changed station ids.
pub type ChangeStream = futures::stream::BoxStream<'static, StoreResult<i64>>;

/// Accounts and their sessions. Only hashes are stored: argon2 PHC strings for passwords,
/// hex SHA-256 for session tokens (see `crate::auth`).
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates an account with the stations of `station_codes` assigned (all in one
    /// transaction). `DuplicateLogin` if the login is taken, `UnknownStationCode` for a code
    /// that names no active station. Returns the new id.
    async fn create_account(
        &self,
        login: &Login,
        password_hash: &str,
        role: Role,
        station_codes: &[String],
    ) -> StoreResult<i64>;

    /// Replaces an account's password hash and ends all its sessions (`UnknownLogin` if none).
    async fn set_password(&self, login: &Login, password_hash: &str) -> StoreResult<()>;

    /// The account with this login, its password hash and whether it is disabled.
    async fn account_by_login(&self, login: &Login) -> StoreResult<Option<AccountRecord>>;

    /// Disables (`true`) or enables an account; disabling ends all its sessions in the same
    /// transaction. Returns whether anything changed (`UnknownLogin` if there is no account).
    async fn set_account_disabled(&self, login: &Login, disabled: bool) -> StoreResult<bool>;

    /// Deletes an account with its sessions and assigned stations. `AccountHasHistory` when
    /// the audit log or a resolved report names it (the history must keep saying who).
    async fn delete_account(&self, login: &Login) -> StoreResult<()>;

    /// Replaces a manager's stations by those `station_codes` name, all or nothing:
    /// `UnknownLogin`, `NotAManager`, `UnknownStationCode` change nothing. Returns the ids now
    /// assigned, ascending. Live sessions see the change at their next request.
    async fn set_account_stations(
        &self,
        login: &Login,
        station_codes: &[String],
    ) -> StoreResult<Vec<i64>>;

    /// Records a session for `account_id` under the hash of its token.
    async fn create_session(
        &self,
        token_hash: &str,
        account_id: i64,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// The account of a session that has not expired at `now`; `None` if unknown, expired or
    /// the account is disabled.
    async fn session_account(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Account>>;

    /// Ends a session (no error if there was none).
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;

    /// Removes sessions expired at `now`; returns how many.
    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

/// An account as logins and the command line see it.
#[derive(Debug, Clone)]
pub struct AccountRecord {
    /// The account.
    pub account: Account,
    /// Its argon2 PHC string.
    pub password_hash: String,
    /// Since when it is disabled (`None`: enabled).
    pub disabled_at: Option<DateTime<Utc>>,
}

/// Rider problem reports. They live beside the stations and never change them.
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Files a report about an active station (`NotFound` when it is unknown or retired).
    async fn create_report(
        &self,
        station_id: i64,
        report: &NewReport,
        at: DateTime<Utc>,
    ) -> StoreResult<Report>;

    /// Reports about one station (retired ones included), newest first, at most `limit`;
    /// `status` `None` for all.
    async fn reports_of_station(
        &self,
        station_id: i64,
        status: Option<ReportStatus>,
        limit: usize,
    ) -> StoreResult<Vec<Report>>;

    /// Reports about the stations in `scope`, newest first, at most `limit`, with each
    /// station's code and name; `status` `None` for all.
    async fn reports_for(
        &self,
        scope: ReportScope<'_>,
        status: Option<ReportStatus>,
        limit: usize,
    ) -> StoreResult<Vec<InboxReport>>;

    /// Resolves an open report of this station, atomically: `ReportNotFound` when the station
    /// has no such report, `ReportAlreadyResolved` when someone resolved it first.
    async fn resolve_report(
        &self,
        station_id: i64,
        report_id: i64,
        resolution: &Resolution,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> StoreResult<Report>;
}

/// Administrative regions (province, city, county outlines). On SQLite they are the GeoPackage
/// layer `regions`, which QGIS shows.
#[async_trait]
pub trait RegionStore: Send + Sync {
    /// Inserts or replaces (by adcode) every region in one transaction: all or none.
    /// Returns how many were written.
    async fn upsert_regions(&self, regions: &[Region]) -> StoreResult<usize>;

    /// Whether any region is stored.
    async fn has_regions(&self) -> StoreResult<bool>;

    /// Every stored region, ordered by adcode.
    async fn load_regions(&self) -> StoreResult<Vec<Region>>;
}

/// Demand on H3 cells: imported demand aggregated per cell and label (raw points are never
/// stored), and counts of nearest-query origins per coarse cell.
#[async_trait]
pub trait DemandStore: Send + Sync {
    /// Stores aggregated demand in one transaction; `replace` first deletes all demand cells,
    /// otherwise weights and points add to the rows already stored for the same (cell, label).
    /// Returns the number of distinct (cell, label) rows written.
    async fn store_demand(&self, cells: &[DemandCell], replace: bool) -> StoreResult<usize>;

    /// Every stored demand cell, ordered by cell and label.
    async fn load_demand(&self) -> StoreResult<Vec<DemandCell>>;

    /// Adds query-origin counts per cell ([`crate::domain::demand::QUERY_DEMAND_RES`]) in one
    /// transaction. A finer cell is counted on its parent at that resolution: nothing finer is
    /// ever stored.
    async fn add_query_counts(&self, counts: &[(h3o::CellIndex, u64)]) -> StoreResult<()>;

    /// Every query-origin count, ordered by cell.
    async fn load_query_counts(&self) -> StoreResult<Vec<(h3o::CellIndex, u64)>>;
}

/// How a store's connection pool behaves, beyond what the URL says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// How long a query waits for a PostgreSQL connection before failing as unavailable: while
    /// the server is down or every connection is busy, requests fail after this long (503)
    /// instead of piling up.
    pub acquire_timeout: std::time::Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            acquire_timeout: std::time::Duration::from_millis(DEFAULT_ACQUIRE_TIMEOUT_MS),
        }
    }
}

/// Default of [`StoreOptions::acquire_timeout`] in milliseconds: long enough to ride out a
/// burst of writers, short enough that a client told "503, retry" is not left hanging.
pub const DEFAULT_ACQUIRE_TIMEOUT_MS: u64 = 2_000;

/// Opens the store a URL names, creating and migrating it as needed.
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    connect_with(url, StoreOptions::default()).await
}

/// [`connect`] with pool settings.
pub async fn connect_with(url: &str, options: StoreOptions) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::PgStore::open_with(url, options).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_string()))
    }
}

/// Splits the stored amenity text (`water;toilet`) written by both backends.
pub(crate) fn decode_amenities(id: i64, s: &str) -> StoreResult<crate::domain::AmenitySet> {
    crate::domain::AmenitySet::parse_list(s, ';').map_err(|e| StoreError::Corrupt {
        id,
        reason: e.message,
    })
}

/// Joins amenity keys for storage.
pub(crate) fn encode_amenities(a: crate::domain::AmenitySet) -> String {
    a.keys().join(";")
}

/// An audit row as both backends store it (JSON as TEXT in SQLite, JSONB in PostgreSQL).
#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    id: i64,
    station_id: i64,
    account_id: Option<i64>,
    actor: String,
    action: String,
    at: DateTime<Utc>,
    fields: sqlx::types::Json<serde_json::Value>,
    before: Option<sqlx::types::Json<serde_json::Value>>,
    after: Option<sqlx::types::Json<serde_json::Value>>,
}

impl AuditRow {
    /// The record, or `Corrupt` when the action or the field list does not decode.
    pub(crate) fn into_record(self) -> StoreResult<AuditRecord> {
        let station_id = self.station_id;
        Ok(AuditRecord {
            id: self.id,
            station_id,
            actor: Actor {
                account_id: self.account_id,
                login: self.actor,
            },
            action: AuditAction::parse(&self.action).ok_or_else(|| StoreError::Corrupt {
                id: station_id,
                reason: format!("unknown audit action {:?}", self.action),
            })?,
            at: self.at,
            fields: serde_json::from_value(self.fields.0).map_err(|e| StoreError::Corrupt {
                id: station_id,
                reason: format!("audit fields: {e}"),
            })?,
            before: self.before.map(|j| j.0),
            after: self.after.map(|j| j.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_ranges_cover_every_id_once() {
        for (lo, hi, chunk) in [
            (1, 1, 10),
            (1, 3, 1),
            (1, 4, 2),
            (1, 5, 2),
            (7, 1_000_000, 16_384),
            (i64::MAX - 5, i64::MAX, 4),
            (i64::MIN, i64::MIN + 9, 3),
        ] {
            let ranges = load_ranges(lo, hi, chunk);
            assert_eq!(ranges[0].0, lo);
            assert_eq!(ranges.last().unwrap().1, hi);
            for w in ranges.windows(2) {
                assert_eq!(w[0].1 + 1, w[1].0, "{ranges:?}");
            }
            assert!(ranges.iter().all(|(a, b)| a <= b && b - a < chunk));
        }
        assert!(load_ranges(5, 4, 10).is_empty());
    }
}
