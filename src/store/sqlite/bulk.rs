//! Loading every station at start-up, fast.
//!
//! Reading a million rows through sqlx's row-by-row path costs tens of microseconds a row here
//! (each of the 18 values is copied into its own allocation on the SQLite worker thread, and
//! each row crosses a channel to the async side). Instead SQLite itself serialises a range of
//! stations into one JSON array (`json_group_array`, in C) and Rust parses it with serde: one
//! value per few thousand stations. Ranges are read concurrently on the pool's connections.
//!
//! Values are cast in SQL to the types sqlx would read them as (`CAST … AS TEXT` as sqlx's
//! `String` decoding does, `CAST … AS INTEGER` for integers and booleans), so both paths read
//! the same data the same way. Timestamps are parsed as RFC 3339, the format this service writes;
//! a row holding one in any other form (a file edited by hand, say) is re-read through sqlx,
//! which knows more formats.

use super::{station_columns, StationRow};
use crate::domain::Station;
use crate::store::{load_in_ranges, StoreError, StoreResult};
use chrono::{DateTime, FixedOffset, Utc};
use geozero::ToGeo;
use serde::Deserialize;
use sqlx::SqlitePool;

/// Station ids per JSON array: a few MB of text each.
const CHUNK_IDS: i64 = 16_384;

/// One station as the JSON array holds it, in the order of [`station_columns`].
#[derive(Deserialize)]
struct JsonRow {
    fid: i64,
    /// The GeoPackage geometry blob, in hex.
    geom: String,
    code: String,
    name: String,
    address: String,
    county: String,
    amenities: String,
    opening_hours: String,
    closure_until: Option<String>,
    closure_reason: Option<String>,
    phone: Option<String>,
    photo_url: Option<String>,
    notes: Option<String>,
    demo: i64,
    verified_at: Option<String>,
    version: i64,
    created_at: String,
    updated_at: String,
}

fn rfc3339(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s).ok()
}

fn utc(s: &str) -> Option<DateTime<Utc>> {
    rfc3339(s).map(|t| t.with_timezone(&Utc))
}

impl JsonRow {
    /// The row sqlx would have read, or `None` when a timestamp is not RFC 3339.
    fn into_station_row(self) -> StoreResult<Option<StationRow>> {
        let id = self.fid;
        let blob = hex::decode(&self.geom).map_err(|e| StoreError::Corrupt {
            id,
            reason: format!("geometry is not a GeoPackage blob: {e}"),
        })?;
        let geometry = geozero::wkb::GpkgWkb(blob)
            .to_geo()
            .map_err(|e| StoreError::Corrupt {
                id,
                reason: format!("geometry is not a GeoPackage blob: {e}"),
            })?;
        let closure_until = match self.closure_until.as_deref().map(rfc3339) {
            None => None,
            Some(Some(t)) => Some(t),
            Some(None) => return Ok(None),
        };
        let verified_at = match self.verified_at.as_deref().map(utc) {
            None => None,
            Some(Some(t)) => Some(t),
            Some(None) => return Ok(None),
        };
        let (Some(created_at), Some(updated_at)) = (utc(&self.created_at), utc(&self.updated_at))
        else {
            return Ok(None);
        };
        Ok(Some(StationRow {
            fid: id,
            geom: geozero::wkb::Decode {
                geometry: Some(geometry),
            },
            code: self.code,
            name: self.name,
            address: self.address,
            county: self.county,
            amenities: self.amenities,
            opening_hours: self.opening_hours,
            closure_until,
            closure_reason: self.closure_reason,
            phone: self.phone,
            photo_url: self.photo_url,
            notes: self.notes,
            demo: self.demo != 0,
            verified_at,
            version: self.version,
            created_at,
            updated_at,
        }))
    }
}

/// Every active station, by id.
pub(super) async fn load_stations(pool: &SqlitePool) -> StoreResult<Vec<Station>> {
    let (lo, hi): (Option<i64>, Option<i64>) =
        // Unfiltered: the rowid's ends, read without a scan. Each range skips retired rows.
        sqlx::query_as("SELECT min(fid), max(fid) FROM stations")
            .fetch_one(pool)
            .await?;
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return Ok(Vec::new());
    };
    // Ranges may be read at slightly different moments if a writer is busy; the index's
    // resync on start-up reconciles anything that changed meanwhile.
    load_in_ranges(lo, hi, CHUNK_IDS, |from, to| {
        load_range(pool.clone(), from, to)
    })
    .await
}

/// The active stations with ids in `from..=to`, by id.
async fn load_range(pool: SqlitePool, from: i64, to: i64) -> StoreResult<Vec<Station>> {
    let sql = concat!(
        "SELECT json_group_array(json_array(fid, hex(geom), CAST(code AS TEXT), \
         CAST(name AS TEXT), CAST(address AS TEXT), CAST(county AS TEXT), \
         CAST(amenities AS TEXT), CAST(opening_hours AS TEXT), CAST(closure_until AS TEXT), \
         CAST(closure_reason AS TEXT), CAST(phone AS TEXT), CAST(photo_url AS TEXT), \
         CAST(notes AS TEXT), CAST(demo AS INTEGER), CAST(verified_at AS TEXT), \
         CAST(version AS INTEGER), CAST(created_at AS TEXT), CAST(updated_at AS TEXT))) \
         FROM (SELECT ",
        station_columns!(),
        " FROM stations WHERE retired_at IS NULL AND fid BETWEEN ? AND ? ORDER BY fid)"
    );
    let json: String = sqlx::query_scalar(sql)
        .bind(from)
        .bind(to)
        .fetch_one(&pool)
        .await?;
    // Parsing a few MB is CPU work: keep it off the async workers.
    let parsed = tokio::task::spawn_blocking(move || parse(&json))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    let mut stations = Vec::with_capacity(parsed.len());
    for row in parsed {
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
                    stations.push(row.into_station()?);
                }
            }
        }
    }
    stations.sort_by_key(|s| s.id);
    Ok(stations)
}

/// The stations of one JSON array; `Err(id)` for a row to re-read through sqlx.
fn parse(json: &str) -> StoreResult<Vec<Result<Station, i64>>> {
    let rows: Vec<JsonRow> = serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        id: 0,
        reason: format!("bulk station read: {e}"),
    })?;
    rows.into_iter()
        .map(|row| {
            let id = row.fid;
            Ok(match row.into_station_row()? {
                Some(row) => Ok(row.into_station()?),
                None => Err(id),
            })
        })
        .collect()
}
