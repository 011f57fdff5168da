//! Online backups of the GeoPackage store: `VACUUM INTO` copies one consistent snapshot (a
//! single read transaction; in WAL mode the service keeps committing meanwhile) into a new,
//! compacted file that is itself a GeoPackage store.

use crate::store::{StoreError, StoreResult};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection};
use std::path::Path;
use std::time::Duration;

/// What a backup copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupSummary {
    /// Active stations in the copy.
    pub stations: i64,
    /// Audit records in the copy.
    pub audit_records: i64,
}

/// Copies the store file `db` (which must exist: nothing is created) into `dest`, which must
/// not exist or be empty. The copy is switched to a rollback journal, so it is one
/// self-contained file (no `-wal` beside it) that any SQLite or GDAL reads as it is, and is
/// checked with `PRAGMA quick_check` before the counts are read from it.
pub async fn vacuum_into(db: &Path, dest: &Path) -> StoreResult<BackupSummary> {
    let dest_text = dest.to_str().ok_or_else(|| {
        StoreError::Db(sqlx::Error::Configuration(
            format!("the backup path {} is not valid UTF-8", dest.display()).into(),
        ))
    })?;
    // No journal mode or migration: the live store is only read, in whatever state it is.
    let mut live = SqliteConnectOptions::new()
        .filename(db)
        .busy_timeout(Duration::from_secs(30))
        .connect()
        .await?;
    let copied = sqlx::query("VACUUM INTO ?")
        .bind(dest_text)
        .execute(&mut live)
        .await;
    live.close().await?;
    copied?;

    let mut copy = SqliteConnectOptions::new()
        .filename(dest)
        .journal_mode(SqliteJournalMode::Delete)
        .connect()
        .await?;
    let check: String = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_one(&mut copy)
        .await?;
    if check != "ok" {
        return Err(StoreError::Corrupt {
            id: 0,
            reason: format!("the backup failed PRAGMA quick_check: {check}"),
        });
    }
    let stations: i64 =
        sqlx::query_scalar("SELECT count(*) FROM stations WHERE retired_at IS NULL")
            .fetch_one(&mut copy)
            .await?;
    let audit_records: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&mut copy)
        .await?;
    copy.close().await?;
    Ok(BackupSummary {
        stations,
        audit_records,
    })
}
