//! Rider problem reports in PostgreSQL.

use super::PgStore;
use crate::domain::audit::Actor;
use crate::domain::report::{
    InboxReport, NewReport, Report, ReportScope, ReportStatus, Resolution,
};
use crate::store::reports::{inbox_columns, report_columns, sql_limit, InboxRow, ReportRow};
use crate::store::{ReportStore, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl ReportStore for PgStore {
    async fn create_report(
        &self,
        station_id: i64,
        report: &NewReport,
        at: DateTime<Utc>,
    ) -> StoreResult<Report> {
        // One statement checks the station is active and inserts: no row, no station. Reports
        // change no station, so nothing is announced to the other replicas.
        let sql = concat!("INSERT INTO reports (station_id, kind, amenity, note, lat, lon, status, created_at) \
             SELECT id, $1, $2, $3, $4, $5, 'open', $6 FROM stations WHERE id = $7 AND retired_at IS NULL \
             RETURNING ", report_columns!());
        let row: Option<ReportRow> = sqlx::query_as(sql)
            .bind(report.kind.as_str())
            .bind(report.amenity.map(|a| a.key()))
            .bind(&report.note)
            .bind(report.position.map(|p| p.lat))
            .bind(report.position.map(|p| p.lon))
            .bind(at)
            .bind(station_id)
            .fetch_optional(&self.pool)
            .await?;
        row.ok_or(StoreError::NotFound(station_id))?.into_report()
    }

    async fn reports_of_station(
        &self,
        station_id: i64,
        status: Option<ReportStatus>,
        limit: usize,
    ) -> StoreResult<Vec<Report>> {
        let sql = concat!(
            "SELECT ",
            report_columns!(),
            " FROM reports \
             WHERE station_id = $1 AND ($2::text IS NULL OR status = $2) ORDER BY id DESC LIMIT $3"
        );
        let rows: Vec<ReportRow> = sqlx::query_as(sql)
            .bind(station_id)
            .bind(status.map(ReportStatus::as_str))
            .bind(sql_limit(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(ReportRow::into_report).collect()
    }

    async fn reports_for(
        &self,
        scope: ReportScope<'_>,
        status: Option<ReportStatus>,
        limit: usize,
    ) -> StoreResult<Vec<InboxReport>> {
        let stations: Option<Vec<i64>> = match scope {
            ReportScope::All => None,
            ReportScope::Stations([]) => return Ok(Vec::new()),
            ReportScope::Stations(ids) => Some(ids.to_vec()),
        };
        let sql = concat!(
            "SELECT ",
            inbox_columns!(),
            " FROM reports r JOIN stations s ON s.id = r.station_id \
             WHERE ($1::bigint[] IS NULL OR r.station_id = ANY($1)) \
               AND ($2::text IS NULL OR r.status = $2) \
             ORDER BY r.id DESC LIMIT $3"
        );
        let rows: Vec<InboxRow> = sqlx::query_as(sql)
            .bind(stations)
            .bind(status.map(ReportStatus::as_str))
            .bind(sql_limit(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(InboxRow::into_inbox).collect()
    }

    async fn resolve_report(
        &self,
        station_id: i64,
        report_id: i64,
        resolution: &Resolution,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> StoreResult<Report> {
        // Conditional on `open`: of two managers resolving at once, exactly one wins (the
        // other's UPDATE re-checks the row after the winner commits and matches nothing).
        let sql = concat!(
            "UPDATE reports SET status = 'resolved', resolved_at = $1, resolved_by_id = $2, \
               resolved_by = $3, resolution = $4 \
             WHERE id = $5 AND station_id = $6 AND status = 'open' RETURNING ",
            report_columns!()
        );
        let row: Option<ReportRow> = sqlx::query_as(sql)
            .bind(at)
            .bind(actor.account_id)
            .bind(&actor.login)
            .bind(resolution.as_str())
            .bind(report_id)
            .bind(station_id)
            .fetch_optional(&self.pool)
            .await?;
        if let Some(row) = row {
            return row.into_report();
        }
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM reports WHERE id = $1 AND station_id = $2")
                .bind(report_id)
                .bind(station_id)
                .fetch_optional(&self.pool)
                .await?;
        Err(match status {
            Some(_) => StoreError::ReportAlreadyResolved(report_id),
            None => StoreError::ReportNotFound {
                station_id,
                report_id,
            },
        })
    }
}
