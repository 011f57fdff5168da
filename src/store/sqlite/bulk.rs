//! Loading every station at start-up, fast.
//!
//! Reading a million rows through sqlx's row-by-row path costs tens of microseconds a row here
//! (each of the 18 values is copied into its own allocation on the SQLite worker thread, and
//! each row crosses a channel to the async side). Instead blocking threads read ranges of ids
//! concurrently on their own read-only connections through SQLite's C API ([`super::raw`]),
//! turning each value straight into the station's field.
//!
//! Values are read as sqlx would read them (text as `CAST(… AS TEXT)`, integers and booleans as
//! `CAST(… AS INTEGER)`), so both paths read the same data the same way. Timestamps are parsed as
//! RFC 3339, the format this service writes; a row holding one in any other form (a file edited
//! by hand, say) is re-read through sqlx, which knows more formats.

use super::raw::{Connection, Kind, Statement};
use super::{station_columns, StationRow};
use crate::domain::Station;
use crate::store::{load_in_ranges, StoreError, StoreResult};
use chrono::{DateTime, FixedOffset, Utc};
use geozero::ToGeo;
use sqlx::SqlitePool;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Station ids per range: one connection and statement each.
const CHUNK_IDS: i64 = 65_536;

/// How long a range read waits for a lock (a writer checkpointing, say), in milliseconds.
const BUSY_MS: i32 = 10_000;

/// Every active station, by id.
pub(super) async fn load_stations(
    pool: &SqlitePool,
    path: &Path,
) -> StoreResult<Vec<Arc<Station>>> {
    let (lo, hi): (Option<i64>, Option<i64>) =
        // Unfiltered: the rowid's ends, read without a scan. Each range skips retired rows.
        sqlx::query_as("SELECT min(fid), max(fid) FROM stations")
            .fetch_one(pool)
            .await?;
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return Ok(Vec::new());
    };
    let path: Arc<PathBuf> = Arc::new(path.to_owned());
    // Ranges may be read at slightly different moments if a writer is busy; the index's
    // resync on start-up reconciles anything that changed meanwhile.
    load_in_ranges(lo, hi, CHUNK_IDS, |from, to| {
        load_range(pool.clone(), path.clone(), from, to)
    })
    .await
}

/// The active stations with ids in `from..=to`, by id.
async fn load_range(
    pool: SqlitePool,
    path: Arc<PathBuf>,
    from: i64,
    to: i64,
) -> StoreResult<Vec<Arc<Station>>> {
    let read = tokio::task::spawn_blocking(move || read_range(&path, from, to))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    let mut stations = Vec::with_capacity(read.len());
    for row in read {
        match row {
            Ok(station) => stations.push(station),
            Err(id) => {
                let sql = concat!(
                    "SELECT ",
                    station_columns!(),
                    " FROM stations WHERE fid = ? AND retired_at IS NULL"
                );
                let row: Option<StationRow> =
                    sqlx::query_as(sql).bind(id).fetch_optional(&pool).await?;
                if let Some(row) = row {
                    stations.push(Arc::new(row.into_station()?));
                }
            }
        }
    }
    Ok(stations)
}

/// Reads one range on a connection of its own (blocking); `Err(id)` for a row to re-read
/// through sqlx.
fn read_range(path: &Path, from: i64, to: i64) -> StoreResult<Vec<Result<Arc<Station>, i64>>> {
    let mut conn = Connection::open_read_only(path, BUSY_MS)?;
    let mut stmt = conn.prepare(concat!(
        "SELECT ",
        station_columns!(),
        " FROM stations WHERE retired_at IS NULL AND fid BETWEEN ?1 AND ?2 ORDER BY fid"
    ))?;
    stmt.bind_i64(1, from)?;
    stmt.bind_i64(2, to)?;
    let mut out = Vec::new();
    while stmt.step()? {
        let id = stmt.int(0);
        out.push(match read_row(&stmt, id)? {
            Some(row) => Ok(Arc::new(row.into_station()?)),
            None => Err(id),
        });
    }
    Ok(out)
}

/// The columns of [`station_columns`], by position.
mod col {
    pub const GEOM: i32 = 1;
    pub const CODE: i32 = 2;
    pub const NAME: i32 = 3;
    pub const ADDRESS: i32 = 4;
    pub const COUNTY: i32 = 5;
    pub const AMENITIES: i32 = 6;
    pub const OPENING_HOURS: i32 = 7;
    pub const CLOSURE_UNTIL: i32 = 8;
    pub const CLOSURE_REASON: i32 = 9;
    pub const PHONE: i32 = 10;
    pub const PHOTO_URL: i32 = 11;
    pub const NOTES: i32 = 12;
    pub const DEMO: i32 = 13;
    pub const VERIFIED_AT: i32 = 14;
    pub const VERSION: i32 = 15;
    pub const CREATED_AT: i32 = 16;
    pub const UPDATED_AT: i32 = 17;
}

/// The row sqlx would have read, or `None` when a timestamp is not RFC 3339 text.
fn read_row(stmt: &Statement<'_>, id: i64) -> StoreResult<Option<StationRow>> {
    let corrupt = |reason: String| StoreError::Corrupt { id, reason };
    let text = |col: i32, name: &str| -> StoreResult<Option<String>> {
        stmt.text(col)
            .map(|bytes| {
                std::str::from_utf8(bytes)
                    .map(str::to_owned)
                    .map_err(|e| corrupt(format!("{name} is not UTF-8: {e}")))
            })
            .transpose()
    };
    let required = |col: i32, name: &str| -> StoreResult<String> {
        text(col, name)?.ok_or_else(|| corrupt(format!("{name} is NULL")))
    };
    // `None`: NULL; `Some(None)`: a value in some other form than RFC 3339 text.
    let time = |col: i32| -> Option<Option<DateTime<FixedOffset>>> {
        match stmt.kind(col) {
            Kind::Null => None,
            Kind::Text => Some(
                stmt.text(col)
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok()),
            ),
            Kind::Integer | Kind::Float | Kind::Blob => Some(None),
        }
    };
    let utc = |t: DateTime<FixedOffset>| t.with_timezone(&Utc);

    let geometry = geozero::wkb::GpkgWkb(stmt.blob(col::GEOM).unwrap_or_default().to_vec())
        .to_geo()
        .map_err(|e| corrupt(format!("geometry is not a GeoPackage blob: {e}")))?;
    let closure_until = match time(col::CLOSURE_UNTIL) {
        None => None,
        Some(Some(t)) => Some(t),
        Some(None) => return Ok(None),
    };
    let verified_at = match time(col::VERIFIED_AT) {
        None => None,
        Some(Some(t)) => Some(utc(t)),
        Some(None) => return Ok(None),
    };
    let (Some(Some(created_at)), Some(Some(updated_at))) =
        (time(col::CREATED_AT), time(col::UPDATED_AT))
    else {
        return Ok(None);
    };
    Ok(Some(StationRow {
        fid: id,
        geom: geozero::wkb::Decode {
            geometry: Some(geometry),
        },
        code: required(col::CODE, "code")?,
        name: required(col::NAME, "name")?,
        address: required(col::ADDRESS, "address")?,
        county: required(col::COUNTY, "county")?,
        amenities: required(col::AMENITIES, "amenities")?,
        opening_hours: required(col::OPENING_HOURS, "opening_hours")?,
        closure_until,
        closure_reason: text(col::CLOSURE_REASON, "closure_reason")?,
        phone: text(col::PHONE, "phone")?,
        photo_url: text(col::PHOTO_URL, "photo_url")?,
        notes: text(col::NOTES, "notes")?,
        demo: stmt.int(col::DEMO) != 0,
        verified_at,
        version: stmt.int(col::VERSION),
        created_at: utc(created_at),
        updated_at: utc(updated_at),
    }))
}
