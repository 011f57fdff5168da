//! The store: the source of truth. One trait, two backends (GeoPackage on SQLite, PostGIS).

/// Point encoding shared by both backends.
pub mod geom;
/// PostgreSQL + PostGIS backend for deployments.
pub mod postgres;
/// Embedded SQLite backend whose file is a valid OGC GeoPackage.
pub mod sqlite;

use crate::domain::{LonLat, NewStation, Station};
use async_trait::async_trait;
use std::sync::Arc;

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
    /// A row that does not decode into a valid station: the data was changed behind our back.
    #[error("corrupt row for station {id}: {reason}")]
    Corrupt {
        /// The row's id.
        id: i64,
        /// What did not decode.
        reason: String,
    },
    /// The URL names no backend we have.
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the service needs from a backend; both backends pass the same tests.
/// Each concern is its own trait, implemented per backend in its own file.
pub trait Store: StationStore + Send + Sync + 'static {}

impl<T: StationStore + Send + Sync + 'static> Store for T {}

/// Stations: the bulk load, reads and inserts.
#[async_trait]
pub trait StationStore: Send + Sync {
    /// A short name for logs and metrics (`sqlite`, `postgres`).
    fn kind(&self) -> &'static str;

    /// Number of active (not retired) stations.
    async fn count_stations(&self) -> StoreResult<i64>;

    /// Every active station, for the index's bulk load.
    async fn load_stations(&self) -> StoreResult<Vec<Station>>;

    /// One active station by id.
    async fn get_station(&self, id: i64) -> StoreResult<Option<Station>>;

    /// Inserts a batch in one transaction: all rows or none. Returns the new ids in order.
    async fn insert_stations(&self, stations: &[NewStation]) -> StoreResult<Vec<i64>>;

    /// The `k` nearest active station ids with distances in metres, computed by the database
    /// per request: the baseline the in-memory index is measured against.
    async fn nearest_in_store(&self, origin: LonLat, k: usize) -> StoreResult<Vec<(i64, f64)>>;
}

/// Opens the store a URL names, creating and migrating it as needed.
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::PgStore::open(url).await?))
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
