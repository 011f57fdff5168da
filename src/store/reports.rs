//! Report rows as both backends read them (same columns, same decoding).

use crate::domain::report::{InboxReport, Report, ReportKind, ReportStatus};
use crate::domain::{Amenity, LonLat};
use crate::store::{StoreError, StoreResult};
use chrono::{DateTime, Utc};
use sqlx::FromRow;

/// Columns read for a report, in the order of [`ReportRow`].
macro_rules! report_columns {
    () => {
        "id, station_id, kind, amenity, note, lat, lon, status, \
     created_at, resolved_at, resolved_by, resolution"
    };
}
#[allow(unused_imports)]
pub(crate) use report_columns;

/// The same columns from a `reports r` joined with `stations s`, plus the station's code and name.
macro_rules! inbox_columns {
    () => {
        "r.id, r.station_id, r.kind, r.amenity, r.note, r.lat, \
     r.lon, r.status, r.created_at, r.resolved_at, r.resolved_by, r.resolution, \
     s.code AS station_code, s.name AS station_name"
    };
}
#[allow(unused_imports)]
pub(crate) use inbox_columns;

/// One stored report.
#[derive(FromRow)]
pub(crate) struct ReportRow {
    id: i64,
    station_id: i64,
    kind: String,
    amenity: Option<String>,
    note: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    status: String,
    created_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    resolved_by: Option<String>,
    resolution: Option<String>,
}

impl ReportRow {
    /// The report, or `Corrupt` (naming the station) when a value does not decode.
    pub(crate) fn into_report(self) -> StoreResult<Report> {
        let (id, station_id) = (self.id, self.station_id);
        let corrupt = |reason: String| StoreError::Corrupt {
            id: station_id,
            reason: format!("report {id}: {reason}"),
        };
        let kind: ReportKind = self
            .kind
            .parse()
            .map_err(|e: crate::domain::Invalid| corrupt(e.message))?;
        let status: ReportStatus = self
            .status
            .parse()
            .map_err(|e: crate::domain::Invalid| corrupt(e.message))?;
        let amenity = self
            .amenity
            .as_deref()
            .map(str::parse::<Amenity>)
            .transpose()
            .map_err(|e| corrupt(e.message))?;
        let position = match (self.lat, self.lon) {
            (Some(lat), Some(lon)) => Some(LonLat::new(lon, lat).map_err(|e| corrupt(e.message))?),
            _ => None,
        };
        Ok(Report {
            id,
            station_id,
            kind,
            amenity,
            note: self.note,
            position,
            status,
            created_at: self.created_at,
            resolved_at: self.resolved_at,
            resolved_by: self.resolved_by,
            resolution: self.resolution,
        })
    }
}

/// One report with its station's code and name.
#[derive(FromRow)]
pub(crate) struct InboxRow {
    #[sqlx(flatten)]
    report: ReportRow,
    station_code: String,
    station_name: String,
}

impl InboxRow {
    /// The inbox entry.
    pub(crate) fn into_inbox(self) -> StoreResult<InboxReport> {
        Ok(InboxReport {
            report: self.report.into_report()?,
            station_code: self.station_code,
            station_name: self.station_name,
        })
    }
}

/// A limit as SQL takes it.
pub(crate) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
